//! `/organizations/{id}/members`: list, add, change role, remove.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn body(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// An organization with Alice (owner), Bob (admin) and Carol (customer); returns
/// the organization id and the three memberships in the order they were added.
async fn org_with_three_members(app: &TestApp) -> (String, Vec<Value>) {
    let o = app.create_org(json!({"name": "Members Co"})).await;
    let oid = id(&o);
    let mut ms = Vec::new();
    for (name, email, role) in [
        ("Alice Tan", "alice@example.com", "owner"),
        ("Bob Lim", "bob@shop.my", "admin"),
        ("Carol Ng", "carol@example.com", "customer"),
    ] {
        let u = app.create_user(name, email).await;
        ms.push(app.add_member(&oid, &id(&u), role).await);
    }
    (oid, ms)
}

fn user_names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["user"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn listing_members_has_the_pagination_meta_of_seed_002() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let res = app
        .get(&format!("/organizations/{oid}/members?per_page=2"))
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["meta"],
        json!({"total": 3, "per_page": 2, "current_page": 1, "last_page": 2, "from": 1, "to": 2})
    );
}

#[tokio::test]
async fn the_last_page_of_members_holds_the_rest() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!("/organizations/{oid}/members?per_page=2&page=2"))
            .await,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["meta"],
        json!({"total": 3, "per_page": 2, "current_page": 2, "last_page": 2, "from": 3, "to": 3})
    );
}

#[tokio::test]
async fn a_members_page_past_the_end_is_empty_with_null_from_and_to() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let res = app
        .get(&format!("/organizations/{oid}/members?per_page=2&page=3"))
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 3, "per_page": 2, "current_page": 3, "last_page": 2, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn members_are_listed_by_join_date_and_pages_do_not_overlap() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let v = body(
            app.get(&format!(
                "/organizations/{oid}/members?per_page=1&page={page}"
            ))
            .await,
        )
        .await;
        seen.extend(v["data"].as_array().unwrap().iter().cloned());
    }
    let keys: Vec<(String, String)> = seen
        .iter()
        .map(|m| {
            (
                m["createdAt"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by createdAt, then id");
    let mut ids: Vec<String> = keys.into_iter().map(|(_, i)| i).collect();
    ids.sort();
    let mut expected: Vec<String> = ms.iter().map(id).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_listed_member_has_the_membership_shape() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Shape Co"})).await;
    let oid = id(&o);
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = id(&u);
    let m = app.add_member(&oid, &uid, "admin").await;
    let v = body(app.get(&format!("/organizations/{oid}/members")).await).await;
    assert_eq!(
        v["data"],
        json!([{
            "id": id(&m),
            "userId": uid,
            "organizationId": oid,
            "role": "admin",
            "user": {"id": uid, "name": "Jane Smith", "email": "jane@example.com"},
            "createdAt": m["createdAt"],
            "metadata": {},
        }])
    );
}

#[tokio::test]
async fn members_can_be_listed_through_the_organization_slug() {
    let app = spawn_app().await;
    let (_, ms) = org_with_three_members(&app).await;
    let v = body(app.get("/organizations/members-co/members").await).await;
    assert_eq!(v["meta"]["total"], 3);
    assert_eq!(v["data"].as_array().unwrap().len(), ms.len());
}

#[tokio::test]
async fn the_member_query_matches_user_names_case_insensitively() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!("/organizations/{oid}/members?query=ALI"))
            .await,
    )
    .await;
    assert_eq!(user_names(&v), ["Alice Tan"]);
    assert_eq!(v["meta"]["total"], 1);
}

#[tokio::test]
async fn the_member_query_matches_user_emails() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!("/organizations/{oid}/members?query=shop.my"))
            .await,
    )
    .await;
    assert_eq!(user_names(&v), ["Bob Lim"]);
    assert_eq!(v["meta"]["total"], 1);
}

#[tokio::test]
async fn the_member_query_with_no_match_is_an_empty_page() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!("/organizations/{oid}/members?query=zzz"))
            .await,
    )
    .await;
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 0, "per_page": 10, "current_page": 1, "last_page": 1, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn the_role_filter_lists_only_members_with_that_role() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!("/organizations/{oid}/members?role=admin"))
            .await,
    )
    .await;
    assert_eq!(user_names(&v), ["Bob Lim"]);
    assert_eq!(v["meta"]["total"], 1);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] == "admin"));
}

