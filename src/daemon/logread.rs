//! `read_log`: log content served by the daemon, so that a client (the MCP server, a remote
//! tool) needs no access to the log files. The loop only picks the entry and its runs; the
//! reading and the regex search (the same `logs::search` the CLI runs) happen on a helper
//! thread, a few at a time, and the bounded answer comes back as [`Daemon::log_read`].

use super::jobs::Done;
use super::state::Daemon;
use crate::error::{Code, Error, Result};
use crate::logs::pattern::Pattern;
use crate::logs::read::{self, RunView};
use crate::logs::search::{self, Found, Query};
use crate::proto::{LogInfo, ReadLogLine, ReadLogQuery, ReadLogReply};
use mio::Token;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Reads in flight at once; more are refused (try again) so that clients cannot pile up
/// threads.
const MAX_READS: usize = 4;
static READS: AtomicUsize = AtomicUsize::new(0);

const DEFAULT_LINES: usize = 100;
const MAX_LINES: usize = 2000;
const DEFAULT_BYTES: usize = 32 << 10;
const MAX_BYTES: usize = 1 << 20;
/// How far `skip` may page (lines kept in memory while reading a tail).
const MAX_SKIP: usize = 20_000;

impl Daemon {
    pub(super) fn read_log_request(&mut self, t: Token, req: u32, q: ReadLogQuery) -> Result<()> {
        self.flush_indexes();
        let ids = self.reg.select(&q.sel)?;
        let id = match ids.as_slice() {
            [] => bail!(
                Code::NoSuchEntry,
                "no entry matches the selector (see wrangle ls)"
            ),
            [one] => *one,
            many => bail!(
                Code::Ambiguous,
                "read_log: {} entries match; name one",
                many.len()
            ),
        };
        if q.skip > MAX_SKIP {
            bail!(
                Code::BadRequest,
                "read_log: skip {} is past the limit {MAX_SKIP}; narrow the search instead (grep, since, run)",
                q.skip
            );
        }
        let regex = q
            .grep
            .as_deref()
            .map(|g| {
                Pattern::new(g)
                    .map_err(|e| Error::new(Code::BadRequest, format!("grep {g:?}: {e}")))
            })
            .transpose()?;
        let info = match q.build {
            true => self.build_log_info(id),
            false => self.log_info(id),
        };
        let runs = pick_runs(&info, q.run.unwrap_or(-1))?;
        if READS.fetch_add(1, Ordering::SeqCst) >= MAX_READS {
            READS.fetch_sub(1, Ordering::SeqCst);
            bail!(
                Code::Daemon,
                "read_log: {MAX_READS} log reads are already running; try again in a moment"
            );
        }
        let base = ReadLogReply {
            id,
            name: info.name.clone(),
            runs: runs.iter().map(|r| r.0).collect(),
            lines: Vec::new(),
            more: false,
            next_skip: q.skip,
            end_seq: info.end_seq,
            alive: info.alive,
            missing: None,
        };
        self.jobs.spawn(move || {
            let reply = read(&runs, &q, regex, base);
            READS.fetch_sub(1, Ordering::SeqCst);
            Done::LogRead {
                conn: t,
                req,
                reply: reply.map_err(|e| e.to_string()),
            }
        });
        Ok(())
    }

    /// A `read_log` finished on its helper thread.
    pub(super) fn log_read(
        &mut self,
        conn: Token,
        req: u32,
        reply: std::result::Result<ReadLogReply, String>,
    ) {
        match reply {
            Ok(r) => self.reply(conn, req, &r),
            Err(m) => self.reply_err(
                conn,
                req,
                &Error::new(Code::Failed, format!("cannot read the log: {m}")),
            ),
        }
    }
}

/// (run, dir, dropped, bytes) of the runs `spec` names: -1 the latest, -2 the one before, N
/// run N, 0 all.
type RunRef = (u32, String, u64, u64);

fn pick_runs(info: &LogInfo, spec: i64) -> Result<Vec<RunRef>> {
    let runs = &info.runs;
    let r = |r: &crate::proto::RunLog| (r.run, r.dir.clone(), r.dropped, r.bytes);
    if spec == 0 {
        return Ok(runs.iter().map(r).collect());
    }
    let found = if spec < 0 {
        runs.len()
            .checked_sub(spec.unsigned_abs() as usize)
            .and_then(|i| runs.get(i))
    } else {
        runs.iter().find(|x| i64::from(x.run) == spec)
    };
    match (found, runs.is_empty(), spec) {
        (Some(x), _, _) => Ok(vec![r(x)]),
        (None, true, -1) => Ok(Vec::new()),
        _ => {
            let kept = match (runs.first(), runs.last()) {
                (Some(a), Some(b)) => format!("runs kept: {} to {}", a.run, b.run),
                _ => "it has no runs yet".to_string(),
            };
            bail!(
                Code::BadRequest,
                "read_log: run {spec}: no such run of this entry ({kept})"
            )
        }
    }
}

