//! PostgreSQL backend.
pub(super) struct PostgresJournal;
