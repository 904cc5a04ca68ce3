//! `wrangle events`: lifecycle events (and log lines) as they happen, one per line.

use super::render;
use super::select::with_selector;
use super::{client, Exit};
use crate::client::reconnect::{self, Notice};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::{EventKind, LiveEvent};
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
        /// show times in UTC rather than local time
        #[argh(switch)]
        pub utc: bool,
        /// names, ids or all (default: every entry, including ones added later)
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn events(paths: &Paths, c: EventsCmd) -> Result<Exit> {
    render::use_utc(c.utc);
    let types = match c.r#type.as_str() {
        "status" => 1,
        "log" => 2,
        "all" => 3,
        other => bail!(Code::Usage, "--type {other:?}: use status, log or all"),
    };
    let sel = c.selector(&c.targets);
    let mut client = client(paths)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    // Where the stream got to: the time of the last event printed (at first, of the
    // subscription) and the events printed at that time, so that a stream resumed after a
    // reconnect starts there, with what the daemon kept, without repeating a line.
    let mut at_ms = crate::util::now_ms();
    let mut printed_at: Vec<LiveEvent> = Vec::new();
    reconnect::resilient(paths, &mut client, Notice::Stderr, |client, resumed| {
        let req = client.subscribe(&sel, types, resumed.then_some(at_ms))?;
        while let Some(ev) = client.next_event(req)? {
            // Only lifecycle events are replayed (two equal log lines in one millisecond
            // are both real).
            let lifecycle = ev.kind != EventKind::Log;
            if lifecycle && ev.ts_ms == at_ms && printed_at.contains(&ev) {
                continue; // printed before the reconnect
            }
            print(&mut out, &ev, c.json)?;
            if ev.ts_ms > at_ms {
                at_ms = ev.ts_ms;
                printed_at.clear();
            }
            if lifecycle && ev.ts_ms == at_ms {
                printed_at.push(ev);
            }
        }
        Ok(0)
    })
}

/// Prints one event as a line; a closed output ends the command quietly.
fn print(out: &mut impl Write, ev: &LiveEvent, json: bool) -> Result<()> {
    let line = if json {
        serde_json::to_string(ev).unwrap_or_default()
    } else {
        let who = if ev.kind == EventKind::Missed {
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
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("cannot write to standard output", e)),
    }
}
