//! Services declared in a services file: `apply` (what `wrangle up` sends for each service:
//! create, leave alone, or rebuild and restart when changed), `down`, profile switches on
//! `restart --profile`, and the per-service timers: `cron_restart` and the idle profile switch.

use super::build::{same_service, variant};
use super::state::Commit;
use super::state::{BatchOp, Daemon, TimerKind};
use crate::config::cron::Cron;
use crate::error::{Code, Result};
use crate::proto::{ActionReply, Selector, ServiceSpec};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::State;
use mio::Token;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The name `restart --profile` takes for "no profile".
pub const BASE_PROFILE: &str = "base";

impl Daemon {
    /// `apply`: makes entry `service.name` run `service`.
    pub(super) fn apply(&mut self, t: Token, req: u32, service: ServiceSpec) -> Result<()> {
        crate::store::registry::validate_name(&service.name)?;
        let existing = self.reg.select(&Selector {
            name: vec![service.name.clone()],
            ..Selector::default()
        })?;
        let Some(&id) = existing.first() else {
            return self.create_service(t, req, service);
        };
        let e = self.reg.get(id).expect("selected entries exist");
        let Some(old) = &e.service else {
            bail!(
                Code::NameTaken,
                "the name {} is taken by {}, which is not a service (rename or remove it first)",
                service.name,
                e.label()
            );
        };
        if old.file != service.file {
            bail!(
                Code::NameTaken,
                "{} is a service of {}, not of {}",
                service.name,
                old.file,
                service.file
            );
        }
        self.touched.insert(id, Instant::now());
        if same_service(old, &service) {
            let alive = e.state.is_alive() || matches!(e.state, State::Backoff);
            if alive || self.builds.running(id) {
                let r = self.result(id, Outcome::Unchanged, None);
                self.reply(t, req, &ActionReply { results: vec![r] });
                return Ok(());
            }
            // Same declaration, not running: `up` starts it (a build first, if it has one).
            self.rebuild_then(
                Some(t),
                req,
                BatchOp::StartService,
                vec![id],
                HashMap::new(),
            );
            return Ok(());
        }
        // Changed: keep the profile in use if the file still has it.
        let profile = e
            .profile
            .clone()
            .filter(|p| service.profiles.contains_key(p));
        let commit = Commit { service, profile };
        self.rebuild_then(
            Some(t),
            req,
            BatchOp::Apply,
            vec![id],
            HashMap::from([(id, commit)]),
        );
        Ok(())
    }

    fn create_service(&mut self, t: Token, req: u32, service: ServiceSpec) -> Result<()> {
        let mut spec = service.base.spec.clone();
        spec.name = Some(service.name.clone());
        let originator = self.rx.conns.get(&t).map(|c| c.client.clone());
        let id = self
            .reg
            .insert(spec, originator.filter(|o| !o.is_empty()))?;
        if let Some(e) = self.reg.get_mut(id) {
            e.event(EventKind::Added, format!("from {}", service.file));
            e.service = Some(Box::new(service));
        }
        self.touched.insert(id, Instant::now());
        self.arm_service_timers(id);
        self.rebuild_then(Some(t), req, BatchOp::Apply, vec![id], HashMap::new());
        Ok(())
    }

    /// `down`: stops and removes the services of `file` (those in `names`, if any: each the
    /// full `PROJECT/NAME` or the plain name within the file).
    pub(super) fn down(&mut self, t: Token, req: u32, file: &str, names: &[String]) -> Result<()> {
        let named = |e: &crate::store::registry::Entry, n: &String| {
            e.name.as_ref().is_some_and(|full| {
                full == n || full.split_once('/').is_some_and(|(_, plain)| plain == n)
            })
        };
        let ids: Vec<u64> = self
            .reg
            .iter()
            .filter(|e| e.service.as_ref().is_some_and(|s| s.file == file))
            .filter(|e| names.is_empty() || names.iter().any(|n| named(e, n)))
            .map(|e| e.id)
            .collect();
        if let Some(missing) = names.iter().find(|n| {
            !ids.iter()
                .any(|&id| self.reg.get(id).is_some_and(|e| named(e, n)))
        }) {
            bail!(
                Code::NoSuchEntry,
                "no service {missing} of {file} is known (see wrangle ls)"
            );
        }
        self.batch(Some(t), req, BatchOp::Remove, ids, None, Vec::new());
        Ok(())
    }

    /// `restart`: services with a build are built first; `profile` switches profiles.
    pub(super) fn restart_request(
        &mut self,
        t: Token,
        req: u32,
        ids: Vec<u64>,
        profile: Option<String>,
    ) -> Result<()> {
        let mut commits = HashMap::new();
        if let Some(p) = &profile {
            for &id in &ids {
                let e = self.reg.get(id).expect("selected entries exist");
                let Some(s) = &e.service else {
                    bail!(
                        Code::Usage,
                        "--profile: {} is not a service (profiles come from a services file)",
                        e.label()
                    );
                };
                let chosen = (p != BASE_PROFILE).then(|| p.clone());
                if variant(s, chosen.as_deref()).is_none() {
                    let known: Vec<&str> = s.profiles.keys().map(|k| k.as_str()).collect();
                    bail!(
                        Code::Usage,
                        "--profile {p}: {} has no such profile (it has: {}{})",
                        e.label(),
                        BASE_PROFILE,
                        known.iter().map(|k| format!(", {k}")).collect::<String>()
                    );
                }
                commits.insert(
                    id,
                    Commit {
                        service: (**s).clone(),
                        profile: chosen,
                    },
                );
            }
        }
        self.rebuild_then(Some(t), req, BatchOp::Restart, ids, commits);
        Ok(())
    }

