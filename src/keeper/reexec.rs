//! The keeper replacing itself. After an upgrade whose new daemon said it can also be the
//! keeper (its `R` message names the keeper-state format it reads), the keeper execs that
//! binary in its own place: the same pid, so it stays the parent and subreaper of every run
//! and the parent of the new daemon, and every descriptor it holds stays open across the exec.
//! What it knows goes along as a small text in a memfd whose number is in
//! [`STATE_ENV`]; the new keeper reads it back and carries on.
//!
//! The text (documented in wrangle-protocol(7), KEEPER): a first line
//! `wrangle-keeper-state VERSION`, then one line per fact, words separated by one space, paths
//! in hex:
//!
//! ```text
//! exe HEX            the binary daemons run
//! socket HEX         the socket path (removed when the keeper ends for good)
//! listener FD        the listening socket
//! locks FD...        the locks
//! nofile N|-         the open-file limit daemons get back
//! passthrough 0|1
//! worker PID FD      the daemon and its channel
//! leaving PID...     daemons told to exit, still to be reaped
//! run ID PID START STATUS|- TAG:FD...
//! end                the last line: a state cut short is refused
//! ```

use super::{Held, Keeper, Start, Worker};
use std::collections::BTreeSet;
use std::ffi::{CString, OsStr};
use std::fmt::Write as _;
use std::io::{self, Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

/// The format this keeper writes and the newest it reads.
pub const VERSION: u32 = 1;

/// Names the memfd holding the state, in a keeper that was exec'd by the previous one.
pub const STATE_ENV: &str = "WRANGLE_KEEPER_STATE";

const MAGIC: &str = "wrangle-keeper-state";

/// One run, as descriptor numbers.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Run {
    pub id: u64,
    pub pid: i32,
    pub start_time: u64,
    pub status: Option<i32>,
    pub fds: Vec<(u8, i32)>,
}

/// Everything a keeper knows, with descriptors by number.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct State {
    pub exe: PathBuf,
    pub socket: PathBuf,
    pub listener: i32,
    pub locks: Vec<i32>,
    pub nofile: Option<u64>,
    pub passthrough: bool,
    pub worker_pid: i32,
    pub worker_chan: i32,
    pub leaving: Vec<i32>,
    pub runs: Vec<Run>,
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn path_hex(p: &std::path::Path) -> String {
    hex(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
}

fn hex_path(s: &str) -> Option<PathBuf> {
    let b = unhex(s)?;
    Some(PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b),
    ))
}

