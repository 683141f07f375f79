//! The writer thread: one connection that runs every write, grouping the writes that wait
//! into one transaction (see `Db::write`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use super::error::{unavailable_reason, CallerError, DbError};
use super::health;
use super::key_check::KeyCheck;
use super::sqlite::WalLimit;

/// Why a group commit failed, handed to every job of the group that had succeeded.
#[derive(Debug, Clone)]
pub enum CommitError {
    Unavailable(&'static str),
    /// The database can no longer be trusted (see [`health`]).
    Refused(String),
    Other(String),
}

impl CommitError {
    fn from_sqlite(e: &rusqlite::Error) -> Self {
        match unavailable_reason(e) {
            Some(r) => Self::Unavailable(r),
            None => Self::Other(e.to_string()),
        }
    }

    fn to_error(&self) -> DbError {
        match self {
            Self::Unavailable(r) => DbError::unavailable(*r),
            Self::Refused(m) => DbError::unavailable(m.clone()),
            Self::Other(m) => DbError::Internal(format!("commit: {m}")),
        }
    }
}

/// How a job went, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    Refused,
    Unavailable,
}

/// Sends a job's answer once the group's commit is known.
pub(super) type Reply = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

/// A write queued for the writer thread.
pub(super) trait WriteJob: Send {
    /// Runs inside the group transaction, in a savepoint of its own.
    fn run(self: Box<Self>, conn: &Connection, health: &health::DbHealth) -> (Reply, Outcome);
    /// Answers without running (the group transaction could not start).
    fn fail(self: Box<Self>, err: &CommitError);
}

pub(super) struct TypedJob<T, E, F> {
    pub(super) f: F,
    pub(super) check: KeyCheck,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    /// When the job was queued: its wait for the writer is measured from here.
    pub(super) queued: std::time::Instant,
}

impl<T, E, F> WriteJob for TypedJob<T, E, F>
where
    F: FnOnce(&super::sql::Conn<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: CallerError,
{
    fn run(self: Box<Self>, conn: &Connection, health: &health::DbHealth) -> (Reply, Outcome) {
        let TypedJob {
            f,
            check,
            reply,
            queued,
        } = *self;
        crate::metrics::db_wait(super::Engine::Sqlite, crate::metrics::Pool::Write, queued);
        let out = match conn.execute_batch("SAVEPOINT job") {
            Err(e) => Err(E::from(DbError::from(e))),
            Ok(()) => {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let c = super::sql::Conn::Sqlite(conn);
                    check.run(&c)?;
                    f(&c)
                }))
                .unwrap_or_else(|_| Err(DbError::Internal("a write panicked".into()).into()));
                let end = if out.is_ok() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                match (conn.execute_batch(end), out) {
                    (Ok(()), out) => out,
                    (Err(e), Ok(_)) => Err(E::from(DbError::from(e))),
                    // SQLite may have rolled the whole transaction back (full disk, I/O
                    // error): the savepoint is gone, the job's own error stands.
                    (Err(_), Err(e)) => Err(e),
                }
            }
        };
        let out = out.map_err(|e| health.note(e));
        let outcome = match &out {
            Ok(_) => Outcome::Done,
            Err(e) if e.is_unavailable() => Outcome::Unavailable,
            Err(_) => Outcome::Refused,
        };
        let answer: Reply = Box::new(move |commit: Result<(), CommitError>| {
            let res = match (out, commit) {
                (Ok(v), Ok(())) => Ok(v),
                (Ok(_), Err(c)) => Err(c.to_error().into()),
                (Err(e), _) => Err(e),
            };
            let _ = reply.send(res);
        });
        (answer, outcome)
    }

    fn fail(self: Box<Self>, err: &CommitError) {
        let _ = self.reply.send(Err(err.to_error().into()));
    }
}

/// Most writes grouped into one commit.
const GROUP_MAX: usize = 128;

