//! Organizations.

use std::sync::Mutex;

use crate::storage::cache::OrgCaches;
use crate::storage::lookup::Lookup;
use crate::storage::sql::{params, params_from_iter, Conn, OptionalExtension, Row, Value};

use crate::domain::fold;
use crate::storage::cache::{DetailCache, DetailView, ANCHOR_EVERY};
use crate::storage::cursor::encode_cursor;
use crate::storage::records::{
    MembershipBrief, OrgDetail, OrgMember, OrgSummary, TierSummary, UserBrief, UserOrganization,
};
use crate::storage::search::{Search, SCAN_MIN};
use crate::storage::{tiers, Conflict, DbError, Invalid, PageReq, Result};

pub(crate) const SUMMARY_COLS: &str =
    "o.id, o.name, o.slug, o.logo, o.member_count, o.created_at, o.updated_at, \
     t.id, t.name, t.features, o.external_id, o.metadata";

pub(crate) fn summary_from_row(r: &Row<'_>) -> crate::storage::Result<OrgSummary> {
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
        external_id: r.get(10)?,
        metadata: r.get(11)?,
    })
}

/// Organization ids for a list: `(rows, total)`, ordered by folded name then id.
pub fn list(
    conn: &Conn<'_>,
    query: Option<&str>,
    page: PageReq,
    caches: &OrgCaches,
) -> Result<(Vec<OrgSummary>, i64)> {
    list_with(conn, query, page, SCAN_MIN, Some(caches))
}

/// [`list`] with the plan threshold given (tests force the scan with -1, FTS with `i64::MAX`)
/// and the caches (`None`: SQL alone). The search index serves the request when it holds
/// this snapshot's version; otherwise SQL does (and a rebuild is asked for).
pub fn list_with(
    conn: &Conn<'_>,
    query: Option<&str>,
    page: PageReq,
    scan_min: i64,
    caches: Option<&OrgCaches>,
) -> Result<(Vec<OrgSummary>, i64)> {
    let limit = i64::from(page.per_page);
    let offset = page.offset();
    // One snapshot for the version, the total and the page: every read call runs in one
    // read transaction (see `Db::read`).
    let version = match caches {
        Some(_) => Some(crate::storage::counter(conn, "organizations_version")?),
        None => None,
    };
    if let (Some(c), Some(v)) = (caches, version) {
        if let Some(ix) = c.names().at(v) {
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = page.per_page as usize;
            let (total, rids) = match query {
                None => (
                    crate::storage::counter(conn, "organizations")?,
                    ix.rids(skip, skip.saturating_add(take)),
                ),
                Some(q) => {
                    let (n, rids) = ix.page(&fold(q), skip, take);
                    (i64::try_from(n).unwrap_or(i64::MAX), rids)
                }
            };
            return Ok((by_rids(conn, &rids)?, total));
        }
    }
    // Each branch first picks the page's rowids (from an index, so a deep OFFSET skips index
    // entries, not rows), then joins for the columns.
    let join = format!(
        "SELECT {SUMMARY_COLS} FROM page JOIN organizations o ON o.rid = page.rid \
         LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id ORDER BY o.name_fold, o.id"
    );
    let cache = match (caches, version) {
        (Some(c), Some(v)) => Some((c, v)),
        _ => None,
    };
    let (total, rows) = match query.map(Search::new) {
        None => {
            let total = crate::storage::counter(conn, "organizations")?;
            let rids = match cache {
                Some((c, v)) if offset >= 2 * ANCHOR_EVERY && c.max_anchors() > 0 => {
                    deep_page(conn, c, v, total, offset, limit)?
                }
                _ => conn
                    .prepare_cached(
                        "SELECT rid FROM organizations ORDER BY name_fold, id LIMIT ?1 OFFSET ?2",
                    )?
                    .query_map(params![limit, offset], |r| r.get(0))?
                    .collect::<crate::storage::Result<Vec<i64>>>()?,
            };
            (total, by_rids(conn, &rids)?)
        }
        Some(s) if cache.is_some_and(|(c, _)| c.search_rows() > 0) => {
            let (cache, version) = cache.unwrap_or_else(|| unreachable!());
            let hit = {
                let mut c = cache.order();
                c.sync(version);
                c.searches.get(&s.fold).cloned()
            };
            let all = match hit {
                Some(all) => {
                    crate::metrics::cache_hit("org_search");
                    all
                }
                None => {
                    crate::metrics::cache_miss("org_search");
                    let all = std::sync::Arc::new(ordered_matches(conn, &s, scan_min)?);
                    let max = cache.search_rows();
                    let mut c = cache.order();
                    c.sync(version);
                    if c.search_rows + all.len() > max {
                        c.searches.clear();
                        c.search_rows = 0;
                    }
                    if all.len() <= max {
                        c.search_rows += all.len();
                        c.searches.insert(s.fold.clone(), all.clone());
                        crate::metrics::cache_entries("org_search", c.searches.len());
                        crate::metrics::cache_bytes("org_search", c.search_rows * 8);
                    }
                    all
                }
            };
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
            let end = start.saturating_add(page.per_page as usize).min(all.len());
            (
                i64::try_from(all.len()).unwrap_or(i64::MAX),
                by_rids(conn, &all[start..end])?,
            )
        }
        Some(s) => match s.plan(conn, "organizations", scan_min)? {
            Some(fts) => {
                // One pass: every match's sort key, sorted here; then only the page's rows
                // are read in full.
                let hits = fts_hits(conn, &fts, &s.fold)?;
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(hits.len());
                let end = start.saturating_add(page.per_page as usize).min(hits.len());
                (
                    i64::try_from(hits.len()).unwrap_or(i64::MAX),
                    by_rids(conn, &hits[start..end])?,
                )
            }
            None => {
                // The name index holds name_fold: both the count and the page read it alone.
                let (from, cond) = scan_from(conn);
                let needle = s.needle(conn);
                let total: i64 = conn
                    .prepare_cached(&format!("SELECT count(*) FROM {from} WHERE {cond}"))?
                    .query_row([&needle], |r| r.get(0))?;
                let sql = format!(
                    "WITH page AS MATERIALIZED (SELECT rid FROM {from} \
                     WHERE {cond} ORDER BY name_fold, id LIMIT ?2 OFFSET ?3) {join}"
                );
                let rows = conn
                    .prepare_cached(&sql)?
                    .query_map(params![needle, limit, offset], summary_from_row)?
                    .collect::<crate::storage::Result<Vec<_>>>()?;
                (total, rows)
            }
        },
    };
    Ok((rows, total))
}

