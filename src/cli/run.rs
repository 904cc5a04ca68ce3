//! `wrangle run`: build a spec from the caller's environment and flags, start it.

use super::{client, duration_flag, print_json, Exit};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::{Backoff, ErrOutput, Input, Leftovers, Output, Restart, RunSpec};
use argh::FromArgs;
use std::collections::BTreeMap;

/// start a command in the background
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
pub struct RunCmd {
    /// a unique name for the entry (1-64 of A-Z a-z 0-9 . _ -, not all digits)
    #[argh(option)]
    pub name: Option<String>,
    /// a tag for selecting it later (repeat)
    #[argh(option)]
    pub tag: Vec<String>,
    /// a group for selecting it later (repeat)
    #[argh(option)]
    pub group: Vec<String>,
    /// working folder (default: the current folder)
    #[argh(option)]
    pub cwd: Option<String>,
    /// set an environment variable K=V (repeat)
    #[argh(option)]
    pub env: Vec<String>,
    /// read environment variables from a dotenv file (repeat)
    #[argh(option)]
    pub env_file: Vec<String>,
    /// start from an empty environment instead of this shell's
    #[argh(switch)]
    pub clear_env: bool,
    /// run the command as one string through sh -c
    #[argh(switch)]
    pub shell: bool,
    /// signal that asks it to stop (default TERM)
    #[argh(option)]
    pub stop_signal: Option<String>,
    /// how long to wait after the stop signal before KILL (default 5s)
    #[argh(option)]
    pub stop_timeout: Option<String>,
    /// run it on a pseudo-terminal (attach to use it interactively)
    #[argh(switch)]
    pub pty: bool,
    /// the terminal's size as ROWSxCOLS (default 24x80; with --pty)
    #[argh(option)]
    pub size: Option<String>,
    /// standard input: null (default), stream (fed by send and attach) or a file to read
    #[argh(option)]
    pub stdin: Option<String>,
    /// standard output: log (default), null or a file to append to
    #[argh(option)]
    pub stdout: Option<String>,
    /// standard error: log (default), null, stdout (merged in order) or a file to append to
    #[argh(option)]
    pub stderr: Option<String>,
    /// attach to it right away (Ctrl-\ detaches)
    #[argh(switch)]
    pub attach: bool,
    /// show its output and wait for it to end; exit with its code (Ctrl-C leaves it running)
    #[argh(switch)]
    pub wait: bool,
    /// restart it when it ends by itself: never (default), on-failure or always
    #[argh(option)]
    pub restart: Option<String>,
    /// give up (state errored) after this many restarts in a row (default 0: never)
    #[argh(option)]
    pub max_restarts: Option<u32>,
    /// restart delays as INITIAL[,FACTOR[,MAX]], e.g. 1s,2,1m (the default)
    #[argh(option)]
    pub backoff: Option<String>,
    /// a run this long counts as healthy and resets the restart count (default 10s)
    #[argh(option)]
    pub min_uptime: Option<String>,
    /// rotate its log when it would pass this size, e.g. 10M (0: never; default from config)
    #[argh(option)]
    pub log_max_size: Option<String>,
    /// rotated log files kept per run (default from config)
    #[argh(option)]
    pub log_keep: Option<u32>,
    /// processes left behind when the main process ends: stop (default; stop signal, then
    /// KILL after the stop timeout) or keep (left running, still the entry's)
    #[argh(option)]
    pub leftovers: Option<String>,
    /// print the new entry as JSON
    #[argh(switch)]
    pub json: bool,
    /// the command and its arguments (put them after --)
    #[argh(positional, greedy)]
    pub cmd: Vec<String>,
}

pub fn run(paths: &Paths, c: RunCmd) -> Result<Exit> {
    if c.attach && c.wait {
        bail!(Code::Usage, "run: choose --attach or --wait, not both");
    }
    let spec = build_spec(&c)?;
    let mut client = client(paths)?;
    let e = client.run(spec)?;
    if c.attach || c.wait {
        let sel = crate::proto::Selector::target(e.id.to_string());
        let opts = super::attach::SessionOpts {
            read_only: c.wait,
            detach_key: Some(0x1c),
            replay: true,
        };
        return super::attach::session(paths, &mut client, &sel, &opts);
    }
    if c.json {
        print_json(&e)?;
    } else {
        let pid = e.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        match &e.name {
            Some(n) => println!("started {n} (id {}, pid {pid})", e.id),
            None => println!("started id {} (pid {pid})", e.id),
        }
    }
    Ok(0)
}

