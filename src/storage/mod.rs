//! SQLite storage: a pool of read connections, one writer connection (so writers never meet
//! `SQLITE_BUSY` from each other), per-connection PRAGMAs, embedded migrations, and one file
//! per aggregate with plain functions over `&Connection`.

pub mod cache;
pub mod cursor;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod members;
pub mod orgs;
pub mod search;
pub mod seed;
pub mod tiers;
pub mod transfer;
pub mod users;
mod writer;

pub use error::{
    unavailable_reason, unique_violation, CallerError, Conflict, DbError, Invalid, Result,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{Migrations, M};

use crate::config::DatabaseConfig;
use writer::{writer_thread, TypedJob, WriteJob};

/// The schema, oldest first. Append only.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../sql/001_initial.sql")),
        M::up(include_str!("../../sql/002_counters.sql")),
        M::up(include_str!("../../sql/003_org_details_version.sql")),
    ])
}

/// The schema version this binary writes.
pub fn schema_version() -> i64 {
    3
}

/// A trigger-kept counter (`organizations`, `users`, `organizations_version`).
pub fn counter(conn: &Connection, name: &str) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT value FROM counters WHERE name = ?1")?
        .query_row([name], |r| r.get(0))?)
}

/// The revocation check of the API key a request is served for. Every database call made
/// for a request takes it explicitly ([`Db::read`], [`Db::write`], [`Db::write_blocking`]):
/// a write checks the key inside its own transaction, so a key revoked by anyone (the API,
/// the CLI, another instance) changes nothing; a request's first read checks it too, so a
/// revoked key is refused on its very next request.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub key_id: Arc<str>,
    /// Set once a database call has checked the key.
    pub done: Arc<AtomicBool>,
    /// Set when that check found the key revoked or expired.
    pub refused: Arc<AtomicBool>,
}

impl KeyCheck {
    /// A key whose state has not been read in this request yet (verified earlier, cached).
    pub fn owed(key_id: Arc<str>) -> Self {
        Self {
            key_id,
            done: Arc::new(AtomicBool::new(false)),
            refused: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A key just read from the database and found active by this request.
    pub fn verified(key_id: Arc<str>) -> Self {
        let k = Self::owed(key_id);
        k.done.store(true, Ordering::Relaxed);
        k
    }

    /// Whether no database call has checked the key in this request yet.
    pub fn is_owed(&self) -> bool {
        !self.done.load(Ordering::Relaxed)
    }

    /// Whether a check found the key revoked or expired.
    pub fn is_refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Fails with [`DbError::Unauthorized`] unless the key is still active; runs on `conn`,
    /// inside the caller's transaction.
    pub fn run(&self, conn: &Connection) -> Result<(), DbError> {
        if cfg!(feature = "bench-no-auth") {
            // Benchmark builds only (see Cargo.toml): there is no key to check.
            return Ok(());
        }
        let active = crate::domain::with_now(|now| keys::is_active(conn, &self.key_id, now))?;
        self.done.store(true, Ordering::Relaxed);
        if active {
            Ok(())
        } else {
            self.refused.store(true, Ordering::Relaxed);
            Err(DbError::Unauthorized)
        }
    }
}

/// Connection pools over one database file.
#[derive(Clone)]
pub struct Db {
    read: Pool<SqliteConnectionManager>,
    write: Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// Whether the last write went through (false after a full disk or read-only file).
    writes_ok: Arc<AtomicBool>,
    /// The writer thread's queue (see [`Db::write`]).
    writer: std::sync::mpsc::Sender<Box<dyn WriteJob>>,
    /// Deep-page anchors of the organization order (see `cache::OrgOrderCache`).
    org_order_cache: Arc<std::sync::Mutex<cache::OrgOrderCache>>,
    /// Rendered single-organization views (see `cache::DetailCache`).
    org_detail_cache: Arc<std::sync::Mutex<cache::DetailCache>>,
    /// Whether the file is still the one opened, and sound.
    health: Arc<health::DbHealth>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a database could not be opened; each says what to do.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn synchronous(cfg: &DatabaseConfig) -> &'static str {
    match cfg.synchronous.to_ascii_lowercase().as_str() {
        "off" => "OFF",
        "full" => "FULL",
        "extra" => "EXTRA",
        _ => "NORMAL",
    }
}

fn manager(path: &Path, cfg: &DatabaseConfig) -> SqliteConnectionManager {
    let busy = cfg.busy_timeout_ms;
    let sync = synchronous(cfg);
    let max_pages = cfg.max_size_mb.saturating_mul(1024 * 1024) / 4096;
    let cache_kib = cfg.cache_mb.saturating_mul(1024);
    let mmap_bytes = cfg.mmap_mb.saturating_mul(1024 * 1024);
    SqliteConnectionManager::file(path)
        .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
        .with_init(move |c| {
            c.busy_timeout(Duration::from_millis(busy))?;
            // Room for every statement the server prepares: the default (16) would evict and
            // re-parse statements on every request.
            c.set_prepared_statement_cache_capacity(256);
            // With STAT4 statistics (the bundled SQLite has them, and `PRAGMA optimize` fills
            // them) a cached statement is re-parsed and re-planned whenever a bound value
            // changes, that is on nearly every request. The query-planner stability guarantee
            // keeps each statement's first plan; the plans that matter do not depend on values
            // (search picks its plan in code from candidate counts).
            c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            c.execute_batch(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY; \
                 PRAGMA cache_size = -{cache_kib}; PRAGMA mmap_size = {mmap_bytes};"
            ))?;
            if max_pages > 0 {
                let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
                let page_size = u64::try_from(page_size).unwrap_or(4096);
                let pages = max_pages * 4096 / page_size.max(512);
                c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
            }
            Ok(())
        })
}

/// Refuses a file that exists but is not an SQLite database, without touching it.
fn check_file(path: &Path) -> Result<(), OpenError> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut header = [0u8; 16];
    let n = f
        .read(&mut header)
        .map_err(|e| OpenError(format!("cannot read {}: {e}", path.display())))?;
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &header != b"SQLite format 3\0" {
        return Err(OpenError(format!(
            "{} is not an SQLite database; point --db (or INVOIS_DATABASE__PATH) at an invois database or a new file",
            path.display()
        )));
    }
    Ok(())
}

