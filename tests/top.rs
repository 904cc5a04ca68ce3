//! `wrangle top` driven in a tmux pane: keys sent with send-keys, the screen read with
//! capture-pane, the pane's terminal modes read with `stty -a`. No fixed sleeps: every wait
//! polls the screen (or a file) with a deadline.

mod common;

use common::tmux::Tmux;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

impl Tmux {
    /// A 100x30 session running `script` in sh, with the instance's environment.
    fn start(wr: &Wr, script: &str) -> Tmux {
        let t = Tmux::new(wr);
        let env = Tmux::env(wr);
        t.session("t", 30, 100, &format!("export {env} W='{BIN}'; {script}"));
        t
    }

    fn screen(&self) -> String {
        self.capture("t")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.run(&args);
    }

    /// Waits until the screen shows `what` (`cond` holds); panics with the screen if not.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = try_wait_until(SOON, || {
            last = self.screen();
            cond(&last)
        });
        assert!(ok, "timed out waiting until {what}; the screen:\n{last}");
        last
    }
}

/// The screen's line that shows entry `name` in the list.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(name))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Waits for a file a pane's shell writes once its command is over.
fn wait_file(p: &Path) -> String {
    wait_until(&format!("{} is written", p.display()), SOON, || {
        read(p).ends_with('\n')
    });
    read(p)
}

#[test]
fn top_lists_the_entries_and_shows_an_exit_without_a_key() {
    let wr = Wr::new();
    let flag = wr.root.join("flag");
    wr.start(&["--name", "alpha", "--", "sleep", &unique_secs()]);
    wr.start(&[
        "--name",
        "beta",
        "--",
        "sh",
        "-c",
        &format!(
            "echo beta-says-hi; while [ ! -e '{}' ]; do sleep 0.05; done; exit 3",
            flag.display()
        ),
    ]);
    let tmux = Tmux::start(&wr, "\"$W\" top; exec sleep 1000000");
    let screen = tmux.wait("the list shows both entries", |s| {
        row(s, "alpha").is_some_and(|r| r.contains("running"))
            && row(s, "beta").is_some_and(|r| r.contains("running"))
    });
    assert!(screen.contains("wrangle top: 2 entries"), "{screen}");
    // The first entry is selected: its details are shown.
    tmux.wait("the details of alpha", |s| {
        s.contains("entry    alpha (id 1)")
    });
    std::fs::write(&flag, "").unwrap();
    wait_until("beta exited", SOON, || wr.state("beta") == "exited");
    // Within 2 s of the daemon knowing, without a key pressed.
    let t0 = Instant::now();
    let mut last = String::new();
    let shown = try_wait_until(Duration::from_secs(2), || {
        last = tmux.screen();
        row(&last, "beta").is_some_and(|r| r.contains("exited"))
    });
    assert!(shown, "not shown after {:?}:\n{last}", t0.elapsed());
}

#[test]
fn s_stops_the_selected_entry_and_output_follows_the_selection() {
    let wr = Wr::new();
    wr.start(&["--name", "one", "--", "sleep", &unique_secs()]);
    wr.start(&[
        "--name",
        "two",
        "--",
        "sh",
        "-c",
        &format!("echo two-was-here; exec sleep {}", unique_secs()),
    ]);
    let tmux = Tmux::start(&wr, "\"$W\" top; exec sleep 1000000");
    tmux.wait("the list", |s| row(s, "two").is_some());
    tmux.keys(&["j"]);
    // The output pane follows the selected entry.
    tmux.wait("two's output", |s| {
        s.contains("output: two (id 2)") && s.contains("two-was-here")
    });
    tmux.keys(&["s"]);
    wait_until("two is stopped", SOON, || wr.state("two") == "stopped");
    assert_eq!(wr.state("one"), "running");
    tmux.wait("the list shows it stopped", |s| {
        row(s, "two").is_some_and(|r| r.contains("stopped")) && s.contains("stopped two (id 2)")
    });
    // S starts it again; d asks before removing.
    tmux.keys(&["S"]);
    wait_until("two runs again", SOON, || wr.state("two") == "running");
    tmux.keys(&["d"]);
    tmux.wait("the question", |s| {
        s.contains("remove two (id 2) and its logs? y/n")
    });
    tmux.keys(&["n"]);
    tmux.keys(&["d"]);
    tmux.wait("the question again", |s| s.contains("remove two (id 2)"));
    tmux.keys(&["y"]);
    wait_until("two is removed", SOON, || {
        !wr.ok(&["ls"]).text().contains("two")
    });
    tmux.wait("the list without it", |s| {
        row(s, "two").is_none() && s.contains("wrangle top: 1 entry ")
    });
}

#[test]
fn a_resize_redraws_at_the_new_size() {
    let wr = Wr::new();
    wr.start(&["--name", "resized", "--", "sleep", &unique_secs()]);
    let tmux = Tmux::start(&wr, "\"$W\" top; exec sleep 1000000");
    tmux.wait("the list", |s| row(s, "resized").is_some());
    let width = |s: &str| s.lines().next().map_or(0, |l| l.chars().count());
    for (x, y) in [("130", "40"), ("80", "24")] {
        tmux.run(&["resize-window", "-t", "t", "-x", x, "-y", y]);
        let n: usize = x.parse().unwrap();
        let rows: usize = y.parse().unwrap();
        tmux.wait(&format!("a redraw at {x}x{y}"), |s| {
            width(s) == n
                && s.lines().next().unwrap_or("").starts_with("┌ wrangle top")
                && s.lines().next().unwrap_or("").ends_with('┐')
                && row(s, "resized").is_some()
                && s.lines()
                    .nth(rows - 1)
                    .is_some_and(|l| l.starts_with("q quit"))
        });
    }
}

