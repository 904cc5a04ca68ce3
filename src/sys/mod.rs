//! Thin, safe wrappers over the system calls rustix lacks, shared by the daemon and the CLI.
//! The `unsafe` they need lives here, each block with its reason.

pub mod errno;
pub mod signalfd;
