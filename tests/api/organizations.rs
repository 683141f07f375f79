//! `/organizations`: a single organization (seed 001) and the list with pagination (seed 002).

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, blocking, spawn_app, TestApp};

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

/// GET with query pairs, URL-encoded properly.
async fn get_q(app: &TestApp, path: &str, q: &[(&str, &str)]) -> Response {
    app.req(Method::GET, path).query(q).send().await.unwrap()
}

/// A 200 JSON body.
async fn ok(res: Response) -> Value {
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// The `id`s of a list page's data.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The `name`s of a list page's data.
fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

fn meta(total: i64, per_page: i64, page: i64, last: i64, from: Value, to: Value) -> Value {
    json!({"total": total, "per_page": per_page, "current_page": page, "last_page": last,
           "from": from, "to": to})
}

fn not_found_org() -> Value {
    json!({"error": "Not Found", "message": "Organization not found", "code": "not_found"})
}

/// Creates organizations with these names; returns their JSON in creation order.
async fn create_orgs(app: &TestApp, names: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for n in names {
        out.push(app.create_org(json!({ "name": n })).await);
    }
    out
}

/// The demo's org-123 exactly as seed 001 shows it (with the real member count).
fn acme_detail() -> Value {
    json!({
        "id": "org-123",
        "name": "Acme Corporation",
        "slug": "acme-corp",
        "logo": "https://example.com/logos/acme.png",
        "memberCount": 2,
        "premiumTier": {
            "id": "tier-premium",
            "name": "Premium",
            "features": [
                "advanced-reporting",
                "priority-support",
                "custom-integrations",
                "unlimited-users"
            ],
            "limits": {
                "maxUsers": 1000,
                "maxStorage": "100GB",
                "apiCallsPerMonth": 100000
            }
        },
        "members": [
            {
                "id": "member-456",
                "userId": "user-789",
                "role": "admin",
                "user": {"id": "user-789", "name": "John Doe", "email": "john@acme.com"},
                "createdAt": "2024-01-15T10:30:00Z"
            },
            {
                "id": "member-789",
                "userId": "user-123",
                "role": "customer",
                "user": {"id": "user-123", "name": "Jane Smith", "email": "jane@acme.com"},
                "createdAt": "2024-01-20T14:15:00Z"
            }
        ],
        "createdAt": "2024-01-10T08:00:00Z",
        "updatedAt": "2024-01-10T08:00:00Z",
        "externalId": null,
        "metadata": {}
    })
}

// ---------------------------------------------------------------------------------------------
// GET /organizations/{id} (seed 001)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn getting_an_organization_returns_the_seed_001_body() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/organizations/org-123").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, acme_detail());
}

#[tokio::test]
async fn an_organization_can_be_fetched_by_its_slug() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(app.get("/organizations/acme-corp").await).await;
    assert_eq!(v, acme_detail());
}

#[tokio::test]
async fn getting_an_organization_carries_an_etag() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/organizations/org-123").await;
    assert_eq!(res.status(), 200);
    let tag = res.headers()["etag"].to_str().unwrap();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
}

#[tokio::test]
async fn the_etag_is_the_same_by_id_and_by_slug() {
    let app = spawn_app().await;
    app.load_demo().await;
    let a = app.get("/organizations/org-123").await;
    let b = app.get("/organizations/acme-corp").await;
    assert_eq!(a.headers()["etag"], b.headers()["etag"]);
}

