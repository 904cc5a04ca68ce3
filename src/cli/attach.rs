//! `wrangle attach`, `wrangle send`, `wrangle resize`, and the attach session `run --attach`
//! and `run --wait` use: the local terminal in raw mode (always restored), keystrokes to the
//! process, window sizes to its terminal, detach keys, and the process's exit status.

use super::render;
use super::select::with_selector;
use super::{client, Exit};
use crate::client::reconnect::{self, Notice};
use crate::client::{error_from, Client};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::frame::FrameKind;
use crate::proto::{Request, Selector, StreamEvent};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Output replayed on attach: enough to redraw a screen and recent lines.
const REPLAY: u64 = 64 << 10;

with_selector! {
    /// attach to an entry: see its output live, type into it; Ctrl-\ detaches
    #[argh(subcommand, name = "attach")]
    pub struct AttachCmd {
        /// the detach key: ctrl-\ (default), ctrl-a ... ctrl-z, ctrl-] or none
        #[argh(option)]
        pub detach_key: Option<String>,
        /// watch only: do not forward the keyboard
        #[argh(switch)]
        pub read_only: bool,
        /// a name or id
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// write text (or this command's standard input) to an entry's input
    #[argh(subcommand, name = "send")]
    pub struct SendCmd {
        /// do not add a newline after the text
        #[argh(switch, short = 'n')]
        pub no_newline: bool,
        /// close the entry's input afterwards (a terminal gets end-of-file)
        #[argh(switch)]
        pub eof: bool,
        /// the arguments are keys in tmux's send-keys notation (Enter, C-c, Up, F5, M-x;
        /// anything else is sent as text), with no newline added
        #[argh(switch)]
        pub keys: bool,
        /// the entry, then the text (none: copy standard input; put text that starts with -
        /// after --)
        #[argh(positional)]
        pub args: Vec<String>,
    }
}

with_selector! {
    /// set a terminal entry's window size, e.g. 40x120 (the process gets SIGWINCH)
    #[argh(subcommand, name = "resize")]
    pub struct ResizeCmd {
        /// the entry, then ROWSxCOLS
        #[argh(positional)]
        pub args: Vec<String>,
    }
}

/// Parses `ROWSxCOLS`.
pub fn parse_size(s: &str) -> Result<[u16; 2]> {
    let bad = || {
        Error::new(
            Code::Usage,
            format!("invalid size {s:?} (use ROWSxCOLS, e.g. 24x80)"),
        )
    };
    let (r, c) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let rows: u16 = r.parse().map_err(|_| bad())?;
    let cols: u16 = c.parse().map_err(|_| bad())?;
    if rows == 0 || cols == 0 {
        return Err(bad());
    }
    Ok([rows, cols])
}

/// Parses a detach key: `ctrl-\`, `ctrl-a`, `^A`, `ctrl-]`, or `none`.
pub fn parse_detach_key(s: &str) -> Result<Option<u8>> {
    let lower = s.to_ascii_lowercase();
    if lower == "none" {
        return Ok(None);
    }
    let key = lower
        .strip_prefix("ctrl-")
        .or_else(|| lower.strip_prefix("c-"))
        .or_else(|| lower.strip_prefix('^'));
    match key.map(str::as_bytes) {
        Some([c @ b'a'..=b'z']) => Ok(Some(c - b'a' + 1)),
        Some([b'\\']) => Ok(Some(0x1c)),
        Some([b']']) => Ok(Some(0x1d)),
        Some([b'^']) => Ok(Some(0x1e)),
        Some([b'_']) => Ok(Some(0x1f)),
        _ => Err(Error::new(
            Code::Usage,
            format!("invalid --detach-key {s:?} (use e.g. ctrl-\\, ctrl-a, ctrl-] or none)"),
        )),
    }
}

/// Watches the keyboard for a way to detach: the detach key (also in the CSI-u form kitty-style
/// terminals send, `ESC [ CODE ; 5 u`), or `Enter ~ .`.
pub struct DetachScanner {
    key: Option<u8>,
    csi_u: Option<Vec<u8>>,
    /// 0: after Enter (or at start); 1: after Enter ~; 2: elsewhere.
    state: u8,
}

impl DetachScanner {
    pub fn new(key: Option<u8>) -> DetachScanner {
        // Ctrl+letter in CSI-u is the lowercase letter's code with modifier 5 (ctrl).
        let csi_u = key.map(|k| {
            let code = match k {
                1..=26 => u32::from(b'a' + k - 1),
                0x1c => u32::from(b'\\'),
                0x1d => u32::from(b']'),
                0x1b => u32::from(b'['),
                0x1e => u32::from(b'^'),
                0x1f => u32::from(b'_'),
                _ => u32::from(b'@'),
            };
            format!("\x1b[{code};5u").into_bytes()
        });
        DetachScanner {
            key,
            csi_u,
            state: 0,
        }
    }

    /// Returns the bytes to forward, or None when the input asks to detach.
    pub fn scan(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        if let Some(seq) = &self.csi_u {
            if input.windows(seq.len()).any(|w| w == seq.as_slice()) {
                return None;
            }
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if Some(b) == self.key {
                return None;
            }
            match (self.state, b) {
                (_, b'\r' | b'\n') => {
                    self.state = 0;
                    out.push(b);
                }
                (0, b'~') => {
                    // Held back until we know whether a '.' follows.
                    self.state = 1;
                }
                (1, b'.') => return None,
                (1, b'~') => {
                    // "~~" sends one literal '~'.
                    self.state = 2;
                    out.push(b'~');
                }
                (1, other) => {
                    self.state = 2;
                    out.push(b'~');
                    out.push(other);
                }
                (_, other) => {
                    self.state = 2;
                    out.push(other);
                }
            }
        }
        Some(out)
    }
}

/// Puts a terminal in raw mode and restores it when dropped.
struct RawMode {
    fd: i32,
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        RawMode::set(fd, rustix::termios::Termios::make_raw)
    }

    /// Keys one at a time and not echoed, but Ctrl-C and Ctrl-\ still signals: for a
    /// read-only viewer, whose keys only ever detach.
    fn enter_keys_only(fd: BorrowedFd<'_>) -> Option<RawMode> {
        RawMode::set(fd, |t| {
            use rustix::termios::{LocalModes, SpecialCodeIndex};
            t.local_modes.remove(LocalModes::ICANON | LocalModes::ECHO);
            t.special_codes[SpecialCodeIndex::VMIN] = 1;
            t.special_codes[SpecialCodeIndex::VTIME] = 0;
        })
    }

    fn set(fd: BorrowedFd<'_>, change: impl Fn(&mut rustix::termios::Termios)) -> Option<RawMode> {
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        change(&mut raw);
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Flush, &raw).ok()?;
        Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the fd is this process's standard input, open for the whole session.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &self.saved);
    }
}

