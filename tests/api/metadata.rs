//! Metadata and external ids (issue 14): `externalId` on users and organizations, `metadata`
//! on users, organizations and memberships; validation, uniqueness, lookups, list filters,
//! events, ETags and the export round trip. Runs on both engines.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, fresh_engine_args, spawn_app, TestApp};

/// The JSON of `res` (status asserted) and its raw text.
async fn body(res: reqwest::Response, status: u16) -> (Value, String) {
    let url = res.url().to_string();
    let got = res.status().as_u16();
    let text = res.text().await.expect("text");
    assert_eq!(got, status, "{url}: {text}");
    (serde_json::from_str(&text).expect("json"), text)
}

async fn put(app: &TestApp, path: &str, b: &Value) -> reqwest::Response {
    app.req(Method::PUT, path)
        .json(b)
        .send()
        .await
        .expect("send")
}

/// `v` without the fields a test cannot know (ids and times).
fn known(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("object");
    for k in ["id", "createdAt", "updatedAt"] {
        o.remove(k);
    }
    v
}

#[tokio::test]
async fn a_user_is_created_read_and_updated_with_an_external_id_and_metadata() {
    let app = spawn_app().await;
    let (u, text) = body(
        app.post(
            "/users",
            &json!({"name": "Ann Lee", "email": "ann@example.com", "externalId": "shop-1",
                    "metadata": {"plan": "gold", "seats": 5, "tags": ["a"], "nested": {"x": true}}}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        known(&u),
        json!({"name": "Ann Lee", "firstName": null, "lastName": null, "email": "ann@example.com",
               "phone": null, "dob": null, "role": "customer", "members": [],
               "externalId": "shop-1",
               "metadata": {"nested": {"x": true}, "plan": "gold", "seats": 5, "tags": ["a"]}})
    );
    // After the documented fields, in this order.
    assert!(
        text.ends_with(
            r#"Z","externalId":"shop-1","metadata":{"nested":{"x":true},"plan":"gold","seats":5,"tags":["a"]}}"#
        ),
        "{text}"
    );
    let id = u["id"].as_str().unwrap().to_owned();
    let (got, _) = body(app.get(&format!("/users/{id}")).await, 200).await;
    assert_eq!(got, u);

    // Metadata is replaced as a whole; the external id stays when not given.
    let (up, _) = body(
        app.patch(
            &format!("/users/{id}"),
            &json!({"metadata": {"plan": "silver"}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(up["metadata"], json!({"plan": "silver"}));
    assert_eq!(up["externalId"], "shop-1");
    // PUT takes both; null removes the external id.
    let (up, _) = body(
        put(
            &app,
            &format!("/users/{id}"),
            &json!({"externalId": null, "metadata": {}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(up["externalId"], Value::Null);
    assert_eq!(up["metadata"], json!({}));

    // A user created without them has null and {}; the list shows them too.
    let plain = app.create_user("Bo Chan", "bo@example.com").await;
    assert_eq!(plain["externalId"], Value::Null);
    assert_eq!(plain["metadata"], json!({}));
    let (list, text) = body(app.get("/users?query=bo%20chan").await, 200).await;
    assert_eq!(
        known(&list["data"][0]),
        json!({"name": "Bo Chan", "firstName": null, "lastName": null, "email": "bo@example.com",
               "phone": null, "role": "customer", "externalId": null, "metadata": {}})
    );
    assert!(
        text.contains(r#"Z","externalId":null,"metadata":{}}"#),
        "{text}"
    );
}

#[tokio::test]
async fn an_organization_has_an_external_id_and_metadata_in_every_view() {
    let app = spawn_app().await;
    let org = app
        .create_org(
            json!({"name": "Acme", "externalId": "shop-org-1", "metadata": {"tier": "b2b"}}),
        )
        .await;
    assert_eq!(
        known(&org),
        json!({"name": "Acme", "slug": "acme", "logo": null, "memberCount": 0, "premiumTier": null,
               "members": [], "externalId": "shop-org-1", "metadata": {"tier": "b2b"}})
    );
    let (list, _) = body(app.get("/organizations").await, 200).await;
    assert_eq!(
        known(&list["data"][0]),
        json!({"name": "Acme", "slug": "acme", "logo": null, "memberCount": 0, "premiumTier": null,
               "externalId": "shop-org-1", "metadata": {"tier": "b2b"}})
    );
    let (up, _) = body(
        put(
            &app,
            "/organizations/acme",
            &json!({"externalId": "shop-org-2", "metadata": {"tier": "b2c"}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (up["externalId"].clone(), up["metadata"].clone()),
        (json!("shop-org-2"), json!({"tier": "b2c"}))
    );
    let (got, _) = body(app.get("/organizations/acme").await, 200).await;
    assert_eq!(got, up);
}

#[tokio::test]
async fn invalid_external_ids_and_metadata_are_400_with_every_problem() {
    let app = spawn_app().await;
    let deep = json!({"a": {"b": {"c": {"d": {"e": {}}}}}});
    let big = json!({"blob": "x".repeat(8200)});
    let res = app
        .post(
            "/users",
            &json!({"name": "Ann Lee", "email": "ann@example.com", "externalId": "x".repeat(256),
                    "metadata": ["not", "an", "object"]}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"externalId": ["External id must be 1 to 255 characters"],
               "metadata": ["Metadata must be a JSON object"]})
    );
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Acme", "metadata": deep, "externalId": ""}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"externalId": ["External id must be 1 to 255 characters"],
               "metadata": ["Metadata must nest at most 5 levels deep"]})
    );
    let u = app.create_user("Ann Lee", "ann@example.com").await;
    let res = app
        .patch(
            &format!("/users/{}", u["id"].as_str().unwrap()),
            &json!({"metadata": big}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"metadata": ["Metadata must be at most 8192 bytes serialized, it is 8211"]})
    );
    let res = app
        .patch(
            &format!("/users/{}", u["id"].as_str().unwrap()),
            &json!({"metadata": null, "externalId": 5}),
        )
        .await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"externalId": ["externalId must be a string"],
               "metadata": ["metadata must not be null"]})
    );
    // Five levels is the limit, not over it.
    let ok = json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
    let res = app
        .patch(
            &format!("/users/{}", u["id"].as_str().unwrap()),
            &json!({"metadata": ok}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_taken_external_id_is_409_per_resource_type() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Ann Lee", "email": "ann@example.com", "externalId": "x-1"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let (_, _) = body(
        app.post(
            "/users",
            &json!({"name": "Bo Chan", "email": "bo@example.com", "externalId": "x-1"}),
        )
        .await,
        409,
    )
    .await;
    let want = json!({"error": "Conflict", "message": "External id already exists", "code": "conflict",
                      "details": {"externalId": ["External id is already taken"]}});
    let res = app
        .post(
            "/users",
            &json!({"name": "Bo Chan", "email": "bo@example.com", "externalId": "x-1"}),
        )
        .await;
    assert_eq!(body(res, 409).await.0, want);
    // Updating another user to it is refused the same way.
    let bo = app.create_user("Bo Chan", "bo@example.com").await;
    let res = app
        .patch(
            &format!("/users/{}", bo["id"].as_str().unwrap()),
            &json!({"externalId": "x-1"}),
        )
        .await;
    assert_eq!(body(res, 409).await.0, want);
    // The same external id on an organization is fine; twice on organizations is not.
    app.create_org(json!({"name": "Acme", "externalId": "x-1"}))
        .await;
    let res = app
        .post(
            "/organizations",
            &json!({"name": "Other", "externalId": "x-1"}),
        )
        .await;
    assert_eq!(body(res, 409).await.0, want);
    let res = app
        .post("/organizations", &json!({"name": "Other", "slug": "other"}))
        .await;
    assert_eq!(res.status(), 201);
    let res = put(&app, "/organizations/other", &json!({"externalId": "x-1"})).await;
    assert_eq!(body(res, 409).await.0, want);
}

#[tokio::test]
async fn lists_find_by_external_id_exactly() {
    let app = spawn_app().await;
    for (n, e) in [("Ann Lee", "A-1"), ("Bo Chan", "a-1"), ("Cy Doe", "A-10")] {
        let email = format!("{}@example.com", &n[..2].to_lowercase());
        let res = app
            .post(
                "/users",
                &json!({"name": n, "email": email, "externalId": e}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let (v, _) = body(app.get("/users?externalId=A-1").await, 200).await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann Lee"]);
    assert_eq!(v["meta"]["total"], 1);
    let (v, _) = body(app.get("/users?externalId=nobody").await, 200).await;
    assert_eq!(v["data"], json!([]));
    assert_eq!(v["meta"]["total"], 0);
    // Combined with a search term.
    let (v, _) = body(app.get("/users?externalId=A-1&query=bo").await, 200).await;
    assert_eq!(v["meta"]["total"], 0);
    app.create_org(json!({"name": "Acme", "externalId": "A-1"}))
        .await;
    app.create_org(json!({"name": "Beta", "externalId": "B-1"}))
        .await;
    let (v, _) = body(app.get("/organizations?externalId=B-1").await, 200).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["name"], "Beta");
    assert_eq!(v["meta"]["total"], 1);
    // An invalid value is a 400 as any bad query parameter.
    let long = "x".repeat(256);
    let res = app.get(&format!("/organizations?externalId={long}")).await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"externalId": ["External id must be 1 to 255 characters"]})
    );
}

/// Names of the list's items, in order.
fn names(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn metadata_filters_match_strings_numbers_and_booleans_exactly() {
    let app = spawn_app().await;
    let rows = [
        (
            "Ann Gold",
            json!({"plan": "gold", "seats": 5, "active": true}),
        ),
        (
            "Bo Gold",
            json!({"plan": "gold", "seats": 5.0, "active": false}),
        ),
        (
            "Cy Silver",
            json!({"plan": "silver", "seats": "5", "active": "true"}),
        ),
        (
            "Di Gold",
            json!({"plan": "gold", "seats": 12, "nested": {"plan": "x"}}),
        ),
        ("Ed None", json!({})),
        ("Fay One", json!({"seats": 1, "active": 1})),
    ];
    for (i, (n, m)) in rows.iter().enumerate() {
        let res = app
            .post(
                "/users",
                &json!({"name": n, "email": format!("u{i}@example.com"), "metadata": m}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let res = app
            .post("/organizations", &json!({"name": n, "metadata": m}))
            .await;
        assert_eq!(res.status(), 201);
    }
    let cases: [(&str, &[&str]); 10] = [
        ("metadata[plan]=gold", &["Ann Gold", "Bo Gold", "Di Gold"]),
        ("metadata[seats]=5", &["Ann Gold", "Bo Gold", "Cy Silver"]),
        ("metadata[seats]=5.0", &["Ann Gold", "Bo Gold"]),
        ("metadata[active]=true", &["Ann Gold", "Cy Silver"]),
        ("metadata[active]=false", &["Bo Gold"]),
        ("metadata[active]=1", &["Fay One"]),
        ("metadata[plan]=x", &[]),
        ("metadata[plan]=GOLD", &[]),
        ("metadata[plan]=gold&metadata[seats]=12", &["Di Gold"]),
        ("metadata[nested]=x", &[]),
    ];
    for (list, sort) in [("users", "&sort=name"), ("organizations", "")] {
        for (q, want) in cases {
            let (v, _) = body(app.get(&format!("/{list}?{q}{sort}")).await, 200).await;
            assert_eq!(names(&v), want, "{list}?{q}");
            assert_eq!(v["meta"]["total"], want.len(), "{list}?{q}");
        }
        // With a search term and pagination: totals exact, pages in order.
        let (v, _) = body(
            app.get(&format!(
                "/{list}?metadata[plan]=gold&query=gold&per_page=2&page=2{sort}"
            ))
            .await,
            200,
        )
        .await;
        assert_eq!(names(&v), ["Di Gold"], "{list}");
        assert_eq!(
            v["meta"],
            json!({"total": 3, "per_page": 2, "current_page": 2, "last_page": 2, "from": 3, "to": 3}),
            "{list}"
        );
        // Walked by cursor too.
        let (v, _) = body(
            app.get(&format!(
                "/{list}?metadata[plan]=gold&per_page=2&after={sort}"
            ))
            .await,
            200,
        )
        .await;
        assert_eq!(names(&v), ["Ann Gold", "Bo Gold"], "{list}");
        let next = v["meta"]["next_cursor"].as_str().unwrap().to_owned();
        let (v, _) = body(
            app.get(&format!(
                "/{list}?metadata[plan]=gold&per_page=2&after={next}{sort}"
            ))
            .await,
            200,
        )
        .await;
        assert_eq!(names(&v), ["Di Gold"], "{list}");
    }
}

#[tokio::test]
async fn malformed_metadata_filters_are_400() {
    let app = spawn_app().await;
    for (q, key) in [
        ("metadata[]=x", "metadata[]"),
        ("metadata[a.b]=x", "metadata[a.b]"),
        ("metadata[a=x", "metadata[a"),
        ("metadata=x", "metadata"),
    ] {
        for list in ["users", "organizations"] {
            let res = app.get(&format!("/{list}?{q}")).await;
            let v = assert_error(res, 400, "invalid_query").await;
            let msg = if key == "metadata" {
                "Unknown query parameter: metadata".to_owned()
            } else {
                "A metadata filter is metadata[key]=value, the key 1 to 64 letters, digits, _ or -"
                    .to_owned()
            };
            assert_eq!(v["details"], json!({key: [msg]}), "{list}?{q}");
        }
    }
    // Members lists take no metadata filter.
    let org = app.create_org(json!({"name": "Acme"})).await;
    let res = app
        .get(&format!(
            "/organizations/{}/members?metadata[a]=x",
            org["id"].as_str().unwrap()
        ))
        .await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"metadata[a]": ["Unknown query parameter: metadata[a]"]})
    );
}

#[tokio::test]
async fn memberships_carry_metadata() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Acme"})).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    let u = app.create_user("Ann Lee", "ann@example.com").await;
    let uid = u["id"].as_str().unwrap().to_owned();
    let (m, text) = body(
        app.post(
            &format!("/organizations/{oid}/members"),
            &json!({"userId": uid, "role": "admin", "metadata": {"seat": "a-12"}}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        known(&m),
        json!({"userId": uid, "organizationId": oid, "role": "admin",
               "user": {"id": uid, "name": "Ann Lee", "email": "ann@example.com"},
               "metadata": {"seat": "a-12"}})
    );
    assert!(
        text.ends_with(r#"Z","metadata":{"seat":"a-12"}}"#),
        "{text}"
    );
    let path = format!("/organizations/{oid}/members/{}", m["id"].as_str().unwrap());
    // Metadata alone, role alone, and both: each replaces what it names.
    let (up, _) = body(
        app.patch(&path, &json!({"metadata": {"seat": "b-1"}}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (up["role"].clone(), up["metadata"].clone()),
        (json!("admin"), json!({"seat": "b-1"}))
    );
    let (up, _) = body(put(&app, &path, &json!({"role": "owner"})).await, 200).await;
    assert_eq!(
        (up["role"].clone(), up["metadata"].clone()),
        (json!("owner"), json!({"seat": "b-1"}))
    );
    let (got, _) = body(app.get(&path).await, 200).await;
    assert_eq!(got, up);
    let (list, _) = body(app.get(&format!("/organizations/{oid}/members")).await, 200).await;
    assert_eq!(list["data"][0], up);
    let res = app.patch(&path, &json!({})).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["details"], json!({"role": ["Role is required"]}));
    let res = app.patch(&path, &json!({"metadata": "x"})).await;
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"metadata": ["Metadata must be a JSON object"]})
    );
    // A member without metadata has {}.
    let bo = app.create_user("Bo Chan", "bo@example.com").await;
    let m = app
        .add_member(&oid, bo["id"].as_str().unwrap(), "customer")
        .await;
    assert_eq!(m["metadata"], json!({}));
}

#[tokio::test]
async fn events_name_external_id_and_metadata_when_they_change() {
    let app = spawn_app().await;
    let u = app.create_user("Ann Lee", "ann@example.com").await;
    let id = u["id"].as_str().unwrap().to_owned();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"externalId": "e-1", "metadata": {"a": 1}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The same values again change nothing (key order does not matter).
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"externalId": "e-1", "metadata": {"a": 1}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let org = app.create_org(json!({"name": "Acme"})).await;
    let res = put(
        &app,
        "/organizations/acme",
        &json!({"metadata": {"b": 2, "a": 1}}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = put(
        &app,
        "/organizations/acme",
        &json!({"metadata": {"a": 1, "b": 2}}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let m = app
        .add_member(org["id"].as_str().unwrap(), &id, "customer")
        .await;
    let res = app
        .patch(
            &format!("/organizations/acme/members/{}", m["id"].as_str().unwrap()),
            &json!({"metadata": {"x": true}, "role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (v, _) = body(app.get("/events?per_page=100").await, 200).await;
    let updates: Vec<(String, Value)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().ends_with(".updated"))
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["changes"].clone()))
        .collect();
    let mut updates = updates;
    updates.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        updates,
        [
            ("membership.updated".to_owned(), json!(["role", "metadata"])),
            ("organization.updated".to_owned(), json!(["metadata"])),
            ("user.updated".to_owned(), json!(["externalId", "metadata"])),
        ]
    );
}

#[tokio::test]
async fn the_etag_changes_when_metadata_changes() {
    let app = spawn_app().await;
    let u = app.create_user("Ann Lee", "ann@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_owned();
    let a = etag(&app.get(&path).await);
    let res = app.patch(&path, &json!({"metadata": {"a": 1}})).await;
    let b = etag(&res);
    assert_ne!(a, b);
    // The old ETag no longer matches.
    let res = app
        .req(Method::PATCH, &path)
        .header("If-Match", &a)
        .json(&json!({"metadata": {"a": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
    let res = app
        .req(Method::GET, &path)
        .header("If-None-Match", &b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

/// Runs the `invois` binary with `args` (no INVOIS_* from the environment) and `stdin`.
fn cli(args: &[String], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("INVOIS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn invois");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "invois {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export(engine: &[String]) -> Value {
    let mut args = vec!["export".to_owned(), "-".to_owned()];
    args.extend_from_slice(engine);
    serde_json::from_slice(&cli(&args, None)).expect("export is JSON")
}

/// The document without the moment it was made.
fn content(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().unwrap().remove("exportedAt");
    doc
}

#[tokio::test]
async fn export_and_import_keep_external_ids_and_metadata() {
    let app = spawn_app().await;
    let u = app
        .post(
            "/users",
            &json!({"name": "Ann Lee", "email": "ann@example.com", "externalId": "u-1",
                    "metadata": {"plan": "gold", "n": 1.5}}),
        )
        .await;
    assert_eq!(u.status(), 201);
    let org = app
        .create_org(
            json!({"name": "Acme", "externalId": "o-1", "metadata": {"k": [1, {"a": null}]}}),
        )
        .await;
    let uid = app
        .get("/users?externalId=u-1")
        .await
        .json::<Value>()
        .await
        .unwrap()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/organizations/{}/members", org["id"].as_str().unwrap()),
            &json!({"userId": uid, "metadata": {"seat": 3}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let a = export(&app.engine_args());
    assert_eq!(a["users"][0]["externalId"], "u-1");
    assert_eq!(a["users"][0]["metadata"], json!({"n": 1.5, "plan": "gold"}));
    assert_eq!(a["organizations"][0]["externalId"], "o-1");
    assert_eq!(
        a["organizations"][0]["metadata"],
        json!({"k": [1, {"a": null}]})
    );
    assert_eq!(a["memberships"][0]["metadata"], json!({"seat": 3}));
    let dir = tempfile::tempdir().unwrap();
    let target = fresh_engine_args(&dir.path().join("copy.db"));
    let mut args = vec!["import".to_owned(), "-".to_owned()];
    args.extend_from_slice(&target);
    cli(&args, Some(a.to_string().as_bytes()));
    assert_eq!(content(&export(&target)), content(&a));

    // A version-2 document from before these fields imports with null and {}.
    let mut old = a.clone();
    for table in ["users", "organizations"] {
        for row in old[table].as_array_mut().unwrap() {
            let o = row.as_object_mut().unwrap();
            o.remove("externalId");
            o.remove("metadata");
        }
    }
    old["memberships"][0]
        .as_object_mut()
        .unwrap()
        .remove("metadata");
    let target = fresh_engine_args(&dir.path().join("old.db"));
    let mut args = vec!["import".to_owned(), "-".to_owned()];
    args.extend_from_slice(&target);
    cli(&args, Some(old.to_string().as_bytes()));
    let b = export(&target);
    assert_eq!(b["users"][0]["externalId"], Value::Null);
    assert_eq!(b["users"][0]["metadata"], json!({}));
    assert_eq!(b["organizations"][0]["metadata"], json!({}));
    assert_eq!(b["memberships"][0]["metadata"], json!({}));
}
