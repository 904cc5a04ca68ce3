//! Per-run log files. Each run of an entry writes `RUN.log`, every byte of stdout and stderr in
//! arrival order exactly as the process wrote it (so `less` and `tail -F` work), and `RUN.idx`,
//! one 16-byte record per captured chunk: receive time (µs since the epoch, u64 BE), length
//! (u32 BE), stream (u8: 1 stdout, 2 stderr), three zero bytes. The index lets readers split the
//! streams and timestamp lines without touching the plain log.
//!
//! Rotation is by size and done by the writer that owns the descriptors: `RUN.log` and
//! `RUN.idx` are renamed to `RUN.SEG.log` / `RUN.SEG.idx` (SEG = 1, 2, … oldest first) and new
//! files are opened, so nothing is copied, lost or written twice: the segments in order, then
//! `RUN.log`, concatenate to exactly what the process wrote (minus segments past `keep`). A
//! segment is filled to the limit, never past it, and then cut at a line boundary: the bytes
//! after its last newline (if that newline is within its last [`CUT_WINDOW`] bytes) move to
//! the new `RUN.log`, with their index records, so that every segment, and so what the oldest
//! kept one starts with, is whole lines. Only that partial line is ever copied; a longer line is
//! cut at the limit. The partial line is written to the new file before the segment is cut, so
//! a daemon killed in between duplicates it rather than losing it.
//!
//! A failing disk never makes the two files disagree: every byte that reaches the log gets an
//! index record (a write cut short is indexed as far as it went), records whose write fails
//! stay pending until a flush works, the log is not written while too many are pending, and a
//! rotation that fails halfway puts the files back. Opening a run whose log holds bytes its
//! index does not cover (a daemon died in between) indexes that tail, as stdout.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Bytes in one index record.
pub const RECORD_LEN: usize = 16;

/// How far back from a full segment's end rotation looks for the newline to cut after.
pub const CUT_WINDOW: u64 = 64 << 10;

/// Index records kept pending before the log waits for them to be written.
const PENDING_MAX: usize = 64 * RECORD_LEN;

/// The log and index paths of one run in an entry's log folder.
pub fn run_paths(dir: &Path, run: u32) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{run}.log")),
        dir.join(format!("{run}.idx")),
    )
}

/// A run's log: read-write (bytes spliced in are read back for followers) and not O_APPEND
/// (splice refuses an appending file); it is written at its end, where its position is kept.
fn open_log(path: &Path) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    f.seek(SeekFrom::End(0))?;
    Ok(f)
}

/// What [`RunWriter::splice_from`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Spliced {
    /// `n` bytes moved into the log (and copied into the buffer); `dropped` bytes of old
    /// segments deleted by a rotation.
    Moved { n: usize, dropped: u64 },
    /// The pipe is empty for now.
    Dry,
    /// Every writer closed the pipe.
    Eof,
    /// This file system cannot take spliced bytes: read and write instead.
    Unsupported,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Writes as much of `data` as the file takes: the bytes written, and the error that stopped
