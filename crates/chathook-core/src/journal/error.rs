//! What can go wrong with the journal, in words an operator can act on; never with a password.

/// A journal failure.
#[derive(Clone, Debug, thiserror::Error)]
pub enum JournalError {
    /// A bound of `[journal]` is reached: callbacks are answered 500 until deliveries drain.
    #[error("the journal is full: {what} would exceed journal.{key} = {limit}")]
    Full {
        /// `entries` or `bytes`.
        what: &'static str,
        /// `max_entries` or `max_bytes`.
        key: &'static str,
        /// The bound.
        limit: u64,
    },
    /// `database_url` names no backend the journal has.
    #[error(
        "journal.database_url {0} is not supported: use sqlite://path (a file) or postgres://..."
    )]
    UnsupportedUrl(String),
    /// The journal could not be opened or migrated.
    #[error("cannot open the journal at {url}: {reason}")]
    Open {
        /// The URL, its password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A read or write failed.
    #[error("journal database error: {0}")]
    Database(String),
    /// A commit did not finish in time (the database is locked, slow or unreachable).
    #[error("the journal did not commit within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
    /// The writer is gone (it panicked or the journal is shutting down).
    #[error("the journal's writer has stopped")]
    Closed,
}