/// The signals an attach session handles as events: resizes, and requests to end.
const SIGNALS: [i32; 5] = [
    libc::SIGWINCH,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
];

fn term_size(fd: BorrowedFd<'_>) -> Option<[u16; 2]> {
    rustix::termios::tcgetwinsize(fd)
        .ok()
        .filter(|w| w.ws_row > 0 && w.ws_col > 0)
        .map(|w| [w.ws_row, w.ws_col])
}

/// How an attach session behaves.
pub struct SessionOpts {
    pub read_only: bool,
    pub detach_key: Option<u8>,
    /// Show what was already output before attaching.
    pub replay: bool,
}

/// Runs an attach session on the selected entry; returns the exit status. The session
/// outlives a daemon being replaced: it re-attaches to the entry where its output had got to,
/// with the local terminal kept as it was (raw mode included) and nothing said in it.
pub fn session(
    paths: &Paths,
    client: &mut Client,
    sel: &Selector,
    opts: &SessionOpts,
) -> Result<Exit> {
    let signals = crate::sys::signalfd::SignalFd::new(&SIGNALS).ok();
    let mut a = Attachment {
        label: String::new(),
        raw: None,
        pos: None,
        scanner: DetachScanner::new(opts.detach_key),
        stdin_open: true,
        skipped: 0,
        last_notice: Instant::now()
            .checked_sub(Duration::from_secs(2))
            .unwrap_or_else(Instant::now),
    };
    // `a` (and with it the raw mode) is dropped before any error is printed.
    reconnect::resilient(paths, client, Notice::Quiet, |client, resumed| {
        a.attach(client, sel, opts, resumed, signals.as_ref())
    })
}

