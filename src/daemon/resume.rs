//! Resuming at start-up: every entry carries on where its previous daemon left it — exactly,
//! from the live state an upgrading daemon wrote (`handover.rs`; read, then deleted), or,
//! after a daemon died, from the deadline each entry's record keeps (`Entry::deadline`): a
//! backoff restarts at its time with its count, a stop someone asked for gets its KILL at its
//! time and ends stopped.

use super::handover::{monotonic_ms, VERSION};
use super::state::{Daemon, TimerKind};
use crate::proc::kill::Target;
use crate::proc::supervisor::{Gone, Machine, Ms, Phase, Rest, Slot};
use crate::store::registry::{Awaited, Deadline, State};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Each entry's saved state and phase deadline, by id.
pub(super) type Records = Vec<(u64, (State, Deadline))>;

/// The part of a written-out live state (`handover::LiveState`) a new daemon resumes from.
/// Read by hand from a JSON value: derived readers of these and the supervisor's types cost
/// the static binary 45 KB. `reads_back_what_is_written` below keeps it in step with what
/// `handover.rs` writes.
struct Handed {
    written_at: Ms,
    /// By entry id, in id order.
    entries: Vec<(u64, Resumed)>,
}

struct Resumed {
    machine: Machine,
    timers: Vec<(Slot, Ms)>,
    members: Vec<Target>,
    /// The raw wait status of a run its previous daemon reaped.
    wait_status: Option<u32>,
    idle_in: Option<Ms>,
    touched_ago: Option<Ms>,
}

impl Handed {
    fn parse(text: &[u8]) -> crate::error::Result<Handed> {
        use crate::error::{Code, Error};
        let bad = |why: String| Error::new(Code::Failed, format!("the live state {why}"));
        let v: Value =
            serde_json::from_slice(text).map_err(|e| bad(format!("does not parse: {e}")))?;
        let version = v.get("version").and_then(Value::as_u64).unwrap_or(u64::MAX);
        if version > u64::from(VERSION) {
            return Err(bad(format!(
                "was written by a newer wrangle (format {version}); this one reads {VERSION}"
            )));
        }
        let written_at = v.get("written_at").and_then(Value::as_u64).unwrap_or(0);
        let mut entries = Vec::new();
        for (id, e) in v
            .get("entries")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let (Ok(id), Some(r)) = (id.parse::<u64>(), Resumed::read(e)) else {
                return Err(bad(format!("has a bad entry {id:?}")));
            };
            entries.push((id, r));
        }
        entries.sort_unstable_by_key(|e| e.0);
        Ok(Handed {
            written_at,
            entries,
        })
    }
}

impl Resumed {
    fn read(e: &Value) -> Option<Resumed> {
        let m = e.get("machine")?;
        let machine = Machine {
            phase: read_phase(m.get("phase")?)?,
            building: m.get("building")?.as_bool()?,
        };
        let mut timers = Vec::new();
        for (slot, left) in e
            .get("timers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let slot = match slot.as_str() {
                "Kill" => Slot::Kill,
                "Drain" => Slot::Drain,
                "Restart" => Slot::Restart,
                _ => return None,
            };
            timers.push((slot, left.as_u64()?));
        }
        let mut members = Vec::new();
        for t in e
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            members.push(Target {
                pid: i32::try_from(t.get("pid")?.as_i64()?).ok()?,
                start_time: t.get("start_time")?.as_u64()?,
            });
        }
        let number = |k: &str| e.get(k).and_then(Value::as_u64);
        Some(Resumed {
            machine,
            timers,
            members,
            wait_status: e
                .get("run")
                .and_then(|r| r.get("wait_status"))
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok()),
            idle_in: number("idle_in"),
            touched_ago: number("touched_ago"),
        })
    }
}

/// A phase as `Phase`'s serialization writes it.
fn read_phase(p: &Value) -> Option<Phase> {
    let ms = |k: &str| p.get(k)?.as_u64();
    let flag = |k: &str| p.get(k)?.as_bool();
    let gone = || {
        let g = p.get("gone")?;
        let part = |k: &str| g.get(k)?.as_bool();
        Some(Gone {
            main: part("main")?,
            output: part("output")?,
            rest: part("rest")?,
        })
    };
    Some(match p.get("phase")?.as_str()? {
        "down" => Phase::Down {
            rest: match p.get("rest")?.as_str()? {
                "new" => Rest::New,
                "stopped" => Rest::Stopped,
                "exited" => Rest::Exited,
                "errored" => Rest::Errored,
                _ => return None,
            },
        },
        "starting" => Phase::Starting,
        "running" => Phase::Running { gone: gone()? },
        "ending" => Phase::Ending {
            gone: gone()?,
            kill_at: ms("kill_at")?,
            killed: flag("killed")?,
        },
        "stopping" => Phase::Stopping {
            gone: gone()?,
            kill_at: ms("kill_at")?,
            killed: flag("killed")?,
        },
        "backoff" => Phase::Backoff { at: ms("at")? },
        _ => return None,
    })
}

