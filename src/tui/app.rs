//! The dashboard's executor: one poll over the daemon's connection, the keyboard and a
//! signalfd, with a 2-second timeout for the metrics tick and nothing else waking it. Frames
//! from the daemon, keys and signals become [`Event`]s for the pure update; the [`Command`]s it
//! returns become requests (answered asynchronously, matched by request id), attach sessions
//! and suspension. Redraws only after something happened.

use super::backend::Screen;
use super::input::Decoder;
use super::model::Model;
use super::term::{self, Term};
use super::update::{update, Command, Event};
use crate::cli::render;
use crate::client::Client;
use crate::error::{Code, Result};
use crate::paths::Paths;
use crate::proto::frame::FrameKind;
use crate::proto::*;
use crate::sys::signalfd::SignalFd;
use serde::de::DeserializeOwned;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How often CPU and memory are asked for.
const TICK: Duration = Duration::from_secs(2);
/// How much of the selected entry's recent output is shown when it is selected.
const BACKLOG: u64 = 64 << 10;
/// The signals the dashboard handles as events.
const SIGNALS: [i32; 7] = [
    libc::SIGWINCH,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGCONT,
];

/// An attach session run from the dashboard (the terminal given back meanwhile); an error
/// message if it failed.
pub type AttachFn<'a> = &'a mut dyn FnMut(u64) -> Option<String>;

/// What a request on its way was for.
enum Pending {
    /// A listing, its parts so far.
    List(Vec<EntryInfo>),
    /// An action on one entry, with the word for what it did.
    Act(&'static str),
    /// Where an entry's output ends, to follow it from a little before.
    Logs(u64),
    Status,
    Send(u64),
    /// A cancel (its reply needs nothing).
    Ignore,
}

/// The connection to the daemon and the streams open on it.
struct Conn {
    client: Client,
    /// Requests on their way, by id (a few at a time).
    pending: Vec<(u32, Pending)>,
    /// The subscription to lifecycle events.
    sub: u32,
    /// The output stream followed: request id, entry id.
    follow: Option<(u32, u64)>,
}

fn sel(id: u64) -> Selector {
    Selector::target(id.to_string())
}

fn decode<T: DeserializeOwned>(f: &Frame) -> Option<T> {
    serde_json::from_slice(&f.payload).ok()
}

impl Conn {
    fn open(client: Client) -> Result<Conn> {
        let mut c = Conn {
            client,
            pending: Vec::new(),
            sub: 0,
            follow: None,
        };
        c.sub = c.client.subscribe(&Selector::default(), 1, None)?;
        Ok(c)
    }

    fn request(&mut self, req: &Request, p: Pending) -> Result<()> {
        let id = self.client.send_request(req)?;
        self.pending.push((id, p));
        Ok(())
    }

    /// Ends the output stream followed, if any.
    fn unfollow(&mut self) -> Result<()> {
        if let Some((req, _)) = self.follow.take() {
            self.request(&Request::Cancel { target: req }, Pending::Ignore)?;
        }
        Ok(())
    }

