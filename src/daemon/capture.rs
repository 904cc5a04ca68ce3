//! Capture: a run's output from its pipes or terminal into its log files, its ring and its
//! followers. Pipe output is spliced straight into the log, a terminal's through a buffer
//! pipe the keeper holds, so that no byte is ever out of both the pipe and the log when a
//! daemon dies; what cannot be spliced is read and written.

use super::dispatch::RING_BYTES;
use super::reactor::{Source, READS_PER_TURN};
use super::state::Daemon;
use crate::logs::file::Spliced;
use crate::logs::ring::Ring;
use crate::proc::pipe;
use crate::proc::supervisor::Input;
use mio::Token;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

impl Daemon {
    /// One step of a terminal's output through its buffer pipe: what the buffer holds goes to
    /// the log first, then the terminal's pending output into the buffer. None: this path is
    /// not available (no buffer, no log, or the kernel refused a splice): read instead.
    fn pty_step(&mut self, id: u64, master: BorrowedFd<'_>, scratch: &mut [u8]) -> Option<Step> {
        let l = self.live.get_mut(&id)?;
        if l.write_failed {
            return None;
        }
        let (buf_r, buf_w) = l.pty_buf.as_ref()?;
        let w = l.writer.as_mut()?;
        match w.splice_from(buf_r.as_fd(), 1, crate::util::now_us(), scratch) {
            Ok(Spliced::Moved { n, dropped }) => return Some(Step::Moved(n, dropped)),
            Ok(Spliced::Dry) | Ok(Spliced::Eof) => {}
            Ok(Spliced::Unsupported) | Err(_) => return None,
        }
        let step = loop {
            match rustix::pipe::splice(
                master,
                None,
                buf_w,
                None,
                scratch.len(),
                rustix::pipe::SpliceFlags::NONBLOCK,
            ) {
                Ok(0) | Err(rustix::io::Errno::IO) => break Step::Eof,
                Ok(_) => break Step::Again,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => break Step::Dry,
                Err(_) => {
                    // This terminal cannot be spliced from: read it from now on.
                    l.pty_buf = None;
                    return None;
                }
            }
        };
        Some(step)
    }

