//! Starting a process: its own session and process group, stdin from /dev/null, stdout and
//! stderr into pipes whose read ends (non-blocking, close-on-exec) stay with the daemon. The
//! child is never waited for here: the daemon's event loop is the only reaper.

use super::identity;
use crate::proto::RunSpec;
use rustix::pipe::{pipe_with, PipeFlags};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// A started process and our ends of its output pipes.
pub struct Spawned {
    pub pid: i32,
    pub start_time: u64,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Our read end non-blocking and close-on-exec; the child's write end blocking (it is dup'ed
/// onto fd 1 or 2 by the spawn, which clears close-on-exec on the copy).
fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    rustix::io::ioctl_fionbio(&r, true)?;
    Ok((r, w))
}

/// The soft open-file limit the daemon had before raising its own; children get it back.
static CHILD_NOFILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records the soft RLIMIT_NOFILE that children should run with.
pub fn set_child_nofile(soft: u64) {
    CHILD_NOFILE.store(soft, std::sync::atomic::Ordering::Relaxed);
}

/// Starts `spec` as entry `id`.
pub fn spawn(spec: &RunSpec, id: u64, name: Option<&str>) -> io::Result<Spawned> {
    let (out_r, out_w) = output_pipe()?;
    let (err_r, err_w) = output_pipe()?;
    let mut cmd = if spec.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(spec.argv.join(" "));
        c
    } else {
        let mut c = Command::new(&spec.argv[0]);
        c.args(&spec.argv[1..]);
        c
    };
    cmd.env_clear()
        .envs(&spec.env)
        .env("WRANGLE_ID", id.to_string())
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    match name {
        Some(n) => cmd.env("WRANGLE_NAME", n),
        None => cmd.env_remove("WRANGLE_NAME"),
    };
    let nofile = CHILD_NOFILE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the closure runs in the forked child before exec; it only makes async-signal-safe
    // system calls (sigprocmask, signal, setsid, setrlimit) and allocates nothing.
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
            if nofile > 0 {
                let lim = libc::rlimit {
                    rlim_cur: nofile as libc::rlim_t,
                    rlim_max: libc::RLIM_INFINITY,
                };
                let mut cur = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) == 0 {
                    let lim = libc::rlimit {
                        rlim_max: cur.rlim_max,
                        ..lim
                    };
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // Dropping a Child neither waits nor kills: the event loop reaps it.
    drop(child);
    let start_time = identity::start_time(pid).unwrap_or(0);
    Ok(Spawned {
        pid,
        start_time,
        stdout: out_r,
        stderr: err_r,
    })
}
