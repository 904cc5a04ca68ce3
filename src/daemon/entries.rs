//! Requests about entries as a whole: `run`, `list`, `status`, `start`, `stop`, `restart`,
//! `rm` and `signal`, the batches that stop several entries and then finish the operation
//! (start again, forget, shut down) once every process is gone, and the wire view of an
//! entry.

use super::state::{BatchOp, Daemon, Pending, PendingKind};
use crate::error::{Code, Result};
use crate::proc::supervisor::Phase;
use crate::proto::frame::FrameKind;
use crate::proto::{
    ActionReply, ActionResult, BriefEntry, EntryInfo, EntryReply, EventKind, Outcome, RunSpec,
    Selector,
};
use mio::Token;
use std::time::Duration;

impl Daemon {
    pub(super) fn run_request(&mut self, t: Token, req_id: u32, spec: RunSpec) -> Result<()> {
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
        Ok(())
    }

    pub(super) fn list(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
        brief: bool,
    ) -> Result<()> {
        let ids = self.reg.select(sel)?;
        if brief {
            let entries: Vec<BriefEntry> = ids
                .into_iter()
                .map(|id| BriefEntry {
                    id,
                    name: self.reg.get(id).and_then(|e| e.name.clone()),
                })
                .collect();
            self.reply_entries(t, req_id, &entries);
            return Ok(());
        }
        self.want_usage(&ids);
        let entries: Vec<EntryInfo> = ids.into_iter().map(|id| self.info(id, false)).collect();
        self.reply_entries(t, req_id, &entries);
        Ok(())
    }

    pub(super) fn status(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
        show_env: bool,
    ) -> Result<()> {
        let ids = self.reg.select(sel)?;
        if ids.is_empty() {
            bail!(
                Code::NoSuchEntry,
                "no entry matches the selector (see wrangle ls)"
            );
        }
        self.want_usage(&ids);
        let entries: Vec<EntryInfo> = ids
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
                info.spec = self.reg.get(id).map(|e| {
                    let mut spec = e.spec.clone();
                    spec.env = Default::default();
                    spec.log_max_size = spec.log_max_size.or(Some(self.config.logs.max_size));
                    spec.log_keep = spec.log_keep.or(Some(self.config.logs.keep));
                    spec
                });
                info
            })
            .collect();
        self.reply_entries(t, req_id, &entries);
        Ok(())
    }

    pub(super) fn start_request(&mut self, t: Token, req_id: u32, sel: &Selector) -> Result<()> {
        let ids = self.reg.select_for_change(sel, "start")?;
        let mut results = Vec::new();
        for id in ids {
            results.push(self.start_one(id));
        }
        self.reply(t, req_id, &ActionReply { results });
        Ok(())
    }

    pub(super) fn signal_request(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
        signal: i32,
    ) -> Result<()> {
        if crate::proc::kill::to_signal(signal).is_none() {
            bail!(Code::BadRequest, "invalid signal number {signal}");
        }
        let ids = self.reg.select_for_change(sel, "signal")?;
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
        Ok(())
    }

    /// Replies with a list of entries. A long list goes out in parts of about 1 MiB (EVENT
    /// frames `{"entries":[...]}`, then the RESPONSE with the rest), never as one frame over the
    /// size limit.
    fn reply_entries<T: serde::Serialize>(&mut self, t: Token, req: u32, entries: &[T]) {
        const PART: usize = 1 << 20;
        let Some(c) = self.rx.conns.get_mut(&t) else {
            return;
        };
        let mut part = Vec::from(&br#"{"entries":["#[..]);
        let mut first = true;
        for e in entries {
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

    /// Starts `id` afresh at a user's request (the restart count starts over); `counts` adds
    /// it to the entry's restarts.
    fn start_again(&mut self, id: u64, counts: bool) -> Result<()> {
        if let Some(e) = self.reg.get_mut(id) {
            e.consecutive = 0;
        }
        self.start_entry(id)?;
        if let Some(e) = self.reg.get_mut(id).filter(|_| counts) {
            e.restarts += 1;
        }
        Ok(())
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
                    // A client's request, or a timer's (which said why when it began).
                    let why = self.restart_why.remove(&id).filter(|_| conn.is_none());
                    let why = why.unwrap_or_else(|| "restarting at the user's request".into());
                    if let Some(e) = self.reg.get_mut(id) {
                        e.event(EventKind::Restarting, why);
                    }
                    let r = match self.start_again(id, true) {
                        Ok(()) => self.result(id, Outcome::Restarted, None),
                        Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
                    };
                    results.push(r);
                }
            }
            BatchOp::Apply | BatchOp::StartService => {
                for id in ids {
                    let first = self.reg.get(id).is_some_and(|e| e.run == 0);
                    let first = first || op == BatchOp::StartService;
                    let r = match self.start_again(id, !first) {
                        Ok(()) if op == BatchOp::StartService => {
                            self.result(id, Outcome::Started, None)
                        }
                        Ok(()) if first => self.result(id, Outcome::Created, None),
                        Ok(()) => self.result(id, Outcome::Restarted, None),
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
                self.end_streams();
                self.exit();
            }
        }
        if let Some(t) = conn {
            self.reply(t, req, &ActionReply { results });
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
        info.title = self.screen_title(id);
        if with_events {
            info.events = e.events.iter().cloned().collect();
        }
        if let Some(u) = self.usage_of(id) {
            info.cpu_percent = Some(u.cpu_percent);
            info.rss_bytes = Some(u.rss_bytes);
        }
        info
    }
}
