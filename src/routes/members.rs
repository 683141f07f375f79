//! `/organizations/{id}/members`: list, add, change role, remove.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, resource, IdemKey, ListParams,
    NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::domain::fields::Fields;
use crate::domain::{self, MEMBER_ROLES};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::{ListPage, MemberRole, Membership, Page, PageMeta};
use crate::storage::events::Actor;
use crate::storage::{events, members, orgs, users, Conn, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organizations/{id}/members")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .service(
        web::resource("/organizations/{id}/members/{memberId}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

/// The body of `POST /organizations/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"userId": "user-789", "role": "admin", "metadata": {"seat": "a-12"}}))]
pub struct AddMember {
    /// The id of an existing user.
    #[schema(min_length = 1, example = "user-789")]
    pub user_id: String,
    /// Default `customer`.
    #[schema(nullable = false, default = "customer")]
    pub role: Option<MemberRole>,
    /// Your own data: a JSON object, at most 8 KiB serialized and 5 levels deep (default `{}`).
    #[schema(value_type = Option<crate::model::Metadata>, nullable = false)]
    pub metadata: Option<Value>,
}

/// The body of `PUT` and `PATCH /organizations/{id}/members/{memberId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"role": "owner", "metadata": {"seat": "b-3"}}))]
pub struct UpdateMember {
    /// Required unless `metadata` is given.
    #[schema(nullable = false)]
    pub role: Option<MemberRole>,
    /// Replaces the whole metadata object (at most 8 KiB serialized, 5 levels deep).
    #[schema(value_type = Option<crate::model::Metadata>, nullable = false)]
    pub metadata: Option<Value>,
}

/// The query of `GET /organizations/{id}/members`, as documented (read by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberListQuery {
    /// User name or email, partial, case-insensitive.
    #[param(max_length = 200)]
    pub query: Option<String>,
    #[param(inline)]
    pub role: Option<MemberRole>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 10_000_000, default = 1)]
    pub page: Option<u32>,
    /// Members per page (default 10, max 100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
    /// Keyset pagination instead of `page`: empty for the start, then `meta.next_cursor`.
    pub after: Option<String>,
}

fn org_of(c: &crate::storage::Conn<'_>, id_or_slug: &str) -> Result<String> {
    orgs::resolve(c, id_or_slug)?.ok_or_else(|| ApiError::not_found("Organization"))
}

/// List an organization's members: search by user name or email, filter by role.
#[utoipa::path(get, path = "/api/integrations/organizations/{id}/members", tag = "members", operation_id = "listMembers",
    params(("id" = String, Path, description = "Organization id or slug"), MemberListQuery),
    responses((status = 200, description = "A page of members by join date; with `after`, a cursor page", body = ListPage<Membership>),
        (status = 404, description = "Organization not found", body = ErrorBody)),
    security(("api_key" = ["read:organizations"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::ReadOrganizations>,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(&req, &["query", "role", "page", "per_page", "after"])?;
    p.check_role(&MEMBER_ROLES)?;
    let id = id.into_inner();
    let page = p.page;
    if let Some(after) = p.cursor()? {
        let pos = match after {
            "" => None,
            a => Some(
                crate::storage::cursor::decode_cursor(a)
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(super::bad_cursor)?,
            ),
        };
        let (data, next_cursor) = db
            .read(&key.check, move |c| -> Result<_> {
                let org = org_of(c, &id)?;
                Ok(members::list_after(
                    c,
                    &org,
                    p.query.as_deref(),
                    p.role.as_deref(),
                    pos,
                    page.per_page,
                )?)
            })
            .await?;
        return super::cursor_page(
            data.into_iter().map(Membership::from).collect(),
            next_cursor,
            page.per_page,
        );
    }
    let (rows, total) = db
        .read(&key.check, move |c| -> Result<_> {
            let org = org_of(c, &id)?;
            Ok(members::list(
                c,
                &org,
                p.query.as_deref(),
                p.role.as_deref(),
                page,
            )?)
        })
        .await?;
    let meta = PageMeta::new(total, page.per_page, page.page, rows.len());
    ok_json(&Page {
        data: rows.into_iter().map(Membership::from).collect(),
        meta,
    })
}

/// Get a membership.
#[utoipa::path(get, path = "/api/integrations/organizations/{id}/members/{memberId}", tag = "members", operation_id = "getMember",
    params(("id" = String, Path, description = "Organization id or slug"), ("memberId" = String, Path, description = "Membership id")),
    responses((status = 200, description = "The membership", body = Membership, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 304, description = "Not modified: If-None-Match holds the current ETag"),
        (status = 404, description = "Organization or membership not found", body = ErrorBody)),
    security(("api_key" = ["read:organizations"])))]
