//! Resuming at start-up: every entry carries on where its previous daemon left it — exactly,
//! from the live state an upgrading daemon wrote (`handover.rs`; read, then deleted), or,
//! after a daemon died, from the deadline each entry's record keeps (`Entry::deadline`): a
//! backoff restarts at its time with its count, a stop someone asked for gets its KILL at its
//! time and ends stopped.

use super::handover::{monotonic_ms, VERSION};
use super::state::{Daemon, TimerKind};
use crate::proc::kill::Target;
use crate::proc::supervisor::{Gone, Machine, Ms, Phase, Slot};
use crate::store::registry::{Awaited, Deadline, State};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Each entry's saved state and phase deadline, by id.
pub(super) type Records = Vec<(u64, (State, Deadline))>;

/// The part of a written-out live state (`handover::LiveState`) a new daemon resumes from.
#[derive(Deserialize)]
struct Handed {
    version: u32,
    #[serde(default)]
    written_at: Ms,
    entries: BTreeMap<u64, Resumed>,
}

#[derive(Deserialize)]
struct Resumed {
    machine: Machine,
    #[serde(default)]
    timers: BTreeMap<Slot, Ms>,
    #[serde(default)]
    members: Vec<Target>,
    #[serde(default)]
    run: Option<RunEnd>,
    #[serde(default)]
    idle_in: Option<Ms>,
    #[serde(default)]
    touched_ago: Option<Ms>,
}

#[derive(Deserialize)]
struct RunEnd {
    #[serde(default)]
    wait_status: Option<u32>,
}

impl Handed {
    fn parse(text: &str) -> crate::error::Result<Handed> {
        use crate::error::{Code, Error};
        let state: Handed = serde_json::from_str(text)
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
    /// Reads and deletes the live state an upgrading daemon wrote (`takeover`); any other
    /// start only deletes a stale one (its daemon died: the records are newer).
    fn take_live_state(&self, takeover: bool) -> Option<Handed> {
        let path = self.live_file();
        let text = std::fs::read_to_string(&path).ok();
        let _ = std::fs::remove_file(&path);
        if !takeover {
            if text.is_some() {
                log::info!("ignored {}: left by a daemon that died", path.display());
            }
            return None;
        }
        match Handed::parse(&text?) {
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
        records: Records,
    ) -> Vec<u64> {
        let (entries, passed) = match self.take_live_state(takeover) {
            Some(s) => {
                // Ms that passed since it was written (a clock gone backwards counts none).
                let passed = monotonic_ms().saturating_sub(s.written_at);
                (s.entries, passed)
            }
            None => (BTreeMap::new(), 0),
        };
        for id in self.reg.ids() {
            self.forget_stale_deadline(id);
        }
        let handed: Vec<u64> = entries.keys().copied().collect();
        for (id, r) in entries {
            if self.reg.get(id).is_some() {
                self.resume_exactly(id, r, passed, &mut ended);
            }
        }
        for (id, r) in records {
            if handed.binary_search(&id).is_err() {
                self.resume_from_record(id, r);
            }
        }
        ended
    }

    /// Entry `id` as the live state says, `passed` ms later.
    fn resume_exactly(&mut self, id: u64, le: Resumed, passed: Ms, ended: &mut Vec<u64>) {
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
                let status = le.run.and_then(|r| r.wait_status);
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
    pub(super) fn phase_records(&self) -> Records {
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
