//! `invois export` / `invois import`: the whole data set as one JSON document in the API's own
//! field names and shapes (camelCase, arrays as arrays, nullable fields present as `null`),
//! so that a merchant can move to another host, engine or tool. Tiers, organizations, users
//! and memberships keep their ids and timestamps; API keys travel with their argon2id hashes
//! (never a secret), so that clients keep working after a move; the audit trail travels in
//! its order; console operators travel with their argon2id password hashes (their sessions do
//! not: a move logs everyone out). Derived data (search folds, member counts, counters) is
//! recomputed on import.
//!
//! Version 2 grew two additions that older version-2 documents lack and import without:
//! `events[].actorOperatorId` and `operators` (both empty or `null` there). Then (issue 14)
//! `externalId` and `metadata` on organizations and users and `metadata` on memberships,
//! after the other fields; documents without them import with `null` and `{}`.

use crate::storage::sql::{params, Conn, Params, Row, Stmt};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::domain::fold;
use crate::storage::tiers::parse_features;
use crate::storage::users::search_text;
use crate::storage::{DbError, Result};

/// The format version written into every export; import reads this version only.
pub const VERSION: u32 = 2;

/// The whole export document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Export {
    pub version: u32,
    pub exported_at: String,
    pub tiers: Vec<Tier>,
    pub organizations: Vec<Organization>,
    pub users: Vec<User>,
    pub memberships: Vec<Membership>,
    pub keys: Vec<Key>,
    pub events: Vec<Event>,
    /// Console operators (after the API's data, as additions come).
    pub operators: Vec<Operator>,
}

/// A premium tier, as `GET /tiers/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub limits: Limits,
    pub created_at: String,
    pub updated_at: String,
}

/// A tier's limits; each may be `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    pub max_users: Option<i64>,
    pub max_storage: Option<String>,
    pub api_calls_per_month: Option<i64>,
}

/// An organization; its tier by id (as `PUT /organizations/{id}` takes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub premium_tier_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Absent in documents from before metadata (issue 14): `null`.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Absent in documents from before metadata (issue 14): `{}`.
    #[serde(default = "empty_object")]
    pub metadata: Value,
}

/// A user, without the memberships (those are listed on their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub dob: Option<String>,
    pub role: String,
    pub created_at: String,
    pub updated_at: String,
    /// Absent in documents from before metadata (issue 14): `null`.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Absent in documents from before metadata (issue 14): `{}`.
    #[serde(default = "empty_object")]
    pub metadata: Value,
}

/// A membership (the Data Models page's `Member` without the embedded objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Membership {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub role: String,
    pub created_at: String,
    /// Absent in documents from before metadata (issue 14): `{}`.
    #[serde(default = "empty_object")]
    pub metadata: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A stored metadata text as the document's JSON object.
fn metadata_of(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| DbError::Internal(format!("stored metadata: {e}")))
}

/// A document's metadata as stored text, checked as the API checks it.
fn metadata_text(v: &Value, at: (&str, usize, &str)) -> Result<String> {
    let (table, i, id) = at;
    crate::domain::metadata::parse_metadata(v).map_err(|m| bad(format!("{table}[{i}] ({id}): {m}")))
}

/// An API key as `GET /keys` lists it, plus the argon2id hash of its secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Key {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub replaced_by: Option<String>,
    pub secret_hash: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("secret_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// An audit event, as `GET /events` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor_key_id: Option<String>,
    pub subject_id: String,
    pub changes: Vec<String>,
    pub created_at: String,
    /// Absent in documents from before the console: `null`.
    #[serde(default)]
    pub actor_operator_id: Option<String>,
}