pub async fn get(
    req: HttpRequest,
    key: Need<scope::ReadOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, mid) = path.into_inner();
    let m = db
        .read(&key.check, move |c| {
            let org = org_of(c, &id)?;
            members::get(c, &org, &mid)?
                .map(crate::model::Membership::from)
                .ok_or_else(|| ApiError::not_found("Membership"))
        })
        .await?;
    resource(&req, &m)
}

/// Add a user to an organization.
#[utoipa::path(post, path = "/api/integrations/organizations/{id}/members", tag = "members", operation_id = "addMember",
    params(("id" = String, Path, description = "Organization id or slug"), ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Replays the first response (per API key, for 24 hours) instead of creating again; reused with another request it is 422")),
    request_body = AddMember,
    responses((status = 201, description = "The new membership", body = Membership, headers(("Location" = String, description = "URL of the new resource"), ("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Organization or user not found", body = ErrorBody),
        (status = 409, description = "The user is already a member", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another request", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn add(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let idem = IdemKey::from_request(&req, &body)?;
    let (user_id, role, metadata) = read_add(Fields::new(body)?)?;
    let id = id.into_inner();
    let actor = key.key_id.clone();
    create(&db, &key, idem, move |tx, now| {
        let m = add_in(tx, &id, &user_id, &role, &metadata, Actor::Key(&actor), now)?;
        created(
            format!("{API}/organizations/{}/members/{}", m.organization_id, m.id),
            &m,
        )
    })
    .await
}

/// Reads the body of an add: the user's id, the role (default `customer`) and the metadata
/// (canonical text, default `{}`). The console reads its form with it too.
pub(crate) fn read_add(mut f: Fields) -> Result<(String, String, String)> {
    let user_id = f.string("userId", |s| {
        if s.is_empty() {
            Err("userId is required".to_owned())
        } else {
            Ok(s.to_owned())
        }
    });
    f.require("userId", user_id, "userId is required");
    let role = f.string("role", |s| domain::parse_role(s, &MEMBER_ROLES));
    f.not_null("role", role);
    super::read_own_fields(&mut f, false);
    let add = f.finish_into::<AddMember>()?;
    let role = add.role.unwrap_or(MemberRole::Customer).as_str().to_owned();
    let metadata = add
        .metadata
        .map_or_else(|| "{}".to_owned(), |m| m.to_string());
    Ok((add.user_id, role, metadata))
}

/// Adds `user_id` to the organization `org` (id or slug) and records `membership.created` by
/// `actor`.
pub(crate) fn add_in(
    tx: &Conn<'_>,
    org: &str,
    user_id: &str,
    role: &str,
    metadata: &str,
    actor: Actor<'_>,
    now: &str,
) -> Result<Membership> {
    let org = org_of(tx, org)?;
    if !users::exists(tx, user_id)? {
        return Err(ApiError::not_found("User"));
    }
    let mid = members::create(tx, &org, user_id, role, metadata, now)?;
    events::record_as(tx, "membership.created", actor, &mid, &[], now)?;
    members::get(tx, &org, &mid)?
        .map(crate::model::Membership::from)
        .ok_or_else(|| ApiError::Internal("created membership vanished".into()))
}

/// Reads the body of a role change.
pub(crate) fn read_role(mut f: Fields) -> Result<String> {
    let role = f.string("role", |s| domain::parse_role(s, &MEMBER_ROLES));
    f.require("role", role, "Role is required");
    f.finish_into::<UpdateMember>()?
        .role
        .map(|r| r.as_str().to_owned())
        .ok_or_else(|| ApiError::field("role", "Role is required"))
}

/// Reads the body of a membership update: the role and the metadata (canonical text), each
/// `None` when absent; at least one of them.
pub(crate) fn read_update(mut f: Fields) -> Result<(Option<String>, Option<String>)> {
    let role = f.string("role", |s| domain::parse_role(s, &MEMBER_ROLES));
    let role = f.not_null("role", role);
    super::read_own_fields(&mut f, false);
    if f.is_clean() && matches!(role, domain::fields::Patch::Absent) && !f.has("metadata") {
        f.error("role", "Role is required");
    }
    let u = f.finish_into::<UpdateMember>()?;
    Ok((
        u.role.map(|r| r.as_str().to_owned()),
        u.metadata.map(|m| m.to_string()),
    ))
}

/// Changes a member's role (if the membership matches `if_match`), recording
/// `membership.updated` by `actor` when it changed.
pub(crate) fn set_role_in(
    tx: &Conn<'_>,
    org: &str,
    mid: &str,
    role: &str,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<Membership> {
    update_in(tx, org, mid, Some(role), None, if_match, actor)
}

/// Changes a member's role and/or metadata (if the membership matches `if_match`),
/// recording `membership.updated` by `actor` with the fields that changed.
pub(crate) fn update_in(
    tx: &Conn<'_>,
    org: &str,
    mid: &str,
    role: Option<&str>,
    metadata: Option<&str>,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<Membership> {
    let org = org_of(tx, org)?;
    let cur = members::get(tx, &org, mid)?
        .map(crate::model::Membership::from)
        .ok_or_else(|| ApiError::not_found("Membership"))?;
    check_if_match(if_match, &cur)?;
    let mut changed: Vec<&str> = Vec::new();
    if let Some(role) = role {
        if members::set_role(tx, &org, mid, role)? == Some(true) {
            changed.push("role");
        }
    }
    if let Some(m) = metadata {
        if members::set_metadata(tx, &org, mid, m)? == Some(true) {
            changed.push("metadata");
        }
    }
    if !changed.is_empty() {
        events::record_as(
            tx,
            "membership.updated",
            actor,
            mid,
            &changed,
            &domain::now(),
        )?;
    }
    members::get(tx, &org, mid)?
        .map(crate::model::Membership::from)
        .ok_or_else(|| ApiError::not_found("Membership"))
}

/// Removes a member (if the membership matches `if_match`), recording `membership.deleted`.
pub(crate) fn remove_in(
    tx: &Conn<'_>,
    org: &str,
    mid: &str,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<()> {
    let org = org_of(tx, org)?;
    let cur = members::get(tx, &org, mid)?
        .map(crate::model::Membership::from)
        .ok_or_else(|| ApiError::not_found("Membership"))?;
    check_if_match(if_match, &cur)?;
    // Recorded first: a webhook delivery carries the membership's last state.
    events::record_as(tx, "membership.deleted", actor, mid, &[], &domain::now())?;
    members::delete(tx, &org, mid)?;
    Ok(())
}

/// Change a member's role.
#[utoipa::path(put, path = "/api/integrations/organizations/{id}/members/{memberId}", tag = "members", operation_id = "updateMember",
    params(("id" = String, Path, description = "Organization id or slug"), ("memberId" = String, Path, description = "Membership id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateMember,
    responses((status = 200, description = "The updated membership", body = Membership, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Organization or membership not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn put(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, path, body).await
}

/// Change a member's role: the same as PUT.
#[utoipa::path(patch, path = "/api/integrations/organizations/{id}/members/{memberId}", tag = "members", operation_id = "patchMember",
    params(("id" = String, Path, description = "Organization id or slug"), ("memberId" = String, Path, description = "Membership id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateMember,
    responses((status = 200, description = "The updated membership", body = Membership, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Organization or membership not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn patch(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, path, body).await
}

/// PUT and PATCH alike: only the fields given change (the published Update pages use PUT
/// with partial bodies).
async fn update(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (role, metadata) = read_update(Fields::new(body.into_inner())?)?;
    let (id, mid) = path.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    let m = db
        .write(&key.check, move |tx| {
            update_in(
                tx,
                &id,
                &mid,
                role.as_deref(),
                metadata.as_deref(),
                im.as_deref(),
                Actor::Key(&actor),
            )
        })
        .await?;
    resource(&req, &m)
}

/// Remove a member from an organization.
#[utoipa::path(delete, path = "/api/integrations/organizations/{id}/members/{memberId}", tag = "members", operation_id = "removeMember",
    params(("id" = String, Path, description = "Organization id or slug"), ("memberId" = String, Path, description = "Membership id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "Organization or membership not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn delete(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, mid) = path.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    db.write(&key.check, move |tx| {
        remove_in(tx, &id, &mid, im.as_deref(), Actor::Key(&actor))
    })
    .await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_enum_is_the_list_of_member_roles() {
        for r in MEMBER_ROLES {
            let role: MemberRole = serde_json::from_value(Value::from(r)).unwrap();
            assert_eq!(role.as_str(), r);
        }
        assert!(serde_json::from_value::<MemberRole>(Value::from("super-admin")).is_err());
    }
}