    /// Reads a pipe until it would block (or for a bounded number of reads, then yields).
    pub(super) fn pipe_readable(&mut self, t: Token, id: u64, stream: u8) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut eof = false;
        let mut more = false;
        // Output that is cut into lines for someone costs per line: one read a turn then,
        // so that a chatty process cannot hold the loop for many (a turn stays one pipe-full).
        let reads = if self.wants_log_lines(id) {
            1
        } else {
            READS_PER_TURN
        };
        for _ in 0..reads {
            if self.screen_backlogged(id) {
                // Its screen is far behind: its output waits in the terminal until the
                // screens thread catches up (`screen_room`).
                more = false;
                break;
            }
            let Some(fd) = self
                .live
                .get(&id)
                .and_then(|l| l.pipes.iter().find(|p| p.0 == t))
                .map(|p| p.1.as_raw_fd())
            else {
                break;
            };
            // SAFETY: `fd` is owned by `self.live[id].pipes` and stays open for this call.
            let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            match self.pty_step(id, bfd, &mut scratch[..]) {
                Some(Step::Moved(n, dropped)) => {
                    self.capture(id, stream, &scratch[..n], Some(dropped));
                    more = true;
                    continue;
                }
                Some(Step::Again) => {
                    more = true;
                    continue;
                }
                Some(Step::Dry) => {
                    more = false;
                    break;
                }
                Some(Step::Eof) => {
                    eof = true;
                    break;
                }
                None => {}
            }
            // A pipe's bytes go straight into the log (splice), so that a daemon killed
            // between taking them and writing them cannot lose them.
            let spliced = self
                .live
                .get_mut(&id)
                .filter(|l| l.pty.is_none() && !l.write_failed)
                .and_then(|l| l.writer.as_mut())
                .map(|w| w.splice_from(bfd, stream, crate::util::now_us(), &mut scratch[..]));
            match spliced {
                Some(Ok(Spliced::Moved { n, dropped })) => {
                    self.capture(id, stream, &scratch[..n], Some(dropped));
                    more = true;
                    continue;
                }
                Some(Ok(Spliced::Dry)) => {
                    more = false;
                    break;
                }
                Some(Ok(Spliced::Eof)) => {
                    eof = true;
                    break;
                }
                Some(Err(err)) => {
                    // Nothing left the pipe; read it below, keeping it in memory if the log
                    // cannot take it.
                    self.log_failed(
                        id,
                        format!("cannot write the log: {err}; output is kept in memory only"),
                    );
                }
                Some(Ok(Spliced::Unsupported)) | None => {}
            }
            match pipe::read_once(bfd, &mut scratch[..]) {
                pipe::Read::Data(n) => {
                    self.capture(id, stream, &scratch[..n], None);
                    more = true;
                }
                pipe::Read::Dry => {
                    more = false;
                    break;
                }
                pipe::Read::Eof => {
                    eof = true;
                    break;
                }
            }
        }
        self.scratch = scratch;
        if eof {
            self.close_pipe(id, t);
            if self.live.get(&id).is_some_and(|l| l.pipes_closed()) {
                let _ = self.feed(id, Input::OutputClosed);
            }
        } else if more && !self.rx.busy.contains(&t) {
            self.rx.busy.push(t);
        }
    }

    fn close_pipe(&mut self, id: u64, t: Token) {
        let Some(l) = self.live.get_mut(&id) else {
            return;
        };
        if let Some(pos) = l.pipes.iter().position(|p| p.0 == t) {
            let (tok, fd) = l.pipes.remove(pos);
            self.deregister_fd(fd.as_raw_fd(), tok);
        }
    }

    /// Output from entry `id`: to its log, its ring, its followers.
    /// `spliced`: the bytes are in the log already (with this many bytes of old segments
    /// dropped by a rotation).
    pub(super) fn capture(&mut self, id: u64, stream: u8, data: &[u8], spliced: Option<u64>) {
        // The byte count is not worth a save per chunk; it is recounted after a crash.
        let Some(e) = self.reg.get_mut_unsaved(id) else {
            return;
        };
        let start = e.seq;
        e.seq += data.len() as u64;
        let written = match spliced {
            Some(dropped) => Some(Ok(dropped)),
            None => self
                .live
                .get_mut(&id)
                .and_then(|l| l.writer.as_mut())
                .map(|w| w.write(stream, crate::util::now_us(), data)),
        };
        match written {
            Some(Ok(dropped)) => {
                if dropped > 0 {
                    if let Some(r) = e.runs.last_mut() {
                        r.dropped += dropped;
                        // Mark it for saving.
                        self.reg.get_mut(id);
                    }
                }
                self.index_dirty.insert(id);
                self.log_works(id);
            }
            Some(Err(err)) => {
                // What reached the log before the error is indexed.
                self.index_dirty.insert(id);
                self.log_failed(
                    id,
                    format!("cannot write the log: {err}; output is kept in memory only"),
                );
            }
            None => {}
        }
        self.rings
            .entry(id)
            .or_insert_with(|| Ring::new(RING_BYTES, start))
            .push(stream, data);
        if self.wants_log_lines(id) {
            self.publish_output(id, stream, data);
        }
        self.screen_output(id, data, start + data.len() as u64);
        self.pass_output(id, stream, data);
        self.wake_followers(id);
    }

    /// Writes the buffered index records of every entry that captured output this turn.
    pub(super) fn flush_indexes(&mut self) {
        for id in std::mem::take(&mut self.index_dirty) {
            if let Some(w) = self.live.get_mut(&id).and_then(|l| l.writer.as_mut()) {
                if let Err(err) = w.flush_index() {
                    self.log_failed(
                        id,
                        format!("cannot write the log index: {err}; trying again"),
                    );
                }
            }
        }
    }

    /// The drain grace is over: take what is readable now, then let go of the pipes.
    pub(super) fn close_output(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        let toks: Vec<(Token, u8)> = l
            .pipes
            .iter()
            .filter_map(|p| match self.rx.sources.get(&p.0) {
                Some(Source::Pipe { stream, .. }) => Some((p.0, *stream)),
                _ => None,
            })
            .collect();
        for (t, stream) in toks {
            self.pipe_readable(t, id, stream);
            self.close_pipe(id, t);
        }
    }
}

/// What one step of a terminal's output did.
enum Step {
    /// Bytes went from the buffer to the log: (count, bytes of old segments dropped).
    Moved(usize, u64),
    /// Bytes went from the terminal into the buffer.
    Again,
    Dry,
    Eof,
}

/// A terminal's buffer pipe (see `Live::pty_buf`); None if no pipe can be made (its output
/// is then read).
pub(super) fn pty_buffer() -> Option<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )
    .ok()?;
    Some((r, w))
}
