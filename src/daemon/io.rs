//! Talking to a process: its input (a pipe or its terminal) fed by `send` and `attach` through
//! a bounded buffer that never blocks the loop (a full buffer pauses the feeding connection
//! instead), `attach` streams with their end-of-run notice, and terminal resizes.

use super::conn::{Follow, InputBind};
use super::reactor::Source;
use super::state::Daemon;
use crate::error::{Code, Error, Result};
use crate::proto::frame::FrameKind;
use crate::proto::{EventKind, Outcome};
use crate::proto::{Frame, Selector, SendReply, StreamEvent};
use mio::Token;
use std::os::fd::AsRawFd;

/// Input buffered per entry before feeding connections are paused.
const INPUT_HIGH: usize = 1 << 20;
/// Paused connections resume when the buffer is down to this.
const INPUT_LOW: usize = 256 << 10;

/// Where an attach stream starts.
#[derive(Clone, Copy)]
pub(super) enum AttachFrom {
    /// Up to this many bytes before the current end.
    Replay(u64),
    /// At this sequence number (a client re-attaching where it left off).
    Seq(u64),
}

impl Daemon {
    /// Registers an entry's input for writability (edge-triggered, so only when needed).
    pub(super) fn watch_input(&mut self, id: u64) {
        let Some(fd) = self
            .live
            .get(&id)
            .and_then(|l| l.input.as_ref())
            .and_then(|i| i.fd.as_ref())
            .map(|f| f.as_raw_fd())
        else {
            return;
        };
        let Ok(t) = self.rx.register_writable(fd, Source::Input { id }) else {
            return;
        };
        if let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) {
            i.token = Some(t);
        }
    }

    /// Closes an entry's input (end of run, or EOF after a send).
    pub(super) fn close_input(&mut self, id: u64) {
        let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) else {
            return;
        };
        let (fd, tok) = (i.fd.take(), i.token.take());
        i.buf.clear();
        let closed = fd.is_some();
        if let (Some(fd), Some(t)) = (fd.as_ref(), tok) {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if closed {
            self.keeper_closed_input(id);
        }
        self.resume_paused(id);
    }

    /// Why entry `id` cannot take input now, if it cannot.
    fn input_refusal(&self, id: u64) -> Option<Error> {
        let e = self.reg.get(id)?;
        let Some(l) = self.live.get(&id) else {
            return Some(Error::new(
                Code::Failed,
                format!(
                    "{} is not running ({}); it takes no input",
                    e.label(),
                    e.state.as_str()
                ),
            ));
        };
        match &l.input {
            None => Some(Error::new(
                Code::Failed,
                format!(
                    "{}'s input is not connected (start it with --stdin stream or --pty)",
                    e.label()
                ),
            )),
            Some(i) if i.eof || i.fd.is_none() => Some(Error::new(
                Code::Failed,
                format!("{}'s input was already closed", e.label()),
            )),
            Some(_) => None,
        }
    }

    pub(super) fn one(&self, sel: &Selector, verb: &str) -> Result<u64> {
        if sel.targets.is_empty() && !sel.has_filters() {
            bail!(Code::Usage, "{verb}: say which entry (a name or an id)");
        }
        let ids = self.reg.select(sel)?;
        match ids.as_slice() {
            [id] => Ok(*id),
            [] => bail!(
                Code::NoSuchEntry,
                "{verb}: no entry matches (see wrangle ls)"
            ),
            many => bail!(
                Code::Ambiguous,
                "{verb}: name one entry ({} match)",
                many.len()
            ),
        }
    }

    pub(super) fn begin_send(
        &mut self,
        t: Token,
        req: u32,
        sel: &Selector,
        eof: bool,
    ) -> Result<()> {
        let id = self.one(sel, "send")?;
        if let Some(e) = self.input_refusal(id) {
            return Err(e);
        }
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.inputs.push(InputBind {
                req,
                entry: id,
                send: true,
                eof,
                bytes: 0,
            });
        }
        Ok(())
    }

    /// `send_keys`: `keys` named in tmux's notation, encoded for entry `id`'s terminal as its
    /// screen stands (arrows in application cursor mode if the program asked for it), then
    /// written like the bytes of a `send`.
    pub(super) fn send_keys(
        &mut self,
        t: Token,
        req: u32,
        sel: &Selector,
        keys: &[String],
        eof: bool,
    ) -> Result<()> {
        let id = self.one(sel, "send")?;
        if let Some(e) = self.input_refusal(id) {
            return Err(e);
        }
        let app_cursor = self.screens.get(&id).is_some_and(|s| s.lock().app_cursor());
        let data = crate::term::keys::encode(keys, app_cursor);
        if let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) {
            if i.buf.len() >= INPUT_HIGH {
                let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
                bail!(
                    Code::Failed,
                    "{label} is not reading its input ({} bytes are waiting); try again later",
                    i.buf.len()
                );
            }
            i.buf.extend(&data);
        }
        self.write_input(id);
        if eof {
            self.input_eof(id);
        }
        let bytes = data.len() as u64;
        self.reply(t, req, &SendReply { bytes });
        Ok(())
    }

    /// A DATA frame on the input channel.
    pub(super) fn on_input_frame(&mut self, t: Token, f: Frame) {
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return;
        };
        let Some(pos) = c.inputs.iter().position(|b| b.req == f.id) else {
            let msg = "input is not connected to any process (no send or attach with this id)";
            self.frame_err(t, f.id, &Error::new(Code::BadRequest, msg));
            return;
        };
        let (id, send, eof) = (c.inputs[pos].entry, c.inputs[pos].send, c.inputs[pos].eof);
        if f.payload.is_empty() {
            if send {
                let bytes = c.inputs.remove(pos).bytes;
                if eof {
                    self.input_eof(id);
                }
                self.reply(t, f.id, &SendReply { bytes });
            }
            return;
        }
        if let Some(err) = self.input_refusal(id) {
            // A send fails; keystrokes of an attach whose process closed its input are
            // dropped (the attach goes on showing output).
            if send {
                if let Some(c) = self.rx.conns.get_mut(&t) {
                    c.inputs.retain(|b| b.req != f.id);
                }
                self.reply_err(t, f.id, &err);
            }
            return;
        }
        let full = self
            .live
            .get(&id)
            .and_then(|l| l.input.as_ref())
            .is_some_and(|i| i.buf.len() >= INPUT_HIGH);
        if full {
            // The process is not reading: stop reading this client until it does.
            if let Some(c) = self.rx.conns.get_mut(&t) {
                c.paused_on = Some(id);
                c.stalled = Some(f);
            }
            return;
        }
        if let Some(c) = self.rx.conns.get_mut(&t) {
            c.inputs[pos].bytes += f.payload.len() as u64;
        }
        if let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) {
            i.buf.extend(&f.payload);
        }
        self.write_input(id);
    }

    /// Queues the end of input: a stream is closed once written; a terminal gets its
    /// end-of-file character (Ctrl-D), which a program reading lines sees as end of input.
    fn input_eof(&mut self, id: u64) {
        let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) else {
            return;
        };
        if i.is_pty {
            // A terminal's end of file is a character the program may well ignore (a shell
            // with text on its line): the terminal stays open for more input.
            i.buf.push_back(0x04);
        } else {
            i.eof = true;
        }
        self.write_input(id);
    }

    /// Writes buffered input until the process stops taking it.
    pub(super) fn write_input(&mut self, id: u64) {
        let mut closed_by_process = false;
        let mut done = false;
        if let Some(i) = self.live.get_mut(&id).and_then(|l| l.input.as_mut()) {
            while let Some(fd) = i.fd.as_ref() {
                if i.buf.is_empty() {
                    done = i.eof && !i.is_pty;
                    break;
                }
                let chunk = i.buf.make_contiguous();
                match rustix::io::write(fd, chunk) {
                    Ok(n) => {
                        i.buf.drain(..n);
                    }
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => {
                        closed_by_process = true;
                        break;
                    }
                }
            }
        }
        if closed_by_process {
            if let Some(e) = self.reg.get_mut(id) {
                e.event(EventKind::InputClosed, "the process closed its input");
            }
            self.close_input(id);
        } else if done {
            self.close_input(id);
        }
        let low = self
            .live
            .get(&id)
            .and_then(|l| l.input.as_ref())
            .is_none_or(|i| i.buf.len() <= INPUT_LOW);
        if low {
            self.resume_paused(id);
        }
    }

    /// Resumes connections paused on entry `id`'s input.
    fn resume_paused(&mut self, id: u64) {
        let paused: Vec<Token> = self
            .rx
            .conns
            .iter()
            .filter(|(_, c)| c.paused_on == Some(id))
            .map(|(t, _)| *t)
            .collect();
        for t in paused {
            if let Some(c) = self.rx.conns.get_mut(&t) {
                c.paused_on = None;
            }
            self.rx.resume.push(t);
        }
    }

    pub(super) fn attach(
        &mut self,
        t: Token,
        req: u32,
        sel: &Selector,
        read_only: bool,
        from: AttachFrom,
        size: Option<[u16; 2]>,
    ) -> Result<()> {
        let id = self.one(sel, "attach")?;
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let live = self.live.get(&id);
        let input = !read_only && self.input_refusal(id).is_none();
        let pty = live.is_some_and(|l| l.pty.is_some());
        // A terminal entry's screen is drawn as it is now, then output goes on from there.
        // So is it for a client coming back (after the daemon was replaced) from a place
        // the ring no longer holds.
        let held = self.rings.get(&id).map_or(e.seq, |r| r.start());
        let redraw = match from {
            AttachFrom::Replay(n) if n > 0 => self.screen_redraw(id),
            AttachFrom::Seq(seq) if seq < held => self.screen_redraw(id),
            _ => None,
        };
        // Never before what the ring holds, nor past the end (which the stream would not
        // reach, and so never tell how the run ended). After a redraw, where its screen is.
        let start = self.rings.get(&id).map_or(e.seq, |r| {
            let want = match (&redraw, from) {
                (Some((_, seq)), _) => *seq,
                (None, AttachFrom::Replay(n)) => r.end().saturating_sub(n),
                (None, AttachFrom::Seq(seq)) => seq,
            };
            want.max(r.start()).min(e.seq)
        });
        let exit_at = if live.is_none() {
            Some((e.seq, e.exit_code, e.exit_signal))
        } else {
            None
        };
        let hello = StreamEvent::Attached {
            id,
            name: e.name.clone(),
            state: e.state.as_str().to_string(),
            input,
            pty,
            seq: Some(start),
        };
        // The terminal takes the size of the most recent interactive client; a read-only
        // viewer's size is not asked.
        if let (Some(sz), true, false) = (size, pty, read_only) {
            self.sizer_active(id, t, req, sz);
        }
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return Ok(());
        };
        c.json(FrameKind::Event, req, &hello);
        // The screen is at `start`: the stream from there draws what it has not parsed yet.
        if let Some((draw, _)) = redraw {
            c.json(
                FrameKind::Event,
                req,
                &StreamEvent::Screen { seq: start, draw },
            );
        }
        c.follows.push(Follow {
            req,
            entry: id,
            seq: start,
            streams: 3,
            run: 0,
            notify_exit: true,
            exit_at,
        });
        if input {
            c.inputs.push(InputBind {
                req,
                entry: id,
                send: false,
                eof: false,
                bytes: 0,
            });
        }
        self.rx.dirty.insert(t);
        Ok(())
    }

    pub(super) fn resize_entry(&mut self, id: u64, size: [u16; 2]) -> Result<()> {
        let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
        let Some(l) = self.live.get_mut(&id) else {
            bail!(Code::Failed, "{label} is not running");
        };
        let Some(pty) = l.pty.as_ref() else {
            bail!(
                Code::Failed,
                "{label} has no terminal (start it with --pty)"
            );
        };
        if size[0] == 0 || size[1] == 0 {
            bail!(Code::Usage, "a terminal needs at least 1 row and 1 column");
        }
        crate::proc::spawn::set_size(pty, size)
            .map_err(|e| Error::new(Code::Failed, format!("cannot resize {label}: {e}")))?;
        self.screen_resized(id, size);
        Ok(())
    }

    pub(super) fn resize(
        &mut self,
        t: Token,
        sel: &Selector,
        rows: u16,
        cols: u16,
    ) -> Result<Vec<crate::proto::ActionResult>> {
        let ids = self.reg.select_for_change(sel, "resize")?;
        let mut out = Vec::new();
        for id in ids {
            self.resize_entry(id, [rows, cols])?;
            self.sizer_resized(id, t, [rows, cols]);
            out.push(self.result(id, Outcome::Resized, None));
        }
        Ok(out)
    }

    /// The run of `id` ended: attaches learn how once they have all its output, pending sends
    /// fail, input closes.
    pub(super) fn io_run_ended(&mut self, id: u64) {
        let (seq, code, sig) = match self.reg.get(id) {
            Some(e) => (e.seq, e.exit_code, e.exit_signal),
            None => return,
        };
        let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
        self.sizers.remove(&id);
        let mut failed = Vec::new();
        for (t, c) in self.rx.conns.iter_mut() {
            let mut touched = false;
            for f in c
                .follows
                .iter_mut()
                .filter(|f| f.entry == id && f.notify_exit)
            {
                f.exit_at = Some((seq, code, sig));
                touched = true;
            }
            c.inputs.retain(|b| {
                if b.entry == id && b.send {
                    failed.push((*t, b.req));
                }
                b.entry != id
            });
            if c.paused_on == Some(id) {
                c.paused_on = None;
                c.stalled = None;
            }
            if touched {
                self.rx.dirty.insert(*t);
            }
        }
        for (t, req) in failed {
            self.reply_err(
                t,
                req,
                &Error::new(
                    Code::Failed,
                    format!("{label} ended before its input was written"),
                ),
            );
        }
    }
}
