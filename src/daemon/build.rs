//! Build-then-swap for services with a `build` step: the build runs as its own logged process
//! (`logs/ID/build/N.log`) while the old process keeps serving; only a successful build lets
//! the restart go on (stop the old process, start the new spec). A failed build leaves the old
//! process untouched and the restart fails with the build log's tail. Also where a service's
//! new spec (from `up` or a profile switch) is committed to its entry.

use super::reactor::Source;
use super::state::{BatchOp, Build, Commit, Daemon, Pending, PendingKind};
use crate::error::{Code, Error, Result};
use crate::logs::file::{Rotation, RunWriter};
use crate::proc::spawn;
use crate::proc::supervisor::{Input, Refusal};
use crate::proto::{ActionResult, RunSpec, ServiceSpec, Variant};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::shell_quote;
use crate::util::signal::describe_end;
use mio::Token;
use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

/// How much of a build's output is kept in memory for the failure message.
const TAIL_BYTES: usize = 2048;
/// Build logs kept per entry.
const BUILDS_KEPT: u32 = 5;

/// The variant of `service` for `profile` (None: the base).
pub(super) fn variant<'a>(service: &'a ServiceSpec, profile: Option<&str>) -> Option<&'a Variant> {
    match profile {
        None => Some(&service.base),
        Some(p) => service.profiles.get(p),
    }
}

/// Whether two declarations of a service are the same for `up` (the inherited part of the
/// environment aside: only what the file declares counts).
pub(super) fn same_service(a: &ServiceSpec, b: &ServiceSpec) -> bool {
    fn strip(s: &ServiceSpec) -> ServiceSpec {
        let mut s = s.clone();
        for v in std::iter::once(&mut s.base).chain(s.profiles.values_mut()) {
            v.spec.env = Default::default();
            // Compared by effect: a declaration without stop_signal equals one stored with
            // the signal that default gives (as older versions stored it).
            v.spec.stop_signal = Some(v.spec.effective_stop_signal());
        }
        s
    }
    strip(a) == strip(b)
}

impl Daemon {
    pub(super) fn build_dir(&self, id: u64) -> PathBuf {
        self.log_dir(id).join("build")
    }

    /// Starts rebuilding entry `id` for `commit` (or its current spec). Returns false when
    /// there is nothing to build: the commit is then applied at once.
    pub(super) fn begin_build(&mut self, id: u64, commit: Option<Commit>) -> Result<bool> {
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let (service, profile) = match &commit {
            Some(c) => (Some(&c.service), c.profile.clone()),
            None => (e.service.as_deref(), e.profile.clone()),
        };
        let Some(service) = service else {
            return Ok(false);
        };
        let Some(v) = variant(service, profile.as_deref()) else {
            bail!(Code::Usage, "{}: no profile {:?}", e.label(), profile);
        };
        if v.build.is_none() {
            if let Some(c) = commit {
                self.apply_commit(id, c)?;
            }
            return Ok(false);
        }
        let label = e.label();
        self.builds.next.insert(id, commit);
        self.sup(id).failure = None;
        let fed = self.feed(id, Input::Build);
        self.builds.next.remove(&id);
        match fed {
            Ok(()) => {}
            Err(Refusal::Busy) => bail!(
                Code::Failed,
                "{label} is stopping; build it again once it has stopped"
            ),
            Err(r) => bail!(Code::Failed, "cannot build {label}: {r:?}"),
        }
        if !self.builds.running(id) {
            // It could not even start.
            return Err(self.sup(id).failure.take().map_or_else(
                || Error::new(Code::Failed, format!("the build of {label} did not start")),
                |e| *e,
            ));
        }
        Ok(true)
    }

