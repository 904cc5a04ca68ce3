//! Services files: `wrangle.json` (SPEC §4, wrangle.json(5)) and Procfiles, read and resolved
//! into [`ServiceSpec`]s in start order: paths absolute, environments complete, profiles merged
//! over the base, `direnv` wrapping applied. Every error names the file, the line and column,
//! and the key path (`services.api.cmd[1]`); a file is either wholly valid or an error. It is
//! long because every key of wrangle.json(5) is read here, and half of it is the tests of
//! every error message.

use super::cron::Cron;
use super::envfile;
use super::json::{self, Key, Value};
use crate::error::{Code, Error, Result};
use crate::proto::msg::{
    Backoff, BuildSpec, IdleProfile, Leftovers, Ready, Restart, RunSpec, ServiceSpec, Variant,
};
use crate::store::registry::{validate_label, validate_name};
use crate::util::{duration, signal, size};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The services file `wrangle up` looks for first.
pub const FILE_NAME: &str = "wrangle.json";
/// The file it falls back to.
pub const PROCFILE_NAME: &str = "Procfile";

/// Every key a service may have.
const SERVICE_KEYS: &[&str] = &[
    "cmd",
    "shell",
    "cwd",
    "env",
    "env_file",
    "direnv",
    "build",
    "restart",
    "backoff",
    "max_restarts",
    "min_uptime",
    "stop_signal",
    "stop_timeout",
    "leftovers",
    "after",
    "ready",
    "tags",
    "groups",
    "pty",
    "scrollback",
    "logs",
    "cron_restart",
    "profiles",
    "idle_profile",
];

/// Keys that belong to the service as a whole: a profile cannot set them.
const SERVICE_ONLY_KEYS: &[&str] = &["profiles", "idle_profile", "after", "cron_restart"];

const BACKOFF_KEYS: &[&str] = &["initial", "factor", "max"];
const READY_KEYS: &[&str] = &["log", "port", "timeout"];
const LOGS_KEYS: &[&str] = &["max_size", "keep", "timestamps"];
const IDLE_KEYS: &[&str] = &["after", "profile"];

/// Durations written as numbers of seconds may not exceed this (about 31,000 years).
const MAX_SECONDS: f64 = 1e12;

/// Finds the services file in `dir`: `wrangle.json`, else `Procfile`; an error naming both if
/// neither exists.
pub fn find(dir: &Path) -> Result<PathBuf> {
    for name in [FILE_NAME, PROCFILE_NAME] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        Code::Usage,
        "no {FILE_NAME} or {PROCFILE_NAME} in {} (write one, see wrangle.json(5), or name a file with -f FILE)",
        dir.display()
    )
}

/// Reads and resolves a services file. A file whose name starts with `Procfile` is read as a
/// Procfile, anything else as `wrangle.json`. `inherited` is the caller's environment: every
/// service's environment starts from it. Returns the services in start order: dependencies
/// (`after`) first, otherwise in file order.
pub fn load(path: &Path, inherited: &BTreeMap<String, String>) -> Result<Vec<ServiceSpec>> {
    let file = absolute(path)?;
    let bytes = std::fs::read(&file)
        .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // The valid prefix is UTF-8 by definition.
            let before = String::from_utf8_lossy(good);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            bail!(
                Code::Usage,
                "{}:{line}:{col}: the file is not valid UTF-8 text",
                file.display()
            )
        }
    };
    parse(&text, &file, inherited)
}

/// Like [`load`], from text already read. `path` names the file in messages, decides between
/// Procfile and JSON, and its folder is what relative paths are relative to.
pub fn parse(
    text: &str,
    path: &Path,
    inherited: &BTreeMap<String, String>,
) -> Result<Vec<ServiceSpec>> {
    let file = absolute(path)?;
    let Some(file_str) = file.to_str() else {
        bail!(
            Code::Usage,
            "{}: the services file's path is not valid UTF-8",
            file.display()
        )
    };
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let is_procfile = file
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PROCFILE_NAME));
    let loader = Loader {
        file: file_str.to_string(),
        dir,
        inherited,
        env_files: RefCell::new(HashMap::new()),
        envs: RefCell::new(Vec::new()),
        direnv: RefCell::new(None),
    };
    if is_procfile {
        loader.procfile(text)
    } else {
        loader.json(text)
    }
}

/// `path` made absolute (against the current folder) and normalised lexically.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let here =
        std::env::current_dir().map_err(|e| Error::io("cannot tell the current folder", e))?;
    Ok(normalize(&here.join(path)))
}

/// Removes `.` and resolves `..` without looking at the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// A key's path below `parent`: `parent.key`, or `parent["odd key"]` for a key that is not a
/// plain word.
fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

fn item(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The closest allowed key, if it is close enough to be a likely typo.
fn suggest<'k>(name: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let lower = name.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| {
            // A prefix of a key ("prof" for "profile") counts as close.
            let prefix = lower.len() >= 3 && a.starts_with(lower.as_str());
            (if prefix { 1 } else { edit_distance(&lower, a) }, *a)
        })
        .filter(|(d, a)| *d <= 2 && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One key of a service as it applies to a variant: from the base or from a profile (whose
/// path it then carries).
#[derive(Clone)]
struct Field<'a> {
    key: &'a Key,
    value: &'a Value,
    path: String,
}

/// Where a variant is declared: the service's or the profile's object.
struct Anchor<'a> {
    value: &'a Value,
    path: &'a str,
}

struct Loader<'a> {
    /// The services file, absolute.
    file: String,
    /// Its folder: relative paths start here.
    dir: PathBuf,
    inherited: &'a BTreeMap<String, String>,
    /// Env files read so far (a file named by several variants is read once).
    env_files: RefCell<HashMap<PathBuf, Vec<(String, String)>>>,
    /// Complete environments built so far, shared between variants that have the same one.
    envs: RefCell<Vec<Arc<BTreeMap<String, String>>>>,
    /// Whether an executable `direnv` is on the inherited PATH (looked up once, when needed).
    direnv: RefCell<Option<bool>>,
}

/// What a service contributes to ordering: its `after` names with their positions.
struct Deps<'a> {
    after_key: Option<&'a Key>,
    items: Vec<(&'a str, &'a Value, String)>,
}

impl<'a> Loader<'a> {
    // ----- messages -----

    fn err(&self, line: u32, col: u32, path: &str, msg: impl Display) -> Error {
        Error::new(
            Code::Usage,
            format!("{}:{line}:{col}: {path}: {msg}", self.file),
        )
    }

    fn at(&self, v: &Value, path: &str, msg: impl Display) -> Error {
        self.err(v.line, v.col, path, msg)
    }

    fn at_key(&self, k: &Key, path: &str, msg: impl Display) -> Error {
        self.err(k.line, k.col, path, msg)
    }

    fn wrong_type(&self, v: &Value, path: &str, expected: &str) -> Error {
        self.at(
            v,
            path,
            format!("expected {expected}, found {}", v.type_name()),
        )
    }

    fn unknown_key(&self, k: &Key, path: &str, allowed: &[&str]) -> Error {
        let hint = match suggest(&k.name, allowed) {
            Some(s) => format!(", did you mean {s:?}?"),
            None => String::new(),
        };
        self.at_key(
            k,
            path,
            format!(
                "unknown key{hint} (expected one of: {})",
                allowed.join(", ")
            ),
        )
    }

    // ----- typed values -----

