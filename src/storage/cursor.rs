//! The opaque keyset cursors of the lists walked by `after`.

/// An opaque keyset cursor: a position in the (folded name, id) order. It holds the key
/// itself, so it stays valid when that organization is deleted meanwhile.
pub fn encode_cursor(key: &str, id: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{id}")
}

/// The position a cursor names; `None` if it is not one of ours. The empty cursor is the start.
pub fn decode_cursor(c: &str) -> Option<(String, String)> {
    if c.is_empty() {
        return Some((String::new(), String::new()));
    }
    let (hex, id) = c.split_once('.')?;
    if hex.len() % 2 != 0 || id.is_empty() || id.len() > 100 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some((String::from_utf8(bytes?).ok()?, id.to_owned()))
}
