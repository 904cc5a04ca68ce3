//! What an entry runs: the run specification a client sends (`RunSpec`: command, folder,
//! environment, input and output, restart policy, stop, logs) and the service declarations
//! `up` applies (`ServiceSpec` with its variants, build step, readiness and idle profile).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
