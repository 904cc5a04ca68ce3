//! Selecting lines: regex search (regex-lite) with grep-style context, `--since`, and head or
//! tail limits, over one or more runs, streaming (memory is bounded by the limits and context).

use super::bytes::{find, required_literal};
use super::read::{LogLine, RunView};
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

/// A match with its context, or a plain line.
type Group = Vec<Item>;

/// Runs `q` over `views` (oldest first) for the wanted streams.
pub fn select(views: &[RunView], streams: u8, q: &Query) -> io::Result<Vec<Item>> {
    let mut groups: VecDeque<Group> = VecDeque::new();
    let mut units = 0usize; // matches (or lines) held in `groups`
    let mut before: VecDeque<(u64, LogLine)> = VecDeque::new();
    let mut after_left = 0usize;
    let mut last_out: Option<u64> = None;
    let mut index = 0u64;
    let mut done = false;
    let literal = q
        .regex
        .as_ref()
        .and_then(|re| required_literal(re.as_str()))
        .map(String::into_bytes);
    for v in views {
        if done {
            break;
        }
        let from = q.since_us.map_or(v.start, |t| v.offset_at(t));
        v.lines(from, v.end, streams, false, &mut |l| {
            if q.since_us.is_some_and(|t| l.ts_us < t) {
                return true;
            }
            let i = index;
            index += 1;
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
            // Only lines that are printed or kept for context are copied.
            if !matched && after_left == 0 && q.before == 0 {
                return true;
            }
            let line = l.to_line();
            if matched {
                let first = before.front().map_or(i, |b| b.0);
                let joins = last_out.is_some_and(|l| first <= l + 1) && !groups.is_empty();
                let mut group = if joins {
                    groups.pop_back().unwrap_or_default()
                } else {
                    // Like grep: groups are marked apart only when context was asked for.
                    let with_context = q.regex.is_some() && (q.before > 0 || q.after > 0);
                    if last_out.is_some() && with_context {
                        vec![Item::Gap]
                    } else {
                        Vec::new()
                    }
                };
                for (_, l) in before.drain(..) {
                    group.push(Item::Line {
                        line: l,
                        matched: false,
                    });
                }
                group.push(Item::Line {
                    line,
                    matched: true,
                });
                groups.push_back(group);
                units += 1;
                last_out = Some(i);
                after_left = q.after;
                if let Some(t) = q.tail {
                    while units > t && !groups.is_empty() {
                        let g = groups.pop_front().unwrap_or_default();
                        units -= g
                            .iter()
                            .filter(|it| matches!(it, Item::Line { matched: true, .. }))
                            .count();
                    }
                    if let Some(Item::Gap) = groups.front().and_then(|g| g.first()) {
                        groups[0].remove(0);
                    }
                }
                if q.head.is_some_and(|h| units >= h) && after_left == 0 {
                    done = true;
                    return false;
                }
            } else if after_left > 0 {
                after_left -= 1;
                if let Some(g) = groups.back_mut() {
                    g.push(Item::Line {
                        line,
                        matched: false,
                    });
                }
                last_out = Some(i);
                if after_left == 0 && q.head.is_some_and(|h| units >= h) {
                    done = true;
                    return false;
                }
            } else if q.before > 0 {
                before.push_back((i, line));
                if before.len() > q.before {
                    before.pop_front();
                }
            }
            true
        })?;
    }
    Ok(groups.into_iter().flatten().collect())
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
