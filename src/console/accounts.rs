//! Operator accounts, for the command line (`invois operators …`) and `serve --demo`.
//! Passwords are hashed with argon2id; only the hash is stored.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use rand::Rng;

use crate::storage::{operators, Db, DbError};

/// The fewest characters a password may have.
pub const MIN_PASSWORD: usize = 12;
/// The most (argon2 takes any length; a bound keeps hashing cheap).
pub const MAX_PASSWORD: usize = 1024;

/// An operator's email: the API's email rule.
pub fn parse_email(raw: &str) -> Result<String, String> {
    crate::domain::parse_email(raw).map_err(|m| format!("--email: {m}"))
}

/// A new password: 12 to 1,024 characters.
pub fn check_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD} characters (it has {n})"
        ));
    }
    if n > MAX_PASSWORD {
        return Err(format!(
            "the password must have at most {MAX_PASSWORD} characters"
        ));
    }
    Ok(())
}

/// argon2id hash (PHC string) of a password. Blocking: call it off the async executor.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// Why an account command failed.
#[derive(Debug)]
pub enum AccountError {
    /// An operator with this email exists already.
    Exists,
    /// No operator has this email.
    Unknown,
    /// Hashing failed (should not happen).
    Hash(String),
    Db(DbError),
}

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exists => f.write_str("an operator with this email exists"),
            Self::Unknown => f.write_str("no operator has this email"),
            Self::Hash(m) => f.write_str(m),
            Self::Db(e) => write!(f, "{e}"),
        }
    }
}

impl From<DbError> for AccountError {
    fn from(e: DbError) -> Self {
        if operators::is_email_taken(&e) {
            Self::Exists
        } else {
            Self::Db(e)
        }
    }
}

/// Creates an operator; returns its id. Blocking (argon2, database).
pub fn create(db: &Db, email: &str, password: &str) -> Result<String, AccountError> {
    let hash = hash_password(password).map_err(AccountError::Hash)?;
    let now = crate::domain::now();
    Ok(db.write_blocking(None, |tx| operators::create(tx, email, &hash, &now))?)
}

/// Sets an operator's password and ends their sessions. Blocking.
pub fn reset_password(db: &Db, email: &str, password: &str) -> Result<String, AccountError> {
    let hash = hash_password(password).map_err(AccountError::Hash)?;
    let now = crate::domain::now();
    db.write_blocking(None, |tx| {
        let Some(op) = operators::find_by_email(tx, email)? else {
            return Ok(None);
        };
        operators::set_password(tx, &op.id, &hash, &now)?;
        Ok(Some(op.id))
    })?
    .ok_or(AccountError::Unknown)
}

/// Deletes an operator (their sessions go with them). Blocking.
pub fn delete(db: &Db, email: &str) -> Result<String, AccountError> {
    db.write_blocking(None, |tx| {
        let Some(op) = operators::find_by_email(tx, email)? else {
            return Ok(None);
        };
        operators::delete(tx, &op.id)?;
        Ok(Some(op.id))
    })?
    .ok_or(AccountError::Unknown)
}

/// The demo operator of `serve --demo`.
pub const DEMO_EMAIL: &str = "demo@invois.local";

/// A random password of 20 letters and digits (about 115 bits), easy to type.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The demo login: creates `demo@invois.local` with a new random password, or gives the
/// existing one a new password (so that every `--demo` start prints a login that works).
/// Blocking.
pub fn demo_login(db: &Db) -> Result<String, AccountError> {
    let password = random_password();
    match create(db, DEMO_EMAIL, &password) {
        Ok(_) => Ok(password),
        Err(AccountError::Exists) => reset_password(db, DEMO_EMAIL, &password).map(|_| password),
        Err(e) => Err(e),
    }
}
