//! The docs agree with the binary.
//!
//! Every subcommand and every flag that the real binary's `--help` lists (argh's format: a
//! `Commands:` section at the top level, an `Options:` section per command) must be documented
//! in man/wrangle.1 and offered by each completion script (bash, zsh, fish); and the docs must
//! not mention flags the binary no longer has. Where bash, fish or zsh (with zpty) is installed,
//! the completion scripts are also run for real: they must offer each command's flags, and
//! complete entry names from a running daemon without ever starting one.
//!
//! Every call of the binary gets a fresh `WRANGLE_HOME`, so no user's daemon is touched.

mod common;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_wrangle");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

const MAN: &str = "man/wrangle.1";
const BASH: &str = "completions/wrangle.bash";
const ZSH: &str = "completions/_wrangle";
const FISH: &str = "completions/wrangle.fish";

// ---------------------------------------------------------------------------------------------
// Scratch folders and running things

/// A fresh folder under the system temp folder, removed on drop. Short, so that the socket path
/// inside it stays under the 107 bytes a Unix socket allows.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "wr-docs-{tag}-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A command with a clean wrangle environment pointed at `home`.
fn isolated(program: &str, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "WRANGLE_SOCKET",
        "WRANGLE_STATE_DIR",
        "WRANGLE_CONFIG",
        "WRANGLE_NO_AUTOSTART",
        "WRANGLE_LOG",
    ] {
        cmd.env_remove(var);
    }
    // In the scratch folder, so that nothing a shell might create lands in the source tree.
    cmd.env("WRANGLE_HOME", home)
        .current_dir(home)
        .stdin(Stdio::null());
    cmd
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion with a deadline. Output goes to files rather than pipes, so a
/// daemon that (wrongly) inherited them cannot make the test hang.
fn run(cmd: Command, what: &str, timeout: Duration) -> Output {
    try_run(cmd, what, timeout)
        .unwrap_or_else(|| panic!("{what} did not finish within {timeout:?}"))
}

