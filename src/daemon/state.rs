//! The daemon's state as data, in one place: the `Daemon` itself and what it holds about
//! each entry's run (its resources), supervisor, build in progress, the replies it owes and
//! what its timers mean, the input it buffers, saving and sampling. Behaviour lives in the
//! file named after each part (`lifecycle.rs`, `supervise.rs`, `build.rs`, `ready.rs`,
//! `io.rs`, `saving.rs`, `usage.rs`); this file imports none of them, so the daemon's
//! modules form no cycle, and it is what a handover to another daemon has to carry. It is
//! long because the state is; it holds no logic beyond small accessors.

use super::reactor::Reactor;
use super::timers::TimerId;
use crate::error::Error;
use crate::logs::file::RunWriter;
use crate::logs::pattern::Pattern as Regex;
use crate::logs::ring::Ring;
use crate::paths::Paths;
use crate::proc::kill::Target;
use crate::proc::supervisor::{Machine, Phase, Rest, Slot};
use crate::proc::usage::Sampler;
use crate::proto::ServiceSpec;
use crate::store::registry::{Registry, State};
use mio::Token;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::os::fd::OwnedFd;
use std::time::Instant;

/// Things that happen at a deadline.
#[derive(Debug, Clone, Copy)]
pub(super) enum TimerKind {
    /// A deadline of an entry's supervisor (KILL, drain, restart).
    Entry(u64, Slot),
    /// Look again whether the processes a stop went to are all gone.
    Watch(u64),
    /// Look again for what an ended main process left behind.
    Relook(u64),
    /// A `wait` request ran out of time.
    WaitTimeout(Token, u32),
    /// Look again whether the entry a `wait` request watches listens on its port.
    ReadyPoll(Token, u32),
    /// A service's `cron_restart` time came: the entry and that time (Unix seconds).
    Cron(u64, i64),
    /// A service may have been idle long enough to switch profiles.
    Idle(u64),
    /// Check an adopted process without a pidfd.
    AdoptPoll(u64),
    /// Make saved entries durable (fsync).
    Sync,
    /// Sample what every entry uses (see `usage.rs`).
    Usage,
    /// Try an entry's failing log again (see `logretry.rs`): the entry and its run.
    LogRetry(u64, u32),
}

/// A reply the daemon owes once processes have ended.
pub(super) struct Pending {
    pub(super) conn: Option<Token>,
    pub(super) req: u32,
    pub(super) kind: PendingKind,
}

