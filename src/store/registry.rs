//! The registry: every entry the daemon tracks, its identity (ids never reused, unique names),
//! labels and runtime facts, and the selector rules that turn a [`Selector`] into entry ids.
//! Pure data: no sockets, no processes, so it is unit-tested directly. It is long because the
//! selector's rules and their tests live with the indexes they use.

use crate::error::{Code, Error, Result};
use crate::proto::{EntryInfo, EventInfo, EventKind, RunSpec, Selector};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// The registry file's format version.
pub const FORMAT_VERSION: u32 = 2;
/// Events kept per entry for `status`.
pub const EVENTS_KEPT: usize = 32;

/// Lifecycle states (SPEC §1).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Starting,
    Running,
    Stopping,
    Stopped,
    Exited,
    Backoff,
    Errored,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Starting,
        State::Running,
        State::Stopping,
        State::Stopped,
        State::Exited,
        State::Backoff,
        State::Errored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Backoff => "backoff",
            State::Errored => "errored",
        }
    }

    /// Whether a process of this entry may be alive.
    pub fn is_alive(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }
}

/// One run's bookkeeping: where its bytes start in the entry's sequence.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunMeta {
    pub run: u32,
    pub start_seq: u64,
    /// Bytes at the start of the run whose rotated segments were deleted.
    #[serde(default)]
    pub dropped: u64,
}

/// One tracked entry.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub name: Option<String>,
    pub tags: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// How to start it. Its `name`, `tags` and `groups` are cleared: the fields above rule.
    pub spec: RunSpec,
    pub state: State,
    pub pid: Option<i32>,
    /// The pid's start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: Option<u64>,
    pub run: u32,
    pub restarts: u32,
    pub created_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub error: Option<String>,
    pub originator: Option<String>,
    #[serde(default)]
    pub adopted: bool,
    /// Restarts in a row since the last healthy run (for backoff and `max_restarts`).
    #[serde(default)]
    pub consecutive: u32,
    /// Adopted with `wrangle add`: not started by wrangle, so never stopped by `shutdown` or
    /// `reset` (only by an explicit stop).
    #[serde(default)]
    pub foreign: bool,
    #[serde(default)]
    pub events: VecDeque<EventInfo>,
    /// Runs whose logs are kept, oldest first.
    #[serde(default)]
    pub runs: Vec<RunMeta>,
    /// Bytes of output captured over the entry's life (the sequence number of the next byte).
    #[serde(default)]
    pub seq: u64,
    /// Declared in a services file (`wrangle up`): every variant of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Box<crate::proto::ServiceSpec>>,
    /// A service's active profile (None: the base spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Builds run so far; build N's log is `build/N.log` in the entry's log folder.
    #[serde(default)]
    pub builds: u32,
    /// How the latest build went, for status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_state: Option<String>,
    /// The last `cron_restart` time that came (Unix seconds), whether or not it restarted
    /// anything: the next one is strictly after it, so that a daemon restarted (or a clock set
    /// back) does not run the same time twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_fired: Option<i64>,
    /// Processes that ended runs left running (`leftovers: keep`, or while being stopped): the
    /// entry's until a stop, restart, rm or shutdown ends them. Dead ones are dropped lazily.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leftovers: Vec<crate::proc::kill::Target>,
    /// The deadline of a phase under way (a restart after a backoff, the KILL of a stop), as
    /// wall-clock time: what a daemon started after this one died resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
}

/// What an entry waits for, and until when (Unix milliseconds).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub what: Awaited,
    pub at_ms: u64,
}

/// What comes at an entry's [`Deadline`].
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Awaited {
    /// The restart after a backoff.
    Restart,
    /// KILL, for a stop someone asked for.
    StopKill,
    /// KILL, for what an ended run left behind.
    LeftoversKill,
}

