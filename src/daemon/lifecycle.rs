//! A run's resources and mechanics, as the supervisor ([`super::supervise`]) asks for them:
//! spawn (pipes, terminal, log files), reap, signal the
//! entry's processes, record the end, and re-adopt processes a previous daemon left running.
//! When things happen is the supervisor's business, not this file's. It stays one file
//! because these are the steps of one run's resources, from spawn to the record of its end.

use super::reactor::Source;
use super::state::{BatchOp, Daemon, Live, PendingKind, TimerKind};
use crate::error::{Code, Error, Result};
use crate::proc::identity;
use crate::proc::kill::{self, Target};
use crate::proc::spawn;
use crate::proc::supervisor::{End, Input};
use crate::proto::{ActionResult, WaitReply};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::{RunMeta, State};
use mio::Token;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

/// How often an adopted process without a pidfd is checked.
const ADOPT_POLL: Duration = Duration::from_millis(500);

impl Daemon {
    pub(super) fn log_dir(&self, id: u64) -> PathBuf {
        self.paths.state.join("logs").join(id.to_string())
    }

    /// Spawns a new run of entry `id` (the supervisor's `Spawn`). On failure the entry
    /// records the reason.
    pub(super) fn spawn_run(&mut self, id: u64) -> Result<i32> {
        let dir = self.log_dir(id);
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let run = e.run + 1;
        // The log is opened for a run that can start (a failure is retried once it runs).
        let writer = std::path::Path::new(&e.spec.cwd)
            .is_dir()
            .then(|| self.open_run_log(id, run));
        let Some(e) = self.reg.get_mut(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let runs_kept = self.config.logs.runs.max(1) as usize;
        let Some(writer) = writer else {
            let msg = format!(
                "cannot start {}: working folder {} does not exist",
                e.label(),
                e.spec.cwd
            );
            e.error = Some(msg.clone());
            e.event(EventKind::Errored, msg.clone());
            bail!(Code::Failed, "{msg}");
        };
        let instance = self.paths.state.display().to_string();
        let spawned = spawn::spawn(&e.spec, id, e.name.as_deref(), &instance);
        let sp = match spawned {
            Ok(sp) => sp,
            Err(err) => {
                let what = e.spec.argv.first().cloned().unwrap_or_default();
                let msg = format!(
                    "cannot start {}: {what}: {}",
                    e.label(),
                    crate::sys::errno::reason(&err)
                );
                e.error = Some(msg.clone());
                e.ended_at_ms = Some(crate::util::now_ms());
                e.event(EventKind::Errored, msg.clone());
                return Err(Error {
                    code: Code::Failed,
                    message: msg,
                    source: Some(std::sync::Arc::new(err)),
                });
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
        e.started_at_ms = Some(crate::util::now_ms());
        e.ended_at_ms = None;
        e.exit_code = None;
        e.exit_signal = None;
        e.error = None;
        e.adopted = false;
        e.foreign = false;
        e.event(
            EventKind::Started,
            format!("run {run} started, pid {}", sp.pid),
        );
        let (writer, open_error) = match writer {
            Ok(w) => (Some(w), None),
            Err(err) => (
                None,
                Some(format!(
                    "cannot open the log files in {}: {err}; output is kept in memory only \
                     until they can be made",
                    dir.display()
                )),
            ),
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
                writer,
                write_failed: false,
                log_retry: None,
                adopted: None,
                input: sp.input.map(|fd| super::state::InputSink::new(fd, is_pty)),
                pty_buf: sp.pty.as_ref().and_then(|_| super::capture::pty_buffer()),
                pty: sp.pty,
            },
        );
        if let Some(msg) = open_error {
            self.log_failed(id, msg);
        }
        self.screen_started(id);
        self.watch_input(id);
        self.keep_run(id);
        self.ready_run_started(id);
        Ok(sp.pid)
    }

    /// Collects every exited child (the loop is the only reaper): all of them first, each
    /// told apart by its pid at once, then what ended is recorded (so that the daemon's
    /// children are listed once for all of them, not once per child).
    pub(super) fn reap(&mut self) {
        let mut ended = Vec::new();
        let mut any = false;
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    let pid = pid.as_raw_nonzero().get();
                    any = true;
                    if let Some(id) = self.builds.entry_of(pid) {
                        ended.push((id, Some((pid, status))));
                    } else if let Some(id) = self.pids.remove(&pid) {
                        if let Some(l) = self.live.get_mut(&id) {
                            l.status = Some(status.into());
                        }
                        ended.push((id, None));
                    }
                    // Else an orphan re-parented to us (we are a subreaper): nothing to record.
                }
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        if any {
            // What the daemon's children are has changed (the orphans of an ended process
            // came to it before it could be reaped).
            self.orphans = None;
        }
        for (id, build) in ended {
            match build {
                Some((pid, status)) => {
                    self.guarded("recording how its build ended", Some(id), |d| {
                        d.build_reaped(id, pid, status)
                    });
                }
                None => self.guarded("recording how it ended", Some(id), |d| {
                    let _ = d.feed(id, Input::Reaped);
                    d.check_tree(id);
                }),
            }
        }
    }

    /// The run is over (the supervisor's `Report`): release its resources and record how it
    /// ended. Whoever waits for it is told once the supervisor is at rest ([`Self::after_end`]).
    pub(super) fn report_end(&mut self, id: u64, end: End) {
        self.close_input(id);
        self.flush_log_lines(id);
        self.pass_end(id);
        if matches!(end, End::Stopped { .. }) {
            // A stop ends every process of the entry, kept leftovers included.
            if let Some(e) = self.reg.get_mut(id) {
                e.leftovers.clear();
            }
        }
        let Some(mut l) = self.live.remove(&id) else {
            // No run: only an ended run's kept leftovers were stopped; its record stands.
            if let Some(s) = self.sups.get_mut(&id) {
                s.kill_announced = false;
            }
            if let (Some(e), End::Stopped { killed }) = (self.reg.get_mut(id), end) {
                let killed = if killed {
                    " (killed after the stop timeout)"
                } else {
                    ""
                };
                e.event(
                    EventKind::Stopped,
                    format!("leftover processes stopped{killed}"),
                );
                self.ended.push(id);
            }
            return;
        };
        self.keeper_forget(id);
        for (t, fd) in std::mem::take(&mut l.pipes) {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(super::state::Adopted::Watched(Some((t, fd)))) = l.adopted.take() {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(w) = l.writer.as_mut() {
            let _ = w.flush_index();
        }
        self.pids.remove(&l.pid);
        self.index_dirty.remove(&id);
        self.ended.push(id);
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        let (code, sig) = match l.status {
            Some(st) => (st.exit_status(), st.terminating_signal()),
            None => (None, None),
        };
        e.exit_code = code;
        e.exit_signal = sig;
        e.ended_at_ms = Some(crate::util::now_ms());
        let how = crate::util::signal::describe_end(code, sig)
            .unwrap_or_else(|| "exit status unknown (not our child)".to_string());
        let signalled = self.sups.get_mut(&id).map(|s| {
            s.kill_announced = false;
            std::mem::take(&mut s.leftovers_signalled)
        });
        match end {
            End::Stopped { killed } => {
                let killed = if killed {
                    " (killed after the stop timeout)"
                } else {
                    ""
                };
                e.event(EventKind::Stopped, format!("{how}{killed}"));
            }
            End::Exited => {
                e.consecutive = 0;
                let how = match signalled {
                    Some((true, killed)) => {
                        let killed = if killed {
                            " (killed after the stop timeout)"
                        } else {
                            ""
                        };
                        format!("{how}; its leftover processes were stopped{killed}")
                    }
                    _ => how,
                };
                e.event(EventKind::Exited, how);
            }
        }
    }

    /// After a run's end is reported: answer waits, streams and batches.
    pub(super) fn after_end(&mut self, id: u64) {
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
                // From the last: a batch's entries tend to end in the order they were
                // stopped, so a busy one is found at once rather than after every ended one
                // (stopping a thousand entries made a million checks).
                PendingKind::Batch { ids, .. } => {
                    ids.contains(&id) && ids.iter().rev().all(|x| !self.busy(*x))
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
                        self.rx.timers.cancel(t);
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
                    let again: Vec<u64> = ids.iter().copied().filter(|x| self.busy(*x)).collect();
                    if !again.is_empty() {
                        // An earlier batch of this pass started one again: stop it too.
                        for x in again {
                            self.begin_stop(x, None);
                        }
                        self.pending.push(super::state::Pending {
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

    /// Signals an entry's group (when the leader is our unreaped child) and every other process
    /// that belongs to it, each checked by identity. Returns those processes.
    pub(super) fn signal_entry_tree(
        &mut self,
        id: u64,
        pid: i32,
        start_time: u64,
        our_child: bool,
        sig: i32,
    ) -> Vec<Target> {
        if our_child {
            if let Err(err) = kill::signal_group(pid, sig) {
                log::warn!("cannot signal the group of entry {id}: {err}");
            }
        }
        let adopted = self.live.get(&id).is_some_and(|l| l.adopted.is_some());
        let (mut members, more) = if adopted {
            // Its orphans did not come to us: the whole machine is searched for its markers.
            (self.run_tree(id), self.kept_leftovers(id))
        } else {
            // From the main process down, then the orphans it left the daemon (a subreaper)
            // and the leftovers kept from earlier runs; an orphan caught in the middle of an
            // `exec` gets a second look soon. No pass over every process.
            let leader = Target { pid, start_time };
            (kill::survivors(&[leader]), self.find_leftovers(id))
        };
        for t in more {
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

    /// Sends `sig` to the main process of entry `id`. Ok(false) if it is not running.
    pub(super) fn signal_main(&mut self, id: u64, sig: i32) -> Result<bool> {
        let Some(l) = self.live.get(&id) else {
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
    /// Entries a previous daemon left: runs the keeper `held` are taken over (returns those
    /// that ended meanwhile); others are re-adopted if their process still lives (no output),
    /// or marked lost.
    pub(super) fn readopt_all(
        &mut self,
        mut held: std::collections::BTreeMap<u64, super::kept::HeldRun>,
    ) -> Vec<u64> {
        let mut ended = Vec::new();
        for id in self.reg.ids() {
            if let Some(h) = held.remove(&id) {
                if self.take_over(id, h) {
                    ended.push(id);
                }
                continue;
            }
            let Some(e) = self.reg.get_mut(id) else {
                continue;
            };
            if e.state == State::Backoff {
                // The previous daemon was waiting to restart it: carry on.
                let delay = e.spec.backoff.initial_ms;
                self.resume_backoff(id, delay);
                continue;
            }
            if !e.state.is_alive() {
                continue;
            }
            let (pid, st) = (e.pid.unwrap_or(0), e.start_time.unwrap_or(0));
            if pid > 0 && identity::is_same_live(pid, st) {
                e.adopted = true;
                e.event(
                    EventKind::Adopted,
                    format!("re-adopted pid {pid} left running by the previous daemon (output is no longer captured)"),
                );
                self.watch_adopted(id, pid, st);
            } else {
                e.state = State::Exited;
                e.ended_at_ms = Some(crate::util::now_ms());
                e.error =
                    Some("the daemon stopped while this ran; its exit status is unknown".into());
                e.event(
                    EventKind::Lost,
                    "not running after a daemon restart; exit status unknown",
                );
            }
        }
        for (id, h) in held {
            // A run of an entry the registry does not have (removed while its run was being
            // handed over): let it go.
            log::warn!(
                "the keeper held pid {} of entry {id}, which no longer exists; letting it go",
                h.pid
            );
            self.keeper_forget(id);
        }
        ended
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
            self.rx.timers.add(ADOPT_POLL, TimerKind::AdoptPoll(id));
        }
        self.live.insert(
            id,
            Live {
                pid,
                start_time,
                pipes: Vec::new(),
                status: None,
                writer: None,
                write_failed: false,
                log_retry: None,
                adopted: Some(super::state::Adopted::Watched(watch)),
                input: None,
                pty: None,
                pty_buf: None,
            },
        );
        self.readopted(id, true);
    }

    /// An adopted process's pidfd became readable: it has ended.
    pub(super) fn adopted_ended(&mut self, id: u64) {
        let _ = self.feed(id, Input::Reaped);
        self.check_tree(id);
    }

    pub(super) fn adopt_poll(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        if identity::is_same_live(l.pid, l.start_time) {
            self.rx.timers.add(ADOPT_POLL, TimerKind::AdoptPoll(id));
        } else {
            self.adopted_ended(id);
        }
    }

    /// Stops every live entry, then exits (replying to `conn` if given).
    pub(super) fn begin_shutdown(&mut self, conn: Option<Token>, req: u32) {
        self.shutting_down = true;
        self.keeper_bye();
        let ids = self.owned_live();
        for &id in &ids {
            self.begin_stop(id, None);
        }
        for id in self.builds.ids() {
            self.begin_stop(id, None);
        }
        let still: Vec<u64> = ids.into_iter().filter(|i| self.busy(*i)).collect();
        if still.is_empty() {
            self.complete_batch(conn, req, BatchOp::Shutdown, Vec::new(), Vec::new());
        } else {
            self.pending.push(super::state::Pending {
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
    pub(super) fn result(
        &self,
        id: u64,
        outcome: Outcome,
        message: Option<String>,
    ) -> ActionResult {
        let e = self.reg.get(id);
        ActionResult {
            id,
            name: e.and_then(|e| e.name.clone()),
            outcome,
            pid: self.live.get(&id).map(|l| l.pid),
            message,
        }
    }
}
