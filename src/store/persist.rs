//! The registry on disk: `registry.json` (format version, next id) plus one `entries/ID.json`
//! per entry, each written atomically. The daemon saves what changed at the end of every turn,
//! before any reply about it leaves, so a `kill -9` at any moment loses at most the turn in
//! progress (whose requests were never answered). Files are fsynced in the background by a
//! debounced sync. A file that does not parse is moved aside and reported, never deleted.

use super::registry::{Entry, Registry, RegistryFile, FORMAT_VERSION};
use super::snapshot::{self, Loaded};
use crate::error::Result;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

fn entries_dir(state: &Path) -> PathBuf {
    state.join("entries")
}

/// Loads the registry; returns it with warnings about files moved aside. Ids already used by
/// log folders on disk are never handed out again.
pub fn load(state: &Path) -> Result<(Registry, Vec<String>)> {
    let mut warnings = Vec::new();
    let meta_path = state.join("registry.json");
    // The next id is kept twice (registry.json and next-id) so that losing one file never
    // makes an id come back; log and entry files are a last resort.
    let spare: u64 = fs::read_to_string(state.join("next-id"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let min_next =
        (highest_numbered(&state.join("logs")).max(highest_numbered(&entries_dir(state))) + 1)
            .max(spare);
    let file = match snapshot::load_json::<RegistryFile>(&meta_path)? {
        Loaded::Missing => RegistryFile {
            version: FORMAT_VERSION,
            next_id: 1,
            entries: Vec::new(),
        },
        Loaded::Parsed(f) => f,
        Loaded::Corrupt { moved_to, error } => {
            warnings.push(format!(
                "{} did not parse ({error}); kept as {}",
                meta_path.display(),
                moved_to.display()
            ));
            RegistryFile {
                version: FORMAT_VERSION,
                next_id: 1,
                entries: Vec::new(),
            }
        }
    };
    let from_v1: Vec<u64> = file.entries.iter().map(|e| e.id).collect();
    let mut reg = Registry::from_file(file, min_next)?;
    let dir = entries_dir(state);
    if let Ok(list) = fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = list
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.parse::<u64>().is_ok())
            })
            .collect();
        paths.sort();
        for p in paths {
            match snapshot::load_json::<Entry>(&p)? {
                Loaded::Parsed(e) => reg.restore(e),
                Loaded::Missing => {}
                Loaded::Corrupt { moved_to, error } => warnings.push(format!(
                    "{} did not parse ({error}); kept as {}",
                    p.display(),
                    moved_to.display()
                )),
            }
        }
    }
    // The output byte count is saved lazily: after a crash, recount it from the log files.
    for id in reg.ids() {
        if let Some(e) = reg.get_mut_unsaved(id) {
            if let Some(last) = e.runs.last() {
                let on_disk: u64 = crate::logs::file::run_segments(
                    &state.join("logs").join(id.to_string()),
                    last.run,
                )
                .iter()
                .filter_map(|(log, _)| fs::metadata(log).ok())
                .map(|m| m.len())
                .sum();
                e.seq = e.seq.max(last.start_seq + last.dropped + on_disk);
            }
        }
    }
    // Nothing is changed by loading, except that entries from a format-1 file move to their
    // own files on the first save, and services from before projects are renamed.
    reg.take_dirty();
    for id in from_v1 {
        reg.get_mut(id);
    }
    for (old, new) in super::projects::migrate_registry(&mut reg) {
        log::info!("service {old} is now {new} (services are named PROJECT/NAME)");
    }
    Ok((reg, warnings))
}

/// The highest number among `N` / `N.json` names in a folder (0 if none).
fn highest_numbered(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.trim_end_matches(".json").parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Writes what changed since the last save; adds what it wrote to `unsynced` (for [`sync`]).
pub fn save_changes(
    state: &Path,
    reg: &mut Registry,
    unsynced: &mut BTreeSet<PathBuf>,
) -> io::Result<()> {
    let (dirty, meta) = reg.take_dirty();
    if dirty.is_empty() && !meta {
        return Ok(());
    }
    unsynced.insert(entries_dir(state));
    unsynced.insert(state.to_path_buf());
    let dir = entries_dir(state);
    fs::create_dir_all(&dir)?;
    let mut first_err = None;
    for id in &dirty {
        let path = dir.join(format!("{id}.json"));
        if reg.get(*id).is_some() {
            unsynced.insert(path.clone());
        }
        let r = match reg.get(*id) {
            Some(e) => serde_json::to_vec(e)
                .map_err(io::Error::other)
                .and_then(|b| snapshot::write_atomic(&path, &b, false)),
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    if meta {
        let file = RegistryFile {
            version: FORMAT_VERSION,
            next_id: reg.next_id(),
            entries: Vec::new(),
        };
        let r = serde_json::to_vec(&file)
            .map_err(io::Error::other)
            .and_then(|b| snapshot::write_atomic(&state.join("registry.json"), &b, false));
        let spare = state.join("next-id");
        let r = r.and_then(|_| {
            snapshot::write_atomic(&spare, format!("{}\n", reg.next_id()).as_bytes(), false)
        });
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
        unsynced.insert(state.join("registry.json"));
        unsynced.insert(spare);
    }
    match first_err {
        // Nothing is lost: try these entries again on the next save.
        Some(e) => {
            for id in dirty {
                if reg.get(id).is_some() {
                    reg.get_mut(id);
                }
            }
            Err(e)
        }
        None => Ok(()),
    }
}

/// Makes the files (and folders) written since the last sync durable. Only those: a big
/// registry is not fsynced whole for one change.
pub fn sync(unsynced: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    let mut first_err = None;
    // Files first, then the folders that name them.
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(unsynced)
        .into_iter()
        .partition(|p| p.is_dir());
    for p in files.iter().chain(dirs.iter()) {
        match fs::File::open(p).and_then(|f| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Turns a load warning into an error-level log line and a line on stderr.
pub fn report(warnings: &[String]) {
    for w in warnings {
        log::error!("{w}");
        eprintln!("wrangle daemon: {w}");
    }
}
