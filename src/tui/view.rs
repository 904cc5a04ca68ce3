//! Drawing the model: the list (state colours, CPU history as block characters), the details
//! of the selected entry (with a CPU sparkline), its output with the search's matches
//! highlighted, the line of keys (or a prompt, a question, a message), and the `?` overlay.
//! Without colours (NO_COLOR, a plain terminal) states read as words and the selection and
//! matches as reverse video.

use super::model::{Area, Focus, Mode, Model, Prompt, Row};
use crate::cli::render;
use crate::proto::EntryInfo;
use ratatui_core::buffer::Buffer;
use ratatui_core::layout::Rect;
use ratatui_core::style::{Color, Modifier, Style};
use ratatui_core::text::{Line, Span};
use ratatui_core::widgets::Widget;

/// Every key, for the help overlay (the bottom line shows the common ones).
pub const KEYS: &[(&str, &str)] = &[
    ("Up/Down, j/k", "select an entry (or scroll the output)"),
    ("PgUp/PgDn, Home/End", "move by a page, to the ends"),
    ("Enter, Tab", "move between the list and the output"),
    ("s / S / r", "stop / start / restart the entry"),
    ("d", "remove the entry (asks first)"),
    ("a", "attach (detach with Ctrl-\\ to come back)"),
    ("i", "type a line for the entry's input"),
    ("/  n  N", "search the output; next, previous match"),
    ("f", "filter: text, tag:T, group:G, state:S"),
    ("t", "tree view: entries under their groups"),
    ("mouse", "click to select, wheel to scroll"),
    ("Ctrl-Z", "suspend (fg to come back)"),
    ("q, Ctrl-C", "quit"),
];

fn rect(a: Area) -> Rect {
    Rect::new(a.x, a.y, a.w, a.h)
}

/// Lines from the top of `area`, one a row, cut at its right edge.
fn put(lines: Vec<Line>, area: Rect, buf: &mut Buffer) {
    for (i, l) in lines.into_iter().take(usize::from(area.height)).enumerate() {
        l.render(Rect::new(area.x, area.y + i as u16, area.width, 1), buf);
    }
}

/// A style with a foreground colour, or none without colours.
fn fg(m: &Model, c: Color) -> Style {
    if m.color {
        Style::new().fg(c)
    } else {
        Style::new()
    }
}

fn state_style(m: &Model, e: &EntryInfo) -> Style {
    let c = match e.state.as_str() {
        "running" => Color::Green,
        "starting" | "stopping" | "backoff" => Color::Yellow,
        "errored" => Color::Red,
        "exited" if e.exit_code != Some(0) => Color::Red,
        "stopped" => Color::Blue,
        _ => Color::Reset,
    };
    fg(m, c)
}

/// Cuts or pads `s` to `w` columns.
fn cell(s: &str, w: usize) -> String {
    let mut out: String = s.chars().take(w).collect();
    let n = out.chars().count();
    if n < w {
        out.extend(std::iter::repeat_n(' ', w - n));
    }
    out
}

/// CPU history as block characters, scaled to one core (100%), the last `w` samples.
fn spark(h: Option<&std::collections::VecDeque<u64>>, w: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let Some(h) = h else {
        return String::new();
    };
    h.iter()
        .skip(h.len().saturating_sub(w))
        .map(|&v| BARS[(v.min(1000) as usize * 7).div_ceil(1000)])
        .collect()
}

pub fn draw(m: &Model, buf: &mut Buffer) {
    let l = m.layout();
    list(m, rect(l.list), buf);
    details(m, rect(l.details), buf);
    output(m, rect(l.output), buf);
    keys(m, rect(l.keys), buf);
    if m.mode == Mode::Help {
        help(m, buf);
    }
}

