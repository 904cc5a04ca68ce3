//! The daemon's side of the keeper (`crate::keeper`): what a daemon started by a keeper is
//! handed at exec (the channel, the listening socket, the locks) and then over the channel
//! (every run a previous daemon left, with its descriptors and, if it ended meanwhile, how);
//! what it tells the keeper as runs start and end; taking those runs over; and
//! `wrangle upgrade`, which hands everything to a new binary.

use super::reactor::Source;
use super::state::{Adopted, BatchOp, Daemon, InputSink, Live, PendingKind};
use crate::error::{Code, Error, Result};
use crate::keeper::wire::{
    self, Msg, Recv, TAG_PTY, TAG_PTY_BUF, TAG_STDERR, TAG_STDIN, TAG_STDOUT,
};
use crate::keeper::{FD_CHANNEL, FD_LISTENER, FD_LOCKS, UPGRADE_WITHIN, WORKER_ENV};
use crate::proc::supervisor::Input;
use crate::proto::EventKind;
use mio::Token;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How a keeper started this daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// After the keeper's start or a crash of the previous daemon.
    Fresh,
    /// The first daemon of `wrangle daemon --resurrect`.
    Resurrect,
    /// An upgrade: the previous daemon waits for us to say we are ready.
    Takeover,
}

/// What the keeper hands a daemon at exec.
pub struct Handoff {
    chan: OwnedFd,
    pub(super) listener: OwnedFd,
    /// Held for the daemon's life: shared with the keeper, so the instance stays locked
    /// whichever of the two outlives the other.
    pub(super) locks: Vec<OwnedFd>,
    pub mode: Mode,
}

/// A run a previous daemon started, as the keeper holds it.
pub(super) struct HeldRun {
    pub pid: i32,
    pub start_time: u64,
    /// The raw wait status, if it ended while no daemon ran.
    pub status: Option<i32>,
    pub fds: Vec<(u8, OwnedFd)>,
}

/// The channel to the keeper, once running.
pub(super) struct Link {
    chan: OwnedFd,
    token: Option<Token>,
}

/// The hand-off, if this process was started by a keeper (`WRANGLE_WORKER` set).
pub fn handoff() -> Option<Result<Handoff>> {
    let v = std::env::var(WORKER_ENV).ok()?;
    // Our children must not see it.
    std::env::remove_var(WORKER_ENV);
    Some(parse_handoff(&v))
}

fn parse_handoff(v: &str) -> Result<Handoff> {
    let bad = || {
        Error::new(
            Code::Failed,
            format!("{WORKER_ENV}={v:?} is not what a wrangle keeper sets; unset it"),
        )
    };
    let mut it = v.split(' ');
    let version: u32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let locks: i32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let mode = match it.next() {
        Some("fresh") => Mode::Fresh,
        Some("resurrect") => Mode::Resurrect,
        Some("takeover") => Mode::Takeover,
        _ => return Err(bad()),
    };
    if version != wire::VERSION {
        bail!(
            Code::Failed,
            "the keeper speaks channel version {version}; this wrangle speaks {}: restart the daemon (wrangle shutdown, then any command)",
            wire::VERSION
        );
    }
    if !(0..=8).contains(&locks) {
        return Err(bad());
    }
    let take = |fd: i32| -> Result<OwnedFd> {
        // SAFETY: F_GETFD only reads the flags of a descriptor number, open or not.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            bail!(
                Code::Failed,
                "descriptor {fd} is not open: this daemon was not started by a wrangle keeper"
            );
        }
        // SAFETY: the keeper put this descriptor here for us and nothing else in this process
        // owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not for our children.
        let _ = rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC);
        Ok(owned)
    };
    let chan = take(FD_CHANNEL)?;
    use rustix::net::{sockopt::socket_type, SocketType};
    if socket_type(&chan).ok() != Some(SocketType::SEQPACKET) {
        bail!(
            Code::Failed,
            "descriptor {FD_CHANNEL} is not a keeper's channel: this daemon was not started by a wrangle keeper"
        );
    }
    let listener = take(FD_LISTENER)?;
    let locks = (0..locks)
        .map(|i| take(FD_LOCKS + i))
        .collect::<Result<Vec<_>>>()?;
    Ok(Handoff {
        chan,
        listener,
        locks,
        mode,
    })
}

