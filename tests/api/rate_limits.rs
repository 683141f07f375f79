//! SPEC §4: per-key fixed windows of a minute, an hour and a day, aligned to the UTC clock;
//! the `X-RateLimit-*` headers; `429` with `Retry-After` and the published body; independence
//! of keys; 0 = no limit; and the per-address throttle of failed authentication, which must
//! never lock out a key already verified.
//!
//! Windows follow the real clock. A test whose requests straddle a window boundary sees the
//! counts restart, as they should, so such a run is repeated with fresh keys (`in_one_window`);
//! a single request that straddles one may name either of the two boundaries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime};
use invois::auth::Scope;
use reqwest::{Method, Response};
use serde_json::json;

use crate::auth::{assert_unauthorized, get_with, invois_on};
use crate::helpers::{
    assert_error, fresh_engine_args, spawn_app, spawn_app_with, start_binary_on, TestApp,
};

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn unix_now() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

/// The start of the first window of `len` seconds after `t` (windows start at multiples of
/// `len` since the Unix epoch: :00 seconds, :00 minutes, 00:00 UTC).
fn next_boundary(t: i64, len: i64) -> i64 {
    (t.div_euclid(len) + 1) * len
}

/// A response with the clock read just before sending and just after receiving it.
struct Sent {
    res: Response,
    before: i64,
    after: i64,
}

async fn send(req: reqwest::RequestBuilder) -> Sent {
    let before = unix_now();
    let res = req.send().await.unwrap();
    Sent {
        res,
        before,
        after: unix_now(),
    }
}

fn with_key(app: &TestApp, key: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("X-Invois-Key", key)
}

async fn get(app: &TestApp, key: &str) -> Sent {
    send(with_key(app, key, Method::GET, "/users")).await
}

/// Runs `attempt` (given the attempt number) until one run stays within one window of
/// `len` seconds; a run that straddled a boundary saw the counts restart.
async fn in_one_window<T>(len: i64, mut attempt: impl AsyncFnMut(u32) -> T) -> T {
    for n in 0..3 {
        let start = unix_now();
        let out = attempt(n).await;
        if start.div_euclid(len) == unix_now().div_euclid(len) {
            return out;
        }
    }
    panic!("three runs in a row straddled a window boundary");
}

fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing on {} {}", res.status(), res.url()))
        .to_str()
        .unwrap()
}

fn header_num(res: &Response, name: &str) -> i64 {
    let v = header(res, name);
    v.parse()
        .unwrap_or_else(|_| panic!("{name} is not a whole number: {v:?}"))
}

/// `X-RateLimit-Reset` as Unix seconds; it must be RFC 3339 UTC with `Z`, whole seconds.
fn reset_of(res: &Response) -> i64 {
    let v = header(res, "x-ratelimit-reset");
    let t = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ")
        .unwrap_or_else(|e| panic!("X-RateLimit-Reset {v:?} is not RFC 3339 UTC: {e}"))
        .and_utc();
    assert_eq!(
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        v,
        "canonical form"
    );
    assert_eq!(
        DateTime::parse_from_rfc3339(v).unwrap().timestamp(),
        t.timestamp()
    );
    t.timestamp()
}

/// Asserts the four rate-limit headers: `limit`, `remaining`, a window of `len` seconds and a
/// reset at the end of the window the request fell in.
fn assert_window(sent: &Sent, limit: i64, remaining: i64, len: i64) {
    let res = &sent.res;
    let got = (
        header_num(res, "x-ratelimit-limit"),
        header_num(res, "x-ratelimit-remaining"),
        header_num(res, "x-ratelimit-window"),
    );
    assert_eq!(got, (limit, remaining, len), "limit, remaining, window");
    let reset = reset_of(res);
    let (a, b) = (
        next_boundary(sent.before, len),
        next_boundary(sent.after, len),
    );
    assert!(
        reset == a || (b != a && reset == b),
        "reset {reset}: expected the boundary {a} (or {b} if the request straddled it)"
    );
}

fn assert_no_rate_headers(res: &Response) {
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-window",
    ] {
        assert!(
            res.headers().get(h).is_none(),
            "{h} on {} {}",
            res.status(),
            res.url()
        );
    }
}

