//! The audit trail: one event per write, in the write's own transaction, with the webhook
//! deliveries it causes (see [`super::webhooks`]).

use crate::storage::records::Event;
use crate::storage::sql::{params, params_from_iter, Conn, Row, Value};
use crate::storage::Result;

/// Renders the resource an event is about as its GET endpoint shows it (JSON text), in the
/// write's transaction; `None` when there is no such resource (any more). Registered once by
/// the HTTP layer, which owns the views ([`set_renderer`]): storage does not know them.
pub type Renderer = fn(&Conn<'_>, &str, &str) -> Result<Option<String>>;

static RENDERER: std::sync::OnceLock<Renderer> = std::sync::OnceLock::new();

/// Registers the renderer of webhook deliveries' `data` (the first registration wins; a
/// process without one sends `"data": null`).
pub fn set_renderer(f: Renderer) {
    let _ = RENDERER.set(f);
}

/// The `data` of a delivery of event `kind` about `subject`: the resource's view now, or
/// `{"id":…,"deleted":true}` when it is gone, or `None` when no renderer is registered.
pub fn render(conn: &Conn<'_>, kind: &str, subject: &str) -> Result<Option<String>> {
    let Some(f) = RENDERER.get() else {
        return Ok(None);
    };
    Ok(Some(f(conn, kind, subject)?.unwrap_or_else(|| {
        serde_json::json!({"id": subject, "deleted": true}).to_string()
    })))
}

/// Who made a change: an API key, an operator of the console, or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// The command line (or another process without an identity).
    Nobody,
    /// The API key a request was made with.
    Key(&'a str),
    /// The operator logged in to the console.
    Operator(&'a str),
}

impl<'a> From<Option<&'a str>> for Actor<'a> {
    fn from(key: Option<&'a str>) -> Self {
        key.map_or(Actor::Nobody, Actor::Key)
    }
}

impl<'a> Actor<'a> {
    fn key(self) -> Option<&'a str> {
        match self {
            Actor::Key(k) => Some(k),
            _ => None,
        }
    }

    fn operator(self) -> Option<&'a str> {
        match self {
            Actor::Operator(o) => Some(o),
            _ => None,
        }
    }
}

/// Records an event made with an API key (`None`: the command line).
pub fn record(
    conn: &Conn<'_>,
    kind: &str,
    actor: Option<&str>,
    subject: &str,
    changes: &[&str],
    now: &str,
) -> Result<()> {
    record_as(conn, kind, Actor::from(actor), subject, changes, now)
}

/// Records an event made by `actor`, and its webhook deliveries.
pub fn record_as(
    conn: &Conn<'_>,
    kind: &str,
    actor: Actor<'_>,
    subject: &str,
    changes: &[&str],
    now: &str,
) -> Result<()> {
    record_id(conn, kind, actor, subject, changes, now).map(drop)
}

/// As [`record_as`]; returns the new event's id.
pub fn record_id(
    conn: &Conn<'_>,
    kind: &str,
    actor: Actor<'_>,
    subject: &str,
    changes: &[&str],
    now: &str,
) -> Result<String> {
    let id = crate::domain::new_id("evt");
    let changes = serde_json::to_string(changes).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO events (id, type, actor_key_id, subject_id, changes, created_at, actor_operator_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        kind,
        actor.key(),
        subject,
        changes,
        now,
        actor.operator()
    ])?;
    super::webhooks::fan_out(conn, &id, kind, subject)?;
    Ok(id)
}

const COLS: &str = "id, type, actor_key_id, subject_id, changes, created_at, actor_operator_id";

fn from_row(r: &Row<'_>) -> Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        kind: r.get(1)?,
        actor_key_id: r.get(2)?,
        subject_id: r.get(3)?,
        changes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        created_at: r.get(5)?,
        actor_operator_id: r.get(6)?,
    })
}

/// Newest first, strictly older than the event `after` (a cursor: an event id).
pub fn list(
    conn: &Conn<'_>,
    kind: Option<&str>,
    subject: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM events \
         WHERE (CAST(?1 AS TEXT) IS NULL OR type = ?1) AND (CAST(?2 AS TEXT) IS NULL OR subject_id = ?2) \
         AND (CAST(?3 AS TEXT) IS NULL OR seq < (SELECT seq FROM events WHERE id = ?3)) ORDER BY seq DESC LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(params![kind, subject, after, i64::from(limit)], from_row)?
        .collect::<crate::storage::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What the console's event list filters by; each given filter must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// The API key that made the change.
    pub key: Option<String>,
    /// Created at or after (RFC 3339 text, compared as text).
    pub from: Option<String>,
    /// Created before.
    pub to: Option<String>,
}

/// A page of events matching `f`, newest first, and how many match in all.
pub fn search(conn: &Conn<'_>, f: &Filter, limit: u32, offset: i64) -> Result<(Vec<Event>, i64)> {
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    for (clause, v) in [
        ("type = ?", &f.kind),
        ("subject_id = ?", &f.subject),
        ("actor_key_id = ?", &f.key),
        ("created_at >= ?", &f.from),
        ("created_at < ?", &f.to),
    ] {
        if let Some(v) = v {
            clauses.push(clause);
            args.push(v.clone().into());
        }
    }
    let filter = if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM events WHERE {filter}"))?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    args.push(i64::from(limit).into());
    args.push(offset.into());
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM events WHERE {filter} ORDER BY seq DESC LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(args.iter()), from_row)?
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// The event `id`, if it exists.
pub fn get(conn: &Conn<'_>, id: &str) -> Result<Option<Event>> {
    use crate::storage::sql::OptionalExtension;
    conn.prepare_cached(&format!("SELECT {COLS} FROM events WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Whether an event with this id exists (to refuse unknown cursors).
pub fn exists(conn: &Conn<'_>, id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
        .exists([id])
}
