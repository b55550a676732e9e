//! End-to-end tests: the real chathook server on a real socket, spoken to over HTTP.

// Link the stock binary's plugin list, so this binary has exactly the handlers `chathook` has,
// plus the test-only ones.
use chathook as _;

mod admission;
mod auth;
mod body;
mod cli;
mod config_reference;
mod console;
mod console_page;
mod crm_sync;
mod deliveries_ops;
mod destinations;
mod dispatch;
mod fanout;
mod first_hour;
mod handler_guide;
mod hardening;
mod hardening3_http;
mod hardening3_stores;
mod http_forward;
mod journal;
mod journal_crash;
mod keyword_filter_server;
mod nats;
mod nats_consumer;
mod node_receiver;
mod operations;
mod protocol_audit;
mod read_receipt;
mod read_receipt_durability;
mod read_receipt_faults;
mod read_receipt_poison;
mod read_receipt_store;
mod readme;
mod startup;
mod tail;
