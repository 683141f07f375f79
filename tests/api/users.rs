//! `/users`: create (seed 003), get, update, delete, list, and a user's organizations (seed 000).

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

/// Asserts an RFC 3339 timestamp in UTC with a `Z`, whole seconds (`2024-01-15T14:30:00Z`).
fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp not a string: {v}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "not RFC 3339: {s}"
    );
    assert!(s.ends_with('Z'), "not UTC with a Z: {s}");
    assert_eq!(s.len(), 20, "not YYYY-MM-DDTHH:MM:SSZ: {s}");
}

/// Asserts a new opaque id with this prefix (`user-` and 26 characters).
fn assert_new_id(v: &Value, prefix: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("id not a string: {v}"));
    assert!(s.starts_with(&format!("{prefix}-")), "id prefix: {s}");
    assert!(
        s.len() > prefix.len() + 10,
        "id too short to be unguessable: {s}"
    );
}

/// Asserts a 400 validation error and returns its `details`.
async fn validation_details(res: Response) -> Value {
    let v = assert_error(res, 400, "validation_error").await;
    assert_eq!(v["error"], "Validation Error", "{v}");
    assert_eq!(v["message"], "The request contains invalid data", "{v}");
    v["details"].clone()
}

/// A user body with every field.
fn full_user(email: &str) -> Value {
    json!({
        "name": "Jane Smith",
        "firstName": "Jane",
        "lastName": "Smith",
        "email": email,
        "phone": "+1234567890",
        "dob": "1985-03-20",
        "role": "customer"
    })
}

/// Creates a user from `body`, asserting 201; returns the JSON.
async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.post("/users", &body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "create user: {v}");
    v
}

/// GET with query pairs, URL-encoded properly.
async fn get_q(app: &TestApp, path: &str, q: &[(&str, &str)]) -> Response {
    app.req(Method::GET, path).query(q).send().await.unwrap()
}

/// The `name`s of a list page's data.
fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The `id`s of a list page's data.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A date `days` from today (UTC), as `YYYY-MM-DD`.
fn date_from_today(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn not_found_user() -> Value {
    json!({"error": "Not Found", "message": "User not found", "code": "not_found"})
}

// ---------------------------------------------------------------------------------------------
// POST /users (seed 003)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_a_user_with_every_field_returns_201_and_the_seed_shape() {
    let app = spawn_app().await;
    let res = app.post("/users", &full_user("jane@example.com")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = res.json().await.unwrap();
    assert_new_id(&v["id"], "user");
    assert_timestamp(&v["createdAt"]);
    assert_eq!(v["updatedAt"], v["createdAt"]);
    assert_eq!(
        v,
        json!({
            "id": v["id"],
            "name": "Jane Smith",
            "firstName": "Jane",
            "lastName": "Smith",
            "email": "jane@example.com",
            "phone": "+1234567890",
            "dob": "1985-03-20",
            "role": "customer",
            "members": [],
            "createdAt": v["createdAt"],
            "updatedAt": v["createdAt"],
            "externalId": null,
            "metadata": {}
        })
    );
}

#[tokio::test]
async fn creating_a_user_sets_a_location_header_naming_the_new_user() {
    let app = spawn_app().await;
    let res = app.post("/users", &full_user("jane@example.com")).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/integrations/users/{}", v["id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn the_location_of_a_created_user_serves_the_same_user() {
    let app = spawn_app().await;
    let res = app.post("/users", &full_user("jane@example.com")).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    let res = app.get(&location).await;
    assert_eq!(res.status(), 200);
    let fetched: Value = res.json().await.unwrap();
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn user_fields_come_in_the_order_of_the_seed() {
    let app = spawn_app().await;
    let res = app.post("/users", &full_user("jane@example.com")).await;
    let text = res.text().await.unwrap();
    let order = [
        "id",
        "name",
        "firstName",
        "lastName",
        "email",
        "phone",
        "dob",
        "role",
        "members",
        "createdAt",
        "updatedAt",
        "externalId",
        "metadata",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing in {text}"))
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "field order in {text}");
}

#[tokio::test]
async fn a_minimal_user_has_nulls_for_absent_optional_fields() {
    let app = spawn_app().await;
    let v = create(
        &app,
        json!({"name": "Jane Smith", "email": "jane@example.com"}),
    )
    .await;
    assert_eq!(
        v,
        json!({
            "id": v["id"],
            "name": "Jane Smith",
            "firstName": null,
            "lastName": null,
            "email": "jane@example.com",
            "phone": null,
            "dob": null,
            "role": "customer",
            "members": [],
            "createdAt": v["createdAt"],
            "updatedAt": v["updatedAt"],
            "externalId": null,
            "metadata": {}
        })
    );
}

#[tokio::test]
async fn role_defaults_to_customer() {
    let app = spawn_app().await;
    let v = create(
        &app,
        json!({"name": "Jane Smith", "email": "jane@example.com"}),
    )
    .await;
    assert_eq!(v["role"], "customer");
}

#[tokio::test]
async fn explicit_nulls_for_optional_fields_are_accepted_as_absent() {
    let app = spawn_app().await;
    let v = create(
        &app,
        json!({"name": "Jane Smith", "email": "jane@example.com", "firstName": null,
               "lastName": null, "phone": null, "dob": null}),
    )
    .await;
    for k in ["firstName", "lastName", "phone", "dob"] {
        assert_eq!(v[k], Value::Null, "{k}");
    }
}

#[tokio::test]
async fn every_documented_role_is_accepted() {
    let app = spawn_app().await;
    for (i, role) in ["super-admin", "admin", "customer"].iter().enumerate() {
        let v = create(
            &app,
            json!({"name": "Jane Smith", "email": format!("jane{i}@example.com"), "role": role}),
        )
        .await;
        assert_eq!(v["role"], *role);
    }
}

#[tokio::test]
async fn an_unknown_role_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"role": ["Role must be one of: super-admin, admin, customer"]})
    );
}

#[tokio::test]
async fn a_role_is_matched_exactly_not_case_insensitively() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com", "role": "Admin"}),
        )
        .await;
    let d = validation_details(res).await;
    assert!(d["role"].is_array(), "{d}");
}

