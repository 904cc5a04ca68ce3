//! `wrangle up` and `wrangle down`: read a services file (wrangle.json or a Procfile), then
//! apply each service in `after` order, waiting for each one's dependencies to be ready.

use super::render;
use super::{client, print_json, Exit};
use crate::config::services;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::Outcome;
use crate::proto::{ActionResult, Selector, ServiceSpec};
use argh::FromArgs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// create or update the services of wrangle.json (or a Procfile) and start them
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "up")]
pub struct UpCmd {
    /// the services file (default: wrangle.json, else Procfile, in the current folder)
    #[argh(option, short = 'f')]
    pub file: Option<String>,
    /// print the results as JSON
    #[argh(switch)]
    pub json: bool,
    /// only these services (and those they come after)
    #[argh(positional)]
    pub names: Vec<String>,
}

/// stop and remove the services of wrangle.json (or a Procfile)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "down")]
pub struct DownCmd {
    /// the services file (default: wrangle.json, else Procfile, in the current folder)
    #[argh(option, short = 'f')]
    pub file: Option<String>,
    /// print the results as JSON
    #[argh(switch)]
    pub json: bool,
    /// only these services
    #[argh(positional)]
    pub names: Vec<String>,
}

/// The services file's absolute path: `-f FILE` or the one found in the current folder.
fn locate(file: &Option<String>) -> Result<PathBuf> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    let path = match file {
        Some(f) => cwd.join(f),
        None => services::find(&cwd)?,
    };
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

pub fn up(paths: &Paths, c: UpCmd) -> Result<Exit> {
    let file = locate(&c.file)?;
    let inherited: BTreeMap<String, String> = std::env::vars().collect();
    let all = services::load(&file, &inherited)?;
    let declared: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    let chosen = services::project::narrow(all, &c.names, &file)?;
    let mut client = client(paths)?;
    check_names(&mut client, &chosen)?;
    let mut results: Vec<ActionResult> = Vec::new();
    let mut not_ready: BTreeMap<String, String> = BTreeMap::new();
    let mut status = 0;
    for s in &chosen {
        // Each dependency must be ready first (they were applied earlier: start order).
        let blocked = s.after.iter().find_map(|dep| {
            if let Some(why) = not_ready.get(dep) {
                return Some(format!("{dep} is not ready ({why})"));
            }
            let timeout = chosen
                .iter()
                .find(|d| &d.name == dep)
                .map(|d| Duration::from_millis(d.base.ready.timeout_ms));
            match client.wait_for(&Selector::target(dep.clone()), timeout, None, None, true) {
                Ok(_) => None,
                Err(e) => {
                    not_ready.insert(dep.clone(), e.message.clone());
                    Some(format!("{dep} is not ready: {}", e.message))
                }
            }
        });
        if let Some(why) = blocked {
            status = 1;
            not_ready.insert(s.name.clone(), "not started".into());
            if !c.json {
                eprintln!("wrangle: {}: not started: {why}", s.name);
            }
            results.push(ActionResult {
                id: 0,
                name: Some(s.name.clone()),
                outcome: Outcome::Failed,
                pid: None,
                message: Some(format!("not started: {why}")),
            });
            continue;
        }
        let r = match client.apply(s) {
            Ok(r) => r,
            Err(e) if e.code == Code::Daemon => return Err(e),
            // One service refused (e.g. its name is taken): say so and go on with the rest.
            Err(e) => ActionResult {
                id: 0,
                name: Some(s.name.clone()),
                outcome: Outcome::Failed,
                pid: None,
                message: Some(e.message),
            },
        };
        if r.outcome == Outcome::Failed {
            status = 1;
            not_ready.insert(s.name.clone(), "it failed".into());
        }
        if !c.json {
            print_result(&r);
        }
        results.push(r);
    }
    if c.names.is_empty() {
        // Services no longer in the file go: the file is the truth.
        let file_s = file.display().to_string();
        let orphans: Vec<String> = client
            .list(&Selector::default())?
            .into_iter()
            .filter(|e| e.service_file.as_deref() == Some(file_s.as_str()))
            .filter_map(|e| e.name)
            .filter(|n| !declared.contains(n))
            .collect();
        if !orphans.is_empty() {
            for r in client.down(&file_s, &orphans)? {
                if !c.json {
                    match r.outcome {
                        Outcome::Failed => {
                            status = 1;
                            print_result(&r)
                        }
                        _ => println!(
                            "removed {} (no longer in {})",
                            render::label(r.id, &r.name),
                            file.display()
                        ),
                    }
                }
                results.push(r);
            }
        }
    }
    if c.json {
        print_json(&results)?;
    }
    Ok(status)
}

/// Refuses the whole file (exit status 4) if any of its services' names is taken by an entry
/// that is not that service of the same file: nothing is applied, rather than half of it.
fn check_names(client: &mut crate::client::Client, chosen: &[ServiceSpec]) -> Result<()> {
    let mut taken: Vec<String> = Vec::new();
    for e in client.list(&Selector::default())? {
        let Some(n) = &e.name else { continue };
        let Some(s) = chosen.iter().find(|s| &s.name == n) else {
            continue;
        };
        match e.service_file.as_deref() {
            Some(f) if f == s.file => {}
            Some(f) => taken.push(format!("{n} is a service of {f}")),
            None => taken.push(format!(
                "{n} is taken by {}, which is not a service",
                render::label(e.id, &e.name)
            )),
        }
    }
    if taken.is_empty() {
        return Ok(());
    }
    bail!(
        Code::NameTaken,
        "nothing was applied: {} (rename or remove {} first)",
        taken.join("; "),
        if taken.len() == 1 { "it" } else { "them" }
    )
}

fn print_result(r: &ActionResult) {
    let who = match (r.id, &r.name) {
        // No entry was made.
        (0, Some(n)) => n.clone(),
        _ => render::label(r.id, &r.name),
    };
    let pid = r.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
    match r.outcome {
        Outcome::Failed => eprintln!(
            "wrangle: {who}: {}",
            r.message.as_deref().unwrap_or("failed")
        ),
        Outcome::Unchanged => println!("{who} is unchanged{pid}"),
        other => println!("{other} {who}{pid}"),
    }
}

pub fn down(paths: &Paths, c: DownCmd) -> Result<Exit> {
    let file = locate(&c.file)?;
    let rs = client(paths)?.down(&file.display().to_string(), &c.names)?;
    if c.json {
        print_json(&rs)?;
        return Ok(i32::from(rs.iter().any(|r| r.outcome == Outcome::Failed)));
    }
    if rs.is_empty() {
        println!("no services of {} are known", file.display());
        return Ok(0);
    }
    Ok(render::results("removed", &rs))
}
