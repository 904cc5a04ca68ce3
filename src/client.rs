//! The synchronous client: find the daemon's socket, start the daemon if nobody answers
//! (race-free: the daemon's lock decides who wins), handshake, then one call per request, or a
//! stream of output with [`Client::follow`]; [`reconnect`] carries long-lived streams across
//! a daemon being replaced.
//!
//! ```no_run
//! use wrangle::client::Client;
//! use wrangle::paths::Paths;
//! use wrangle::proto::Selector;
//!
//! let paths = Paths::resolve(None)?;
//! let mut client = Client::connect_or_start(&paths)?;
//! for e in client.list(&Selector::default())? {
//!     println!("{} {}", e.id, e.state);
//! }
//! # Ok::<(), wrangle::Error>(())
//! ```

use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::frame::{encode, FrameKind};
use crate::proto::*;
use serde::de::DeserializeOwned;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod reconnect;
mod requests;
pub mod up;

/// How long a client waits for an auto-started daemon to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the daemon.
pub struct Client {
    stream: UnixStream,
    dec: Decoder,
    next_id: u32,
    welcome: Welcome,
    /// The connection itself failed (end of file or an error mid-stream), as opposed to the
    /// daemon answering with an ERROR: see [`Client::lost`].
    lost: bool,
}

/// One item of a followed stream.
#[derive(Debug)]
pub enum StreamItem {
    /// Output bytes of stream 1 (stdout) or 2 (stderr).
    Data {
        stream: u8,
        bytes: Vec<u8>,
    },
    Event(StreamEvent),
    /// The stream ended (cancelled, or the entry was removed).
    End,
}

fn unreachable(paths: &Paths, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Daemon,
        format!(
            "cannot reach the wrangle daemon at {}: {e}",
            paths.socket.display()
        ),
    )
}

impl Client {
    /// Connects to a running daemon; never starts one.
    pub fn connect(paths: &Paths) -> Result<Client> {
        Client::dial(paths, &cli_name()).map_err(|(e, _)| e)
    }

