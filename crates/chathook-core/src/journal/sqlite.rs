//! SQLite backend.
pub(super) struct SqliteJournal;
