//! SPEC §5: every error is JSON with `error`, `message` and `code`; strict bodies (unknown
//! fields and wrong types are 400, every problem at once); malformed, mistyped and
//! oversized bodies; bad query strings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};

async fn raw_post(app: &TestApp, path: &str, content_type: Option<&str>, body: &str) -> Response {
    let mut req = app.req(Method::POST, path).body(body.to_owned());
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    req.send().await.expect("send")
}

async fn total(app: &TestApp, path: &str) -> i64 {
    let v: Value = app.get(path).await.json().await.unwrap();
    v["meta"]["total"].as_i64().expect("meta.total")
}

#[tokio::test]
async fn malformed_json_is_a_400_json_error() {
    let app = spawn_app().await;
    let res = raw_post(
        &app,
        "/users",
        Some("application/json"),
        r#"{"name": "Jane""#,
    )
    .await;
    let v = assert_error(res, 400, "invalid_json").await;
    assert_eq!(v["error"], "Bad Request");
}

#[tokio::test]
async fn a_body_without_a_content_type_is_415() {
    let app = spawn_app().await;
    let res = raw_post(
        &app,
        "/users",
        None,
        r#"{"name": "Jane Smith", "email": "jane@example.com"}"#,
    )
    .await;
    let v = assert_error(res, 415, "unsupported_media_type").await;
    assert_eq!(v["error"], "Unsupported Media Type");
    assert_eq!(total(&app, "/users").await, 0);
}

#[tokio::test]
async fn a_body_with_a_non_json_content_type_is_415() {
    let app = spawn_app().await;
    let res = raw_post(
        &app,
        "/organizations",
        Some("text/plain"),
        r#"{"name": "Acme"}"#,
    )
    .await;
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn a_patch_with_a_form_content_type_is_415() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .req(
            Method::PATCH,
            &format!("/users/{}", u["id"].as_str().unwrap()),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=Jane+Lim")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn a_json_content_type_with_a_charset_is_accepted() {
    let app = spawn_app().await;
    let res = raw_post(
        &app,
        "/organizations",
        Some("application/json; charset=utf-8"),
        r#"{"name": "Acme"}"#,
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_with(|c| c.server.body_limit = 1024).await;
    let big = json!({"name": "x".repeat(2048), "email": "jane@example.com"}).to_string();
    assert!(big.len() > 2048);
    let res = raw_post(&app, "/users", Some("application/json"), &big).await;
    let v = assert_error(res, 413, "payload_too_large").await;
    assert_eq!(v["error"], "Payload Too Large");
    assert_eq!(total(&app, "/users").await, 0);
}

#[tokio::test]
async fn a_body_under_the_limit_is_accepted() {
    let app = spawn_app_with(|c| c.server.body_limit = 1024).await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_400() {
    let app = spawn_app().await;
    let res = app.post("/organizations", &json!(["Acme"])).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"body": ["The request body must be a JSON object"]})
    );
}

#[tokio::test]
async fn an_unknown_field_is_400_naming_it_and_creates_nothing() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com", "emial": "typo@example.com"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["error"], "Validation Error");
    assert_eq!(v["details"], json!({"emial": ["Unknown field: emial"]}));
    assert_eq!(total(&app, "/users").await, 0);
}

#[tokio::test]
async fn an_unknown_field_in_a_patch_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Strict Co"})).await;
    let path = format!("/organizations/{}", o["id"].as_str().unwrap());
    let res = app
        .patch(&path, &json!({"name": "Renamed Co", "premiumTier": null}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"premiumTier": ["Unknown field: premiumTier"]})
    );
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(now["name"], "Strict Co");
}

#[tokio::test]
async fn read_only_fields_are_unknown_in_a_body() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Acme", "id": "org-mine", "memberCount": 5}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"id": ["Unknown field: id"], "memberCount": ["Unknown field: memberCount"]})
    );
}

#[tokio::test]
async fn wrong_json_types_are_400_with_a_message_per_field() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": 42, "email": true, "phone": 60123456789_u64, "role": ["admin"]}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({
            "name": ["name must be a string"],
            "email": ["email must be a string"],
            "phone": ["phone must be a string"],
            "role": ["role must be a string"],
        })
    );
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({
                "name": "J",
                "email": "not-an-email",
                "phone": "call me",
                "dob": "3000-01-01",
                "role": "boss",
                "nickname": "JJ"
            }),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    let d = v["details"].as_object().unwrap();
    let keys: Vec<&str> = d.keys().map(String::as_str).collect();
    assert_eq!(keys, ["dob", "email", "name", "nickname", "phone", "role"]);
    assert_eq!(d["name"], json!(["Name must be at least 2 characters"]));
    assert_eq!(d["email"], json!(["Email format is invalid"]));
    assert_eq!(d["phone"], json!(["Phone must be a valid phone number"]));
    assert_eq!(d["dob"], json!(["Date of birth must not be in the future"]));
    assert_eq!(
        d["role"],
        json!(["Role must be one of: super-admin, admin, customer"])
    );
    assert_eq!(d["nickname"], json!(["Unknown field: nickname"]));
}

