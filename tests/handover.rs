//! The live state of transitional phases across a daemon's replacement (issue 11): an entry
//! waiting to restart restarts at its original time with its restart count kept, a stop under
//! way ends in its KILL at its original time and the entry stays stopped, whether the daemon
//! was upgraded (`wrangle upgrade`) or killed (kill -9); and a daemon killed at any step of a
//! hand-over leaves exactly one daemon with every process, none started twice.

mod common;

use common::*;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// Unix milliseconds now.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Entry `sel`'s events of `kind`: (time, message), oldest first.
fn events(wr: &Wr, sel: &str, kind: &str) -> Vec<(u64, String)> {
    wr.status(sel)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| {
            (
                e["ts_ms"].as_u64().unwrap(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Returns once the wall clock reads `at` (Unix ms): the moment the daemon is replaced,
/// well inside the phase under test.
fn until(at: u64) {
    wait_until("the moment to replace the daemon", SOON, || now_ms() >= at);
}

/// Replaces the daemon: `wrangle upgrade`, or kill -9 and a new one started by the keeper.
fn upgrade(wr: &Wr) {
    let before = wr.daemon_pid().expect("a daemon answers");
    wr.ok(&["upgrade"]);
    assert_ne!(wr.daemon_pid(), Some(before));
}

fn kill9(wr: &Wr) {
    let before = wr.daemon_pid().expect("a daemon answers");
    kill(before, libc::SIGKILL);
    wait_until("a new daemon answers", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != before)
    });
}

/// An entry that crashes at once and waits 3 s to restart: the daemon is replaced 1.2 s into
/// each wait; the restart still comes 3 s after the wait began, and each wait counts on.
fn backoff_keeps_its_deadline_and_count(replace: &dyn Fn(&Wr)) {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "crash",
        "--restart",
        "always",
        "--backoff",
        "3s,1",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    for round in 1..=3usize {
        wait_until("it waits to restart", SOON, || {
            events(&wr, "crash", "backoff").len() >= round
        });
        let (began, msg) = events(&wr, "crash", "backoff")[round - 1].clone();
        assert!(
            msg.contains(&format!("attempt {round}")),
            "wait {round} counts on from the last: {msg}"
        );
        until(began + 1200);
        replace(&wr);
        wait_until("it restarts", SOON, || {
            events(&wr, "crash", "restarting").len() >= round
        });
        let (restarted, _) = events(&wr, "crash", "restarting")[round - 1].clone();
        let took = restarted.saturating_sub(began);
        assert!(
            (2900..4000).contains(&took),
            "round {round}: restarted {took} ms after its 3 s wait began (replaced at 1.2 s)"
        );
        let st = wr.status("crash");
        assert!(st["restarts"].as_u64() >= Some(round as u64), "{st}");
    }
    wr.ok(&["rm", "--all", "all"]);
}

#[test]
fn a_backoff_restarts_at_its_time_after_an_upgrade() {
    backoff_keeps_its_deadline_and_count(&upgrade);
}

#[test]
fn a_backoff_restarts_at_its_time_after_kill_9_of_the_daemon() {
    backoff_keeps_its_deadline_and_count(&kill9);
}

/// An entry that ignores its stop signal, stopped with a 2 s stop timeout: the daemon is
/// replaced 0.7 s into the stop; KILL still comes 2 s after the stop began, the entry is
/// stopped (not restarted, though its policy is `always`), and its process is gone.
/// `exact`: the daemon was upgraded, and the new one carried on from the live state the old
/// one handed it (not from the entry's saved deadline, which says "still stopping").
fn a_stop_goes_on(replace: &dyn Fn(&Wr), exact: bool) {
    let wr = Wr::new();
    let secs = unique_secs();
    // A sleep ignores WINCH from its first instruction.
    wr.start(&[
        "--name",
        "stubborn",
        "--restart",
        "always",
        "--stop-signal",
        "WINCH",
        "--stop-timeout",
        "2s",
        "--",
        "sleep",
        &secs,
    ]);
    for round in 1..=3usize {
        wait_until("it runs", SOON, || wr.state("stubborn") == "running");
        let pid = wr.status("stubborn")["pid"].as_i64().unwrap() as i32;
        let stop = wr
            .cmd(&["stop", "stubborn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wrangle stop");
        // The stops asked for (a daemon that resumes one says "still stopping").
        let asked = || -> Vec<(u64, String)> {
            events(&wr, "stubborn", "stopping")
                .into_iter()
                .filter(|e| e.1.starts_with("stopping with"))
                .collect()
        };
        wait_until("the stop began", SOON, || asked().len() >= round);
        let (began, _) = asked()[round - 1].clone();
        until(began + 700);
        replace(&wr);
        wait_until("it is stopped", SOON, || wr.state("stubborn") == "stopped");
        // The waiting `stop` asked the new daemon again and reports the stop.
        let o = finish(stop, SOON, "wrangle stop");
        assert_eq!(o.code, 0, "round {round}: stop: {}", o.stderr);
        assert!(o.text().contains("stopped"), "round {round}: {}", o.text());
        let st = wr.status("stubborn");
        assert_eq!(st["exit_signal"], 9, "KILLed: {st}");
        let killing = events(&wr, "stubborn", "killing");
        let (killed, _) = *killing.last().expect("a KILL was announced");
        let took = killed.saturating_sub(began);
        assert!(
            (1900..3000).contains(&took),
            "round {round}: KILL {took} ms after the stop began (2 s timeout, replaced at 0.7 s): {st}"
        );
        assert_eq!(st["restarts"], 0, "never restarted: {st}");
        let resumed = events(&wr, "stubborn", "stopping")
            .iter()
            .any(|e| e.1.starts_with("still stopping"));
        assert_eq!(resumed, !exact, "{st}");
        assert!(!alive(pid), "pid {pid} is gone");
        assert!(procs_with_arg(&secs).is_empty());
        wr.ok(&["start", "stubborn"]);
    }
    wr.ok(&["rm", "--all", "all"]);
}

#[test]
fn a_stop_goes_on_across_an_upgrade() {
    a_stop_goes_on(&upgrade, true);
}

#[test]
fn a_stop_goes_on_across_kill_9_of_the_daemon() {
    a_stop_goes_on(&kill9, false);
}

/// The daemon's worker processes (not the keeper).
fn workers(wr: &Wr) -> Vec<i32> {
    wr.daemon_pids()
        .into_iter()
        .filter(|&p| !is_keeper(p))
        .collect()
}

/// A debug build's daemon kills itself at a named step of a hand-over (see
/// `Daemon::die_at`); at each, exactly one daemon serves after, with every entry and its pid,
/// and no process started twice; and a later upgrade works.
#[test]
fn a_daemon_killed_at_any_step_of_a_hand_over_leaves_one_daemon_and_every_process() {
    let wr = Wr::new();
    let secs = unique_secs();
    let a = wr.start(&["--name", "a", "--", "sleep", &secs]);
    let b = wr.start(&["--name", "b", "--pty", "--", "sleep", &secs]);
    let pids: Vec<Value> = [&a, &b].iter().map(|e| e["pid"].clone()).collect();
    let hook = wr.home().join("test-die-at");
    let steps = ["saved", "asked", "verdict", "taken", "ready"];
    for step in steps.iter().cycle().take(3 * steps.len()).copied() {
        let before = wr.daemon_pid().expect("a daemon answers");
        // At `ready` the new daemon kills the old one as it says it is ready: the keeper
        // keeps the new one if it heard it first, else starts another; one daemon either way.
        let order = match step {
            "ready" => format!("ready {before}"),
            _ => step.to_string(),
        };
        std::fs::write(&hook, order).unwrap();
        let o = wr.run_within(&["upgrade"], Duration::from_secs(30));
        assert!(!hook.exists(), "step {step} was reached: {}", o.stderr);
        wait_until("a daemon answers", SOON, || wr.daemon_pid().is_some());
        wait_until("exactly one daemon runs", SOON, || workers(&wr).len() == 1);
        let now = wr.daemon_pid().unwrap();
        match step {
            // The new daemon died before it was ready: the old one carries on.
            "taken" => {
                assert_eq!(now, before, "{}", o.stderr);
                assert_eq!(o.code, 1, "{}", o.stderr);
            }
            _ => assert_ne!(now, before, "step {step}"),
        }
        for (sel, pid) in ["a", "b"].iter().zip(&pids) {
            let st = wr.status(sel);
            assert_eq!(st["state"], "running", "step {step}: {st}");
            assert_eq!(&st["pid"], pid, "step {step}: {st}");
        }
        assert_eq!(procs_with_arg(&secs).len(), 2, "step {step}");
        assert!(
            !wr.home().join("live.json").exists(),
            "step {step}: the live state is left behind"
        );
    }
    wr.ok(&["upgrade"]);
    assert_eq!(workers(&wr).len(), 1);
    for (sel, pid) in ["a", "b"].iter().zip(&pids) {
        assert_eq!(&wr.status(sel)["pid"], pid);
    }
    assert_eq!(procs_with_arg(&secs).len(), 2);
    wr.ok(&["rm", "--all", "all"]);
}

/// A run that ends by itself leaving a process that ignores the stop signal: the daemon is
/// upgraded 0.7 s into the leftovers' stop; KILL still comes 2 s after it began, and the run
/// is reported exited (its own exit status, not stopped).
#[test]
fn an_ending_runs_leftovers_stop_goes_on_across_an_upgrade() {
    let wr = Wr::new();
    let secs = unique_secs();
    let script = format!("sleep {secs} >/dev/null 2>&1 & exit 7");
    wr.start(&[
        "--name",
        "parent",
        "--stop-signal",
        "WINCH",
        "--stop-timeout",
        "2s",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    for round in 1..=3usize {
        wait_until("its leftovers are being stopped", SOON, || {
            events(&wr, "parent", "leftovers").len() >= round
        });
        let (began, msg) = events(&wr, "parent", "leftovers")[round - 1].clone();
        assert!(msg.contains("stopping 1 leftover"), "{msg}");
        until(began + 700);
        upgrade(&wr);
        wait_until("the run is over", SOON, || wr.state("parent") == "exited");
        let st = wr.status("parent");
        assert_eq!(st["exit_code"], 7, "{st}");
        let (killed, _) = *events(&wr, "parent", "killing")
            .last()
            .expect("a KILL was announced");
        let took = killed.saturating_sub(began);
        assert!(
            (1900..3000).contains(&took),
            "round {round}: KILL {took} ms after the leftovers' stop began: {st}"
        );
        wait_until("the leftover is gone", SOON, || {
            procs_with_arg(&secs).is_empty()
        });
        wr.ok(&["start", "parent"]);
    }
    wr.ok(&["rm", "--all", "all"]);
}

/// A service that switches to its idle profile after 3 s untouched: upgraded 1.2 s after it
/// was last named, it switches 3 s after that still, not 3 s after the upgrade.
#[test]
fn an_idle_timer_keeps_its_time_across_an_upgrade() {
    for _ in 0..2 {
        let wr = Wr::new();
        std::fs::write(
            wr.root.join("wrangle.json"),
            format!(
                r#"{{"services": {{"idler": {{"cmd": ["sleep", "{}"],
                    "profiles": {{"quiet": {{"env": {{"QUIET": "1"}}}}}},
                    "idle_profile": {{"after": "3s", "profile": "quiet"}}}}}}}}"#,
                unique_secs()
            ),
        )
        .unwrap();
        let before = now_ms();
        wr.ok(&["up"]);
        let touched = now_ms();
        until(touched + 1200);
        upgrade(&wr);
        // Polled with a bare `ls`: a command naming the service touches it.
        wait_until("the idle switch restarted it", SOON, || {
            wr.ls()
                .iter()
                .any(|e| e["profile"] == "quiet" && e["state"] == "running")
        });
        let (switched, _) = events(&wr, "idler", "idle")[0].clone();
        assert!(
            switched >= before + 2900 && switched < touched + 4000,
            "switched {} ms after `up` began, {} ms after it returned (3 s idle, upgraded \
             at 1.2 s)",
            switched.saturating_sub(before),
            switched.saturating_sub(touched)
        );
        wr.ok(&["down"]);
    }
}

