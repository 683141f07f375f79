//! Search (`query=`) on `/organizations` and `/users`: case-insensitive partial matches,
//! `%`, `_` and `\` taken literally, Unicode case folding, short and multi-word terms.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

/// GET with query pairs, URL-encoded properly.
async fn get_q(app: &TestApp, path: &str, q: &[(&str, &str)]) -> Response {
    app.req(Method::GET, path).query(q).send().await.unwrap()
}

/// A 200 JSON body.
async fn ok(res: Response) -> Value {
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// The `name`s of a list page's data.
fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates organizations with these names.
async fn orgs(app: &TestApp, names: &[&str]) {
    for n in names {
        app.create_org(json!({ "name": n })).await;
    }
}

/// The organization names found by `term` (first page of up to 100), asserting that
/// `meta.total` agrees with what was found.
async fn find_orgs(app: &TestApp, term: &str) -> Vec<String> {
    let v = ok(get_q(
        app,
        "/organizations",
        &[("query", term), ("per_page", "100")],
    )
    .await)
    .await;
    let found = names(&v);
    assert_eq!(
        v["meta"]["total"],
        found.len(),
        "total for {term:?}: {}",
        v["meta"]
    );
    found
}

/// The user names found by `term`.
async fn find_users(app: &TestApp, term: &str) -> Vec<String> {
    let v = ok(get_q(app, "/users", &[("query", term), ("per_page", "100")]).await).await;
    let found = names(&v);
    assert_eq!(v["meta"]["total"], found.len(), "total for {term:?}");
    found
}

/// Organizations whose names hold the characters that are wildcards or escapes in SQL LIKE,
/// each next to a decoy that a wildcard (but not the literal character) would match.
const TRICKY: &[&str] = &[
    "100% Organic",
    "100 Percent Natural",
    "Snake_Case Co",
    "SnakeXCase Co",
    "Back\\slash Ltd",
    "Backslash Ltd",
    "Plain Name Co",
];

// ---------------------------------------------------------------------------------------------
// Organizations: basic matching
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_organization_search_is_case_insensitive() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "Tech Startup Inc", "Globex"]).await;
    for term in ["acme", "ACME", "aCmE"] {
        assert_eq!(find_orgs(&app, term).await, ["Acme Corporation"], "{term}");
    }
}

#[tokio::test]
async fn an_organization_search_matches_any_part_of_the_name() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "Tech Startup Inc", "Globex"]).await;
    assert_eq!(find_orgs(&app, "corp").await, ["Acme Corporation"]);
    assert_eq!(find_orgs(&app, "tartu").await, ["Tech Startup Inc"]);
    assert_eq!(find_orgs(&app, "INC").await, ["Tech Startup Inc"]);
    assert_eq!(find_orgs(&app, "bex").await, ["Globex"]);
}

#[tokio::test]
async fn an_organization_search_matches_only_the_name_not_the_slug() {
    let app = spawn_app().await;
    app.create_org(json!({"name": "Acme Corporation", "slug": "zzz-hidden"}))
        .await;
    assert!(find_orgs(&app, "hidden").await.is_empty());
}

#[tokio::test]
async fn an_organization_search_without_a_match_is_an_empty_page() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation"]).await;
    let v = ok(get_q(&app, "/organizations", &[("query", "nothing like it")]).await).await;
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 0, "per_page": 10, "current_page": 1,
                                    "last_page": 1, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn a_search_result_has_the_full_list_item_shape() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v = ok(get_q(&app, "/organizations", &[("query", "tech startup")]).await).await;
    assert_eq!(
        v,
        json!({
            "data": [{
                "id": "org-456",
                "name": "Tech Startup Inc",
                "slug": "tech-startup",
                "logo": null,
                "memberCount": v["data"][0]["memberCount"],
                "premiumTier": null,
                "createdAt": "2024-01-18T12:30:00Z",
                "updatedAt": "2024-01-18T12:30:00Z",
                "externalId": null,
                "metadata": {}
            }],
            "meta": {"total": 1, "per_page": 10, "current_page": 1, "last_page": 1,
                     "from": 1, "to": 1}
        })
    );
}

