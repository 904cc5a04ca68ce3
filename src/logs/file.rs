//! Per-run log files. Each run of an entry writes `RUN.log`, every byte of stdout and stderr in
//! arrival order exactly as the process wrote it (so `less` and `tail -f` work), and `RUN.idx`,
//! one 16-byte record per captured chunk: receive time (µs since the epoch, u64 BE), length
//! (u32 BE), stream (u8: 1 stdout, 2 stderr), three zero bytes. The index lets readers split the
//! streams and timestamp lines without touching the plain log.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
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

/// Writes one run's log and index. Index records are buffered and written by `flush_index`.
pub struct RunWriter {
    log: File,
    idx: File,
    pending: Vec<u8>,
}

impl RunWriter {
    pub fn create(dir: &Path, run: u32) -> io::Result<RunWriter> {
        let (log, idx) = run_paths(dir, run);
        Ok(RunWriter {
            log: open_append(&log)?,
            idx: open_append(&idx)?,
            pending: Vec::new(),
        })
    }

    /// Appends a chunk. On error nothing of the chunk is indexed.
    pub fn write(&mut self, stream: u8, ts_us: u64, data: &[u8]) -> io::Result<()> {
        self.log.write_all(data)?;
        self.pending.extend_from_slice(&ts_us.to_be_bytes());
        self.pending
            .extend_from_slice(&(data.len() as u32).to_be_bytes());
        self.pending.extend_from_slice(&[stream, 0, 0, 0]);
        if self.pending.len() >= 64 * RECORD_LEN {
            self.flush_index()?;
        }
        Ok(())
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

/// Reads `len` bytes of a run's log from `offset` and returns, in arrival order, the pieces
/// that belong to the wanted streams (bitmask: 1 stdout, 2 stderr). Bytes past the index's
/// coverage (it is written a moment after the log) count as the last indexed stream.
pub fn read_streams(
    log: &Path,
    index: &[Record],
    offset: u64,
    len: u64,
    streams: u8,
) -> io::Result<Vec<u8>> {
    let mut f = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let end = offset + len;
    let mut out = Vec::new();
    let wanted = |s: u8| streams & s != 0 || (s != 1 && s != 2 && streams & 1 != 0);
    let covered = index.last().map_or(0, |r| r.offset + r.len as u64);
    let tail_stream = index.last().map_or(1, |r| r.stream);
    let mut pieces: Vec<(u64, u64)> = Vec::new();
    for r in index {
        let (a, b) = (r.offset.max(offset), (r.offset + r.len as u64).min(end));
        if a < b && wanted(r.stream) {
            match pieces.last_mut() {
                Some(p) if p.1 == a => p.1 = b,
                _ => pieces.push((a, b)),
            }
        }
    }
    if covered < end && wanted(tail_stream) {
        let a = covered.max(offset);
        match pieces.last_mut() {
            Some(p) if p.1 == a => p.1 = end,
            _ => pieces.push((a, end)),
        }
    }
    for (a, b) in pieces {
        f.seek(SeekFrom::Start(a))?;
        let before = out.len();
        (&mut f).take(b - a).read_to_end(&mut out)?;
        if ((out.len() - before) as u64) < b - a {
            break;
        }
    }
    Ok(out)
}

/// The start of the last `n` lines of `data` (a final line without a newline counts).
pub fn tail_start(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    let body = match data.last() {
        Some(b'\n') => &data[..data.len() - 1],
        _ => data,
    };
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_plain_log_and_splits_streams_by_index() {
        let dir = std::env::temp_dir().join(format!("wrangle-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = RunWriter::create(&dir, 3).unwrap();
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
        assert_eq!(read_streams(&log, &index, 0, 14, 1).unwrap(), b"out1\nout2");
        assert_eq!(read_streams(&log, &index, 0, 14, 2).unwrap(), b"err1\n");
        assert_eq!(
            read_streams(&log, &index, 0, 14, 3).unwrap(),
            b"out1\nerr1\nout2"
        );
        assert_eq!(read_streams(&log, &index, 7, 5, 3).unwrap(), b"r1\nou");
        // Bytes beyond the index count as the last stream.
        w.write(1, 13, b"!").unwrap();
        assert_eq!(
            read_streams(&log, &index, 0, 15, 1).unwrap(),
            b"out1\nout2!"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        assert_eq!(tail_start(b"a\nb\nc\n", 2), 2);
        assert_eq!(tail_start(b"a\nb\nc", 2), 2);
        assert_eq!(tail_start(b"a\nb\nc\n", 5), 0);
        assert_eq!(tail_start(b"a\nb\nc\n", 0), 6);
        assert_eq!(tail_start(b"", 3), 0);
        assert_eq!(tail_start(b"\n\n", 1), 1);
    }
}