#[tokio::test]
async fn the_query_and_role_filters_combine() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let v = body(
        app.get(&format!(
            "/organizations/{oid}/members?query=example.com&role=customer"
        ))
        .await,
    )
    .await;
    assert_eq!(user_names(&v), ["Carol Ng"]);
}

#[tokio::test]
async fn an_invalid_role_filter_is_400_invalid_query() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let res = app
        .get(&format!("/organizations/{oid}/members?role=boss"))
        .await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"role": ["role must be one of: owner, admin, customer"]})
    );
}

#[tokio::test]
async fn listing_members_of_an_unknown_organization_is_404() {
    let app = spawn_app().await;
    let res = app.get("/organizations/org-nope/members").await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(v["message"], "Organization not found");
}

#[tokio::test]
async fn adding_a_member_is_201_with_location_and_the_membership() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let oid = id(&o);
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = id(&u);
    let res = app
        .post(
            &format!("/organizations/{oid}/members"),
            &json!({"userId": uid, "role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let m = body(res).await;
    let mid = id(&m);
    assert!(mid.starts_with("member-"), "{mid}");
    assert_eq!(
        location,
        format!("/api/integrations/organizations/{oid}/members/{mid}")
    );
    let created_at = m["createdAt"].as_str().unwrap();
    assert!(created_at.ends_with('Z'));
    assert_eq!(
        m,
        json!({
            "id": mid,
            "userId": uid,
            "organizationId": oid,
            "role": "admin",
            "user": {"id": uid, "name": "Jane Smith", "email": "jane@example.com"},
            "createdAt": created_at,
            "metadata": {},
        })
    );
    let res = app.get(&location).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, m);
}

#[tokio::test]
async fn a_new_member_shows_in_the_organization_and_the_user() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let oid = id(&o);
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = id(&u);
    let m = app.add_member(&oid, &uid, "admin").await;
    let detail = body(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(detail["memberCount"], 1);
    assert_eq!(
        detail["members"],
        json!([{
            "id": id(&m), "userId": uid, "role": "admin",
            "user": {"id": uid, "name": "Jane Smith", "email": "jane@example.com"},
            "createdAt": m["createdAt"],
        }])
    );
    let user = body(app.get(&format!("/users/{uid}")).await).await;
    assert_eq!(
        user["members"],
        json!([{
            "id": id(&m), "organizationId": oid, "role": "admin", "createdAt": m["createdAt"],
            "organization": {"id": oid, "name": "Add Co", "slug": "add-co"},
        }])
    );
}

#[tokio::test]
async fn a_member_role_defaults_to_customer() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .post(
            &format!("/organizations/{}/members", id(&o)),
            &json!({"userId": id(&u)}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(body(res).await["role"], "customer");
}

#[tokio::test]
async fn adding_a_user_who_is_already_a_member_is_409() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let oid = id(&o);
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    app.add_member(&oid, &id(&u), "admin").await;
    let res = app
        .post(
            &format!("/organizations/{oid}/members"),
            &json!({"userId": id(&u), "role": "customer"}),
        )
        .await;
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(v["error"], "Conflict");
    assert_eq!(
        v["details"],
        json!({"userId": ["User is already a member of this organization"]})
    );
    let detail = body(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(detail["memberCount"], 1);
    assert_eq!(detail["members"][0]["role"], "admin");
}

#[tokio::test]
async fn adding_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let oid = id(&o);
    let res = app
        .post(
            &format!("/organizations/{oid}/members"),
            &json!({"userId": "user-nope", "role": "customer"}),
        )
        .await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(v["message"], "User not found");
    let detail = body(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(detail["memberCount"], 0);
}

#[tokio::test]
async fn adding_a_member_to_an_unknown_organization_is_404() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .post(
            "/organizations/org-nope/members",
            &json!({"userId": id(&u), "role": "customer"}),
        )
        .await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(v["message"], "Organization not found");
}

#[tokio::test]
async fn adding_a_member_without_a_user_id_is_400() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let res = app
        .post(
            &format!("/organizations/{}/members", id(&o)),
            &json!({"role": "customer"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"userId": ["userId is required"]}));
}

