//! Dotenv files, read the way docker compose and python-dotenv read them (wrangle(1), ENV
//! FILES): `KEY=VALUE` bindings, `#` comments, an optional `export` prefix (space or tab),
//! keys of any characters but `=`, `#`, quotes and white space (`-` and `.` included, or
//! single-quoted), single-quoted values (literal but for `\\` and `\'`), double-quoted values
//! (escapes, `${VAR}` expansion), both of which may span lines, and unquoted values (trailing
//! ` # comment` removed, `${VAR}` expanded). `${VAR}` and `${VAR:-default}` take the value from
//! an earlier binding of the file, else from the environment the caller passes in. A UTF-8
//! byte-order mark is skipped; lines end with LF, CRLF or a lone CR. What is ambiguous is
//! refused with the line and column.

use crate::error::{Code, Error, Result};

/// The byte-order mark some editors put at the start of a UTF-8 file.
pub const BOM: char = '\u{feff}';

/// Parses dotenv text; `origin` names it in errors; `env` looks up a variable a `${VAR}` names
/// when no earlier line of the text set it. Returns the bindings in file order (a key bound
/// twice appears twice: the later wins).
pub fn parse(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut p = Parser {
        s: text,
        pos: 0,
        line: 1,
        line_start: 0,
        origin,
        out: Vec::new(),
        env,
    };
    p.bindings()?;
    Ok(p.out)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
    line_start: usize,
    origin: &'a str,
    out: Vec<(String, String)>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

/// A place in the text, for errors.
#[derive(Clone, Copy)]
struct At(usize, usize);

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0b' || c == '\x0c'
}

