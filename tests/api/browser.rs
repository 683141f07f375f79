//! The operator console (issue 13) in a real browser: `tests/browser/console_test.py` drives
//! Debian's chromium through Playwright (from PyPI, in `target/pyvenv-browser`, which
//! `tests/browser/run_browser.py` builds once) over every page, as an operator does, against a
//! server of this run's engine: SQLite, and PostgreSQL in `make test`'s second run.
//!
//! The session-expiry step: the shortest idle expiry the settings allow is a minute, so instead
//! of waiting, the script asks on its stdout (`@@invois-browser: expire-sessions`) and this test
//! moves every session's `last_seen_at` two hours back in the database, then answers `expired N`
//! on the script's stdin.
//!
//! Without chromium (or python3 with venv/pip, or PyPI) the test passes with a loud SKIPPED
//! line, except on CI (`CI=true`), where it fails: CI must run it. With
//! `TEST_INVOIS_SCREENSHOTS=1` it writes the README's screenshots to docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use invois::storage::sql::params;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{on_postgres, spawn_app, TestApp};

/// What `run_browser.py` exits with when the machine cannot provide the tools.
const TOOLS_UNAVAILABLE: i32 = 3;
/// A backstop only: the script bounds its own waits (venv lock 900 s, pip 600 s, 30 s a step).
const WALL_CLOCK: Duration = Duration::from_secs(1800);
/// The browser, unless `TEST_INVOIS_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";
const EMAIL: &str = "operator@example.com";
const PASSWORD: &str = "a long browser-test password";
/// The script's one request to the runner (see the module's comment).
const EXPIRE_REQUEST: &str = "@@invois-browser: expire-sessions";

#[tokio::test]
async fn an_operator_manages_users_organizations_tiers_and_keys_in_a_real_browser() {
    let chromium = std::env::var("TEST_INVOIS_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    if !Path::new(&chromium).exists() {
        return unavailable(&format!(
            "no browser at {chromium}; install Debian's chromium (apt install chromium)"
        ));
    }
    let app = spawn_app().await;
    let login = app
        .client
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap();
    if login.status() == 404 {
        // Only while the console (issue 13) has not landed on this branch.
        return unavailable("this build has no console: GET /console/login answers 404");
    }
    create_operator(&app).await;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = if on_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    let failures = root.join("target/browser-failures").join(engine);
    let mut args: Vec<String> = vec![
        "--base".into(),
        app.address.clone(),
        "--email".into(),
        EMAIL.into(),
        "--password".into(),
        PASSWORD.into(),
        "--engine".into(),
        engine.into(),
        "--chromium".into(),
        chromium,
        "--failures".into(),
        failures.to_string_lossy().into_owned(),
        "--fresh-database".into(),
    ];
    if std::env::var("TEST_INVOIS_SCREENSHOTS").as_deref() == Ok("1") {
        args.push("--screenshots".into());
        args.push(root.join("docs/screenshots").to_string_lossy().into_owned());
    }
    let run = tokio::time::timeout(WALL_CLOCK, run_script(&app, &args)).await;
    let (code, output) = match run {
        Err(_) => panic!("the browser tests ran over {WALL_CLOCK:?}; killed"),
        Ok(Err(e)) => return unavailable(&format!("cannot run python3 ({e})")),
        Ok(Ok(done)) => done,
    };
    match code {
        Some(0) => {
            assert!(output.contains("== RESULT: ok"), "{output}");
            println!("{output}");
        }
        Some(TOOLS_UNAVAILABLE) => unavailable(&output),
        code => panic!("the browser tests failed (exit {code:?}); what they found:\n{output}"),
    }
}

/// `invois operators create --email EMAIL` on the app's database, the password on stdin.
async fn create_operator(app: &TestApp) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(["operators", "create", "--email", EMAIL])
        .args(app.engine_args())
        .env_remove("RUST_LOG")
        .env_remove("INVOIS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("INVOIS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "invois operators create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `run_browser.py ARGS`, answering its expiry requests; its exit code and its output
/// (stdout, then stderr). `Err` when python3 cannot be started.
async fn run_script(app: &TestApp, args: &[String]) -> std::io::Result<(Option<i32>, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/run_browser.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = String::from("--- stdout ---\n");
    while let Some(line) = lines.next_line().await? {
        output.push_str(&line);
        output.push('\n');
        if line == EXPIRE_REQUEST {
            let n = expire_sessions(app).await;
            output.push_str(&format!("(runner: {n} sessions made idle for two hours)\n"));
            stdin.write_all(format!("expired {n}\n").as_bytes()).await?;
            stdin.flush().await?;
        }
    }
    let status = child.wait().await?;
    output.push_str("--- stderr ---\n");
    output.push_str(&errors.await.unwrap());
    Ok((status.code(), output))
}

/// Makes every session of the app's (own) database idle for two hours, past the default idle
/// expiry of 30 minutes and well within the absolute one of 12 hours; returns how many.
async fn expire_sessions(app: &TestApp) -> usize {
    let db = app.db.clone();
    let idle_since = (chrono::Utc::now() - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(None, |tx| {
            tx.execute("UPDATE sessions SET last_seen_at = ?1", params![idle_since])
        })
    })
    .await
    .unwrap()
    .expect("make the console's sessions idle")
}

fn unavailable(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the browser tests did not run; CI must run them (it installs chromium, python3 with \
         venv and pip, and reaches PyPI):\n{why}"
    );
    eprintln!(
        "\n!!!!! SKIPPED: the console's browser tests did not run (on CI this fails):\n{why}\n"
    );
}
