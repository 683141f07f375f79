use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn healthz_answers_ok_without_a_key() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn readyz_checks_the_database() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"status": "ready", "database": "ok"}));
}

/// While the server drains after SIGTERM, `/readyz` says so (503), so that a proxy or load
/// balancer in front of several instances takes this one out of rotation.
#[tokio::test]
async fn a_draining_server_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = invois::config::Config::default();
    config.database.path = dir.path().join("drain.db");
    config.server.workers = 1;
    let db = invois::storage::open(&config.database).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = invois::startup::Application::with_listener(&config, db, listener).unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", app.port());
    app.begin_drain();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["connection"], "close");
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": "Service Unavailable", "code": "service_unavailable",
                           "message": "The server is shutting down"})
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 404, "not_found").await;
    assert_eq!(v["error"], "Not Found");
}

#[tokio::test]
async fn an_unknown_api_route_with_a_key_is_a_json_404() {
    let app = spawn_app().await;
    assert_error(app.get("/nope").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let res = app
        .req(reqwest::Method::PUT, "/users")
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_request_id_is_echoed_or_minted() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(res.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req-"));
}

#[tokio::test]
async fn another_method_on_healthz_is_a_json_405() {
    let app = spawn_app().await;
    let res = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_error(res, 405, "method_not_allowed").await;
}