/// What an attach session keeps across connections.
struct Attachment {
    label: String,
    /// The local terminal in raw mode (restored when dropped).
    raw: Option<RawMode>,
    /// The sequence number of the next output byte, when the daemon told it: a re-attach
    /// starts there, so nothing shown is shown again.
    pos: Option<u64>,
    scanner: DetachScanner,
    stdin_open: bool,
    /// Bytes skipped (this terminal fell behind) not yet reported.
    skipped: u64,
    last_notice: Instant,
}

impl Attachment {
    /// A notice in the local terminal (in raw mode a bare newline does not return the carriage).
    fn say(&self, msg: &str) {
        let nl = if self.raw.is_some() { "\r\n" } else { "\n" };
        eprint!("{nl}[wrangle: {msg}]{nl}");
    }

    /// Attaches on `client` (again, when `resumed`) and runs the session until it ends.
    fn attach(
        &mut self,
        client: &mut Client,
        sel: &Selector,
        opts: &SessionOpts,
        resumed: bool,
        signals: Option<&crate::sys::signalfd::SignalFd>,
    ) -> Result<Exit> {
        let stdin = std::io::stdin();
        let stdin_fd = stdin.as_fd();
        let is_tty = rustix::termios::isatty(stdin_fd);
        // A read-only viewer never resizes the terminal.
        let size = if is_tty && !opts.read_only {
            term_size(stdin_fd)
        } else {
            None
        };
        let req = client.send_request(&Request::Attach {
            sel: sel.clone(),
            read_only: opts.read_only,
            replay: if opts.replay && !resumed { REPLAY } else { 0 },
            size,
            from_seq: if resumed { self.pos } else { None },
        })?;
        // The first answer says who we are attached to, or why not.
        let mut pending = Vec::new();
        let (input, pty) = loop {
            let f = client.read_frame()?;
            if f.id != req {
                continue;
            }
            match f.kind() {
                Some(FrameKind::Error) => return Err(error_from(&f.payload)),
                Some(FrameKind::Event) => match serde_json::from_slice::<StreamEvent>(&f.payload) {
                    Ok(StreamEvent::Attached {
                        id,
                        name,
                        input,
                        pty,
                        seq,
                        ..
                    }) => {
                        self.label = render::label(id, &name);
                        self.pos = seq;
                        break (input, pty);
                    }
                    _ => pending.push(f),
                },
                _ => pending.push(f),
            }
        };
        let forward = input && !opts.read_only;
        if !resumed {
            if !forward && !opts.read_only {
                eprintln!(
                    "wrangle: attached to {}; its input is not connected (output only)",
                    self.label
                );
            }
            // Raw mode only for a terminal entry: its own terminal echoes and handles Enter.
            // For a stream entry the local terminal stays in line mode (echo, editing, Enter
            // sends a line), and Ctrl-\ arrives as SIGQUIT, which detaches.
            if forward && is_tty && pty {
                self.raw = RawMode::enter(stdin_fd);
            } else if opts.read_only && is_tty {
                // Keys are read only to find `Enter ~ .`; they are not echoed over the
                // output.
                self.raw = RawMode::enter_keys_only(stdin_fd);
            }
        }
        let mut out = std::io::stdout().lock();
        pending.extend(client.buffered_frames()?);
        if let Some(code) = self.handle(req, pending, &mut out)? {
            return Ok(code);
        }
        let mut buf = [0u8; 4096];
        loop {
            // A read-only viewer reads its keyboard only for the ways to detach.
            let watching = opts.read_only && is_tty;
            let reading = (forward || watching) && self.stdin_open;
            let mut fds = vec![libc::pollfd {
                fd: client.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if reading {
                fds.push(libc::pollfd {
                    fd: stdin_fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            if let Some(s) = signals {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                continue;
            }
            if fds[0].revents != 0 {
                let frames = client.read_some()?;
                if let Some(code) = self.handle(req, frames, &mut out)? {
                    return Ok(code);
                }
            }
            let mut i = 1;
            if reading {
                if fds[i].revents != 0 {
                    match rustix::io::read(stdin_fd, &mut buf) {
                        Ok(0) | Err(_) => self.stdin_open = false,
                        Ok(n) => match self.scanner.scan(&buf[..n]) {
                            None => {
                                self.raw = None;
                                self.say(&format!(
                                    "detached from {}; it keeps running (wrangle attach to come back)",
                                    self.label
                                ));
                                return Ok(0);
                            }
                            Some(bytes) if !bytes.is_empty() && forward => {
                                client.send_data(req, &bytes)?
                            }
                            Some(_) => {}
                        },
                    }
                }
                i += 1;
            }
            if let Some(s) = signals {
                if fds[i].revents != 0 {
                    while let Ok(Some(sig)) = s.read() {
                        if let Some(code) = self.signal(client, sel, opts, sig) {
                            return Ok(code);
                        }
                    }
                }
            }
        }
    }

    /// Acts on a signal; Some(status) when it ends the session.
    fn signal(
        &mut self,
        client: &mut Client,
        sel: &Selector,
        opts: &SessionOpts,
        sig: i32,
    ) -> Option<Exit> {
        if sig == libc::SIGWINCH {
            if opts.read_only {
                return None;
            }
            if let Some(sz) = term_size(std::io::stdin().as_fd()) {
                let _ = client.send_request(&Request::Resize {
                    sel: sel.clone(),
                    rows: sz[0],
                    cols: sz[1],
                });
            }
            return None;
        }
        if sig == libc::SIGQUIT
            && (self.raw.is_none() || opts.read_only)
            && opts.detach_key == Some(0x1c)
        {
            // Ctrl-\ in line mode: the detach key.
            self.raw = None;
            self.say(&format!("detached from {}; it keeps running", self.label));
            return Some(0);
        }
        self.raw = None;
        self.say(&format!(
            "detached from {} ({}); it keeps running",
            self.label,
            crate::util::signal::name(sig)
        ));
        Some(if sig == libc::SIGINT { 130 } else { 128 + sig })
    }

    /// Shows the frames of stream `req`; Some(status) once the stream has ended.
    fn handle(
        &mut self,
        req: u32,
        frames: Vec<crate::proto::Frame>,
        out: &mut std::io::StdoutLock,
    ) -> Result<Option<Exit>> {
        for f in frames {
            if f.id != req {
                continue;
            }
            match f.kind() {
                Some(FrameKind::Data) => {
                    self.advance(f.payload.len() as u64);
                    let _ = out.write_all(&f.payload);
                    let _ = out.flush();
                }
                Some(FrameKind::Event) => match serde_json::from_slice::<StreamEvent>(&f.payload) {
                    Ok(StreamEvent::Exited {
                        exit_code,
                        exit_signal,
                    }) => {
                        let n = std::mem::take(&mut self.skipped);
                        if n > 0 {
                            self.say(&format!("{n} bytes skipped: this terminal fell behind"));
                        }
                        let (how, code) = match (exit_code, exit_signal) {
                            (Some(c), _) => (format!("exited with code {c}"), c),
                            (None, Some(s)) => (
                                format!("was killed by signal {}", crate::util::signal::name(s)),
                                128 + s,
                            ),
                            _ => ("ended".to_string(), 1),
                        };
                        self.say(&format!("{} {how}", self.label));
                        return Ok(Some(code));
                    }
                    Ok(StreamEvent::Screen { seq, draw }) => {
                        // The terminal's screen as it is at `seq`: drawn over whatever this
                        // terminal shows, then output goes on from there.
                        if let Some(p) = &mut self.pos {
                            *p = seq;
                        }
                        let _ = out.write_all(draw.as_bytes());
                        let _ = out.flush();
                    }
                    Ok(StreamEvent::Missed { bytes }) => {
                        self.advance(bytes);
                        // One notice a second at most, however often bytes are skipped.
                        self.skipped += bytes;
                        if self.last_notice.elapsed() >= Duration::from_secs(1) {
                            let n = std::mem::take(&mut self.skipped);
                            self.say(&format!("{n} bytes skipped: this terminal fell behind"));
                            self.last_notice = Instant::now();
                        }
                    }
                    _ => {}
                },
                Some(FrameKind::Error) => return Err(error_from(&f.payload)),
                Some(FrameKind::Response) => return Ok(Some(0)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Counts `n` bytes of the stream as passed.
    fn advance(&mut self, n: u64) {
        if let Some(p) = &mut self.pos {
            *p += n;
        }
    }
}

pub fn attach(paths: &Paths, c: AttachCmd) -> Result<Exit> {
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        crate::bail!(Code::Usage, "attach: say which entry (a name or an id)");
    }
    let detach_key = match &c.detach_key {
        Some(k) => parse_detach_key(k)?,
        None => Some(0x1c),
    };
    let mut client = client(paths)?;
    session(
        paths,
        &mut client,
        &sel,
        &SessionOpts {
            read_only: c.read_only,
            detach_key,
            replay: true,
        },
    )
}

pub fn send(paths: &Paths, c: SendCmd) -> Result<Exit> {
    let Some((target, text)) = c.args.split_first() else {
        crate::bail!(
            Code::Usage,
            "send: say which entry (wrangle send NAME [TEXT]...)"
        );
    };
    let sel = c.selector(std::slice::from_ref(target));
    let mut client = client(paths)?;
    let bytes = if text.is_empty() {
        let stdin = std::io::stdin();
        if rustix::termios::isatty(stdin.as_fd()) {
            // Nothing to copy from a terminal: `send NAME --eof` just closes the input.
            if !c.eof {
                crate::bail!(
                    Code::Usage,
                    "send: no TEXT given and standard input is a terminal"
                );
            }
            client.send_input(&sel, &mut std::io::empty(), true)?
        } else {
            let mut lock = stdin.lock();
            client.send_input(&sel, &mut lock, c.eof)?
        }
    } else if c.keys {
        client.send_keys(&sel, text, c.eof)?
    } else {
        let mut data = text.join(" ").into_bytes();
        if !c.no_newline {
            data.push(b'\n');
        }
        client.send_input(&sel, &mut data.as_slice(), c.eof)?
    };
    let _ = bytes;
    Ok(0)
}

pub fn resize(paths: &Paths, c: ResizeCmd) -> Result<Exit> {
    let [target, size] = c.args.as_slice() else {
        crate::bail!(Code::Usage, "resize: wrangle resize NAME ROWSxCOLS");
    };
    let [rows, cols] = parse_size(size)?;
    let sel = c.selector(std::slice::from_ref(target));
    let rs = client(paths)?.act(&Request::Resize { sel, rows, cols })?;
    Ok(render::results("resized", &rs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_and_sizes() {
        assert_eq!(parse_detach_key("ctrl-\\").unwrap(), Some(0x1c));
        assert_eq!(parse_detach_key("ctrl-a").unwrap(), Some(1));
        assert_eq!(parse_detach_key("^Z").unwrap(), Some(26));
        assert_eq!(parse_detach_key("ctrl-]").unwrap(), Some(0x1d));
        assert_eq!(parse_detach_key("none").unwrap(), None);
        assert!(parse_detach_key("x").is_err());
        assert_eq!(parse_size("24x80").unwrap(), [24, 80]);
        assert!(parse_size("0x80").is_err() && parse_size("24").is_err());
    }

    #[test]
    fn scanner_finds_every_way_to_detach() {
        let mut s = DetachScanner::new(Some(0x1c));
        assert_eq!(s.scan(b"ls\r").unwrap(), b"ls\r");
        assert!(s.scan(b"a\x1cb").is_none());
        let mut s = DetachScanner::new(Some(0x1c));
        assert!(s.scan(b"\x1b[92;5u").is_none());
        let mut s = DetachScanner::new(Some(0x1c));
        assert!(s.scan(b"echo\r~.").is_none());
        let mut s = DetachScanner::new(Some(0x1c));
        assert_eq!(s.scan(b"a~.").unwrap(), b"a~.");
        let mut s = DetachScanner::new(Some(0x1c));
        assert_eq!(s.scan(b"\r~~").unwrap(), b"\r~");
        let mut s = DetachScanner::new(Some(0x1c));
        assert_eq!(s.scan(b"\r~").unwrap(), b"\r");
        assert!(s.scan(b".").is_none());
        let mut s = DetachScanner::new(None);
        assert_eq!(s.scan(b"\x1c").unwrap(), b"\x1c");
    }
}
