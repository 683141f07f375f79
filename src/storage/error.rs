//! The one error type of storage: what went wrong, in storage's own terms. It names no HTTP
//! status, message or API field; the HTTP layer maps it to SPEC §5 in one place
//! (`impl From<DbError> for ApiError` in `error.rs`).

use std::borrow::Cow;

use rusqlite::ErrorCode;

use super::health;

/// `Result` with [`DbError`] as the default error.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// Every way a storage call can fail.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row a call needs does not exist.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The change would break a rule of the data (a taken email or slug, …).
    #[error("conflict: {what:?}")]
    Conflict { what: Conflict },
    /// A value refers to something that does not exist.
    #[error("invalid: {what:?}")]
    Invalid { what: Invalid },
    /// The API key of the request was found revoked or expired (see `KeyCheck`).
    #[error("the API key has been revoked or has expired")]
    Unauthorized,
    /// The database cannot serve now (full or read-only disk, I/O error, busy, corrupt,
    /// replaced under the server); `reason` is one sentence saying so.
    #[error("{reason}")]
    Unavailable {
        reason: Cow<'static, str>,
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A UNIQUE constraint that no caller names refused a row (`table.column`).
    #[error("database: {source}")]
    Duplicate {
        constraint: String,
        #[source]
        source: rusqlite::Error,
    },
    /// An import document that cannot be loaded (a refused row, a database not empty).
    #[error("{0}")]
    BadImport(String),
    /// Any other SQLite failure.
    #[error("database: {0}")]
    Db(#[source] rusqlite::Error),
    /// No connection could be had from the pool.
    #[error("pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A bug or a broken invariant (a panicked write, a gone writer thread, …).
    #[error("{0}")]
    Internal(String),
}

/// Which rule a change would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another user has this email (compared folded).
    EmailTaken,
    /// Another organization has this slug.
    SlugTaken { slug: String },
    /// The user is already a member of the organization.
    AlreadyMember,
    /// A premium tier with this id exists.
    TierIdTaken { id: String },
    /// Organizations still use the premium tier.
    TierInUse { organizations: i64 },
    /// A key rotated or revoked already (by a concurrent rotation).
    KeyRevoked,
}

/// Which reference points nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The premium tier an organization is given does not exist.
    UnknownPremiumTier,
}

impl DbError {
    /// A database that cannot serve now, for `reason`.
    pub fn unavailable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            source: None,
        }
    }
}

/// The one place SQLite's answers become storage errors: "cannot serve now" codes become
/// [`DbError::Unavailable`], a UNIQUE violation of a known rule a [`DbError::Conflict`], any
/// other UNIQUE violation a [`DbError::Duplicate`] (callers that know what it means name
/// it), the rest [`DbError::Db`].
impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        if let Some(reason) = unavailable_reason(&e) {
            return Self::Unavailable {
                reason: reason.into(),
                source: Some(e),
            };
        }
        match unique_violation(&e) {
            Some(c) if c == "users.email_fold" => Self::Conflict {
                what: Conflict::EmailTaken,
            },
            Some(constraint) => Self::Duplicate {
                constraint,
                source: e,
            },
            None => Self::Db(e),
        }
    }
}

/// What storage needs to know of the error type a caller's closure returns from
/// `Db::read`/`Db::write`: it takes storage's own errors in, and says whether it means the
/// database cannot serve now (for readiness) or is corrupt (see [`health`]).
pub trait CallerError: From<DbError> + Send + 'static {
    /// Whether the error means "the database cannot serve now".
    fn is_unavailable(&self) -> bool;
    /// Whether the error is SQLite reporting a corrupt file.
    fn is_corruption(&self) -> bool;
}

impl CallerError for DbError {
    fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    fn is_corruption(&self) -> bool {
        matches!(self, Self::Unavailable { reason, .. } if reason == health::CORRUPT)
    }
}

/// The sentence a client gets when a database error means "cannot write now" (full or
/// read-only disk, I/O error) rather than a bug; such errors answer 503.
pub fn unavailable_reason(e: &rusqlite::Error) -> Option<&'static str> {
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(
            "The database is full (disk or max_size_mb); writes are refused until space is freed",
        ),
        ErrorCode::ReadOnly => {
            Some("The database is read-only; writes are refused until it is writable again")
        }
        ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => {
            Some("The database cannot be written (I/O error); retry later")
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            Some("The database is busy; retry shortly")
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(health::CORRUPT),
        _ => None,
    }
}

/// `table.column` of a UNIQUE constraint that `e` violated, if that is what it is.
pub fn unique_violation(e: &rusqlite::Error) -> Option<String> {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return msg
                .strip_prefix("UNIQUE constraint failed: ")
                .map(str::to_owned);
        }
    }
    None
}
