//! The OpenAPI 3 document, generated from the handlers' annotations and the request and
//! response types so it cannot drift, and an offline Swagger UI at `/docs` (assets vendored
//! into the binary).

use actix_web::{web, HttpResponse};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{
    Content, Header, KnownFormat, ObjectBuilder, PathItem, Ref, RefOr, Response, SchemaFormat, Type,
};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{events, health, keys, members, orgs, tiers, users, webhooks, API};

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "X-Invois-Key",
                    "An API key from `invois keys create`; scopes as listed per operation",
                ))),
            );
        }
    }
}

/// The body of a 429 (SPEC §4).
#[derive(ToSchema)]
pub struct RateLimitError {
    #[schema(example = "Rate Limit Exceeded")]
    pub error: String,
    #[schema(example = "Too many requests. Please try again later.")]
    pub message: String,
    #[schema(example = "rate_limited")]
    pub code: String,
    pub details: RateLimitDetails,
}

/// The window that was exhausted.
#[derive(ToSchema)]
pub struct RateLimitDetails {
    /// Seconds until the window resets (as `Retry-After`).
    #[schema(example = 60)]
    pub retry_after: u64,
    #[schema(example = 1000)]
    pub limit: u64,
    #[schema(example = 0)]
    pub remaining: u64,
    #[schema(format = DateTime, example = "2024-01-15T15:30:00Z")]
    pub reset_time: String,
    /// The window's length in seconds.
    #[schema(example = 60)]
    pub window: u64,
}

/// What every operation shares, declared in one place: the error responses any request can
/// get, the rate-limit headers of every authenticated response, `Retry-After` and its body on
/// 429, and a description for each status an annotation left without one.
struct Shared;

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn describe(status: &str) -> &'static str {
    match status {
        "400" => "Invalid request: a validation error (`details` lists every field problem), malformed JSON, or an unknown or invalid query parameter",
        "401" => "Invalid or missing API key",
        "403" => "The key lacks the scope this operation needs",
        "404" => "Not found",
        "409" => "Conflict with an existing resource",
        "412" => "If-Match does not match the current ETag",
        "413" => "The body is larger than the server accepts",
        "415" => "Content-Type is not application/json",
        "422" => "Idempotency-Key reused with another request",
        "429" => "Rate limit exceeded",
        "503" => "The database is not available",
        _ => "",
    }
}

fn json_response(status: &str, schema: &str) -> Response {
    let mut r = Response::new(describe(status));
    r.content.insert(
        "application/json".into(),
        Content::new(Some(Ref::from_schema_name(schema))),
    );
    r
}

fn header(ty: Type, format: Option<KnownFormat>, description: &str) -> Header {
    let mut schema = ObjectBuilder::new().schema_type(ty);
    if let Some(f) = format {
        schema = schema.format(Some(SchemaFormat::KnownFormat(f)));
    }
    let mut h = Header::new(schema);
    h.description = Some(description.to_owned());
    h
}

fn rate_limit_headers(r: &mut Response) {
    let headers = [
        (
            "X-RateLimit-Limit",
            header(Type::Integer, None, "Requests allowed in the window"),
        ),
        (
            "X-RateLimit-Remaining",
            header(Type::Integer, None, "Requests left in the window"),
        ),
        (
            "X-RateLimit-Reset",
            header(
                Type::String,
                Some(KnownFormat::DateTime),
                "When the window resets (RFC 3339, UTC)",
            ),
        ),
        (
            "X-RateLimit-Window",
            header(Type::Integer, None, "The window's length in seconds"),
        ),
    ];
    for (name, h) in headers {
        r.headers.insert(name.to_owned(), h);
    }
}

impl Modify for Shared {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut api.paths.paths {
            let under_api = path.starts_with(API);
            for op in operations(item) {
                let secured = op.security.is_some();
                let mut common = Vec::new();
                if under_api {
                    common.push(("400", "ErrorBody"));
                }
                if op.request_body.is_some() {
                    common.extend([("413", "ErrorBody"), ("415", "ErrorBody")]);
                }
                if secured {
                    common.extend([
                        ("401", "ErrorBody"),
                        ("403", "ErrorBody"),
                        ("429", "RateLimitError"),
                    ]);
                }
                for (status, schema) in common {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(json_response(status, schema)));
                }
                for (status, r) in &mut op.responses.responses {
                    let RefOr::T(r) = r else { continue };
                    if r.description.is_empty() {
                        describe(status).clone_into(&mut r.description);
                    }
                    if secured && status != "401" {
                        rate_limit_headers(r);
                    }
                    if status == "429" {
                        r.headers.insert(
                            "Retry-After".into(),
                            header(Type::Integer, None, "Seconds to wait before retrying"),
                        );
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "invois", description = "Shopify Integration user- and organization-management API. Every error is one JSON body (ErrorBody; a 429 is RateLimitError); every authenticated response carries X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset and X-RateLimit-Window. PUT and PATCH on a resource are the same partial update."),
    paths(
        users::create_user, users::list, users::get, users::put, users::patch, users::delete, users::organizations,
        orgs::list, orgs::create_org, orgs::get, orgs::put, orgs::patch, orgs::delete,
        members::list, members::add, members::get, members::put, members::patch, members::delete,
        tiers::list, tiers::create_tier, tiers::get, tiers::put, tiers::patch, tiers::delete,
        keys::list, keys::create_key, keys::revoke, keys::rotate,
        events::list,
        webhooks::list, webhooks::create_webhook, webhooks::get, webhooks::put, webhooks::patch, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::deliveries, webhooks::retry,
        openapi_json, health::healthz, health::readyz,
    ),
    components(schemas(crate::error::ErrorBody, RateLimitError, RateLimitDetails)),
    modifiers(&Security, &Shared),
    tags((name = "users"), (name = "organizations"), (name = "members"), (name = "tiers"), (name = "keys"), (name = "events"), (name = "webhooks"), (name = "health")),
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi_json)));
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/integrations/openapi.json", tag = "health", operation_id = "getOpenApiDocument",
    responses((status = 200, description = "This document (OpenAPI 3.1, JSON)")))]
pub async fn openapi_json(_: super::NoQuery) -> HttpResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.as_str())
}

/// `/docs` without the slash: a redirect to the Swagger UI at `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

/// The Swagger UI service at `/docs`. It reads the document from [`openapi_json`] (not a
/// copy served by the UI itself, which would bypass the API's own rules for that path).
pub fn docs() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::new([
        "/api/integrations/openapi.json",
    ]))
}
