//! Selecting lines: regex search with grep-style context, `--since`, and head or tail limits,
//! over one or more runs, streaming (memory is bounded by the limits and context; matches are
//! handed out borrowed from the read buffers, copied only to keep the last N).

use super::pattern::Pattern;
use super::read::{LineRef, LogLine, RunView};
use super::scan::Lines;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io;

/// What to select.
#[derive(Default)]
pub struct Query {
    pub regex: Option<Pattern>,
    /// Context lines before and after each match.
    pub before: usize,
    pub after: usize,
    /// Only lines received at or after this time (µs since the epoch).
    pub since_us: Option<u64>,
    /// Keep the first N matches (or lines, without a regex).
    pub head: Option<usize>,
    /// Keep the last N matches (or lines, without a regex).
    pub tail: Option<usize>,
}

/// One item of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Line {
        line: LogLine,
        matched: bool,
    },
    /// Lines were skipped between two context groups (`--`).
    Gap,
}

/// One item of the result as [`search`] hands it out.
pub enum Found<'a> {
    Line {
        line: &'a LineRef<'a>,
        matched: bool,
    },
    /// Lines were skipped between two context groups (`--`).
    Gap,
}

/// Calls `f(index, line)` for every line of `views` (oldest first) that `pattern` matches (all
/// without one) and that passes the `--since` filter; `f` returns false to stop. `index`
/// numbers all lines when `count` (or without a pattern), else the matching ones. Without a
/// pattern, lines numbered below `wanted_from` are skipped (`f` may move it on).
fn scan(
    views: &[RunView],
    streams: u8,
    q: &Query,
    pattern: Option<&Pattern>,
    count: bool,
    wanted_from: Option<&Cell<u64>>,
    f: &mut dyn FnMut(u64, &LineRef) -> bool,
) -> io::Result<()> {
    let mut index = 0u64;
    for v in views {
        let from = q.since_us.map_or(v.start, |t| v.offset_at(t));
        let mut lines = Lines::new(pattern, count, false);
        lines.index = index;
        lines.wanted_from = wanted_from;
        let mut go_on = true;
        let mut sink = |i: u64, l: &LineRef| {
            if q.since_us.is_some_and(|t| l.ts_us < t) {
                return true;
            }
            go_on = f(i, l);
            go_on
        };
        if v.blocks(from, v.end, streams, &mut |p| {
            lines.feed(v.run, p, &mut sink)
        })? {
            lines.finish(v.run, &mut sink);
        }
        if !go_on {
            break;
        }
        index = lines.index;
    }
    Ok(())
}

/// Runs `q` over `views` (oldest first) for the wanted streams, handing each item of the
/// result to `emit` as it is found (false stops). Without context it is one pass; with
/// context, a first pass finds which matches to keep (the first or last N) and a second hands
/// them out with their context, exactly as `grep -m N -C K` or `grep | tail` would.
pub fn search(
    views: &[RunView],
    streams: u8,
    q: &Query,
    emit: &mut dyn FnMut(Found) -> bool,
) -> io::Result<()> {
    let pattern = q.regex.as_ref();
    if q.before == 0 && q.after == 0 {
        if let Some(t) = q.tail {
            let mut out: VecDeque<LogLine> = VecDeque::new();
            scan(views, streams, q, pattern, false, None, &mut |_, l| {
                out.push_back(l.to_line());
                if out.len() > t {
                    out.pop_front();
                }
                q.head.is_none_or(|h| out.len() < h)
            })?;
            for l in &out {
                let r = l.as_ref();
                if !emit(Found::Line {
                    line: &r,
                    matched: true,
                }) {
                    break;
                }
            }
            return Ok(());
        }
        let mut n = 0;
        return scan(views, streams, q, pattern, false, None, &mut |_, l| {
            n += 1;
            emit(Found::Line {
                line: l,
                matched: true,
            }) && q.head.is_none_or(|h| n < h)
        });
    }
    // Pass 1: the matches to show.
    let mut kept: VecDeque<u64> = VecDeque::new();
    scan(views, streams, q, pattern, true, None, &mut |i, _| {
        kept.push_back(i);
        if q.tail.is_some_and(|t| kept.len() > t) {
            kept.pop_front();
        }
        q.head.is_none_or(|h| kept.len() < h)
    })?;
    let kept: Vec<u64> = kept.into();
    let Some(&last) = kept.last() else {
        return Ok(());
    };
    // Pass 2: those matches with their context; other matching lines inside a window are
    // context, as with grep -m.
    let mut k = 0;
    let mut last_out: Option<u64> = None;
    let (before, after) = (q.before as u64, q.after as u64);
    // The next line that may be in a window: the scan counts the lines up to it unseen.
    let wanted = Cell::new(kept[0].saturating_sub(before));
    scan(views, streams, q, None, true, Some(&wanted), &mut |i, l| {
        while k < kept.len() && kept[k] + (q.after as u64) < i {
            k += 1;
        }
        if k < kept.len() && kept[k].saturating_sub(q.before as u64) <= i {
            if last_out.is_some_and(|p| i > p + 1) && !emit(Found::Gap) {
                return false;
            }
            let matched = kept.binary_search(&i).is_ok();
            if !emit(Found::Line { line: l, matched }) {
                return false;
            }
            last_out = Some(i);
        }
        while k < kept.len() && kept[k] + after < i + 1 {
            k += 1;
        }
        wanted.set(
            kept.get(k)
                .map_or(u64::MAX, |m| m.saturating_sub(before).max(i + 1)),
        );
        i < last + after
    })
}

