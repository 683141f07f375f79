//! The operator console (/console/): logging in and out, sessions and their expiry,
//! throttling, CSRF, security headers, and writes through its forms (with the API's
//! validation, ETag rule and events, the operator as actor). Runs on both engines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use invois::config::Config;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{redirect, Response};
use serde_json::{json, Value};

use crate::helpers::{fresh_engine_args, spawn_app_with, TestApp};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A server with an operator, and a browser-like client (cookies kept, redirects not
/// followed, so that each 303 is seen).
struct Console {
    app: TestApp,
    client: reqwest::Client,
    operator_id: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

async fn console() -> Console {
    console_with(|_| {}).await
}

async fn console_with(tweak: impl FnOnce(&mut Config)) -> Console {
    let app = spawn_app_with(tweak).await;
    let db = app.db.clone();
    let operator_id = tokio::task::spawn_blocking(move || {
        invois::console::accounts::create(&db, EMAIL, PASSWORD).unwrap()
    })
    .await
    .unwrap();
    Console {
        app,
        client: browser(),
        operator_id,
    }
}

/// The value of the first `name="…" value="…"` input in `html`, unescaped.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn location(res: &Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

impl Console {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The page at `path`, asserting 200.
    async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path} → {}", location(&res));
        res.text().await.unwrap()
    }

    /// Posts the login form (its CSRF token from a fresh login page) with `extra` headers.
    async fn try_login(&self, email: &str, password: &str, extra: &[(&str, &str)]) -> Response {
        let form = self.page("/console/login").await;
        let csrf = hidden(&form, "csrf").expect("login csrf");
        let mut req = self.client.post(self.url("/console/login")).form(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf),
        ]);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    async fn login(&self) -> Response {
        let res = self.try_login(EMAIL, PASSWORD, &[]).await;
        assert_eq!(res.status(), 303, "login");
        res
    }

    /// The session's CSRF token (every page's logout form has it).
    async fn csrf(&self) -> String {
        hidden(&self.page("/console/").await, "csrf").expect("session csrf")
    }

    /// Posts a console form with the session's token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// The API's events about `subject`, newest first.
    async fn events_of(&self, subject: &str) -> Vec<Value> {
        let v: Value = self
            .app
            .get(&format!("/events?subject={subject}"))
            .await
            .json()
            .await
            .unwrap();
        v["data"].as_array().unwrap().clone()
    }

    /// Runs SQL on the server's database (to move a session's clock).
    async fn sql(&self, sql: &'static str) {
        let db = self.app.db.clone();
        tokio::task::spawn_blocking(move || {
            db.write_blocking(None, |c| c.execute(sql, ()).map(drop))
                .unwrap()
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_the_login_with_the_page_to_come_back_to() {
    let c = console().await;
    let res = c.get("/console/users?q=ann").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/console/login?next=/console/users%3Fq%3Dann"
    );
    let res = c.get("/console").await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/console/".into())
    );
}

#[tokio::test]
async fn logging_in_sets_a_strict_http_only_session_cookie_and_opens_the_dashboard() {
    let c = console().await;
    let form = c.page("/console/login").await;
    for part in [
        "id=\"login-form\"",
        "<label for=\"email\">Email</label>",
        "<label for=\"password\">Password</label>",
        "Log in",
    ] {
        assert!(form.contains(part), "{part}");
    }
    let res = c.login().await;
    assert_eq!(location(&res), "/console/");
    let session = cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("invois_session="))
        .expect("session cookie");
    assert!(session.contains("; Path=/console;"), "{session}");
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let dash = c.page("/console/").await;
    let engine = if crate::helpers::on_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    for part in [
        "id=\"counts\"",
        "id=\"database\"",
        &format!("<dd id=\"engine\">{engine}</dd>"),
        "id=\"health\"",
        "id=\"latest-events\"",
        EMAIL,
    ] {
        assert!(dash.contains(part), "{part}");
    }
}

#[tokio::test]
async fn the_login_goes_back_to_the_page_asked_for_but_never_to_another_site() {
    let c = console().await;
    let login = |next: &'static str| {
        let c = &c;
        async move {
            let form = c.page("/console/login").await;
            let csrf = hidden(&form, "csrf").unwrap();
            let res = c
                .client
                .post(c.url("/console/login"))
                .form(&[
                    ("email", EMAIL),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ])
                .send()
                .await
                .unwrap();
            location(&res)
        }
    };
    assert_eq!(login("/console/users?q=a").await, "/console/users?q=a");
    assert_eq!(login("https://evil.example/").await, "/console/");
    assert_eq!(login("/console//evil.example").await, "/console/");
}

