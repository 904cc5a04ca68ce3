//! The event loop's mechanics alone: the mio poll, tokens and what each stands for, the
//! listening socket (peer credentials checked), the signalfd, connections' bytes (reading
//! frames until `WouldBlock`, flushing output under the watermarks) and the timer queue. It
//! knows nothing of requests, entries or processes: `dispatch.rs` gives events their meaning.

use super::conn::{Conn, HIGH_WATER};
use super::timers::Timers;
use crate::error::{Error, Result};
use crate::proto::frame::FrameError;
use crate::proto::Frame;
use crate::sys::signalfd::SignalFd;
use mio::net::UnixListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(super) const LISTENER: Token = Token(0);
pub(super) const SIGNALS: Token = Token(1);
/// Helper threads wake the loop with this token (see `jobs.rs`).
pub(super) const WAKER: Token = Token(usize::MAX);
/// The most client connections open at once. One more is sent an ERROR frame
/// (`daemon_unavailable`, saying so) and closed; see wrangle-protocol(7).
pub(super) const MAX_CONNS: usize = 1024;
/// Reads per readiness event before yielding to other sources (fairness).
pub(super) const READS_PER_TURN: usize = 16;
/// The most answers one connection's requests may add to its output in one turn before its
/// next request waits for the next turn: one client pipelining big requests (a `list` of
/// thousands of entries each) cannot hold the loop for several of them.
pub(super) const TURN_OUTPUT: usize = 256 << 10;
/// The first retry of an accept that failed (descriptors exhausted); each failed retry
/// doubles it, up to [`ACCEPT_RETRY_MAX`]. A connection closing retries at once.
const ACCEPT_RETRY: Duration = Duration::from_millis(20);
const ACCEPT_RETRY_MAX: Duration = Duration::from_millis(500);

/// What a token stands for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    Conn,
    Pipe {
        id: u64,
        stream: u8,
    },
    /// An entry's input became writable.
    Input {
        id: u64,
    },
    Pidfd {
        id: u64,
    },
    /// Output of an entry's build.
    BuildPipe {
        id: u64,
    },
    /// The keeper's channel (see `kept.rs`).
    Keeper,
}

/// What reading a connection gave.
pub(super) enum Next {
    Frame(Frame),
    /// Nothing more for now (would block, paused or closing).
    Idle,
    /// The peer closed or the socket failed.
    Closed,
    /// The peer sent a frame that cannot be decoded.
    Bad(FrameError),
}

pub(super) struct Reactor<K> {
    poll: Poll,
    /// The listening socket and its path (None: a reactor for tests, fed by hand).
    listener: Option<(UnixListener, PathBuf)>,
    signals: Option<SignalFd>,
    waker: Option<std::sync::Arc<mio::Waker>>,
    pub sources: HashMap<Token, Source>,
    next_token: usize,
    pub conns: HashMap<Token, Conn>,
    pub timers: Timers<K>,
    /// Pipes that still had data when their turn ended.
    pub busy: Vec<Token>,
    /// Connections to read again (their input target drained).
    pub resume: Vec<Token>,
    /// Connections whose further requests wait for the next turn: their answers this turn
    /// reached [`TURN_OUTPUT`].
    pub later: Vec<Token>,
    /// Connections with output or follows to service at the end of this turn.
    pub dirty: HashSet<Token>,
    listening: bool,
    /// Connections are being refused at [`MAX_CONNS`] (logged once until one is accepted).
    at_cap: bool,
    /// A descriptor kept open (on /dev/null) to be given up when the process has none left,
    /// so that a waiting client can be accepted and told why it is closed.
    spare: Option<std::fs::File>,
    /// An accept failed: when to try again, and the delay after that one.
    accept_retry: Option<(Instant, Duration)>,
}

impl<K> Reactor<K> {
    /// Listens on `socket` (created 0600) and returns the listening descriptor.
    pub fn bind(socket: &Path) -> Result<std::os::fd::OwnedFd> {
        // Create the socket 0600 from the start (umask), then make sure of it.
        // SAFETY: umask only changes this process's file-creation mask.
        let old = unsafe { libc::umask(0o177) };
        let bound = std::os::unix::net::UnixListener::bind(socket);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let listener =
            bound.map_err(|e| Error::io(format!("cannot listen on {}", socket.display()), e))?;
        std::fs::set_permissions(socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| Error::io("cannot set the socket's mode", e))?;
        Ok(listener.into())
    }

