//! Storage: every rule of the data, written once against [`sql::Conn`], over two engines —
//! embedded SQLite (the default, [`sqlite`]) and PostgreSQL (SPEC §10, [`pg`]). [`Db`] is the
//! seam the HTTP layer uses: it runs a closure in a read snapshot or a write transaction on
//! whichever engine is configured, off the async executor. Nothing here knows HTTP.

pub mod cache;
pub mod cursor;
pub mod error;
pub mod events;
mod fts;
pub mod health;
pub mod idempotency;
pub mod key_check;
pub mod keys;
pub mod lookup;
pub mod members;
pub mod names;
pub mod operators;
pub mod orgs;
mod pg;
pub mod rate;
mod readers;
pub mod records;
pub mod search;
pub mod seed;
pub mod sessions;
pub mod sql;
mod sqlite;
pub mod stats;
pub mod tiers;
pub mod transfer;
pub mod users;
pub mod webhooks;
mod writer;

pub use error::{
    unavailable_reason, unique_violation, CallerError, Conflict, DbError, Invalid, OpenError,
    Result,
};
pub use key_check::KeyCheck;
pub use pg::redact as redact_url;
pub use sql::{schema_version, Conn, Engine};
pub use sqlite::{migrations, open_migrated};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::DatabaseConfig;
use writer::TypedJob;

/// A trigger-kept counter (`organizations`, `users`, `organizations_version`).
pub fn counter(conn: &Conn<'_>, name: &str) -> Result<i64, DbError> {
    if let Some(v) = conn.prefetched_counter(name) {
        return Ok(v);
    }
    conn.prepare_cached("SELECT value FROM counters WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

/// The database: either engine, and what the server keeps beside it.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    /// Whether the last write went through (false after a full disk or read-only file).
    writes_ok: Arc<AtomicBool>,
    /// The search index, page anchors and search matches of the organization order (see
    /// `cache::OrgCaches`).
    org_caches: Arc<cache::OrgCaches>,
    /// Rendered single-organization views (see `cache::DetailCache`).
    org_detail_cache: Arc<std::sync::Mutex<cache::DetailCache>>,
    /// Whether the SQLite file is still the one opened, and sound (always so on PostgreSQL).
    health: Arc<health::DbHealth>,
    /// The threads API reads run on with SQLite (see [`readers`]); PostgreSQL's reads, which
    /// mostly wait on the network, run on the blocking pool.
    readers: Option<readers::Readers>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Lite),
    Postgres(pg::Pg),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("engine", &self.engine())
            .field("at", &self.location())
            .finish_non_exhaustive()
    }
}

/// Opens (creating if needed) and migrates the configured database: PostgreSQL when
/// `cfg.url` is set, else the SQLite file at `cfg.path`.
pub fn open(cfg: &DatabaseConfig) -> Result<Db, OpenError> {
    let writes_ok = Arc::new(AtomicBool::new(true));
    let (backend, health) = if cfg.url.trim().is_empty() {
        let health = Arc::new(health::DbHealth::new(&cfg.path));
        let lite = sqlite::open(cfg, health.clone(), writes_ok.clone())?;
        (Backend::Sqlite(lite), health)
    } else {
        if !cfg.url.starts_with("postgres://") && !cfg.url.starts_with("postgresql://") {
            return Err(OpenError(format!(
                "database url {} is not a PostgreSQL URL; expected postgres://user:password@host:5432/dbname (or no url for the SQLite file)",
                pg::redact(&cfg.url)
            )));
        }
        let pg = pg::open(cfg)?;
        (
            Backend::Postgres(pg),
            Arc::new(health::DbHealth::unwatched()),
        )
    };
    let readers = match backend {
        Backend::Sqlite(_) => Some(
            readers::Readers::start(usize::try_from(cfg.pool_size).unwrap_or(4), "invois-read")
                .map_err(|e| OpenError(format!("cannot start the reader threads: {e}")))?,
        ),
        Backend::Postgres(_) => None,
    };
    Ok(Db {
        backend,
        writes_ok,
        org_caches: Arc::default(),
        org_detail_cache: Arc::default(),
        health,
        readers,
    })
}