impl Daemon {
    /// Reads and deletes the live state an upgrading daemon wrote (`takeover`); any other
    /// start only deletes a stale one (its daemon died: the records are newer).
    fn take_live_state(&self, takeover: bool) -> Option<Handed> {
        let path = self.live_file();
        let text = std::fs::read(&path).ok();
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
            None => (Vec::new(), 0),
        };
        for id in self.reg.ids() {
            self.forget_stale_deadline(id);
        }
        let handed: Vec<u64> = entries.iter().map(|e| e.0).collect();
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
            // A run where the live state knew none: the take-over's view (running) stands.
            None if has_run => return,
            Some(true) if has_run => {
                // Reaped by the previous daemon: its status is known, and its end is not to
                // be told twice.
                ended.retain(|&e| e != id);
                let status = le.wait_status;
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
        if output_gone {
            // The run has none of its output left with us.
            if let Some(gone) = m.phase.gone_mut() {
                gone.output = true;
            }
        }
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
                // The stop signal went; the KILL is still to come (a stop's own timeout may
                // be longer than the entry's, so the time left is taken as saved).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::supervisor::{Gone, Rest};

    #[test]
    fn reads_back_what_is_written() {
        let gone = Gone {
            main: true,
            output: false,
            rest: true,
        };
        let phases = [
            Phase::Down { rest: Rest::New },
            Phase::Down {
                rest: Rest::Stopped,
            },
            Phase::Down { rest: Rest::Exited },
            Phase::Down {
                rest: Rest::Errored,
            },
            Phase::Starting,
            Phase::Running { gone },
            Phase::Ending {
                gone,
                kill_at: 7,
                killed: true,
            },
            Phase::Stopping {
                gone,
                kill_at: 9,
                killed: false,
            },
            Phase::Backoff { at: 11 },
        ];
        for (i, phase) in phases.into_iter().enumerate() {
            let entry = super::super::handover::LiveEntry {
                machine: Machine {
                    phase,
                    building: i % 2 == 0,
                },
                timers: [(Slot::Kill, 1), (Slot::Drain, 2), (Slot::Restart, 3)].into(),
                members: vec![Target {
                    pid: 42,
                    start_time: 43,
                }],
                run: Some(super::super::handover::LiveRun {
                    pid: 42,
                    start_time: 43,
                    wait_status: Some(256),
                    pipes: vec![(1, 10)],
                    input: None,
                    pty: None,
                    adopted: false,
                    pidfd: None,
                    log_run: 1,
                    input_buffered: 0,
                }),
                cron_in: None,
                idle_in: Some(5),
                touched_ago: Some(6),
            };
            let state = super::super::handover::LiveState {
                version: VERSION,
                written_at: 99,
                entries: [(3, entry)].into(),
            };
            let text = serde_json::to_vec(&state).unwrap();
            let back = Handed::parse(&text).unwrap();
            assert_eq!(back.written_at, 99);
            let (id, r) = &back.entries[0];
            assert_eq!(*id, 3);
            assert_eq!(r.machine, state.entries[&3].machine);
            let mut timers = r.timers.clone();
            timers.sort_unstable();
            assert_eq!(
                timers,
                [(Slot::Kill, 1), (Slot::Drain, 2), (Slot::Restart, 3)]
            );
            assert_eq!(r.members, state.entries[&3].members);
            assert_eq!(
                (r.wait_status, r.idle_in, r.touched_ago),
                (Some(256), Some(5), Some(6))
            );
        }
        // A newer format, or a broken one, is refused rather than misread.
        let newer = format!(r#"{{"version":{},"entries":{{}}}}"#, VERSION + 1);
        assert!(Handed::parse(newer.as_bytes()).is_err());
        assert!(Handed::parse(br#"{"version":1,"entries":{"1":{"machine":{}}}}"#).is_err());
        assert!(Handed::parse(b"{").is_err());
    }
}
