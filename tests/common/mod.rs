//! Shared helpers for the black-box tests: a private wrangle instance per test (its own
//! `WRANGLE_HOME` under a short temp folder), running the real binary with deadlines, polling
//! for conditions (never a fixed sleep), reading `/proc`, and a raw protocol client.
//!
//! Every instance is torn down by its `Drop`: `wrangle shutdown`, then, as a last resort,
//! `SIGKILL` for its daemon and for every process that still carries the instance's marker
//! variable in its environment.

#![allow(dead_code)]

pub mod man;
pub mod tmux;

use serde_json::Value;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wrangle");

/// Generous deadline for anything that should happen "soon" (CI is a loaded 2-core machine).
pub const SOON: Duration = Duration::from_secs(20);
/// Deadline for one CLI invocation that is expected to finish by itself.
pub const CMD_DEADLINE: Duration = Duration::from_secs(60);

/// Variable put in every command's environment (and so inherited by the daemon and by the
/// processes it runs without `--clear-env`) naming the instance's root: the last-resort cleanup
/// kills whatever still carries it.
pub const MARKER: &str = "WRANGLE_TEST_ROOT";

/// Variables that would make a test reach someone else's daemon or files.
const CLEARED: &[&str] = &[
    "WRANGLE_HOME",
    "WRANGLE_SOCKET",
    "WRANGLE_STATE_DIR",
    "WRANGLE_CONFIG",
    "XDG_RUNTIME_DIR",
    "WRANGLE_NO_AUTOSTART",
    "WRANGLE_AUTOSTART",
    "WRANGLE_ID",
    "WRANGLE_NAME",
];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn next_n() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A short, fresh, empty folder (Unix socket paths are limited to 107 bytes).
pub fn fresh_dir() -> PathBuf {
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 40 {
        base = PathBuf::from("/tmp");
    }
    let dir = base.join(format!("wt{}-{}", std::process::id(), next_n()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp folder");
    dir
}

/// A sleep duration (as the `sleep` argument) that no other test or run uses, so that the
/// process can be found in `/proc` by its exact argument.
pub fn unique_secs() -> String {
    format!("7{}{:04}", std::process::id(), next_n())
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
pub fn try_wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "output is not JSON ({e}): stdout {:?} stderr {:?}",
                self.text(),
                self.stderr
            )
        })
    }
}

