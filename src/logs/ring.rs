//! A bounded ring of an entry's recent output, addressed by sequence number (the count of bytes
//! captured before), remembering which stream each byte came from. It only grows as output
//! arrives, so idle entries cost nothing.

use std::collections::VecDeque;

pub struct Ring {
    data: VecDeque<u8>,
    cap: usize,
    /// Sequence number of `data[0]`.
    start: u64,
    /// (sequence number, stream) at every change of stream, ascending; the first one is at or
    /// before `start` whenever `data` is not empty.
    marks: VecDeque<(u64, u8)>,
}

/// What one read returned.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    /// Bytes that were asked for but had already left the ring.
    pub missed: u64,
    /// The stream of the bytes appended.
    pub stream: u8,
    /// How many bytes were appended.
    pub len: usize,
}

impl Ring {
    pub fn new(cap: usize, start: u64) -> Ring {
        Ring {
            data: VecDeque::new(),
            cap: cap.max(1),
            start,
            marks: VecDeque::new(),
        }
    }

    /// The sequence number after the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    /// The oldest sequence number still held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Appends captured bytes.
    pub fn push(&mut self, stream: u8, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = self.end();
        if self.marks.back().map(|m| m.1) != Some(stream) {
            self.marks.push_back((end, stream));
        }
        let keep = &bytes[bytes.len().saturating_sub(self.cap)..];
        let skipped = (bytes.len() - keep.len()) as u64;
        let overflow = (self.data.len() + keep.len()).saturating_sub(self.cap);
        if overflow > 0 {
            self.data.drain(..overflow.min(self.data.len()));
        }
        self.start += overflow as u64 + skipped;
        self.data.extend(keep);
        // Forget marks wholly before `start`, keeping the one that covers it.
        while self.marks.len() > 1 && self.marks[1].0 <= self.start {
            self.marks.pop_front();
        }
    }

    /// Appends to `out` up to `max` bytes of one stream starting at `from` (or at the oldest
    /// byte held, if `from` is older). None when there is nothing at or after `from`.
    pub fn read(&self, from: u64, max: usize, out: &mut Vec<u8>) -> Option<Segment> {
        let from_eff = from.max(self.start);
        if from_eff >= self.end() || max == 0 {
            return None;
        }
        let idx = self.marks.partition_point(|m| m.0 <= from_eff);
        let stream = self.marks[idx.saturating_sub(1)].1;
        let seg_end = self.marks.get(idx).map_or(self.end(), |m| m.0);
        let n = ((seg_end - from_eff) as usize).min(max);
        let off = (from_eff - self.start) as usize;
        let (a, b) = self.data.as_slices();
        if off < a.len() {
            let first = &a[off..(off + n).min(a.len())];
            out.extend_from_slice(first);
            if first.len() < n {
                out.extend_from_slice(&b[..n - first.len()]);
            }
        } else {
            out.extend_from_slice(&b[off - a.len()..off - a.len() + n]);
        }
        Some(Segment {
            missed: from_eff - from,
            stream,
            len: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &Ring, mut from: u64) -> (u64, Vec<(u8, Vec<u8>)>) {
        let mut missed = 0;
        let mut segs: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut buf = Vec::new();
        while let Some(s) = r.read(from, 3, &mut buf) {
            missed += s.missed;
            from += s.missed + s.len as u64;
            match segs.last_mut() {
                Some((st, v)) if *st == s.stream => v.extend_from_slice(&buf),
                _ => segs.push((s.stream, buf.clone())),
            }
            buf.clear();
        }
        (missed, segs)
    }

    #[test]
    fn keeps_streams_apart_and_in_order() {
        let mut r = Ring::new(100, 0);
        r.push(1, b"hello ");
        r.push(2, b"oops");
        r.push(1, b"world");
        let (missed, segs) = drain(&r, 0);
        assert_eq!(missed, 0);
        assert_eq!(
            segs,
            vec![
                (1, b"hello ".to_vec()),
                (2, b"oops".to_vec()),
                (1, b"world".to_vec())
            ]
        );
        assert_eq!(r.end(), 15);
        assert!(r.read(15, 10, &mut Vec::new()).is_none());
    }

    #[test]
    fn evicts_oldest_and_reports_missed_bytes() {
        let mut r = Ring::new(8, 0);
        r.push(1, b"abcdef");
        r.push(2, b"ghij");
        assert_eq!(r.start(), 2);
        let (missed, segs) = drain(&r, 0);
        assert_eq!(missed, 2);
        assert_eq!(segs, vec![(1, b"cdef".to_vec()), (2, b"ghij".to_vec())]);
        r.push(1, &[7u8; 20]);
        assert_eq!(r.start(), 22);
        assert_eq!(r.end(), 30);
        let (missed, segs) = drain(&r, 10);
        assert_eq!(missed, 12);
        assert_eq!(segs, vec![(1, vec![7u8; 8])]);
    }

    #[test]
    fn starts_at_a_given_sequence() {
        let mut r = Ring::new(4, 1000);
        assert!(r.read(0, 10, &mut Vec::new()).is_none());
        r.push(2, b"xy");
        let mut out = Vec::new();
        let s = r.read(1000, 10, &mut out).unwrap();
        assert_eq!((s.missed, s.stream, s.len), (0, 2, 2));
        assert_eq!(out, b"xy");
    }
}