    /// Connects; an error says whether a daemon answered it (then none is to be started).
    fn dial(paths: &Paths, name: &str) -> std::result::Result<Client, (Error, bool)> {
        let lost = |e| (e, false);
        if !paths.check_socket_dir().map_err(lost)? {
            return Err(lost(unreachable(paths, "no daemon is running")));
        }
        let stream = UnixStream::connect(&paths.socket)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    unreachable(paths, "no daemon is running")
                }
                _ => unreachable(paths, e),
            })
            .map_err(lost)?;
        let mut c = Client {
            stream,
            dec: Decoder::new(),
            next_id: 1,
            welcome: Welcome {
                version: 0,
                daemon: String::new(),
                pid: 0,
            },
            lost: false,
        };
        c.handshake(name).map_err(|(e, answered)| match e.code {
            Code::UnsupportedVersion => (e, answered),
            _ => (unreachable(paths, e), answered),
        })?;
        Ok(c)
    }

    /// Connects, starting a daemon first if none answers (unless `WRANGLE_NO_AUTOSTART` is
    /// set). Many clients may do this at once: exactly one daemon results.
    pub fn connect_or_start(paths: &Paths) -> Result<Client> {
        Client::connect_or_start_as(paths, &cli_name())
    }

    /// [`Client::connect_or_start`], introducing itself as `name` (what entries it starts
    /// record as their originator, e.g. `mcp:claude-code`).
    pub fn connect_or_start_as(paths: &Paths, name: &str) -> Result<Client> {
        match Client::dial(paths, name) {
            Ok(c) => return Ok(c),
            // A daemon that refused us (e.g. at its connection cap) is running.
            Err((e, answered)) if answered || e.code != Code::Daemon => return Err(e),
            Err(_) => {}
        }
        if std::env::var_os("WRANGLE_NO_AUTOSTART").is_some_and(|v| !v.is_empty()) {
            return Err(unreachable(
                paths,
                "no daemon is running (and WRANGLE_NO_AUTOSTART is set)",
            ));
        }
        // Start a daemon and connect; if another client's daemon won the race (or an old one
        // is just exiting), try again until one answers.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            start_daemon(paths)?;
            match Client::dial(paths, name).map_err(|(e, _)| e) {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::new(
                        Code::Daemon,
                        format!(
                            "started a daemon but it did not answer within {}s ({e}); see {}",
                            START_TIMEOUT.as_secs(),
                            paths.state.join("daemon.log").display()
                        ),
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Sends HELLO, reads WELCOME. An error says whether the daemon answered it (an ERROR).
    fn handshake(&mut self, name: &str) -> std::result::Result<(), (Error, bool)> {
        self.hello(name)
            .map_err(|e| (e, false))?
            .map_err(|e| (e, true))
    }

    /// The handshake: Err if no answer came, Ok(Err) if the daemon answered with an ERROR.
    fn hello(&mut self, name: &str) -> Result<Result<()>> {
        let hello = Hello {
            versions: VERSIONS.to_vec(),
            client: name.to_string(),
        };
        let sent = self.send(
            FrameKind::Hello,
            0,
            0,
            &serde_json::to_vec(&hello).unwrap_or_default(),
        );
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| Error::io("socket", e))?;
        // A daemon that refuses the connection (at its cap) may close it before HELLO is
        // sent: its ERROR is still there to read.
        let f = match (self.read_frame(), sent) {
            (Ok(f), _) => f,
            (Err(e), Ok(())) | (Err(_), Err(e)) => return Err(e),
        };
        self.stream
            .set_read_timeout(None)
            .map_err(|e| Error::io("socket", e))?;
        match f.kind() {
            Some(FrameKind::Welcome) => {
                self.welcome = serde_json::from_slice(&f.payload).map_err(|e| {
                    Error::new(Code::Daemon, format!("bad WELCOME from the daemon: {e}"))
                })?;
                Ok(Ok(()))
            }
            Some(FrameKind::Error) => Ok(Err(error_from(&f.payload))),
            _ => Err(Error::new(Code::Daemon, "the daemon did not answer HELLO")),
        }
    }

    /// Whether the connection broke (the daemon went away mid-conversation) rather than the
    /// daemon answering: a long-lived stream may then reconnect (see [`reconnect`]).
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Marks the connection lost and returns `e` (a transport error).
    fn lose(&mut self, e: Error) -> Error {
        self.lost = true;
        e
    }

    /// The daemon's pid (from the handshake).
    pub fn daemon_pid(&self) -> u32 {
        self.welcome.pid
    }

    fn send(&mut self, kind: FrameKind, chan: u8, id: u32, payload: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
        encode(&mut buf, kind, chan, id, payload)
            .map_err(|e| Error::new(Code::Usage, format!("cannot send: {e}")))?;
        // MSG_NOSIGNAL: a daemon that went away is an error to report, not a SIGPIPE (the
        // CLI lets SIGPIPE end it quietly when its own output is closed, like other tools).
        let mut rest = &buf[..];
        while !rest.is_empty() {
            match rustix::net::send(&self.stream, rest, rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(self.lose(Error::new(
                        Code::Daemon,
                        format!("lost the daemon: {}", std::io::Error::from(e)),
                    )))
                }
            }
        }
        Ok(())
    }

    /// Reads the next frame from the daemon.
    pub fn read_frame(&mut self) -> Result<Frame> {
        let mut buf = [0u8; 64 << 10];
        loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::new(
                        Code::Daemon,
                        format!("bad frame from the daemon: {e}"),
                    ))
                }
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    let e = Error::new(Code::Daemon, "the daemon closed the connection");
                    return Err(self.lose(e));
                }
                Ok(n) => self.dec.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = Error::new(Code::Daemon, format!("lost the daemon: {e}"));
                    return Err(self.lose(e));
                }
            }
        }
    }

    /// The connection's file descriptor (to poll it beside others).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.stream)
    }

    /// One read from the socket (blocking only if nothing is there), then every frame that is
    /// complete. For event loops that poll the connection.
    pub fn read_some(&mut self) -> Result<Vec<Frame>> {
        let mut buf = [0u8; 64 << 10];
        let n = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    let e = Error::new(Code::Daemon, "the daemon closed the connection");
                    return Err(self.lose(e));
                }
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = Error::new(Code::Daemon, format!("lost the daemon: {e}"));
                    return Err(self.lose(e));
                }
            }
        };
        self.dec.feed(&buf[..n]);
        self.buffered_frames()
    }

    /// Frames already received and decoded-able without reading the socket (call before
    /// polling the connection, or they would wait for more bytes that may never come).
    pub fn buffered_frames(&mut self) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return Ok(frames),
                Err(e) => {
                    return Err(Error::new(
                        Code::Daemon,
                        format!("bad frame from the daemon: {e}"),
                    ))
                }
            }
        }
    }

    /// Sends input bytes for stream `req` (a send or an attach); empty ends a send.
    pub fn send_data(&mut self, req: u32, bytes: &[u8]) -> Result<()> {
        self.send(
            FrameKind::Data,
            crate::proto::frame::chan::STDIN,
            req,
            bytes,
        )
    }

    /// Writes everything `input` yields to one entry's standard input; with `eof` the input is
    /// closed after. Returns the bytes taken.
    pub fn send_input(&mut self, sel: &Selector, input: &mut dyn Read, eof: bool) -> Result<u64> {
        let req = self.send_request(&Request::Send {
            sel: sel.clone(),
            eof,
        })?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("cannot read standard input", e)),
            };
            self.send_data(req, &buf[..n])?;
            // The daemon refuses at once (not running, no input): do not read the rest.
            if let Some(e) = self.early_error(req)? {
                return Err(e);
            }
        }
        self.send_data(req, &[])?;
        self.response::<SendReply>(req, "send").map(|r| r.bytes)
    }

    /// An ERROR for request `req` that has already arrived, without waiting for one.
    fn early_error(&mut self, req: u32) -> Result<Option<Error>> {
        let mut fds = [libc::pollfd {
            fd: self.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: `fds` is a valid pollfd array for the call; a zero timeout never blocks.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
        if ready <= 0 {
            return Ok(None);
        }
        for f in self.read_some()? {
            if f.id == req && f.kind() == Some(FrameKind::Error) {
                return Ok(Some(error_from(&f.payload)));
            }
        }
        Ok(None)
    }

    /// Sends a request and returns its id without waiting.
    pub fn send_request(&mut self, req: &Request) -> Result<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let body = serde_json::to_vec(req)
            .map_err(|e| Error::new(Code::Internal, format!("cannot encode request: {e}")))?;
        self.send(FrameKind::Request, 0, id, &body)?;
        Ok(id)
    }

    /// The next frame for request `req`. An ERROR for it, or for the whole connection (id 0),
    /// comes back as the error it carries; frames of other requests are skipped.
    fn frame_for(&mut self, req: u32) -> Result<Frame> {
        loop {
            let f = self.read_frame()?;
            let is_error = f.kind() == Some(FrameKind::Error);
            if f.id == req || (f.id == 0 && is_error) {
                return match is_error {
                    true => Err(error_from(&f.payload)),
                    false => Ok(f),
                };
            }
        }
    }

    /// Waits for the final RESPONSE to request `req` and decodes it.
    fn response<T: DeserializeOwned>(&mut self, req: u32, op: &str) -> Result<T> {
        loop {
            let f = self.frame_for(req)?;
            if f.kind() == Some(FrameKind::Response) {
                return decode(&f.payload, op);
            }
        }
    }

    /// Sends a request and waits for its reply.
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T> {
        let id = self.send_request(req)?;
        self.response(id, req.op())
    }
}

