//! A daemon that may die (issue 11): kill -9 of the daemon and `wrangle upgrade` leave every
//! process running with the same pid, its output captured byte for byte, and its end (when it
//! ends while no daemon runs) reported with its real status.

mod common;

use common::tmux::Tmux;
use common::*;
use std::time::Duration;

/// The whole captured output of run `run` of entry `id` (rotated segments, then the log).
fn log_bytes(wr: &Wr, id: u64, run: u32) -> Vec<u8> {
    let dir = wr.home().join("logs").join(id.to_string());
    let mut segs: Vec<u32> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| {
                let n = e.ok()?.file_name().to_string_lossy().into_owned();
                let rest = n.strip_prefix(&format!("{run}."))?.strip_suffix(".log")?;
                rest.parse().ok()
            })
            .collect()
        })
        .unwrap_or_default();
    segs.sort_unstable();
    let mut out = Vec::new();
    for s in segs {
        out.extend(std::fs::read(dir.join(format!("{run}.{s}.log"))).unwrap_or_default());
    }
    out.extend(std::fs::read(dir.join(format!("{run}.log"))).unwrap_or_default());
    out
}

/// What `seq 1 n` prints.
fn seq(n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 1..=n {
        v.extend_from_slice(format!("{i}\n").as_bytes());
    }
    v
}

/// Replaces the daemon `times` times with `how` while entry `sel` runs, waiting each time for
/// a new daemon to answer; returns how many replacements happened while it still ran.
fn replace_while_running(wr: &Wr, sel: &str, times: usize, how: &dyn Fn(&Wr, i32)) -> usize {
    let mut done = 0;
    for _ in 0..times {
        if wr.state(sel) != "running" {
            break;
        }
        let before = wr.daemon_pid().expect("a daemon answers");
        how(wr, before);
        wait_until("a new daemon answers", SOON, || {
            wr.daemon_pid().is_some_and(|p| p != before)
        });
        done += 1;
    }
    done
}

fn kill9(_wr: &Wr, pid: i32) {
    kill(pid, libc::SIGKILL);
}

fn upgrade(wr: &Wr, _pid: i32) {
    wr.ok(&["upgrade"]);
}

