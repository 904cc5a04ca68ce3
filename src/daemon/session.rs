//! A connection's protocol: the HELLO/WELCOME handshake and version negotiation, decoding and
//! validating requests before any handler sees them, replies and errors, and what a closed
//! connection leaves behind (its waits are dropped; stops it asked for go on).

use super::conn::Empty;
use super::state::{Daemon, PendingKind};
use crate::error::{Code, Error};
use crate::proto::frame::{chan, FrameKind};
use crate::proto::{Frame, Hello, Request, Welcome, VERSIONS};
use mio::Token;

/// The longest HELLO `client` string (it is stored as the originator of entries and shown by
/// every `list`); a longer one is refused at the handshake.
pub const MAX_CLIENT: usize = 256;

impl Daemon {
    /// `cancel`: ends this connection's stream or wait `target`.
    pub(super) fn cancel(&mut self, t: Token, req_id: u32, target: u32) {
        let mut found = false;
        if let Some(c) = self.rx.conns.get_mut(&t) {
            let before = c.follows.len() + c.subs.len();
            c.follows.retain(|f| f.req != target);
            c.subs.retain(|s| s.req != target);
            c.inputs.retain(|b| b.req != target || b.send);
            found = c.follows.len() + c.subs.len() != before;
        }
        if found {
            self.reply(t, target, &Empty {});
            self.sizers_gone(t, Some(target));
        }
        let mut cancelled = Vec::new();
        self.pending.retain(|p| {
            let hit = p.conn == Some(t)
                && p.req == target
                && matches!(p.kind, PendingKind::Wait { .. } | PendingKind::Ready(_));
            if hit {
                match &p.kind {
                    PendingKind::Wait { timer, .. } => cancelled.push(*timer),
                    PendingKind::Ready(w) => cancelled.extend(w.timers().map(Some)),
                    _ => {}
                }
            }
            !hit
        });
        for tm in cancelled.iter().flatten() {
            self.rx.timers.cancel(*tm);
        }
        if !cancelled.is_empty() {
            self.reply_err(
                t,
                target,
                &Error::new(Code::Failed, "wait cancelled by the client"),
            );
        }
        self.reply(t, req_id, &Empty {});
    }

    /// Ends every stream (follows, subscriptions) with its final reply: the daemon is going
    /// away for good, and their clients should stop rather than wait for another daemon.
    pub(super) fn end_streams(&mut self) {
        let ends: Vec<(Token, u32)> = self
            .rx
            .conns
            .iter_mut()
            .flat_map(|(t, c)| {
                let reqs: Vec<u32> = c
                    .follows
                    .drain(..)
                    .map(|f| f.req)
                    .chain(c.subs.drain(..).map(|s| s.req))
                    .collect();
                reqs.into_iter().map(move |r| (*t, r))
            })
            .collect();
        for (t, req) in ends {
            self.reply(t, req, &Empty {});
        }
    }

