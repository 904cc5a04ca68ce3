//! The JSON messages a client sends in control frames: the handshake, selectors and the
//! requests. What an entry runs is in `spec.rs`, the answers and events in `reply.rs`. Field
//! names are stable: new fields may be added, existing ones keep their meaning.

use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// HELLO payload: the versions the client speaks and who it is (recorded as an entry's
/// originator).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Hello {
    pub versions: Vec<u32>,
    #[serde(default)]
    pub client: String,
}

/// WELCOME payload: the version chosen and who the daemon is.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Welcome {
    pub version: u32,
    pub daemon: String,
    pub pid: u32,
}

/// ERROR payload.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// Which entries a request is about (SPEC §1 "Selector"). Targets are unioned, then every
/// filter narrows the result.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Selector {
    /// Names, ids, or `all`.
    pub targets: Vec<String>,
    pub tag: Vec<String>,
    pub tag_all: Vec<String>,
    pub group: Vec<String>,
    pub group_all: Vec<String>,
    pub pid: Vec<i32>,
    pub id: Vec<u64>,
    pub name: Vec<String>,
    pub state: Vec<String>,
    pub search: Vec<String>,
    /// Who created the entry (the client name from its HELLO, e.g. `wrangle-cli/0.1.0`): a
    /// value matches that name or its part before `/`.
    pub originator: Vec<String>,
    pub alive: bool,
    /// Allow a command that changes things to act on several entries.
    pub all: bool,
    /// The project of the folder the command was typed in: a plain target `api` means
    /// `PROJECT/api` first (wrangle(1), PROJECTS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Selector {
    /// A selector naming one target.
    pub fn target(t: impl Into<String>) -> Selector {
        Selector {
            targets: vec![t.into()],
            ..Selector::default()
        }
    }

    /// Whether any filter flag is set (targets aside).
    pub fn has_filters(&self) -> bool {
        !(self.tag.is_empty()
            && self.tag_all.is_empty()
            && self.group.is_empty()
            && self.group_all.is_empty()
            && self.pid.is_empty()
            && self.id.is_empty()
            && self.name.is_empty()
            && self.state.is_empty()
            && self.search.is_empty()
            && self.originator.is_empty()
            && !self.alive)
    }
}

