//! What the daemon answers and streams: the replies to requests (entries, results of
//! changes, logs, labels, screens...) and the events of subscriptions and follows.

use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PingReply {
    pub version: String,
    pub protocol: u32,
    pub pid: u32,
    pub uptime_ms: u64,
    pub entries: usize,
    pub running: usize,
    pub socket: String,
    pub state_dir: String,
    /// Problems found at start-up (e.g. a state file that did not parse and was moved aside).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The keeper's pid: the process that holds every run's descriptors while daemons come
    /// and go (absent when the daemon runs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keeper: Option<u32>,
}

/// The reply to `upgrade`, sent by the old daemon as it hands over.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct UpgradeReply {
    /// The binary the new daemon runs ("" when it is the one the daemon was started from).
    pub binary: String,
}

/// One entry as `ls`, `status` and `run` report it.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct EntryInfo {
    pub id: u64,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    /// starting, running, stopping, stopped, exited, backoff, errored.
    pub state: String,
    pub pid: Option<i32>,
    /// The current (or last) run number, 0 before the first start.
    pub run: u32,
    pub restarts: u32,
    /// The command as one display string.
    pub command: String,
    pub argv: Vec<String>,
    pub shell: bool,
    pub cwd: String,
    pub created_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    pub uptime_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub stop_signal: i32,
    pub stop_timeout_ms: u64,
    pub originator: Option<String>,
    /// The process was found alive by a later daemon and re-adopted (no output capture).
    pub adopted: bool,
    /// The last error (e.g. why a start failed).
    pub error: Option<String>,
    /// Pids of processes that ended runs left running (`leftovers: keep`, or while they are
    /// being stopped) and that are still alive.
    #[serde(default)]
    pub leftovers: Vec<i32>,
    /// Recent lifecycle events, oldest first (only filled by `status`).
    #[serde(default)]
    pub events: Vec<EventInfo>,
    /// The services file the entry was declared in (`wrangle up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_file: Option<String>,
    /// A terminal entry's window title (OSC 0 or 2), when its program set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A service's active profile (None: the base spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A service's latest build, e.g. "build 3 running" or "build 3 failed (exit code 1)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The environment (only filled by `status`); values of names that look secret (KEY,
    /// SECRET, TOKEN, PASSWORD) read "(hidden)" unless asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// The whole spec the entry runs with (only filled by `status`; its `env` left empty, as
    /// `env` above has it; log limits that the spec leaves to the daemon filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RunSpec>,
}

/// A lifecycle event of one entry.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EventInfo {
    pub ts_ms: u64,
    pub id: u64,
    pub kind: super::EventKind,
    pub message: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EntryReply {
    pub entry: EntryInfo,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ListReply {
    pub entries: Vec<EntryInfo>,
}

/// An item of a brief `list`: what `ls -q` and `ls --names` print.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BriefEntry {
    pub id: u64,
    pub name: Option<String>,
}

/// A brief `list`'s reply (or one part of it).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BriefListReply {
    pub entries: Vec<BriefEntry>,
}

/// What a change did to one entry.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ActionResult {
    pub id: u64,
    pub name: Option<String>,
    pub outcome: super::Outcome,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ActionReply {
    pub results: Vec<ActionResult>,
}

/// A terminal entry's screen (`screen`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ScreenReply {
    pub id: u64,
    pub name: Option<String>,
    /// The rows, cursor, title and size.
    pub screen: crate::term::Snapshot,
    /// The screen in the format asked for.
    pub content: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SendReply {
    /// Bytes taken for the process's input.
    pub bytes: u64,
}

/// A tag or group and how many entries carry it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LabelCount {
    pub name: String,
    pub entries: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LabelsReply {
    pub labels: Vec<LabelCount>,
}

/// One run's log files: `DIR/RUN.log` (+ rotated `DIR/RUN.SEG.log`) with `.idx` beside each.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RunLog {
    pub run: u32,
    /// The entry's log folder.
    pub dir: String,
    /// The entry's byte sequence number of this run's first byte.
    pub start_seq: u64,
    /// Bytes of this run so far.
    pub bytes: u64,
    /// Bytes at the start of the run whose segments were deleted by rotation.
    pub dropped: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LogInfo {
    pub id: u64,
    pub name: Option<String>,
    /// Oldest first.
    pub runs: Vec<RunLog>,
    /// The entry's sequence number after its last captured byte.
    pub end_seq: u64,
    pub alive: bool,
    /// Lines are best shown with their receive times (a service's `logs.timestamps`).
    #[serde(default)]
    pub timestamps: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LogsReply {
    pub entries: Vec<LogInfo>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct WaitReply {
    pub id: u64,
    pub name: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
}

/// EVENT payload of a subscription: a lifecycle event, a log line (`kind` "log"), or a notice
/// that `count` events were dropped because this subscriber fell behind (`kind` "missed").
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub ts_ms: u64,
    pub id: u64,
    pub name: Option<String>,
    pub kind: super::EventKind,
    pub message: String,
    /// For log lines: "stdout" or "stderr".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// For "missed": how many events were dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// EVENT payloads of a follow stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The reader fell behind what the daemon keeps in memory; `bytes` were skipped.
    Missed { bytes: u64 },
    /// The output that follows belongs to run `run` (sent before a stream's first bytes and
    /// whenever it crosses into a new run).
    Run { run: u32 },
    /// First event of an attach: who, and whether keystrokes reach the process.
    Attached {
        id: u64,
        name: Option<String>,
        state: String,
        input: bool,
        pty: bool,
        /// The sequence number the stream starts at (absent from older daemons).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// The run ended (code or signal).
    Exited {
        exit_code: Option<i32>,
        exit_signal: Option<i32>,
    },
    /// The entry was removed; the stream ends.
    Removed,
    /// An attach to a terminal entry: its screen as of byte `seq`, as escape sequences that
    /// redraw it on a blank terminal (alternate screen, colours, cursor and input modes); the
    /// output that follows starts at `seq`. Sent first, and instead of `missed` when the
    /// reader fell behind.
    Screen { seq: u64, draw: String },
}
