//! `spawn_app()`: the real server on port 0 with its own temporary SQLite file — or, when
//! `TEST_INVOIS_PG` names a PostgreSQL server (`make test`'s second run, tests/pg/cluster.sh),
//! its own fresh PostgreSQL database there — and a `TestApp` that talks HTTP to it.

use std::net::TcpListener;
use std::path::Path;

use invois::auth::{self, Scope};
use invois::config::{Config, DatabaseConfig};
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
    /// On the PostgreSQL run, this server's own database, dropped with the `TestApp`.
    pub pg_database: Option<TestDatabase>,
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
    let pg_database = match postgres_base_url() {
        Some(base) => {
            let url = {
                let base = base.clone();
                tokio::task::spawn_blocking(move || create_database(&base))
                    .await
                    .expect("join")
            };
            config.database.url.clone_from(&url);
            Some(TestDatabase { base, url })
        }
        None => None,
    };
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
        pg_database,
    }
}

/// The PostgreSQL server this run tests against (`TEST_INVOIS_PG`, set by tests/pg/cluster.sh),
/// if any.
fn postgres_base_url() -> Option<String> {
    std::env::var("TEST_INVOIS_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether this run tests the PostgreSQL engine (every `spawn_app` gets a database there).
pub fn on_postgres() -> bool {
    postgres_base_url().is_some()
}

/// On PostgreSQL, the URL of a new empty database (for tests that start two instances on one
/// database or run the CLI); `None` on SQLite. Blocks, on a thread of its own, so that it works
/// in plain `#[test]`s and inside a runtime alike.
pub fn fresh_database_url() -> Option<String> {
    let base = postgres_base_url()?;
    Some(
        std::thread::spawn(move || create_database(&base))
            .join()
            .expect("create database"),
    )
}

/// `CREATE DATABASE "t_<random hex>"` on the server at `base`; returns `base` with that
/// database's name. Blocking (the `postgres` crate's client): call it off the async executor.
fn create_database(base: &str) -> String {
    let name = format!("t_{:016x}", rand::random::<u64>());
    let mut client = postgres::Client::connect(base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to TEST_INVOIS_PG ({base}): {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    with_database(base, &name)
}

/// On PostgreSQL, a new empty database, dropped with the returned guard (its `url` selects
/// it); `None` on SQLite.
pub fn fresh_test_database() -> Option<TestDatabase> {
    let base = postgres_base_url()?;
    let url = {
        let base = base.clone();
        std::thread::spawn(move || create_database(&base))
            .join()
            .expect("create database")
    };
    Some(TestDatabase { base, url })
}

/// Two servers on one PostgreSQL database, as two instances behind a load balancer: the
/// second is started on the first one's database (which goes with the first), and both use
/// the first one's key (keys live in the database), so that per-key state such as
/// idempotency keys and rate-limit windows is shared as a client would share it. `tweak`
/// adjusts both configurations. PostgreSQL only: panics on the SQLite run.
pub async fn spawn_two_on_one_database_with(tweak: impl Fn(&mut Config)) -> (TestApp, TestApp) {
    let first = spawn_app_with(&tweak).await;
    let url = first.config.database.url.clone();
    assert!(
        !url.is_empty(),
        "two instances on one database need PostgreSQL"
    );
    let mut second = spawn_app_with(|c| {
        tweak(c);
        c.database.url.clone_from(&url);
    })
    .await;
    // The database made for the second server is not the one it serves: drop it now.
    second.pg_database = None;
    second.key.clone_from(&first.key);
    (first, second)
}

/// [`spawn_two_on_one_database_with`] with default settings.
pub async fn spawn_two_on_one_database() -> (TestApp, TestApp) {
    spawn_two_on_one_database_with(|_| {}).await
}

/// A database `spawn_app` made on the PostgreSQL run. Dropping it drops the database (WITH
/// (FORCE), on a thread of its own, best effort), so that a run of the suite does not leave
/// hundreds of ~8 MB databases behind until the cluster goes.
pub struct TestDatabase {
    base: String,
    pub url: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let base = std::mem::take(&mut self.base);
        let Some(name) = self
            .url
            .split('?')
            .next()
            .and_then(|u| u.rsplit('/').next())
        else {
            return;
        };
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = client.batch_execute(&sql);
            }
        });
    }
}

