//! Black-box tests of the core: the real binary, a private `WRANGLE_HOME` per test, no fixed
//! sleeps (every wait polls a condition with a deadline), and a daemon shut down at the end of
//! every test even when it fails (see `common::Wr`).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::sync::Barrier;
use std::time::{Duration, Instant};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .mode()
        & 0o777
}

fn id_of(v: &Value) -> u64 {
    v["id"].as_u64().expect("an entry has an id")
}

fn pid_of(v: &Value) -> i32 {
    v["pid"].as_i64().expect("a running entry has a pid") as i32
}

/// The log file of run `run` of entry `id`.
fn log_file(wr: &Wr, id: u64, run: u32) -> std::path::PathBuf {
    wr.home()
        .join("logs")
        .join(id.to_string())
        .join(format!("{run}.log"))
}

// 1. Auto-start, and one daemon after a race -----------------------------------------------------

#[test]
fn first_run_starts_the_daemon_and_ping_never_does() {
    let wr = Wr::new();
    let o = wr.code(&["ping"], 5);
    assert!(
        o.stderr.contains("no daemon"),
        "ping should say no daemon is running: {:?}",
        o.stderr
    );
    // Twice, and ping --json too: none of them may have started a daemon.
    wr.code(&["ping", "--json"], 5);
    assert!(
        !wr.home().join("wrangle.sock").exists(),
        "ping must not create a socket"
    );
    assert!(wr.daemon_pids().is_empty(), "ping started a daemon");

    let o = wr.ok(&["run", "--name", "first", "--", "true"]);
    assert!(
        o.text().starts_with("started first (id 1, pid "),
        "run prints what it started: {:?}",
        o.text()
    );
    let o = wr.ok(&["ping"]);
    assert!(o.text().contains("daemon pid"), "{:?}", o.text());
    let p = wr.ok(&["ping", "--json"]).json();
    assert!(p["pid"].as_i64().unwrap_or(0) > 0, "{p}");
    assert_eq!(p["entries"], 1, "{p}");
    assert_eq!(
        p["socket"].as_str().unwrap_or_default(),
        wr.home().join("wrangle.sock").display().to_string()
    );
    // `shutdown` with a daemon stops it; then ping says 5 again and shutdown is a no-op.
    wr.ok(&["shutdown"]);
    wr.code(&["ping"], 5);
    let o = wr.ok(&["shutdown"]);
    assert!(o.text().contains("no daemon"), "{:?}", o.text());
    wr.code(&["ping"], 5);
}

#[test]
fn eight_clients_at_once_make_exactly_one_daemon() {
    let wr = Wr::new();
    let barrier = Barrier::new(8);
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    wr.run(&["ls"])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert_eq!(o.code, 0, "a racing `ls` failed: {o:?}");
        assert!(o.text().starts_with("ID"), "{:?}", o.text());
    }
    // Every client now reaches the same daemon.
    let pings: Vec<i64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| wr.ok(&["ping", "--json"]).json()["pid"].as_i64().unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        pings.iter().all(|&p| p == pings[0]),
        "pids differ: {pings:?}"
    );
    // Exactly one daemon process for this WRANGLE_HOME (the losers of the race exit at once).
    let home = format!("WRANGLE_HOME={}", wr.home().display()).into_bytes();
    let ours = || -> Vec<i32> {
        pids()
            .into_iter()
            .filter(|&p| alive(p) && is_wrangle_daemon(p))
            .filter(|&p| environ(p).contains(&home))
            .collect()
    };
    // One daemon and its keeper.
    wait_until("a single daemon and its keeper remain", SOON, || {
        ours().len() == 2
    });
    let (keepers, daemons): (Vec<i32>, Vec<i32>) = ours().into_iter().partition(|&p| is_keeper(p));
    assert_eq!(daemons, vec![pings[0] as i32]);
    assert_eq!(keepers.len(), 1, "{keepers:?}");
}

// 2. Private socket and folders ------------------------------------------------------------------

#[test]
fn socket_is_0600_and_home_is_private() {
    let wr = Wr::new();
    let e = wr.start(&["--", "sh", "-c", "echo hi"]);
    wr.code(&["wait", &id_of(&e).to_string()], 0);
    let sock = wr.home().join("wrangle.sock");
    let md = std::fs::symlink_metadata(&sock).expect("the socket exists");
    assert!(md.file_type().is_socket());
    assert_eq!(mode(&sock), 0o600, "socket mode");
    assert_eq!(mode(wr.home()), 0o700, "WRANGLE_HOME created private");
    assert_eq!(md.uid(), unsafe { libc::getuid() });
    assert_eq!(
        mode(&wr.home().join("registry.journal.1")),
        0o600,
        "registry mode"
    );
    assert_eq!(mode(&log_file(&wr, id_of(&e), 1)), 0o600, "log mode");
    wr.ok(&["shutdown"]);

    // A WRANGLE_HOME others may write to is refused, naming the folder; no daemon starts.
    let mut open = Wr::new();
    let h = open.root.join("open");
    std::fs::create_dir(&h).unwrap();
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o777)).unwrap();
    open.home = Some(h.clone());
    let o = open.run(&["ls"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains(&h.display().to_string()),
        "{:?}",
        o.stderr
    );
    assert!(!h.join("wrangle.sock").exists());
    assert!(open.daemon_pids().is_empty());
}

