//! `/tiers`: premium tiers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn body(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

fn gold() -> Value {
    json!({
        "id": "tier-gold",
        "name": "Gold",
        "features": ["advanced-reporting", "priority-support"],
        "limits": {"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000}
    })
}

async fn create_gold(app: &TestApp) -> Value {
    let res = app.post("/tiers", &gold()).await;
    assert_eq!(res.status(), 201, "create tier");
    body(res).await
}

#[tokio::test]
async fn creating_a_tier_is_201_with_location_and_the_tier() {
    let app = spawn_app().await;
    let res = app.post("/tiers", &gold()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["location"],
        "/api/integrations/tiers/tier-gold"
    );
    let v = body(res).await;
    let created_at = v["createdAt"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert_eq!(
        v,
        json!({
            "id": "tier-gold",
            "name": "Gold",
            "features": ["advanced-reporting", "priority-support"],
            "limits": {"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000},
            "createdAt": created_at,
            "updatedAt": created_at,
        })
    );
}

#[tokio::test]
async fn a_tier_without_an_id_gets_a_generated_one() {
    let app = spawn_app().await;
    let res = app.post("/tiers", &json!({"name": "Silver"})).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let v = body(res).await;
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("tier-") && id.len() > "tier-".len(), "{id}");
    assert_eq!(location, format!("/api/integrations/tiers/{id}"));
}

#[tokio::test]
async fn a_tier_without_features_or_limits_has_an_empty_list_and_null_limits() {
    let app = spawn_app().await;
    let res = app.post("/tiers", &json!({"name": "Silver"})).await;
    let v = body(res).await;
    assert_eq!(v["features"], json!([]));
    assert_eq!(
        v["limits"],
        json!({"maxUsers": null, "maxStorage": null, "apiCallsPerMonth": null})
    );
}

#[tokio::test]
async fn a_tier_can_be_fetched_by_its_id() {
    let app = spawn_app().await;
    let created = create_gold(&app).await;
    let res = app.get("/tiers/tier-gold").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    assert_eq!(body(res).await, created);
}

#[tokio::test]
async fn an_unknown_tier_is_404() {
    let app = spawn_app().await;
    let v = assert_error(app.get("/tiers/tier-nope").await, 404, "not_found").await;
    assert_eq!(v["message"], "Premium tier not found");
}

#[tokio::test]
async fn tiers_are_listed_by_name_with_page_meta() {
    let app = spawn_app().await;
    for name in ["Silver", "Bronze", "Platinum"] {
        let res = app.post("/tiers", &json!({"name": name})).await;
        assert_eq!(res.status(), 201);
    }
    let res = app.get("/tiers?per_page=2").await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bronze", "Platinum"]);
    assert_eq!(
        v["meta"],
        json!({"total": 3, "per_page": 2, "current_page": 1, "last_page": 2, "from": 1, "to": 2})
    );
}

#[tokio::test]
async fn listed_tiers_carry_features_and_limits() {
    let app = spawn_app().await;
    let created = create_gold(&app).await;
    let v = body(app.get("/tiers").await).await;
    assert_eq!(v["data"], json!([created]));
}

#[tokio::test]
async fn patching_a_limit_keeps_the_other_limits() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app
        .patch("/tiers/tier-gold", &json!({"limits": {"maxUsers": 5000}}))
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(
        v["limits"],
        json!({"maxUsers": 5000, "maxStorage": "100GB", "apiCallsPerMonth": 100000})
    );
    assert_eq!(body(app.get("/tiers/tier-gold").await).await, v);
}

#[tokio::test]
async fn a_null_limit_clears_it() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app
        .patch("/tiers/tier-gold", &json!({"limits": {"maxUsers": null}}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["limits"]["maxUsers"], Value::Null);
}

#[tokio::test]
async fn patching_features_replaces_the_list() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app
        .patch(
            "/tiers/tier-gold",
            &json!({"features": ["advanced-security"], "name": "Gold Plus"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(v["features"], json!(["advanced-security"]));
    assert_eq!(v["name"], "Gold Plus");
    assert_eq!(v["limits"]["maxUsers"], 1000);
}

#[tokio::test]
async fn a_changed_tier_shows_in_the_organizations_that_use_it() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let o = app
        .create_org(json!({"name": "Gold Co", "premiumTierId": "tier-gold"}))
        .await;
    let res = app
        .patch(
            "/tiers/tier-gold",
            &json!({"features": ["unlimited-users"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let detail = body(
        app.get(&format!("/organizations/{}", o["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(
        detail["premiumTier"]["features"],
        json!(["unlimited-users"])
    );
    let list = body(app.get("/organizations").await).await;
    assert_eq!(
        list["data"][0]["premiumTier"],
        json!({"id": "tier-gold", "name": "Gold", "features": ["unlimited-users"]})
    );
}

#[tokio::test]
async fn patching_an_unknown_tier_is_404() {
    let app = spawn_app().await;
    let res = app.patch("/tiers/tier-nope", &json!({"name": "X1"})).await;
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_tier_id_cannot_be_changed_by_a_patch() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app
        .patch("/tiers/tier-gold", &json!({"id": "tier-other"}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"id": ["Unknown field: id"]}));
}

#[tokio::test]
async fn deleting_an_unused_tier_is_204_and_then_it_is_gone() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app.delete("/tiers/tier-gold").await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    assert_error(app.get("/tiers/tier-gold").await, 404, "not_found").await;
    assert_error(app.delete("/tiers/tier-gold").await, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_a_tier_in_use_is_409_and_keeps_it() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let o = app
        .create_org(json!({"name": "Gold Co", "premiumTierId": "tier-gold"}))
        .await;
    let v = assert_error(app.delete("/tiers/tier-gold").await, 409, "conflict").await;
    assert_eq!(v["error"], "Conflict");
    assert!(
        v["message"].as_str().unwrap().contains("in use"),
        "message: {v}"
    );
    assert_eq!(app.get("/tiers/tier-gold").await.status(), 200);
    let detail = body(
        app.get(&format!("/organizations/{}", o["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(detail["premiumTier"]["id"], "tier-gold");
}

#[tokio::test]
async fn a_tier_can_be_deleted_once_no_organization_uses_it() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let o = app
        .create_org(json!({"name": "Gold Co", "premiumTierId": "tier-gold"}))
        .await;
    let res = app
        .patch(
            &format!("/organizations/{}", o["id"].as_str().unwrap()),
            &json!({"premiumTierId": null}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.delete("/tiers/tier-gold").await.status(), 204);
}

#[tokio::test]
async fn creating_a_tier_with_a_taken_id_is_409() {
    let app = spawn_app().await;
    create_gold(&app).await;
    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold Again"}))
        .await;
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(v["details"], json!({"id": ["Id is already taken"]}));
    assert_eq!(
        body(app.get("/tiers/tier-gold").await).await["name"],
        "Gold"
    );
}

#[tokio::test]
async fn a_tier_without_a_name_is_400() {
    let app = spawn_app().await;
    let res = app
        .post("/tiers", &json!({"features": ["a-feature"]}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"name": ["Name is required"]}));
}

#[tokio::test]
async fn a_tier_id_must_have_the_tier_prefix() {
    let app = spawn_app().await;
    let res = app
        .post("/tiers", &json!({"id": "gold", "name": "Gold"}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"id": ["id must be tier- followed by lowercase letters, digits or hyphens"]})
    );
}

#[tokio::test]
async fn every_tier_problem_is_reported_at_once_including_nested_limits() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/tiers",
            &json!({
                "features": "advanced-reporting",
                "limits": {"maxUsers": -1, "maxStorage": 5, "apiCallsPerMonth": "many", "maxSeats": 3}
            }),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    let d = v["details"].as_object().unwrap();
    let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "features",
            "limits.apiCallsPerMonth",
            "limits.maxSeats",
            "limits.maxStorage",
            "limits.maxUsers",
            "name"
        ]
    );
    assert_eq!(
        d["features"],
        json!(["features must be an array of strings"])
    );
    assert_eq!(
        d["limits.maxStorage"],
        json!(["maxStorage must be a string"])
    );
    assert_eq!(
        d["limits.apiCallsPerMonth"],
        json!(["apiCallsPerMonth must be an integer"])
    );
    assert_eq!(d["limits.maxSeats"], json!(["Unknown field: maxSeats"]));
    assert_eq!(d["name"], json!(["Name is required"]));
    assert_eq!(body(app.get("/tiers").await).await["meta"]["total"], 0);
}

#[tokio::test]
async fn a_feature_that_is_not_a_string_is_reported_by_position() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/tiers",
            &json!({"name": "Gold", "features": ["ok-feature", 7, ""]}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    let msgs = v["details"]["features"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{v}");
    assert!(msgs[0].as_str().unwrap().starts_with("item 1"), "{v}");
    assert!(msgs[1].as_str().unwrap().starts_with("item 2"), "{v}");
}

#[tokio::test]
async fn limits_must_be_an_object() {
    let app = spawn_app().await;
    let res = app
        .post("/tiers", &json!({"name": "Gold", "limits": [1000]}))
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"limits": ["limits must be an object"]})
    );
}

#[tokio::test]
async fn a_put_with_a_partial_body_keeps_the_other_fields() {
    let app = spawn_app().await;
    let created = create_gold(&app).await;
    let res = app
        .req(reqwest::Method::PUT, "/tiers/tier-gold")
        .json(&json!({"limits": {"maxUsers": 5000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    let v = body(res).await;
    let mut want = created.clone();
    want["limits"]["maxUsers"] = json!(5000);
    want["updatedAt"] = v["updatedAt"].clone();
    assert_eq!(v, want);
    assert_eq!(body(app.get("/tiers/tier-gold").await).await, v);
}

#[tokio::test]
async fn a_put_applies_the_same_validation_as_patch() {
    let app = spawn_app().await;
    let created = create_gold(&app).await;
    let bad = json!({"id": "tier-x", "limits": {"maxUsers": -1, "seats": 2}});
    let res = app
        .req(reqwest::Method::PUT, "/tiers/tier-gold")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 400, "validation_error").await;
    let w = assert_error(
        app.patch("/tiers/tier-gold", &bad).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(
        v["details"],
        json!({
            "id": ["Unknown field: id"],
            "limits.maxUsers": ["maxUsers must be an integer from 0 to 9007199254740992"],
            "limits.seats": ["Unknown field: seats"]
        })
    );
    assert_eq!(v, w);
    assert_eq!(body(app.get("/tiers/tier-gold").await).await, created);
}
