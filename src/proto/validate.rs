//! Checks every request at the daemon's boundary, before any handler sees it: what serde
//! accepted as well-typed may still be unusable (an empty argv, a NUL in an argument, signal
//! 0, a terminal of 0 rows, a backoff factor of -2, a duration of 500 million years...).
//! A request that passes can be acted on without reaching a panic; one that does not is
//! ERROR `bad_request` whose message starts with the field at fault, as the user wrote it:
//! `spec.argv[0]: ...` for a `run`, `services.api.build: ...` for an `apply` (the key path of
//! wrangle.json(5), which is what `wrangle up` resolved the service from).
//!
//! The rules mirror what the command line and the services-file reader already refuse, so a
//! request from `wrangle` itself never fails here; they guard against other clients. The
//! exceptions are the size bounds ([`MAX_ARGV_BYTES`], [`MAX_ENV_BYTES`], [`MAX_PATH`],
//! [`MAX_REGEX`]), which keep every reply showing an entry small enough to send.

use super::{
    BuildSpec, ErrOutput, IdleProfile, Input, Output, Ready, Request, RunSpec, ServiceSpec, Variant,
};
use crate::error::{Code, Error, Result};
use crate::store::registry::{validate_label, validate_name};
use std::collections::BTreeMap;
use std::fmt::Display;

/// The longest duration a request may carry, in ms (about 31,700 years): what durations in
/// services files and on the command line are limited to.
pub const MAX_MS: u64 = 1_000_000_000_000_000;
/// The most rows or columns a terminal may have.
pub const MAX_TERM: u16 = 10_000;
/// The largest backoff factor.
pub const MAX_FACTOR: f64 = 1e6;
/// The most bytes a command's arguments may hold together (Linux's limit for one argument).
/// An entry is shown in replies as its argv and again as one command line, each escaped in
/// JSON (up to 6 bytes a byte): with this bound and [`MAX_ENV_BYTES`], any entry's reply
/// stays well under the 4 MiB frame limit, so a `run` that started its process can always
/// say so, and `list` always works.
pub const MAX_ARGV_BYTES: usize = 128 << 10;
/// The most bytes an environment's names and values may hold together.
pub const MAX_ENV_BYTES: usize = 128 << 10;
/// The longest path (Linux's PATH_MAX).
pub const MAX_PATH: usize = 4096;
/// The longest regular expression.
pub const MAX_REGEX: usize = 4096;

fn bad(field: &str, msg: impl Display) -> Error {
    Error::new(Code::BadRequest, format!("{field}: {msg}"))
}

/// Where a run spec sits, and whether its fields are named as in wrangle.json(5) (a service)
/// or as on the wire (a `run`).
struct At {
    prefix: String,
    file_keys: bool,
}

impl At {
    /// The path of a field: `wire` on the wire, `file` in a services file.
    fn key(&self, wire: &str, file: &str) -> String {
        format!(
            "{}.{}",
            self.prefix,
            if self.file_keys { file } else { wire }
        )
    }
}

