//! Organizations: create, update, delete, and the whole lifecycle of an organization with
//! its members, with `memberCount` checked after every step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn body(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

/// `GET /organizations/{id}`, asserting 200.
async fn org(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/organizations/{id}")).await;
    assert_eq!(res.status(), 200, "get organization {id}");
    body(res).await
}

async fn member_count(app: &TestApp, id: &str) -> i64 {
    org(app, id).await["memberCount"]
        .as_i64()
        .expect("memberCount is an integer")
}

/// Creates a tier `tier-<suffix>` with a feature list and limits.
async fn create_tier(app: &TestApp, id: &str, name: &str) -> Value {
    let res = app
        .post(
            "/tiers",
            &json!({
                "id": id,
                "name": name,
                "features": ["advanced-reporting", "priority-support"],
                "limits": {"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000}
            }),
        )
        .await;
    assert_eq!(res.status(), 201, "create tier");
    body(res).await
}

#[tokio::test]
async fn creating_an_organization_returns_201_with_its_location_and_representation() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Zeta Café Sdn Bhd", "logo": "https://example.com/logos/zeta.png"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let v = body(res).await;
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("org-"), "{id}");
    assert_eq!(location, format!("/api/integrations/organizations/{id}"));
    let created_at = v["createdAt"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert_eq!(
        v,
        json!({
            "id": id,
            "name": "Zeta Café Sdn Bhd",
            "slug": "zeta-cafe-sdn-bhd",
            "logo": "https://example.com/logos/zeta.png",
            "memberCount": 0,
            "premiumTier": null,
            "members": [],
            "createdAt": created_at,
            "updatedAt": created_at,
            "externalId": null,
            "metadata": {},
        })
    );
}

#[tokio::test]
async fn the_location_of_a_new_organization_serves_the_same_representation() {
    let app = spawn_app().await;
    let res = app
        .post("/organizations", &json!({"name": "Kopi Corner"}))
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created = body(res).await;
    let res = app.get(&location).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, created);
}

#[tokio::test]
async fn a_slug_is_generated_from_the_name_without_accents() {
    let app = spawn_app().await;
    let v = app.create_org(json!({"name": "Zeta Café Sdn Bhd"})).await;
    assert_eq!(v["slug"], "zeta-cafe-sdn-bhd");
}

#[tokio::test]
async fn a_generated_slug_that_is_taken_gets_a_numeric_suffix() {
    let app = spawn_app().await;
    let a = app.create_org(json!({"name": "Zeta Café Sdn Bhd"})).await;
    let b = app.create_org(json!({"name": "Zeta Café Sdn Bhd"})).await;
    let c = app.create_org(json!({"name": "Zeta  Cafe, Sdn Bhd"})).await;
    assert_eq!(a["slug"], "zeta-cafe-sdn-bhd");
    assert_eq!(b["slug"], "zeta-cafe-sdn-bhd-2");
    assert_eq!(c["slug"], "zeta-cafe-sdn-bhd-3");
}

#[tokio::test]
async fn an_explicit_slug_is_kept_as_given() {
    let app = spawn_app().await;
    let v = app
        .create_org(json!({"name": "Acme Corporation", "slug": "acme-corp"}))
        .await;
    assert_eq!(v["slug"], "acme-corp");
}

#[tokio::test]
async fn an_explicit_slug_that_is_taken_is_a_409_conflict() {
    let app = spawn_app().await;
    app.create_org(json!({"name": "Acme Corporation", "slug": "acme-corp"}))
        .await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Another Acme", "slug": "acme-corp"}),
        )
        .await;
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(v["error"], "Conflict");
    assert_eq!(v["details"], json!({"slug": ["Slug is already taken"]}));
    let list = body(app.get("/organizations").await).await;
    assert_eq!(list["meta"]["total"], 1);
}

#[tokio::test]
async fn an_invalid_slug_and_a_non_http_logo_are_each_reported_with_details() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Acme", "slug": "Not A Slug", "logo": "ftp://example.com/logo.png"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["error"], "Validation Error");
    assert_eq!(v["message"], "The request contains invalid data");
    let d = v["details"].as_object().unwrap();
    assert_eq!(d.keys().collect::<Vec<_>>(), ["logo", "slug"]);
    assert_eq!(d["logo"], json!(["Logo must be an http(s) URL"]));
    assert!(d["slug"][0].as_str().unwrap().contains("lowercase"), "{v}");
}

#[tokio::test]
async fn a_logo_without_a_scheme_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Acme", "logo": "example.com/logo.png"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"logo": ["Logo must be an http(s) URL"]})
    );
}

#[tokio::test]
async fn an_organization_without_a_name_is_400_name_is_required() {
    let app = spawn_app().await;
    let res = app.post("/organizations", &json!({})).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"name": ["Name is required"]}));
}