impl Db {
    /// Which engine this database runs on.
    pub fn engine(&self) -> Engine {
        match &self.backend {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(l) => Some(l.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Where the data is, for messages: the file, or the URL with its password hidden.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(l) => l.path().display().to_string(),
            Backend::Postgres(p) => p.shown().to_owned(),
        }
    }

    /// Runs `f` for a request made with the key of `check`, in one read snapshot, off the
    /// async executor; the key is checked first in the same snapshot unless an earlier call
    /// of this request checked it.
    ///
    /// `f` may fail with any error that takes in a [`DbError`] (the HTTP layer's own, so
    /// that handlers mix storage calls with their own checks); storage's errors convert.
    pub async fn read<T, E, F>(&self, check: &KeyCheck, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        let check = check.is_owed().then(|| check.clone());
        self.read_with(check, f).await
    }

    /// As [`Db::read`], for work done for no API key (health checks, looking a key up).
    pub async fn read_internal<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        self.read_with(None, f).await
    }

    async fn read_with<T, E, F>(&self, check: Option<KeyCheck>, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        let db = self.clone();
        let job = move || match &db.backend {
            Backend::Postgres(p) => p.read_checked(check.as_ref(), f),
            Backend::Sqlite(_) => db.read_here(|c| {
                if let Some(k) = &check {
                    k.run(c)?;
                }
                f(c)
            }),
        };
        let out = match &self.readers {
            Some(readers) => readers.run(job).await,
            None => tokio::task::spawn_blocking(job)
                .await
                .map_err(|e| DbError::Internal(format!("blocking task: {e}")))?,
        };
        self.start_wanted_builds();
        out
    }

