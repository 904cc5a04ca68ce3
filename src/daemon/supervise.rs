//! The restart policy: what happens when a process ends by itself. A pure decision (unit
//! tested) plus its glue: each entry has its own restart timer, so a crash-looping entry never
//! delays anyone else, and a user's stop, start, restart or rm cancels a pending restart.

use super::event_loop::{Daemon, TimerKind};
use crate::proto::{Restart, RunSpec};
use crate::store::registry::State;
use std::time::Duration;

/// What to do after a run ended by itself.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Leave it ended.
    Done,
    /// Restart after `delay`; this is restart `attempt` in a row.
    Restart { delay: Duration, attempt: u32 },
    /// Too many restarts in a row: give up.
    GiveUp { attempts: u32 },
}

/// Decides after a run that lasted `uptime` and ended with `code` (None: a signal), given
/// `consecutive` restarts in a row before it. Returns the decision and the new count.
pub fn decide(
    spec: &RunSpec,
    code: Option<i32>,
    uptime: Duration,
    consecutive: u32,
) -> (Decision, u32) {
    let failed = code != Some(0);
    let wanted = match spec.restart {
        Restart::Never => false,
        Restart::OnFailure => failed,
        Restart::Always => true,
    };
    if !wanted {
        return (Decision::Done, 0);
    }
    // A healthy run starts the count over.
    let before = if uptime >= Duration::from_millis(spec.min_uptime_ms) {
        0
    } else {
        consecutive
    };
    let attempt = before + 1;
    if spec.max_restarts > 0 && attempt > spec.max_restarts {
        return (Decision::GiveUp { attempts: before }, before);
    }
    let b = spec.backoff;
    let factor = if b.factor.is_finite() && b.factor >= 1.0 {
        b.factor
    } else {
        1.0
    };
    let ms = (b.initial_ms as f64) * factor.powi(before.min(1000) as i32);
    let delay = Duration::from_millis(ms.min(b.max_ms as f64).max(0.0) as u64);
    (Decision::Restart { delay, attempt }, attempt)
}

impl Daemon {
    /// After a run ended by itself: restart later, give up, or leave it. Returns true when a
    /// restart was scheduled or the entry gave up (the state was set here).
    pub(super) fn supervise(&mut self, id: u64, code: Option<i32>) -> bool {
        let Some(e) = self.reg.get_mut(id) else {
            return false;
        };
        if e.foreign {
            return false;
        }
        let uptime = Duration::from_millis(
            e.ended_at_ms
                .unwrap_or(0)
                .saturating_sub(e.started_at_ms.unwrap_or(0)),
        );
        let (decision, consecutive) = decide(&e.spec, code, uptime, e.consecutive);
        e.consecutive = consecutive;
        match decision {
            Decision::Done => false,
            Decision::GiveUp { attempts } => {
                e.state = State::Errored;
                e.error = Some(format!("gave up after {attempts} restarts in a row"));
                e.event(
                    "errored",
                    format!("gave up after {attempts} restarts in a row"),
                );
                true
            }
            Decision::Restart { delay, attempt } => {
                e.state = State::Backoff;
                let of = match e.spec.max_restarts {
                    0 => String::new(),
                    m => format!(" of {m}"),
                };
                let why = crate::util::signal::describe_end(code, e.exit_signal)
                    .unwrap_or_else(|| "it ended".to_string());
                let policy = match e.spec.restart {
                    crate::proto::Restart::Always => "always",
                    crate::proto::Restart::OnFailure => "on-failure",
                    crate::proto::Restart::Never => "never",
                };
                e.event(
                    "backoff",
                    format!(
                        "restarting in {} (attempt {attempt}{of}; {why}, restart {policy})",
                        crate::util::duration::format(delay)
                    ),
                );
                self.arm_restart(id, delay);
                true
            }
        }
    }

    pub(super) fn arm_restart(&mut self, id: u64, delay: Duration) {
        self.cancel_restart(id);
        let t = self.timers.add(delay, TimerKind::Restart(id));
        self.restart_timers.insert(id, t);
    }

    /// Cancels a pending automatic restart (a user acted on the entry).
    pub(super) fn cancel_restart(&mut self, id: u64) {
        if let Some(t) = self.restart_timers.remove(&id) {
            self.timers.cancel(t);
        }
    }

    /// A backoff delay is over: start the entry again, unless a user changed it meanwhile.
    pub(super) fn restart_due(&mut self, id: u64) {
        self.restart_timers.remove(&id);
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        if e.state != State::Backoff || self.shutting_down {
            return;
        }
        e.event("restarting", format!("automatic restart {}", e.consecutive));
        match self.start_entry(id) {
            Ok(_) => {
                if let Some(e) = self.reg.get_mut(id) {
                    e.restarts += 1;
                }
            }
            Err(err) => self.fail_ready_waits(id, &err.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Backoff;

    fn spec(restart: Restart, max: u32) -> RunSpec {
        let mut s: RunSpec = serde_json::from_str(r#"{"argv":["x"],"cwd":"/"}"#).unwrap();
        s.restart = restart;
        s.max_restarts = max;
        s.backoff = Backoff {
            initial_ms: 100,
            factor: 2.0,
            max_ms: 500,
        };
        s.min_uptime_ms = 1_000;
        s
    }

    #[test]
    fn policies() {
        let short = Duration::from_millis(10);
        assert_eq!(
            decide(&spec(Restart::Never, 0), Some(1), short, 0).0,
            Decision::Done
        );
        assert_eq!(
            decide(&spec(Restart::OnFailure, 0), Some(0), short, 3).0,
            Decision::Done
        );
        assert!(matches!(
            decide(&spec(Restart::OnFailure, 0), None, short, 0).0,
            Decision::Restart { .. }
        ));
        assert!(matches!(
            decide(&spec(Restart::Always, 0), Some(0), short, 0).0,
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn backoff_grows_caps_and_resets_after_a_healthy_run() {
        let s = spec(Restart::Always, 0);
        let short = Duration::from_millis(10);
        let mut n = 0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            let (d, c) = decide(&s, Some(1), short, n);
            n = c;
            let Decision::Restart { delay, .. } = d else {
                panic!()
            };
            delays.push(delay.as_millis());
        }
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let (d, c) = decide(&s, Some(1), Duration::from_secs(2), n);
        assert_eq!(
            d,
            Decision::Restart {
                delay: Duration::from_millis(100),
                attempt: 1
            }
        );
        assert_eq!(c, 1);
    }

    #[test]
    fn max_restarts_gives_up() {
        let s = spec(Restart::Always, 2);
        let short = Duration::from_millis(10);
        assert!(matches!(
            decide(&s, Some(1), short, 0).0,
            Decision::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            decide(&s, Some(1), short, 1).0,
            Decision::Restart { attempt: 2, .. }
        ));
        assert_eq!(
            decide(&s, Some(1), short, 2).0,
            Decision::GiveUp { attempts: 2 }
        );
    }
}
