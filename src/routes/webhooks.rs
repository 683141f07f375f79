//! `/webhooks`: endpoints that receive events (scope `admin`; README, Webhooks). The signing
//! secret is returned by the create and by `rotate-secret` only.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    check_if_match, create, created, if_match, no_content, ok_json, resource, IdemKey, ListParams,
    NoQuery, API,
};
use crate::auth::{scope, Need};
use crate::config::WebhooksConfig;
use crate::domain::fields::Fields;
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::PageMeta;
use crate::storage::sql::{Conn, OptionalExtension};
use crate::storage::webhooks::{self, Delivery, Webhook, WebhookPatch};
use crate::storage::{events, keys, members, orgs, tiers, users, Db, DbError};
use crate::webhooks::{guard, sign};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::get().to(list))
            .route(web::post().to(create_webhook)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/webhooks/{id}/rotate-secret").route(web::post().to(rotate_secret)))
    .service(web::resource("/webhooks/{id}/test").route(web::post().to(test)))
    .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(deliveries)))
    .service(
        web::resource("/webhooks/{id}/deliveries/{deliveryId}/retry").route(web::post().to(retry)),
    );
}

/// The body of `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"url": "https://shop.example.com/hooks/invois", "eventTypes": ["user.created", "membership.deleted"], "description": "Shop sync"}))]
pub struct CreateWebhook {
    /// http or https; its host must resolve to public addresses (unless `[webhooks]
    /// allow_private`).
    #[schema(max_length = 2048, example = "https://shop.example.com/hooks/invois")]
    pub url: String,
    /// The event types to receive, e.g. `user.created`; absent or empty: every type.
    #[schema(nullable = false, max_items = 100)]
    pub event_types: Option<Vec<String>>,
    /// Default true.
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// The body of `PUT` and `PATCH /webhooks/{id}`: only the fields given change. Enabling an
/// endpoint the server disabled resumes its pending deliveries.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhook {
    #[schema(nullable = false, max_length = 2048)]
    pub url: Option<String>,
    #[schema(nullable = false, max_items = 100)]
    pub event_types: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
}

/// A webhook endpoint (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    #[schema(example = "wh-01hqz8k3n4p5q6r7s8t9v0w1x2")]
    pub id: String,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    #[schema(required = true)]
    pub description: Option<String>,
    /// Why the server disabled the endpoint (a 410, or failing for days); `null` otherwise.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A webhook endpoint with its signing secret, shown by the create and `rotate-secret` only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `whsec_` and the base64 key that signs deliveries (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// Every webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookView>,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Also the `webhook-id` header of every attempt.
    #[schema(example = "dlv-01hqz8k3n4p5q6r7s8t9v0w1x2")]
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due; `null` unless pending.
    #[schema(required = true)]
    pub next_attempt_at: Option<String>,
    /// The last attempt's HTTP status; `null` before the first or when none came.
    #[schema(required = true)]
    pub response_status: Option<i64>,
    /// The first KiB of the last response's body.
    #[schema(required = true)]
    pub response_body: Option<String>,
    /// Why the last attempt got no response (time-out, refused connection or address).
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub latency_ms: Option<i64>,
    pub created_at: String,
    #[schema(required = true)]
    pub delivered_at: Option<String>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    pub meta: PageMeta,
}

/// The query of `GET /webhooks/{id}/deliveries`, as documented (read by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    #[param(minimum = 1, maximum = 10_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
}

fn view(w: Webhook) -> WebhookView {
    WebhookView {
        id: w.id,
        url: w.url,
        event_types: w.event_types,
        enabled: w.enabled,
        description: w.description,
        disabled_reason: w.disabled_reason,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn with_secret(w: Webhook) -> WebhookWithSecret {
    WebhookWithSecret {
        secret: w.secret.clone(),
        id: w.id,
        url: w.url,
        event_types: w.event_types,
        enabled: w.enabled,
        description: w.description,
        disabled_reason: w.disabled_reason,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn delivery_view(d: Delivery) -> DeliveryView {
    let pending = d.status == "pending";
    DeliveryView {
        id: d.id,
        webhook_id: d.webhook_id,
        event_id: d.event_id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: pending.then_some(d.next_attempt_at),
        response_status: d.last_status_code,
        response_body: d.last_body,
        error: d.last_error,
        latency_ms: d.last_latency_ms,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
    }
}

fn event_type(s: &str) -> std::result::Result<String, String> {
    let ok = s.len() <= 100
        && s.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_lowercase() || c == b'.' || c == b'_')
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an event type; write it as GET /events shows it, e.g. user.created"
        ))
    }
}

