//! Black-box tests of the registry: name rules, selectors and their any/all filters, the
//! `--all` guard, tags and groups (listing, renaming, merging), `label`, `reset`, adopting
//! existing processes with `add`, ids that never go backwards or get reused, state files that
//! do not parse, `prune`, `tree` and the `ls` formats.
//!
//! Each test has its own `WRANGLE_HOME` (see `common::Wr`), waits only by polling a condition
//! with a deadline, and shuts its daemon down even when it fails. The only processes a test
//! signals itself are the ones it spawned (its own children, killed through their `Child`) and
//! the daemon it started; every adopted process is such a child, in its own process group.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

// ---------------------------------------------------------------------------------------------
// Helpers

fn id_of(v: &Value) -> u64 {
    v["id"].as_u64().expect("an entry has an id")
}

fn pid_of(v: &Value) -> i32 {
    v["pid"].as_i64().expect("a running entry has a pid") as i32
}

/// `wrangle ls -q ARGS`: the ids printed, in order.
fn q(wr: &Wr, args: &[&str]) -> Vec<u64> {
    let mut a = vec!["ls", "-q"];
    a.extend_from_slice(args);
    let o = wr.ok(&a);
    o.text()
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("`ls -q {args:?}` printed {l:?}, not an id"))
        })
        .collect()
}

/// Asserts that `wrangle ls -q ARGS` selects exactly `want` (in any order).
fn assert_sel(wr: &Wr, args: &[&str], want: &[u64]) {
    let got: BTreeSet<u64> = q(wr, args).into_iter().collect();
    let want: BTreeSet<u64> = want.iter().copied().collect();
    assert_eq!(got, want, "`wrangle ls -q {}`", args.join(" "));
}

/// Waits until entry `sel` is in state `want`; returns its status.
fn wait_state(wr: &Wr, sel: &str, want: &str) -> Value {
    let mut last = Value::Null;
    let ok = try_wait_until(SOON, || {
        last = wr.status(sel);
        last["state"] == want
    });
    assert!(ok, "entry {sel} did not become {want}: {last}");
    last
}

/// Ids of every entry, from `ls --json`.
fn all_ids(wr: &Wr) -> Vec<u64> {
    wr.ls().iter().map(id_of).collect()
}

/// A pid with no process behind it (below pid_max, so that it reads as a plausible pid).
fn free_pid() -> i32 {
    let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (1000..max)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("a free pid")
}

/// A process this test started (in its own process group, so that nothing sent to the group
/// of an adopted process can reach the test), killed and reaped when dropped.
struct Own {
    child: Child,
}

impl Own {
    fn spawn(mut cmd: Command) -> Own {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a test process");
        Own { child }
    }

    /// `sleep ARG` with an argument no other process has.
    fn sleep() -> (Own, String) {
        let secs = unique_secs();
        let mut c = Command::new("sleep");
        c.arg(&secs);
        (Own::spawn(c), secs)
    }

