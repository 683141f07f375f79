//! The OpenAPI document covers exactly the mounted routes; the docs page works offline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::spawn_app;

/// Every mounted (method, path), read from the `configure()` functions in `src/routes/`
/// (health.rs, openapi.rs, users.rs, orgs.rs, members.rs, tiers.rs, keys.rs, events.rs).
/// The Swagger UI under `/docs` is a page, not an API operation, and is not listed; nor is
/// `/metrics` (Prometheus text for operators, on the main listener or an address of its own).
/// A route added to the server must be added here, and to the document.
const ROUTES: &[(&str, &str)] = &[
    // health.rs (outside /api)
    ("get", "/healthz"),
    ("get", "/readyz"),
    // openapi.rs
    ("get", "/api/integrations/openapi.json"),
    // users.rs
    ("get", "/api/integrations/users"),
    ("post", "/api/integrations/users"),
    ("get", "/api/integrations/users/{id}"),
    ("put", "/api/integrations/users/{id}"),
    ("patch", "/api/integrations/users/{id}"),
    ("delete", "/api/integrations/users/{id}"),
    ("get", "/api/integrations/users/{id}/organizations"),
    // orgs.rs
    ("get", "/api/integrations/organizations"),
    ("post", "/api/integrations/organizations"),
    ("get", "/api/integrations/organizations/{id}"),
    ("put", "/api/integrations/organizations/{id}"),
    ("patch", "/api/integrations/organizations/{id}"),
    ("delete", "/api/integrations/organizations/{id}"),
    // members.rs
    ("get", "/api/integrations/organizations/{id}/members"),
    ("post", "/api/integrations/organizations/{id}/members"),
    (
        "get",
        "/api/integrations/organizations/{id}/members/{memberId}",
    ),
    (
        "put",
        "/api/integrations/organizations/{id}/members/{memberId}",
    ),
    (
        "patch",
        "/api/integrations/organizations/{id}/members/{memberId}",
    ),
    (
        "delete",
        "/api/integrations/organizations/{id}/members/{memberId}",
    ),
    // tiers.rs
    ("get", "/api/integrations/tiers"),
    ("post", "/api/integrations/tiers"),
    ("get", "/api/integrations/tiers/{id}"),
    ("put", "/api/integrations/tiers/{id}"),
    ("patch", "/api/integrations/tiers/{id}"),
    ("delete", "/api/integrations/tiers/{id}"),
    // keys.rs
    ("get", "/api/integrations/keys"),
    ("post", "/api/integrations/keys"),
    ("delete", "/api/integrations/keys/{id}"),
    // webhooks.rs
    ("get", "/api/integrations/webhooks"),
    ("post", "/api/integrations/webhooks"),
    ("get", "/api/integrations/webhooks/{id}"),
    ("put", "/api/integrations/webhooks/{id}"),
    ("patch", "/api/integrations/webhooks/{id}"),
    ("delete", "/api/integrations/webhooks/{id}"),
    ("post", "/api/integrations/webhooks/{id}/rotate-secret"),
    ("post", "/api/integrations/webhooks/{id}/test"),
    ("get", "/api/integrations/webhooks/{id}/deliveries"),
    (
        "post",
        "/api/integrations/webhooks/{id}/deliveries/{deliveryId}/retry",
    ),
    ("post", "/api/integrations/keys/{id}/rotate"),
    // events.rs
    ("get", "/api/integrations/events"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document() -> Value {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/integrations/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// Every (method, path) operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/integrations/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: Value = res.json().await.unwrap();
    let version = v["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(v["info"]["title"].is_string());
}

#[tokio::test]
async fn every_mounted_route_is_in_the_openapi_document() {
    let doc = document().await;
    let ops = operations(&doc);
    let missing: Vec<_> = ROUTES
        .iter()
        .filter(|(m, p)| !ops.contains(&((*m).to_owned(), (*p).to_owned())))
        .collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
}

#[tokio::test]
async fn the_openapi_document_has_no_operation_that_is_not_mounted() {
    let doc = document().await;
    let mounted: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let extra: Vec<_> = operations(&doc).difference(&mounted).cloned().collect();
    assert!(extra.is_empty(), "documented but not mounted: {extra:?}");
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for p in doc["paths"].as_object().unwrap().keys() {
        assert!(paths.contains(p.as_str()), "unknown path {p}");
    }
}

#[tokio::test]
async fn every_listed_route_is_really_mounted() {
    // Guards the list itself: each route answers something other than "no such route".
    let app = spawn_app().await;
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "x-none")
            .replace("{memberId}", "member-none");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = app
            .client
            .request(m, format!("{}{concrete}", app.address))
            .header("X-Invois-Key", &app.key);
        if matches!(*method, "post" | "put" | "patch") {
            req = req.json(&serde_json::json!({}));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            !(status == 404 && v["message"] == "No such route") && status != 405,
            "{method} {path}: {status} {v}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_declares_the_api_key_header() {
    let doc = document().await;
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "X-Invois-Key");
}

#[tokio::test]
async fn the_docs_page_is_served_as_html() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
}

#[tokio::test]
async fn the_docs_path_without_a_trailing_slash_leads_to_the_docs_page() {
    let app = spawn_app().await;
    // reqwest follows the redirect, as a browser would.
    let res = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.url().path(), "/docs/");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
}