impl Request {
    /// Checks every field of the request (see the module's doc); the error names the first
    /// bad one.
    pub fn validate(&self) -> Result<()> {
        match self {
            Request::Run { spec } => run_spec(
                spec,
                &At {
                    prefix: "spec".into(),
                    file_keys: false,
                },
            ),
            Request::Apply { service } => service_spec(service),
            Request::Stop { timeout_ms, .. } => opt_ms("timeout_ms", *timeout_ms, false),
            Request::Signal { signal, .. } => check_signal("signal", *signal),
            Request::Follow { streams, .. } if *streams > 3 => Err(bad(
                "streams",
                format!("{streams} is not a mask of 1 (stdout) and 2 (stderr)"),
            )),
            Request::Wait {
                timeout_ms,
                log,
                port,
                screen,
                ..
            } => {
                opt_ms("timeout_ms", *timeout_ms, false)?;
                if let Some(l) = log {
                    regex("log", l)?;
                }
                if let Some(l) = screen {
                    regex("screen", l)?;
                }
                check_port("port", *port)
            }
            Request::Upgrade { binary: Some(b) } => abs_path("binary", b),
            Request::Down { file, names } => {
                abs_path("file", file)?;
                for (i, n) in names.iter().enumerate() {
                    name(&format!("names[{i}]"), n)?;
                }
                Ok(())
            }
            Request::Subscribe { types, .. } if !(1..=3).contains(types) => Err(bad(
                "types",
                format!("{types} is not a mask of 1 (lifecycle events) and 2 (log lines)"),
            )),
            Request::Attach {
                size: Some(size), ..
            } => term_size("size", *size),
            Request::Screen { scrollback, .. }
                if *scrollback as usize > crate::term::screen::MAX_SCROLLBACK =>
            {
                Err(bad(
                    "scrollback",
                    format!(
                        "{scrollback} is more than the {} lines a terminal may keep",
                        crate::term::screen::MAX_SCROLLBACK
                    ),
                ))
            }
            Request::SendKeys { keys, .. } => send_keys(keys),
            Request::Resize { rows, cols, .. } => {
                term_dim("rows", *rows)?;
                term_dim("cols", *cols)
            }
            Request::Add {
                pid,
                name: n,
                tags,
                groups,
            } => {
                if *pid <= 0 {
                    return Err(bad("pid", format!("{pid} is not a process id")));
                }
                if let Some(n) = n {
                    name("name", n)?;
                }
                labels("tags", "tag", tags)?;
                labels("groups", "group", groups)
            }
            Request::Label {
                add_tags,
                add_groups,
                name: n,
                ..
            } => {
                labels("add_tags", "tag", add_tags)?;
                labels("add_groups", "group", add_groups)?;
                match n {
                    Some(n) if !n.is_empty() => name("name", n),
                    _ => Ok(()),
                }
            }
            Request::Labels { kind } => label_kind(kind),
            Request::RenameLabel { kind, old, new } => {
                label_kind(kind)?;
                if old.is_empty() {
                    return Err(bad("old", "empty label"));
                }
                validate_label(kind, new).map_err(|e| bad("new", e.message))
            }
            _ => Ok(()),
        }
    }
}

fn label_kind(kind: &str) -> Result<()> {
    match kind {
        "tag" | "group" => Ok(()),
        other => Err(bad("kind", format!("{other:?}: use \"tag\" or \"group\""))),
    }
}

fn name(field: &str, n: &str) -> Result<()> {
    validate_name(n).map_err(|e| bad(field, e.message))
}

fn labels(field: &str, kind: &str, items: &[String]) -> Result<()> {
    for (i, l) in items.iter().enumerate() {
        validate_label(kind, l).map_err(|e| bad(&format!("{field}[{i}]"), e.message))?;
    }
    Ok(())
}

fn no_nul(field: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(bad(
            field,
            "contains a NUL character, which cannot be passed to a process",
        ));
    }
    Ok(())
}

fn abs_path(field: &str, p: &str) -> Result<()> {
    if p.is_empty() {
        return Err(bad(field, "empty path (give an absolute path)"));
    }
    if p.len() > MAX_PATH {
        return Err(bad(
            field,
            format!("the path is {} bytes long (at most {MAX_PATH})", p.len()),
        ));
    }
    no_nul(field, p)?;
    if !p.starts_with('/') {
        return Err(bad(field, format!("{p:?} is not an absolute path")));
    }
    Ok(())
}

/// A duration in ms: at most [`MAX_MS`]; with `positive`, more than 0.
fn ms(field: &str, v: u64, positive: bool) -> Result<()> {
    if v > MAX_MS {
        return Err(bad(
            field,
            format!("{v} ms is too long (at most {MAX_MS} ms)"),
        ));
    }
    if positive && v == 0 {
        return Err(bad(field, "must be longer than 0"));
    }
    Ok(())
}

fn opt_ms(field: &str, v: Option<u64>, positive: bool) -> Result<()> {
    v.map_or(Ok(()), |v| ms(field, v, positive))
}

fn check_signal(field: &str, sig: i32) -> Result<()> {
    let max = crate::util::signal::MAX_SIGNAL;
    if !(1..=max).contains(&sig) {
        return Err(bad(
            field,
            format!("invalid signal number {sig} (use 1 to {max})"),
        ));
    }
    Ok(())
}

