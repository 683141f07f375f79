//! The published pages' examples run unchanged against the demo data: each request of the
//! seeds (000–003) with the seeds' own headers — the JavaScript examples send
//! `Content-Type: application/json` on GETs without a body — and each answer has the
//! documented shape: the documented fields first, in the documented order, with the
//! documented JSON types (SPEC §6: additions come after them).

use std::fmt::Write as _;

use reqwest::{Method, Response};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// JSON with the order of object keys kept (serde_json's `Value` sorts them).
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Null,
    Bool,
    Number,
    String,
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Number)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::String)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element()? {
                    out.push(x);
                }
                Ok(Ordered::Array(out))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Ordered, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Ordered>()? {
                    out.push((k, v));
                }
                Ok(Ordered::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The shape of a JSON text, key order kept.
pub fn ordered(text: &str) -> Ordered {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The keys of an object, in order.
pub fn keys(v: &Ordered) -> Vec<&str> {
    match v {
        Ordered::Object(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
        other => panic!("not an object: {other:?}"),
    }
}

pub fn field<'a>(v: &'a Ordered, name: &str) -> &'a Ordered {
    match v {
        Ordered::Object(fields) => &fields.iter().find(|(k, _)| k == name).unwrap().1,
        other => panic!("not an object: {other:?}"),
    }
}

/// Why `actual` does not have the documented shape, if it does not. A documented `null`
/// stands for a nullable field (anything or null); a documented array's items are the
/// shapes an item may take.
fn mismatch(doc: &Ordered, actual: &Ordered, at: &str) -> Option<String> {
    match (doc, actual) {
        (Ordered::Null, _) => None,
        (Ordered::Object(d), Ordered::Object(a)) => {
            let dk: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
            let ak: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
            if ak.len() < dk.len() || ak[..dk.len()] != dk[..] {
                return Some(format!("{at}: keys {ak:?}, documented first {dk:?}"));
            }
            d.iter()
                .zip(a)
                .find_map(|((k, dv), (_, av))| mismatch(dv, av, &format!("{at}.{k}")))
        }
        (Ordered::Array(d), Ordered::Array(a)) => {
            if d.is_empty() {
                return None;
            }
            a.iter().enumerate().find_map(|(i, item)| {
                let at = format!("{at}[{i}]");
                let all: Vec<String> = d.iter().filter_map(|s| mismatch(s, item, &at)).collect();
                (all.len() == d.len()).then(|| all.join("; "))
            })
        }
        (d, a) if d == a => None,
        (d, a) => Some(format!("{at}: {a:?}, documented {d:?}")),
    }
}

fn assert_shape(documented: &str, actual: &str) {
    assert_shape_nullable(documented, &[], actual);
}

/// As [`assert_shape`], with the top-level fields `nullable` (the page's optional fields)
/// documented as nullable.
fn assert_shape_nullable(documented: &str, nullable: &[&str], actual: &str) {
    let mut doc = ordered(documented);
    if let Ordered::Object(fields) = &mut doc {
        for (k, v) in fields {
            if nullable.contains(&k.as_str()) {
                *v = Ordered::Null;
            }
        }
    }
    if let Some(m) = mismatch(&doc, &ordered(actual), "$") {
        panic!("{m}\nin {actual}");
    }
}

/// Seed 003's optional fields ("Required: No").
const SEED_003_OPTIONAL: &[&str] = &["firstName", "lastName", "phone", "dob"];

/// The seeds' two ways of calling: curl (the key only) and JavaScript (the key and
/// `Content-Type: application/json`, also on GETs without a body).
fn seed_request(app: &TestApp, method: Method, path: &str, js: bool) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .request(method, format!("{}/api/integrations{path}", app.address))
        .header("X-Invois-Key", &app.key);
    if js {
        req = req.header("Content-Type", "application/json");
    }
    req
}

async fn ok_text(res: Response) -> String {
    let status = res.status();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(ct.starts_with("application/json"), "{ct}");
    text
}

async fn demo_app() -> TestApp {
    let app = spawn_app().await;
    app.load_demo().await;
    app
}

// The documented responses, copied from the published pages (the seeds).

const SEED_000: &str = r#"{
"data": [
{
"id": "org-123",
"name": "Acme Corporation",
"slug": "acme-corp",
"logo": "https://example.com/logos/acme.png",
"memberCount": 25,
"premiumTier": {
"id": "tier-premium",
"name": "Premium",
"features": ["advanced-reporting", "priority-support"]
},
"membership": {
"id": "member-456",
"role": "admin",
"createdAt": "2024-01-15T10:30:00Z"
},
"createdAt": "2024-01-10T08:00:00Z"
},
{
"id": "org-789",
"name": "Tech Startup Inc",
"slug": "tech-startup",
"logo": null,
"memberCount": 8,
"premiumTier": null,
"membership": {
"id": "member-789",
"role": "customer",
"createdAt": "2024-01-20T14:15:00Z"
},
"createdAt": "2024-01-18T12:30:00Z"
}
],
"meta": {
"total": 2,
"count": 2
}
}"#;

