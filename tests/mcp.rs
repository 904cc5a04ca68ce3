//! `wrangle mcp`: the Model Context Protocol server, over stdio and Streamable HTTP. The
//! protocol edges (malformed input, revisions, bounds, HTTP auth) are driven from Rust; the
//! whole flow an agent goes through is driven by the official MCP Python SDK as a real client
//! (tests/mcp/flow.py), installed into a virtualenv the first time a test needs it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// The SDK version the tests run (pinned: its behaviour is what is tested against).
const SDK: &str = "mcp==2.3.0";

/// `wrangle mcp` on stdio, with a line reader.
struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next: u64,
}

impl Mcp {
    fn start(w: &Wr, flags: &[&str]) -> Mcp {
        let mut args = vec!["mcp"];
        args.extend_from_slice(flags);
        let mut child = w
            .cmd(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn wrangle mcp");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Mcp {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            next: 1000,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin open");
        s.write_all(bytes).expect("write to wrangle mcp");
        s.flush().unwrap();
    }

    fn send(&mut self, v: &Value) {
        self.send_raw(format!("{v}\n").as_bytes());
    }

    /// The next message (any), within the deadline.
    fn recv(&mut self) -> Value {
        let l = self
            .lines
            .recv_timeout(SOON)
            .expect("wrangle mcp answered in time");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
    }

