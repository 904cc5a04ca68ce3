//! The daemon's state and what each event of the loop means: readiness of a connection, a
//! pipe, an input or a pidfd; a signal; a timer. The mechanics are the reactor's
//! (`reactor.rs`); requests are answered in `handlers.rs` after `session.rs` decoded them;
//! each entry's life is its supervisor's (`supervise.rs`); replies owed later are in
//! `Pending`.

use super::reactor::{Next, Reactor, Source, LISTENER, SIGNALS, WAKER};
use super::state::{Daemon, TimerKind};
use crate::error::{Code, Result};
use crate::paths::Paths;
use crate::proto::frame::FrameError;
use mio::{Events, Token};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The signals the daemon reads as events: children ending, and requests to end.
const HANDLED: [i32; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Output kept in memory per entry for followers.
pub(super) const RING_BYTES: usize = 256 << 10;

impl Daemon {
    /// The daemon on `listener`, talking to the keeper over `link` (which holds the runs
    /// `held` that a previous daemon started; `takeover`: that daemon wrote its live state
    /// and handed over on purpose).
    pub(super) fn new(
        paths: Paths,
        listener: std::os::fd::OwnedFd,
        link: Option<super::kept::Link>,
        held: std::collections::BTreeMap<u64, super::kept::HeldRun>,
        takeover: bool,
    ) -> Result<Daemon> {
        // Signals first: the signalfd's mask must be set before any thread starts.
        let rx = Reactor::new(listener, &paths.socket, &HANDLED)?;
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
        let d = Daemon::assemble(paths, rx, link, held, takeover)?;
        if takeover {
            log::info!("taking over from the previous daemon (upgrade)");
        }
        log::info!(
            "wrangle daemon {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            d.paths.socket.display()
        );
        Ok(d)
    }

    /// The daemon's state loaded from `paths`, around reactor `rx`: the runs the keeper
    /// `held` taken over, other entries re-adopted or marked ended, service timers armed, the
    /// registry saved; every entry resumed where its previous daemon left it (`takeover`: from
    /// the live state that daemon wrote, see `handover.rs`).
    pub(super) fn assemble(
        paths: Paths,
        rx: Reactor<TimerKind>,
        link: Option<super::kept::Link>,
        held: std::collections::BTreeMap<u64, super::kept::HeldRun>,
        takeover: bool,
    ) -> Result<Daemon> {
        let config = crate::config::daemon::load(&paths.config)?;
        let (reg, store, warnings) = crate::store::load::load(&paths.state)?;
        crate::store::persist::report(&warnings);
        let startup_warnings = warnings;
        let jobs = super::jobs::Jobs::new(rx.waker());
        let feeder = super::screenfeed::Feeder::new(jobs.notifier());
        let mut d = Daemon {
            jobs,
            rx,
            reg,
            live: HashMap::new(),
            pids: HashMap::new(),
            rings: HashMap::new(),
            screens: HashMap::new(),
            feeder,
            sizers: HashMap::new(),
            pending: Vec::new(),
            paths,
            config,
            started: Instant::now(),
            saving: super::state::Saving::new(store),
            startup_warnings,
            proc_table: None,
            orphans: None,
            read_buf: Vec::new(),
            sups: HashMap::new(),
            feeding: 0,
            ended: Vec::new(),
            scratch: vec![0; 256 << 10],
            index_dirty: HashSet::new(),
            shutting_down: false,
            line_bufs: HashMap::new(),
            passthrough: None,
            replay_screens: std::env::var_os(crate::keeper::AFTER_CRASH_ENV).is_none(),
            exit_now: false,
            my_pid: std::process::id() as i32,
            builds: Default::default(),
            service_timers: HashMap::new(),
            touched: HashMap::new(),
            restart_why: HashMap::new(),
            usage: Default::default(),
            keeper: None,
        };
        if let Some(link) = link {
            d.attach_keeper(link);
        }
        // Read before the take-over changes them.
        let records = d.phase_records();
        let ended = d.readopt_all(held);
        let services: Vec<u64> = d
            .reg
            .iter()
            .filter(|e| e.service.is_some())
            .map(|e| e.id)
            .collect();
        for id in services {
            d.arm_service_timers(id);
        }
        let ended = d.resume_phases(ended, takeover, records);
        for id in ended {
            // Ended while no daemon ran: its end is told now, and its restart policy applies.
            let _ = d.feed(id, crate::proc::supervisor::Input::Reaped);
        }
        d.save_now();
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
                    WAKER => {
                        for done in self.jobs.done() {
                            self.guarded("taking a helper's result", None, |d| d.job_done(done));
                        }
                    }
                    t => match self.rx.sources.get(&t).copied() {
                        Some(Source::Conn) => self.guarded("reading a connection", None, |d| {
                            if readable {
                                d.conn_readable(t);
                            }
                            if writable {
                                d.rx.dirty.insert(t);
                            }
                        }),
                        Some(Source::Keeper) => {
                            self.guarded("reading the keeper", None, |d| d.keeper_readable())
                        }
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
            let later = std::mem::take(&mut self.rx.later);
            self.rx.resume.extend(later);
            self.proc_table = None;
            self.orphans = None;
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
        // The daemon's one read buffer (empty while a read is under way: a nested read, if
        // any, gets one of its own).
        let mut buf = std::mem::take(&mut self.read_buf);
        buf.resize(crate::proto::frame::READ_CHUNK, 0);
        self.conn_frames(t, &mut buf);
        self.read_buf = buf;
    }

    fn conn_frames(&mut self, t: Token, buf: &mut [u8]) {
        let before = self.rx.conns.get(&t).map_or(0, |c| c.backlog());
        loop {
            match self.rx.next_frame(t, buf) {
                Next::Frame(f) => {
                    self.on_frame(t, f);
                    let grown = self
                        .rx
                        .conns
                        .get(&t)
                        .is_some_and(|c| c.backlog() >= before + super::reactor::TURN_OUTPUT);
                    if grown {
                        // Its next request waits for the next turn (others go first).
                        if !self.rx.later.contains(&t) {
                            self.rx.later.push(t);
                        }
                        return;
                    }
                }
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

    pub(super) fn on_timer(&mut self, kind: TimerKind) {
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
            TimerKind::LogRetry(id, run) => self.log_retry_due(id, run),
            TimerKind::Sync => {
                self.sync_due();
            }
        }
    }

    /// A helper thread finished a job.
    pub(super) fn job_done(&mut self, done: super::jobs::Done) {
        match done {
            super::jobs::Done::LogScan {
                conn,
                req,
                id,
                run,
                found,
            } => self.log_scanned(conn, req, id, run, found),
            super::jobs::Done::ScreenFed { id } => self.check_screen_waits(id),
            super::jobs::Done::ScreenRoom { id } => self.screen_room(id),
            super::jobs::Done::Screen { conn, req, reply } => self.screen_read(conn, req, reply),
            super::jobs::Done::ScreenChecked {
                conn,
                req,
                id,
                generation,
                matched,
            } => self.screen_checked(conn, req, id, generation, matched),
            super::jobs::Done::LogRead { conn, req, reply } => self.log_read(conn, req, reply),
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
