//! `wrangle ping`, `wrangle shutdown` and `wrangle daemon`.

use super::{print_json, Exit};
use crate::client::Client;
use crate::daemon::Options;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::Outcome;
use argh::FromArgs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// is the daemon up: version, pid, uptime and counts (never starts one)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "ping")]
pub struct PingCmd {
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

/// stop every owned process gracefully, then stop the daemon
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "shutdown")]
pub struct ShutdownCmd {}

/// replace the running daemon with a new binary; every process goes on undisturbed
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "upgrade")]
pub struct UpgradeCmd {
    /// the binary to run (default: the one the daemon was started from, read again)
    #[argh(option)]
    pub binary: Option<String>,
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

/// run the daemon in the foreground (for init systems)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "daemon")]
pub struct DaemonCmd {
    /// hand a running daemon's processes over to this binary (an upgrade from the outside)
    #[argh(switch)]
    pub replace: bool,
    /// run in the background; return once the daemon accepts connections
    #[argh(switch)]
    pub detach: bool,
    /// start the saved set (wrangle save) once listening, for boot
    #[argh(switch)]
    pub resurrect: bool,
    /// also write every entry's output to standard output, each line prefixed [NAME] (for
    /// an init system's journal)
    #[argh(switch)]
    pub passthrough: bool,
}

/// record what should be running (running entries and those waiting to restart)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "save")]
pub struct SaveCmd {
    /// print the results as JSON
    #[argh(switch)]
    pub json: bool,
    /// save even when nothing is running, emptying the saved set
    #[argh(switch)]
    pub force: bool,
}

/// start whatever was saved and is not running (never a duplicate)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "resurrect")]
pub struct ResurrectCmd {
    /// print the results as JSON
    #[argh(switch)]
    pub json: bool,
}

pub fn save(paths: &Paths, c: SaveCmd) -> Result<Exit> {
    let rs = super::client(paths)?.act(&crate::proto::Request::Save { force: c.force })?;
    if c.json {
        print_json(&rs)?;
    } else {
        println!(
            "saved {}",
            super::render::count(rs.len(), "entry", "entries")
        );
    }
    Ok(0)
}

pub fn resurrect(paths: &Paths, c: ResurrectCmd) -> Result<Exit> {
    let rs = super::client(paths)?.act(&crate::proto::Request::Resurrect)?;
    if c.json {
        print_json(&rs)?;
        return Ok(if rs.iter().any(|r| r.outcome == Outcome::Failed) {
            1
        } else {
            0
        });
    }
    Ok(super::render::results("resurrected", &rs))
}

pub fn ping(paths: &Paths, c: PingCmd) -> Result<Exit> {
    let p = Client::connect(paths)?.ping()?;
    if c.json {
        print_json(&p)?;
    } else {
        println!(
            "wrangle {} daemon pid {} up {}: {}, {} running ({})",
            p.version,
            p.pid,
            crate::util::duration::format(std::time::Duration::from_millis(p.uptime_ms)),
            super::render::count(p.entries, "entry", "entries"),
            p.running,
            p.socket
        );
        for w in &p.warnings {
            println!("warning: {w}");
        }
    }
    Ok(0)
}

pub fn shutdown(paths: &Paths, _c: ShutdownCmd) -> Result<Exit> {
    match Client::connect(paths) {
        Ok(mut c) => {
            c.shutdown()?;
            drop(c);
            // The answer comes before the daemon's last steps (its keeper lets go of the
            // socket's lock last): return once it has, so that what runs next (a new daemon,
            // a second shutdown) finds none.
            let deadline = std::time::Instant::now() + EXIT_WAIT;
            while !lock_free(paths) {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::new(
                        Code::Daemon,
                        format!(
                            "the daemon answered the shutdown but still holds {} after {}s",
                            lock_path(paths).display(),
                            EXIT_WAIT.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            println!("daemon stopped");
            Ok(0)
        }
        Err(e) if e.code == Code::Daemon => match daemon_presence(paths) {
            Presence::None => {
                println!("no daemon was running");
                Ok(0)
            }
            Presence::Gone => {
                println!("daemon stopped");
                Ok(0)
            }
            Presence::Live => Err(Error::new(
                Code::Daemon,
                format!("a daemon is running but did not take the request ({e})"),
            )),
        },
        Err(e) => Err(e),
    }
}

/// Whether a daemon lives on our socket, as far as the OS can tell without its answer.
enum Presence {
    /// Nothing holds the socket's lock.
    None,
    /// One held it without listening (on its way out) and let go of it soon after.
    Gone,
    /// One holds the lock and listens, or keeps holding it.
    Live,
}

/// How long `shutdown` waits for an answering daemon to be gone.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The lock every daemon (its keeper) holds while it lives.
fn lock_path(paths: &Paths) -> std::path::PathBuf {
    paths.socket.with_extension("sock.lock")
}

/// Whether no daemon holds the socket's lock.
fn lock_free(paths: &Paths) -> bool {
    let Ok(f) = std::fs::File::open(lock_path(paths)) else {
        // No lock file: no daemon ever ran on this socket.
        return true;
    };
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_ok()
}

/// Asks the socket's lock (which every daemon holds while it lives) and the socket itself,
/// so that a daemon that cannot answer (out of descriptors, busy) is never taken for none.
fn daemon_presence(paths: &Paths) -> Presence {
    let lock_free = || lock_free(paths);
    if lock_free() {
        return Presence::None;
    }
    if listening(&paths.socket) {
        return Presence::Live;
    }
    // Held, but nobody listens: a daemon exiting (or starting); see whether it lets go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        if lock_free() {
            return Presence::Gone;
        }
    }
    Presence::Live
}

/// Whether something accepts connections on `socket` (a full backlog counts: it listens).
fn listening(socket: &std::path::Path) -> bool {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let Ok(addr) = SocketAddrUnix::new(socket) else {
        return false;
    };
    let Ok(fd) = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    ) else {
        return false;
    };
    match rustix::net::connect(&fd, &addr) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::AGAIN,
    }
}

