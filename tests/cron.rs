//! `cron_restart` from the outside, across the night a daylight-saving change repeats an hour.
//! The daemon's clock is faked with libfaketime (faketime(1), CI installs it): it starts at a
//! given instant and runs 60 times as fast (monotonic clock and poll timeouts included), so a
//! faked minute takes a real second. The zone is Europe/Berlin as a POSIX TZ string (no
//! zoneinfo needed); the commands of the test run on the real clock.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Europe/Berlin: CET (UTC+1), CEST (UTC+2) from the last Sunday of March 02:00 to the last
/// Sunday of October 03:00.
const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";
/// 2026-10-25, the night 03:00 CEST becomes 02:00 CET: 02:30 CEST (00:30 UTC) and
/// 02:30 CET (01:30 UTC), in Unix seconds.
const FIRST_0230: i64 = 1_792_888_200;
const SECOND_0230: i64 = FIRST_0230 + 3600;
/// How much faster the daemon's clock runs.
const SPEED: i64 = 60;
/// The daemon starts this long (faked) before 02:30: that many real seconds for `up` to be done.
const LEAD: i64 = 7 * 60;
/// Deadline for a faked time to come (a few faked minutes, a few real seconds; generous).
const FAKED_SOON: Duration = Duration::from_secs(40);

/// Starts the instance's daemon (`daemon --detach`) with its clock at `at` (Unix seconds),
/// running [`SPEED`] times as fast, in the Berlin zone.
fn start_daemon_at(wr: &Wr, at: i64) {
    let plain = wr.cmd(&["daemon", "--detach"]);
    let mut c = Command::new("faketime");
    c.args([
        "-m",
        "-f",
        &format!("@{at} x{SPEED}"),
        BIN,
        "daemon",
        "--detach",
    ]);
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(dir) = plain.get_current_dir() {
        c.current_dir(dir);
    }
    // The start instant is given in seconds since the epoch (no ambiguous local time).
    c.env("FAKETIME_FMT", "%s").stdin(Stdio::null());
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faketime (Debian package faketime; .ci/run installs it)");
    let out = finish(child, CMD_DEADLINE, "faketime wrangle daemon --detach");
    assert_eq!(out.code, 0, "the faked daemon did not start: {out:?}");
}

