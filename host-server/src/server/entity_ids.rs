//! Entity ids at the server's boundary: an id with a control character (NUL, newline, escape,
//! C1 controls) is refused in requests and entity writes. Cedar accepts any string as an id,
//! but such ids are invisible in logs, consoles and audit records, truncate in C tools, and
//! let two ids that print the same name different entities. Plain Cedar (policy-core's own
//! path) is left as it is: this is the server's rule for what it stores and decides on.

use serde_json::Value;

use super::error::ApiError;

/// Whether `text` may hold a control character anywhere: JSON writes them escaped (`\u0000`,
/// `\n`...) or, for C1 controls, raw as `0xC2 0x80..0x9F`. Most bodies have neither byte, and
/// skip the walk below.
pub fn may_hold_controls(text: &str) -> bool {
    text.bytes().any(|b| b == b'\\' || b == 0xC2)
}

/// Refuses the first entity reference in `value` (`{"type", "id"}`, as in `principal`, `uid`,
/// `parents`, `remove` and `__entity`) whose type or id holds a control character; `at` names
/// where `value` sits in the body (e.g. `requests[2]`).
pub fn refuse_controls(value: &Value, at: &str) -> Result<(), ApiError> {
    let mut path = at.to_string();
    walk(value, &mut path)
}

/// One id (or name that becomes one) with a control character is refused; `at` names its place.
pub fn refuse_control_text(text: &str, at: impl FnOnce() -> String) -> Result<(), ApiError> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(ApiError::ControlCharacter {
            at: at(),
            code_point: format!("U+{:04X}", u32::from(c)),
        }),
        None => Ok(()),
    }
}

fn walk(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(ty)), Some(Value::String(id))) =
                (map.get("type"), map.get("id"))
            {
                for (field, text) in [("type", ty), ("id", id)] {
                    refuse_control_text(text, || format!("{path}.{field}"))?;
                }
            }
            for (key, v) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(v, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(v, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `refuse_controls` on a JSON body, parsed only when it may hold a control character.
pub fn refuse_controls_in(text: &str) -> Result<(), ApiError> {
    if !may_hold_controls(text) {
        return Ok(());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => refuse_controls(&value, ""),
        // Malformed bodies are refused by whoever parses them next, with the parser's message.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_with_control_characters_are_named_with_their_place() {
        let request = json!({
            "principal": {"type": "User", "id": "carol"},
            "action": {"type": "Action", "id": "view"},
            "resource": {"type": "Document", "id": "inv\u{0}1"},
        });
        let err = refuse_controls(&request, "requests[3]").err();
        assert!(
            matches!(&err, Some(ApiError::ControlCharacter { at, code_point })
                if at == "requests[3].resource.id" && code_point == "U+0000"),
            "{err:?}"
        );
        let parent = json!({"upsert": [{"uid": {"type": "User", "id": "a"}, "attrs": {},
            "parents": [{"type": "Team", "id": "x\u{85}"}]}]});
        assert!(refuse_controls(&parent, "").is_err());
        // Control characters elsewhere (a context message) are data, not ids.
        let context = json!({"principal": {"type": "User", "id": "carol"},
            "context": {"note": "line\nbreak"}});
        assert!(refuse_controls(&context, "").is_ok());
    }

    #[test]
    fn bodies_without_escapes_or_c1_bytes_are_not_parsed() {
        assert!(!may_hold_controls(r#"{"id": "plain é"}"#));
        assert!(may_hold_controls(r#"{"id": "a\u0000"}"#));
        assert!(may_hold_controls("{\"id\": \"a\u{85}\"}"));
    }
}
