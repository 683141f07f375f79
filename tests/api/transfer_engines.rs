//! Moving a deployment between engines (SPEC §10): `invois export` from SQLite, `invois
//! import` into PostgreSQL, and back into a new SQLite file. Every export of the chain is
//! the same document, and a server on each engine gives the same answers, byte for byte, to
//! the same requests. Runs on the PostgreSQL run of the suite (it needs both engines).

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fresh_database_url, spawn_app_with, TestApp};

/// Runs the CLI with `args` (no INVOIS_* from the test's environment), `stdin` fed in.
fn cli(args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
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
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("feed stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "invois {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An export document.
fn export(args: &[&str]) -> Value {
    let mut full = vec!["export", "-"];
    full.extend_from_slice(args);
    let out = cli(&full, None);
    serde_json::from_slice(&out.stdout).expect("export is JSON")
}

/// The document without the moment it was made.
fn content(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().expect("object").remove("exportedAt");
    doc
}

fn import(doc: &Value, args: &[&str]) {
    let mut full = vec!["import", "-"];
    full.extend_from_slice(args);
    let out = cli(&full, Some(doc.to_string().as_bytes()));
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("imported"), "{said}");
}

/// Data with every kind of row, awkward text and an audit trail.
async fn fill(app: &TestApp) {
    app.load_demo().await;
    let res = app
        .post(
            "/tiers",
            &json!({"id": "tier-moved", "name": "Moved", "features": ["a", "ü"],
                    "limits": {"maxUsers": 5, "maxStorage": "1GB", "apiCallsPerMonth": 100}}),
        )
        .await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let mut orgs = Vec::new();
    for name in [
        "Café Ürün Sdn Bhd",
        "東京 Trading",
        "100% Pure_Beans \\ Co",
        "ÖSAKA Müller",
        "zeta",
        "Alpha",
    ] {
        let o = app.create_org(json!({"name": name})).await;
        orgs.push(o["id"].as_str().expect("id").to_owned());
    }
    let res = app
        .patch(
            &format!("/organizations/{}", orgs[0]),
            &json!({"premiumTierId": "tier-moved", "logo": "https://x.example/l.png"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut users = Vec::new();
    for (i, name) in ["Zoë Tan", "Ali bin Abu", "李 小龙", "O'Brien"]
        .iter()
        .enumerate()
    {
        let u = app
            .create_user(name, &format!("moved{i}@Example.com"))
            .await;
        users.push(u["id"].as_str().expect("id").to_owned());
    }
    for (i, u) in users.iter().enumerate() {
        app.add_member(&orgs[i % 3], u, ["owner", "admin", "customer"][i % 3])
            .await;
    }
    let res = app.delete(&format!("/organizations/{}", orgs[4])).await;
    assert_eq!(res.status(), 204);
    let res = app
        .patch(
            &format!("/users/{}", users[3]),
            &json!({"phone": "+60 12-345"}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

/// Status, ETag and body of a GET, made with `key`.
async fn answer(app: &TestApp, key: &str, path: &str) -> (u16, Option<String>, String) {
    let res = app
        .client
        .request(Method::GET, app.url(path))
        .header("X-Invois-Key", key)
        .send()
        .await
        .expect("send");
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    (status, etag, res.text().await.expect("body"))
}

#[tokio::test]
async fn export_and_import_move_a_deployment_between_engines_and_back() {
    let Some(pg_url) = fresh_database_url() else {
        return; // the SQLite run: this needs a PostgreSQL database too
    };
    let lite = spawn_app_with(|c| c.database.url = String::new()).await;
    fill(&lite).await;
    let lite_db = lite.config.database.path.display().to_string();

    // SQLite → PostgreSQL → a new SQLite file: one document all along.
    let a = export(&["--db", &lite_db]);
    assert!(a["events"].as_array().is_some_and(|e| e.len() > 10), "{a}");
    import(&a, &["--database-url", &pg_url]);
    let b = export(&["--database-url", &pg_url]);
    assert_eq!(
        content(&a),
        content(&b),
        "PostgreSQL's export differs from SQLite's"
    );
    let back = lite.dir.path().join("back.db").display().to_string();
    import(&b, &["--db", &back]);
    let c = export(&["--db", &back]);
    assert_eq!(content(&a), content(&c), "the file imported back differs");

    // A server on the moved data answers as the original, with the original's key (keys
    // move with their hashes).
    let pg = spawn_app_with(|c| c.database.url = pg_url.clone()).await;
    let key = lite.key.clone();
    let mut paths: Vec<String> = [
        "/organizations?per_page=100",
        "/organizations?page=2&per_page=3",
        "/organizations?query=caf",
        "/organizations?query=%25",
        "/organizations?query=_",
        "/organizations?query=%5C",
        "/organizations?query=a",
        "/organizations?query=tr",
        "/organizations?query=%E6%9D%B1%E4%BA%AC",
        "/organizations?query=M%C3%9CLLER",
        "/organizations/org-123",
        "/organizations/org-123/members",
        "/users?per_page=100",
        "/users?query=example.com&per_page=3&page=2",
        "/users?role=admin",
        "/users/user-123",
        "/users/user-123/organizations",
        "/tiers",
        "/tiers/tier-moved",
        // (Not the whole feed: the second server's own test key adds a key.created event.)
        "/events?type=organization.updated",
        "/events?type=user.created",
        "/events?type=membership.created&per_page=2",
        "/organizations/nope",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    let list: Value =
        serde_json::from_str(&answer(&lite, &key, "/organizations?per_page=100").await.2)
            .expect("json");
    for o in list["data"].as_array().expect("data") {
        paths.push(format!(
            "/organizations/{}",
            o["slug"].as_str().expect("slug")
        ));
        paths.push(format!(
            "/organizations/{}/members",
            o["id"].as_str().expect("id")
        ));
    }
    for p in &paths {
        let (l, g) = (answer(&lite, &key, p).await, answer(&pg, &key, p).await);
        assert_eq!(l, g, "GET {p}: SQLite and PostgreSQL answer differently");
    }
}
