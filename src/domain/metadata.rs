//! The fields an integration keeps of its own (issue 14): an external id and a metadata
//! object on users and organizations (metadata on memberships too), and the list filter on
//! a top-level metadata key.

use serde_json::Value;

/// Most characters of an external id.
pub const EXTERNAL_ID_MAX: usize = 255;
/// Most bytes of a metadata object, serialized (canonical: keys sorted, no spaces).
pub const METADATA_MAX_BYTES: usize = 8 * 1024;
/// Deepest nesting of a metadata object: the object itself is depth 1.
pub const METADATA_MAX_DEPTH: usize = 5;
/// Most characters of a metadata key in a list filter (`metadata[key]=value`).
pub const FILTER_KEY_MAX: usize = 64;
/// Most metadata filters in one list request.
pub const MAX_FILTERS: usize = 10;

/// An external id: 1 to 255 characters, no control characters, kept as given.
pub fn parse_external_id(raw: &str) -> Result<String, String> {
    let n = raw.chars().count();
    if n == 0 || n > EXTERNAL_ID_MAX {
        return Err(format!(
            "External id must be 1 to {EXTERNAL_ID_MAX} characters"
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err("External id must not contain control characters".into());
    }
    Ok(raw.to_owned())
}

/// How deeply `v` nests: a scalar 0, an object or array 1 + its deepest item.
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A metadata object, checked (an object, at most 5 deep, at most 8 KiB serialized) and
/// serialized canonically (serde_json's map keeps keys sorted): equal objects give equal text.
pub fn parse_metadata(v: &Value) -> Result<String, String> {
    if !v.is_object() {
        return Err("Metadata must be a JSON object".into());
    }
    if depth(v) > METADATA_MAX_DEPTH {
        return Err(format!(
            "Metadata must nest at most {METADATA_MAX_DEPTH} levels deep"
        ));
    }
    let text = v.to_string();
    if text.len() > METADATA_MAX_BYTES {
        return Err(format!(
            "Metadata must be at most {METADATA_MAX_BYTES} bytes serialized, it is {}",
            text.len()
        ));
    }
    Ok(text)
}

/// The key of a list filter `metadata[key]`: 1 to 64 letters, digits, `_` or `-`.
pub fn filter_key(param: &str) -> Option<&str> {
    let key = param.strip_prefix("metadata[")?.strip_suffix(']')?;
    let ok = !key.is_empty()
        && key.len() <= FILTER_KEY_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_is_canonical_and_bounded() {
        assert_eq!(
            parse_metadata(&json!({"b": 1, "a": {"c": true}})).unwrap(),
            r#"{"a":{"c":true},"b":1}"#
        );
        assert!(parse_metadata(&json!([1])).is_err());
        assert!(parse_metadata(&json!({"a":{"b":{"c":{"d":{"e":1}}}}})).is_ok());
        assert!(parse_metadata(&json!({"a":{"b":{"c":{"d":{"e":{}}}}}})).is_err());
        assert!(parse_metadata(&json!({"a": "x".repeat(8200)})).is_err());
    }

    #[test]
    fn filter_keys_are_bracketed_simple_names() {
        assert_eq!(filter_key("metadata[plan]"), Some("plan"));
        assert_eq!(filter_key("metadata[a-b_9]"), Some("a-b_9"));
        for bad in [
            "metadata[]",
            "metadata[a",
            "metadata[a.b]",
            "metadata[a]]",
            "meta[a]",
        ] {
            assert_eq!(filter_key(bad), None, "{bad}");
        }
    }
}