fn check_port(field: &str, port: Option<u16>) -> Result<()> {
    if port == Some(0) {
        return Err(bad(field, "expected a TCP port from 1 to 65535, found 0"));
    }
    Ok(())
}

fn regex(field: &str, re: &str) -> Result<()> {
    if re.is_empty() {
        return Err(bad(field, "the regular expression is empty"));
    }
    if re.len() > MAX_REGEX {
        return Err(bad(
            field,
            format!(
                "the regular expression is {} bytes long (at most {MAX_REGEX})",
                re.len()
            ),
        ));
    }
    crate::logs::pattern::Pattern::new(re).map_err(|e| {
        let why = e.to_string().replace('\n', " ");
        bad(field, format!("invalid regular expression: {why}"))
    })?;
    Ok(())
}

/// The most bytes the key names (and texts) of one `send_keys` may hold together.
pub const MAX_KEYS_BYTES: usize = 1 << 20;

fn send_keys(keys: &[String]) -> Result<()> {
    let total: usize = keys.iter().map(String::len).sum();
    if total > MAX_KEYS_BYTES {
        return Err(bad(
            "keys",
            format!("{total} bytes is more than one request may send ({MAX_KEYS_BYTES}); send them in parts"),
        ));
    }
    Ok(())
}

fn term_dim(field: &str, n: u16) -> Result<()> {
    if !(1..=MAX_TERM).contains(&n) {
        return Err(bad(
            field,
            format!("{n} is not a terminal size (use 1 to {MAX_TERM})"),
        ));
    }
    Ok(())
}

fn term_size(field: &str, size: [u16; 2]) -> Result<()> {
    for n in size {
        if !(1..=MAX_TERM).contains(&n) {
            return Err(bad(
                field,
                format!(
                    "{}x{} is not a terminal size (rows and columns from 1 to {MAX_TERM})",
                    size[0], size[1]
                ),
            ));
        }
    }
    Ok(())
}

/// An argv (or, with `shell`, a command line) at `field`.
fn command(field: &str, argv: &[String], shell: bool) -> Result<()> {
    let total: usize = argv.iter().map(String::len).sum();
    if total > MAX_ARGV_BYTES {
        return Err(bad(
            field,
            format!("the command is {total} bytes long (at most {MAX_ARGV_BYTES})"),
        ));
    }
    for (i, a) in argv.iter().enumerate() {
        no_nul(&format!("{field}[{i}]"), a)?;
    }
    if shell {
        if argv.iter().all(|a| a.trim().is_empty()) {
            return Err(bad(field, "empty command line"));
        }
        return Ok(());
    }
    match argv.first() {
        None => Err(bad(field, "empty command")),
        Some(p) if p.is_empty() => Err(bad(&format!("{field}[0]"), "empty program name")),
        Some(_) => Ok(()),
    }
}

fn env(field: &str, env: &BTreeMap<String, String>) -> Result<()> {
    let total: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    if total > MAX_ENV_BYTES {
        return Err(bad(
            field,
            format!(
                "the environment is {total} bytes long (at most {MAX_ENV_BYTES}); pass less with --clear-env and --env"
            ),
        ));
    }
    for (k, v) in env {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(bad(
                field,
                format!("invalid variable name {k:?} (it must be non-empty, without '=' or NUL)"),
            ));
        }
        no_nul(&format!("{field}.{k}"), v)?;
    }
    Ok(())
}

