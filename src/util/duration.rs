//! Durations as users write them: `250ms`, `5s`, `2m`, `1h`, `1d`, `1.5s`, compounds such as
//! `1h30m`, or bare seconds; and written back exactly in a form that parses.

use crate::error::{Code, Error, Result};
use std::time::Duration;

/// Parses a duration: one number with a unit, or several in decreasing units (`1h30m`,
/// `1m30.5s`), or bare seconds; the error names the bad text and the accepted forms.
pub fn parse(text: &str) -> Result<Duration> {
    let t = text.trim();
    let bad = || {
        Error::new(
            Code::Usage,
            format!(
                "invalid duration {text:?} (use e.g. 250ms, 5s, 2m, 1h, 1d, 1h30m or a number of \
                 seconds)"
            ),
        )
    };
    const UNITS: [(&str, f64); 5] = [
        ("d", 86_400_000.0),
        ("h", 3_600_000.0),
        ("m", 60_000.0),
        ("s", 1_000.0),
        ("ms", 1.0),
    ];
    let mut rest = t;
    let mut ms = 0.0;
    // Units must come in decreasing order, each once: the index of the next allowed.
    let mut next = 0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(split);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let ulen = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(ulen);
        let scale = if unit.is_empty() {
            // Bare seconds: only as the whole text.
            if rest.len() != t.len() {
                return Err(bad());
            }
            1_000.0
        } else {
            let i = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
            if i < next {
                return Err(bad());
            }
            next = i + 1;
            UNITS[i].1
        };
        ms += value * scale;
        rest = tail;
    }
    if t.is_empty() || !ms.is_finite() || ms > 1e15 {
        return Err(bad());
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

/// Formats a duration exactly, in the form [`parse`] reads back: `250ms`, `1.5s`, `1m30s`,
/// `1h30m`, `2d3h0m1.25s`; down to the millisecond.
pub fn exact(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let (hours, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mins, rem) = (rem / 60_000, rem % 60_000);
    let mut s = String::new();
    let big = [(days, "d"), (hours, "h"), (mins, "m")];
    let first = big.iter().position(|(n, _)| *n > 0);
    let last = if rem > 0 {
        Some(big.len() - 1)
    } else {
        big.iter().rposition(|(n, _)| *n > 0)
    };
    if let (Some(f), Some(l)) = (first, last) {
        for (n, u) in &big[f..=l] {
            s.push_str(&format!("{n}{u}"));
        }
    }
    if rem > 0 {
        let (secs, milli) = (rem / 1000, rem % 1000);
        if milli == 0 {
            s.push_str(&format!("{secs}s"));
        } else {
            let frac = format!("{milli:03}");
            s.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
        }
    }
    s
}

/// Formats a duration compactly for tables: `850ms`, `42s`, `3m12s`, `5h4m`, `2d3h`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    let s = ms / 1000;
    if s == 0 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1m30.5s").unwrap(), Duration::from_millis(90_500));
        assert_eq!(parse("1s500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(
            parse("2d3h").unwrap(),
            Duration::from_secs(2 * 86_400 + 3 * 3600)
        );
    }

    #[test]
    fn exact_forms_read_back() {
        for (ms, text) in [
            (250, "250ms"),
            (1500, "1.5s"),
            (5000, "5s"),
            (90_000, "1m30s"),
            (120_000, "2m"),
            (5_400_000, "1h30m"),
            (3_600_000, "1h"),
            (3_601_000, "1h0m1s"),
            (86_400_000 + 1250, "1d0h0m1.25s"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(exact(d), text);
            assert_eq!(parse(text).unwrap(), d);
        }
    }

    #[test]
    fn refuses_junk_with_the_text_in_the_message() {
        for bad in [
            "", "s", "5x", "-1s", "1.s", ".5s", "5 s", "1e9", "ms5", "30s1m", "1m1m", "1m30",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, Code::Usage, "{bad}");
            assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
        }
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format(Duration::from_millis(850)), "850ms");
        assert_eq!(format(Duration::from_secs(42)), "42s");
        assert_eq!(format(Duration::from_secs(192)), "3m12s");
        assert_eq!(format(Duration::from_secs(5 * 3600 + 240)), "5h4m");
        assert_eq!(format(Duration::from_secs(2 * 86_400 + 3 * 3600)), "2d3h");
    }
}
