//! Reading a run's log back as lines: the segments of a run seen as one byte sequence, split by
//! stream with the index, assembled into lines per stream (a line keeps the receive time of its
//! first byte), streaming in bounded memory so that a gigabyte of log never has to fit in RAM.

use super::file::{read_index, run_segments, Record};
use super::scan::Lines;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How much of a log file is read at once: big enough that system calls and per-block work
/// vanish, small enough to stay in the CPU's caches while it is searched.
const BLOCK: usize = 256 << 10;

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub run: u32,
    /// When its first byte was received (µs since the epoch).
    pub ts_us: u64,
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// The bytes, with the newline when the line is complete.
    pub text: Vec<u8>,
}

impl LogLine {
    /// The text without its newline.
    pub fn body(&self) -> &[u8] {
        self.text.strip_suffix(b"\n").unwrap_or(&self.text)
    }

    /// Borrowed.
    pub fn as_ref(&self) -> LineRef<'_> {
        LineRef {
            run: self.run,
            ts_us: self.ts_us,
            stream: self.stream,
            text: &self.text,
        }
    }
}

/// A line as the reader hands it out, borrowed from its buffers (copied only if kept).
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    pub run: u32,
    pub ts_us: u64,
    pub stream: u8,
    pub text: &'a [u8],
}

impl LineRef<'_> {
    /// The text without its newline.
    pub fn body(&self) -> &[u8] {
        self.text.strip_suffix(b"\n").unwrap_or(self.text)
    }

    pub fn to_line(&self) -> LogLine {
        LogLine {
            run: self.run,
            ts_us: self.ts_us,
            stream: self.stream,
            text: self.text.to_vec(),
        }
    }
}

struct Seg {
    log: PathBuf,
    recs: Vec<Record>,
    /// Run offset of the segment's first byte.
    base: u64,
    len: u64,
}

/// A run's log files as one sequence of bytes (run offsets), oldest segment first.
pub struct RunView {
    pub run: u32,
    segs: Vec<Seg>,
    /// Run offset of the first byte still on disk.
    pub start: u64,
    /// Run offset after the last byte to consider.
    pub end: u64,
    /// Bytes read at once.
    block: usize,
}

impl RunView {
    /// Opens run `run` in `dir`. `dropped` is how many of the run's first bytes were deleted by
    /// rotation; `limit` (run offset) caps what is read, so bytes written after the daemon's
    /// answer are left to the live stream.
    pub fn open(dir: &Path, run: u32, dropped: u64, limit: Option<u64>) -> io::Result<RunView> {
        let mut segs = Vec::new();
        let mut base = dropped;
        for (log, idx) in run_segments(dir, run) {
            let len = match std::fs::metadata(&log) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut recs = read_index(&idx)?;
            let covered = recs.last().map_or(0, |r| r.offset + r.len as u64);
            if covered < len {
                // The index lags the log by a moment: the rest is the last stream's.
                let last = recs.last().copied();
                recs.push(Record {
                    ts_us: last.map_or(0, |r| r.ts_us),
                    offset: covered,
                    len: (len - covered) as u32,
                    stream: last.map_or(1, |r| r.stream),
                });
            }
            segs.push(Seg {
                log,
                recs,
                base,
                len,
            });
            base += len;
        }
        let end = limit.map_or(base, |l| l.min(base));
        Ok(RunView {
            run,
            segs,
            start: dropped,
            end,
            block: BLOCK,
        })
    }

    /// None of the run's files is on disk (they could not be made, or were deleted).
    pub fn missing(&self) -> bool {
        self.segs.is_empty()
    }

    /// The run offset of the first chunk received at or after `ts_us` (`end` if none).
    pub fn offset_at(&self, ts_us: u64) -> u64 {
        for s in &self.segs {
            if let Some(r) = s.recs.iter().find(|r| r.ts_us >= ts_us) {
                return (s.base + r.offset).min(self.end);
            }
        }
        self.end
    }

    /// Calls `f` with every line of the wanted streams (bitmask 1 stdout, 2 stderr) that lies
    /// in `[from, to)`, in the order lines complete. With `skip_first`, each stream's first
    /// line is dropped (it may have been cut by `from`). `f` returns false to stop.
    pub fn lines(
        &self,
        from: u64,
        to: u64,
        streams: u8,
        skip_first: bool,
        f: &mut dyn FnMut(&LineRef) -> bool,
    ) -> io::Result<()> {
        let mut lines = Lines::new(None, false, skip_first);
        let run = self.run;
        if self.blocks(from, to, streams, &mut |p| {
            lines.feed(run, p, &mut |_, l| f(l))
        })? {
            lines.finish(run, &mut |_, l| f(l));
        }
        Ok(())
    }

