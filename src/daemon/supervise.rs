//! Drives each entry's state machine ([`crate::proc::supervisor`]): feeds it what happened,
//! carries out the effects it asks for (spawn, signal, timers, reports, builds), and feeds
//! back what those found. The only place that changes an entry's phase, and so its state.

use super::state::{Daemon, Sup, TimerKind};
use crate::error::Error;
use crate::proc::kill::{self};
use crate::proc::supervisor::{
    AfterExit, Ctx, Effect, Gone, Input, Machine, Ms, Phase, Refusal, Rest, Sig, Slot, Whom,
};
use crate::proto::EventKind;
use crate::proto::Leftovers;
use crate::store::registry::{Awaited, Deadline, State};
use std::time::Duration;

/// How long to wait for output pipes to reach EOF after the main process was reaped (a
/// daemonized grandchild may hold them open for ever).
const DRAIN_GRACE: Ms = 500;
/// How often the processes a stop went to are looked for.
const WATCH_POLL: Duration = Duration::from_millis(20);

/// The state users see for a phase.
pub(super) fn state_of(m: &Machine) -> State {
    match m.phase {
        Phase::Down { rest: Rest::New } => State::Starting,
        Phase::Down {
            rest: Rest::Stopped,
        } => State::Stopped,
        Phase::Down { rest: Rest::Exited } => State::Exited,
        Phase::Down {
            rest: Rest::Errored,
        } => State::Errored,
        Phase::Starting => State::Starting,
        Phase::Running { .. } => State::Running,
        // Leftovers being stopped after the main process ended: stopping, though nobody
        // asked; while only the output drains, it still counts as running.
        Phase::Ending { gone, .. } if !gone.rest => State::Stopping,
        Phase::Ending { .. } => State::Running,
        Phase::Stopping { .. } => State::Stopping,
        Phase::Backoff { .. } => State::Backoff,
    }
}

/// The deadline a phase waits for, if any (see `Entry::deadline`).
pub(super) fn deadline_of(m: &Machine) -> Option<(Awaited, Ms)> {
    match m.phase {
        Phase::Backoff { at } => Some((Awaited::Restart, at)),
        Phase::Stopping { kill_at, .. } => Some((Awaited::StopKill, kill_at)),
        Phase::Ending { gone, kill_at, .. } if !gone.rest => {
            Some((Awaited::LeftoversKill, kill_at))
        }
        _ => None,
    }
}

impl Daemon {
    /// Milliseconds on the daemon's monotonic clock.
    pub(super) fn now_ms(&self) -> Ms {
        self.started.elapsed().as_millis() as Ms
    }

    /// The machine of entry `id` (made from its stored state the first time).
    pub(super) fn sup(&mut self, id: u64) -> &mut Sup {
        let state = self.reg.get(id).map_or(State::Exited, |e| e.state);
        self.sups.entry(id).or_insert_with(|| Sup::at_rest(state))
    }

    /// Sets entry `id`'s machine to `phase` directly (re-adoption and start-up only).
    pub(super) fn set_phase(&mut self, id: u64, phase: Phase) {
        self.sup(id).m.phase = phase;
        self.sync_state(id);
    }

    pub(super) fn phase(&self, id: u64) -> Option<Phase> {
        self.sups.get(&id).map(|s| s.m.phase)
    }

    /// Whether entry `id` has processes that have not ended yet (a run, or leftovers being
    /// stopped): what batches wait for.
    pub(super) fn busy(&self, id: u64) -> bool {
        self.live.contains_key(&id)
            || matches!(
                self.phase(id),
                Some(Phase::Stopping { .. } | Phase::Ending { .. })
            )
    }

    /// Feeds `input` to entry `id`'s machine and carries out what it says. A refusal changes
    /// nothing.
    pub(super) fn feed(&mut self, id: u64, input: Input) -> Result<(), Refusal> {
        if self.reg.get(id).is_none() {
            return Err(Refusal::Stale);
        }
        let ctx = self.ctx(id);
        let fx = self.sup(id).m.step(input, &ctx)?;
        log::debug!("entry {id}: {input:?} -> {:?} {fx:?}", self.phase(id));
        self.sync_state(id);
        self.feeding += 1;
        for f in fx {
            self.effect(id, f, &ctx);
        }
        self.feeding -= 1;
        self.sync_state(id);
        if self.feeding == 0 {
            // What waits for ends is told once the machines are at rest (a batch may start
            // an entry again, which must not interleave with the step that ended it).
            for ended in std::mem::take(&mut self.ended) {
                self.after_end(ended);
            }
        }
        Ok(())
    }

