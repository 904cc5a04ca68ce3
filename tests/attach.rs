//! Black-box tests of talking to processes: terminals (`--pty`, `--size`, `resize`), `attach`
//! (typing, Ctrl-C, detaching, re-attaching, several clients, a client that stops reading,
//! the local terminal restored however the session ends), `send` (text, raw bytes, end of
//! input), `run --wait` / `run --attach`, and the `--stdin` / `--stdout` / `--stderr` modes.
//!
//! Interactive sessions run the real `wrangle attach` on a pseudo-terminal this file opens
//! itself (see [`Term`]): the test types into the master side and reads what the client shows,
//! and can look at the terminal's modes from the slave side. No tmux or other tool is needed.
//! As everywhere in these tests: a private `WRANGLE_HOME` per test, no fixed sleeps (every wait
//! polls a condition with a generous deadline), and the daemon is shut down at the end of each
//! test even when it fails (`common::Wr`'s `Drop`).

mod common;

use common::*;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers

/// The id of the entry `sel`.
fn id_of(wr: &Wr, sel: &str) -> u64 {
    wr.status(sel)["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("status of {sel} has an id"))
}

/// The log file of run `run` of entry `sel`.
fn log_file(wr: &Wr, sel: &str, run: u32) -> PathBuf {
    wr.home()
        .join("logs")
        .join(id_of(wr, sel).to_string())
        .join(format!("{run}.log"))
}

fn file_text(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Waits until `wrangle wait SEL` says the entry ended; returns its exit status.
fn wait_end(wr: &Wr, sel: &str) -> i32 {
    wr.run_within(&["wait", sel, "--timeout", "20s"], CMD_DEADLINE)
        .code
}

/// A child's exit status within `timeout` (128+N for signal N); kills it and panics after.
fn exit_within(child: &mut Child, timeout: Duration, what: &str) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not end within {timeout:?}");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Peak resident memory of `pid` in KiB (VmHWM).
fn peak_rss_kib(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal for the client under test.

/// A terminal's modes, comparable.
#[derive(PartialEq, Eq, Clone)]
struct Modes {
    iflag: libc::tcflag_t,
    oflag: libc::tcflag_t,
    cflag: libc::tcflag_t,
    lflag: libc::tcflag_t,
    cc: Vec<libc::cc_t>,
}

impl std::fmt::Debug for Modes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "iflag {:o} oflag {:o} cflag {:o} lflag {:o} cc {:?}",
            self.iflag, self.oflag, self.cflag, self.lflag, self.cc
        )
    }
}

impl Modes {
    fn of(fd: RawFd) -> Modes {
        // SAFETY: termios is plain data, filled in by tcgetattr on a valid descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::tcgetattr(fd, &mut t) };
        assert_eq!(r, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        Modes {
            iflag: t.c_iflag,
            oflag: t.c_oflag,
            cflag: t.c_cflag,
            lflag: t.c_lflag,
            cc: t.c_cc.to_vec(),
        }
    }

    /// Raw mode as a terminal client sets it: no line editing, no echo, no signal keys.
    fn is_raw(&self) -> bool {
        self.lflag & (libc::ICANON | libc::ECHO | libc::ISIG) == 0
    }
}

fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

/// `wrangle ARGS` running on a fresh pseudo-terminal of its own (its controlling terminal,
/// in its own session), as if a user ran it in a terminal window.
struct Term {
    master: File,
    /// Kept open so the terminal's modes can be read even after the client is gone.
    slave: File,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    /// The terminal's modes before the client started.
    before: Modes,
    what: String,
}

impl Term {
    fn spawn(wr: &Wr, args: &[&str]) -> Term {
        Term::spawn_sized(wr, args, 30, 100)
    }

    fn spawn_sized(wr: &Wr, args: &[&str], rows: u16, cols: u16) -> Term {
        let master = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ptmx")
            .expect("open /dev/ptmx");
        let mfd = master.as_raw_fd();
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: plain calls on a valid master descriptor; `name` is a writable buffer of the
        // length given, which ptsname_r NUL-terminates.
        let path = unsafe {
            assert_eq!(libc::grantpt(mfd), 0, "grantpt");
            assert_eq!(libc::unlockpt(mfd), 0, "unlockpt");
            assert_eq!(libc::ptsname_r(mfd, name.as_mut_ptr(), name.len()), 0);
            std::ffi::CStr::from_ptr(name.as_ptr())
                .to_str()
                .expect("a UTF-8 terminal name")
                .to_string()
        };
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        set_winsize(mfd, rows, cols);
        let before = Modes::of(slave.as_raw_fd());

        let mut cmd = wr.cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave.try_clone().expect("dup")))
            .env("TERM", "xterm");
        // SAFETY: runs in the forked child before exec; only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn wrangle on a terminal");

