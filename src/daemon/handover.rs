//! The live state handed from one daemon to the next, and resuming from it: everything the
//! daemon knows about running processes that the registry on disk does not hold — each
//! entry's supervisor (phase, every deadline as the time it has left), the processes a stop
//! is waiting for, the run's pid, wait status and the descriptors it owns (by number), idle
//! timers. `wrangle upgrade` writes it to `STATE/live.json` just before the keeper starts the
//! new daemon, which reads it, deletes it and resumes every entry where it was. A daemon
//! started after one died has no such file: it resumes from the deadlines each entry's record
//! keeps (`Entry::deadline`). The format is in wrangle-protocol(7), KEEPER.

use super::state::{Daemon, TimerKind};
use crate::proc::kill::Target;
use crate::proc::supervisor::{Gone, Machine, Ms, Phase, Slot};
use crate::store::registry::{Awaited, Deadline, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The file in the state folder that carries the live state across an upgrade.
pub(super) const FILE: &str = "live.json";

/// The format's version; a reader refuses a newer one.
pub(super) const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) struct LiveState {
    pub version: u32,
    /// When it was written, in milliseconds of the system's monotonic clock (the reader takes
    /// off the time that passed since).
    #[serde(default)]
    pub written_at: Ms,
    /// By entry id.
    pub entries: BTreeMap<u64, LiveEntry>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) struct LiveEntry {
    /// Its supervisor, with every deadline as the milliseconds it had left.
    pub machine: Machine,
    /// The supervisor's timers: milliseconds left on each.
    pub timers: BTreeMap<Slot, Ms>,
    /// The processes a stop (or a leftovers' stop) waits for.
    pub members: Vec<Target>,
    pub run: Option<LiveRun>,
    /// Milliseconds left before its `cron_restart` and idle-profile timers.
    pub cron_in: Option<Ms>,
    pub idle_in: Option<Ms>,
    /// How long ago a command last named it (for the idle profile).
    pub touched_ago: Option<Ms>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) struct LiveRun {
    pub pid: i32,
    pub start_time: u64,
    /// The raw wait status, once reaped.
    pub wait_status: Option<u32>,
    /// Our read ends of its output, by stream (1 stdout, 2 stderr): descriptor numbers.
    pub pipes: Vec<(u8, i32)>,
    /// Where its input is written, and its terminal's master.
    pub input: Option<i32>,
    pub pty: Option<i32>,
    /// A re-adopted process (not our child), and the pidfd that watches it.
    pub adopted: bool,
    pub pidfd: Option<i32>,
    /// The run its log belongs to (the files are reopened for appending).
    pub log_run: u32,
    /// Input accepted but not yet written.
    pub input_buffered: usize,
}

impl LiveState {
    /// Reads a written-out state back.
    pub fn parse(text: &str) -> crate::error::Result<LiveState> {
        use crate::error::{Code, Error};
        let state: LiveState = serde_json::from_str(text)
            .map_err(|e| Error::new(Code::Failed, format!("the live state does not parse: {e}")))?;
        if state.version > VERSION {
            crate::bail!(
                Code::Failed,
                "the live state was written by a newer wrangle (format {}); this one reads {VERSION}",
                state.version
            );
        }
        Ok(state)
    }
}

