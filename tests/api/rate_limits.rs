//! SPEC §4: per-key limits with their headers, `429` + `Retry-After` beyond the burst,
//! independence of keys, refill; and the per-address throttle of failed authentication,
//! which must never lock out a key already verified.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use invois::auth::Scope;
use reqwest::Response;
use serde_json::json;

use crate::auth::{assert_unauthorized, get_with};
use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn header_u64(res: &Response, name: &str) -> u64 {
    let v = res
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing on {} {}", res.status(), res.url()));
    v.to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not an integer: {v:?}"))
}

/// `(limit, remaining, reset)` of a response, checked for sanity.
fn rate_headers(res: &Response, before: u64) -> (u64, u64, u64) {
    let limit = header_u64(res, "x-ratelimit-limit");
    let remaining = header_u64(res, "x-ratelimit-remaining");
    let reset = header_u64(res, "x-ratelimit-reset");
    assert!(remaining <= limit, "remaining {remaining} > limit {limit}");
    assert!(
        reset >= before,
        "reset {reset} is in the past (now {before})"
    );
    (limit, remaining, reset)
}

/// Asserts a `429` of SPEC §4/§5; returns its `Retry-After`.
async fn assert_rate_limited(res: Response) -> u64 {
    let retry = header_u64(&res, "retry-after");
    assert!(retry >= 1, "Retry-After {retry}");
    let v = assert_error(res, 429, "rate_limited").await;
    assert_eq!(v["error"], "Too Many Requests");
    retry
}

async fn limited_app(per_second: u32, burst: u32) -> TestApp {
    spawn_app_with(|c| {
        c.rate_limit.per_second = per_second;
        c.rate_limit.burst = burst;
    })
    .await
}

#[tokio::test]
async fn every_authenticated_response_carries_the_rate_limit_headers() {
    let app = spawn_app_with(|c| {
        c.rate_limit.per_second = 50;
        c.rate_limit.burst = 100;
    })
    .await;
    let weak = app.key_with(&[Scope::ReadTiers]).await;
    let before = unix_now();
    let responses = [
        app.get("/users").await,
        app.get("/users/user-nope").await,
        app.get("/nope").await,
        app.post("/users", &json!({"name": 1})).await,
        get_with(&app, &weak, "/users").await,
        get_with(&app, &weak, "/tiers").await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 404, 404, 400, 403, 200]);
    for res in &responses {
        let (limit, remaining, _) = rate_headers(res, before);
        assert_eq!(limit, 100, "{}", res.url());
        assert!(remaining < 100, "{}", res.url());
    }
}

#[tokio::test]
async fn remaining_counts_down_and_beyond_the_burst_is_a_429_with_retry_after() {
    let app = limited_app(1, 3).await;
    let before = unix_now();
    for expected in [2, 1, 0] {
        let res = app.get("/users").await;
        assert_eq!(res.status(), 200);
        let (limit, remaining, reset) = rate_headers(&res, before);
        assert_eq!((limit, remaining), (3, expected));
        // Full again once the used tokens have dripped back in: never sooner than now.
        assert!(reset >= before + (3 - expected) - 1);
    }
    let res = app.get("/users").await;
    let (_, remaining, _) = rate_headers(&res, before);
    assert_eq!(remaining, 0);
    let retry = assert_rate_limited(res).await;
    assert!(retry <= 2, "Retry-After {retry} for a rate of 1/s");
}

