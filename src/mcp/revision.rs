//! Protocol revisions: which we speak, what `initialize` answers, and the stateless revision's
//! per-request `_meta` (its protocol version and client identity). What differs between
//! revisions (fields of tools and results) is decided where those are built, by comparing
//! revision strings, which sort by date.

use serde_json::Value;

/// The revisions negotiated through `initialize`, oldest first.
pub const HANDSHAKE: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless revision: no `initialize`; each request names its revision in `_meta`.
pub const STATELESS: &str = "2026-07-28";

pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT: &str = "io.modelcontextprotocol/clientInfo";
pub const META_CAPS: &str = "io.modelcontextprotocol/clientCapabilities";

/// Every revision we speak.
pub fn supported() -> Vec<&'static str> {
    let mut v = HANDSHAKE.to_vec();
    v.push(STATELESS);
    v
}

/// The revision `initialize` answers to a client asking for `asked`: that one if we speak it,
/// else the latest handshake revision (the client then decides whether it can go on).
pub fn negotiate(asked: Option<&str>) -> &'static str {
    asked
        .and_then(|a| HANDSHAKE.iter().find(|r| **r == a))
        .copied()
        .unwrap_or(HANDSHAKE[HANDSHAKE.len() - 1])
}

/// The stateless `_meta` of a request's params, if it has one that names a revision.
pub fn stateless_meta(params: &Value) -> Option<&serde_json::Map<String, Value>> {
    params
        .get("_meta")
        .and_then(Value::as_object)
        .filter(|m| m.contains_key(META_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_revisions_are_answered_and_others_get_the_latest() {
        assert_eq!(negotiate(Some("2025-03-26")), "2025-03-26");
        assert_eq!(negotiate(Some("2024-11-05")), "2024-11-05");
        assert_eq!(negotiate(Some("1999-01-01")), "2025-11-25");
        assert_eq!(negotiate(Some(STATELESS)), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }
}
