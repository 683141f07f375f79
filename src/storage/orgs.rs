//! Organizations.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::fold;
use crate::error::{ApiError, Result};
use crate::model::{
    MembershipBrief, OrgDetail, OrgMember, OrgSummary, TierSummary, UserBrief, UserOrganization,
};
use crate::storage::{tiers, unique_violation, PageReq};

pub(crate) const SUMMARY_COLS: &str =
    "o.id, o.name, o.slug, o.logo, o.member_count, o.created_at, o.updated_at, \
     t.id, t.name, t.features";

pub(crate) fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<OrgSummary> {
    let tier_id: Option<String> = r.get(7)?;
    let premium_tier = match tier_id {
        Some(id) => Some(TierSummary {
            id,
            name: r.get(8)?,
            features: tiers::parse_features(&r.get::<_, String>(9)?),
        }),
        None => None,
    };
    Ok(OrgSummary {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        logo: r.get(3)?,
        member_count: r.get(4)?,
        premium_tier,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// How a search term is matched: terms of three or more characters are narrowed by the FTS5
/// trigram index (every row holding all of the term's trigrams); `instr` on the folded text
/// then decides exactly, and alone handles shorter terms. So `%`, `_` and `\\` are plain
/// characters and the result equals a plain substring scan.
pub(crate) struct Search {
    pub fold: String,
    pub fts: Option<String>,
}

/// Most trigrams put in one FTS query; `instr` checks the rest.
const MAX_TRIGRAMS: usize = 12;

impl Search {
    pub fn new(term: &str) -> Self {
        let fold = fold(term);
        let chars: Vec<char> = fold.chars().collect();
        let fts = (chars.len() >= 3).then(|| {
            let mut grams: Vec<String> = Vec::new();
            for w in chars.windows(3) {
                let g: String = w.iter().collect();
                if !grams.contains(&g) {
                    grams.push(g);
                }
            }
            if grams.len() > MAX_TRIGRAMS {
                let step = grams.len() as f64 / MAX_TRIGRAMS as f64;
                grams = (0..MAX_TRIGRAMS)
                    .map(|i| grams[(i as f64 * step) as usize].clone())
                    .collect();
            }
            // Each trigram quoted alone is one token, so this works with detail=none.
            grams
                .iter()
                .map(|g| format!("\"{}\"", g.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" AND ")
        });
        Self { fold, fts }
    }
}

/// Organization ids for a list: `(rows, total)`, ordered by folded name then id.
pub fn list(
    conn: &Connection,
    query: Option<&str>,
    page: PageReq,
) -> Result<(Vec<OrgSummary>, i64)> {
    let limit = i64::from(page.per_page);
    let offset = page.offset();
    match query.map(Search::new) {
        None => {
            let total: i64 =
                conn.query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))?;
            // Walk the covering (name_fold, id) index for the page's keys first, then join:
            // a deep OFFSET then skips index entries only, not full rows.
            let sql = format!(
                "WITH page AS (SELECT rid FROM organizations ORDER BY name_fold, id LIMIT ?1 OFFSET ?2) \
                 SELECT {SUMMARY_COLS} FROM page JOIN organizations o ON o.rid = page.rid \
                 LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id ORDER BY o.name_fold, o.id"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(params![limit, offset], summary_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total))
        }
        Some(s) => {
            let filter = match &s.fts {
                Some(_) => "o.rid IN (SELECT rowid FROM organizations_fts WHERE organizations_fts MATCH ?1) AND instr(o.name_fold, ?2) > 0",
                None => "?1 IS NULL AND instr(o.name_fold, ?2) > 0",
            };
            let total: i64 = conn.query_row(
                &format!("SELECT count(*) FROM organizations o WHERE {filter}"),
                params![s.fts, s.fold],
                |r| r.get(0),
            )?;
            let sql = format!(
                "WITH page AS MATERIALIZED (SELECT o.rid, o.name_fold, o.id FROM organizations o WHERE {filter} \
                 ORDER BY o.name_fold, o.id LIMIT ?3 OFFSET ?4) \
                 SELECT {SUMMARY_COLS} FROM page JOIN organizations o ON o.rid = page.rid \
                 LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id ORDER BY o.name_fold, o.id"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(params![s.fts, s.fold, limit, offset], summary_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total))
        }
    }
}

/// The id of the organization with this id or slug.
pub fn resolve(conn: &Connection, id_or_slug: &str) -> Result<Option<String>> {
    let sql = if id_or_slug.starts_with("org-") {
        "SELECT id FROM organizations WHERE id = ?1 UNION ALL SELECT id FROM organizations WHERE slug = ?1 LIMIT 1"
    } else {
        "SELECT id FROM organizations WHERE slug = ?1"
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([id_or_slug], |r| r.get(0))
        .optional()?)
}

/// One organization, as in a list.
pub fn get_summary(conn: &Connection, id: &str) -> Result<Option<OrgSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM organizations o LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id WHERE o.id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], summary_from_row)
        .optional()?)
}

