//! What a distribution's package relies on: `wrangle --version`, and `wrangle startup`
//! printing a unit or script for each init system that runs this binary with
//! `daemon --resurrect`.

mod common;

use common::{kill, wait_until, Bg, Wr, SOON};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// `--version` and `-V` print `wrangle X.Y.Z` (the crate's version) and exit 0, with no
/// daemon started.
#[test]
fn version_flag_prints_the_version() {
    let wr = Wr::new();
    for flag in ["--version", "-V"] {
        let out = wr.ok(&[flag]);
        assert_eq!(
            out.text(),
            format!("wrangle {}\n", env!("CARGO_PKG_VERSION")),
            "`wrangle {flag}`"
        );
    }
    wr.code(&["ping"], 5);
}

const SYSTEMS: [&str; 5] = ["systemd", "systemd-user", "openrc", "sysvinit", "cron"];

/// The binary as `/proc/self/exe` names it.
fn real_bin() -> String {
    std::fs::canonicalize(common::BIN)
        .expect("canonicalize the binary")
        .display()
        .to_string()
}

/// Whether `program` runs at all.
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `wrangle startup X` prints, for each init system, a unit or script that runs this very
/// binary with `daemon --resurrect`, with every placeholder of contrib/ filled in, and the
/// command that installs it; the systemd units pass `systemd-analyze verify` and the scripts
/// shellcheck, where those are installed.
#[test]
fn startup_prints_a_unit_running_this_binary_with_resurrect() {
    let wr = Wr::new();
    let bin = real_bin();
    for system in SYSTEMS {
        let out = wr.ok(&["startup", system]);
        let text = out.text();
        assert!(
            text.contains(&bin),
            "`wrangle startup {system}` does not run {bin}:\n{text}"
        );
        assert!(
            text.contains("daemon") && text.contains("--resurrect"),
            "`wrangle startup {system}` does not run `daemon --resurrect`:\n{text}"
        );
        assert!(
            !text.contains("@WRANGLE@") && !text.contains("@PATH@") && !text.contains("@USER@"),
            "`wrangle startup {system}` left a placeholder:\n{text}"
        );
        assert!(
            out.stderr
                .contains(&format!("{bin} startup {system} --install")),
            "`wrangle startup {system}` does not say how to install it: {}",
            out.stderr
        );
        // Checked for real where the checkers are installed.
        let dir = wr.root.join(format!("check-{system}"));
        std::fs::create_dir_all(&dir).unwrap();
        let checker: Option<(&str, Vec<String>)> = match system {
            "systemd" | "systemd-user" if have("systemd-analyze") => {
                let name = if system == "systemd" {
                    "wrangle@.service"
                } else {
                    "wrangle.service"
                };
                let mut args = vec!["verify".to_string(), "--man=no".to_string()];
                if system == "systemd-user" {
                    args.push("--user".to_string());
                }
                args.push(dir.join(name).display().to_string());
                std::fs::write(dir.join(name), &text).unwrap();
                Some(("systemd-analyze", args))
            }
            "openrc" | "sysvinit" if have("shellcheck") => {
                std::fs::write(dir.join("wrangle"), &text).unwrap();
                Some((
                    "shellcheck",
                    vec![dir.join("wrangle").display().to_string()],
                ))
            }
            _ => None,
        };
        let Some((program, args)) = checker else {
            eprintln!("no checker installed for the {system} output: not checked");
            continue;
        };
        // A user manager needs a runtime folder of its own to load a unit.
        let runtime = dir.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = Command::new(program)
            .args(&args)
            .env("XDG_RUNTIME_DIR", &runtime)
            .current_dir(&dir)
            .output()
            .expect("run the checker");
        assert!(
            out.status.success(),
            "`{program} {}` on the {system} output failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The system unit's hardening stays where it is: systemd's own exposure score (0 to
        // 10, lower is safer) is 7.4 with every setting supervision allows; losing any of
        // them raises it past the threshold (7.5, given as 75).
        if system == "systemd" {
            let unit = dir.join("wrangle@.service");
            let out = Command::new("systemd-analyze")
                .args(["security", "--offline=true", "--threshold=75"])
                .arg(&unit)
                .current_dir(&dir)
                .output()
                .expect("run systemd-analyze security");
            assert!(
                out.status.success(),
                "the system unit is less hardened than it was:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = wr.code(&["startup", "upstart"], 2);
    assert!(
        out.stderr.contains("systemd-user"),
        "an unknown init system's error does not list the known ones: {}",
        out.stderr
    );
}

/// A folder of fake `systemctl`, `loginctl` and `crontab` commands that log their arguments
/// (and keep a crontab in a file), put first on PATH.
fn fake_tools(wr: &Wr) -> std::path::PathBuf {
    let bin = wr.root.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = wr.root.join("calls.log");
    let tab = wr.root.join("crontab.txt");
    for (name, body) in [
        ("systemctl", format!("echo \"systemctl $*\" >> '{}'", log.display())),
        ("loginctl", format!("echo \"loginctl $*\" >> '{}'", log.display())),
        (
            "crontab",
            format!(
                "case \"$1\" in -l) cat '{tab}' 2>/dev/null || exit 1 ;; -) cat > '{tab}' ;; *) exit 2 ;; esac",
                tab = tab.display()
            ),
        ),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

fn with_fakes(wr: &mut Wr) {
    let bin = fake_tools(wr);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = wr.root.join("config");
    wr.set_env("PATH", path);
    wr.set_env("XDG_CONFIG_HOME", config);
}

/// `startup systemd-user --install` writes the printed unit where the user manager reads it,
/// enables it and asks for lingering; `unstartup` disables and removes it.
#[test]
fn startup_installs_and_removes_a_user_unit() {
    let mut wr = Wr::new();
    with_fakes(&mut wr);
    let printed = wr.ok(&["startup", "systemd-user"]).text();
    wr.ok(&["startup", "systemd-user", "--install"]);
    let unit = wr.root.join("config/systemd/user/wrangle.service");
    let installed = std::fs::read_to_string(&unit)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", unit.display()));
    assert_eq!(
        installed, printed,
        "the installed unit is not the printed one"
    );
    let calls = std::fs::read_to_string(wr.root.join("calls.log")).unwrap_or_default();
    for want in [
        "systemctl --user daemon-reload",
        "systemctl --user enable wrangle.service",
        "loginctl enable-linger",
    ] {
        assert!(
            calls.contains(want),
            "`{want}` was not run; calls:\n{calls}"
        );
    }
    wr.ok(&["unstartup", "systemd-user"]);
    assert!(!unit.exists(), "unstartup left {}", unit.display());
    let calls = std::fs::read_to_string(wr.root.join("calls.log")).unwrap_or_default();
    assert!(
        calls.contains("systemctl --user disable wrangle.service"),
        "unstartup did not disable the unit; calls:\n{calls}"
    );
}

/// `startup cron --install` adds one `@reboot` line (once, however often it runs) and keeps
/// the rest of the crontab; `unstartup cron` removes only that line.
#[test]
fn startup_adds_one_reboot_line_to_the_crontab() {
    let mut wr = Wr::new();
    with_fakes(&mut wr);
    let tab = wr.root.join("crontab.txt");
    std::fs::write(&tab, "0 * * * * echo hourly\n").unwrap();
    wr.ok(&["startup", "cron", "--install"]);
    wr.ok(&["startup", "cron", "--install"]);
    let text = std::fs::read_to_string(&tab).unwrap();
    let ours: Vec<&str> = text.lines().filter(|l| l.starts_with("@reboot")).collect();
    assert_eq!(ours.len(), 1, "expected one @reboot line:\n{text}");
    assert!(
        ours[0].contains(&real_bin()) && ours[0].contains("daemon --detach --resurrect"),
        "the @reboot line does not resurrect with this binary: {}",
        ours[0]
    );
    assert!(
        text.contains("echo hourly"),
        "the crontab lost a line:\n{text}"
    );
    wr.ok(&["unstartup", "cron"]);
    let text = std::fs::read_to_string(&tab).unwrap();
    assert_eq!(
        text, "0 * * * * echo hourly\n",
        "unstartup cron left:\n{text}"
    );
}

/// Installing a system unit without root fails, saying so and giving the sudo command.
#[test]
fn startup_install_without_root_says_what_to_run() {
    if !is_root() || !have("runuser") {
        eprintln!("not root, or no runuser: cannot run wrangle as another account; skipping");
        return;
    }
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            &real_bin(),
            "startup",
            "systemd",
            "--install",
        ])
        .env("HOME", "/")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run runuser");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Permission denied") {
        eprintln!("nobody cannot run the test binary here: skipping ({stderr})");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("needs root") && stderr.contains("sudo env PATH="),
        "the error does not say root is needed and what to run: {stderr}"
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        .unwrap_or(false)
}

/// `daemon --passthrough` (for an init system's journal): every entry's output also comes out
/// of the daemon's standard output, a line at a time, prefixed with the entry's name; an
/// unfinished last line comes out when its run ends; and a daemon restarted by its keeper
/// (kill -9) keeps doing it.
#[test]
fn passthrough_writes_every_line_to_the_daemons_standard_output() {
    let wr = Wr::new();
    let mut daemon = Bg::spawn(wr.cmd(&["daemon", "--passthrough"]));
    wait_until("the daemon answers", SOON, || wr.daemon_pid().is_some());
    wr.ok(&[
        "run",
        "--name",
        "web",
        "--",
        "sh",
        "-c",
        "echo one; echo two >&2; printf 'three'",
    ]);
    daemon.wait_for("[web] one\n");
    daemon.wait_for("[web] two\n");
    daemon.wait_for("[web] three\n");
    wr.ok(&["run", "--pty", "--", "sh", "-c", "echo on a terminal"]);
    daemon.wait_for("[2] on a terminal\n");
    assert!(
        !daemon.output().contains('\r'),
        "a terminal's carriage returns are left out: {:?}",
        daemon.output()
    );
    // The daemon proper dies; the keeper starts another, which passes output through too.
    let pid = wr.daemon_pid().expect("a daemon");
    kill(pid, 9);
    wait_until("a new daemon", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != pid)
    });
    wr.ok(&["run", "--name", "after", "--", "echo", "still here"]);
    daemon.wait_for("[after] still here\n");
    wr.ok(&["shutdown"]);
    wait_until("the daemon exits", SOON, || !daemon.running());
}
