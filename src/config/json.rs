//! A strict RFC 8259 JSON parser that remembers where things are: every value and every object
//! key carries its 1-based line and column (columns count characters), so configuration errors
//! can point at the exact spot. serde_json forgets positions once it has parsed; this does not.

use std::collections::HashSet;
use std::fmt;

/// Objects and arrays nested deeper than this are refused (it bounds the recursion).
pub const MAX_DEPTH: usize = 128;

/// A JSON value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub line: u32,
    pub col: u32,
}

/// What a value is. Objects keep their members in file order (duplicate keys are refused).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(Key, Value)>),
}

/// An object key and where it starts (its opening quote).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub line: u32,
    pub col: u32,
}

/// A number: its value and its text as written (so `8080` can become `"8080"` exactly).
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub value: f64,
    pub text: String,
}

impl Number {
    /// The number as a non-negative integer, if it is one (`5`, `5.0` and `5e0` all are).
    pub fn as_u64(&self) -> Option<u64> {
        if self.text.bytes().all(|b| b.is_ascii_digit()) {
            return self.text.parse().ok();
        }
        let v = self.value;
        // 2^53: beyond it, f64 no longer holds every integer exactly.
        if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
            Some(v as u64)
        } else {
            None
        }
    }

    /// The number as an integer of either sign, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        if let Ok(n) = self.text.parse::<i64>() {
            return Some(n);
        }
        let v = self.value;
        if v.fract() == 0.0 && (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&v) {
            Some(v as i64)
        } else {
            None
        }
    }
}

impl Value {
    /// The kind of value, with an article, for messages: "a string", "an object", "null".
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match &self.kind {
            Kind::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Key, Value)]> {
        match &self.kind {
            Kind::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The member `name` of an object (None for a missing key or a non-object).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }
}

/// Why the text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parses one JSON document (a leading byte-order mark is skipped; anything but whitespace
/// after the value is an error).
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        col: 1,
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(p.error(format!(
            "unexpected {} after the end of the document",
            p.describe_here()
        )));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
}

