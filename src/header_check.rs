//! Request headers that must never be misread as absent (issue 11): an `If-Match` that cannot
//! be read would let a write skip its lost-update check, a second `X-Invois-Key` would be
//! silently ignored. Checked once, in front of the key guard, for every API request:
//!
//! - `If-Match`, `If-None-Match` and `Idempotency-Key` must be visible ASCII (and spaces);
//!   otherwise `400 invalid_header`.
//! - `X-Invois-Key` and `Idempotency-Key` at most once; otherwise `400 duplicate_header`.
//!   (`If-Match` and `If-None-Match` may repeat: their lines are one list, RFC 9110 §5.3.)

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::ApiError;

fn readable(v: &header::HeaderValue) -> bool {
    v.as_bytes()
        .iter()
        .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
}

/// The first problem with `req`'s headers, if any.
fn problem(req: &ServiceRequest) -> Option<ApiError> {
    let h = req.headers();
    for name in [
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        HeaderName::from_static("idempotency-key"),
    ] {
        if !h.get_all(&name).all(readable) {
            return Some(ApiError::BadRequest {
                code: "invalid_header",
                message: format!("The {name} header must be visible ASCII"),
            });
        }
    }
    for name in ["x-invois-key", "idempotency-key"] {
        if h.get_all(name).count() > 1 {
            return Some(ApiError::BadRequest {
                code: "duplicate_header",
                message: format!("Send the {name} header once"),
            });
        }
    }
    None
}

/// The middleware (see the module docs).
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(e) = problem(&req) {
        return Ok(req.into_response(e.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Every value of a list header (`If-Match`, `If-None-Match`), joined as one list; `None`
/// when absent. Values were checked readable by [`check`].
pub fn list(req: &actix_web::HttpRequest, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = req
        .headers()
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}
