//! Black-box tests of long-lived clients outliving their daemon: `events`, `wait`, `logs -f`
//! and `attach` running while the daemon is killed (-9) and a new one is started by another
//! client command reconnect on their own and go on, printing nothing twice.
//!
//! Until the keeper of issue 11 holds children's pipes, a kill -9 of the daemon ends every
//! process that writes to a pipe (SIGPIPE), so these tests use what survives today: silent
//! entries (`sleep`), and output written by a later run. Clients run in the background with
//! their output in files; `attach` runs in a tmux pane. No fixed sleeps: every wait polls.

mod common;

use common::tmux::Tmux;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client running in the background, its standard output and error going to files.
struct Client {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Client {
    fn spawn(wr: &Wr, args: &[&str]) -> Client {
        let tag = args.join("-").replace(['/', ' '], "_");
        let out = wr.root.join(format!("{tag}.out"));
        let err = wr.root.join(format!("{tag}.err"));
        let file = |p: &PathBuf| std::fs::File::create(p).expect("create an output file");
        let child = wr
            .cmd(args)
            .stdout(Stdio::from(file(&out)))
            .stderr(Stdio::from(file(&err)))
            .spawn()
            .expect("spawn a client");
        Client { child, out, err }
    }

    fn out(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn err(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until its standard output contains `needle`.
    fn wait_out(&mut self, needle: &str) {
        wait_until(&format!("the client printed {needle:?}"), SOON, || {
            self.out().contains(needle)
        });
    }

    /// Its exit status, waiting for it with a deadline.
    fn exit_within(&mut self, d: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let end = Instant::now() + d;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                _ => panic!(
                    "the client did not end within {d:?}: stdout {:?} stderr {:?}",
                    self.out(),
                    self.err()
                ),
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `pid` holds a socket (a client that has reached the daemon).
fn has_socket(pid: i32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .unwrap_or(false)
}

/// Kills the daemon with SIGKILL and waits until it is gone; nothing is started here.
fn kill_daemon(wr: &Wr) {
    let old = wr.daemon_pid().expect("a daemon answers");
    kill(old, libc::SIGKILL);
    wait_until("the killed daemon is gone", SOON, || !alive(old));
}

/// Starts a new daemon the way a user would: any client command (`ls`) starts one.
fn restart_daemon(wr: &Wr) {
    wr.ok(&["ls"]);
}

const NOTE: &str = "wrangle: daemon restarted; reconnected";

#[test]
fn events_reconnect_and_go_on_without_repeating_an_event() {
    let wr = Wr::new();
    let secs = unique_secs();
    wr.start(&["--name", "sleeper", "--", "sleep", &secs]);
    let mut ev = Client::spawn(&wr, &["events", "--json"]);
    // Subscribed once an event made after it starts is printed.
    let mut n = 0;
    loop {
        let probe = format!("probe{n}");
        wr.ok(&["run", "--name", &probe, "--", "true"]);
        if try_wait_until(Duration::from_secs(2), || ev.out().contains(&probe)) {
            break;
        }
        n += 1;
        assert!(n < 20, "events printed no event: {:?}", ev.err());
    }
    let before = ev.out().lines().count();

    kill_daemon(&wr);
    restart_daemon(&wr);
    wait_until("events says it reconnected", SOON, || {
        ev.err().contains(NOTE)
    });
    // What the new daemon did before the client was back is not lost: its kept events of
    // that time come first.
    ev.wait_out("\"kind\":\"adopted\"");
    wr.ok(&["stop", "sleeper"]);
    ev.wait_out("\"kind\":\"stopped\"");
    assert!(ev.running(), "events ended: {:?}", ev.err());

    let out = ev.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() > before, "{out}");
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["kind"].is_string(), "{l}");
        assert!(seen.insert(*l), "printed twice: {l}\nall:\n{out}");
    }
    let adopted = lines
        .iter()
        .filter(|l| l.contains("\"name\":\"sleeper\"") && l.contains("\"adopted\""))
        .count();
    assert_eq!(adopted, 1, "{out}");
    assert_eq!(ev.err().matches(NOTE).count(), 1, "{}", ev.err());
}

#[test]
fn wait_reconnects_and_reports_an_end_during_or_after_the_gap() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    wr.start(&["--name", "later", "--", "sleep", &a]);
    wr.start(&["--name", "meanwhile", "--", "sleep", &b]);
    let mut wait_later = Client::spawn(&wr, &["wait", "later"]);
    let mut wait_meanwhile = Client::spawn(&wr, &["wait", "meanwhile"]);
    wait_until("both waits reached the daemon", SOON, || {
        has_socket(wait_later.pid()) && has_socket(wait_meanwhile.pid())
    });

