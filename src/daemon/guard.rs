//! Containment of bugs: every piece of the loop's work (an event, a timer, a reaped child, a
//! turn's housekeeping) runs through [`Daemon::guarded`], so a panic in it is logged and costs
//! at most the entry it concerns (marked errored, saying why), never the daemon. Requests have
//! their own catch in the loop, which answers ERROR `internal`.
//!
//! That is debug builds (the tests): the release build aborts on a panic (Cargo.toml says
//! why), and there a bug costs the daemon its life, not the processes: the keeper starts a
//! new daemon, which takes every run over.
//!
//! Debug builds have a fault hook for the black-box tests: with `WRANGLE_TEST_PANIC_IN=WHAT`
//! in the daemon's environment, the work named WHAT (e.g. `running its restart timer`) panics.
//! It does not exist in release builds.

use super::state::{Daemon, TimerKind};
use crate::proc::supervisor::{Phase, Rest, Slot};
use crate::proto::EventKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

impl Daemon {
    /// Runs `f`, the work `what` ("reading its output"), concerning entry `entry` if any. A
    /// panic in it is logged; the entry, if any, is marked errored ("internal error while
    /// WHAT: see the daemon log") and, if it was running, stopped; the loop carries on.
    pub(super) fn guarded(&mut self, what: &str, entry: Option<u64>, f: impl FnOnce(&mut Self)) {
        let r = catch_unwind(AssertUnwindSafe(|| {
            fault_hook(what);
            f(self)
        }));
        if let Err(payload) = r {
            let why = panic_message(&*payload);
            match entry {
                Some(id) => log::error!("internal error while {what} (entry {id}): {why}"),
                None => log::error!("internal error while {what}: {why}"),
            }
            // The panic may have cut a supervisor step short: no step is under way any more,
            // and the ends it recorded are still owed to whoever waits for them.
            self.feeding = 0;
            let ended = std::mem::take(&mut self.ended);
            if !ended.is_empty() {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    for id in ended {
                        self.after_end(id);
                    }
                }));
                if let Err(p) = r {
                    log::error!(
                        "internal error while reporting ended runs: {}",
                        panic_message(&*p)
                    );
                }
            }
            if let Some(id) = entry {
                // Marking it may itself hit the bug again: then the log says so, and that is all.
                let r = catch_unwind(AssertUnwindSafe(|| self.fail_entry(id, what)));
                if let Err(p) = r {
                    log::error!(
                        "internal error while marking entry {id} errored: {}",
                        panic_message(&*p)
                    );
                }
            }
        }
    }

    /// After a panic while working on `id`: it is stopped if it runs, else errored.
    fn fail_entry(&mut self, id: u64, what: &str) {
        let msg = format!("internal error while {what}: see the daemon log");
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        // Once per failure, not once per retry of the same broken work while it stops.
        if e.error.as_deref() != Some(msg.as_str()) {
            e.error = Some(msg.clone());
            e.event(EventKind::Error, msg.clone());
        }
        // The stop cancels a build in progress too.
        if !self.begin_stop(id, None) {
            // Nothing runs: it rests errored, with no timer left to restart it.
            self.drop_sup(id);
            self.set_phase(
                id,
                Phase::Down {
                    rest: Rest::Errored,
                },
            );
        }
        self.fail_ready_waits(id, &msg);
    }
}

/// What a timer does, for messages, and the entry it concerns.
pub(super) fn timer_subject(kind: TimerKind) -> (&'static str, Option<u64>) {
    match kind {
        TimerKind::Entry(id, Slot::Kill) => ("ending its stop grace", Some(id)),
        TimerKind::Entry(id, Slot::Drain) => ("draining its output", Some(id)),
        TimerKind::Entry(id, Slot::Restart) => ("running its restart timer", Some(id)),
        TimerKind::Watch(id) => ("checking its stop", Some(id)),
        TimerKind::Relook(id) => ("looking for its leftovers", Some(id)),
        TimerKind::WaitTimeout(..) => ("timing out a wait", None),
        TimerKind::ReadyPoll(..) => ("checking a wait for a port", None),
        TimerKind::Cron(id, _) => ("running its cron restart", Some(id)),
        TimerKind::Idle(id) => ("switching it to its idle profile", Some(id)),
        TimerKind::AdoptPoll(id) => ("checking its adopted process", Some(id)),
        TimerKind::Usage => ("sampling CPU and memory", None),
        TimerKind::Sync => ("syncing the saved state", None),
        TimerKind::LogRetry(id, _) => ("retrying its log", Some(id)),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Debug builds: panics if `WRANGLE_TEST_PANIC_IN` names `what` (see the module's doc).
fn fault_hook(what: &str) {
    if cfg!(debug_assertions) {
        static WHAT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let wanted = WHAT.get_or_init(|| std::env::var("WRANGLE_TEST_PANIC_IN").ok());
        if wanted.as_deref() == Some(what) {
            panic!("fault injected while {what} (WRANGLE_TEST_PANIC_IN)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_both_payload_kinds() {
        let p = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*p), "plain");
        let n = 3;
        let p = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(&*p), "formatted 3");
        let p = catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_message(&*p), "(no message)");
    }

    #[test]
    fn every_entry_timer_names_its_entry() {
        for k in [
            TimerKind::Entry(4, Slot::Kill),
            TimerKind::Entry(4, Slot::Drain),
            TimerKind::Entry(4, Slot::Restart),
            TimerKind::Watch(4),
            TimerKind::Cron(4, 0),
            TimerKind::Idle(4),
            TimerKind::AdoptPoll(4),
        ] {
            assert_eq!(timer_subject(k).1, Some(4), "{k:?}");
        }
        assert_eq!(timer_subject(TimerKind::Sync).1, None);
    }
}
