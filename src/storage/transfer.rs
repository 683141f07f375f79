//! JSON export and import of all business data, so a merchant can move to another host or
//! tool: tiers, organizations, users and memberships with their ids and timestamps. API keys
//! and the audit trail stay behind (keys are re-issued on the new host).

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Transaction};
use serde_json::{Map, Value};

use crate::domain::fold;
use crate::error::{ApiError, Result};
use crate::storage::users::search_text;

/// The format version written into every export.
pub const FORMAT: i64 = 1;

/// `(table, columns)` in dependency order; derived columns are recomputed on import.
const TABLES: &[(&str, &[&str])] = &[
    (
        "premium_tiers",
        &[
            "id",
            "name",
            "features",
            "max_users",
            "max_storage",
            "api_calls_per_month",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "organizations",
        &[
            "id",
            "name",
            "slug",
            "logo",
            "premium_tier_id",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "users",
        &[
            "id",
            "name",
            "first_name",
            "last_name",
            "email",
            "phone",
            "dob",
            "role",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "memberships",
        &["id", "user_id", "organization_id", "role", "created_at"],
    ),
];

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Value::from(String::from_utf8_lossy(t).into_owned())
        }
    }
}

/// Every row of every exported table, as one JSON document.
pub fn export(conn: &Connection) -> Result<Value> {
    let mut doc = Map::new();
    doc.insert("format".into(), Value::from(FORMAT));
    doc.insert("exportedAt".into(), Value::from(crate::domain::now()));
    for (table, cols) in TABLES {
        let sql = format!("SELECT {} FROM {table} ORDER BY rowid", cols.join(", "));
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut obj = Map::new();
            for (i, c) in cols.iter().enumerate() {
                obj.insert((*c).to_owned(), to_json(r.get_ref(i)?));
            }
            out.push(Value::Object(obj));
        }
        doc.insert((*table).to_owned(), Value::Array(out));
    }
    Ok(Value::Object(doc))
}

fn text(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_import",
        message: msg,
    }
}

/// Loads an export into an empty database; returns the number of rows per table.
pub fn import(tx: &Transaction<'_>, doc: &Value) -> Result<Vec<(String, usize)>> {
    if doc.get("format").and_then(Value::as_i64) != Some(FORMAT) {
        return Err(bad(format!("not an invois export of format {FORMAT}")));
    }
    let existing: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM users) + (SELECT count(*) FROM premium_tiers)",
        [],
        |r| r.get(0),
    )?;
    if existing > 0 {
        return Err(bad(
            "the database is not empty; import into a new --db".into()
        ));
    }
    let mut counts = Vec::new();
    for (table, cols) in TABLES {
        let rows = doc
            .get(*table)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("missing array {table}")))?;
        let mut all: Vec<String> = cols.iter().map(|c| (*c).to_owned()).collect();
        match *table {
            "organizations" => all.push("name_fold".into()),
            "users" => all.extend(["email_fold".to_owned(), "search_fold".to_owned()]),
            _ => {}
        }
        let marks: Vec<String> = (1..=all.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            all.join(", "),
            marks.join(", ")
        );
        let mut stmt = tx.prepare(&sql)?;
        for (n, row) in rows.iter().enumerate() {
            let o = row
                .as_object()
                .ok_or_else(|| bad(format!("{table}[{n}] is not an object")))?;
            let mut vals: Vec<rusqlite::types::Value> = cols
                .iter()
                .map(|c| match o.get(*c) {
                    Some(Value::String(s)) => rusqlite::types::Value::Text(s.clone()),
                    Some(Value::Number(x)) => x.as_i64().map_or(
                        rusqlite::types::Value::Null,
                        rusqlite::types::Value::Integer,
                    ),
                    _ => rusqlite::types::Value::Null,
                })
                .collect();
            match *table {
                "organizations" => vals.push(rusqlite::types::Value::Text(fold(
                    &text(o, "name").unwrap_or_default(),
                ))),
                "users" => {
                    let (name, email) = (
                        text(o, "name").unwrap_or_default(),
                        text(o, "email").unwrap_or_default(),
                    );
                    vals.push(rusqlite::types::Value::Text(fold(&email)));
                    vals.push(rusqlite::types::Value::Text(search_text(&name, &email)));
                }
                _ => {}
            }
            stmt.execute(rusqlite::params_from_iter(vals))
                .map_err(|e| bad(format!("{table}[{n}]: {e}")))?;
        }
        counts.push(((*table).to_owned(), rows.len()));
    }
    Ok(counts)
}