/// A value starting with `org-` is tried as an id first, then as a slug (the view reads the
/// row by the key it was asked for; the id wins when both match).
#[tokio::test]
async fn an_org_prefixed_value_is_an_id_first_then_a_slug() {
    let app = spawn_app().await;
    app.load_demo().await;
    let by_slug_only = app
        .create_org(json!({"name": "Prefixed Co", "slug": "org-prefixed"}))
        .await;
    let shadow = app
        .create_org(json!({"name": "Shadow Co", "slug": "org-123"}))
        .await;
    let res = app.get("/organizations/org-prefixed").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, by_slug_only);
    let res = app.get("/organizations/org-123").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Acme Corporation");
    assert_ne!(body["id"], shadow["id"]);
    let by_id = app
        .get(&format!(
            "/organizations/{}",
            shadow["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.json::<serde_json::Value>().await.unwrap(), shadow);
    assert_eq!(app.get("/organizations/org-nowhere").await.status(), 404);
}

#[tokio::test]
async fn the_etag_changes_when_the_organization_changes() {
    let app = spawn_app().await;
    app.load_demo().await;
    let before = app.get("/organizations/org-123").await.headers()["etag"].clone();
    let res = app
        .patch("/organizations/org-123", &json!({"name": "Acme Corp"}))
        .await;
    assert_eq!(res.status(), 200);
    let after = app.get("/organizations/org-123").await.headers()["etag"].clone();
    assert_ne!(before, after);
}

#[tokio::test]
async fn a_matching_if_none_match_is_304() {
    let app = spawn_app().await;
    app.load_demo().await;
    let tag = app.get("/organizations/org-123").await.headers()["etag"].clone();
    let res = app
        .req(Method::GET, "/organizations/org-123")
        .header("if-none-match", tag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"], tag);
}

#[tokio::test]
async fn an_organization_without_tier_or_logo_has_nulls() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(app.get("/organizations/org-456").await).await;
    assert_eq!(v["id"], "org-456");
    assert_eq!(v["name"], "Tech Startup Inc");
    assert_eq!(v["slug"], "tech-startup");
    assert_eq!(v["logo"], Value::Null);
    assert_eq!(v["premiumTier"], Value::Null);
    assert_eq!(v["createdAt"], "2024-01-18T12:30:00Z");
    assert_eq!(
        v["members"][0],
        json!({
            "id": "member-790",
            "userId": "user-123",
            "role": "customer",
            "user": {"id": "user-123", "name": "Jane Smith", "email": "jane@acme.com"},
            "createdAt": "2024-01-21T09:00:00Z"
        })
    );
    assert_eq!(
        v["memberCount"].as_u64().unwrap() as usize,
        v["members"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn a_single_organization_has_exactly_the_documented_fields() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(app.get("/organizations/org-456").await).await;
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "externalId",
            "id",
            "logo",
            "memberCount",
            "members",
            "metadata",
            "name",
            "premiumTier",
            "slug",
            "updatedAt"
        ]
    );
}

#[tokio::test]
async fn a_new_organization_has_no_members() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Zeta Café Sdn Bhd"})).await;
    let id = org["id"].as_str().unwrap();
    let v = ok(app.get(&format!("/organizations/{id}")).await).await;
    assert!(id.starts_with("org-"), "{id}");
    assert_eq!(
        v,
        json!({
            "id": id,
            "name": "Zeta Café Sdn Bhd",
            "slug": "zeta-cafe-sdn-bhd",
            "logo": null,
            "memberCount": 0,
            "premiumTier": null,
            "members": [],
            "createdAt": org["createdAt"],
            "updatedAt": org["createdAt"],
            "externalId": null,
            "metadata": {}
        })
    );
}

#[tokio::test]
async fn tier_limits_that_are_unset_are_null() {
    let app = spawn_app().await;
    app.load_demo().await;
    let org = app
        .create_org(json!({"name": "Big Corp", "premiumTierId": "tier-enterprise"}))
        .await;
    let v = ok(app
        .get(&format!("/organizations/{}", org["id"].as_str().unwrap()))
        .await)
    .await;
    assert_eq!(
        v["premiumTier"],
        json!({
            "id": "tier-enterprise",
            "name": "Enterprise",
            "features": ["advanced-reporting", "priority-support", "custom-integrations",
                         "unlimited-users", "advanced-security"],
            "limits": {"maxUsers": null, "maxStorage": "1TB", "apiCallsPerMonth": 1000000}
        })
    );
}

#[tokio::test]
async fn an_unknown_organization_id_is_404_organization_not_found() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/organizations/org-doesnotexist").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_org());
}

#[tokio::test]
async fn an_unknown_slug_is_404_organization_not_found() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/organizations/no-such-slug").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_org());
}

#[tokio::test]
async fn a_slug_lookup_is_exact_not_case_insensitive_or_partial() {
    let app = spawn_app().await;
    app.load_demo().await;
    for near in ["Acme-Corp", "acme", "acme-corp-"] {
        let res = app.get(&format!("/organizations/{near}")).await;
        assert_error(res, 404, "not_found").await;
    }
}

