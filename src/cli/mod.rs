//! The command line: argument parsing (argh), one file per command family, errors mapped to
//! the exit statuses of SPEC §3 and printed as `wrangle: …`.

mod attach;
mod control;
mod daemon;
mod edit;
mod events;
mod logs;
mod ls;
mod mcp;
mod multilogs;
mod registry;
pub(crate) mod render;
mod run;
mod screen;
mod select;
mod services;
mod startup;
mod term;
mod top;
mod typing;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use argh::FromArgs;
use std::path::PathBuf;

/// wrangle: run, supervise, log and reach background processes
#[derive(FromArgs, Debug)]
pub struct Top {
    /// path of the daemon's control socket (default: see FILES in wrangle(1))
    #[argh(option)]
    pub socket: Option<String>,
    /// print the version (wrangle X.Y.Z) and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    #[argh(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Cmd {
    Run(run::RunCmd),
    Ls(ls::LsCmd),
    Status(ls::StatusCmd),
    Start(control::StartCmd),
    Stop(control::StopCmd),
    Restart(control::RestartCmd),
    Rm(control::RmCmd),
    Signal(control::SignalCmd),
    Attach(attach::AttachCmd),
    Send(attach::SendCmd),
    Resize(attach::ResizeCmd),
    Logs(logs::LogsCmd),
    Events(events::EventsCmd),
    Wait(control::WaitCmd),
    Add(registry::AddCmd),
    Label(registry::LabelCmd),
    Tag(registry::TagCmd),
    Group(registry::GroupCmd),
    Prune(registry::PruneCmd),
    Reset(registry::ResetCmd),
    Tree(registry::TreeCmd),
    Ping(daemon::PingCmd),
    Shutdown(daemon::ShutdownCmd),
    Upgrade(daemon::UpgradeCmd),
    Save(daemon::SaveCmd),
    Resurrect(daemon::ResurrectCmd),
    Daemon(daemon::DaemonCmd),
    Up(services::UpCmd),
    Down(services::DownCmd),
    Startup(startup::StartupCmd),
    Unstartup(startup::UnstartupCmd),
    Screen(screen::ScreenCmd),
    Edit(edit::EditCmd),
    Mcp(mcp::McpCmd),
    Top(top::TopCmd),
}

/// What a command produced: an exit status.
pub type Exit = i32;

/// Parses the process's arguments and runs the command; returns the exit status.
pub fn main() -> Exit {
    // `wrangle ls | head` ends quietly when head is done, as Unix tools do (Rust's runtime
    // ignores SIGPIPE, which turns every print into a possible panic). The daemon ignores it
    // again for itself, and the client's socket writes use MSG_NOSIGNAL.
    // SAFETY: restoring a signal's default disposition has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args = Vec::new();
    for (i, a) in std::env::args_os().enumerate() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(a) => {
                eprintln!("wrangle: argument {i} ({a:?}) is not valid UTF-8");
                return 2;
            }
        }
    }
    let strs: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if let Some(code) = typing::check_command(&strs) {
        return code;
    }
    let top = match Top::from_args(&["wrangle"], &strs) {
        Ok(t) => t,
        Err(argh::EarlyExit { output, status }) => {
            return match status {
                Ok(()) => {
                    print!("{output}");
                    0
                }
                Err(()) => {
                    eprintln!("wrangle: {}", output.trim_end());
                    eprintln!("(see wrangle --help)");
                    2
                }
            };
        }
    };
    match dispatch(top) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wrangle: {e}");
            e.code.exit_status()
        }
    }
}

fn dispatch(top: Top) -> Result<Exit> {
    if top.version {
        println!("wrangle {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let Some(cmd) = top.cmd else {
        eprint!("{}", typing::USAGE);
        return Err(Error::new(
            Code::Usage,
            "no command given (see wrangle --help)",
        ));
    };
    // These need no daemon, nor its paths.
    let cmd = match cmd {
        Cmd::Startup(c) => return startup::startup(c),
        Cmd::Unstartup(c) => return startup::unstartup(c),
        cmd => cmd,
    };
    let paths = Paths::resolve(top.socket.map(PathBuf::from))?;
    match cmd {
        Cmd::Run(c) => run::run(&paths, c),
        Cmd::Ls(c) => ls::ls(&paths, c),
        Cmd::Status(c) => ls::status(&paths, c),
        Cmd::Start(c) => control::start(&paths, c),
        Cmd::Stop(c) => control::stop(&paths, c),
        Cmd::Restart(c) => control::restart(&paths, c),
        Cmd::Rm(c) => control::rm(&paths, c),
        Cmd::Signal(c) => control::signal(&paths, c),
        Cmd::Attach(c) => attach::attach(&paths, c),
        Cmd::Send(c) => attach::send(&paths, c),
        Cmd::Resize(c) => attach::resize(&paths, c),
        Cmd::Logs(c) => logs::logs(&paths, c),
        Cmd::Top(c) => top::top(&paths, c),
        Cmd::Events(c) => events::events(&paths, c),
        Cmd::Wait(c) => control::wait(&paths, c),
        Cmd::Add(c) => registry::add(&paths, c),
        Cmd::Label(c) => registry::label(&paths, c),
        Cmd::Tag(c) => registry::tag(&paths, c),
        Cmd::Group(c) => registry::group(&paths, c),
        Cmd::Prune(c) => registry::prune(&paths, c),
        Cmd::Reset(c) => registry::reset(&paths, c),
        Cmd::Tree(c) => registry::tree(&paths, c),
        Cmd::Ping(c) => daemon::ping(&paths, c),
        Cmd::Shutdown(c) => daemon::shutdown(&paths, c),
        Cmd::Upgrade(c) => daemon::upgrade(&paths, c),
        Cmd::Save(c) => daemon::save(&paths, c),
        Cmd::Resurrect(c) => daemon::resurrect(&paths, c),
        Cmd::Daemon(c) => daemon::daemon(paths, c),
        Cmd::Up(c) => services::up(&paths, c),
        Cmd::Down(c) => services::down(&paths, c),
        Cmd::Screen(c) => screen::screen(&paths, c),
        Cmd::Edit(c) => edit::edit(&paths, c),
        Cmd::Mcp(c) => mcp::mcp(paths, c),
        Cmd::Startup(_) | Cmd::Unstartup(_) => unreachable!("dispatched above"),
    }
}

/// A client for commands that need the daemon (starting it on demand).
fn client(paths: &Paths) -> Result<Client> {
    Client::connect_or_start(paths)
}

/// Parses a duration flag, naming the flag in the error.
fn duration_flag(flag: &str, v: &Option<String>) -> Result<Option<std::time::Duration>> {
    v.as_deref()
        .map(|s| {
            crate::util::duration::parse(s)
                .map_err(|e| Error::new(Code::Usage, format!("{flag}: {}", e.message)))
        })
        .transpose()
}

/// Prints a value as pretty JSON.
fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| Error::new(Code::Internal, format!("cannot encode JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
