//! `/users`: create (seed 003), list, get, update, delete, and a user's organizations (seed 000).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, present, resource, IdemKey,
    ListParams, NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::domain::fields::Fields;
use crate::domain::{self, USER_ROLES};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::{
    CountMeta, ListPage, Page, PageMeta, User, UserOrganizations, UserRole, UserSummary,
};
use crate::storage::events::Actor;
use crate::storage::users::{NewUser, Sort, UserUpdate};
use crate::storage::{events, orgs, users, Conn, Db, KeyCheck};

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

/// The body of `POST /users` (seed 003).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Jane Smith", "firstName": "Jane", "lastName": "Smith",
    "email": "jane@example.com", "phone": "+1234567890", "dob": "1985-03-20", "role": "customer",
    "externalId": "shopify-7781", "metadata": {"plan": "gold"}}))]
pub struct CreateUser {
    /// Full name: at least 2 characters after trimming.
    #[schema(min_length = 2, max_length = 200, example = "Jane Smith")]
    pub name: String,
    /// An empty string stores `null`.
    #[schema(max_length = 200, example = "Jane")]
    pub first_name: Option<String>,
    /// An empty string stores `null`.
    #[schema(max_length = 200, example = "Smith")]
    pub last_name: Option<String>,
    /// Unique, compared case-insensitively.
    #[schema(format = Email, max_length = 254, example = "jane@example.com")]
    pub email: String,
    /// An optional `+`, 7 to 15 digits, separators space `-` `.` `(` `)`.
    #[schema(
        pattern = r"^\+?[0-9(][0-9 ().-]*$",
        max_length = 40,
        example = "+1234567890"
    )]
    pub phone: Option<String>,
    /// Date of birth: an ISO 8601 calendar date, not in the future.
    #[schema(format = Date, example = "1985-03-20")]
    pub dob: Option<String>,
    /// Default `customer`.
    #[schema(nullable = false, default = "customer")]
    pub role: Option<UserRole>,
    /// Your own id of the user, unique among users (after the documented fields).
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "shop-1234"
    )]
    pub external_id: Option<String>,
    /// Your own data: a JSON object, at most 8 KiB serialized and 5 levels deep (default `{}`).
    #[schema(value_type = Option<crate::model::Metadata>, nullable = false)]
    pub metadata: Option<Value>,
}

impl From<CreateUser> for NewUser {
    fn from(u: CreateUser) -> Self {
        Self {
            name: u.name,
            first_name: u.first_name,
            last_name: u.last_name,
            email: u.email,
            phone: u.phone,
            dob: u.dob,
            role: u.role.unwrap_or(UserRole::Customer).as_str().to_owned(),
            external_id: u.external_id,
            metadata: u
                .metadata
                .map_or_else(|| "{}".to_owned(), |m| m.to_string()),
        }
    }
}

/// The body of `PUT` and `PATCH /users/{id}`: only include the fields you want to modify;
/// `null` clears a nullable field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Jane Doe", "firstName": "Jane", "lastName": "Doe",
    "email": "jane.doe@example.com", "phone": "+1987654321", "dob": "1985-03-20", "role": "admin",
    "externalId": "shopify-7782", "metadata": {"plan": "silver"}}))]
pub struct UpdateUser {
    #[schema(
        nullable = false,
        min_length = 2,
        max_length = 200,
        example = "Jane Doe"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub last_name: Option<Option<String>>,
    #[schema(nullable = false, format = Email, max_length = 254)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^\+?[0-9(][0-9 ().-]*$", max_length = 40)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Date)]
    pub dob: Option<Option<String>>,
    #[schema(nullable = false)]
    pub role: Option<UserRole>,
    /// Your own id of the user, unique among users; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub external_id: Option<Option<String>>,
    /// Replaces the whole metadata object (at most 8 KiB serialized, 5 levels deep).
    #[schema(value_type = Option<crate::model::Metadata>, nullable = false)]
    pub metadata: Option<Value>,
}

