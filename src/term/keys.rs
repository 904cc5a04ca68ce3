//! Key names in tmux's send-keys notation turned into the bytes a terminal sends for them:
//! `Enter`, `Tab`, `Escape`, `BSpace`, `Up`, `PageDown`, `F5`, `C-c`, `M-x`, `C-M-Left`,
//! `^D`; an argument that names no key is sent as it is (literal text), as tmux does.

/// The bytes for `keys`, one argument after the other. `app_cursor`: the terminal is in
/// application cursor-key mode (arrows send `ESC O A` instead of `ESC [ A`).
pub fn encode(keys: &[String], app_cursor: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        match key(k, app_cursor) {
            Some(bytes) => out.extend(bytes),
            None => out.extend_from_slice(k.as_bytes()),
        }
    }
    out
}

/// Modifiers, as xterm counts them (1 + shift 1, alt 2, ctrl 4).
#[derive(Clone, Copy, Default)]
struct Mods {
    shift: bool,
    alt: bool,
    ctrl: bool,
}

impl Mods {
    fn any(self) -> bool {
        self.shift || self.alt || self.ctrl
    }
    fn param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.alt) + 4 * u8::from(self.ctrl)
    }
}

/// The bytes of one key name, or None if `name` names no key.
pub fn key(name: &str, app_cursor: bool) -> Option<Vec<u8>> {
    let mut m = Mods::default();
    let mut rest = name;
    loop {
        if rest.len() > 2 {
            match rest.get(..2).unwrap_or("") {
                "C-" | "c-" => m.ctrl = true,
                "M-" | "m-" => m.alt = true,
                "S-" | "s-" => m.shift = true,
                _ => break,
            }
            rest = &rest[2..];
        } else {
            break;
        }
    }
    if let Some(c) = rest.strip_prefix('^').filter(|c| c.chars().count() == 1) {
        m.ctrl = true;
        rest = c;
    }
    let mut chars = rest.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        // One character, with modifiers (a bare one only when it came with some: "a" is text).
        if !m.any() {
            return None;
        }
        return Some(char_key(c, m));
    }
    if rest.eq_ignore_ascii_case("space") {
        return Some(char_key(' ', m));
    }
    let special = named(rest)?;
    Some(special.bytes(m, app_cursor))
}