/// A list filtered by external id or metadata (and maybe a search term), in (folded name, id)
/// order: a page at an offset with the total, or (`after` given) the page after a position.
/// The name caches serve only unfiltered lists; these filters narrow by their own columns
/// (the external id by its unique index) and count their matches.
pub fn list_filtered(
    conn: &Conn<'_>,
    query: Option<&str>,
    lookup: &Lookup,
    page: PageReq,
    after: Option<&(String, String)>,
) -> Result<(Vec<OrgSummary>, i64)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = query.map(Search::new) {
        clauses.push(if conn.is_postgres() {
            "o.name_fold LIKE ? ESCAPE '\\'".into()
        } else {
            "instr(o.name_fold, ?) > 0".into()
        });
        args.push(s.needle(conn).into());
    }
    lookup.push(conn, "o", &mut clauses, &mut args);
    let filter = if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let total: i64 = if after.is_some() {
        0
    } else {
        conn.prepare_cached(&format!(
            "SELECT count(*) FROM organizations o WHERE {filter}"
        ))?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?
    };
    let mut filter = filter;
    if let Some((k, id)) = after {
        filter.push_str(" AND (o.name_fold, o.id) > (?, ?)");
        args.push(k.clone().into());
        args.push(id.clone().into());
    }
    args.push(i64::from(page.per_page).into());
    args.push(if after.is_some() { 0 } else { page.offset() }.into());
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLS} FROM organizations o LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id \
             WHERE {filter} ORDER BY o.name_fold, o.id LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(args.iter()), summary_from_row)?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// The cursor of the page after `rows` (`None` when it is not full: the end).
pub fn next_cursor(rows: &[OrgSummary], limit: u32) -> Option<String> {
    if rows.len() == limit as usize {
        rows.last().map(|o| encode_cursor(&fold(&o.name), &o.id))
    } else {
        None
    }
}