impl From<UpdateUser> for UserUpdate {
    fn from(u: UpdateUser) -> Self {
        Self {
            name: u.name,
            first_name: u.first_name,
            last_name: u.last_name,
            email: u.email,
            phone: u.phone,
            dob: u.dob,
            role: u.role.map(|r| r.as_str().to_owned()),
            external_id: u.external_id,
            metadata: u.metadata.map(|m| m.to_string()),
        }
    }
}

/// The orders of `GET /users` (see [`Sort`]).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum UserSort {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "createdAt")]
    CreatedAt,
    #[serde(rename = "-createdAt")]
    CreatedAtDesc,
}

/// The query of `GET /users`, as documented (read strictly by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Name or email, partial, case-insensitive.
    #[param(max_length = 200)]
    pub query: Option<String>,
    #[param(inline)]
    pub role: Option<UserRole>,
    /// Default `name`.
    #[param(inline)]
    pub sort: Option<UserSort>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 10_000_000, default = 1)]
    pub page: Option<u32>,
    /// Users per page (default 10, max 100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
    /// Keyset pagination instead of `page`: empty for the start, then `meta.next_cursor`
    /// (same sort); the answer is then a CursorPage.
    pub after: Option<String>,
    /// Only the user with this external id (exact match).
    #[param(rename = "externalId", max_length = 255)]
    pub external_id: Option<String>,
    /// `metadata[key]=value`: only users whose metadata has the top-level `key` (1 to 64
    /// letters, digits, `_`, `-`) equal to `value`: a string equal to it, a number equal to it
    /// read as a number, or the boolean `true`/`false`. Up to 10 keys, combined with AND.
    #[param(rename = "metadata[key]", value_type = Option<String>)]
    pub metadata: Option<String>,
}

/// Reads a user body into `f`: every problem, and the normalized fields for the DTO. Name and
/// email are required when `creating`. Returns the email when it is well-formed. (The
/// console reads its forms with it too.)
pub(crate) fn read(f: &mut Fields, creating: bool) -> Option<String> {
    let name = f.string("name", |s| domain::parse_name(s, "Name", 200));
    let name = f.not_null("name", name);
    f.string("firstName", |s| {
        domain::parse_optional_text(s, "First name")
    });
    f.string("lastName", |s| domain::parse_optional_text(s, "Last name"));
    let email = f.string("email", domain::parse_email);
    let email = f.not_null("email", email);
    f.string("phone", domain::parse_phone);
    f.string("dob", domain::parse_dob);
    let role = f.string("role", |s| domain::parse_role(s, &USER_ROLES));
    f.not_null("role", role);
    super::read_own_fields(f, true);
    if creating {
        f.require("name", name, "Name is required");
        f.require("email", email, "Email is required")
    } else {
        email.value()
    }
}

/// With other problems in the body, a taken `email` is reported among them (seed 003's
/// example: one 400 that lists all); alone, it is the 409 of the write itself.
pub(crate) async fn taken_email_too(
    db: &Db,
    check: &KeyCheck,
    f: &mut Fields,
    email: Option<String>,
    except: Option<String>,
) -> Result<()> {
    let Some(email) = email.filter(|_| !f.is_clean()) else {
        return Ok(());
    };
    if db
        .read(check, move |c| {
            users::email_taken(c, &email, except.as_deref())
        })
        .await?
    {
        f.error("email", "Email is already taken");
    }
    Ok(())
}

