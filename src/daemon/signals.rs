//! The signals the daemon reads as events from its signalfd (see [`crate::sys::signalfd`]).

/// The signals the daemon handles through its signalfd.
pub const HANDLED: [i32; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
