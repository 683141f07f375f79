//! Users.

use std::collections::HashMap;

use crate::storage::sql::{params, params_from_iter, Conn, OptionalExtension, Row, Value};

use crate::domain::fold;
use crate::storage::lookup::Lookup;
use crate::storage::records::{OrgBrief, User, UserMember, UserSummary};
use crate::storage::search::Search;
use crate::storage::PageReq;
use crate::storage::{Conflict, DbError, Result};

const COLS: &str = "u.id, u.name, u.first_name, u.last_name, u.email, u.phone, u.dob, u.role, u.created_at, u.updated_at, u.external_id, u.metadata";

fn from_row(r: &Row<'_>) -> crate::storage::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        first_name: r.get(2)?,
        last_name: r.get(3)?,
        email: r.get(4)?,
        phone: r.get(5)?,
        dob: r.get(6)?,
        role: r.get(7)?,
        members: Vec::new(),
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        external_id: r.get(10)?,
        metadata: r.get(11)?,
    })
}

/// The columns of a list item (no `dob`; `members` are not fetched for lists).
const SUMMARY_COLS: &str =
    "u.id, u.name, u.first_name, u.last_name, u.email, u.phone, u.role, u.created_at, u.updated_at, u.external_id, u.metadata";

fn summary_from_row(r: &Row<'_>) -> crate::storage::Result<UserSummary> {
    Ok(UserSummary {
        id: r.get(0)?,
        name: r.get(1)?,
        first_name: r.get(2)?,
        last_name: r.get(3)?,
        email: r.get(4)?,
        phone: r.get(5)?,
        role: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        external_id: r.get(9)?,
        metadata: r.get(10)?,
    })
}

/// What users are searched by: the folded name and email, one per line.
pub fn search_text(name: &str, email: &str) -> String {
    format!("{}\n{}", fold(name), fold(email))
}

/// Fills in each user's memberships with one query.
fn attach_members(conn: &Conn<'_>, users: &mut [User]) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; users.len()].join(",");
    let sql = format!(
        "SELECT m.user_id, m.id, m.organization_id, m.role, m.created_at, o.name, o.slug FROM memberships m \
         JOIN organizations o ON o.id = m.organization_id WHERE m.user_id IN ({marks}) ORDER BY m.created_at, m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut by_user: HashMap<String, Vec<UserMember>> = HashMap::new();
    let rows = stmt.query_map(params_from_iter(users.iter().map(|u| &u.id)), |r| {
        let org_id: String = r.get(2)?;
        Ok((
            r.get::<_, String>(0)?,
            UserMember {
                id: r.get(1)?,
                organization: OrgBrief {
                    id: org_id.clone(),
                    name: r.get(5)?,
                    slug: r.get(6)?,
                },
                organization_id: org_id,
                role: r.get(3)?,
                created_at: r.get(4)?,
            },
        ))
    })?;
    for row in rows {
        let (uid, m) = row?;
        by_user.entry(uid).or_default().push(m);
    }
    for u in users {
        u.members = by_user.remove(&u.id).unwrap_or_default();
    }
    Ok(())
}

pub fn exists(conn: &Conn<'_>, id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .exists([id])
}

pub fn get(conn: &Conn<'_>, id: &str) -> Result<Option<User>> {
    let user = conn
        .prepare_cached(&format!("SELECT {COLS} FROM users u WHERE u.id = ?1"))?
        .query_row([id], from_row)
        .optional()?;
    let Some(user) = user else { return Ok(None) };
    let mut one = [user];
    attach_members(conn, &mut one)?;
    let [user] = one;
    Ok(Some(user))
}

/// Sort orders offered by `GET /users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    NameDesc,
    Created,
    CreatedDesc,
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Name => "u.search_fold, u.id",
            Self::NameDesc => "u.search_fold DESC, u.id DESC",
            Self::Created => "u.created_at, u.id",
            Self::CreatedDesc => "u.created_at DESC, u.id DESC",
        }
    }
}