impl Handoff {
    /// Reads every run the keeper holds (it sends them all, then `S`).
    pub(super) fn receive(&self) -> Result<BTreeMap<u64, HeldRun>> {
        wire::set_timeouts(&self.chan, Duration::from_secs(2), Duration::from_secs(10));
        let mut runs = BTreeMap::new();
        loop {
            match wire::recv(self.chan.as_fd(), true) {
                Ok(Recv::Msg(
                    Msg::Hold {
                        id,
                        pid,
                        start_time,
                        status,
                        tags,
                    },
                    fds,
                )) => {
                    runs.insert(
                        id,
                        HeldRun {
                            pid,
                            start_time,
                            status,
                            fds: tags.into_iter().zip(fds).collect(),
                        },
                    );
                }
                Ok(Recv::Msg(Msg::Synced, _)) => return Ok(runs),
                Ok(Recv::Msg(m, _)) => log::warn!("ignored {m:?} from the keeper at start-up"),
                Ok(Recv::Bad(b)) => log::warn!("ignored a bad message from the keeper: {b:?}"),
                Ok(Recv::Empty) => {}
                Ok(Recv::Closed) => bail!(Code::Failed, "the keeper went away during start-up"),
                Err(e) => return Err(Error::io("cannot read what the keeper holds", e)),
            }
        }
    }

    /// The running channel.
    pub(super) fn into_link(self) -> (Link, OwnedFd, Vec<OwnedFd>) {
        (
            Link {
                chan: self.chan,
                token: None,
            },
            self.listener,
            self.locks,
        )
    }
}

impl Daemon {
    /// Watches the keeper's channel.
    pub(super) fn attach_keeper(&mut self, mut link: Link) {
        match self.register_fd(link.chan.as_raw_fd(), Source::Keeper) {
            Ok(t) => link.token = Some(t),
            Err(e) => log::warn!("cannot watch the keeper's channel: {e}"),
        }
        self.keeper = Some(link);
    }