/// A console operator, with the argon2id hash of the password (never the password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operator {
    pub id: String,
    pub email: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_login_at: Option<String>,
    pub password_hash: String,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn rows<T>(
    conn: &Conn<'_>,
    sql: &str,
    f: impl FnMut(&Row<'_>) -> crate::storage::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let out = stmt
        .query_map((), f)?
        .collect::<crate::storage::Result<_>>()?;
    Ok(out)
}

/// Every exported row, in insertion order (so that export, import, export gives the same
/// document). Runs in one read transaction: a consistent snapshot.
pub fn export(conn: &Conn<'_>) -> Result<Export> {
    let tiers = rows(
        conn,
        "SELECT id, name, features, max_users, max_storage, api_calls_per_month, created_at, updated_at \
         FROM premium_tiers ORDER BY created_at, id",
        |r| {
            Ok(Tier {
                id: r.get(0)?,
                name: r.get(1)?,
                features: parse_features(&r.get::<_, String>(2)?),
                limits: Limits {
                    max_users: r.get(3)?,
                    max_storage: r.get(4)?,
                    api_calls_per_month: r.get(5)?,
                },
                created_at: r.get(6)?,
                updated_at: r.get(7)?,
            })
        },
    )?;
    let organizations = rows(
        conn,
        "SELECT id, name, slug, logo, premium_tier_id, created_at, updated_at, external_id, metadata FROM organizations ORDER BY rid",
        |r| {
            Ok(Organization {
                id: r.get(0)?,
                name: r.get(1)?,
                slug: r.get(2)?,
                logo: r.get(3)?,
                premium_tier_id: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                external_id: r.get(7)?,
                metadata: metadata_of(&r.get::<_, String>(8)?)?,
            })
        },
    )?;
    let users = rows(
        conn,
        "SELECT id, name, first_name, last_name, email, phone, dob, role, created_at, updated_at, \
         external_id, metadata FROM users ORDER BY rid",
        |r| {
            Ok(User {
                id: r.get(0)?,
                name: r.get(1)?,
                first_name: r.get(2)?,
                last_name: r.get(3)?,
                email: r.get(4)?,
                phone: r.get(5)?,
                dob: r.get(6)?,
                role: r.get(7)?,
                created_at: r.get(8)?,
                updated_at: r.get(9)?,
                external_id: r.get(10)?,
                metadata: metadata_of(&r.get::<_, String>(11)?)?,
            })
        },
    )?;
    let memberships = rows(
        conn,
        "SELECT id, user_id, organization_id, role, created_at, metadata FROM memberships ORDER BY rid",
        |r| {
            Ok(Membership {
                id: r.get(0)?,
                user_id: r.get(1)?,
                organization_id: r.get(2)?,
                role: r.get(3)?,
                created_at: r.get(4)?,
                metadata: metadata_of(&r.get::<_, String>(5)?)?,
            })
        },
    )?;
    let keys = rows(
        conn,
        "SELECT id, name, scopes, created_at, expires_at, revoked_at, last_used_at, replaced_by, secret_hash \
         FROM api_keys ORDER BY created_at, id",
        |r| {
            Ok(Key {
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
                secret_hash: r.get(8)?,
            })
        },
    )?;
    let events = rows(
        conn,
        "SELECT id, type, actor_key_id, subject_id, changes, created_at, actor_operator_id FROM events ORDER BY seq",
        |r| {
            Ok(Event {
                id: r.get(0)?,
                kind: r.get(1)?,
                actor_key_id: r.get(2)?,
                subject_id: r.get(3)?,
                changes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                created_at: r.get(5)?,
                actor_operator_id: r.get(6)?,
            })
        },
    )?;
    let operators = rows(
        conn,
        "SELECT id, email, created_at, updated_at, last_login_at, password_hash FROM operators ORDER BY created_at, id",
        |r| {
            Ok(Operator {
                id: r.get(0)?,
                email: r.get(1)?,
                created_at: r.get(2)?,
                updated_at: r.get(3)?,
                last_login_at: r.get(4)?,
                password_hash: r.get(5)?,
            })
        },
    )?;
    Ok(Export {
        version: VERSION,
        exported_at: crate::domain::now(),
        tiers,
        organizations,
        users,
        memberships,
        keys,
        events,
        operators,
    })
}

/// The top level of an export, its rows not yet read (so that an error can say which row).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Outline {
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    exported_at: String,
    tiers: Vec<Value>,
    organizations: Vec<Value>,
    users: Vec<Value>,
    memberships: Vec<Value>,
    keys: Vec<Value>,
    events: Vec<Value>,
    #[serde(default)]
    operators: Vec<Value>,
}

fn read_rows<T: DeserializeOwned>(table: &str, rows: Vec<Value>) -> Result<Vec<T>, String> {
    rows.into_iter()
        .enumerate()
        .map(|(i, v)| serde_json::from_value(v).map_err(|e| format!("{table}[{i}]: {e}")))
        .collect()
}

