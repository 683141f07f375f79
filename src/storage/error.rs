//! The one error type of storage: what went wrong, in storage's own terms. It names no HTTP
//! status, message or API field; the HTTP layer maps it to SPEC §5 in one place
//! (`impl From<DbError> for ApiError` in `error.rs`).

use std::borrow::Cow;
use std::error::Error as StdError;

use rusqlite::ErrorCode;

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
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// A UNIQUE constraint that no caller names refused a row (`table.column`).
    #[error("database: {source}")]
    Duplicate {
        constraint: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A statement expected a row and found none (see `sql::OptionalExtension`).
    #[error("database: the query returned no rows")]
    NoRows,
    /// An import document that cannot be loaded (a refused row, a database not empty).
    #[error("{0}")]
    BadImport(String),
    /// Any other failure of the engine (SQLite or PostgreSQL).
    #[error("database: {0}")]
    Db(#[source] Box<dyn StdError + Send + Sync>),
    /// A bug or a broken invariant (a panicked write, a gone writer thread, …).
    #[error("{0}")]
    Internal(String),
}

/// Why a database could not be opened; each says what to do.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
    /// Another row of the same type (user or organization) has this external id.
    ExternalIdTaken,
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
                source: Some(Box::new(e)),
            };
        }
        match unique_violation(&e) {
            Some(constraint) => Self::unique(constraint, Box::new(e)),
            None => Self::Db(Box::new(e)),
        }
    }
}

/// PostgreSQL's answers, mapped as SQLite's: its constraints are named `table.column` as
/// SQLite's messages name them (sql/postgres), so a UNIQUE violation maps the same way.
impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection is closed, refused or timed out.
            return Self::Unavailable {
                reason: PG_UNREACHABLE.into(),
                source: Some(Box::new(PgError(e))),
            };
        };
        let code = db.code().clone();
        if code == SqlState::UNIQUE_VIOLATION {
            let constraint = db.constraint().unwrap_or_default().to_owned();
            return Self::unique(constraint, Box::new(PgError(e)));
        }
        let reason: Option<&'static str> = match code.code() {
            "53100" => Some("The database is full (disk); writes are refused until space is freed"),
            "25006" => {
                Some("The database is read-only; writes are refused until it is writable again")
            }
            "57014" => Some("The database did not answer within statement_timeout_ms; retry later"),
            "40001" | "40P01" | "55P03" => Some("The database is busy; retry shortly"),
            c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => {
                Some(PG_UNREACHABLE)
            }
            _ => None,
        };
        match reason {
            Some(reason) => Self::Unavailable {
                reason: reason.into(),
                source: Some(Box::new(PgError(e))),
            },
            None => Self::Db(Box::new(PgError(e))),
        }
    }
}

/// The sentence a client gets while the database is corrupt (see `storage::health`).
pub const CORRUPT: &str =
    "The database file is corrupt; requests are refused until it is restored from a backup";

/// A PostgreSQL error that shows the server's own words (SQLSTATE and message; the driver's
/// `Display` says only "db error"), its cause kept.
#[derive(Debug)]
pub struct PgError(pub postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl StdError for PgError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// What a client is told when PostgreSQL cannot be reached.
pub const PG_UNREACHABLE: &str = "The database cannot be reached; retry later";

/// No connection came free (or could be made) within the pool's wait.
impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable {
            reason: "No database connection came free in time; retry shortly".into(),
            source: Some(Box::new(e)),
        }
    }
}

impl DbError {
    /// A UNIQUE violation of `constraint` (`table.column`): the rules callers know by name
    /// become a [`DbError::Conflict`], the rest a [`DbError::Duplicate`].
    fn unique(constraint: String, source: Box<dyn StdError + Send + Sync>) -> Self {
        if constraint == "users.email_fold" {
            Self::Conflict {
                what: Conflict::EmailTaken,
            }
        } else if constraint == "users.external_id" || constraint == "organizations.external_id" {
            Self::Conflict {
                what: Conflict::ExternalIdTaken,
            }
        } else {
            Self::Duplicate { constraint, source }
        }
    }
}

/// What storage needs to know of the error type a caller's closure returns from
/// `Db::read`/`Db::write`: it takes storage's own errors in, and says whether it means the
/// database cannot serve now (for readiness) or is corrupt (see `storage::health`).
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
        matches!(self, Self::Unavailable { reason, .. } if reason == CORRUPT)
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
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(CORRUPT),
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
