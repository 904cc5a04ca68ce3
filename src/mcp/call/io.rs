//! `send`: input for one entry's standard input (text, or bytes in base64), and its end;
//! `screen` and `send_keys`: a terminal entry's screen, and keys for it.

use super::{flag, one, opt_str, opt_u64, req_str, Args, Ctx, Done};
use crate::error::{Code, Result};
use serde_json::{json, Value};

/// The most scrollback lines one `screen` call returns.
const MAX_SCROLLBACK: u64 = 200;

pub fn screen(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let target = req_str(args, "target")?;
    let scrollback = opt_u64(args, "scrollback")?.unwrap_or(0);
    if scrollback > MAX_SCROLLBACK {
        bail!(
            Code::Usage,
            "screen: scrollback {scrollback} is more than one call returns ({MAX_SCROLLBACK})"
        );
    }
    let sel = one(ctx, target);
    let r = ctx
        .client
        .screen(&sel, crate::term::Format::Text, scrollback as u32)?;
    let s = &r.screen;
    let mut text = format!(
        "{} ({}x{}, cursor at row {} column {}{}):\n",
        r.name.clone().unwrap_or_else(|| r.id.to_string()),
        s.rows,
        s.cols,
        s.cursor[0],
        s.cursor[1],
        if s.title.is_empty() {
            String::new()
        } else {
            format!(", title {:?}", s.title)
        }
    );
    text.push_str(&r.content);
    Ok(Done {
        data: json!({
            "id": r.id, "name": r.name, "rows": s.rows, "cols": s.cols, "lines": s.lines,
            "scrollback": s.scrollback, "cursor": s.cursor, "title": s.title,
            "alternate_screen": s.alternate_screen,
        }),
        text,
    })
}

pub fn send_keys(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let target = req_str(args, "target")?;
    let keys: Vec<String> = match args.get("keys") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= 1000 => items
            .iter()
            .map(|k| k.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                crate::error::Error::new(Code::Usage, "send_keys: every key must be a string")
            })?,
        _ => bail!(
            Code::Usage,
            "send_keys: `keys` must be a list of 1 to 1000 key names or texts"
        ),
    };
    let sel = one(ctx, target);
    let n = ctx.client.send_keys(&sel, &keys, false)?;
    Ok(Done {
        data: json!({ "bytes": n }),
        text: format!("sent {} key(s) ({n} bytes) to {target}\n", keys.len()),
    })
}

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
