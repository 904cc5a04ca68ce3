//! Dotenv files: `KEY=VALUE` lines, `#` comments, an optional `export ` prefix, single quotes
//! (literal), double quotes (with `\n`, `\t`, `\r`, `\"`, `\\`, `\$` escapes), and unquoted
//! values with trailing ` # comments` removed. Errors name the file's line.

use crate::error::{Code, Error, Result};

/// Parses dotenv text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |why: &str| Error::new(Code::Usage, format!("{origin}:{line_no}: {why}"));
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(err("expected KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty()
            || key.starts_with(|c: char| c.is_ascii_digit())
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(err(&format!("invalid variable name {key:?}")));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let Some(end) = body.find('\'') else {
                return Err(err("unterminated single quote"));
            };
            check_trailing(&body[end + 1..]).map_err(&err)?;
            body[..end].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = body.char_indices();
            let mut closed = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(i);
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some('r') => v.push('\r'),
                        Some(c @ ('"' | '\\' | '$' | '\'')) => v.push(c),
                        Some(c) => {
                            v.push('\\');
                            v.push(c);
                        }
                        None => return Err(err("unterminated double quote")),
                    },
                    c => v.push(c),
                }
            }
            let Some(end) = closed else {
                return Err(err("unterminated double quote"));
            };
            check_trailing(&body[end + 1..]).map_err(&err)?;
            v
        } else {
            let v = match rest.find(" #").or_else(|| rest.find("\t#")) {
                Some(i) => &rest[..i],
                None => rest,
            };
            v.trim_end().to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn check_trailing(rest: &str) -> std::result::Result<(), &'static str> {
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err("unexpected text after the closing quote")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_common_forms() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='lit $X \\n'\nD=\"a\\n\\\"b\\\" \\$x\"\nE=\nF=x#y\n";
        let v = parse(text, ".env").unwrap();
        let get = |k: &str| v.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("lit $X \\n"));
        assert_eq!(get("D"), Some("a\n\"b\" $x"));
        assert_eq!(get("E"), Some(""));
        assert_eq!(get("F"), Some("x#y"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("A=1\nnot a pair\n", "f.env").unwrap_err();
        assert_eq!(e.message, "f.env:2: expected KEY=VALUE");
        assert!(parse("A='x", "f")
            .unwrap_err()
            .message
            .contains("single quote"));
        assert!(parse("A=\"x", "f")
            .unwrap_err()
            .message
            .contains("double quote"));
        assert!(parse("1A=x", "f")
            .unwrap_err()
            .message
            .contains("invalid variable"));
        assert!(parse("A='x' y", "f")
            .unwrap_err()
            .message
            .contains("after the closing"));
    }
}
