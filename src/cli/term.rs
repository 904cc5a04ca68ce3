//! What the command line knows about the terminal it prints to: its width (to cut lines that
//! would wrap), whether to colour (`--color`, NO_COLOR), and making text safe to show on one
//! line (control characters escaped).

use crate::error::{Code, Error, Result};
use std::io::IsTerminal;

/// `--color auto|always|never`: colour on a terminal (unless NO_COLOR is set and not empty),
/// always, or never.
pub fn color(flag: Option<&str>) -> Result<bool> {
    match flag.unwrap_or("auto") {
        "always" => Ok(true),
        "never" => Ok(false),
        "auto" => Ok(std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())),
        other => Err(Error::new(
            Code::Usage,
            format!("--color: {other:?} is not auto, always or never"),
        )),
    }
}

/// The width lines must fit in, or None for no limit: `--width N` (0: no limit), else
/// COLUMNS when set to a number, else the width of the terminal on standard output; a pipe or
/// a file gets whole lines.
pub fn width(flag: Option<usize>) -> Option<usize> {
    if let Some(w) = flag {
        return (w > 0).then_some(w);
    }
    if let Some(w) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&w| w > 0)
    {
        return Some(w);
    }
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|ws| usize::from(ws.ws_col))
        .filter(|&w| w > 0)
}

/// `text` on one line: newline, carriage return and tab as `\n`, `\r`, `\t`, other control
/// characters as `\xNN` (a backslash stays as it is).
pub fn one_line(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => s.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => s.push(c),
        }
    }
    s
}

/// The columns `c` takes on a terminal: 0 for combining marks, 2 for East Asian wide and full
/// width characters (the common ranges), 1 for the rest.
pub fn char_width(c: char) -> usize {
    let u = u32::from(c);
    match u {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The columns `s` takes.
pub fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// The longest start of `s` that fits in `max` columns.
pub fn take(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// Wraps `s` in an SGR colour (`code` as in `32` or `1;31`) when `on`.
pub fn paint(s: &str, code: &str, on: bool) -> String {
    if on && !code.is_empty() && !s.is_empty() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_and_escaping() {
        assert_eq!(take("abcdef", 9), "abcdef");
        assert_eq!(take("abcdef", 3), "abc");
        assert_eq!(take("日本語", 3), "日");
        assert_eq!(one_line("a\nb\tc\x1b"), "a\\nb\\tc\\x1b");
    }
}