#[tokio::test]
async fn missing_required_fields_are_reported_together() {
    let app = spawn_app().await;
    let res = app.post("/users", &json!({})).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"email": ["Email is required"], "name": ["Name is required"]})
    );
}

#[tokio::test]
async fn null_for_a_required_field_is_reported() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Strict Co"})).await;
    let res = app
        .patch(
            &format!("/organizations/{}", o["id"].as_str().unwrap()),
            &json!({"name": null}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"name": ["name must not be null"]}));
}

#[tokio::test]
async fn a_non_numeric_page_is_400_invalid_query() {
    let app = spawn_app().await;
    let v = assert_error(
        app.get("/organizations?page=abc").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(v["error"], "Bad Request");
    assert!(v["details"]["page"].is_array(), "{v}");
}

#[tokio::test]
async fn a_per_page_of_zero_is_400_invalid_query() {
    let app = spawn_app().await;
    let v = assert_error(
        app.get("/organizations?per_page=0").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(
        v["details"],
        json!({"per_page": ["per_page must be an integer from 1 to 100"]})
    );
}

#[tokio::test]
async fn a_per_page_over_100_is_400_invalid_query() {
    let app = spawn_app().await;
    let v = assert_error(
        app.get("/organizations?per_page=101").await,
        400,
        "invalid_query",
    )
    .await;
    assert!(v["details"]["per_page"].is_array(), "{v}");
}

#[tokio::test]
async fn an_unknown_query_parameter_is_400_naming_it() {
    let app = spawn_app().await;
    let res = app.get("/tiers?pgae=2").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"pgae": ["Unknown query parameter: pgae"]})
    );
}

#[tokio::test]
async fn a_not_found_error_has_exactly_error_message_and_code() {
    let app = spawn_app().await;
    let res = app.get("/users/user-nope").await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(
        v,
        json!({"error": "Not Found", "message": "User not found", "code": "not_found"})
    );
}

#[tokio::test]
async fn a_missing_key_is_401_with_www_authenticate() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/tiers")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "X-Invois-Key");
    let v = assert_error(res, 401, "unauthorized").await;
    assert_eq!(v["error"], "Unauthorized");
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_the_scope_that_would_do() {
    let app = spawn_app().await;
    let key = app
        .key_with(&[invois::auth::Scope::ReadOrganizations])
        .await;
    let res = app
        .client
        .post(app.url("/tiers"))
        .header("X-Invois-Key", &key)
        .json(&json!({"name": "Gold"}))
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 403, "insufficient_scope").await;
    assert_eq!(v["error"], "Forbidden");
    assert_eq!(
        v["message"],
        "Insufficient scope; expected any of: write:tiers."
    );
}

#[tokio::test]
async fn every_error_of_the_api_is_json_with_error_message_and_code() {
    let app = spawn_app().await;
    let o = app
        .create_org(json!({"name": "Errors Co", "slug": "errors-co"}))
        .await;
    let oid = o["id"].as_str().unwrap().to_owned();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (app.req(Method::GET, "/organizations/org-nope"), 404),
        (app.req(Method::GET, "/nope"), 404),
        (app.req(Method::PUT, "/tiers"), 405),
        (app.req(Method::GET, "/users?per_page=0"), 400),
        (
            app.req(Method::POST, "/organizations")
                .json(&json!({"name": "Again", "slug": "errors-co"})),
            409,
        ),
        (
            app.req(Method::PATCH, &format!("/organizations/{oid}"))
                .header("If-Match", "\"stale\"")
                .json(&json!({"name": "X Co"})),
            412,
        ),
        (
            app.req(Method::POST, "/organizations")
                .header("Content-Type", "application/json")
                .body("{"),
            400,
        ),
        (app.req(Method::POST, "/organizations").body("{}"), 415),
        (app.client.get(app.url("/users")), 401),
    ];
    for (req, status) in cases {
        let res = req.send().await.unwrap();
        let url = res.url().to_string();
        assert_eq!(res.status().as_u16(), status, "{url}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{url}: {ct}");
        let v: Value = res.json().await.unwrap();
        for field in ["error", "message", "code"] {
            assert!(v[field].is_string(), "{url}: {field} in {v}");
        }
        let code = v["code"].as_str().unwrap();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{url}: snake_case code {code}"
        );
    }
}