/// A restart under way is not handed over (its second half, the start, lives in the old
/// daemon's memory): the upgrade is refused, naming the entry, and works once it is done.
#[test]
fn an_upgrade_waits_for_a_restart_under_way() {
    let wr = Wr::new();
    let secs = unique_secs();
    wr.start(&[
        "--name",
        "slow",
        "--stop-signal",
        "WINCH",
        "--stop-timeout",
        "2s",
        "--",
        "sleep",
        &secs,
    ]);
    let first = wr.status("slow")["pid"].clone();
    let mut restart = wr
        .cmd(&["restart", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run wrangle restart");
    wait_until("the restart is stopping it", SOON, || {
        wr.state("slow") == "stopping"
    });
    let daemon = wr.daemon_pid().unwrap();
    let o = wr.code(&["upgrade"], 1);
    assert!(
        o.stderr.contains("restart") && o.stderr.contains("slow"),
        "{}",
        o.stderr
    );
    assert_eq!(wr.daemon_pid(), Some(daemon));
    let status = restart.wait().expect("wrangle restart ends");
    assert!(status.success());
    let st = wr.status("slow");
    assert_eq!(st["state"], "running", "{st}");
    assert_ne!(st["pid"], first, "{st}");
    wr.ok(&["upgrade"]);
    assert_eq!(wr.status("slow")["pid"], st["pid"]);
    wr.ok(&["rm", "--all", "all"]);
}
