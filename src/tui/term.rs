//! The terminal the dashboard takes over: raw mode, the alternate screen, mouse reports and a
//! hidden cursor, and giving all of it back as it was on every way out: `q`, Ctrl-C, an error
//! (the guard's drop), SIGTERM/SIGHUP/SIGINT (the event loop ends), a panic (the hook), and
//! around Ctrl-Z (given back before stopping, taken again on `fg`).

use crate::error::{Code, Error, Result};
use rustix::termios::{self, OptionalActions, Termios};
use std::sync::Mutex;

/// The modes found on entry, for whoever gives the terminal back (the guard or the panic hook).
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Alternate screen, cursor hidden, mouse reports (press and wheel) in SGR form, cleared.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[?1000h\x1b[?1006h\x1b[H\x1b[2J";
/// The reverse: attributes reset, mouse reports off, cursor shown, main screen back.
const LEAVE: &[u8] = b"\x1b[0m\x1b[?1006l\x1b[?1000l\x1b[?25h\x1b[?1049l";

/// The terminal, taken over; given back when dropped.
pub struct Term(());

impl Term {
    /// Takes the terminal (standard input and output must both be one).
    pub fn enter() -> Result<Term> {
        check()?;
        let i = std::io::stdin();
        let saved = termios::tcgetattr(&i)
            .map_err(|e| Error::io("cannot read the terminal's modes", e.into()))?;
        *lock() = Some(saved);
        take()?;
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            give_back();
            prev(info);
        }));
        Ok(Term(()))
    }

    /// Gives the terminal back for a while (attach, Ctrl-Z).
    pub fn suspend(&self) {
        give_back();
    }

    /// Takes it again after [`Term::suspend`] (the modes may have been changed meanwhile).
    pub fn resume(&self) -> Result<()> {
        take()
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        give_back();
        *lock() = None;
    }
}

/// Standard input and output must both be a terminal.
pub fn check() -> Result<()> {
    if !termios::isatty(std::io::stdin()) || !termios::isatty(std::io::stdout()) {
        crate::bail!(
            Code::Usage,
            "top needs a terminal for its input and output (try wrangle ls)"
        );
    }
    Ok(())
}

fn lock() -> std::sync::MutexGuard<'static, Option<Termios>> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raw mode (from the saved modes) and the dashboard's screen.
fn take() -> Result<()> {
    let Some(mut raw) = lock().clone() else {
        return Ok(());
    };
    raw.make_raw();
    termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &raw)
        .map_err(|e| Error::io("cannot put the terminal in raw mode", e.into()))?;
    write_all(ENTER);
    Ok(())
}

/// The saved modes and the main screen back (nothing if nothing was taken).
fn give_back() {
    // A panic while the lock is held (it never is for long) must not hang the hook.
    let saved = match SAVED.try_lock() {
        Ok(g) => g.clone(),
        Err(std::sync::TryLockError::Poisoned(g)) => g.into_inner().clone(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(t) = saved {
        write_all(LEAVE);
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
    }
}

/// Writes all of `bytes` to standard output (the terminal), retrying interrupted writes.
pub fn write_all(mut bytes: &[u8]) {
    let out = std::io::stdout();
    while !bytes.is_empty() {
        match rustix::io::write(&out, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(_) => return,
        }
    }
}

/// The terminal's size as (columns, rows); 80x24 if it does not say.
pub fn size() -> (u16, u16) {
    match termios::tcgetwinsize(std::io::stdout()) {
        Ok(w) if w.ws_col > 0 && w.ws_row > 0 => (w.ws_col, w.ws_row),
        _ => (80, 24),
    }
}