    fn sync_state(&mut self, id: u64) {
        let Some(s) = self.sups.get(&id) else {
            return;
        };
        let state = state_of(&s.m);
        let deadline = deadline_of(&s.m);
        let record = s.recorded != deadline;
        if let Some(e) = self.reg.get(id) {
            if e.state != state || record {
                let now = self.now_ms();
                if let Some(e) = self.reg.get_mut(id) {
                    e.state = state;
                    if record {
                        // Saved with the state at the end of the turn: what a daemon started
                        // after this one dies resumes from.
                        e.deadline = deadline.map(|(what, at)| Deadline {
                            what,
                            at_ms: crate::util::now_ms().saturating_add(at.saturating_sub(now)),
                        });
                    }
                }
                if let Some(s) = self.sups.get_mut(&id) {
                    s.recorded = deadline;
                }
            }
        }
    }

    fn ctx(&self, id: u64) -> Ctx {
        let now = self.now_ms();
        let e = self.reg.get(id);
        let stop_timeout = e.map_or(5_000, |e| e.spec.stop_timeout_ms);
        let after_exit = match (e, self.live.get(&id)) {
            (Some(e), Some(l)) if !e.foreign => {
                let code = l.status.and_then(|s| s.exit_status());
                let uptime = Duration::from_millis(
                    crate::util::now_ms().saturating_sub(e.started_at_ms.unwrap_or(0)),
                );
                crate::proc::policy::decide(&e.spec, code, uptime, e.consecutive).0
            }
            _ => AfterExit::Stay,
        };
        let keep_leftovers = e.is_some_and(|e| e.spec.leftovers == Leftovers::Keep && !e.foreign);
        let has_leftovers =
            e.is_some_and(|e| !crate::proc::leftovers::alive(&e.leftovers).is_empty());
        Ctx {
            now,
            stop_timeout,
            drain: DRAIN_GRACE,
            keep_leftovers,
            has_leftovers,
            after_exit,
        }
    }

    fn effect(&mut self, id: u64, f: Effect, ctx: &Ctx) {
        match f {
            Effect::Spawn { auto } => {
                if auto {
                    if let Some(e) = self.reg.get_mut(id) {
                        e.event(
                            EventKind::Restarting,
                            format!("automatic restart {}", e.consecutive),
                        );
                    }
                }
                match self.spawn_run(id) {
                    Ok(_) => {
                        if auto {
                            if let Some(e) = self.reg.get_mut(id) {
                                e.restarts += 1;
                            }
                        }
                        let _ = self.feed(id, Input::Spawned);
                        if self.live.get(&id).is_some_and(|l| l.pipes_closed()) {
                            let _ = self.feed(id, Input::OutputClosed);
                        }
                    }
                    Err(err) => {
                        self.fail_ready_waits(id, &err.message);
                        self.sup(id).failure = Some(Box::new(err));
                        let _ = self.feed(id, Input::SpawnFailed);
                    }
                }
            }
            Effect::Signal(whom, sig) => self.signal(id, whom, sig),
            Effect::KeepLeftovers => self.keep_leftovers(id, true),
            Effect::CloseOutput => self.close_output(id),
            Effect::Arm(slot, at) => {
                let had = self
                    .sups
                    .get(&id)
                    .is_some_and(|s| s.timers.contains_key(&slot));
                if had && slot == Slot::Kill {
                    if let Some(e) = self.reg.get_mut(id) {
                        let left = Duration::from_millis(at.saturating_sub(ctx.now));
                        e.event(
                            EventKind::Stopping,
                            format!(
                                "stop timeout shortened: KILL after {}",
                                crate::util::duration::format(left)
                            ),
                        );
                    }
                }
                self.cancel_timer(id, slot);
                let after = Duration::from_millis(at.saturating_sub(ctx.now));
                let t = self.rx.timers.add(after, TimerKind::Entry(id, slot));
                self.sup(id).timers.insert(slot, t);
            }
            Effect::Cancel(slot) => self.cancel_timer(id, slot),
            Effect::Report(end) => self.report_end(id, end),
            Effect::Backoff { delay, attempt } => {
                let Some(e) = self.reg.get_mut(id) else {
                    return;
                };
                e.consecutive = attempt;
                let of = match e.spec.max_restarts {
                    0 => String::new(),
                    m => format!(" of {m}"),
                };
                let why = crate::util::signal::describe_end(e.exit_code, e.exit_signal)
                    .unwrap_or_else(|| "it ended".to_string());
                let policy = e.spec.restart.as_str();
                e.event(
                    EventKind::Backoff,
                    format!(
                        "restarting in {} (attempt {attempt}{of}; {why}, restart {policy})",
                        crate::util::duration::format(Duration::from_millis(delay))
                    ),
                );
            }
            Effect::GaveUp { attempts } => {
                if let Some(e) = self.reg.get_mut(id) {
                    e.consecutive = attempts;
                    let msg = format!(
                        "gave up after {attempts} restart{} in a row",
                        if attempts == 1 { "" } else { "s" }
                    );
                    e.error = Some(msg.clone());
                    e.event(EventKind::Errored, msg);
                }
            }
            Effect::StoppedIdle { first_build } => {
                if let Some(e) = self.reg.get_mut(id) {
                    if first_build {
                        e.event(EventKind::Stopped, "stopped before its first run");
                    } else {
                        e.event(EventKind::Stopped, "stopped while waiting to restart");
                    }
                }
                let why = match (first_build, self.reg.get(id)) {
                    (true, _) => "its build was cancelled".to_string(),
                    (false, Some(e)) => format!("{} was stopped", e.label()),
                    (false, None) => String::new(),
                };
                self.fail_ready_waits(id, &why);
            }
            Effect::StartBuild => {
                if let Err(err) = self.spawn_build(id) {
                    self.sup(id).failure = Some(Box::new(err));
                    let _ = self.feed(id, Input::BuildDone { ok: false });
                }
            }
            Effect::CancelBuild => self.cancel_build(id),
            Effect::Built => self.build_finished(id, None),
            Effect::BuildFailed => {
                let s = self.sup(id);
                let msg = s.failure.as_ref().map(|e| e.message.clone());
                let detail = s.failure_detail.take();
                let msg = msg.unwrap_or_default();
                if matches!(
                    self.phase(id),
                    Some(Phase::Down {
                        rest: Rest::Errored
                    })
                ) {
                    if let Some(e) = self.reg.get_mut(id) {
                        e.error = Some(msg.clone());
                    }
                    self.fail_ready_waits(id, &msg);
                }
                self.build_finished(id, Some(detail.map_or(msg, String::from)));
            }
        }
    }

