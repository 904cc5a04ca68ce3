//! Black-box tests of what an entry owns after its main process ends (SPEC §3): by default the
//! processes a run leaves behind (here a daemonizing `setsid` child) are stopped before the run
//! counts as ended and before any restart, so restarts never pile them up and `stop` leaves
//! none; with `--leftovers keep` (or `"leftovers": "keep"` in wrangle.json) they keep running
//! but stay the entry's: `ls`, `status` and `tree` show them, and `stop`, `restart`, `rm` and
//! `shutdown` end them.
//!
//! Processes are found in /proc by a unique `sleep` argument; every wait polls a condition
//! with a deadline.

mod common;

use common::*;
use serde_json::Value;

/// A main process that starts a daemonizing child (`setsid`, output detached) running
/// `sleep SECS`, then exits with `code`.
fn daemonizing(secs: &str, code: i32) -> String {
    format!("setsid sh -c \"exec sleep {secs}\" </dev/null >/dev/null 2>&1 & exit {code}")
}

fn sleeps(secs: &str) -> Vec<i32> {
    procs_with_argv(&["sleep", secs])
}

fn leftovers(v: &Value) -> Vec<i32> {
    v["leftovers"]
        .as_array()
        .unwrap_or_else(|| panic!("no leftovers array in {v}"))
        .iter()
        .map(|p| p.as_i64().expect("a leftover is a pid") as i32)
        .collect()
}

fn restarts(wr: &Wr, sel: &str) -> u64 {
    wr.status(sel)["restarts"].as_u64().unwrap_or(0)
}

