//! Operators: the people who log in to the console (email and an argon2id password hash).

use crate::domain::fold;
use crate::storage::sql::{params, Conn, OptionalExtension, Row};
use crate::storage::{DbError, Result};

/// An operator account.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_login_at: Option<String>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

const COLS: &str = "id, email, password_hash, created_at, updated_at, last_login_at";

fn from_row(r: &Row<'_>) -> Result<Operator> {
    Ok(Operator {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        last_login_at: r.get(5)?,
    })
}

/// The operator with this email (compared folded, as the unique index does).
pub fn find_by_email(conn: &Conn<'_>, email: &str) -> Result<Option<Operator>> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM operators WHERE email_fold = ?1"
    ))?
    .query_row([fold(email)], from_row)
    .optional()
}

pub fn get(conn: &Conn<'_>, id: &str) -> Result<Option<Operator>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM operators WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Every operator, oldest first.
pub fn list(conn: &Conn<'_>) -> Result<Vec<Operator>> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM operators ORDER BY created_at, id"
    ))?
    .query_map((), from_row)?
    .collect()
}

/// How many operators there are.
pub fn count(conn: &Conn<'_>) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM operators", (), |r| r.get(0))
}

/// Creates an operator; [`DbError::Duplicate`] on `operators.email_fold` if the email is
/// taken (see [`is_email_taken`]).
pub fn create(conn: &Conn<'_>, email: &str, password_hash: &str, now: &str) -> Result<String> {
    let id = crate::domain::new_id("op");
    conn.prepare_cached(
        "INSERT INTO operators (id, email, email_fold, password_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![id, email, fold(email), password_hash, now])?;
    Ok(id)
}

/// Whether `e` is the refusal of a second operator with the same email.
pub fn is_email_taken(e: &DbError) -> bool {
    matches!(e, DbError::Duplicate { constraint, .. } if constraint == "operators.email_fold")
}

/// Deletes an operator (and, by cascade, their sessions); `false` if there is none.
pub fn delete(conn: &Conn<'_>, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM operators WHERE id = ?1")?
        .execute([id])?
        > 0)
}

/// Replaces the password hash and ends every session of the operator.
pub fn set_password(conn: &Conn<'_>, id: &str, password_hash: &str, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("UPDATE operators SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, password_hash, now])?;
    conn.prepare_cached("DELETE FROM sessions WHERE operator_id = ?1")?
        .execute([id])?;
    Ok(n > 0)
}

/// Records a successful login.
pub fn note_login(conn: &Conn<'_>, id: &str, now: &str) -> Result<()> {
    conn.prepare_cached("UPDATE operators SET last_login_at = ?2 WHERE id = ?1")?
        .execute([id, now])?;
    Ok(())
}