#[test]
fn world_writable_socket_folder_is_refused() {
    let mut wr = Wr::new();
    let dir = wr.root.join("pub");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    wr.set_env("WRANGLE_SOCKET", dir.join("wrangle.sock"));
    for args in [
        &["ls"][..],
        &["run", "--", "true"][..],
        &["ping"][..],
        &["status", "all"][..],
    ] {
        let o = wr.run(args);
        assert!(
            o.code == 1 || o.code == 5,
            "`wrangle {}` should fail with 1 or 5: {o:?}",
            args.join(" ")
        );
        assert!(
            o.stderr.contains(&dir.display().to_string()) && o.stderr.contains("refusing"),
            "the message names the folder: {:?}",
            o.stderr
        );
    }
    assert!(!dir.join("wrangle.sock").exists(), "no socket was created");
    assert!(wr.daemon_pids().is_empty(), "no daemon was started");
}

#[test]
fn socket_goes_in_xdg_runtime_dir_in_a_private_folder() {
    let wr = Wr::custom(|root| {
        let run = root.join("run");
        std::fs::create_dir(&run).unwrap();
        vec![
            ("XDG_RUNTIME_DIR", Some(run.into())),
            ("WRANGLE_STATE_DIR", Some(root.join("st").into())),
            ("WRANGLE_CONFIG", Some(root.join("config.json").into())),
        ]
    });
    wr.ok(&["ls"]);
    let dir = wr.root.join("run").join("wrangle");
    let sock = dir.join("wrangle.sock");
    assert!(std::fs::symlink_metadata(&sock)
        .expect("socket in $XDG_RUNTIME_DIR/wrangle")
        .file_type()
        .is_socket());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(wr.socket(), sock);
    let p = wr.ok(&["ping", "--json"]).json();
    assert_eq!(
        p["state_dir"].as_str().unwrap(),
        wr.root.join("st").display().to_string()
    );

    // The folder exists but is 0755: refused, naming it.
    let bad = Wr::custom(|root| {
        let run = root.join("run");
        std::fs::create_dir_all(run.join("wrangle")).unwrap();
        std::fs::set_permissions(run.join("wrangle"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        vec![
            ("XDG_RUNTIME_DIR", Some(run.into())),
            ("WRANGLE_STATE_DIR", Some(root.join("st").into())),
            ("WRANGLE_CONFIG", Some(root.join("config.json").into())),
        ]
    });
    let d = bad.root.join("run").join("wrangle");
    for args in [&["ls"][..], &["ping"][..]] {
        let o = bad.run(args);
        assert!(o.code == 1 || o.code == 5, "{o:?}");
        assert!(
            o.stderr.contains(&d.display().to_string()) && o.stderr.contains("0755"),
            "{:?}",
            o.stderr
        );
    }
    assert!(!d.join("wrangle.sock").exists());
    assert!(bad.daemon_pids().is_empty());
}

// 3, 4. Output capture -----------------------------------------------------------------------

#[test]
fn every_byte_value_is_captured_exactly() {
    let wr = Wr::new();
    let fmt: String = (0..=255u32).map(|b| format!("\\{b:03o}")).collect();
    let script = r#"i=0; while [ $i -lt 4 ]; do printf "$1"; i=$((i+1)); done"#;
    let want: Vec<u8> = (0..4).flat_map(|_| 0..=255u8).collect();

    let out = wr.start(&["--name", "bytes", "--", "sh", "-c", script, "sh", &fmt]);
    wr.code(&["wait", "bytes"], 0);
    let file = std::fs::read(log_file(&wr, id_of(&out), 1)).expect("read the run's log");
    assert_eq!(file, want, "log file differs from what the child wrote");
    assert_eq!(wr.logs("bytes", &["--stdout"]), want, "logs --stdout");
    assert_eq!(wr.logs("bytes", &[]), want, "logs");
    assert!(
        wr.logs("bytes", &["--stderr"]).is_empty(),
        "nothing on stderr"
    );

    // The same on standard error.
    let script_err = format!("{{ {script}; }} >&2");
    let err = wr.start(&[
        "--name",
        "ebytes",
        "--",
        "sh",
        "-c",
        &script_err,
        "sh",
        &fmt,
    ]);
    wr.code(&["wait", "ebytes"], 0);
    let file = std::fs::read(log_file(&wr, id_of(&err), 1)).unwrap();
    assert_eq!(file, want);
    assert_eq!(wr.logs("ebytes", &["--stderr"]), want, "logs --stderr");
    assert!(
        wr.logs("ebytes", &["--stdout"]).is_empty(),
        "nothing on stdout"
    );
}

#[test]
fn last_bytes_before_exit_are_in_the_log() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "lw",
        "--",
        "sh",
        "-c",
        "printf last-words; exit 7",
    ]);
    wr.code(&["wait", "lw"], 7);
    assert_eq!(wr.logs("lw", &[]), b"last-words");
    let s = wr.status("lw");
    assert_eq!(s["state"], "exited");
    assert_eq!(s["exit_code"], 7);

    // ~5 MB written then an immediate exit: once `wait` returns every byte is in the log.
    let big: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(wr.root.join("big.bin"), &big).unwrap();
    let e = wr.start(&["--name", "big", "--", "sh", "-c", "cat big.bin; exit 3"]);
    wr.code(&["wait", "big"], 3);
    let file = std::fs::read(log_file(&wr, id_of(&e), 1)).unwrap();
    assert_eq!(file.len(), big.len(), "bytes in the log right after wait");
    assert!(file == big, "the log's bytes differ from what was written");
    assert_eq!(wr.state("big"), "exited");
    assert!(
        wr.logs("big", &["--stdout"]) == big,
        "logs --stdout differs"
    );
}

