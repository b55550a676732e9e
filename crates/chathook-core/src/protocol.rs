//! Tencent's wire as core uses it. Everything here is `chathook-protocol`'s: the command table
//! and the replies, typed and erased. Core defines no wire type of its own.

/// A reply: the status triple and a payload. Typed replies (`Reply::rewrite`,
/// `Reply::refuse_members`, `Reply::refuse_friends`, `Reply::signal`, ...) check their codes
/// against the command's documentation and convert into [`Answer`] with `.into()`.
pub use chathook_protocol::reply::Reply;
pub use chathook_protocol::reply::{ActionStatus, Fields, ReplyError};

/// What a handler returns and Chat gets: the protocol crate's erased reply, any payload's
/// fields in one JSON map (`Answer::default()` is OK/0/"").
pub type Answer = Reply<Fields>;

/// Every documented command, from `chathook-protocol`: the one table the routing table,
/// `chathook handlers`, the bundled samples and the command reference all come from.
pub use chathook_protocol::COMMANDS as KNOWN_COMMANDS;
/// One row of the command table.
pub use chathook_protocol::CommandInfo as KnownCommand;
/// Whether Chat waits for the app's decision, only tells it what happened, or uses data in the
/// reply: the kind of each command in `chathook-protocol`'s command table.
pub use chathook_protocol::Kind as CallbackKind;
/// The kind of `command`: from the command table, or for a command missing there, from its
/// name, so a command Tencent adds next year is still answered the right way.
pub use chathook_protocol::kind_of;

/// The table row for `command`, if Tencent documents it.
pub fn known_command(command: &str) -> Option<&'static KnownCommand> {
    chathook_protocol::command_info(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_table_then_from_the_name() {
        assert_eq!(kind_of("Group.CallbackBeforeSendMsg"), CallbackKind::Before);
        assert_eq!(kind_of("Sns.CallbackPrevFriendAdd"), CallbackKind::Before);
        assert_eq!(
            kind_of("Group.CallbackAfterReadReceipt"),
            CallbackKind::After
        );
        assert_eq!(kind_of("Foo.CallbackBeforeBar"), CallbackKind::Before);
        assert_eq!(kind_of("Foo.Whatever"), CallbackKind::After);
        assert_eq!(
            kind_of("Chatbot.OnC2CSignalMessage"),
            CallbackKind::ReplyBearing
        );
    }

    #[test]
    fn the_ok_answer_is_tencents_exact_packet() {
        assert_eq!(
            serde_json::to_string(&Answer::default()).unwrap(),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
        );
        assert_eq!(Answer::from(Reply::ok()), Answer::default());
    }
}
