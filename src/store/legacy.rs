//! The registry as wrangle wrote it before the journal (formats 1 and 2): `registry.json`
//! (format version and next id; format 1 also held every entry) and one `entries/ID.json` per
//! entry. Read once, to convert; the files are removed only after the snapshot that replaces
//! them is durable. A file that does not parse is moved aside and reported, never deleted.

use super::registry::{Entry, RegistryFile};
use super::snapshot::{self, Loaded};
use crate::error::Result;
use std::fs;
use std::path::{Path, PathBuf};

fn entries_dir(state: &Path) -> PathBuf {
    state.join("entries")
}

fn registry_path(state: &Path) -> PathBuf {
    state.join("registry.json")
}

/// The entry files in `entries/`, in name order.
fn entry_files(state: &Path) -> Vec<PathBuf> {
    let Ok(list) = fs::read_dir(entries_dir(state)) else {
        return Vec::new();
    };
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
    paths
}

/// Whether `state` holds a registry in the old layout.
pub fn present(state: &Path) -> bool {
    registry_path(state).exists() || !entry_files(state).is_empty()
}

/// What the old files held.
pub struct Old {
    /// The format version and next id (entries are in `entries`).
    pub file: RegistryFile,
    pub entries: Vec<Entry>,
}

/// Reads the old layout; files that do not parse are moved aside and reported in `warnings`.
pub fn load(state: &Path, warnings: &mut Vec<String>) -> Result<Old> {
    let meta_path = registry_path(state);
    let empty = || RegistryFile {
        version: super::registry::FORMAT_VERSION,
        next_id: 1,
        entries: Vec::new(),
    };
    let mut file = match snapshot::load_json::<RegistryFile>(&meta_path)? {
        Loaded::Missing => empty(),
        Loaded::Parsed(f) => f,
        Loaded::Corrupt { moved_to, error } => {
            warnings.push(format!(
                "{} did not parse ({error}); kept as {}",
                meta_path.display(),
                moved_to.display()
            ));
            empty()
        }
    };
    // Format 1 kept the entries in registry.json.
    let mut entries = std::mem::take(&mut file.entries);
    for p in entry_files(state) {
        match snapshot::load_json::<Entry>(&p)? {
            Loaded::Parsed(e) => {
                entries.retain(|old| old.id != e.id);
                entries.push(e);
            }
            Loaded::Missing => {}
            Loaded::Corrupt { moved_to, error } => warnings.push(format!(
                "{} did not parse ({error}); kept as {}",
                p.display(),
                moved_to.display()
            )),
        }
    }
    Ok(Old { file, entries })
}

/// The highest id among the old entry files (ids are never reused: they count).
pub fn highest_id(state: &Path) -> u64 {
    entry_files(state)
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// Removes the old files once a durable snapshot holds what they did. Files moved aside as
/// corrupt stay (and with them the `entries` folder).
pub fn remove(state: &Path) {
    for p in entry_files(state) {
        let _ = fs::remove_file(p);
    }
    let _ = fs::remove_dir(entries_dir(state));
    let _ = fs::remove_file(registry_path(state));
}
