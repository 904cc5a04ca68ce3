//! Configuration inputs: services files (`wrangle.json` and Procfiles, wrangle.json(5)) with
//! their position-keeping JSON parser and cron expressions, env files (dotenv syntax), and the
//! daemon's own config.

pub mod cron;
pub mod daemon;
pub mod envfile;
pub mod json;
pub mod services;
