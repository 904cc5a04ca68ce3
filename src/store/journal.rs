//! The registry's files and how they are written: `registry.snapshot` holds every entry as of
//! generation G; `registry.journal.G` holds the changes made after it, appended one write per
//! daemon turn (see [`super::record`] for the line format). Compaction starts journal G+1 and
//! writes snapshot G+1 (snapshot G plus journal G) durably before journals older than G+1 are
//! deleted, so a crash at any step leaves a snapshot and the journals that apply to it: a
//! journal older than the snapshot is stale and ignored.

use super::record;
use super::registry::Entry;
use super::snapshot;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const SNAPSHOT: &str = "registry.snapshot";
const JOURNAL_PREFIX: &str = "registry.journal.";

pub fn snapshot_path(state: &Path) -> PathBuf {
    state.join(SNAPSHOT)
}

pub fn journal_path(state: &Path, gen: u64) -> PathBuf {
    state.join(format!("{JOURNAL_PREFIX}{gen}"))
}

/// The journals in `state`, by the generation in their names, oldest first.
pub fn journals(state: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(state)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let gen = name.strip_prefix(JOURNAL_PREFIX)?.parse().ok()?;
                Some((gen, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The generation of the snapshot on disk (its first line), if it has a good one.
pub fn snapshot_gen(state: &Path) -> Option<u64> {
    let mut head = [0u8; 128];
    let n = File::open(snapshot_path(state))
        .and_then(|f| f.read_at(&mut head, 0))
        .ok()?;
    let line = head[..n].split(|&c| c == b'\n').next()?;
    let mut with_nl = line.to_vec();
    with_nl.push(b'\n');
    let scan = record::scan(&with_nl);
    match scan.bodies.first().and_then(|b| record::parse(b)) {
        Some(record::Record::Header { gen, .. }) => Some(gen),
        _ => None,
    }
}

/// Removes the temporary files of atomic writes that a killed daemon left behind.
pub fn remove_leftover_temps(state: &Path) {
    let Ok(dir) = fs::read_dir(state) else { return };
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!(".{SNAPSHOT}.tmp-"))
            || (name.starts_with(&format!(".{JOURNAL_PREFIX}")) && name.contains(".tmp-"))
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The journal being appended to.
pub struct Journal {
    file: File,
    path: PathBuf,
    gen: u64,
    /// Bytes in the file that are whole records: the next write goes there.
    len: u64,
}

impl Journal {
    /// Creates journal `gen` holding only its header (atomically: it is whole or absent).
    pub fn create(state: &Path, gen: u64) -> io::Result<Journal> {
        let path = journal_path(state, gen);
        let mut head = Vec::new();
        record::header(&mut head, record::JOURNAL_MAGIC, gen);
        snapshot::write_atomic(&path, &head, false)?;
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)?;
        Ok(Journal {
            file,
            path,
            gen,
            len: head.len() as u64,
        })
    }

    /// Opens an existing journal to append to, cutting off a torn tail after `good_len`.
    pub fn reopen(path: &Path, gen: u64, good_len: u64) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        if file.metadata()?.len() != good_len {
            file.set_len(good_len)?;
        }
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            gen,
            len: good_len,
        })
    }

    pub fn gen(&self) -> u64 {
        self.gen
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole records with one write (more only if the kernel takes part of it). On
    /// failure the file is cut back to its last whole record; if even that fails, the error
    /// says so with `Err(false)`, and the journal must not be written again.
    pub fn append(&mut self, data: &[u8]) -> Result<(), (io::Error, bool)> {
        match self.file.write_all_at(data, self.len) {
            Ok(()) => {
                self.len += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                let usable = self.file.set_len(self.len).is_ok();
                Err((e, usable))
            }
        }
    }
}

/// The bytes of snapshot `gen`: its header, the next id and every entry.
pub fn snapshot_bytes<'a>(
    gen: u64,
    next_id: u64,
    entries: impl Iterator<Item = &'a Entry>,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    record::header(&mut out, record::SNAPSHOT_MAGIC, gen);
    record::next_id(&mut out, next_id);
    for e in entries {
        record::entry(&mut out, e)?;
    }
    Ok(out)
}

/// Writes snapshot `gen` durably, then deletes the journals it makes stale (older than
/// `gen`). Returns the snapshot's size.
pub fn write_snapshot(state: &Path, gen: u64, bytes: &[u8]) -> io::Result<u64> {
    snapshot::write_atomic(&snapshot_path(state), bytes, true)?;
    for (g, path) in journals(state) {
        if g < gen {
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    log::warn!("cannot remove the stale {}: {e}", path.display());
                }
            }
        }
    }
    Ok(bytes.len() as u64)
}