    /// A shell that records the TERM and USR1 it receives in `file` (TERM makes it exit 0),
    /// ready once the file says so.
    fn trapper(file: &Path) -> Own {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(
                r#"trap 'echo usr1 >> "$F"' USR1
                   trap 'echo term >> "$F"; exit 0' TERM
                   echo ready >> "$F"
                   while :; do sleep 0.05; done"#,
            )
            .env("F", file);
        let own = Own::spawn(c);
        wait_until("the trapping shell is ready", SOON, || {
            read(file).contains("ready")
        });
        own
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether it still runs (reaps it if it has ended).
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until it has ended (reaping it) and returns how.
    fn wait_gone(&mut self, what: &str) -> ExitStatus {
        let mut status = None;
        wait_until(what, SOON, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.expect("an exit status")
    }

    /// Kills it (std never signals a child it has already reaped) and reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Files in `dir` whose names start with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Numbered sub-folders of `WRANGLE_HOME/logs` (one per entry with logs).
fn log_dirs(wr: &Wr) -> BTreeSet<u64> {
    std::fs::read_dir(wr.home().join("logs"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `wrangle shutdown`, which must finish within [`SOON`]; if it hangs, the daemon this test
/// started is killed (so that the test fails at once, not after the cleanup's long deadline).
fn shutdown_within(wr: &Wr, when: &str) {
    let daemon = wr.daemon_pid();
    let mut child = wr
        .cmd(&["shutdown"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wrangle shutdown");
    let mut status = None;
    let done = try_wait_until(SOON, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        if let Some(d) = daemon.filter(|d| wr.daemon_pids().contains(d)) {
            kill(d, libc::SIGKILL);
        }
        panic!("`wrangle shutdown` {when} did not finish within {SOON:?}");
    }
    assert_eq!(status.and_then(|s| s.code()), Some(0), "shutdown {when}");
    if let Some(d) = daemon {
        wait_until("the daemon exits", SOON, || !alive(d));
    }
}

/// Kills the daemon this test started with SIGKILL (checked to be this instance's daemon).
fn kill_daemon(wr: &Wr) {
    let pid = wr.daemon_pid().expect("a daemon is running");
    assert!(
        wr.daemon_pids().contains(&pid),
        "pid {pid} is not this test's daemon"
    );
    kill(pid, libc::SIGKILL);
    wait_until("the killed daemon is gone", SOON, || !alive(pid));
}

// 1. Name rules ----------------------------------------------------------------------------------

#[test]
fn name_rules_hold_for_run_add_and_label() {
    let wr = Wr::new();
    let long64 = "n".repeat(64);
    let long65 = "n".repeat(65);
    // Valid names: 1 and 64 characters, every allowed character, digits but not only digits.
    let mut made = Vec::new();
    for name in ["a", long64.as_str(), "A.b_c-9", "1a", "9.5", "-x", "ALL"] {
        let e = wr.start(&["--name", name, "--", "true"]);
        assert_eq!(e["name"], name, "{e}");
        made.push(id_of(&e));
    }
    let count = wr.ls().len();
    assert_eq!(count, made.len());

    // Invalid names: usage error (2), said so, and nothing created.
    for bad in [
        "",
        long65.as_str(),
        "a b",
        "a/b/c",
        "/b",
        "a/",
        "a b/c",
        "a:b",
        "a@b",
        "a,b",
        "é",
        "tab\there",
        "new\nline",
        "123",
        "0",
        "all",
    ] {
        let o = wr.code(&["run", "--name", bad, "--", "true"], 2);
        assert!(
            o.stderr.contains("name"),
            "run --name {bad:?} should explain the name rule: {:?}",
            o.stderr
        );
    }
    assert_eq!(wr.ls().len(), count, "a refused run left an entry behind");

    // A taken name: 4, naming the entry that holds it.
    let holder = id_of(&wr.status("A.b_c-9"));
    let o = wr.code(&["run", "--name", "A.b_c-9", "--", "true"], 4);
    assert!(
        o.stderr.contains(&format!("entry {holder}")) && o.stderr.contains("A.b_c-9"),
        "the refusal should name entry {holder}: {:?}",
        o.stderr
    );
    assert_eq!(wr.ls().len(), count);

    // `add --name` obeys the same rules.
    let (mut own, _) = Own::sleep();
    let pid = own.pid().to_string();
    for bad in [long65.as_str(), "a b", "123", "all", ""] {
        wr.code(&["add", &pid, "--name", bad], 2);
    }
    let o = wr.code(&["add", &pid, "--name", "1a"], 4);
    assert!(
        o.stderr.contains(&format!("entry {}", made[3])),
        "{:?}",
        o.stderr
    );
    assert_eq!(wr.ls().len(), count, "a refused add left an entry behind");
    assert!(own.running());

    // `label --name` too; and a valid rename to 64 characters works.
    let target = made[0].to_string();
    for bad in [long65.as_str(), "a b", "a/b/c", "123", "all"] {
        let o = wr.code(&["label", &target, "--name", bad], 2);
        assert!(o.stderr.contains("name"), "{:?}", o.stderr);
    }
    let o = wr.code(&["label", &target, "--name", "A.b_c-9"], 4);
    assert!(
        o.stderr.contains(&format!("entry {holder}")),
        "{:?}",
        o.stderr
    );
    assert_eq!(
        wr.status(&target)["name"],
        "a",
        "a refused label renamed it"
    );
    let new64 = "z".repeat(64);
    wr.ok(&["label", &target, "--name", &new64]);
    assert_eq!(wr.status(&target)["name"], new64.as_str());
    // Its own name again is no conflict.
    wr.ok(&["label", &target, "--name", &new64]);
    // The old name is free again.
    wr.start(&["--name", "a", "--", "true"]);
}

/// Tags and groups are plain words: `$`, backquotes, quotes and backslashes are refused like
/// white space and commas, wherever a label comes from (run, label, tag --rename, a services
/// file), and the error names the character. (A `$(...)` in a tag ran when bash completed it.)
#[test]
fn labels_refuse_shell_special_characters_and_name_them() {
    let wr = Wr::new();
    let e = wr.start(&[
        "--tag",
        "a.b:c/d@e+f=g",
        "--group",
        "caf\u{e9}",
        "--",
        "true",
    ]);
    let id = id_of(&e).to_string();
    assert_eq!(e["tags"][0], "a.b:c/d@e+f=g", "{e}");
    let count = wr.ls().len();
    for (bad, shown) in [
        ("x$(touch${IFS}PWNED)", "'$'"),
        ("g`id`", "'`'"),
        ("it's", "\"'\""),
        ("say\"hi\"", "'\"'"),
        ("back\\slash", "'\\'"),
        ("a b", "' '"),
    ] {
        let why = |o: &Out, what: &str| {
            assert!(
                o.stderr.contains(&format!("{shown} is not allowed")),
                "{what} {bad:?} should name the character {shown}: {:?}",
                o.stderr
            );
        };
        let o = wr.code(&["run", "--tag", bad, "--", "true"], 2);
        why(&o, "run --tag");
        let o = wr.code(&["run", "--group", bad, "--", "true"], 2);
        why(&o, "run --group");
        let o = wr.code(&["label", &id, "--add-tag", bad], 2);
        why(&o, "label --add-tag");
        let o = wr.code(&["label", &id, "--add-group", bad], 2);
        why(&o, "label --add-group");
        let o = wr.code(&["tag", "a.b:c/d@e+f=g", "--rename", bad], 2);
        why(&o, "tag --rename");
        let doc = serde_json::json!({"services": {"svc": {"cmd": ["true"], "tags": [bad]}}});
        std::fs::write(wr.root.join("wrangle.json"), doc.to_string()).expect("write wrangle.json");
        let o = wr.code(&["up"], 2);
        why(&o, "a services file's tag");
    }
    assert_eq!(wr.ls().len(), count, "a refused label left an entry behind");
    let after = wr.status(&id);
    assert_eq!(
        after["tags"],
        serde_json::json!(["a.b:c/d@e+f=g"]),
        "{after}"
    );
    assert_eq!(after["groups"], serde_json::json!(["caf\u{e9}"]), "{after}");
}

// 2. Filters -------------------------------------------------------------------------------------

#[test]
fn tag_and_group_filters_select_exact_sets() {
    let wr = Wr::new();
    let (s1, s2, s3, s6, s7) = (
        unique_secs(),
        unique_secs(),
        unique_secs(),
        unique_secs(),
        unique_secs(),
    );
    // id name    tags          groups     command         state
    // 1  web     http,public   prod       sleep s1        running
    // 2  api     http          prod,eu    sleep s2        running
    // 3  db      db            prod       sleep s3        stopped
    // 4  -       -             -          true            exited
    // 5  worker  queue,http    eu         sh -c 'exit 3'  exited
    // 6  cron    queue         batch      sleep s6        running
    // 7  cache   public,db     prod,eu    sleep s7        running
    // 8  raw     http          batch      true            exited   (created by another client)
    let web = wr.start(&[
        "--name", "web", "--tag", "http", "--tag", "public", "--group", "prod", "--", "sleep", &s1,
    ]);
    let api = wr.start(&[
        "--name", "api", "--tag", "http", "--group", "prod", "--group", "eu", "--", "sleep", &s2,
    ]);
    let db = wr.start(&[
        "--name", "db", "--tag", "db", "--group", "prod", "--", "sleep", &s3,
    ]);
    wr.start(&["--", "true"]);
    wr.start(&[
        "--name", "worker", "--tag", "queue", "--tag", "http", "--group", "eu", "--", "sh", "-c",
        "exit 3",
    ]);
    wr.start(&[
        "--name", "cron", "--tag", "queue", "--group", "batch", "--", "sleep", &s6,
    ]);
    wr.start(&[
        "--name", "cache", "--tag", "public", "--tag", "db", "--group", "prod", "--group", "eu",
        "--", "sleep", &s7,
    ]);
    // Entry 8 through the protocol, from a client that calls itself "test".
    let mut raw = Raw::connect(&wr.socket());
    raw.hello();
    let mut env = serde_json::Map::new();
    env.insert(
        "PATH".into(),
        Value::from(std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())),
    );
    env.insert(MARKER.into(), Value::from(wr.root.display().to_string()));
    let req = serde_json::json!({
        "op": "run",
        "spec": {
            "argv": ["true"],
            "name": "raw",
            "tags": ["http"],
            "groups": ["batch"],
            "cwd": wr.root.display().to_string(),
            "env": Value::Object(env),
        }
    });
    let f = raw.request(1, &req.to_string());
    assert_eq!(f.kind, RESPONSE, "run over the protocol: {:?}", f.json());
    assert_eq!(f.json()["entry"]["id"], 8, "{:?}", f.json());
    drop(raw);

    wr.ok(&["stop", "db"]);
    wr.code(&["wait", "4"], 0);
    wr.code(&["wait", "worker"], 3);
    wr.code(&["wait", "raw"], 0);
    assert_eq!(all_ids(&wr), (1..=8).collect::<Vec<_>>());
    let states: Vec<String> = wr
        .ls()
        .iter()
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        states,
        ["running", "running", "stopped", "exited", "exited", "running", "running", "exited"],
        "the table is not as planned"
    );

    // Tags: any of (repeat) and all of.
    assert_sel(&wr, &[], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_sel(&wr, &["--tag", "http"], &[1, 2, 5, 8]);
    assert_sel(&wr, &["--tag", "public", "--tag", "db"], &[1, 3, 7]);
    assert_sel(&wr, &["--tag", "queue", "--tag", "nosuch"], &[5, 6]);
    assert_sel(&wr, &["--tag-all", "http", "--tag-all", "public"], &[1]);
    assert_sel(&wr, &["--tag-all", "public", "--tag-all", "db"], &[7]);
    assert_sel(&wr, &["--tag-all", "http", "--tag-all", "queue"], &[5]);
    assert_sel(&wr, &["--tag-all", "http", "--tag-all", "db"], &[]);
    assert_sel(&wr, &["--tag-all", "http"], &[1, 2, 5, 8]);
    assert_sel(&wr, &["--tag", "nosuch"], &[]);
    // Groups likewise.
    assert_sel(&wr, &["--group", "eu"], &[2, 5, 7]);
    assert_sel(
        &wr,
        &["--group", "eu", "--group", "batch"],
        &[2, 5, 6, 7, 8],
    );
    assert_sel(&wr, &["--group-all", "prod", "--group-all", "eu"], &[2, 7]);
    assert_sel(&wr, &["--group-all", "prod"], &[1, 2, 3, 7]);
    assert_sel(&wr, &["--group-all", "eu", "--group-all", "batch"], &[]);
    // Different flags combine (every one must hold).
    assert_sel(&wr, &["--tag", "http", "--group", "eu"], &[2, 5]);
    assert_sel(&wr, &["--tag", "http", "--group-all", "prod"], &[1, 2]);
    assert_sel(
        &wr,
        &["--tag-all", "public", "--group", "batch", "--group", "prod"],
        &[1, 7],
    );
    assert_sel(&wr, &["--tag", "http", "--state", "running"], &[1, 2]);
    assert_sel(&wr, &["--tag", "http", "--state", "exited"], &[5, 8]);
    assert_sel(&wr, &["--state", "stopped"], &[3]);
    assert_sel(
        &wr,
        &["--state", "exited", "--state", "stopped"],
        &[3, 4, 5, 8],
    );
    assert_sel(&wr, &["--state", "errored"], &[]);
    assert_sel(&wr, &["--group", "prod", "--state", "stopped"], &[3]);
    // --search: a substring of the command line.
    assert_sel(&wr, &["--search", &s1], &[1]);
    assert_sel(&wr, &["--search", "exit 3"], &[5]);
    assert_sel(&wr, &["--search", "sleep"], &[1, 2, 3, 6, 7]);
    assert_sel(&wr, &["--search", "sleep", "--tag", "db"], &[3, 7]);
    assert_sel(&wr, &["--search", &s2, "--search", &s6], &[2, 6]);
    assert_sel(&wr, &["--search", "no such command text"], &[]);
    // --name and --id (repeat: any of).
    assert_sel(&wr, &["--name", "web", "--name", "cache"], &[1, 7]);
    assert_sel(&wr, &["--name", "nosuch"], &[]);
    assert_sel(&wr, &["--name", "web", "--tag", "db"], &[]);
    assert_sel(&wr, &["--id", "2", "--id", "4"], &[2, 4]);
    assert_sel(&wr, &["--id", "99"], &[]);
    assert_sel(&wr, &["--id", "3", "--id", "7", "--state", "running"], &[7]);
    // --pid: only an entry whose process may be alive.
    assert_sel(&wr, &["--pid", &pid_of(&web).to_string()], &[1]);
    assert_sel(
        &wr,
        &[
            "--pid",
            &pid_of(&web).to_string(),
            "--pid",
            &pid_of(&api).to_string(),
        ],
        &[1, 2],
    );
    assert_sel(&wr, &["--pid", &pid_of(&db).to_string()], &[]);
    assert_sel(
        &wr,
        &["--pid", &pid_of(&web).to_string(), "--tag", "db"],
        &[],
    );
    // --alive.
    assert_sel(&wr, &["--alive"], &[1, 2, 6, 7]);
    assert_sel(&wr, &["--alive", "--group", "prod"], &[1, 2, 7]);
    assert_sel(&wr, &["--alive", "--tag-all", "http"], &[1, 2]);
    // --originator: the client's full name or its part before the '/'.
    let cli = web["originator"]
        .as_str()
        .expect("an originator")
        .to_string();
    assert!(cli.starts_with("wrangle-cli/"), "{cli}");
    assert_sel(
        &wr,
        &["--originator", "wrangle-cli"],
        &[1, 2, 3, 4, 5, 6, 7],
    );
    assert_sel(&wr, &["--originator", &cli], &[1, 2, 3, 4, 5, 6, 7]);
    assert_sel(&wr, &["--originator", "test"], &[8]);
    assert_sel(&wr, &["--originator", "test", "--tag", "http"], &[8]);
    assert_sel(
        &wr,
        &["--originator", "wrangle-cli", "--tag", "http", "--alive"],
        &[1, 2],
    );
    assert_sel(&wr, &["--originator", "nobody"], &[]);
    // Targets: names, ids and `all`, narrowed by filters.
    assert_sel(&wr, &["web", "4"], &[1, 4]);
    assert_sel(&wr, &["all", "--tag", "db"], &[3, 7]);
    assert_sel(&wr, &["web", "api", "cron", "--group", "prod"], &[1, 2]);
    // Unknown state: usage error. Unknown target: no such entry.
    wr.code(&["ls", "--state", "napping"], 2);
    wr.code(&["ls", "nosuch"], 3);

    // The same selectors drive commands that change things: stop --tag-all ... --alive.
    wr.ok(&["stop", "--tag-all", "public", "--tag-all", "db"]);
    assert!(procs_with_arg(&s7).is_empty(), "cache still runs");
    assert_eq!(procs_with_arg(&s1).len(), 1, "web was stopped too");
    assert_sel(&wr, &["--alive"], &[1, 2, 6]);
    wr.ok(&["stop", "--group", "batch", "--alive"]);
    assert!(procs_with_arg(&s6).is_empty(), "cron still runs");
    assert_sel(&wr, &["--alive"], &[1, 2]);
}

// 3. The --all guard -----------------------------------------------------------------------------

#[test]
fn several_matches_need_all_and_nothing_matching_is_exit_3() {
    let wr = Wr::new();
    let secs: Vec<String> = (0..3).map(|_| unique_secs()).collect();
    for (i, s) in secs.iter().enumerate() {
        wr.start(&[
            "--name",
            &format!("x{}", i + 1),
            "--tag",
            "x",
            "--",
            "sleep",
            s,
        ]);
    }
    let other = unique_secs();
    wr.start(&["--name", "other", "--tag", "y", "--", "sleep", &other]);

    for verb in [
        &["stop"][..],
        &["rm"][..],
        &["restart"][..],
        &["signal", "USR2"][..],
        &["label", "--add-tag", "z"][..],
    ] {
        let mut a = verb.to_vec();
        a.extend_from_slice(&["--tag", "x"]);
        let o = wr.code(&a, 4);
        assert!(
            o.stderr.contains("3 entries match"),
            "{verb:?}: {:?}",
            o.stderr
        );
        for (i, n) in ["x1", "x2", "x3"].iter().enumerate() {
            assert!(
                o.stderr.contains(&format!("{n} (id {})", i + 1)),
                "{verb:?} should name {n}: {:?}",
                o.stderr
            );
        }
        assert!(
            !o.stderr.contains("other"),
            "{verb:?} names an entry that did not match: {:?}",
            o.stderr
        );
        assert!(o.stderr.contains("--all"), "{:?}", o.stderr);
    }
    // Nothing was touched by the refusals.
    for s in &secs {
        assert_eq!(procs_with_arg(s).len(), 1, "a refused command stopped {s}");
    }
    assert_sel(&wr, &["--tag", "z"], &[]);
    assert_eq!(all_ids(&wr), [1, 2, 3, 4]);
    assert_sel(&wr, &["--state", "running"], &[1, 2, 3, 4]);

    // With --all, all three stop (and only they), and the command returns once they are gone.
    let o = wr.ok(&["stop", "--tag", "x", "--all"]);
    for n in ["x1", "x2", "x3"] {
        assert!(o.text().contains(n), "{:?}", o.text());
    }
    for s in &secs {
        assert!(procs_with_arg(s).is_empty(), "sleep {s} survived the stop");
    }
    assert_eq!(procs_with_arg(&other).len(), 1, "other was stopped");
    assert_sel(&wr, &["--state", "stopped"], &[1, 2, 3]);
    assert_eq!(wr.state("other"), "running");

    // The target `all` implies --all.
    wr.ok(&["label", "all", "--add-tag", "z"]);
    assert_sel(&wr, &["--tag", "z"], &[1, 2, 3, 4]);
    // Exactly one match needs no --all.
    wr.ok(&["label", "--tag", "y", "--add-tag", "only"]);
    assert_sel(&wr, &["--tag", "only"], &[4]);

    // Nothing matches: 3, with a hint.
    for args in [
        &["stop", "--tag", "nosuch"][..],
        &["stop", "--tag", "x", "--state", "running"][..],
        &["rm", "--group", "nosuch", "--all"][..],
        &["label", "--tag", "nosuch", "--add-tag", "q"][..],
        &["signal", "HUP", "--search", "no such command"][..],
    ] {
        let o = wr.code(args, 3);
        assert!(
            o.stderr.contains("no entry matches") && o.stderr.contains("wrangle ls"),
            "{args:?} should say nothing matched and hint at ls: {:?}",
            o.stderr
        );
    }
    // Neither a selector nor a filter: usage error.
    wr.code(&["stop"], 2);
    wr.code(&["label", "--add-tag", "q"], 2);
    assert_eq!(all_ids(&wr), [1, 2, 3, 4]);
}

// 4. Renaming and merging tags and groups --------------------------------------------------------

#[test]
fn renaming_a_tag_or_group_onto_another_merges_them() {
    let wr = Wr::new();
    // 1: tag a, group ga    2: tags a,b, groups ga,gb    3: tag b, group gb    4: tag c, group gc
    wr.start(&["--name", "one", "--tag", "a", "--group", "ga", "--", "true"]);
    wr.start(&[
        "--name", "two", "--tag", "a", "--tag", "b", "--group", "ga", "--group", "gb", "--", "true",
    ]);
    wr.start(&[
        "--name", "three", "--tag", "b", "--group", "gb", "--", "true",
    ]);
    wr.start(&["--tag", "c", "--group", "gc", "--", "true"]);

    // Listing.
    let lines =
        |args: &[&str]| -> Vec<String> { wr.ok(args).text().lines().map(str::to_string).collect() };
    assert_eq!(lines(&["tag", "-q"]), ["a", "b", "c"]);
    let counts: Vec<Vec<String>> = lines(&["tag"])
        .iter()
        .map(|l| l.split_whitespace().take(2).map(str::to_string).collect())
        .collect();
    assert_eq!(counts, [["a", "2"], ["b", "2"], ["c", "1"]], "tag counts");
    let j = wr.ok(&["tag", "--json"]).json();
    assert_eq!(
        j,
        serde_json::json!([
            {"name": "a", "entries": 2},
            {"name": "b", "entries": 2},
            {"name": "c", "entries": 1},
        ])
    );
    assert_eq!(lines(&["tag", "a", "-q"]), ["1", "2"]);
    let l = lines(&["tag", "b"]);
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(
        l[0].starts_with("two (id 2)") && l[0].contains("true"),
        "{l:?}"
    );
    assert!(l[1].starts_with("three (id 3)"), "{l:?}");
    let j = wr.ok(&["tag", "c", "--json"]).json();
    assert_eq!(j.as_array().map(|a| a.len()), Some(1), "{j}");
    assert_eq!(j[0]["id"], 4, "{j}");
    assert_eq!(lines(&["group", "-q"]), ["ga", "gb", "gc"]);
    assert_eq!(lines(&["group", "gb", "-q"]), ["2", "3"]);

    // Rename a onto b (which 2 and 3 carry): a merge.
    let o = wr.ok(&["tag", "a", "--rename", "b"]);
    assert!(o.text().contains("2 entries"), "{:?}", o.text());
    assert_sel(&wr, &["--tag", "b"], &[1, 2, 3]);
    assert_sel(&wr, &["--tag", "a"], &[]);
    assert_eq!(lines(&["tag", "-q"]), ["b", "c"]);
    assert_eq!(lines(&["tag", "b", "-q"]), ["1", "2", "3"]);
    assert_eq!(lines(&["tag", "a", "-q"]), Vec::<String>::new());
    assert_eq!(
        wr.status("two")["tags"],
        serde_json::json!(["b"]),
        "the merged tag appears once"
    );
    assert_eq!(wr.status("one")["tags"], serde_json::json!(["b"]));
    // Rename onto a new name.
    wr.ok(&["tag", "c", "--rename", "d"]);
    assert_eq!(lines(&["tag", "-q"]), ["b", "d"]);
    assert_sel(&wr, &["--tag", "d"], &[4]);
    // Refusals change nothing.
    wr.code(&["tag", "nosuch", "--rename", "e"], 3);
    wr.code(&["tag", "b", "--rename", "has space"], 2);
    wr.code(&["tag", "b", "--rename", "has,comma"], 2);
    wr.code(&["tag", "--rename", "e"], 2);
    assert_eq!(lines(&["tag", "-q"]), ["b", "d"]);
    assert_sel(&wr, &["--tag", "b"], &[1, 2, 3]);
    // Each changed entry got a `labelled` event.
    let s = wr.status("one");
    assert!(
        s["events"]
            .as_array()
            .is_some_and(|v| v.iter().any(|e| e["kind"] == "labelled")),
        "{s}"
    );

    // Groups likewise.
    let o = wr.ok(&["group", "ga", "--rename", "gb"]);
    assert!(o.text().contains("2 entries"), "{:?}", o.text());
    assert_sel(&wr, &["--group", "gb"], &[1, 2, 3]);
    assert_sel(&wr, &["--group", "ga"], &[]);
    assert_eq!(lines(&["group", "-q"]), ["gb", "gc"]);
    assert_eq!(lines(&["group", "gb", "-q"]), ["1", "2", "3"]);
    assert_eq!(wr.status("two")["groups"], serde_json::json!(["gb"]));
    let j = wr.ok(&["group", "--json"]).json();
    assert_eq!(
        j,
        serde_json::json!([{"name": "gb", "entries": 3}, {"name": "gc", "entries": 1}])
    );
    wr.code(&["group", "ga", "--rename", "gz"], 3);
    wr.code(&["group", "gb", "--rename", ""], 2);
    assert_eq!(lines(&["group", "-q"]), ["gb", "gc"]);

    // Renames survive a daemon restart.
    wr.ok(&["shutdown"]);
    assert_eq!(lines(&["tag", "-q"]), ["b", "d"]);
    assert_eq!(lines(&["group", "-q"]), ["gb", "gc"]);
    assert_sel(&wr, &["--tag", "b", "--group", "gb"], &[1, 2, 3]);
}

// 5. label ---------------------------------------------------------------------------------------

#[test]
fn label_edits_tags_groups_and_name_entirely_or_not_at_all() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&[
        "--name", "n1", "--tag", "t1", "--tag", "keep", "--group", "g1", "--", "sleep", &secs,
    ]);
    let id = id_of(&e).to_string();
    wr.start(&["--name", "taken", "--", "true"]);

    let o = wr.ok(&[
        "label",
        "n1",
        "--add-tag",
        "t2",
        "--rm-tag",
        "t1",
        "--add-group",
        "g2",
        "--rm-group",
        "g1",
        "--name",
        "n2",
    ]);
    assert!(o.text().contains("n2"), "{:?}", o.text());
    let s = wr.status("n2");
    assert_eq!(id_of(&s), id_of(&e));
    assert_eq!(s["tags"], serde_json::json!(["keep", "t2"]), "{s}");
    assert_eq!(s["groups"], serde_json::json!(["g2"]), "{s}");
    assert_eq!(s["state"], "running", "labels do not touch the process");
    assert_eq!(s["pid"], e["pid"]);
    assert!(
        s["events"]
            .as_array()
            .is_some_and(|v| v.iter().any(|e| e["kind"] == "labelled")),
        "{s}"
    );
    wr.code(&["status", "n1"], 3);
    // `ls --wide` shows it all.
    let wide = wr.ok(&["ls", "--wide", &id]).text();
    let row = wide.lines().nth(1).expect("a row").to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], id, "{wide}");
    assert_eq!(cells[1], "n2", "{wide}");
    assert!(cells.contains(&"keep,t2"), "{wide}");
    assert!(cells.contains(&"g2"), "{wide}");
    assert_sel(&wr, &["--tag", "t1"], &[]);
    assert_sel(&wr, &["--group", "g1"], &[]);
    assert_sel(&wr, &["--tag", "t2"], &[id_of(&e)]);

    // A removal and an addition of the same label: removals first, so it stays.
    wr.ok(&["label", "n2", "--rm-tag", "t2", "--add-tag", "t2"]);
    assert_eq!(wr.status("n2")["tags"], serde_json::json!(["keep", "t2"]));
    // Removing a label it does not carry is fine.
    wr.ok(&["label", "n2", "--rm-group", "nosuch"]);

    // A change with a taken name fails whole: 4, and nothing changed.
    let before = wr.status("n2");
    let o = wr.code(
        &[
            "label",
            "n2",
            "--add-tag",
            "zz",
            "--rm-tag",
            "keep",
            "--add-group",
            "gz",
            "--name",
            "taken",
        ],
        4,
    );
    assert!(
        o.stderr.contains("taken") && o.stderr.contains("entry 2"),
        "{:?}",
        o.stderr
    );
    let after = wr.status("n2");
    for k in ["name", "tags", "groups", "state", "pid"] {
        assert_eq!(before[k], after[k], "a failed label changed {k}");
    }
    assert_sel(&wr, &["--tag", "zz"], &[]);
    assert_sel(&wr, &["--group", "gz"], &[]);
    assert_eq!(wr.status("taken")["id"], 2);
    // A bad label fails whole too.
    wr.code(
        &["label", "n2", "--add-tag", "ok", "--add-tag", "bad tag"],
        2,
    );
    assert_sel(&wr, &["--tag", "ok"], &[]);
    // Nothing to change: usage error.
    wr.code(&["label", "n2"], 2);
    // A name goes to one entry only, even with --all.
    let o = wr.code(&["label", "all", "--name", "both"], 4);
    assert!(o.stderr.contains("2"), "{:?}", o.stderr);
    assert_sel(&wr, &["--name", "both"], &[]);

    // An empty name removes it; the entry is then reached by id.
    wr.ok(&["label", "n2", "--name", ""]);
    assert!(wr.status(&id)["name"].is_null());
    wr.code(&["status", "n2"], 3);
    // Labels are kept across a daemon restart.
    wr.ok(&["label", &id, "--name", "n3", "--add-group", "g3"]);
    wr.ok(&["shutdown"]);
    let s = wr.status("n3");
    assert_eq!(s["tags"], serde_json::json!(["keep", "t2"]), "{s}");
    assert_eq!(s["groups"], serde_json::json!(["g2", "g3"]), "{s}");
}

// 6. reset ---------------------------------------------------------------------------------------

#[test]
fn reset_stops_owned_processes_forgets_everything_and_restarts_ids() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    let ea = wr.start(&["--name", "a", "--tag", "t", "--", "sleep", &a]);
    let eb = wr.start(&["--", "sleep", &b]);
    wr.start(&["--name", "done", "--", "sh", "-c", "echo bye"]);
    wr.code(&["wait", "done"], 0);
    assert_eq!(all_ids(&wr), [1, 2, 3]);
    assert!(log_dirs(&wr).contains(&3), "{:?}", log_dirs(&wr));

    // Without the right confirmation: 2, and nothing happens.
    for args in [
        &["reset"][..],
        &["reset", "--confirm", "reset"][..],
        &["reset", "--confirm", "yes"][..],
        &["reset", "--confirm", ""][..],
    ] {
        let o = wr.code(args, 2);
        assert!(o.stderr.contains("--confirm RESET"), "{:?}", o.stderr);
    }
    assert_eq!(all_ids(&wr), [1, 2, 3]);
    assert_eq!(procs_with_arg(&a), [pid_of(&ea)]);
    assert_eq!(procs_with_arg(&b), [pid_of(&eb)]);

    let o = wr.ok(&["reset", "--confirm", "RESET"]);
    assert!(o.text().contains('3'), "{:?}", o.text());
    // Owned processes are gone by the time it answers.
    assert!(
        procs_with_arg(&a).is_empty(),
        "sleep {a} survived the reset"
    );
    assert!(
        procs_with_arg(&b).is_empty(),
        "sleep {b} survived the reset"
    );
    assert!(!alive(pid_of(&ea)) && !alive(pid_of(&eb)));
    // Everything is forgotten: entries, names, labels, logs.
    assert!(wr.ls().is_empty());
    let p = wr.ok(&["ping", "--json"]).json();
    assert_eq!(
        (p["entries"].as_u64(), p["running"].as_u64()),
        (Some(0), Some(0)),
        "{p}"
    );
    assert_eq!(wr.ok(&["tag", "-q"]).text(), "");
    wr.code(&["status", "a"], 3);
    assert!(log_dirs(&wr).is_empty(), "{:?}", log_dirs(&wr));
    assert!(saved_entries(wr.home()).0.is_empty());

    // Ids start at 1 again, names are free, and this holds across a daemon restart.
    let e = wr.start(&["--name", "a", "--", "true"]);
    assert_eq!(id_of(&e), 1);
    shutdown_within(&wr, "after a reset");
    assert_eq!(id_of(&wr.start(&["--", "true"])), 2);
    assert_eq!(all_ids(&wr), [1, 2]);
}

#[test]
fn reset_forgets_an_adopted_process_but_leaves_it_running() {
    let wr = Wr::new();
    let owned = unique_secs();
    wr.start(&["--name", "owned", "--", "sleep", &owned]);
    let (mut adopted, _) = Own::sleep();
    let pid = adopted.pid().to_string();
    wr.ok(&["add", &pid, "--name", "ad"]);

    wr.ok(&["reset", "--confirm", "RESET"]);
    assert!(
        procs_with_arg(&owned).is_empty(),
        "the owned sleep survived"
    );
    assert!(adopted.running(), "reset stopped an adopted process");
    assert!(wr.ls().is_empty());
    assert_sel(&wr, &["--pid", &pid], &[]);
    // Nothing of the forgotten entry lingers in the daemon: it counts nothing as running,
    // and shuts down promptly.
    let p = wr.ok(&["ping", "--json"]).json();
    shutdown_within(
        &wr,
        &format!("after a reset that forgot an adopted process (ping said {p})"),
    );
    assert_eq!(p["running"].as_u64(), Some(0), "ping after the reset: {p}");
    assert!(
        adopted.running(),
        "shutdown stopped a forgotten adopted process"
    );
    // It may be adopted again, as a new entry 1.
    let o = wr.ok(&["add", &pid]);
    assert!(o.text().contains("id 1"), "{:?}", o.text());
}

// 7. Adopting existing processes -----------------------------------------------------------------

#[test]
fn an_adopted_process_is_watched_until_it_dies() {
    let wr = Wr::new();
    let (mut own, secs) = Own::sleep();
    let pid = own.pid();
    let o = wr.ok(&["add", &pid.to_string(), "--name", "x", "--tag", "t"]);
    assert_eq!(
        o.text().trim(),
        format!("adopted x (id 1) (pid {pid})"),
        "{:?}",
        o.text()
    );
    let s = wr.status("x");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["pid"], pid, "{s}");
    assert_eq!(s["tags"], serde_json::json!(["t"]), "{s}");
    assert_eq!(s["argv"], serde_json::json!(["sleep", secs]), "{s}");
    assert!(
        s["events"]
            .as_array()
            .is_some_and(|v| v.iter().any(|e| e["kind"] == "adopted")),
        "{s}"
    );
    assert_sel(&wr, &["--alive"], &[1]);
    assert_sel(&wr, &["--pid", &pid.to_string()], &[1]);
    assert_sel(&wr, &["--tag", "t", "--state", "running"], &[1]);
    assert!(wr.ok(&["ls"]).text().contains(&format!("sleep {secs}")));
    // `tree` works on it.
    let t = wr.ok(&["tree", "x"]).text();
    assert!(
        t.contains(&format!("{pid} sleep {secs}")),
        "tree of an adopted entry: {t:?}"
    );

    // Killed from outside (it is this test's child: killed and reaped here).
    own.kill();
    assert!(!alive(pid));
    let s = wait_state(&wr, "x", "exited");
    assert!(s["pid"].is_null(), "{s}");
    assert_sel(&wr, &["--alive"], &[]);
    assert_sel(&wr, &["--pid", &pid.to_string()], &[]);
    // It stays an entry (ended) until removed.
    assert_eq!(all_ids(&wr), [1]);
    wr.ok(&["rm", "x"]);
    assert!(wr.ls().is_empty());
}

#[test]
fn add_refuses_missing_tracked_init_and_daemon_pids() {
    let wr = Wr::new();
    // A pid with no process: 3.
    let free = free_pid();
    let o = wr.code(&["add", &free.to_string()], 3);
    assert!(o.stderr.contains(&free.to_string()), "{:?}", o.stderr);
    // pid 1: refused as a usage error (2), without adopting it.
    let o = wr.code(&["add", "1"], 2);
    assert!(o.stderr.contains("refus"), "{:?}", o.stderr);
    // Not a pid at all.
    wr.code(&["add", "0"], 2);
    wr.code(&["add", "-5"], 2);
    wr.code(&["add", "notapid"], 2);
    // The daemon itself.
    let d = wr.daemon_pid().expect("a daemon");
    wr.code(&["add", &d.to_string()], 2);
    assert!(wr.ls().is_empty(), "a refused add left an entry");

    // Already tracked, adopted: 1, naming the entry.
    let (own, _) = Own::sleep();
    let pid = own.pid().to_string();
    wr.ok(&["add", &pid, "--name", "first"]);
    let o = wr.code(&["add", &pid, "--name", "second"], 1);
    assert!(
        o.stderr.contains("first (id 1)"),
        "the refusal should name the entry: {:?}",
        o.stderr
    );
    let o = wr.code(&["add", &pid], 1);
    assert!(o.stderr.contains("id 1"), "{:?}", o.stderr);
    // Already tracked, started by wrangle: 1 too.
    let secs = unique_secs();
    let e = wr.start(&["--", "sleep", &secs]);
    let o = wr.code(&["add", &pid_of(&e).to_string()], 1);
    assert!(
        o.stderr.contains("entry 2") || o.stderr.contains("(id 2)"),
        "the refusal should name entry 2: {:?}",
        o.stderr
    );
    assert_eq!(all_ids(&wr), [1, 2]);
    assert_eq!(procs_with_arg(&secs).len(), 1);
}

#[test]
fn stop_and_signal_reach_an_adopted_process() {
    let wr = Wr::new();
    let file = wr.root.join("sig.txt");
    let mut own = Own::trapper(&file);
    let pid = own.pid();
    wr.ok(&["add", &pid.to_string(), "--name", "trap", "--group", "g"]);

    wr.ok(&["signal", "USR1", "trap"]);
    wait_until("the adopted shell got USR1", SOON, || {
        read(&file).contains("usr1")
    });
    assert!(own.running(), "USR1 ended the shell");
    assert_eq!(wr.state("trap"), "running");
    // By number and through a filter too.
    wr.ok(&["signal", &libc::SIGUSR1.to_string(), "--group", "g"]);
    wait_until("the adopted shell got a second USR1", SOON, || {
        read(&file).matches("usr1").count() == 2
    });
    assert!(!read(&file).contains("term"));

    // stop: TERM, and the entry is stopped (not restarted, not exited).
    wr.ok(&["stop", "trap"]);
    wait_until("the adopted shell got TERM", SOON, || {
        read(&file).contains("term")
    });
    let st = own.wait_gone("the adopted shell exits after TERM");
    assert_eq!(
        st.code(),
        Some(0),
        "the shell ended through its trap: {st:?}"
    );
    let s = wait_state(&wr, "trap", "stopped");
    assert!(s["pid"].is_null(), "{s}");
    // Signalling a stopped entry fails (1) and sends nothing.
    wr.code(&["signal", "USR1", "trap"], 1);
}

#[test]
fn rm_kill_stops_an_adopted_process_and_shutdown_leaves_one_running() {
    let wr = Wr::new();
    // rm --kill: stopped (TERM), then forgotten (a plain rm leaves it running: see
    // tests/polish.rs).
    let file = wr.root.join("rm.txt");
    let mut gone = Own::trapper(&file);
    wr.ok(&["add", &gone.pid().to_string(), "--name", "gone"]);
    // shutdown: left running.
    let (mut stays, secs) = Own::sleep();
    wr.ok(&["add", &stays.pid().to_string(), "--name", "stays"]);
    // And one owned process, which shutdown does stop.
    let owned = unique_secs();
    wr.start(&["--name", "owned", "--", "sleep", &owned]);

    wr.ok(&["rm", "--kill", "gone"]);
    wait_until("the removed adopted shell got TERM", SOON, || {
        read(&file).contains("term")
    });
    let st = gone.wait_gone("the removed adopted shell exits");
    assert_eq!(st.code(), Some(0), "{st:?}");
    wr.code(&["status", "gone"], 3);
    assert_eq!(all_ids(&wr), [2, 3]);

    let daemon = wr.daemon_pid().expect("a daemon");
    wr.ok(&["shutdown"]);
    wait_until("the daemon exits", SOON, || !alive(daemon));
    assert!(
        procs_with_arg(&owned).is_empty(),
        "shutdown left an owned process"
    );
    assert!(
        stays.running() && alive(stays.pid()),
        "shutdown stopped an adopted process"
    );
    assert_eq!(procs_with_arg(&secs), [stays.pid()]);
    // The next daemon watches it again.
    let s = wr.status("stays");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["pid"], stays.pid(), "{s}");
    assert_eq!(wr.state("owned"), "stopped");
    // And a second shutdown leaves it alone too.
    wr.ok(&["shutdown"]);
    assert!(stays.running());
}

