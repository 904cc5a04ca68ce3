//! `wrangle logs` of several entries (a selector that matches many, or `all`), as `pm2 logs`
//! shows them: their history merged by receive time, each line prefixed `[name]` (a colour
//! per name on a terminal), then with `-f` their live lines as they come.

use super::term;
use super::{client, render};
use crate::client::reconnect::{self, Notice};
use crate::error::{Code, Error, Result};
use crate::logs::read::LogLine;
use crate::logs::search::{self, Item, Query};
use crate::paths::Paths;
use crate::proto::{EventKind, LogInfo, Selector};
use std::io::Write;

/// How the lines of several entries are shown.
pub(super) struct Show {
    pub streams: u8,
    pub timestamps: bool,
    pub json: bool,
    pub colour: bool,
    pub follow: bool,
    /// Which run of each entry (`-1`, `all`, ...).
    pub run: String,
}

/// Colours for names, in the order entries are listed (then by a hash of the name).
const PALETTE: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

struct Prefixes {
    width: usize,
    colour: bool,
    /// The ids of the entries listed, in order (their colours follow it).
    ids: Vec<u64>,
}

impl Prefixes {
    fn new(infos: &[LogInfo], colour: bool) -> Prefixes {
        let ids = infos.iter().map(|e| e.id).collect();
        let width = infos
            .iter()
            .map(|e| term::text_width(&label(e.id, &e.name)))
            .max()
            .unwrap_or(0);
        Prefixes { width, colour, ids }
    }

    /// `[name]` padded to the widest name, coloured when asked.
    fn of(&self, id: u64, name: &Option<String>) -> String {
        let l = label(id, name);
        let pad = self.width.saturating_sub(term::text_width(&l));
        let n = self.ids.iter().position(|&i| i == id).unwrap_or_else(|| {
            l.bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31) + usize::from(b))
        });
        let code = PALETTE[n % PALETTE.len()];
        format!(
            "{}{} ",
            term::paint(&format!("[{l}]"), code, self.colour),
            " ".repeat(pad)
        )
    }
}

/// The name, or the id of an unnamed entry.
fn label(id: u64, name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| id.to_string())
}

/// Prints one line (`text` without its newline).
#[allow(clippy::too_many_arguments)]
fn print_line(
    out: &mut impl Write,
    show: &Show,
    prefixes: &Prefixes,
    id: u64,
    name: &Option<String>,
    run: Option<u32>,
    ts_us: u64,
    stream: &str,
    text: &[u8],
) -> Result<()> {
    let line = if show.json {
        let mut v = serde_json::json!({
            "id": id,
            "name": name,
            "ts_us": ts_us,
            "stream": stream,
            "line": String::from_utf8_lossy(text),
        });
        if let Some(r) = run {
            v["run"] = r.into();
        }
        format!("{v}\n").into_bytes()
    } else {
        let mut l = Vec::with_capacity(text.len() + 32);
        if show.timestamps {
            l.extend_from_slice(render::timestamp_us(ts_us).as_bytes());
            l.push(b' ');
        }
        l.extend_from_slice(prefixes.of(id, name).as_bytes());
        l.extend_from_slice(text);
        l.push(b'\n');
        l
    };
    match out.write_all(&line) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("cannot write to standard output", e)),
    }
}

fn flush(out: &mut impl Write) -> Result<()> {
    match out.flush() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("cannot write to standard output", e)),
    }
}

/// The lines `q` selects from each entry in `infos`, merged by receive time (the last N of
/// them all for a tail, the first N for `--head`).
fn history(infos: &[LogInfo], show: &Show, q: &Query) -> Result<Vec<(usize, LogLine)>> {
    let mut all = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let views = super::logs::open_runs(info, &show.run).map_err(|e| {
            Error::new(
                e.code,
                format!("{}: {}", label(info.id, &info.name), e.message),
            )
        })?;
        for item in search::select(&views, show.streams, q)
            .map_err(|e| Error::io("cannot read the log", e))?
        {
            if let Item::Line { line, .. } = item {
                all.push((i, line));
            }
        }
    }
    // One entry's lines keep their order when their times are equal (its index is unique).
    let mut order: Vec<(u64, usize)> = all
        .iter()
        .enumerate()
        .map(|(k, (_, l))| (l.ts_us, k))
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<(usize, LogLine)>> = all.into_iter().map(Some).collect();
    let mut all: Vec<(usize, LogLine)> = order
        .into_iter()
        .filter_map(|(_, k)| slots[k].take())
        .collect();
    if let Some(n) = q.head {
        all.truncate(n);
    } else if let Some(n) = q.tail {
        let cut = all.len().saturating_sub(n);
        all.drain(..cut);
    }
    Ok(all)
}