#[tokio::test]
async fn a_validation_error_has_exactly_the_seed_envelope() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"name": "Jane Smith", "email": "nope"}))
        .await;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "error": "Validation Error",
            "message": "The request contains invalid data",
            "code": "validation_error",
            "details": {"email": ["Email format is invalid"]}
        })
    );
}

#[tokio::test]
async fn malformed_emails_are_rejected() {
    let app = spawn_app().await;
    for bad in [
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane@@example.com",
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane@example..com",
        ".jane@example.com",
        "jane.@example.com",
        "jane@-example.com",
        "jane@example.c",
    ] {
        let res = app
            .post("/users", &json!({"name": "Jane Smith", "email": bad}))
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"email": ["Email format is invalid"]}),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn plausible_emails_are_accepted() {
    let app = spawn_app().await;
    for ok in [
        "jane@example.com",
        "jane.smith+tag@mail.example.co.uk",
        "j_s-1@sub-domain.example.my",
    ] {
        let v = create(&app, json!({"name": "Jane Smith", "email": ok})).await;
        assert_eq!(v["email"], ok);
    }
}

#[tokio::test]
async fn a_missing_email_is_required() {
    let app = spawn_app().await;
    let res = app.post("/users", &json!({"name": "Jane Smith"})).await;
    assert_eq!(
        validation_details(res).await,
        json!({"email": ["Email is required"]})
    );
}

#[tokio::test]
async fn a_blank_email_is_required() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"name": "Jane Smith", "email": "   "}))
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"email": ["Email is required"]})
    );
}

#[tokio::test]
async fn a_null_email_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"name": "Jane Smith", "email": null}))
        .await;
    let d = validation_details(res).await;
    assert_eq!(d.as_object().unwrap().len(), 1, "{d}");
    assert_eq!(d["email"].as_array().unwrap().len(), 1, "{d}");
}

#[tokio::test]
async fn a_taken_email_is_a_409_conflict_naming_the_email() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let res = app.post("/users", &full_user("jane@example.com")).await;
    assert_eq!(res.status(), 409);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "error": "Conflict",
            "message": "Email already exists",
            "code": "conflict",
            "details": {"email": ["Email is already taken"]}
        })
    );
}

#[tokio::test]
async fn email_uniqueness_ignores_case() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let res = app.post("/users", &full_user("JANE@Example.COM")).await;
    let v = assert_error(res, 409, "conflict").await;
    assert_eq!(v["details"], json!({"email": ["Email is already taken"]}));
}

#[tokio::test]
async fn email_uniqueness_ignores_case_of_non_ascii_letters() {
    let app = spawn_app().await;
    create(&app, full_user("élodie@example.com")).await;
    let res = app.post("/users", &full_user("ÉLODIE@example.com")).await;
    assert_error(res, 409, "conflict").await;
}

#[tokio::test]
async fn email_uniqueness_ignores_surrounding_whitespace() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let res = app.post("/users", &full_user("  jane@example.com ")).await;
    assert_error(res, 409, "conflict").await;
}

#[tokio::test]
async fn an_email_keeps_its_case_as_given() {
    let app = spawn_app().await;
    let v = create(&app, full_user("Jane.Smith@Example.com")).await;
    assert_eq!(v["email"], "Jane.Smith@Example.com");
}

#[tokio::test]
async fn a_conflicting_create_stores_nothing() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let res = app.post("/users", &full_user("JANE@example.com")).await;
    assert_eq!(res.status(), 409);
    let list: Value = app.get("/users").await.json().await.unwrap();
    assert_eq!(list["meta"]["total"], 1);
}

#[tokio::test]
async fn a_missing_name_is_required() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"email": "jane@example.com"}))
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name is required"]})
    );
}

#[tokio::test]
async fn an_empty_or_blank_name_is_required() {
    let app = spawn_app().await;
    for blank in ["", "   ", "\t \n"] {
        let res = app
            .post(
                "/users",
                &json!({"name": blank, "email": "jane@example.com"}),
            )
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"name": ["Name is required"]}),
            "{blank:?}"
        );
    }
}

#[tokio::test]
async fn a_one_character_name_is_too_short() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"name": "J", "email": "jane@example.com"}))
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name must be at least 2 characters"]})
    );
}

#[tokio::test]
async fn the_name_length_is_counted_after_trimming() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "  J  ", "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name must be at least 2 characters"]})
    );
}

#[tokio::test]
async fn the_name_length_is_counted_in_characters_not_bytes() {
    let app = spawn_app().await;
    // One character of two bytes is too short; two characters of three bytes each are fine.
    let res = app
        .post("/users", &json!({"name": "É", "email": "e@example.com"}))
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name must be at least 2 characters"]})
    );
    let v = create(&app, json!({"name": "李白", "email": "li@example.com"})).await;
    assert_eq!(v["name"], "李白");
}

#[tokio::test]
async fn a_two_character_name_is_accepted_and_stored_trimmed() {
    let app = spawn_app().await;
    let v = create(&app, json!({"name": "  Jo ", "email": "jo@example.com"})).await;
    assert_eq!(v["name"], "Jo");
}

#[tokio::test]
async fn first_and_last_names_are_stored_trimmed() {
    let app = spawn_app().await;
    let v = create(
        &app,
        json!({"name": "Jane Smith", "email": "jane@example.com", "firstName": " Jane ", "lastName": "Smith  "}),
    )
    .await;
    assert_eq!(
        (&v["firstName"], &v["lastName"]),
        (&json!("Jane"), &json!("Smith"))
    );
}

#[tokio::test]
async fn valid_phone_numbers_are_accepted() {
    let app = spawn_app().await;
    for (i, ok) in [
        "+1234567890",
        "1234567",
        "+60 12-345 6789",
        "(03) 1234 5678",
        "+44.20.7946.0958",
        "123456789012345",
    ]
    .iter()
    .enumerate()
    {
        let v = create(
            &app,
            json!({"name": "Jane Smith", "email": format!("p{i}@example.com"), "phone": ok}),
        )
        .await;
        assert_eq!(v["phone"], *ok);
    }
}