#[test]
fn cpu_of_an_adopted_process_is_not_inflated() {
    // A single-threaded process can never use more than 100% of a CPU. One that burnt CPU
    // before it was adopted must not have that time counted against the moments since.
    let wr = Wr::new();
    let file = wr.root.join("burnt");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(
            r#"i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done
               echo done > "$F"; exec sleep 2147483"#,
        )
        .env("F", &file);
    let mut own = Own::spawn(c);
    wait_until("the process has burnt its CPU", SOON, || {
        read(&file).contains("done")
    });
    wr.ok(&["add", &own.pid().to_string(), "--name", "burnt"]);
    let e = wr.ls().into_iter().next().expect("the entry");
    let cpu = e["cpu_percent"].as_f64().unwrap_or(0.0);
    assert!(
        // (100% at most, with room for the clock-tick rounding of a short life)
        cpu <= 150.0,
        "an idle single-threaded adopted process shows {cpu}% CPU: {e}"
    );
    assert!(own.running());
}

/// Resident memory of `pid` in bytes as /proc/PID/stat counts it (what `ls` sums; VmRSS is
/// counted differently), 0 if it is gone.
fn rss_bytes(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            // Field 24, counting the state (after the name) as field 3.
            rest.split_ascii_whitespace().nth(21)?.parse::<u64>().ok()
        })
        .map_or(0, |pages| pages * rustix::param::page_size() as u64)
}

