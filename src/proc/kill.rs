//! Signalling only the processes we mean. A target is a pid plus its start time; before a
//! signal the identity is checked through a pidfd (so the check and the signal refer to the
//! same process even if the pid is recycled in between). `find_tree` finds everything that
//! belongs to an entry, including descendants that left its process group with `setsid`.

use super::identity::{self, Stat};
use rustix::process::{Pid, PidfdFlags, Signal};
use std::collections::{HashMap, HashSet};
use std::io;

/// A process we may signal: its pid and the start time that makes it unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub pid: i32,
    pub start_time: u64,
}

/// Converts a signal number (validated to 1..=64 by the caller's parser) for rustix.
pub fn to_signal(sig: i32) -> Option<Signal> {
    if !(1..=crate::util::signal::MAX_SIGNAL).contains(&sig) {
        return None;
    }
    Signal::from_named_raw(sig).or_else(|| {
        // SAFETY: `sig` is in 1..=SIGRTMAX, a real signal number; we only pass it to kill-like
        // calls, never install handlers with it, so libc's reserved real-time signals are safe.
        Some(unsafe { Signal::from_raw_unchecked(sig) })
    })
}

/// Sends `sig` to `t` if it is still the same live process. Ok(false) when it is gone.
pub fn signal_checked(t: Target, sig: i32) -> io::Result<bool> {
    let Some(signal) = to_signal(sig) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad signal number",
        ));
    };
    let Some(pid) = Pid::from_raw(t.pid) else {
        return Ok(false);
    };
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => {
            if !identity::is_same_live(t.pid, t.start_time) {
                return Ok(false);
            }
            match rustix::process::pidfd_send_signal(&fd, signal) {
                Ok(()) => Ok(true),
                Err(rustix::io::Errno::SRCH) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(rustix::io::Errno::NOSYS) => {
            // Old kernel without pidfds: check, then signal (a tiny window remains).
            if !identity::is_same_live(t.pid, t.start_time) {
                return Ok(false);
            }
            match rustix::process::kill_process(pid, signal) {
                Ok(()) => Ok(true),
                Err(rustix::io::Errno::SRCH) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends `sig` to the process group led by `leader`. Only call while the leader is our
/// unreaped child (its pid, and so the group id, cannot have been recycled).
pub fn signal_group(leader: i32, sig: i32) -> io::Result<()> {
    let (Some(pid), Some(signal)) = (Pid::from_raw(leader), to_signal(sig)) else {
        return Ok(());
    };
    match rustix::process::kill_process_group(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sends `sig` to our own unreaped child `pid` (its pid cannot have been recycled).
pub fn signal_child(pid: i32, sig: i32) -> io::Result<()> {
    let (Some(p), Some(signal)) = (Pid::from_raw(pid), to_signal(sig)) else {
        return Ok(());
    };
    match rustix::process::kill_process(p, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The environment variables that mark a process as belonging to entry `id` of the wrangle
/// instance whose state lives in `instance`: ids alone repeat across instances.
pub fn markers(id: u64, instance: &str) -> [(&'static str, String); 2] {
    [
        ("WRANGLE_ID", id.to_string()),
        ("WRANGLE_INSTANCE", instance.to_string()),
    ]
}

/// The entry id a process's environment marks it with, for wrangle instance `instance`.
fn marked_id(pid: i32, instance: &[u8]) -> Option<u64> {
    read_marker(pid, instance).flatten()
}

/// Like [`marked_id`], but None when the environment reads empty: the process is gone, or in
/// the middle of an `exec` (the kernel shows no environment until the new one is set up), or
/// really has none; Some(None) when it has one without this instance's marker.
pub(crate) fn read_marker(pid: i32, instance: &[u8]) -> Option<Option<u64>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    if env.is_empty() {
        return None;
    }
    Some(env_marker(&env, instance))
}

fn env_marker(env: &[u8], instance: &[u8]) -> Option<u64> {
    let mut id = None;
    let mut ours = false;
    for var in env.split(|&b| b == 0) {
        if let Some(v) = var.strip_prefix(b"WRANGLE_ID=") {
            id = std::str::from_utf8(v).ok()?.parse().ok();
        } else if let Some(v) = var.strip_prefix(b"WRANGLE_INSTANCE=") {
            ours = v == instance;
        }
    }
    id.filter(|_| ours)
}

/// One look at every process on the machine: families, and which carry whose entry markers.
/// Reading it costs a pass over /proc, so the daemon reads one per turn at most and shares it
/// between every entry it stops in that turn.
pub struct ProcTable {
    stats: Vec<Stat>,
    children: HashMap<i32, Vec<i32>>,
    marked: HashMap<u64, Vec<i32>>,
    exclude: i32,
}

impl ProcTable {
    /// Reads the table for wrangle instance `instance`; `exclude` (the daemon) is left out.
    pub fn read(instance: &str, exclude: i32) -> ProcTable {
        let stats = identity::all_stats();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        let mut marked: HashMap<u64, Vec<i32>> = HashMap::new();
        for s in &stats {
            children.entry(s.ppid).or_default().push(s.pid);
            // Kernel threads (children of kthreadd, pid 2) have no environment.
            if s.pid == exclude || s.pid == 2 || s.ppid == 2 || s.state == b'Z' {
                continue;
            }
            if let Some(id) = marked_id(s.pid, instance.as_bytes()) {
                marked.entry(id).or_default().push(s.pid);
            }
        }
        ProcTable {
            stats,
            children,
            marked,
            exclude,
        }
    }

    /// Every live process belonging to entry `id` whose main process is (or was) `leader` (0
    /// if unknown): its descendants, members of its group or session, and processes carrying
    /// the entry's [`markers`] (daemons that escaped with `setsid` and were re-parented), with
    /// their own descendants. Zombies and the daemon are left out.
    pub fn tree(&self, id: u64, leader: i32) -> Vec<Target> {
        let mut seeds: Vec<i32> = self.marked.get(&id).cloned().unwrap_or_default();
        if leader > 0 {
            seeds.extend(
                self.stats
                    .iter()
                    .filter(|s| s.pid == leader || s.pgrp == leader || s.session == leader)
                    .map(|s| s.pid),
            );
        }
        let mut found: HashSet<i32> = HashSet::new();
        while let Some(p) = seeds.pop() {
            if p == self.exclude || !found.insert(p) {
                continue;
            }
            if let Some(kids) = self.children.get(&p) {
                seeds.extend(kids.iter().copied());
            }
        }
        self.stats
            .iter()
            .filter(|s| found.contains(&s.pid) && s.state != b'Z' && s.state != b'X')
            .map(|s| Target {
                pid: s.pid,
                start_time: s.start_time,
            })
            .collect()
    }
}

/// [`ProcTable::tree`] from a fresh table (for one-off use, e.g. `wrangle tree`).
pub fn find_tree(id: u64, leader: i32, exclude: i32, instance: &str) -> Vec<Target> {
    ProcTable::read(instance, exclude).tree(id, leader)
}

/// Which of `members` are still alive, plus their live descendants (new children included),
/// without a pass over every process.
pub fn survivors(members: &[Target]) -> Vec<Target> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut todo: Vec<Target> = members.to_vec();
    while let Some(t) = todo.pop() {
        if !seen.insert(t.pid) || !identity::is_same_live(t.pid, t.start_time) {
            continue;
        }
        out.push(t);
        for c in children(t.pid) {
            if let Some(st) = identity::start_time(c) {
                todo.push(Target {
                    pid: c,
                    start_time: st,
                });
            }
        }
    }
    out
}

/// The children of `pid` as the kernel lists them (`/proc/PID/task/*/children`): no scan of
/// every process is needed.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    for t in tasks.filter_map(|t| t.ok()) {
        let path = format!(
            "/proc/{pid}/task/{}/children",
            t.file_name().to_string_lossy()
        );
        let text = match identity::read_proc(&path, &mut buf) {
            Ok(Some(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            // Hundreds of children: read it the slow way.
            Ok(None) => std::fs::read_to_string(&path).unwrap_or_default(),
            Err(_) => continue,
        };
        out.extend(
            text.split_ascii_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}