fn build_spec(c: &RunCmd) -> Result<RunSpec> {
    if c.cmd.is_empty() {
        bail!(
            Code::Usage,
            "run: no command given (wrangle run [OPTIONS] -- CMD [ARG]...)"
        );
    }
    let here =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    let cwd = match &c.cwd {
        Some(d) => here.join(d),
        None => here,
    };
    if !cwd.is_dir() {
        bail!(Code::Usage, "--cwd {}: no such folder", cwd.display());
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if !c.clear_env {
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                env.insert(k, v);
            }
        }
    }
    for f in &c.env_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::new(Code::Usage, format!("--env-file {f}: {e}")))?;
        let pairs = crate::config::envfile::parse(&text, f, &|k| env.get(k).cloned())?;
        env.extend(pairs);
    }
    for kv in &c.env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() && !k.contains('\0') => {
                env.insert(k.to_string(), v.to_string());
            }
            _ => bail!(Code::Usage, "--env {kv:?}: expected KEY=VALUE"),
        }
    }
    // Unset: the daemon gives the default (HUP with --pty, else TERM).
    let stop_signal = c
        .stop_signal
        .as_deref()
        .map(|s| {
            crate::util::signal::parse(s)
                .map_err(|e| Error::new(Code::Usage, format!("--stop-signal: {}", e.message)))
        })
        .transpose()?;
    let stop_timeout = duration_flag("--stop-timeout", &c.stop_timeout)?
        .unwrap_or(std::time::Duration::from_secs(5));
    if let Some(n) = &c.name {
        crate::store::registry::validate_name(n)?;
    }
    let argv = if c.shell {
        vec![c.cmd.join(" ")]
    } else {
        c.cmd.clone()
    };
    Ok(RunSpec {
        argv,
        shell: c.shell,
        name: c.name.clone(),
        tags: c.tag.clone(),
        groups: c.group.clone(),
        cwd: cwd.display().to_string(),
        env: std::sync::Arc::new(env),
        stop_signal,
        stop_timeout_ms: stop_timeout.as_millis() as u64,
        log_max_size: c
            .log_max_size
            .as_deref()
            .map(|s| {
                crate::util::size::parse(s)
                    .map_err(|e| Error::new(Code::Usage, format!("--log-max-size: {}", e.message)))
            })
            .transpose()?,
        log_keep: c.log_keep,
        stdin: match c.stdin.as_deref() {
            None | Some("null") => Input::Null,
            Some("stream") => Input::Stream,
            Some(f) => Input::File(file_arg("--stdin", f, false)?),
        },
        stdout: match c.stdout.as_deref() {
            None | Some("log") => Output::Log,
            Some("null") => Output::Null,
            Some(f) => Output::File(file_arg("--stdout", f, true)?),
        },
        stderr: match c.stderr.as_deref() {
            None | Some("log") => ErrOutput::Log,
            Some("null") => ErrOutput::Null,
            Some("stdout") => ErrOutput::Stdout,
            Some(f) => ErrOutput::File(file_arg("--stderr", f, true)?),
        },
        restart: match c.restart.as_deref() {
            None => Restart::Never,
            Some(name) => match Restart::parse(name) {
                Some(r) => r,
                None => bail!(
                    Code::Usage,
                    "--restart {name:?}: use never, on-failure or always"
                ),
            },
        },
        max_restarts: c.max_restarts.unwrap_or(0),
        leftovers: match c.leftovers.as_deref() {
            None => Leftovers::default(),
            Some(s) => Leftovers::parse(s).ok_or_else(|| {
                Error::new(
                    Code::Usage,
                    format!("--leftovers {s:?}: use {}", Leftovers::NAMES),
                )
            })?,
        },
        backoff: match &c.backoff {
            Some(b) => parse_backoff(b)?,
            None => Backoff::default(),
        },
        min_uptime_ms: duration_flag("--min-uptime", &c.min_uptime)?
            .map_or(10_000, |d| d.as_millis() as u64),
        pty: c.pty,
        size: match &c.size {
            Some(s) if c.pty => Some(super::attach::parse_size(s)?),
            Some(_) => bail!(Code::Usage, "--size needs --pty"),
            None => None,
        },
    })
}

/// Parses `INITIAL[,FACTOR[,MAX]]`.
pub fn parse_backoff(text: &str) -> Result<Backoff> {
    let mut b = Backoff::default();
    let mut parts = text.split(',');
    let bad = |why: String| Error::new(Code::Usage, format!("--backoff {text:?}: {why}"));
    if let Some(i) = parts.next() {
        b.initial_ms = crate::util::duration::parse(i)
            .map_err(|e| bad(e.message))?
            .as_millis() as u64;
    }
    if let Some(f) = parts.next() {
        b.factor = f
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 1.0)
            .ok_or_else(|| bad(format!("factor {f:?} must be a number of at least 1")))?;
    }
    if let Some(m) = parts.next() {
        b.max_ms = crate::util::duration::parse(m)
            .map_err(|e| bad(e.message))?
            .as_millis() as u64;
    } else {
        b.max_ms = b.max_ms.max(b.initial_ms);
    }
    if parts.next().is_some() {
        return Err(bad("use INITIAL[,FACTOR[,MAX]]".into()));
    }
    Ok(b)
}

/// An absolute path for a FILE argument, checked now so a mistake is reported at `run`.
fn file_arg(flag: &str, f: &str, write: bool) -> Result<String> {
    let path = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current folder", e))?
        .join(f);
    // Checked without creating anything: the daemon creates a missing output file (0644).
    let check = if path.is_dir() {
        Err(std::io::Error::other("it is a folder"))
    } else if write && path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map(|_| ())
    } else if write {
        match path.parent().map(std::fs::metadata) {
            Some(Ok(md)) if md.is_dir() => Ok(()),
            Some(Ok(_)) => Err(std::io::Error::other("its parent is not a folder")),
            Some(Err(e)) => Err(e),
            None => Ok(()),
        }
    } else {
        std::fs::File::open(&path).map(|_| ())
    };
    check.map_err(|e| Error::new(Code::Usage, format!("{flag} {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