        let out = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut rd = master.try_clone().expect("dup the master");
        let (o2, s2) = (Arc::clone(&out), Arc::clone(&stop));
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                // Once told to stop (the client has ended), read what is left and no more: a
                // zero-timeout poll on the master first pushes the terminal's pending output
                // through, so everything the client wrote before it exited is read.
                let stopping = s2.load(Ordering::SeqCst);
                let mut p = libc::pollfd {
                    fd: rd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd. (The timeout only lets the thread see `stop`.)
                let n = unsafe { libc::poll(&mut p, 1, if stopping { 0 } else { 50 }) };
                if n <= 0 {
                    if stopping {
                        break;
                    }
                    continue;
                }
                match rd.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => o2.lock().unwrap().extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Term {
            master,
            slave,
            child,
            out,
            stop,
            reader: Some(reader),
            before,
            what: format!("`wrangle {}` on a terminal", args.join(" ")),
        }
    }

    /// Everything the client showed so far.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, needle: &str) {
        let ok = try_wait_until(SOON, || self.screen().contains(needle));
        assert!(
            ok,
            "{} never showed {needle:?}; it showed {:?}",
            self.what,
            self.screen()
        );
    }

    /// Types `bytes` (as a user would, in one go).
    fn type_in(&self, bytes: &[u8]) {
        (&self.master)
            .write_all(bytes)
            .expect("write to the terminal");
    }

    fn modes(&self) -> Modes {
        Modes::of(self.slave.as_raw_fd())
    }

    /// Waits until the client has put the terminal in raw mode (so it is reading keys: typing
    /// before that would be flushed away by its mode change).
    fn wait_raw(&mut self) {
        let ok = try_wait_until(SOON, || {
            self.modes().is_raw() || !matches!(self.child.try_wait(), Ok(None))
        });
        assert!(
            ok && self.modes().is_raw(),
            "{} did not put its terminal in raw mode (modes {:?}); it showed {:?}",
            self.what,
            self.modes(),
            self.screen()
        );
    }

    fn resize(&self, rows: u16, cols: u16) {
        set_winsize(self.master.as_raw_fd(), rows, cols);
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The client's exit status, once everything it showed has been read: the output it
    /// wrote just before exiting (such as its "detached" notice) may still be on its way
    /// through the terminal when it has already ended.
    fn exit(&mut self) -> i32 {
        let what = self.what.clone();
        let code = exit_within(&mut self.child, SOON, &what);
        self.finish_reading();
        code
    }

    /// Reads what is left on the terminal and stops reading.
    fn finish_reading(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            r.join().expect("the terminal reader thread");
        }
    }

    /// Asserts the terminal's modes are what they were before the client started.
    fn assert_restored(&self, how: &str) {
        let now = self.modes();
        assert_eq!(
            now,
            self.before,
            "the terminal was not restored after {how}; the client showed {:?}",
            self.screen()
        );
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// An instance with its daemon already up (so no daemon is ever started from inside a test
/// terminal) and an interactive shell entry `sh` on a terminal.
fn with_shell() -> Wr {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "sh",
        "--pty",
        "--",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    wr
}

// 1. A terminal of the given size -------------------------------------------------------------

#[test]
fn pty_entry_runs_on_a_terminal_of_the_given_size() {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "t",
        "--pty",
        "--size",
        "30x100",
        "--",
        "sh",
        "-c",
        "tty; stty size; test -t 0 && test -t 1 && test -t 2 && echo all-ttys",
    ]);
    assert_eq!(wait_end(&wr, "t"), 0, "log: {:?}", wr.logs_text("t"));
    wr.wait_log("t", "all-ttys");
    let log = wr.logs_text("t");
    assert!(
        log.contains("/dev/pts/"),
        "tty names a /dev/pts path: {log:?}"
    );
    assert!(log.contains("30 100"), "stty size shows 30 100: {log:?}");

    // Without --size: 24x80.
    wr.ok(&["run", "--name", "d", "--pty", "--", "sh", "-c", "stty size"]);
    assert_eq!(wait_end(&wr, "d"), 0);
    wr.wait_log("d", "24 80");

    // --size without --pty, and a bad size, are usage errors.
    let o = wr.code(&["run", "--size", "30x100", "--", "true"], 2);
    assert!(o.stderr.contains("--pty"), "{:?}", o.stderr);
    let o = wr.code(&["run", "--pty", "--size", "0x100", "--", "true"], 2);
    assert!(o.stderr.contains("0x100"), "{:?}", o.stderr);
}

