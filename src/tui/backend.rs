//! A ratatui backend of our own: cells become cursor moves, SGR attributes and text in one
//! buffer, written to the terminal in one go at `flush`. Only what the dashboard needs (the
//! 16 named colours, 256-colour indexes and RGB when a widget asks, the common attributes),
//! instead of crossterm and its dependencies.

use ratatui_core::backend::{Backend, ClearType, WindowSize};
use ratatui_core::buffer::Cell;
use ratatui_core::layout::{Position, Size};
use ratatui_core::style::{Color, Modifier};
use std::fmt::Write as _;
use std::io;

/// Draws into a buffer, flushed to standard output.
#[derive(Default)]
pub struct Screen {
    buf: Vec<u8>,
}

impl Screen {
    fn csi(&mut self, s: &str) {
        self.buf.extend_from_slice(b"\x1b[");
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn move_to(&mut self, x: u16, y: u16) {
        self.csi(&format!("{};{}H", y + 1, x + 1));
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

impl Backend for Screen {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut at: Option<(u16, u16)> = None;
        let mut look = String::new();
        for (x, y, cell) in content {
            if at != Some((x, y)) {
                self.move_to(x, y);
            }
            let l = sgr(cell);
            if l != look {
                self.csi(&l);
                look = l;
            }
            let sym = cell.symbol();
            self.buf.extend_from_slice(sym.as_bytes());
            let w = unicode_width::UnicodeWidthStr::width(sym).max(1) as u16;
            at = Some((x + w, y));
        }
        self.csi("0m");
        Ok(())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.csi("?25l");
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.csi("?25h");
        Ok(())
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        Ok(Position::ORIGIN)
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let p = position.into();
        self.move_to(p.x, p.y);
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        self.csi("2J");
        Ok(())
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.csi(match clear_type {
            ClearType::All => "2J",
            ClearType::AfterCursor => "J",
            ClearType::BeforeCursor => "1J",
            ClearType::CurrentLine => "2K",
            ClearType::UntilNewLine => "K",
        });
        Ok(())
    }

    fn size(&self) -> io::Result<Size> {
        let (width, height) = super::term::size();
        Ok(Size { width, height })
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        Ok(WindowSize {
            columns_rows: self.size()?,
            pixels: Size::default(),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        super::term::write_all(&self.buf);
        self.buf.clear();
        Ok(())
    }
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
        s.draw(cells.into_iter()).unwrap();
        let out = String::from_utf8(s.buf.clone()).unwrap();
        assert_eq!(out, "\x1b[1;1H\x1b[0;1;32ma\x1b[0mb\x1b[3;6Hb\x1b[0m");
    }
}
