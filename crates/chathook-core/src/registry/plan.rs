//! The plan: the linked registrations and the config's handler tables checked against each
//! other, and who serves and who decides each command worked out, all before any handler
//! code runs. `chathook check-config` and `chathook handlers` stop here; `serve` goes on to
//! [`Plan::build`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Source;
use crate::config::{Config, DeliveryMode, Fallback, HandlerTable, QueueConfig};
use crate::delivery::QueuePolicy;
use crate::error::StartupError;
use crate::handler::{
    Commands, Destination, HandlerRegistration, HandlerSettings, linked_handlers,
};
use crate::pattern::{CommandSet, CommandShape};
use crate::protocol::{CallbackKind, KNOWN_COMMANDS, kind_of};

/// The kinds a command the table lacks can have: its name says before, or it is after
/// ([`kind_of`] never reads reply-bearing from a name).
const OPEN_KINDS: [CallbackKind; 2] = [CallbackKind::Before, CallbackKind::After];

/// The validated plan: which linked handlers are enabled, with their settings, and the
/// routing table they make. Building it checks everything that can be checked without
/// running any handler code.
pub struct Plan {
    linked: Vec<&'static HandlerRegistration>,
    pub(super) members: Vec<Member>,
    /// Every command matched by name, with its route (`None`: no enabled handler).
    pub(super) named: BTreeMap<&'static str, Option<RouteSpec>>,
    /// Routes of commands matched by family and kind: those the table lacks.
    pub(super) open: Vec<(OpenBucket, RouteSpec)>,
    /// Every family a pattern names: a command of one of them is matched in its own bucket,
    /// so an exclusion such as `"!Group.*"` holds for the commands the table lacks too.
    pub(super) families: Vec<&'static str>,
    warnings: Vec<String>,
}

/// A linked handler as its config table sets it up, or one destination of a handler that
/// fans out.
pub(super) struct Member {
    pub(super) registration: &'static HandlerRegistration,
    /// The handler's name, or `<handler>.<destination>` for a destination.
    name: &'static str,
    /// The destination's own name, as its handler's calls are told it.
    pub(super) destination: Option<&'static str>,
    pub(super) enabled: bool,
    selection: Selection,
    decides: Option<bool>,
    pub(super) fallback: Fallback,
    /// `Some` for a queued handler: its retry policy.
    pub(super) queue: Option<QueuePolicy>,
    pub(super) settings: HandlerSettings,
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
pub(super) struct OpenBucket {
    pub(super) family: Option<&'static str>,
    pub(super) kind: CallbackKind,
}

impl OpenBucket {
    pub(super) fn shape(self) -> CommandShape<'static> {
        CommandShape {
            name: None,
            family: self.family,
            kind: self.kind,
        }
    }

    pub(super) fn describe(self) -> String {
        match self.family {
            Some(family) => format!("{family}.* (not in the table)"),
            None => "* (not in the table)".into(),
        }
    }
}

