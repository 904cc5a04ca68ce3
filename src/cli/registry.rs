//! Registry commands: adopt a pid, edit labels, list and rename tags and groups, prune, reset,
//! and draw an entry's process tree.

use super::render;
use super::select::with_selector;
use super::{client, duration_flag, print_json, Exit};
use crate::error::{Code, Result};
use crate::paths::Paths;
use crate::proc::identity;
use crate::proto::{Request, Selector};
use argh::FromArgs;
use std::collections::{BTreeMap, HashSet};

/// adopt a running process: watch it, stop it, signal it
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
pub struct AddCmd {
    /// a unique name for the entry
    #[argh(option)]
    pub name: Option<String>,
    /// a tag (repeat)
    #[argh(option)]
    pub tag: Vec<String>,
    /// a group (repeat)
    #[argh(option)]
    pub group: Vec<String>,
    /// print the new entry as JSON
    #[argh(switch)]
    pub json: bool,
    /// the process id
    #[argh(positional)]
    pub pid: i32,
}

with_selector! {
    without_name_filter;
    /// edit entries' tags, groups and name
    #[argh(subcommand, name = "label")]
    pub struct LabelCmd {
        /// add this tag (repeat)
        #[argh(option)]
        pub add_tag: Vec<String>,
        /// remove this tag (repeat)
        #[argh(option)]
        pub rm_tag: Vec<String>,
        /// add this group (repeat)
        #[argh(option)]
        pub add_group: Vec<String>,
        /// remove this group (repeat)
        #[argh(option)]
        pub rm_group: Vec<String>,
        /// give the entry this name ("" removes it)
        #[argh(option)]
        pub name: Option<String>,
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

/// list tags, the entries carrying one, or rename one everywhere
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tag")]
pub struct TagCmd {
    /// rename the tag on every entry (onto an existing tag: merge)
    #[argh(option)]
    pub rename: Option<String>,
    /// print names only
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// print JSON
    #[argh(switch)]
    pub json: bool,
    /// the tag (none: list every tag)
    #[argh(positional)]
    pub label: Option<String>,
}

/// list groups, the entries in one, or rename one everywhere
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "group")]
pub struct GroupCmd {
    /// rename the group on every entry (onto an existing group: merge)
    #[argh(option)]
    pub rename: Option<String>,
    /// print names only
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// print JSON
    #[argh(switch)]
    pub json: bool,
    /// the group (none: list every group)
    #[argh(positional)]
    pub label: Option<String>,
}

/// forget ended entries (stopped, exited, errored) and their logs
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "prune")]
pub struct PruneCmd {
    /// only those that ended at least this long ago, e.g. 1d
    #[argh(option)]
    pub older_than: Option<String>,
    /// print the results as JSON
    #[argh(switch)]
    pub json: bool,
}

/// stop every owned process, forget everything and start ids at 1
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reset")]
pub struct ResetCmd {
    /// must be RESET
    #[argh(option)]
    pub confirm: Option<String>,
}