#[test]
fn a_terminal_entry_stops_with_hup_by_default() {
    let wr = Wr::new();
    // An interactive shell ignores TERM; closing its terminal (HUP) ends it.
    wr.ok(&[
        "run",
        "--name",
        "sh",
        "--pty",
        "--stop-timeout",
        "30s",
        "--env",
        "PS1=wr-prompt> ",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
    ]);
    wr.wait_log("sh", "wr-prompt> ");
    let s = wr.status("sh");
    assert_eq!(
        s["stop_signal"],
        libc_sighup(),
        "status shows the effective signal: {s}"
    );
    let text = wr.ok(&["status", "sh"]).text();
    assert!(text.contains("HUP, KILL after 30s"), "{text}");
    let t0 = Instant::now();
    wr.ok(&["stop", "sh"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "stopping an interactive shell took {took:?}: it waited for the KILL"
    );
    let s = wr.status("sh");
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(
        s["exit_signal"],
        libc_sighup(),
        "it ended by HUP, not KILL: {s}"
    );
    let events: Vec<String> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["kind"], e["message"]))
        .collect();
    assert!(
        events.iter().any(|e| e.contains("stopping with HUP")),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.contains("killing") || e.contains("killed")),
        "{events:?}"
    );

    // The user's choice stands, with or without a terminal.
    wr.ok(&[
        "run",
        "--name",
        "term",
        "--pty",
        "--stop-signal",
        "TERM",
        "--",
        "sleep",
        &unique_secs(),
    ]);
    assert_eq!(wr.status("term")["stop_signal"], 15);
    wr.ok(&["run", "--name", "plain", "--", "sleep", &unique_secs()]);
    assert_eq!(wr.status("plain")["stop_signal"], 15);
}

/// SIGHUP's number on Linux.
fn libc_sighup() -> i64 {
    1
}

// 2. Resizing ----------------------------------------------------------------------------------

const WINCH: &str = r#"trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done"#;

#[test]
fn resize_reaches_the_process_and_needs_a_terminal() {
    let wr = Wr::new();
    wr.ok(&["run", "--name", "w", "--pty", "--", "sh", "-c", WINCH]);
    wr.wait_log("w", "ready");
    wr.ok(&["resize", "w", "40x120"]);
    wr.wait_log("w", "40 120");
    wr.ok(&["resize", "w", "41X121"]);
    wr.wait_log("w", "41 121");

    // A bad size is a usage error; the entry is untouched.
    let o = wr.code(&["resize", "w", "0x5"], 2);
    assert!(o.stderr.contains("0x5"), "{:?}", o.stderr);
    wr.code(&["resize", "w", "40"], 2);
    wr.code(&["resize", "nosuch", "40x120"], 3);

    // An entry without a terminal: exit 1, saying why.
    wr.ok(&["run", "--name", "plain", "--", "sleep", &unique_secs()]);
    let o = wr.code(&["resize", "plain", "40x120"], 1);
    assert!(
        o.stderr.contains("--pty") && o.stderr.contains("plain"),
        "resize of a non-terminal entry names it and --pty: {:?}",
        o.stderr
    );
    assert_eq!(wr.state("w"), "running");
}

#[test]
fn attach_gives_its_size_and_forwards_resizes() {
    let wr = Wr::new();
    wr.ok(&["run", "--name", "w", "--pty", "--", "sh", "-c", WINCH]);
    wr.wait_log("w", "ready");
    // Attaching from a 33x111 terminal sets the entry's size to it.
    let mut t = Term::spawn_sized(&wr, &["attach", "w"], 33, 111);
    t.wait_raw();
    t.wait_for("33 111");
    // Resizing the user's terminal resizes the entry's.
    t.resize(35, 115);
    t.wait_for("35 115");
    wr.wait_log("w", "35 115");
    assert!(t.running(), "attach ended: {:?}", t.screen());
    t.type_in(b"\x1c");
    assert_eq!(t.exit(), 0, "detach exits 0: {:?}", t.screen());
}

// 3. Typing into an attached shell ------------------------------------------------------------