#[tokio::test]
async fn search_results_are_ordered_by_name() {
    let app = spawn_app().await;
    orgs(
        &app,
        &[
            "Zeta Foods",
            "alpha foods",
            "Other",
            "Mid Foods",
            "Beta FOODS",
        ],
    )
    .await;
    assert_eq!(
        find_orgs(&app, "foods").await,
        ["alpha foods", "Beta FOODS", "Mid Foods", "Zeta Foods"]
    );
}

#[tokio::test]
async fn an_empty_query_lists_everything() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "Globex"]).await;
    assert_eq!(find_orgs(&app, "").await, ["Acme Corporation", "Globex"]);
}

#[tokio::test]
async fn surrounding_whitespace_in_a_term_is_ignored() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "Globex"]).await;
    assert_eq!(find_orgs(&app, "  acme  ").await, ["Acme Corporation"]);
}

// ---------------------------------------------------------------------------------------------
// Organizations: %, _ and \ are literal
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_percent_sign_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert_eq!(find_orgs(&app, "%").await, ["100% Organic"]);
}

#[tokio::test]
async fn a_percent_sign_inside_a_term_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert_eq!(find_orgs(&app, "0%").await, ["100% Organic"]);
    assert_eq!(find_orgs(&app, "100% o").await, ["100% Organic"]);
    assert!(find_orgs(&app, "1%0").await.is_empty());
}

#[tokio::test]
async fn two_percent_signs_match_nothing_here() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert!(find_orgs(&app, "%%").await.is_empty());
}

#[tokio::test]
async fn an_underscore_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert_eq!(find_orgs(&app, "_").await, ["Snake_Case Co"]);
}

#[tokio::test]
async fn an_underscore_inside_a_term_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert_eq!(find_orgs(&app, "e_c").await, ["Snake_Case Co"]);
    assert_eq!(find_orgs(&app, "snake_case").await, ["Snake_Case Co"]);
}

#[tokio::test]
async fn a_backslash_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    assert_eq!(find_orgs(&app, "\\").await, ["Back\\slash Ltd"]);
}

#[tokio::test]
async fn a_backslash_inside_a_term_is_literal() {
    let app = spawn_app().await;
    orgs(&app, TRICKY).await;
    // As a LIKE escape, `\s` would mean a plain `s` and match every name with an s.
    assert_eq!(find_orgs(&app, "\\s").await, ["Back\\slash Ltd"]);
    assert_eq!(find_orgs(&app, "k\\sl").await, ["Back\\slash Ltd"]);
    assert_eq!(find_orgs(&app, "backslash").await, ["Backslash Ltd"]);
}

#[tokio::test]
async fn a_backslash_before_a_wildcard_is_two_literal_characters() {
    let app = spawn_app().await;
    orgs(&app, &["50\\% Off", "50% Off"]).await;
    assert_eq!(find_orgs(&app, "\\%").await, ["50\\% Off"]);
}

#[tokio::test]
async fn quotes_and_full_text_operators_in_a_term_are_literal() {
    let app = spawn_app().await;
    orgs(
        &app,
        &[
            "The \"Best\" Shop",
            "The Best Shop",
            "Rock AND Roll",
            "Star*Bucks",
            "Rock OR Roll",
            "NEAR(x) Ltd",
        ],
    )
    .await;
    assert_eq!(find_orgs(&app, "\"best\"").await, ["The \"Best\" Shop"]);
    assert_eq!(find_orgs(&app, "\"").await, ["The \"Best\" Shop"]);
    assert_eq!(find_orgs(&app, "k and r").await, ["Rock AND Roll"]);
    assert_eq!(find_orgs(&app, "r*b").await, ["Star*Bucks"]);
    assert_eq!(find_orgs(&app, "*").await, ["Star*Bucks"]);
    assert_eq!(find_orgs(&app, "near(").await, ["NEAR(x) Ltd"]);
    assert!(find_orgs(&app, "rock*").await.is_empty());
}

