//! JSON-RPC 2.0 as MCP uses it: sorting what arrives into requests, notifications and stray
//! responses (anything else is an `Invalid` with the reason), and building results, errors and
//! notifications. Nothing here can fail on input: every mistake becomes a value to answer.

use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
/// The stateless revision's UnsupportedProtocolVersionError.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// One message, sorted.
#[derive(Debug)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// A response to something we asked (we ask nothing: ignored).
    Response,
    /// Not a JSON-RPC message; `id` when one could be read.
    Invalid {
        id: Value,
        why: String,
    },
}

/// Sorts one decoded JSON value.
pub fn classify(v: Value) -> Incoming {
    let Value::Object(mut m) = v else {
        return Incoming::Invalid {
            id: Value::Null,
            why: "a message must be a JSON object".into(),
        };
    };
    let id = m.remove("id");
    let valid_id = matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)));
    let reply_id = match &id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Invalid {
            id: reply_id,
            why: "\"jsonrpc\" must be \"2.0\"".into(),
        };
    }
    if !valid_id {
        return Incoming::Invalid {
            id: Value::Null,
            why: "\"id\" must be a string or a number".into(),
        };
    }
    let Some(method) = m.remove("method") else {
        if m.contains_key("result") || m.contains_key("error") {
            return Incoming::Response;
        }
        return Incoming::Invalid {
            id: reply_id,
            why: "no \"method\"".into(),
        };
    };
    let Value::String(method) = method else {
        return Incoming::Invalid {
            id: reply_id,
            why: "\"method\" must be a string".into(),
        };
    };
    let params = m.remove("params").unwrap_or(Value::Null);
    if !matches!(params, Value::Null | Value::Object(_)) {
        return Incoming::Invalid {
            id: reply_id,
            why: "\"params\" must be an object".into(),
        };
    }
    match id {
        Some(_) if method.starts_with("notifications/") => Incoming::Invalid {
            id: reply_id,
            why: format!("{method} is a notification: send it without an \"id\""),
        },
        Some(_) => Incoming::Request {
            id: reply_id,
            method,
            params,
        },
        None => Incoming::Notification { method, params },
    }
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

pub fn error_data(id: &Value, code: i64, message: impl Into<String>, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id,
           "error": {"code": code, "message": message.into(), "data": data}})
}

pub fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

/// Parses one line (or HTTP body): a message, or a batch. Err is the answer to send.
pub fn parse(text: &[u8]) -> Result<Vec<Value>, Value> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Array(a)) if a.is_empty() => Err(error(
            &Value::Null,
            INVALID_REQUEST,
            "an empty batch is not a request",
        )),
        Ok(Value::Array(a)) => Ok(a),
        Ok(v) => Ok(vec![v]),
        Err(e) => Err(error(
            &Value::Null,
            PARSE_ERROR,
            format!("not valid JSON: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sorted_and_mistakes_named() {
        let c = |s: &str| classify(serde_json::from_str(s).unwrap());
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Incoming::Request { .. }
        ));
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Incoming::Notification { .. }
        ));
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","id":1,"method":"notifications/initialized"}"#),
            Incoming::Invalid { .. }
        ));
        assert!(matches!(
            c(r#"{"id":1,"method":"ping"}"#),
            Incoming::Invalid { .. }
        ));
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#),
            Incoming::Invalid { .. }
        ));
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            Incoming::Invalid { .. }
        ));
        assert!(matches!(
            c(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Incoming::Response
        ));
        assert!(matches!(c("3"), Incoming::Invalid { .. }));
        assert!(parse(b"{").is_err() && parse(b"[]").is_err());
    }
}
