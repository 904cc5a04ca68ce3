//! The restart policy: what happens after a run ended by itself. A pure decision from the
//! spec, how the run ended, how long it lasted and how many restarts came in a row before it.

use super::supervisor::{AfterExit, Ms};
use crate::proto::{Restart, RunSpec};
use std::time::Duration;

/// Decides after a run that lasted `uptime` and ended with `code` (None: a signal or
/// unknown), given `consecutive` restarts in a row before it. Returns the verdict and the new
/// count of restarts in a row.
pub fn decide(
    spec: &RunSpec,
    code: Option<i32>,
    uptime: Duration,
    consecutive: u32,
) -> (AfterExit, u32) {
    let failed = code != Some(0);
    let wanted = match spec.restart {
        Restart::Never => false,
        Restart::OnFailure => failed,
        Restart::Always => true,
    };
    if !wanted {
        return (AfterExit::Stay, 0);
    }
    // A healthy run starts the count over.
    let before = if uptime >= Duration::from_millis(spec.min_uptime_ms) {
        0
    } else {
        consecutive
    };
    let attempt = before + 1;
    if spec.max_restarts > 0 && attempt > spec.max_restarts {
        return (AfterExit::GiveUp { attempts: before }, before);
    }
    let b = spec.backoff;
    let factor = if b.factor.is_finite() && b.factor >= 1.0 {
        b.factor
    } else {
        1.0
    };
    let ms = (b.initial_ms as f64) * factor.powi(before.min(1000) as i32);
    let delay = ms.min(b.max_ms as f64).max(0.0) as Ms;
    (AfterExit::Restart { delay, attempt }, attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Backoff;

    fn spec(restart: Restart, max: u32) -> RunSpec {
        let mut s = RunSpec::new(vec!["x".into()], "/".into());
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
            AfterExit::Stay
        );
        assert_eq!(
            decide(&spec(Restart::OnFailure, 0), Some(0), short, 3).0,
            AfterExit::Stay
        );
        assert!(matches!(
            decide(&spec(Restart::OnFailure, 0), None, short, 0).0,
            AfterExit::Restart { .. }
        ));
        assert!(matches!(
            decide(&spec(Restart::Always, 0), Some(0), short, 0).0,
            AfterExit::Restart { .. }
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
            let AfterExit::Restart { delay, .. } = d else {
                panic!("{d:?}")
            };
            delays.push(delay);
        }
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let (d, c) = decide(&s, Some(1), Duration::from_secs(2), n);
        assert_eq!(
            d,
            AfterExit::Restart {
                delay: 100,
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
            AfterExit::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            decide(&s, Some(1), short, 1).0,
            AfterExit::Restart { attempt: 2, .. }
        ));
        assert_eq!(
            decide(&s, Some(1), short, 2).0,
            AfterExit::GiveUp { attempts: 2 }
        );
    }
}