#[test]
fn typing_into_an_attached_shell_runs_commands() {
    let wr = with_shell();
    let mut t = Term::spawn(&wr, &["attach", "sh"]);
    t.wait_raw();
    t.type_in(b"echo hello-$((6*7))\r");
    t.wait_for("hello-42");
    wr.wait_log("sh", "hello-42");
    // A second command in the same shell (state kept between lines).
    t.type_in(b"X=abc; echo got-${X}-$((1+2))\r");
    t.wait_for("got-abc-3");
    assert!(t.running(), "{:?}", t.screen());
    t.type_in(b"\x1c");
    assert_eq!(t.exit(), 0);
    assert_eq!(wr.state("sh"), "running");
}

// 4. Ctrl-C reaches the process, not the client -----------------------------------------------

#[test]
fn ctrl_c_interrupts_the_foreground_job_and_the_shell_lives_on() {
    let wr = with_shell();
    let mut t = Term::spawn(&wr, &["attach", "sh"]);
    t.wait_raw();
    let secs = unique_secs();
    t.type_in(format!("sleep {secs}\r").as_bytes());
    wait_until("the sleep started in the shell", SOON, || {
        !procs_with_argv(&["sleep", &secs]).is_empty()
    });
    t.type_in(b"\x03");
    wait_until("Ctrl-C ended the sleep", SOON, || {
        procs_with_argv(&["sleep", &secs]).is_empty()
    });
    t.type_in(b"echo alive-$((1+1))\r");
    t.wait_for("alive-2");
    assert!(
        t.running(),
        "Ctrl-C must not end the attach client: {:?}",
        t.screen()
    );
    assert_eq!(wr.state("sh"), "running");
    t.type_in(b"\x1c");
    assert_eq!(t.exit(), 0);
}

// 5. Detach and re-attach ---------------------------------------------------------------------

#[test]
fn detach_keeps_it_running_and_reattach_shows_earlier_output() {
    let wr = with_shell();
    let mut t = Term::spawn(&wr, &["attach", "sh"]);
    t.wait_raw();
    t.type_in(b"echo before-$((2*3))\r");
    t.wait_for("before-6");
    t.type_in(b"\x1c");
    assert_eq!(
        t.exit(),
        0,
        "detaching with Ctrl-\\ exits 0: {:?}",
        t.screen()
    );
    t.assert_restored("detaching with Ctrl-\\");
    assert!(t.screen().contains("detached"), "{:?}", t.screen());
    assert_eq!(wr.state("sh"), "running");
    drop(t);

    // Again: the earlier output is replayed before anything new is typed.
    let mut t = Term::spawn(&wr, &["attach", "sh"]);
    t.wait_for("before-6");
    t.wait_raw();
    t.type_in(b"echo second-$((3*3))\r");
    t.wait_for("second-9");
    // Enter ~ . detaches too (typed one key at a time).
    for k in [&b"\r"[..], b"~", b"."] {
        t.type_in(k);
    }
    assert_eq!(
        t.exit(),
        0,
        "detaching with Enter ~ . exits 0: {:?}",
        t.screen()
    );
    t.assert_restored("detaching with Enter ~ .");
    assert_eq!(wr.state("sh"), "running");
    drop(t);

    // And once more: both earlier outputs are there, and the shell still answers.
    let mut t = Term::spawn(&wr, &["attach", "sh"]);
    t.wait_for("second-9");
    assert!(t.screen().contains("before-6"), "{:?}", t.screen());
    t.wait_raw();
    t.type_in(b"echo third-$((4*4))\r");
    t.wait_for("third-16");
    t.type_in(b"\x1c");
    assert_eq!(t.exit(), 0);
}

#[test]
fn a_different_detach_key_and_none() {
    let wr = with_shell();
    let mut t = Term::spawn(&wr, &["attach", "--detach-key", "ctrl-a", "sh"]);
    t.wait_raw();
    // Ctrl-\ is now an ordinary key (sent to the shell, which ignores it at the prompt).
    t.type_in(b"\x1c");
    t.type_in(b"echo k-$((5+5))\r");
    t.wait_for("k-10");
    assert!(t.running(), "Ctrl-\\ detached despite --detach-key ctrl-a");
    t.type_in(b"\x01");
    assert_eq!(t.exit(), 0);
    t.assert_restored("detaching with ctrl-a");
    let o = wr.code(&["attach", "--detach-key", "f1", "sh"], 2);
    assert!(o.stderr.contains("f1"), "{:?}", o.stderr);
}