/// The children of `pid`, as the kernel lists them.
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn cpu_and_memory_in_ls_cover_the_whole_tree() {
    // The main process is an idle shell; the CPU is burnt by its child. Both figures are the
    // whole tree's, so `ls` shows the child's CPU under the entry.
    let wr = Wr::new();
    let e = wr.start(&[
        "--name",
        "hot",
        "--",
        "sh",
        "-c",
        "while :; do :; done & wait",
    ]);
    let main = pid_of(&e);
    let mut seen = Vec::new();
    let hot = try_wait_until(SOON, || {
        let e = wr.ls().into_iter().next().expect("the entry");
        let cpu = e["cpu_percent"].as_f64().unwrap_or(0.0);
        seen.push(cpu);
        cpu > 30.0
    });
    assert!(
        hot,
        "an entry whose child burns a CPU never showed more than 30% CPU in ls; the last of {} \
         looks: {:?}",
        seen.len(),
        &seen[seen.len().saturating_sub(10)..]
    );
    // `status` reports the same sample's figure.
    let s = wr.status("hot");
    assert!(
        s["cpu_percent"].as_f64().is_some_and(|c| c > 30.0),
        "status disagrees with ls: {s}"
    );
    // Memory covers the child as well as the idle main process.
    let kids = children_of(main);
    assert_eq!(kids.len(), 1, "the busy child of {main}: {kids:?}");
    let (own, child) = (rss_bytes(main), rss_bytes(kids[0]));
    assert!(own > 0 && child > 0, "{own} {child}");
    let listed = wr.ls()[0]["rss_bytes"].as_u64().unwrap_or(0);
    assert!(
        listed >= own + child / 2,
        "ls shows {listed} bytes for a tree of {own} + {child}"
    );
}

