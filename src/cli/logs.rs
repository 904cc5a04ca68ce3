//! `wrangle logs`: an entry's output read straight from its log files (so big logs never load
//! the daemon): the tail, a regex search with context, a time window, any kept run; then, with
//! `-f`, live output streamed by the daemon across rotations and restarts.

use super::multilogs;
use super::render;
use super::select::with_selector;
use super::{client, duration_flag, Exit};
use crate::client::reconnect::{self, Notice};
use crate::client::{Client, StreamItem};
use crate::error::{Code, Error, Result};
use crate::logs::pattern::Pattern;
use crate::logs::read::{self, LineRef, LogLine, RunView};
use crate::logs::search::{self, Found, Query};
use crate::paths::Paths;
use crate::proto::{LogInfo, Selector, StreamEvent};
use std::io::Write;
use std::path::Path;

with_selector! {
    /// print an entry's output: the last lines, a search, a run; follow it live
    #[argh(subcommand, name = "logs")]
    pub struct LogsCmd {
        /// how many lines (or matches with --grep) to print from the end (default 20; all
        /// matches with --grep)
        #[argh(option, short = 'n')]
        pub lines: Option<usize>,
        /// keep printing output as it arrives, across rotations and restarts
        #[argh(switch, short = 'f')]
        pub follow: bool,
        /// only standard output
        #[argh(switch)]
        pub stdout: bool,
        /// only standard error
        #[argh(switch)]
        pub stderr: bool,
        /// only lines matching this regular expression
        #[argh(option)]
        pub grep: Option<String>,
        /// lines of context around each match
        #[argh(option, short = 'C')]
        pub context: Option<usize>,
        /// lines of context after each match
        #[argh(option, short = 'A')]
        pub after: Option<usize>,
        /// lines of context before each match
        #[argh(option, short = 'B')]
        pub before: Option<usize>,
        /// print the first N lines (or matches) instead of the last
        #[argh(option)]
        pub head: Option<usize>,
        /// which run: -1 the latest (default), -2 the one before, 7 run number 7, or all
        #[argh(option)]
        pub run: Option<String>,
        /// prefix each line with the time wrangle received it
        #[argh(switch)]
        pub timestamps: bool,
        /// show times in UTC rather than local time
        #[argh(switch)]
        pub utc: bool,
        /// colour the [name] prefixes of several entries: auto (on a terminal, unless
        /// NO_COLOR is set), always or never
        #[argh(option)]
        pub color: Option<String>,
        /// only lines received in this last span of time, e.g. 10m
        #[argh(option)]
        pub since: Option<String>,
        /// the output of the entry's builds instead (--run picks a build)
        #[argh(switch)]
        pub build: bool,
        /// delete the entry's logs (the current run's log is emptied)
        #[argh(switch)]
        pub clear: bool,
        /// print JSON lines: run, ts_us, stream, line
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all (several: their lines merged by time, each prefixed [name])
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

/// How lines are printed.
struct Printer {
    timestamps: bool,
    json: bool,
    last_run: Option<u32>,
    headers: bool,
}

impl Printer {
    fn line(&mut self, out: &mut impl Write, l: &LineRef) -> Result<()> {
        if self.json {
            let v = serde_json::json!({
                "run": l.run,
                "ts_us": l.ts_us,
                "stream": if l.stream == 2 { "stderr" } else { "stdout" },
                "line": String::from_utf8_lossy(l.body()),
            });
            return write_out(out, format!("{v}\n").as_bytes());
        }
        if self.headers && self.last_run != Some(l.run) {
            write_out(out, format!("==> run {} <==\n", l.run).as_bytes())?;
        }
        self.last_run = Some(l.run);
        if self.timestamps {
            write_out(
                out,
                format!("{} ", render::timestamp_us(l.ts_us)).as_bytes(),
            )?;
        }
        write_out(out, l.text)
    }
}

pub fn logs(paths: &Paths, c: LogsCmd) -> Result<Exit> {
    render::use_utc(c.utc);
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(Code::Usage, "logs: say which entry (a name or an id)");
    }
    let mut client = client(paths)?;
    if c.clear {
        let rs = client.clear_logs(&sel)?;
        return Ok(render::results("cleared the logs of", &rs));
    }
    let streams = match (c.stdout, c.stderr) {
        (true, false) => 1,
        (false, true) => 2,
        _ => 3,
    };
    let regex = c
        .grep
        .as_deref()
        .map(|g| Pattern::new(g).map_err(|e| Error::new(Code::Usage, format!("--grep {g:?}: {e}"))))
        .transpose()?;
    let since_us = duration_flag("--since", &c.since)?
        .map(|d| crate::util::now_us().saturating_sub(d.as_micros() as u64));
    if c.build && c.follow {
        bail!(
            Code::Usage,
            "logs --build cannot follow; it shows the build logs kept (try --run all)"
        );
    }
    let colour = super::term::color(c.color.as_deref())?;
    let infos = client.logs(&sel, c.build)?;
    let context = c.context.unwrap_or(0);
    let q = Query {
        before: c.before.unwrap_or(context),
        after: c.after.unwrap_or(context),
        since_us,
        head: c.head,
        tail: match (c.head, c.lines, &regex) {
            (Some(_), _, _) => None,
            (None, Some(n), _) => Some(n),
            (None, None, Some(_)) => None,
            (None, None, None) => Some(20),
        },
        regex,
    };
    let info = match infos.as_slice() {
        [one] => one,
        many if many.len() > 1 => {
            let ctx = c.context.is_some() || c.after.is_some() || c.before.is_some();
            multilogs::refuse_for_many(c.build, ctx)?;
            let show = multilogs::Show {
                streams,
                timestamps: c.timestamps || many.iter().any(|i| i.timestamps),
                json: c.json,
                colour,
                follow: c.follow,
                run: c.run.clone().unwrap_or_else(|| "-1".into()),
            };
            return multilogs::logs_many(paths, &sel, infos, show, &q);
        }
        _ => bail!(Code::NoSuchEntry, "logs: no entry matches (see wrangle ls)"),
    };
    let all_runs = c.run.as_deref() == Some("all");
    let views = open_runs(info, c.run.as_deref().unwrap_or("-1"))?;
    let mut printer = Printer {
        timestamps: c.timestamps || info.timestamps,
        json: c.json,
        last_run: None,
        headers: all_runs && views.len() > 1,
    };
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let simple_tail = q.regex.is_none() && q.since_us.is_none() && q.head.is_none();
    if let (true, [view]) = (simple_tail, views.as_slice()) {
        let lines = read::tail(view, streams, q.tail.unwrap_or(20))
            .map_err(|e| Error::io("cannot read the log", e))?;
        for l in &lines {
            printer.line(&mut out, &l.as_ref())?;
        }
    } else {
        // Printed as found, straight from the read buffers.
        let mut failed = None;
        search::search(&views, streams, &q, &mut |f| {
            let r = match f {
                Found::Gap if !c.json => write_out(&mut out, b"--\n"),
                Found::Gap => Ok(()),
                Found::Line { line, .. } => printer.line(&mut out, line),
            };
            r.map_err(|e| failed = Some(e)).is_ok()
        })
        .map_err(|e| Error::io("cannot read the log", e))?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    flush_out(&mut out)?;
    let missing = missing_logs(info, &views);
    if c.follow {
        if let Some(m) = &missing {
            eprintln!("wrangle: {m}; following what comes from now on");
        }
        follow(
            paths,
            &mut client,
            info,
            streams,
            &q,
            &mut printer,
            &mut out,
        )?;
    }
    match missing {
        Some(m) => Err(Error::new(Code::Failed, m)),
        None => Ok(0),
    }
}

/// What to say when a run's log is not on disk (its files could not be made when it started,
/// or were deleted): its output then exists only in the daemon's memory.
fn missing_logs(info: &LogInfo, views: &[RunView]) -> Option<String> {
    let runs: Vec<String> = views
        .iter()
        .filter(|v| v.missing())
        .map(|v| v.run.to_string())
        .collect();
    let dir = info.runs.first().map_or("", |r| r.dir.as_str());
    match runs.as_slice() {
        [] => None,
        [one] => Some(format!(
            "the log of run {one} is missing from {dir} (see the log_error event in wrangle status)"
        )),
        many => Some(format!(
            "the logs of runs {} are missing from {dir} (see the log_error events in wrangle status)",
            many.join(", ")
        )),
    }
}

/// The runs `spec` names (`-1`, `-2`, `7`, `all`), opened for reading.
pub(super) fn open_runs(info: &LogInfo, spec: &str) -> Result<Vec<RunView>> {
    let runs = &info.runs;
    let bad = || {
        let kept = match (runs.first(), runs.last()) {
            (Some(a), Some(b)) => format!("runs kept: {} to {}", a.run, b.run),
            _ => "it has no runs yet".to_string(),
        };
        Error::new(
            Code::Usage,
            format!("--run {spec}: no such run of this entry ({kept})"),
        )
    };
    let chosen: Vec<&crate::proto::RunLog> = if spec == "all" {
        runs.iter().collect()
    } else {
        let n: i64 = spec.parse().map_err(|_| {
            Error::new(
                Code::Usage,
                format!("--run {spec:?}: use -1 (latest), -2, a run number, or all"),
            )
        })?;
        let r = if n < 0 {
            runs.len()
                .checked_sub(n.unsigned_abs() as usize)
                .and_then(|i| runs.get(i))
        } else {
            runs.iter().find(|r| i64::from(r.run) == n)
        };
        match (r, runs.is_empty(), n) {
            (Some(r), _, _) => vec![r],
            (None, true, -1) => Vec::new(),
            _ => return Err(bad()),
        }
    };
    chosen
        .into_iter()
        .map(|r| {
            RunView::open(Path::new(&r.dir), r.run, r.dropped, Some(r.bytes))
                .map_err(|e| Error::io(format!("cannot read the logs in {}", r.dir), e))
        })
        .collect()
}

/// Streams live output from where the files ended. Plain output passes bytes through as they
/// come; with a search, timestamps or JSON, output is cut into lines first. The stream outlives
/// a daemon being replaced: it goes on from the byte it had got to, taking from the log files
/// what the old daemon captured but had not sent.
fn follow(
    paths: &Paths,
    client: &mut Client,
    info: &LogInfo,
    streams: u8,
    q: &Query,
    printer: &mut Printer,
    out: &mut impl Write,
) -> Result<()> {
    printer.headers = false;
    let mut sink = Sink {
        streams,
        by_line: q.regex.is_some() || printer.timestamps || printer.json,
        partial: [Vec::new(), Vec::new()],
        run: info.runs.last().map_or(0, |r| r.run),
        q,
        printer,
        out,
    };
    // The sequence number of the next byte: both streams are followed (and the unwanted one
    // dropped here) so that every byte the stream moves past is counted.
    let mut pos = info.end_seq;
    reconnect::resilient(paths, client, Notice::Stderr, |client, resumed| {
        if resumed {
            let sel = Selector::target(info.id.to_string());
            let now = match client.logs(&sel, false) {
                Ok(infos) => infos.into_iter().find(|i| i.id == info.id),
                Err(e) if e.code == Code::NoSuchEntry => None,
                Err(e) => return Err(e),
            };
            let Some(now) = now else {
                return sink.flush(); // removed meanwhile: the stream is over
            };
            if pos < now.end_seq {
                sink.replay_files(&now, pos)?;
            }
            pos = now.end_seq;
        }
        let req = client.follow(info.id, pos, 3)?;
        loop {
            match client.next_item(req)? {
                StreamItem::Data { stream, bytes } => {
                    pos += bytes.len() as u64;
                    sink.data(stream, &bytes)?;
                }
                StreamItem::Event(StreamEvent::Missed { bytes }) => {
                    pos += bytes;
                    sink.missed(bytes);
                }
                StreamItem::Event(StreamEvent::Run { run: r }) => sink.run = r,
                StreamItem::Event(_) => {}
                StreamItem::End => return sink.flush(),
            }
            sink.flush()?;
        }
    })
}

/// Where followed output goes: straight out, or cut into lines to filter and decorate.
struct Sink<'a, W: Write> {
    streams: u8,
    by_line: bool,
    /// The unfinished line of each stream (by line only).
    partial: [Vec<u8>; 2],
    run: u32,
    q: &'a Query,
    printer: &'a mut Printer,
    out: &'a mut W,
}

impl<W: Write> Sink<'_, W> {
    fn data(&mut self, stream: u8, bytes: &[u8]) -> Result<()> {
        if self.streams & stream == 0 {
            return Ok(());
        }
        if !self.by_line {
            return write_out(self.out, bytes);
        }
        let p = &mut self.partial[if stream == 2 { 1 } else { 0 }];
        p.extend_from_slice(bytes);
        while let Some(i) = p.iter().position(|&b| b == b'\n') {
            let text: Vec<u8> = p.drain(..=i).collect();
            let line = LogLine {
                run: self.run,
                ts_us: crate::util::now_us(),
                stream,
                text,
            };
            let keep = self
                .q
                .regex
                .as_ref()
                .is_none_or(|re| re.is_match(line.body()));
            if keep {
                self.printer.line(self.out, &line.as_ref())?;
            }
        }
        Ok(())
    }

    fn missed(&mut self, bytes: u64) {
        let _ = self.out.flush();
        eprintln!("wrangle: [{bytes} bytes skipped: this reader fell behind]");
    }

    /// Passes on the output from sequence number `from` to the end `now` describes, read
    /// from the log files.
    fn replay_files(&mut self, now: &LogInfo, from: u64) -> Result<()> {
        for r in &now.runs {
            let end = r.start_seq.saturating_add(r.bytes);
            if end <= from {
                continue;
            }
            let view = RunView::open(Path::new(&r.dir), r.run, r.dropped, Some(r.bytes))
                .map_err(|e| Error::io(format!("cannot read the logs in {}", r.dir), e))?;
            let mut at = from.saturating_sub(r.start_seq);
            if at < view.start {
                self.missed(view.start - at);
                at = view.start;
            }
            self.run = r.run;
            let mut failed = None;
            view.lines(at, view.end, 3, false, &mut |l| {
                failed = self.data(l.stream, l.text).err();
                failed.is_none()
            })
            .map_err(|e| Error::io("cannot read the log", e))?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        flush_out(self.out)
    }
}

/// Writes to the (buffered) output; see [`flush_out`].
fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    stdout_result(out.write_all(bytes))
}

/// Pushes buffered output out (after the history, and after each live arrival).
fn flush_out(out: &mut impl Write) -> Result<()> {
    stdout_result(out.flush())
}

fn stdout_result(r: std::io::Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        // A closed pipe (`wrangle logs x | head`) is a normal way to stop reading.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("cannot write to standard output", e)),
    }
}
