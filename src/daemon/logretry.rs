//! A run's log while the disk refuses it: the `log_error` event (once), a retry on a timer
//! with backoff (opening the run's files if they could not be made when it started, writing
//! the index records left pending), and `log_resumed` once writing works again. New output
//! also tries the log each time it comes (`capture.rs`).

use super::state::{Daemon, TimerKind};
use crate::logs::file::{Rotation, RunWriter};
use crate::proto::EventKind;
use std::os::unix::fs::DirBuilderExt;
use std::time::Duration;

/// The first retry's delay; each failed retry doubles it, up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

impl Daemon {
    /// The log rotation entry `id` asks for (its own, else the daemon's).
    fn log_rotation(&self, id: u64) -> Rotation {
        let spec = self.reg.get(id).map(|e| &e.spec);
        Rotation {
            max_size: spec
                .and_then(|s| s.log_max_size)
                .unwrap_or(self.config.logs.max_size),
            keep: spec
                .and_then(|s| s.log_keep)
                .unwrap_or(self.config.logs.keep),
        }
    }

    /// Opens the files of run `run` of entry `id` for writing, making its private folder
    /// first (output may hold secrets).
    pub(super) fn open_run_log(&self, id: u64, run: u32) -> std::io::Result<RunWriter> {
        let dir = self.log_dir(id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        RunWriter::create(&dir, run, self.log_rotation(id))
    }

    /// Writing entry `id`'s log failed: says so once (until it works again) and tries again
    /// later if anything is left to write without new output.
    pub(super) fn log_failed(&mut self, id: u64, message: String) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        let retry = l.writer.as_ref().is_none_or(|w| w.has_pending());
        if !l.write_failed {
            l.write_failed = true;
            if let Some(e) = self.reg.get_mut(id) {
                e.event(EventKind::LogError, message);
            }
        }
        if retry {
            self.arm_log_retry(id, FIRST_RETRY);
        }
    }

    /// Writing entry `id`'s log worked: says so if it had failed.
    pub(super) fn log_works(&mut self, id: u64) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if l.write_failed {
            l.write_failed = false;
            if let Some(e) = self.reg.get_mut(id) {
                e.event(EventKind::LogResumed, "log writing works again");
            }
        }
    }

    /// Tries the log of entry `id` again after `after`, unless a retry is already due.
    fn arm_log_retry(&mut self, id: u64, after: Duration) {
        let run = self.reg.get(id).map_or(0, |e| e.run);
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if l.log_retry.is_none() {
            l.log_retry = Some(after);
            self.rx.timers.add(after, TimerKind::LogRetry(id, run));
        }
    }

    /// A retry of run `run`'s log is due: open its files if they are missing, else write the
    /// pending index records; on failure, try again later, waiting longer each time.
    pub(super) fn log_retry_due(&mut self, id: u64, run: u32) {
        if self.reg.get(id).map(|e| e.run) != Some(run) {
            return;
        }
        let Some(delay) = self.live.get_mut(&id).and_then(|l| l.log_retry.take()) else {
            return;
        };
        let worked = match self.live.get_mut(&id).and_then(|l| l.writer.as_mut()) {
            Some(w) if !w.has_pending() => return,
            Some(w) => w.flush_index(),
            None => self.open_run_log(id, run).map(|w| {
                if let Some(l) = self.live.get_mut(&id) {
                    l.writer = Some(w);
                }
            }),
        };
        match worked {
            Ok(()) => self.log_works(id),
            Err(err) => {
                log::debug!("the log of entry {id} still fails: {err}");
                self.arm_log_retry(id, (delay * 2).min(LAST_RETRY));
            }
        }
    }
}
