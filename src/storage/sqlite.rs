//! The SQLite engine: a pool of read connections, one writer connection fed by the writer
//! thread (so writers never meet `SQLITE_BUSY` from each other, and concurrent writes share
//! one commit), per-connection PRAGMAs, embedded migrations, integrity checks and online
//! backups.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2::{ManageConnection, Pool};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{Migrations, M};

use super::error::{DbError, OpenError};
use super::health::{quick_check, Check, DbHealth};
use super::sql::Conn;
use super::writer::{writer_thread, WriteJob};
use crate::config::DatabaseConfig;

/// The schema, oldest first. Append only.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../sql/sqlite/001_initial.sql")),
        M::up(include_str!("../../sql/sqlite/002_counters.sql")),
        M::up(include_str!("../../sql/sqlite/003_org_details_version.sql")),
        M::up(include_str!("../../sql/sqlite/004_console.sql")),
        M::up(include_str!("../../sql/sqlite/005_metadata.sql")),
        M::up(include_str!("../../sql/sqlite/006_webhooks.sql")),
        M::up(include_str!("../../sql/sqlite/007_delivery_data.sql")),
        M::up(include_str!("../../sql/sqlite/008_members_covering.sql")),
        M::up(include_str!("../../sql/sqlite/009_fts_per_commit.sql")),
        M::up(include_str!("../../sql/sqlite/010_users_brief.sql")),
    ])
}

/// Pools over one database file, and the writer thread's queue.
#[derive(Clone)]
pub(super) struct Lite {
    read: Pool<SqliteConnectionManager>,
    write: Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// The writer thread's queue (see `Db::write`).
    pub(super) writer: std::sync::mpsc::Sender<Box<dyn WriteJob>>,
    /// Held while the database is open: the checkpointer thread ends when every clone is
    /// gone (see [`checkpointer`]).
    _checkpointer: std::sync::mpsc::Sender<()>,
    /// `[database] busy_timeout_ms`: how long the shutdown checkpoint keeps trying.
    busy: Duration,
}

fn synchronous(cfg: &DatabaseConfig) -> &'static str {
    match cfg.synchronous.to_ascii_lowercase().as_str() {
        "off" => "OFF",
        "full" => "FULL",
        "extra" => "EXTRA",
        _ => "NORMAL",
    }
}

/// How often the checkpointer thread copies committed WAL frames back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Which connection a manager opens: the writer does not checkpoint as it commits (the
/// checkpointer thread does), so no commit waits for a checkpoint's copying and fsync; it
/// only starts the log over, between writes, past `wal_limit_mb` (see [`WalLimit`]).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Reader,
    Writer,
}

fn manager(path: &Path, cfg: &DatabaseConfig, role: Role) -> SqliteConnectionManager {
    let busy = cfg.busy_timeout_ms;
    let sync = synchronous(cfg);
    let max_pages = cfg.max_size_mb.saturating_mul(1024 * 1024) / 4096;
    let cache_kib = cfg.cache_mb.saturating_mul(1024);
    let mmap_bytes = cfg.mmap_mb.saturating_mul(1024 * 1024);
    let wal_limit = wal_limit_bytes(cfg).unwrap_or(-1);
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
            if role == Role::Writer {
                c.execute_batch(&format!(
                    "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {wal_limit};"
                ))?;
            }
            if max_pages > 0 {
                let page_size: i64 = c.query_row("PRAGMA page_size", (), |r| r.get(0))?;
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
        .query_row("PRAGMA user_version", (), |r| r.get(0))
        .map_err(|e| {
            OpenError(format!(
                "{} is not a usable SQLite database: {e}",
                path.display()
            ))
        })?;
    if version > super::sql::schema_version() {
        return Err(OpenError(format!(
            "{} has schema version {version}, newer than this invois supports ({}); upgrade invois",
            path.display(),
            super::sql::schema_version()
        )));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", (), |r| r.get(0))
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
    // Search-index changes queued by a program that wrote the file without applying them.
    let queued = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM fts_pending)", (), |r| {
            r.get(0)
        })
        .unwrap_or(false);
    if queued {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| super::fts::apply_pending(&tx).map(|()| tx))
            .and_then(|tx| tx.commit())
            .map_err(|e| {
                OpenError(format!(
                    "cannot update the search indexes of {}: {e}",
                    path.display()
                ))
            })?;
    }
    Ok(conn)
}

