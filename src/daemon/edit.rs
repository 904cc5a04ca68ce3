//! `edit`: changing an entry's spec in place, keeping its id, name, labels and logs. The new
//! spec is what the entry's next start spawns (a restart, a backoff's, `start`); the running
//! process, if any, keeps running as it was started, as it does when `restart --profile`
//! swaps a service's spec before its restart. With `restart_now` a running entry is restarted
//! at once through the same path as `restart`.

use super::state::{BatchOp, Daemon};
use crate::error::{Code, Result};
use crate::proto::{ActionReply, EventKind, Outcome, RunSpec, Selector, SpecChange};
use crate::store::registry::State;
use mio::Token;

/// `spec` with `change` applied.
fn changed(spec: &RunSpec, change: &SpecChange) -> RunSpec {
    let mut s = spec.clone();
    if let Some(a) = &change.argv {
        s.argv = a.clone();
        s.shell = change.shell.unwrap_or(false);
    } else if let Some(sh) = change.shell {
        s.shell = sh;
    }
    if !change.env.is_empty() || !change.unset_env.is_empty() {
        let mut env = (*s.env).clone();
        for k in &change.unset_env {
            env.remove(k);
        }
        for (k, v) in &change.env {
            env.insert(k.clone(), v.clone());
        }
        s.env = std::sync::Arc::new(env);
    }
    if let Some(c) = &change.cwd {
        s.cwd = c.clone();
    }
    if let Some(r) = change.restart {
        s.restart = r;
    }
    if let Some(m) = change.max_restarts {
        s.max_restarts = m;
    }
    if let Some(b) = change.backoff {
        s.backoff = b;
    }
    if let Some(m) = change.min_uptime_ms {
        s.min_uptime_ms = m;
    }
    if let Some(sig) = change.stop_signal {
        s.stop_signal = Some(sig);
    }
    if let Some(t) = change.stop_timeout_ms {
        s.stop_timeout_ms = t;
    }
    s
}

/// What changed, for the entry's `updated` event.
fn what_changed(change: &SpecChange) -> String {
    let mut parts = Vec::new();
    if change.argv.is_some() {
        parts.push("command".to_string());
    } else if change.shell.is_some() {
        parts.push("shell".into());
    }
    let env: Vec<&str> = change
        .env
        .keys()
        .chain(change.unset_env.iter())
        .map(String::as_str)
        .collect();
    if !env.is_empty() {
        parts.push(format!("environment ({})", env.join(", ")));
    }
    for (set, name) in [
        (change.cwd.is_some(), "working folder"),
        (change.restart.is_some(), "restart policy"),
        (change.max_restarts.is_some(), "max restarts"),
        (change.backoff.is_some(), "backoff"),
        (change.min_uptime_ms.is_some(), "min uptime"),
        (change.stop_signal.is_some(), "stop signal"),
        (change.stop_timeout_ms.is_some(), "stop timeout"),
    ] {
        if set {
            parts.push(name.into());
        }
    }
    format!("spec edited: {}", parts.join(", "))
}

impl Daemon {
    pub(super) fn edit_request(
        &mut self,
        t: Token,
        req: u32,
        sel: &Selector,
        change: &SpecChange,
        restart_now: bool,
    ) -> Result<()> {
        if *change == SpecChange::default() {
            bail!(Code::Usage, "edit: nothing to change");
        }
        let ids = self.reg.select_for_change(sel, "edit")?;
        // Every entry is checked before any is changed: all or nothing.
        let mut specs = Vec::new();
        for &id in &ids {
            let Some(e) = self.reg.get(id) else {
                continue;
            };
            if e.service.is_some() {
                bail!(
                    Code::Usage,
                    "edit: {} is a service of {}: change the services file and run wrangle up",
                    e.label(),
                    e.service.as_ref().map_or("", |s| s.file.as_str())
                );
            }
            if e.foreign && e.state.is_alive() {
                bail!(
                    Code::Usage,
                    "edit: {} is a process adopted with add, not started by wrangle; \
                     it has no spec to change while it runs",
                    e.label()
                );
            }
            let spec = changed(&e.spec, change);
            crate::proto::validate::edited_spec(&spec)?;
            specs.push((id, spec));
        }
        let what = what_changed(change);
        let mut running = Vec::new();
        let mut results = Vec::new();
        for (id, mut spec) in specs {
            // The labels stay the entry's own.
            if let Some(e) = self.reg.get(id) {
                spec.tags = e.tags.iter().cloned().collect();
                spec.groups = e.groups.iter().cloned().collect();
            }
            self.reg.replace_spec(id, spec)?;
            let Some(e) = self.reg.get_mut(id) else {
                continue;
            };
            e.event(EventKind::Updated, what.clone());
            if restart_now && (e.state.is_alive() || e.state == State::Backoff) {
                running.push(id);
            } else {
                results.push(self.result(id, Outcome::Edited, None));
            }
        }
        if running.is_empty() {
            self.reply(t, req, &ActionReply { results });
        } else {
            // A restart as `restart` does it (no services here, so no build first); the reply
            // comes once it is done, with the entries that were not running as well.
            self.batch(Some(t), req, BatchOp::Restart, running, None, results);
        }
        Ok(())
    }
}
