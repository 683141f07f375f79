//! SPEC §3: who gets in. Every way of presenting a bad key is a `401` with the §5 body and
//! `WWW-Authenticate: X-Invois-Key`; the key lifecycle (admin API, revocation, rotation,
//! expiry) takes effect on the next request of a running server; and the hardening headers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

use invois::auth::{self, Scope};
use invois::storage::keys;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, create_key_in, spawn_app, spawn_app_with, TestApp};

/// Asserts a `401` as SPEC §3/§5 describe it; the body never echoes `presented`.
pub async fn assert_unauthorized(res: Response, presented: Option<&str>) -> Value {
    let status = res.status();
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("X-Invois-Key".to_owned()),
        "WWW-Authenticate (status {status})"
    );
    let v = assert_error(res, 401, "unauthorized").await;
    assert_eq!(v["error"], "Unauthorized", "{v}");
    assert!(v.get("details").is_none(), "no details in {v}");
    if let Some(p) = presented.filter(|p| !p.is_empty()) {
        assert!(!v.to_string().contains(p), "the body echoes the key: {v}");
    }
    v
}

/// A GET of `path` (relative to `/api/integrations`) with `key` as `X-Invois-Key`.
pub async fn get_with(app: &TestApp, key: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("X-Invois-Key", key)
        .send()
        .await
        .unwrap()
}

/// The key id (`key-<16 hex>`) inside a plaintext key.
pub fn key_id(key: &str) -> String {
    auth::split_key(key).expect("a well-formed key").0
}

/// Inserts a key row directly, with the given expiry; returns the plaintext.
async fn insert_key_expiring(app: &TestApp, scopes: &[Scope], expires_at: &str) -> String {
    let db = app.db.clone();
    let scopes = scopes.to_vec();
    let expires_at = expires_at.to_owned();
    tokio::task::spawn_blocking(move || {
        let (mut info, plain, hash) = auth::generate("expiring", &scopes, None).unwrap();
        info.expires_at = Some(expires_at);
        db.write_blocking(None, |tx| keys::insert(tx, &info, &hash))
            .unwrap();
        plain.0
    })
    .await
    .unwrap()
}

/// Sets a key's `expires_at` in the database (as another process could).
async fn set_expiry(app: &TestApp, id: &str, expires_at: &str) {
    let db = app.db.clone();
    let (id, at) = (id.to_owned(), expires_at.to_owned());
    let changed = tokio::task::spawn_blocking(move || {
        db.write_blocking(None, |tx| {
            tx.execute(
                "UPDATE api_keys SET expires_at = ?2 WHERE id = ?1",
                [&id, &at],
            )
        })
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(changed, 1, "no such key row");
}

/// Runs the `invois` binary with `args`.
pub fn invois(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("INVOIS_CONFIG")
        .output()
        .expect("run invois")
}

/// Runs the `invois` binary with `args` and then `engine` (the arguments that select a
/// database: `TestApp::engine_args`, `helpers::fresh_engine_args`).
pub fn invois_on(engine: &[String], args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(engine.iter().map(String::as_str));
    invois(&all)
}

// ---- 401: every way of presenting a bad key ----

#[tokio::test]
async fn a_request_without_a_key_is_unauthorized() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/users")).send().await.unwrap();
    let v = assert_unauthorized(res, None).await;
    assert_eq!(v["message"], "Invalid or missing API key");
}

#[tokio::test]
async fn a_key_sent_in_another_header_is_unauthorized() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/users"))
        .header("Authorization", format!("Bearer {}", app.key))
        .send()
        .await
        .unwrap();
    assert_unauthorized(res, Some(&app.key)).await;
}

#[tokio::test]
async fn malformed_keys_are_unauthorized() {
    let app = spawn_app().await;
    let (id_part, secret) = app.key["invois_".len()..].split_once('_').unwrap();
    let malformed = [
        String::new(),
        "hello".to_owned(),
        "invois_".to_owned(),
        format!("invois_{id_part}"),
        format!("invois_{id_part}_"),
        format!("invois_{id_part}_{}", &secret[1..]),
        format!("invois_{id_part}_{secret}0"),
        format!("invois_{}_{secret}", id_part.to_uppercase()),
        format!("invois_{id_part}_{}", secret.to_uppercase()),
        format!("INVOIS_{id_part}_{secret}"),
        format!("sk_{id_part}_{secret}"),
        format!("{}x", app.key),
        format!("invois_{id_part}_{}", "g".repeat(64)),
        "x".repeat(5000),
    ];
    for k in &malformed {
        let res = get_with(&app, k, "/users").await;
        assert_unauthorized(res, Some(k)).await;
    }
}