/// The table expression of a user list, its WHERE clauses and their arguments.
type Filters = (&'static str, Vec<String>, Vec<Value>);

/// The WHERE clauses of a user list, their arguments, and the table expression. Only the
/// clauses in use go into the SQL (fixed strings, never input), each combination with its
/// own cached plan. A term narrows through FTS when its trigrams are rare, otherwise it is
/// checked with instr while walking the (search_fold) index.
fn filters(
    conn: &Conn<'_>,
    query: Option<&str>,
    role: Option<&str>,
    lookup: &Lookup,
    sort: Sort,
) -> Result<Filters> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut from = "users u";
    if let Some(s) = query.map(Search::new) {
        match s.plan(conn, "users", crate::storage::search::SCAN_MIN)? {
            Some(fts) => {
                clauses
                    .push("u.rid IN (SELECT rowid FROM users_fts WHERE users_fts MATCH ?)".into());
                args.push(fts.into());
            }
            None if role.is_none()
                && lookup.is_empty()
                && matches!(sort, Sort::Name | Sort::NameDesc)
                && !conn.is_postgres() =>
            {
                from = "users u INDEXED BY users_name"
            }
            None => {}
        }
        clauses.push(
            if conn.is_postgres() {
                "u.search_fold LIKE ? ESCAPE '\\'"
            } else {
                "instr(u.search_fold, ?) > 0"
            }
            .into(),
        );
        args.push(s.needle(conn).into());
    }
    if let Some(r) = role {
        clauses.push("u.role = ?".into());
        args.push(r.into());
    }
    lookup.push(conn, "u", &mut clauses, &mut args);
    Ok((from, clauses, args))
}

fn page_of(
    conn: &Conn<'_>,
    from: &str,
    filter: &str,
    order: &str,
    args: &[Value],
) -> Result<Vec<UserSummary>> {
    let sql = format!(
        "WITH page AS MATERIALIZED (SELECT u.rid FROM {from} WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?) \
         SELECT {SUMMARY_COLS} FROM page JOIN users u ON u.rid = page.rid ORDER BY {order}"
    );
    let users = conn
        .prepare_cached(&sql)?
        .query_map(
            crate::storage::sql::params_from_iter(args.iter()),
            summary_from_row,
        )?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok(users)
}

pub fn list(
    conn: &Conn<'_>,
    query: Option<&str>,
    role: Option<&str>,
    lookup: &Lookup,
    sort: Sort,
    page: PageReq,
) -> Result<(Vec<UserSummary>, i64)> {
    let (from, clauses, mut args) = filters(conn, query, role, lookup, sort)?;
    let filter = if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let total: i64 = if clauses.is_empty() {
        crate::storage::counter(conn, "users")?
    } else {
        conn.prepare_cached(&format!("SELECT count(*) FROM {from} WHERE {filter}"))?
            .query_row(crate::storage::sql::params_from_iter(args.iter()), |r| {
                r.get(0)
            })?
    };
    args.push(i64::from(page.per_page).into());
    args.push(page.offset().into());
    Ok((page_of(conn, from, &filter, sort.order_by(), &args)?, total))
}

impl Sort {
    fn code(self) -> char {
        match self {
            Self::Name => 'n',
            Self::NameDesc => 'N',
            Self::Created => 'c',
            Self::CreatedDesc => 'C',
        }
    }

    /// The keyset condition "after (key, id)" in this order.
    fn after(self) -> &'static str {
        match self {
            Self::Name => "(u.search_fold, u.id) > (?, ?)",
            Self::NameDesc => "(u.search_fold, u.id) < (?, ?)",
            Self::Created => "(u.created_at, u.id) > (?, ?)",
            Self::CreatedDesc => "(u.created_at, u.id) < (?, ?)",
        }
    }
}

/// An opaque cursor for a user list in `sort` order after the user with sort key `key`.
fn encode_cursor(sort: Sort, key: &str, id: &str) -> String {
    format!(
        "{}{}",
        sort.code(),
        crate::storage::cursor::encode_cursor(key, id)
    )
}

/// Decodes a user-list cursor made for `sort`; the empty cursor is the start.
pub fn decode_cursor(c: &str, sort: Sort) -> Option<Option<(String, String)>> {
    if c.is_empty() {
        return Some(None);
    }
    let rest = c.strip_prefix(sort.code())?;
    crate::storage::cursor::decode_cursor(rest)
        .filter(|(k, _)| !k.is_empty())
        .map(Some)
}

