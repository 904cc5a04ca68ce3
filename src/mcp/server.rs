//! One MCP conversation, whatever carries it: the lifecycle (`initialize`, or the stateless
//! revision's per-request `_meta`), method dispatch, and turning tool outcomes into results.
//! Transports hand it decoded messages and a [`Link`] back to the client; it never fails on
//! input: every mistake is an answer.

use super::call::{self, Ctx};
use super::jsonrpc::{self, Incoming};
use super::policy::{self, Policy};
use super::resources;
use super::revision::{self, META_CAPS, META_CLIENT, META_VERSION, STATELESS};
use super::tools;
use crate::client::Client;
use crate::error::Result;
use crate::paths::Paths;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What a handler may do towards the client while it works.
pub trait Link {
    /// Sends a notification (progress) now.
    fn notify(&mut self, msg: Value);
    /// Whether the client cancelled request `id` (checked while a tool waits).
    fn cancelled(&mut self, id: &Value) -> bool;
}

const INSTRUCTIONS: &str = "wrangle runs and supervises background processes. Use `run` to \
start a dev server or build instead of `&`, `wait_for` instead of sleep loops, `logs` (with \
`grep`) to read output, and `stop` or `remove` when done. Output is bounded: follow `more` and \
`next_skip` (or `next_offset`, `cursor`) for more.";

pub struct Server {
    paths: Paths,
    pub policy: Policy,
    /// The revision `initialize` settled on.
    revision: Option<&'static str>,
    client_name: String,
    daemon: Option<(String, Client)>,
    /// Resource URIs the client subscribed to.
    pub subscribed: BTreeSet<String>,
}

impl Server {
    pub fn new(paths: Paths, policy: Policy) -> Server {
        Server {
            paths,
            policy,
            revision: None,
            client_name: String::new(),
            daemon: None,
            subscribed: BTreeSet::new(),
        }
    }