with_selector! {
    /// draw an entry's process tree with pids and commands
    #[argh(subcommand, name = "tree")]
    pub struct TreeCmd {
        /// a name or id
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn add(paths: &Paths, c: AddCmd) -> Result<Exit> {
    if let Some(n) = &c.name {
        crate::store::registry::validate_name(n)?;
    }
    let e = client(paths)?.add(c.pid, c.name, c.tag, c.group)?;
    if c.json {
        print_json(&e)?;
    } else {
        println!("adopted {} (pid {})", render::label(e.id, &e.name), c.pid);
    }
    Ok(0)
}

pub fn label(paths: &Paths, c: LabelCmd) -> Result<Exit> {
    if c.add_tag.is_empty()
        && c.rm_tag.is_empty()
        && c.add_group.is_empty()
        && c.rm_group.is_empty()
        && c.name.is_none()
    {
        crate::bail!(
            Code::Usage,
            "label: nothing to change (use --add-tag, --rm-tag, --add-group, --rm-group or --name)"
        );
    }
    let req = Request::Label {
        sel: c.selector(&c.targets),
        add_tags: c.add_tag.clone(),
        rm_tags: c.rm_tag.clone(),
        add_groups: c.add_group.clone(),
        rm_groups: c.rm_group.clone(),
        name: c.name.clone(),
    };
    let rs = client(paths)?.act(&req)?;
    if c.json {
        print_json(&rs)?;
        return Ok(0);
    }
    Ok(render::results("labelled", &rs))
}

fn labels(
    paths: &Paths,
    kind: &str,
    label: Option<String>,
    rename: Option<String>,
    quiet: bool,
    json: bool,
) -> Result<Exit> {
    let mut client = client(paths)?;
    match (label, rename) {
        (Some(old), Some(new)) => {
            let req = Request::RenameLabel {
                kind: kind.to_string(),
                old: old.clone(),
                new: new.clone(),
            };
            let rs = client.act(&req)?;
            if json {
                print_json(&rs)?;
            } else {
                println!(
                    "renamed {kind} {old:?} to {new:?} on {}",
                    render::count(rs.len(), "entry", "entries")
                );
            }
            Ok(0)
        }
        (None, Some(_)) => crate::bail!(Code::Usage, "{kind}: say which {kind} to rename"),
        (Some(one), None) => {
            let mut sel = Selector::default();
            match kind {
                "tag" => sel.tag.push(one),
                _ => sel.group.push(one),
            }
            let entries = client.list(&sel)?;
            if json {
                print_json(&entries)?;
            } else {
                for e in &entries {
                    if quiet {
                        println!("{}", e.id);
                    } else {
                        println!(
                            "{}  {}  {}",
                            render::label(e.id, &e.name),
                            e.state,
                            e.command
                        );
                    }
                }
            }
            Ok(0)
        }
        (None, None) => {
            let all = client.labels(kind)?;
            if json {
                print_json(&all)?;
            } else {
                for l in &all {
                    if quiet {
                        println!("{}", l.name);
                    } else {
                        println!(
                            "{}  {}",
                            l.name,
                            render::count(l.entries, "entry", "entries")
                        );
                    }
                }
            }
            Ok(0)
        }
    }
}

pub fn tag(paths: &Paths, c: TagCmd) -> Result<Exit> {
    labels(paths, "tag", c.label, c.rename, c.quiet, c.json)
}

pub fn group(paths: &Paths, c: GroupCmd) -> Result<Exit> {
    labels(paths, "group", c.label, c.rename, c.quiet, c.json)
}

pub fn prune(paths: &Paths, c: PruneCmd) -> Result<Exit> {
    let older = duration_flag("--older-than", &c.older_than)?;
    let req = Request::Prune {
        older_than_ms: older.map(|d| d.as_millis() as u64),
    };
    let rs = client(paths)?.act(&req)?;
    if c.json {
        print_json(&rs)?;
    } else if rs.is_empty() {
        println!("nothing to prune");
    } else {
        render::results("removed", &rs);
    }
    Ok(0)
}

pub fn reset(paths: &Paths, c: ResetCmd) -> Result<Exit> {
    let confirm = c.confirm.unwrap_or_default();
    if confirm != "RESET" {
        crate::bail!(
            Code::Usage,
            "reset stops every owned process and forgets every entry; confirm with --confirm RESET"
        );
    }
    let rs = client(paths)?.act(&Request::Reset { confirm })?;
    println!(
        "reset: forgot {}; ids start at 1 again",
        render::count(rs.len(), "entry", "entries")
    );
    Ok(0)
}

pub fn tree(paths: &Paths, c: TreeCmd) -> Result<Exit> {
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        crate::bail!(Code::Usage, "tree: say which entry (a name or an id)");
    }
    let mut client = client(paths)?;
    let daemon_pid = client.daemon_pid() as i32;
    let instance = client.ping()?.state_dir;
    for e in client.status(&sel, false)? {
        println!("{}", render::label(e.id, &e.name));
        // Processes carrying the entry's markers, the recorded leftovers of ended runs, and,
        // while it runs, the main process's group, session and descendants.
        let mut members =
            crate::proc::kill::find_tree(e.id, e.pid.unwrap_or(0), daemon_pid, &instance);
        for &p in &e.leftovers {
            if let (false, Some(start_time)) =
                (members.iter().any(|t| t.pid == p), identity::start_time(p))
            {
                members.push(crate::proc::kill::Target { pid: p, start_time });
            }
        }
        if e.pid.is_none() {
            if members.is_empty() {
                println!("  (not running: {})", e.state);
                continue;
            }
            println!("  (not running: {}; leftover processes:)", e.state);
        }
        let set: HashSet<i32> = members.iter().map(|t| t.pid).collect();
        let mut kids: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        let mut roots = Vec::new();
        for m in &members {
            match identity::stat(m.pid) {
                Ok(st) if set.contains(&st.ppid) => kids.entry(st.ppid).or_default().push(m.pid),
                _ => roots.push(m.pid),
            }
        }
        roots.sort_unstable();
        for r in roots {
            draw(r, &kids, "", true);
        }
    }
    Ok(0)
}

pub(super) fn command_of(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let s: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if s.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| format!("[{}]", c.trim()))
            .unwrap_or_default()
    } else {
        s.join(" ")
    }
}

fn draw(pid: i32, kids: &BTreeMap<i32, Vec<i32>>, prefix: &str, last: bool) {
    let branch = if last { "└─ " } else { "├─ " };
    println!("{prefix}{branch}{pid} {}", command_of(pid));
    let children = kids.get(&pid).cloned().unwrap_or_default();
    let next = format!("{prefix}{}", if last { "   " } else { "│  " });
    for (i, k) in children.iter().enumerate() {
        draw(*k, kids, &next, i + 1 == children.len());
    }
}
