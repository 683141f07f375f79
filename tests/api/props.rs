//! Property tests: every input parser takes arbitrary input without panicking and what it
//! accepts satisfies its documented invariant; and a bounded random walk over the HTTP API
//! (bodies, query strings, ids) that must only ever answer 2xx/4xx JSON, never a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;

use chrono::Datelike;
use invois::domain::fields::{Fields, Patch};
use invois::domain::{
    fold, parse_dob, parse_email, parse_name, parse_phone, parse_slug, parse_url, slugify,
};
use invois::error::ApiError;
use invois::routes::ListParams;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::helpers::spawn_app;

/// Strings that stress parsers: arbitrary Unicode, and ASCII-heavy text near the formats.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        "[ \t\n\r\u{0}\u{7f}\u{a0}\u{200b}a-zA-Z0-9@.+()_:/?#%-]{0,60}",
        "[0-9 ().+-]{0,30}",
        "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}",
    ]
}

fn is_slug_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_email_accepts_only_trimmed_addresses_with_a_local_part_and_a_dotted_domain(s in nasty()) {
        if let Ok(e) = parse_email(&s) {
            prop_assert_eq!(e.as_str(), s.trim());
            prop_assert!(e.len() <= 254);
            prop_assert!(!e.chars().any(|c| c.is_whitespace() || c.is_control()));
            let (local, domain) = e.rsplit_once('@').unwrap();
            prop_assert!(!local.is_empty() && local.len() <= 64 && !local.contains('@'));
            prop_assert!(domain.split('.').count() >= 2);
            prop_assert!(domain.split('.').all(|l| !l.is_empty()));
        }
    }

    #[test]
    fn parse_email_accepts_ordinary_addresses(
        local in "[a-z0-9]{1,10}([._+-][a-z0-9]{1,10}){0,3}",
        domain in "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,2}",
        tld in "[a-z]{2,6}",
    ) {
        let e = format!("{local}@{domain}.{tld}");
        prop_assert_eq!(parse_email(&e), Ok(e.clone()));
        prop_assert_eq!(parse_email(&format!("  {e}\t")), Ok(e));
    }

    #[test]
    fn parse_phone_accepts_only_strings_with_7_to_15_digits(s in nasty()) {
        if let Ok(p) = parse_phone(&s) {
            prop_assert_eq!(p.as_str(), s.trim());
            let digits = p.chars().filter(char::is_ascii_digit).count();
            prop_assert!((7..=15).contains(&digits), "{} digits in {:?}", digits, p);
            let body = p.strip_prefix('+').unwrap_or(&p);
            prop_assert!(body.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)));
        }
    }

    #[test]
    fn parse_phone_accepts_7_to_15_digits_and_refuses_other_counts(
        plus in any::<bool>(),
        good in "[0-9]{7,15}",
        short in "[0-9]{0,6}",
        long in "[0-9]{16,30}",
    ) {
        let p = if plus { format!("+{good}") } else { good };
        prop_assert!(parse_phone(&p).is_ok(), "{}", p);
        prop_assert!(parse_phone(&short).is_err());
        prop_assert!(parse_phone(&long).is_err());
    }

    #[test]
    fn parse_dob_accepts_only_real_past_dates_since_1900(s in nasty()) {
        if let Ok(d) = parse_dob(&s) {
            prop_assert_eq!(d.as_str(), s.trim());
            let date = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").unwrap();
            prop_assert_eq!(date.format("%Y-%m-%d").to_string(), d);
            prop_assert!(date.year() >= 1900);
            prop_assert!(date <= chrono::Utc::now().date_naive());
        }
    }

    #[test]
    fn parse_dob_takes_every_calendar_date_from_1900_until_today(
        y in 1900i32..=2024, m in 1u32..=12, d in 1u32..=31,
        early in 1000i32..1900, late_years in 1i32..100,
    ) {
        let s = format!("{y:04}-{m:02}-{d:02}");
        let real = chrono::NaiveDate::from_ymd_opt(y, m, d).is_some();
        prop_assert_eq!(parse_dob(&s).is_ok(), real, "{}", s);
        let early = format!("{early:04}-01-01");
        prop_assert!(parse_dob(&early).is_err());
        let future = chrono::Utc::now().year() + late_years;
        let future = format!("{future:04}-01-01");
        prop_assert!(parse_dob(&future).is_err());
    }

    #[test]
    fn parse_slug_accepts_only_lowercase_hyphenated_words(s in nasty()) {
        if let Ok(slug) = parse_slug(&s) {
            prop_assert_eq!(&slug, &s);
            prop_assert!(is_slug_shaped(&slug), "{:?}", slug);
        }
    }

    #[test]
    fn parse_slug_accepts_generated_slugs(s in "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,6}") {
        prop_assert_eq!(parse_slug(&s), Ok(s.clone()));
    }

    #[test]
    fn slugify_always_yields_a_valid_slug(s in nasty()) {
        let slug = slugify(&s);
        prop_assert!(slug.len() <= 80, "{:?}", slug);
        prop_assert!(parse_slug(&slug).is_ok(), "slugify({:?}) = {:?}", s, slug);
    }

    #[test]
    fn slugify_leaves_a_slug_as_it_is(s in "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,6}") {
        prop_assert_eq!(slugify(&s), s);
    }

    #[test]
    fn parse_url_accepts_only_http_urls_with_a_host(s in prop_oneof![
        nasty(),
        "(https?|ftp|javascript)://?[a-z@:.]{0,10}[/?#]?\\PC{0,20}",
    ]) {
        if let Ok(u) = parse_url(&s, "Logo") {
            prop_assert_eq!(u.as_str(), s.trim());
            prop_assert!(u.starts_with("http://") || u.starts_with("https://"));
            prop_assert!(u.len() <= 2048);
            prop_assert!(!u.chars().any(|c| c.is_whitespace() || c.is_control()));
            let rest = u.split_once("://").unwrap().1;
            let host = rest.split(['/', '?', '#']).next().unwrap();
            prop_assert!(!host.rsplit('@').next().unwrap().is_empty(), "{:?}", u);
        }
    }

    #[test]
    fn parse_name_keeps_2_to_max_printable_characters(s in nasty(), max in 2usize..300) {
        match parse_name(&s, "Name", max) {
            Ok(n) => {
                // Trimmed of white space and of invisible characters alike.
                prop_assert_eq!(n.as_str(), invois::domain::text::trim_visible(&s));
                let count = n.chars().count();
                prop_assert!((2..=max).contains(&count));
                prop_assert!(!n.chars().any(char::is_control));
            }
            Err(m) => prop_assert!(m.starts_with("Name "), "{}", m),
        }
    }

    #[test]
    fn fold_ignores_how_text_was_composed_and_is_stable(s in nasty()) {
        let f = fold(&s);
        prop_assert_eq!(&fold(&s.nfd().collect::<String>()), &f);
        prop_assert_eq!(&fold(&s.nfc().collect::<String>()), &f);
        prop_assert_eq!(&fold(&s.to_uppercase()), &fold(&s.to_uppercase().nfd().collect::<String>()));
    }

    #[test]
    fn fields_report_every_unknown_field_and_wrong_type_without_panicking(v in json_value()) {
        let is_object = v.is_object();
        let keys: Vec<String> = v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let original = v.clone();
        let f = Fields::new(v);
        let Ok(mut f) = f else {
            prop_assert!(!is_object);
            return Ok(());
        };
        prop_assert!(is_object);
        let name = f.string("name", |s| parse_name(s, "Name", 200));
        let count = f.integer("count", 100);
        let tags = f.string_list("tags", 3, parse_slug);
        let nested = f.object("nested");
        let known: BTreeSet<&str> = ["name", "count", "tags", "nested"].into();
        match f.finish() {
            Ok(()) => {
                prop_assert!(keys.iter().all(|k| known.contains(k.as_str())), "{}", original);
                // Accepted values are what was sent.
                if let Patch::Value(n) = name {
                    prop_assert_eq!(Some(n.as_str()), original["name"].as_str().map(str::trim));
                }
                if let Patch::Value(c) = count {
                    prop_assert!((0..=100).contains(&c));
                }
                if let Patch::Value(t) = tags {
                    prop_assert!(t.len() <= 3);
                }
                if let Patch::Value(o) = nested {
                    prop_assert!(o.is_object());
                }
            }
            Err(ApiError::Validation(d)) => {
                for k in keys.iter().filter(|k| !known.contains(k.as_str())) {
                    prop_assert!(d.contains_key(k), "unknown {} not reported in {:?}", k, d);
                }
                prop_assert!(d.keys().all(|k| keys.contains(k)), "{:?} for {}", d, original);
                prop_assert!(d.values().all(|m| !m.is_empty()));
            }
            Err(e) => prop_assert!(false, "unexpected error {:?}", e),
        }
    }

    #[test]
    fn list_query_strings_are_parsed_strictly_and_never_panic(q in query_string()) {
        let req = actix_web::test::TestRequest::default()
            .uri(&format!("/x?{q}"))
            .to_http_request();
        match ListParams::parse(&req, &["page", "per_page", "query", "role"]) {
            Ok(p) => {
                prop_assert!((1..=10_000_000).contains(&p.page.page));
                prop_assert!((1..=100).contains(&p.page.per_page));
                if let Some(t) = &p.query {
                    prop_assert!(!t.is_empty() && t.chars().count() <= 200);
                    prop_assert!(!t.chars().any(char::is_control));
                    prop_assert_eq!(t.trim(), t.as_str());
                }
            }
            Err(ApiError::InvalidQuery(d)) => prop_assert!(!d.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error {:?} for {}", e, q),
        }
    }
}