    fn tell_keeper(&self, msg: &Msg, fds: &[BorrowedFd<'_>]) {
        let Some(k) = &self.keeper else {
            return;
        };
        if let Err(e) = wire::send(k.chan.as_fd(), msg, fds) {
            log::warn!(
                "cannot tell the keeper {msg:?}: {e} (that run would not outlive this daemon)"
            );
        }
    }

    /// Gives the keeper copies of run `id`'s descriptors (right after it started).
    pub(super) fn keep_run(&mut self, id: u64) {
        if self.keeper.is_none() {
            return;
        }
        let Some(l) = self.live.get(&id) else {
            return;
        };
        let mut held: Vec<(u8, BorrowedFd<'_>)> = Vec::new();
        if let Some(pty) = &l.pty {
            held.push((TAG_PTY, pty.as_fd()));
            if let Some((r, _)) = &l.pty_buf {
                held.push((TAG_PTY_BUF, r.as_fd()));
            }
        } else {
            if let Some(fd) = l.input.as_ref().and_then(|i| i.fd.as_ref()) {
                held.push((TAG_STDIN, fd.as_fd()));
            }
            for (t, fd) in &l.pipes {
                if let Some(Source::Pipe { stream, .. }) = self.rx.sources.get(t) {
                    held.push((*stream, fd.as_fd()));
                }
            }
        }
        let msg = Msg::Hold {
            id,
            pid: l.pid,
            start_time: l.start_time,
            status: None,
            tags: held.iter().map(|h| h.0).collect(),
        };
        let fds: Vec<BorrowedFd<'_>> = held.iter().map(|h| h.1).collect();
        self.tell_keeper(&msg, &fds);
    }

    /// Run `id`'s input was closed: the keeper lets go of its copy too, so the process sees
    /// end-of-file.
    pub(super) fn keeper_closed_input(&mut self, id: u64) {
        if self.live.get(&id).is_some_and(|l| l.pty.is_none()) {
            self.tell_keeper(&Msg::Close { id, tag: TAG_STDIN }, &[]);
        }
    }

    /// Run `id` is over: the keeper forgets it.
    pub(super) fn keeper_forget(&mut self, id: u64) {
        self.tell_keeper(&Msg::End { id }, &[]);
    }

    /// We exit for good: the keeper follows.
    pub(super) fn keeper_bye(&mut self) {
        self.tell_keeper(&Msg::Bye, &[]);
    }

    /// We serve: the keeper may tell whoever started it.
    pub(super) fn keeper_ready(&mut self) {
        self.tell_keeper(
            &Msg::Ready {
                keeper_state: Some(crate::keeper::reexec::VERSION),
            },
            &[],
        );
    }

    /// The keeper's channel is readable: exits of runs it reaped.
    pub(super) fn keeper_readable(&mut self) {
        loop {
            let Some(k) = &self.keeper else {
                return;
            };
            match wire::recv(k.chan.as_fd(), false) {
                Ok(Recv::Msg(Msg::Exit { id, pid, status }, _)) => self.kept_exit(id, pid, status),
                Ok(Recv::Msg(m, _)) => log::warn!("ignored {m:?} from the keeper"),
                Ok(Recv::Bad(b)) => log::warn!("ignored a bad message from the keeper: {b:?}"),
                Ok(Recv::Empty) => return,
                Ok(Recv::Closed) | Err(_) => {
                    log::error!(
                        "the keeper is gone: processes go on, but would not outlive this daemon"
                    );
                    if let Some(k) = self.keeper.take() {
                        if let Some(t) = k.token {
                            self.deregister_fd(k.chan.as_raw_fd(), t);
                        }
                    }
                    return;
                }
            }
        }
    }

    /// The keeper reaped `pid`, run of entry `id` that a previous daemon started.
    fn kept_exit(&mut self, id: u64, pid: i32, status: i32) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if l.pid != pid || !matches!(l.adopted, Some(Adopted::Kept)) || l.status.is_some() {
            return;
        }
        l.status = Some(crate::proc::wait::WaitStatus(status));
        let _ = self.feed(id, Input::Reaped);
        self.check_tree(id);
    }

    /// Takes over run `h` of entry `id`, started by a previous daemon: its output is captured
    /// again (from where that daemon stopped reading), its input and terminal work, and its
    /// end is learnt from the keeper. Returns whether the run had already ended.
    pub(super) fn take_over(&mut self, id: u64, h: HeldRun) -> bool {
        let Some(run) = self.reg.get(id).map(|e| e.run.max(1)) else {
            return false;
        };
        let writer = self.open_run_log(id, run);
        let open_error = writer.as_ref().err().map(|err| {
            format!(
                "cannot open the log files in {}: {err}; output is kept in memory only until \
                 they can be made",
                self.log_dir(id).display()
            )
        });
        let Some(e) = self.reg.get_mut(id) else {
            return false;
        };
        e.pid = Some(h.pid);
        e.start_time = Some(h.start_time);
        e.adopted = false;
        e.event(
            EventKind::Adopted,
            format!(
                "taken over from the previous daemon: pid {}, output still captured",
                h.pid
            ),
        );
        let mut pipes = Vec::new();
        let (mut input, mut pty, mut old_buf) = (None, None, None);
        for (tag, fd) in h.fds {
            match tag {
                TAG_STDOUT | TAG_STDERR => {
                    match self.register_fd(fd.as_raw_fd(), Source::Pipe { id, stream: tag }) {
                        Ok(t) => pipes.push((t, fd)),
                        Err(err) => log::error!("cannot watch output of entry {id}: {err}"),
                    }
                }
                TAG_STDIN => input = Some(InputSink::new(fd, false)),
                TAG_PTY => {
                    let copies = (
                        rustix::io::fcntl_dupfd_cloexec(&fd, 0),
                        rustix::io::fcntl_dupfd_cloexec(&fd, 0),
                    );
                    if let (Ok(out), Ok(inp)) = copies {
                        match self.register_fd(out.as_raw_fd(), Source::Pipe { id, stream: 1 }) {
                            Ok(t) => pipes.push((t, out)),
                            Err(err) => log::error!("cannot watch output of entry {id}: {err}"),
                        }
                        input = Some(InputSink::new(inp, true));
                    }
                    pty = Some(fd);
                }
                TAG_PTY_BUF => old_buf = Some(fd),
                other => log::warn!("the keeper held a descriptor of unknown kind {other}"),
            }
        }
        let output_gone = pipes.is_empty();
        // Not reaped by the keeper and gone: its daemon reaped it, then died before saying so
        // (its status is unknown).
        let ended = h.status.is_some() || !crate::proc::identity::is_same_live(h.pid, h.start_time);
        self.live.insert(
            id,
            Live {
                pid: h.pid,
                start_time: h.start_time,
                pipes,
                status: h.status.map(crate::proc::wait::WaitStatus),
                writer: writer.ok(),
                write_failed: false,
                log_retry: None,
                adopted: Some(Adopted::Kept),
                input,
                pty_buf: pty.as_ref().and_then(|_| super::capture::pty_buffer()),
                pty,
            },
        );
        if let Some(msg) = open_error {
            self.log_failed(id, msg);
        }
        // Before the old buffer's bytes, which come after what the log holds. After a crash
        // the screen starts blank instead (see keeper::AFTER_CRASH_ENV).
        if self.replay_screens {
            self.screen_replayed(id);
        } else {
            self.screen_started(id);
        }
        if let Some(old) = old_buf {
            self.drain_old_buffer(id, &old);
        }
        if self.live.get(&id).is_some_and(|l| l.pty.is_some()) {
            // The keeper holds the new buffer from now on (and lets go of the old one).
            self.keep_run(id);
        }
        self.watch_input(id);
        self.readopted(id, output_gone);
        ended
    }

    /// What a terminal's output buffer held when its daemon died goes to the log first.
    fn drain_old_buffer(&mut self, id: u64, old: &OwnedFd) {
        let mut scratch = std::mem::take(&mut self.scratch);
        loop {
            let moved = self
                .live
                .get_mut(&id)
                .and_then(|l| l.writer.as_mut())
                .map(|w| w.splice_from(old.as_fd(), 1, crate::util::now_us(), &mut scratch));
            match moved {
                Some(Ok(crate::logs::file::Spliced::Moved { n, dropped })) => {
                    self.capture(id, 1, &scratch[..n], Some(dropped))
                }
                _ => break,
            }
        }
        self.scratch = scratch;
    }

    /// `wrangle upgrade`: hands everything to a new daemon from `binary` (default: the
    /// binary the keeper was started from, read again from disk). This daemon stops reading
    /// anything until the keeper says how it went: on success it replies and exits (its
    /// processes, descriptors and clients' socket go on with the new one); on failure it
    /// carries on as if nothing happened.
    pub(super) fn upgrade(&mut self, t: Token, req: u32, binary: Option<String>) -> Result<()> {
        if self.keeper.is_none() {
            bail!(
                Code::Failed,
                "this daemon runs without a keeper, so it cannot hand its processes over; stop it with wrangle shutdown and start it again"
            );
        }
        if let Some(b) = &binary {
            check_binary(b)?;
        }
        // A build's process is not handed over (the keeper holds only runs): it has to end
        // first. Everything else under way is carried in the live state (see handover.rs).
        let building: Vec<String> = self
            .sups
            .iter()
            .filter(|(id, s)| s.m.building || self.builds.running(**id))
            .filter_map(|(id, _)| self.reg.get(*id).map(|e| e.label()))
            .collect();
        if !building.is_empty() {
            bail!(
                Code::Failed,
                "cannot upgrade while {} is building (a build is not handed over); try again once it is done",
                building.join(", ")
            );
        }
        // A restart, rm, up or reset under way does its second half (start, remove) once its
        // stop is over, in this daemon's memory only: that has to finish first. A plain stop's
        // end is the same without it, so stops go over.
        if self.shutting_down {
            bail!(Code::Failed, "cannot upgrade: the daemon is shutting down");
        }
        let mut waiting: Vec<String> = Vec::new();
        for p in &self.pending {
            let ids = match &p.kind {
                PendingKind::Batch { op, ids, .. } if *op != BatchOp::Stop => ids.as_slice(),
                PendingKind::Rebuild {
                    building, ready, ..
                } => {
                    waiting.extend(
                        building
                            .iter()
                            .chain(ready)
                            .filter_map(|id| self.reg.get(*id).map(|e| e.label())),
                    );
                    continue;
                }
                _ => continue,
            };
            waiting.extend(
                ids.iter()
                    .filter_map(|id| self.reg.get(*id).map(|e| e.label())),
            );
        }
        if !waiting.is_empty() {
            waiting.sort();
            waiting.dedup();
            bail!(
                Code::Failed,
                "cannot upgrade while a restart or removal of {} is under way; try again once it is done",
                waiting.join(", ")
            );
        }
        // Everything read so far on disk.
        self.flush_indexes();
        for l in self.live.values_mut() {
            if let Some(w) = l.writer.as_mut() {
                let _ = w.flush_index();
            }
        }
        self.save_now();
        // Nothing changes from here until the keeper's verdict: the loop is paused.
        self.write_live_state()?;
        self.die_at("saved");
        let path = binary.clone().unwrap_or_default().into_bytes();
        self.tell_keeper(&Msg::Upgrade { binary: path }, &[]);
        self.die_at("asked");
        let verdict = self.await_verdict();
        match verdict {
            Ok(()) => {
                self.die_at("verdict");
                let reply = crate::proto::UpgradeReply {
                    binary: binary.unwrap_or_default(),
                };
                self.reply(t, req, &reply);
                self.rx.flush_all();
                log::info!("handed over to the new daemon; exiting");
                // Nothing of ours is to be undone: the processes, their descriptors and the
                // socket belong to the new daemon now.
                std::process::exit(0);
            }
            Err(reason) => {
                // The new daemon may have written the registry's files meanwhile: ours are
                // rewritten whole from memory.
                self.saving.store.compact_soon();
                // The new daemon may not have read it; this one carries on instead.
                self.drop_live_state();
                bail!(
                    Code::Failed,
                    "upgrade failed: {reason}; the running daemon carries on"
                );
            }
        }
    }

    /// Waits (the loop paused) for the keeper's verdict on an upgrade; exits of runs that come
    /// meanwhile are applied after.
    fn await_verdict(&mut self) -> std::result::Result<(), String> {
        let deadline = Instant::now() + UPGRADE_WITHIN + Duration::from_secs(5);
        let mut exits = Vec::new();
        let outcome = loop {
            let Some(k) = &self.keeper else {
                break Err("the keeper went away".to_string());
            };
            if Instant::now() >= deadline {
                break Err("the keeper did not answer".to_string());
            }
            wire::set_timeouts(&k.chan, Duration::from_secs(2), Duration::from_secs(1));
            match wire::recv(k.chan.as_fd(), true) {
                Ok(Recv::Msg(Msg::Verdict { ok: true, .. }, _)) => break Ok(()),
                Ok(Recv::Msg(Msg::Verdict { ok: false, reason }, _)) => break Err(reason),
                Ok(Recv::Msg(Msg::Exit { id, pid, status }, _)) => exits.push((id, pid, status)),
                Ok(Recv::Msg(m, _)) => log::warn!("ignored {m:?} from the keeper"),
                Ok(Recv::Bad(b)) => log::warn!("ignored a bad message from the keeper: {b:?}"),
                Ok(Recv::Empty) => {}
                Ok(Recv::Closed) => break Err("the keeper went away".to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => break Err(format!("cannot read the keeper's answer: {e}")),
            }
        };
        for (id, pid, status) in exits {
            self.kept_exit(id, pid, status);
        }
        outcome
    }
}

impl Daemon {
    /// Debug builds, for the tests: the daemon kills itself (SIGKILL, as from outside) at
    /// `step` of a hand-over if the file `STATE/test-die-at` names it (read once, deleted);
    /// `STEP PID` kills process PID instead. Steps: `saved` (live state written), `asked` (the
    /// keeper told to upgrade), `verdict` (the new daemon serves, this one has not exited),
    /// and in the new daemon `taken` (every run taken over and resumed, not yet ready) and
    /// `ready` (the same moment, meant with a PID: the old daemon dies as the new one says it
    /// is ready).
    pub(super) fn die_at(&self, step: &str) {
        if !cfg!(debug_assertions) {
            return;
        }
        let path = self.paths.state.join("test-die-at");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let mut words = text.split_whitespace();
        if words.next() != Some(step) {
            return;
        }
        let _ = std::fs::remove_file(&path);
        let pid = words
            .next()
            .and_then(|p| p.parse().ok())
            .and_then(rustix::process::Pid::from_raw)
            .unwrap_or_else(rustix::process::getpid);
        log::warn!(
            "killing pid {pid:?} at step {step} of a hand-over ({})",
            path.display()
        );
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// An upgrade's binary must be an absolute path to an executable file.
fn check_binary(b: &str) -> Result<()> {
    let p = std::path::Path::new(b);
    if !p.is_absolute() {
        bail!(Code::Usage, "--binary must be an absolute path, not {b:?}");
    }
    let md = std::fs::metadata(p).map_err(|e| Error::io(format!("cannot upgrade to {b}"), e))?;
    if !md.is_file() {
        bail!(Code::Failed, "cannot upgrade to {b}: not a file");
    }
    if rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_err() {
        bail!(Code::Failed, "cannot upgrade to {b}: not executable");
    }
    Ok(())
}
