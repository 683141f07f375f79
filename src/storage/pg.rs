//! The PostgreSQL engine (SPEC §10): a pool of connections (the `postgres` crate, the
//! blocking client of tokio-postgres, run off the async executor as SQLite is), embedded
//! migrations, and the transactions [`Conn`] runs in.
//!
//! - A read is one `REPEATABLE READ, READ ONLY` transaction: one snapshot for all its
//!   statements, as a read transaction on SQLite.
//! - A write is one transaction that first takes a transaction-scoped advisory lock, the
//!   same for every write of every instance: writes are serialized across instances exactly
//!   as SQLite's one writer serializes them, so every rule that SQLite's single writer
//!   guarantees (check-then-insert, If-Match, Idempotency-Key, the event feed's order equal
//!   to commit order) holds across instances with the same code. Reads never take it.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, IsolationLevel};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{DbError, OpenError};
use super::key_check::KeyCheck;
use super::sql::{Conn, PgClient, PgTx};
use crate::config::DatabaseConfig;

/// The schema, by version (the same numbers as SQLite's migrations), oldest first. Append
/// only; version 3 is the whole schema that SQLite reaches with its first three files.
const MIGRATIONS: &[(i64, &str)] = &[
    (3, include_str!("../../sql/postgres/003_initial.sql")),
    (4, include_str!("../../sql/postgres/004_console.sql")),
    (5, include_str!("../../sql/postgres/005_metadata.sql")),
    (6, include_str!("../../sql/postgres/006_webhooks.sql")),
    (7, include_str!("../../sql/postgres/007_delivery_data.sql")),
    (
        8,
        include_str!("../../sql/postgres/008_members_covering.sql"),
    ),
    (9, include_str!("../../sql/postgres/009_fts_per_commit.sql")),
    (10, include_str!("../../sql/postgres/010_users_brief.sql")),
];

/// The advisory lock every write holds until it commits (see the module's docs).
const WRITE_LOCK: i64 = 0x696e_766f_6973; // "invois"
/// The advisory lock of the migration step (instances starting together migrate once).
const MIGRATE_LOCK: i64 = 0x696e_766f_6974;

/// How long a session may sit idle inside a transaction before the server ends it (our
/// transactions never wait on anything but the database; only a stalled process does).
const IDLE_IN_TRANSACTION_MS: u64 = 60_000;

/// The connection manager of the pool: connects with TLS as the URL's `sslmode` asks, and
/// sets each session's statement timeout and time zone.
struct Manager {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    statement_timeout_ms: u64,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgClient, postgres::Error> {
        let mut client = self.config.connect(self.tls.clone())?;
        // A session stalled inside a transaction would hold the write lock: the server ends it.
        client.batch_execute(&format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}; SET TIME ZONE 'UTC'",
            self.statement_timeout_ms, IDLE_IN_TRANSACTION_MS
        ))?;
        Ok(PgClient::new(client))
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), postgres::Error> {
        conn.client().simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.client().is_closed()
    }
}

