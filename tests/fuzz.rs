//! A protocol fuzz test against a live daemon: valid frames from a corpus, mutated (bytes
//! flipped, cut, repeated, spliced; JSON values swapped for hostile ones; headers with wrong
//! lengths, kinds, reserved bytes and ids), sent over many connections that read part of the
//! answers or none. The daemon must keep answering a ping on a fresh connection within a
//! deadline throughout, must still be the same process at the end (the keeper did not have to
//! start a new one), and its log must show no internal error (a panic caught by its guard is
//! still a bug).
//!
//! It runs for `WRANGLE_FUZZ_SECS` seconds (default 3; CI nights can give minutes) from seed
//! `WRANGLE_FUZZ_SEED` (default: the clock; printed, so a failure can be replayed).
//!
//! Requests that could reach beyond this test's own processes are never sent: `run`, `apply`,
//! `add` (adopting a mutated pid could adopt anything on the machine), `shutdown`, `upgrade`,
//! `reset`, `resurrect`, `save`, `prune` and `down`. A mutated frame whose JSON names one of
//! them is dropped before sending.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), so a seed replays a run exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Valid requests (the op names and shapes of wrangle-protocol(7)) on this test's entries.
const CORPUS: &[&str] = &[
    r#"{"op":"ping"}"#,
    r#"{"op":"list","sel":{"all":true}}"#,
    r#"{"op":"list","sel":{"targets":["fz-sleep","fz-in"],"tags":["fz"]}}"#,
    r#"{"op":"status","sel":{"targets":["fz-sleep"]},"show_env":true}"#,
    r#"{"op":"start","sel":{"targets":["fz-sleep"]}}"#,
    r#"{"op":"stop","sel":{"targets":["fz-sleep"]},"timeout_ms":100}"#,
    r#"{"op":"restart","sel":{"targets":["fz-pty"]}}"#,
    r#"{"op":"remove","sel":{"targets":["no-such-entry"]}}"#,
    r#"{"op":"signal","sel":{"targets":["fz-in"]},"signal":0}"#,
    r#"{"op":"logs","sel":{"targets":["fz-in"]},"build":false}"#,
    r#"{"op":"clear_logs","sel":{"targets":["fz-sleep"]}}"#,
    r#"{"op":"follow","id":2,"from_seq":0,"streams":3}"#,
    r#"{"op":"wait","sel":{"targets":["fz-sleep"]},"timeout_ms":50}"#,
    r#"{"op":"subscribe","sel":{"tags":["fz"]},"types":3}"#,
    r#"{"op":"send","sel":{"targets":["fz-in"]},"eof":false}"#,
    r#"{"op":"attach","sel":{"targets":["fz-pty"]},"read_only":true,"replay":4096,"size":[24,80],"from_seq":0}"#,
    r#"{"op":"attach","sel":{"targets":["fz-pty"]},"read_only":false,"replay":0,"size":[40,100]}"#,
    r#"{"op":"resize","sel":{"targets":["fz-pty"]},"rows":30,"cols":90}"#,
    r#"{"op":"cancel","target":3}"#,
    r#"{"op":"label","sel":{"targets":["fz-sleep"]},"add_tags":["x"],"remove_tags":["x"]}"#,
    r#"{"op":"labels","kind":"tag"}"#,
    r#"{"op":"rename_label","kind":"group","old":"g1","new":"g2"}"#,
    r#"{"op":"live_state"}"#,
];

/// Requests never sent (see the module comment).
const NEVER: &[&str] = &[
    "run",
    "apply",
    "add",
    "shutdown",
    "upgrade",
    "reset",
    "resurrect",
    "save",
    "prune",
    "down",
];

/// Values swapped in for a JSON value of the corpus.
const HOSTILE: &[&str] = &[
    "null",
    "true",
    "-1",
    "0",
    "18446744073709551616",
    "-9223372036854775809",
    "1e308",
    "1.5",
    "\"\"",
    "\"fz-sleep\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{\"all\":true}",
    "{\"targets\":[\"all\"]}",
    "[24,80,1]",
    "[0,0]",
    "[65535,65535]",
    "\"ÿÿÿ\"",
];

