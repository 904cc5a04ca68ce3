//! Signalling only the processes we mean. A target is a pid plus its start time; before a
//! signal the identity is checked through a pidfd (so the check and the signal refer to the
//! same process even if the pid is recycled in between). `find_tree` finds everything that
//! belongs to an entry, including descendants that left its process group with `setsid`.

use super::identity::{self, Stat};
use rustix::process::{Pid, PidfdFlags, Signal};
use std::collections::{HashMap, HashSet};
use std::io;

/// A process we may signal: its pid and the start time that makes it unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// Reads every process's stat from /proc.
fn all_stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| identity::stat(pid).ok())
        .collect()
}

/// Whether the process's environment holds every one of `markers` (`NAME=value` entries).
fn has_markers(pid: i32, markers: &[Vec<u8>]) -> bool {
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => markers
            .iter()
            .all(|m| env.split(|&b| b == 0).any(|var| var == m.as_slice())),
        Err(_) => false,
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

/// Every live process belonging to entry `id` of wrangle instance `instance` whose main
/// process is (or was) `leader`: its descendants, members of its group or session, and
/// processes carrying the entry's [`markers`] in their environment (daemons that escaped with
/// `setsid` and were re-parented), with their own descendants. `exclude` (the daemon itself)
/// is never included. Zombies are left out.
pub fn find_tree(id: u64, leader: i32, exclude: i32, instance: &str) -> Vec<Target> {
    let stats = all_stats();
    let wanted: Vec<Vec<u8>> = markers(id, instance)
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for s in &stats {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    let mut seeds: Vec<i32> = Vec::new();
    for s in &stats {
        if s.pid == exclude || s.state == b'Z' {
            continue;
        }
        if s.pid == leader
            || (leader > 0 && (s.pgrp == leader || s.session == leader))
            || has_markers(s.pid, &wanted)
        {
            seeds.push(s.pid);
        }
    }
    let mut found: HashSet<i32> = HashSet::new();
    while let Some(p) = seeds.pop() {
        if p == exclude || !found.insert(p) {
            continue;
        }
        if let Some(kids) = children.get(&p) {
            seeds.extend(kids.iter().copied());
        }
    }
    stats
        .iter()
        .filter(|s| found.contains(&s.pid) && s.state != b'Z' && s.state != b'X')
        .map(|s| Target {
            pid: s.pid,
            start_time: s.start_time,
        })
        .collect()
}

/// The children of `pid` as the kernel lists them (`/proc/PID/task/*/children`): no scan of
/// every process is needed.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.filter_map(|t| t.ok()) {
        let path = t.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Resident memory of `pid` and its descendants in bytes, with its own stat (None if gone).
pub fn tree_usage(pid: i32) -> Option<(Stat, u64)> {
    let root = identity::stat(pid).ok()?;
    let mut pages = root.rss_pages;
    let mut todo = children(pid);
    let mut seen: HashSet<i32> = HashSet::from([pid]);
    while let Some(p) = todo.pop() {
        if !seen.insert(p) || seen.len() > 100_000 {
            continue;
        }
        if let Ok(st) = identity::stat(p) {
            pages += st.rss_pages;
        }
        todo.extend(children(p));
    }
    Some((root, pages * identity::page_size()))
}
