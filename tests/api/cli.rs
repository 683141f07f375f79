//! The `invois` command line as an operator uses it: `keys create|list|revoke|rotate`,
//! `migrate`, their exit codes and output; and a real `invois serve` whose log must never
//! contain a key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::auth::{assert_unauthorized, get_with, invois, invois_on, key_id};
use crate::helpers::{
    blocking, free_port, fresh_database_url, fresh_engine_args, on_postgres, spawn_app,
    start_binary_on,
};

/// The SQLite file `cli.db` in `dir` (for what only SQLite has: files, WAL, backups).
fn db_in(dir: &tempfile::TempDir) -> String {
    dir.path().join("cli.db").to_str().unwrap().to_owned()
}

/// A new empty database of this run's engine: `--db DIR/cli.db` on SQLite, a fresh
/// PostgreSQL database (`--database-url`) on PostgreSQL.
fn engine_in(dir: &tempfile::TempDir) -> Vec<String> {
    fresh_engine_args(&dir.path().join("cli.db"))
}

/// `args` then `engine`, as `&str`s for `invois` and `run_with`.
fn with_engine<'a>(args: &[&'a str], engine: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(engine.iter().map(String::as_str));
    all
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// `keys create … --json` on the database `engine` selects; asserts success and one JSON
/// object on stdout.
fn create_json(engine: &[String], extra: &[&str]) -> Value {
    let mut args = vec!["keys", "create", "--json"];
    args.extend_from_slice(extra);
    let out = invois_on(engine, &args);
    assert!(out.status.success(), "keys create: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "one line of output: {text:?}");
    let v: Value = serde_json::from_str(text.trim()).expect("stdout is one JSON value");
    assert!(v.is_object(), "{v}");
    v
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn keys_create_json_prints_exactly_one_json_object_with_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let v = create_json(&engine_in(&dir), &["--name", "ci"]);
    let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["createdAt", "expiresAt", "id", "key", "name", "scopes"]
    );
    assert_eq!(v["name"], "ci");
    assert_eq!(v["expiresAt"], Value::Null);
    assert_eq!(
        v["scopes"],
        serde_json::json!([
            "read:users",
            "write:users",
            "read:organizations",
            "write:organizations",
            "read:tiers",
            "write:tiers"
        ]),
        "the default is every scope but admin"
    );
    let key = v["key"].as_str().unwrap();
    let rest = key
        .strip_prefix("invois_")
        .expect("the recognizable prefix");
    let (id, secret) = rest.split_once('_').unwrap();
    assert!(is_hex(id, 16) && is_hex(secret, 64), "{key}");
    assert_eq!(v["id"], format!("key-{id}"));
    let created = v["createdAt"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
}

#[test]
fn keys_create_takes_scopes_and_an_expiry_in_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let v = create_json(&db, &["--name", "ops", "--scopes", "read:users,admin"]);
    assert_eq!(v["scopes"], serde_json::json!(["read:users", "admin"]));

    let v = create_json(&db, &["--name", "temp", "--expires-in", "7"]);
    let created = chrono::DateTime::parse_from_rfc3339(v["createdAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(v["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(7));
}

#[test]
fn keys_create_refuses_an_unknown_scope_with_a_usage_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = invois_on(
        &db,
        &[
            "keys",
            "create",
            "--name",
            "x",
            "--scopes",
            "read:users,read:everything",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("read:everything"), "{}", stderr(&out));

    let out = invois_on(&db, &["keys", "create", "--name", "x", "--expires-in", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let out = invois_on(&db, &["keys", "list", "--json"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn keys_list_never_shows_a_secret_or_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let a = create_json(&db, &["--name", "alpha"]);
    let b = create_json(
        &db,
        &["--name", "beta", "--scopes", "admin", "--expires-in", "3"],
    );
    let secrets: Vec<String> = [&a, &b]
        .iter()
        .flat_map(|v| {
            let key = v["key"].as_str().unwrap().to_owned();
            let secret = key.rsplit('_').next().unwrap().to_owned();
            [key, secret]
        })
        .collect();

    let out = invois_on(&db, &["keys", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let list: Value = serde_json::from_str(text.trim()).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&a["id"].as_str().unwrap()) && ids.contains(&b["id"].as_str().unwrap()));

    let plain = invois_on(&db, &["keys", "list"]);
    assert!(plain.status.success());
    let plain_text = stdout(&plain);
    assert!(plain_text.contains("alpha") && plain_text.contains("beta"));
    for t in [&text, &plain_text] {
        for s in &secrets {
            assert!(!t.contains(s.as_str()), "listing shows a secret: {t}");
        }
        assert!(
            !t.contains("argon2") && !t.to_lowercase().contains("secret"),
            "{t}"
        );
    }
}

#[test]
fn keys_revoke_of_an_unknown_id_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = invois_on(&db, &["keys", "revoke", "key-0000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains("key-0000000000000000"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("invois: ") && l.contains("no key")),
        "{err}"
    );

    let v = create_json(&db, &["--name", "once"]);
    let id = v["id"].as_str().unwrap();
    let out = invois_on(&db, &["keys", "revoke", id]);
    assert!(out.status.success());
    // Revoking again is not an error: the key is revoked either way.
    let out = invois_on(&db, &["keys", "revoke", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already revoked"));
}

#[test]
fn migrate_creates_and_migrates_a_database_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(&dir);
    for _ in 0..2 {
        let out = invois_on(&engine, &["migrate"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // Where the data is (the file, or the URL without a password) and nothing else.
        assert_eq!(
            stdout(&out),
            format!(
                "database {} is at schema version {}\n",
                engine[1],
                invois::storage::schema_version()
            )
        );
        assert_eq!(stderr(&out), "");
    }
    assert_eq!(Path::new(&db_in(&dir)).exists(), !on_postgres());
}

/// The database `engine` selects, as the library opens it (blocking: from plain tests or
/// `helpers::blocking`).
fn open_engine(engine: &[String]) -> invois::storage::Db {
    let mut cfg = invois::config::DatabaseConfig::default();
    match engine[0].as_str() {
        "--db" => cfg.path = engine[1].clone().into(),
        _ => cfg.url.clone_from(&engine[1]),
    }
    invois::storage::open(&cfg).unwrap()
}

/// What a bulk-seeded database holds, on either engine: (organizations, users,
/// memberships, sum of member counts, counters row `organizations`).
fn seeded_counts(engine: &[String]) -> (i64, i64, i64, i64, i64) {
    open_engine(engine)
        .read_blocking(|c| {
            let n = |sql: &str| -> Result<i64, invois::storage::DbError> {
                c.query_row(sql, (), |r| r.get(0))
            };
            Ok((
                n("SELECT count(*) FROM organizations")?,
                n("SELECT count(*) FROM users")?,
                n("SELECT count(*) FROM memberships")?,
                n("SELECT CAST(sum(member_count) AS BIGINT) FROM organizations")?,
                n("SELECT value FROM counters WHERE name = 'organizations'")?,
            ))
        })
        .unwrap()
}

/// What only a bulk-seeded SQLite file has: (journal mode, FTS rows matching `bhd` minus
/// the names that contain it, integrity).
fn sqlite_facts(db: &str) -> (String, i64, String) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let facts = (
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap(),
        n("SELECT count(*) FROM organizations_fts WHERE organizations_fts MATCH '\"bhd\"'")
            - n("SELECT count(*) FROM organizations WHERE instr(name_fold, 'bhd') > 0"),
        c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap(),
    );
    // The search indexes agree with their tables row for row.
    c.execute_batch(
        "INSERT INTO organizations_fts (organizations_fts) VALUES ('integrity-check'); \
         INSERT INTO users_fts (users_fts) VALUES ('integrity-check');",
    )
    .unwrap();
    facts
}

/// The schema objects of the database `engine` selects: every index and trigger, with its
/// definition (and on PostgreSQL whether the trigger is enabled).
fn schema_objects(engine: &[String]) -> Vec<String> {
    let sql = if engine[0] == "--db" {
        "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master \
         WHERE type IN ('index', 'trigger') ORDER BY 1"
    } else {
        "SELECT * FROM (SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
         UNION ALL SELECT tgname || ' ' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal) o \
         ORDER BY 1"
    };
    open_engine(engine)
        .read_blocking(|c| c.prepare(sql)?.query_map((), |r| r.get(0))?.collect())
        .unwrap()
}

/// On both engines the counts add up; on SQLite the file is also left in WAL mode, its
/// search index exact and no rollback journal behind.
#[test]
fn seed_bulk_loads_consistent_data_and_leaves_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(&dir);
    let out = invois_on(
        &engine,
        &[
            "seed",
            "--orgs",
            "300",
            "--users",
            "200",
            "--memberships-per-user",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("seeded 300 organizations, 200 users"),
        "{}",
        stderr(&out)
    );
    let (orgs, users, members, counted, counter) = seeded_counts(&engine);
    assert_eq!((orgs, users, counter), (300, 200, 300));
    // Two per user, fewer only where a user drew the same organization twice.
    assert!((390..=400).contains(&members), "{members}");
    assert_eq!(counted, members, "member counts add up to the memberships");
    // Every index and trigger lifted for the load is back as it was.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = engine_in(&fresh_dir);
    let migrated = invois_on(&fresh, &["migrate"]);
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));
    let want = schema_objects(&fresh);
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(schema_objects(&engine), want);
    if on_postgres() {
        return;
    }
    assert!(
        stderr(&out).contains("loading through a rollback journal"),
        "{}",
        stderr(&out)
    );
    let (mode, fts_diff, integrity) = sqlite_facts(&engine[1]);
    assert_eq!(mode, "wal");
    assert_eq!(
        fts_diff, 0,
        "the search index finds exactly the matching names"
    );
    assert_eq!(integrity, "ok");
    assert!(!dir.path().join("cli.db-journal").exists());
}

/// Every page of `path` (a list endpoint, `per_page=100`), as the API serves it: the items,
/// and the `meta.total` of the first page.
async fn all_pages(app: &crate::helpers::TestApp, path: &str) -> (Vec<Value>, i64) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (mut items, mut total, mut page) = (Vec::new(), None, 1);
    loop {
        let res = app
            .get(&format!("{path}{sep}per_page=100&page={page}"))
            .await;
        assert_eq!(res.status(), 200, "{path} page {page}");
        let v: Value = res.json().await.unwrap();
        total.get_or_insert(v["meta"]["total"].as_i64().unwrap());
        items.extend(v["data"].as_array().unwrap().iter().cloned());
        if page >= v["meta"]["last_page"].as_i64().unwrap() {
            return (items, total.unwrap());
        }
        page += 1;
    }
}

/// A bulk seed served by the API: the totals, every organization's member count, each
/// user's organizations and the search totals all agree with what was loaded, and (on SQLite)
/// the file passes its integrity checks, search indexes included.
#[tokio::test]
async fn a_bulk_seed_gives_exact_counts_and_totals_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_in(&dir);
    let (orgs_n, users_n, k) = (2_000_i64, 600_i64, 3_i64);
    let out = {
        let engine = engine.clone();
        blocking(move || {
            invois_on(
                &engine,
                &[
                    "seed",
                    "--orgs",
                    &orgs_n.to_string(),
                    "--users",
                    &users_n.to_string(),
                    "--memberships-per-user",
                    &k.to_string(),
                ],
            )
        })
        .await
    };
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, _, members, counted, counter) = {
        let engine = engine.clone();
        blocking(move || seeded_counts(&engine)).await
    };
    assert_eq!(counter, orgs_n);
    assert_eq!(counted, members);
    // Three draws per user; a user who drew one organization twice joins it once.
    assert!(
        (users_n * k - 20..=users_n * k).contains(&members),
        "{members}"
    );
    if !on_postgres() {
        let db = engine[1].clone();
        let (mode, fts_diff, integrity) = blocking(move || sqlite_facts(&db)).await;
        assert_eq!(
            (mode.as_str(), fts_diff, integrity.as_str()),
            ("wal", 0, "ok")
        );
    }
    let app = crate::helpers::spawn_app_with(|c| {
        if engine[0] == "--db" {
            c.database.path = PathBuf::from(&engine[1]);
        } else {
            c.database.url.clone_from(&engine[1]);
        }
    })
    .await;

    let (orgs, total) = all_pages(&app, "/organizations").await;
    assert_eq!((orgs.len() as i64, total), (orgs_n, orgs_n));
    let ids: std::collections::HashSet<&str> =
        orgs.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let slugs: std::collections::HashSet<&str> =
        orgs.iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!((ids.len() as i64, slugs.len() as i64), (orgs_n, orgs_n));
    let member_counts: i64 = orgs
        .iter()
        .map(|o| o["memberCount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        member_counts, members,
        "member counts add up to the memberships"
    );
    // Each organization's count is its members list's total (the busiest ones, and some
    // with none).
    let mut by_count: Vec<&Value> = orgs.iter().collect();
    by_count.sort_by_key(|o| -o["memberCount"].as_i64().unwrap());
    for o in by_count
        .iter()
        .take(15)
        .chain(by_count.iter().rev().take(5))
    {
        let id = o["id"].as_str().unwrap();
        let (list, total) = all_pages(&app, &format!("/organizations/{id}/members")).await;
        assert_eq!(total, o["memberCount"].as_i64().unwrap(), "{id}");
        assert_eq!(list.len() as i64, total, "{id}");
    }

    let (users, total) = all_pages(&app, "/users").await;
    assert_eq!((users.len() as i64, total), (users_n, users_n));
    // Every user's organizations, summed: the memberships again.
    let mut joined = 0;
    for u in &users {
        let id = u["id"].as_str().unwrap();
        let res = app.get(&format!("/users/{id}/organizations")).await;
        assert_eq!(res.status(), 200, "{id}");
        let v: Value = res.json().await.unwrap();
        let n = v["meta"]["total"].as_i64().unwrap();
        assert!((1..=k).contains(&n), "{id}: {n}");
        joined += n;
    }
    assert_eq!(joined, members);

    // Search totals: exactly the names that contain the term (the search indexes were
    // rebuilt after the load).
    let org_names: Vec<String> = orgs
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_lowercase())
        .collect();
    let rare = org_names
        .iter()
        .find_map(|n| {
            n.split(' ')
                .next_back()
                .filter(|w| w.len() == 6 && w.chars().any(|c| c.is_ascii_digit()))
        })
        .unwrap()
        .to_owned();
    for term in ["bhd", "trading", "ōsaka", "co", &rare] {
        let want = org_names.iter().filter(|n| n.contains(term)).count() as i64;
        let (found, total) = all_pages(&app, &format!("/organizations?query={term}")).await;
        assert_eq!((found.len() as i64, total), (want, want), "{term}");
    }
    let user_text: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                "{}\n{}",
                u["name"].as_str().unwrap().to_lowercase(),
                u["email"].as_str().unwrap().to_lowercase()
            )
        })
        .collect();
    for term in ["tan", "müller", "example"] {
        let want = user_text.iter().filter(|t| t.contains(term)).count() as i64;
        let (_, total) = all_pages(&app, &format!("/users?query={term}")).await;
        assert_eq!(total, want, "{term}");
    }
}