#[tokio::test]
async fn adding_a_member_with_an_unknown_role_is_400() {
    let app = spawn_app().await;
    let o = app.create_org(json!({"name": "Add Co"})).await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .post(
            &format!("/organizations/{}/members", id(&o)),
            &json!({"userId": id(&u), "role": "super-admin"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"role": ["Role must be one of: owner, admin, customer"]})
    );
}

#[tokio::test]
async fn changing_a_member_role_returns_the_updated_membership() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let carol = &ms[2];
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{}", id(carol)),
            &json!({"role": "owner"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = body(res).await;
    let mut expected = carol.clone();
    expected["role"] = json!("owner");
    assert_eq!(v, expected);
    let got = body(
        app.get(&format!("/organizations/{oid}/members/{}", id(carol)))
            .await,
    )
    .await;
    assert_eq!(got, expected);
}

#[tokio::test]
async fn changing_a_member_role_without_a_role_is_400() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{}", id(&ms[0])),
            &json!({}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"role": ["Role is required"]}));
}

#[tokio::test]
async fn a_member_user_id_cannot_be_changed() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{}", id(&ms[0])),
            &json!({"role": "admin", "userId": "user-other"}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"userId": ["Unknown field: userId"]}));
}

#[tokio::test]
async fn changing_the_role_of_an_unknown_member_is_404() {
    let app = spawn_app().await;
    let (oid, _) = org_with_three_members(&app).await;
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/member-nope"),
            &json!({"role": "admin"}),
        )
        .await;
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(v["message"], "Membership not found");
}

#[tokio::test]
async fn a_membership_is_not_reachable_through_another_organization() {
    let app = spawn_app().await;
    let (_, ms) = org_with_three_members(&app).await;
    let other = app.create_org(json!({"name": "Other Co"})).await;
    let path = format!("/organizations/{}/members/{}", id(&other), id(&ms[0]));
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(
        app.patch(&path, &json!({"role": "customer"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
}

#[tokio::test]
async fn removing_a_member_is_204_and_then_the_membership_is_gone() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let path = format!("/organizations/{oid}/members/{}", id(&ms[1]));
    let res = app.delete(&path).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    let v = body(app.get(&format!("/organizations/{oid}/members")).await).await;
    assert_eq!(user_names(&v).len(), 2);
    assert!(!user_names(&v).contains(&"Bob Lim".to_owned()));
    assert_eq!(v["meta"]["total"], 2);
}

#[tokio::test]
async fn a_removed_member_can_be_added_again() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let bob = &ms[1];
    let res = app
        .delete(&format!("/organizations/{oid}/members/{}", id(bob)))
        .await;
    assert_eq!(res.status(), 204);
    let again = app
        .add_member(&oid, bob["userId"].as_str().unwrap(), "customer")
        .await;
    assert_ne!(id(&again), id(bob));
    let detail = body(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(detail["memberCount"], 3);
}

#[tokio::test]
async fn a_put_changes_a_member_role_as_patch_does() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let carol = &ms[2];
    let path = format!("/organizations/{oid}/members/{}", id(carol));
    let res = app
        .req(reqwest::Method::PUT, &path)
        .json(&json!({"role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    let mut expected = carol.clone();
    expected["role"] = json!("owner");
    assert_eq!(body(res).await, expected);
    assert_eq!(body(app.get(&path).await).await, expected);
    let events = body(app.get("/events?type=membership.updated").await).await;
    assert_eq!(events["data"][0]["subjectId"], json!(id(carol)), "{events}");
}

#[tokio::test]
async fn a_put_without_a_role_or_with_a_stale_if_match_changes_nothing() {
    let app = spawn_app().await;
    let (oid, ms) = org_with_three_members(&app).await;
    let path = format!("/organizations/{oid}/members/{}", id(&ms[0]));
    let res = app
        .req(reqwest::Method::PUT, &path)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"role": ["Role is required"]}));
    let res = app
        .req(reqwest::Method::PUT, &path)
        .header("If-Match", "\"stale\"")
        .json(&json!({"role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(body(app.get(&path).await).await, ms[0]);
}