#[tokio::test]
async fn invalid_phone_numbers_are_rejected() {
    let app = spawn_app().await;
    for bad in [
        "123456",
        "1234567890123456",
        "phone",
        "+1 234 567 890x",
        "++1234567890",
        "+",
        "12345678#9",
        "-1234567",
    ] {
        let res = app
            .post(
                "/users",
                &json!({"name": "Jane Smith", "email": "jane@example.com", "phone": bad}),
            )
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"phone": ["Phone must be a valid phone number"]}),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn valid_calendar_dates_of_birth_are_accepted() {
    let app = spawn_app().await;
    let today = date_from_today(0);
    for (i, ok) in ["1985-03-20", "2000-02-29", "1999-12-31", today.as_str()]
        .iter()
        .enumerate()
    {
        let v = create(
            &app,
            json!({"name": "Jane Smith", "email": format!("d{i}@example.com"), "dob": ok}),
        )
        .await;
        assert_eq!(v["dob"], *ok);
    }
}

#[tokio::test]
async fn dates_of_birth_that_do_not_exist_are_rejected() {
    let app = spawn_app().await;
    for bad in [
        "1985-02-30",
        "2001-02-29",
        "1985-13-01",
        "1985-00-10",
        "1985-04-31",
    ] {
        let res = app
            .post(
                "/users",
                &json!({"name": "Jane Smith", "email": "jane@example.com", "dob": bad}),
            )
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"dob": ["Date of birth must be a valid ISO 8601 date (YYYY-MM-DD)"]}),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn dates_of_birth_not_in_iso_8601_calendar_form_are_rejected() {
    let app = spawn_app().await;
    for bad in [
        "85-03-20",
        "1985-3-20",
        "20-03-1985",
        "1985/03/20",
        "19850320",
        "March 20, 1985",
        "",
    ] {
        let res = app
            .post(
                "/users",
                &json!({"name": "Jane Smith", "email": "jane@example.com", "dob": bad}),
            )
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"dob": ["Date of birth must be a valid ISO 8601 date (YYYY-MM-DD)"]}),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_date_of_birth_in_the_future_is_rejected() {
    let app = spawn_app().await;
    // Two days ahead, so that a test running across midnight UTC stays deterministic.
    for future in [date_from_today(2), "3000-01-01".to_owned()] {
        let res = app
            .post(
                "/users",
                &json!({"name": "Jane Smith", "email": "jane@example.com", "dob": future}),
            )
            .await;
        assert_eq!(
            validation_details(res).await,
            json!({"dob": ["Date of birth must not be in the future"]}),
            "{future}"
        );
    }
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "J", "email": "nope", "role": "boss", "phone": "12",
                   "dob": "1985-02-30", "nickname": "JJ"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({
            "name": ["Name must be at least 2 characters"],
            "email": ["Email format is invalid"],
            "role": ["Role must be one of: super-admin, admin, customer"],
            "phone": ["Phone must be a valid phone number"],
            "dob": ["Date of birth must be a valid ISO 8601 date (YYYY-MM-DD)"],
            "nickname": ["Unknown field: nickname"]
        })
    );
}

#[tokio::test]
async fn both_required_fields_missing_are_reported_together() {
    let app = spawn_app().await;
    let res = app.post("/users", &json!({})).await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name is required"], "email": ["Email is required"]})
    );
}

#[tokio::test]
async fn an_unknown_field_is_rejected_by_name() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com", "emial": "typo@example.com"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"emial": ["Unknown field: emial"]})
    );
}

#[tokio::test]
async fn server_managed_fields_cannot_be_sent() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane Smith", "email": "jane@example.com", "id": "user-1",
                   "createdAt": "2024-01-15T14:30:00Z"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"id": ["Unknown field: id"], "createdAt": ["Unknown field: createdAt"]})
    );
}

#[tokio::test]
async fn wrong_json_types_are_reported_per_field() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": 5, "email": true, "firstName": 1, "lastName": ["Smith"],
                   "phone": 1234567890, "dob": {"y": 1985}, "role": false}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({
            "name": ["name must be a string"],
            "email": ["email must be a string"],
            "firstName": ["firstName must be a string"],
            "lastName": ["lastName must be a string"],
            "phone": ["phone must be a string"],
            "dob": ["dob must be a string"],
            "role": ["role must be a string"]
        })
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_rejected() {
    let app = spawn_app().await;
    let res = app.post("/users", &json!(["Jane Smith"])).await;
    assert_eq!(
        validation_details(res).await,
        json!({"body": ["The request body must be a JSON object"]})
    );
}

#[tokio::test]
async fn malformed_json_is_a_json_400() {
    let app = spawn_app().await;
    let res = app
        .req(Method::POST, "/users")
        .header("content-type", "application/json")
        .body(r#"{"name": "Jane Smith", "email": "#)
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 400, "invalid_json").await;
    assert_eq!(v["error"], "Bad Request");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_json_415() {
    let app = spawn_app().await;
    let res = app
        .req(Method::POST, "/users")
        .header("content-type", "text/plain")
        .body("name=Jane")
        .send()
        .await
        .unwrap();
    let v = assert_error(res, 415, "unsupported_media_type").await;
    assert_eq!(v["error"], "Unsupported Media Type");
}

#[tokio::test]
async fn a_rejected_create_stores_nothing() {
    let app = spawn_app().await;
    let res = app
        .post("/users", &json!({"name": "J", "email": "jane@example.com"}))
        .await;
    assert_eq!(res.status(), 400);
    let list: Value = app.get("/users").await.json().await.unwrap();
    assert_eq!(list["meta"]["total"], 0);
}

#[tokio::test]
async fn each_created_user_gets_its_own_id() {
    let app = spawn_app().await;
    let a = app.create_user("Jane Smith", "a@example.com").await;
    let b = app.create_user("Jane Smith", "b@example.com").await;
    assert_ne!(a["id"], b["id"]);
}

// ---------------------------------------------------------------------------------------------
// GET /users/{id}
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn getting_a_demo_user_shows_its_memberships() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/users/user-123").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "id": "user-123",
            "name": "Jane Smith",
            "firstName": "Jane",
            "lastName": "Smith",
            "email": "jane@acme.com",
            "phone": "+1234567890",
            "dob": "1985-03-20",
            "role": "customer",
            "members": [
                {
                    "id": "member-789",
                    "organizationId": "org-123",
                    "role": "customer",
                    "createdAt": "2024-01-20T14:15:00Z",
                    "organization": {"id": "org-123", "name": "Acme Corporation", "slug": "acme-corp"}
                },
                {
                    "id": "member-790",
                    "organizationId": "org-456",
                    "role": "customer",
                    "createdAt": "2024-01-21T09:00:00Z",
                    "organization": {"id": "org-456", "name": "Tech Startup Inc", "slug": "tech-startup"}
                }
            ],
            "createdAt": "2024-01-15T14:30:00Z",
            "updatedAt": "2024-01-15T14:30:00Z",
            "externalId": null,
            "metadata": {}
        })
    );
}