impl State {
    pub fn encode(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION}\n");
        let _ = writeln!(s, "exe {}", path_hex(&self.exe));
        let _ = writeln!(s, "socket {}", path_hex(&self.socket));
        let _ = writeln!(s, "listener {}", self.listener);
        s.push_str("locks");
        for l in &self.locks {
            let _ = write!(s, " {l}");
        }
        s.push('\n');
        match self.nofile {
            Some(n) => {
                let _ = writeln!(s, "nofile {n}");
            }
            None => s.push_str("nofile -\n"),
        }
        let _ = writeln!(s, "passthrough {}", u8::from(self.passthrough));
        let _ = writeln!(s, "worker {} {}", self.worker_pid, self.worker_chan);
        s.push_str("leaving");
        for p in &self.leaving {
            let _ = write!(s, " {p}");
        }
        s.push('\n');
        for r in &self.runs {
            let _ = write!(s, "run {} {} {} ", r.id, r.pid, r.start_time);
            match r.status {
                Some(st) => {
                    let _ = write!(s, "{st}");
                }
                None => s.push('-'),
            }
            for (tag, fd) in &r.fds {
                let _ = write!(s, " {tag}:{fd}");
            }
            s.push('\n');
        }
        s.push_str("end\n");
        s
    }

    /// Reads a state back. Refuses a newer format, a missing or repeated fact, and a
    /// descriptor named twice (two owners would close it twice).
    pub fn decode(text: &str) -> Result<State, String> {
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let version: u32 = head
            .strip_prefix(MAGIC)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("not a keeper state: {head:?}"))?;
        if version > VERSION {
            return Err(format!(
                "the keeper state is format {version}; this binary reads up to {VERSION}"
            ));
        }
        let mut exe = None;
        let mut socket = None;
        let mut listener = None;
        let mut locks = None;
        let mut nofile = None;
        let mut passthrough = None;
        let mut worker = None;
        let mut leaving = None;
        let mut runs = Vec::new();
        let mut ended = false;
        let mut fds = BTreeSet::new();
        let mut claim = |fd: i32| -> Result<i32, String> {
            if fd < 0 || !fds.insert(fd) {
                return Err(format!("descriptor {fd} is not valid or named twice"));
            }
            Ok(fd)
        };
        fn num<T: std::str::FromStr>(w: Option<&str>, what: &str) -> Result<T, String> {
            w.and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("bad {what} in the keeper state"))
        }
        fn once<T>(slot: &mut Option<T>, v: T, what: &str) -> Result<(), String> {
            if slot.replace(v).is_some() {
                return Err(format!("{what} named twice in the keeper state"));
            }
            Ok(())
        }
        for line in lines {
            if ended {
                return Err("the keeper state goes on after its end".into());
            }
            let mut w = line.split(' ');
            match w.next().unwrap_or_default() {
                "exe" => once(
                    &mut exe,
                    w.next().and_then(hex_path).ok_or("bad exe")?,
                    "exe",
                )?,
                "socket" => once(
                    &mut socket,
                    w.next().and_then(hex_path).ok_or("bad socket")?,
                    "socket",
                )?,
                "listener" => once(
                    &mut listener,
                    claim(num(w.next(), "listener")?)?,
                    "listener",
                )?,
                "locks" => {
                    let l = w
                        .map(|x| claim(num(Some(x), "lock")?))
                        .collect::<Result<Vec<_>, _>>()?;
                    once(&mut locks, l, "locks")?
                }
                "nofile" => {
                    let v = match w.next() {
                        Some("-") => None,
                        x => Some(num(x, "nofile")?),
                    };
                    once(&mut nofile, v, "nofile")?
                }
                "passthrough" => {
                    let v: u8 = num(w.next(), "passthrough")?;
                    once(&mut passthrough, v != 0, "passthrough")?
                }
                "worker" => {
                    let pid: i32 = num(w.next(), "worker pid")?;
                    let chan = claim(num(w.next(), "worker channel")?)?;
                    once(&mut worker, (pid, chan), "worker")?
                }
                "leaving" => {
                    let l = w
                        .map(|x| num(Some(x), "leaving pid"))
                        .collect::<Result<Vec<i32>, _>>()?;
                    once(&mut leaving, l, "leaving")?
                }
                "run" => {
                    let id = num(w.next(), "run id")?;
                    let pid = num(w.next(), "run pid")?;
                    let start_time = num(w.next(), "run start")?;
                    let status = match w.next() {
                        Some("-") => None,
                        x => Some(num(x, "run status")?),
                    };
                    let mut run_fds = Vec::new();
                    for f in w {
                        let (tag, fd) = f.split_once(':').ok_or("bad run descriptor")?;
                        run_fds.push((num(Some(tag), "tag")?, claim(num(Some(fd), "fd")?)?));
                    }
                    if run_fds.len() > super::wire::MAX_FDS {
                        return Err(format!("run {id} holds too many descriptors"));
                    }
                    runs.push(Run {
                        id,
                        pid,
                        start_time,
                        status,
                        fds: run_fds,
                    });
                }
                "end" => ended = true,
                other => return Err(format!("unknown fact {other:?} in the keeper state")),
            }
        }
        let missing = |what: &str| format!("the keeper state has no {what}");
        if !ended {
            return Err(missing("end (it was cut short)"));
        }
        let (worker_pid, worker_chan) = worker.ok_or_else(|| missing("worker"))?;
        Ok(State {
            exe: exe.ok_or_else(|| missing("exe"))?,
            socket: socket.ok_or_else(|| missing("socket"))?,
            listener: listener.ok_or_else(|| missing("listener"))?,
            locks: locks.ok_or_else(|| missing("locks"))?,
            nofile: nofile.ok_or_else(|| missing("nofile"))?,
            passthrough: passthrough.ok_or_else(|| missing("passthrough"))?,
            worker_pid,
            worker_chan,
            leaving: leaving.unwrap_or_default(),
            runs,
        })
    }

    /// Every descriptor the state names.
    pub fn fds(&self) -> Vec<i32> {
        let mut v = vec![self.listener, self.worker_chan];
        v.extend(&self.locks);
        for r in &self.runs {
            v.extend(r.fds.iter().map(|f| f.1));
        }
        v
    }
}