/// Opens (creating if needed) and migrates the database, switching it to WAL once, and
/// checks its integrity: a corrupt file is refused; one too large to check within
/// [`STARTUP_CHECK`] is checked in the background (see [`health`]).
pub(super) fn open(
    cfg: &DatabaseConfig,
    health: Arc<DbHealth>,
    writes_ok: Arc<AtomicBool>,
) -> Result<Lite, OpenError> {
    let path = cfg.path.clone();
    let conn = open_migrated(cfg)?;
    let checked = match quick_check(&conn, Some(STARTUP_CHECK)) {
        Check::Ok => true,
        Check::Unfinished => false,
        Check::Failed(why) => {
            log::warn!(
                "the integrity check of {} could not run now ({why}); it runs in the background",
                path.display()
            );
            false
        }
        Check::Corrupt(why) => {
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
        .build(manager(&path, cfg, Role::Reader))
        .map_err(|e| OpenError(format!("cannot open database pool: {e}")))?;
    let write = Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(60))
        .build(manager(&path, cfg, Role::Writer))
        .map_err(|e| OpenError(format!("cannot open database writer: {e}")))?;
    if !checked {
        spawn_integrity_check(&path, health.clone())?;
    }
    let (writer, jobs) = std::sync::mpsc::channel();
    let (pool, flag, h) = (write.clone(), writes_ok, health);
    let wal = Arc::new(WalLimit::new(cfg));
    let (wal_w, busy) = (wal.clone(), Duration::from_millis(cfg.busy_timeout_ms));
    std::thread::Builder::new()
        .name("invois-writer".into())
        .spawn(move || writer_thread(pool, jobs, flag, h, &wal_w, busy))
        .map_err(|e| OpenError(format!("cannot start the writer thread: {e}")))?;
    let (stop, stopped) = std::sync::mpsc::channel();
    let conn = manager(&path, cfg, Role::Reader)
        .connect()
        .map_err(|e| OpenError(format!("cannot open the checkpointer's connection: {e}")))?;
    std::thread::Builder::new()
        .name("invois-checkpoint".into())
        .spawn(move || checkpointer(&conn, &stopped, &wal))
        .map_err(|e| OpenError(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(Lite {
        read,
        write,
        path,
        writer,
        _checkpointer: stop,
        busy,
    })
}

/// Copies committed WAL frames back into the database file every [`CHECKPOINT_EVERY`]
/// (a passive checkpoint: it waits for no reader and no writer, and none waits for it), so
/// the writer, whose automatic checkpoints are off, never makes a commit wait for one; ends
/// when the database is closed (`stopped` disconnected). A checkpoint that cannot finish
/// (a reader on an old snapshot, a full disk) is tried again next time. Each one reports the
/// log's size to the writer, which starts the log over past `wal_limit_mb` ([`WalLimit`]).
fn checkpointer(conn: &Connection, stopped: &std::sync::mpsc::Receiver<()>, wal: &WalLimit) {
    use std::sync::mpsc::RecvTimeoutError;
    // A frame of the log is a page and a 24-byte header.
    let page: i64 = conn
        .query_row("PRAGMA page_size", (), |r| r.get(0))
        .unwrap_or(4096);
    let frame_bytes = page + 24;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", (), |r| r.get::<_, i64>(1)) {
            Ok(frames) => wal
                .bytes
                .store(frames.saturating_mul(frame_bytes), Ordering::Relaxed),
            Err(e) => log::debug!("background checkpoint: {e}"),
        }
    }
}

/// The WAL's size limit (`[database] wal_limit_mb`) and the size the checkpointer last saw,
/// in bytes.
///
/// Passive checkpoints copy frames back but can only start the log over when no reader is
/// on it; under steady traffic one always is, and the log grew without end (1 GB in 10 s of
/// POST /users at 1M rows). Past the limit the writer runs a RESTART checkpoint itself,
/// between writes (see `writer::writer_thread`): it copies what is left (little: the
/// checkpointer has copied the rest), waits up to 100 ms for the readers to move on to the
/// main file, and the next commit starts the log over, truncated to the limit.
pub(super) struct WalLimit {
    pub(super) bytes: std::sync::atomic::AtomicI64,
    /// 0: no limit.
    limit: i64,
}

impl WalLimit {
    fn new(cfg: &DatabaseConfig) -> Self {
        Self {
            bytes: std::sync::atomic::AtomicI64::new(0),
            limit: wal_limit_bytes(cfg).unwrap_or(0),
        }
    }

    /// Whether the log should start over: past the limit while no write waits, or past
    /// four times the limit (a writer that is never idle) in any case.
    pub(super) fn due(&self, idle: bool) -> bool {
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.limit > 0 && (bytes >= self.limit.saturating_mul(4) || (idle && bytes >= self.limit))
    }
}

/// `[database] wal_limit_mb` in bytes; `None` for no limit.
fn wal_limit_bytes(cfg: &DatabaseConfig) -> Option<i64> {
    (cfg.wal_limit_mb > 0)
        .then(|| i64::try_from(cfg.wal_limit_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX))
}

/// How long start-up spends on the integrity check before leaving the rest of it to a
/// background thread (a sandbox-sized database is checked whole within it).
const STARTUP_CHECK: Duration = Duration::from_millis(300);

/// Checks the whole file in the background (a database too large for [`STARTUP_CHECK`]);
/// a failure marks it corrupt.
fn spawn_integrity_check(path: &Path, health: Arc<DbHealth>) -> Result<(), OpenError> {
    let path = path.to_path_buf();
    /// Clears the "checking" flag when dropped: when the check ends, however it ends, or
    /// with the closure when the thread cannot start.
    struct Done(Arc<DbHealth>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.set_checking(false);
        }
    }
    health.set_checking(true);
    let done = Done(health.clone());
    std::thread::Builder::new()
        .name("invois-check".into())
        .spawn(move || {
            let _done = done;
            let Ok(conn) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            else {
                return;
            };
            match quick_check(&conn, None) {
                Check::Ok => log::info!("integrity check of {} passed", path.display()),
                Check::Corrupt(why) => {
                    log::error!("integrity check of {}: {why}", path.display());
                    health.mark_corrupt();
                }
                Check::Failed(why) => log::warn!(
                    "the integrity check of {} could not finish ({why}); the file was not judged",
                    path.display()
                ),
                Check::Unfinished => {}
            }
        })
        .map(drop)
        .map_err(|e| OpenError(format!("cannot start the integrity check: {e}")))
}

