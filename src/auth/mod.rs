//! API keys: format, hashing, creation; the request guard lives in [`guard`].

pub mod guard;
pub mod rate_limit;
pub mod verifier;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use rand::RngCore;

use crate::error::{ApiError, Result};
use crate::storage::events::Actor;
use crate::storage::keys;
use crate::storage::records::KeyInfo;
use crate::storage::KeyCheck;

pub use guard::{scope, AuthState, Authed, Need};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ReadUsers,
    WriteUsers,
    ReadOrganizations,
    WriteOrganizations,
    ReadTiers,
    WriteTiers,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::ReadUsers,
        Scope::WriteUsers,
        Scope::ReadOrganizations,
        Scope::WriteOrganizations,
        Scope::ReadTiers,
        Scope::WriteTiers,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadUsers => "read:users",
            Scope::WriteUsers => "write:users",
            Scope::ReadOrganizations => "read:organizations",
            Scope::WriteOrganizations => "write:organizations",
            Scope::ReadTiers => "read:tiers",
            Scope::WriteTiers => "write:tiers",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What a key created without `--scopes` gets: everything but `admin`.
    pub fn defaults() -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| *s != Scope::Admin)
            .collect()
    }
}

/// Parses a comma- or space-separated scope list.
pub fn parse_scopes(s: &str) -> std::result::Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for part in s.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let scope = Scope::parse(part).ok_or_else(|| {
            format!(
                "unknown scope {part:?}; known: {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            )
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        return Err("at least one scope is needed".into());
    }
    out.sort();
    Ok(out)
}

/// The recognizable start of every key (secret scanners can match `invois_[0-9a-f]{16}_[0-9a-f]{64}`).
pub const KEY_PREFIX: &str = "invois_";

/// A plaintext key; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainKey(pub String);

impl std::fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainKey([redacted])")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a presented key into `(key id, secret)`; `None` if it is not of our format.
pub fn split_key(presented: &str) -> Option<(String, &str)> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !is_hex(id, 16) || !is_hex(secret, 64) {
        return None;
    }
    Some((format!("key-{id}"), secret))
}

/// argon2id hash (PHC string) of a secret.
pub fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// A new key: its row and its plaintext (shown once).
pub fn generate(
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
) -> Result<(KeyInfo, PlainKey, String)> {
    generate_from(name, scopes, expires_in_days, KeySource::Random)
}

/// Where a new key's id and secret come from.
#[derive(Clone, Copy)]
pub enum KeySource<'a> {
    /// The operating system's randomness.
    Random,
    /// HMAC-SHA256 under the requesting key's plaintext (`from`), of a random `nonce`: an
    /// idempotent create can give the same key again to whoever presents the same key, while
    /// the database keeps only the nonce (see `routes::keys`).
    Derived { from: &'a str, nonce: &'a [u8; 16] },
}

impl std::fmt::Debug for KeySource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Random => f.write_str("Random"),
            Self::Derived { .. } => f.write_str("Derived([redacted])"),
        }
    }
}

fn key_material(src: KeySource<'_>) -> ([u8; 8], [u8; 32]) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    match src {
        KeySource::Random => {
            rand::rngs::OsRng.fill_bytes(&mut id);
            rand::rngs::OsRng.fill_bytes(&mut secret);
        }
        KeySource::Derived { from, nonce } => {
            use hmac::Mac;
            let prf = |label: &[u8]| {
                let mut mac =
                    <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(from.as_bytes())
                        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(label);
                mac.update(nonce);
                mac.finalize().into_bytes()
            };
            id.copy_from_slice(&prf(b"invois key id\0")[..8]);
            secret.copy_from_slice(&prf(b"invois key secret\0"));
        }
    }
    (id, secret)
}

/// The plaintext of the key that [`KeySource::Derived`] with these inputs makes.
pub fn derived_key(from: &str, nonce: &[u8; 16]) -> PlainKey {
    let (id, secret) = key_material(KeySource::Derived { from, nonce });
    PlainKey(format!("{KEY_PREFIX}{}_{}", hex(&id), hex(&secret)))
}

