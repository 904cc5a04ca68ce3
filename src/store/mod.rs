//! What the daemon remembers: the registry of entries (with its selection rules), the
//! snapshot and journal it is saved in, and atomic, versioned state files.

pub mod compact;
pub mod journal;
pub mod legacy;
pub mod load;
pub mod persist;
pub mod projects;
pub mod record;
pub mod registry;
pub mod snapshot;
pub mod syncer;
