//! Resources: each entry's latest log as `wrangle://entry/ID/log` (its last lines, bounded),
//! listed, read, and subscribed to (updates are sent by the transport's watcher).

use super::policy::Policy;
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::proto::{ReadLogQuery, Selector};
use serde_json::{json, Value};

/// Lines a resource read returns (the tail of the latest run).
const READ_LINES: usize = 200;
const LIST_MAX: usize = 200;

pub fn uri(id: u64) -> String {
    format!("wrangle://entry/{id}/log")
}

/// The entry id a resource URI names.
pub fn entry_of(uri: &str) -> Option<u64> {
    uri.strip_prefix("wrangle://entry/")?
        .strip_suffix("/log")?
        .parse()
        .ok()
}

fn own(policy: &Policy, origin: &str, sel: &mut Selector) {
    if policy.own_only {
        sel.originator = vec![origin.to_string()];
    }
}

pub fn list(c: &mut Client, policy: &Policy, origin: &str) -> Result<Value> {
    let mut sel = Selector::default();
    own(policy, origin, &mut sel);
    let es = c.list(&sel)?;
    let rs: Vec<Value> = es
        .iter()
        .rev()
        .take(LIST_MAX)
        .rev()
        .map(|e| {
            let name = e.name.clone().unwrap_or_else(|| e.id.to_string());
            json!({
                "uri": uri(e.id),
                "name": format!("{name} log"),
                "description": format!("the last {READ_LINES} lines of the latest run of {name} ({}, {})", e.command, e.state),
                "mimeType": "text/plain",
            })
        })
        .collect();
    Ok(json!({ "resources": rs }))
}

pub fn templates() -> Value {
    json!({"resourceTemplates": [{
        "uriTemplate": "wrangle://entry/{id}/log",
        "name": "entry log",
        "description": "the last lines of the latest run of entry {id}",
        "mimeType": "text/plain",
    }]})
}

pub fn read(c: &mut Client, policy: &Policy, origin: &str, uri_s: &str) -> Result<Value> {
    let id = entry_of(uri_s).ok_or_else(|| {
        Error::new(
            Code::Usage,
            format!("no such resource {uri_s:?}: use wrangle://entry/ID/log (see resources/list)"),
        )
    })?;
    let mut sel = Selector::target(id.to_string());
    own(policy, origin, &mut sel);
    let r = c.read_log(&ReadLogQuery {
        sel,
        max_lines: Some(READ_LINES),
        max_bytes: Some(64 << 10),
        ..ReadLogQuery::default()
    })?;
    let mut text = String::new();
    for l in &r.lines {
        text.push_str(&l.text);
        text.push('\n');
    }
    Ok(json!({"contents": [{"uri": uri_s, "mimeType": "text/plain", "text": text}]}))
}
