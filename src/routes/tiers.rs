//! `/tiers`: premium tiers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, present, resource, IdemKey,
    ListParams, NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::domain;
use crate::domain::fields::{Fields, Patch};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::{Page, PageMeta, Tier};
use crate::storage::events::Actor;
use crate::storage::tiers::TierInput;
use crate::storage::{events, tiers, Conn, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tiers")
            .route(web::get().to(list))
            .route(web::post().to(create_tier)),
    )
    .service(
        web::resource("/tiers/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

fn feature(s: &str) -> std::result::Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err("a feature must be 1 to 100 printable characters".into());
    }
    Ok(t.to_owned())
}

const MAX_LIMIT: i64 = 1 << 53;

/// Usage limits in a tier body: only the limits given change; `null` unsets one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000}))]
pub struct TierLimitsInput {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 9_007_199_254_740_992_i64, example = 1000)]
    pub max_users: Option<Option<i64>>,
    /// Free text such as `100GB`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50, example = "100GB")]
    pub max_storage: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 9_007_199_254_740_992_i64, example = 100_000)]
    pub api_calls_per_month: Option<Option<i64>>,
}

/// The body of `POST /tiers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"id": "tier-gold", "name": "Gold", "features": ["priority-support"],
    "limits": {"maxUsers": 50, "maxStorage": "20GB", "apiCallsPerMonth": 50000}}))]
pub struct CreateTier {
    /// `tier-` and lowercase letters, digits or hyphens; generated when absent.
    #[schema(
        nullable = false,
        min_length = 6,
        max_length = 100,
        pattern = "^tier-[a-z0-9-]+$",
        example = "tier-gold"
    )]
    pub id: Option<String>,
    #[schema(min_length = 2, max_length = 100, example = "Gold")]
    pub name: String,
    /// Each 1 to 100 characters; duplicates are dropped.
    #[schema(nullable = false, max_items = 100)]
    pub features: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub limits: Option<TierLimitsInput>,
}

/// The body of `PUT` and `PATCH /tiers/{id}`: only include the fields you want to modify.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Premium",
    "features": ["advanced-reporting", "priority-support", "custom-integrations", "unlimited-users"],
    "limits": {"maxUsers": 1000, "maxStorage": "100GB", "apiCallsPerMonth": 100000}}))]
pub struct UpdateTier {
    #[schema(nullable = false, min_length = 2, max_length = 100)]
    pub name: Option<String>,
    /// Replaces the list.
    #[schema(nullable = false, max_items = 100)]
    pub features: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub limits: Option<TierLimitsInput>,
}

fn limits(t: &mut TierInput, l: Option<TierLimitsInput>) {
    if let Some(l) = l {
        t.max_users = l.max_users;
        t.max_storage = l.max_storage;
        t.api_calls_per_month = l.api_calls_per_month;
    }
}

impl From<CreateTier> for TierInput {
    fn from(c: CreateTier) -> Self {
        let mut t = TierInput {
            id: c.id,
            name: Some(c.name),
            features: c.features,
            ..TierInput::default()
        };
        limits(&mut t, c.limits);
        t
    }
}

impl From<UpdateTier> for TierInput {
    fn from(u: UpdateTier) -> Self {
        let mut t = TierInput {
            name: u.name,
            features: u.features,
            ..TierInput::default()
        };
        limits(&mut t, u.limits);
        t
    }
}

/// The query of `GET /tiers`, as documented (read by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TierListQuery {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 10_000_000, default = 1)]
    pub page: Option<u32>,
    /// Tiers per page (default 10, max 100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
}

