//! The daemon: start-up (one daemon per socket, stale sockets replaced, permissions checked),
//! then one mio event loop that owns every process, connection and timer.

mod build;
mod capture;
mod conn;
mod dispatch;
mod edit;
mod entries;
mod events;
mod guard;
mod handlers;
mod handover;
mod io;
mod jobs;
mod kept;
pub use kept::{handoff, Handoff, Mode};
mod leftovers;
mod lifecycle;
mod logread;
mod logretry;
mod output;
mod passthrough;
mod reactor;
mod ready;
mod registry_ops;
mod resume;
mod saved;
mod saving;
mod screenfeed;
mod screens;
mod services;
mod session;
mod sizing;
mod state;
mod streams;
mod supervise;
mod timers;
mod usage;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::paths::{self, Paths};
use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// How the daemon was asked to start.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Ask a live daemon on the same socket to shut down and take its place.
    pub replace: bool,
    /// Started on demand by a client: losing the start-up race is not an error.
    pub auto: bool,
    /// Start the saved set once listening (at boot).
    pub resurrect: bool,
    /// Every entry's output also to standard output, a line at a time (`--passthrough`).
    pub passthrough: bool,
}

/// Takes an exclusive, non-blocking flock on `path`. Ok(None) if someone else holds it.
fn try_lock(path: &Path) -> Result<Option<File>> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open lock file {}", path.display()), e))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(Error::io(
            format!("cannot lock {}", path.display()),
            e.into(),
        )),
    }
}