fn char_key(c: char, m: Mods) -> Vec<u8> {
    let mut out = Vec::new();
    if m.alt {
        out.push(0x1b);
    }
    let c = if m.shift { c.to_ascii_uppercase() } else { c };
    if m.ctrl {
        let b = match c {
            'a'..='z' => c as u8 - b'a' + 1,
            'A'..='Z' => c as u8 - b'A' + 1,
            '@' | ' ' | '2' => 0,
            '[' | '3' => 0x1b,
            '\\' | '4' => 0x1c,
            ']' | '5' => 0x1d,
            '^' | '6' => 0x1e,
            '_' | '7' | '/' => 0x1f,
            '?' | '8' => 0x7f,
            other => {
                let mut buf = [0; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                return out;
            }
        };
        out.push(b);
    } else {
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// The keys that have names.
enum Named {
    /// Plain bytes (Enter, Tab, Escape, Space, BSpace, BTab).
    Plain(&'static [u8]),
    /// `ESC [ X` (`ESC O X` in application mode): arrows, Home, End.
    Cursor(u8),
    /// `ESC O X`: F1 to F4.
    Ss3(u8),
    /// `ESC [ N ~`: Insert, Delete, PageUp, PageDown, F5 to F12.
    Tilde(u8),
}

fn named(name: &str) -> Option<Named> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "enter" => Named::Plain(b"\r"),
        "tab" => Named::Plain(b"\t"),
        "btab" => Named::Plain(b"\x1b[Z"),
        "escape" | "esc" => Named::Plain(b"\x1b"),
        "bspace" | "backspace" => Named::Plain(b"\x7f"),
        "up" => Named::Cursor(b'A'),
        "down" => Named::Cursor(b'B'),
        "right" => Named::Cursor(b'C'),
        "left" => Named::Cursor(b'D'),
        "home" => Named::Cursor(b'H'),
        "end" => Named::Cursor(b'F'),
        "ic" | "insert" => Named::Tilde(2),
        "dc" | "delete" => Named::Tilde(3),
        "ppage" | "pageup" | "pgup" => Named::Tilde(5),
        "npage" | "pagedown" | "pgdn" => Named::Tilde(6),
        "f1" => Named::Ss3(b'P'),
        "f2" => Named::Ss3(b'Q'),
        "f3" => Named::Ss3(b'R'),
        "f4" => Named::Ss3(b'S'),
        "f5" => Named::Tilde(15),
        "f6" => Named::Tilde(17),
        "f7" => Named::Tilde(18),
        "f8" => Named::Tilde(19),
        "f9" => Named::Tilde(20),
        "f10" => Named::Tilde(21),
        "f11" => Named::Tilde(23),
        "f12" => Named::Tilde(24),
        _ => return None,
    })
}

impl Named {
    fn bytes(&self, m: Mods, app_cursor: bool) -> Vec<u8> {
        match self {
            Named::Plain(b) => {
                let mut out = Vec::new();
                if m.alt {
                    out.push(0x1b);
                }
                out.extend_from_slice(b);
                out
            }
            Named::Cursor(x) if m.any() => format!("\x1b[1;{}{}", m.param(), *x as char).into(),
            Named::Cursor(x) if app_cursor => vec![0x1b, b'O', *x],
            Named::Cursor(x) => vec![0x1b, b'[', *x],
            Named::Ss3(x) if m.any() => format!("\x1b[1;{}{}", m.param(), *x as char).into(),
            Named::Ss3(x) => vec![0x1b, b'O', *x],
            Named::Tilde(n) if m.any() => format!("\x1b[{n};{}~", m.param()).into(),
            Named::Tilde(n) => format!("\x1b[{n}~").into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(keys: &[&str]) -> Vec<u8> {
        encode(
            &keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            false,
        )
    }

    #[test]
    fn names_modifiers_and_text() {
        assert_eq!(enc(&["ls -l", "Enter"]), b"ls -l\r");
        assert_eq!(enc(&["C-c"]), b"\x03");
        assert_eq!(enc(&["c-C", "^D", "C-Space", "C-["]), b"\x03\x04\x00\x1b");
        assert_eq!(enc(&["M-x"]), b"\x1bx");
        assert_eq!(enc(&["C-M-a"]), b"\x1b\x01");
        assert_eq!(enc(&["S-a", "a"]), b"Aa");
        assert_eq!(
            enc(&["Up", "Down", "Right", "Left"]),
            b"\x1b[A\x1b[B\x1b[C\x1b[D"
        );
        assert_eq!(
            encode(&["Up".to_string()], true),
            b"\x1bOA",
            "application cursor keys"
        );
        assert_eq!(
            enc(&["C-Up", "S-Left", "M-End"]),
            b"\x1b[1;5A\x1b[1;2D\x1b[1;3F"
        );
        assert_eq!(
            enc(&["F1", "F5", "F12", "S-F5"]),
            b"\x1bOP\x1b[15~\x1b[24~\x1b[15;2~"
        );
        assert_eq!(
            enc(&["PageUp", "NPage", "DC", "Home"]),
            b"\x1b[5~\x1b[6~\x1b[3~\x1b[H"
        );
        assert_eq!(
            enc(&["Escape", "Tab", "BTab", "BSpace", "Space"]),
            b"\x1b\t\x1b[Z\x7f "
        );
        assert_eq!(enc(&["M-Enter"]), b"\x1b\r");
        // Not key names: sent as they are.
        assert_eq!(
            enc(&["C-", "Upx", "C-nokey", "F13", "漢"]),
            "C-UpxC-nokeyF13漢".as_bytes()
        );
        assert_eq!(enc(&[]), b"");
    }
}
