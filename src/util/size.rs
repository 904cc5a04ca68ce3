//! Sizes as users write them: `512`, `64K`, `10M`, `1G` (powers of 1024; a trailing `B` or
//! `iB` is accepted).

use crate::error::{Code, Error, Result};

/// Parses a size in bytes.
pub fn parse(text: &str) -> Result<u64> {
    let t = text.trim();
    let bad = || {
        Error::new(
            Code::Usage,
            format!("invalid size {text:?} (use e.g. 512, 64K, 10M or 1G)"),
        )
    };
    let upper = t.to_ascii_uppercase();
    let u = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, mult) = match u.chars().last() {
        Some('K') => (&u[..u.len() - 1], 1u64 << 10),
        Some('M') => (&u[..u.len() - 1], 1 << 20),
        Some('G') => (&u[..u.len() - 1], 1 << 30),
        Some('T') => (&u[..u.len() - 1], 1 << 40),
        _ => (u, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse("512").unwrap(), 512);
        assert_eq!(parse("64K").unwrap(), 65_536);
        assert_eq!(parse("10M").unwrap(), 10 << 20);
        assert_eq!(parse("1g").unwrap(), 1 << 30);
        assert_eq!(parse("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse("0").unwrap(), 0);
        for bad in ["", "M", "1.5M", "-1", "10X", "99999999999T"] {
            assert_eq!(parse(bad).unwrap_err().code, Code::Usage, "{bad}");
        }
    }
}