#[tokio::test]
async fn a_trusted_proxy_that_says_https_gets_a_secure_cookie() {
    let c = console_with(|cfg| cfg.server.trusted_proxy = true).await;
    let res = c
        .try_login(EMAIL, PASSWORD, &[("X-Forwarded-Proto", "https")])
        .await;
    assert_eq!(res.status(), 303);
    let session = cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("invois_session="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_words_and_no_session() {
    let c = console().await;
    for (email, password) in [
        (EMAIL, "wrong password!!"),
        ("nobody@example.com", PASSWORD),
    ] {
        let res = c.try_login(email, password, &[]).await;
        assert_eq!(res.status(), 200);
        assert!(!cookies(res.headers())
            .iter()
            .any(|c| c.starts_with("invois_session=") && !c.starts_with("invois_session=;")));
        let body = res.text().await.unwrap();
        assert!(
            body.contains(r#"<p class="form-error" role="alert">Invalid email or password</p>"#),
            "{body}"
        );
    }
    assert_eq!(c.get("/console/").await.status(), 303);
}

#[tokio::test]
async fn logins_are_throttled_per_address() {
    let c = console_with(|cfg| cfg.console.login_per_minute = 3).await;
    for i in 0..3 {
        let res = c
            .try_login(&format!("guess{i}@example.com"), "wrong password!!", &[])
            .await;
        assert_eq!(res.status(), 200, "attempt {i}");
    }
    let res = c.try_login(EMAIL, PASSWORD, &[]).await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = res.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "Too many login attempts; try again in {wait} seconds"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn logins_are_throttled_per_account_whatever_the_address() {
    let c = console_with(|cfg| {
        cfg.console.login_per_minute = 3;
        cfg.server.trusted_proxy = true;
    })
    .await;
    for i in 0..3 {
        let ip = format!("192.0.2.{i}");
        let res = c
            .try_login(EMAIL, "wrong password!!", &[("X-Forwarded-For", &ip)])
            .await;
        assert_eq!(res.status(), 200, "attempt {i}");
    }
    let res = c
        .try_login(EMAIL, PASSWORD, &[("X-Forwarded-For", "192.0.2.99")])
        .await;
    assert_eq!(res.status(), 429, "the account is throttled");
    // Another account from a fresh address is not.
    let res = c
        .try_login(
            "other@example.com",
            "wrong password!!",
            &[("X-Forwarded-For", "192.0.2.100")],
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn logging_out_ends_the_session_everywhere() {
    let c = console().await;
    let res = c.login().await;
    let token = cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("invois_session="))
        .unwrap();
    let token = token.split(';').next().unwrap().to_owned();
    let res = c.post("/console/logout", &[]).await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/console/login?bye=1".into())
    );
    assert!(cookies(res.headers())
        .iter()
        .any(|c| c.starts_with("invois_session=;")));
    assert!(c
        .page("/console/login?bye=1")
        .await
        .contains("You are logged out"));
    // The old cookie, replayed by another client, opens nothing.
    let res = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
        .get(c.url("/console/users"))
        .header("Cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/console/login?next=/console/users&expired=1"
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    let c = console_with(|cfg| cfg.console.session_idle_minutes = 0.01).await;
    c.login().await;
    // 0.6 s idle limit: well past it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = c.get("/console/users").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/console/login?next=/console/users&expired=1"
    );
    assert!(c
        .page("/console/login?next=/console/users&expired=1")
        .await
        .contains("Your session has expired; log in again"));
}

#[tokio::test]
async fn a_session_expires_at_its_absolute_limit_however_busy() {
    let c = console_with(|cfg| cfg.console.session_max_hours = 0.0003).await;
    c.login().await;
    // 1.08 s at most, however often it is used: a request every 300 ms meets the end.
    let mut ended = None;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let res = c.get("/console/").await;
        if res.status() == 303 {
            ended = Some(location(&res));
            break;
        }
    }
    assert_eq!(
        ended.as_deref(),
        Some("/console/login?next=/console/&expired=1")
    );
}

#[tokio::test]
async fn a_session_idle_past_its_limit_in_the_database_changes_nothing() {
    let c = console().await;
    c.login().await;
    let csrf = c.csrf().await;
    // As if 31 minutes had passed since its last request (default idle limit: 30).
    c.sql("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00.000Z'")
        .await;
    let res = c
        .client
        .post(c.url("/console/users"))
        .form(&[
            ("name", "Late Larry"),
            ("email", "larry@example.com"),
            ("role", "customer"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("&expired=1"));
    let list: Value = c.app.get("/users?query=larry").await.json().await.unwrap();
    assert_eq!(list["meta"]["total"], 0);
}

#[tokio::test]
async fn a_form_without_its_token_or_with_another_is_refused_and_changes_nothing() {
    let c = console().await;
    c.login().await;
    for token in [None, Some("0".repeat(64))] {
        let mut fields = vec![
            ("name", "Mallory Forged"),
            ("email", "mallory@example.com"),
            ("role", "customer"),
        ];
        if let Some(t) = &token {
            fields.push(("csrf", t));
        }
        let res = c
            .client
            .post(c.url("/console/users"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{token:?}");
        assert_eq!(res.headers()["content-security-policy"], CSP);
        let body = res.text().await.unwrap();
        assert!(body.contains("Invalid or missing form token; reload the page and try again"));
    }
    let list: Value = c
        .app
        .get("/users?query=mallory")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 0);
    // The login form has a token of its own.
    let res = c
        .client
        .post(c.url("/console/login"))
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn every_console_response_carries_the_security_headers() {
    let c = console().await;
    let paths = [
        "/console/login",
        "/console/",
        "/console/static/console.css",
        "/console/nope",
    ];
    c.login().await;
    for path in paths {
        let res = c.get(path).await;
        let h = res.headers();
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    let res = c.get("/console/nope").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // No inline script anywhere: scripts come from files of this origin.
    let page = c.page("/console/users").await;
    assert!(!page.contains("<script>"), "inline script");
    assert!(page.contains(r#"<script src="/console/static/htmx.min.js" defer></script>"#));
    let js = c.get("/console/static/htmx.min.js").await;
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}

#[tokio::test]
async fn a_browser_form_with_its_origin_is_not_refused_by_the_apis_cors_rules() {
    let c = console().await;
    c.login().await;
    let csrf = c.csrf().await;
    let res = c
        .client
        .post(c.url("/console/users"))
        .header("Origin", c.app.address.clone())
        .form(&[
            ("name", "Olive Origin"),
            ("email", "olive@example.com"),
            ("role", "customer"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_user_is_created_edited_and_deleted_through_the_forms_each_an_event_by_the_operator() {
    let c = console().await;
    c.login().await;
    let new = c.page("/console/users/new").await;
    assert!(new.contains("id=\"user-form\""));
    let res = c
        .post(
            "/console/users",
            &[
                ("name", "Ada Lovelace"),
                ("firstName", "Ada"),
                ("lastName", ""),
                ("email", "ada@example.com"),
                ("phone", ""),
                ("dob", "1985-12-10"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let at = location(&res);
    let id = at.strip_prefix("/console/users/").unwrap().to_owned();
    let page = c.page(&at).await;
    assert!(page.contains(r#"<div class="flash" role="status">User created</div>"#));
    assert!(page.contains("id=\"user-memberships\""));
    let user: Value = c
        .app
        .get(&format!("/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &user["name"],
            &user["firstName"],
            &user["lastName"],
            &user["dob"],
            &user["role"]
        ),
        (
            &json!("Ada Lovelace"),
            &json!("Ada"),
            &Value::Null,
            &json!("1985-12-10"),
            &json!("admin")
        )
    );

    let etag = hidden(&page, "etag").unwrap();
    let api_etag = c.app.get(&format!("/users/{id}")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, api_etag, "the form carries the API's ETag");
    let res = c
        .post(
            &at,
            &[
                ("name", "Ada King"),
                ("firstName", "Ada"),
                ("lastName", "King"),
                ("email", "ada@example.com"),
                ("phone", ""),
                ("dob", "1985-12-10"),
                ("role", "admin"),
                ("etag", &etag),
            ],
        )
        .await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, at.clone()));
    assert!(c
        .page(&at)
        .await
        .contains(r#"<div class="flash" role="status">Saved</div>"#));

    let confirm = c.page(&format!("{at}/delete")).await;
    assert!(confirm.contains("Delete user"));
    let res = c.post(&format!("{at}/delete"), &[]).await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/console/users".into())
    );
    assert_eq!(c.app.get(&format!("/users/{id}")).await.status(), 404);

    let events = c.events_of(&id).await;
    let kinds: Vec<(&str, &Value)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), &e["changes"]))
        .collect();
    assert_eq!(
        kinds,
        [
            ("user.deleted", &json!([])),
            ("user.updated", &json!(["name", "lastName"])),
            ("user.created", &json!([]))
        ]
    );
    for e in &events {
        assert_eq!(e["actorOperatorId"], json!(c.operator_id), "{e}");
        assert_eq!(e["actorKeyId"], Value::Null, "{e}");
    }
    // The console's events page shows who it was.
    let page = c.page(&format!("/console/events?subject={id}")).await;
    assert!(page.contains("id=\"events-table\"") && page.contains(&format!("operator {EMAIL}")));
}

#[tokio::test]
async fn a_validation_error_is_shown_beside_its_field_with_the_values_kept() {
    let c = console().await;
    c.login().await;
    let res = c
        .post(
            "/console/users",
            &[
                ("name", "J"),
                ("email", "not-an-email"),
                ("role", "customer"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(
        body.contains(r#"<div class="errors" role="alert">"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<p class="field-error" id="error-email">Email format is invalid</p>"#),
        "{body}"
    );
    assert!(body.contains(
        r#"<p class="field-error" id="error-name">Name must be at least 2 characters</p>"#
    ));
    assert!(
        body.contains(r#"value="not-an-email""#),
        "the value is kept"
    );
    // A taken email, the API's words beside the field.
    c.app.create_user("Taken Tom", "tom@example.com").await;
    let res = c
        .post(
            "/console/users",
            &[
                ("name", "Tom Two"),
                ("email", "TOM@example.com"),
                ("role", "customer"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"id="error-email">Email is already taken</p>"#));
}

#[tokio::test]
async fn a_second_operator_saving_over_a_changed_user_is_told_and_nothing_is_overwritten() {
    let c = console().await;
    c.login().await;
    let user = c.app.create_user("Grace Hopper", "grace@example.com").await;
    let at = format!("/console/users/{}", user["id"].as_str().unwrap());
    let page = c.page(&at).await;
    let etag = hidden(&page, "etag").unwrap();
    let save = |name: &'static str| {
        let (c, at, etag) = (&c, at.clone(), etag.clone());
        async move {
            c.post(
                &at,
                &[
                    ("name", name),
                    ("firstName", ""),
                    ("lastName", ""),
                    ("email", "grace@example.com"),
                    ("phone", ""),
                    ("dob", ""),
                    ("role", "customer"),
                    ("etag", &etag),
                ],
            )
            .await
        }
    };
    assert_eq!(save("Grace B. Hopper").await.status(), 303);
    let res = save("Amazing Grace").await;
    assert_eq!(res.status(), 409);
    let body = res.text().await.unwrap();
    assert!(body.contains(r#"<div class="errors" role="alert">"#));
    assert!(body.contains(
        "Someone else changed this user since you opened it; reload to see their changes"
    ));
    assert!(
        body.contains(r#"value="Amazing Grace""#),
        "the typed values are kept"
    );
    let now: Value = c
        .app
        .get(&format!("/users/{}", user["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["name"], "Grace B. Hopper");
}

#[tokio::test]
async fn a_tier_in_use_is_not_deleted() {
    let c = console().await;
    c.login().await;
    let res = c
        .post(
            "/console/tiers",
            &[
                ("id", "tier-gold"),
                ("name", "Gold"),
                ("features", "sso\n\npriority-support\n"),
                ("maxUsers", "50"),
                ("maxStorage", "20GB"),
                ("apiCallsPerMonth", ""),
            ],
        )
        .await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/console/tiers/tier-gold".into())
    );
    let tier: Value = c.app.get("/tiers/tier-gold").await.json().await.unwrap();
    assert_eq!(tier["features"], json!(["sso", "priority-support"]));
    assert_eq!(
        tier["limits"],
        json!({"maxUsers": 50, "maxStorage": "20GB", "apiCallsPerMonth": null})
    );
    c.app
        .create_org(json!({"name": "Gold Shop", "premiumTierId": "tier-gold"}))
        .await;
    assert!(c
        .page("/console/tiers/tier-gold/delete")
        .await
        .contains("This tier is used by 1 organization"));
    let res = c.post("/console/tiers/tier-gold/delete", &[]).await;
    assert_eq!(res.status(), 409);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This tier is used by 1 organization"));
    assert_eq!(c.app.get("/tiers/tier-gold").await.status(), 200);
    // A bad limit is the API's words beside its field.
    let res = c
        .post(
            "/console/tiers",
            &[
                ("name", "Silver"),
                ("maxUsers", "many"),
                ("maxStorage", ""),
                ("apiCallsPerMonth", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"id="error-maxUsers">maxUsers must be an integer</p>"#));
}

#[tokio::test]
async fn an_organization_gets_a_member_found_by_email_a_new_role_and_loses_it() {
    let c = console().await;
    c.login().await;
    let res = c
        .post(
            "/console/organizations",
            &[
                ("name", "Zeta Café"),
                ("slug", ""),
                ("logo", ""),
                ("premiumTierId", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let at = location(&res);
    let org_id = at
        .strip_prefix("/console/organizations/")
        .unwrap()
        .to_owned();
    let org: Value = c
        .app
        .get(&format!("/organizations/{org_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["slug"], "zeta-cafe");
    let user = c.app.create_user("Mia Member", "mia@example.com").await;
    let found = c.page(&format!("{at}/member-search?q=mia")).await;
    assert!(found.contains(&format!(
        r#"name="userId" value="{}""#,
        user["id"].as_str().unwrap()
    )));
    let res = c
        .post(
            &format!("{at}/members"),
            &[("user", "MIA@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = c.page(&at).await;
    assert!(page.contains("id=\"members-table\"") && page.contains("Mia Member"));
    let members: Value = c
        .app
        .get(&format!("/organizations/{org_id}/members"))
        .await
        .json()
        .await
        .unwrap();
    let mid = members["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(members["data"][0]["role"], "admin");
    // Again: the API's conflict, beside the field.
    let res = c
        .post(
            &format!("{at}/members"),
            &[
                ("userId", user["id"].as_str().unwrap()),
                ("role", "customer"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"id="error-user">User is already a member of this organization</p>"#));
    let res = c
        .post(&format!("{at}/members/{mid}"), &[("role", "owner")])
        .await;
    assert_eq!(res.status(), 303);
    let res = c.post(&format!("{at}/members/{mid}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    let kinds: Vec<String> = c
        .events_of(&mid)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["actorOperatorId"], json!(c.operator_id));
            e["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "membership.deleted",
            "membership.updated",
            "membership.created"
        ]
    );
}

#[tokio::test]
async fn a_new_key_is_shown_once_and_works_against_the_api() {
    let c = console().await;
    c.login().await;
    assert!(c
        .page("/console/keys/new")
        .await
        .contains("id=\"key-form\""));
    let csrf = c.csrf().await;
    let res = c
        .client
        .post(c.url("/console/keys"))
        .form(&[
            ("name", "shop sync"),
            ("scopes", "read:users"),
            ("scopes", "read:organizations"),
            ("expiresInDays", "30"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let start = page.find(r#"<code id="new-key-secret">"#).expect("secret")
        + r#"<code id="new-key-secret">"#.len();
    let secret = page[start..page[start..].find('<').unwrap() + start].to_owned();
    assert!(secret.starts_with("invois_"), "{secret}");
    assert!(page.contains(r#"id="copy-key""#));
    let with_key = |path: &str| {
        c.app
            .client
            .get(c.app.url(path))
            .header("X-Invois-Key", &secret)
            .send()
    };
    assert_eq!(with_key("/users").await.unwrap().status(), 200);
    assert_eq!(
        with_key("/tiers").await.unwrap().status(),
        403,
        "no read:tiers"
    );
    let list = c.page("/console/keys").await;
    assert!(list.contains("id=\"keys-table\"") && list.contains("shop sync"));
    assert!(!list.contains(&secret), "the secret is shown once");
    // Revoked from the console: refused at once.
    let id = format!("key-{}", &secret[7..23]);
    let res = c.post(&format!("/console/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(with_key("/users").await.unwrap().status(), 401);
    let e = &c.events_of(&id).await[0];
    assert_eq!(
        (e["type"].as_str(), &e["actorOperatorId"]),
        (Some("key.revoked"), &json!(c.operator_id))
    );
}

#[tokio::test]
async fn with_the_console_disabled_nothing_is_served_there() {
    let c = console_with(|cfg| cfg.console.enabled = false).await;
    let res = c.get("/console/login").await;
    assert_eq!(res.status(), 404);
}

fn invois(args: &[String], stdin: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("INVOIS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[tokio::test]
async fn operators_are_managed_from_the_command_line_with_passwords_from_stdin() {
    let c = console().await;
    let engine = c.app.engine_args();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.extend(engine.iter().cloned());
        invois(&all, stdin)
    };
    let out = run(
        &["operators", "create", "--email", "kim@example.com"],
        Some("kims long password\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("created operator op-"),
        "{}",
        text(&out.stdout)
    );
    let res = c
        .try_login("kim@example.com", "kims long password", &[])
        .await;
    assert_eq!(res.status(), 303);

    let out = run(&["operators", "list", "--json"], None);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let emails: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [EMAIL, "kim@example.com"]);
    assert!(!text(&out.stdout).contains("argon2"), "no hashes");

    let out = run(
        &["operators", "reset-password", "--email", "KIM@example.com"],
        Some("a brand new password\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(c.get("/console/").await.status(), 303, "her sessions ended");
    assert_eq!(
        c.try_login("kim@example.com", "kims long password", &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        c.try_login("kim@example.com", "a brand new password", &[])
            .await
            .status(),
        303
    );

    let out = run(&["operators", "delete", "--email", "kim@example.com"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(c.get("/console/").await.status(), 303);

    // Failures: one line each, exit 2 for usage, 1 for the rest.
    for (args, stdin, code, says) in [
        (vec!["operators", "create", "--email", EMAIL], Some("another long password\n"), 1,
         format!("invois: an operator {EMAIL} exists; set a new password with invois operators reset-password --email {EMAIL}\n")),
        (vec!["operators", "create", "--email", "new@example.com"], Some("short\n"), 2,
         "invois: the password must have at least 12 characters (it has 5)\n".to_owned()),
        (vec!["operators", "create", "--email", "not-an-email"], Some("long enough password\n"), 2,
         "invois: --email: Email format is invalid\n".to_owned()),
        (vec!["operators", "delete", "--email", "kim@example.com"], None, 1,
         "invois: no operator kim@example.com; see invois operators list\n".to_owned()),
        (vec!["operators", "reset-password", "--email", "ghost@example.com"], Some("long enough password\n"), 1,
         "invois: no operator ghost@example.com; see invois operators list\n".to_owned()),
    ] {
        let out = run(&args, stdin);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        // (Log lines, such as PostgreSQL's notices on a fresh connection, aside.)
        let err = text(&out.stderr);
        let said: String = err.lines().filter(|l| !l.starts_with('[')).map(|l| format!("{l}\n")).collect();
        assert_eq!(said, says, "{args:?}");
    }
    // The password is never an argument.
    let out = run(
        &[
            "operators",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "long enough password",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn serve_demo_prints_a_console_login_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let mut args = vec![
        "serve".to_owned(),
        "--demo".to_owned(),
        "--bind".to_owned(),
        format!("127.0.0.1:{port}"),
    ];
    args.extend(fresh_engine_args(&dir.path().join("demo.db")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(&args)
        .env_remove("INVOIS_CONFIG")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("Console: "))
    })
    .await
    .unwrap()
    .expect("a Console: line");
    let prefix = format!("Console: http://127.0.0.1:{port}/console/  (login demo@invois.local / ");
    let password = line
        .strip_prefix(&prefix)
        .and_then(|l| l.strip_suffix(')'))
        .expect(&line)
        .to_owned();
    let client = browser();
    let base = format!("http://127.0.0.1:{port}");
    let mut status = 0;
    for _ in 0..100 {
        if let Ok(form) = client.get(format!("{base}/console/login")).send().await {
            let csrf = hidden(&form.text().await.unwrap(), "csrf").unwrap();
            let res = client
                .post(format!("{base}/console/login"))
                .form(&[
                    ("email", "demo@invois.local"),
                    ("password", password.as_str()),
                    ("csrf", &csrf),
                ])
                .send()
                .await
                .unwrap();
            status = res.status().as_u16();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 303);
}

/// The `etag` field of the form posting to `action` on `page`.
fn etag_of_form(page: &str, action: &str) -> String {
    let at = page
        .find(&format!(r#"action="{action}""#))
        .unwrap_or_else(|| panic!("no form posting to {action}"));
    hidden(&page[at..], "etag").expect("etag in the form")
}

#[tokio::test]
async fn a_member_changed_by_someone_else_since_the_page_was_shown_is_not_overwritten() {
    let c = console().await;
    c.login().await;
    let org = c.app.create_org(json!({"name": "Stale Co"})).await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let user = c.app.create_user("Sam Stale", "sam@example.com").await;
    let m = c
        .app
        .add_member(&org_id, user["id"].as_str().unwrap(), "admin")
        .await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let at = format!("/console/organizations/{org_id}");
    let page = c.page(&at).await;
    let role_tag = etag_of_form(&page, &format!("{at}/members/{mid}"));
    let remove_tag = etag_of_form(&page, &format!("{at}/members/{mid}/delete"));
    // Another operator (here: the API) changes the role after the page was shown.
    let res = c
        .app
        .patch(
            &format!("/organizations/{org_id}/members/{mid}"),
            &json!({"role": "owner"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let stale = "Someone else changed this membership since you opened the page; nothing was changed. Reload to see their changes";
    let res = c
        .post(
            &format!("{at}/members/{mid}"),
            &[("role", "customer"), ("etag", &role_tag)],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains(stale));
    let res = c
        .post(
            &format!("{at}/members/{mid}/delete"),
            &[("etag", &remove_tag)],
        )
        .await;
    assert_eq!(res.status(), 409);
    let now: Value = c
        .app
        .get(&format!("/organizations/{org_id}/members/{mid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["role"], "owner", "nothing was overwritten");
    // From a fresh page, the same actions go through.
    let page = c.page(&at).await;
    let role_tag = etag_of_form(&page, &format!("{at}/members/{mid}"));
    let res = c
        .post(
            &format!("{at}/members/{mid}"),
            &[("role", "customer"), ("etag", &role_tag)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = c.page(&at).await;
    let remove_tag = etag_of_form(&page, &format!("{at}/members/{mid}/delete"));
    let res = c
        .post(
            &format!("{at}/members/{mid}/delete"),
            &[("etag", &remove_tag)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = c
        .app
        .get(&format!("/organizations/{org_id}/members/{mid}"))
        .await;
    assert_eq!(res.status(), 404);
}

/// Search as you type (htmx) with an ended session: htmx is told to go to the login page
/// (HX-Redirect, back to the page afterwards), instead of swapping the login page into the
/// results.
#[tokio::test]
async fn an_htmx_request_without_a_session_is_sent_to_the_login_page() {
    let c = console().await;
    let res = c
        .client
        .get(c.url("/console/organizations/org-1/member-search?q=mia"))
        .header("HX-Request", "true")
        .header(
            "HX-Current-URL",
            format!("{}/console/organizations/org-1", c.app.address),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["hx-redirect"],
        "/console/login?next=/console/organizations/org-1"
    );
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn console_edits_keep_the_external_id_and_metadata_the_forms_do_not_show() {
    let c = console().await;
    c.login().await;
    let res = c
        .app
        .post(
            "/users",
            &json!({"name": "Ada Lovelace", "email": "ada@example.com",
                    "externalId": "shop-ada", "metadata": {"plan": "gold"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = format!("/console/users/{id}");
    let etag = hidden(&c.page(&at).await, "etag").unwrap();
    let res = c
        .post(
            &at,
            &[
                ("name", "Ada King"),
                ("firstName", ""),
                ("lastName", ""),
                ("email", "ada@example.com"),
                ("phone", ""),
                ("dob", ""),
                ("role", "customer"),
                ("etag", &etag),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let user: Value = c
        .app
        .get(&format!("/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&user["name"], &user["externalId"], &user["metadata"]),
        (
            &json!("Ada King"),
            &json!("shop-ada"),
            &json!({"plan": "gold"})
        )
    );

    let org = c
        .app
        .create_org(
            json!({"name": "Acme", "externalId": "shop-acme", "metadata": {"region": "my"}}),
        )
        .await;
    let at = format!("/console/organizations/{}", org["id"].as_str().unwrap());
    let etag = hidden(&c.page(&at).await, "etag").unwrap();
    let res = c
        .post(
            &at,
            &[
                ("name", "Acme Group"),
                ("slug", "acme"),
                ("logo", ""),
                ("premiumTierId", ""),
                ("etag", &etag),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let org: Value = c.app.get("/organizations/acme").await.json().await.unwrap();
    assert_eq!(
        (&org["name"], &org["externalId"], &org["metadata"]),
        (
            &json!("Acme Group"),
            &json!("shop-acme"),
            &json!({"region": "my"})
        )
    );
}
