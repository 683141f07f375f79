//! SPEC §10: several instances on one PostgreSQL database behave as one service. Each test
//! starts two servers on one database (`spawn_two_on_one_database`, both with the same key,
//! as two instances behind a load balancer with one client) and checks one rule across them:
//! a write on one is read on the next request to the other; no cached view (organization
//! detail views, deep-page anchors, search matches) outlives another instance's write;
//! If-Match and Idempotency-Key hold across instances; a key revoked anywhere is refused
//! everywhere on the next request; the rate-limit windows are one budget; concurrent
//! duplicates give one 201; `kill -9` of an instance loses no acknowledged write; instances
//! starting together on a fresh database migrate it once.
//!
//! PostgreSQL only: every test returns at once on the SQLite run, where a database file
//! belongs to one server process (several servers on one file are not a supported
//! deployment; the same rules within one process are the other modules' tests).

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use invois::auth::Scope;
use rand::Rng;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::auth::{assert_unauthorized, get_with, key_id};
use crate::helpers::{
    create_key_in, free_port, fresh_test_database, on_postgres, spawn_app,
    spawn_two_on_one_database, spawn_two_on_one_database_with, wait_for_a_fresh_minute, TestApp,
};

// ---- helpers ----

/// Asserts `status` and returns the JSON body.
async fn body_of(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let what = format!("{} {}", res.url(), got);
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    body_of(app.get(path).await, 200).await
}

fn etag(res: &Response) -> String {
    res.headers()
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag on {} {}", res.status(), res.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

async fn total(app: &TestApp, path: &str) -> i64 {
    let v = get_ok(app, path).await;
    v["meta"]["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no meta.total in {v}"))
}

/// The ids of a list response's `data`.
fn ids(v: &Value) -> Vec<String> {
    v["data"].as_array().unwrap().iter().map(id_of).collect()
}

/// Asserts a 404 with exactly the §5 body and `message`.
async fn assert_not_found(res: Response, message: &str) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "Not Found", "message": message, "code": "not_found"})
        )
    );
}

