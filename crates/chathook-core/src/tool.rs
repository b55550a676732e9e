//! Plugin tools: command-line verbs that a linked crate adds to `chathook`, as the nats plugin
//! adds `chathook nats spool`. A tool is registered at link time with
//! [`register_tool!`](crate::register_tool), on its own or next to a handler's registration,
//! so the CLI offers exactly the verbs of the crates a binary links and names none of them.
//!
//! A tool that acts on a handler's state (a spool, a store) names that handler, and its `run`
//! then gets the handler's `[handlers.<name>]` settings checked as `serve` checks them: a tool
//! never acts on a config the server would refuse.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// The clap a tool builds its [`Command`] with, the CLI's own, so a plugin
/// needs no clap dependency of its own and never a second version of it.
pub use clap;
use clap::{ArgMatches, Command};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{Config, ConfigFile};
use crate::error::{BoxError, StartupError};
use crate::handler::{HandlerSettings, linked_handlers};
use crate::registry::Plan;

type RunFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A tool as registered with [`register_tool!`](crate::register_tool): const data only.
pub struct ToolRegistration {
    command: fn() -> Command,
    settings_of: Option<&'static str>,
    run: fn(ToolInput) -> RunFuture,
    module: &'static str,
}

inventory::collect!(ToolRegistration);

impl ToolRegistration {
    #[doc(hidden)]
    pub const fn __new(
        command: fn() -> Command,
        settings_of: Option<&'static str>,
        run: fn(ToolInput) -> RunFuture,
        module: &'static str,
    ) -> Self {
        Self {
            command,
            settings_of,
            run,
            module,
        }
    }

    /// Its verb with its arguments and help; the command's name is the verb
    /// (`chathook <name> ...`).
    pub fn command(&self) -> Command {
        (self.command)()
    }

    /// The handler whose settings `run` receives, if any.
    pub fn settings_of(&self) -> Option<&'static str> {
        self.settings_of
    }

    /// The module that registered it, to name the culprit in errors.
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// Runs the tool on what clap parsed for its verb. For a tool that names a handler, the
    /// whole config is first checked as `serve` checks it, then that handler's table (empty
    /// when the config has none) through the handler registration's own check.
    pub async fn run(&self, matches: ArgMatches, file: ConfigFile) -> Result<(), BoxError> {
        let settings = match self.settings_of {
            Some(handler) => checked_settings(handler, &file)?,
            None => HandlerSettings::new(),
        };
        (self.run)(ToolInput {
            matches,
            file,
            settings_of: self.settings_of,
            settings,
        })
        .await
    }
}

impl fmt::Debug for ToolRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRegistration")
            .field("name", &self.command().get_name())
            .field("settings_of", &self.settings_of)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

/// `handler`'s settings from the config `file`, after every check `serve` makes.
fn checked_settings(handler: &'static str, file: &ConfigFile) -> Result<HandlerSettings, BoxError> {
    let config = Config::load(file)?;
    Plan::new(&config)?;
    let registration = linked_handlers()
        .into_iter()
        .find(|registration| registration.name() == handler)
        .ok_or_else(|| {
            format!("this tool reads [handlers.{handler}], but no handler {handler} is linked")
        })?;
    let settings = config
        .handlers
        .get(handler)
        .map(|table| table.settings.clone())
        .unwrap_or_default();
    registration.check(&settings)?;
    Ok(settings)
}

/// Every tool linked into this binary, sorted by verb.
pub fn linked_tools() -> Vec<&'static ToolRegistration> {
    let mut all: Vec<_> = inventory::iter::<ToolRegistration>.into_iter().collect();
    all.sort_by_cached_key(|tool| tool.command().get_name().to_owned());
    all
}

/// What a tool's `run` gets.
#[derive(Debug)]
pub struct ToolInput {
    matches: ArgMatches,
    file: ConfigFile,
    settings_of: Option<&'static str>,
    settings: HandlerSettings,
}

impl ToolInput {
    /// What clap parsed for the tool's verb (its subcommands included).
    pub fn matches(&self) -> &ArgMatches {
        &self.matches
    }

    /// The config file named by `--config` or `CHATHOOK_CONFIG`, for a tool that reads more
    /// of the config than its handler's settings.
    pub fn config_file(&self) -> &ConfigFile {
        &self.file
    }

    /// The named handler's settings, already checked, as its config type (for a tool that
    /// names no handler, an empty table).
    pub fn settings<C: DeserializeOwned>(&self) -> Result<C, StartupError> {
        serde_json::from_value(Value::Object(self.settings.clone())).map_err(|error| {
            StartupError::HandlerSettings {
                handler: self.settings_of.unwrap_or("(none)"),
                problem: error.to_string(),
            }
        })
    }
}

#[doc(hidden)]
pub fn __run<E, Fut>(input: ToolInput, run: fn(ToolInput) -> Fut) -> RunFuture
where
    E: Into<BoxError>,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    let running = run(input);
    Box::pin(async move { running.await.map_err(Into::into) })
}

/// Registers a command-line tool at link time.
///
/// - `command`: a `fn() -> clap::Command` (with [`clap`] as re-exported here); the command's
///   name is the verb, and it must not be a built-in verb or another tool's.
/// - `settings_of` (optional): the name of the handler whose `[handlers.<name>]` settings the
///   tool reads; they reach `run` checked exactly as `serve` checks them.
/// - `run`: an `async fn(ToolInput) -> Result<(), impl Into<BoxError>>`. An error is printed
///   as `error: ...` and the process exits non-zero.
///
/// ```
/// use chathook_core::register_tool;
/// use chathook_core::tool::{ToolInput, clap};
///
/// fn command() -> clap::Command {
///     clap::Command::new("greeter")
///         .about("The greeter's tools")
///         .arg(clap::Arg::new("loud").long("loud").action(clap::ArgAction::SetTrue))
/// }
///
/// async fn run(input: ToolInput) -> Result<(), std::convert::Infallible> {
///     let greeting = if input.matches().get_flag("loud") { "HELLO" } else { "hello" };
///     println!("{greeting}");
///     Ok(())
/// }
///
/// register_tool! {
///     command: command,
///     run: run,
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! register_tool {
    (command: $command:expr, $(settings_of: $handler:literal,)? run: $run:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::tool::ToolRegistration::__new(
                $command,
                $crate::__validate!($($handler)?),
                |input| $crate::tool::__run(input, $run),
                ::core::module_path!(),
            )
        }
    };
}
