//! The audit trail: one event per write, in the write's own transaction.

use crate::storage::records::Event;
use crate::storage::sql::{params, Conn};
use crate::storage::Result;

/// Records an event.
pub fn record(
    conn: &Conn<'_>,
    kind: &str,
    actor: Option<&str>,
    subject: &str,
    changes: &[&str],
    now: &str,
) -> Result<()> {
    let changes = serde_json::to_string(changes).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO events (id, type, actor_key_id, subject_id, changes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![crate::domain::new_id("evt"), kind, actor, subject, changes, now])?;
    Ok(())
}

/// Newest first, strictly older than the event `after` (a cursor: an event id).
pub fn list(
    conn: &Conn<'_>,
    kind: Option<&str>,
    subject: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, type, actor_key_id, subject_id, changes, created_at FROM events \
         WHERE (CAST(?1 AS TEXT) IS NULL OR type = ?1) AND (CAST(?2 AS TEXT) IS NULL OR subject_id = ?2) \
         AND (CAST(?3 AS TEXT) IS NULL OR seq < (SELECT seq FROM events WHERE id = ?3)) ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(params![kind, subject, after, i64::from(limit)], |r| {
            Ok(Event {
                id: r.get(0)?,
                kind: r.get(1)?,
                actor_key_id: r.get(2)?,
                subject_id: r.get(3)?,
                changes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                created_at: r.get(5)?,
            })
        })?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Whether an event with this id exists (to refuse unknown cursors).
pub fn exists(conn: &Conn<'_>, id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
        .exists([id])
}