pub(super) enum PendingKind {
    /// `wait`: reply when entry `id` ends.
    Wait { id: u64, timer: Option<TimerId> },
    /// `stop`, `restart`, `remove`, `shutdown`: act and reply when all `ids` have ended.
    Batch {
        op: BatchOp,
        ids: Vec<u64>,
        results: Vec<crate::proto::ActionResult>,
    },
    /// `restart` or `apply` of services with builds: when every entry of `building` has built,
    /// `ready` (built, or nothing to build) go on as a batch `op`; failed ones are in
    /// `results`.
    Rebuild {
        op: BatchOp,
        building: std::collections::BTreeSet<u64>,
        ready: Vec<u64>,
        results: Vec<crate::proto::ActionResult>,
    },
    /// `wait` until entry `id` is ready (see `ready.rs`).
    Ready(ReadyWait),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchOp {
    Stop,
    Restart,
    Remove,
    /// `up` of one service: start it (new) or restart it (changed).
    Apply,
    /// `up` of an unchanged service that is not running: start it.
    StartService,
    Shutdown,
    Reset,
}

pub(crate) struct Daemon {
    /// The loop's mechanics: poll, tokens, connections, signals, timers.
    pub(super) rx: Reactor<TimerKind>,
    pub(super) reg: Registry,
    pub(super) live: HashMap<u64, Live>,
    pub(super) pids: HashMap<i32, u64>,
    pub(super) rings: HashMap<u64, Ring>,
    /// Terminal entries' screens (see `screens.rs`).
    pub(super) screens: HashMap<u64, std::sync::Arc<super::screenfeed::Term>>,
    /// The thread that parses terminal output (see `screenfeed.rs`).
    pub(super) feeder: super::screenfeed::Feeder,
    /// Terminal entries' interactive clients and their window sizes (see `sizing.rs`).
    pub(super) sizers: HashMap<u64, Vec<super::sizing::Sizer>>,
    pub(super) pending: Vec<Pending>,
    pub(super) paths: Paths,
    pub(super) config: crate::config::daemon::DaemonConfig,
    pub(super) started: Instant,
    /// Saving the registry and making it durable.
    pub(super) saving: Saving,
    pub(super) startup_warnings: Vec<String>,
    /// Processes as seen this turn (see `proc_table`); dropped at the end of every turn.
    pub(super) proc_table: Option<crate::proc::kill::ProcTable>,
    /// The daemon's children that are no run's main process nor a build (orphans it holds as
    /// a subreaper), as read this turn (see `orphan_pids`); dropped at the end of every turn
    /// and whenever a child is reaped.
    pub(super) orphans: Option<std::rc::Rc<[i32]>>,
    /// What connections are read into (kept: a fresh 64 KiB buffer per read cost an mmap and
    /// an munmap each).
    pub(super) read_buf: Vec<u8>,
    /// Each entry's supervisor, made on first use.
    pub(super) sups: HashMap<u64, Sup>,
    /// How deep in supervisor steps we are, and the runs they ended (told about at depth 0).
    pub(super) feeding: u32,
    pub(super) ended: Vec<u64>,
    pub(super) scratch: Vec<u8>,
    /// Entries whose log index has unwritten records.
    pub(super) index_dirty: HashSet<u64>,
    pub(super) shutting_down: bool,
    /// Partial log lines per (entry, stream), kept only while log subscribers exist.
    pub(super) line_bufs: HashMap<(u64, u8), Vec<u8>>,
    /// `daemon --passthrough`: output also goes to standard output.
    pub(super) passthrough: Option<super::passthrough::Passthrough>,
    /// Rebuild terminal screens from their logs at a takeover (not after a crash).
    pub(super) replay_screens: bool,
    pub(super) exit_now: bool,
    pub(super) my_pid: i32,
    /// Builds in progress.
    pub(super) builds: Builds,
    /// Per-service timers (cron restarts, idle profile switches), by entry.
    pub(super) service_timers: HashMap<u64, [Option<TimerId>; 2]>,
    /// When a command last named each service that has an idle profile.
    pub(super) touched: HashMap<u64, Instant>,
    /// Why a restart no client asked for is under way (a cron time, an idle profile), by
    /// entry, for its `restarting` event.
    pub(super) restart_why: HashMap<u64, String>,
    /// Work done on helper threads (scans that must not block the loop).
    pub(super) jobs: super::jobs::Jobs,
    /// CPU and memory samples, taken while someone looks.
    pub(super) usage: Sampling,
    /// The channel to the keeper that outlives us (None: started without one, as in tests).
    pub(super) keeper: Option<super::kept::Link>,
}

/// The runtime side of an entry whose process may be alive.
pub(super) struct Live {
    pub(super) pid: i32,
    pub(super) start_time: u64,
    /// Our read ends of stdout and stderr, while open.
    pub(super) pipes: Vec<(Token, OwnedFd)>,
    /// The raw wait status once reaped (None for adopted processes, whose status we never see).
    pub(super) status: Option<crate::proc::wait::WaitStatus>,
    pub(super) writer: Option<RunWriter>,
    pub(super) write_failed: bool,
    /// The delay of the retry of a failing log, while one is due (see `logretry.rs`).
    pub(super) log_retry: Option<std::time::Duration>,
    /// For processes a previous daemon started: not our child.
    pub(super) adopted: Option<Adopted>,
    /// Where `send` and `attach` write (stream stdin or the terminal).
    pub(super) input: Option<InputSink>,
    /// The terminal's master, for resizes.
    pub(super) pty: Option<OwnedFd>,
    /// A terminal's output goes through this pipe (read end, write end) on its way to the
    /// log, both steps by splice, and the keeper holds its read end: what a daemon killed
    /// between the steps took from the terminal waits here for the next one.
    pub(super) pty_buf: Option<(OwnedFd, OwnedFd)>,
}

/// How we learn that a process we did not start has ended.
pub(super) enum Adopted {
    /// The keeper reaped it (a run of a previous daemon, handed over with its descriptors):
    /// its wait status comes over the keeper's channel.
    Kept,
    /// Watched through a pidfd (or, without one, by a periodic identity check): its status is
    /// never known.
    Watched(Option<(Token, OwnedFd)>),
}

impl Live {
    pub(super) fn writer_mut(&mut self) -> Option<&mut RunWriter> {
        self.writer.as_mut()
    }

