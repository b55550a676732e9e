//! The routing table: which enabled handlers serve which command, and which one of them
//! decides a before-callback, decided once at start-up.
//!
//! A command may have several handlers. An after-callback runs them all and is acknowledged
//! only when every one succeeded. A before-callback (or a reply-bearing one) has at most one
//! decider, whose reply Chat gets; the others observe. Handlers whose command set comes from
//! config patterns also serve commands the table does not know: those are routed by family
//! and kind, through routes computed here too, so nothing is worked out per request.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::config::{Config, Fallback};
use crate::error::StartupError;
use crate::handler::{Commands, Handler, HandlerRegistration, HandlerSettings, linked_handlers};
use crate::pattern::{CommandSet, CommandShape, family_of};
use crate::protocol::{CallbackKind, KNOWN_COMMANDS, kind_of};

/// The kinds a command the table lacks can have: its name says before, or it is after
/// ([`kind_of`] never reads reply-bearing from a name).
const OPEN_KINDS: [CallbackKind; 2] = [CallbackKind::Before, CallbackKind::After];

/// The validated plan: which linked handlers are enabled, with their settings, and the
/// routing table they make. Building it checks everything that can be checked without
/// running any handler code.
pub struct Plan {
    linked: Vec<&'static HandlerRegistration>,
    members: Vec<Member>,
    /// Every command matched by name, with its route (`None`: no enabled handler).
    named: BTreeMap<&'static str, Option<RouteSpec>>,
    /// Routes of commands matched by family and kind: those the table lacks.
    open: Vec<(OpenBucket, RouteSpec)>,
    /// Every family a pattern names: a command of one of them is matched in its own bucket,
    /// so an exclusion such as `"!Group.*"` holds for the commands the table lacks too.
    families: Vec<&'static str>,
    warnings: Vec<String>,
}

/// A linked handler as its config table sets it up.
struct Member {
    registration: &'static HandlerRegistration,
    enabled: bool,
    selection: Selection,
    decides: Option<bool>,
    fallback: Fallback,
    settings: HandlerSettings,
}

/// Where a handler's command set comes from.
enum Selection {
    Fixed(&'static [&'static str]),
    Patterns { set: CommandSet, from: SetFrom },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetFrom {
    Config,
    RegistrationDefault,
}

/// Commands the table lacks, of one family (or of any family no pattern names) and one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenBucket {
    family: Option<&'static str>,
    kind: CallbackKind,
}

impl OpenBucket {
    fn shape(self) -> CommandShape<'static> {
        CommandShape {
            name: None,
            family: self.family,
            kind: self.kind,
        }
    }

    fn describe(self) -> String {
        match self.family {
            Some(family) => format!("{family}.* (not in the table)"),
            None => "* (not in the table)".into(),
        }
    }
}

/// One command's handlers, by index into `Plan::members`.
#[derive(Clone, Debug)]
struct RouteSpec {
    label: &'static str,
    kind: CallbackKind,
    decider: Option<usize>,
    /// After-callbacks: every handler. Before-callbacks: the observers.
    others: Vec<usize>,
}

/// One row of `chathook handlers`: a command and every linked handler that serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRow {
    /// `CallbackCommand`, or a family pattern for commands the table lacks.
    pub command: String,
    /// Whether the row stands for commands the table does not know.
    pub open: bool,
    /// Before, after or reply-bearing.
    pub kind: CallbackKind,
    /// Its handlers, enabled ones first, each in name order.
    pub handlers: Vec<RoutedHandler>,
}

/// One handler of a [`RoutingRow`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutedHandler {
    /// The handler's name.
    pub name: &'static str,
    /// What it does for this command; `None` when it is disabled.
    pub role: Option<Role>,
    /// Why it serves this command.
    pub source: Source,
}

/// What a handler does for one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// After-callback: it runs, and Chat gets OK only if it succeeds.
    Runs,
    /// Before-callback: its reply is the decision.
    Decides,
    /// Before-callback: it runs alongside and gets the decision; its result changes nothing.
    Observes,
}

impl Role {
    /// `runs`, `decides` or `observes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runs => "runs",
            Self::Decides => "decides",
            Self::Observes => "observes",
        }
    }
}

/// Why a handler serves a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Its registration names the command.
    Code,
    /// A pattern of `commands` in its config table.
    Config(String),
    /// A pattern of its registration's default command set.
    Default(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code => f.write_str("code"),
            Self::Config(pattern) => write!(f, "config {pattern:?}"),
            Self::Default(pattern) => write!(f, "default {pattern:?}"),
        }
    }
}