    pub(super) fn close_after_error(&mut self, t: Token, id: u32, code: Code, msg: &str) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.error(id, code.as_str(), msg);
            c.closing = true;
            self.rx.dirty.insert(t);
        }
    }

    pub(super) fn close_conn(&mut self, t: Token) {
        self.rx.close_conn(t);
        self.sizers_gone(t, None);
        let mut timers = Vec::new();
        self.pending.retain_mut(|p| {
            if p.conn != Some(t) {
                return true;
            }
            match &p.kind {
                PendingKind::Wait { timer, .. } => {
                    timers.extend(*timer);
                    false
                }
                PendingKind::Ready(w) => {
                    timers.extend(w.timers());
                    false
                }
                // Stops and builds go on without anyone to tell.
                PendingKind::Batch { .. } | PendingKind::Rebuild { .. } => {
                    p.conn = None;
                    true
                }
            }
        });
        for tm in timers {
            self.rx.timers.cancel(tm);
        }
    }

    pub(super) fn on_frame(&mut self, t: Token, f: Frame) {
        let greeted = self.rx.conns.get(&t).is_some_and(|c| c.greeted);
        match (greeted, f.kind()) {
            (false, Some(FrameKind::Hello)) => self.on_hello(t, &f),
            (false, _) => self.close_after_error(
                t,
                0,
                Code::BadFrame,
                "the first frame must be HELLO (see wrangle-protocol(7))",
            ),
            (true, Some(FrameKind::Request)) => self.on_request_frame(t, &f),
            (true, Some(FrameKind::Data)) if f.chan == chan::STDIN => self.on_input_frame(t, f),
            (true, _) => self.frame_err(
                t,
                f.id,
                &Error::new(
                    Code::BadFrame,
                    format!("unexpected frame kind {} on channel {}", f.kind, f.chan),
                ),
            ),
        }
    }

    fn on_hello(&mut self, t: Token, f: &Frame) {
        let hello: Hello = match serde_json::from_slice(&f.payload) {
            Ok(h) => h,
            Err(e) => {
                return self.close_after_error(t, 0, Code::BadFrame, &format!("bad HELLO: {e}"))
            }
        };
        let Some(version) = hello
            .versions
            .iter()
            .filter(|v| VERSIONS.contains(v))
            .max()
            .copied()
        else {
            return self.close_after_error(
                t,
                0,
                Code::UnsupportedVersion,
                &format!(
                    "no common protocol version: client speaks {:?}, daemon {:?}; use the same wrangle binary for both",
                    hello.versions, VERSIONS
                ),
            );
        };
        if hello.client.len() > MAX_CLIENT {
            return self.close_after_error(
                t,
                0,
                Code::BadFrame,
                &format!(
                    "bad HELLO: the client name is {} bytes long; at most {MAX_CLIENT} are allowed",
                    hello.client.len()
                ),
            );
        }
        let welcome = Welcome {
            version,
            daemon: format!("wrangle {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
        };
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.greeted = true;
            c.client = hello.client;
            c.json(FrameKind::Welcome, 0, &welcome);
            self.rx.dirty.insert(t);
        }
    }

    fn on_request_frame(&mut self, t: Token, f: &Frame) {
        // Refused on id 0, the connection's own: answering on the request's id would read as
        // the answer to the request already in flight there.
        if f.id == 0 {
            return self.reply_err(
                t,
                0,
                &Error::new(Code::BadRequest, "request id 0: ids are non-zero"),
            );
        }
        let fresh = self
            .rx
            .conns
            .get_mut(&t)
            .is_some_and(|c| c.in_flight.insert(f.id));
        if !fresh {
            return self.reply_err(
                t,
                0,
                &Error::new(
                    Code::BadRequest,
                    format!(
                        "request id {} is already in flight on this connection (use another id)",
                        f.id
                    ),
                ),
            );
        }
        let req: Request = match serde_json::from_slice(&f.payload) {
            Ok(r) => r,
            Err(e) => {
                let op = serde_json::from_slice::<serde_json::Value>(&f.payload)
                    .ok()
                    .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(String::from));
                let err = match op {
                    Some(op) if !Request::OPS.contains(&op.as_str()) => Error::new(
                        Code::UnknownOp,
                        format!(
                            "unknown op {op:?} (this daemon is wrangle {})",
                            env!("CARGO_PKG_VERSION")
                        ),
                    ),
                    _ => Error::new(Code::BadRequest, format!("bad request: {e}")),
                };
                return self.reply_err(t, f.id, &err);
            }
        };
        // Checked at the boundary: no handler sees a request it cannot act on.
        if let Err(e) = req.validate() {
            return self.reply_err(t, f.id, &e);
        }
        log::debug!("request {} {:?}", f.id, req.op());
        // A bug in one handler must not take the daemon down with it.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(t, f.id, req)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.reply_err(t, f.id, &e),
            Err(_) => self.reply_err(
                t,
                f.id,
                &Error::new(Code::Internal, "the daemon hit a bug handling this request"),
            ),
        }
    }

    /// Queues a RESPONSE.
    pub(super) fn reply<T: serde::Serialize>(&mut self, t: Token, id: u32, value: &T) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.json(FrameKind::Response, id, value);
            self.rx.dirty.insert(t);
        }
    }

    /// Queues an ERROR about one frame (not a REQUEST) that names request `id`: the request,
    /// if one is in flight with that id, is still waiting for its own answer.
    pub(super) fn frame_err(&mut self, t: Token, id: u32, e: &Error) {
        let pending = self
            .rx
            .conns
            .get(&t)
            .is_some_and(|c| c.in_flight.contains(&id));
        self.reply_err(t, id, e);
        if let Some(c) = self.rx.conns.get_mut(&t).filter(|_| pending) {
            c.in_flight.insert(id);
        }
    }

    /// Queues an ERROR.
    pub(super) fn reply_err(&mut self, t: Token, id: u32, e: &Error) {
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.error(id, e.code.as_str(), &e.message);
            self.rx.dirty.insert(t);
        }
    }
}