#[test]
fn seed_bulk_still_works_while_another_connection_has_the_file_open() {
    // SQLite-only: WAL mode and a second connection to the file.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let out = invois(&["migrate", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A reader holding the file (as a running server would) keeps it in WAL mode, so the
    // load goes through the WAL and is checkpointed at the end.
    let other = rusqlite::Connection::open(&db).unwrap();
    let before: i64 = other
        .query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, 0);
    let out = invois(&[
        "seed",
        "--db",
        &db,
        "--orgs",
        "120",
        "--users",
        "50",
        "--memberships-per-user",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("loading through the WAL"),
        "{}",
        stderr(&out)
    );
    let after: i64 = other
        .query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 120, "the open connection sees the load");
    drop(other);
    let (orgs, users, members, counted, _) = seeded_counts(&["--db".into(), db.clone()]);
    let (mode, fts_diff, integrity) = sqlite_facts(&db);
    assert_eq!((orgs, users, members, counted), (120, 50, 50, 50));
    assert_eq!(
        (mode.as_str(), fts_diff, integrity.as_str()),
        ("wal", 0, "ok")
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    // SQLite-only: a file given as --db.
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let content = b"These are my notes, not a database.\n".repeat(20);
    std::fs::write(&path, &content).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        vec!["migrate", "--db", p],
        vec!["keys", "create", "--name", "x", "--db", p],
        vec!["keys", "list", "--db", p],
    ] {
        let out = invois(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("is not an SQLite database"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            content,
            "{args:?} changed the file"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt"], "no -wal or -shm files appeared");
}

#[tokio::test]
async fn a_key_created_by_the_cli_works_on_a_running_server_with_its_scopes() {
    let app = spawn_app().await;
    let engine = app.engine_args();
    let v =
        blocking(move || create_json(&engine, &["--name", "ci", "--scopes", "read:organizations"]))
            .await;
    let key = v["key"].as_str().unwrap();
    assert_eq!(get_with(&app, key, "/organizations").await.status(), 200);
    assert_eq!(get_with(&app, key, "/users").await.status(), 403);
}

#[tokio::test]
async fn keys_rotate_through_the_cli_hands_over_to_a_successor_on_a_running_server() {
    let app = spawn_app().await;
    let db = app.engine_args();
    let old = app.key_with(&invois::auth::Scope::defaults()).await;
    assert_eq!(get_with(&app, &old, "/users").await.status(), 200);

    let out = invois_on(&db, &["keys", "rotate", &key_id(&old), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    let new = v["key"].as_str().unwrap();
    assert_ne!(key_id(new), key_id(&old));

    assert_eq!(get_with(&app, new, "/users").await.status(), 200);
    assert_unauthorized(get_with(&app, &old, "/users").await, Some(&old)).await;

    let out = invois_on(&db, &["keys", "rotate", "key-0000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
}

// ---- log redaction on the real binary ----

fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_servers_debug_log_never_contains_a_key_or_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let admin = create_json(
        &db,
        &[
            "--name",
            "logged",
            "--scopes",
            "read:users,write:users,read:organizations,admin",
        ],
    );
    let key = admin["key"].as_str().unwrap().to_owned();
    let id = admin["id"].as_str().unwrap().to_owned();

    let log_path: PathBuf = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(&db)
        .env("RUST_LOG", "debug")
        .env_remove("INVOIS_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            up = r.status() == 200;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !up {
        stop(&mut child);
        panic!(
            "the server did not come up: {}",
            std::fs::read_to_string(&log_path).unwrap()
        );
    }

    let api = |path: &str| format!("{base}/api/integrations{path}");
    let (prefix, secret) = key.rsplit_once('_').unwrap();
    let wrong = format!("{prefix}_{}", "0".repeat(64));
    let mut secrets = vec![key.clone(), secret.to_owned(), wrong.clone()];
    let mut statuses = Vec::new();
    for k in [
        key.as_str(),
        wrong.as_str(),
        key.as_str(),
        "invois_nonsense",
        key.as_str(),
    ] {
        let r = client
            .get(api("/users"))
            .header("X-Invois-Key", k)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 401, 200, 401, 200]);
    // Keys minted and rotated through the admin API must not be logged either.
    let r = client
        .post(api("/keys"))
        .header("X-Invois-Key", &key)
        .json(&serde_json::json!({"name": "minted", "scopes": ["read:users"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let minted: Value = r.json().await.unwrap();
    let minted_key = minted["key"].as_str().unwrap().to_owned();
    let r = client
        .get(api("/users"))
        .header("X-Invois-Key", &minted_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(api(&format!(
            "/keys/{}/rotate",
            minted["id"].as_str().unwrap()
        )))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rotated: Value = r.json().await.unwrap();
    for k in [minted_key, rotated["key"].as_str().unwrap().to_owned()] {
        secrets.push(k.rsplit('_').next().unwrap().to_owned());
        secrets.push(k);
    }
    let r = client
        .delete(api(&format!("/keys/{id}")))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    stop(&mut child);
    let log = std::fs::read_to_string(&log_path).unwrap();
    // The log was captured: the access log shows the requests.
    assert!(
        log.contains("/api/integrations/users"),
        "no access log: {log}"
    );
    assert!(log.contains("DEBUG"), "not a debug log: {log}");
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "the log contains a key or secret"
        );
    }
    assert!(!log.contains("$argon2"), "the log contains an argon2 hash");
    assert!(
        !log.contains("argon2id$"),
        "the log contains an argon2 hash"
    );
}

// ---- issue 10: failures are one line, create no files; pipes; shapes; help; rotation ----

/// Runs the binary with `args`, `env` added and `stdin` fed in (none of the test's own
/// `INVOIS_*` or `RUST_LOG`).
fn run_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("INVOIS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("INVOIS_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        let mut input = input;
        std::io::Write::write_all(&mut input, bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Asserts a failure: the exit code, nothing on stdout, and exactly one line on stderr
/// (`invois: …`), which is returned.
fn assert_fails(out: &std::process::Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(stdout(out).is_empty(), "stdout: {}", stdout(out));
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(
        err.starts_with("invois: ") && err.ends_with('\n'),
        "{err:?}"
    );
    err.trim_end().to_owned()
}

/// The names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `n` bulk-seeded organizations and users in the database `engine` selects; an SQLite
/// file is closed (its WAL checkpointed away), so that its bytes are stable.
fn seed_into(engine: Vec<String>, n: u32) -> Vec<String> {
    let n = n.to_string();
    let out = invois_on(
        &engine,
        &[
            "seed",
            "--orgs",
            &n,
            "--users",
            &n,
            "--memberships-per-user",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    if engine[0] == "--db" {
        drop(rusqlite::Connection::open(&engine[1]).unwrap());
    }
    engine
}

/// A seeded database of this run's engine (see [`seed_into`]).
fn seeded(dir: &tempfile::TempDir, n: u32) -> Vec<String> {
    seed_into(engine_in(dir), n)
}

/// A seeded SQLite file (see [`seed_into`]), for what only SQLite has.
fn seeded_db(dir: &tempfile::TempDir, n: u32) -> String {
    seed_into(vec!["--db".into(), db_in(dir)], n).remove(1)
}

#[test]
fn export_into_a_pipe_closed_early_ends_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&dir, 300);
    let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(["export", "-"])
        .args(&db)
        .env_remove("RUST_LOG")
        .env_remove("INVOIS_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 64];
    let mut reader = child.stdout.take().unwrap();
    std::io::Read::read_exact(&mut reader, &mut head).unwrap();
    assert!(head.starts_with(b"{\n  \"version\": 2,"), "{head:?}");
    // Like `| head`: the reader goes away while the export (far larger than a pipe
    // buffer) is still being written.
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no message, no backtrace");
}

#[test]
fn export_to_stdout_is_the_whole_document_when_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&dir, 300);
    let out = run_with(&with_engine(&["export", "-"], &db), &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.len() > 200_000, "{}", out.stdout.len());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["organizations"].as_array().unwrap().len(), 300);
}

#[test]
fn backup_into_a_missing_directory_says_so_in_one_line_and_writes_nothing() {
    // SQLite-only: `backup` copies an SQLite file (PostgreSQL: backup_on_postgres_…).
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = seeded_db(&dir, 10);
    let before = std::fs::read(&db).unwrap();
    let names = names_in(dir.path());
    let missing = dir.path().join("no").join("such");
    let out_path = missing.join("copy.db");
    let out = run_with(
        &["backup", out_path.to_str().unwrap(), "--db", &db],
        &[],
        None,
    );
    let err = assert_fails(&out, 1);
    assert_eq!(
        err,
        format!(
            "invois: cannot write backup to {}: directory {} does not exist",
            out_path.display(),
            missing.display()
        )
    );
    assert!(!missing.exists());
    assert_eq!(names_in(dir.path()), names);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn backup_refuses_to_overwrite_a_file_and_leaves_it_as_it_was() {
    // SQLite-only: `backup` copies an SQLite file (PostgreSQL: backup_on_postgres_…).
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = seeded_db(&dir, 10);
    let target = dir.path().join("precious.db");
    std::fs::write(&target, b"keep me").unwrap();
    let out = run_with(
        &["backup", target.to_str().unwrap(), "--db", &db],
        &[],
        None,
    );
    let err = assert_fails(&out, 1);
    assert_eq!(
        err,
        format!(
            "invois: {} exists; choose a new file for the backup",
            target.display()
        )
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");

    // A new file gets a complete copy, and no temporary file stays behind.
    let fresh = dir.path().join("fresh.db");
    let out = run_with(&["backup", fresh.to_str().unwrap(), "--db", &db], &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let c = rusqlite::Connection::open(&fresh).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
    drop(c);
    assert!(
        names_in(dir.path()).iter().all(|n| !n.contains("partial")),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn backup_and_export_of_a_missing_database_fail_and_create_none() {
    // SQLite-only: a missing --db file (PostgreSQL: export_of_a_missing_postgres_database_…).
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let out_path = dir.path().join("copy.db");
    let out = run_with(
        &["backup", out_path.to_str().unwrap(), "--db", &db],
        &[],
        None,
    );
    let err = assert_fails(&out, 1);
    assert!(err.contains(&format!("no database at {db}")), "{err}");
    let out = run_with(&["export", "-", "--db", &db], &[], None);
    let err = assert_fails(&out, 1);
    assert!(err.contains(&format!("no database at {db}")), "{err}");
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

/// On PostgreSQL `backup` is not invois's job: one line says what to use instead, and
/// nothing is written.
#[test]
fn backup_on_postgres_says_to_use_pg_dump_or_export_and_writes_nothing() {
    // PostgreSQL-only: the counterpart of the SQLite backup tests above.
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&dir, 10);
    let export = |db: &[String]| {
        let out = run_with(&with_engine(&["export", "-"], db), &[], None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["exportedAt"] = Value::Null;
        v
    };
    let before = export(&db);
    let out_path = dir.path().join("copy.db");
    let out = run_with(
        &with_engine(&["backup", out_path.to_str().unwrap()], &db),
        &[],
        None,
    );
    assert_eq!(
        assert_fails(&out, 1),
        "invois: backup copies an SQLite file; on PostgreSQL use pg_dump, or invois export"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
    assert_eq!(export(&db), before);
}

/// A PostgreSQL database that does not exist is not made by `export` (nor by any other
/// command): one line names it, and it still does not exist afterwards.
#[test]
fn export_of_a_missing_postgres_database_fails_in_one_line_and_creates_none() {
    // PostgreSQL-only: the counterpart of backup_and_export_of_a_missing_database_….
    let Some(url) = fresh_database_url() else {
        return;
    };
    let name = format!("t_missing_{:016x}", rand::random::<u64>());
    let missing = crate::helpers::with_database(&url, &name);
    for _ in 0..2 {
        let out = run_with(&["export", "-", "--database-url", &missing], &[], None);
        assert_eq!(
            assert_fails(&out, 1),
            format!("invois: cannot connect to {missing}: database \"{name}\" does not exist; create it first (createdb -E UTF8 NAME) or fix the URL")
        );
    }
}

#[test]
fn serve_with_a_bad_bind_address_is_a_usage_error_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = run_with(
        &with_engine(&["serve", "--bind", "nonsense"], &db),
        &[],
        None,
    );
    let err = assert_fails(&out, 2);
    assert!(
        err.starts_with("invois: --bind \"nonsense\" is not an address"),
        "{err}"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );

    // The same from the environment names where it came from.
    let out = run_with(
        &with_engine(&["serve"], &db),
        &[("INVOIS_SERVER__BIND", "nonsense")],
        None,
    );
    let err = assert_fails(&out, 2);
    assert!(err.contains("INVOIS_SERVER__BIND"), "{err}");
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn serve_on_a_busy_port_fails_in_one_line_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_with(&with_engine(&["serve", "--bind", &addr], &db), &[], None);
    let err = assert_fails(&out, 1);
    assert!(
        err.starts_with(&format!("invois: cannot listen on {addr}: ")),
        "{err}"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn import_of_malformed_json_fails_in_one_line_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let input = dir.path().join("broken.json");
    std::fs::write(&input, b"{\"version\": 2, \"tiers\": [").unwrap();
    let out = run_with(
        &with_engine(&["import", input.to_str().unwrap()], &db),
        &[],
        None,
    );
    let err = assert_fails(&out, 1);
    assert!(
        err.starts_with(&format!(
            "invois: {} is not an invois export: not JSON: ",
            input.display()
        )),
        "{err}"
    );
    assert_eq!(names_in(dir.path()), ["broken.json"]);

    // The same through stdin.
    let out = run_with(&with_engine(&["import", "-"], &db), &[], Some(b"not json"));
    let err = assert_fails(&out, 1);
    assert!(
        err.starts_with("invois: stdin is not an invois export: not JSON"),
        "{err}"
    );
    assert_eq!(names_in(dir.path()), ["broken.json"]);
}

/// An export document with one user and nothing else.
fn one_user_export() -> Value {
    serde_json::json!({
        "version": 2, "exportedAt": "2024-01-15T10:00:00Z", "tiers": [], "organizations": [],
        "users": [{"id": "user-1", "name": "Jane Smith", "firstName": "Jane", "lastName": "Smith",
            "email": "jane@example.com", "phone": null, "dob": null, "role": "customer",
            "createdAt": "2024-01-15T10:00:00Z", "updatedAt": "2024-01-15T10:00:00Z"}],
        "memberships": [], "keys": [], "events": []
    })
}

#[test]
fn import_names_an_unknown_field_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let mut doc = one_user_export();
    doc["users"][0]["nickname"] = Value::from("J");
    let out = run_with(
        &with_engine(&["import", "-"], &db),
        &[],
        Some(doc.to_string().as_bytes()),
    );
    let err = assert_fails(&out, 1);
    assert!(
        err.starts_with(
            "invois: stdin is not an invois export: users[0]: unknown field `nickname`"
        ),
        "{err}"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn an_import_that_fails_on_a_row_imports_nothing_and_removes_the_file_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let mut doc = one_user_export();
    doc["memberships"] = serde_json::json!([{"id": "member-1", "userId": "user-1",
        "organizationId": "org-missing", "role": "owner", "createdAt": "2024-01-15T10:00:00Z"}]);
    let out = run_with(
        &with_engine(&["import", "-"], &db),
        &[],
        Some(doc.to_string().as_bytes()),
    );
    let err = assert_fails(&out, 1);
    assert_eq!(
        err,
        "invois: cannot import stdin: memberships[0] (member-1): FOREIGN KEY constraint failed; nothing was imported"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
    // Nothing was imported: the database is still empty (an import into one with data is
    // refused), so the good rows alone import now, and only they are there.
    let out = run_with(
        &with_engine(&["import", "-"], &db),
        &[],
        Some(one_user_export().to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_with(&with_engine(&["export", "-"], &db), &[], None);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The document had no externalId/metadata (an older version 2): null and {} now.
    let mut want = one_user_export()["users"].clone();
    want[0]["externalId"] = Value::Null;
    want[0]["metadata"] = serde_json::json!({});
    assert_eq!(doc["users"], want);
    assert_eq!(doc["memberships"], serde_json::json!([]));
}

/// The whole export of the database `engine` selects but for the moment it was made.
fn export_text(engine: &[String]) -> String {
    let out = run_with(&with_engine(&["export", "-"], engine), &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("  \"exportedAt\": "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refused in words that fit the engine; on SQLite the file stays as it was byte for byte,
/// on PostgreSQL the database exports the same as before.
#[test]
fn import_into_a_database_with_data_is_refused_and_leaves_it_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(&dir, 5);
    let names = names_in(dir.path());
    let file_before = (!on_postgres()).then(|| std::fs::read(&db[1]).unwrap());
    let export_before = export_text(&db);
    assert!(
        export_before.contains("\"organizations\": [\n    {"),
        "seeded"
    );
    let out = run_with(
        &with_engine(&["import", "-"], &db),
        &[],
        Some(one_user_export().to_string().as_bytes()),
    );
    let err = assert_fails(&out, 1);
    assert_eq!(
        err,
        if on_postgres() {
            "invois: cannot import stdin: the database is not empty; import into an empty database (another --database-url); nothing was imported"
        } else {
            "invois: cannot import stdin: the database is not empty; import into a new file (--db NEW.db); nothing was imported"
        }
    );
    assert_eq!(names_in(dir.path()), names);
    if let Some(before) = file_before {
        assert!(
            std::fs::read(&db[1]).unwrap() == before,
            "the database changed"
        );
    }
    assert_eq!(export_text(&db), export_before, "the database changed");
}

/// `seed --demo` loads only into an empty database, and says how to choose another in the
/// engine's own terms.
#[test]
fn seed_demo_into_a_database_with_data_is_refused_in_one_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = run_with(&with_engine(&["seed", "--demo"], &db), &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("loaded the demo data into {}\n", db[1])
    );
    let before = export_text(&db);
    let out = run_with(&with_engine(&["seed", "--demo"], &db), &[], None);
    assert_eq!(
        assert_fails(&out, 1),
        format!(
            "invois: the database already has data; seed --demo needs an empty one (use another {})",
            db[0]
        )
    );
    assert_eq!(export_text(&db), before);
}

#[test]
fn a_bad_env_value_is_a_one_line_usage_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = run_with(
        &with_engine(&["migrate"], &db),
        &[("INVOIS_SERVER__WORKERS", "abc")],
        None,
    );
    let err = assert_fails(&out, 2);
    assert_eq!(
        err,
        "invois: environment variable INVOIS_SERVER__WORKERS (setting server.workers): invalid type: string \"abc\", expected usize"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn failed_key_commands_are_one_line_and_leave_no_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    for (args, code) in [
        (vec!["keys", "revoke", "key-0000000000000000"], 1),
        (vec!["keys", "rotate", "key-0000000000000000"], 1),
        (
            vec![
                "keys",
                "create",
                "--name",
                "x",
                "--scopes",
                "read:everything",
            ],
            2,
        ),
        (
            vec!["keys", "create", "--name", "x", "--expires-in", "0"],
            2,
        ),
        (vec!["keys", "create", "--name", " "], 2),
        (vec!["keys", "create"], 2),
        (vec!["keys", "create", "--nam", "x"], 2),
        (vec!["keys"], 2),
        (vec!["seed"], 2),
        (vec!["frobnicate"], 2),
    ] {
        let mut args = args.clone();
        args.extend(db.iter().map(String::as_str));
        let out = run_with(&args, &[], None);
        let err = assert_fails(&out, code);
        assert!(
            names_in(dir.path()).is_empty(),
            "{args:?} left {:?}",
            names_in(dir.path())
        );
        if code == 2 {
            assert!(
                err.ends_with("--help")
                    || err.contains("scope")
                    || err.contains("day")
                    || err.contains("Name")
                    || err.contains("seed"),
                "{args:?}: {err}"
            );
        }
    }
    let out = run_with(
        &with_engine(&["keys", "revoke", "key-0000000000000000"], &db),
        &[],
        None,
    );
    assert_eq!(
        assert_fails(&out, 1),
        "invois: no key key-0000000000000000; see invois keys list"
    );
    let out = run_with(&[], &[], None);
    assert_eq!(
        assert_fails(&out, 2),
        "invois: invois needs a command: serve, migrate, keys, operators, seed, backup, export, import; see invois --help"
    );
}

#[test]
fn keys_create_json_prints_the_fields_in_the_api_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let out = run_with(
        &with_engine(
            &[
                "keys",
                "create",
                "--json",
                "--name",
                "ci",
                "--expires-in",
                "3",
            ],
            &db,
        ),
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&text).unwrap();
    let s = |k: &str| serde_json::to_string(&v[k]).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\"id\":{},\"name\":{},\"key\":{},\"scopes\":{},\"createdAt\":{},\"expiresAt\":{}}}\n",
            s("id"),
            s("name"),
            s("key"),
            s("scopes"),
            s("createdAt"),
            s("expiresAt")
        )
    );
    assert!(v["expiresAt"].is_string());
}

/// The entries of a `--help` section (`Options:`, `Arguments:`, `Commands:`): each line that
/// starts an entry, as (name, help text).
fn help_entries(help: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            inside = line == section;
            continue;
        }
        if !inside {
            continue;
        }
        let t = line.trim_start();
        let (name, text) = t.split_once("  ").unwrap_or((t, ""));
        out.push((name.trim().to_owned(), text.trim().to_owned()));
    }
    out
}

/// Help text is there if some words remain once clap's own `[default: …]` is taken away.
fn has_words(text: &str) -> bool {
    let without = text.split(" [default:").next().unwrap_or("");
    let without = without.split("[default:").next().unwrap_or("");
    without.chars().filter(char::is_ascii_alphabetic).count() >= 3
}

#[test]
fn every_command_and_every_option_has_help_text() {
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run_with(&args, &[], None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let help = stdout(&out);
        seen += 1;
        for section in ["Options:", "Arguments:"] {
            for (name, text) in help_entries(&help, section) {
                assert!(has_words(&text), "invois {args:?}: {name} has no help text");
            }
        }
        for (name, text) in help_entries(&help, "Commands:") {
            assert!(
                has_words(&text),
                "invois {args:?}: command {name} has no help text"
            );
            if name != "help" {
                let mut sub = path.clone();
                sub.push(name);
                todo.push(sub);
            }
        }
    }
    // invois, 8 commands, 4 keys commands, 4 operators commands.
    assert_eq!(seen, 17);
}

/// The field names, in order, of the top level (`section` None) or of the first object in
/// the array `section` of a pretty-printed export.
fn field_order(text: &str, section: Option<&str>) -> Vec<String> {
    let key_at = |line: &str, indent: usize| -> Option<String> {
        let rest = line.strip_prefix(&" ".repeat(indent))?;
        let rest = rest.strip_prefix('"')?;
        (!line[indent..].starts_with("  ")).then(|| rest.split('"').next().unwrap_or("").to_owned())
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(section) = section else {
        return lines.iter().filter_map(|l| key_at(l, 2)).collect();
    };
    let start = lines
        .iter()
        .position(|l| *l == format!("  \"{section}\": ["))
        .unwrap_or_else(|| panic!("no {section} in the export"));
    assert_eq!(lines[start + 1], "    {", "{section} is empty");
    lines[start + 2..]
        .iter()
        .take_while(|l| **l != "    }" && **l != "    },")
        .filter_map(|l| key_at(l, 6))
        .collect()
}

#[tokio::test]
async fn an_export_imported_into_a_new_database_exports_the_same_and_serves_the_same() {
    let app = spawn_app().await;
    app.load_demo().await;
    let user = app
        .create_user("Zoë Export", "zoe.export@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    app.add_member("org-123", &user_id, "admin").await;
    app.add_member("org-456", &user_id, "customer").await;
    let db = app.engine_args();
    let first = app.dir.path().join("first.json");
    let out = run_with(
        &with_engine(&["export", first.to_str().unwrap()], &db),
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let moved = fresh_engine_args(&app.dir.path().join("moved.db"));
    let out = run_with(
        &with_engine(&["import", first.to_str().unwrap()], &moved),
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let second = app.dir.path().join("second.json");
    let out = run_with(
        &with_engine(&["export", second.to_str().unwrap()], &moved),
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The same document, byte for byte but for the moment of the export.
    let without_time = |p: &Path| -> String {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("  \"exportedAt\": "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = std::fs::read_to_string(&first).unwrap();
    assert_eq!(without_time(&first), without_time(&second));

    // In the API's names, shapes and order.
    assert_eq!(
        field_order(&text, None),
        [
            "version",
            "exportedAt",
            "tiers",
            "organizations",
            "users",
            "memberships",
            "keys",
            "events",
            "operators"
        ]
    );
    let expected: [(&str, &[&str]); 6] = [
        (
            "tiers",
            &["id", "name", "features", "limits", "createdAt", "updatedAt"],
        ),
        (
            "organizations",
            &[
                "id",
                "name",
                "slug",
                "logo",
                "premiumTierId",
                "createdAt",
                "updatedAt",
                "externalId",
                "metadata",
            ],
        ),
        (
            "users",
            &[
                "id",
                "name",
                "firstName",
                "lastName",
                "email",
                "phone",
                "dob",
                "role",
                "createdAt",
                "updatedAt",
                "externalId",
                "metadata",
            ],
        ),
        (
            "memberships",
            &[
                "id",
                "userId",
                "organizationId",
                "role",
                "createdAt",
                "metadata",
            ],
        ),
        (
            "keys",
            &[
                "id",
                "name",
                "scopes",
                "createdAt",
                "expiresAt",
                "revokedAt",
                "lastUsedAt",
                "replacedBy",
                "secretHash",
            ],
        ),
        (
            "events",
            &[
                "id",
                "type",
                "actorKeyId",
                "subjectId",
                "changes",
                "createdAt",
                "actorOperatorId",
            ],
        ),
    ];
    for (section, fields) in expected {
        assert_eq!(field_order(&text, Some(section)), fields, "{section}");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 2);
    let premium = doc["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "tier-premium")
        .unwrap();
    assert!(premium["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    assert!(premium["limits"].is_object());
    let org456 = doc["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "org-456")
        .unwrap();
    assert_eq!(
        org456["premiumTierId"],
        Value::Null,
        "nullable fields are present"
    );
    assert!(!text.contains(&app.key), "no plaintext key in the export");

    // The moved database answers exactly as the original, to the original's own key.
    let (mut child, base) = start_binary_on(&moved, &[]).await;
    let client = reqwest::Client::new();
    for path in [
        "/organizations/org-123".to_owned(),
        "/organizations/tech-startup".to_owned(),
        format!("/users/{user_id}"),
        "/users/user-123".to_owned(),
        format!("/users/{user_id}/organizations"),
        "/organizations?query=acme&per_page=5".to_owned(),
        "/users?per_page=20&page=2".to_owned(),
        "/tiers".to_owned(),
        "/events?per_page=10".to_owned(),
    ] {
        let a = app.get(&path).await;
        let b = client
            .get(format!("{base}/api/integrations{path}"))
            .header("X-Invois-Key", &app.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (a.status(), b.status()),
            (200.try_into().unwrap(), 200.try_into().unwrap()),
            "{path}"
        );
        let etags = (
            a.headers().get("etag").cloned(),
            b.headers().get("etag").cloned(),
        );
        assert_eq!(etags.0, etags.1, "{path}");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap(), "{path}");
    }
    stop(&mut child);
}

// ---- rotation keeps the lifetime ----

#[tokio::test]
async fn rotating_a_key_keeps_its_expiry_exactly_through_the_api() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/keys",
            &serde_json::json!({"name": "sync", "expiresInDays": 30}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let old: Value = res.json().await.unwrap();
    let res = app
        .post(
            &format!("/keys/{}/rotate", old["id"].as_str().unwrap()),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let new: Value = res.json().await.unwrap();
    assert_ne!(new["id"], old["id"]);
    assert!(old["expiresAt"].is_string());
    assert_eq!(new["expiresAt"], old["expiresAt"]);

    // A key without an expiry gets a successor without one.
    let res = app
        .post("/keys", &serde_json::json!({"name": "forever"}))
        .await;
    let old: Value = res.json().await.unwrap();
    let res = app
        .post(
            &format!("/keys/{}/rotate", old["id"].as_str().unwrap()),
            &serde_json::json!({}),
        )
        .await;
    let new: Value = res.json().await.unwrap();
    assert_eq!(new["expiresAt"], Value::Null);
}

#[test]
fn rotating_a_key_keeps_its_expiry_exactly_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = engine_in(&dir);
    let old = create_json(&db, &["--name", "ops", "--expires-in", "7"]);
    let out = invois_on(
        &db,
        &["keys", "rotate", old["id"].as_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(new["expiresAt"], old["expiresAt"]);
    assert_eq!(
        (&new["name"], &new["scopes"]),
        (&old["name"], &old["scopes"])
    );
}
