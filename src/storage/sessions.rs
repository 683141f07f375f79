//! Console sessions, kept in the database so that every instance on one PostgreSQL database
//! knows them. The cookie holds a random token; a row holds only its SHA-256.
//!
//! Retention: a session ends when it has been idle for the idle limit or has lived for the
//! absolute limit (`[console]`); such rows are refused at once and deleted by [`purge`]
//! (run by `jobs`), and logging out deletes the row.

use crate::storage::sql::{params, Conn, OptionalExtension};
use crate::storage::Result;

/// A live session with its operator.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub operator_id: String,
    pub operator_email: String,
    pub csrf: String,
    pub created_at: String,
    pub last_seen_at: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("operator_id", &self.operator_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// Session times: RFC 3339 UTC with milliseconds, fixed width, so that text order is time
/// order on both engines.
pub fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The cut-offs of a session's life: it is live while seen after `idle_after` and created
/// after `created_after`.
#[derive(Debug, Clone)]
pub struct Cutoffs {
    pub idle_after: String,
    pub created_after: String,
}

impl Cutoffs {
    /// The cut-offs now, for sessions that end after `idle` without a request or `max` after
    /// they began.
    pub fn now(idle: chrono::Duration, max: chrono::Duration) -> Self {
        let now = chrono::Utc::now();
        Self {
            idle_after: stamp(now - idle),
            created_after: stamp(now - max),
        }
    }
}

pub fn create(
    conn: &Conn<'_>,
    token_hash: &str,
    operator_id: &str,
    csrf: &str,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, operator_id, csrf, created_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![token_hash, operator_id, csrf, now])?;
    Ok(())
}

/// The session with this token hash, whether live or not (the caller judges its times).
pub fn get(conn: &Conn<'_>, token_hash: &str) -> Result<Option<Session>> {
    conn.prepare_cached(
        "SELECT s.token_hash, s.operator_id, o.email, s.csrf, s.created_at, s.last_seen_at \
         FROM sessions s JOIN operators o ON o.id = s.operator_id WHERE s.token_hash = ?1",
    )?
    .query_row([token_hash], |r| {
        Ok(Session {
            token_hash: r.get(0)?,
            operator_id: r.get(1)?,
            operator_email: r.get(2)?,
            csrf: r.get(3)?,
            created_at: r.get(4)?,
            last_seen_at: r.get(5)?,
        })
    })
    .optional()
}

impl Session {
    /// Whether the session is still live under `c`.
    pub fn is_live(&self, c: &Cutoffs) -> bool {
        self.last_seen_at > c.idle_after && self.created_at > c.created_after
    }
}

/// Whether the session exists and is live under `c` (the check every console write runs in
/// its own transaction).
pub fn is_live(conn: &Conn<'_>, token_hash: &str, c: &Cutoffs) -> Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM sessions WHERE token_hash = ?1 AND last_seen_at > ?2 AND created_at > ?3",
    )?
    .exists(params![token_hash, c.idle_after, c.created_after])
}

/// Records a request of the session (moves its idle limit).
pub fn touch(conn: &Conn<'_>, token_hash: &str, now: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1 AND last_seen_at < ?2",
    )?
    .execute([token_hash, now])?;
    Ok(())
}

/// Ends a session (logout, or found expired).
pub fn delete(conn: &Conn<'_>, token_hash: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([token_hash])?
        > 0)
}

/// Deletes every session no longer live under `c`; returns how many.
pub fn purge(conn: &Conn<'_>, c: &Cutoffs) -> Result<usize> {
    conn.prepare_cached("DELETE FROM sessions WHERE last_seen_at <= ?1 OR created_at <= ?2")?
        .execute([&c.idle_after, &c.created_after])
}
