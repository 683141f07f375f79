//! PostgreSQL going away under a running server: every request gets a JSON 503 (never a 500,
//! a panic or a hang past the connect timeout), `/readyz` says 503, and the server serves
//! again once the database is back. PostgreSQL only (SQLite's faults: reliability.rs).

use serde_json::{json, Value};

use crate::helpers::{fresh_database_url, spawn_app_with, with_database};

/// Runs `sql` on the cluster's admin database (blocking, on a thread of its own).
fn admin(sql: String) {
    let base = std::env::var("TEST_INVOIS_PG").expect("TEST_INVOIS_PG");
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect");
        c.batch_execute(&sql).expect("admin sql");
    })
    .join()
    .expect("join");
}

#[tokio::test]
async fn a_database_that_goes_away_answers_503_and_comes_back() {
    let Some(url) = fresh_database_url() else {
        return;
    };
    let app = spawn_app_with(|c| {
        c.database.url = url.clone();
        c.database.connect_timeout_secs = 1;
    })
    .await;
    let user = app.create_user("Before Outage", "before@example.com").await;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    // Renaming the database away makes new connections fail: the server's pool has nothing to
    // use. A database with sessions cannot be renamed (FORCE is for DROP only), so they are
    // ended first, after new ones are refused (the pool reconnects at once, and its webhook
    // poller asks every second) and waited for; each step is committed before the next.
    admin(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    admin(format!(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
    admin(format!(
        "ALTER DATABASE \"{name}\" RENAME TO \"{name}_away\""
    ));
    admin(format!(
        "ALTER DATABASE \"{name}_away\" ALLOW_CONNECTIONS true"
    ));
    for path in [
        format!("/users/{}", user["id"].as_str().unwrap_or_default()),
        "/organizations".to_owned(),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 503, "GET {path}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["code"], "service_unavailable", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    let res = app
        .post(
            "/users",
            &json!({"name": "During", "email": "during@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 503);
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 503);
    // Back: the next requests are served, nothing acknowledged was lost.
    admin(format!(
        "ALTER DATABASE \"{name}_away\" RENAME TO \"{name}\""
    ));
    assert_eq!(with_database(&url, &name), url);
    let mut ready = false;
    for _ in 0..20 {
        let res = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("send");
        if res.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ready, "the server did not become ready again");
    let res = app
        .get(&format!(
            "/users/{}",
            user["id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.expect("json");
    assert_eq!(got["email"], "before@example.com");
    let res = app
        .post(
            "/users",
            &json!({"name": "After", "email": "after@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 201);
}
