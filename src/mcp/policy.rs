//! What the user lets an agent do: `--read-only` (only tools that change nothing), `--allow`
//! and `--deny` (tools by name), `--own-only` (only entries this agent started, known by their
//! originator `mcp:<client name>`).

use super::tools::{self, Tool};
use crate::error::{Code, Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub read_only: bool,
    /// Empty: every tool.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub own_only: bool,
}

impl Policy {
    /// Checks the tool names given to `--allow` and `--deny`.
    pub fn validate(&self) -> Result<()> {
        for n in self.allow.iter().chain(&self.deny) {
            if tools::find(n).is_none() {
                let names: Vec<&str> = tools::all().iter().map(|t| t.name.as_str()).collect();
                bail!(
                    Code::Usage,
                    "mcp: no tool named {n:?} (tools: {})",
                    names.join(", ")
                );
            }
        }
        Ok(())
    }

    /// Whether the agent may see and call `t`.
    pub fn permits(&self, t: &Tool) -> bool {
        !(self.read_only && t.write)
            && (self.allow.is_empty() || self.allow.contains(&t.name))
            && !self.deny.contains(&t.name)
    }

    /// Why `name` may not be called, if it may not.
    pub fn refusal(&self, name: &str) -> Option<String> {
        let t = tools::find(name)?;
        if self.read_only && t.write {
            return Some(format!(
                "the tool {name} changes things and this server runs with --read-only; \
                 ask the user to run it, or to start `wrangle mcp` without --read-only"
            ));
        }
        if !self.permits(t) {
            return Some(format!(
                "the tool {name} is not allowed here (--allow/--deny); ask the user"
            ));
        }
        None
    }
}

/// The originator recorded on entries an agent starts: `mcp:<client name>`.
pub fn originator(client_name: &str) -> String {
    let clean: String = client_name
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "-_.".contains(c) => c,
            _ => '-',
        })
        .take(64)
        .collect();
    format!("mcp:{}", if clean.is_empty() { "client" } else { &clean })
}

/// An error for the agent.
pub fn denied(msg: String) -> Error {
    Error::new(Code::Usage, msg)
}