/// A box with a title on its top edge (bold and coloured when focused); returns its inside.
fn frame(m: &Model, title: &str, focused: bool, area: Rect, buf: &mut Buffer) -> Rect {
    if area.width < 2 || area.height < 2 {
        return Rect::new(area.x, area.y, 0, 0);
    }
    let style = if focused {
        fg(m, Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let (w, h) = (usize::from(area.width - 2), area.height - 2);
    let (right, bottom) = (area.right() - 1, area.bottom() - 1);
    buf.set_string(area.x, area.y, format!("┌{}┐", "─".repeat(w)), style);
    for y in area.y + 1..bottom {
        buf.set_string(area.x, y, "│", style);
        buf.set_string(right, y, "│", style);
    }
    buf.set_string(area.x, bottom, format!("└{}┘", "─".repeat(w)), style);
    buf.set_stringn(area.x + 1, area.y, title, w, style);
    Rect::new(area.x + 1, area.y + 1, area.width - 2, h)
}

fn list(m: &Model, area: Rect, buf: &mut Buffer) {
    let rows = m.rows();
    let n = rows.iter().filter(|r| matches!(r, Row::Entry(_))).count();
    let plural = if n == 1 { "entry" } else { "entries" };
    let mut title = format!(" wrangle top: {n} {plural} ");
    if !m.filter.is_empty() {
        title.push_str(&format!("(filter: {}) ", m.filter));
    }
    if m.tree {
        title.push_str("(tree) ");
    }
    let inner = frame(m, &title, m.focus == Focus::List, area, buf);
    let w = usize::from(inner.width);
    // id, name, state, pid, uptime, restarts, cpu, memory; history takes what is left.
    let fixed = 4 + 1 + 8 + 1 + 7 + 1 + 8 + 1 + 3 + 1 + 6 + 1 + 6 + 1;
    let rest = w.saturating_sub(fixed);
    let name_w = (rest / 2).clamp(6, 24);
    let hist_w = rest.saturating_sub(name_w + 1);
    let head = format!(
        "{:>4} {} {} {:>7} {:>8} {:>3} {:>6} {:>6} {}",
        "ID",
        cell("NAME", name_w),
        cell("STATE", 8),
        "PID",
        "UPTIME",
        "RST",
        "CPU%",
        "MEM",
        cell("CPU HISTORY", hist_w)
    );
    let mut lines = vec![Line::styled(
        head,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    let shown = usize::from(inner.height.saturating_sub(1));
    for r in rows.iter().skip(m.top).take(shown) {
        let e = match r {
            Row::Group(g) => {
                lines.push(Line::styled(
                    format!("{g}:"),
                    fg(m, Color::Magenta).add_modifier(Modifier::BOLD),
                ));
                continue;
            }
            Row::Entry(id) => match m.entry(*id) {
                Some(e) => e,
                None => continue,
            },
        };
        let indent = if m.tree { "  " } else { "" };
        let name = format!("{indent}{}", e.name.as_deref().unwrap_or("-"));
        let cpu = e.cpu_percent.map_or("-".into(), |c| format!("{c:.1}"));
        let mem = e.rss_bytes.map_or("-".into(), render::bytes);
        let pid = e.pid.map_or("-".into(), |p| p.to_string());
        let mut spans = vec![
            Span::raw(format!("{:>4} {} ", e.id, cell(&name, name_w))),
            Span::styled(cell(&e.state, 8), state_style(m, e)),
            Span::raw(format!(
                " {pid:>7} {:>8} {:>3} {cpu:>6} {mem:>6} ",
                render::uptime(e),
                e.restarts
            )),
            Span::styled(
                cell(&spark(m.history_of(e.id), hist_w), hist_w),
                fg(m, Color::Cyan),
            ),
        ];
        let mut line = Line::default();
        if Some(e.id) == m.selected {
            let sel = Style::new().add_modifier(Modifier::REVERSED);
            spans = spans.into_iter().map(|s| s.patch_style(sel)).collect();
            line = line.style(sel);
        }
        lines.push(line.spans(spans));
    }
    if rows.is_empty() {
        let msg = if m.entries.is_empty() {
            "no entries yet: start one with wrangle run -- COMMAND"
        } else {
            "no entry passes the filter (f to change it)"
        };
        lines.push(Line::styled(msg, Style::new().add_modifier(Modifier::DIM)));
    }
    put(lines, inner, buf);
}

fn details(m: &Model, area: Rect, buf: &mut Buffer) {
    let inner = frame(m, " details ", false, area, buf);
    let Some(e) = m.selected_entry() else {
        return;
    };
    let key = |k: &str| Span::styled(format!("{k:<9}"), Style::new().add_modifier(Modifier::BOLD));
    let mut lines = Vec::new();
    let mut state = e.state.clone();
    if matches!(e.state.as_str(), "exited" | "errored" | "stopped") && e.ended_at_ms.is_some() {
        state.push_str(&format!(" ({})", render::ending(e)));
    }
    lines.push(Line::from(vec![
        key("entry"),
        Span::raw(render::label(e.id, &e.name)),
    ]));
    lines.push(Line::from(vec![
        key("state"),
        Span::styled(state, state_style(m, e)),
        Span::raw(format!("  run {}  restarts {}", e.run, e.restarts)),
    ]));
    lines.push(Line::from(vec![
        key("command"),
        Span::raw(e.command.clone()),
    ]));
    lines.push(Line::from(vec![key("cwd"), Span::raw(e.cwd.clone())]));
    for (what, names) in [("tags", &e.tags), ("groups", &e.groups)] {
        if !names.is_empty() {
            lines.push(Line::from(vec![key(what), Span::raw(names.join(", "))]));
        }
    }
    if !e.leftovers.is_empty() {
        let pids: Vec<String> = e.leftovers.iter().map(|p| p.to_string()).collect();
        lines.push(Line::from(vec![
            key("leftover"),
            Span::styled(pids.join(" "), fg(m, Color::Yellow)),
        ]));
    }
    if let Some(err) = &e.error {
        lines.push(Line::from(vec![
            key("error"),
            Span::styled(err.clone(), fg(m, Color::Red)),
        ]));
    }
    let top = lines.len() as u16;
    put(lines, inner, buf);
    // CPU over time (scaled to one core), then the recent events.
    if inner.height > top + 2 {
        let w = usize::from(inner.width.saturating_sub(9));
        let cpu = Line::from(vec![
            key("cpu"),
            Span::styled(spark(m.history_of(e.id), w), fg(m, Color::Cyan)),
        ]);
        put(
            vec![cpu],
            Rect::new(inner.x, inner.y + top, inner.width, 1),
            buf,
        );
        let ev_area = Rect::new(
            inner.x,
            inner.y + top + 2,
            inner.width,
            inner.height - top - 2,
        );
        if let Some(d) = &m.details {
            let n = usize::from(ev_area.height);
            let evs: Vec<Line> = d
                .events
                .iter()
                .skip(d.events.len().saturating_sub(n))
                .map(|ev| {
                    Line::from(vec![
                        Span::styled(
                            format!("{} ", &render::time(ev.ts_ms)[11..19]),
                            Style::new().add_modifier(Modifier::DIM),
                        ),
                        Span::raw(format!("{}: {}", ev.kind, ev.message)),
                    ])
                })
                .collect();
            put(evs, ev_area, buf);
        }
    }
}

fn output(m: &Model, area: Rect, buf: &mut Buffer) {
    let who = m
        .selected_entry()
        .map(|e| render::label(e.id, &e.name))
        .unwrap_or_default();
    let how = if m.output.back == 0 {
        "following".to_string()
    } else {
        format!("{} lines back", m.output.back)
    };
    let inner = frame(
        m,
        &format!(" output: {who} ({how}) "),
        m.focus == Focus::Output,
        area,
        buf,
    );
    let n = usize::from(inner.height);
    let len = m.output.len();
    let end = len - m.output.back.min(len);
    let start = end.saturating_sub(n);
    let hl = if m.color {
        Style::new().fg(Color::Black).bg(Color::Yellow)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    let smart = m.search.chars().any(|c| c.is_ascii_uppercase());
    let lines: Vec<Line> = m
        .output
        .all()
        .enumerate()
        .skip(start)
        .take(end - start)
        .map(|(i, l)| {
            let mut line = highlight(l, &m.search, smart, hl);
            if m.found == Some(i) {
                line = line.style(Style::new().add_modifier(Modifier::BOLD));
            }
            line
        })
        .collect();
    put(lines, inner, buf);
}

/// A line with every match of `needle` in style `hl`.
fn highlight<'a>(l: &'a str, needle: &str, smart: bool, hl: Style) -> Line<'a> {
    if needle.is_empty() {
        return Line::raw(l);
    }
    let hay = if smart {
        l.to_string()
    } else {
        l.to_ascii_lowercase()
    };
    let needle = if smart {
        needle.to_string()
    } else {
        needle.to_ascii_lowercase()
    };
    let mut spans = Vec::new();
    let mut at = 0;
    for (i, _) in hay.match_indices(&needle) {
        if i < at {
            continue;
        }
        spans.push(Span::raw(&l[at..i]));
        spans.push(Span::styled(&l[i..i + needle.len()], hl));
        at = i + needle.len();
    }
    spans.push(Span::raw(&l[at..]));
    Line::from(spans)
}

fn keys(m: &Model, area: Rect, buf: &mut Buffer) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let line = match &m.mode {
        Mode::Prompt(p, text) => {
            let what = match p {
                Prompt::Search => "search output: ",
                Prompt::Filter => "filter (text, tag:T, group:G, state:S): ",
                Prompt::Send => "line for the input: ",
            };
            Line::from(vec![
                Span::styled(what, bold),
                Span::raw(format!("{text}_")),
                Span::styled(
                    "  (Enter: ok, Esc: cancel)",
                    Style::new().add_modifier(Modifier::DIM),
                ),
            ])
        }
        Mode::ConfirmRemove(_, label) => Line::styled(
            format!("remove {label} and its logs? y/n"),
            fg(m, Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        _ => match &m.message {
            Some(msg) => Line::styled(msg.clone(), bold),
            None => {
                let ks = [
                    ("q", "quit"),
                    ("?", "help"),
                    ("jk", "select"),
                    ("s", "stop"),
                    ("S", "start"),
                    ("r", "restart"),
                    ("d", "rm"),
                    ("a", "attach"),
                    ("i", "input"),
                    ("/", "search"),
                    ("f", "filter"),
                    ("t", "tree"),
                ];
                let mut spans = Vec::new();
                for (k, what) in ks {
                    spans.push(Span::styled(
                        k,
                        fg(m, Color::Cyan).add_modifier(Modifier::BOLD),
                    ));
                    spans.push(Span::raw(format!(" {what} ")));
                }
                Line::from(spans)
            }
        },
    };
    put(vec![line], area, buf);
}

fn help(m: &Model, buf: &mut Buffer) {
    let w = 64.min(m.cols);
    let h = (KEYS.len() as u16 + 4).min(m.rows);
    let area = Rect::new(
        m.cols.saturating_sub(w) / 2,
        m.rows.saturating_sub(h) / 2,
        w,
        h,
    );
    // What was drawn under the overlay is wiped.
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(c) = buf.cell_mut((x, y)) {
                c.reset();
            }
        }
    }
    let inner = frame(m, " keys (any key closes) ", true, area, buf);
    let bold = fg(m, Color::Cyan).add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<20} "), bold),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "CPU and memory every 2 s; states as they change.",
    ));
    put(lines, inner, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_scales_to_one_core() {
        let h: std::collections::VecDeque<u64> = [0, 500, 1000, 2500].into();
        assert_eq!(spark(Some(&h), 10), "▁▅██");
        assert_eq!(spark(Some(&h), 2), "██");
    }

    #[test]
    fn matches_are_highlighted() {
        let hl = Style::new().add_modifier(Modifier::REVERSED);
        let l = highlight("an Error and an error", "error", false, hl);
        let styled: Vec<&str> = l
            .spans
            .iter()
            .filter(|s| s.style == hl)
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(styled, ["Error", "error"]);
    }
}
