//! Finding what a run leaves behind: the entry's processes still alive once its main process
//! has ended. The daemon is a child subreaper, so when the main process ends every descendant
//! it orphaned is re-parented to the daemon at once (before the main process can be reaped).
//! Among the daemon's children, those that are not a run's main process and belong to the
//! entry (its instance marker in their environment, or still in the ended leader's process
//! group or session) are the roots; the leftovers are those roots and all their descendants.
//! No pass over every process on the machine is needed.

use super::identity::{self, Stat};
use super::kill::{self, Target};

/// Whether an orphan of the daemon belongs to entry `id` whose main process `leader` ended:
/// it carries the entry's marker (`marked`: the entry id its environment names, for this
/// wrangle instance), or it stayed in the leader's process group or session (the leader's pid
/// cannot be reused while its group or session has members). Zombies never count.
pub fn belongs(st: &Stat, marked: Option<u64>, id: u64, leader: i32) -> bool {
    if st.state == b'Z' || st.state == b'X' {
        return false;
    }
    marked == Some(id) || (leader > 0 && (st.pgrp == leader || st.session == leader))
}

fn live(st: &Stat) -> bool {
    st.state != b'Z' && st.state != b'X'
}

/// What [`find`] saw.
#[derive(Debug, Default)]
pub struct Found {
    /// The leftovers (roots and their live descendants).
    pub leftovers: Vec<Target>,
    /// Some orphan's environment read empty, so whose it is could not be told: most likely it
    /// is in the middle of an `exec` (look again in a moment).
    pub unsure: bool,
}

/// Which runs could have started an orphan that carries no marker (its environment was
/// cleared, `env -i`) and left the leader's group and session (`setsid`): the subreaper knows
/// it is ours, not whose. It is the entry's when the entry's run started before it and no
/// other run of ours was alive then: `mine` is when the entry's run started, `others` when
/// each other live run did (clock ticks after boot, as in /proc).
pub struct Starts {
    pub mine: u64,
    pub others: Vec<u64>,
}

impl Starts {
    /// Whether an orphan started at `start_time` can only be the entry's.
    pub fn sole_owner(&self, start_time: u64) -> bool {
        self.mine > 0 && start_time >= self.mine && !self.others.iter().any(|&s| s <= start_time)
    }
}

/// The live leftovers of entry `id` whose main process `leader` (already reaped, or still
/// running) ended, for the wrangle instance `instance`, among `orphans`: the daemon's children
/// that are no run's main process (see [`kill::children`]). `starts` attributes the orphans no
/// marker, group or session tells apart.
pub fn find(
    orphans: impl IntoIterator<Item = i32>,
    id: u64,
    leader: i32,
    instance: &str,
    starts: &Starts,
) -> Found {
    let mut found = Found::default();
    let mut roots = Vec::new();
    for st in orphans.into_iter().filter_map(|p| identity::stat(p).ok()) {
        // The environment is read only for processes not already in the group.
        let ours = belongs(&st, None, id, leader)
            || match kill::read_marker(st.pid, instance.as_bytes()) {
                Some(Some(marked)) => belongs(&st, Some(marked), id, leader),
                Some(None) => live(&st) && starts.sole_owner(st.start_time),
                None => {
                    // In the middle of an `exec`, or an environment cleared to nothing.
                    found.unsure |= live(&st);
                    live(&st) && starts.sole_owner(st.start_time)
                }
            };
        if ours {
            roots.push(Target {
                pid: st.pid,
                start_time: st.start_time,
            });
        }
    }
    found.leftovers = kill::survivors(&roots);
    found
}

/// Those of `recorded` that are still the same live processes.
pub fn alive(recorded: &[Target]) -> Vec<Target> {
    recorded
        .iter()
        .copied()
        .filter(|t| identity::is_same_live(t.pid, t.start_time))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid: i32, state: u8, pgrp: i32, session: i32) -> Stat {
        Stat {
            pid,
            state,
            ppid: 1,
            pgrp,
            session,
            cpu_ticks: 0,
            start_time: 1,
            rss_pages: 0,
        }
    }

    #[test]
    fn who_belongs_to_an_ended_run() {
        // Marked with the entry, in a session of its own (setsid): ours.
        assert!(belongs(&st(50, b'S', 50, 50), Some(7), 7, 40));
        // Marked with another entry and elsewhere: not ours.
        assert!(!belongs(&st(50, b'S', 50, 50), Some(8), 7, 40));
        // No marker (cleared environment) but still in the leader's group or session: ours.
        assert!(belongs(&st(50, b'S', 40, 40), None, 7, 40));
        assert!(belongs(&st(50, b'S', 50, 40), None, 7, 40));
        // Neither: not ours.
        assert!(!belongs(&st(50, b'S', 50, 50), None, 7, 40));
        // Unknown leader (0): only the marker counts.
        assert!(!belongs(&st(50, b'S', 0, 0), None, 7, 0));
        // A zombie is nobody's leftover.
        assert!(!belongs(&st(50, b'Z', 40, 40), Some(7), 7, 40));
    }

    #[test]
    fn an_unmarked_orphan_is_the_entrys_only_when_no_other_run_could_have_started_it() {
        let starts = Starts {
            mine: 100,
            others: vec![150, 300],
        };
        // Started after the entry's run and before any other: the entry's.
        assert!(starts.sole_owner(100));
        assert!(starts.sole_owner(149));
        // Another run was alive by then: could be either, so neither.
        assert!(!starts.sole_owner(150));
        assert!(!starts.sole_owner(400));
        // Older than the entry's run: not from it.
        assert!(!starts.sole_owner(99));
        // The entry's start unknown: never.
        let unknown = Starts {
            mine: 0,
            others: vec![],
        };
        assert!(!unknown.sole_owner(5));
    }

    #[test]
    fn alive_keeps_only_the_same_live_processes() {
        let me = std::process::id() as i32;
        let st = identity::start_time(me).unwrap();
        let same = Target {
            pid: me,
            start_time: st,
        };
        let recycled = Target {
            pid: me,
            start_time: st + 1,
        };
        assert_eq!(alive(&[same, recycled]), vec![same]);
    }
}
