//! The saved set (`wrangle save`, `wrangle resurrect`, `wrangle daemon --resurrect`): what
//! should be running, in `STATE/saved.json` (atomic, 0600, versioned; a corrupt file is moved
//! aside and reported, never deleted). Resurrecting starts only what is not already running,
//! so processes a killed daemon left behind (re-adopted at start-up) are never duplicated.

use super::state::Daemon;
use crate::error::{Code, Error, Result};
use crate::proto::{ActionResult, RunSpec, ServiceSpec};
use crate::proto::{EventKind, Outcome};
use crate::store::registry::State;
use crate::store::snapshot::{self, Loaded};
use serde::{Deserialize, Serialize};

const SAVED_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SavedFile {
    version: u32,
    saved_at_ms: u64,
    entries: Vec<SavedEntry>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    id: u64,
    name: Option<String>,
    tags: Vec<String>,
    groups: Vec<String>,
    spec: RunSpec,
    /// For services (`wrangle up`): the declaration and the profile in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<ServiceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
}

/// Whether a variable's value must not be shown by default.
pub fn looks_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    ["KEY", "SECRET", "TOKEN", "PASSWORD"]
        .iter()
        .any(|w| up.contains(w))
}

impl Daemon {
    fn saved_path(&self) -> std::path::PathBuf {
        self.paths.state.join("saved.json")
    }

    /// Records every entry that should be running; with none, keeps a saved set that holds
    /// entries unless `force` (a save right after a crash or a `stop all` would lose it).
    pub(super) fn save_set(&mut self, force: bool) -> Result<Vec<ActionResult>> {
        let chosen: Vec<u64> = self
            .reg
            .iter()
            .filter(|e| !e.foreign && (e.state.is_alive() || e.state == State::Backoff))
            .map(|e| e.id)
            .collect();
        if chosen.is_empty() && !force {
            if let Ok(Loaded::Parsed(f)) = snapshot::load_json::<SavedFile>(&self.saved_path()) {
                if !f.entries.is_empty() {
                    let names: Vec<String> = f
                        .entries
                        .iter()
                        .take(5)
                        .map(|e| e.name.clone().unwrap_or_else(|| format!("id {}", e.id)))
                        .collect();
                    let more = if f.entries.len() > 5 { ", ..." } else { "" };
                    bail!(
                        Code::Failed,
                        "nothing is running, and saving would empty the saved set ({} saved: \
                         {}{more}); add --force to save nothing",
                        f.entries.len(),
                        names.join(", ")
                    );
                }
            }
        }
        let entries: Vec<SavedEntry> = chosen
            .iter()
            .filter_map(|id| self.reg.get(*id))
            .map(|e| SavedEntry {
                id: e.id,
                name: e.name.clone(),
                tags: e.tags.iter().cloned().collect(),
                groups: e.groups.iter().cloned().collect(),
                spec: e.spec.clone(),
                service: e.service.as_deref().cloned(),
                profile: e.profile.clone(),
            })
            .collect();
        let file = SavedFile {
            version: SAVED_VERSION,
            saved_at_ms: crate::util::now_ms(),
            entries,
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::new(Code::Internal, format!("cannot encode the saved set: {e}")))?;
        snapshot::write_atomic(&self.saved_path(), &bytes, true)
            .map_err(|e| Error::io(format!("cannot write {}", self.saved_path().display()), e))?;
        Ok(chosen
            .into_iter()
            .map(|id| self.result(id, Outcome::Saved, None))
            .collect())
    }

    /// `wrangle daemon --resurrect`: like `wrangle resurrect`, reported in the daemon's log.
    pub(crate) fn resurrect_at_start(&mut self) {
        match self.resurrect(Some("wrangle-daemon".into())) {
            Ok(results) => {
                let started = results
                    .iter()
                    .filter(|r| r.outcome == Outcome::Started)
                    .count();
                log::info!(
                    "resurrect: started {started} of {} saved entries",
                    results.len()
                );
                for r in results.iter().filter(|r| r.outcome == Outcome::Failed) {
                    log::error!(
                        "resurrect: entry {}: {}",
                        r.id,
                        r.message.as_deref().unwrap_or("")
                    );
                }
            }
            Err(e) => {
                log::error!("resurrect: {e}");
                // Also where `wrangle ping` shows it: a boot log is rarely read.
                self.startup_warnings
                    .push(format!("resurrect at start-up: {}", e.message));
            }
        }
        self.save_changes();
    }

    /// Starts whatever was saved and is not running.
    pub(super) fn resurrect(&mut self, originator: Option<String>) -> Result<Vec<ActionResult>> {
        let path = self.saved_path();
        let file = match snapshot::load_json::<SavedFile>(&path)? {
            Loaded::Parsed(f) => f,
            Loaded::Missing => bail!(
                Code::Failed,
                "nothing was saved yet ({} does not exist; run wrangle save first)",
                path.display()
            ),
            Loaded::Corrupt { moved_to, error } => bail!(
                Code::Failed,
                "the saved set {} does not parse ({error}); it was kept as {}",
                path.display(),
                moved_to.display()
            ),
        };
        if file.version > SAVED_VERSION {
            bail!(
                Code::Failed,
                "{} was written by a newer wrangle (format {}); upgrade wrangle",
                path.display(),
                file.version
            );
        }
        let mut results = Vec::new();
        for mut saved in file.entries {
            if let Some(s) = &mut saved.service {
                crate::store::projects::migrate_saved(&mut saved.name, s);
            }
            // The same entry: by name, else by id when its command is the same.
            let existing = match &saved.name {
                Some(n) => self
                    .reg
                    .select(&crate::proto::Selector::target(n.clone()))
                    .ok(),
                None => self
                    .reg
                    .get(saved.id)
                    .filter(|e| e.spec.argv == saved.spec.argv && e.spec.cwd == saved.spec.cwd)
                    .map(|e| vec![e.id]),
            }
            .and_then(|ids| ids.first().copied());
            let id = match existing {
                Some(id) if self.live.contains_key(&id) => {
                    results.push(self.result(id, Outcome::AlreadyRunning, None));
                    continue;
                }
                Some(id) => id,
                None => {
                    let mut spec = saved.spec.clone();
                    spec.name = saved.name.clone();
                    spec.tags = saved.tags.clone();
                    spec.groups = saved.groups.clone();
                    match self.reg.insert(spec, originator.clone()) {
                        Ok(id) => {
                            if let Some(e) = self.reg.get_mut(id) {
                                e.event(EventKind::Added, format!("resurrected: {}", e.command()));
                                e.service = saved.service.clone().map(Box::new);
                                e.profile = saved.profile.clone();
                            }
                            self.arm_service_timers(id);
                            id
                        }
                        Err(e) => {
                            results.push(ActionResult {
                                id: saved.id,
                                name: saved.name.clone(),
                                outcome: Outcome::Failed,
                                pid: None,
                                message: Some(e.message),
                            });
                            continue;
                        }
                    }
                }
            };
            let r = match self.start_entry(id) {
                Ok(_) => self.result(id, Outcome::Started, None),
                Err(e) => self.result(id, Outcome::Failed, Some(e.message)),
            };
            results.push(r);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn secret_names() {
        for n in [
            "API_KEY",
            "aws_secret_access_key",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "keyring",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["PATH", "HOME", "RUST_LOG", "LANG"] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}