#[test]
fn status_of_an_added_entry_does_not_claim_a_daemon_restart() {
    let wr = Wr::new();
    let (own, _) = Own::sleep();
    wr.ok(&["add", &own.pid().to_string(), "--name", "ad"]);
    let text = wr.ok(&["status", "ad"]).text();
    let line = text
        .lines()
        .find(|l| l.contains("daemon restart"))
        .unwrap_or_default();
    assert!(
        line.is_empty(),
        "an entry adopted with `wrangle add` was not re-adopted after a restart: {line:?}"
    );
}

// 8. Ids -----------------------------------------------------------------------------------------

#[test]
fn ids_only_go_up_across_restarts_and_are_never_reused() {
    let wr = Wr::new();
    for want in 1..=3 {
        assert_eq!(id_of(&wr.start(&["--", "true"])), want);
    }
    wr.code(&["wait", "3"], 0);
    wr.ok(&["rm", "3"]);
    assert!(!log_dirs(&wr).contains(&3));
    assert!(!saved_entries(wr.home()).0.contains_key(&3));
    // A removed id is not reused, by this daemon or the next.
    assert_eq!(id_of(&wr.start(&["--", "true"])), 4);
    wr.code(&["wait", "4"], 0);
    wr.ok(&["rm", "4"]);
    wr.ok(&["shutdown"]);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 5);
    assert_eq!(all_ids(&wr), [1, 2, 5]);

    // After a SIGKILL of the daemon (right after an rm of the newest entry).
    wr.code(&["wait", "5"], 0);
    wr.ok(&["rm", "5"]);
    kill_daemon(&wr);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 6);

    // Everything removed, daemon killed and restarted: still no reuse.
    wr.code(&["wait", "6"], 0);
    wr.ok(&["rm", "all"]);
    assert!(wr.ls().is_empty());
    kill_daemon(&wr);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 7);
    wr.ok(&["rm", "all"]);
    wr.ok(&["shutdown"]);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 8);
    // prune does not give ids back either.
    wr.code(&["wait", "8"], 0);
    wr.ok(&["prune"]);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 9);
}

