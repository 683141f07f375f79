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

/// Whether `c` shows nothing on its own: Unicode's default-ignorable code points (zero-width
/// spaces and joiners, bidirectional controls, the BOM, soft hyphen, fillers, variation
/// selectors, tags). A name made only of these is no name; an email may contain none.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// `s` without leading and trailing white space and invisible characters.
pub fn trim_visible(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
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
