//! Black-box tests of supervision and persistence: restart policies and their backoff delays
//! (measured from the daemon's own event timestamps), crash loops that delay nobody else, a
//! user's stop, rm or restart during a backoff, the healthy-run reset (`--min-uptime`),
//! `save` / `resurrect` / `daemon --resurrect` after the daemon was killed (re-adopted, never
//! duplicated; restarted exactly once when really gone), a daemon started right after
//! `shutdown` returned, and saved sets that do not parse (moved aside, never overwritten).
//!
//! Each test has its own `WRANGLE_HOME` (see `common::Wr`) and waits only by polling a
//! condition with a deadline. Where a test must show that something does *not* happen (no
//! restart after a stop), it watches for the whole span in which it would have happened (the
//! backoff delay, counted from the event's timestamp) plus a margin. Timings read from events
//! are checked against generous tolerances: never earlier than asked (minus clock rounding),
//! at most 1.5 s later (a loaded 2-core machine). The only processes a test signals itself are
//! the daemon it started and the processes that daemon ran for it (found by a unique argv).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Helpers

/// How much earlier than asked a delay may look (both timestamps are truncated to the ms).
const EARLY_MS: u64 = 20;
/// How much later than asked a delay may be on a loaded machine.
const LATE_MS: u64 = 1_500;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

fn pid_of(v: &Value) -> i32 {
    v["pid"].as_i64().expect("a running entry has a pid") as i32
}

fn run_of(v: &Value) -> u64 {
    v["run"].as_u64().expect("an entry has a run number")
}

/// One event from `status --json`.
#[derive(Debug, Clone)]
struct Ev {
    ts: u64,
    kind: String,
    message: String,
}