/// The times (Unix ms, the daemon's clock) of `sel`'s events of `kind`.
fn events(wr: &Wr, sel: &str, kind: &str) -> Vec<u64> {
    let s: Value = wr.status(sel);
    s["events"]
        .as_array()
        .expect("status has events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["ts_ms"].as_u64().expect("ts_ms"))
        .collect()
}

/// When the last event of `sel` happened (daemon's clock, Unix ms; the clock may have been
/// set back since an earlier one).
fn last_event_ms(wr: &Wr, sel: &str) -> u64 {
    let s: Value = wr.status(sel);
    s["events"]
        .as_array()
        .expect("status has events")
        .iter()
        .next_back()
        .and_then(|e| e["ts_ms"].as_u64())
        .expect("an event")
}

fn ms(unix_secs: i64) -> u64 {
    unix_secs as u64 * 1000
}

/// `up`, and checks that `sels` were started before the faked `deadline` (else the premise
/// of the test fails).
fn up_before(wr: &Wr, deadline: i64, sels: &[&str]) {
    wr.ok(&["up"]);
    for &sel in sels {
        let t = last_event_ms(wr, sel);
        assert!(
            t < ms(deadline),
            "the machine was too slow: {sel} was started at {t} ms (faked), after {deadline} s"
        );
    }
}

/// Shuts the daemon down and waits until it is gone.
fn shutdown(wr: &Wr) {
    wr.ok(&["shutdown"]);
    wait_until("the daemon is gone", SOON, || wr.daemon_pids().is_empty());
}

fn write_services(wr: &Wr, services: &str) {
    std::fs::write(
        wr.root.join("wrangle.json"),
        format!(r#"{{"services": {{{services}}}}}"#),
    )
    .expect("write wrangle.json");
}

#[test]
fn a_cron_time_that_came_does_not_come_again_after_a_restart_with_the_clock_set_back() {
    // 2026-01-15 04:00 CET (03:00 UTC).
    const FOUR: i64 = 1_768_446_000;
    let mut wr = Wr::new();
    wr.set_env("TZ", BERLIN);
    let (a, b) = (unique_secs(), unique_secs());
    let daily = format!(r#""daily": {{"cmd": ["sleep", "{a}"], "cron_restart": "0 4 * * *"}}"#);
    write_services(&wr, &daily);
    start_daemon_at(&wr, FOUR - LEAD);
    up_before(&wr, FOUR, &["daily"]);
    wait_until("daily is restarted at 04:00", FAKED_SOON, || {
        !events(&wr, "daily", "cron_restart").is_empty()
    });
    let first = events(&wr, "daily", "cron_restart");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!((ms(FOUR)..ms(FOUR + 60)).contains(&first[0]), "{first:?}");

    // A new daemon whose clock says 03:53 again. A service new to it, at 04:01, shows when
    // 04:00 has passed.
    shutdown(&wr);
    write_services(
        &wr,
        &format!(r#"{daily}, "probe": {{"cmd": ["sleep", "{b}"], "cron_restart": "1 4 * * *"}}"#),
    );
    start_daemon_at(&wr, FOUR - LEAD);
    up_before(&wr, FOUR, &["daily", "probe"]);
    wait_until("probe is restarted at 04:01", FAKED_SOON, || {
        !events(&wr, "probe", "cron_restart").is_empty()
    });
    let all = events(&wr, "daily", "cron_restart");
    assert_eq!(
        all, first,
        "04:00 came twice for daily (events at {all:?} ms)"
    );
}

#[test]
fn a_fixed_time_job_runs_once_when_the_daemon_starts_inside_the_repeated_hour() {
    let mut wr = Wr::new();
    wr.set_env("TZ", BERLIN);
    let (a, b) = (unique_secs(), unique_secs());
    write_services(
        &wr,
        &format!(
            r#""daily": {{"cmd": ["sleep", "{a}"], "cron_restart": "30 2 * * *"}},
               "hourly": {{"cmd": ["sleep", "{b}"], "cron_restart": "31 * * * *"}}"#
        ),
    );

    // 02:23 CEST: the daily job runs at 02:30 CEST, its first 02:30 of the night.
    start_daemon_at(&wr, FIRST_0230 - LEAD);
    up_before(&wr, FIRST_0230, &["daily", "hourly"]);
    wait_until("daily is restarted at 02:30 CEST", FAKED_SOON, || {
        !events(&wr, "daily", "cron_restart").is_empty()
    });
    let first = events(&wr, "daily", "cron_restart");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        (ms(FIRST_0230)..ms(FIRST_0230 + 60)).contains(&first[0]),
        "daily ran at {} ms, not at 02:30 CEST ({} s)",
        first[0],
        FIRST_0230
    );

    // The daemon is restarted at 02:23 CET, inside the second copy of the hour.
    shutdown(&wr);
    start_daemon_at(&wr, SECOND_0230 - LEAD);
    up_before(&wr, SECOND_0230, &["daily", "hourly"]);
    // The hourly job (a '*' in the hour) runs at 02:31 CET: the repeated 02:30 has passed
    // in the daemon, and the daily job (timed earlier) would have run by then.
    wait_until("hourly is restarted at 02:31 CET", FAKED_SOON, || {
        events(&wr, "hourly", "cron_restart")
            .iter()
            .any(|&t| t >= ms(SECOND_0230 + 60))
    });
    let all = events(&wr, "daily", "cron_restart");
    assert_eq!(
        all, first,
        "the daily 02:30 job ran again at 02:30 CET (events at {all:?} ms)"
    );
}
