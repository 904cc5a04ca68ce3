//! Services files: `wrangle.json` (SPEC §4, wrangle.json(5)) and Procfiles, read and resolved
//! into [`ServiceSpec`]s in start order: paths absolute, environments complete, profiles merged
//! over the base, `direnv` wrapping applied. Every error names the file, the line and column,
//! and the key path (`services.api.cmd[1]`); a file is either wholly valid or an error. This
//! file reads the file's shape (services, profiles, dependencies and their order); the typed
//! value readers and their messages are in `values.rs`, a service's run keys in `variant.rs`,
//! Procfiles in `procfile.rs`, and the tests of every error message in `tests.rs`.

mod procfile;
pub mod project;
mod values;
mod variant;

use super::cron::Cron;
use super::envfile;
use super::json::{self, Key, Value};
use crate::error::{Code, Error, Result};
use crate::proto::{
    Backoff, BuildSpec, IdleProfile, Leftovers, Ready, Restart, RunSpec, ServiceSpec, Variant,
};
use crate::store::registry::{
    validate_label, validate_plain_name as validate_name, validate_project,
};
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

/// The services file's absolute path: `file` (relative to the current folder), or the one
/// [`find`] finds in the current folder.
pub fn locate(file: Option<&str>) -> Result<PathBuf> {
    let cwd = std::env::current_dir()
        .map_err(|e| crate::error::Error::io("cannot read the current folder", e))?;
    let path = match file {
        Some(f) => cwd.join(f),
        None => find(&cwd)?,
    };
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

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
        project: RefCell::new(None),
    };
    let mut services = if is_procfile {
        loader.procfile(text)?
    } else {
        loader.json(text)?
    };
    let project = loader
        .project
        .take()
        .unwrap_or_else(|| project::from_folder(&loader.dir));
    project::qualify(&mut services, &project);
    Ok(services)
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
            (
                if prefix {
                    1
                } else {
                    crate::util::suggest::distance(&lower, a)
                },
                *a,
            )
        })
        .filter(|(d, a)| *d <= 2 && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
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
    /// The file's `"project"`, if it sets one.
    project: RefCell<Option<String>>,
}

/// What a service contributes to ordering: its `after` names with their positions.
struct Deps<'a> {
    after_key: Option<&'a Key>,
    items: Vec<(&'a str, &'a Value, String)>,
}

impl<'a> Loader<'a> {
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
        let lookup = |k: &str| self.inherited.get(k).cloned();
        let pairs = envfile::parse(&text, &file.display().to_string(), &lookup).map_err(|e| {
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
        for (k, v) in members {
            match k.name.as_str() {
                "services" => {}
                "project" => {
                    let p = self.string(v, "project", "a string (the project's name)")?;
                    validate_project(p).map_err(|e| self.at(v, "project", e.message))?;
                    *self.project.borrow_mut() = Some(p.to_string());
                }
                _ => {
                    return Err(self.unknown_key(k, &child("", &k.name), &["services", "project"]))
                }
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
                project: String::new(),
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
}

#[cfg(test)]
mod tests;
