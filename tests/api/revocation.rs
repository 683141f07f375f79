//! A key revoked by another process (the CLI, another instance) while this server has it
//! cached is refused on its next request, and that request changes nothing — on every
//! write path. Each test uses the key once (so it is verified and cached), revokes it through
//! a connection of its own, snapshots the database, sends one write, and checks the answer
//! is 401 and the database is as it was; then the same request with a live key succeeds, so
//! the 401 came from the revocation and not from the request.

use std::collections::BTreeMap;

use invois::auth::Scope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::auth::{assert_unauthorized, key_id};
use crate::helpers::{blocking, spawn_app, TestApp};

/// What every test starts with: a user, a second user, an organization with the first as a
/// member, a tier, and a spare key — all made with the app's own key.
struct Fixture {
    app: TestApp,
    user: String,
    other_user: String,
    org: String,
    member: String,
    tier: String,
    spare_key: String,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let user = app.create_user("Revoke Target", "target@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_user = app.create_user("Other Person", "other@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app.create_org(json!({"name": "Revocation Org"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = app.add_member(&org, &user, "customer").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/tiers",
            &json!({"name": "Spare", "features": ["a"], "limits": {"maxUsers": 5, "maxStorage": "1GB", "apiCallsPerMonth": 100}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let tier = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare_key = key_id(&app.key_with(&Scope::defaults()).await);
    Fixture {
        app,
        user,
        other_user,
        org,
        member,
        tier,
        spare_key,
    }
}

/// Every row of every table, as text; `api_keys` without `last_used_at` (written in the
/// background by design), and on PostgreSQL without `rate_limits` (the per-request windows,
/// kept in the database there and in the process on SQLite).
async fn snapshot(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let db = app.db.clone();
    blocking(move || {
        db.read_blocking(|c| {
            let (tables, columns, quote) = if c.is_postgres() {
                (
                    "SELECT CAST(tablename AS TEXT) FROM pg_tables \
                     WHERE schemaname = current_schema() AND tablename <> 'rate_limits' ORDER BY 1",
                    "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
                    "quote_nullable",
                )
            } else {
                (
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                     AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
                    "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                    "quote",
                )
            };
            let tables: Vec<String> = c
                .prepare(tables)?
                .query_map((), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = BTreeMap::new();
            for t in tables {
                let cols: Vec<String> = c
                    .prepare(columns)?
                    .query_map([t.as_str()], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?
                    .into_iter()
                    .filter(|col| !(t == "api_keys" && col == "last_used_at"))
                    .map(|col| format!("{quote}(\"{col}\")"))
                    .collect();
                let sql = format!("SELECT {} FROM \"{t}\" ORDER BY 1", cols.join(" || '|' || "));
                let rows: Vec<String> = c
                    .prepare(&sql)?
                    .query_map((), |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                out.insert(t, rows);
            }
            Ok(out)
        })
        .unwrap()
    })
    .await
}

/// Revokes `key` the way the CLI does it: through a connection of its own (a second
/// `storage::open` of the same database), so the server learns of it only from the database.
async fn revoke_elsewhere(app: &TestApp, key: &str) {
    let cfg = app.config.database.clone();
    let id = key_id(key);
    let n = blocking(move || {
        let other = invois::storage::open(&cfg).unwrap();
        other
            .write_blocking(None, |c| {
                c.execute(
                    "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2",
                    [invois::domain::now(), id],
                )
            })
            .unwrap()
    })
    .await;
    assert_eq!(n, 1);
}

/// The whole scenario for one write; `expect_live` is the status the same request gets
/// with a live key.
async fn refused_and_nothing_changed(
    f: &Fixture,
    method: Method,
    path: &str,
    body: Option<Value>,
    expect_live: u16,
) {
    refused_with_headers(f, method, path, body, &[], expect_live).await;
}

/// As [`refused_and_nothing_changed`], each request sent with `headers` too.
async fn refused_with_headers(
    f: &Fixture,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
    expect_live: u16,
) {
    let app = &f.app;
    let victim = app.key_with(&Scope::ALL).await;
    let warm = app
        .client
        .get(app.url("/users"))
        .header("X-Invois-Key", &victim)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200, "the key works before it is revoked");
    revoke_elsewhere(app, &victim).await;
    let before = snapshot(app).await;

    let send = |key: &str| {
        let mut r = app
            .client
            .request(method.clone(), app.url(path))
            .header("X-Invois-Key", key);
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        if let Some(b) = &body {
            r = r.json(b);
        }
        r.send()
    };
    let res = send(&victim).await.unwrap();
    let v = assert_unauthorized(res, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked or has expired");
    assert_eq!(
        snapshot(app).await,
        before,
        "{method} {path} changed the database"
    );

    let live = send(&app.key).await.unwrap();
    assert_eq!(
        live.status().as_u16(),
        expect_live,
        "{method} {path} with a live key: {}",
        live.text().await.unwrap()
    );
    // The snapshot does see a write (so "as it was" above means something).
    assert_ne!(
        snapshot(app).await,
        before,
        "{method} {path} with a live key"
    );
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_a_user() {
    let f = fixture().await;
    let body = json!({"name": "New Person", "email": "new@example.com"});
    refused_and_nothing_changed(&f, Method::POST, "/users", Some(body), 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_a_user_with_an_idempotency_key() {
    let f = fixture().await;
    let app = &f.app;
    let victim = app.key_with(&Scope::ALL).await;
    assert_eq!(
        app.client
            .get(app.url("/users"))
            .header("X-Invois-Key", &victim)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    revoke_elsewhere(app, &victim).await;
    let before = snapshot(app).await;
    let res = app
        .client
        .post(app.url("/users"))
        .header("X-Invois-Key", &victim)
        .header("Idempotency-Key", "revoked-1")
        .json(&json!({"name": "New Person", "email": "new@example.com"}))
        .send()
        .await
        .unwrap();
    assert_unauthorized(res, Some(&victim)).await;
    assert_eq!(snapshot(app).await, before);
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_update_a_user() {
    let f = fixture().await;
    let path = format!("/users/{}", f.user);
    let body = json!({"name": "Renamed Person"});
    refused_and_nothing_changed(&f, Method::PATCH, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_delete_a_user() {
    let f = fixture().await;
    let path = format!("/users/{}", f.user);
    refused_and_nothing_changed(&f, Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_an_organization() {
    let f = fixture().await;
    let body = json!({"name": "Another Org"});
    refused_and_nothing_changed(&f, Method::POST, "/organizations", Some(body), 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_update_an_organization() {
    let f = fixture().await;
    let path = format!("/organizations/{}", f.org);
    let body = json!({"name": "Renamed Org", "premiumTierId": f.tier});
    refused_and_nothing_changed(&f, Method::PATCH, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_delete_an_organization() {
    let f = fixture().await;
    let path = format!("/organizations/{}", f.org);
    refused_and_nothing_changed(&f, Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_add_a_member() {
    let f = fixture().await;
    let path = format!("/organizations/{}/members", f.org);
    let body = json!({"userId": f.other_user, "role": "admin"});
    refused_and_nothing_changed(&f, Method::POST, &path, Some(body), 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_change_a_members_role() {
    let f = fixture().await;
    let path = format!("/organizations/{}/members/{}", f.org, f.member);
    let body = json!({"role": "owner"});
    refused_and_nothing_changed(&f, Method::PATCH, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_remove_a_member() {
    let f = fixture().await;
    let path = format!("/organizations/{}/members/{}", f.org, f.member);
    refused_and_nothing_changed(&f, Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_a_tier() {
    let f = fixture().await;
    let body = json!({"name": "Gold", "features": ["priority-support"], "limits": {"maxUsers": 50, "maxStorage": "20GB", "apiCallsPerMonth": 50000}});
    refused_and_nothing_changed(&f, Method::POST, "/tiers", Some(body), 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_update_a_tier() {
    let f = fixture().await;
    let path = format!("/tiers/{}", f.tier);
    let body = json!({"name": "Spare Renamed"});
    refused_and_nothing_changed(&f, Method::PATCH, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_delete_a_tier() {
    let f = fixture().await;
    let path = format!("/tiers/{}", f.tier);
    refused_and_nothing_changed(&f, Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_a_key() {
    let f = fixture().await;
    let body = json!({"name": "minted", "scopes": ["admin"]});
    refused_and_nothing_changed(&f, Method::POST, "/keys", Some(body), 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_revoke_a_key() {
    let f = fixture().await;
    let path = format!("/keys/{}", f.spare_key);
    refused_and_nothing_changed(&f, Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_rotate_a_key() {
    let f = fixture().await;
    let path = format!("/keys/{}/rotate", f.spare_key);
    refused_and_nothing_changed(&f, Method::POST, &path, None, 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_is_refused_on_a_request_that_reads_nothing() {
    // The OpenAPI document is public; a scope-refused request touches no database: the
    // guard checks the key itself afterwards.
    let f = fixture().await;
    let app = &f.app;
    let victim = app.key_with(&[Scope::ReadUsers]).await;
    assert_eq!(
        app.client
            .get(app.url("/users"))
            .header("X-Invois-Key", &victim)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    revoke_elsewhere(app, &victim).await;
    // Without write:users this would be a 403 with no database call at all.
    let res = app
        .client
        .post(app.url("/users"))
        .header("X-Invois-Key", &victim)
        .json(&json!({"name": "X Y", "email": "xy@example.com"}))
        .send()
        .await
        .unwrap();
    assert_unauthorized(res, Some(&victim)).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_put_a_user() {
    let f = fixture().await;
    let path = format!("/users/{}", f.user);
    let body = json!({"name": "Put Person"});
    refused_and_nothing_changed(&f, Method::PUT, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_put_an_organization() {
    let f = fixture().await;
    let path = format!("/organizations/{}", f.org);
    let body = json!({"premiumTierId": f.tier});
    refused_and_nothing_changed(&f, Method::PUT, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_put_a_member() {
    let f = fixture().await;
    let path = format!("/organizations/{}/members/{}", f.org, f.member);
    let body = json!({"role": "admin"});
    refused_and_nothing_changed(&f, Method::PUT, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_put_a_tier() {
    let f = fixture().await;
    let path = format!("/tiers/{}", f.tier);
    let body = json!({"features": ["x"]});
    refused_and_nothing_changed(&f, Method::PUT, &path, Some(body), 200).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_create_a_key_idempotently() {
    let f = fixture().await;
    let body = json!({"name": "minted", "scopes": ["admin"]});
    let idem = [("Idempotency-Key", "after-revocation")];
    refused_with_headers(&f, Method::POST, "/keys", Some(body), &idem, 201).await;
}

#[tokio::test]
async fn a_revoked_cached_key_cannot_rotate_a_key_idempotently() {
    let f = fixture().await;
    let path = format!("/keys/{}/rotate", f.spare_key);
    let idem = [("Idempotency-Key", "after-revocation")];
    refused_with_headers(&f, Method::POST, &path, None, &idem, 201).await;
}
