//! The one rule for a reply's codes, whoever made the reply: a builder here, or a framework
//! checking what a handler returned ([`Reply::check`], [`check_decision_code`]).

use serde::Deserialize;
use serde_json::Value;

use super::{FRIEND_RESULT_CODES, Fields, Reply, ReplyError};
use crate::table::{CodeRange, Kind, command_info, commands};

/// Checks that `code` and `info` make a plain decision `command`'s documentation allows.
pub(super) fn check_code(command: &str, code: u32, info: &str) -> Result<(), ReplyError> {
    // These replies are not valid without their payload; their own builders make them.
    let required = match command {
        commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE => {
            Some("a reply without RspData (use Reply::signal)")
        }
        commands::SNS_CALLBACK_PREV_FRIEND_ADD | commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE => {
            Some("a reply without ResultItem (use Reply::friend_results)")
        }
        _ => None,
    };
    if let Some(what) = required {
        return Err(ReplyError::WrongCommand {
            command: command.to_owned(),
            what,
        });
    }
    check_decision_code(command, code)?;
    check_after_info(command, info)
}

/// An after-callback's reply is exactly OK / 0 / "" (`Group.CallbackSendMsgException`'s page
/// says so outright): no text rides along with the 0.
fn check_after_info(command: &str, info: &str) -> Result<(), ReplyError> {
    let after = command_info(command).is_some_and(|known| known.kind == Kind::After);
    if after && !info.is_empty() {
        return Err(ReplyError::NotADecision(command.to_owned()));
    }
    Ok(())
}

/// Whether `code` is a top-level `ErrorCode` the documentation of `command` gives a meaning
/// to: 0 always; for a before-callback also 1 (refuse), 2 where silent discard is documented,
/// and the command's custom range. For the friend requests (`Sns.CallbackPrev*`) only 0:
/// Chat decides those per target and reads any other top-level code as "the app failed",
/// letting the request through, so a refusal there must be a `ResultItem`
/// ([`ReplyError::PerTargetOnly`]). For a reply built some other way (a framework's own
/// reply type), so the same rule holds wherever a reply is made.
pub fn check_decision_code(command: &str, code: u32) -> Result<(), ReplyError> {
    let info =
        command_info(command).ok_or_else(|| ReplyError::UnknownCommand(command.to_owned()))?;
    if code == 0 {
        return Ok(());
    }
    if info.kind == Kind::After {
        return Err(ReplyError::NotADecision(command.to_owned()));
    }
    if info.result_codes.is_some() {
        return Err(ReplyError::PerTargetOnly {
            command: command.to_owned(),
            code,
        });
    }
    let range_ok = info.custom_codes.is_some_and(|range| range.contains(code));
    if code == 1 || (code == 2 && info.silent_discard) || range_ok {
        return Ok(());
    }
    let mut allowed = String::from("0, 1");
    if info.silent_discard {
        allowed.push_str(", 2");
    }
    if let Some(CodeRange { start, end }) = info.custom_codes {
        allowed.push_str(&format!(" or [{start}, {end}]"));
    }
    Err(ReplyError::CodeNotAllowed {
        command: command.to_owned(),
        code,
        allowed,
    })
}

impl Reply<Fields> {
    /// Checks this reply against `command`'s documentation, as the typed builders do: the
    /// top-level code ([`check_decision_code`]), an after-callback's empty `ErrorInfo`, and
    /// each per-target `ResultCode` of a friend request's `ResultItem`.
    /// [`ReplyError::UnknownCommand`] for a command the table lacks, which has no documented
    /// codes to hold a reply to.
    pub fn check(&self, command: &str) -> Result<(), ReplyError> {
        check_decision_code(command, self.error_code)?;
        check_after_info(command, &self.error_info)?;
        match self.data.get("ResultItem") {
            Some(items) if command_info(command).is_some_and(|c| c.result_codes.is_some()) => {
                check_result_items(items)
            }
            _ => Ok(()),
        }
    }
}

/// Each item of a friend request's `ResultItem`: a target and a code 0 or in the range.
fn check_result_items(items: &Value) -> Result<(), ReplyError> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(rename = "To_Account")]
        to_account: String,
        #[serde(rename = "ResultCode")]
        result_code: u32,
    }
    let items = Vec::<Item>::deserialize(items)
        .map_err(|error| ReplyError::MalformedResultItem(error.to_string()))?;
    match items
        .into_iter()
        .find(|item| item.result_code != 0 && !FRIEND_RESULT_CODES.contains(item.result_code))
    {
        Some(bad) => Err(ReplyError::ResultCodeNotAllowed {
            to_account: bad.to_account,
            code: bad.result_code,
        }),
        None => Ok(()),
    }
}
