//! Per-run log files. Each run of an entry writes `RUN.log`, every byte of stdout and stderr in
//! arrival order exactly as the process wrote it (so `less` and `tail -F` work), and `RUN.idx`,
//! one 16-byte record per captured chunk: receive time (µs since the epoch, u64 BE), length
//! (u32 BE), stream (u8: 1 stdout, 2 stderr), three zero bytes. The index lets readers split the
//! streams and timestamp lines without touching the plain log.
//!
//! Rotation is by size and done by the writer that owns the descriptors: `RUN.log` and
//! `RUN.idx` are renamed to `RUN.SEG.log` / `RUN.SEG.idx` (SEG = 1, 2, … oldest first) and new
//! files are opened, so nothing is copied, lost or written twice: the segments in order, then
//! `RUN.log`, concatenate to exactly what the process wrote (minus segments past `keep`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Bytes in one index record.
pub const RECORD_LEN: usize = 16;

/// The log and index paths of one run in an entry's log folder.
pub fn run_paths(dir: &Path, run: u32) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{run}.log")),
        dir.join(format!("{run}.idx")),
    )
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Size-based rotation of one run's log: 0 `max_size` means never rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    /// Rotated segments kept (older ones are deleted).
    pub keep: u32,
}

/// Writes one run's log and index. Index records are buffered and written by `flush_index`.
pub struct RunWriter {
    dir: PathBuf,
    run: u32,
    log: File,
    idx: File,
    size: u64,
    next_segment: u32,
    rotation: Rotation,
    pending: Vec<u8>,
}

impl RunWriter {
    pub fn create(dir: &Path, run: u32, rotation: Rotation) -> io::Result<RunWriter> {
        let (log, idx) = run_paths(dir, run);
        let log = open_append(&log)?;
        let size = log.metadata()?.len();
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            run,
            log,
            idx: open_append(&idx)?,
            size,
            next_segment: 1,
            rotation,
            pending: Vec::new(),
        })
    }

    /// Appends a chunk, rotating first if it would pass the size limit. On error nothing of
    /// the chunk is indexed. Returns the bytes of segments deleted by rotation.
    pub fn write(&mut self, stream: u8, ts_us: u64, data: &[u8]) -> io::Result<u64> {
        let mut dropped = 0;
        if self.rotation.max_size > 0
            && self.size > 0
            && self.size + data.len() as u64 > self.rotation.max_size
        {
            dropped = self.rotate()?;
        }
        self.log.write_all(data)?;
        self.size += data.len() as u64;
        self.pending.extend_from_slice(&ts_us.to_be_bytes());
        self.pending
            .extend_from_slice(&(data.len() as u32).to_be_bytes());
        self.pending.extend_from_slice(&[stream, 0, 0, 0]);
        if self.pending.len() >= 64 * RECORD_LEN {
            self.flush_index()?;
        }
        Ok(dropped)
    }

    /// Renames the current files to the next segment, reopens, deletes segments past `keep`.
    fn rotate(&mut self) -> io::Result<u64> {
        self.flush_index()?;
        let seg = self.next_segment;
        let (log, idx) = run_paths(&self.dir, self.run);
        let (seg_log, seg_idx) = segment_paths(&self.dir, self.run, seg);
        std::fs::rename(&log, &seg_log)?;
        std::fs::rename(&idx, &seg_idx)?;
        self.log = open_append(&log)?;
        self.idx = open_append(&idx)?;
        self.size = 0;
        self.next_segment += 1;
        let mut dropped = 0;
        if seg > self.rotation.keep {
            let (old_log, old_idx) = segment_paths(&self.dir, self.run, seg - self.rotation.keep);
            dropped += std::fs::metadata(&old_log).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(old_log);
            let _ = std::fs::remove_file(old_idx);
        }
        Ok(dropped)
    }

    /// Writes buffered index records.
    pub fn flush_index(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let r = self.idx.write_all(&self.pending);
            self.pending.clear();
            r?;
        }
        Ok(())
    }

    /// Empties the current files (for `logs --clear`).
    pub fn truncate(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.log.set_len(0)?;
        self.idx.set_len(0)?;
        self.size = 0;
        Ok(())
    }
}