impl Daemon {
    /// Everything this daemon knows about live processes, as one value.
    pub(super) fn live_state(&self) -> LiveState {
        let now = self.now_ms();
        let mut entries = BTreeMap::new();
        for (&id, sup) in &self.sups {
            let timers = sup
                .timers
                .iter()
                .filter_map(|(&slot, &t)| {
                    let left = self.rx.timers.remaining(t)?;
                    Some((slot, left.as_millis() as Ms))
                })
                .collect();
            let run = self.live.get(&id).map(|l| LiveRun {
                pid: l.pid,
                start_time: l.start_time,
                wait_status: l.status.map(|s| s.as_raw() as u32),
                pipes: l
                    .pipes
                    .iter()
                    .filter_map(|(t, fd)| match self.rx.sources.get(t) {
                        Some(super::reactor::Source::Pipe { stream, .. }) => {
                            Some((*stream, fd.as_raw_fd()))
                        }
                        _ => None,
                    })
                    .collect(),
                input: l
                    .input
                    .as_ref()
                    .and_then(|i| i.fd.as_ref())
                    .map(|fd| fd.as_raw_fd()),
                pty: l.pty.as_ref().map(|fd| fd.as_raw_fd()),
                adopted: l.adopted.is_some(),
                pidfd: match &l.adopted {
                    Some(super::state::Adopted::Watched(Some((_, fd)))) => Some(fd.as_raw_fd()),
                    _ => None,
                },
                log_run: self.reg.get(id).map_or(0, |e| e.run),
                input_buffered: l.input.as_ref().map_or(0, |i| i.buf.len()),
            });
            let service = self.service_timers.get(&id);
            let left = |k: usize| {
                service
                    .and_then(|s| s[k])
                    .and_then(|t| self.rx.timers.remaining(t))
                    .map(|d| d.as_millis() as Ms)
            };
            entries.insert(
                id,
                LiveEntry {
                    machine: sup.m.rebased(now, 0),
                    timers,
                    members: sup.members.clone(),
                    run,
                    cron_in: left(0),
                    idle_in: left(1),
                    touched_ago: self
                        .touched
                        .get(&id)
                        .map(|at| at.elapsed().as_millis() as Ms),
                },
            );
        }
        LiveState {
            version: VERSION,
            written_at: monotonic_ms(),
            entries,
        }
    }

    fn live_file(&self) -> PathBuf {
        self.paths.state.join(FILE)
    }

    /// Writes the live state for the daemon an upgrade starts (atomically: it reads all of it
    /// or nothing).
    pub(super) fn write_live_state(&self) -> crate::error::Result<()> {
        let text = serde_json::to_vec(&self.live_state()).map_err(|e| {
            crate::error::Error::new(
                crate::error::Code::Failed,
                format!("cannot write the live state: {e}"),
            )
        })?;
        let path = self.live_file();
        crate::store::snapshot::write_atomic(&path, &text, false)
            .map_err(|e| crate::error::Error::io(format!("cannot write {}", path.display()), e))
    }

    /// The upgrade did not happen: nobody is to read the live state.
    pub(super) fn drop_live_state(&self) {
        let _ = std::fs::remove_file(self.live_file());
    }

    /// Reads and deletes the live state an upgrading daemon wrote (`takeover`); any other
    /// start only deletes a stale one (its daemon died: the records are newer).
    fn take_live_state(&self, takeover: bool) -> Option<LiveState> {
        let path = self.live_file();
        let text = std::fs::read_to_string(&path).ok();
        let _ = std::fs::remove_file(&path);
        if !takeover {
            if text.is_some() {
                log::info!("ignored {}: left by a daemon that died", path.display());
            }
            return None;
        }
        match LiveState::parse(&text?) {
            Ok(s) => Some(s),
            Err(e) => {
                log::error!("{}: {e}; resuming from the saved records", path.display());
                None
            }
        }
    }

    /// At start-up, once the runs are taken over (`ended`: those that ended meanwhile, whose
    /// end is still to be told): every entry carries on where its previous daemon left it —
    /// exactly, from the live state of an upgrade, or from its saved deadline after a crash.
    /// Returns the runs whose end is still to be told.
    pub(super) fn resume_phases(
        &mut self,
        mut ended: Vec<u64>,
        takeover: bool,
        mut records: BTreeMap<u64, (State, Deadline)>,
    ) -> Vec<u64> {
        let live = self.take_live_state(takeover);
        let (mut entries, passed) = match live {
            Some(s) => {
                // Ms that passed since it was written (a clock gone backwards counts none).
                let passed = monotonic_ms().saturating_sub(s.written_at);
                (s.entries, passed)
            }
            None => (BTreeMap::new(), 0),
        };
        for id in self.reg.ids() {
            self.forget_stale_deadline(id);
            match entries.remove(&id) {
                Some(le) => self.resume_exactly(id, le, passed, &mut ended),
                None => {
                    if let Some(r) = records.remove(&id) {
                        self.resume_from_record(id, r);
                    }
                }
            }
        }
        ended
    }