#[tokio::test]
async fn a_429_is_sent_for_every_method_and_changes_nothing() {
    let app = limited_app(1, 1).await;
    assert_eq!(app.get("/users").await.status(), 200);
    let res = app
        .post(
            "/users",
            &json!({"name": "Late", "email": "late@example.com"}),
        )
        .await;
    assert_rate_limited(res).await;
    let db = app.db.clone();
    let n: i64 = tokio::task::spawn_blocking(move || {
        db.read_blocking(|c| Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(n, 0, "the rate-limited create went through");
}

#[tokio::test]
async fn limits_are_per_key_so_one_noisy_key_does_not_starve_another() {
    let app = limited_app(1, 2).await;
    let quiet = app.key_with(&Scope::defaults()).await;
    assert_eq!(app.get("/users").await.status(), 200);
    assert_eq!(app.get("/users").await.status(), 200);
    for _ in 0..5 {
        assert_rate_limited(app.get("/users").await).await;
    }
    let res = get_with(&app, &quiet, "/users").await;
    assert_eq!(res.status(), 200);
    let (limit, remaining, _) = rate_headers(&res, unix_now() - 1);
    assert_eq!((limit, remaining), (2, 1));
}

#[tokio::test]
async fn an_exhausted_key_is_served_again_after_the_bucket_refills() {
    let app = limited_app(5, 2).await;
    assert_eq!(app.get("/users").await.status(), 200);
    assert_eq!(app.get("/users").await.status(), 200);
    let retry = assert_rate_limited(app.get("/users").await).await;
    assert_eq!(
        retry, 1,
        "at 5/s the next token is well under a second away"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app.get("/users").await;
    assert_eq!(res.status(), 200);
    assert!(header_u64(&res, "x-ratelimit-remaining") <= 1);
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

#[tokio::test]
async fn repeated_bad_keys_from_one_address_are_throttled_while_a_verified_key_keeps_working() {
    let app = throttled_app().await;
    // Verified once (this uses one of the address's three verifications) …
    assert_eq!(app.get("/users").await.status(), 200);
    // … then a guesser from the same address: two more verifications, then 429s.
    for n in 0..2 {
        let k = wrong_key(n);
        assert_unauthorized(get_with(&app, &k, "/users").await, Some(&k)).await;
    }
    for n in 2..8 {
        let res = get_with(&app, &wrong_key(n), "/users").await;
        assert_rate_limited(res).await;
        // The verified key is not locked out by the attack on its address.
        let res = app.get("/users").await;
        assert_eq!(res.status(), 200, "the verified key was throttled");
    }
    // Requests without a key, and malformed keys, take the same throttled path.
    let res = app.client.get(app.url("/users")).send().await.unwrap();
    assert_rate_limited(res).await;
    assert_rate_limited(get_with(&app, "garbage", "/users").await).await;
}

#[tokio::test]
async fn a_throttled_address_gets_429_before_any_verification_even_for_a_right_key() {
    let app = throttled_app().await;
    let fresh = app.key_with(&Scope::defaults()).await;
    // The wrong secret of a real key: each of these would cost an argon2 verification.
    let (prefix, _) = fresh.rsplit_once('_').unwrap();
    let wrong = format!("{prefix}_{}", "f".repeat(64));
    for _ in 0..3 {
        assert_unauthorized(get_with(&app, &wrong, "/users").await, Some(&wrong)).await;
    }
    for _ in 0..5 {
        assert_rate_limited(get_with(&app, &wrong, "/users").await).await;
    }
    // A right key not verified before is on the same (argon2) path: 429, not 200 — the
    // throttle answers before the verification is attempted.
    assert_rate_limited(get_with(&app, &fresh, "/users").await).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_address_has_its_own_throttle() {
    let app = spawn_app_with(|c| {
        c.rate_limit.auth_per_second = 1;
        c.rate_limit.auth_burst = 2;
        c.server.trusted_proxy = true;
    })
    .await;
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
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forwarded_address_cannot_escape_the_throttle() {
    let app = spawn_app_with(|c| {
        c.rate_limit.auth_per_second = 1;
        c.rate_limit.auth_burst = 2;
    })
    .await;
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
}

#[tokio::test]
async fn the_default_test_app_is_not_rate_limited_for_ordinary_use() {
    // Guards the harness itself: other tests rely on generous limits.
    let app = spawn_app().await;
    for _ in 0..30 {
        assert_eq!(app.get("/users").await.status(), 200);
    }
}
