//! Loading what the store saved: round trips, torn tails, corruption, compactions cut short at
//! every step, generations that do not match, and the conversion of the old layout.

use super::*;
use crate::proto::RunSpec;
use crate::store::registry::Registry;
use crate::store::syncer::{Job, Syncer};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("wrangle-load-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    /// A copy of the files as they are now (the state folder is flat).
    fn copy(&self, name: &str) -> Dir {
        let d = Dir::new(name);
        for e in fs::read_dir(&self.0).unwrap().flatten() {
            if e.file_type().unwrap().is_file() {
                fs::copy(e.path(), d.0.join(e.file_name())).unwrap();
            }
        }
        d
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn add(reg: &mut Registry, name: &str) -> u64 {
    let mut spec = RunSpec::new(vec!["sleep".into(), "1".into()], "/".into());
    spec.name = Some(name.into());
    reg.insert(spec, None).unwrap()
}

fn set_restarts(reg: &mut Registry, id: u64, n: u32) {
    reg.get_mut(id).unwrap().restarts = n;
}

/// (id, name, restarts) of every entry.
fn summary(reg: &Registry) -> Vec<(u64, String, u32)> {
    reg.iter()
        .map(|e| (e.id, e.name.clone().unwrap_or_default(), e.restarts))
        .collect()
}

fn open(d: &Dir) -> (Registry, Store, Vec<String>) {
    load(&d.0).unwrap()
}

fn save(reg: &mut Registry, store: &mut Store) -> Option<Job> {
    store.save_changes(reg).unwrap();
    store.take_job()
}

fn entry_line(reg: &Registry, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    record::entry(&mut out, reg.get(id).unwrap()).unwrap();
    out
}

#[test]
fn what_was_saved_loads_back_and_a_torn_tail_is_dropped() {
    let d = Dir::new("torn");
    let (mut reg, mut store, w) = open(&d);
    assert!(w.is_empty() && reg.is_empty());
    let a = add(&mut reg, "a");
    let b = add(&mut reg, "b");
    save(&mut reg, &mut store);
    add(&mut reg, "c");
    set_restarts(&mut reg, b, 5);
    save(&mut reg, &mut store);
    reg.remove(a);
    save(&mut reg, &mut store);
    let want = summary(&reg);
    assert_eq!(want, [(2, "b".into(), 5), (3, "c".into(), 0)]);
    drop(store);

    let (reg, store, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&reg), want);
    assert_eq!(reg.next_id(), 4);
    drop(store);

    // A crash in the middle of a write: the cut line is dropped, silently.
    let journal = journal::journal_path(&d.0, 1);
    let good = fs::metadata(&journal).unwrap().len();
    let mut torn = fs::read(&journal).unwrap();
    torn.extend_from_slice(b"0badf00d E 9 {\"id\":9,\"na");
    fs::write(&journal, &torn).unwrap();
    let (mut reg, mut store, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&reg), want);
    assert_eq!(
        fs::metadata(&journal).unwrap().len(),
        good,
        "the torn tail is cut off before anything is appended"
    );
    // What is written next loads, with no warning about the old tail.
    add(&mut reg, "d");
    save(&mut reg, &mut store);
    drop(store);
    let (reg, _, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(reg.len(), 3);
    assert_eq!(reg.next_id(), 5);
}

#[test]
fn a_bad_line_in_the_middle_moves_the_journal_aside_and_keeps_the_rest() {
    let d = Dir::new("corrupt");
    let (mut reg, mut store, _) = open(&d);
    for n in ["a", "b", "c"] {
        add(&mut reg, n);
        save(&mut reg, &mut store);
    }
    drop(store);
    let journal = journal::journal_path(&d.0, 1);
    let mut bytes = fs::read(&journal).unwrap();
    let line = entry_line(&reg, 2);
    let at = bytes
        .windows(line.len())
        .position(|w| w == line.as_slice())
        .expect("entry 2's record is in the journal");
    bytes[at + 40] ^= 0x01;
    fs::write(&journal, &bytes).unwrap();

    let (reg2, store, w) = open(&d);
    assert_eq!(
        summary(&reg2),
        [(1, "a".into(), 0), (3, "c".into(), 0)],
        "the records around the bad one are kept"
    );
    assert_eq!(reg2.next_id(), 4, "ids do not go back");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("registry.journal.1") && w[0].contains("line 4"),
        "{w:?}"
    );
    let moved: Vec<String> = d
        .names()
        .into_iter()
        .filter(|n| n.starts_with("registry.journal.1.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1, "{:?}", d.names());
    assert!(w[0].contains(&moved[0]), "{w:?}");
    assert_eq!(
        fs::read(d.0.join(&moved[0])).unwrap(),
        bytes,
        "kept as it was"
    );
    // What loaded is rewritten at once: the next start has nothing to say.
    assert!(journal::snapshot_path(&d.0).exists());
    drop(store);
    let (reg3, _, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&reg3), summary(&reg2));
}

#[test]
fn a_compaction_cut_short_at_any_step_loses_nothing() {
    let d = Dir::new("compact");
    let (mut reg, mut store, _) = open(&d);
    store.set_min_journal(1);
    let a = add(&mut reg, "a");
    let b = add(&mut reg, "b");
    set_restarts(&mut reg, a, 1);
    let Some(job) = save(&mut reg, &mut store) else {
        panic!("a journal past its size is compacted")
    };
    assert_eq!(store.journal_gen(), Some(2), "a new journal starts at once");
    // Changes after the rotation go to journal 2 while the snapshot is being written.
    set_restarts(&mut reg, b, 2);
    add(&mut reg, "c");
    assert!(
        save(&mut reg, &mut store).is_none(),
        "one compaction at a time"
    );
    let want = summary(&reg);

    // Killed before the snapshot was written: journal 1 and 2, no snapshot.
    let before = d.copy("compact-before");
    assert_eq!(
        before.names(),
        ["next-id", "registry.journal.1", "registry.journal.2"]
    );
    // ...or while its temporary file was half written.
    fs::write(before.0.join(".registry.snapshot.tmp-99999"), b"half a sn").unwrap();
    let (r, _, w) = open(&before);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r), want);
    assert!(!before.0.join(".registry.snapshot.tmp-99999").exists());

    // The snapshot written, the stale journal not yet removed.
    let stale = fs::read(journal::journal_path(&d.0, 1)).unwrap();
    let mut syncer = Syncer::default();
    syncer.submit_job(job);
    syncer.flush();
    store.settle();
    assert_eq!(
        d.names(),
        ["next-id", "registry.journal.2", "registry.snapshot"],
        "journal 1 is gone once snapshot 2 is durable"
    );
    let after = d.copy("compact-after");
    fs::write(journal::journal_path(&after.0, 1), &stale).unwrap();
    let (r, _, w) = open(&after);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r), want);
    assert!(
        !journal::journal_path(&after.0, 1).exists(),
        "a stale journal is removed"
    );

    // Done: the store goes on in journal 2.
    reg.remove(a);
    store.set_min_journal(u64::MAX);
    assert!(save(&mut reg, &mut store).is_none());
    assert_eq!(store.journal_gen(), Some(2));

    // After a failed upgrade, a compaction is forced whatever the sizes.
    store.compact_soon();
    set_restarts(&mut reg, b, 9);
    let Some(job) = save(&mut reg, &mut store) else {
        panic!("a forced compaction")
    };
    assert_eq!(store.journal_gen(), Some(3));
    syncer.submit_job(job);
    syncer.flush();
    store.settle();
    assert_eq!(
        d.names(),
        ["next-id", "registry.journal.3", "registry.snapshot"]
    );
    drop(store);
    let (r, _, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r), summary(&reg));
    assert_eq!(r.get(b).map(|e| e.restarts), Some(9));
    assert_eq!(r.next_id(), 4);
}

