//! The routing table as rows, for `chathook handlers` and the console: each command with
//! every linked handler that serves it, what it does there and why.

use super::Plan;
use super::plan::RouteSpec;
use crate::pattern::CommandShape;
use crate::protocol::{CallbackKind, kind_of};

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
    /// Queued: the callback is journaled for it before Chat hears OK, then delivered with
    /// retries; it observes a before-callback's decision, never makes it.
    Queued,
}

impl Role {
    /// `runs`, `decides` or `observes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runs => "runs",
            Self::Decides => "decides",
            Self::Observes => "observes",
            Self::Queued => "queued",
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
            } else if route.queued.contains(&index) {
                Some(Role::Queued)
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
}