/// Reads a tier body into `f` (every problem, normalized fields for the DTO); `id` only when
/// `creating`, where `name` is required. The console reads its forms with it too.
pub(crate) fn read(f: &mut Fields, creating: bool) {
    if creating {
        let id = f.string("id", |s| {
            let ok = s.len() > 5
                && s.len() <= 100
                && s.starts_with("tier-")
                && s[5..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Ok(s.to_owned())
            } else {
                Err("id must be tier- followed by lowercase letters, digits or hyphens".into())
            }
        });
        f.not_null("id", id);
    }
    let name = f.string("name", |s| domain::parse_name(s, "Name", 100));
    let name = f.not_null("name", name);
    let features = f.string_list("features", 100, feature);
    f.not_null("features", features);
    match f.object("limits") {
        Patch::Value(v) => {
            let Ok(mut l) = Fields::new(v) else {
                f.error("limits", "limits must be an object");
                return;
            };
            l.integer("maxUsers", MAX_LIMIT);
            l.string("maxStorage", |s| {
                let t = s.trim();
                if t.is_empty() || t.len() > 50 {
                    Err("maxStorage must be 1 to 50 characters, e.g. 100GB".into())
                } else {
                    Ok(t.to_owned())
                }
            });
            l.integer("apiCallsPerMonth", MAX_LIMIT);
            f.nested("limits", l);
        }
        Patch::Null => f.error("limits", "limits must be an object"),
        Patch::Absent => {}
    }
    if creating {
        f.require("name", name, "Name is required");
    }
}

/// List premium tiers.
#[utoipa::path(get, path = "/api/integrations/tiers", tag = "tiers", operation_id = "listTiers",
    params(TierListQuery),
    responses((status = 200, description = "A page of premium tiers", body = Page<Tier>)),
    security(("api_key" = ["read:tiers"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::ReadTiers>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(&req, &["page", "per_page"])?;
    let page = p.page;
    let (rows, total) = db.read(&key.check, move |c| tiers::list(c, page)).await?;
    let meta = PageMeta::new(total, page.per_page, page.page, rows.len());
    ok_json(&Page {
        data: rows.into_iter().map(Tier::from).collect(),
        meta,
    })
}

/// Get a premium tier.
#[utoipa::path(get, path = "/api/integrations/tiers/{id}", tag = "tiers", operation_id = "getTier",
    params(("id" = String, Path, description = "Tier id")),
    responses((status = 200, description = "The premium tier", body = Tier, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 304, description = "Not modified: If-None-Match holds the current ETag"),
        (status = 404, description = "Premium tier not found", body = ErrorBody)),
    security(("api_key" = ["read:tiers"])))]
pub async fn get(
    req: HttpRequest,
    key: Need<scope::ReadTiers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let t = db
        .read(&key.check, move |c| tiers::get(c, &id))
        .await?
        .map(Tier::from)
        .ok_or_else(|| ApiError::not_found("Premium tier"))?;
    resource(&req, &t)
}

/// Create a premium tier.
#[utoipa::path(post, path = "/api/integrations/tiers", tag = "tiers", operation_id = "createTier",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Replays the first response (per API key, for 24 hours) instead of creating again; reused with another request it is 422")),
    request_body = CreateTier,
    responses((status = 201, description = "The new premium tier", body = Tier, headers(("Location" = String, description = "URL of the new resource"), ("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 409, description = "A tier with this id already exists", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another request", body = ErrorBody)),
    security(("api_key" = ["write:tiers"])))]
pub async fn create_tier(
    req: HttpRequest,
    key: Need<scope::WriteTiers>,
    _: NoQuery,
    db: web::Data<Db>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let idem = IdemKey::from_request(&req, &body)?;
    let mut f = Fields::new(body)?;
    read(&mut f, true);
    let t = TierInput::from(f.finish_into::<CreateTier>()?);
    let actor = key.key_id.clone();
    create(&db, &key, idem, move |tx, now| {
        let tier = create_in(tx, &t, Actor::Key(&actor), now)?;
        created(format!("{API}/tiers/{}", tier.id), &tier)
    })
    .await
}