#[tokio::test]
async fn getting_a_user_carries_an_etag() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .get(&format!("/users/{}", u["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), 200);
    let tag = res.headers()["etag"].to_str().unwrap();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
}

#[tokio::test]
async fn getting_an_unknown_user_is_404_user_not_found() {
    let app = spawn_app().await;
    let res = app.get("/users/user-doesnotexist").await;
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, not_found_user());
}

#[tokio::test]
async fn a_users_membership_appears_in_its_members() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let org = app
        .create_org(json!({"name": "Acme Corporation", "slug": "acme-corp"}))
        .await;
    let oid = org["id"].as_str().unwrap();
    let m = app.add_member(oid, uid, "admin").await;
    let v: Value = app
        .get(&format!("/users/{uid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["members"],
        json!([{
            "id": m["id"],
            "organizationId": oid,
            "role": "admin",
            "createdAt": m["createdAt"],
            "organization": {"id": oid, "name": "Acme Corporation", "slug": "acme-corp"}
        }])
    );
}

// ---------------------------------------------------------------------------------------------
// PATCH /users/{id}
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patching_one_field_leaves_the_others_unchanged() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(&format!("/users/{id}"), &json!({"phone": "+60123456789"}))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let mut expected = u.clone();
    expected["phone"] = json!("+60123456789");
    expected["updatedAt"] = v["updatedAt"].clone();
    assert_eq!(v, expected);
}

#[tokio::test]
async fn patching_every_field_changes_every_field() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"name": "Janet Smythe", "firstName": "Janet", "lastName": "Smythe",
                   "email": "janet@example.com", "phone": "+60 12-345 6789",
                   "dob": "1986-04-21", "role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "id": id,
            "name": "Janet Smythe",
            "firstName": "Janet",
            "lastName": "Smythe",
            "email": "janet@example.com",
            "phone": "+60 12-345 6789",
            "dob": "1986-04-21",
            "role": "admin",
            "members": [],
            "createdAt": u["createdAt"],
            "updatedAt": v["updatedAt"],
            "externalId": null,
            "metadata": {}
        })
    );
}

#[tokio::test]
async fn a_patch_is_persisted() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let patched: Value = app
        .patch(&format!("/users/{id}"), &json!({"name": "Janet Smith"}))
        .await
        .json()
        .await
        .unwrap();
    let fetched: Value = app.get(&format!("/users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched, patched);
    assert_eq!(fetched["name"], "Janet Smith");
}

#[tokio::test]
async fn null_clears_the_nullable_fields() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"firstName": null, "lastName": null, "phone": null, "dob": null}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let mut expected = u.clone();
    for k in ["firstName", "lastName", "phone", "dob"] {
        expected[k] = Value::Null;
    }
    expected["updatedAt"] = v["updatedAt"].clone();
    assert_eq!(v, expected);
}

#[tokio::test]
async fn null_is_refused_for_name_email_and_role() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"name": null, "email": null, "role": null}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({
            "name": ["name must not be null"],
            "email": ["email must not be null"],
            "role": ["role must not be null"]
        })
    );
}

#[tokio::test]
async fn an_empty_patch_changes_nothing() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app.patch(&format!("/users/{id}"), &json!({})).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, u);
}

#[tokio::test]
async fn a_patch_applies_the_same_validation_as_create() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"name": " J ", "email": "jane@", "role": "owner", "phone": "abc",
                   "dob": "1985-02-30", "nickname": "JJ", "firstName": 7}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({
            "name": ["Name must be at least 2 characters"],
            "email": ["Email format is invalid"],
            "role": ["Role must be one of: super-admin, admin, customer"],
            "phone": ["Phone must be a valid phone number"],
            "dob": ["Date of birth must be a valid ISO 8601 date (YYYY-MM-DD)"],
            "nickname": ["Unknown field: nickname"],
            "firstName": ["firstName must be a string"]
        })
    );
}

#[tokio::test]
async fn a_patch_refuses_a_date_of_birth_in_the_future() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(&format!("/users/{id}"), &json!({"dob": date_from_today(2)}))
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"dob": ["Date of birth must not be in the future"]})
    );
}

#[tokio::test]
async fn a_rejected_patch_changes_nothing() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"name": "Janet Smith", "phone": "nope"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let v: Value = app.get(&format!("/users/{id}")).await.json().await.unwrap();
    assert_eq!(v, u);
}

#[tokio::test]
async fn patching_to_another_users_email_is_a_409() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let other = app.create_user("John Doe", "john@example.com").await;
    let id = other["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"email": "Jane@Example.com"}),
        )
        .await;
    assert_eq!(res.status(), 409);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "error": "Conflict",
            "message": "Email already exists",
            "code": "conflict",
            "details": {"email": ["Email is already taken"]}
        })
    );
}

#[tokio::test]
async fn a_conflicting_patch_changes_nothing() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let other = app.create_user("John Doe", "john@example.com").await;
    let id = other["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"name": "Johnny Doe", "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 409);
    let v: Value = app.get(&format!("/users/{id}")).await.json().await.unwrap();
    assert_eq!(v, other);
}

#[tokio::test]
async fn a_user_may_change_the_case_of_its_own_email() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"email": "Jane@Example.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["email"], "Jane@Example.com");
}

