//! Processes: spawning with captured pipes, identity (pid + start time), finding a process tree
//! (including descendants that left the group), signalling only the processes we mean, and
//! sampling what each tree uses.

pub mod identity;
pub mod kill;
pub mod net;
pub mod policy;
pub mod spawn;
pub mod supervisor;
pub mod usage;
