//! Each owned process's life as an explicit state machine: start (spawn, pipes, log files),
//! capture (pipe → log file + ring), reap, stop (signal → grace → KILL, escaped descendants
//! included), finalize (only once the exit is reaped *and* the output is drained), and the
//! re-adoption of processes a previous daemon left running.

use super::event_loop::{
    BatchOp, Daemon, PendingKind, Source, TimerKind, READS_PER_TURN, RING_BYTES,
};
use super::leftovers::AfterExit;
use super::timers::TimerId;
use crate::error::{Code, Error, Result};
use crate::logs::file::{Rotation, RunWriter};
use crate::logs::ring::Ring;
use crate::proc::identity;
use crate::proc::kill::{self, Target};
use crate::proc::spawn;
use crate::proto::{ActionResult, WaitReply};
use crate::store::registry::{RunMeta, State};
use mio::Token;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait for output pipes to reach EOF after the main process was reaped (a
/// daemonized grandchild may hold them open for ever).
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How often a stopping entry's leftover processes are looked for.
const STOP_POLL: Duration = Duration::from_millis(20);
/// How soon leftovers are looked for again when an orphan could not be told apart (it was in
/// the middle of an `exec`, which takes microseconds to milliseconds), and how many looks.
const LEFTOVER_RETRY: Duration = Duration::from_millis(5);
const LEFTOVER_TRIES: u32 = 20;
/// How often an adopted process without a pidfd is checked.
const ADOPT_POLL: Duration = Duration::from_millis(500);

/// A stop in progress.
pub(super) struct StopCtl {
    grace: TimerId,
    poll: Option<TimerId>,
    killed: bool,
    /// The entry's processes when the stop (or the KILL) was sent; the stop is complete when
    /// none of them, nor any child of theirs, is left.
    members: Vec<Target>,
    /// Begun by the daemon because the main process ended and left processes behind (not by
    /// a user): the run then ends as `exited`, and the restart policy applies.
    after_exit: bool,
}

/// The runtime side of an entry whose process may be alive.
pub(super) struct Live {
    pub pid: i32,
    pub start_time: u64,
    /// Our read ends of stdout and stderr, while open.
    pipes: Vec<(Token, OwnedFd)>,
    /// The raw wait status once reaped (None for adopted processes, whose status we never see).
    status: Option<rustix::process::WaitStatus>,
    /// An adopted process has ended (its pidfd became readable or the poll found it gone).
    adopted_gone: bool,
    writer: Option<RunWriter>,
    write_failed: bool,
    stop: Option<StopCtl>,
    drain: Option<TimerId>,
    /// For processes re-adopted from a previous daemon: not our child.
    pub(super) adopted: Option<Option<(Token, OwnedFd)>>,
    /// Last CPU sample (ticks, when) for `ls`.
    pub cpu_sample: Option<(u64, std::time::Instant)>,
    /// Where `send` and `attach` write (stream stdin or the terminal).
    pub input: Option<super::io::InputSink>,
    /// The terminal's master, for resizes.
    pub pty: Option<OwnedFd>,
    /// No main process: only the kept leftovers of an ended run are being stopped (see
    /// `daemon::leftovers`); the entry's record of that run stands.
    pub husk: bool,
    /// The main process's leftovers were looked for (once, when it ended).
    leftovers_checked: bool,
    /// Looks for them so far, and the timer of the next one (see [`LEFTOVER_RETRY`]).
    leftover_tries: u32,
    leftover_retry: Option<TimerId>,
}

impl Live {
    /// A stand-in run for stopping the kept leftovers of entry whose run has ended.
    pub(super) fn husk() -> Live {
        Live {
            pid: 0,
            start_time: 0,
            pipes: Vec::new(),
            status: None,
            adopted_gone: true,
            writer: None,
            write_failed: false,
            stop: None,
            drain: None,
            adopted: None,
            cpu_sample: None,
            input: None,
            pty: None,
            husk: true,
            leftovers_checked: true,
            leftover_tries: 0,
            leftover_retry: None,
        }
    }

    pub(super) fn writer_mut(&mut self) -> Option<&mut RunWriter> {
        self.writer.as_mut()
    }

    fn reaped_or_gone(&self) -> bool {
        self.status.is_some() || self.adopted_gone
    }
}

impl Daemon {
    pub(super) fn log_dir(&self, id: u64) -> PathBuf {
        self.paths.state.join("logs").join(id.to_string())
    }

    /// Starts a new run of entry `id`. On failure the entry is `errored` with the reason.
    pub(super) fn start_entry(&mut self, id: u64) -> Result<i32> {
        let dir = self.log_dir(id);
        let Some(e) = self.reg.get_mut(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let run = e.run + 1;
        let rotation = Rotation {
            max_size: e.spec.log_max_size.unwrap_or(self.config.logs.max_size),
            keep: e.spec.log_keep.unwrap_or(self.config.logs.keep),
        };
        let runs_kept = self.config.logs.runs.max(1) as usize;
        if !std::path::Path::new(&e.spec.cwd).is_dir() {
            let msg = format!(
                "cannot start {}: working folder {} does not exist",
                e.label(),
                e.spec.cwd
            );
            e.state = State::Errored;
            e.error = Some(msg.clone());
            e.event("errored", msg.clone());
            bail!(Code::Failed, "{msg}");
        }
        // Output may hold secrets: log folders are private like the state folder.
        let writer = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|_| RunWriter::create(&dir, run, rotation));
        let instance = self.paths.state.display().to_string();
        let spawned = spawn::spawn(&e.spec, id, e.name.as_deref(), &instance);
        let sp = match spawned {
            Ok(sp) => sp,
            Err(err) => {
                let what = e.spec.argv.first().cloned().unwrap_or_default();
                let msg = format!(
                    "cannot start {}: {what}: {}",
                    e.label(),
                    strip_os_error(&err)
                );
                e.state = State::Errored;
                e.error = Some(msg.clone());
                e.ended_at_ms = Some(crate::util::now_ms());
                e.event("errored", msg.clone());
                bail!(Code::Failed, "{msg}");
            }
        };
        e.run = run;
        e.runs.push(RunMeta {
            run,
            start_seq: e.seq,
            dropped: 0,
        });
        let dropped: Vec<u32> = if e.runs.len() > runs_kept {
            e.runs
                .drain(..e.runs.len() - runs_kept)
                .map(|r| r.run)
                .collect()
        } else {
            Vec::new()
        };
        e.pid = Some(sp.pid);
        e.start_time = Some(sp.start_time);
        e.state = State::Running;
        e.started_at_ms = Some(crate::util::now_ms());
        e.ended_at_ms = None;
        e.exit_code = None;
        e.exit_signal = None;
        e.error = None;
        e.adopted = false;
        e.foreign = false;
        e.event("started", format!("run {run} started, pid {}", sp.pid));
        let mut write_failed = false;
        let writer = match writer {
            Ok(w) => Some(w),
            Err(err) => {
                e.event(
                    "log_error",
                    format!("cannot open the log files in {}: {err}", dir.display()),
                );
                write_failed = true;
                None
            }
        };
        for r in dropped {
            crate::logs::file::remove_run(&dir, r);
        }
        let mut pipes = Vec::new();
        for (fd, stream) in sp.outputs {
            match self.register_fd(fd.as_raw_fd(), Source::Pipe { id, stream }) {
                Ok(t) => pipes.push((t, fd)),
                Err(err) => log::error!("cannot watch output of entry {id}: {err}"),
            }
        }
        let is_pty = sp.pty.is_some();
        self.pids.insert(sp.pid, id);
        self.live.insert(
            id,
            Live {
                pid: sp.pid,
                start_time: sp.start_time,
                pipes,
                status: None,
                adopted_gone: false,
                writer,
                write_failed,
                stop: None,
                drain: None,
                adopted: None,
                cpu_sample: None,
                input: sp.input.map(|fd| super::io::InputSink::new(fd, is_pty)),
                pty: sp.pty,
                husk: false,
                leftovers_checked: false,
                leftover_tries: 0,
                leftover_retry: None,
            },
        );
        self.watch_input(id);
        self.ready_run_started(id);
        Ok(sp.pid)
    }

    /// Reads a pipe until it would block (or for a bounded number of reads, then yields).
    pub(super) fn pipe_readable(&mut self, t: Token, id: u64, stream: u8) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut eof = false;
        let mut more = false;
        for _ in 0..READS_PER_TURN {
            let Some(fd) = self
                .live
                .get(&id)
                .and_then(|l| l.pipes.iter().find(|p| p.0 == t))
                .map(|p| p.1.as_raw_fd())
            else {
                break;
            };
            // SAFETY: `fd` is owned by `self.live[id].pipes` and stays open for this call.
            let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            match rustix::io::read(bfd, &mut scratch[..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    if n == scratch.len() {
                        // A busy writer: a bigger pipe means fewer wake-ups (best effort).
                        let _ = rustix::pipe::fcntl_setpipe_size(bfd, 1 << 20);
                    }
                    self.capture(id, stream, &scratch[..n]);
                    more = true;
                }
                Err(rustix::io::Errno::AGAIN) => {
                    more = false;
                    break;
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => {
                    // EIO and the like: treat as end of output.
                    eof = true;
                    break;
                }
            }
        }
        self.scratch = scratch;
        if eof {
            self.close_pipe(id, t);
            self.try_finalize(id, false);
        } else if more && !self.busy.contains(&t) {
            self.busy.push(t);
        }
    }

    fn close_pipe(&mut self, id: u64, t: Token) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if let Some(pos) = l.pipes.iter().position(|p| p.0 == t) {
            let (tok, fd) = l.pipes.remove(pos);
            self.deregister_fd(fd.as_raw_fd(), tok);
        }
    }

    /// Output from entry `id`: to its log, its ring, its followers.
    fn capture(&mut self, id: u64, stream: u8, data: &[u8]) {
        // The byte count is not worth a save per chunk; it is recounted after a crash.
        let Some(e) = self.reg.get_mut_unsaved(id) else {
            return;
        };
        let start = e.seq;
        e.seq += data.len() as u64;
        let mut changed = false;
        if let Some(l) = self.live.get_mut(&id) {
            if let Some(w) = l.writer.as_mut() {
                match w.write(stream, crate::util::now_us(), data) {
                    Ok(dropped) => {
                        if let (Some(r), true) = (e.runs.last_mut(), dropped > 0) {
                            r.dropped += dropped;
                            changed = true;
                        }
                        if l.write_failed {
                            changed = true;
                            l.write_failed = false;
                            e.event("log_resumed", "log writing works again");
                        }
                        self.index_dirty.insert(id);
                    }
                    Err(err) => {
                        if !l.write_failed {
                            changed = true;
                            l.write_failed = true;
                            e.event(
                                "log_error",
                                format!(
                                    "cannot write the log: {err}; output is kept in memory only"
                                ),
                            );
                        }
                    }
                }
            }
        }
        if changed {
            // Mark it for saving.
            self.reg.get_mut(id);
        }
        self.rings
            .entry(id)
            .or_insert_with(|| Ring::new(RING_BYTES, start))
            .push(stream, data);
        if self.wants_log_lines(id) {
            self.publish_output(id, stream, data);
        }
        self.wake_followers(id);
    }

    /// Writes the buffered index records of every entry that captured output this turn.
    pub(super) fn flush_indexes(&mut self) {
        for id in std::mem::take(&mut self.index_dirty) {
            if let Some(w) = self.live.get_mut(&id).and_then(|l| l.writer.as_mut()) {
                if let Err(err) = w.flush_index() {
                    log::warn!("cannot write the log index of entry {id}: {err}");
                }
            }
        }
    }

    /// Collects every exited child (the loop is the only reaper).
    pub(super) fn reap(&mut self) {
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    let pid = pid.as_raw_nonzero().get();
                    if let Some(id) = self.builds.entry_of(pid) {
                        self.build_reaped(id, pid, status);
                        continue;
                    }
                    let Some(id) = self.pids.remove(&pid) else {
                        // An orphan re-parented to us (we are a subreaper): nothing to record.
                        continue;
                    };
                    if let Some(l) = self.live.get_mut(&id) {
                        l.status = Some(status);
                    }
                    self.try_finalize(id, false);
                }
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
    }

    /// Ends the run of entry `id` if everything that must happen first has happened: the main
    /// process reaped, its output drained to EOF (or the drain grace over), and, when stopping,
    /// every other process of the entry gone. `timer_fired` means a drain/poll deadline passed.
    pub(super) fn try_finalize(&mut self, id: u64, timer_fired: bool) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if !l.reaped_or_gone() {
            return;
        }
        if !l.leftovers_checked {
            // The main process has just ended: what did it leave behind?
            if l.leftover_retry.is_some() {
                return;
            }
            let (pid, adopted, stopping) = (l.pid, l.adopted.is_some(), l.stop.is_some());
            l.leftover_tries += 1;
            let last_try = l.leftover_tries >= LEFTOVER_TRIES;
            match self.leftovers_after_exit(id, pid, adopted, stopping, last_try) {
                AfterExit::Unsure => {
                    let t = self.timers.add(LEFTOVER_RETRY, TimerKind::Leftovers(id));
                    if let Some(l) = self.live.get_mut(&id) {
                        l.leftover_retry = Some(t);
                    }
                    return;
                }
                AfterExit::Done => {}
                AfterExit::Stop(found) if stopping => self.add_to_stop(id, found),
                AfterExit::Stop(_) => self.stop_after_exit(id),
            }
            if let Some(l) = self.live.get_mut(&id) {
                l.leftovers_checked = true;
            }
        }
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if let Some(stop) = &mut l.stop {
            // Everything of the entry must be gone before a stop is complete.
            let left = kill::survivors(&stop.members);
            stop.members.clone_from(&left);
            if !left.is_empty() {
                if let Some(p) = stop.poll.take() {
                    self.timers.cancel(p);
                }
                stop.poll = Some(self.timers.add(STOP_POLL, TimerKind::StopPoll(id)));
                return;
            }
        }
        if !l.pipes.is_empty() {
            if !timer_fired {
                if l.drain.is_none() {
                    l.drain = Some(self.timers.add(DRAIN_GRACE, TimerKind::Drain(id)));
                }
                return;
            }
            // Grace over: take what is readable now, then let go of the pipes.
            let toks: Vec<(Token, u8)> = l
                .pipes
                .iter()
                .filter_map(|p| match self.sources.get(&p.0) {
                    Some(Source::Pipe { stream, .. }) => Some((p.0, *stream)),
                    _ => None,
                })
                .collect();
            for (t, stream) in toks {
                self.pipe_readable(t, id, stream);
                self.close_pipe(id, t);
            }
        }
        self.finalize(id);
    }

    /// The run is over: record how it ended and answer whoever waits for it.
    fn finalize(&mut self, id: u64) {
        self.close_input(id);
        self.flush_log_lines(id);
        let Some(mut l) = self.live.remove(&id) else {
            return;
        };
        for (t, fd) in std::mem::take(&mut l.pipes) {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(Some((t, fd))) = l.adopted.take() {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(w) = l.writer.as_mut() {
            let _ = w.flush_index();
        }
        for t in [
            l.drain.take(),
            l.leftover_retry.take(),
            l.stop.as_ref().map(|s| s.grace),
            l.stop.as_ref().and_then(|s| s.poll),
        ]
        .into_iter()
        .flatten()
        {
            self.timers.cancel(t);
        }
        self.pids.remove(&l.pid);
        self.index_dirty.remove(&id);
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        let killed = if l.stop.as_ref().is_some_and(|s| s.killed) {
            " (killed after the stop timeout)"
        } else {
            ""
        };
        if l.stop.is_some() {
            // A stop ends only when every process of the entry is gone, leftovers included.
            e.leftovers.clear();
        }
        if l.husk {
            // Only an ended run's leftovers were stopped: the record of that run stands.
            e.event("stopped", format!("leftover processes stopped{killed}"));
            self.io_run_ended(id);
            self.resolve_pending(id);
            return;
        }
        let (code, sig) = match l.status {
            Some(st) => (st.exit_status(), st.terminating_signal()),
            None => (None, None),
        };
        e.exit_code = code;
        e.exit_signal = sig;
        e.ended_at_ms = Some(crate::util::now_ms());
        let how = crate::util::signal::describe_end(code, sig)
            .unwrap_or_else(|| "exit status unknown (not our child)".to_string());
        match &l.stop {
            Some(s) if !s.after_exit => {
                e.state = State::Stopped;
                e.event("stopped", format!("{how}{killed}"));
            }
            after_exit => {
                e.state = State::Exited;
                let how = match after_exit {
                    Some(_) => format!("{how}; its leftover processes were stopped{killed}"),
                    None => how,
                };
                e.event("exited", how);
                self.supervise(id, code);
            }
        }
        self.io_run_ended(id);
        self.resolve_pending(id);
        self.ready_run_ended(id);
    }

    /// Answers waits on `id` and completes batches whose entries have all ended.
    fn resolve_pending(&mut self, id: u64) {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let finished = match &self.pending[i].kind {
                PendingKind::Wait { id: w, .. } => *w == id,
                PendingKind::Batch { ids, .. } => {
                    ids.contains(&id) && ids.iter().all(|x| !self.live.contains_key(x))
                }
                PendingKind::Rebuild { .. } | PendingKind::Ready(_) => false,
            };
            if finished {
                done.push(self.pending.remove(i));
            } else {
                i += 1;
            }
        }
        for p in done {
            match p.kind {
                PendingKind::Wait { id, timer } => {
                    if let Some(t) = timer {
                        self.timers.cancel(t);
                    }
                    if let (Some(conn), Some(e)) = (p.conn, self.reg.get(id)) {
                        let reply = WaitReply {
                            id,
                            name: e.name.clone(),
                            exit_code: e.exit_code,
                            exit_signal: e.exit_signal,
                        };
                        self.reply(conn, p.req, &reply);
                    }
                }
                PendingKind::Batch { op, ids, results } => {
                    let again: Vec<u64> = ids
                        .iter()
                        .copied()
                        .filter(|x| self.live.contains_key(x))
                        .collect();
                    if !again.is_empty() {
                        // An earlier batch of this pass started one again: stop it too.
                        for x in again {
                            self.begin_stop(x, None);
                        }
                        self.pending.push(super::event_loop::Pending {
                            conn: p.conn,
                            req: p.req,
                            kind: PendingKind::Batch { op, ids, results },
                        });
                        continue;
                    }
                    self.complete_batch(p.conn, p.req, op, ids, results)
                }
                PendingKind::Rebuild { .. } | PendingKind::Ready(_) => {}
            }
        }
    }

    /// Begins stopping entry `id`: the stop signal to its group and to descendants that left
    /// the group, KILL when `timeout` runs out. Returns false if nothing was running.
    pub(super) fn begin_stop(&mut self, id: u64, timeout: Option<Duration>) -> bool {
        if !self.live.contains_key(&id) {
            // Nothing runs, but an ended run's kept leftovers are the entry's to stop.
            if self.kept_leftovers(id).is_empty() {
                return false;
            }
            self.live.insert(id, Live::husk());
        }
        let Some(e) = self.reg.get_mut(id) else {
            return false;
        };
        let Some(l) = self.live.get_mut(&id) else {
            return false;
        };
        if let Some(stop) = l.stop.as_mut() {
            if stop.after_exit {
                // A user's stop takes over the stop of leftovers: it is final, no restart.
                stop.after_exit = false;
                e.state = State::Stopping;
                e.event(
                    "stopping",
                    "stopped while its leftover processes were being stopped",
                );
            }
            return true;
        }
        let sig = e.spec.stop_signal;
        let timeout = timeout.unwrap_or(Duration::from_millis(e.spec.stop_timeout_ms));
        let what = if l.husk {
            "stopping the leftover processes of an ended run"
        } else {
            e.state = State::Stopping;
            "stopping"
        };
        e.event(
            "stopping",
            format!(
                "{what} with {} (KILL after {})",
                crate::util::signal::name(sig),
                crate::util::duration::format(timeout)
            ),
        );
        self.send_stop(id, timeout, false);
        self.try_finalize(id, false);
        true
    }

    /// The main process of `id` ended and left processes that are to be stopped (see
    /// `daemon::leftovers`): stops them like a user's stop, but the run will end as `exited`.
    fn stop_after_exit(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        let how = match l.status {
            Some(st) => {
                crate::util::signal::describe_end(st.exit_status(), st.terminating_signal())
            }
            None => None,
        }
        .unwrap_or_else(|| "exit status unknown".to_string());
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        let sig = e.spec.stop_signal;
        let timeout = Duration::from_millis(e.spec.stop_timeout_ms);
        e.state = State::Stopping;
        let n = e.leftovers.len();
        e.event(
            "stopping",
            format!(
                "main process ended ({how}); stopping {n} leftover process{} with {} (KILL after {})",
                if n == 1 { "" } else { "es" },
                crate::util::signal::name(sig),
                crate::util::duration::format(timeout)
            ),
        );
        self.send_stop(id, timeout, true);
    }

    /// The leftovers retry timer of `id` fired: look again.
    pub(super) fn leftovers_retry(&mut self, id: u64) {
        if let Some(l) = self.live.get_mut(&id) {
            l.leftover_retry = None;
        }
        self.try_finalize(id, false);
    }

    /// Processes found when the main process of `id` ended during a stop: they are stopped
    /// too (with KILL if the stop timeout is already over).
    fn add_to_stop(&mut self, id: u64, found: Vec<Target>) {
        let Some(sig) = self.reg.get(id).map(|e| e.spec.stop_signal) else {
            return;
        };
        let Some(stop) = self.live.get_mut(&id).and_then(|l| l.stop.as_mut()) else {
            return;
        };
        let sig = if stop.killed { libc::SIGKILL } else { sig };
        for t in found {
            if !stop.members.contains(&t) {
                let _ = kill::signal_checked(t, sig);
                stop.members.push(t);
            }
        }
    }

    /// Sends the stop signal to everything of entry `id` and arms the KILL deadline.
    fn send_stop(&mut self, id: u64, timeout: Duration, after_exit: bool) {
        let Some(sig) = self.reg.get(id).map(|e| e.spec.stop_signal) else {
            return;
        };
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        let our_child = !l.husk && l.adopted.is_none() && l.status.is_none();
        let (pid, start_time) = (l.pid, l.start_time);
        l.stop = Some(StopCtl {
            grace: self.timers.add(timeout, TimerKind::StopGrace(id)),
            poll: None,
            killed: false,
            members: Vec::new(),
            after_exit,
        });
        // Leftovers just found need no pass over every process: they are all recorded.
        let scan = !after_exit;
        let members = self.signal_entry_tree(id, pid, start_time, our_child, sig, scan);
        if let Some(stop) = self.live.get_mut(&id).and_then(|l| l.stop.as_mut()) {
            stop.members = members;
        }
    }

    /// Signals an entry's group (when the leader is our unreaped child) and every other process
    /// that belongs to it (found by a `scan` of every process, and its recorded leftovers),
    /// each checked by identity. Returns those processes.
    fn signal_entry_tree(
        &mut self,
        id: u64,
        pid: i32,
        start_time: u64,
        our_child: bool,
        sig: i32,
        scan: bool,
    ) -> Vec<Target> {
        if our_child {
            if let Err(err) = kill::signal_group(pid, sig) {
                log::warn!("cannot signal the group of entry {id}: {err}");
            }
        }
        let leader_for_scan = if our_child || identity::is_same_live(pid, start_time) {
            pid
        } else {
            0
        };
        let mut members = if scan {
            self.proc_table().tree(id, leader_for_scan)
        } else {
            Vec::new()
        };
        for t in self.kept_leftovers(id) {
            if !members.contains(&t) {
                members.push(t);
            }
        }
        for &t in &members {
            // Group members already got the signal from the group kill.
            let in_group = our_child && identity::stat(t.pid).is_ok_and(|s| s.pgrp == pid);
            if !in_group {
                let _ = kill::signal_checked(t, sig);
            }
        }
        members
    }

    /// This turn's look at every process (read at most once per turn: stopping a thousand
    /// entries at once costs one pass over /proc, not a thousand).
    pub(super) fn proc_table(&mut self) -> &kill::ProcTable {
        let instance = self.paths.state.display().to_string();
        let me = self.my_pid;
        self.proc_table
            .get_or_insert_with(|| kill::ProcTable::read(&instance, me))
    }

    /// The stop grace of `id` ran out: KILL everything left.
    pub(super) fn stop_grace_over(&mut self, id: u64) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        let Some(stop) = l.stop.as_mut() else {
            return;
        };
        stop.killed = true;
        let before = std::mem::take(&mut stop.members);
        let our_child = !l.husk && l.adopted.is_none() && l.status.is_none();
        let (pid, start_time) = (l.pid, l.start_time);
        if let Some(e) = self.reg.get_mut(id) {
            e.event("killing", "stop timeout over: sending KILL");
        }
        // A fresh look: processes may have been born since the stop began.
        self.proc_table = None;
        let members = self.signal_entry_tree(id, pid, start_time, our_child, libc::SIGKILL, true);
        let mut members = members;
        // Children born to the processes seen before (they may lack the markers) go too.
        for t in kill::survivors(&before) {
            if !members.contains(&t) {
                let _ = kill::signal_checked(t, libc::SIGKILL);
                members.push(t);
            }
        }
        if let Some(stop) = self.live.get_mut(&id).and_then(|l| l.stop.as_mut()) {
            stop.members = members;
        }
        self.try_finalize(id, true);
    }

    /// Sends `sig` to the main process of entry `id`. Ok(false) if it is not running.
    pub(super) fn signal_main(&mut self, id: u64, sig: i32) -> Result<bool> {
        let Some(l) = self.live.get(&id).filter(|l| !l.husk) else {
            return Ok(false);
        };
        let r = if l.adopted.is_none() && l.status.is_none() {
            kill::signal_child(l.pid, sig).map(|_| true)
        } else {
            kill::signal_checked(
                Target {
                    pid: l.pid,
                    start_time: l.start_time,
                },
                sig,
            )
        };
        r.map_err(|err| Error::new(Code::Failed, format!("cannot send signal {sig}: {err}")))
    }

    /// At start-up: entries that were alive under the previous daemon are re-adopted if their
    /// process is still there (same pid and start time), else marked ended.
    pub(super) fn readopt_all(&mut self) {
        for id in self.reg.ids() {
            let Some(e) = self.reg.get_mut(id) else {
                continue;
            };
            if e.state == State::Backoff {
                // The previous daemon was waiting to restart it: carry on.
                let delay = Duration::from_millis(e.spec.backoff.initial_ms);
                self.arm_restart(id, delay);
                continue;
            }
            if !e.state.is_alive() {
                continue;
            }
            let (pid, st) = (e.pid.unwrap_or(0), e.start_time.unwrap_or(0));
            if pid > 0 && identity::is_same_live(pid, st) {
                e.adopted = true;
                e.state = State::Running;
                e.event(
                    "adopted",
                    format!("re-adopted pid {pid} left running by the previous daemon (output is no longer captured)"),
                );
                self.watch_adopted(id, pid, st);
            } else {
                e.state = State::Exited;
                e.ended_at_ms = Some(crate::util::now_ms());
                e.error =
                    Some("the daemon stopped while this ran; its exit status is unknown".into());
                e.event(
                    "lost",
                    "not running after a daemon restart; exit status unknown",
                );
            }
        }
    }

    /// The drain grace of `id` is over.
    pub(super) fn drain_over(&mut self, id: u64) {
        if let Some(l) = self.live.get_mut(&id) {
            l.drain = None;
        }
        self.try_finalize(id, true);
    }

    /// Tracks a process that is not our child: its end is noticed through a pidfd (or, on
    /// kernels without one, by a periodic identity check).
    pub(super) fn watch_adopted(&mut self, id: u64, pid: i32, start_time: u64) {
        let pidfd = rustix::process::Pid::from_raw(pid).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok()
        });
        let watch = match pidfd {
            Some(fd) => match self.register_fd(fd.as_raw_fd(), Source::Pidfd { id }) {
                Ok(t) => Some((t, fd)),
                Err(_) => None,
            },
            None => None,
        };
        if watch.is_none() {
            self.timers.add(ADOPT_POLL, TimerKind::AdoptPoll(id));
        }
        self.live.insert(
            id,
            Live {
                pid,
                start_time,
                pipes: Vec::new(),
                status: None,
                adopted_gone: false,
                writer: None,
                write_failed: false,
                stop: None,
                drain: None,
                adopted: Some(watch),
                cpu_sample: None,
                input: None,
                pty: None,
                husk: false,
                leftovers_checked: false,
                leftover_tries: 0,
                leftover_retry: None,
            },
        );
    }

    /// An adopted process's pidfd became readable: it has ended.
    pub(super) fn adopted_ended(&mut self, id: u64) {
        if let Some(l) = self.live.get_mut(&id) {
            l.adopted_gone = true;
        }
        self.try_finalize(id, true);
    }

    pub(super) fn adopt_poll(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        if identity::is_same_live(l.pid, l.start_time) {
            self.timers.add(ADOPT_POLL, TimerKind::AdoptPoll(id));
        } else {
            self.adopted_ended(id);
        }
    }

    /// Stops every live entry, then exits (replying to `conn` if given).
    pub(super) fn begin_shutdown(&mut self, conn: Option<Token>, req: u32) {
        self.shutting_down = true;
        self.cancel_all_builds();
        let ids = self.owned_live();
        for &id in &ids {
            self.begin_stop(id, None);
        }
        let still: Vec<u64> = ids
            .into_iter()
            .filter(|i| self.live.contains_key(i))
            .collect();
        if still.is_empty() {
            self.complete_batch(conn, req, BatchOp::Shutdown, Vec::new(), Vec::new());
        } else {
            self.pending.push(super::event_loop::Pending {
                conn,
                req,
                kind: PendingKind::Batch {
                    op: BatchOp::Shutdown,
                    ids: still,
                    results: Vec::new(),
                },
            });
        }
    }

    /// A result line for entry `id`.
    pub(super) fn result(&self, id: u64, outcome: &str, message: Option<String>) -> ActionResult {
        let e = self.reg.get(id);
        ActionResult {
            id,
            name: e.and_then(|e| e.name.clone()),
            outcome: outcome.to_string(),
            pid: self.live.get(&id).filter(|l| !l.husk).map(|l| l.pid),
            message,
        }
    }
}

/// "No such file or directory (os error 2)" → "No such file or directory".
fn strip_os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
