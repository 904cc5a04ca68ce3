//! Saving the registry: at the end of every daemon turn, the entries that changed are appended
//! to the journal as one write, before any reply about them leaves, so a `kill -9` at any moment
//! loses at most the turn in progress (whose requests were never answered). Files are fsynced
//! in the background by a debounced sync. When the journal outgrows the snapshot, a new journal
//! starts and the helper thread writes the new snapshot (see [`super::compact`], and
//! [`super::journal`] for why no step of that can lose an entry).

use super::compact::{Compaction, Source};
use super::journal::{self, Journal};
use super::record;
use super::registry::Registry;
use super::syncer::Job;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};

/// Journals are compacted once they hold more than this many bytes and more than
/// [`GROWTH`] times the snapshot: loading then reads at most 1 + GROWTH times the registry's
/// size, and every byte of journal costs at most 1 / GROWTH bytes of snapshot writing. The
/// floor keeps a small registry from being rewritten every few changes (a stop of 100 entries
/// writes about 0.5 MB of journal).
const MIN_JOURNAL: u64 = 4 << 20;
const GROWTH: u64 = 2;

/// How a compaction went: its generation and the snapshot's size.
type Done = (u64, io::Result<u64>);

/// The registry's files, as the daemon writes them.
pub struct Store {
    state: PathBuf,
    /// The journal appended to; None when a new one must be started before the next write.
    journal: Option<Journal>,
    /// The highest generation this store has used or seen.
    gen: u64,
    /// The size of the latest durable snapshot (0: none).
    snap_len: u64,
    /// Bytes written to journals since that snapshot.
    journaled: u64,
    /// The journal size below which it is never compacted ([`MIN_JOURNAL`]).
    min_journal: u64,
    /// The compaction in flight: its generation and `journaled` when it began.
    compacting: Option<(u64, u64)>,
    done: (Sender<Done>, Receiver<Done>),
    /// After a failed compaction, the next waits until `journaled` reaches this.
    retry_after: u64,
    /// Compact at the next save whatever the sizes, from memory (the files may hold what
    /// another daemon wrote).
    force: bool,
    /// The last compaction from the files failed: the next one copies the entries.
    from_memory: bool,
    /// A compaction started, for the daemon to hand to the helper thread ([`Store::take_job`]).
    job: Option<Job>,
    /// Changes whose write failed, to write again with the next save.
    retry: BTreeSet<u64>,
    retry_meta: bool,
    /// `next-id`, rewritten in place when the next id changes (ids are never reused, even if
    /// the journal is lost).
    spare: Option<File>,
    /// Files written but not yet fsynced.
    pub unsynced: BTreeSet<PathBuf>,
}

/// Where loading left the files.
#[derive(Default)]
pub struct Opened {
    pub gen: u64,
    pub snap_len: u64,
    pub journaled: u64,
    /// The newest journal, to go on appending to: its generation, path and good length.
    pub tail: Option<(u64, PathBuf, u64)>,
}

impl Store {
    /// The store of the files in `state` as loading found them.
    pub fn new(state: &Path, opened: Opened) -> Store {
        let spare = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(state.join("next-id"))
            .map_err(|e| log::warn!("cannot open {}: {e}", state.join("next-id").display()))
            .ok();
        let mut s = Store {
            state: state.to_path_buf(),
            journal: None,
            gen: opened.gen,
            snap_len: opened.snap_len,
            journaled: opened.journaled,
            min_journal: MIN_JOURNAL,
            compacting: None,
            done: channel(),
            retry_after: 0,
            force: false,
            from_memory: false,
            job: None,
            retry: BTreeSet::new(),
            retry_meta: false,
            spare,
            unsynced: BTreeSet::new(),
        };
        if let Some((gen, path, good_len)) = opened.tail {
            match Journal::reopen(&path, gen, good_len) {
                Ok(j) => s.journal = Some(j),
                Err(e) => log::warn!("cannot append to {}: {e}", path.display()),
            }
        }
        s
    }

    /// The generation for a new journal: above every one used here or found on disk.
    fn next_gen(&mut self) -> u64 {
        let on_disk = journal::journals(&self.state)
            .last()
            .map(|(g, _)| *g)
            .unwrap_or(0)
            .max(journal::snapshot_gen(&self.state).unwrap_or(0));
        self.gen = self.gen.max(on_disk) + 1;
        self.gen
    }

    /// Writes a snapshot of `reg` now, durably, and starts a new journal after it (at start-up,
    /// when the files loaded need rewriting: converted, or partly corrupt).
    pub fn compact_now(&mut self, reg: &Registry) -> io::Result<()> {
        let gen = self.next_gen();
        let bytes = journal::snapshot_bytes(gen, reg.next_id(), reg.iter())?;
        self.snap_len = journal::write_snapshot(&self.state, gen, &bytes)?;
        self.journaled = 0;
        self.journal = None;
        self.start_journal(gen)?;
        self.write_spare(reg.next_id());
        Ok(())
    }

    /// Compact at the next save, whatever the sizes (after another daemon may have written
    /// these files: a failed upgrade).
    pub fn compact_soon(&mut self) {
        self.force = true;
    }

    fn start_journal(&mut self, gen: u64) -> io::Result<()> {
        let j = Journal::create(&self.state, gen)?;
        self.unsynced.insert(j.path().to_path_buf());
        self.unsynced.insert(self.state.clone());
        self.journal = Some(j);
        Ok(())
    }

