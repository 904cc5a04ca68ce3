//! What an entry owns after its main process ends (SPEC §3): the processes the run left
//! behind. With `leftovers: stop` (the default, like systemd's) the supervisor's `Ending`
//! phase gives them the stop signal, then KILL after the stop timeout, and the run counts as
//! ended only once they are gone, so a restart never overlaps them. With `keep` they are left
//! running but recorded on the entry (pid + start time): `ls`, `status` and `tree` show them,
//! and a stop, restart, rm or shutdown ends them. This file finds and records them.

use super::state::{Daemon, TimerKind};
use crate::proc::kill::{self, Target};
use crate::proc::leftovers;
use crate::proc::supervisor::{Phase, Sig};
use crate::proto::EventKind;
use std::time::Duration;

/// How soon, and how many times, leftovers are looked for again when an orphan could not be
/// told apart (its environment reads empty in the middle of an `exec`): 5 ms, then twice as
/// long each time up to 200 ms, about 3 s in all (an `exec` on a loaded machine can be slow).
const RELOOK: Duration = Duration::from_millis(5);
const RELOOK_MAX: Duration = Duration::from_millis(200);
const RELOOKS: u32 = 20;

impl Daemon {
    /// The recorded leftovers of `id` that still live; dead ones are dropped from the entry.
    pub(super) fn kept_leftovers(&mut self, id: u64) -> Vec<Target> {
        let Some(e) = self.reg.get(id) else {
            return Vec::new();
        };
        if e.leftovers.is_empty() {
            return Vec::new();
        }
        let alive = leftovers::alive(&e.leftovers);
        if alive.len() != e.leftovers.len() {
            if let Some(e) = self.reg.get_mut(id) {
                e.leftovers.clone_from(&alive);
            }
        }
        alive
    }

    /// The processes entry `id`'s ended (or ending) run left behind, with those kept from
    /// earlier runs. When an orphan cannot be told apart yet, looks again soon.
    pub(super) fn find_leftovers(&mut self, id: u64) -> Vec<Target> {
        let mut all = self.kept_leftovers(id);
        let Some(e) = self.reg.get(id) else {
            return all;
        };
        if e.foreign {
            // Adopted with `wrangle add`: its processes were never ours.
            return all;
        }
        // The run's main process: the live one, or the one that ended last (kept leftovers
        // are looked for again after the run is over).
        let (leader, adopted) = match self.live.get(&id) {
            Some(l) => (l.pid, l.adopted.is_some()),
            None => (e.pid.unwrap_or(0), false),
        };
        let found = if leader <= 0 {
            Vec::new()
        } else if adopted {
            // Its orphans did not come to us: look for the entry's markers instead.
            self.proc_table = None;
            self.proc_table().tree(id, 0)
        } else {
            let found = self.orphans_of(id, leader);
            let s = self.sups.entry(id).or_default();
            if found.unsure && s.relooks < RELOOKS && s.relook.is_none() {
                let delay = RELOOK.saturating_mul(1 << s.relooks.min(8)).min(RELOOK_MAX);
                s.relooks += 1;
                s.relook = Some(self.rx.timers.add(delay, TimerKind::Relook(id)));
            }
            found.leftovers
        };
        for t in found {
            if !all.contains(&t) {
                all.push(t);
            }
        }
        all
    }

    /// The orphans the daemon (a subreaper) holds that belong to entry `id` whose main process
    /// is or was `leader`, with their descendants: what left the leader's tree.
    fn orphans_of(&mut self, id: u64, leader: i32) -> leftovers::Found {
        let orphans = self.orphan_pids();
        if orphans.iter().all(|&p| p == leader) {
            // The usual case: the daemon holds no orphan at all.
            return leftovers::Found::default();
        }
        let instance = self.paths.state.display().to_string();
        let starts = self.run_starts(id);
        leftovers::find(
            orphans.iter().copied().filter(|&p| p != leader),
            id,
            leader,
            &instance,
            &starts,
        )
    }