/// Asserts a per-key `429`: its headers describe the refusing window (`limit`, `len`), nothing
/// remains, and the body is exactly the published one with the same numbers as the headers.
async fn assert_over(sent: Sent, limit: i64, len: i64) {
    assert_eq!(sent.res.status(), 429);
    assert_window(&sent, limit, 0, len);
    let reset = reset_of(&sent.res);
    let retry = header_num(&sent.res, "retry-after");
    // The server computed `reset - now` with its clock between `before` and `after`.
    assert!(
        reset - sent.after <= retry && retry <= reset - sent.before && retry >= 1,
        "Retry-After {retry} does not lead to the reset {reset}"
    );
    let reset_time = header(&sent.res, "x-ratelimit-reset").to_owned();
    assert!(header(&sent.res, "content-type").starts_with("application/json"));
    let body = sent.res.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"error":"Rate Limit Exceeded","message":"Too many requests. Please try again later.","code":"rate_limited","details":{{"retry_after":{retry},"limit":{limit},"remaining":0,"reset_time":"{reset_time}","window":{len}}}}}"#
        )
    );
}

/// Asserts a `429` of either limiter; returns its `Retry-After`.
async fn assert_rate_limited(res: Response) -> i64 {
    let retry = header_num(&res, "retry-after");
    assert!(retry >= 1, "Retry-After {retry}");
    let v = assert_error(res, 429, "rate_limited").await;
    assert_eq!(v["error"], "Rate Limit Exceeded");
    assert_eq!(v["message"], "Too many requests. Please try again later.");
    assert_eq!(v["details"]["retry_after"], retry, "{v}");
    assert_eq!(v["details"]["remaining"], 0, "{v}");
    retry
}

async fn limited_app(per_minute: u32, per_hour: u32, per_day: u32) -> TestApp {
    spawn_app_with(|c| {
        c.rate_limit.per_minute = per_minute;
        c.rate_limit.per_hour = per_hour;
        c.rate_limit.per_day = per_day;
    })
    .await
}

async fn fresh_key(app: &TestApp) -> String {
    app.key_with(&Scope::ALL).await
}

#[tokio::test]
async fn every_authenticated_response_describes_the_minute_window_by_default() {
    let app = limited_app(1000, 10_000, 100_000).await;
    let (responses, weak_responses) = in_one_window(MINUTE, async |_| {
        let key = fresh_key(&app).await;
        let weak = app.key_with(&[Scope::ReadTiers]).await;
        let responses = [
            get(&app, &key).await,
            send(with_key(&app, &key, Method::GET, "/users/user-nope")).await,
            send(with_key(&app, &key, Method::GET, "/nope")).await,
            send(with_key(&app, &key, Method::POST, "/users").json(&json!({"name": 1}))).await,
        ];
        let weak_responses = [
            get(&app, &weak).await,
            send(with_key(&app, &weak, Method::GET, "/tiers")).await,
        ];
        (responses, weak_responses)
    })
    .await;
    let statuses: Vec<u16> = responses
        .iter()
        .chain(&weak_responses)
        .map(|s| s.res.status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 404, 404, 400, 403, 200]);
    for (sent, remaining) in responses.iter().zip([999, 998, 997, 996]) {
        assert_window(sent, 1000, remaining, MINUTE);
    }
    for (sent, remaining) in weak_responses.iter().zip([999, 998]) {
        assert_window(sent, 1000, remaining, MINUTE);
    }
}

#[tokio::test]
async fn the_minute_window_counts_down_then_answers_429_with_the_published_body() {
    let app = limited_app(3, 10_000, 100_000).await;
    let sent = in_one_window(MINUTE, async |_| {
        let key = fresh_key(&app).await;
        let mut sent = Vec::new();
        for _ in 0..4 {
            sent.push(get(&app, &key).await);
        }
        sent
    })
    .await;
    let mut sent = sent.into_iter();
    for remaining in [2, 1, 0] {
        let s = sent.next().unwrap();
        assert_eq!(s.res.status(), 200);
        assert_window(&s, 3, remaining, MINUTE);
    }
    assert_over(sent.next().unwrap(), 3, MINUTE).await;
}