impl Lite {
    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a read transaction on a pooled connection.
    pub(super) fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let asked = std::time::Instant::now();
        let conn = self.read.get().map_err(DbError::from)?;
        crate::metrics::db_wait(super::Engine::Sqlite, crate::metrics::Pool::Read, asked);
        in_read_transaction(&conn, |c| f(&Conn::Sqlite(c)))
    }

    /// Runs `f` in an immediate transaction on the writer connection (callers off the
    /// executor; the API's writes go through the writer thread instead).
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let asked = std::time::Instant::now();
        let mut conn = self.write.get()?;
        crate::metrics::db_wait(super::Engine::Sqlite, crate::metrics::Pool::Write, asked);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Conn::Sqlite(&tx))?;
        super::fts::apply_pending(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Writes the WAL back into the main file and empties it (on shutdown).
    ///
    /// A checkpoint that meets another one (the checkpointer thread's, every 200 ms) gives
    /// up at once: SQLite calls no busy handler for the checkpoint lock, and the pragma
    /// reports it only in its `busy` column, with no error. So this tries again, every
    /// millisecond, for up to the busy timeout (readers are waited for by the busy handler
    /// within each try), and is an error if the log still could not be emptied.
    pub(super) fn checkpoint(&self) -> Result<(), DbError> {
        let conn = self.write.get()?;
        let deadline = std::time::Instant::now() + self.busy;
        loop {
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(DbError::unavailable(format!(
                    "the write-ahead log could not be emptied within {} ms: another connection kept the database busy",
                    self.busy.as_millis()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// An online, consistent copy of the database into `out` (SQLite's backup API), checked
    /// whole with `quick_check` afterwards: a copy of a corrupt database is an error, never a
    /// backup (the caller removes `out`).
    pub(super) fn backup_to(&self, out: &Path, health: &DbHealth) -> Result<(), DbError> {
        let conn = self.read.get()?;
        conn.backup(rusqlite::MAIN_DB, out, None)
            .map_err(|e| health.note(DbError::from(e)))?;
        drop(conn);
        // Read-write, so that closing it removes the -wal and -shm files the check creates
        // beside the copy (the copy is in WAL mode, as its source).
        let copy = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let check = quick_check(&copy, None);
        drop(copy);
        match check {
            Check::Ok => Ok(()),
            Check::Corrupt(why) => {
                health.mark_corrupt();
                Err(DbError::unavailable(format!(
                    "the database is corrupt ({why}); no backup was written; restore the last good backup"
                )))
            }
            Check::Unfinished => Err(DbError::Internal(
                "the check of the backup copy was interrupted".into(),
            )),
            Check::Failed(why) => Err(DbError::unavailable(format!(
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