#[tokio::test]
async fn a_changed_email_frees_the_old_one() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/users/{id}"),
            &json!({"email": "janet@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    create(&app, full_user("jane@example.com")).await;
}

#[tokio::test]
async fn a_patch_keeps_created_at_and_never_moves_updated_at_backwards() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let v: Value = app
        .patch(&format!("/users/{id}"), &json!({"name": "Janet Smith"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["createdAt"], u["createdAt"]);
    assert_timestamp(&v["updatedAt"]);
    assert!(
        v["updatedAt"].as_str().unwrap() >= u["updatedAt"].as_str().unwrap(),
        "{} < {}",
        v["updatedAt"],
        u["updatedAt"]
    );
}

#[tokio::test]
async fn a_patch_moves_updated_at_of_an_old_user_to_now() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v: Value = app
        .patch("/users/user-123", &json!({"phone": "+60123456789"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["createdAt"], "2024-01-15T14:30:00Z");
    assert_timestamp(&v["updatedAt"]);
    assert!(v["updatedAt"].as_str().unwrap() > "2024-01-15T14:30:00Z");
}

#[tokio::test]
async fn patching_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let res = app
        .patch("/users/user-doesnotexist", &json!({"name": "Jane Smith"}))
        .await;
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, not_found_user());
}

#[tokio::test]
async fn a_renamed_user_shows_the_new_name_in_its_organizations_member_list() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app
        .patch(
            "/users/user-789",
            &json!({"name": "Johnny Doe", "email": "johnny@acme.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let org: Value = app
        .get("/organizations/org-123")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        org["members"][0]["user"],
        json!({"id": "user-789", "name": "Johnny Doe", "email": "johnny@acme.com"})
    );
}

// ---------------------------------------------------------------------------------------------
// DELETE /users/{id}
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_is_204_with_no_body() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .delete(&format!("/users/{}", u["id"].as_str().unwrap()))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn a_deleted_user_is_gone() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status(), 204);
    let res = app.get(&path).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_user());
}

#[tokio::test]
async fn deleting_a_user_twice_is_404_the_second_time() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status(), 204);
    let res = app.delete(&path).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_user());
}

#[tokio::test]
async fn deleting_a_user_frees_its_email() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status(), 204);
    create(&app, full_user("JANE@example.com")).await;
}

#[tokio::test]
async fn deleting_a_user_removes_its_memberships_and_lowers_member_count() {
    let app = spawn_app().await;
    app.load_demo().await;
    let before: Value = app
        .get("/organizations/org-123")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["memberCount"], 2);
    assert_eq!(app.delete("/users/user-789").await.status(), 204);
    let after: Value = app
        .get("/organizations/org-123")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["memberCount"], 1);
    assert_eq!(
        after["members"],
        json!([{
            "id": "member-789",
            "userId": "user-123",
            "role": "customer",
            "user": {"id": "user-123", "name": "Jane Smith", "email": "jane@acme.com"},
            "createdAt": "2024-01-20T14:15:00Z"
        }])
    );
}

#[tokio::test]
async fn deleting_a_user_lowers_member_count_in_lists_too() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let org = app.create_org(json!({"name": "Solo Org"})).await;
    let oid = org["id"].as_str().unwrap();
    app.add_member(oid, uid, "owner").await;
    let list: Value = get_q(&app, "/organizations", &[("query", "Solo Org")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["memberCount"], 1);
    assert_eq!(app.delete(&format!("/users/{uid}")).await.status(), 204);
    let list: Value = get_q(&app, "/organizations", &[("query", "Solo Org")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["memberCount"], 0);
}

#[tokio::test]
async fn deleting_a_user_removes_its_membership_resources() {
    let app = spawn_app().await;
    app.load_demo().await;
    assert_eq!(app.delete("/users/user-123").await.status(), 204);
    let res = app.get("/organizations/org-123/members/member-789").await;
    assert_error(res, 404, "not_found").await;
    let res = app.get("/users/user-123/organizations").await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn deleting_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let res = app.delete("/users/user-doesnotexist").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_user());
}

// ---------------------------------------------------------------------------------------------
// GET /users/{id}/organizations (seed 000)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_users_organizations_have_the_seed_000_shape() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/users/user-123/organizations").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "data": [
                {
                    "id": "org-123",
                    "name": "Acme Corporation",
                    "slug": "acme-corp",
                    "logo": "https://example.com/logos/acme.png",
                    "memberCount": 2,
                    "premiumTier": {
                        "id": "tier-premium",
                        "name": "Premium",
                        "features": ["advanced-reporting", "priority-support",
                                     "custom-integrations", "unlimited-users"]
                    },
                    "membership": {
                        "id": "member-789",
                        "role": "customer",
                        "createdAt": "2024-01-20T14:15:00Z"
                    },
                    "createdAt": "2024-01-10T08:00:00Z",
                    "updatedAt": "2024-01-10T08:00:00Z",
                    "externalId": null,
                    "metadata": {}
                },
                {
                    "id": "org-456",
                    "name": "Tech Startup Inc",
                    "slug": "tech-startup",
                    "logo": null,
                    "memberCount": v["data"][1]["memberCount"],
                    "premiumTier": null,
                    "membership": {
                        "id": "member-790",
                        "role": "customer",
                        "createdAt": "2024-01-21T09:00:00Z"
                    },
                    "createdAt": "2024-01-18T12:30:00Z",
                    "updatedAt": "2024-01-18T12:30:00Z",
                    "externalId": null,
                    "metadata": {}
                }
            ],
            "meta": {"total": 2, "count": 2}
        })
    );
}

#[tokio::test]
async fn a_users_organizations_member_count_matches_the_organization() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v: Value = app
        .get("/users/user-123/organizations")
        .await
        .json()
        .await
        .unwrap();
    for o in v["data"].as_array().unwrap() {
        let org: Value = app
            .get(&format!("/organizations/{}", o["id"].as_str().unwrap()))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(o["memberCount"], org["memberCount"], "{}", o["id"]);
    }
}

