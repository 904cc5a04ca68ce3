//! One client connection: its incremental frame decoder, its output buffer (with a high
//! watermark for streamed data and for reading requests), its handshake state and the streams
//! it follows.
//!
//! What one connection can make the daemon hold is bounded: undecoded input by the decoder
//! (one partial frame plus one read, see [`crate::proto::Decoder`]); output by [`HIGH_WATER`]
//! plus the answer to one request, because no request is read while the backlog is above the
//! watermark; and [`HARD_LIMIT`] drops a connection whose backlog still grows past it.

use crate::proto::frame::{encode, FrameKind};
use crate::proto::{Decoder, ErrorBody};
use mio::net::UnixStream;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{self, Write};

/// Streamed data stops being queued for a connection above this many unsent bytes; the reader
/// then catches up from the ring or is told what it missed. No request is read from a
/// connection whose backlog is at or above it, until flushing brings it below.
pub const HIGH_WATER: usize = 1 << 20;
/// Control messages beyond this many unsent bytes mean the peer is not reading at all: drop it.
pub const HARD_LIMIT: usize = 64 << 20;

/// The longest error message sent: even escaped 6 times over in JSON it fits in a frame.
const MAX_ERROR_MESSAGE: usize = 64 << 10;

/// A stream of an entry's output to this connection.
pub struct Follow {
    pub req: u32,
    pub entry: u64,
    /// The next sequence number to send.
    pub seq: u64,
    /// Bitmask of streams wanted: 1 stdout, 2 stderr.
    pub streams: u8,
    /// The run whose output was last sent (a `run` event announces each new one).
    pub run: u32,
    /// An attach: tell the client when the process ends.
    pub notify_exit: bool,
    /// The run ended: once `seq` reaches this, send `exited` and end the stream.
    pub exit_at: Option<(u64, Option<i32>, Option<i32>)>,
}

/// Input from this connection to an entry's standard input.
pub struct InputBind {
    pub req: u32,
    pub entry: u64,
    /// `send`: ends with an empty DATA frame (then a reply); `attach`: lasts the attach.
    pub send: bool,
    /// Close the input after (send --eof).
    pub eof: bool,
    pub bytes: u64,
}

/// A subscription to lifecycle events and/or log lines.
pub struct Sub {
    pub req: u32,
    pub sel: crate::proto::Selector,
    /// Entries named by the selector's targets (None: every entry, even later ones).
    pub ids: Option<std::collections::HashSet<u64>>,
    /// 1 lifecycle events, 2 log lines.
    pub types: u8,
    /// Events dropped since the last one delivered.
    pub missed: u64,
}

/// The empty reply `{}` (a request done with nothing to say, or a stream's end).
#[derive(Serialize)]
pub struct Empty {}

pub struct Conn {
    pub stream: UnixStream,
    pub dec: Decoder,
    out: Vec<u8>,
    out_pos: usize,
    pub greeted: bool,
    /// Set when the connection must close once its output is flushed.
    pub closing: bool,
    /// Who the client said it is (HELLO), recorded as originator.
    pub client: String,
    /// Ids of this connection's requests not answered yet: from their REQUEST frame until a
    /// RESPONSE or ERROR with their id is queued (a stream until it ends). A REQUEST reusing
    /// one of them is refused, since its answers could not be told apart.
    pub in_flight: HashSet<u32>,
    pub follows: Vec<Follow>,
    pub subs: Vec<Sub>,
    pub inputs: Vec<InputBind>,
    /// Not reading from this connection until entry N's input buffer drains.
    pub paused_on: Option<u64>,
    /// The frame that paused the connection, to process first on resume.
    pub stalled: Option<crate::proto::Frame>,
    /// Not reading from this connection until its backlog falls below [`HIGH_WATER`].
    pub backlogged: bool,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Conn {
        Conn {
            stream,
            dec: Decoder::new(),
            out: Vec::new(),
            out_pos: 0,
            greeted: false,
            closing: false,
            client: String::new(),
            in_flight: HashSet::new(),
            follows: Vec::new(),
            subs: Vec::new(),
            inputs: Vec::new(),
            paused_on: None,
            stalled: None,
            backlogged: false,
        }
    }

    /// Unsent bytes.
    /// Takes the output queued so far without sending it (handlers' unit tests).
    #[cfg(test)]
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.out.split_off(self.out_pos);
        self.out.clear();
        self.out_pos = 0;
        out
    }

    pub fn backlog(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queues one frame. A RESPONSE or ERROR is the final answer to request `id`.
    pub fn frame(&mut self, kind: FrameKind, chan: u8, id: u32, payload: &[u8]) {
        if matches!(kind, FrameKind::Response | FrameKind::Error) {
            self.in_flight.remove(&id);
        }
        if let Err(e) = encode(&mut self.out, kind, chan, id, payload) {
            // Only a reply can be this big; say so instead of sending it.
            self.error(
                id,
                "internal",
                &format!("the reply is too large to send: {e}"),
            );
        }
    }

    /// Queues a JSON control frame.
    pub fn json<T: Serialize>(&mut self, kind: FrameKind, id: u32, value: &T) {
        match serde_json::to_vec(value) {
            Ok(bytes) => self.frame(kind, 0, id, &bytes),
            Err(e) => self.error(id, "internal", &format!("cannot encode reply: {e}")),
        }
    }

    /// Queues an ERROR frame, the final answer to request `id`. A message too long to send
    /// (one quoting a huge value from the client) is cut short, so that the answer goes out.
    pub fn error(&mut self, id: u32, code: &str, message: &str) {
        self.in_flight.remove(&id);
        let mut message = message.to_string();
        if message.len() > MAX_ERROR_MESSAGE {
            let mut cut = MAX_ERROR_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("... (cut short)");
        }
        let body = ErrorBody {
            code: code.to_string(),
            message,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let _ = encode(&mut self.out, FrameKind::Error, 0, id, &bytes);
    }

    /// Writes queued bytes until the socket would block. Err means the peer is gone.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 4 * HIGH_WATER {
                self.out.shrink_to(HIGH_WATER);
            }
        } else if self.out_pos > HIGH_WATER {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        if self.backlog() > HARD_LIMIT {
            return Err(io::Error::other("client is not reading its replies"));
        }
        Ok(())
    }
}
