//! `/events`: the audit trail (scope `admin`), newest first, cursor-paginated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use invois::auth::Scope;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

/// The id of a key: `key-` and the 16 hex characters after `invois_`.
fn key_id(key: &str) -> String {
    let rest = key.strip_prefix("invois_").expect("key prefix");
    format!("key-{}", &rest[..16])
}

async fn events(app: &TestApp, query: &str) -> Value {
    let res = app.get(&format!("/events{query}")).await;
    assert_eq!(res.status(), 200, "GET /events{query}");
    res.json().await.expect("json")
}

/// `(type, subjectId)` of each event on the page, in order.
fn kinds(page: &Value) -> Vec<(String, String)> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subjectId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn listing_events_needs_the_admin_scope() {
    let app = spawn_app().await;
    let key = app.key_with(&Scope::defaults()).await;
    let res = app
        .client
        .get(app.url("/events"))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 403, "insufficient_scope").await;
    assert_eq!(v["message"], "Insufficient scope; expected any of: admin.");
}

#[tokio::test]
async fn creating_a_user_records_a_user_created_event_with_the_acting_key() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let page = events(&app, "").await;
    let e = &page["data"][0];
    let event_id = e["id"].as_str().unwrap();
    assert!(event_id.starts_with("evt-"), "{event_id}");
    assert!(e["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        *e,
        json!({
            "id": event_id,
            "type": "user.created",
            "actorKeyId": key_id(&app.key),
            "subjectId": id(&u),
            "changes": [],
            "createdAt": e["createdAt"],
            "actorOperatorId": null,
        })
    );
}