impl Plan {
    /// Validates the linked registrations and the config's handler tables.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        Self::with_registrations(config, linked_handlers())
    }

    /// [`Plan::new`] over an explicit set of registrations.
    pub fn with_registrations(
        config: &Config,
        linked: Vec<&'static HandlerRegistration>,
    ) -> Result<Self, StartupError> {
        let mut by_name: HashMap<&'static str, &'static HandlerRegistration> = HashMap::new();
        for registration in &linked {
            validate_registration(registration)?;
            if let Some(first) = by_name.insert(registration.name(), registration) {
                return Err(StartupError::DuplicateHandlerName {
                    name: registration.name(),
                    first: first.module(),
                    second: registration.module(),
                });
            }
        }
        if let Some(name) = config
            .handlers
            .keys()
            .find(|name| !by_name.contains_key(name.as_str()))
        {
            let mut names: Vec<_> = by_name.keys().copied().collect();
            names.sort_unstable();
            return Err(StartupError::UnknownHandler {
                name: name.clone(),
                linked: if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                },
            });
        }

        let mut members = Vec::new();
        for &registration in &linked {
            let table = config.handlers.get(registration.name());
            if let Some(table) = table {
                // Checked even when disabled: a typo such as `enable = true` must not silently
                // leave a handler off.
                registration.check(&table.settings)?;
            }
            let enabled = table.is_some_and(|table| table.enabled);
            let selection = selection(registration, table.and_then(|t| t.commands.as_deref()))?;
            if enabled && matches!(registration.commands(), Commands::FromConfig(None)) {
                let configured = table.and_then(|table| table.commands.as_ref());
                if configured.is_none() {
                    return Err(StartupError::CommandsMissing {
                        handler: registration.name(),
                    });
                }
            }
            members.push(Member {
                registration,
                enabled,
                selection: selection.unwrap_or(Selection::Fixed(&[])),
                decides: table
                    .and_then(|table| table.decides)
                    .or(registration.decides()),
                fallback: table
                    .and_then(|table| table.fallback)
                    .unwrap_or(config.dispatch.before_fallback),
                settings: table
                    .map(|table| table.settings.clone())
                    .unwrap_or_default(),
            });
        }

        let mut plan = Self {
            linked,
            members,
            named: BTreeMap::new(),
            open: Vec::new(),
            families: Vec::new(),
            warnings: Vec::new(),
        };
        plan.plan_routes()?;
        Ok(plan)
    }

    /// Works out the route of every command matched by name and of every open bucket.
    fn plan_routes(&mut self) -> Result<(), StartupError> {
        let mut names: BTreeSet<&'static str> = KNOWN_COMMANDS.iter().map(|c| c.name).collect();
        let mut families: BTreeSet<&'static str> = BTreeSet::new();
        for member in &self.members {
            match &member.selection {
                Selection::Fixed(commands) => names.extend(commands.iter().copied()),
                Selection::Patterns { set, .. } => {
                    for pattern in set.patterns() {
                        if let Some(command) = pattern.command() {
                            names.insert(leak(command));
                        }
                        if let Some(family) = pattern.family() {
                            families.insert(leak(family));
                        }
                    }
                }
            }
        }
        for command in names {
            let kind = kind_of(command);
            let route = self.route_for(command, CommandShape::named(command, kind), command)?;
            self.named.insert(command, route);
        }
        self.families = families.iter().copied().collect();
        let buckets = families
            .into_iter()
            .map(Some)
            .chain([None])
            .flat_map(|family| OPEN_KINDS.map(|kind| OpenBucket { family, kind }));
        for bucket in buckets {
            if let Some(route) = self.route_for("other", bucket.shape(), &bucket.describe())? {
                self.open.push((bucket, route));
            }
        }
        self.warn_about_patterns();
        Ok(())
    }

    /// The enabled handlers of one command and which of them decides.
    fn route_for(
        &self,
        label: &'static str,
        shape: CommandShape<'_>,
        described: &str,
    ) -> Result<Option<RouteSpec>, StartupError> {
        let serving: Vec<usize> = (0..self.members.len())
            .filter(|&index| {
                let member = &self.members[index];
                member.enabled && member.source(&shape).is_some()
            })
            .collect();
        if serving.is_empty() {
            return Ok(None);
        }
        let kind = shape.kind;
        if kind == CallbackKind::After {
            return Ok(Some(RouteSpec {
                label,
                kind,
                decider: None,
                others: serving,
            }));
        }
        let names = |indexes: &[usize]| -> Vec<&'static str> {
            indexes.iter().map(|&i| self.members[i].name()).collect()
        };
        let explicit: Vec<usize> = serving
            .iter()
            .copied()
            .filter(|&i| self.members[i].decides == Some(true))
            .collect();
        let candidates: Vec<usize> = serving
            .iter()
            .copied()
            .filter(|&i| self.members[i].decides != Some(false))
            .collect();
        let decider = match (explicit.as_slice(), candidates.as_slice()) {
            ([one], _) => Some(*one),
            // One handler that only observes: nothing to choose between.
            ([], []) if serving.len() == 1 => None,
            ([], [one]) => Some(*one),
            ([], []) => {
                return Err(StartupError::NoDecider {
                    command: described.to_owned(),
                    kind: kind.as_str(),
                    handlers: names(&serving),
                });
            }
            ([], several) => {
                return Err(StartupError::NoDecider {
                    command: described.to_owned(),
                    kind: kind.as_str(),
                    handlers: names(several),
                });
            }
            (several, _) => {
                return Err(StartupError::SeveralDeciders {
                    command: described.to_owned(),
                    handlers: names(several),
                });
            }
        };
        Ok(Some(RouteSpec {
            label,
            kind,
            decider,
            others: serving
                .into_iter()
                .filter(|&i| Some(i) != decider)
                .collect(),
        }))
    }

    /// Patterns that match no documented command are allowed (Tencent adds commands), but
    /// are most often typos.
    fn warn_about_patterns(&mut self) {
        let mut warnings = Vec::new();
        for member in self.members.iter().filter(|member| member.enabled) {
            if let Selection::Patterns { set, .. } = &member.selection {
                for pattern in set.patterns() {
                    let known = KNOWN_COMMANDS
                        .iter()
                        .any(|known| pattern.matches(&CommandShape::named(known.name, known.kind)));
                    if !known {
                        warnings.push(format!(
                            "handler {}: commands pattern {:?} matches no command in the table; \
                             it applies only if Chat sends such a command (check the spelling: \
                             `chathook handlers` lists the table)",
                            member.name(),
                            pattern.as_str()
                        ));
                    }
                }
            }
            let decides_anything = self
                .named
                .values()
                .flatten()
                .chain(self.open.iter().map(|(_, route)| route))
                .any(|route| {
                    route
                        .decider
                        .is_some_and(|i| self.members[i].name() == member.name())
                });
            let observes_something = self
                .named
                .values()
                .flatten()
                .chain(self.open.iter().map(|(_, route)| route))
                .any(|route| {
                    route.kind != CallbackKind::After
                        && route
                            .others
                            .iter()
                            .any(|&i| self.members[i].name() == member.name())
                });
            if member.decides == Some(true) && !decides_anything {
                warnings.push(format!(
                    "handler {}: decides = true, but it serves no before-callback",
                    member.name()
                ));
            }
            if member.decides.is_none() && observes_something && !decides_anything {
                warnings.push(format!(
                    "handler {}: another handler decides every before-callback it serves, so its \
                     replies to them are ignored; set decides = false to say that is intended",
                    member.name()
                ));
            }
        }
        self.warnings = warnings;
    }

    /// What is suspicious but allowed, one sentence each, for the log or the terminal.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every command worth listing (documented, or named by a handler), with every linked
    /// handler that serves it, then one row per kind of command the table lacks that an
    /// enabled handler would take.
    pub fn routing_table(&self) -> Vec<RoutingRow> {
        let mut rows = Vec::new();
        for (&command, route) in &self.named {
            let shape = CommandShape::named(command, kind_of(command));
            rows.push(self.row(command.to_owned(), false, &shape, route.as_ref()));
        }
        for (bucket, route) in &self.open {
            rows.push(self.row(bucket.describe(), true, &bucket.shape(), Some(route)));
        }
        rows
    }

    fn row(
        &self,
        command: String,
        open: bool,
        shape: &CommandShape<'_>,
        route: Option<&RouteSpec>,
    ) -> RoutingRow {
        let role_of = |index: usize| {
            let route = route?;
            if route.decider == Some(index) {
                Some(Role::Decides)
            } else if !route.others.contains(&index) {
                None
            } else if route.kind == CallbackKind::After {
                Some(Role::Runs)
            } else {
                Some(Role::Observes)
            }
        };
        let mut handlers: Vec<RoutedHandler> = self
            .members
            .iter()
            .enumerate()
            // Disabled handlers are listed for the commands they would serve, so an operator
            // sees what enabling them does; open rows exist only for enabled handlers.
            .filter(|(_, member)| member.enabled || !open)
            .filter_map(|(index, member)| {
                let source = member.source(shape)?;
                Some(RoutedHandler {
                    name: member.name(),
                    role: if member.enabled { role_of(index) } else { None },
                    source,
                })
            })
            .collect();
        handlers.sort_by_key(|handler| handler.role.is_none());
        RoutingRow {
            command,
            open,
            kind: shape.kind,
            handlers,
        }
    }

    /// Runs every enabled handler's build function, in name order.
    pub async fn build(self) -> Result<Registry, StartupError> {
        let mut built: Vec<Option<Target>> = Vec::with_capacity(self.members.len());
        let mut handlers = Vec::new();
        for member in self.members {
            if !member.enabled {
                built.push(None);
                continue;
            }
            let name = member.registration.name();
            let handler = member.registration.build(member.settings).await?;
            handlers.push((name, Arc::clone(&handler)));
            built.push(Some(Target {
                name,
                fallback: member.fallback,
                handler,
            }));
        }
        let target = |index: usize| {
            built[index]
                .clone()
                .expect("routes name enabled handlers only")
        };
        let route = |spec: RouteSpec| {
            let decider = spec.decider.map(target);
            let others: Vec<Target> = spec.others.into_iter().map(target).collect();
            let handler_names = decider
                .iter()
                .chain(&others)
                .map(|target| target.name)
                .collect::<Vec<_>>()
                .join(",");
            Arc::new(Route {
                label: spec.label,
                handler_names,
                kind: spec.kind,
                decider,
                others,
            })
        };
        let named = self
            .named
            .into_iter()
            .map(|(command, spec)| (command, spec.map(route)))
            .collect();
        let open = self
            .open
            .into_iter()
            .map(|(bucket, spec)| ((bucket.family, bucket.kind), route(spec)))
            .collect();
        Ok(Registry {
            named,
            open,
            families: self.families,
            handlers,
        })
    }
}

