//! Durability and concurrency: kill -9 under writes, graceful shutdown, concurrent duplicates,
//! online backup, export/import, full database, bad files and schema upgrades.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, blocking, fresh_database_url, fresh_engine_args, on_postgres, spawn_app,
    spawn_app_with, sqlite_args, start_binary_on,
};

const BIN: &str = env!("CARGO_BIN_EXE_invois");

/// `invois ARGS` on the database `engine` selects (`--db PATH` or `--database-url URL`).
fn cli(engine: &[String], args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).args(engine).output().unwrap()
}

fn cli_key(engine: &[String]) -> String {
    let out = cli(engine, &["keys", "create", "--name", "crash", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// The real binary serving the database `engine` selects on a free port, with limits out
/// of the way.
async fn start_server(engine: &[String]) -> (Child, String) {
    start_binary_on(
        engine,
        &[
            ("INVOIS_RATE_LIMIT__PER_MINUTE", "0"),
            ("INVOIS_RATE_LIMIT__PER_HOUR", "0"),
            ("INVOIS_RATE_LIMIT__PER_DAY", "0"),
            ("INVOIS_LOG__LEVEL", "warn"),
        ],
    )
    .await
}

/// `n` tasks creating users as fast as they can until the server goes away; every id that
/// got a 201 is recorded.
fn spawn_writers(
    base: &str,
    key: &str,
    n: usize,
    tag: &str,
    acked: Arc<Mutex<Vec<String>>>,
    fivexx: Arc<Mutex<u32>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|w| {
            let (base, key, tag, acked, fivexx) = (base.to_owned(), key.to_owned(), tag.to_owned(), acked.clone(), fivexx.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let body = json!({"name": format!("Writer {w} {i}"), "email": format!("w{w}.{i}.{tag}@example.com")});
                    let Ok(res) = client.post(format!("{base}/api/integrations/users")).header("X-Invois-Key", &key).json(&body).send().await else { break };
                    if res.status().is_server_error() {
                        *fivexx.lock().unwrap() += 1;
                    }
                    if res.status() != 201 {
                        continue;
                    }
                    let Ok(v) = res.json::<Value>().await else { break };
                    acked.lock().unwrap().push(v["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect()
}

/// Waits (up to 60 s) until `acked` holds at least `n` ids: a fixed sleep before a kill or a
/// backup may see no write at all on a loaded machine (each new server first verifies the
/// key with argon2).
async fn wait_for_acked(acked: &Mutex<Vec<String>>, n: usize) {
    for _ in 0..1200 {
        if acked.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "only {} writes acknowledged in 60 s",
        acked.lock().unwrap().len()
    );
}

/// How many of `ids` are users in the database `engine` selects (opened anew, as after a
/// restart); an SQLite file must also pass its integrity check.
async fn count_present(engine: &[String], ids: &[String]) -> usize {
    let (engine, ids) = (engine.to_vec(), ids.to_vec());
    blocking(move || {
        let mut cfg = invois::config::DatabaseConfig::default();
        if engine[0] == "--db" {
            cfg.path = engine[1].clone().into();
            let conn = rusqlite::Connection::open(&cfg.path).unwrap();
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
        } else {
            cfg.url.clone_from(&engine[1]);
        }
        let db = invois::storage::open(&cfg).unwrap();
        db.read_blocking(|c| {
            let mut present = 0;
            for id in &ids {
                if c.prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
                    .exists([id.as_str()])?
                {
                    present += 1;
                }
            }
            Ok(present)
        })
        .unwrap()
    })
    .await
}

fn crash_cycles() -> usize {
    std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_kill_minus_nine() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("crash.db"));
    cli(&db, &["migrate"]);
    let key = cli_key(&db);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let fivexx = Arc::new(Mutex::new(0));
    let cycles = crash_cycles();
    for cycle in 0..cycles {
        let (mut child, base) = start_server(&db).await;
        let writers = spawn_writers(
            &base,
            &key,
            16,
            &format!("c{cycle}"),
            acked.clone(),
            fivexx.clone(),
        );
        // Some writes of this cycle first, then the kill at a random moment of the burst.
        let before = acked.lock().unwrap().len();
        wait_for_acked(&acked, before + 20).await;
        let wait = rand::thread_rng().gen_range(0..700);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL: no shutdown code runs
        child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
    }
    let ids = acked.lock().unwrap().clone();
    assert!(
        ids.len() > 50,
        "too few writes acknowledged to prove anything: {}",
        ids.len()
    );
    assert_eq!(
        count_present(&db, &ids).await,
        ids.len(),
        "acknowledged writes lost after {cycles} kills"
    );
    assert_eq!(*fivexx.lock().unwrap(), 0);
    let (mut child, base) = start_server(&db).await;
    let res = reqwest::Client::new()
        .get(format!(
            "{base}/api/integrations/users/{}",
            ids[ids.len() - 1]
        ))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "crash test: {} writes acknowledged and verified across {cycles} kills",
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_in_flight_requests_exits_zero_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("term.db"));
    cli(&db, &["migrate"]);
    let key = cli_key(&db);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let fivexx = Arc::new(Mutex::new(0));
    let (mut child, base) = start_server(&db).await;
    let writers = spawn_writers(&base, &key, 16, "term", acked.clone(), fivexx.clone());
    wait_for_acked(&acked, 20).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    assert!(exit.success(), "exit status {exit:?}");
    // On SQLite the WAL is written back into the file.
    let wal = dir.path().join("term.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL not checkpointed"
    );
    let ids = acked.lock().unwrap().clone();
    assert!(!ids.is_empty());
    assert_eq!(count_present(&db, &ids).await, ids.len());
    assert_eq!(*fivexx.lock().unwrap(), 0);
}

async fn concurrently(n: usize, f: impl Fn(usize) -> reqwest::RequestBuilder) -> Vec<u16> {
    let futs: Vec<_> = (0..n).map(|i| f(i).send()).collect();
    let mut out = Vec::new();
    for r in futures_util::future::join_all(futs).await {
        out.push(r.unwrap().status().as_u16());
    }
    out.sort_unstable();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_creates_of_one_email_give_one_201_and_39_409() {
    let app = spawn_app().await;
    let statuses = concurrently(40, |_| {
        app.req(reqwest::Method::POST, "/users")
            .json(&json!({"name": "Same Person", "email": "same@example.com"}))
    })
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 39);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_adds_of_one_membership_give_one_201_and_39_409() {
    let app = spawn_app().await;
    let user = app.create_user("Member Person", "m@example.com").await;
    let org = app.create_org(json!({"name": "Busy Org"})).await;
    let path = format!("/organizations/{}/members", org["id"].as_str().unwrap());
    let uid = user["id"].as_str().unwrap().to_owned();
    let statuses = concurrently(40, |_| {
        app.req(reqwest::Method::POST, &path)
            .json(&json!({"userId": uid, "role": "customer"}))
    })
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 39);
    let org: Value = app
        .get(&format!("/organizations/{}", org["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["memberCount"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_writers_mixed_with_readers_see_no_5xx() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Mixed Load"})).await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let statuses = concurrently(192, |i| match i % 3 {
        0 => app
            .req(reqwest::Method::POST, "/users")
            .json(&json!({"name": format!("Load {i}"), "email": format!("load{i}@example.com")})),
        1 => app.req(reqwest::Method::GET, "/organizations?per_page=5"),
        _ => app.req(reqwest::Method::GET, &format!("/organizations/{org_id}")),
    })
    .await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    let v: Value = app.get("/users?per_page=1").await.json().await.unwrap();
    assert_eq!(v["meta"]["total"], 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_backup_under_write_load_is_consistent_and_current() {
    // SQLite-only: `backup` copies the SQLite file (PostgreSQL: cli::backup_on_postgres_…).
    if on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let fivexx = Arc::new(Mutex::new(0));
    let base = app.address.clone();
    let writers = spawn_writers(&base, &app.key, 8, "bk", acked.clone(), fivexx.clone());
    wait_for_acked(&acked, 20).await;
    let out = app.dir.path().join("backup.db");
    let db = app.config.database.path.clone();
    let res = tokio::task::spawn_blocking({
        let out = out.clone();
        move || {
            Command::new(BIN)
                .arg("backup")
                .arg(&out)
                .arg("--db")
                .arg(&db)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    app.handle.stop(true).await;
    for w in writers {
        w.await.unwrap();
    }
    let conn = rusqlite::Connection::open(&out).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, invois::storage::schema_version());
    let n: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    // At least the writes acknowledged before the backup began.
    assert!(n >= 20, "{n} users in the backup");
    drop(conn);
    let (mut child, base) = start_server(&sqlite_args(&out)).await;
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn export_then_import_reproduces_every_row() {
    let app = spawn_app().await;
    app.load_demo().await;
    let db = app.engine_args();
    let first = app.dir.path().join("one.json");
    let out = cli(&db, &["export", first.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = fresh_engine_args(&app.dir.path().join("moved.db"));
    let out = cli(&target, &["import", first.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = app.dir.path().join("two.json");
    assert!(cli(&target, &["export", second.to_str().unwrap()])
        .status
        .success());
    let mut a: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    let mut b: Value = serde_json::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    a["exportedAt"] = Value::Null;
    b["exportedAt"] = Value::Null;
    assert_eq!(a, b);
    assert_eq!(a["organizations"].as_array().unwrap().len(), 302);
    // Importing into a database that has data is refused.
    let again = cli(&target, &["import", first.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test]
async fn a_full_database_answers_503_on_writes_while_reads_and_recovery_work() {
    // SQLite-only: max_size_mb caps the SQLite file (PostgreSQL's disk is the server's).
    if on_postgres() {
        return;
    }
    let app = spawn_app_with(|c| c.database.max_size_mb = 1).await;
    let long = "N".repeat(190);
    let mut full = None;
    for i in 0..20_000 {
        let res = app.post("/users", &json!({"name": format!("{long} {i}"), "email": format!("{i}.{}@example.com", "e".repeat(60))})).await;
        if res.status() != 201 {
            full = Some((i, res));
            break;
        }
    }
    let (n, res) = full.expect("the database never filled up");
    assert!(n > 100, "filled after only {n} users");
    let v = assert_error(res, 503, "service_unavailable").await;
    assert_eq!(v["error"], "Service Unavailable");
    assert_eq!(app.get("/users?per_page=1").await.status(), 200);
    assert_error(
        app.client.get(app.url("/readyz")).send().await.unwrap(),
        503,
        "service_unavailable",
    )
    .await;
    // Recovery: a larger limit. (Deleting rows is no way out of a full file: a delete writes
    // too — its audit event, the search index's delete markers.) The same file, served with
    // max_size_mb raised, takes writes again and is ready.
    let path = app.config.database.path.clone();
    app.handle.stop(true).await;
    let again = spawn_app_with(|c| {
        c.database.path = path.clone();
        c.database.max_size_mb = 4;
    })
    .await;
    assert_eq!(again.config.database.path, path);
    let users: Value = again.get("/users?per_page=1").await.json().await.unwrap();
    assert_eq!(users["meta"]["total"], json!(n));
    let res = again
        .post(
            "/users",
            &json!({"name": "After Raising", "email": "after@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        again
            .client
            .get(again.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn a_non_sqlite_file_is_refused_with_exit_1_and_left_untouched() {
    // SQLite-only: a file given as --db.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database").unwrap();
    let out = cli(&sqlite_args(&path), &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an SQLite database"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are my notes, not a database"
    );
}

#[test]
fn a_database_from_a_newer_schema_is_refused_and_left_untouched() {
    // SQLite-only: PRAGMA user_version (PostgreSQL: …_a_postgres_database_from_a_newer_…).
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let out = cli(&sqlite_args(&path), &["serve", "--bind", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer than this invois supports"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// The tables of the PostgreSQL database at `url` and its `schema_migrations` rows.
fn pg_schema(url: &str) -> (Vec<String>, Vec<(i64, String)>) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let tables = client
        .query(
            "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let versions = client
        .query(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (tables, versions)
}

#[test]
fn a_postgres_database_from_a_newer_schema_is_refused_and_left_untouched() {
    // PostgreSQL-only: the counterpart of the user_version test above.
    let Some(url) = fresh_database_url() else {
        return;
    };
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .batch_execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL); \
             INSERT INTO schema_migrations VALUES (99, '2030-01-01T00:00:00Z'); \
             CREATE TABLE t (x BIGINT);",
        )
        .unwrap();
    let before = pg_schema(&url);
    let engine = ["--database-url".to_owned(), url.clone()];
    for args in [
        &["serve", "--bind", "127.0.0.1:0"][..],
        &["migrate"],
        &["keys", "list"],
    ] {
        let out = cli(&engine, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err,
            format!(
                "invois: cannot migrate {url}: the database has schema version 99, newer than this invois supports ({}); upgrade invois\n",
                invois::storage::schema_version()
            ),
            "{args:?}"
        );
    }
    assert_eq!(pg_schema(&url), before);
}

#[tokio::test]
async fn a_database_of_the_first_released_schema_migrates_forward_with_its_data() {
    // SQLite-only: the fixture is an SQLite file of schema 1 (PostgreSQL starts at 3).
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.db"),
        &path,
    )
    .unwrap();
    let out = cli(&sqlite_args(&path), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = cli_key(&sqlite_args(&path));
    let (mut child, base) = start_server(&sqlite_args(&path)).await;
    let client = reqwest::Client::new();
    let org: Value = client
        .get(format!("{base}/api/integrations/organizations/acme-corp"))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["id"], "org-123");
    assert_eq!(org["memberCount"], 2);
    assert_eq!(org["premiumTier"]["limits"]["maxStorage"], "100GB");
    let list: Value = client
        .get(format!("{base}/api/integrations/organizations?query=tech"))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["slug"] == "tech-startup"));
    child.kill().unwrap();
    child.wait().unwrap();
}
