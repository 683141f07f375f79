//! `GET /metrics` (issue 15): Prometheus metrics without a key, on the main listener or on an
//! address of its own, checked with `promtool check metrics` (Debian's `prometheus` package;
//! without it the check is skipped with a printed reason, except on CI, where it fails).
//!
//! Request counts belong to each server, so they are asserted exactly; what storage and auth
//! record (caches, argon2, pool waits, rate-limit refusals) is process-wide, shared with the
//! tests running beside these, so only its presence and growth are asserted.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    assert_error, free_port, fresh_engine_args, on_postgres, spawn_app, spawn_app_with, TestApp,
};

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The body of `GET {base}/metrics`, asserting 200 and the Prometheus text format.
async fn scrape_at(client: &reqwest::Client, base: &str) -> String {
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], PROMETHEUS_TEXT);
    res.text().await.unwrap()
}

async fn scrape(app: &TestApp) -> String {
    scrape_at(&app.client, &app.address).await
}

/// The value of the sample whose name and labels are exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let value = l.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().unwrap())
    })
}

/// The sum of every sample named `name` whose labels contain all of `labels`.
fn sum_of(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|want| l.contains(want))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn engine() -> &'static str {
    if on_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_method_and_status() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Metrics Org"})).await;
    let id = org["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/organizations/{id}")).await.status(), 200);
    }
    assert_eq!(app.get("/organizations/org-missing").await.status(), 404);
    let text = scrape(&app).await;
    let route = r#"route="/api/integrations/organizations/{id}""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"invois_http_requests_total{{{route},method="GET",status="200"}}"#)
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"invois_http_requests_total{{{route},method="GET",status="404"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="/api/integrations/organizations",method="POST",status="201"}"#
        ),
        Some(1.0)
    );
    // The latency histogram counts the same requests.
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"invois_http_request_duration_seconds_count{{{route},method="GET",status="200"}}"#
            )
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"invois_http_request_duration_seconds_bucket{{{route},method="GET",status="200",le="+Inf"}}"#
            )
        ),
        Some(3.0)
    );
    // No request ever mentions the raw id.
    assert!(!text.contains(id), "{text}");
}

#[tokio::test]
async fn a_path_no_route_matches_is_counted_as_unmatched_not_by_its_raw_path() {
    let app = spawn_app().await;
    // Under /api/integrations the key is checked before routes are: no key, 401.
    for (path, status, code) in [
        ("/no/such/path-3f9a1c", 404, "not_found"),
        ("/api/integrations/nothing-7b2e44", 401, "unauthorized"),
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_error(res, status, code).await;
    }
    // A made-up method is counted as "other", not by its name.
    let res = app
        .client
        .request(
            Method::from_bytes(b"BREW").unwrap(),
            format!("{}/healthz", app.address),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="unmatched",method="GET",status="401"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="/healthz",method="other",status="405"}"#
        ),
        Some(1.0)
    );
    for raw in ["path-3f9a1c", "nothing-7b2e44", "BREW"] {
        assert!(!text.contains(raw), "{raw} in {text}");
    }
}

