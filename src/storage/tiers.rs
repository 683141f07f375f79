//! Premium tiers.

use crate::storage::sql::{params, Conn, OptionalExtension, Row};

use crate::storage::records::{Tier, TierDetail, TierLimits};
use crate::storage::PageReq;
use crate::storage::{Conflict, DbError, Result};

/// Features are stored as a JSON array; a damaged value reads as no features.
pub fn parse_features(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

const COLS: &str =
    "id, name, features, max_users, max_storage, api_calls_per_month, created_at, updated_at";

fn from_row(r: &Row<'_>) -> crate::storage::Result<Tier> {
    Ok(Tier {
        id: r.get(0)?,
        name: r.get(1)?,
        features: parse_features(&r.get::<_, String>(2)?),
        limits: TierLimits {
            max_users: r.get(3)?,
            max_storage: r.get(4)?,
            api_calls_per_month: r.get(5)?,
        },
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn exists(conn: &Conn<'_>, id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM premium_tiers WHERE id = ?1")?
        .exists([id])
}

pub fn get(conn: &Conn<'_>, id: &str) -> Result<Option<Tier>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM premium_tiers WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

pub fn get_detail(conn: &Conn<'_>, id: &str) -> Result<Option<TierDetail>> {
    Ok(get(conn, id)?.map(|t| TierDetail {
        id: t.id,
        name: t.name,
        features: t.features,
        limits: t.limits,
    }))
}

pub fn list(conn: &Conn<'_>, page: PageReq) -> Result<(Vec<Tier>, i64)> {
    let total: i64 = conn.query_row("SELECT count(*) FROM premium_tiers", (), |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM premium_tiers ORDER BY name, id LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt
        .query_map(params![i64::from(page.per_page), page.offset()], from_row)?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// Validated tier fields; on update `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TierInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub features: Option<Vec<String>>,
    pub max_users: Option<Option<i64>>,
    pub max_storage: Option<Option<String>>,
    pub api_calls_per_month: Option<Option<i64>>,
}

fn id_conflict(id: &str) -> DbError {
    DbError::Conflict {
        what: Conflict::TierIdTaken { id: id.to_owned() },
    }
}

pub fn create(conn: &Conn<'_>, t: &TierInput, now: &str) -> Result<String> {
    let id =
        t.id.clone()
            .unwrap_or_else(|| crate::domain::new_id("tier"));
    if exists(conn, &id)? {
        return Err(id_conflict(&id));
    }
    let features = serde_json::to_string(t.features.as_deref().unwrap_or(&[]))
        .map_err(|e| DbError::Internal(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO premium_tiers (id, name, features, max_users, max_storage, api_calls_per_month, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        id,
        t.name,
        features,
        t.max_users.flatten(),
        t.max_storage.clone().flatten(),
        t.api_calls_per_month.flatten(),
        now
    ])?;
    Ok(id)
}

/// Applies `t`; the columns that changed, or `None` if no such tier.
pub fn update(
    conn: &Conn<'_>,
    id: &str,
    t: &TierInput,
    now: &str,
) -> Result<Option<Vec<&'static str>>> {
    let Some(cur) = get(conn, id)? else {
        return Ok(None);
    };
    let mut changed = Vec::new();
    let name = match &t.name {
        Some(n) if *n != cur.name => {
            changed.push("name");
            n.clone()
        }
        _ => cur.name,
    };
    let features = match &t.features {
        Some(f) if *f != cur.features => {
            changed.push("features");
            f.clone()
        }
        _ => cur.features,
    };
    let max_users = match t.max_users {
        Some(v) if v != cur.limits.max_users => {
            changed.push("max_users");
            v
        }
        _ => cur.limits.max_users,
    };
    let max_storage = match &t.max_storage {
        Some(v) if *v != cur.limits.max_storage => {
            changed.push("max_storage");
            v.clone()
        }
        _ => cur.limits.max_storage,
    };
    let calls = match t.api_calls_per_month {
        Some(v) if v != cur.limits.api_calls_per_month => {
            changed.push("api_calls_per_month");
            v
        }
        _ => cur.limits.api_calls_per_month,
    };
    if !changed.is_empty() {
        let features =
            serde_json::to_string(&features).map_err(|e| DbError::Internal(e.to_string()))?;
        conn.prepare_cached(
            "UPDATE premium_tiers SET name = ?2, features = ?3, max_users = ?4, max_storage = ?5, \
             api_calls_per_month = ?6, updated_at = ?7 WHERE id = ?1",
        )?
        .execute(params![
            id,
            name,
            features,
            max_users,
            max_storage,
            calls,
            now
        ])?;
    }
    Ok(Some(changed))
}

/// How many organizations use a tier.
pub fn usage(conn: &Conn<'_>, id: &str) -> Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM organizations WHERE premium_tier_id = ?1")?
        .query_row([id], |r| r.get(0))
}

/// Deletes a tier no organization uses. `Ok(false)`: no such tier.
pub fn delete(conn: &Conn<'_>, id: &str) -> Result<bool> {
    let in_use = usage(conn, id)?;
    if in_use > 0 {
        return Err(DbError::Conflict {
            what: Conflict::TierInUse {
                organizations: in_use,
            },
        });
    }
    Ok(conn
        .prepare_cached("DELETE FROM premium_tiers WHERE id = ?1")?
        .execute([id])?
        > 0)
}
