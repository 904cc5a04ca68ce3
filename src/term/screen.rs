//! One terminal's screen: a grid of cells (characters, wide ones included, with colours and
//! attributes), the alternate screen, the cursor, the window title (OSC 0 and 2) and a bounded
//! scrollback, kept up to date by feeding it what the terminal output.

use std::num::NonZeroU16;

/// Lines of scrollback kept when nothing else is said.
pub const DEFAULT_SCROLLBACK: usize = 1000;
/// The most lines of scrollback a terminal may keep (each line is 32 bytes a column).
pub const MAX_SCROLLBACK: usize = 100_000;
/// A title longer than this is cut (a program may set any length).
const TITLE_MAX: usize = 256;
/// The model holds at most this many rows and columns of a bigger terminal (its top left), so
/// that a 10000x10000 terminal does not cost gigabytes.
const MAX_SIDE: u16 = 1000;
/// Scrollback is cut to this many cells (32 bytes each: 128 MiB) whatever it is set to.
const MAX_SCROLLBACK_CELLS: usize = 4 << 20;

/// What the parser reports beside the grid: the title.
#[derive(Default)]
struct Extra {
    title: String,
}

impl vt100::Callbacks for Extra {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        let t = String::from_utf8_lossy(title);
        self.title = t
            .chars()
            .filter(|c| !c.is_control())
            .take(TITLE_MAX)
            .collect();
    }
}

/// A terminal's screen model.
pub struct Screen {
    parser: vt100::Parser<Extra>,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.min(MAX_SIDE)).unwrap_or(NonZeroU16::MIN)
}

impl Screen {
    /// A blank screen of `rows` x `cols` keeping up to `scrollback` lines that scrolled off.
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Screen {
        Screen {
            parser: vt100::Parser::new_with_callbacks(
                nz(rows),
                nz(cols),
                scrollback
                    .min(MAX_SCROLLBACK)
                    .min(MAX_SCROLLBACK_CELLS / usize::from(nz(cols).get())),
                Extra::default(),
            ),
        }
    }

    /// Takes what the terminal output (any bytes, cut anywhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    /// The terminal was resized.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        if (nz(rows).get(), nz(cols).get()) != self.size() {
            self.parser.set_size(nz(rows), nz(cols));
        }
    }

    /// (rows, cols).
    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser.screen().size();
        (r.get(), c.get())
    }

    /// The window title the program set (empty if none).
    pub fn title(&self) -> &str {
        &self.parser.callbacks().title
    }

    /// Whether the program asked for application cursor keys (DECCKM, `ESC [ ? 1 h`): arrows
    /// are then to be sent as `ESC O A` rather than `ESC [ A`.
    pub fn app_cursor(&self) -> bool {
        self.vt().application_cursor()
    }

    /// Lines of scrollback held now.
    pub fn scrollback_len(&self) -> usize {
        self.parser.screen().scrollback_len()
    }

    /// The underlying model (for renderers).
    pub(super) fn vt(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    pub(super) fn vt_mut(&mut self) -> &mut vt100::Screen {
        self.parser.screen_mut()
    }

    /// The visible screen as text, one line per row, trailing blanks cut (for matching).
    pub fn text(&self) -> String {
        let (_, cols) = self.size();
        let mut out = String::new();
        for row in self.vt().rows(0, cols) {
            out.push_str(row.trim_end());
            out.push('\n');
        }
        out
    }

    /// Escape sequences that turn a blank terminal into this screen: the alternate screen if
    /// it is on, every cell with its colours, the cursor where it is (shown or hidden), and
    /// the input modes (application cursor keys, bracketed paste, mouse).
    pub fn redraw(&self) -> String {
        let s = self.vt();
        let mut out = String::new();
        if s.alternate_screen() {
            out.push_str("\x1b[?1049h");
        }
        out.push_str(&s.state_formatted());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_cursor_alternate_screen() {
        let mut s = Screen::new(5, 20, 10);
        s.feed(b"\x1b]0;first\x07hello\r\nworld");
        assert_eq!(s.title(), "first");
        s.feed(b"\x1b]2;sec");
        s.feed(b"ond\x1b\\");
        assert_eq!(s.title(), "second");
        assert!(s.text().starts_with("hello\nworld\n"));
        s.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[3;4HX");
        assert!(s.vt().alternate_screen());
        assert!(s.text().starts_with("full screen\n\n   X\n"));
        assert_eq!(s.vt().cursor_position(), (2, 4));
        assert!(!s.app_cursor());
        s.feed(b"\x1b[?1h");
        assert!(s.app_cursor());
        s.feed(b"\x1b[?1049l");
        assert!(s.text().starts_with("hello\nworld\n"));
        let mut again = Screen::new(5, 20, 10);
        again.feed(s.redraw().as_bytes());
        assert_eq!(again.text(), s.text());
    }

    #[test]
    fn scrollback_is_bounded() {
        let mut s = Screen::new(3, 10, 4);
        for i in 0..20 {
            s.feed(format!("line {i}\r\n").as_bytes());
        }
        assert_eq!(s.scrollback_len(), 4);
        assert!(s.text().starts_with("line 18\nline 19\n"));
    }

    #[test]
    fn resize_and_zero_sizes() {
        let mut s = Screen::new(0, 0, 0);
        assert_eq!(s.size(), (1, 1));
        assert_eq!(Screen::new(10000, 10000, 100_000).size(), (1000, 1000));
        s.resize(10, 40);
        assert_eq!(s.size(), (10, 40));
        // Garbage and cut sequences never panic.
        s.feed(b"\x1b[99999;99999H\x1b[38;5;999m\x1b]0;\xff\xfe\x07\x1b[");
        s.feed(b"31mred");
    }
}