/// A page after `after` in (folded name, id) order, and the cursor of the next page (`None`
/// at the end). Walking a whole list this way is linear: each page is an index seek.
///
/// A search is served by the search index of `caches` when it holds this snapshot's version.
pub fn list_after(
    conn: &Conn<'_>,
    query: Option<&str>,
    after: &(String, String),
    limit: u32,
    caches: Option<&OrgCaches>,
) -> Result<(Vec<OrgSummary>, Option<String>)> {
    let n = i64::from(limit);
    let (k, id) = after;
    let index = match (query, caches) {
        (Some(_), Some(c)) if c.names().limit() > 0 => c
            .names()
            .at(crate::storage::counter(conn, "organizations_version")?),
        _ => None,
    };
    let rows = match query.map(Search::new) {
        Some(s) if index.is_some() => {
            let ix = index.unwrap_or_else(|| unreachable!());
            // Names equal to the cursor's come after it only if their id does: those few
            // are looked up; every later name comes after it.
            let (lo, hi) = (ix.seek(k, false), ix.seek(k, true));
            let ties: std::collections::HashSet<i64> = if hi > lo {
                conn.prepare_cached(
                    "SELECT rid FROM organizations WHERE name_fold = ?1 AND id > ?2",
                )?
                .query_map(params![k, id], |r| r.get(0))?
                .collect::<crate::storage::Result<_>>()?
            } else {
                std::collections::HashSet::new()
            };
            let mut rids = Vec::with_capacity(limit as usize);
            ix.scan(&s.fold, lo, |i| {
                if i >= hi || ties.contains(&ix.rid(i)) {
                    rids.push(ix.rid(i));
                }
                rids.len() < limit as usize
            });
            by_rids(conn, &rids)?
        }
        None => {
            let sql = "SELECT rid FROM organizations WHERE (name_fold, id) > (?1, ?2) ORDER BY name_fold, id LIMIT ?3";
            let rids = conn
                .prepare_cached(sql)?
                .query_map(params![k, id, n], |r| r.get(0))?
                .collect::<crate::storage::Result<Vec<i64>>>()?;
            by_rids(conn, &rids)?
        }
        Some(s) => match s.plan(conn, "organizations", SCAN_MIN)? {
            Some(fts) => {
                let mut hits: Vec<(String, String, i64)> = conn
                    .prepare_cached(
                        "SELECT o.name_fold, o.id, o.rid FROM organizations o WHERE o.rid IN \
                         (SELECT rowid FROM organizations_fts WHERE organizations_fts MATCH ?1) AND instr(o.name_fold, ?2) > 0 \
                         AND (o.name_fold, o.id) > (?3, ?4)",
                    )?
                    .query_map(params![fts, s.fold, k, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<crate::storage::Result<Vec<_>>>()?;
                hits.sort_unstable();
                let rids: Vec<i64> = hits.iter().take(limit as usize).map(|h| h.2).collect();
                by_rids(conn, &rids)?
            }
            None => {
                let from = scan_from(conn).0;
                let cond = Search::contains(conn, "name_fold", 3);
                let sql = format!(
                    "SELECT rid FROM {from} WHERE (name_fold, id) > (?1, ?2) AND {cond} ORDER BY name_fold, id LIMIT ?4"
                );
                let rids = conn
                    .prepare_cached(&sql)?
                    .query_map(params![k, id, s.needle(conn), n], |r| r.get(0))?
                    .collect::<crate::storage::Result<Vec<i64>>>()?;
                by_rids(conn, &rids)?
            }
        },
    };
    let next = if rows.len() == limit as usize {
        rows.last().map(|o| encode_cursor(&fold(&o.name), &o.id))
    } else {
        None
    };
    Ok((rows, next))
}

/// The rowids of a deep page, through the anchors (rebuilt first if stale), spaced so that
/// at most the configured number are kept.
fn deep_page(
    conn: &Conn<'_>,
    caches: &OrgCaches,
    version: i64,
    rows: i64,
    offset: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let (start, every) = {
        let mut a = caches.order();
        a.sync(version);
        if a.every == 0 {
            let max = i64::try_from(caches.max_anchors())
                .unwrap_or(i64::MAX)
                .max(1);
            let every = ANCHOR_EVERY.max(rows.div_euclid(max) + 1);
            let mut keys = Vec::new();
            let mut n: i64 = 0;
            conn.prepare_cached("SELECT name_fold, id FROM organizations ORDER BY name_fold, id")?
                .for_each((), |r| {
                    n += 1;
                    if n % every == 0 {
                        keys.push((r.get(0)?, r.get(1)?));
                    }
                    Ok(())
                })?;
            a.keys = keys;
            a.every = every;
        }
        // keys[i] is the last key of block i: the page starts after block `block - 1`.
        let block = offset / a.every;
        let start = match usize::try_from(block - 1) {
            Ok(i) => a.keys.get(i).cloned().map(Some),
            Err(_) => Some(None),
        };
        (start.map(|k| (k, block)), a.every)
    };
    let ((k, id), block) = match start {
        Some((Some(key), block)) => (key, block),
        // The first block: no anchor before it.
        Some((None, _)) => {
            return conn
                .prepare_cached(
                    "SELECT rid FROM organizations ORDER BY name_fold, id LIMIT ?1 OFFSET ?2",
                )?
                .query_map(params![limit, offset], |r| r.get(0))?
                .collect::<crate::storage::Result<Vec<i64>>>();
        }
        None => return Ok(Vec::new()),
    };
    conn
        .prepare_cached("SELECT rid FROM organizations WHERE (name_fold, id) > (?1, ?2) ORDER BY name_fold, id LIMIT ?3 OFFSET ?4")?
        .query_map(params![k, id, limit, offset - block * every], |r| r.get(0))?
        .collect::<crate::storage::Result<Vec<i64>>>()
}

/// The rowids of the FTS candidates that really contain `fold`, in list order.
fn fts_hits(conn: &Conn<'_>, fts: &str, fold: &str) -> Result<Vec<i64>> {
    let mut hits: Vec<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT o.name_fold, o.id, o.rid FROM organizations o WHERE o.rid IN \
             (SELECT rowid FROM organizations_fts WHERE organizations_fts MATCH ?1) AND instr(o.name_fold, ?2) > 0",
        )?
        .query_map(params![fts, fold], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    hits.sort_unstable();
    Ok(hits.into_iter().map(|h| h.2).collect())
}

/// Every match of a search, in list order, by whichever plan is cheaper.
fn ordered_matches(conn: &Conn<'_>, s: &Search, scan_min: i64) -> Result<Vec<i64>> {
    Ok(match s.plan(conn, "organizations", scan_min)? {
        Some(fts) => fts_hits(conn, &fts, &s.fold)?,
        None => {
            let (from, cond) = scan_from(conn);
            conn.prepare_cached(&format!(
                "SELECT rid FROM {from} WHERE {cond} ORDER BY name_fold, id"
            ))?
            .query_map([s.needle(conn)], |r| r.get(0))?
            .collect::<crate::storage::Result<Vec<i64>>>()?
        }
    })
}

/// The table of a search that walks the name order, and its condition on `?1`: SQLite is
/// told to walk the (name_fold, id) index (it holds the folded name, so the rows are not
/// read); PostgreSQL picks between the trigram and the name index itself.
fn scan_from(conn: &Conn<'_>) -> (&'static str, String) {
    let from = if conn.is_postgres() {
        "organizations"
    } else {
        "organizations INDEXED BY organizations_name"
    };
    (from, Search::contains(conn, "name_fold", 1))
}

/// Organizations by rowid, in the order given.
fn by_rids(conn: &Conn<'_>, rids: &[i64]) -> Result<Vec<OrgSummary>> {
    if rids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; rids.len()].join(",");
    let sql = format!(
        "SELECT {SUMMARY_COLS}, o.rid FROM organizations o LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id WHERE o.rid IN ({marks})"
    );
    let mut found: std::collections::HashMap<i64, OrgSummary> = conn
        .prepare_cached(&sql)?
        .query_map(crate::storage::sql::params_from_iter(rids), |r| {
            Ok((r.get(12)?, summary_from_row(r)?))
        })?
        .collect::<crate::storage::Result<_>>()?;
    Ok(rids.iter().filter_map(|rid| found.remove(rid)).collect())
}

/// The id of the organization with this id or slug.
pub fn resolve(conn: &Conn<'_>, id_or_slug: &str) -> Result<Option<String>> {
    let sql = if id_or_slug.starts_with("org-") {
        "SELECT id FROM organizations WHERE id = ?1 UNION ALL SELECT id FROM organizations WHERE slug = ?1 LIMIT 1"
    } else {
        "SELECT id FROM organizations WHERE slug = ?1"
    };
    conn.prepare_cached(sql)?
        .query_row([id_or_slug], |r| r.get(0))
        .optional()
}

/// One organization, as in a list.
pub fn get_summary(conn: &Conn<'_>, id: &str) -> Result<Option<OrgSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM organizations o LEFT JOIN premium_tiers t ON t.id = o.premium_tier_id WHERE o.id = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row([id], summary_from_row)
        .optional()
}

/// The single-organization view of `id_or_slug`: from the cache while nothing it shows has
/// changed, else read, rendered with `render` and remembered.
pub fn detail_view<E: From<DbError>>(
    conn: &Conn<'_>,
    id_or_slug: &str,
    cache: &Mutex<DetailCache>,
    render: impl FnOnce(OrgDetail) -> Result<DetailView, E>,
) -> Result<Option<std::sync::Arc<DetailView>>, E> {
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    // Read before the rows: a view is at least as new as the version it is filed under.
    let version = crate::storage::counter(conn, "org_details_version")?;
    {
        let mut c = lock();
        let retired = c.sync(version);
        let hit = c.get(id_or_slug);
        drop(c);
        drop(retired);
        if let Some(v) = hit {
            crate::metrics::cache_hit("org_detail");
            return Ok(Some(v));
        }
    }
    crate::metrics::cache_miss("org_detail");
    let Some(org) = get_detail(conn, id_or_slug)? else {
        return Ok(None);
    };
    let view = std::sync::Arc::new(render(org)?);
    let mut c = lock();
    if c.is_at(version) && c.admits(id_or_slug) {
        let retired = c.insert(id_or_slug, view.clone());
        let (entries, bytes) = c.held();
        drop(c);
        drop(retired);
        crate::metrics::cache_entries("org_detail", entries);
        crate::metrics::cache_bytes("org_detail", bytes);
    }
    Ok(Some(view))
}

/// How many members the single-organization view embeds.
pub const EMBEDDED_MEMBERS: i64 = 100;

/// One organization with tier limits and its first members (seed 001); `id` or slug
/// (as [`resolve`]: an `org-` value is tried as an id first, then as a slug). The row is
/// read by the key it was asked for, not looked up twice (this is the view's cache-miss path).
pub fn get_detail(conn: &Conn<'_>, id_or_slug: &str) -> Result<Option<OrgDetail>> {
    let row = if id_or_slug.starts_with("org-") {
        match detail_row(conn, DETAIL_BY_ID, id_or_slug)? {
            Some(row) => Some(row),
            None => detail_row(conn, DETAIL_BY_SLUG, id_or_slug)?,
        }
    } else {
        detail_row(conn, DETAIL_BY_SLUG, id_or_slug)?
    };
    let Some((mut org, tier_id)) = row else {
        return Ok(None);
    };
    let id = org.id.clone();
    if let Some(tid) = tier_id {
        org.premium_tier = tiers::get_detail(conn, &tid)?;
    }
    let mut stmt = conn.prepare_cached(EMBEDDED_MEMBERS_SQL)?;
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
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok(Some(org))
}

/// The first members of an organization with their users: read from the covering indexes
/// `memberships_by_org` (schema 8) and `users_brief` (schema 10), no membership or user row.
const EMBEDDED_MEMBERS_SQL: &str =
    "SELECT m.id, m.user_id, m.role, m.created_at, u.name, u.email FROM memberships m \
     JOIN users u ON u.id = m.user_id WHERE m.organization_id = ?1 ORDER BY m.created_at, m.id LIMIT ?2";

macro_rules! detail_select {
    ($cond:literal) => {
        concat!(
            "SELECT o.id, o.name, o.slug, o.logo, o.member_count, o.created_at, o.updated_at, \
             o.premium_tier_id, o.external_id, o.metadata FROM organizations o WHERE ",
            $cond
        )
    };
}
const DETAIL_BY_ID: &str = detail_select!("o.id = ?1");
const DETAIL_BY_SLUG: &str = detail_select!("o.slug = ?1");

/// The organization row of [`get_detail`] (members and tier not filled in yet) and its
/// premium tier id.
fn detail_row(
    conn: &Conn<'_>,
    sql: &str,
    key: &str,
) -> Result<Option<(OrgDetail, Option<String>)>> {
    conn.prepare_cached(sql)?
        .query_row([key], |r| {
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
                    external_id: r.get(8)?,
                    metadata: r.get(9)?,
                },
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()
}

/// The organizations a user belongs to, with the membership (seed 000), by join date.
pub fn of_user(conn: &Conn<'_>, user_id: &str) -> Result<Vec<UserOrganization>> {
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
                    id: r.get(12)?,
                    role: r.get(13)?,
                    created_at: r.get(14)?,
                },
                created_at: s.created_at,
                updated_at: s.updated_at,
                external_id: s.external_id,
                metadata: s.metadata,
            })
        })?
        .collect::<crate::storage::Result<Vec<_>>>()?;
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
    pub external_id: Option<String>,
    /// A JSON object, canonical text (`domain::metadata::parse_metadata`).
    pub metadata: String,
}

