//! Keyset pagination with `after` on the organization, user and member lists.

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

/// The organization list with extra query parameters (`"&query=x"` or `""`).
fn orgs(query: &str) -> String {
    match query.strip_prefix('&') {
        Some(q) => format!("/organizations?{q}"),
        None => "/organizations".to_owned(),
    }
}

async fn walk(app: &TestApp, query: &str) -> Vec<String> {
    walk_path(app, &orgs(query)).await
}

async fn paged(app: &TestApp, query: &str) -> Vec<String> {
    paged_path(app, &orgs(query)).await
}

#[tokio::test]
async fn walking_by_cursor_yields_every_organization_once_in_list_order() {
    let app = spawn_app().await;
    for i in 0..23 {
        app.create_org(json!({"name": format!("Cursor Org {:02} {}", (i * 7) % 23, if i % 2 == 0 { "Café" } else { "Shop" })})).await;
    }
    let all = walk(&app, "").await;
    assert_eq!(all.len(), 23);
    assert_eq!(all, paged(&app, "").await);
    let cafes = walk(&app, "&query=caf%C3%A9").await;
    assert_eq!(cafes.len(), 12);
    assert_eq!(cafes, paged(&app, "&query=caf%C3%A9").await);
    let short = walk(&app, "&query=1").await;
    assert_eq!(short, paged(&app, "&query=1").await);
}

#[tokio::test]
async fn a_cursor_stays_valid_when_its_organization_is_deleted() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["Alpha Co", "Bravo Co", "Charlie Co", "Delta Co"] {
        ids.push(
            app.create_org(json!({"name": name})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let v: Value = app
        .get("/organizations?per_page=2&after=")
        .await
        .json()
        .await
        .unwrap();
    let cursor = v["meta"]["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&format!("/organizations/{}", ids[1]))
            .await
            .status(),
        204
    );
    let v: Value = app
        .get(&format!("/organizations?per_page=2&after={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Charlie Co", "Delta Co"]);
}

#[tokio::test]
async fn a_malformed_cursor_or_cursor_with_page_is_a_400() {
    let app = spawn_app().await;
    let v = assert_error(
        app.get("/organizations?after=zz.org-1").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(
        v["details"]["after"][0],
        "after is not a cursor from this list"
    );
    let v = assert_error(
        app.get("/organizations?after=&page=2").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(
        v["details"]["after"][0],
        "Use either page or after, not both"
    );
}

async fn walk_path(app: &TestApp, base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    let sep = if base.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let v: Value = app
            .get(&format!("{base}{sep}per_page=3&after={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        ids.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(v["meta"]["count"], v["data"].as_array().unwrap().len());
        assert_eq!(v["meta"]["per_page"], 3);
        match v["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return ids,
        }
    }
    panic!("cursor walk did not end");
}

async fn paged_path(app: &TestApp, base: &str) -> Vec<String> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let v: Value = app
        .get(&format!("{base}{sep}per_page=100"))
        .await
        .json()
        .await
        .unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_walk_by_cursor_in_every_sort_order() {
    let app = spawn_app().await;
    for i in 0..11 {
        app.create_user(
            &format!("User {:02}", (i * 5) % 11),
            &format!("u{i}@example.com"),
        )
        .await;
    }
    for sort in ["name", "-name", "createdAt", "-createdAt"] {
        let base = format!("/users?sort={sort}");
        let walked = walk_path(&app, &base).await;
        assert_eq!(walked.len(), 11, "{sort}");
        assert_eq!(walked, paged_path(&app, &base).await, "{sort}");
    }
    let q = walk_path(&app, "/users?query=user%200").await;
    assert_eq!(q, paged_path(&app, "/users?query=user%200").await);
    // A cursor made for one sort is refused by another.
    let v: Value = app
        .get("/users?sort=name&per_page=2&after=")
        .await
        .json()
        .await
        .unwrap();
    let c = v["meta"]["next_cursor"].as_str().unwrap().to_owned();
    assert_error(
        app.get(&format!("/users?sort=-createdAt&after={c}")).await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn members_walk_by_cursor_in_join_order() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Members Walk"})).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    for i in 0..8 {
        let u = app
            .create_user(&format!("Member {i}"), &format!("m{i}@example.com"))
            .await;
        app.add_member(&oid, u["id"].as_str().unwrap(), "customer")
            .await;
    }
    let base = format!("/organizations/{oid}/members");
    let walked = walk_path(&app, &base).await;
    assert_eq!(walked.len(), 8);
    assert_eq!(walked, paged_path(&app, &base).await);
    assert_error(
        app.get(&format!("{base}?after=nonsense")).await,
        400,
        "invalid_query",
    )
    .await;
}