/// The 400 of an unknown query parameter `foo`, exactly as lists answer it.
fn unknown_foo() -> Value {
    json!({
        "error": "Bad Request",
        "message": "Invalid request query string",
        "code": "invalid_query",
        "details": {"foo": ["Unknown query parameter: foo"]}
    })
}

/// Every endpoint that takes no query parameters, with a body that would succeed.
fn endpoints_without_query(spare_key: &str) -> Vec<(Method, String, Option<Value>)> {
    let user = json!({"name": "Query Person", "email": "query@example.com"});
    let org = json!({"name": "Query Co"});
    let tier = json!({"name": "Query Tier"});
    let role = json!({"role": "owner"});
    let key = json!({"name": "query-key"});
    let mut all = vec![
        (Method::POST, "/users".into(), Some(user)),
        (Method::GET, "/users/user-123".into(), None),
        (
            Method::PATCH,
            "/users/user-123".into(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::GET, "/users/user-123/organizations".into(), None),
        (Method::POST, "/organizations".into(), Some(org)),
        (Method::GET, "/organizations/org-123".into(), None),
        (
            Method::PATCH,
            "/organizations/org-123".into(),
            Some(json!({"name": "Renamed Co"})),
        ),
        (
            Method::POST,
            "/organizations/org-456/members".into(),
            Some(json!({"userId": "user-789"})),
        ),
        (
            Method::GET,
            "/organizations/org-123/members/member-789".into(),
            None,
        ),
        (
            Method::PATCH,
            "/organizations/org-123/members/member-789".into(),
            Some(role),
        ),
        (Method::POST, "/tiers".into(), Some(tier)),
        (Method::GET, "/tiers/tier-basic".into(), None),
        (
            Method::PATCH,
            "/tiers/tier-basic".into(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::GET, "/keys".into(), None),
        (Method::POST, "/keys".into(), Some(key)),
        (Method::POST, format!("/keys/{spare_key}/rotate"), None),
        (Method::DELETE, format!("/keys/{spare_key}"), None),
        (
            Method::DELETE,
            "/organizations/org-123/members/member-789".into(),
            None,
        ),
        (Method::DELETE, "/organizations/org-123".into(), None),
        (Method::DELETE, "/users/user-123".into(), None),
        (Method::DELETE, "/tiers/tier-basic".into(), None),
    ];
    // PUT answers as PATCH: the same bodies.
    let puts: Vec<_> = all
        .iter()
        .filter(|(m, _, _)| *m == Method::PATCH)
        .map(|(_, p, b)| (Method::PUT, p.clone(), b.clone()))
        .collect();
    all.splice(0..0, puts);
    all
}

#[tokio::test]
async fn an_unknown_query_parameter_is_refused_by_every_endpoint_that_takes_none() {
    let app = spawn_app().await;
    app.load_demo().await;
    let spare = crate::auth::key_id(&app.key_with(&[invois::auth::Scope::ReadUsers]).await);
    let before_users = total(&app, "/users").await;
    let before_orgs = total(&app, "/organizations").await;
    for (method, path, body) in endpoints_without_query(&spare) {
        let mut req = app.req(method.clone(), &format!("{path}?foo=1"));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let what = format!("{method} {path}");
        assert_eq!(res.status(), 400, "{what}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v, unknown_foo(), "{what}");
    }
    // Nothing was written.
    assert_eq!(total(&app, "/users").await, before_users);
    assert_eq!(total(&app, "/organizations").await, before_orgs);
    let user: Value = app.get("/users/user-123").await.json().await.unwrap();
    assert_eq!(user["name"], "Jane Smith");
    assert_eq!(user["members"].as_array().unwrap().len(), 2);
    let tier = app.get("/tiers/tier-basic").await;
    assert_eq!(tier.status(), 200);
    let keys: Value = app.get("/keys").await.json().await.unwrap();
    assert_eq!(keys["data"].as_array().unwrap().len(), 2, "{keys}");
    assert!(keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["revokedAt"].is_null()));
}

#[tokio::test]
async fn the_openapi_document_refuses_an_unknown_query_parameter() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/integrations/openapi.json?foo=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap(), unknown_foo());
}

#[tokio::test]
async fn a_missing_key_or_scope_comes_before_an_unknown_query_parameter() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app
        .client
        .get(app.url("/users/user-123?foo=1"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
    let reader = app.key_with(&[invois::auth::Scope::ReadUsers]).await;
    let res = app
        .client
        .delete(app.url("/users/user-123?foo=1"))
        .header("X-Invois-Key", &reader)
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn a_query_parameter_without_a_value_is_refused_too() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/organizations/org-123?foo").await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap(), unknown_foo());
}
