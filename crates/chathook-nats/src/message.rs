//! What chathook publishes for one callback: subject, headers, body and message id.

use bytes::Bytes;
use chathook_core::Callback;
use sha2::{Digest, Sha256};

/// Header: `RequestTime` of the callback's query, as Chat sent it.
pub const REQUEST_TIME: &str = "Chathook-Request-Time";
/// Header: `ClientIP` of the query.
pub const CLIENT_IP: &str = "Chathook-Client-Ip";
/// Header: `OptPlatform` of the query.
pub const OPT_PLATFORM: &str = "Chathook-Opt-Platform";
/// Header: when chathook received the callback, Unix milliseconds.
pub const RECEIVED_AT: &str = "Chathook-Received-At";
/// Header: the app's SDKAppID (also the subject's second token).
pub const SDK_APP_ID: &str = "Chathook-Sdk-App-Id";
/// Header: the `CallbackCommand` (also the subject's tail).
pub const COMMAND: &str = "Chathook-Command";
/// JetStream's de-duplication header.
pub const MSG_ID: &str = "Nats-Msg-Id";

/// One message for JetStream, ready to publish now or from the spool later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// `<prefix>.<SdkAppid>.<CallbackCommand>`.
    pub subject: String,
    /// `Nats-Msg-Id`: a digest of app, command and body.
    pub msg_id: String,
    /// Every header but `Nats-Msg-Id`, in order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as Chat sent it.
    pub body: Bytes,
}

/// Why a callback cannot be a NATS message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "CallbackCommand {0:?} cannot be part of a NATS subject: it must be dot-separated \
     non-empty words without spaces, '*' or '>'"
)]
pub struct UnfitCommand(pub String);

impl Outgoing {
    /// The message for `callback`, under `prefix`.
    pub fn for_callback(
        prefix: &str,
        callback: &Callback,
        received_at_ms: i64,
    ) -> Result<Self, UnfitCommand> {
        let command = callback.command();
        let fits = command.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        });
        if !fits {
            return Err(UnfitCommand(command.to_owned()));
        }
        let app = callback.sdk_app_id().to_string();
        let mut headers = vec![
            (SDK_APP_ID.to_owned(), app.clone()),
            (COMMAND.to_owned(), command.to_owned()),
            (RECEIVED_AT.to_owned(), received_at_ms.to_string()),
        ];
        let query = [
            (REQUEST_TIME, callback.request_time()),
            (CLIENT_IP, callback.client_ip()),
            (OPT_PLATFORM, callback.opt_platform()),
        ];
        for (name, value) in query {
            if let Some(value) = value {
                headers.push((name.to_owned(), header_value(value)));
            }
        }
        Ok(Self {
            subject: format!("{prefix}.{app}.{command}"),
            msg_id: message_id(callback.sdk_app_id(), command, callback.body()),
            headers,
            body: callback.body().clone(),
        })
    }

    /// The headers as NATS sends them, `Nats-Msg-Id` included. A value NATS cannot carry is
    /// cleaned rather than refused (the client would panic on it), so a spooled entry can
    /// always be published.
    pub fn header_map(&self) -> async_nats::HeaderMap {
        let mut map = async_nats::HeaderMap::new();
        let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in headers.chain([(MSG_ID, self.msg_id.as_str())]) {
            // Values are cleaned when the message is made; only an entry spooled before that
            // could need it again.
            let value: async_nats::HeaderValue = value.parse().unwrap_or_else(|_| {
                header_value(value)
                    .parse()
                    .expect("a cleaned header value parses")
            });
            map.insert(name, value);
        }
        map
    }

    /// Bytes on the wire besides the body, roughly: what counts against `max_payload` too.
    pub fn header_bytes(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum();
        headers + MSG_ID.len() + self.msg_id.len() + 16
    }
}

/// `value` as a header can carry it: the query's `ClientIP`, `OptPlatform` and `RequestTime`
/// are not covered by `Sign`, so a replayed URL can put line breaks in them; control
/// characters become spaces.
fn header_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `Nats-Msg-Id`: hex SHA-256 of app, command and body, so the same callback delivered twice
/// is the same message to JetStream, from any replica.
pub fn message_id(sdk_app_id: u64, command: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(sdk_app_id.to_string().as_bytes());
    digest.update(b"\n");
    digest.update(command.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    hex::encode(digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_headers_and_id_follow_the_callback() {
        let callback = Callback::new(1400000000, "Group.CallbackAfterSendMsg", r#"{"a":1}"#)
            .with_client(Some("1.2.3.4".into()), Some("iOS".into()));
        let message = Outgoing::for_callback("chathook", &callback, 7).unwrap();
        assert_eq!(
            message.subject,
            "chathook.1400000000.Group.CallbackAfterSendMsg"
        );
        assert_eq!(message.body, r#"{"a":1}"#);
        assert_eq!(
            message.msg_id,
            message_id(1400000000, "Group.CallbackAfterSendMsg", br#"{"a":1}"#)
        );
        assert_ne!(
            message.msg_id,
            message_id(1400000001, "Group.CallbackAfterSendMsg", br#"{"a":1}"#)
        );
        let map = message.header_map();
        assert_eq!(map.get(CLIENT_IP).unwrap().as_str(), "1.2.3.4");
        assert_eq!(map.get(OPT_PLATFORM).unwrap().as_str(), "iOS");
        assert_eq!(map.get(RECEIVED_AT).unwrap().as_str(), "7");
        assert_eq!(map.get(MSG_ID).unwrap().as_str(), message.msg_id);
        assert!(map.get(REQUEST_TIME).is_none());
    }

    #[test]
    fn line_breaks_in_query_values_cannot_break_a_header() {
        let callback = Callback::new(1, "State.StateChange", "{}")
            .with_client(Some("1.2.3.4\r\nX-Forged: 1".into()), None);
        let message = Outgoing::for_callback("p", &callback, 0).unwrap();
        let map = message.header_map();
        assert_eq!(map.get(CLIENT_IP).unwrap().as_str(), "1.2.3.4  X-Forged: 1");
        // An entry spooled before the cleaning came in still publishes.
        let mut old = message.clone();
        old.headers.push((OPT_PLATFORM.into(), "a\nb".into()));
        assert_eq!(old.header_map().get(OPT_PLATFORM).unwrap().as_str(), "a b");
    }

    #[test]
    fn a_command_that_cannot_be_a_subject_is_refused() {
        for command in ["Group.*", "Group.>", "Group..X", "Group X", ".X"] {
            let callback = Callback::new(1, command, "{}");
            assert!(
                Outgoing::for_callback("p", &callback, 0).is_err(),
                "{command}"
            );
        }
    }
}