/// A pipe entry writing a long stream and a terminal entry with a client attached: the daemon
/// is replaced five times; the same pids run on, each log holds exactly what was written, and
/// the client is still attached at the end.
fn stream_survives(how: &dyn Fn(&Wr, i32)) {
    let wr = Wr::new();
    // About 170 MB through a pipe.
    let n = 20_000_000;
    let pipe = wr.start(&[
        "--name",
        "pipe",
        "--log-max-size",
        "1M",
        "--log-keep",
        "1000",
        "--",
        "seq",
        "1",
        &n.to_string(),
    ]);
    let tty = wr.start(&[
        "--name",
        "tty",
        "--pty",
        "--",
        "sh",
        "-c",
        "seq 1 1000000; exec sleep 60",
    ]);
    let (pipe_pid, tty_pid) = (pipe["pid"].clone(), tty["pid"].clone());
    // A client attached to the terminal entry throughout, in a real terminal.
    let tmux = Tmux::new(&wr);
    tmux.session(
        "t",
        30,
        100,
        &format!(
            "env {} '{BIN}' attach tty; echo attach-exit-$?; exec sleep 1000000",
            Tmux::env(&wr)
        ),
    );
    let done = replace_while_running(&wr, "pipe", 5, how);
    assert!(
        done >= 1,
        "the stream ended before the daemon could be replaced"
    );
    wr.ok(&["wait", "pipe", "--timeout", "120s"]);
    let st = wr.status("pipe");
    // One run, never restarted, taken over by each new daemon with the same pid.
    assert_eq!(
        (st["run"].as_i64(), st["restarts"].as_i64()),
        (Some(1), Some(0)),
        "{st}"
    );
    assert_eq!(st["exit_code"], 0, "{st}");
    let events = st["events"].as_array().unwrap();
    let taken: Vec<&serde_json::Value> = events.iter().filter(|e| e["kind"] == "adopted").collect();
    // Each new daemon that found it running took it over (the last may have come after it
    // ended).
    assert!(!taken.is_empty() && taken.len() <= done, "{st}");
    for e in taken {
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(&format!("pid {pipe_pid}")), "{msg}");
    }
    let got = log_bytes(&wr, 1, 1);
    let want = seq(n);
    assert!(
        got == want,
        "the log of the stream differs after {done} replacements: {} bytes, want {}; first \
         difference at byte {:?}",
        got.len(),
        want.len(),
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
    // The terminal entry runs on with the same pid and its output whole.
    assert_eq!(wr.status("tty")["pid"], tty_pid);
    assert_eq!(wr.state("tty"), "running");
    // The terminal turns each newline into CR LF.
    let want: Vec<u8> = String::from_utf8(seq(1_000_000))
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    wait_until("the terminal's output is all captured", SOON, || {
        log_bytes(&wr, 2, 1).len() >= want.len()
    });
    let got = log_bytes(&wr, 2, 1);
    assert!(
        got == want,
        "the terminal's log differs: {} bytes, want {}; first difference at byte {:?}",
        got.len(),
        want.len(),
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
    // The attach client is still attached, its terminal still raw, and it got to the end.
    wait_until("the attach client shows the last line", SOON, || {
        tmux.capture("t").contains("1000000")
    });
    let screen = tmux.capture("t");
    assert!(!screen.contains("attach-exit-"), "attach ended: {screen}");
    let pane_tty = tmux.run(&["display", "-p", "-t", "t", "#{pane_tty}"]);
    let modes = std::process::Command::new("stty")
        .args(["-a", "-F", pane_tty.trim()])
        .output()
        .expect("run stty");
    let modes = String::from_utf8_lossy(&modes.stdout).into_owned();
    let words: Vec<&str> = modes.split_whitespace().collect();
    assert!(
        words.contains(&"-icanon") && words.contains(&"-echo"),
        "the attached terminal left raw mode: {modes}"
    );
    wr.ok(&["stop", "tty"]);
}

#[test]
fn kill_9_of_the_daemon_loses_no_process_and_no_byte() {
    stream_survives(&kill9);
}

#[test]
fn upgrade_in_place_loses_no_process_and_no_byte() {
    stream_survives(&upgrade);
}

#[test]
fn a_process_that_ends_while_no_daemon_runs_gets_its_real_status_and_policy() {
    let wr = Wr::new();
    let secs = unique_secs();
    let always = wr.start(&[
        "--name",
        "always",
        "--restart",
        "always",
        "--backoff",
        "0",
        "--",
        "sleep",
        &secs,
    ]);
    let never = wr.start(&["--name", "never", "--", "sleep", &secs]);
    let pid_of = |n: &str| wr.status(n)["pid"].as_i64().unwrap() as i32;
    let mut victims = vec![pid_of("never")];
    for _ in 0..3 {
        wait_until("the always entry runs", SOON, || {
            wr.state("always") == "running"
        });
        let daemon = wr.daemon_pid().unwrap();
        let old = pid_of("always");
        victims.push(old);
        // The daemon first, then its processes: they end while it is dead (or starting).
        kill(daemon, libc::SIGKILL);
        for p in victims.drain(..) {
            kill(p, libc::SIGTERM);
        }
        wait_until("a new daemon answers", SOON, || {
            wr.daemon_pid().is_some_and(|p| p != daemon)
        });
        wait_until("the always entry runs again", SOON, || {
            let s = wr.status("always");
            s["state"] == "running" && s["pid"].as_i64() != Some(old as i64)
        });
    }
    let never = wr.status(&never["id"].to_string());
    assert_eq!(never["state"], "exited", "{never}");
    assert_eq!(never["exit_signal"], 15, "{never}");
    let a = wr.status(&always["id"].to_string());
    let ends: Vec<&serde_json::Value> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "exited")
        .collect();
    assert_eq!(ends.len(), 3, "{a}");
    assert!(
        ends.iter().all(|e| e["message"] == "signal TERM"),
        "each end is told with its signal: {ends:?}"
    );
    // No run started twice: exactly one process of the always entry.
    assert_eq!(procs_with_arg(&secs).len(), 1);
    wr.ok(&["rm", "--all", "all"]);
}

#[test]
fn a_failed_upgrade_leaves_the_old_daemon_serving() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&["--", "sleep", &secs]);
    let daemon = wr.daemon_pid().unwrap();
    let o = wr.code(&["upgrade", "--binary", "/bin/false"], 1);
    assert!(
        o.stderr.contains("exited") && o.stderr.contains("before it was ready"),
        "{}",
        o.stderr
    );
    assert_eq!(wr.daemon_pid(), Some(daemon));
    let o = wr.code(&["upgrade", "--binary", "/no/such/wrangle"], 1);
    assert!(o.stderr.contains("/no/such/wrangle"), "{}", o.stderr);
    assert_eq!(wr.daemon_pid(), Some(daemon));
    assert_eq!(wr.status(&e["id"].to_string())["pid"], e["pid"]);
    assert_eq!(wr.state(&e["id"].to_string()), "running");
    // And a real upgrade still works after the failed ones.
    wr.ok(&["upgrade"]);
    let after = wr.daemon_pid().unwrap();
    assert_ne!(after, daemon);
    assert_eq!(wr.status(&e["id"].to_string())["pid"], e["pid"]);
    assert_eq!(procs_with_arg(&secs).len(), 1);
    // Saving and resurrecting still work, and start nothing twice.
    wr.ok(&["save"]);
    wr.ok(&["resurrect"]);
    assert_eq!(procs_with_arg(&secs).len(), 1);
    wr.ok(&["rm", "--all", "all"]);
}

