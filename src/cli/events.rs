//! `wrangle events`: lifecycle events (and log lines) as they happen, one per line.

use super::render;
use super::select::with_selector;
use super::{client, Exit};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use std::io::Write;

with_selector! {
    /// print lifecycle events (and log lines) of entries as they happen
    #[argh(subcommand, name = "events")]
    pub struct EventsCmd {
        /// which events: status (lifecycle, the default), log (output lines) or all
        #[argh(option, default = "String::from(\"status\")")]
        pub r#type: String,
        /// print JSON lines
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all (default: every entry, including ones added later)
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn events(paths: &Paths, c: EventsCmd) -> Result<Exit> {
    let types = match c.r#type.as_str() {
        "status" => 1,
        "log" => 2,
        "all" => 3,
        other => bail!(Code::Usage, "--type {other:?}: use status, log or all"),
    };
    let mut client = client(paths)?;
    let req = client.subscribe(&c.selector(&c.targets), types)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    while let Some(ev) = client.next_event(req)? {
        let line = if c.json {
            serde_json::to_string(&ev).unwrap_or_default()
        } else {
            let who = if ev.kind == crate::proto::EventKind::Missed {
                "wrangle".to_string()
            } else {
                render::label(ev.id, &ev.name)
            };
            match &ev.stream {
                Some(s) => format!("{} {who} {s}| {}", render::time(ev.ts_ms), ev.message),
                None => format!(
                    "{} {who} {}: {}",
                    render::time(ev.ts_ms),
                    ev.kind,
                    ev.message
                ),
            }
        };
        let written = writeln!(out, "{line}").and_then(|_| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(Error::io("cannot write to standard output", e)),
        }
    }
    Ok(0)
}
