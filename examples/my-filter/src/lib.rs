//! example-my-filter: refuses group messages that contain a banned word.

use chathook_core::{
    Answer, Callback, Handler, HandlerError, async_trait, commands, register_handler,
};
use chathook_protocol::reply::Reply;
use chathook_protocol::{MsgElem, Request};
use serde::Deserialize;

/// `[handlers.my_filter]`, minus the platform's `enabled`, `fallback`, `commands` and `decides`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyFilterConfig {
    banned_words: Vec<String>,
}

/// Refuses a message when a text element contains a banned word.
pub struct MyFilter {
    banned_words: Vec<String>,
}

#[async_trait]
impl Handler for MyFilter {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        // The callback already typed, Tencent's quirks handled. A body that does not fit is
        // answered 400 with the field's path, or for a before-callback with the fallback.
        let Request::GroupCallbackBeforeSendMsg(message) = callback.request()? else {
            return Ok(Answer::default());
        };
        let banned = message.msg_body.iter().any(|element| match element {
            MsgElem::Text(text) => self
                .banned_words
                .iter()
                .any(|word| text.text.contains(word)),
            _ => false,
        });
        if !banned {
            return Ok(Answer::default());
        }
        // A custom code the sender's client shows, checked against the command's documented
        // ones (10100-10200 for groups): a wrong one is the handler's error, not Chat's guess.
        let refusal = Reply::decision(
            callback.command(),
            10100,
            "the message contains a banned word",
        )?;
        Ok(refusal.into())
    }
}

async fn build(config: MyFilterConfig) -> Result<MyFilter, std::convert::Infallible> {
    Ok(MyFilter {
        banned_words: config.banned_words,
    })
}

register_handler! {
    name: "my_filter",
    commands: [commands::GROUP_CALLBACK_BEFORE_SEND_MSG],
    config: MyFilterConfig,
    build: build,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_banned_words_only() {
        let filter = MyFilter {
            banned_words: vec!["spam".into()],
        };
        let command = commands::GROUP_CALLBACK_BEFORE_SEND_MSG;
        let sample = chathook_protocol::samples::request_sample(command).unwrap();
        let callback = Callback::new(1400000000, command, sample);
        assert_eq!(filter.handle(callback).await.unwrap(), Reply::ok());
        let spam = sample.replace("hello everyone", "buy spam");
        let callback = Callback::new(1400000000, command, spam);
        assert_eq!(filter.handle(callback).await.unwrap().error_code(), 10100);
    }
}
