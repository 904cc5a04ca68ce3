//! `up` and `down` of a services file: the file resolved and its services applied as
//! `wrangle up` does (see `client::up`).

use super::{opt_str, results, strings, Args, Ctx, Done};
use crate::config::services;
use crate::error::{Code, Result};
use crate::proto::Selector;
use std::collections::BTreeMap;

pub fn up(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let file = services::locate(opt_str(args, "file")?)?;
    let inherited: BTreeMap<String, String> = std::env::vars().collect();
    let all = services::load(&file, &inherited)?;
    let names = strings(args, "names")?;
    let chosen = crate::config::services::project::narrow(all, &names, &file)?;
    ctx.client.check_service_names(&chosen)?;
    let rs = ctx.client.apply_in_order(&chosen, |_, _| {})?;
    Ok(results("up", &rs))
}

pub fn down(ctx: &mut Ctx, args: &Args) -> Result<Done> {
    let file = services::locate(opt_str(args, "file")?)?
        .display()
        .to_string();
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
