//! Commands that change entries: start, stop, restart, rm, signal, and `wait` for an end.

use super::render;
use super::select::with_selector;
use super::{client, duration_flag, print_json, Exit};
use crate::client::reconnect::{self, Notice};
use crate::error::{Code, Result};
use crate::paths::Paths;
use crate::proto::ActionResult;
use crate::proto::Outcome;

with_selector! {
    /// start stopped or ended entries again with their stored spec
    #[argh(subcommand, name = "start")]
    pub struct StartCmd {
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// stop entries: stop signal to the process group, KILL after the timeout
    #[argh(subcommand, name = "stop")]
    pub struct StopCmd {
        /// how long to wait before KILL (default: the entry's stop timeout)
        #[argh(option)]
        pub timeout: Option<String>,
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// stop entries if running, then start them again (services build first)
    #[argh(subcommand, name = "restart")]
    pub struct RestartCmd {
        /// switch services to this profile of their services file (base: no profile)
        #[argh(option)]
        pub profile: Option<String>,
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// stop entries if needed, then forget them and their logs
    #[argh(subcommand, name = "rm")]
    pub struct RmCmd {
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// stop processes adopted with add too (they are left running by default)
        #[argh(switch)]
        pub kill: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// send a signal to entries' main processes
    #[argh(subcommand, name = "signal")]
    pub struct SignalCmd {
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// the signal: TERM, SIGTERM, term or 15
        #[argh(positional)]
        pub signal: String,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

with_selector! {
    /// wait until an entry ends (exit with its code, 128+N for signal N) or is ready
    #[argh(subcommand, name = "wait")]
    pub struct WaitCmd {
        /// give up after this long (exit status 124)
        #[argh(option)]
        pub timeout: Option<String>,
        /// wait for a line of the current run matching this regular expression
        #[argh(option)]
        pub log: Option<String>,
        /// wait until one of its processes listens on this TCP port
        #[argh(option)]
        pub port: Option<u16>,
        /// wait until it is ready as its services file declares (ready.log, ready.port)
        #[argh(switch)]
        pub ready: bool,
        /// wait until the screen of a terminal entry shows a match of this regular expression
        #[argh(option)]
        pub screen: Option<String>,
        /// print how it ended as JSON
        #[argh(switch)]
        pub json: bool,
        /// a name or id
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

fn report(json: bool, done: &str, rs: Vec<ActionResult>) -> Result<Exit> {
    if json {
        print_json(&rs)?;
        return Ok(if rs.iter().any(|r| r.outcome == Outcome::Failed) {
            1
        } else {
            0
        });
    }
    Ok(render::results(done, &rs))
}

pub fn start(paths: &Paths, c: StartCmd) -> Result<Exit> {
    let rs = client(paths)?.start(&c.selector(&c.targets))?;
    report(c.json, "started", rs)
}

pub fn stop(paths: &Paths, c: StopCmd) -> Result<Exit> {
    let timeout = duration_flag("--timeout", &c.timeout)?;
    let sel = c.selector(&c.targets);
    let mut client = client(paths)?;
    // A stop outlives the daemon being replaced while it waits (an upgrade, a kill -9): the
    // new daemon goes on with the stop, and is asked again. An entry it finds no longer
    // running was stopped by the first ask.
    let rs = reconnect::resilient(paths, &mut client, Notice::Quiet, |client, resumed| {
        let mut rs = client.stop(&sel, timeout)?;
        if resumed {
            for r in rs.iter_mut().filter(|r| r.outcome == Outcome::NotRunning) {
                r.outcome = Outcome::Stopped;
            }
        }
        Ok(rs)
    })?;
    report(c.json, "stopped", rs)
}

pub fn restart(paths: &Paths, c: RestartCmd) -> Result<Exit> {
    let rs = client(paths)?.restart(&c.selector(&c.targets), c.profile.clone())?;
    report(c.json, "restarted", rs)
}

pub fn rm(paths: &Paths, c: RmCmd) -> Result<Exit> {
    let rs = client(paths)?.remove_with(&c.selector(&c.targets), c.kill)?;
    report(c.json, "removed", rs)
}

pub fn signal(paths: &Paths, c: SignalCmd) -> Result<Exit> {
    let sig = crate::util::signal::parse(&c.signal)?;
    let rs = client(paths)?.signal(&c.selector(&c.targets), sig)?;
    if !c.json && !rs.is_empty() && rs.iter().all(|r| r.outcome == Outcome::NotRunning) {
        for r in &rs {
            eprintln!("wrangle: {} is not running", render::label(r.id, &r.name));
        }
        return Ok(1);
    }
    let name = crate::util::signal::name(sig);
    report(c.json, &format!("sent {name} to"), rs)
}

pub fn wait(paths: &Paths, c: WaitCmd) -> Result<Exit> {
    let timeout = duration_flag("--timeout", &c.timeout)?;
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(Code::Usage, "wait: say which entry (a name or an id)");
    }
    let condition = c.log.is_some() || c.port.is_some() || c.ready || c.screen.is_some();
    if c.screen.is_some() && (c.log.is_some() || c.port.is_some() || c.ready) {
        bail!(
            Code::Usage,
            "wait: --screen goes alone (not with --log, --port or --ready)"
        );
    }
    // A wait outlives a daemon being replaced: it is asked again (an entry that ended
    // meanwhile is answered at once), with what is left of the timeout.
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut client = client(paths)?;
    let r = reconnect::resilient(paths, &mut client, Notice::Stderr, |client, _| {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        match &c.screen {
            Some(re) => client.wait_screen(&sel, left, re),
            None => client.wait_for(&sel, left, c.log.clone(), c.port, c.ready),
        }
    })?;
    if c.json {
        print_json(&r)?;
    }
    if condition {
        return Ok(0);
    }
    Ok(match (r.exit_code, r.exit_signal) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => {
            eprintln!(
                "wrangle: {} ended with an unknown exit status",
                render::label(r.id, &r.name)
            );
            1
        }
    })
}
