//! The files of a SQLite database in WAL mode, watched for what SQLite does not notice itself,
//! for every SQLite store (the journal, and plugins' own).
//!
//! - The database or its `-wal` removed or replaced at its path while open: connections go on
//!   writing to the old file without an error, commits are acknowledged, and the next start
//!   opens another file (or no WAL) and they are gone.
//! - A file made immutable or append-only (`chattr +i`, `+a`): a write through SQLite's
//!   mapping of the `-shm` then kills the process with SIGBUS, and a database opened so
//!   falls back to read-only.
//!
//! Everything here goes by path (`statx`, `stat`), never opening and closing a descriptor:
//! closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
//! own included.

use std::path::{Path, PathBuf};

/// What is wrong with one of a SQLite database's files; it names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// The file opened is no longer at its path: what is written goes to a file nobody will
    /// open again.
    #[error(
        "{path} was removed or replaced; restart chathook (what is written to the file still \
         open would be lost at the next start, so writes are refused)"
    )]
    Replaced {
        /// The file's path.
        path: String,
    },
    /// The file is immutable or append-only: SQLite cannot write it, and a write through its
    /// mapping of a `-shm` file would kill the process.
    #[error(
        "{path} is immutable or append-only (chattr +i or +a) and cannot be written; writes \
         are refused until the attribute is cleared (chattr -i -a {path})"
    )]
    Immutable {
        /// The file's path.
        path: String,
    },
}

/// A file's identity: device and inode.
type Identity = (u64, u64);

/// What one `statx` of a file tells: its identity and whether it may be written at all.
struct Seen {
    identity: Identity,
    unwritable: bool,
}

/// `<database>-wal`, SQLite's write-ahead log.
pub fn wal_path(database: &Path) -> PathBuf {
    with_suffix(database, "-wal")
}

/// `<database>-shm`, SQLite's shared-memory index of the log, which it maps.
pub fn shm_path(database: &Path) -> PathBuf {
    with_suffix(database, "-shm")
}

fn with_suffix(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A database's files as opened: their paths, and the identities of the database and its log.
#[derive(Debug)]
pub struct SqliteFiles {
    database: PathBuf,
    wal: PathBuf,
    shm: PathBuf,
    database_identity: Identity,
    /// `None` if the log did not exist when the files were recorded (not in WAL mode).
    wal_identity: Option<Identity>,
}

impl SqliteFiles {
    /// Before SQLite opens `database` to write it: refuses, naming it, any of its three files
    /// that is immutable or append-only. A `-shm` so is mapped by SQLite all the same, and the
    /// first write through the mapping kills the process with SIGBUS.
    pub fn check_before_open(database: &Path) -> Result<(), FileProblem> {
        for path in [database.to_owned(), wal_path(database), shm_path(database)] {
            if see(&path).is_some_and(|seen| seen.unwritable) {
                return Err(FileProblem::Immutable {
                    path: path.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Records the files of `database` as they are now: call it once a connection has run a
    /// transaction in WAL mode, so that the log exists.
    pub fn opened(database: &Path) -> Result<Self, FileProblem> {
        let database = database.to_owned();
        let wal = wal_path(&database);
        let shm = shm_path(&database);
        let database_identity = see(&database)
            .ok_or_else(|| FileProblem::Replaced {
                path: database.display().to_string(),
            })?
            .identity;
        let wal_identity = see(&wal).map(|seen| seen.identity);
        Ok(Self {
            database,
            wal,
            shm,
            database_identity,
            wal_identity,
        })
    }

    /// The database file's path.
    pub fn database(&self) -> &Path {
        &self.database
    }

    /// Whether the database and its log are still the files opened, and none of the three
    /// has become immutable: to run before a write begins and again just before it commits.
    /// A `statx` per file, cheap next to a commit.
    pub fn check(&self) -> Result<(), FileProblem> {
        self.check_identities()?;
        for path in [&self.database, &self.wal, &self.shm] {
            if see(path).is_some_and(|seen| seen.unwritable) {
                return Err(FileProblem::Immutable {
                    path: path.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether the database or its log is no longer the file opened.
    pub fn replaced(&self) -> bool {
        self.check_identities().is_err()
    }

    fn check_identities(&self) -> Result<(), FileProblem> {
        let expected = [
            (&self.database, Some(self.database_identity)),
            (&self.wal, self.wal_identity),
        ];
        for (path, identity) in expected {
            let Some(identity) = identity else { continue };
            if see(path).is_none_or(|seen| seen.identity != identity) {
                return Err(FileProblem::Replaced {
                    path: path.display().to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Copies every committed frame of the log `connection` has open into the database file and
/// syncs it (`wal_checkpoint(FULL)`): after the log was removed at its path, what was
/// committed to it then survives a crash. Whether every frame was copied.
pub fn checkpoint_into_database(connection: &rusqlite::Connection) -> rusqlite::Result<bool> {
    let busy: i64 = connection.query_row("PRAGMA wal_checkpoint(FULL)", [], |row| row.get(0))?;
    Ok(busy == 0)
}

/// The file at `path` (`None` if there is none or it cannot be looked at).
#[cfg(target_os = "linux")]
fn see(path: &Path) -> Option<Seen> {
    use rustix::fs::{AtFlags, CWD, StatxAttributes, StatxFlags, statx};
    let status = statx(CWD, path, AtFlags::empty(), StatxFlags::BASIC_STATS).ok()?;
    let refused = StatxAttributes::IMMUTABLE | StatxAttributes::APPEND;
    let device = (u64::from(status.stx_dev_major) << 32) | u64::from(status.stx_dev_minor);
    Some(Seen {
        identity: (device, status.stx_ino),
        unwritable: status.stx_attributes.intersects(refused),
    })
}

/// Other Unix: the identity only; an immutable file is not noticed.
#[cfg(all(unix, not(target_os = "linux")))]
fn see(path: &Path) -> Option<Seen> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(Seen {
        identity: (metadata.dev(), metadata.ino()),
        unwritable: false,
    })
}

/// Elsewhere only a removal is noticed.
#[cfg(not(unix))]
fn see(path: &Path) -> Option<Seen> {
    std::fs::metadata(path).ok().map(|_| Seen {
        identity: (0, 0),
        unwritable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_or_log_removed_or_replaced_at_its_path_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("store.db");
        for path in [&database, &wal_path(&database), &shm_path(&database)] {
            std::fs::write(path, b"x").unwrap();
        }
        // Written while the others exist, so that it cannot reuse one of their inodes.
        let other = dir.path().join("other");
        std::fs::write(&other, b"y").unwrap();
        let files = SqliteFiles::opened(&database).unwrap();
        assert_eq!(files.check(), Ok(()));
        std::fs::remove_file(wal_path(&database)).unwrap();
        let wal = wal_path(&database).display().to_string();
        assert_eq!(files.check(), Err(FileProblem::Replaced { path: wal }));
        assert!(files.replaced());
        std::fs::rename(&other, &database).unwrap();
        let path = database.display().to_string();
        assert_eq!(files.check(), Err(FileProblem::Replaced { path }));
    }

    #[test]
    fn paths_are_sqlite_s_own() {
        let database = Path::new("data/journal.db");
        assert_eq!(wal_path(database), Path::new("data/journal.db-wal"));
        assert_eq!(shm_path(database), Path::new("data/journal.db-shm"));
    }
}
