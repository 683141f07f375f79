//! CORS (SPEC §4): web pages of the origins in `[server] cors_origins` may call the API from
//! a browser. Built on actix-cors; [`tidy`] sits right outside it so that other origins get
//! no CORS headers at all and a refused preflight gets our JSON error body.

use actix_cors::{Cors, CorsError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::ApiError;

/// Methods a listed origin's pages may use.
pub const ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Request headers a listed origin's pages may send (beyond the CORS-safelisted ones).
pub const ALLOWED_HEADERS: [&str; 5] = [
    "x-invois-key",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
];

/// Response headers a listed origin's scripts may read (beyond the CORS-safelisted ones).
pub const EXPOSED_HEADERS: [&str; 7] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-window",
    "retry-after",
    "etag",
    "location",
];

/// Seconds a browser may cache a preflight's answer.
pub const MAX_AGE_SECS: usize = 3600;

/// The CORS middleware for `origins` (validated by `Config::validate`). With no origins it
/// allows none: preflights are refused and no response carries CORS headers.
pub fn cors(origins: &[String]) -> Cors {
    origins.iter().fold(
        Cors::default()
            .allowed_methods(ALLOWED_METHODS)
            .allowed_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(MAX_AGE_SECS),
        |c, o| c.allowed_origin(o),
    )
}

/// Wraps [`cors`]. actix-cors adds `Access-Control-Expose-Headers` to every response and
/// answers a refused preflight with plain text; here the first only stays where the origin
/// was allowed, and the second becomes a `400 cors_rejected` JSON body (SPEC §5).
pub async fn tidy(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let refused = res
        .response()
        .error()
        .and_then(|e| e.as_error::<CorsError>())
        .map(|e| match e {
            CorsError::OriginNotAllowed | CorsError::MissingOrigin => {
                "This origin may not call the API from a browser; the server's \
                 [server] cors_origins must list it"
                    .to_owned()
            }
            CorsError::MethodNotAllowed => format!(
                "CORS requests may use only the methods {}",
                ALLOWED_METHODS.join(", ")
            ),
            CorsError::HeadersNotAllowed => format!(
                "CORS requests may send only the headers {}",
                ALLOWED_HEADERS.join(", ")
            ),
            other => format!("Invalid CORS preflight: {other}"),
        });
    if let Some(message) = refused {
        let (req, old) = res.into_parts();
        let mut new = ApiError::BadRequest {
            code: "cors_rejected",
            message,
        }
        .error_response();
        if let Some(vary) = old.headers().get(header::VARY) {
            new.headers_mut().insert(header::VARY, vary.clone());
        }
        return Ok(ServiceResponse::new(req, new));
    }
    let mut res = res.map_into_boxed_body();
    let headers = res.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    Ok(res)
}
