//! Webhooks (issue 14): endpoints, the outbox and its deliveries to a local receiver that
//! checks every signature with the Standard Webhooks v1 algorithm, written out here from the
//! specification (independently of src/webhooks/sign.rs).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use invois::auth::Scope;
use invois::config::DatabaseConfig;

use crate::helpers::{
    assert_error, blocking, create_key_in, engine_args, fresh_test_database, on_postgres,
    spawn_app_with, spawn_two_on_one_database_with, start_binary_on, TestApp,
};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    /// When the receiver had read the whole request.
    at: Instant,
}

/// A local HTTP endpoint that records every request and answers with the scripted statuses
/// (then 200); a scripted 429 carries `Retry-After: 2`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, script)
    }

    fn on(listener: TcpListener, script: &[u16]) -> Self {
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (g, s) = (got.clone(), script.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (g, s) = (g.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut headers = HashMap::new();
                    for line in head.lines().skip(1) {
                        if let Some((k, v)) = line.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                    let status = s.lock().unwrap().pop_front().unwrap_or(200);
                    let at = Instant::now();
                    g.lock().unwrap().push(Received { headers, body, at });
                    let extra = if status == 429 {
                        "retry-after: 2\r\n"
                    } else {
                        ""
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { url, got, task }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests came (a bound of 30 s against a hung test, not a timing).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            if self.got.lock().unwrap().len() >= n {
                return self.got();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver got {} requests, expected {n}",
            self.got().len()
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Standard Webhooks v1 verification, from the specification: the signature header holds
/// space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64
/// bytes after `whsec_`; a message verifies when any of them matches. Returns how many of
/// the header's signatures this secret matches.
fn standard_webhooks_v1_matches(secret: &str, r: &Received) -> usize {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let id = &r.headers["webhook-id"];
    let ts = &r.headers["webhook-timestamp"];
    let now = chrono::Utc::now().timestamp();
    let t: i64 = ts.parse().expect("integer timestamp");
    assert!(
        (now - t).abs() < 300,
        "timestamp {t} within 5 minutes of {now}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.headers["webhook-signature"]
        .split(' ')
        .filter(|s| *s == want)
        .count()
}

async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.webhooks.retry_base_ms = 200;
    })
    .await
}

async fn create_webhook(app: &TestApp, body: Value) -> Value {
    let res = app.post("/webhooks", &body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    res.json().await.unwrap()
}

async fn deliveries(app: &TestApp, wh: &str) -> Vec<Value> {
    let v = json_of(
        app.get(&format!("/webhooks/{wh}/deliveries?per_page=100"))
            .await,
        200,
    )
    .await;
    v["data"].as_array().unwrap().clone()
}

/// Waits until every delivery of `wh` has ended (bounded, as [`Receiver::wait_for`]).
async fn wait_settled(app: &TestApp, wh: &str, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let d = deliveries(app, wh).await;
        if d.len() >= n && d.iter().all(|d| d["status"] != "pending") {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "deliveries of {wh} did not settle: {:?}",
        deliveries(app, wh).await
    );
}

#[tokio::test]
async fn a_webhook_shows_its_secret_on_create_only_and_is_managed_like_other_resources() {
    let app = app().await;
    let created = create_webhook(
        &app,
        json!({"url": "http://127.0.0.1:9/hooks", "eventTypes": ["user.created"], "description": "Shop sync"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh-"));
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    let view = json!({
        "id": id, "url": "http://127.0.0.1:9/hooks", "eventTypes": ["user.created"], "enabled": true,
        "description": "Shop sync", "disabledReason": null,
        "createdAt": created["createdAt"], "updatedAt": created["updatedAt"],
    });
    let mut with_secret = view.clone();
    with_secret["secret"] = json!(secret);
    assert_eq!(created, with_secret);
    let got = app.get(&format!("/webhooks/{id}")).await;
    assert_eq!(json_of(got, 200).await, view);
    let list = json_of(app.get("/webhooks").await, 200).await;
    assert_eq!(list, json!({"data": [view]}));

    let patched = json_of(
        app.patch(
            &format!("/webhooks/{id}"),
            &json!({"eventTypes": [], "enabled": false, "description": null}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["eventTypes"], json!([]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["description"], Value::Null);
    assert!(patched.get("secret").is_none());

    let bad = app
        .post(
            "/webhooks",
            &json!({"url": "ftp://x", "eventTypes": ["Nope"], "colour": 1}),
        )
        .await;
    let v = assert_error(bad, 400, "validation_error").await;
    assert_eq!(
        v["details"],
        json!({"url": ["url must use http or https"],
               "eventTypes": ["item 0: \"Nope\" is not an event type; write it as GET /events shows it, e.g. user.created"],
               "colour": ["Unknown field: colour"]})
    );

    let res = app.delete(&format!("/webhooks/{id}")).await;
    assert_eq!(res.status(), 204);
    let v = assert_error(app.get(&format!("/webhooks/{id}")).await, 404, "not_found").await;
    assert_eq!(v["message"], "Webhook not found");
    let kinds: Vec<String> = json_of(app.get(&format!("/events?subject={id}")).await, 200).await
        ["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .filter(|t| t.starts_with("webhook."))
        .collect();
    assert_eq!(
        kinds,
        ["webhook.deleted", "webhook.updated", "webhook.created"]
    );
}

#[tokio::test]
async fn a_user_created_is_delivered_once_with_standard_webhooks_headers_and_the_events_body() {
    let app = app().await;
    let rx = Receiver::start(&[]).await;
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    let secret = wh["secret"].as_str().unwrap();
    let user = app.create_user("Ann Example", "ann@example.com").await;
    let view = text_of(
        app.get(&format!("/users/{}", user["id"].as_str().unwrap()))
            .await,
        200,
    )
    .await;
    let got = rx.wait_for(1).await;
    let r = &got[0];
    assert_eq!(standard_webhooks_v1_matches(secret, r), 1);
    assert_eq!(r.headers["content-type"], "application/json");
    let events = json_of(app.get("/events?type=user.created").await, 200).await;
    let event = &events["data"][0];
    assert_eq!(event["subjectId"], user["id"]);
    let mut body: Value = serde_json::from_str(&r.body).unwrap();
    let data = body.as_object_mut().unwrap().remove("data").unwrap();
    assert_eq!(&body, event);
    assert_eq!(data, serde_json::from_str::<Value>(&view).unwrap());
    // Byte for byte: the feed's fields in its order, then `data` as GET /users/{id} answers.
    assert_eq!(
        r.body,
        format!(
            r#"{{"id":"{}","type":"user.created","actorKeyId":"{}","subjectId":"{}","changes":[],"createdAt":"{}","actorOperatorId":null,"data":{view}}}"#,
            event["id"].as_str().unwrap(),
            event["actorKeyId"].as_str().unwrap(),
            user["id"].as_str().unwrap(),
            event["createdAt"].as_str().unwrap()
        )
    );

    let d = wait_settled(&app, wh["id"].as_str().unwrap(), 1).await;
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d["id"].as_str(), Some(r.headers["webhook-id"].as_str()));
    assert_eq!(
        (
            &d["status"],
            &d["attempts"],
            &d["responseStatus"],
            &d["responseBody"],
            &d["eventType"],
            &d["eventId"],
            &d["nextAttemptAt"],
            &d["error"]
        ),
        (
            &json!("delivered"),
            &json!(1),
            &json!(200),
            &json!("ok"),
            &json!("user.created"),
            &event["id"],
            &Value::Null,
            &Value::Null
        )
    );
    assert!(d["latencyMs"].is_i64() && d["deliveredAt"].is_string());
    assert_eq!(rx.got().len(), 1);
}

#[tokio::test]
async fn only_the_event_types_asked_for_are_delivered() {
    let app = app().await;
    let rx = Receiver::start(&[]).await;
    let wh = create_webhook(
        &app,
        json!({"url": rx.url, "eventTypes": ["organization.created"]}),
    )
    .await;
    app.create_user("Ann Example", "ann@example.com").await;
    let org = app.create_org(json!({"name": "Acme"})).await;
    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        (&body["type"], &body["subjectId"]),
        (&json!("organization.created"), &org["id"])
    );
    let d = wait_settled(&app, wh["id"].as_str().unwrap(), 1).await;
    assert_eq!(d.len(), 1);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_an_event_says_so() {
    let app = app().await;
    let rx = Receiver::start(&[410]).await;
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    let id = wh["id"].as_str().unwrap();
    app.create_user("Ann Example", "ann@example.com").await;
    let d = wait_settled(&app, id, 1).await;
    assert_eq!(
        (&d[0]["status"], &d[0]["responseStatus"]),
        (&json!("failed"), &json!(410))
    );
    let w = json_of(app.get(&format!("/webhooks/{id}")).await, 200).await;
    assert_eq!(
        (&w["enabled"], &w["disabledReason"]),
        (&json!(false), &json!("the endpoint answered 410 Gone"))
    );
    let ev = json_of(app.get("/events?type=webhook.disabled").await, 200).await;
    assert_eq!(ev["data"][0]["subjectId"], json!(id));
    assert_eq!(ev["data"][0]["changes"], json!(["enabled"]));
    // Disabled: later events are not attempted, a test is refused.
    app.create_user("Bob Example", "bob@example.com").await;
    let res = app.post(&format!("/webhooks/{id}/test"), &json!({})).await;
    assert_error(res, 409, "conflict").await;
    assert_eq!(rx.got().len(), 1);
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_message_id_until_it_succeeds() {
    let app = app().await;
    let rx = Receiver::start(&[500]).await;
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    app.create_user("Ann Example", "ann@example.com").await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body);
    let secret = wh["secret"].as_str().unwrap();
    assert!(got
        .iter()
        .all(|r| standard_webhooks_v1_matches(secret, r) == 1));
    let d = wait_settled(&app, wh["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        (&d[0]["status"], &d[0]["attempts"]),
        (&json!("delivered"), &json!(2))
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_once_it_is_up() {
    let app = app().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let wh = create_webhook(&app, json!({"url": format!("http://{addr}/hooks")})).await;
    let id = wh["id"].as_str().unwrap();
    app.create_user("Ann Example", "ann@example.com").await;
    // The first attempt fails: nothing listens.
    for _ in 0..600 {
        let d = deliveries(&app, id).await;
        if d.first().is_some_and(|d| d["attempts"].as_i64() >= Some(1)) {
            assert_eq!(d[0]["status"], "pending");
            assert_eq!(d[0]["error"], "could not connect to the endpoint");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rx = Receiver::on(TcpListener::bind(addr).await.unwrap(), &[]);
    let got = rx.wait_for(1).await;
    assert_eq!(
        standard_webhooks_v1_matches(wh["secret"].as_str().unwrap(), &got[0]),
        1
    );
    let d = wait_settled(&app, id, 1).await;
    assert_eq!(d[0]["status"], "delivered");
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_every_delivery() {
    let app = app().await;
    let rx = Receiver::start(&[]).await;
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    let id = wh["id"].as_str().unwrap();
    let old = wh["secret"].as_str().unwrap();
    let rotated = json_of(
        app.post(&format!("/webhooks/{id}/rotate-secret"), &json!({}))
            .await,
        200,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(json_of(app.get(&format!("/webhooks/{id}")).await, 200)
        .await
        .get("secret")
        .is_none());
    app.create_user("Ann Example", "ann@example.com").await;
    let r = &rx.wait_for(1).await[0];
    assert_eq!(r.headers["webhook-signature"].split(' ').count(), 2);
    assert_eq!(standard_webhooks_v1_matches(new, r), 1);
    assert_eq!(standard_webhooks_v1_matches(old, r), 1);
}

#[tokio::test]
async fn a_private_address_is_refused_unless_allowed() {
    let app = spawn_app_with(|_| {}).await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://[::1]/hooks",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
    ] {
        let res = app.post("/webhooks", &json!({"url": url})).await;
        let v = assert_error(res, 400, "validation_error").await;
        let msg = v["details"]["url"][0].as_str().unwrap();
        assert!(msg.contains("private, loopback or link-local"), "{msg}");
    }
    let res = app
        .post("/webhooks", &json!({"url": "http://[::1]/hooks"}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        json_of(app.get("/webhooks").await, 200).await,
        json!({"data": []})
    );
}

#[tokio::test]
async fn a_test_event_goes_to_one_endpoint_and_a_delivery_can_be_retried() {
    let app = app().await;
    let (rx, other) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    create_webhook(&app, json!({"url": other.url})).await;
    let id = wh["id"].as_str().unwrap();
    let queued = json_of(
        app.post(&format!("/webhooks/{id}/test"), &json!({})).await,
        202,
    )
    .await;
    assert_eq!(
        (&queued["status"], &queued["eventType"], &queued["attempts"]),
        (&json!("pending"), &json!("webhook.test"), &json!(0))
    );
    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        (&body["type"], &body["subjectId"]),
        (&json!("webhook.test"), &json!(id))
    );
    // Its data: the endpoint as GET /webhooks/{id} shows it (never the secret).
    assert_data(
        &got[0].body,
        &text_of(app.get(&format!("/webhooks/{id}")).await, 200).await,
    );
    wait_settled(&app, id, 1).await;
    let did = queued["id"].as_str().unwrap();
    let again = json_of(
        app.post(
            &format!("/webhooks/{id}/deliveries/{did}/retry"),
            &json!({}),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(again["status"], "pending");
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].headers["webhook-id"], did);
    let d = wait_settled(&app, id, 1).await;
    assert_eq!(
        (&d[0]["status"], &d[0]["attempts"]),
        (&json!("delivered"), &json!(2))
    );
    assert_error(
        app.post(
            &format!("/webhooks/{id}/deliveries/dlv-nope/retry"),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert!(other.got().is_empty());
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_event_once() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 20;
    })
    .await;
    let rx = Receiver::start(&[]).await;
    let wh = create_webhook(&a, json!({"url": rx.url})).await;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.create_user(&format!("User {i}"), &format!("u{i}@example.com"))
            .await;
    }
    let d = wait_settled(&b, wh["id"].as_str().unwrap(), 20).await;
    assert!(
        d.iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{d:?}"
    );
    let got = rx.got();
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (20, 20));
}

#[tokio::test]
async fn a_create_with_an_idempotency_key_replays_the_same_endpoint_and_secret() {
    let app = app().await;
    let send = || {
        app.req(reqwest::Method::POST, "/webhooks")
            .header("Idempotency-Key", "wh-once")
            .json(&json!({"url": "http://127.0.0.1:9/hooks"}))
            .send()
    };
    let first = json_of(send().await.unwrap(), 201).await;
    let res = send().await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(res, 201).await, first);
    let list = json_of(app.get("/webhooks").await, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_it_asks_with_the_same_message_id() {
    // retry_base_ms is 200: without Retry-After the second attempt would come ~0.2 s later.
    let app = app().await;
    let rx = Receiver::start(&[429]).await;
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    app.create_user("Ann Example", "ann@example.com").await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body);
    let secret = wh["secret"].as_str().unwrap();
    assert!(got
        .iter()
        .all(|r| standard_webhooks_v1_matches(secret, r) == 1));
    // The receiver's own clock: a lower bound on the server's wait (Retry-After: 2, less a
    // little for the millisecond rounding of the stored next attempt).
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1_900),
        "the retry came {gap:?} after a 429 with Retry-After: 2"
    );
    let d = wait_settled(&app, wh["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        (&d[0]["status"], &d[0]["attempts"], &d[0]["responseStatus"]),
        (&json!("delivered"), &json!(2), &json!(200))
    );
    assert_eq!(rx.got().len(), 2);
}

/// An `invois serve` child process, killed (SIGKILL) and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real `invois serve` on `engine` with fast webhook settings and no rate limits.
async fn serve(engine: &[String]) -> (Child, String) {
    let (child, base) = start_binary_on(
        engine,
        &[
            ("INVOIS_WEBHOOKS__ALLOW_PRIVATE", "true"),
            ("INVOIS_WEBHOOKS__POLL_MS", "50"),
            ("INVOIS_WEBHOOKS__RETRY_BASE_MS", "200"),
            ("INVOIS_WEBHOOKS__TIMEOUT_MS", "2000"),
            ("INVOIS_RATE_LIMIT__PER_MINUTE", "0"),
            ("INVOIS_RATE_LIMIT__PER_HOUR", "0"),
            ("INVOIS_RATE_LIMIT__PER_DAY", "0"),
            ("INVOIS_LOG__LEVEL", "warn"),
        ],
    )
    .await;
    (Child(child), base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_minus_nine_during_a_burst_loses_no_delivery_of_an_acknowledged_write() {
    // One database, served by one process at a time (SQLite: one server per file).
    let dir = tempfile::tempdir().unwrap();
    let pg = fresh_test_database();
    let mut dbcfg = DatabaseConfig {
        path: dir.path().join("test.db"),
        ..DatabaseConfig::default()
    };
    if let Some(pg) = &pg {
        dbcfg.url.clone_from(&pg.url);
    }
    let key = {
        let dbcfg = dbcfg.clone();
        let db = blocking(move || invois::storage::open(&dbcfg).expect("open db")).await;
        let key = create_key_in(&db, &Scope::ALL, None).await;
        blocking(move || drop(db)).await;
        key
    };
    let engine = engine_args(&dbcfg);
    let (mut first, base) = serve(&engine).await;
    let rx = Receiver::start(&[]).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/integrations/webhooks"))
        .header("X-Invois-Key", &key)
        .json(&json!({"url": rx.url, "eventTypes": ["user.created"]}))
        .send()
        .await
        .unwrap();
    let wh = json_of(res, 201).await;
    let secret = wh["secret"].as_str().unwrap().to_owned();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let Ok(res) = client
                        .post(format!("{base}/api/integrations/users"))
                        .header("X-Invois-Key", &key)
                        .json(&json!({"name": format!("Writer {w} {i}"),
                                      "email": format!("w{w}.{i}@example.com")}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    let status = res.status();
                    let Ok(text) = res.text().await else { break };
                    assert_eq!(status, 201, "{text}");
                    let v: Value = serde_json::from_str(&text).unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .push(v["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    // At least 50 writes acknowledged, then SIGKILL mid-burst: no shutdown code runs.
    for _ in 0..600 {
        if acked.lock().unwrap().len() >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "only {} writes acknowledged",
        acked.len()
    );

    // A new process on the same database delivers whatever the killed one had not.
    // A delivery the killed process had claimed waits out its lease (timeout_ms + 10 s) before
    // another process takes it; the bound of 90 s only guards against a hung test.
    let (_second, _) = serve(&engine).await;
    let restarted = Instant::now();
    let mut missing = acked.clone();
    for _ in 0..1_800 {
        let got = rx.got();
        let seen: std::collections::HashSet<String> = got
            .iter()
            .map(|r| {
                assert_eq!(standard_webhooks_v1_matches(&secret, r), 1, "{r:?}");
                let body: Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(body["type"], "user.created", "{}", r.body);
                body["subjectId"].as_str().unwrap().to_owned()
            })
            .collect();
        missing.retain(|id| !seen.contains(id));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "acknowledged users with no delivery (of {})",
        acked.len()
    );
    eprintln!(
        "kill -9: {} users acknowledged, {} deliveries received, none missing, {:?} after the restart",
        acked.len(),
        rx.got().len(),
        restarted.elapsed()
    );
}

/// The body of `res` as text, asserting its status.
async fn text_of(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status);
    res.text().await.unwrap()
}

/// The delivery bodies a receiver got, one per message id (a retry sends the same bytes).
fn bodies_by_type(got: &[Received]) -> HashMap<String, Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in got {
        if seen.insert(r.headers["webhook-id"].clone()) {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            out.entry(v["type"].as_str().unwrap().to_owned())
                .or_default()
                .push(r.body.clone());
        }
    }
    out
}

/// `body` is an event whose `data` is exactly `view` (the text a GET answered), after the
/// event's documented fields.
fn assert_data(body: &str, view: &str) {
    let v: Value = serde_json::from_str(body).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = [
        "id",
        "type",
        "actorKeyId",
        "subjectId",
        "changes",
        "createdAt",
        "actorOperatorId",
        "data",
    ];
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "{body}");
    assert!(
        body.ends_with(&format!(r#","actorOperatorId":null,"data":{view}}}"#)),
        "the delivery's data is not the view {view}:\n{body}"
    );
}

#[tokio::test]
async fn a_delivery_carries_the_resource_as_its_get_showed_it_when_the_event_was_recorded() {
    // No automatic retry within the test: every delivery is sent by a manual retry once all
    // the writes are done, so a view rendered at send time (not at write time) would show.
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.webhooks.retry_base_ms = 3_600_000;
    })
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let wh = create_webhook(&app, json!({"url": format!("http://{addr}/hooks")})).await;
    let wid = wh["id"].as_str().unwrap().to_owned();
    let put = |path: String, body: Value| app.req(reqwest::Method::PUT, &path).json(&body).send();
    let mut want: Vec<(&str, String)> = Vec::new();

    let res = app
        .post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
        .await;
    assert_eq!(res.status(), 201);
    want.push((
        "tier.created",
        text_of(app.get("/tiers/tier-gold").await, 200).await,
    ));
    let res = put("/tiers/tier-gold".into(), json!({"name": "Gold Plus"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    want.push((
        "tier.updated",
        text_of(app.get("/tiers/tier-gold").await, 200).await,
    ));

    let org = app
        .create_org(json!({"name": "Acme", "premiumTierId": "tier-gold"}))
        .await;
    let oid = org["id"].as_str().unwrap().to_owned();
    let org_view = || async { text_of(app.get(&format!("/organizations/{oid}")).await, 200).await };
    want.push(("organization.created", org_view().await));
    let user = app.create_user("Ann Example", "ann@example.com").await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let user_view = || async { text_of(app.get(&format!("/users/{uid}")).await, 200).await };
    want.push(("user.created", user_view().await));
    let m = app.add_member(&oid, &uid, "admin").await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let member_view = || async {
        text_of(
            app.get(&format!("/organizations/{oid}/members/{mid}"))
                .await,
            200,
        )
        .await
    };
    want.push(("membership.created", member_view().await));
    let res = app
        .patch(
            &format!("/users/{uid}"),
            &json!({"name": "Ann Other", "metadata": {"plan": "gold"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    want.push(("user.updated", user_view().await));
    let res = app
        .patch(
            &format!("/organizations/{oid}"),
            &json!({"name": "Acme Two"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    want.push(("organization.updated", org_view().await));
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{mid}"),
            &json!({"role": "owner"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let last_member = member_view().await;
    want.push(("membership.updated", last_member.clone()));
    // Deleted: the last state before the deletion (a user's memberships go first, each with
    // its own last state).
    let last_user = user_view().await;
    assert!(last_user.contains(&mid), "{last_user}");
    assert_eq!(app.delete(&format!("/users/{uid}")).await.status(), 204);
    want.push(("membership.deleted", last_member));
    want.push(("user.deleted", last_user));
    let last_org = org_view().await;
    assert_eq!(
        app.delete(&format!("/organizations/{oid}")).await.status(),
        204
    );
    want.push(("organization.deleted", last_org));
    let last_tier = text_of(app.get("/tiers/tier-gold").await, 200).await;
    assert_eq!(app.delete("/tiers/tier-gold").await.status(), 204);
    want.push(("tier.deleted", last_tier));
    let key = json_of(app.post("/keys", &json!({"name": "sync"})).await, 201).await;
    let kid = key["id"].as_str().unwrap().to_owned();
    // A key as GET /keys lists it, byte for byte (a key's view holds no nested object).
    let key_view = |list: String| {
        let start = list.find(&format!(r#"{{"id":"{kid}""#)).unwrap();
        let end = start + list[start..].find('}').unwrap() + 1;
        list[start..end].to_owned()
    };
    want.push((
        "key.created",
        key_view(text_of(app.get("/keys").await, 200).await),
    ));
    assert_eq!(app.delete(&format!("/keys/{kid}")).await.status(), 204);
    want.push((
        "key.revoked",
        key_view(text_of(app.get("/keys").await, 200).await),
    ));

    // Every delivery has had its first attempt (refused: nothing listens); then the receiver
    // comes up and each is sent again by hand.
    let n = want.len();
    let mut ds = Vec::new();
    for _ in 0..600 {
        ds = deliveries(&app, &wid).await;
        if ds.len() == n && ds.iter().all(|d| d["attempts"].as_i64() >= Some(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ds.iter()
            .all(|d| d["status"] == "pending" && d["attempts"] == 1),
        "{ds:?}"
    );
    let rx = Receiver::on(TcpListener::bind(addr).await.unwrap(), &[]);
    for d in &ds {
        let did = d["id"].as_str().unwrap();
        let res = app
            .post(
                &format!("/webhooks/{wid}/deliveries/{did}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    let got = rx.wait_for(n).await;
    let secret = wh["secret"].as_str().unwrap();
    assert!(got
        .iter()
        .all(|r| standard_webhooks_v1_matches(secret, r) == 1));
    let mut by_type = bodies_by_type(&got);
    for (kind, view) in want {
        let bodies = by_type
            .get_mut(kind)
            .unwrap_or_else(|| panic!("no {kind} delivered"));
        assert_eq!(bodies.len(), 1, "{kind}: {bodies:?}");
        assert_data(&bodies.remove(0), &view);
    }
    let d = wait_settled(&app, &wid, n).await;
    assert!(d.iter().all(|d| d["status"] == "delivered"), "{d:?}");
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_disable_after_hours_is_disabled_and_its_deliveries_stop() {
    // 0.00001 h = 36 ms: the first retry (retry_base_ms 200) comes after that.
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.webhooks.retry_base_ms = 200;
        c.webhooks.disable_after_hours = 0.00001;
    })
    .await;
    let failing = Receiver::start(&[500; 10]).await;
    let watcher = Receiver::start(&[]).await;
    let bad = create_webhook(&app, json!({"url": failing.url})).await;
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let good = create_webhook(&app, json!({"url": watcher.url})).await;
    app.create_user("Ann Example", "ann@example.com").await;
    let mut w = Value::Null;
    for _ in 0..600 {
        w = json_of(app.get(&format!("/webhooks/{bad_id}")).await, 200).await;
        if w["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (&w["enabled"], &w["disabledReason"]),
        (
            &json!(false),
            &json!("every attempt failed for more than 0.00001 hours")
        )
    );
    let attempts = failing.got().len();
    assert!(attempts >= 1);
    let ev = json_of(app.get("/events?type=webhook.disabled").await, 200).await;
    assert_eq!(ev["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &ev["data"][0]["subjectId"],
            &ev["data"][0]["changes"],
            &ev["data"][0]["actorKeyId"]
        ),
        (&json!(bad_id), &json!(["enabled"]), &Value::Null)
    );
    // The other endpoint is told, with the disabled endpoint as GET /webhooks/{id} shows it.
    let view = text_of(app.get(&format!("/webhooks/{bad_id}")).await, 200).await;
    assert!(!view.contains("whsec_"));
    let got = watcher.wait_for(2).await;
    let disabled = bodies_by_type(&got).remove("webhook.disabled").unwrap();
    assert_data(&disabled[0], &view);
    // Its deliveries stop: a later event goes to the other endpoint only, and the pending
    // delivery of the disabled one is not attempted again.
    app.create_user("Bob Example", "bob@example.com").await;
    let got = watcher.wait_for(3).await;
    assert_eq!(bodies_by_type(&got)["user.created"].len(), 2);
    wait_settled(&app, good["id"].as_str().unwrap(), 3).await;
    let d = deliveries(&app, &bad_id).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (&d[0]["status"], &d[0]["attempts"]),
        (&json!("pending"), &json!(attempts))
    );
    assert_eq!(failing.got().len(), attempts);
}

#[tokio::test]
async fn a_webhook_has_an_etag_and_a_stale_if_match_is_412() {
    let app = app().await;
    let wh = create_webhook(&app, json!({"url": "http://127.0.0.1:9/hooks"})).await;
    let path = format!("/webhooks/{}", wh["id"].as_str().unwrap());
    let res = app.get(&path).await;
    let tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body = text_of(res, 200).await;
    assert_eq!(tag, invois::routes::etag_of(&body));
    let res = app
        .req(reqwest::Method::GET, &path)
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // PATCH and PUT with the current tag succeed and answer the new one.
    let res = app
        .req(reqwest::Method::PATCH, &path)
        .header("If-Match", &tag)
        .json(&json!({"description": "one"}))
        .send()
        .await
        .unwrap();
    let tag2 = res.headers()["etag"].to_str().unwrap().to_owned();
    let text = text_of(res, 200).await;
    assert_eq!(tag2, invois::routes::etag_of(&text));
    assert_eq!(text, text_of(app.get(&path).await, 200).await);
    assert_ne!(tag, tag2);
    let res = app
        .req(reqwest::Method::PUT, &path)
        .header("If-Match", &tag2)
        .json(&json!({"description": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The old tags are stale now: each write is refused and changes nothing.
    for (method, stale) in [
        (reqwest::Method::PATCH, &tag),
        (reqwest::Method::PUT, &tag2),
        (reqwest::Method::DELETE, &tag),
    ] {
        let mut req = app.req(method.clone(), &path).header("If-Match", stale);
        if method != reqwest::Method::DELETE {
            req = req.json(&json!({"description": "three"}));
        }
        assert_error(req.send().await.unwrap(), 412, "precondition_failed").await;
    }
    let now = json_of(app.get(&path).await, 200).await;
    assert_eq!(now["description"], "two");
    let res = app
        .req(reqwest::Method::DELETE, &path)
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

/// The receiver of `tests/webhooks/receiver.py`: every delivery verified by the reference
/// `standardwebhooks` package from PyPI (in `target/pyvenv-webhooks`, built once by
/// `tests/webhooks/run_receiver.py`), once per secret it was given.
struct PyReceiver {
    url: String,
    stdin: Option<tokio::process::ChildStdin>,
    oks: tokio::sync::mpsc::UnboundedReceiver<()>,
    deliveries: tokio::sync::mpsc::UnboundedReceiver<Value>,
    _child: tokio::process::Child,
}

/// What `run_receiver.py` exits with when the machine cannot provide the library.
const TOOLS_UNAVAILABLE: i32 = 3;

impl PyReceiver {
    /// Started, or `None` (a loud skip) where python3 with venv and PyPI are missing; on CI
    /// (`CI=true`) that fails instead.
    async fn start() -> Option<Self> {
        use std::process::Stdio;
        use tokio::io::AsyncBufReadExt;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/run_receiver.py");
        let spawned = tokio::process::Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return Self::unavailable(&format!("cannot run python3 ({e})")),
        };
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // A backstop only: the venv builder bounds its own waits (lock 900 s, pip 600 s).
        let first = tokio::time::timeout(Duration::from_secs(1800), lines.next_line())
            .await
            .expect("the receiver did not start in 30 minutes");
        let url = match first {
            Ok(Some(l)) if l.starts_with("LISTENING ") => l["LISTENING ".len()..].to_owned(),
            other => {
                let status = child.wait().await.unwrap();
                if status.code() == Some(TOOLS_UNAVAILABLE) {
                    return Self::unavailable(&format!("run_receiver.py: {status} (see stderr)"));
                }
                panic!("the receiver did not start: {other:?}, {status}");
            }
        };
        let (ok_tx, oks) = tokio::sync::mpsc::unbounded_channel();
        let (d_tx, deliveries) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "OK" {
                    let _ = ok_tx.send(());
                } else if let Some(j) = l.strip_prefix("DELIVERY ") {
                    let _ = d_tx.send(serde_json::from_str::<Value>(j).unwrap());
                } else {
                    panic!("the receiver said {l:?}");
                }
            }
        });
        Some(Self {
            url,
            stdin: child.stdin.take(),
            oks,
            deliveries,
            _child: child,
        })
    }

    fn unavailable(why: &str) -> Option<Self> {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the webhook signature checks need python3 with venv and pip, and PyPI \
             (standardwebhooks); CI must have them:\n{why}"
        );
        eprintln!(
            "\n!!!!! SKIPPED: deliveries were not verified with the reference standardwebhooks \
             package: python3 with venv/pip or PyPI is not available here (on CI this fails):\n{why}\n"
        );
        None
    }

    /// Sends one command and waits until the receiver applied it.
    async fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.oks.recv())
            .await
            .expect("the receiver did not acknowledge in 30 s")
            .expect("the receiver ended");
    }

    /// The next delivery's report (a bound of 30 s against a hung test, not a timing).
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(30), self.deliveries.recv())
            .await
            .expect("no delivery in 30 s")
            .expect("the receiver ended")
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        // Its stdin closing ends receiver.py; kill_on_drop ends run_receiver.py.
        self.stdin.take();
    }
}

#[tokio::test]
async fn every_delivery_verifies_with_the_reference_standardwebhooks_package() {
    let app = app().await;
    let Some(mut rx) = PyReceiver::start().await else {
        return;
    };
    let wh = create_webhook(&app, json!({"url": rx.url})).await;
    let wid = wh["id"].as_str().unwrap().to_owned();
    let old = wh["secret"].as_str().unwrap().to_owned();
    rx.command(&format!("SECRETS {old}")).await;
    // The first delivery is answered 500 and sent again (signed anew, same message id).
    rx.command("FAIL 1").await;

    // One write of every kind of delivered event.
    let uid = app.create_user("Ann Example", "ann@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .patch(&format!("/users/{uid}"), &json!({"name": "Ann Other"}))
        .await;
    assert_eq!(res.status(), 200);
    let oid = app.create_org(json!({"name": "Acme"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mid = app.add_member(&oid, &uid, "admin").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .patch(
            &format!("/organizations/{oid}/members/{mid}"),
            &json!({"role": "owner"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.post("/tiers", &json!({"id": "tier-gold", "name": "Gold"}))
            .await
            .status(),
        201
    );
    assert_eq!(app.delete("/tiers/tier-gold").await.status(), 204);
    assert_eq!(
        app.post("/keys", &json!({"name": "sync"})).await.status(),
        201
    );
    assert_eq!(app.delete(&format!("/users/{uid}")).await.status(), 204);
    assert_eq!(
        app.delete(&format!("/organizations/{oid}")).await.status(),
        204
    );
    assert_eq!(
        app.post(&format!("/webhooks/{wid}/test"), &json!({}))
            .await
            .status(),
        202
    );
    let mut want = vec![
        "user.created",
        "user.updated",
        "organization.created",
        "membership.created",
        "membership.updated",
        "tier.created",
        "tier.deleted",
        "key.created",
        "membership.deleted",
        "user.deleted",
        "organization.deleted",
        "webhook.test",
    ];
    // Every request (one more: the answered-500 one, sent again), verified by the library.
    let mut reports = Vec::new();
    for _ in 0..=want.len() {
        reports.push(rx.next().await);
    }
    for r in &reports {
        assert_eq!(
            (&r["verified"], &r["signatures"]),
            (&json!([true]), &json!(1)),
            "{r}"
        );
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["data"]["id"], body["subjectId"], "{r}");
    }
    let statuses: Vec<&Value> = reports.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses.iter().filter(|s| ***s == json!(500)).count(), 1);
    let failed = reports.iter().find(|r| r["status"] == 500).unwrap();
    let again: Vec<&Value> = reports
        .iter()
        .filter(|r| r["webhookId"] == failed["webhookId"])
        .collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0]["body"], again[1]["body"]);
    let mut kinds: Vec<String> = reports
        .iter()
        .filter(|r| r["status"] == 204)
        .map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    kinds.sort_unstable();
    want.sort_unstable();
    assert_eq!(kinds, want);
    let d = wait_settled(&app, &wid, want.len()).await;
    assert!(d.iter().all(|d| d["status"] == "delivered"), "{d:?}");

    // During the rotation's overlap each delivery carries two signatures: the library verifies
    // it with the old secret alone and with the new one alone.
    let rotated = json_of(
        app.post(&format!("/webhooks/{wid}/rotate-secret"), &json!({}))
            .await,
        200,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap();
    rx.command(&format!("SECRETS {old} {new}")).await;
    app.create_user("Bob Example", "bob@example.com").await;
    let r = rx.next().await;
    assert_eq!(
        (&r["verified"], &r["signatures"], &r["status"]),
        (&json!([true, true]), &json!(2), &json!(204)),
        "{r}"
    );
    // A secret that is neither is refused by the library (the check can fail).
    rx.command(&format!("SECRETS {}", invois::webhooks::sign::new_secret()))
        .await;
    app.create_user("Cy Example", "cy@example.com").await;
    let r = rx.next().await;
    assert_eq!(
        r["verified"],
        json!(["WebhookVerificationError: No matching signature found"]),
        "{r}"
    );
}
