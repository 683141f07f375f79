//! `spawn_app()`: the real server on port 0 with its own temporary SQLite file, and a
//! `TestApp` that talks HTTP to it.

use std::net::TcpListener;

use invois::auth::{self, Scope};
use invois::config::Config;
use invois::startup::Application;
use invois::storage::{self, Db};
use reqwest::{Method, Response};
use serde_json::Value;

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub config: Config,
    /// A key with every scope, `admin` included.
    pub key: String,
    pub client: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    pub dir: tempfile::TempDir,
}

/// A server with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose configuration `tweak` adjusts first.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.database.path = dir.path().join("test.db");
    config.server.bind = "127.0.0.1:0".into();
    config.server.workers = 2;
    // Generous by default so that tests about other things never meet a 429.
    config.rate_limit.per_minute = 1_000_000;
    config.rate_limit.per_hour = 10_000_000;
    config.rate_limit.per_day = 100_000_000;
    config.rate_limit.auth_per_second = 1_000;
    config.rate_limit.auth_burst = 1_000;
    tweak(&mut config);
    let db = storage::open(&config.database).expect("open db");
    let listener = TcpListener::bind(&config.server.bind).expect("bind");
    let app = Application::with_listener(&config, db.clone(), listener).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let key = create_key_in(&db, &Scope::ALL, None).await;
    TestApp {
        address,
        db,
        config,
        key,
        client: reqwest::Client::new(),
        handle,
        dir,
    }
}

/// Creates a key directly in the database (as the CLI does); returns the plaintext.
pub async fn create_key_in(db: &Db, scopes: &[Scope], days: Option<u32>) -> String {
    let db = db.clone();
    let scopes = scopes.to_vec();
    tokio::task::spawn_blocking(move || {
        auth::create_key(&db, "test", &scopes, days, None)
            .expect("create key")
            .1
             .0
    })
    .await
    .expect("join")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/')
            && !path.starts_with("/api")
            && !path.starts_with("/healthz")
            && !path.starts_with("/readyz")
            && !path.starts_with("/docs")
        {
            format!("{}/api/integrations{path}", self.address)
        } else {
            format!("{}{path}", self.address)
        }
    }

    /// A key with exactly these scopes.
    pub async fn key_with(&self, scopes: &[Scope]) -> String {
        create_key_in(&self.db, scopes, None).await
    }

    /// A request with the all-scopes key; `path` is relative to `/api/integrations`.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-Invois-Key", &self.key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.expect("send")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.req(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.req(Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().await.expect("send")
    }

    /// Creates a user and returns its JSON (asserting 201).
    pub async fn create_user(&self, name: &str, email: &str) -> Value {
        let res = self
            .post("/users", &serde_json::json!({"name": name, "email": email}))
            .await;
        assert_eq!(res.status(), 201, "create user {email}");
        res.json().await.expect("json")
    }

    /// Creates an organization and returns its JSON (asserting 201).
    pub async fn create_org(&self, body: Value) -> Value {
        let res = self.post("/organizations", &body).await;
        let status = res.status();
        let v: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "create org: {v}");
        v
    }

    /// Adds a member and returns the membership JSON (asserting 201).
    pub async fn add_member(&self, org: &str, user: &str, role: &str) -> Value {
        let res = self
            .post(
                &format!("/organizations/{org}/members"),
                &serde_json::json!({"userId": user, "role": role}),
            )
            .await;
        assert_eq!(res.status(), 201, "add member");
        res.json().await.expect("json")
    }

    /// Loads the demo data (the seeds' examples plus generated rows).
    pub async fn load_demo(&self) {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || storage::seed::demo(&db).expect("demo"))
            .await
            .expect("join");
    }
}

/// Asserts a SPEC §5 error body and its status; returns the body.
pub async fn assert_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let v: Value = res.json().await.expect("json body");
    assert_eq!(v["code"], code, "code in {v}");
    assert!(
        v["error"].is_string() && v["message"].is_string(),
        "shape of {v}"
    );
    v
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `invois serve` binary on `db` and a free port, with `env` added (and no
/// `INVOIS_CONFIG` or `MALLOC_ARENA_MAX` inherited from the test's environment); returns
/// once `/healthz` answers 200, with the child and the base URL.
pub async fn start_binary(
    db: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--db"])
        .arg(db)
        .env_remove("INVOIS_CONFIG")
        .env_remove("MALLOC_ARENA_MAX")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return (child, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}