    /// Spawns the build of entry `id` (the supervisor's `StartBuild`), for what
    /// [`Self::begin_build`] asked.
    pub(super) fn spawn_build(&mut self, id: u64) -> Result<()> {
        let commit = self.builds.next.remove(&id).flatten();
        let Some(e) = self.reg.get(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        let (service, profile) = match &commit {
            Some(c) => (Some(&c.service), c.profile.clone()),
            None => (e.service.as_deref(), e.profile.clone()),
        };
        let Some(v) = service.and_then(|s| variant(s, profile.as_deref())) else {
            bail!(Code::Usage, "{}: no profile {:?}", e.label(), profile);
        };
        let Some(build) = v.build.clone() else {
            bail!(Code::Failed, "{} has no build step", e.label());
        };
        let mut spec = RunSpec::new(build.argv.clone(), v.spec.cwd.clone());
        spec.shell = build.shell;
        spec.env = v.spec.env.clone();
        let label = e.label();
        let number = e.builds + 1;
        let dir = self.build_dir(id);
        let writer = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|_| {
                RunWriter::create(
                    &dir,
                    number,
                    Rotation {
                        max_size: 0,
                        keep: 0,
                    },
                )
            });
        if number > BUILDS_KEPT {
            crate::logs::file::remove_run(&dir, number - BUILDS_KEPT);
        }
        // A marker of its own: stopping the service's processes never touches its build.
        let instance = format!("{}/build", self.paths.state.display());
        let sp = match spawn::spawn(&spec, id, None, &instance) {
            Ok(sp) => sp,
            Err(err) => {
                let msg = format!(
                    "cannot start the build of {label}: {}: {err}",
                    build.argv.first().map_or("", |s| s.as_str())
                );
                if let Some(e) = self.reg.get_mut(id) {
                    e.builds = number;
                    e.build_state = Some(format!("build {number} failed to start"));
                    e.event(EventKind::BuildFailed, msg.clone());
                }
                bail!(Code::Failed, "{msg}");
            }
        };
        let mut pipes = Vec::new();
        for (fd, _) in sp.outputs {
            match self.register_fd(fd.as_raw_fd(), Source::BuildPipe { id }) {
                Ok(t) => pipes.push((t, fd)),
                Err(err) => log::error!("cannot watch the build output of entry {id}: {err}"),
            }
        }
        let mut writer = writer.ok();
        if writer.is_none() {
            log::warn!(
                "cannot open the build log of entry {id} in {}",
                dir.display()
            );
        }
        let cmd = if build.shell {
            build.argv.join(" ")
        } else {
            let quoted: Vec<String> = build.argv.iter().map(|a| shell_quote(a)).collect();
            quoted.join(" ")
        };
        if let Some(w) = writer.as_mut() {
            let _ = w.flush_index();
        }
        if let Some(e) = self.reg.get_mut(id) {
            e.builds = number;
            e.build_state = Some(format!("build {number} running"));
            e.event(
                EventKind::BuildStarted,
                format!("build {number} started, pid {}: {cmd}", sp.pid),
            );
        }
        self.builds.by_pid.insert(sp.pid, id);
        self.builds.by_entry.insert(
            id,
            Build {
                pid: sp.pid,
                number,
                pipes,
                writer,
                tail: Vec::new(),
                commit,
            },
        );
        Ok(())
    }