#[tokio::test]
async fn the_member_count_follows_added_and_removed_members() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Count Co"})).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    let a = app.create_user("Ann Lee", "ann@example.com").await;
    let b = app.create_user("Bob Tan", "bob@example.com").await;
    app.add_member(&oid, a["id"].as_str().unwrap(), "owner")
        .await;
    let m = app
        .add_member(&oid, b["id"].as_str().unwrap(), "customer")
        .await;
    let v = ok(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(v["memberCount"], 2);
    let res = app
        .delete(&format!(
            "/organizations/{oid}/members/{}",
            m["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), 204);
    let v = ok(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(v["memberCount"], 1);
    assert_eq!(v["members"].as_array().unwrap().len(), 1);
    assert_eq!(v["members"][0]["userId"], a["id"]);
}

#[tokio::test]
async fn the_single_view_embeds_the_first_100_members_by_join_date() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Crowd Co"})).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for i in 0..105 {
        let u = app
            .create_user(&format!("Member {i:03}"), &format!("m{i}@example.com"))
            .await;
        users.push(u["id"].as_str().unwrap().to_owned());
    }
    // Join dates run against creation order: the last user created joined first, so the
    // embedded list must follow join dates, not user ids or names.
    let rows: Vec<(String, String, String)> = users
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            let mins = 104 - i;
            (
                format!("member-crowd{i:03}"),
                uid.clone(),
                format!("2024-02-01T{:02}:{:02}:00Z", mins / 60, mins % 60),
            )
        })
        .collect();
    let inserted = rows.clone();
    let oid2 = oid.clone();
    let db = app.db.clone();
    blocking(move || {
        db.write_blocking(None, move |tx| {
            for (mid, uid, at) in &inserted {
                tx.execute(
                    "INSERT INTO memberships (id, user_id, organization_id, role, created_at) \
                     VALUES (?1, ?2, ?3, 'customer', ?4)",
                    invois::storage::sql::params![mid, uid, oid2, at],
                )?;
            }
            Ok(())
        })
        .unwrap();
    })
    .await;
    let v = ok(app.get(&format!("/organizations/{oid}")).await).await;
    assert_eq!(v["memberCount"], 105);
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 100);
    let mut by_join = rows.clone();
    by_join.sort_by(|a, b| a.2.cmp(&b.2));
    let expected: Vec<&str> = by_join[..100].iter().map(|r| r.0.as_str()).collect();
    let got: Vec<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(members[0]["createdAt"], "2024-02-01T00:00:00Z");
    assert_eq!(members[0]["userId"], users[104].as_str());
}

// ---------------------------------------------------------------------------------------------
// GET /organizations (seed 002)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_empty_organization_list_has_one_empty_page() {
    let app = spawn_app().await;
    let v = ok(app.get("/organizations").await).await;
    assert_eq!(
        v,
        json!({"data": [], "meta": meta(0, 10, 1, 1, Value::Null, Value::Null)})
    );
}

#[tokio::test]
async fn a_page_past_the_end_of_an_empty_list_is_still_200() {
    let app = spawn_app().await;
    let v = ok(get_q(&app, "/organizations", &[("page", "3")]).await).await;
    assert_eq!(
        v,
        json!({"data": [], "meta": meta(0, 10, 3, 1, Value::Null, Value::Null)})
    );
}

#[tokio::test]
async fn list_items_have_the_seed_002_shape() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(get_q(&app, "/organizations", &[("query", "Acme Corporation")]).await).await;
    assert_eq!(
        v,
        json!({
            "data": [{
                "id": "org-123",
                "name": "Acme Corporation",
                "slug": "acme-corp",
                "logo": "https://example.com/logos/acme.png",
                "memberCount": 2,
                "premiumTier": {
                    "id": "tier-premium",
                    "name": "Premium",
                    "features": ["advanced-reporting", "priority-support",
                                 "custom-integrations", "unlimited-users"]
                },
                "createdAt": "2024-01-10T08:00:00Z",
                "updatedAt": "2024-01-10T08:00:00Z",
                "externalId": null,
                "metadata": {}
            }],
            "meta": meta(1, 10, 1, 1, json!(1), json!(1))
        })
    );
}

#[tokio::test]
async fn list_items_without_tier_or_logo_have_nulls() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(get_q(&app, "/organizations", &[("query", "Tech Startup Inc")]).await).await;
    assert_eq!(v["meta"]["total"], 1);
    let o = &v["data"][0];
    assert_eq!(o["id"], "org-456");
    assert_eq!(o["slug"], "tech-startup");
    assert_eq!(o["logo"], Value::Null);
    assert_eq!(o["premiumTier"], Value::Null);
    assert_eq!(o["createdAt"], "2024-01-18T12:30:00Z");
    assert!(
        o.get("members").is_none(),
        "lists do not embed members: {o}"
    );
}

