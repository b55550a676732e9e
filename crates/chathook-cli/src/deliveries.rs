//! `chathook deliveries`: the journal's deliveries for operators, read and changed directly in
//! the journal the config names, so it works with the server stopped. The same operations as
//! `/api/v1/deliveries`, with the same parameters (`chathook_core::deliveries` reads both).

mod print;

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use chathook_core::Config;
use chathook_core::deliveries::{ListCriteria, ParameterError, replay_request};
use chathook_core::journal::{
    DeliveryId, DeliveryState, Journal, ReplayRequest, RetryTarget, handler_selects,
};
use chathook_core::registry::Plan;

/// What `chathook deliveries` does.
#[derive(clap::Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List(ListArgs),
    /// Show one delivery with every attempt and its callback.
    Show {
        /// The delivery's id, as `list` shows it.
        #[arg(value_parser = clap::value_parser!(i64).range(0..))]
        id: DeliveryId,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a dead delivery pending again (a pending one due now), or every dead one of a
    /// handler with --all-dead --handler H.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all_dead"])))]
    Retry {
        /// The delivery's id.
        #[arg(value_parser = clap::value_parser!(i64).range(0..))]
        id: Option<DeliveryId>,
        /// Every dead delivery of --handler.
        #[arg(long, requires = "handler")]
        all_dead: bool,
        /// The handler whose dead deliveries to retry.
        #[arg(long, requires = "all_dead")]
        handler: Option<String>,
    },
    /// Remove a delivery and its attempts for good.
    Discard {
        /// The delivery's id.
        #[arg(value_parser = clap::value_parser!(i64).range(0..))]
        id: DeliveryId,
    },
    /// Deliver the entries received in a time range to a queued handler again (or for the
    /// first time): after a bug fix, or to a new handler.
    Replay {
        /// The queued handler to deliver to.
        #[arg(long)]
        handler: String,
        /// Entries received at or after: RFC 3339, Unix seconds, or an age such as 2h.
        #[arg(long)]
        since: String,
        /// Entries received before: as --since.
        #[arg(long)]
        until: String,
        /// Only callbacks matching these command patterns (Group.*, after, ...),
        /// comma-separated.
        #[arg(long)]
        command: Option<String>,
    },
}

/// `chathook deliveries list`'s filters.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only this handler's deliveries.
    #[arg(long)]
    handler: Option<String>,
    /// Only in this state: pending, dead or delivered.
    #[arg(long)]
    state: Option<String>,
    /// Only callbacks matching these command patterns (Group.*, after, ...), comma-separated.
    #[arg(long)]
    command: Option<String>,
    /// Received at or after: RFC 3339 (2026-12-01T07:30:00Z), Unix seconds, or an age (2h).
    #[arg(long)]
    since: Option<String>,
    /// Received before: as --since.
    #[arg(long)]
    until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    limit: u32,
    /// Print JSON (an array of deliveries) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs one `chathook deliveries` verb against the journal `config` names.
