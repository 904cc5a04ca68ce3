//! Cutting a run's log into lines a block at a time: each stream's pieces of the blocks that
//! [`RunView::blocks`](super::read::RunView::blocks) reads are split at newlines with memchr, a
//! line cut by a block (or by the other stream's output) is carried to its stream's next piece,
//! and with a pattern only the matching lines come out, found by searching a whole piece at once
//! rather than line by line.

use super::bytes::memchr;
use super::pattern::Pattern;
use super::read::{LineRef, Piece};
use std::cell::Cell;

/// A partial line longer than this is handed out as is (without its newline).
const MAX_LINE: usize = 1 << 20;

/// The line splitter of one run.
pub struct Lines<'p> {
    pattern: Option<&'p Pattern>,
    /// Whether `index` must count the lines that do not match too (it costs a pass over them).
    count: bool,
    /// Lines completed so far: the number the next one gets. Without a pattern or with
    /// `count`, every line counts; otherwise only the matching ones do.
    pub index: u64,
    /// Lines numbered below this are counted but not handed out (their caller moves it on as
    /// it goes, to skip what it does not want cheaply). Only without a pattern.
    pub wanted_from: Option<&'p Cell<u64>>,
    carry: [Carry; 2],
}

/// The unfinished line of one stream.
struct Carry {
    buf: Vec<u8>,
    /// When its first byte was received.
    ts: u64,
    /// Drop everything up to the stream's first newline.
    skip: bool,
}

type Sink<'f> = &'f mut dyn FnMut(u64, &LineRef) -> bool;

impl<'p> Lines<'p> {
    /// Lines matching `pattern` (all lines without one); with `skip_first`, each stream's
    /// first line is dropped.
    pub fn new(pattern: Option<&'p Pattern>, count: bool, skip_first: bool) -> Lines<'p> {
        let carry = || Carry {
            buf: Vec::new(),
            ts: 0,
            skip: skip_first,
        };
        Lines {
            pattern,
            count,
            index: 0,
            wanted_from: None,
            carry: [carry(), carry()],
        }
    }

    /// Takes the next piece of the run; calls `f(index, line)` for each line it completes that
    /// is wanted. False when `f` asked to stop.
    pub fn feed(&mut self, run: u32, piece: &Piece, f: Sink) -> bool {
        let d = piece.data;
        let si = usize::from(piece.stream == 2);
        let mut pos = 0;
        if self.carry[si].skip || !self.carry[si].buf.is_empty() {
            // First, the end of the line that earlier pieces began.
            let Some(i) = memchr(b'\n', d) else {
                return self.hold(run, piece, 0, f);
            };
            pos = i + 1;
            let c = &mut self.carry[si];
            if c.skip {
                c.skip = false;
                c.buf.clear();
            } else {
                c.buf.extend_from_slice(&d[..pos]);
                let (buf, ts) = (std::mem::take(&mut c.buf), c.ts);
                let go_on = self.offer(run, piece.stream, ts, &buf, f);
                self.carry[si].buf = buf;
                self.carry[si].buf.clear();
                if !go_on {
                    return false;
                }
            }
        }
        let whole = memchr::memrchr(b'\n', &d[pos..]).map_or(pos, |j| pos + j + 1);
        if whole > pos && !self.block(run, piece, pos, whole, f) {
            return false;
        }
        whole == d.len() || self.hold(run, piece, whole, f)
    }

    /// Hands out each stream's unfinished last line (stdout first).
    pub fn finish(&mut self, run: u32, f: Sink) -> bool {
        for si in 0..2 {
            let c = &mut self.carry[si];
            if c.skip || c.buf.is_empty() {
                continue;
            }
            let (buf, ts) = (std::mem::take(&mut c.buf), c.ts);
            if !self.offer(run, si as u8 + 1, ts, &buf, f) {
                return false;
            }
        }
        true
    }

    /// Keeps `piece.data[from..]`, which holds no newline, as (part of) its stream's
    /// unfinished line; hands it out if it grew too long.
    fn hold(&mut self, run: u32, piece: &Piece, from: usize, f: Sink) -> bool {
        let c = &mut self.carry[usize::from(piece.stream == 2)];
        if c.skip {
            return true;
        }
        if c.buf.is_empty() {
            c.ts = piece.ts_at(piece.at + from as u64);
        }
        c.buf.extend_from_slice(&piece.data[from..]);
        if c.buf.len() < MAX_LINE {
            return true;
        }
        let (buf, ts) = (std::mem::take(&mut c.buf), c.ts);
        let go_on = self.offer(run, piece.stream, ts, &buf, f);
        let c = &mut self.carry[usize::from(piece.stream == 2)];
        c.buf = buf;
        c.buf.clear();
        go_on
    }

    /// One line, tried against the pattern.
    fn offer(&mut self, run: u32, stream: u8, ts_us: u64, text: &[u8], f: Sink) -> bool {
        if self.wanted_from.is_some_and(|w| self.index < w.get()) {
            self.index += 1;
            return true;
        }
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        let picked = self.pattern.is_none_or(|p| p.is_match(body));
        if !picked && !self.count {
            return true;
        }
        let i = self.index;
        self.index += 1;
        !picked
            || f(
                i,
                &LineRef {
                    run,
                    ts_us,
                    stream,
                    text,
                },
            )
    }

    /// The whole lines `piece.data[a..b]` (it starts at a line start and ends with a newline).
    fn block(&mut self, run: u32, piece: &Piece, a: usize, b: usize, f: Sink) -> bool {
        let region = &piece.data[a..b];
        let line = |s: usize, e: usize| LineRef {
            run,
            ts_us: piece.ts_at(piece.at + (a + s) as u64),
            stream: piece.stream,
            text: &region[s..=e],
        };
        match self.pattern {
            Some(p) if p.blockwise() => {
                let mut at = 0;
                while let Some((s, e)) = p.next_line(region, at) {
                    if self.count {
                        self.index += count_lines(&region[at..s]);
                    }
                    let i = self.index;
                    self.index += 1;
                    if !f(i, &line(s, e)) {
                        return false;
                    }
                    at = e + 1;
                }
                if self.count {
                    self.index += count_lines(&region[at..]);
                }
                true
            }
            _ => {
                let mut s = 0;
                let mut ends = memchr::memchr_iter(b'\n', region);
                loop {
                    // Unwanted lines are only counted.
                    let skip = self
                        .wanted_from
                        .map_or(0, |w| w.get().saturating_sub(self.index));
                    for _ in 0..skip {
                        let Some(e) = ends.next() else {
                            return true;
                        };
                        self.index += 1;
                        s = e + 1;
                    }
                    let Some(e) = ends.next() else {
                        break;
                    };
                    let l = line(s, e);
                    if !self.offer(run, piece.stream, l.ts_us, l.text, f) {
                        return false;
                    }
                    s = e + 1;
                }
                true
            }
        }
    }
}

/// How many lines end in `b`.
fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}