/// One plain connection to the database, created if needed, checked, switched to WAL and
/// migrated to the current schema (what [`open`] starts with; bulk loading uses it alone).
pub fn open_migrated(cfg: &DatabaseConfig) -> Result<Connection, OpenError> {
    let path = cfg.path.clone();
    check_file(&path)?;
    let mut conn = Connection::open(&path)
        .map_err(|e| OpenError(format!("cannot open database {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
        .map_err(|e| OpenError(format!("cannot configure database: {e}")))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| {
            OpenError(format!(
                "{} is not a usable SQLite database: {e}",
                path.display()
            ))
        })?;
    if version > schema_version() {
        return Err(OpenError(format!(
            "{} has schema version {version}, newer than this invois supports ({}); upgrade invois",
            path.display(),
            schema_version()
        )));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| OpenError(format!("cannot switch {} to WAL: {e}", path.display())))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError(format!(
            "cannot switch {} to WAL (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(|e| OpenError(format!("cannot configure database: {e}")))?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| OpenError(format!("cannot migrate {}: {e}", path.display())))?;
    Ok(conn)
}

/// Opens (creating if needed) and migrates the database, switching it to WAL once, and
/// checks its integrity: a corrupt file is refused; one too large to check within
/// [`STARTUP_CHECK`] is checked in the background (see [`health`]).
pub fn open(cfg: &DatabaseConfig) -> Result<Db, OpenError> {
    let path = cfg.path.clone();
    let conn = open_migrated(cfg)?;
    let checked = match health::quick_check(&conn, Some(STARTUP_CHECK)) {
        health::Check::Ok => true,
        health::Check::Unfinished => false,
        health::Check::Failed(why) => {
            log::warn!(
                "the integrity check of {} could not run now ({why}); it runs in the background",
                path.display()
            );
            false
        }
        health::Check::Corrupt(why) => {
            return Err(OpenError(format!(
                "{} is corrupt ({why}); restore it from a backup",
                path.display()
            )))
        }
    };
    drop(conn);
    let read = Pool::builder()
        .max_size(cfg.pool_size)
        .test_on_check_out(false)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(30))
        .build(manager(&path, cfg))
        .map_err(|e| OpenError(format!("cannot open database pool: {e}")))?;
    let write = Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(60))
        .build(manager(&path, cfg))
        .map_err(|e| OpenError(format!("cannot open database writer: {e}")))?;
    let writes_ok = Arc::new(AtomicBool::new(true));
    let health = Arc::new(health::DbHealth::new(&path));
    if !checked {
        spawn_integrity_check(&path, health.clone())?;
    }
    let (writer, jobs) = std::sync::mpsc::channel();
    let (pool, flag, h) = (write.clone(), writes_ok.clone(), health.clone());
    std::thread::Builder::new()
        .name("invois-writer".into())
        .spawn(move || writer_thread(pool, jobs, flag, h))
        .map_err(|e| OpenError(format!("cannot start the writer thread: {e}")))?;
    Ok(Db {
        read,
        write,
        path,
        writes_ok,
        writer,
        org_order_cache: Arc::default(),
        org_detail_cache: Arc::default(),
        health,
    })
}

/// How long start-up spends on the integrity check before leaving the rest of it to a
/// background thread (a sandbox-sized database is checked whole within it).
const STARTUP_CHECK: Duration = Duration::from_millis(300);

/// Checks the whole file in the background (a database too large for [`STARTUP_CHECK`]);
/// a failure marks it corrupt.
fn spawn_integrity_check(path: &Path, health: Arc<health::DbHealth>) -> Result<(), OpenError> {
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("invois-check".into())
        .spawn(move || {
            let Ok(conn) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            else {
                return;
            };
            match health::quick_check(&conn, None) {
                health::Check::Ok => log::info!("integrity check of {} passed", path.display()),
                health::Check::Corrupt(why) => {
                    log::error!("integrity check of {}: {why}", path.display());
                    health.mark_corrupt();
                }
                health::Check::Failed(why) => log::warn!(
                    "the integrity check of {} could not finish ({why}); the file was not judged",
                    path.display()
                ),
                health::Check::Unfinished => {}
            }
        })
        .map(drop)
        .map_err(|e| OpenError(format!("cannot start the integrity check: {e}")))
}

impl Db {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` for a request made with the key of `check`, on a read connection, off the
    /// async executor; the key is checked first in the same read transaction unless an
    /// earlier call of this request checked it.
    ///
    /// `f` may fail with any error that takes in a [`DbError`] (the HTTP layer's own, so
    /// that handlers mix storage calls with their own checks); storage's errors convert.
    pub async fn read<T, E, F>(&self, check: &KeyCheck, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        let check = check.is_owed().then(|| check.clone());
        self.read_with(check, f).await
    }

    /// As [`Db::read`], for work done for no API key (health checks, looking a key up).
    pub async fn read_internal<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        self.read_with(None, f).await
    }

    async fn read_with<T, E, F>(&self, check: Option<KeyCheck>, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        let pool = self.read.clone();
        let health = self.health.clone();
        tokio::task::spawn_blocking(move || {
            health.readable()?;
            let conn = pool.get().map_err(DbError::from)?;
            in_read_transaction(&conn, |c| {
                if let Some(k) = &check {
                    k.run(c)?;
                }
                f(c)
            })
            .map_err(|e| health.note(e))
        })
        .await
        .map_err(|e| DbError::Internal(format!("blocking task: {e}")))?
    }

    /// Runs `f` on the writer connection, off the async executor, and answers once its
    /// changes are committed (or with its error, its changes rolled back).
    ///
    /// Writes from concurrent requests are grouped: the writer thread runs every job that is
    /// waiting in one `BEGIN IMMEDIATE` transaction, each job inside its own savepoint (a
    /// failing job rolls back alone), and commits once for all of them. Nobody is answered
    /// before that commit, so durability is exactly that of one transaction per write, while
    /// the per-commit costs (WAL frames, FTS segment flushes) are shared.
    ///
    /// The key of `check` is checked inside the job's savepoint before `f` runs, always: a
    /// key revoked since the request began changes nothing.
    ///
    /// `f` may fail with any error that takes in a [`DbError`], as for [`Db::read`].
    pub async fn write<T, E, F>(&self, check: &KeyCheck, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job = TypedJob {
            f,
            check: check.clone(),
            reply,
        };
        self.writer
            .send(Box::new(job))
            .map_err(|_| DbError::Internal("the writer thread is gone".into()))?;
        answer
            .await
            .map_err(|_| DbError::Internal("the writer thread dropped a write".into()))?
    }

    /// As [`Db::write`], for callers already off the executor: `check` is the request's key
    /// (checked inside the transaction before `f`), `None` for the CLI and seeding.
    pub fn write_blocking<T, F>(&self, check: Option<&KeyCheck>, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    {
        let res = self.write_untracked(|tx| {
            if let Some(k) = check {
                k.run(tx)?;
            }
            f(tx)
        });
        match &res {
            Ok(_) => self.writes_ok.store(true, Ordering::Relaxed),
            Err(DbError::Unavailable { .. }) => self.writes_ok.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
        res
    }

    /// A write whose outcome does not count for readiness (housekeeping such as batched
    /// `last_used_at`: an in-place update can succeed on a full disk where inserts fail).
    pub fn write_untracked<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    {
        self.health.writable()?;
        let run = || {
            let mut conn = self.write.get()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| self.health.note(e))
    }

    /// Whether the database is still the file opened, and sound (see [`health`]).
    pub fn health(&self) -> &health::DbHealth {
        &self.health
    }

    /// The deep-page anchors of the organization order.
    pub fn org_order_cache(&self) -> Arc<std::sync::Mutex<cache::OrgOrderCache>> {
        self.org_order_cache.clone()
    }

    /// The rendered single-organization views.
    pub fn org_detail_cache(&self) -> Arc<std::sync::Mutex<cache::DetailCache>> {
        self.org_detail_cache.clone()
    }

    /// Whether the last write succeeded (for `/readyz`).
    pub fn writes_ok(&self) -> bool {
        self.writes_ok.load(Ordering::Relaxed)
    }

    /// As [`Db::read`], for callers already off the executor.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError>,
    {
        self.health.readable()?;
        let conn = self.read.get()?;
        in_read_transaction(&conn, f).map_err(|e| self.health.note(e))
    }

    /// Writes the WAL back into the main file (on shutdown).
    pub fn checkpoint(&self) -> Result<(), DbError> {
        let conn = self.write.get()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// An online, consistent copy of the database into `out` (SQLite's backup API), checked
    /// whole with `quick_check` afterwards: a copy of a corrupt database is an error, never a
    /// backup (the caller removes `out`).
    pub fn backup_to(&self, out: &Path) -> Result<(), DbError> {
        self.health.readable()?;
        let conn = self.read.get()?;
        conn.backup(rusqlite::MAIN_DB, out, None)
            .map_err(|e| self.health.note(DbError::from(e)))?;
        drop(conn);
        // Read-write, so that closing it removes the -wal and -shm files the check creates
        // beside the copy (the copy is in WAL mode, as its source).
        let copy = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let check = health::quick_check(&copy, None);
        drop(copy);
        match check {
            health::Check::Ok => Ok(()),
            health::Check::Corrupt(why) => {
                self.health.mark_corrupt();
                Err(DbError::unavailable(format!(
                    "the database is corrupt ({why}); no backup was written; restore the last good backup"
                )))
            }
            health::Check::Unfinished => Err(DbError::Internal(
                "the check of the backup copy was interrupted".into(),
            )),
            health::Check::Failed(why) => Err(DbError::unavailable(format!(
                "cannot check the backup copy ({why}); no backup was written"
            ))),
        }
    }
}

/// Runs `f` in one read transaction: one snapshot for all its statements, and one WAL read
/// lock (a pair of `fcntl` calls) instead of one per statement.
fn in_read_transaction<T, E: From<DbError>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    conn.prepare_cached("BEGIN")
        .and_then(|mut s| s.execute([]))
        .map_err(DbError::from)?;
    let out = f(conn);
    if let Err(e) = conn
        .prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
    {
        // Ending a read transaction cannot lose anything; make sure it is over.
        let _ = conn.execute_batch("ROLLBACK");
        if out.is_ok() {
            return Err(DbError::from(e).into());
        }
    }
    out
}

/// Page arithmetic shared by every list: offset and the `meta` of seed 002.
#[derive(Debug, Clone, Copy)]
pub struct PageReq {
    pub page: u32,
    pub per_page: u32,
}

impl PageReq {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn a_new_database_is_migrated_to_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatabaseConfig {
            path: dir.path().join("t.db"),
            ..DatabaseConfig::default()
        };
        let db = open(&cfg).unwrap();
        let v: i64 = db
            .read_blocking(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, schema_version());
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello, this is not a database at all").unwrap();
        let cfg = DatabaseConfig {
            path: path.clone(),
            ..DatabaseConfig::default()
        };
        let err = open(&cfg).unwrap_err();
        assert!(err.0.contains("is not an SQLite database"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "hello, this is not a database at all"
        );
    }
}
