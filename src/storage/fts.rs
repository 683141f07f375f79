//! SQLite's search indexes, brought up to date once per commit (schema 9).
//!
//! FTS5 writes the rows it holds in memory to a new segment of its index at every SAVEPOINT
//! and RELEASE. The writer thread runs each write of a group in a savepoint of its own, so
//! triggers that wrote the FTS tables directly made one segment (and its merges) per write.
//! The triggers queue each change in `fts_pending` instead, within the write's savepoint, and
//! whoever commits calls [`apply_pending`] just before COMMIT: the FTS tables take the whole
//! group's changes as one segment, in the same transaction as the rows they index.

use rusqlite::Connection;

/// Applies the queued changes of the open transaction to the FTS tables and empties the
/// queue. Outside any savepoint, so that FTS5 flushes once, at COMMIT; and row by row in
/// rowid order, with each row's changes folded into one (remove the text it had before the
/// first, add the text it has after the last): FTS5 also flushes whenever a rowid comes that
/// is not above the last one it took.
pub(crate) fn apply_pending(conn: &Connection) -> rusqlite::Result<()> {
    let mut queued =
        conn.prepare_cached("SELECT tbl, rid, old, new FROM fts_pending ORDER BY tbl, rid, seq")?;
    let mut rows = queued.query([])?;
    // The row being folded: (table, rowid, text before the first change, text after the last).
    let mut row_at: Option<(String, i64, Option<String>, Option<String>)> = None;
    let mut any = false;
    loop {
        let next = match rows.next()? {
            Some(r) => Some((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            )),
            None => None,
        };
        match (&mut row_at, next) {
            (Some((tbl, rid, _, new)), Some((t, r, _, n))) if *tbl == t && *rid == r => {
                *new = n;
                continue;
            }
            (at, next) => {
                if let Some((tbl, rid, old, new)) = at.take() {
                    apply_one(conn, &tbl, rid, old.as_deref(), new.as_deref())?;
                    any = true;
                }
                match next {
                    Some(n) => *at = Some(n),
                    None => break,
                }
            }
        }
    }
    drop(rows);
    if any {
        conn.prepare_cached("DELETE FROM fts_pending")?
            .execute([])?;
    }
    Ok(())
}