/// The reproduction: a restart-always entry whose every run daemonizes a child.
#[test]
fn a_daemonizing_child_is_stopped_with_its_run_and_never_piles_up_across_restarts() {
    let wr = Wr::new();
    let secs = unique_secs();
    let cmd = daemonizing(&secs, 0);
    wr.start(&[
        "--name",
        "d",
        "--restart",
        "always",
        "--backoff",
        "300ms,1",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    // Several runs, and never more than one leftover alive at a time: a restart never starts
    // while the previous run's leftover lives.
    wait_until("three restarts", SOON, || {
        let n = sleeps(&secs).len();
        assert!(n <= 1, "{n} leftovers of earlier runs alive at once");
        restarts(&wr, "d") >= 3
    });
    let st = wr.status("d");
    let evs = st["events"].as_array().unwrap();
    assert!(
        evs.iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("its leftover processes were stopped")),
        "{st}"
    );
    wr.ok(&["stop", "d"]);
    assert_eq!(sleeps(&secs), Vec::<i32>::new(), "left after stop");
    assert_eq!(wr.state("d"), "stopped");
    wr.ok(&["rm", "d"]);
    wr.ok(&["shutdown"]);
    assert_eq!(
        sleeps(&secs),
        Vec::<i32>::new(),
        "left after rm and shutdown"
    );
}

/// A leftover that ignores the stop signal is killed after the stop timeout, and only then is
/// the run reported ended, with the main process's own exit code.
#[test]
fn the_run_ends_only_once_its_leftovers_are_gone_with_the_main_exit_code() {
    let wr = Wr::new();
    let secs = unique_secs();
    // Ignored before the fork, so the child ignores TERM from its first instant.
    let cmd = format!("trap '' TERM; {}", daemonizing(&secs, 3));
    wr.start(&[
        "--name",
        "d",
        "--stop-timeout",
        "1s",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    let o = wr.code(&["wait", "d"], 3);
    assert_eq!(
        sleeps(&secs),
        Vec::<i32>::new(),
        "ended before its leftover: {o:?}"
    );
    let st = wr.status("d");
    assert_eq!(st["state"], "exited", "{st}");
    assert_eq!(st["exit_code"], 3, "{st}");
    assert!(leftovers(&st).is_empty(), "{st}");
    let text = wr.ok(&["status", "d"]).text();
    assert!(text.contains("stopping 1 leftover process"), "{text}");
    assert!(text.contains("killed after the stop timeout"), "{text}");
}

/// Starts an entry named `name` that keeps its daemonizing child, waits until it has ended,
/// and returns the leftover's pid.
fn kept(wr: &Wr, name: &str, secs: &str) -> i32 {
    let cmd = daemonizing(secs, 0);
    wr.start(&[
        "--name",
        name,
        "--leftovers",
        "keep",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    wait_until("the run ended with a leftover", SOON, || {
        let st = wr.status(name);
        st["state"] == "exited" && !leftovers(&st).is_empty() && sleeps(secs).len() == 1
    });
    let st = wr.status(name);
    assert_eq!(leftovers(&st), sleeps(secs), "{st}");
    sleeps(secs)[0]
}

#[test]
fn kept_leftovers_are_shown_by_ls_status_and_tree_and_ended_by_stop() {
    let wr = Wr::new();
    let secs = unique_secs();
    let pid = kept(&wr, "k", &secs);
    let ls = wr.ok(&["ls"]).text();
    assert!(ls.contains("exited(code 0)+1"), "{ls}");
    let ls = wr.ls();
    assert_eq!(leftovers(&ls[0]), vec![pid]);
    let status = wr.ok(&["status", "k"]).text();
    assert!(status.contains("leftovers:"), "{status}");
    assert!(status.contains(&format!("{pid} sleep {secs}")), "{status}");
    let tree = wr.ok(&["tree", "k"]).text();
    assert!(tree.contains(&format!("{pid} sleep {secs}")), "{tree}");
    // It still owns a process: prune leaves it.
    wr.ok(&["prune"]);
    assert_eq!(leftovers(&wr.status("k")), vec![pid]);
    let o = wr.ok(&["stop", "k"]).text();
    assert!(o.contains("stopped k"), "{o}");
    assert_eq!(sleeps(&secs), Vec::<i32>::new(), "left after stop");
    assert!(leftovers(&wr.status("k")).is_empty());
    assert!(!wr.ok(&["ls"]).text().contains("+1"));
}

#[test]
fn kept_leftovers_are_ended_by_restart_rm_and_shutdown() {
    let wr = Wr::new();
    let (a, b, c) = (unique_secs(), unique_secs(), unique_secs());
    let pa = kept(&wr, "a", &a);
    kept(&wr, "b", &b);
    kept(&wr, "c", &c);
    // restart: the old run's leftover goes before the new run starts (which leaves its own).
    wr.ok(&["restart", "a"]);
    assert!(
        !sleeps(&a).contains(&pa),
        "the old leftover survived restart"
    );
    wait_until("the new run left its own", SOON, || sleeps(&a).len() == 1);
    wr.ok(&["rm", "b"]);
    assert_eq!(sleeps(&b), Vec::<i32>::new(), "left after rm");
    wr.ok(&["shutdown"]);
    assert_eq!(sleeps(&c), Vec::<i32>::new(), "left after shutdown");
    assert_eq!(sleeps(&a), Vec::<i32>::new(), "left after shutdown");
}

#[test]
fn a_dead_kept_leftover_leaves_the_list() {
    let wr = Wr::new();
    let secs = unique_secs();
    let pid = kept(&wr, "k", &secs);
    kill(pid, libc::SIGKILL);
    wait_until("the leftover is gone from ls", SOON, || {
        leftovers(&wr.ls()[0]).is_empty()
    });
    let o = wr.ok(&["stop", "k"]).text();
    assert!(o.contains("not running"), "{o}");
}

#[test]
fn wrangle_json_leftovers_keep() {
    let wr = Wr::new();
    let secs = unique_secs();
    let doc = serde_json::json!({"services": {"k": {
        "shell": daemonizing(&secs, 0),
        "restart": "never",
        "leftovers": "keep",
    }}});
    std::fs::write(wr.root.join("wrangle.json"), doc.to_string()).unwrap();
    wr.ok(&["up"]);
    wait_until("the run ended with a leftover", SOON, || {
        let st = wr.status("k");
        st["state"] == "exited" && leftovers(&st).len() == 1 && sleeps(&secs).len() == 1
    });
    wr.ok(&["down"]);
    assert_eq!(sleeps(&secs), Vec::<i32>::new(), "left after down");

    let bad = serde_json::json!({"services": {"k": {"cmd": ["true"], "leftovers": "maybe"}}});
    std::fs::write(wr.root.join("wrangle.json"), bad.to_string()).unwrap();
    let o = wr.code(&["up"], 2);
    assert!(
        o.stderr
            .contains("services.k.leftovers: expected \"stop\" or \"keep\", found \"maybe\""),
        "{}",
        o.stderr
    );
    let o = wr.code(&["run", "--leftovers", "maybe", "--", "true"], 2);
    assert!(o.stderr.contains("--leftovers \"maybe\""), "{}", o.stderr);
}

/// A main process whose grandchild escapes everything that names it: a new session (`setsid`)
/// and an empty environment (`env -i`, so no marker), its parent gone, so the daemon (a child
/// subreaper) inherits it. Then the main process waits.
fn escaping(secs: &str) -> String {
    format!(
        "( setsid env -i sh -c 'sleep {secs} </dev/null >/dev/null 2>&1 &' & ); exec sleep {secs}1"
    )
}

/// Issue 12, item 7: a descendant that cleared its environment and left the session is still
/// the entry's, and `stop` ends it (no other run was alive to have started it).
#[test]
fn a_descendant_with_a_cleared_environment_is_stopped_with_its_entry() {
    let wr = Wr::new();
    let secs = unique_secs();
    wr.start(&["--name", "esc", "--", "sh", "-c", &escaping(&secs)]);
    wait_until("the escaped sleep", SOON, || sleeps(&secs).len() == 1);
    let escaped = sleeps(&secs)[0];
    assert!(
        !environ(escaped).iter().any(|v| v.starts_with(b"WRANGLE")),
        "the escaped process should carry no marker"
    );
    wr.ok(&["stop", "esc"]);
    wait_until("the escaped sleep ends with its entry", SOON, || {
        !alive(escaped)
    });
}

/// Where runs of two entries overlap, an unmarked orphan cannot be told apart when one of
/// them stops; the run of ours alive when it started that ends last claims it, so `shutdown`
/// (which stops every entry) leaves nothing behind.
#[test]
fn a_descendant_two_runs_could_own_is_ended_by_shutdown() {
    let wr = Wr::new();
    let secs = unique_secs();
    // The other entry outlives esc's stop by two seconds (it ignores TERM), so the orphan is
    // still unclaimable when esc's leftovers are looked for.
    let other = format!("trap '' TERM; sleep {secs}2 & wait; wait");
    wr.start(&[
        "--name",
        "other",
        "--stop-timeout",
        "2s",
        "--",
        "sh",
        "-c",
        &other,
    ]);
    wr.start(&["--name", "esc", "--", "sh", "-c", &escaping(&secs)]);
    wait_until("the escaped sleep", SOON, || sleeps(&secs).len() == 1);
    let escaped = sleeps(&secs)[0];
    wr.ok(&["shutdown"]);
    assert!(
        !alive(escaped),
        "shutdown left the escaped sleep {escaped} running"
    );
}