#[tokio::test]
async fn the_list_defaults_to_page_1_with_10_per_page() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..12).map(|i| format!("Org {i:02}")).collect();
    create_orgs(&app, &names).await;
    let v = ok(app.get("/organizations").await).await;
    assert_eq!(self::names(&v), names[..10]);
    assert_eq!(v["meta"], meta(12, 10, 1, 2, json!(1), json!(10)));
}

#[tokio::test]
async fn the_last_page_holds_the_remainder() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..12).map(|i| format!("Org {i:02}")).collect();
    create_orgs(&app, &names).await;
    let v = ok(get_q(&app, "/organizations", &[("page", "2")]).await).await;
    assert_eq!(self::names(&v), names[10..]);
    assert_eq!(v["meta"], meta(12, 10, 2, 2, json!(11), json!(12)));
}

#[tokio::test]
async fn a_page_past_the_end_is_200_with_empty_data_and_null_from_to() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..12).map(|i| format!("Org {i:02}")).collect();
    create_orgs(&app, &names).await;
    let v = ok(get_q(&app, "/organizations", &[("page", "3")]).await).await;
    assert_eq!(
        v,
        json!({"data": [], "meta": meta(12, 10, 3, 2, Value::Null, Value::Null)})
    );
}

#[tokio::test]
async fn a_full_last_page_ends_exactly_at_the_total() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..10).map(|i| format!("Org {i:02}")).collect();
    create_orgs(&app, &names).await;
    let v = ok(get_q(&app, "/organizations", &[("per_page", "5"), ("page", "2")]).await).await;
    assert_eq!(self::names(&v), names[5..]);
    assert_eq!(v["meta"], meta(10, 5, 2, 2, json!(6), json!(10)));
}

#[tokio::test]
async fn per_page_1_gives_one_organization_per_page() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..3).map(|i| format!("Org {i:02}")).collect();
    create_orgs(&app, &names).await;
    let v = ok(get_q(&app, "/organizations", &[("per_page", "1"), ("page", "2")]).await).await;
    assert_eq!(self::names(&v), ["Org 01"]);
    assert_eq!(v["meta"], meta(3, 1, 2, 3, json!(2), json!(2)));
}

#[tokio::test]
async fn per_page_100_is_allowed() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(get_q(&app, "/organizations", &[("per_page", "100")]).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 100);
    assert_eq!(v["meta"]["per_page"], 100);
    assert_eq!(v["meta"]["from"], 1);
    assert_eq!(v["meta"]["to"], 100);
}

#[tokio::test]
async fn the_demo_list_counts_every_organization() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(app.get("/organizations").await).await;
    // The two seed organizations plus 300 generated ones.
    assert_eq!(v["meta"], meta(302, 10, 1, 31, json!(1), json!(10)));
}

