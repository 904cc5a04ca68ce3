//! `wait_for`: until an entry ends, prints a matching line, listens on a port, or is ready,
//! with a timeout; progress notifications while it waits, and cancellation.

use super::{label, one, opt_str, opt_u64, req_str, Args, Ctx, Done};
use crate::client::error_from;
use crate::error::{Code, Error, Result};
use crate::proto::{Frame, FrameKind, Request, WaitReply};
use serde_json::json;
use std::time::{Duration, Instant};

const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// How often the client hears that the wait goes on (and cancellation is looked for).
const TICK: Duration = Duration::from_millis(500);

pub fn wait_for(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let target = req_str(args, "target")?;
    let log = opt_str(args, "log")?.map(str::to_string);
    let port = match opt_u64(args, "port")? {
        Some(p) if (1..=65535).contains(&p) => Some(p as u16),
        Some(p) => bail!(Code::Usage, "port {p}: use 1 to 65535"),
        None => None,
    };
    let until = match opt_str(args, "until")? {
        Some(u) => u.to_string(),
        None if log.is_some() => "log".into(),
        None if port.is_some() => "port".into(),
        None => "exit".into(),
    };
    match until.as_str() {
        "log" if log.is_none() => bail!(Code::Usage, "wait_for until log: give `log`, a regex"),
        "port" if port.is_none() => bail!(Code::Usage, "wait_for until port: give `port`"),
        "exit" | "ready" if log.is_some() || port.is_some() => bail!(
            Code::Usage,
            "wait_for until {until}: `log` and `port` belong to until log and until port"
        ),
        "exit" | "ready" | "log" | "port" => {}
        o => bail!(Code::Usage, "until {o:?}: use exit, log, port or ready"),
    }
    let timeout = opt_u64(args, "timeout_ms")?
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .min(MAX_TIMEOUT_MS);
    let started = Instant::now();
    let req = ctx.client.send_request(&Request::Wait {
        sel: one(ctx, target),
        timeout_ms: Some(timeout),
        log,
        port,
        ready: until == "ready",
    })?;
    let reply = loop {
        if let Some(r) = answer(ctx.client.buffered_frames()?, req) {
            break r;
        }
        if readable(ctx.client.as_raw_fd(), TICK) {
            if let Some(r) = answer(ctx.client.read_some()?, req) {
                break r;
            }
            continue;
        }
        if ctx.link.cancelled(&ctx.request) {
            ctx.cancelled = true;
            ctx.client.send_request(&Request::Cancel { target: req })?;
            bail!(Code::Failed, "wait_for was cancelled");
        }
        if let Some(token) = &ctx.progress {
            let waited = started.elapsed().as_millis() as u64;
            let msg = super::super::jsonrpc::notification(
                "notifications/progress",
                json!({"progressToken": token, "progress": waited, "total": timeout,
                       "message": format!("waiting for {target} ({until}): {}s", waited / 1000)}),
            );
            ctx.link.notify(msg);
        }
    };
    let r = match reply {
        Ok(r) => r,
        Err(e) if e.code == Code::Timeout => bail!(
            Code::Timeout,
            "{target} did not get to {until} within {timeout} ms; see its logs (logs tool) or status, or wait longer"
        ),
        Err(e) => return Err(e),
    };
    let waited = started.elapsed().as_millis() as u64;
    let end = crate::util::signal::describe_end(r.exit_code, r.exit_signal);
    let text = match (until.as_str(), &end) {
        ("exit", Some(d)) => format!("{} ended: {d}\n", label(r.id, &r.name)),
        _ => format!(
            "{} reached {until} after {waited} ms\n",
            label(r.id, &r.name)
        ),
    };
    Ok(Done {
        data: json!({"id": r.id, "name": r.name, "until": until, "exit_code": r.exit_code,
                     "exit_signal": r.exit_signal, "waited_ms": waited}),
        text,
    })
}

/// The answer to request `req` among `frames`, if there.
fn answer(frames: Vec<Frame>, req: u32) -> Option<Result<WaitReply>> {
    for f in frames {
        let is_error = f.kind() == Some(FrameKind::Error);
        if is_error && (f.id == req || f.id == 0) {
            return Some(Err(error_from(&f.payload)));
        }
        if f.id == req && f.kind() == Some(FrameKind::Response) {
            return Some(
                serde_json::from_slice(&f.payload).map_err(|e| {
                    Error::new(Code::Daemon, format!("unexpected reply to wait: {e}"))
                }),
            );
        }
    }
    None
}

/// Whether `fd` has something to read within `t`.
fn readable(fd: i32, t: Duration) -> bool {
    let mut fds = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid pollfd array of one element for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, t.as_millis() as i32) };
    n > 0
}
