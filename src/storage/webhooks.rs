//! Webhook endpoints and the outbox of their deliveries (issue 14, Standard Webhooks).
//!
//! Every recorded event (see [`super::events`]) adds, in the same transaction, one delivery per
//! enabled endpoint whose `event_types` match: an acknowledged write has its deliveries
//! committed with it. The delivery worker (`crate::webhooks`) claims due deliveries, pushing
//! their `next_attempt_at` past the attempt's time-out (a lease, so an instance killed
//! mid-attempt leaves the delivery to be claimed again) and records each outcome.
//!
//! Retention: a delivery that ended (delivered or failed) is deleted 30 days after it was
//! created ([`purge`]); an endpoint's deliveries go with it.

use crate::storage::records::Event;
use crate::storage::sql::{params, Conn, OptionalExtension, Row};
use crate::storage::{DbError, Result};

/// Days an ended delivery is kept for `GET /webhooks/{id}/deliveries`.
pub const RETENTION_DAYS: i64 = 30;

/// A webhook endpoint.
#[derive(Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    /// `whsec_…`.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<String>,
}

/// Secrets stay out of logs.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The changes of an update; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub description: Option<Option<String>>,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status_code: Option<i64>,
    pub last_body: Option<String>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The resource's view when the event was recorded (JSON text; `None`: made before
    /// schema version 7, or by a process without a renderer).
    pub data: Option<String>,
}

/// Now, RFC 3339 UTC with milliseconds (fixed width: text order is time order).
pub fn now_ms() -> String {
    at_ms(chrono::Utc::now())
}

/// `t` as [`now_ms`] writes it.
pub fn at_ms(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

const COLS: &str = "id, url, event_types, enabled, description, secret, previous_secret, \
    previous_secret_until, created_at, updated_at, disabled_reason, failing_since";

fn from_row(r: &Row<'_>) -> Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        url: r.get(1)?,
        event_types: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        enabled: r.get(3)?,
        description: r.get(4)?,
        secret: r.get(5)?,
        previous_secret: r.get(6)?,
        previous_secret_until: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        disabled_reason: r.get(10)?,
        failing_since: r.get(11)?,
    })
}

fn types_json(types: &[String]) -> String {
    serde_json::to_string(types).unwrap_or_else(|_| "[]".into())
}

/// Stores a new endpoint.
pub fn insert(conn: &Conn<'_>, w: &Webhook) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO webhooks ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        w.id,
        w.url,
        types_json(&w.event_types),
        w.enabled,
        w.description,
        w.secret,
        w.previous_secret,
        w.previous_secret_until,
        w.created_at,
        w.updated_at,
        w.disabled_reason,
        w.failing_since
    ])?;
    Ok(())
}

/// The endpoint `id`.
pub fn get(conn: &Conn<'_>, id: &str) -> Result<Webhook> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM webhooks WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or(DbError::NotFound { what: "Webhook" })
}

/// Every endpoint, oldest first.
pub fn list(conn: &Conn<'_>) -> Result<Vec<Webhook>> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM webhooks ORDER BY created_at, id"
    ))?
    .query_map((), from_row)?
    .collect()
}

/// Applies `p` to endpoint `id` and returns it with the names of the fields that changed.
/// Enabling an endpoint clears why it was disabled and how long it has been failing.
pub fn update(
    conn: &Conn<'_>,
    id: &str,
    p: &WebhookPatch,
    now: &str,
) -> Result<(Webhook, Vec<&'static str>)> {
    let mut w = get(conn, id)?;
    let mut changed = Vec::new();
    if let Some(url) = &p.url {
        if *url != w.url {
            w.url.clone_from(url);
            changed.push("url");
        }
    }
    if let Some(t) = &p.event_types {
        if *t != w.event_types {
            w.event_types.clone_from(t);
            changed.push("eventTypes");
        }
    }
    if let Some(e) = p.enabled {
        if e != w.enabled {
            w.enabled = e;
            changed.push("enabled");
        }
        if e {
            w.disabled_reason = None;
            w.failing_since = None;
        }
    }
    if let Some(d) = &p.description {
        if *d != w.description {
            w.description.clone_from(d);
            changed.push("description");
        }
    }
    if !changed.is_empty() {
        now.clone_into(&mut w.updated_at);
    }
    conn.prepare_cached(
        "UPDATE webhooks SET url = ?2, event_types = ?3, enabled = ?4, description = ?5, \
         updated_at = ?6, disabled_reason = ?7, failing_since = ?8 WHERE id = ?1",
    )?
    .execute(params![
        w.id,
        w.url,
        types_json(&w.event_types),
        w.enabled,
        w.description,
        w.updated_at,
        w.disabled_reason,
        w.failing_since
    ])?;
    Ok((w, changed))
}

