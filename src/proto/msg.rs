//! The JSON messages carried by control frames: requests, replies, stream events. Field names
//! are stable: new fields may be added, existing ones keep their meaning. It is long because
//! the whole vocabulary is here, in one place, with the docs a client author reads.

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

/// Everything needed to start an entry. The client resolves `cwd` and the environment, so the
/// process runs where and with what the user had when they typed the command.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The command and its arguments; with `shell`, one string run by `sh -c`.
    pub argv: Vec<String>,
    #[serde(default)]
    pub shell: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Absolute working folder.
    pub cwd: String,
    /// The complete environment of the process (wrangle adds WRANGLE_ID and WRANGLE_NAME).
    /// Shared between entries that have the same one (most do: one shell starts them).
    #[serde(default)]
    pub env: std::sync::Arc<BTreeMap<String, String>>,
    /// The signal a stop sends first, as the user chose it; None: the default, which
    /// [`RunSpec::effective_stop_signal`] gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<i32>,
    #[serde(default = "default_stop_timeout_ms")]
    pub stop_timeout_ms: u64,
    /// Where standard input comes from.
    #[serde(default)]
    pub stdin: Input,
    /// Where standard output goes (ignored with `pty`: the terminal's output is logged).
    #[serde(default)]
    pub stdout: Output,
    /// Where standard error goes (ignored with `pty`).
    #[serde(default)]
    pub stderr: ErrOutput,
    /// Run on a pseudo-terminal (0, 1 and 2 are its slave; it is the controlling terminal).
    #[serde(default)]
    pub pty: bool,
    /// The terminal's size, rows and columns (default 24x80).
    #[serde(default)]
    pub size: Option<[u16; 2]>,
    /// Lines of scrollback a terminal entry's screen keeps (None: 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrollback: Option<u32>,
    /// When the process ends by itself: restart it never, on failure, or always.
    #[serde(default)]
    pub restart: Restart,
    /// Give up (state errored) after this many restarts in a row (0: never give up).
    #[serde(default)]
    pub max_restarts: u32,
    /// Delays between restarts.
    #[serde(default)]
    pub backoff: Backoff,
    /// A run that lasts this long counts as healthy: the restart count in a row starts over.
    #[serde(default = "default_min_uptime_ms")]
    pub min_uptime_ms: u64,
    /// Rotate the log when it would pass this many bytes (None: the daemon's default; 0: never).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// Rotated log segments kept per run (None: the daemon's default).
    #[serde(default)]
    pub log_keep: Option<u32>,
    /// What happens to processes a run leaves behind when its main process ends.
    #[serde(default)]
    pub leftovers: Leftovers,
}

impl RunSpec {
    /// A spec for `argv` in `cwd` with every other field at its default (as a request that
    /// names only those two would get).
    pub fn new(argv: Vec<String>, cwd: String) -> RunSpec {
        RunSpec {
            argv,
            shell: false,
            name: None,
            tags: Vec::new(),
            groups: Vec::new(),
            cwd,
            env: Default::default(),
            stop_signal: None,
            stop_timeout_ms: default_stop_timeout_ms(),
            restart: Restart::default(),
            max_restarts: 0,
            backoff: Backoff::default(),
            min_uptime_ms: default_min_uptime_ms(),
            stdin: Input::default(),
            stdout: Output::default(),
            stderr: ErrOutput::default(),
            pty: false,
            size: None,
            scrollback: None,
            log_max_size: None,
            log_keep: None,
            leftovers: Leftovers::default(),
        }
    }

    /// The signal a stop sends first: the user's choice, else HUP for a terminal entry (what
    /// closing a terminal sends; an interactive shell ignores TERM) and TERM for the rest.
    pub fn effective_stop_signal(&self) -> i32 {
        self.stop_signal.unwrap_or(if self.pty {
            libc::SIGHUP
        } else {
            libc::SIGTERM
        })
    }
}

/// Standard input of a process: `"null"`, `"stream"` (fed by `send` and `attach`) or
/// `{"file": "/path"}` (opened for reading by the daemon).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    #[default]
    Null,
    Stream,
    File(String),
}

/// Standard output: `"log"` (captured), `"null"` or `{"file": "/path"}` (appended to).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    #[default]
    Log,
    Null,
    File(String),
}

