//! Bringing a services file's services up from a client, as `wrangle up` and MCP's `up` both
//! do: refuse the whole file if one of its names is taken, then apply each service in start
//! order once every service it comes `after` is ready; one that cannot start says why and the
//! rest go on.

use super::Client;
use crate::error::{Code, Result};
use crate::proto::{ActionResult, Outcome, Selector, ServiceSpec};
use crate::util::label;
use std::collections::BTreeMap;
use std::time::Duration;

impl Client {
    /// Refuses the whole file (`name_taken`, exit status 4) if any of `chosen`'s names is
    /// taken by an entry that is not that service of the same file: nothing is applied, rather
    /// than half of it.
    pub fn check_service_names(&mut self, chosen: &[ServiceSpec]) -> Result<()> {
        let mut taken: Vec<String> = Vec::new();
        for e in self.list(&Selector::default())? {
            let Some(n) = &e.name else { continue };
            let Some(s) = chosen.iter().find(|s| &s.name == n) else {
                continue;
            };
            match e.service_file.as_deref() {
                Some(f) if f == s.file => {}
                Some(f) => taken.push(format!("{n} is a service of {f}")),
                None => taken.push(format!(
                    "{n} is taken by {}, which is not a service",
                    label(e.id, &e.name)
                )),
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        crate::bail!(
            Code::NameTaken,
            "nothing was applied: {} (rename or remove {} first)",
            taken.join("; "),
            if taken.len() == 1 { "it" } else { "them" }
        )
    }

    /// Applies `chosen` (in start order) one by one, each once the services it comes after
    /// are ready. `each` sees every result as it comes, with whether the service was not
    /// started because of a dependency. Only losing the daemon is an error.
    pub fn apply_in_order(
        &mut self,
        chosen: &[ServiceSpec],
        mut each: impl FnMut(&ActionResult, bool),
    ) -> Result<Vec<ActionResult>> {
        let mut results = Vec::new();
        // Services that are not ready, and why.
        let mut not_ready: BTreeMap<String, String> = BTreeMap::new();
        for s in chosen {
            let blocked = s.after.iter().find_map(|dep| {
                if let Some(why) = not_ready.get(dep) {
                    return Some(format!("{dep} is not ready ({why})"));
                }
                let timeout = chosen
                    .iter()
                    .find(|d| &d.name == dep)
                    .map(|d| Duration::from_millis(d.base.ready.timeout_ms));
                match self.wait_for(&Selector::target(dep.clone()), timeout, None, None, true) {
                    Ok(_) => None,
                    Err(e) => {
                        not_ready.insert(dep.clone(), e.message.clone());
                        Some(format!("{dep} is not ready: {}", e.message))
                    }
                }
            });
            let (r, was_blocked) = match blocked {
                Some(why) => {
                    not_ready.insert(s.name.clone(), "not started".into());
                    (failed(s, format!("not started: {why}")), true)
                }
                None => {
                    let r = match self.apply(s) {
                        Ok(r) => r,
                        Err(e) if e.code == Code::Daemon => return Err(e),
                        // One service refused (e.g. its name is taken): say so, go on.
                        Err(e) => failed(s, e.message),
                    };
                    if r.outcome == Outcome::Failed {
                        not_ready.insert(s.name.clone(), "it failed".into());
                    }
                    (r, false)
                }
            };
            each(&r, was_blocked);
            results.push(r);
        }
        Ok(results)
    }
}

/// The result of a service that was not applied.
fn failed(s: &ServiceSpec, message: String) -> ActionResult {
    ActionResult {
        id: 0,
        name: Some(s.name.clone()),
        outcome: Outcome::Failed,
        pid: None,
        message: Some(message),
    }
}