#[tokio::test]
async fn a_users_organizations_show_the_users_own_role() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v: Value = app
        .get("/users/user-789/organizations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["meta"], json!({"total": 1, "count": 1}));
    assert_eq!(v["data"][0]["id"], "org-123");
    assert_eq!(
        v["data"][0]["membership"],
        json!({"id": "member-456", "role": "admin", "createdAt": "2024-01-15T10:30:00Z"})
    );
}

#[tokio::test]
async fn a_user_without_memberships_has_an_empty_organization_list() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let res = app
        .get(&format!(
            "/users/{}/organizations",
            u["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"data": [], "meta": {"total": 0, "count": 0}}));
}

#[tokio::test]
async fn a_new_membership_appears_in_the_users_organizations() {
    let app = spawn_app().await;
    let u = app.create_user("Jane Smith", "jane@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let org = app
        .create_org(
            json!({"name": "Zeta Café", "slug": "zeta-cafe", "logo": "https://example.com/z.png"}),
        )
        .await;
    let oid = org["id"].as_str().unwrap();
    let m = app.add_member(oid, uid, "owner").await;
    let v: Value = app
        .get(&format!("/users/{uid}/organizations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v,
        json!({
            "data": [{
                "id": oid,
                "name": "Zeta Café",
                "slug": "zeta-cafe",
                "logo": "https://example.com/z.png",
                "memberCount": 1,
                "premiumTier": null,
                "membership": {"id": m["id"], "role": "owner", "createdAt": m["createdAt"]},
                "createdAt": org["createdAt"],
                "updatedAt": org["updatedAt"],
                "externalId": null,
                "metadata": {}
            }],
            "meta": {"total": 1, "count": 1}
        })
    );
}

#[tokio::test]
async fn the_organizations_of_an_unknown_user_are_404_user_not_found() {
    let app = spawn_app().await;
    app.load_demo().await;
    let res = app.get("/users/user-doesnotexist/organizations").await;
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, not_found_user());
}

// ---------------------------------------------------------------------------------------------
// GET /users (list, search, role filter, sort)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_empty_user_list_has_one_empty_page() {
    let app = spawn_app().await;
    let res = app.get("/users").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 0, "per_page": 10, "current_page": 1,
                                    "last_page": 1, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn users_are_listed_in_the_published_list_shape_without_dob_or_members() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let v: Value = app.get("/users").await.json().await.unwrap();
    let item = json!({
        "id": u["id"], "name": "Jane Smith", "firstName": "Jane", "lastName": "Smith",
        "email": "jane@example.com", "phone": "+1234567890", "role": "customer",
        "createdAt": u["createdAt"], "updatedAt": u["updatedAt"],
        "externalId": null, "metadata": {}
    });
    assert_eq!(
        v,
        json!({"data": [item], "meta": {"total": 1, "per_page": 10, "current_page": 1,
                                        "last_page": 1, "from": 1, "to": 1}})
    );
}

#[tokio::test]
async fn user_list_items_have_the_published_fields_in_order() {
    use crate::seeds::{field, keys, ordered, Ordered};
    let app = spawn_app().await;
    app.load_demo().await;
    for q in [
        "/users?query=jane%40acme.com",
        "/users?after=&query=jane%40acme.com",
    ] {
        let text = app.get(q).await.text().await.unwrap();
        let page = ordered(&text);
        let Ordered::Array(items) = field(&page, "data") else {
            panic!("{text}")
        };
        assert_eq!(items.len(), 1, "{text}");
        assert_eq!(
            keys(&items[0]),
            [
                "id",
                "name",
                "firstName",
                "lastName",
                "email",
                "phone",
                "role",
                "createdAt",
                "updatedAt",
                "externalId",
                "metadata"
            ],
            "{q}"
        );
    }
}

#[tokio::test]
async fn users_are_sorted_by_name_case_insensitively_by_default() {
    let app = spawn_app().await;
    for (n, e) in [
        ("charlie Brown", "c@example.com"),
        ("Alice Adams", "a@example.com"),
        ("bob Baker", "b@example.com"),
    ] {
        app.create_user(n, e).await;
    }
    let v: Value = app.get("/users").await.json().await.unwrap();
    assert_eq!(names(&v), ["Alice Adams", "bob Baker", "charlie Brown"]);
}

#[tokio::test]
async fn sort_name_descending_reverses_the_order() {
    let app = spawn_app().await;
    for (n, e) in [
        ("charlie Brown", "c@example.com"),
        ("Alice Adams", "a@example.com"),
        ("bob Baker", "b@example.com"),
    ] {
        app.create_user(n, e).await;
    }
    let v: Value = get_q(&app, "/users", &[("sort", "-name")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v), ["charlie Brown", "bob Baker", "Alice Adams"]);
    let v: Value = get_q(&app, "/users", &[("sort", "name")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v), ["Alice Adams", "bob Baker", "charlie Brown"]);
}

#[tokio::test]
async fn sort_created_at_orders_by_creation_time() {
    let app = spawn_app().await;
    app.load_demo().await;
    // The two seed users were created in 2024 (John before Jane), the generated ones now.
    let v: Value = get_q(&app, "/users", &[("sort", "createdAt"), ("per_page", "2")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&v), ["user-789", "user-123"]);
}

#[tokio::test]
async fn sort_created_at_descending_puts_the_oldest_last() {
    let app = spawn_app().await;
    app.load_demo().await;
    let first: Value = get_q(&app, "/users", &[("sort", "-createdAt")])
        .await
        .json()
        .await
        .unwrap();
    let last_page = first["meta"]["last_page"].as_i64().unwrap().to_string();
    let total = first["meta"]["total"].as_i64().unwrap();
    // The last page holds at least the two oldest users (total % 10 could be 1 otherwise).
    assert!(total % 10 == 0 || total % 10 >= 2, "total {total}");
    let v: Value = get_q(
        &app,
        "/users",
        &[("sort", "-createdAt"), ("page", &last_page)],
    )
    .await
    .json()
    .await
    .unwrap();
    let ids = ids(&v);
    assert_eq!(ids[ids.len() - 2..], ["user-123", "user-789"]);
}

/// The ids of the demo's `@acme.com` users in this sort order.
async fn acme_users_sorted(app: &TestApp, sort: &str) -> Vec<String> {
    let v: Value = get_q(app, "/users", &[("query", "@acme.com"), ("sort", sort)])
        .await
        .json()
        .await
        .unwrap();
    ids(&v)
}

#[tokio::test]
async fn sort_combines_with_search() {
    let app = spawn_app().await;
    app.load_demo().await;
    assert_eq!(
        acme_users_sorted(&app, "name").await,
        ["user-123", "user-789"]
    );
    assert_eq!(
        acme_users_sorted(&app, "-name").await,
        ["user-789", "user-123"]
    );
    assert_eq!(
        acme_users_sorted(&app, "createdAt").await,
        ["user-789", "user-123"]
    );
    assert_eq!(
        acme_users_sorted(&app, "-createdAt").await,
        ["user-123", "user-789"]
    );
}

#[tokio::test]
async fn an_invalid_sort_is_a_400_invalid_query() {
    let app = spawn_app().await;
    for bad in ["email", "Name", "+name", "created_at", ""] {
        let res = get_q(&app, "/users", &[("sort", bad)]).await;
        let v = assert_error(res, 400, "invalid_query").await;
        assert_eq!(
            v,
            json!({
                "error": "Bad Request",
                "message": "Invalid request query string",
                "code": "invalid_query",
                "details": {"sort": ["sort must be one of: name, -name, createdAt, -createdAt"]}
            }),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn the_role_filter_returns_only_that_role() {
    let app = spawn_app().await;
    for (i, role) in ["admin", "customer", "super-admin", "admin", "customer"]
        .iter()
        .enumerate()
    {
        create(
            &app,
            json!({"name": format!("User {i}"), "email": format!("u{i}@example.com"), "role": role}),
        )
        .await;
    }
    for (role, expected) in [
        ("admin", vec!["User 0", "User 3"]),
        ("customer", vec!["User 1", "User 4"]),
        ("super-admin", vec!["User 2"]),
    ] {
        let v: Value = get_q(&app, "/users", &[("role", role)])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(names(&v), expected, "{role}");
        assert_eq!(v["meta"]["total"], expected.len(), "{role}");
    }
}

#[tokio::test]
async fn an_unknown_role_filter_is_a_400_invalid_query() {
    let app = spawn_app().await;
    let res = get_q(&app, "/users", &[("role", "owner")]).await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"role": ["role must be one of: super-admin, admin, customer"]})
    );
}

#[tokio::test]
async fn the_role_filter_combines_with_search() {
    let app = spawn_app().await;
    app.load_demo().await;
    let v: Value = get_q(&app, "/users", &[("query", "acme"), ("role", "admin")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&v), ["user-789"]);
    assert_eq!(v["meta"]["total"], 1);
}

#[tokio::test]
async fn users_are_searched_by_partial_name_case_insensitively() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "js@example.com").await;
    app.create_user("John Doe", "jd@example.com").await;
    app.create_user("Blacksmith Co", "bc@example.com").await;
    let v: Value = get_q(&app, "/users", &[("query", "SMITH")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v), ["Blacksmith Co", "Jane Smith"]);
    assert_eq!(v["meta"]["total"], 2);
}