#[tokio::test]
async fn a_key_header_that_is_not_text_is_unauthorized() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/users"))
        .header(
            "X-Invois-Key",
            reqwest::header::HeaderValue::from_bytes(b"invois_\xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_unauthorized(res, None).await;
}

#[tokio::test]
async fn a_well_formed_key_with_an_unknown_id_is_unauthorized() {
    let app = spawn_app().await;
    let k = format!("invois_{}_{}", "0123456789abcdef", "ab".repeat(32));
    let v = assert_unauthorized(get_with(&app, &k, "/users").await, Some(&k)).await;
    assert_eq!(v["message"], "Invalid or missing API key");
}

#[tokio::test]
async fn a_known_id_with_a_wrong_secret_is_unauthorized_and_the_right_key_still_works() {
    let app = spawn_app().await;
    let (prefix, secret) = app.key.rsplit_once('_').unwrap();
    let flipped = if secret.starts_with('0') { "1" } else { "0" };
    let wrong = format!("{prefix}_{flipped}{}", &secret[1..]);
    for _ in 0..2 {
        let v = assert_unauthorized(get_with(&app, &wrong, "/users").await, Some(&wrong)).await;
        // The same answer as an unknown id: a guess learns nothing.
        assert_eq!(v["message"], "Invalid or missing API key");
    }
    assert_eq!(get_with(&app, &app.key, "/users").await.status(), 200);
    // A wrong secret is still refused after the right key was verified (and cached).
    assert_unauthorized(get_with(&app, &wrong, "/users").await, Some(&wrong)).await;
}

#[tokio::test]
async fn a_revoked_key_is_unauthorized() {
    let app = spawn_app().await;
    let key = app.key_with(&Scope::defaults()).await;
    let id = key_id(&key);
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(None, |tx| keys::revoke(tx, &id, &invois::domain::now()))
            .unwrap()
    })
    .await
    .unwrap();
    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;
}

#[tokio::test]
async fn an_expired_key_is_unauthorized() {
    let app = spawn_app().await;
    let key = insert_key_expiring(&app, &Scope::ALL, "2020-01-01T00:00:00Z").await;
    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;
    // A key that has not expired yet works: the row itself is fine.
    let later = insert_key_expiring(&app, &Scope::ALL, "2999-01-01T00:00:00Z").await;
    assert_eq!(get_with(&app, &later, "/users").await.status(), 200);
}

#[tokio::test]
async fn a_key_that_expires_after_it_was_verified_is_refused_on_the_next_request() {
    let app = spawn_app().await;
    let key = app.key_with(&Scope::defaults()).await;
    assert_eq!(get_with(&app, &key, "/users").await.status(), 200);
    assert_eq!(get_with(&app, &key, "/users").await.status(), 200);
    set_expiry(&app, &key_id(&key), "2020-01-01T00:00:00Z").await;
    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;
    // And it stays refused (not re-admitted through a stale cache entry).
    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;
}

#[tokio::test]
async fn the_openapi_document_needs_no_key_but_every_other_api_path_does() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/integrations/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for path in [
        "/users",
        "/organizations",
        "/tiers",
        "/keys",
        "/events",
        "/nope",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_unauthorized(res, None).await;
    }
}

// ---- the key lifecycle on a running server ----

#[tokio::test]
async fn a_key_revoked_through_the_cli_is_refused_on_the_next_request_of_a_running_server() {
    let app = spawn_app().await;
    let key = app.key_with(&Scope::defaults()).await;
    let id = key_id(&key);
    // Verified and remembered by the server.
    assert_eq!(get_with(&app, &key, "/users").await.status(), 200);
    assert_eq!(get_with(&app, &key, "/users").await.status(), 200);

    let out = invois_on(&app.engine_args(), &["keys", "revoke", &id]);
    assert!(
        out.status.success(),
        "revoke: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("revoked {id}")
    );

    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;
    // Other keys are not affected.
    assert_eq!(app.get("/users").await.status(), 200);
}

