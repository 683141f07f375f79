//! What an attacker, a slow client or a swapped file can do, and the bounded, JSON,
//! nothing-lost outcome each gets (issue 11). Each test reproduces the attack or fault.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{fresh_engine_args, on_postgres, sqlite_args, start_binary_on};

const BIN: &str = env!("CARGO_BIN_EXE_invois");

/// A key made by the CLI on the database `engine` selects; the plaintext.
fn cli_key(engine: &[String]) -> String {
    let out = Command::new(BIN)
        .args(["keys", "create", "--name", "hardening", "--json"])
        .args(engine)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// The peak resident set (`VmHWM`) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn guessing_secrets_of_a_real_key_id_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("guess.db"));
    let key = cli_key(&db);
    // Wrong secrets for the key's real id: each one costs a full argon2 verification.
    let prefix = &key[..key.rfind('_').unwrap() + 1];
    let (mut child, base) = start_binary_on(
        &db,
        &[
            // The throttle out of the way, so that every guess reaches argon2.
            ("INVOIS_RATE_LIMIT__AUTH_PER_SECOND", "100000"),
            ("INVOIS_RATE_LIMIT__AUTH_BURST", "100000"),
            ("INVOIS_AUTH__MAX_CONCURRENT_VERIFICATIONS", "2"),
            ("INVOIS_LOG__LEVEL", "error"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let mut rounds = Vec::new();
    for round in 0..6u32 {
        let tasks: Vec<_> = (0..20u32)
            .map(|i| {
                let client = client.clone();
                let url = format!("{base}/api/integrations/users");
                let guess = format!("{prefix}{:064x}", u64::from(round * 100 + i));
                tokio::spawn(async move {
                    client
                        .get(url)
                        .header("X-Invois-Key", guess)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 401);
        }
        // And guesses whose connections are dropped right after sending: the verification
        // they started must still count against the limit on concurrent argon2 runs.
        let cancelled: Vec<_> = (0..20u32)
            .map(|i| {
                let client = reqwest::Client::new();
                let url = format!("{base}/api/integrations/users");
                let guess = format!("{prefix}{:064x}", u64::from(round * 100 + 50 + i));
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(3),
                        client.get(url).header("X-Invois-Key", guess).send(),
                    )
                    .await;
                })
            })
            .collect();
        for t in cancelled {
            t.await.unwrap();
        }
        rounds.push(peak_rss_kib(child.id()));
    }
    // Let the cancelled verifications finish before the last reading.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    rounds.push(peak_rss_kib(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let peak = *rounds.iter().max().unwrap();
    eprintln!("peak RSS per round of 20 wrong secrets: {rounds:?} KiB");
    assert!(
        peak < 128 * 1024,
        "peak RSS {} MiB after 120 wrong secrets (per round: {:?} KiB)",
        peak / 1024,
        rounds
    );
}

/// The real binary on the SQLite file `db`, its stderr kept in a file; returns once
/// `/healthz` answers.
async fn start_logged(
    db: &Path,
    log: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let port = crate::helpers::free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--db"])
        .arg(db)
        .env_remove("INVOIS_CONFIG")
        .env("INVOIS_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return (child, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "server did not start: {}",
        std::fs::read_to_string(log).unwrap()
    );
}

async fn post_user(base: &str, key: &str, n: u32) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/integrations/users"))
        .header("X-Invois-Key", key)
        .json(
            &serde_json::json!({"name": format!("User {n}"), "email": format!("u{n}@example.com")}),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn get_json(base: &str, key: &str, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("X-Invois-Key", key)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn sidecar(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

#[tokio::test]
async fn a_database_deleted_under_the_server_refuses_writes_and_turns_unready() {
    // SQLite-only: the database file is deleted.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gone.db");
    let log = dir.path().join("server.log");
    let key = cli_key(&sqlite_args(&db));
    let (mut child, base) = start_logged(&db, &log, &[]).await;
    assert_eq!(post_user(&base, &key, 1).await.0, 201);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(sidecar(&db, suffix));
    }
    for n in 2..12 {
        let (status, body) = post_user(&base, &key, n).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            body,
            serde_json::json!({
                "error": "Service Unavailable",
                "message": "The database file was deleted while the server was running; writes are refused until an operator restarts it",
                "code": "service_unavailable"
            })
        );
    }
    let (status, body) = get_json(&base, "", "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "service_unavailable");
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("was deleted")).collect();
    assert_eq!(lines.len(), 1, "one log line says what happened:\n{log}");
    assert!(lines[0].contains("Stop the server"), "{}", lines[0]);
}

#[tokio::test]
async fn a_database_replaced_under_the_server_refuses_writes() {
    // SQLite-only: another file is moved over the database file.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("swapped.db");
    let log = dir.path().join("server.log");
    let key = cli_key(&sqlite_args(&db));
    let (mut child, base) = start_logged(&db, &log, &[]).await;
    assert_eq!(post_user(&base, &key, 1).await.0, 201);
    // Another file moved over the path (as a restore done the wrong way would).
    let other = dir.path().join("other.db");
    std::fs::copy(&db, &other).unwrap();
    std::fs::rename(&other, &db).unwrap();
    let (status, body) = post_user(&base, &key, 2).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["message"],
        "The database file was replaced by another file while the server was running; writes are refused until an operator restarts it"
    );
    // Reads go on: the open file is still consistent.
    assert_eq!(
        get_json(&base, &key, "/api/integrations/users").await.0,
        200
    );
    assert_eq!(get_json(&base, "", "/readyz").await.0, 503);
    let _ = child.kill();
    let _ = child.wait();
}

/// Fills the page at `page` (1-based) of `db` with 0xA5: not a valid b-tree page.
fn smash_page(db: &Path, page: i64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(u64::try_from((page - 1) * 4096).unwrap()))
        .unwrap();
    f.write_all(&[0xA5; 4096]).unwrap();
    f.sync_all().unwrap();
}

/// A database with the demo data, checkpointed, and the root page of its organizations.
fn demo_db(dir: &Path) -> (std::path::PathBuf, i64, String) {
    let db = dir.join("demo.db");
    let out = Command::new(BIN)
        .args(["seed", "--demo", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = cli_key(&sqlite_args(&db));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, 4096);
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'organizations'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (db, root, key)
}

#[tokio::test]
async fn serve_refuses_a_corrupt_database_at_start_up_and_leaves_it_untouched() {
    // SQLite-only: a page of the file is smashed.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, root, _) = demo_db(dir.path());
    smash_page(&db, root);
    let before = std::fs::read(&db).unwrap();
    // Spawned and waited for with a deadline: were the corruption missed (the start-up check
    // has 300 ms), the server would serve and `output()` would never return.
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("INVOIS_LOG__LEVEL", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "the server started on a corrupt file");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is corrupt") && err.contains("restore it from a backup"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test]
async fn corruption_found_at_run_time_refuses_every_request_and_never_a_truncated_list() {
    // SQLite-only: a page of the file is smashed.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, root, key) = demo_db(dir.path());
    let log = dir.path().join("server.log");
    let (mut child, base) = start_logged(&db, &log, &[]).await;
    smash_page(&db, root);
    let (status, body) = get_json(
        &base,
        &key,
        "/api/integrations/organizations?per_page=100&after=",
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let corrupt = serde_json::json!({
        "error": "Service Unavailable",
        "message": "The database file is corrupt; requests are refused until it is restored from a backup",
        "code": "service_unavailable"
    });
    assert_eq!(body, corrupt);
    // From now on nothing is answered from the corrupt file, not even tables that still read.
    assert_eq!(
        get_json(&base, &key, "/api/integrations/users").await,
        (503, corrupt.clone())
    );
    assert_eq!(post_user(&base, &key, 1).await, (503, corrupt.clone()));
    assert_eq!(get_json(&base, "", "/readyz").await, (503, corrupt));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("is corrupt")).count(),
        1,
        "{log}"
    );
}

#[test]
fn backup_of_a_corrupt_database_fails_with_one_line_and_writes_no_file() {
    // SQLite-only: `backup` of a smashed file.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, root, _) = demo_db(dir.path());
    smash_page(&db, root);
    let out_path = dir.path().join("copy.db");
    let out = Command::new(BIN)
        .args(["backup"])
        .arg(&out_path)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("corrupt"), "{err}");
    assert!(!out_path.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("demo.db")]);
}

