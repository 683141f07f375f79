//! SPEC §4 CORS: origins in `[server] cors_origins` get preflights answered without a key and
//! `Access-Control-Allow-Origin` on every response (errors included); other origins get no
//! CORS headers, and their preflights are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;

use reqwest::{Method, Response};

use crate::helpers::{
    assert_error, fresh_engine_args, spawn_app, spawn_app_with, start_binary_on, TestApp,
};

const SHOP: &str = "https://shop.example.com";
const LOCAL: &str = "http://localhost:3000";
const EVIL: &str = "https://evil.example.com";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
const ALLOWED: [&str; 5] = [
    "x-invois-key",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
];
const EXPOSED: [&str; 7] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-window",
    "retry-after",
    "etag",
    "location",
];

async fn cors_app() -> TestApp {
    spawn_app_with(|c| c.server.cors_origins = vec![SHOP.to_owned(), LOCAL.to_owned()]).await
}

fn preflight(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> reqwest::RequestBuilder {
    let mut req = client
        .request(Method::OPTIONS, format!("{base}/api/integrations{path}"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if !headers.is_empty() {
        req = req.header("Access-Control-Request-Headers", headers);
    }
    req
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// A comma-separated header as a set of lowercase items.
fn set_of(res: &Response, name: &str) -> BTreeSet<String> {
    header(res, name)
        .unwrap_or_else(|| panic!("{name} missing on {} {}", res.status(), res.url()))
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn cors_headers(res: &Response) -> Vec<String> {
    res.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// The CORS headers of an actual (non-preflight) response to `origin`.
fn assert_allowed(res: &Response, origin: &str) {
    assert_eq!(
        header(res, "access-control-allow-origin"),
        Some(origin),
        "{} {}",
        res.status(),
        res.url()
    );
    assert_eq!(set_of(res, "access-control-expose-headers"), set(&EXPOSED));
    assert!(set_of(res, "vary").contains("origin"), "Vary: Origin");
    assert!(header(res, "access-control-allow-credentials").is_none());
}

async fn assert_refused_preflight(res: Response) {
    assert!(cors_headers(&res).is_empty(), "{:?}", cors_headers(&res));
    assert_error(res, 400, "cors_rejected").await;
}

#[tokio::test]
async fn a_preflight_from_a_listed_origin_is_answered_without_a_key() {
    let app = cors_app().await;
    for (path, method, headers) in [
        (
            "/users",
            "POST",
            "content-type, x-invois-key, idempotency-key",
        ),
        (
            "/users/user-1",
            "PUT",
            "X-Invois-Key, Content-Type, If-Match",
        ),
        ("/organizations", "GET", "x-invois-key,if-none-match"),
        ("/tiers/tier-1", "DELETE", "x-invois-key"),
        ("/users/user-1", "PATCH", ""),
    ] {
        let res = preflight(&app.client, &app.address, path, SHOP, method, headers)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{method} {path}");
        assert_eq!(header(&res, "access-control-allow-origin"), Some(SHOP));
        assert_eq!(set_of(&res, "access-control-allow-methods"), set(&METHODS));
        assert_eq!(set_of(&res, "access-control-allow-headers"), set(&ALLOWED));
        assert_eq!(header(&res, "access-control-max-age"), Some("3600"));
        assert!(header(&res, "access-control-allow-credentials").is_none());
        assert!(set_of(&res, "vary").contains("origin"));
        // Answered before the key guard: no 401, no rate-limit headers.
        assert!(header(&res, "www-authenticate").is_none());
        assert!(header(&res, "x-ratelimit-limit").is_none());
    }
    // The other listed origin too.
    let res = preflight(
        &app.client,
        &app.address,
        "/users",
        LOCAL,
        "GET",
        "x-invois-key",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(LOCAL));
}

#[tokio::test]
async fn a_request_from_a_listed_origin_gets_allow_origin_and_the_exposed_headers() {
    let app = cors_app().await;
    let res = app
        .req(Method::GET, "/users")
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_allowed(&res, SHOP);
    assert!(header(&res, "x-ratelimit-limit").is_some());
    let res = app
        .req(Method::POST, "/users")
        .header("Origin", LOCAL)
        .json(&serde_json::json!({"name": "Cors Person", "email": "cors@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_allowed(&res, LOCAL);
    assert!(header(&res, "location").is_some());
}

#[tokio::test]
async fn error_responses_to_a_listed_origin_carry_allow_origin() {
    let app = spawn_app_with(|c| {
        c.server.cors_origins = vec![SHOP.to_owned()];
        c.rate_limit.per_minute = 1;
    })
    .await;
    // 401: no key.
    let res = app
        .client
        .get(app.url("/users"))
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_allowed(&res, SHOP);
    assert_error(res, 401, "unauthorized").await;
    // 404: no such route.
    let res = app
        .req(Method::GET, "/nope")
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_allowed(&res, SHOP);
    assert_error(res, 404, "not_found").await;
    // 429: over the minute's limit (the second request, unless the minute turned between
    // the two; then the third is).
    let mut res = None;
    for _ in 0..3 {
        let r = app
            .req(Method::GET, "/users")
            .header("Origin", SHOP)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            res = Some(r);
            break;
        }
    }
    let res = res.expect("a 429");
    assert_allowed(&res, SHOP);
    assert!(header(&res, "retry-after").is_some());
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers_and_its_preflight_is_refused() {
    let app = cors_app().await;
    for origin in [
        EVIL,
        "https://shop.example.com:8443",
        "http://shop.example.com",
        "null",
    ] {
        let res = app
            .req(Method::GET, "/users")
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "served as without CORS");
        assert!(
            cors_headers(&res).is_empty(),
            "{origin}: {:?}",
            cors_headers(&res)
        );
        let res = preflight(
            &app.client,
            &app.address,
            "/users",
            origin,
            "GET",
            "x-invois-key",
        )
        .send()
        .await
        .unwrap();
        assert_refused_preflight(res).await;
    }
    // No Origin at all (not a browser's cross-origin request): no CORS headers either.
    let res = app.get("/users").await;
    assert!(cors_headers(&res).is_empty(), "{:?}", cors_headers(&res));
}

#[tokio::test]
async fn with_no_origins_configured_no_origin_is_allowed() {
    let app = spawn_app().await;
    assert!(app.config.server.cors_origins.is_empty());
    let res = app
        .req(Method::GET, "/users")
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(cors_headers(&res).is_empty(), "{:?}", cors_headers(&res));
    let res = preflight(
        &app.client,
        &app.address,
        "/users",
        SHOP,
        "GET",
        "x-invois-key",
    )
    .send()
    .await
    .unwrap();
    assert_refused_preflight(res).await;
}

#[tokio::test]
async fn a_preflight_for_a_method_or_header_not_allowed_is_refused() {
    let app = cors_app().await;
    let res = preflight(
        &app.client,
        &app.address,
        "/users",
        SHOP,
        "TRACE",
        "x-invois-key",
    )
    .send()
    .await
    .unwrap();
    assert_refused_preflight(res).await;
    let res = preflight(
        &app.client,
        &app.address,
        "/users",
        SHOP,
        "GET",
        "x-invois-key, x-other",
    )
    .send()
    .await
    .unwrap();
    let v = {
        assert!(cors_headers(&res).is_empty());
        assert_error(res, 400, "cors_rejected").await
    };
    assert_eq!(
        v["message"],
        "CORS requests may send only the headers x-invois-key, content-type, if-match, \
         if-none-match, idempotency-key"
    );
}

#[tokio::test]
async fn origins_can_be_listed_comma_separated_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("cors.db"));
    let (mut child, base) = start_binary_on(
        &db,
        &[("INVOIS_SERVER__CORS_ORIGINS", &format!("{SHOP}, {LOCAL}"))],
    )
    .await;
    let client = reqwest::Client::new();
    let mut got = Vec::new();
    for origin in [SHOP, LOCAL, EVIL] {
        let res = preflight(&client, &base, "/users", origin, "GET", "x-invois-key")
            .send()
            .await
            .unwrap();
        got.push((
            res.status().as_u16(),
            header(&res, "access-control-allow-origin").map(str::to_owned),
        ));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        got,
        [
            (200, Some(SHOP.to_owned())),
            (200, Some(LOCAL.to_owned())),
            (400, None)
        ]
    );
}

#[tokio::test]
async fn serve_refuses_a_wildcard_origin_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(fresh_engine_args(&dir.path().join("x.db")))
        .env_remove("INVOIS_CONFIG")
        .env("INVOIS_SERVER__CORS_ORIGINS", "*")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.cors_origins: \"*\" is not allowed"),
        "stderr: {err}"
    );
}
