//! Durability off the event loop: a helper thread fsyncs the files the loop saved (and the
//! folders that name them), so a slow disk delays nobody's request. The thread starts on the
//! first batch, after the daemon has blocked its signals, so it inherits that mask.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

#[derive(Default)]
pub struct Syncer {
    worker: Option<(Sender<BTreeSet<PathBuf>>, JoinHandle<()>)>,
}

impl Syncer {
    /// Hands `paths` to the helper thread (starting it if needed); returns at once.
    pub fn submit(&mut self, paths: BTreeSet<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if self.worker.is_none() {
            let (tx, rx) = channel::<BTreeSet<PathBuf>>();
            let spawned = std::thread::Builder::new()
                .name("wrangle-fsync".into())
                .spawn(move || {
                    for mut batch in rx {
                        if let Err(e) = super::persist::sync(&mut batch) {
                            log::warn!("cannot fsync the saved state: {e}");
                        }
                    }
                });
            match spawned {
                Ok(handle) => self.worker = Some((tx, handle)),
                Err(e) => {
                    // No thread to be had (resource limits): sync here rather than not at all.
                    log::warn!("cannot start the fsync thread ({e}); syncing on the loop");
                    let mut paths = paths;
                    if let Err(e) = super::persist::sync(&mut paths) {
                        log::warn!("cannot fsync the saved state: {e}");
                    }
                    return;
                }
            }
        }
        if let Some((tx, _)) = &self.worker {
            if let Err(back) = tx.send(paths) {
                // The thread is gone: sync here.
                let mut paths = back.0;
                let _ = super::persist::sync(&mut paths);
                self.worker = None;
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