/// The search itself, on a helper thread: bounded by lines, bytes and `skip`.
fn read(
    runs: &[RunRef],
    q: &ReadLogQuery,
    regex: Option<Pattern>,
    mut reply: ReadLogReply,
) -> std::io::Result<ReadLogReply> {
    let max_lines = q.max_lines.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES);
    let max_bytes = q.max_bytes.unwrap_or(DEFAULT_BYTES).clamp(256, MAX_BYTES);
    let mut views = Vec::new();
    let mut missing = Vec::new();
    for (run, dir, dropped, bytes) in runs {
        let v = RunView::open(Path::new(dir), *run, *dropped, Some(*bytes))?;
        if v.missing() {
            missing.push(run.to_string());
        }
        views.push(v);
    }
    if !missing.is_empty() {
        reply.missing = Some(format!(
            "the log of run {} is not on disk (see the log_error events in status)",
            missing.join(", ")
        ));
    }
    // One more than wanted tells whether there is more.
    let want = q.skip + max_lines + 1;
    let query = Query {
        regex,
        before: q.before.min(100),
        after: q.after.min(100),
        since_us: q.since_ms.map(|ms| ms.saturating_mul(1000)),
        head: q.head.then_some(want),
        tail: (!q.head).then_some(want),
    };
    let streams = if q.streams == 0 { 3 } else { q.streams & 3 };
    // Each line cut to the byte budget as it is found, so memory stays bounded.
    let mut items: Vec<ReadLogLine> = Vec::new();
    let mut gap = false;
    let cap = max_bytes;
    let line = |l: &crate::logs::read::LineRef, matched: bool, gap_before: bool| {
        let body = l.body();
        ReadLogLine {
            run: l.run,
            ts_us: l.ts_us,
            stream: if l.stream == 2 { "stderr" } else { "stdout" }.into(),
            text: String::from_utf8_lossy(&body[..body.len().min(cap)]).into_owned(),
            matched,
            gap_before,
            cut: body.len() > cap,
        }
    };
    let plain_tail = query.regex.is_none() && query.since_us.is_none() && !q.head;
    if let (true, [view]) = (plain_tail, views.as_slice()) {
        // The last lines of one run: read from the end, as `wrangle logs` does.
        for l in read::tail(view, streams, want)? {
            items.push(line(&l.as_ref(), true, false));
        }
    } else {
        search::search(&views, streams, &query, &mut |f| {
            match f {
                Found::Gap => gap = true,
                Found::Line { line: l, matched } => {
                    items.push(line(l, matched, std::mem::take(&mut gap)));
                    // A head with context may hand out more lines than matches: stop in time.
                    if q.head && items.len() > want.saturating_mul(1 + query.before + query.after) {
                        return false;
                    }
                }
            }
            true
        })?;
    }
    // Page: a head counts from the start, a tail from the end.
    let total = items.len();
    let (from, to) = if q.head {
        let from = q.skip.min(total);
        (from, (from + max_lines).min(total))
    } else {
        let to = total.saturating_sub(q.skip);
        (to.saturating_sub(max_lines), to)
    };
    let mut page: Vec<ReadLogLine> = items.drain(from..to).collect();
    // The byte budget, kept from the side the reader starts at.
    let mut used = 0usize;
    let mut keep = 0usize;
    let order: Vec<usize> = if q.head {
        (0..page.len()).collect()
    } else {
        (0..page.len()).rev().collect()
    };
    for i in order {
        let n = page[i].text.len() + 1;
        if used + n > max_bytes && keep > 0 {
            break;
        }
        used += n;
        keep += 1;
    }
    let dropped_by_bytes = page.len() - keep;
    if q.head {
        page.truncate(keep);
    } else {
        page.drain(..dropped_by_bytes);
    }
    let returned = page.len();
    reply.more = if q.head {
        from + returned < total
    } else {
        from + dropped_by_bytes > 0
    };
    reply.next_skip = q.skip + returned;
    reply.lines = page;
    Ok(reply)
}
