//! Bytes typed at the terminal turned into keys and mouse events: plain characters (UTF-8),
//! control keys, the CSI and SS3 sequences of arrows and paging keys, and SGR mouse reports
//! (`ESC [ < b ; x ; y M`). A sequence cut by the end of a read is kept for the next one.

/// A key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// Ctrl and a letter (lowercase).
    Ctrl(char),
    Enter,
    Esc,
    Backspace,
    Tab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

/// A mouse report, at 0-based column and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mouse {
    Click(u16, u16),
    ScrollUp(u16, u16),
    ScrollDown(u16, u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(Key),
    Mouse(Mouse),
}

/// Decodes the terminal's input, keeping an incomplete sequence between reads.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// The inputs in `bytes` (after what was pending). A lone ESC at the end of a read is the
    /// Esc key: terminals send a sequence in one write.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Input> {
        self.pending.extend_from_slice(bytes);
        let buf = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        let mut i = 0;
        while i < buf.len() {
            match decode(&buf[i..]) {
                Step::Done(n, input) => {
                    out.extend(input);
                    i += n;
                }
                Step::More => {
                    self.pending = buf[i..].to_vec();
                    break;
                }
            }
        }
        out
    }
}

enum Step {
    /// Consumed n bytes, giving maybe an input.
    Done(usize, Option<Input>),
    /// An incomplete sequence.
    More,
}

fn key(n: usize, k: Key) -> Step {
    Step::Done(n, Some(Input::Key(k)))
}

fn decode(b: &[u8]) -> Step {
    match b[0] {
        0x1b => escape(b),
        b'\r' | b'\n' => key(1, Key::Enter),
        b'\t' => key(1, Key::Tab),
        0x7f | 0x08 => key(1, Key::Backspace),
        c @ 0x01..=0x1a => key(1, Key::Ctrl(char::from(c - 1 + b'a'))),
        c if c < 0x20 => Step::Done(1, None),
        c if c < 0x80 => key(1, Key::Char(char::from(c))),
        c => {
            // A UTF-8 sequence: its length from the first byte.
            let n = match c {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Step::Done(1, None),
            };
            if b.len() < n {
                return Step::More;
            }
            match std::str::from_utf8(&b[..n])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(ch) => key(n, Key::Char(ch)),
                None => Step::Done(1, None),
            }
        }
    }
}

fn escape(b: &[u8]) -> Step {
    if b.len() == 1 {
        return key(1, Key::Esc);
    }
    match b[1] {
        b'[' => csi(b),
        b'O' => {
            let Some(&c) = b.get(2) else {
                return Step::More;
            };
            match final_key(c) {
                Some(k) => key(3, k),
                None => Step::Done(3, None),
            }
        }
        0x1b => key(1, Key::Esc),
        // Alt and a key: the key.
        _ => match decode(&b[1..]) {
            Step::Done(n, i) => Step::Done(n + 1, i),
            Step::More => Step::More,
        },
    }
}

fn final_key(c: u8) -> Option<Key> {
    Some(match c {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        b'H' => Key::Home,
        b'F' => Key::End,
        _ => return None,
    })
}

/// `ESC [` parameters, final byte.
fn csi(b: &[u8]) -> Step {
    let Some(end) = b[2..].iter().position(|c| (0x40..=0x7e).contains(c)) else {
        // Parameters only so far; a runaway sequence is dropped.
        return if b.len() > 32 {
            Step::Done(b.len(), None)
        } else {
            Step::More
        };
    };
    let n = 2 + end + 1;
    let params = &b[2..2 + end];
    let fin = b[2 + end];
    if let Some(rest) = params.strip_prefix(b"<") {
        return Step::Done(n, mouse(rest, fin).map(Input::Mouse));
    }
    if let Some(k) = final_key(fin) {
        return key(n, k);
    }
    if fin == b'~' {
        let first = params.split(|&c| c == b';').next().unwrap_or_default();
        let k = match first {
            b"1" | b"7" => Key::Home,
            b"4" | b"8" => Key::End,
            b"5" => Key::PageUp,
            b"6" => Key::PageDown,
            _ => return Step::Done(n, None),
        };
        return key(n, k);
    }
    Step::Done(n, None)
}

/// An SGR mouse report: button;column;row (1-based), M for a press, m for a release.
fn mouse(params: &[u8], fin: u8) -> Option<Mouse> {
    let s = std::str::from_utf8(params).ok()?;
    let mut it = s.split(';').map(|p| p.parse::<u16>().ok());
    let (b, x, y) = (it.next()??, it.next()??, it.next()??);
    let (x, y) = (x.saturating_sub(1), y.saturating_sub(1));
    match (b & !0b1_1100, fin) {
        (64, b'M') => Some(Mouse::ScrollUp(x, y)),
        (65, b'M') => Some(Mouse::ScrollDown(x, y)),
        (0, b'M') if b & 32 == 0 => Some(Mouse::Click(x, y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Input> {
        Decoder::default().feed(bytes)
    }

    #[test]
    fn characters_and_control_keys() {
        assert_eq!(
            keys(b"jq\r\x03\x1a\x7f"),
            [
                Input::Key(Key::Char('j')),
                Input::Key(Key::Char('q')),
                Input::Key(Key::Enter),
                Input::Key(Key::Ctrl('c')),
                Input::Key(Key::Ctrl('z')),
                Input::Key(Key::Backspace),
            ]
        );
        assert_eq!(keys("é".as_bytes()), [Input::Key(Key::Char('é'))]);
    }

    #[test]
    fn arrows_paging_and_a_lone_escape() {
        assert_eq!(
            keys(b"\x1b[A\x1bOB\x1b[5~\x1b[6~\x1b[H\x1b[4~"),
            [
                Input::Key(Key::Up),
                Input::Key(Key::Down),
                Input::Key(Key::PageUp),
                Input::Key(Key::PageDown),
                Input::Key(Key::Home),
                Input::Key(Key::End),
            ]
        );
        assert_eq!(keys(b"\x1b"), [Input::Key(Key::Esc)]);
    }

    #[test]
    fn mouse_reports() {
        assert_eq!(
            keys(b"\x1b[<0;5;3M\x1b[<0;5;3m\x1b[<64;1;1M\x1b[<65;2;9M"),
            [
                Input::Mouse(Mouse::Click(4, 2)),
                Input::Mouse(Mouse::ScrollUp(0, 0)),
                Input::Mouse(Mouse::ScrollDown(1, 8)),
            ]
        );
    }

    #[test]
    fn a_sequence_split_across_reads_waits_for_its_end() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(b"\x1b[<0;1"), []);
        assert_eq!(d.feed(b"2;4M"), [Input::Mouse(Mouse::Click(11, 3))]);
        assert_eq!(d.feed(&[0xc3]), []);
        assert_eq!(d.feed(&[0xa9]), [Input::Key(Key::Char('é'))]);
    }
}