/// A GET of `path` on `app` with `If-None-Match: tag`.
async fn get_if_none_match(app: &TestApp, path: &str, tag: &str) -> Response {
    app.req(Method::GET, path)
        .header("If-None-Match", tag)
        .send()
        .await
        .unwrap()
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Sends every request at once; returns the responses in the order given.
async fn all_at_once(reqs: Vec<reqwest::RequestBuilder>) -> Vec<Response> {
    futures_util::future::join_all(reqs.into_iter().map(reqwest::RequestBuilder::send))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// The two servers by turn: `pick(&a, &b, i)` is `a` for even `i`, `b` for odd.
fn pick<'a>(a: &'a TestApp, b: &'a TestApp, i: usize) -> &'a TestApp {
    if i.is_multiple_of(2) {
        a
    } else {
        b
    }
}

// ---- 1. a write on one instance is read on the next request to the other ----

#[tokio::test]
async fn a_write_on_one_instance_is_read_on_the_next_request_to_the_other() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;

    // A user created on A.
    let res = a
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com"}),
        )
        .await;
    let location = header(&res, "location").unwrap();
    let user = body_of(res, 201).await;
    let uid = id_of(&user);
    assert_eq!(location, format!("/api/integrations/users/{uid}"));
    assert_eq!(get_ok(&b, &location).await, user);
    let list = get_ok(&b, "/users").await;
    assert_eq!(
        (ids(&list), &list["meta"]["total"]),
        (vec![uid.clone()], &json!(1))
    );
    assert_eq!(total(&b, "/users?query=jane").await, 1);

    // Updated on B, read on A.
    let updated = body_of(b.patch(&location, &json!({"name": "Jane Lim"})).await, 200).await;
    assert_eq!(updated["name"], "Jane Lim");
    assert_eq!(get_ok(&a, &location).await, updated);
    assert_eq!(total(&a, "/users?query=lim").await, 1);
    assert_eq!(total(&a, "/users?query=smith").await, 0);

    // An organization created on A, read on B by id and by slug, in the list and in search.
    let org = a.create_org(json!({"name": "Acme Corporation"})).await;
    let oid = id_of(&org);
    assert_eq!(org["slug"], "acme-corporation");
    assert_eq!(get_ok(&b, &format!("/organizations/{oid}")).await, org);
    assert_eq!(get_ok(&b, "/organizations/acme-corporation").await, org);
    let list = get_ok(&b, "/organizations").await;
    assert_eq!(
        (ids(&list), &list["meta"]["total"]),
        (vec![oid.clone()], &json!(1))
    );
    assert_eq!(total(&b, "/organizations?query=acme").await, 1);

    // Renamed (and re-slugged) on B, read on A.
    let renamed = body_of(
        b.patch(
            &format!("/organizations/{oid}"),
            &json!({"name": "Acme Holdings", "slug": "acme-holdings"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&renamed["name"], &renamed["slug"]),
        (&json!("Acme Holdings"), &json!("acme-holdings"))
    );
    assert_eq!(get_ok(&a, &format!("/organizations/{oid}")).await, renamed);
    assert_eq!(get_ok(&a, "/organizations/acme-holdings").await, renamed);
    assert_not_found(
        a.get("/organizations/acme-corporation").await,
        "Organization not found",
    )
    .await;
    assert_eq!(total(&a, "/organizations?query=holdings").await, 1);
    assert_eq!(total(&a, "/organizations?query=corporation").await, 0);

    // A membership added on A: B sees it everywhere, with the member count.
    let member = a.add_member(&oid, &uid, "admin").await;
    let mid = id_of(&member);
    let member_path = format!("/organizations/{oid}/members/{mid}");
    assert_eq!(get_ok(&b, &member_path).await, member);
    let view = get_ok(&b, &format!("/organizations/{oid}")).await;
    assert_eq!(view["memberCount"], 1);
    assert_eq!(
        view["members"],
        json!([{"id": mid, "userId": uid, "role": "admin",
                "user": {"id": uid, "name": "Jane Lim", "email": "jane@example.com"},
                "createdAt": member["createdAt"]}])
    );
    let members = get_ok(&b, &format!("/organizations/{oid}/members")).await;
    assert_eq!(
        (ids(&members), &members["meta"]["total"]),
        (vec![mid.clone()], &json!(1))
    );
    let of_user = get_ok(&b, &format!("/users/{uid}/organizations")).await;
    assert_eq!(
        (ids(&of_user), &of_user["meta"]["total"]),
        (vec![oid.clone()], &json!(1))
    );
    let with_members = get_ok(&b, &location).await;
    assert_eq!(with_members["members"].as_array().unwrap().len(), 1);
    assert_eq!(with_members["members"][0]["id"], json!(mid));
    assert_eq!(with_members["members"][0]["role"], "admin");
    assert_eq!(with_members["members"][0]["organizationId"], json!(oid));

    // The membership updated on B, read on A.
    let promoted = body_of(b.patch(&member_path, &json!({"role": "owner"})).await, 200).await;
    assert_eq!(promoted["role"], "owner");
    assert_eq!(get_ok(&a, &member_path).await, promoted);
    assert_eq!(
        get_ok(&a, &format!("/organizations/{oid}")).await["members"][0]["role"],
        "owner"
    );

    // A second user and membership made on B: A counts two.
    let other = b.create_user("John Doe", "john@example.com").await;
    let other_id = id_of(&other);
    b.add_member(&oid, &other_id, "customer").await;
    assert_eq!(
        get_ok(&a, &format!("/organizations/{oid}")).await["memberCount"],
        2
    );
    assert_eq!(total(&a, &format!("/organizations/{oid}/members")).await, 2);
    assert_eq!(total(&a, "/users").await, 2);

    // The first membership deleted on A: gone on B.
    let res = a.delete(&member_path).await;
    assert_eq!(res.status(), 204);
    assert_not_found(b.get(&member_path).await, "Membership not found").await;
    assert_eq!(
        get_ok(&b, &format!("/organizations/{oid}")).await["memberCount"],
        1
    );
    assert_eq!(total(&b, &format!("/users/{uid}/organizations")).await, 0);
    assert_eq!(get_ok(&b, &location).await["members"], json!([]));

    // The second user deleted on B: gone on A, with its membership.
    let res = b.delete(&format!("/users/{other_id}")).await;
    assert_eq!(res.status(), 204);
    assert_not_found(a.get(&format!("/users/{other_id}")).await, "User not found").await;
    let view = get_ok(&a, &format!("/organizations/{oid}")).await;
    assert_eq!(
        (&view["memberCount"], &view["members"]),
        (&json!(0), &json!([]))
    );
    assert_eq!(total(&a, "/users").await, 1);
    assert_eq!(total(&a, "/users?query=john").await, 0);

    // The organization deleted on A: gone on B by id, by slug, from the list and search.
    let res = a.delete(&format!("/organizations/{oid}")).await;
    assert_eq!(res.status(), 204);
    assert_not_found(
        b.get(&format!("/organizations/{oid}")).await,
        "Organization not found",
    )
    .await;
    assert_not_found(
        b.get("/organizations/acme-holdings").await,
        "Organization not found",
    )
    .await;
    assert_eq!(total(&b, "/organizations").await, 0);
    assert_eq!(total(&b, "/organizations?query=acme").await, 0);
    assert_eq!(total(&b, &format!("/users/{uid}/organizations")).await, 0);
}

/// Walks `path` (which has a `?`) by `after` cursor, 2 per page, asking the two instances
/// by turn; the first page is asked with `first` (`"&after="` where an empty cursor starts
/// the walk); returns the ids in the order walked.
async fn walk_by_turns(a: &TestApp, b: &TestApp, path: &str, first: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut after = first.to_owned();
    for turn in 0.. {
        assert!(turn < 20, "{path}: the cursor must end");
        let page = get_ok(pick(a, b, turn), &format!("{path}&per_page=2{after}")).await;
        all.extend(ids(&page));
        match page["meta"]["next_cursor"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    all
}

#[tokio::test]
async fn cursors_and_the_event_feed_are_one_across_instances() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    // Made by turns on A and B, in name order.
    let mut made = Vec::new();
    for i in 0..5 {
        let org = pick(&a, &b, i)
            .create_org(json!({"name": format!("Cursor Org {i}")}))
            .await;
        made.push(id_of(&org));
    }
    // A cursor from one instance continues on the other.
    assert_eq!(
        walk_by_turns(&a, &b, "/organizations?query=cursor", "&after=").await,
        made
    );
    assert_eq!(
        walk_by_turns(&b, &a, "/organizations?query=cursor", "&after=").await,
        made
    );
    // One event feed, newest first in commit order, whichever instance wrote or reads.
    let feed = get_ok(&a, "/events?type=organization.created").await;
    assert_eq!(get_ok(&b, "/events?type=organization.created").await, feed);
    let subjects: Vec<&str> = feed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subjectId"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = made.iter().rev().map(String::as_str).collect();
    assert_eq!(subjects, newest_first);
    let walked = walk_by_turns(&b, &a, "/events?type=organization.created", "").await;
    assert_eq!(walked, ids(&feed));
}

// ---- 2. no instance serves a stale cached view after another's write ----

/// Reads the organization on `app` three times by id and three times by `slug`, so that its
/// view is in `app`'s cache; asserts every answer is the same; returns the body and ETag.
async fn warm_view(app: &TestApp, oid: &str, slug: &str) -> (Value, String) {
    let mut seen: Option<(Value, String)> = None;
    for path in [
        format!("/organizations/{oid}"),
        format!("/organizations/{slug}"),
    ] {
        for _ in 0..3 {
            let res = app.get(&path).await;
            let tag = etag(&res);
            let body = body_of(res, 200).await;
            match &seen {
                Some(s) => assert_eq!(s, &(body, tag), "{path}"),
                None => seen = Some((body, tag)),
            }
        }
    }
    seen.unwrap()
}

/// Reads the organization on `app` by id and by `slug`; asserts both are `expected` with
/// ETag `tag`, and that `If-None-Match` with the `stale` tag gets the new view (200), not 304.
async fn assert_view(
    app: &TestApp,
    oid: &str,
    slug: &str,
    expected: &Value,
    tag: &str,
    stale: &str,
) {
    assert_ne!(tag, stale, "the write did not change the ETag");
    for path in [
        format!("/organizations/{oid}"),
        format!("/organizations/{slug}"),
    ] {
        let res = app.get(&path).await;
        let got_tag = etag(&res);
        assert_eq!(
            (body_of(res, 200).await, got_tag),
            (expected.clone(), tag.to_owned()),
            "{path}"
        );
        let res = get_if_none_match(app, &path, stale).await;
        assert_eq!(etag(&res), tag, "{path}");
        assert_eq!(&body_of(res, 200).await, expected, "{path} If-None-Match");
    }
}

/// The current view of the organization on `app` (which made the write), with its ETag.
async fn view_on(app: &TestApp, oid: &str) -> (Value, String) {
    let res = app.get(&format!("/organizations/{oid}")).await;
    let tag = etag(&res);
    (body_of(res, 200).await, tag)
}

/// The ids an organization search on `app` finds, asked twice (the second from the cache).
async fn search(app: &TestApp, term: &str) -> Vec<String> {
    let first = get_ok(app, &format!("/organizations?query={term}")).await;
    let again = get_ok(app, &format!("/organizations?query={term}")).await;
    assert_eq!(first, again, "search {term} twice");
    assert_eq!(first["meta"]["total"], json!(ids(&first).len()));
    ids(&first)
}

#[tokio::test]
async fn no_instance_serves_a_stale_cached_view_or_search_after_another_instances_write() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    let res = a
        .post(
            "/tiers",
            &json!({"id": "tier-gold", "name": "Gold", "features": ["priority-support"],
                    "limits": {"maxUsers": 50, "maxStorage": "10GB", "apiCallsPerMonth": 100000}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user = a.create_user("Jane Smith", "jane@example.com").await;
    let uid = id_of(&user);
    let org = a
        .create_org(json!({"name": "Zephyr Holdings", "premiumTierId": "tier-gold"}))
        .await;
    let oid = id_of(&org);
    let mut slug = "zephyr-holdings".to_owned();
    assert_eq!(org["slug"], json!(slug));
    assert_eq!(org["premiumTier"]["name"], "Gold");

    // Warm B's view and search caches, then rename on A.
    let (view, stale) = warm_view(&b, &oid, &slug).await;
    assert_eq!(view, org);
    assert_eq!(search(&b, "zephyr").await, vec![oid.clone()]);
    assert_eq!(search(&b, "holdings").await, vec![oid.clone()]);
    let res = a
        .patch(
            &format!("/organizations/{oid}"),
            &json!({"name": "Zephyr Group"}),
        )
        .await;
    let tag = etag(&res);
    let renamed = body_of(res, 200).await;
    assert_eq!(renamed["name"], "Zephyr Group");
    assert_view(&b, &oid, &slug, &renamed, &tag, &stale).await;
    assert_eq!(search(&b, "holdings").await, Vec::<String>::new());
    assert_eq!(search(&b, "group").await, vec![oid.clone()]);
    assert_eq!(search(&b, "zephyr").await, vec![oid.clone()]);

    // A member added on A.
    let (_, stale) = warm_view(&b, &oid, &slug).await;
    let member = a.add_member(&oid, &uid, "admin").await;
    let (expected, tag) = view_on(&a, &oid).await;
    assert_eq!(expected["memberCount"], 1);
    assert_eq!(
        expected["members"],
        json!([{"id": member["id"], "userId": uid, "role": "admin",
                "user": {"id": uid, "name": "Jane Smith", "email": "jane@example.com"},
                "createdAt": member["createdAt"]}])
    );
    assert_view(&b, &oid, &slug, &expected, &tag, &stale).await;

    // The member's user renamed on A: the view shows members' names.
    let (_, stale) = warm_view(&b, &oid, &slug).await;
    let res = a
        .patch(
            &format!("/users/{uid}"),
            &json!({"name": "Jane Lim", "email": "lim@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (expected, tag) = view_on(&a, &oid).await;
    assert_eq!(
        expected["members"][0]["user"],
        json!({"id": uid, "name": "Jane Lim", "email": "lim@example.com"})
    );
    assert_view(&b, &oid, &slug, &expected, &tag, &stale).await;

    // The tier renamed on A: the view shows the tier.
    let (_, stale) = warm_view(&b, &oid, &slug).await;
    let res = a
        .patch("/tiers/tier-gold", &json!({"name": "Platinum"}))
        .await;
    assert_eq!(res.status(), 200);
    let (expected, tag) = view_on(&a, &oid).await;
    assert_eq!(expected["premiumTier"]["name"], "Platinum");
    assert_view(&b, &oid, &slug, &expected, &tag, &stale).await;

    // A second match created on A: B's cached search finds it.
    assert_eq!(search(&b, "zephyr").await, vec![oid.clone()]);
    let second = a.create_org(json!({"name": "Zephyr Two"})).await;
    let second_id = id_of(&second);
    assert_eq!(
        search(&b, "zephyr").await,
        vec![oid.clone(), second_id.clone()]
    );
    assert_eq!(total(&b, "/organizations").await, 2);

    // The slug changed on A: B's view by the old slug is gone.
    let (_, stale) = warm_view(&b, &oid, &slug).await;
    let res = a
        .patch(
            &format!("/organizations/{oid}"),
            &json!({"slug": "zephyr-new"}),
        )
        .await;
    let tag = etag(&res);
    let reslugged = body_of(res, 200).await;
    assert_not_found(
        b.get(&format!("/organizations/{slug}")).await,
        "Organization not found",
    )
    .await;
    slug = "zephyr-new".to_owned();
    assert_view(&b, &oid, &slug, &reslugged, &tag, &stale).await;

    // The member removed on A.
    let (_, stale) = warm_view(&b, &oid, &slug).await;
    let res = a
        .delete(&format!("/organizations/{oid}/members/{}", id_of(&member)))
        .await;
    assert_eq!(res.status(), 204);
    let (expected, tag) = view_on(&a, &oid).await;
    assert_eq!(
        (&expected["memberCount"], &expected["members"]),
        (&json!(0), &json!([]))
    );
    assert_view(&b, &oid, &slug, &expected, &tag, &stale).await;

    // The organization deleted on A: B's cached view and search forget it.
    warm_view(&b, &oid, &slug).await;
    assert_eq!(
        search(&b, "zephyr").await,
        vec![oid.clone(), second_id.clone()]
    );
    let res = a.delete(&format!("/organizations/{oid}")).await;
    assert_eq!(res.status(), 204);
    for path in [
        format!("/organizations/{oid}"),
        format!("/organizations/{slug}"),
    ] {
        assert_not_found(b.get(&path).await, "Organization not found").await;
    }
    assert_eq!(search(&b, "zephyr").await, vec![second_id]);
}

/// The ids of page `page` (10 per page) of the organization list on `app`, and the total.
async fn org_page(app: &TestApp, page: u32) -> (Vec<String>, i64) {
    let v = get_ok(app, &format!("/organizations?page={page}&per_page=10")).await;
    (ids(&v), v["meta"]["total"].as_i64().unwrap())
}

#[tokio::test]
async fn deep_pages_of_the_organization_list_follow_another_instances_writes() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    // 2,150 organizations: pages past offset 2,000 are served through cached anchors.
    let cfg = a.config.database.clone();
    tokio::task::spawn_blocking(move || {
        invois::storage::seed::bulk(&cfg, 2150, 0, 0, &|_, _, _| {}).unwrap();
    })
    .await
    .unwrap();
    // Warm B's anchors (and read each deep page twice, the second time from them).
    let mut before = Vec::new();
    for page in [205, 206, 207] {
        let first = org_page(&b, page).await;
        assert_eq!(org_page(&b, page).await, first);
        assert_eq!(first.1, 2150);
        assert_eq!(first.0.len(), 10);
        before.push(first.0);
    }
    let (p205, p206, p207) = (&before[0], &before[1], &before[2]);
    assert_eq!(org_page(&a, 206).await.0, *p206, "both instances agree");

    // An organization that sorts first, created on A: every later row moves down one.
    let first = a.create_org(json!({"name": "0000 First"})).await;
    let (page1, _) = org_page(&b, 1).await;
    assert_eq!(page1[0], id_of(&first));
    let shifted: Vec<String> = std::iter::once(p205[9].clone())
        .chain(p206[..9].iter().cloned())
        .collect();
    assert_eq!(org_page(&b, 206).await, (shifted, 2151));

    // Deleted on A: back where they were.
    let res = a.delete(&format!("/organizations/{}", id_of(&first))).await;
    assert_eq!(res.status(), 204);
    assert_eq!(org_page(&b, 206).await, (p206.clone(), 2150));

    // The first organization renamed on A so that it sorts last (after the generated names,
    // the last of which start with "Ōsaka"): every row moves up one.
    let (page1, _) = org_page(&b, 1).await;
    let res = a
        .patch(
            &format!("/organizations/{}", page1[0]),
            &json!({"name": "Ōsaka Zzzz Last"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (last, _) = org_page(&b, 215).await;
    assert_eq!(
        last.last(),
        Some(&page1[0]),
        "the renamed organization sorts last"
    );
    let shifted: Vec<String> = p206[1..]
        .iter()
        .cloned()
        .chain(std::iter::once(p207[0].clone()))
        .collect();
    assert_eq!(org_page(&b, 206).await, (shifted, 2150));
}

// ---- 3. If-Match holds across instances ----

const PRECONDITION_FAILED: &str = r#"{"error":"Precondition Failed","message":"The resource has changed since you read it (If-Match does not match its ETag); read it again","code":"precondition_failed"}"#;

async fn patch_if_match(app: &TestApp, path: &str, tag: &str, body: &Value) -> Response {
    app.req(Method::PATCH, path)
        .header("If-Match", tag)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn if_match_holds_across_instances() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    let user = a.create_user("Jane Smith", "jane@example.com").await;
    let org = a.create_org(json!({"name": "Acme Corporation"})).await;
    let member = a.add_member(&id_of(&org), &id_of(&user), "customer").await;
    // Each resource with the field to change, the value A sets and the value B tries (the
    // membership first: deleting the user deletes it).
    for (path, field, mine, theirs) in [
        (
            format!("/organizations/{}/members/{}", id_of(&org), id_of(&member)),
            "role",
            "admin",
            "owner",
        ),
        (
            format!("/users/{}", id_of(&user)),
            "name",
            "Jane A",
            "Jane B",
        ),
        (
            format!("/organizations/{}", id_of(&org)),
            "name",
            "Acme A",
            "Acme B",
        ),
    ] {
        let (mine, theirs) = (json!({ field: mine }), json!({ field: theirs }));
        // Both read E (B twice, so that an organization view is in its cache).
        let tag = etag(&a.get(&path).await);
        for _ in 0..2 {
            assert_eq!(etag(&b.get(&path).await), tag, "{path}: one ETag on both");
        }
        let res = patch_if_match(&a, &path, &tag, &mine).await;
        let new_tag = etag(&res);
        let won = body_of(res, 200).await;
        assert_eq!(won[field], mine[field], "{path}");
        let res = patch_if_match(&b, &path, &tag, &theirs).await;
        assert_eq!(res.status(), 412, "{path}");
        assert_eq!(res.text().await.unwrap(), PRECONDITION_FAILED, "{path}");
        // Nothing was overwritten, on either instance.
        for app in [&a, &b] {
            let res = app.get(&path).await;
            assert_eq!(etag(&res), new_tag, "{path}");
            assert_eq!(body_of(res, 200).await, won, "{path}");
        }
        // The new ETag is good on the other instance.
        let res = patch_if_match(&b, &path, &new_tag, &theirs).await;
        let latest = etag(&res);
        assert_eq!(body_of(res, 200).await[field], theirs[field], "{path}");
        // A DELETE on A with the tag B's update made stale is refused; with B's, it deletes.
        let res = a
            .req(Method::DELETE, &path)
            .header("If-Match", &new_tag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 412, "{path}");
        assert_eq!(res.text().await.unwrap(), PRECONDITION_FAILED, "{path}");
        assert_eq!(get_ok(&b, &path).await[field], theirs[field], "{path}");
        let res = a
            .req(Method::DELETE, &path)
            .header("If-Match", &latest)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(b.get(&path).await.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_if_match_updates_over_two_instances_let_exactly_one_win() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    let org = a.create_org(json!({"name": "Acme Corporation"})).await;
    let path = format!("/organizations/{}", id_of(&org));
    let tag = etag(&b.get(&path).await);
    let reqs = (0..10)
        .map(|i| {
            pick(&a, &b, i)
                .req(Method::PATCH, &path)
                .header("If-Match", &tag)
                .json(&json!({"name": format!("Acme {i}")}))
        })
        .collect();
    let mut winners = Vec::new();
    for (i, res) in all_at_once(reqs).await.into_iter().enumerate() {
        match res.status().as_u16() {
            200 => winners.push(i),
            412 => assert_eq!(res.text().await.unwrap(), PRECONDITION_FAILED),
            other => panic!("status {other}: {}", res.text().await.unwrap()),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one If-Match update wins: {winners:?}"
    );
    let name = format!("Acme {}", winners[0]);
    for app in [&a, &b] {
        assert_eq!(get_ok(app, &path).await["name"], json!(name));
    }
}

// ---- 4. Idempotency-Key holds across instances ----

async fn post_idem(app: &TestApp, path: &str, idem: &str, body: &Value) -> Response {
    app.req(Method::POST, path)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Status, `Location`, `idempotent-replayed` and the raw body.
async fn parts(res: Response) -> (u16, Option<String>, Option<String>, String) {
    let status = res.status().as_u16();
    let location = header(&res, "location");
    let replayed = header(&res, "idempotent-replayed");
    (status, location, replayed, res.text().await.unwrap())
}

const IDEMPOTENCY_KEY_REUSED: &str = r#"{"error":"Unprocessable Entity","message":"This Idempotency-Key was used with a different request; use a new key","code":"idempotency_key_reused"}"#;

#[tokio::test]
async fn an_idempotency_key_used_on_one_instance_replays_on_the_other() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    let body = json!({"name": "Jane Smith", "email": "jane@example.com"});
    let (s1, l1, r1, b1) = parts(post_idem(&a, "/users", "retry-1", &body).await).await;
    assert_eq!((s1, r1), (201, None), "{b1}");
    let uid = id_of(&serde_json::from_str(&b1).unwrap());
    assert_eq!(l1, Some(format!("/api/integrations/users/{uid}")));
    let (s2, l2, r2, b2) = parts(post_idem(&b, "/users", "retry-1", &body).await).await;
    assert_eq!(
        (s2, l2, r2.as_deref(), b2),
        (201, l1, Some("true"), b1.clone()),
        "B replays A's response"
    );
    // The same key with another body, on B.
    let other = json!({"name": "John Doe", "email": "john@example.com"});
    let res = post_idem(&b, "/users", "retry-1", &other).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.text().await.unwrap(), IDEMPOTENCY_KEY_REUSED);
    for app in [&a, &b] {
        let list = get_ok(app, "/users").await;
        assert_eq!(
            (ids(&list), &list["meta"]["total"]),
            (vec![uid.clone()], &json!(1))
        );
    }
    // And back on A: still a replay.
    let (s3, _, r3, b3) = parts(post_idem(&a, "/users", "retry-1", &body).await).await;
    assert_eq!((s3, r3.as_deref(), b3), (201, Some("true"), b1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_posts_with_one_idempotency_key_over_two_instances_create_once() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;
    let body = json!({"name": "Concurrent Co"});
    let reqs = (0..20)
        .map(|i| {
            pick(&a, &b, i)
                .req(Method::POST, "/organizations")
                .header("Idempotency-Key", "one-create")
                .json(&body)
        })
        .collect();
    let mut answers = Vec::new();
    for res in all_at_once(reqs).await {
        answers.push(parts(res).await);
    }
    let (_, location, _, first) = answers
        .iter()
        .find(|p| p.2.is_none())
        .expect("one response is the original")
        .clone();
    let created: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        location,
        Some(format!(
            "/api/integrations/organizations/{}",
            id_of(&created)
        ))
    );
    let originals = answers.iter().filter(|p| p.2.is_none()).count();
    assert_eq!(originals, 1, "exactly one original response");
    for (status, loc, replayed, text) in &answers {
        assert_eq!(*status, 201, "{text}");
        assert_eq!((loc, text), (&location, &first), "every answer is the same");
        assert!(replayed.is_none() || replayed.as_deref() == Some("true"));
    }
    for app in [&a, &b] {
        let list = get_ok(app, "/organizations").await;
        assert_eq!(
            (ids(&list), &list["meta"]["total"]),
            (vec![id_of(&created)], &json!(1))
        );
    }
}

// ---- 5. a key revoked on one instance is refused on the other's next request ----

async fn post_with(app: &TestApp, key: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("X-Invois-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A new all-scope key, used twice on `app` so that `app` has it in its verified-key cache.
async fn cached_key(app: &TestApp) -> String {
    let key = app.key_with(&Scope::ALL).await;
    for _ in 0..2 {
        assert_eq!(get_with(app, &key, "/users").await.status(), 200);
    }
    key
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_on_the_others_next_request() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;

    // Cached on B, revoked on A: B's next request (a read) is refused.
    let victim = cached_key(&b).await;
    let res = a.delete(&format!("/keys/{}", key_id(&victim))).await;
    assert_eq!(res.status(), 204);
    let v = assert_unauthorized(get_with(&b, &victim, "/users").await, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked or has expired");
    // And every one after it, now verified afresh.
    let v = assert_unauthorized(get_with(&b, &victim, "/users").await, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked");

    // Cached on B, revoked on A: B's next request (a write) is refused and changes nothing.
    let victim = cached_key(&b).await;
    let res = a.delete(&format!("/keys/{}", key_id(&victim))).await;
    assert_eq!(res.status(), 204);
    let res = post_with(
        &b,
        &victim,
        "/users",
        &json!({"name": "After Revoke", "email": "after@example.com"}),
    )
    .await;
    let v = assert_unauthorized(res, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked or has expired");
    assert_eq!(total(&b, "/users?query=after").await, 0);
    assert_eq!(total(&a, "/users").await, 0);

    // Never seen by A, revoked on B: A refuses it too.
    let victim = b.key_with(&Scope::ALL).await;
    assert_eq!(get_with(&b, &victim, "/users").await.status(), 200);
    let res = b.delete(&format!("/keys/{}", key_id(&victim))).await;
    assert_eq!(res.status(), 204);
    let v = assert_unauthorized(get_with(&a, &victim, "/users").await, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked");

    // Cached on B, rotated on A: the old key is refused on B, the successor works there.
    let victim = cached_key(&b).await;
    let res = a
        .post(&format!("/keys/{}/rotate", key_id(&victim)), &Value::Null)
        .await;
    let successor = body_of(res, 201).await["key"].as_str().unwrap().to_owned();
    let v = assert_unauthorized(get_with(&b, &victim, "/users").await, Some(&victim)).await;
    assert_eq!(v["message"], "API key has been revoked or has expired");
    assert_eq!(get_with(&b, &successor, "/users").await.status(), 200);

    // Cached on both, revoked by the CLI: refused on both.
    let victim = cached_key(&b).await;
    assert_eq!(get_with(&a, &victim, "/users").await.status(), 200);
    assert_eq!(get_with(&a, &victim, "/users").await.status(), 200);
    let mut args = vec!["keys".to_owned(), "revoke".to_owned(), key_id(&victim)];
    args.extend(a.engine_args());
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::auth::invois(&args)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for app in [&a, &b] {
        let v = assert_unauthorized(get_with(app, &victim, "/users").await, Some(&victim)).await;
        assert_eq!(v["message"], "API key has been revoked or has expired");
    }
    // The service's own key was never touched.
    assert_eq!(a.get("/users").await.status(), 200);
    assert_eq!(b.get("/users").await.status(), 200);
}

// ---- 6. the rate-limit windows are one budget across instances ----

fn header_num(res: &Response, name: &str) -> i64 {
    header(res, name)
        .unwrap_or_else(|| panic!("{name} missing on {}", res.status()))
        .parse()
        .unwrap()
}

/// The minute window's reset as `X-RateLimit-Reset` writes it: the next minute after `t`.
fn minute_reset(t: i64) -> String {
    chrono::DateTime::from_timestamp((t.div_euclid(60) + 1) * 60, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Asserts a `429` of the minute window with `limit`, with exactly the published body.
async fn assert_over_the_minute(res: Response, limit: i64, reset: &str) {
    assert_eq!(res.status(), 429);
    assert_eq!(header_num(&res, "x-ratelimit-limit"), limit);
    assert_eq!(header_num(&res, "x-ratelimit-remaining"), 0);
    assert_eq!(header_num(&res, "x-ratelimit-window"), 60);
    assert_eq!(header(&res, "x-ratelimit-reset").as_deref(), Some(reset));
    let retry = header_num(&res, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        res.text().await.unwrap(),
        format!(
            r#"{{"error":"Rate Limit Exceeded","message":"Too many requests. Please try again later.","code":"rate_limited","details":{{"retry_after":{retry},"limit":{limit},"remaining":0,"reset_time":"{reset}","window":60}}}}"#
        )
    );
}

#[tokio::test]
async fn the_per_key_minute_window_is_one_budget_across_instances() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database_with(|c| c.rate_limit.per_minute = 10).await;
    let key = create_key_in(&a.db, &Scope::ALL, None).await;
    wait_for_a_fresh_minute(10).await;
    let reset = minute_reset(unix_now());
    for i in 0..10 {
        let res = get_with(pick(&a, &b, i), &key, "/users").await;
        assert_eq!(res.status(), 200, "request {i}");
        let got = (
            header_num(&res, "x-ratelimit-limit"),
            header_num(&res, "x-ratelimit-remaining"),
            header_num(&res, "x-ratelimit-window"),
            header(&res, "x-ratelimit-reset").unwrap(),
        );
        let left = 9 - i64::try_from(i).unwrap();
        assert_eq!(got, (10, left, 60, reset.clone()), "request {i}");
    }
    // The budget is spent: the next request is refused on either instance, and refused
    // requests change nothing.
    assert_over_the_minute(get_with(&a, &key, "/users").await, 10, &reset).await;
    assert_over_the_minute(get_with(&b, &key, "/users").await, 10, &reset).await;
    let res = post_with(
        &b,
        &key,
        "/users",
        &json!({"name": "Late", "email": "late@example.com"}),
    )
    .await;
    assert_over_the_minute(res, 10, &reset).await;
    // Another key has its own budget, on both.
    let other = create_key_in(&b.db, &Scope::ALL, None).await;
    for (i, app) in [&a, &b].into_iter().enumerate() {
        let res = get_with(app, &other, "/users?query=late").await;
        assert_eq!(
            header_num(&res, "x-ratelimit-remaining"),
            9 - i64::try_from(i).unwrap()
        );
        assert_eq!(body_of(res, 200).await["meta"]["total"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_over_two_instances_share_one_minute_budget() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database_with(|c| c.rate_limit.per_minute = 10).await;
    let key = create_key_in(&a.db, &Scope::ALL, None).await;
    wait_for_a_fresh_minute(10).await;
    let reset = minute_reset(unix_now());
    let reqs = (0..20)
        .map(|i| {
            let app = pick(&a, &b, i);
            app.client
                .get(app.url("/users"))
                .header("X-Invois-Key", &key)
        })
        .collect();
    let mut remaining = Vec::new();
    let mut refused = 0;
    for res in all_at_once(reqs).await {
        match res.status().as_u16() {
            200 => remaining.push(header_num(&res, "x-ratelimit-remaining")),
            429 => {
                assert_over_the_minute(res, 10, &reset).await;
                refused += 1;
            }
            other => panic!("status {other}"),
        }
    }
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..10).collect::<Vec<i64>>(),
        "each of the budget once"
    );
    assert_eq!(refused, 10);
}

/// The per-request count is one statement in autocommit: no transaction block around it
/// (no `BEGIN`/`COMMIT` round trips), so it is committed by itself.
#[tokio::test]
async fn the_rate_limit_count_runs_as_one_autocommit_statement() {
    if !on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let db = app.db.clone();
    let (counted, savepoint, after) = tokio::task::spawn_blocking(move || {
        let starts = [60, 3_600, 86_400];
        let mut counted = None;
        // A savepoint exists only inside a transaction block.
        let savepoint = db
            .autocommit(|c| {
                counted = Some(invois::storage::rate::count(c, "key-x", starts, [5, 0, 0])?);
                c.execute_batch("SAVEPOINT s")
            })
            .unwrap();
        // The count was committed by itself, although the closure then failed.
        let after = db
            .autocommit(|c| invois::storage::rate::count(c, "key-x", starts, [5, 0, 0]))
            .unwrap()
            .unwrap();
        (counted.unwrap(), savepoint, after)
    })
    .await
    .unwrap();
    assert_eq!(counted, ([0, 0, 0], true));
    let err = savepoint.unwrap_err().to_string();
    assert!(
        err.contains("SAVEPOINT can only be used in transaction blocks"),
        "{err}"
    );
    assert_eq!(after, ([1, 1, 1], true));
    // Webhook claims still get a transaction of their own.
    let db = app.db.clone();
    let in_block = tokio::task::spawn_blocking(move || {
        db.bookkeeping(|c| c.execute_batch("SAVEPOINT s")).unwrap()
    })
    .await
    .unwrap();
    assert!(in_block.is_ok(), "{in_block:?}");
}

// ---- 7. concurrent duplicate creates over two instances ----

/// Sends `n` copies of a POST of `body` to `path`, alternating between the instances;
/// asserts exactly one 201 and `n - 1` 409s with exactly `conflict` as body.
async fn one_created(a: &TestApp, b: &TestApp, n: usize, path: &str, body: &Value, conflict: &str) {
    let reqs = (0..n)
        .map(|i| pick(a, b, i).req(Method::POST, path).json(body))
        .collect();
    let mut created = 0;
    for res in all_at_once(reqs).await {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(text, conflict),
            other => panic!("{path}: status {other}: {text}"),
        }
    }
    assert_eq!(created, 1, "{path}: exactly one 201");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_duplicate_creates_over_two_instances_give_one_201() {
    if !on_postgres() {
        return;
    }
    let (a, b) = spawn_two_on_one_database().await;

    one_created(
        &a,
        &b,
        40,
        "/users",
        &json!({"name": "Same Person", "email": "same@example.com"}),
        r#"{"error":"Conflict","message":"Email already exists","code":"conflict","details":{"email":["Email is already taken"]}}"#,
    )
    .await;
    for app in [&a, &b] {
        assert_eq!(total(app, "/users").await, 1);
        assert_eq!(total(app, "/users?query=same@example.com").await, 1);
    }

    one_created(
        &a,
        &b,
        40,
        "/organizations",
        &json!({"name": "Same Org", "slug": "same-org"}),
        r#"{"error":"Conflict","message":"Slug same-org is already taken","code":"conflict","details":{"slug":["Slug is already taken"]}}"#,
    )
    .await;
    for app in [&a, &b] {
        let list = get_ok(app, "/organizations").await;
        assert_eq!(list["meta"]["total"], 1);
        assert_eq!(list["data"][0]["slug"], "same-org");
    }

    // And one membership, counted once.
    let user = get_ok(&a, "/users").await["data"][0].clone();
    let org = get_ok(&b, "/organizations/same-org").await;
    let path = format!("/organizations/{}/members", id_of(&org));
    one_created(
        &a,
        &b,
        40,
        &path,
        &json!({"userId": id_of(&user), "role": "customer"}),
        r#"{"error":"Conflict","message":"User is already a member of this organization","code":"conflict","details":{"userId":["User is already a member of this organization"]}}"#,
    )
    .await;
    for app in [&a, &b] {
        assert_eq!(
            get_ok(app, "/organizations/same-org").await["memberCount"],
            1
        );
        assert_eq!(total(app, &path).await, 1);
    }
}

// ---- 8. kill -9 of one instance loses no acknowledged write ----

/// An `invois serve` process, killed (SIGKILL) and reaped when dropped.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `invois serve --database-url URL` on a free port without waiting for it.
fn spawn_serve(url: &str) -> Server {
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_invois"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .env_remove("INVOIS_CONFIG")
        .env_remove("RUST_LOG")
        .env("INVOIS_RATE_LIMIT__PER_MINUTE", "0")
        .env("INVOIS_RATE_LIMIT__PER_HOUR", "0")
        .env("INVOIS_RATE_LIMIT__PER_DAY", "0")
        .env("INVOIS_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Waits until `server` answers `/readyz` with 200 (or panics after thirty seconds).
async fn wait_ready(server: &mut Server) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        if let Some(exit) = server.child.try_wait().unwrap() {
            panic!("invois serve exited with {exit} before it was ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("invois serve at {} did not become ready", server.base);
}

/// A user the server acknowledged with 201: its id and the fields sent.
#[derive(Debug, Clone)]
struct Acked {
    id: String,
    name: String,
    email: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_minus_nine_of_one_instance_loses_no_acknowledged_write() {
    if !on_postgres() {
        return;
    }
    // The surviving instance, and the process to kill on the same database.
    let app = spawn_app().await;
    let mut server = spawn_serve(&app.config.database.url);
    wait_ready(&mut server).await;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let fivexx: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (base, key) = (server.base.clone(), app.key.clone());
            let (acked, fivexx) = (acked.clone(), fivexx.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let (name, email) =
                        (format!("Writer {w} {i}"), format!("w{w}.{i}@example.com"));
                    let Ok(res) = client
                        .post(format!("{base}/api/integrations/users"))
                        .header("X-Invois-Key", &key)
                        .json(&json!({"name": name, "email": email}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    let status = res.status();
                    let Ok(text) = res.text().await else { break };
                    if status.is_server_error() {
                        fivexx.lock().unwrap().push(text);
                        continue;
                    }
                    assert_eq!(status, 201, "{text}");
                    let v: Value = serde_json::from_str(&text).unwrap();
                    acked.lock().unwrap().push(Acked {
                        id: id_of(&v),
                        name,
                        email,
                    });
                }
            })
        })
        .collect();
    // Let the burst build up (at least 50 writes acknowledged), then SIGKILL at a random
    // moment of it: no shutdown code runs.
    for _ in 0..600 {
        if acked.lock().unwrap().len() >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wait = rand::thread_rng().gen_range(0..300);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "too few writes acknowledged before the kill to prove anything: {}",
        acked.len()
    );
    assert_eq!(*fivexx.lock().unwrap(), Vec::<String>::new(), "no 5xx");
    // Every acknowledged user is there, as sent, on the surviving instance.
    for u in &acked {
        let v = get_ok(&app, &format!("/users/{}", u.id)).await;
        assert_eq!(
            (v["name"].as_str(), v["email"].as_str()),
            (Some(u.name.as_str()), Some(u.email.as_str())),
            "{}",
            u.id
        );
    }
    let stored = total(&app, "/users").await;
    assert!(
        stored >= i64::try_from(acked.len()).unwrap(),
        "{stored} users stored, {} acknowledged",
        acked.len()
    );
    // The killed process left no lock behind: the survivor still writes.
    app.create_user("After Kill", "after.kill@example.com")
        .await;
    eprintln!(
        "kill -9: {} writes acknowledged, all present on the other instance",
        acked.len()
    );
}

// ---- instances starting together on a fresh database ----

#[test]
fn connections_opening_a_fresh_database_at_once_migrate_it_once() {
    if !on_postgres() {
        return;
    }
    let database = fresh_test_database().unwrap();
    let cfg = invois::config::DatabaseConfig {
        url: database.url.clone(),
        pool_size: 2,
        ..Default::default()
    };
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (cfg, barrier) = (cfg.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                invois::storage::open(&cfg).map_err(|e| e.0)
            })
        })
        .collect();
    let dbs: Vec<invois::storage::Db> = threads
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("open while others open: {e}"))
        })
        .collect();
    let versions: Vec<i64> = dbs[0]
        .read_blocking(|c| {
            c.prepare_cached("SELECT version FROM schema_migrations ORDER BY version")?
                .query_map((), |r| r.get(0))?
                .collect::<invois::storage::Result<Vec<i64>>>()
        })
        .unwrap();
    // Each migration of PostgreSQL's list (3, the whole first schema, then one a version)
    // recorded exactly once.
    let want: Vec<i64> = (3..=invois::storage::schema_version()).collect();
    assert_eq!(versions, want, "migrated once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_starting_at_once_on_a_fresh_database_both_serve() {
    if !on_postgres() {
        return;
    }
    let database = fresh_test_database().unwrap();
    // Both started before either is waited for.
    let mut one = spawn_serve(&database.url);
    let mut two = spawn_serve(&database.url);
    wait_ready(&mut one).await;
    wait_ready(&mut two).await;
    let cfg = invois::config::DatabaseConfig {
        url: database.url.clone(),
        ..Default::default()
    };
    let db = tokio::task::spawn_blocking(move || invois::storage::open(&cfg).map_err(|e| e.0))
        .await
        .unwrap()
        .unwrap();
    let key = create_key_in(&db, &Scope::ALL, None).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/integrations/users", one.base))
        .header("X-Invois-Key", &key)
        .json(&json!({"name": "Jane Smith", "email": "jane@example.com"}))
        .send()
        .await
        .unwrap();
    let created = body_of(res, 201).await;
    let res = client
        .get(format!(
            "{}/api/integrations/users/{}",
            two.base,
            id_of(&created)
        ))
        .header("X-Invois-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(res, 200).await, created);
    drop((one, two));
    drop(db);
}