fn description(s: &str) -> std::result::Result<String, String> {
    let t = s.trim();
    if t.chars().count() > 500 || t.chars().any(char::is_control) {
        return Err("description must be at most 500 printable characters".into());
    }
    Ok(t.to_owned())
}

/// Reads a webhook body: every problem at once; `url` required when `creating`.
fn read(body: Value, creating: bool) -> Result<Fields> {
    let mut f = Fields::new(body)?;
    let url = f.string("url", |s| guard::parse_url(s).map(|u| u.to_string()));
    let url = f.not_null("url", url);
    if creating {
        f.require("url", url, "url is required");
    }
    let types = f.string_list("eventTypes", 100, event_type);
    f.not_null("eventTypes", types);
    let enabled = f.boolean("enabled");
    f.not_null("enabled", enabled);
    f.string("description", description);
    Ok(f)
}

/// Refuses a URL whose host resolves to an address deliveries may not go to (400, `details.url`).
async fn check_host(url: &str, cfg: &WebhooksConfig) -> Result<()> {
    let parsed = guard::parse_url(url).map_err(|e| ApiError::field("url", e))?;
    guard::resolve(&parsed, cfg.allow_private)
        .await
        .map(drop)
        .map_err(|e| ApiError::field("url", e))
}

/// List webhook endpoints.
#[utoipa::path(get, path = "/api/integrations/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    responses((status = 200, description = "Every webhook endpoint, oldest first (never a secret)", body = WebhookList)),
    security(("api_key" = ["admin"])))]
pub async fn list(key: Need<scope::Admin>, _: NoQuery, db: web::Data<Db>) -> Result<HttpResponse> {
    let data = db.read(&key.check, webhooks::list).await?;
    ok_json(&WebhookList {
        data: data.into_iter().map(view).collect(),
    })
}

/// Create a webhook endpoint.
#[utoipa::path(post, path = "/api/integrations/webhooks", tag = "webhooks", operation_id = "createWebhook",
    request_body = CreateWebhook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response (the same endpoint and secret) for 24 hours; 1 to 255 visible ASCII characters")),
    responses((status = 201, description = "The new endpoint with its signing secret, shown here and by rotate-secret only", body = WebhookWithSecret, headers(("Location" = String, description = "URL of the new resource")))),
    security(("api_key" = ["admin"])))]
pub async fn create_webhook(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    cfg: web::Data<WebhooksConfig>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let raw = body.into_inner();
    let idem = IdemKey::from_request(&req, &raw)?;
    let body: CreateWebhook = read(raw, true)?.finish_into()?;
    check_host(&body.url, &cfg).await?;
    let now = crate::domain::now();
    let w = Webhook {
        id: crate::domain::new_id("wh"),
        url: body.url,
        event_types: body.event_types.unwrap_or_default(),
        enabled: body.enabled.unwrap_or(true),
        description: body.description.filter(|d| !d.is_empty()),
        secret: sign::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        disabled_reason: None,
        failing_since: None,
    };
    let actor = key.key_id.clone();
    // A replay shows the secret again: it is kept as is in `webhooks` anyway (it signs).
    create(&db, &key, idem, move |tx, _| {
        webhooks::insert(tx, &w)?;
        events::record(tx, "webhook.created", Some(&actor), &w.id, &[], &now)?;
        created(format!("{API}/webhooks/{}", w.id), &with_secret(w))
    })
    .await
}