/// How long a starting daemon waits for one that is exiting to let go of its locks.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// [`try_lock`], trying again for up to `wait`.
fn lock_within(path: &Path, wait: Duration) -> Result<Option<File>> {
    let deadline = Instant::now() + wait;
    loop {
        let lock = try_lock(path)?;
        if lock.is_some() || Instant::now() >= deadline {
            return Ok(lock);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the daemon until it is shut down. Returns Ok(()) also when `opts.auto` and another
/// daemon won the race to start.
pub fn run(paths: Paths, opts: Options, ready: Option<OwnedFd>) -> Result<()> {
    paths.prepare_socket_dir()?;
    paths::ensure_private_dir(&paths.state, false)?;
    let lock_path = paths.socket.with_extension("sock.lock");
    let mut lock = try_lock(&lock_path)?;
    if lock.is_none() && opts.replace {
        if replace_running(&paths)? {
            notify(ready, b'R');
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while lock.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            lock = try_lock(&lock_path)?;
        }
    }
    if lock.is_none() && !socket_answers(&paths.socket) {
        // Held, but nobody listens: a daemon on its way out (it stops listening before it
        // saves and lets go, and its keeper follows), or one starting. Give it a moment
        // rather than failing (or, started on demand, leaving the client with no daemon).
        let deadline = Instant::now() + EXIT_GRACE;
        while lock.is_none() && Instant::now() < deadline && !socket_answers(&paths.socket) {
            std::thread::sleep(Duration::from_millis(10));
            lock = try_lock(&lock_path)?;
        }
    }
    let Some(lock) = lock else {
        if opts.auto {
            // Another daemon won the race: it is the one clients will reach.
            notify(ready, b'L');
            return Ok(());
        }
        let who = Client::connect(&paths)
            .map(|c| format!(" (pid {})", c.daemon_pid()))
            .unwrap_or_default();
        bail!(
            Code::Failed,
            "a wrangle daemon is already running on {}{who}; use wrangle daemon --replace to replace it",
            paths.socket.display()
        );
    };
    // The state folder may be shared by sockets only one at a time.
    let state_lock =
        lock_within(&paths.state.join("daemon.lock"), EXIT_GRACE)?.ok_or_else(|| {
            Error::new(
                Code::Failed,
                format!(
                    "another wrangle daemon is using the state folder {}",
                    paths.state.display()
                ),
            )
        })?;
    remove_stale_socket(&paths.socket)?;
    let listener = reactor::Reactor::<state::TimerKind>::bind(&paths.socket)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("cannot tell which binary this is (/proc/self/exe)", e))?;
    let code = crate::keeper::run(crate::keeper::Start {
        exe,
        listener,
        locks: vec![lock.into(), state_lock.into()],
        ready,
        socket: paths.socket.clone(),
        resurrect: opts.resurrect,
        passthrough: opts.passthrough,
        nofile: rustix::process::getrlimit(rustix::process::Resource::Nofile).current,
    });
    if code != 0 {
        bail!(Code::Failed, "the daemon exited with status {code}");
    }
    Ok(())
}

/// The daemon proper, started by the keeper (see `crate::keeper`): takes what the keeper
/// holds, serves until shut down.
/// `report` (see [`take_report_fd`]) is told why, if it fails before it is ready.
/// With `passthrough`, every entry's output also goes to standard output.
pub fn run_worker(
    paths: Paths,
    handoff: kept::Handoff,
    report: Option<OwnedFd>,
    passthrough: bool,
) -> Result<()> {
    let mode = handoff.mode;
    let started = handoff.receive().and_then(|held| {
        let (link, listener, locks) = handoff.into_link();
        let d = state::Daemon::new(paths, listener, Some(link), held, mode == Mode::Takeover)?;
        Ok((d, locks))
    });
    let (mut d, locks) = match started {
        Ok(x) => x,
        Err(e) => {
            report_failure(report.as_ref(), &e);
            return Err(e);
        }
    };
    if passthrough {
        match passthrough::Passthrough::start() {
            Ok(p) => d.passthrough = Some(p),
            Err(e) => log::error!("--passthrough: cannot start its writer thread: {e}"),
        }
    }
    if mode == Mode::Resurrect {
        d.resurrect_at_start();
    }
    if mode == Mode::Takeover {
        d.die_at("taken");
        d.die_at("ready");
    }
    d.keeper_ready();
    drop(report);
    let result = d.run();
    drop(locks);
    result
}

/// For `--replace`: asks the daemon on our socket to upgrade to this binary, which hands it
/// every process. Ok(true) when it did; Ok(false) when the socket's daemon is gone or could
/// only be shut down (one without a keeper), so that we take its place.
fn replace_running(paths: &Paths) -> Result<bool> {
    let Ok(mut c) = Client::connect(paths) else {
        // Holding the lock but not answering: it is starting or exiting; wait for the lock.
        return Ok(false);
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("cannot tell which binary this is (/proc/self/exe)", e))?;
    match c.upgrade(Some(exe.display().to_string())) {
        Ok(_) => Ok(true),
        Err(e) if e.code == Code::UnknownOp || e.message.contains("without a keeper") => {
            Client::connect(paths)?.shutdown()?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Something listens on `socket` (a connection is accepted or queued; nothing is sent).
fn socket_answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// We hold the socket's lock, so whatever is at the path is stale: remove it if it is a
/// socket, refuse anything else.
fn remove_stale_socket(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| Error::io(format!("cannot remove stale socket {}", path.display()), e)),
        Ok(_) => bail!(
            Code::Failed,
            "{} exists and is not a socket; remove it or choose another WRANGLE_SOCKET",
            path.display()
        ),
        Err(_) => Ok(()),
    }
}

/// The descriptor a keeper gave its first worker for [`report_failure`] (see
/// `keeper::REPORT_ENV`), taken out of the environment and closed on exec.
pub fn take_report_fd() -> Option<OwnedFd> {
    let v = std::env::var(crate::keeper::REPORT_ENV).ok()?;
    std::env::remove_var(crate::keeper::REPORT_ENV);
    let fd: i32 = v.parse().ok().filter(|&n| n > 2)?;
    // SAFETY: fcntl on a number is harmless; an fd that is not open fails with EBADF and is
    // not taken.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return None;
    }
    // SAFETY: the keeper handed this descriptor down to us alone, at this number, and
    // nothing else in this process owns it.
    Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Tells a `--detach` parent why the daemon cannot start: `E`, the exit status, a space, the
/// message, a newline. The first such line it reads is the one it shows.
pub fn report_failure(to: Option<&OwnedFd>, e: &Error) {
    if let Some(fd) = to {
        let line = format!(
            "E{} {}\n",
            e.code.exit_status(),
            e.message.replace('\n', " ")
        );
        let _ = rustix::io::write(fd, line.as_bytes());
    }
}

/// Tells a `--detach` parent that we are listening (`R`) or not needed (`L`).
fn notify(ready: Option<OwnedFd>, byte: u8) {
    if let Some(fd) = ready {
        let _ = rustix::io::write(&fd, &[byte]);
    }
}

#[cfg(test)]
mod tests;
