//! CPU and memory sampling of each entry's process tree. One sample is one pass over /proc:
//! every `/proc/PID/stat` is read once, the parent → children map is built from it, and for
//! each entry's main process the resident memory and CPU ticks of it and all its descendants
//! are summed. CPU% is the tree's CPU time over the interval since the previous sample, in
//! percent of one core; it is computed per process (by pid and start time, so a recycled pid
//! is a new process), so a child that exits between samples neither drives the figure negative
//! nor makes it jump. An entry seen for the first time gets the average over its main
//! process's life instead. Reading /proc is [`Sampler::sample_proc`]; the computation is pure
//! ([`Sampler::sample`]) and table-tested.

use super::identity::{self, Stat};
use std::collections::{HashMap, HashSet};

/// Samples closer together than this do not start a new CPU interval: an entry that already has
/// a figure keeps it (a short interval measures clock-tick rounding, not use).
pub const MIN_INTERVAL_SECS: f64 = 1.0;

/// What an entry's tree uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU time of the whole tree, in percent of one core (may exceed 100 on several cores).
    pub cpu_percent: f64,
    /// Resident memory of the whole tree.
    pub rss_bytes: u64,
}

/// The main process of an entry: its tree is what the entry's figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Root {
    pub entry: u64,
    pub pid: i32,
    pub start_time: u64,
}

/// The machine's units: clock ticks per second and bytes per page.
#[derive(Debug, Clone, Copy)]
pub struct Units {
    pub ticks_per_sec: u64,
    pub page_size: u64,
}

impl Units {
    pub fn of_this_machine() -> Units {
        Units {
            ticks_per_sec: identity::ticks_per_second().max(1),
            page_size: identity::page_size(),
        }
    }
}

/// The latest figures per entry, and the per-process CPU ticks they are measured against.
#[derive(Debug, Default)]
pub struct Sampler {
    /// CPU ticks of each process (pid, start time) at the start of the current interval.
    base: HashMap<(i32, u64), u64>,
    /// When the current interval started, in seconds since boot.
    base_at: Option<f64>,
    /// The latest figures, by entry, with the main process they were taken for.
    latest: HashMap<u64, (Root, Usage)>,
    /// The main processes the latest sample looked for (found or not).
    looked_at: HashSet<Root>,
}

impl Sampler {
    /// Forgets everything: the next sample reports lifetime averages.
    pub fn reset(&mut self) {
        *self = Sampler::default();
    }

    /// The latest figures of `root`'s tree, if its main process was sampled.
    pub fn get(&self, root: Root) -> Option<Usage> {
        self.latest
            .get(&root.entry)
            .filter(|(r, _)| *r == root)
            .map(|(_, u)| *u)
    }

    /// Whether the latest sample looked for every one of `roots` (a main process that was
    /// already gone then has no figures, and a new sample would not find it either).
    pub fn covers(&self, roots: &[Root]) -> bool {
        roots.iter().all(|r| self.looked_at.contains(r))
    }

    /// Takes a sample for `roots` from one pass over /proc.
    pub fn sample_proc(&mut self, roots: &[Root]) {
        let Some(now) = now_since_boot() else {
            return;
        };
        let stats = identity::all_stats();
        self.sample(&stats, roots, now, Units::of_this_machine());
    }

    /// Takes a sample from `stats` (every process on the machine) at `now` (seconds since
    /// boot, the clock of a stat's start time) for the entries `roots`. An entry whose main
    /// process is gone or is another process now gets no figures.
    pub fn sample(&mut self, stats: &[Stat], roots: &[Root], now: f64, units: Units) {
        let tps = units.ticks_per_sec.max(1) as f64;
        let by_pid: HashMap<i32, &Stat> = stats.iter().map(|s| (s.pid, s)).collect();
        let mut children: HashMap<i32, Vec<&Stat>> = HashMap::new();
        for s in stats {
            if s.pid != s.ppid {
                children.entry(s.ppid).or_default().push(s);
            }
        }
        // A new interval starts only when the last one is long enough to measure.
        let interval = self.base_at.map(|b| now - b);
        let advance = interval.is_none_or(|i| i >= MIN_INTERVAL_SECS);
        let mut base = HashMap::new();
        let mut latest = HashMap::new();
        for root in roots {
            let Some(main) = by_pid
                .get(&root.pid)
                .filter(|s| s.start_time == root.start_time && !gone(s))
            else {
                continue;
            };
            let (mut pages, mut total, mut used) = (0u64, 0u64, 0u64);
            let mut seen = HashSet::new();
            let mut todo = vec![*main];
            while let Some(s) = todo.pop() {
                if !seen.insert(s.pid) {
                    continue;
                }
                todo.extend(children.get(&s.pid).into_iter().flatten().copied());
                if gone(s) {
                    continue;
                }
                pages += s.rss_pages;
                total += s.cpu_ticks;
                let key = (s.pid, s.start_time);
                used += match (self.base.get(&key), self.base_at) {
                    (Some(&before), _) => s.cpu_ticks.saturating_sub(before),
                    // Started during the interval: all its time was used in it.
                    (None, Some(at)) if s.start_time as f64 / tps >= at => s.cpu_ticks,
                    // Older but not measured before (e.g. just adopted): from now on.
                    _ => {
                        self.base.insert(key, s.cpu_ticks);
                        0
                    }
                };
                base.insert(key, s.cpu_ticks);
            }
            let previous = self.get(*root);
            let cpu_percent = match (previous, interval) {
                (Some(_), Some(i)) if advance => used as f64 / tps / i * 100.0,
                (Some(p), _) if !advance => p.cpu_percent,
                _ => {
                    let age = now - root.start_time as f64 / tps;
                    if age > 0.0 {
                        total as f64 / tps / age * 100.0
                    } else {
                        0.0
                    }
                }
            };
            let usage = Usage {
                cpu_percent,
                rss_bytes: pages * units.page_size,
            };
            latest.insert(root.entry, (*root, usage));
        }
        if advance {
            self.base = base;
            self.base_at = Some(now);
        }
        self.latest = latest;
        self.looked_at = roots.iter().copied().collect();
    }
}