    fn cancel_timer(&mut self, id: u64, slot: Slot) {
        if let Some(t) = self.sups.get_mut(&id).and_then(|s| s.timers.remove(&slot)) {
            self.rx.timers.cancel(t);
        }
    }

    /// A timer of entry `id` came.
    pub(super) fn entry_timer(&mut self, id: u64, slot: Slot) {
        if let Some(s) = self.sups.get_mut(&id) {
            s.timers.remove(&slot);
        }
        if slot == Slot::Restart && self.shutting_down {
            // Kept in backoff: the next daemon carries on (see readopt_all).
            return;
        }
        let _ = self.feed(id, Input::Timer(slot));
    }

    /// Sends `sig` to the entry's processes (all of them, or what is left of a run whose main
    /// process ended), then watches them until none is left.
    fn signal(&mut self, id: u64, whom: Whom, sig: Sig) {
        // With no run (an ended run's kept leftovers), only the leftovers are signalled.
        let run = self.live.get(&id).map(|l| {
            (
                l.pid,
                l.start_time,
                l.adopted.is_none() && l.status.is_none(),
            )
        });
        let signo = self.signo(id, sig);
        if sig == Sig::Kill {
            let s = self.sup(id);
            if !std::mem::replace(&mut s.kill_announced, true) {
                if let Some(e) = self.reg.get_mut(id) {
                    e.event(EventKind::Killing, "stop timeout over: sending KILL");
                }
            }
            // A fresh look: processes may have been born since the stop began.
            self.proc_table = None;
        }
        if (whom, sig) == (Whom::Tree, Sig::Stop) {
            let kill_at = match self.phase(id) {
                Some(Phase::Stopping { kill_at, .. }) => kill_at,
                _ => self.now_ms(),
            };
            let left = Duration::from_millis(kill_at.saturating_sub(self.now_ms()));
            if let Some(e) = self.reg.get_mut(id) {
                e.event(
                    EventKind::Stopping,
                    format!(
                        "stopping with {} (KILL after {})",
                        crate::util::signal::name(signo),
                        crate::util::duration::format(left)
                    ),
                );
            }
        }
        let members = match (whom, run) {
            (Whom::Tree, Some((pid, start_time, our_child))) => {
                self.signal_entry_tree(id, pid, start_time, our_child, signo)
            }
            (Whom::Tree, None) | (Whom::Leftovers, _) => {
                let left = self.find_leftovers(id);
                for &t in &left {
                    let _ = kill::signal_checked(t, signo);
                }
                if !left.is_empty() {
                    let s = self.sup(id);
                    match sig {
                        Sig::Stop => s.leftovers_signalled.0 = true,
                        Sig::Kill => s.leftovers_signalled.1 = true,
                    }
                }
                if sig == Sig::Stop && !left.is_empty() {
                    let now = self.now_ms();
                    let kill_in = match self.phase(id) {
                        Some(Phase::Ending { kill_at, .. } | Phase::Stopping { kill_at, .. }) => {
                            kill_at.saturating_sub(now)
                        }
                        _ => 0,
                    };
                    if let Some(e) = self.reg.get_mut(id) {
                        let n = left.len();
                        e.event(
                            EventKind::Leftovers,
                            format!(
                                "stopping {n} leftover process{} with {} (KILL after {})",
                                if n == 1 { "" } else { "es" },
                                crate::util::signal::name(signo),
                                crate::util::duration::format(Duration::from_millis(kill_in))
                            ),
                        );
                    }
                }
                left
            }
        };
        let s = self.sup(id);
        for t in members {
            if !s.members.contains(&t) {
                s.members.push(t);
            }
        }
        s.watching = true;
        self.check_tree(id);
    }

