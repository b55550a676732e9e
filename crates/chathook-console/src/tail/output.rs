//! How `chathook tail` shows a record: one styled line (coloured by outcome on a terminal,
//! plain when piped or with NO_COLOR), or the record's JSON with `--json`.

use std::fmt::Write as _;
use std::io::Write as _;

use anstyle::{AnsiColor, Style};

use crate::wire::{HandlerJson, RecordJson};

/// Standard output: styled lines (the styles dropped when it is not a terminal, or NO_COLOR
/// is set), or the records' JSON.
pub(super) struct Output {
    json: bool,
    styled: anstream::Stdout,
}

impl Output {
    pub(super) fn new(json: bool) -> Self {
        Self {
            json,
            styled: anstream::stdout(),
        }
    }

    /// Writes one record (an `update` of one shown before marked `↳ `) and flushes, so piped
    /// output appears at once.
    pub(super) fn record(
        &mut self,
        data: &str,
        record: &RecordJson<'_>,
        update: bool,
    ) -> std::io::Result<()> {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            // One object per line: a record sent over several `data:` lines is made compact,
            // with every field it had (a newer server's too), not only those this tail knows.
            if data.contains('\n') {
                let compact: serde_json::Value = serde_json::from_str(data)?;
                writeln!(stdout, "{compact}")?;
            } else {
                writeln!(stdout, "{data}")?;
            }
            stdout.flush()
        } else {
            let mark = if update { "↳ " } else { "" };
            writeln!(self.styled, "{mark}{}", line(record))?;
            self.styled.flush()
        }
    }
}

/// The style of an outcome's words.
fn outcome_style(outcome: &str) -> Style {
    match outcome {
        "ok" => AnsiColor::Green.on_default(),
        "fallback" | "unrouted" => AnsiColor::Yellow.on_default(),
        "rejected" => AnsiColor::Red.on_default().bold(),
        _ => AnsiColor::Red.on_default(),
    }
}

/// One record as a line, e.g.
/// `07:31:02.123 main Group.CallbackAfterSendMsg ok 200 0.48ms archive:ok`, or for a
/// refusal `07:31:02.123 main - rejected 401 Sign mismatch: app main, RequestTime 14 s old`.
fn line(record: &RecordJson<'_>) -> String {
    let outcome = &*record.outcome;
    let style = outcome_style(outcome);
    let dim = Style::new().dimmed();
    let app = match (&record.app, record.sdk_app_id) {
        (Some(app), _) => app.to_string(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "-".into(),
    };
    let command = record.command.as_deref().unwrap_or("-");
    let status = record.status;
    let mut line = format!(
        "{dim}{}{dim:#} {app} {command} {style}{outcome} {status}{style:#}",
        clock(record.unix_ms)
    );
    if outcome != "rejected" {
        let _ = write!(line, " {}", milliseconds(record.latency_ms));
    }
    let explanation = record
        .explanation
        .as_deref()
        .or(record.error.as_deref())
        .filter(|_| outcome != "ok");
    // The server's explanation names each failed handler with its error: say it once.
    let handlers: Vec<String> = record
        .handlers
        .iter()
        .map(|entry| handler(entry, explanation.is_none()))
        .collect();
    if !handlers.is_empty() {
        let _ = write!(line, " {}", handlers.join(", "));
    }
    if let Some(explanation) = explanation {
        let separator = if handlers.is_empty() { "" } else { "- " };
        let _ = write!(line, " {separator}{style}{explanation}{style:#}");
    }
    line
}

/// A handler's part of a line: `archive:ok`, or `archive:failed (store is down)`
/// `with_error`.
fn handler(handler: &HandlerJson<'_>, with_error: bool) -> String {
    let name = &handler.name;
    let result = handler.result.as_deref().unwrap_or("running");
    match handler.error.as_deref().filter(|_| with_error) {
        Some(error) => {
            // The error often starts with the result ("failed: store is down"): say it once.
            let error = error
                .strip_prefix(result)
                .and_then(|rest| rest.strip_prefix(':'))
                .map_or(error, str::trim_start);
            format!("{name}:{result} ({error})")
        }
        None => format!("{name}:{result}"),
    }
}

/// When the callback arrived, as UTC `HH:MM:SS.mmm`.
fn clock(unix_ms: u64) -> String {
    let ms = unix_ms % 1000;
    let secs = (unix_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `0.48ms`, `12.3ms`, `1503ms`.
fn milliseconds(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}
