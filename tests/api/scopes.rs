//! SPEC §3, scopes: every route × method demands one scope. A key with every scope but that
//! one gets `403 insufficient_scope` naming it; a key with only that scope gets through.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;

use invois::auth::Scope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Every authenticated route × method and the scope it needs. `{id}`, `{memberId}` are
/// filled in from fixtures; `with_body` routes get a JSON object.
const MATRIX: &[(&str, &str, Scope)] = &[
    ("GET", "/users", Scope::ReadUsers),
    ("POST", "/users", Scope::WriteUsers),
    ("GET", "/users/{user}", Scope::ReadUsers),
    ("PUT", "/users/{user}", Scope::WriteUsers),
    ("PATCH", "/users/{user}", Scope::WriteUsers),
    (
        "GET",
        "/users/{user}/organizations",
        Scope::ReadOrganizations,
    ),
    ("GET", "/organizations", Scope::ReadOrganizations),
    ("POST", "/organizations", Scope::WriteOrganizations),
    ("GET", "/organizations/{org}", Scope::ReadOrganizations),
    ("PUT", "/organizations/{org}", Scope::WriteOrganizations),
    ("PATCH", "/organizations/{org}", Scope::WriteOrganizations),
    (
        "GET",
        "/organizations/{org}/members",
        Scope::ReadOrganizations,
    ),
    (
        "POST",
        "/organizations/{org}/members",
        Scope::WriteOrganizations,
    ),
    (
        "GET",
        "/organizations/{org}/members/{member}",
        Scope::ReadOrganizations,
    ),
    (
        "PUT",
        "/organizations/{org}/members/{member}",
        Scope::WriteOrganizations,
    ),
    (
        "PATCH",
        "/organizations/{org}/members/{member}",
        Scope::WriteOrganizations,
    ),
    ("GET", "/tiers", Scope::ReadTiers),
    ("POST", "/tiers", Scope::WriteTiers),
    ("GET", "/tiers/{tier}", Scope::ReadTiers),
    ("PUT", "/tiers/{tier}", Scope::WriteTiers),
    ("PATCH", "/tiers/{tier}", Scope::WriteTiers),
    ("GET", "/keys", Scope::Admin),
    ("POST", "/keys", Scope::Admin),
    ("DELETE", "/keys/{key}", Scope::Admin),
    ("POST", "/keys/{key}/rotate", Scope::Admin),
    ("GET", "/events", Scope::Admin),
    ("GET", "/webhooks", Scope::Admin),
    ("POST", "/webhooks", Scope::Admin),
    ("GET", "/webhooks/{webhook}", Scope::Admin),
    ("PUT", "/webhooks/{webhook}", Scope::Admin),
    ("PATCH", "/webhooks/{webhook}", Scope::Admin),
    ("POST", "/webhooks/{webhook}/rotate-secret", Scope::Admin),
    ("POST", "/webhooks/{webhook}/test", Scope::Admin),
    ("GET", "/webhooks/{webhook}/deliveries", Scope::Admin),
    (
        "POST",
        "/webhooks/{webhook}/deliveries/{delivery}/retry",
        Scope::Admin,
    ),
    ("DELETE", "/webhooks/{webhook}", Scope::Admin),
    // Deletes last: the allowed pass really deletes the fixtures.
    (
        "DELETE",
        "/organizations/{org}/members/{member}",
        Scope::WriteOrganizations,
    ),
    ("DELETE", "/organizations/{org}", Scope::WriteOrganizations),
    ("DELETE", "/users/{user}", Scope::WriteUsers),
    ("DELETE", "/tiers/{tier}", Scope::WriteTiers),
];

/// The OpenAPI form of a matrix path: `/api/integrations/users/{id}`.
fn openapi_path(path: &str) -> String {
    let p = path
        .replace("{user}", "{id}")
        .replace("{org}", "{id}")
        .replace("{tier}", "{id}")
        .replace("{key}", "{id}")
        .replace("{webhook}", "{id}")
        .replace("{delivery}", "{deliveryId}")
        .replace("{member}", "{memberId}");
    format!("/api/integrations{p}")
}

struct Fixtures {
    user: String,
    org: String,
    member: String,
    tier: String,
    key: String,
    webhook: String,
}

async fn fixtures(app: &TestApp) -> Fixtures {
    let user = app.create_user("Scope Person", "scope@example.com").await;
    let org = app.create_org(json!({"name": "Scope Org"})).await;
    let (user, org) = (
        user["id"].as_str().unwrap().to_owned(),
        org["id"].as_str().unwrap().to_owned(),
    );
    let member = app.add_member(&org, &user, "admin").await;
    let res = app
        .post("/tiers", &json!({"id": "tier-scoped", "name": "Scoped"}))
        .await;
    assert_eq!(res.status(), 201, "create tier");
    // A key for the admin routes to revoke and rotate.
    let spare = app.key_with(&[Scope::ReadUsers]).await;
    // A documentation address (TEST-NET-1): public to the SSRF guard, never routed; and an
    // event type that nothing records, so that only the test event is ever attempted.
    let res = app
        .post(
            "/webhooks",
            &json!({"url": "http://192.0.2.1/hooks", "eventTypes": ["none.none"]}),
        )
        .await;
    assert_eq!(res.status(), 201, "create webhook");
    let webhook: Value = res.json().await.unwrap();
    Fixtures {
        webhook: webhook["id"].as_str().unwrap().to_owned(),
        user,
        org,
        member: member["id"].as_str().unwrap().to_owned(),
        tier: "tier-scoped".into(),
        key: crate::auth::key_id(&spare),
    }
}

