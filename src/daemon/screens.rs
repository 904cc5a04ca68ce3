//! Terminal entries' screens (see `crate::term`): one screen model per `--pty` run, fed with
//! the bytes `capture.rs` already holds in memory after splicing them into the log (they are
//! read back from the page cache for the ring, so parsing them costs no system call and puts
//! nothing between the terminal and the log), on the screens thread (`screenfeed.rs`);
//! resized with the terminal; rebuilt after a
//! takeover by replaying the tail of the run's log; kept after the run ends until the next
//! run or `rm`. Serves `screen` and `wait --screen`, and the redraw an attach starts with.

use super::screenfeed::Term;
use super::state::{Daemon, PendingKind};
use crate::error::{Code, Result};
use crate::proto::{ScreenReply, Selector};
use crate::term::{render, Format, Screen};
use mio::Token;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;

/// How much of a run's log is replayed to rebuild its screen after a takeover: enough for a
/// full screen and the default scrollback of a busy program.
const REPLAY_BYTES: u64 = 512 << 10;

impl Daemon {
    /// A new run of terminal entry `id` began (or was taken over): a blank screen of its
    /// terminal's size.
    pub(super) fn screen_started(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        let Some(pty) = l.pty.as_ref() else {
            self.screens.remove(&id);
            return;
        };
        let size = rustix::termios::tcgetwinsize(pty.as_fd())
            .ok()
            .filter(|w| w.ws_row > 0 && w.ws_col > 0)
            .map_or(crate::proc::spawn::DEFAULT_SIZE, |w| [w.ws_row, w.ws_col]);
        let lines = self
            .reg
            .get(id)
            .and_then(|e| e.spec.scrollback)
            .map_or(crate::term::screen::DEFAULT_SCROLLBACK, |n| n as usize);
        let seq = self.reg.get(id).map_or(0, |e| e.seq);
        self.screens
            .insert(id, Term::new(id, Screen::new(size[0], size[1], lines), seq));
    }

    /// After a takeover: the screen as the tail of the current run's log leaves it. What
    /// scrolled out of that tail (a mode set long before, such as the alternate screen of a
    /// program that has not redrawn since) is not known.
    pub(super) fn screen_replayed(&mut self, id: u64) {
        self.screen_started(id);
        let Some(run) = self.reg.get(id).map(|e| e.run.max(1)) else {
            return;
        };
        let path = crate::logs::file::run_paths(&self.log_dir(id), run).0;
        let Ok(tail) = read_tail(&path, REPLAY_BYTES) else {
            return;
        };
        if let Some(t) = self.screens.get(&id) {
            t.lock().feed(&tail);
        }
    }

    /// Output of entry `id` (already in its log and ring), ending at sequence number `end`.
    pub(super) fn screen_output(&mut self, id: u64, data: &[u8], end: u64) {
        if let Some(t) = self.screens.get(&id) {
            self.feeder.feed(t, data, end);
        }
    }

    /// The terminal of `id` was resized.
    pub(super) fn screen_resized(&mut self, id: u64, size: [u16; 2]) {
        if let Some(t) = self.screens.get(&id) {
            self.feeder.resize(t, size[0], size[1]);
        }
    }

    /// A `wait --screen` watches `id`: the screens thread says when its screen changes.
    pub(super) fn screen_watch(&mut self, id: u64) {
        if let Some(t) = self.screens.get(&id) {
            t.watched.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Whether `id`'s screen (with all its output) shows a match of `re`.
    pub(super) fn screen_matches(&self, id: u64, re: &crate::logs::pattern::Pattern) -> bool {
        self.screens.get(&id).is_some_and(|t| {
            t.sync();
            re.is_match(t.lock().text())
        })
    }

    /// The window title of `id`'s terminal, if its program set one.
    pub(super) fn screen_title(&self, id: u64) -> Option<String> {
        let t = self.screens.get(&id)?;
        let s = t.lock();
        Some(s.title().to_string()).filter(|t| !t.is_empty())
    }

    /// What redraws `id`'s screen on a blank terminal, and the sequence number it is at, if
    /// it is a terminal entry whose run has output anything.
    pub(super) fn screen_redraw(&self, id: u64) -> Option<(String, u64)> {
        let t = self.screens.get(&id)?;
        let e = self.reg.get(id)?;
        let start = e.runs.last().map_or(0, |r| r.start_seq);
        if e.seq <= start {
            return None;
        }
        let seq = t.sync();
        let draw = t.lock().redraw();
        Some((draw, seq))
    }

    pub(super) fn screen_request(
        &mut self,
        conn: Token,
        req: u32,
        sel: &Selector,
        format: Format,
        scrollback: u32,
    ) -> Result<()> {
        let id = self.one(sel, "screen")?;
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let name = e.name.clone();
        let label = e.label();
        let Some(t) = self.screens.get(&id).cloned() else {
            if e.spec.pty {
                bail!(
                    Code::Failed,
                    "{label} has no screen yet (it has not run since the daemon started, or never ran)"
                );
            }
            bail!(
                Code::Failed,
                "{label} has no terminal, so no screen (start it with --pty; see wrangle logs)"
            );
        };
        let scrollback = scrollback as usize;
        t.sync();
        let reply = {
            let mut s = t.lock();
            let s = &mut *s;
            ScreenReply {
                id,
                name,
                screen: render::snapshot(s, scrollback),
                content: render::render(s, format, scrollback),
            }
        };
        self.reply(conn, req, &reply);
        Ok(())
    }

    /// Marks the waits on `id` whose screen regex the screen now matches, and answers those
    /// that are done.
    pub(super) fn check_screen_waits(&mut self, id: u64) {
        let Some(text) = self.screens.get(&id).map(|t| t.lock().text()) else {
            return;
        };
        let mut any = false;
        for p in self.pending.iter_mut() {
            if let PendingKind::Ready(w) = &mut p.kind {
                if w.id == id && w.wants_screen() {
                    if let Some(re) = &w.screen {
                        if re.is_match(&text) {
                            w.screen_ok = true;
                            any = true;
                        }
                    }
                }
            }
        }
        if any {
            self.finish_ready_waits(id);
        }
    }
}

/// The last `max` bytes of a file, from its first line start in them (a cut escape sequence
/// or character at the very start would show as junk).
fn read_tail(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(max);
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::with_capacity((len - from) as usize);
    f.take(max).read_to_end(&mut buf)?;
    if from > 0 {
        if let Some(nl) = memchr::memchr(b'\n', &buf) {
            buf.drain(..=nl);
        }
    }
    Ok(buf)
}
