//! One server per SQLite journal: a serving open holds an exclusive lock on `<file>.lock`
//! for the journal's life. A second server on the same file (a rolling deploy sharing the
//! volume) would free the first one's leases at open and deliver the same rows.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use super::{OpenMode, SqliteTarget};

/// The lock file beside the journal's: `<file>.lock`.
pub(super) fn lock_path(target: &SqliteTarget) -> PathBuf {
    let mut name = target.path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock for a server; `None` for a read-only journal, which frees no lease and
/// delivers nothing. The error says why, in an operator's words.
pub(super) fn hold(target: &SqliteTarget) -> Result<Option<File>, String> {
    if target.mode == OpenMode::Ro {
        return Ok(None);
    }
    let path = lock_path(target);
    if target.mode == OpenMode::Rwc
        && let Some(folder) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create its folder {}: {error}", folder.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| format!("cannot open its lock file {}: {error}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(format!(
            "another chathook server holds its lock file {}: a SQLite journal has one server \
             only (two would deliver the same callbacks); stop the other one first, or give \
             this one a journal of its own",
            path.display()
        )),
        Err(TryLockError::Error(error)) => Err(format!(
            "cannot lock its lock file {}: {error}",
            path.display()
        )),
    }
}
