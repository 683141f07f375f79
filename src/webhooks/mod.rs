//! Webhook deliveries (issue 14, the Standard Webhooks specification): the background worker
//! that takes due deliveries from the outbox (`storage::webhooks`), signs them ([`sign`]),
//! posts them to endpoints the SSRF guard allows ([`guard`]) and records each outcome, with
//! the specification's retry schedule.
//!
//! Every instance runs one worker. Claiming a delivery pushes its next attempt past the
//! attempt's time-out, in a short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
//! instances never claim the same delivery at once; SQLite: the one writer), and the outcome
//! is recorded in another: a process killed between the two leaves the delivery to be
//! claimed again when the lease ends — at least once, never lost.

pub mod guard;
pub mod sign;

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::WebhooksConfig;
use crate::storage::events::{self, Actor};
use crate::storage::webhooks::{self, at_ms, now_ms, Delivery, Outcome, Webhook};
use crate::storage::{Db, DbError};

/// Deliveries one look claims at most (attempted concurrently).
const BATCH: u32 = 32;

/// The response body kept per attempt, at most.
const BODY_KEPT: usize = 1024;

/// The delays before the retries after the first: the first is `retry_base_ms`, the others
/// the specification's (5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). After the last, the
/// delivery has failed.
const LATER_RETRIES_SECS: [u64; 8] = [300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// The delay before retry number `n` (1 = the first retry), without jitter; `None` after the
/// last.
pub fn retry_delay(n: i64, base: Duration) -> Option<Duration> {
    match n {
        1 => Some(base),
        n if n >= 2 => usize::try_from(n - 2)
            .ok()
            .and_then(|i| LATER_RETRIES_SECS.get(i))
            .map(|s| Duration::from_secs(*s)),
        _ => None,
    }
}

/// Starts the delivery worker of this instance.
pub fn spawn(db: Db, cfg: WebhooksConfig) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(cfg.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if db.health().broken().is_some() {
                continue;
            }
            let ids = match claim(&db, &cfg).await {
                Ok(ids) => ids,
                Err(e) => {
                    log::warn!("could not claim webhook deliveries: {e}");
                    continue;
                }
            };
            let mut set = tokio::task::JoinSet::new();
            for id in ids {
                let (db, cfg) = (db.clone(), cfg.clone());
                set.spawn(async move {
                    if let Err(e) = attempt(&db, &cfg, &id).await {
                        log::warn!("webhook delivery {id}: could not record the attempt: {e}");
                    }
                });
            }
            while set.join_next().await.is_some() {}
        }
    });
}

/// Seconds a claim outlives the attempt's time-out: room to write the outcome.
const LEASE_MARGIN_SECS: u64 = 10;

