//! Black-box tests of what a client may put on the wire (issue 12, items 8 and 9): request ids
//! are non-zero and unique among those in flight on a connection, and every string a client
//! gives is bounded, so that nothing it sends can make a later reply too large to send, and a
//! `run` never answers an error for a process it started.

mod common;

use common::*;
use serde_json::json;

fn message(f: &Frame) -> String {
    f.json()["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn request_id_zero_is_refused() {
    let wr = Wr::new();
    wr.ls();
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    c.send(REQUEST, 0, 0, br#"{"op":"ping"}"#);
    let f = c.read().expect("an answer to the request with id 0");
    assert_eq!((f.kind, f.id), (ERROR, 0), "{f:?}");
    assert_eq!(f.code(), "bad_request", "{:?}", f.json());
    assert!(
        message(&f).contains("request id 0: ids are non-zero"),
        "{}",
        message(&f)
    );
    // The connection goes on.
    let f = c.request(1, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
}

#[test]
fn a_request_reusing_an_id_in_flight_is_refused() {
    let wr = Wr::new();
    let e = wr.start(&["--name", "long", "--", "sleep", &unique_secs()]);
    let id = e["id"].as_u64().expect("entry id");
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    let wait = json!({"op": "wait", "sel": {"id": [id]}}).to_string();
    c.send(REQUEST, 0, 5, wait.as_bytes());
    // Id 5 is in flight (the wait answers when the process ends): a second request with it
    // is refused on id 0, so that it cannot be taken for the wait's answer.
    c.send(REQUEST, 0, 5, br#"{"op":"ping"}"#);
    let f = c.read().expect("an answer to the duplicate request");
    assert_eq!((f.kind, f.id), (ERROR, 0), "{f:?}");
    assert_eq!(f.code(), "bad_request", "{:?}", f.json());
    assert!(
        message(&f).contains("request id 5 is already in flight on this connection"),
        "{}",
        message(&f)
    );
    // The wait is still there: cancelling it ends it, and then id 5 may be used again.
    c.send(
        REQUEST,
        0,
        6,
        json!({"op": "cancel", "target": 5}).to_string().as_bytes(),
    );
    let (mut wait_ended, mut cancel_done) = (false, false);
    while !(wait_ended && cancel_done) {
        let f = c.read().expect("the answers to the wait and the cancel");
        match (f.kind, f.id) {
            (ERROR, 5) => wait_ended = true,
            (RESPONSE, 6) => cancel_done = true,
            _ => panic!("unexpected frame {f:?}"),
        }
    }
    let f = c.request(5, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
    // Ids of answered requests are free at once.
    let f = c.request(5, r#"{"op":"ping"}"#);
    assert_eq!(f.kind, RESPONSE, "{f:?}");
}

#[test]
fn a_huge_hello_client_name_is_refused_and_ls_keeps_working() {
    let wr = Wr::new();
    wr.ls();
    let big = "x".repeat((4 << 20) - 64);
    let hello = json!({"versions": [1], "client": big}).to_string();
    let mut c = Raw::connect(&wr.socket());
    c.send(HELLO, 0, 0, hello.as_bytes());
    let f = c.read().expect("an answer to HELLO");
    if f.kind == WELCOME {
        // What the daemon did before: the name became the originator of every entry made
        // over this connection, and each `ls` failed from then on.
        let run = json!({"op": "run", "spec": {"argv": ["sleep", unique_secs()],
                                                "cwd": wr.root.to_str().unwrap()}});
        let f = c.request(1, &run.to_string());
        let ls = wr.run(&["ls", "--json"]);
        panic!(
            "a {}-byte client name was accepted; run answered {:?}, then ls: {}",
            big.len(),
            f.json(),
            ls.text()
        );
    }
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert_eq!(f.code(), "bad_frame", "{:?}", f.json());
    assert!(
        message(&f).contains("client name is") && message(&f).contains("at most 256"),
        "{}",
        message(&f)
    );
    assert!(c.read().is_none(), "the connection should be closed");

    // A name at the limit is fine, and recorded.
    let name = "n".repeat(256);
    let mut c = Raw::connect(&wr.socket());
    let hello = json!({"versions": [1], "client": name}).to_string();
    c.send(HELLO, 0, 0, hello.as_bytes());
    assert_eq!(c.read().expect("WELCOME").kind, WELCOME);
    let run = json!({"op": "run", "spec": {"name": "ok", "argv": ["sleep", unique_secs()],
                                            "cwd": wr.root.to_str().unwrap()}});
    let f = c.request(1, &run.to_string());
    assert_eq!(f.kind, RESPONSE, "{f:?}");
    let ls = wr.ls();
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0]["originator"], json!(name));
}

/// Before: a `run` whose command was too long to show in a reply started its process, then
/// answered "the reply is too large", so a retry started it twice, and `ls` failed for good.
#[test]
fn a_run_whose_command_is_too_long_is_refused_before_anything_starts() {
    let wr = Wr::new();
    wr.ls();
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    let marker = format!("bounds-{}", unique_secs());
    // 1 MiB of quotes: few enough for exec, but shown as a command line 4 times longer.
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        "sleep 1000".into(),
        marker.clone(),
    ];
    argv.extend(std::iter::repeat_n("'".repeat((128 << 10) - 1), 8));
    let run = json!({"op": "run", "spec": {"argv": argv, "cwd": wr.root.to_str().unwrap()}});
    let f = c.request(1, &run.to_string());
    let started = procs_with_arg(&marker);
    for pid in &started {
        kill(*pid, 9);
    }
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert_eq!(f.code(), "bad_request", "{:?}", f.json());
    assert!(
        message(&f).starts_with("spec.argv: the command is"),
        "{}",
        message(&f)
    );
    assert!(started.is_empty(), "the refused run started {started:?}");
    assert!(wr.ls().is_empty());

    // A long command within the bound, of bytes that JSON escapes 6 times over, starts and
    // says so, and `ls` shows it.
    let long = "\u{1}".repeat(100 << 10);
    let run = json!({"op": "run", "spec": {
        "name": "long", "argv": ["sh", "-c", "sleep 1000", &marker, long],
        "cwd": wr.root.to_str().unwrap()}});
    let f = c.request(2, &run.to_string());
    assert_eq!(f.kind, RESPONSE, "{f:?}");
    assert_eq!(wr.ls().len(), 1);
}

/// An error quoting a huge value from the client is cut short rather than left unsent.
#[test]
fn an_error_quoting_a_huge_target_is_still_answered() {
    let wr = Wr::new();
    wr.ls();
    let mut c = Raw::connect(&wr.socket());
    c.hello();
    let target = "\"".repeat(1900 << 10);
    let req = json!({"op": "status", "sel": {"targets": [target]}}).to_string();
    let f = c.request(1, &req);
    assert_eq!(f.kind, ERROR, "{f:?}");
    assert!(message(&f).contains("cut short"), "{}", &message(&f)[..200]);
}