/// A page of users after the cursor position, and the next page's cursor (`None` at the end).
pub fn list_after(
    conn: &Conn<'_>,
    query: Option<&str>,
    role: Option<&str>,
    lookup: &Lookup,
    sort: Sort,
    after: Option<(String, String)>,
    limit: u32,
) -> Result<(Vec<UserSummary>, Option<String>)> {
    let (from, mut clauses, mut args) = filters(conn, query, role, lookup, sort)?;
    if let Some((k, id)) = after {
        clauses.push(sort.after().into());
        args.push(Value::from(k));
        args.push(Value::from(id));
    }
    let filter = if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    args.push(Value::from(i64::from(limit)));
    args.push(Value::from(0_i64));
    let users = page_of(conn, from, &filter, sort.order_by(), &args)?;
    let next = if users.len() == limit as usize {
        users.last().map(|u| {
            let key = match sort {
                Sort::Name | Sort::NameDesc => search_text(&u.name, &u.email),
                Sort::Created | Sort::CreatedDesc => u.created_at.clone(),
            };
            encode_cursor(sort, &key, &u.id)
        })
    } else {
        None
    };
    Ok((users, next))
}

/// A validated new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub dob: Option<String>,
    pub role: String,
    pub external_id: Option<String>,
    /// A JSON object, canonical text (`domain::metadata::parse_metadata`).
    pub metadata: String,
}

/// Whether another user than `except` has `email` (compared as the unique index does).
pub fn email_taken(conn: &Conn<'_>, email: &str, except: Option<&str>) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM users WHERE email_fold = ?1 AND id IS DISTINCT FROM ?2")?
        .exists(params![fold(email), except])
}

pub fn email_conflict() -> DbError {
    DbError::Conflict {
        what: Conflict::EmailTaken,
    }
}

pub fn create(conn: &Conn<'_>, u: &NewUser, now: &str) -> Result<String> {
    let id = crate::domain::new_id("user");
    conn.prepare_cached(
        "INSERT INTO users (id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at, external_id, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        u.name,
        u.first_name,
        u.last_name,
        u.email,
        fold(&u.email),
        search_text(&u.name, &u.email),
        u.phone,
        u.dob,
        u.role,
        now,
        u.external_id,
        u.metadata
    ])
    ?;
    Ok(id)
}

/// A partial update: `None` leaves a field; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub email: Option<String>,
    pub phone: Option<Option<String>>,
    pub dob: Option<Option<String>>,
    pub role: Option<String>,
    pub external_id: Option<Option<String>>,
    /// Replaces the whole object (canonical text).
    pub metadata: Option<String>,
}

/// Applies `u`; the columns that changed, or `None` if no such user.
pub fn update(
    conn: &Conn<'_>,
    id: &str,
    u: &UserUpdate,
    now: &str,
) -> Result<Option<Vec<&'static str>>> {
    let Some(cur) = conn
        .prepare_cached(&format!("SELECT {COLS} FROM users u WHERE u.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
    else {
        return Ok(None);
    };
    let mut changed = Vec::new();
    fn pick<T: Clone + PartialEq>(
        changed: &mut Vec<&'static str>,
        field: &'static str,
        new: &Option<T>,
        cur: T,
    ) -> T {
        match new {
            Some(v) if *v != cur => {
                changed.push(field);
                v.clone()
            }
            _ => cur,
        }
    }
    let name = pick(&mut changed, "name", &u.name, cur.name);
    let first_name = pick(&mut changed, "first_name", &u.first_name, cur.first_name);
    let last_name = pick(&mut changed, "last_name", &u.last_name, cur.last_name);
    let email = pick(&mut changed, "email", &u.email, cur.email);
    let phone = pick(&mut changed, "phone", &u.phone, cur.phone);
    let dob = pick(&mut changed, "dob", &u.dob, cur.dob);
    let role = pick(&mut changed, "role", &u.role, cur.role);
    let external_id = pick(&mut changed, "external_id", &u.external_id, cur.external_id);
    let metadata = pick(&mut changed, "metadata", &u.metadata, cur.metadata);
    if !changed.is_empty() {
        conn.prepare_cached(
            "UPDATE users SET name = ?2, first_name = ?3, last_name = ?4, email = ?5, email_fold = ?6, search_fold = ?7, \
             phone = ?8, dob = ?9, role = ?10, updated_at = ?11, external_id = ?12, metadata = ?13 WHERE id = ?1",
        )?
        .execute(params![
            id,
            name,
            first_name,
            last_name,
            email,
            fold(&email),
            search_text(&name, &email),
            phone,
            dob,
            role,
            now,
            external_id,
            metadata
        ])
        ?;
    }
    Ok(Some(changed))
}

pub fn delete(conn: &Conn<'_>, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM users WHERE id = ?1")?
        .execute([id])?
        > 0)
}