/// The paths of rotated segment `seg` of a run.
pub fn segment_paths(dir: &Path, run: u32, seg: u32) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{run}.{seg}.log")),
        dir.join(format!("{run}.{seg}.idx")),
    )
}

/// A run's files in order: rotated segments oldest first, then the current `RUN.log`.
pub fn run_segments(dir: &Path, run: u32) -> Vec<(PathBuf, PathBuf)> {
    let prefix = format!("{run}.");
    let mut segs: Vec<u32> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix(&prefix)?
                    .strip_suffix(".log")?
                    .parse::<u32>()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    segs.sort_unstable();
    let mut out: Vec<(PathBuf, PathBuf)> = segs
        .into_iter()
        .map(|s| segment_paths(dir, run, s))
        .collect();
    out.push(run_paths(dir, run));
    out
}

/// Removes the rotated segments of a run (not its current files).
pub fn remove_segments(dir: &Path, run: u32) {
    let segs = run_segments(dir, run);
    for (log, idx) in &segs[..segs.len().saturating_sub(1)] {
        let _ = std::fs::remove_file(log);
        let _ = std::fs::remove_file(idx);
    }
}

/// Removes every file of a run.
pub fn remove_run(dir: &Path, run: u32) {
    for (log, idx) in run_segments(dir, run) {
        let _ = std::fs::remove_file(log);
        let _ = std::fs::remove_file(idx);
    }
}

/// One index record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub ts_us: u64,
    pub offset: u64,
    pub len: u32,
    pub stream: u8,
}

/// Reads an index (missing file: empty). A torn last record is ignored.
pub fn read_index(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut offset = 0u64;
    Ok(bytes
        .chunks_exact(RECORD_LEN)
        .map(|r| {
            let rec = Record {
                ts_us: u64::from_be_bytes(r[0..8].try_into().unwrap_or_default()),
                len: u32::from_be_bytes(r[8..12].try_into().unwrap_or_default()),
                stream: r[12],
                offset,
            };
            offset += rec.len as u64;
            rec
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_plain_log_and_splits_streams_by_index() {
        let dir = std::env::temp_dir().join(format!("wrangle-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = RunWriter::create(
            &dir,
            3,
            Rotation {
                max_size: 0,
                keep: 0,
            },
        )
        .unwrap();
        w.write(1, 10, b"out1\n").unwrap();
        w.write(2, 11, b"err1\n").unwrap();
        w.write(1, 12, b"out2").unwrap();
        w.flush_index().unwrap();
        let (log, idx) = run_paths(&dir, 3);
        assert_eq!(std::fs::read(&log).unwrap(), b"out1\nerr1\nout2");
        let index = read_index(&idx).unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(
            index[1],
            Record {
                ts_us: 11,
                offset: 5,
                len: 5,
                stream: 2
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_renames_and_concatenates_exactly() {
        let dir = std::env::temp_dir().join(format!("wrangle-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rot = Rotation {
            max_size: 10,
            keep: 2,
        };
        let mut w = RunWriter::create(&dir, 1, rot).unwrap();
        let mut all = Vec::new();
        let mut dropped = 0;
        for i in 0..12u8 {
            let chunk = vec![b'a' + i; 4];
            dropped += w.write(1, i as u64, &chunk).unwrap();
            all.extend_from_slice(&chunk);
        }
        w.flush_index().unwrap();
        let segs = run_segments(&dir, 1);
        // 12 chunks of 4 bytes, 2 per file: 6 files, the 3 oldest segments deleted.
        assert_eq!(segs.len(), 3);
        assert_eq!(dropped, 24);
        let mut cat = Vec::new();
        for (log, idx) in &segs {
            cat.extend(std::fs::read(log).unwrap());
            assert_eq!(read_index(idx).unwrap().len(), 2);
        }
        assert_eq!(cat, all[24..]);
        remove_run(&dir, 1);
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