fn exit_code(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Waits for `child` (stdout and stderr piped) with a deadline, collecting its output.
pub fn finish(mut child: Child, deadline: Duration, what: &str) -> Out {
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let end = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{what}` did not finish within {deadline:?}");
            }
            Err(e) => panic!("waiting for `{what}`: {e}"),
        }
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Out {
        code: exit_code(status),
        stdout,
        stderr,
    }
}

/// One private wrangle instance.
pub struct Wr {
    /// The test's scratch folder (removed at the end of a passing test).
    pub root: PathBuf,
    /// `WRANGLE_HOME`, if this instance uses one (`root/h`, created by wrangle itself).
    pub home: Option<PathBuf>,
    /// Extra environment for every command: `Some` sets, `None` removes.
    env: Vec<(String, Option<OsString>)>,
}

impl Wr {
    /// An instance with `WRANGLE_HOME=root/h` (the folder does not exist yet).
    pub fn new() -> Wr {
        let root = fresh_dir();
        let home = root.join("h");
        Wr {
            root,
            home: Some(home),
            env: Vec::new(),
        }
    }

    /// An instance without `WRANGLE_HOME`; `env` builds the variables from the root folder.
    pub fn custom(env: impl FnOnce(&Path) -> Vec<(&'static str, Option<OsString>)>) -> Wr {
        let root = fresh_dir();
        let env = env(&root)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Wr {
            root,
            home: None,
            env,
        }
    }

    /// Adds a variable to every later command of this instance.
    pub fn set_env(&mut self, k: &str, v: impl Into<OsString>) {
        self.env.push((k.to_string(), Some(v.into())));
    }

    /// The WRANGLE_HOME (panics for custom instances).
    pub fn home(&self) -> &Path {
        self.home
            .as_deref()
            .expect("this instance has a WRANGLE_HOME")
    }

    fn marker(&self) -> String {
        format!("{MARKER}={}", self.root.display())
    }

    /// A `wrangle ARGS` command with this instance's environment, run in `root`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        for v in CLEARED {
            c.env_remove(v);
        }
        c.env(MARKER, &self.root);
        if let Some(h) = &self.home {
            c.env("WRANGLE_HOME", h);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.current_dir(&self.root).stdin(Stdio::null());
        c
    }

    /// Runs `wrangle ARGS` to the end (with a deadline).
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_within(args, CMD_DEADLINE)
    }

    pub fn run_within(&self, args: &[&str], deadline: Duration) -> Out {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wrangle");
        finish(child, deadline, &format!("wrangle {}", args.join(" ")))
    }

    /// Runs `wrangle ARGS` and asserts it succeeded.
    pub fn ok(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_eq!(
            o.code,
            0,
            "`wrangle {}` failed: stdout {:?} stderr {:?}",
            args.join(" "),
            o.text(),
            o.stderr
        );
        o
    }

    /// Runs `wrangle ARGS` and asserts its exit status.
    pub fn code(&self, args: &[&str], want: i32) -> Out {
        let o = self.run(args);
        assert_eq!(
            o.code,
            want,
            "`wrangle {}`: stdout {:?} stderr {:?}",
            args.join(" "),
            o.text(),
            o.stderr
        );
        o
    }

    /// `wrangle run --json ARGS`: the new entry.
    pub fn start(&self, args: &[&str]) -> Value {
        let mut a = vec!["run", "--json"];
        a.extend_from_slice(args);
        self.ok(&a).json()
    }

    /// `wrangle ls --json`.
    pub fn ls(&self) -> Vec<Value> {
        match self.ok(&["ls", "--json"]).json() {
            Value::Array(v) => v,
            other => panic!("ls --json is not an array: {other}"),
        }
    }

    /// `wrangle status --json SEL`: the one entry.
    pub fn status(&self, sel: &str) -> Value {
        let v = self.ok(&["status", "--json", sel]).json();
        let arr = v.as_array().expect("status --json is an array");
        assert_eq!(arr.len(), 1, "status {sel}: {v}");
        arr[0].clone()
    }

    /// The state of one entry.
    pub fn state(&self, sel: &str) -> String {
        self.status(sel)["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `wrangle logs SEL -n 1000000 [EXTRA]` as bytes.
    pub fn logs(&self, sel: &str, extra: &[&str]) -> Vec<u8> {
        let mut a = vec!["logs", sel, "-n", "1000000"];
        a.extend_from_slice(extra);
        self.ok(&a).stdout
    }

    pub fn logs_text(&self, sel: &str) -> String {
        String::from_utf8_lossy(&self.logs(sel, &[])).into_owned()
    }

    /// Waits until the entry's log contains `needle`.
    pub fn wait_log(&self, sel: &str, needle: &str) {
        wait_until(
            &format!("the log of {sel} contains {needle:?}"),
            SOON,
            || self.logs_text(sel).contains(needle),
        );
    }

    /// The daemon's pid from `wrangle ping --json` (None if no daemon answers).
    pub fn daemon_pid(&self) -> Option<i32> {
        let o = self.run_within(&["ping", "--json"], Duration::from_secs(20));
        if o.code != 0 {
            return None;
        }
        serde_json::from_slice::<Value>(&o.stdout)
            .ok()?
            .get("pid")?
            .as_i64()
            .map(|p| p as i32)
    }

    /// The socket path the daemon reports.
    pub fn socket(&self) -> PathBuf {
        let v = self.ok(&["ping", "--json"]).json();
        PathBuf::from(v["socket"].as_str().expect("ping reports its socket"))
    }

    /// Live processes carrying this instance's marker in their environment.
    pub fn marked_pids(&self) -> Vec<i32> {
        let m = self.marker().into_bytes();
        pids()
            .into_iter()
            .filter(|&p| p != std::process::id() as i32 && alive(p))
            .filter(|&p| environ(p).contains(&m))
            .collect()
    }

    /// Live `wrangle ... daemon ...` processes of this instance.
    pub fn daemon_pids(&self) -> Vec<i32> {
        self.marked_pids()
            .into_iter()
            .filter(|&p| is_wrangle_daemon(p))
            .collect()
    }
}

impl Default for Wr {
    fn default() -> Self {
        Wr::new()
    }
}

impl Drop for Wr {
    fn drop(&mut self) {
        let pid = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.daemon_pid()))
            .ok()
            .flatten();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_within(&["shutdown"], Duration::from_secs(40))
        }));
        if let Some(pid) = pid {
            let end = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Last resort: the daemon (found by ping or by /proc) and anything it left behind.
        let mut left: Vec<i32> = self.marked_pids();
        left.extend(pid.filter(|&p| alive(p) && is_wrangle_daemon(p)));
        for p in left {
            kill(p, libc::SIGKILL);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            eprintln!("kept {} for inspection", self.root.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// Every pid in /proc.
pub fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `(state, ppid)` from /proc/PID/stat.
pub fn stat(pid: i32) -> Option<(u8, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    let state = *f.next()?.as_bytes().first()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((s, _)) if s != b'Z' && s != b'X')
}

/// The argv of `pid` (empty for zombies and vanished processes).
pub fn cmdline(pid: i32) -> Vec<Vec<u8>> {
    split_nul(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
}

/// The environment of `pid` as `K=V` byte strings.
pub fn environ(pid: i32) -> Vec<Vec<u8>> {
    split_nul(std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
}

fn split_nul(v: Vec<u8>) -> Vec<Vec<u8>> {
    v.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether `pid` runs the wrangle binary with the `daemon` subcommand.
/// A wrangle keeper (the process that holds the daemon's runs across its restarts).
pub fn is_keeper(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "wrangle-keeper")
}

pub fn is_wrangle_daemon(pid: i32) -> bool {
    let argv = cmdline(pid);
    let Some(first) = argv.first() else {
        return false;
    };
    let exe = Path::new(std::ffi::OsStr::new(
        std::str::from_utf8(first).unwrap_or_default(),
    ));
    exe.file_name().is_some_and(|n| n == "wrangle") && argv.iter().any(|a| a == b"daemon")
}

/// Live processes whose argv is exactly `argv` (so a process is found only once it has
/// exec'd, not while a wrapper such as `setsid` still carries the same arguments).
pub fn procs_with_argv(argv: &[&str]) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|&p| {
            let a = cmdline(p);
            a.len() == argv.len() && a.iter().zip(argv).all(|(x, y)| x == y.as_bytes())
        })
        .filter(|&p| alive(p))
        .collect()
}

/// Live processes with an argument exactly equal to `arg`.
pub fn procs_with_arg(arg: &str) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|&p| cmdline(p).iter().skip(1).any(|a| a == arg.as_bytes()))
        .filter(|&p| alive(p))
        .collect()
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: sending a signal has no memory effects on this process.
    unsafe {
        libc::kill(pid, sig);
    }
}

// ---------------------------------------------------------------------------------------------
// A process whose output is collected in the background (e.g. `wrangle logs -f`).

pub struct Bg {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Bg {
    pub fn spawn(mut cmd: Command) -> Bg {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a background command");
        let mut so = child.stdout.take().expect("piped stdout");
        let out = Arc::new(Mutex::new(Vec::new()));
        let o2 = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match so.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => o2.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Bg {
            child,
            out,
            reader: Some(reader),
        }
    }

    /// Everything read so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&self, needle: &str) {
        wait_until(
            &format!("background output contains {needle:?}"),
            SOON,
            || self.output().contains(needle),
        );
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// A raw protocol client (wrangle-protocol(7)).

pub const HELLO: u8 = 1;
pub const WELCOME: u8 = 2;
pub const REQUEST: u8 = 3;
pub const RESPONSE: u8 = 4;
pub const ERROR: u8 = 5;
pub const EVENT: u8 = 6;
pub const DATA: u8 = 7;

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub chan: u8,
    pub id: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("frame payload is not JSON ({e}): {self:?}"))
    }

    /// The `code` of an ERROR frame.
    pub fn code(&self) -> String {
        assert_eq!(self.kind, ERROR, "expected an ERROR frame: {self:?}");
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

pub fn encode(kind: u8, chan: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + payload.len());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.push(kind);
    v.push(chan);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub struct Raw {
    pub s: UnixStream,
}

impl Raw {
    pub fn connect(socket: &Path) -> Raw {
        let s = UnixStream::connect(socket).expect("connect to the daemon's socket");
        s.set_read_timeout(Some(SOON)).expect("read timeout");
        s.set_write_timeout(Some(SOON)).expect("write timeout");
        Raw { s }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write to the daemon");
    }

    pub fn send(&mut self, kind: u8, chan: u8, id: u32, payload: &[u8]) {
        self.send_raw(&encode(kind, chan, id, payload));
    }

    /// Sends HELLO and expects WELCOME; returns its JSON.
    pub fn hello(&mut self) -> Value {
        self.send(HELLO, 0, 0, br#"{"versions":[1],"client":"test"}"#);
        let f = self.read().expect("an answer to HELLO");
        assert_eq!(f.kind, WELCOME, "expected WELCOME: {f:?}");
        f.json()
    }

    /// The next frame; None at end of stream. Panics on a read timeout.
    pub fn read(&mut self) -> Option<Frame> {
        let mut h = [0u8; 12];
        if !self.read_exact_or_eof(&mut h) {
            return None;
        }
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        assert!(len <= 4 << 20, "daemon sent a frame of {len} bytes");
        let mut payload = vec![0u8; len];
        assert!(
            self.read_exact_or_eof(&mut payload),
            "daemon closed in the middle of a frame"
        );
        Some(Frame {
            kind: h[4],
            chan: h[5],
            id: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            payload,
        })
    }

    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> bool {
        let mut got = 0;
        while got < buf.len() {
            match self.s.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return false,
                Ok(0) => panic!("daemon closed in the middle of a frame"),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A peer that closes with our unread data may reset the connection.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got == 0 => {
                    return false
                }
                Err(e) => panic!("reading from the daemon: {e}"),
            }
        }
        true
    }

    /// Sends a REQUEST and returns the final answer with the same id (skipping others).
    pub fn request(&mut self, id: u32, json: &str) -> Frame {
        self.send(REQUEST, 0, id, json.as_bytes());
        loop {
            let f = self.read().expect("an answer to the request");
            if f.id == id && (f.kind == RESPONSE || f.kind == ERROR) {
                return f;
            }
        }
    }

    /// Expects an ERROR frame with `code` and then the end of the connection; returns the
    /// ERROR frame.
    pub fn expect_error_then_close(&mut self, code: &str) -> Frame {
        let f = self.read().expect("an ERROR frame before the close");
        assert_eq!(f.kind, ERROR, "{f:?}");
        assert_eq!(f.code(), code, "{:?}", f.json());
        let next = self.read();
        assert!(next.is_none(), "connection should be closed, got {next:?}");
        f
    }
}

/// The entries a stopped daemon saved in `home` (its snapshot, then its journals in order),
/// as (id, JSON), and the next id. Lines are `CRC BODY`; bodies `E ID JSON`, `R ID`, `N ID`.
pub fn saved_entries(home: &Path) -> (std::collections::BTreeMap<u64, String>, u64) {
    let mut files = vec![home.join("registry.snapshot")];
    let mut journals: Vec<(u64, PathBuf)> = std::fs::read_dir(home)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let gen = e
                    .file_name()
                    .to_str()?
                    .strip_prefix("registry.journal.")?
                    .parse()
                    .ok()?;
                Some((gen, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    journals.sort();
    files.extend(journals.into_iter().map(|(_, p)| p));
    let mut entries = std::collections::BTreeMap::new();
    let mut next_id = 1;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines() {
            let body = line.split_once(' ').map(|(_, b)| b).unwrap_or("");
            let (kind, rest) = body.split_once(' ').unwrap_or(("", ""));
            match kind {
                "E" => {
                    let (id, json) = rest.split_once(' ').expect("E ID JSON");
                    entries.insert(id.parse().expect("an id"), json.to_string());
                }
                "R" => {
                    entries.remove(&rest.parse::<u64>().expect("an id"));
                }
                "N" => next_id = rest.parse().expect("a next id"),
                _ => {}
            }
        }
    }
    (entries, next_id)
}

/// Rewrites what a stopped daemon saved in `home` as an older wrangle would have left it:
/// `registry.json` and one `entries/ID.json` per entry; `edit` may change each entry's JSON.
pub fn downgrade(home: &Path, edit: impl Fn(String) -> String) {
    let (entries, next_id) = saved_entries(home);
    let dir = home.join("entries");
    std::fs::create_dir_all(&dir).expect("create entries/");
    for (id, json) in entries {
        std::fs::write(dir.join(format!("{id}.json")), edit(json)).expect("write an entry");
    }
    std::fs::write(
        home.join("registry.json"),
        format!("{{\"version\":2,\"next_id\":{next_id}}}"),
    )
    .expect("write registry.json");
    for e in std::fs::read_dir(home)
        .expect("read the state folder")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "registry.snapshot" || name.starts_with("registry.journal.") {
            std::fs::remove_file(e.path()).expect("remove a new-layout file");
        }
    }
}