#[tokio::test]
async fn sql_in_a_term_is_just_text() {
    let app = spawn_app().await;
    orgs(
        &app,
        &["Acme Corporation", "Robert'); DROP TABLE organizations;--"],
    )
    .await;
    assert_eq!(
        find_orgs(&app, "'); drop").await,
        ["Robert'); DROP TABLE organizations;--"]
    );
    assert_eq!(find_orgs(&app, "' OR '1'='1").await, Vec::<String>::new());
    assert_eq!(find_orgs(&app, "acme").await, ["Acme Corporation"]);
}

// ---------------------------------------------------------------------------------------------
// Organizations: Unicode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_lowercase_accented_term_finds_an_uppercase_name() {
    let app = spawn_app().await;
    orgs(&app, &["CAFÉ Corner", "Cafe Plain"]).await;
    assert_eq!(find_orgs(&app, "café").await, ["CAFÉ Corner"]);
}

#[tokio::test]
async fn an_uppercase_accented_term_finds_a_lowercase_name() {
    let app = spawn_app().await;
    orgs(&app, &["Café Corner", "Cafe Plain"]).await;
    assert_eq!(find_orgs(&app, "CAFÉ").await, ["Café Corner"]);
}

#[tokio::test]
async fn a_decomposed_accent_finds_a_composed_one() {
    let app = spawn_app().await;
    orgs(&app, &["Café Corner", "Cafe Plain"]).await;
    // `e` followed by U+0301 COMBINING ACUTE ACCENT.
    assert_eq!(find_orgs(&app, "CAFE\u{301}").await, ["Café Corner"]);
}

#[tokio::test]
async fn a_composed_accent_finds_a_decomposed_name() {
    let app = spawn_app().await;
    orgs(&app, &["Cafe\u{301} Corner", "Cafe Plain"]).await;
    assert_eq!(find_orgs(&app, "café").await.len(), 1);
}

#[tokio::test]
async fn a_single_accented_letter_matches_in_any_case() {
    let app = spawn_app().await;
    orgs(&app, &["CAFÉ Corner", "Café Corner", "Cafe Plain"]).await;
    assert_eq!(find_orgs(&app, "é").await, ["CAFÉ Corner", "Café Corner"]);
    assert_eq!(find_orgs(&app, "É").await, ["CAFÉ Corner", "Café Corner"]);
}

#[tokio::test]
async fn non_latin_scripts_fold_case_too() {
    let app = spawn_app().await;
    orgs(
        &app,
        &["ÖSTERREICH GmbH", "Ωμέγα Ltd", "Москва Трейд", "日本商事"],
    )
    .await;
    assert_eq!(find_orgs(&app, "österreich").await, ["ÖSTERREICH GmbH"]);
    assert_eq!(find_orgs(&app, "ΩΜΈΓΑ").await, ["Ωμέγα Ltd"]);
    assert_eq!(find_orgs(&app, "москва").await, ["Москва Трейд"]);
    assert_eq!(find_orgs(&app, "商事").await, ["日本商事"]);
}

#[tokio::test]
async fn the_demo_data_is_searchable_with_accents() {
    let app = spawn_app().await;
    app.load_demo().await;
    let found = find_orgs(&app, "CAFÉ").await;
    assert!(!found.is_empty());
    for n in &found {
        assert!(n.to_lowercase().contains("café"), "{n}");
    }
}

// ---------------------------------------------------------------------------------------------
// Organizations: short, long and multi-word terms
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_one_character_term_works() {
    let app = spawn_app().await;
    orgs(&app, &["Xylo Co", "Box Ltd", "Acme", "Quux"]).await;
    assert_eq!(find_orgs(&app, "x").await, ["Box Ltd", "Quux", "Xylo Co"]);
    assert_eq!(find_orgs(&app, "Q").await, ["Quux"]);
}