#[test]
fn slugify_never_produces_a_slug_that_looks_like_an_organization_id() {
    // `org-` and 26 letters or digits is the shape of an organization id, which
    // parse_slug refuses; a generated slug must not take it either.
    for name in [
        "Org 01jd6y2q6w8m4c0v9k3r5t7x1z",
        "ORG-abcdefghijklmnopqrstuvwxyz",
        "org abcdefghijklm nopqrstuvwxyz",
    ] {
        let slug = slugify(name);
        assert!(parse_slug(&slug).is_ok(), "slugify({name:?}) = {slug:?}");
    }
}

// ---- strategies ----

const FIELD_NAMES: &[&str] = &[
    "name",
    "firstName",
    "lastName",
    "email",
    "phone",
    "dob",
    "role",
    "slug",
    "logo",
    "premiumTierId",
    "userId",
    "id",
    "features",
    "limits",
    "maxUsers",
    "maxStorage",
    "apiCallsPerMonth",
    "scopes",
    "expiresInDays",
    "count",
    "tags",
    "nested",
    "__proto__",
    "",
];

const PLAUSIBLE: &[&str] = &[
    "jane@example.com",
    "+60 12-345 6789",
    "1985-03-20",
    "acme-corp",
    "https://example.com/a.png",
    "owner",
    "admin",
    "customer",
    "super-admin",
    "tier-gold",
    "read:users",
    "100GB",
    "Jane Smith",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-5i64..200).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        nasty().prop_map(Value::String),
        prop::sample::select(PLAUSIBLE).prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Objects of known field names with plausible values: these get past validation often.
