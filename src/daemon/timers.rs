//! The deadline queue: every wait in the daemon (stop grace, output drain, wait timeouts,
//! debounced saves) is an entry here, and the poll timeout is the nearest deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// Identifies a scheduled timer so it can be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(std::num::NonZeroU64);

pub struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, (Instant, K)>,
    next: u64,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next: 1,
        }
    }
}

impl<K> Timers<K> {
    pub fn add(&mut self, after: Duration, kind: K) -> TimerId {
        let id = TimerId(std::num::NonZeroU64::new(self.next).unwrap_or(std::num::NonZeroU64::MIN));
        self.next += 1;
        // A deadline past what the clock can hold (a huge timeout from a client) is "never"
        // in practice: a century from now.
        let now = Instant::now();
        let at = now
            .checked_add(after)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, (at, kind));
        id
    }

    pub fn cancel(&mut self, id: TimerId) {
        self.live.remove(&id);
    }

    /// How long until timer `id` is due (None if it was cancelled or has fired).
    pub fn remaining(&self, id: TimerId) -> Option<Duration> {
        self.live
            .get(&id)
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// How long until the nearest live deadline (zero if one is due).
    pub fn next_timeout(&mut self) -> Option<Duration> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if self.live.contains_key(&id) {
                return Some(at.saturating_duration_since(Instant::now()));
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns every timer that is due, earliest first.
    pub fn pop_due(&mut self) -> Vec<(TimerId, K)> {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some((_, k)) = self.live.remove(&id) {
                due.push((id, k));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_timers_never_fire_and_order_is_kept() {
        let mut t = Timers::default();
        let a = t.add(Duration::ZERO, "a");
        t.add(Duration::ZERO, "b");
        t.add(Duration::from_secs(3600), "later");
        t.cancel(a);
        let due: Vec<_> = t.pop_due().into_iter().map(|(_, k)| k).collect();
        assert_eq!(due, ["b"]);
        let next = t.next_timeout().unwrap();
        assert!(next > Duration::from_secs(3500));
    }
}
