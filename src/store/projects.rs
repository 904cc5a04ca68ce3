//! Services saved by versions before projects (wrangle(1), PROJECTS): their declaration has
//! no project and their entry the plain name. They are migrated when read (the registry at
//! the daemon's start, the saved set at `resurrect`): the project is the services file's folder
//! name (the `"project"` key did not exist then), the entry is renamed `PROJECT/NAME`, and the
//! declaration is qualified as `wrangle up` now makes it, so that applying the same file again
//! changes nothing and restarts nothing.

use super::registry::{Registry, Relabel};
use crate::config::services::project;
use crate::proto::ServiceSpec;
use std::path::Path;

/// The project an older declaration belongs to, if it has none yet.
fn missing_project(s: &ServiceSpec) -> Option<String> {
    if !s.project.is_empty() || s.name.contains('/') {
        return None;
    }
    Some(project::from_folder(
        Path::new(&s.file).parent().unwrap_or(Path::new("/")),
    ))
}

/// Migrates one saved declaration and the name saved with it (a saved set's entry).
pub fn migrate_saved(name: &mut Option<String>, service: &mut ServiceSpec) {
    if let Some(p) = missing_project(service) {
        project::qualify(std::slice::from_mut(service), &p);
        *name = Some(service.name.clone());
    }
}

/// Migrates every entry of the registry whose declaration has no project; returns what was
/// renamed, as `(old, new)`. An entry whose new name is taken keeps its old one.
pub fn migrate_registry(reg: &mut Registry) -> Vec<(String, String)> {
    let mut renamed = Vec::new();
    for id in reg.ids() {
        let Some(e) = reg.get(id) else { continue };
        let Some(s) = e.service.as_deref() else {
            continue;
        };
        let Some(p) = missing_project(s) else {
            continue;
        };
        let mut qualified = s.clone();
        project::qualify(std::slice::from_mut(&mut qualified), &p);
        let old = e.name.clone().unwrap_or_default();
        let change = Relabel {
            name: Some(Some(qualified.name.clone())),
            ..Relabel::default()
        };
        if reg.relabel(id, &change).is_err() {
            continue;
        }
        if let Some(e) = reg.get_mut(id) {
            renamed.push((old, qualified.name.clone()));
            e.service = Some(Box::new(qualified));
        }
    }
    renamed
}
