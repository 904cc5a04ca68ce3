//! The keeper is replaced too (issue 11): after `wrangle upgrade --binary NEW` the keeper
//! process, with the same pid, runs NEW and holds every run as before, so a later kill -9 of
//! the daemon is still survived and `shutdown` still ends everything.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn keeper_pid(wr: &Wr) -> i32 {
    wr.ok(&["ping", "--json"]).json()["keeper"]
        .as_i64()
        .expect("ping names the keeper") as i32
}

fn exe_of(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()
}

/// A copy of the binary under test at `to`, executable.
fn copy_binary(to: &Path) {
    std::fs::copy(BIN, to).expect("copy the binary");
}

#[test]
fn an_upgrade_replaces_the_keeper_in_place_and_it_keeps_every_run() {
    let wr = Wr::new();
    let dir = fresh_dir();
    let secs = unique_secs();
    // A line every millisecond or so for a few seconds, then quiet.
    let n = 3000;
    let script = format!(
        "i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo $i; \
         [ $((i % 10)) = 0 ] && sleep 0.01; done; exec sleep {secs}"
    );
    let e = wr.start(&["--name", "ticker", "--", "sh", "-c", &script]);
    let keeper = keeper_pid(&wr);
    assert!(is_keeper(keeper));
    let fds = |pid: i32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    // What the first keeper holds beyond its runs (its starter's log and report copies)
    // does not pass an exec; from the second keeper on, the count stays the same.
    let mut held = None;
    let mut previous: Option<PathBuf> = None;
    for round in 0..3 {
        let copy = dir.join(format!("wrangle-{round}"));
        copy_binary(&copy);
        wr.ok(&["upgrade", "--binary", copy.to_str().unwrap()]);
        wait_until("the keeper runs the new binary", SOON, || {
            exe_of(keeper) == copy
        });
        assert_eq!(keeper_pid(&wr), keeper, "the keeper keeps its pid");
        assert!(is_keeper(keeper), "it still calls itself wrangle-keeper");
        let now = fds(keeper);
        assert_eq!(
            *held.get_or_insert(now),
            now,
            "a descriptor leaked by the exec"
        );
        let s = wr.status("ticker");
        assert_eq!(s["pid"], e["pid"]);
        assert_eq!(s["state"], "running");
        // Nobody runs the previous binary any more: removing it is what a package update does.
        if let Some(p) = previous.take() {
            std::fs::remove_file(p).unwrap();
        }
        previous = Some(copy);
    }
    // The replaced keeper still does its job: a daemon killed now is replaced, and takes
    // every run over.
    let daemon = wr.daemon_pid().unwrap();
    kill(daemon, libc::SIGKILL);
    wait_until("a new daemon answers", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != daemon)
    });
    assert_eq!(wr.status("ticker")["pid"], e["pid"]);
    assert_eq!(wr.state("ticker"), "running");
    // Every line captured once, in order, across three keepers and four daemons.
    let want: String = (1..=n).map(|i| format!("{i}\n")).collect();
    wait_until("the whole stream is in the log", SOON, || {
        wr.logs_text("ticker").len() >= want.len()
    });
    assert!(
        wr.logs_text("ticker") == want,
        "the log differs from the stream"
    );
    assert_eq!(procs_with_arg(&secs).len(), 1, "started once");
    // And it ends everything at shutdown, then itself.
    wr.ok(&["shutdown"]);
    wait_until("the keeper exits", SOON, || !alive(keeper));
    wait_until("the entry's process is stopped", SOON, || {
        procs_with_arg(&secs).is_empty()
    });
}