/// [`search`], collected.
pub fn select(views: &[RunView], streams: u8, q: &Query) -> io::Result<Vec<Item>> {
    let mut out = Vec::new();
    search(views, streams, q, &mut |f| {
        out.push(match f {
            Found::Line { line, matched } => Item::Line {
                line: line.to_line(),
                matched,
            },
            Found::Gap => Item::Gap,
        });
        true
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::file::{Rotation, RunWriter};

    fn view(name: &str, text: &str) -> RunView {
        let dir =
            std::env::temp_dir().join(format!("wrangle-search-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = RunWriter::create(
            &dir,
            1,
            Rotation {
                max_size: 0,
                keep: 0,
            },
        )
        .unwrap();
        for (i, l) in text.split_inclusive('\n').enumerate() {
            w.write(1, i as u64 * 10, l.as_bytes()).unwrap();
        }
        w.flush_index().unwrap();
        RunView::open(&dir, 1, 0, None).unwrap()
    }

    fn show(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|it| match it {
                Item::Gap => "--".to_string(),
                Item::Line { line, matched } => format!(
                    "{}{}",
                    if *matched { ":" } else { "-" },
                    String::from_utf8_lossy(line.body())
                ),
            })
            .collect()
    }

    const TEXT: &str = "a\nb\nerr 1\nc\nd\ne\nf\nerr 2\ng\nerr 3\nh\n";

    #[test]
    fn grep_with_context_like_grep() {
        let v = view("ctx", TEXT);
        let q = Query {
            regex: Some(Pattern::new("err").unwrap()),
            before: 1,
            after: 1,
            ..Query::default()
        };
        let got = show(&select(&[v], 3, &q).unwrap());
        // grep -C1 err: b,err 1,c -- f,err 2,g,err 3,h
        assert_eq!(
            got,
            ["-b", ":err 1", "-c", "--", "-f", ":err 2", "-g", ":err 3", "-h"]
        );
    }

    #[test]
    fn head_tail_and_since() {
        let v = view("lim", TEXT);
        let re = || Some(Pattern::new("err").unwrap());
        let q = Query {
            regex: re(),
            head: Some(1),
            ..Query::default()
        };
        assert_eq!(
            show(&select(std::slice::from_ref(&v), 3, &q).unwrap()),
            [":err 1"]
        );
        let q = Query {
            regex: re(),
            tail: Some(2),
            ..Query::default()
        };
        assert_eq!(
            show(&select(std::slice::from_ref(&v), 3, &q).unwrap()),
            [":err 2", ":err 3"]
        );
        let q = Query {
            tail: Some(2),
            ..Query::default()
        };
        assert_eq!(
            show(&select(std::slice::from_ref(&v), 3, &q).unwrap()),
            [":err 3", ":h"]
        );
        let q = Query {
            since_us: Some(95),
            ..Query::default()
        };
        assert_eq!(
            show(&select(std::slice::from_ref(&v), 3, &q).unwrap()),
            [":h"]
        );
    }

    /// A view of chunks `(stream, bytes)` written one after the other (ts = chunk number).
    fn chunks(name: &str, chunks: &[(u8, &[u8])]) -> RunView {
        let dir =
            std::env::temp_dir().join(format!("wrangle-search-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rot = Rotation {
            max_size: 0,
            keep: 0,
        };
        let mut w = RunWriter::create(&dir, 1, rot).unwrap();
        for (i, (stream, data)) in chunks.iter().enumerate() {
            w.write(*stream, i as u64, data).unwrap();
        }
        w.flush_index().unwrap();
        RunView::open(&dir, 1, 0, None).unwrap()
    }

    /// `select` with `re` and `before`/`after` context, reading blocks of `block` bytes, as
    /// `(stream, ts, text)` (`--` for gaps).
    fn found(v: &mut RunView, block: usize, re: &str, ctx: usize) -> Vec<(u8, u64, String)> {
        v.set_block(block);
        let q = Query {
            regex: Some(Pattern::new(re).unwrap()),
            before: ctx,
            after: ctx,
            ..Query::default()
        };
        select(std::slice::from_mut(v), 3, &q)
            .unwrap()
            .into_iter()
            .map(|it| match it {
                Item::Gap => (0, 0, "--".to_string()),
                Item::Line { line, .. } => (
                    line.stream,
                    line.ts_us,
                    String::from_utf8_lossy(&line.text).into_owned(),
                ),
            })
            .collect()
    }

    #[test]
    fn block_boundaries_change_nothing() {
        // Every line is a chunk of its own except the last three, cut mid-line; one line is
        // far longer than the small blocks, one ends in CRLF, the last has no newline.
        let long = format!("{} error timeout {}\n", "x".repeat(100), "y".repeat(50));
        let text =
            format!("ok 1\nerror timeout 2\r\nok 3\n{long}err-r timeout\nnone\nerror timeout 9");
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut cs: Vec<(u8, &[u8])> = lines.iter().map(|l| (1, l.as_bytes())).collect();
        let last = cs.pop().unwrap().1;
        cs.extend([(1, &last[..3]), (1, &last[3..8]), (1, &last[8..])]);
        let mut v = chunks("blocks", &cs);
        let want = |re: &str| -> Vec<(u8, u64, String)> {
            let p = Pattern::new(re).unwrap();
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| p.is_match(l.strip_suffix('\n').unwrap_or(l)))
                .map(|(i, l)| (1, i as u64, l.to_string()))
                .collect()
        };
        for re in [
            "error timeout",
            "err.r t[i]meout",
            "2\r$",
            "\\d$",
            "^(ok|none)",
            "y\\z",
        ] {
            assert!(!want(re).is_empty(), "{re}");
            for block in [1, 2, 3, 5, 8, 13, 64, 100, 1 << 20] {
                assert_eq!(
                    found(&mut v, block, re, 0),
                    want(re),
                    "{re:?}, block {block}"
                );
            }
        }
        // A match that would span two lines (and so two blocks) is no match.
        for block in [1, 4, 9, 1 << 20] {
            assert!(found(&mut v, block, "3\nx", 0).is_empty());
            assert!(found(&mut v, block, "timeout\\s+none", 0).is_empty());
        }
        // Context counts the lines the same way whatever the blocks.
        let whole = found(&mut v, 1 << 20, "none", 1);
        assert_eq!(whole.len(), 3);
        for block in [1, 3, 7, 64] {
            assert_eq!(found(&mut v, block, "none", 1), whole, "block {block}");
            assert_eq!(
                found(&mut v, block, "^ok", 1),
                found(&mut v, 1 << 20, "^ok", 1)
            );
        }
    }

    #[test]
    fn lines_cut_by_the_other_stream_and_by_blocks_come_out_whole() {
        let cs: &[(u8, &[u8])] = &[
            (1, b"out err"),
            (2, b"stderr err"),
            (1, b"or one\nout two\n"),
            (2, b"or\n"),
            (1, b"error"),
        ];
        let mut v = chunks("streams", cs);
        for block in [1, 2, 6, 7, 10, 1 << 20] {
            assert_eq!(
                found(&mut v, block, "error", 0),
                [
                    (1, 0, "out error one\n".to_string()),
                    (2, 1, "stderr error\n".to_string()),
                    (1, 4, "error".to_string()),
                ],
                "block {block}"
            );
        }
    }
}
