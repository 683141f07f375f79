//! [`KeyCheck`]: the revocation check that storage runs for a request's API key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::{DbError, Result};
use super::keys;
use super::sessions;
use super::sql::Conn;

/// The revocation check of the API key a request is served for. Every database call made
/// for a request takes it explicitly ([`Db::read`], [`Db::write`], [`Db::write_blocking`]):
/// a write checks the key inside its own transaction, so a key revoked by anyone (the API,
/// the CLI, another instance) changes nothing; a request's first read checks it too, so a
/// revoked key is refused on its very next request.
///
/// The console's requests carry the same check for their session instead of a key
/// ([`KeyCheck::session`]): a session that expired or was ended (logout, another instance)
/// changes nothing.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    /// The key's id; for a session, the hash of its token.
    pub key_id: Arc<str>,
    /// Set once a database call has checked the key.
    pub done: Arc<AtomicBool>,
    /// Set when that check found the key revoked or expired.
    pub refused: Arc<AtomicBool>,
    /// For a console session: how long it lives idle and at most.
    session: Option<(chrono::Duration, chrono::Duration)>,
}

impl KeyCheck {
    /// A key whose state has not been read in this request yet (verified earlier, cached).
    pub fn owed(key_id: Arc<str>) -> Self {
        Self {
            key_id,
            done: Arc::new(AtomicBool::new(false)),
            refused: Arc::new(AtomicBool::new(false)),
            session: None,
        }
    }

    /// The console session whose token hashes to `token_hash`, just read and found live; it
    /// ends after `idle` without a request or `max` after it began.
    pub fn session(token_hash: Arc<str>, idle: chrono::Duration, max: chrono::Duration) -> Self {
        let k = Self {
            session: Some((idle, max)),
            ..Self::owed(token_hash)
        };
        k.done.store(true, Ordering::Relaxed);
        k
    }

    /// A key just read from the database and found active by this request.
    pub fn verified(key_id: Arc<str>) -> Self {
        let k = Self::owed(key_id);
        k.done.store(true, Ordering::Relaxed);
        k
    }

    /// Whether no database call has checked the key in this request yet.
    pub fn is_owed(&self) -> bool {
        !self.done.load(Ordering::Relaxed)
    }

    /// Whether a check found the key revoked or expired.
    pub fn is_refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// The check of an API key as one statement with its values written in, for PostgreSQL
    /// to run in the round trip that opens the read snapshot (see `pg::Pg::read_checked`); a
    /// row means the key is usable. `None` for a console session, a benchmark build without
    /// keys, or values that are not plain (ids are `key-` and hex; never the case).
    pub(super) fn inline_sql(&self) -> Option<String> {
        fn plain(s: &str) -> bool {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b))
        }
        if cfg!(feature = "bench-no-auth") || self.session.is_some() || !plain(&self.key_id) {
            return None;
        }
        crate::domain::with_now(|now| {
            plain(now).then(|| keys::active_sql(&format!("'{}'", self.key_id), &format!("'{now}'")))
        })
    }

    /// Records the outcome of a check made elsewhere (see [`KeyCheck::inline_sql`]).
    pub(super) fn checked(&self, active: bool) -> Result<(), DbError> {
        self.done.store(true, Ordering::Relaxed);
        if active {
            Ok(())
        } else {
            self.refused.store(true, Ordering::Relaxed);
            Err(DbError::Unauthorized)
        }
    }

    /// Fails with [`DbError::Unauthorized`] unless the key is still active; runs on `conn`,
    /// inside the caller's transaction.
    pub fn run(&self, conn: &Conn<'_>) -> Result<(), DbError> {
        if cfg!(feature = "bench-no-auth") {
            // Benchmark builds only (see Cargo.toml): there is no key to check.
            return Ok(());
        }
        let active = match self.session {
            Some((idle, max)) => {
                sessions::is_live(conn, &self.key_id, &sessions::Cutoffs::now(idle, max))?
            }
            None => crate::domain::with_now(|now| keys::is_active(conn, &self.key_id, now))?,
        };
        self.checked(active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL writes the key's id into the statement that checks it (one round trip
    /// fewer per read): only plain ids are, quoted; sessions and anything else take the
    /// parameterized check.
    #[test]
    fn only_plain_key_ids_are_written_into_the_inline_check() {
        let sql = KeyCheck::owed("key-0123abcd".into()).inline_sql().unwrap();
        assert!(
            sql.starts_with("SELECT 1 FROM api_keys WHERE id = 'key-0123abcd' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > '20"),
            "{sql}"
        );
        assert!(sql.ends_with("Z')"), "{sql}");
        for odd in [
            "key-1' OR '1'='1",
            "",
            "key 1",
            "key-1;DROP TABLE api_keys",
            "kéy",
        ] {
            assert_eq!(KeyCheck::owed(odd.into()).inline_sql(), None, "{odd:?}");
        }
        let session = KeyCheck::session(
            "abc".into(),
            chrono::Duration::minutes(30),
            chrono::Duration::hours(8),
        );
        assert_eq!(session.inline_sql(), None);
    }
}