/// In a keeper exec'd by the previous one (see `reexec.rs`): takes over what it held and runs
/// on. None when this process is not such a keeper.
pub fn resume() -> Option<i32> {
    let named = std::env::var_os(STATE_ENV)?;
    std::env::remove_var(STATE_ENV);
    let state = match read(&named) {
        Ok(s) => s,
        Err(e) => {
            // Nothing to carry on with: the runs go on without a keeper (their output is
            // no longer captured), as when a keeper is killed.
            log::error!("keeper: cannot take over from the previous keeper: {e}");
            return Some(1);
        }
    };
    // SAFETY: `reexec::read` checked that every descriptor the state names is open, and the
    // state names each once; the previous keeper owned them and this process is that keeper.
    let own = |fd: i32| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let start = Start {
        exe: state.exe,
        listener: own(state.listener),
        locks: state.locks.into_iter().map(own).collect(),
        ready: None,
        socket: state.socket,
        resurrect: false,
        passthrough: state.passthrough,
        nofile: state.nofile,
    };
    let mut k = Keeper::new(start)?;
    k.ever_ready = true;
    k.respawn_at = None;
    k.leaving = state.leaving;
    k.worker = Some(Worker {
        pid: state.worker_pid,
        chan: own(state.worker_chan),
        ready: true,
        started: Instant::now(),
        bye: false,
        muted: None,
    });
    for r in state.runs {
        k.runs.insert(
            r.id,
            Held {
                pid: r.pid,
                start_time: r.start_time,
                status: r.status,
                fds: r.fds.into_iter().map(|(tag, fd)| (tag, own(fd))).collect(),
            },
        );
    }
    log::info!(
        "keeper: now running {} ({} runs held)",
        k.start.exe.display(),
        k.runs.len()
    );
    // Children that ended during the exec: their SIGCHLD may have come before the signalfd.
    k.reap();
    Some(k.run())
}

impl Keeper {
    /// Execs the current binary in this keeper's place, handing it everything held; on
    /// failure, says why and carries on as before.
    pub(super) fn replace_self(&mut self) {
        let Some(w) = &self.worker else { return };
        if self.stopping || w.muted.is_some() || self.start.ready.is_some() {
            return;
        }
        let state = State {
            exe: self.start.exe.clone(),
            socket: self.start.socket.clone(),
            listener: self.start.listener.as_raw_fd(),
            locks: self.start.locks.iter().map(|l| l.as_raw_fd()).collect(),
            nofile: self.start.nofile,
            passthrough: self.start.passthrough,
            worker_pid: w.pid,
            worker_chan: w.chan.as_raw_fd(),
            leaving: self.leaving.clone(),
            runs: self
                .runs
                .iter()
                .map(|(&id, h)| Run {
                    id,
                    pid: h.pid,
                    start_time: h.start_time,
                    status: h.status,
                    fds: h.fds.iter().map(|(t, fd)| (*t, fd.as_raw_fd())).collect(),
                })
                .collect(),
        };
        let e = exec(&state);
        log::error!(
            "keeper: cannot replace itself with {}: {e}; the old keeper carries on",
            self.start.exe.display()
        );
    }
}

/// The largest state read back (about 60 bytes a run).
const MAX_STATE: u64 = 64 << 20;

fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; any number is safe to ask about.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Sets or clears close-on-exec on `fd` (one of ours).
fn set_cloexec(fd: i32, on: bool) {
    // SAFETY: F_SETFD changes only the descriptor's flags.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 });
    }
}