/// One command's handlers, by index into `Plan::members`.
#[derive(Clone, Debug)]
pub(super) struct RouteSpec {
    pub(super) label: &'static str,
    pub(super) kind: CallbackKind,
    pub(super) decider: Option<usize>,
    /// After-callbacks: every inline handler. Before-callbacks: the inline observers.
    pub(super) others: Vec<usize>,
    /// The queued handlers: the callback is journaled for them before Chat hears OK.
    pub(super) queued: Vec<usize>,
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
        check_names(config, &linked)?;
        let mut members = Vec::with_capacity(linked.len());
        for &registration in &linked {
            members.extend(Member::all_of(registration, config)?);
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
        let (queued, serving): (Vec<usize>, Vec<usize>) = (0..self.members.len())
            .filter(|&index| {
                let member = &self.members[index];
                member.enabled && member.source(&shape).is_some()
            })
            .partition(|&index| self.members[index].queue.is_some());
        if serving.is_empty() && queued.is_empty() {
            return Ok(None);
        }
        let kind = shape.kind;
        // Queued handlers are called after Chat has its answer: they never decide.
        if kind == CallbackKind::After || serving.is_empty() {
            return Ok(Some(RouteSpec {
                label,
                kind,
                decider: None,
                others: serving,
                queued,
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
            queued,
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
            let undecided: Vec<&str> = self
                .named
                .iter()
                .filter_map(|(command, route)| Some((*command, route.as_ref()?)))
                .filter(|(_, route)| {
                    route.kind != CallbackKind::After
                        && route.decider.is_none()
                        && route.others.is_empty()
                        && route
                            .queued
                            .iter()
                            .any(|&i| self.members[i].name() == member.name())
                })
                .map(|(command, _)| command)
                .collect();
            if member.queue.is_some() && !undecided.is_empty() {
                warnings.push(format!(
                    "handler {} is queued, so it only observes, and no inline handler decides {}: \
                     Chat gets what dispatch.unrouted says; if it should decide, set \
                     delivery = \"inline\"",
                    member.name(),
                    undecided.join(", ")
                ));
            }
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

    /// Each enabled queued handler with its retry policy in one line, for `check-config`.
    pub fn queued_handlers(&self) -> Vec<(&'static str, String)> {
        self.members
            .iter()
            .filter(|member| member.enabled)
            .filter_map(|member| Some((member.name(), member.queue.as_ref()?.describe())))
            .collect()
    }

    /// What is suspicious but allowed, one sentence each, for the log or the terminal.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl Member {
    /// `registration` as its table (if any) sets it up: one member, or one per destination of
    /// an enabled handler that has them. Its settings are checked even when it is disabled, so
    /// a typo such as `enable = true` cannot silently leave it off.
    fn all_of(
        registration: &'static HandlerRegistration,
        config: &Config,
    ) -> Result<Vec<Self>, StartupError> {
        let table = config.handlers.get(registration.name());
        if let Some(table) = table {
            registration.check(&table.settings)?;
            if registration.has_destinations() {
                refuse_destination_keys(registration.name(), table)?;
            }
        }
        match table {
            Some(table) if table.enabled && registration.has_destinations() => {
                let destinations = registration
                    .destinations(&table.settings)
                    .expect("the registration has destinations")?;
                Self::destinations(registration, table, config, destinations)
            }
            _ => Self::new(registration, table, config).map(|member| vec![member]),
        }
    }

    /// `registration` as one member.
    fn new(
        registration: &'static HandlerRegistration,
        table: Option<&HandlerTable>,
        config: &Config,
    ) -> Result<Self, StartupError> {
        let enabled = table.is_some_and(|table| table.enabled);
        let queue = queue_policy(registration, table)?;
        let selection = selection(registration, table.and_then(|t| t.commands.as_deref()))?;
        if enabled && matches!(registration.commands(), Commands::FromConfig(None)) {
            let configured = table.and_then(|table| table.commands.as_ref());
            if configured.is_none() {
                return Err(StartupError::CommandsMissing {
                    handler: registration.name(),
                });
            }
        }
        Ok(Self {
            registration,
            name: registration.name(),
            destination: None,
            enabled,
            selection: selection.unwrap_or(Selection::Fixed(&[])),
            decides: table
                .and_then(|table| table.decides)
                .or(registration.decides())
                .filter(|_| queue.is_none()),
            fallback: table
                .and_then(|table| table.fallback)
                .unwrap_or(config.dispatch.before_fallback),
            queue,
            settings: table
                .map(|table| table.settings.clone())
                .unwrap_or_default(),
        })
    }

    /// A member per destination of an enabled handler that fans out, named
    /// `<handler>.<destination>`, each with its own commands, delivery and retry policy.
    fn destinations(
        registration: &'static HandlerRegistration,
        table: &HandlerTable,
        config: &Config,
        destinations: Vec<Destination>,
    ) -> Result<Vec<Self>, StartupError> {
        let handler = registration.name();
        if destinations.is_empty() {
            return Err(StartupError::InvalidDestination {
                handler,
                destination: String::new(),
                problem: "the handler is enabled but its settings give no destination".into(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut members = Vec::with_capacity(destinations.len());
        for destination in destinations {
            let invalid = |problem: &str| StartupError::InvalidDestination {
                handler,
                destination: destination.name.clone(),
                problem: problem.to_owned(),
            };
            let well_formed = !destination.name.is_empty()
                && destination.name.len() <= 64
                && destination
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !well_formed {
                return Err(invalid(
                    "a destination's name is 1 to 64 of a-z, 0-9, `_` and `-`",
                ));
            }
            if !seen.insert(destination.name.clone()) {
                return Err(invalid("two destinations have this name"));
            }
            let name = leak(&format!("{handler}.{}", destination.name));
            let set = CommandSet::parse(&destination.commands).map_err(|error| {
                StartupError::CommandPatterns {
                    handler: name,
                    problem: error.to_string(),
                }
            })?;
            let queue = match destination.delivery {
                DeliveryMode::Inline if destination.queue.is_some() => {
                    return Err(StartupError::InvalidQueue {
                        handler: name,
                        key: "queue",
                        problem: "a retry policy applies to a queued destination only".into(),
                    });
                }
                DeliveryMode::Inline => None,
                DeliveryMode::Queued if destination.decides == Some(true) => {
                    return Err(StartupError::QueuedDecider { handler: name });
                }
                DeliveryMode::Queued => {
                    let default = QueueConfig::default();
                    let queue = destination.queue.as_ref().unwrap_or(&default);
                    Some(QueuePolicy::from_config(name, queue)?)
                }
            };
            members.push(Self {
                registration,
                name,
                destination: Some(leak(&destination.name)),
                enabled: true,
                selection: Selection::Patterns {
                    set,
                    from: SetFrom::Config,
                },
                decides: destination.decides.filter(|_| queue.is_none()),
                fallback: destination
                    .fallback
                    .or(table.fallback)
                    .unwrap_or(config.dispatch.before_fallback),
                queue,
                settings: table.settings.clone(),
            });
        }
        Ok(members)
    }

    pub(super) fn name(&self) -> &'static str {
        self.name
    }

    /// Why this handler serves a command of this shape, if it does.
    pub(super) fn source(&self, shape: &CommandShape<'_>) -> Option<Source> {
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

/// The retry policy of a handler its table (or registration) makes queued; `None` for an
/// inline one. A queued decider and a `queue` table on an inline handler are refused.
fn queue_policy(
    registration: &'static HandlerRegistration,
    table: Option<&crate::config::HandlerTable>,
) -> Result<Option<QueuePolicy>, StartupError> {
    let handler = registration.name();
    let delivery = table
        .and_then(|table| table.delivery)
        .unwrap_or(registration.delivery());
    let queue = table.and_then(|table| table.queue.as_ref());
    match delivery {
        DeliveryMode::Inline => match queue {
            Some(_) => Err(StartupError::InvalidQueue {
                handler,
                key: "queue",
                problem: "a queue table applies to queued delivery only; set \
                          delivery = \"queued\" or remove it"
                    .into(),
            }),
            None => Ok(None),
        },
        DeliveryMode::Queued => {
            let decides = table
                .and_then(|table| table.decides)
                .or(registration.decides());
            if decides == Some(true) {
                return Err(StartupError::QueuedDecider { handler });
            }
            let default = QueueConfig::default();
            QueuePolicy::from_config(handler, queue.unwrap_or(&default)).map(Some)
        }
    }
}

/// A handler that fans out takes what routes and retries its callbacks from each destination,
/// so its table cannot also say them.
fn refuse_destination_keys(
    handler: &'static str,
    table: &HandlerTable,
) -> Result<(), StartupError> {
    let given = [
        ("commands", table.commands.is_some()),
        ("decides", table.decides.is_some()),
        ("delivery", table.delivery.is_some()),
        ("queue", table.queue.is_some()),
    ];
    match given.iter().find(|(_, given)| *given) {
        Some((key, _)) => Err(StartupError::DestinationKey { handler, key }),
        None => Ok(()),
    }
}

/// Every registration valid and its name unique, and every handler table naming a linked
/// handler.
fn check_names(
    config: &Config,
    linked: &[&'static HandlerRegistration],
) -> Result<(), StartupError> {
    let mut by_name: HashMap<&'static str, &'static HandlerRegistration> = HashMap::new();
    for registration in linked {
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
    Ok(())
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
