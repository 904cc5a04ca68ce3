//! Black-box tests of what one client can make the daemon hold (issue 12, item 1): a client
//! that pipelines requests and never reads the answers is not read from while its answers
//! pile up, so the daemon's memory stays small and other clients are answered at once; and
//! connections are capped, the one over the cap being told why.

mod common;

use common::*;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// The daemon's peak resident memory, in bytes (VmHWM of /proc/PID/status).
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kb * 1024
}

/// A ping on a new connection answers within `within`; how long it took.
fn ping_within(socket: &std::path::Path, within: Duration) -> Duration {
    let socket = socket.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let mut c = Raw::connect(&socket);
        c.hello();
        let f = c.request(1, r#"{"op":"ping"}"#);
        let _ = tx.send(f.kind);
    });
    match rx.recv_timeout(within) {
        Ok(kind) => assert_eq!(kind, RESPONSE, "ping answered with an error"),
        Err(_) => panic!("a ping got no answer within {within:?}"),
    }
    start.elapsed()
}

/// Reads the answer to `list` request `id` (parts in EVENT frames, then a RESPONSE); its
/// size in bytes.
fn list_answer(c: &mut Raw, id: u32) -> u64 {
    let mut bytes = 0;
    loop {
        let f = c.read().expect("an answer to each list");
        assert_eq!(f.id, id, "frames of list {id} in order: {f:?}");
        bytes += 12 + f.payload.len() as u64;
        match f.kind {
            EVENT => {}
            RESPONSE => return bytes,
            _ => panic!("list {id}: unexpected {:?}", f.json()),
        }
    }
}

/// The report of issue 12, item 1, scaled down: 40 pipelined `list` requests, each answered
/// with about 2 MB, never read. Before, the daemon read them all at once and queued about
/// 80 MB of answers (then dropped the client); now it stops reading the connection above
/// its 1 MiB watermark, stays small, answers pings at once, and the client gets every answer
/// once it reads.
#[test]
fn a_client_that_does_not_read_its_answers_is_not_read_from() {
    let wr = Wr::new();
    wr.ls();
    let daemon = wr.daemon_pid().expect("the daemon runs");
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    // 12 entries with a long command line: each `list` answer is about 2 MB.
    const ENTRIES: usize = 12;
    let mut argv = vec!["true".to_string()];
    argv.extend((0..8000).map(|i| format!("arg{i:05}")));
    for i in 0..ENTRIES {
        let req = json!({"op": "run", "spec": {
            "argv": argv, "name": format!("big{i}"), "cwd": wr.root.to_str().unwrap(),
            "env": {MARKER: wr.root.to_str().unwrap()}}});
        let f = c.request(i as u32 + 1, &req.to_string());
        assert_eq!(f.kind, RESPONSE, "run: {:?}", f.json());
    }
    c.send(REQUEST, 0, 100, br#"{"op":"list"}"#);
    let answer = list_answer(&mut c, 100);
    assert!(answer > 1 << 20, "a list answer is only {answer} bytes");
    let before = peak_rss(daemon);

    // Pipeline the requests in one write and never read.
    const REQUESTS: u32 = 40;
    let mut slow = Raw::connect(&wr.socket());
    slow.hello();
    let mut burst = Vec::new();
    for id in 1..=REQUESTS {
        burst.extend(encode(REQUEST, 0, id, br#"{"op":"list"}"#));
    }
    slow.s.write_all(&burst).expect("send the burst");

    // Other clients are answered at once, again and again (the daemon is not busy with it).
    for _ in 0..3 {
        ping_within(&wr.socket(), Duration::from_secs(5));
    }
    let peak = peak_rss(daemon);
    let bound = before + 32 * (1 << 20);
    assert!(
        peak < bound,
        "the daemon's peak memory grew from {} to {} MiB for one client's unread answers \
         ({REQUESTS} of {answer} bytes)",
        before >> 20,
        peak >> 20
    );

    // The client reads at last: every answer, in order.
    for id in 1..=REQUESTS {
        assert_eq!(list_answer(&mut slow, id), answer, "answer {id}");
    }
    assert_eq!(slow.request(1000, r#"{"op":"ping"}"#).kind, RESPONSE);
}

/// Sends HELLO on a new connection (it may already be closed) and reads the first frame.
fn greet(socket: &std::path::Path) -> (Raw, Option<Frame>) {
    let mut c = Raw::connect(socket);
    let _ =
        c.s.write_all(&encode(HELLO, 0, 0, br#"{"versions":[1],"client":"test"}"#));
    let f = c.read();
    (c, f)
}

/// At most 1024 connections are open at once: the next is sent ERROR daemon_unavailable
/// saying why and closed (the CLI reports it at once, without trying to start a daemon), and
/// once one closes a new connection is served again.
#[test]
fn connections_over_the_cap_are_told_why_and_closed() {
    // This test holds over a thousand sockets itself: lift its own soft limit to the hard one.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the plain struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    let wr = Wr::new();
    wr.ls();
    let socket = wr.socket();
    let mut held = Vec::new();
    let refused = loop {
        let (c, f) = greet(&socket);
        let f = f.expect("a first frame");
        if f.kind == ERROR {
            break f;
        }
        assert_eq!(f.kind, WELCOME, "{f:?}");
        held.push(c);
        assert!(held.len() <= 1024, "more than 1024 connections were served");
    };
    // The first `ls` may not have been seen closing yet.
    assert!(
        held.len() >= 1023,
        "refused after {} connections",
        held.len()
    );
    assert_eq!(refused.code(), "daemon_unavailable");
    let msg = refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("too many connections"), "{msg}");

    let start = Instant::now();
    let out = wr.code(&["ls"], 5);
    assert!(
        out.stderr.contains("too many connections"),
        "{}",
        out.stderr
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the CLI took {:?}",
        start.elapsed()
    );

    held.pop();
    wait_until(
        "a connection is served again",
        SOON,
        || matches!(greet(&socket).1, Some(f) if f.kind == WELCOME),
    );
    drop(held);
    wr.ls();
}
