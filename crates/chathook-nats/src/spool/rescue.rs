//! The spool's file (or its log) removed at its path while chathook spools: the connection
//! goes on writing to a file nobody will open again, and what Chat was told OK about is gone
//! at the next start. So every write first checks the files, and once they are gone copies
//! what the spool holds, still readable through the open connection, to a new file at the
//! path, and goes on there.
//!
//! The order is what makes a crash at any step lose nothing: the log is emptied into the old
//! database first (so no stale log can be replayed onto the new file), the copy is synced
//! before it takes the path, and a copy a crash left beside the path is taken at the next
//! start.

use std::path::{Path, PathBuf};

use chathook_core::sqlite_files::{FileProblem, SqliteFiles, shm_path, wal_path};

use super::SpoolError;
use super::writer::{Writer, open_connection};

/// `<spool>.rescue`: the copy made before it takes the spool's path.
fn rescue_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".rescue");
    PathBuf::from(name)
}

/// At start-up, before the spool is opened: a copy a crash left half-way through a rescue
/// takes the path if nothing else did; otherwise it is stale and removed.
pub(super) fn adopt_leftover(path: &Path) -> std::io::Result<()> {
    let rescue = rescue_path(path);
    if !rescue.exists() {
        return Ok(());
    }
    if path.exists() {
        return std::fs::remove_file(&rescue);
    }
    for stale in [wal_path(path), shm_path(path)] {
        remove_if_present(&stale)?;
    }
    std::fs::rename(&rescue, path)?;
    tracing::warn!(
        path = %path.display(),
        "the spool's copy left by an interrupted rescue was put back in place"
    );
    Ok(())
}

impl Writer {
    /// Before a write: whether the spool's files are still the ones opened; if they were
    /// removed, moves the spool to a new file at its path first.
    pub(super) fn ensure_files(&mut self) -> Result<(), SpoolError> {
        match self.files.check() {
            Ok(()) => Ok(()),
            Err(FileProblem::Replaced { path: replaced })
                if replaced != self.path.display().to_string() || !self.path.exists() =>
            {
                self.rescue()
            }
            // Another file at the spool's path: it is not chathook's to overwrite.
            Err(problem) => Err(SpoolError::File(problem)),
        }
    }

    fn rescue(&mut self) -> Result<(), SpoolError> {
        let database = |source| SpoolError::Database {
            path: self.path.clone(),
            source,
        };
        let io = |source| SpoolError::Directory {
            path: self.path.clone(),
            source,
        };
        // Everything committed into the database file still open, and the log emptied.
        self.connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(database)?;
        let rescue = rescue_path(&self.path);
        remove_if_present(&rescue).map_err(io)?;
        self.connection
            .execute("VACUUM INTO ?1", [rescue.to_string_lossy()])
            .map_err(database)?;
        std::fs::File::open(&rescue)
            .and_then(|copy| copy.sync_all())
            .map_err(io)?;
        // The old connection closes before the copy takes the path: closing removes the
        // -wal and -shm at the path, which belong to the old file.
        let placeholder = rusqlite::Connection::open_in_memory().map_err(database)?;
        drop(std::mem::replace(&mut self.connection, placeholder));
        for stale in [wal_path(&self.path), shm_path(&self.path)] {
            remove_if_present(&stale).map_err(io)?;
        }
        std::fs::rename(&rescue, &self.path).map_err(io)?;
        sync_directory(&self.path).map_err(io)?;
        self.connection = open_connection(&self.path).map_err(database)?;
        self.files = SqliteFiles::opened(&self.path).map_err(SpoolError::File)?;
        self.refresh().map_err(database)?;
        tracing::warn!(
            path = %self.path.display(),
            entries = self.counters.entries.load(std::sync::atomic::Ordering::Acquire),
            "the spool's file was removed while chathook spooled; what it held was copied to \
             a new file at its path, and spooling goes on there"
        );
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_directory(path: &Path) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(directory)?.sync_all()
}
