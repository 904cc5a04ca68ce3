//! `logs`: an entry's output, read and searched by the daemon (`read_log`), bounded, with the
//! offset to page on.

use super::{flag, one, opt_i64, opt_str, opt_u64, req_str, Args, Ctx, Done};
use crate::error::{Code, Error, Result};
use crate::proto::ReadLogQuery;
use serde_json::json;

pub fn logs(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let target = req_str(args, "target")?;
    let context = opt_u64(args, "context")?.unwrap_or(0) as usize;
    let since_ms = match opt_str(args, "since")? {
        Some(s) => {
            let d = crate::util::duration::parse(s)
                .map_err(|e| Error::new(Code::Usage, format!("since {s:?}: {}", e.message)))?;
            Some(crate::util::now_ms().saturating_sub(d.as_millis() as u64))
        }
        None => None,
    };
    let q = ReadLogQuery {
        sel: one(ctx, target),
        build: flag(args, "build")?,
        run: opt_i64(args, "run")?,
        streams: match opt_str(args, "stream")? {
            None | Some("both") => 3,
            Some("stdout") => 1,
            Some("stderr") => 2,
            Some(o) => bail!(Code::Usage, "stream {o:?}: use both, stdout or stderr"),
        },
        grep: opt_str(args, "grep")?.map(str::to_string),
        before: opt_u64(args, "before")?.map_or(context, |n| n as usize),
        after: opt_u64(args, "after")?.map_or(context, |n| n as usize),
        since_ms,
        head: flag(args, "head")?,
        skip: opt_u64(args, "skip")?.unwrap_or(0) as usize,
        max_lines: Some(opt_u64(args, "lines")?.unwrap_or(50).clamp(1, 1000) as usize),
        max_bytes: Some(
            opt_u64(args, "max_bytes")?
                .unwrap_or(16 << 10)
                .clamp(256, 256 << 10) as usize,
        ),
    };
    let r = ctx.client.read_log(&q)?;
    let mut text = String::new();
    for l in &r.lines {
        if l.gap_before {
            text.push_str("--\n");
        }
        text.push_str(&l.text);
        if l.cut {
            text.push_str(" [line cut]");
        }
        text.push('\n');
    }
    if r.lines.is_empty() {
        text.push_str(match q.grep {
            Some(_) => "no line matches\n",
            None => "no output\n",
        });
    }
    if r.more {
        text.push_str(&format!(
            "[more lines: call logs again with skip {}]\n",
            r.next_skip
        ));
    }
    if let Some(m) = &r.missing {
        text.push_str(&format!("[{m}]\n"));
    }
    let lines: Vec<_> = r
        .lines
        .iter()
        .map(|l| {
            json!({"run": l.run, "ts_ms": l.ts_us / 1000, "stream": l.stream, "text": l.text,
                   "matched": l.matched, "gap_before": l.gap_before, "cut": l.cut})
        })
        .collect();
    Ok(Done {
        data: json!({
            "id": r.id, "name": r.name, "runs": r.runs, "lines": lines, "more": r.more,
            "next_skip": r.next_skip, "alive": r.alive, "missing": r.missing,
        }),
        text,
    })
}
