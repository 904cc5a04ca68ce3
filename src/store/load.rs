//! Loading the registry at start-up: the snapshot, then the journals of its generation and
//! later ones in order (older ones are stale: compaction had finished with them), or the old
//! layout of `registry.json` and `entries/`, which is converted. A torn tail (a write cut short
//! by a crash) is dropped; a file with a bad line before good ones, or an entry that does not
//! parse, is moved aside as `NAME.corrupt-<unix time>` and reported, keeping every good line.
//! Ids already used by log folders on disk, or noted in `next-id`, are never handed out again.

use super::journal;
use super::legacy;
use super::persist::{Opened, Store};
use super::record::{self, Record};
use super::registry::{Entry, Registry, RegistryFile, FORMAT_VERSION};
use super::snapshot;
use crate::error::{Code, Error, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Loads the registry; returns it, the store to save it with, and warnings about files moved
/// aside.
pub fn load(state: &Path) -> Result<(Registry, Store, Vec<String>)> {
    let mut warnings = Vec::new();
    journal::remove_leftover_temps(state);
    // The next id is kept twice (in the files and in next-id) so that losing one never makes
    // an id come back; log folders are a last resort.
    let spare: u64 = fs::read_to_string(state.join("next-id"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let min_next =
        (highest_numbered(&state.join("logs")).max(legacy::highest_id(state)) + 1).max(spare);
    let journals = journal::journals(state);
    let new_layout = journal::snapshot_path(state).exists() || !journals.is_empty();
    let (mut reg, opened, mut rewrite, convert) = if new_layout {
        let r = replay(state, journals, &mut warnings)?;
        let mut reg = Registry::from_file(
            RegistryFile {
                version: FORMAT_VERSION,
                next_id: r.next_id,
                entries: Vec::new(),
            },
            min_next,
        )?;
        for e in r.entries {
            reg.restore(e);
        }
        (reg, r.opened, r.rewrite, false)
    } else if legacy::present(state) {
        let old = legacy::load(state, &mut warnings)?;
        let mut reg = Registry::from_file(old.file, min_next)?;
        for e in old.entries {
            reg.restore(e);
        }
        (reg, Opened::default(), true, true)
    } else {
        let reg = Registry::from_file(
            RegistryFile {
                version: FORMAT_VERSION,
                next_id: 1,
                entries: Vec::new(),
            },
            min_next,
        )?;
        (reg, Opened::default(), false, false)
    };
    recount_output(state, &mut reg);
    // Nothing is changed by loading, except that services from before projects are renamed.
    reg.take_dirty();
    for (old, new) in super::projects::migrate_registry(&mut reg) {
        log::info!("service {old} is now {new} (services are named PROJECT/NAME)");
    }
    let mut store = Store::new(state, opened);
    if convert {
        // The old files go only once the snapshot holding what they did is durable.
        store.compact_now(&reg).map_err(|e| {
            Error::io(
                format!("cannot convert the registry in {}", state.display()),
                e,
            )
        })?;
        legacy::remove(state);
        log::info!(
            "converted the registry in {} to {} and a journal",
            state.display(),
            journal::SNAPSHOT
        );
        rewrite = false;
    }
    if rewrite {
        if let Err(e) = store.compact_now(&reg) {
            log::error!("cannot rewrite the registry's snapshot: {e} (will retry)");
            store.compact_soon();
        }
    }
    Ok((reg, store, warnings))
}

/// The output byte count is saved lazily: after a crash, recount it from the log files.
fn recount_output(state: &Path, reg: &mut Registry) {
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

/// What the snapshot and journals add up to.
struct Replayed {
    next_id: u64,
    entries: Vec<Entry>,
    opened: Opened,
    /// Something was moved aside or dropped: write a fresh snapshot now.
    rewrite: bool,
}

/// One file read whole.
struct Read {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Moved aside already.
    moved: bool,
}

fn read(path: PathBuf) -> Result<Read> {
    let bytes =
        fs::read(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    Ok(Read {
        path,
        bytes,
        moved: false,
    })
}

/// Moves a file aside and says so in `warnings`.
fn move_aside(file: &mut Read, why: &str, warnings: &mut Vec<String>) -> Result<()> {
    if file.moved {
        return Ok(());
    }
    let to = snapshot::move_aside(&file.path).map_err(|e| {
        Error::new(
            Code::Failed,
            format!(
                "{} {why} and could not be moved aside: {e}",
                file.path.display()
            ),
        )
    })?;
    file.moved = true;
    warnings.push(format!(
        "{} {why}; kept as {} (the good records in it were loaded)",
        file.path.display(),
        to.display()
    ));
    Ok(())
}

/// The header of a scanned file, checked against the kind of file and this wrangle's format.
fn header(first: Option<&&[u8]>, want: &str, path: &Path) -> Result<Option<u64>> {
    match first.and_then(|b| record::parse(b)) {
        Some(Record::Header { magic, format, gen }) if magic == want => {
            if format > record::FORMAT {
                bail!(
                    Code::Failed,
                    "{} was written by a newer wrangle (format {format}, this one reads {}); upgrade wrangle",
                    path.display(),
                    record::FORMAT
                );
            }
            Ok(Some(gen))
        }
        _ => Ok(None),
    }
}

fn replay(
    state: &Path,
    journals: Vec<(u64, PathBuf)>,
    warnings: &mut Vec<String>,
) -> Result<Replayed> {
    let snap_path = journal::snapshot_path(state);
    let mut files: Vec<Read> = Vec::new();
    if snap_path.exists() {
        files.push(read(snap_path)?);
    }
    let has_snapshot = !files.is_empty();
    for (_, path) in journals {
        files.push(read(path)?);
    }
    // The latest record of each entry: the file it is in and its JSON (None: removed).
    let mut latest: BTreeMap<u64, (usize, Option<&[u8]>)> = BTreeMap::new();
    let mut next_id = 1;
    let mut snap_gen = 0;
    let mut snap_len = 0;
    let mut journaled = 0;
    let mut rewrite = false;
    let mut tail = None;
    let mut problems: Vec<(usize, String)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let is_snapshot = has_snapshot && i == 0;
        if !is_snapshot && f.bytes.is_empty() {
            // Created, and its header lost with the power: nothing was written to it.
            let _ = fs::remove_file(&f.path);
            continue;
        }
        let scan = record::scan(&f.bytes);
        let magic = match is_snapshot {
            true => record::SNAPSHOT_MAGIC,
            false => record::JOURNAL_MAGIC,
        };
        let Some(gen) = header(scan.bodies.first(), magic, &f.path)? else {
            problems.push((i, "has no good header line".into()));
            continue;
        };
        if is_snapshot {
            snap_gen = gen;
            snap_len = f.bytes.len() as u64;
        } else if gen < snap_gen {
            // Compaction had written it into the snapshot, and was killed before removing it.
            let _ = fs::remove_file(&f.path);
            continue;
        } else {
            journaled += f.bytes.len() as u64;
            if i == 0 && !has_snapshot && gen > 1 {
                warnings.push(format!(
                    "{} is missing: entries saved before {} may be lost",
                    journal::snapshot_path(state).display(),
                    f.path.display()
                ));
            }
        }
        for body in &scan.bodies[1..] {
            match record::parse(body) {
                Some(Record::NextId(n)) => next_id = n,
                Some(Record::Entry { id, json }) => {
                    latest.insert(id, (i, Some(json)));
                }
                Some(Record::Removed(id)) => {
                    latest.insert(id, (i, None));
                }
                Some(Record::Header { .. }) | None => {
                    problems.push((i, "holds a record this wrangle does not know".into()));
                }
            }
        }
        if scan.bad > 0 {
            problems.push((
                i,
                format!(
                    "has {} damaged line(s), the first at line {}",
                    scan.bad,
                    scan.first_bad.unwrap_or(0)
                ),
            ));
        }
        if scan.torn(f.bytes.len()) {
            if is_snapshot {
                problems.push((i, "ends in a damaged line".into()));
            } else {
                log::warn!(
                    "{}: dropped an incomplete last write ({} bytes; a crash cut it short)",
                    f.path.display(),
                    f.bytes.len() - scan.good_len
                );
                rewrite |= i + 1 < files.len();
            }
        }
        if !is_snapshot {
            tail = Some((gen, f.path.clone(), scan.good_len as u64));
        }
    }
    let mut entries = Vec::new();
    for (id, (i, json)) in latest {
        let Some(json) = json else { continue };
        match serde_json::from_slice::<Entry>(json) {
            Ok(e) if e.id == id => entries.push(e),
            Ok(e) => problems.push((i, format!("holds entry {} under id {id}", e.id))),
            Err(e) => problems.push((i, format!("holds entry {id}, which does not parse ({e})"))),
        }
    }
    for (i, why) in problems {
        rewrite = true;
        move_aside(&mut files[i], &why, warnings)?;
    }
    if files.iter().any(|f| f.moved) {
        tail = None;
    }
    Ok(Replayed {
        next_id,
        entries,
        opened: Opened {
            gen: snap_gen.max(tail.as_ref().map(|t| t.0).unwrap_or(0)),
            snap_len,
            journaled,
            tail,
        },
        rewrite,
    })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
