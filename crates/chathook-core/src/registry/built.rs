//! The built registry: every enabled handler built, and each command's [`Route`] to them,
//! looked up once per callback.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::Plan;
use super::plan::RouteSpec;
use crate::config::Fallback;
use crate::delivery::QueuePolicy;
use crate::error::StartupError;
use crate::handler::Handler;
use crate::pattern::family_of;
use crate::protocol::{CallbackKind, kind_of};

impl Plan {
    /// Runs every enabled handler's build function, in name order.
    pub async fn build(self) -> Result<Registry, StartupError> {
        let mut built: Vec<Option<Target>> = Vec::with_capacity(self.members.len());
        // One built handler per registration, shared by its destinations' members.
        let mut handlers: Vec<(&'static str, Arc<dyn Handler>)> = Vec::new();
        let mut queued = Vec::new();
        for member in self.members {
            if !member.enabled {
                built.push(None);
                continue;
            }
            let (registration, name) = (member.registration, member.name());
            let handler = match handlers.last() {
                Some((built_name, handler)) if *built_name == registration.name() => {
                    Arc::clone(handler)
                }
                _ => {
                    let handler = registration.build(member.settings).await?;
                    handlers.push((registration.name(), Arc::clone(&handler)));
                    handler
                }
            };
            let target = Target {
                name,
                destination: member.destination,
                fallback: member.fallback,
                handler,
            };
            if let Some(policy) = member.queue {
                queued.push((target.clone(), policy));
            }
            built.push(Some(target));
        }
        let target = |index: usize| {
            built[index]
                .clone()
                .expect("routes name enabled handlers only")
        };
        let route = |spec: RouteSpec| {
            let decider = spec.decider.map(target);
            let others: Vec<Target> = spec.others.into_iter().map(target).collect();
            let queued = spec.queued.into_iter().map(|i| target(i).name).collect();
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
                queued,
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
        let names = built.iter().flatten().map(|target| target.name).collect();
        Ok(Registry {
            named,
            open,
            families: self.families,
            handlers,
            names,
            queued,
        })
    }
}

/// One built handler as a route calls it.
#[derive(Clone)]
pub struct Target {
    /// The handler's name, or `<handler>.<destination>` for one destination of a handler
    /// that fans out.
    pub name: &'static str,
    /// The destination the handler's calls are told, for a handler that fans out.
    pub destination: Option<&'static str>,
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
    /// After-callbacks: every inline handler, all of which must succeed. Before-callbacks:
    /// the inline observers.
    pub others: Vec<Target>,
    /// The queued handlers, for which the callback is journaled before Chat hears OK.
    pub queued: Vec<&'static str>,
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
    /// Every enabled handler's name, a fan-out handler's destinations by theirs.
    names: Vec<&'static str>,
    queued: Vec<(Target, QueuePolicy)>,
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

    /// The queued handlers with their retry policies, for the delivery workers.
    pub(crate) fn take_queued(&mut self) -> Vec<(Target, QueuePolicy)> {
        std::mem::take(&mut self.queued)
    }

    /// Every enabled handler's name as routes, metrics and the journal know it: a handler that
    /// fans out by its destinations' `<handler>.<destination>`.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// The built handlers with their names, in name order: one per registration, however
    /// many destinations it serves.
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
