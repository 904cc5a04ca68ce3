//! Per-connection streams of entries' output (`logs -f`, `attach`): each follower reads
//! from its own position in the entry's ring, under the connection's high watermark; one
//! that fell behind is told how much it missed; each new run is announced; an attach is told
//! how the run ended once it has every byte of it.

use super::conn::HIGH_WATER;
use super::state::Daemon;
use crate::proto::frame::FrameKind;
use crate::proto::StreamEvent;
use mio::Token;

impl Daemon {
    /// Sends queued output and pumps followed streams for every connection that needs it.
    pub(super) fn service_conns(&mut self) {
        let dirty: Vec<Token> = self.rx.dirty.drain().collect();
        for t in dirty {
            self.pump(t);
            let Some(c) = self.rx.conns.get_mut(&t) else {
                continue;
            };
            let failed = c.flush().is_err();
            let done = c.closing && c.backlog() == 0;
            if !failed && c.backlogged && c.backlog() < HIGH_WATER {
                // Its answers are being read again: read its requests again.
                c.backlogged = false;
                self.rx.resume.push(t);
            }
            let more = !failed && c.backlog() < HIGH_WATER && self.has_unsent(t);
            if failed || done {
                self.close_conn(t);
            } else if more {
                // Room again after the flush: keep pumping next turn (the poll will not wait).
                self.rx.dirty.insert(t);
            }
        }
    }

    fn has_unsent(&self, t: Token) -> bool {
        let Some(c) = self.rx.conns.get(&t) else {
            return false;
        };
        c.follows.iter().any(|f| {
            f.exit_at.is_some_and(|e| f.seq >= e.0)
                || self.rings.get(&f.entry).is_some_and(|r| r.end() > f.seq)
        })
    }

    /// Moves followed output from the rings into the connection's buffer, up to the watermark.
    fn pump(&mut self, t: Token) {
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return;
        };
        let mut buf = Vec::new();
        for i in 0..c.follows.len() {
            let (entry, req, streams) =
                (c.follows[i].entry, c.follows[i].req, c.follows[i].streams);
            let Some(ring) = self.rings.get(&entry) else {
                continue;
            };
            let runs = self.reg.get(entry).map_or(&[][..], |e| e.runs.as_slice());
            while c.backlog() < HIGH_WATER {
                buf.clear();
                let seq = c.follows[i].seq;
                // Never cross into the next run in one frame: its start is announced first.
                let at = runs.partition_point(|r| r.start_seq <= seq);
                let run = at.checked_sub(1).map(|k| runs[k].run);
                let room = runs.get(at).map_or(64 << 10, |next| {
                    (next.start_seq - seq).min(64 << 10) as usize
                });
                let Some(seg) = ring.read(seq, room, &mut buf) else {
                    break;
                };
                let screen = self
                    .screens
                    .get(&entry)
                    .filter(|_| c.follows[i].notify_exit);
                if let (true, Some(s)) = (seg.missed > 0, screen) {
                    // A terminal attach that fell behind: the screen as it is now, instead
                    // of a gap in its output.
                    let (draw, seq) = s.redraw_from(ring.start());
                    let seq = seq.max(ring.start());
                    c.json(FrameKind::Event, req, &StreamEvent::Screen { seq, draw });
                    c.follows[i].seq = seq;
                    continue;
                }
                if seg.missed > 0 {
                    c.json(
                        FrameKind::Event,
                        req,
                        &StreamEvent::Missed { bytes: seg.missed },
                    );
                }
                if let Some(r) = run.filter(|r| *r != c.follows[i].run) {
                    c.follows[i].run = r;
                    c.json(FrameKind::Event, req, &StreamEvent::Run { run: r });
                }
                if streams & seg.stream != 0 {
                    c.frame(FrameKind::Data, seg.stream, req, &buf);
                }
                c.follows[i].seq = seq + seg.missed + seg.len as u64;
            }
        }
        // Attaches whose run ended and who have all of its output: say how it ended.
        let mut ended = Vec::new();
        c.follows.retain(|f| match f.exit_at {
            Some((end, code, sig)) if f.seq >= end => {
                ended.push((f.req, code, sig));
                false
            }
            _ => true,
        });
        for (req, exit_code, exit_signal) in ended {
            let ev = StreamEvent::Exited {
                exit_code,
                exit_signal,
            };
            c.json(FrameKind::Event, req, &ev);
            c.json(FrameKind::Response, req, &serde_json::json!({}));
            c.inputs.retain(|b| b.req != req);
        }
    }

    /// Marks every connection following `id` for service.
    pub(super) fn wake_followers(&mut self, id: u64) {
        for (t, c) in &self.rx.conns {
            if c.follows.iter().any(|f| f.entry == id) {
                self.rx.dirty.insert(*t);
            }
        }
    }
}