#[tokio::test]
async fn a_two_character_term_works() {
    let app = spawn_app().await;
    orgs(&app, &["Xylo Co", "Box Ltd", "Acme", "Cobalt"]).await;
    assert_eq!(find_orgs(&app, "co").await, ["Cobalt", "Xylo Co"]);
    assert_eq!(find_orgs(&app, "ME").await, ["Acme"]);
    assert!(find_orgs(&app, "zz").await.is_empty());
}

#[tokio::test]
async fn a_three_character_term_works() {
    let app = spawn_app().await;
    orgs(&app, &["Xylo Co", "Box Ltd", "Acme", "Cobalt"]).await;
    assert_eq!(find_orgs(&app, "box").await, ["Box Ltd"]);
    assert_eq!(find_orgs(&app, "o c").await, ["Xylo Co"]);
}

#[tokio::test]
async fn a_multi_word_term_matches_as_one_phrase() {
    let app = spawn_app().await;
    orgs(
        &app,
        &[
            "Acme Corporation",
            "Acme Widgets Corp",
            "Corp Acme",
            "Tech Startup Inc",
        ],
    )
    .await;
    assert_eq!(find_orgs(&app, "acme corp").await, ["Acme Corporation"]);
    assert_eq!(find_orgs(&app, "startup inc").await, ["Tech Startup Inc"]);
    assert!(find_orgs(&app, "corporation acme").await.is_empty());
}

#[tokio::test]
async fn a_term_holding_all_the_letters_but_not_the_substring_does_not_match() {
    let app = spawn_app().await;
    // "abcab" holds every trigram of "abcabc" (abc, bca, cab) but not the term itself.
    orgs(&app, &["abcab", "xabcabcx"]).await;
    assert_eq!(find_orgs(&app, "abcabc").await, ["xabcabcx"]);
}

#[tokio::test]
async fn a_long_term_is_matched_exactly() {
    let app = spawn_app().await;
    orgs(
        &app,
        &[
            "International Business Machines Corporation",
            "International Business Corporation Machines",
            "Business Machines International",
        ],
    )
    .await;
    assert_eq!(
        find_orgs(&app, "international business machines corp").await,
        ["International Business Machines Corporation"]
    );
}

#[tokio::test]
async fn a_term_equal_to_the_whole_name_matches() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "Acme Corporation Two"]).await;
    assert_eq!(
        find_orgs(&app, "ACME CORPORATION").await,
        ["Acme Corporation", "Acme Corporation Two"]
    );
}

#[tokio::test]
async fn a_term_longer_than_200_characters_is_a_400() {
    let app = spawn_app().await;
    let long = "a".repeat(201);
    let res = get_q(&app, "/organizations", &[("query", &long)]).await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"query": ["query must be at most 200 characters"]})
    );
}

// ---------------------------------------------------------------------------------------------
// Organizations: totals and pagination under search
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn meta_total_counts_every_match_not_just_the_page() {
    let app = spawn_app().await;
    let mut all: Vec<String> = (0..23).map(|i| format!("Match {i:02}")).collect();
    all.extend((0..9).map(|i| format!("Other {i:02}")));
    for n in &all {
        app.create_org(json!({ "name": n })).await;
    }
    let v = ok(get_q(
        &app,
        "/organizations",
        &[("query", "match"), ("per_page", "5")],
    )
    .await)
    .await;
    assert_eq!(
        names(&v),
        ["Match 00", "Match 01", "Match 02", "Match 03", "Match 04"]
    );
    assert_eq!(
        v["meta"],
        json!({"total": 23, "per_page": 5, "current_page": 1, "last_page": 5, "from": 1, "to": 5})
    );
}

#[tokio::test]
async fn the_last_page_of_a_search_holds_the_remainder() {
    let app = spawn_app().await;
    for i in 0..23 {
        app.create_org(json!({ "name": format!("Match {i:02}") }))
            .await;
    }
    orgs(&app, &["Other One", "Other Two"]).await;
    let v = ok(get_q(
        &app,
        "/organizations",
        &[("query", "MATCH"), ("per_page", "5"), ("page", "5")],
    )
    .await)
    .await;
    assert_eq!(names(&v), ["Match 20", "Match 21", "Match 22"]);
    assert_eq!(
        v["meta"],
        json!({"total": 23, "per_page": 5, "current_page": 5, "last_page": 5, "from": 21, "to": 23})
    );
}

