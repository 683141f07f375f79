//! Memberships of users in organizations.

use crate::storage::sql::{params, Conn, OptionalExtension, Row};

use crate::storage::records::{Membership, UserBrief};
use crate::storage::search::Search;
use crate::storage::PageReq;
use crate::storage::{Conflict, DbError, Result};

const COLS: &str =
    "m.id, m.user_id, m.organization_id, m.role, m.created_at, u.name, u.email, m.metadata";

fn from_row(r: &Row<'_>) -> crate::storage::Result<Membership> {
    let user_id: String = r.get(1)?;
    Ok(Membership {
        id: r.get(0)?,
        user: UserBrief {
            id: user_id.clone(),
            name: r.get(5)?,
            email: r.get(6)?,
        },
        user_id,
        organization_id: r.get(2)?,
        role: r.get(3)?,
        created_at: r.get(4)?,
        metadata: r.get(7)?,
    })
}

/// A membership of organization `org_id`.
pub fn get(conn: &Conn<'_>, org_id: &str, member_id: &str) -> Result<Option<Membership>> {
    conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = ?1 AND m.organization_id = ?2"
        ))?
        .query_row([member_id, org_id], from_row)
        .optional()
}

/// The member-list filter: the organization `?1`, the term `?2` (a [`Search::needle`]) and
/// the role `?3`, each of the last two `NULL` for "any".
fn member_filter(conn: &Conn<'_>) -> String {
    format!(
        "m.organization_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR {}) AND (CAST(?3 AS TEXT) IS NULL OR m.role = ?3)",
        Search::contains(conn, "u.search_fold", 2)
    )
}

/// Members of an organization by join date, filtered by user name/email and role.
pub fn list(
    conn: &Conn<'_>,
    org_id: &str,
    query: Option<&str>,
    role: Option<&str>,
    page: PageReq,
) -> Result<(Vec<Membership>, i64)> {
    let needle = query.map(|q| Search::new(q).needle(conn));
    let filter = member_filter(conn);
    let total: i64 = if needle.is_none() && role.is_none() {
        conn.prepare_cached("SELECT member_count FROM organizations WHERE id = ?1")?
            .query_row([org_id], |r| r.get(0))?
    } else {
        conn.prepare_cached(&format!(
            "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE {filter}"
        ))?
        .query_row(params![org_id, needle, role], |r| r.get(0))?
    };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM memberships m JOIN users u ON u.id = m.user_id WHERE {filter} \
             ORDER BY m.created_at, m.id LIMIT ?4 OFFSET ?5"
        ))?
        .query_map(
            params![
                org_id,
                needle,
                role,
                i64::from(page.per_page),
                page.offset()
            ],
            from_row,
        )?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// Members after a cursor position in join order, and the next page's cursor.
pub fn list_after(
    conn: &Conn<'_>,
    org_id: &str,
    query: Option<&str>,
    role: Option<&str>,
    after: Option<(String, String)>,
    limit: u32,
) -> Result<(Vec<Membership>, Option<String>)> {
    let needle = query.map(|q| Search::new(q).needle(conn));
    let (k, id) = after.unwrap_or_default();
    let filter = member_filter(conn);
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM memberships m JOIN users u ON u.id = m.user_id WHERE {filter} \
             AND (m.created_at, m.id) > (?4, ?5) ORDER BY m.created_at, m.id LIMIT ?6"
        ))?
        .query_map(
            params![org_id, needle, role, k, id, i64::from(limit)],
            from_row,
        )?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    let next = if rows.len() == limit as usize {
        rows.last()
            .map(|m| crate::storage::cursor::encode_cursor(&m.created_at, &m.id))
    } else {
        None
    };
    Ok((rows, next))
}

pub fn already_member() -> DbError {
    DbError::Conflict {
        what: Conflict::AlreadyMember,
    }
}

/// Adds a user to an organization; returns the membership id.
pub fn create(
    conn: &Conn<'_>,
    org_id: &str,
    user_id: &str,
    role: &str,
    metadata: &str,
    now: &str,
) -> Result<String> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND organization_id = ?2")?
        .exists([user_id, org_id])?;
    if exists {
        return Err(already_member());
    }
    let id = crate::domain::new_id("member");
    conn.prepare_cached(
        "INSERT INTO memberships (id, user_id, organization_id, role, created_at, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, user_id, org_id, role, now, metadata])
    .map_err(|e| match e {
        DbError::Duplicate { .. } => already_member(),
        other => other,
    })?;
    Ok(id)
}

/// Changes a member's role; `None` if no such membership, else whether it changed.
pub fn set_role(
    conn: &Conn<'_>,
    org_id: &str,
    member_id: &str,
    role: &str,
) -> Result<Option<bool>> {
    let cur: Option<String> = conn
        .prepare_cached("SELECT role FROM memberships WHERE id = ?1 AND organization_id = ?2")?
        .query_row([member_id, org_id], |r| r.get(0))
        .optional()?;
    let Some(cur) = cur else { return Ok(None) };
    if cur == role {
        return Ok(Some(false));
    }
    conn.prepare_cached("UPDATE memberships SET role = ?3 WHERE id = ?1 AND organization_id = ?2")?
        .execute(params![member_id, org_id, role])?;
    Ok(Some(true))
}

/// Replaces a member's metadata (canonical text); `None` if no such membership, else whether
/// it changed.
pub fn set_metadata(
    conn: &Conn<'_>,
    org_id: &str,
    member_id: &str,
    metadata: &str,
) -> Result<Option<bool>> {
    let cur: Option<String> = conn
        .prepare_cached("SELECT metadata FROM memberships WHERE id = ?1 AND organization_id = ?2")?
        .query_row([member_id, org_id], |r| r.get(0))
        .optional()?;
    let Some(cur) = cur else { return Ok(None) };
    if cur == metadata {
        return Ok(Some(false));
    }
    conn.prepare_cached(
        "UPDATE memberships SET metadata = ?3 WHERE id = ?1 AND organization_id = ?2",
    )?
    .execute(params![member_id, org_id, metadata])?;
    Ok(Some(true))
}

pub fn delete(conn: &Conn<'_>, org_id: &str, member_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM memberships WHERE id = ?1 AND organization_id = ?2")?
        .execute([member_id, org_id])?
        > 0)
}