#[test]
fn a_backup_copy_is_checked_whole_before_it_counts() {
    // SQLite-only: `backup` of a smashed file.
    if on_postgres() {
        return;
    }
    // The corruption appears after the database was opened (and checked): the copy shows it.
    let dir = tempfile::tempdir().unwrap();
    let (db, root, _) = demo_db(dir.path());
    let cfg = invois::config::DatabaseConfig {
        path: db.clone(),
        ..Default::default()
    };
    let opened = invois::storage::open(&cfg).unwrap();
    smash_page(&db, root);
    let out = dir.path().join("copy.db");
    let err = opened.backup_to(&out).unwrap_err();
    assert!(
        err.to_string().contains("the database is corrupt")
            && err.to_string().contains("no backup was written"),
        "{err}"
    );
    // And the server side now knows: reads are refused too.
    assert!(opened.health().readable().is_err());
}

/// Sends `head_and_body` on a raw connection, then reads until the server closes it (or
/// `patience` passes: then the connection was held open, which fails the test).
async fn raw_exchange(address: &str, head_and_body: &[u8], patience: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = address.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head_and_body).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(patience),
        s.read_to_end(&mut got),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {patience} s; got so far: {}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

fn split_response(raw: &str) -> (String, String, Value) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_owned();
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap(),
    )
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_a_json_408_and_the_connection_closed() {
    let app = crate::helpers::spawn_app_with(|c| c.server.body_timeout_secs = 1).await;
    let req = format!(
        "POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nX-Invois-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"na",
        app.key
    );
    let raw = raw_exchange(&app.address, req.as_bytes(), 20).await;
    let (status, head, body) = split_response(&raw);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    // What the other layers add is kept.
    assert!(head.contains("x-request-id: "), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert_eq!(
        body,
        serde_json::json!({
            "error": "Request Timeout",
            "message": "The request body did not arrive within 1 seconds",
            "code": "request_timeout"
        })
    );
}

#[tokio::test]
async fn a_chunked_body_that_stops_arriving_gets_a_json_408_and_the_connection_closed() {
    let app = crate::helpers::spawn_app_with(|c| c.server.body_timeout_secs = 1).await;
    let req = format!(
        "POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nX-Invois-Key: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{{\"n\r\n",
        app.key
    );
    let raw = raw_exchange(&app.address, req.as_bytes(), 20).await;
    let (status, head, body) = split_response(&raw);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body["code"], "request_timeout");
}