    /// Starts the search index build a read asked for, if it may start now: on a thread of
    /// its own, one at a time, so that no request waits for it (requests use SQL meanwhile).
    fn start_wanted_builds(&self) {
        // Every read calls this: the claim (one atomic load when nothing is wanted) comes
        // before any other work.
        if !self.org_caches.names().claim() {
            return;
        }
        let caches = self.org_caches.clone();
        let db = self.clone();
        let spawned = std::thread::Builder::new()
            .name("invois-search-index".into())
            .spawn(move || {
                let t = std::time::Instant::now();
                let limit = caches.names().limit();
                let built = db.read_here(|c| names::NameIndex::build(c, limit));
                caches.names().finish(built, t.elapsed());
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread to build the search index: {e}");
            self.org_caches.names().finish(
                Err(DbError::Internal(e.to_string())),
                std::time::Duration::ZERO,
            );
        }
    }

    /// Applies the `[cache]` limits and starts building the search index, so that the
    /// first searches of a new server find it.
    pub fn configure_caches(&self, cfg: &crate::config::CacheConfig) {
        self.org_caches.configure(cfg);
        self.org_detail_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .configure(cfg);
        self.org_caches.names().want();
        self.start_wanted_builds();
    }

    /// Waits up to `budget` for the search index build that [`Self::configure_caches`]
    /// started; whether it is done (built, too big or failed: no build runs any more).
    ///
    /// The server waits for it before it listens, so that its first searches find the index
    /// rather than the SQL plans: those are several times slower on PostgreSQL for short
    /// terms, and a crowd of them slows the build itself (a fresh server at 100k, 3,000
    /// distinct terms on 32 connections: p99 140 ms in the first 10 s against 27 ms in the
    /// next 10 s). Builds take about 35 ms per 100,000 organizations on SQLite and 350 ms on
    /// PostgreSQL.
    pub fn wait_for_search_index(&self, budget: std::time::Duration) -> bool {
        let started = std::time::Instant::now();
        while self.org_caches.names().building() {
            if started.elapsed() >= budget {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        true
    }

    fn read_here<T, E: CallerError>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.health.readable()?;
        let out = match &self.backend {
            Backend::Sqlite(l) => l.read(f),
            Backend::Postgres(p) => p.read(f),
        };
        out.map_err(|e| self.health.note(e))
    }

    /// Runs `f` in a write transaction, off the async executor, and answers once its
    /// changes are committed (or with its error, its changes rolled back).
    ///
    /// On SQLite, writes from concurrent requests are grouped: the writer thread runs every
    /// job that is waiting in one `BEGIN IMMEDIATE` transaction, each job inside its own
    /// savepoint (a failing job rolls back alone), and commits once for all of them. Nobody
    /// is answered before that commit, so durability is exactly that of one transaction per
    /// write, while the per-commit costs (WAL frames, FTS segment flushes) are shared. On
    /// PostgreSQL each write is a transaction of its own, serialized with every other write
    /// of every instance (see [`pg`]).
    ///
    /// The key of `check` is checked inside the write's transaction before `f` runs, always:
    /// a key revoked since the request began changes nothing.
    ///
    /// `f` may fail with any error that takes in a [`DbError`], as for [`Db::read`].
    pub async fn write<T, E, F>(&self, check: &KeyCheck, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: CallerError,
    {
        match &self.backend {
            Backend::Sqlite(l) => {
                let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
                let job = TypedJob {
                    f,
                    check: check.clone(),
                    reply,
                    queued: std::time::Instant::now(),
                };
                l.writer
                    .send(Box::new(job))
                    .map_err(|_| DbError::Internal("the writer thread is gone".into()))?;
                answer
                    .await
                    .map_err(|_| DbError::Internal("the writer thread dropped a write".into()))?
            }
            Backend::Postgres(_) => {
                let db = self.clone();
                let check = check.clone();
                tokio::task::spawn_blocking(move || {
                    let Backend::Postgres(p) = &db.backend else {
                        unreachable!()
                    };
                    let out = p.write(|c| {
                        check.run(c)?;
                        f(c)
                    });
                    db.note_write(out.as_ref().err().map(CallerError::is_unavailable));
                    out
                })
                .await
                .map_err(|e| DbError::Internal(format!("blocking task: {e}")))?
            }
        }
    }

    /// Records how a write went, for `/readyz`: `None` for success, `Some(true)` for "the
    /// database cannot write now".
    fn note_write(&self, failed_unavailable: Option<bool>) {
        match failed_unavailable {
            None => self.writes_ok.store(true, Ordering::Relaxed),
            Some(true) => self.writes_ok.store(false, Ordering::Relaxed),
            Some(false) => {}
        }
    }

    /// As [`Db::write`], for callers already off the executor: `check` is the request's key
    /// (checked inside the transaction before `f`), `None` for the CLI and seeding.
    pub fn write_blocking<T, F>(&self, check: Option<&KeyCheck>, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, DbError>,
    {
        let res = self.write_untracked(|tx| {
            if let Some(k) = check {
                k.run(tx)?;
            }
            f(tx)
        });
        self.note_write(res.as_ref().err().map(CallerError::is_unavailable));
        res
    }

    /// A write whose outcome does not count for readiness (housekeeping such as batched
    /// `last_used_at`: an in-place update can succeed on a full disk where inserts fail).
    pub fn write_untracked<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, DbError>,
    {
        self.health.writable()?;
        let out = match &self.backend {
            Backend::Sqlite(l) => l.write(f),
            Backend::Postgres(p) => p.write(f),
        };
        out.map_err(|e| self.health.note(e))
    }

    /// Bookkeeping that needs no ordering with writes (webhook claims): a
    /// transaction of its own that takes no write lock on PostgreSQL; `None` on SQLite,
    /// where such state lives in the process.
    pub fn bookkeeping<T, F>(&self, f: F) -> Option<Result<T, DbError>>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, DbError>,
    {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.unlocked(f)),
        }
    }

    /// On PostgreSQL, runs `f` outside any transaction block, each statement committing by
    /// itself (one round trip for one atomic statement); `None` on SQLite.
    pub fn autocommit<T, F>(&self, f: F) -> Option<Result<T, DbError>>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, DbError>,
    {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.autocommit(f)),
        }
    }

    /// Whether the database is still the file opened, and sound (see [`health`]).
    pub fn health(&self) -> &health::DbHealth {
        &self.health
    }

