//! Subscriptions: lifecycle events and log lines pushed to `wrangle events` clients, in order
//! per entry, with a subscriber that falls behind told how many events it missed instead of
//! slowing anyone down. No idle timeout: a subscription lasts until cancelled or disconnected.

use super::conn::{Conn, Sub, HIGH_WATER};
use super::state::Daemon;
use crate::error::{Code, Result};
use crate::logs::bytes::memchr;
use crate::proto::frame::FrameKind;
use crate::proto::{LiveEvent, Selector};
use crate::store::registry::{take_events, Registry};
use memchr::memrchr;
use mio::Token;

/// The longest line published whole: a longer one (or an unfinished one that grows past it)
/// is published in pieces of at most this many bytes, so a process that never prints a
/// newline costs no more memory than this. Documented in wrangle(1) under `events`.
const MAX_LINE: usize = 64 << 10;

/// The backlog above which a connection gets no more log lines this turn (they are counted as
/// missed): a quarter of [`HIGH_WATER`], so that a turn's lines for one connection cost a few
/// thousand events at most, and a process printing lines as fast as it can (`yes`) cannot hold
/// the loop for long (measured by bench/stress).
const LINES_HIGH_WATER: usize = HIGH_WATER / 4;

/// Splits `data`, the output that follows the unfinished line `partial`, into lines, calling
/// `emit` with each line without its newline (a `\r` before it is kept: it is the process's
/// output), and leaves the new unfinished line in `partial`. One pass: each byte is looked at
/// and copied at most once, whatever the number of lines. A line longer than `max` bytes is
/// emitted in pieces of at most `max` bytes (cut before a UTF-8 character rather than inside
/// it when one starts within 3 bytes of the cut), and `partial` never holds more than `max`
/// bytes. Where the chunks of output begin and end changes nothing in what is emitted.
pub(super) fn split_lines(
    partial: &mut Vec<u8>,
    mut data: &[u8],
    max: usize,
    emit: &mut impl FnMut(&[u8]),
) {
    debug_assert!(max > 0 && partial.len() <= max);
    // Finish the unfinished line first, taking no more than one piece's worth at a time.
    while !partial.is_empty() && !data.is_empty() {
        let window = &data[..data.len().min(max + 1 - partial.len())];
        if let Some(i) = memchr(b'\n', window) {
            partial.extend_from_slice(&data[..i]);
            emit_pieces(partial, max, emit);
            partial.clear();
            data = &data[i + 1..];
        } else {
            partial.extend_from_slice(window);
            data = &data[window.len()..];
            if partial.len() > max {
                let cut = cut_point(partial, max);
                emit(&partial[..cut]);
                partial.drain(..cut); // moves at most 4 bytes
            }
        }
    }
    if !partial.is_empty() {
        return;
    }
    while let Some(i) = memchr(b'\n', data) {
        emit_pieces(&data[..i], max, emit);
        data = &data[i + 1..];
    }
    while data.len() > max {
        let cut = cut_point(data, max);
        emit(&data[..cut]);
        data = &data[cut..];
    }
    partial.extend_from_slice(data);
}

/// Emits the complete line `line` in pieces of at most `max` bytes (an empty line once).
fn emit_pieces(mut line: &[u8], max: usize, emit: &mut impl FnMut(&[u8])) {
    while line.len() > max {
        let cut = cut_point(line, max);
        emit(&line[..cut]);
        line = &line[cut..];
    }
    emit(line);
}

/// How many lines [`split_lines`] would emit for `data` after `partial`, updating `partial`
/// the same way (to the bytes after the last newline), without cutting them out: newlines
/// are counted a word at a time. Exact for lines of at most `max` bytes; a longer line,
/// which [`split_lines`] emits in pieces, may count as one.
fn count_lines(partial: &mut Vec<u8>, data: &[u8], max: usize) -> u64 {
    let mut n = 0;
    let tail = match memrchr(b'\n', data) {
        Some(last) => {
            let first = memchr(b'\n', data).unwrap_or(last);
            // The unfinished line, completed; then the lines in between, each of which may
            // be long; then what follows the last newline.
            n += ((partial.len() + first) / max.max(1)) as u64 + 1;
            n += count_newlines(&data[first + 1..=last]);
            partial.clear();
            &data[last + 1..]
        }
        None => data,
    };
    partial.extend_from_slice(tail);
    while partial.len() > max {
        n += 1;
        partial.drain(..max);
    }
    n
}

