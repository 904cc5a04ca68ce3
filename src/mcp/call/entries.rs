//! The entry tools: list and status (read), run, and the changes start, stop, restart, remove
//! and signal.

use super::{entry_json, flag, label, opt_str, opt_u64, req_str, results, selector, strings};
use super::{Args, Ctx, Done};
use crate::error::{Code, Error, Result};
use crate::proto::{Input, Restart, RunSpec, Selector};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_LIST: u64 = 50;
const MAX_EVENTS: usize = 20;

pub fn list(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let sel = selector(ctx, args)?;
    let limit = opt_u64(args, "limit")?
        .unwrap_or(DEFAULT_LIST)
        .clamp(1, 500) as usize;
    let offset = opt_u64(args, "offset")?.unwrap_or(0) as usize;
    let all = ctx.client.list(&sel)?;
    let total = all.len();
    let page: Vec<_> = all.iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    let mut text = format!("{total} entries");
    if next.is_some() || offset > 0 {
        text.push_str(&format!(" (showing {} from offset {offset})", page.len()));
    }
    text.push('\n');
    for e in &page {
        text.push_str(&format!(
            "{} {} {} pid={} {}\n",
            e.id,
            e.name.as_deref().unwrap_or("-"),
            e.state,
            e.pid.map_or("-".into(), |p| p.to_string()),
            cut(&e.command, 120)
        ));
    }
    if let Some(n) = next {
        text.push_str(&format!("more: call list with offset {n}\n"));
    }
    Ok(Done {
        data: json!({
            "entries": page.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
            "total": total,
            "next_offset": next,
        }),
        text,
    })
}

pub fn status(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let sel = selector(ctx, args)?;
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(
            Code::Usage,
            "status: say which entries (`target`, or a filter such as `tag`); `list` shows them all"
        );
    }
    let es = ctx.client.status(&sel, false)?;
    let mut text = String::new();
    let mut out = Vec::new();
    for e in es.iter().take(50) {
        let mut v = entry_json(e);
        let evs: Vec<Value> = e
            .events
            .iter()
            .rev()
            .take(MAX_EVENTS)
            .rev()
            .map(|x| json!({"ts_ms": x.ts_ms, "kind": x.kind.to_string(), "message": x.message}))
            .collect();
        for (k, val) in [
            ("cpu_percent", json!(e.cpu_percent)),
            ("rss_bytes", json!(e.rss_bytes)),
            ("started_at_ms", json!(e.started_at_ms)),
            ("ended_at_ms", json!(e.ended_at_ms)),
            ("service_file", json!(e.service_file)),
            ("profile", json!(e.profile)),
            ("build", json!(e.build)),
            ("events", Value::Array(evs)),
        ] {
            v[k] = val;
        }
        text.push_str(&format!(
            "{}: {}{}{}\n",
            label(e.id, &e.name),
            e.state,
            e.pid.map_or(String::new(), |p| format!(", pid {p}")),
            crate::util::signal::describe_end(e.exit_code, e.exit_signal)
                .map_or(String::new(), |d| format!(", last run {d}"))
        ));
        if let Some(last) = e.events.last() {
            text.push_str(&format!("  last event: {} {}\n", last.kind, last.message));
        }
        out.push(v);
    }
    Ok(Done {
        data: json!({ "entries": out }),
        text,
    })
}

pub fn run(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let command = opt_str(args, "command")?;
    let argv = strings(args, "argv")?;
    let (argv, shell) = match (command, argv.is_empty()) {
        (Some(c), true) => (vec![c.to_string()], true),
        (None, false) => (argv, false),
        _ => bail!(
            Code::Usage,
            "run: give `command` (a shell command line) or `argv` (a list), one of them"
        ),
    };
    let here =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    let cwd = match opt_str(args, "cwd")? {
        Some(c) => here.join(c),
        None => here,
    };
    if !cwd.is_dir() {
        bail!(Code::Usage, "run: cwd {} is not a folder", cwd.display());
    }
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    match args.get("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let Some(v) = v.as_str() else {
                    bail!(Code::Usage, "run: env {k:?} must be a string");
                };
                env.insert(k.clone(), v.to_string());
            }
        }
        Some(_) => bail!(Code::Usage, "run: `env` must be an object of strings"),
    }
    let mut spec = RunSpec::new(argv, cwd.display().to_string());
    spec.shell = shell;
    spec.env = std::sync::Arc::new(env);
    spec.name = opt_str(args, "name")?.map(str::to_string);
    spec.tags = strings(args, "tags")?;
    spec.groups = strings(args, "groups")?;
    spec.pty = flag(args, "pty")?;
    spec.stdin = match opt_str(args, "stdin")? {
        None | Some("null") => Input::Null,
        Some("stream") => Input::Stream,
        Some(o) => bail!(Code::Usage, "run: stdin {o:?}: use \"null\" or \"stream\""),
    };
    if let Some(r) = opt_str(args, "restart")? {
        spec.restart = Restart::parse(r).ok_or_else(|| {
            Error::new(
                Code::Usage,
                format!("run: restart {r:?}: use never, on-failure or always"),
            )
        })?;
    }
    spec.max_restarts = opt_u64(args, "max_restarts")?
        .unwrap_or(0)
        .min(u32::MAX as u64) as u32;
    let e = ctx.client.run(spec)?;
    let text = format!(
        "started {}{}: {}\nnext: wait_for (until log/port/exit), logs, stop\n",
        label(e.id, &e.name),
        e.pid.map_or(String::new(), |p| format!(", pid {p}")),
        e.command
    );
    Ok(Done {
        data: json!({ "entry": entry_json(&e) }),
        text,
    })
}

/// start, stop, restart, remove, signal.
pub fn act(ctx: &mut Ctx, tool: &str, args: &Args) -> Result<Done> {
    let sel: Selector = selector(ctx, args)?;
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(
            Code::Usage,
            "{tool}: say which entries (`target`, `targets`, or a filter such as `tag`)"
        );
    }
    let (verb, rs) = match tool {
        "start" => ("start", ctx.client.start(&sel)?),
        "stop" => {
            let t = opt_u64(args, "timeout_ms")?.map(Duration::from_millis);
            ("stop", ctx.client.stop(&sel, t)?)
        }
        "restart" => {
            let p = opt_str(args, "profile")?.map(str::to_string);
            ("restart", ctx.client.restart(&sel, p)?)
        }
        "remove" => ("remove", ctx.client.remove(&sel)?),
        _ => {
            let sig = match args.get("signal") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .filter(|n| (1..=64).contains(n))
                    .map(|n| n as i32)
                    .ok_or_else(|| Error::new(Code::Usage, "signal: a number from 1 to 64"))?,
                _ => crate::util::signal::parse(req_str(args, "signal")?)?,
            };
            ("signal", ctx.client.signal(&sel, sig)?)
        }
    };
    Ok(results(verb, &rs))
}

/// `s` cut to `n` characters.
pub fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