#[tokio::test]
async fn the_actor_is_the_key_that_made_the_change() {
    let app = spawn_app().await;
    let other = app.key_with(&Scope::ALL).await;
    let res = app
        .client
        .post(app.url("/organizations"))
        .header("X-Invois-Key", &other)
        .json(&json!({"name": "Other Key Co"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let page = events(&app, "?type=organization.created").await;
    assert_eq!(page["data"][0]["actorKeyId"], json!(key_id(&other)));
    assert_ne!(key_id(&other), key_id(&app.key));
}

#[tokio::test]
async fn events_are_listed_newest_first() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let o = app.create_org(json!({"name": "Order Co"})).await;
    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
        .await;
    assert_eq!(res.status(), 201);
    let page = events(&app, "?per_page=3").await;
    assert_eq!(
        kinds(&page),
        [
            ("tier.created".to_owned(), "tier-gold".to_owned()),
            ("organization.created".to_owned(), id(&o)),
            ("user.created".to_owned(), id(&u)),
        ]
    );
}

#[tokio::test]
async fn an_organization_update_records_the_changed_fields() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Before Co"})).await;
    let res = app
        .patch(
            &format!("/organizations/{}", id(&o)),
            &json!({"name": "After Co", "logo": "https://example.com/l.png", "slug": "before-co"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = events(&app, "?type=organization.updated").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let e = &page["data"][0];
    assert_eq!(e["subjectId"], json!(id(&o)));
    assert_eq!(e["changes"], json!(["name", "logo"]), "slug did not change");
    assert_eq!(e["actorKeyId"], json!(key_id(&app.key)));
}

#[tokio::test]
async fn assigning_a_tier_records_premium_tier_id_as_changed() {
    let app = spawn_app().await;
    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
        .await;
    assert_eq!(res.status(), 201);
    let o = app.create_org(json!({"name": "Tier Co"})).await;
    let res = app
        .patch(
            &format!("/organizations/{}", id(&o)),
            &json!({"premiumTierId": "tier-gold"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = events(&app, "?type=organization.updated").await;
    assert_eq!(page["data"][0]["changes"], json!(["premiumTierId"]));
}

#[tokio::test]
async fn a_patch_that_changes_nothing_records_no_event() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Same Co"})).await;
    let res = app
        .patch(
            &format!("/organizations/{}", id(&o)),
            &json!({"name": "Same Co"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = events(&app, "?type=organization.updated").await;
    assert_eq!(page["data"], json!([]));
}

#[tokio::test]
async fn a_refused_write_records_no_event() {
    let app = spawn_app().await;
    app.create_org(json!({"name": "Taken", "slug": "taken"}))
        .await;
    let res = app
        .post("/organizations", &json!({"name": "Again", "slug": "taken"}))
        .await;
    assert_error(res, 409, "conflict").await;
    let page = events(&app, "?type=organization.created").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn membership_changes_record_created_updated_and_deleted_events() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Member Events Co"})).await;
    let oid = id(&o);
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let m = app.add_member(&oid, &id(&u), "customer").await;
    let mid = id(&m);
    let path = format!("/organizations/{oid}/members/{mid}");
    assert_eq!(
        app.patch(&path, &json!({"role": "admin"})).await.status(),
        200
    );
    assert_eq!(app.delete(&path).await.status(), 204);

    let page = events(&app, &format!("?subject={mid}")).await;
    assert_eq!(
        kinds(&page),
        [
            ("membership.deleted".to_owned(), mid.clone()),
            ("membership.updated".to_owned(), mid.clone()),
            ("membership.created".to_owned(), mid.clone()),
        ]
    );
    assert_eq!(page["data"][1]["changes"], json!(["role"]));
}

#[tokio::test]
async fn deleting_a_user_records_the_memberships_that_went_with_it() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Gone Co"})).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let m = app.add_member(&id(&o), &id(&u), "customer").await;
    assert_eq!(
        app.delete(&format!("/users/{}", id(&u))).await.status(),
        204
    );
    let page = events(&app, "?per_page=2").await;
    assert_eq!(
        kinds(&page),
        [
            ("user.deleted".to_owned(), id(&u)),
            ("membership.deleted".to_owned(), id(&m)),
        ]
    );
}

#[tokio::test]
async fn deleting_an_organization_records_the_memberships_that_went_with_it() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Gone Co"})).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let m = app.add_member(&id(&o), &id(&u), "customer").await;
    assert_eq!(
        app.delete(&format!("/organizations/{}", id(&o)))
            .await
            .status(),
        204
    );
    let page = events(&app, "?per_page=2").await;
    assert_eq!(
        kinds(&page),
        [
            ("organization.deleted".to_owned(), id(&o)),
            ("membership.deleted".to_owned(), id(&m)),
        ]
    );
}

#[tokio::test]
async fn user_updates_record_the_changed_fields() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .patch(
            &format!("/users/{}", id(&u)),
            &json!({"phone": "+60123456789", "name": "Jane Smith"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = events(&app, "?type=user.updated").await;
    assert_eq!(page["data"][0]["changes"], json!(["phone"]));
}

#[tokio::test]
async fn tier_writes_record_events() {
    let app = spawn_app().await;
    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .patch("/tiers/tier-gold", &json!({"limits": {"maxUsers": 10}}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.delete("/tiers/tier-gold").await.status(), 204);
    let page = events(&app, "?subject=tier-gold").await;
    assert_eq!(
        kinds(&page).into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["tier.deleted", "tier.updated", "tier.created"]
    );
    assert_eq!(page["data"][1]["changes"], json!(["limits.maxUsers"]));
}

#[tokio::test]
async fn events_can_be_filtered_by_type() {
    let app = spawn_app().await;
    let a = app.create_user("Alice Tan", "alice@example.com").await;
    app.create_org(json!({"name": "Filter Co"})).await;
    let b = app.create_user("Bob Lim", "bob@example.com").await;
    let page = events(&app, "?type=user.created").await;
    assert_eq!(
        kinds(&page),
        [
            ("user.created".to_owned(), id(&b)),
            ("user.created".to_owned(), id(&a)),
        ]
    );
}

#[tokio::test]
async fn events_can_be_filtered_by_subject() {
    let app = spawn_app().await;
    let a = app.create_user("Alice Tan", "alice@example.com").await;
    app.create_user("Bob Lim", "bob@example.com").await;
    let path = format!("/users/{}", id(&a));
    assert_eq!(
        app.patch(&path, &json!({"name": "Alice Lim"}))
            .await
            .status(),
        200
    );
    let page = events(&app, &format!("?subject={}", id(&a))).await;
    assert_eq!(
        kinds(&page),
        [
            ("user.updated".to_owned(), id(&a)),
            ("user.created".to_owned(), id(&a)),
        ]
    );
}

#[tokio::test]
async fn events_are_paged_with_a_cursor_until_next_cursor_is_null() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let u = app
            .create_user(&format!("User {i}"), &format!("user{i}@example.com"))
            .await;
        created.push(id(&u));
    }
    created.reverse(); // newest first

    let first = events(&app, "?type=user.created&per_page=2").await;
    assert_eq!(first["meta"]["per_page"], 2);
    assert_eq!(first["meta"]["count"], 2);
    let mut seen: Vec<String> = kinds(&first).into_iter().map(|(_, s)| s).collect();
    let mut cursor = first["meta"]["next_cursor"].clone();
    assert_eq!(
        cursor, first["data"][1]["id"],
        "the cursor is the last event's id"
    );
    let mut pages = 1;
    while let Some(after) = cursor.as_str() {
        let page = events(
            &app,
            &format!("?type=user.created&per_page=2&after={after}"),
        )
        .await;
        seen.extend(kinds(&page).into_iter().map(|(_, s)| s));
        cursor = page["meta"]["next_cursor"].clone();
        pages += 1;
        assert!(pages <= 5, "the cursor must end");
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn an_unknown_cursor_is_400_invalid_query() {
    let app = spawn_app().await;
    let res = app.get("/events?after=evt-nope").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"after": ["after is not a cursor from this list"]})
    );
}

#[tokio::test]
async fn an_empty_event_list_has_a_null_next_cursor() {
    let app = spawn_app().await;
    let page = events(&app, "?type=nothing.happened").await;
    assert_eq!(
        page,
        json!({"data": [], "meta": {"per_page": 10, "count": 0, "next_cursor": null}})
    );
}
