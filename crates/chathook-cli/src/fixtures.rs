//! Sample request bodies for `chathook fixtures` and `chathook send`: the catalogue samples
//! that `chathook-protocol` owns, one per documented Chat command (Tencent's documentation
//! samples with comments removed and missing commas restored; not captured traffic).

/// `(CallbackCommand, body)`, sorted by command.
pub use chathook_protocol::samples::REQUESTS as FIXTURES;

/// The sample body for `command`, if the catalogue has one.
pub fn fixture(command: &str) -> Option<&'static str> {
    chathook_protocol::samples::request_sample(command)
}

/// A body for `command`: its sample, or for a documented command without one (the CallKit
/// and RoomKit commands), the least body that passes chathook's checks.
pub fn body_for(command: &str) -> Option<String> {
    fixture(command).map(str::to_owned).or_else(|| {
        chathook_protocol::command_info(command)
            .map(|_| serde_json::json!({ "CallbackCommand": command }).to_string())
    })
}
