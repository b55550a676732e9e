//! A remote decision: the endpoint's JSON reply read as Chat's answer to a before-callback,
//! checked with the protocol crate as a decision for that command, and the reason it was not
//! used when it was not.

use chathook_core::Answer;
use chathook_core::protocol::ReplyError;
use serde_json::Value;

/// Why a deciding endpoint's reply was not Chat's answer, so the fallback answered: the
/// `reason` label of `chathook_http_forward_decision_fallbacks_total`, and the first word of
/// the error the console records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// No reply within what was left of the deadline.
    Timeout,
    /// No connection, a TLS failure, or the connection failed before the reply was complete.
    Connect,
    /// A reply, but not a 2xx.
    Status,
    /// A 2xx whose body is not a Chat reply packet (JSON with ActionStatus, ErrorCode,
    /// ErrorInfo).
    InvalidJson,
    /// A code the command's documentation does not allow.
    InvalidCode,
    /// Fields the command's reply does not take, or not of their shape.
    InvalidFields,
}

impl FallbackReason {
    /// Every reason, in the order above.
    pub const ALL: [Self; 6] = [
        Self::Timeout,
        Self::Connect,
        Self::Status,
        Self::InvalidJson,
        Self::InvalidCode,
        Self::InvalidFields,
    ];

    /// The label: `timeout`, `connect`, `status`, `invalid_json`, `invalid_code`,
    /// `invalid_fields`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Status => "status",
            Self::InvalidJson => "invalid_json",
            Self::InvalidCode => "invalid_code",
            Self::InvalidFields => "invalid_fields",
        }
    }
}

