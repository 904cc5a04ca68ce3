//! The event loop's mechanics: the poll, tokens, the listener, signals, connections and their
//! frames, timers and persistence. What requests mean lives in `handlers.rs`; what happens to
//! processes lives in `lifecycle.rs`.

use super::conn::HIGH_WATER;
use super::reactor::{Next, Reactor, Source, LISTENER, SIGNALS};
use super::timers::TimerId;
use crate::error::{Code, Error, Result};
use crate::logs::ring::Ring;
use crate::paths::Paths;
use crate::proto::frame::{chan, FrameError, FrameKind};
use crate::proto::{Frame, Hello, Request, StreamEvent, Welcome, VERSIONS};
use crate::store::registry::Registry;
use mio::{Events, Token};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Output kept in memory per entry for followers.
pub(super) const RING_BYTES: usize = 256 << 10;
/// How long after a save its files are fsynced (saves in between share one sync).
const SYNC_DELAY: Duration = Duration::from_millis(500);

/// Things that happen at a deadline.
#[derive(Debug, Clone, Copy)]
pub(super) enum TimerKind {
    /// A deadline of an entry's supervisor (KILL, drain, restart).
    Entry(u64, crate::proc::supervisor::Slot),
    /// Look again whether the processes a stop went to are all gone.
    Watch(u64),
    /// Look again for what an ended main process left behind.
    Relook(u64),
    /// A `wait` request ran out of time.
    WaitTimeout(Token, u32),
    /// Look again whether the entry a `wait` request watches listens on its port.
    ReadyPoll(Token, u32),
    /// A service's `cron_restart` time came: the entry and that time (Unix seconds).
    Cron(u64, i64),
    /// A service may have been idle long enough to switch profiles.
    Idle(u64),
    /// Check an adopted process without a pidfd.
    AdoptPoll(u64),
    /// Make saved entries durable (fsync).
    Sync,
    /// Sample what every entry uses (see `usage.rs`).
    Usage,
}

/// A reply the daemon owes once processes have ended.
pub(super) struct Pending {
    pub conn: Option<Token>,
    pub req: u32,
    pub kind: PendingKind,
}

