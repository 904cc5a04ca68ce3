//! What a screen shows, rendered: plain text, ANSI (colours and attributes as SGR sequences),
//! a standalone HTML page, and a [`Snapshot`] (rows, cursor, title, size) for JSON. Each can
//! start with the last lines of scrollback.

use super::Screen;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How `wrangle screen` prints a screen.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Text,
    Ansi,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "ansi" => Ok(Format::Ansi),
            "html" => Ok(Format::Html),
            _ => Err(format!("invalid format {s:?} (use text, ansi or html)")),
        }
    }
}

/// A screen as data: its text rows, the scrollback lines asked for, the cursor, the title.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub rows: u16,
    pub cols: u16,
    /// The visible rows as text (trailing blanks cut), top first.
    pub lines: Vec<String>,
    /// Lines that scrolled off the top, oldest first (only as many as asked for).
    #[serde(default)]
    pub scrollback: Vec<String>,
    /// Row and column of the cursor (from 0), and whether it is shown.
    pub cursor: [u16; 2],
    pub cursor_visible: bool,
    pub title: String,
    pub alternate_screen: bool,
}

/// One rendered row's cells: (text, attributes) with wide characters' second halves left out.
fn visit_rows(screen: &mut Screen, scrollback: usize, mut row: impl FnMut(&vt100::Screen, u16)) {
    let (rows, _) = screen.size();
    let mut off = scrollback.min(screen.scrollback_len());
    while off > 0 {
        screen.vt_mut().set_scrollback(off);
        let k = off.min(usize::from(rows));
        for r in 0..k {
            row(screen.vt(), r as u16);
        }
        off -= k;
    }
    screen.vt_mut().set_scrollback(0);
    for r in 0..rows {
        row(screen.vt(), r);
    }
}

fn row_text(s: &vt100::Screen, r: u16, out: &mut String) {
    let (_, cols) = s.size();
    let start = out.len();
    for c in 0..cols.get() {
        let Some(cell) = s.cell(r, c) else { break };
        if cell.is_wide_continuation() {
            continue;
        }
        match cell.contents() {
            "" => out.push(' '),
            t => out.push_str(t),
        }
    }
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
}

/// The screen (after `scrollback` lines of scrollback) as data.
pub fn snapshot(screen: &mut Screen, scrollback: usize) -> Snapshot {
    let (rows, cols) = screen.size();
    let sb = scrollback.min(screen.scrollback_len());
    let mut all = Vec::new();
    visit_rows(screen, sb, |s, r| {
        let mut line = String::new();
        row_text(s, r, &mut line);
        all.push(line);
    });
    let lines = all.split_off(sb);
    let s = screen.vt();
    let (cr, cc) = s.cursor_position();
    Snapshot {
        rows,
        cols,
        lines,
        scrollback: all,
        cursor: [cr, cc],
        cursor_visible: !s.hide_cursor(),
        title: screen.title().to_string(),
        alternate_screen: s.alternate_screen(),
    }
}