/// The name the CLI introduces itself with.
fn cli_name() -> String {
    format!("wrangle-cli/{}", env!("CARGO_PKG_VERSION"))
}

/// Decodes a JSON payload of a reply to `op`.
fn decode<T: DeserializeOwned>(payload: &[u8], op: &str) -> Result<T> {
    serde_json::from_slice(payload)
        .map_err(|e| Error::new(Code::Daemon, format!("unexpected reply to {op}: {e}")))
}

/// The error an ERROR frame carries.
pub fn error_from(payload: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(payload) {
        Ok(b) => Error::new(Code::from_wire(&b.code), b.message),
        Err(_) => Error::new(Code::Daemon, "unreadable error from the daemon"),
    }
}

/// Starts `wrangle daemon --detach` for `paths` and waits for the launcher to return (the
/// daemon itself lives on in its own session).
fn start_daemon(paths: &Paths) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::new(Code::Daemon, format!("cannot find the wrangle binary: {e}")))?;
    let exe = if exe.file_name().is_some_and(|n| n == "wrangle") {
        exe
    } else {
        // A program using the library: look for `wrangle` on PATH.
        std::path::PathBuf::from("wrangle")
    };
    // Its stderr says why it failed (the daemon itself writes to daemon.log instead).
    let out = Command::new(exe)
        .arg("--socket")
        .arg(&paths.socket)
        .arg("daemon")
        .arg("--detach")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("WRANGLE_AUTOSTART", "1")
        .process_group(0)
        .output()
        .map_err(|e| Error::new(Code::Daemon, format!("cannot start the daemon: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.trim();
        let said = said.strip_prefix("wrangle: ").unwrap_or(said);
        return Err(Error::new(
            Code::Daemon,
            if said.is_empty() {
                format!(
                    "the daemon failed to start ({}); see {}",
                    out.status,
                    paths.state.join("daemon.log").display()
                )
            } else {
                said.to_string()
            },
        ));
    }
    Ok(())
}
