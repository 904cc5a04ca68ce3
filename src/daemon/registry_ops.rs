//! Requests about identity and labels: adopting an existing pid, editing labels, listing and
//! renaming tags and groups, pruning ended entries and resetting everything.

use super::state::{BatchOp, Daemon, Pending, PendingKind};
use crate::error::{Code, Result};
use crate::proc::identity;
use crate::proto::{
    ActionReply, ActionResult, EntryReply, LabelCount, LabelsReply, RunSpec, Selector,
};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::{LabelKind, Relabel, State};
use mio::Token;
use std::collections::BTreeMap;

fn label_kind(kind: &str) -> Result<LabelKind> {
    match kind {
        "tag" => Ok(LabelKind::Tag),
        "group" => Ok(LabelKind::Group),
        other => bail!(Code::BadRequest, "kind {other:?}: use \"tag\" or \"group\""),
    }
}

/// Reads what /proc says about a process we are asked to adopt.
fn describe(pid: i32) -> Result<RunSpec> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut argv: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if argv.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        argv.push(format!("[{}]", comm.trim()));
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/".into());
    let env = std::fs::read(format!("/proc/{pid}/environ"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default()
        .into();
    let mut spec = RunSpec::new(argv, cwd);
    spec.env = env;
    Ok(spec)
}

impl Daemon {
    pub(super) fn adopt(
        &mut self,
        t: Token,
        req: u32,
        pid: i32,
        name: Option<String>,
        tags: Vec<String>,
        groups: Vec<String>,
    ) -> Result<()> {
        if pid <= 0 {
            bail!(Code::Usage, "add: {pid} is not a process id");
        }
        if pid == 1 {
            bail!(Code::Usage, "add: refusing to adopt pid 1 (init)");
        }
        let st = match identity::stat(pid) {
            Ok(st) if st.state != b'Z' && st.state != b'X' => st,
            _ => bail!(Code::NoSuchEntry, "add: no process with pid {pid}"),
        };
        if pid == self.my_pid {
            bail!(Code::Usage, "add: pid {pid} is the wrangle daemon itself");
        }
        if let Some((&id, _)) = self.live.iter().find(|(_, l)| l.pid == pid) {
            let label = self.reg.get(id).map(|e| e.label()).unwrap_or_default();
            bail!(Code::Failed, "add: pid {pid} is already tracked as {label}");
        }
        // May we signal it? (signal 0 checks permission without sending anything)
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            if let Err(e) = rustix::process::test_kill_process(p) {
                let owner = std::fs::metadata(format!("/proc/{pid}"))
                    .map(|m| std::os::unix::fs::MetadataExt::uid(&m).to_string())
                    .unwrap_or_else(|_| "?".into());
                bail!(
                    Code::Failed,
                    "add: you may not signal pid {pid} (owned by uid {owner}): {e}"
                );
            }
        }
        let mut spec = describe(pid)?;
        spec.name = name;
        spec.tags = tags;
        spec.groups = groups;
        let originator = self.rx.conns.get(&t).map(|c| c.client.clone());
        let id = self
            .reg
            .insert(spec, originator.filter(|o| !o.is_empty()))?;
        if let Some(e) = self.reg.get_mut(id) {
            e.pid = Some(pid);
            e.start_time = Some(st.start_time);
            e.state = State::Running;
            e.adopted = true;
            e.foreign = true;
            e.started_at_ms = Some(crate::util::now_ms());
            e.event(
                EventKind::Adopted,
                format!("adopted existing pid {pid} (output is not captured)"),
            );
        }
        self.watch_adopted(id, pid, st.start_time);
        let entry = self.reg.get(id).map(|e| e.info()).unwrap_or_default();
        self.reply(t, req, &EntryReply { entry });
        Ok(())
    }

    pub(super) fn label(&mut self, sel: &Selector, change: Relabel) -> Result<Vec<ActionResult>> {
        let ids = self.reg.select_for_change(sel, "label")?;
        if matches!(change.name, Some(Some(_))) && ids.len() > 1 {
            bail!(
                Code::Ambiguous,
                "label: a name can go to one entry only, and {} match",
                ids.len()
            );
        }
        let mut results = Vec::new();
        for id in ids {
            self.reg.relabel(id, &change)?;
            if let Some(e) = self.reg.get_mut(id) {
                let tags: Vec<_> = e.tags.iter().cloned().collect();
                let groups: Vec<_> = e.groups.iter().cloned().collect();
                e.event(
                    EventKind::Labelled,
                    format!("tags [{}], groups [{}]", tags.join(", "), groups.join(", ")),
                );
            }
            results.push(self.result(id, Outcome::Labelled, None));
        }
        Ok(results)
    }

    pub(super) fn labels(&self, kind: &str) -> Result<LabelsReply> {
        let mut labels: Vec<LabelCount> = self
            .reg
            .labels(label_kind(kind)?)
            .iter()
            .map(|(name, ids)| LabelCount {
                name: name.clone(),
                entries: ids.len(),
            })
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(LabelsReply { labels })
    }

    pub(super) fn rename_label(&mut self, kind: &str, old: &str, new: &str) -> Result<ActionReply> {
        let k = label_kind(kind)?;
        let ids = self.reg.rename_label(k, old, new)?;
        let mut results = Vec::new();
        for id in ids {
            if let Some(e) = self.reg.get_mut(id) {
                e.event(
                    EventKind::Labelled,
                    format!("{} {old:?} renamed to {new:?}", k.word()),
                );
            }
            results.push(self.result(id, Outcome::Labelled, None));
        }
        Ok(ActionReply { results })
    }

    pub(super) fn prune(&mut self, older_than_ms: Option<u64>) -> ActionReply {
        let now = crate::util::now_ms();
        let cutoff = now.saturating_sub(older_than_ms.unwrap_or(0));
        // An entry whose kept leftovers still live owns processes: it is not pruned.
        let with_leftovers: Vec<u64> = self
            .reg
            .iter()
            .filter(|e| !e.leftovers.is_empty())
            .map(|e| e.id)
            .collect();
        let owning: Vec<u64> = with_leftovers
            .into_iter()
            .filter(|&id| !self.kept_leftovers(id).is_empty())
            .collect();
        let ids: Vec<u64> = self
            .reg
            .iter()
            .filter(|e| {
                matches!(e.state, State::Stopped | State::Exited | State::Errored)
                    && !self.live.contains_key(&e.id)
                    && !owning.contains(&e.id)
                    && e.ended_at_ms.unwrap_or(e.created_at_ms) <= cutoff
            })
            .map(|e| e.id)
            .collect();
        let mut results = Vec::new();
        for id in ids {
            results.push(self.result(id, Outcome::Removed, None));
            self.forget(id);
        }
        ActionReply { results }
    }

    /// `rm` of processes adopted with `add`: unless `kill`, they are forgotten at once and
    /// left running (they were never ours to stop). Returns the other ids, to stop and forget,
    /// and the results so far.
    pub(super) fn forget_adopted(
        &mut self,
        ids: Vec<u64>,
        kill: bool,
    ) -> (Vec<u64>, Vec<ActionResult>) {
        let mut rest = Vec::new();
        let mut results = Vec::new();
        for id in ids {
            match self.reg.get(id) {
                Some(e) if !kill && e.foreign && e.state.is_alive() => {
                    let msg = match e.pid {
                        Some(p) => format!("left running, pid {p}"),
                        None => "left running".into(),
                    };
                    results.push(self.result(id, Outcome::Removed, Some(msg)));
                    self.forget(id);
                }
                _ => rest.push(id),
            }
        }
        (rest, results)
    }

    /// Removes an entry, its logs, ring and streams (an adopted process is let go, not
    /// stopped).
    pub(super) fn forget(&mut self, id: u64) {
        self.cancel_build(id);
        self.clear_service_timers(id);
        self.restart_why.remove(&id);
        self.fail_ready_waits(id, &format!("entry {id} was removed"));
        if let Some(mut l) = self.live.remove(&id) {
            if let Some(super::state::Adopted::Watched(Some((t, fd)))) = l.adopted.take() {
                self.deregister_fd(std::os::fd::AsRawFd::as_raw_fd(&fd), t);
            }
            self.pids.remove(&l.pid);
        }
        if let Some(e) = self.reg.get_mut(id) {
            e.event(EventKind::Removed, "removed");
        }
        // Published while the entry still exists, so subscribers' filters can match it.
        self.publish_events();
        self.reg.remove(id);
        self.drop_sup(id);
        self.rings.remove(&id);
        self.screens.remove(&id);
        let _ = std::fs::remove_dir_all(self.log_dir(id));
        self.drop_follows(id);
    }

    pub(super) fn reset(&mut self, t: Token, req: u32, confirm: &str) -> Result<()> {
        if confirm != "RESET" {
            bail!(
                Code::Usage,
                "reset: confirm with --confirm RESET (it forgets every entry)"
            );
        }
        let ids = self.owned_live();
        for &id in &ids {
            self.begin_stop(id, None);
        }
        let waiting: Vec<u64> = ids.into_iter().filter(|id| self.busy(*id)).collect();
        if waiting.is_empty() {
            self.complete_batch(Some(t), req, BatchOp::Reset, Vec::new(), Vec::new());
        } else {
            self.pending.push(Pending {
                conn: Some(t),
                req,
                kind: PendingKind::Batch {
                    op: BatchOp::Reset,
                    ids: waiting,
                    results: Vec::new(),
                },
            });
        }
        Ok(())
    }

    /// Entries that wrangle started and that have processes: live ones, and ended ones with
    /// recorded leftovers (adopted foreign processes are left alone).
    pub(super) fn owned_live(&self) -> Vec<u64> {
        self.reg
            .iter()
            .filter(|e| !e.foreign && (self.live.contains_key(&e.id) || !e.leftovers.is_empty()))
            .map(|e| e.id)
            .collect()
    }

    /// The second half of a reset, once every owned process is gone.
    pub(super) fn finish_reset(&mut self) -> Vec<ActionResult> {
        let ids = self.reg.ids();
        let results: Vec<ActionResult> = ids
            .iter()
            .map(|&id| self.result(id, Outcome::Removed, None))
            .collect();
        for id in ids {
            self.forget(id);
        }
        let _ = std::fs::remove_dir_all(self.paths.state.join("logs"));
        self.reg.reset();
        self.save_now();
        results
    }
}