#[tokio::test]
async fn an_organization_name_needs_two_characters() {
    let app = spawn_app().await;
    let res = app.post("/organizations", &json!({"name": " A "})).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"name": ["Name must be at least 2 characters"]})
    );
}

#[tokio::test]
async fn an_organization_name_over_200_characters_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post("/organizations", &json!({"name": "x".repeat(201)}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"name": ["Name must be at most 200 characters"]})
    );
}

#[tokio::test]
async fn an_organization_can_be_fetched_by_its_slug() {
    let app = spawn_app().await;
    let created = app.create_org(json!({"name": "Batik House"})).await;
    assert_eq!(org(&app, "batik-house").await, created);
}

#[tokio::test]
async fn an_unknown_organization_is_404() {
    let app = spawn_app().await;
    let res = app.get("/organizations/org-doesnotexist").await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(
        v,
        json!({"error": "Not Found", "message": "Organization not found", "code": "not_found"})
    );
}

#[tokio::test]
async fn renaming_an_organization_keeps_its_slug() {
    let app = spawn_app().await;
    let created = app.create_org(json!({"name": "Old Name Trading"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{id}"),
            &json!({"name": "New Name Trading"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(v["name"], "New Name Trading");
    assert_eq!(v["slug"], "old-name-trading");
    assert_eq!(v["createdAt"], created["createdAt"]);
    assert!(v["updatedAt"].as_str().unwrap() >= created["updatedAt"].as_str().unwrap());
    assert_eq!(org(&app, id).await, v);
}

#[tokio::test]
async fn patching_the_slug_changes_it() {
    let app = spawn_app().await;
    let created = app.create_org(json!({"name": "Old Name Trading"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{id}"),
            &json!({"slug": "new-slug"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["slug"], "new-slug");
    assert_eq!(org(&app, "new-slug").await["id"], id);
}

#[tokio::test]
async fn patching_to_a_slug_another_organization_has_is_409() {
    let app = spawn_app().await;
    app.create_org(json!({"name": "First", "slug": "first"}))
        .await;
    let second = app
        .create_org(json!({"name": "Second", "slug": "second"}))
        .await;
    let id = second["id"].as_str().unwrap();
    let res = app
        .patch(&format!("/organizations/{id}"), &json!({"slug": "first"}))
        .await;
    assert_error(res, 409, "conflict").await;
    assert_eq!(org(&app, id).await["slug"], "second");
}

#[tokio::test]
async fn a_null_logo_clears_it() {
    let app = spawn_app().await;
    let created = app
        .create_org(json!({"name": "Logo Co", "logo": "https://example.com/l.png"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(&format!("/organizations/{id}"), &json!({"logo": null}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["logo"], Value::Null);
}

#[tokio::test]
async fn a_premium_tier_id_assigns_the_tier_with_its_limits() {
    let app = spawn_app().await;
    create_tier(&app, "tier-gold", "Gold").await;
    let created = app.create_org(json!({"name": "Gold Member Co"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{id}"),
            &json!({"premiumTierId": "tier-gold"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let expected = json!({
        "id": "tier-gold",
        "name": "Gold",
        "features": ["advanced-reporting", "priority-support"],
        "limits": {"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000}
    });
    assert_eq!(body(res).await["premiumTier"], expected);
    assert_eq!(org(&app, id).await["premiumTier"], expected);
}

#[tokio::test]
async fn an_organization_can_be_created_with_a_premium_tier() {
    let app = spawn_app().await;
    create_tier(&app, "tier-gold", "Gold").await;
    let v = app
        .create_org(json!({"name": "Gold Member Co", "premiumTierId": "tier-gold"}))
        .await;
    assert_eq!(v["premiumTier"]["id"], "tier-gold");
    assert_eq!(v["premiumTier"]["limits"]["maxUsers"], 1000);
}

#[tokio::test]
async fn a_null_premium_tier_id_removes_the_tier() {
    let app = spawn_app().await;
    create_tier(&app, "tier-gold", "Gold").await;
    let created = app
        .create_org(json!({"name": "Gold Member Co", "premiumTierId": "tier-gold"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{id}"),
            &json!({"premiumTierId": null}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["premiumTier"], Value::Null);
    assert_eq!(org(&app, id).await["premiumTier"], Value::Null);
}

#[tokio::test]
async fn an_unknown_premium_tier_on_update_is_400_naming_the_field() {
    let app = spawn_app().await;
    let created = app.create_org(json!({"name": "No Tier Co"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{id}"),
            &json!({"premiumTierId": "tier-nope"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"premiumTierId": ["Premium tier not found"]})
    );
    assert_eq!(org(&app, id).await, created);
}

#[tokio::test]
async fn an_unknown_premium_tier_on_create_is_400_and_creates_nothing() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "No Tier Co", "premiumTierId": "tier-nope"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"premiumTierId": ["Premium tier not found"]})
    );
    assert_eq!(
        body(app.get("/organizations").await).await["meta"]["total"],
        0
    );
}

#[tokio::test]
async fn patching_an_unknown_organization_is_404() {
    let app = spawn_app().await;
    let res = app
        .patch("/organizations/org-nope", &json!({"name": "Whatever"}))
        .await;
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_an_organization_is_204_and_then_it_is_gone() {
    let app = spawn_app().await;
    let created = app.create_org(json!({"name": "Short Lived"})).await;
    let id = created["id"].as_str().unwrap();
    let res = app.delete(&format!("/organizations/{id}")).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    assert_error(
        app.get(&format!("/organizations/{id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.delete(&format!("/organizations/{id}")).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn deleting_an_organization_removes_its_memberships() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Short Lived"})).await;
    let oid = o["id"].as_str().unwrap();
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let m = app.add_member(oid, uid, "admin").await;
    let mid = m["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/organizations/{oid}")).await.status(),
        204
    );

    let user = body(app.get(&format!("/users/{uid}")).await).await;
    assert_eq!(user["members"], json!([]));
    let orgs = body(app.get(&format!("/users/{uid}/organizations")).await).await;
    assert_eq!(orgs, json!({"data": [], "meta": {"total": 0, "count": 0}}));
    assert_error(
        app.get(&format!("/organizations/{oid}/members/{mid}"))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn deleting_an_organization_by_its_slug_works() {
    let app = spawn_app().await;
    app.create_org(json!({"name": "Slug Deleted", "slug": "slug-deleted"}))
        .await;
    let res = app
        .req(Method::DELETE, "/organizations/slug-deleted")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_error(
        app.get("/organizations/slug-deleted").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_full_lifecycle_keeps_member_count_exact_at_every_step() {
    let app = spawn_app().await;

    // Create the organization: no members yet.
    let o = app.create_org(json!({"name": "Lifecycle Sdn Bhd"})).await;
    let oid = o["id"].as_str().unwrap().to_owned();
    assert_eq!(o["memberCount"], 0);
    assert_eq!(member_count(&app, &oid).await, 0);

    // Add three members.
    let alice = app.create_user("Alice Tan", "alice@example.com").await;
    let bob = app.create_user("Bob Lim", "bob@example.com").await;
    let carol = app.create_user("Carol Ng", "carol@example.com").await;
    let ma = app
        .add_member(&oid, alice["id"].as_str().unwrap(), "owner")
        .await;
    assert_eq!(member_count(&app, &oid).await, 1);
    let mb = app
        .add_member(&oid, bob["id"].as_str().unwrap(), "customer")
        .await;
    assert_eq!(member_count(&app, &oid).await, 2);
    app.add_member(&oid, carol["id"].as_str().unwrap(), "customer")
        .await;
    assert_eq!(member_count(&app, &oid).await, 3);
    let detail = org(&app, &oid).await;
    assert_eq!(detail["members"].as_array().unwrap().len(), 3);

    // Change a role: the count stays.
    let mbid = mb["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{mbid}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["role"], "admin");
    assert_eq!(member_count(&app, &oid).await, 3);

    // Assign a tier: the count stays.
    create_tier(&app, "tier-gold", "Gold").await;
    let res = app
        .patch(
            &format!("/organizations/{oid}"),
            &json!({"premiumTierId": "tier-gold"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(v["premiumTier"]["id"], "tier-gold");
    assert_eq!(v["memberCount"], 3);
    assert_eq!(member_count(&app, &oid).await, 3);

    // Remove a member.
    let maid = ma["id"].as_str().unwrap();
    let res = app
        .delete(&format!("/organizations/{oid}/members/{maid}"))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(member_count(&app, &oid).await, 2);
    let list = body(app.get(&format!("/organizations/{oid}/members")).await).await;
    assert_eq!(list["meta"]["total"], 2);

    // Deleting a user who is a member also lowers the count.
    let cid = carol["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/users/{cid}")).await.status(), 204);
    assert_eq!(member_count(&app, &oid).await, 1);
    let listed = body(app.get("/organizations?query=Lifecycle").await).await;
    assert_eq!(listed["data"][0]["memberCount"], 1);

    // Delete the organization.
    assert_eq!(
        app.delete(&format!("/organizations/{oid}")).await.status(),
        204
    );
    assert_error(
        app.get(&format!("/organizations/{oid}")).await,
        404,
        "not_found",
    )
    .await;
    let bid = bob["id"].as_str().unwrap();
    let orgs = body(app.get(&format!("/users/{bid}/organizations")).await).await;
    assert_eq!(orgs["meta"]["total"], 0);
    // The tier is free again.
    assert_eq!(app.delete("/tiers/tier-gold").await.status(), 204);
}