/// Requests, tagged by `op`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the daemon up: version, pid, uptime, counts. Reply: [`PingReply`].
    Ping,
    /// Start a new entry. Reply: [`EntryReply`].
    Run { spec: RunSpec },
    /// List entries (no targets and no filters: all). Reply: [`ListReply`].
    List {
        #[serde(default)]
        sel: Selector,
        /// Only ids and names ([`BriefEntry`] items): no state and no CPU or memory, so no
        /// sampling; for `ls -q`, `ls --names` and the completions.
        #[serde(default)]
        brief: bool,
    },
    /// Everything about the selected entries, with recent events and the environment (values
    /// of secret-looking names hidden unless `show_env`). Reply: [`ListReply`].
    Status {
        sel: Selector,
        #[serde(default)]
        show_env: bool,
    },
    /// Record what should be running (running entries and those waiting to restart) in the
    /// saved set. Reply: [`ActionReply`] (outcome "saved"). With nothing to record, a saved
    /// set that holds entries is kept (error "failed") unless `force`.
    Save {
        #[serde(default)]
        force: bool,
    },
    /// Start whatever the saved set holds that is not running (never a duplicate).
    /// Reply: [`ActionReply`] (outcomes "started", "already_running", "failed").
    Resurrect,
    /// Start stopped or ended entries. Reply: [`ActionReply`].
    Start { sel: Selector },
    /// Stop; the reply comes when every process of every entry is gone. Reply: [`ActionReply`].
    Stop {
        sel: Selector,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Stop (if running) then start. An entry from a services file with a build step is built
    /// first while the old process keeps running; a failed build leaves it running (outcome
    /// "failed", with the build log's tail). `profile` switches a service to that profile
    /// ("base": back to the base spec). Reply: [`ActionReply`].
    Restart {
        sel: Selector,
        #[serde(default)]
        profile: Option<String>,
    },
    /// Stop if needed, then forget the entries and their logs. A process adopted with `add`
    /// is forgotten and left running unless `kill`. Reply: [`ActionReply`].
    Remove {
        sel: Selector,
        #[serde(default)]
        kill: bool,
    },
    /// Send a signal to the entries' main processes. Reply: [`ActionReply`].
    Signal { sel: Selector, signal: i32 },
    /// Where the selected entries' logs are (with `build`, their build logs). Reply:
    /// [`LogsReply`].
    Logs {
        sel: Selector,
        #[serde(default)]
        build: bool,
    },
    /// Delete the logs of the selected entries (the current run's files are emptied).
    /// Reply: [`ActionReply`].
    ClearLogs { sel: Selector },
    /// Stream an entry's output from byte `from_seq` on, as DATA frames on this request's id,
    /// until cancelled. `streams` is a bitmask: 1 stdout, 2 stderr.
    Follow { id: u64, from_seq: u64, streams: u8 },
    /// Wait until one entry ends, or, with `log`, `port` or `ready`, until it is ready: a line
    /// of its current run matches the regex `log`, one of its processes listens on TCP `port`,
    /// or (`ready`) what its service declares (just running when it declares nothing). An
    /// entry that ends before it is ready is an error (`failed`). Reply: [`WaitReply`]; error
    /// `timeout` after `timeout_ms` (with `ready`, the service's own timeout by default).
    Wait {
        sel: Selector,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        log: Option<String>,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        ready: bool,
        /// Wait until the screen of a terminal entry shows a match of this regex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screen: Option<String>,
    },
    /// Create or update the entry of one service of a services file and make it run: a new
    /// service is created (built first if it has a build step) and started; a changed one is
    /// rebuilt and restarted (the old process serves until the build succeeded); an unchanged
    /// running one is left alone. Reply: [`ActionReply`] (outcomes "created", "restarted",
    /// "started", "unchanged", "failed").
    Apply { service: ServiceSpec },
    /// Stop and remove the entries of the services file `file` (only those named in `names`,
    /// when given). Reply: [`ActionReply`].
    Down {
        file: String,
        #[serde(default)]
        names: Vec<String>,
    },
    /// Stream events of the selected entries (all entries, including ones added later, when
    /// the selector is empty) as EVENT frames carrying [`LiveEvent`]s, until cancelled.
    /// `types` is a bitmask: 1 lifecycle events, 2 log lines. With `since_ms`, the kept
    /// lifecycle events from that time on come first (a client resuming after a reconnect).
    Subscribe {
        #[serde(default)]
        sel: Selector,
        types: u8,
        #[serde(default)]
        since_ms: Option<u64>,
    },
    /// Write to one entry's standard input (stream or terminal): the bytes follow as DATA
    /// frames on channel 3 with this request's id, and an empty DATA frame ends them; with
    /// `eof` the input is closed after (a terminal gets its end-of-file character). Reply:
    /// [`SendReply`] once the end frame is taken.
    Send {
        sel: Selector,
        #[serde(default)]
        eof: bool,
    },
    /// Keys for one entry's input, by name in tmux's notation (`Up`, `C-c`, `F5`; a string
    /// that names no key is sent as text): the daemon turns them into bytes, arrows as the
    /// entry's terminal screen asks now (application cursor mode or not), and writes them, then
    /// closes the input if `eof`. Reply: [`SendReply`].
    SendKeys {
        sel: Selector,
        keys: Vec<String>,
        #[serde(default)]
        eof: bool,
    },
    /// Attach to one entry: replay up to `replay` bytes of recent output, then live output as
    /// DATA frames; keystrokes come back as DATA frames on channel 3 (unless `read_only` or the
    /// entry has no input). EVENT `attached` first, `exited` when the process ends (then the
    /// final RESPONSE). `size` (rows, cols) is applied to a terminal entry. With `from_seq`
    /// the stream starts at that sequence number instead (a client re-attaching after a
    /// reconnect, from the `seq` of its first `attached` event plus what it received).
    Attach {
        sel: Selector,
        #[serde(default)]
        read_only: bool,
        #[serde(default)]
        replay: u64,
        #[serde(default)]
        size: Option<[u16; 2]>,
        #[serde(default)]
        from_seq: Option<u64>,
    },
    /// Set a terminal entry's window size (the process gets SIGWINCH). Reply: [`ActionReply`].
    Resize { sel: Selector, rows: u16, cols: u16 },
    /// Adopt a running process (not our child): watched for liveness, stoppable, signallable.
    /// Reply: [`EntryReply`].
    Add {
        pid: i32,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        groups: Vec<String>,
    },
    /// Edit labels of the selected entries (a new name needs exactly one entry).
    /// Reply: [`ActionReply`] (outcome "labelled").
    Label {
        sel: Selector,
        #[serde(default)]
        add_tags: Vec<String>,
        #[serde(default)]
        rm_tags: Vec<String>,
        #[serde(default)]
        add_groups: Vec<String>,
        #[serde(default)]
        rm_groups: Vec<String>,
        /// A new name; an empty string removes the name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Every tag (`kind` "tag") or group (`kind` "group") in use. Reply: [`LabelsReply`].
    Labels { kind: String },
    /// Rename a tag or group everywhere (onto an existing one: merge). Reply: [`ActionReply`].
    RenameLabel {
        kind: String,
        old: String,
        new: String,
    },
    /// Forget ended entries (stopped, exited, errored) that ended at least `older_than_ms`
    /// ago, with their logs. Reply: [`ActionReply`] (outcome "removed").
    Prune {
        #[serde(default)]
        older_than_ms: Option<u64>,
    },
    /// Stop every owned process, forget every entry and its logs, start ids at 1 again.
    /// `confirm` must be "RESET". Reply: [`ActionReply`].
    Reset { confirm: String },
    /// End a stream (follow, subscribe) or a pending wait opened by request `target` on this connection.
    Cancel { target: u32 },
    /// Stop every owned process gracefully, then exit. Reply: [`ActionReply`] before exiting.
    Shutdown,
    /// Hand every process, descriptor and client socket to a new daemon from `binary` (an
    /// absolute path; default: the binary the daemon was started from, read again), then
    /// exit. Reply: [`UpgradeReply`] once the new daemon is ready; an error (and this daemon
    /// carries on) if it failed to start or answer in time.
    Upgrade {
        #[serde(default)]
        binary: Option<String>,
    },
    /// What the daemon knows about live processes beyond the registry (supervisor phases,
    /// deadlines left, descriptors by number), for diagnosis and upgrade tooling. Reply: the
    /// live state object (see wrangle-protocol(7)).
    LiveState,
    /// The current screen of one terminal (`--pty`) entry, running or ended: its visible rows
    /// after the last `scrollback` lines of scrollback, rendered in `format` ("text", "ansi"
    /// or "html"). Reply: [`ScreenReply`].
    Screen {
        sel: Selector,
        #[serde(default)]
        format: crate::term::Format,
        #[serde(default)]
        scrollback: u32,
    },
    /// Log content of one entry, read and searched by the daemon (off its loop) so that a
    /// client needs no access to the log files: the last (or, with `head`, first) lines or
    /// matches of `grep` with context, of one run or all, bounded by `max_lines` and
    /// `max_bytes`; `skip` pages further (older lines for a tail, later ones for a head).
    /// Reply: [`ReadLogReply`].
    ReadLog(ReadLogQuery),
    /// Change entries' specs, keeping their ids, names, labels and logs: the change applies at
    /// the next start, or at once with `restart_now` (a restart). Entries of a services file
    /// and processes adopted with `add` are refused. Reply: [`ActionReply`] (outcome
    /// "edited", or "restarted" with `restart_now` for an entry that was running).
    Edit {
        sel: Selector,
        change: SpecChange,
        #[serde(default)]
        restart_now: bool,
    },
}

/// What `edit` changes in a spec; a field left out stays as it is.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct SpecChange {
    /// A new command; with `shell`, one string run by `sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    /// Variables set (added or replaced) in the environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset_env: Vec<String>,
    /// A new absolute working folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_uptime_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout_ms: Option<u64>,
}

