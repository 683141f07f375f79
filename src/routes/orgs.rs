//! `/organizations`: list (seed 002), get (seed 001), create, update, delete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, present, resource, IdemKey,
    ListParams, NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::domain::fields::Fields;
use crate::domain::{self};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::{ListPage, OrgDetail, OrgSummary, Page, PageMeta};
use crate::storage::events::Actor;
use crate::storage::orgs::{NewOrg, OrgUpdate};
use crate::storage::{events, orgs, Conn, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organizations")
            .route(web::get().to(list))
            .route(web::post().to(create_org)),
    )
    .service(
        web::resource("/organizations/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

/// The body of `POST /organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Zeta Café Sdn Bhd", "slug": "zeta-cafe",
    "logo": "https://example.com/logos/zeta.png", "premiumTierId": "tier-premium",
    "externalId": "shopify-shop-12", "metadata": {"region": "my"}}))]
pub struct CreateOrganization {
    #[schema(min_length = 2, max_length = 200, example = "Acme Corporation")]
    pub name: String,
    /// Lowercase letters, digits and single hyphens; unique. Generated from the name when
    /// absent.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        example = "acme-corp"
    )]
    pub slug: Option<String>,
    /// An http(s) URL.
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://example.com/logos/acme.png"
    )]
    pub logo: Option<String>,
    /// The id of a premium tier.
    #[schema(min_length = 1, max_length = 100, example = "tier-premium")]
    pub premium_tier_id: Option<String>,
    /// Your own id of the organization, unique among organizations (after the documented fields).
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

impl From<CreateOrganization> for NewOrg {
    fn from(o: CreateOrganization) -> Self {
        Self {
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            premium_tier_id: o.premium_tier_id,
            external_id: o.external_id,
            metadata: o
                .metadata
                .map_or_else(|| "{}".to_owned(), |m| m.to_string()),
        }
    }
}

/// The body of `PUT` and `PATCH /organizations/{id}`: only include the fields you want to
/// modify; `null` removes the logo or the tier. A rename keeps the slug.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Acme Corporation", "slug": "acme-corp",
    "logo": "https://example.com/logos/acme.png", "premiumTierId": "tier-premium",
    "externalId": "shopify-shop-13", "metadata": {"region": "sg"}}))]
pub struct UpdateOrganization {
    #[schema(nullable = false, min_length = 2, max_length = 200)]
    pub name: Option<String>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048)]
    pub logo: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub premium_tier_id: Option<Option<String>>,
    /// Your own id of the organization, unique among organizations; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub external_id: Option<Option<String>>,
    /// Replaces the whole metadata object (at most 8 KiB serialized, 5 levels deep).
    #[schema(value_type = Option<crate::model::Metadata>, nullable = false)]
    pub metadata: Option<Value>,
}

impl From<UpdateOrganization> for OrgUpdate {
    fn from(o: UpdateOrganization) -> Self {
        Self {
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            premium_tier_id: o.premium_tier_id,
            external_id: o.external_id,
            metadata: o.metadata.map(|m| m.to_string()),
        }
    }
}

/// The query of `GET /organizations` (seed 002), as documented (read by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgListQuery {
    /// Search term to filter organizations by name (partial, case-insensitive).
    #[param(max_length = 200)]
    pub query: Option<String>,
    /// Page number for pagination (default: 1).
    #[param(minimum = 1, maximum = 10_000_000, default = 1)]
    pub page: Option<u32>,
    /// Number of organizations per page (default: 10, max: 100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
    /// Keyset pagination instead of `page`: empty for the start, then `meta.next_cursor`;
    /// the answer is then a CursorPage.
    pub after: Option<String>,
    /// Only the organization with this external id (exact match).
    #[param(rename = "externalId", max_length = 255)]
    pub external_id: Option<String>,
    /// `metadata[key]=value`: only organizations whose metadata has the top-level `key` (1 to
    /// 64 letters, digits, `_`, `-`) equal to `value`: a string equal to it, a number equal to
    /// it read as a number, or the boolean `true`/`false`. Up to 10 keys, combined with AND.
    #[param(rename = "metadata[key]", value_type = Option<String>)]
    pub metadata: Option<String>,
}

