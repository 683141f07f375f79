//! The one error type of the HTTP layer and its JSON envelope (SPEC §5).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::storage::{CallerError, Conflict, DbError, Invalid};

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
    RateLimited(RateLimitDetails),
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
    /// Field name → list of messages, for field problems; for `429`, the limit that was hit
    /// (`retry_after, limit, remaining, reset_time, window`). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

/// What `details` of an error body holds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ErrorDetails {
    /// Field name → every problem found with it.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    Fields(Details),
    /// The window a `429` refers to (SPEC §4).
    RateLimit(RateLimitDetails),
}

/// `details` of a `429`, in the published field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateLimitDetails {
    /// Seconds to wait; also sent as `Retry-After`.
    pub retry_after: u64,
    /// The window's limit.
    pub limit: u32,
    /// Requests left in it (0).
    pub remaining: u32,
    /// When the window resets: RFC 3339, UTC, whole seconds.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub reset_time: DateTime<Utc>,
    /// The window's length in seconds.
    pub window: u32,
}

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%SZ"))
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
            Self::RateLimited(_) => "rate_limited",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(_) => "The request contains invalid data".into(),
            Self::InvalidQuery(_) => "Invalid request query string".into(),
            Self::PayloadTooLarge => "The request body is larger than the server accepts".into(),
            Self::RateLimited(_) => "Too many requests. Please try again later.".into(),
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
            Self::RateLimited(_) => "Rate Limit Exceeded".to_owned(),
            _ => status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let details = match self {
            Self::Validation(d) | Self::InvalidQuery(d) => Some(ErrorDetails::Fields(d.clone())),
            Self::Conflict { details, .. } => details.clone().map(ErrorDetails::Fields),
            Self::RateLimited(d) => Some(ErrorDetails::RateLimit(d.clone())),
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
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
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
            Self::RateLimited(d) => {
                res.insert_header((header::RETRY_AFTER, d.retry_after.to_string()));
            }
            _ => {}
        }
        res.json(self.body())
    }
}

/// The one place storage's errors become answers (SPEC §5): the statuses, codes, messages
/// and field names the API publishes.
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { what } => Self::not_found(what),
            DbError::Conflict { what } => conflict(what),
            DbError::Invalid {
                what: Invalid::UnknownPremiumTier,
            } => Self::field("premiumTierId", "Premium tier not found"),
            DbError::Unauthorized => {
                Self::Unauthorized("API key has been revoked or has expired".into())
            }
            DbError::Unavailable { reason, .. } => Self::ServiceUnavailable(reason.into_owned()),
            DbError::BadImport(message) => Self::BadRequest {
                code: "invalid_import",
                message,
            },
            DbError::Internal(m) => Self::Internal(m),
            other @ (DbError::Duplicate { .. } | DbError::Db(_) | DbError::NoRows) => {
                Self::Internal(other.to_string())
            }
        }
    }
}

/// A `409` with the field the conflict is about.
fn conflict(what: Conflict) -> ApiError {
    let (message, field) = match what {
        Conflict::EmailTaken => (
            "Email already exists".to_owned(),
            Some(("email", "Email is already taken")),
        ),
        Conflict::SlugTaken { slug } => (
            format!("Slug {slug} is already taken"),
            Some(("slug", "Slug is already taken")),
        ),
        Conflict::AlreadyMember => (
            "User is already a member of this organization".to_owned(),
            Some(("userId", "User is already a member of this organization")),
        ),
        Conflict::TierIdTaken { id } => (
            format!("Premium tier {id} already exists"),
            Some(("id", "Id is already taken")),
        ),
        Conflict::TierInUse { organizations } => (
            format!("Premium tier is in use by {organizations} organization(s); move them to another tier first"),
            None,
        ),
        Conflict::KeyRevoked => ("API key is already revoked".to_owned(), None),
        Conflict::ExternalIdTaken => (
            "External id already exists".to_owned(),
            Some(("externalId", "External id is already taken")),
        ),
    };
    ApiError::Conflict {
        message,
        details: field.map(|(name, problem)| {
            let mut d = Details::new();
            d.insert(name.to_owned(), vec![problem.to_owned()]);
            d
        }),
    }
}

/// What storage needs to know of the errors handlers return from `Db::read`/`Db::write`.
impl CallerError for ApiError {
    fn is_unavailable(&self) -> bool {
        matches!(self, Self::ServiceUnavailable(_))
    }

    fn is_corruption(&self) -> bool {
        matches!(self, Self::ServiceUnavailable(m) if m == crate::storage::error::CORRUPT)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        DbError::from(e).into()
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
    fn rate_limited_body_is_the_published_one_to_the_byte() {
        let e = ApiError::RateLimited(RateLimitDetails {
            retry_after: 60,
            limit: 1000,
            remaining: 0,
            reset_time: DateTime::parse_from_rfc3339("2024-01-15T15:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            window: 60,
        });
        assert_eq!(
            serde_json::to_string(&e.body()).unwrap(),
            r#"{"error":"Rate Limit Exceeded","message":"Too many requests. Please try again later.","code":"rate_limited","details":{"retry_after":60,"limit":1000,"remaining":0,"reset_time":"2024-01-15T15:30:00Z","window":60}}"#
        );
        let res = e.error_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "60");
    }

    #[test]
    fn conflict_details_keep_the_field_map_shape() {
        let mut d = Details::new();
        d.insert("email".into(), vec!["Email is already taken".into()]);
        let e = ApiError::Conflict {
            message: "Email already exists".into(),
            details: Some(d),
        };
        assert_eq!(
            serde_json::to_string(&e.body()).unwrap(),
            r#"{"error":"Conflict","message":"Email already exists","code":"conflict","details":{"email":["Email is already taken"]}}"#
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
