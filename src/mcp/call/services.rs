//! `up` and `down` of a services file: the file resolved here (like `wrangle up`), each
//! service applied in `after` order once what it needs is ready.

use super::{one, opt_str, results, strings, Args, Ctx, Done};
use crate::config::services;
use crate::error::{Code, Error, Result};
use crate::proto::{ActionResult, Outcome, Selector};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

fn locate(args: &Args) -> Result<PathBuf> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    let path = match opt_str(args, "file")? {
        Some(f) => cwd.join(f),
        None => services::find(&cwd)?,
    };
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

pub fn up(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let file = locate(args)?;
    let inherited: BTreeMap<String, String> = std::env::vars().collect();
    let all = services::load(&file, &inherited)?;
    let names = strings(args, "names")?;
    let chosen = crate::config::services::project::narrow(all, &names, &file)?;
    let mut rs: Vec<ActionResult> = Vec::new();
    let mut not_ready: BTreeSet<String> = BTreeSet::new();
    for s in &chosen {
        let blocked = s.after.iter().find_map(|dep| {
            if not_ready.contains(dep) {
                return Some(format!("{dep} is not ready"));
            }
            let timeout = chosen
                .iter()
                .find(|d| &d.name == dep)
                .map(|d| Duration::from_millis(d.base.ready.timeout_ms));
            let sel = one(ctx, dep);
            match ctx.client.wait_for(&sel, timeout, None, None, true) {
                Ok(_) => None,
                Err(e) => Some(format!("{dep} is not ready: {}", e.message)),
            }
        });
        let r = match blocked {
            Some(why) => ActionResult {
                id: 0,
                name: Some(s.name.clone()),
                outcome: Outcome::Failed,
                pid: None,
                message: Some(format!("not started: {why}")),
            },
            None => match ctx.client.apply(s) {
                Ok(r) => r,
                Err(e) if e.code == Code::Daemon => return Err(e),
                Err(e) => ActionResult {
                    id: 0,
                    name: Some(s.name.clone()),
                    outcome: Outcome::Failed,
                    pid: None,
                    message: Some(e.message),
                },
            },
        };
        if r.outcome == Outcome::Failed {
            not_ready.insert(s.name.clone());
        }
        rs.push(r);
    }
    Ok(results("up", &rs))
}

pub fn down(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let file = locate(args)?.display().to_string();
    let names = strings(args, "names")?;
    if ctx.policy.own_only {
        // Only when every entry it would take down is the agent's own.
        let foreign: Vec<String> = ctx
            .client
            .list(&Selector::default())?
            .into_iter()
            .filter(|e| e.service_file.as_deref() == Some(file.as_str()))
            .filter(|e| names.is_empty() || e.name.as_ref().is_some_and(|n| names.contains(n)))
            .filter(|e| e.originator.as_deref() != Some(ctx.originator))
            .map(|e| e.name.unwrap_or_else(|| e.id.to_string()))
            .collect();
        if !foreign.is_empty() {
            bail!(
                Code::Usage,
                "down: {} not started by this agent (--own-only); ask the user",
                foreign.join(", ")
            );
        }
    }
    let rs = ctx.client.down(&file, &names)?;
    Ok(results("down", &rs))
}
