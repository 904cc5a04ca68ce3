//! Processes: spawning with captured pipes (started the vfork way), identity (pid + start time), finding a process tree
//! (including descendants that left the group), what a run leaves behind, signalling only the
//! processes we mean, sampling what each tree uses, and each entry's life as a state machine
//! with its restart policy.

pub mod identity;
pub mod kill;
pub mod launch;
pub mod leftovers;
pub mod net;
pub mod pipe;
pub mod policy;
pub mod spawn;
pub mod supervisor;
pub mod usage;
pub mod wait;