#[test]
fn daemon_replace_hands_over_instead_of_stopping() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&["--", "sleep", &secs]);
    let daemon = wr.daemon_pid().unwrap();
    wr.run_within(&["daemon", "--replace"], Duration::from_secs(30));
    let after = wr.daemon_pid().unwrap();
    assert_ne!(after, daemon);
    assert_eq!(wr.status(&e["id"].to_string())["pid"], e["pid"]);
    assert_eq!(procs_with_arg(&secs).len(), 1);
    wr.ok(&["rm", "--all", "all"]);
}

#[test]
fn a_daemon_killed_during_its_upgrade_leaves_exactly_one_daemon() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&["--", "sleep", &secs]);
    let daemon = wr.daemon_pid().unwrap();
    // A new binary that takes its time before it is the real one.
    let slow = wr.root.join("slow-wrangle");
    let went_on = wr.root.join("went-on");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nsleep 1\ntouch '{}'\nexec '{BIN}' \"$@\"\n",
            went_on.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut up = wr.cmd(&["upgrade", "--binary", &slow.display().to_string()]);
    let mut up = up.spawn().expect("run wrangle upgrade");
    // The old daemon dies while the new binary starts.
    let slow_arg = slow.display().to_string();
    // The script itself (the client's own argv names it too).
    let script = ["/bin/sh", slow_arg.as_str(), "daemon"];
    wait_until("the new binary is starting", SOON, || {
        !procs_with_argv(&script).is_empty()
    });
    kill(daemon, libc::SIGKILL);
    let _ = up.wait();
    wait_until("a new daemon answers", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != daemon)
    });
    // The slow binary is stopped (or, were it let be, becomes a second daemon).
    wait_until("the abandoned new binary is gone", SOON, || {
        procs_with_argv(&script).is_empty()
    });
    assert!(
        !went_on.exists(),
        "the upgrade went on after the daemon that asked for it died; daemon.log: {}",
        std::fs::read_to_string(wr.home().join("daemon.log")).unwrap_or_default()
    );
    let workers: Vec<i32> = wr
        .daemon_pids()
        .into_iter()
        .filter(|&p| !is_keeper(p))
        .collect();
    assert_eq!(workers.len(), 1, "daemons: {workers:?}");
    assert_eq!(wr.status(&e["id"].to_string())["pid"], e["pid"]);
    assert_eq!(procs_with_arg(&secs).len(), 1);
    wr.ok(&["rm", "--all", "all"]);
}

/// A daemon that cannot start says why on the command line of the client that started it,
/// whether the reason is found by the keeper (the socket or the state folder is taken) or by
/// the daemon proper it runs (a bad config file), not just "see daemon.log".
#[test]
fn a_daemon_that_cannot_start_says_why_on_the_command_line() {
    use std::os::unix::fs::DirBuilderExt;
    let wr = Wr::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(wr.home())
        .unwrap();
    // The config file's line and column, from the first worker, through the keeper.
    let config = wr.home().join("config.json");
    std::fs::write(&config, "{\n  \"logs\": {\"max_size\": }\n}\n").unwrap();
    let o = wr.code(&["ls"], 5);
    assert!(
        o.stderr.contains(&format!("{}: ", config.display()))
            && o.stderr.contains("line 2 column 24"),
        "{}",
        o.stderr
    );
    assert!(wr.daemon_pids().is_empty(), "no daemon stays");

    // Already running on the socket: `daemon --detach` names it and its pid.
    std::fs::remove_file(&config).unwrap();
    wr.ok(&["ls"]);
    let o = wr.code(&["daemon", "--detach"], 1);
    let want = format!("already running on {} (pid ", wr.socket().display());
    assert!(o.stderr.contains(&want), "{}", o.stderr);

    // The state folder is taken by that daemon: a client on another socket is told so.
    let mut c = wr.cmd(&["ls"]);
    c.env("WRANGLE_SOCKET", wr.root.join("other.sock"));
    let o = finish(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        CMD_DEADLINE,
        "ls on another socket",
    );
    assert_eq!(o.code, 5, "{o:?}");
    let want = format!(
        "another wrangle daemon is using the state folder {}",
        wr.home().display()
    );
    assert!(o.stderr.contains(&want), "{}", o.stderr);
}
