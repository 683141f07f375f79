//! Text folding for case-insensitive search and slugs.

use unicode_normalization::UnicodeNormalization;

/// The form names and emails are stored and searched in: NFC, then Unicode lowercase, so
/// that `café` finds `CAFÉ` whichever way either was composed.
pub fn fold(s: &str) -> String {
    // Word-final ς is the same letter as σ (Unicode case folding maps both to σ).
    s.nfc()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// A slug from a name: accents dropped (`Café` → `cafe`), runs of anything else one hyphen.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.nfd().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else if unicode_normalization::char::is_combining_mark(c) {
            // accents fall away with the decomposition
        } else {
            pending_dash = true;
        }
        if out.len() >= 80 {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-').to_owned();
    if trimmed.is_empty() {
        "org".to_owned()
    } else if super::parse_slug(&trimmed).is_err() {
        // Only `org-` + 26 letters/digits gets here: the shape of an organization id.
        format!("{trimmed}-org")
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Zeta Café Sdn Bhd"), "zeta-cafe-sdn-bhd");
        assert_eq!(slugify("  Acme, Corp.  "), "acme-corp");
        assert_eq!(slugify("日本"), "org");
    }

    #[test]
    fn folding_is_unicode_aware() {
        assert_eq!(fold("CAFÉ"), "café");
        assert_eq!(fold("CAFE\u{301}"), "café");
    }
}
