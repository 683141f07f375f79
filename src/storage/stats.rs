//! What the console's dashboard shows of the data: row counts and the database's size.

use crate::storage::sql::Conn;
use crate::storage::Result;

/// How many of each there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub organizations: i64,
    pub users: i64,
    pub memberships: i64,
    pub tiers: i64,
    pub keys: i64,
}

/// The row counts (organizations and users from the trigger-kept counters).
pub fn counts(conn: &Conn<'_>) -> Result<Counts> {
    Ok(Counts {
        organizations: crate::storage::counter(conn, "organizations")?,
        users: crate::storage::counter(conn, "users")?,
        memberships: conn.query_row("SELECT count(*) FROM memberships", (), |r| r.get(0))?,
        tiers: conn.query_row("SELECT count(*) FROM premium_tiers", (), |r| r.get(0))?,
        keys: conn.query_row("SELECT count(*) FROM api_keys", (), |r| r.get(0))?,
    })
}

/// The size of the database in bytes: SQLite's pages (not counting its WAL), or what
/// PostgreSQL reports for the whole database.
pub fn size_bytes(conn: &Conn<'_>) -> Result<i64> {
    if conn.is_postgres() {
        conn.query_row(
            "SELECT pg_database_size(current_database())::bigint",
            (),
            |r| r.get(0),
        )
    } else {
        conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            (),
            |r| r.get(0),
        )
    }
}
