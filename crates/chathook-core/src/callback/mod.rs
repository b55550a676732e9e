//! The callback path, from request to reply: admission runs the ordered checks ([`CHECKS`],
//! [`Gate`]), dispatch hands an admitted callback to its handlers, and the [`Exchange`] is the
//! one value that tells what happened. The taps read that value, and the reply to Chat is made
//! from it, once.

mod admit;
mod dispatch;
mod exchange;
mod explain;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{Request, State};
use axum::response::Response;

use crate::handler::Callback;
use crate::http::{Connection, mark_counted};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::tap::Taps;

pub use admit::{CHECKS, Check, Gate};
pub use dispatch::Effect;
pub(crate) use dispatch::{Dispatcher, panic_text};
pub use exchange::{
    Exchange, HandlerCall, HandlerCalls, HandlerEnd, HandlerResult, Outcome, Replied,
    whole_micros_as_ms,
};
pub use explain::{Finding, Verdict};

/// Everything the callback route needs, built once at start-up.
pub(crate) struct Pipeline {
    pub(crate) gate: Gate,
    pub(crate) registry: Registry,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) taps: Taps,
    /// For the in-flight gauge, which spans the whole request.
    pub(crate) metrics: Arc<Metrics>,
}

/// The callback route's handler.
pub(crate) async fn receive(State(pipeline): State<Arc<Pipeline>>, request: Request) -> Response {
    pipeline.receive(request).await
}

impl Pipeline {
    /// One callback, start to finish: admitted, dispatched, told to the taps, answered.
    async fn receive(&self, request: Request) -> Response {
        let started = Instant::now();
        let arrived = SystemTime::now();
        let _in_flight = self.metrics.in_flight();
        let (parts, body) = request.into_parts();
        let mut admission = self.gate.admission(&parts);
        let admitted = admission.run(body).await;
        let route = admission
            .command()
            .and_then(|command| self.registry.route(command));
        let dispatched = match admitted {
            Err(rejection) => dispatch::Dispatched::refused(rejection),
            Ok(()) => {
                let command = admission.command().expect("admitted");
                match route {
                    None => self.dispatcher.unrouted(command),
                    Some(route) => {
                        let query = admission.parsed_query().expect("admitted");
                        let callback = Callback::new(
                            admission.sdk_app_id().expect("admitted"),
                            route.command_for(command),
                            // A clone shares the bytes; the taps may still look at them.
                            admission.received_body().expect("admitted").clone(),
                        )
                        .with_client(
                            query.client_ip.clone().map(Cow::into_owned),
                            query.opt_platform.clone().map(Cow::into_owned),
                        )
                        .with_arrival(query.request_time.clone().map(Cow::into_owned), arrived);
                        let app = &admission.known_app().expect("admitted").name;
                        self.dispatcher.dispatch(route, callback, app).await
                    }
                }
            }
        };
        let command = admission.command();
        let exchange = Exchange {
            arrived,
            sdk_app_id: admission.sdk_app_id(),
            app: admission.known_app().map(|app| &app.name),
            query: admission.parsed_query(),
            command,
            label: command.map(|command| Registry::label(command, route)),
            body: admission.received_body(),
            handler_names: route
                .filter(|_| dispatched.calls.is_some())
                .map(|route| route.handler_names.as_str()),
            handlers: dispatched.calls.as_ref(),
            fallback: dispatched.fallback,
            outcome: dispatched.outcome,
            replied: &dispatched.replied,
            latency: started.elapsed(),
        };
        self.taps.answered(&exchange);
        if let Some(rejection) = exchange.rejection()
            && exchange.outcome == Outcome::Rejected
            && rejection.closes_connection()
            && let Some(connection) = parts.extensions.get::<Arc<Connection>>()
        {
            connection.linger_before_close();
        }
        mark_counted(dispatched.replied.into_response(command))
    }
}