impl Parser<'_> {
    fn error(&self, message: String) -> SyntaxError {
        SyntaxError {
            line: self.line,
            col: self.col,
            message,
        }
    }

    fn error_at(line: u32, col: u32, message: String) -> SyntaxError {
        SyntaxError { line, col, message }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Moves past one byte, keeping line and column (columns count characters, so UTF-8
    /// continuation bytes do not advance them).
    fn bump(&mut self) {
        if let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line = self.line.saturating_add(1);
                self.col = 1;
            } else if b & 0xC0 != 0x80 {
                self.col = self.col.saturating_add(1);
            }
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    /// The character at the cursor, for messages.
    fn describe_here(&self) -> String {
        match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            None => "end of file".to_string(),
            Some(c) if c.is_control() => format!("control character {:?}", c),
            Some(c) => format!("{c:?}"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        let (line, col) = (self.line, self.col);
        let kind = match self.peek() {
            Some(b'{') => self.object(depth + 1)?,
            Some(b'[') => self.array(depth + 1)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Kind::Number(self.number()?),
            Some(b't') => self.word("true", Kind::Bool(true))?,
            Some(b'f') => self.word("false", Kind::Bool(false))?,
            Some(b'n') => self.word("null", Kind::Null)?,
            _ => {
                return Err(self.error(format!("expected a value, found {}", self.describe_here())))
            }
        };
        Ok(Value { kind, line, col })
    }

    fn word(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        let end = self.pos + word.len();
        let next_is_word_char = self
            .bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if self.bytes.get(self.pos..end) == Some(word.as_bytes()) && !next_is_word_char {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(kind)
        } else {
            Err(self.error(format!(
                "expected a value, found {} (strings need double quotes)",
                self.describe_here()
            )))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.enter(depth)?;
        self.bump(); // [
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma before ']'".to_string()));
                    }
                }
                Some(b']') => {
                    self.bump();
                    return Ok(Kind::Array(items));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or ']' in an array, found {}",
                        self.describe_here()
                    )))
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.enter(depth)?;
        self.bump(); // {
        let mut members: Vec<(Key, Value)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            let (line, col) = (self.line, self.col);
            if self.peek() != Some(b'"') {
                let hint = if self.peek() == Some(b'}') {
                    "trailing comma before '}'".to_string()
                } else {
                    format!(
                        "expected a key in double quotes, found {}",
                        self.describe_here()
                    )
                };
                return Err(self.error(hint));
            }
            let name = self.string()?;
            if !seen.insert(name.clone()) {
                return Err(Self::error_at(
                    line,
                    col,
                    format!("duplicate key {name:?} in this object"),
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(format!(
                    "expected ':' after a key, found {}",
                    self.describe_here()
                )));
            }
            self.bump();
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((Key { name, line, col }, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(Kind::Object(members));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or '}}' in an object, found {}",
                        self.describe_here()
                    )))
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let (line, col) = (self.line, self.col);
        self.bump(); // "
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(Self::error_at(
                    line,
                    col,
                    "unterminated string (no closing '\"')".to_string(),
                ));
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run..self.pos]);
                    self.bump();
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.pos]);
                    self.escape(&mut out)?;
                    run = self.pos;
                }
                0x00..=0x1f => {
                    return Err(self.error(format!(
                        "{} in a string (write it as an escape such as \\n or \\u00{:02x})",
                        self.describe_here(),
                        b
                    )));
                }
                _ => self.bump(),
            }
        }
    }

    /// Reads one escape sequence (the cursor is on the backslash) and appends what it means.
    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let (line, col) = (self.line, self.col);
        self.bump(); // backslash
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.bump();
                let hi = self.hex4(line, col)?;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(Self::error_at(
                            line,
                            col,
                            format!("\\u{hi:04x} is a high surrogate without a low surrogate after it"),
                        ));
                    }
                    self.bump();
                    self.bump();
                    let lo = self.hex4(line, col)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Self::error_at(
                            line,
                            col,
                            format!("\\u{hi:04x} is a high surrogate but \\u{lo:04x} is not a low surrogate"),
                        ));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(Self::error_at(
                        line,
                        col,
                        format!("\\u{hi:04x} is a low surrogate without a high surrogate before it"),
                    ));
                } else {
                    hi
                };
                let ch = char::from_u32(c).ok_or_else(|| {
                    Self::error_at(line, col, format!("invalid code point {c:#x}"))
                })?;
                out.push(ch);
                return Ok(());
            }
            _ => {
                return Err(Self::error_at(
                    line,
                    col,
                    format!(
                        "invalid escape: backslash then {} (use \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX)",
                        self.describe_here()
                    ),
                ))
            }
        };
        self.bump();
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self, line: u32, col: u32) -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => {
                    return Err(Self::error_at(
                        line,
                        col,
                        "invalid \\u escape: it needs four hex digits".to_string(),
                    ))
                }
            };
            v = v * 16 + u32::from(d);
            self.bump();
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let (line, col) = (self.line, self.col);
        let start = self.pos;
        let bad = |what: &str| Self::error_at(line, col, format!("invalid number: {what}"));
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => {
                self.bump();
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(bad("no leading zeros allowed"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(bad("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(bad("expected a digit after '.'"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(bad("expected a digit in the exponent"));
            }
            self.digits();
        }
        let text = &self.text[start..self.pos];
        let value: f64 = text.parse().map_err(|_| bad("cannot read it"))?;
        if !value.is_finite() {
            return Err(bad("out of range"));
        }
        Ok(Number {
            value,
            text: text.to_string(),
        })
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> SyntaxError {
        parse(text).unwrap_err()
    }

    #[test]
    fn values_and_keys_have_positions() {
        let text = "{\n  \"a\": [1, true],\n  \"é\": {\"b\": null},\n\t\"c\": \"x\"\n}";
        let v = parse(text).unwrap();
        assert_eq!((v.line, v.col), (1, 1));
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 3);
        assert_eq!((o[0].0.name.as_str(), o[0].0.line, o[0].0.col), ("a", 2, 3));
        let a = o[0].1.as_array().unwrap();
        assert_eq!((o[0].1.line, o[0].1.col), (2, 8));
        assert_eq!((a[1].line, a[1].col), (2, 12));
        assert_eq!(a[1].kind, Kind::Bool(true));
        // Columns count characters, not bytes: "é" is one column.
        assert_eq!((o[1].0.line, o[1].0.col), (3, 3));
        let inner = &o[1].1;
        assert_eq!((inner.line, inner.col), (3, 8));
        let (bk, bv) = &inner.as_object().unwrap()[0];
        assert_eq!((bk.line, bk.col, bv.line, bv.col), (3, 9, 3, 14));
        assert!(bv.is_null());
        assert_eq!((o[2].0.line, o[2].0.col), (4, 2));
        assert_eq!(v.get("c").unwrap().as_str(), Some("x"));
        assert!(v.get("zz").is_none());
    }

    #[test]
    fn scalars() {
        let v = parse(" [0, -0.5, 1e3, 12, false, null, \"\"] ").unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a[0].as_number().unwrap().as_u64(), Some(0));
        assert_eq!(a[1].as_number().unwrap().value, -0.5);
        assert_eq!(a[1].as_number().unwrap().as_u64(), None);
        assert_eq!(a[2].as_number().unwrap().as_u64(), Some(1000));
        assert_eq!(a[2].as_number().unwrap().text, "1e3");
        assert_eq!(a[3].as_number().unwrap().as_i64(), Some(12));
        assert_eq!(a[4].as_bool(), Some(false));
        assert!(a[5].is_null());
        assert_eq!(a[6].as_str(), Some(""));
        assert_eq!(
            parse("18446744073709551615")
                .unwrap()
                .as_number()
                .unwrap()
                .as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(parse("\u{feff}true").unwrap().kind, Kind::Bool(true));
    }

    #[test]
    fn escapes() {
        let v = parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00""#).unwrap();
        assert_eq!(v.as_str().unwrap(), "a\"b\\c/d\u{8}\u{c}\n\r\té€\u{1F600}");
        assert_eq!(parse("\"héllo ✓\"").unwrap().as_str(), Some("héllo ✓"));
        let e = err(r#""x\ud83d""#);
        assert!(e.message.contains("high surrogate"), "{e}");
        assert_eq!((e.line, e.col), (1, 3));
        assert!(err(r#""\ud83d\u0041""#)
            .message
            .contains("not a low surrogate"));
        assert!(err(r#""\ude00""#).message.contains("low surrogate"));
        assert!(err(r#""\u12""#).message.contains("four hex digits"));
        assert!(err(r#""\x""#).message.contains("invalid escape"));
    }

    #[test]
    fn errors_have_positions() {
        let e = err("{\"a\": 1,\n \"a\": 2}");
        assert_eq!((e.line, e.col), (2, 2));
        assert!(e.message.contains("duplicate key \"a\""), "{e}");
        let e = err("{\"a\": 1} x");
        assert_eq!((e.line, e.col), (1, 10));
        assert!(e.message.contains("after the end"), "{e}");
        let e = err("\"ab\tc\"");
        assert_eq!((e.line, e.col), (1, 4));
        assert!(e.message.contains("control character"), "{e}");
        let e = err("[1,\n 2,]");
        assert_eq!((e.line, e.col), (2, 4));
        assert!(e.message.contains("trailing comma"), "{e}");
        let e = err("{\"a\": 1,}");
        assert!(e.message.contains("trailing comma"), "{e}");
        let e = err("{\"a\" 1}");
        assert_eq!((e.line, e.col), (1, 6));
        let e = err("{'a': 1}");
        assert!(e.message.contains("double quotes"), "{e}");
        let e = err("[tru]");
        assert_eq!((e.line, e.col), (1, 2));
        assert!(err("[truex]").message.contains("expected a value"));
        let e = err("\"abc");
        assert_eq!((e.line, e.col), (1, 1));
        assert!(e.message.contains("unterminated"));
        assert!(err("").message.contains("end of file"));
        assert!(err("   ").message.contains("end of file"));
        assert!(err("[1 2]").message.contains("expected ',' or ']'"));
        assert!(err("{\"a\":1 \"b\":2}")
            .message
            .contains("expected ',' or '}'"));
        for bad in [
            "01", "-", "1.", ".5", "1e", "+1", "1e+", "NaN", "Infinity", "1e999",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(err("[\n  1,\n  01]").line, 3);
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = err(&deep);
        assert!(e.message.contains("nested deeper"), "{e}");
        assert_eq!(e.col as usize, MAX_DEPTH + 1);
        // Far deeper input fails the same way instead of exhausting the stack.
        assert!(parse(&"{\"a\":".repeat(100_000)).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let samples = [
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "\\",
            "{\"a\"",
            "{\"a\":",
            "[1,",
            "\"\\u",
            "\"\\ud800\\u",
            "-0",
            "-01",
            "\u{0}",
            "{\"\u{1}\":1}",
            "é",
            "[\"é\"é]",
        ];
        for s in samples {
            let _ = parse(s);
        }
        assert_eq!(err("[\"é\"é]").col, 5);
    }
}
