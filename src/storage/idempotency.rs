//! Stored responses of POSTs sent with an `Idempotency-Key`, per API key, for 24 hours.

use crate::storage::sql::{params, Conn, OptionalExtension};

use crate::storage::Result;

/// How long a stored response is replayed.
pub const RETENTION_HOURS: i64 = 24;

/// A stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    pub method: String,
    pub path: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

fn cutoff() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(RETENTION_HOURS))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn find(conn: &Conn<'_>, api_key_id: &str, key: &str) -> Result<Option<Stored>> {
    conn.prepare_cached(
        "SELECT method, path, request_hash, status, body, location FROM idempotency_keys \
             WHERE api_key_id = ?1 AND key = ?2 AND created_at >= ?3",
    )?
    .query_row(params![api_key_id, key, cutoff()], |r| {
        Ok(Stored {
            method: r.get(0)?,
            path: r.get(1)?,
            request_hash: r.get(2)?,
            status: r.get(3)?,
            body: r.get(4)?,
            location: r.get(5)?,
        })
    })
    .optional()
}

pub fn store(conn: &Conn<'_>, api_key_id: &str, key: &str, s: &Stored, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (api_key_id, key, method, path, request_hash, status, body, location, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (api_key_id, key) DO UPDATE SET \
         method = excluded.method, path = excluded.path, request_hash = excluded.request_hash, \
         status = excluded.status, body = excluded.body, location = excluded.location, created_at = excluded.created_at",
    )?
    .execute(params![api_key_id, key, s.method, s.path, s.request_hash, s.status, s.body, s.location, now])?;
    Ok(())
}

/// Most rows one purge transaction deletes, so that the writer is never held for long.
pub const PURGE_BATCH: i64 = 1000;

/// Drops up to [`PURGE_BATCH`] expired entries; returns how many (call again while it
/// returns the full batch).
pub fn purge(conn: &Conn<'_>) -> Result<usize> {
    conn.prepare_cached(
        "DELETE FROM idempotency_keys WHERE (api_key_id, key) IN \
             (SELECT api_key_id, key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff(), PURGE_BATCH])
}