pub(super) enum PendingKind {
    /// `wait`: reply when entry `id` ends.
    Wait { id: u64, timer: Option<TimerId> },
    /// `stop`, `restart`, `remove`, `shutdown`: act and reply when all `ids` have ended.
    Batch {
        op: BatchOp,
        ids: Vec<u64>,
        results: Vec<crate::proto::ActionResult>,
    },
    /// `restart` or `apply` of services with builds: when every entry of `building` has built,
    /// `ready` (built, or nothing to build) go on as a batch `op`; failed ones are in
    /// `results`.
    Rebuild {
        op: BatchOp,
        building: std::collections::BTreeSet<u64>,
        ready: Vec<u64>,
        results: Vec<crate::proto::ActionResult>,
    },
    /// `wait` until entry `id` is ready (see [`super::ready`]).
    Ready(super::ready::ReadyWait),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchOp {
    Stop,
    Restart,
    Remove,
    /// `up` of one service: start it (new) or restart it (changed).
    Apply,
    /// `up` of an unchanged service that is not running: start it.
    StartService,
    Shutdown,
    Reset,
}

pub(crate) struct Daemon {
    /// The loop's mechanics: poll, tokens, connections, signals, timers.
    pub(super) rx: Reactor<TimerKind>,
    pub(super) reg: Registry,
    pub(super) live: HashMap<u64, super::lifecycle::Live>,
    pub(super) pids: HashMap<i32, u64>,
    pub(super) rings: HashMap<u64, Ring>,
    pub(super) pending: Vec<Pending>,
    pub(super) paths: Paths,
    pub(super) config: crate::config::daemon::DaemonConfig,
    pub(super) started: Instant,
    sync_timer: Option<TimerId>,
    save_failing: bool,
    /// Files written but not yet fsynced.
    unsynced: std::collections::BTreeSet<std::path::PathBuf>,
    /// Makes them durable on a helper thread.
    syncer: crate::store::syncer::Syncer,
    pub(super) startup_warnings: Vec<String>,
    /// Processes as seen this turn (see `proc_table`); dropped at the end of every turn.
    pub(super) proc_table: Option<crate::proc::kill::ProcTable>,
    /// Each entry's supervisor, made on first use.
    pub(super) sups: HashMap<u64, super::supervise::Sup>,
    /// How deep in supervisor steps we are, and the runs they ended (told about at depth 0).
    pub(super) feeding: u32,
    pub(super) ended: Vec<u64>,
    pub(super) scratch: Vec<u8>,
    /// Entries whose log index has unwritten records.
    pub(super) index_dirty: HashSet<u64>,
    pub(super) shutting_down: bool,
    /// Partial log lines per (entry, stream), kept only while log subscribers exist.
    pub(super) line_bufs: HashMap<(u64, u8), Vec<u8>>,
    exit_now: bool,
    pub(super) my_pid: i32,
    /// Builds in progress.
    pub(super) builds: super::build::Builds,
    /// Per-service timers (cron restarts, idle profile switches), by entry.
    pub(super) service_timers: HashMap<u64, [Option<TimerId>; 2]>,
    /// When a command last named each service that has an idle profile.
    pub(super) touched: HashMap<u64, Instant>,
    /// CPU and memory samples, taken while someone looks.
    pub(super) usage: super::usage::Sampling,
}

impl Daemon {
    pub fn new(paths: Paths) -> Result<Daemon> {
        // Signals first: the signalfd's mask must be set before any thread starts.
        let rx = Reactor::new(&paths.socket, &super::signals::HANDLED)?;
        // SAFETY: setting signals to ignored is process-wide and has no memory effects.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            // A file-size limit must make a log write fail (and be reported), not kill us.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            log::warn!("cannot become a child subreaper: {e}");
        }
        raise_nofile();
        let config = crate::config::daemon::load(&paths.config)?;
        let (reg, warnings) = crate::store::persist::load(&paths.state)?;
        crate::store::persist::report(&warnings);
        let startup_warnings = warnings;
        let mut d = Daemon {
            rx,
            reg,
            live: HashMap::new(),
            pids: HashMap::new(),
            rings: HashMap::new(),
            pending: Vec::new(),
            paths,
            config,
            started: Instant::now(),
            sync_timer: None,
            save_failing: false,
            unsynced: Default::default(),
            syncer: Default::default(),
            startup_warnings,
            proc_table: None,
            sups: HashMap::new(),
            feeding: 0,
            ended: Vec::new(),
            scratch: vec![0; 256 << 10],
            index_dirty: HashSet::new(),
            shutting_down: false,
            line_bufs: HashMap::new(),
            exit_now: false,
            my_pid: std::process::id() as i32,
            builds: Default::default(),
            service_timers: HashMap::new(),
            touched: HashMap::new(),
            usage: Default::default(),
        };
        d.readopt_all();
        let services: Vec<u64> = d
            .reg
            .iter()
            .filter(|e| e.service.is_some())
            .map(|e| e.id)
            .collect();
        for id in services {
            d.arm_service_timers(id);
        }
        d.save_now();
        log::info!(
            "wrangle daemon {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            d.paths.socket.display()
        );
        Ok(d)
    }

    /// Runs until shut down.
    pub fn run(&mut self) -> Result<()> {
        let mut events = Events::with_capacity(256);
        while !self.exit_now {
            self.rx.wait(&mut events)?;
            for ev in events.iter() {
                let token = ev.token();
                let (readable, writable) = (
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                );
                // Each piece of work is guarded: a bug costs its entry, not the daemon.
                match token {
                    LISTENER => self.guarded("accepting connections", None, |d| d.rx.accept()),
                    SIGNALS => self.guarded("handling signals", None, |d| d.on_signals()),
                    t => match self.rx.sources.get(&t).copied() {
                        Some(Source::Conn) => self.guarded("reading a connection", None, |d| {
                            if readable {
                                d.conn_readable(t);
                            }
                            if writable {
                                d.rx.dirty.insert(t);
                            }
                        }),
                        Some(Source::Pipe { id, stream }) => {
                            self.guarded("reading its output", Some(id), |d| {
                                d.pipe_readable(t, id, stream)
                            })
                        }
                        Some(Source::Input { id }) => {
                            self.guarded("writing its input", Some(id), |d| d.write_input(id))
                        }
                        Some(Source::Pidfd { id }) => {
                            self.guarded("watching it", Some(id), |d| d.adopted_ended(id))
                        }
                        Some(Source::BuildPipe { id }) => {
                            self.guarded("reading its build output", Some(id), |d| {
                                d.build_pipe_readable(t, id)
                            })
                        }
                        None => {}
                    },
                }
            }
            let busy = std::mem::take(&mut self.rx.busy);
            for t in busy {
                if let Some(Source::Pipe { id, stream }) = self.rx.sources.get(&t).copied() {
                    self.guarded("reading its output", Some(id), |d| {
                        d.pipe_readable(t, id, stream)
                    });
                }
            }
            for (_, kind) in self.rx.timers.pop_due() {
                let (what, entry) = super::guard::timer_subject(kind);
                self.guarded(what, entry, |d| d.on_timer(kind));
            }
            for t in std::mem::take(&mut self.rx.resume) {
                self.guarded("reading a connection", None, |d| d.conn_readable(t));
            }
            self.guarded("writing log indexes", None, |d| d.flush_indexes());
            // Saved before any reply about the change leaves (see store::persist).
            self.guarded("saving the registry", None, |d| d.save_changes());
            self.guarded("publishing events", None, |d| d.publish_events());
            self.guarded("sending to clients", None, |d| d.service_conns());
            self.proc_table = None;
        }
        self.save_now();
        // Last words to clients (e.g. the shutdown reply).
        self.rx.flush_all();
        self.rx.stop_listening();
        Ok(())
    }