    /// Accepts on `listener` (bound to `socket`, see [`Self::bind`]) and reads `signals` from
    /// a signalfd; both are watched by a new poll.
    pub fn new(
        listener: std::os::fd::OwnedFd,
        socket: &Path,
        signals: &[i32],
    ) -> Result<Reactor<K>> {
        let signals =
            SignalFd::new(signals).map_err(|e| Error::io("cannot set up signal handling", e))?;
        let poll = Poll::new().map_err(|e| Error::io("cannot create the event loop", e))?;
        let listener = std::os::unix::net::UnixListener::from(listener);
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("cannot set up the socket", e))?;
        let mut listener = UnixListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| Error::io("cannot watch the socket", e))?;
        poll.registry()
            .register(
                &mut SourceFd(&signals.as_raw_fd()),
                SIGNALS,
                Interest::READABLE,
            )
            .map_err(|e| Error::io("cannot watch signals", e))?;
        let waker = mio::Waker::new(poll.registry(), WAKER)
            .map_err(|e| Error::io("cannot set up the loop's waker", e))?;
        Ok(Reactor::around(
            poll,
            Some((listener, socket.to_path_buf())),
            Some(signals),
            Some(std::sync::Arc::new(waker)),
        ))
    }

    /// A reactor with no socket and no signals: connections are added by hand
    /// ([`Self::adopt_conn`]) and nothing is waited for (handlers' unit tests).
    #[cfg(test)]
    pub fn detached() -> Reactor<K> {
        Reactor::around(Poll::new().expect("a poll"), None, None, None)
    }

    /// Takes `stream` as a connection, as if it had been accepted.
    #[cfg(test)]
    pub fn adopt_conn(&mut self, stream: mio::net::UnixStream) -> Token {
        let t = self.token(Source::Conn);
        self.conns.insert(t, Conn::new(stream));
        t
    }

    fn around(
        poll: Poll,
        listener: Option<(UnixListener, PathBuf)>,
        signals: Option<SignalFd>,
        waker: Option<std::sync::Arc<mio::Waker>>,
    ) -> Reactor<K> {
        Reactor {
            poll,
            listening: listener.is_some(),
            listener,
            signals,
            waker,
            sources: HashMap::new(),
            next_token: 2,
            conns: HashMap::new(),
            timers: Timers::default(),
            busy: Vec::new(),
            resume: Vec::new(),
            later: Vec::new(),
            dirty: HashSet::new(),
            at_cap: false,
            spare: std::fs::File::open("/dev/null").ok(),
            accept_retry: None,
        }
    }

    /// Waits for readiness, at most until the nearest deadline (not at all when work is left
    /// over from the last turn); then retries a failed accept whose time came.
    pub fn wait(&mut self, events: &mut Events) -> Result<()> {
        let idle = self.busy.is_empty() && self.dirty.is_empty() && self.resume.is_empty();
        let retry = self
            .accept_retry
            .map(|(at, _)| at.saturating_duration_since(Instant::now()));
        let timeout = match (idle, self.timers.next_timeout(), retry) {
            (false, _, _) => Some(Duration::ZERO),
            (true, Some(t), Some(r)) => Some(t.min(r)),
            (true, t, r) => t.or(r),
        };
        let polled = self.poll.poll(events, timeout);
        if self.listening
            && self
                .accept_retry
                .is_some_and(|(at, _)| at <= Instant::now())
        {
            self.accept();
        }
        match polled {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                Err(Error::io("event loop failed", e))
            }
            _ => Ok(()),
        }
    }

    /// What helper threads wake the loop with (None for a detached reactor).
    pub fn waker(&self) -> Option<std::sync::Arc<mio::Waker>> {
        self.waker.clone()
    }

    /// A new token standing for `source`.
    pub fn token(&mut self, source: Source) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        self.sources.insert(t, source);
        t
    }

    /// Watches `fd` for reading, as `source`.
    pub fn register_fd(&mut self, fd: i32, source: Source) -> io::Result<Token> {
        self.register(fd, source, Interest::READABLE)
    }

    /// Watches `fd` for writing, as `source`.
    pub fn register_writable(&mut self, fd: i32, source: Source) -> io::Result<Token> {
        self.register(fd, source, Interest::WRITABLE)
    }

    fn register(&mut self, fd: i32, source: Source, interest: Interest) -> io::Result<Token> {
        let t = self.token(source);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), t, interest)
        {
            self.sources.remove(&t);
            return Err(e);
        }
        Ok(t)
    }

    pub fn deregister_fd(&mut self, fd: i32, t: Token) {
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.sources.remove(&t);
        self.busy.retain(|b| *b != t);
    }

    /// Removes the socket path and stops accepting connections.
    pub fn stop_listening(&mut self) {
        if self.listening {
            self.listening = false;
            if let Some((listener, path)) = self.listener.as_mut() {
                let _ = std::fs::remove_file(path);
                let _ = self.poll.registry().deregister(listener);
            }
        }
    }

    /// Accepts every pending connection from our own user; others are refused. When the
    /// process is out of descriptors, one waiting client is told so and closed (with the
    /// spare descriptor) and accepting is retried on a timer, as the socket will not signal
    /// the clients already waiting again.
    pub fn accept(&mut self) {
        loop {
            let Some((listener, _)) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let me = rustix::process::getuid();
                    match rustix::net::sockopt::socket_peercred(&stream) {
                        Ok(cred) if cred.uid == me => {}
                        Ok(cred) => {
                            log::warn!(
                                "refused a connection from uid {} (pid {})",
                                cred.uid.as_raw(),
                                cred.pid.as_raw_nonzero()
                            );
                            continue;
                        }
                        Err(e) => {
                            log::warn!("refused a connection: cannot read its credentials: {e}");
                            continue;
                        }
                    }
                    if self.conns.len() >= MAX_CONNS {
                        self.refuse_at_cap(stream);
                        continue;
                    }
                    self.at_cap = false;
                    let t = self.token(Source::Conn);
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        t,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        log::warn!("cannot watch a new connection: {e}");
                        self.sources.remove(&t);
                        continue;
                    }
                    self.conns.insert(t, Conn::new(stream));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_retry = None;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let delay = match self.accept_retry {
                        Some((_, d)) => d,
                        None => {
                            log::warn!("accept failed: {e}; trying again until it works");
                            ACCEPT_RETRY
                        }
                    };
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                        self.shed();
                    }
                    self.accept_retry =
                        Some((Instant::now() + delay, (delay * 2).min(ACCEPT_RETRY_MAX)));
                    break;
                }
            }
        }
    }

    /// Out of descriptors: gives up the spare one to accept a waiting client, tells it why it
    /// is closed, closes it and takes the spare back.
    fn shed(&mut self) {
        let Some((listener, _)) = self.listener.as_ref() else {
            return;
        };
        if self.spare.take().is_none() {
            return;
        }
        if let Ok((stream, _)) = listener.accept() {
            refuse(
                stream,
                "the daemon has no file descriptors left (see ulimit -n); retry shortly",
            );
        }
        self.spare = std::fs::File::open("/dev/null").ok();
    }

    /// Tells a connection over [`MAX_CONNS`] why it is closed and closes it.
    fn refuse_at_cap(&mut self, stream: mio::net::UnixStream) {
        if !self.at_cap {
            self.at_cap = true;
            log::warn!("{MAX_CONNS} connections are open: refusing new ones until one closes");
        }
        refuse(
            stream,
            &format!(
                "the daemon has too many connections open ({MAX_CONNS}); close some and retry"
            ),
        );
    }

    /// Every signal that arrived (signals of one kind coalesce).
    pub fn read_signals(&mut self) -> Vec<i32> {
        let mut out = Vec::new();
        let Some(signals) = self.signals.as_ref() else {
            return out;
        };
        loop {
            match signals.read() {
                Ok(Some(s)) => out.push(s),
                Ok(None) => break,
                Err(e) => {
                    log::warn!("reading signals failed: {e}");
                    break;
                }
            }
        }
        out
    }

    /// The next frame of connection `t`: from its decoder, reading the socket when the decoder
    /// runs dry. A paused or closing connection gives nothing.
    pub fn next_frame(&mut self, t: Token, buf: &mut [u8]) -> Next {
        loop {
            let Some(c) = self.conns.get_mut(&t) else {
                return Next::Idle;
            };
            if c.paused_on.is_some() || c.closing {
                return Next::Idle;
            }
            if c.backlog() >= HIGH_WATER {
                // The peer is not reading its answers: read no more requests until it does
                // (`service_conns` resumes the connection once a flush brings it below).
                c.backlogged = true;
                self.dirty.insert(t);
                return Next::Idle;
            }
            let next = match c.stalled.take() {
                Some(f) => Ok(Some(f)),
                None => c.dec.next_frame(),
            };
            match next {
                Ok(Some(f)) => return Next::Frame(f),
                Ok(None) => {}
                Err(e) => return Next::Bad(e),
            }
            match c.stream.read(buf) {
                Ok(0) => return Next::Closed,
                Ok(n) => c.dec.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Idle,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Closed,
            }
        }
    }

    /// Forgets connection `t` (its socket is closed when the returned value is dropped). A
    /// failed accept is retried at once: a descriptor is coming free.
    pub fn close_conn(&mut self, t: Token) -> Option<Conn> {
        if let Some((at, _)) = self.accept_retry.as_mut() {
            *at = Instant::now();
        }
        let mut c = self.conns.remove(&t);
        if let Some(c) = c.as_mut() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        self.sources.remove(&t);
        self.dirty.remove(&t);
        c
    }

    /// Last words to every client (e.g. the shutdown reply), as far as they can be sent now.
    pub fn flush_all(&mut self) {
        for c in self.conns.values_mut() {
            let _ = c.flush();
        }
    }
}

/// Tells a connection it is refused (one ERROR frame of id 0, code `daemon_unavailable`, into
/// the new socket's empty buffer: this does not block) and closes it.
fn refuse(mut stream: mio::net::UnixStream, message: &str) {
    let body = crate::proto::ErrorBody {
        code: crate::error::Code::Daemon.as_str().to_string(),
        message: message.to_string(),
    };
    let mut out = Vec::new();
    let payload = serde_json::to_vec(&body).unwrap_or_default();
    let _ = crate::proto::frame::encode(&mut out, crate::proto::FrameKind::Error, 0, 0, &payload);
    let _ = std::io::Write::write(&mut stream, &out);
}
