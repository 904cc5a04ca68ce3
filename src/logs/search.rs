//! Selecting lines: regex search (regex-lite) with grep-style context, `--since`, and head or
//! tail limits, over one or more runs, streaming (memory is bounded by the limits and context).

use super::bytes::{find, required_literal};
use super::read::{LineRef, LogLine, RunView};
use regex_lite::Regex;
use std::collections::VecDeque;
use std::io;

/// What to select.
#[derive(Default)]
pub struct Query {
    pub regex: Option<Regex>,
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

/// Calls `f(index, line, matched)` for every line of `views` (oldest first) that passes the
/// `--since` filter; `f` returns false to stop.
fn scan(
    views: &[RunView],
    streams: u8,
    q: &Query,
    f: &mut dyn FnMut(u64, &LineRef, bool) -> bool,
) -> io::Result<()> {
    let literal = q
        .regex
        .as_ref()
        .and_then(|re| required_literal(re.as_str()))
        .map(String::into_bytes);
    let mut index = 0u64;
    let mut go_on = true;
    for v in views {
        if !go_on {
            break;
        }
        let from = q.since_us.map_or(v.start, |t| v.offset_at(t));
        v.lines(from, v.end, streams, false, &mut |l| {
            if q.since_us.is_some_and(|t| l.ts_us < t) {
                return true;
            }
            let matched = match &q.regex {
                // A line without the literal every match needs cannot match: skip the regex.
                Some(re) => {
                    literal
                        .as_ref()
                        .is_none_or(|lit| find(l.body(), lit).is_some())
                        && re.is_match(&String::from_utf8_lossy(l.body()))
                }
                None => true,
            };
            go_on = f(index, l, matched);
            index += 1;
            go_on
        })?;
    }
    Ok(())
}

/// Runs `q` over `views` (oldest first) for the wanted streams. Without context it is one
/// pass; with context, a first pass finds which matches to keep (the first or last N) and a
/// second prints them with their context, exactly as `grep -m N -C K` or `grep | tail` would.
pub fn select(views: &[RunView], streams: u8, q: &Query) -> io::Result<Vec<Item>> {
    let line = |l: &LineRef, matched: bool| Item::Line {
        line: l.to_line(),
        matched,
    };
    if q.before == 0 && q.after == 0 {
        let mut out: VecDeque<Item> = VecDeque::new();
        scan(views, streams, q, &mut |_, l, matched| {
            if !matched {
                return true;
            }
            out.push_back(line(l, true));
            if q.tail.is_some_and(|t| out.len() > t) {
                out.pop_front();
            }
            q.head.is_none_or(|h| out.len() < h)
        })?;
        return Ok(out.into());
    }
    // Pass 1: the matches to show.
    let mut kept: VecDeque<u64> = VecDeque::new();
    scan(views, streams, q, &mut |i, _, matched| {
        if matched {
            kept.push_back(i);
            if q.tail.is_some_and(|t| kept.len() > t) {
                kept.pop_front();
            }
        }
        q.head.is_none_or(|h| kept.len() < h)
    })?;
    let kept: Vec<u64> = kept.into();
    let Some(&last) = kept.last() else {
        return Ok(Vec::new());
    };
    // Pass 2: those matches with their context; other matching lines inside a window are
    // context, as with grep -m.
    let mut out = Vec::new();
    let mut k = 0;
    let mut last_out: Option<u64> = None;
    scan(views, streams, q, &mut |i, l, _| {
        while k < kept.len() && kept[k] + (q.after as u64) < i {
            k += 1;
        }
        if k < kept.len() && kept[k].saturating_sub(q.before as u64) <= i {
            if last_out.is_some_and(|p| i > p + 1) {
                out.push(Item::Gap);
            }
            out.push(line(l, kept.binary_search(&i).is_ok()));
            last_out = Some(i);
        }
        i < last + q.after as u64
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
            regex: Some(Regex::new("err").unwrap()),
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
        let re = || Some(Regex::new("err").unwrap());
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
}
