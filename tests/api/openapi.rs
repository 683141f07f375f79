//! The OpenAPI document covers exactly the mounted routes; the docs page works offline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::spawn_app;

/// Every mounted (method, path), read from the `configure()` functions in `src/routes/`
/// (health.rs, openapi.rs, users.rs, orgs.rs, members.rs, tiers.rs, keys.rs, events.rs).
/// The Swagger UI under `/docs` is a page, not an API operation, and is not listed.
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