/// Create a user (seed 003).
///
/// A taken email together with other problems is one 400 listing all of them.
#[utoipa::path(post, path = "/api/integrations/users", tag = "users", operation_id = "createUser",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Replays the first response (per API key, for 24 hours) instead of creating again; reused with another request it is 422")),
    request_body = CreateUser,
    responses((status = 201, description = "The new user", body = User, headers(("Location" = String, description = "URL of the new resource"), ("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 409, description = "Email already exists (when it is the only problem)", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another request", body = ErrorBody)),
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
    let mut f = Fields::new(body)?;
    let email = read(&mut f, true);
    taken_email_too(&db, &key.check, &mut f, email, None).await?;
    let new = NewUser::from(f.finish_into::<CreateUser>()?);
    let actor = key.key_id.clone();
    create(&db, &key, idem, move |tx, now| {
        let user = create_in(tx, &new, Actor::Key(&actor), now)?;
        created(format!("{API}/users/{}", user.id), &user)
    })
    .await
}

/// List users: search by name or email, filter by role, sort, paginate.
#[utoipa::path(get, path = "/api/integrations/users", tag = "users", operation_id = "listUsers",
    params(UserListQuery),
    responses((status = 200, description = "A page of users; with `after`, a cursor page", body = ListPage<UserSummary>)),
    security(("api_key" = ["read:users"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::ReadUsers>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(
        &req,
        &[
            "query",
            "role",
            "sort",
            "page",
            "per_page",
            "after",
            "externalId",
            "metadata[]",
        ],
    )?;
    p.check_role(&USER_ROLES)?;
    let sort = match &p.sort {
        None => Sort::Name,
        Some(s) => parse_sort(s).ok_or_else(|| {
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
            .read(&key.check, move |c| {
                users::list_after(
                    c,
                    p.query.as_deref(),
                    p.role.as_deref(),
                    &p.lookup,
                    sort,
                    pos,
                    page.per_page,
                )
            })
            .await?;
        return super::cursor_page(
            data.into_iter().map(UserSummary::from).collect(),
            next_cursor,
            page.per_page,
        );
    }
    let (rows, total) = db
        .read(&key.check, move |c| {
            users::list(
                c,
                p.query.as_deref(),
                p.role.as_deref(),
                &p.lookup,
                sort,
                page,
            )
        })
        .await?;
    let meta = PageMeta::new(total, page.per_page, page.page, rows.len());
    ok_json(&Page {
        data: rows.into_iter().map(UserSummary::from).collect(),
        meta,
    })
}

/// Get a user with its memberships.
#[utoipa::path(get, path = "/api/integrations/users/{id}", tag = "users", operation_id = "getUser",
    params(("id" = String, Path, description = "The unique identifier of the user")),
    responses((status = 200, description = "The user with its memberships", body = User, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 304, description = "Not modified: If-None-Match holds the current ETag"),
        (status = 404, description = "User not found", body = ErrorBody)),
    security(("api_key" = ["read:users"])))]
pub async fn get(
    req: HttpRequest,
    key: Need<scope::ReadUsers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let user = db
        .read(&key.check, move |c| users::get(c, &id))
        .await?
        .map(User::from)
        .ok_or_else(|| ApiError::not_found("User"))?;
    resource(&req, &user)
}

/// Update a user: only the fields given change (the published Update User page).
#[utoipa::path(put, path = "/api/integrations/users/{id}", tag = "users", operation_id = "updateUser",
    params(("id" = String, Path, description = "The unique identifier of the user"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateUser,
    responses((status = 200, description = "The updated user", body = User, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 409, description = "Email already exists", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
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

/// Update a user: the same as PUT.
#[utoipa::path(patch, path = "/api/integrations/users/{id}", tag = "users", operation_id = "patchUser",
    params(("id" = String, Path, description = "The unique identifier of the user"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateUser,
    responses((status = 200, description = "The updated user", body = User, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 409, description = "Email already exists", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
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
    let id = id.into_inner();
    let mut f = Fields::new(body.into_inner())?;
    let email = read(&mut f, false);
    taken_email_too(&db, &key.check, &mut f, email, Some(id.clone())).await?;
    let u = UserUpdate::from(f.finish_into::<UpdateUser>()?);
    let im = if_match(&req);
    let actor = key.key_id.clone();
    let user: User = db
        .write(&key.check, move |tx| {
            update_in(tx, &id, &u, im.as_deref(), Actor::Key(&actor))
        })
        .await?;
    resource(&req, &user)
}

/// Creates a user and records `user.created` by `actor`, in the caller's transaction.
pub(crate) fn create_in(tx: &Conn<'_>, new: &NewUser, actor: Actor<'_>, now: &str) -> Result<User> {
    let id = users::create(tx, new, now)?;
    events::record_as(tx, "user.created", actor, &id, &[], now)?;
    users::get(tx, &id)?
        .map(crate::model::User::from)
        .ok_or_else(|| ApiError::Internal("created user vanished".into()))
}

/// Updates a user whose current representation matches `if_match` (the API's ETag rule) and
/// records `user.updated` by `actor` when anything changed; the user as it is now.
pub(crate) fn update_in(
    tx: &Conn<'_>,
    id: &str,
    u: &UserUpdate,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<User> {
    let cur = users::get(tx, id)?
        .map(crate::model::User::from)
        .ok_or_else(|| ApiError::not_found("User"))?;
    check_if_match(if_match, &cur)?;
    let now = domain::now();
    let changed =
        crate::model::published_fields(users::update(tx, id, u, &now)?.unwrap_or_default());
    if !changed.is_empty() {
        events::record_as(tx, "user.updated", actor, id, &changed, &now)?;
    }
    users::get(tx, id)?
        .map(crate::model::User::from)
        .ok_or_else(|| ApiError::not_found("User"))
}

/// Deletes a user (if it matches `if_match`) with its memberships, recording each by `actor`.
pub(crate) fn delete_in(
    tx: &Conn<'_>,
    id: &str,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<()> {
    let cur = users::get(tx, id)?
        .map(crate::model::User::from)
        .ok_or_else(|| ApiError::not_found("User"))?;
    check_if_match(if_match, &cur)?;
    let now = domain::now();
    for m in &cur.members {
        events::record_as(tx, "membership.deleted", actor, &m.id, &[], &now)?;
    }
    // Recorded first: a webhook delivery carries the user's last state.
    events::record_as(tx, "user.deleted", actor, id, &[], &now)?;
    users::delete(tx, id)?;
    Ok(())
}

/// Delete a user and its memberships.
#[utoipa::path(delete, path = "/api/integrations/users/{id}", tag = "users", operation_id = "deleteUser",
    params(("id" = String, Path, description = "The unique identifier of the user"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    responses((status = 204, description = "Deleted, with the user's memberships"),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
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
    db.write(&key.check, move |tx| {
        delete_in(tx, &id, im.as_deref(), Actor::Key(&actor))
    })
    .await?;
    Ok(no_content())
}

/// A user's organizations (seed 000).
#[utoipa::path(get, path = "/api/integrations/users/{id}/organizations", tag = "users", operation_id = "listUserOrganizations",
    params(("id" = String, Path, description = "The unique identifier of the user")),
    responses((status = 200, description = "Every organization the user belongs to, with the membership", body = UserOrganizations),
        (status = 404, description = "User not found", body = ErrorBody)),
    security(("api_key" = ["read:organizations"])))]
pub async fn organizations(
    key: Need<scope::ReadOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let data = db
        .read(&key.check, move |c| {
            if !users::exists(c, &id)? {
                return Err(ApiError::not_found("User"));
            }
            Ok(orgs::of_user(c, &id)?)
        })
        .await?;
    let n = i64::try_from(data.len()).unwrap_or(i64::MAX);
    ok_json(&UserOrganizations {
        data: data.into_iter().map(Into::into).collect(),
        meta: CountMeta { total: n, count: n },
    })
}

/// The `sort` query parameter (published field names, `-` for descending).
fn parse_sort(s: &str) -> Option<Sort> {
    match s {
        "name" => Some(Sort::Name),
        "-name" => Some(Sort::NameDesc),
        "createdAt" => Some(Sort::Created),
        "-createdAt" => Some(Sort::CreatedDesc),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_enum_is_the_list_of_user_roles() {
        for r in USER_ROLES {
            let role: UserRole = serde_json::from_value(Value::from(r)).unwrap();
            assert_eq!(role.as_str(), r);
        }
        assert!(serde_json::from_value::<UserRole>(Value::from("owner")).is_err());
    }

    #[test]
    fn the_documented_sorts_are_the_ones_parsed() {
        let all = [
            UserSort::Name,
            UserSort::NameDesc,
            UserSort::CreatedAt,
            UserSort::CreatedAtDesc,
        ];
        let mut parsed = Vec::new();
        for s in all {
            let name = serde_json::to_value(s).unwrap();
            parsed.push(parse_sort(name.as_str().unwrap()).unwrap());
        }
        assert_eq!(
            parsed,
            [Sort::Name, Sort::NameDesc, Sort::Created, Sort::CreatedDesc]
        );
    }
}