// 9. State files that do not parse ---------------------------------------------------------------

#[test]
fn a_corrupt_entry_file_is_moved_aside_and_reported() {
    let wr = Wr::new();
    wr.start(&["--", "true"]);
    wr.start(&["--name", "keep", "--tag", "k", "--", "true"]);
    wr.code(&["wait", "1"], 0);
    wr.code(&["wait", "keep"], 0);
    wr.ok(&["shutdown"]);
    // As an older wrangle left it: one file per entry.
    downgrade(wr.home(), |j| j);
    let entries = wr.home().join("entries");
    let garbage = b"{\"id\": 1, this is not JSON \x01\xff\n".to_vec();
    std::fs::write(entries.join("1.json"), &garbage).expect("write garbage");

    // The next command works.
    let ids = q(&wr, &[]);
    assert_eq!(
        ids,
        [2],
        "the good entry is kept, the bad one is not loaded"
    );
    let moved = files_starting(&entries, "1.json.corrupt-");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        std::fs::read(&moved[0]).expect("read the corrupt file"),
        garbage,
        "the bad file is kept byte for byte"
    );
    assert!(!entries.join("1.json").exists());
    // ping reports it.
    let ping = wr.ok(&["ping"]).text();
    let warn: Vec<&str> = ping.lines().filter(|l| l.starts_with("warning:")).collect();
    let name = moved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        warn.iter()
            .any(|l| l.contains("1.json") && l.contains(&name)),
        "ping should warn about {name}: {ping:?}"
    );
    let j = wr.ok(&["ping", "--json"]).json();
    assert!(
        j["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap_or("").contains(&name))),
        "{j}"
    );
    // The surviving entry is intact; ids do not go backwards.
    let s = wr.status("keep");
    assert_eq!(s["tags"], serde_json::json!(["k"]), "{s}");
    assert_eq!(id_of(&wr.start(&["--", "true"])), 3);
}

#[test]
fn a_corrupt_registry_file_is_moved_aside_and_ids_do_not_go_back() {
    let wr = Wr::new();
    for _ in 0..3 {
        wr.start(&["--", "true"]);
    }
    wr.start(&["--name", "four", "--", "true"]);
    wr.code(&["wait", "four"], 0);
    wr.code(&["wait", "1"], 0);
    wr.ok(&["rm", "1"]);
    wr.ok(&["shutdown"]);
    // As an older wrangle left it: registry.json holds the next id.
    downgrade(wr.home(), |j| j);
    let garbage = b"not json at all".to_vec();
    std::fs::write(wr.home().join("registry.json"), &garbage).expect("write garbage");

    assert_eq!(q(&wr, &[]), [2, 3, 4], "the entries themselves are kept");
    let moved = files_starting(wr.home(), "registry.json.corrupt-");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), garbage);
    let o = wr.ok(&["ping"]);
    assert!(
        o.text()
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("registry.json")),
        "{:?}",
        o.text()
    );
    assert_eq!(wr.state("four"), "exited");
    // Ids continue after the highest entry known.
    assert_eq!(id_of(&wr.start(&["--", "true"])), 5);
    // And the registry file is good again for the next daemon.
    wr.ok(&["shutdown"]);
    assert_eq!(id_of(&wr.start(&["--", "true"])), 6);
    let o = wr.ok(&["ping"]);
    assert!(
        !o.text().contains("warning:"),
        "a later start has nothing to warn about: {:?}",
        o.text()
    );
}

/// The newest journal in a state folder.
fn newest_journal(home: &Path) -> PathBuf {
    let mut js = files_starting(home, "registry.journal.");
    js.retain(|p| !p.to_string_lossy().contains(".corrupt-"));
    js.sort_by_key(|p| {
        p.extension()
            .and_then(|x| x.to_str())
            .and_then(|x| x.parse::<u64>().ok())
    });
    js.pop().expect("a journal")
}

fn names_and_tags(wr: &Wr) -> Vec<(String, Vec<String>)> {
    wr.ls()
        .iter()
        .map(|e| {
            let tags = e["tags"]
                .as_array()
                .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (e["name"].as_str().unwrap_or("").to_string(), tags)
        })
        .collect()
}

