//! Projects: the namespace of a services file's names. Every service of a file is the entry
//! `PROJECT/NAME`, PROJECT being the file's `"project"` or, by default, its folder's name made
//! a valid name part; so two projects may both have an `api`. Also which project the current
//! folder is in, for selectors: a plain `api` typed there means that project's.

use super::{find, FILE_NAME};
use crate::error::{Code, Result};
use crate::proto::ServiceSpec;
use crate::store::registry::validate_project;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The services to act on: `names` and, transitively, what they come after (in file order).
pub fn narrow(all: Vec<ServiceSpec>, names: &[String], file: &Path) -> Result<Vec<ServiceSpec>> {
    if names.is_empty() {
        return Ok(all);
    }
    let by_name: BTreeMap<&str, &ServiceSpec> = all.iter().map(|s| (s.name.as_str(), s)).collect();
    let project = all.first().map(|s| s.project.as_str()).unwrap_or_default();
    let mut want: BTreeSet<String> = BTreeSet::new();
    // A name is the full PROJECT/NAME or the plain name within the file.
    let mut todo: Vec<String> = names
        .iter()
        .map(|n| match n.contains('/') {
            true => n.clone(),
            false => format!("{project}/{n}"),
        })
        .collect();
    while let Some(n) = todo.pop() {
        let Some(s) = by_name.get(n.as_str()) else {
            bail!(
                Code::NoSuchEntry,
                "no service {n} in {} (it has: {})",
                file.display(),
                by_name.keys().copied().collect::<Vec<_>>().join(", ")
            );
        };
        if want.insert(n.clone()) {
            todo.extend(s.after.iter().cloned());
        }
    }
    Ok(all.into_iter().filter(|s| want.contains(&s.name)).collect())
}

/// The default project of a services file in `dir`: the folder's name, with every character a
/// name may not have made `-` and cut to 64 characters (`project` for `/`).
pub fn from_folder(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut p: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if p.is_empty() {
        p = "project".into();
    }
    p
}

/// Makes the services of a file those of `project`: each name becomes `project/name`, and so do
/// the names its `after` lists and its variants' specs carry.
pub fn qualify(services: &mut [ServiceSpec], project: &str) {
    let full = |n: &str| format!("{project}/{n}");
    for s in services {
        s.project = project.to_string();
        s.name = full(&s.name);
        for a in &mut s.after {
            *a = full(a);
        }
        for v in std::iter::once(&mut s.base).chain(s.profiles.values_mut()) {
            v.spec.name = Some(s.name.clone());
        }
    }
}

/// The project of the services file of the current folder or the nearest folder above it
/// that has one (`wrangle.json`, else `Procfile`), if any. A file that cannot be read or is
/// not valid gives its folder's name.
pub fn of_current_folder() -> Option<String> {
    let here = std::env::current_dir().ok()?;
    let file = here.ancestors().find_map(|d| find(d).ok())?;
    let dir = file.parent()?;
    if file.file_name().is_some_and(|n| n == FILE_NAME) {
        let declared = std::fs::read_to_string(&file).ok().and_then(|t| {
            let root = crate::config::json::parse(&t).ok()?;
            let members = root.as_object()?;
            let (_, v) = members.iter().find(|(k, _)| k.name == "project")?;
            let p = v.as_str()?;
            validate_project(p).ok()?;
            Some(p.to_string())
        });
        if declared.is_some() {
            return declared;
        }
    }
    Some(from_folder(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_valid_projects() {
        assert_eq!(from_folder(Path::new("/src/my-app")), "my-app");
        assert_eq!(from_folder(Path::new("/src/my app!")), "my-app-");
        assert_eq!(from_folder(Path::new("/src/2024")), "2024");
        assert_eq!(from_folder(Path::new("/")), "project");
        assert_eq!(from_folder(Path::new(&"x".repeat(80))).len(), 64);
    }
}