/// Reads an organization body into `f` (every problem, normalized fields for the DTO); the
/// console reads its forms with it too.
pub(crate) fn read(f: &mut Fields, creating: bool) {
    let name = f.string("name", |s| domain::parse_name(s, "Name", 200));
    let name = f.not_null("name", name);
    let slug = f.string("slug", domain::parse_slug);
    f.not_null("slug", slug);
    f.string("logo", |s| domain::parse_url(s, "Logo"));
    f.string("premiumTierId", |s| {
        if s.is_empty() || s.len() > 100 {
            Err("premiumTierId must be a tier id".to_owned())
        } else {
            Ok(s.to_owned())
        }
    });
    super::read_own_fields(f, true);
    if creating {
        f.require("name", name, "Name is required");
    }
}

/// List organizations (seed 002): search by name, paginate.
#[utoipa::path(get, path = "/api/integrations/organizations", tag = "organizations", operation_id = "listOrganizations",
    params(OrgListQuery),
    responses((status = 200, description = "A page of organizations (seed 002); with `after`, a cursor page", body = ListPage<OrgSummary>)),
    security(("api_key" = ["read:organizations"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::ReadOrganizations>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(
        &req,
        &[
            "query",
            "page",
            "per_page",
            "after",
            "externalId",
            "metadata[]",
        ],
    )?;
    let page = p.page;
    if let Some(after) = p.cursor()? {
        let pos = crate::storage::cursor::decode_cursor(after).ok_or_else(super::bad_cursor)?;
        if !p.lookup.is_empty() {
            let (data, _) = db
                .read(&key.check, move |c| {
                    orgs::list_filtered(c, p.query.as_deref(), &p.lookup, page, Some(&pos))
                })
                .await?;
            let next_cursor = orgs::next_cursor(&data, page.per_page);
            return super::cursor_page(
                data.into_iter().map(OrgSummary::from).collect(),
                next_cursor,
                page.per_page,
            );
        }
        let caches = db.org_caches();
        let (data, next_cursor) = db
            .read(&key.check, move |c| {
                orgs::list_after(c, p.query.as_deref(), &pos, page.per_page, Some(&caches))
            })
            .await?;
        return super::cursor_page(
            data.into_iter().map(OrgSummary::from).collect(),
            next_cursor,
            page.per_page,
        );
    }
    let caches = db.org_caches();
    let (rows, total) = db
        .read(&key.check, move |c| {
            if p.lookup.is_empty() {
                orgs::list(c, p.query.as_deref(), page, &caches)
            } else {
                orgs::list_filtered(c, p.query.as_deref(), &p.lookup, page, None)
            }
        })
        .await?;
    let meta = PageMeta::new(total, page.per_page, page.page, rows.len());
    ok_json(&Page {
        data: rows.into_iter().map(OrgSummary::from).collect(),
        meta,
    })
}

/// Get an organization by id or slug (seed 001).
#[utoipa::path(get, path = "/api/integrations/organizations/{id}", tag = "organizations", operation_id = "getOrganization",
    params(("id" = String, Path, description = "The unique identifier of the organization, or its slug")),
    responses((status = 200, description = "The organization with members and tier limits (seed 001)", body = OrgDetail, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 304, description = "Not modified: If-None-Match holds the current ETag"),
        (status = 404, description = "Organization not found", body = ErrorBody)),
    security(("api_key" = ["read:organizations"])))]