#[tokio::test]
async fn a_page_past_the_end_of_a_search_is_empty() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create_org(json!({ "name": format!("Match {i:02}") }))
            .await;
    }
    let v = ok(get_q(
        &app,
        "/organizations",
        &[("query", "match"), ("per_page", "5"), ("page", "3")],
    )
    .await)
    .await;
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 7, "per_page": 5, "current_page": 3,
                                    "last_page": 2, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn walking_the_pages_of_a_search_yields_every_match_exactly_once() {
    let app = spawn_app().await;
    app.load_demo().await;
    let first = ok(get_q(&app, "/organizations", &[("query", "a")]).await).await;
    let all = first["meta"]["total"].as_u64().unwrap() as usize;
    assert!(all > 20, "demo has enough names with an a: {all}");
    let mut seen: Vec<String> = Vec::new();
    let mut page = 1;
    loop {
        let v = ok(get_q(
            &app,
            "/organizations",
            &[
                ("query", "a"),
                ("per_page", "7"),
                ("page", &page.to_string()),
            ],
        )
        .await)
        .await;
        assert_eq!(v["meta"]["total"], all);
        let ids: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.is_empty() {
            break;
        }
        seen.extend(ids);
        page += 1;
    }
    assert_eq!(seen.len(), all);
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), all);
}