#[tokio::test]
async fn an_unfinished_chunked_body_over_the_limit_gets_413_and_the_connection_closed() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.server.body_limit = 64;
        c.server.body_timeout_secs = 120;
    })
    .await;
    let chunk = "x".repeat(200);
    let req = format!(
        "POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nX-Invois-Key: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        app.key,
        chunk.len()
    );
    // The terminating chunk never comes; the body timeout is far away.
    let raw = raw_exchange(&app.address, req.as_bytes(), 20).await;
    let (status, head, body) = split_response(&raw);
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body["code"], "payload_too_large");
}

#[tokio::test]
async fn a_request_refused_before_its_body_closes_the_connection() {
    let app = crate::helpers::spawn_app().await;
    // No key: 401 before anyone reads the body, which never finishes.
    let req = "POST /api/integrations/users HTTP/1.1\r\nHost: t\r\n\
               Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let raw = raw_exchange(&app.address, req.as_bytes(), 20).await;
    let (status, head, body) = split_response(&raw);
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body["code"], "unauthorized");
}

#[tokio::test]
async fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("fd.db"));
    let port = crate::helpers::free_port();
    // Started with a soft limit of 256, as a default shell would give it.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -Sn 256 && exec "$0" "$@""#)
        .arg(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(&db)
        .env("INVOIS_LOG__LEVEL", "error")
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "server did not start");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_ne!(cols[3], "256", "the soft limit was raised: {line}");
    assert_eq!(cols[3], cols[4], "soft = hard: {line}");
}

fn odd_header(bytes: &[u8]) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_bytes(bytes).unwrap()
}