/// [`run`], but None (the child killed) when the deadline passes.
fn try_run(mut cmd: Command, what: &str, timeout: Duration) -> Option<Output> {
    let scratch = TempDir::new("out");
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    cmd.stdout(File::create(&out_path).expect("create stdout file"));
    cmd.stderr(File::create(&err_path).expect("create stderr file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Err(e) => panic!("cannot wait for {what}: {e}"),
        }
    };
    Some(Output {
        code: status.code(),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// Whether `program` can be run at all (shells for the completion tests are optional).
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn read(rel: &str) -> String {
    let path = Path::new(ROOT).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The binary's help

/// What one command's `--help` lists.
#[derive(Debug, Default)]
struct Help {
    /// Subcommand names from the `Commands:` section.
    commands: Vec<String>,
    /// Flags from the `Options:` section (`--long` and `-s`), without `--help`.
    flags: Vec<String>,
}

/// Parses argh's help text. Sections start with an unindented `Name:` line; entries are
/// indented by two spaces; continuation lines of a description are indented further.
fn parse_help(text: &str) -> Help {
    let mut help = Help::default();
    let mut section = "";
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim_end();
            continue;
        }
        let Some(body) = line.strip_prefix("  ") else {
            continue;
        };
        if body.starts_with(' ') {
            continue; // a wrapped description
        }
        match section {
            "Commands:" => {
                if let Some(name) = body.split_whitespace().next() {
                    help.commands.push(name.to_string());
                }
            }
            "Options:" => {
                // `--flag  description`, `-x, --flag  description`, `--help, help  description`
                for token in body.split_whitespace() {
                    let token = token.trim_end_matches(',');
                    if !token.starts_with('-') {
                        break;
                    }
                    if token != "--help" && token != "-h" {
                        help.flags.push(token.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    help
}

/// `wrangle [PATH...] --help`.
fn help_of(path: &[String]) -> Help {
    let home = TempDir::new("help");
    let mut cmd = isolated(BIN, home.path());
    cmd.args(path).arg("--help");
    let shown = format!("wrangle {} --help", path.join(" ")).replace("  ", " ");
    let out = run(cmd, &shown, Duration::from_secs(30));
    assert_eq!(
        out.code,
        Some(0),
        "`{shown}` should exit 0 (argh prints help and exits 0)\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let text = if out.stdout.trim().is_empty() {
        &out.stderr
    } else {
        &out.stdout
    };
    assert!(
        text.contains("Options:"),
        "`{shown}` printed no `Options:` section:\n{text}"
    );
    parse_help(text)
}

/// One (sub)command: its path below `wrangle` (empty for the top level) and its flags.
#[derive(Debug)]
struct Cmd {
    path: Vec<String>,
    flags: Vec<String>,
}

impl Cmd {
    fn name(&self) -> String {
        if self.path.is_empty() {
            "wrangle".to_string()
        } else {
            format!("wrangle {}", self.path.join(" "))
        }
    }
}

/// Every command the binary has, top level first, walking nested `Commands:` sections.
fn commands() -> Vec<Cmd> {
    let mut all = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let help = help_of(&path);
        for sub in help.commands.iter().rev() {
            let mut p = path.clone();
            p.push(sub.clone());
            todo.push(p);
        }
        all.push(Cmd {
            path,
            flags: help.flags,
        });
    }
    assert!(
        all.len() > 1,
        "`wrangle --help` lists no subcommands under `Commands:`; is the help format still argh's?"
    );
    all
}

// ---------------------------------------------------------------------------------------------
// Finding flags and words in documents

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether `needle` occurs in `hay` as a whole token: not glued to more name characters on
/// either side. Roff escapes count as boundaries before it (`\fB--x`), and a following
/// roff-escaped hyphen (`\-`) continues the token (so `\-\-tag` is not found in `\-\-tag\-all`).
fn has_token(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = &hay[..start];
        let after = &hay[end..];
        let before_ok = match before.chars().next_back() {
            None => true,
            Some(c) if !is_word_char(c) => true,
            // `\fB--flag`, `\fI--flag`, `\f[B]--flag` and the like
            Some(_) => {
                let b = before.as_bytes();
                (b.len() >= 3 && b[b.len() - 3] == b'\\' && b[b.len() - 2] == b'f')
                    || (before.ends_with(']')
                        && before
                            .rfind("\\f[")
                            .is_some_and(|k| !before[k..].contains(' ')))
            }
        };
        let before_ok = before_ok && !before.ends_with('-');
        let after_ok = match after.chars().next() {
            None => true,
            Some(c) => !is_word_char(c) && !after.starts_with("\\-"),
        };
        if before_ok && after_ok {
            return true;
        }
        from = start + needle.len().max(1);
    }
    false
}

/// A flag as roff writes it: every `-` escaped as `\-`.
fn roff(flag: &str) -> String {
    flag.replace('-', "\\-")
}

/// Whether the man page text mentions `flag`, escaped or not.
fn man_has_flag(text: &str, flag: &str) -> bool {
    has_token(text, &roff(flag)) || has_token(text, flag)
}

/// Whether the fish script offers `flag`: `-l name` / `--long-option name` for a long flag,
/// `-s x` / `--short-option x` for a short one (or the flag written out).
fn fish_has_flag(text: &str, flag: &str) -> bool {
    if has_token(text, flag) {
        return true;
    }
    let (forms, name): (&[&str], &str) = match flag.strip_prefix("--") {
        Some(long) => (&["-l", "--long-option", "--long"], long),
        None => (&["-s", "--short-option", "--short"], &flag[1..]),
    };
    forms.iter().any(|form| {
        [
            format!("{form} {name}"),
            format!("{form} '{name}'"),
            format!("{form}={name}"),
        ]
        .iter()
        .any(|f| has_token(text, f))
    })
}

/// Whether a completion script offers the subcommand `name`, in that shell's idiom: a word of
/// the bash script outside comments; a zsh `_describe` item (`'name:description'`); a fish
/// `-a name` (a mention in a description is not enough).
fn offers_command(file: &str, text: &str, name: &str) -> bool {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    match file {
        ZSH => code.contains(&format!("'{name}:")) || code.contains(&format!("\"{name}:")),
        FISH => ["-a ", "-a '", "-a \"", "--arguments ", "--arguments '"]
            .iter()
            .any(|form| has_token(&code, &format!("{form}{name}"))),
        _ => has_token(&code, name),
    }
}

/// Every `--flag` written in `text` (roff-escaped or not).
fn long_flags_in(text: &str) -> BTreeSet<String> {
    let plain = text.replace("\\-", "-");
    let mut found = BTreeSet::new();
    let bytes = plain.as_bytes();
    let mut i = 0;
    while let Some(k) = plain[i..].find("--") {
        let start = i + k;
        let prev_ok = start == 0 || !is_word_char(bytes[start - 1] as char);
        let mut end = start + 2;
        while end < bytes.len() && is_word_char(bytes[end] as char) {
            end += 1;
        }
        let name = &plain[start + 2..end];
        if prev_ok && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            found.insert(plain[start..end].trim_end_matches('-').to_string());
        }
        i = end.max(start + 2);
    }
    found
}

/// The long flags a fish script declares with `-l NAME` / `--long-option NAME`.
fn fish_long_flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("complete "))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            if matches!(pair[0], "-l" | "--long-option" | "--long") {
                found.insert(format!(
                    "--{}",
                    pair[1].trim_matches('\'').trim_matches('"')
                ));
            }
        }
    }
    found
}

/// The man page cut into `.SH` sections and, inside them, `.SS` subsections.
struct Man {
    /// (section, subsection or "") → text, in order.
    parts: Vec<(String, String, String)>,
}

impl Man {
    fn parse(text: &str) -> Man {
        Man {
            parts: common::man::parts(text),
        }
    }

    /// The whole text of section `sh` (with its subsections).
    fn section(&self, sh: &str) -> Option<String> {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p.0 == sh)
            .map(|p| p.2.as_str())
            .collect();
        (!texts.is_empty()).then(|| texts.join(""))
    }

    /// The text of the `.SS` subsection whose heading starts with the command's path.
    fn command(&self, path: &[String]) -> Option<&str> {
        self.parts
            .iter()
            .find(|p| {
                let words: Vec<&str> = p.1.split_whitespace().collect();
                words.len() >= path.len() && words.iter().zip(path).all(|(w, p)| *w == p)
            })
            .map(|p| p.2.as_str())
    }

    /// The flags named in `.TP` tags (the line after each `.TP`) of one text.
    fn tagged_flags(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() == ".TP" {
                if let Some(tag) = lines.next() {
                    found.extend(long_flags_in(tag));
                }
            }
        }
        found
    }
}