/// A new key from `src`: its row, its plaintext (shown once) and the hash to store.
pub fn generate_from(
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
    src: KeySource<'_>,
) -> Result<(KeyInfo, PlainKey, String)> {
    let (id, secret) = key_material(src);
    let (id, secret) = (hex(&id), hex(&secret));
    let plain = PlainKey(format!("{KEY_PREFIX}{id}_{secret}"));
    let hash = hash_secret(&secret)?;
    let now = chrono::Utc::now();
    let info = KeyInfo {
        id: format!("key-{id}"),
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        expires_at: expires_in_days.map(|d| {
            (now + chrono::Duration::days(i64::from(d)))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        }),
        revoked_at: None,
        last_used_at: None,
        replaced_by: None,
    };
    Ok((info, plain, hash))
}

/// Validates a key name: 1–100 printable characters.
pub fn parse_key_name(name: &str) -> std::result::Result<String, String> {
    let t = name.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err("Name must be 1 to 100 printable characters".into());
    }
    Ok(t.to_owned())
}

/// Creates and stores a key (blocking: argon2 and SQLite); returns it with its plaintext.
/// `by` is the key of the API request that asks (checked in the same transaction), `None`
/// for the CLI.
pub fn create_key(
    db: &crate::storage::Db,
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
    by: Option<&KeyCheck>,
) -> Result<(KeyInfo, PlainKey)> {
    let actor = by.map(|k| k.key_id.clone());
    create_key_as(
        db,
        name,
        scopes,
        expires_in_days,
        by,
        Actor::from(actor.as_deref()),
    )
}

/// As [`create_key`], recording the creation by `actor` (the console's operator, whose
/// session `check` is).
pub fn create_key_as(
    db: &crate::storage::Db,
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
    check: Option<&KeyCheck>,
    actor: Actor<'_>,
) -> Result<(KeyInfo, PlainKey)> {
    let (info, plain, hash) = generate(name, scopes, expires_in_days)?;
    let row = info.clone();
    db.write_blocking(check, move |tx| {
        keys::insert(tx, &row, &hash)?;
        crate::storage::events::record_as(tx, "key.created", actor, &row.id, &[], &row.created_at)
    })?;
    Ok((info, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_split_and_verify() {
        let (info, plain, hash) = generate("t", &Scope::defaults(), Some(1)).unwrap();
        let (id, secret) = split_key(&plain.0).unwrap();
        assert_eq!(id, info.id);
        assert!(hash.starts_with("$argon2id$"));
        let v = verifier::Verifier::new(1);
        assert!(v.verify(secret, &hash));
        assert!(!v.verify(&"0".repeat(64), &hash));
        assert!(info.expires_at.is_some());
        assert_eq!(format!("{plain:?}"), "PlainKey([redacted])");
    }

    #[test]
    fn derived_keys_are_reproducible_only_with_the_same_inputs() {
        let nonce = [7u8; 16];
        let (info, plain, hash) = generate_from(
            "d",
            &Scope::defaults(),
            None,
            KeySource::Derived {
                from: "invois_a_b",
                nonce: &nonce,
            },
        )
        .unwrap();
        assert_eq!(derived_key("invois_a_b", &nonce), plain);
        assert_ne!(derived_key("invois_a_c", &nonce), plain);
        assert_ne!(derived_key("invois_a_b", &[8u8; 16]), plain);
        let (id, secret) = split_key(&plain.0).unwrap();
        assert_eq!(id, info.id);
        assert!(verifier::Verifier::new(1).verify(secret, &hash));
    }

    #[test]
    fn malformed_keys_do_not_split() {
        for k in [
            "",
            "invois_",
            "invois_zz_00",
            "sk_abc",
            &format!("invois_{}_{}", "a".repeat(16), "A".repeat(64)),
        ] {
            assert!(split_key(k).is_none(), "{k}");
        }
    }

    #[test]
    fn scopes_parse_and_default_excludes_admin() {
        assert_eq!(
            parse_scopes("read:users, admin").unwrap(),
            vec![Scope::ReadUsers, Scope::Admin]
        );
        assert!(parse_scopes("read:everything").is_err());
        assert!(!Scope::defaults().contains(&Scope::Admin));
        assert_eq!(Scope::defaults().len(), 6);
    }
}
