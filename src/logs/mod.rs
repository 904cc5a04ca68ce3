//! Captured output: the bounded in-memory ring that followers read from, and the per-run log
//! files (a plain byte-exact `.log` plus a `.idx` of chunk records) with their readers.

pub mod bytes;
pub mod file;
pub mod pattern;
pub mod read;
pub mod ring;
pub mod scan;
pub mod search;

/// Stream numbers, shared with the protocol's DATA channels.
pub use crate::proto::frame::chan::{STDERR, STDOUT};