    /// The revision settled by `initialize` (None before it).
    pub fn revision(&self) -> Option<&'static str> {
        self.revision
    }

    /// Answers one line or body: None when nothing is to be sent back (notifications only).
    pub fn handle_text(&mut self, text: &[u8], link: &mut dyn Link) -> Option<Value> {
        let msgs = match jsonrpc::parse(text) {
            Ok(m) => m,
            Err(answer) => return Some(answer),
        };
        let batch = msgs.len() > 1 || text.trim_ascii_start().first() == Some(&b'[');
        let mut out: Vec<Value> = msgs
            .into_iter()
            .filter_map(|m| self.handle(m, link))
            .collect();
        match (batch, out.len()) {
            (_, 0) => None,
            (false, _) => out.pop(),
            (true, _) => Some(Value::Array(out)),
        }
    }

    /// Answers one message.
    pub fn handle(&mut self, msg: Value, link: &mut dyn Link) -> Option<Value> {
        match jsonrpc::classify(msg) {
            Incoming::Invalid { id, why } => Some(jsonrpc::error(
                &id,
                jsonrpc::INVALID_REQUEST,
                format!("invalid request: {why}"),
            )),
            Incoming::Response => None,
            Incoming::Notification { .. } => None,
            // A cancelled request gets no answer (Null marks it).
            Incoming::Request { id, method, params } => {
                Some(self.request(&id, &method, &params, link)).filter(|a| !a.is_null())
            }
        }
    }

    fn request(&mut self, id: &Value, method: &str, params: &Value, link: &mut dyn Link) -> Value {
        // The stateless revision: each request says who and which revision.
        if let Some(meta) = revision::stateless_meta(params) {
            let v = meta.get(META_VERSION).and_then(Value::as_str).unwrap_or("");
            if v != STATELESS {
                if method == "initialize" {
                    return self.initialize(id, params);
                }
                return jsonrpc::error_data(
                    id,
                    jsonrpc::UNSUPPORTED_VERSION,
                    format!("unsupported protocol version {v:?}"),
                    json!({"supported": revision::supported(), "requested": v}),
                );
            }
            if !meta.get(META_CAPS).is_some_and(Value::is_object) {
                return jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    format!("_meta must carry {META_CAPS} (an object)"),
                );
            }
            let name = meta
                .get(META_CLIENT)
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("client")
                .to_string();
            let answer = self.method(id, method, params, STATELESS, &name, link);
            return with_result_type(answer, method);
        }
        match method {
            "initialize" => return self.initialize(id, params),
            "ping" => return jsonrpc::result(id, json!({})),
            "server/discover" => return with_result_type(jsonrpc::result(id, discover()), method),
            _ => {}
        }
        let Some(rev) = self.revision else {
            return jsonrpc::error(
                id,
                jsonrpc::INVALID_REQUEST,
                format!("{method} before initialize: send initialize first (or use the stateless revision {STATELESS} with _meta)"),
            );
        };
        let name = self.client_name.clone();
        self.method(id, method, params, rev, &name, link)
    }

    fn initialize(&mut self, id: &Value, params: &Value) -> Value {
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        let rev = revision::negotiate(asked);
        self.revision = Some(rev);
        self.client_name = params
            .get("clientInfo")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("client")
            .to_string();
        jsonrpc::result(
            id,
            json!({
                "protocolVersion": rev,
                "capabilities": capabilities(),
                "serverInfo": server_info(),
                "instructions": INSTRUCTIONS,
            }),
        )
    }

    /// A method of an established conversation, at revision `rev`, for client `name`.
    fn method(
        &mut self,
        id: &Value,
        method: &str,
        params: &Value,
        rev: &'static str,
        name: &str,
        link: &mut dyn Link,
    ) -> Value {
        match method {
            "ping" => jsonrpc::result(id, json!({})),
            "server/discover" => jsonrpc::result(id, discover()),
            "tools/list" => {
                let list: Vec<Value> = tools::all()
                    .iter()
                    .filter(|t| self.policy.permits(t))
                    .map(|t| t.describe(rev))
                    .collect();
                jsonrpc::result(id, json!({ "tools": list }))
            }
            "tools/call" => self.call_tool(id, params, rev, name, link),
            "resources/list" => self.with_daemon(id, name, resources::list),
            "resources/templates/list" => jsonrpc::result(id, resources::templates()),
            "resources/read" => {
                let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                let uri = uri.to_string();
                self.with_daemon(id, name, |c, pol, origin| {
                    resources::read(c, pol, origin, &uri)
                })
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                let Some(uri) = params.get("uri").and_then(Value::as_str) else {
                    return jsonrpc::error(id, jsonrpc::INVALID_PARAMS, "\"uri\" is required");
                };
                if resources::entry_of(uri).is_none() {
                    return jsonrpc::error(
                        id,
                        jsonrpc::INVALID_PARAMS,
                        format!("no such resource {uri:?} (see resources/list)"),
                    );
                }
                match method {
                    "resources/subscribe" => self.subscribed.insert(uri.to_string()),
                    _ => self.subscribed.remove(uri),
                };
                jsonrpc::result(id, json!({}))
            }
            "logging/setLevel" => jsonrpc::result(id, json!({})),
            "prompts/list" => jsonrpc::result(id, json!({"prompts": []})),
            "initialize" => self.initialize(id, params),
            _ => jsonrpc::error(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("no method {method:?} (this server has tools/*, resources/*, ping)"),
            ),
        }
    }

    /// The daemon connection for client `name` (connecting, or starting the daemon, first).
    fn daemon(&mut self, name: &str) -> Result<&mut Client> {
        let origin = policy::originator(name);
        if self
            .daemon
            .as_ref()
            .is_none_or(|(o, c)| *o != origin || c.lost())
        {
            let c = Client::connect_or_start_as(&self.paths, &origin)?;
            self.daemon = Some((origin.clone(), c));
        }
        match &mut self.daemon {
            Some((_, c)) => Ok(c),
            None => unreachable!("connected above"),
        }
    }

    /// Runs `f` with the daemon; a failure is a JSON-RPC error.
    fn with_daemon(
        &mut self,
        id: &Value,
        name: &str,
        f: impl FnOnce(&mut Client, &Policy, &str) -> Result<Value>,
    ) -> Value {
        let origin = policy::originator(name);
        let policy = self.policy.clone();
        let r = self.daemon(name).and_then(|c| f(c, &policy, &origin));
        match r {
            Ok(v) => jsonrpc::result(id, v),
            Err(e) => jsonrpc::error(id, jsonrpc::INVALID_PARAMS, e.message),
        }
    }

    fn call_tool(
        &mut self,
        id: &Value,
        params: &Value,
        rev: &'static str,
        name: &str,
        link: &mut dyn Link,
    ) -> Value {
        let Some(tool) = params.get("name").and_then(Value::as_str) else {
            return jsonrpc::error(id, jsonrpc::INVALID_PARAMS, "tools/call needs \"name\"");
        };
        let Some(t) = tools::find(tool) else {
            let names: Vec<&str> = tools::all().iter().map(|t| t.name.as_str()).collect();
            return jsonrpc::error(
                id,
                jsonrpc::INVALID_PARAMS,
                format!("no tool {tool:?} (tools: {})", names.join(", ")),
            );
        };
        let empty = serde_json::Map::new();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return jsonrpc::result(id, tool_error("\"arguments\" must be an object")),
        };
        if let Some(why) = self.policy.refusal(tool) {
            return jsonrpc::result(id, tool_error(&why));
        }
        if let Some(bad) = args.keys().find(|k| !t.args.contains(k)) {
            return jsonrpc::result(
                id,
                tool_error(&format!(
                    "{tool}: unknown argument {bad:?} (it takes: {})",
                    t.args.join(", ")
                )),
            );
        }
        let token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
            .cloned();
        let origin = policy::originator(name);
        let policy = self.policy.clone();
        let client = match self.daemon(name) {
            Ok(c) => c,
            Err(e) => return jsonrpc::result(id, tool_error(&e.message)),
        };
        let mut ctx = Ctx {
            client,
            policy: &policy,
            originator: &origin,
            link,
            request: id.clone(),
            progress: token,
            cancelled: false,
        };
        let r = call::call(&mut ctx, t, args);
        let cancelled = ctx.cancelled;
        let result = match r {
            Ok(done) => {
                let mut text = done.text;
                let mut v = json!({"content": [], "isError": false});
                if rev >= "2025-06-18" {
                    v["structuredContent"] = done.data;
                } else {
                    text.push('\n');
                    text.push_str(&done.data.to_string());
                }
                v["content"] = json!([{"type": "text", "text": text}]);
                v
            }
            // The daemon's hints name CLI commands; an agent has tools.
            Err(e) => tool_error(&e.message.replace("see wrangle ls", "see the list tool")),
        };
        if cancelled {
            // The client gave up on it: no answer.
            return Value::Null;
        }
        jsonrpc::result(id, result)
    }
}