/// Deletes endpoint `id` and its deliveries.
pub fn delete(conn: &Conn<'_>, id: &str) -> Result<()> {
    // Explicitly: SQLite's foreign keys are on, PostgreSQL cascades; both say the same.
    conn.prepare_cached("DELETE FROM webhook_deliveries WHERE webhook_id = ?1")?
        .execute([id])?;
    let n = conn
        .prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
        .execute([id])?;
    if n == 0 {
        return Err(DbError::NotFound { what: "Webhook" });
    }
    Ok(())
}

/// Replaces the secret of `id`; the old one is still used to sign until `until`.
pub fn rotate(conn: &Conn<'_>, id: &str, secret: &str, until: &str, now: &str) -> Result<Webhook> {
    let n = conn
        .prepare_cached(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?3, \
             secret = ?2, updated_at = ?4 WHERE id = ?1",
        )?
        .execute(params![id, secret, until, now])?;
    if n == 0 {
        return Err(DbError::NotFound { what: "Webhook" });
    }
    get(conn, id)
}

/// Whether an event of type `kind` goes to endpoints at all: the endpoints' own
/// configuration changes stay in the audit trail, but an endpoint disabled by the server is
/// news for the others.
fn delivered_kind(kind: &str) -> bool {
    !kind.starts_with("webhook.") || kind == "webhook.disabled"
}

/// Adds a delivery of event `event_id` (about `subject`) for every enabled endpoint that wants
/// `kind`; in the transaction of the event itself, with the resource's view as it is now
/// (rendered once, and only when some endpoint wants the event).
pub fn fan_out(conn: &Conn<'_>, event_id: &str, kind: &str, subject: &str) -> Result<()> {
    if !delivered_kind(kind) {
        return Ok(());
    }
    let targets: Vec<(String, String)> = conn
        .prepare_cached("SELECT id, event_types FROM webhooks WHERE enabled = 1 ORDER BY id")?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_>>()?;
    let mut data: Option<Option<String>> = None;
    for (webhook, types) in targets {
        let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
        if types.is_empty() || types.iter().any(|t| t == kind) {
            if data.is_none() {
                data = Some(super::events::render(conn, kind, subject)?);
            }
            let data = data.as_ref().and_then(Option::as_deref);
            enqueue(conn, &webhook, event_id, kind, data)?;
        }
    }
    Ok(())
}

/// Adds one delivery of event `event_id` to endpoint `webhook`, due now, carrying `data` (the
/// resource's view, JSON text); returns it.
pub fn enqueue(
    conn: &Conn<'_>,
    webhook: &str,
    event_id: &str,
    kind: &str,
    data: Option<&str>,
) -> Result<Delivery> {
    let now = now_ms();
    let d = Delivery {
        id: crate::domain::new_id("dlv"),
        webhook_id: webhook.to_owned(),
        event_id: event_id.to_owned(),
        event_type: kind.to_owned(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now.clone(),
        last_status_code: None,
        last_body: None,
        last_error: None,
        last_latency_ms: None,
        created_at: now,
        delivered_at: None,
        data: data.map(str::to_owned),
    };
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, next_attempt_at, created_at, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        d.id,
        d.webhook_id,
        d.event_id,
        d.event_type,
        d.next_attempt_at,
        d.created_at,
        d.data
    ])?;
    Ok(d)
}

const DCOLS: &str = "id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, \
    last_status_code, last_body, last_error, last_latency_ms, created_at, delivered_at, data";

/// As [`DCOLS`] without `data` (lists do not show it).
const DCOLS_LIST: &str = "id, webhook_id, event_id, event_type, status, attempts, \
    next_attempt_at, last_status_code, last_body, last_error, last_latency_ms, created_at, \
    delivered_at, NULL";

fn delivery_row(r: &Row<'_>) -> Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event_id: r.get(2)?,
        event_type: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_status_code: r.get(7)?,
        last_body: r.get(8)?,
        last_error: r.get(9)?,
        last_latency_ms: r.get(10)?,
        created_at: r.get(11)?,
        delivered_at: r.get(12)?,
        data: r.get(13)?,
    })
}

/// A page of endpoint `webhook`'s deliveries, newest first, and how many it has.
pub fn deliveries(
    conn: &Conn<'_>,
    webhook: &str,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Delivery>, i64)> {
    get(conn, webhook)?;
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ?1")?
        .query_row([webhook], |r| r.get(0))?;
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {DCOLS_LIST} FROM webhook_deliveries WHERE webhook_id = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![webhook, i64::from(limit), offset], delivery_row)?
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// Delivery `id` of endpoint `webhook`.
pub fn delivery(conn: &Conn<'_>, webhook: &str, id: &str) -> Result<Delivery> {
    conn.prepare_cached(&format!(
        "SELECT {DCOLS} FROM webhook_deliveries WHERE id = ?1 AND webhook_id = ?2"
    ))?
    .query_row([id, webhook], delivery_row)
    .optional()?
    .ok_or(DbError::NotFound { what: "Delivery" })
}

