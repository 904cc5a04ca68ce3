//! Framing: encode a frame, and a bounded incremental decoder that checks every length before
//! allocating.
//!
//! Header (12 bytes, integers big-endian):
//! `len: u32` payload bytes | `kind: u8` | `chan: u8` | `reserved: u16 = 0` | `id: u32`.

use std::fmt;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;
/// The largest payload accepted (4 MiB). Checked before anything is allocated.
pub const MAX_PAYLOAD: usize = 4 << 20;
/// The most a reader feeds a [`Decoder`] at once.
pub const READ_CHUNK: usize = 64 << 10;
/// The most undecoded input a [`Decoder`] holds when fed at most [`READ_CHUNK`] bytes at a
/// time, and only when it has no complete frame.
pub const MAX_BUFFERED: usize = HEADER_LEN + MAX_PAYLOAD + READ_CHUNK;

/// Frame kinds. Unknown kinds decode (so a peer can answer them) but are not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Client → daemon, first frame: JSON `{"versions":[1],"client":"..."}`.
    Hello = 1,
    /// Daemon → client, answer to HELLO: JSON `{"version":1,"daemon":"...","pid":N}`.
    Welcome = 2,
    /// Client → daemon: a JSON request; `id` chosen by the client.
    Request = 3,
    /// Daemon → client: the final JSON answer to request `id`.
    Response = 4,
    /// Daemon → client: request `id` failed, JSON `{"code":"...","message":"..."}`.
    Error = 5,
    /// Daemon → client: one JSON event of a stream opened by request `id`.
    Event = 6,
    /// Either way: raw bytes of a stream opened by request `id`; `chan` says which stream.
    Data = 7,
}

impl FrameKind {
    pub fn from_u8(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Hello,
            2 => FrameKind::Welcome,
            3 => FrameKind::Request,
            4 => FrameKind::Response,
            5 => FrameKind::Error,
            6 => FrameKind::Event,
            7 => FrameKind::Data,
            _ => return None,
        })
    }
}

/// Channels of DATA frames.
pub mod chan {
    /// Not a data frame.
    pub const NONE: u8 = 0;
    /// The process's standard output (or its terminal's output).
    pub const STDOUT: u8 = 1;
    /// The process's standard error.
    pub const STDERR: u8 = 2;
    /// Input for the process.
    pub const STDIN: u8 = 3;
}

/// One decoded frame. `kind` is the raw byte so that unknown kinds can be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub chan: u8,
    pub id: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn kind(&self) -> Option<FrameKind> {
        FrameKind::from_u8(self.kind)
    }
}

/// Appends one encoded frame to `out`; a payload over [`MAX_PAYLOAD`] is refused (nothing is
/// appended), so senders split big messages (data is chunked far below the limit, long lists
/// are sent in parts).
pub fn encode(
    out: &mut Vec<u8>,
    kind: FrameKind,
    chan: u8,
    id: u32,
    payload: &[u8],
) -> Result<(), FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(payload.len()));
    }
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.push(kind as u8);
    out.push(chan);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Why a byte stream is not valid framing. After any of these the stream cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The header announced more than [`MAX_PAYLOAD`] bytes.
    TooLarge(usize),
    /// The reserved header bytes were not zero.
    Reserved(u16),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge(n) => {
                write!(f, "frame of {n} bytes is over the {MAX_PAYLOAD}-byte limit")
            }
            FrameError::Reserved(r) => write!(f, "reserved header bytes are {r:#06x}, not zero"),
        }
    }
}