#[tokio::test]
async fn the_docs_page_loads_its_assets_from_the_server_not_a_cdn() {
    let app = spawn_app().await;
    let html = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                !url.starts_with("http://")
                    && !url.starts_with("https://")
                    && !url.starts_with("//"),
                "external asset {url}"
            );
            assets.push(url.trim_start_matches("./").to_owned());
        }
    }
    assert!(!assets.is_empty(), "no assets in {html}");
    for a in assets {
        let url = if a.starts_with('/') {
            format!("{}{a}", app.address)
        } else {
            format!("{}/docs/{a}", app.address)
        };
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
    }
}

/// Every operation of the document: `(method, path, operation)`.
fn each_operation(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// The component schema a `$ref` names.
fn schema<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let name = reference
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a component $ref: {reference}"));
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn every_operation_has_a_unique_camel_case_operation_id() {
    let doc = document().await;
    let mut seen = BTreeSet::new();
    for (method, path, op) in each_operation(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}"));
        assert!(
            id.chars().next().unwrap().is_ascii_lowercase()
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: {id}"
        );
        assert!(seen.insert(id.to_owned()), "{id} repeats");
    }
    for id in [
        "listUsers",
        "createUser",
        "getUser",
        "updateUser",
        "patchUser",
        "deleteUser",
        "listUserOrganizations",
        "listOrganizations",
        "createOrganization",
        "getOrganization",
        "updateOrganization",
        "patchOrganization",
        "deleteOrganization",
    ] {
        assert!(seen.contains(id), "{id} missing");
    }
    let put = &doc["paths"]["/api/integrations/users/{id}"];
    assert_eq!(put["put"]["operationId"], "updateUser");
    assert_eq!(put["patch"]["operationId"], "patchUser");
}

#[tokio::test]
async fn every_request_body_is_a_required_typed_schema() {
    let doc = document().await;
    let mut bodies = 0;
    for (method, path, op) in each_operation(&doc) {
        let Some(rb) = op.get("requestBody") else {
            let bodiless = match method.as_str() {
                "put" | "patch" => false,
                "post" => {
                    path.ends_with("/rotate")
                        || path.ends_with("/rotate-secret")
                        || path.ends_with("/test")
                        || path.ends_with("/retry")
                }
                _ => true,
            };
            assert!(bodiless, "{method} {path} has no request body");
            continue;
        };
        bodies += 1;
        assert_eq!(rb["required"], true, "{method} {path}");
        let reference = &rb["content"]["application/json"]["schema"]["$ref"];
        let s = schema(&doc, reference);
        assert_eq!(s["type"], "object", "{method} {path}");
        assert_eq!(s["additionalProperties"], false, "{method} {path}");
        assert!(
            !s["properties"].as_object().unwrap().is_empty(),
            "{method} {path}"
        );
    }
    assert_eq!(bodies, 16);
}