pub(crate) async fn run(command: DeliveriesCommand, config: &Config) -> anyhow::Result<()> {
    let journal = open(config).await?;
    match command {
        DeliveriesCommand::List(args) => list(&journal, config, args).await,
        DeliveriesCommand::Show { id, json } => {
            let detail = journal.show(id).await?.with_context(|| no_delivery(id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print!("{}", print::detail(&detail));
            }
            Ok(())
        }
        DeliveriesCommand::Retry {
            id: Some(id),
            all_dead: false,
            ..
        } => retry_one(&journal, id).await,
        DeliveriesCommand::Retry { handler, .. } => {
            let handler = handler.context("--all-dead needs --handler H")?;
            known_handler(&journal, config, &handler).await?;
            let target = RetryTarget::AllDead {
                handler: handler.clone(),
            };
            let retried = journal.retry(target).await?;
            println!("retried {retried} dead deliveries of {handler} (due now)");
            Ok(())
        }
        DeliveriesCommand::Discard { id } => {
            if !journal.discard(id).await? {
                bail!(no_delivery(id));
            }
            println!("discarded delivery {id}");
            Ok(())
        }
        DeliveriesCommand::Replay {
            handler,
            since,
            until,
            command,
        } => {
            let request = replay_request(
                &handler,
                &since,
                &until,
                command.as_deref(),
                SystemTime::now(),
            )
            .map_err(flag_error)?;
            replay(&journal, config, request).await
        }
    }
}

async fn retry_one(journal: &Journal, id: DeliveryId) -> anyhow::Result<()> {
    let detail = journal.show(id).await?.with_context(|| no_delivery(id))?;
    if detail.summary.state == DeliveryState::Delivered {
        bail!(
            "delivery {id} is delivered: retry is for dead or pending deliveries; \
             `chathook deliveries replay` delivers a range again"
        );
    }
    let retried = journal.retry(RetryTarget::One(id)).await?;
    println!("retried {retried} delivery ({id}: due now)");
    Ok(())
}

async fn replay(journal: &Journal, config: &Config, request: ReplayRequest) -> anyhow::Result<()> {
    let queued = queued_handlers(config)?;
    if !queued.contains(&request.handler) {
        bail!("--handler {}", not_queued(&request.handler, &queued));
    }
    let handler = request.handler.clone();
    let replayed = journal.replay(request).await?;
    println!("scheduled {replayed} deliveries to {handler} (due now)");
    Ok(())
}

async fn list(journal: &Journal, config: &Config, args: ListArgs) -> anyhow::Result<()> {
    let criteria = ListCriteria {
        handler: args.handler,
        state: args.state,
        command: args.command,
        since: args.since,
        until: args.until,
    };
    let filter = criteria
        .to_filter(None, args.limit as usize, SystemTime::now())
        .map_err(flag_error)?;
    if let Some(handler) = &filter.handler {
        known_handler(journal, config, handler).await?;
    }
    let listed = journal.list(&filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
    } else {
        print!("{}", print::list(&listed));
    }
    Ok(())
}

/// Opens the journal the config names, refusing to create an SQLite file that is not there:
/// a listing of a journal that never existed would only hide a wrong `--config`.
async fn open(config: &Config) -> anyhow::Result<Journal> {
    let url = &config.journal.database_url;
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        if !Path::new(path).is_file() {
            bail!(
                "no journal at {path} (journal.database_url = {}): no callback was ever \
                 queued there; is --config the server's config?",
                chathook_core::redact::url(url)
            );
        }
    }
    Journal::open(config.journal.options())
        .await
        .context("cannot open the journal")
}

/// The handlers the config makes queued (enabled, by their `delivery` or their
/// registration's default), as the server would.
fn queued_handlers(config: &Config) -> anyhow::Result<Vec<String>> {
    let plan = Plan::new(config)?;
    Ok(plan
        .queued_handlers()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect())
}

/// Refuses a handler that is neither queued in the config nor holds deliveries in the journal:
/// a typo would otherwise list or retry nothing, silently.
async fn known_handler(journal: &Journal, config: &Config, handler: &str) -> anyhow::Result<()> {
    let queued = queued_handlers(config)?;
    if queued.iter().any(|name| handler_selects(handler, name)) {
        return Ok(());
    }
    let stats = journal.stats().await?;
    if stats
        .handlers
        .iter()
        .any(|stats| handler_selects(handler, &stats.handler))
    {
        return Ok(());
    }
    bail!(
        "--handler {}, and the journal holds no delivery of it",
        not_queued(handler, &queued)
    )
}

/// `handler` is not queued, in words that list the queued handlers.
fn not_queued(handler: &str, queued: &[String]) -> String {
    let known = if queued.is_empty() {
        "no handler is queued in this config".to_owned()
    } else {
        format!("queued: {}", queued.join(", "))
    };
    format!("{handler:?} is not a queued handler ({known})")
}

fn no_delivery(id: DeliveryId) -> String {
    format!("no delivery {id}")
}

/// A refused parameter named as the command line's flag.
fn flag_error(error: ParameterError) -> anyhow::Error {
    anyhow::anyhow!("--{} {}", error.parameter(), error.problem())
}
