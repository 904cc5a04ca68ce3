//! `wrangle mcp`: the Model Context Protocol server on stdio, or on Streamable HTTP.

use super::Exit;
use crate::error::Result;
use crate::mcp::{self, Policy};
use crate::paths::Paths;
use argh::FromArgs;

/// serve the Model Context Protocol to AI agents (stdio, or Streamable HTTP with --http)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mcp")]
pub struct McpCmd {
    /// serve Streamable HTTP on this address (e.g. 127.0.0.1:8765) instead of stdio
    #[argh(option)]
    pub http: Option<String>,
    /// expose only the tools that change nothing (list, status, logs, wait_for, events)
    #[argh(switch)]
    pub read_only: bool,
    /// expose only these tools (comma-separated names)
    #[argh(option)]
    pub allow: Vec<String>,
    /// hide these tools (comma-separated names)
    #[argh(option)]
    pub deny: Vec<String>,
    /// let the agent see and change only the entries it started itself
    #[argh(switch)]
    pub own_only: bool,
    /// print the HTTP bearer token (made on first use) and exit
    #[argh(switch)]
    pub print_token: bool,
}

fn names(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn mcp(paths: Paths, c: McpCmd) -> Result<Exit> {
    if c.print_token {
        println!("{}", mcp::token::load_or_make(&paths)?);
        return Ok(0);
    }
    let policy = Policy {
        read_only: c.read_only,
        allow: names(&c.allow),
        deny: names(&c.deny),
        own_only: c.own_only,
    };
    policy.validate()?;
    match c.http {
        Some(addr) => {
            mcp::http::serve(paths, policy, &addr)?;
        }
        None => {
            let server = mcp::server::Server::new(paths.clone(), policy);
            mcp::stdio::serve(server, paths)?;
        }
    }
    Ok(0)
}
