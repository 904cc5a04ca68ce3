//! Starting a process in its own session and process group, with its standard streams as the
//! spec says: pipes whose read ends (non-blocking, close-on-exec) stay with the daemon, a
//! pseudo-terminal whose master stays with the daemon, /dev/null, or files the daemon opens
//! with the user's permissions. The child is never waited for here: the daemon's event loop is
//! the only reaper.

use super::identity;
use crate::proto::{ErrOutput, Input, Output, RunSpec};
use rustix::pipe::{pipe_with, PipeFlags};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// A started process and our ends of its streams.
pub struct Spawned {
    pub pid: i32,
    pub start_time: u64,
    /// Output to capture: (our read end, stream 1 stdout / 2 stderr). For a terminal, the
    /// master (stream 1).
    pub outputs: Vec<(OwnedFd, u8)>,
    /// Where input for the process is written: a pipe's write end, or a copy of the master.
    pub input: Option<OwnedFd>,
    /// The terminal's master, for resizing.
    pub pty: Option<OwnedFd>,
}

/// Default terminal size, rows and columns.
pub const DEFAULT_SIZE: [u16; 2] = [24, 80];

/// A pipe: (read end, write end), both close-on-exec; `nonblock_read`/`nonblock_write` pick
/// which end is ours (non-blocking). The child's end stays blocking.
fn pipe(nonblock_read: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    rustix::io::ioctl_fionbio(if nonblock_read { &r } else { &w }, true)?;
    Ok((r, w))
}

/// The soft open-file limit the daemon had before raising its own; children get it back.
static CHILD_NOFILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records the soft RLIMIT_NOFILE that children should run with.
pub fn set_child_nofile(soft: u64) {
    CHILD_NOFILE.store(soft, std::sync::atomic::Ordering::Relaxed);
}

fn open_for(path: &str, write: bool, what: &str) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if write {
        o.append(true).create(true).mode(0o644);
    } else {
        o.read(true);
    }
    o.custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{what} {path}: {e}")))
}

/// Opens a pseudo-terminal of `size`: (master, slave).
fn open_pty(size: [u16; 2]) -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?
        .into();
    set_size(&master, size)?;
    rustix::io::ioctl_fionbio(&master, true)?;
    Ok((master, slave))
}

/// Sets a terminal's window size (the foreground process group gets SIGWINCH).
pub fn set_size(fd: impl AsFd, size: [u16; 2]) -> io::Result<()> {
    let ws = rustix::termios::Winsize {
        ws_row: size[0],
        ws_col: size[1],
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, ws).map_err(io::Error::from)
}

/// Starts `spec` as entry `id` of the wrangle instance `instance` (its state folder), which
/// with the id marks the process and its descendants (see [`super::kill::markers`]).
pub fn spawn(spec: &RunSpec, id: u64, name: Option<&str>, instance: &str) -> io::Result<Spawned> {
    let mut cmd = if spec.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(spec.argv.join(" "));
        c
    } else {
        // Requests are validated before they get here; an empty argv is still an error, not
        // a panic.
        let Some((program, args)) = spec.argv.split_first().filter(|(p, _)| !p.is_empty()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty command (no program to run)",
            ));
        };
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    cmd.env_clear().envs(spec.env.iter()).current_dir(&spec.cwd);
    for (k, v) in super::kill::markers(id, instance) {
        cmd.env(k, v);
    }
    match name {
        Some(n) => cmd.env("WRANGLE_NAME", n),
        None => cmd.env_remove("WRANGLE_NAME"),
    };
    let mut outputs = Vec::new();
    let mut input = None;
    let mut pty = None;
    if spec.pty {
        let (master, slave) = open_pty(spec.size.unwrap_or(DEFAULT_SIZE))?;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        if !spec.env.contains_key("TERM") {
            cmd.env("TERM", "xterm-256color");
        }
        input = Some(master.try_clone()?);
        outputs.push((master.try_clone()?, crate::logs::STDOUT));
        pty = Some(master);
    } else {
        match &spec.stdin {
            Input::Null => {
                cmd.stdin(Stdio::null());
            }
            Input::Stream => {
                let (r, w) = pipe(false)?;
                cmd.stdin(Stdio::from(r));
                input = Some(w);
            }
            Input::File(p) => {
                cmd.stdin(Stdio::from(open_for(p, false, "--stdin")?));
            }
        }
        // A copy of stdout's write end, only when stderr is merged into it.
        let merge = spec.stderr == ErrOutput::Stdout;
        let mut out_w = None;
        match &spec.stdout {
            Output::Log => {
                let (r, w) = pipe(true)?;
                outputs.push((r, crate::logs::STDOUT));
                if merge {
                    out_w = Some(w.try_clone()?);
                }
                cmd.stdout(Stdio::from(w));
            }
            Output::Null => {
                cmd.stdout(Stdio::null());
            }
            Output::File(p) => {
                let f = open_for(p, true, "--stdout")?;
                if merge {
                    out_w = Some(OwnedFd::from(f.try_clone()?));
                }
                cmd.stdout(Stdio::from(f));
            }
        }
        match &spec.stderr {
            ErrOutput::Log => {
                let (r, w) = pipe(true)?;
                outputs.push((r, crate::logs::STDERR));
                cmd.stderr(Stdio::from(w));
            }
            ErrOutput::Null => {
                cmd.stderr(Stdio::null());
            }
            ErrOutput::File(p) => {
                cmd.stderr(Stdio::from(open_for(p, true, "--stderr")?));
            }
            ErrOutput::Stdout => match out_w.take() {
                Some(w) => {
                    cmd.stderr(Stdio::from(w));
                }
                None => {
                    cmd.stderr(Stdio::null());
                }
            },
        }
    }
    let nofile = CHILD_NOFILE.load(std::sync::atomic::Ordering::Relaxed);
    let controlling = spec.pty;
    // SAFETY: the closure runs in the forked child before exec; it only makes async-signal-safe
    // system calls (sigprocmask, signal, setsid, ioctl, setrlimit) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // The daemon blocks the signals it reads from its signalfd; the child must not
            // inherit that mask (a blocked TERM would make every stop wait for KILL).
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            rustix::process::setsid()?;
            if controlling && libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if nofile > 0 {
                let mut cur = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) == 0 {
                    let lim = libc::rlimit {
                        rlim_cur: (nofile as libc::rlim_t).min(cur.rlim_max),
                        rlim_max: cur.rlim_max,
                    };
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // Dropping a Child neither waits nor kills: the event loop reaps it. Dropping `cmd` closes
    // the child's ends of pipes and the terminal's slave in this process.
    drop(child);
    drop(cmd);
    let start_time = identity::start_time(pid).unwrap_or(0);
    Ok(Spawned {
        pid,
        start_time,
        outputs,
        input,
        pty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_argv_is_an_error_not_a_panic() {
        for argv in [vec![], vec![String::new()]] {
            let spec = RunSpec::new(argv.clone(), "/".into());
            match spawn(&spec, 1, None, "/nonexistent") {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{argv:?}: {e}"),
                Ok(sp) => panic!("{argv:?} started pid {}", sp.pid),
            }
        }
    }
}