#[test]
fn a_attaches_and_comes_back_on_detach() {
    let wr = Wr::new();
    wr.start(&[
        "--pty",
        "--name",
        "term",
        "--",
        "sh",
        "-c",
        "echo ready; while read l; do echo got-$l; done",
    ]);
    wr.wait_log("term", "ready");
    let tmux = Tmux::start(&wr, "\"$W\" top; exec sleep 1000000");
    tmux.wait("the list", |s| row(s, "term").is_some());
    tmux.keys(&["a"]);
    tmux.wait("the attach session", |s| {
        !s.contains("wrangle top:") && s.contains("ready")
    });
    tmux.keys(&["hello", "Enter"]);
    tmux.wait("the entry's answer", |s| {
        !s.contains("wrangle top:") && s.contains("got-hello")
    });
    tmux.keys(&["C-\\"]);
    tmux.wait("the dashboard again", |s| {
        s.contains("wrangle top:") && row(s, "term").is_some_and(|r| r.contains("running"))
    });
    // It still answers keys.
    tmux.keys(&["?"]);
    tmux.wait("the help", |s| s.contains("keys (any key closes)"));
    assert_eq!(wr.state("term"), "running");
}

/// Runs top in a pane between two `stty -a`, ends it with `end`, and checks the terminal's
/// modes are as before and top's exit status.
fn ends_cleanly(end: impl FnOnce(&Tmux, &Path), status: &str) {
    let wr = Wr::new();
    wr.start(&["--name", "x", "--", "sleep", &unique_secs()]);
    let dir = wr.root.clone();
    let f = |n: &str| -> PathBuf { dir.join(n) };
    let script = format!(
        "stty -a > '{b}'; sh -c 'echo $$ > {p}; exec \"$W\" top'; echo $? > '{c}'; \
         stty -a > '{a}'; exec sleep 1000000",
        b = f("before").display(),
        p = f("pid").display(),
        c = f("code").display(),
        a = f("after").display(),
    );
    let tmux = Tmux::start(&wr, &script);
    tmux.wait("the list", |s| row(s, "x").is_some());
    end(&tmux, &f("pid"));
    assert_eq!(wait_file(&f("code")).trim(), status);
    let (before, after) = (wait_file(&f("before")), wait_file(&f("after")));
    assert_eq!(before, after, "the terminal's modes changed");
    // The main screen is back (the dashboard was on the alternate one).
    let s = tmux.screen();
    assert!(!s.contains("wrangle top:"), "{s}");
}

#[test]
fn q_leaves_the_terminal_as_it_was() {
    ends_cleanly(|t, _| t.keys(&["q"]), "0");
}

#[test]
fn ctrl_c_leaves_the_terminal_as_it_was() {
    ends_cleanly(|t, _| t.keys(&["C-c"]), "0");
}

#[test]
fn sigterm_and_sighup_leave_the_terminal_as_it_was() {
    for (sig, status) in [(libc::SIGTERM, "143"), (libc::SIGHUP, "129")] {
        ends_cleanly(
            |_, pid| {
                let p: i32 = wait_file(pid).trim().parse().unwrap();
                kill(p, sig);
            },
            status,
        );
    }
}

#[test]
fn top_needs_a_terminal() {
    let wr = Wr::new();
    let o = wr.code(&["top"], 2);
    assert!(o.stderr.contains("top needs a terminal"), "{}", o.stderr);
}

#[test]
fn ctrl_z_gives_the_terminal_back_and_fg_takes_it_again() {
    let wr = Wr::new();
    wr.start(&["--name", "z", "--", "sleep", &unique_secs()]);
    let dir = wr.root.clone();
    // An interactive shell, for job control.
    let tmux = Tmux::start(&wr, "exec bash --norc --noprofile -i");
    let before = dir.join("before");
    let during = dir.join("during");
    tmux.keys(&[
        &format!("stty -a > '{}'; \"$W\" top", before.display()),
        "Enter",
    ]);
    tmux.wait("the list", |s| row(s, "z").is_some());
    tmux.keys(&["C-z"]);
    tmux.wait("the shell says it stopped", |s| {
        s.contains("Stopped") && !s.contains("wrangle top:")
    });
    tmux.keys(&[&format!("stty -a > '{}'; fg", during.display()), "Enter"]);
    tmux.wait("the dashboard again", |s| {
        s.contains("wrangle top:") && row(s, "z").is_some()
    });
    assert_eq!(
        wait_file(&before),
        wait_file(&during),
        "modes while stopped"
    );
    // Still alive and answering keys.
    tmux.keys(&["?"]);
    tmux.wait("the help", |s| s.contains("keys (any key closes)"));
    tmux.keys(&["Escape"]);
    tmux.wait("the help closed", |s| !s.contains("keys (any key closes)"));
    tmux.keys(&["q"]);
    tmux.wait("the shell's prompt", |s| !s.contains("wrangle top:"));
}