#[tokio::test]
async fn a_demo_search_counts_exactly_the_names_holding_the_term() {
    let app = spawn_app().await;
    app.load_demo().await;
    // Every organization, read page by page without a search, filtered here.
    let mut all = Vec::new();
    for page in 1..=4 {
        let v = ok(get_q(
            &app,
            "/organizations",
            &[("per_page", "100"), ("page", &page.to_string())],
        )
        .await)
        .await;
        all.extend(names(&v));
    }
    assert_eq!(all.len(), 302);
    for term in ["acme", "Bhd", "ü", "ss", "& s", "co"] {
        let fold = term.to_lowercase();
        let expected = all
            .iter()
            .filter(|n| n.to_lowercase().contains(&fold))
            .count();
        let v = ok(get_q(&app, "/organizations", &[("query", term)]).await).await;
        assert_eq!(v["meta"]["total"], expected, "{term:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Organizations: the index follows changes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_renamed_organization_is_found_by_its_new_name_only() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Old Name Co"})).await;
    let res = app
        .patch(
            &format!("/organizations/{}", org["id"].as_str().unwrap()),
            &json!({"name": "Fresh Title Co"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(find_orgs(&app, "old name").await.is_empty());
    assert_eq!(find_orgs(&app, "fresh title").await, ["Fresh Title Co"]);
}

#[tokio::test]
async fn a_deleted_organization_is_no_longer_found() {
    let app = spawn_app().await;
    let org = app.create_org(json!({"name": "Doomed Co"})).await;
    orgs(&app, &["Survivor Co"]).await;
    let res = app
        .delete(&format!("/organizations/{}", org["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), 204);
    assert!(find_orgs(&app, "doomed").await.is_empty());
    assert_eq!(find_orgs(&app, "co").await, ["Survivor Co"]);
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_user_search_matches_name_or_email_case_insensitively() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "jane@acme.example").await;
    app.create_user("John Doe", "jd@globex.example").await;
    app.create_user("Mary Major", "mary@initech.example").await;
    assert_eq!(find_users(&app, "SMITH").await, ["Jane Smith"]);
    assert_eq!(find_users(&app, "GLOBEX").await, ["John Doe"]);
    assert_eq!(
        find_users(&app, "j").await,
        ["Jane Smith", "John Doe", "Mary Major"]
    );
    assert_eq!(find_users(&app, "JOH").await, ["John Doe"]);
    assert_eq!(find_users(&app, "jd").await, ["John Doe"]);
}

#[tokio::test]
async fn a_user_search_takes_wildcards_literally() {
    let app = spawn_app().await;
    app.create_user("Under Score", "a_b@example.com").await;
    app.create_user("Ex Ample", "axb@example.com").await;
    app.create_user("Per Cent", "100%@example.com").await;
    app.create_user("Back Slash", "back\\slash@example.com")
        .await;
    assert_eq!(find_users(&app, "a_b").await, ["Under Score"]);
    assert_eq!(find_users(&app, "_").await, ["Under Score"]);
    assert_eq!(find_users(&app, "%").await, ["Per Cent"]);
    assert_eq!(find_users(&app, "\\").await, ["Back Slash"]);
}

#[tokio::test]
async fn a_user_search_folds_non_ascii_case() {
    let app = spawn_app().await;
    app.create_user("ÉLODIE Durand", "elodie@example.com").await;
    app.create_user("Björn Borg", "bjorn@example.com").await;
    assert_eq!(find_users(&app, "élodie").await, ["ÉLODIE Durand"]);
    assert_eq!(find_users(&app, "BJÖRN").await, ["Björn Borg"]);
    assert_eq!(find_users(&app, "Ö").await, ["Björn Borg"]);
}

#[tokio::test]
async fn a_user_search_with_a_multi_word_term_matches_the_phrase() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "js@example.com").await;
    app.create_user("Smith Jane", "sj@example.com").await;
    assert_eq!(find_users(&app, "jane smith").await, ["Jane Smith"]);
}

#[tokio::test]
async fn a_renamed_user_is_found_by_the_new_name_only() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .patch(
            &format!("/users/{}", u["id"].as_str().unwrap()),
            &json!({"name": "Janet Jones", "email": "janet@example.org"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(find_users(&app, "smith").await.is_empty());
    assert!(find_users(&app, "example.com").await.is_empty());
    assert_eq!(find_users(&app, "jones").await, ["Janet Jones"]);
    assert_eq!(find_users(&app, "example.org").await, ["Janet Jones"]);
}

#[tokio::test]
async fn a_deleted_user_is_no_longer_found() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .delete(&format!("/users/{}", u["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), 204);
    assert!(find_users(&app, "jane").await.is_empty());
}

#[tokio::test]
async fn a_user_search_combines_with_pagination() {
    let app = spawn_app().await;
    for i in 0..12 {
        app.create_user(&format!("Match {i:02}"), &format!("m{i}@example.com"))
            .await;
    }
    app.create_user("Other Person", "other@example.org").await;
    let v = ok(get_q(
        &app,
        "/users",
        &[("query", "example.com"), ("per_page", "5"), ("page", "3")],
    )
    .await)
    .await;
    assert_eq!(names(&v), ["Match 10", "Match 11"]);
    assert_eq!(
        v["meta"],
        json!({"total": 12, "per_page": 5, "current_page": 3, "last_page": 3, "from": 11, "to": 12})
    );
}

#[tokio::test]
async fn a_plus_in_a_raw_query_string_is_a_space() {
    let app = spawn_app().await;
    orgs(&app, &["Acme Corporation", "AcmeCorp Ltd"]).await;
    let v = ok(app.get("/organizations?query=acme+corp").await).await;
    assert_eq!(names(&v), ["Acme Corporation"]);
}

#[tokio::test]
async fn a_term_with_control_characters_is_a_400() {
    let app = spawn_app().await;
    let res = get_q(&app, "/organizations", &[("query", "ac\u{0}me")]).await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"query": ["query must not contain control characters"]})
    );
}

#[tokio::test]
async fn greek_final_sigma_matches_its_capital() {
    let app = spawn_app().await;
    orgs(&app, &["ΟΔΟΣ Travel", "Other Travel"]).await;
    // Σ lowercases to σ, but a word-final sigma is written ς: both are the same letter.
    assert_eq!(find_orgs(&app, "οδος").await, ["ΟΔΟΣ Travel"]);
    assert_eq!(find_orgs(&app, "ΟΔΟΣ").await, ["ΟΔΟΣ Travel"]);
}
