//! Which engine this run of the suite tests, and the proof CI needs that the PostgreSQL run
//! happened (tests/pg/cluster.sh `--proof`, used by `make test`).

use serde_json::Value;

use crate::auth::{invois, key_id};
use crate::helpers::{engine_args, fresh_engine_args, on_postgres, spawn_app, with_database};

/// On the SQLite run: the server's data is in its SQLite file. On the PostgreSQL run
/// (`TEST_INVOIS_PG` set): a user created over HTTP is found in the server's fresh PostgreSQL
/// database, no SQLite file was made, and — when tests/pg/cluster.sh asks for it with
/// `TEST_INVOIS_PG_PROOF` — that is written down, so that CI (`CI=true make test`) fails if
/// the PostgreSQL run did not really exercise the PostgreSQL engine.
#[tokio::test]
async fn the_postgres_run_happened_when_ci_asks_for_it() {
    let app = spawn_app().await;
    let email = format!("proof-{:016x}@example.com", rand::random::<u64>());
    app.create_user("Engine Proof", &email).await;
    if !on_postgres() {
        assert_eq!(app.config.database.url, "");
        assert!(app.config.database.path.exists(), "the SQLite file");
        assert_eq!(engine_args(&app.config.database)[0], "--db");
        assert!(app.pg_database.is_none());
        return;
    }
    let url = app.config.database.url.clone();
    assert!(url.starts_with("postgres://"), "{url}");
    assert_eq!(engine_args(&app.config.database), ["--database-url", &url]);
    assert_eq!(app.pg_database.as_ref().map(|d| &d.url), Some(&url));
    let (tables, rows) = {
        let url = url.clone();
        let email = email.clone();
        tokio::task::spawn_blocking(move || rows_mentioning(&url, &email))
            .await
            .expect("join")
    };
    assert!(
        rows >= 1,
        "the user created over HTTP is in none of the {tables} tables of {url}: the server did not use PostgreSQL"
    );
    assert!(
        !app.config.database.path.exists(),
        "on PostgreSQL the server made a SQLite file"
    );
    if let Ok(proof) = std::env::var("TEST_INVOIS_PG_PROOF") {
        std::fs::write(
            &proof,
            format!("spawn_app stored its data in PostgreSQL: {url} ({tables} tables)\n"),
        )
        .expect("write TEST_INVOIS_PG_PROOF");
    }
}

/// The number of tables in `url`'s database and of rows among them whose text mentions
/// `needle` (knows no table names, so the schema can change freely). Blocking.
fn rows_mentioning(url: &str, needle: &str) -> (usize, i64) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let tables: Vec<String> = client
        .query(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
             FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' \
               AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .expect("list tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let pattern = format!("%{needle}%");
    let mut rows = 0;
    for table in &tables {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} AS t WHERE t::text LIKE $1"),
                &[&pattern],
            )
            .expect("search table")
            .get(0);
        rows += n;
    }
    (tables.len(), rows)
}

/// `invois` with `TestApp::engine_args` works on the server's own database, on either engine.
#[tokio::test]
async fn the_cli_with_the_apps_engine_args_sees_the_apps_keys() {
    let app = spawn_app().await;
    let mut args: Vec<String> = ["keys", "list", "--json"].map(String::from).into();
    args.extend(app.engine_args());
    let out = tokio::task::spawn_blocking(move || {
        invois(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [key_id(&app.key)]);
}

/// `fresh_engine_args` gives the CLI an empty database of this run's engine.
#[test]
fn the_cli_with_fresh_engine_args_starts_from_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let engine = fresh_engine_args(&dir.path().join("cli.db"));
    assert_eq!(
        engine[0],
        if on_postgres() {
            "--database-url"
        } else {
            "--db"
        }
    );
    let engine: Vec<&str> = engine.iter().map(String::as_str).collect();
    let out = invois(&[&["keys", "list", "--json"], &engine[..]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    assert_eq!(dir.path().join("cli.db").exists(), !on_postgres());
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t_1"),
        "postgres://postgres@127.0.0.1:5432/t_1"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1/db?sslmode=disable", "t_2"),
        "postgres://u:p@h:1/t_2?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h", "t_3"), "postgresql://h/t_3");
    assert_eq!(
        with_database("postgres://h?connect_timeout=5", "t_4"),
        "postgres://h/t_4?connect_timeout=5"
    );
}