/// The screen (after `scrollback` lines of scrollback) in `format`.
pub fn render(screen: &mut Screen, format: Format, scrollback: usize) -> String {
    match format {
        Format::Text => {
            let snap = snapshot(screen, scrollback);
            let mut out = String::new();
            for l in snap.scrollback.iter().chain(&snap.lines) {
                out.push_str(l);
                out.push('\n');
            }
            out
        }
        Format::Ansi => {
            let mut out = String::new();
            visit_rows(screen, scrollback, |s, r| {
                styled_row(s, r, &mut out, Style::Ansi);
                out.push_str("\x1b[0m\n");
            });
            out
        }
        Format::Html => html(screen, scrollback),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Ansi,
    Html,
}

/// The attributes of a cell that show.
#[derive(Clone, Copy, PartialEq, Default)]
struct Pen {
    fg: Option<vt100::Color>,
    bg: Option<vt100::Color>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

fn pen(cell: &vt100::Cell) -> Pen {
    let col = |c| match c {
        vt100::Color::Default => None,
        other => Some(other),
    };
    Pen {
        fg: col(cell.fgcolor()),
        bg: col(cell.bgcolor()),
        bold: cell.bold(),
        dim: cell.dim(),
        italic: cell.italic(),
        underline: cell.underline(),
        inverse: cell.inverse(),
    }
}

/// A row with its attributes, as SGR sequences or as HTML spans; trailing default blanks cut.
fn styled_row(s: &vt100::Screen, r: u16, out: &mut String, style: Style) {
    let (_, cols) = s.size();
    let cols = cols.get();
    // Where the row's last cell that shows anything is.
    let mut end = 0;
    for c in 0..cols {
        if let Some(cell) = s.cell(r, c) {
            if cell.has_contents() || pen(cell) != Pen::default() {
                end = c + 1;
            }
        }
    }
    let mut cur = Pen::default();
    let mut open = false;
    for c in 0..end {
        let Some(cell) = s.cell(r, c) else { break };
        if cell.is_wide_continuation() {
            continue;
        }
        let p = pen(cell);
        if p != cur {
            match style {
                Style::Ansi => sgr(&p, out),
                Style::Html => {
                    if open {
                        out.push_str("</span>");
                    }
                    open = p != Pen::default();
                    if open {
                        span(&p, out);
                    }
                }
            }
            cur = p;
        }
        let text = match cell.contents() {
            "" => " ",
            t => t,
        };
        match style {
            Style::Ansi => out.push_str(text),
            Style::Html => escape(text, out),
        }
    }
    if open {
        out.push_str("</span>");
    }
}

fn sgr(p: &Pen, out: &mut String) {
    out.push_str("\x1b[0");
    for (on, code) in [
        (p.bold, "1"),
        (p.dim, "2"),
        (p.italic, "3"),
        (p.underline, "4"),
        (p.inverse, "7"),
    ] {
        if on {
            out.push(';');
            out.push_str(code);
        }
    }
    for (c, base) in [(p.fg, 30u8), (p.bg, 40u8)] {
        match c {
            Some(vt100::Color::Idx(n)) if n < 8 => {
                let _ = write!(out, ";{}", base + n);
            }
            Some(vt100::Color::Idx(n)) if n < 16 => {
                let _ = write!(out, ";{}", base + 60 + n - 8);
            }
            Some(vt100::Color::Idx(n)) => {
                let _ = write!(out, ";{};5;{n}", base + 8);
            }
            Some(vt100::Color::Rgb(r, g, b)) => {
                let _ = write!(out, ";{};2;{r};{g};{b}", base + 8);
            }
            _ => {}
        }
    }
    out.push('m');
}

const FG: (u8, u8, u8) = (0xd0, 0xd0, 0xd0);
const BG: (u8, u8, u8) = (0x10, 0x10, 0x10);

/// xterm's palette.
fn rgb(c: vt100::Color) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    match c {
        vt100::Color::Idx(n) if n < 16 => BASE[usize::from(n)],
        vt100::Color::Idx(n) if n < 232 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            let n = n - 16;
            (level(n / 36), level(n / 6 % 6), level(n % 6))
        }
        vt100::Color::Idx(n) => {
            let v = 8 + (n - 232) * 10;
            (v, v, v)
        }
        vt100::Color::Rgb(r, g, b) => (r, g, b),
        vt100::Color::Default => FG,
    }
}

fn span(p: &Pen, out: &mut String) {
    let mut fg = p.fg.map_or(FG, rgb);
    let mut bg = p.bg.map(rgb);
    if p.inverse {
        let old_fg = fg;
        fg = bg.unwrap_or(BG);
        bg = Some(old_fg);
    }
    let _ = write!(
        out,
        "<span style=\"color:#{:02x}{:02x}{:02x}",
        fg.0, fg.1, fg.2
    );
    if let Some(b) = bg {
        let _ = write!(out, ";background:#{:02x}{:02x}{:02x}", b.0, b.1, b.2);
    }
    if p.bold {
        out.push_str(";font-weight:bold");
    }
    if p.dim {
        out.push_str(";opacity:0.7");
    }
    if p.italic {
        out.push_str(";font-style:italic");
    }
    if p.underline {
        out.push_str(";text-decoration:underline");
    }
    out.push_str("\">");
}

