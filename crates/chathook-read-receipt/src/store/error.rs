//! What can go wrong in the store, and which failures are about one callback's data rather
//! than about the database.

use std::sync::Arc;

/// A store error; cheap to clone so one failed batch can answer all its callbacks.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("read receipt store: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The schema could not be migrated.
    #[error("read receipt store migration: {0}")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),
    /// The URL names no supported database. Holds the URL with any password redacted.
    #[error(
        "database_url {0:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
    )]
    UnsupportedUrl(String),
    /// The store could not be opened. Holds the URL with any password redacted, and the cause
    /// as text with any occurrence of the password redacted too.
    #[error("cannot open the read receipt store at {url}: {reason}")]
    Open {
        /// `database_url`, password redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The data directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// PostgreSQL could not be reached or refused chathook: which server, and what to check.
    #[error("{0}")]
    Connect(String),
    /// The SQLite writer's connection failed.
    #[error("read receipt store: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The database refused this callback's data itself (a value it cannot hold, a key too
    /// long for its index): sending it again cannot succeed. The handler answers 400.
    #[error("the database cannot store this callback: {0}")]
    InvalidData(String),
    /// A write did not finish within `write_timeout_ms`; its connection was dropped.
    #[error(
        "read receipt write did not finish within write_timeout_ms ({0} ms); its connection was dropped"
    )]
    WriteTimeout(u64),
    /// The writer has been inside one write for longer than `write_timeout_ms`.
    #[error(
        "the read receipt writer has been in one write for {stuck_ms} ms, more than write_timeout_ms ({timeout_ms} ms)"
    )]
    WriterStuck {
        /// How long so far.
        stuck_ms: u64,
        /// `write_timeout_ms`.
        timeout_ms: u64,
    },
    /// The SQLite database or its log is no longer the file opened at its path (what is
    /// written goes to a file nobody will open again), or one of its files cannot be written.
    #[error("database file {0}")]
    File(chathook_core::sqlite_files::FileProblem),
    /// A table the store uses is gone though its migration is recorded as applied: every
    /// callback would fail.
    #[error(
        "the read receipt store has no table {0}, though _sqlx_migrations records the \
         migration that creates it as applied: restore the table from a backup, or delete the \
         store's rows from _sqlx_migrations so that the next start creates the tables again, \
         empty"
    )]
    MissingTable(&'static str),
    /// The last write failed and the writer is too busy to be probed.
    #[error("the last read receipt write failed and the writer is busy")]
    LastWriteFailed,
    /// The writer thread could not be started.
    #[error("cannot start the read receipt writer: {0}")]
    WriterStart(#[source] Arc<std::io::Error>),
    /// The writer is gone: the process is shutting down, or the writer died (see the log).
    #[error("read receipt writer stopped")]
    WriterStopped,
}

impl StoreError {
    /// The database's words when it refused the data itself rather than failing: PostgreSQL's
    /// SQLSTATE classes 22 (data exception, e.g. a NUL byte in TEXT) and 54 (program limit
    /// exceeded, e.g. a key too long for a b-tree), SQLite's too-big, constraint and type
    /// errors. Such an error is about one callback, not about the database, so it is worth
    /// retrying the rest of its batch without it; a connection error or a timeout is not.
    pub(super) fn data_problem(&self) -> Option<String> {
        match self {
            Self::Database(error) => match error.as_ref() {
                sqlx::Error::Database(database)
                    if database
                        .code()
                        .is_some_and(|code| code.starts_with("22") || code.starts_with("54")) =>
                {
                    Some(database.message().to_owned())
                }
                _ => None,
            },
            Self::Sqlite(error) => match error.as_ref() {
                rusqlite::Error::SqliteFailure(failure, message)
                    if matches!(
                        failure.code,
                        rusqlite::ErrorCode::TooBig
                            | rusqlite::ErrorCode::ConstraintViolation
                            | rusqlite::ErrorCode::TypeMismatch
                    ) =>
                {
                    Some(message.clone().unwrap_or_else(|| failure.to_string()))
                }
                _ => None,
            },
            Self::InvalidData(problem) => Some(problem.clone()),
            _ => None,
        }
    }

    /// This error as a callback's answer: [`StoreError::InvalidData`] if the data was refused.
    pub(super) fn for_one_callback(self) -> Self {
        match self.data_problem() {
            Some(problem) => Self::InvalidData(problem),
            None => self,
        }
    }

    /// The cause of a failed open in the driver's words, without this crate's prefix (the
    /// [`StoreError::Open`] around it says enough), with its causes on one line.
    pub(super) fn cause_text(&self) -> String {
        match self {
            Self::Database(cause) => error_chain(cause.as_ref()),
            Self::Sqlite(cause) => error_chain(cause.as_ref()),
            other => error_chain(other),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(error))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(error))
    }
}

/// `error` and its causes on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Several variants show their source in their own message already.
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
