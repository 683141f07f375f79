//! `/users`: create (seed 003), list, get, update, delete, and a user's organizations (seed 000).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, resource, IdemKey, ListParams,
    NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::domain::fields::{Fields, Patch};
use crate::domain::{self, USER_ROLES};
use crate::error::{ApiError, Result};
use crate::model::{CountMeta, ListPage, Page, PageMeta, User, UserOrganizations, UserSummary};
use crate::storage::users::{NewUser, Sort, UserUpdate};
use crate::storage::{events, orgs, users, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create_user)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/users/{id}/organizations").route(web::get().to(organizations)));
}

/// Reads a user body; every field optional here, `create_user` demands name and email.
fn read(body: Value) -> Result<(UserUpdate, Fields)> {
    let mut f = Fields::new(body)?;
    let name = f.string("name", |s| domain::parse_name(s, "Name", 200));
    let name = f.not_null("name", name);
    let first_name = f.string("firstName", |s| {
        domain::parse_optional_text(s, "First name")
    });
    let last_name = f.string("lastName", |s| domain::parse_optional_text(s, "Last name"));
    let email = f.string("email", domain::parse_email);
    let email = f.not_null("email", email);
    let phone = f.string("phone", domain::parse_phone);
    let dob = f.string("dob", domain::parse_dob);
    let role = f.string("role", |s| domain::parse_role(s, &USER_ROLES));
    let role = f.not_null("role", role);
    let flat = |p: Patch<Option<String>>| p.into_update().map(Option::flatten);
    let u = UserUpdate {
        name: name.value(),
        first_name: flat(first_name),
        last_name: flat(last_name),
        email: email.value(),
        phone: phone.into_update(),
        dob: dob.into_update(),
        role: role.value(),
    };
    Ok((u, f))
}

#[utoipa::path(post, path = "/api/integrations/users", tag = "users",
    request_body(content = Object, description = "name (required), firstName, lastName, email (required), phone, dob, role", example = json!({"name": "Jane Smith", "firstName": "Jane", "lastName": "Smith", "email": "jane@example.com", "phone": "+1234567890", "dob": "1985-03-20", "role": "customer"})),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = User, headers(("Location" = String), ("ETag" = String))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["write:users"])))]
pub async fn create_user(
    req: HttpRequest,
    key: Need<scope::WriteUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let idem = IdemKey::from_request(&req, &body)?;
    let (u, mut f) = read(body)?;
    let name = f.require("name", Patch::from_option(u.name), "Name is required");
    let email = f.require("email", Patch::from_option(u.email), "Email is required");
    f.finish()?;
    let (Some(name), Some(email)) = (name, email) else {
        return Err(ApiError::Internal("unreachable".into()));
    };
    let new = NewUser {
        name,
        first_name: u.first_name.flatten(),
        last_name: u.last_name.flatten(),
        email,
        phone: u.phone.flatten(),
        dob: u.dob.flatten(),
        role: u.role.unwrap_or_else(|| "customer".into()),
    };
    let actor = key.key_id.clone();
    create(&db, &key, idem, move |tx, now| {
        let id = users::create(tx, &new, now)?;
        events::record(tx, "user.created", Some(&actor), &id, &[], now)?;
        let user = users::get(tx, &id)?
            .ok_or_else(|| ApiError::Internal("created user vanished".into()))?;
        created(format!("{API}/users/{id}"), &user)
    })
    .await
}

#[utoipa::path(get, path = "/api/integrations/users", tag = "users",
    params(("query" = Option<String>, Query, description = "Name or email, partial, case-insensitive"),
        ("role" = Option<String>, Query, description = "super-admin | admin | customer"),
        ("sort" = Option<String>, Query, description = "name | -name | createdAt | -createdAt (default name)"),
        ("page" = Option<u32>, Query, description = "From 1 (default 1)"),
        ("per_page" = Option<u32>, Query, description = "1 to 100 (default 10)"),
        ("after" = Option<String>, Query, description = "Keyset pagination instead of page: empty for the start, then meta.next_cursor (same sort)")),
    responses((status = 200, body = ListPage<UserSummary>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["read:users"])))]