#[tokio::test]
async fn the_scrape_is_prometheus_text_that_promtool_accepts() {
    let app = spawn_app_with(|c| {
        c.rate_limit.per_minute = 3;
    })
    .await;
    // The key's three requests and two refusals in one minute window: not in the last 20 s of
    // a minute, where a slow run could straddle its end and see the count start over.
    crate::helpers::wait_for_a_fresh_minute(20).await;
    // Something of every kind: key verification (argon2, the key cache), the organization
    // caches, a 401, rate-limit refusals.
    let org = app.create_org(json!({"name": "Promtool Org"})).await;
    let id = org["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/organizations/{id}")).await.status(), 200);
    assert_eq!(app.get("/organizations?query=promtool").await.status(), 200);
    for _ in 0..2 {
        assert_eq!(app.get("/tiers").await.status(), 429);
    }
    let res = app
        .client
        .get(app.url("/users"))
        .header("X-Invois-Key", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="/api/integrations/tiers",method="GET",status="429"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"invois_build_info{{version="{}",engine="{}"}}"#,
                env!("CARGO_PKG_VERSION"),
                engine()
            )
        ),
        Some(1.0)
    );
    for (name, labels) in [
        ("invois_rate_limited_total", &[r#"window="minute""#][..]),
        (
            "invois_argon2_verifications_total",
            &[r#"purpose="api_key""#, r#"result="match""#],
        ),
        (
            "invois_cache_requests_total",
            &[r#"cache="api_keys""#, r#"result="hit""#],
        ),
        (
            "invois_cache_requests_total",
            &[r#"cache="org_detail""#, r#"result="miss""#],
        ),
        ("invois_cache_entries", &[r#"cache="org_detail""#]),
        (
            "invois_db_wait_seconds_count",
            &[&format!(r#"engine="{}""#, engine()), r#"pool="read""#],
        ),
        (
            "invois_db_wait_seconds_count",
            &[&format!(r#"engine="{}""#, engine()), r#"pool="write""#],
        ),
        ("process_resident_memory_bytes", &[]),
    ] {
        assert!(
            sum_of(&text, name, labels) >= 1.0,
            "{name} {labels:?} in {text}"
        );
    }
    promtool_check(&text);
    // The README's Metrics section lists every metric served.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Metrics section in the README");
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.split(' ').next())
        {
            assert!(
                section.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
        }
    }
}

#[tokio::test]
async fn a_scraper_that_asks_for_openmetrics_gets_it() {
    let app = spawn_app().await;
    assert_eq!(app.get("/tiers").await.status(), 200);
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE invois_http_requests counter\n"),
        "{text}"
    );
}

#[tokio::test]
async fn the_webhook_outbox_depth_is_read_when_scraped() {
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private = true;
        // The worker looks once, at start-up: what is enqueued afterwards stays pending.
        c.webhooks.poll_ms = 3_600_000;
    })
    .await;
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "invois_webhook_outbox_pending"), Some(0.0));
    let res = app
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/hooks", "eventTypes": ["user.created"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.create_user("Outbox One", "outbox1@example.com").await;
    app.create_user("Outbox Two", "outbox2@example.com").await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "invois_webhook_outbox_pending"),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_on_an_address_of_their_own_are_served_only_there() {
    let port = free_port();
    let app = spawn_app_with(|c| {
        c.metrics.bind = format!("127.0.0.1:{port}");
    })
    .await;
    assert_eq!(app.get("/tiers").await.status(), 200);
    // The main listener no longer serves it: a JSON 404 as for any unknown path.
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, 404, "not_found").await;
    assert_eq!(
        body,
        json!({"error": "Not Found", "message": "No such route", "code": "not_found"})
    );
    let own = format!("http://127.0.0.1:{port}");
    let text = scrape_at(&app.client, &own).await;
    // It counts the main listener's requests (that 404 included) and not its own.
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="/api/integrations/tiers",method="GET",status="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"invois_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains(r#"route="/metrics""#), "{text}");
    // Anything else there is a JSON 404 too.
    let res = app
        .client
        .get(format!("{own}/api/integrations/tiers"))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
    promtool_check(&text);
}

#[tokio::test]
async fn disabled_metrics_are_not_served() {
    let app = spawn_app_with(|c| c.metrics.enabled = false).await;
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
}

/// Runs `promtool check metrics` on `text` and asserts it found nothing to say. Without
/// promtool: skipped with a printed reason, except on CI (`CI=true`), where it fails.
fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is missing ({e}); CI must run `promtool check metrics` \
                 (.ci/run installs Debian's prometheus package)"
            );
            eprintln!(
                "\n!!!!! SKIPPED: `promtool check metrics` did not run ({e}); \
                 apt-get install prometheus (on CI this fails)\n"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- scraped:\n{text}",
        out.status
    );
}

#[test]
fn a_metrics_address_in_use_stops_the_server_with_a_message_that_names_the_setting() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_invois"))
        // Port 0: a port picked free beforehand could be taken by another test before the
        // server binds it, and the server would then stop on that instead.
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(fresh_engine_args(&dir.path().join("m.db")))
        .env_remove("INVOIS_CONFIG")
        .env("INVOIS_METRICS__BIND", taken.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("cannot listen on {taken} for /metrics"))
            && last.ends_with("choose another [metrics] bind (INVOIS_METRICS__BIND)"),
        "{stderr}"
    );
    // A failed start leaves no database file behind.
    assert!(!dir.path().join("m.db").exists());
}

/// `[cache] api_keys = 0`: no verified key is remembered, so every request with the key
/// verifies it with argon2 (counted by the metrics; counters are per process, so other tests'
/// verifications can only add to the difference, never hide these).
#[tokio::test]
async fn with_the_key_cache_off_every_request_verifies_its_key() {
    let app = spawn_app_with(|c| c.cache.api_keys = 0).await;
    let verified = |text: &str| {
        sum_of(
            text,
            "invois_argon2_verifications_total",
            &[r#"purpose="api_key""#, r#"result="match""#],
        )
    };
    let before = verified(&scrape(&app).await);
    for _ in 0..4 {
        let res = app
            .client
            .get(app.url("/users"))
            .header("X-Invois-Key", &app.key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let after = verified(&scrape(&app).await);
    assert!(after - before >= 4.0, "{before} -> {after}");
}