/// Makes delivery `id` due now again, whatever its state (a manual retry).
pub fn retry(conn: &Conn<'_>, webhook: &str, id: &str) -> Result<Delivery> {
    delivery(conn, webhook, id)?;
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now_ms()])?;
    delivery(conn, webhook, id)
}

/// Claims up to `limit` due deliveries of enabled endpoints: each becomes due again only at
/// `lease_until` (by then its attempt has ended, or its instance is gone). On PostgreSQL rows
/// another instance is claiming are skipped, not waited for.
pub fn claim(conn: &Conn<'_>, now: &str, lease_until: &str, limit: u32) -> Result<Vec<String>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let ids: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND w.enabled = 1 \
             ORDER BY d.next_attempt_at, d.id LIMIT ?2{lock}"
        ))?
        .query_map(params![now, i64::from(limit)], |r| r.get(0))?
        .collect::<Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1 AND status = 'pending'",
    )?;
    for id in &ids {
        stmt.execute(params![id, lease_until])?;
    }
    Ok(ids)
}

/// What the worker needs to attempt a claimed delivery: the delivery, its endpoint and the
/// event (`None` when the delivery was deleted or ended meanwhile).
pub fn attempt_of(conn: &Conn<'_>, id: &str) -> Result<Option<(Delivery, Webhook, Event)>> {
    let Some(d) = conn
        .prepare_cached(&format!(
            "SELECT {DCOLS} FROM webhook_deliveries WHERE id = ?1 AND status = 'pending'"
        ))?
        .query_row([id], delivery_row)
        .optional()?
    else {
        return Ok(None);
    };
    let w = get(conn, &d.webhook_id)?;
    let Some(e) = super::events::get(conn, &d.event_id)? else {
        return Ok(None);
    };
    Ok(Some((d, w, e)))
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<i64>,
    /// At most 1 KiB of the response body.
    pub body: Option<String>,
    /// Why no response came (time-out, refused connection, refused address).
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// Records a successful attempt: the delivery is done, the endpoint no longer failing.
pub fn record_success(conn: &Conn<'_>, id: &str, webhook: &str, o: &Outcome) -> Result<()> {
    let now = now_ms();
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
         last_status_code = ?2, last_body = ?3, last_error = NULL, last_latency_ms = ?4, \
         delivered_at = ?5 WHERE id = ?1",
    )?
    .execute(params![id, o.status_code, o.body, o.latency_ms, now])?;
    conn.prepare_cached("UPDATE webhooks SET failing_since = NULL WHERE id = ?1")?
        .execute([webhook])?;
    Ok(())
}

/// Records a failed attempt: due again at `next`, or failed for good when `next` is `None`.
/// Marks the endpoint failing since now unless it already was; returns since when.
pub fn record_failure(
    conn: &Conn<'_>,
    id: &str,
    webhook: &str,
    o: &Outcome,
    next: Option<&str>,
) -> Result<Option<String>> {
    let now = now_ms();
    let (status, next) = match next {
        Some(n) => ("pending", n.to_owned()),
        None => ("failed", now.clone()),
    };
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3, \
         last_status_code = ?4, last_body = ?5, last_error = ?6, last_latency_ms = ?7 WHERE id = ?1",
    )?
    .execute(params![
        id,
        status,
        next,
        o.status_code,
        o.body,
        o.error,
        o.latency_ms
    ])?;
    conn.prepare_cached(
        "UPDATE webhooks SET failing_since = coalesce(failing_since, ?2) WHERE id = ?1",
    )?
    .execute(params![webhook, now])?;
    conn.prepare_cached("SELECT failing_since FROM webhooks WHERE id = ?1")?
        .query_row([webhook], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// Disables endpoint `id` for `reason`; whether it was enabled (only then is there news).
pub fn disable(conn: &Conn<'_>, id: &str, reason: &str, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE webhooks SET enabled = 0, disabled_reason = ?2, updated_at = ?3 \
             WHERE id = ?1 AND enabled = 1",
        )?
        .execute(params![id, reason, now])?;
    Ok(n > 0)
}

/// How many deliveries are pending (neither delivered nor given up): the outbox's depth, for
/// `/metrics`. Counted on the `(status, next_attempt_at)` index.
pub fn pending_count(conn: &Conn<'_>) -> Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")?
        .query_row((), |r| r.get(0))
}

/// Deletes ended deliveries older than [`RETENTION_DAYS`]; how many.
pub fn purge(conn: &Conn<'_>) -> Result<usize> {
    let cutoff = at_ms(chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS));
    conn.prepare_cached(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?1",
    )?
    .execute([cutoff])
}