    fn on_signals(&mut self) {
        for sig in self.rx.read_signals() {
            match sig {
                libc::SIGCHLD => self.reap(),
                libc::SIGTERM | libc::SIGINT => {
                    if self.shutting_down {
                        log::warn!("second termination signal: exiting now");
                        self.exit_now = true;
                    } else {
                        log::info!("termination signal: stopping every process, then exiting");
                        self.begin_shutdown(None, 0);
                    }
                }
                libc::SIGHUP => log::info!("SIGHUP ignored (nothing to reload)"),
                s => log::debug!("ignored signal {s}"),
            }
        }
        // A SIGCHLD may have been coalesced with another signal: reaping is cheap, do it anyway.
        self.reap();
    }

    /// Handles a connection's frames one at a time (a frame may pause the connection when the
    /// process it feeds is not reading).
    pub(super) fn conn_readable(&mut self, t: Token) {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match self.rx.next_frame(t, &mut buf) {
                Next::Frame(f) => self.on_frame(t, f),
                Next::Idle => return,
                Next::Closed => return self.close_conn(t),
                Next::Bad(e) => {
                    let code = match e {
                        FrameError::TooLarge(_) => Code::FrameTooLarge,
                        FrameError::Reserved(_) => Code::BadFrame,
                    };
                    return self.close_after_error(t, 0, code, &e.to_string());
                }
            }
        }
    }

    fn close_after_error(&mut self, t: Token, id: u32, code: Code, msg: &str) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.error(id, code.as_str(), msg);
            c.closing = true;
            self.rx.dirty.insert(t);
        }
    }

    pub(super) fn close_conn(&mut self, t: Token) {
        self.rx.close_conn(t);
        let mut timers = Vec::new();
        self.pending.retain_mut(|p| {
            if p.conn != Some(t) {
                return true;
            }
            match &p.kind {
                PendingKind::Wait { timer, .. } => {
                    timers.extend(*timer);
                    false
                }
                PendingKind::Ready(w) => {
                    timers.extend(w.timers());
                    false
                }
                // Stops and builds go on without anyone to tell.
                PendingKind::Batch { .. } | PendingKind::Rebuild { .. } => {
                    p.conn = None;
                    true
                }
            }
        });
        for tm in timers {
            self.rx.timers.cancel(tm);
        }
    }

    fn on_frame(&mut self, t: Token, f: Frame) {
        let greeted = self.rx.conns.get(&t).is_some_and(|c| c.greeted);
        match (greeted, f.kind()) {
            (false, Some(FrameKind::Hello)) => self.on_hello(t, &f),
            (false, _) => self.close_after_error(
                t,
                0,
                Code::BadFrame,
                "the first frame must be HELLO (see wrangle-protocol(7))",
            ),
            (true, Some(FrameKind::Request)) => self.on_request_frame(t, &f),
            (true, Some(FrameKind::Data)) if f.chan == chan::STDIN => self.on_input_frame(t, f),
            (true, _) => self.reply_err(
                t,
                f.id,
                &Error::new(
                    Code::BadFrame,
                    format!("unexpected frame kind {} on channel {}", f.kind, f.chan),
                ),
            ),
        }
    }

    fn on_hello(&mut self, t: Token, f: &Frame) {
        let hello: Hello = match serde_json::from_slice(&f.payload) {
            Ok(h) => h,
            Err(e) => {
                return self.close_after_error(t, 0, Code::BadFrame, &format!("bad HELLO: {e}"))
            }
        };
        let Some(version) = hello
            .versions
            .iter()
            .filter(|v| VERSIONS.contains(v))
            .max()
            .copied()
        else {
            return self.close_after_error(
                t,
                0,
                Code::UnsupportedVersion,
                &format!(
                    "no common protocol version: client speaks {:?}, daemon {:?}; use the same wrangle binary for both",
                    hello.versions, VERSIONS
                ),
            );
        };
        let welcome = Welcome {
            version,
            daemon: format!("wrangle {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
        };
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.greeted = true;
            c.client = hello.client;
            c.json(FrameKind::Welcome, 0, &welcome);
            self.rx.dirty.insert(t);
        }
    }

    fn on_request_frame(&mut self, t: Token, f: &Frame) {
        let req: Request = match serde_json::from_slice(&f.payload) {
            Ok(r) => r,
            Err(e) => {
                let op = serde_json::from_slice::<serde_json::Value>(&f.payload)
                    .ok()
                    .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(String::from));
                let err = match op {
                    Some(op) if e.to_string().contains("unknown variant") => Error::new(
                        Code::UnknownOp,
                        format!(
                            "unknown op {op:?} (this daemon is wrangle {})",
                            env!("CARGO_PKG_VERSION")
                        ),
                    ),
                    _ => Error::new(Code::BadRequest, format!("bad request: {e}")),
                };
                return self.reply_err(t, f.id, &err);
            }
        };
        // Checked at the boundary: no handler sees a request it cannot act on.
        if let Err(e) = req.validate() {
            return self.reply_err(t, f.id, &e);
        }
        log::debug!("request {} {:?}", f.id, req.op());
        // A bug in one handler must not take the daemon down with it.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(t, f.id, req)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.reply_err(t, f.id, &e),
            Err(_) => self.reply_err(
                t,
                f.id,
                &Error::new(Code::Internal, "the daemon hit a bug handling this request"),
            ),
        }
    }

    /// Queues a RESPONSE.
    pub(super) fn reply<T: serde::Serialize>(&mut self, t: Token, id: u32, value: &T) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.json(FrameKind::Response, id, value);
            self.rx.dirty.insert(t);
        }
    }

    /// Queues an ERROR.
    pub(super) fn reply_err(&mut self, t: Token, id: u32, e: &Error) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.error(id, e.code.as_str(), &e.message);
            self.rx.dirty.insert(t);
        }
    }

    /// Sends queued output and pumps followed streams for every connection that needs it.
    fn service_conns(&mut self) {
        let dirty: Vec<Token> = self.rx.dirty.drain().collect();
        for t in dirty {
            self.pump(t);
            let Some(c) = self.rx.conns.get_mut(&t) else {
                continue;
            };
            let failed = c.flush().is_err();
            let done = c.closing && c.backlog() == 0;
            let more = !failed && c.backlog() < HIGH_WATER && self.has_unsent(t);
            if failed || done {
                self.close_conn(t);
            } else if more {
                // Room again after the flush: keep pumping next turn (the poll will not wait).
                self.rx.dirty.insert(t);
            }
        }
    }

    fn has_unsent(&self, t: Token) -> bool {
        let Some(c) = self.rx.conns.get(&t) else {
            return false;
        };
        c.follows.iter().any(|f| {
            f.exit_at.is_some_and(|e| f.seq >= e.0)
                || self.rings.get(&f.entry).is_some_and(|r| r.end() > f.seq)
        })
    }

    /// Moves followed output from the rings into the connection's buffer, up to the watermark.
    fn pump(&mut self, t: Token) {
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return;
        };
        let mut buf = Vec::new();
        for i in 0..c.follows.len() {
            let (entry, req, streams) =
                (c.follows[i].entry, c.follows[i].req, c.follows[i].streams);
            let Some(ring) = self.rings.get(&entry) else {
                continue;
            };
            let runs = self.reg.get(entry).map_or(&[][..], |e| e.runs.as_slice());
            while c.backlog() < HIGH_WATER {
                buf.clear();
                let seq = c.follows[i].seq;
                // Never cross into the next run in one frame: its start is announced first.
                let at = runs.partition_point(|r| r.start_seq <= seq);
                let run = at.checked_sub(1).map(|k| runs[k].run);
                let room = runs.get(at).map_or(64 << 10, |next| {
                    (next.start_seq - seq).min(64 << 10) as usize
                });
                let Some(seg) = ring.read(seq, room, &mut buf) else {
                    break;
                };
                if seg.missed > 0 {
                    c.json(
                        FrameKind::Event,
                        req,
                        &StreamEvent::Missed { bytes: seg.missed },
                    );
                }
                if let Some(r) = run.filter(|r| *r != c.follows[i].run) {
                    c.follows[i].run = r;
                    c.json(FrameKind::Event, req, &StreamEvent::Run { run: r });
                }
                if streams & seg.stream != 0 {
                    c.frame(FrameKind::Data, seg.stream, req, &buf);
                }
                c.follows[i].seq = seq + seg.missed + seg.len as u64;
            }
        }
        // Attaches whose run ended and who have all of its output: say how it ended.
        let mut ended = Vec::new();
        c.follows.retain(|f| match f.exit_at {
            Some((end, code, sig)) if f.seq >= end => {
                ended.push((f.req, code, sig));
                false
            }
            _ => true,
        });
        for (req, exit_code, exit_signal) in ended {
            let ev = StreamEvent::Exited {
                exit_code,
                exit_signal,
            };
            c.json(FrameKind::Event, req, &ev);
            c.json(FrameKind::Response, req, &serde_json::json!({}));
            c.inputs.retain(|b| b.req != req);
        }
    }

    /// Marks every connection following `id` for service.
    pub(super) fn wake_followers(&mut self, id: u64) {
        for (t, c) in &self.rx.conns {
            if c.follows.iter().any(|f| f.entry == id) {
                self.rx.dirty.insert(*t);
            }
        }
    }

    fn on_timer(&mut self, kind: TimerKind) {
        match kind {
            TimerKind::Entry(id, slot) => self.entry_timer(id, slot),
            TimerKind::Watch(id) => self.watch_due(id),
            TimerKind::Relook(id) => self.relook_due(id),
            TimerKind::AdoptPoll(id) => self.adopt_poll(id),
            TimerKind::ReadyPoll(t, req) => self.ready_poll(t, req),
            TimerKind::Cron(id, at) => self.cron_due(id, at),
            TimerKind::Idle(id) => self.idle_due(id),
            TimerKind::WaitTimeout(t, req) => self.wait_timeout(t, req),
            TimerKind::Usage => self.usage_due(),
            TimerKind::Sync => {
                self.sync_timer = None;
                self.syncer.submit(std::mem::take(&mut self.unsynced));
            }
        }
    }

    /// Writes the entries changed this turn; a debounced background fsync makes them durable.
    pub(crate) fn save_changes(&mut self) {
        match crate::store::persist::save_changes(
            &self.paths.state,
            &mut self.reg,
            &mut self.unsynced,
        ) {
            Ok(()) => {}
            Err(e) => {
                if !self.save_failing {
                    log::error!(
                        "cannot save the registry in {}: {e} (will retry)",
                        self.paths.state.display()
                    );
                }
                self.save_failing = true;
                return;
            }
        }
        self.save_failing = false;
        if self.sync_timer.is_none() {
            self.sync_timer = Some(self.rx.timers.add(SYNC_DELAY, TimerKind::Sync));
        }
    }

    /// Saves and fsyncs now (start-up, shutdown): waits for the helper thread too.
    pub(super) fn save_now(&mut self) {
        self.save_changes();
        if let Some(t) = self.sync_timer.take() {
            self.rx.timers.cancel(t);
        }
        self.syncer.flush();
        if let Err(e) = crate::store::persist::sync(&mut self.unsynced) {
            log::warn!("cannot fsync {}: {e}", self.paths.state.display());
        }
    }

    /// Ends the loop after this turn.
    pub(super) fn exit(&mut self) {
        self.exit_now = true;
    }

    /// Watches `fd` for reading, as `source`.
    pub(super) fn register_fd(&mut self, fd: i32, source: Source) -> std::io::Result<Token> {
        self.rx.register_fd(fd, source)
    }

    pub(super) fn deregister_fd(&mut self, fd: i32, t: Token) {
        self.rx.deregister_fd(fd, t);
    }
}

/// Raises the soft open-file limit to the hard one (a thousand entries need two thousand pipe
/// ends); children get the original soft limit back.
fn raise_nofile() {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let Some(cur) = lim.current {
        crate::proc::spawn::set_child_nofile(cur);
    }
    let raised = rustix::process::Rlimit {
        current: lim.maximum,
        maximum: lim.maximum,
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised) {
        log::warn!("cannot raise the open-file limit: {e}");
    }
}
