//! Opaque ids with a type prefix that sort by creation time and cannot be guessed:
//! 48 bits of milliseconds then 80 random bits, in lowercase Crockford base32 (26 characters).

use rand::RngCore;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new id such as `user-01jd6y2q6w8m4c0v9k3r5t7x1z`.
pub fn new_id(prefix: &str) -> String {
    let ms = u128::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let mut rnd = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut rnd);
    let mut v: u128 = ms << 80;
    for (i, b) in rnd.iter().enumerate() {
        v |= u128::from(*b) << (8 * (9 - i));
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('-');
    for i in (0..26).rev() {
        let idx = usize::try_from((v >> (5 * i)) & 31).unwrap_or(0);
        out.push(char::from(ALPHABET[idx]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_sort_by_time() {
        let a = new_id("org");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("org");
        assert!(a.starts_with("org-") && a.len() == 30);
        assert!(a < b);
        assert_ne!(new_id("org"), new_id("org"));
    }
}
