//! The HTTP edge: the connection layer under the router ([`connection`]), the API under
//! `/api/v1` behind the bearer token ([`api`]), and the operational routes and refusals of
//! requests off the callback path ([`ops`]).

mod api;
mod connection;
mod deliveries;
mod log_budget;
mod ops;

use axum::response::Response;

pub(crate) use api::{api_router, count_refusals};
pub(crate) use connection::{Connection, ConnectionEvents, Limits, serve};
pub(crate) use deliveries::deliveries_routes;
pub use deliveries::operator;
pub(crate) use log_budget::LogBudget;
pub(crate) use ops::{
    Ops, Readiness, healthz, method_not_allowed, metrics, not_found, readyz,
    route_method_not_allowed,
};

/// Marks a response already counted in the metrics, so [`count_refusals`] does not count it
/// twice.
#[derive(Clone, Copy)]
pub(crate) struct Counted;

/// `response`, marked [`Counted`].
pub(crate) fn mark_counted(mut response: Response) -> Response {
    response.extensions_mut().insert(Counted);
    response
}