#[tokio::test]
async fn users_are_searched_by_partial_email_case_insensitively() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "jane@acme.example").await;
    app.create_user("John Doe", "john@globex.example").await;
    let v: Value = get_q(&app, "/users", &[("query", "ACME.EX")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v), ["Jane Smith"]);
}

#[tokio::test]
async fn a_user_search_with_no_match_is_an_empty_page() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "jane@example.com").await;
    let v: Value = get_q(&app, "/users", &[("query", "nobody")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v,
        json!({"data": [], "meta": {"total": 0, "per_page": 10, "current_page": 1,
                                    "last_page": 1, "from": null, "to": null}})
    );
}

#[tokio::test]
async fn a_user_search_does_not_match_across_name_and_email() {
    let app = spawn_app().await;
    app.create_user("Jane Smith", "jane@example.com").await;
    // "smith" ends the name and "jane" starts the email: no single field holds "smithjane".
    let v: Value = get_q(&app, "/users", &[("query", "smithjane")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["meta"]["total"], 0);
    let v: Value = get_q(&app, "/users", &[("query", "smith jane")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["meta"]["total"], 0);
}

#[tokio::test]
async fn users_are_paginated_with_the_seed_002_meta() {
    let app = spawn_app().await;
    for i in 0..23 {
        app.create_user(&format!("User {i:02}"), &format!("u{i}@example.com"))
            .await;
    }
    let v: Value = get_q(&app, "/users", &[("page", "3"), ("per_page", "10")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v), ["User 20", "User 21", "User 22"]);
    assert_eq!(
        v["meta"],
        json!({"total": 23, "per_page": 10, "current_page": 3, "last_page": 3, "from": 21, "to": 23})
    );
}

#[tokio::test]
async fn an_unknown_user_list_parameter_is_a_400() {
    let app = spawn_app().await;
    let res = get_q(&app, "/users", &[("q", "jane")]).await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(v["details"], json!({"q": ["Unknown query parameter: q"]}));
}

#[tokio::test]
async fn an_invalid_user_list_page_is_a_400() {
    let app = spawn_app().await;
    let res = app.get("/users?per_page=0").await;
    let v = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        v["details"],
        json!({"per_page": ["per_page must be an integer from 1 to 100"]})
    );
}

#[tokio::test]
async fn a_name_over_200_characters_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "x".repeat(201), "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name must be at most 200 characters"]})
    );
    let v = create(
        &app,
        json!({"name": "x".repeat(200), "email": "jane@example.com"}),
    )
    .await;
    assert_eq!(v["name"].as_str().unwrap().len(), 200);
}

#[tokio::test]
async fn a_name_with_control_characters_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/users",
            &json!({"name": "Jane\u{0}Smith", "email": "jane@example.com"}),
        )
        .await;
    assert_eq!(
        validation_details(res).await,
        json!({"name": ["Name must not contain control characters"]})
    );
}

