//! `wrangle top`: the live dashboard (src/tui/), with `a` running an attach session of
//! `wrangle attach` on a connection of its own.

use super::attach::{session, SessionOpts};
use super::Exit;
use crate::client::Client;
use crate::error::Result;
use crate::paths::Paths;
use crate::proto::Selector;

/// a full-screen live dashboard: entries, details, live output (press ? for the keys)
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "top")]
pub struct TopCmd {}

pub fn top(paths: &Paths, _c: TopCmd) -> Result<Exit> {
    let mut attach = |id: u64| -> Option<String> {
        // The main screen, cleared, for the session (what the dashboard showed is not there).
        crate::tui::term::write_all(b"\x1b[H\x1b[2J");
        let run = || -> Result<Exit> {
            let mut client = Client::connect(paths)?;
            let opts = SessionOpts {
                read_only: false,
                detach_key: Some(0x1c),
                replay: true,
            };
            session(paths, &mut client, &Selector::target(id.to_string()), &opts)
        };
        match run() {
            Ok(_) => None,
            Err(e) => Some(format!("attach: {e}")),
        }
    };
    crate::tui::run(paths, &mut attach)
}
