//! Search terms: the folded needle and the plan that narrows rows by it (FTS5 trigrams or
//! a walk of the ordered name index), shared by the organization and user lists.

use crate::storage::sql::{params, Conn};

use crate::domain::fold;
use crate::storage::Result;

/// A search term, folded, with the FTS5 query of its trigrams (terms of 3+ characters).
///
/// The match itself is always `instr` on the folded text, so `%`, `_` and `\\` are plain
/// characters and results equal a plain substring scan; the index only narrows the rows.
pub struct Search {
    pub fold: String,
    pub grams: Vec<String>,
}

/// Most trigrams put in one FTS query; `instr` checks the rest.
const MAX_TRIGRAMS: usize = 12;

/// The FTS plan is kept while a term has at most this many candidate rows, or one in
/// `SCAN_RATIO` of the table if that is more: fetching and sorting candidates costs about
/// that many times more per row than walking the ordered name index with `instr`.
pub const SCAN_MIN: i64 = 20_000;
pub const SCAN_RATIO: i64 = 15;

impl Search {
    pub fn new(term: &str) -> Self {
        let fold = fold(term);
        let chars: Vec<char> = fold.chars().collect();
        let mut grams: Vec<String> = Vec::new();
        for w in chars.windows(3) {
            let g: String = w.iter().collect();
            if !grams.contains(&g) {
                grams.push(g);
            }
        }
        Self { fold, grams }
    }

    /// The condition "`column` contains the term", with the term as parameter `?n`: `instr`
    /// on SQLite (the FTS plan, if any, only narrows the rows), `LIKE` on PostgreSQL (where
    /// the trigram GIN index serves it). Both are exact substring matches on the folded text.
    pub fn contains(conn: &Conn<'_>, column: &str, n: usize) -> String {
        if conn.is_postgres() {
            format!("{column} LIKE ?{n} ESCAPE '\\'")
        } else {
            format!("instr({column}, ?{n}) > 0")
        }
    }

    /// The parameter of [`Search::contains`]: the folded term, as a LIKE pattern with `%`,
    /// `_` and `\\` literal on PostgreSQL.
    pub fn needle(&self, conn: &Conn<'_>) -> String {
        if conn.is_postgres() {
            let mut p = String::with_capacity(self.fold.len() + 2);
            p.push('%');
            for c in self.fold.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    p.push('\\');
                }
                p.push(c);
            }
            p.push('%');
            p
        } else {
            self.fold.clone()
        }
    }

    /// The FTS5 query: each trigram quoted alone is one token (works with detail=none).
    pub fn fts_query(grams: &[String]) -> String {
        grams
            .iter()
            .map(|g| format!("\"{}\"", g.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The FTS query to narrow by, or `None` when walking the name index is the better plan:
    /// a term shorter than 3 characters, or one with more candidates than the FTS plan is
    /// worth (counted up to that cap, so the probe itself stays cheap).
    /// On PostgreSQL there is no FTS plan: `None` (the trigram index serves `LIKE` itself).
    pub fn plan(&self, conn: &Conn<'_>, table: &str, scan_min: i64) -> Result<Option<String>> {
        if self.grams.is_empty() || scan_min < 0 || conn.is_postgres() {
            return Ok(None);
        }
        let grams = if self.grams.len() > MAX_TRIGRAMS {
            let step = self.grams.len() as f64 / MAX_TRIGRAMS as f64;
            (0..MAX_TRIGRAMS)
                .map(|i| self.grams[(i as f64 * step) as usize].clone())
                .collect()
        } else {
            self.grams.clone()
        };
        let fts = Self::fts_query(&grams);
        let rows: i64 = conn.query_row(
            &format!("SELECT coalesce(max(rid), 0) FROM {table}"),
            (),
            |r| r.get(0),
        )?;
        let cap = scan_min.max(rows / SCAN_RATIO);
        let candidates: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?1 LIMIT ?2)"
            ))?
            .query_row(params![fts, cap.saturating_add(1)], |r| r.get(0))?;
        Ok((candidates <= cap).then_some(fts))
    }
}
