//! The regular expressions that pick log lines (`logs --grep`, ready-waits on `--log`,
//! services' `ready.log`): compiled once by regex-automata's meta engine (a memchr literal
//! prefilter, then a lazy DFA) to match bytes, with ASCII classes and case folding, and `^`/`$`
//! at line ends, so that a whole block of lines can be searched in one call.

use regex_automata::util::syntax;
use regex_automata::{meta, Input};

/// A compiled pattern and its source text.
#[derive(Clone, Debug)]
pub struct Pattern {
    re: meta::Regex,
    src: String,
    /// Whether a match in a block of lines is a match in the line holding it: false when the
    /// pattern looks at the haystack's very start or end (`\A`, `\z`, `(?-m)^`), which only a
    /// line by itself has.
    blockwise: bool,
}

impl Pattern {
    /// Compiles `src`; the error says what is wrong with it (it may span lines, with a caret).
    pub fn new(src: &str) -> Result<Pattern, String> {
        let config = syntax::Config::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true);
        let hir = syntax::parse_with(src, &config).map_err(|e| one_line(&e.to_string()))?;
        let blockwise = !hir.properties().look_set().contains_anchor_haystack();
        let re = meta::Regex::builder()
            .configure(meta::Config::new().utf8_empty(false))
            .build_from_hir(&hir)
            .map_err(|e| one_line(&e.to_string()))?;
        Ok(Pattern {
            re,
            src: src.to_string(),
            blockwise,
        })
    }

    /// The source text.
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// Whether `line` (without its newline) matches anywhere.
    pub fn is_match(&self, line: impl AsRef<[u8]>) -> bool {
        self.re.is_match(line.as_ref())
    }

    /// Whether [`Pattern::next_line`] may be used; otherwise lines must be tried one by one.
    pub fn blockwise(&self) -> bool {
        self.blockwise
    }

    /// The first line of `block[at..]` that matches, as `(start, end)` with `block[end]` its
    /// newline. `block` is whole lines: `at` is a line start and it ends with a newline.
    pub fn next_line(&self, block: &[u8], mut at: usize) -> Option<(usize, usize)> {
        debug_assert!(self.blockwise && block.last() == Some(&b'\n'));
        while at < block.len() {
            let m = self.re.find(Input::new(block).range(at..))?;
            let (s, e) = (m.start(), m.end());
            let start = memchr::memrchr(b'\n', &block[at..s]).map_or(at, |k| at + k + 1);
            let end = s + memchr::memchr(b'\n', &block[s..])?;
            // A match that runs past the line's newline is not one of that line; the line may
            // still match by itself.
            if e <= end || self.re.is_match(&block[start..end]) {
                return Some((start, end));
            }
            at = end + 1;
        }
        None
    }
}

/// The gist of a (multi-line, with a caret under the pattern) syntax error.
fn one_line(e: &str) -> String {
    e.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(e)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &str, block: &str) -> Vec<String> {
        let p = Pattern::new(p).unwrap();
        let b = block.as_bytes();
        let mut out = Vec::new();
        let mut at = 0;
        if !p.blockwise() {
            return b
                .split(|&c| c == b'\n')
                .filter(|l| p.is_match(l))
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
        }
        while let Some((s, e)) = p.next_line(b, at) {
            out.push(String::from_utf8_lossy(&b[s..e]).into_owned());
            at = e + 1;
        }
        out
    }

    #[test]
    fn matches_are_per_line() {
        let text = "error one\nfine\nan error\nerr\nor\n\nERROR up\n";
        assert_eq!(lines("error", text), ["error one", "an error"]);
        assert_eq!(
            lines("(?i)error", text),
            ["error one", "an error", "ERROR up"]
        );
        assert_eq!(lines("^$", text), [""]);
        assert_eq!(lines("^an|one$", text), ["error one", "an error"]);
        // Nothing matches across a newline, but the line may match by itself.
        assert_eq!(lines("err\\s*or", text), ["error one", "an error"]);
        assert_eq!(lines("r[^x]*o", text), ["error one", "an error"]);
        assert_eq!(lines("\\n", text), Vec::<String>::new());
        assert_eq!(lines("[a-z]*", "a\n\nb\n"), ["a", "", "b"]);
        // Haystack anchors are the line's.
        assert_eq!(lines("\\Aor", text), ["or"]);
        assert_eq!(lines("up\\z", text), ["ERROR up"]);
        assert_eq!(lines("(?-m)^an", text), ["an error"]);
        // Bytes, ASCII classes; a CR stays part of the line.
        assert_eq!(lines("\\w+\\s\\d", "é 1\nab 2\n"), ["ab 2"]);
        assert_eq!(lines("é", "é 1\nab 2\n"), ["é 1"]);
        assert_eq!(lines("x$", "ax\r\nbx\n"), ["bx"]);
        assert_eq!(lines("x\r$", "ax\r\nbx\n"), ["ax\r"]);
    }

    #[test]
    fn bad_patterns_say_why() {
        let e = Pattern::new("(unclosed").unwrap_err();
        assert!(e.contains("group"), "{e}");
        assert!(Pattern::new("a{2,1}").is_err());
        assert!(Pattern::new("a\\").is_err());
    }
}