fn plausible_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(FIELD_NAMES),
            prop::sample::select(PLAUSIBLE),
        ),
        1..5,
    )
    .prop_map(|kv| {
        Value::Object(
            kv.into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect(),
        )
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(FIELD_NAMES).prop_map(str::to_owned),
                        "\\PC{0,12}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,12}",
        "-?[0-9]{1,4}",
        nasty(),
        Just("1e3".to_owned()),
        Just("%zz".to_owned()),
        Just("%00".to_owned()),
        Just(String::new()),
    ]
}

fn query_string() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "page", "per_page", "query", "role", "sort", "after", "type", "subject", "x",
        ])
        .prop_map(str::to_owned),
        "[a-z_%]{0,8}",
    ];
    prop::collection::vec((name, query_value(), any::<bool>()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, raw)| {
                // Raw only where it is still a valid URI; otherwise percent-encoded.
                let uri_safe =
                    |b: u8| b.is_ascii_alphanumeric() || b"-._~!$'()*+,;=:@/?%".contains(&b);
                if raw && v.bytes().all(uri_safe) {
                    format!("{k}={v}")
                } else {
                    format!("{k}={}", encode(&v))
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- the HTTP API under random input ----

#[derive(Debug)]
struct RandomRequest {
    method: &'static str,
    path: String,
    query: String,
    body: Option<Value>,
    raw_body: Option<(String, &'static str)>,
    if_match: Option<String>,
    idempotency_key: Option<String>,
}

const TEMPLATES: &[&str] = &[
    "/users",
    "/users/{}",
    "/users/{}/organizations",
    "/organizations",
    "/organizations/{}",
    "/organizations/{}/members",
    "/organizations/{}/members/{}",
    "/tiers",
    "/tiers/{}",
    "/keys",
    "/keys/{}/rotate",
    "/events",
    "/nope/{}",
];

fn random_request(ids: Vec<String>) -> impl Strategy<Value = RandomRequest> {
    let id = prop_oneof![
        prop::sample::select(ids),
        "[A-Za-z0-9._~-]{1,40}",
        "%[0-9A-Fa-f]{2}[a-z]{0,5}",
        Just("key-0000000000000000".to_owned()),
    ];
    let raw = prop_oneof![
        Just(("{".to_owned(), "application/json")),
        Just(("[1,2".to_owned(), "application/json")),
        Just(("name=x".to_owned(), "application/x-www-form-urlencoded")),
        Just(("{\"name\":\"x\"}".to_owned(), "text/plain")),
        Just((String::new(), "application/json")),
        "\\PC{0,40}".prop_map(|s| (s, "application/json")),
    ];
    (
        prop::sample::select(vec!["GET", "GET", "POST", "POST", "PATCH", "DELETE", "PUT"]),
        prop::sample::select(TEMPLATES),
        (id.clone(), id),
        query_string(),
        prop_oneof![
            3 => json_value().prop_map(Some),
            2 => plausible_object().prop_map(Some),
            1 => Just(None),
        ],
        prop::option::weighted(0.15, raw),
        prop::option::of(prop_oneof![
            Just("*".to_owned()),
            "\"[a-f0-9]{0,24}\"",
            "\\PC{0,10}"
        ]),
        prop::option::weighted(0.2, "[ -~]{0,300}"),
    )
        .prop_map(
            |(method, template, (a, b), query, body, raw_body, if_match, idem)| {
                let path = template.replacen("{}", &a, 1).replacen("{}", &b, 1);
                RandomRequest {
                    method,
                    path,
                    query,
                    body,
                    raw_body,
                    if_match,
                    idempotency_key: idem,
                }
            },
        )
}

#[tokio::test]
async fn random_requests_get_json_answers_and_never_a_5xx() {
    let app = spawn_app().await;
    app.load_demo().await;
    let users: Value = app.get("/users?per_page=5").await.json().await.unwrap();
    let orgs: Value = app
        .get("/organizations?per_page=5")
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = [&users, &orgs]
        .iter()
        .flat_map(|v| v["data"].as_array().unwrap().iter())
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect();
    ids.extend(["tier-premium".to_owned(), "acme-corp".to_owned()]);
    if let Some(org) = orgs["data"][0]["id"].as_str() {
        let m: Value = app
            .get(&format!("/organizations/{org}/members?per_page=3"))
            .await
            .json()
            .await
            .unwrap();
        for x in m["data"].as_array().into_iter().flatten() {
            ids.push(x["id"].as_str().unwrap().to_owned());
        }
    }

    let strategy = random_request(ids);
    let mut runner = TestRunner::deterministic();
    let mut statuses = BTreeSet::new();
    for i in 0..250 {
        let r = strategy.new_tree(&mut runner).unwrap().current();
        let mut url = app.url(&r.path);
        if !r.query.is_empty() {
            url = format!("{url}?{}", r.query);
        }
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let mut req = app
            .client
            .request(method, &url)
            .header("X-Invois-Key", &app.key);
        if let Some(im) = &r.if_match {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(im) {
                req = req.header("If-Match", v);
            }
        }
        if let Some(k) = &r.idempotency_key {
            req = req.header("Idempotency-Key", k.as_str());
        }
        if let Some((raw, ct)) = &r.raw_body {
            req = req.header("content-type", *ct).body(raw.clone());
        } else if let Some(b) = &r.body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        statuses.insert(status);
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        let what = format!("#{i} {r:?} -> {status} {ct} {text}");
        assert!((200..500).contains(&status), "{what}");
        if status == 204 || status == 304 {
            assert!(text.is_empty(), "{what}");
            continue;
        }
        assert!(ct.starts_with("application/json"), "{what}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {what}"));
        if status >= 400 {
            assert!(v["code"].is_string() && v["message"].is_string(), "{what}");
            assert!(v["error"].is_string(), "{what}");
            assert_ne!(status, 401, "the key stopped working: {what}");
        }
    }
    // The walk reached past validation, not only into it.
    assert!(statuses.iter().any(|s| *s < 300), "{statuses:?}");
    assert!(statuses.iter().any(|s| *s >= 400), "{statuses:?}");
    // The server is still healthy afterwards.
    assert_eq!(app.get("/users").await.status(), 200);
}