fn init_logging() {
    let mut b = env_logger::Builder::new();
    b.parse_filters(&std::env::var("WRANGLE_LOG").unwrap_or_else(|_| "warn".into()));
    let _ = b.try_init();
}

pub fn upgrade(paths: &Paths, c: UpgradeCmd) -> Result<Exit> {
    // Never starts a daemon: there is nothing to upgrade then.
    let before = Client::connect(paths)?.ping()?;
    let binary = match c.binary {
        Some(b) => Some(
            std::fs::canonicalize(&b)
                .map_err(|e| Error::io(format!("cannot upgrade to {b}"), e))?
                .display()
                .to_string(),
        ),
        None => None,
    };
    Client::connect(paths)?.upgrade(binary)?;
    // The old daemon answered as it left; the new one answers on the same socket.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        if let Ok(p) = Client::connect(paths).and_then(|mut c| c.ping()) {
            if p.pid != before.pid {
                break p;
            }
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                Code::Daemon,
                "the new daemon did not answer on {} within 10 s",
                paths.socket.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    if c.json {
        print_json(&serde_json::json!({ "before": before, "after": after }))?;
    } else {
        println!(
            "upgraded: wrangle {} (pid {}) -> wrangle {} (pid {}); {}, {} running",
            before.version,
            before.pid,
            after.version,
            after.pid,
            super::render::count(after.entries, "entry", "entries"),
            after.running
        );
    }
    Ok(0)
}

pub fn daemon(paths: Paths, c: DaemonCmd) -> Result<Exit> {
    if std::env::var_os(crate::keeper::reexec::STATE_ENV).is_some() {
        // Exec'd by the keeper of an upgrade, in its place: the keeper, carrying on.
        init_logging();
        let code = crate::keeper::reexec::resume().unwrap_or(1);
        if code != 0 {
            bail!(Code::Failed, "the daemon exited with status {code}");
        }
        return Ok(0);
    }
    if let Some(handoff) = crate::daemon::handoff() {
        // Started by a keeper: the daemon proper.
        init_logging();
        let report = crate::daemon::take_report_fd();
        let handoff = handoff.inspect_err(|e| crate::daemon::report_failure(report.as_ref(), e))?;
        crate::daemon::run_worker(paths, handoff, report, c.passthrough)?;
        return Ok(0);
    }
    let auto = std::env::var_os("WRANGLE_AUTOSTART").is_some();
    // Children get the environment of the client that starts them, never this one.
    std::env::remove_var("WRANGLE_AUTOSTART");
    let opts = Options {
        replace: c.replace,
        auto,
        resurrect: c.resurrect,
        passthrough: c.passthrough,
    };
    if !c.detach {
        init_logging();
        crate::daemon::run(paths, opts, None)?;
        return Ok(0);
    }
    detach(paths, opts)
}