/// Reads an export document strictly: every field known, every row of the right shape. The
/// error names the row and the field (`users[3]: unknown field `nickname`, expected …`).
pub fn parse(text: &str) -> Result<Export, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let version = doc
        .as_object()
        .ok_or("not an invois export (the document is not a JSON object)")?
        .get("version")
        .ok_or("not an invois export of version 2 (it has no \"version\")")?;
    if version.as_u64() != Some(u64::from(VERSION)) {
        return Err(format!(
            "an export of version {version}; this invois imports version {VERSION} only"
        ));
    }
    let o: Outline = serde_json::from_value(doc).map_err(|e| e.to_string())?;
    Ok(Export {
        version: VERSION,
        exported_at: o.exported_at,
        tiers: read_rows("tiers", o.tiers)?,
        organizations: read_rows("organizations", o.organizations)?,
        users: read_rows("users", o.users)?,
        memberships: read_rows("memberships", o.memberships)?,
        keys: read_rows("keys", o.keys)?,
        events: read_rows("events", o.events)?,
        operators: read_rows("operators", o.operators)?,
    })
}

fn bad(message: String) -> DbError {
    DbError::BadImport(message)
}

/// Runs one insert; a refused row (duplicate id or email, missing user or organization,
/// unknown role) becomes an error naming the row.
fn insert(stmt: &mut Stmt<'_>, at: (&str, usize, &str), values: impl Params) -> Result<()> {
    let (table, i, id) = at;
    stmt.execute(values).map_err(|e| {
        let m = match e {
            DbError::Conflict {
                what: crate::storage::Conflict::ExternalIdTaken,
            } => Some(format!("UNIQUE constraint failed: {table}.external_id")),
            _ => refused(&e),
        };
        match m {
            Some(m) => bad(format!("{table}[{i}] ({id}): {m}")),
            None => e,
        }
    })?;
    Ok(())
}