/// Claims the due deliveries for one attempt each.
async fn claim(db: &Db, cfg: &WebhooksConfig) -> Result<Vec<String>, DbError> {
    let db = db.clone();
    // Long enough for the attempt to end (time-out) and its outcome to be written.
    // A delivery a killed instance had claimed waits this long before another takes it; an
    // attempt still running past it may be sent twice (at least once, as the spec allows).
    let lease = Duration::from_millis(cfg.timeout_ms) + Duration::from_secs(LEASE_MARGIN_SECS);
    blocking(move || {
        let now = chrono::Utc::now();
        let until = at_ms(now + chrono::Duration::from_std(lease).unwrap_or_default());
        let f = |c: &crate::storage::Conn<'_>| webhooks::claim(c, &at_ms(now), &until, BATCH);
        // PostgreSQL: a transaction of its own, without the write lock (SKIP LOCKED).
        match db.bookkeeping(f) {
            Some(r) => r,
            None => db.write_untracked(f),
        }
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Internal(format!("blocking task: {e}")))?
}

/// The body of a delivery: the event as `GET /events` shows it, then `data`, the resource's
/// view when the event was recorded (as its GET endpoint renders it; `null` when unknown).
pub fn payload(e: crate::storage::records::Event, data: Option<&str>) -> String {
    let mut body = serde_json::to_string(&crate::model::Event::from(e)).unwrap_or_default();
    // The event is an object: `data` goes in before its closing brace, byte for byte as stored.
    if body.ends_with('}') {
        body.pop();
        body.push_str(",\"data\":");
        body.push_str(data.unwrap_or("null"));
        body.push('}');
    }
    body
}

/// One attempt of delivery `id`, and its outcome recorded.
async fn attempt(db: &Db, cfg: &WebhooksConfig, id: &str) -> Result<(), DbError> {
    let found = {
        let (db, id) = (db.clone(), id.to_owned());
        blocking(move || db.read_blocking(|c| webhooks::attempt_of(c, &id))).await?
    };
    let Some((d, w, e)) = found else {
        return Ok(());
    };
    let body = payload(e, d.data.as_deref());
    let (outcome, retry_after) = post(cfg, &d, &w, &body).await;
    let code = outcome.status_code;
    let verdict = judge(cfg, &d, code, retry_after);
    crate::metrics::webhook_attempt(match &verdict {
        Verdict::Delivered => "delivered",
        Verdict::Gone => "gone",
        Verdict::Retry(Some(_)) => "retry",
        Verdict::Retry(None) => "failed",
    });
    let (db2, cfg2) = (db.clone(), cfg.clone());
    blocking(move || {
        db2.write_untracked(|c| {
            let now = crate::domain::now();
            match verdict {
                Verdict::Delivered => webhooks::record_success(c, &d.id, &w.id, &outcome),
                Verdict::Gone => {
                    webhooks::record_failure(c, &d.id, &w.id, &outcome, None)?;
                    disable(c, &w.id, "the endpoint answered 410 Gone", &now)
                }
                Verdict::Retry(next) => {
                    let since =
                        webhooks::record_failure(c, &d.id, &w.id, &outcome, next.as_deref())?;
                    let limit = chrono::Duration::milliseconds(
                        (cfg2.disable_after_hours * 3_600_000.0) as i64,
                    );
                    let cutoff = at_ms(chrono::Utc::now() - limit);
                    if since.is_some_and(|s| s < cutoff) {
                        let hours = cfg2.disable_after_hours;
                        disable(
                            c,
                            &w.id,
                            &format!("every attempt failed for more than {hours} hours"),
                            &now,
                        )?;
                    }
                    Ok(())
                }
            }
        })
    })
    .await
}

/// Disables endpoint `id` and records the event that says so.
fn disable(c: &crate::storage::Conn<'_>, id: &str, reason: &str, now: &str) -> Result<(), DbError> {
    if webhooks::disable(c, id, reason, now)? {
        log::warn!("webhook {id} disabled: {reason}");
        events::record_as(c, "webhook.disabled", Actor::Nobody, id, &["enabled"], now)?;
    }
    Ok(())
}

enum Verdict {
    Delivered,
    Gone,
    /// Due again at this time, or failed for good (`None`).
    Retry(Option<String>),
}

/// What an attempt's status code means for the delivery.
fn judge(
    cfg: &WebhooksConfig,
    d: &Delivery,
    code: Option<i64>,
    retry_after: Option<Duration>,
) -> Verdict {
    match code {
        Some(c) if (200..300).contains(&c) => return Verdict::Delivered,
        Some(410) => return Verdict::Gone,
        _ => {}
    }
    let Some(delay) = retry_delay(d.attempts + 1, Duration::from_millis(cfg.retry_base_ms)) else {
        return Verdict::Retry(None);
    };
    let jitter = rand::thread_rng().gen_range(0.9..1.1);
    let mut delay = delay.mul_f64(jitter);
    if matches!(code, Some(429 | 502 | 504)) {
        if let Some(ra) = retry_after {
            delay = ra.min(Duration::from_secs(86_400));
        }
    }
    let next = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    Verdict::Retry(Some(at_ms(next)))
}

/// Posts `body` to `w`; the outcome and the response's `Retry-After` (seconds), if any.
async fn post(
    cfg: &WebhooksConfig,
    d: &Delivery,
    w: &Webhook,
    body: &str,
) -> (Outcome, Option<Duration>) {
    let started = Instant::now();
    let failed = |error: String, started: Instant| Outcome {
        status_code: None,
        body: None,
        error: Some(error),
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    let url = match guard::parse_url(&w.url) {
        Ok(u) => u,
        Err(e) => return (failed(e, started), None),
    };
    let addr = match guard::resolve(&url, cfg.allow_private).await {
        Ok(a) => a,
        Err(e) => return (failed(e, started), None),
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .user_agent(concat!("invois-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (failed(format!("no HTTP client: {e}"), started), None),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let now = now_ms();
    let mut secrets = vec![w.secret.as_str()];
    if let (Some(prev), Some(until)) = (&w.previous_secret, &w.previous_secret_until) {
        if *until > now {
            secrets.push(prev.as_str());
        }
    }
    let signature = sign::header(secrets, &d.id, timestamp, body);
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await;
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                "the endpoint did not answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect to the endpoint".to_owned()
            } else {
                format!("the request failed: {e}")
            };
            return (failed(why, started), None);
        }
    };
    let code = i64::from(res.status().as_u16());
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = match tokio::time::timeout(Duration::from_millis(cfg.timeout_ms), res.bytes()).await
    {
        Ok(Ok(b)) => truncate(&b),
        _ => String::new(),
    };
    (
        Outcome {
            status_code: Some(code),
            body: Some(text),
            error: None,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        },
        retry_after,
    )
}

/// The first KiB of a response, as text (cut on a character boundary).
fn truncate(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(BODY_KEPT + 4)]);
    let mut end = s.len().min(BODY_KEPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_specifications() {
        let base = Duration::from_millis(5_000);
        let all: Vec<u64> = (1..=10)
            .map_while(|n| retry_delay(n, base))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(
            all,
            [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400]
        );
        assert_eq!(retry_delay(10, base), None);
    }

    #[test]
    fn the_payload_is_the_event_then_its_data_byte_for_byte() {
        let e = crate::storage::records::Event {
            id: "evt-1".into(),
            kind: "user.created".into(),
            actor_key_id: None,
            subject_id: "usr-1".into(),
            changes: vec![],
            created_at: "2024-01-01T00:00:00Z".into(),
            actor_operator_id: None,
        };
        let head = r#"{"id":"evt-1","type":"user.created","actorKeyId":null,"subjectId":"usr-1","changes":[],"createdAt":"2024-01-01T00:00:00Z","actorOperatorId":null"#;
        assert_eq!(
            payload(e.clone(), Some(r#"{"z":1,"a":2}"#)),
            format!(r#"{head},"data":{{"z":1,"a":2}}}}"#)
        );
        assert_eq!(payload(e, None), format!(r#"{head},"data":null}}"#));
    }

    #[test]
    fn bodies_are_cut_to_a_kib_on_a_character_boundary() {
        assert_eq!(truncate(b"ok"), "ok");
        let long = "é".repeat(1000);
        let t = truncate(long.as_bytes());
        assert_eq!(t.len(), 1024);
        assert!(t.chars().all(|c| c == 'é'));
    }
}
