//! What the daemon remembers: the registry of entries (with its selection rules) and the
//! atomic, versioned snapshot files it is saved in.

pub mod persist;
pub mod projects;
pub mod registry;
pub mod snapshot;
pub mod syncer;
