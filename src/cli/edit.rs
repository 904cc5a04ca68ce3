//! `wrangle edit`: change an entry's command, environment, folder or policies in place (its
//! id, name, labels and logs stay), for its next start or at once with `--restart-now`.

use super::select::with_selector;
use super::{client, duration_flag, print_json, Exit};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::proto::{Outcome, Request, Restart, SpecChange};

with_selector! {
    /// change entries' specs, keeping ids, labels and logs (applies at the next start)
    #[argh(subcommand, name = "edit")]
    pub struct EditCmd {
        /// the new command, split into words as a shell would (quotes and backslashes)
        #[argh(option)]
        pub cmd: Option<String>,
        /// the new command as one string run by sh -c
        #[argh(option)]
        pub shell: Option<String>,
        /// set an environment variable K=V (repeat)
        #[argh(option)]
        pub env: Vec<String>,
        /// remove an environment variable (repeat)
        #[argh(option)]
        pub unset_env: Vec<String>,
        /// the new working folder
        #[argh(option)]
        pub cwd: Option<String>,
        /// restart policy: never, on-failure or always
        #[argh(option)]
        pub restart: Option<String>,
        /// give up after this many restarts in a row (0: never)
        #[argh(option)]
        pub max_restarts: Option<u32>,
        /// restart delays: INITIAL[,FACTOR[,MAX]], e.g. 1s,2,1m
        #[argh(option)]
        pub backoff: Option<String>,
        /// a run this long resets the restart count
        #[argh(option)]
        pub min_uptime: Option<String>,
        /// the signal a stop sends first
        #[argh(option)]
        pub stop_signal: Option<String>,
        /// how long a stop waits before KILL
        #[argh(option)]
        pub stop_timeout: Option<String>,
        /// restart running entries now with the new spec
        #[argh(switch)]
        pub restart_now: bool,
        /// print the results as JSON
        #[argh(switch)]
        pub json: bool,
        /// names, ids or all
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

/// Splits `text` into words as a POSIX shell would, without expansions: blanks separate,
/// single quotes keep everything, double quotes keep all but `\"`, `\\`, `\$` and `` \` ``,
/// a backslash outside quotes keeps the next character.
fn split_words(text: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    let unclosed = |q: &str| {
        Error::new(
            Code::Usage,
            format!("--cmd {text:?}: unclosed {q} (or use --shell)"),
        )
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(unclosed("single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(unclosed("double quote")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(unclosed("double quote")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The change the flags ask for.
fn change(c: &EditCmd) -> Result<SpecChange> {
    let mut ch = SpecChange::default();
    match (&c.cmd, &c.shell) {
        (Some(_), Some(_)) => bail!(Code::Usage, "edit: give --cmd or --shell, not both"),
        (Some(cmd), None) => {
            let words = split_words(cmd)?;
            if words.is_empty() {
                bail!(Code::Usage, "--cmd: the command is empty");
            }
            ch.argv = Some(words);
            ch.shell = Some(false);
        }
        (None, Some(sh)) => {
            if sh.trim().is_empty() {
                bail!(Code::Usage, "--shell: the command is empty");
            }
            ch.argv = Some(vec![sh.clone()]);
            ch.shell = Some(true);
        }
        (None, None) => {}
    }
    for kv in &c.env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() && !k.contains('\0') => {
                ch.env.insert(k.to_string(), v.to_string());
            }
            _ => bail!(Code::Usage, "--env {kv:?}: expected KEY=VALUE"),
        }
    }
    ch.unset_env = c.unset_env.clone();
    if let Some(d) = &c.cwd {
        let here =
            std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
        let cwd = here.join(d);
        if !cwd.is_dir() {
            bail!(Code::Usage, "--cwd {}: no such folder", cwd.display());
        }
        ch.cwd = Some(cwd.to_string_lossy().into_owned());
    }
    if let Some(r) = &c.restart {
        ch.restart = Some(Restart::parse(r).ok_or_else(|| {
            Error::new(
                Code::Usage,
                format!("--restart {r:?}: use never, on-failure or always"),
            )
        })?);
    }
    ch.max_restarts = c.max_restarts;
    if let Some(b) = &c.backoff {
        ch.backoff = Some(super::run::parse_backoff(b)?);
    }
    ch.min_uptime_ms = duration_flag("--min-uptime", &c.min_uptime)?.map(|d| d.as_millis() as u64);
    ch.stop_timeout_ms =
        duration_flag("--stop-timeout", &c.stop_timeout)?.map(|d| d.as_millis() as u64);
    if let Some(s) = &c.stop_signal {
        ch.stop_signal = Some(crate::util::signal::parse(s)?);
    }
    Ok(ch)
}

pub fn edit(paths: &Paths, c: EditCmd) -> Result<Exit> {
    let ch = change(&c)?;
    if ch == SpecChange::default() {
        bail!(
            Code::Usage,
            "edit: nothing to change (see wrangle edit --help)"
        );
    }
    let sel = c.selector(&c.targets);
    let rs = client(paths)?.act(&Request::Edit {
        sel,
        change: ch,
        restart_now: c.restart_now,
    })?;
    if c.json {
        print_json(&rs)?;
        return Ok(i32::from(rs.iter().any(|r| r.outcome == Outcome::Failed)));
    }
    let status = super::render::results("edited", &rs);
    if rs.iter().any(|r| r.outcome == Outcome::Edited) {
        println!("(the change applies at the next start: wrangle restart, or edit --restart-now)");
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn words_split_as_a_shell_would() {
        assert_eq!(
            split_words(r#"python3 -m  http.server 'a b' "c \"d\"" e\ f"#).unwrap(),
            ["python3", "-m", "http.server", "a b", "c \"d\"", "e f"]
        );
        assert!(split_words("echo 'oops").is_err());
        assert_eq!(split_words("''").unwrap(), [""]);
    }
}