/// Standard error: like [`Output`], or `"stdout"` (merged into standard output in arrival
/// order).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErrOutput {
    #[default]
    Log,
    Null,
    File(String),
    Stdout,
}

/// Restart policy: `"never"`, `"on-failure"` (not exit code 0) or `"always"`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    #[default]
    Never,
    OnFailure,
    Always,
}

impl Restart {
    pub const ALL: [Restart; 3] = [Restart::Never, Restart::OnFailure, Restart::Always];

    /// The policy's name, as on the wire, in wrangle.json and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Never => "never",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        }
    }

    /// The policy named `name`, if any.
    pub fn parse(name: &str) -> Option<Restart> {
        Restart::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// What a run's leftover processes (those of the entry still alive when its main process has
/// ended) become: `"stop"` (stop signal, KILL after the stop timeout, before the run counts as
/// ended) or `"keep"` (left running, recorded on the entry until a stop, restart, rm or
/// shutdown ends them).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Leftovers {
    #[default]
    Stop,
    Keep,
}

impl Leftovers {
    /// Every value, as written in flags, wrangle.json and on the wire.
    pub const NAMES: &'static str = "stop or keep";

    pub fn parse(s: &str) -> Option<Leftovers> {
        match s {
            "stop" => Some(Leftovers::Stop),
            "keep" => Some(Leftovers::Keep),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Leftovers::Stop => "stop",
            Leftovers::Keep => "keep",
        }
    }
}

/// Restart delays: `initial_ms` × `factor`^n, at most `max_ms`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial_ms: u64,
    pub factor: f64,
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 1_000,
            factor: 2.0,
            max_ms: 60_000,
        }
    }
}

fn default_min_uptime_ms() -> u64 {
    10_000
}

fn default_stop_timeout_ms() -> u64 {
    5_000
}

/// A service declared in a services file (SPEC §4), resolved by the client: paths absolute,
/// environment complete, profiles merged over the base. The entry's name is `name`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// `PROJECT/NAME` (older versions saved the plain name and no project; see
    /// `crate::store::projects`).
    pub name: String,
    /// The project: the file's `"project"`, else its folder's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// The services file it came from (absolute path).
    pub file: String,
    /// The spec without a profile.
    pub base: Variant,
    /// Named overrides, each already merged over the base.
    #[serde(default)]
    pub profiles: BTreeMap<String, Variant>,
    /// Services (of the same file) that must be ready before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
    /// Restart it at the times of this 5-field cron expression (local time).
    #[serde(default)]
    pub cron_restart: Option<String>,
    /// Switch to another profile after a while untouched.
    #[serde(default)]
    pub idle_profile: Option<IdleProfile>,
}

/// One way to run a service: the base spec or a profile.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Variant {
    /// The process's spec (`name`, `tags`, `groups` set; `env` complete).
    pub spec: RunSpec,
    /// The environment the file declares (`env_file` then `env`): what `up` compares to decide
    /// whether the service changed (the rest of `spec.env` is inherited from the caller).
    #[serde(default)]
    pub declared_env: BTreeMap<String, String>,
    /// Run before each start; the old process keeps running until it succeeds.
    #[serde(default)]
    pub build: Option<BuildSpec>,
    /// When the service counts as ready (for `after`).
    #[serde(default)]
    pub ready: Ready,
    /// `wrangle logs` shows receive times by default.
    #[serde(default)]
    pub log_timestamps: bool,
}

/// A build command; it runs in the service's folder with the service's environment.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BuildSpec {
    /// The command and its arguments; with `shell`, one string run by `sh -c`.
    pub argv: Vec<String>,
    #[serde(default)]
    pub shell: bool,
}

/// What "ready" means: a log line matching `log`, a TCP port listened on by the service's
/// processes, both, or (neither) just running.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Ready {
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_ready_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for Ready {
    fn default() -> Self {
        Ready {
            log: None,
            port: None,
            timeout_ms: default_ready_timeout_ms(),
        }
    }
}

fn default_ready_timeout_ms() -> u64 {
    30_000
}

/// After `after_ms` with no command touching the service, restart it with `profile` (None:
/// the base spec).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct IdleProfile {
    pub after_ms: u64,
    #[serde(default)]
    pub profile: Option<String>,
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
#[derive(Serialize, Deserialize, Debug, Clone)]
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
