//! The keeper: the small process that outlives daemons, so that a daemon may die or be
//! replaced without any process it runs noticing.
//!
//! `wrangle daemon` binds the socket, takes the locks and becomes the keeper; the daemon proper
//! (the "worker", the event loop of `crate::daemon`) is its child, run from the same binary.
//! The keeper is a child subreaper and holds copies of the listening socket and of every run's
//! pipe ends and terminal master (the worker sends them as it starts each run, see `wire.rs`).
//! So when a worker dies (kill -9, OOM, a panic):
//! - its children are re-parented to the keeper, which reaps them and keeps their wait status;
//! - their pipes and terminals stay open (no SIGPIPE, no EOF, no hang-up); what they write
//!   waits in the pipe buffer;
//! - clients' connections queue on the socket;
//! - the keeper starts a new worker at once (after a quick crash, with a backoff up to 5 s)
//!   and hands it every descriptor and every exit status it kept.
//!
//! `wrangle upgrade` is the same hand-over with the old worker still alive: it stops reading,
//! saves the registry, and asks for an upgrade; the keeper starts the new binary, and only
//! when that one says it is ready does it tell the old one to exit (else the old one carries
//! on, and the upgrade fails with the reason).
//!
//! After an upgrade, the keeper replaces itself too: it execs the new binary in its own place
//! (same pid, every descriptor kept; see `reexec.rs`), when the new daemon says it can.
//!
//! The keeper does nothing else: no parsing beyond `wire.rs`'s fixed messages, no allocation
//! per event beyond the messages' small buffers, no files. It costs, per running entry, the
//! few descriptors it holds and about 200 bytes.

pub mod reexec;
pub mod wire;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wire::{Msg, Recv};

/// The descriptor numbers a worker finds at exec: the channel, the listening socket, then
/// the locks.
pub const FD_CHANNEL: i32 = 3;
pub const FD_LISTENER: i32 = 4;
pub const FD_LOCKS: i32 = 5;

/// The variable that tells `wrangle daemon` it is a keeper's worker: `VERSION LOCKS MODE`,
/// MODE one of `fresh`, `resurrect` (the first worker of `daemon --resurrect`), `takeover`
/// (an upgrade: the old worker waits for this one to be ready).
pub const WORKER_ENV: &str = "WRANGLE_WORKER";
/// Set for a worker started because the previous one failed by itself (aborted on a panic,
/// or a fault; not killed from outside): it starts
/// its terminal entries' screens blank rather than replaying their logs, so that output that
/// crashed a daemon's screen parser (the release build aborts on a panic) cannot crash the
/// next one the same way.
pub const AFTER_CRASH_ENV: &str = "WRANGLE_WORKER_AFTER_CRASH";

/// Set for a worker started before any was ready when a `daemon --detach` waits: the number
/// of the descriptor (after the locks) on which it writes why it could not start (see
/// `crate::daemon::report_failure`).
pub const REPORT_ENV: &str = "WRANGLE_WORKER_REPORT";

/// How long a new binary has to say it is ready during an upgrade.
pub const UPGRADE_WITHIN: Duration = Duration::from_secs(5);

/// The longest wait before starting a worker again after quick crashes.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What `wrangle daemon` hands the keeper.
pub struct Start {
    /// The binary workers run (an upgrade replaces it).
    pub exe: PathBuf,
    pub listener: OwnedFd,
    pub locks: Vec<OwnedFd>,
    /// Told `R` once the first worker is ready (`daemon --detach`).
    pub ready: Option<OwnedFd>,
    /// Removed when the keeper ends for good.
    pub socket: PathBuf,
    pub resurrect: bool,
    /// Workers are started with `--passthrough`.
    pub passthrough: bool,
    /// The open-file limit the keeper was started with (its workers get it back).
    pub nofile: Option<u64>,
}

/// One run the keeper holds.
struct Held {
    pid: i32,
    start_time: u64,
    status: Option<i32>,
    fds: Vec<(u8, OwnedFd)>,
}

struct Worker {
    pid: i32,
    chan: OwnedFd,
    ready: bool,
    started: Instant,
    /// Said it exits for good (shutdown).
    bye: bool,
    /// The other end of the silent stand-in for a channel the worker closed (kept open, so
    /// that the stand-in never polls readable).
    muted: Option<OwnedFd>,
}

impl Worker {
    /// The worker closed its channel (it is exiting, or carries on without us): stop
    /// listening to it, keep its pid to reap it.
    fn mute(&mut self) {
        if let Ok((a, b)) = wire::pair() {
            self.chan = a;
            self.muted = Some(b);
        }
    }
}