    /// The signal number `sig` stands for with entry `id`.
    pub(super) fn signo(&self, id: u64, sig: Sig) -> i32 {
        match sig {
            Sig::Stop => self
                .reg
                .get(id)
                .map_or(libc::SIGTERM, |e| e.spec.effective_stop_signal()),
            Sig::Kill => libc::SIGKILL,
        }
    }

    /// Feeds `TreeGone` once nothing the stop went to is left; looks again soon otherwise.
    pub(super) fn check_tree(&mut self, id: u64) {
        let Some(s) = self.sups.get_mut(&id) else {
            return;
        };
        if !s.watching {
            return;
        }
        let left = kill::survivors(&s.members);
        s.members.clone_from(&left);
        if left.is_empty() && s.relook.is_some() {
            // Gone, but someone may not have been told apart yet: wait for the second look.
        } else if left.is_empty() {
            s.relooks = 0;
            s.watching = false;
            if let Some(t) = s.watch.take() {
                self.rx.timers.cancel(t);
            }
            let _ = self.feed(id, Input::TreeGone);
        } else if s.watch.is_none() {
            s.watch = Some(self.rx.timers.add(WATCH_POLL, TimerKind::Watch(id)));
        }
    }

    /// The watch poll of entry `id` came.
    pub(super) fn watch_due(&mut self, id: u64) {
        if let Some(s) = self.sups.get_mut(&id) {
            s.watch = None;
        }
        self.check_tree(id);
    }

    /// Starts entry `id` (a user's start, `run`, a batch's second half, resurrect). On
    /// failure the entry is `errored` and the error says why.
    pub(super) fn start_entry(&mut self, id: u64) -> crate::error::Result<i32> {
        self.sup(id).failure = None;
        match self.feed(id, Input::Start) {
            Ok(()) => {}
            Err(Refusal::AlreadyRunning | Refusal::Busy) => {
                let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
                bail!(crate::error::Code::Failed, "{label} is already running");
            }
            Err(r) => bail!(crate::error::Code::Failed, "cannot start entry {id}: {r:?}"),
        }
        match self.live.get(&id) {
            Some(l) => Ok(l.pid),
            None => Err(self.sup(id).failure.take().map_or_else(
                || {
                    Error::new(
                        crate::error::Code::Failed,
                        format!("entry {id} did not start"),
                    )
                },
                |e| *e,
            )),
        }
    }

    /// Begins stopping entry `id`. Returns false if nothing was running (an entry waiting to
    /// restart, or for its first build, is stopped at once).
    pub(super) fn begin_stop(&mut self, id: u64, timeout: Option<Duration>) -> bool {
        let timeout = timeout.map(|t| t.as_millis() as Ms);
        let _ = self.feed(id, Input::Stop { timeout });
        self.busy(id)
    }

    /// A stop request: `Some(phase before)` when it was accepted.
    pub(super) fn stop_entry(&mut self, id: u64, timeout: Option<Duration>) -> Option<Phase> {
        let before = self.sup(id).m.phase;
        let timeout = timeout.map(|t| t.as_millis() as Ms);
        self.feed(id, Input::Stop { timeout }).ok().map(|_| before)
    }

    /// Forgets entry `id`'s machine and timers (it is removed).
    pub(super) fn drop_sup(&mut self, id: u64) {
        if let Some(s) = self.sups.remove(&id) {
            for t in s.timers.into_values().chain(s.watch).chain(s.relook) {
                self.rx.timers.cancel(t);
            }
        }
    }

    /// Re-adopted or taken over at start-up: running (`output_gone`: with no output of ours).
    pub(super) fn readopted(&mut self, id: u64, output_gone: bool) {
        self.set_phase(
            id,
            Phase::Running {
                gone: Gone {
                    output: output_gone,
                    ..Gone::default()
                },
            },
        );
    }

    /// Was waiting to restart under the previous daemon: carry on after the first delay.
    pub(super) fn resume_backoff(&mut self, id: u64, delay: Ms) {
        let at = self.now_ms() + delay;
        self.set_phase(id, Phase::Backoff { at });
        let t = self.rx.timers.add(
            Duration::from_millis(delay),
            TimerKind::Entry(id, Slot::Restart),
        );
        self.sup(id).timers.insert(Slot::Restart, t);
    }
}
