//! Requests handled without the loop and without the listening socket: a daemon assembled
//! around a detached reactor, one connection from a socket pair standing in for a client, and
//! the frames each request queues read back from that connection's output. Where a request
//! waits on processes, the test turns the crank by hand (reap, due timers), as the loop would.

use super::reactor::Reactor;
use super::state::Daemon;
use crate::paths::Paths;
use crate::proto::frame::{encode, FrameKind};
use crate::proto::{Decoder, RunSpec, Selector};
use mio::Token;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The daemon reaps any child of the process (`waitpid(-1)`): two harnesses at once would
/// take each other's exits, so they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Harness {
    d: Daemon,
    t: Token,
    dir: PathBuf,
    next_id: u32,
    /// The client's end of the connection (kept open while the test runs).
    _peer: mio::net::UnixStream,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Whatever a test started is ended with it.
        for l in self.d.live.values() {
            let _ = crate::proc::kill::signal_group(l.pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    fn new(name: &str) -> Harness {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("wrangle-core-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Daemon::assemble(
            Paths::under(&dir),
            Reactor::detached(),
            None,
            Default::default(),
            false,
        )
        .unwrap();
        let (ours, peer) = mio::net::UnixStream::pair().unwrap();
        let t = d.rx.adopt_conn(ours);
        d.rx.conns.get_mut(&t).unwrap().greeted = true;
        Harness {
            d,
            t,
            dir,
            next_id: 1,
            _peer: peer,
            _turn: turn,
        }
    }

    /// Sends `req` as its JSON would arrive; returns its request id.
    fn send(&mut self, req: Value) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let mut bytes = Vec::new();
        let payload = serde_json::to_vec(&req).unwrap();
        encode(&mut bytes, FrameKind::Request, 0, id, &payload).unwrap();
        let mut dec = Decoder::new();
        dec.feed(&bytes);
        let frame = dec.next_frame().unwrap().unwrap();
        self.d.on_frame(self.t, frame);
        id
    }

    /// The frames queued for the client so far: (kind, request id, JSON payload).
    fn frames(&mut self) -> Vec<(FrameKind, u32, Value)> {
        let out = self.d.rx.conns.get_mut(&self.t).unwrap().take_output();
        let mut dec = Decoder::new();
        dec.feed(&out);
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame().unwrap() {
            let v = serde_json::from_slice(&f.payload).unwrap_or(Value::Null);
            frames.push((f.kind().unwrap(), f.id, v));
        }
        frames
    }

    /// Sends `req` and returns its one answer (RESPONSE or ERROR) queued at once.
    fn call(&mut self, req: Value) -> (FrameKind, Value) {
        let id = self.send(req);
        let mut answers: Vec<_> = self
            .frames()
            .into_iter()
            .filter(|f| f.1 == id && matches!(f.0, FrameKind::Response | FrameKind::Error))
            .collect();
        assert_eq!(answers.len(), 1, "one answer to request {id}: {answers:?}");
        let (kind, _, v) = answers.remove(0);
        (kind, v)
    }

    /// One turn of what the loop does by itself: reap children, fire due timers, take what
    /// helper threads found.
    fn turn(&mut self) {
        self.d.reap();
        for done in self.d.jobs.done() {
            self.d.job_done(done);
        }
        for (_, kind) in self.d.rx.timers.pop_due() {
            self.d.on_timer(kind);
        }
    }

    /// Turns until `req`'s answer is queued (or a deadline passes).
    fn wait_answer(&mut self, id: u32) -> (FrameKind, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            seen.extend(self.frames());
            if let Some(i) = seen
                .iter()
                .position(|f| f.1 == id && matches!(f.0, FrameKind::Response | FrameKind::Error))
            {
                let (kind, _, v) = seen.remove(i);
                return (kind, v);
            }
            assert!(Instant::now() < deadline, "no answer to {id}: {seen:?}");
            self.turn();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn run_spec(argv: &[&str]) -> Value {
    let mut spec = RunSpec::new(argv.iter().map(|s| s.to_string()).collect(), "/".into());
    spec.stdout = crate::proto::Output::Null;
    spec.stderr = crate::proto::ErrOutput::Null;
    serde_json::to_value(spec).unwrap()
}

fn sel(name: &str) -> Value {
    serde_json::to_value(Selector::target(name)).unwrap()
}

#[test]
fn ping_and_an_empty_list() {
    let mut h = Harness::new("ping");
    let (kind, v) = h.call(json!({"op": "ping"}));
    assert_eq!(kind, FrameKind::Response);
    assert_eq!(v["entries"], 0);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let (kind, v) = h.call(json!({"op": "list", "sel": Selector::default()}));
    assert_eq!(kind, FrameKind::Response);
    assert_eq!(v["entries"], json!([]));
}

#[test]
fn unknown_entries_and_bad_requests_are_refused_with_their_code() {
    let mut h = Harness::new("refused");
    let (kind, v) = h.call(json!({"op": "status", "sel": sel("nope")}));
    assert_eq!(kind, FrameKind::Error);
    assert_eq!(v["code"], "no_such_entry", "{v}");
    // Validation happens before any handler: nothing is created.
    let (kind, v) = h.call(json!({"op": "run", "spec": run_spec(&[])}));
    assert_eq!(kind, FrameKind::Error);
    assert_eq!(v["code"], "bad_request", "{v}");
    assert_eq!(h.d.reg.len(), 0);
    let (kind, v) = h.call(json!({"op": "no-such-op"}));
    assert_eq!(kind, FrameKind::Error);
    assert_eq!(v["code"], "unknown_op", "{v}");
}

#[test]
fn run_list_label_stop_and_remove() {
    let mut h = Harness::new("life");
    let mut spec = run_spec(&["sleep", "3600"]);
    spec["name"] = json!("nap");
    let (kind, v) = h.call(json!({"op": "run", "spec": spec}));
    assert_eq!(kind, FrameKind::Response, "{v}");
    assert_eq!(v["entry"]["state"], "running", "{v}");
    let pid = v["entry"]["pid"].as_i64().unwrap() as i32;
    assert!(crate::proc::identity::stat(pid).is_ok());

    let (_, v) = h.call(json!({"op": "label", "sel": sel("nap"), "add_tags": ["web"]}));
    assert_eq!(v["results"][0]["outcome"], "labelled", "{v}");
    let by_tag = Selector {
        tag: vec!["web".into()],
        ..Selector::default()
    };
    let (_, v) = h.call(json!({"op": "list", "sel": by_tag}));
    assert_eq!(v["entries"][0]["name"], "nap", "{v}");

    // A stop answers only once the process is gone: after the loop reaps it.
    let id = h.send(json!({"op": "stop", "sel": sel("nap"), "timeout_ms": 5000}));
    assert!(
        h.frames().iter().all(|f| f.1 != id),
        "no answer before the process ended"
    );
    assert_eq!(h.d.reg.get(1).unwrap().state.as_str(), "stopping");
    let (kind, v) = h.wait_answer(id);
    assert_eq!(kind, FrameKind::Response, "{v}");
    assert_eq!(v["results"][0]["outcome"], "stopped", "{v}");
    let e = h.d.reg.get(1).unwrap();
    assert_eq!(e.state.as_str(), "stopped");
    assert_eq!(e.exit_signal, Some(libc::SIGTERM));

    let id = h.send(json!({"op": "remove", "sel": sel("nap")}));
    let (_, v) = h.wait_answer(id);
    assert_eq!(v["results"][0]["outcome"], "removed", "{v}");
    assert_eq!(h.d.reg.len(), 0);
}

#[test]
fn a_crash_is_restarted_by_policy_and_a_stop_in_backoff_is_final() {
    let mut h = Harness::new("backoff");
    let mut spec = run_spec(&["false"]);
    spec["name"] = json!("crash");
    spec["restart"] = json!("always");
    spec["backoff"] = json!({"initial_ms": 3_600_000, "factor": 1.0, "max_ms": 3_600_000});
    let (kind, v) = h.call(json!({"op": "run", "spec": spec}));
    assert_eq!(kind, FrameKind::Response, "{v}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.d.reg.get(1).unwrap().state.as_str() != "backoff" {
        assert!(Instant::now() < deadline, "never went to backoff");
        h.turn();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (_, v) = h.call(json!({"op": "stop", "sel": sel("crash")}));
    assert_eq!(v["results"][0]["outcome"], "stopped", "{v}");
    assert_eq!(h.d.reg.get(1).unwrap().state.as_str(), "stopped");
    // Nothing is left to restart it.
    assert!(h.d.rx.timers.next_timeout().is_none());
}

#[test]
fn the_live_state_is_written_out_and_reads_back_the_same() {
    let mut h = Harness::new("live");
    // One entry stopping under a long timeout (a deadline in flight), one running. Its stop
    // signal is WINCH, which a `sleep` ignores from its first instruction (a shell's `trap`
    // could come after a TERM sent right after the start).
    let mut stubborn = run_spec(&["sleep", "3600"]);
    stubborn["name"] = json!("stubborn");
    stubborn["stop_signal"] = json!(libc::SIGWINCH);
    let (kind, v) = h.call(json!({"op": "run", "spec": stubborn}));
    assert_eq!(kind, FrameKind::Response, "{v}");
    let mut calm = run_spec(&["sleep", "3600"]);
    calm["name"] = json!("calm");
    calm["stdout"] = json!("log");
    let (kind, v) = h.call(json!({"op": "run", "spec": calm}));
    assert_eq!(kind, FrameKind::Response, "{v}");
    let stop = h.send(json!({"op": "stop", "sel": sel("stubborn"), "timeout_ms": 60_000}));
    h.turn();

    let (kind, written) = h.call(json!({"op": "live_state"}));
    assert_eq!(kind, FrameKind::Response, "{written}");
    let back = super::handover::LiveState::parse(&written.to_string()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), written);
    let stubborn = &back.entries[&1];
    match stubborn.machine.phase {
        crate::proc::supervisor::Phase::Stopping { kill_at, .. } => {
            assert!(kill_at > 50_000 && kill_at <= 60_000, "{kill_at} ms left")
        }
        p => panic!("stubborn is {p:?}"),
    }
    let left = stubborn.timers[&crate::proc::supervisor::Slot::Kill];
    assert!(left > 50_000 && left <= 60_000, "{left} ms left on KILL");
    let calm = &back.entries[&2];
    let run = calm.run.as_ref().unwrap();
    assert_eq!(run.pipes.len(), 1, "{run:?}");
    assert!(
        run.pipes[0].1 > 2,
        "a descriptor of the daemon's own: {run:?}"
    );
    assert_eq!(run.log_run, 1);
    // A newer format is refused, not misread.
    let mut newer = written.clone();
    newer["version"] = json!(super::handover::VERSION + 1);
    assert!(super::handover::LiveState::parse(&newer.to_string()).is_err());

    // The stubborn one ends by KILL once asked again with a short timeout.
    h.send(json!({"op": "stop", "sel": sel("stubborn"), "timeout_ms": 1}));
    let (_, v) = h.wait_answer(stop);
    assert_eq!(v["results"][0]["outcome"], "stopped", "{v}");
}