#[tokio::test]
async fn email_uniqueness_ignores_unicode_composition() {
    let app = spawn_app().await;
    create(&app, full_user("élodie@example.com")).await;
    // The same address with `e` + U+0301 COMBINING ACUTE ACCENT.
    let res = app
        .post("/users", &full_user("e\u{301}lodie@example.com"))
        .await;
    assert_error(res, 409, "conflict").await;
}

// ---------------------------------------------------------------------------------------------
// PUT /users/{id} (the published Update User page): partial, as PATCH
// ---------------------------------------------------------------------------------------------

async fn put(app: &TestApp, path: &str, body: &Value) -> Response {
    app.req(Method::PUT, path).json(body).send().await.unwrap()
}

#[tokio::test]
async fn a_put_with_a_partial_body_changes_only_the_fields_given() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = put(
        &app,
        &format!("/users/{id}"),
        &json!({"name": "Jane Doe", "phone": "+1987654321"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    let v: Value = res.json().await.unwrap();
    let mut want = u.clone();
    want["name"] = json!("Jane Doe");
    want["phone"] = json!("+1987654321");
    want["updatedAt"] = v["updatedAt"].clone();
    assert_eq!(v, want);
    assert_eq!(
        app.get(&format!("/users/{id}"))
            .await
            .json::<Value>()
            .await
            .unwrap(),
        v
    );
}

#[tokio::test]
async fn a_put_clears_nullable_fields_with_null() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = put(
        &app,
        &format!("/users/{id}"),
        &json!({"phone": null, "dob": null}),
    )
    .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (&v["phone"], &v["dob"], &v["name"]),
        (&Value::Null, &Value::Null, &json!("Jane Smith"))
    );
}

#[tokio::test]
async fn a_put_applies_the_same_validation_as_patch() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let body = json!({"name": "J", "email": "nope", "role": "boss", "nickname": "JJ"});
    let via_put = validation_details(put(&app, &path, &body).await).await;
    let via_patch = validation_details(app.patch(&path, &body).await).await;
    assert_eq!(
        via_put,
        json!({
            "email": ["Email format is invalid"],
            "name": ["Name must be at least 2 characters"],
            "nickname": ["Unknown field: nickname"],
            "role": ["Role must be one of: super-admin, admin, customer"]
        })
    );
    assert_eq!(via_put, via_patch);
    assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), u);
}

#[tokio::test]
async fn a_put_to_another_users_email_is_a_409() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let other = create(&app, full_user("john@example.com")).await;
    let res = put(
        &app,
        &format!("/users/{}", other["id"].as_str().unwrap()),
        &json!({"email": "JANE@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "Conflict", "message": "Email already exists", "code": "conflict",
               "details": {"email": ["Email is already taken"]}})
    );
}

#[tokio::test]
async fn a_put_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let res = app
        .req(Method::PUT, &path)
        .header("If-Match", "\"stale\"")
        .json(&json!({"name": "Jane Lim"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 412, "precondition_failed").await;
    assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), u);
}

#[tokio::test]
async fn a_put_records_a_user_updated_event_with_the_changed_fields() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let id = u["id"].as_str().unwrap();
    let res = put(
        &app,
        &format!("/users/{id}"),
        &json!({"name": "Jane Smith", "phone": "+60123456789"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let page: Value = app
        .get("/events?type=user.updated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["subjectId"], json!(id), "{page}");
    assert_eq!(page["data"][0]["changes"], json!(["phone"]), "{page}");
}

#[tokio::test]
async fn a_put_to_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let res = put(&app, "/users/user-nope", &json!({"name": "Jane Doe"})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap(), not_found_user());
}

// ---------------------------------------------------------------------------------------------
// A taken email among other problems: one 400 (seed 003's validation example)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_taken_email_and_a_missing_name_are_one_400_as_in_seed_003() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let res = app
        .post("/users", &json!({"email": "Jane@Example.com"}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({
            "error": "Validation Error",
            "message": "The request contains invalid data",
            "code": "validation_error",
            "details": {"email": ["Email is already taken"], "name": ["Name is required"]}
        })
    );
}

#[tokio::test]
async fn a_taken_email_is_listed_with_an_unknown_field_too() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let mut body = full_user("jane@example.com");
    body["nickname"] = json!("JJ");
    let d = validation_details(app.post("/users", &body).await).await;
    assert_eq!(
        d,
        json!({"email": ["Email is already taken"], "nickname": ["Unknown field: nickname"]})
    );
}

#[tokio::test]
async fn a_malformed_email_is_not_also_reported_as_taken() {
    let app = spawn_app().await;
    let d = validation_details(app.post("/users", &json!({"email": "jane@"})).await).await;
    assert_eq!(
        d,
        json!({"email": ["Email format is invalid"], "name": ["Name is required"]})
    );
}

#[tokio::test]
async fn a_free_email_with_other_problems_lists_only_those() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let d = validation_details(
        app.post("/users", &json!({"email": "john@example.com", "name": "J"}))
            .await,
    )
    .await;
    assert_eq!(d, json!({"name": ["Name must be at least 2 characters"]}));
}

#[tokio::test]
async fn an_update_lists_a_taken_email_with_its_other_problems() {
    let app = spawn_app().await;
    create(&app, full_user("jane@example.com")).await;
    let other = create(&app, full_user("john@example.com")).await;
    let path = format!("/users/{}", other["id"].as_str().unwrap());
    let body = json!({"email": "JANE@example.com", "role": "boss"});
    let want = json!({
        "email": ["Email is already taken"],
        "role": ["Role must be one of: super-admin, admin, customer"]
    });
    assert_eq!(
        validation_details(app.patch(&path, &body).await).await,
        want
    );
    assert_eq!(
        validation_details(put(&app, &path, &body).await).await,
        want
    );
    assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), other);
}

#[tokio::test]
async fn an_update_to_its_own_email_with_other_problems_does_not_call_it_taken() {
    let app = spawn_app().await;
    let u = create(&app, full_user("jane@example.com")).await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    let d = validation_details(
        app.patch(&path, &json!({"email": "JANE@example.com", "name": "J"}))
            .await,
    )
    .await;
    assert_eq!(d, json!({"name": ["Name must be at least 2 characters"]}));
}