/// An incremental decoder: feed it bytes as they arrive, take frames out as they complete.
///
/// Bound: a reader that feeds it only when [`Decoder::next_frame`] gave `Ok(None)` (as the
/// daemon does, [`READ_CHUNK`] bytes at a time) never makes it hold more than
/// [`MAX_BUFFERED`] bytes: one partial frame (at most a header plus [`MAX_PAYLOAD`]) and one
/// read. Its buffer grows with the bytes actually received (a header alone reserves nothing;
/// the allocation is at most twice what it holds) and is given back once emptied.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // A big frame's buffer is not kept by a connection that went quiet.
            if self.buf.capacity() > 2 * READ_CHUNK {
                self.buf.shrink_to(READ_CHUNK);
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(FrameError::TooLarge(len));
        }
        let reserved = u16::from_be_bytes([avail[6], avail[7]]);
        if reserved != 0 {
            return Err(FrameError::Reserved(reserved));
        }
        if avail.len() < HEADER_LEN + len {
            self.compact();
            return Ok(None);
        }
        let frame = Frame {
            kind: avail[4],
            chan: avail[5],
            id: u32::from_be_bytes([avail[8], avail[9], avail[10], avail[11]]),
            payload: avail[HEADER_LEN..HEADER_LEN + len].to_vec(),
        };
        self.pos += HEADER_LEN + len;
        Ok(Some(frame))
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes_of_a_request() {
        let mut out = Vec::new();
        encode(
            &mut out,
            FrameKind::Request,
            chan::NONE,
            7,
            br#"{"op":"ping"}"#,
        )
        .unwrap();
        let mut want = vec![0, 0, 0, 13, 3, 0, 0, 0, 0, 0, 0, 7];
        want.extend_from_slice(br#"{"op":"ping"}"#);
        assert_eq!(out, want);
    }

    #[test]
    fn golden_bytes_of_a_data_frame_and_empty_payload() {
        let mut out = Vec::new();
        encode(
            &mut out,
            FrameKind::Data,
            chan::STDERR,
            0x01020304,
            &[0xff, 0x00],
        )
        .unwrap();
        assert_eq!(out, [0, 0, 0, 2, 7, 2, 0, 0, 1, 2, 3, 4, 0xff, 0x00]);
        out.clear();
        encode(&mut out, FrameKind::Data, chan::STDIN, 1, &[]).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 7, 3, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn decodes_frames_split_at_every_offset() {
        let mut wire = Vec::new();
        encode(&mut wire, FrameKind::Hello, 0, 0, br#"{"versions":[1]}"#).unwrap();
        encode(&mut wire, FrameKind::Data, chan::STDOUT, 9, &[0u8; 0]).unwrap();
        encode(
            &mut wire,
            FrameKind::Data,
            chan::STDOUT,
            9,
            &(0..=255).collect::<Vec<u8>>(),
        )
        .unwrap();
        for split in 0..=wire.len() {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                d.feed(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 3, "split at {split}");
            assert_eq!(got[0].kind(), Some(FrameKind::Hello));
            assert!(got[1].payload.is_empty());
            assert_eq!(got[2].payload, (0..=255).collect::<Vec<u8>>());
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut wire = Vec::new();
        encode(&mut wire, FrameKind::Request, 0, 42, b"{}").unwrap();
        let mut d = Decoder::new();
        for (i, b) in wire.iter().enumerate() {
            d.feed(std::slice::from_ref(b));
            let f = d.next_frame().unwrap();
            assert_eq!(f.is_some(), i == wire.len() - 1);
        }
    }

    #[test]
    fn max_length_accepted_and_one_more_refused_before_allocation() {
        let mut d = Decoder::new();
        d.feed(&(MAX_PAYLOAD as u32).to_be_bytes());
        d.feed(&[3, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(d.next_frame(), Ok(None));
        let mut d = Decoder::new();
        d.feed(&(MAX_PAYLOAD as u32 + 1).to_be_bytes());
        d.feed(&[3, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge(MAX_PAYLOAD + 1)));
        let mut d = Decoder::new();
        d.feed(&[0xff; HEADER_LEN]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn oversized_payloads_are_refused_not_encoded() {
        let mut out = Vec::new();
        let big = vec![0u8; MAX_PAYLOAD + 1];
        assert_eq!(
            encode(&mut out, FrameKind::Response, 0, 1, &big),
            Err(FrameError::TooLarge(MAX_PAYLOAD + 1))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn reserved_bytes_must_be_zero_and_unknown_kinds_decode() {
        let mut d = Decoder::new();
        d.feed(&[0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(d.next_frame(), Err(FrameError::Reserved(1)));
        let mut d = Decoder::new();
        d.feed(&[0, 0, 0, 1, 200, 0, 0, 0, 0, 0, 0, 5, b'x']);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.kind, f.kind(), f.id), (200, None, 5));
    }

    /// Property: any sequence of frames, encoded and fed in arbitrary chunks (as the daemon
    /// reads, never more than READ_CHUNK at once and only when no frame is complete), decodes
    /// to the same frames, and the decoder never holds more than MAX_BUFFERED.
    #[test]
    fn property_any_frames_in_any_chunks_decode_to_themselves() {
        use crate::util::prop::{cases, Rng};
        for seed in 1..=cases(300) as u64 {
            let mut rng = Rng::new(seed);
            let mut sent = Vec::new();
            let mut wire = Vec::new();
            for _ in 0..rng.below(20) {
                let len = match rng.below(10) {
                    0 => 0,
                    1 => READ_CHUNK + rng.below(3 * READ_CHUNK),
                    2 if rng.one_in(20) => MAX_PAYLOAD - rng.below(2),
                    _ => rng.below(300),
                };
                let f = Frame {
                    kind: *rng.pick(&[1u8, 2, 3, 4, 5, 6, 7]),
                    chan: rng.below(4) as u8,
                    id: rng.word() as u32,
                    payload: rng.bytes(len),
                };
                let kind = FrameKind::from_u8(f.kind).unwrap();
                encode(&mut wire, kind, f.chan, f.id, &f.payload).unwrap();
                sent.push(f);
            }
            let mut d = Decoder::new();
            let mut got = Vec::new();
            let mut at = 0;
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) if at == wire.len() => break,
                    Ok(None) => {
                        let n = (1 + rng.below(READ_CHUNK)).min(wire.len() - at);
                        d.feed(&wire[at..at + n]);
                        at += n;
                        assert!(d.pending() <= MAX_BUFFERED, "seed {seed}");
                    }
                    Err(e) => panic!("seed {seed}: {e}"),
                }
            }
            assert_eq!(got, sent, "seed {seed}");
            assert_eq!(d.pending(), 0, "seed {seed}");
        }
    }

    /// Property: arbitrary bytes never panic the decoder; it yields frames until it reports
    /// an error or runs out of input, and never holds more than MAX_BUFFERED.
    #[test]
    fn property_arbitrary_bytes_decode_or_fail_cleanly() {
        use crate::util::prop::{cases, Rng};
        for seed in 1..=cases(2000) as u64 {
            let mut rng = Rng::new(seed);
            let n = rng.below(200);
            let mut wire = rng.bytes(n);
            if rng.one_in(2) {
                // A plausible header first: a small length, zero reserved bytes.
                let len = rng.below(64) as u32;
                let mut h = len.to_be_bytes().to_vec();
                h.extend([rng.word() as u8, rng.word() as u8, 0, 0]);
                h.extend(rng.bytes(4));
                h.extend(wire);
                wire = h;
            }
            let mut d = Decoder::new();
            let mut at = 0;
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => assert!(f.payload.len() <= MAX_PAYLOAD),
                    Ok(None) if at == wire.len() => break,
                    Ok(None) => {
                        let n = (1 + rng.below(40)).min(wire.len() - at);
                        d.feed(&wire[at..at + n]);
                        at += n;
                        assert!(d.pending() <= MAX_BUFFERED, "seed {seed}");
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