impl Entry {
    /// "name (id N)" or "entry N", for messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} (id {})", self.id),
            None => format!("entry {}", self.id),
        }
    }

    /// The command as one display string.
    pub fn command(&self) -> String {
        if self.spec.shell {
            self.spec.argv.join(" ")
        } else {
            self.spec
                .argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// Records an event in the entry's bounded history and returns it.
    pub fn event(&mut self, kind: EventKind, message: impl Into<String>) -> EventInfo {
        let ev = EventInfo {
            ts_ms: crate::util::now_ms(),
            id: self.id,
            kind,
            message: message.into(),
        };
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(ev.clone());
        OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            if o.len() < OUTBOX_MAX {
                o.push((ev.clone(), self.name.clone()));
            }
        });
        ev
    }

    /// The wire view of this entry (without runtime samples or events).
    pub fn info(&self) -> EntryInfo {
        let now = crate::util::now_ms();
        EntryInfo {
            id: self.id,
            name: self.name.clone(),
            tags: self.tags.iter().cloned().collect(),
            groups: self.groups.iter().cloned().collect(),
            state: self.state.as_str().to_string(),
            pid: if self.state.is_alive() {
                self.pid
            } else {
                None
            },
            run: self.run,
            restarts: self.restarts,
            command: self.command(),
            argv: self.spec.argv.clone(),
            shell: self.spec.shell,
            cwd: self.spec.cwd.clone(),
            created_at_ms: self.created_at_ms,
            started_at_ms: self.started_at_ms,
            ended_at_ms: self.ended_at_ms,
            uptime_ms: match (self.state.is_alive(), self.started_at_ms) {
                (true, Some(s)) => Some(now.saturating_sub(s)),
                _ => None,
            },
            exit_code: self.exit_code,
            exit_signal: self.exit_signal,
            cpu_percent: None,
            rss_bytes: None,
            stop_signal: self.spec.effective_stop_signal(),
            stop_timeout_ms: self.spec.stop_timeout_ms,
            originator: self.originator.clone(),
            adopted: self.adopted,
            error: self.error.clone(),
            events: Vec::new(),
            service_file: self.service.as_ref().map(|s| s.file.clone()),
            title: None,
            profile: self.profile.clone(),
            build: self.build_state.clone(),
            env: None,
            spec: None,
            leftovers: self.leftovers.iter().map(|t| t.pid).collect(),
        }
    }
}

/// Events not yet handed to subscribers. The daemon is single-threaded and drains this at the
/// end of every turn (see [`take_events`]); the cap only matters where nobody drains it.
const OUTBOX_MAX: usize = 65_536;

thread_local! {
    static OUTBOX: std::cell::RefCell<Vec<(EventInfo, Option<String>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes the events (with the entry's name) recorded on this thread since the last call,
/// oldest first.
pub fn take_events() -> Vec<(EventInfo, Option<String>)> {
    OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

/// Quotes an argument for display the way a shell would need it.
pub fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// Checks a name: a plain name, or `PROJECT/NAME` (a service's, see wrangle(1), PROJECTS) of a
/// project (see [`validate_project`]) and a plain name.
pub fn validate_name(name: &str) -> Result<()> {
    match name.split_once('/') {
        Some((project, plain)) => validate_project(project)
            .and_then(|_| validate_plain_name(plain))
            .map_err(|e| Error::new(Code::Usage, format!("invalid name {name:?}: {}", e.message))),
        None => validate_plain_name(name),
    }
}

/// Checks a project's name: 1–64 of `[A-Za-z0-9._-]`.
pub fn validate_project(project: &str) -> Result<()> {
    if project.is_empty()
        || project.len() > 64
        || !project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!(
            Code::Usage,
            "invalid project {project:?}: a project has 1 to 64 letters, digits, '.', '_' and '-'"
        );
    }
    Ok(())
}

/// Checks a plain name against SPEC §1: 1–64 of `[A-Za-z0-9._-]`, not all digits, not `all`.
pub fn validate_plain_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::new(
            Code::Usage,
            format!("invalid name {name:?}: {why}"),
        ))
    };
    if name.is_empty() || name.len() > 64 {
        return bad("a name has 1 to 64 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!(
            "{c:?} is not allowed (use letters, digits, '.', '_' and '-')"
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return bad("a name cannot be all digits (it would read as an id)");
    }
    if name == "all" {
        return bad("\"all\" is reserved: it selects every entry");
    }
    Ok(())
}

/// Checks a tag or group label: 1–64 characters, none of them white space, a control
/// character, a comma (it separates labels in lists) or one a shell reads specially inside a
/// word (`$`, `` ` ``, `'`, `"`, `\`): labels are offered by the completion scripts and typed
/// on command lines, so they stay plain words.
pub fn validate_label(kind: &str, label: &str) -> Result<()> {
    const RULE: &str = "use 1 to 64 characters without white space, control characters, \
                        commas, quotes, backslashes, '$' or '`'";
    if label.is_empty() || label.len() > 64 {
        bail!(
            Code::Usage,
            "invalid {kind} {label:?}: a {kind} has 1 to 64 characters"
        );
    }
    if let Some(c) = label.chars().find(|&c| {
        c.is_whitespace() || c.is_control() || matches!(c, ',' | '$' | '`' | '\'' | '"' | '\\')
    }) {
        let shown = match c {
            '\'' => "\"'\"".to_string(),
            c if c.is_whitespace() || c.is_control() => format!("{c:?}"),
            c => format!("'{c}'"),
        };
        bail!(
            Code::Usage,
            "invalid {kind} {label:?}: {shown} is not allowed ({RULE})"
        );
    }
    Ok(())
}

/// `registry.json` of formats 1 and 2, read to convert it (see `store::legacy`): the format
/// version and the next id (format 1 also held every entry; format 2 kept each entry in
/// `entries/ID.json`). Format 3 is the snapshot and journal of `store::journal`.
#[derive(Serialize, Deserialize, Debug)]
pub struct RegistryFile {
    pub version: u32,
    pub next_id: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
}

/// Tags or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Tag,
    Group,
}

