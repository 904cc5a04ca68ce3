//! Durations as users write them: `250ms`, `5s`, `2m`, `1h`, `1d`, `1.5s`, or bare seconds.

use crate::error::{Code, Error, Result};
use std::time::Duration;

/// Parses a duration; the error names the bad text and the accepted forms.
pub fn parse(text: &str) -> Result<Duration> {
    let t = text.trim();
    let bad = || {
        Error::new(
            Code::Usage,
            format!(
                "invalid duration {text:?} (use e.g. 250ms, 5s, 2m, 1h, 1d or a number of seconds)"
            ),
        )
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale_ms = match unit {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(bad()),
    };
    let ms = value * scale_ms;
    if !ms.is_finite() || ms > 1e15 {
        return Err(bad());
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
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
    }

    #[test]
    fn refuses_junk_with_the_text_in_the_message() {
        for bad in ["", "s", "5x", "-1s", "1.s", ".5s", "5 s", "1e9", "ms5"] {
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
