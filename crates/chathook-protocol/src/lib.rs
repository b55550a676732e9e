//! Parse, verify and answer Tencent Cloud Chat (Tencent IM) third-party callbacks.
//!
//! This crate is the wire protocol only: no HTTP server, no runtime. It holds
//!
//! - [`table`]: every callback command (Chat, CallKit, TUIRoomKit, TUILiveKit) with its kind,
//!   product and custom decision codes ([`COMMANDS`], [`command_info`], [`commands`] name
//!   constants);
//! - [`scalar`]: lenient integers, times and booleans, because Tencent sends the same field as
//!   a number on one page and as a numeric string on another;
//! - [`enums`]: open string enums (`Type`, `OptPlatform`, …) that keep values they do not know;
//! - [`message`]: `MsgBody` and its elements;
//! - [`request`]: a typed model for every command and [`Request::parse`];
//! - [`reply`]: typed replies for the before-callbacks and `Chatbot.OnC2CSignalMessage`, whose
//!   builders check decision codes against the command's documented range; the erased
//!   `Reply<Fields>` they all convert into, its `check`, `FAIL` packets and the fallback;
//! - [`query`]: the callback URL's query string ([`CallbackQuery`]) and its one `verify` of
//!   `Sign` and freshness together;
//! - `sign`: the `Sign` / `RequestTime` URL authentication (feature `sign`, on by default);
//! - `samples`: the catalogue's sample bodies, for tests of code built on this crate (feature
//!   `samples`, on by default).
//!
//! With `default-features = false` the crate parses and answers callbacks but neither signs
//! nor embeds the samples (no `sha2`, no `hex`).
//!
//! The command reference generated from the table is `COMMANDS.md` next to this crate's
//! `Cargo.toml`; the README has a short tour.
//!
//! ```
//! # #[cfg(feature = "sign")] {
//! use chathook_protocol::{CallbackQuery, Request, commands, sign};
//!
//! let time = "1669872112";
//! let url_query = format!(
//!     "SdkAppid=1400000001&CallbackCommand=Group.CallbackAfterReadReceipt&contenttype=json\
//!      &RequestTime={time}&Sign={}",
//!     sign("xxxxyyyy", time) // what Chat puts in `Sign`
//! );
//! let query = CallbackQuery::parse(&url_query)?;
//! // Sign under any configured token, and RequestTime within 5 minutes of now.
//! let now = 1_669_872_130;
//! query.verify(["old-token", "xxxxyyyy"], now, 300)?;
//! let command = query.command().unwrap_or_default();
//! assert_eq!(command, commands::GROUP_CALLBACK_AFTER_READ_RECEIPT);
//! let body = br#"{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#1",
//!     "Type":"Public","GroupMsgReceiptList":[],"EventTime":"1670574414123"}"#;
//! let Request::GroupCallbackAfterReadReceipt(receipt) = Request::parse(command, body)? else {
//!     unreachable!()
//! };
//! assert_eq!(receipt.event_time.map(|t| t.millis()), Some(1_670_574_414_123));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Compiles and runs the README's example as a doctest.
#[cfg(all(doctest, feature = "sign", feature = "samples"))]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

#[macro_use]
mod model;

pub mod enums;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod query;
pub mod reply;
pub mod request;
#[cfg(feature = "samples")]
pub mod samples;
pub mod scalar;
#[cfg(feature = "sign")]
pub mod sign;
pub mod table;

pub use message::{MsgBody, MsgElem};
pub use model::ModelledKey;
pub use query::CallbackQuery;
pub use request::{Error, Request};
#[cfg(feature = "sign")]
pub use sign::{sign, verify, verify_fresh};
pub use table::{
    COMMANDS, CommandInfo, Kind, Product, command_info, commands, commands_markdown, kind_of,
};