#[test]
fn every_confirmed_change_survives_a_kill_of_the_daemon_and_its_keeper() {
    let wr = Wr::new();
    let n = 40;
    for i in 1..=n {
        wr.start(&["--name", &format!("j{i}"), "--tag", "t", "--", "true"]);
    }
    wr.code(&["wait", "j1"], 0);
    wr.ok(&["rm", "j1"]);
    wr.ok(&["label", "j2", "--add-tag", "late"]);
    // Killed right after the last reply, keeper too: nothing is saved at shutdown.
    let ping = wr.ok(&["ping", "--json"]).json();
    let (daemon, keeper) = (
        ping["pid"].as_i64().expect("a daemon pid") as i32,
        ping["keeper"].as_i64().expect("a keeper pid") as i32,
    );
    assert!(is_keeper(keeper), "{ping}");
    kill(keeper, libc::SIGKILL);
    kill(daemon, libc::SIGKILL);
    wait_until("the daemon and keeper are gone", SOON, || {
        !alive(daemon) && !alive(keeper)
    });
    let mut want: Vec<(String, Vec<String>)> = (2..=n)
        .map(|i| (format!("j{i}"), vec!["t".to_string()]))
        .collect();
    want[0].1.insert(0, "late".into());
    assert_eq!(names_and_tags(&wr), want);
    assert_eq!(id_of(&wr.start(&["--", "true"])), n + 1);
    let ping = wr.ok(&["ping"]).text();
    assert!(!ping.contains("warning:"), "{ping:?}");
}

#[test]
fn a_journal_cut_short_by_a_crash_loads_with_the_rest() {
    let wr = Wr::new();
    for name in ["a", "b", "c"] {
        wr.start(&["--name", name, "--", "true"]);
        wr.code(&["wait", name], 0);
    }
    wr.ok(&["shutdown"]);
    // Half of the last record, as a crash in the middle of a write leaves it.
    let journal = newest_journal(wr.home());
    let len = std::fs::metadata(&journal).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap();
    f.set_len(len - 20).unwrap();
    drop(f);
    let names =
        |wr: &Wr| -> Vec<String> { names_and_tags(wr).into_iter().map(|(n, _)| n).collect() };
    assert_eq!(names(&wr), ["a", "b", "c"]);
    let ping = wr.ok(&["ping"]).text();
    assert!(
        !ping.contains("warning:"),
        "a torn tail is no corruption: {ping:?}"
    );
    // The cut line is gone before anything is appended: what follows loads without a word.
    wr.start(&["--name", "d", "--", "true"]);
    wr.code(&["wait", "d"], 0);
    wr.ok(&["shutdown"]);
    assert_eq!(names(&wr), ["a", "b", "c", "d"]);
    let ping = wr.ok(&["ping"]).text();
    assert!(!ping.contains("warning:"), "{ping:?}");
}

#[test]
fn a_damaged_journal_is_moved_aside_and_reported_and_its_good_records_kept() {
    let wr = Wr::new();
    wr.start(&["--name", "one", "--", "true"]);
    wr.start(&["--name", "keep", "--tag", "k", "--", "true"]);
    wr.code(&["wait", "one"], 0);
    wr.code(&["wait", "keep"], 0);
    wr.ok(&["shutdown"]);
    // One byte changed in the first record of entry 1 (later records of it follow).
    let journal = newest_journal(wr.home());
    let mut bytes = std::fs::read(&journal).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b" E 1 ")
        .expect("entry 1 is in the journal");
    bytes[at + 30] ^= 0x01;
    std::fs::write(&journal, &bytes).unwrap();

    assert_eq!(q(&wr, &[]), [1, 2], "every entry is still there");
    let name = format!(
        "{}.corrupt-",
        journal.file_name().unwrap().to_string_lossy()
    );
    let moved = files_starting(wr.home(), &name);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        std::fs::read(&moved[0]).unwrap(),
        bytes,
        "kept byte for byte"
    );
    let j = wr.ok(&["ping", "--json"]).json();
    let moved_name = moved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        j["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains(&moved_name))),
        "{j}"
    );
    assert_eq!(wr.status("keep")["tags"], serde_json::json!(["k"]));
    assert_eq!(id_of(&wr.start(&["--", "true"])), 3);
    // What loaded was written out whole: the next daemon has nothing to say.
    wr.ok(&["shutdown"]);
    assert_eq!(q(&wr, &[]), [1, 2, 3]);
    let ping = wr.ok(&["ping"]).text();
    assert!(!ping.contains("warning:"), "{ping:?}");
}

#[test]
fn a_growing_journal_is_compacted_into_a_snapshot_and_loads_back() {
    let wr = Wr::new();
    // Every run of a crash loop saves its entry again (about 4 KB with its events): three
    // loops of 700 runs write twice the 4 MiB past which a journal is compacted.
    let names = ["c1", "c2", "c3"];
    for name in names {
        wr.start(&[
            "--name",
            name,
            "--restart",
            "on-failure",
            "--backoff",
            "0",
            "--max-restarts",
            "700",
            "--",
            "false",
        ]);
    }
    wait_until(
        "the crash loops give up",
        std::time::Duration::from_secs(240),
        || names.iter().all(|n| wr.state(n) == "errored"),
    );
    let before: Vec<Value> = names.iter().map(|n| wr.status(n)).collect();
    wr.ok(&["shutdown"]);
    let home = wr.home();
    assert!(
        home.join("registry.snapshot").exists(),
        "no snapshot was written: {:?}",
        files_starting(home, "registry.")
    );
    assert!(
        !home.join("registry.journal.1").exists(),
        "the journal the snapshot replaces is deleted: {:?}",
        files_starting(home, "registry.")
    );
    for (name, before) in names.iter().zip(before) {
        let after = wr.status(name);
        for k in ["state", "restarts", "exit_code", "run"] {
            assert_eq!(after[k], before[k], "{k}: {after}");
        }
    }
    let ping = wr.ok(&["ping"]).text();
    assert!(!ping.contains("warning:"), "{ping:?}");
}

// 10. prune --------------------------------------------------------------------------------------

#[test]
fn prune_forgets_ended_entries_and_their_logs() {
    let wr = Wr::new();
    let run = unique_secs();
    let r = wr.start(&["--name", "r", "--", "sleep", &run]);
    wr.start(&["--name", "e", "--", "sh", "-c", "echo out"]);
    let stop = unique_secs();
    wr.start(&["--name", "s", "--", "sleep", &stop]);
    wr.code(&["wait", "e"], 0);
    wr.ok(&["stop", "s"]);
    assert_eq!(log_dirs(&wr), BTreeSet::from([1, 2, 3]));

    // Recently ended ones are kept by --older-than.
    let o = wr.ok(&["prune", "--older-than", "1h"]);
    assert!(o.text().contains("nothing to prune"), "{:?}", o.text());
    assert_eq!(all_ids(&wr), [1, 2, 3]);
    wr.code(&["prune", "--older-than", "soon"], 2);

    let rs = wr.ok(&["prune", "--json"]).json();
    let removed: BTreeSet<u64> = rs
        .as_array()
        .expect("an array of results")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(removed, BTreeSet::from([2, 3]), "{rs}");
    assert_eq!(all_ids(&wr), [1]);
    assert_eq!(
        log_dirs(&wr),
        BTreeSet::from([1]),
        "logs of pruned entries stay"
    );
    assert!(!saved_entries(wr.home()).0.contains_key(&2));
    assert_eq!(
        procs_with_arg(&run),
        [pid_of(&r)],
        "prune touched a running entry"
    );
    assert_eq!(wr.state("r"), "running");
    let o = wr.ok(&["prune"]);
    assert!(o.text().contains("nothing to prune"), "{:?}", o.text());

    // --older-than DUR keeps what ended less than DUR ago, then forgets it.
    let e2 = id_of(&wr.start(&["--name", "e2", "--", "true"]));
    wr.code(&["wait", "e2"], 0);
    let o = wr.ok(&["prune", "--older-than", "1h"]);
    assert!(o.text().contains("nothing to prune"), "{:?}", o.text());
    let mut pruned = Vec::new();
    wait_until("e2 is old enough to prune", SOON, || {
        let rs = wr.ok(&["prune", "--older-than", "300ms", "--json"]).json();
        pruned = rs.as_array().expect("an array").iter().map(id_of).collect();
        !pruned.is_empty()
    });
    assert_eq!(pruned, [e2]);
    assert_eq!(all_ids(&wr), [1]);
    // Pruned names are free again; ids are not reused.
    assert_eq!(id_of(&wr.start(&["--name", "e", "--", "true"])), e2 + 1);
}

// 11. tree ---------------------------------------------------------------------------------------