#[tokio::test]
async fn a_429_is_sent_for_every_method_and_changes_nothing() {
    let app = limited_app(1, 10_000, 100_000).await;
    let email = in_one_window(MINUTE, async |n| {
        let key = fresh_key(&app).await;
        assert_eq!(get(&app, &key).await.res.status(), 200);
        let email = format!("late{n}@example.com");
        let res = app
            .client
            .post(app.url("/users"))
            .header("X-Invois-Key", &key)
            .json(&json!({"name": "Late", "email": email}))
            .send()
            .await
            .unwrap();
        (email, res)
    })
    .await;
    let (email, res) = email;
    assert_rate_limited(res).await;
    let db = app.db.clone();
    let n: i64 = tokio::task::spawn_blocking(move || {
        db.read_blocking(move |c| {
            c.query_row(
                "SELECT count(*) FROM users WHERE email = ?1",
                [&email],
                |r| r.get(0),
            )
        })
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(n, 0, "the rate-limited create went through");
}

#[tokio::test]
async fn limits_are_per_key_so_one_noisy_key_does_not_starve_another() {
    let app = limited_app(2, 10_000, 100_000).await;
    let (noisy, quiet) = in_one_window(MINUTE, async |_| {
        let (noisy_key, quiet_key) = (fresh_key(&app).await, fresh_key(&app).await);
        let mut noisy = Vec::new();
        for _ in 0..5 {
            noisy.push(get(&app, &noisy_key).await);
        }
        (noisy, get(&app, &quiet_key).await)
    })
    .await;
    let statuses: Vec<u16> = noisy.iter().map(|s| s.res.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    assert_eq!(quiet.res.status(), 200);
    assert_window(&quiet, 2, 1, MINUTE);
}

#[tokio::test]
async fn when_the_hour_window_runs_out_the_headers_describe_it() {
    let app = limited_app(1000, 3, 100_000).await;
    // One minute window (and so one hour window) for all four requests.
    let sent = in_one_window(MINUTE, async |_| {
        let key = fresh_key(&app).await;
        let mut sent = Vec::new();
        for _ in 0..4 {
            sent.push(get(&app, &key).await);
        }
        sent
    })
    .await;
    let mut sent = sent.into_iter();
    // The minute window is described until the hour window is the one exhausted.
    for remaining in [999, 998] {
        let s = sent.next().unwrap();
        assert_eq!(s.res.status(), 200);
        assert_window(&s, 1000, remaining, MINUTE);
    }
    let s = sent.next().unwrap();
    assert_eq!(s.res.status(), 200);
    assert_window(&s, 3, 0, HOUR);
    assert_over(sent.next().unwrap(), 3, HOUR).await;
}

#[tokio::test]
async fn an_unlimited_window_is_skipped_for_the_next_limited_one() {
    let app = limited_app(0, 0, 2).await;
    let sent = in_one_window(DAY, async |_| {
        let key = fresh_key(&app).await;
        let mut sent = Vec::new();
        for _ in 0..3 {
            sent.push(get(&app, &key).await);
        }
        sent
    })
    .await;
    let mut sent = sent.into_iter();
    for remaining in [1, 0] {
        let s = sent.next().unwrap();
        assert_eq!(s.res.status(), 200);
        // The day window: its reset is the next 00:00 UTC.
        assert_window(&s, 2, remaining, DAY);
    }
    assert_over(sent.next().unwrap(), 2, DAY).await;
}

#[tokio::test]
async fn with_every_window_unlimited_nothing_is_counted_and_no_rate_headers_are_sent() {
    let app = limited_app(0, 0, 0).await;
    for _ in 0..30 {
        let res = app.get("/users").await;
        assert_eq!(res.status(), 200);
        assert_no_rate_headers(&res);
    }
}

#[tokio::test]
async fn a_401_carries_no_rate_limit_headers() {
    let app = limited_app(3, 10_000, 100_000).await;
    assert_eq!(app.get("/users").await.status(), 200);
    let res = app.client.get(app.url("/users")).send().await.unwrap();
    assert_no_rate_headers(&res);
    assert_unauthorized(res, None).await;
    let wrong = wrong_key(7);
    let res = get_with(&app, &wrong, "/users").await;
    assert_no_rate_headers(&res);
    assert_unauthorized(res, Some(&wrong)).await;
}

#[tokio::test]
async fn the_per_minute_limit_can_be_set_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("env.db"));
    let create_key = || {
        let out = invois_on(&db, &["keys", "create", "--name", "env", "--json"]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["key"].as_str().unwrap().to_owned()
    };
    create_key();
    let (mut child, base) = start_binary_on(&db, &[("INVOIS_RATE_LIMIT__PER_MINUTE", "2")]).await;
    let client = reqwest::Client::new();
    let sent = in_one_window(MINUTE, async |_| {
        let key = create_key();
        let mut sent = Vec::new();
        for _ in 0..3 {
            let req = client
                .get(format!("{base}/api/integrations/users"))
                .header("X-Invois-Key", &key);
            sent.push(send(req).await);
        }
        sent
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let mut sent = sent.into_iter();
    for remaining in [1, 0] {
        let s = sent.next().unwrap();
        assert_eq!(s.res.status(), 200);
        assert_window(&s, 2, remaining, MINUTE);
    }
    assert_over(sent.next().unwrap(), 2, MINUTE).await;
}

// ---- failed-authentication throttling ----

fn wrong_key(n: usize) -> String {
    format!("invois_{:016x}_{}", n, "0".repeat(64))
}

async fn throttled_app() -> TestApp {
    spawn_app_with(|c| {
        c.rate_limit.auth_per_second = 1;
        c.rate_limit.auth_burst = 3;
    })
    .await
}

/// Runs `scenario` on a fresh app from `app` until one run takes less than the throttle's
/// one second: an allowance comes back each second, so a run slowed past it (a loaded
/// machine: argon2 in a debug build) may see one more verification than the scenario counts
/// on. A fast run's failure is the test's failure; a slow run's is retried, three times at
/// most.
async fn within_one_refill<F: std::future::Future<Output = TestApp>>(
    app: impl Fn() -> F,
    scenario: impl AsyncFn(&TestApp),
) {
    use futures_util::FutureExt;
    for attempt in 1..=3 {
        let app = app().await;
        let started = std::time::Instant::now();
        let out = std::panic::AssertUnwindSafe(scenario(&app))
            .catch_unwind()
            .await;
        let slow = started.elapsed() >= std::time::Duration::from_millis(900);
        match out {
            Ok(()) => return,
            Err(panic) if !slow || attempt == 3 => std::panic::resume_unwind(panic),
            Err(_) => eprintln!("run {attempt} took {:?}: one more try", started.elapsed()),
        }
    }
}

#[tokio::test]
async fn the_throttle_429_has_the_published_shape_describing_its_own_allowance() {
    within_one_refill(throttled_app, async |app| {
        for n in 0..3 {
            let k = wrong_key(n);
            assert_unauthorized(get_with(app, &k, "/users").await, Some(&k)).await;
        }
        let sent = get(app, &wrong_key(3)).await;
        assert_eq!(sent.res.status(), 429);
        // Not an authenticated response: no key's window to describe.
        assert_no_rate_headers(&sent.res);
        let retry = header_num(&sent.res, "retry-after");
        assert_eq!(retry, 1, "one verification a second");
        let v: serde_json::Value = sent.res.json().await.unwrap();
        let reset_time = v["details"]["reset_time"].as_str().unwrap().to_owned();
        let reset = DateTime::parse_from_rfc3339(&reset_time)
            .unwrap()
            .timestamp();
        assert!(
            (sent.before + retry..=sent.after + retry).contains(&reset),
            "reset_time {reset_time} is not Retry-After from now"
        );
        assert_eq!(
            v,
            json!({
                "error": "Rate Limit Exceeded",
                "message": "Too many requests. Please try again later.",
                "code": "rate_limited",
                // auth_burst = 3 verifications, back in full after 3 s at 1/s.
                "details": {"retry_after": 1, "limit": 3, "remaining": 0, "reset_time": reset_time, "window": 3}
            })
        );
    })
    .await;
}

#[tokio::test]
async fn repeated_bad_keys_from_one_address_are_throttled_while_a_verified_key_keeps_working() {
    within_one_refill(throttled_app, async |app| {
        // Verified once (this uses one of the address's three verifications) …
        assert_eq!(app.get("/users").await.status(), 200);
        // … then a guesser from the same address: two more verifications, then 429s.
        for n in 0..2 {
            let k = wrong_key(n);
            assert_unauthorized(get_with(app, &k, "/users").await, Some(&k)).await;
        }
        for n in 2..8 {
            let res = get_with(app, &wrong_key(n), "/users").await;
            assert_rate_limited(res).await;
            // The verified key is not locked out by the attack on its address.
            let res = app.get("/users").await;
            assert_eq!(res.status(), 200, "the verified key was throttled");
        }
        // Requests without a key, and malformed keys, take the same throttled path.
        let res = app.client.get(app.url("/users")).send().await.unwrap();
        assert_rate_limited(res).await;
        assert_rate_limited(get_with(app, "garbage", "/users").await).await;
    })
    .await;
}

#[tokio::test]
async fn a_throttled_address_gets_429_before_any_verification_even_for_a_right_key() {
    within_one_refill(throttled_app, async |app| {
        let fresh = app.key_with(&Scope::defaults()).await;
        // The wrong secret of a real key: each of these would cost an argon2 verification.
        let (prefix, _) = fresh.rsplit_once('_').unwrap();
        let wrong = format!("{prefix}_{}", "f".repeat(64));
        for _ in 0..3 {
            assert_unauthorized(get_with(app, &wrong, "/users").await, Some(&wrong)).await;
        }
        for _ in 0..5 {
            assert_rate_limited(get_with(app, &wrong, "/users").await).await;
        }
        // A right key not verified before is on the same (argon2) path: 429, not 200 — the
        // throttle answers before the verification is attempted.
        assert_rate_limited(get_with(app, &fresh, "/users").await).await;
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_address_has_its_own_throttle() {
    within_one_refill(
        || {
            spawn_app_with(|c| {
                c.rate_limit.auth_per_second = 1;
                c.rate_limit.auth_burst = 2;
                c.server.trusted_proxy = true;
            })
        },
        async |app| {
            let from = |ip: &str, key: &str| {
                app.client
                    .get(app.url("/users"))
                    .header("X-Invois-Key", key.to_owned())
                    .header("X-Forwarded-For", ip.to_owned())
                    .send()
            };
            let k = wrong_key(1);
            for _ in 0..2 {
                assert_eq!(from("10.0.0.1", &k).await.unwrap().status(), 401);
            }
            assert_rate_limited(from("10.0.0.1", &k).await.unwrap()).await;
            // Only the last (proxy-appended) entry counts: a spoofed first entry does not help.
            assert_rate_limited(from("1.2.3.4, 10.0.0.1", &k).await.unwrap()).await;
            // Another client behind the same proxy is not affected.
            assert_eq!(from("10.0.0.2", &k).await.unwrap().status(), 401);
        },
    )
    .await;
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forwarded_address_cannot_escape_the_throttle() {
    within_one_refill(
        || {
            spawn_app_with(|c| {
                c.rate_limit.auth_per_second = 1;
                c.rate_limit.auth_burst = 2;
            })
        },
        async |app| {
            let k = wrong_key(1);
            for n in 0..6 {
                let res = app
                    .client
                    .get(app.url("/users"))
                    .header("X-Invois-Key", &k)
                    .header("X-Forwarded-For", format!("10.0.0.{n}"))
                    .send()
                    .await
                    .unwrap();
                if n < 2 {
                    assert_eq!(res.status(), 401);
                } else {
                    assert_rate_limited(res).await;
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_default_test_app_is_not_rate_limited_for_ordinary_use() {
    // Guards the harness itself: other tests rely on generous limits.
    let app = spawn_app().await;
    for _ in 0..30 {
        assert_eq!(app.get("/users").await.status(), 200);
    }
}
