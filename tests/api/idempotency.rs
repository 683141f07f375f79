//! `Idempotency-Key` on POST: safe retries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{json, Value};

use invois::storage::DbError;

use crate::helpers::{assert_error, blocking, fresh_database_url, spawn_app, TestApp};

async fn post_with_key(app: &TestApp, path: &str, idem: &str, body: &Value) -> Response {
    app.req(Method::POST, path)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .expect("send")
}

/// Status, `Location`, `idempotent-replayed` and the raw body of a response.
async fn parts(res: Response) -> (u16, Option<String>, Option<String>, String) {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let location = header("location");
    let replayed = header("idempotent-replayed");
    (status, location, replayed, res.text().await.unwrap())
}

async fn total(app: &TestApp, path: &str) -> i64 {
    let v: Value = app.get(path).await.json().await.unwrap();
    v["meta"]["total"].as_i64().expect("meta.total")
}

#[tokio::test]
async fn a_retried_create_user_replays_the_stored_response() {
    let app = spawn_app().await;
    let body = json!({"name": "Jane Smith", "email": "jane@example.com"});
    let (s1, l1, r1, b1) = parts(post_with_key(&app, "/users", "key-1", &body).await).await;
    let (s2, l2, r2, b2) = parts(post_with_key(&app, "/users", "key-1", &body).await).await;
    assert_eq!((s1, s2), (201, 201));
    assert!(l1.is_some());
    assert_eq!(l1, l2);
    assert_eq!(b1, b2, "same body bytes");
    assert_eq!(r1, None, "the first response is not a replay");
    assert_eq!(r2.as_deref(), Some("true"));
}

#[tokio::test]
async fn a_replayed_create_creates_nothing_new() {
    let app = spawn_app().await;
    let body = json!({"name": "Jane Smith", "email": "jane@example.com"});
    for _ in 0..3 {
        let res = post_with_key(&app, "/users", "key-1", &body).await;
        assert_eq!(res.status(), 201);
    }
    assert_eq!(total(&app, "/users").await, 1);
}

