//! API keys: only argon2id hashes of their secrets are stored.

use crate::storage::records::KeyInfo;
use crate::storage::sql::{params, Conn, OptionalExtension, Row};
use crate::storage::Result;

/// What verification needs of a key.
pub struct KeyRecord {
    pub info: KeyInfo,
    pub secret_hash: String,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("info", &self.info)
            .field("secret_hash", &"[redacted]")
            .finish()
    }
}

const COLS: &str =
    "id, name, scopes, created_at, expires_at, revoked_at, last_used_at, replaced_by, secret_hash";

fn info_from_row(r: &Row<'_>) -> crate::storage::Result<KeyInfo> {
    Ok(KeyInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: r
            .get::<_, String>(2)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
        last_used_at: r.get(6)?,
        replaced_by: r.get(7)?,
    })
}

pub fn insert(conn: &Conn<'_>, info: &KeyInfo, secret_hash: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![info.id, info.name, secret_hash, info.scopes.join(" "), info.created_at, info.expires_at])?;
    Ok(())
}

pub fn find(conn: &Conn<'_>, id: &str) -> Result<Option<KeyRecord>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE id = ?1"))?
        .query_row([id], |r| {
            Ok(KeyRecord {
                info: info_from_row(r)?,
                secret_hash: r.get(8)?,
            })
        })
        .optional()
}

/// Whether a key is still usable now: exists, not revoked, not expired.
pub fn is_active(conn: &Conn<'_>, id: &str, now: &str) -> Result<bool> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| active_sql("?1", "?2"));
    conn.prepare_cached(&SQL)?.exists(params![id, now])
}

/// The statement of [`is_active`] (a row when the key is usable) with `id` and `now` as given:
/// parameters, or quoted literals (see `KeyCheck::inline_sql`).
pub(crate) fn active_sql(id: &str, now: &str) -> String {
    format!(
        "SELECT 1 FROM api_keys WHERE id = {id} AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {now})"
    )
}

pub fn list(conn: &Conn<'_>) -> Result<Vec<KeyInfo>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM api_keys ORDER BY created_at, id"
    ))?;
    let rows = stmt
        .query_map((), info_from_row)?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Revokes a key; `None` if there is no such key, `Some(false)` if it was already revoked.
pub fn revoke(conn: &Conn<'_>, id: &str, now: &str) -> Result<Option<bool>> {
    if !conn
        .prepare_cached("SELECT 1 FROM api_keys WHERE id = ?1")?
        .exists([id])?
    {
        return Ok(None);
    }
    let n = conn
        .prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id, now])?;
    Ok(Some(n > 0))
}

/// Marks `id` as replaced by `successor` (rotation).
pub fn set_replaced_by(conn: &Conn<'_>, id: &str, successor: &str) -> Result<()> {
    conn.prepare_cached("UPDATE api_keys SET replaced_by = ?2 WHERE id = ?1")?
        .execute([id, successor])?;
    Ok(())
}

/// Records when keys were last used (batched by the server).
pub fn touch(conn: &Conn<'_>, batch: &[(String, String)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
    )?;
    for (id, at) in batch {
        stmt.execute([id, at])?;
    }
    Ok(())
}