/// The pool over one PostgreSQL database.
#[derive(Clone)]
pub(super) struct Pg {
    pool: r2d2::Pool<Manager>,
    /// The URL with any password hidden, for messages.
    shown: Arc<str>,
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    match auth.and_then(|a| a.split_once(':')) {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Splits `sslrootcert=FILE` off the URL (tokio-postgres does not know it): the CA
/// certificates to trust instead of the Mozilla roots.
fn split_root_cert(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut cert = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslrootcert=") {
            Some(f) => {
                cert = Some(f.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, cert)
}

fn tls(root_cert: Option<&str>) -> Result<MakeRustlsConnect, OpenError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| OpenError(format!("cannot read sslrootcert {file}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(OpenError(format!(
                    "sslrootcert {file} holds no usable certificate"
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| OpenError(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Connects, migrates and builds the pool. Runs on a thread of its own: the blocking client
/// must not run inside an async runtime, and `open` is called from one (start-up, tests).
pub(super) fn open(cfg: &DatabaseConfig) -> Result<Pg, OpenError> {
    let cfg = cfg.clone();
    std::thread::spawn(move || open_here(&cfg))
        .join()
        .map_err(|_| OpenError("opening the PostgreSQL database panicked".into()))?
}

fn open_here(cfg: &DatabaseConfig) -> Result<Pg, OpenError> {
    let shown: Arc<str> = redact(&cfg.url).into();
    let (url, root_cert) = split_root_cert(&cfg.url);
    let mut config = postgres::Config::from_str(&url).map_err(|e| {
        OpenError(format!(
            "invalid database url {shown}: {e}; expected postgres://user:password@host:5432/dbname"
        ))
    })?;
    let wait = Duration::from_secs(cfg.connect_timeout_secs.max(1));
    config.connect_timeout(wait);
    if config.get_application_name().is_none() {
        config.application_name("invois");
    }
    // The server's NOTICEs ("relation … already exists, skipping" from the migration check on
    // every start) are no news: logged at debug, not as a second line of a command's output.
    config.notice_callback(|n| match n.parsed_severity() {
        Some(postgres::error::Severity::Warning) => log::warn!("PostgreSQL: {}", n.message()),
        _ => log::debug!("PostgreSQL: {}", n.message()),
    });
    let manager = Manager {
        config,
        tls: tls(root_cert.as_deref())?,
        statement_timeout_ms: cfg.statement_timeout_ms,
    };
    let mut first = r2d2::ManageConnection::connect(&manager).map_err(|e| {
        let hint = match e.as_db_error().map(|d| d.code().code()) {
            Some("3D000") => "; create it first (createdb -E UTF8 NAME) or fix the URL",
            Some("28P01" | "28000") => "; check the user and password in the URL",
            None => "; check that the server runs and the host and port are right",
            _ => "",
        };
        OpenError(format!(
            "cannot connect to {shown}: {}{hint}",
            pg_message(&e)
        ))
    })?;
    migrate(first.client()).map_err(|e| OpenError(format!("cannot migrate {shown}: {e}")))?;
    drop(first);
    let pool = r2d2::Pool::builder()
        .max_size(cfg.pool_size.max(1))
        .min_idle(Some(1))
        .test_on_check_out(false)
        .connection_timeout(wait)
        .build(manager)
        .map_err(|e| OpenError(format!("cannot open a pool on {shown}: {e}")))?;
    Ok(Pg { pool, shown })
}

/// The server's own message when it sent one (the driver's `Display` says only "db error").
pub fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s = format!("{s}: {inner}");
                src = inner.source();
            }
            s
        }
    }
}

/// Applies the migrations this database has not seen, one instance at a time.
fn migrate(client: &mut Client) -> Result<(), String> {
    let msg = |e: postgres::Error| pg_message(&e);
    let mut tx = client.transaction().map_err(msg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(msg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .map_err(msg)?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .map_err(msg)?
        .get(0);
    if current > super::sql::schema_version() {
        return Err(format!(
            "the database has schema version {current}, newer than this invois supports ({}); upgrade invois",
            super::sql::schema_version()
        ));
    }
    for (version, sql) in MIGRATIONS {
        if *version > current {
            tx.batch_execute(sql).map_err(msg)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &crate::domain::now()],
            )
            .map_err(msg)?;
        }
    }
    tx.commit().map_err(msg)
}

impl Pg {
    /// The URL, password hidden.
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// A pooled connection for a read, its wait measured.
    fn reader(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        let asked = std::time::Instant::now();
        let pooled = self.pool.get().map_err(DbError::from)?;
        crate::metrics::db_wait(super::Engine::Postgres, crate::metrics::Pool::Read, asked);
        Ok(pooled)
    }

    /// As [`Pg::read`], for the API's reads, with fewer round trips to the server: opening
    /// the snapshot, reading the `counters` rows (which most reads need; see
    /// `storage::counter`) and checking `key` go in one simple-query message, and `f` runs
    /// in the snapshot so opened. A search or an organization view goes from five or six
    /// round trips to three or four.
    pub(super) fn read_checked<T, E: From<DbError>>(
        &self,
        key: Option<&KeyCheck>,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        use postgres::SimpleQueryMessage as M;
        let mut pooled = self.reader()?;
        let (client, stmts) = pooled.parts();
        let inline = key.and_then(KeyCheck::inline_sql);
        let mut batch = String::from(
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT name, value FROM counters;",
        );
        if let Some(sql) = &inline {
            batch.push_str(sql);
        }
        let msgs = match client.simple_query(&batch) {
            Ok(m) => m,
            Err(e) => {
                // The snapshot may have opened before a later statement failed.
                let _ = client.batch_execute("ROLLBACK");
                return Err(DbError::from(e).into());
            }
        };
        // Each statement's rows end with its CommandComplete: 0 opens the snapshot, 1 is
        // the counters, 2 the key check.
        let (mut at, mut counters, mut key_rows) = (0, HashMap::new(), 0);
        for m in msgs {
            match m {
                M::Row(r) if at == 1 => {
                    if let (Some(name), Some(v)) =
                        (r.get(0), r.get(1).and_then(|v| v.parse::<i64>().ok()))
                    {
                        counters.insert(name.to_owned(), v);
                    }
                }
                M::Row(_) if at == 2 => key_rows += 1,
                M::CommandComplete(_) => at += 1,
                _ => {}
            }
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let (Some(k), Some(_)) = (key, &inline) {
                k.checked(key_rows > 0)?;
            }
            let conn = Conn::Postgres(PgTx::opened(&mut *client, &mut *stmts, counters));
            if let (Some(k), None) = (key, &inline) {
                k.run(&conn)?;
            }
            f(&conn)
        }));
        // Ending a read transaction cannot lose anything; a connection that cannot end it
        // is broken, and the pool drops it.
        let end = client.batch_execute(if matches!(run, Ok(Ok(_))) {
            "COMMIT"
        } else {
            "ROLLBACK"
        });
        match (run, end) {
            (Err(panic), _) => std::panic::resume_unwind(panic),
            (Ok(Ok(_)), Err(e)) => Err(DbError::from(e).into()),
            (Ok(out), _) => out,
        }
    }