    /// The daemon's children that are neither a run's main process nor a build: the orphans
    /// it holds. Read once per turn (stopping a thousand entries reads the list once, not a
    /// thousand times), and again after a reap.
    fn orphan_pids(&mut self) -> std::rc::Rc<[i32]> {
        if let Some(o) = &self.orphans {
            return o.clone();
        }
        let (mains, builds) = (&self.pids, &self.builds);
        let o: std::rc::Rc<[i32]> = kill::children(self.my_pid)
            .into_iter()
            .filter(|p| !mains.contains_key(p) && !builds.is_build(*p))
            .collect();
        self.orphans = Some(o.clone());
        o
    }

    /// Every live process of entry `id`'s run (none without a run): the main process and its
    /// descendants, found from it down, and the orphans of the run the daemon holds. Only a
    /// run adopted from elsewhere (whose orphans did not come to us) costs a pass over every
    /// process, for the entry's markers.
    pub(super) fn run_tree(&mut self, id: u64) -> Vec<Target> {
        let Some(l) = self.live.get(&id) else {
            return Vec::new();
        };
        let leader = Target {
            pid: l.pid,
            start_time: l.start_time,
        };
        if l.adopted.is_some() {
            let scan = if crate::proc::identity::is_same_live(leader.pid, leader.start_time) {
                leader.pid
            } else {
                0
            };
            return self.proc_table().tree(id, scan);
        }
        let mut tree = kill::survivors(&[leader]);
        if self.reg.get(id).is_some_and(|e| !e.foreign) {
            for t in self.orphans_of(id, leader.pid).leftovers {
                if !tree.contains(&t) {
                    tree.push(t);
                }
            }
        }
        tree
    }

    /// When entry `id`'s run started and when every other run of ours that lives did: what
    /// tells whose an orphan without marker, group or session is. Processes adopted with
    /// `wrangle add` are not ours and their orphans never come to us, so they do not count.
    fn run_starts(&self, id: u64) -> leftovers::Starts {
        let mine = match self.live.get(&id) {
            Some(l) => l.start_time,
            None => self.reg.get(id).and_then(|e| e.start_time).unwrap_or(0),
        };
        let others = self
            .live
            .iter()
            .filter(|(other, l)| {
                **other != id && !matches!(l.adopted, Some(super::state::Adopted::Watched(..)))
            })
            .map(|(_, l)| l.start_time)
            .collect();
        leftovers::Starts { mine, others }
    }

    /// Looks for leftovers again (an orphan was in the middle of an `exec`): what is found now
    /// gets the signal the others got.
    pub(super) fn relook_due(&mut self, id: u64) {
        let Some(s) = self.sups.get_mut(&id) else {
            return;
        };
        s.relook = None;
        let sig = match s.m.phase {
            Phase::Ending { killed, .. } | Phase::Stopping { killed, .. } => {
                if killed {
                    Sig::Kill
                } else {
                    Sig::Stop
                }
            }
            Phase::Down { .. } => {
                // Kept leftovers: record the ones told apart now.
                return self.keep_leftovers(id, false);
            }
            _ => return,
        };
        let signo = self.signo(id, sig);
        let left = self.find_leftovers(id);
        let s = self.sup(id);
        let new: Vec<Target> = left
            .into_iter()
            .filter(|t| !s.members.contains(t))
            .collect();
        for &t in &new {
            let _ = kill::signal_checked(t, signo);
        }
        let s = self.sup(id);
        s.members.extend(new);
        s.watching = true;
        self.check_tree(id);
    }

    /// `leftovers: keep`: what the ended run left behind stays the entry's, on record.
    /// `first`: the run has just ended (later calls are second looks at orphans that could not
    /// be told apart at first).
    pub(super) fn keep_leftovers(&mut self, id: u64, first: bool) {
        if first {
            self.sup(id).relooks = 0;
        }
        let before = self.kept_leftovers(id);
        let all = self.find_leftovers(id);
        let new = all.iter().filter(|t| !before.contains(t)).count();
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        if new > 0 {
            let pids: Vec<String> = all.iter().map(|t| t.pid.to_string()).collect();
            e.event(
                EventKind::Leftovers,
                format!(
                    "{new} process{} left running (leftovers keep); the entry's leftovers now: {}",
                    if new == 1 { "" } else { "es" },
                    pids.join(", ")
                ),
            );
        }
        e.leftovers = all;
    }
}
