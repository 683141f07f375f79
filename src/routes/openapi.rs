//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift,
//! and an offline Swagger UI at `/docs` (assets vendored into the binary).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{events, health, keys, members, orgs, tiers, users};

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

#[derive(OpenApi)]
#[openapi(
    info(title = "invois", description = "Shopify Integration user- and organization-management API. Errors share one JSON body (ErrorBody); authenticated responses carry X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset."),
    paths(
        users::create_user, users::list, users::get, users::put, users::patch, users::delete, users::organizations,
        orgs::list, orgs::create_org, orgs::get, orgs::put, orgs::patch, orgs::delete,
        members::list, members::add, members::get, members::put, members::patch, members::delete,
        tiers::list, tiers::create_tier, tiers::get, tiers::put, tiers::patch, tiers::delete,
        keys::list, keys::create_key, keys::revoke, keys::rotate,
        events::list, openapi_json, health::healthz, health::readyz,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Security),
    tags((name = "users"), (name = "organizations"), (name = "members"), (name = "tiers"), (name = "keys"), (name = "events"), (name = "health")),
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi_json)));
}

#[utoipa::path(get, path = "/api/integrations/openapi.json", tag = "health", responses((status = 200, description = "This document")))]
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