fn slug_taken(conn: &Conn<'_>, slug: &str, except: Option<&str>) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM organizations WHERE slug = ?1 AND id IS DISTINCT FROM ?2")?
        .exists(params![slug, except])
}

fn slug_conflict(slug: &str) -> DbError {
    DbError::Conflict {
        what: Conflict::SlugTaken {
            slug: slug.to_owned(),
        },
    }
}

fn tier_missing() -> DbError {
    DbError::Invalid {
        what: Invalid::UnknownPremiumTier,
    }
}

/// A free slug derived from `base`: `base`, then `base-2`, `base-3`, …
fn free_slug(conn: &Conn<'_>, base: &str) -> Result<String> {
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
pub fn create(conn: &Conn<'_>, new: &NewOrg, now: &str) -> Result<String> {
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
        "INSERT INTO organizations (id, name, name_fold, slug, logo, premium_tier_id, created_at, updated_at, external_id, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
    )?
    .execute(params![id, new.name, fold(&new.name), slug, new.logo, new.premium_tier_id, now, new.external_id, new.metadata])
    .map_err(|e| match e {
        DbError::Duplicate { .. } => slug_conflict(&slug),
        other => other,
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
    pub external_id: Option<Option<String>>,
    /// Replaces the whole object (canonical text).
    pub metadata: Option<String>,
}

/// Applies `u`; returns the columns that changed, or `None` if no such org.
pub fn update(
    conn: &Conn<'_>,
    id: &str,
    u: &OrgUpdate,
    now: &str,
) -> Result<Option<Vec<&'static str>>> {
    let cur = conn
        .prepare_cached(
            "SELECT name, slug, logo, premium_tier_id, external_id, metadata FROM organizations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ),
                (r.get::<_, Option<String>>(4)?, r.get::<_, String>(5)?),
            ))
        })
        .optional()?;
    let Some(((name, slug, logo, tier), (external_id, metadata))) = cur else {
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
            changed.push("premium_tier_id");
            t.clone()
        }
        _ => tier,
    };
    let external_id = match &u.external_id {
        Some(e) if *e != external_id => {
            changed.push("external_id");
            e.clone()
        }
        _ => external_id,
    };
    let metadata = match &u.metadata {
        Some(m) if *m != metadata => {
            changed.push("metadata");
            m.clone()
        }
        _ => metadata,
    };
    if !changed.is_empty() {
        // name_fold is set only when the name changes: setting it (even to the same value)
        // bumps organizations_version, which makes the search index and anchors stale.
        let done = if changed.contains(&"name") {
            conn.prepare_cached(
                "UPDATE organizations SET name = ?2, name_fold = ?3, slug = ?4, logo = ?5, premium_tier_id = ?6, updated_at = ?7, \
                 external_id = ?8, metadata = ?9 WHERE id = ?1",
            )?
            .execute(params![id, name, fold(&name), slug, logo, tier, now, external_id, metadata])
        } else {
            conn.prepare_cached(
                "UPDATE organizations SET slug = ?2, logo = ?3, premium_tier_id = ?4, updated_at = ?5, \
                 external_id = ?6, metadata = ?7 WHERE id = ?1",
            )?
            .execute(params![id, slug, logo, tier, now, external_id, metadata])
        };
        done.map_err(|e| match e {
            DbError::Duplicate { .. } => slug_conflict(&slug),
            other => other,
        })?;
    }
    Ok(Some(changed))
}