impl Member {
    fn name(&self) -> &'static str {
        self.registration.name()
    }

    /// Why this handler serves a command of this shape, if it does.
    fn source(&self, shape: &CommandShape<'_>) -> Option<Source> {
        match &self.selection {
            Selection::Fixed(commands) => shape
                .name
                .is_some_and(|name| commands.contains(&name))
                .then_some(Source::Code),
            Selection::Patterns { set, from } => {
                let pattern = set.selecting(shape)?.as_str().to_owned();
                Some(match from {
                    SetFrom::Config => Source::Config(pattern),
                    SetFrom::RegistrationDefault => Source::Default(pattern),
                })
            }
        }
    }
}

/// The command set of one handler: from its code, or from patterns in its table (or its
/// registration's defaults).
fn selection(
    registration: &'static HandlerRegistration,
    configured: Option<&[String]>,
) -> Result<Option<Selection>, StartupError> {
    let handler = registration.name();
    match (registration.commands(), configured) {
        (Commands::Fixed(commands), None) => Ok(Some(Selection::Fixed(commands))),
        (Commands::Fixed(commands), Some(_)) => Err(StartupError::CommandsFixed {
            handler,
            commands: commands.join(", "),
        }),
        (Commands::FromConfig(_), Some(texts)) => CommandSet::parse(texts)
            .map(|set| {
                Some(Selection::Patterns {
                    set,
                    from: SetFrom::Config,
                })
            })
            .map_err(|error| StartupError::CommandPatterns {
                handler,
                problem: error.to_string(),
            }),
        (Commands::FromConfig(Some(default)), None) => Ok(Some(Selection::Patterns {
            set: CommandSet::parse(default).expect("checked by validate_registration"),
            from: SetFrom::RegistrationDefault,
        })),
        (Commands::FromConfig(None), None) => Ok(None),
    }
}