    /// The answer to request `id` (notifications before it are skipped).
    fn answer(&mut self, id: &Value) -> Value {
        loop {
            let v = self.recv();
            if v.get("id") == Some(id) {
                return v;
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = json!(self.next);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.answer(&id)
    }

    fn initialize(&mut self, revision: &str) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": revision, "capabilities": {},
                   "clientInfo": {"name": "rust-test", "version": "1"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        r
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{tool}: no result: {r}"))
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn initialize_answers_the_clients_revision_or_the_latest() {
    let w = Wr::new();
    for (asked, got) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2031-01-01", "2025-11-25"),
        ("not-a-revision", "2025-11-25"),
    ] {
        let mut m = Mcp::start(&w, &[]);
        let r = m.initialize(asked);
        assert_eq!(r["result"]["protocolVersion"], got, "{asked}: {r}");
        assert_eq!(r["result"]["serverInfo"]["name"], "wrangle");
        let tools = m.request("tools/list", json!({}));
        let list = tools["result"]["tools"].as_array().unwrap();
        assert_eq!(list.len(), 16, "{tools}");
        // Output schemas came in 2025-06-18, annotations in 2025-03-26.
        let first = &list[0];
        assert_eq!(first.get("outputSchema").is_some(), got >= "2025-06-18");
        assert_eq!(first.get("annotations").is_some(), got >= "2025-03-26");
    }
}

#[test]
fn the_stateless_revision_takes_its_version_and_client_from_each_request() {
    let w = Wr::new();
    let mut m = Mcp::start(&w, &[]);
    let meta = |v: &str| {
        json!({"io.modelcontextprotocol/protocolVersion": v,
               "io.modelcontextprotocol/clientCapabilities": {},
               "io.modelcontextprotocol/clientInfo": {"name": "stateless-agent", "version": "1"}})
    };
    let d = m.request("server/discover", json!({"_meta": meta("2026-07-28")}));
    let vs = d["result"]["supportedVersions"].as_array().unwrap();
    assert!(
        vs.contains(&json!("2026-07-28")) && vs.contains(&json!("2025-03-26")),
        "{d}"
    );
    assert_eq!(d["result"]["resultType"], "complete");
    // No initialize: each request says who and which revision.
    let r = m.request(
        "tools/call",
        json!({"name": "run", "arguments": {"command": "sleep 60", "name": "sl"},
               "_meta": meta("2026-07-28")}),
    );
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(
        r["result"]["structuredContent"]["entry"]["originator"], "mcp:stateless-agent",
        "{r}"
    );
    let st = w.status("sl");
    assert_eq!(st["originator"], "mcp:stateless-agent", "{st}");
    // A revision we do not speak, and a request without the capabilities.
    let bad = m.request("tools/list", json!({"_meta": meta("2099-01-01")}));
    assert_eq!(bad["error"]["code"], -32022, "{bad}");
    assert!(bad["error"]["data"]["supported"].is_array(), "{bad}");
    let no_caps = m.request(
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
    );
    assert_eq!(no_caps["error"]["code"], -32602, "{no_caps}");
    // Without _meta and without initialize: told to initialize.
    let early = m.request("tools/list", json!({}));
    assert_eq!(early["error"]["code"], -32600, "{early}");
    assert!(
        early["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize"),
        "{early}"
    );
}

#[test]
fn ten_thousand_malformed_lines_then_a_valid_request_is_answered() {
    let w = Wr::new();
    let mut m = Mcp::start(&w, &[]);
    let mut junk = Vec::new();
    let kinds: [&[u8]; 10] = [
        b"{",
        b"not json at all",
        b"[]",
        b"42",
        b"{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}",
        b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"notifications/initialized\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}",
        b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":[1,2]}",
        b"\xff\xfe\x00 binary \x01",
    ];
    for i in 0..10_000 {
        junk.extend_from_slice(kinds[i % kinds.len()]);
        junk.push(b'\n');
    }
    // Written from a thread: the answers to the junk must be read meanwhile.
    let mut stdin = m.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&junk).unwrap();
        // One huge line too (past the 4 MiB limit).
        let huge = vec![b'x'; 5 << 20];
        stdin.write_all(&huge).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin
    });
    let mut errors = 0;
    while errors < 10_001 {
        let v = m.recv();
        assert!(v.get("error").is_some(), "{v}");
        errors += 1;
    }
    m.stdin = Some(writer.join().unwrap());
    // Still alive and well.
    let r = m.initialize("2025-06-18");
    assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
    let p = m.request("ping", json!({}));
    assert_eq!(p["result"], json!({}), "{p}");
    let unknown = m.request("teleport", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let wrong = m.call("list", json!({"limit": "many"}));
    assert_eq!(wrong["isError"], true, "{wrong}");
    assert!(text_of(&wrong).contains("limit"), "{wrong}");
}

#[test]
fn read_only_refuses_every_write_tool() {
    let w = Wr::new();
    w.ok(&["run", "--name", "keep", "--", "sleep", "60"]);
    let mut m = Mcp::start(&w, &["--read-only"]);
    m.initialize("2025-11-25");
    let tools = m.request("tools/list", json!({}));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["list", "status", "screen", "logs", "wait_for", "events"]
    );
    let dir = w.root.join("svc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Procfile"), "ro: sleep 60\n").unwrap();
    let procfile = dir.join("Procfile").display().to_string();
    for (tool, args) in [
        ("run", json!({"command": "touch should-not-exist"})),
        ("start", json!({"target": "keep"})),
        ("stop", json!({"target": "keep"})),
        ("restart", json!({"target": "keep"})),
        ("remove", json!({"target": "keep"})),
        ("signal", json!({"target": "keep", "signal": "KILL"})),
        ("send", json!({"target": "keep", "text": "x"})),
        ("send_keys", json!({"target": "keep", "keys": ["C-c"]})),
        ("up", json!({"file": procfile})),
        ("down", json!({"file": procfile})),
    ] {
        let r = m.call(tool, args);
        assert_eq!(r["isError"], true, "{tool}: {r}");
        assert!(text_of(&r).contains("--read-only"), "{tool}: {r}");
    }
    // Nothing changed.
    assert_eq!(w.ls().len(), 1);
    assert_eq!(w.state("keep"), "running");
    assert!(!w.root.join("should-not-exist").exists());
    // Reading works.
    let l = m.call("list", json!({}));
    assert_eq!(l["isError"], false, "{l}");
    assert_eq!(l["structuredContent"]["total"], 1);
}

