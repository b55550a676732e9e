//! Command patterns: how a handler's `commands = [...]` names the callbacks it takes.
//!
//! A pattern is a command name (`Group.CallbackAfterSendMsg`), a family (`Group.*`), a kind
//! (`before`, `after`, `reply-bearing`), a family of one kind (`Group.*:after`), or everything
//! (`*`). `!` in front excludes what the pattern matches. Patterns match commands Tencent's
//! table does not know as well, so a new command reaches a `"*"` handler; such a command's kind
//! comes from its name.

use std::fmt;

use crate::protocol::CallbackKind;

/// What a pattern selects.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selects {
    /// `*`: every command.
    All,
    /// `before`, `after`, `reply-bearing`.
    Kind(CallbackKind),
    /// `Group.*`, or `Group.*:after` with a kind.
    Family(String, Option<CallbackKind>),
    /// One command by name.
    Command(String),
}

/// One entry of a `commands` list, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPattern {
    text: String,
    selects: Selects,
    excludes: bool,
}

/// The facts a pattern is matched against: a command's name when it is known by name, its
/// family and its kind. A command Chat may send but nobody named has no name here, which is
/// how one check covers every command the table lacks.
#[derive(Clone, Copy, Debug)]
pub struct CommandShape<'a> {
    /// The command, if it is one that is matched by name.
    pub name: Option<&'a str>,
    /// The part before the first `.`, if any pattern names that family.
    pub family: Option<&'a str>,
    /// Before, after or reply-bearing.
    pub kind: CallbackKind,
}

impl<'a> CommandShape<'a> {
    /// The shape of the command called `name`, of kind `kind`.
    pub fn named(name: &'a str, kind: CallbackKind) -> Self {
        Self {
            name: Some(name),
            family: Some(family_of(name)),
            kind,
        }
    }
}

/// The family of a command: the part before its first `.` (`Group` for
/// `Group.CallbackAfterSendMsg`).
pub fn family_of(command: &str) -> &str {
    command
        .split_once('.')
        .map_or(command, |(family, _)| family)
}

const KINDS: [CallbackKind; 3] = [
    CallbackKind::Before,
    CallbackKind::After,
    CallbackKind::ReplyBearing,
];

