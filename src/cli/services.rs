//! `wrangle up` and `wrangle down`: read a services file (wrangle.json or a Procfile), then
//! apply each service in `after` order, waiting for each one's dependencies to be ready.

use super::render;
use super::{client, print_json, Exit};
use crate::config::services;
use crate::error::Result;
use crate::paths::Paths;
use crate::proto::Outcome;
use crate::proto::{ActionResult, Selector};
use argh::FromArgs;
use std::collections::{BTreeMap, BTreeSet};

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

pub fn up(paths: &Paths, c: UpCmd) -> Result<Exit> {
    let file = services::locate(c.file.as_deref())?;
    let inherited: BTreeMap<String, String> = std::env::vars().collect();
    let all = services::load(&file, &inherited)?;
    let declared: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    let chosen = services::project::narrow(all, &c.names, &file)?;
    let mut client = client(paths)?;
    client.check_service_names(&chosen)?;
    let mut status = 0;
    let mut results = client.apply_in_order(&chosen, |r, blocked| {
        if r.outcome == Outcome::Failed {
            status = 1;
        }
        if !c.json && blocked {
            eprintln!(
                "wrangle: {}: {}",
                r.name.as_deref().unwrap_or_default(),
                r.message.as_deref().unwrap_or_default()
            );
        } else if !c.json {
            print_result(r);
        }
    })?;
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
    let file = services::locate(c.file.as_deref())?;
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