/// Forks: the child becomes the daemon in its own session with its stderr in `daemon.log`;
/// the parent waits until the child reports it is listening (or lost the start-up race).
fn detach(paths: Paths, opts: Options) -> Result<Exit> {
    crate::paths::ensure_private_dir(&paths.state, false)?;
    let log_path = paths.state.join("daemon.log");
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| Error::io(format!("cannot open {}", log_path.display()), e))?;
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::io("cannot create a pipe", e.into()))?;
    // SAFETY: the CLI is single-threaded here, so the child may go on running Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("cannot fork", std::io::Error::last_os_error()));
    }
    if pid > 0 {
        drop(wr);
        return starter_verdict(std::fs::File::from(rd), &log_path);
    }
    drop(rd);
    // A copy to say why, if the daemon fails before it is ready (the keeper closes the other).
    let report = wr.try_clone().ok();
    close_inherited_fds(&[
        wr.as_raw_fd(),
        log.as_raw_fd(),
        report.as_ref().map_or(-1, |r| r.as_raw_fd()),
    ]);
    let _ = rustix::process::setsid();
    let devnull = std::fs::File::open("/dev/null").ok();
    // SAFETY: dup2 onto the standard fds of this (child) process; the sources are open.
    unsafe {
        if let Some(n) = &devnull {
            libc::dup2(n.as_raw_fd(), 0);
            libc::dup2(n.as_raw_fd(), 1);
        }
        libc::dup2(log.as_raw_fd(), 2);
    }
    init_logging();
    let ready: OwnedFd = wr;
    let code = match crate::daemon::run(paths, opts, Some(ready)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wrangle daemon: {e}");
            crate::daemon::report_failure(report.as_ref(), &e);
            e.code.exit_status()
        }
    };
    std::process::exit(code);
}

/// What the `--detach` parent makes of the child's pipe: `R` or `L`, started (or another
/// daemon won the race); a failure line (see `crate::daemon::report_failure`) is printed as
/// the error with its exit status; nothing (the child died) points at the log.
fn starter_verdict(mut f: std::fs::File, log_path: &std::path::Path) -> Result<Exit> {
    let mut got = Vec::new();
    let mut b = [0u8; 512];
    loop {
        match f.read(&mut b) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&b[..n]);
                if matches!(got[0], b'R' | b'L') || got.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if matches!(got.first(), Some(b'R' | b'L')) {
        return Ok(0);
    }
    let line = String::from_utf8_lossy(&got);
    let failure = line
        .strip_prefix('E')
        .and_then(|l| l.lines().next()?.split_once(' '))
        .and_then(|(code, msg)| Some((code.parse::<Exit>().ok()?, msg)));
    match failure {
        Some((code, msg)) => {
            eprintln!(
                "wrangle: the daemon cannot start: {msg} (see {})",
                log_path.display()
            );
            Ok(if code == 0 { 1 } else { code })
        }
        None => Err(Error::new(
            Code::Daemon,
            format!("the daemon failed to start; see {}", log_path.display()),
        )),
    }
}

/// Closes every descriptor above 2 but `keep`: a daemon must not hold on to pipes or files its
/// starter happened to leave open (a shell waiting for EOF on one would hang for ever).
fn close_inherited_fds(keep: &[i32]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2 && !keep.contains(&fd))
        .collect();
    for fd in fds {
        // SAFETY: closing descriptors this process inherited and does not use; the directory
        // handle used to list them is already closed.
        unsafe {
            libc::close(fd);
        }
    }
}