struct Candidate {
    worker: Worker,
    exe: PathBuf,
    deadline: Instant,
}

struct Keeper {
    start: Start,
    runs: BTreeMap<u64, Held>,
    worker: Option<Worker>,
    candidate: Option<Candidate>,
    /// Workers told to exit (replaced) or killed (failed candidates): reaped quietly.
    leaving: Vec<i32>,
    respawn_at: Option<Instant>,
    backoff: Duration,
    /// The last worker died without being asked to (see [`AFTER_CRASH_ENV`]).
    crashed: bool,
    ever_ready: bool,
    /// A termination signal came: the worker is shutting down, then so do we.
    stopping: bool,
    exit: Option<i32>,
    signals: crate::sys::signalfd::SignalFd,
}

/// Runs the keeper until its worker shuts down for good; returns the exit status.
pub fn run(start: Start) -> i32 {
    match Keeper::new(start) {
        Some(mut k) => k.run(),
        None => 1,
    }
}

impl Keeper {
    /// A keeper with nothing held yet, its first worker due at once; None if signals cannot
    /// be set up.
    fn new(start: Start) -> Option<Keeper> {
        let signals = match crate::sys::signalfd::SignalFd::new(&[
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
        ]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wrangle daemon: cannot set up signal handling: {e}");
                return None;
            }
        };
        // SAFETY: setting a signal to ignored is process-wide and has no memory effects.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            log::warn!("keeper: cannot become a child subreaper: {e}");
        }
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, c"wrangle-keeper".as_ptr());
        }
        raise_nofile();
        Some(Keeper {
            start,
            runs: BTreeMap::new(),
            worker: None,
            candidate: None,
            leaving: Vec::new(),
            respawn_at: Some(Instant::now()),
            backoff: Duration::ZERO,
            crashed: false,
            ever_ready: false,
            stopping: false,
            exit: None,
            signals,
        })
    }

    fn run(&mut self) -> i32 {
        loop {
            if let Some(code) = self.exit {
                let _ = std::fs::remove_file(&self.start.socket);
                return code;
            }
            let now = Instant::now();
            if self.respawn_at.is_some_and(|t| t <= now) {
                self.respawn_at = None;
                self.start_worker();
                continue;
            }
            if self.candidate.as_ref().is_some_and(|c| c.deadline <= now) {
                self.candidate_failed(format!(
                    "the new daemon did not answer within {} s",
                    wire_secs(UPGRADE_WITHIN)
                ));
                continue;
            }
            let deadline = [self.respawn_at, self.candidate.as_ref().map(|c| c.deadline)]
                .into_iter()
                .flatten()
                .min();
            let timeout = deadline.map(|d| {
                let left = d.saturating_duration_since(now);
                rustix::event::Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                }
            });
            let (has_w, has_c) = (self.worker.is_some(), self.candidate.is_some());
            let ready: Vec<bool> = {
                let mut fds = vec![PollFd::new(&self.signals, PollFlags::IN)];
                if let Some(w) = &self.worker {
                    fds.push(PollFd::new(&w.chan, PollFlags::IN));
                }
                if let Some(c) = &self.candidate {
                    fds.push(PollFd::new(&c.worker.chan, PollFlags::IN));
                }
                match poll(&mut fds, timeout.as_ref()) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => {
                        log::error!("keeper: poll failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                fds.iter().map(|f| !f.revents().is_empty()).collect()
            };
            if ready[0] {
                self.on_signals();
            }
            if has_w && ready[1] {
                self.read_worker(Some(64));
            }
            if has_c && ready[1 + usize::from(has_w)] {
                self.read_candidate(64);
            }
        }
    }

    fn on_signals(&mut self) {
        while let Ok(Some(sig)) = self.signals.read() {
            match sig {
                libc::SIGCHLD => {}
                s => self.terminate(s),
            }
        }
        self.reap();
    }

    /// A termination signal: the worker shuts down (stopping every process), then we exit.
    fn terminate(&mut self, sig: i32) {
        self.stopping = true;
        match &self.worker {
            Some(w) => {
                let _ = rustix::process::kill_process(
                    Pid::from_raw(w.pid).expect("a worker's pid is positive"),
                    Signal::from_named_raw(sig).unwrap_or(Signal::TERM),
                );
            }
            None => {
                // No worker to stop them gracefully: ask every process we hold to end.
                for h in self.runs.values().filter(|h| h.status.is_none()) {
                    if let Some(p) = Pid::from_raw(h.pid) {
                        let _ = rustix::process::kill_process(p, Signal::TERM);
                    }
                }
                self.exit = Some(0);
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let (pid, status) = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((p, s))) => (p.as_raw_nonzero().get(), s.as_raw()),
                Ok(None) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            };
            if self.worker.as_ref().is_some_and(|w| w.pid == pid) {
                // What it said before it died comes first (a bye, say, is in the channel
                // when its end arrives with the same poll).
                self.read_worker(None);
                let w = self.worker.take().expect("checked");
                self.worker_gone(w, status);
            } else if self.candidate.as_ref().is_some_and(|c| c.worker.pid == pid) {
                self.candidate_failed(format!(
                    "the new daemon {} before it was ready (see daemon.log)",
                    describe(status)
                ));
            } else if let Some(pos) = self.leaving.iter().position(|&p| p == pid) {
                self.leaving.swap_remove(pos);
            } else if let Some((&id, h)) = self
                .runs
                .iter_mut()
                .find(|(_, h)| h.pid == pid && h.status.is_none())
            {
                // A run whose daemon died: keep how it ended for the next one.
                h.status = Some(status);
                if let Some(w) = &self.worker {
                    let _ = wire::send(w.chan.as_fd(), &Msg::Exit { id, pid, status }, &[]);
                }
            }
            // Anything else: a leftover of a run whose daemon died; nobody needs its status.
        }
    }

    fn worker_gone(&mut self, w: Worker, status: i32) {
        let code = exit_code(status);
        if w.bye || self.stopping {
            self.exit = Some(code);
            return;
        }
        if !self.ever_ready && self.runs.is_empty() {
            // It never started (bad configuration, unreadable state): say so like a daemon
            // that fails to start, rather than trying for ever.
            self.exit = Some(if code == 0 { 1 } else { code });
            return;
        }
        if self.candidate.is_some() {
            // The new daemon of an upgrade may have said it is ready just as the old one died:
            // then it serves already (and may have started runs), so it is the daemon now.
            self.read_candidate(usize::MAX);
            if self.worker.is_some() {
                log::error!(
                    "keeper: the old daemon (pid {}) {} once the new one was ready",
                    w.pid,
                    describe(status)
                );
                return;
            }
        }
        log::error!(
            "keeper: the daemon (pid {}) {}; starting a new one",
            w.pid,
            describe(status)
        );
        if let Some(c) = self.candidate.take() {
            // The upgrade it asked for dies with it: two daemons must never read the same
            // runs, and the new one starts from what is held now.
            log::error!("keeper: abandoning the upgrade to {}", c.exe.display());
            kill(c.worker.pid);
            self.leaving.push(c.worker.pid);
        }
        // A daemon that failed by itself (a panic aborts the release build; a fault), not
        // one killed from outside (kill -9, the OOM killer) or one that exited.
        self.crashed = libc::WIFSIGNALED(status)
            && matches!(
                libc::WTERMSIG(status),
                libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            );
        let quick = w.started.elapsed() < Duration::from_secs(1);
        self.backoff = if quick {
            (self.backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF)
        } else {
            Duration::ZERO
        };
        self.respawn_at = Some(Instant::now() + self.backoff);
    }

    fn start_worker(&mut self) {
        let mode = if !self.ever_ready && self.start.resurrect {
            "resurrect"
        } else {
            "fresh"
        };
        let exe = self.start.exe.clone();
        match self.spawn(&exe, mode) {
            Ok(w) => self.worker = Some(w),
            Err(e) => {
                log::error!("keeper: cannot start the daemon {}: {e}", exe.display());
                if !self.ever_ready && self.runs.is_empty() {
                    self.exit = Some(1);
                } else {
                    self.backoff =
                        (self.backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                    self.respawn_at = Some(Instant::now() + self.backoff);
                }
            }
        }
    }

    /// Starts a worker from `exe` and hands it everything held.
    fn spawn(&mut self, exe: &std::path::Path, mode: &str) -> io::Result<Worker> {
        let (mine, theirs) = wire::pair()?;
        let mut give: Vec<i32> = vec![theirs.as_raw_fd(), self.start.listener.as_raw_fd()];
        give.extend(self.start.locks.iter().map(|l| l.as_raw_fd()));
        let mut cmd = std::process::Command::new(exe);
        // The starter still waits for the first worker: that one says why it fails, there.
        match &self.start.ready {
            Some(fd) if !self.ever_ready => {
                cmd.env(REPORT_ENV, (FD_CHANNEL + give.len() as i32).to_string());
                give.push(fd.as_raw_fd());
            }
            _ => {
                cmd.env_remove(REPORT_ENV);
            }
        }
        let nofile = self.start.nofile;
        cmd.arg("daemon");
        if self.start.passthrough {
            cmd.arg("--passthrough");
        }
        if self.crashed {
            cmd.env(AFTER_CRASH_ENV, "1");
        } else {
            cmd.env_remove(AFTER_CRASH_ENV);
        }
        cmd.env(
            WORKER_ENV,
            format!("{} {} {mode}", wire::VERSION, self.start.locks.len()),
        )
        .env_remove("WRANGLE_AUTOSTART")
        .env_remove(reexec::STATE_ENV);
        // SAFETY: the closure runs in the forked child before exec and only makes system
        // calls (no allocation: `give` was built before the fork).
        unsafe {
            cmd.pre_exec(move || hand_down(&give, nofile));
        }
        let child = cmd.spawn()?;
        drop(theirs);
        let w = Worker {
            pid: child.id() as i32,
            chan: mine,
            ready: false,
            started: Instant::now(),
            bye: false,
            muted: None,
        };
        wire::set_timeouts(&w.chan, Duration::from_secs(5), Duration::from_secs(5));
        if let Err(e) = self.sync(w.chan.as_fd()) {
            log::error!("keeper: cannot hand the new daemon what it needs: {e}");
            kill(w.pid);
            self.leaving.push(w.pid);
            return Err(e);
        }
        Ok(w)
    }

    /// Sends every held run, then `S`.
    fn sync(&self, chan: BorrowedFd<'_>) -> io::Result<()> {
        for (&id, h) in &self.runs {
            let tags: Vec<u8> = h.fds.iter().map(|f| f.0).collect();
            let fds: Vec<BorrowedFd<'_>> = h.fds.iter().map(|f| f.1.as_fd()).collect();
            wire::send(
                chan,
                &Msg::Hold {
                    id,
                    pid: h.pid,
                    start_time: h.start_time,
                    status: h.status,
                    tags,
                },
                &fds,
            )?;
        }
        wire::send(chan, &Msg::Synced, &[])
    }

    /// Reads what the worker sent: at most `limit` messages (other sources get their turn),
    /// or everything (a dying worker's last words come before its end is handled).
    fn read_worker(&mut self, limit: Option<usize>) {
        for _ in 0..limit.unwrap_or(usize::MAX) {
            let Some(w) = &self.worker else { return };
            match wire::recv(w.chan.as_fd(), false) {
                Ok(Recv::Msg(m, fds)) => self.on_worker_msg(m, fds),
                Ok(Recv::Bad(b)) => log::warn!("keeper: ignored a bad message: {b:?}"),
                Ok(Recv::Empty) => return,
                Ok(Recv::Closed) | Err(_) => {
                    // It is exiting: its end is seen through SIGCHLD. Stop watching it.
                    self.mute_worker();
                    return;
                }
            }
        }
    }

    /// The worker closed its end: keep the pid (to reap it) but not the channel.
    fn mute_worker(&mut self) {
        if let Some(w) = &mut self.worker {
            w.mute();
        }
    }

    fn on_worker_msg(&mut self, m: Msg, fds: Vec<OwnedFd>) {
        match m {
            Msg::Hold {
                id,
                pid,
                start_time,
                tags,
                ..
            } => {
                let fds = tags.into_iter().zip(fds).collect();
                self.runs.insert(
                    id,
                    Held {
                        pid,
                        start_time,
                        status: None,
                        fds,
                    },
                );
            }
            Msg::Close { id, tag } => {
                if let Some(h) = self.runs.get_mut(&id) {
                    h.fds.retain(|f| f.0 != tag);
                }
            }
            Msg::End { id } => {
                self.runs.remove(&id);
            }
            Msg::Ready { .. } => {
                if let Some(w) = &mut self.worker {
                    w.ready = true;
                }
                self.became_ready();
            }
            Msg::Bye => {
                if let Some(w) = &mut self.worker {
                    w.bye = true;
                }
            }
            Msg::Upgrade { binary } => self.upgrade(binary),
            other => log::warn!("keeper: unexpected message from the daemon: {other:?}"),
        }
    }

    fn became_ready(&mut self) {
        self.ever_ready = true;
        self.crashed = false;
        self.backoff = Duration::ZERO;
        if let Some(fd) = self.start.ready.take() {
            let _ = rustix::io::write(&fd, b"R");
        }
    }

    fn upgrade(&mut self, binary: Vec<u8>) {
        if self.candidate.is_some() {
            return self.verdict(false, "an upgrade is already under way".into());
        }
        let exe = if binary.is_empty() {
            self.start.exe.clone()
        } else {
            PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(binary))
        };
        match self.spawn(&exe, "takeover") {
            Ok(worker) => {
                self.candidate = Some(Candidate {
                    worker,
                    exe,
                    deadline: Instant::now() + UPGRADE_WITHIN,
                })
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                self.verdict(
                    false,
                    "the new daemon exited before it was ready (see daemon.log)".into(),
                )
            }
            Err(e) => self.verdict(false, format!("cannot run {}: {e}", exe.display())),
        }
    }

    /// Reads at most `limit` messages of the new daemon of an upgrade.
    fn read_candidate(&mut self, limit: usize) {
        for _ in 0..limit {
            let Some(c) = &self.candidate else { return };
            match wire::recv(c.worker.chan.as_fd(), false) {
                Ok(Recv::Msg(Msg::Ready { keeper_state }, _)) => {
                    self.commit();
                    // The new binary can keep, too: it replaces this keeper.
                    if keeper_state.is_some_and(|v| v >= reexec::VERSION) {
                        self.replace_self();
                    }
                    return;
                }
                Ok(Recv::Msg(
                    m @ (Msg::Hold { .. } | Msg::Close { .. } | Msg::End { .. }),
                    fds,
                )) => {
                    // Runs it started or ended while taking over (a restart due): the old
                    // daemon is paused, so these are the news.
                    self.on_worker_msg(m, fds);
                }
                Ok(Recv::Msg(m, _)) => log::warn!("keeper: unexpected message {m:?}"),
                Ok(Recv::Bad(b)) => log::warn!("keeper: ignored a bad message: {b:?}"),
                Ok(Recv::Empty) => return,
                Ok(Recv::Closed) | Err(_) => {
                    // It is going: its exit (SIGCHLD) fails the upgrade. Stop polling it.
                    if let Some(c) = &mut self.candidate {
                        c.worker.mute();
                    }
                    return;
                }
            }
        }
    }

    /// The new daemon is ready: the old one is told to go, the new one takes its place.
    fn commit(&mut self) {
        let Some(c) = self.candidate.take() else {
            return;
        };
        self.verdict(true, String::new());
        if let Some(old) = self.worker.take() {
            self.leaving.push(old.pid);
        }
        let mut w = c.worker;
        w.ready = true;
        self.worker = Some(w);
        self.start.exe = c.exe;
        self.became_ready();
    }

    fn candidate_failed(&mut self, reason: String) {
        let Some(c) = self.candidate.take() else {
            return;
        };
        kill(c.worker.pid);
        self.leaving.push(c.worker.pid);
        log::error!("keeper: upgrade to {} failed: {reason}", c.exe.display());
        self.verdict(false, reason);
    }

    /// Tells the (old) worker how its upgrade went.
    fn verdict(&mut self, ok: bool, reason: String) {
        if let Some(w) = &self.worker {
            if let Err(e) = wire::send(w.chan.as_fd(), &Msg::Verdict { ok, reason }, &[]) {
                log::warn!("keeper: cannot tell the daemon how its upgrade went: {e}");
            }
        }
    }
}