fn run_spec(s: &RunSpec, at: &At) -> Result<()> {
    let cmd_key = if s.shell { "shell" } else { "cmd" };
    command(&at.key("argv", cmd_key), &s.argv, s.shell)?;
    if let Some(n) = &s.name {
        name(&at.key("name", "name"), n)?;
    }
    labels(&at.key("tags", "tags"), "tag", &s.tags)?;
    labels(&at.key("groups", "groups"), "group", &s.groups)?;
    abs_path(&at.key("cwd", "cwd"), &s.cwd)?;
    env(&at.key("env", "env"), &s.env)?;
    if let Some(sig) = s.stop_signal {
        check_signal(&at.key("stop_signal", "stop_signal"), sig)?;
    }
    ms(
        &at.key("stop_timeout_ms", "stop_timeout"),
        s.stop_timeout_ms,
        false,
    )?;
    ms(
        &at.key("min_uptime_ms", "min_uptime"),
        s.min_uptime_ms,
        false,
    )?;
    let b = &s.backoff;
    ms(
        &at.key("backoff.initial_ms", "backoff.initial"),
        b.initial_ms,
        false,
    )?;
    ms(&at.key("backoff.max_ms", "backoff.max"), b.max_ms, false)?;
    if !(b.factor.is_finite() && (1.0..=MAX_FACTOR).contains(&b.factor)) {
        return Err(bad(
            &at.key("backoff.factor", "backoff.factor"),
            format!(
                "expected a number from 1 to {MAX_FACTOR}, found {}",
                b.factor
            ),
        ));
    }
    match &s.stdin {
        Input::File(p) => abs_path(&at.key("stdin", "stdin"), p)?,
        Input::Null | Input::Stream => {}
    }
    match &s.stdout {
        Output::File(p) => abs_path(&at.key("stdout", "stdout"), p)?,
        Output::Log | Output::Null => {}
    }
    match &s.stderr {
        ErrOutput::File(p) => abs_path(&at.key("stderr", "stderr"), p)?,
        ErrOutput::Log | ErrOutput::Null | ErrOutput::Stdout => {}
    }
    if let Some(n) = s.scrollback {
        if n as usize > crate::term::screen::MAX_SCROLLBACK {
            return Err(bad(
                &at.key("scrollback", "scrollback"),
                format!(
                    "{n} lines is more than the {} a terminal may keep",
                    crate::term::screen::MAX_SCROLLBACK
                ),
            ));
        }
    }
    if let Some(size) = s.size {
        term_size(&at.key("size", "size"), size)?;
    }
    Ok(())
}

fn build(field: &str, b: &BuildSpec) -> Result<()> {
    command(field, &b.argv, b.shell)
}

fn ready(prefix: &str, r: &Ready) -> Result<()> {
    if let Some(l) = &r.log {
        regex(&format!("{prefix}.log"), l)?;
    }
    check_port(&format!("{prefix}.port"), r.port)?;
    ms(&format!("{prefix}.timeout"), r.timeout_ms, true)
}

fn variant(prefix: &str, v: &Variant) -> Result<()> {
    let at = At {
        prefix: prefix.to_string(),
        file_keys: true,
    };
    run_spec(&v.spec, &at)?;
    env(&format!("{prefix}.env"), &v.declared_env)?;
    if let Some(b) = &v.build {
        build(&format!("{prefix}.build"), b)?;
    }
    ready(&format!("{prefix}.ready"), &v.ready)
}