    kill_daemon(&wr);
    // `meanwhile` ends while no daemon runs: its wait must still hear of it.
    for p in procs_with_arg(&b) {
        kill(p, libc::SIGTERM);
    }
    wait_until("meanwhile's process is gone", SOON, || {
        procs_with_arg(&b).is_empty()
    });
    restart_daemon(&wr);

    let code = wait_meanwhile.exit_within(SOON);
    assert_ne!(code, 5, "wait gave up: {:?}", wait_meanwhile.err());
    assert!(
        wait_meanwhile.err().contains(NOTE),
        "{:?}",
        wait_meanwhile.err()
    );
    assert!(wait_later.running(), "{:?}", wait_later.err());

    wr.ok(&["stop", "later"]);
    let code = wait_later.exit_within(SOON);
    assert_ne!(code, 5, "wait gave up: {:?}", wait_later.err());
    assert!(wait_later.err().contains(NOTE), "{:?}", wait_later.err());
}

#[test]
fn logs_follow_reconnects_and_prints_each_byte_once() {
    let wr = Wr::new();
    let counter = wr.root.join("runs");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; \
         echo line-$n; exec sleep {s}",
        c = counter.display(),
        s = unique_secs()
    );
    wr.start(&["--name", "writer", "--", "sh", "-c", &script]);
    wr.wait_log("writer", "line-1");
    let mut f = Client::spawn(&wr, &["logs", "-f", "writer"]);
    f.wait_out("line-1\n");

    kill_daemon(&wr);
    restart_daemon(&wr);
    // A new run's output (captured by the new daemon) reaches the same follower.
    wr.ok(&["restart", "writer"]);
    f.wait_out("line-2\n");
    wait_until("logs -f says it reconnected", SOON, || {
        f.err().contains(NOTE)
    });
    wr.ok(&["restart", "writer"]);
    f.wait_out("line-3\n");
    assert!(f.running(), "{:?}", f.err());
    assert_eq!(f.out(), "line-1\nline-2\nline-3\n", "{:?}", f.err());
}

impl Tmux {
    fn screen(&self) -> String {
        self.capture("t")
    }

