//! The one error type of the HTTP layer and its JSON envelope (SPEC §5).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Field name → every problem found with it.
pub type Details = BTreeMap<String, Vec<String>>;

/// `Result` with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Every error the API answers with. Each maps to one status, one stable `code` and the
/// JSON body of SPEC §5.
#[derive(Debug)]
pub enum ApiError {
    Validation(Details),
    BadRequest {
        code: &'static str,
        message: String,
    },
    InvalidQuery(Details),
    Unauthorized(String),
    InsufficientScope(String),
    NotFound(String),
    Conflict {
        message: String,
        details: Option<Details>,
    },
    PreconditionFailed(String),
    Unprocessable {
        code: &'static str,
        message: String,
    },
    PayloadTooLarge,
    UnsupportedMediaType(String),
    RateLimited {
        retry_after: u64,
    },
    ServiceUnavailable(String),
    /// Logged, never shown: the client sees a generic sentence.
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `Validation Error` for 400 validation failures, otherwise the HTTP reason phrase.
    #[schema(example = "Validation Error")]
    pub error: String,
    /// One human sentence.
    #[schema(example = "The request contains invalid data")]
    pub message: String,
    /// A stable snake_case machine code.
    #[schema(example = "validation_error")]
    pub code: String,
    /// Field name → list of messages; present only for field problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub details: Option<Details>,
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut d = Details::new();
        d.insert(field.to_owned(), vec![message.into()]);
        Self::Validation(d)
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_error",
            Self::BadRequest { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::InvalidQuery(_) => "invalid_query",
            Self::Unauthorized(_) => "unauthorized",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(_) => "The request contains invalid data".into(),
            Self::InvalidQuery(_) => "Invalid request query string".into(),
            Self::PayloadTooLarge => "The request body is larger than the server accepts".into(),
            Self::RateLimited { .. } => {
                "Too many requests; retry after the time in Retry-After".into()
            }
            Self::Internal(_) => "An internal error occurred".into(),
            Self::BadRequest { message, .. }
            | Self::Unprocessable { message, .. }
            | Self::Conflict { message, .. } => message.clone(),
            Self::Unauthorized(m)
            | Self::InsufficientScope(m)
            | Self::NotFound(m)
            | Self::PreconditionFailed(m)
            | Self::UnsupportedMediaType(m)
            | Self::ServiceUnavailable(m) => m.clone(),
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        let status = self.status_code();
        let error = match self {
            Self::Validation(_) => "Validation Error".to_owned(),
            _ => status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let details = match self {
            Self::Validation(d) | Self::InvalidQuery(d) => Some(d.clone()),
            Self::Conflict { details, .. } => details.clone(),
            _ => None,
        };
        ErrorBody {
            error,
            message: self.message(),
            code: self.code().to_owned(),
            details,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(m) => write!(f, "internal error: {m}"),
            other => write!(f, "{}: {}", other.code(), other.message()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest { .. } | Self::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(m) = self {
            log::error!("internal error: {m}");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "X-Invois-Key"));
            }
            Self::RateLimited { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        res.json(self.body())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if let Some(reason) = crate::storage::unavailable_reason(&e) {
            return Self::ServiceUnavailable(reason.into());
        }
        Self::Internal(format!("database: {e}"))
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        Self::Internal(format!("pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_error_body_has_the_seed_shape() {
        let mut d = Details::new();
        d.insert("email".into(), vec!["Email is already taken".into()]);
        let v = serde_json::to_value(ApiError::Validation(d).body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "error": "Validation Error",
                "message": "The request contains invalid data",
                "code": "validation_error",
                "details": {"email": ["Email is already taken"]}
            })
        );
    }

    #[test]
    fn not_found_uses_reason_phrase_and_omits_details() {
        let v = serde_json::to_value(ApiError::not_found("User").body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "Not Found", "message": "User not found", "code": "not_found"})
        );
    }

    #[test]
    fn internal_error_never_leaks_its_cause() {
        let v =
            serde_json::to_value(ApiError::Internal("disk I/O at /secret".into()).body()).unwrap();
        assert_eq!(v["message"], "An internal error occurred");
        assert_eq!(v["error"], "Internal Server Error");
    }
}