pub async fn get(
    req: HttpRequest,
    key: Need<scope::ReadOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let cache = db.org_detail_cache();
    let view = db
        .read(&key.check, move |c| -> Result<_> {
            orgs::detail_view(c, &id, &cache, |org| {
                let (body, etag) = super::render(&OrgDetail::from(org))?;
                Ok(crate::storage::cache::DetailView {
                    body: body.into(),
                    etag,
                })
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Organization"))?;
    Ok(super::rendered(&req, view.body.clone(), view.etag.clone()))
}

/// Create an organization; the slug is generated from the name when absent.
#[utoipa::path(post, path = "/api/integrations/organizations", tag = "organizations", operation_id = "createOrganization",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Replays the first response (per API key, for 24 hours) instead of creating again; reused with another request it is 422")),
    request_body = CreateOrganization,
    responses((status = 201, description = "The new organization", body = OrgDetail, headers(("Location" = String, description = "URL of the new resource"), ("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Premium tier not found", body = ErrorBody),
        (status = 409, description = "The slug is already taken", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another request", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn create_org(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let idem = IdemKey::from_request(&req, &body)?;
    let mut f = Fields::new(body)?;
    read(&mut f, true);
    let new = NewOrg::from(f.finish_into::<CreateOrganization>()?);
    let actor = key.key_id.clone();
    create(&db, &key, idem, move |tx, now| {
        let org = create_in(tx, &new, Actor::Key(&actor), now)?;
        created(format!("{API}/organizations/{}", org.id), &org)
    })
    .await
}

/// Update an organization: only the fields given change (the published Update Organization page).
#[utoipa::path(put, path = "/api/integrations/organizations/{id}", tag = "organizations", operation_id = "updateOrganization",
    params(("id" = String, Path, description = "The unique identifier of the organization, or its slug"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateOrganization,
    responses((status = 200, description = "The updated organization", body = OrgDetail, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Organization (or premium tier) not found", body = ErrorBody),
        (status = 409, description = "The slug is already taken", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn put(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, id, body).await
}

/// Update an organization: the same as PUT.
#[utoipa::path(patch, path = "/api/integrations/organizations/{id}", tag = "organizations", operation_id = "patchOrganization",
    params(("id" = String, Path, description = "The unique identifier of the organization, or its slug"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateOrganization,
    responses((status = 200, description = "The updated organization", body = OrgDetail, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Organization (or premium tier) not found", body = ErrorBody),
        (status = 409, description = "The slug is already taken", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn patch(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
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
    key: Need<scope::WriteOrganizations>,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let mut f = Fields::new(body.into_inner())?;
    read(&mut f, false);
    let u = OrgUpdate::from(f.finish_into::<UpdateOrganization>()?);
    let id = id.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    let org: OrgDetail = db
        .write(&key.check, move |tx| {
            update_in(tx, &id, &u, im.as_deref(), Actor::Key(&actor))
        })
        .await?;
    resource(&req, &org)
}

/// Creates an organization and records `organization.created` by `actor`.
pub(crate) fn create_in(
    tx: &Conn<'_>,
    new: &NewOrg,
    actor: Actor<'_>,
    now: &str,
) -> Result<OrgDetail> {
    let id = orgs::create(tx, new, now)?;
    events::record_as(tx, "organization.created", actor, &id, &[], now)?;
    orgs::get_detail(tx, &id)?
        .map(crate::model::OrgDetail::from)
        .ok_or_else(|| ApiError::Internal("created organization vanished".into()))
}

/// Updates an organization (id or slug) whose representation matches `if_match` and records
/// `organization.updated` by `actor` when anything changed.
pub(crate) fn update_in(
    tx: &Conn<'_>,
    id: &str,
    u: &OrgUpdate,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<OrgDetail> {
    let cur = orgs::get_detail(tx, id)?
        .map(crate::model::OrgDetail::from)
        .ok_or_else(|| ApiError::not_found("Organization"))?;
    check_if_match(if_match, &cur)?;
    let now = domain::now();
    let changed =
        crate::model::published_fields(orgs::update(tx, &cur.id, u, &now)?.unwrap_or_default());
    if !changed.is_empty() {
        events::record_as(tx, "organization.updated", actor, &cur.id, &changed, &now)?;
    }
    orgs::get_detail(tx, &cur.id)?
        .map(crate::model::OrgDetail::from)
        .ok_or_else(|| ApiError::not_found("Organization"))
}

/// Deletes an organization (if it matches `if_match`) with its memberships, recording each
/// by `actor`.
pub(crate) fn delete_in(
    tx: &Conn<'_>,
    id: &str,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<()> {
    let cur = orgs::get_detail(tx, id)?
        .map(crate::model::OrgDetail::from)
        .ok_or_else(|| ApiError::not_found("Organization"))?;
    check_if_match(if_match, &cur)?;
    let now = domain::now();
    // The memberships go with it: record them as users::delete does.
    let mids: Vec<String> = tx
        .prepare_cached("SELECT id FROM memberships WHERE organization_id = ?1")?
        .query_map([&cur.id], |r| r.get(0))?
        .collect::<crate::storage::Result<_>>()?;
    for m in &mids {
        events::record_as(tx, "membership.deleted", actor, m, &[], &now)?;
    }
    // Recorded first: a webhook delivery carries the organization's last state.
    events::record_as(tx, "organization.deleted", actor, &cur.id, &[], &now)?;
    orgs::delete(tx, &cur.id)?;
    Ok(())
}

/// Delete an organization and its memberships.
#[utoipa::path(delete, path = "/api/integrations/organizations/{id}", tag = "organizations", operation_id = "deleteOrganization",
    params(("id" = String, Path, description = "The unique identifier of the organization, or its slug"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    responses((status = 204, description = "Deleted, with its memberships"),
        (status = 404, description = "Organization not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:organizations"])))]
pub async fn delete(
    req: HttpRequest,
    key: Need<scope::WriteOrganizations>,
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