// 6. Several clients see the same bytes -------------------------------------------------------

#[test]
fn two_attached_clients_receive_identical_bytes() {
    let wr = Wr::new();
    let go = wr.root.join("go");
    let script = format!(
        "echo waiting; while [ ! -e '{}' ]; do sleep 0.02; done; seq 1 2000; exit 5",
        go.display()
    );
    wr.ok(&["run", "--name", "gen", "--", "sh", "-c", &script]);
    let files: Vec<PathBuf> = (0..2).map(|i| wr.root.join(format!("a{i}.out"))).collect();
    let mut clients: Vec<Child> = files
        .iter()
        .map(|f| {
            wr.cmd(&["attach", "--read-only", "gen"])
                .stdout(File::create(f).expect("create an output file"))
                .stderr(File::create(f.with_extension("err")).expect("create an error file"))
                .spawn()
                .expect("spawn attach")
        })
        .collect();
    // Both are attached once the replay of "waiting" reached them.
    for f in &files {
        wait_until(&format!("{} shows the replay", f.display()), SOON, || {
            file_text(f).contains("waiting\n")
        });
    }
    File::create(&go).expect("create the trigger");
    for (c, f) in clients.iter_mut().zip(&files) {
        assert_eq!(
            exit_within(c, SOON, "attach --read-only"),
            5,
            "attach exits with the process's code; it said {:?}",
            file_text(&f.with_extension("err"))
        );
    }
    let mut want = String::from("waiting\n");
    for i in 1..=2000 {
        want.push_str(&format!("{i}\n"));
    }
    let a = std::fs::read(&files[0]).unwrap();
    let b = std::fs::read(&files[1]).unwrap();
    assert!(a == b, "the two clients saw different bytes");
    assert_eq!(String::from_utf8_lossy(&a), want);
}

// 7. A client that stops reading --------------------------------------------------------------

