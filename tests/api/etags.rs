//! `ETag` on single-resource GETs, `If-None-Match` (304) and `If-Match` (412) on writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

fn etag(res: &Response) -> String {
    res.headers()
        .get("etag")
        .expect("an ETag header")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn current_etag(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    etag(&res)
}

async fn body(res: Response) -> Value {
    res.json().await.expect("json body")
}

/// A user, an organization with that user as a member, and a tier; returns the paths of
/// the four single resources.
async fn resources(app: &TestApp) -> Vec<String> {
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let o = app.create_org(json!({"name": "Etag Co"})).await;
    let oid = o["id"].as_str().unwrap();
    let m = app.add_member(oid, uid, "admin").await;
    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
        .await;
    assert_eq!(res.status(), 201);
    vec![
        format!("/users/{uid}"),
        format!("/organizations/{oid}"),
        format!("/organizations/{oid}/members/{}", m["id"].as_str().unwrap()),
        "/tiers/tier-gold".to_owned(),
    ]
}

#[tokio::test]
async fn every_single_resource_get_returns_a_quoted_etag() {
    let app = spawn_app().await;
    for path in resources(&app).await {
        let tag = current_etag(&app, &path).await;
        assert!(
            tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
            "{path}: {tag}"
        );
    }
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_without_a_body() {
    let app = spawn_app().await;
    for path in resources(&app).await {
        let tag = current_etag(&app, &path).await;
        let res = app
            .req(Method::GET, &path)
            .header("If-None-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304, "{path}");
        assert_eq!(etag(&res), tag, "{path}");
        assert_eq!(res.text().await.unwrap(), "", "{path}");
    }
}

#[tokio::test]
async fn if_none_match_with_another_etag_is_200_with_the_body() {
    let app = spawn_app().await;
    let path = resources(&app).await.remove(0);
    let res = app
        .req(Method::GET, &path)
        .header("If-None-Match", "\"not-the-tag\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["name"], "Jane Smith");
}

#[tokio::test]
async fn if_none_match_compares_weakly_so_a_weak_form_of_the_etag_is_304() {
    // RFC 9110 §13.1.2: If-None-Match uses the weak comparison; proxies that compress a
    // response turn its ETag into W/"…".
    let app = spawn_app().await;
    let path = resources(&app).await.remove(0);
    let tag = current_etag(&app, &path).await;
    let res = app
        .req(Method::GET, &path)
        .header("If-None-Match", format!("\"other\", W/{tag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn if_match_compares_strongly_so_a_weak_etag_is_412() {
    let app = spawn_app().await;
    let path = resources(&app).await.remove(0);
    let tag = current_etag(&app, &path).await;
    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", format!("W/{tag}"))
        .json(&json!({"name": "Jane Lim"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
}

#[tokio::test]
async fn the_etag_of_a_create_response_is_the_etag_of_the_resource() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let tag = etag(&res);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(current_etag(&app, &location).await, tag);
}

#[tokio::test]
async fn the_etag_changes_when_the_resource_changes() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Etag Co"})).await;
    let path = format!("/organizations/{}", o["id"].as_str().unwrap());
    let before = current_etag(&app, &path).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    app.add_member(
        o["id"].as_str().unwrap(),
        u["id"].as_str().unwrap(),
        "customer",
    )
    .await;
    let after = current_etag(&app, &path).await;
    assert_ne!(before, after, "memberCount and members changed");
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let stale = current_etag(&app, &path).await;
    // Another client changes the user first.
    let res = app.patch(&path, &json!({"name": "Jane Tan"})).await;
    assert_eq!(res.status(), 200);
    let after_other = body(app.get(&path).await).await;

    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", &stale)
        .json(&json!({"name": "Jane Lim"}))
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 412, "precondition_failed").await;
    assert_eq!(v["error"], "Precondition Failed");
    assert_eq!(body(app.get(&path).await).await, after_other);
}

#[tokio::test]
async fn a_patch_with_the_current_if_match_succeeds_and_returns_the_new_etag() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let tag = current_etag(&app, &path).await;
    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", &tag)
        .json(&json!({"name": "Jane Lim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let new_tag = etag(&res);
    assert_ne!(new_tag, tag);
    assert_eq!(body(res).await["name"], "Jane Lim");
    assert_eq!(current_etag(&app, &path).await, new_tag);
}

#[tokio::test]
async fn if_match_star_matches_any_current_representation() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", "*")
        .json(&json!({"name": "Jane Lim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_delete_with_a_stale_if_match_is_412_and_keeps_the_resource() {
    let app = spawn_app().await;
    for path in resources(&app).await {
        let res = app
            .req(Method::DELETE, &path)
            .header("If-Match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_error(res, 412, "precondition_failed").await;
        assert_eq!(app.get(&path).await.status(), 200, "{path} still there");
    }
}

#[tokio::test]
async fn a_delete_with_the_current_if_match_succeeds() {
    let app = spawn_app().await;
    let paths = resources(&app).await;
    // Member first, then user, organization and (now unused) tier.
    for path in [&paths[2], &paths[0], &paths[1], &paths[3]] {
        let tag = current_etag(&app, path).await;
        let res = app
            .req(Method::DELETE, path)
            .header("If-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn an_organization_patch_with_a_stale_if_match_is_412() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Etag Co"})).await;
    let path = format!("/organizations/{}", o["id"].as_str().unwrap());
    let stale = current_etag(&app, &path).await;
    assert_eq!(
        app.patch(&path, &json!({"logo": "https://example.com/a.png"}))
            .await
            .status(),
        200
    );
    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", &stale)
        .json(&json!({"name": "Renamed Co"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(body(app.get(&path).await).await["name"], "Etag Co");
}

#[tokio::test]
async fn a_member_role_change_with_a_stale_if_match_is_412() {
    let app = spawn_app().await;
    let paths = resources(&app).await;
    let path = &paths[2];
    let stale = current_etag(&app, path).await;
    assert_eq!(
        app.patch(path, &json!({"role": "owner"})).await.status(),
        200
    );
    let res = app
        .req(Method::PATCH, path)
        .header("If-Match", &stale)
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(body(app.get(path).await).await["role"], "owner");
}

#[tokio::test]
async fn a_tier_patch_with_a_stale_if_match_is_412() {
    let app = spawn_app().await;
    let paths = resources(&app).await;
    let path = &paths[3];
    let res = app
        .req(Method::PATCH, path)
        .header("If-Match", "\"stale\"")
        .json(&json!({"name": "Platinum"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(body(app.get(path).await).await["name"], "Gold");
}

#[tokio::test]
async fn a_stale_if_match_on_an_unknown_resource_is_404() {
    let app = spawn_app().await;
    let res = app
        .req(Method::DELETE, "/users/user-nope")
        .header("If-Match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
}