/// Deletes an organization and (by cascade) its memberships; whether it existed.
pub fn delete(conn: &Conn<'_>, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM organizations WHERE id = ?1")?
        .execute([id])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CacheConfig, DatabaseConfig};
    use crate::storage::Db;

    fn new_org(name: &str) -> NewOrg {
        NewOrg {
            name: name.into(),
            slug: None,
            logo: None,
            premium_tier_id: None,
            external_id: None,
            metadata: "{}".into(),
        }
    }

    /// Caches with the search index off (`index_mb` 0) or built now; `anchors` at most.
    fn caches(db: &Db, index_mb: u64, results: usize, anchors: usize) -> OrgCaches {
        let c = OrgCaches::new(&CacheConfig {
            search_index_mb: index_mb,
            search_results_rows: results,
            page_anchors: anchors,
            ..CacheConfig::default()
        });
        if index_mb > 0 {
            db.read_blocking(|conn| c.names().build_now(conn)).unwrap();
            let held = c.names().held().unwrap();
            let now = db
                .read_blocking(|conn| crate::storage::counter(conn, "organizations_version"))
                .unwrap();
            assert_eq!(held.version(), now);
        }
        c
    }

    /// A new database in a temporary directory, seeded with `orgs` organizations, `users`
    /// users and `per_user` memberships each, and opened; the directory lives as long as the
    /// returned guard, `cfg` opens the same file again.
    fn seeded(orgs: u64, users: u64, per_user: u64) -> (tempfile::TempDir, DatabaseConfig, Db) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatabaseConfig {
            path: dir.path().join("seeded.db"),
            ..DatabaseConfig::default()
        };
        crate::storage::seed::bulk(&cfg, orgs, users, per_user, &|_, _, _| {}).unwrap();
        let db = crate::storage::open(&cfg).unwrap();
        (dir, cfg, db)
    }

    /// The view's member list is answered from the covering indexes, in its order (no sort
    /// step, no membership or user row read), on SQLite; PostgreSQL's plan depends on its
    /// statistics.
    #[test]
    fn embedded_members_read_only_the_covering_index() {
        let (_dir, _, db) = seeded(50, 50, 2);
        let plan = db
            .read_blocking(|c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {EMBEDDED_MEMBERS_SQL}"))?;
                let rows = st
                    .query_map(params!["org-x", EMBEDDED_MEMBERS], |r| {
                        r.get::<_, String>(3)
                    })?
                    .collect::<crate::storage::Result<Vec<_>>>()?;
                Ok(rows.join("\n"))
            })
            .unwrap();
        assert_eq!(
            plan,
            "SEARCH m USING COVERING INDEX memberships_by_org (organization_id=?)\n\
             SEARCH u USING COVERING INDEX users_brief (id=?)"
        );
    }

    /// Every name in list order with its id, read plainly.
    fn ordered(db: &Db) -> Vec<(String, String)> {
        db.read_blocking(|c| {
            let mut st =
                c.prepare("SELECT name_fold, id FROM organizations ORDER BY name_fold, id")?;
            let rows = st
                .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<crate::storage::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .unwrap()
    }

    /// Every plan (FTS, index walk, the threshold, the SQL search cache, the in-memory index)
    /// and a plain scan in Rust agree on totals, on every page's rows and on cursor walks.
    #[test]
    fn search_plans_match_a_plain_scan_exactly() {
        let (_dir, _, db) = seeded(3000, 10, 1);
        let now = crate::domain::now();
        db.write_blocking(None, |tx| {
            for n in [
                "100% Pure_Juice \\ Co",
                "50%_off\\sale",
                "日本語 Trading",
                "本田 Motors",
                "MÜLLER GmbH",
                "Müller AG",
                "Same Name",
                "Same Name",
                "Same Name",
                "a",
            ] {
                create(tx, &new_org(n), &now)?;
            }
            Ok(())
        })
        .unwrap();
        let names = ordered(&db);
        let sql_cache = caches(&db, 0, 250_000, 10);
        let index = caches(&db, 64, 250_000, 10);
        for term in [
            "trading",
            "SDN",
            "golden bakery",
            "café",
            "ÖSAKA",
            "a",
            "ac",
            "s b",
            "zzq",
            "müller",
            "MÜLLER",
            "nusantara co",
            "%",
            "_",
            "\\",
            "0%_",
            "% p",
            "本",
            "日本",
            "same name",
            "e",
            "n",
            "q",
        ] {
            let f = fold(term);
            let expected: Vec<&String> = names
                .iter()
                .filter(|(n, _)| n.contains(&f))
                .map(|(_, id)| id)
                .collect();
            let plans = [
                ("scan", -1, None),
                ("fts", i64::MAX, None),
                ("threshold", SCAN_MIN, None),
                ("cached scan", -1, Some(&sql_cache)),
                ("cached fts", i64::MAX, Some(&sql_cache)),
                ("index", SCAN_MIN, Some(&index)),
            ];
            for (plan, scan_min, cached) in plans {
                for page in [1, 2, 7, 400] {
                    let req = PageReq { page, per_page: 25 };
                    let (rows, total) = db
                        .read_blocking(|c| list_with(c, Some(term), req, scan_min, cached))
                        .unwrap();
                    assert_eq!(total, expected.len() as i64, "{term} {plan}");
                    let want: Vec<&String> = expected
                        .iter()
                        .skip((page as usize - 1) * 25)
                        .take(25)
                        .copied()
                        .collect();
                    let got: Vec<&String> = rows.iter().map(|o| &o.id).collect();
                    assert_eq!(got, want, "{term} {plan} page {page}");
                }
            }
            // Cursor walks, 7 at a time, by SQL and by the index.
            for cached in [None, Some(&index)] {
                let mut walked: Vec<String> = Vec::new();
                let mut after = (String::new(), String::new());
                loop {
                    let (rows, next) = db
                        .read_blocking(|c| list_after(c, Some(term), &after, 7, cached))
                        .unwrap();
                    walked.extend(rows.iter().map(|o| o.id.clone()));
                    let Some(next) = next else { break };
                    after = crate::storage::cursor::decode_cursor(&next).unwrap();
                }
                let want: Vec<String> = expected.iter().map(|s| (*s).clone()).collect();
                assert_eq!(
                    walked,
                    want,
                    "{term} cursor walk, index {}",
                    cached.is_some()
                );
            }
        }
        // A cursor in the middle of equal names resumes after its id exactly.
        let same: Vec<&(String, String)> = names.iter().filter(|(n, _)| n == "same name").collect();
        assert_eq!(same.len(), 3);
        for (k, id) in &same {
            let after = (k.clone(), id.clone());
            let sql = db
                .read_blocking(|c| list_after(c, Some("name"), &after, 2, None))
                .unwrap();
            let ix = db
                .read_blocking(|c| list_after(c, Some("name"), &after, 2, Some(&index)))
                .unwrap();
            assert_eq!(sql, ix, "after {id}");
        }
    }

    /// A write, here from another instance on the same file, makes the index stale: the
    /// next requests are answered by SQL (never from the stale index) and a rebuild is asked
    /// for; once rebuilt, the index answers again, equal to SQL.
    #[test]
    fn a_stale_index_is_never_served() {
        let (_dir, cfg, db) = seeded(2000, 1, 0);
        let other = crate::storage::open(&cfg).unwrap();
        let index = caches(&db, 64, 0, 10);
        let compare = |label: &str| {
            for term in [None, Some("renamed"), Some("a"), Some("bakery")] {
                for page in [1, 3, 150] {
                    let req = PageReq { page, per_page: 10 };
                    let by_index = db
                        .read_blocking(|c| list_with(c, term, req, SCAN_MIN, Some(&index)))
                        .unwrap();
                    let by_sql = db
                        .read_blocking(|c| list_with(c, term, req, SCAN_MIN, None))
                        .unwrap();
                    assert_eq!(by_index, by_sql, "{label}: {term:?} page {page}");
                }
            }
        };
        compare("fresh");
        assert!(!index.names().claim(), "a fresh index asks for no build");
        let now = crate::domain::now();
        let victim: String = db
            .read_blocking(|c| {
                c.query_row("SELECT id FROM organizations LIMIT 1 OFFSET 700", (), |r| {
                    r.get(0)
                })
            })
            .unwrap();
        other
            .write_blocking(None, |tx| {
                create(tx, &new_org("Aaa Renamed First"), &now)?;
                update(
                    tx,
                    &victim,
                    &OrgUpdate {
                        name: Some("Zz Renamed Last".into()),
                        ..OrgUpdate::default()
                    },
                    &now,
                )
                .map(drop)
            })
            .unwrap();
        let (_, found) = db
            .read_blocking(|c| {
                list_with(
                    c,
                    Some("renamed"),
                    PageReq::default(),
                    SCAN_MIN,
                    Some(&index),
                )
            })
            .unwrap();
        assert_eq!(found, 2, "the other instance's writes are seen at once");
        compare("stale");
        assert!(index.names().claim(), "a stale index asks for a rebuild");
        let v = db
            .read_blocking(|c| crate::storage::counter(c, "organizations_version"))
            .unwrap();
        let t = std::time::Instant::now();
        let built = db.read_blocking(|c| crate::storage::names::NameIndex::build(c, 64 << 20));
        index.names().finish(built, t.elapsed());
        assert_eq!(index.names().held().map(|i| i.version()), Some(v));
        compare("rebuilt");
        other
            .write_blocking(None, |tx| delete(tx, &victim).map(drop))
            .unwrap();
        compare("after a delete");
    }

    /// A metadata-only update leaves the organization order, and so the index, current.
    #[test]
    fn an_update_that_keeps_the_name_keeps_the_index() {
        let (_dir, _, db) = seeded(50, 1, 0);
        let version = || {
            db.read_blocking(|c| crate::storage::counter(c, "organizations_version"))
                .unwrap()
        };
        let id: String = db
            .read_blocking(|c| {
                c.query_row("SELECT id FROM organizations LIMIT 1", (), |r| r.get(0))
            })
            .unwrap();
        let v = version();
        let now = crate::domain::now();
        db.write_blocking(None, |tx| {
            update(
                tx,
                &id,
                &OrgUpdate {
                    metadata: Some("{\"plan\":\"gold\"}".into()),
                    logo: Some(Some("https://example.com/l.png".into())),
                    ..OrgUpdate::default()
                },
                &now,
            )
            .map(drop)
        })
        .unwrap();
        assert_eq!(version(), v);
        db.write_blocking(None, |tx| {
            update(
                tx,
                &id,
                &OrgUpdate {
                    name: Some("Another Name".into()),
                    ..OrgUpdate::default()
                },
                &now,
            )
            .map(drop)
        })
        .unwrap();
        assert_eq!(version(), v + 1);
    }

    /// Deep pages through the anchors (at the least spacing and wider) and through the index
    /// equal plain OFFSET pages, also after inserts, renames and deletes made them stale.
    #[test]
    fn anchored_deep_pages_equal_offset_pages() {
        let (_dir, _, db) = seeded(5000, 1, 0);
        let anchored = caches(&db, 0, 250_000, 10_000);
        let wide = caches(&db, 0, 0, 2);
        let index = caches(&db, 64, 0, 10_000);
        let check = |label: &str| {
            for (page, per_page) in [
                (1, 10),
                (201, 10),
                (286, 7),
                (250, 20),
                (100, 50),
                (499, 10),
                (500, 10),
                (501, 10),
                (1000, 10),
            ] {
                let req = PageReq { page, per_page };
                let (b, tb) = db
                    .read_blocking(|c| list_with(c, None, req, SCAN_MIN, None))
                    .unwrap();
                for c in [&anchored, &wide, &index] {
                    let (a, ta) = db
                        .read_blocking(|conn| list_with(conn, None, req, SCAN_MIN, Some(c)))
                        .unwrap();
                    assert_eq!(ta, tb, "{label}");
                    assert_eq!(a, b, "{label} page {page} per {per_page}");
                }
            }
        };
        check("fresh");
        let found = |term: &str| {
            db.read_blocking(|c| {
                list_with(c, Some(term), PageReq::default(), SCAN_MIN, Some(&anchored))
            })
            .unwrap()
            .1
        };
        assert_eq!(found("renamed into"), 0);
        let now = crate::domain::now();
        db.write_blocking(None, |tx| {
            for n in ["Aaa First", "Mmm Middle", "Zzz Last"] {
                create(tx, &new_org(n), &now)?;
            }
            Ok(())
        })
        .unwrap();
        check("after inserts");
        let victim: String = db
            .read_blocking(|c| {
                c.query_row(
                    "SELECT id FROM organizations LIMIT 1 OFFSET 2500",
                    (),
                    |r| r.get(0),
                )
            })
            .unwrap();
        db.write_blocking(None, |tx| {
            update(
                tx,
                &victim,
                &OrgUpdate {
                    name: Some("Renamed Into Place".into()),
                    ..OrgUpdate::default()
                },
                &now,
            )?;
            Ok(())
        })
        .unwrap();
        check("after a rename");
        assert_eq!(found("renamed into"), 1, "a cached search sees the rename");
        db.write_blocking(None, |tx| delete(tx, &victim)).unwrap();
        check("after a delete");
        assert_eq!(found("renamed into"), 0, "a cached search sees the delete");
        assert_eq!(
            db.read_blocking(|c| crate::storage::counter(c, "organizations"))
                .unwrap(),
            5002
        );
    }
}