    /// Reads a build's output into its log.
    pub(super) fn build_pipe_readable(&mut self, t: Token, id: u64) {
        let Some(b) = self.builds.by_entry.get_mut(&id) else {
            return;
        };
        let Some(fd) = b.pipes.iter().find(|p| p.0 == t).map(|p| p.1.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; 16 << 10];
        // SAFETY: `fd` is owned by the build's `pipes` and stays open for this loop.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        loop {
            match crate::proc::pipe::read_once(bfd, &mut buf) {
                crate::proc::pipe::Read::Data(n) => {
                    let data = &buf[..n];
                    if let Some(w) = b.writer.as_mut() {
                        let _ = w.write(crate::logs::STDOUT, crate::util::now_us(), data);
                    }
                    b.tail.extend_from_slice(data);
                    if b.tail.len() > TAIL_BYTES {
                        let cut = b.tail.len() - TAIL_BYTES;
                        b.tail.drain(..cut);
                    }
                }
                crate::proc::pipe::Read::Dry => break,
                crate::proc::pipe::Read::Eof => {
                    // This pipe is done.
                    if let Some(i) = b.pipes.iter().position(|p| p.0 == t) {
                        let (tok, fd) = b.pipes.remove(i);
                        self.deregister_fd(fd.as_raw_fd(), tok);
                    }
                    break;
                }
            }
        }
        if let Some(w) = self
            .builds
            .by_entry
            .get_mut(&id)
            .and_then(|b| b.writer.as_mut())
        {
            let _ = w.flush_index();
        }
    }

    /// The build of `id` was reaped: record it, then go on with (or give up) the restart.
    pub(super) fn build_reaped(&mut self, id: u64, pid: i32, status: rustix::process::WaitStatus) {
        if self.builds.by_entry.get(&id).is_none_or(|b| b.pid != pid) {
            // A cancelled build: already accounted for.
            return;
        }
        let toks: Vec<Token> = self
            .builds
            .by_entry
            .get(&id)
            .map(|b| b.pipes.iter().map(|p| p.0).collect())
            .unwrap_or_default();
        for t in toks {
            self.build_pipe_readable(t, id);
        }
        let Some(mut b) = self.builds.by_entry.remove(&id) else {
            return;
        };
        for (t, fd) in std::mem::take(&mut b.pipes) {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(w) = b.writer.as_mut() {
            let _ = w.flush_index();
        }
        let ok = status.exit_status() == Some(0);
        let how = describe_end(status.exit_status(), status.terminating_signal())
            .unwrap_or_else(|| "unknown status".into());
        let number = b.number;
        let mut why = if ok {
            None
        } else {
            let tail = String::from_utf8_lossy(&b.tail);
            let lines: Vec<&str> = tail.lines().collect();
            let last = lines[lines.len().saturating_sub(10)..].join("\n");
            Some(format!(
                "build {number} failed ({how}); the old process keeps running. Last lines of the build log (wrangle logs {} --build):\n{last}",
                self.reg.get(id).map_or(id.to_string(), |e| e.name.clone().unwrap_or(id.to_string()))
            ))
        };
        if let Some(e) = self.reg.get_mut(id) {
            if ok {
                e.build_state = Some(format!("build {number} succeeded"));
                e.event(
                    EventKind::BuildSucceeded,
                    format!("build {number} succeeded"),
                );
            } else {
                e.build_state = Some(format!("build {number} failed ({how})"));
                e.event(
                    EventKind::BuildFailed,
                    format!("build {number} failed ({how})"),
                );
            }
        }
        if ok {
            if let Some(c) = b.commit.take() {
                if let Err(err) = self.apply_commit(id, c) {
                    why = Some(err.message);
                }
            }
        }
        // A service that never ran cannot start without its build: its error is short.
        let short = format!("build {number} failed ({how})");
        self.sup(id).failure = why
            .as_ref()
            .map(|w| Box::new(Error::new(Code::Failed, if ok { w.clone() } else { short })));
        self.sup(id).failure_detail = why.as_deref().map(Box::from);
        let _ = self.feed(id, Input::BuildDone { ok: why.is_none() });
    }

    /// Stops a build in progress (the supervisor's `CancelBuild`: a user's stop, restart or
    /// rm wins over it). Its pid stays known until reaped, so the reap is recognized and
    /// ignored.
    pub(super) fn cancel_build(&mut self, id: u64) {
        let Some(mut b) = self.builds.by_entry.remove(&id) else {
            return;
        };
        // Its group: the build's leader and whatever it started (it is our unreaped child).
        let _ = crate::proc::kill::signal_group(b.pid, libc::SIGKILL);
        for (t, fd) in std::mem::take(&mut b.pipes) {
            self.deregister_fd(fd.as_raw_fd(), t);
        }
        if let Some(w) = b.writer.as_mut() {
            let _ = w.flush_index();
        }
        if let Some(e) = self.reg.get_mut(id) {
            e.event(
                EventKind::BuildCancelled,
                format!("build {} cancelled", b.number),
            );
            e.build_state = Some(format!("build {} cancelled", b.number));
        }
        let req_ids: Vec<usize> = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(&p.kind, PendingKind::Rebuild { building, .. } if building.contains(&id)))
            .map(|(i, _)| i)
            .collect();
        for i in req_ids.into_iter().rev() {
            if let PendingKind::Rebuild {
                building, results, ..
            } = &mut self.pending[i].kind
            {
                building.remove(&id);
                results.push(ActionResult {
                    id,
                    name: self.reg.get(id).and_then(|e| e.name.clone()),
                    outcome: Outcome::Failed,
                    pid: None,
                    message: Some("the build was cancelled by another command".into()),
                });
            }
            self.maybe_finish_rebuild(i);
        }
    }

    /// Takes `id` out of the restarts that wait for other entries' builds (a user's stop or
    /// rm of it wins).
    pub(super) fn drop_from_rebuilds(&mut self, id: u64) {
        let name = self.reg.get(id).and_then(|e| e.name.clone());
        for p in self.pending.iter_mut() {
            if let PendingKind::Rebuild { ready, results, .. } = &mut p.kind {
                if let Some(i) = ready.iter().position(|x| *x == id) {
                    ready.remove(i);
                    results.push(ActionResult {
                        id,
                        name: name.clone(),
                        outcome: Outcome::Failed,
                        pid: None,
                        message: Some("not restarted: stopped by another command".into()),
                    });
                }
            }
        }
    }

    /// A build ended: move the requests waiting for it along.
    pub(super) fn build_finished(&mut self, id: u64, err: Option<String>) {
        let mut i = 0;
        while i < self.pending.len() {
            let hit = matches!(&self.pending[i].kind, PendingKind::Rebuild { building, .. } if building.contains(&id));
            if !hit {
                i += 1;
                continue;
            }
            let failed = err
                .as_ref()
                .map(|m| self.result(id, Outcome::Failed, Some(m.clone())));
            if let PendingKind::Rebuild {
                building,
                ready,
                results,
                ..
            } = &mut self.pending[i].kind
            {
                building.remove(&id);
                match failed {
                    Some(r) => results.push(r),
                    None => ready.push(id),
                }
            }
            if !self.maybe_finish_rebuild(i) {
                i += 1;
            }
        }
    }

    /// When no build of pending request `i` is left, hands it on to the stop-then-start
    /// batch. Returns whether it was removed.
    fn maybe_finish_rebuild(&mut self, i: usize) -> bool {
        let done = matches!(&self.pending[i].kind, PendingKind::Rebuild { building, .. } if building.is_empty());
        if !done {
            return false;
        }
        let p = self.pending.remove(i);
        if let PendingKind::Rebuild {
            op, ready, results, ..
        } = p.kind
        {
            self.batch(p.conn, p.req, op, ready, None, results);
        }
        true
    }

    /// Restarts `ids` (for `op` Restart or Apply): entries with a build are built first, the
    /// rest wait for them; then all are stopped and started together. `commits` are the new
    /// specs to apply on the way (after a successful build).
    pub(super) fn rebuild_then(
        &mut self,
        conn: Option<Token>,
        req: u32,
        op: BatchOp,
        ids: Vec<u64>,
        mut commits: HashMap<u64, Commit>,
    ) {
        let mut building = BTreeSet::new();
        let mut ready = Vec::new();
        let mut results = Vec::new();
        for id in ids {
            match self.begin_build(id, commits.remove(&id)) {
                Ok(true) => {
                    building.insert(id);
                }
                Ok(false) => ready.push(id),
                Err(err) => results.push(self.result(id, Outcome::Failed, Some(err.message))),
            }
        }
        if building.is_empty() {
            self.batch(conn, req, op, ready, None, results);
        } else {
            self.pending.push(Pending {
                conn,
                req,
                kind: PendingKind::Rebuild {
                    op,
                    building,
                    ready,
                    results,
                },
            });
        }
    }

    /// Makes `commit` the entry's spec: its variant's process spec and labels.
    pub(super) fn apply_commit(&mut self, id: u64, c: Commit) -> Result<()> {
        let Some(v) = variant(&c.service, c.profile.as_deref()) else {
            bail!(Code::Usage, "no profile {:?}", c.profile);
        };
        let spec = v.spec.clone();
        self.reg.replace_spec(id, spec)?;
        if let Some(e) = self.reg.get_mut(id) {
            let what = match &c.profile {
                Some(p) => format!("now using profile {p}"),
                None if e.profile.is_some() => "now using the base spec".to_string(),
                None => "spec updated".to_string(),
            };
            e.service = Some(Box::new(c.service));
            e.profile = c.profile;
            e.event(EventKind::Updated, what);
        }
        self.arm_service_timers(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(extra: &str) -> ServiceSpec {
        let json = format!(
            r#"{{"name":"a","file":"/w.json","base":{{"spec":{{"argv":["a"],"cwd":"/"{extra}}}}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn an_unset_stop_signal_equals_the_default_it_gives() {
        // Older versions stored the default TERM; the same declaration is unchanged.
        assert!(same_service(&service(r#","stop_signal":15"#), &service("")));
        assert!(!same_service(&service(r#","stop_signal":2"#), &service("")));
        // A terminal service's default is now HUP: the stored TERM differs.
        let (old, new) = (r#","stop_signal":15,"pty":true"#, r#","pty":true"#);
        assert!(!same_service(&service(old), &service(new)));
        assert!(same_service(
            &service(r#","stop_signal":1,"pty":true"#),
            &service(new)
        ));
    }
}
