//! Help for what was mistyped or left out: the usage that a bare `wrangle` prints, and the
//! closest command to an unknown one.

use super::{Cmd, Exit};

/// What a bare `wrangle` prints (on standard error, before its usage error).
pub const USAGE: &str = "\
usage: wrangle COMMAND [ARGS...]

everyday commands:
  run [--name N] -- CMD...   run a command in the background
  ls                         list entries
  status SEL                 show everything about entries
  logs SEL [-f]              print an entry's output, and follow it
  stop | start | restart SEL
  rm SEL                     stop and forget entries
  attach SEL                 reach an entry's terminal
  up | down                  start or stop the services of wrangle.json

SEL is a name, an id, several of them, or all. wrangle --help lists every command;
man wrangle tells the rest.
";

/// When the command word of `args` (the first word that is not an option of `wrangle` itself)
/// names no command: says so, with the closest commands, and gives the exit status (2).
pub fn check_command(args: &[&str]) -> Option<Exit> {
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--socket" => i += 2,
            a if a.starts_with("--socket=") => i += 1,
            a if a.starts_with('-') => return None,
            _ => break,
        }
    }
    let word = *args.get(i)?;
    let known = <Cmd as argh::SubCommands>::COMMANDS
        .iter()
        .map(|c| c.name)
        .chain(["help"]);
    if known.clone().any(|k| k == word) {
        return None;
    }
    eprintln!(
        "wrangle: unknown command {word:?}{}",
        crate::util::suggest::did_you_mean(word, known)
    );
    eprintln!("(see wrangle --help)");
    Some(2)
}