    /// Reads `[from, to)` a block at a time and calls `f` with each stretch of a wanted
    /// stream in it (consecutive chunks of one stream are one piece), in file order. `f`
    /// returns false to stop; the result says whether it went to the end.
    pub fn blocks(
        &self,
        from: u64,
        to: u64,
        streams: u8,
        f: &mut dyn FnMut(&Piece) -> bool,
    ) -> io::Result<bool> {
        let to = to.min(self.end);
        let mut buf = Vec::new();
        for seg in &self.segs {
            let (a, b) = (from.max(seg.base), to.min(seg.base + seg.len));
            if a >= b {
                continue;
            }
            let file = File::open(&seg.log)?;
            let end_of = |r: &Record| seg.base + r.offset + u64::from(r.len);
            let mut ri = seg.recs.partition_point(|r| end_of(r) <= a);
            let mut pos = a;
            while pos < b && ri < seg.recs.len() {
                let n = (b - pos).min(self.block as u64);
                buf.resize(n as usize, 0);
                file.read_exact_at(&mut buf, pos - seg.base)?;
                let bend = pos + n;
                let mut p = pos;
                while p < bend && ri < seg.recs.len() {
                    // The stretch of one stream from p: records ri..=rj.
                    let stream = stream_of(&seg.recs[ri]);
                    let mut rj = ri;
                    while rj + 1 < seg.recs.len()
                        && end_of(&seg.recs[rj]) < bend
                        && stream_of(&seg.recs[rj + 1]) == stream
                    {
                        rj += 1;
                    }
                    let q = end_of(&seg.recs[rj]).min(bend);
                    let piece = Piece {
                        stream,
                        at: p,
                        data: &buf[(p - pos) as usize..(q - pos) as usize],
                        recs: &seg.recs,
                        base: seg.base,
                    };
                    if streams & stream != 0 && !f(&piece) {
                        return Ok(false);
                    }
                    ri = if q == end_of(&seg.recs[rj]) {
                        rj + 1
                    } else {
                        rj
                    };
                    p = q;
                }
                pos = bend;
            }
        }
        Ok(true)
    }

    /// Reads blocks of `n` bytes (tests cut lines at block boundaries with tiny blocks).
    #[cfg(test)]
    pub fn set_block(&mut self, n: usize) {
        self.block = n;
    }
}

fn stream_of(r: &Record) -> u8 {
    if r.stream == 2 {
        2
    } else {
        1
    }
}

/// A stretch of one stream's bytes in a block that [`RunView::blocks`] read.
pub struct Piece<'a> {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// The run offset of `data[0]`.
    pub at: u64,
    pub data: &'a [u8],
    recs: &'a [Record],
    base: u64,
}

impl Piece<'_> {
    /// When the byte at run offset `off` (within this piece's segment) was received.
    pub fn ts_at(&self, off: u64) -> u64 {
        let i = self
            .recs
            .partition_point(|r| self.base + r.offset + u64::from(r.len) <= off);
        self.recs.get(i).or(self.recs.last()).map_or(0, |r| r.ts_us)
    }
}

/// The last `n` lines of `view` for the wanted streams, reading growing windows from the end.
pub fn tail(view: &RunView, streams: u8, n: usize) -> io::Result<Vec<LogLine>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut window: u64 = 64 << 10;
    loop {
        let from = view.end.saturating_sub(window).max(view.start);
        let mut lines = std::collections::VecDeque::new();
        view.lines(from, view.end, streams, from > view.start, &mut |l| {
            lines.push_back(l.to_line());
            if lines.len() > n {
                lines.pop_front();
            }
            true
        })?;
        if lines.len() >= n || from == view.start {
            return Ok(lines.into());
        }
        window = window.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::file::{Rotation, RunWriter};

    fn collect(v: &RunView, streams: u8) -> Vec<(u8, String, u64)> {
        let mut out = Vec::new();
        v.lines(v.start, v.end, streams, false, &mut |l| {
            out.push((
                l.stream,
                String::from_utf8_lossy(l.text).into_owned(),
                l.ts_us,
            ));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_per_stream_across_rotated_segments() {
        let dir = std::env::temp_dir().join(format!("wrangle-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = RunWriter::create(
            &dir,
            1,
            Rotation {
                max_size: 8,
                keep: 10,
            },
        )
        .unwrap();
        w.write(1, 1, b"hel").unwrap();
        w.write(2, 2, b"oops\n").unwrap();
        w.write(1, 3, b"lo\nwor").unwrap();
        w.write(1, 4, b"ld\nend").unwrap();
        w.flush_index().unwrap();
        let v = RunView::open(&dir, 1, 0, None).unwrap();
        assert_eq!(v.end, 20);
        assert_eq!(
            collect(&v, 3),
            vec![
                (2, "oops\n".into(), 2),
                (1, "hello\n".into(), 1),
                (1, "world\n".into(), 3),
                (1, "end".into(), 4),
            ]
        );
        assert_eq!(collect(&v, 2), vec![(2, "oops\n".into(), 2)]);
        let t = tail(&v, 1, 2).unwrap();
        assert_eq!(
            t.iter().map(|l| l.text.clone()).collect::<Vec<_>>(),
            [b"world\n".to_vec(), b"end".to_vec()]
        );
        assert_eq!(v.offset_at(3), 8);
        let limited = RunView::open(&dir, 1, 0, Some(10)).unwrap();
        assert_eq!(collect(&limited, 1), vec![(1, "hello".into(), 1)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