fn fill(path: &str, f: &Fixtures) -> String {
    path.replace("{user}", &f.user)
        .replace("{org}", &f.org)
        .replace("{member}", &f.member)
        .replace("{tier}", &f.tier)
        .replace("{key}", &f.key)
        .replace("{webhook}", &f.webhook)
        .replace("{delivery}", "dlv-none")
}

async fn send(app: &TestApp, key: &str, method: &str, path: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .header("X-Invois-Key", key);
    if method == Method::POST || method == Method::PUT || method == Method::PATCH {
        req = req.json(&json!({}));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_scope_matrix_covers_every_authenticated_operation_of_the_openapi_document() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/integrations/openapi.json"))
        .send()
        .await
        .unwrap();
    let doc: Value = res.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let Some(sec) = op["security"].as_array() else {
                continue;
            };
            let scopes: Vec<&str> = sec
                .iter()
                .flat_map(|s| s["api_key"].as_array().unwrap())
                .map(|s| s.as_str().unwrap())
                .collect();
            documented.insert((method.to_uppercase(), path.clone(), scopes.join(",")));
        }
    }
    let table: BTreeSet<(String, String, String)> = MATRIX
        .iter()
        .map(|(m, p, s)| ((*m).to_owned(), openapi_path(p), s.as_str().to_owned()))
        .collect();
    assert_eq!(table.len(), MATRIX.len(), "duplicate rows in the matrix");
    assert_eq!(documented, table);
}

#[tokio::test]
async fn every_route_refuses_a_key_without_its_scope_and_admits_a_key_with_only_that_scope() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;
    // Per scope: a key with every other scope, and a key with that scope alone.
    let mut without = Vec::new();
    let mut only = Vec::new();
    for s in Scope::ALL {
        let others: Vec<Scope> = Scope::ALL.into_iter().filter(|x| *x != s).collect();
        without.push((s, app.key_with(&others).await));
        only.push((s, app.key_with(&[s]).await));
    }
    let key_of = |keys: &[(Scope, String)], s: Scope| {
        keys.iter()
            .find(|(x, _)| *x == s)
            .map(|(_, k)| k.clone())
            .unwrap()
    };

    // Refusals first, so that no fixture has been deleted yet.
    for (method, template, scope) in MATRIX {
        let path = fill(template, &f);
        let res = send(&app, &key_of(&without, *scope), method, &path).await;
        let what = format!("{method} {template} without {}", scope.as_str());
        assert_eq!(res.status(), 403, "{what}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "error": "Forbidden",
                "message": format!("Insufficient scope; expected any of: {}.", scope.as_str()),
                "code": "insufficient_scope"
            }),
            "{what}"
        );
    }

    for (method, template, scope) in MATRIX {
        let path = fill(template, &f);
        let res = send(&app, &key_of(&only, *scope), method, &path).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            ![401, 403].contains(&status) && status < 500,
            "{method} {template} with only {}: {status} {text}",
            scope.as_str()
        );
    }
}

#[tokio::test]
async fn a_refused_write_changes_nothing() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;
    let reader = app
        .key_with(&[Scope::ReadUsers, Scope::ReadOrganizations, Scope::ReadTiers])
        .await;
    let res = app
        .client
        .patch(app.url(&format!("/users/{}", f.user)))
        .header("X-Invois-Key", &reader)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .delete(app.url(&format!("/organizations/{}", f.org)))
        .header("X-Invois-Key", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let user: Value = app
        .get(&format!("/users/{}", f.user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["name"], "Scope Person");
    assert_eq!(
        app.get(&format!("/organizations/{}", f.org)).await.status(),
        200
    );
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_for_a_well_formed_but_invalid_body() {
    let app = spawn_app().await;
    let reader = app.key_with(&[Scope::ReadUsers]).await;
    // A body that would be a 400 for an allowed key is still a 403 for this one: a key
    // without the scope learns nothing about validation.
    let res = app
        .client
        .post(app.url("/users"))
        .header("X-Invois-Key", &reader)
        .json(&json!({"name": 5, "email": "not an email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_whatever_the_body() {
    let app = spawn_app().await;
    let reader = app.key_with(&[Scope::ReadUsers]).await;
    for (ct, body) in [
        ("application/json", "{"),
        ("text/plain", "hello"),
        ("application/json", "[1, 2]"),
    ] {
        let res = app
            .client
            .post(app.url("/users"))
            .header("X-Invois-Key", &reader)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{ct} {body}");
    }
}
