//! Rate-limit windows shared by every instance on PostgreSQL (SPEC §4, §10): one row per
//! key holding the count of its current minute, hour and day, counted by one atomic upsert
//! per request, run in autocommit (`Db::autocommit`: one round trip, no `BEGIN`/`COMMIT`).
//! (On SQLite the one process counts in memory: `auth::rate_limit`.)

use crate::storage::sql::{params, Conn};
use crate::storage::Result;

/// Counts a request of `key_id` in the windows starting at `starts` (shortest first) unless
/// one with a limit (`limits`, 0 = none) is already exhausted, in one statement (the row
/// is locked for it, so concurrent requests on any instance count one by one). Returns each
/// window's count before this request, and whether it was counted.
pub fn count(
    conn: &Conn<'_>,
    key_id: &str,
    starts: [i64; 3],
    limits: [u32; 3],
) -> Result<([u32; 3], bool)> {
    const CUR_M: &str = "(CASE WHEN r.m_start = ?2 THEN r.m_count ELSE 0 END)";
    const CUR_H: &str = "(CASE WHEN r.h_start = ?3 THEN r.h_count ELSE 0 END)";
    const CUR_D: &str = "(CASE WHEN r.d_start = ?4 THEN r.d_count ELSE 0 END)";
    let ok = format!(
        "NOT ((?5 > 0 AND {CUR_M} >= ?5) OR (?6 > 0 AND {CUR_H} >= ?6) OR (?7 > 0 AND {CUR_D} >= ?7))"
    );
    let add = format!("(CASE WHEN {ok} THEN 1 ELSE 0 END)");
    let sql = format!(
        "INSERT INTO rate_limits AS r (key_id, m_start, m_count, h_start, h_count, d_start, d_count, counted) \
         VALUES (?1, ?2, 1, ?3, 1, ?4, 1, 1) ON CONFLICT (key_id) DO UPDATE SET \
         m_start = ?2, h_start = ?3, d_start = ?4, \
         m_count = {CUR_M} + {add}, h_count = {CUR_H} + {add}, d_count = {CUR_D} + {add}, counted = {add} \
         RETURNING m_count, h_count, d_count, counted"
    );
    let [m, h, d] = limits.map(i64::from);
    conn.prepare_cached(&sql)?.query_row(
        params![key_id, starts[0], starts[1], starts[2], m, h, d],
        |r| {
            let counted: i64 = r.get(3)?;
            let mut used = [0u32; 3];
            for (i, u) in used.iter_mut().enumerate() {
                let after: i64 = r.get(i)?;
                let before = if counted == 1 { after - 1 } else { after };
                *u = u32::try_from(before.max(0)).unwrap_or(u32::MAX);
            }
            Ok((used, counted == 1))
        },
    )
}