#[test]
fn allow_deny_and_own_only_bound_the_agent() {
    let w = Wr::new();
    w.ok(&["run", "--name", "users", "--", "sleep", "60"]);
    let mut m = Mcp::start(&w, &["--allow", "list,run,stop", "--deny", "stop"]);
    m.initialize("2025-11-25");
    let tools = m.request("tools/list", json!({}));
    assert_eq!(
        tools["result"]["tools"].as_array().unwrap().len(),
        2,
        "{tools}"
    );
    let r = m.call("stop", json!({"target": "users"}));
    assert_eq!(r["isError"], true, "{r}");
    drop(m);

    let bad = w.run(&["mcp", "--deny", "teleport"]);
    assert_eq!(bad.code, 2, "{}", bad.text());
    assert!(bad.stderr.contains("teleport"), "{}", bad.stderr);

    let mut m = Mcp::start(&w, &["--own-only"]);
    m.initialize("2025-11-25");
    let mine = m.call("run", json!({"command": "sleep 60", "name": "mine"}));
    assert_eq!(mine["isError"], false, "{mine}");
    let l = m.call("list", json!({}));
    let names: Vec<&str> = l["structuredContent"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine"], "{l}");
    let r = m.call("stop", json!({"target": "users"}));
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(w.state("users"), "running");
    let logs = m.call("logs", json!({"target": "users"}));
    assert_eq!(logs["isError"], true, "{logs}");
    assert!(text_of(&logs).contains("list tool"), "{logs}");
    let r = m.call("stop", json!({"target": "mine"}));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(w.status("mine")["originator"], "mcp:rust-test");
}

#[test]
fn send_keys_follows_the_application_cursor_mode() {
    // Turns application cursor keys on, then dumps the next 3 bytes it reads in hex.
    let w = Wr::new();
    w.ok(&[
        "run",
        "--name",
        "keys",
        "--pty",
        "--",
        "sh",
        "-c",
        "stty raw -echo; printf '\\033[?1happ\\r\\n'; \
         printf 'got%s\\r\\n' \"$(dd bs=1 count=3 2>/dev/null | od -An -tx1)\"; sleep 1000",
    ]);
    w.ok(&["wait", "keys", "--screen", "app", "--timeout", "20s"]);
    let mut m = Mcp::start(&w, &[]);
    m.initialize("2025-11-25");
    let r = m.call("send_keys", json!({"target": "keys", "keys": ["Up"]}));
    assert_eq!(r["structuredContent"]["bytes"], 3, "{r}");
    w.ok(&[
        "wait",
        "keys",
        "--screen",
        "got 1b 4f 41",
        "--timeout",
        "20s",
    ]);
}

#[test]
fn logs_are_bounded_and_page_on() {
    let w = Wr::new();
    w.ok(&[
        "run",
        "--name",
        "chatty",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done",
    ]);
    w.ok(&["wait", "chatty"]);
    let mut m = Mcp::start(&w, &[]);
    m.initialize("2025-11-25");
    let r = m.call("logs", json!({"target": "chatty", "lines": 10}));
    let s = &r["structuredContent"];
    let texts: Vec<&str> = s["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.first(), Some(&"line 490"), "{r}");
    assert_eq!(texts.last(), Some(&"line 499"), "{r}");
    assert_eq!(s["more"], true);
    let older = m.call(
        "logs",
        json!({"target": "chatty", "lines": 10, "skip": s["next_skip"]}),
    );
    assert_eq!(
        older["structuredContent"]["lines"][0]["text"], "line 480",
        "{older}"
    );
    let head = m.call(
        "logs",
        json!({"target": "chatty", "head": true, "lines": 2}),
    );
    assert_eq!(head["structuredContent"]["lines"][1]["text"], "line 1");
    let grep = m.call(
        "logs",
        json!({"target": "chatty", "grep": "^line 25[0-9]$", "lines": 3}),
    );
    let g = &grep["structuredContent"];
    assert_eq!(g["lines"].as_array().unwrap().len(), 3, "{grep}");
    assert_eq!(g["lines"][2]["text"], "line 259");
    assert_eq!(g["more"], true);
    // A byte budget cuts too.
    let small = m.call(
        "logs",
        json!({"target": "chatty", "lines": 500, "max_bytes": 256}),
    );
    let n = small["structuredContent"]["lines"]
        .as_array()
        .unwrap()
        .len();
    assert!(n < 40, "{n} lines in 256 bytes");
    assert!(text_of(&small).contains("skip"), "{small}");
    let bad = m.call("logs", json!({"target": "chatty", "grep": "("}));
    assert_eq!(bad["isError"], true, "{bad}");
}

#[test]
fn wait_for_sends_progress_and_can_be_cancelled() {
    let w = Wr::new();
    w.ok(&["run", "--name", "idle", "--", "sleep", "60"]);
    let mut m = Mcp::start(&w, &[]);
    m.initialize("2025-11-25");
    m.send(&json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "wait_for", "arguments": {"target": "idle", "log": "never", "timeout_ms": 60000},
                   "_meta": {"progressToken": "tok"}}}));
    let deadline = Instant::now() + SOON;
    loop {
        let v = m.recv();
        if v["method"] == "notifications/progress" {
            assert_eq!(v["params"]["progressToken"], "tok");
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
    }
    m.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                   "params": {"requestId": 77, "reason": "test"}}),
    );
    // The server stops waiting and goes on answering; the cancelled call gets no answer.
    m.send(&json!({"jsonrpc": "2.0", "id": 78, "method": "ping"}));
    loop {
        let v = m.recv();
        assert_ne!(v["id"], 77, "a cancelled request was answered: {v}");
        if v["id"] == 78 {
            break;
        }
    }
}