/// it short, if one did.
fn write_some(f: &mut File, data: &[u8]) -> (usize, Option<io::Error>) {
    let mut done = 0;
    while done < data.len() {
        match f.write(&data[done..]) {
            Ok(0) => return (done, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
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
    /// Bytes in the current `.log`, every one of them covered by a record (written or pending).
    size: u64,
    next_segment: u32,
    rotation: Rotation,
    /// Index records not written yet (a failed write keeps them for the next flush).
    pending: Vec<u8>,
    /// Bytes of segments deleted by a rotation of a write that then failed: reported by the
    /// next write that works.
    owed_dropped: u64,
    /// Output may be spliced into the log (false once the file system refused it).
    splice: bool,
}

impl RunWriter {
    /// Opens run `run`'s files for appending (creating them), after the segments already
    /// there, indexing what its log holds beyond its index.
    pub fn create(dir: &Path, run: u32, rotation: Rotation) -> io::Result<RunWriter> {
        let (log_path, idx_path) = run_paths(dir, run);
        let log = open_log(&log_path)?;
        let idx = open_append(&idx_path)?;
        let size = log.metadata()?.len();
        let mut w = RunWriter {
            dir: dir.to_path_buf(),
            run,
            log,
            idx,
            size,
            next_segment: segment_numbers(dir, run).last().map_or(1, |s| s + 1),
            rotation,
            pending: Vec::new(),
            owed_dropped: 0,
            splice: true,
        };
        w.cover_tail(&idx_path)?;
        Ok(w)
    }

    /// Makes the index describe the log exactly: records past the log's end (or torn) are cut
    /// off, and log bytes no record covers get records of stream 1 (which stream wrote them
    /// cannot be known), timed by the log's last change.
    fn cover_tail(&mut self, idx_path: &Path) -> io::Result<()> {
        let idx_len = self.idx.metadata()?.len();
        let mut kept = 0u64;
        let mut covered = 0u64;
        for r in read_index(idx_path)? {
            if r.offset + u64::from(r.len) > self.size {
                break;
            }
            kept += 1;
            covered = r.offset + u64::from(r.len);
        }
        if kept * RECORD_LEN as u64 != idx_len {
            self.idx.set_len(kept * RECORD_LEN as u64)?;
        }
        let ts_us = self
            .log
            .metadata()?
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(crate::util::now_us, |d| d.as_micros() as u64);
        let mut rest = self.size - covered;
        while rest > 0 {
            let n = rest.min(u64::from(u32::MAX));
            self.push_record(crate::logs::STDOUT, ts_us, n as u32);
            rest -= n;
        }
        // A failure here leaves the records pending, for the next flush.
        let _ = self.flush_index();
        Ok(())
    }

    fn push_record(&mut self, stream: u8, ts_us: u64, len: u32) {
        self.pending.extend_from_slice(&ts_us.to_be_bytes());
        self.pending.extend_from_slice(&len.to_be_bytes());
        self.pending.extend_from_slice(&[stream, 0, 0, 0]);
    }

    /// Appends a chunk, filling the segment to the size limit and rotating when it is full. On
    /// error the bytes that did reach the log are indexed and the rest is not written. Returns
    /// the bytes of segments deleted by rotation.
    pub fn write(&mut self, stream: u8, ts_us: u64, data: &[u8]) -> io::Result<u64> {
        if self.pending.len() >= PENDING_MAX {
            // The log must not run ahead of an index that cannot be written.
            self.flush_index()?;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let mut take = rest.len().min(u32::MAX as usize);
            let max = self.rotation.max_size;
            if max > 0 {
                if self.size >= max {
                    self.owed_dropped += self.rotate()?;
                }
                take = take.min(usize::try_from(max - self.size).unwrap_or(usize::MAX));
            }
            let (n, err) = write_some(&mut self.log, &rest[..take]);
            if n > 0 {
                self.size += n as u64;
                self.push_record(stream, ts_us, n as u32);
            }
            if let Some(e) = err {
                return Err(e);
            }
            rest = &rest[n..];
        }
        if self.pending.len() >= PENDING_MAX {
            // Kept pending if this fails: the next write tries again first.
            let _ = self.flush_index();
        }
        Ok(std::mem::take(&mut self.owed_dropped))
    }

    /// Renames the current files to the next segment, reopens, moves the segment's last
    /// partial line into the new files, deletes segments past `keep`. If any step before the
    /// segment is cut fails, the files are put back as they were.
    fn rotate(&mut self) -> io::Result<u64> {
        self.flush_index()?;
        let carry = self.partial_line()?;
        let seg = self.next_segment;
        let (log, idx) = run_paths(&self.dir, self.run);
        let (seg_log, seg_idx) = segment_paths(&self.dir, self.run, seg);
        std::fs::rename(&log, &seg_log)?;
        if let Err(e) = std::fs::rename(&idx, &seg_idx) {
            let _ = std::fs::rename(&seg_log, &log);
            return Err(e);
        }
        let opened = open_log(&log).and_then(|l| Ok((l, open_append(&idx)?)));
        let (new_log, new_idx) = match opened {
            Ok(files) => files,
            Err(e) => {
                // Renaming over a new empty file, if one was made, replaces it.
                let _ = std::fs::rename(&seg_log, &log);
                let _ = std::fs::rename(&seg_idx, &idx);
                return Err(e);
            }
        };
        let old_log = std::mem::replace(&mut self.log, new_log);
        let old_idx = std::mem::replace(&mut self.idx, new_idx);
        let old_size = std::mem::replace(&mut self.size, 0);
        if let Some(c) = carry {
            // Into the new files first: a failure puts everything back, a death from here on
            // duplicates the partial line instead of losing it.
            let err = write_some(&mut self.log, &c.bytes).1.or_else(|| {
                let mut recs = Vec::with_capacity(c.records.len() * RECORD_LEN);
                for r in &c.records {
                    recs.extend_from_slice(&r.ts_us.to_be_bytes());
                    recs.extend_from_slice(&r.len.to_be_bytes());
                    recs.extend_from_slice(&[r.stream, 0, 0, 0]);
                }
                write_some(&mut self.idx, &recs).1
            });
            if let Some(e) = err {
                // Renaming over the new files replaces them.
                self.log = old_log;
                self.idx = old_idx;
                self.size = old_size;
                let _ = std::fs::rename(&seg_log, &log);
                let _ = std::fs::rename(&seg_idx, &idx);
                return Err(e);
            }
            self.size = c.bytes.len() as u64;
            // Then the segment is cut after its newline (its index first, so that it never
            // covers more than the log).
            let cut_idx = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&seg_idx)
                .and_then(|f| {
                    f.set_len(c.keep_records * RECORD_LEN as u64)?;
                    if let Some(len) = c.split_len {
                        use std::os::unix::fs::FileExt;
                        let at = (c.keep_records - 1) * RECORD_LEN as u64 + 8;
                        f.write_all_at(&len.to_be_bytes(), at)?;
                    }
                    Ok(())
                });
            if cut_idx.is_ok() {
                let _ = old_log.set_len(c.cut);
            }
        }
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

    /// The current log's last partial line, if a newline within its last [`CUT_WINDOW`] bytes
    /// ends the lines before it: its bytes and the index records that cover them (the first
    /// one cut to what is past the newline). The index must be flushed.
    fn partial_line(&self) -> io::Result<Option<Carry>> {
        use std::os::unix::fs::FileExt;
        let window = self.size.min(CUT_WINDOW);
        if window == 0 {
            return Ok(None);
        }
        let mut tail = vec![0u8; window as usize];
        self.log.read_exact_at(&mut tail, self.size - window)?;
        let Some(nl) = tail.iter().rposition(|&b| b == b'\n') else {
            return Ok(None);
        };
        let bytes = tail.split_off(nl + 1);
        if bytes.is_empty() {
            return Ok(None);
        }
        let cut = self.size - bytes.len() as u64;
        // The records covering the tail, read back from the index's end.
        // (The writer's index descriptor is append-only.)
        let idx = File::open(run_paths(&self.dir, self.run).1)?;
        let n_records = idx.metadata()?.len() / RECORD_LEN as u64;
        let mut records: Vec<Record> = Vec::new();
        let mut covered = 0u64;
        let mut first = n_records;
        let mut rec = [0u8; RECORD_LEN];
        while covered < bytes.len() as u64 {
            if first == 0 {
                // The index covers less than the log (it cannot, once flushed): no cut.
                return Ok(None);
            }
            first -= 1;
            idx.read_exact_at(&mut rec, first * RECORD_LEN as u64)?;
            let r = Record {
                ts_us: u64::from_be_bytes(rec[0..8].try_into().unwrap_or_default()),
                len: u32::from_be_bytes(rec[8..12].try_into().unwrap_or_default()),
                stream: rec[12],
                offset: 0,
            };
            covered += u64::from(r.len);
            records.push(r);
        }
        records.reverse();
        // The first record's bytes before the cut stay in the segment.
        let stays = (covered - bytes.len() as u64) as u32;
        let split_len = (stays > 0).then_some(stays);
        records[0].len -= stays;
        Ok(Some(Carry {
            bytes,
            cut,
            records,
            keep_records: first + u64::from(stays > 0),
            split_len,
        }))
    }

    /// Writes buffered index records. What a failed write did not take stays pending (a
    /// record cut in two on disk is completed by the next flush).
    pub fn flush_index(&mut self) -> io::Result<()> {
        let (n, err) = write_some(&mut self.idx, &self.pending);
        self.pending.drain(..n);
        err.map_or(Ok(()), Err)
    }

    /// Whether index records wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves what pipe `src` holds (at most `buf.len()` bytes) straight into the log with
    /// splice(2), indexes it as `stream`, and copies it into `buf` for readers. The bytes leave
    /// the pipe only as they enter the file, so a daemon killed at any moment loses none of
    /// them (a kill before the index record is written leaves a tail the next writer indexes,
    /// see [`Self::create`]). Rotates first when the segment is full.
    pub fn splice_from(
        &mut self,
        src: BorrowedFd<'_>,
        stream: u8,
        ts_us: u64,
        buf: &mut [u8],
    ) -> io::Result<Spliced> {
        if !self.splice {
            return Ok(Spliced::Unsupported);
        }
        if self.pending.len() >= PENDING_MAX {
            self.flush_index()?;
        }
        let mut dropped = 0;
        let mut take = buf.len();
        let max = self.rotation.max_size;
        if max > 0 {
            if self.size >= max {
                dropped += self.rotate()?;
            }
            take = take.min(usize::try_from(max - self.size).unwrap_or(usize::MAX));
        }
        let at = self.size;
        let n = loop {
            match rustix::pipe::splice(
                src,
                None,
                &self.log,
                None,
                take,
                rustix::pipe::SpliceFlags::NONBLOCK,
            ) {
                Ok(0) => return Ok(Spliced::Eof),
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Ok(Spliced::Dry),
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                    self.splice = false;
                    return Ok(Spliced::Unsupported);
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.size += n as u64;
        self.push_record(stream, ts_us, n as u32);
        let mut got = 0;
        while got < n {
            match rustix::io::pread(&self.log, &mut buf[got..n], at + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if got < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the log is shorter than what was just written to it",
            ));
        }
        if self.pending.len() >= PENDING_MAX {
            let _ = self.flush_index();
        }
        Ok(Spliced::Moved {
            n,
            dropped: dropped + std::mem::take(&mut self.owed_dropped),
        })
    }

    /// Empties the current files (for `logs --clear`).
    pub fn truncate(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.log.set_len(0)?;
        self.log.seek(SeekFrom::Start(0))?;
        self.idx.set_len(0)?;
        self.size = 0;
        Ok(())
    }
}

/// A full segment's last partial line, moving to the next segment.
struct Carry {
    bytes: Vec<u8>,
    /// Where the segment is cut (after its last newline).
    cut: u64,
    /// The records of `bytes`, in order.
    records: Vec<Record>,
    /// Records the segment's index keeps.
    keep_records: u64,
    /// The new length of the last kept record, when the cut falls inside it.
    split_len: Option<u32>,
}

/// The paths of rotated segment `seg` of a run.
pub fn segment_paths(dir: &Path, run: u32, seg: u32) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{run}.{seg}.log")),
        dir.join(format!("{run}.{seg}.idx")),
    )
}

/// The numbers of a run's rotated segments on disk, oldest first.
fn segment_numbers(dir: &Path, run: u32) -> Vec<u32> {
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
    segs
}

/// A run's files in order: rotated segments oldest first, then the current `RUN.log`.
pub fn run_segments(dir: &Path, run: u32) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = segment_numbers(dir, run)
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
            let mut chunk = vec![b'a' + i; 3];
            chunk.push(b'\n');
            dropped += w.write(1, i as u64, &chunk).unwrap();
            all.extend_from_slice(&chunk);
        }
        w.flush_index().unwrap();
        let segs = run_segments(&dir, 1);
        // 12 lines of 4 bytes, 2 per file (a third does not fit whole): 6 files, the 3 oldest
        // segments deleted.
        assert_eq!(segs.len(), 3);
        assert_eq!(dropped, 24);
        let mut cat = Vec::new();
        for (log, idx) in &segs {
            let bytes = std::fs::read(log).unwrap();
            assert_eq!(bytes.len(), 8, "{}", log.display());
            let covered: u64 = read_index(idx).unwrap().iter().map(|r| r.len as u64).sum();
            assert_eq!(covered, 8);
            cat.extend(bytes);
        }
        assert_eq!(cat, all[24..]);
        remove_run(&dir, 1);
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wrangle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn record(ts_us: u64, len: u32, stream: u8) -> Vec<u8> {
        let mut r = ts_us.to_be_bytes().to_vec();
        r.extend_from_slice(&len.to_be_bytes());
        r.extend_from_slice(&[stream, 0, 0, 0]);
        r
    }

    #[test]
    fn reopening_indexes_the_log_tail_the_index_missed_as_stdout() {
        let dir = fresh_dir("logtail");
        let (log, idx) = run_paths(&dir, 2);
        // A daemon died after writing "out\nerr\nlost\n" but indexing only the first two
        // chunks, one record of them torn.
        std::fs::write(&log, b"out\nerr\nlost\n").unwrap();
        let mut index = record(1, 4, 1);
        index.extend(record(2, 4, 2));
        index.extend(&record(3, 5, 2)[..7]);
        std::fs::write(&idx, &index).unwrap();
        let rot = Rotation {
            max_size: 0,
            keep: 0,
        };
        let mut w = RunWriter::create(&dir, 2, rot).unwrap();
        let recs = read_index(&idx).unwrap();
        assert_eq!(
            std::fs::metadata(&idx).unwrap().len(),
            3 * RECORD_LEN as u64
        );
        assert_eq!(
            recs.iter()
                .map(|r| (r.offset, r.len, r.stream))
                .collect::<Vec<_>>(),
            [(0, 4, 1), (4, 4, 2), (8, 5, 1)]
        );
        // Appending goes on after the tail, indexed exactly.
        w.write(2, 9, b"more\n").unwrap();
        w.flush_index().unwrap();
        let recs = read_index(&idx).unwrap();
        assert_eq!((recs[3].offset, recs[3].len, recs[3].stream), (13, 5, 2));
        drop(w);
        // An index covering more than the log (the log was cut) loses the records past it.
        std::fs::write(&log, b"out\nerr\nlo").unwrap();
        RunWriter::create(&dir, 2, rot).unwrap();
        let recs = read_index(&idx).unwrap();
        assert_eq!(
            recs.iter()
                .map(|r| (r.offset, r.len, r.stream))
                .collect::<Vec<_>>(),
            [(0, 4, 1), (4, 4, 2), (8, 2, 1)]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_segment_grows_past_the_limit_and_reopening_keeps_numbering() {
        let dir = fresh_dir("logsplit");
        let rot = Rotation {
            max_size: 10,
            keep: 100,
        };
        let mut w = RunWriter::create(&dir, 1, rot).unwrap();
        let all: Vec<u8> = (0..37u8).map(|i| b'a' + i % 26).collect();
        w.write(1, 1, &all[..3]).unwrap();
        w.write(2, 2, &all[3..28]).unwrap();
        w.flush_index().unwrap();
        drop(w);
        // A writer reopened on the run must not overwrite its segments.
        let mut w = RunWriter::create(&dir, 1, rot).unwrap();
        w.write(1, 3, &all[28..]).unwrap();
        w.flush_index().unwrap();
        let mut cat = Vec::new();
        for (log, idx) in run_segments(&dir, 1) {
            let bytes = std::fs::read(&log).unwrap();
            assert!(
                bytes.len() <= 10,
                "{} holds {} bytes",
                log.display(),
                bytes.len()
            );
            let covered: u64 = read_index(&idx).unwrap().iter().map(|r| r.len as u64).sum();
            assert_eq!(covered, bytes.len() as u64);
            cat.extend(bytes);
        }
        assert_eq!(cat, all);
        // No newline to cut after: 10, 10, 10 and 7 bytes.
        assert_eq!(run_segments(&dir, 1).len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_cuts_after_the_last_newline_and_moves_its_records() {
        let dir = fresh_dir("logcut");
        let rot = Rotation {
            max_size: 10,
            keep: 100,
        };
        let mut w = RunWriter::create(&dir, 1, rot).unwrap();
        w.write(1, 1, b"0123\n56789abc\n").unwrap();
        w.write(2, 2, b"de").unwrap();
        w.flush_index().unwrap();
        let (seg, seg_idx) = segment_paths(&dir, 1, 1);
        assert_eq!(std::fs::read(&seg).unwrap(), b"0123\n");
        let recs = |p: &Path| {
            read_index(p)
                .unwrap()
                .iter()
                .map(|r| (r.ts_us, r.len, r.stream))
                .collect::<Vec<_>>()
        };
        // The record cut in two keeps its time and stream on both sides.
        assert_eq!(recs(&seg_idx), [(1, 5, 1)]);
        // "de" filled the second segment to 10 bytes: "d" moved on, the cut fell between
        // records.
        let (seg2, seg2_idx) = segment_paths(&dir, 1, 2);
        assert_eq!(std::fs::read(&seg2).unwrap(), b"56789abc\n");
        assert_eq!(recs(&seg2_idx), [(1, 5, 1), (1, 4, 1)]);
        let (log, idx) = run_paths(&dir, 1);
        assert_eq!(std::fs::read(&log).unwrap(), b"de");
        assert_eq!(recs(&idx), [(2, 1, 2), (2, 1, 2)]);
        drop(w);
        // A line longer than the window is cut at the limit.
        let big = Rotation {
            max_size: CUT_WINDOW + 100,
            keep: 100,
        };
        let mut w = RunWriter::create(&dir, 2, big).unwrap();
        let mut data = b"head\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', CUT_WINDOW as usize + 200));
        w.write(1, 1, &data).unwrap();
        w.flush_index().unwrap();
        let (seg, _) = segment_paths(&dir, 2, 1);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), CUT_WINDOW + 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
