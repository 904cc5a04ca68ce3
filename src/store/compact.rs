//! Compaction, on the helper thread: snapshot G is written from snapshot F and journals F to
//! G-1 as they are on disk (the loop has moved on to journal G and never touches them again),
//! so the loop pays nothing for it. When those files cannot be merged (a damaged line), or
//! after another daemon may have written them (a failed upgrade), the loop hands over a copy
//! of its entries instead.

use super::journal::{journals, snapshot_bytes, snapshot_path, write_snapshot};
use super::record::{self, Record};
use super::registry::Entry;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// What snapshot G is made from.
pub enum Source {
    /// The files on disk.
    Files,
    /// The loop's entries, copied when journal G began.
    Memory(Vec<Entry>),
}

/// A compaction for the helper thread.
pub struct Compaction {
    pub state: PathBuf,
    pub gen: u64,
    /// The next id when journal `gen` began.
    pub next_id: u64,
    pub source: Source,
    /// Told the generation and the snapshot's size, or why it was not written.
    pub done: Sender<(u64, io::Result<u64>)>,
}

impl Compaction {
    /// Writes the snapshot and reports how it went.
    pub fn run(self) {
        let bytes = match &self.source {
            Source::Files => merge(&self.state, self.gen, self.next_id),
            Source::Memory(entries) => snapshot_bytes(self.gen, self.next_id, entries.iter()),
        };
        let result = bytes.and_then(|b| write_snapshot(&self.state, self.gen, &b));
        let _ = self.done.send((self.gen, result));
    }
}

fn damaged(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} {what}", path.display()),
    )
}

/// The bytes of snapshot `gen`: the snapshot on disk with the journals before `gen` applied.
/// Fails on anything loading would report (it is left for loading to deal with).
pub fn merge(state: &Path, gen: u64, next_id: u64) -> io::Result<Vec<u8>> {
    let snap_path = snapshot_path(state);
    let snap = match fs::read(&snap_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut files: Vec<(PathBuf, Vec<u8>, &str)> = Vec::new();
    let mut from = 0;
    if let Some(b) = snap {
        from = header_gen(&snap_path, &b, record::SNAPSHOT_MAGIC)?;
        files.push((snap_path, b, record::SNAPSHOT_MAGIC));
    }
    for (g, path) in journals(state) {
        if (from..gen).contains(&g) {
            let b = fs::read(&path)?;
            files.push((path, b, record::JOURNAL_MAGIC));
        }
    }
    // The latest record of each entry (None: removed).
    let mut latest: BTreeMap<u64, Option<&[u8]>> = BTreeMap::new();
    for (path, bytes, magic) in &files {
        let scan = record::scan(bytes);
        header_gen(path, bytes, magic)?;
        // A journal's torn tail is dropped, as loading does; a snapshot is written whole.
        if scan.bad > 0 || (*magic == record::SNAPSHOT_MAGIC && scan.torn(bytes.len())) {
            return Err(damaged(path, "has damaged lines"));
        }
        for body in &scan.bodies[1..] {
            match record::parse(body) {
                Some(Record::Entry { id, .. }) => {
                    latest.insert(id, Some(*body));
                }
                Some(Record::Removed(id)) => {
                    latest.insert(id, None);
                }
                Some(Record::NextId(_)) => {}
                Some(Record::Header { .. }) | None => {
                    return Err(damaged(path, "holds a record this wrangle does not know"))
                }
            }
        }
    }
    let mut out = Vec::new();
    record::header(&mut out, record::SNAPSHOT_MAGIC, gen);
    record::next_id(&mut out, next_id);
    for body in latest.values().flatten() {
        record::raw(&mut out, body);
    }
    Ok(out)
}

/// The generation in a file's header, checked.
fn header_gen(path: &Path, bytes: &[u8], magic: &str) -> io::Result<u64> {
    let first = bytes.split(|&c| c == b'\n').next().unwrap_or_default();
    let mut line = first.to_vec();
    line.push(b'\n');
    let scan = record::scan(&line);
    match scan.bodies.first().and_then(|b| record::parse(b)) {
        Some(Record::Header {
            magic: m,
            format,
            gen,
        }) if m == magic && format <= record::FORMAT => Ok(gen),
        _ => Err(damaged(path, "has no good header line")),
    }
}
