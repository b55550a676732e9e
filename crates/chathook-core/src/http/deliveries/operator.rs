//! What an operator asks of the journal, from text: the filters of a list, a replay's range,
//! a state, a command pattern, an instant. The API (`/api/v1/deliveries`) and the command line
//! (`chathook deliveries`) read their parameters through these, so both accept the same
//! words and refuse them in the same words, naming the parameter.
//!
//! An empty value (a form's empty field) means no filter.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::clock::{format_rfc3339_ms, parse_rfc3339_ms};
use crate::journal::{CommandFilter, DeliveryId, DeliveryState, ListFilter, ReplayRequest};
use crate::pattern::{CommandSet, CommandShape};
use crate::rejection::echo;

/// A parameter an operator gave that cannot be used: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterError {
    parameter: &'static str,
    problem: String,
}

impl ParameterError {
    fn new(parameter: &'static str, problem: impl Into<String>) -> Self {
        Self {
            parameter,
            problem: problem.into(),
        }
    }

    /// The parameter, as the API names it (`since`); the command line's flag is `--since`.
    pub fn parameter(&self) -> &'static str {
        self.parameter
    }

    /// What is wrong with it, worded to follow its name (`must be ...`, `"x" is not ...`).
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ParameterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.parameter, self.problem)
    }
}

impl std::error::Error for ParameterError {}

/// The filters of a list, as text: each `None` or empty is no filter.
#[derive(Clone, Debug, Default)]
pub struct ListCriteria {
    /// Only this handler's deliveries.
    pub handler: Option<String>,
    /// `pending`, `dead` or `delivered`.
    pub state: Option<String>,
    /// Command patterns, comma-separated (`Group.*`, `after`, `!C2C.*`, exact names).
    pub command: Option<String>,
    /// Received at or after: see [`parse_time`].
    pub since: Option<String>,
    /// Received before: see [`parse_time`].
    pub until: Option<String>,
}

impl ListCriteria {
    /// The journal's filter for these criteria, with `now` for ages such as `2h`.
    pub fn to_filter(
        &self,
        before_id: Option<DeliveryId>,
        limit: usize,
        now: SystemTime,
    ) -> Result<ListFilter, ParameterError> {
        let since = given(&self.since)
            .map(|value| parse_time("since", value, now))
            .transpose()?;
        let until = given(&self.until)
            .map(|value| parse_time("until", value, now))
            .transpose()?;
        if let (Some(since), Some(until)) = (since, until) {
            ensure_ordered(since, until)?;
        }
        Ok(ListFilter {
            handler: given(&self.handler).map(str::to_owned),
            state: given(&self.state).map(parse_state).transpose()?,
            command: given(&self.command).map(parse_command).transpose()?,
            since,
            until,
            before_id,
            limit,
        })
    }
}

/// A replay's request from text: `since` and `until` are required and `since` must come
/// first; `command` is optional.
pub fn replay_request(
    handler: &str,
    since: &str,
    until: &str,
    command: Option<&str>,
    now: SystemTime,
) -> Result<ReplayRequest, ParameterError> {
    let handler = handler.trim();
    if handler.is_empty() {
        return Err(ParameterError::new(
            "handler",
            "is required: the queued handler to deliver to",
        ));
    }
    let since = required_time("since", since, now)?;
    let until = required_time("until", until, now)?;
    ensure_ordered(since, until)?;
    let command = command
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(parse_command)
        .transpose()?;
    Ok(ReplayRequest {
        handler: handler.to_owned(),
        since,
        until,
        command,
    })
}

fn required_time(
    parameter: &'static str,
    value: &str,
    now: SystemTime,
) -> Result<SystemTime, ParameterError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ParameterError::new(
            parameter,
            "is required: an RFC 3339 time such as 2026-12-01T07:30:00Z, or an age such as 2h",
        ));
    }
    parse_time(parameter, value, now)
}

fn ensure_ordered(since: SystemTime, until: SystemTime) -> Result<(), ParameterError> {
    if since < until {
        return Ok(());
    }
    Err(ParameterError::new(
        "until",
        format!(
            "must be after since ({} is not after {})",
            format_time(unix_ms(until)),
            format_time(unix_ms(since))
        ),
    ))
}

/// `pending`, `dead` or `delivered`.
pub fn parse_state(value: &str) -> Result<DeliveryState, ParameterError> {
    [
        DeliveryState::Pending,
        DeliveryState::Dead,
        DeliveryState::Delivered,
    ]
    .into_iter()
    .find(|state| state.as_str() == value.trim())
    .ok_or_else(|| {
        ParameterError::new(
            "state",
            format!("{:?} is not one of pending, dead, delivered", echo(value)),
        )
    })
}

/// Comma-separated command patterns, as `commands` in config takes them, as a filter.
pub fn parse_command(value: &str) -> Result<CommandFilter, ParameterError> {
    let patterns: Vec<&str> = value.split(',').map(str::trim).collect();
    let set = CommandSet::parse(&patterns)
        .map_err(|error| ParameterError::new("command", format!("is refused: {error}")))?;
    Ok(Arc::new(move |command: &str| {
        let shape = CommandShape::named(command, crate::protocol::kind_of(command));
        set.selecting(&shape).is_some()
    }))
}