fn flag_is_long(flag: &str) -> bool {
    flag.starts_with("--")
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Every subcommand has its own `.SS` section in man/wrangle.1 that documents each of its
/// flags (selector filters may instead be documented once under SELECTORS, top-level options
/// anywhere); and every flag the page documents exists.
#[test]
fn man_page_documents_every_command_and_flag() {
    let cmds = commands();
    let text = read(MAN);
    let man = Man::parse(&text);
    let selectors = man.section("SELECTORS").unwrap_or_default();
    let mut missing = Vec::new();

    for cmd in &cmds {
        if cmd.path.is_empty() {
            for flag in &cmd.flags {
                if !man_has_flag(&text, flag) {
                    missing.push(format!(
                        "{MAN}: global option `{flag}` is not documented (add it under OPTIONS)"
                    ));
                }
            }
            continue;
        }
        let name = cmd.name();
        let Some(section) = man.command(&cmd.path) else {
            missing.push(format!(
                "{MAN}: subcommand `{name}` has no `.SS {}` section under COMMANDS",
                cmd.path.join(" ")
            ));
            continue;
        };
        for flag in &cmd.flags {
            if !man_has_flag(section, flag) && !man_has_flag(&selectors, flag) {
                missing.push(format!(
                    "{MAN}: flag `{flag}` of `{name}` is documented neither in `.SS {}` nor under SELECTORS (write it as `{}`)",
                    cmd.path.join(" "),
                    roff(flag)
                ));
            }
        }
        // Flags the man page lists for this command must exist.
        let have: BTreeSet<&str> = cmd.flags.iter().map(String::as_str).collect();
        for flag in Man::tagged_flags(section) {
            if flag != "--help" && !have.contains(flag.as_str()) {
                missing.push(format!(
                    "{MAN}: `.SS {}` documents `{flag}`, but `{name} --help` does not list it",
                    cmd.path.join(" ")
                ));
            }
        }
    }

    // No flag mentioned anywhere in the page may be unknown to the binary.
    let known: BTreeSet<&str> = cmds
        .iter()
        .flat_map(|c| c.flags.iter().map(String::as_str))
        .chain(["--help"])
        .collect();
    for flag in long_flags_in(&text) {
        if !known.contains(flag.as_str()) {
            missing.push(format!(
                "{MAN}: mentions `{flag}`, which no command of the binary has"
            ));
        }
    }

    assert!(
        missing.is_empty(),
        "man page out of date with the binary:\n  {}",
        missing.join("\n  ")
    );
}

/// Every subcommand and every long flag appears in each completion script, and no script offers
/// a long flag the binary does not have.
#[test]
fn completion_scripts_mention_every_command_and_flag() {
    let cmds = commands();
    let known: BTreeSet<&str> = cmds
        .iter()
        .flat_map(|c| c.flags.iter().map(String::as_str))
        .chain(["--help"])
        .collect();
    let mut missing = Vec::new();

    for (file, is_fish) in [(BASH, false), (ZSH, false), (FISH, true)] {
        let text = read(file);
        for cmd in &cmds {
            if let Some(sub) = cmd.path.last() {
                if !offers_command(file, &text, sub) {
                    missing.push(format!(
                        "{file}: subcommand `{}` is not completed",
                        cmd.name()
                    ));
                }
            }
            for flag in &cmd.flags {
                let found = if is_fish {
                    fish_has_flag(&text, flag)
                } else {
                    has_token(&text, flag)
                };
                if !found {
                    missing.push(format!(
                        "{file}: flag `{flag}` of `{}` is not completed",
                        cmd.name()
                    ));
                }
            }
        }
        let offered = if is_fish {
            fish_long_flags(&text)
        } else {
            long_flags_in(&text)
        };
        for flag in offered {
            if !known.contains(flag.as_str()) {
                missing.push(format!(
                    "{file}: offers `{flag}`, which no command of the binary has"
                ));
            }
        }
    }

    assert!(
        missing.is_empty(),
        "completion scripts out of date with the binary:\n  {}",
        missing.join("\n  ")
    );
}

/// Single-quotes `s` for sh, bash and fish alike (the words here never contain a quote).
fn quote(s: &str) -> String {
    assert!(!s.contains('\''), "cannot quote {s:?}");
    format!("'{s}'")
}

/// Runs the bash completion for each command line (the last word is the one being completed)
/// in one bash process; returns the candidates for each.
fn bash_complete(lines: &[Vec<String>], home: &Path) -> Vec<BTreeSet<String>> {
    let mut script = format!(
        "source {}\n_t() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _wrangle; printf '%s\\n' \"${{COMPREPLY[@]}}\" '<END>'; }}\n",
        quote(&Path::new(ROOT).join(BASH).display().to_string())
    );
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
        script.push_str(&format!("_t {}\n", quoted.join(" ")));
    }
    let mut cmd = isolated("bash", home);
    cmd.args(["--norc", "--noprofile", "-c", &script])
        .env("PATH", path_with_binary());
    let out = run(cmd, "bash completion", Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "bash completion failed:\n{}", out.stderr);
    split_candidates(&out.stdout, lines.len(), "bash")
}