impl LabelKind {
    pub fn word(self) -> &'static str {
        match self {
            LabelKind::Tag => "tag",
            LabelKind::Group => "group",
        }
    }
}

/// A change to one entry's labels, applied all at once or not at all.
#[derive(Debug, Default, Clone)]
pub struct Relabel {
    pub add_tags: Vec<String>,
    pub rm_tags: Vec<String>,
    pub add_groups: Vec<String>,
    pub rm_groups: Vec<String>,
    /// Some(None) removes the name.
    pub name: Option<Option<String>>,
}

/// All entries, by id, with indexes by name, tag and group so that selecting by label does
/// not scan every entry.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: u64,
    entries: BTreeMap<u64, Entry>,
    by_name: HashMap<String, u64>,
    by_tag: HashMap<String, BTreeSet<u64>>,
    by_group: HashMap<String, BTreeSet<u64>>,
    /// Entries changed (or removed) since the last save.
    dirty: BTreeSet<u64>,
    /// The environment most recently added, shared with later entries that have the same one.
    last_env: Option<std::sync::Arc<BTreeMap<String, String>>>,
    /// `next_id` changed since the last save.
    meta_dirty: bool,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            next_id: 1,
            ..Registry::default()
        }
    }

    /// Rebuilds a registry from its file; `min_next_id` guards against reusing ids that were
    /// handed out after the last save (the daemon derives it from the log folders on disk).
    pub fn from_file(file: RegistryFile, min_next_id: u64) -> Result<Registry> {
        if file.version > FORMAT_VERSION {
            bail!(
                Code::Failed,
                "the registry was written by a newer wrangle (format {}, this one reads {FORMAT_VERSION}); upgrade wrangle",
                file.version
            );
        }
        let mut r = Registry::new();
        for e in file.entries {
            r.restore(e);
        }
        r.next_id = r.next_id.max(file.next_id).max(min_next_id);
        Ok(r)
    }

    /// Makes `env` share memory with the previous entry's environment when they are equal.
    fn share_env(&mut self, env: &mut std::sync::Arc<BTreeMap<String, String>>) {
        match &self.last_env {
            Some(last) if last == env => *env = last.clone(),
            _ => self.last_env = Some(env.clone()),
        }
    }

    /// Adds an entry read back from disk.
    pub fn restore(&mut self, mut e: Entry) {
        self.share_env(&mut e.spec.env);
        self.next_id = self.next_id.max(e.id + 1);
        self.index(&e);
        self.entries.insert(e.id, e);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Mutable access; the entry will be saved at the end of the daemon's turn.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        let e = self.entries.get_mut(&id)?;
        self.dirty.insert(id);
        Some(e)
    }

    /// Mutable access for runtime counters that need not be saved on every change (the output
    /// byte count, which is recomputed from the log files after a crash).
    pub fn get_mut_unsaved(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    /// Takes the ids changed since the last call and whether `next_id` changed.
    pub fn take_dirty(&mut self) -> (BTreeSet<u64>, bool) {
        (
            std::mem::take(&mut self.dirty),
            std::mem::take(&mut self.meta_dirty),
        )
    }

    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.entries.keys().copied().collect()
    }

    /// Adds a new entry from a spec, checking its name and labels. Returns its id.
    pub fn insert(&mut self, mut spec: RunSpec, originator: Option<String>) -> Result<u64> {
        if let Some(n) = &spec.name {
            self.check_name(n, None)?;
        }
        for t in &spec.tags {
            validate_label("tag", t)?;
        }
        for g in &spec.groups {
            validate_label("group", g)?;
        }
        if spec.argv.is_empty() || spec.argv[0].is_empty() {
            bail!(
                Code::Usage,
                "no command given (wrangle run -- CMD [ARG]...)"
            );
        }
        self.share_env(&mut spec.env);
        let id = self.next_id;
        self.next_id += 1;
        self.meta_dirty = true;
        self.dirty.insert(id);
        let name = spec.name.take();
        let entry = Entry {
            id,
            name: name.clone(),
            tags: std::mem::take(&mut spec.tags).into_iter().collect(),
            groups: std::mem::take(&mut spec.groups).into_iter().collect(),
            spec,
            state: State::Starting,
            pid: None,
            start_time: None,
            run: 0,
            restarts: 0,
            created_at_ms: crate::util::now_ms(),
            started_at_ms: None,
            ended_at_ms: None,
            exit_code: None,
            exit_signal: None,
            error: None,
            originator,
            adopted: false,
            foreign: false,
            consecutive: 0,
            events: VecDeque::new(),
            runs: Vec::new(),
            seq: 0,
            service: None,
            profile: None,
            builds: 0,
            build_state: None,
            cron_fired: None,
            leftovers: Vec::new(),
            deadline: None,
        };
        self.index(&entry);
        self.entries.insert(id, entry);
        Ok(id)
    }

    fn index(&mut self, e: &Entry) {
        if let Some(n) = &e.name {
            self.by_name.insert(n.clone(), e.id);
        }
        for t in &e.tags {
            self.by_tag.entry(t.clone()).or_default().insert(e.id);
        }
        for g in &e.groups {
            self.by_group.entry(g.clone()).or_default().insert(e.id);
        }
    }

    fn unindex(&mut self, e: &Entry) {
        if let Some(n) = &e.name {
            self.by_name.remove(n);
        }
        for (map, labels) in [(&mut self.by_tag, &e.tags), (&mut self.by_group, &e.groups)] {
            for l in labels {
                if let Some(set) = map.get_mut(l) {
                    set.remove(&e.id);
                    if set.is_empty() {
                        map.remove(l);
                    }
                }
            }
        }
    }

    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.dirty.insert(id);
        self.unindex(&e);
        Some(e)
    }

    /// Forgets every entry and starts ids at 1 again.
    pub fn reset(&mut self) {
        let mut dirty: BTreeSet<u64> = self.entries.keys().copied().collect();
        dirty.extend(std::mem::take(&mut self.dirty));
        *self = Registry::new();
        self.dirty = dirty;
        self.meta_dirty = true;
    }

    /// Checks a name for entry `id` (valid and not taken by another entry).
    pub fn check_name(&self, name: &str, id: Option<u64>) -> Result<()> {
        validate_name(name)?;
        match self.by_name.get(name) {
            Some(&other) if Some(other) != id => bail!(
                Code::NameTaken,
                "the name {name:?} is taken by entry {other} (choose another, or wrangle rm {name})"
            ),
            _ => Ok(()),
        }
    }

    /// Applies a label change to entry `id`, all or nothing.
    pub fn relabel(&mut self, id: u64, change: &Relabel) -> Result<()> {
        for t in &change.add_tags {
            validate_label("tag", t)?;
        }
        for g in &change.add_groups {
            validate_label("group", g)?;
        }
        if let Some(Some(n)) = &change.name {
            self.check_name(n, Some(id))?;
        }
        let Some(old) = self.entries.get(&id).cloned() else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        self.unindex(&old);
        let Some(e) = self.get_mut(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        for t in &change.rm_tags {
            e.tags.remove(t);
        }
        e.tags.extend(change.add_tags.iter().cloned());
        for g in &change.rm_groups {
            e.groups.remove(g);
        }
        e.groups.extend(change.add_groups.iter().cloned());
        if let Some(n) = &change.name {
            e.name = n.clone();
        }
        let e = e.clone();
        self.index(&e);
        Ok(())
    }

    /// Gives entry `id` a new spec (a service's new declaration or profile): its tags and
    /// groups become the spec's; the name stays.
    pub fn replace_spec(&mut self, id: u64, mut spec: RunSpec) -> Result<()> {
        for t in &spec.tags {
            validate_label("tag", t)?;
        }
        for g in &spec.groups {
            validate_label("group", g)?;
        }
        if spec.argv.is_empty() || spec.argv[0].is_empty() {
            bail!(Code::Usage, "no command given");
        }
        let Some(old) = self.entries.get(&id).cloned() else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        self.share_env(&mut spec.env);
        self.unindex(&old);
        let Some(e) = self.get_mut(id) else {
            bail!(Code::NoSuchEntry, "no entry with id {id}");
        };
        e.tags = std::mem::take(&mut spec.tags).into_iter().collect();
        e.groups = std::mem::take(&mut spec.groups).into_iter().collect();
        spec.name = None;
        e.spec = spec;
        let e = e.clone();
        self.index(&e);
        Ok(())
    }

    /// Every tag (or group) with the ids carrying it.
    pub fn labels(&self, kind: LabelKind) -> &HashMap<String, BTreeSet<u64>> {
        match kind {
            LabelKind::Tag => &self.by_tag,
            LabelKind::Group => &self.by_group,
        }
    }

    /// Renames a tag or group on every entry (renaming onto an existing one merges them).
    /// Returns the ids changed.
    pub fn rename_label(&mut self, kind: LabelKind, old: &str, new: &str) -> Result<Vec<u64>> {
        validate_label(kind.word(), new)?;
        let ids: Vec<u64> = self
            .labels(kind)
            .get(old)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        if ids.is_empty() {
            bail!(
                Code::NoSuchEntry,
                "no entry has the {} {old:?} (see wrangle {})",
                kind.word(),
                kind.word()
            );
        }
        for &id in &ids {
            let mut change = Relabel::default();
            match kind {
                LabelKind::Tag => {
                    change.rm_tags.push(old.to_string());
                    change.add_tags.push(new.to_string());
                }
                LabelKind::Group => {
                    change.rm_groups.push(old.to_string());
                    change.add_groups.push(new.to_string());
                }
            }
            self.relabel(id, &change)?;
        }
        Ok(ids)
    }

    fn resolve_target(&self, t: &str, project: Option<&str>) -> Result<Vec<u64>> {
        if t == "all" {
            return Ok(self.ids());
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let id: u64 = t
                .parse()
                .map_err(|_| Error::new(Code::Usage, format!("id {t} is out of range")))?;
            return match self.entries.contains_key(&id) {
                true => Ok(vec![id]),
                false => Err(Error::new(
                    Code::NoSuchEntry,
                    format!("no entry with id {id} (see wrangle ls)"),
                )),
            };
        }
        // A plain name typed inside a project's folder means that project's service first.
        if let Some(p) = project.filter(|_| !t.contains('/')) {
            if let Some(&id) = self.by_name.get(&format!("{p}/{t}")) {
                return Ok(vec![id]);
            }
        }
        if let Some(&id) = self.by_name.get(t) {
            return Ok(vec![id]);
        }
        // Else a plain name is the service of that name of whichever project has one.
        let of_projects: BTreeSet<String> = if t.contains('/') {
            BTreeSet::new()
        } else {
            self.by_name
                .keys()
                .filter(|n| n.split_once('/').is_some_and(|(_, plain)| plain == t))
                .cloned()
                .collect()
        };
        let mut it = of_projects.iter();
        match (it.next(), it.next()) {
            (None, _) => Err(Error::new(
                Code::NoSuchEntry,
                format!(
                    "no entry named {t:?} (see wrangle ls){}",
                    crate::util::suggest::did_you_mean(t, self.by_name.keys().map(String::as_str))
                ),
            )),
            (Some(n), None) => Ok(self.by_name.get(n).copied().into_iter().collect()),
            _ => Err(Error::new(
                Code::Ambiguous,
                format!(
                    "{t:?} is a service of several projects: {} (use the full name, or run the command in the project's folder)",
                    of_projects.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Whether `e` passes the selector's filters (targets aside).
    pub fn matches(&self, e: &Entry, sel: &Selector) -> bool {
        let any = |want: &[String], have: &BTreeSet<String>| {
            want.is_empty() || want.iter().any(|w| have.contains(w))
        };
        let every =
            |want: &[String], have: &BTreeSet<String>| want.iter().all(|w| have.contains(w));
        any(&sel.tag, &e.tags)
            && every(&sel.tag_all, &e.tags)
            && any(&sel.group, &e.groups)
            && every(&sel.group_all, &e.groups)
            && (sel.id.is_empty() || sel.id.contains(&e.id))
            && (sel.pid.is_empty()
                || (e.state.is_alive() && e.pid.is_some_and(|p| sel.pid.contains(&p))))
            && (sel.name.is_empty() || e.name.as_ref().is_some_and(|n| sel.name.contains(n)))
            && (sel.state.is_empty() || sel.state.iter().any(|s| s == e.state.as_str()))
            && (sel.search.is_empty() || {
                let cmd = e.command();
                sel.search.iter().any(|s| cmd.contains(s.as_str()))
            })
            && (sel.originator.is_empty()
                || e.originator.as_deref().is_some_and(|o| {
                    let short = o.split('/').next().unwrap_or(o);
                    sel.originator.iter().any(|want| want == o || want == short)
                }))
            && (!sel.alive || e.state.is_alive())
    }

    /// The ids a selector picks, ascending. No targets means every entry, narrowed by filters.
    pub fn select(&self, sel: &Selector) -> Result<Vec<u64>> {
        for s in &sel.state {
            if !State::ALL.iter().any(|st| st.as_str() == s) {
                bail!(
                    Code::Usage,
                    "unknown state {s:?} (states: starting, running, stopping, stopped, exited, backoff, errored)"
                );
            }
        }
        let base: BTreeSet<u64> = if sel.targets.is_empty() {
            self.indexed_base(sel)
                .unwrap_or_else(|| self.entries.keys().copied().collect())
        } else {
            let mut set = BTreeSet::new();
            for t in &sel.targets {
                set.extend(self.resolve_target(t, sel.project.as_deref())?);
            }
            set
        };
        Ok(base
            .into_iter()
            .filter(|id| self.matches(&self.entries[id], sel))
            .collect())
    }

    /// Candidates from the label and name indexes, when the selector has such a filter (the
    /// filters still run on them afterwards).
    fn indexed_base(&self, sel: &Selector) -> Option<BTreeSet<u64>> {
        let union = |map: &HashMap<String, BTreeSet<u64>>, keys: &[String]| -> BTreeSet<u64> {
            keys.iter()
                .filter_map(|k| map.get(k))
                .flatten()
                .copied()
                .collect()
        };
        if !sel.tag_all.is_empty() {
            return Some(union(&self.by_tag, &sel.tag_all[..1]));
        }
        if !sel.group_all.is_empty() {
            return Some(union(&self.by_group, &sel.group_all[..1]));
        }
        if !sel.tag.is_empty() {
            return Some(union(&self.by_tag, &sel.tag));
        }
        if !sel.group.is_empty() {
            return Some(union(&self.by_group, &sel.group));
        }
        if !sel.name.is_empty() {
            return Some(
                sel.name
                    .iter()
                    .filter_map(|n| self.by_name.get(n))
                    .copied()
                    .collect(),
            );
        }
        if !sel.id.is_empty() {
            return Some(
                sel.id
                    .iter()
                    .filter(|i| self.entries.contains_key(i))
                    .copied()
                    .collect(),
            );
        }
        None
    }

    /// Selection for a command that changes things (`verb`): something must be named, at least
    /// one entry must match, and several matched by filters alone need `--all` (or the target
    /// `all`); names and ids given as targets are explicit enough (`rm a b`).
    pub fn select_for_change(&self, sel: &Selector, verb: &str) -> Result<Vec<u64>> {
        if sel.targets.is_empty() && !sel.has_filters() {
            bail!(
                Code::Usage,
                "{verb}: say which entries (a name, an id, all, or filter flags such as --tag)"
            );
        }
        let ids = self.select(sel)?;
        if ids.is_empty() {
            bail!(
                Code::NoSuchEntry,
                "{verb}: no entry matches the selector (see wrangle ls)"
            );
        }
        let said_all = sel.all || sel.targets.iter().any(|t| t == "all");
        if ids.len() > 1 && !said_all && sel.targets.is_empty() {
            let shown: Vec<String> = ids
                .iter()
                .take(10)
                .map(|id| self.entries[id].label())
                .collect();
            let more = if ids.len() > 10 { ", ..." } else { "" };
            bail!(
                Code::Ambiguous,
                "{verb}: {} entries match ({}{more}); add --all to {verb} all of them",
                ids.len(),
                shown.join(", ")
            );
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: Option<&str>, tags: &[&str], groups: &[&str], argv: &[&str]) -> RunSpec {
        let mut s = RunSpec::new(argv.iter().map(|s| s.to_string()).collect(), "/".into());
        s.name = name.map(String::from);
        s.tags = tags.iter().map(|s| s.to_string()).collect();
        s.groups = groups.iter().map(|s| s.to_string()).collect();
        s
    }

    fn table() -> Registry {
        let mut r = Registry::new();
        r.insert(
            spec(Some("web"), &["http", "public"], &["prod"], &["nginx"]),
            None,
        )
        .unwrap();
        r.insert(
            spec(
                Some("api"),
                &["http"],
                &["prod", "eu"],
                &["api", "--port", "80"],
            ),
            None,
        )
        .unwrap();
        r.insert(spec(Some("db"), &["db"], &["prod"], &["postgres"]), None)
            .unwrap();
        r.insert(spec(None, &[], &[], &["sleep", "100"]), None)
            .unwrap();
        r
    }

    fn sel(f: impl FnOnce(&mut Selector)) -> Selector {
        let mut s = Selector::default();
        f(&mut s);
        s
    }

    #[test]
    fn name_rules() {
        assert!(validate_name("web-1.prod_x").is_ok());
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(
            validate_name("shop/api").is_ok(),
            "a service's PROJECT/NAME"
        );
        assert!(validate_name("2024/all.x").is_ok());
        for bad in [
            "",
            "123",
            "all",
            "a b",
            "a/b/c",
            "/b",
            "a/",
            "a/123",
            "a/all",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(validate_name(bad).unwrap_err().code, Code::Usage, "{bad}");
        }
        let mut r = table();
        let e = r
            .insert(spec(Some("web"), &[], &[], &["x"]), None)
            .unwrap_err();
        assert_eq!(e.code, Code::NameTaken);
        assert!(e.message.contains("entry 1"), "{}", e.message);
    }

    #[test]
    fn ids_are_monotonic_and_never_reused() {
        let mut r = table();
        r.remove(4).unwrap();
        let id = r.insert(spec(None, &[], &[], &["x"]), None).unwrap();
        assert_eq!(id, 5);
        let file = |r: &Registry| RegistryFile {
            version: FORMAT_VERSION,
            next_id: r.next_id(),
            entries: r.iter().cloned().collect(),
        };
        let mut r2 = Registry::from_file(file(&r), 0).unwrap();
        assert_eq!(r2.insert(spec(None, &[], &[], &["x"]), None).unwrap(), 6);
        let mut r3 = Registry::from_file(file(&r), 40).unwrap();
        assert_eq!(r3.insert(spec(None, &[], &[], &["x"]), None).unwrap(), 40);
        let (dirty, meta) = r3.take_dirty();
        assert!(meta && dirty.contains(&40));
        r3.remove(1);
        assert_eq!(r3.take_dirty().0.into_iter().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn filters_any_and_all() {
        let r = table();
        assert_eq!(
            r.select(&sel(|s| s.tag = vec!["http".into()])).unwrap(),
            [1, 2]
        );
        assert_eq!(
            r.select(&sel(|s| s.tag = vec!["public".into(), "db".into()]))
                .unwrap(),
            [1, 3]
        );
        assert_eq!(
            r.select(&sel(|s| s.tag_all = vec!["http".into(), "public".into()]))
                .unwrap(),
            [1]
        );
        assert_eq!(
            r.select(&sel(|s| s.group = vec!["eu".into()])).unwrap(),
            [2]
        );
        assert_eq!(
            r.select(&sel(|s| s.group_all = vec!["prod".into(), "eu".into()]))
                .unwrap(),
            [2]
        );
        assert_eq!(
            r.select(&sel(|s| {
                s.group = vec!["prod".into()];
                s.tag = vec!["http".into()];
                s.search = vec!["--port".into()];
            }))
            .unwrap(),
            [2]
        );
        assert_eq!(
            r.select(&sel(|s| s.targets = vec!["all".into()])).unwrap(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            r.select(&sel(|s| s.targets = vec!["4".into(), "db".into()]))
                .unwrap(),
            [3, 4]
        );
        assert_eq!(
            r.select(&sel(|s| s.state = vec!["starting".into()]))
                .unwrap()
                .len(),
            4
        );
        assert!(r.select(&sel(|s| s.alive = true)).unwrap().len() == 4);
        assert_eq!(
            r.select(&sel(|s| s.state = vec!["nap".into()]))
                .unwrap_err()
                .code,
            Code::Usage
        );
    }

    #[test]
    fn unknown_targets_and_the_all_guard() {
        let r = table();
        let e = r.select(&Selector::target("nope")).unwrap_err();
        assert_eq!(e.code, Code::NoSuchEntry);
        assert!(e.message.contains("\"nope\""));
        assert_eq!(
            r.select(&Selector::target("99")).unwrap_err().code,
            Code::NoSuchEntry
        );
        let e = r
            .select_for_change(&sel(|s| s.tag = vec!["http".into()]), "stop")
            .unwrap_err();
        assert_eq!(e.code, Code::Ambiguous);
        assert!(e.message.contains("2 entries match"), "{}", e.message);
        assert!(e.message.contains("web (id 1)"), "{}", e.message);
        assert_eq!(
            r.select_for_change(
                &sel(|s| {
                    s.tag = vec!["http".into()];
                    s.all = true
                }),
                "stop"
            )
            .unwrap(),
            [1, 2]
        );
        assert_eq!(
            r.select_for_change(&Selector::default(), "stop")
                .unwrap_err()
                .code,
            Code::Usage
        );
        assert_eq!(
            r.select_for_change(&sel(|s| s.tag = vec!["zzz".into()]), "stop")
                .unwrap_err()
                .code,
            Code::NoSuchEntry
        );
    }

    #[test]
    fn relabel_rename_merge_and_reset() {
        let mut r = table();
        r.relabel(
            1,
            &Relabel {
                add_tags: vec!["edge".into()],
                rm_tags: vec!["public".into()],
                name: Some(Some("www".into())),
                ..Relabel::default()
            },
        )
        .unwrap();
        assert_eq!(r.select(&Selector::target("www")).unwrap(), [1]);
        assert!(r.select(&Selector::target("web")).is_err());
        assert_eq!(
            r.select(&sel(|s| s.tag = vec!["edge".into()])).unwrap(),
            [1]
        );
        assert!(r
            .select(&sel(|s| s.tag = vec!["public".into()]))
            .unwrap()
            .is_empty());
        // A taken name refuses the whole change.
        let e = r
            .relabel(
                2,
                &Relabel {
                    add_tags: vec!["x".into()],
                    name: Some(Some("db".into())),
                    ..Relabel::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code, Code::NameTaken);
        assert!(r.get(2).unwrap().tags.iter().all(|t| t != "x"));
        // Renaming onto an existing tag merges.
        assert_eq!(
            r.rename_label(LabelKind::Tag, "http", "db").unwrap(),
            [1, 2]
        );
        assert_eq!(
            r.select(&sel(|s| s.tag = vec!["db".into()])).unwrap(),
            [1, 2, 3]
        );
        assert!(!r.labels(LabelKind::Tag).contains_key("http"));
        assert_eq!(
            r.rename_label(LabelKind::Group, "nope", "x")
                .unwrap_err()
                .code,
            Code::NoSuchEntry
        );
        r.reset();
        assert!(r.is_empty());
        assert_eq!(r.insert(spec(None, &[], &[], &["x"]), None).unwrap(), 1);
    }

    #[test]
    fn indexed_selection_agrees_with_a_scan() {
        let r = table();
        for s in [
            sel(|s| s.tag = vec!["http".into(), "db".into()]),
            sel(|s| s.tag_all = vec!["http".into(), "public".into()]),
            sel(|s| s.group_all = vec!["prod".into(), "eu".into()]),
            sel(|s| s.name = vec!["api".into(), "zzz".into()]),
            sel(|s| s.id = vec![4, 99]),
        ] {
            let scanned: Vec<u64> = r
                .iter()
                .filter(|e| r.matches(e, &s))
                .map(|e| e.id)
                .collect();
            assert_eq!(r.select(&s).unwrap(), scanned, "{s:?}");
        }
    }

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
