//! The keeper's channel: small binary messages over a `SOCK_SEQPACKET` socket pair (one
//! message per datagram), descriptors passed alongside with `SCM_RIGHTS`. Both ends, the keeper
//! and a daemon (its "worker"), speak it; the keeper may be older than the worker after an
//! upgrade, so the format is versioned ([`VERSION`], given to the worker at exec) and a reader
//! ignores kinds it does not know. Documented in wrangle-protocol(7), section KEEPER.
//!
//! Integers are little-endian. Every message starts with its kind byte:
//!
//! | kind | from | body | descriptors |
//! |---|---|---|---|
//! | `H` hold | both | id u64, pid i32, start u64, status i32 (-1: running), n u8, n tags | n |
//! | `C` close | worker | id u64, tag u8 | |
//! | `E` end | worker | id u64 | |
//! | `X` exit | keeper | id u64, pid i32, status i32 | |
//! | `S` synced | keeper | (none) | |
//! | `R` ready | worker | (none), or u32: the keeper-state format its binary reads | |
//! | `B` bye | worker | (none) | |
//! | `U` upgrade | worker | the new binary's path (empty: the keeper's own) | |
//! | `V` verdict | keeper | ok u8, reason (UTF-8) | |
//!
//! Tags name what a descriptor is to the run: 0 its stdin (our write end), 1 stdout and 2
//! stderr (our read ends), 3 its terminal's master, 4 the read end of the pipe its terminal's
//! output passes through.

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The channel format's version.
pub const VERSION: u32 = 1;

/// The most descriptors one message carries (a run has at most four).
pub const MAX_FDS: usize = 4;

/// The largest message (an upgrade's path).
pub const MAX_MSG: usize = 8192;

/// A run's descriptor tags.
pub const TAG_STDIN: u8 = 0;
pub const TAG_STDOUT: u8 = 1;
pub const TAG_STDERR: u8 = 2;
pub const TAG_PTY: u8 = 3;
/// The read end of the pipe a terminal's output passes through on its way to the log.
pub const TAG_PTY_BUF: u8 = 4;

/// One message.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// A run and its descriptors (tags in the order of the descriptors). `status` is the raw
    /// wait status once the keeper reaped it.
    Hold {
        id: u64,
        pid: i32,
        start_time: u64,
        status: Option<i32>,
        tags: Vec<u8>,
    },
    Close {
        id: u64,
        tag: u8,
    },
    End {
        id: u64,
    },
    Exit {
        id: u64,
        pid: i32,
        status: i32,
    },
    Synced,
    /// The worker serves. `keeper_state`: the newest keeper-state format (see `reexec.rs`)
    /// its binary reads, so that the keeper may exec it in its own place after an upgrade;
    /// absent from workers that cannot (a keeper ignores the body it does not know).
    Ready {
        keeper_state: Option<u32>,
    },
    Bye,
    Upgrade {
        binary: Vec<u8>,
    },
    Verdict {
        ok: bool,
        reason: String,
    },
}

/// Why a datagram is not a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    Empty,
    Short(u8),
    UnknownKind(u8),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
}