/// `url` with its database (the path) replaced by `name`, keeping any `?query`.
pub fn with_database(url: &str, name: &str) -> String {
    let (rest, query) = match url.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_at = rest.find("://").map_or(0, |i| i + 3);
    let end = rest[authority_at..]
        .find('/')
        .map_or(rest.len(), |i| authority_at + i);
    format!("{}/{name}{query}", &rest[..end])
}

/// The `invois` command-line arguments that select `db`'s engine and database:
/// `["--database-url", url]` on PostgreSQL, `["--db", path]` on SQLite.
pub fn engine_args(db: &DatabaseConfig) -> Vec<String> {
    if db.url.is_empty() {
        vec!["--db".into(), db.path.to_string_lossy().into_owned()]
    } else {
        vec!["--database-url".into(), db.url.clone()]
    }
}

/// The arguments selecting a new empty database for the `invois` binary: a fresh PostgreSQL
/// database on PostgreSQL runs, else the SQLite file `sqlite_path`.
pub fn fresh_engine_args(sqlite_path: &Path) -> Vec<String> {
    match fresh_database_url() {
        Some(url) => vec!["--database-url".into(), url],
        None => vec!["--db".into(), sqlite_path.to_string_lossy().into_owned()],
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
    /// The `invois` arguments that select this server's database (see [`engine_args`]).
    pub fn engine_args(&self) -> Vec<String> {
        engine_args(&self.config.database)
    }

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

/// A free TCP port on loopback, for a server the test starts itself (tests that can, bind
/// port 0 instead).
///
/// Drawn below Linux's ephemeral range (32768-60999), from which every `bind(0)` of the other
/// tests allocates, so none of their servers or clients can take it before the test binds it;
/// handed out once each in this process, from an offset of the process id (another test binary
/// running at once starts elsewhere), and checked free when handed out.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 60) * 200,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = u16::try_from(FIRST + offset).expect("a port");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The `invois` arguments that select the SQLite file `path` (for what only SQLite has).
pub fn sqlite_args(path: &Path) -> Vec<String> {
    vec!["--db".into(), path.to_string_lossy().into_owned()]
}

/// The real `invois serve` binary on the database `engine` selects ([`engine_args`],
/// [`fresh_engine_args`]) and a port of the kernel's choosing, with `env` added (and no
/// `INVOIS_CONFIG` inherited from the test's environment); returns once
/// `/healthz` answers 200, with the child and the base URL.
///
/// The server binds port 0 and the port is read from its "listening on … (port N)" line
/// (`RUST_LOG=invois=info` keeps that line whatever level `env` sets): a port picked free
/// beforehand could be taken by another test before the server binds it, and its `/healthz`
/// would then be another server's.
pub async fn start_binary_on(
    engine: &[String],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .args(engine)
        .env_remove("INVOIS_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("RUST_LOG", "invois=info");
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, port) = std::sync::mpsc::channel();
    // Reads the log to its end, so that the server never blocks on a full pipe; the lines
    // before the port's are kept for the message of a server that did not start, and the
    // warnings and errors after it are echoed (shown with a failing test's output: a
    // shutdown that could not checkpoint, say).
    std::thread::spawn(move || {
        let (mut said, mut started) = (Vec::new(), false);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let port = line
                .split_once("(port ")
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .and_then(|p| p.parse::<u16>().ok());
            match port {
                Some(port) => {
                    started = true;
                    let _ = found.send(Ok(port));
                }
                None if started && (line.contains(" WARN ") || line.contains(" ERROR ")) => {
                    eprintln!("server: {line}");
                }
                None if started => {}
                None if said.len() < 50 => said.push(line),
                None => {}
            }
        }
        let _ = found.send(Err(said.join("\n")));
    });
    let port =
        tokio::task::spawn_blocking(move || port.recv_timeout(std::time::Duration::from_secs(30)))
            .await
            .unwrap();
    let Ok(Ok(port)) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not say which port it listens on: {port:?}");
    };
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

/// Runs `f` on a blocking thread and returns its result: database work from an async test
/// (the PostgreSQL client must not run on an async worker thread).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// Returns when at least `left` seconds of the current UTC minute remain (sleeping into the
/// next minute otherwise), so that a test's few requests fall in one minute window of the
/// rate limits.
pub async fn wait_for_a_fresh_minute(left: u64) {
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second + left >= 60 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - second)).await;
    }
}
