//! The wire protocol between clients and the daemon, standing alone (no sockets, no daemon
//! state). man/wrangle-protocol.7 is its prose description; the golden-byte tests in
//! `frame.rs` hold the code to it.
//!
//! Every message is a frame: a 12-byte header (payload length, kind, channel, reserved, id)
//! followed by the payload. Control messages (hello, requests, responses, errors, events)
//! carry JSON; data frames carry raw process bytes. A connection opens with HELLO/WELCOME,
//! which agree on a protocol version. Requests carry an id that their response (and any
//! stream of events or data that belongs to them) echoes, so a client may pipeline.

pub mod frame;
pub mod kinds;
pub mod msg;
pub mod reply;
pub mod spec;
pub mod validate;

pub use frame::{Decoder, Frame, FrameKind, HEADER_LEN, MAX_PAYLOAD};
pub use kinds::{EventKind, Outcome};
pub use msg::*;
pub use reply::*;
pub use spec::*;

/// Protocol versions this build speaks, oldest first.
pub const VERSIONS: &[u32] = &[1];