/// A mutated request payload: byte edits, value swaps, or both.
fn mutate_json(rng: &mut Rng, base: &str) -> Vec<u8> {
    let mut p = base.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(9) {
            // Flip a bit.
            0 if !p.is_empty() => {
                let i = rng.below(p.len());
                p[i] ^= 1 << rng.below(8);
            }
            // Replace a byte with an arbitrary one.
            1 if !p.is_empty() => {
                let i = rng.below(p.len());
                p[i] = rng.next() as u8;
            }
            // Cut the payload short.
            2 if !p.is_empty() => {
                let n = rng.below(p.len());
                p.truncate(n);
            }
            // Repeat a slice.
            3 if !p.is_empty() => {
                let a = rng.below(p.len());
                let b = a + rng.below(p.len() - a);
                let piece = p[a..b].to_vec();
                p.splice(a..a, piece.iter().copied().cycle().take(piece.len() * 3));
            }
            // Splice in part of another request.
            4 => {
                let other = rng.pick(CORPUS).as_bytes();
                let a = rng.below(other.len());
                let at = rng.below(p.len() + 1);
                p.splice(at..at, other[a..].iter().copied());
            }
            // Swap a JSON value (after a ':' or ',' or '[') for a hostile one.
            5..=7 => {
                let spots: Vec<usize> = p
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c == b':' || c == b'[')
                    .map(|(i, _)| i + 1)
                    .collect();
                if !spots.is_empty() {
                    let at = *rng.pick(&spots);
                    // The value runs to the next ',' or '}' or ']' at this level (roughly).
                    let end = p[at..]
                        .iter()
                        .position(|&c| c == b',' || c == b'}' || c == b']')
                        .map_or(p.len(), |e| at + e);
                    p.splice(at..end, rng.pick(HOSTILE).bytes());
                }
            }
            // A long string value.
            _ => {
                let n = [10, 300, 5_000, 70_000, 1 << 20][rng.below(5).min(rng.below(5))];
                let long = format!(
                    r#"{{"op":"status","sel":{{"targets":["{}"]}}}}"#,
                    "a".repeat(n)
                );
                p = long.into_bytes();
            }
        }
    }
    p
}

/// Whether a payload could be a request this test must not send.
fn forbidden(payload: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        // Not JSON: the daemon refuses it whatever it says.
        return false;
    };
    match v.get("op").and_then(|o| o.as_str()) {
        Some(op) => NEVER.contains(&op),
        None => false,
    }
}

/// One encoded frame, sometimes with a broken header.
fn frame(rng: &mut Rng, kind: u8, chan: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = encode(kind, chan, id, payload);
    if rng.chance(12) {
        match rng.below(5) {
            // Announce more or less than what follows.
            0 => {
                let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                let len = match rng.below(3) {
                    0 => len.saturating_add(1 + rng.below(64) as u32),
                    1 => len.saturating_sub(1 + rng.below(64) as u32),
                    _ => u32::MAX - rng.below(1000) as u32,
                };
                f[0..4].copy_from_slice(&len.to_be_bytes());
            }
            // An unknown or wrong kind.
            1 => f[4] = rng.next() as u8,
            // Reserved bytes set.
            2 => f[6] = 1 + rng.below(255) as u8,
            // A stray channel.
            3 => f[5] = rng.next() as u8,
            // Id 0 or the largest id.
            _ => f[8..12].copy_from_slice(&[0, 0, 0, 0][..]),
        }
    }
    f
}