#[tokio::test]
async fn a_key_revoked_through_the_admin_api_is_refused_on_the_next_request() {
    let app = spawn_app().await;
    let key = app.key_with(&Scope::defaults()).await;
    let id = key_id(&key);
    assert_eq!(get_with(&app, &key, "/users").await.status(), 200);

    let res = app.delete(&format!("/keys/{id}")).await;
    assert_eq!(res.status(), 204);
    assert_unauthorized(get_with(&app, &key, "/users").await, Some(&key)).await;

    // Revoking again is harmless; the listing shows when.
    assert_eq!(app.delete(&format!("/keys/{id}")).await.status(), 204);
    let list: Value = app.get("/keys").await.json().await.unwrap();
    let row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(row["revokedAt"].is_string(), "{row}");
}

#[tokio::test]
async fn revoking_an_unknown_key_through_the_admin_api_is_a_404() {
    let app = spawn_app().await;
    let v = assert_error(
        app.delete("/keys/key-0000000000000000").await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(v["message"], "API key not found");
    assert_error(app.delete("/keys/nonsense").await, 404, "not_found").await;
}

#[tokio::test]
async fn rotating_a_key_issues_a_working_successor_and_refuses_the_old_one() {
    let app = spawn_app().await;
    let old = app
        .key_with(&[Scope::ReadUsers, Scope::ReadOrganizations])
        .await;
    let old_id = key_id(&old);
    assert_eq!(get_with(&app, &old, "/users").await.status(), 200);

    let res = app
        .req(Method::POST, &format!("/keys/{old_id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let new = body["key"].as_str().unwrap().to_owned();
    let new_id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(key_id(&new), new_id);
    assert_ne!(new_id, old_id);
    assert_eq!(location, format!("/api/integrations/keys/{new_id}"));
    assert_eq!(body["name"], "test");
    assert_eq!(body["scopes"], json!(["read:users", "read:organizations"]));

    assert_eq!(get_with(&app, &new, "/users").await.status(), 200);
    assert_unauthorized(get_with(&app, &old, "/users").await, Some(&old)).await;
    // The successor has the same scopes, no more.
    let res = get_with(&app, &new, "/tiers").await;
    assert_error(res, 403, "insufficient_scope").await;

    // The old key's row points at its successor; rotating it again is a conflict.
    let list: Value = app.get("/keys").await.json().await.unwrap();
    let row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["replacedBy"], new_id.as_str());
    assert!(row["revokedAt"].is_string());
    let res = app
        .req(Method::POST, &format!("/keys/{old_id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_error(res, 409, "conflict").await;
    let res = app
        .req(Method::POST, "/keys/key-0000000000000000/rotate")
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_successor_expires_no_later_than_the_key_it_replaces() {
    let app = spawn_app().await;
    let old = create_key_in(&app.db, &Scope::defaults(), Some(10)).await;
    let old_id = key_id(&old);
    let res = app
        .req(Method::POST, &format!("/keys/{old_id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let list: Value = app.get("/keys").await.json().await.unwrap();
    let old_row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .unwrap()
        .clone();
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let (old_exp, new_exp) = (at(&old_row["expiresAt"]), at(&body["expiresAt"]));
    assert!(new_exp <= old_exp, "{new_exp} after {old_exp}");
    assert!(
        old_exp - new_exp <= chrono::Duration::days(1),
        "{new_exp} vs {old_exp}"
    );
}

#[tokio::test]
async fn the_admin_api_creates_a_key_shown_once_and_lists_keys_without_secrets() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/keys",
            &json!({"name": "shopify-sync", "scopes": ["read:organizations"], "expiresInDays": 90}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["createdAt", "expiresAt", "id", "key", "name", "scopes"]
    );
    let key = body["key"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(key_id(&key), id);
    assert_eq!(location, format!("/api/integrations/keys/{id}"));
    assert_eq!(body["name"], "shopify-sync");
    assert_eq!(body["scopes"], json!(["read:organizations"]));
    assert!(body["expiresAt"].as_str().unwrap() > body["createdAt"].as_str().unwrap());

    assert_eq!(get_with(&app, &key, "/organizations").await.status(), 200);
    assert_error(
        get_with(&app, &key, "/users").await,
        403,
        "insufficient_scope",
    )
    .await;

    let res = app.get("/keys").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let secret = key.rsplit('_').next().unwrap();
    assert!(!text.contains(&key) && !text.contains(secret), "{text}");
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.to_lowercase().contains("secret"), "{text}");
    assert!(!text.contains(&app.key), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&key_id(&app.key).as_str()));
    for k in list["data"].as_array().unwrap() {
        assert!(k.get("key").is_none(), "{k}");
    }
}

#[tokio::test]
async fn a_key_created_through_the_admin_api_without_scopes_gets_every_scope_but_admin() {
    let app = spawn_app().await;
    let res = app.post("/keys", &json!({"name": "default"})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["scopes"],
        json!([
            "read:users",
            "write:users",
            "read:organizations",
            "write:organizations",
            "read:tiers",
            "write:tiers"
        ])
    );
    assert_eq!(body["expiresAt"], Value::Null);
    let key = body["key"].as_str().unwrap();
    assert_eq!(get_with(&app, key, "/users").await.status(), 200);
    let v = assert_error(
        get_with(&app, key, "/keys").await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_eq!(v["message"], "Insufficient scope; expected any of: admin.");
}

#[tokio::test]
async fn the_admin_api_refuses_bad_key_requests_with_every_problem_at_once() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/keys",
            &json!({"scopes": ["read:everything"], "expiresInDays": -1, "colour": "red"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    let d = &v["details"];
    for field in ["name", "scopes", "expiresInDays", "colour"] {
        assert!(d[field].is_array(), "{field} in {v}");
    }
    let res = app.post("/keys", &json!({"name": "x", "scopes": []})).await;
    assert_error(res, 400, "validation_error").await;
    // Nothing was created by the refused requests.
    let list: Value = app.get("/keys").await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn a_keys_last_use_is_recorded_in_batches() {
    let app = spawn_app_with(|c| c.auth.last_used_flush_secs = 1).await;
    let key = app.key_with(&Scope::defaults()).await;
    let id = key_id(&key);
    for _ in 0..3 {
        assert_eq!(get_with(&app, &key, "/users").await.status(), 200);
    }
    // Bounded wait for the batch writer (it runs every second here).
    let mut last_used = Value::Null;
    for _ in 0..100 {
        let list: Value = app.get("/keys").await.json().await.unwrap();
        last_used = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()["lastUsedAt"]
            .clone();
        if last_used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(last_used.is_string(), "lastUsedAt never recorded");
}

// ---- hardening ----

fn assert_hardened(res: &Response) {
    let h = res.headers();
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{:?}",
        res.url()
    );
    assert_eq!(
        h.get("cache-control").unwrap(),
        "no-store",
        "{:?}",
        res.url()
    );
    assert!(h.get("x-request-id").is_some(), "{:?}", res.url());
}

#[tokio::test]
async fn api_responses_are_not_sniffed_or_cached_whatever_their_status() {
    let app = spawn_app().await;
    let weak = app.key_with(&[Scope::ReadTiers]).await;
    let responses = [
        app.get("/users").await,
        app.get("/users/user-nope").await,
        app.get("/nope").await,
        app.client.get(app.url("/users")).send().await.unwrap(),
        get_with(&app, &weak, "/users").await,
        app.post("/users", &json!({})).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 404, 404, 401, 403, 400]);
    for res in &responses {
        assert_hardened(res);
    }
}

#[tokio::test]
async fn request_ids_are_echoed_on_api_responses_and_unsafe_ones_are_replaced() {
    let app = spawn_app().await;
    for (key, status) in [(app.key.clone(), 200), ("wrong".to_owned(), 401)] {
        let res = app
            .client
            .get(app.url("/users"))
            .header("X-Invois-Key", key)
            .header("X-Request-Id", "shopify-sync.42:abc_DEF")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["x-request-id"], "shopify-sync.42:abc_DEF");
    }
    for bad in ["has space", "<script>", &"a".repeat(129)] {
        let res = app
            .req(Method::GET, "/users")
            .header("X-Request-Id", bad)
            .send()
            .await
            .unwrap();
        let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(rid.starts_with("req-") && rid != bad, "{rid}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_json_413() {
    let app = spawn_app_with(|c| c.server.body_limit = 1024).await;
    let big = json!({"name": "x".repeat(4096), "email": "big@example.com"});
    let res = app.post("/users", &big).await;
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn rotating_an_expired_key_is_a_conflict_and_issues_nothing() {
    let app = spawn_app().await;
    let expired = insert_key_expiring(&app, &Scope::defaults(), "2020-01-01T00:00:00Z").await;
    let id = key_id(&expired);
    let res = app
        .req(Method::POST, &format!("/keys/{id}/rotate"))
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(
        v["message"],
        "API key has expired; create a new key instead of rotating it"
    );
    let list: serde_json::Value = app.get("/keys").await.json().await.unwrap();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "no successor was created"
    );
}