#[test]
fn subscribed_logs_and_the_entry_list_notify_their_changes() {
    let w = Wr::new();
    w.ok(&["run", "--name", "talk", "--stdin", "stream", "--", "cat"]);
    let id = w.status("talk")["id"].as_u64().unwrap();
    let mut m = Mcp::start(&w, &[]);
    m.initialize("2025-11-25");
    let uri = format!("wrangle://entry/{id}/log");
    let r = m.request("resources/subscribe", json!({ "uri": uri }));
    assert_eq!(r["result"], json!({}), "{r}");
    let bad = m.request("resources/subscribe", json!({"uri": "file:///etc/passwd"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    // The watcher connects in the background: repeat the change until it is seen.
    let seen = |m: &mut Mcp, method: &str, act: &mut dyn FnMut()| {
        let deadline = Instant::now() + SOON;
        while Instant::now() < deadline {
            act();
            while let Ok(l) = m.lines.recv_timeout(Duration::from_millis(300)) {
                let v: Value = serde_json::from_str(&l).unwrap();
                if v["method"] == method {
                    return v;
                }
            }
        }
        panic!("no {method}");
    };
    let v = seen(&mut m, "notifications/resources/updated", &mut || {
        w.ok(&["send", "talk", "more output"]);
    });
    assert_eq!(v["params"]["uri"], uri.as_str());
    let mut n = 0;
    seen(&mut m, "notifications/resources/list_changed", &mut || {
        n += 1;
        w.ok(&["run", "--name", &format!("new{n}"), "--", "true"]);
    });
    let read = m.request("resources/read", json!({ "uri": uri }));
    let text = read["result"]["contents"][0]["text"].as_str().unwrap();
    assert!(text.contains("more output"), "{read}");
}

// The HTTP transport.

struct Http {
    child: Child,
    port: u16,
    token: String,
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_http(w: &Wr) -> Http {
    let token = w.ok(&["mcp", "--print-token"]).text().trim().to_string();
    assert_eq!(token.len(), 64, "{token}");
    let mode = std::fs::metadata(w.home().join("mcp-token")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    // Ports can be taken between choosing and binding: try a few.
    for _ in 0..5 {
        let port = free_port();
        let mut child = w
            .cmd(&["mcp", "--http", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = try_wait_until(SOON, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() || !matches!(child.try_wait(), Ok(None))
        });
        if up && matches!(child.try_wait(), Ok(None)) {
            return Http {
                child,
                port,
                token: token.clone(),
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("wrangle mcp --http never listened");
}

/// One raw HTTP exchange: (status, headers, body).
fn http(port: u16, req: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

fn post(port: u16, headers: &str, body: &str) -> (u16, String, String) {
    http(
        port,
        &format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn http_needs_the_token_and_refuses_foreign_origins() {
    let w = Wr::new();
    let h = start_http(&w);
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}"#;
    let (st, _, _) = post(h.port, "", init);
    assert_eq!(st, 401);
    let (st, _, _) = post(h.port, "Authorization: Bearer wrong\r\n", init);
    assert_eq!(st, 401);
    let auth = format!("Authorization: Bearer {}\r\n", h.token);
    let (st, _, _) = post(
        h.port,
        &format!("{auth}Origin: http://evil.example\r\n"),
        init,
    );
    assert_eq!(st, 403);
    let (st, head, body) = post(
        h.port,
        &format!("{auth}Origin: http://localhost:5173\r\n"),
        init,
    );
    assert_eq!(st, 200, "{head}\n{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let sid = head
        .lines()
        .find_map(|l| l.strip_prefix("Mcp-Session-Id: "))
        .expect("a session id")
        .to_string();
    // Without the session: refused; with it: answered.
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (st, _, _) = post(h.port, &auth, list);
    assert_eq!(st, 400);
    let (st, _, body) = post(h.port, &format!("{auth}Mcp-Session-Id: {sid}\r\n"), list);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("wait_for"), "{body}");
    // Garbage gets a JSON-RPC error, not a dead server.
    let (st, _, body) = post(h.port, &format!("{auth}Mcp-Session-Id: {sid}\r\n"), "{nope");
    assert_eq!(st, 400);
    assert!(body.contains("-32700"), "{body}");
    let (st, _, _) = http(h.port, "GARBAGE\r\n\r\n");
    assert_eq!(st, 400);
    let (st, _, _) = post(h.port, &format!("{auth}Mcp-Session-Id: {sid}\r\n"), list);
    assert_eq!(st, 200);
    // A client that waits for "100 Continue" before its body (curl does over 1 KiB) gets it.
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let mut s = TcpStream::connect(("127.0.0.1", h.port)).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: x\r\n{auth}Mcp-Session-Id: {sid}\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 100 Continue"), "{first:?}");
    s.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(
        rest.contains("200 OK") && rest.contains(r#""id":9"#),
        "{rest}"
    );
}

// The official SDK as the client.

/// A virtualenv with the MCP SDK, made once for all tests (built aside, then renamed in, so
/// tests starting at once never see half of one).
fn sdk_python() -> PathBuf {
    // Named by the SDK's version: a new pin gets a new virtualenv.
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mcp-venv-{}", SDK.replace("==", "-")));
    let python = dir.join("bin/python");
    let ready = dir.join("ready");
    if ready.exists() {
        return python;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "mcp-venv.{}.{}",
        std::process::id(),
        unique_secs()
    ));
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&tmp)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3 -m venv failed (.ci/run installs python3-venv)");
    let ok = Command::new(tmp.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            SDK,
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pip install {SDK} failed");
    std::fs::write(tmp.join("ready"), SDK).unwrap();
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test won: use its.
        let _ = std::fs::remove_dir_all(&tmp);
        wait_until("the other test's virtualenv", CMD_DEADLINE, || {
            ready.exists()
        });
    }
    python
}

fn flow(w: &Wr, args: &[&str]) {
    let python = sdk_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/flow.py");
    let cmd = w.cmd(&[]);
    let mut c = Command::new(python);
    c.arg(script).arg(BIN).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(&w.root);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the SDK client");
    let out = finish(child, Duration::from_secs(240), "flow.py");
    assert_eq!(
        out.code,
        0,
        "flow.py {args:?}:\n{}\n{}",
        out.text(),
        out.stderr
    );
    assert!(out.text().contains("OK"), "{}", out.text());
}

#[test]
fn sdk_over_stdio_stateless_revision() {
    let w = Wr::new();
    flow(&w, &["stdio", "auto"]);
}

#[test]
fn sdk_over_stdio_handshake() {
    let w = Wr::new();
    flow(&w, &["stdio", "legacy"]);
}

#[test]
fn sdk_pinned_to_2025_03_26() {
    let w = Wr::new();
    flow(&w, &["stdio", "2025-03-26"]);
}

#[test]
fn sdk_over_http() {
    let w = Wr::new();
    let h = start_http(&w);
    let url = format!("http://127.0.0.1:{}/mcp", h.port);
    for mode in ["auto", "legacy", "2025-03-26"] {
        flow(&w, &["http", mode, &url, &h.token]);
    }
}

/// `up` with a service's plain name picks it within the file's project (services are named
/// PROJECT/NAME), as `wrangle up NAME` does: both go through the same code.
#[test]
fn up_with_a_plain_service_name_picks_it_in_its_project() {
    let w = Wr::new();
    let dir = w.root.join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let secs = unique_secs();
    std::fs::write(
        dir.join("Procfile"),
        format!("api: sleep {secs}\nweb: sleep {secs}\n"),
    )
    .unwrap();
    let procfile = dir.join("Procfile").display().to_string();
    let mut m = Mcp::start(&w, &[]);
    m.initialize("2025-11-25");
    let r = m.call("up", json!({"file": procfile, "names": ["api"]}));
    assert_eq!(r["isError"], false, "{r}");
    let names: Vec<String> = w
        .ls()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, ["shop/api"]);
}
