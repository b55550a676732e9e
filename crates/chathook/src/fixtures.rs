//! Sample request bodies, one per command, bundled into the binary for `chathook fixtures` and
//! `chathook send`. They are valid JSON with plausible values (not captured traffic); see
//! protocol.md §5.

/// `(CallbackCommand, body)`, sorted by command.
pub const FIXTURES: &[(&str, &str)] = &[
    (
        "Alert.RequestOverLimit",
        include_str!("../fixtures/Alert.RequestOverLimit.json"),
    ),
    (
        "C2C.CallbackAfterMsgReport",
        include_str!("../fixtures/C2C.CallbackAfterMsgReport.json"),
    ),
    (
        "C2C.CallbackAfterMsgWithDraw",
        include_str!("../fixtures/C2C.CallbackAfterMsgWithDraw.json"),
    ),
    (
        "C2C.CallbackAfterSendMsg",
        include_str!("../fixtures/C2C.CallbackAfterSendMsg.json"),
    ),
    (
        "C2C.CallbackBeforeSendMsg",
        include_str!("../fixtures/C2C.CallbackBeforeSendMsg.json"),
    ),
    (
        "Group.CallbackAfterMemberExit",
        include_str!("../fixtures/Group.CallbackAfterMemberExit.json"),
    ),
    (
        "Group.CallbackAfterNewMemberJoin",
        include_str!("../fixtures/Group.CallbackAfterNewMemberJoin.json"),
    ),
    (
        "Group.CallbackAfterReadReceipt",
        include_str!("../fixtures/Group.CallbackAfterReadReceipt.json"),
    ),
    (
        "Group.CallbackAfterRecallMsg",
        include_str!("../fixtures/Group.CallbackAfterRecallMsg.json"),
    ),
    (
        "Group.CallbackAfterSendMsg",
        include_str!("../fixtures/Group.CallbackAfterSendMsg.json"),
    ),
    (
        "Group.CallbackBeforeSendMsg",
        include_str!("../fixtures/Group.CallbackBeforeSendMsg.json"),
    ),
    (
        "Group.CallbackOnMemberStateChange",
        include_str!("../fixtures/Group.CallbackOnMemberStateChange.json"),
    ),
    (
        "Sns.CallbackFriendAdd",
        include_str!("../fixtures/Sns.CallbackFriendAdd.json"),
    ),
    (
        "Sns.CallbackPrevFriendAdd",
        include_str!("../fixtures/Sns.CallbackPrevFriendAdd.json"),
    ),
    (
        "State.StateChange",
        include_str!("../fixtures/State.StateChange.json"),
    ),
];

/// The sample body for `command`, if one is bundled.
pub fn fixture(command: &str) -> Option<&'static str> {
    FIXTURES
        .iter()
        .find(|(name, _)| *name == command)
        .map(|(_, body)| *body)
}