#[tokio::test]
async fn an_unreadable_if_match_is_400_and_the_write_does_not_happen() {
    let app = crate::helpers::spawn_app().await;
    let user = app.create_user("Ifmatch Person", "ifm@example.com").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let res = app
        .req(reqwest::Method::PATCH, &path)
        .header("If-Match", odd_header(b"\"abc\xff\""))
        .json(&serde_json::json!({"name": "Changed Name"}))
        .send()
        .await
        .unwrap();
    let v = crate::helpers::assert_error(res, 400, "invalid_header").await;
    assert_eq!(v["message"], "The if-match header must be visible ASCII");
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(now["name"], "Ifmatch Person");
}

#[tokio::test]
async fn an_unreadable_if_none_match_or_idempotency_key_is_400() {
    let app = crate::helpers::spawn_app().await;
    let res = app
        .req(reqwest::Method::GET, "/organizations/org-123")
        .header("If-None-Match", odd_header(b"W/\"\xe9\""))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 400, "invalid_header").await;
    let res = app
        .req(reqwest::Method::POST, "/users")
        .header("Idempotency-Key", odd_header(b"k\xff"))
        .json(&serde_json::json!({"name": "Idem Odd", "email": "odd@example.com"}))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 400, "invalid_header").await;
    let list: Value = app
        .get("/users?query=odd@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 0, "nothing was created");
}

#[tokio::test]
async fn two_key_headers_are_400_not_the_first_one_silently() {
    let app = crate::helpers::spawn_app().await;
    let res = app
        .client
        .get(app.url("/users"))
        .header("X-Invois-Key", &app.key)
        .header("X-Invois-Key", "invois_wrong")
        .send()
        .await
        .unwrap();
    let v = crate::helpers::assert_error(res, 400, "duplicate_header").await;
    assert_eq!(v["message"], "Send the x-invois-key header once");
}

#[tokio::test]
async fn if_match_on_two_lines_is_one_list() {
    let app = crate::helpers::spawn_app().await;
    let user = app.create_user("Two Lines", "two@example.com").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let res = app.get(&path).await;
    let tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let send = |first: &str, second: &str| {
        app.req(reqwest::Method::PATCH, &path)
            .header("If-Match", first)
            .header("If-Match", second)
            .json(&serde_json::json!({"phone": "+60123456789"}))
            .send()
    };
    assert_eq!(send("\"stale\"", &tag).await.unwrap().status(), 200);
    let res = send("\"stale\"", "\"other\"").await.unwrap();
    crate::helpers::assert_error(res, 412, "precondition_failed").await;
}

