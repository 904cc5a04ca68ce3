//! wrangle: a background process manager. One binary holds the daemon (which owns processes,
//! their output and their restarts) and the command-line client; this library exposes the
//! pieces, notably [`client::Client`] for other Rust programs and [`proto`] for the wire format.

#[macro_use]
pub mod error;

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod keeper;
pub mod logs;
pub mod mcp;
pub mod paths;
pub mod proc;
pub mod proto;
pub mod store;
pub mod sys;
pub mod util;

pub use error::{Code, Error, Result};
