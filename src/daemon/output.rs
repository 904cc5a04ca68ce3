//! Requests about an entry's captured output: `logs` (where each run's log is, for the
//! client to read), `clear_logs`, and `follow` (a live stream of new output, served by
//! `streams.rs`); and ending the streams of a removed entry.

use super::build::variant;
use super::conn::{Empty, Follow};
use super::state::Daemon;
use crate::error::{Code, Result};
use crate::proto::frame::FrameKind;
use crate::proto::{
    ActionReply, ActionResult, EventKind, LogInfo, LogsReply, Outcome, RunLog, Selector,
    StreamEvent,
};
use mio::Token;

impl Daemon {
    pub(super) fn logs_request(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
        build: bool,
    ) -> Result<()> {
        // Index records of this turn's output must be on disk before anyone reads.
        self.flush_indexes();
        let ids = self.reg.select(sel)?;
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
        Ok(())
    }

    pub(super) fn clear_logs_request(
        &mut self,
        t: Token,
        req_id: u32,
        sel: &Selector,
    ) -> Result<()> {
        let ids = self.reg.select_for_change(sel, "clear logs of")?;
        let results = ids.into_iter().map(|id| self.clear_logs(id)).collect();
        self.reply(t, req_id, &ActionReply { results });
        Ok(())
    }

    pub(super) fn follow(
        &mut self,
        t: Token,
        req_id: u32,
        id: u64,
        from_seq: u64,
        streams: u8,
    ) -> Result<()> {
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
        Ok(())
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

    pub(super) fn log_info(&self, id: u64) -> LogInfo {
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
    pub(super) fn build_log_info(&self, id: u64) -> LogInfo {
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
