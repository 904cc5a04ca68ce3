//! Saving the registry: the entries changed in a turn are written before any reply about the
//! change leaves; a debounced fsync on a helper thread makes them durable.

use super::state::{Daemon, TimerKind};
use std::time::Duration;

/// How long after a save its files are fsynced (saves in between share one sync).
const SYNC_DELAY: Duration = Duration::from_millis(500);

impl Daemon {
    /// Writes the entries changed this turn; a debounced background fsync makes them durable.
    pub(crate) fn save_changes(&mut self) {
        match crate::store::persist::save_changes(
            &self.paths.state,
            &mut self.reg,
            &mut self.saving.unsynced,
        ) {
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
        if self.saving.sync_timer.is_none() {
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
        if let Err(e) = crate::store::persist::sync(&mut self.saving.unsynced) {
            log::warn!("cannot fsync {}: {e}", self.paths.state.display());
        }
    }

    /// The debounce is over: hand what was written to the fsync thread.
    pub(super) fn sync_due(&mut self) {
        self.saving.sync_timer = None;
        self.saving
            .syncer
            .submit(std::mem::take(&mut self.saving.unsynced));
    }
}