impl Msg {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32);
        match self {
            Msg::Hold {
                id,
                pid,
                start_time,
                status,
                tags,
            } => {
                b.push(b'H');
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&pid.to_le_bytes());
                b.extend_from_slice(&start_time.to_le_bytes());
                b.extend_from_slice(&status.unwrap_or(-1).to_le_bytes());
                b.push(tags.len() as u8);
                b.extend_from_slice(tags);
            }
            Msg::Close { id, tag } => {
                b.push(b'C');
                b.extend_from_slice(&id.to_le_bytes());
                b.push(*tag);
            }
            Msg::End { id } => {
                b.push(b'E');
                b.extend_from_slice(&id.to_le_bytes());
            }
            Msg::Exit { id, pid, status } => {
                b.push(b'X');
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&pid.to_le_bytes());
                b.extend_from_slice(&status.to_le_bytes());
            }
            Msg::Synced => b.push(b'S'),
            Msg::Ready { keeper_state } => {
                b.push(b'R');
                if let Some(v) = keeper_state {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
            Msg::Bye => b.push(b'B'),
            Msg::Upgrade { binary } => {
                b.push(b'U');
                b.extend_from_slice(binary);
            }
            Msg::Verdict { ok, reason } => {
                b.push(b'V');
                b.push(u8::from(*ok));
                b.extend_from_slice(reason.as_bytes());
            }
        }
        b
    }

    pub fn decode(data: &[u8]) -> Result<Msg, Bad> {
        let (&kind, body) = data.split_first().ok_or(Bad::Empty)?;
        let mut r = Reader(body);
        let short = Bad::Short(kind);
        let msg = match kind {
            b'H' => {
                let (id, pid, start_time, status, n) =
                    match (r.u64(), r.i32(), r.u64(), r.i32(), r.u8()) {
                        (Some(a), Some(b), Some(c), Some(d), Some(e)) => (a, b, c, d, e),
                        _ => return Err(short),
                    };
                if r.0.len() != n as usize || n as usize > MAX_FDS {
                    return Err(short);
                }
                Msg::Hold {
                    id,
                    pid,
                    start_time,
                    status: (status != -1).then_some(status),
                    tags: r.0.to_vec(),
                }
            }
            b'C' => match (r.u64(), r.u8()) {
                (Some(id), Some(tag)) => Msg::Close { id, tag },
                _ => return Err(short),
            },
            b'E' => Msg::End {
                id: r.u64().ok_or(short)?,
            },
            b'X' => match (r.u64(), r.i32(), r.i32()) {
                (Some(id), Some(pid), Some(status)) => Msg::Exit { id, pid, status },
                _ => return Err(short),
            },
            b'S' => Msg::Synced,
            // The body is optional (older daemons send none), and longer ones may come.
            b'R' if body.is_empty() => Msg::Ready { keeper_state: None },
            b'R' => Msg::Ready {
                keeper_state: Some(r.take().map(u32::from_le_bytes).ok_or(short)?),
            },
            b'B' => Msg::Bye,
            b'U' => Msg::Upgrade {
                binary: body.to_vec(),
            },
            b'V' => {
                let ok = r.u8().ok_or(short)? != 0;
                Msg::Verdict {
                    ok,
                    reason: String::from_utf8_lossy(r.0).into_owned(),
                }
            }
            k => return Err(Bad::UnknownKind(k)),
        };
        Ok(msg)
    }
}