fn kind_named(word: &str) -> Option<CallbackKind> {
    KINDS.into_iter().find(|kind| kind.as_str() == word)
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Why a pattern is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const FORMS: &str = "a command (Group.CallbackAfterSendMsg), a family (Group.*), a kind \
                     (before, after, reply-bearing), a family of one kind (Group.*:after) or *, \
                     optionally preceded by ! to exclude";

impl CommandPattern {
    /// Parses one entry of a `commands` list.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let malformed = |why: String| PatternError(format!("{text:?} is not a pattern: {why}"));
        let (excludes, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let selects = if body == "*" {
            Selects::All
        } else if let Some(kind) = kind_named(body) {
            Selects::Kind(kind)
        } else if let Some((scope, kind)) = body.split_once(':') {
            let kind = kind_named(kind).ok_or_else(|| {
                malformed(format!(
                    "{kind:?} after ':' is not a kind (before, after, reply-bearing)"
                ))
            })?;
            match scope.strip_suffix(".*") {
                Some(family) if is_name(family) => Selects::Family(family.to_owned(), Some(kind)),
                _ if scope == "*" => Selects::Kind(kind),
                _ => {
                    return Err(malformed(format!(
                        "only a family (Group.*) or * can take a kind, not {scope:?}"
                    )));
                }
            }
        } else if let Some(family) = body.strip_suffix(".*").filter(|family| is_name(family)) {
            Selects::Family(family.to_owned(), None)
        } else {
            match body.split_once('.') {
                Some((family, name)) if is_name(family) && is_name(name) => {
                    Selects::Command(body.to_owned())
                }
                _ if is_name(body) => {
                    return Err(malformed(format!(
                        "a bare word is a kind (before, after, reply-bearing); for the {body} \
                         family write \"{body}.*\""
                    )));
                }
                _ => return Err(malformed(format!("expected {FORMS}"))),
            }
        };
        Ok(Self {
            text: text.to_owned(),
            selects,
            excludes,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it is an exclusion (`!...`).
    pub fn excludes(&self) -> bool {
        self.excludes
    }

    /// The command it names, if it names one.
    pub fn command(&self) -> Option<&str> {
        match &self.selects {
            Selects::Command(name) => Some(name),
            _ => None,
        }
    }

    /// The family it names, if it names one.
    pub fn family(&self) -> Option<&str> {
        match &self.selects {
            Selects::Family(family, _) => Some(family),
            _ => None,
        }
    }

    /// Whether the pattern (ignoring `!`) matches a command of this shape.
    pub fn matches(&self, shape: &CommandShape<'_>) -> bool {
        match &self.selects {
            Selects::All => true,
            Selects::Kind(kind) => *kind == shape.kind,
            Selects::Family(family, kind) => {
                shape.family == Some(family.as_str()) && kind.is_none_or(|kind| kind == shape.kind)
            }
            Selects::Command(name) => shape.name == Some(name.as_str()),
        }
    }
}

impl fmt::Display for CommandPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A handler's whole `commands` list: what it includes, minus what it excludes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandSet {
    patterns: Vec<CommandPattern>,
}

impl CommandSet {
    /// Parses a `commands` list. An empty list, or one of exclusions only, selects nothing and
    /// is refused, since it can only be a mistake.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, PatternError> {
        let patterns = texts
            .iter()
            .map(|text| CommandPattern::parse(text.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if !patterns.iter().any(|pattern| !pattern.excludes) {
            return Err(PatternError(
                "commands selects nothing: list what to include first, e.g. [\"*\", \
                 \"!Group.*\"]"
                    .into(),
            ));
        }
        for (index, pattern) in patterns.iter().enumerate() {
            if patterns[..index].contains(pattern) {
                return Err(PatternError(format!("{:?} is listed twice", pattern.text)));
            }
        }
        Ok(Self { patterns })
    }

    /// The patterns, in the order written.
    pub fn patterns(&self) -> &[CommandPattern] {
        &self.patterns
    }

    /// The include pattern that selects a command of this shape, unless none does or an
    /// exclusion removes it.
    pub fn selecting(&self, shape: &CommandShape<'_>) -> Option<&CommandPattern> {
        let mut chosen = None;
        for pattern in &self.patterns {
            if pattern.matches(shape) {
                if pattern.excludes {
                    return None;
                }
                chosen = chosen.or(Some(pattern));
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &'static str) -> CommandShape<'static> {
        CommandShape::named(name, crate::protocol::kind_of(name))
    }

    fn set(texts: &[&str]) -> CommandSet {
        CommandSet::parse(texts).unwrap()
    }

    #[test]
    fn each_form_selects_what_it_says() {
        let after_send = shape("Group.CallbackAfterSendMsg");
        let before_send = shape("Group.CallbackBeforeSendMsg");
        let c2c_before = shape("C2C.CallbackBeforeSendMsg");
        let signal = shape("Chatbot.OnC2CSignalMessage");
        let cases: [(&str, [bool; 4]); 9] = [
            ("*", [true, true, true, true]),
            ("after", [true, false, false, false]),
            ("before", [false, true, true, false]),
            ("reply-bearing", [false, false, false, true]),
            ("Group.*", [true, true, false, false]),
            ("Group.*:before", [false, true, false, false]),
            ("*:before", [false, true, true, false]),
            ("Group.CallbackAfterSendMsg", [true, false, false, false]),
            ("Chatbot.*", [false, false, false, true]),
        ];
        for (text, expected) in cases {
            let pattern = CommandPattern::parse(text).unwrap();
            let got = [&after_send, &before_send, &c2c_before, &signal].map(|s| pattern.matches(s));
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn exclusions_win_and_the_first_include_is_the_source() {
        let commands = set(&["Group.*:after", "*", "!Group.CallbackAfterReadReceipt"]);
        let source = commands.selecting(&shape("Group.CallbackAfterSendMsg"));
        assert_eq!(source.map(CommandPattern::as_str), Some("Group.*:after"));
        let source = commands.selecting(&shape("State.StateChange"));
        assert_eq!(source.map(CommandPattern::as_str), Some("*"));
        assert!(
            commands
                .selecting(&shape("Group.CallbackAfterReadReceipt"))
                .is_none()
        );
    }

    #[test]
    fn a_command_the_table_lacks_matches_by_family_and_kind() {
        let unknown = CommandShape {
            name: None,
            family: Some("Group"),
            kind: crate::protocol::kind_of("Group.CallbackBeforeSomethingNew"),
        };
        assert!(set(&["Group.*"]).selecting(&unknown).is_some());
        assert!(set(&["before"]).selecting(&unknown).is_some());
        assert!(set(&["after"]).selecting(&unknown).is_none());
        assert!(
            set(&["Group.CallbackAfterSendMsg"])
                .selecting(&unknown)
                .is_none()
        );
    }

    #[test]
    fn malformed_patterns_say_what_to_write() {
        for (text, expected) in [
            ("", "expected a command"),
            ("Group", "for the Group family write \"Group.*\""),
            ("aftr", "a bare word is a kind"),
            ("Group.*:late", "\"late\" after ':' is not a kind"),
            ("Group.Callback*", "expected a command"),
            (
                "Group.CallbackAfterSendMsg:after",
                "only a family (Group.*) or * can take",
            ),
            (" Group.*", "expected a command"),
            ("!!Group.*", "expected a command"),
        ] {
            let error = CommandPattern::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let error = CommandSet::parse(&["!Group.*"]).unwrap_err().to_string();
        assert!(error.contains("selects nothing"), "{error}");
        let error = CommandSet::parse::<&str>(&[]).unwrap_err().to_string();
        assert!(error.contains("selects nothing"), "{error}");
        let error = CommandSet::parse(&["*", "*"]).unwrap_err().to_string();
        assert!(error.contains("listed twice"), "{error}");
    }
}
