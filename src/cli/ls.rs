//! `wrangle ls` and `wrangle status`: looking at entries.

use super::render;
use super::select::with_selector;
use super::term;
use super::{client, print_json, Exit};
use crate::error::{Code, Result};
use crate::paths::Paths;
use crate::proto::{EntryInfo, ErrOutput, Input, Output, Restart, RunSpec};

with_selector! {
    /// list entries: id, name, pid, state, uptime, restarts, CPU, memory, command
    #[argh(subcommand, name = "ls")]
    pub struct LsCmd {
        /// print JSON (an array of entries)
        #[argh(switch)]
        pub json: bool,
        /// print ids only
        #[argh(switch, short = 'q')]
        pub quiet: bool,
        /// print names only (the id for unnamed entries)
        #[argh(switch)]
        pub names: bool,
        /// add tags, groups, originator, working folder and terminal title
        #[argh(switch)]
        pub wide: bool,
        /// order by id (the default), name, cpu, mem, uptime or restarts (the last four
        /// largest first)
        #[argh(option)]
        pub sort: Option<String>,
        /// colour states: auto (on a terminal, unless NO_COLOR is set), always or never
        #[argh(option)]
        pub color: Option<String>,
        /// cut lines to this many columns (0: never cut; default: COLUMNS, else the terminal's
        /// width, else never)
        #[argh(option)]
        pub width: Option<usize>,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// show everything about entries, with their recent events
    #[argh(subcommand, name = "status")]
    pub struct StatusCmd {
        /// print JSON (an array of entries)
        #[argh(switch)]
        pub json: bool,
        /// show the values of environment variables whose names look secret (KEY, SECRET,
        /// TOKEN, PASSWORD)
        #[argh(switch)]
        pub show_env: bool,
        /// show times in UTC rather than local time
        #[argh(switch)]
        pub utc: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn ls(paths: &Paths, c: LsCmd) -> Result<Exit> {
    let colour = term::color(c.color.as_deref())?;
    let sort = c.sort.as_deref().unwrap_or("id");
    if !SORTS.contains(&sort) {
        bail!(
            Code::Usage,
            "--sort: {sort:?} is not one of {}",
            SORTS.join(", ")
        );
    }
    if (c.quiet || c.names) && !c.json {
        // Ids or names only: the daemon answers without building the full listing.
        let entries = client(paths)?.list_brief(&c.selector(&c.targets))?;
        let mut out = String::with_capacity(entries.len() * 8);
        for e in &entries {
            match (&e.name, c.names) {
                (Some(n), true) => out.push_str(n),
                _ => out.push_str(&e.id.to_string()),
            }
            out.push('\n');
        }
        return match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
            Ok(()) => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
            Err(e) => Err(crate::error::Error::io(
                "cannot write to standard output",
                e,
            )),
        };
    }
    let mut entries = client(paths)?.list(&c.selector(&c.targets))?;
    sort_entries(&mut entries, sort);
    if c.json {
        print_json(&entries)?;
    } else {
        let mut header = vec![
            "ID", "NAME", "PID", "STATE", "UPTIME", "RESTARTS", "CPU", "MEM",
        ];
        if c.wide {
            header.extend(["TAGS", "GROUPS", "ORIGINATOR", "CWD"]);
            header.push("TITLE");
        }
        header.push("COMMAND");
        let rows: Vec<Vec<String>> = entries.iter().map(|e| row(e, c.wide)).collect();
        let layout = render::Layout {
            width: term::width(c.width),
            paint: colour.then(|| (3, entries.iter().map(state_colour).collect())),
        };
        render::table(&header, &rows, &layout);
    }
    Ok(0)
}

/// What `--sort` takes.
const SORTS: [&str; 6] = ["id", "name", "cpu", "mem", "uptime", "restarts"];

/// Orders entries by `key` (one of [`SORTS`]): id and name ascending (unnamed entries after
/// the named ones), the measures largest first; ties by id.
fn sort_entries(entries: &mut [EntryInfo], key: &str) {
    entries.sort_unstable_by(|a, b| {
        let by = match key {
            "name" => match (&a.name, &b.name) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            "cpu" => b
                .cpu_percent
                .unwrap_or(-1.0)
                .total_cmp(&a.cpu_percent.unwrap_or(-1.0)),
            "mem" => b.rss_bytes.cmp(&a.rss_bytes),
            "uptime" => b.uptime_ms.cmp(&a.uptime_ms),
            "restarts" => b.restarts.cmp(&a.restarts),
            _ => std::cmp::Ordering::Equal,
        };
        by.then(a.id.cmp(&b.id))
    });
}

/// The colour of an entry's state: green running, yellow on the way (starting, stopping,
/// backoff), red failed (errored, or exited other than with code 0), none at rest.
fn state_colour(e: &EntryInfo) -> &'static str {
    match e.state.as_str() {
        "running" => "32",
        "starting" | "stopping" | "backoff" => "33",
        "errored" => "1;31",
        "exited" if e.exit_code != Some(0) => "31",
        _ => "",
    }
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn row(e: &EntryInfo, wide: bool) -> Vec<String> {
    let mut state = match e.state.as_str() {
        "exited" => format!("exited({})", render::ending(e)),
        s => s.to_string(),
    };
    if !e.leftovers.is_empty() {
        // Processes ended runs left running (see --leftovers).
        state.push_str(&format!("+{}", e.leftovers.len()));
    }
    let mut r = vec![
        e.id.to_string(),
        e.name.clone().unwrap_or_else(|| "-".into()),
        dash(e.pid),
        state,
        render::uptime(e),
        e.restarts.to_string(),
        e.cpu_percent
            .map(|c| format!("{c:.1}%"))
            .unwrap_or_else(|| "-".into()),
        e.rss_bytes.map(render::bytes).unwrap_or_else(|| "-".into()),
    ];
    if wide {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "-".into()
            } else {
                v.join(",")
            }
        };
        r.push(list(&e.tags));
        r.push(list(&e.groups));
        r.push(e.originator.clone().unwrap_or_else(|| "-".into()));
        r.push(e.cwd.clone());
        // A terminal's window title (OSC 0/2).
        r.push(e.title.clone().unwrap_or_else(|| "-".into()));
    }
    r.push(term::one_line(&e.command));
    r
}