// 5. Many children ---------------------------------------------------------------------------

#[test]
fn two_hundred_children_are_all_reaped_with_their_codes() {
    let wr = Wr::new();
    wr.ok(&["ls"]);
    let daemon = wr.daemon_pid().expect("daemon up");
    std::thread::scope(|s| {
        for t in 0..4 {
            let wr = &wr;
            s.spawn(move || {
                for n in (t..200).step_by(4) {
                    let name = format!("c{n}");
                    let code = format!("exit {}", n % 256);
                    wr.ok(&["run", "--name", &name, "--", "sh", "-c", &code]);
                }
            });
        }
    });
    wait_until(
        "all 200 entries have exited",
        Duration::from_secs(60),
        || {
            let v = wr.ls();
            v.len() == 200 && v.iter().all(|e| e["state"] == "exited")
        },
    );
    let codes: BTreeMap<String, i64> = wr
        .ls()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["exit_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    for n in 0..200 {
        assert_eq!(codes[&format!("c{n}")], n % 256, "exit code of c{n}");
    }
    // Nothing left under the daemon: no zombie, no child at all.
    let zombies: Vec<i32> = pids()
        .into_iter()
        .filter(|&p| matches!(stat(p), Some((b'Z', pp)) if pp == daemon))
        .collect();
    assert!(zombies.is_empty(), "zombies under the daemon: {zombies:?}");
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{daemon}/task")) {
        for t in tasks.flatten() {
            if let Ok(kids) = std::fs::read_to_string(t.path().join("children")) {
                assert!(kids.trim().is_empty(), "daemon still has children: {kids}");
            }
        }
    }
    assert_eq!(wr.ok(&["ping", "--json"]).json()["running"], 0);
}

// 6, 7, 8. Stopping -----------------------------------------------------------------------------

#[test]
fn stop_kills_the_whole_tree_including_setsid_grandchildren() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    let script = format!("setsid sleep {a} & sleep {b}");
    wr.start(&["--name", "tree", "--", "sh", "-c", &script]);
    wait_until("both sleeps run", SOON, || {
        procs_with_argv(&["sleep", &a]).len() == 1 && procs_with_argv(&["sleep", &b]).len() == 1
    });
    // The grandchild really left the entry's session and group.
    let grandchild = procs_with_argv(&["sleep", &a])[0];
    let child = procs_with_argv(&["sleep", &b])[0];
    let sid = |p: i32| -> String {
        let s = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        s[s.rfind(')').unwrap_or(0)..]
            .split_ascii_whitespace()
            .nth(4)
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(sid(grandchild), sid(child), "setsid did not take effect");
    let o = wr.ok(&["stop", "tree"]);
    assert!(o.text().contains("stopped tree"), "{:?}", o.text());
    // Right when stop returns: nothing is left.
    assert!(
        procs_with_arg(&a).is_empty(),
        "the setsid grandchild survived the stop"
    );
    assert!(procs_with_arg(&b).is_empty(), "the child survived the stop");
    assert_eq!(wr.state("tree"), "stopped");
}

/// Independent instances (separate `WRANGLE_HOME`s, SPEC §2) must never touch each other's
/// processes, and neither may a stop touch a process wrangle did not start: the search for
/// escaped descendants by the inherited `WRANGLE_ID` must be scoped to this daemon.
#[test]
fn stop_never_touches_another_instances_processes() {
    let a = Wr::new();
    let b = Wr::new();
    let (sa, sb, sc) = (unique_secs(), unique_secs(), unique_secs());
    let ea = a.start(&["--", "sleep", &sa]);
    let eb = b.start(&["--", "sleep", &sb]);
    assert_eq!(id_of(&ea), 1);
    assert_eq!(id_of(&eb), 1, "both instances start at id 1");
    // A process started by hand that happens to carry WRANGLE_ID=1 (say, from a shell that
    // was itself once run by some wrangle).
    let mut stranger = std::process::Command::new("sleep")
        .arg(&sc)
        .env("WRANGLE_ID", "1")
        .spawn()
        .unwrap();
    let stranger_pid = stranger.id() as i32;
    wait_until("the stranger runs", SOON, || {
        procs_with_argv(&["sleep", &sc]) == vec![stranger_pid]
    });
    a.ok(&["stop", "1"]);
    assert!(procs_with_argv(&["sleep", &sa]).is_empty());
    let b_alive = alive(pid_of(&eb));
    let stranger_alive = matches!(stranger.try_wait(), Ok(None));
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert!(
        b_alive,
        "stopping entry 1 of one instance killed entry 1 of another instance"
    );
    assert!(
        stranger_alive,
        "stopping entry 1 killed an unrelated process that had WRANGLE_ID=1 in its environment"
    );
    assert_eq!(b.state("1"), "running");
}

