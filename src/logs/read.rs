//! Reading a run's log back as lines: the segments of a run seen as one byte sequence, split by
//! stream with the index, assembled into lines per stream (a line keeps the receive time of its
//! first byte), streaming in bounded memory so that a gigabyte of log never has to fit in RAM.

use super::bytes::memchr;
use super::file::{read_index, run_segments, Record};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A partial line longer than this is handed out as is (marked incomplete).
const MAX_LINE: usize = 1 << 20;

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
        let to = to.min(self.end);
        let mut parts = [Partial::new(skip_first), Partial::new(skip_first)];
        let mut buf = Vec::new();
        for seg in &self.segs {
            let (a, b) = (from.max(seg.base), to.min(seg.base + seg.len));
            if a >= b {
                continue;
            }
            let mut file = BufReader::with_capacity(1 << 20, File::open(&seg.log)?);
            file.seek(SeekFrom::Start(a - seg.base))?;
            let mut pos = a;
            for r in &seg.recs {
                let (ra, rb) = (seg.base + r.offset, seg.base + r.offset + r.len as u64);
                let (ca, cb) = (ra.max(pos), rb.min(b));
                if ca >= cb {
                    if ra >= b {
                        break;
                    }
                    continue;
                }
                buf.resize((cb - ca) as usize, 0);
                file.read_exact(&mut buf)?;
                pos = cb;
                let stream = if r.stream == 2 { 2 } else { 1 };
                if streams & stream == 0 {
                    continue;
                }
                let p = &mut parts[stream as usize - 1];
                if !p.feed(self.run, r.ts_us, stream, &buf, f) {
                    return Ok(());
                }
            }
        }
        for (i, p) in parts.iter_mut().enumerate() {
            if !p.skip && !p.buf.is_empty() {
                let line = LineRef {
                    run: self.run,
                    ts_us: p.ts,
                    stream: i as u8 + 1,
                    text: &p.buf,
                };
                if !f(&line) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A line being assembled for one stream.
struct Partial {
    buf: Vec<u8>,
    ts: u64,
    skip: bool,
}

impl Partial {
    fn new(skip: bool) -> Partial {
        Partial {
            buf: Vec::new(),
            ts: 0,
            skip,
        }
    }

    fn feed(
        &mut self,
        run: u32,
        ts: u64,
        stream: u8,
        mut data: &[u8],
        f: &mut dyn FnMut(&LineRef) -> bool,
    ) -> bool {
        while !data.is_empty() {
            let Some(i) = memchr(b'\n', data) else {
                if self.buf.is_empty() {
                    self.ts = ts;
                }
                self.buf.extend_from_slice(data);
                if self.buf.len() >= MAX_LINE {
                    // Hand out an endless line in pieces rather than hold it all.
                    if !self.skip {
                        let line = LineRef {
                            run,
                            ts_us: self.ts,
                            stream,
                            text: &self.buf,
                        };
                        if !f(&line) {
                            return false;
                        }
                    }
                    self.buf.clear();
                }
                return true;
            };
            let piece = &data[..=i];
            data = &data[i + 1..];
            if self.skip {
                self.skip = false;
                self.buf.clear();
                continue;
            }
            let keep_going = if self.buf.is_empty() {
                // The common case: the whole line is in this chunk; no copy.
                f(&LineRef {
                    run,
                    ts_us: ts,
                    stream,
                    text: piece,
                })
            } else {
                self.buf.extend_from_slice(piece);
                let r = f(&LineRef {
                    run,
                    ts_us: self.ts,
                    stream,
                    text: &self.buf,
                });
                self.buf.clear();
                r
            };
            if !keep_going {
                return false;
            }
        }
        true
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
