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
    #[error("invalid configuration: {}", all_errors(.0))]
    Config(Box<figment::Error>),
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
    /// A handler's own settings do not fit its config type.
    #[error("invalid settings in [handlers.{handler}]: {problem}")]
    HandlerSettings {
        /// The handler.
        handler: &'static str,
        /// Which key and why.
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

/// figment gathers every error it met; show them all, not just the first.
fn all_errors(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|error| describe_config_error(&error))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One config error as the operator wrote the key: `server.listen_adr in config/chathook.toml`
/// or `CHATHOOK_SERVER__LISTEN_ADR`, never figment's profile-qualified path, with the
/// closest valid key when the key is unknown.
fn describe_config_error(error: &figment::Error) -> String {
    use figment::error::Kind;

    let from_environment = error
        .metadata
        .as_ref()
        .is_some_and(|metadata| metadata.name.contains("environment"));
    let is_index = |key: &String| !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    let as_written = |path: &[String]| {
        if from_environment {
            // One variable holds a whole list: name the variable, not an item of it.
            let upper: Vec<String> = path
                .iter()
                .take_while(|key| !is_index(key))
                .map(|key| key.to_ascii_uppercase())
                .collect();
            format!("{}{}", crate::config::ENV_PREFIX, upper.join("__"))
        } else {
            let mut written = String::new();
            for key in path {
                if is_index(key) {
                    written.push_str(&format!("[{key}]"));
                } else {
                    if !written.is_empty() {
                        written.push('.');
                    }
                    written.push_str(key);
                }
            }
            written
        }
    };
    let place = match error
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.source.as_ref())
        .and_then(|source| source.file_path())
    {
        Some(file) if !from_environment => format!(" in {}", file.display()),
        _ => String::new(),
    };
    let key = as_written(&error.path);
    let problem = match &error.kind {
        Kind::UnknownField(field, expected) => {
            let closest = expected
                .iter()
                .map(|candidate| (strsim::damerau_levenshtein(field, candidate), *candidate))
                .filter(|(distance, candidate)| *distance <= candidate.len().max(2) / 2)
                .min();
            match closest {
                Some((_, candidate)) => {
                    let mut path = error.path.clone();
                    if let Some(last) = path.last_mut() {
                        *last = candidate.to_owned();
                    }
                    format!("unknown key; did you mean {}?", as_written(&path))
                }
                None => format!("unknown key; the keys here are {}", expected.join(", ")),
            }
        }
        Kind::UnknownVariant(value, expected) => {
            format!(
                "unknown value {value:?}; expected one of {}",
                expected.join(", ")
            )
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::MissingField(field) => {
            let mut path = error.path.clone();
            path.push(field.to_string());
            return format!("{} is required{place}", as_written(&path));
        }
        other => other.to_string().replace('`', ""),
    };
    if key.is_empty() {
        format!("{problem}{place}")
    } else {
        format!("{key}{place}: {problem}")
    }
}