#[tokio::test]
async fn organizations_are_ordered_by_name_case_insensitively() {
    let app = spawn_app().await;
    let names: Vec<String> = ["delta", "Bravo", "alpha", "Charlie", "Écho", "echo"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    create_orgs(&app, &names).await;
    let v = ok(app.get("/organizations").await).await;
    let got = self::names(&v);
    assert_eq!(got[..4], ["alpha", "Bravo", "Charlie", "delta"]);
    assert_eq!(got.len(), 6);
}

#[tokio::test]
async fn organizations_with_the_same_name_are_ordered_by_id() {
    let app = spawn_app().await;
    let names: Vec<String> = vec!["Same Name".into(); 5];
    let created = create_orgs(&app, &names).await;
    let mut expected: Vec<String> = created
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    let v = ok(app.get("/organizations").await).await;
    assert_eq!(ids(&v), expected);
}

#[tokio::test]
async fn walking_every_page_yields_every_organization_exactly_once_in_order() {
    let app = spawn_app().await;
    // Names in an order unrelated to creation, some sharing a name.
    let names: Vec<String> = (0..30)
        .map(|i| format!("Org {:02}", (i * 7) % 26))
        .collect();
    let created = create_orgs(&app, &names).await;
    let mut expected: Vec<(String, String)> = created
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_lowercase(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let v = ok(get_q(
            &app,
            "/organizations",
            &[("per_page", "7"), ("page", &page.to_string())],
        )
        .await)
        .await;
        assert_eq!(v["meta"]["total"], 30);
        assert_eq!(v["meta"]["last_page"], 5);
        assert_eq!(v["meta"]["current_page"], page);
        let got = ids(&v);
        if got.is_empty() {
            assert_eq!(page, 6, "an empty page before the end");
            assert_eq!(v["meta"]["from"], Value::Null);
            assert_eq!(v["meta"]["to"], Value::Null);
            break;
        }
        let from = (page - 1) * 7 + 1;
        assert_eq!(v["meta"]["from"], from);
        assert_eq!(v["meta"]["to"], from + got.len() as i64 - 1);
        seen.extend(got);
        page += 1;
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn walking_the_demo_list_yields_every_organization_exactly_once() {
    let app = spawn_app().await;
    app.load_demo().await;
    let mut seen = std::collections::BTreeSet::new();
    let mut count = 0;
    for page in 1..=4 {
        let v = ok(get_q(
            &app,
            "/organizations",
            &[("per_page", "100"), ("page", &page.to_string())],
        )
        .await)
        .await;
        for id in ids(&v) {
            count += 1;
            seen.insert(id);
        }
    }
    assert_eq!(count, 302);
    assert_eq!(seen.len(), 302);
}

#[tokio::test]
async fn invalid_page_values_are_400_invalid_query() {
    let app = spawn_app().await;
    for bad in ["abc", "0", "-5", "1.5", "", "1e2", "99999999999", "%201"] {
        let res = app.get(&format!("/organizations?page={bad}")).await;
        let v = assert_error(res, 400, "invalid_query").await;
        assert_eq!(
            v,
            json!({
                "error": "Bad Request",
                "message": "Invalid request query string",
                "code": "invalid_query",
                "details": {"page": ["page must be an integer from 1 to 10000000"]}
            }),
            "page={bad}"
        );
    }
}

#[tokio::test]
async fn invalid_per_page_values_are_400_invalid_query() {
    let app = spawn_app().await;
    for bad in ["abc", "0", "-5", "1.5", "101", "", "1000", "ten"] {
        let res = app.get(&format!("/organizations?per_page={bad}")).await;
        let v = assert_error(res, 400, "invalid_query").await;
        assert_eq!(
            v,
            json!({
                "error": "Bad Request",
                "message": "Invalid request query string",
                "code": "invalid_query",
                "details": {"per_page": ["per_page must be an integer from 1 to 100"]}
            }),
            "per_page={bad}"
        );
    }
}

#[tokio::test]
async fn invalid_page_and_per_page_are_reported_together() {
    let app = spawn_app().await;
    let res = app.get("/organizations?page=0&per_page=101").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({
            "page": ["page must be an integer from 1 to 10000000"],
            "per_page": ["per_page must be an integer from 1 to 100"]
        })
    );
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it() {
    let app = spawn_app().await;
    let res = app.get("/organizations?search=acme").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"search": ["Unknown query parameter: search"]})
    );
}

#[tokio::test]
async fn sort_is_not_offered_on_the_organization_list() {
    let app = spawn_app().await;
    let res = app.get("/organizations?sort=name").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"sort": ["Unknown query parameter: sort"]})
    );
}

#[tokio::test]
async fn a_repeated_query_parameter_is_a_400() {
    let app = spawn_app().await;
    let res = app.get("/organizations?page=1&page=2").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert!(v["details"]["page"].is_array(), "{v}");
}

#[tokio::test]
async fn the_seed_002_pagination_example_works_on_the_demo_data() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(app.get("/organizations?page=2&per_page=20").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 20);
    assert_eq!(v["meta"], meta(302, 20, 2, 16, json!(21), json!(40)));
}

// ---------------------------------------------------------------------------------------------
// The rendered-view cache behind GET /organizations/{id}: never stale
// ---------------------------------------------------------------------------------------------