    /// Turns one frame into events; Err when the connection is no longer usable.
    fn frame(&mut self, f: Frame, want: Option<u64>, out: &mut Vec<Event>) -> Result<()> {
        let kind = f.kind();
        if f.id == 0 && kind == Some(FrameKind::Error) {
            return Err(crate::client::error_from(&f.payload));
        }
        if f.id == self.sub {
            match kind {
                Some(FrameKind::Event) => out.extend(decode(&f).map(Event::Lifecycle)),
                _ => crate::bail!(Code::Daemon, "the daemon ended the event stream"),
            }
            return Ok(());
        }
        if let Some((req, entry)) = self.follow {
            if f.id == req {
                match kind {
                    Some(FrameKind::Data) => out.push(Event::Output(entry, f.payload)),
                    Some(FrameKind::Response) | Some(FrameKind::Error) => self.follow = None,
                    _ => {}
                }
                return Ok(());
            }
        }
        let Some(at) = self.pending.iter().position(|(id, _)| *id == f.id) else {
            return Ok(()); // a cancelled stream's last words
        };
        let error =
            (kind == Some(FrameKind::Error)).then(|| crate::client::error_from(&f.payload).message);
        if let Pending::List(all) = &mut self.pending[at].1 {
            if let Some(part) = decode::<ListReply>(&f) {
                all.extend(part.entries);
            }
        }
        if kind == Some(FrameKind::Event) {
            return Ok(());
        }
        let p = self.pending.swap_remove(at).1;
        match (p, error) {
            (Pending::List(_), Some(e)) => out.push(Event::ListFailed(e)),
            (Pending::List(all), None) => out.push(Event::Listed(all, crate::util::now_ms())),
            (Pending::Act(verb), None) => {
                let rs = decode::<ActionReply>(&f).map(|r| r.results);
                out.push(Event::Done(results(verb, &rs.unwrap_or_default())));
            }
            (Pending::Logs(id), None) => {
                let end = decode::<LogsReply>(&f)
                    .and_then(|r| r.entries.into_iter().next())
                    .map(|i| i.end_seq);
                if let (Some(end), true) = (end, want == Some(id)) {
                    self.unfollow()?;
                    let req = self.client.follow(id, end.saturating_sub(BACKLOG), 3)?;
                    self.follow = Some((req, id));
                    if end > BACKLOG {
                        out.push(Event::MidStream(id));
                    }
                }
            }
            (Pending::Status, None) => {
                let e = decode::<ListReply>(&f).and_then(|r| r.entries.into_iter().next());
                out.extend(e.map(|e| Event::Details(Box::new(e))));
            }
            (Pending::Send(id), None) => {
                let n = decode::<SendReply>(&f).map_or(0, |r| r.bytes);
                out.push(Event::Done(format!("sent {n} bytes to id {id}")));
            }
            (Pending::Ignore, _) | (Pending::Status, Some(_)) | (Pending::Logs(_), Some(_)) => {}
            (_, Some(e)) => out.push(Event::Done(e)),
        }
        Ok(())
    }
}

/// One line saying what an action did.
fn results(verb: &str, rs: &[ActionResult]) -> String {
    let parts: Vec<String> = rs
        .iter()
        .map(|r| {
            let who = render::label(r.id, &r.name);
            match r.outcome {
                Outcome::Failed => format!("{who}: {}", r.message.as_deref().unwrap_or("failed")),
                Outcome::NotRunning => format!("{who} was not running"),
                Outcome::AlreadyRunning => format!("{who} is already running"),
                _ => format!("{verb} {who}"),
            }
        })
        .collect();
    parts.join("; ")
}

/// Whether to draw in colour: not with NO_COLOR set, nor on a terminal said to be dumb.
fn colors() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb");
    !no_color && !dumb
}