#[test]
fn a_stalled_client_blocks_neither_the_process_nor_the_daemon() {
    const TOTAL: u64 = 100_000_000;
    let wr = Wr::new();
    let go = wr.root.join("go");
    let end = wr.root.join("end");
    let script = format!(
        "echo ready; while [ ! -e '{go}' ]; do sleep 0.02; done; head -c {TOTAL} /dev/zero; \
         while [ ! -e '{end}' ]; do sleep 0.02; done",
        go = go.display(),
        end = end.display()
    );
    wr.ok(&[
        "run",
        "--name",
        "big",
        "--log-max-size",
        "0",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    wr.wait_log("big", "ready");
    let err_file = wr.root.join("client.err");
    let mut client = wr
        .cmd(&["attach", "--read-only", "big"])
        .stdout(Stdio::piped())
        .stderr(File::create(&err_file).unwrap())
        .spawn()
        .expect("spawn attach");
    let mut pipe = client.stdout.take().unwrap();
    // Read the replay (so the client is surely attached), then stop reading.
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"ready\n") {
        let n = pipe.read(&mut buf).expect("read the client's output");
        assert!(n > 0, "the client ended early");
        got.extend_from_slice(&buf[..n]);
    }
    let head = got.len() as u64;
    File::create(&go).unwrap();

    let log = log_file(&wr, "big", 1);
    let want = 6 + TOTAL;
    let ok = try_wait_until(Duration::from_secs(120), || file_len(&log) >= want);
    assert!(
        ok,
        "the log reached only {} of {want} bytes with a client not reading",
        file_len(&log)
    );
    // The daemon answers while the client is still stalled, and did not buffer the output.
    assert!(matches!(client.try_wait(), Ok(None)), "the client ended");
    let daemon = wr
        .daemon_pid()
        .expect("ping answers while a client is stalled");
    let peak = peak_rss_kib(daemon);
    assert!(
        peak < 64 * 1024,
        "the daemon's memory peaked at {peak} KiB for {TOTAL} bytes to a stalled client"
    );
    File::create(&end).unwrap();
    assert_eq!(wait_end(&wr, "big"), 0);
    assert_eq!(file_len(&log), want, "the log has every byte, once");

    // The client, read again, catches up: every byte is either shown or reported as skipped.
    let mut rest = Vec::new();
    pipe.read_to_end(&mut rest).expect("read the rest");
    assert_eq!(exit_within(&mut client, SOON, "the stalled client"), 0);
    let err = file_text(&err_file);
    let skipped: u64 = err
        .split('[')
        .filter_map(|s| s.split_once(" bytes skipped"))
        .filter_map(|(n, _)| n.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let shown = head + rest.len() as u64;
    assert!(
        skipped > 0,
        "a stalled client is told it missed output: {err:?}"
    );
    assert!(
        rest.iter().all(|&b| b == 0),
        "the client showed bytes the process did not write"
    );
    assert_eq!(
        shown + skipped,
        want,
        "shown {shown} + skipped {skipped} bytes should account for all output; stderr {err:?}"
    );
}

// 8. send and --stdin stream ------------------------------------------------------------------

#[test]
fn send_feeds_a_stream_and_eof_ends_it() {
    let wr = Wr::new();
    // bc when present; otherwise a shell calculator reading lines the same way.
    let calc: Vec<&str> = if Path::new("/usr/bin/bc").exists() || Path::new("/bin/bc").exists() {
        vec!["bc", "-q"]
    } else {
        vec!["sh", "-c", "while read -r l; do echo $(($l)); done"]
    };
    let mut a = vec!["run", "--name", "calc", "--stdin", "stream", "--"];
    a.extend(&calc);
    wr.ok(&a);
    wr.ok(&["send", "calc", "6*7"]);
    wr.wait_log("calc", "42");
    // Several words are joined by spaces; -n sends no newline (completed by the next send).
    wr.ok(&["send", "calc", "1", "+", "100"]);
    wr.wait_log("calc", "101");
    wr.ok(&["send", "-n", "calc", "2*"]);
    wr.ok(&["send", "calc", "500"]);
    wr.wait_log("calc", "1000");
    // End of input: the calculator exits 0.
    let o = wr
        .cmd(&["send", "calc", "--eof"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = finish(o, CMD_DEADLINE, "send calc --eof </dev/null");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(wait_end(&wr, "calc"), 0, "log {:?}", wr.logs_text("calc"));
    // Sending to an ended entry fails.
    let o = wr.code(&["send", "calc", "1"], 1);
    assert!(o.stderr.contains("calc"), "{:?}", o.stderr);
    wr.code(&["send", "nosuch", "1"], 3);
}

#[test]
fn send_after_eof_or_without_a_stream_is_an_error() {
    let wr = Wr::new();
    let secs = unique_secs();
    let script = format!("cat; echo got-eof; exec sleep {secs}");
    wr.ok(&[
        "run", "--name", "c", "--stdin", "stream", "--", "sh", "-c", &script,
    ]);
    wr.ok(&["send", "c", "--eof", "last-line"]);
    wr.wait_log("c", "last-line");
    wr.wait_log("c", "got-eof");
    assert_eq!(wr.state("c"), "running");
    let o = wr.code(&["send", "c", "more"], 1);
    assert!(
        o.stderr.contains("closed"),
        "writing after EOF says the input is closed: {:?}",
        o.stderr
    );
    assert!(!wr.logs_text("c").contains("more"));

    // Default stdin (null): an error naming --stdin stream.
    wr.ok(&["run", "--name", "n", "--", "sleep", &unique_secs()]);
    let o = wr.code(&["send", "n", "hello"], 1);
    assert!(
        o.stderr.contains("--stdin stream"),
        "send to an entry without input names --stdin stream: {:?}",
        o.stderr
    );
    // No text and a terminal as stdin (and no --eof): usage error.
    let mut t = Term::spawn(&wr, &["send", "c"]);
    assert_eq!(t.exit(), 2, "{:?}", t.screen());
}

// 9. Every byte value through send ------------------------------------------------------------

#[test]
fn send_carries_every_byte_value() {
    let wr = Wr::new();
    wr.ok(&["run", "--name", "cat", "--stdin", "stream", "--", "cat"]);
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend((0..=255u8).rev());
    data.extend(b"\r\n\x04\x1c~.\x03\x00");
    let mut child = wr
        .cmd(&["send", "cat", "--eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        si.write_all(&data).unwrap();
    }
    let o = finish(child, CMD_DEADLINE, "send cat --eof");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(wait_end(&wr, "cat"), 0);
    let log = std::fs::read(log_file(&wr, "cat", 1)).unwrap();
    assert!(log == data, "the log differs from what was sent: {log:?}");
    let shown = wr.logs("cat", &[]);
    assert!(
        shown.starts_with(&data),
        "`wrangle logs` does not show the bytes as written: {shown:?}"
    );
}

// 10. The user's terminal is restored however attach ends -------------------------------------

/// An entry reading its input, and a client attached to it on a test terminal (raw mode on).
fn attached(wr: &Wr, script: &str) -> Term {
    wr.ok(&["run", "--name", "r", "--pty", "--", "sh", "-c", script]);
    let mut t = Term::spawn(wr, &["attach", "r"]);
    t.wait_raw();
    t
}

#[test]
fn terminal_restored_after_detach_key() {
    let wr = Wr::new();
    let mut t = attached(&wr, "cat");
    t.type_in(b"abc\r");
    wr.wait_log("r", "abc");
    t.type_in(b"\x1c");
    assert_eq!(t.exit(), 0, "{:?}", t.screen());
    t.assert_restored("the detach key");
    assert_eq!(wr.state("r"), "running");
}

#[test]
fn terminal_restored_after_the_process_ends() {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "r",
        "--pty",
        "--",
        "sh",
        "-c",
        "read x; echo bye-$x; exit 7",
    ]);
    let mut t = Term::spawn(&wr, &["attach", "r"]);
    t.wait_raw();
    t.type_in(b"now\r");
    t.wait_for("bye-now");
    assert_eq!(
        t.exit(),
        7,
        "attach exits with the process's code: {:?}",
        t.screen()
    );
    t.assert_restored("the process ending");
    let s = t.screen();
    let after = &s[s.rfind("bye-now").unwrap_or(0) + "bye-now".len()..];
    assert!(
        after.contains('7'),
        "attach says how the process ended (code 7): {s:?}"
    );
}

/// Enter on a terminal is a carriage return; a process reading lines from `--stdin stream`
/// (a pipe, no terminal of its own) must still get a line when the user types one.
#[test]
fn typing_a_line_into_an_attached_stream_entry() {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "lines",
        "--stdin",
        "stream",
        "--",
        "sh",
        "-c",
        "echo ready; while read -r l; do echo \"line:[$l]\"; done",
    ]);
    wr.wait_log("lines", "ready");
    let mut t = Term::spawn(&wr, &["attach", "lines"]);
    // Shown after the client set up its terminal, whatever mode it chose.
    t.wait_for("ready");
    t.type_in(b"now\r");
    let ok = try_wait_until(SOON, || wr.logs_text("lines").contains("line:[now]"));
    assert!(
        ok,
        "typing `now` + Enter into `attach` did not give the process the line \"now\"; \
         its log is {:?} and the client showed {:?}",
        wr.logs_text("lines"),
        t.screen()
    );
    t.type_in(b"\x1c");
    let _ = t.exit();
    t.assert_restored("detaching");
}

#[test]
fn terminal_restored_after_sigterm() {
    let wr = Wr::new();
    let mut t = attached(&wr, "cat");
    kill(t.pid(), libc::SIGTERM);
    assert_eq!(t.exit(), 128 + libc::SIGTERM, "{:?}", t.screen());
    t.assert_restored("SIGTERM to the client");
    assert_eq!(wr.state("r"), "running");
}

#[test]
fn terminal_restored_after_sighup() {
    let wr = Wr::new();
    let mut t = attached(&wr, "cat");
    kill(t.pid(), libc::SIGHUP);
    assert_eq!(t.exit(), 128 + libc::SIGHUP, "{:?}", t.screen());
    t.assert_restored("SIGHUP to the client");
    assert_eq!(wr.state("r"), "running");
}

#[test]
fn terminal_restored_after_the_process_is_killed() {
    let wr = Wr::new();
    let mut t = attached(&wr, "cat");
    wr.ok(&["signal", "KILL", "r"]);
    assert_eq!(t.exit(), 128 + libc::SIGKILL, "{:?}", t.screen());
    t.assert_restored("the process being killed");
}

// 11. run --wait and run --attach -------------------------------------------------------------

#[test]
fn run_wait_shows_output_and_exits_with_the_code() {
    let wr = Wr::new();
    let o = wr.run(&["run", "--wait", "--", "sh", "-c", "echo built; exit 3"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.text().contains("built"), "{o:?}");
    let o = wr.run(&["run", "--wait", "--", "sh", "-c", "echo fine"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.text().contains("fine"), "{o:?}");
    let o = wr.run(&["run", "--wait", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.code, 128 + libc::SIGTERM, "{o:?}");
    wr.code(&["run", "--wait", "--attach", "--", "true"], 2);
}

#[test]
fn run_attach_with_a_terminal() {
    let wr = Wr::new();
    wr.ok(&["run", "--", "true"]);
    let mut t = Term::spawn_sized(
        &wr,
        &[
            "run",
            "--attach",
            "--pty",
            "--name",
            "ra",
            "--",
            "sh",
            "-c",
            "read x; tty; stty size; echo got-$x; exit 4",
        ],
        27,
        91,
    );
    t.wait_raw();
    t.type_in(b"hi\r");
    t.wait_for("got-hi");
    assert_eq!(t.exit(), 4, "{:?}", t.screen());
    t.assert_restored("run --attach ending");
    let s = t.screen();
    assert!(s.contains("/dev/pts/"), "{s:?}");
    assert!(
        s.contains("27 91"),
        "the entry got the attaching terminal's size: {s:?}"
    );
    let st = wr.status("ra");
    assert_eq!(st["state"], "exited", "{st}");
}

// 12. --stdin / --stdout / --stderr -----------------------------------------------------------

#[test]
fn stdio_files_null_and_merge() {
    let wr = Wr::new();
    let input = wr.root.join("in.txt");
    std::fs::write(&input, "from-the-file\nline two\n").unwrap();
    wr.ok(&["run", "--name", "i", "--stdin", "in.txt", "--", "cat"]);
    assert_eq!(wait_end(&wr, "i"), 0);
    assert_eq!(wr.logs_text("i"), "from-the-file\nline two\n");

    let out = wr.root.join("out.txt");
    std::fs::write(&out, "kept\n").unwrap();
    wr.ok(&[
        "run",
        "--name",
        "o",
        "--stdout",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo to-file; echo to-err >&2",
    ]);
    assert_eq!(wait_end(&wr, "o"), 0);
    wr.wait_log("o", "to-err");
    assert_eq!(file_text(&out), "kept\nto-file\n", "--stdout FILE appends");
    assert!(
        !wr.logs_text("o").contains("to-file"),
        "{:?}",
        wr.logs_text("o")
    );

    wr.ok(&[
        "run",
        "--name",
        "m",
        "--stderr",
        "stdout",
        "--",
        "sh",
        "-c",
        "echo a; echo b >&2; echo c; echo d >&2",
    ]);
    assert_eq!(wait_end(&wr, "m"), 0);
    wr.wait_log("m", "d");
    assert_eq!(wr.logs_text("m"), "a\nb\nc\nd\n", "merged in order");
    assert_eq!(
        String::from_utf8_lossy(&wr.logs("m", &["--stdout"])),
        "a\nb\nc\nd\n",
        "merged stderr counts as stdout"
    );

    wr.ok(&[
        "run",
        "--name",
        "n",
        "--stderr",
        "null",
        "--",
        "sh",
        "-c",
        "echo err-gone >&2; echo out-kept",
    ]);
    assert_eq!(wait_end(&wr, "n"), 0);
    wr.wait_log("n", "out-kept");
    assert_eq!(wr.logs_text("n"), "out-kept\n");

    let errf = wr.root.join("err.txt");
    wr.ok(&[
        "run",
        "--name",
        "e",
        "--stderr",
        "err.txt",
        "--stdout",
        "null",
        "--",
        "sh",
        "-c",
        "echo out-gone; echo err-here >&2",
    ]);
    assert_eq!(wait_end(&wr, "e"), 0);
    assert_eq!(file_text(&errf), "err-here\n");
    assert_eq!(wr.logs_text("e"), "");
}

#[test]
fn bad_stdio_files_are_refused_at_run() {
    let wr = Wr::new();
    wr.ok(&["run", "--", "true"]);
    let before = wr.ls().len();
    let cases: [(&str, &str); 4] = [
        ("--stdin", "no-such-input.txt"),
        ("--stdout", "no-such-dir/out.txt"),
        ("--stderr", "no-such-dir/err.txt"),
        // A folder cannot be appended to, even by root.
        ("--stdout", "."),
    ];
    for (flag, path) in cases {
        let o = wr.run(&["run", flag, path, "--", "true"]);
        assert_eq!(o.code, 2, "run {flag} {path}: {o:?}");
        let shown = if path == "." {
            wr.root.display().to_string()
        } else {
            path.to_string()
        };
        assert!(
            o.stderr.contains(flag) && o.stderr.contains(&shown),
            "run {flag} {path}: the error names the flag and the path: {:?}",
            o.stderr
        );
    }
    assert_eq!(wr.ls().len(), before, "nothing was started");
}
