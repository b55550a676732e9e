//! The routing table: which enabled handlers serve which command, and which one of them
//! decides a before-callback, decided once at start-up.
//!
//! A command may have several handlers. An after-callback runs them all and is acknowledged
//! only when every one succeeded. A before-callback (or a reply-bearing one) has at most one
//! decider, whose reply Chat gets; the others observe. Handlers whose command set comes from
//! config patterns also serve commands the table does not know: those are routed by family
//! and kind, through routes computed here too, so nothing is worked out per request.
//!
//! [`Plan`] (`registry/plan.rs`) checks and plans, [`RoutingRow`]s (`registry/rows.rs`) show
//! the plan, and [`Registry`] (`registry/built.rs`) is the plan built, as the callback path
//! uses it.

mod built;
mod plan;
mod rows;

pub use built::{Registry, Route, Target};
pub use plan::Plan;
pub use rows::{Role, RoutedHandler, RoutingRow, Source};