#[test]
fn a_journal_older_than_the_snapshot_is_not_applied() {
    let d = Dir::new("gen");
    let (mut reg, store, _) = open(&d);
    let a = add(&mut reg, "a");
    set_restarts(&mut reg, a, 7);
    let bytes = journal::snapshot_bytes(5, reg.next_id(), reg.iter()).unwrap();
    journal::write_snapshot(&d.0, 5, &bytes).unwrap();
    // Journal 3 says something older about entry 1 (and removes nothing).
    set_restarts(&mut reg, a, 3);
    let mut j3 = Vec::new();
    record::header(&mut j3, record::JOURNAL_MAGIC, 3);
    j3.extend(entry_line(&reg, a));
    fs::write(journal::journal_path(&d.0, 3), &j3).unwrap();
    // Journal 5 follows snapshot 5.
    add(&mut reg, "b");
    let mut j5 = Vec::new();
    record::header(&mut j5, record::JOURNAL_MAGIC, 5);
    j5.extend(entry_line(&reg, 2));
    record::next_id(&mut j5, 3);
    fs::write(journal::journal_path(&d.0, 5), &j5).unwrap();
    drop(store);

    let (mut r, mut store, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r), [(1, "a".into(), 7), (2, "b".into(), 0)]);
    assert!(!journal::journal_path(&d.0, 3).exists());
    // The next write goes on in journal 5.
    add(&mut r, "c");
    save(&mut r, &mut store);
    assert_eq!(store.journal_gen(), Some(5));
    drop(store);

    // A journal whose snapshot is missing is applied, and the loss is reported.
    fs::remove_file(journal::snapshot_path(&d.0)).unwrap();
    let (r, _, w) = open(&d);
    assert_eq!(summary(&r), [(2, "b".into(), 0), (3, "c".into(), 0)]);
    assert!(
        w.len() == 1 && w[0].contains("registry.snapshot is missing"),
        "{w:?}"
    );
    assert!(r.next_id() >= 4);
}