#[tokio::test]
async fn no_schema_is_a_bare_object() {
    fn walk(v: &Value, at: &str) {
        match v {
            Value::Object(m) => {
                let is_object = m.get("type").is_some_and(|t| {
                    t == "object" || t.as_array().is_some_and(|a| a.contains(&"object".into()))
                });
                assert!(
                    !is_object
                        || m.contains_key("properties")
                        || m.contains_key("additionalProperties"),
                    "bare object at {at}"
                );
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, at)),
            _ => {}
        }
    }
    walk(&document().await, "");
}

/// Where to send each request body of the document, on the demo data.
const BODY_TARGETS: &[(&str, &str, &str)] = &[
    ("post", "/api/integrations/users", "/users"),
    ("put", "/api/integrations/users/{id}", "/users/user-123"),
    ("patch", "/api/integrations/users/{id}", "/users/user-123"),
    ("post", "/api/integrations/organizations", "/organizations"),
    (
        "put",
        "/api/integrations/organizations/{id}",
        "/organizations/org-123",
    ),
    (
        "patch",
        "/api/integrations/organizations/{id}",
        "/organizations/org-123",
    ),
    (
        "post",
        "/api/integrations/organizations/{id}/members",
        "/organizations/org-456/members",
    ),
    (
        "put",
        "/api/integrations/organizations/{id}/members/{memberId}",
        "/organizations/org-123/members/member-789",
    ),
    (
        "patch",
        "/api/integrations/organizations/{id}/members/{memberId}",
        "/organizations/org-123/members/member-789",
    ),
    ("post", "/api/integrations/tiers", "/tiers"),
    ("put", "/api/integrations/tiers/{id}", "/tiers/tier-premium"),
    (
        "patch",
        "/api/integrations/tiers/{id}",
        "/tiers/tier-premium",
    ),
    ("post", "/api/integrations/keys", "/keys"),
];

/// Asserts that `example` has exactly the properties of `s`, nested objects alike.
fn assert_example_covers(doc: &Value, s: &Value, example: &Value, at: &str) {
    let props: BTreeSet<&String> = s["properties"].as_object().unwrap().keys().collect();
    let given: BTreeSet<&String> = example.as_object().unwrap().keys().collect();
    assert_eq!(props, given, "{at}: the example must use every property");
    for (name, p) in s["properties"].as_object().unwrap() {
        let reference = p.get("$ref").or_else(|| p["oneOf"][0].get("$ref"));
        if let Some(r) = reference {
            let inner = schema(doc, r);
            // Objects with properties (limits); free-form ones (metadata) have none to cover.
            if inner["type"] == "object" && inner.get("properties").is_some() {
                assert_example_covers(doc, inner, &example[name], &format!("{at}.{name}"));
            }
        }
    }
}

#[tokio::test]
async fn every_request_schema_has_exactly_the_fields_the_server_reads() {
    let app = spawn_app().await;
    app.load_demo().await;
    let doc: Value = app
        .client
        .get(app.url("/api/integrations/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (method, path, target) in BODY_TARGETS {
        let op = &doc["paths"][path][method];
        let s = schema(
            &doc,
            &op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        );
        let example = &s["example"];
        let what = format!("{method} {path}");
        assert_example_covers(&doc, s, example, &what);
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();

        // One property more than the schema has: refused, naming it.
        let mut extra = example.clone();
        extra["zzExtra"] = Value::from(1);
        let res = app
            .req(m.clone(), target)
            .json(&extra)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{what}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            v["details"],
            serde_json::json!({"zzExtra": ["Unknown field: zzExtra"]}),
            "{what}"
        );

        // Every property of the schema: accepted.
        let res = app.req(m, target).json(example).send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(status.is_success(), "{what}: {status} {body}");
    }
}

