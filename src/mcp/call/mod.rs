//! Tool calls: the context a handler gets (the daemon, the bounds, a link back to the client),
//! reading arguments with errors that say what to send instead, the selector an agent may use,
//! and the dispatch to each family's handler: `entries.rs` (list, status, run, start, stop,
//! restart, remove, signal), `io.rs` (send), `logs.rs`, `wait.rs` (wait_for), `services.rs`
//! (up, down), `events.rs`.

mod entries;
mod events;
mod io;
mod logs;
mod services;
mod wait;

use super::policy::Policy;
use super::server::Link;
use super::tools::Tool;
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::proto::{ActionResult, EntryInfo, Selector};
use serde_json::{json, Map, Value};

pub type Args = Map<String, Value>;

/// What a handler works with.
pub struct Ctx<'a> {
    pub client: &'a mut Client,
    pub policy: &'a Policy,
    /// `mcp:<client name>`: entries it starts carry it; `--own-only` selects by it.
    pub originator: &'a str,
    pub link: &'a mut dyn Link,
    /// The JSON-RPC id of this call (to notice its cancellation).
    pub request: Value,
    /// The client's progress token, when it wants progress.
    pub progress: Option<Value>,
    /// Set when the client cancelled the call.
    pub cancelled: bool,
}

/// A tool's outcome: the structured content and a short text for reading.
pub struct Done {
    pub data: Value,
    pub text: String,
}

pub fn call(ctx: &mut Ctx, t: &Tool, args: &Args) -> Result<Done> {
    match t.name.as_str() {
        "list" => entries::list(ctx, args),
        "status" => entries::status(ctx, args),
        "run" => entries::run(ctx, args),
        "start" | "stop" | "restart" | "remove" | "signal" => entries::act(ctx, &t.name, args),
        "send" => io::send(ctx, args),
        "screen" => io::screen(ctx, args),
        "send_keys" => io::send_keys(ctx, args),
        "logs" => logs::logs(ctx, args),
        "wait_for" => wait::wait_for(ctx, args),
        "up" => services::up(ctx, args),
        "down" => services::down(ctx, args),
        "events" => events::events(ctx, args),
        other => Err(Error::new(
            Code::Internal,
            format!("no handler for {other}"),
        )),
    }
}

fn bad(name: &str, want: &str) -> Error {
    Error::new(Code::Usage, format!("argument {name:?} must be {want}"))
}

pub fn opt_str<'a>(args: &'a Args, name: &str) -> Result<Option<&'a str>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(name, "a string")),
    }
}

pub fn req_str<'a>(args: &'a Args, name: &str) -> Result<&'a str> {
    opt_str(args, name)?
        .ok_or_else(|| Error::new(Code::Usage, format!("argument {name:?} is required")))
}

pub fn opt_u64(args: &Args, name: &str) -> Result<Option<u64>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(name, "a whole number, 0 or more")),
    }
}

pub fn opt_i64(args: &Args, name: &str) -> Result<Option<i64>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(name, "a whole number")),
    }
}

pub fn flag(args: &Args, name: &str) -> Result<bool> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(name, "true or false")),
    }
}

pub fn strings(args: &Args, name: &str) -> Result<Vec<String>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad(name, "a list of strings")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(bad(name, "a list of strings")),
    }
}

/// The selector the arguments describe, narrowed to the agent's own entries under
/// `--own-only`.
pub fn selector(ctx: &Ctx, args: &Args) -> Result<Selector> {
    let mut sel = Selector {
        targets: strings(args, "targets")?,
        tag: strings(args, "tag")?,
        group: strings(args, "group")?,
        state: strings(args, "state")?,
        search: strings(args, "search")?,
        alive: flag(args, "alive")?,
        all: flag(args, "all")?,
        ..Selector::default()
    };
    if let Some(t) = opt_str(args, "target")? {
        sel.targets.insert(0, t.to_string());
    }
    own(ctx, &mut sel);
    Ok(sel)
}

/// A selector for one named target (own entries only under `--own-only`).
pub fn one(ctx: &Ctx, target: &str) -> Selector {
    let mut sel = Selector::target(target);
    own(ctx, &mut sel);
    sel
}

fn own(ctx: &Ctx, sel: &mut Selector) {
    if ctx.policy.own_only {
        sel.originator = vec![ctx.originator.to_string()];
    }
}

/// An entry as tools report it (the fields an agent needs; `status` adds more).
pub fn entry_json(e: &EntryInfo) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "state": e.state,
        "pid": e.pid,
        "run": e.run,
        "restarts": e.restarts,
        "command": e.command,
        "cwd": e.cwd,
        "tags": e.tags,
        "groups": e.groups,
        "exit_code": e.exit_code,
        "exit_signal": e.exit_signal,
        "uptime_ms": e.uptime_ms,
        "originator": e.originator,
        "error": e.error,
        "resource": super::resources::uri(e.id),
    })
}

pub use crate::util::label;

/// Results of a change, as structured content and text.
pub fn results(verb: &str, rs: &[ActionResult]) -> Done {
    let items: Vec<Value> = rs
        .iter()
        .map(|r| {
            json!({"id": r.id, "name": r.name, "outcome": r.outcome.to_string(),
                   "pid": r.pid, "message": r.message})
        })
        .collect();
    let mut text = String::new();
    for r in rs {
        text.push_str(&format!("{verb} {}: {}", label(r.id, &r.name), r.outcome));
        if let Some(m) = &r.message {
            text.push_str(&format!(" ({m})"));
        }
        text.push('\n');
    }
    if rs.is_empty() {
        text.push_str("no entry was changed\n");
    }
    Done {
        data: json!({ "results": items }),
        text,
    }
}