/// GET org-123 twice (the second is served from the cache when nothing changed) and once by
/// slug; all three equal `want`, and so do their ETags.
async fn assert_acme(app: &TestApp, want: &Value) -> String {
    let a = app.get("/organizations/org-123").await;
    assert_eq!(a.status(), 200);
    let tag = a.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(&a.json::<Value>().await.unwrap(), want);
    let b = app.get("/organizations/org-123").await;
    assert_eq!(b.headers()["etag"].to_str().unwrap(), tag);
    assert_eq!(&b.json::<Value>().await.unwrap(), want);
    let slug = want["slug"].as_str().unwrap();
    let c = app.get(&format!("/organizations/{slug}")).await;
    assert_eq!(c.headers()["etag"].to_str().unwrap(), tag);
    assert_eq!(&c.json::<Value>().await.unwrap(), want);
    tag
}

#[tokio::test]
async fn the_organization_view_follows_every_write_that_changes_it() {
    let app = spawn_app().await;
    app.load_demo().await;
    let mut want = acme_detail();
    let mut tags = vec![assert_acme(&app, &want).await];

    // The organization itself.
    let v = ok(app
        .patch("/organizations/org-123", &json!({"name": "Acme Group"}))
        .await)
    .await;
    want["name"] = json!("Acme Group");
    want["updatedAt"] = v["updatedAt"].clone();
    tags.push(assert_acme(&app, &want).await);

    // A member's user: name and email.
    let u = ok(app
        .patch(
            "/users/user-789",
            &json!({"name": "Johnny Doe", "email": "johnny@acme.com"}),
        )
        .await)
    .await;
    assert_eq!(u["name"], "Johnny Doe");
    want["members"][0]["user"]["name"] = json!("Johnny Doe");
    want["members"][0]["user"]["email"] = json!("johnny@acme.com");
    tags.push(assert_acme(&app, &want).await);

    // The tier.
    ok(app
        .patch(
            "/tiers/tier-premium",
            &json!({"name": "Premium Plus", "limits": {"maxUsers": 2000}}),
        )
        .await)
    .await;
    want["premiumTier"]["name"] = json!("Premium Plus");
    want["premiumTier"]["limits"]["maxUsers"] = json!(2000);
    tags.push(assert_acme(&app, &want).await);

    // A membership's role.
    let m = ok(app
        .patch(
            "/organizations/org-123/members/member-789",
            &json!({"role": "admin"}),
        )
        .await)
    .await;
    assert_eq!(m["role"], "admin");
    want["members"][1]["role"] = json!("admin");
    tags.push(assert_acme(&app, &want).await);

    // A new member, then that user deleted.
    let user = app.create_user("Zed Zed", "zed@example.com").await;
    let uid = user["id"].as_str().unwrap();
    let added = app.add_member("org-123", uid, "customer").await;
    want["memberCount"] = json!(3);
    want["members"].as_array_mut().unwrap().push(json!({
        "id": added["id"], "userId": uid, "role": "customer",
        "user": {"id": uid, "name": "Zed Zed", "email": "zed@example.com"},
        "createdAt": added["createdAt"],
    }));
    tags.push(assert_acme(&app, &want).await);
    assert_eq!(app.delete(&format!("/users/{uid}")).await.status(), 204);
    want["memberCount"] = json!(2);
    want["members"].as_array_mut().unwrap().pop();
    tags.push(assert_acme(&app, &want).await);

    // A membership removed.
    assert_eq!(
        app.delete("/organizations/org-123/members/member-789")
            .await
            .status(),
        204
    );
    want["memberCount"] = json!(1);
    want["members"].as_array_mut().unwrap().pop();
    tags.push(assert_acme(&app, &want).await);

    // Deleting the added member's user restored the earlier view, and its ETag; every other
    // state had its own, and the first one no longer matches.
    assert_eq!(tags[6], tags[4]);
    tags.remove(6);
    let mut distinct = tags.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), tags.len(), "{tags:?}");
    let res = app
        .req(Method::GET, "/organizations/org-123")
        .header("If-None-Match", &tags[0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_cached_slug_follows_a_slug_change_and_a_deleted_organization_is_gone() {
    let app = spawn_app().await;
    app.load_demo().await;
    assert_eq!(app.get("/organizations/acme-corp").await.status(), 200);
    ok(app
        .patch("/organizations/org-123", &json!({"slug": "acme-new"}))
        .await)
    .await;
    assert_error(app.get("/organizations/acme-corp").await, 404, "not_found").await;
    assert_eq!(
        ok(app.get("/organizations/acme-new").await).await["id"],
        "org-123"
    );
    assert_eq!(app.delete("/organizations/org-123").await.status(), 204);
    for path in ["/organizations/org-123", "/organizations/acme-new"] {
        let v = assert_error(app.get(path).await, 404, "not_found").await;
        assert_eq!(v, not_found_org());
    }
}

#[tokio::test]
async fn the_organization_view_follows_a_write_by_another_process() {
    let app = spawn_app().await;
    app.load_demo().await;
    let mut want = acme_detail();
    assert_acme(&app, &want).await;
    // As `invois import` or any other program writing to the database would: through a
    // connection of its own.
    let cfg = app.config.database.clone();
    blocking(move || {
        let other = invois::storage::open(&cfg).unwrap();
        other
            .write_blocking(None, |c| {
                c.execute_batch(
                    "UPDATE users SET name = 'Jane Q. Smith' WHERE id = 'user-123'; \
                     UPDATE premium_tiers SET features = '[\"priority-support\"]' WHERE id = 'tier-premium';",
                )
            })
            .unwrap();
    })
    .await;
    want["members"][1]["user"]["name"] = json!("Jane Q. Smith");
    want["premiumTier"]["features"] = json!(["priority-support"]);
    assert_acme(&app, &want).await;
}

// ---------------------------------------------------------------------------------------------
// PUT /organizations/{id} (the published Update Organization page): partial, as PATCH
// ---------------------------------------------------------------------------------------------

async fn put(app: &TestApp, path: &str, body: &Value) -> Response {
    app.req(Method::PUT, path).json(body).send().await.unwrap()
}

#[tokio::test]
async fn a_put_with_a_partial_body_changes_only_the_fields_given() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = put(
        &app,
        "/organizations/org-123",
        &json!({"name": "Acme Group"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    let v = ok(res).await;
    let mut want = acme_detail();
    want["name"] = json!("Acme Group");
    want["updatedAt"] = v["updatedAt"].clone();
    assert_eq!(v, want, "a rename keeps the slug");
    assert_ne!(v["updatedAt"], "2024-01-10T08:00:00Z");
    assert_eq!(ok(app.get("/organizations/acme-corp").await).await, v);
}

#[tokio::test]
async fn a_put_by_slug_removes_the_tier_with_null() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(put(
        &app,
        "/organizations/acme-corp",
        &json!({"premiumTierId": null, "logo": null}),
    )
    .await)
    .await;
    assert_eq!(
        (&v["premiumTier"], &v["logo"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(v["name"], "Acme Corporation");
}

#[tokio::test]
async fn a_put_applies_the_same_validation_as_patch() {
    let app = spawn_app().await;
    app.load_demo().await;
    let body = json!({"name": "A", "slug": "Bad Slug", "logo": "ftp://x", "size": 3});
    let res = put(&app, "/organizations/org-123", &body).await;
    let v = assert_error(res, 400, "validation_error").await;
    let res = app.patch("/organizations/org-123", &body).await;
    let w = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({
            "logo": ["Logo must be an http(s) URL"],
            "name": ["Name must be at least 2 characters"],
            "size": ["Unknown field: size"],
            "slug": ["Slug may contain only lowercase letters, digits and hyphens"]
        })
    );
    assert_eq!(v, w);
    assert_eq!(
        ok(app.get("/organizations/org-123").await).await,
        acme_detail()
    );
}

#[tokio::test]
async fn a_put_to_a_taken_slug_is_a_409_naming_it() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = put(
        &app,
        "/organizations/org-456",
        &json!({"slug": "acme-corp"}),
    )
    .await;
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(v["message"], "Slug acme-corp is already taken");
}

#[tokio::test]
async fn a_put_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app
        .req(Method::PUT, "/organizations/org-123")
        .header("If-Match", "\"stale\"")
        .json(&json!({"name": "Acme Group"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(
        ok(app.get("/organizations/org-123").await).await,
        acme_detail()
    );
}

#[tokio::test]
async fn a_put_records_an_organization_updated_event() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = put(
        &app,
        "/organizations/org-123",
        &json!({"logo": "https://example.com/new.png"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let page = ok(app.get("/events?type=organization.updated").await).await;
    assert_eq!(page["data"][0]["subjectId"], "org-123", "{page}");
    assert_eq!(page["data"][0]["changes"], json!(["logo"]), "{page}");
}

#[tokio::test]
async fn a_put_to_an_unknown_organization_is_404() {
    let app = spawn_app().await;
    let res = put(&app, "/organizations/org-nope", &json!({"name": "Nope Co"})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_org());
}