fn events(status: &Value) -> Vec<Ev> {
    status["events"]
        .as_array()
        .expect("status has events")
        .iter()
        .map(|e| Ev {
            ts: e["ts_ms"].as_u64().expect("an event has ts_ms"),
            kind: e["kind"].as_str().unwrap_or_default().to_string(),
            message: e["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

fn of_kind(status: &Value, kind: &str) -> Vec<Ev> {
    events(status)
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// The restart delays recorded in the events: from each `exited` event to the next `started`.
fn restart_delays(status: &Value) -> Vec<u64> {
    let mut out = Vec::new();
    let mut exited = None;
    for e in events(status) {
        match e.kind.as_str() {
            "exited" => exited = Some(e.ts),
            "started" => {
                if let Some(t) = exited.take() {
                    out.push(e.ts.saturating_sub(t));
                }
            }
            _ => {}
        }
    }
    out
}

/// Asserts that each measured delay is the wanted one, within the tolerances.
fn assert_delays(got: &[u64], want: &[u64], status: &Value) {
    assert_eq!(
        got.len(),
        want.len(),
        "restart delays {got:?}, expected about {want:?}: {:#?}",
        events(status)
    );
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g + EARLY_MS >= w && g <= w + LATE_MS,
            "restart {} came {g} ms after the exit, expected {w} ms (within -{EARLY_MS}/+{LATE_MS}); \
             all delays {got:?}, expected {want:?}: {:#?}",
            i + 1,
            events(status)
        );
    }
}

/// The delay and attempt of a `backoff` event's message ("restarting in 200ms (attempt 1 of
/// 4; exit code 3, restart on-failure)" → "restarting in 200ms (attempt 1 of 4"): the reason
/// after them is checked separately where it matters.
fn backoff_head(message: &str) -> String {
    message
        .split([';', ')'])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s[s.len() / 2]
}

/// Waits until `cond` holds for the status of `sel`; returns that status.
fn wait_status(wr: &Wr, sel: &str, what: &str, mut cond: impl FnMut(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = try_wait_until(SOON, || {
        last = wr.status(sel);
        cond(&last)
    });
    assert!(ok, "{sel}: timed out waiting until {what}: {last:#}");
    last
}

fn wait_state(wr: &Wr, sel: &str, want: &str) -> Value {
    wait_status(wr, sel, &format!("it is {want}"), |s| s["state"] == want)
}

/// Calls `check` (which asserts) every 50 ms until the wall clock reaches `until_ms`, and
/// once more after that.
fn hold_until(until_ms: u64, mut check: impl FnMut()) {
    loop {
        check();
        if now_ms() > until_ms {
            check();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines in a file (0 if it does not exist).
fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Names of the entries `ls --json` lists.
fn names(wr: &Wr) -> Vec<String> {
    wr.ls()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

/// Kills this test's daemon with SIGKILL (checked to be this instance's daemon first).
/// Kills the daemon and its keeper (as a crash of the whole instance, or a boot, would leave
/// it: nothing started again until a command or the init system does).
fn kill_daemon(wr: &Wr) -> i32 {
    let ping = wr.ok(&["ping", "--json"]).json();
    let pid = ping["pid"].as_i64().expect("a daemon is running") as i32;
    assert!(
        wr.daemon_pids().contains(&pid),
        "pid {pid} is not this test's daemon"
    );
    if let Some(keeper) = ping["keeper"].as_i64() {
        kill(keeper as i32, libc::SIGKILL);
        wait_until("the killed keeper is gone", SOON, || !alive(keeper as i32));
    }
    kill(pid, libc::SIGKILL);
    wait_until("the killed daemon is gone", SOON, || !alive(pid));
    pid
}

/// The live `sleep SECS` processes (each test uses its own SECS values).
fn sleeps(secs: &str) -> Vec<i32> {
    procs_with_argv(&["sleep", secs])
}

fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `wrangle resurrect --json`: outcome per entry name (or id for unnamed entries).
fn resurrect(wr: &Wr) -> Vec<(String, String)> {
    let v = wr.ok(&["resurrect", "--json"]).json();
    let mut out: Vec<(String, String)> = v
        .as_array()
        .expect("resurrect --json is an array")
        .iter()
        .map(|r| {
            let who = r["name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", r["id"]));
            (who, r["outcome"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Backoff delays of a crash loop, and giving up

#[test]
fn a_crash_loop_backs_off_exponentially_then_gives_up() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "crash",
        "--restart",
        "on-failure",
        "--max-restarts",
        "4",
        "--backoff",
        "200ms,2,800ms",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    let s = wait_state(&wr, "crash", "errored");

    // 4 automatic restarts: 5 runs, each ended with its code.
    assert_eq!(s["restarts"], 4, "{s:#}");
    assert_eq!(run_of(&s), 5, "{s:#}");
    assert_eq!(s["exit_code"], 3, "{s:#}");
    assert_eq!(s["pid"], Value::Null, "{s:#}");
    assert_eq!(of_kind(&s, "started").len(), 5, "{:#?}", events(&s));
    assert_eq!(of_kind(&s, "exited").len(), 5, "{:#?}", events(&s));
    assert!(
        of_kind(&s, "exited")
            .iter()
            .all(|e| e.message == "exit code 3"),
        "{:#?}",
        events(&s)
    );

    // The delays asked for, and the ones the clock saw.
    let backoffs: Vec<String> = of_kind(&s, "backoff")
        .iter()
        .map(|e| backoff_head(&e.message))
        .collect();
    assert_eq!(
        backoffs,
        [
            "restarting in 200ms (attempt 1 of 4",
            "restarting in 400ms (attempt 2 of 4",
            "restarting in 800ms (attempt 3 of 4",
            "restarting in 800ms (attempt 4 of 4",
        ]
    );
    // Each says why it restarts.
    assert!(
        of_kind(&s, "backoff")
            .iter()
            .all(|e| e.message.contains("exit code 3") && e.message.contains("on-failure")),
        "{:#?}",
        events(&s)
    );
    assert_delays(&restart_delays(&s), &[200, 400, 800, 800], &s);

    // It gave up right after the fifth exit, and says why.
    let evs = events(&s);
    let last = evs.last().expect("events");
    assert_eq!(last.kind, "errored", "{evs:#?}");
    assert!(
        last.message.contains("gave up after 4 restarts"),
        "{evs:#?}"
    );
    let err = s["error"].as_str().unwrap_or_default();
    assert!(err.contains("gave up after 4 restarts"), "{s:#}");
    let text = wr.ok(&["status", "crash"]).text();
    assert!(
        text.lines()
            .any(|l| l.contains("errored") && !l.contains("gave up")),
        "status shows the state: {text}"
    );
    assert!(
        text.contains("gave up after 4 restarts in a row"),
        "status shows the reason: {text}"
    );
    let ls = wr.ok(&["ls"]).text();
    assert!(ls.contains("errored"), "{ls}");

    // Given up means given up: nothing more happens, even after the longest delay.
    let end = last.ts + 800 + LATE_MS;
    hold_until(end, || {
        let s = wr.status("crash");
        assert_eq!(s["state"], "errored", "{s:#}");
        assert_eq!(run_of(&s), 5, "{s:#}");
    });

    // A user's start begins a fresh count.
    wr.ok(&["start", "crash"]);
    let s = wait_status(&wr, "crash", "it gives up again", |s| {
        s["state"] == "errored" && run_of(s) == 10
    });
    assert_eq!(s["restarts"], 8, "{s:#}");
}

// ---------------------------------------------------------------------------------------------
// 2. Crash loops delay nobody

#[test]
fn crash_loops_keep_their_cadence_and_delay_nobody_else() {
    let wr = Wr::new();
    let healthy_secs = unique_secs();
    let healthy = wr.start(&["--name", "healthy", "--", "sleep", &healthy_secs]);
    let healthy_pid = pid_of(&healthy);
    for name in ["loop1", "loop2"] {
        wr.start(&[
            "--name",
            name,
            "--restart",
            "on-failure",
            "--backoff",
            "300ms,1,300ms",
            "--",
            "sh",
            "-c",
            "exit 1",
        ]);
    }
    for name in ["loop1", "loop2"] {
        wait_status(&wr, name, "it has restarted twice", |s| run_of(s) >= 3);
    }

    // A new entry while both loop: `run` answers at once.
    let fresh_secs = unique_secs();
    let t0 = Instant::now();
    let fresh = wr.start(&["--name", "fresh", "--", "sleep", &fresh_secs]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "`wrangle run` took {took:?} during two crash loops"
    );
    assert_eq!(fresh["state"], "running", "{fresh:#}");
    let fresh_pid = pid_of(&fresh);
    assert_eq!(sleeps(&fresh_secs), [fresh_pid]);
    // And other commands too.
    let t0 = Instant::now();
    wr.ok(&["ls"]);
    wr.ok(&["status", "healthy"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "ls and status took {took:?} during two crash loops"
    );

    // Let each loop go round several more times.
    let mut loops = Vec::new();
    for name in ["loop1", "loop2"] {
        loops.push(wait_status(&wr, name, "it has restarted 10 times", |s| {
            run_of(s) >= 11
        }));
    }
    for (name, s) in ["loop1", "loop2"].iter().zip(&loops) {
        assert_ne!(s["state"], "errored", "{name}: {s:#}");
        let d = restart_delays(s);
        assert!(d.len() >= 5, "{name}: too few delays in the events: {d:?}");
        assert_delays(&d, &vec![300; d.len()], s);
        // Each loop keeps its own 300 ms timer: no waiting for the other's turn.
        let m = median(&d);
        assert!(
            m < 600,
            "{name}: median restart delay {m} ms for a 300 ms backoff (delays {d:?})"
        );
        for e in of_kind(s, "backoff") {
            assert!(e.message.starts_with("restarting in 300ms"), "{e:?}");
        }
    }
    // The two loops overlapped in time (so the cadence above was measured under contention).
    let span = |s: &Value| {
        let st = of_kind(s, "started");
        (st[0].ts, st[st.len() - 1].ts)
    };
    let (a0, a1) = span(&loops[0]);
    let (b0, b1) = span(&loops[1]);
    assert!(
        a0 < b1 && b0 < a1,
        "loops did not overlap: {a0}-{a1} {b0}-{b1}"
    );

    // The healthy entry and the new one were never touched.
    let h = wr.status("healthy");
    assert_eq!(h["state"], "running", "{h:#}");
    assert_eq!(pid_of(&h), healthy_pid, "{h:#}");
    assert_eq!(run_of(&h), 1, "{h:#}");
    assert_eq!(h["restarts"], 0, "{h:#}");
    assert_eq!(sleeps(&healthy_secs), [healthy_pid]);
    let f = wr.status("fresh");
    assert_eq!(
        (f["state"].as_str(), pid_of(&f)),
        (Some("running"), fresh_pid)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A user's stop, rm or restart during a backoff

#[test]
fn stop_rm_and_restart_during_a_backoff_cancel_the_pending_restart() {
    let wr = Wr::new();
    let secs = unique_secs();
    // Each run appends a line to its counter file, so a restart nobody sees in the events
    // (e.g. of a removed entry) still leaves a trace.
    let counter = |n: &str| wr.root.join(format!("count-{n}"));
    let crash = |n: &str| format!("echo x >> {}; exit 1", counter(n).display());
    // Crashes on its first run only, then keeps running.
    let once = format!(
        "echo x >> {f}; [ $(wc -l < {f}) -ge 2 ] && exec sleep {secs}; exit 1",
        f = counter("restart").display()
    );
    for (name, cmd) in [
        ("stopped", crash("stop")),
        ("removed", crash("rm")),
        ("restarted", once),
    ] {
        wr.start(&[
            "--name",
            name,
            "--restart",
            "on-failure",
            "--backoff",
            "4s",
            "--",
            "sh",
            "-c",
            &cmd,
        ]);
    }
    let mut due = 0;
    for name in ["stopped", "removed", "restarted"] {
        let s = wait_state(&wr, name, "backoff");
        assert_eq!(run_of(&s), 1, "{s:#}");
        let b = of_kind(&s, "backoff");
        assert_eq!(b.len(), 1, "{s:#}");
        assert!(b[0].message.starts_with("restarting in 4s"), "{b:?}");
        due = due.max(b[0].ts + 4_000);
    }
    // The user acts well within the 4 s.
    assert!(now_ms() + 1_500 < due, "setting up took too long to test");

    wr.ok(&["stop", "stopped"]);
    let s = wr.status("stopped");
    assert_eq!(s["state"], "stopped", "{s:#}");
    assert!(
        of_kind(&s, "stopped")
            .iter()
            .any(|e| e.message.contains("waiting to restart")),
        "{:#?}",
        events(&s)
    );

    wr.ok(&["rm", "removed"]);
    wr.code(&["status", "removed"], 3);

    wr.ok(&["restart", "restarted"]);
    let r = wr.status("restarted");
    assert_eq!(
        (r["state"].as_str(), run_of(&r)),
        (Some("running"), 2),
        "{r:#}"
    );
    let rpid = pid_of(&r);
    // The shell execs `sleep` (same pid) once it has counted its run.
    wait_until("the restarted run execs sleep", SOON, || {
        sleeps(&secs) == [rpid]
    });

    // Past the time the cancelled restarts were due, and a margin: nothing restarted.
    hold_until(due + LATE_MS, || {
        let s = wr.status("stopped");
        assert_eq!(
            (s["state"].as_str(), run_of(&s)),
            (Some("stopped"), 1),
            "{s:#}"
        );
        assert!(!names(&wr).contains(&"removed".to_string()));
        let r = wr.status("restarted");
        assert_eq!(
            (r["state"].as_str(), run_of(&r), pid_of(&r)),
            (Some("running"), 2, rpid),
            "{r:#}"
        );
        assert_eq!(lines(&counter("stop")), 1, "the stopped entry ran again");
        assert_eq!(lines(&counter("rm")), 1, "the removed entry ran again");
        assert_eq!(lines(&counter("restart")), 2, "an extra restart happened");
    });
    let r = wr.status("restarted");
    assert_eq!(r["restarts"], 1, "{r:#}");
    assert_eq!(of_kind(&r, "started").len(), 2, "{:#?}", events(&r));
    assert_eq!(sleeps(&secs), [rpid]);

    // A stopped entry starts again only when the user says so.
    wr.ok(&["start", "stopped"]);
    wait_status(&wr, "stopped", "it ran again", |s| run_of(s) == 2);
    wait_until("its second run counted itself", SOON, || {
        lines(&counter("stop")) == 2
    });
}

// ---------------------------------------------------------------------------------------------
// 4. The three policies

#[test]
fn always_restarts_a_clean_exit_on_failure_and_never_do_not() {
    let wr = Wr::new();
    // always: a clean exit is restarted (until the limit).
    wr.start(&[
        "--name",
        "always",
        "--restart",
        "always",
        "--max-restarts",
        "2",
        "--backoff",
        "100ms",
        "--",
        "sh",
        "-c",
        "exit 0",
    ]);
    // on-failure: a death by signal is a failure too.
    wr.start(&[
        "--name",
        "signalled",
        "--restart",
        "on-failure",
        "--max-restarts",
        "1",
        "--backoff",
        "100ms",
        "--",
        "sh",
        "-c",
        "kill -9 $$",
    ]);
    // These end once and stay ended.
    let quiet: [(&str, &[&str], &str); 4] = [
        ("onfail-ok", &["--restart", "on-failure"], "exit 0"),
        ("never", &["--restart", "never"], "exit 1"),
        ("default", &[], "exit 1"),
        ("never-sig", &["--restart", "never"], "kill -9 $$"),
    ];
    for (name, flags, cmd) in quiet {
        let mut a = vec!["--name", name, "--backoff", "100ms"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["--", "sh", "-c", cmd]);
        wr.start(&a);
    }

    let s = wait_state(&wr, "always", "errored");
    assert_eq!((run_of(&s), &s["restarts"]), (3, &Value::from(2)), "{s:#}");
    assert!(
        of_kind(&s, "exited")
            .iter()
            .all(|e| e.message == "exit code 0"),
        "{:#?}",
        events(&s)
    );
    assert_delays(&restart_delays(&s), &[100, 100], &s);

    let s = wait_state(&wr, "signalled", "errored");
    assert_eq!((run_of(&s), &s["restarts"]), (2, &Value::from(1)), "{s:#}");
    assert!(
        of_kind(&s, "exited")
            .iter()
            .all(|e| e.message.starts_with("signal") && e.message.contains("KILL")),
        "{:#?}",
        events(&s)
    );

    let mut until = 0;
    for (name, _, _) in quiet {
        let s = wait_state(&wr, name, "exited");
        let ex = of_kind(&s, "exited");
        assert_eq!(ex.len(), 1, "{s:#}");
        until = until.max(ex[0].ts + 100 + LATE_MS);
    }
    hold_until(until, || {
        for (name, _, _) in quiet {
            let s = wr.status(name);
            assert_eq!(
                (s["state"].as_str(), run_of(&s)),
                (Some("exited"), 1),
                "{s:#}"
            );
            assert!(of_kind(&s, "backoff").is_empty(), "{s:#}");
            assert_eq!(s["restarts"], 0, "{s:#}");
        }
    });
    assert_eq!(wr.status("onfail-ok")["exit_code"], 0);
    assert_eq!(wr.status("never")["exit_code"], 1);
    assert_eq!(wr.status("default")["exit_code"], 1);
    assert_eq!(wr.status("never-sig")["exit_signal"], 9);
}

// ---------------------------------------------------------------------------------------------
// 5. A healthy run resets the count

#[test]
fn a_run_longer_than_min_uptime_starts_the_backoff_over() {
    let wr = Wr::new();
    let secs = unique_secs();
    let f = wr.root.join("runs");
    // Run 1 and 3 crash at once, run 2 crashes after 1 s (healthy: longer than 500 ms), run 4
    // keeps running.
    let script = format!(
        "n=0; [ -f {f} ] && read n < {f}; n=$((n+1)); echo $n > {f}; \
         case $n in 1|3) exit 1;; 2) sleep 1; exit 1;; esac; exec sleep {secs}",
        f = f.display()
    );
    wr.start(&[
        "--name",
        "flaky",
        "--restart",
        "on-failure",
        "--backoff",
        "200ms,10,20s",
        "--min-uptime",
        "500ms",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let s = wait_status(&wr, "flaky", "run 4 is running", |s| {
        run_of(s) == 4 && s["state"] == "running"
    });
    let backoffs: Vec<String> = of_kind(&s, "backoff")
        .iter()
        .map(|e| backoff_head(&e.message))
        .collect();
    // Without the reset the second delay would be 2s (attempt 2) and the third 20s.
    assert_eq!(
        backoffs,
        [
            "restarting in 200ms (attempt 1",
            "restarting in 200ms (attempt 1",
            "restarting in 2s (attempt 2",
        ]
    );
    assert_delays(&restart_delays(&s), &[200, 200, 2_000], &s);
    assert_eq!(s["restarts"], 3, "{s:#}");
    // Run 2 really was the long one.
    let ev = events(&s);
    let started: Vec<u64> = ev
        .iter()
        .filter(|e| e.kind == "started")
        .map(|e| e.ts)
        .collect();
    let exited: Vec<u64> = ev
        .iter()
        .filter(|e| e.kind == "exited")
        .map(|e| e.ts)
        .collect();
    assert!(exited[1] - started[1] >= 1_000, "{ev:#?}");
    assert!(exited[0] - started[0] < 500, "{ev:#?}");
    assert!(exited[2] - started[2] < 500, "{ev:#?}");
    let pid = pid_of(&s);
    wait_until("run 4 execs sleep", SOON, || sleeps(&secs) == [pid]);
}

// ---------------------------------------------------------------------------------------------
// 6. save, a killed daemon, resurrect

/// Starts the saved-set test's entries: three named and one unnamed `sleep`, each with its
/// own argument. Returns the `sleep` arguments, in the order a, b, c, unnamed.
fn start_services(wr: &Wr) -> Vec<String> {
    let secs: Vec<String> = (0..4).map(|_| unique_secs()).collect();
    for (name, s) in ["a", "b", "c"].iter().zip(&secs) {
        wr.start(&["--name", name, "--tag", "svc", "--", "sleep", s]);
    }
    wr.start(&["--", "sleep", &secs[3]]);
    let saved = wr.ok(&["save", "--json"]).json();
    let saved = saved.as_array().expect("save --json is an array");
    assert_eq!(saved.len(), 4, "{saved:?}");
    assert!(saved.iter().all(|r| r["outcome"] == "saved"), "{saved:?}");
    secs
}

/// Exactly one process per `sleep` argument; returns their pids.
fn one_each(secs: &[String]) -> Vec<i32> {
    secs.iter()
        .map(|s| {
            let p = sleeps(s);
            assert_eq!(p.len(), 1, "`sleep {s}` runs {} times: {p:?}", p.len());
            p[0]
        })
        .collect()
}

/// Starts `wrangle daemon --detach --resurrect` (it returns once the daemon listens, after
/// the resurrection).
fn boot(wr: &Wr) {
    wr.ok(&["daemon", "--detach", "--resurrect"]);
}

#[test]
fn daemon_resurrect_after_a_kill_readopts_live_processes_without_duplicates() {
    let wr = Wr::new();
    let secs = start_services(&wr);
    let before = one_each(&secs);
    let old = kill_daemon(&wr);
    // The processes outlive their daemon.
    assert_eq!(one_each(&secs), before);

    boot(&wr);
    let new = wr.daemon_pid().expect("the new daemon answers");
    assert_ne!(new, old);
    assert_eq!(
        one_each(&secs),
        before,
        "each process is re-adopted, not started again"
    );
    let ls = wr.ls();
    assert_eq!(ls.len(), 4, "no entry is duplicated: {ls:#?}");
    for e in &ls {
        assert_eq!(e["state"], "running", "{e:#}");
        assert_eq!(run_of(e), 1, "{e:#}");
        assert!(before.contains(&pid_of(e)), "{e:#}");
    }
    let s = wr.status("a");
    assert!(!of_kind(&s, "adopted").is_empty(), "{:#?}", events(&s));
    assert_eq!(s["adopted"], true, "{s:#}");

    // An explicit resurrect now has nothing to do, twice.
    for _ in 0..2 {
        let r = resurrect(&wr);
        assert_eq!(r.len(), 4, "{r:?}");
        assert!(r.iter().all(|(_, o)| o == "already_running"), "{r:?}");
        assert_eq!(one_each(&secs), before);
    }

    // A re-adopted process is still supervised: it ending is noticed.
    kill(before[1], libc::SIGKILL);
    wait_state(&wr, "b", "exited");
    // And resurrect brings back exactly that one.
    let r = resurrect(&wr);
    assert!(
        r.contains(&("b".to_string(), "started".to_string())),
        "{r:?}"
    );
    assert_eq!(r.iter().filter(|(_, o)| o == "started").count(), 1, "{r:?}");
    let now = one_each(&secs);
    assert_ne!(now[1], before[1]);
    assert_eq!((now[0], now[2], now[3]), (before[0], before[2], before[3]));
    assert_eq!(wr.ls().len(), 4);
}

#[test]
fn daemon_resurrect_after_a_kill_starts_dead_processes_exactly_once() {
    let wr = Wr::new();
    let secs = start_services(&wr);
    let before = one_each(&secs);
    kill_daemon(&wr);
    // The processes die too (as after a reboot), while the registry says they run.
    for &p in &before {
        kill(p, libc::SIGKILL);
    }
    wait_until("the old processes are gone", SOON, || {
        before.iter().all(|&p| !alive(p))
    });

    boot(&wr);
    let after = one_each(&secs);
    for (a, b) in after.iter().zip(&before) {
        assert_ne!(a, b);
    }
    let ls = wr.ls();
    assert_eq!(ls.len(), 4, "no entry is duplicated: {ls:#?}");
    for e in &ls {
        assert_eq!(e["state"], "running", "{e:#}");
        assert_eq!(run_of(e), 2, "{e:#}");
        assert!(after.contains(&pid_of(e)), "{e:#}");
    }
    let s = wr.status("c");
    assert!(!of_kind(&s, "lost").is_empty(), "{:#?}", events(&s));
    assert_eq!(s["tags"], serde_json::json!(["svc"]), "{s:#}");

    // A second resurrect starts nothing.
    let r = resurrect(&wr);
    assert!(r.iter().all(|(_, o)| o == "already_running"), "{r:?}");
    assert_eq!(one_each(&secs), after);
    assert_eq!(wr.ls().len(), 4);
}

#[test]
fn resurrect_starts_what_is_stopped_or_forgotten_once_and_then_nothing() {
    let wr = Wr::new();
    let secs = start_services(&wr);
    let before = one_each(&secs);

    // A clean shutdown stops everything; a boot with --resurrect starts everything once.
    wr.ok(&["shutdown"]);
    wait_until("the processes are stopped", SOON, || {
        before.iter().all(|&p| !alive(p))
    });
    boot(&wr);
    let booted = one_each(&secs);
    assert_eq!(wr.ls().len(), 4);

    // A stopped one and a removed one come back; the others are left alone.
    wr.ok(&["stop", "a"]);
    wr.ok(&["rm", "b"]);
    assert!(sleeps(&secs[0]).is_empty() && sleeps(&secs[1]).is_empty());
    let r = resurrect(&wr);
    let want: Vec<(String, String)> = vec![
        ("#4".into(), "already_running".into()),
        ("a".into(), "started".into()),
        ("b".into(), "started".into()),
        ("c".into(), "already_running".into()),
    ];
    assert_eq!(r, want);
    let now = one_each(&secs);
    assert_eq!((now[2], now[3]), (booted[2], booted[3]));
    let ls = wr.ls();
    assert_eq!(ls.len(), 4, "{ls:#?}");
    let b = wr.status("b");
    assert_eq!(b["tags"], serde_json::json!(["svc"]), "{b:#}");
    assert_eq!(b["state"], "running", "{b:#}");

    // Twice: nothing more.
    let r = resurrect(&wr);
    assert!(r.iter().all(|(_, o)| o == "already_running"), "{r:?}");
    assert_eq!(one_each(&secs), now);
    assert_eq!(wr.ls().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// 7. A saved set that does not parse

#[test]
fn a_corrupt_saved_set_is_moved_aside_reported_and_kept() {
    let wr = Wr::new();
    let secs = unique_secs();
    wr.start(&["--name", "svc", "--", "sleep", &secs]);
    wr.ok(&["save"]);
    let saved = wr.home().join("saved.json");
    assert!(saved.exists(), "save writes {}", saved.display());
    let garbage = b"{\"version\": 1, \"entries\": [ not json \x01\xff\n".to_vec();
    std::fs::write(&saved, &garbage).expect("write garbage");

    // `wrangle resurrect` fails, says why and where the file went.
    let o = wr.code(&["resurrect"], 1);
    let moved = files_starting(wr.home(), "saved.json.corrupt-");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        std::fs::read(&moved[0]).expect("read the moved file"),
        garbage,
        "the bad file is kept byte for byte"
    );
    assert!(!saved.exists());
    let name = moved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        o.stderr.contains("saved.json") && o.stderr.contains(&name),
        "the error names the file and where it was kept: {:?}",
        o.stderr
    );
    // Nothing was started or stopped by the failed attempt.
    assert_eq!(wr.ls().len(), 1);
    assert_eq!(sleeps(&secs).len(), 1);
    // With the file gone, resurrect says nothing was saved (exit 1), and nothing is deleted.
    let o = wr.code(&["resurrect"], 1);
    assert!(o.stderr.contains("save"), "{:?}", o.stderr);
    assert_eq!(files_starting(wr.home(), "saved.json.corrupt-"), moved);

    // At boot: the daemon starts anyway, reports it in its log, and keeps the file.
    let garbage2 = b"[1, 2, 3] is no saved set".to_vec();
    wr.ok(&["save"]);
    std::fs::write(&saved, &garbage2).expect("write garbage again");
    wr.ok(&["shutdown"]);
    let log = wr.home().join("daemon.log");
    let log_before = std::fs::read(&log).map(|v| v.len()).unwrap_or(0);
    boot(&wr);
    assert!(!saved.exists());
    let all = files_starting(wr.home(), "saved.json.corrupt-");
    let mut kept: Vec<Vec<u8>> = all
        .iter()
        .map(|p| std::fs::read(p).expect("read a moved file"))
        .collect();
    kept.sort();
    let mut want = vec![garbage.clone(), garbage2.clone()];
    want.sort();
    assert_eq!(kept, want, "both bad files are kept: {all:?}");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()[log_before..])
        .into_owned();
    assert!(
        text.contains("saved.json") && text.contains("does not parse"),
        "daemon.log reports the bad file: {text:?}"
    );
    // The daemon works, and a new save is good again.
    assert_eq!(wr.state("svc"), "stopped");
    wr.ok(&["start", "svc"]);
    wr.ok(&["save"]);
    let r = resurrect(&wr);
    assert_eq!(r, [("svc".to_string(), "already_running".to_string())]);
}

/// Two bad saved sets moved aside within the same second must both be kept (the spec: a file
/// that fails to parse is never silently deleted).
#[test]
fn two_corrupt_saved_sets_in_one_second_are_both_kept() {
    let wr = Wr::new();
    wr.start(&["--name", "svc", "--", "true"]);
    let saved = wr.home().join("saved.json");
    // Retry until both attempts fall in the same second of the local clock (the daemon's
    // clock is the same one), so that the case is really exercised.
    for attempt in 0.. {
        assert!(attempt < 20, "never managed two attempts within one second");
        for p in files_starting(wr.home(), "saved.json.corrupt-") {
            std::fs::remove_file(p).expect("clean up");
        }
        let t0 = now_ms();
        std::fs::write(&saved, b"first bad file").expect("write");
        wr.code(&["resurrect"], 1);
        std::fs::write(&saved, b"second bad file").expect("write");
        wr.code(&["resurrect"], 1);
        if t0 / 1000 != now_ms() / 1000 {
            continue;
        }
        let kept: Vec<Vec<u8>> = files_starting(wr.home(), "saved.json.corrupt-")
            .iter()
            .map(|p| std::fs::read(p).expect("read"))
            .collect();
        assert!(
            kept.contains(&b"first bad file".to_vec())
                && kept.contains(&b"second bad file".to_vec()),
            "both bad files must be kept, found {:?}",
            kept.iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
        );
        return;
    }
}

/// When `wrangle shutdown` has returned, a new daemon can start at once (e.g. a script doing
/// `wrangle shutdown && wrangle daemon --detach --resurrect`).
#[test]
fn a_daemon_starts_right_after_shutdown_returns() {
    let wr = Wr::new();
    let secs = unique_secs();
    for round in 0..2 {
        // Many entries that the shutdown stops: many state files to fsync at exit.
        for _ in 0..60 {
            wr.start(&["--", "sleep", &secs]);
        }
        wr.ok(&["shutdown"]);
        let o = wr.run(&["daemon", "--detach"]);
        assert_eq!(
            o.code, 0,
            "round {round}: `wrangle daemon --detach` right after `wrangle shutdown`: {:?}",
            o.stderr
        );
        wr.ok(&["rm", "all", "--all"]);
    }
}
