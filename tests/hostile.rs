//! Black-box tests of hostile and malformed requests sent as raw protocol frames (what a buggy
//! or foreign client could send): every one gets a clear ERROR naming the bad field, nothing
//! half-made is left behind, and the daemon stays up. Also: a panic in the daemon's loop
//! outside a request (here forced by the debug-build fault hook) fails only the entry it
//! concerns.

mod common;

use common::*;
use serde_json::{json, Value};

/// A resolved service for `apply` with `base` members merged over a runnable default.
fn service(root: &std::path::Path, name: &str, base: Value, extra: Value) -> Value {
    let mut spec = json!({"argv": ["sleep", unique_secs()], "cwd": root.to_str().unwrap(),
                          "restart": "always"});
    let mut variant = json!({"spec": {}});
    for (k, v) in base.as_object().unwrap() {
        if k == "build" || k == "ready" {
            variant[k] = v.clone();
        } else {
            spec[k] = v.clone();
        }
    }
    variant["spec"] = spec;
    let mut s = json!({"name": name, "file": root.join("wrangle.json").to_str().unwrap(),
                       "base": variant});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

/// Starts the instance's daemon; its pid.
fn started(wr: &Wr) -> i32 {
    wr.ls();
    wr.daemon_pid().expect("the daemon runs")
}

fn apply(c: &mut Raw, id: u32, service: &Value) -> Frame {
    c.request(id, &json!({"op": "apply", "service": service}).to_string())
}

fn message(f: &Frame) -> String {
    f.json()["message"].as_str().unwrap_or_default().to_string()
}

/// The exact report of issue 10, bug 2: an `apply` whose build has an empty argv panicked in
/// spawn, left the entry `starting` for ever, and the next timer that rebuilt it killed the
/// daemon. Now: a clear error naming the field, no entry, and the daemon carries on.
#[test]
fn apply_with_an_empty_build_is_refused_and_the_daemon_lives() {
    let wr = Wr::new();
    let daemon = started(&wr);
    let mut c = Raw::connect(&wr.socket());
    c.hello();

    let f = apply(
        &mut c,
        1,
        &service(&wr.root, "api", json!({"build": {"argv": []}}), json!({})),
    );
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert_eq!(f.code(), "bad_request", "{:?}", f.json());
    assert!(
        message(&f).contains("services.api.build: empty command"),
        "{}",
        message(&f)
    );
    let stuck: Vec<Value> = wr
        .ls()
        .into_iter()
        .filter(|e| e["state"] == "starting")
        .collect();
    assert!(stuck.is_empty(), "entries left starting: {stuck:?}");

    // The timer path: a profile with an empty build, switched to by the idle timer (as the
    // cron restart would rebuild the stuck entry). Before the fix this killed the daemon.
    let bad = service(
        &wr.root,
        "idler",
        json!({}),
        json!({
            "profiles": {"quiet": {"spec": {"argv": ["sleep", unique_secs()],
                                            "cwd": wr.root.to_str().unwrap()},
                                   "build": {"argv": []}}},
            "idle_profile": {"after_ms": 100, "profile": "quiet"}
        }),
    );
    let f = apply(&mut c, 2, &bad);
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert!(
        message(&f).contains("services.idler.profiles.quiet.build: empty command"),
        "{}",
        message(&f)
    );
    // A sound service with the same idle time: once its switch happened, the bad one's timer
    // (armed earlier) would have fired too.
    let good = service(
        &wr.root,
        "sound",
        json!({}),
        json!({
            "profiles": {"quiet": {"spec": {"argv": ["sleep", unique_secs()],
                                            "cwd": wr.root.to_str().unwrap()}}},
            "idle_profile": {"after_ms": 100, "profile": "quiet"}
        }),
    );
    let f = apply(&mut c, 3, &good);
    assert_eq!(f.kind, RESPONSE, "{:?}", f.json());
    // (`list` does not count as touching it; `status` would.)
    wait_until("the sound service switched to quiet", SOON, || {
        let f = c.request(4, r#"{"op":"list"}"#);
        f.kind == RESPONSE
            && f.json()["entries"].as_array().is_some_and(|es| {
                es.iter()
                    .any(|e| e["name"] == "sound" && e["profile"] == "quiet")
            })
    });
    assert_eq!(wr.daemon_pid(), Some(daemon), "the daemon died or changed");
    let f = c.request(5, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
}

/// A table of malformed `run` and `apply` requests: each is ERROR bad_request naming the
/// field, creates nothing, and the daemon (same pid) answers the next request.
#[test]
fn malformed_requests_get_clear_errors_and_the_daemon_stays_up() {
    let wr = Wr::new();
    let daemon = started(&wr);
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    let cwd = wr.root.to_str().unwrap().to_string();
    let run = |spec: Value| {
        let mut s = json!({"argv": ["sleep", unique_secs()], "cwd": cwd});
        for (k, v) in spec.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"op": "run", "spec": s})
    };
    let svc = |base: Value, extra: Value| json!({"op": "apply", "service": service(&wr.root, "api", base, extra)});
    let cases: Vec<(Value, &str)> = vec![
        (run(json!({"argv": []})), "spec.argv: empty command"),
        (
            run(json!({"argv": [""]})),
            "spec.argv[0]: empty program name",
        ),
        (
            run(json!({"argv": ["  "], "shell": true})),
            "spec.argv: empty command line",
        ),
        (
            run(json!({"argv": ["a\u{0}b"]})),
            "spec.argv[0]: contains a NUL",
        ),
        (run(json!({"cwd": ""})), "spec.cwd: "),
        (run(json!({"cwd": "relative/dir"})), "spec.cwd: "),
        (
            run(json!({"env": {"A=B": "x"}})),
            "spec.env: invalid variable name \"A=B\"",
        ),
        (
            run(json!({"env": {"": "x"}})),
            "spec.env: invalid variable name \"\"",
        ),
        (
            run(json!({"env": {"A": "x\u{0}"}})),
            "spec.env.A: contains a NUL",
        ),
        (run(json!({"stop_signal": 0})), "spec.stop_signal: "),
        (run(json!({"stop_signal": 1000})), "spec.stop_signal: "),
        (
            run(json!({"stop_timeout_ms": u64::MAX})),
            "spec.stop_timeout_ms: ",
        ),
        (
            run(json!({"min_uptime_ms": u64::MAX})),
            "spec.min_uptime_ms: ",
        ),
        (
            run(json!({"backoff": {"initial_ms": 1, "factor": -2.0, "max_ms": 10}})),
            "spec.backoff.factor: ",
        ),
        (
            run(json!({"backoff": {"initial_ms": 1, "factor": 0.5, "max_ms": 10}})),
            "spec.backoff.factor: ",
        ),
        (
            run(json!({"backoff": {"initial_ms": u64::MAX, "factor": 2, "max_ms": 10}})),
            "spec.backoff.initial_ms: ",
        ),
        (run(json!({"pty": true, "size": [0, 80]})), "spec.size: "),
        (
            run(json!({"pty": true, "size": [24, 60000]})),
            "spec.size: ",
        ),
        (run(json!({"name": "all"})), "spec.name: "),
        (run(json!({"name": "a b"})), "spec.name: "),
        (run(json!({"tags": ["a,b"]})), "spec.tags[0]: "),
        (run(json!({"groups": [""]})), "spec.groups[0]: "),
        (run(json!({"stdout": {"file": ""}})), "spec.stdout: "),
        (run(json!({"stdin": {"file": "a\u{0}"}})), "spec.stdin: "),
        (
            svc(json!({"build": {"argv": []}}), json!({})),
            "services.api.build: empty command",
        ),
        (
            svc(json!({"build": {"argv": [" "], "shell": true}}), json!({})),
            "services.api.build: empty command line",
        ),
        (
            svc(json!({"argv": []}), json!({})),
            "services.api.cmd: empty command",
        ),
        (
            svc(json!({"ready": {"port": 0}}), json!({})),
            "services.api.ready.port: ",
        ),
        (
            svc(json!({"ready": {"log": "(unclosed"}}), json!({})),
            "services.api.ready.log: ",
        ),
        (
            svc(json!({"ready": {"timeout_ms": 0}}), json!({})),
            "services.api.ready.timeout: ",
        ),
        (
            svc(json!({}), json!({"cron_restart": "61 * * * *"})),
            "services.api.cron_restart: ",
        ),
        (
            svc(json!({}), json!({"idle_profile": {"after_ms": 0}})),
            "services.api.idle_profile.after: ",
        ),
        (
            svc(
                json!({}),
                json!({"idle_profile": {"after_ms": 10, "profile": "nope"}}),
            ),
            "services.api.idle_profile.profile: ",
        ),
        (
            svc(json!({}), json!({"after": ["bad name"]})),
            "services.api.after[0]: ",
        ),
        (
            svc(json!({}), json!({"file": "relative.json"})),
            "services.api.file: ",
        ),
        (
            json!({"op": "apply", "service": service(&wr.root, "1234", json!({}), json!({}))}),
            "services.1234.name: ",
        ),
        (
            json!({"op": "signal", "sel": {"targets": ["x"]}, "signal": 0}),
            "signal: ",
        ),
        (
            json!({"op": "resize", "sel": {"targets": ["x"]}, "rows": 0, "cols": 80}),
            "rows: ",
        ),
        (
            json!({"op": "follow", "id": 1, "from_seq": 0, "streams": 9}),
            "streams: ",
        ),
        (json!({"op": "subscribe", "types": 8}), "types: "),
        (
            json!({"op": "wait", "sel": {"targets": ["x"]}, "port": 0}),
            "port: ",
        ),
        (
            json!({"op": "wait", "sel": {"targets": ["x"]}, "log": "("}),
            "log: ",
        ),
        (
            json!({"op": "label", "sel": {"targets": ["x"]}, "add_tags": ["a b"]}),
            "add_tags[0]: ",
        ),
        (json!({"op": "add", "pid": 1, "name": "all"}), "name: "),
        (json!({"op": "down", "file": ""}), "file: "),
    ];
    for (i, (req, want)) in cases.iter().enumerate() {
        let id = 100 + i as u32;
        let f = c.request(id, &req.to_string());
        assert_eq!(f.kind, ERROR, "{req}: {f:?}");
        assert_eq!(f.code(), "bad_request", "{req}: {:?}", f.json());
        assert!(
            message(&f).starts_with(want),
            "{req}: {:?} should start with {want:?}",
            message(&f)
        );
        let f = c.request(99, r#"{"op":"ping"}"#);
        assert_eq!(f.kind, RESPONSE, "after {req}: {f:?}");
        assert_eq!(f.json()["pid"], daemon, "after {req}");
    }
    assert!(wr.ls().is_empty(), "nothing is created: {:?}", wr.ls());
    assert_eq!(wr.daemon_pid(), Some(daemon));
}

/// A panic outside any request (forced here with the debug build's fault hook, since every
/// known input that reached one is now refused at the boundary) fails the one entry it
/// concerns, which says why; the daemon, its other entries and its clients carry on.
#[cfg(debug_assertions)]
#[test]
fn a_panic_in_a_timer_fails_its_entry_not_the_daemon() {
    let mut wr = Wr::new();
    wr.set_env("WRANGLE_TEST_PANIC_IN", "running its restart timer");
    let steady = unique_secs();
    wr.start(&["--name", "steady", "--", "sleep", &steady]);
    let daemon = wr.daemon_pid().expect("the daemon runs");
    wr.start(&[
        "--name",
        "flaky",
        "--restart",
        "always",
        "--backoff",
        "50ms,1",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    wait_until("flaky is errored", SOON, || wr.state("flaky") == "errored");
    let s = wr.status("flaky");
    assert_eq!(
        s["error"], "internal error while running its restart timer: see the daemon log",
        "{s}"
    );
    assert_eq!(wr.daemon_pid(), Some(daemon), "the daemon died or changed");
    assert_eq!(wr.state("steady"), "running");
    assert_eq!(procs_with_arg(&steady).len(), 1, "steady's process is gone");
    let log = std::fs::read_to_string(wr.home().join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("internal error while running its restart timer (entry"),
        "the daemon log does not say what happened: {log}"
    );
    // The daemon still does its work: a new entry runs, the failed one can be started again.
    let v = wr.start(&["--", "sh", "-c", "echo still-here"]);
    wr.wait_log(&v["id"].to_string(), "still-here");
    wr.ok(&["stop", "steady"]);
}