fn is_key_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '=' | '#' | '\'' | '"' | '\0'))
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn at(&self) -> At {
        At(
            self.line,
            self.s[self.line_start..self.pos].chars().count() + 1,
        )
    }

    fn err(&self, at: At, why: impl std::fmt::Display) -> Error {
        Error::new(
            Code::Usage,
            format!("{}:{}:{}: {why}", self.origin, at.0, at.1),
        )
    }

    /// Consumes one character, counting lines (LF, CRLF, lone CR).
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        match c {
            '\n' => self.new_line(),
            '\r' if self.peek() != Some('\n') => self.new_line(),
            _ => {}
        }
        Some(c)
    }

    fn new_line(&mut self) {
        self.line += 1;
        self.line_start = self.pos;
    }

    fn skip_blanks(&mut self) -> usize {
        let mut n = 0;
        while self.peek().is_some_and(is_blank) {
            self.bump();
            n += 1;
        }
        n
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some('\n' | '\r'))
    }

    fn skip_to_line_end(&mut self) {
        while !self.at_line_end() {
            self.bump();
        }
    }

    fn bindings(&mut self) -> Result<()> {
        loop {
            while self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            }
            match self.peek() {
                None => return Ok(()),
                Some('#') => {
                    self.skip_to_line_end();
                    continue;
                }
                _ => {}
            }
            let rest = &self.s[self.pos..];
            if rest.starts_with("export") && rest[6..].starts_with([' ', '\t']) {
                for _ in 0..6 {
                    self.bump();
                }
                self.skip_blanks();
            }
            let key = self.key()?;
            self.skip_blanks();
            if self.peek() != Some('=') {
                // A name alone (python-dotenv: no value; compose: the environment's value).
                let at = self.at();
                self.skip_blanks();
                if self.peek() == Some('#') {
                    self.skip_to_line_end();
                }
                if !self.at_line_end() {
                    return Err(self.err(at, format!("expected = after {key:?}")));
                }
                if let Some(v) = (self.env)(&key) {
                    self.out.push((key, v));
                }
                continue;
            }
            self.bump();
            let blanks = self.skip_blanks();
            let value = match self.peek() {
                Some('\'') => self.single_quoted()?,
                Some('"') => self.double_quoted()?,
                Some('#') if blanks > 0 => String::new(),
                _ => self.unquoted()?,
            };
            self.skip_blanks();
            if self.peek() == Some('#') {
                self.skip_to_line_end();
            }
            if !self.at_line_end() {
                return Err(self.err(self.at(), "unexpected text after the closing quote"));
            }
            self.out.push((key, value));
        }
    }

    fn key(&mut self) -> Result<String> {
        let at = self.at();
        if self.peek() == Some('\'') {
            self.bump();
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == '\'' {
                    let key = self.s[start..self.pos].to_string();
                    self.bump();
                    if key.is_empty() || key.contains(['=', '\0', '\n', '\r']) {
                        return Err(self.err(at, format!("invalid variable name {key:?}")));
                    }
                    return Ok(key);
                }
                if c == '\n' || c == '\r' {
                    break;
                }
                self.bump();
            }
            return Err(self.err(at, "unterminated single quote in a variable name"));
        }
        let start = self.pos;
        while self.peek().is_some_and(is_key_char) {
            self.bump();
        }
        if start == self.pos {
            return Err(match self.peek() {
                Some('=') => self.err(at, "expected a variable name before ="),
                Some(c) => self.err(at, format!("invalid character {c:?} in a variable name")),
                None => self.err(at, "expected KEY=VALUE"),
            });
        }
        Ok(self.s[start..self.pos].to_string())
    }

    /// `'...'`: literal, but `\\` and `\'`; may span lines.
    fn single_quoted(&mut self) -> Result<String> {
        let open = self.at();
        self.bump();
        let mut v = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err(open, "unterminated single quote")),
                Some('\'') => return Ok(v),
                Some('\\') if matches!(self.peek(), Some('\\' | '\'')) => {
                    v.push(self.bump().unwrap_or('\\'));
                }
                Some('\0') => return Err(self.err(open, "the value contains a NUL character")),
                Some(c) => v.push(c),
            }
        }
    }

    /// `"..."`: escapes and `${VAR}`; may span lines.
    fn double_quoted(&mut self) -> Result<String> {
        let open = self.at();
        self.bump();
        let mut v = String::new();
        loop {
            let at = self.at();
            match self.bump() {
                None => return Err(self.err(open, "unterminated double quote")),
                Some('"') => return Ok(v),
                Some('\\') => match self.peek() {
                    Some(c @ ('\\' | '\'' | '"' | '$')) => {
                        self.bump();
                        v.push(c);
                    }
                    Some(c @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v')) => {
                        self.bump();
                        v.push(match c {
                            'a' => '\x07',
                            'b' => '\x08',
                            'f' => '\x0c',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            _ => '\x0b',
                        });
                    }
                    _ => v.push('\\'),
                },
                Some('$') if self.peek() == Some('{') => self.variable(at, &mut v)?,
                Some('\0') => return Err(self.err(open, "the value contains a NUL character")),
                Some(c) => v.push(c),
            }
        }
    }

    /// To the end of the line, less a ` # comment` and trailing blanks; `${VAR}` expanded.
    fn unquoted(&mut self) -> Result<String> {
        let mut v = String::new();
        let mut blank_before = false;
        while !self.at_line_end() {
            let at = self.at();
            let c = self.peek().unwrap_or('\n');
            if c == '#' && blank_before {
                break;
            }
            self.bump();
            match c {
                '$' if self.peek() == Some('{') => self.variable(at, &mut v)?,
                '\0' => return Err(self.err(at, "the value contains a NUL character")),
                c => v.push(c),
            }
            blank_before = c.is_whitespace();
        }
        v.truncate(v.trim_end().len());
        Ok(v)
    }

    /// After a `$` at `at`, with `{` next: `{NAME}` or `{NAME:-default}`, appended expanded.
    fn variable(&mut self, at: At, v: &mut String) -> Result<()> {
        self.bump();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| is_key_char(c) && c != '}' && c != ':')
        {
            self.bump();
        }
        let name = self.s[start..self.pos].to_string();
        if name.is_empty() {
            return Err(self.err(at, "expected a variable name after ${"));
        }
        let mut default = None;
        match self.bump() {
            Some('}') => {}
            Some(':') if self.peek() == Some('-') => {
                self.bump();
                let start = self.pos;
                loop {
                    match self.peek() {
                        Some('}') => break,
                        None | Some('\n' | '\r' | '"') => {
                            return Err(self.err(at, format!("unterminated ${{{name}:-")))
                        }
                        Some('$') if self.s[self.pos..].starts_with("${") => {
                            return Err(self.err(at, "a ${...} inside a default is not supported"))
                        }
                        _ => {
                            self.bump();
                        }
                    }
                }
                default = Some(self.s[start..self.pos].to_string());
                self.bump();
            }
            _ => return Err(self.err(at, format!("expected ${{{name}}} or ${{{name}:-default}}"))),
        }
        let found = self
            .out
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| (self.env)(&name));
        match (found, default) {
            (Some(x), Some(d)) if x.is_empty() => v.push_str(&d),
            (Some(x), _) => v.push_str(&x),
            (None, Some(d)) => v.push_str(&d),
            (None, None) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