/// What a `read_log` request asks for. Every field but `sel` is optional.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct ReadLogQuery {
    /// Exactly one entry.
    pub sel: Selector,
    /// The entry's build logs instead.
    pub build: bool,
    /// Which run: -1 the latest (default), -2 the one before, N run number N, 0 every kept run.
    pub run: Option<i64>,
    /// 1 stdout, 2 stderr, 3 (or 0) both.
    pub streams: u8,
    /// Only lines matching this regular expression (and their context).
    pub grep: Option<String>,
    pub before: usize,
    pub after: usize,
    /// Only lines received at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// The first lines (or matches) rather than the last.
    pub head: bool,
    /// Result lines to pass over first: from the end for a tail, from the start for a head.
    pub skip: usize,
    /// At most this many lines (default 100, at most 2000).
    pub max_lines: Option<usize>,
    /// At most about this many bytes of text (default 32 KiB, at most 1 MiB); a longer
    /// line is cut.
    pub max_bytes: Option<usize>,
}

/// One line of a [`ReadLogReply`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReadLogLine {
    pub run: u32,
    /// Receive time of its first byte (µs since the epoch).
    pub ts_us: u64,
    /// "stdout" or "stderr".
    pub stream: String,
    /// The text (lossy UTF-8), without its newline.
    pub text: String,
    /// A match of `grep` (false: a context line).
    pub matched: bool,
    /// Lines were left out just before this one (between two context groups).
    #[serde(default)]
    pub gap_before: bool,
    /// The line was longer and was cut to fit `max_bytes`.
    #[serde(default)]
    pub cut: bool,
}