/// Sends `msg` with `fds` (at most [`MAX_FDS`]).
pub fn send(sock: BorrowedFd<'_>, msg: &Msg, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let bytes = msg.encode();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors",
        ));
    }
    loop {
        match sendmsg(
            sock,
            &[IoSlice::new(&bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What one receive gave.
pub enum Recv {
    Msg(Msg, Vec<OwnedFd>),
    /// A datagram that is not a message (its descriptors are closed).
    Bad(Bad),
    /// Nothing waiting (non-blocking receive only).
    Empty,
    /// The other end is gone.
    Closed,
}

/// Receives one message; `wait` blocks for it (up to the socket's receive timeout).
pub fn recv(sock: BorrowedFd<'_>, wait: bool) -> io::Result<Recv> {
    let mut buf = [0u8; MAX_MSG];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut flags = RecvFlags::CMSG_CLOEXEC;
    if !wait {
        flags |= RecvFlags::DONTWAIT;
    }
    let got = loop {
        match recvmsg(sock, &mut [IoSliceMut::new(&mut buf)], &mut control, flags) {
            Ok(got) => break got,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) if !wait => return Ok(Recv::Empty),
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    if got.bytes == 0 {
        // The end of the channel, or an empty datagram (which is no message): only a hang-up
        // tells them apart.
        return Ok(if hung_up(sock) {
            Recv::Closed
        } else {
            Recv::Bad(Bad::Empty)
        });
    }
    match Msg::decode(&buf[..got.bytes.min(buf.len())]) {
        Ok(m) => Ok(Recv::Msg(m, fds)),
        Err(b) => Ok(Recv::Bad(b)),
    }
}

/// Whether the other end of `sock` is gone.
fn hung_up(sock: BorrowedFd<'_>) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&sock, PollFlags::RDHUP)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR),
        // Cannot tell: take it as gone, as before.
        Err(_) => true,
    }
}

/// A connected pair of channel ends (close-on-exec).
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Bounds how long a send (or receive) on `sock` may block.
pub fn set_timeouts(sock: impl AsFd, send: std::time::Duration, recv: std::time::Duration) {
    use rustix::net::sockopt::{set_socket_timeout, Timeout};
    let _ = set_socket_timeout(&sock, Timeout::Send, Some(send));
    let _ = set_socket_timeout(&sock, Timeout::Recv, Some(recv));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn all() -> Vec<Msg> {
        vec![
            Msg::Hold {
                id: 7,
                pid: 1234,
                start_time: 99,
                status: None,
                tags: vec![0, 1, 2],
            },
            Msg::Hold {
                id: u64::MAX,
                pid: i32::MAX,
                start_time: 0,
                status: Some(0x0100),
                tags: vec![],
            },
            Msg::Close { id: 3, tag: 0 },
            Msg::End { id: 3 },
            Msg::Exit {
                id: 3,
                pid: 5,
                status: 9,
            },
            Msg::Synced,
            Msg::Ready { keeper_state: None },
            Msg::Ready {
                keeper_state: Some(1),
            },
            Msg::Bye,
            Msg::Upgrade {
                binary: b"/usr/bin/wrangle".to_vec(),
            },
            Msg::Verdict {
                ok: false,
                reason: "no".into(),
            },
        ]
    }

    #[test]
    fn every_message_reads_back() {
        for m in all() {
            assert_eq!(Msg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn every_cut_short_message_is_refused() {
        for m in all() {
            let b = m.encode();
            for cut in 1..b.len() {
                if let Ok(short) = Msg::decode(&b[..cut]) {
                    // Only messages whose tail is free-form or optional may be cut and
                    // still read.
                    assert!(
                        matches!(short, Msg::Upgrade { .. } | Msg::Verdict { .. })
                            || (cut == 1 && short == Msg::Ready { keeper_state: None }),
                        "{m:?} cut at {cut} read as {short:?}"
                    );
                }
            }
        }
        assert_eq!(Msg::decode(b""), Err(Bad::Empty));
        assert_eq!(Msg::decode(b"Z"), Err(Bad::UnknownKind(b'Z')));
        // A hold claiming more descriptors than it may carry.
        let mut b = Msg::Hold {
            id: 1,
            pid: 1,
            start_time: 1,
            status: None,
            tags: vec![1; 5],
        }
        .encode();
        assert_eq!(Msg::decode(&b), Err(Bad::Short(b'H')));
        b.pop();
        assert_eq!(Msg::decode(&b), Err(Bad::Short(b'H')));
    }

    #[test]
    fn descriptors_travel_with_their_message() {
        let (a, b) = pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        let m = Msg::Hold {
            id: 1,
            pid: 2,
            start_time: 3,
            status: None,
            tags: vec![1],
        };
        send(a.as_fd(), &m, &[r.as_fd()]).unwrap();
        drop(r);
        let Recv::Msg(got, fds) = recv(b.as_fd(), true).unwrap() else {
            panic!("no message");
        };
        assert_eq!(got, m);
        assert_eq!(fds.len(), 1);
        rustix::io::write(&w, b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(rustix::io::read(&fds[0], &mut buf).unwrap(), 1);
        assert!(matches!(recv(b.as_fd(), false).unwrap(), Recv::Empty));
        drop(a);
        assert!(matches!(recv(b.as_fd(), true).unwrap(), Recv::Closed));
    }
}