/// The dashboard, until `q`, Ctrl-C or a signal to end; returns the exit status.
pub fn run(paths: &Paths, attach: AttachFn<'_>) -> Result<i32> {
    term::check()?;
    let client = Client::connect_or_start(paths)?;
    let mut conn = Some(Conn::open(client)?);
    let signals = SignalFd::new(&SIGNALS).map_err(|e| crate::Error::io("signalfd", e))?;
    let term = Term::enter()?;
    let mut screen = Screen::default();
    let (cols, rows) = term::size();
    let mut model = Model::new(cols, rows, colors());
    let mut decoder = Decoder::default();
    let mut queue: Vec<Event> = vec![Event::Tick(crate::util::now_ms())];
    let mut next_tick = Instant::now() + TICK;
    let mut status = 0;
    let mut dirty = true;
    let stdin = std::io::stdin();
    loop {
        // Events first (they may bring commands, and commands events), then draw, then wait.
        while !queue.is_empty() {
            for ev in std::mem::take(&mut queue) {
                for cmd in update(&mut model, ev) {
                    match cmd {
                        Command::Quit => {}
                        Command::Attach(id) => {
                            term.suspend();
                            let err = attach(id);
                            term.resume()?;
                            screen.invalidate();
                            queue.push(Event::Returned(err));
                        }
                        Command::Suspend => {
                            suspend(&term)?;
                            screen.invalidate();
                        }
                        cmd => {
                            let Some(c) = conn.as_mut() else {
                                continue; // the message says so
                            };
                            if let Err(e) = execute(c, cmd) {
                                lost(&mut conn, &mut queue, e);
                            }
                        }
                    }
                }
            }
            dirty = true;
            if model.quit {
                return Ok(status);
            }
            // Frames that arrived with the last read but were not decoded yet.
            if let Some(c) = conn.as_mut() {
                match c.client.buffered_frames() {
                    Ok(fs) => handle(&mut conn, &model, fs, &mut queue),
                    Err(e) => lost(&mut conn, &mut queue, e),
                }
            }
        }
        if dirty {
            let (c, r) = term::size();
            if (c, r) != (model.cols, model.rows) {
                update(&mut model, Event::Resize(c, r));
            }
            screen.draw(model.cols, model.rows, |buf| super::view::draw(&model, buf));
            dirty = false;
        }
        let mut fds = vec![
            libc::pollfd {
                fd: stdin.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(c) = &conn {
            fds.push(libc::pollfd {
                fd: c.client.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            continue; // interrupted
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            if conn.is_none() {
                match Client::connect(paths).and_then(Conn::open) {
                    Ok(c) => {
                        conn = Some(c);
                        queue.push(Event::Connected);
                    }
                    Err(_) => dirty = true,
                }
            }
            queue.push(Event::Tick(crate::util::now_ms()));
        }
        if fds[0].revents != 0 {
            let mut buf = [0u8; 4096];
            match rustix::io::read(&stdin, &mut buf) {
                Ok(0) => return Ok(status),
                Ok(n) => queue.extend(decoder.feed(&buf[..n]).into_iter().map(Event::Input)),
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(crate::Error::io("cannot read the terminal", e.into())),
            }
        }
        if fds[1].revents != 0 {
            while let Ok(Some(sig)) = signals.read() {
                match sig {
                    libc::SIGWINCH => {
                        let (c, r) = term::size();
                        queue.push(Event::Resize(c, r));
                    }
                    libc::SIGTSTP => {
                        suspend(&term)?;
                        screen.invalidate();
                        dirty = true;
                    }
                    libc::SIGCONT => {
                        // Continued after someone else stopped us: the screen may be anything.
                        term.resume()?;
                        screen.invalidate();
                        dirty = true;
                    }
                    sig => {
                        status = 128 + sig;
                        model.quit = true;
                    }
                }
            }
            if model.quit {
                return Ok(status);
            }
        }
        if fds.len() > 2 && fds[2].revents != 0 {
            if let Some(c) = conn.as_mut() {
                match c.client.read_some() {
                    Ok(fs) => handle(&mut conn, &model, fs, &mut queue),
                    Err(e) => lost(&mut conn, &mut queue, e),
                }
            }
        }
    }
}

/// Frames to events; a broken connection is dropped (and tried again on the tick).
fn handle(conn: &mut Option<Conn>, model: &Model, fs: Vec<Frame>, queue: &mut Vec<Event>) {
    let Some(c) = conn.as_mut() else {
        return;
    };
    for f in fs {
        if let Err(e) = c.frame(f, model.output.entry, queue) {
            lost(conn, queue, e);
            return;
        }
    }
}

fn lost(conn: &mut Option<Conn>, queue: &mut Vec<Event>, e: crate::Error) {
    if conn.take().is_some() {
        queue.push(Event::Lost(e.message));
    }
}

/// Sends the request a command asks for.
fn execute(c: &mut Conn, cmd: Command) -> Result<()> {
    match cmd {
        Command::List => c.request(
            &Request::List {
                sel: Selector::default(),
                brief: false,
            },
            Pending::List(Vec::new()),
        ),
        Command::Follow(id) => {
            c.unfollow()?;
            c.request(
                &Request::Logs {
                    sel: sel(id),
                    build: false,
                },
                Pending::Logs(id),
            )?;
            c.request(
                &Request::Status {
                    sel: sel(id),
                    show_env: false,
                },
                Pending::Status,
            )
        }
        Command::Details(id) => c.request(
            &Request::Status {
                sel: sel(id),
                show_env: false,
            },
            Pending::Status,
        ),
        Command::Start(id) => c.request(&Request::Start { sel: sel(id) }, Pending::Act("started")),
        Command::Stop(id) => c.request(
            &Request::Stop {
                sel: sel(id),
                timeout_ms: None,
            },
            Pending::Act("stopped"),
        ),
        Command::Restart(id) => c.request(
            &Request::Restart {
                sel: sel(id),
                profile: None,
            },
            Pending::Act("restarted"),
        ),
        Command::Remove(id) => c.request(
            &Request::Remove {
                sel: sel(id),
                kill: false,
            },
            Pending::Act("removed"),
        ),
        Command::Send(id, line) => {
            let req = c.client.send_request(&Request::Send {
                sel: sel(id),
                eof: false,
            })?;
            c.pending.push((req, Pending::Send(id)));
            c.client.send_data(req, line.as_bytes())?;
            c.client.send_data(req, &[])
        }
        Command::Attach(_) | Command::Suspend | Command::Quit => Ok(()),
    }
}

/// Ctrl-Z: the terminal given back, the whole job stopped (as the terminal's own Ctrl-Z
/// would), and the terminal taken again once continued.
fn suspend(term: &Term) -> Result<()> {
    term.suspend();
    // SAFETY: signalling our own process group; SIGSTOP cannot be caught or blocked, and
    // execution continues here on SIGCONT.
    unsafe {
        libc::kill(0, libc::SIGSTOP);
    }
    term.resume()
}