#[tokio::test]
async fn a_name_of_invisible_characters_only_is_a_missing_name() {
    let app = crate::helpers::spawn_app().await;
    for name in [
        "\u{200B}\u{200B}\u{200B}",
        "\u{FEFF}\u{2060}\u{200D}",
        " \u{200C} \u{3164} ",
    ] {
        let res = app
            .post(
                "/users",
                &serde_json::json!({"name": name, "email": "inv@example.com"}),
            )
            .await;
        let v = crate::helpers::assert_error(res, 400, "validation_error").await;
        assert_eq!(
            v["details"],
            serde_json::json!({"name": ["Name is required"]}),
            "{name:?}"
        );
    }
    // Invisible characters around a real name are not part of it.
    let res = app
        .post(
            "/users",
            &serde_json::json!({"name": "\u{200B}Ana Lima\u{200B}", "email": "ana@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["name"], "Ana Lima");
}

#[tokio::test]
async fn an_email_with_bidirectional_controls_or_zero_width_characters_is_invalid() {
    let app = crate::helpers::spawn_app().await;
    for c in [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200B}',
    ] {
        let email = format!("admin{c}@example.com");
        let res = app
            .post(
                "/users",
                &serde_json::json!({"name": "Bidi Person", "email": email}),
            )
            .await;
        let v = crate::helpers::assert_error(res, 400, "validation_error").await;
        assert_eq!(
            v["details"],
            serde_json::json!({"email": ["Email format is invalid"]}),
            "{c:?}"
        );
    }
}

/// Sends raw bytes and returns (status line, the JSON body) of the answer.
async fn raw_json(app: &crate::helpers::TestApp, bytes: Vec<u8>) -> (String, Value) {
    let raw = raw_exchange(&app.address, &bytes, 20).await;
    let (status, head, body) = split_response(&raw);
    assert!(head.contains("content-type: application/json"), "{head}");
    (status, body)
}

#[tokio::test]
async fn requests_the_http_library_refuses_are_answered_in_json() {
    let app = crate::helpers::spawn_app().await;
    let long_uri = format!(
        "GET /api/integrations/users?q={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..97)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("a URI over 64 KiB", long_uri.into_bytes(), "HTTP/1.1 414 URI Too Long", "uri_too_long"),
        ("97 headers", many_headers.into_bytes(), "HTTP/1.1 431 Request Header Fields Too Large", "headers_too_large"),
        ("a control byte in a header", b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request", "invalid_header"),
        ("a raw \\xff in the path", b"GET /heal\xffthz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request", "invalid_header"),
        ("an absurd Content-Length", b"POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request", "invalid_header"),
        ("two Content-Lengths", b"POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(), "HTTP/1.1 400 Bad Request", "invalid_header"),
    ];
    for (what, bytes, want_status, want_code) in cases {
        let (status, body) = raw_json(&app, bytes).await;
        assert_eq!(status, want_status, "{what}");
        assert_eq!(body["code"], want_code, "{what}: {body}");
        assert_eq!(
            body["error"],
            want_status.splitn(3, ' ').nth(2).unwrap(),
            "{what}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_bad_request_after_a_good_one_on_the_same_connection_is_answered_in_json_too() {
    let app = crate::helpers::spawn_app().await;
    let raw = raw_exchange(
        &app.address,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /heal\xffthz HTTP/1.1\r\nHost: t\r\n\r\n",
        20,
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    let second = &raw[raw.find("{\"status\":\"ok\"}").unwrap() + 15..];
    let (status, _, body) = split_response(second);
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert_eq!(body["code"], "invalid_header");
}

#[tokio::test]
async fn a_bad_chunk_size_is_answered_by_our_json_errors() {
    let app = crate::helpers::spawn_app().await;
    let req = format!(
        "POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nX-Invois-Key: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
        app.key
    );
    let (status, body) = raw_json(&app, req.into_bytes()).await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body["code"].as_str().is_some(), "{body}");
}

#[tokio::test]
async fn requests_on_keep_alive_connections_at_sigterm_are_answered_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_engine_args(&dir.path().join("term.db"));
    let (mut child, base) = start_binary_on(&db, &[("INVOIS_LOG__LEVEL", "error")]).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let so_far = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let base = base.clone();
            let stop = stop.clone();
            let so_far = so_far.clone();
            tokio::spawn(async move {
                // One keep-alive connection per client, used until the server says
                // `Connection: close` (as a well-behaved client does).
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let (mut answered, mut refused, mut lost) = (0u32, 0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match client.get(format!("{base}/healthz")).send().await {
                        Ok(r) => {
                            assert_eq!(r.status(), 200);
                            answered += 1;
                            so_far.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if r.headers().get("connection").is_some_and(|v| v == "close") {
                                break;
                            }
                        }
                        Err(e) if e.is_connect() => {
                            refused += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                        Err(e) => lost.push(format!("{e:?}")),
                    }
                }
                (answered, refused, lost)
            })
        })
        .collect();
    // The clients busy on their connections (a fixed sleep was not always enough on a loaded
    // machine), then the signal.
    for _ in 0..600 {
        if so_far.load(std::sync::atomic::Ordering::Relaxed) > 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for t in tasks {
        let (a, _, lost) = t.await.unwrap();
        answered += a;
        assert!(
            lost.is_empty(),
            "requests sent and never answered: {lost:?}"
        );
    }
    assert!(answered > 50, "the clients were busy: {answered} answers");
}

#[tokio::test]
async fn checkpoints_and_cli_commands_on_a_running_database_are_not_taken_for_faults() {
    // SQLite-only: WAL checkpoints and `backup` against the server's checks of its file.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    let key = cli_key(&sqlite_args(&db));
    let log = dir.path().join("server.log");
    let (mut child, base) = start_logged(&db, &log, &[]).await;
    assert_eq!(post_user(&base, &key, 1).await.0, 201);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let _second = cli_key(&sqlite_args(&db));
    let out = Command::new(BIN)
        .arg("backup")
        .arg(dir.path().join("copy.db"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(post_user(&base, &key, 2).await.0, 201);
    assert_eq!(get_json(&base, "", "/readyz").await.0, 200);
    let _ = child.kill();
    let _ = child.wait();
}
