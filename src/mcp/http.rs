//! The Streamable HTTP transport: one endpoint (`/mcp`), JSON-RPC in POST bodies, answered as
//! JSON, or as a server-sent event stream for a tool call when the client accepts one (so that
//! progress notifications reach it before the result). Every request needs the bearer token;
//! a browser page from elsewhere (a foreign `Origin`) is refused, against DNS rebinding.
//! Sessions (`Mcp-Session-Id`) come from `initialize`; the stateless revision needs none.
//!
//! Blocking and bounded: a fixed set of worker threads takes connections from one listener, so
//! a flood of clients waits in the kernel's backlog instead of growing threads; a connection
//! idle too long is closed.

use super::jsonrpc;
use super::policy::Policy;
use super::server::{Link, Server};
use super::token;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const MAX_SESSIONS: usize = 64;
const MAX_HEAD: usize = 16 << 10;
const MAX_BODY: usize = 4 << 20;
const IDLE: Duration = Duration::from_secs(10);

struct Session {
    server: Mutex<Server>,
    /// Ids (as JSON text) of requests the client cancelled (checked by a running tool).
    cancelled: Mutex<HashSet<String>>,
    last_used: Mutex<Instant>,
}

struct Shared {
    paths: Paths,
    policy: Policy,
    token: String,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

pub fn serve(paths: Paths, policy: Policy, addr: &str) -> Result<()> {
    let sa: SocketAddr = addr.parse().map_err(|_| {
        Error::new(
            Code::Usage,
            format!("--http {addr:?}: give an address and port, e.g. 127.0.0.1:8765"),
        )
    })?;
    if !sa.ip().is_loopback() {
        eprintln!("wrangle: warning: --http {sa} is reachable from other machines; the bearer token is all that guards it");
    }
    let token = token::load_or_make(&paths)?;
    let listener =
        TcpListener::bind(sa).map_err(|e| Error::io(format!("cannot listen on {sa}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    eprintln!(
        "wrangle: MCP on http://{local}/mcp (bearer token: wrangle mcp --print-token, in {})",
        token::path(&paths).display()
    );
    let shared = Arc::new(Shared {
        paths,
        policy,
        token,
        sessions: Mutex::new(HashMap::new()),
    });
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let l = listener
            .try_clone()
            .map_err(|e| Error::io("cannot share the listener", e))?;
        let s = Arc::clone(&shared);
        let w = std::thread::Builder::new()
            .name(format!("mcp-http-{i}"))
            .spawn(move || loop {
                match l.accept() {
                    Ok((conn, _)) => connection(&s, conn),
                    // Out of descriptors or similar: let it pass rather than spin.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            })
            .map_err(|e| Error::io("cannot start a worker thread", e))?;
        workers.push(w);
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// One request as read.
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves requests on one connection until it closes, idles, or errs.
fn connection(shared: &Shared, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(IDLE));
    let _ = conn.set_write_timeout(Some(IDLE));
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let req = match read_request(&mut conn, &mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err((status, msg)) => {
                let _ = respond(&mut conn, status, &[], "text/plain", msg.as_bytes(), true);
                return;
            }
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !handle(shared, &mut conn, req) || close {
            return;
        }
    }
}

/// Reads one request; None at a clean end. Err: the status and reason to answer with.
fn read_request(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::result::Result<Option<Req>, (u16, String)> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = parsed.method.unwrap_or("").to_string();
                let path = parsed.path.unwrap_or("").to_string();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect();
                let find = |n: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.clone())
                };
                if find("transfer-encoding").is_some() {
                    return Err((411, "send a Content-Length, not a chunked body".into()));
                }
                let len: usize = match find("content-length") {
                    None => 0,
                    Some(v) => v
                        .parse()
                        .map_err(|_| (400, format!("bad Content-Length {v:?}")))?,
                };
                if len > MAX_BODY {
                    return Err((413, format!("body over {MAX_BODY} bytes")));
                }
                // curl asks before sending a body over 1 KiB.
                let expects =
                    find("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
                if expects && buf.len() < head_len + len {
                    conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .map_err(|_| (400, "connection lost".to_string()))?;
                }
                while buf.len() < head_len + len {
                    let n = conn
                        .read(&mut chunk)
                        .map_err(|_| (408, "body not received in time".to_string()))?;
                    if n == 0 {
                        return Err((400, "body cut short".into()));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_len..head_len + len].to_vec();
                buf.drain(..head_len + len);
                return Ok(Some(Req {
                    method,
                    path,
                    headers,
                    body,
                }));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err((400, format!("bad request: {e}"))),
        }
        if buf.len() > MAX_HEAD {
            return Err((431, "request head too large".into()));
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err((400, "request cut short".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err((408, "request not received in time".into())),
        }
    }
}

fn respond(
    conn: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    ctype: &str,
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str(&format!("Content-Type: {ctype}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

/// Whether `origin` is this machine (a page served from loopback, or a tool that sends it).
fn local_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Answers one request; false closes the connection.
fn handle(shared: &Shared, conn: &mut TcpStream, req: Req) -> bool {
    let plain = |conn: &mut TcpStream, status: u16, msg: &str| {
        respond(conn, status, &[], "text/plain", msg.as_bytes(), false).is_ok()
    };
    if let Some(o) = req.header("origin") {
        if !local_origin(o) {
            return plain(
                conn,
                403,
                "forbidden: requests from this Origin are refused",
            );
        }
    }
    let authorized = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| token::same(t.trim().as_bytes(), shared.token.as_bytes()));
    if !authorized {
        let _ = respond(
            conn,
            401,
            &[("WWW-Authenticate", "Bearer".to_string())],
            "text/plain",
            b"unauthorized: send Authorization: Bearer TOKEN (see wrangle mcp --print-token)",
            false,
        );
        return true;
    }
    let path = req.path.split('?').next().unwrap_or("");
    if path != "/mcp" && path != "/" {
        return plain(conn, 404, "not found: the MCP endpoint is /mcp");
    }
    let sid = req.header("mcp-session-id").map(str::to_string);
    match req.method.as_str() {
        "POST" => post(shared, conn, &req, sid),
        "DELETE" => match sid {
            Some(s) => {
                let gone = lock(&shared.sessions).remove(&s).is_some();
                match gone {
                    true => respond(conn, 204, &[], "", b"", false).is_ok(),
                    false => plain(conn, 404, "no such session"),
                }
            }
            None => plain(conn, 400, "DELETE needs Mcp-Session-Id"),
        },
        "GET" => {
            let _ = respond(
                conn,
                405,
                &[("Allow", "POST, DELETE".into())],
                "text/plain",
                b"this server sends no stream on GET; POST requests to /mcp",
                false,
            );
            true
        }
        _ => plain(conn, 405, "use POST"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a tool call may tell the client while it runs: SSE events on this response.
struct HttpLink<'a> {
    conn: Option<&'a mut TcpStream>,
    cancelled: Option<&'a Mutex<HashSet<String>>>,
}

impl Link for HttpLink<'_> {
    fn notify(&mut self, msg: Value) {
        if let Some(c) = self.conn.as_mut() {
            let _ = sse(c, &msg);
        }
    }

    fn cancelled(&mut self, id: &Value) -> bool {
        self.cancelled
            .is_some_and(|s| lock(s).remove(&id.to_string()))
    }
}

fn sse(conn: &mut TcpStream, msg: &Value) -> std::io::Result<()> {
    conn.write_all(format!("event: message\ndata: {msg}\n\n").as_bytes())?;
    conn.flush()
}

fn post(shared: &Shared, conn: &mut TcpStream, req: &Req, sid: Option<String>) -> bool {
    let plain = |conn: &mut TcpStream, status: u16, msg: &str| {
        respond(conn, status, &[], "text/plain", msg.as_bytes(), false).is_ok()
    };
    if let Some(v) = req.header("mcp-protocol-version") {
        if !super::revision::supported().contains(&v) {
            return plain(
                conn,
                400,
                &format!("unsupported MCP-Protocol-Version {v:?}"),
            );
        }
    }
    let msgs = match jsonrpc::parse(&req.body) {
        Ok(m) => m,
        Err(answer) => return json_reply(conn, 400, &answer, &[]),
    };
    let first = msgs.first().cloned().unwrap_or(Value::Null);
    let method = first["method"].as_str().unwrap_or("").to_string();
    let has_id = first.get("id").is_some();
    let stateless = super::revision::stateless_meta(&first["params"]).is_some();
    // Cancellation goes to the session's set, for the tool that is waiting.
    if method == "notifications/cancelled" {
        if let Some(s) = sid
            .as_ref()
            .and_then(|s| lock(&shared.sessions).get(s).cloned())
        {
            lock(&s.cancelled).insert(first["params"]["requestId"].to_string());
        }
        return respond(conn, 202, &[], "", b"", false).is_ok();
    }
    let session: Option<Arc<Session>> = match (&sid, method.as_str()) {
        (None, "initialize") => {
            let s = Arc::new(Session {
                server: Mutex::new(Server::new(shared.paths.clone(), shared.policy.clone())),
                cancelled: Mutex::new(HashSet::new()),
                last_used: Mutex::new(Instant::now()),
            });
            Some(s)
        }
        (Some(id), _) => match lock(&shared.sessions).get(id).cloned() {
            Some(s) => Some(s),
            None => return plain(conn, 404, "no such session: initialize again"),
        },
        (None, _) if stateless || method == "server/discover" || method == "ping" => None,
        (None, _) => {
            return plain(
                conn,
                400,
                "no Mcp-Session-Id: send initialize first (or the stateless revision's _meta)",
            )
        }
    };
    let streaming = method == "tools/call"
        && has_id
        && req
            .header("accept")
            .is_some_and(|a| a.contains("text/event-stream"));
    let mut extra: Vec<(&str, String)> = Vec::new();
    let answer = {
        let mut owned;
        let mut guard;
        let (server, cancelled): (&mut Server, _) = match &session {
            Some(s) => {
                *lock(&s.last_used) = Instant::now();
                guard = lock(&s.server);
                (&mut guard, Some(&s.cancelled))
            }
            None => {
                owned = Server::new(shared.paths.clone(), shared.policy.clone());
                (&mut owned, None)
            }
        };
        if streaming {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
            if conn.write_all(head.as_bytes()).is_err() {
                return false;
            }
            let mut link = HttpLink {
                conn: Some(&mut *conn),
                cancelled,
            };
            if let Some(a) = server.handle_text(&req.body, &mut link) {
                let _ = sse(conn, &a);
            }
            return false;
        }
        let mut link = HttpLink {
            conn: None,
            cancelled,
        };
        server.handle_text(&req.body, &mut link)
    };
    if let (None, Some(s)) = (&sid, &session) {
        // A new session, if initialize worked.
        if answer.as_ref().is_some_and(|a| a.get("result").is_some()) {
            let id = new_session_id();
            let mut all = lock(&shared.sessions);
            if all.len() >= MAX_SESSIONS {
                let oldest = all
                    .iter()
                    .min_by_key(|(_, s)| *lock(&s.last_used))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    all.remove(&k);
                }
            }
            all.insert(id.clone(), Arc::clone(s));
            extra.push(("Mcp-Session-Id", id));
        }
    }
    match answer {
        Some(a) => json_reply(conn, 200, &a, &extra),
        None => respond(conn, 202, &extra, "", b"", false).is_ok(),
    }
}

fn json_reply(conn: &mut TcpStream, status: u16, v: &Value, extra: &[(&str, String)]) -> bool {
    respond(
        conn,
        status,
        extra,
        "application/json",
        v.to_string().as_bytes(),
        false,
    )
    .is_ok()
}

fn new_session_id() -> String {
    let mut raw = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut raw));
    if ok.is_err() {
        let t = crate::util::now_us().to_le_bytes();
        raw[..8].copy_from_slice(&t);
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_machine_is_a_local_origin() {
        for o in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:8080",
        ] {
            assert!(super::local_origin(o), "{o}");
        }
        for o in [
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
            "",
        ] {
            assert!(!super::local_origin(o), "{o}");
        }
    }
}
