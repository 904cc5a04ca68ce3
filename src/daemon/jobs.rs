//! Work that must not block the event loop, on helper threads: a job is a closure run on a
//! thread of its own; what it found comes back through a channel, and the reactor's waker
//! makes the loop look. Jobs are rare (a `wait --log` scanning a run's log), so a thread each
//! is simpler than a pool; if no thread can be had, the job runs on the loop instead.

use mio::{Token, Waker};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// What a finished job found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Done {
    /// Whether run `run` of entry `id` already had a line matching the regex of the ready-wait
    /// `req` of connection `conn`.
    LogScan {
        conn: Token,
        req: u32,
        id: u64,
        run: u32,
        found: bool,
    },
    /// The screens thread fed a chunk to the screen of entry `id`, which a `wait --screen`
    /// watches.
    ScreenFed { id: u64 },
    /// The screens thread caught up with the terminal of entry `id`, which the loop had
    /// stopped reading: read it again.
    ScreenRoom { id: u64 },
    /// The answer to `screen` request `req` of connection `conn`, read by the screens thread
    /// once it had parsed everything before the request.
    Screen {
        conn: Token,
        req: u32,
        reply: Result<Box<crate::proto::ScreenReply>, String>,
    },
    /// Whether screen `generation` of entry `id` matched the regex of the `wait --screen`
    /// `req` of connection `conn`, once it had parsed everything before the wait.
    ScreenChecked {
        conn: Token,
        req: u32,
        id: u64,
        generation: u64,
        matched: bool,
    },
    /// The answer to `read_log` request `req` of connection `conn` (see `logread.rs`).
    LogRead {
        conn: Token,
        req: u32,
        reply: Result<crate::proto::ReadLogReply, String>,
    },
}

pub(super) struct Jobs {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    waker: Option<Arc<Waker>>,
}

impl Jobs {
    /// Jobs that wake the loop through `waker` (None: whoever owns them polls [`Self::done`]).
    pub fn new(waker: Option<Arc<Waker>>) -> Jobs {
        let (tx, rx) = channel();
        Jobs { tx, rx, waker }
    }

    /// What a long-lived helper thread reports through (see `screenfeed.rs`).
    pub fn notifier(&self) -> (Sender<Done>, Option<Arc<Waker>>) {
        (self.tx.clone(), self.waker.clone())
    }

    /// Runs `job` on a helper thread.
    pub fn spawn(&self, job: impl FnOnce() -> Done + Send + 'static) {
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        let job = std::sync::Mutex::new(Some(job));
        let run = move || {
            let Some(job) = job.lock().ok().and_then(|mut j| j.take()) else {
                return;
            };
            let _ = tx.send(job());
            if let Some(w) = &waker {
                let _ = w.wake();
            }
        };
        let run = Arc::new(run);
        let on_thread = Arc::clone(&run);
        if let Err(e) = std::thread::Builder::new()
            .name("wrangle-job".into())
            .spawn(move || on_thread())
        {
            log::warn!("cannot start a helper thread ({e}); doing the work on the loop");
            run();
        }
    }

    /// The jobs finished since the last look.
    pub fn done(&self) -> Vec<Done> {
        self.rx.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_job_reports_back() {
        let jobs = Jobs::new(None);
        jobs.spawn(|| Done::LogScan {
            conn: Token(7),
            req: 3,
            id: 1,
            run: 2,
            found: true,
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = jobs.done();
            if !done.is_empty() {
                assert_eq!(
                    done,
                    [Done::LogScan {
                        conn: Token(7),
                        req: 3,
                        id: 1,
                        run: 2,
                        found: true
                    }]
                );
                break;
            }
            assert!(Instant::now() < deadline, "the job never reported");
            std::thread::yield_now();
        }
    }
}