/// The writer thread: takes every waiting job, runs them in one transaction, commits once,
/// then answers them all. Ends when every `Db` clone (every sender) is gone.
pub(super) fn writer_thread(
    pool: Pool<SqliteConnectionManager>,
    jobs: std::sync::mpsc::Receiver<Box<dyn WriteJob>>,
    writes_ok: Arc<AtomicBool>,
    health: Arc<health::DbHealth>,
    wal: &WalLimit,
    busy_timeout: Duration,
) {
    use std::sync::mpsc::TryRecvError;
    let mut restarts = Restarts::new();
    loop {
        let first = match jobs.try_recv() {
            Ok(job) => {
                restarts.run_if_due(wal, false, &pool, busy_timeout);
                job
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                restarts.run_if_due(wal, true, &pool, busy_timeout);
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = health.writable() {
            let err = match e {
                DbError::Unavailable { reason, .. } => CommitError::Refused(reason.into_owned()),
                other => CommitError::Other(other.to_string()),
            };
            for job in group {
                job.fail(&err);
            }
            continue;
        }
        let conn = match pool.get() {
            Ok(c) => c,
            Err(e) => {
                let err = CommitError::Other(e.to_string());
                for job in group {
                    job.fail(&err);
                }
                continue;
            }
        };
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = CommitError::from_sqlite(&e);
            if matches!(err, CommitError::Unavailable(_)) {
                writes_ok.store(false, Ordering::Relaxed);
            }
            for job in group {
                job.fail(&err);
            }
            continue;
        }
        let mut replies = Vec::with_capacity(group.len());
        let mut outcomes = Vec::with_capacity(group.len());
        let mut in_tx = true;
        for job in group {
            if !in_tx {
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    job.fail(&CommitError::from_sqlite(&e));
                    continue;
                }
                in_tx = true;
            }
            let (reply, outcome) = job.run(&conn, &health);
            replies.push(reply);
            outcomes.push(outcome);
            if conn.is_autocommit() {
                // SQLite rolled the group back (full disk, I/O error): the jobs that had
                // succeeded in it are undone, so they are answered with an error now, and
                // the rest of the group starts a new transaction.
                let lost = CommitError::Unavailable("The write was rolled back by the database (disk full or I/O error); retry later");
                for r in replies.drain(..) {
                    r(Err(lost.clone()));
                }
                outcomes.push(Outcome::Unavailable);
                in_tx = false;
            }
        }
        if !in_tx {
            if outcomes.contains(&Outcome::Unavailable) {
                writes_ok.store(false, Ordering::Relaxed);
            }
            continue;
        }
        // The group's search-index changes, outside every job's savepoint: one FTS5 flush
        // per commit (see `fts`).
        let commit = super::fts::apply_pending(&conn)
            .and_then(|()| conn.execute_batch("COMMIT"))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                let err = CommitError::from_sqlite(&e);
                if matches!(err, CommitError::Unavailable(r) if r == super::error::CORRUPT) {
                    health.mark_corrupt();
                }
                err
            })
            // A file deleted or replaced during the group: its writes went to the old file,
            // so they are not acknowledged.
            .and_then(|()| {
                health
                    .writable()
                    .map_err(|e| CommitError::Refused(e.to_string()))
            });
        match &commit {
            Ok(()) if outcomes.contains(&Outcome::Done) => writes_ok.store(true, Ordering::Relaxed),
            Err(CommitError::Unavailable(_)) => writes_ok.store(false, Ordering::Relaxed),
            _ => {}
        }
        if outcomes.contains(&Outcome::Unavailable) {
            writes_ok.store(false, Ordering::Relaxed);
        }
        drop(conn);
        for reply in replies {
            reply(commit.clone());
        }
    }
}

/// How long a log restart waits for readers to leave the log (SQLite's busy handler): API
/// reads finish within a millisecond; a longer reader (a backup, an export, the start-up
/// integrity check) just puts the restart off.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// When the writer may next try to start the log over: at the checkpointer's next report
/// after a restart that worked, later and later after restarts that a long reader prevented
/// (250 ms, doubling up to 8 s), so that such a reader costs the writer at most a 100 ms
/// wait every few seconds, not every 200 ms.
struct Restarts {
    next: std::time::Instant,
    backoff: Duration,
}

impl Restarts {
    const FIRST: Duration = Duration::from_millis(250);
    const MOST: Duration = Duration::from_secs(8);

    fn new() -> Self {
        Self {
            next: std::time::Instant::now(),
            backoff: Duration::ZERO,
        }
    }

    /// Starts the log over if it is due (`idle`: no write waits; see [`WalLimit::due`]).
    fn run_if_due(
        &mut self,
        wal: &WalLimit,
        idle: bool,
        pool: &Pool<SqliteConnectionManager>,
        busy_timeout: Duration,
    ) {
        if wal.due(idle) && std::time::Instant::now() >= self.next {
            self.done(wal, restart_wal(pool, busy_timeout));
        }
    }

    fn done(&mut self, wal: &WalLimit, restarted: bool) {
        // The next report (the checkpointer's) decides whether another restart is due.
        wal.bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        self.backoff = if restarted {
            Duration::ZERO
        } else {
            (self.backoff * 2).clamp(Self::FIRST, Self::MOST)
        };
        self.next = std::time::Instant::now() + self.backoff;
    }
}

/// A RESTART checkpoint on the writer's connection (see [`WalLimit`]): the whole log is
/// copied back and readers are waited for, so that the next commit starts the log over.
/// Whether it did.
fn restart_wal(pool: &Pool<SqliteConnectionManager>, busy_timeout: Duration) -> bool {
    let Ok(conn) = pool.get() else {
        return false;
    };
    let _ = conn.busy_timeout(RESTART_WAIT);
    let done = match conn.query_row("PRAGMA wal_checkpoint(RESTART)", (), |r| r.get::<_, i64>(0)) {
        Ok(0) => true,
        Ok(_) => {
            log::debug!(
                "the write-ahead log could not start over (a reader is on it); tried again later"
            );
            false
        }
        Err(e) => {
            log::debug!("write-ahead log restart: {e}");
            false
        }
    };
    let _ = conn.busy_timeout(busy_timeout);
    done
}