/// Why the database refused a row, in the same words on both engines (SQLite's): a UNIQUE,
/// FOREIGN KEY, CHECK or NOT NULL constraint; `None` for other failures.
fn refused(e: &DbError) -> Option<String> {
    match e {
        DbError::Conflict {
            what: crate::storage::Conflict::EmailTaken,
        } => Some("UNIQUE constraint failed: users.email_fold".into()),
        DbError::Duplicate { constraint, .. } => {
            Some(format!("UNIQUE constraint failed: {constraint}"))
        }
        DbError::Db(source) => {
            if let Some(rusqlite::Error::SqliteFailure(_, Some(m))) = source.downcast_ref() {
                return Some(m.clone());
            }
            let db = source
                .downcast_ref::<crate::storage::error::PgError>()?
                .0
                .as_db_error()?;
            match db.code().code() {
                "23503" => Some("FOREIGN KEY constraint failed".into()),
                "23514" => Some(format!(
                    "CHECK constraint failed: {}",
                    db.constraint().unwrap_or_default()
                )),
                "23502" => Some(format!(
                    "NOT NULL constraint failed: {}.{}",
                    db.table().unwrap_or_default(),
                    db.column().unwrap_or_default()
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Rows imported per table, in the document's order.
pub type Counts = Vec<(&'static str, usize)>;

/// Loads `doc` into an empty database, all or nothing (one transaction).
///
/// On SQLite it runs on one plain connection (closed on return, so that no `-wal` file is
/// left beside the database by a one-shot command); on PostgreSQL as any other write.
pub fn import(cfg: &crate::config::DatabaseConfig, doc: &Export) -> Result<Counts> {
    if cfg.url.trim().is_empty() {
        let mut conn = crate::storage::open_migrated(cfg).map_err(|e| DbError::Internal(e.0))?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let counts = import_in(&Conn::Sqlite(&tx), doc)?;
        super::fts::apply_pending(&tx)?;
        tx.commit()?;
        Ok(counts)
    } else {
        let db = crate::storage::open(cfg).map_err(|e| DbError::Internal(e.0))?;
        db.write_blocking(None, |tx| import_in(tx, doc))
    }
}

fn import_in(tx: &Conn<'_>, doc: &Export) -> Result<Counts> {
    let existing: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM premium_tiers) + (SELECT count(*) FROM organizations) \
         + (SELECT count(*) FROM users) + (SELECT count(*) FROM memberships) \
         + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM events) \
         + (SELECT count(*) FROM operators)",
        (),
        |r| r.get(0),
    )?;
    if existing > 0 {
        return Err(bad(if tx.is_postgres() {
            "the database is not empty; import into an empty database (another --database-url)"
                .into()
        } else {
            "the database is not empty; import into a new file (--db NEW.db)".into()
        }));
    }
    if tx.is_postgres() {
        // Row triggers that move one counter row per inserted row grow slower with every
        // update of that row in one transaction (sql/postgres/README.md): lifted for the load,
        // the counts recomputed once. ALTER TABLE is transactional: a failed import leaves
        // the triggers as they were.
        tx.execute_batch(
            "ALTER TABLE premium_tiers DISABLE TRIGGER USER; ALTER TABLE organizations DISABLE TRIGGER USER; \
             ALTER TABLE users DISABLE TRIGGER USER; ALTER TABLE memberships DISABLE TRIGGER USER;",
        )?;
        insert_all(tx, doc)?;
        tx.execute_batch(
            "UPDATE organizations o SET member_count = c.n FROM \
               (SELECT organization_id, count(*) AS n FROM memberships GROUP BY organization_id) c \
               WHERE c.organization_id = o.id; \
             UPDATE counters SET value = (SELECT count(*) FROM organizations) WHERE name = 'organizations'; \
             UPDATE counters SET value = (SELECT count(*) FROM users) WHERE name = 'users'; \
             UPDATE counters SET value = value + 1 WHERE name IN ('organizations_version', 'org_details_version'); \
             ALTER TABLE premium_tiers ENABLE TRIGGER USER; ALTER TABLE organizations ENABLE TRIGGER USER; \
             ALTER TABLE users ENABLE TRIGGER USER; ALTER TABLE memberships ENABLE TRIGGER USER;",
        )?;
    } else {
        insert_all(tx, doc)?;
    }
    Ok(vec![
        ("tiers", doc.tiers.len()),
        ("organizations", doc.organizations.len()),
        ("users", doc.users.len()),
        ("memberships", doc.memberships.len()),
        ("keys", doc.keys.len()),
        ("events", doc.events.len()),
        ("operators", doc.operators.len()),
    ])
}

/// Every row of `doc`, in dependency order (tiers before the organizations that use them,
/// users and organizations before memberships).
fn insert_all(tx: &Conn<'_>, doc: &Export) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO premium_tiers (id, name, features, max_users, max_storage, api_calls_per_month, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, t) in doc.tiers.iter().enumerate() {
        let features = serde_json::to_string(&t.features)
            .map_err(|e| DbError::Internal(format!("features: {e}")))?;
        let l = &t.limits;
        insert(
            &mut stmt,
            ("tiers", i, &t.id),
            params![
                t.id,
                t.name,
                features,
                l.max_users,
                l.max_storage,
                l.api_calls_per_month,
                t.created_at,
                t.updated_at
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO organizations (id, name, name_fold, slug, logo, premium_tier_id, created_at, updated_at, external_id, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (i, o) in doc.organizations.iter().enumerate() {
        let metadata = metadata_text(&o.metadata, ("organizations", i, &o.id))?;
        insert(
            &mut stmt,
            ("organizations", i, &o.id),
            params![
                o.id,
                o.name,
                fold(&o.name),
                o.slug,
                o.logo,
                o.premium_tier_id,
                o.created_at,
                o.updated_at,
                o.external_id,
                metadata
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO users (id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at, external_id, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for (i, u) in doc.users.iter().enumerate() {
        let metadata = metadata_text(&u.metadata, ("users", i, &u.id))?;
        insert(
            &mut stmt,
            ("users", i, &u.id),
            params![
                u.id,
                u.name,
                u.first_name,
                u.last_name,
                u.email,
                fold(&u.email),
                search_text(&u.name, &u.email),
                u.phone,
                u.dob,
                u.role,
                u.created_at,
                u.updated_at,
                u.external_id,
                metadata
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO memberships (id, user_id, organization_id, role, created_at, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (i, m) in doc.memberships.iter().enumerate() {
        let metadata = metadata_text(&m.metadata, ("memberships", i, &m.id))?;
        insert(
            &mut stmt,
            ("memberships", i, &m.id),
            params![
                m.id,
                m.user_id,
                m.organization_id,
                m.role,
                m.created_at,
                metadata
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at, expires_at, revoked_at, last_used_at, replaced_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (i, k) in doc.keys.iter().enumerate() {
        insert(
            &mut stmt,
            ("keys", i, &k.id),
            params![
                k.id,
                k.name,
                k.secret_hash,
                k.scopes.join(" "),
                k.created_at,
                k.expires_at,
                k.revoked_at,
                k.last_used_at,
                k.replaced_by
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO operators (id, email, email_fold, password_hash, created_at, updated_at, last_login_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, o) in doc.operators.iter().enumerate() {
        insert(
            &mut stmt,
            ("operators", i, &o.id),
            params![
                o.id,
                o.email,
                fold(&o.email),
                o.password_hash,
                o.created_at,
                o.updated_at,
                o.last_login_at
            ],
        )?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (id, type, actor_key_id, subject_id, changes, created_at, actor_operator_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, e) in doc.events.iter().enumerate() {
        let changes = serde_json::to_string(&e.changes)
            .map_err(|err| DbError::Internal(format!("changes: {err}")))?;
        insert(
            &mut stmt,
            ("events", i, &e.id),
            params![
                e.id,
                e.kind,
                e.actor_key_id,
                e.subject_id,
                changes,
                e.created_at,
                e.actor_operator_id
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Value {
        serde_json::json!({
            "version": 2, "exportedAt": "2024-01-15T10:00:00Z",
            "tiers": [], "organizations": [], "users": [{
                "id": "user-1", "name": "Jane Smith", "firstName": null, "lastName": null,
                "email": "jane@example.com", "phone": null, "dob": null, "role": "customer",
                "createdAt": "2024-01-15T10:00:00Z", "updatedAt": "2024-01-15T10:00:00Z",
                "externalId": "shop-1", "metadata": {"plan": "gold"}
            }],
            "memberships": [], "keys": [], "events": [], "operators": []
        })
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_the_row_and_the_field() {
        let mut doc = minimal();
        doc["users"][0]["nickname"] = Value::from("J");
        let err = parse(&doc.to_string()).unwrap_err();
        assert!(
            err.starts_with("users[0]: unknown field `nickname`, expected one of"),
            "{err}"
        );
        let mut doc = minimal();
        doc["webhooks"] = Value::Array(vec![]);
        let err = parse(&doc.to_string()).unwrap_err();
        assert!(err.starts_with("unknown field `webhooks`"), "{err}");
    }

    #[test]
    fn a_missing_table_or_another_version_is_refused() {
        let mut doc = minimal();
        doc.as_object_mut().unwrap().remove("events");
        assert_eq!(
            parse(&doc.to_string()).unwrap_err(),
            "missing field `events`"
        );
        let old = serde_json::json!({"format": 1, "premium_tiers": []});
        assert!(parse(&old.to_string())
            .unwrap_err()
            .contains("no \"version\""));
        let mut doc = minimal();
        doc["version"] = Value::from(3);
        assert_eq!(
            parse(&doc.to_string()).unwrap_err(),
            "an export of version 3; this invois imports version 2 only"
        );
    }

    #[test]
    fn a_version_2_document_from_before_the_console_imports_as_it_was() {
        let mut doc = minimal();
        doc.as_object_mut().unwrap().remove("operators");
        doc["events"] = serde_json::json!([{"id": "evt-1", "type": "user.created",
            "actorKeyId": null, "subjectId": "user-1", "changes": [],
            "createdAt": "2024-01-15T10:00:00Z"}]);
        let parsed = parse(&doc.to_string()).unwrap();
        assert!(parsed.operators.is_empty());
        assert_eq!(parsed.events[0].actor_operator_id, None);
    }

    #[test]
    fn a_version_2_document_from_before_metadata_imports_with_null_and_empty_objects() {
        let mut doc = minimal();
        let user = doc["users"][0].as_object_mut().unwrap();
        user.remove("externalId");
        user.remove("metadata");
        let parsed = parse(&doc.to_string()).unwrap();
        assert_eq!(parsed.users[0].external_id, None);
        assert_eq!(parsed.users[0].metadata, serde_json::json!({}));
    }

    #[test]
    fn a_parsed_document_serializes_back_to_the_same_json() {
        let doc = minimal();
        let parsed = parse(&doc.to_string()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), doc);
    }
}
