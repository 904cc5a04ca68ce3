//! The live state handed from one daemon to the next, written out: everything the daemon
//! knows about running processes that the registry on disk does not hold — each entry's
//! supervisor (phase, every deadline as the time it has left), the processes a stop is
//! waiting for, the run's pid, wait status and the descriptors it owns (by number), idle
//! timers. `wrangle upgrade` writes it to `STATE/live.json` just before the keeper starts the
//! new daemon, which resumes from it (`resume.rs`); the `live_state` request shows it. The
//! format is in wrangle-protocol(7), KEEPER.

use super::state::Daemon;
use crate::proc::kill::Target;
use crate::proc::supervisor::{Machine, Ms, Slot};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The file in the state folder that carries the live state across an upgrade.
pub(super) const FILE: &str = "live.json";

/// The format's version; a reader refuses a newer one.
pub(super) const VERSION: u32 = 1;

#[derive(Serialize, Debug, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(super) struct LiveState {
    pub version: u32,
    /// When it was written, in milliseconds of the system's monotonic clock (the reader takes
    /// off the time that passed since).
    pub written_at: Ms,
    /// By entry id.
    pub entries: BTreeMap<u64, LiveEntry>,
}

#[derive(Serialize, Debug, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(super) struct LiveEntry {
    /// Its supervisor, with every deadline as the milliseconds it had left.
    pub machine: Machine,
    /// The supervisor's timers: milliseconds left on each.
    pub timers: BTreeMap<Slot, Ms>,
    /// The processes a stop (or a leftovers' stop) waits for.
    pub members: Vec<Target>,
    pub run: Option<LiveRun>,
    /// Milliseconds left before its `cron_restart` and idle-profile timers.
    pub cron_in: Option<Ms>,
    pub idle_in: Option<Ms>,
    /// How long ago a command last named it (for the idle profile).
    pub touched_ago: Option<Ms>,
}

#[derive(Serialize, Debug, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(super) struct LiveRun {
    pub pid: i32,
    pub start_time: u64,
    /// The raw wait status, once reaped.
    pub wait_status: Option<u32>,
    /// Our read ends of its output, by stream (1 stdout, 2 stderr): descriptor numbers.
    pub pipes: Vec<(u8, i32)>,
    /// Where its input is written, and its terminal's master.
    pub input: Option<i32>,
    pub pty: Option<i32>,
    /// A re-adopted process (not our child), and the pidfd that watches it.
    pub adopted: bool,
    pub pidfd: Option<i32>,
    /// The run its log belongs to (the files are reopened for appending).
    pub log_run: u32,
    /// Input accepted but not yet written.
    pub input_buffered: usize,
}

impl LiveState {
    /// Reads a written-out state back (the tests; a new daemon reads only what it resumes
    /// from, see `resume.rs`).
    #[cfg(test)]
    pub fn parse(text: &str) -> crate::error::Result<LiveState> {
        use crate::error::{Code, Error};
        let state: LiveState = serde_json::from_str(text)
            .map_err(|e| Error::new(Code::Failed, format!("the live state does not parse: {e}")))?;
        if state.version > VERSION {
            crate::bail!(
                Code::Failed,
                "the live state was written by a newer wrangle (format {}); this one reads {VERSION}",
                state.version
            );
        }
        Ok(state)
    }
}

impl Daemon {
    /// Everything this daemon knows about live processes, as one value.
    pub(super) fn live_state(&self) -> LiveState {
        let now = self.now_ms();
        let mut entries = BTreeMap::new();
        for (&id, sup) in &self.sups {
            let timers = sup
                .timers
                .iter()
                .filter_map(|(&slot, &t)| {
                    let left = self.rx.timers.remaining(t)?;
                    Some((slot, left.as_millis() as Ms))
                })
                .collect();
            let run = self.live.get(&id).map(|l| LiveRun {
                pid: l.pid,
                start_time: l.start_time,
                wait_status: l.status.map(|s| s.as_raw() as u32),
                pipes: l
                    .pipes
                    .iter()
                    .filter_map(|(t, fd)| match self.rx.sources.get(t) {
                        Some(super::reactor::Source::Pipe { stream, .. }) => {
                            Some((*stream, fd.as_raw_fd()))
                        }
                        _ => None,
                    })
                    .collect(),
                input: l
                    .input
                    .as_ref()
                    .and_then(|i| i.fd.as_ref())
                    .map(|fd| fd.as_raw_fd()),
                pty: l.pty.as_ref().map(|fd| fd.as_raw_fd()),
                adopted: l.adopted.is_some(),
                pidfd: match &l.adopted {
                    Some(super::state::Adopted::Watched(Some((_, fd)))) => Some(fd.as_raw_fd()),
                    _ => None,
                },
                log_run: self.reg.get(id).map_or(0, |e| e.run),
                input_buffered: l.input.as_ref().map_or(0, |i| i.buf.len()),
            });
            let service = self.service_timers.get(&id);
            let left = |k: usize| {
                service
                    .and_then(|s| s[k])
                    .and_then(|t| self.rx.timers.remaining(t))
                    .map(|d| d.as_millis() as Ms)
            };
            entries.insert(
                id,
                LiveEntry {
                    machine: sup.m.rebased(now, 0),
                    timers,
                    members: sup.members.clone(),
                    run,
                    cron_in: left(0),
                    idle_in: left(1),
                    touched_ago: self
                        .touched
                        .get(&id)
                        .map(|at| at.elapsed().as_millis() as Ms),
                },
            );
        }
        LiveState {
            version: VERSION,
            written_at: monotonic_ms(),
            entries,
        }
    }

    pub(super) fn live_file(&self) -> PathBuf {
        self.paths.state.join(FILE)
    }

    /// Writes the live state for the daemon an upgrade starts (atomically: it reads all of it
    /// or nothing).
    pub(super) fn write_live_state(&self) -> crate::error::Result<()> {
        let text = serde_json::to_vec(&self.live_state()).map_err(|e| {
            crate::error::Error::new(
                crate::error::Code::Failed,
                format!("cannot write the live state: {e}"),
            )
        })?;
        let path = self.live_file();
        crate::store::snapshot::write_atomic(&path, &text, false)
            .map_err(|e| crate::error::Error::io(format!("cannot write {}", path.display()), e))
    }

    /// The upgrade did not happen: nobody is to read the live state.
    pub(super) fn drop_live_state(&self) {
        let _ = std::fs::remove_file(self.live_file());
    }
}

/// Milliseconds of the system's monotonic clock (the same for every process, unlike the
/// daemon's own clock, which starts with it).
pub(super) fn monotonic_ms() -> Ms {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given, a valid local.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as Ms)
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec as Ms / 1_000_000)
}