    /// Every output pipe reached EOF (or there were none).
    pub(super) fn pipes_closed(&self) -> bool {
        self.pipes.is_empty()
    }
}

/// One entry's supervision: its machine, its timers, the processes being stopped.
#[derive(Default)]
pub(super) struct Sup {
    pub(super) m: Machine,
    pub(super) timers: BTreeMap<Slot, TimerId>,
    /// Processes the stop (or the leftovers' stop) went to, watched until none is left.
    pub(super) members: Vec<Target>,
    /// The members' signal has been sent: `TreeGone` is owed once they are gone.
    pub(super) watching: bool,
    pub(super) watch: Option<TimerId>,
    /// KILL was announced in the events (once per stop).
    pub(super) kill_announced: bool,
    /// This run's leftovers got the stop signal, and then KILL (for the exit's event).
    pub(super) leftovers_signalled: (bool, bool),
    /// Leftovers are looked for again soon (`relooks` times so far).
    pub(super) relook: Option<TimerId>,
    pub(super) relooks: u32,
    /// Why the last spawn or build failed (for the request that asked), and at length (a
    /// build's log tail) when there is more to say.
    pub(super) failure: Option<Box<Error>>,
    pub(super) failure_detail: Option<Box<str>>,
    /// The phase's deadline as last written to the entry's record (see `Entry::deadline`).
    pub(super) recorded: Option<(crate::store::registry::Awaited, crate::proc::supervisor::Ms)>,
}

impl Sup {
    /// The machine of an entry loaded in `state` with no process of its own.
    pub(super) fn at_rest(state: State) -> Sup {
        let rest = match state {
            State::Stopped => Rest::Stopped,
            State::Exited => Rest::Exited,
            State::Errored => Rest::Errored,
            _ => Rest::New,
        };
        Sup {
            m: Machine {
                phase: Phase::Down { rest },
                building: false,
            },
            ..Sup::default()
        }
    }
}

/// A new spec for a service entry, applied when its build succeeds (or at once without one).
#[derive(Clone)]
pub(super) struct Commit {
    pub(super) service: ServiceSpec,
    pub(super) profile: Option<String>,
}

/// One build in progress.
pub(super) struct Build {
    pub(super) pid: i32,
    pub(super) number: u32,
    pub(super) pipes: Vec<(Token, OwnedFd)>,
    pub(super) writer: Option<RunWriter>,
    pub(super) tail: Vec<u8>,
    pub(super) commit: Option<Commit>,
}

/// Builds in progress, by entry and by pid.
#[derive(Default)]
pub(super) struct Builds {
    pub(super) by_entry: HashMap<u64, Build>,
    pub(super) by_pid: HashMap<i32, u64>,
    /// What the next build of an entry is for (set just before its supervisor starts it).
    pub(super) next: HashMap<u64, Option<Commit>>,
}

impl Builds {
    pub(super) fn entry_of(&mut self, pid: i32) -> Option<u64> {
        self.by_pid.remove(&pid)
    }

    /// Whether `pid` is a build's main process.
    pub(super) fn is_build(&self, pid: i32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    pub(super) fn running(&self, id: u64) -> bool {
        self.by_entry.contains_key(&id)
    }

    pub(super) fn ids(&self) -> Vec<u64> {
        self.by_entry.keys().copied().collect()
    }
}

/// A `wait` for entry `id` to be ready.
pub(super) struct ReadyWait {
    pub(super) id: u64,
    pub(super) regex: Option<Regex>,
    pub(super) port: Option<u16>,
    /// A regex the terminal's screen must show a match of (`wait --screen`).
    pub(super) screen: Option<Regex>,
    pub(super) screen_ok: bool,
    /// The screen was looked at as of the wait's start (by the screens thread, which reports
    /// it): only changes after that may meet it.
    pub(super) screen_seen: bool,
    pub(super) log_ok: bool,
    pub(super) port_ok: bool,
    pub(super) timeout: Option<TimerId>,
    pub(super) poll: Option<TimerId>,
}

impl ReadyWait {
    pub(super) fn timers(&self) -> impl Iterator<Item = TimerId> {
        self.timeout.into_iter().chain(self.poll)
    }

    pub(super) fn wants_lines(&self) -> bool {
        self.regex.is_some() && !self.log_ok
    }

    pub(super) fn wants_screen(&self) -> bool {
        self.screen.is_some() && !self.screen_ok && self.screen_seen
    }

    pub(super) fn done(&self) -> bool {
        (self.regex.is_none() || self.log_ok)
            && (self.port.is_none() || self.port_ok)
            && (self.screen.is_none() || self.screen_ok)
    }

    /// What it waits for, for messages.
    pub(super) fn what(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.regex {
            parts.push(format!("a log line matching {:?}", r.as_str()));
        }
        if let Some(p) = self.port {
            parts.push(format!("a listener on TCP port {p}"));
        }
        if let Some(r) = &self.screen {
            parts.push(format!("the screen to show {:?}", r.as_str()));
        }
        if parts.is_empty() {
            "it to run".into()
        } else {
            parts.join(" and ")
        }
    }
}

/// Where an entry's input goes.
pub(super) struct InputSink {
    pub(super) fd: Option<OwnedFd>,
    pub(super) token: Option<Token>,
    pub(super) buf: VecDeque<u8>,
    /// Close once the buffer is written (stream), or the end-of-file character was queued
    /// (terminal): no more input is taken.
    pub(super) eof: bool,
    pub(super) is_pty: bool,
}

impl InputSink {
    pub(super) fn new(fd: OwnedFd, is_pty: bool) -> InputSink {
        InputSink {
            fd: Some(fd),
            token: None,
            buf: VecDeque::new(),
            eof: false,
            is_pty,
        }
    }
}

/// Where saving stands.
pub(super) struct Saving {
    pub(super) sync_timer: Option<TimerId>,
    pub(super) failing: bool,
    /// The registry's files (and those written but not yet fsynced).
    pub(super) store: crate::store::persist::Store,
    /// Makes them durable on a helper thread, and compacts the journal.
    pub(super) syncer: crate::store::syncer::Syncer,
}

#[derive(Default)]
pub(super) struct Sampling {
    pub(super) sampler: Sampler,
    /// When the latest sample was taken.
    pub(super) taken: Option<Instant>,
    /// Sampling stops after this.
    pub(super) wanted_until: Option<Instant>,
    pub(super) timer: Option<TimerId>,
}