fn escape(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn html(screen: &mut Screen, scrollback: usize) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    let title = match screen.title() {
        "" => "wrangle screen".to_string(),
        t => t.to_string(),
    };
    escape(&title, &mut out);
    let _ = write!(
        out,
        "</title>\n<style>body{{margin:0;background:#{:02x}{:02x}{:02x}}}pre{{margin:0;padding:1em;\
         color:#{:02x}{:02x}{:02x};font-family:ui-monospace,monospace;line-height:1.2}}</style>\n\
         </head><body><pre>",
        BG.0, BG.1, BG.2, FG.0, FG.1, FG.2
    );
    visit_rows(screen, scrollback, |s, r| {
        styled_row(s, r, &mut out, Style::Html);
        out.push('\n');
    });
    out.push_str("</pre></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(bytes: &[u8]) -> Screen {
        let mut s = Screen::new(4, 20, 100);
        s.feed(bytes);
        s
    }

    #[test]
    fn text_cuts_trailing_blanks_and_keeps_wide_chars() {
        let mut s = screen("漢字 ok 🙂!\r\n  indented   ".as_bytes());
        assert_eq!(
            render(&mut s, Format::Text, 0),
            "漢字 ok 🙂!\n  indented\n\n\n"
        );
    }

    #[test]
    fn ansi_keeps_colours_and_attributes() {
        let mut s = screen(b"\x1b[1;31mred\x1b[0m \x1b[38;5;208mor\x1b[48;2;1;2;3mrgb\x1b[m");
        let a = render(&mut s, Format::Ansi, 0);
        assert!(
            a.starts_with("\x1b[0;1;31mred\x1b[0m \x1b[0;38;5;208mor"),
            "{a:?}"
        );
        assert!(a.contains("\x1b[0;38;5;208;48;2;1;2;3mrgb"), "{a:?}");
        // What it prints redraws the same screen.
        let mut again = screen(a.trim_end().replace('\n', "\r\n").as_bytes());
        assert_eq!(render(&mut again, Format::Ansi, 0), a);
    }

    #[test]
    fn html_is_a_page_with_escaped_text_and_colours() {
        let mut s = screen("\x1b]2;a<b\x07\x1b[38;5;196m<&>\x1b[0m 漢".as_bytes());
        let h = render(&mut s, Format::Html, 0);
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("<title>a&lt;b</title>"));
        assert!(
            h.contains("<span style=\"color:#ff0000\">&lt;&amp;&gt;</span> 漢\n"),
            "{h}"
        );
        assert!(h.ends_with("</html>\n"));
    }

    #[test]
    fn snapshot_and_scrollback() {
        let mut s = Screen::new(3, 10, 100);
        for i in 0..8 {
            s.feed(format!("l{i}\r\n").as_bytes());
        }
        s.feed(b"\x1b[?25l");
        let snap = snapshot(&mut s, 4);
        assert_eq!(snap.scrollback, ["l2", "l3", "l4", "l5"]);
        assert_eq!(snap.lines, ["l6", "l7", ""]);
        assert_eq!(snap.cursor, [2, 0]);
        assert!(!snap.cursor_visible);
        // More than is held: all of it, in order; the live view is back after.
        let snap = snapshot(&mut s, 1000);
        assert_eq!(snap.scrollback.len(), 6);
        assert_eq!(snap.scrollback[0], "l0");
        assert_eq!(render(&mut s, Format::Text, 0), "l6\nl7\n\n");
    }

    #[test]
    fn palette() {
        assert_eq!(rgb(vt100::Color::Idx(196)), (255, 0, 0));
        assert_eq!(rgb(vt100::Color::Idx(16)), (0, 0, 0));
        assert_eq!(rgb(vt100::Color::Idx(232)), (8, 8, 8));
        assert_eq!(rgb(vt100::Color::Idx(255)), (238, 238, 238));
        assert_eq!(Format::parse("html"), Ok(Format::Html));
        assert!(Format::parse("md")
            .unwrap_err()
            .contains("text, ansi or html"));
    }
}