/// Config strings live as long as the process, as the routing table does: leaked once at
/// start-up, so routes and metric labels are `&'static str` like the table's own names.
fn leak(text: &str) -> &'static str {
    KNOWN_COMMANDS
        .iter()
        .map(|known| known.name)
        .find(|name| *name == text)
        .unwrap_or_else(|| Box::leak(text.to_owned().into_boxed_str()))
}

fn validate_registration(registration: &HandlerRegistration) -> Result<(), StartupError> {
    let invalid = |problem: String| StartupError::InvalidRegistration {
        name: registration.name(),
        module: registration.module(),
        problem,
    };
    let name = registration.name();
    let snake_case = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !snake_case {
        return Err(invalid("the name must be snake_case ASCII".into()));
    }
    match registration.commands() {
        Commands::Fixed(commands) => {
            for (index, command) in commands.iter().enumerate() {
                if command.is_empty() || command.contains(char::is_whitespace) {
                    return Err(invalid(format!(
                        "command {command:?} is not a command name"
                    )));
                }
                if commands[..index].contains(command) {
                    return Err(invalid(format!("command {command} is listed twice")));
                }
            }
        }
        Commands::FromConfig(Some(default)) => {
            CommandSet::parse(default)
                .map_err(|error| invalid(format!("default commands: {error}")))?;
        }
        Commands::FromConfig(None) => {}
    }
    Ok(())
}

