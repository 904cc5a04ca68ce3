//! Turning replies into text for people: tables, sizes, times, per-entry results.

use crate::proto::{ActionResult, EntryInfo, Outcome};
use crate::util::duration;
use std::time::Duration;

/// `1.5M`, `820K`, `3.2G`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{v:.0}{}", UNITS[u])
    }
}

/// Times are shown in UTC rather than local time (`--utc`).
static UTC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows the times of this command in UTC (`--utc`) rather than local time.
pub fn use_utc(utc: bool) {
    UTC.store(utc, std::sync::atomic::Ordering::Relaxed);
}

/// A time broken down: date, time of day, and the offset from UTC in seconds.
struct Civil {
    y: i64,
    m: i64,
    d: i64,
    secs: i64,
    offset: i64,
}

/// `secs` since the epoch broken down in UTC.
fn civil_utc(secs: i64) -> Civil {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Civil {
        y,
        m,
        d,
        secs: rem,
        offset: 0,
    }
}

/// `secs` since the epoch broken down in the local time zone (TZ, else /etc/localtime), or
/// in UTC after `--utc` or where the C library cannot say.
fn civil(secs: i64) -> Civil {
    if UTC.load(std::sync::atomic::Ordering::Relaxed) {
        return civil_utc(secs);
    }
    local(secs).unwrap_or_else(|| civil_utc(secs))
}

/// `secs` broken down in the local time zone, if the C library can. (time_t and long are
/// i64 here but not on every target, hence the conversions.)
#[allow(clippy::useless_conversion)]
fn local(secs: i64) -> Option<Civil> {
    // (The type comes from localtime_r's parameter: naming libc::time_t warns on musl.)
    let tt = secs.try_into().ok()?;
    // SAFETY: `tm` is plain old data, so all-zero is a valid value; localtime_r reads `tt` and
    // writes only into `tm`, both valid for the call, and is thread-safe (unlike localtime).
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(Civil {
        y: i64::from(tm.tm_year) + 1900,
        m: i64::from(tm.tm_mon) + 1,
        d: i64::from(tm.tm_mday),
        // A leap second shows as :59 again.
        secs: i64::from(tm.tm_hour) * 3600
            + i64::from(tm.tm_min) * 60
            + i64::from(tm.tm_sec.min(59)),
        offset: i64::from(tm.tm_gmtoff),
    })
}

impl Civil {
    fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }

    fn clock(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}",
            self.secs / 3600,
            (self.secs % 3600) / 60,
            self.secs % 60
        )
    }

    /// `Z` for UTC, else `+01:00` and the like.
    fn zone(&self) -> String {
        if self.offset == 0 {
            return "Z".into();
        }
        let a = self.offset.abs();
        let sign = if self.offset < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    }
}

/// A time `2026-11-23 20:04:05+01:00` (local) or `2026-11-23 19:04:05Z` (UTC, or `--utc`)
/// from milliseconds since the epoch.
pub fn time(ms: u64) -> String {
    let c = civil((ms / 1000) as i64);
    format!("{} {}{}", c.date(), c.clock(), c.zone())
}

/// A log timestamp `2026-11-23T20:04:05.123+01:00` (or `…05.123Z` in UTC) from microseconds
/// since the epoch.
pub fn timestamp_us(us: u64) -> String {
    let c = civil((us / 1_000_000) as i64);
    format!(
        "{}T{}.{:03}{}",
        c.date(),
        c.clock(),
        (us / 1000) % 1000,
        c.zone()
    )
}

/// `1 entry`, `2 entries`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How an entry ended, for tables and messages.
pub fn ending(e: &EntryInfo) -> String {
    match (e.exit_code, e.exit_signal) {
        (Some(c), _) => format!("code {c}"),
        (None, Some(s)) => format!("signal {}", crate::util::signal::name(s)),
        _ => "unknown".into(),
    }
}

pub use crate::util::label;

/// How [`table`] lays out its lines.
#[derive(Default)]
pub struct Layout {
    /// Cut each line to this many columns, ending in `…` (None: whole lines).
    pub width: Option<usize>,
    /// An SGR colour per row for one column: (column, colours by row).
    pub paint: Option<(usize, Vec<&'static str>)>,
}

/// Prints a table with a header, columns padded to their widths; the last column is free, and
/// cut where a line would pass `layout.width`.
pub fn table(header: &[&str], rows: &[Vec<String>], layout: &Layout) {
    use super::term;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(term::text_width(c));
        }
    }
    let line = |cells: Vec<&str>, row: Option<usize>| {
        // The line as (text, colour) pieces: each cell, then its padding.
        let mut pieces: Vec<(String, &str)> = Vec::new();
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            let code = match (&layout.paint, row) {
                (Some((col, colours)), Some(r)) if *col == i => {
                    colours.get(r).copied().unwrap_or("")
                }
                _ => "",
            };
            pieces.push((c.to_string(), code));
            if i != last {
                let pad = widths[i] - term::text_width(c) + 2;
                pieces.push((" ".repeat(pad), ""));
            }
        }
        while let Some((t, _)) = pieces.last_mut() {
            let n = t.trim_end().len();
            t.truncate(n);
            if !t.is_empty() {
                break;
            }
            pieces.pop();
        }
        let total: usize = pieces.iter().map(|(t, _)| term::text_width(t)).sum();
        let mut budget = match layout.width {
            Some(w) if total > w => w.saturating_sub(1),
            _ => usize::MAX,
        };
        let mut out = String::new();
        for (t, code) in &pieces {
            let w = term::text_width(t);
            if w > budget {
                out.push_str(&term::paint(&term::take(t, budget), code, true));
                break;
            }
            budget -= w;
            out.push_str(&term::paint(t, code, true));
        }
        if total > layout.width.unwrap_or(usize::MAX) {
            out.push('…');
        }
        println!("{out}");
    };
    line(header.to_vec(), None);
    for (n, r) in rows.iter().enumerate() {
        line(r.iter().map(String::as_str).collect(), Some(n));
    }
}

/// Prints one line per action result; returns the exit status (1 if any failed).
pub fn results(verb_done: &str, rs: &[ActionResult]) -> i32 {
    let mut status = 0;
    for r in rs {
        let who = label(r.id, &r.name);
        match r.outcome {
            Outcome::Failed => {
                status = 1;
                eprintln!(
                    "wrangle: {who}: {}",
                    r.message.as_deref().unwrap_or("failed")
                );
            }
            Outcome::NotRunning => println!("{who} was not running"),
            Outcome::AlreadyRunning => println!("{who} is already running"),
            Outcome::Started | Outcome::Restarted => match r.pid {
                Some(p) => println!("{} {who}, pid {p}", r.outcome),
                None => println!("{} {who}", r.outcome),
            },
            Outcome::Removed if r.message.is_some() => println!(
                "{verb_done} {who} ({})",
                r.message.as_deref().unwrap_or_default()
            ),
            _ => println!("{verb_done} {who}"),
        }
    }
    status
}

/// Uptime column.
pub fn uptime(e: &EntryInfo) -> String {
    e.uptime_ms
        .map(|ms| duration::format(Duration::from_millis(ms)))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        use_utc(true);
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(50 << 20), "50M");
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        assert_eq!(time(1_795_460_645_000), "2026-11-23 19:04:05Z");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(
            timestamp_us(1_795_460_645_123_456),
            "2026-11-23T19:04:05.123Z"
        );
    }
}
