//! What an entry owns after its main process ends (SPEC §3): the processes the run left
//! behind. With `leftovers: stop` (the default, like systemd's) they get the stop signal, then
//! KILL after the stop timeout, and the run counts as ended only once they are gone, so a
//! restart never overlaps them. With `keep` they are left running but recorded on the entry
//! (pid + start time): `ls`, `status` and `tree` show them, and a stop, restart, rm or
//! shutdown ends them. The stopping itself is the ordinary stop of `lifecycle.rs`.

use super::event_loop::Daemon;
use crate::proc::kill::Target;
use crate::proc::leftovers;
use crate::proto::Leftovers;

/// What to do once a run's main process ended, given the policy and the leftovers found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Nothing is left: the run may end.
    Nothing,
    /// Record them on the entry and let the run end (`keep`).
    Keep,
    /// Record them and stop them before the run ends (`stop`).
    Stop,
}

/// `stopping`: a stop was already under way when the main process ended (it ends everything).
pub(super) fn decide(policy: Leftovers, left: usize, stopping: bool) -> Decision {
    match (left, policy) {
        (0, _) => Decision::Nothing,
        _ if stopping => Decision::Stop,
        (_, Leftovers::Keep) => Decision::Keep,
        (_, Leftovers::Stop) => Decision::Stop,
    }
}

/// What [`Daemon::leftovers_after_exit`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AfterExit {
    /// Nothing to stop (kept ones, if any, are recorded on the entry).
    Done,
    /// These are to be stopped before the run ends (also recorded on the entry).
    Stop(Vec<Target>),
    /// An orphan could not be told apart yet (in the middle of an `exec`): look again soon.
    Unsure,
}

impl Daemon {
    /// The main process `leader` of entry `id` has ended (`adopted`: it was not our child;
    /// `stopping`: a stop was under way). Records what it left behind on the entry and says
    /// whether those are to be stopped before the run ends. `last_try`: take what is known
    /// even if some orphan could not be told apart.
    pub(super) fn leftovers_after_exit(
        &mut self,
        id: u64,
        leader: i32,
        adopted: bool,
        stopping: bool,
        last_try: bool,
    ) -> AfterExit {
        let Some(e) = self.reg.get(id) else {
            return AfterExit::Done;
        };
        if e.foreign {
            // Adopted with `wrangle add`: its processes were never ours.
            return AfterExit::Done;
        }
        let policy = e.spec.leftovers;
        let found = if adopted {
            // Its orphans did not come to us: look for the entry's markers instead.
            self.proc_table().tree(id, 0)
        } else {
            let instance = self.paths.state.display().to_string();
            let (mains, builds) = (&self.pids, &self.builds);
            let found = leftovers::find(self.my_pid, id, leader, &instance, |p| {
                mains.contains_key(&p) || builds.is_build(p)
            });
            if found.unsure && !last_try {
                return AfterExit::Unsure;
            }
            found.leftovers
        };
        let mut all = self.kept_leftovers(id);
        let new = found.iter().filter(|t| !all.contains(t)).count();
        for t in found {
            if !all.contains(&t) {
                all.push(t);
            }
        }
        let decision = decide(policy, all.len(), stopping);
        if decision == Decision::Nothing {
            return AfterExit::Done;
        }
        let Some(e) = self.reg.get_mut(id) else {
            return AfterExit::Done;
        };
        if decision == Decision::Keep && new > 0 {
            let pids: Vec<String> = all.iter().map(|t| t.pid.to_string()).collect();
            e.event(
                "leftovers",
                format!(
                    "{new} process{} left running (leftovers keep); the entry's leftovers now: {}",
                    if new == 1 { "" } else { "es" },
                    pids.join(", ")
                ),
            );
        }
        e.leftovers.clone_from(&all);
        match decision {
            Decision::Stop => AfterExit::Stop(all),
            _ => AfterExit::Done,
        }
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        for stopping in [false, true] {
            assert_eq!(decide(Leftovers::Stop, 0, stopping), Decision::Nothing);
            assert_eq!(decide(Leftovers::Keep, 0, stopping), Decision::Nothing);
            assert_eq!(decide(Leftovers::Stop, 3, stopping), Decision::Stop);
        }
        assert_eq!(decide(Leftovers::Keep, 1, false), Decision::Keep);
        // A stop under way ends everything, kept or not.
        assert_eq!(decide(Leftovers::Keep, 1, true), Decision::Stop);
    }
}
