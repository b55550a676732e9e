//! `example-nats-consumer`: print each chathook callback in a JetStream stream through a durable
//! pull consumer. See the library's documentation for resuming, scaling out and replay.

use std::process::ExitCode;

use clap::Parser as _;
use example_nats_consumer::{Options, run};

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let mut stdout = std::io::stdout();
    tokio::select! {
        result = run(&options, &mut stdout) => match result {
            Ok(printed) => {
                eprintln!("{printed} message(s) printed");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("example-nats-consumer: {err:#}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            ExitCode::SUCCESS
        }
    }
}
