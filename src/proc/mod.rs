//! Processes: spawning with captured pipes, identity (pid + start time), finding a process tree
//! (including descendants that left the group), what a run leaves behind, and signalling only
//! the processes we mean.

pub mod identity;
pub mod kill;
pub mod leftovers;
pub mod net;
pub mod policy;
pub mod spawn;
pub mod supervisor;