    /// What is kept of the organization order: search index, page anchors, search matches.
    pub fn org_caches(&self) -> Arc<cache::OrgCaches> {
        self.org_caches.clone()
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
        F: FnOnce(&Conn<'_>) -> Result<T, DbError>,
    {
        self.read_here(f)
    }

    /// Writes SQLite's WAL back into the main file (on shutdown); nothing on PostgreSQL.
    pub fn checkpoint(&self) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(l) => l.checkpoint(),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// An online, consistent, verified copy of the SQLite file into `out`. PostgreSQL has
    /// its own tools for this (`pg_dump`, base backups); `invois export` works on both.
    pub fn backup_to(&self, out: &Path) -> Result<(), DbError> {
        self.health.readable()?;
        match &self.backend {
            Backend::Sqlite(l) => l.backup_to(out, &self.health),
            Backend::Postgres(_) => Err(DbError::Internal(
                "backup copies an SQLite file; on PostgreSQL use pg_dump or invois export".into(),
            )),
        }
    }
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
            .read_blocking(|c| c.query_row("PRAGMA user_version", (), |r| r.get(0)))
            .unwrap();
        assert_eq!(v, schema_version());
    }

    /// A new database in a temporary directory, opened with the default settings as
    /// `adjust` changes them; the directory, the file's path and the database.
    fn temp_db(
        adjust: impl FnOnce(&mut DatabaseConfig),
    ) -> (tempfile::TempDir, std::path::PathBuf, Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut cfg = DatabaseConfig {
            path: path.clone(),
            ..DatabaseConfig::default()
        };
        adjust(&mut cfg);
        let db = open(&cfg).unwrap();
        (dir, path, db)
    }

    /// The writer does not checkpoint (no commit waits for one); the checkpointer thread
    /// copies the WAL into the database file by itself, with no call that checkpoints.
    #[test]
    fn committed_writes_reach_the_database_file_without_the_writer_checkpointing() {
        let (_dir, path, db) = temp_db(|_| {});
        let auto: i64 = db
            .write_blocking(None, |c| {
                c.query_row("PRAGMA wal_autocheckpoint", (), |r| r.get(0))
            })
            .unwrap();
        assert_eq!(auto, 0, "the writer connection must not checkpoint");
        let before = std::fs::metadata(&path).unwrap().len();
        db.write_blocking(None, |c| {
            c.execute_batch("CREATE TABLE scratch (b BLOB)")?;
            for _ in 0..1000 {
                c.execute("INSERT INTO scratch VALUES (zeroblob(4000))", ())?;
            }
            Ok(())
        })
        .unwrap();
        let grown = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::fs::metadata(&path).unwrap().len() >= before + 3_900_000
        });
        assert!(
            grown,
            "4 MB committed but the database file stayed at {before} bytes"
        );
    }

    /// Writes 40 KiB at a time through the writer thread while readers never leave the log,
    /// `writes` times, or (`until_shrunk`) until the log's file has shrunk (at most 30 s);
    /// the log's largest size, its size at the end, and the size it first shrank to.
    fn wal_under_steady_reads(
        limit_mb: u64,
        writes: u32,
        until_shrunk: bool,
    ) -> (u64, u64, Option<u64>) {
        let (_dir, path, db) = temp_db(|c| c.wal_limit_mb = limit_mb);
        db.write_blocking(None, |c| {
            c.execute_batch(
                "CREATE TABLE scratch (b BLOB); \
                 INSERT INTO api_keys (id, name, secret_hash, scopes, created_at) \
                 VALUES ('key-1', 'k', 'x', 'write:users', '2026-01-01T00:00:00Z');",
            )
        })
        .unwrap();
        // Three readers, each always inside a read transaction of 5 ms: one of them is on the
        // log at every moment, so a passive checkpoint can never let the log start over.
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = db.read_blocking(|c| {
                            let n: i64 =
                                c.query_row("SELECT count(*) FROM scratch", (), |r| r.get(0))?;
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            Ok(n)
                        });
                    }
                })
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let wal = path.with_extension("db-wal");
        let check = key_check::KeyCheck::owed("key-1".into());
        let (mut peak, mut shrunk) = (0, None);
        let started = std::time::Instant::now();
        for _ in 0..writes {
            rt.block_on(db.write(&check, |c| {
                c.execute("INSERT INTO scratch VALUES (zeroblob(40960))", ())
                    .map(drop)
            }))
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if size < peak && shrunk.is_none() {
                shrunk = Some(size);
            }
            peak = peak.max(size);
            if until_shrunk && (shrunk.is_some() || started.elapsed().as_secs() >= 30) {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        let end = std::fs::metadata(&wal).map_or(0, |m| m.len());
        (peak, end, shrunk)
    }

    #[test]
    fn the_write_ahead_log_starts_over_past_its_limit_under_steady_reads() {
        let mib = 1024 * 1024;
        // With a 2 MiB limit the log starts over and its file is cut back to the limit, while
        // the readers are on it. (When is timing: the limit is checked against the size the
        // checkpointer reports every 200 ms, and a reader descheduled inside its transaction
        // puts a restart off.)
        let (peak, _, shrunk) = wal_under_steady_reads(2, 100_000, true);
        let shrunk = shrunk.unwrap_or_else(|| {
            panic!("limit 2 MiB: the log never started over (it reached {peak} bytes)")
        });
        assert!(
            shrunk <= 3 * mib,
            "limit 2 MiB: the log went from {peak} to {shrunk} bytes, not back to the limit"
        );
        // With no limit it holds every write (48 MiB).
        let (peak, end, shrunk) = wal_under_steady_reads(0, 1200, false);
        assert!(
            peak >= 40 * mib && end >= 40 * mib && shrunk.is_none(),
            "no limit: the log should hold most of the 48 MiB written (peak {peak}, end {end}, shrunk to {shrunk:?})"
        );
    }

    /// The shutdown checkpoint empties the log even while another connection checkpoints
    /// (as the checkpointer thread does every 200 ms): SQLite gives up on the checkpoint lock
    /// at once, with no error, so a single try left the log behind now and then.
    #[test]
    fn the_shutdown_checkpoint_empties_the_log_beside_a_concurrent_checkpoint() {
        let (_dir, path, db) = temp_db(|_| {});
        db.write_blocking(None, |c| c.execute_batch("CREATE TABLE scratch (b BLOB)"))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let other = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let c = rusqlite::Connection::open(&path).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", (), |_| Ok(()));
                }
            })
        };
        let wal = path.with_extension("db-wal");
        let mut left = Vec::new();
        for i in 0..300 {
            db.write_blocking(None, |c| {
                c.execute("INSERT INTO scratch VALUES (zeroblob(40960))", ())
                    .map(drop)
            })
            .unwrap();
            db.checkpoint().unwrap();
            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if size != 0 {
                left.push((i, size));
            }
        }
        stop.store(true, Ordering::Relaxed);
        other.join().unwrap();
        assert!(left.is_empty(), "log left after checkpoint: {left:?}");
    }

    /// A reader that stays on an old snapshot past the busy timeout keeps the log from being
    /// emptied: the shutdown checkpoint says so instead of returning as if it had.
    #[test]
    fn a_shutdown_checkpoint_that_cannot_empty_the_log_is_an_error() {
        let (_dir, path, db) = temp_db(|c| c.busy_timeout_ms = 100);
        db.write_blocking(None, |c| c.execute_batch("CREATE TABLE scratch (b BLOB)"))
            .unwrap();
        let reader = rusqlite::Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let n: i64 = reader
            .query_row("SELECT count(*) FROM scratch", (), |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        db.write_blocking(None, |c| {
            c.execute("INSERT INTO scratch VALUES (zeroblob(4096))", ())
                .map(drop)
        })
        .unwrap();
        let err = db.checkpoint().unwrap_err();
        assert!(
            err.to_string()
                .contains("the write-ahead log could not be emptied within 100 ms"),
            "{err}"
        );
        reader.execute_batch("COMMIT").unwrap();
        // (A try can still meet the checkpointer thread for 100 ms on a loaded machine.)
        let emptied = (0..50).any(|_| db.checkpoint().is_ok());
        assert!(emptied, "the log could not be emptied once the reader left");
        assert_eq!(
            std::fs::metadata(path.with_extension("db-wal"))
                .unwrap()
                .len(),
            0
        );
    }

    /// A new server's first searches find the index: the build that `configure_caches`
    /// starts is waited for (the server does so before it listens).
    #[test]
    fn the_search_index_begun_at_start_up_can_be_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatabaseConfig {
            path: dir.path().join("t.db"),
            ..DatabaseConfig::default()
        };
        seed::bulk(&cfg, 50_000, 10, 1, &|_, _, _| {}).unwrap();
        let db = open(&cfg).unwrap();
        db.configure_caches(&crate::config::CacheConfig::default());
        assert!(db.wait_for_search_index(std::time::Duration::from_secs(30)));
        let held = db
            .org_caches
            .names()
            .held()
            .expect("no index after the wait");
        assert_eq!(held.len(), 50_000);
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