/// An instant: RFC 3339 (`2026-12-01T07:30:00Z`, an offset or a fraction allowed), Unix
/// seconds or milliseconds, or an age before `now` (`90s`, `30m`, `2h`, `7d`).
pub fn parse_time(
    parameter: &'static str,
    value: &str,
    now: SystemTime,
) -> Result<SystemTime, ParameterError> {
    let value = value.trim();
    let refused = || {
        ParameterError::new(
            parameter,
            format!(
                "{:?} is not an RFC 3339 time (2026-12-01T07:30:00Z), Unix seconds or \
                 milliseconds, or an age such as 30m, 2h or 7d",
                echo(value)
            ),
        )
    };
    if let Ok(number) = value.parse::<u64>() {
        // Unix seconds stay below 10^11 until the year 5138.
        let ms = if number >= 100_000_000_000 {
            number
        } else {
            number.saturating_mul(1000)
        };
        return Ok(UNIX_EPOCH + Duration::from_millis(ms));
    }
    if let Some(age) = parse_age(value) {
        return now.checked_sub(age).ok_or_else(refused);
    }
    let ms = parse_rfc3339_ms(value).ok_or_else(refused)?;
    let ms = u64::try_from(ms).map_err(|_| refused())?;
    Ok(UNIX_EPOCH + Duration::from_millis(ms))
}

fn parse_age(value: &str) -> Option<Duration> {
    let (at, unit) = value.char_indices().last()?;
    let amount: u64 = value[..at].parse().ok()?;
    let unit_secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(amount.saturating_mul(unit_secs)))
}

/// Unix milliseconds as RFC 3339 in UTC: `2026-12-01T07:30:00.000Z`.
pub fn format_time(unix_ms: i64) -> String {
    format_rfc3339_ms(unix_ms)
}

/// `time` in Unix milliseconds (0 before 1970).
pub fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// `value` trimmed, `None` when that leaves nothing.
fn given(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn times_are_read_in_every_form() {
        let now = at(1_796_110_200_000);
        for (text, expected) in [
            ("2026-12-01T07:30:00Z", 1_796_110_200_000),
            ("1796110200", 1_796_110_200_000),
            ("1796110200000", 1_796_110_200_000),
            ("90s", 1_796_110_110_000),
            ("2h", 1_796_103_000_000),
            ("1d", 1_796_023_800_000),
        ] {
            assert_eq!(parse_time("since", text, now), Ok(at(expected)), "{text}");
        }
        let refused = parse_time("until", "yesterday", now).unwrap_err();
        assert_eq!(refused.parameter(), "until");
        assert!(
            refused
                .to_string()
                .starts_with("until \"yesterday\" is not an RFC 3339 time"),
            "{refused}"
        );
    }

    #[test]
    fn list_criteria_become_the_journal_filter_or_name_the_bad_parameter() {
        let now = at(1_796_110_200_000);
        let criteria = ListCriteria {
            handler: Some(" crm ".into()),
            state: Some("dead".into()),
            command: Some("Group.*, !Group.CallbackAfterSendMsg".into()),
            since: Some("".into()),
            until: Some("1h".into()),
        };
        let filter = criteria.to_filter(Some(7), 50, now).unwrap();
        assert_eq!(filter.handler.as_deref(), Some("crm"));
        assert_eq!(filter.state, Some(DeliveryState::Dead));
        assert_eq!(filter.since, None);
        assert_eq!(filter.until, Some(at(1_796_106_600_000)));
        assert_eq!((filter.before_id, filter.limit), (Some(7), 50));
        let command = filter.command.unwrap();
        assert!(command("Group.CallbackAfterNewMemberJoin"));
        assert!(!command("Group.CallbackAfterSendMsg"));
        assert!(!command("C2C.CallbackAfterSendMsg"));

        for (criteria, message) in [
            (
                ListCriteria {
                    state: Some("gone".into()),
                    ..ListCriteria::default()
                },
                "state \"gone\" is not one of pending, dead, delivered",
            ),
            (
                ListCriteria {
                    command: Some("Group.".into()),
                    ..ListCriteria::default()
                },
                "command is refused: \"Group.\" is not a pattern",
            ),
            (
                ListCriteria {
                    since: Some("1h".into()),
                    until: Some("2h".into()),
                    ..ListCriteria::default()
                },
                "until must be after since",
            ),
        ] {
            let Err(error) = criteria.to_filter(None, 10, now) else {
                panic!("{message}: accepted");
            };
            let error = error.to_string();
            assert!(error.starts_with(message), "{error}");
        }
    }

    #[test]
    fn a_replay_needs_a_handler_and_an_ordered_range() {
        let now = at(1_796_110_200_000);
        let request = replay_request("crm", "2h", "1h", Some("after"), now).unwrap();
        assert_eq!(request.handler, "crm");
        assert_eq!(
            (request.since, request.until),
            (at(1_796_103_000_000), at(1_796_106_600_000))
        );
        assert!((request.command.unwrap())("Group.CallbackAfterSendMsg"));
        for (handler, since, until, parameter) in [
            ("", "2h", "1h", "handler"),
            ("crm", "", "1h", "since"),
            ("crm", "2h", " ", "until"),
            ("crm", "1h", "1h", "until"),
            ("crm", "soon", "1h", "since"),
        ] {
            let Err(error) = replay_request(handler, since, until, None, now) else {
                panic!("{handler} {since} {until}: accepted");
            };
            assert_eq!(error.parameter(), parameter, "{error}");
        }
    }
}