/// Update a premium tier: only the fields given change (each limit alike).
#[utoipa::path(put, path = "/api/integrations/tiers/{id}", tag = "tiers", operation_id = "updateTier",
    params(("id" = String, Path, description = "Tier id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateTier,
    responses((status = 200, description = "The updated premium tier", body = Tier, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Premium tier not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:tiers"])))]
pub async fn put(
    req: HttpRequest,
    key: Need<scope::WriteTiers>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, id, body).await
}

/// Update a premium tier: the same as PUT.
#[utoipa::path(patch, path = "/api/integrations/tiers/{id}", tag = "tiers", operation_id = "patchTier",
    params(("id" = String, Path, description = "Tier id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    request_body = UpdateTier,
    responses((status = 200, description = "The updated premium tier", body = Tier, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Premium tier not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:tiers"])))]
pub async fn patch(
    req: HttpRequest,
    key: Need<scope::WriteTiers>,
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
    key: Need<scope::WriteTiers>,
    db: web::Data<Db>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let mut f = Fields::new(body.into_inner())?;
    read(&mut f, false);
    let t = TierInput::from(f.finish_into::<UpdateTier>()?);
    let id = id.into_inner();
    let im = if_match(&req);
    let actor = key.key_id.clone();
    let tier = db
        .write(&key.check, move |tx| {
            update_in(tx, &id, &t, im.as_deref(), Actor::Key(&actor))
        })
        .await?;
    resource(&req, &tier)
}

/// Creates a tier and records `tier.created` by `actor`.
pub(crate) fn create_in(tx: &Conn<'_>, t: &TierInput, actor: Actor<'_>, now: &str) -> Result<Tier> {
    let id = tiers::create(tx, t, now)?;
    events::record_as(tx, "tier.created", actor, &id, &[], now)?;
    tiers::get(tx, &id)?
        .map(crate::model::Tier::from)
        .ok_or_else(|| ApiError::Internal("created tier vanished".into()))
}

/// Updates a tier whose representation matches `if_match`, recording `tier.updated` by
/// `actor` when anything changed.
pub(crate) fn update_in(
    tx: &Conn<'_>,
    id: &str,
    t: &TierInput,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<Tier> {
    let cur = tiers::get(tx, id)?
        .map(crate::model::Tier::from)
        .ok_or_else(|| ApiError::not_found("Premium tier"))?;
    check_if_match(if_match, &cur)?;
    let now = domain::now();
    let changed =
        crate::model::published_fields(tiers::update(tx, id, t, &now)?.unwrap_or_default());
    if !changed.is_empty() {
        events::record_as(tx, "tier.updated", actor, id, &changed, &now)?;
    }
    tiers::get(tx, id)?
        .map(crate::model::Tier::from)
        .ok_or_else(|| ApiError::not_found("Premium tier"))
}

/// Deletes a tier no organization uses (if it matches `if_match`), recording `tier.deleted`.
pub(crate) fn delete_in(
    tx: &Conn<'_>,
    id: &str,
    if_match: Option<&str>,
    actor: Actor<'_>,
) -> Result<()> {
    let cur = tiers::get(tx, id)?
        .map(crate::model::Tier::from)
        .ok_or_else(|| ApiError::not_found("Premium tier"))?;
    check_if_match(if_match, &cur)?;
    // Recorded first: a webhook delivery carries the tier's last state (an error below, such
    // as a tier in use, rolls the event back with the rest).
    events::record_as(tx, "tier.deleted", actor, id, &[], &domain::now())?;
    tiers::delete(tx, id)?;
    Ok(())
}

/// Delete a premium tier that no organization uses.
#[utoipa::path(delete, path = "/api/integrations/tiers/{id}", tag = "tiers", operation_id = "deleteTier",
    params(("id" = String, Path, description = "Tier id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the resource changed since")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "Premium tier not found", body = ErrorBody),
        (status = 409, description = "The tier is in use by organizations", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["write:tiers"])))]
pub async fn delete(
    req: HttpRequest,
    key: Need<scope::WriteTiers>,
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