fn kill(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
}

fn wire_secs(d: Duration) -> u64 {
    d.as_secs()
}

/// How a wait status reads in a sentence ("exited with status 1", "was killed by signal 9").
fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended (wait status {status:#x})")
    }
}

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Raises the open-file limit to its maximum: the keeper holds up to four descriptors per run.
fn raise_nofile() {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: lim.maximum,
        maximum: lim.maximum,
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised);
}

/// In the forked child, before exec: the descriptors in `give` become 3, 4, 5… (without the
/// close-on-exec flag), signals are unblocked and the open-file limit is the one we started
/// with. Only system calls: this runs between fork and exec.
fn hand_down(give: &[i32], nofile: Option<u64>) -> io::Result<()> {
    // SAFETY: plain system calls on descriptors this process owns; `set` is initialized by
    // sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // Out of the way first (above every target number), so that no target clobbers a
        // source.
        let mut high = [0i32; 16];
        let above = FD_CHANNEL + give.len() as i32;
        for (i, &fd) in give.iter().enumerate().take(high.len()) {
            high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above);
            if high[i] < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        for (i, &fd) in high.iter().enumerate().take(give.len()) {
            if libc::dup2(fd, FD_CHANNEL + i as i32) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(n) = nofile {
            let mut lim: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur = (n as libc::rlim_t).min(lim.rlim_max);
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
