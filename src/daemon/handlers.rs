//! What each request means: request in, reply (now or later) out. The loop's mechanics and
//! process handling live elsewhere; this file is the daemon's API surface.

use super::build::variant;
use super::conn::Follow;
use super::state::{BatchOp, Daemon, Pending, PendingKind, TimerKind};
use crate::error::{Code, Error, Result};
use crate::proc::supervisor::Phase;
use crate::proto::frame::FrameKind;
use crate::proto::StreamEvent;
use crate::proto::{
    ActionReply, ActionResult, EntryInfo, EntryReply, LogInfo, LogsReply, PingReply, Request,
    RunLog, WaitReply,
};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::Relabel;
use mio::Token;
use std::time::Duration;

#[derive(serde::Serialize)]
struct Empty {}

impl Daemon {
    pub(super) fn handle(&mut self, t: Token, req_id: u32, req: Request) -> Result<()> {
        if self.shutting_down && !matches!(req, Request::Ping | Request::Shutdown) {
            bail!(Code::Daemon, "the daemon is shutting down");
        }
        match &req {
            Request::List { .. } | Request::Subscribe { .. } => {}
            Request::Status { sel, .. }
            | Request::Start { sel }
            | Request::Stop { sel, .. }
            | Request::Restart { sel, .. }
            | Request::Remove { sel }
            | Request::Signal { sel, .. }
            | Request::Logs { sel, .. }
            | Request::ClearLogs { sel }
            | Request::Wait { sel, .. }
            | Request::Send { sel, .. }
            | Request::Attach { sel, .. }
            | Request::Resize { sel, .. }
            | Request::Label { sel, .. } => self.touch(sel),
            _ => {}
        }
        match req {
            Request::Ping => {
                let reply = PingReply {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    protocol: *crate::proto::VERSIONS.last().unwrap_or(&1),
                    pid: std::process::id(),
                    uptime_ms: self.started.elapsed().as_millis() as u64,
                    entries: self.reg.len(),
                    running: self.live.len(),
                    socket: self.paths.socket.display().to_string(),
                    state_dir: self.paths.state.display().to_string(),
                    warnings: self.startup_warnings.clone(),
                };
                self.reply(t, req_id, &reply);
            }
            Request::Run { spec } => {
                let originator = self.rx.conns.get(&t).map(|c| c.client.clone());
                let id = self
                    .reg
                    .insert(spec, originator.filter(|o| !o.is_empty()))?;
                if let Some(e) = self.reg.get_mut(id) {
                    e.event(EventKind::Added, e.command());
                }
                if let Err(err) = self.start_entry(id) {
                    // Nothing half-made is left behind; the id is not reused.
                    self.reg.remove(id);
                    let _ = std::fs::remove_dir_all(self.log_dir(id));
                    return Err(err);
                }
                let entry = self.info(id, false);
                self.reply(t, req_id, &EntryReply { entry });
            }
            Request::List { sel } => {
                let ids = self.reg.select(&sel)?;
                self.want_usage(&ids);
                let entries = ids.into_iter().map(|id| self.info(id, false)).collect();
                self.reply_entries(t, req_id, entries);
            }
            Request::Status { sel, show_env } => {
                let ids = self.reg.select(&sel)?;
                if ids.is_empty() {
                    bail!(
                        Code::NoSuchEntry,
                        "no entry matches the selector (see wrangle ls)"
                    );
                }
                self.want_usage(&ids);
                let entries = ids
                    .into_iter()
                    .map(|id| {
                        let mut info = self.info(id, true);
                        info.env = self.reg.get(id).map(|e| {
                            e.spec
                                .env
                                .iter()
                                .map(|(k, v)| {
                                    let hide = !show_env && super::saved::looks_secret(k);
                                    (k.clone(), if hide { "(hidden)".into() } else { v.clone() })
                                })
                                .collect()
                        });
                        info
                    })
                    .collect();
                self.reply_entries(t, req_id, entries);
            }
            Request::Save => {
                let results = self.save_set()?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Resurrect => {
                let originator = self.rx.conns.get(&t).map(|c| c.client.clone());
                let results = self.resurrect(originator.filter(|o| !o.is_empty()))?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Start { sel } => {
                let ids = self.reg.select_for_change(&sel, "start")?;
                let mut results = Vec::new();
                for id in ids {
                    results.push(self.start_one(id));
                }
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Stop { sel, timeout_ms } => {
                let ids = self.reg.select_for_change(&sel, "stop")?;
                self.batch(
                    Some(t),
                    req_id,
                    BatchOp::Stop,
                    ids,
                    timeout_ms.map(Duration::from_millis),
                    Vec::new(),
                );
            }
            Request::Restart { sel, profile } => {
                let ids = self.reg.select_for_change(&sel, "restart")?;
                self.restart_request(t, req_id, ids, profile)?;
            }
            Request::Apply { service } => self.apply(t, req_id, service)?,
            Request::Down { file, names } => self.down(t, req_id, &file, &names)?,
            Request::Remove { sel } => {
                let ids = self.reg.select_for_change(&sel, "rm")?;
                self.batch(Some(t), req_id, BatchOp::Remove, ids, None, Vec::new());
            }
            Request::Signal { sel, signal } => {
                if crate::proc::kill::to_signal(signal).is_none() {
                    bail!(Code::BadRequest, "invalid signal number {signal}");
                }
                let ids = self.reg.select_for_change(&sel, "signal")?;
                let mut results = Vec::new();
                for id in ids {
                    let r = match self.signal_main(id, signal) {
                        Ok(true) => {
                            if let Some(e) = self.reg.get_mut(id) {
                                e.event(
                                    EventKind::Signalled,
                                    format!("sent {}", crate::util::signal::name(signal)),
                                );
                            }
                            self.result(id, Outcome::Signalled, None)
                        }
                        Ok(false) => self.result(id, Outcome::NotRunning, None),
                        Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
                    };
                    results.push(r);
                }
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Logs { sel, build } => {
                // Index records of this turn's output must be on disk before anyone reads.
                self.flush_indexes();
                let ids = self.reg.select(&sel)?;
                if ids.is_empty() {
                    bail!(
                        Code::NoSuchEntry,
                        "no entry matches the selector (see wrangle ls)"
                    );
                }
                let entries = ids
                    .into_iter()
                    .map(|id| match build {
                        true => self.build_log_info(id),
                        false => self.log_info(id),
                    })
                    .collect();
                self.reply(t, req_id, &LogsReply { entries });
            }
            Request::ClearLogs { sel } => {
                let ids = self.reg.select_for_change(&sel, "clear logs of")?;
                let results = ids.into_iter().map(|id| self.clear_logs(id)).collect();
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Follow {
                id,
                from_seq,
                streams,
            } => {
                if self.reg.get(id).is_none() {
                    bail!(Code::NoSuchEntry, "no entry with id {id} (see wrangle ls)");
                }
                let seq = self.reg.get(id).map_or(0, |e| e.seq);
                if let Some(c) = self.rx.conns.get_mut(&t) {
                    c.follows.push(Follow {
                        req: req_id,
                        entry: id,
                        seq: from_seq.min(seq),
                        streams: if streams == 0 { 3 } else { streams },
                        run: 0,
                        notify_exit: false,
                        exit_at: None,
                    });
                }
                self.rx.dirty.insert(t);
            }
            Request::Wait {
                sel,
                timeout_ms,
                log,
                port,
                ready,
            } => {
                let ids = self.reg.select_for_change(&sel, "wait")?;
                let &[id] = ids.as_slice() else {
                    bail!(Code::Ambiguous, "wait: name one entry");
                };
                if ready || log.is_some() || port.is_some() {
                    let declared = match ready {
                        true => self.reg.get(id).and_then(|e| {
                            let s = e.service.as_ref()?;
                            variant(s, e.profile.as_deref()).map(|v| v.ready.clone())
                        }),
                        false => None,
                    };
                    let timeout = timeout_ms
                        .or(declared.as_ref().map(|r| r.timeout_ms))
                        .map(Duration::from_millis);
                    let log = log.or(declared.as_ref().and_then(|r| r.log.clone()));
                    let port = port.or(declared.as_ref().and_then(|r| r.port));
                    return self.begin_ready_wait(t, req_id, id, log, port, timeout);
                }
                if !self.live.contains_key(&id) {
                    let e = self
                        .reg
                        .get(id)
                        .ok_or_else(|| Error::new(Code::NoSuchEntry, "gone"))?;
                    let reply = WaitReply {
                        id,
                        name: e.name.clone(),
                        exit_code: e.exit_code,
                        exit_signal: e.exit_signal,
                    };
                    self.reply(t, req_id, &reply);
                    return Ok(());
                }
                let timer = timeout_ms.map(|ms| {
                    self.rx
                        .timers
                        .add(Duration::from_millis(ms), TimerKind::WaitTimeout(t, req_id))
                });
                self.pending.push(Pending {
                    conn: Some(t),
                    req: req_id,
                    kind: PendingKind::Wait { id, timer },
                });
            }
            Request::Subscribe { sel, types } => self.subscribe(t, req_id, sel, types)?,
            Request::Send { sel, eof } => self.begin_send(t, req_id, &sel, eof)?,
            Request::Attach {
                sel,
                read_only,
                replay,
                size,
            } => self.attach(t, req_id, &sel, read_only, replay, size)?,
            Request::Resize { sel, rows, cols } => {
                let results = self.resize(&sel, rows, cols)?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Add {
                pid,
                name,
                tags,
                groups,
            } => self.adopt(t, req_id, pid, name, tags, groups)?,
            Request::Label {
                sel,
                add_tags,
                rm_tags,
                add_groups,
                rm_groups,
                name,
            } => {
                let change = Relabel {
                    add_tags,
                    rm_tags,
                    add_groups,
                    rm_groups,
                    name: name.map(|n| if n.is_empty() { None } else { Some(n) }),
                };
                let results = self.label(&sel, change)?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Labels { kind } => {
                let reply = self.labels(&kind)?;
                self.reply(t, req_id, &reply);
            }
            Request::RenameLabel { kind, old, new } => {
                let reply = self.rename_label(&kind, &old, &new)?;
                self.reply(t, req_id, &reply);
            }
            Request::Prune { older_than_ms } => {
                let reply = self.prune(older_than_ms);
                self.reply(t, req_id, &reply);
            }
            Request::Reset { confirm } => self.reset(t, req_id, &confirm)?,
            Request::Cancel { target } => {
                let mut found = false;
                if let Some(c) = self.rx.conns.get_mut(&t) {
                    let before = c.follows.len() + c.subs.len();
                    c.follows.retain(|f| f.req != target);
                    c.subs.retain(|s| s.req != target);
                    c.inputs.retain(|b| b.req != target || b.send);
                    found = c.follows.len() + c.subs.len() != before;
                }
                if found {
                    self.reply(t, target, &Empty {});
                }
                let mut cancelled = Vec::new();
                self.pending.retain(|p| {
                    let hit = p.conn == Some(t)
                        && p.req == target
                        && matches!(p.kind, PendingKind::Wait { .. } | PendingKind::Ready(_));
                    if hit {
                        match &p.kind {
                            PendingKind::Wait { timer, .. } => cancelled.push(*timer),
                            PendingKind::Ready(w) => cancelled.extend(w.timers().map(Some)),
                            _ => {}
                        }
                    }
                    !hit
                });
                for tm in cancelled.iter().flatten() {
                    self.rx.timers.cancel(*tm);
                }
                if !cancelled.is_empty() {
                    self.reply_err(
                        t,
                        target,
                        &Error::new(Code::Failed, "wait cancelled by the client"),
                    );
                }
                self.reply(t, req_id, &Empty {});
            }
            Request::Shutdown => {
                if self.shutting_down {
                    // Already on the way out: answer when it is done.
                    self.pending.push(Pending {
                        conn: Some(t),
                        req: req_id,
                        kind: PendingKind::Batch {
                            op: BatchOp::Shutdown,
                            ids: self.owned_live(),
                            results: Vec::new(),
                        },
                    });
                } else {
                    self.begin_shutdown(Some(t), req_id);
                }
            }
        }
        Ok(())
    }

    /// Replies with a list of entries. A long list goes out in parts of about 1 MiB (EVENT
    /// frames `{"entries":[...]}`, then the RESPONSE with the rest), never as one frame over the
    /// size limit.
    fn reply_entries(&mut self, t: Token, req: u32, entries: Vec<EntryInfo>) {
        const PART: usize = 1 << 20;
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return;
        };
        let mut part = Vec::from(&br#"{"entries":["#[..]);
        let mut first = true;
        for e in &entries {
            let Ok(json) = serde_json::to_vec(e) else {
                continue;
            };
            if !first && part.len() + json.len() > PART {
                part.extend_from_slice(b"]}");
                c.frame(FrameKind::Event, 0, req, &part);
                part.truncate(br#"{"entries":["#.len());
                first = true;
            }
            if !first {
                part.push(b',');
            }
            part.extend_from_slice(&json);
            first = false;
        }
        part.extend_from_slice(b"]}");
        c.frame(FrameKind::Response, 0, req, &part);
        self.rx.dirty.insert(t);
    }

    fn start_one(&mut self, id: u64) -> ActionResult {
        if let Some(e) = self.reg.get_mut(id) {
            e.consecutive = 0;
        }
        match self.phase(id) {
            Some(Phase::Stopping { .. } | Phase::Ending { .. }) if !self.live.contains_key(&id) => {
                let why = "its leftover processes are being stopped; start it once they are gone";
                return self.result(id, Outcome::Failed, Some(why.into()));
            }
            _ if self.live.contains_key(&id) => {
                return self.result(id, Outcome::AlreadyRunning, None)
            }
            _ => {}
        }
        match self.start_entry(id) {
            Ok(_) => self.result(id, Outcome::Started, None),
            Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
        }
    }

    /// Stops `ids` (those running), then does `op`'s second half and replies (to `conn`, if
    /// anyone asked) with `results` plus what happened to each of `ids`.
    pub(super) fn batch(
        &mut self,
        conn: Option<Token>,
        req_id: u32,
        op: BatchOp,
        ids: Vec<u64>,
        timeout: Option<Duration>,
        mut results: Vec<ActionResult>,
    ) {
        // Entries that had processes to stop (some may be gone already: kept leftovers can
        // die at once, with no main process to reap).
        let mut stopping = Vec::new();
        for &id in &ids {
            // Whatever the user does to an entry overrides a pending automatic restart or a
            // build (its supervisor cancels them), and a stop or rm one that waits for
            // others' builds.
            if matches!(op, BatchOp::Stop | BatchOp::Remove) {
                self.drop_from_rebuilds(id);
            }
            let before = self.stop_entry(id, timeout);
            let after = self.phase(id);
            // Stopping now (perhaps under an earlier stop), or ended at once.
            let stopped_something = self.busy(id)
                || match (before, after) {
                    (None, _) | (Some(Phase::Backoff { .. } | Phase::Starting), _) => false,
                    (Some(b), a) => Some(b) != a,
                };
            if stopped_something {
                stopping.push(id);
            } else if op == BatchOp::Stop {
                // A stop is final even for an entry that was not running (e.g. in backoff).
                results.push(match before {
                    Some(Phase::Backoff { .. }) => self.result(
                        id,
                        Outcome::Stopped,
                        Some("it was waiting to restart".into()),
                    ),
                    _ => self.result(id, Outcome::NotRunning, None),
                });
            }
        }
        let waiting: Vec<u64> = ids.iter().copied().filter(|&id| self.busy(id)).collect();
        let ids = if op == BatchOp::Stop { stopping } else { ids };
        if waiting.is_empty() {
            self.complete_batch(conn, req_id, op, ids, results);
        } else {
            self.pending.push(Pending {
                conn,
                req: req_id,
                kind: PendingKind::Batch { op, ids, results },
            });
        }
    }

    /// Every process of the batch has ended: finish the operation and reply.
    pub(super) fn complete_batch(
        &mut self,
        conn: Option<Token>,
        req: u32,
        op: BatchOp,
        ids: Vec<u64>,
        mut results: Vec<ActionResult>,
    ) {
        match op {
            BatchOp::Stop => {
                for id in ids {
                    results.push(self.result(id, Outcome::Stopped, None));
                }
            }
            BatchOp::Restart | BatchOp::Apply | BatchOp::StartService if self.shutting_down => {
                for id in ids {
                    let why = "not started: the daemon is shutting down".to_string();
                    results.push(self.result(id, Outcome::Failed, Some(why)));
                }
            }
            BatchOp::Restart => {
                for id in ids {
                    if let Some(e) = self.reg.get_mut(id) {
                        e.event(EventKind::Restarting, "restarting at the user's request");
                    }
                    if let Some(e) = self.reg.get_mut(id) {
                        e.consecutive = 0;
                    }
                    let r = match self.start_entry(id) {
                        Ok(_) => {
                            if let Some(e) = self.reg.get_mut(id) {
                                e.restarts += 1;
                            }
                            self.result(id, Outcome::Restarted, None)
                        }
                        Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
                    };
                    results.push(r);
                }
            }
            BatchOp::Apply | BatchOp::StartService => {
                for id in ids {
                    let first = self.reg.get(id).is_some_and(|e| e.run == 0);
                    let first = first || op == BatchOp::StartService;
                    if let Some(e) = self.reg.get_mut(id) {
                        e.consecutive = 0;
                    }
                    let r = match self.start_entry(id) {
                        Ok(_) if op == BatchOp::StartService => {
                            self.result(id, Outcome::Started, None)
                        }
                        Ok(_) if first => self.result(id, Outcome::Created, None),
                        Ok(_) => {
                            if let Some(e) = self.reg.get_mut(id) {
                                e.restarts += 1;
                            }
                            self.result(id, Outcome::Restarted, None)
                        }
                        Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
                    };
                    results.push(r);
                }
            }
            BatchOp::Remove => {
                for id in ids {
                    results.push(self.result(id, Outcome::Removed, None));
                    self.forget(id);
                }
            }
            BatchOp::Reset => results = self.finish_reset(),
            BatchOp::Shutdown => {
                // Gone from the socket path before anyone hears we are done, so that a client
                // that connects next finds no daemon rather than a dying one.
                self.rx.stop_listening();
                self.exit();
            }
        }
        if let Some(t) = conn {
            self.reply(t, req, &ActionReply { results });
        }
    }

    /// Ends every follow stream of a removed entry.
    pub(super) fn drop_follows(&mut self, id: u64) {
        let mut ended = Vec::new();
        for (t, c) in self.rx.conns.iter_mut() {
            c.follows.retain(|f| {
                if f.entry == id {
                    ended.push((*t, f.req));
                    false
                } else {
                    true
                }
            });
        }
        for (t, req) in ended {
            if let Some(c) = self.rx.conns.get_mut(&t) {
                c.json(FrameKind::Event, req, &StreamEvent::Removed);
            }
            self.reply(t, req, &Empty {});
        }
    }

    /// The wire view of an entry, with the latest CPU and memory sample of a live one.
    fn info(&mut self, id: u64, with_events: bool) -> EntryInfo {
        let Some(e) = self.reg.get(id) else {
            return EntryInfo::default();
        };
        if !e.leftovers.is_empty() {
            // Dead leftovers leave the list when someone looks.
            self.kept_leftovers(id);
        }
        let Some(e) = self.reg.get(id) else {
            return EntryInfo::default();
        };
        let mut info = e.info();
        if with_events {
            info.events = e.events.iter().cloned().collect();
        }
        if let Some(u) = self.usage_of(id) {
            info.cpu_percent = Some(u.cpu_percent);
            info.rss_bytes = Some(u.rss_bytes);
        }
        info
    }

    fn log_info(&self, id: u64) -> LogInfo {
        let e = self.reg.get(id);
        let dir = self.log_dir(id).display().to_string();
        let end = e.map_or(0, |e| e.seq);
        let runs = e.map(|e| e.runs.as_slice()).unwrap_or_default();
        LogInfo {
            id,
            name: e.and_then(|e| e.name.clone()),
            runs: runs
                .iter()
                .enumerate()
                .map(|(i, r)| RunLog {
                    run: r.run,
                    dir: dir.clone(),
                    start_seq: r.start_seq,
                    bytes: runs.get(i + 1).map_or(end, |n| n.start_seq) - r.start_seq,
                    dropped: r.dropped,
                })
                .collect(),
            end_seq: end,
            alive: self.live.contains_key(&id),
            timestamps: self.log_timestamps(id),
        }
    }

    /// Whether a service asks for its logs to be shown with times.
    fn log_timestamps(&self, id: u64) -> bool {
        self.reg.get(id).is_some_and(|e| {
            e.service
                .as_ref()
                .and_then(|s| variant(s, e.profile.as_deref()))
                .is_some_and(|v| v.log_timestamps)
        })
    }

    /// Where an entry's build logs are: one "run" per build kept.
    fn build_log_info(&self, id: u64) -> LogInfo {
        let e = self.reg.get(id);
        let dir = self.build_dir(id);
        let builds = e.map_or(0, |e| e.builds);
        let runs = (1..=builds)
            .filter(|n| crate::logs::file::run_paths(&dir, *n).0.exists())
            .map(|n| RunLog {
                run: n,
                dir: dir.display().to_string(),
                start_seq: 0,
                bytes: u64::MAX,
                dropped: 0,
            })
            .collect();
        LogInfo {
            id,
            name: e.and_then(|e| e.name.clone()),
            runs,
            end_seq: 0,
            alive: self.builds.running(id),
            timestamps: self.log_timestamps(id),
        }
    }

    /// Deletes an entry's logs: older runs' files go, the current run's files are emptied.
    fn clear_logs(&mut self, id: u64) -> ActionResult {
        let dir = self.log_dir(id);
        let Some(e) = self.reg.get_mut(id) else {
            return self.result(id, Outcome::Failed, Some("no such entry".into()));
        };
        let live_run = self.live.get(&id).map(|_| e.run);
        let seq = e.seq;
        for r in &e.runs {
            if Some(r.run) == live_run {
                crate::logs::file::remove_segments(&dir, r.run);
            } else {
                crate::logs::file::remove_run(&dir, r.run);
            }
        }
        e.runs.retain(|r| Some(r.run) == live_run);
        for r in e.runs.iter_mut() {
            r.start_seq = seq;
            r.dropped = 0;
        }
        e.event(EventKind::LogsCleared, "logs cleared");
        let mut failed = None;
        if let Some(w) = self.live.get_mut(&id).and_then(|l| l.writer_mut()) {
            if let Err(err) = w.truncate() {
                failed = Some(format!("cannot empty the current log: {err}"));
            }
        }
        self.rings.remove(&id);
        match failed {
            Some(m) => self.result(id, Outcome::Failed, Some(m)),
            None => self.result(id, Outcome::Cleared, None),
        }
    }
}
