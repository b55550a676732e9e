//! Micro-benchmarks of the pure functions every callback goes through: the signature check,
//! the body check and typed parse, and routing. `cargo bench -p chathook-core`; the load
//! benchmark (`chathook-bench`) measures them in place.

use std::hint::black_box;

use chathook_core::auth::{App, CallbackQuery, Secret, sign};
use chathook_core::body_check::check_body;
use chathook_core::config::HandlerTable;
use chathook_core::handler::NoSettings;
use chathook_core::registry::Plan;
use chathook_core::{
    Answer, Callback, Config, Handler, HandlerError, async_trait, register_handler,
};
use criterion::{Criterion, criterion_main};
use serde::Deserialize;

const APP_ID: u64 = 1_400_000_000;
const TOKEN: &str = "bench-token";
const NOW: u64 = 1_700_000_000;
const COMMAND: &str = "Group.CallbackAfterReadReceipt";
/// The catalogue's sample read receipt.
fn sample_body() -> &'static str {
    chathook_protocol::samples::request_sample(
        chathook_protocol::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT,
    )
    .expect("the catalogue has a read receipt sample")
}

fn signature(c: &mut Criterion) {
    let app = App::new("bench", APP_ID, vec![Secret::new(TOKEN)]);
    let query = format!(
        "SdkAppid={APP_ID}&CallbackCommand={COMMAND}&contenttype=json&ClientIP=127.0.0.1\
         &OptPlatform=Android&Sign={}&RequestTime={NOW}",
        sign(TOKEN, NOW)
    );
    c.bench_function("query parse", |b| {
        b.iter(|| CallbackQuery::parse(black_box(&query)).unwrap());
    });
    let parsed = CallbackQuery::parse(&query).unwrap();
    c.bench_function("signature check", |b| {
        b.iter(|| app.verify(black_box(&parsed), NOW, 60).unwrap());
    });
}

/// A handler's typed view of the fixture, as a plugin would declare it.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Receipts {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "GroupMsgReceiptList")]
    receipts: Vec<Receipt>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Receipt {
    #[serde(rename = "MsgSeq")]
    msg_seq: u64,
    #[serde(rename = "ReadNum")]
    read_num: u64,
}

fn body(c: &mut Criterion) {
    c.bench_function("body check", |b| {
        b.iter(|| check_body(black_box(sample_body().as_bytes()), COMMAND).unwrap());
    });
    let callback = Callback::new(APP_ID, COMMAND, sample_body());
    c.bench_function("typed body parse", |b| {
        b.iter(|| black_box(&callback).parse::<Receipts>().unwrap());
    });
}

#[derive(Debug)]
struct Noop;

#[async_trait]
impl Handler for Noop {
    async fn handle(&self, _callback: Callback) -> Result<Answer, HandlerError> {
        Ok(Answer::default())
    }
}

async fn build_noop(_: NoSettings) -> Result<Noop, std::convert::Infallible> {
    Ok(Noop)
}

register_handler! {
    name: "noop",
    commands: ["Group.CallbackAfterReadReceipt", "Group.CallbackBeforeSendMsg"],
    config: NoSettings,
    build: build_noop,
}

fn routing(c: &mut Criterion) {
    let mut config = Config::default();
    config.handlers.insert(
        "noop".into(),
        HandlerTable {
            enabled: true,
            ..HandlerTable::default()
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = runtime
        .block_on(Plan::new(&config).unwrap().build())
        .unwrap();
    c.bench_function("route + kind", |b| {
        b.iter(|| {
            let route = registry.route(black_box(COMMAND)).unwrap();
            (
                route.label,
                chathook_core::protocol::kind_of(black_box("C2C.CallbackBeforeSendMsg")),
            )
        });
    });
}

mod groups {
    // criterion_group! makes an undocumented pub fn.
    #![allow(missing_docs)]
    use super::{body, routing, signature};
    criterion::criterion_group!(hot_paths, signature, body, routing);
}

criterion_main!(groups::hot_paths);
