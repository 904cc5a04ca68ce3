//! Saving the registry: the entries changed in a turn are appended to the journal before any
//! reply about the change leaves; a debounced fsync and the journal's compactions run on a
//! helper thread.

use super::state::{Daemon, Saving, TimerKind};
use std::time::Duration;

/// How long after a save its files are fsynced (saves in between share one sync).
const SYNC_DELAY: Duration = Duration::from_millis(500);

impl Saving {
    pub(super) fn new(store: crate::store::persist::Store) -> Saving {
        Saving {
            sync_timer: None,
            failing: false,
            store,
            syncer: Default::default(),
        }
    }
}

impl Daemon {
    /// Writes the entries changed this turn; a debounced background fsync makes them durable.
    pub(crate) fn save_changes(&mut self) {
        let saved = self.saving.store.save_changes(&mut self.reg);
        if let Some(job) = self.saving.store.take_job() {
            self.saving.syncer.submit_job(job);
        }
        match saved {
            Ok(()) => {}
            Err(e) => {
                if !self.saving.failing {
                    log::error!(
                        "cannot save the registry in {}: {e} (will retry)",
                        self.paths.state.display()
                    );
                }
                self.saving.failing = true;
                return;
            }
        }
        self.saving.failing = false;
        if self.saving.sync_timer.is_none() && !self.saving.store.unsynced.is_empty() {
            self.saving.sync_timer = Some(self.rx.timers.add(SYNC_DELAY, TimerKind::Sync));
        }
    }

    /// Saves and fsyncs now (start-up, shutdown): waits for the helper thread too.
    pub(super) fn save_now(&mut self) {
        self.save_changes();
        if let Some(t) = self.saving.sync_timer.take() {
            self.rx.timers.cancel(t);
        }
        self.saving.syncer.flush();
        self.saving.store.settle();
        if let Err(e) = crate::store::persist::sync(&mut self.saving.store.unsynced) {
            log::warn!("cannot fsync {}: {e}", self.paths.state.display());
        }
    }

    /// The debounce is over: hand what was written to the fsync thread.
    pub(super) fn sync_due(&mut self) {
        self.saving.sync_timer = None;
        self.saving
            .syncer
            .submit(std::mem::take(&mut self.saving.store.unsynced));
    }
}
