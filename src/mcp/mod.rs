//! `wrangle mcp`: a Model Context Protocol server, so that AI agents run, watch, search and
//! stop background processes through wrangle. It is a client of the daemon like the CLI (it
//! starts the daemon on demand) and never runs inside the daemon's loop. Inside:
//! `jsonrpc.rs` (messages and errors), `revision.rs` (revisions and the stateless `_meta`),
//! `tools.rs` + `tools.json` (the tool table and its schemas), `policy.rs` (what the user lets
//! an agent do), `server.rs` (one conversation), `call/` (each tool family), `resources.rs`
//! and `watch.rs` (entry logs as resources, and their notifications), and the transports
//! `stdio.rs` and `http.rs` (Streamable HTTP with a bearer token, `token.rs`).

pub mod call;
pub mod http;
pub mod jsonrpc;
pub mod policy;
pub mod resources;
pub mod revision;
pub mod server;
pub mod stdio;
pub mod token;
pub mod tools;
pub mod watch;

pub use policy::Policy;
