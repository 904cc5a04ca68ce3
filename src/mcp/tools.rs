//! The tool table: names, descriptions, input and output JSON Schemas and annotations, kept as
//! data in `tools.json` (compact in the binary, easy to read and review) and expanded once:
//! `$ref`s to shared definitions are inlined, and `"sel": true` adds the selector properties.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// One tool as the server uses it.
pub struct Tool {
    pub name: String,
    /// Changes something (refused by `--read-only`).
    pub write: bool,
    /// Takes the selector properties (target, tag, ...).
    pub sel: bool,
    /// The MCP `Tool` object, every field (trimmed per revision by [`Tool::describe`]).
    pub full: Value,
    /// Argument names the input schema knows.
    pub args: Vec<String>,
}

static TABLE: OnceLock<Vec<Tool>> = OnceLock::new();

/// Every tool, in table order.
pub fn all() -> &'static [Tool] {
    TABLE.get_or_init(load)
}

pub fn find(name: &str) -> Option<&'static Tool> {
    all().iter().find(|t| t.name == name)
}

fn load() -> Vec<Tool> {
    let doc: Value = serde_json::from_str(include_str!("tools.json")).unwrap_or_default();
    let defs = doc["defs"].clone();
    let tools = doc["tools"].as_array().cloned().unwrap_or_default();
    tools
        .into_iter()
        .map(|t| {
            let sel = t["input"]["sel"].as_bool().unwrap_or(false);
            let mut props = Map::new();
            if sel {
                if let Some(m) = defs["sel"].as_object() {
                    props.extend(m.clone());
                }
            }
            if let Some(m) = t["input"]["properties"].as_object() {
                props.extend(m.clone());
            }
            let args = props.keys().cloned().collect();
            let mut input = serde_json::json!({"type": "object", "properties": props});
            if let Some(r) = t["input"].get("required") {
                input["required"] = r.clone();
            }
            let output = inline(&t["output"], &defs);
            let full = serde_json::json!({
                "name": t["name"],
                "title": t["title"],
                "description": t["description"],
                "inputSchema": input,
                "outputSchema": output,
                "annotations": t["annotations"],
            });
            Tool {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                write: t["write"].as_bool().unwrap_or(true),
                sel,
                full,
                args,
            }
        })
        .collect()
}

/// `v` with every `{"$ref": "#/defs/NAME"}` replaced by the definition.
fn inline(v: &Value, defs: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                if let Some(name) = r.strip_prefix("#/defs/") {
                    return inline(&defs[name], defs);
                }
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), inline(v, defs)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(v, defs)).collect()),
        v => v.clone(),
    }
}

impl Tool {
    /// The `Tool` object for a client speaking `revision`: titles and output schemas came in
    /// 2025-06-18, annotations in 2025-03-26.
    pub fn describe(&self, revision: &str) -> Value {
        let mut t = self.full.clone();
        if let Some(m) = t.as_object_mut() {
            if revision < "2025-06-18" {
                m.remove("outputSchema");
                m.remove("title");
            }
            if revision < "2025-03-26" {
                m.remove("annotations");
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_tool_has_schemas_and_annotations() {
        let all = super::all();
        assert!(all.len() >= 14, "{}", all.len());
        for t in all {
            let f = &t.full;
            assert_eq!(f["inputSchema"]["type"], "object", "{}", t.name);
            assert_eq!(f["outputSchema"]["type"], "object", "{}", t.name);
            assert!(f["annotations"]["readOnlyHint"].is_boolean(), "{}", t.name);
            assert_eq!(f["annotations"]["readOnlyHint"] == true, !t.write);
            assert!(!f.to_string().contains("$ref"), "{}", t.name);
        }
    }
}
