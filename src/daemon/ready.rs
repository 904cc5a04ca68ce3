//! Readiness: `wait --log REGEX`, `wait --port N` and a service's `ready` (what `up` waits for
//! before starting the services that come `after` it). A log condition looks at the current
//! run's lines already written, then at each new line; a port condition polls the entry's
//! processes' listening sockets. Everything is a pending reply plus timers: nothing blocks.

use super::build::variant;
use super::jobs::Done;
use super::state::{Daemon, Pending, PendingKind, ReadyWait, TimerKind};
use crate::error::{Code, Error, Result};
use crate::logs::pattern::Pattern as Regex;
use crate::logs::read::RunView;
use crate::logs::search::{self, Query};
use crate::proto::{Selector, WaitReply};
use crate::store::registry::State;
use mio::Token;
use std::time::Duration;

/// How often a port condition is checked.
const PORT_POLL: Duration = Duration::from_millis(100);

impl Daemon {
    /// `wait`: until entry `id` ends (its exit status), or until it is ready (`log`, `port`,
    /// or what its service declares with `ready`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wait_request(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
        timeout_ms: Option<u64>,
        log: Option<String>,
        port: Option<u16>,
        ready: bool,
        screen: Option<String>,
    ) -> Result<()> {
        let ids = self.reg.select_for_change(sel, "wait")?;
        let &[id] = ids.as_slice() else {
            bail!(Code::Ambiguous, "wait: name one entry");
        };
        if ready || log.is_some() || port.is_some() || screen.is_some() {
            let declared = match ready {
                true => self.reg.get(id).and_then(|e| {
                    let s = e.service.as_ref()?;
                    variant(s, e.profile.as_deref()).map(|v| v.ready.clone())
                }),
                false => None,
            };
            let timeout = timeout_ms
                .or(declared.as_ref().map(|r| r.timeout_ms))
                .map(Duration::from_millis);
            let log = log.or(declared.as_ref().and_then(|r| r.log.clone()));
            let port = port.or(declared.as_ref().and_then(|r| r.port));
            return self.begin_ready_wait(t, req_id, id, (log, port, screen), timeout);
        }
        if !self.live.contains_key(&id) {
            let e = self
                .reg
                .get(id)
                .ok_or_else(|| Error::new(Code::NoSuchEntry, "gone"))?;
            let reply = WaitReply {
                id,
                name: e.name.clone(),
                exit_code: e.exit_code,
                exit_signal: e.exit_signal,
            };
            self.reply(t, req_id, &reply);
            return Ok(());
        }
        let timer = timeout_ms.map(|ms| {
            self.rx
                .timers
                .add(Duration::from_millis(ms), TimerKind::WaitTimeout(t, req_id))
        });
        self.pending.push(Pending {
            conn: Some(t),
            req: req_id,
            kind: PendingKind::Wait { id, timer },
        });
        Ok(())
    }

    /// Starts waiting until entry `id` is ready (`log` and/or `port`; neither: running).
    pub(super) fn begin_ready_wait(
        &mut self,
        t: Token,
        req: u32,
        id: u64,
        (log, port, screen): (Option<String>, Option<u16>, Option<String>),
        timeout: Option<Duration>,
    ) -> Result<()> {
        let regex = log
            .map(|l| {
                Regex::new(&l).map_err(|e| Error::new(Code::Usage, format!("--log {l:?}: {e}")))
            })
            .transpose()?;
        let screen = screen
            .map(|l| {
                Regex::new(&l).map_err(|e| Error::new(Code::Usage, format!("--screen {l:?}: {e}")))
            })
            .transpose()?;
        if screen.is_some() && self.reg.get(id).is_some_and(|e| !e.spec.pty) {
            let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
            bail!(
                Code::Usage,
                "--screen: {label} has no terminal, so no screen (start it with --pty, or wait --log)"
            );
        }
        if port == Some(0) {
            bail!(Code::Usage, "--port 0: name a TCP port from 1 to 65535");
        }
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let waiting = matches!(e.state, State::Backoff | State::Starting);
        if !self.live.contains_key(&id) && !waiting {
            bail!(
                Code::Failed,
                "{} is not running ({}): it cannot become ready",
                e.label(),
                e.state.as_str()
            );
        }
        let mut w = ReadyWait {
            id,
            regex,
            port,
            screen,
            screen_ok: false,
            screen_seen: true,
            log_ok: false,
            port_ok: false,
            timeout: None,
            poll: None,
        };
        if self.live.contains_key(&id) {
            // Lines already printed are searched on a helper thread (a log may be big);
            // lines printed from now on are matched as they come.
            if let Some(re) = &w.regex {
                self.scan_run_log(t, req, id, re.clone());
            }
            w.port_ok = port.is_some_and(|p| self.listens(id, p));
            if let Some(re) = &w.screen {
                // Looked at off the loop, once the screen has taken every byte so far.
                w.screen_seen = !self.screen_check(t, req, id, re);
            }
        }
        if w.done() && self.live.contains_key(&id) {
            self.reply_ready(t, req, id);
            return Ok(());
        }
        if w.screen.is_some() {
            self.screen_watch(id);
        }
        w.timeout = timeout.map(|d| self.rx.timers.add(d, TimerKind::WaitTimeout(t, req)));
        if port.is_some() {
            w.poll = Some(self.rx.timers.add(PORT_POLL, TimerKind::ReadyPoll(t, req)));
        }
        self.pending.push(Pending {
            conn: Some(t),
            req,
            kind: PendingKind::Ready(w),
        });
        Ok(())
    }

    /// Searches what entry `id`'s current run printed so far for `re`, on a helper thread;
    /// the answer comes back as [`Self::log_scanned`].
    fn scan_run_log(&mut self, conn: Token, req: u32, id: u64, re: Regex) {
        self.flush_indexes();
        let dir = self.log_dir(id);
        let Some(r) = self.reg.get(id).and_then(|e| e.runs.last()) else {
            return;
        };
        let (run, dropped) = (r.run, r.dropped);
        self.jobs.spawn(move || {
            let found = RunView::open(&dir, run, dropped, None).is_ok_and(|view| {
                let q = Query {
                    regex: Some(re),
                    before: 0,
                    after: 0,
                    since_us: None,
                    head: Some(1),
                    tail: None,
                };
                search::select(&[view], 3, &q).is_ok_and(|items| !items.is_empty())
            });
            Done::LogScan {
                conn,
                req,
                id,
                run,
                found,
            }
        });
    }

    /// The search of run `run` of `id` for the ready-wait `req` of `conn` is over.
    pub(super) fn log_scanned(&mut self, conn: Token, req: u32, id: u64, run: u32, found: bool) {
        let current = self.reg.get(id).map(|e| e.run);
        if !found || current != Some(run) {
            // Nothing yet, or a later run began meanwhile (it starts over).
            return;
        }
        let Some(i) = self.find_ready(conn, req) else {
            return;
        };
        if let PendingKind::Ready(w) = &mut self.pending[i].kind {
            w.log_ok = true;
        }
        self.finish_ready_waits(id);
    }

    /// Whether one of entry `id`'s processes listens on TCP `port`.
    fn listens(&mut self, id: u64, port: u16) -> bool {
        let inodes = crate::proc::net::listening_inodes(port);
        if inodes.is_empty() {
            return false;
        }
        let Some(leader) = self.live.get(&id).map(|l| l.pid) else {
            return false;
        };
        let tree = self.run_tree(id);
        std::iter::once(leader)
            .chain(tree.iter().map(|t| t.pid))
            .any(|pid| crate::proc::net::holds_socket(pid, &inodes))
    }

    /// Whether a ready-wait watches entry `id`'s log lines.
    pub(super) fn ready_wants_lines(&self, id: u64) -> bool {
        self.pending
            .iter()
            .any(|p| matches!(&p.kind, PendingKind::Ready(w) if w.id == id && w.wants_lines()))
    }

    /// A new complete line of entry `id`.
    pub(super) fn ready_line(&mut self, id: u64, line: &str) {
        let mut any = false;
        for p in self.pending.iter_mut() {
            if let PendingKind::Ready(w) = &mut p.kind {
                if w.id == id
                    && w.wants_lines()
                    && w.regex.as_ref().is_some_and(|r| r.is_match(line))
                {
                    w.log_ok = true;
                    any = true;
                }
            }
        }
        if any {
            self.finish_ready_waits(id);
        }
    }

    /// The port poll of wait (`t`, `req`).
    pub(super) fn ready_poll(&mut self, t: Token, req: u32) {
        let Some(i) = self.find_ready(t, req) else {
            return;
        };
        let PendingKind::Ready(w) = &self.pending[i].kind else {
            return;
        };
        let (id, port) = (w.id, w.port);
        if self.reg.get(id).is_none() {
            self.fail_ready_waits(id, &format!("entry {id} was removed"));
            return;
        }
        let ok = port.is_some_and(|p| self.live.contains_key(&id) && self.listens(id, p));
        if let PendingKind::Ready(w) = &mut self.pending[i].kind {
            w.port_ok = ok;
            w.poll = if ok {
                None
            } else {
                Some(self.rx.timers.add(PORT_POLL, TimerKind::ReadyPoll(t, req)))
            };
        }
        if ok {
            self.finish_ready_waits(id);
        }
    }

    fn find_ready(&self, t: Token, req: u32) -> Option<usize> {
        self.pending.iter().position(|p| {
            p.conn == Some(t) && p.req == req && matches!(p.kind, PendingKind::Ready(_))
        })
    }

    /// Answers the waits on `id` whose conditions all hold.
    pub(super) fn finish_ready_waits(&mut self, id: u64) {
        if !self.live.contains_key(&id) {
            return;
        }
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            match &self.pending[i].kind {
                PendingKind::Ready(w) if w.id == id && w.done() => {
                    done.push(self.pending.remove(i))
                }
                _ => i += 1,
            }
        }
        for p in done {
            if let PendingKind::Ready(w) = &p.kind {
                for tm in w.timers() {
                    self.rx.timers.cancel(tm);
                }
            }
            if let Some(t) = p.conn {
                self.reply_ready(t, p.req, id);
            }
        }
    }

    fn reply_ready(&mut self, t: Token, req: u32, id: u64) {
        let reply = WaitReply {
            id,
            name: self.reg.get(id).and_then(|e| e.name.clone()),
            exit_code: None,
            exit_signal: None,
        };
        self.reply(t, req, &reply);
    }

    /// A new run of `id` started: conditions start over, and "just running" is met.
    pub(super) fn ready_run_started(&mut self, id: u64) {
        for p in self.pending.iter_mut() {
            if let PendingKind::Ready(w) = &mut p.kind {
                if w.id == id {
                    w.log_ok = false;
                    w.port_ok = false;
                    w.screen_ok = false;
                    // The new run's screen starts blank: all it shows comes after the wait.
                    w.screen_seen = true;
                }
            }
        }
        self.finish_ready_waits(id);
    }

    /// The run of `id` ended: waits fail unless it is going to be restarted.
    pub(super) fn ready_run_ended(&mut self, id: u64) {
        let Some(e) = self.reg.get(id) else {
            return;
        };
        if e.state == State::Backoff {
            return;
        }
        let how = crate::util::signal::describe_end(e.exit_code, e.exit_signal)
            .unwrap_or_else(|| e.state.as_str().to_string());
        let why = format!("{} ended ({how})", e.label());
        self.fail_ready_waits(id, &why);
    }

    /// Fails every ready-wait on `id`: it will not become ready (stopped, removed, errored).
    pub(super) fn fail_ready_waits(&mut self, id: u64, why: &str) {
        let mut failed = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            match &self.pending[i].kind {
                PendingKind::Ready(w) if w.id == id => failed.push(self.pending.remove(i)),
                _ => i += 1,
            }
        }
        for p in failed {
            if let PendingKind::Ready(w) = &p.kind {
                for tm in w.timers() {
                    self.rx.timers.cancel(tm);
                }
                if let Some(t) = p.conn {
                    let msg = format!("{why} before {}", w.what());
                    self.reply_err(t, p.req, &Error::new(Code::Failed, msg));
                }
            }
        }
    }

    /// A `wait` ran out of time.
    pub(super) fn wait_timeout(&mut self, t: Token, req: u32) {
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.conn == Some(t) && p.req == req)
        else {
            return;
        };
        let p = self.pending.remove(i);
        let msg = match &p.kind {
            PendingKind::Ready(w) => {
                if let Some(tm) = w.poll {
                    self.rx.timers.cancel(tm);
                }
                let label = self.reg.get(w.id).map_or(w.id.to_string(), |e| e.label());
                format!("timed out waiting for {label}: {}", w.what())
            }
            _ => "timed out waiting for the entry to end".to_string(),
        };
        self.reply_err(t, req, &Error::new(Code::Timeout, msg));
    }
}