pub fn status(paths: &Paths, c: StatusCmd) -> Result<Exit> {
    render::use_utc(c.utc);
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(
            Code::Usage,
            "status: say which entry (a name, an id, all, or filter flags)"
        );
    }
    let entries = client(paths)?.status(&sel, c.show_env)?;
    if c.json {
        print_json(&entries)?;
        return Ok(0);
    }
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_status(e);
    }
    Ok(0)
}

/// A duration in milliseconds, exactly, as flags take it.
fn exact_ms(ms: u64) -> String {
    crate::util::duration::exact(std::time::Duration::from_millis(ms))
}

/// The parts of the spec that `status` shows besides command, folder and stop.
fn print_spec(s: &RunSpec, kv: &dyn Fn(&str, String)) {
    kv("restart", s.restart.as_str().to_string());
    if s.restart != Restart::Never {
        kv(
            "backoff",
            format!(
                "{}, x{}, at most {}",
                exact_ms(s.backoff.initial_ms),
                s.backoff.factor,
                exact_ms(s.backoff.max_ms)
            ),
        );
        kv(
            "max restarts",
            match s.max_restarts {
                0 => "no limit".into(),
                n => format!("{n} in a row"),
            },
        );
        kv("min uptime", exact_ms(s.min_uptime_ms));
    }
    let file = |kind: &str, path: &str| format!("{kind} {path}");
    if s.pty {
        let [rows, cols] = s.size.unwrap_or([24, 80]);
        kv("terminal", format!("yes, {rows}x{cols}"));
    } else {
        kv("terminal", "no".into());
    }
    kv(
        "stdin",
        match &s.stdin {
            Input::Null => "null".into(),
            Input::Stream => "stream (send, attach)".into(),
            Input::File(p) => file("file", p),
        },
    );
    if !s.pty {
        kv(
            "stdout",
            match &s.stdout {
                Output::Log => "log".into(),
                Output::Null => "null".into(),
                Output::File(p) => file("file", p),
            },
        );
        kv(
            "stderr",
            match &s.stderr {
                ErrOutput::Log => "log".into(),
                ErrOutput::Null => "null".into(),
                ErrOutput::Stdout => "stdout (merged)".into(),
                ErrOutput::File(p) => file("file", p),
            },
        );
    }
    kv(
        "logs",
        match (s.log_max_size, s.log_keep) {
            (Some(0), _) => "never rotated".into(),
            (Some(m), Some(k)) => format!(
                "rotated at {}, {} kept per run",
                render::bytes(m),
                render::count(k as usize, "segment", "segments")
            ),
            _ => "the daemon's defaults".into(),
        },
    );
    kv("on leftovers", s.leftovers.as_str().to_string());
}