/// Runs the fish completion for each command line, as `complete -C` does.
fn fish_complete(lines: &[Vec<String>], home: &Path) -> Vec<BTreeSet<String>> {
    let mut script = format!(
        "source {}\n",
        quote(&Path::new(ROOT).join(FISH).display().to_string())
    );
    for words in lines {
        let quoted = quote(&words.join(" "));
        script.push_str(&format!(
            "complete -C {quoted} | string replace -r '\\t.*' ''; echo '<END>'\n"
        ));
    }
    let mut cmd = isolated("fish", home);
    cmd.args(["--no-config", "-c", &script])
        .env("PATH", path_with_binary());
    let out = run(cmd, "fish completion", Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "fish completion failed:\n{}", out.stderr);
    split_candidates(&out.stdout, lines.len(), "fish")
}

/// Drives zsh's completion system for real: an interactive zsh in a pseudo-terminal (zpty)
/// loads the completions folder with compinit, gets the line and a TAB, and prints every
/// candidate that reaches `compadd`. `$1` is the folder, `$2` the line.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
zcap() {
  local line
  zpty z zsh -f -i
  zpty -w z 'PROMPT= ; RPROMPT= ; unsetopt zle_bracketed_paste 2>/dev/null'
  zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
  zpty -w z 'compadd () {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
    typeset -a __hits
    builtin compadd -A __hits "$@"
    (( $#__hits == 0 )) && return 1
    print -r -- "<HI""TS>${(pj:\0:)__hits}</HI""TS>"
  }'
  zpty -w z 'comppostfuncs=(__done); __done() { print -r -- "<DO""NE>"; exit }'
  zpty -w z 'bindkey "^I" complete-word'
  zpty -n -w z "$2"$'\t'
  while zpty -r z line; do
    [[ $line == *'<DONE>'* ]] && break
    [[ $line == *'<HITS>'* ]] && print -rl -- ${(ps:\0:)${${line#*<HITS>}%</HITS>*}}
  done
  zpty -d z
  print -r -- '<END>'
}
"#;

/// Runs the zsh completion for each command line through [`ZSH_DRIVER`]; None when zsh lacks
/// the zpty module.
fn zsh_complete(lines: &[Vec<String>], home: &Path) -> Option<Vec<BTreeSet<String>>> {
    let dir = Path::new(ROOT).join("completions").display().to_string();
    let mut script = ZSH_DRIVER.to_string();
    for words in lines {
        script.push_str(&format!(
            "zcap {} {}\n",
            quote(&dir),
            quote(&words.join(" "))
        ));
    }
    let mut cmd = isolated("zsh", home);
    cmd.args(["-f", "-c", &script])
        .env("PATH", path_with_binary());
    let out = run(cmd, "zsh completion", Duration::from_secs(120));
    if out.code == Some(3) {
        eprintln!("zsh has no zpty module: not running {ZSH}");
        return None;
    }
    assert_eq!(out.code, Some(0), "zsh completion failed:\n{}", out.stderr);
    Some(split_candidates(&out.stdout, lines.len(), "zsh"))
}

fn split_candidates(stdout: &str, n: usize, shell: &str) -> Vec<BTreeSet<String>> {
    let mut all = vec![BTreeSet::new()];
    for line in stdout.lines() {
        if line == "<END>" {
            all.push(BTreeSet::new());
        } else if !line.is_empty() {
            all.last_mut().unwrap().insert(line.to_string());
        }
    }
    all.pop();
    assert_eq!(all.len(), n, "{shell} completion printed:\n{stdout}");
    all
}

/// PATH with the binary's folder first, so the scripts' `wrangle ls --names` runs this build.
fn path_with_binary() -> String {
    let dir = Path::new(BIN).parent().expect("binary folder");
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", dir.display()),
        _ => format!("{}:/usr/bin:/bin", dir.display()),
    }
}

/// The command lines that must complete to the subcommands and to each command's flags.
fn flag_cases(cmds: &[Cmd]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut cases = Vec::new();
    for cmd in cmds {
        let mut words = vec!["wrangle".to_string()];
        words.extend(cmd.path.iter().cloned());
        let mut long = words.clone();
        long.push("--".to_string());
        let wanted: Vec<String> = cmd
            .flags
            .iter()
            .filter(|f| flag_is_long(f))
            .cloned()
            .collect();
        cases.push((long, wanted));
        if cmd.path.is_empty() {
            let mut subs = words.clone();
            subs.push(String::new());
            let names = cmds
                .iter()
                .filter(|c| c.path.len() == 1)
                .map(|c| c.path[0].clone())
                .collect();
            cases.push((subs, names));
        }
    }
    cases
}

fn check_offered(
    shell: &str,
    cases: &[(Vec<String>, Vec<String>)],
    got: &[BTreeSet<String>],
) -> Vec<String> {
    let mut missing = Vec::new();
    for ((words, wanted), got) in cases.iter().zip(got) {
        for w in wanted {
            if !got.contains(w) {
                missing.push(format!(
                    "{shell}: completing `{}` does not offer `{w}` (offered: {})",
                    words.join(" "),
                    got.iter().cloned().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    missing
}

/// Run for real, the bash, fish and zsh scripts offer each command's flags where that command is
/// being typed (not just somewhere in the file).
#[test]
fn completions_offer_each_commands_flags() {
    let cmds = commands();
    let cases = flag_cases(&cmds);
    let lines: Vec<Vec<String>> = cases.iter().map(|c| c.0.clone()).collect();
    let home = TempDir::new("comp");
    let mut missing = Vec::new();
    let mut ran = false;
    if have("bash") {
        ran = true;
        missing.extend(check_offered(
            "bash",
            &cases,
            &bash_complete(&lines, home.path()),
        ));
    } else {
        eprintln!("bash is not installed: not running {BASH}");
    }
    if have("fish") {
        ran = true;
        missing.extend(check_offered(
            "fish",
            &cases,
            &fish_complete(&lines, home.path()),
        ));
    } else {
        eprintln!("fish is not installed: not running {FISH}");
    }
    if have("zsh") {
        if let Some(got) = zsh_complete(&lines, home.path()) {
            ran = true;
            missing.extend(check_offered("zsh", &cases, &got));
        }
    } else {
        eprintln!("zsh is not installed: not running {ZSH}");
    }
    if !ran {
        eprintln!("no shell is installed to run the completions; only the static checks ran");
    }
    assert!(
        missing.is_empty(),
        "completions do not offer what the binary accepts:\n  {}",
        missing.join("\n  ")
    );
}

/// Stops the daemon of a scratch home when the test ends, however it ends. If `wrangle
/// shutdown` does not finish, the daemon and the processes the test started are killed (so
/// nothing outlives the test) and the test fails.
struct Daemon<'a> {
    home: &'a Path,
    /// Pids to kill if shutdown fails: the daemon's and its children's.
    pids: Vec<u32>,
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let mut cmd = isolated(BIN, self.home);
        cmd.arg("shutdown");
        let timeout = Duration::from_secs(30);
        let out = try_run(cmd, "wrangle shutdown", timeout);
        if out.as_ref().is_some_and(|o| o.code == Some(0)) {
            return;
        }
        for pid in &self.pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        if !std::thread::panicking() {
            match out {
                None => panic!(
                    "`wrangle shutdown` did not finish within {timeout:?}; killed pids {:?}",
                    self.pids
                ),
                Some(o) => panic!(
                    "`wrangle shutdown` exited with {:?}: {}{}; killed pids {:?}",
                    o.code, o.stdout, o.stderr, self.pids
                ),
            }
        }
    }
}

/// The first number after `key` in `text` (`pid 123` → 123).
fn number_after(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Entry names come from the running daemon; with no daemon, completing starts none.
#[test]
fn completions_list_entry_names_and_never_start_a_daemon() {
    let home = TempDir::new("names");
    let probe = vec![vec!["wrangle".to_string(), String::new()]];
    let shells: Vec<&str> = ["bash", "fish", "zsh"]
        .into_iter()
        .filter(|s| have(s))
        .filter(|s| *s != "zsh" || zsh_complete(&probe, home.path()).is_some())
        .collect();
    if shells.is_empty() {
        eprintln!("no shell is installed to run the completions: skipping");
        return;
    }
    let complete = |shell: &str, words: &[&str]| -> BTreeSet<String> {
        let line = vec![words.iter().map(|w| w.to_string()).collect::<Vec<_>>()];
        match shell {
            "bash" => bash_complete(&line, home.path()),
            "fish" => fish_complete(&line, home.path()),
            _ => zsh_complete(&line, home.path()).expect("zsh with zpty"),
        }
        .remove(0)
    };
    let ping = || {
        let mut cmd = isolated(BIN, home.path());
        cmd.arg("ping");
        run(cmd, "wrangle ping", Duration::from_secs(30))
    };

    // No daemon: nothing but `all`, and still no daemon afterwards.
    for shell in &shells {
        let got = complete(shell, &["wrangle", "stop", ""]);
        assert!(
            got.iter().all(|c| c == "all"),
            "{shell}: with no daemon, `wrangle stop <TAB>` should offer only `all`, got {got:?}"
        );
        let _ = complete(shell, &["wrangle", "signal", "TERM", ""]);
    }
    let out = ping();
    assert_eq!(
        out.code,
        Some(5),
        "completing entry names started a daemon (or `wrangle ping` does not exit 5 without one): {}{}",
        out.stdout,
        out.stderr
    );

    // With a daemon and a named entry: the name is offered wherever an entry is expected.
    let mut daemon = Daemon {
        home: home.path(),
        pids: Vec::new(),
    };
    let mut cmd = isolated(BIN, home.path());
    cmd.args(["run", "--name", "docs-probe", "--", "sleep", "60"]);
    let out = run(cmd, "wrangle run", Duration::from_secs(60));
    // `started docs-probe (id 1, pid 41235)`; `... daemon pid 41234 up ...`
    daemon.pids.extend(number_after(&out.stdout, "pid"));
    daemon.pids.extend(number_after(&ping().stdout, "pid"));
    assert_eq!(
        out.code,
        Some(0),
        "`wrangle run --name docs-probe -- sleep 60` failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    let socket = home.path().join("wrangle.sock").display().to_string();
    let where_: &[&[&str]] = &[
        &["wrangle", "stop", "docs"],
        &["wrangle", "logs", ""],
        &["wrangle", "signal", "HUP", ""],
        &["wrangle", "ls", "--name", "docs"],
        &["wrangle", "--socket", &socket, "status", ""],
    ];
    let mut missing = Vec::new();
    for shell in &shells {
        for words in where_ {
            let got = complete(shell, words);
            if !got.contains("docs-probe") {
                missing.push(format!(
                    "{shell}: completing `{}` does not offer the entry `docs-probe` (offered: {got:?})",
                    words.join(" ")
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// How `shell` (bash or zsh) reads each candidate put on the command line; run in `home`, so
/// an unquoted `$(...)` would run there and be caught.
fn shell_reads(shell: &str, cands: &BTreeSet<String>, home: &Path) -> BTreeSet<String> {
    let script: String = cands
        .iter()
        .map(|c| format!("printf '<%s>\\n' {c}\n"))
        .collect();
    let mut cmd = isolated(shell, home);
    if shell == "zsh" {
        cmd.arg("-f");
    } else {
        cmd.args(["--norc", "--noprofile"]);
    }
    cmd.args(["-c", &script]);
    let out = run(
        cmd,
        &format!("{shell} reading candidates"),
        Duration::from_secs(30),
    );
    out.stdout
        .lines()
        .map(|l| l.trim_start_matches('<').trim_end_matches('>').to_string())
        .collect()
}

/// Names, tags and groups come from the daemon, which may hold any text (saved by an older
/// wrangle, which took `$(...)` in a tag): every script offers them as text to put on the
/// command line as they are, and never runs what they contain (bash's `compgen -W` did).
#[test]
fn completions_offer_hostile_words_as_text_and_never_run_them() {
    let home = TempDir::new("hostile");
    let dir = home.path().display().to_string();
    assert!(
        !dir.contains(char::is_whitespace) && !dir.contains(['\'', '"', '\\']),
        "the scratch folder {dir:?} cannot go into the payloads"
    );
    let probe = vec![vec!["wrangle".to_string(), String::new()]];
    let shells: Vec<&str> = ["bash", "fish", "zsh"]
        .into_iter()
        .filter(|s| have(s))
        .filter(|s| *s != "zsh" || zsh_complete(&probe, home.path()).is_some())
        .collect();
    if shells.is_empty() {
        eprintln!("no shell is installed to run the completions: skipping");
        return;
    }
    // Each one creates a file if a shell expands it.
    let tag = format!("t$(touch${{IFS}}{dir}/tag-ran)");
    let quoted_tag = "it's".to_string();
    let group = format!("g`touch${{IFS}}{dir}/group-ran`");
    let name = format!("n$(touch${{IFS}}{dir}/name-ran)");
    let ran = ["tag-ran", "group-ran", "name-ran"].map(|f| home.path().join(f));

    // The daemon refuses such words now, so put them into a saved entry, as an older
    // wrangle would have left it.
    let wrangle = |args: &[&str]| {
        let mut cmd = isolated(BIN, home.path());
        cmd.args(args);
        run(
            cmd,
            &format!("wrangle {}", args.join(" ")),
            Duration::from_secs(60),
        )
    };
    let out = wrangle(&[
        "run", "--name", "name-1", "--tag", "tag-1", "--tag", "tag-2", "--group", "group-1", "--",
        "true",
    ]);
    assert_eq!(
        out.code,
        Some(0),
        "wrangle run failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    let out = wrangle(&["shutdown"]);
    assert_eq!(
        out.code,
        Some(0),
        "wrangle shutdown failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    // Written back in the layout an older wrangle left (one file per entry), words and all.
    let words = [
        ("name-1", &name),
        ("tag-1", &tag),
        ("tag-2", &quoted_tag),
        ("group-1", &group),
    ];
    let (saved, _) = common::saved_entries(home.path());
    let saved = saved
        .get(&1)
        .unwrap_or_else(|| panic!("entry 1 is not saved in {}", home.path().display()));
    for (placeholder, _) in words {
        let placeholder = format!("\"{placeholder}\"");
        assert!(saved.contains(&placeholder), "{placeholder} not in {saved}");
    }
    common::downgrade(home.path(), |mut json| {
        for (placeholder, word) in words {
            json = json.replace(&format!("\"{placeholder}\""), &format!("\"{word}\""));
        }
        json
    });
    // `ls` starts the daemon again; it reads the entry back.
    let mut daemon = Daemon {
        home: home.path(),
        pids: Vec::new(),
    };
    let out = wrangle(&["ls", "--wide"]);
    daemon
        .pids
        .extend(number_after(&wrangle(&["ping"]).stdout, "pid"));
    assert!(
        out.code == Some(0) && out.stdout.contains(&tag) && out.stdout.contains(&name),
        "the daemon did not read back the saved entry:\n{}{}",
        out.stdout,
        out.stderr
    );

    let cases: Vec<(Vec<&str>, Vec<&String>)> = vec![
        (vec!["wrangle", "ls", "--tag", ""], vec![&tag, &quoted_tag]),
        (vec!["wrangle", "ls", "--tag", "t"], vec![&tag]),
        (
            vec!["wrangle", "stop", "--tag-all", ""],
            vec![&tag, &quoted_tag],
        ),
        (vec!["wrangle", "ls", "--group", ""], vec![&group]),
        (vec!["wrangle", "tag", ""], vec![&tag, &quoted_tag]),
        (vec!["wrangle", "group", ""], vec![&group]),
        (
            vec!["wrangle", "label", "--rm-tag", ""],
            vec![&tag, &quoted_tag],
        ),
        (vec!["wrangle", "label", "--rm-group", ""], vec![&group]),
        (vec!["wrangle", "stop", ""], vec![&name]),
        (vec!["wrangle", "logs", "n"], vec![&name]),
        (vec!["wrangle", "ls", "--name", ""], vec![&name]),
    ];
    let lines: Vec<Vec<String>> = cases
        .iter()
        .map(|(w, _)| w.iter().map(|s| s.to_string()).collect())
        .collect();
    let mut wrong = Vec::new();
    for shell in &shells {
        let got = match *shell {
            "bash" => bash_complete(&lines, home.path()),
            "fish" => fish_complete(&lines, home.path()),
            _ => zsh_complete(&lines, home.path()).expect("zsh with zpty"),
        };
        for ((words, wanted), got) in cases.iter().zip(got) {
            // bash and zsh report their candidates as they go on the line: quoted, so the
            // shell reads back the word. fish reports the words, and escapes them when it
            // inserts one.
            let offered = if *shell == "fish" {
                got.clone()
            } else {
                shell_reads(shell, &got, home.path())
            };
            for w in wanted {
                if !offered.contains(*w) {
                    wrong.push(format!(
                        "{shell}: completing `{}` does not offer {w:?} as text (offered: {got:?})",
                        words.join(" ")
                    ));
                }
            }
        }
    }
    for f in &ran {
        if f.exists() {
            wrong.push(format!(
                "completing ran the command in a word from the daemon: {} exists",
                f.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The helpers themselves

#[test]
fn help_parser_reads_argh_format() {
    let top = "Usage: wrangle [--socket <socket>] <command> [<args>]\n\n\
               A background process manager.\n\n\
               Options:\n  --socket          talk to the daemon on this socket\n  \
               --help, help      display usage information\n\n\
               Commands:\n  run               start a new entry\n  \
               ls                list entries\n  a-very-long-command-name\n                    \
               with a description on the next line\n\n\
               Examples:\n  wrangle ls\n";
    let h = parse_help(top);
    assert_eq!(h.commands, ["run", "ls", "a-very-long-command-name"]);
    assert_eq!(h.flags, ["--socket"]);

    let logs = "Usage: wrangle logs [<sel>] [-n <lines>] [-f]\n\nShow output.\n\n\
                Positional Arguments:\n  sel               the entry\n\n\
                Options:\n  -n, --lines       print the last N lines (default 20), and a\n                    \
                --wrapped description line\n  -f, --follow      follow\n  \
                --stop-timeout-with-a-long-name\n                    description\n  \
                --help, help      display usage information\n";
    let h = parse_help(logs);
    assert!(h.commands.is_empty());
    assert_eq!(
        h.flags,
        [
            "-n",
            "--lines",
            "-f",
            "--follow",
            "--stop-timeout-with-a-long-name"
        ]
    );
}

#[test]
fn tokens_need_boundaries() {
    assert!(has_token("a \\-\\-tag b", "\\-\\-tag"));
    assert!(!has_token("a \\-\\-tag\\-all b", "\\-\\-tag"));
    assert!(has_token(".BI \\-\\-tag\\-all \" tag\"", "\\-\\-tag\\-all"));
    assert!(has_token("\\fB\\-\\-json\\fR", "\\-\\-json"));
    assert!(has_token("'(-q --quiet)--json[print JSON]'", "--json"));
    assert!(!has_token("--names", "-n"));
    assert!(!has_token("--env-file", "--env"));
    assert!(has_token("echo \"--env --env-file\"", "--env"));
    assert!(has_token("a rm b", "rm"));
    assert!(!has_token("a rmx b", "rm"));
    assert!(fish_has_flag(
        "complete -c wrangle -l tag-all -x",
        "--tag-all"
    ));
    assert!(!fish_has_flag("complete -c wrangle -l tag-all -x", "--tag"));
    assert!(fish_has_flag("complete -c wrangle -s q -l quiet", "-q"));
    assert_eq!(
        long_flags_in("x \\-\\-tag\\-all and --json, \\- and \\-\\- cmd"),
        ["--json", "--tag-all"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let man = Man::parse(".SH COMMANDS\n.SS stop\n.TP\n.BI \\-\\-timeout \" dur\"\ntext\n.SS \"wait\"\nx\n.SH SELECTORS\n.TP\n.B \\-\\-all\n");
    assert!(man_has_flag(
        man.command(&["stop".into()]).unwrap(),
        "--timeout"
    ));
    assert!(!man_has_flag(
        man.command(&["wait".into()]).unwrap(),
        "--timeout"
    ));
    assert!(man_has_flag(&man.section("SELECTORS").unwrap(), "--all"));
    assert_eq!(
        Man::tagged_flags(man.command(&["stop".into()]).unwrap()),
        ["--timeout".to_string()].into_iter().collect()
    );
}

/// The bold words (`\fBword\fR`) of `text`.
fn bold_words(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("\\fB") {
        rest = &rest[i + 3..];
        let end = rest.find("\\f").unwrap_or(rest.len());
        found.insert(rest[..end].to_string());
    }
    found
}

/// The text of `page` from `from` to the next `to` after it.
fn between<'a>(page: &'a str, from: &str, to: &str, what: &str) -> &'a str {
    let start = page
        .find(from)
        .unwrap_or_else(|| panic!("{what}: {from:?} not found"));
    let rest = &page[start + from.len()..];
    let end = rest
        .find(to)
        .unwrap_or_else(|| panic!("{what}: {to:?} not found after {from:?}"));
    &rest[..end]
}

#[test]
fn protocol_page_lists_every_event_kind_and_outcome() {
    // wrangle(1) says what each event kind means.
    let man = read("man/wrangle.1");
    for k in wrangle::proto::EventKind::ALL {
        let line = format!("\n.B {}\n", k.as_str());
        assert!(
            man.contains(&line),
            "wrangle(1) does not explain the event kind {k}"
        );
    }
    let page = read("man/wrangle-protocol.7");
    for k in wrangle::proto::EventKind::ALL {
        let word = format!("\\fB{}\\fR", k.as_str());
        assert!(
            page.contains(&word),
            "wrangle-protocol(7) does not name the event kind {k}"
        );
    }
    // The list of lifecycle kinds under Entry objects is exactly the code's (the event
    // stream's own kinds, log and missed, named after it).
    let listed = bold_words(between(
        &page,
        "where \\fBkind\\fR is\none of",
        "(the event\nstream adds",
        "wrangle-protocol(7), Entry objects, events",
    ));
    let code: BTreeSet<String> = wrangle::proto::EventKind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .filter(|k| k != "log" && k != "missed")
        .collect();
    assert_eq!(
        listed, code,
        "wrangle-protocol(7): the event kinds listed under Entry objects (left) differ from the code's lifecycle kinds (right)"
    );
    // The list of outcomes under Action results is exactly the code's.
    let listed = bold_words(between(
        &page,
        "what happened to it:",
        "; a client should treat",
        "wrangle-protocol(7), Action results, outcome",
    ));
    let code: BTreeSet<String> = wrangle::proto::Outcome::ALL
        .iter()
        .map(|o| o.as_str().to_string())
        .collect();
    assert_eq!(
        listed, code,
        "wrangle-protocol(7): the outcomes listed under Action results (left) differ from the code's (right)"
    );
}

/// Every exit status an error can end a command with is explained under EXIT STATUS in
/// wrangle(1), and so are 124 (a wait timed out) and 128+N (ended by signal N); and every
/// status explained there is 0 or one an error ends with.
#[test]
fn man_page_lists_every_exit_status() {
    let man = Man::parse(&read(MAN));
    let section = man
        .section("EXIT STATUS")
        .expect("wrangle(1) has no EXIT STATUS section");
    let mut missing = Vec::new();
    for code in wrangle::error::Code::ALL {
        let status = code.exit_status();
        if !section.contains(&format!("\n.B {status}\n")) {
            missing.push(format!(
                "exit status {status} (error code {}) is not explained",
                code.as_str()
            ));
        }
    }
    if !section.contains("128+") {
        missing.push("128+N (ended by signal N) is not explained".to_string());
    }
    let statuses: BTreeSet<i32> = wrangle::error::Code::ALL
        .iter()
        .map(|c| c.exit_status())
        .chain([0])
        .collect();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line != ".TP" {
            continue;
        }
        let tag = lines.next().unwrap_or_default();
        if let Some(n) = tag.strip_prefix(".B ").and_then(|n| n.parse::<i32>().ok()) {
            if !statuses.contains(&n) {
                missing.push(format!(
                    "exit status {n} is explained, but no error code ends with it"
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{MAN}: {}", missing.join("\n"));
}

/// The table of error codes under ERRORS in wrangle-protocol(7) has exactly the code's
/// codes, each with the exit status the code gives it.
#[test]
fn protocol_page_lists_every_error_code_with_its_exit_status() {
    let page = read("man/wrangle-protocol.7");
    let table = between(
        &page,
        "code                 exit  meaning\n",
        ".EE",
        "wrangle-protocol(7), ERRORS",
    );
    let listed: BTreeSet<(String, i32)> = table
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let code = words.next()?.to_string();
            let exit = words.next()?.parse().ok()?;
            Some((code, exit))
        })
        .collect();
    let code: BTreeSet<(String, i32)> = wrangle::error::Code::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.exit_status()))
        .collect();
    assert_eq!(
        listed, code,
        "wrangle-protocol(7): the ERRORS table (left) differs from the code's codes and exit statuses (right)"
    );
}

/// Every `WRANGLE_*` variable a process started by wrangle finds in its environment is
/// explained under ENVIRONMENT in wrangle(1).
#[test]
fn man_page_explains_every_variable_wrangle_sets_for_a_process() {
    let home = TempDir::new("envvars");
    let mut daemon = Daemon {
        home: home.path(),
        pids: Vec::new(),
    };
    let mut cmd = isolated(BIN, home.path());
    cmd.args(["run", "--name", "env-probe", "--wait", "--", "env"]);
    let out = run(cmd, "wrangle run --wait -- env", Duration::from_secs(60));
    let mut ping = isolated(BIN, home.path());
    ping.arg("ping");
    daemon.pids.extend(number_after(
        &run(ping, "wrangle ping", Duration::from_secs(30)).stdout,
        "pid",
    ));
    assert_eq!(
        out.code,
        Some(0),
        "`wrangle run --wait -- env` failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    // Those of the test's own environment are not wrangle's doing.
    let set: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .filter(|k| {
            k.starts_with("WRANGLE_") && std::env::var_os(k).is_none() && k != "WRANGLE_HOME"
        })
        .collect();
    assert!(
        set.contains("WRANGLE_ID"),
        "the process has no WRANGLE_ID:\n{}",
        out.stdout
    );
    let man = Man::parse(&read(MAN));
    let section = man
        .section("ENVIRONMENT")
        .expect("wrangle(1) has no ENVIRONMENT section");
    let missing: Vec<&String> = set
        .iter()
        .filter(|k| !has_token(&section, &k.replace('_', "\\_")) && !has_token(&section, k))
        .collect();
    assert!(
        missing.is_empty(),
        "{MAN}: ENVIRONMENT does not explain {missing:?}, which wrangle sets for the processes it starts"
    );
}
