//! Validated domain types and rules: no actix, no SQL. Request bodies are parsed into these
//! at the edge; storage accepts only them.

pub mod fields;
pub mod ids;
pub mod metadata;
pub mod text;

pub use ids::new_id;
pub use text::{fold, slugify};

use chrono::{NaiveDate, Utc};

/// A user's global role.
pub const USER_ROLES: [&str; 3] = ["super-admin", "admin", "customer"];
/// A member's role within an organization.
pub const MEMBER_ROLES: [&str; 3] = ["owner", "admin", "customer"];

/// Now, as the RFC 3339 UTC timestamp the API shows (`2024-01-15T14:30:00Z`).
pub fn now() -> String {
    with_now(str::to_owned)
}

thread_local! {
    /// The current second and its timestamp text, formatted once per second per thread.
    static NOW: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// Calls `f` with [`now`]'s text without formatting or allocating it again within a second
/// (the revocation check of every request compares against it). `f` must not call it again.
pub fn with_now<R>(f: impl FnOnce(&str) -> R) -> R {
    let t = Utc::now();
    NOW.with(|cell| {
        let mut c = cell.borrow_mut();
        if c.0 != t.timestamp() {
            *c = (t.timestamp(), t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        f(&c.1)
    })
}

/// Name: at least 2 characters after trimming, at most `max`. Returns the trimmed name.
pub fn parse_name(raw: &str, label: &str, max: usize) -> Result<String, String> {
    // Zero-width and other invisible characters around a name are not part of it; a name
    // of nothing else is missing.
    let t = text::trim_visible(raw);
    let n = t.chars().count();
    if n == 0 {
        return Err(format!("{label} is required"));
    }
    if n < 2 {
        return Err(format!("{label} must be at least 2 characters"));
    }
    if n > max {
        return Err(format!("{label} must be at most {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("{label} must not contain control characters"));
    }
    Ok(t.to_owned())
}

/// An optional short text such as a first or last name: trimmed, at most 200 characters;
/// empty becomes `None`.
pub fn parse_optional_text(raw: &str, label: &str) -> Result<Option<String>, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > 200 {
        return Err(format!("{label} must be at most 200 characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("{label} must not contain control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// Email: one `@`, a plausible local part and a dotted domain, at most 254 characters.
/// Returns it trimmed (case kept; uniqueness compares the folded form).
pub fn parse_email(raw: &str) -> Result<String, String> {
    let e = raw.trim();
    if e.is_empty() {
        return Err("Email is required".into());
    }
    let invalid = || Err("Email format is invalid".to_owned());
    // Invisible characters (bidirectional overrides, zero-width spaces) make an address
    // that reads as another one.
    if e.len() > 254
        || e.chars()
            .any(|c| c.is_whitespace() || c.is_control() || text::is_invisible(c))
    {
        return invalid();
    }
    let Some((local, domain)) = e.rsplit_once('@') else {
        return invalid();
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return invalid();
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return invalid();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return invalid();
    }
    for l in &labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        {
            return invalid();
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return invalid();
    }
    Ok(e.to_owned())
}

/// Phone: optional leading `+`, 7–15 digits, separators among space, `-`, `.`, `(`, `)`.
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let p = raw.trim();
    let invalid = || Err("Phone must be a valid phone number".to_owned());
    let body = p.strip_prefix('+').unwrap_or(p);
    if body.is_empty()
        || !body
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '(')
    {
        return invalid();
    }
    let mut digits = 0;
    for c in body.chars() {
        match c {
            '0'..='9' => digits += 1,
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return invalid(),
        }
    }
    if !(7..=15).contains(&digits) {
        return invalid();
    }
    Ok(p.to_owned())
}

/// Date of birth: an ISO 8601 calendar date `YYYY-MM-DD` that exists and is not in the future.
pub fn parse_dob(raw: &str) -> Result<String, String> {
    let d = raw.trim();
    let ok_shape = d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let date = if ok_shape {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
    } else {
        None
    };
    let Some(date) = date else {
        return Err("Date of birth must be a valid ISO 8601 date (YYYY-MM-DD)".into());
    };
    if date > Utc::now().date_naive() {
        return Err("Date of birth must not be in the future".into());
    }
    if date.year_ce().1 < 1900 {
        return Err("Date of birth must not be before 1900-01-01".into());
    }
    Ok(d.to_owned())
}

use chrono::Datelike;

/// One of `allowed`, exactly.
pub fn parse_role(raw: &str, allowed: &[&str]) -> Result<String, String> {
    if allowed.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!("Role must be one of: {}", allowed.join(", ")))
    }
}

/// Slug: 1–100 of lowercase `[a-z0-9-]`, not starting or ending with `-`, no `--`.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let s = raw;
    if s.is_empty() || s.len() > 100 {
        return Err("Slug must be 1 to 100 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("Slug may contain only lowercase letters, digits and hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Err("Slug must not start or end with a hyphen or contain two in a row".into());
    }
    if s.starts_with("org-")
        && s.len() > 4
        && s[4..].bytes().all(|b| b.is_ascii_alphanumeric())
        && s.len() == 30
    {
        return Err("Slug must not look like an organization id".into());
    }
    Ok(s.to_owned())
}

/// Logo: an absolute http(s) URL with a host, at most 2048 characters.
pub fn parse_url(raw: &str, label: &str) -> Result<String, String> {
    let u = raw.trim();
    let invalid = || Err(format!("{label} must be an http(s) URL"));
    if u.len() > 2048 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid();
    }
    let rest = if let Some(r) = u.strip_prefix("https://") {
        r
    } else if let Some(r) = u.strip_prefix("http://") {
        r
    } else {
        return invalid();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return invalid();
    }
    Ok(u.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["jane@example.com", "a.b+c@sub.example.co", "x@dómain.my"] {
            assert_eq!(parse_email(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "jane",
            "jane@",
            "@x.com",
            "jane@com",
            "a b@x.com",
            "a@@x.com",
            "a@x..com",
            ".a@x.com",
            "a@-x.com",
            "a@x.c",
            "a@1.23",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in [
            "+1234567890",
            "+60 12-345 6789",
            "(03) 1234 5678",
            "1234567",
        ] {
            assert!(parse_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "+",
            "123456",
            "1234567890123456",
            "abc1234567",
            "+1 234 567 890x",
            "-1234567",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dobs() {
        assert!(parse_dob("1985-03-20").is_ok());
        assert!(parse_dob("2000-02-29").is_ok());
        for bad in [
            "1985-02-30",
            "2001-02-29",
            "85-03-20",
            "1985-3-20",
            "1985-03-20T00:00:00Z",
            "3000-01-01",
            "1800-01-01",
            "abc",
        ] {
            assert!(parse_dob(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_need_two_characters() {
        assert_eq!(parse_name("  Jo ", "Name", 200), Ok("Jo".into()));
        assert_eq!(parse_name(" ", "Name", 200), Err("Name is required".into()));
        assert_eq!(
            parse_name(" J ", "Name", 200),
            Err("Name must be at least 2 characters".into())
        );
        assert!(parse_name(&"x".repeat(201), "Name", 200).is_err());
    }

    #[test]
    fn slugs_and_urls() {
        assert!(parse_slug("acme-corp").is_ok());
        for bad in ["Acme", "acme_corp", "-acme", "acme-", "a--b", ""] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
        assert!(parse_url("https://example.com/logos/acme.png", "Logo").is_ok());
        for bad in [
            "ftp://x.com/a",
            "https://",
            "example.com",
            "javascript:alert(1)",
            "https:// x",
        ] {
            assert!(parse_url(bad, "Logo").is_err(), "{bad}");
        }
    }
}