/// One row's change to its table's FTS index.
fn apply_one(
    conn: &Connection,
    tbl: &str,
    rid: i64,
    old: Option<&str>,
    new: Option<&str>,
) -> rusqlite::Result<()> {
    let (remove, add) = if tbl == "organizations" {
        (
            "INSERT INTO organizations_fts (organizations_fts, rowid, name_fold) VALUES ('delete', ?1, ?2)",
            "INSERT INTO organizations_fts (rowid, name_fold) VALUES (?1, ?2)",
        )
    } else {
        (
            "INSERT INTO users_fts (users_fts, rowid, search_fold) VALUES ('delete', ?1, ?2)",
            "INSERT INTO users_fts (rowid, search_fold) VALUES (?1, ?2)",
        )
    };
    if old.is_some() && old == new {
        // A write that kept the indexed text (a PUT with the same name).
        return Ok(());
    }
    if let Some(old) = old {
        conn.prepare_cached(remove)?
            .execute(rusqlite::params![rid, old])?;
    }
    if let Some(new) = new {
        conn.prepare_cached(add)?
            .execute(rusqlite::params![rid, new])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::DatabaseConfig;
    use rusqlite::Connection;

    fn config(dir: &tempfile::TempDir) -> DatabaseConfig {
        DatabaseConfig {
            path: dir.path().join("fts.db"),
            ..DatabaseConfig::default()
        }
    }

    fn insert_user(c: &Connection, n: i64) -> rusqlite::Result<usize> {
        c.execute(
            "INSERT INTO users (id, name, email, email_fold, search_fold, role, created_at, updated_at) \
             VALUES ('user-' || ?1, 'Name ' || ?1, 'u' || ?1 || '@example.com', 'u' || ?1 || '@example.com', \
             'name ' || ?1 || char(10) || 'u' || ?1 || '@example.com', 'customer', '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z')",
            [n],
        )
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The search index and its table agree row for row (FTS5's own check).
    fn assert_consistent(c: &Connection) {
        c.execute_batch(
            "INSERT INTO users_fts (users_fts) VALUES ('integrity-check'); \
             INSERT INTO organizations_fts (organizations_fts) VALUES ('integrity-check');",
        )
        .unwrap();
    }

    /// As the writer thread runs a group: each write in a savepoint of its own, one of them
    /// rolled back, then the queue applied before COMMIT. The index gets one segment for the
    /// whole group (with the old triggers it got one per write) and only the kept writes.
    #[test]
    fn a_group_of_writes_makes_one_segment_and_drops_what_was_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::storage::open_migrated(&config(&dir)).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        for n in 100..120 {
            c.execute_batch("SAVEPOINT job").unwrap();
            insert_user(&c, n).unwrap();
            if n == 107 {
                c.execute_batch("ROLLBACK TO job; RELEASE job").unwrap();
            } else {
                c.execute_batch("RELEASE job").unwrap();
            }
        }
        c.execute_batch(
            "SAVEPOINT job; UPDATE users SET search_fold = 'renamed' WHERE id = 'user-103'; RELEASE job; \
             SAVEPOINT job; DELETE FROM users WHERE id = 'user-104'; RELEASE job;",
        )
        .unwrap();
        // A row created and then changed, and one created and then deleted, in one group.
        insert_user(&c, 200).unwrap();
        insert_user(&c, 201).unwrap();
        c.execute_batch(
            "UPDATE users SET search_fold = 'later' WHERE id = 'user-200';              DELETE FROM users WHERE id = 'user-201';",
        )
        .unwrap();
        assert_eq!(count(&c, "SELECT count(*) FROM fts_pending"), 25);
        assert_eq!(
            count(&c, "SELECT count(DISTINCT segid) FROM users_fts_idx"),
            0
        );
        super::apply_pending(&c).unwrap();
        c.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&c, "SELECT count(*) FROM fts_pending"), 0);
        assert_eq!(
            count(&c, "SELECT count(DISTINCT segid) FROM users_fts_idx"),
            1
        );
        assert_consistent(&c);
        let matching = |term: &str| {
            count(
                &c,
                &format!("SELECT count(*) FROM users_fts WHERE users_fts MATCH '\"{term}\"'"),
            )
        };
        assert_eq!(
            matching("exa"),
            17,
            "20 inserted, 1 rolled back, 1 renamed, 1 deleted"
        );
        assert_eq!(matching("ren"), 1);
        assert_eq!(matching("lat"), 1);
        assert_eq!(matching("200"), 0);
        assert_eq!(matching("201"), 0);
        assert_eq!(matching("107"), 0);
        assert_eq!(matching("104"), 0);
    }

    /// A write made through [`crate::storage::Db::write_blocking`] is searchable once
    /// committed, with nothing left queued.
    #[test]
    fn a_direct_write_applies_its_queue_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::open(&config(&dir)).unwrap();
        db.write_blocking(None, |c| {
            c.execute_batch(
                "INSERT INTO organizations (id, name, name_fold, slug, created_at, updated_at) \
                 VALUES ('org-1', 'Kedai Runcit', 'kedai runcit', 'kedai-runcit', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'); \
                 UPDATE organizations SET name_fold = 'kedai kopi' WHERE id = 'org-1';",
            )
        })
        .unwrap();
        let (queued, found, stale): (i64, i64, i64) = db
            .read_blocking(|c| {
                c.query_row(
                    "SELECT (SELECT count(*) FROM fts_pending), \
                     (SELECT count(*) FROM organizations_fts WHERE organizations_fts MATCH '\"kop\"'), \
                     (SELECT count(*) FROM organizations_fts WHERE organizations_fts MATCH '\"run\"')",
                    (),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap();
        assert_eq!((queued, found, stale), (0, 1, 0));
    }

    /// Changes queued by another program (a plain connection that committed without
    /// applying them) are applied when invois next opens the file.
    #[test]
    fn changes_queued_by_another_program_are_applied_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir);
        drop(crate::storage::open_migrated(&cfg).unwrap());
        let other = Connection::open(&cfg.path).unwrap();
        insert_user(&other, 101).unwrap();
        assert_eq!(count(&other, "SELECT count(*) FROM fts_pending"), 1);
        drop(other);
        let c = crate::storage::open_migrated(&cfg).unwrap();
        assert_eq!(count(&c, "SELECT count(*) FROM fts_pending"), 0);
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM users_fts WHERE users_fts MATCH '\"101\"'"
            ),
            1
        );
        assert_consistent(&c);
    }
}
