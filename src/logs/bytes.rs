//! Fast byte searching for the log readers (no extra crate): `memchr` a word at a time, and a
//! substring search built on it. Also the literal a regex needs, to skip lines cheaply.

/// The position of the first `needle` byte in `hay`.
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut i = 0;
    while i + 8 <= hay.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hay[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pattern;
        // A zero byte in x is a match (the classic "has zero byte" test).
        if (x.wrapping_sub(LO) & !x & HI) != 0 {
            break;
        }
        i += 8;
    }
    hay[i..].iter().position(|&b| b == needle).map(|p| p + i)
}

/// The position of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let mut start = 0;
    while start + needle.len() <= hay.len() {
        let p = start + memchr(first, &hay[start..hay.len() - rest.len()])?;
        if &hay[p + 1..p + needle.len()] == rest {
            return Some(p);
        }
        start = p + 1;
    }
    None
}

/// A literal that every match of `pattern` must contain, when one can be read off the pattern
/// simply (no alternation, no case-insensitivity): the longest run of plain characters not made
/// optional by a following `?`, `*` or `{0`. None when there is no such run (or no help).
pub fn required_literal(pattern: &str) -> Option<String> {
    if pattern.contains('|') || pattern.contains("(?") {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut best = String::new();
    let mut run = String::new();
    let mut i = 0;
    let flush = |run: &mut String, best: &mut String| {
        if run.len() > best.len() {
            *best = run.clone();
        }
        run.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let (lit, next) = match c {
            '\\' => match chars.get(i + 1) {
                Some(&e) if "\\.+*?()|[]{}^$-/ #&~".contains(e) => (Some(e), i + 2),
                _ => (None, i + 2),
            },
            '.' | '[' | ']' | '(' | ')' | '^' | '$' | '{' | '}' | '+' | '*' | '?' => (None, i + 1),
            c => (Some(c), i + 1),
        };
        // A quantifier after this atom may repeat or drop it.
        let quant = chars.get(next).copied();
        match (lit, quant) {
            (Some(l), Some('?' | '*')) | (Some(l), Some('{')) => {
                let _ = l;
                flush(&mut run, &mut best);
            }
            (Some(l), Some('+')) => {
                run.push(l);
                flush(&mut run, &mut best);
            }
            (Some(l), _) => run.push(l),
            (None, _) => {
                // Skip a whole character class or counted repetition.
                if c == '[' || c == '{' {
                    let close = if c == '[' { ']' } else { '}' };
                    let mut j = i + 1;
                    while j < chars.len() && chars[j] != close {
                        j += if chars[j] == '\\' { 2 } else { 1 };
                    }
                    i = j + 1;
                    flush(&mut run, &mut best);
                    continue;
                }
                flush(&mut run, &mut best);
            }
        }
        i = next;
    }
    flush(&mut run, &mut best);
    (best.len() >= 2).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memchr_and_find_agree_with_naive_search() {
        let hay: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for needle in [0u8, 7, 250, 255] {
            assert_eq!(memchr(needle, &hay), hay.iter().position(|&b| b == needle));
        }
        assert_eq!(find(b"hello world", b"o w"), Some(4));
        assert_eq!(find(b"hello world", b"xyz"), None);
        assert_eq!(find(b"aaab", b"aab"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(memchr(b'\n', b"0123456789abcdef\n"), Some(16));
    }

    #[test]
    fn literals_every_match_needs() {
        assert_eq!(
            required_literal("error timeout").as_deref(),
            Some("error timeout")
        );
        assert_eq!(
            required_literal("err.r t[i]meout").as_deref(),
            Some("meout")
        );
        assert_eq!(
            required_literal(r"GET /api\.json").as_deref(),
            Some("GET /api.json")
        );
        assert_eq!(required_literal("colou?r").as_deref(), Some("colo"));
        assert_eq!(required_literal("ab+c").as_deref(), Some("ab"));
        assert_eq!(required_literal("a|b"), None);
        assert_eq!(required_literal("(?i)error"), None);
        assert_eq!(required_literal(r"\d+"), None);
        assert_eq!(required_literal("x{2}yz").as_deref(), Some("yz"));
        assert_eq!(required_literal("ab{20}"), None);
    }
}