#[test]
fn tree_draws_children_under_their_shell() {
    let wr = Wr::new();
    let (u1, u2) = (unique_secs(), unique_secs());
    let e = wr.start(&[
        "--name",
        "t",
        "--shell",
        "--",
        &format!("sleep {u1} & sleep {u2}"),
    ]);
    let sh = pid_of(&e);
    let mut kids = (Vec::new(), Vec::new());
    wait_until("both sleeps run", SOON, || {
        kids = (
            procs_with_argv(&["sleep", &u1]),
            procs_with_argv(&["sleep", &u2]),
        );
        kids.0.len() == 1 && kids.1.len() == 1
    });
    let (k1, k2) = (kids.0[0], kids.1[0]);

    let text = wr.ok(&["tree", "t"]).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first().copied(), Some("t (id 1)"), "{text}");
    // Each process line: some drawing, then "PID COMMAND".
    let parse = |l: &str| -> Option<(usize, i32, String)> {
        let start = l.find(|c: char| c.is_ascii_digit())?;
        let indent = l[..start].chars().count();
        let rest = &l[start..];
        let (pid, cmd) = rest.split_once(' ')?;
        Some((indent, pid.parse().ok()?, cmd.to_string()))
    };
    let procs: Vec<(usize, i32, String)> = lines[1..].iter().filter_map(|l| parse(l)).collect();
    assert_eq!(procs.len(), 3, "the shell and its two sleeps: {text}");
    let find = |pid: i32| {
        procs
            .iter()
            .position(|p| p.1 == pid)
            .unwrap_or_else(|| panic!("pid {pid} is not in the tree: {text}"))
    };
    let (i_sh, i1, i2) = (find(sh), find(k1), find(k2));
    assert!(procs[i_sh].2.contains("sh"), "{text}");
    assert!(procs[i_sh].2.contains(&u1), "{text}");
    assert_eq!(procs[i1].2, format!("sleep {u1}"), "{text}");
    assert_eq!(procs[i2].2, format!("sleep {u2}"), "{text}");
    // Children below their parent, indented further.
    assert!(i_sh < i1 && i_sh < i2, "{text}");
    assert!(procs[i1].0 > procs[i_sh].0, "{text}");
    assert_eq!(procs[i1].0, procs[i2].0, "{text}");

    // An entry that is not running says so.
    wr.ok(&["stop", "t"]);
    let text = wr.ok(&["tree", "t"]).text();
    assert!(text.contains("not running"), "{text}");
    assert!(!text.contains(&u1), "{text}");
    wr.code(&["tree", "nosuch"], 3);
}

// 12. ls formats ---------------------------------------------------------------------------------

#[test]
fn ls_columns_wide_quiet_names_and_json() {
    let wr = Wr::new();
    let secs = unique_secs();
    let e = wr.start(&[
        "--name", "colw", "--tag", "t1", "--tag", "t2", "--group", "g1", "--", "sleep", &secs,
    ]);
    let pid = pid_of(&e);
    wr.start(&["--", "sh", "-c", "exit 7"]);
    wr.code(&["wait", "2"], 7);

    // Plain: the header, then one row each, every column starting under its heading.
    let text = wr.ok(&["ls"]).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "NAME", "PID", "STATE", "UPTIME", "RESTARTS", "CPU", "MEM", "COMMAND"],
        "{text}"
    );
    let col = |h: &str| lines[0].find(h).expect("a heading");
    let cell = |line: &str, h: &str| -> String {
        line[col(h)..]
            .split("  ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(cell(lines[1], "ID"), "1", "{text}");
    assert_eq!(cell(lines[1], "NAME"), "colw", "{text}");
    assert_eq!(cell(lines[1], "PID"), pid.to_string(), "{text}");
    assert_eq!(cell(lines[1], "STATE"), "running", "{text}");
    assert_eq!(cell(lines[1], "RESTARTS"), "0", "{text}");
    assert!(!cell(lines[1], "UPTIME").is_empty(), "{text}");
    assert_eq!(
        &lines[1][col("COMMAND")..],
        format!("sleep {secs}"),
        "{text}"
    );
    assert_eq!(cell(lines[2], "ID"), "2", "{text}");
    assert_eq!(cell(lines[2], "NAME"), "-", "{text}");
    assert_eq!(cell(lines[2], "PID"), "-", "{text}");
    assert!(cell(lines[2], "STATE").starts_with("exited"), "{text}");
    assert!(cell(lines[2], "STATE").contains('7'), "{text}");
    assert_eq!(&lines[2][col("COMMAND")..], "sh -c 'exit 7'", "{text}");

    // --wide adds TAGS GROUPS ORIGINATOR CWD TITLE before the command.
    let text = wr.ok(&["ls", "--wide"]).text();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "NAME",
            "PID",
            "STATE",
            "UPTIME",
            "RESTARTS",
            "CPU",
            "MEM",
            "TAGS",
            "GROUPS",
            "ORIGINATOR",
            "CWD",
            "TITLE",
            "COMMAND"
        ],
        "{text}"
    );
    let col = |h: &str| lines[0].find(h).expect("a heading");
    let cell = |line: &str, h: &str| -> String {
        line[col(h)..]
            .split("  ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(cell(lines[1], "TAGS"), "t1,t2", "{text}");
    assert_eq!(cell(lines[1], "GROUPS"), "g1", "{text}");
    assert!(
        cell(lines[1], "ORIGINATOR").starts_with("wrangle-cli"),
        "{text}"
    );
    assert_eq!(
        cell(lines[1], "CWD"),
        wr.root.display().to_string(),
        "{text}"
    );
    assert_eq!(cell(lines[2], "TAGS"), "-", "{text}");
    assert_eq!(cell(lines[2], "GROUPS"), "-", "{text}");
    assert_eq!(
        &lines[1][col("COMMAND")..],
        format!("sleep {secs}"),
        "{text}"
    );

    // -q and --names.
    assert_eq!(wr.ok(&["ls", "-q"]).text(), "1\n2\n");
    assert_eq!(wr.ok(&["ls", "--quiet", "--tag", "t2"]).text(), "1\n");
    assert_eq!(wr.ok(&["ls", "--names"]).text(), "colw\n2\n");
    // An empty list still has its header.
    let text = wr.ok(&["ls", "--tag", "nosuch"]).text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ID"), "{text}");
    assert_eq!(wr.ok(&["ls", "-q", "--tag", "nosuch"]).text(), "");
    assert_eq!(
        wr.ok(&["ls", "--json", "--tag", "nosuch"]).json(),
        serde_json::json!([])
    );

    // --json: stable field names and values.
    let all = wr.ls();
    assert_eq!(all.len(), 2);
    let j = &all[0];
    for k in [
        "id",
        "name",
        "tags",
        "groups",
        "state",
        "pid",
        "run",
        "restarts",
        "command",
        "argv",
        "cwd",
        "cpu_percent",
        "rss_bytes",
        "originator",
        "uptime_ms",
        "created_at_ms",
        "started_at_ms",
        "ended_at_ms",
        "exit_code",
        "exit_signal",
        "adopted",
    ] {
        assert!(j.get(k).is_some(), "ls --json has no field {k:?}: {j}");
    }
    assert_eq!(j["id"], 1);
    assert_eq!(j["name"], "colw");
    assert_eq!(j["tags"], serde_json::json!(["t1", "t2"]));
    assert_eq!(j["groups"], serde_json::json!(["g1"]));
    assert_eq!(j["state"], "running");
    assert_eq!(j["pid"], pid);
    assert_eq!(j["run"], 1);
    assert_eq!(j["restarts"], 0);
    assert_eq!(j["command"], format!("sleep {secs}"));
    assert_eq!(j["argv"], serde_json::json!(["sleep", secs]));
    assert_eq!(j["cwd"], wr.root.display().to_string());
    assert!(j["cpu_percent"].is_number(), "{j}");
    assert!(j["rss_bytes"].as_u64().is_some_and(|m| m > 0), "{j}");
    assert!(
        j["originator"]
            .as_str()
            .is_some_and(|o| o.starts_with("wrangle-cli/")),
        "{j}"
    );
    assert_eq!(j["adopted"], false);
    let k = &all[1];
    assert!(k["name"].is_null(), "{k}");
    assert!(k["pid"].is_null(), "{k}");
    assert_eq!(k["state"], "exited");
    assert_eq!(k["exit_code"], 7);
    assert_eq!(k["tags"], serde_json::json!([]));
    assert!(
        k["cpu_percent"].is_null() && k["rss_bytes"].is_null(),
        "{k}"
    );
}

/// `list` with `brief` answers ids and names only (what `ls -q` and `ls --names` print, and
/// the completions ask), and both commands print the same as before.
#[test]
fn a_brief_list_has_ids_and_names_only() {
    let wr = Wr::new();
    wr.start(&["--name", "named", "--", "sleep", &unique_secs()]);
    wr.start(&["--", "sleep", &unique_secs()]);
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    let f = c.request(1, r#"{"op":"list","brief":true}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
    let v = f.json();
    let items = v["entries"].as_array().expect("entries");
    assert_eq!(items.len(), 2, "{v}");
    for it in items {
        let keys: Vec<&String> = it.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["id", "name"], "{v}");
    }
    assert_eq!(items[0]["name"], "named");
    assert!(items[1]["name"].is_null(), "{v}");
    assert_eq!(wr.ok(&["ls", "-q"]).text(), "1\n2\n");
    assert_eq!(wr.ok(&["ls", "--names"]).text(), "named\n2\n");
}
