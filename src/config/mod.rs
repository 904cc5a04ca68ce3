//! Configuration inputs: env files (dotenv syntax) today; services files and the daemon config
//! build on this module.

pub mod daemon;
pub mod envfile;
