//! Durability off the event loop: a helper thread fsyncs the files the loop saved (and the
//! folders that name them) and writes the registry's compacted snapshots, so a slow disk
//! delays nobody's request. The thread starts on the first job, after the daemon has blocked
//! its signals, so it inherits that mask. Jobs run in the order they were handed over.

use super::compact::Compaction;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

/// Work for the helper thread.
pub enum Job {
    /// fsync these files and folders.
    Sync(BTreeSet<PathBuf>),
    /// Write a snapshot of the registry.
    Compact(Box<Compaction>),
}

impl Job {
    fn run(self) {
        match self {
            Job::Sync(mut paths) => {
                if let Err(e) = super::persist::sync(&mut paths) {
                    log::warn!("cannot fsync the saved state: {e}");
                }
            }
            Job::Compact(c) => c.run(),
        }
    }
}

#[derive(Default)]
pub struct Syncer {
    worker: Option<(Sender<Job>, JoinHandle<()>)>,
}

impl Syncer {
    /// Hands `paths` to the helper thread to fsync (starting it if needed); returns at once.
    pub fn submit(&mut self, paths: BTreeSet<PathBuf>) {
        if !paths.is_empty() {
            self.submit_job(Job::Sync(paths));
        }
    }

    /// Hands a job to the helper thread (starting it if needed); returns at once.
    pub fn submit_job(&mut self, job: Job) {
        if self.worker.is_none() {
            let (tx, rx) = channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name("wrangle-fsync".into())
                .spawn(move || {
                    for job in rx {
                        job.run();
                    }
                });
            match spawned {
                Ok(handle) => self.worker = Some((tx, handle)),
                Err(e) => {
                    // No thread to be had (resource limits): do it here rather than not at all.
                    log::warn!("cannot start the fsync thread ({e}); syncing on the loop");
                    job.run();
                    return;
                }
            }
        }
        if let Some((tx, _)) = &self.worker {
            if let Err(back) = tx.send(job) {
                // The thread is gone: do it here.
                self.worker = None;
                back.0.run();
            }
        }
    }

    /// Waits until everything submitted so far is synced (the thread ends; a later submit
    /// starts another).
    pub fn flush(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitted_files_are_synced_and_flush_waits() {
        let dir = std::env::temp_dir().join(format!("wrangle-syncer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a");
        std::fs::write(&f, b"x").unwrap();
        let mut s = Syncer::default();
        s.submit(BTreeSet::from([
            f.clone(),
            dir.clone(),
            dir.join("missing"),
        ]));
        s.flush();
        assert!(s.worker.is_none());
        // Usable again after a flush.
        s.submit(BTreeSet::from([f]));
        s.flush();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