    /// Appends what changed since the last save to the journal, in one write. When the
    /// journal has grown enough, a compaction starts: see [`Store::take_job`].
    pub fn save_changes(&mut self, reg: &mut Registry) -> io::Result<()> {
        self.poll();
        let (mut dirty, meta) = reg.take_dirty();
        dirty.append(&mut self.retry);
        let meta = meta || std::mem::take(&mut self.retry_meta);
        if self.force && self.compacting.is_none() && self.journaled >= self.retry_after {
            self.compact(reg);
        }
        if dirty.is_empty() && !meta {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut result = Ok(());
        for &id in &dirty {
            match reg.get(id) {
                Some(e) => {
                    if let Err(e) = record::entry(&mut buf, e) {
                        result = Err(e);
                        break;
                    }
                }
                None => record::removed(&mut buf, id),
            }
        }
        if meta {
            record::next_id(&mut buf, reg.next_id());
        }
        if result.is_ok() {
            result = self.append(&buf);
        }
        if let Err(e) = result {
            // Nothing is lost: these go again with the next save.
            self.retry = dirty;
            self.retry_meta = meta;
            return Err(e);
        }
        if meta {
            self.write_spare(reg.next_id());
        }
        if self.compacting.is_none() && self.due() {
            self.compact(reg);
        }
        Ok(())
    }

    /// The snapshot to write on the helper thread, if a compaction has started (its new
    /// journal is already in use: the job must run, or the next load pays for it).
    pub fn take_job(&mut self) -> Option<Job> {
        self.job.take()
    }

    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.journal.is_none() {
            let gen = self.next_gen();
            self.start_journal(gen)?;
        }
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        match j.append(buf) {
            Ok(()) => {
                self.journaled += buf.len() as u64;
                self.unsynced.insert(j.path().to_path_buf());
                Ok(())
            }
            Err((e, usable)) => {
                if !usable {
                    // Its tail may hold part of this write: later records go to a new one.
                    self.journal = None;
                }
                Err(e)
            }
        }
    }

    fn write_spare(&mut self, next: u64) {
        if let Some(f) = &self.spare {
            // Fixed width, so that a shorter number never leaves digits of a longer one.
            match f.write_all_at(format!("{next:<20}\n").as_bytes(), 0) {
                Ok(()) => {
                    self.unsynced.insert(self.state.join("next-id"));
                }
                Err(e) => log::warn!("cannot write {}: {e}", self.state.join("next-id").display()),
            }
        }
    }

    /// Takes the outcome of the compaction in flight, if it is over.
    fn poll(&mut self) {
        while let Ok((gen, result)) = self.done.1.try_recv() {
            let Some((_, before)) = self.compacting.take() else {
                continue;
            };
            match result {
                Ok(len) => {
                    log::debug!("registry compacted into snapshot {gen} ({len} bytes)");
                    self.snap_len = len;
                    self.journaled = self.journaled.saturating_sub(before);
                    self.retry_after = 0;
                    self.from_memory = false;
                }
                Err(e) => {
                    log::error!(
                        "cannot write {}: {e} (the journal goes on; will retry)",
                        journal::snapshot_path(&self.state).display()
                    );
                    self.retry_after = self.journaled.saturating_add(self.min_journal);
                    self.from_memory = true;
                }
            }
        }
    }

    /// Whether the journals have grown enough to be compacted.
    fn due(&self) -> bool {
        self.journaled > self.min_journal.max(self.snap_len.saturating_mul(GROWTH))
            && self.journaled > self.retry_after
    }

    /// Starts a new journal and makes the job that writes the snapshot it follows.
    fn compact(&mut self, reg: &Registry) {
        let gen = self.next_gen();
        if let Err(e) = self.start_journal(gen) {
            log::error!("cannot start a new registry journal: {e} (will retry)");
            self.retry_after = self.journaled.saturating_add(self.min_journal);
            return;
        }
        // Merging the files costs the loop nothing; a copy of 10,000 entries takes it about
        // 40 ms.
        let source = match std::mem::take(&mut self.force) || self.from_memory {
            true => Source::Memory(reg.iter().cloned().collect()),
            false => Source::Files,
        };
        self.compacting = Some((gen, self.journaled));
        self.job = Some(Job::Compact(Box::new(Compaction {
            state: self.state.clone(),
            gen,
            next_id: reg.next_id(),
            source,
            done: self.done.0.clone(),
        })));
    }

    /// Call after the helper thread has finished every job (it was flushed).
    pub fn settle(&mut self) {
        self.poll();
    }

    #[cfg(test)]
    pub fn journal_gen(&self) -> Option<u64> {
        self.journal.as_ref().map(|j| j.gen())
    }

    #[cfg(test)]
    pub fn set_min_journal(&mut self, bytes: u64) {
        self.min_journal = bytes;
    }
}

/// Makes the files (and folders) written since the last sync durable. Only those: a big
/// registry is not fsynced whole for one change.
pub fn sync(unsynced: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    let mut first_err = None;
    // Files first, then the folders that name them.
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(unsynced)
        .into_iter()
        .partition(|p| p.is_dir());
    for p in files.iter().chain(dirs.iter()) {
        match fs::File::open(p).and_then(|f| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Turns a load warning into an error-level log line and a line on stderr.
pub fn report(warnings: &[String]) {
    for w in warnings {
        log::error!("{w}");
        eprintln!("wrangle daemon: {w}");
    }
}