/// The number of `\n` bytes in `data`, eight at a time (SWAR: no per-line call).
fn count_newlines(data: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = data.chunks_exact(8);
    let mut n = 0u64;
    for c in &mut chunks {
        let w = u64::from_ne_bytes(c.try_into().expect("eight bytes")) ^ (ONES * u64::from(b'\n'));
        // A zero byte of `w` is a newline: set its high bit, exactly (no false positives).
        let zero = !(((w & !HIGHS) + !HIGHS) | w) & HIGHS;
        n += u64::from(zero.count_ones());
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

/// Where to cut `line` (longer than `max`) into a first piece: at `max`, or up to 3 bytes
/// earlier where a UTF-8 character would otherwise be cut in two.
fn cut_point(line: &[u8], max: usize) -> usize {
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&c| c > 0 && line[c] & 0xC0 != 0x80)
        .unwrap_or(max)
}

/// The lines cut from one chunk of output, end to end in one buffer.
#[derive(Default)]
struct Lines {
    text: Vec<u8>,
    /// Where each line ends in `text`.
    ends: Vec<usize>,
}

impl Lines {
    fn push(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
    }

    /// Line `k`, without its newline.
    fn get(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }
}

/// Whether `sub` wants events of entry `id` (which may already be gone).
fn wants(reg: &Registry, sub: &Sub, id: u64, bit: u8) -> bool {
    if sub.types & bit == 0 || sub.ids.as_ref().is_some_and(|s| !s.contains(&id)) {
        return false;
    }
    match reg.get(id) {
        Some(e) => reg.matches(e, &sub.sel),
        None => !sub.sel.has_filters(),
    }
}

/// Queues `ev` for `sub` on `conn`, or counts it as missed when the connection is backed up.
fn deliver(conn: &mut Conn, i: usize, ev: &LiveEvent) {
    if conn.backlog() > HIGH_WATER {
        conn.subs[i].missed += 1;
        return;
    }
    let req = conn.subs[i].req;
    let missed = std::mem::take(&mut conn.subs[i].missed);
    if missed > 0 {
        let notice = LiveEvent {
            ts_ms: crate::util::now_ms(),
            id: 0,
            name: None,
            kind: crate::proto::EventKind::Missed,
            message: format!("{missed} events were dropped: this subscriber fell behind"),
            stream: None,
            count: Some(missed),
        };
        conn.json(FrameKind::Event, req, &notice);
    }
    conn.json(FrameKind::Event, req, ev);
}

impl Daemon {
    pub(super) fn subscribe(
        &mut self,
        t: Token,
        req: u32,
        sel: Selector,
        types: u8,
        since_ms: Option<u64>,
    ) -> Result<()> {
        if types == 0 || types > 3 {
            bail!(
                Code::BadRequest,
                "subscribe: types is a bitmask of 1 (status) and 2 (log)"
            );
        }
        // Validate the selector now (unknown names, bad states) so mistakes are reported.
        self.reg.select(&sel)?;
        let ids = if sel.targets.is_empty() || sel.targets.iter().any(|t| t == "all") {
            None
        } else {
            let only = Selector {
                targets: sel.targets.clone(),
                ..Selector::default()
            };
            Some(self.reg.select(&only)?.into_iter().collect())
        };
        let sub = Sub {
            req,
            sel,
            ids,
            types,
            missed: 0,
        };
        let kept = match since_ms {
            Some(since) => self.kept_events(&sub, since),
            None => Vec::new(),
        };
        if let Some(c) = self.rx.conns.get_mut(&t) {
            for ev in &kept {
                c.json(FrameKind::Event, req, ev);
            }
            c.subs.push(sub);
        }
        if !kept.is_empty() {
            self.rx.dirty.insert(t);
        }
        Ok(())
    }

    /// The kept lifecycle events at or after `since_ms` that `sub` wants, oldest first (each
    /// entry's in order): what a subscriber resuming after a reconnect may have missed.
    fn kept_events(&self, sub: &Sub, since_ms: u64) -> Vec<LiveEvent> {
        let mut evs: Vec<LiveEvent> = self
            .reg
            .ids()
            .into_iter()
            .filter(|id| wants(&self.reg, sub, *id, 1))
            .filter_map(|id| self.reg.get(id))
            .flat_map(|e| {
                e.events
                    .iter()
                    .filter(|ev| ev.ts_ms >= since_ms)
                    .map(|ev| LiveEvent {
                        ts_ms: ev.ts_ms,
                        id: ev.id,
                        name: e.name.clone(),
                        kind: ev.kind,
                        message: ev.message.clone(),
                        stream: None,
                        count: None,
                    })
            })
            .collect();
        evs.sort_by_key(|ev| ev.ts_ms);
        evs
    }

    /// Whether anyone subscribed to log lines of entry `id`.
    pub(super) fn wants_log_lines(&self, id: u64) -> bool {
        self.rx
            .conns
            .values()
            .any(|c| c.subs.iter().any(|s| wants(&self.reg, s, id, 2)))
            || self.ready_wants_lines(id)
    }

    /// Whether some subscriber to entry `id`'s lines can take one now (its connection is not
    /// backed up).
    fn line_room(&self, id: u64) -> bool {
        self.rx.conns.values().any(|c| {
            c.backlog() <= LINES_HIGH_WATER && c.subs.iter().any(|s| wants(&self.reg, s, id, 2))
        })
    }

    /// Cuts captured output into lines for log subscribers and log waits (a partial line
    /// waits for its end, up to [`MAX_LINE`] bytes). The cost is one pass over `data` plus the
    /// events actually queued, whatever the number of lines in it.
    pub(super) fn publish_output(&mut self, id: u64, stream: u8, data: &[u8]) {
        let mut partial = self.line_bufs.remove(&(id, stream)).unwrap_or_default();
        if !self.ready_wants_lines(id) && !self.line_room(id) {
            // Every subscriber is backed up: the lines are only counted as missed, which
            // needs no split (a `yes` under a slow `events --type log` made the split and the
            // copies of half a million lines a turn the daemon's whole work).
            let n = count_lines(&mut partial, data, MAX_LINE);
            if !partial.is_empty() {
                self.line_bufs.insert((id, stream), partial);
            }
            for c in self.rx.conns.values_mut() {
                for sub in c.subs.iter_mut() {
                    if wants(&self.reg, sub, id, 2) {
                        sub.missed += n;
                    }
                }
            }
            return;
        }
        let mut lines = Lines::default();
        split_lines(&mut partial, data, MAX_LINE, &mut |l| lines.push(l));
        if !partial.is_empty() {
            self.line_bufs.insert((id, stream), partial);
        }
        self.publish_lines(id, stream, &lines);
    }

    /// Hands complete lines of output to log waits and log subscribers. A subscriber's
    /// connection that is backed up gets none of the rest: they are only counted as missed.
    fn publish_lines(&mut self, id: u64, stream: u8, lines: &Lines) {
        if lines.ends.is_empty() {
            return;
        }
        if self.ready_wants_lines(id) {
            for k in 0..lines.ends.len() {
                self.ready_line(id, &String::from_utf8_lossy(lines.get(k)));
            }
        }
        // One event, its message replaced line by line: no allocation per line.
        let mut ev = LiveEvent {
            ts_ms: crate::util::now_ms(),
            id,
            name: self.reg.get(id).and_then(|e| e.name.clone()),
            kind: crate::proto::EventKind::Log,
            message: String::new(),
            stream: Some(if stream == 2 { "stderr" } else { "stdout" }.into()),
            count: None,
        };
        for (t, c) in self.rx.conns.iter_mut() {
            let mut any = false;
            for i in 0..c.subs.len() {
                if !wants(&self.reg, &c.subs[i], id, 2) {
                    continue;
                }
                any = true;
                for k in 0..lines.ends.len() {
                    if c.backlog() > LINES_HIGH_WATER {
                        c.subs[i].missed += (lines.ends.len() - k) as u64;
                        break;
                    }
                    ev.message.clear();
                    ev.message.push_str(&String::from_utf8_lossy(lines.get(k)));
                    deliver(c, i, &ev);
                }
            }
            if any {
                self.rx.dirty.insert(*t);
            }
        }
    }

    /// Publishes an entry's unfinished log lines (its run ended: no newline is coming).
    pub(super) fn flush_log_lines(&mut self, id: u64) {
        for stream in [crate::logs::STDOUT, crate::logs::STDERR] {
            if let Some(rest) = self.line_bufs.remove(&(id, stream)) {
                if !rest.is_empty() {
                    let mut lines = Lines::default();
                    lines.push(&rest);
                    self.publish_lines(id, stream, &lines);
                }
            }
        }
    }

    /// Hands this turn's lifecycle events to subscribers.
    pub(super) fn publish_events(&mut self) {
        for (ev, name) in take_events() {
            let live = LiveEvent {
                ts_ms: ev.ts_ms,
                id: ev.id,
                name,
                kind: ev.kind,
                message: ev.message,
                stream: None,
                count: None,
            };
            self.broadcast(live.id, 1, &live);
            if live.kind == crate::proto::EventKind::Removed {
                self.line_bufs.retain(|k, _| k.0 != live.id);
            }
        }
    }

    fn broadcast(&mut self, id: u64, bit: u8, ev: &LiveEvent) {
        for (t, c) in self.rx.conns.iter_mut() {
            let mut any = false;
            for i in 0..c.subs.len() {
                if wants(&self.reg, &c.subs[i], id, bit) {
                    deliver(c, i, ev);
                    any = true;
                }
            }
            if any {
                self.rx.dirty.insert(*t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    /// The lines emitted for `chunks` fed one after the other, and what is left unfinished.
    fn split(chunks: &[&[u8]], max: usize) -> (Vec<String>, String) {
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            split_lines(&mut partial, c, max, &mut |l| {
                out.push(String::from_utf8_lossy(l).into_owned())
            });
            assert!(
                partial.len() <= max,
                "partial holds {} bytes",
                partial.len()
            );
        }
        (out, String::from_utf8_lossy(&partial).into_owned())
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lines_are_cut_at_newlines_across_chunks() {
        assert_eq!(
            split(&[b"one\ntw", b"o\nthr", b"ee"], 64),
            (strs(&["one", "two"]), "three".into())
        );
        assert_eq!(
            split(&[b"ab", b"", b"c", b"\n"], 64),
            (strs(&["abc"]), "".into())
        );
        assert_eq!(split(&[b"x\n"], 64), (strs(&["x"]), "".into()));
    }

    #[test]
    fn empty_lines_and_crlf_are_kept_as_printed() {
        assert_eq!(
            split(&[b"\n\na\n\n"], 64),
            (strs(&["", "", "a", ""]), "".into())
        );
        assert_eq!(
            split(&[b"a\r\nb\r", b"\nc\r"], 64),
            (strs(&["a\r", "b\r"]), "c\r".into())
        );
    }

    #[test]
    fn many_lines_in_one_chunk() {
        let data = b"y\n".repeat(100_000);
        let (lines, rest) = split(&[&data], 64);
        assert_eq!(lines.len(), 100_000);
        assert!(lines.iter().all(|l| l == "y"));
        assert_eq!(rest, "");
    }

    #[test]
    fn a_line_longer_than_the_limit_comes_in_pieces() {
        assert_eq!(
            split(&[b"abcdefghij\nk"], 4),
            (strs(&["abcd", "efgh", "ij"]), "k".into())
        );
        // Exactly the limit: one piece, whether or not the newline is in the same chunk.
        assert_eq!(split(&[b"abcd\n"], 4), (strs(&["abcd"]), "".into()));
        assert_eq!(split(&[b"abcd", b"\n"], 4), (strs(&["abcd"]), "".into()));
        // No newline at all: pieces as soon as there is more than the limit.
        assert_eq!(
            split(&[b"abc", b"defghi", b"j"], 4),
            (strs(&["abcd", "efgh"]), "ij".into())
        );
        // A character of several bytes is not cut in two.
        assert_eq!(
            split(&["abcé\n".as_bytes()], 4),
            (strs(&["abc", "é"]), "".into())
        );
    }

    #[test]
    fn chunk_boundaries_change_nothing() {
        let data = "ab\n\ncdefghijk\r\nl\nmnopqrstuvwxyzé€\n\n012345678".as_bytes();
        for max in [1, 2, 3, 4, 5, 7, 64] {
            let whole = split(&[data], max);
            for a in 0..=data.len() {
                for b in a..=data.len() {
                    let got = split(&[&data[..a], &data[a..b], &data[b..]], max);
                    assert_eq!(got, whole, "max {max}, cut at {a} and {b}");
                }
            }
        }
    }

    /// Property: for lines no longer than the limit, counting gives what splitting emits, and
    /// leaves the same unfinished line, whatever the chunks; the word-at-a-time newline count
    /// agrees with a plain count at every length and alignment.
    #[test]
    fn property_counting_lines_agrees_with_splitting_them() {
        use super::{count_lines, count_newlines};
        use crate::util::prop::{cases, Rng};
        for seed in 1..=cases(500) as u64 {
            let mut rng = Rng::new(seed);
            let max = 16;
            let mut text = Vec::new();
            for _ in 0..rng.below(60) {
                let n = rng.below(max + 1);
                text.extend((0..n).map(|_| *rng.pick(&[b'a', b'y', 0xc3, 0xa9, b'\r', 0, 0xff])));
                if !rng.one_in(8) {
                    text.push(b'\n');
                }
            }
            let (mut split_partial, mut count_partial) = (Vec::new(), Vec::new());
            let (mut emitted, mut counted) = (0u64, 0u64);
            let mut at = 0;
            while at < text.len() {
                let n = (1 + rng.below(40)).min(text.len() - at);
                let chunk = &text[at..at + n];
                at += n;
                // Lines only ever longer than `max` in the unfinished part are out of scope.
                split_lines(&mut split_partial, chunk, 1 << 20, &mut |_| emitted += 1);
                counted += count_lines(&mut count_partial, chunk, 1 << 20);
                assert_eq!(count_partial, split_partial, "seed {seed}");
            }
            assert_eq!(counted, emitted, "seed {seed}");
            for start in 0..8.min(text.len()) {
                let plain = text[start..].iter().filter(|&&b| b == b'\n').count() as u64;
                assert_eq!(count_newlines(&text[start..]), plain, "seed {seed}");
            }
        }
    }
}