    /// Notes that a command named entry `id` (for the idle profile switch).
    pub(super) fn touch(&mut self, sel: &Selector) {
        if self.touched.is_empty() {
            return;
        }
        if let Ok(ids) = self.reg.select(sel) {
            let now = Instant::now();
            for id in ids {
                if let Some(t) = self.touched.get_mut(&id) {
                    *t = now;
                }
            }
        }
    }

    /// (Re)arms a service's cron and idle timers from its current declaration.
    pub(super) fn arm_service_timers(&mut self, id: u64) {
        self.clear_service_timers(id);
        let Some(s) = self.reg.get(id).and_then(|e| e.service.clone()) else {
            return;
        };
        self.rearm(id);
        if let Some(idle) = &s.idle_profile {
            self.touched.entry(id).or_insert_with(Instant::now);
            self.set_timer(
                id,
                TimerKind::Idle(id),
                Duration::from_millis(idle.after_ms),
            );
        }
    }

    pub(super) fn clear_service_timers(&mut self, id: u64) {
        for t in self
            .service_timers
            .remove(&id)
            .into_iter()
            .flatten()
            .flatten()
        {
            self.rx.timers.cancel(t);
        }
        self.touched.remove(&id);
    }

    /// A service's cron time `at` came: restart it (build first) if it runs.
    pub(super) fn cron_due(&mut self, id: u64, at: i64) {
        let Some(e) = self.reg.get_mut(id) else {
            return;
        };
        e.cron_fired = Some(at);
        let alive = e.state.is_alive() || e.state == State::Backoff;
        if alive && !self.shutting_down {
            e.event(
                EventKind::CronRestart,
                "restarting at its cron_restart time",
            );
            self.restart_why
                .insert(id, "restarting at its cron_restart time".into());
            self.rebuild_then(None, 0, BatchOp::Restart, vec![id], HashMap::new());
        }
        self.rearm(id);
    }

    /// A service's idle time may be over: switch it to its idle profile, or look again later.
    pub(super) fn idle_due(&mut self, id: u64) {
        let Some(e) = self.reg.get(id) else {
            return;
        };
        let Some(s) = e.service.clone() else {
            return;
        };
        let Some(idle) = s.idle_profile.clone() else {
            return;
        };
        let after = Duration::from_millis(idle.after_ms);
        let since = self.touched.get(&id).map_or(after, |t| t.elapsed());
        if since < after {
            let left = after - since;
            self.set_timer(id, TimerKind::Idle(id), left);
            return;
        }
        let alive = e.state.is_alive() || e.state == State::Backoff;
        if alive && e.profile != idle.profile && !self.shutting_down && !self.builds.running(id) {
            if let Some(e) = self.reg.get_mut(id) {
                e.event(
                    EventKind::Idle,
                    format!(
                        "untouched for {}: switching to {}",
                        crate::util::duration::format(after),
                        idle.profile.as_deref().unwrap_or("the base spec")
                    ),
                );
            }
            self.restart_why.insert(
                id,
                format!(
                    "restarting with its idle profile ({}) after {} untouched",
                    idle.profile.as_deref().unwrap_or("the base spec"),
                    crate::util::duration::format(after)
                ),
            );
            let commit = Commit {
                service: *s,
                profile: idle.profile.clone(),
            };
            self.rebuild_then(
                None,
                0,
                BatchOp::Restart,
                vec![id],
                HashMap::from([(id, commit)]),
            );
        }
        self.touched.insert(id, Instant::now());
        self.set_timer(id, TimerKind::Idle(id), after);
    }

    /// Arms the cron timer for the service's next `cron_restart` time, if it has one.
    fn rearm(&mut self, id: u64) {
        let Some(e) = self.reg.get(id) else {
            return;
        };
        let fired = e.cron_fired;
        let cron = e.service.as_ref().and_then(|s| s.cron_restart.clone());
        if let Some((at, after)) = cron.and_then(|c| next_cron(&c, fired)) {
            self.set_timer(id, TimerKind::Cron(id, at), after);
        }
    }

    /// Sets a service's cron or idle timer, replacing the one of that kind.
    pub(super) fn set_timer(&mut self, id: u64, kind: TimerKind, after: Duration) {
        let slot = usize::from(matches!(kind, TimerKind::Idle(_)));
        let t = self.rx.timers.add(after, kind);
        let slots = self.service_timers.entry(id).or_default();
        if let Some(old) = slots[slot].replace(t) {
            self.rx.timers.cancel(old);
        }
    }
}

/// The next time `expr` names after now and after `fired` (Unix seconds), and how long until
/// then (None if it never does or does not parse).
fn next_cron(expr: &str, fired: Option<i64>) -> Option<(i64, Duration)> {
    let cron = Cron::parse(expr).ok()?;
    let now = crate::util::now_ms();
    let next = cron.next_fire((now / 1000) as i64, fired)?;
    let after = Duration::from_millis((next as u64 * 1000).saturating_sub(now).max(1));
    Some((next, after))
}
