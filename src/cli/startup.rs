//! `wrangle startup` and `wrangle unstartup`: the unit or script that starts this
//! installation's daemon at boot with `daemon --resurrect`, for systemd (system or user),
//! OpenRC, sysvinit or cron. The texts are the files of contrib/, embedded here and filled in
//! for the running binary, account and PATH (`make install` fills in the same files from
//! PREFIX), so the installed files and these never drift apart.

use super::Exit;
use crate::error::{Code, Error, Result};
use argh::FromArgs;
use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// print (or install) the unit or script that starts the saved set at boot
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "startup")]
pub struct StartupCmd {
    /// systemd, systemd-user, openrc, sysvinit or cron (default: the init system running)
    #[argh(positional)]
    pub system: Option<String>,
    /// install it (systemd, openrc and sysvinit need root)
    #[argh(switch)]
    pub install: bool,
}

/// remove what `wrangle startup --install` installed
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "unstartup")]
pub struct UnstartupCmd {
    /// systemd, systemd-user, openrc, sysvinit or cron (default: the init system running)
    #[argh(positional)]
    pub system: Option<String>,
}

const SYSTEM_UNIT: &str = include_str!("../../contrib/systemd/wrangle@.service");
const USER_UNIT: &str = include_str!("../../contrib/systemd/wrangle-user.service");
const OPENRC: &str = include_str!("../../contrib/openrc/wrangle");
const SYSVINIT: &str = include_str!("../../contrib/sysvinit/wrangle");
const CRON: &str = include_str!("../../contrib/cron/wrangle");

const SYSTEM_UNIT_PATH: &str = "/etc/systemd/system/wrangle@.service";
const INIT_SCRIPT_PATH: &str = "/etc/init.d/wrangle";
/// Ends the crontab line `--install` adds (a shell comment to cron), so that `unstartup`
/// removes that line and no other.
const CRON_MARK: &str = "# added by wrangle startup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Init {
    Systemd,
    SystemdUser,
    Openrc,
    Sysvinit,
    Cron,
}

impl Init {
    const NAMES: &'static str = "systemd, systemd-user, openrc, sysvinit or cron";