impl std::fmt::Debug for Plan {
    /// Names only: settings may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let enabled: Vec<_> = self
            .members
            .iter()
            .filter(|member| member.enabled)
            .map(Member::name)
            .collect();
        f.debug_struct("Plan")
            .field("linked", &self.linked)
            .field("enabled", &enabled)
            .finish()
    }
}

/// One built handler as a route calls it.
#[derive(Clone)]
pub struct Target {
    /// The handler's name.
    pub name: &'static str,
    /// Decision when it decides a before-callback and fails.
    pub fallback: Fallback,
    /// The handler.
    pub handler: Arc<dyn Handler>,
}

/// Where one command goes.
pub struct Route {
    /// The metrics label: the command, or `other` for a command matched by family or kind.
    pub label: &'static str,
    /// Every handler's name, comma-separated, decider first: for the access log.
    pub handler_names: String,
    /// Before, after or reply-bearing.
    pub kind: CallbackKind,
    /// Before-callbacks: the handler whose reply is the decision, if any.
    pub decider: Option<Target>,
    /// After-callbacks: every handler, all of which must succeed. Before-callbacks: the
    /// observers.
    pub others: Vec<Target>,
}

impl Route {
    /// Every handler of the route, decider first.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.decider.iter().chain(&self.others)
    }

    /// The metric series it moves, to start them at 0.
    pub fn series(&self) -> crate::metrics::RouteSeries {
        crate::metrics::RouteSeries {
            command: self.label,
            before_decider: self
                .decider
                .as_ref()
                .filter(|_| self.kind == CallbackKind::Before)
                .map(|decider| decider.name),
            handlers: self.targets().map(|target| target.name).collect(),
        }
    }

    /// `command` as a handler gets it: the route's own `&'static str` when it is matched by
    /// name, so most callbacks copy nothing.
    pub fn command_for(&self, command: &str) -> Cow<'static, str> {
        if self.label == command {
            Cow::Borrowed(self.label)
        } else {
            Cow::Owned(command.to_owned())
        }
    }
}

/// The built handlers and the routing table.
#[derive(Default)]
pub struct Registry {
    named: HashMap<&'static str, Option<Arc<Route>>>,
    /// By family (`None`: one no pattern names) and kind, for commands the table lacks.
    open: HashMap<(Option<&'static str>, CallbackKind), Arc<Route>>,
    families: Vec<&'static str>,
    handlers: Vec<(&'static str, Arc<dyn Handler>)>,
}

impl Registry {
    /// The route for `command`, if an enabled handler serves it.
    pub fn route(&self, command: &str) -> Option<&Route> {
        if let Some(route) = self.named.get(command) {
            return route.as_deref();
        }
        if self.open.is_empty() {
            return None;
        }
        let family = family_of(command);
        let family = self.families.iter().copied().find(|f| *f == family);
        self.open
            .get(&(family, kind_of(command)))
            .map(|route| &**route)
    }

    /// The metrics label for `command`: its route's, its documented name, else `other`.
    pub fn label(command: &str, route: Option<&Route>) -> &'static str {
        match (route, crate::protocol::known_command(command)) {
            (Some(route), _) => route.label,
            (None, Some(known)) => known.name,
            (None, None) => "other",
        }
    }

    /// Every built route: those of named commands, then those matched by family or kind.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        let named = self.named.values().flatten();
        named.chain(self.open.values()).map(|route| &**route)
    }

    /// The built handlers with their names, in name order.
    pub fn handlers(&self) -> &[(&'static str, Arc<dyn Handler>)] {
        &self.handlers
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut commands: Vec<_> = self
            .named
            .iter()
            .filter(|(_, route)| route.is_some())
            .map(|(command, _)| command)
            .collect();
        commands.sort_unstable();
        f.debug_struct("Registry")
            .field("commands", &commands)
            .finish_non_exhaustive()
    }
}