pub async fn list(
    req: HttpRequest,
    _key: Need<scope::ReadUsers>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(
        &req,
        &["query", "role", "sort", "page", "per_page", "after"],
    )?;
    p.check_role(&USER_ROLES)?;
    let sort = match &p.sort {
        None => Sort::Name,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            ApiError::InvalidQuery(super::one(
                "sort",
                "sort must be one of: name, -name, createdAt, -createdAt",
            ))
        })?,
    };
    let page = p.page;
    if let Some(after) = p.cursor()? {
        let pos = users::decode_cursor(after, sort).ok_or_else(super::bad_cursor)?;
        let (data, next_cursor) = db
            .read(move |c| {
                users::list_after(
                    c,
                    p.query.as_deref(),
                    p.role.as_deref(),
                    sort,
                    pos,
                    page.per_page,
                )
            })
            .await?;
        return super::cursor_page(data, next_cursor, page.per_page);
    }
    let (rows, total) = db
        .read(move |c| users::list(c, p.query.as_deref(), p.role.as_deref(), sort, page))
        .await?;
    let meta = PageMeta::new(total, page.per_page, page.page, rows.len());
    ok_json(&Page { data: rows, meta })
}

#[utoipa::path(get, path = "/api/integrations/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User, headers(("ETag" = String))), (status = 304), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["read:users"])))]
pub async fn get(
    req: HttpRequest,
    _key: Need<scope::ReadUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let user = db
        .read(move |c| users::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    resource(&req, &user)
}

#[utoipa::path(put, path = "/api/integrations/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "ETag from a GET; 412 if the user changed since")),
    request_body(content = Object, description = "Any of name, firstName, lastName, email, phone, dob, role; absent = unchanged, null clears a nullable field", example = json!({"phone": "+60123456789", "lastName": null})),
    responses((status = 200, body = User, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["write:users"])))]
pub async fn put(
    req: HttpRequest,
    key: Need<scope::WriteUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, id, body).await
}

#[utoipa::path(patch, path = "/api/integrations/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "ETag from a GET; 412 if the user changed since")),
    request_body(content = Object, description = "Any of name, firstName, lastName, email, phone, dob, role; absent = unchanged, null clears a nullable field", example = json!({"phone": "+60123456789", "lastName": null})),
    responses((status = 200, body = User, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["write:users"])))]
pub async fn patch(
    req: HttpRequest,
    key: Need<scope::WriteUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, id, body).await
}

/// PUT and PATCH alike: only the fields given change (the published Update pages use PUT
/// with partial bodies).
async fn update(
    req: HttpRequest,
    key: Need<scope::WriteUsers>,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (u, f) = read(body.into_inner())?;
    f.finish()?;
    let id = id.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    let user: User = db
        .write(move |tx| {
            let cur = users::get(tx, &id)?.ok_or_else(|| ApiError::not_found("User"))?;
            check_if_match(im.as_deref(), &cur)?;
            let now = domain::now();
            let changed = users::update(tx, &id, &u, &now)?.unwrap_or_default();
            if !changed.is_empty() {
                events::record(tx, "user.updated", Some(&actor), &id, &changed, &now)?;
            }
            users::get(tx, &id)?.ok_or_else(|| ApiError::not_found("User"))
        })
        .await?;
    resource(&req, &user)
}

#[utoipa::path(delete, path = "/api/integrations/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "ETag from a GET")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["write:users"])))]
pub async fn delete(
    req: HttpRequest,
    key: Need<scope::WriteUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    db.write(move |tx| {
        let cur = users::get(tx, &id)?.ok_or_else(|| ApiError::not_found("User"))?;
        check_if_match(im.as_deref(), &cur)?;
        let now = domain::now();
        for m in &cur.members {
            events::record(tx, "membership.deleted", Some(&actor), &m.id, &[], &now)?;
        }
        users::delete(tx, &id)?;
        events::record(tx, "user.deleted", Some(&actor), &id, &[], &now)
    })
    .await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/api/integrations/users/{id}/organizations", tag = "users",
    params(("id" = String, Path, description = "The unique identifier of the user")),
    responses((status = 200, body = UserOrganizations), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["read:organizations"])))]
pub async fn organizations(
    _key: Need<scope::ReadOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let data = db
        .read(move |c| {
            if !users::exists(c, &id)? {
                return Err(ApiError::not_found("User"));
            }
            orgs::of_user(c, &id)
        })
        .await?;
    let n = i64::try_from(data.len()).unwrap_or(i64::MAX);
    ok_json(&UserOrganizations {
        data,
        meta: CountMeta { total: n, count: n },
    })
}

use crate::error::ErrorBody;