/// A tool result that reports a failure to the agent.
fn tool_error(msg: &str) -> Value {
    json!({"content": [{"type": "text", "text": msg}], "isError": true})
}

fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": false},
        "resources": {"subscribe": true, "listChanged": true},
    })
}

fn server_info() -> Value {
    json!({"name": "wrangle", "title": "wrangle process manager", "version": env!("CARGO_PKG_VERSION")})
}

/// The answer to `server/discover`.
fn discover() -> Value {
    json!({
        "resultType": "complete",
        "supportedVersions": revision::supported(),
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    })
}

/// A stateless revision result carries `resultType`, and the cacheable ones a cache hint:
/// what never changes while the server runs for 5 minutes, live data not at all.
fn with_result_type(mut answer: Value, method: &str) -> Value {
    if let Some(r) = answer.get_mut("result").and_then(Value::as_object_mut) {
        r.entry("resultType").or_insert(json!("complete"));
        let ttl = match method {
            "tools/list" | "prompts/list" | "resources/templates/list" | "server/discover" => {
                Some(300_000)
            }
            "resources/list" | "resources/read" => Some(0),
            _ => None,
        };
        if let Some(ttl) = ttl {
            r.insert("ttlMs".into(), json!(ttl));
            r.insert("cacheScope".into(), json!("private"));
        }
    }
    answer
}