/// Prints the history of several entries, then follows them. With `-f`, the subscription to
/// their live lines is made first, so that nothing falls between history and live lines;
/// a live line already shown in the history (same entry, time and text) is not shown again.
pub(super) fn logs_many(
    paths: &Paths,
    sel: &Selector,
    infos: Vec<LogInfo>,
    show: Show,
    q: &Query,
) -> Result<i32> {
    let mut sub = None;
    let infos = if show.follow {
        let mut c = client(paths)?;
        let req = c.subscribe(sel, 2, None)?;
        sub = Some((c, req));
        // Again, now that the subscription is in place.
        client(paths)?.logs(sel, false)?
    } else {
        infos
    };
    let prefixes = Prefixes::new(&infos, show.colour);
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let lines = history(&infos, &show, q)?;
    // Per entry (as listed): the time (ms) of its last line shown, and the texts shown then.
    let mut last: Vec<(u64, Vec<Vec<u8>>)> = vec![(0, Vec::new()); infos.len()];
    for (i, l) in &lines {
        let info = &infos[*i];
        let stream = if l.stream == 2 { "stderr" } else { "stdout" };
        let body = l.body();
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        print_line(
            &mut out,
            &show,
            &prefixes,
            info.id,
            &info.name,
            Some(l.run),
            l.ts_us,
            stream,
            body,
        )?;
        let ms = l.ts_us / 1000;
        let slot = &mut last[*i];
        if slot.0 != ms {
            *slot = (ms, Vec::new());
        }
        slot.1.push(body.to_vec());
    }
    flush(&mut out)?;
    let Some((mut c, first)) = sub else {
        return Ok(0);
    };
    let mut req = Some(first);
    reconnect::resilient(paths, &mut c, Notice::Stderr, |c, _resumed| {
        let r = match req.take() {
            Some(r) => r,
            None => c.subscribe(sel, 2, None)?,
        };
        while let Some(ev) = c.next_event(r)? {
            if ev.kind == EventKind::Missed {
                let _ = out.flush();
                eprintln!(
                    "wrangle: [{} lines skipped: this reader fell behind]",
                    ev.count.unwrap_or(0)
                );
                continue;
            }
            if ev.kind != EventKind::Log {
                continue;
            }
            let stream = ev.stream.as_deref().unwrap_or("stdout");
            let wanted = if stream == "stderr" { 2 } else { 1 };
            if show.streams & wanted == 0 {
                continue;
            }
            let text = ev.message.as_bytes();
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let listed = infos.iter().position(|i| i.id == ev.id);
            if let Some((ms, shown)) = listed.map(|k| &mut last[k]) {
                if ev.ts_ms < *ms {
                    continue;
                }
                if ev.ts_ms == *ms {
                    if let Some(k) = shown.iter().position(|s| s == text) {
                        shown.remove(k);
                        continue;
                    }
                }
            }
            if q.regex.as_ref().is_some_and(|re| !re.is_match(text)) {
                continue;
            }
            print_line(
                &mut out,
                &show,
                &prefixes,
                ev.id,
                &ev.name,
                None,
                ev.ts_ms * 1000,
                stream,
                text,
            )?;
            flush(&mut out)?;
        }
        Ok(0)
    })
}

/// The flags that need one entry, refused for several.
pub(super) fn refuse_for_many(build: bool, context: bool) -> Result<()> {
    if build || context {
        let what = if build { "--build" } else { "-C, -A and -B" };
        return Err(Error::new(
            Code::Usage,
            format!("logs: {what} need one entry (a name or an id)"),
        ));
    }
    Ok(())
}