/// A reply that is not Chat's answer: why, and what exactly was wrong.
#[derive(Debug)]
pub struct Refused {
    /// The reason, as counted.
    pub reason: FallbackReason,
    /// What was wrong, for the console record and the log.
    pub detail: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

impl std::error::Error for Refused {}

/// `body`, a 2xx reply's, as the answer to `command`: a reply packet whose fields
/// ([`Answer::check_fields`]) and codes ([`Answer::check`]) hold for the command. A command
/// the table lacks has neither to hold it to, and passes with any packet.
pub fn read_decision(command: &str, body: &[u8]) -> Result<Answer, Refused> {
    let refuse = |reason, detail: String| Refused { reason, detail };
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        refuse(
            FallbackReason::InvalidJson,
            format!("the reply is not JSON: {error}"),
        )
    })?;
    // A code that is a number but not one Chat reads is a wrong code, not wrong JSON.
    if let Some(code) = value.get("ErrorCode").filter(|code| code.is_number())
        && code
            .as_u64()
            .is_none_or(|code| u32::try_from(code).is_err())
    {
        return Err(refuse(
            FallbackReason::InvalidCode,
            format!("ErrorCode {code} is not a code Chat reads (0 to 4294967295)"),
        ));
    }
    let reply: Answer = serde_json::from_value(value).map_err(|error| {
        refuse(
            FallbackReason::InvalidJson,
            format!(
                "the reply is not a Chat reply packet ({{\"ActionStatus\": \"OK\", \"ErrorCode\": \
                 0, \"ErrorInfo\": \"\", ...}}): {error}"
            ),
        )
    })?;
    match reply.check_fields(command) {
        Ok(()) | Err(ReplyError::UnknownCommand(_)) => {}
        Err(error) => {
            return Err(refuse(
                FallbackReason::InvalidFields,
                format!("the reply is not a decision for {command}: {error}"),
            ));
        }
    }
    match reply.check(command) {
        Ok(()) | Err(ReplyError::UnknownCommand(_)) => Ok(reply),
        Err(error) => Err(refuse(
            FallbackReason::InvalidCode,
            format!("the reply is not a decision for {command}: {error}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use chathook_core::commands;

    use super::*;

    fn refused(command: &str, body: &str) -> (FallbackReason, String) {
        let refused = read_decision(command, body.as_bytes()).expect_err(body);
        (refused.reason, refused.to_string())
    }

    #[test]
    fn every_documented_reply_is_a_decision_for_its_command() {
        for (command, body) in chathook_protocol::samples::REPLIES {
            let reply = read_decision(command, body.as_bytes())
                .unwrap_or_else(|error| panic!("{command}: {error}"));
            let sent: Value = serde_json::from_str(body).unwrap();
            assert_eq!(serde_json::to_value(&reply).unwrap(), sent, "{command}");
        }
    }

    #[test]
    fn a_reply_that_is_not_a_reply_packet_is_invalid_json() {
        let send = commands::GROUP_CALLBACK_BEFORE_SEND_MSG;
        for body in [
            "",
            "OK",
            "<html>",
            "[1]",
            r#"{"ErrorCode":0}"#,
            r#"{"ActionStatus":"MAYBE","ErrorCode":0,"ErrorInfo":""}"#,
        ] {
            let (reason, text) = refused(send, body);
            assert_eq!(reason, FallbackReason::InvalidJson, "{body}: {text}");
            assert!(text.starts_with("invalid_json: the reply is"), "{text}");
        }
    }

    #[test]
    fn a_code_the_command_does_not_document_is_invalid_code() {
        let cases = [
            (
                commands::GROUP_CALLBACK_BEFORE_SEND_MSG,
                120_001,
                "ErrorCode 120001 is not valid",
            ),
            (
                commands::C2C_CALLBACK_BEFORE_SEND_MSG,
                10_100,
                "ErrorCode 10100 is not valid",
            ),
            (
                commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP,
                2,
                "ErrorCode 2 is not valid",
            ),
        ];
        for (command, code, expected) in cases {
            let body = format!(r#"{{"ActionStatus":"OK","ErrorCode":{code},"ErrorInfo":""}}"#);
            let (reason, text) = refused(command, &body);
            assert_eq!(reason, FallbackReason::InvalidCode, "{text}");
            assert!(text.contains(expected), "{text}");
        }
        let (reason, text) = refused(
            commands::GROUP_CALLBACK_BEFORE_SEND_MSG,
            r#"{"ActionStatus":"OK","ErrorCode":-1,"ErrorInfo":""}"#,
        );
        assert_eq!(reason, FallbackReason::InvalidCode, "{text}");
        let (reason, text) = refused(
            commands::SNS_CALLBACK_PREV_FRIEND_ADD,
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"a","ResultCode":7,"ResultInfo":""}]}"#,
        );
        assert_eq!(reason, FallbackReason::InvalidCode, "{text}");
        assert!(text.contains("ResultCode 7 for a"), "{text}");
    }

    #[test]
    fn fields_of_the_wrong_shape_are_invalid_fields() {
        let ok = r#""ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"""#;
        let cases = [
            (
                commands::GROUP_CALLBACK_BEFORE_SEND_MSG,
                format!(r#"{{{ok},"MsgBody":{{"Text":"hi"}}}}"#),
                "`MsgBody` must be an array of message elements",
            ),
            (
                commands::C2C_CALLBACK_BEFORE_SEND_MSG,
                format!(r#"{{{ok},"CloudCustomData":7}}"#),
                "`CloudCustomData` must be a string",
            ),
            (
                commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE,
                format!("{{{ok}}}"),
                "requires `ResultItem`",
            ),
            (
                commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP,
                format!(r#"{{{ok},"MsgBody":[]}}"#),
                "does not take `MsgBody`",
            ),
        ];
        for (command, body, expected) in cases {
            let (reason, text) = refused(command, &body);
            assert_eq!(reason, FallbackReason::InvalidFields, "{text}");
            assert!(
                text.starts_with(&format!(
                    "invalid_fields: the reply is not a decision for {command}: "
                )),
                "{text}"
            );
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn a_command_the_table_lacks_takes_any_reply_packet() {
        let reply = read_decision(
            "Foo.CallbackBeforeBar",
            br#"{"ActionStatus":"OK","ErrorCode":77,"ErrorInfo":"x","Any":1}"#,
        )
        .unwrap();
        assert_eq!(reply.error_code(), 77);
    }
}