/// Get a webhook endpoint.
#[utoipa::path(get, path = "/api/integrations/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The endpoint (never its secret)", body = WebhookView, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 304, description = "Not modified (If-None-Match has the current ETag)"),
        (status = 404, description = "Webhook not found", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn get(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let w = db.read(&key.check, move |c| webhooks::get(c, &id)).await?;
    resource(&req, &view(w))
}

async fn update(
    req: HttpRequest,
    key: Need<scope::Admin>,
    db: web::Data<Db>,
    cfg: web::Data<WebhooksConfig>,
    id: String,
    body: Value,
) -> Result<HttpResponse> {
    let body: UpdateWebhook = read(body, false)?.finish_into()?;
    if let Some(url) = &body.url {
        check_host(url, &cfg).await?;
    }
    let patch = WebhookPatch {
        url: body.url,
        event_types: body.event_types,
        enabled: body.enabled,
        description: body.description.map(|d| d.filter(|d| !d.is_empty())),
    };
    let actor = key.key_id.clone();
    let im = if_match(&req);
    let w = db
        .write(&key.check, move |tx| {
            check_if_match(im.as_deref(), &view(webhooks::get(tx, &id)?))?;
            let now = crate::domain::now();
            let (w, changed) = webhooks::update(tx, &id, &patch, &now)?;
            if !changed.is_empty() {
                events::record(tx, "webhook.updated", Some(&actor), &w.id, &changed, &now)?;
            }
            Ok::<_, ApiError>(w)
        })
        .await?;
    resource(&req, &view(w))
}

/// Update a webhook endpoint (partial; the same as PATCH).
#[utoipa::path(put, path = "/api/integrations/webhooks/{id}", tag = "webhooks", operation_id = "updateWebhook",
    params(("id" = String, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the endpoint changed since")), request_body = UpdateWebhook,
    responses((status = 200, description = "The endpoint after the change", body = WebhookView, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Webhook not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn put(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    cfg: web::Data<WebhooksConfig>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, cfg, id.into_inner(), body.into_inner()).await
}

/// Update a webhook endpoint (partial; the same as PUT).
#[utoipa::path(patch, path = "/api/integrations/webhooks/{id}", tag = "webhooks", operation_id = "patchWebhook",
    params(("id" = String, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the endpoint changed since")), request_body = UpdateWebhook,
    responses((status = 200, description = "The endpoint after the change", body = WebhookView, headers(("ETag" = String, description = "Strong ETag of this representation (for If-None-Match and If-Match)"))),
        (status = 404, description = "Webhook not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn patch(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    cfg: web::Data<WebhooksConfig>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    update(req, key, db, cfg, id.into_inner(), body.into_inner()).await
}

/// Delete a webhook endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/integrations/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    params(("id" = String, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET: the write is refused with 412 if the endpoint changed since")),
    responses((status = 204, description = "Deleted, with its deliveries"),
        (status = 404, description = "Webhook not found", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn delete(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let actor = key.key_id.clone();
    let im = if_match(&req);
    db.write(&key.check, move |tx| {
        check_if_match(im.as_deref(), &view(webhooks::get(tx, &id)?))?;
        webhooks::delete(tx, &id)?;
        let now = crate::domain::now();
        events::record(tx, "webhook.deleted", Some(&actor), &id, &[], &now)?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(no_content())
}

/// Hours the previous secret still signs after a rotation.
const PREVIOUS_SECRET_HOURS: i64 = 24;

/// Replace the signing secret; the previous one also signs deliveries for 24 hours.
#[utoipa::path(post, path = "/api/integrations/webhooks/{id}/rotate-secret", tag = "webhooks", operation_id = "rotateWebhookSecret",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The endpoint with its new secret, shown only here", body = WebhookWithSecret),
        (status = 404, description = "Webhook not found", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn rotate_secret(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let actor = key.key_id.clone();
    let w = db
        .write(&key.check, move |tx| {
            let now = crate::domain::now();
            let until = webhooks::at_ms(
                chrono::Utc::now() + chrono::Duration::hours(PREVIOUS_SECRET_HOURS),
            );
            let w = webhooks::rotate(tx, &id, &sign::new_secret(), &until, &now)?;
            events::record(tx, "webhook.secret_rotated", Some(&actor), &id, &[], &now)?;
            Ok::<_, ApiError>(w)
        })
        .await?;
    ok_json(&with_secret(w))
}

/// Send a `webhook.test` event to this endpoint only.
#[utoipa::path(post, path = "/api/integrations/webhooks/{id}/test", tag = "webhooks", operation_id = "testWebhook",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 202, description = "The test delivery, queued", body = DeliveryView),
        (status = 404, description = "Webhook not found", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn test(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let actor = key.key_id.clone();
    let d = db
        .write(&key.check, move |tx| {
            let w = webhooks::get(tx, &id)?;
            if !w.enabled {
                return Err(disabled());
            }
            let now = crate::domain::now();
            let evt = events::record_id(
                tx,
                "webhook.test",
                events::Actor::Key(&actor),
                &id,
                &[],
                &now,
            )?;
            let data = events::render(tx, "webhook.test", &id)?;
            Ok(webhooks::enqueue(
                tx,
                &id,
                &evt,
                "webhook.test",
                data.as_deref(),
            )?)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(delivery_view(d)))
}

fn disabled() -> ApiError {
    ApiError::Conflict {
        message: "Webhook is disabled; enable it first (PATCH enabled=true)".into(),
        details: None,
    }
}

/// List an endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/api/integrations/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    params(("id" = String, Path, description = "Webhook id"), DeliveryListQuery),
    responses((status = 200, description = "A page of deliveries, newest first (kept 30 days after they end)", body = DeliveryPage),
        (status = 404, description = "Webhook not found", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn deliveries(
    req: HttpRequest,
    key: Need<scope::Admin>,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(&req, &["page", "per_page"])?;
    let id = id.into_inner();
    let page = p.page;
    let (rows, total) = db
        .read(&key.check, move |c| {
            webhooks::deliveries(c, &id, page.per_page, page.offset())
        })
        .await?;
    let count = rows.len();
    ok_json(&DeliveryPage {
        data: rows.into_iter().map(delivery_view).collect(),
        meta: PageMeta::new(total, page.per_page, page.page, count),
    })
}

/// Attempt a delivery again now (whatever its status).
#[utoipa::path(post, path = "/api/integrations/webhooks/{id}/deliveries/{deliveryId}/retry", tag = "webhooks", operation_id = "retryWebhookDelivery",
    params(("id" = String, Path, description = "Webhook id"), ("deliveryId" = String, Path, description = "Delivery id")),
    responses((status = 202, description = "The delivery, due now", body = DeliveryView),
        (status = 404, description = "Webhook or delivery not found", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn retry(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, delivery) = path.into_inner();
    let d = db
        .write(&key.check, move |tx| {
            let w = webhooks::get(tx, &id)?;
            if !w.enabled {
                return Err(disabled());
            }
            Ok(webhooks::retry(tx, &id, &delivery)?)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(delivery_view(d)))
}

/// The `data` of a webhook delivery (registered with [`events::set_renderer`] at start-up):
/// the resource event `kind` is about, `subject`, exactly as its GET endpoint renders it now
/// (in the write's transaction); `None` when it does not exist. A key is shown as `GET /keys`
/// lists it, an endpoint as `GET /webhooks/{id}` shows it: never a secret.
pub fn event_data(
    c: &Conn<'_>,
    kind: &str,
    subject: &str,
) -> crate::storage::Result<Option<String>> {
    fn text<T: Serialize>(v: Option<T>) -> crate::storage::Result<Option<String>> {
        v.map(|v| serde_json::to_string(&v))
            .transpose()
            .map_err(|e| DbError::Internal(format!("serialize: {e}")))
    }
    use crate::model;
    match kind.split_once('.').map_or(kind, |(resource, _)| resource) {
        "user" => text(users::get(c, subject)?.map(model::User::from)),
        "organization" => text(orgs::get_detail(c, subject)?.map(model::OrgDetail::from)),
        "membership" => {
            let org: Option<String> = c
                .prepare_cached("SELECT organization_id FROM memberships WHERE id = ?1")?
                .query_row([subject], |r| r.get(0))
                .optional()?;
            match org {
                Some(org) => text(members::get(c, &org, subject)?.map(model::Membership::from)),
                None => Ok(None),
            }
        }
        "tier" => text(tiers::get(c, subject)?.map(model::Tier::from)),
        "key" => text(keys::find(c, subject)?.map(|k| model::KeyInfo::from(k.info))),
        "webhook" => match webhooks::get(c, subject) {
            Ok(w) => text(Some(view(w))),
            Err(DbError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
        _ => Ok(Some("null".into())),
    }
}