#[tokio::test]
async fn list_query_parameters_are_typed_and_each_is_accepted() {
    let app = spawn_app().await;
    let doc = document().await;
    let lists = [
        ("/api/integrations/users", "/users"),
        ("/api/integrations/organizations", "/organizations"),
        (
            "/api/integrations/organizations/{id}/members",
            "/organizations/org-x/members",
        ),
        ("/api/integrations/tiers", "/tiers"),
        ("/api/integrations/events", "/events"),
    ];
    let org = app
        .create_org(serde_json::json!({"name": "Query Co", "slug": "org-x"}))
        .await;
    assert_eq!(org["slug"], "org-x");
    for (path, target) in lists {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let s = &p["schema"];
            assert!(s["type"].is_string(), "{path} {name}: {s}");
            let value = match name {
                "page" => {
                    assert_eq!(
                        (&s["type"], &s["minimum"], &s["default"]),
                        (&"integer".into(), &1.into(), &1.into()),
                        "{path}"
                    );
                    "1".to_owned()
                }
                "per_page" => {
                    assert_eq!(
                        (&s["type"], &s["minimum"], &s["maximum"], &s["default"]),
                        (&"integer".into(), &1.into(), &100.into(), &10.into()),
                        "{path}"
                    );
                    "100".to_owned()
                }
                // Events are walked by event id; the other lists start from an empty cursor.
                "after" if target == "/events" => {
                    let page: Value = app.get("/events").await.json().await.unwrap();
                    page["data"][0]["id"].as_str().unwrap().to_owned()
                }
                "after" => String::new(),
                _ => match s["enum"].as_array() {
                    Some(e) => e.last().unwrap().as_str().unwrap().to_owned(),
                    None => "x".to_owned(),
                },
            };
            if name == "role" || name == "sort" {
                assert!(s["enum"].is_array(), "{path} {name} is an enum");
            }
            let res = app
                .req(reqwest::Method::GET, target)
                .query(&[(name, value.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}?{name}={value}");
        }
    }
}

#[tokio::test]
async fn the_documented_headers_are_declared() {
    let doc = document().await;
    for (method, path, op) in each_operation(&doc) {
        let what = format!("{method} {path}");
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| p["in"] == "header")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let secured = op.get("security").is_some();
        for (status, r) in op["responses"].as_object().unwrap() {
            let headers = &r["headers"];
            if secured && status != "401" {
                for h in [
                    "X-RateLimit-Limit",
                    "X-RateLimit-Remaining",
                    "X-RateLimit-Reset",
                    "X-RateLimit-Window",
                ] {
                    assert!(headers.get(h).is_some(), "{what} {status}: {h}");
                }
                assert_eq!(
                    headers["X-RateLimit-Reset"]["schema"]["format"],
                    "date-time"
                );
            }
            if status == "429" {
                assert!(headers.get("Retry-After").is_some(), "{what}");
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/RateLimitError"
                );
            }
            if status == "201" {
                assert!(headers.get("Location").is_some(), "{what}");
            }
            if status == "200"
                && method != "post"
                && !path.ends_with("}/organizations")
                && op["responses"].get("304").is_some()
            {
                assert!(headers.get("ETag").is_some(), "{what}");
            }
        }
        if secured {
            for s in ["401", "403", "429", "400"] {
                assert!(op["responses"].get(s).is_some(), "{what}: {s}");
            }
        }
        let honours_if_match =
            matches!(method.as_str(), "put" | "patch" | "delete") && !path.contains("/keys/");
        assert_eq!(
            params.contains(&"If-Match"),
            honours_if_match,
            "{what}: If-Match"
        );
        // Every POST honours it: the creates, key creation and key rotation.
        // The webhook actions (rotate-secret, test, retry) do not honour it yet (issue 14).
        let idempotent_create = method == "post"
            && !(path.starts_with("/api/integrations/webhooks/")
                && (path.ends_with("/rotate-secret")
                    || path.ends_with("/test")
                    || path.ends_with("/retry")));
        assert_eq!(
            params.contains(&"Idempotency-Key"),
            idempotent_create,
            "{what}: Idempotency-Key"
        );
        if matches!(method.as_str(), "get")
            && path.contains('{')
            && !path.ends_with("/organizations")
            && !path.ends_with("/members")
            // ETags (and If-Match) on webhooks: not yet (issue 14, see the branch's report).
            && !path.starts_with("/api/integrations/webhooks/")
        {
            assert!(
                op["responses"]["200"]["headers"].get("ETag").is_some(),
                "{what}: ETag"
            );
        }
    }
}