    /// An object whose keys are all in `allowed`.
    fn object<'v>(
        &self,
        v: &'v Value,
        path: &str,
        allowed: &[&str],
        expected: &str,
    ) -> Result<&'v [(Key, Value)]> {
        let members = v
            .as_object()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        for (k, _) in members {
            if !allowed.contains(&k.name.as_str()) {
                return Err(self.unknown_key(k, &child(path, &k.name), allowed));
            }
        }
        Ok(members)
    }

    fn string<'v>(&self, v: &'v Value, path: &str, expected: &str) -> Result<&'v str> {
        v.as_str().ok_or_else(|| self.wrong_type(v, path, expected))
    }

    /// A string that can go on a command line or into the environment (no NUL).
    fn text<'v>(&self, v: &'v Value, path: &str, expected: &str) -> Result<&'v str> {
        let s = self.string(v, path, expected)?;
        if s.contains('\0') {
            return Err(self.at(
                v,
                path,
                "contains a NUL character, which cannot be passed to a process",
            ));
        }
        Ok(s)
    }

    /// A non-empty array of strings (an argv).
    fn argv(&self, v: &Value, path: &str, expected: &str) -> Result<Vec<String>> {
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        if items.is_empty() {
            return Err(self.at(v, path, "must not be empty (the first item is the program)"));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            let s = self.text(it, &item(path, i), "a string")?;
            if i == 0 && s.is_empty() {
                return Err(self.at(it, &item(path, i), "the program name is empty"));
            }
            out.push(s.to_string());
        }
        Ok(out)
    }

    fn bool(&self, v: &Value, path: &str) -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| self.wrong_type(v, path, "true or false"))
    }

    /// A whole number from 0 to `max`.
    fn uint(&self, v: &Value, path: &str, max: u64) -> Result<u64> {
        let expected = format!("a whole number from 0 to {max}");
        let n = v
            .as_number()
            .ok_or_else(|| self.wrong_type(v, path, &expected))?;
        match n.as_u64() {
            Some(x) if x <= max => Ok(x),
            _ => Err(self.at(v, path, format!("expected {expected}, found {}", n.text))),
        }
    }

    /// A duration: a string such as `"5s"` or a non-negative number of seconds; in ms.
    fn duration_ms(&self, v: &Value, path: &str) -> Result<u64> {
        let expected =
            "a duration such as \"250ms\", \"5s\", \"2m\", \"1h\" or a number of seconds";
        if let Some(s) = v.as_str() {
            let d = duration::parse(s).map_err(|e| self.at(v, path, e.message))?;
            return Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        }
        let n = v
            .as_number()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        if !(0.0..=MAX_SECONDS).contains(&n.value) {
            return Err(self.at(
                v,
                path,
                format!(
                    "expected {expected}, found {} (it must be from 0 to {MAX_SECONDS})",
                    n.text
                ),
            ));
        }
        Ok((n.value * 1000.0).round() as u64)
    }

    /// An array of strings, each checked as a tag or group label; duplicates dropped.
    fn labels(&self, v: &Value, path: &str, kind: &str) -> Result<Vec<String>> {
        let expected = format!("an array of {kind}s (strings)");
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong_type(v, path, &expected))?;
        let mut out: Vec<String> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let p = item(path, i);
            let s = self.string(it, &p, "a string")?;
            validate_label(kind, s).map_err(|e| self.at(it, &p, e.message))?;
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        Ok(out)
    }

    // ----- the environment -----

    fn env_file(&self, v: &Value, path: &str) -> Result<Vec<(String, String)>> {
        let rel = self.text(v, path, "a file name")?;
        if rel.is_empty() {
            return Err(self.at(v, path, "the file name is empty"));
        }
        let file = normalize(&self.dir.join(rel));
        if let Some(pairs) = self.env_files.borrow().get(&file) {
            return Ok(pairs.clone());
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::new(
                Code::Failed,
                format!(
                    "{}:{}:{}: {path}: cannot read env file {}: {e}",
                    self.file,
                    v.line,
                    v.col,
                    file.display()
                ),
            )
        })?;
        let pairs = envfile::parse(&text, &file.display().to_string()).map_err(|e| {
            Error::new(
                e.code,
                format!("{}:{}:{}: {path}: {}", self.file, v.line, v.col, e.message),
            )
        })?;
        self.env_files.borrow_mut().insert(file, pairs.clone());
        Ok(pairs)
    }

    /// The inherited environment with `declared` on top, shared with an earlier variant's if
    /// it is the same.
    fn full_env(&self, declared: &BTreeMap<String, String>) -> Arc<BTreeMap<String, String>> {
        let mut env = self.inherited.clone();
        env.extend(declared.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut envs = self.envs.borrow_mut();
        if let Some(same) = envs.iter().find(|e| ***e == env) {
            return Arc::clone(same);
        }
        let env = Arc::new(env);
        envs.push(Arc::clone(&env));
        env
    }

    /// Whether an executable `direnv` is on the inherited PATH.
    fn has_direnv(&self) -> bool {
        if let Some(known) = *self.direnv.borrow() {
            return known;
        }
        use std::os::unix::fs::PermissionsExt;
        let found = self.inherited.get("PATH").is_some_and(|path| {
            path.split(':').filter(|d| !d.is_empty()).any(|d| {
                std::fs::metadata(Path::new(d).join("direnv"))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        });
        *self.direnv.borrow_mut() = Some(found);
        found
    }

    /// Whether commands in `cwd` run through `direnv exec`.
    fn use_direnv(&self, enabled: bool, cwd: &str) -> bool {
        enabled && Path::new(cwd).join(".envrc").is_file() && self.has_direnv()
    }

    // ----- the document -----

    fn json(&self, text: &str) -> Result<Vec<ServiceSpec>> {
        let root = json::parse(text).map_err(|e| {
            Error::new(
                Code::Usage,
                format!(
                    "{}:{}:{}: invalid JSON: {}",
                    self.file, e.line, e.col, e.message
                ),
            )
        })?;
        let top = "top level";
        let members = root
            .as_object()
            .ok_or_else(|| self.wrong_type(&root, top, "an object with the key \"services\""))?;
        for (k, _) in members {
            if k.name != "services" {
                return Err(self.unknown_key(k, &child("", &k.name), &["services"]));
            }
        }
        let Some((_, services)) = members.iter().find(|(k, _)| k.name == "services") else {
            return Err(self.at(
                &root,
                top,
                "missing key \"services\" (an object: service name → service)",
            ));
        };
        let svc = services.as_object().ok_or_else(|| {
            self.wrong_type(services, "services", "an object (service name → service)")
        })?;
        if svc.is_empty() {
            return Err(self.at(
                services,
                "services",
                "no services declared (add at least one)",
            ));
        }
        let mut specs = Vec::with_capacity(svc.len());
        let mut deps = Vec::with_capacity(svc.len());
        for (k, v) in svc {
            let path = child("services", &k.name);
            validate_name(&k.name).map_err(|e| self.at_key(k, &path, e.message))?;
            let (spec, d) = self.service(&k.name, v, &path)?;
            specs.push(spec);
            deps.push(d);
        }
        // `after` names services of this file, never the service itself.
        for (spec, d) in specs.iter().zip(&deps) {
            for (name, v, p) in &d.items {
                if *name == spec.name {
                    return Err(self.at(v, p, "a service cannot come after itself"));
                }
                if !specs.iter().any(|s| s.name == *name) {
                    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                    return Err(self.at(
                        v,
                        p,
                        format!(
                            "no service named {name:?} in this file (services: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        self.order(specs, &deps)
    }

    /// Start order: each service after the ones it names in `after`, ties in file order.
    fn order(&self, specs: Vec<ServiceSpec>, deps: &[Deps]) -> Result<Vec<ServiceSpec>> {
        let n = specs.len();
        let index: HashMap<&str, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = specs
            .iter()
            .map(|s| {
                s.after
                    .iter()
                    .filter_map(|a| index.get(a.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut placed = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            if let Some(i) = (0..n).find(|&i| !placed[i] && edges[i].iter().all(|&d| placed[d])) {
                placed[i] = true;
                order.push(i);
                continue;
            }
            // Nothing can go next: the rest contains a cycle. Walk it from the first unplaced.
            let Some(mut cur) = (0..n).find(|&i| !placed[i]) else {
                break;
            };
            let mut walk: Vec<usize> = Vec::new();
            let cycle = loop {
                if let Some(p) = walk.iter().position(|&w| w == cur) {
                    break walk.split_off(p);
                }
                walk.push(cur);
                match edges[cur].iter().find(|&&d| !placed[d]) {
                    Some(&d) => cur = d,
                    None => break walk.clone(),
                }
            };
            let Some(start) = cycle.iter().position(|&c| Some(&c) == cycle.iter().min()) else {
                break;
            };
            let first = cycle[start];
            let mut names: Vec<&str> = cycle[start..]
                .iter()
                .chain(&cycle[..start])
                .map(|&i| specs[i].name.as_str())
                .collect();
            names.push(specs[first].name.as_str());
            let path = child(&child("services", &specs[first].name), "after");
            let msg = format!(
                "dependency cycle: {} (each comes after the next)",
                names.join(" -> ")
            );
            return Err(match deps[first].after_key {
                Some(k) => self.at_key(k, &path, msg),
                None => Error::new(Code::Usage, format!("{}: {path}: {msg}", self.file)),
            });
        }
        let mut slots: Vec<Option<ServiceSpec>> = specs.into_iter().map(Some).collect();
        Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
    }

    fn service<'v>(&self, name: &str, v: &'v Value, path: &str) -> Result<(ServiceSpec, Deps<'v>)> {
        let members = self.object(v, path, SERVICE_KEYS, "an object (a service)")?;
        let get = |key: &str| {
            members
                .iter()
                .find(|(k, val)| k.name == key && !val.is_null())
                .map(|(k, val)| (k, val))
        };
        let base_fields: Vec<Field> = members
            .iter()
            .filter(|(k, _)| !SERVICE_ONLY_KEYS.contains(&k.name.as_str()))
            .map(|(k, val)| Field {
                key: k,
                value: val,
                path: child(path, &k.name),
            })
            .collect();
        let base = self.variant(name, &base_fields, &Anchor { value: v, path })?;

        let mut profiles = BTreeMap::new();
        if let Some((_, pv)) = get("profiles") {
            let ppath = child(path, "profiles");
            let list = pv.as_object().ok_or_else(|| {
                self.wrong_type(pv, &ppath, "an object (profile name → overrides)")
            })?;
            for (pk, po) in list {
                let prof_path = child(&ppath, &pk.name);
                validate_name(&pk.name).map_err(|e| {
                    self.at_key(
                        pk,
                        &prof_path,
                        e.message.replacen("name", "profile name", 1),
                    )
                })?;
                if pk.name == "base" {
                    return Err(self.at_key(
                        pk,
                        &prof_path,
                        "\"base\" is reserved: it names the service's own declaration (wrangle restart --profile base)",
                    ));
                }
                let overrides = po.as_object().ok_or_else(|| {
                    self.wrong_type(
                        po,
                        &prof_path,
                        "an object of keys that override the service's",
                    )
                })?;
                let given = |k: &str| {
                    overrides
                        .iter()
                        .find(|(key, v)| key.name == k && !v.is_null())
                };
                if let (Some((ck, _)), Some((sk, _))) = (given("cmd"), given("shell")) {
                    let (first, second) = if (ck.line, ck.col) < (sk.line, sk.col) {
                        (ck, sk)
                    } else {
                        (sk, ck)
                    };
                    return Err(self.at_key(
                        second,
                        &child(&prof_path, &second.name),
                        format!(
                            "both \"cmd\" and \"shell\" are given (at {}:{}); keep one: cmd for an argv, shell for a command line run by sh -c",
                            first.line, first.col
                        ),
                    ));
                }
                let mut fields = base_fields.clone();
                for (ok, ov) in overrides {
                    let key = ok.name.as_str();
                    let kpath = child(&prof_path, key);
                    if SERVICE_ONLY_KEYS.contains(&key) {
                        return Err(self.at_key(
                            ok,
                            &kpath,
                            "cannot be set in a profile (it belongs to the service as a whole)",
                        ));
                    }
                    if !SERVICE_KEYS.contains(&key) {
                        let allowed: Vec<&str> = SERVICE_KEYS
                            .iter()
                            .copied()
                            .filter(|k| !SERVICE_ONLY_KEYS.contains(k))
                            .collect();
                        return Err(self.unknown_key(ok, &kpath, &allowed));
                    }
                    // `cmd` and `shell` are one setting: giving either replaces the other.
                    let replaces = |other: &str| {
                        other == key
                            || (!ov.is_null()
                                && matches!((key, other), ("cmd", "shell") | ("shell", "cmd")))
                    };
                    fields.retain(|f| !replaces(&f.key.name));
                    if !ov.is_null() {
                        fields.push(Field {
                            key: ok,
                            value: ov,
                            path: kpath,
                        });
                    }
                }
                let variant = self.variant(
                    name,
                    &fields,
                    &Anchor {
                        value: po,
                        path: &prof_path,
                    },
                )?;
                profiles.insert(pk.name.clone(), variant);
            }
        }

        let mut deps = Deps {
            after_key: None,
            items: Vec::new(),
        };
        let mut after = Vec::new();
        if let Some((ak, av)) = get("after") {
            let apath = child(path, "after");
            let items = av
                .as_array()
                .ok_or_else(|| self.wrong_type(av, &apath, "an array of service names"))?;
            deps.after_key = Some(ak);
            for (i, it) in items.iter().enumerate() {
                let p = item(&apath, i);
                let s = self.string(it, &p, "a service name")?;
                if !after.iter().any(|a: &String| a == s) {
                    after.push(s.to_string());
                    deps.items.push((s, it, p));
                }
            }
        }

        let mut cron_restart = None;
        if let Some((_, cv)) = get("cron_restart") {
            let cpath = child(path, "cron_restart");
            let s = self.string(cv, &cpath, "a cron expression such as \"0 4 * * *\"")?;
            Cron::parse(s)
                .map_err(|why| self.at(cv, &cpath, format!("invalid cron expression: {why}")))?;
            cron_restart = Some(s.to_string());
        }

        let mut idle_profile = None;
        if let Some((_, iv)) = get("idle_profile") {
            let ipath = child(path, "idle_profile");
            let m = self.object(
                iv,
                &ipath,
                IDLE_KEYS,
                "an object {\"after\": DURATION, \"profile\": NAME or null}",
            )?;
            let field = |key: &str| m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v);
            let after_ms = match field("after").filter(|v| !v.is_null()) {
                Some(a) => {
                    let p = child(&ipath, "after");
                    let ms = self.duration_ms(a, &p)?;
                    if ms == 0 {
                        return Err(self.at(a, &p, "must be longer than 0"));
                    }
                    ms
                }
                None => {
                    return Err(self.at(
                        iv,
                        &ipath,
                        "missing key \"after\" (how long the service stays untouched before it switches, e.g. \"3h\")",
                    ))
                }
            };
            let profile = match field("profile").filter(|v| !v.is_null()) {
                None => None,
                Some(pv) => {
                    let p = child(&ipath, "profile");
                    let s = self.string(pv, &p, "a profile name or null (the base spec)")?;
                    if !profiles.contains_key(s) {
                        let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
                        let msg = if known.is_empty() {
                            format!("no profile named {s:?}: this service has no profiles")
                        } else {
                            format!("no profile named {s:?} (profiles: {})", known.join(", "))
                        };
                        return Err(self.at(pv, &p, msg));
                    }
                    Some(s.to_string())
                }
            };
            idle_profile = Some(IdleProfile { after_ms, profile });
        }

        Ok((
            ServiceSpec {
                name: name.to_string(),
                file: self.file.clone(),
                base,
                profiles,
                after,
                cron_restart,
                idle_profile,
            },
            deps,
        ))
    }

    /// One way to run the service, from its keys (the base's, or the base's with a profile's
    /// on top). A null value means the key's default.
    fn variant(&self, name: &str, fields: &[Field], anchor: &Anchor) -> Result<Variant> {
        let mut command: Option<(&Field, Vec<String>, bool)> = None;
        let mut cwd = self.dir.clone();
        let mut env_file: Vec<(String, String)> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut direnv = true;
        let mut build: Option<BuildSpec> = None;
        let mut spec = RunSpec::new(Vec::new(), String::new());
        spec.restart = Restart::Always;
        let mut ready = Ready::default();
        let mut log_timestamps = false;

        for f in fields {
            let (v, p) = (f.value, f.path.as_str());
            if v.is_null() {
                continue;
            }
            match f.key.name.as_str() {
                key @ ("cmd" | "shell") => {
                    if let Some((other, ..)) = &command {
                        return Err(self.at_key(
                            f.key,
                            p,
                            format!(
                                "both \"cmd\" and \"shell\" are given (at {}:{}); keep one: cmd for an argv, shell for a command line run by sh -c",
                                other.key.line, other.key.col
                            ),
                        ));
                    }
                    if key == "cmd" {
                        let argv = self.argv(v, p, "an array of strings (the program and its arguments; use \"shell\" for a command line)")?;
                        command = Some((f, argv, false));
                    } else {
                        let s = self.text(
                            v,
                            p,
                            "a string (a command line run by sh -c; use \"cmd\" for an argv array)",
                        )?;
                        if s.trim().is_empty() {
                            return Err(self.at(v, p, "the command line is empty"));
                        }
                        command = Some((f, vec![s.to_string()], true));
                    }
                }
                "cwd" => {
                    let s = self.text(v, p, "a folder (relative to the services file's folder)")?;
                    if s.is_empty() {
                        return Err(self.at(
                            v,
                            p,
                            "the folder is empty (use \".\" for the services file's folder)",
                        ));
                    }
                    cwd = normalize(&self.dir.join(s));
                }
                "env" => {
                    let members = v.as_object().ok_or_else(|| {
                        self.wrong_type(v, p, "an object of variables (name → value)")
                    })?;
                    for (k, val) in members {
                        let kp = child(p, &k.name);
                        if k.name.is_empty() || k.name.contains(['=', '\0']) {
                            return Err(self.at_key(
                                k,
                                &kp,
                                "invalid variable name (it must be non-empty, without '=' or NUL)",
                            ));
                        }
                        let text = match &val.kind {
                            json::Kind::String(_) => self.text(val, &kp, "a string")?.to_string(),
                            json::Kind::Number(n) => n.text.clone(),
                            json::Kind::Bool(b) => b.to_string(),
                            _ => {
                                return Err(self.wrong_type(
                                    val,
                                    &kp,
                                    "a string, number or boolean",
                                ))
                            }
                        };
                        env.push((k.name.clone(), text));
                    }
                }
                "env_file" => {
                    if let Some(items) = v.as_array() {
                        for (i, it) in items.iter().enumerate() {
                            env_file.extend(self.env_file(it, &item(p, i))?);
                        }
                    } else if v.as_str().is_some() {
                        env_file.extend(self.env_file(v, p)?);
                    } else {
                        return Err(self.wrong_type(v, p, "a file name or an array of file names"));
                    }
                }
                "direnv" => direnv = self.bool(v, p)?,
                "build" => {
                    let expected =
                        "an array of strings (argv), a string (run by sh -c) or null (no build)";
                    build = Some(if v.as_str().is_some() {
                        let s = self.text(v, p, expected)?;
                        if s.trim().is_empty() {
                            return Err(self.at(
                                v,
                                p,
                                "the build command line is empty (use null for no build)",
                            ));
                        }
                        BuildSpec {
                            argv: vec![s.to_string()],
                            shell: true,
                        }
                    } else {
                        BuildSpec {
                            argv: self.argv(v, p, expected)?,
                            shell: false,
                        }
                    });
                }
                "restart" => {
                    let expected = "\"never\", \"on-failure\" or \"always\"";
                    let name = self.string(v, p, expected)?;
                    spec.restart = match Restart::parse(name) {
                        Some(r) => r,
                        None => {
                            return Err(self.at(
                                v,
                                p,
                                format!("expected {expected}, found {name:?}"),
                            ))
                        }
                    };
                }
                "backoff" => spec.backoff = self.backoff(v, p)?,
                "max_restarts" => spec.max_restarts = self.uint(v, p, u64::from(u32::MAX))? as u32,
                "min_uptime" => spec.min_uptime_ms = self.duration_ms(v, p)?,
                "stop_signal" => {
                    let text = match &v.kind {
                        json::Kind::String(s) => s.clone(),
                        json::Kind::Number(n) => n.text.clone(),
                        _ => {
                            return Err(self.wrong_type(
                                v,
                                p,
                                "a signal name such as \"TERM\" or a number",
                            ))
                        }
                    };
                    spec.stop_signal =
                        Some(signal::parse(&text).map_err(|e| self.at(v, p, e.message))?);
                }
                "stop_timeout" => spec.stop_timeout_ms = self.duration_ms(v, p)?,
                "leftovers" => {
                    let expected = "\"stop\" or \"keep\"";
                    let s = self.string(v, p, expected)?;
                    spec.leftovers = Leftovers::parse(s).ok_or_else(|| {
                        self.at(v, p, format!("expected {expected}, found {s:?}"))
                    })?;
                }
                "ready" => ready = self.ready(v, p)?,
                "tags" => spec.tags = self.labels(v, p, "tag")?,
                "groups" => spec.groups = self.labels(v, p, "group")?,
                "pty" => spec.pty = self.bool(v, p)?,
                "scrollback" => {
                    let max = crate::term::screen::MAX_SCROLLBACK as u64;
                    spec.scrollback = Some(self.uint(v, p, max)? as u32)
                }
                "logs" => {
                    let m = self.object(
                        v,
                        p,
                        LOGS_KEYS,
                        "an object {\"max_size\", \"keep\", \"timestamps\"}",
                    )?;
                    for (k, lv) in m {
                        let kp = child(p, &k.name);
                        if lv.is_null() {
                            continue;
                        }
                        match k.name.as_str() {
                            "max_size" => {
                                spec.log_max_size = Some(match &lv.kind {
                                    json::Kind::String(s) => {
                                        size::parse(s).map_err(|e| self.at(lv, &kp, e.message))?
                                    }
                                    json::Kind::Number(_) => self.uint(lv, &kp, u64::MAX)?,
                                    _ => {
                                        return Err(self.wrong_type(
                                            lv,
                                            &kp,
                                            "a size such as \"10M\" or a number of bytes",
                                        ))
                                    }
                                })
                            }
                            "keep" => {
                                spec.log_keep =
                                    Some(self.uint(lv, &kp, u64::from(u32::MAX))? as u32)
                            }
                            _ => log_timestamps = self.bool(lv, &kp)?,
                        }
                    }
                }
                // Service-level keys are handled by `service`; `variant` never sees them.
                _ => {}
            }
        }

        let Some((_, argv, shell)) = command else {
            return Err(self.at(
                anchor.value,
                anchor.path,
                "no command: set \"cmd\" (the program and its arguments) or \"shell\" (a command line)",
            ));
        };
        let Some(cwd) = cwd.to_str().map(str::to_string) else {
            return Err(self.at(
                anchor.value,
                anchor.path,
                "the working folder's path is not valid UTF-8",
            ));
        };
        let mut declared = BTreeMap::new();
        declared.extend(env_file);
        declared.extend(env);

        let wrap = self.use_direnv(direnv, &cwd);
        let (argv, shell) = wrap_direnv(wrap, &cwd, argv, shell);
        let build = build.map(|b| {
            let (argv, shell) = wrap_direnv(wrap, &cwd, b.argv, b.shell);
            BuildSpec { argv, shell }
        });

        spec.argv = argv;
        spec.shell = shell;
        spec.cwd = cwd;
        spec.name = Some(name.to_string());
        spec.env = self.full_env(&declared);
        Ok(Variant {
            spec,
            declared_env: declared,
            build,
            ready,
            log_timestamps,
        })
    }

    fn backoff(&self, v: &Value, p: &str) -> Result<Backoff> {
        let m = self.object(
            v,
            p,
            BACKOFF_KEYS,
            "an object {\"initial\", \"factor\", \"max\"}",
        )?;
        let mut b = Backoff::default();
        let mut max_at: Option<(&Value, String)> = None;
        for (k, bv) in m {
            let kp = child(p, &k.name);
            if bv.is_null() {
                continue;
            }
            match k.name.as_str() {
                "initial" => b.initial_ms = self.duration_ms(bv, &kp)?,
                "max" => {
                    b.max_ms = self.duration_ms(bv, &kp)?;
                    max_at = Some((bv, kp));
                }
                _ => {
                    let n = bv
                        .as_number()
                        .ok_or_else(|| self.wrong_type(bv, &kp, "a number of at least 1"))?;
                    if !(1.0..=1e6).contains(&n.value) {
                        return Err(self.at(
                            bv,
                            &kp,
                            format!("expected a number from 1 to 1000000, found {}", n.text),
                        ));
                    }
                    b.factor = n.value;
                }
            }
        }
        match max_at {
            Some((mv, mp)) if b.max_ms < b.initial_ms => {
                return Err(self.at(
                    mv,
                    &mp,
                    format!(
                        "max ({}) is less than initial ({})",
                        duration::format(std::time::Duration::from_millis(b.max_ms)),
                        duration::format(std::time::Duration::from_millis(b.initial_ms))
                    ),
                ))
            }
            // Without a max, the default max grows to the initial delay if that is longer.
            None => b.max_ms = b.max_ms.max(b.initial_ms),
            Some(_) => {}
        }
        Ok(b)
    }

    fn ready(&self, v: &Value, p: &str) -> Result<Ready> {
        let m = self.object(
            v,
            p,
            READY_KEYS,
            "an object {\"log\", \"port\", \"timeout\"}",
        )?;
        let mut r = Ready::default();
        for (k, rv) in m {
            let kp = child(p, &k.name);
            if rv.is_null() {
                continue;
            }
            match k.name.as_str() {
                "log" => {
                    let s = self.string(rv, &kp, "a regular expression (a string)")?;
                    if s.is_empty() {
                        return Err(self.at(rv, &kp, "the regular expression is empty"));
                    }
                    crate::logs::pattern::Pattern::new(s).map_err(|e| {
                        let why = e.to_string().replace('\n', " ");
                        self.at(rv, &kp, format!("invalid regular expression: {why}"))
                    })?;
                    r.log = Some(s.to_string());
                }
                "port" => {
                    let n = self.uint(rv, &kp, 65_535)?;
                    if n == 0 {
                        return Err(self.at(
                            rv,
                            &kp,
                            "expected a TCP port from 1 to 65535, found 0",
                        ));
                    }
                    r.port = Some(n as u16);
                }
                _ => {
                    r.timeout_ms = self.duration_ms(rv, &kp)?;
                    if r.timeout_ms == 0 {
                        return Err(self.at(rv, &kp, "must be longer than 0"));
                    }
                }
            }
        }
        Ok(r)
    }

    // ----- Procfile -----

    fn procfile(&self, text: &str) -> Result<Vec<ServiceSpec>> {
        let dot_env = self.dir.join(".env");
        let mut declared = BTreeMap::new();
        if dot_env.exists() {
            let env_text = std::fs::read_to_string(&dot_env)
                .map_err(|e| Error::io(format!("cannot read {}", dot_env.display()), e))?;
            declared.extend(envfile::parse(&env_text, &dot_env.display().to_string())?);
        }
        let Some(cwd) = self.dir.to_str().map(str::to_string) else {
            bail!(
                Code::Usage,
                "{}: the folder's path is not valid UTF-8",
                self.file
            )
        };
        let env = self.full_env(&declared);
        let wrap = self.use_direnv(true, &cwd);
        let mut out: Vec<ServiceSpec> = Vec::new();
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |msg: String| Error::new(Code::Usage, format!("{}:{n}:1: {msg}", self.file));
            let Some((name, command)) = line.split_once(':') else {
                return Err(err(format!("expected \"name: command\", found {line:?}")));
            };
            let name = name.trim();
            validate_name(name)
                .map_err(|e| err(format!("{} (expected \"name: command\")", e.message)))?;
            let command = command.trim();
            if command.is_empty() {
                return Err(err(format!("{name}: the command is empty")));
            }
            if command.contains('\0') {
                return Err(err(format!("{name}: the command contains a NUL character")));
            }
            if let Some(first) = lines_of.get(name) {
                return Err(err(format!(
                    "{name}: declared twice (first on line {first})"
                )));
            }
            lines_of.insert(name.to_string(), n);
            let (argv, shell) = wrap_direnv(wrap, &cwd, vec![command.to_string()], true);
            let mut spec = RunSpec::new(argv, cwd.clone());
            spec.shell = shell;
            spec.name = Some(name.to_string());
            spec.restart = Restart::Always;
            spec.env = Arc::clone(&env);
            out.push(ServiceSpec {
                name: name.to_string(),
                file: self.file.clone(),
                base: Variant {
                    spec,
                    declared_env: declared.clone(),
                    build: None,
                    ready: Ready::default(),
                    log_timestamps: false,
                },
                profiles: BTreeMap::new(),
                after: Vec::new(),
                cron_restart: None,
                idle_profile: None,
            });
        }
        if out.is_empty() {
            bail!(
                Code::Usage,
                "{}:1:1: no processes declared (write lines of the form \"name: command\")",
                self.file
            );
        }
        Ok(out)
    }
}

/// Runs a command through `direnv exec CWD` when `wrap` is set (a shell command line becomes
/// `sh -c LINE` under it).
fn wrap_direnv(wrap: bool, cwd: &str, argv: Vec<String>, shell: bool) -> (Vec<String>, bool) {
    if !wrap {
        return (argv, shell);
    }
    let mut out = vec!["direnv".to_string(), "exec".to_string(), cwd.to_string()];
    if shell {
        out.extend(["sh".to_string(), "-c".to_string()]);
    }
    out.extend(argv);
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty folder under the temp folder; removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "wrangle-services-{}-{}-{tag}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// An inherited environment whose PATH holds no direnv.
    fn inherited() -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "PATH".to_string(),
                "/nonexistent-wrangle-test-bin".to_string(),
            ),
            ("HOME".to_string(), "/home/test".to_string()),
        ])
    }

    const FILE: &str = "/p/wrangle.json";

    fn parse_at(text: &str) -> Result<Vec<ServiceSpec>> {
        parse(text, Path::new(FILE), &inherited())
    }

    fn err(text: &str) -> String {
        match parse_at(text) {
            Ok(s) => panic!("expected an error, got {s:?}"),
            Err(e) => {
                assert_eq!(e.code, Code::Usage, "{}", e.message);
                e.message
            }
        }
    }

    /// A one-service file whose service body is `body` (on line 3, starting at column 12).
    fn svc(body: &str) -> String {
        format!("{{\n  \"services\": {{\n    \"api\": {body}\n  }}\n}}\n")
    }

    const SPEC_EXAMPLE: &str = r#"{
  "services": {
    "api": {
      "cmd": ["./target/release/api", "--port", "8080"],
      "cwd": ".",
      "env": {"RUST_LOG": "info"},
      "env_file": ".env",
      "build": ["cargo", "build", "--release"],
      "restart": "always",
      "backoff": {"initial": "1s", "factor": 1.5, "max": "5m"},
      "max_restarts": 0,
      "min_uptime": "10s",
      "stop_signal": "TERM",
      "stop_timeout": "5s",
      "after": ["db"],
      "ready": {"log": "listening on", "timeout": "30s"},
      "tags": ["web"], "groups": ["prod"],
      "logs": {"max_size": "10M", "keep": 5, "timestamps": true},
      "cron_restart": "0 4 * * *",
      "profiles": {"dev": {"cmd": ["cargo", "run", "--", "--port", "8080"], "build": null,
                           "backoff": {"initial": "2m", "factor": 1, "max": "2m"}}},
      "idle_profile": {"after": "3h", "profile": null}
    },
    "db": {"shell": "redis-server --port 6390", "ready": {"port": 6390}}
  }
}"#;

    #[test]
    fn the_spec_example() {
        let dir = TempDir::new("spec");
        dir.write(".env", "SECRET=s3\nRUST_LOG=debug\n");
        let file = dir.0.join("wrangle.json");
        let specs = parse(SPEC_EXAMPLE, &file, &inherited()).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "api"], "db first: api comes after it");
        let (db, api) = (&specs[0], &specs[1]);
        let folder = dir.0.to_str().unwrap();
        assert_eq!(api.file, file.to_str().unwrap());

        let b = &api.base;
        assert_eq!(b.spec.argv, ["./target/release/api", "--port", "8080"]);
        assert!(!b.spec.shell);
        assert_eq!(b.spec.name.as_deref(), Some("api"));
        assert_eq!(b.spec.cwd, folder);
        assert_eq!(
            b.declared_env,
            BTreeMap::from([
                ("RUST_LOG".to_string(), "info".to_string()),
                ("SECRET".to_string(), "s3".to_string()),
            ])
        );
        assert_eq!(b.spec.env.get("RUST_LOG").map(String::as_str), Some("info"));
        assert_eq!(
            b.spec.env.get("HOME").map(String::as_str),
            Some("/home/test")
        );
        assert_eq!(
            b.build,
            Some(BuildSpec {
                argv: vec!["cargo".into(), "build".into(), "--release".into()],
                shell: false
            })
        );
        assert_eq!(b.spec.restart, Restart::Always);
        assert_eq!(
            b.spec.backoff,
            Backoff {
                initial_ms: 1000,
                factor: 1.5,
                max_ms: 300_000
            }
        );
        assert_eq!(b.spec.max_restarts, 0);
        assert_eq!(b.spec.min_uptime_ms, 10_000);
        assert_eq!(b.spec.stop_signal, Some(libc::SIGTERM));
        assert_eq!(b.spec.stop_timeout_ms, 5000);
        assert_eq!(api.after, ["db"]);
        assert_eq!(b.ready.log.as_deref(), Some("listening on"));
        assert_eq!((b.ready.port, b.ready.timeout_ms), (None, 30_000));
        assert_eq!(b.spec.tags, ["web"]);
        assert_eq!(b.spec.groups, ["prod"]);
        assert_eq!(b.spec.log_max_size, Some(10 << 20));
        assert_eq!(b.spec.log_keep, Some(5));
        assert!(b.log_timestamps);
        assert_eq!(api.cron_restart.as_deref(), Some("0 4 * * *"));
        assert_eq!(
            api.idle_profile,
            Some(IdleProfile {
                after_ms: 3 * 3_600_000,
                profile: None
            })
        );

        let dev = &api.profiles["dev"];
        assert_eq!(api.profiles.len(), 1);
        assert_eq!(dev.build, None);
        assert_eq!(dev.spec.argv, ["cargo", "run", "--", "--port", "8080"]);
        assert_eq!(
            dev.spec.backoff,
            Backoff {
                initial_ms: 120_000,
                factor: 1.0,
                max_ms: 120_000
            }
        );
        // Everything else is the base's.
        assert_eq!(dev.spec.tags, ["web"]);
        assert_eq!(dev.declared_env, b.declared_env);
        assert!(
            Arc::ptr_eq(&dev.spec.env, &b.spec.env),
            "equal environments are shared"
        );
        assert_eq!(dev.ready, b.ready);
        assert_eq!(dev.spec.cwd, folder);

        assert_eq!(db.base.spec.argv, ["redis-server --port 6390"]);
        assert!(db.base.spec.shell);
        assert_eq!(
            db.base.spec.restart,
            Restart::Always,
            "services restart always by default"
        );
        assert_eq!(db.base.ready.port, Some(6390));
        assert!(db.base.declared_env.is_empty());
        assert!(db.profiles.is_empty() && db.after.is_empty());
        assert_eq!(db.cron_restart, None);
        assert_eq!(db.base.spec.stdin, crate::proto::msg::Input::Null);
        assert_eq!(db.base.spec.stdout, crate::proto::msg::Output::Log);
    }

    #[test]
    fn unknown_keys_name_their_path_and_position() {
        let text = "{\n  \"services\": {\n    \"api\": {\n      \"cmd\": [\"x\"],\n      \"restrat\": \"always\"\n    }\n  }\n}\n";
        let e = err(text);
        assert!(
            e.starts_with("/p/wrangle.json:5:7: services.api.restrat: unknown key, did you mean \"restart\"? (expected one of: cmd, shell, cwd,"),
            "{e}"
        );
        let e = err("{\"services\": {\"a\": {\"cmd\": [\"x\"]}},\n \"servics\": 1}");
        assert!(e.starts_with("/p/wrangle.json:2:2: servics: unknown key, did you mean \"services\"? (expected one of: services)"), "{e}");
        let e = err(&svc(
            r#"{"cmd": ["x"], "backoff": {"initial": "1s", "fator": 2}}"#,
        ));
        assert!(e.starts_with("/p/wrangle.json:3:56: services.api.backoff.fator: unknown key, did you mean \"factor\"?"), "{e}");
        let e = err(&svc(
            r#"{"cmd": ["x"], "profiles": {"dev": {"cmdd": ["y"]}}}"#,
        ));
        assert!(e.starts_with("/p/wrangle.json:3:48: services.api.profiles.dev.cmdd: unknown key, did you mean \"cmd\"?"), "{e}");
        let e = err(&svc(
            r#"{"cmd": ["x"], "profiles": {"dev": {"after": []}}}"#,
        ));
        assert!(
            e.starts_with(
                "/p/wrangle.json:3:48: services.api.profiles.dev.after: cannot be set in a profile"
            ),
            "{e}"
        );
        let e = err(&svc(r#"{"cmd": ["x"], "ready": {"lg": "x"}}"#));
        assert!(
            e.contains("services.api.ready.lg: unknown key, did you mean \"log\"?"),
            "{e}"
        );
        let e = err(&svc(r#"{"cmd": ["x"], "zzzzzz": 1}"#));
        assert!(
            e.contains("services.api.zzzzzz: unknown key (expected one of:"),
            "{e}"
        );
        let e = err(&svc(r#"{"cmd": ["x"], "logs": {"size": 1}}"#));
        assert!(e.contains("services.api.logs.size: unknown key"), "{e}");
        let e = err(&svc(
            r#"{"cmd": ["x"], "idle_profile": {"after": "1h", "prof": null}}"#,
        ));
        assert!(
            e.contains("services.api.idle_profile.prof: unknown key, did you mean \"profile\"?"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_bad_values_point_at_the_value() {
        let cases: &[(&str, &str)] = &[
            (r#"{"cmd": "x"}"#, "3:20: services.api.cmd: expected an array of strings"),
            (r#"{"cmd": []}"#, "3:20: services.api.cmd: must not be empty"),
            (r#"{"cmd": ["a", 1]}"#, "3:26: services.api.cmd[1]: expected a string, found a number"),
            (r#"{"cmd": [""]}"#, "services.api.cmd[0]: the program name is empty"),
            (r#"{"shell": ""}"#, "services.api.shell: the command line is empty"),
            (r#"{"shell": ["a"]}"#, "services.api.shell: expected a string"),
            (r#"{"cmd": ["a"], "shell": "b"}"#, "3:27: services.api.shell: both \"cmd\" and \"shell\" are given (at 3:13)"),
            (r#"{"cwd": "."}"#, "3:12: services.api: no command: set \"cmd\""),
            (r#"[1]"#, "3:12: services.api: expected an object (a service), found an array"),
            (r#"{"cmd": ["a"], "max_restarts": -1}"#, "3:43: services.api.max_restarts: expected a whole number from 0 to 4294967295, found -1"),
            (r#"{"cmd": ["a"], "max_restarts": 1.5}"#, "services.api.max_restarts: expected a whole number"),
            (r#"{"cmd": ["a"], "ready": {"port": 70000}}"#, "services.api.ready.port: expected a whole number from 0 to 65535, found 70000"),
            (r#"{"cmd": ["a"], "ready": {"port": 0}}"#, "services.api.ready.port: expected a TCP port from 1 to 65535"),
            (r#"{"cmd": ["a"], "ready": {"log": "(unclosed"}}"#, "services.api.ready.log: invalid regular expression:"),
            (r#"{"cmd": ["a"], "env": {"A": null}}"#, "services.api.env.A: expected a string, number or boolean, found null"),
            (r#"{"cmd": ["a"], "env": {"A=B": "1"}}"#, "services.api.env[\"A=B\"]: invalid variable name"),
            (r#"{"cmd": ["a"], "env": ["A"]}"#, "services.api.env: expected an object of variables"),
            (r#"{"cmd": ["a"], "restart": "sometimes"}"#, "services.api.restart: expected \"never\", \"on-failure\" or \"always\", found \"sometimes\""),
            (r#"{"cmd": ["a"], "restart": true}"#, "services.api.restart: expected \"never\", \"on-failure\" or \"always\", found a boolean"),
            (r#"{"cmd": ["a"], "leftovers": "maybe"}"#, "services.api.leftovers: expected \"stop\" or \"keep\", found \"maybe\""),
            (r#"{"cmd": ["a"], "leftovers": 1}"#, "services.api.leftovers: expected \"stop\" or \"keep\", found a number"),
            (r#"{"cmd": ["a"], "stop_signal": "FOO"}"#, "services.api.stop_signal: invalid signal \"FOO\""),
            (r#"{"cmd": ["a"], "stop_signal": 99}"#, "services.api.stop_signal: invalid signal \"99\""),
            (r#"{"cmd": ["a"], "min_uptime": "5x"}"#, "services.api.min_uptime: invalid duration \"5x\""),
            (r#"{"cmd": ["a"], "min_uptime": -1}"#, "services.api.min_uptime: expected a duration"),
            (r#"{"cmd": ["a"], "stop_timeout": true}"#, "services.api.stop_timeout: expected a duration"),
            (r#"{"cmd": ["a"], "backoff": {"initial": "10s", "max": "1s"}}"#, "services.api.backoff.max: max (1s) is less than initial (10s)"),
            (r#"{"cmd": ["a"], "backoff": {"factor": 0.5}}"#, "services.api.backoff.factor: expected a number from 1 to 1000000, found 0.5"),
            (r#"{"cmd": ["a"], "tags": ["a b"]}"#, "services.api.tags[0]: invalid tag \"a b\""),
            (r#"{"cmd": ["a"], "groups": "g"}"#, "services.api.groups: expected an array of groups"),
            (r#"{"cmd": ["a"], "pty": "yes"}"#, "services.api.pty: expected true or false, found a string"),
            (r#"{"cmd": ["a"], "logs": {"max_size": "lots"}}"#, "services.api.logs.max_size: invalid size \"lots\""),
            (r#"{"cmd": ["a"], "logs": {"keep": -2}}"#, "services.api.logs.keep: expected a whole number"),
            (r#"{"cmd": ["a"], "cron_restart": "61 * * * *"}"#, "services.api.cron_restart: invalid cron expression: minute: \"61\" is out of range (0-59)"),
            (r#"{"cmd": ["a"], "build": 3}"#, "services.api.build: expected an array of strings (argv), a string (run by sh -c) or null"),
            (r#"{"cmd": ["a"], "env_file": 3}"#, "services.api.env_file: expected a file name or an array of file names"),
            (r#"{"cmd": ["a"], "idle_profile": {"after": "1h", "profile": "dev"}}"#, "services.api.idle_profile.profile: no profile named \"dev\": this service has no profiles"),
            (r#"{"cmd": ["a"], "profiles": {"x": {}}, "idle_profile": {"after": "1h", "profile": "dev"}}"#, "no profile named \"dev\" (profiles: x)"),
            (r#"{"cmd": ["a"], "idle_profile": {"profile": null}}"#, "services.api.idle_profile: missing key \"after\""),
            (r#"{"cmd": ["a"], "idle_profile": {"after": 0}}"#, "services.api.idle_profile.after: must be longer than 0"),
            (
                r#"{"cmd": ["a"], "profiles": {"base": {}}}"#,
                "services.api.profiles.base: \"base\" is reserved",
            ),
            (r#"{"cmd": ["a"], "profiles": {"all": {}}}"#, "services.api.profiles.all: invalid profile name \"all\""),
            (r#"{"cmd": ["a"], "profiles": {"p": []}}"#, "services.api.profiles.p: expected an object of keys"),
            (r#"{"cmd": ["a"], "profiles": {"p": {"cmd": null}}}"#, "services.api.profiles.p: no command"),
            (r#"{"cmd": ["a"], "profiles": {"p": {"shell": "x", "cmd": ["y"]}}}"#, "services.api.profiles.p.cmd: both \"cmd\" and \"shell\""),
            (r#"{"cmd": ["a"], "profiles": {"p": {"restart": "maybe"}}}"#, "services.api.profiles.p.restart: expected \"never\""),
            (r#"{"cmd": ["a"], "after": "db"}"#, "services.api.after: expected an array of service names"),
            (r#"{"cmd": ["a"], "after": ["api"]}"#, "services.api.after[0]: a service cannot come after itself"),
            (r#"{"cmd": ["a"], "after": ["db"]}"#, "3:37: services.api.after[0]: no service named \"db\" in this file (services: api)"),
            (r#"{"cmd": ["a\u0000b"]}"#, "services.api.cmd[0]: contains a NUL character"),
        ];
        for (body, want) in cases {
            let e = err(&svc(body));
            assert!(e.contains(want), "{body}\n  got: {e}\n want: {want}");
            assert!(e.starts_with(FILE), "{e}");
        }
    }

    #[test]
    fn document_level_errors() {
        assert_eq!(err("[]"), "/p/wrangle.json:1:1: top level: expected an object with the key \"services\", found an array");
        assert_eq!(err("{}"), "/p/wrangle.json:1:1: top level: missing key \"services\" (an object: service name → service)");
        assert_eq!(
            err("{\"services\": {}}"),
            "/p/wrangle.json:1:14: services: no services declared (add at least one)"
        );
        assert!(err("{\"services\": 1}").contains("1:14: services: expected an object"));
        assert_eq!(
            err("{\"services\": {\n  \"a\": 1,\n  \"a\": 2}}"),
            "/p/wrangle.json:3:3: invalid JSON: duplicate key \"a\" in this object"
        );
        assert!(err("{\"services\": ").starts_with(
            "/p/wrangle.json:1:14: invalid JSON: expected a value, found end of file"
        ));
        let e = err("{\"services\": {\"a b\": {\"cmd\": [\"x\"]}}}");
        assert!(
            e.starts_with("/p/wrangle.json:1:15: services[\"a b\"]: invalid name \"a b\""),
            "{e}"
        );
        let e = err("{\"services\": {\"123\": {\"cmd\": [\"x\"]}}}");
        assert!(e.contains("services.123: invalid name \"123\""), "{e}");
    }

    #[test]
    fn after_orders_and_cycles() {
        let text = r#"{"services": {
            "web": {"cmd": ["w"], "after": ["api", "cache"]},
            "api": {"cmd": ["a"], "after": ["db"]},
            "cache": {"cmd": ["c"]},
            "db": {"cmd": ["d"]},
            "lone": {"cmd": ["l"]}
        }}"#;
        let names: Vec<String> = parse_at(text)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        // Each step takes the first service (in file order) whose dependencies have started.
        assert_eq!(names, ["cache", "db", "api", "web", "lone"]);

        let text = "{\"services\": {\n  \"x\": {\"cmd\": [\"x\"]},\n  \"a\": {\"cmd\": [\"a\"], \"after\": [\"b\"]},\n  \"b\": {\"cmd\": [\"b\"], \"after\": [\"c\", \"x\"]},\n  \"c\": {\"cmd\": [\"c\"], \"after\": [\"a\"]}\n}}";
        let e = err(text);
        assert_eq!(e, "/p/wrangle.json:3:23: services.a.after: dependency cycle: a -> b -> c -> a (each comes after the next)");
        // The same cycle found from a later start still names it from its first member.
        let text = r#"{"services": {"p": {"cmd": ["p"], "after": ["q"]}, "q": {"cmd": ["q"], "after": ["p"]}}}"#;
        assert!(err(text).contains("services.p.after: dependency cycle: p -> q -> p"));
    }

    #[test]
    fn env_files_merge_under_env() {
        let dir = TempDir::new("envfile");
        dir.write("a.env", "A=from-a\nB=from-a\nC=from-a\n");
        dir.write("sub/b.env", "export B=from-b\n");
        dir.write("bad.env", "A=1\nnot a pair\n");
        let file = dir.0.join("wrangle.json");
        let text = r#"{"services": {"s": {"cmd": ["x"], "env_file": ["a.env", "sub/b.env"], "env": {"C": "env", "N": 8080, "T": true}}}}"#;
        let specs = parse(text, &file, &inherited()).unwrap();
        let d = &specs[0].base.declared_env;
        let get = |k: &str| d.get(k).map(String::as_str);
        assert_eq!(get("A"), Some("from-a"));
        assert_eq!(get("B"), Some("from-b"), "later env files win");
        assert_eq!(get("C"), Some("env"), "env wins over env files");
        assert_eq!(get("N"), Some("8080"));
        assert_eq!(get("T"), Some("true"));
        assert_eq!(d.len(), 5);
        let env = &specs[0].base.spec.env;
        assert_eq!(env.get("B").map(String::as_str), Some("from-b"));
        assert_eq!(env.get("PATH"), inherited().get("PATH"));

        // A missing env file names itself, with the position of its name in the services file.
        let text = "{\"services\": {\"s\": {\"cmd\": [\"x\"],\n \"env_file\": [\"a.env\", \"missing.env\"]}}}";
        let e = parse(text, &file, &inherited()).unwrap_err();
        assert_eq!(e.code, Code::Failed);
        let want = format!(
            "{}:2:24: services.s.env_file[1]: cannot read env file {}: ",
            file.display(),
            dir.0.join("missing.env").display()
        );
        assert!(e.message.starts_with(&want), "{}", e.message);
        // A malformed one names both files and its own line.
        let text = r#"{"services": {"s": {"cmd": ["x"], "env_file": "bad.env"}}}"#;
        let e = parse(text, &file, &inherited()).unwrap_err();
        assert_eq!(e.code, Code::Usage);
        assert!(
            e.message.ends_with(&format!(
                "services.s.env_file: {}:2: expected KEY=VALUE",
                dir.0.join("bad.env").display()
            )),
            "{}",
            e.message
        );
    }

    #[test]
    fn defaults_paths_and_profiles() {
        let text = r#"{"services": {"s": {
            "shell": "serve",
            "cwd": "sub/../app",
            "restart": "on-failure",
            "backoff": {"initial": "2m"},
            "stop_signal": 2,
            "stop_timeout": 1.5,
            "min_uptime": null,
            "build": "make",
            "tags": ["a", "b", "a"],
            "profiles": {
                "dev": {"cmd": ["run", "dev"], "restart": null, "tags": null, "cwd": "/abs//x/."},
                "quiet": {"logs": {"timestamps": false}, "build": null, "pty": true}
            },
            "idle_profile": {"after": 90, "profile": "quiet"}
        }}}"#;
        let s = parse_at(text).unwrap().remove(0);
        let b = &s.base;
        assert_eq!(
            (b.spec.argv.as_slice(), b.spec.shell),
            (&["serve".to_string()][..], true)
        );
        assert_eq!(b.spec.cwd, "/p/app");
        assert_eq!(b.spec.restart, Restart::OnFailure);
        // Without a max, the max grows to the initial delay.
        assert_eq!(
            (b.spec.backoff.initial_ms, b.spec.backoff.max_ms),
            (120_000, 120_000)
        );
        assert_eq!(b.spec.backoff.factor, Backoff::default().factor);
        assert_eq!(b.spec.stop_signal, Some(libc::SIGINT));
        assert_eq!(b.spec.stop_timeout_ms, 1500);
        assert_eq!(
            b.spec.min_uptime_ms,
            RunSpec::new(vec![], String::new()).min_uptime_ms
        );
        assert_eq!(
            b.build,
            Some(BuildSpec {
                argv: vec!["make".into()],
                shell: true
            })
        );
        assert_eq!(b.spec.tags, ["a", "b"]);
        assert!(!b.spec.pty && !b.log_timestamps);
        assert_eq!((b.spec.log_max_size, b.spec.log_keep), (None, None));

        let dev = &s.profiles["dev"];
        assert_eq!(
            (dev.spec.argv.as_slice(), dev.spec.shell),
            (&["run".to_string(), "dev".to_string()][..], false),
            "cmd replaces the base's shell"
        );
        assert_eq!(
            dev.spec.restart,
            Restart::Always,
            "null goes back to the default"
        );
        assert!(dev.spec.tags.is_empty());
        assert_eq!(dev.spec.cwd, "/abs/x");
        assert_eq!(dev.build, b.build);
        let quiet = &s.profiles["quiet"];
        assert_eq!(quiet.spec.argv, b.spec.argv);
        assert!(quiet.spec.shell && quiet.spec.pty && quiet.build.is_none());
        assert_eq!(
            s.idle_profile,
            Some(IdleProfile {
                after_ms: 90_000,
                profile: Some("quiet".into())
            })
        );

        // A relative services-file path is made absolute against the current folder.
        let specs = parse(
            r#"{"services": {"s": {"cmd": ["x"]}}}"#,
            Path::new("./w.json"),
            &inherited(),
        )
        .unwrap();
        let here = std::env::current_dir().unwrap();
        assert_eq!(specs[0].file, here.join("w.json").to_str().unwrap());
        assert_eq!(specs[0].base.spec.cwd, here.to_str().unwrap());
    }

    #[test]
    fn procfiles() {
        let text =
            "# the web\n\nweb: python -m http.server 8000\r\nworker:   sleep 100 && echo done  \n";
        let specs = parse(text, Path::new("/p/Procfile"), &inherited()).unwrap();
        assert_eq!(specs.len(), 2);
        let w = &specs[0];
        assert_eq!(w.name, "web");
        assert_eq!(w.file, "/p/Procfile");
        assert_eq!(w.base.spec.argv, ["python -m http.server 8000"]);
        assert!(w.base.spec.shell);
        assert_eq!(w.base.spec.restart, Restart::Always);
        assert_eq!(w.base.spec.cwd, "/p");
        assert_eq!(w.base.spec.name.as_deref(), Some("web"));
        assert_eq!(specs[1].base.spec.argv, ["sleep 100 && echo done"]);
        // Any file whose name starts with Procfile is one.
        assert!(parse("a: b\n", Path::new("/p/Procfile.dev"), &inherited()).is_ok());

        let e = |t: &str| {
            parse(t, Path::new("/p/Procfile"), &inherited())
                .unwrap_err()
                .message
        };
        assert_eq!(
            e("web: a\nthis is not a line\n"),
            "/p/Procfile:2:1: expected \"name: command\", found \"this is not a line\""
        );
        assert_eq!(
            e("\nweb: a\nweb: b\n"),
            "/p/Procfile:3:1: web: declared twice (first on line 2)"
        );
        assert!(e("web x: a\n").starts_with("/p/Procfile:1:1: invalid name \"web x\""));
        assert_eq!(e("web:\n"), "/p/Procfile:1:1: web: the command is empty");
        assert!(e("# nothing\n").starts_with("/p/Procfile:1:1: no processes declared"));

        // A .env beside the Procfile is read, as foreman does.
        let dir = TempDir::new("procfile");
        let pf = dir.write("Procfile", "web: serve\n");
        dir.write(".env", "PORT=5000\n");
        let specs = load(&pf, &inherited()).unwrap();
        assert_eq!(
            specs[0].base.declared_env.get("PORT").map(String::as_str),
            Some("5000")
        );
        assert_eq!(
            specs[0].base.spec.env.get("PORT").map(String::as_str),
            Some("5000")
        );
        assert_eq!(specs[0].base.spec.cwd, dir.0.to_str().unwrap());
    }

    #[test]
    fn find_and_load() {
        let dir = TempDir::new("find");
        let e = find(&dir.0).unwrap_err();
        assert!(
            e.message.contains("no wrangle.json or Procfile in"),
            "{}",
            e.message
        );
        dir.write("Procfile", "web: a\n");
        assert_eq!(find(&dir.0).unwrap(), dir.0.join("Procfile"));
        dir.write(
            "wrangle.json",
            "{\"services\": {\"a\": {\"cmd\": [\"a\"]}}}",
        );
        assert_eq!(find(&dir.0).unwrap(), dir.0.join("wrangle.json"));
        assert_eq!(
            load(&dir.0.join("wrangle.json"), &inherited()).unwrap()[0].name,
            "a"
        );

        let missing = dir.0.join("nope.json");
        let e = load(&missing, &inherited()).unwrap_err();
        assert_eq!(e.code, Code::Failed);
        assert!(
            e.message
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{}",
            e.message
        );

        let bad = dir.0.join("bad.json");
        std::fs::write(&bad, b"{\n  \"x\xff\": 1}").unwrap();
        let e = load(&bad, &inherited()).unwrap_err();
        assert_eq!(
            e.message,
            format!("{}:2:5: the file is not valid UTF-8 text", bad.display())
        );
    }

    #[test]
    fn direnv_wraps_commands() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("direnv");
        let fake = dir.write("bin/direnv", "#!/bin/sh\nexit 0\n");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.write("proj/.envrc", "export A=1\n");
        std::fs::create_dir_all(dir.0.join("other")).unwrap();
        let env = BTreeMap::from([(
            "PATH".to_string(),
            format!("/nonexistent::{}", dir.0.join("bin").display()),
        )]);
        let file = dir.0.join("proj/wrangle.json");
        let proj = dir.0.join("proj");
        let proj = proj.to_str().unwrap();
        let text = r#"{"services": {
            "a": {"cmd": ["srv", "--x"], "build": ["make", "all"]},
            "b": {"shell": "srv | tee log", "build": "make"},
            "c": {"cmd": ["srv"], "direnv": false, "profiles": {"on": {"direnv": null}}},
            "d": {"cmd": ["srv"], "cwd": "../other"}
        }}"#;
        let specs = parse(text, &file, &env).unwrap();
        let a = &specs[0].base;
        assert_eq!(a.spec.argv, ["direnv", "exec", proj, "srv", "--x"]);
        assert!(!a.spec.shell);
        assert_eq!(
            a.build.as_ref().unwrap().argv,
            ["direnv", "exec", proj, "make", "all"]
        );
        let b = &specs[1].base;
        assert_eq!(
            b.spec.argv,
            ["direnv", "exec", proj, "sh", "-c", "srv | tee log"]
        );
        assert!(!b.spec.shell);
        let bb = b.build.as_ref().unwrap();
        assert_eq!(
            (bb.argv.as_slice(), bb.shell),
            (
                &[
                    "direnv".to_string(),
                    "exec".into(),
                    proj.into(),
                    "sh".into(),
                    "-c".into(),
                    "make".into()
                ][..],
                false
            )
        );
        assert_eq!(specs[2].base.spec.argv, ["srv"], "direnv: false");
        assert_eq!(
            specs[2].profiles["on"].spec.argv[0], "direnv",
            "null goes back to true"
        );
        assert_eq!(specs[3].base.spec.argv, ["srv"], "no .envrc in its folder");

        // A direnv that is not executable does not count.
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
        let specs = parse(text, &file, &env).unwrap();
        assert_eq!(specs[0].base.spec.argv, ["srv", "--x"]);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        // Every prefix, and the example with each character dropped, is an error or a result.
        let text = SPEC_EXAMPLE;
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for &i in &bounds {
            assert!(parse_at(&text[..i]).is_err());
            let mut dropped = String::from(&text[..i]);
            let rest = &text[i..];
            dropped.push_str(
                rest.get(rest.chars().next().map_or(0, char::len_utf8)..)
                    .unwrap_or(""),
            );
            let _ = parse_at(&dropped);
        }
        for junk in [
            "",
            "null",
            "1",
            "\"x\"",
            "{\"services\": null}",
            "{\"services\": {\"a\": null}}",
        ] {
            assert!(parse_at(junk).is_err(), "{junk}");
        }
    }

    /// The JSON examples of wrangle.json(5), un-escaped from roff.
    fn man_examples() -> Vec<String> {
        let page = include_str!("../../man/wrangle.json.5");
        let mut out = Vec::new();
        let mut block: Option<Vec<&str>> = None;
        for line in page.lines() {
            match (line.trim_end(), &mut block) {
                (".EX", None) => block = Some(Vec::new()),
                (".EE", Some(lines)) => {
                    let text: String = lines
                        .iter()
                        .map(|l| {
                            l.replace("\\(dq", "\"")
                                .replace("\\-", "-")
                                .replace("\\&", "")
                                .replace("\\e", "\\")
                                + "\n"
                        })
                        .collect();
                    if text.trim_start().starts_with('{') {
                        out.push(text);
                    }
                    block = None;
                }
                (_, Some(lines)) => lines.push(line),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn man_page_examples_parse() {
        let examples = man_examples();
        assert!(examples.len() >= 4, "found {} examples", examples.len());
        let dir = TempDir::new("man");
        dir.write(".env", "DATABASE_URL=postgres://localhost/app\n");
        let file = dir.0.join("wrangle.json");
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        for text in &examples {
            if let Err(e) = parse(text, &file, &env) {
                panic!("{}\n--- in example:\n{text}", e.message);
            }
        }
        // The SPEC §4 example is among them.
        assert!(examples
            .iter()
            .any(|e| e.contains("\"idle_profile\": {\"after\": \"3h\", \"profile\": null}")));
    }
}