const SEED_001: &str = r#"{
"id": "org-123",
"name": "Acme Corporation",
"slug": "acme-corp",
"logo": "https://example.com/logos/acme.png",
"memberCount": 25,
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
"user": {
"id": "user-789",
"name": "John Doe",
"email": "john@acme.com"
},
"createdAt": "2024-01-15T10:30:00Z"
},
{
"id": "member-789",
"userId": "user-123",
"role": "customer",
"user": {
"id": "user-123",
"name": "Jane Smith",
"email": "jane@acme.com"
},
"createdAt": "2024-01-20T14:15:00Z"
}
],
"createdAt": "2024-01-10T08:00:00Z"
}"#;

const SEED_002: &str = r#"{
  "data": [
    {
      "id": "org-123",
      "name": "Acme Corporation",
      "slug": "acme-corp",
      "logo": "https://example.com/logos/acme.png",
      "memberCount": 25,
      "premiumTier": {
        "id": "tier-premium",
        "name": "Premium",
        "features": ["advanced-reporting", "priority-support"]
      },
      "createdAt": "2024-01-10T08:00:00Z"
    },
    {
      "id": "org-456",
      "name": "Tech Startup Inc",
      "slug": "tech-startup",
      "logo": null,
      "memberCount": 8,
      "premiumTier": null,
      "createdAt": "2024-01-18T12:30:00Z"
    }
  ],
  "meta": {
    "total": 150,
    "per_page": 10,
    "current_page": 1,
    "last_page": 15,
    "from": 1,
    "to": 10
  }
}"#;

const SEED_003_RESPONSE: &str = r#"{
"id": "user-456",
"name": "Jane Smith",
"firstName": "Jane",
"lastName": "Smith",
"email": "jane@example.com",
"phone": "+1234567890",
"dob": "1985-03-20",
"role": "customer",
"members": [],
"createdAt": "2024-01-15T14:30:00Z",
"updatedAt": "2024-01-15T14:30:00Z"
}"#;

/// The body of seed 003's curl example, byte for byte.
const SEED_003_CURL_BODY: &str = r#"{
"name": "Jane Smith",
"email": "jane@example.com",
"role": "customer"
}"#;

/// `JSON.stringify(userData)` of seed 003's JavaScript example.
const SEED_003_JS_BODY: &str = r#"{"name":"Jane Smith","firstName":"Jane","lastName":"Smith","email":"jane@example.com","role":"customer"}"#;

#[tokio::test]
async fn seed_000_a_users_organizations_as_curl_and_javascript_send_it() {
    let app = demo_app().await;
    for js in [false, true] {
        let res = seed_request(&app, Method::GET, "/users/user-123/organizations", js)
            .send()
            .await
            .unwrap();
        let text = ok_text(res).await;
        assert_shape(SEED_000, &text);
        let v: Value = serde_json::from_str(&text).unwrap();
        // The JavaScript example logs `meta.total`.
        assert_eq!(v["meta"], json!({"total": 2, "count": 2}));
        assert_eq!(v["data"][0]["premiumTier"]["id"], "tier-premium");
        assert_eq!(v["data"][1]["premiumTier"], Value::Null);
    }
}

#[tokio::test]
async fn seed_001_an_organization_as_curl_and_javascript_send_it() {
    let app = demo_app().await;
    for js in [false, true] {
        let res = seed_request(&app, Method::GET, "/organizations/org-123", js)
            .send()
            .await
            .unwrap();
        let text = ok_text(res).await;
        assert_shape(SEED_001, &text);
        let v: Value = serde_json::from_str(&text).unwrap();
        // The JavaScript example logs `name` and `memberCount`.
        assert_eq!(
            (&v["name"], &v["memberCount"]),
            (&json!("Acme Corporation"), &json!(2))
        );
    }
}

