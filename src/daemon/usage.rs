//! When the daemon samples what its entries use (the sampling itself is `proc::usage`): every
//! two seconds while someone is looking, that is for ten seconds after the last `ls` or
//! `status`; an idle daemon never walks /proc. `ls` and `status` answer from the latest sample,
//! taking one first only when none is recent or it missed an entry they list.

use super::state::{Daemon, Sampling, TimerKind};
use crate::proc::usage::{Root, Usage};
use std::time::{Duration, Instant};

/// How often entries are sampled while someone looks.
pub(super) const EVERY: Duration = Duration::from_secs(2);
/// How long after the last request that shows usage sampling goes on.
const KEEP: Duration = Duration::from_secs(10);

impl Daemon {
    /// The main process of every live entry.
    fn usage_roots(&self, only: Option<&[u64]>) -> Vec<Root> {
        self.live
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o.contains(id)))
            .map(|(id, l)| Root {
                entry: *id,
                pid: l.pid,
                start_time: l.start_time,
            })
            .collect()
    }

    /// Called by requests that show usage (`ls`, `status`) for entries `ids`: keeps sampling
    /// going, and samples now if the latest sample is stale or missed one of `ids`.
    pub(super) fn want_usage(&mut self, ids: &[u64]) {
        let now = Instant::now();
        self.usage.wanted_until = Some(now + KEEP);
        let stale = self
            .usage
            .taken
            .is_none_or(|t| now.duration_since(t) > EVERY + EVERY / 2);
        if stale || !self.usage.sampler.covers(&self.usage_roots(Some(ids))) {
            self.sample_usage();
        }
        if self.usage.timer.is_none() {
            self.usage.timer = Some(self.rx.timers.add(EVERY, TimerKind::Usage));
        }
    }

    /// The sampling timer: sample and go on, or stop and forget once nobody looks.
    pub(super) fn usage_due(&mut self) {
        self.usage.timer = None;
        if self.usage.wanted_until.is_some_and(|w| Instant::now() < w) {
            self.sample_usage();
            self.usage.timer = Some(self.rx.timers.add(EVERY, TimerKind::Usage));
        } else {
            // The next look reports lifetime averages rather than one over the idle gap.
            self.usage = Sampling::default();
        }
    }

    /// One pass over /proc for every live entry.
    fn sample_usage(&mut self) {
        let roots = self.usage_roots(None);
        self.usage.sampler.sample_proc(&roots);
        self.usage.taken = Some(Instant::now());
    }

    /// The latest figures for entry `id`'s running tree.
    pub(super) fn usage_of(&self, id: u64) -> Option<Usage> {
        let l = self.live.get(&id)?;
        self.usage.sampler.get(Root {
            entry: id,
            pid: l.pid,
            start_time: l.start_time,
        })
    }
}