/// A zombie or dead process: it uses no memory and no longer any CPU.
fn gone(s: &Stat) -> bool {
    s.state == b'Z' || s.state == b'X'
}

/// Seconds since boot (the clock of start times in /proc), if /proc/uptime can be read.
pub fn now_since_boot() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: Units = Units {
        ticks_per_sec: 100,
        page_size: 4096,
    };

    /// A running process: (pid, ppid, start time in ticks, CPU ticks, resident pages).
    fn p(pid: i32, ppid: i32, start_time: u64, cpu_ticks: u64, rss_pages: u64) -> Stat {
        Stat {
            pid,
            state: b'S',
            ppid,
            pgrp: pid,
            session: pid,
            cpu_ticks,
            start_time,
            rss_pages,
        }
    }

    fn zombie(pid: i32, ppid: i32, start_time: u64, cpu_ticks: u64) -> Stat {
        Stat {
            state: b'Z',
            ..p(pid, ppid, start_time, cpu_ticks, 0)
        }
    }

    fn root(entry: u64, pid: i32, start_time: u64) -> Root {
        Root {
            entry,
            pid,
            start_time,
        }
    }

    /// (cpu %, rss pages) of `r`, rounded to a tenth of a percent.
    fn fig(s: &Sampler, r: Root) -> Option<(f64, u64)> {
        s.get(r).map(|u| {
            (
                (u.cpu_percent * 10.0).round() / 10.0,
                u.rss_bytes / UNITS.page_size,
            )
        })
    }

    #[test]
    fn sums_the_tree_and_first_reports_the_lifetime_average() {
        // Entry 1: main 10 (idle) with child 11 and grandchild 12; entry 2: main 20 alone.
        // 99 and 1 are outside every tree. At 100 s after boot, main 10 started at 90 s.
        let stats = [
            p(1, 0, 0, 5000, 1000),
            p(10, 1, 9000, 0, 10),
            p(11, 10, 9100, 500, 20),
            p(12, 11, 9200, 300, 30),
            p(20, 1, 9500, 250, 7),
            p(99, 1, 9000, 999, 999),
        ];
        let (a, b) = (root(1, 10, 9000), root(2, 20, 9500));
        let mut s = Sampler::default();
        s.sample(&stats, &[a, b], 100.0, UNITS);
        // 8 s of CPU over 10 s of life; 2.5 s over 5 s.
        assert_eq!(fig(&s, a), Some((80.0, 60)));
        assert_eq!(fig(&s, b), Some((50.0, 7)));
        assert!(s.covers(&[a, b]));
        assert!(!s.covers(&[a, root(3, 30, 1)]));
    }

    #[test]
    fn later_samples_report_the_interval_per_process() {
        // Each row: (seconds since boot, the tree's processes, expected (cpu %, pages)).
        // The tree is entry 1 with main 10 (started at 0 s) and children that come and go.
        #[allow(clippy::type_complexity)]
        let table: &[(f64, Vec<Stat>, (f64, u64))] = &[
            // First sample: lifetime average (100 ticks over 10 s).
            (
                10.0,
                vec![p(10, 1, 0, 0, 1), p(11, 10, 100, 100, 2)],
                (10.0, 3),
            ),
            // Child 11 used 200 ticks in 2 s: one whole core.
            (
                12.0,
                vec![p(10, 1, 0, 0, 1), p(11, 10, 100, 300, 2)],
                (100.0, 3),
            ),
            // Child 11 exited after 50 more ticks (lost), child 12 started and used 100:
            // 100 ticks in 2 s, not a negative or a jump.
            (
                14.0,
                vec![p(10, 1, 0, 0, 1), p(12, 10, 1300, 100, 4)],
                (50.0, 5),
            ),
            // Pid 12 was recycled: the new 12 (its own 40 ticks) is not measured against the
            // old one's 100; the main process used 10.
            (
                16.0,
                vec![p(10, 1, 0, 10, 1), p(12, 10, 1500, 40, 4)],
                (25.0, 5),
            ),
            // A sample only 0.5 s later keeps the last interval's CPU, memory is fresh.
            (
                16.5,
                vec![p(10, 1, 0, 60, 1), p(12, 10, 1500, 40, 9)],
                (25.0, 10),
            ),
            // ... and the next interval runs from 16 s: 50 + 60 ticks in 2 s.
            (
                18.0,
                vec![p(10, 1, 0, 60, 1), p(12, 10, 1500, 100, 9)],
                (55.0, 10),
            ),
            // A zombie child counts for nothing; a new child not yet seen counts whole.
            (
                20.0,
                vec![
                    p(10, 1, 0, 60, 1),
                    zombie(12, 10, 1500, 100),
                    p(13, 12, 1900, 30, 3),
                ],
                (15.0, 4),
            ),
        ];
        let r = root(1, 10, 0);
        let mut s = Sampler::default();
        for (i, (now, stats, want)) in table.iter().enumerate() {
            s.sample(stats, &[r], *now, UNITS);
            assert_eq!(fig(&s, r), Some(*want), "row {i} at {now} s");
        }
    }

    #[test]
    fn a_new_or_adopted_entry_gets_its_lifetime_average_then_intervals() {
        let a = root(1, 10, 0);
        let old = root(2, 20, 0);
        let mut s = Sampler::default();
        s.sample(&[p(10, 1, 0, 100, 1)], &[a], 10.0, UNITS);
        // Entry 2's process is as old as the machine and used 1000 ticks; it was adopted since.
        let stats = [p(10, 1, 0, 100, 1), p(20, 1, 0, 1000, 1)];
        s.sample(&stats, &[a, old], 12.0, UNITS);
        assert_eq!(fig(&s, a), Some((0.0, 1)));
        assert_eq!(fig(&s, old), Some((83.3, 1)));
        // Its next figure is its use since that sample, not its whole past.
        let stats = [p(10, 1, 0, 100, 1), p(20, 1, 0, 1020, 1)];
        s.sample(&stats, &[a, old], 14.0, UNITS);
        assert_eq!(fig(&s, old), Some((10.0, 1)));
    }

    #[test]
    fn a_gone_or_recycled_main_process_has_no_figures() {
        let a = root(1, 10, 500);
        let mut s = Sampler::default();
        s.sample(&[p(10, 1, 500, 100, 1)], &[a], 10.0, UNITS);
        assert!(s.get(a).is_some());
        // The pid is someone else's now.
        s.sample(&[p(10, 1, 900, 100, 1)], &[a], 12.0, UNITS);
        assert_eq!(s.get(a), None);
        assert!(s.covers(&[a]), "it was looked for");
        // A zombie main process, or none at all.
        s.sample(&[zombie(10, 1, 500, 100)], &[a], 14.0, UNITS);
        assert_eq!(s.get(a), None);
        s.sample(&[], &[a], 16.0, UNITS);
        assert_eq!(s.get(a), None);
        // Figures asked for another main process of the same entry are not handed out.
        s.sample(&[p(10, 1, 500, 100, 1)], &[a], 18.0, UNITS);
        assert_eq!(s.get(root(1, 11, 500)), None);
    }

    #[test]
    fn reset_forgets_the_interval() {
        let a = root(1, 10, 0);
        let mut s = Sampler::default();
        s.sample(&[p(10, 1, 0, 100, 1)], &[a], 10.0, UNITS);
        s.reset();
        assert_eq!(s.get(a), None);
        // After a long idle gap the first figure is the lifetime average again.
        s.sample(&[p(10, 1, 0, 1100, 1)], &[a], 100.0, UNITS);
        assert_eq!(fig(&s, a), Some((11.0, 1)));
    }

    #[test]
    fn a_parent_loop_in_the_table_does_not_hang() {
        let a = root(1, 10, 0);
        let mut s = Sampler::default();
        let stats = [p(10, 11, 0, 10, 1), p(11, 10, 0, 10, 1)];
        s.sample(&stats, &[a], 10.0, UNITS);
        assert_eq!(fig(&s, a), Some((2.0, 2)));
    }

    #[test]
    fn reads_this_process_from_proc() {
        let me = std::process::id() as i32;
        let stats = identity::all_stats();
        let mine = stats.iter().find(|s| s.pid == me).expect("our own stat");
        let now = now_since_boot().expect("/proc/uptime");
        let r = root(1, me, mine.start_time);
        let mut s = Sampler::default();
        s.sample(&stats, &[r], now, Units::of_this_machine());
        assert!(s.get(r).is_some_and(|u| u.rss_bytes > 0));
    }
}