    fn parse(s: &str) -> Result<Init> {
        Ok(match s {
            "systemd" => Init::Systemd,
            "systemd-user" => Init::SystemdUser,
            "openrc" => Init::Openrc,
            "sysvinit" => Init::Sysvinit,
            "cron" => Init::Cron,
            _ => {
                return Err(Error::new(
                    Code::Usage,
                    format!("unknown init system {s:?}: expected {}", Init::NAMES),
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Init::Systemd => "systemd",
            Init::SystemdUser => "systemd-user",
            Init::Openrc => "openrc",
            Init::Sysvinit => "sysvinit",
            Init::Cron => "cron",
        }
    }

    /// Whether installing it writes system files (and so needs root).
    fn needs_root(self) -> bool {
        matches!(self, Init::Systemd | Init::Openrc | Init::Sysvinit)
    }

    /// The one running here: systemd (the user manager unless we are root), OpenRC, sysvinit
    /// (PID 1 is `init` with an /etc/init.d), else cron where crontab is installed.
    fn detect() -> Result<Init> {
        if Path::new("/run/systemd/system").is_dir() {
            return Ok(if is_root() {
                Init::Systemd
            } else {
                Init::SystemdUser
            });
        }
        if Path::new("/run/openrc").is_dir() {
            return Ok(Init::Openrc);
        }
        let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        if pid1.trim() == "init" && Path::new("/etc/init.d").is_dir() {
            return Ok(Init::Sysvinit);
        }
        if find_in_path("crontab").is_some() {
            return Ok(Init::Cron);
        }
        Err(Error::new(
            Code::Failed,
            format!(
                "cannot tell which init system runs here (no systemd, OpenRC or sysvinit, no crontab); name one: {}",
                Init::NAMES
            ),
        ))
    }
}

/// What the unit or script is filled in with.
struct Install {
    /// The running binary (`/proc/self/exe`).
    wrangle: String,
    /// The account the daemon runs as.
    user: String,
    home: String,
    path: String,
}

impl Install {
    fn here() -> Result<Install> {
        let exe = std::fs::read_link("/proc/self/exe")
            .map_err(|e| Error::io("cannot read /proc/self/exe", e))?;
        let wrangle = exe.to_str().unwrap_or_default().to_string();
        if wrangle.ends_with(" (deleted)") || !exe.is_absolute() {
            return Err(Error::new(
                Code::Failed,
                format!("the running binary {wrangle:?} is gone; run the installed one"),
            ));
        }
        check_word("the binary's path", &wrangle)?;
        // Under sudo, the unit is for the account that ran sudo.
        let sudo_user = std::env::var("SUDO_USER")
            .ok()
            .filter(|u| is_root() && !u.is_empty() && u != "root");
        let (user, home) = match sudo_user {
            Some(u) => {
                let home = account_home(&u)?;
                (u, home)
            }
            None => {
                let u = account_name()?;
                let home = match std::env::var("HOME") {
                    Ok(h) if !h.is_empty() => h,
                    _ => account_home(&u)?,
                };
                (u, home)
            }
        };
        check_word("the account name", &user)?;
        let path = std::env::var("PATH").unwrap_or_default();
        let path = if path.is_empty() {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
        } else {
            path
        };
        check_word("PATH", &path)?;
        Ok(Install {
            wrangle,
            user,
            home,
            path,
        })
    }

    /// The contrib/ file for `init`, filled in.
    fn render(&self, init: Init) -> String {
        let template = match init {
            Init::Systemd => SYSTEM_UNIT,
            Init::SystemdUser => USER_UNIT,
            Init::Openrc => OPENRC,
            Init::Sysvinit => SYSVINIT,
            Init::Cron => CRON,
        };
        template
            .replace("@WRANGLE@", &self.wrangle)
            .replace("@PATH@", &self.path)
            .replace("@USER@", &self.user)
    }

    /// The command that installs it, as the user would type it.
    fn install_command(&self, init: Init) -> String {
        let cmd = format!("{} startup {} --install", self.wrangle, init.name());
        if init.needs_root() && !is_root() {
            // sudo resets PATH: pass this one on, so that the unit gets it.
            format!("sudo env PATH='{}' {cmd}", self.path)
        } else {
            cmd
        }
    }

    fn user_unit_path(&self) -> PathBuf {
        let config = match std::env::var("XDG_CONFIG_HOME") {
            Ok(c) if !c.is_empty() => PathBuf::from(c),
            _ => Path::new(&self.home).join(".config"),
        };
        config.join("systemd/user/wrangle.service")
    }
}

/// Refuses text that would need quoting in a unit, a shell script or a crontab.
fn check_word(what: &str, s: &str) -> Result<()> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "'\"\\$`%;&|<>(){}*?!#~".contains(c);
    if let Some(c) = s.chars().find(|&c| bad(c)) {
        return Err(Error::new(
            Code::Failed,
            format!("{what} {s:?} holds {c:?}, which a unit, script or crontab would misread"),
        ));
    }
    Ok(())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The name of the account we run as.
fn account_name() -> Result<String> {
    passwd_field(None, |pw| pw.pw_name)
}

/// The home folder of account `user`.
fn account_home(user: &str) -> Result<String> {
    passwd_field(Some(user), |pw| pw.pw_dir)
}

/// One field of the password entry of `user` (or of our user id).
fn passwd_field(
    user: Option<&str>,
    field: fn(&libc::passwd) -> *mut libc::c_char,
) -> Result<String> {
    let who = user.map_or_else(
        || format!("user id {}", rustix::process::getuid().as_raw()),
        str::to_string,
    );
    let cname = match user {
        Some(u) => Some(
            std::ffi::CString::new(u)
                .map_err(|_| Error::new(Code::Usage, format!("bad account name {u:?}")))?,
        ),
        None => None,
    };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd (null pointers, zero ids) is a valid value to be overwritten.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: pw, buf and out outlive the call, and buf's length is passed with it; the
    // strings pw points to live in buf.
    let rc = unsafe {
        match &cname {
            Some(n) => libc::getpwnam_r(n.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out),
            None => libc::getpwuid_r(
                libc::getuid(),
                &mut pw,
                buf.as_mut_ptr(),
                buf.len(),
                &mut out,
            ),
        }
    };
    if rc != 0 || out.is_null() || field(&pw).is_null() {
        return Err(Error::new(
            Code::Failed,
            format!("no account entry for {who}"),
        ));
    }
    // SAFETY: getpw*_r succeeded, so the field is a NUL-terminated string inside buf.
    let s = unsafe { CStr::from_ptr(field(&pw)) };
    Ok(s.to_string_lossy().into_owned())
}

fn pick(system: Option<String>) -> Result<Init> {
    match system {
        Some(s) => Init::parse(&s),
        None => Init::detect(),
    }
}

fn need_root(init: Init, what: &str, inst: &Install) -> Result<()> {
    if init.needs_root() && !is_root() {
        return Err(Error::new(
            Code::Failed,
            format!(
                "{what} for {} needs root (it writes system files); run: {}",
                init.name(),
                inst.install_command(init)
            ),
        ));
    }
    Ok(())
}

/// Runs a command to its end; an error names it when it fails.
fn run(argv: &[&str], input: Option<&str>) -> Result<()> {
    let shown = argv.join(" ");
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("cannot run `{shown}`"), e))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("cannot write to `{shown}`"), e))?;
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("cannot wait for `{shown}`"), e))?;
    if !status.success() {
        return Err(Error::new(
            Code::Failed,
            format!("`{shown}` failed ({status})"),
        ));
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("cannot set the mode of {}", path.display()), e))
}

