//! The screen: ratatui's buffers, drawn by a small backend of our own. Each frame is rendered
//! into a fresh buffer and only the cells that differ from the last frame are written: cursor
//! moves, SGR attributes and text in one write. Only what the dashboard needs (the 16 named
//! colours, 256-colour indexes and RGB when a widget asks, the common attributes), instead of
//! crossterm and ratatui's own Terminal.

use ratatui_core::buffer::{Buffer, Cell};
use ratatui_core::layout::Rect;
use ratatui_core::style::{Color, Modifier};
use std::fmt::Write as _;

/// The last frame and the bytes of the next write.
#[derive(Default)]
pub struct Screen {
    last: Buffer,
    buf: Vec<u8>,
}

impl Screen {
    fn csi(&mut self, s: &str) {
        self.buf.extend_from_slice(b"\x1b[");
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Forgets what is on the screen: the next frame is drawn whole.
    pub fn invalidate(&mut self) {
        self.last = Buffer::default();
    }

    /// Renders a frame of `cols` x `rows` with `render` and writes what changed.
    pub fn draw(&mut self, cols: u16, rows: u16, render: impl FnOnce(&mut Buffer)) {
        self.render(cols, rows, render);
        super::term::write_all(&self.buf);
        self.buf.clear();
    }

    /// The bytes that draw the frame `render` makes, against the last one.
    fn render(&mut self, cols: u16, rows: u16, render: impl FnOnce(&mut Buffer)) {
        let area = Rect::new(0, 0, cols, rows);
        let mut next = Buffer::empty(area);
        render(&mut next);
        if self.last.area != area {
            // A new size or a screen of unknown content: cleared, and every cell written (the
            // last frame taken as cells that match none).
            self.csi("0m");
            self.csi("2J");
            self.last = Buffer::empty(area);
            for c in self.last.content.iter_mut() {
                c.modifier = Modifier::all();
            }
        }
        let diff = self.last.diff(&next);
        self.cells(diff.into_iter());
        self.last = next;
    }

    fn cells<'a>(&mut self, content: impl Iterator<Item = (u16, u16, &'a Cell)>) {
        let mut at: Option<(u16, u16)> = None;
        let mut look = String::new();
        for (x, y, cell) in content {
            if at != Some((x, y)) {
                self.csi(&format!("{};{}H", y + 1, x + 1));
            }
            let l = sgr(cell);
            if l != look {
                self.csi(&l);
                look = l;
            }
            let sym = cell.symbol();
            self.buf.extend_from_slice(sym.as_bytes());
            // After anything but one ASCII, box-drawing or block character the next cell is
            // moved to: terminals do not all agree on the width of every character.
            let mut cs = sym.chars();
            let narrow = match (cs.next(), cs.next()) {
                (Some(c), None) => c.is_ascii() || ('\u{2500}'..='\u{259f}').contains(&c),
                _ => false,
            };
            at = narrow.then_some((x + 1, y));
        }
        self.csi("0m");
    }
}

/// SGR parameters for a colour: `base` 30 (foreground) or 40 (background).
fn color(out: &mut String, c: Color, base: u8) {
    let named = |i: u8| format!(";{}", base + i);
    let bright = |i: u8| format!(";{}", base + 60 + i);
    let s = match c {
        Color::Reset => return,
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => bright(0),
        Color::LightRed => bright(1),
        Color::LightGreen => bright(2),
        Color::LightYellow => bright(3),
        Color::LightBlue => bright(4),
        Color::LightMagenta => bright(5),
        Color::LightCyan => bright(6),
        Color::White => bright(7),
        Color::Indexed(i) => format!(";{};5;{i}", base + 8),
        Color::Rgb(r, g, b) => format!(";{};2;{r};{g};{b}", base + 8),
    };
    out.push_str(&s);
}

/// The SGR sequence for a cell's look (everything reset first).
fn sgr(c: &Cell) -> String {
    let mut s = String::from("0");
    for (m, code) in [
        (Modifier::BOLD, 1),
        (Modifier::DIM, 2),
        (Modifier::ITALIC, 3),
        (Modifier::UNDERLINED, 4),
        (Modifier::REVERSED, 7),
        (Modifier::CROSSED_OUT, 9),
    ] {
        if c.modifier.contains(m) {
            let _ = write!(s, ";{code}");
        }
    }
    color(&mut s, c.fg, 30);
    color(&mut s, c.bg, 40);
    s.push('m');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_moves_attributes_and_text() {
        let mut s = Screen::default();
        let mut a = Cell::new("a");
        a.fg = Color::Green;
        a.modifier = Modifier::BOLD;
        let b = Cell::new("b");
        let cells = [(0, 0, &a), (1, 0, &b), (5, 2, &b)];
        s.cells(cells.into_iter());
        let out = String::from_utf8(s.buf.clone()).unwrap();
        assert_eq!(out, "\x1b[1;1H\x1b[0;1;32ma\x1b[0mb\x1b[3;6Hb\x1b[0m");
    }

    #[test]
    fn the_first_frame_is_drawn_whole_and_the_next_only_where_it_changed() {
        let mut s = Screen::default();
        let mut sent = Vec::new();
        s.render(3, 2, |b| {
            b.set_string(0, 0, "hi", ratatui_core::style::Style::new());
        });
        sent.push(String::from_utf8(std::mem::take(&mut s.buf)).unwrap());
        s.render(3, 2, |b| {
            b.set_string(0, 0, "ho", ratatui_core::style::Style::new());
        });
        sent.push(String::from_utf8(std::mem::take(&mut s.buf)).unwrap());
        assert_eq!(
            sent[0],
            "\x1b[0m\x1b[2J\x1b[1;1H\x1b[0mhi \x1b[2;1H   \x1b[0m"
        );
        assert_eq!(sent[1], "\x1b[1;2H\x1b[0mo\x1b[0m");
    }
}