    /// Entry `id` as the live state says, `passed` ms later.
    fn resume_exactly(&mut self, id: u64, le: LiveEntry, passed: Ms, ended: &mut Vec<u64>) {
        let now = self.now_ms();
        let mut m = le.machine.rebased(passed, now);
        // A build's process is not handed over (an upgrade waits for builds to end).
        m.building = false;
        let main_gone = match m.phase {
            Phase::Running { gone } | Phase::Ending { gone, .. } | Phase::Stopping { gone, .. } => {
                Some(gone.main)
            }
            Phase::Down { .. } | Phase::Backoff { .. } => None,
            // Within a turn only (a spawn); nothing to carry.
            Phase::Starting => return,
        };
        let has_run = self.live.contains_key(&id);
        match main_gone {
            // A run the keeper did not hand over (it ended and was forgotten): what the
            // take-over decided stands.
            Some(false) if !has_run => return,
            Some(true) if has_run => {
                // Reaped by the previous daemon: its status is known, and its end is not to
                // be told twice.
                ended.retain(|&e| e != id);
                let status = le.run.as_ref().and_then(|r| r.wait_status);
                if let Some(l) = self.live.get_mut(&id) {
                    l.status = status.map(|s| crate::proc::wait::WaitStatus(s as i32));
                }
            }
            _ => {}
        }
        // What the take-over armed (a restart after the first delay) gives way.
        let armed: Vec<Slot> = self.sup(id).timers.keys().copied().collect();
        for slot in armed {
            if let Some(t) = self.sup(id).timers.remove(&slot) {
                self.rx.timers.cancel(t);
            }
        }
        let output_gone = self.live.get(&id).is_some_and(|l| l.pipes.is_empty());
        m.phase = with_output(m.phase, output_gone);
        let watching = matches!(
            m.phase,
            Phase::Stopping { gone, .. } | Phase::Ending { gone, .. } if !gone.rest
        );
        let killed = matches!(
            m.phase,
            Phase::Stopping { killed: true, .. } | Phase::Ending { killed: true, .. }
        );
        {
            let s = self.sup(id);
            s.m.building = false;
            s.members = le.members;
            s.watching = watching;
            s.kill_announced = killed;
        }
        self.set_phase(id, m.phase);
        for (slot, left) in le.timers {
            let left = left.saturating_sub(passed);
            let t = self
                .rx
                .timers
                .add(Duration::from_millis(left), TimerKind::Entry(id, slot));
            self.sup(id).timers.insert(slot, t);
        }
        let output_closed = matches!(
            m.phase,
            Phase::Running { gone } | Phase::Ending { gone, .. } | Phase::Stopping { gone, .. }
                if gone.output
        );
        if output_closed && !output_gone {
            // Its previous daemon let go of its output (EOF, or the drain grace over): so do we.
            self.close_output(id);
        }
        if let Some(ago) = le.touched_ago {
            let at = Instant::now().checked_sub(Duration::from_millis(ago));
            if let Some(at) = at {
                self.touched.insert(id, at);
            }
        }
        if let Some(left) = le.idle_in {
            let left = Duration::from_millis(left.saturating_sub(passed));
            self.set_timer(id, TimerKind::Idle(id), left);
        }
        if watching {
            self.check_tree(id);
        }
        log::debug!("entry {id}: resumed as {:?}", self.phase(id));
    }