/// The reply to `read_log`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReadLogReply {
    pub id: u64,
    pub name: Option<String>,
    /// The runs read, oldest first.
    pub runs: Vec<u32>,
    /// Oldest first.
    pub lines: Vec<ReadLogLine>,
    /// More lines are there beyond these: ask again with `skip` = `next_skip`.
    pub more: bool,
    pub next_skip: usize,
    /// The entry's sequence number after its last captured byte.
    pub end_seq: u64,
    pub alive: bool,
    /// A run's log is missing from disk (why, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl Request {
    /// The op name, for messages.
    /// Every operation's name, as `op` on the wire.
    pub const OPS: &'static [&'static str] = &[
        "ping",
        "run",
        "list",
        "status",
        "save",
        "resurrect",
        "start",
        "stop",
        "restart",
        "apply",
        "down",
        "remove",
        "signal",
        "logs",
        "clear_logs",
        "follow",
        "wait",
        "subscribe",
        "send",
        "send_keys",
        "attach",
        "resize",
        "add",
        "label",
        "labels",
        "rename_label",
        "prune",
        "reset",
        "cancel",
        "shutdown",
        "upgrade",
        "live_state",
        "screen",
        "edit",
        "read_log",
    ];

    pub fn op(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Run { .. } => "run",
            Request::List { .. } => "list",
            Request::Status { .. } => "status",
            Request::Save { .. } => "save",
            Request::Resurrect => "resurrect",
            Request::Start { .. } => "start",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Apply { .. } => "apply",
            Request::Down { .. } => "down",
            Request::Remove { .. } => "remove",
            Request::Signal { .. } => "signal",
            Request::Logs { .. } => "logs",
            Request::ClearLogs { .. } => "clear_logs",
            Request::Follow { .. } => "follow",
            Request::Wait { .. } => "wait",
            Request::Screen { .. } => "screen",
            Request::Subscribe { .. } => "subscribe",
            Request::Send { .. } => "send",
            Request::SendKeys { .. } => "send_keys",
            Request::Attach { .. } => "attach",
            Request::Resize { .. } => "resize",
            Request::Add { .. } => "add",
            Request::Label { .. } => "label",
            Request::Labels { .. } => "labels",
            Request::RenameLabel { .. } => "rename_label",
            Request::Prune { .. } => "prune",
            Request::Reset { .. } => "reset",
            Request::Cancel { .. } => "cancel",
            Request::Shutdown => "shutdown",
            Request::Upgrade { .. } => "upgrade",
            Request::LiveState => "live_state",
            Request::Edit { .. } => "edit",
            Request::ReadLog(_) => "read_log",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_op_is_a_request_and_every_request_is_listed() {
        use super::Request;
        for op in Request::OPS {
            // Known ops fail, if at all, for a missing field, never as an unknown variant.
            let r = serde_json::from_value::<Request>(serde_json::json!({ "op": op }));
            if let Ok(req) = &r {
                assert_eq!(req.op(), *op);
            }
            let e = r.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.contains("unknown variant"), "{op}: {e}");
        }
        // Requests without fields name themselves; each is listed.
        for req in [
            Request::Ping,
            Request::Save { force: false },
            Request::Resurrect,
            Request::Shutdown,
            Request::LiveState,
        ] {
            assert!(Request::OPS.contains(&req.op()), "{}", req.op());
        }
        let unknown = serde_json::from_value::<Request>(serde_json::json!({ "op": "teleport" }));
        assert!(unknown.is_err() && !Request::OPS.contains(&"teleport"));
    }

    use super::*;

    #[test]
    fn requests_have_stable_json() {
        let r = Request::Stop {
            sel: Selector::target("web"),
            timeout_ms: Some(1500),
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["op"], "stop");
        assert_eq!(j["sel"]["targets"][0], "web");
        assert_eq!(j["timeout_ms"], 1500);
        let back: Request = serde_json::from_value(j).unwrap();
        assert_eq!(back, r);
        let p: Request = serde_json::from_str(r#"{"op":"ping"}"#).unwrap();
        assert_eq!(p, Request::Ping);
        let l: Request = serde_json::from_str(r#"{"op":"list"}"#).unwrap();
        assert_eq!(
            l,
            Request::List {
                sel: Selector::default(),
                brief: false,
            }
        );
        let s: Request =
            serde_json::from_str(r#"{"op":"status","sel":{"tag":["db"],"future":1}}"#).unwrap();
        assert!(matches!(s, Request::Status { sel, .. } if sel.tag == ["db"]));
    }

    #[test]
    fn unknown_ops_and_missing_fields_are_errors() {
        assert!(serde_json::from_str::<Request>(r#"{"op":"fly"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"op":"run"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"sel":{}}"#).is_err());
    }

    #[test]
    fn run_spec_new_matches_the_wire_defaults() {
        let r: Request =
            serde_json::from_str(r#"{"op":"run","spec":{"argv":["true"],"cwd":"/"}}"#).unwrap();
        let Request::Run { spec } = r else { panic!() };
        assert_eq!(spec, RunSpec::new(vec!["true".into()], "/".into()));
    }

    #[test]
    fn run_spec_defaults() {
        let r: Request =
            serde_json::from_str(r#"{"op":"run","spec":{"argv":["true"],"cwd":"/"}}"#).unwrap();
        let Request::Run { spec } = r else { panic!() };
        assert_eq!(spec.stop_signal, None);
        assert_eq!(spec.effective_stop_signal(), libc::SIGTERM);
        assert_eq!(spec.stop_timeout_ms, 5000);
        assert!(!spec.shell && spec.env.is_empty());
    }

    #[test]
    fn a_terminal_entry_stops_with_hup_unless_told_otherwise() {
        let mut spec = RunSpec::new(vec!["bash".into()], "/".into());
        spec.pty = true;
        assert_eq!(spec.effective_stop_signal(), libc::SIGHUP);
        spec.stop_signal = Some(libc::SIGTERM);
        assert_eq!(spec.effective_stop_signal(), libc::SIGTERM);
        spec.pty = false;
        spec.stop_signal = Some(libc::SIGINT);
        assert_eq!(spec.effective_stop_signal(), libc::SIGINT);
        // A stored or sent number is the user's choice, as before.
        let old: RunSpec =
            serde_json::from_str(r#"{"argv":["a"],"cwd":"/","stop_signal":15,"pty":true}"#)
                .unwrap();
        assert_eq!(old.effective_stop_signal(), libc::SIGTERM);
    }

    #[test]
    fn stream_events_are_tagged() {
        let e = serde_json::to_string(&StreamEvent::Missed { bytes: 10 }).unwrap();
        assert_eq!(e, r#"{"event":"missed","bytes":10}"#);
    }
}