    /// The modes of the pane's terminal, as `stty -a` shows them.
    fn modes(&self) -> String {
        let tty = self.run(&["display", "-p", "-t", "t", "#{pane_tty}"]);
        let o = Command::new("stty")
            .args(["-a", "-F", tty.trim()])
            .output()
            .expect("run stty");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// Whether `stty -a` output shows a terminal in raw mode (no canonical input, no echo).
fn raw(modes: &str) -> bool {
    let words: Vec<&str> = modes.split_whitespace().collect();
    words.contains(&"-icanon") && words.contains(&"-echo")
}

#[test]
fn attach_reconnects_keeping_the_terminal_raw() {
    let wr = Wr::new();
    // A terminal entry that outlives the hang-up of its terminal when the daemon dies.
    wr.start(&[
        "--pty",
        "--name",
        "term",
        "--",
        "sh",
        "-c",
        &format!(
            "trap '' HUP; echo ready; while :; do sleep {}; done",
            unique_secs()
        ),
    ]);
    wr.wait_log("term", "ready");
    let tmux = Tmux::new(&wr);
    let script = format!(
        "env {} '{BIN}' attach term; echo attach-exit-$?; stty -a; exec sleep 1000000",
        Tmux::env(&wr)
    );
    tmux.session("t", 40, 100, &script);
    wait_until("attach shows the entry's output", SOON, || {
        tmux.screen().contains("ready")
    });
    wait_until("attach put the terminal in raw mode", SOON, || {
        raw(&tmux.modes())
    });

    kill_daemon(&wr);
    restart_daemon(&wr);
    assert!(raw(&tmux.modes()), "raw mode lost: {}", tmux.screen());
    // Stopped by the new daemon: the attach hears it there, says so, and ends.
    wr.ok(&["stop", "--timeout", "100ms", "term"]);
    // Its shell then prints the terminal's modes.
    wait_until("attach ended and stty printed the modes", SOON, || {
        let s = tmux.screen();
        s.contains("attach-exit-") && s.contains("icanon")
    });
    let screen = tmux.screen();
    assert!(!screen.contains("attach-exit-5"), "{screen}");
    assert!(screen.contains("[wrangle: term"), "{screen}");
    assert!(!screen.contains("reconnected"), "{screen}");
    assert_eq!(screen.matches("ready").count(), 1, "replayed: {screen}");
    // The terminal is back in its own mode (stty -a printed by the pane's shell).
    assert!(screen.contains(" icanon") && !raw(&screen), "{screen}");
}

#[test]
fn a_stream_whose_daemon_does_not_come_back_gives_up_with_status_5() {
    let wr = Wr::new();
    wr.ok(&["ls"]);
    let mut ev = Client::spawn(&wr, &["events"]);
    wait_until("events reached the daemon", SOON, || has_socket(ev.pid()));
    // The keeper would start a new daemon: it goes first.
    let keeper = wr.ok(&["ping", "--json"]).json()["keeper"]
        .as_i64()
        .expect("ping names the keeper") as i32;
    kill(keeper, libc::SIGKILL);
    wait_until("the keeper is gone", SOON, || !alive(keeper));
    kill_daemon(&wr);
    let t0 = Instant::now();
    // It never starts a daemon itself: it tries for 10 s, then says so.
    let code = ev.exit_within(Duration::from_secs(60));
    assert_eq!(code, 5, "{:?}", ev.err());
    assert!(t0.elapsed() >= Duration::from_secs(9), "{:?}", t0.elapsed());
    assert!(
        ev.err().contains("no daemon answered again within 10s"),
        "{:?}",
        ev.err()
    );
    assert!(wr.daemon_pids().is_empty(), "a daemon was started");
}

#[test]
fn streams_end_at_once_when_the_daemon_shuts_down() {
    let wr = Wr::new();
    let e = wr.start(&["--", "sh", "-c", "echo hi; exec sleep 1000"]);
    wr.wait_log(&e["id"].to_string(), "hi");
    let mut ev = Client::spawn(&wr, &["events"]);
    let mut lf = Client::spawn(&wr, &["logs", "-f", &e["id"].to_string()]);
    wait_until("the clients reached the daemon", SOON, || {
        has_socket(ev.pid()) && has_socket(lf.pid())
    });
    let t0 = Instant::now();
    wr.ok(&["shutdown"]);
    // They stop with the daemon: no reconnecting for a daemon that is gone for good (a
    // client that tried would give up only after 10 s, with status 5). The bound leaves room
    // for a loaded machine.
    assert_eq!(ev.exit_within(Duration::from_secs(9)), 0, "{:?}", ev.err());
    assert_eq!(lf.exit_within(Duration::from_secs(9)), 0, "{:?}", lf.err());
    assert!(t0.elapsed() < Duration::from_secs(9), "{:?}", t0.elapsed());
    assert!(!ev.err().contains("reconnect"), "{:?}", ev.err());
}