    /// A deadline saved for a phase the entry is no longer in (the take-over found its run
    /// ended, say) is dropped from its record.
    fn forget_stale_deadline(&mut self, id: u64) {
        let waits = self
            .sups
            .get(&id)
            .is_some_and(|s| super::supervise::deadline_of(&s.m).is_some());
        if !waits && self.reg.get(id).is_some_and(|e| e.deadline.is_some()) {
            if let Some(e) = self.reg.get_mut(id) {
                e.deadline = None;
            }
        }
    }

    /// Each entry's state and phase deadline as saved, before the take-over changes them.
    pub(super) fn phase_records(&self) -> BTreeMap<u64, (State, Deadline)> {
        self.reg
            .iter()
            .filter_map(|e| Some((e.id, (e.state, e.deadline?))))
            .collect()
    }

    /// Entry `id` from the deadline its record kept (`state`, `d`; its daemon died): a backoff
    /// restarts at its time; a stop someone asked for goes on (KILL at its time, then
    /// stopped).
    fn resume_from_record(&mut self, id: u64, (state, d): (State, Deadline)) {
        let Some(e) = self.reg.get(id) else {
            return;
        };
        let left = d.at_ms.saturating_sub(crate::util::now_ms());
        let now = self.now_ms();
        match (d.what, state, self.phase(id)) {
            (Awaited::Restart, State::Backoff, Some(Phase::Backoff { .. })) => {
                // Never later than its longest delay (a clock set back).
                let left = left.min(e.spec.backoff.max_ms.max(e.spec.backoff.initial_ms));
                self.cancel_entry_timer(id, Slot::Restart);
                self.set_phase(id, Phase::Backoff { at: now + left });
                self.arm_entry_timer(id, Slot::Restart, left);
            }
            (Awaited::StopKill, State::Stopping, Some(Phase::Running { gone }))
                if self.live.contains_key(&id) =>
            {
                let left = left.min(e.spec.stop_timeout_ms);
                // The stop signal went; the KILL is still to come.
                self.set_phase(
                    id,
                    Phase::Stopping {
                        gone,
                        kill_at: now + left,
                        killed: false,
                    },
                );
                self.arm_entry_timer(id, Slot::Kill, left);
                if let Some(e) = self.reg.get_mut(id) {
                    e.event(
                        crate::proto::EventKind::Stopping,
                        format!(
                            "still stopping (KILL after {})",
                            crate::util::duration::format(Duration::from_millis(left))
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn cancel_entry_timer(&mut self, id: u64, slot: Slot) {
        if let Some(t) = self.sup(id).timers.remove(&slot) {
            self.rx.timers.cancel(t);
        }
    }

    fn arm_entry_timer(&mut self, id: u64, slot: Slot, after: Ms) {
        self.cancel_entry_timer(id, slot);
        let t = self
            .rx
            .timers
            .add(Duration::from_millis(after), TimerKind::Entry(id, slot));
        self.sup(id).timers.insert(slot, t);
    }
}

/// `phase` with its output marked gone (the run has none of ours left).
fn with_output(phase: Phase, output_gone: bool) -> Phase {
    if !output_gone {
        return phase;
    }
    let mark = |gone: Gone| Gone {
        output: true,
        ..gone
    };
    match phase {
        Phase::Running { gone } => Phase::Running { gone: mark(gone) },
        Phase::Ending {
            gone,
            kill_at,
            killed,
        } => Phase::Ending {
            gone: mark(gone),
            kill_at,
            killed,
        },
        Phase::Stopping {
            gone,
            kill_at,
            killed,
        } => Phase::Stopping {
            gone: mark(gone),
            kill_at,
            killed,
        },
        other => other,
    }
}

/// Milliseconds of the system's monotonic clock (the same for every process, unlike the
/// daemon's own clock, which starts with it).
fn monotonic_ms() -> Ms {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given, a valid local.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as Ms)
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec as Ms / 1_000_000)
}
