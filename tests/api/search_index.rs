//! The in-memory organization search index (`[cache] search_index_mb`): a server answering
//! from it gives the same bytes as one answering by SQL (the index off), for every kind of
//! term, page and cursor; and a write through another instance is seen at once, never the
//! stale index.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{blocking, spawn_app_with, TestApp};

/// A second server on `first`'s database, `tweak`ed, with `first`'s key.
async fn on_same_database(first: &TestApp, tweak: impl Fn(&mut invois::config::Config)) -> TestApp {
    let path = first.config.database.path.clone();
    let url = first.config.database.url.clone();
    let mut second = spawn_app_with(|c| {
        tweak(c);
        c.database.path.clone_from(&path);
        c.database.url.clone_from(&url);
    })
    .await;
    // On PostgreSQL the database made for the second server is not the one it serves.
    second.pg_database = None;
    second.key.clone_from(&first.key);
    second
}

/// The `organizations_version` now, and the version of `app`'s index (if it holds one).
async fn versions(app: &TestApp) -> (i64, Option<i64>) {
    let db = app.db.clone();
    let now = blocking(move || {
        db.read_blocking(|c| invois::storage::counter(c, "organizations_version"))
            .expect("version")
    })
    .await;
    let held = app.db.org_caches().names().held().map(|i| i.version());
    (now, held)
}

/// Waits until `app`'s index is at the current version (a search asks for the build).
async fn index_ready(app: &TestApp) {
    for _ in 0..1500 {
        let (now, held) = versions(app).await;
        if held == Some(now) {
            return;
        }
        let res = app.get("/organizations?query=x").await;
        assert_eq!(res.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the search index was not built within 30 s");
}

/// Status and body bytes of a GET.
async fn raw(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.req(Method::GET, path).send().await.expect("send");
    (res.status().as_u16(), res.text().await.expect("body"))
}

const NAMES: &[&str] = &[
    "100% Pure_Juice \\ Co",
    "50%_off\\sale",
    "Under_score Ltd",
    "日本語 Trading",
    "東京 Bakery",
    "本田 Motors",
    "MÜLLER GmbH",
    "Müller AG",
    "Mueller Partners",
    "Café Zeta",
    "CAFE\u{301} Alpha",
    "Same Name",
    "Same Name",
    "Same Name",
    "Acme",
    "AC",
    "A1",
    "Zeta Trading Sdn Bhd",
    "Trade Winds",
    "Golden Bakery",
    "ΣΟΦΙΑ Σ",
    "Quick Brown Fox",
];

/// Request paths under `/api/integrations`: every kind of term, pages and page sizes.
fn paths() -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for term in [
        "a",
        "e",
        "z",
        "ac",
        "me",
        "tr",
        "%",
        "_",
        "\\",
        "0%_",
        "% p",
        "_j",
        "caf",
        "café",
        "CAFÉ",
        "müller",
        "MÜLLER",
        "ü",
        "本",
        "日本",
        "東京 b",
        "same name",
        "σ",
        "σοφια σ",
        "trading",
        "bakery",
        "zzqq",
        "nothing at all",
        "o",
    ] {
        let q: String = url_encode(term);
        paths.push(format!("/organizations?query={q}"));
        paths.push(format!("/organizations?query={q}&per_page=2&page=2"));
        paths.push(format!("/organizations?query={q}&per_page=3&page=5"));
        paths.push(format!("/organizations?query={q}&per_page=100"));
        paths.push(format!("/organizations?query={q}&page=1000"));
    }
    for (page, per_page) in [(1, 10), (2, 7), (3, 10), (100, 10)] {
        paths.push(format!("/organizations?page={page}&per_page={per_page}"));
    }
    paths
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every page of a cursor walk of `term`, `per` at a time, as body texts.
async fn walk(app: &TestApp, term: &str, per: u32) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!(
            "/organizations?query={}&per_page={per}&after={}",
            url_encode(term),
            url_encode(&after)
        );
        let (status, body) = raw(app, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        bodies.push(body);
        match v["meta"]["next_cursor"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return bodies,
        }
        assert!(bodies.len() < 100, "a walk of {term:?} does not end");
    }
}

#[actix_web::test]
async fn the_index_and_sql_give_the_same_bytes() {
    let indexed = spawn_app_with(|_| {}).await;
    for n in NAMES {
        indexed.create_org(json!({ "name": n })).await;
    }
    let sql = on_same_database(&indexed, |c| c.cache.search_index_mb = 0).await;
    index_ready(&indexed).await;
    let (now, _) = versions(&indexed).await;
    for path in paths() {
        let a = raw(&indexed, &path).await;
        let b = raw(&sql, &path).await;
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        assert_eq!(a, b, "{path}");
    }
    for term in ["a", "e", "same name", "%", "ü", "本", "tr"] {
        for per in [1, 2, 5] {
            assert_eq!(
                walk(&indexed, term, per).await,
                walk(&sql, term, per).await,
                "{term} by {per}"
            );
        }
    }
    // Nothing was written meanwhile: the index answered every request above.
    assert_eq!(versions(&indexed).await, (now, Some(now)));
    assert!(sql.db.org_caches().names().held().is_none());
    let found: Value = indexed
        .get("/organizations?query=%25")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["meta"]["total"], 2, "{found}");
}

#[actix_web::test]
async fn a_write_through_another_instance_is_seen_at_once() {
    let indexed = spawn_app_with(|_| {}).await;
    for n in NAMES {
        indexed.create_org(json!({ "name": n })).await;
    }
    let other = on_same_database(&indexed, |_| {}).await;
    index_ready(&indexed).await;
    let total = |v: Value| v["meta"]["total"].as_i64().unwrap();
    let search = |term: &'static str| {
        let app = &indexed;
        async move {
            let v: Value = app
                .get(&format!("/organizations?query={}", url_encode(term)))
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    assert_eq!(total(search("wxyq").await), 0);
    let org = other.create_org(json!({ "name": "Wxyq Fresh" })).await;
    let id = org["id"].as_str().unwrap().to_owned();
    let v = search("wxyq").await;
    assert_eq!(total(v.clone()), 1, "{v}");
    assert_eq!(v["data"][0]["id"], id.as_str());
    let res = other
        .patch(
            &format!("/organizations/{id}"),
            &json!({ "name": "Vqzk Renamed" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(total(search("wxyq").await), 0);
    assert_eq!(total(search("vqzk").await), 1);
    index_ready(&indexed).await;
    assert_eq!(total(search("vqzk").await), 1);
    assert_eq!(
        other.delete(&format!("/organizations/{id}")).await.status(),
        204
    );
    assert_eq!(total(search("vqzk").await), 0);
    assert_eq!(total(search("same name").await), 3);
}