/// The bytes one fuzzed connection sends: usually a HELLO first, then a burst of frames.
fn connection_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if !rng.chance(10) {
        let hello: &[u8] = match rng.below(8) {
            0 => br#"{"versions":[2,3],"client":"fuzz"}"#,
            1 => br#"{"versions":[],"client":"fuzz"}"#,
            2 => br#"{"client":7}"#,
            _ => br#"{"versions":[1],"client":"fuzz"}"#,
        };
        out.extend(frame(rng, HELLO, 0, 0, hello));
    }
    let mut id = 1u32;
    for _ in 0..=rng.below(12) {
        match rng.below(10) {
            // Input for a stream this connection may have opened.
            0 => {
                let data = vec![b'y'; rng.below(2000)];
                let target = if rng.chance(2) {
                    id.saturating_sub(1)
                } else {
                    id
                };
                out.extend(frame(rng, DATA, chan::STDIN, target, &data));
            }
            // A frame kind only the daemon sends, or a second HELLO.
            1 => {
                let kind = *rng.pick(&[HELLO, WELCOME, RESPONSE, ERROR, EVENT, 0, 8, 255]);
                out.extend(frame(rng, kind, 0, id, b"{}"));
            }
            // A request: valid or mutated, with a fresh id, a reused one or 0.
            _ => {
                let base = rng.pick(CORPUS);
                let payload = if rng.chance(4) {
                    base.as_bytes().to_vec()
                } else {
                    mutate_json(rng, base)
                };
                if forbidden(&payload) {
                    continue;
                }
                let rid = match rng.below(8) {
                    0 => 0,
                    1 => id.saturating_sub(1).max(1),
                    _ => {
                        id += 1;
                        id
                    }
                };
                out.extend(frame(rng, REQUEST, 0, rid, &payload));
            }
        }
    }
    if rng.chance(6) && !out.is_empty() {
        // Hang up in the middle of a frame.
        let n = rng.below(out.len());
        out.truncate(n);
    }
    out
}

mod chan {
    pub const STDIN: u8 = 3;
}

/// One round: `n` fuzzed connections open at once, each sending its bytes; then some of
/// them read what has arrived (without waiting), and all hang up.
fn fuzz_round(rng: &mut Rng, socket: &std::path::Path, n: usize) {
    let mut open = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut s) = UnixStream::connect(socket) else {
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
        // The daemon may close early (a bad header ends the connection): that is fine.
        let _ = s.write_all(&connection_bytes(rng));
        open.push(s);
    }
    let mut buf = [0u8; 16 << 10];
    for mut s in open {
        if rng.chance(3) {
            continue;
        }
        let _ = s.set_nonblocking(true);
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

/// A ping on a fresh connection, answered in time.
fn ping_answers(socket: &std::path::Path, what: &str) {
    let started = Instant::now();
    let mut c = Raw::connect(socket);
    c.hello();
    let f = c.request(1, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "ping after {what}: {f:?}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "ping took {took:?} after {what}"
    );
}

#[test]
fn mutated_frames_never_stop_the_daemon_answering() {
    let secs: u64 = std::env::var("WRANGLE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("WRANGLE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("fuzz: {secs} s from WRANGLE_FUZZ_SEED={seed}");
    let mut rng = Rng(seed);

    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "fz-sleep",
        "--tag",
        "fz",
        "--",
        "sleep",
        &unique_secs(),
    ]);
    wr.ok(&[
        "run", "--name", "fz-in", "--tag", "fz", "--stdin", "stream", "--", "cat",
    ]);
    wr.ok(&[
        "run", "--name", "fz-pty", "--tag", "fz", "--pty", "--", "cat",
    ]);
    let pid = wr.daemon_pid().expect("the daemon answers");
    let socket = wr.socket();

    let until = Instant::now() + Duration::from_secs(secs);
    let mut connections = 0u64;
    while Instant::now() < until {
        fuzz_round(&mut rng, &socket, 25);
        connections += 25;
        ping_answers(
            &socket,
            &format!("{connections} fuzzed connections (seed {seed})"),
        );
    }
    eprintln!("fuzz: {connections} connections");

    assert_eq!(
        wr.daemon_pid(),
        Some(pid),
        "the daemon was replaced during the fuzz run (seed {seed}): see its log"
    );
    // Still doing its job (the fuzzed requests may have stopped, renamed or removed the
    // entries, as such requests do): it runs a process and captures its output.
    wr.ok(&[
        "run",
        "--name",
        "after-fuzz",
        "--",
        "echo",
        "still capturing",
    ]);
    wr.wait_log("after-fuzz", "still capturing");
    let log = std::fs::read_to_string(wr.home().join("daemon.log")).expect("the daemon's log");
    for bad in ["internal error", "panicked"] {
        assert!(
            !log.contains(bad),
            "the daemon log shows {bad:?} (seed {seed}):\n{log}"
        );
    }
}
