//! One connection of `chathook tail`: its events read until it ends, each record printed, and
//! the id to resume after kept up to date.

use anyhow::Context as _;
use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures_util::StreamExt as _;

use super::connect::describe_request_error;
use super::output::Output;
use super::target::Target;
use crate::wire::{MissedJson, OpenJson, RecordJson};

/// How one connection's stream ended.
pub(super) enum Ended {
    /// Nobody reads our output any more (e.g. `chathook tail | head`).
    StdoutClosed,
    /// The connection ended; `opened` says whether the server had sent `open` on it.
    Lost { opened: bool, why: String },
}

/// Prints the events of one connection until it ends.
pub(super) async fn follow(
    response: reqwest::Response,
    target: &Target,
    output: &mut Output,
    last_id: &mut Option<u64>,
    resumed_after: Option<u64>,
) -> anyhow::Result<Ended> {
    let mut events = response.bytes_stream().eventsource();
    let mut reader = Reader {
        target,
        output,
        last_id,
        resumed_after,
        opened: false,
    };
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(EventStreamError::Transport(error)) => {
                return Ok(reader.lost(describe_request_error(&error)));
            }
            Err(error) => return Ok(reader.lost(format!("unreadable event stream: {error}"))),
        };
        match event.event.as_str() {
            "open" => reader.open(&event.data),
            // An update is a record again, once its last handler (an observer) has ended.
            name @ ("callback" | "update") => {
                if let Some(ended) = reader.record(name, &event)? {
                    return Ok(ended);
                }
            }
            "missed" => missed(&event.data),
            // Events a newer server may add are not for this reader.
            _ => {}
        }
    }
    Ok(reader.lost("the server closed it".into()))
}

/// What one connection's events change.
struct Reader<'a> {
    target: &'a Target,
    output: &'a mut Output,
    /// The id to resume after, across connections.
    last_id: &'a mut Option<u64>,
    /// The `after` this connection asked for: none on the first one.
    resumed_after: Option<u64>,
    /// Whether the server sent `open` on this connection.
    opened: bool,
}

impl Reader<'_> {
    fn lost(&self, why: String) -> Ended {
        Ended::Lost {
            opened: self.opened,
            why,
        }
    }

    /// `open`: says what follows, and notices a server that restarted since the last one.
    fn open(&mut self, data: &str) {
        self.opened = true;
        let stream = &self.target.stream;
        let newest = serde_json::from_str::<OpenJson>(data)
            .ok()
            .map(|open| open.last_id);
        match (self.resumed_after, newest) {
            (None, newest) => {
                // Resume from here if the connection drops before any callback.
                *self.last_id = self.last_id.or(newest);
                eprintln!("following {stream}");
            }
            (Some(after), Some(newest)) if newest < after => {
                // A restarted server counts ids from 1 again: it sends all it holds,
                // and the ids seen from here on are the ones to resume after.
                *self.last_id = Some(0);
                eprintln!(
                    "reconnected to {stream}: the server restarted (its newest callback is \
                     {newest}, before {after}); what it held before the restart is gone, what \
                     it holds now follows"
                );
            }
            (Some(after), _) => eprintln!(
                "reconnected to {stream}; callbacks after {after} still in the server's buffer \
                 follow"
            ),
        }
    }

    /// A `callback` or `update` event: printed, its id kept; `Some` when stdout is closed.
    fn record(&mut self, name: &str, event: &Event) -> anyhow::Result<Option<Ended>> {
        let record: RecordJson<'_> = match serde_json::from_str(&event.data) {
            Ok(record) => record,
            Err(error) => {
                let what = if error.is_data() { "a record" } else { "JSON" };
                eprintln!("skipping a {name} event that is not {what}: {error}");
                return Ok(None);
            }
        };
        // An update's record was counted when it first came: it has no event id.
        if name == "callback" {
            let id = event.id.parse().unwrap_or(record.id);
            *self.last_id = Some(self.last_id.map_or(id, |last| last.max(id)));
        }
        match self.output.record(&event.data, &record, name == "update") {
            Ok(()) => Ok(None),
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(Some(Ended::StdoutClosed))
            }
            Err(error) => Err(error).context("cannot write to standard output"),
        }
    }
}

/// `missed`: this reader fell so far behind that the server dropped records for it.
fn missed(data: &str) {
    match serde_json::from_str::<MissedJson>(data) {
        Ok(MissedJson { missed }) => {
            eprintln!("missed {missed} callbacks: this reader fell behind")
        }
        Err(_) => eprintln!("missed callbacks: this reader fell behind"),
    }
}
