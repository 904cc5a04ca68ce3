//! `events`: lifecycle events after a cursor, oldest first, bounded. The cursor is
//! `TS:N`: N events at time TS (ms) were already handed out.

use super::{label, opt_str, opt_u64, selector, Args, Ctx, Done};
use crate::error::{Code, Result};
use serde_json::json;

pub fn events(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let mut sel = selector(ctx, args)?;
    if sel.targets.is_empty() && !sel.has_filters() {
        sel.targets = vec!["all".into()];
    }
    let limit = opt_u64(args, "limit")?.unwrap_or(50).clamp(1, 500) as usize;
    let cursor = match opt_str(args, "cursor")? {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            crate::error::Error::new(
                Code::Usage,
                format!("cursor {c:?} is not one this tool gave (pass back `cursor` as it came)"),
            )
        })?),
    };
    let entries = match ctx.client.status(&sel, false) {
        Ok(es) => es,
        Err(e) if e.code == Code::NoSuchEntry => Vec::new(),
        Err(e) => return Err(e),
    };
    // (time, entry, its event's index): a total order, so the cursor counts the same way on
    // every call.
    let mut order: Vec<(u64, u64, usize, usize)> = Vec::new();
    for (ei, e) in entries.iter().enumerate() {
        for (xi, x) in e.events.iter().enumerate() {
            order.push((x.ts_ms, e.id, xi, ei));
        }
    }
    order.sort_unstable();
    let all: Vec<(u64, u64, Option<String>, String, String)> = order
        .into_iter()
        .map(|(ts, id, xi, ei)| {
            let e = &entries[ei];
            let x = &e.events[xi];
            (
                ts,
                id,
                e.name.clone(),
                x.kind.to_string(),
                x.message.clone(),
            )
        })
        .collect();
    let after: Vec<_> = match cursor {
        Some((ts, n)) => {
            let mut seen_at_ts = 0;
            all.into_iter()
                .filter(|x| {
                    if x.0 < ts {
                        return false;
                    }
                    if x.0 == ts {
                        seen_at_ts += 1;
                        return seen_at_ts > n;
                    }
                    true
                })
                .collect()
        }
        // No cursor: the most recent `limit`.
        None => {
            let skip = all.len().saturating_sub(limit);
            all.into_iter().skip(skip).collect()
        }
    };
    let more = after.len() > limit;
    let page: Vec<_> = after.into_iter().take(limit).collect();
    let next = match page.last() {
        Some(last) => {
            let base = match cursor {
                Some((ts, n)) if ts == last.0 => n,
                _ => 0,
            };
            let at_last = page.iter().filter(|x| x.0 == last.0).count() as u64;
            format!("{}:{}", last.0, base + at_last)
        }
        None => match cursor {
            Some((ts, n)) => format!("{ts}:{n}"),
            None => "0:0".into(),
        },
    };
    let mut text = String::new();
    for (ts, id, name, kind, msg) in &page {
        text.push_str(&format!("{ts} {} {kind} {msg}\n", label(*id, name)));
    }
    if page.is_empty() {
        text.push_str("no new events\n");
    }
    text.push_str(&format!(
        "cursor: {next}{}\n",
        if more { " (more)" } else { "" }
    ));
    let evs: Vec<_> = page
        .iter()
        .map(|(ts, id, name, kind, msg)| {
            json!({"ts_ms": ts, "id": id, "name": name, "kind": kind, "message": msg})
        })
        .collect();
    Ok(Done {
        data: json!({"events": evs, "cursor": next, "more": more}),
        text,
    })
}

fn parse_cursor(c: &str) -> Option<(u64, u64)> {
    let (a, b) = c.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}
