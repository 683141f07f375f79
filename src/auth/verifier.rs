//! argon2id verification into preallocated memory.
//!
//! Each verification needs the hash's whole memory cost (19 MiB for our keys). Allocated and
//! freed per call, glibc keeps the freed blocks: a stream of wrong secrets for a real key id
//! took the server past 1 GiB. Here every verification borrows one of at most `slots` blocks
//! kept for the life of the process, so argon2's memory is `slots × memory cost` whatever the
//! traffic.
//!
//! Bound: `slots` = `[auth] max_concurrent_verifications` (the guard's semaphore lets no more
//! run at once); a block is allocated on first need and reused afterwards. A stored hash whose
//! memory cost exceeds [`MAX_M_COST_KIB`] is refused rather than allocated.

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// The largest memory cost (KiB) a stored hash may ask for; ours use argon2's default, 19 MiB.
pub const MAX_M_COST_KIB: u32 = 64 * 1024;

/// Verifies secrets against argon2id PHC strings, with memory from a fixed pool.
pub struct Verifier {
    slots: usize,
    free: Mutex<Vec<Vec<Block>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A pool of at most `slots` memory blocks (at least one).
    pub fn new(slots: usize) -> Self {
        Self {
            slots: slots.max(1),
            free: Mutex::new(Vec::new()),
        }
    }

    /// Whether `secret` matches the PHC string `phc` (compared in constant time). Blocking:
    /// call it off the async executor.
    pub fn verify(&self, secret: &str, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return false;
        }
        let (Ok(params), Some(salt), Some(expected)) =
            (Params::try_from(&hash), hash.salt, hash.hash)
        else {
            return false;
        };
        if params.m_cost() > MAX_M_COST_KIB {
            return false;
        }
        let version = hash
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)
            .unwrap_or(Version::V0x13);
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let mut blocks = self.take(params.block_count());
        let ok = argon
            .hash_password_into_with_memory(
                secret.as_bytes(),
                salt,
                &mut out,
                &mut blocks[..params.block_count()],
            )
            .is_ok();
        self.give_back(blocks);
        ok && bool::from(out.ct_eq(expected.as_bytes()))
    }

    /// A block of at least `count` argon2 blocks: a kept one, or a new one.
    fn take(&self, count: usize) -> Vec<Block> {
        let kept = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut blocks = kept.unwrap_or_default();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        blocks
    }

    /// Keeps `blocks` for the next verification, up to `slots` of them.
    fn give_back(&self, blocks: Vec<Block>) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.slots {
            free.push(blocks);
        }
    }

    /// How many blocks are kept now (for tests).
    pub fn kept(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_our_hashes_and_refuses_wrong_secrets() {
        let v = Verifier::new(1);
        let hash = crate::auth::hash_secret("s3cret").unwrap();
        assert!(v.verify("s3cret", &hash));
        assert!(!v.verify("s3cres", &hash));
        assert!(!v.verify("s3cret", "not a phc string"));
        // argon2i and a memory cost past the bound are refused without work.
        assert!(!v.verify(
            "s3cret",
            "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
        ));
        assert!(!v.verify(
            "s3cret",
            "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
        ));
    }

    #[test]
    fn keeps_at_most_its_slots() {
        let v = Verifier::new(2);
        let hash = crate::auth::hash_secret("x").unwrap();
        let (a, b, c) = (v.take(8), v.take(8), v.take(8));
        v.give_back(a);
        v.give_back(b);
        v.give_back(c);
        assert_eq!(v.kept(), 2);
        assert!(v.verify("x", &hash));
        assert_eq!(v.kept(), 2);
    }
}