#[tokio::test]
async fn a_replay_is_served_even_after_the_resource_changed() {
    let app = spawn_app().await;
    let body = json!({"name": "Jane Smith", "email": "jane@example.com"});
    let (_, location, _, first) = parts(post_with_key(&app, "/users", "key-1", &body).await).await;
    let location = location.unwrap();
    let res = app.patch(&location, &json!({"name": "Jane Doe"})).await;
    assert_eq!(res.status(), 200);
    let (status, _, replayed, again) =
        parts(post_with_key(&app, "/users", "key-1", &body).await).await;
    assert_eq!(status, 201);
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first, "the stored response, not the current state");
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_422_and_creates_nothing() {
    let app = spawn_app().await;
    let res = post_with_key(
        &app,
        "/users",
        "key-1",
        &json!({"name": "Jane Smith", "email": "jane@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = post_with_key(
        &app,
        "/users",
        "key-1",
        &json!({"name": "John Doe", "email": "john@example.com"}),
    )
    .await;
    let v = assert_error(res, 422, "idempotency_key_reused").await;
    assert_eq!(v["error"], "Unprocessable Entity");
    assert_eq!(total(&app, "/users").await, 1);
    let found = total(&app, "/users?query=john").await;
    assert_eq!(found, 0);
}

#[tokio::test]
async fn the_same_key_on_another_endpoint_is_422() {
    let app = spawn_app().await;
    let res = post_with_key(&app, "/organizations", "key-1", &json!({"name": "Acme"})).await;
    assert_eq!(res.status(), 201);
    let res = post_with_key(&app, "/tiers", "key-1", &json!({"name": "Acme"})).await;
    assert_error(res, 422, "idempotency_key_reused").await;
    assert_eq!(total(&app, "/tiers").await, 0);
}

#[tokio::test]
async fn the_same_body_with_fields_in_another_order_is_a_replay() {
    let app = spawn_app().await;
    let a = r#"{"name":"Jane Smith","email":"jane@example.com"}"#;
    let b = r#"{ "email": "jane@example.com", "name": "Jane Smith" }"#;
    let mut bodies = Vec::new();
    for raw in [a, b] {
        let res = app
            .req(Method::POST, "/users")
            .header("Idempotency-Key", "key-1")
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        bodies.push(res.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(total(&app, "/users").await, 1);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_api_key() {
    let app = spawn_app().await;
    let other = app.key_with(&invois::auth::Scope::ALL).await;
    let body = json!({"name": "Acme Corporation"});
    let first = post_with_key(&app, "/organizations", "shared-key", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let res = app
        .client
        .post(app.url("/organizations"))
        .header("X-Invois-Key", &other)
        .header("Idempotency-Key", "shared-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["slug"], "acme-corporation-2");
    assert_eq!(total(&app, "/organizations").await, 2);
}

#[tokio::test]
async fn without_an_idempotency_key_every_post_creates() {
    let app = spawn_app().await;
    let body = json!({"name": "Acme Corporation"});
    app.create_org(body.clone()).await;
    app.create_org(body).await;
    assert_eq!(total(&app, "/organizations").await, 2);
}

#[tokio::test]
async fn a_retried_add_member_replays_instead_of_conflicting() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Acme"})).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/organizations/{}/members", o["id"].as_str().unwrap());
    let body = json!({"userId": u["id"], "role": "admin"});
    let (s1, l1, _, b1) = parts(post_with_key(&app, &path, "m-1", &body).await).await;
    let (s2, l2, r2, b2) = parts(post_with_key(&app, &path, "m-1", &body).await).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!((l1, b1), (l2, b2));
    assert_eq!(r2.as_deref(), Some("true"));
    assert_eq!(total(&app, &path).await, 1);
}

#[tokio::test]
async fn a_retried_create_tier_replays_the_stored_response() {
    let app = spawn_app().await;
    let body = json!({"name": "Gold", "features": ["priority-support"]});
    let (s1, l1, _, b1) = parts(post_with_key(&app, "/tiers", "t-1", &body).await).await;
    let (s2, l2, r2, b2) = parts(post_with_key(&app, "/tiers", "t-1", &body).await).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!((l1, b1), (l2, b2));
    assert_eq!(r2.as_deref(), Some("true"));
    assert_eq!(total(&app, "/tiers").await, 1);
}

#[tokio::test]
async fn a_rejected_request_does_not_use_up_its_idempotency_key() {
    let app = spawn_app().await;
    let res = post_with_key(&app, "/users", "key-1", &json!({"name": "Jane Smith"})).await;
    assert_error(res, 400, "validation_error").await;
    let res = post_with_key(
        &app,
        "/users",
        "key-1",
        &json!({"name": "Jane Smith", "email": "jane@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn an_over_long_idempotency_key_is_400() {
    let app = spawn_app().await;
    let res = post_with_key(
        &app,
        "/organizations",
        &"k".repeat(256),
        &json!({"name": "Acme"}),
    )
    .await;
    assert_error(res, 400, "invalid_idempotency_key").await;
    assert_eq!(total(&app, "/organizations").await, 0);
}

/// The first column of `sql`'s rows, as text (on either engine).
async fn strings(app: &TestApp, sql: &'static str) -> Vec<String> {
    let db = app.db.clone();
    blocking(move || {
        db.read_blocking(|c| {
            c.prepare(sql)?
                .query_map((), |r| r.get(0))?
                .collect::<Result<_, _>>()
        })
        .unwrap()
    })
    .await
}

async fn idempotency_rows(app: &TestApp) -> Vec<String> {
    strings(app, "SELECT key FROM idempotency_keys ORDER BY key").await
}

/// Inserts `n` idempotency keys created two days ago and more (`old-10001`, …), as
/// `execute_batch` on either engine.
fn insert_expired_keys(c: &invois::storage::sql::Conn<'_>, n: u32) -> Result<(), DbError> {
    c.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO idempotency_keys (api_key_id, key, method, path, request_hash, status, body, location, created_at) \
         SELECT 'key-0000000000000000', 'old-' || (10000 + i), 'POST', '/api/integrations/users', 'h', 201, '{{}}', NULL, '2020-01-01T00:00:00Z' FROM n"
    ))
}

#[tokio::test]
async fn expired_idempotency_keys_are_purged_on_a_schedule_and_fresh_ones_kept() {
    let app = crate::helpers::spawn_app_with(|c| c.database.purge_every_secs = 1).await;
    let res = post_with_key(
        &app,
        "/users",
        "fresh-key",
        &json!({"name": "Fresh Retry", "email": "fresh@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    // 2,500 rows from two days ago: more than one purge batch (1,000).
    // Counted in the inserting transaction: the purge (every second) may run right after it.
    let db = app.db.clone();
    let held = blocking(move || {
        db.write_blocking(None, |c| {
            insert_expired_keys(c, 2500)?;
            c.query_row("SELECT count(*) FROM idempotency_keys", (), |r| {
                r.get::<_, i64>(0)
            })
        })
        .unwrap()
    })
    .await;
    assert_eq!(held, 2501);
    let mut rows = idempotency_rows(&app).await;
    for _ in 0..100 {
        if rows.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rows = idempotency_rows(&app).await;
    }
    assert_eq!(rows.len(), 1, "{} rows left", rows.len());
    assert_eq!(rows, vec!["fresh-key".to_owned()]);
    // The kept key still replays.
    let again = post_with_key(
        &app,
        "/users",
        "fresh-key",
        &json!({"name": "Fresh Retry", "email": "fresh@example.com"}),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
}

#[test]
fn a_purge_deletes_every_expired_row_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = invois::config::DatabaseConfig {
        path: dir.path().join("p.db"),
        url: fresh_database_url().unwrap_or_default(),
        ..Default::default()
    };
    let db = invois::storage::open(&cfg).unwrap();
    db.write_blocking(None, |c| insert_expired_keys(c, 2001))
        .unwrap();
    assert_eq!(invois::jobs::purge_idempotency_keys(&db).unwrap(), 2001);
    assert_eq!(invois::jobs::purge_idempotency_keys(&db).unwrap(), 0);
}

async fn key_count(app: &TestApp) -> usize {
    let v: Value = app.get("/keys").await.json().await.unwrap();
    v["data"].as_array().unwrap().len()
}

async fn stored_bodies(app: &TestApp) -> String {
    let bodies = strings(app, "SELECT body FROM idempotency_keys").await;
    assert!(!bodies.is_empty(), "no stored response");
    bodies.join("\n")
}

#[tokio::test]
async fn a_retried_key_create_returns_the_same_key_and_mints_no_second_one() {
    let app = spawn_app().await;
    let before = key_count(&app).await;
    let body = json!({"name": "shopify-sync", "scopes": ["admin"]});
    let (s1, l1, r1, b1) = parts(post_with_key(&app, "/keys", "mint-1", &body).await).await;
    let (s2, l2, r2, b2) = parts(post_with_key(&app, "/keys", "mint-1", &body).await).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!((r1, r2.as_deref()), (None, Some("true")));
    assert_eq!(l1, l2);
    assert_eq!(b1, b2, "the replay gives the same key");
    assert_eq!(key_count(&app).await, before + 1, "one key, not two");
    let created: Value = serde_json::from_str(&b1).unwrap();
    let plain = created["key"].as_str().unwrap();
    // Only the nonce is stored, never the plaintext or its secret part.
    let secret = plain.rsplit('_').next().unwrap();
    assert!(!stored_bodies(&app).await.contains(secret));
    let res = app
        .client
        .get(app.url("/keys"))
        .header("X-Invois-Key", plain)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the replayed key works");
}

#[tokio::test]
async fn a_key_create_idempotency_key_with_another_body_is_422() {
    let app = spawn_app().await;
    let first = post_with_key(&app, "/keys", "mint-2", &json!({"name": "a"})).await;
    assert_eq!(first.status(), 201);
    let other = post_with_key(&app, "/keys", "mint-2", &json!({"name": "b"})).await;
    assert_error(other, 422, "idempotency_key_reused").await;
}

#[tokio::test]
async fn a_retried_rotate_returns_the_same_successor_instead_of_409() {
    let app = spawn_app().await;
    let created: Value = app
        .post("/keys", &json!({"name": "to-rotate", "expiresInDays": 30}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let path = format!("/keys/{id}/rotate");
    let before = key_count(&app).await;
    let (s1, _, r1, b1) = parts(post_with_key(&app, &path, "rot-1", &Value::Null).await).await;
    let (s2, _, r2, b2) = parts(post_with_key(&app, &path, "rot-1", &Value::Null).await).await;
    assert_eq!((s1, s2), (201, 201), "{b2}");
    assert_eq!((r1, r2.as_deref()), (None, Some("true")));
    assert_eq!(b1, b2);
    assert_eq!(key_count(&app).await, before + 1, "one successor");
    let next: Value = serde_json::from_str(&b1).unwrap();
    assert_eq!(next["expiresAt"], created["expiresAt"]);
    assert_eq!(next["name"], "to-rotate");
    // The old key is revoked; the successor works.
    let old = app
        .client
        .get(app.url("/users"))
        .header("X-Invois-Key", created["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let new = app
        .client
        .get(app.url("/users"))
        .header("X-Invois-Key", next["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
    // Without the header a second rotate is refused: the key is revoked.
    assert_error(app.post(&path, &Value::Null).await, 409, "conflict").await;
}

#[tokio::test]
async fn concurrent_rotations_of_one_key_make_one_successor() {
    let app = spawn_app().await;
    let created: Value = app
        .post("/keys", &json!({"name": "raced"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/keys/{}/rotate", created["id"].as_str().unwrap());
    let before = key_count(&app).await;
    let sends: Vec<_> = (0..8).map(|_| app.post(&path, &Value::Null)).collect();
    let mut created_n = 0;
    for res in futures_util::future::join_all(sends).await {
        match res.status().as_u16() {
            201 => created_n += 1,
            409 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(created_n, 1, "exactly one rotation wins");
    assert_eq!(key_count(&app).await, before + 1);
}

#[tokio::test]
async fn another_callers_idempotency_key_gets_its_own_new_key() {
    let app = spawn_app().await;
    let other = app.key_with(&invois::auth::Scope::ALL).await;
    let body = json!({"name": "same-name"});
    let mine: Value = post_with_key(&app, "/keys", "shared-1", &body)
        .await
        .json()
        .await
        .unwrap();
    let theirs = app
        .client
        .post(app.url("/keys"))
        .header("X-Invois-Key", &other)
        .header("Idempotency-Key", "shared-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], mine["id"]);
    assert_ne!(theirs["key"], mine["key"]);
}
