//! `wrangle screen`: the current screen of a terminal entry, as text, ANSI, a standalone HTML
//! page, or JSON (rows, cursor, title, size).

use super::select::with_selector;
use super::{client, print_json, Exit};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::term::Format;
use std::io::Write;

with_selector! {
    /// print the current screen of a terminal (--pty) entry
    #[argh(subcommand, name = "screen")]
    pub struct ScreenCmd {
        /// text (default: what it shows), ansi (with colours and attributes) or html (a
        /// standalone page)
        #[argh(option)]
        pub format: Option<String>,
        /// also print this many lines of scrollback before the screen (default 0)
        #[argh(option)]
        pub scrollback: Option<u32>,
        /// print rows, cursor, title and size as JSON
        #[argh(switch)]
        pub json: bool,
        /// a name or id
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn screen(paths: &Paths, c: ScreenCmd) -> Result<Exit> {
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        crate::bail!(Code::Usage, "screen: say which entry (a name or an id)");
    }
    let format = match &c.format {
        Some(f) => {
            Format::parse(f).map_err(|e| Error::new(Code::Usage, format!("--format: {e}")))?
        }
        None => Format::Text,
    };
    let r = client(paths)?.screen(&sel, format, c.scrollback.unwrap_or(0))?;
    if c.json {
        print_json(&r)?;
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(r.content.as_bytes());
    let _ = out.flush();
    Ok(0)
}