#[test]
fn stop_escalates_to_kill_for_a_child_that_ignores_term() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "stubborn",
        "--stop-timeout",
        "1s",
        "--",
        "sh",
        "-c",
        r#"trap "" TERM; echo ready; while :; do sleep 0.1; done"#,
    ]);
    wr.wait_log("stubborn", "ready");
    let t0 = Instant::now();
    wr.ok(&["stop", "stubborn", "--timeout", "500ms"]);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "stop returned after {took:?}: KILL came before the timeout"
    );
    let s = wr.status("stubborn");
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["exit_signal"], 9, "{s}");
    assert!(s["exit_code"].is_null(), "{s}");
    let events: Vec<String> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["kind"], e["message"]))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("stopped") && e.contains("KILL")),
        "the stop event mentions KILL: {events:?}"
    );
    // wait reports the signal as 128+9.
    wr.code(&["wait", "stubborn"], 137);
}

#[test]
fn a_second_stop_with_a_shorter_timeout_brings_the_kill_earlier() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "stubborn",
        "--",
        "sh",
        "-c",
        r#"trap "" TERM; echo ready; while :; do sleep 0.1; done"#,
    ]);
    wr.wait_log("stubborn", "ready");
    let t0 = Instant::now();
    let first = wr
        .cmd(&["stop", "stubborn", "--timeout", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the first stop");
    wait_until("the first stop began", SOON, || {
        wr.state("stubborn") == "stopping"
    });
    let second = wr.run(&["stop", "stubborn", "--timeout", "1s"]);
    let took = t0.elapsed();
    assert_eq!(second.code, 0, "second stop: {:?}", second.stderr);
    assert!(
        took < Duration::from_secs(15),
        "the second stop (--timeout 1s) returned after {took:?}: it waited out the first's 30s"
    );
    // The first client gets its answer too, once the entry has ended.
    let first = finish(first, SOON, "wrangle stop stubborn --timeout 30s");
    assert_eq!(first.code, 0, "first stop: {:?}", first.stderr);
    let s = wr.status("stubborn");
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["exit_signal"], 9, "{s}");
    let events: Vec<String> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["kind"], e["message"]))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("stop timeout shortened: KILL after 1s")),
        "an event says the KILL came earlier: {events:?}"
    );

    // A later stop with a later deadline changes nothing: the 1s one still wins.
    wr.ok(&["start", "stubborn"]);
    wr.wait_log("stubborn", "ready");
    let t0 = Instant::now();
    let first = wr
        .cmd(&["stop", "stubborn", "--timeout", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the short stop");
    wait_until("the short stop began", SOON, || {
        wr.state("stubborn") == "stopping"
    });
    wr.ok(&["stop", "stubborn", "--timeout", "30s"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "a later stop with a longer timeout postponed the KILL: {took:?}"
    );
    assert_eq!(finish(first, SOON, "the short stop").code, 0);
}

#[test]
fn a_stopped_entry_stays_stopped_until_started() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&["--name", "st", "--", "sleep", &secs]);
    let p1 = pid_of(&e);
    assert!(alive(p1));
    wr.ok(&["stop", "st"]);
    assert_eq!(wr.state("st"), "stopped");
    assert!(!alive(p1));
    // Other activity does not bring it back.
    wr.start(&["--name", "other", "--", "sh", "-c", "echo x"]);
    wr.code(&["wait", "other"], 0);
    wr.start(&["--name", "other2", "--", "sh", "-c", "exit 1"]);
    wr.code(&["wait", "other2"], 1);
    let s = wr.status("st");
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["run"], 1);
    assert!(procs_with_arg(&secs).is_empty(), "something restarted it");
    let q = wr.ok(&["ls", "-q", "--state", "stopped"]);
    assert_eq!(q.text().trim(), id_of(&e).to_string());
    // A stop of a stopped entry is fine and changes nothing.
    let o = wr.ok(&["stop", "st"]);
    assert!(o.text().contains("not running"), "{:?}", o.text());
    assert_eq!(wr.state("st"), "stopped");

    // start: run 2, a new pid.
    wr.ok(&["start", "st"]);
    let s = wr.status("st");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["run"], 2);
    let p2 = pid_of(&s);
    assert_ne!(p2, p1);
    assert!(alive(p2));
    assert_eq!(procs_with_arg(&secs), vec![p2]);

    // restart: run 3, restarts 1, another pid, the old one gone.
    wr.ok(&["restart", "st"]);
    let s = wr.status("st");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["run"], 3);
    assert_eq!(s["restarts"], 1);
    let p3 = pid_of(&s);
    assert!(p3 != p2 && alive(p3) && !alive(p2));
    assert_eq!(procs_with_arg(&secs), vec![p3]);
    wr.ok(&["stop", "st"]);
    assert!(procs_with_arg(&secs).is_empty());
}

