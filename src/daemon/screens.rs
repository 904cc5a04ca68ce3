//! Terminal entries' screens (see `crate::term`): one screen model per `--pty` run, fed with
//! the bytes `capture.rs` already holds in memory after splicing them into the log (they are
//! read back from the page cache for the ring, so parsing them costs no system call and puts
//! nothing between the terminal and the log), on the screens thread (`screenfeed.rs`);
//! resized with the terminal; rebuilt after a
//! takeover by replaying the tail of the run's log; kept after the run ends until the next
//! run or `rm`. Serves `screen` and `wait --screen` (read on the screens thread once it has
//! parsed the output before the request, so the loop never waits for it), and the redraw an
//! attach starts with.

use super::jobs::Done;
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
        let t = Term::new(id, Screen::new(size[0], size[1], lines), seq);
        // A `wait --screen` that outlives a run watches the next one too.
        let watched = self.pending.iter().any(|p| match &p.kind {
            PendingKind::Ready(w) => w.id == id && w.screen.is_some(),
            _ => false,
        });
        t.watched
            .store(watched, std::sync::atomic::Ordering::Release);
        self.screens.insert(id, t);
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

    /// Whether the screen of `id` is so far behind its output that its terminal should not
    /// be read for now (it is read again at [`Self::screen_room`]).
    pub(super) fn screen_backlogged(&self, id: u64) -> bool {
        self.screens.get(&id).is_some_and(|t| t.backlogged())
    }

    /// The screen of `id` caught up: read its terminal again.
    pub(super) fn screen_room(&mut self, id: u64) {
        let Some(l) = self.live.get(&id) else {
            return;
        };
        for (t, _) in &l.pipes {
            if !self.rx.busy.contains(t) {
                self.rx.busy.push(*t);
            }
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

    /// Has the screens thread look whether `id`'s screen, with all its output so far, shows a
    /// match of `re` for the `wait --screen` `req` of connection `conn`: the answer comes
    /// back as [`Self::screen_checked`]. False if `id` has no screen.
    pub(super) fn screen_check(
        &mut self,
        conn: Token,
        req: u32,
        id: u64,
        re: &crate::logs::pattern::Pattern,
    ) -> bool {
        let Some(t) = self.screens.get(&id).cloned() else {
            return false;
        };
        let (re, generation) = (re.clone(), t.generation);
        let done = move |matched| Done::ScreenChecked {
            conn,
            req,
            id,
            generation,
            matched,
        };
        let failed = done(false);
        let read = move |s: &mut Screen, _| done(re.is_match(s.text()));
        self.feeder.read(&t, Box::new(read), failed);
        true
    }

    /// The screens thread looked at screen `generation` of `id` for the wait `req` of `conn`.
    pub(super) fn screen_checked(
        &mut self,
        conn: Token,
        req: u32,
        id: u64,
        generation: u64,
        matched: bool,
    ) {
        // A screen a new run has replaced says nothing about the new one.
        let current = self
            .screens
            .get(&id)
            .is_some_and(|t| t.generation == generation);
        let mut any = false;
        for p in self.pending.iter_mut() {
            if let (Some(c), PendingKind::Ready(w)) = (p.conn, &mut p.kind) {
                if c == conn && p.req == req && w.id == id && !w.screen_seen {
                    w.screen_seen = true;
                    w.screen_ok = matched && current;
                    any |= w.screen_ok;
                }
            }
        }
        if any {
            self.finish_ready_waits(id);
        } else {
            // What changed while the thread looked is matched now.
            self.check_screen_waits(id);
        }
    }

    /// The window title of `id`'s terminal, if its program set one.
    pub(super) fn screen_title(&self, id: u64) -> Option<String> {
        let t = self.screens.get(&id)?;
        let s = t.lock();
        Some(s.title().to_string()).filter(|t| !t.is_empty())
    }

    /// What redraws `id`'s screen on a blank terminal, and the sequence number it is at (as
    /// far as it is parsed: the output from there draws the rest), if it is a terminal entry
    /// whose run has output anything.
    pub(super) fn screen_redraw(&self, id: u64) -> Option<(String, u64)> {
        let t = self.screens.get(&id)?;
        let e = self.reg.get(id)?;
        let start = e.runs.last().map_or(0, |r| r.start_seq);
        if e.seq <= start {
            return None;
        }
        let held = self.rings.get(&id).map_or(e.seq, |r| r.start());
        Some(t.redraw_from(held))
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
        // Rendered on the screens thread once it has parsed what came before the request.
        let read = move |s: &mut Screen, _| Done::Screen {
            conn,
            req,
            reply: Ok(Box::new(ScreenReply {
                id,
                screen: render::snapshot(s, scrollback),
                content: render::render(s, format, scrollback),
                name,
            })),
        };
        let failed = Done::Screen {
            conn,
            req,
            reply: Err("the daemon hit a bug reading this screen".into()),
        };
        self.feeder.read(&t, Box::new(read), failed);
        Ok(())
    }

    /// The screens thread answered `screen` request `req` of connection `conn`.
    pub(super) fn screen_read(
        &mut self,
        conn: Token,
        req: u32,
        reply: std::result::Result<Box<ScreenReply>, String>,
    ) {
        match reply {
            Ok(r) => self.reply(conn, req, &r),
            Err(m) => self.reply_err(conn, req, &crate::error::Error::new(Code::Internal, m)),
        }
    }

    /// Marks the waits on `id` whose screen regex the screen now matches, and answers those
    /// that are done.
    pub(super) fn check_screen_waits(&mut self, id: u64) {
        let wanted = self.pending.iter().any(|p| match &p.kind {
            PendingKind::Ready(w) => w.id == id && w.wants_screen(),
            _ => false,
        });
        if !wanted {
            return;
        }
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