#[test]
fn a_snapshot_from_a_newer_wrangle_is_refused() {
    let d = Dir::new("newer");
    let mut out = Vec::new();
    out.extend(
        format!(
            "{:08x} H wrangle-snapshot 99 1\n",
            record::crc32(b"H wrangle-snapshot 99 1")
        )
        .into_bytes(),
    );
    fs::write(journal::snapshot_path(&d.0), &out).unwrap();
    let e = load(&d.0).err().expect("refused");
    assert!(e.message.contains("newer wrangle"), "{}", e.message);
    assert!(journal::snapshot_path(&d.0).exists(), "and left alone");
}

#[test]
fn the_old_layout_is_converted_and_removed_once_the_snapshot_is_durable() {
    let d = Dir::new("legacy");
    let mut reg = Registry::new();
    add(&mut reg, "a");
    let b = add(&mut reg, "b");
    set_restarts(&mut reg, b, 4);
    let entries = d.0.join("entries");
    fs::create_dir_all(&entries).unwrap();
    for e in reg.iter() {
        fs::write(
            entries.join(format!("{}.json", e.id)),
            serde_json::to_vec(e).unwrap(),
        )
        .unwrap();
    }
    fs::write(entries.join("3.json"), b"{not json").unwrap();
    fs::write(d.0.join("registry.json"), br#"{"version":2,"next_id":9}"#).unwrap();
    fs::write(d.0.join("next-id"), b"9\n").unwrap();
    let want = summary(&reg);

    let (mut r, mut store, w) = open(&d);
    assert_eq!(summary(&r), want);
    assert_eq!(r.next_id(), 9);
    assert!(w.len() == 1 && w[0].contains("3.json"), "{w:?}");
    assert!(!d.0.join("registry.json").exists());
    assert!(!entries.join("1.json").exists() && !entries.join("2.json").exists());
    let kept: Vec<_> = fs::read_dir(&entries).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "the corrupt file stays, moved aside");
    assert!(journal::snapshot_path(&d.0).exists());
    add(&mut r, "c");
    save(&mut r, &mut store);
    drop(store);

    // Old files left by a conversion killed before removing them lose to the snapshot.
    fs::write(d.0.join("registry.json"), br#"{"version":2,"next_id":2}"#).unwrap();
    fs::write(entries.join("1.json"), b"{}").unwrap();
    let (r2, _, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r2), summary(&r));
    assert_eq!(r2.next_id(), 10);

    // Format 1: the entries inside registry.json.
    let d1 = Dir::new("legacy1");
    let file = serde_json::json!({
        "version": 1,
        "next_id": 5,
        "entries": [serde_json::to_value(reg.get(b).unwrap()).unwrap()],
    });
    fs::write(d1.0.join("registry.json"), file.to_string()).unwrap();
    let (r1, _, w) = open(&d1);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r1), [(2, "b".into(), 4)]);
    assert_eq!(r1.next_id(), 5);
    assert!(!d1.0.join("registry.json").exists());
}

#[test]
fn a_compaction_from_damaged_files_fails_and_the_next_copies_the_entries() {
    let d = Dir::new("merge");
    let (mut reg, mut store, _) = open(&d);
    store.set_min_journal(1);
    let a = add(&mut reg, "a");
    let b = add(&mut reg, "b");
    set_restarts(&mut reg, a, 1);
    let Some(job) = save(&mut reg, &mut store) else {
        panic!("a journal past its size is compacted")
    };
    // The snapshot merged from the files is the one the entries make.
    assert_eq!(
        super::super::compact::merge(&d.0, 2, reg.next_id()).unwrap(),
        journal::snapshot_bytes(2, reg.next_id(), reg.iter()).unwrap()
    );
    // A bad line in journal 1: the merge refuses it, and nothing is deleted.
    let j1 = journal::journal_path(&d.0, 1);
    let mut bytes = fs::read(&j1).unwrap();
    let line = entry_line(&reg, a);
    let at = bytes
        .windows(line.len())
        .position(|w| w == line.as_slice())
        .unwrap();
    bytes[at + 40] ^= 0x01;
    fs::write(&j1, &bytes).unwrap();
    let mut syncer = Syncer::default();
    syncer.submit_job(job);
    syncer.flush();
    store.settle();
    assert_eq!(
        d.names(),
        ["next-id", "registry.journal.1", "registry.journal.2"]
    );
    // The next compaction writes the entries the loop holds.
    set_restarts(&mut reg, b, 3);
    let Some(job) = save(&mut reg, &mut store) else {
        panic!("compaction is tried again")
    };
    syncer.submit_job(job);
    syncer.flush();
    store.settle();
    assert_eq!(
        d.names(),
        ["next-id", "registry.journal.3", "registry.snapshot"]
    );
    drop(store);
    let (r, _, w) = open(&d);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(summary(&r), [(1, "a".into(), 1), (2, "b".into(), 3)]);
}