#[tokio::test]
async fn seed_002_every_list_example_as_curl_and_javascript_send_it() {
    let app = demo_app().await;
    let calls = [
        ("/organizations", false),
        ("/organizations?query=acme", false),
        ("/organizations?page=2&per_page=20", false),
        ("/organizations?query=tech&page=1", true),
        ("/organizations", true),
    ];
    for (path, js) in calls {
        let res = seed_request(&app, Method::GET, path, js)
            .send()
            .await
            .unwrap();
        let text = ok_text(res).await;
        assert_shape(SEED_002, &text);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(!v["data"].as_array().unwrap().is_empty(), "{path}: {text}");
        assert!(v["meta"]["total"].as_i64().unwrap() > 0, "{path}");
    }
    let page2: Value = seed_request(
        &app,
        Method::GET,
        "/organizations?page=2&per_page=20",
        false,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            &page2["meta"]["per_page"],
            &page2["meta"]["current_page"],
            &page2["meta"]["from"],
            &page2["meta"]["to"]
        ),
        (&json!(20), &json!(2), &json!(21), &json!(40))
    );
    let tech: Value = seed_request(&app, Method::GET, "/organizations?query=tech&page=1", true)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tech["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Tech Startup Inc"), "{names:?}");
}

async fn post_user(app: &TestApp, body: &str, js: bool) -> Response {
    let mut req = seed_request(app, Method::POST, "/users", js);
    if !js {
        // curl's -H "Content-Type: application/json"
        req = req.header("Content-Type", "application/json");
    }
    req.body(body.to_owned()).send().await.unwrap()
}

#[tokio::test]
async fn seed_003_the_curl_example_creates_the_documented_user() {
    let app = demo_app().await;
    let res = post_user(&app, SEED_003_CURL_BODY, false).await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert_shape_nullable(SEED_003_RESPONSE, SEED_003_OPTIONAL, &text);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            &v["name"],
            &v["email"],
            &v["role"],
            &v["firstName"],
            &v["members"]
        ),
        (
            &json!("Jane Smith"),
            &json!("jane@example.com"),
            &json!("customer"),
            &Value::Null,
            &json!([])
        )
    );
    // Sent again (here: the JavaScript example, same email), it is the documented 409.
    let res = post_user(&app, SEED_003_JS_BODY, true).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"error":"Conflict","message":"Email already exists","code":"conflict","details":{"email":["Email is already taken"]}}"#
    );
}

#[tokio::test]
async fn seed_003_the_javascript_example_creates_the_documented_user() {
    let app = demo_app().await;
    let res = post_user(&app, SEED_003_JS_BODY, true).await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert_shape_nullable(SEED_003_RESPONSE, SEED_003_OPTIONAL, &text);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&v["firstName"], &v["lastName"]),
        (&json!("Jane"), &json!("Smith"))
    );
}

#[tokio::test]
async fn seed_003_the_validation_error_example_is_produced_byte_for_byte() {
    let app = demo_app().await;
    assert_eq!(
        post_user(&app, SEED_003_CURL_BODY, false).await.status(),
        201
    );
    // A taken email and no name: seed 003's "Validation Error Example", plus `code`.
    let res = post_user(&app, r#"{"email": "jane@example.com"}"#, true).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"error":"Validation Error","message":"The request contains invalid data","code":"validation_error","details":{"email":["Email is already taken"],"name":["Name is required"]}}"#
    );
}

#[tokio::test]
async fn every_get_answers_200_with_a_json_content_type_and_no_body() {
    let app = demo_app().await;
    let mut failures = String::new();
    for path in [
        "/users",
        "/users/user-123",
        "/users/user-123/organizations",
        "/organizations",
        "/organizations/org-123",
        "/organizations/acme-corp",
        "/organizations/org-123/members",
        "/organizations/org-123/members/member-789",
        "/tiers",
        "/tiers/tier-premium",
        "/keys",
        "/events",
        "/openapi.json",
    ] {
        let res = seed_request(&app, Method::GET, path, true)
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            let _ = writeln!(failures, "{path}: {}", res.status());
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn the_shape_check_catches_missing_reordered_and_mistyped_fields() {
    let doc = r#"{"id": "x", "n": 1, "t": null, "a": [{"k": "v"}]}"#;
    assert!(mismatch(
        &ordered(doc),
        &ordered(r#"{"id":"y","n":2,"t":{"z":1},"a":[{"k":"w","extra":1}],"more":0}"#),
        "$"
    )
    .is_none());
    for bad in [
        r#"{"n":1,"id":"y","t":null,"a":[]}"#,
        r#"{"id":"y","t":null,"a":[]}"#,
        r#"{"id":1,"n":1,"t":null,"a":[]}"#,
        r#"{"id":"y","n":1,"t":null,"a":[{"j":"v"}]}"#,
    ] {
        assert!(
            mismatch(&ordered(doc), &ordered(bad), "$").is_some(),
            "{bad}"
        );
    }
    assert_eq!(keys(&ordered(doc)), ["id", "n", "t", "a"]);
    assert_eq!(field(&ordered(doc), "t"), &Ordered::Null);
}