// 9. The protocol under abuse ------------------------------------------------------------------

#[test]
fn bad_frames_do_not_hurt_the_daemon() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "ticker",
        "--",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.02; done",
    ]);
    let sock = wr.socket();
    let daemon = wr.daemon_pid().unwrap();
    let mut follower = Bg::spawn(wr.cmd(&["logs", "-f", "ticker"]));
    follower.wait_for("tick-");

    let still_fine = |what: &str| {
        let o = wr.run(&["ping", "--json"]);
        assert_eq!(o.code, 0, "ping after {what}: {o:?}");
        assert_eq!(o.json()["pid"], daemon, "the daemon changed after {what}");
    };

    // (a) garbage before HELLO: an error on the connection, then it is closed.
    let mut c = Raw::connect(&sock);
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let f = c.read().expect("an ERROR before the close");
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert!(
        ["frame_too_large", "bad_frame"].contains(&f.code().as_str()),
        "{:?}",
        f.json()
    );
    assert!(c.read().is_none(), "the connection is closed");
    still_fine("garbage before HELLO");

    // A well-formed frame that is not HELLO first (its error id: see the test below).
    let mut c = Raw::connect(&sock);
    c.send(REQUEST, 0, 1, br#"{"op":"ping"}"#);
    c.expect_error_then_close("bad_frame");
    still_fine("a request before HELLO");

    // A HELLO with no common version, and one that is not JSON.
    let mut c = Raw::connect(&sock);
    c.send(HELLO, 0, 0, br#"{"versions":[999]}"#);
    c.expect_error_then_close("unsupported_version");
    let mut c = Raw::connect(&sock);
    c.send(HELLO, 0, 0, b"\xff\xfe not json");
    c.expect_error_then_close("bad_frame");
    still_fine("bad HELLOs");

    // (b) a length of 0xFFFFFFFF, before and after HELLO.
    let mut c = Raw::connect(&sock);
    c.send_raw(&[0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0]);
    c.expect_error_then_close("frame_too_large");
    let mut c = Raw::connect(&sock);
    let w = c.hello();
    assert_eq!(w["pid"], daemon);
    assert_eq!(w["version"], 1);
    c.send_raw(&[0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 9]);
    c.expect_error_then_close("frame_too_large");
    still_fine("a 4 GiB length");

    // Non-zero reserved bytes.
    let mut c = Raw::connect(&sock);
    c.hello();
    c.send_raw(&[0, 0, 0, 2, 3, 0, 0xab, 0xcd, 0, 0, 0, 1, b'{', b'}']);
    c.expect_error_then_close("bad_frame");
    still_fine("reserved bytes");

    // (c) invalid JSON in a REQUEST: an ERROR for that id, and the connection goes on.
    let mut c = Raw::connect(&sock);
    c.hello();
    let f = c.request(5, "{this is not json");
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert_eq!(f.code(), "bad_request");
    assert_eq!(f.id, 5);
    let f = c.request(6, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
    assert_eq!(f.json()["pid"], daemon);
    // A request missing a required member.
    let f = c.request(7, r#"{"op":"stop"}"#);
    assert_eq!(f.code(), "bad_request");

    // (d) an unknown op.
    let f = c.request(8, r#"{"op":"fly","to":"moon"}"#);
    assert_eq!(f.code(), "unknown_op");
    let msg = f.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("fly"), "{msg}");

    // (e) an unknown frame kind: ERROR bad_frame with its id, the connection goes on.
    c.send(200, 0, 9, b"whatever");
    let f = c.read().expect("an answer to the unknown kind");
    assert_eq!((f.kind, f.id), (ERROR, 9), "{f:?}");
    assert_eq!(f.code(), "bad_frame");
    // Input for no process.
    c.send(DATA, 3, 10, b"input");
    let f = c.read().expect("an answer to stray input");
    assert_eq!((f.kind, f.id), (ERROR, 10), "{f:?}");
    // Pipelined requests in one write are answered by id.
    let mut two = encode(REQUEST, 0, 11, br#"{"op":"ping"}"#);
    two.extend(encode(REQUEST, 0, 12, br#"{"op":"list"}"#));
    c.send_raw(&two);
    let mut got: Vec<(u8, u32)> = (0..2)
        .map(|_| {
            let f = c.read().unwrap();
            (f.kind, f.id)
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![(RESPONSE, 11), (RESPONSE, 12)]);
    let f = c.request(13, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE);
    drop(c);
    still_fine("bad requests and unknown kinds");

    // (f) a truncated frame, then disconnect; and a request whose answer nobody reads.
    let mut c = Raw::connect(&sock);
    c.hello();
    let mut partial = encode(REQUEST, 0, 1, &[b' '; 100]);
    partial.truncate(12 + 10);
    c.send_raw(&partial);
    drop(c);
    let mut c = Raw::connect(&sock);
    c.send_raw(&partial[..5]);
    drop(c);
    let mut c = Raw::connect(&sock);
    c.hello();
    c.send(
        REQUEST,
        0,
        1,
        br#"{"op":"status","sel":{"targets":["all"]}}"#,
    );
    drop(c);
    still_fine("truncated frames and vanished clients");

    // The client that was following all along still gets new output.
    assert!(follower.running(), "logs -f died");
    let seen = follower.output().matches("tick-").count();
    let flowing = try_wait_until(SOON, || {
        follower.output().matches("tick-").count() >= seen + 3
    });
    if !flowing {
        let out = follower.output();
        let tail: String = out
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let log = wr.logs_text("ticker");
        let ltail: String = log
            .chars()
            .rev()
            .take(100)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "logs -f stopped receiving output (running: {}); it printed {} bytes ending {tail:?}; \
             the log ends {ltail:?}; status {}",
            follower.running(),
            out.len(),
            wr.status("ticker")
        );
    }
    assert!(follower.running(), "logs -f died");
    follower.stop();
    wr.ok(&["stop", "ticker"]);
}

/// wrangle-protocol(7): "An ERROR with id 0 concerns the connection itself (handshake or
/// framing)", and "If the first frame is anything but HELLO, it answers ERROR (id 0)
/// bad_frame and closes the connection".
#[test]
fn connection_level_errors_carry_id_0() {
    let wr = Wr::new();
    wr.ok(&["ls"]);
    let sock = wr.socket();
    let cases: [(&[u8], &str); 4] = [
        (&encode(REQUEST, 0, 7, br#"{"op":"ping"}"#), "bad_frame"),
        (&encode(HELLO, 0, 7, b"not json"), "bad_frame"),
        (
            &encode(HELLO, 0, 7, br#"{"versions":[999]}"#),
            "unsupported_version",
        ),
        (
            &[0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 7],
            "frame_too_large",
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (bytes, code)) in cases.into_iter().enumerate() {
        let mut c = Raw::connect(&sock);
        c.send_raw(bytes);
        let f = c.expect_error_then_close(code);
        if f.id != 0 {
            wrong.push(format!("case {i} ({code}): id {} {}", f.id, f.json()));
        }
    }
    wr.ok(&["ping"]);
    assert!(
        wrong.is_empty(),
        "connection-level errors must have id 0: {wrong:#?}"
    );
}

// 10. Ids are never reused ----------------------------------------------------------------------

#[test]
fn ids_survive_shutdown_and_a_killed_daemon() {
    let wr = Wr::new();
    let sleep_secs = unique_secs();
    assert_eq!(id_of(&wr.start(&["--", "sh", "-c", "exit 3"])), 1);
    wr.code(&["wait", "1"], 3);
    assert_eq!(id_of(&wr.start(&["--", "sleep", &sleep_secs])), 2);
    wr.ok(&["stop", "2"]);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 3);
    wr.code(&["wait", "3"], 0);
    wr.ok(&["rm", "3"]);
    let first = wr.daemon_pid().unwrap();
    wr.ok(&["shutdown"]);
    wr.code(&["ping"], 5);

    // A new daemon: the next id is 4, and 1 and 2 kept their state.
    assert_eq!(id_of(&wr.start(&["--", "true"])), 4);
    let second = wr.daemon_pid().unwrap();
    assert_ne!(second, first);
    let check_old = |wr: &Wr| {
        let ls = wr.ls();
        let by_id: BTreeMap<u64, &Value> = ls.iter().map(|e| (id_of(e), e)).collect();
        assert!(!by_id.contains_key(&3), "removed entry 3 came back: {ls:?}");
        assert_eq!(by_id[&1]["state"], "exited");
        assert_eq!(by_id[&1]["exit_code"], 3);
        assert_eq!(by_id[&2]["state"], "stopped");
        assert!(by_id.contains_key(&4));
    };
    check_old(&wr);

    // A running entry; then the daemon dies by SIGKILL. What a reply announced is saved
    // before the reply leaves, so nothing needs to wait here.
    let keep_secs = unique_secs();
    let keeper = wr.start(&["--name", "keeper", "--", "sleep", &keep_secs]);
    assert_eq!(id_of(&keeper), 5);
    // And one more started right before the kill (it may not be saved yet).
    assert_eq!(id_of(&wr.start(&["--", "true"])), 6);
    kill(second, libc::SIGKILL);
    wait_until("the killed daemon is gone", SOON, || !alive(second));

    let e = wr.start(&["--", "true"]);
    assert_eq!(id_of(&e), 7, "ids must not go backwards after a crash");
    let third = wr.daemon_pid().unwrap();
    assert!(third != second && alive(third));
    check_old(&wr);
    // The process the dead daemon left running is taken over (its output still captured),
    // not duplicated.
    let k = wr.status("keeper");
    assert_eq!(k["state"], "running", "{k}");
    assert_eq!(k["pid"], keeper["pid"], "{k}");
    assert!(
        k.to_string()
            .contains("taken over from the previous daemon"),
        "{k}"
    );
    assert_eq!(procs_with_arg(&keep_secs).len(), 1);
    wr.ok(&["stop", "keeper"]);
    assert!(procs_with_arg(&keep_secs).is_empty());
    assert_eq!(wr.state("keeper"), "stopped");
}

// 11. Exit statuses ------------------------------------------------------------------------------

#[test]
fn exit_statuses_follow_the_spec() {
    let wr = Wr::new();
    // No such entry: 3, naming it.
    for args in [
        &["stop", "nosuchthing"][..],
        &["status", "nosuchthing"][..],
        &["logs", "nosuchthing"][..],
        &["wait", "nosuchthing"][..],
        &["signal", "HUP", "nosuchthing"][..],
        &["start", "nosuchthing"][..],
        &["rm", "nosuchthing"][..],
    ] {
        let o = wr.code(args, 3);
        assert!(o.stderr.contains("nosuchthing"), "{:?}", o.stderr);
    }
    wr.code(&["stop", "999"], 3);
    wr.code(&["stop", "--tag", "nothing-has-this"], 3);

    // Several matches without --all: 4, saying how many.
    let (s1, s2) = (unique_secs(), unique_secs());
    wr.start(&["--tag", "x", "--name", "x1", "--", "sleep", &s1]);
    wr.start(&["--tag", "x", "--", "sleep", &s2]);
    for verb in ["stop", "restart", "rm", "start"] {
        let o = wr.code(&[verb, "--tag", "x"], 4);
        assert!(
            o.stderr.contains("2 entries match"),
            "{verb}: {:?}",
            o.stderr
        );
    }
    let o = wr.code(&["signal", "USR2", "--tag", "x"], 4);
    assert!(o.stderr.contains("2 entries match"), "{:?}", o.stderr);
    assert_eq!(
        procs_with_arg(&s1).len(),
        1,
        "a refused stop stopped something"
    );

    // A taken name: 4.
    let o = wr.code(&["run", "--name", "x1", "--", "true"], 4);
    assert!(o.stderr.contains("x1"), "{:?}", o.stderr);
    assert_eq!(wr.ls().len(), 2, "the refused run left an entry behind");

    // Usage errors: 2.
    wr.code(&["ls", "--bogus"], 2);
    wr.code(&["frobnicate"], 2);
    wr.code(&["run"], 2);
    wr.code(&["run", "--stop-timeout", "soon", "--", "true"], 2);
    wr.code(&["run", "--name", "12345", "--", "true"], 2);
    wr.code(&["run", "--name", "bad name", "--", "true"], 2);
    wr.code(&["stop"], 2);
    wr.code(&["signal", "NOTASIGNAL", "x1"], 2);
    wr.code(&["wait", "x1", "--timeout", "forever"], 2);

    // wait: 124 on timeout, the process's code otherwise, 128+N for a signal.
    let t0 = Instant::now();
    wr.code(&["wait", "x1", "--timeout", "200ms"], 124);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        wr.state("x1"),
        "running",
        "a timed-out wait changes nothing"
    );
    wr.start(&["--name", "termself", "--", "sh", "-c", "kill -TERM $$"]);
    wr.code(&["wait", "termself"], 143);
    let s = wr.status("termself");
    assert_eq!(s["exit_signal"], 15, "{s}");
    wr.start(&["--name", "code42", "--", "sh", "-c", "exit 42"]);
    wr.code(&["wait", "code42"], 42);
    wr.code(&["wait", "code42"], 42); // an ended entry answers at once

    // A command that does not exist: the run fails (1), naming it.
    let o = wr.run(&["run", "--name", "ghost", "--", "/nonexistent/prog"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("/nonexistent/prog"), "{:?}", o.stderr);

    wr.ok(&["stop", "--tag", "x", "--all"]);
    assert!(procs_with_arg(&s1).is_empty() && procs_with_arg(&s2).is_empty());
}

// 12. Following logs ---------------------------------------------------------------------------

#[test]
fn logs_follow_shows_output_printed_after_it_started() {
    let wr = Wr::new();
    let script = "i=0; while :; do i=$((i+1)); echo tick-$i; \
                  if [ -e trig ]; then rm -f trig; echo got-trigger; fi; sleep 0.02; done";
    wr.start(&["--name", "tk", "--", "sh", "-c", script]);
    wr.wait_log("tk", "tick-3\n");
    let mut f = Bg::spawn(wr.cmd(&["logs", "-f", "-n", "5", "tk"]));
    // The tail arrives first; only then is the trigger created, so the line it causes is
    // printed after the follow started.
    f.wait_for("tick-");
    std::fs::write(wr.root.join("trig"), b"").unwrap();
    f.wait_for("got-trigger\n");
    // A few more lines after it, live.
    wait_until("more ticks after the trigger", SOON, || {
        let out = f.output();
        let after = &out[out.find("got-trigger").unwrap()..];
        after.matches("tick-").count() >= 3
    });
    assert!(f.running(), "logs -f exited while following");
    f.stop();
    // The seam between the tail and the live stream: no line lost, none repeated.
    let out = f.output();
    let ticks: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("tick-")?.parse().ok())
        .collect();
    assert!(ticks.len() >= 4, "{out}");
    for w in ticks.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap or repeat in followed output: {out}");
    }
    assert_eq!(out.matches("got-trigger").count(), 1, "{out}");
    for l in out.lines() {
        assert!(
            l.starts_with("tick-") || l == "got-trigger",
            "odd line {l:?}"
        );
    }
    wr.ok(&["stop", "tk"]);
}

// 13. The child's environment, folder and shell --------------------------------------------------

#[test]
fn run_sets_env_cwd_and_shell() {
    let wr = Wr::new();
    std::fs::create_dir(wr.root.join("sub")).unwrap();
    std::fs::write(
        wr.root.join("vars.env"),
        "# a comment\n\nexport FROM_FILE=file-value\nBOTH=from-file\n",
    )
    .unwrap();
    let script = r#"echo "K=$K"; echo "FILE=$FROM_FILE"; echo "BOTH=$BOTH"; echo "PARENT=[$PARENT_VAR]"; echo "ID=$WRANGLE_ID"; echo "NAME=[$WRANGLE_NAME]"; pwd"#;
    let sub = std::fs::canonicalize(wr.root.join("sub")).unwrap();

    let mut c = wr.cmd(&[
        "run",
        "--json",
        "--name",
        "envy",
        "--env",
        "K=V 1",
        "--env",
        "BOTH=from-flag",
        "--env-file",
        "vars.env",
        "--cwd",
        "sub",
        "--shell",
        "--",
        script,
    ]);
    c.env("PARENT_VAR", "pv").env("WRANGLE_NAME", "bogus");
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = finish(child, CMD_DEADLINE, "run envy");
    assert_eq!(o.code, 0, "{o:?}");
    let id = id_of(&o.json());
    wr.code(&["wait", "envy"], 0);
    let log = wr.logs_text("envy");
    let want = format!(
        "K=V 1\nFILE=file-value\nBOTH=from-flag\nPARENT=[pv]\nID={id}\nNAME=[envy]\n{}\n",
        sub.display()
    );
    assert_eq!(log, want);
    let s = wr.status("envy");
    assert_eq!(s["shell"], true);
    assert_eq!(
        std::fs::canonicalize(s["cwd"].as_str().unwrap()).unwrap(),
        sub,
        "{s}"
    );

    // --clear-env: only what was given, plus WRANGLE_ID; an unnamed entry has no WRANGLE_NAME
    // even when the caller had one.
    let script2 = r#"echo "PARENT=[$PARENT_VAR]"; echo "K=$K"; echo "NAME=[$WRANGLE_NAME]"; echo "ID=$WRANGLE_ID"; export -p"#;
    let mut c = wr.cmd(&[
        "run",
        "--json",
        "--clear-env",
        "--env",
        "K=only",
        "--shell",
        "--",
        script2,
    ]);
    c.env("PARENT_VAR", "pv").env("WRANGLE_NAME", "bogus");
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = finish(child, CMD_DEADLINE, "run --clear-env");
    assert_eq!(o.code, 0, "{o:?}");
    let id2 = id_of(&o.json()).to_string();
    wr.code(&["wait", &id2], 0);
    let log = String::from_utf8(wr.logs(&id2, &[])).unwrap();
    assert!(
        log.starts_with(&format!("PARENT=[]\nK=only\nNAME=[]\nID={id2}\n")),
        "{log}"
    );
    assert!(
        !log.contains(MARKER),
        "the caller's environment leaked: {log}"
    );
    assert!(!log.contains("PARENT_VAR"), "{log}");
    assert!(!log.contains("bogus"), "{log}");

    // Without --shell the arguments arrive exactly as given, with no shell in between.
    let e = wr.start(&["--", "printf", "%s|", "a b", "$HOME", "", "*"]);
    let id3 = id_of(&e).to_string();
    wr.code(&["wait", &id3], 0);
    assert_eq!(wr.logs_text(&id3), "a b|$HOME||*|");
    // The default folder is the caller's.
    let e = wr.start(&["--", "pwd"]);
    let id4 = id_of(&e).to_string();
    wr.code(&["wait", &id4], 0);
    assert_eq!(
        wr.logs_text(&id4),
        format!("{}\n", std::fs::canonicalize(&wr.root).unwrap().display())
    );
    // A --cwd that does not exist is a usage error.
    wr.code(&["run", "--cwd", "no-such-dir", "--", "true"], 2);
}

// 14. Signals -------------------------------------------------------------------------------------

#[test]
fn signal_reaches_the_process() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "sig",
        "--",
        "sh",
        "-c",
        r#"trap "echo got-usr1" USR1; trap "echo got-hup" HUP; echo ready; while :; do sleep 0.05; done"#,
    ]);
    wr.wait_log("sig", "ready");
    let o = wr.ok(&["signal", "USR1", "sig"]);
    assert!(o.text().contains("USR1"), "{:?}", o.text());
    wr.wait_log("sig", "got-usr1");
    wr.ok(&["signal", "sighup", "sig"]);
    wr.wait_log("sig", "got-hup");
    assert_eq!(wr.logs_text("sig").matches("got-usr1").count(), 1);
    assert_eq!(wr.state("sig"), "running");
    let s = wr.status("sig");
    assert!(
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "signalled"),
        "{s}"
    );
    // A number works too; TERM (15) ends it.
    wr.ok(&["signal", "15", "sig"]);
    wr.code(&["wait", "sig"], 143);
    assert_eq!(wr.state("sig"), "exited");
    // Signalling something that is not running fails with 1.
    let o = wr.code(&["signal", "USR1", "sig"], 1);
    assert!(o.stderr.contains("not running"), "{:?}", o.stderr);
}
