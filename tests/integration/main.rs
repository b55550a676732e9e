//! End-to-end tests: the real chathook server on a real socket, spoken to over HTTP.

mod auth;
mod body;
mod cli;
mod dispatch;
mod operations;
mod startup;
