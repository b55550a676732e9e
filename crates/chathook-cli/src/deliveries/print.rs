//! What `chathook deliveries list` and `show` print for people: a table of deliveries, and one
//! delivery with its attempts. Times are RFC 3339 in UTC; errors are cut to a line.

use std::fmt::Write as _;

use chathook_core::deliveries::format_time;
use chathook_core::journal::{DeliveryDetail, DeliverySummary};

/// The longest error a table cell shows; `show` prints it whole.
const ERROR_CELL_CHARS: usize = 60;

/// The deliveries as a table, newest first, or a line saying there are none.
pub(super) fn list(deliveries: &[DeliverySummary]) -> String {
    if deliveries.is_empty() {
        return "no deliveries match\n".to_owned();
    }
    let header = [
        "ID",
        "HANDLER",
        "STATE",
        "ATTEMPTS",
        "RECEIVED",
        "COMMAND",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 7]> = deliveries
        .iter()
        .map(|delivery| {
            [
                delivery.id.to_string(),
                delivery.handler.clone(),
                delivery.state.as_str().to_owned(),
                delivery.attempts.to_string(),
                format_time(delivery.received_at_ms),
                delivery.command.clone(),
                delivery
                    .last_error
                    .as_deref()
                    .map(|error| one_line(error, ERROR_CELL_CHARS))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&header, &rows)
}

/// Columns padded to their widest cell; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|title| title.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column + 1 == N {
                    cell.clone()
                } else {
                    format!("{cell:width$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// `text` on one line, at most `max_chars` long (an ellipsis says it was cut).
fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars - 1).collect();
    format!("{cut}…")
}

/// One delivery: its facts, each attempt, then the callback's body.
pub(super) fn detail(detail: &DeliveryDetail) -> String {
    let summary = &detail.summary;
    let mut text = String::new();
    let mut line = |name: &str, value: &str| {
        let _ = writeln!(text, "{name:<16}{value}");
    };
    line("delivery", &summary.id.to_string());
    line("entry", &summary.entry_id.to_string());
    line("handler", &summary.handler);
    line("state", summary.state.as_str());
    if let Some(reason) = &summary.dead_reason {
        line("dead because", reason);
    }
    line("command", &summary.command);
    line("sdk app id", &summary.sdk_app_id.to_string());
    line("received", &format_time(summary.received_at_ms));
    if let Some(at) = summary.next_attempt_at_ms {
        line("next attempt", &format_time(at));
    }
    if let Some(at) = summary.delivered_at_ms {
        line("delivered", &format_time(at));
    }
    line("idempotency key", &summary.idempotency_key);
    if let Some(key) = &summary.conversation_key {
        line("conversation", key);
    }
    if let Some(ip) = &detail.client_ip {
        line("client ip", ip);
    }
    if let Some(platform) = &detail.opt_platform {
        line("platform", platform);
    }
    if let Some(decision) = &detail.decision {
        line("decision", decision);
    }
    let _ = writeln!(text, "\nattempts ({})", detail.attempts.len());
    for attempt in &detail.attempts {
        let took_ms = attempt.ended_at_ms - attempt.started_at_ms;
        let _ = write!(
            text,
            "  #{} {} {} ({took_ms} ms)",
            attempt.attempt,
            format_time(attempt.started_at_ms),
            attempt.result
        );
        match &attempt.error {
            Some(error) => {
                let _ = writeln!(text, ": {}", one_line(error, usize::MAX));
            }
            None => text.push('\n'),
        }
    }
    let _ = writeln!(text, "\nbody\n{}", detail.body);
    text
}
