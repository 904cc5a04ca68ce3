//! `send`: input for one entry's standard input (text, or bytes in base64), and its end.

use super::{flag, one, opt_str, req_str, Args, Ctx, Done};
use crate::error::{Code, Result};
use serde_json::json;

/// The most one call may send.
const MAX_SEND: usize = 1 << 20;

pub fn send(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let target = req_str(args, "target")?;
    let eof = flag(args, "eof")?;
    let bytes = match (opt_str(args, "text")?, opt_str(args, "bytes_base64")?) {
        (Some(t), None) => t.as_bytes().to_vec(),
        (None, Some(b)) => base64(b).ok_or_else(|| {
            crate::error::Error::new(Code::Usage, "send: bytes_base64 is not valid base64")
        })?,
        (None, None) if eof => Vec::new(),
        (None, None) => bail!(
            Code::Usage,
            "send: give `text` or `bytes_base64` (or `eof`)"
        ),
        (Some(_), Some(_)) => bail!(Code::Usage, "send: give `text` or `bytes_base64`, not both"),
    };
    if bytes.len() > MAX_SEND {
        bail!(
            Code::Usage,
            "send: {} bytes is more than one call may send ({MAX_SEND}); send it in parts",
            bytes.len()
        );
    }
    let sel = one(ctx, target);
    let n = ctx.client.send_input(&sel, &mut bytes.as_slice(), eof)?;
    let text = format!(
        "sent {n} bytes to {target}{}\n",
        if eof { " and closed its input" } else { "" }
    );
    Ok(Done {
        data: json!({ "bytes": n }),
        text,
    })
}

/// Standard base64 (padding optional, whitespace ignored).
fn base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64("aGVsbG8K").unwrap(), b"hello\n");
        assert_eq!(super::base64("aGk=").unwrap(), b"hi");
        assert!(super::base64("a*b").is_none());
    }
}