fn print_status(e: &EntryInfo) {
    let kv = |k: &str, v: String| println!("{:<14}{v}", format!("{k}:"));
    kv("id", e.id.to_string());
    kv("name", e.name.clone().unwrap_or_else(|| "-".into()));
    let state = match (e.state.as_str(), e.pid) {
        ("exited" | "stopped", _) => format!("{} ({})", e.state, render::ending(e)),
        (s, Some(p)) => format!("{s} (pid {p}, up {})", render::uptime(e)),
        (s, None) => s.to_string(),
    };
    kv("state", state);
    if e.adopted {
        kv(
            "adopted",
            "yes: not started by this daemon, so its output is not captured".into(),
        );
    }
    kv("command", e.command.clone());
    if let Some(t) = &e.title {
        kv("title", t.clone());
    }
    kv("cwd", e.cwd.clone());
    kv("run", format!("{} (restarts: {})", e.run, e.restarts));
    kv("created", render::time(e.created_at_ms));
    if let Some(s) = e.started_at_ms {
        kv("started", render::time(s));
    }
    if let Some(s) = e.ended_at_ms {
        kv("ended", render::time(s));
    }
    if let Some(c) = e.cpu_percent {
        kv("cpu", format!("{c:.1}%"));
    }
    if let Some(m) = e.rss_bytes {
        kv("memory", render::bytes(m));
    }
    kv(
        "stop",
        format!(
            "{}, KILL after {}",
            crate::util::signal::name(e.stop_signal),
            exact_ms(e.stop_timeout_ms)
        ),
    );
    if let Some(s) = &e.spec {
        print_spec(s, &kv);
    }
    if !e.tags.is_empty() {
        kv("tags", e.tags.join(", "));
    }
    if !e.groups.is_empty() {
        kv("groups", e.groups.join(", "));
    }
    if let Some(o) = &e.originator {
        kv("originator", o.clone());
    }
    if let Some(f) = &e.service_file {
        kv("service of", f.clone());
        kv(
            "profile",
            e.profile.clone().unwrap_or_else(|| "base".into()),
        );
    }
    if let Some(b) = &e.build {
        kv("build", b.clone());
    }
    if let Some(err) = &e.error {
        kv("error", err.clone());
    }
    if !e.leftovers.is_empty() {
        kv(
            "leftovers",
            format!(
                "{} process{} left by ended runs (stop, restart, rm and shutdown end them)",
                e.leftovers.len(),
                if e.leftovers.len() == 1 { "" } else { "es" }
            ),
        );
        for p in &e.leftovers {
            println!("  {p} {}", super::registry::command_of(*p));
        }
    }
    if let Some(env) = &e.env {
        println!("env:");
        for (k, v) in env {
            println!("  {k}={v}");
        }
    }
    if !e.events.is_empty() {
        println!("events:");
        for ev in &e.events {
            println!(
                "  {}  {:<10} {}",
                render::time(ev.ts_ms),
                ev.kind,
                ev.message
            );
        }
    }
}
