//! `database_url`: which backend it names, and errors about it that never show its password.

use chathook_core::redact;

use super::StoreError;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

/// The backend `url` names, or [`StoreError::UnsupportedUrl`] with the password redacted.
pub(super) fn backend(url: &str) -> Result<Backend, StoreError> {
    let unsupported = || StoreError::UnsupportedUrl(redact::url(url));
    if url.starts_with("sqlite:") {
        // The writer has a connection of its own, which an in-memory database would not
        // share; nor would it survive a restart.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(unsupported());
        }
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(unsupported())
    }
}

/// Whether `url` names a database this store can open; errors never show a password.
pub fn check_database_url(url: &str) -> Result<(), StoreError> {
    backend(url).map(drop)
}

/// A failure to open the store at `url` as the operator is told of it: the URL with its
/// password redacted, and the cause with any repetition of the password redacted too (a
/// driver may quote it).
pub(super) fn open_failed(url: &str, error: StoreError) -> StoreError {
    match error {
        StoreError::UnsupportedUrl(_) => error,
        error => StoreError::Open {
            url: redact::url(url),
            reason: redact::password_of(url, &error.cause_text()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_backed_sqlite_and_postgres_are_supported() {
        assert_eq!(backend("sqlite://data/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend("sqlite:x.db?mode=rwc").unwrap(), Backend::Sqlite);
        assert_eq!(backend("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(backend("postgresql://u@h/db").unwrap(), Backend::Postgres);
        for refused in [
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
            "mysql://u:pw@h/db",
        ] {
            let error = backend(refused).unwrap_err().to_string();
            assert!(error.starts_with("database_url "), "{error}");
            assert!(!error.contains("pw@"), "{error}");
        }
    }

    #[test]
    fn a_failed_open_never_shows_the_password() {
        let url = "postgres://app:s3cret@db/chat";
        let cause = StoreError::Connect("PostgreSQL at db:5432 rejected s3cret".into());
        assert_eq!(
            open_failed(url, cause).to_string(),
            "cannot open the read receipt store at postgres://app:[redacted]@db/chat: \
             PostgreSQL at db:5432 rejected [redacted]"
        );
    }
}