    /// Runs `f` in one read-only snapshot.
    pub(super) fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut pooled = self.reader()?;
        let (client, stmts) = pooled.parts();
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(DbError::from)?;
        let conn = Conn::Postgres(PgTx::new(tx, stmts));
        let out = f(&conn);
        let Conn::Postgres(tx) = conn else {
            unreachable!()
        };
        // Ending a read transaction cannot lose anything.
        let end = if out.is_ok() {
            tx.commit()
        } else {
            tx.rollback()
        };
        match (end, out) {
            (Err(e), Ok(_)) => Err(e.into()),
            (_, out) => out,
        }
    }

    /// Runs `f` in one write transaction, serialized with every other write (see the
    /// module's docs); commits when `f` succeeds.
    pub(super) fn write<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let asked = std::time::Instant::now();
        let mut pooled = self.pool.get().map_err(DbError::from)?;
        let (client, stmts) = pooled.parts();
        let mut tx = client.transaction().map_err(DbError::from)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(DbError::from)?;
        crate::metrics::db_wait(super::Engine::Postgres, crate::metrics::Pool::Write, asked);
        let conn = Conn::Postgres(PgTx::new(tx, stmts));
        let out = f(&conn);
        let Conn::Postgres(tx) = conn else {
            unreachable!()
        };
        match out {
            Ok(v) => {
                tx.commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback();
                Err(e)
            }
        }
    }

    /// Runs `f` in a transaction of its own that takes no lock (bookkeeping such as webhook
    /// claims, which need no ordering with writes).
    pub(super) fn unlocked<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let asked = std::time::Instant::now();
        let mut pooled = self.pool.get()?;
        crate::metrics::db_wait(super::Engine::Postgres, crate::metrics::Pool::Read, asked);
        let (client, stmts) = pooled.parts();
        let tx = client.transaction()?;
        let conn = Conn::Postgres(PgTx::new(tx, stmts));
        let out = f(&conn);
        let Conn::Postgres(tx) = conn else {
            unreachable!()
        };
        let v = out?;
        tx.commit()?;
        Ok(v)
    }

    /// Runs `f` on a session outside any transaction block: each statement commits by
    /// itself, with no `BEGIN`/`COMMIT` round trips (for work that is one atomic statement,
    /// such as a rate-limit upsert).
    pub(super) fn autocommit<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut pooled = self.pool.get()?;
        let (client, stmts) = pooled.parts();
        let conn = Conn::Postgres(PgTx::autocommit(client, stmts));
        f(&conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_root_certs_split_off() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/invois"),
            "postgres://app:***@db.example:5432/invois"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(
            split_root_cert("postgres://a@h/db?sslmode=require&sslrootcert=/etc/ca.pem"),
            (
                "postgres://a@h/db?sslmode=require".to_owned(),
                Some("/etc/ca.pem".to_owned())
            )
        );
        assert_eq!(
            split_root_cert("postgres://a@h/db?sslrootcert=ca.pem"),
            ("postgres://a@h/db".to_owned(), Some("ca.pem".to_owned()))
        );
    }
}
