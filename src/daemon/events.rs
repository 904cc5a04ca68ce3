//! Subscriptions: lifecycle events and log lines pushed to `wrangle events` clients, in order
//! per entry, with a subscriber that falls behind told how many events it missed instead of
//! slowing anyone down. No idle timeout: a subscription lasts until cancelled or disconnected.

use super::conn::{Conn, Sub, HIGH_WATER};
use super::state::Daemon;
use crate::error::{Code, Result};
use crate::proto::frame::FrameKind;
use crate::proto::{LiveEvent, Selector};
use crate::store::registry::{take_events, Registry};
use mio::Token;

/// A partial log line longer than this is published as is.
const MAX_LINE: usize = 64 << 10;

/// Whether `sub` wants events of entry `id` (which may already be gone).
fn wants(reg: &Registry, sub: &Sub, id: u64, bit: u8) -> bool {
    if sub.types & bit == 0 || sub.ids.as_ref().is_some_and(|s| !s.contains(&id)) {
        return false;
    }
    match reg.get(id) {
        Some(e) => reg.matches(e, &sub.sel),
        None => !sub.sel.has_filters(),
    }
}

/// Queues `ev` for `sub` on `conn`, or counts it as missed when the connection is backed up.
fn deliver(conn: &mut Conn, i: usize, ev: &LiveEvent) {
    if conn.backlog() > HIGH_WATER {
        conn.subs[i].missed += 1;
        return;
    }
    let req = conn.subs[i].req;
    let missed = std::mem::take(&mut conn.subs[i].missed);
    if missed > 0 {
        let notice = LiveEvent {
            ts_ms: crate::util::now_ms(),
            id: 0,
            name: None,
            kind: crate::proto::EventKind::Missed,
            message: format!("{missed} events were dropped: this subscriber fell behind"),
            stream: None,
            count: Some(missed),
        };
        conn.json(FrameKind::Event, req, &notice);
    }
    conn.json(FrameKind::Event, req, ev);
}

impl Daemon {
    pub(super) fn subscribe(&mut self, t: Token, req: u32, sel: Selector, types: u8) -> Result<()> {
        if types == 0 || types > 3 {
            bail!(
                Code::BadRequest,
                "subscribe: types is a bitmask of 1 (status) and 2 (log)"
            );
        }
        // Validate the selector now (unknown names, bad states) so mistakes are reported.
        self.reg.select(&sel)?;
        let ids = if sel.targets.is_empty() || sel.targets.iter().any(|t| t == "all") {
            None
        } else {
            let only = Selector {
                targets: sel.targets.clone(),
                ..Selector::default()
            };
            Some(self.reg.select(&only)?.into_iter().collect())
        };
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.subs.push(Sub {
                req,
                sel,
                ids,
                types,
                missed: 0,
            });
        }
        Ok(())
    }

    /// Whether anyone subscribed to log lines of entry `id`.
    pub(super) fn wants_log_lines(&self, id: u64) -> bool {
        self.rx
            .conns
            .values()
            .any(|c| c.subs.iter().any(|s| wants(&self.reg, s, id, 2)))
            || self.ready_wants_lines(id)
    }

    /// Cuts captured output into lines for log subscribers (a partial line waits for its end).
    pub(super) fn publish_output(&mut self, id: u64, stream: u8, data: &[u8]) {
        let buf = self.line_bufs.entry((id, stream)).or_default();
        buf.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            lines.push(buf.drain(..=i).collect::<Vec<u8>>());
        }
        if buf.len() >= MAX_LINE {
            lines.push(std::mem::take(buf));
        }
        if lines.is_empty() {
            return;
        }
        let name = self.reg.get(id).and_then(|e| e.name.clone());
        let stream_name = if stream == 2 { "stderr" } else { "stdout" };
        for line in lines {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let ev = LiveEvent {
                ts_ms: crate::util::now_ms(),
                id,
                name: name.clone(),
                kind: crate::proto::EventKind::Log,
                message: String::from_utf8_lossy(text).into_owned(),
                stream: Some(stream_name.into()),
                count: None,
            };
            self.ready_line(id, &ev.message);
            self.broadcast(id, 2, &ev);
        }
    }

    /// Publishes an entry's unfinished log lines (its run ended: no newline is coming).
    pub(super) fn flush_log_lines(&mut self, id: u64) {
        for stream in [crate::logs::STDOUT, crate::logs::STDERR] {
            if let Some(rest) = self.line_bufs.remove(&(id, stream)) {
                if !rest.is_empty() {
                    let mut line = rest;
                    line.push(b'\n');
                    self.publish_output(id, stream, &line);
                    self.line_bufs.remove(&(id, stream));
                }
            }
        }
    }

    /// Hands this turn's lifecycle events to subscribers.
    pub(super) fn publish_events(&mut self) {
        for (ev, name) in take_events() {
            let live = LiveEvent {
                ts_ms: ev.ts_ms,
                id: ev.id,
                name,
                kind: ev.kind,
                message: ev.message,
                stream: None,
                count: None,
            };
            self.broadcast(live.id, 1, &live);
            if live.kind == crate::proto::EventKind::Removed {
                self.line_bufs.retain(|k, _| k.0 != live.id);
            }
        }
    }

    fn broadcast(&mut self, id: u64, bit: u8, ev: &LiveEvent) {
        for (t, c) in self.rx.conns.iter_mut() {
            let mut any = false;
            for i in 0..c.subs.len() {
                if wants(&self.reg, &c.subs[i], id, bit) {
                    deliver(c, i, ev);
                    any = true;
                }
            }
            if any {
                self.rx.dirty.insert(*t);
            }
        }
    }
}