fn service_spec(s: &ServiceSpec) -> Result<()> {
    let prefix = format!("services.{}", s.name);
    name(&format!("{prefix}.name"), &s.name)?;
    abs_path(&format!("{prefix}.file"), &s.file)?;
    variant(&prefix, &s.base)?;
    for (p, v) in &s.profiles {
        let pp = format!("{prefix}.profiles.{p}");
        validate_name(p).map_err(|e| bad(&pp, e.message.replacen("name", "profile name", 1)))?;
        if p == "base" {
            return Err(bad(
                &pp,
                "\"base\" is reserved: it names the service's own declaration",
            ));
        }
        variant(&pp, v)?;
    }
    for (i, a) in s.after.iter().enumerate() {
        name(&format!("{prefix}.after[{i}]"), a)?;
    }
    if let Some(c) = &s.cron_restart {
        crate::config::cron::Cron::parse(c).map_err(|why| {
            bad(
                &format!("{prefix}.cron_restart"),
                format!("invalid cron expression: {why}"),
            )
        })?;
    }
    if let Some(IdleProfile { after_ms, profile }) = &s.idle_profile {
        ms(&format!("{prefix}.idle_profile.after"), *after_ms, true)?;
        if let Some(p) = profile {
            if !s.profiles.contains_key(p) {
                return Err(bad(
                    &format!("{prefix}.idle_profile.profile"),
                    format!("no profile named {p:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a spec that `edit` made by changing an entry's (the fields named as on the wire,
/// under `change.`).
pub fn edited_spec(spec: &RunSpec) -> Result<()> {
    run_spec(
        spec,
        &At {
            prefix: "change".into(),
            file_keys: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Request {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn err(json: &str) -> String {
        let e = req(json)
            .validate()
            .expect_err(&format!("{json} should be refused"));
        assert_eq!(e.code, Code::BadRequest, "{json}");
        e.message
    }

    #[test]
    fn sound_requests_pass() {
        for j in [
            r#"{"op":"ping"}"#,
            r#"{"op":"run","spec":{"argv":["true"],"cwd":"/"}}"#,
            r#"{"op":"run","spec":{"argv":["echo hi"],"shell":true,"cwd":"/","pty":true,"size":[24,80]}}"#,
            r#"{"op":"stop","sel":{"targets":["a"]},"timeout_ms":0}"#,
            r#"{"op":"follow","id":1,"from_seq":0,"streams":0}"#,
            r#"{"op":"label","sel":{"targets":["a"]},"name":""}"#,
            r#"{"op":"signal","sel":{"targets":["a"]},"signal":64}"#,
            r#"{"op":"apply","service":{"name":"api","file":"/w.json","base":{"spec":{"argv":["a"],"cwd":"/"},"build":{"argv":["make"]}},"profiles":{"p":{"spec":{"argv":["b"],"cwd":"/"}}},"idle_profile":{"after_ms":1,"profile":"p"},"cron_restart":"0 4 * * *"}}"#,
        ] {
            req(j).validate().unwrap_or_else(|e| panic!("{j}: {e}"));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                r#"{"op":"apply","service":{"name":"api","file":"/w","base":{"spec":{"argv":["a"],"cwd":"/"},"build":{"argv":[]}}}}"#,
                "services.api.build: empty command",
            ),
            (
                r#"{"op":"apply","service":{"name":"api","file":"/w","base":{"spec":{"argv":["a"],"cwd":"/"},"build":{"argv":[""],"shell":true}}}}"#,
                "services.api.build: empty command line",
            ),
            (
                r#"{"op":"apply","service":{"name":"api","file":"/w","base":{"spec":{"argv":["x"],"shell":true,"cwd":"/","env":{"a=b":""}}}}}"#,
                "services.api.env: invalid variable name \"a=b\"",
            ),
            (
                r#"{"op":"apply","service":{"name":"api","file":"/w","base":{"spec":{"argv":["a"],"cwd":"/","backoff":{"initial_ms":1,"factor":1e300,"max_ms":1}}}}}"#,
                "services.api.backoff.factor: ",
            ),
            (
                r#"{"op":"apply","service":{"name":"api","file":"/w","base":{"spec":{"argv":["a"],"cwd":"/"}},"profiles":{"base":{"spec":{"argv":["a"],"cwd":"/"}}}}}"#,
                "services.api.profiles.base: ",
            ),
            (
                r#"{"op":"run","spec":{"argv":[],"shell":true,"cwd":"/"}}"#,
                "spec.argv: empty command line",
            ),
            (
                r#"{"op":"run","spec":{"argv":["a"],"cwd":"/","stop_signal":-1}}"#,
                "spec.stop_signal: invalid signal number -1",
            ),
            (
                r#"{"op":"run","spec":{"argv":["a"],"cwd":"/","backoff":{"initial_ms":1,"factor":"NaN","max_ms":1}}}"#,
                "",
            ),
            (
                r#"{"op":"attach","sel":{},"size":[0,0]}"#,
                "size: 0x0 is not a terminal size",
            ),
            (r#"{"op":"labels","kind":"tags"}"#, "kind: "),
            (r#"{"op":"add","pid":0}"#, "pid: "),
        ];
        for (j, want) in cases {
            if want.is_empty() {
                // Not even well-typed: serde refuses it before validation.
                assert!(serde_json::from_str::<Request>(j).is_err(), "{j}");
                continue;
            }
            let m = err(j);
            assert!(m.starts_with(want), "{j}: {m:?} should start with {want:?}");
        }
    }
}
