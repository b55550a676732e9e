//! Errors that stop chathook from starting. Each names the culprit: the file, the key, the
//! handler or the command.

use std::path::PathBuf;

/// An error boxed for transport across handler boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why chathook cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// `--config` or `CHATHOOK_CONFIG` names a file that is not there.
    #[error("config file {} does not exist", .0.display())]
    ConfigFileMissing(PathBuf),
    /// The file or environment does not parse into the config types.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The config parses but makes no sense.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// `[handlers.<name>]` names a handler no linked crate registers.
    #[error(
        "config table [handlers.{name}] names no linked handler (linked handlers: {linked}); \
         fix the name or add the plugin crate to the binary's link list"
    )]
    UnknownHandler {
        /// The table's name.
        name: String,
        /// The handlers that are linked, comma-separated.
        linked: String,
    },
    /// Two linked crates register the same handler name.
    #[error("handler name {name:?} is registered twice, by {first} and by {second}")]
    DuplicateHandlerName {
        /// The contested name.
        name: &'static str,
        /// Module of the first registration.
        first: &'static str,
        /// Module of the second registration.
        second: &'static str,
    },
    /// A registration is malformed (bad name, no commands, a command twice).
    #[error("handler {name:?} (registered in {module}) is invalid: {problem}")]
    InvalidRegistration {
        /// The registered name.
        name: &'static str,
        /// Where it was registered.
        module: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// `[handlers.<name>]` sets `commands` for a handler whose commands are fixed in code.
    #[error(
        "[handlers.{handler}] sets commands, but handler {handler} serves commands fixed in its \
         code ({commands}); remove the commands key"
    )]
    CommandsFixed {
        /// The handler.
        handler: &'static str,
        /// Its fixed commands, comma-separated.
        commands: String,
    },
    /// An enabled handler takes its commands from config, and its table names none.
    #[error(
        "handler {handler} serves the commands its config selects, and [handlers.{handler}] has \
         no commands key: add one, e.g. commands = [\"Group.*\"] or commands = [\"*\"]"
    )]
    CommandsMissing {
        /// The handler.
        handler: &'static str,
    },
    /// A `commands` list does not parse.
    #[error("invalid commands in [handlers.{handler}]: {problem}")]
    CommandPatterns {
        /// The handler.
        handler: &'static str,
        /// Which pattern and why.
        problem: String,
    },
    /// Several enabled handlers serve a before-callback and none is marked to decide it.
    #[error(
        "handlers {} all serve the {kind} callback {command} and none decides it: set \
         decides = true in the table of the one whose reply Chat should get (the others then \
         observe)", names(.handlers)
    )]
    NoDecider {
        /// The command, or the open family it stands for.
        command: String,
        /// `before` or `reply-bearing`.
        kind: &'static str,
        /// The handlers that could decide.
        handlers: Vec<&'static str>,
    },
    /// Several enabled handlers are marked to decide one before-callback.
    #[error(
        "handlers {} all have decides = true and all serve {command}: only one can decide; set \
         decides = false on the others, or narrow their commands so that only one serves it",
        names(.handlers)
    )]
    SeveralDeciders {
        /// The command, or the open family it stands for.
        command: String,
        /// The handlers marked to decide.
        handlers: Vec<&'static str>,
    },
    /// A queued handler is told to decide before-callbacks: its reply could not be Chat's.
    #[error(
        "handlers.{handler}.decides is true (in its table, or by its registration's default), \
         but handlers.{handler}.delivery is queued: a queued handler is called after Chat has \
         its answer, so it can only observe; set delivery = \"inline\", or decides = false"
    )]
    QueuedDecider {
        /// The handler.
        handler: &'static str,
    },
    /// A handler that fans out has a destination its settings cannot make.
    #[error("invalid destination {destination:?} of handlers.{handler}: {problem}")]
    InvalidDestination {
        /// The handler.
        handler: &'static str,
        /// The destination's name as given.
        destination: String,
        /// What is wrong.
        problem: String,
    },
    /// A key of a fan-out handler's table that only its destinations can set.
    #[error(
        "handlers.{handler}.{key}: {handler} takes its commands, decides, delivery and queue \
         from each of its destinations; set {key} there"
    )]
    DestinationKey {
        /// The handler.
        handler: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A `queue` table on a handler that is not queued, or a value out of range in it.
    #[error("invalid handlers.{handler}.queue.{key}: {problem}")]
    InvalidQueue {
        /// The handler.
        handler: &'static str,
        /// The key under `queue`, or `queue` itself.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The journal a queued handler needs could not be opened.
    #[error("{0}")]
    Journal(#[from] crate::journal::JournalError),
    /// A handler's own settings do not fit its config type.
    #[error("invalid settings in [handlers.{handler}]: {problem}")]
    HandlerSettings {
        /// The handler.
        handler: &'static str,
        /// Which key and why.
        problem: String,
    },
    /// An extension's table does not parse into its config type, or fails its checks.
    #[error("invalid settings in [{extension}]: {problem}")]
    ExtensionSettings {
        /// The extension (and its table's name).
        extension: &'static str,
        /// What is wrong.
        problem: String,
    },

    /// A handler's build function failed.
    #[error("handler {handler} failed to build: {source}")]
    HandlerBuild {
        /// The handler.
        handler: &'static str,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// Two handlers serve the same API route.
    #[error("handler {handler}'s API routes overlap another handler's")]
    ApiRoutesOverlap {
        /// The handler whose routes were merged last.
        handler: &'static str,
    },
    /// The listener could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; set server.listen_addr (or \
         CHATHOOK_SERVER__LISTEN_ADDR) to an address this host has and no other process uses"
    )]
    Bind {
        /// `server.listen_addr`.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// `a and b`, `a, b and c`.
fn names(handlers: &[&'static str]) -> String {
    match handlers {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