/// How many members the single-organization view embeds.
pub const EMBEDDED_MEMBERS: i64 = 100;

/// One organization with tier limits and its first members (seed 001); `id` or slug.
pub fn get_detail(conn: &Connection, id_or_slug: &str) -> Result<Option<OrgDetail>> {
    let Some(id) = resolve(conn, id_or_slug)? else {
        return Ok(None);
    };
    let row = conn
        .prepare_cached(
            "SELECT o.id, o.name, o.slug, o.logo, o.member_count, o.created_at, o.updated_at, o.premium_tier_id \
             FROM organizations o WHERE o.id = ?1",
        )?
        .query_row([&id], |r| {
            Ok((
                OrgDetail {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    slug: r.get(2)?,
                    logo: r.get(3)?,
                    member_count: r.get(4)?,
                    premium_tier: None,
                    members: Vec::new(),
                    created_at: r.get(5)?,
                    updated_at: r.get(6)?,
                },
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?;
    let Some((mut org, tier_id)) = row else {
        return Ok(None);
    };
    if let Some(tid) = tier_id {
        org.premium_tier = tiers::get_detail(conn, &tid)?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.user_id, m.role, m.created_at, u.name, u.email FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.organization_id = ?1 ORDER BY m.created_at, m.id LIMIT ?2",
    )?;
    org.members = stmt
        .query_map(params![id, EMBEDDED_MEMBERS], |r| {
            let user_id: String = r.get(1)?;
            Ok(OrgMember {
                id: r.get(0)?,
                user: UserBrief {
                    id: user_id.clone(),
                    name: r.get(4)?,
                    email: r.get(5)?,
                },
                user_id,
                role: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(org))
}

/// The organizations a user belongs to, with the membership (seed 000), by join date.
pub fn of_user(conn: &Connection, user_id: &str) -> Result<Vec<UserOrganization>> {
    let sql = format!(
        "SELECT {SUMMARY_COLS}, m.id, m.role, m.created_at FROM memberships m \
         JOIN organizations o ON o.id = m.organization_id \
         LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id WHERE m.user_id = ?1 ORDER BY m.created_at, m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([user_id], |r| {
            let s = summary_from_row(r)?;
            Ok(UserOrganization {
                id: s.id,
                name: s.name,
                slug: s.slug,
                logo: s.logo,
                member_count: s.member_count,
                premium_tier: s.premium_tier,
                membership: MembershipBrief {
                    id: r.get(10)?,
                    role: r.get(11)?,
                    created_at: r.get(12)?,
                },
                created_at: s.created_at,
                updated_at: s.updated_at,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A validated new organization.
#[derive(Debug, Clone)]
pub struct NewOrg {
    pub name: String,
    /// `None`: generated from the name, made unique with a suffix.
    pub slug: Option<String>,
    pub logo: Option<String>,
    pub premium_tier_id: Option<String>,
}

fn slug_taken(conn: &Connection, slug: &str, except: Option<&str>) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM organizations WHERE slug = ?1 AND id IS NOT ?2")?
        .exists(params![slug, except])?)
}

fn slug_conflict(slug: &str) -> ApiError {
    let mut d = crate::error::Details::new();
    d.insert("slug".into(), vec!["Slug is already taken".into()]);
    ApiError::Conflict {
        message: format!("Slug {slug} is already taken"),
        details: Some(d),
    }
}

fn tier_missing() -> ApiError {
    ApiError::field("premiumTierId", "Premium tier not found")
}

/// A free slug derived from `base`: `base`, then `base-2`, `base-3`, …
fn free_slug(conn: &Connection, base: &str) -> Result<String> {
    if !slug_taken(conn, base, None)? {
        return Ok(base.to_owned());
    }
    for n in 2..1000 {
        let candidate = format!("{base}-{n}");
        if !slug_taken(conn, &candidate, None)? {
            return Ok(candidate);
        }
    }
    let id = crate::domain::new_id("x");
    Ok(format!("{base}-{}", &id[id.len() - 8..]))
}

/// Inserts an organization; returns its id.
pub fn create(conn: &Connection, new: &NewOrg, now: &str) -> Result<String> {
    if let Some(t) = &new.premium_tier_id {
        if !tiers::exists(conn, t)? {
            return Err(tier_missing());
        }
    }
    let slug = match &new.slug {
        Some(s) => {
            if slug_taken(conn, s, None)? {
                return Err(slug_conflict(s));
            }
            s.clone()
        }
        None => free_slug(conn, &crate::domain::slugify(&new.name))?,
    };
    let id = crate::domain::new_id("org");
    conn.prepare_cached(
        "INSERT INTO organizations (id, name, name_fold, slug, logo, premium_tier_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![id, new.name, fold(&new.name), slug, new.logo, new.premium_tier_id, now])
    .map_err(|e| match unique_violation(&e) {
        Some(_) => slug_conflict(&slug),
        None => e.into(),
    })?;
    Ok(id)
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct OrgUpdate {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub logo: Option<Option<String>>,
    pub premium_tier_id: Option<Option<String>>,
}

/// Applies `u`; returns the names of the fields that changed, or `None` if no such org.
pub fn update(
    conn: &Connection,
    id: &str,
    u: &OrgUpdate,
    now: &str,
) -> Result<Option<Vec<&'static str>>> {
    let cur = conn
        .prepare_cached(
            "SELECT name, slug, logo, premium_tier_id FROM organizations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((name, slug, logo, tier)) = cur else {
        return Ok(None);
    };
    let mut changed = Vec::new();
    let name = match &u.name {
        Some(n) if *n != name => {
            changed.push("name");
            n.clone()
        }
        _ => name,
    };
    let slug = match &u.slug {
        Some(s) if *s != slug => {
            if slug_taken(conn, s, Some(id))? {
                return Err(slug_conflict(s));
            }
            changed.push("slug");
            s.clone()
        }
        _ => slug,
    };
    let logo = match &u.logo {
        Some(l) if *l != logo => {
            changed.push("logo");
            l.clone()
        }
        _ => logo,
    };
    let tier = match &u.premium_tier_id {
        Some(t) if *t != tier => {
            if let Some(t) = t {
                if !tiers::exists(conn, t)? {
                    return Err(tier_missing());
                }
            }
            changed.push("premiumTierId");
            t.clone()
        }
        _ => tier,
    };
    if !changed.is_empty() {
        conn.prepare_cached(
            "UPDATE organizations SET name = ?2, name_fold = ?3, slug = ?4, logo = ?5, premium_tier_id = ?6, updated_at = ?7 WHERE id = ?1",
        )?
        .execute(params![id, name, fold(&name), slug, logo, tier, now])
        .map_err(|e| match unique_violation(&e) {
            Some(_) => slug_conflict(&slug),
            None => e.into(),
        })?;
    }
    Ok(Some(changed))
}

/// Deletes an organization and (by cascade) its memberships; whether it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM organizations WHERE id = ?1")?
        .execute([id])?
        > 0)
}