/// Removes `path`; false if it was not there.
fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("cannot remove {}", path.display()), e)),
    }
}

/// The account's crontab without the line `--install` added (empty when it has none).
fn crontab_without_ours(user_args: &[&str]) -> Result<String> {
    let out = Command::new("crontab")
        .args(user_args)
        .arg("-l")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::io("cannot run `crontab -l`", e))?;
    // `crontab -l` fails when there is no crontab yet.
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    };
    Ok(text
        .lines()
        .filter(|l| !l.ends_with(CRON_MARK))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// `crontab -u USER` when root installs for the account that ran sudo.
fn crontab_user(inst: &Install) -> Vec<&str> {
    if is_root() && account_name().ok().as_deref() != Some(inst.user.as_str()) {
        vec!["-u", &inst.user]
    } else {
        Vec::new()
    }
}

pub fn startup(c: StartupCmd) -> Result<Exit> {
    let init = pick(c.system)?;
    let inst = Install::here()?;
    for var in [
        "WRANGLE_HOME",
        "WRANGLE_SOCKET",
        "WRANGLE_STATE_DIR",
        "WRANGLE_CONFIG",
    ] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            eprintln!(
                "wrangle: note: {var} is set here, but the daemon started at boot uses {}'s default folders",
                inst.user
            );
        }
    }
    let text = inst.render(init);
    if !c.install {
        print!("{text}");
        eprintln!(
            "# for {} (HOME {}); install it with:\n{}",
            inst.user,
            inst.home,
            inst.install_command(init)
        );
        return Ok(0);
    }
    need_root(init, "installing the startup script", &inst)?;
    match init {
        Init::Systemd => {
            write_file(Path::new(SYSTEM_UNIT_PATH), &text, 0o644)?;
            let instance = format!("wrangle@{}.service", inst.user);
            run(&["systemctl", "daemon-reload"], None)?;
            run(&["systemctl", "enable", &instance], None)?;
            run(&["loginctl", "enable-linger", &inst.user], None)?;
            println!("installed {SYSTEM_UNIT_PATH} and enabled {instance}: it starts at boot");
        }
        Init::SystemdUser => {
            let path = inst.user_unit_path();
            write_file(&path, &text, 0o644)?;
            run(&["systemctl", "--user", "daemon-reload"], None)?;
            run(&["systemctl", "--user", "enable", "wrangle.service"], None)?;
            run(&["loginctl", "enable-linger", &inst.user], None)?;
            println!(
                "installed {} and enabled it: it starts at boot",
                path.display()
            );
        }
        Init::Openrc => {
            write_file(Path::new(INIT_SCRIPT_PATH), &text, 0o755)?;
            run(&["rc-update", "add", "wrangle", "default"], None)?;
            println!("installed {INIT_SCRIPT_PATH} in the default runlevel: it starts at boot");
        }
        Init::Sysvinit => {
            write_file(Path::new(INIT_SCRIPT_PATH), &text, 0o755)?;
            if find_in_path("update-rc.d").is_some() {
                run(&["update-rc.d", "wrangle", "defaults"], None)?;
            } else {
                run(&["chkconfig", "--add", "wrangle"], None)?;
            }
            println!("installed {INIT_SCRIPT_PATH}: it starts at boot");
        }
        Init::Cron => {
            let user = crontab_user(&inst);
            let line = text
                .lines()
                .find(|l| l.starts_with("@reboot"))
                .unwrap_or_default();
            let mut tab = crontab_without_ours(&user)?;
            tab.push_str(&format!("{line} {CRON_MARK}\n"));
            let mut argv = vec!["crontab"];
            argv.extend(&user);
            argv.push("-");
            run(&argv, Some(&tab))?;
            println!("added to {}'s crontab: {line}", inst.user);
        }
    }
    Ok(0)
}

