//! Whether the database this process opened can still be trusted: it must still be the file
//! at its path (not deleted or replaced under the running server), and sound (not corrupt).
//!
//! - **Replaced or deleted**: SQLite keeps writing to the file it has open, so after an
//!   `rm` or a `mv` over it, every acknowledged write would land in an unlinked file and be
//!   gone at the next start. The writer compares the path's device and inode with those it
//!   opened before each group of writes; on a difference, writes are refused (503) and
//!   `/readyz` answers 503. Reads go on: they read the data this process has, which is still
//!   consistent. (The `-wal` file alone is not watched: SQLite itself removes it whenever the
//!   last connection closes, so its absence proves nothing.)
//! - **Corrupt**: any `SQLITE_CORRUPT`/`SQLITE_NOTADB` answer, or a failed `quick_check`,
//!   marks the database corrupt: every request that needs it is refused (503), since a
//!   corrupt b-tree can end a list early without an error and an answer could be truncated.
//!
//! Either state is final for the process and logged once, with what to do.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::Connection;

use super::error::{CallerError, DbError, CORRUPT};

/// What made the database untrustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The file at the path is no longer the one this process opened.
    Replaced(String),
    /// SQLite found the file corrupt.
    Corrupt,
}

/// A file's identity: device and inode.
type FileId = (u64, u64);

/// The file's identity; `Ok(None)` when nothing is at `path`; `Err` when it cannot be told
/// (a permission or I/O error says nothing about the file being gone).
fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The trust state of one open database.
#[derive(Debug)]
pub struct DbHealth {
    path: PathBuf,
    db_id: Option<FileId>,
    broken: OnceLock<Broken>,
    /// Whether the start-up integrity check is still running in the background.
    checking: std::sync::atomic::AtomicBool,
}

impl DbHealth {
    /// Records the identity of `path` as opened now.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            db_id: file_id(path).ok().flatten(),
            broken: OnceLock::new(),
            checking: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Nothing to watch (PostgreSQL): never broken by file checks.
    pub fn unwatched() -> Self {
        Self {
            path: PathBuf::new(),
            db_id: None,
            broken: OnceLock::new(),
            checking: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the start-up integrity check of a large file is still running in the
    /// background (it takes a core and holds a read snapshot meanwhile).
    pub fn checking(&self) -> bool {
        self.checking.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn set_checking(&self, on: bool) {
        self.checking
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// What is wrong, if anything has been found.
    pub fn broken(&self) -> Option<&Broken> {
        self.broken.get()
    }

    fn mark(&self, b: Broken) {
        if self.broken.set(b.clone()).is_ok() {
            match b {
                Broken::Replaced(why) => log::error!(
                    "the database file {} {why} while the server was running; writes are refused \
                     so that nothing acknowledged is lost. Stop the server, put the database back \
                     (or restore a backup) and start it again",
                    self.path.display()
                ),
                Broken::Corrupt => log::error!(
                    "the database file {} is corrupt; every request that needs it is refused. \
                     Stop the server and restore the last backup (invois backup makes verified \
                     copies)",
                    self.path.display()
                ),
            }
        }
    }

    /// Compares the files at the path with those opened; marks a difference.
    pub fn check_files(&self) {
        if self.broken.get().is_some() || self.path.as_os_str().is_empty() {
            return;
        }
        let why = match (self.db_id, file_id(&self.path)) {
            (Some(_), Ok(None)) => Some("was deleted"),
            (Some(a), Ok(Some(b))) if a != b => Some("was replaced by another file"),
            (_, Err(e)) => {
                log::warn!(
                    "cannot check the database file {}: {e}",
                    self.path.display()
                );
                None
            }
            _ => None,
        };
        if let Some(why) = why {
            self.mark(Broken::Replaced(why.to_owned()));
        }
    }

    /// `Ok` while writes may go on; checks the files first.
    pub fn writable(&self) -> Result<(), DbError> {
        self.check_files();
        match self.broken.get() {
            None => Ok(()),
            Some(Broken::Corrupt) => Err(DbError::unavailable(CORRUPT)),
            Some(Broken::Replaced(why)) => Err(DbError::unavailable(format!(
                "The database file {why} while the server was running; writes are refused until an operator restarts it"
            ))),
        }
    }

    /// `Ok` while reads may go on (everything but corruption).
    pub fn readable(&self) -> Result<(), DbError> {
        match self.broken.get() {
            Some(Broken::Corrupt) => Err(DbError::unavailable(CORRUPT)),
            _ => Ok(()),
        }
    }

    /// Marks the database corrupt if `e` says so; hands `e` back.
    pub fn note<E: CallerError>(&self, e: E) -> E {
        if e.is_corruption() {
            self.mark(Broken::Corrupt);
        }
        e
    }

    /// Marks the database corrupt (a failed integrity check).
    pub fn mark_corrupt(&self) {
        self.mark(Broken::Corrupt);
    }
}

/// What an integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// The first problems SQLite reported.
    Corrupt(String),
    /// The time budget ran out first.
    Unfinished,
    /// The check could not run to its end for another reason (busy, I/O, no memory): it says
    /// nothing about the file.
    Failed(String),
}

/// `PRAGMA quick_check` on `conn`, interrupted after `budget` if one is set.
pub fn quick_check(conn: &Connection, budget: Option<Duration>) -> Check {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = budget.map(|b| {
        let handle = conn.get_interrupt_handle();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(b) {
                handle.interrupt();
            }
        })
    });
    let res: rusqlite::Result<Vec<String>> = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    let _ = done.send(());
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    match res {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Check::Ok,
        Ok(rows) => Check::Corrupt(one_line(&rows.join("\n"))),
        Err(e) => match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::OperationInterrupted) => Check::Unfinished,
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                Check::Corrupt(one_line(&e.to_string()))
            }
            _ => Check::Failed(one_line(&e.to_string())),
        },
    }
}

/// SQLite's report on one line, without its banner, at most 300 characters.
fn one_line(report: &str) -> String {
    let text = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("***"))
        .collect::<Vec<_>>()
        .join("; ");
    text.chars().take(300).collect()
}
