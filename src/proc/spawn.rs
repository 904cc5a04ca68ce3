//! Starting a process in its own session and process group, with its standard streams as the
//! spec says: pipes whose read ends (non-blocking, close-on-exec) stay with the daemon, a
//! pseudo-terminal whose master stays with the daemon, /dev/null, or files the daemon opens
//! with the user's permissions. The child is never waited for here: the daemon's event loop is
//! the only reaper.

use super::identity;
use super::launch::Launch;
use crate::proto::{ErrOutput, Input, Output, RunSpec};
use rustix::pipe::{pipe_with, PipeFlags};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

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

/// Opens /dev/null for one of the child's streams (read and write: it may be any of them).
fn null() -> io::Result<OwnedFd> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/null")?
        .into())
}

/// Starts `spec` as entry `id` of the wrangle instance `instance` (its state folder), which
/// with the id marks the process and its descendants (see [`super::kill::markers`]).
pub fn spawn(spec: &RunSpec, id: u64, name: Option<&str>, instance: &str) -> io::Result<Spawned> {
    let joined;
    let (program, args): (&str, Vec<&str>) = if spec.shell {
        joined = spec.argv.join(" ");
        ("/bin/sh", vec!["-c", &joined])
    } else {
        // Requests are validated before they get here; an empty argv is still an error, not
        // a panic.
        let Some((program, args)) = spec.argv.split_first().filter(|(p, _)| !p.is_empty()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty command (no program to run)",
            ));
        };
        (program, args.iter().map(String::as_str).collect())
    };
    // The environment, in name order (as std's Command gave it).
    let mut env: BTreeMap<&str, &str> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let markers = super::kill::markers(id, instance);
    for (k, v) in &markers {
        env.insert(k, v);
    }
    match name {
        Some(n) => env.insert("WRANGLE_NAME", n),
        None => env.remove("WRANGLE_NAME"),
    };
    let mut outputs = Vec::new();
    let mut input = None;
    let mut pty = None;
    let stdio: [OwnedFd; 3] = if spec.pty {
        let (master, slave) = open_pty(spec.size.unwrap_or(DEFAULT_SIZE))?;
        env.entry("TERM").or_insert("xterm-256color");
        input = Some(master.try_clone()?);
        outputs.push((master.try_clone()?, crate::logs::STDOUT));
        pty = Some(master);
        [slave.try_clone()?, slave.try_clone()?, slave]
    } else {
        let stdin = match &spec.stdin {
            Input::Null => null()?,
            Input::Stream => {
                let (r, w) = pipe(false)?;
                input = Some(w);
                r
            }
            Input::File(p) => open_for(p, false, "--stdin")?.into(),
        };
        // A copy of stdout's write end, only when stderr is merged into it.
        let merge = spec.stderr == ErrOutput::Stdout;
        let mut out_w = None;
        let stdout: OwnedFd = match &spec.stdout {
            Output::Log => {
                let (r, w) = pipe(true)?;
                outputs.push((r, crate::logs::STDOUT));
                if merge {
                    out_w = Some(w.try_clone()?);
                }
                w
            }
            Output::Null => null()?,
            Output::File(p) => {
                let f: OwnedFd = open_for(p, true, "--stdout")?.into();
                if merge {
                    out_w = Some(f.try_clone()?);
                }
                f
            }
        };
        let stderr = match &spec.stderr {
            ErrOutput::Log => {
                let (r, w) = pipe(true)?;
                outputs.push((r, crate::logs::STDERR));
                w
            }
            ErrOutput::Null => null()?,
            ErrOutput::File(p) => open_for(p, true, "--stderr")?.into(),
            ErrOutput::Stdout => match out_w.take() {
                Some(w) => w,
                None => null()?,
            },
        };
        [stdin, stdout, stderr]
    };
    let mut launch = Launch::new(program, args, env, &spec.cwd, stdio)?;
    launch.controlling_tty = spec.pty;
    launch.nofile = CHILD_NOFILE.load(std::sync::atomic::Ordering::Relaxed);
    // Dropping the launch (inside start) closes the child's ends of pipes and the terminal's
    // slave in this process. The child is never waited for here: the event loop reaps it.
    let pid = launch.start()?;
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

    #[test]
    fn null_streams_take_reads_and_writes() {
        let mut spec = RunSpec::new(
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo out && echo err >&2 && read x; [ $? = 1 ]".into(),
            ],
            "/".into(),
        );
        spec.stdin = Input::Null;
        spec.stdout = Output::Null;
        spec.stderr = ErrOutput::Null;
        let sp = spawn(&spec, 1, None, "/nonexistent").unwrap();
        let (_, st) = rustix::process::waitpid(
            rustix::process::Pid::from_raw(sp.pid),
            rustix::process::WaitOptions::empty(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(st.exit_status(), Some(0), "a write to /dev/null failed");
    }
}