pub fn unstartup(c: UnstartupCmd) -> Result<Exit> {
    let init = pick(c.system)?;
    let inst = Install::here()?;
    need_root(init, "removing the startup script", &inst)?;
    let removed = match init {
        Init::Systemd => {
            let instance = format!("wrangle@{}.service", inst.user);
            run(&["systemctl", "disable", &instance], None)?;
            // The template serves every account: it goes with the last enabled instance.
            let others = std::fs::read_dir("/etc/systemd/system")
                .into_iter()
                .flatten()
                .flatten()
                .filter(|d| d.file_name().to_string_lossy().ends_with(".wants"))
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                .any(|e| e.file_name().to_string_lossy().starts_with("wrangle@"));
            let gone = !others && remove_file(Path::new(SYSTEM_UNIT_PATH))?;
            run(&["systemctl", "daemon-reload"], None)?;
            println!("disabled {instance}");
            gone || others
        }
        Init::SystemdUser => {
            let path = inst.user_unit_path();
            if path.exists() {
                run(&["systemctl", "--user", "disable", "wrangle.service"], None)?;
            }
            let gone = remove_file(&path)?;
            run(&["systemctl", "--user", "daemon-reload"], None)?;
            gone
        }
        Init::Openrc => {
            if Path::new(INIT_SCRIPT_PATH).exists() {
                run(&["rc-update", "del", "wrangle", "default"], None)?;
            }
            remove_file(Path::new(INIT_SCRIPT_PATH))?
        }
        Init::Sysvinit => {
            let gone = remove_file(Path::new(INIT_SCRIPT_PATH))?;
            if gone && find_in_path("update-rc.d").is_some() {
                run(&["update-rc.d", "wrangle", "remove"], None)?;
            } else if gone {
                run(&["chkconfig", "--del", "wrangle"], None)?;
            }
            gone
        }
        Init::Cron => {
            let user = crontab_user(&inst);
            let mut argv = vec!["crontab"];
            argv.extend(&user);
            argv.push("-l");
            let before = Command::new("crontab")
                .args(&argv[1..])
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let after = crontab_without_ours(&user)?;
            let changed = before != after;
            if changed {
                argv.pop();
                argv.push("-");
                run(&argv, Some(&after))?;
            }
            changed
        }
    };
    if removed {
        println!("removed the {} startup script", init.name());
    } else {
        println!("no {} startup script was installed", init.name());
    }
    Ok(0)
}
