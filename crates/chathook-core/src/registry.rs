//! The routing table: which enabled handler serves which command, decided once at start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::config::{Config, Fallback};
use crate::error::StartupError;
use crate::handler::{Handler, HandlerRegistration, linked_handlers};
use crate::protocol::{CallbackKind, KNOWN_COMMANDS};

/// The validated plan: which linked handlers are enabled, with their settings. Building it
/// checks everything that can be checked without running any handler code.
pub struct Plan {
    linked: Vec<&'static HandlerRegistration>,
    enabled: Vec<Enabled>,
}

struct Enabled {
    registration: &'static HandlerRegistration,
    fallback: Fallback,
    settings: crate::handler::HandlerSettings,
}

/// One row of `chathook handlers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRow {
    /// `CallbackCommand`.
    pub command: &'static str,
    /// Before or after.
    pub kind: CallbackKind,
    /// The linked handler that claims it, if any (an enabled one wins over disabled ones).
    pub handler: Option<&'static str>,
    /// Whether that handler is enabled.
    pub enabled: bool,
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

        let mut enabled = Vec::new();
        let mut claimed: HashMap<&'static str, &'static str> = HashMap::new();
        for (name, table) in &config.handlers {
            let Some(&registration) = by_name.get(name.as_str()) else {
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
            };
            // Checked even when disabled: a typo such as `enable = true` must not silently
            // leave a handler off.
            registration.check(&table.settings)?;
            if !table.enabled {
                continue;
            }
            for &command in registration.commands() {
                if let Some(first) = claimed.insert(command, registration.name()) {
                    return Err(StartupError::CommandClaimedTwice {
                        command,
                        first,
                        second: registration.name(),
                    });
                }
            }
            enabled.push(Enabled {
                registration,
                fallback: table.fallback.unwrap_or(config.dispatch.before_fallback),
                settings: table.settings.clone(),
            });
        }
        Ok(Self { linked, enabled })
    }

    /// Every command worth listing (documented or claimed) with its handler, sorted.
    pub fn routing_table(&self) -> Vec<RoutingRow> {
        let mut rows: BTreeMap<&'static str, RoutingRow> = KNOWN_COMMANDS
            .iter()
            .map(|known| {
                let row = RoutingRow {
                    command: known.name,
                    kind: known.kind,
                    handler: None,
                    enabled: false,
                };
                (known.name, row)
            })
            .collect();
        for registration in &self.linked {
            let enabled = self.is_enabled(registration.name());
            for &command in registration.commands() {
                let row = rows.entry(command).or_insert(RoutingRow {
                    command,
                    kind: crate::protocol::kind_of(command),
                    handler: None,
                    enabled: false,
                });
                if row.handler.is_none() || (enabled && !row.enabled) {
                    row.handler = Some(registration.name());
                    row.enabled = enabled;
                }
            }
        }
        rows.into_values().collect()
    }

    fn is_enabled(&self, name: &str) -> bool {
        self.enabled
            .iter()
            .any(|enabled| enabled.registration.name() == name)
    }

    /// Runs every enabled handler's build function, in name order.
    pub async fn build(self) -> Result<Registry, StartupError> {
        let mut routes = HashMap::new();
        let mut handlers = Vec::new();
        for Enabled {
            registration,
            fallback,
            settings,
        } in self.enabled
        {
            let handler = registration.build(settings).await?;
            for &command in registration.commands() {
                let route = Route {
                    handler_name: registration.name(),
                    command,
                    kind: crate::protocol::kind_of(command),
                    fallback,
                    handler: Arc::clone(&handler),
                };
                routes.insert(command, route);
            }
            handlers.push((registration.name(), handler));
        }
        Ok(Registry { routes, handlers })
    }
}

impl std::fmt::Debug for Plan {
    /// Names only: settings may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let enabled: Vec<_> = self.enabled.iter().map(|e| e.registration.name()).collect();
        f.debug_struct("Plan")
            .field("linked", &self.linked)
            .field("enabled", &enabled)
            .finish()
    }
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
    let commands = registration.commands();
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
    Ok(())
}

/// Where one command goes.
#[derive(Clone)]
pub struct Route {
    /// The serving handler's name.
    pub handler_name: &'static str,
    /// The command, as registered.
    pub command: &'static str,
    /// Before or after.
    pub kind: CallbackKind,
    /// Decision when a before-callback handler fails.
    pub fallback: Fallback,
    /// The handler.
    pub handler: Arc<dyn Handler>,
}

/// The built handlers and the command → handler map.
#[derive(Default)]
pub struct Registry {
    routes: HashMap<&'static str, Route>,
    handlers: Vec<(&'static str, Arc<dyn Handler>)>,
}

impl Registry {
    /// The route for `command`, if an enabled handler serves it.
    pub fn route(&self, command: &str) -> Option<&Route> {
        self.routes.get(command)
    }

    /// The built handlers with their names, in name order.
    pub fn handlers(&self) -> &[(&'static str, Arc<dyn Handler>)] {
        &self.handlers
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut commands: Vec<_> = self.routes.keys().collect();
        commands.sort_unstable();
        f.debug_struct("Registry")
            .field("commands", &commands)
            .finish_non_exhaustive()
    }
}