/// Reads the state the previous keeper left in the memfd numbered `named`, and checks that
/// every descriptor it names is open.
pub fn read(named: &OsStr) -> Result<State, String> {
    let fd: i32 = named
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|&fd| fd > 2 && is_open(fd))
        .ok_or_else(|| format!("{STATE_ENV} does not name an open descriptor"))?;
    // SAFETY: the previous keeper made this memfd for this process and named it in
    // STATE_ENV (removed from the environment before this call); nothing else owns it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut text = String::new();
    f.rewind()
        .and_then(|_| (&mut f).take(MAX_STATE).read_to_string(&mut text))
        .map_err(|e| format!("cannot read the keeper state: {e}"))?;
    let state = State::decode(&text)?;
    if let Some(bad) = state.fds().into_iter().find(|&n| n == fd || !is_open(n)) {
        return Err(format!("descriptor {bad} of the keeper state is not open"));
    }
    Ok(state)
}

/// Execs `state.exe` as `wrangle daemon` in this process, with every descriptor of `state`
/// kept open and the state in a memfd. Returns only on failure, with every descriptor
/// close-on-exec again. The signal mask goes along unchanged (signals the keeper reads
/// through its signalfd stay blocked and pending), so no signal is lost or acted on by
/// default in between.
pub fn exec(state: &State) -> io::Error {
    let invalid = |_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path");
    let exe = match CString::new(state.exe.as_os_str().as_bytes()).map_err(invalid) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let memfd =
        match rustix::fs::memfd_create(c"wrangle-keeper-state", rustix::fs::MemfdFlags::CLOEXEC) {
            Ok(m) => m,
            Err(e) => return e.into(),
        };
    let mut file = std::fs::File::from(memfd);
    if let Err(e) = io::Write::write_all(&mut file, state.encode().as_bytes()) {
        return e;
    }
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != STATE_ENV)
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    env.push(CString::new(format!("{STATE_ENV}={}", file.as_raw_fd())).expect("no NUL"));
    let argv = [exe.as_ptr(), c"daemon".as_ptr(), std::ptr::null()];
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut fds = state.fds();
    fds.push(file.as_raw_fd());
    for &fd in &fds {
        set_cloexec(fd, false);
    }
    // SAFETY: `exe`, `argv` and `envp` are NUL-terminated arrays of NUL-terminated strings
    // that live until the call returns (it returns only on failure).
    unsafe {
        libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    let e = io::Error::last_os_error();
    for &fd in &fds {
        set_cloexec(fd, true);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            exe: PathBuf::from("/opt/wrangle new/bin/wrangle"),
            socket: PathBuf::from("/run/user/1000/wrangle/sock"),
            listener: 4,
            locks: vec![5, 6],
            nofile: Some(1024),
            passthrough: true,
            worker_pid: 77,
            worker_chan: 3,
            leaving: vec![70],
            runs: vec![
                Run {
                    id: 1,
                    pid: 100,
                    start_time: 12345,
                    status: None,
                    fds: vec![(0, 10), (1, 11), (2, 12)],
                },
                Run {
                    id: u64::MAX,
                    pid: 101,
                    start_time: 0,
                    status: Some(0x0f00),
                    fds: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_state_reads_back_as_itself() {
        let s = sample();
        assert_eq!(State::decode(&s.encode()).unwrap(), s);
        let mut bare = s.clone();
        bare.nofile = None;
        bare.leaving.clear();
        bare.runs.clear();
        assert_eq!(State::decode(&bare.encode()).unwrap(), bare);
    }

    #[test]
    fn damaged_states_are_refused_with_a_reason() {
        let good = sample().encode();
        let newer = good.replacen(&format!("{MAGIC} {VERSION}"), &format!("{MAGIC} 99"), 1);
        assert!(State::decode(&newer).unwrap_err().contains("format 99"));
        let twice = good.replace("listener 4", "listener 10");
        assert!(State::decode(&twice).unwrap_err().contains("named twice"));
        let no_worker: String = good
            .lines()
            .filter(|l| !l.starts_with("worker"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(State::decode(&no_worker).unwrap_err().contains("no worker"));
        assert!(State::decode("").is_err());
        assert!(State::decode(&good.replace("run 1 100", "run 1 x")).is_err());
        assert!(State::decode(&format!("{good}bogus 1\n")).is_err());
        // Every cut of a good state is refused (it has no end): a keeper never carries on
        // with part of its runs.
        for i in 0..good.len() - 1 {
            assert!(State::decode(&good[..i]).is_err(), "cut at {i} accepted");
        }
    }
}
