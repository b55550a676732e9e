//! Parse, verify and answer Tencent Cloud Chat (Tencent IM) third-party callbacks.
//!
//! This crate is the wire protocol only: no HTTP server, no runtime. It holds
//!
//! - [`table`]: every callback command (Chat, CallKit, TUIRoomKit) with its kind, product and
//!   custom decision codes ([`COMMANDS`], [`command_info`], [`commands`] name constants);
//! - [`scalar`]: lenient integers, times and booleans, because Tencent sends the same field as
//!   a number on one page and as a numeric string on another;
//! - [`enums`]: open string enums (`Type`, `OptPlatform`, …) that keep values they do not know;
//! - [`message`]: `MsgBody` and its elements;
//! - [`request`]: a typed model for every command and [`Request::parse`];
//! - [`reply`]: typed replies for the before-callbacks and `Chatbot.OnC2CSignalMessage`, whose
//!   builders check decision codes against the command's documented range; the erased
//!   `Reply<Fields>` they all convert into, its `check`, `FAIL` packets and the fallback;
//! - [`mod@sign`]: the `Sign` / `RequestTime` URL authentication;
//! - [`samples`]: the catalogue's sample bodies, for tests of code built on this crate.
//!
//! The command reference generated from the table is `COMMANDS.md` next to this crate's
//! `Cargo.toml`; the README has a short tour.
//!
//! ```
//! use chathook_protocol::{Request, commands, sign, verify};
//!
//! // Query string: ?CallbackCommand=...&Sign=...&RequestTime=...
//! let (command, time) = (commands::GROUP_CALLBACK_AFTER_READ_RECEIPT, "1669872112");
//! let signature = sign("xxxxyyyy", time); // what Chat puts in `Sign`
//! assert!(verify(["old-token", "xxxxyyyy"], &signature, time));
//! let body = br#"{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#1",
//!     "Type":"Public","GroupMsgReceiptList":[],"EventTime":"1670574414123"}"#;
//! let Request::GroupCallbackAfterReadReceipt(receipt) = Request::parse(command, body)? else {
//!     unreachable!()
//! };
//! assert_eq!(receipt.event_time.map(|t| t.millis()), Some(1_670_574_414_123));
//! # Ok::<(), chathook_protocol::Error>(())
//! ```

/// Compiles and runs the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

#[macro_use]
mod model;

pub mod enums;
pub mod message;
pub mod reply;
pub mod request;
pub mod samples;
pub mod scalar;
pub mod sign;
pub mod table;

pub use message::{MsgBody, MsgElem};
pub use model::ModelledKey;
pub use request::{Error, Request};
pub use sign::{sign, verify};
pub use table::{
    COMMANDS, CommandInfo, Kind, Product, command_info, commands, commands_markdown, kind_of,
};
