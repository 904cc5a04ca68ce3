//! Black-box tests of terminal entries as screens: `wrangle screen` (text, ANSI, HTML, JSON)
//! of `less` and of a script drawing on the alternate screen with cursor moves, wide
//! characters and 256 colours; the window title in `status` and `ls --wide`; `wait --screen`;
//! `send --keys`; and `attach` redrawing the screen (checked in a tmux pane with
//! capture-pane). No fixed sleeps: every wait polls a condition with a deadline.

mod common;

use common::tmux::Tmux;
use common::*;

/// An instance with a terminal entry `name` of 24x80 running `script` under sh.
fn with_term(name: &str, script: &str) -> Wr {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        name,
        "--pty",
        "--size",
        "24x80",
        "--env",
        "TERM=xterm-256color",
        "--",
        "sh",
        "-c",
        script,
    ]);
    wr
}

/// `wrangle screen SEL EXTRA...` as text.
fn screen(wr: &Wr, sel: &str, extra: &[&str]) -> String {
    let mut a = vec!["screen", sel];
    a.extend_from_slice(extra);
    wr.ok(&a).text()
}

/// Waits until the screen of `sel` contains `needle`; returns it.
fn screen_shows(wr: &Wr, sel: &str, needle: &str) -> String {
    let mut last = String::new();
    let ok = try_wait_until(SOON, || {
        last = screen(wr, sel, &[]);
        last.contains(needle)
    });
    assert!(
        ok,
        "the screen of {sel} never showed {needle:?}; it showed:\n{last}"
    );
    last
}

/// A file of numbered lines in the test's folder.
fn numbered_file(wr: &Wr, n: usize) -> String {
    let p = wr.root.join("numbers.txt");
    let text: String = (1..=n).map(|i| format!("line {i:03}\n")).collect();
    std::fs::write(&p, text).expect("write the file");
    p.display().to_string()
}

/// A script that draws a full-screen display the way htop does: alternate screen, a header
/// drawn once, then many updates in place by cursor moves (more than the 64 KiB a byte replay
/// would show), then it waits.
const DASHBOARD: &str = r#"printf 'before the dashboard\n'
printf '\033[?1049h\033[H\033[2J\033]2;dash title\007'
printf '\033[1;1H\033[7m HEADER of the dashboard \033[0m'
printf '\033[24;1Hfooter line'
i=0
while [ $i -lt 6000 ]; do printf '\033[10;5Hcount %05d' $i; i=$((i+1)); done
printf '\033[12;30Hdone drawing'
exec sleep 1000000"#;

#[test]
fn screen_of_less_shows_the_file() {
    let wr = Wr::new();
    let file = numbered_file(&wr, 200);
    wr.ok(&[
        "run",
        "--name",
        "pager",
        "--pty",
        "--size",
        "24x80",
        "--env",
        "TERM=xterm-256color",
        "--",
        "less",
        &file,
    ]);
    let s = screen_shows(&wr, "pager", "line 023");
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 24, "{s}");
    for (i, l) in lines.iter().take(23).enumerate() {
        assert_eq!(*l, format!("line {:03}", i + 1), "{s}");
    }
    assert!(!s.contains("line 024"), "{s}");
    let v = wr.ok(&["screen", "pager", "--json"]).json();
    assert_eq!(v["screen"]["rows"], 24, "{v}");
    assert_eq!(v["screen"]["cols"], 80, "{v}");
    assert_eq!(v["screen"]["alternate_screen"], true, "{v}");
    assert_eq!(v["screen"]["lines"][0], "line 001", "{v}");
    assert_eq!(v["screen"]["cursor"][0], 23, "{v}");
    // Keys drive it: a page down, then the end of the file.
    wr.ok(&["send", "pager", "--keys", "Space"]);
    screen_shows(&wr, "pager", "line 046");
    wr.ok(&["send", "pager", "--keys", "G"]);
    let s = screen_shows(&wr, "pager", "line 200");
    assert!(!s.contains("line 001"), "{s}");
}

#[test]
fn alternate_screen_cursor_moves_and_title() {
    let wr = with_term("dash", DASHBOARD);
    let s = screen_shows(&wr, "dash", "done drawing");
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], " HEADER of the dashboard", "{s}");
    assert_eq!(lines[9], "    count 05999", "{s}");
    assert_eq!(lines[11], format!("{}done drawing", " ".repeat(29)), "{s}");
    assert_eq!(lines[23], "footer line", "{s}");
    assert!(!s.contains("before the dashboard"), "{s}");
    // Reverse video survives into ANSI.
    let a = screen(&wr, "dash", &["--format", "ansi"]);
    assert!(a.contains("\x1b[0;7m HEADER of the dashboard"), "{a:?}");
    // The title shows in status and ls --wide.
    assert_eq!(wr.status("dash")["title"], "dash title");
    let st = wr.ok(&["status", "dash"]).text();
    assert!(st.contains("dash title"), "{st}");
    let ls = wr.ok(&["ls", "--wide"]).text();
    assert!(ls.contains("dash title"), "{ls}");
}

#[test]
fn wide_characters_and_256_colours_survive_into_ansi_and_html() {
    let wr = with_term(
        "wide",
        r#"printf '\033[38;5;196m漢字🙂\033[0m|\033[48;5;21mblue\033[0m|\033[1;38;2;1;2;3mrgb\033[0m end\n'; exec sleep 1000000"#,
    );
    let t = screen_shows(&wr, "wide", "end");
    assert!(t.starts_with("漢字🙂|blue|rgb end\n"), "{t}");
    let a = screen(&wr, "wide", &["--format", "ansi"]);
    assert!(
        a.starts_with("\x1b[0;38;5;196m漢字🙂\x1b[0m|\x1b[0;48;5;21mblue\x1b[0m|\x1b[0;1;38;2;1;2;3mrgb\x1b[0m end"),
        "{a:?}"
    );
    let h = screen(&wr, "wide", &["--format", "html"]);
    assert!(h.starts_with("<!DOCTYPE html>"), "{h}");
    assert!(
        h.contains("<span style=\"color:#ff0000\">漢字🙂</span>|"),
        "{h}"
    );
    assert!(h.contains("background:#0000ff\">blue</span>"), "{h}");
    assert!(
        h.contains("color:#010203;font-weight:bold\">rgb</span> end"),
        "{h}"
    );
    let v = wr.ok(&["screen", "wide", "--json"]).json();
    assert_eq!(v["screen"]["lines"][0], "漢字🙂|blue|rgb end", "{v}");
    // The wide characters take two columns each: the cursor is after 13 columns + 1... on
    // the next line.
    assert_eq!(v["screen"]["cursor"], serde_json::json!([1, 0]), "{v}");
}

#[test]
fn screen_errors_and_scrollback() {
    let wr = Wr::new();
    wr.ok(&["run", "--name", "plain", "--", "sleep", &unique_secs()]);
    let o = wr.code(&["screen", "plain"], 1);
    assert!(
        o.text().contains("no terminal") || o.stderr.contains("no terminal"),
        "{o:?}"
    );
    wr.code(&["screen", "nosuch"], 3);
    wr.code(&["screen", "plain", "--format", "md"], 2);
    wr.ok(&[
        "run",
        "--name",
        "many",
        "--pty",
        "--size",
        "5x40",
        "--scrollback",
        "10",
        "--",
        "sh",
        "-c",
        "i=1; while [ $i -le 50 ]; do echo row-$i; i=$((i+1)); done; exec sleep 1000000",
    ]);
    screen_shows(&wr, "many", "row-50");
    let s = screen(&wr, "many", &["--scrollback", "100"]);
    let lines: Vec<&str> = s.lines().collect();
    // Ten lines of scrollback kept (--scrollback 10), then the screen.
    assert_eq!(lines[0], "row-37", "{s}");
    assert_eq!(lines[13], "row-50", "{s}");
    assert_eq!(lines.len(), 15, "{s}");
}

#[test]
fn wait_screen_returns_when_the_text_appears() {
    let wr = with_term(
        "asker",
        "printf 'name? '; read x; printf 'hello %s\\n' \"$x\"; exec sleep 1000000",
    );
    screen_shows(&wr, "asker", "name?");
    let mut w = wr
        .cmd(&[
            "wait",
            "asker",
            "--screen",
            "hello w.rld",
            "--timeout",
            "30s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn wait");
    // Not there yet: still waiting.
    assert!(matches!(w.try_wait(), Ok(None)));
    wr.ok(&["send", "asker", "world"]);
    let out = finish(w, CMD_DEADLINE, "wait --screen");
    assert_eq!(out.code, 0, "{out:?}");
    // Already shown: at once. Never shown: a timeout (124).
    wr.ok(&[
        "wait",
        "asker",
        "--screen",
        "^hello world$",
        "--timeout",
        "20s",
    ]);
    wr.code(
        &["wait", "asker", "--screen", "nowhere", "--timeout", "200ms"],
        124,
    );
    wr.ok(&["run", "--name", "plain", "--", "sleep", &unique_secs()]);
    wr.code(&["wait", "plain", "--screen", "x"], 2);
}

/// LOADING stays on row 1 through a burst that redraws row 5 without scrolling (megabytes for
/// the parser, which may be far behind the log when DONE is logged), then is cleared.
const BURST: &str = "printf 'LOADING\\r\\n'; yes \"$(printf '\\033[5;1Hfill')\" | head -n 200000; \
    printf '\\033[H\\033[2JDONE\\r\\n'; sleep 1000";

#[test]
fn screen_and_wait_screen_see_everything_written_before_them() {
    let wr = with_term("burst", BURST);
    wr.ok(&["wait", "burst", "--log", "DONE", "--timeout", "60s"]);
    let s = screen(&wr, "burst", &[]);
    assert!(s.starts_with("DONE\n") && !s.contains("fill"), "{s}");
    // The screen as it was when the wait began, not an older one the parser had not left.
    wr.ok(&[
        "run", "--name", "burst2", "--pty", "--size", "24x80", "--", "sh", "-c", BURST,
    ]);
    wr.ok(&["wait", "burst2", "--log", "DONE", "--timeout", "60s"]);
    wr.code(
        &["wait", "burst2", "--screen", "LOADING", "--timeout", "1s"],
        124,
    );
    wr.ok(&["wait", "burst2", "--screen", "^DONE", "--timeout", "20s"]);
}

#[test]
fn send_keys_ctrl_c_interrupts_sleep_under_bash() {
    let wr = Wr::new();
    wr.ok(&[
        "run",
        "--name",
        "sh",
        "--pty",
        "--env",
        "PS1=$ ",
        "--",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    screen_shows(&wr, "sh", "$");
    wr.ok(&["send", "sh", "--keys", "sleep 1000", "Enter"]);
    wait_until("sleep runs", SOON, || {
        !procs_with_argv(&["sleep", "1000"]).is_empty()
    });
    wr.ok(&["send", "sh", "--keys", "C-c"]);
    wait_until("sleep was interrupted", SOON, || {
        procs_with_argv(&["sleep", "1000"]).is_empty()
    });
    wr.ok(&["send", "sh", "--keys", "echo status-$?", "Enter"]);
    wr.ok(&["wait", "sh", "--screen", "^status-130", "--timeout", "20s"]);
}

/// A terminal program that reads raw bytes: it turns application cursor keys on (DECCKM),
/// prints `app`, dumps the next 3 bytes it reads in hex after `got`; then turns them off,
/// prints `normal` and dumps 3 more.
const CURSOR_KEYS_DUMP: &str = "stty raw -echo; \
    printf '\\033[?1happ\\r\\n'; \
    printf 'got%s\\r\\n' \"$(dd bs=1 count=3 2>/dev/null | od -An -tx1)\"; \
    printf '\\033[?1lnormal\\r\\n'; \
    printf 'got%s\\r\\n' \"$(dd bs=1 count=3 2>/dev/null | od -An -tx1)\"; \
    sleep 1000";

#[test]
fn send_keys_follows_the_application_cursor_mode() {
    let wr = with_term("keys", CURSOR_KEYS_DUMP);
    screen_shows(&wr, "keys", "app");
    wr.ok(&["send", "keys", "--keys", "Up"]);
    screen_shows(&wr, "keys", "got 1b 4f 41");
    screen_shows(&wr, "keys", "normal");
    wr.ok(&["send", "keys", "--keys", "Up"]);
    let s = screen_shows(&wr, "keys", "got 1b 5b 41");
    assert!(s.contains("got 1b 4f 41"), "{s}");
    // A plain (not --pty) entry has no screen: arrows in normal mode.
    wr.ok(&[
        "run",
        "--name",
        "pipe",
        "--stdin",
        "stream",
        "--",
        "sh",
        "-c",
        "printf 'got%s\\n' \"$(dd bs=1 count=3 2>/dev/null | od -An -tx1)\"",
    ]);
    wr.ok(&["send", "pipe", "--keys", "Up"]);
    wr.ok(&["wait", "pipe", "--timeout", "20s"]);
    let log = wr.ok(&["logs", "pipe"]).text();
    assert!(log.contains("got 1b 5b 41"), "{log}");
}

impl Tmux {
    /// The pane's screen, trailing blanks of each line cut.
    fn screen(&self) -> String {
        let s = self.capture("t");
        s.lines().map(|l| l.trim_end().to_string() + "\n").collect()
    }

    fn shows(&self, needle: &str) -> String {
        let mut last = String::new();
        let ok = try_wait_until(SOON, || {
            last = self.screen();
            last.contains(needle)
        });
        assert!(ok, "the pane never showed {needle:?}; it showed:\n{last}");
        last
    }

    /// A session `t` of 24x80 running `script` under sh.
    fn session_24x80(&self, script: &str) {
        self.session("t", 24, 80, script);
    }

    fn pane_shows(&self, name: &str, needle: &str) {
        let mut last = String::new();
        let ok = try_wait_until(SOON, || {
            last = self.capture(name);
            last.contains(needle)
        });
        assert!(
            ok,
            "pane {name} never showed {needle:?}; it showed:\n{last}"
        );
    }
}

/// A pane script that attaches to `sel`, and once detached clears the pane, then attaches
/// again once the file `go` exists in the test's folder.
fn attach_twice(wr: &Wr, sel: &str, extra: &str) -> String {
    format!(
        "export WRANGLE_HOME='{home}' {marker}='{root}' TERM=xterm-256color; \
         '{bin}' attach {extra} {sel}; clear; echo cleared; \
         while [ ! -e '{root}/go' ]; do sleep 0.05; done; \
         '{bin}' attach {extra} {sel}; echo attach-exit-$?; exec sleep 1000000",
        home = wr.home().display(),
        marker = MARKER,
        root = wr.root.display(),
        bin = BIN,
    )
}

/// Detaches the pane's client, checks the pane was cleared, and lets it attach again.
fn detach_and_come_back(wr: &Wr, tmux: &Tmux) {
    tmux.run(&["send-keys", "-t", "t", "C-\\"]);
    let cleared = tmux.shows("cleared");
    assert!(
        !cleared.contains("line 1") && !cleared.contains("HEADER"),
        "{cleared}"
    );
    std::fs::write(wr.root.join("go"), "").expect("write go");
}

#[test]
fn reattach_redraws_the_same_screen() {
    let wr = with_term("dash", DASHBOARD);
    screen_shows(&wr, "dash", "done drawing");
    let tmux = Tmux::new(&wr);
    tmux.session_24x80(&attach_twice(&wr, "dash", ""));
    let first = tmux.shows("done drawing");
    assert!(first.starts_with(" HEADER of the dashboard\n"), "{first}");
    assert!(first.contains("    count 05999\n"), "{first}");
    assert_eq!(
        first,
        screen(&wr, "dash", &[]),
        "the pane shows what screen says"
    );
    // Detach (Ctrl-\); the pane's shell clears it and attaches again.
    detach_and_come_back(&wr, &tmux);
    let again = tmux.shows("done drawing");
    assert_eq!(again, first, "the re-attached screen differs");
}

#[test]
fn reattach_to_less_shows_the_same_screen() {
    let wr = Wr::new();
    let file = numbered_file(&wr, 300);
    wr.ok(&[
        "run",
        "--name",
        "pager",
        "--pty",
        "--size",
        "24x80",
        "--env",
        "TERM=xterm-256color",
        "--",
        "less",
        &file,
    ]);
    screen_shows(&wr, "pager", "line 023");
    // Move about so that the screen is not just the first page.
    for _ in 0..5 {
        wr.ok(&["send", "pager", "--keys", "Space"]);
    }
    wr.ok(&["send", "pager", "--keys", "k", "k"]);
    screen_shows(&wr, "pager", "line 114");
    let tmux = Tmux::new(&wr);
    tmux.session_24x80(&attach_twice(&wr, "pager", ""));
    let first = tmux.shows("line 114");
    detach_and_come_back(&wr, &tmux);
    let again = tmux.shows("line 114");
    assert_eq!(again, first, "the re-attached screen differs");
}

/// The size of `sel`'s terminal as its screen has it: (rows, cols).
fn term_size(wr: &Wr, sel: &str) -> (u64, u64) {
    let v = wr.ok(&["screen", sel, "--json"]).json();
    (
        v["screen"]["rows"].as_u64().unwrap_or(0),
        v["screen"]["cols"].as_u64().unwrap_or(0),
    )
}

fn size_becomes(wr: &Wr, sel: &str, want: (u64, u64)) {
    let mut last = (0, 0);
    let ok = try_wait_until(SOON, || {
        last = term_size(wr, sel);
        last == want
    });
    assert!(
        ok,
        "the terminal of {sel} never became {want:?}; it is {last:?}"
    );
}

/// A pane script running `wrangle attach ARGS`, then saying how it ended.
fn attach_script(wr: &Wr, args: &str, tag: &str) -> String {
    format!(
        "export WRANGLE_HOME='{home}' {marker}='{root}' TERM=xterm-256color; \\
         '{bin}' attach {args}; echo {tag}-exit-$?; exec sleep 1000000",
        home = wr.home().display(),
        marker = MARKER,
        root = wr.root.display(),
        bin = BIN,
    )
}

#[test]
fn read_only_viewers_never_resize_and_detach_with_enter_tilde_dot() {
    let wr = with_term("term", "echo hello; exec sleep 1000000");
    screen_shows(&wr, "term", "hello");
    let tmux = Tmux::new(&wr);
    tmux.session("ro", 30, 100, &attach_script(&wr, "--read-only term", "ro"));
    tmux.pane_shows("ro", "hello");
    assert_eq!(
        term_size(&wr, "term"),
        (24, 80),
        "a read-only attach resized it"
    );
    // An interactive client sets the size; the viewer's window changing does not.
    tmux.session("rw", 40, 120, &attach_script(&wr, "term", "rw"));
    size_becomes(&wr, "term", (40, 120));
    tmux.run(&["resize-window", "-t", "ro", "-x", "90", "-y", "20"]);
    // Keys do not reach the process; Enter ~ . detaches.
    tmux.run(&["send-keys", "-t", "ro", "x", "Enter", "~", "."]);
    tmux.pane_shows("ro", "ro-exit-0");
    assert!(
        tmux.capture("ro").contains("detached from term"),
        "{}",
        tmux.capture("ro")
    );
    assert_eq!(term_size(&wr, "term"), (40, 120));
    assert!(
        !wr.logs_text("term").contains('x'),
        "{}",
        wr.logs_text("term")
    );
}

#[test]
fn the_terminal_takes_the_size_of_the_most_recent_interactive_client() {
    let wr = with_term("term", "echo hello; exec sleep 1000000");
    screen_shows(&wr, "term", "hello");
    let tmux = Tmux::new(&wr);
    tmux.session("a", 30, 100, &attach_script(&wr, "term", "a"));
    size_becomes(&wr, "term", (30, 100));
    tmux.session("b", 40, 120, &attach_script(&wr, "term", "b"));
    size_becomes(&wr, "term", (40, 120));
    // The most recent one leaves: the one before's size comes back.
    tmux.run(&["send-keys", "-t", "b", "C-\\"]);
    tmux.pane_shows("b", "b-exit-0");
    size_becomes(&wr, "term", (30, 100));
    // Its window changes: it is the most recent again, with its new size.
    tmux.run(&["resize-window", "-t", "a", "-x", "90", "-y", "35"]);
    size_becomes(&wr, "term", (35, 90));
}

#[test]
fn an_attached_client_that_falls_behind_gets_a_redraw_not_a_gap() {
    let wr = with_term(
        "flood",
        "read x; head -c 8000000 /dev/zero | tr '\\0' y; echo; echo finished; exec sleep 1000000",
    );
    wr.ok(&["ls"]);
    let mut raw = Raw::connect(&wr.socket());
    raw.hello();
    raw.send(
        REQUEST,
        0,
        1,
        br#"{"op":"attach","sel":{"targets":["flood"]},"read_only":true,"replay":65536}"#,
    );
    let first = raw.read().expect("the attached event");
    assert_eq!(first.json()["event"], "attached", "{:?}", first.json());
    // The client reads nothing while 8 MB go by (the daemon keeps 256 KiB).
    wr.ok(&["send", "flood", "go"]);
    wr.wait_log("flood", "finished");
    wr.ok(&["stop", "flood"]);
    let (mut screens, mut missed, mut last_draw) = (0, 0, String::new());
    while let Some(f) = raw.read() {
        if f.id != 1 {
            continue;
        }
        if f.kind == EVENT {
            let v = f.json();
            match v["event"].as_str() {
                Some("screen") => {
                    screens += 1;
                    last_draw = v["draw"].as_str().unwrap_or_default().to_string();
                }
                Some("missed") => missed += 1,
                _ => {}
            }
        }
        if f.kind == RESPONSE || f.kind == ERROR {
            break;
        }
    }
    assert_eq!(missed, 0, "a terminal attach was told of a gap");
    assert!(screens >= 1, "no redraw was sent");
    assert!(last_draw.contains("yyyy"), "{last_draw:?}");
}

#[test]
fn the_screen_is_rebuilt_after_the_daemon_is_replaced() {
    let wr = with_term("dash", DASHBOARD);
    let before = screen_shows(&wr, "dash", "done drawing");
    assert_eq!(wr.status("dash")["title"], "dash title");
    // Killed: the keeper starts another daemon, which rebuilds the screen from the log.
    let daemon = wr.daemon_pid().expect("a daemon answers");
    kill(daemon, libc::SIGKILL);
    wait_until("a new daemon answers", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != daemon)
    });
    assert_eq!(screen(&wr, "dash", &[]), before);
    assert_eq!(wr.status("dash")["title"], "dash title");
    // Replaced by an upgrade: the same.
    wr.ok(&["upgrade"]);
    assert_eq!(screen(&wr, "dash", &[]), before);
}

/// A daemon that failed by itself (SIGABRT: the release build aborts on a panic) may have
/// been killed by what its screen parser was fed: the next one starts that entry's screen blank
/// instead of replaying the log into it, and shows what comes next. (A daemon killed from
/// outside is rebuilt from the log: see the test above.)
#[test]
fn after_a_daemon_aborts_the_screen_starts_blank_and_goes_on() {
    let wr = with_term(
        "ab",
        "printf 'old text\\n'; read x; printf 'new text\\n'; exec sleep 1000000",
    );
    screen_shows(&wr, "ab", "old text");
    let daemon = wr.daemon_pid().expect("a daemon answers");
    kill(daemon, libc::SIGABRT);
    wait_until("a new daemon answers", SOON, || {
        wr.daemon_pid().is_some_and(|p| p != daemon)
    });
    let blank = screen(&wr, "ab", &[]);
    assert!(
        !blank.contains("old text"),
        "replayed after an abort:\n{blank}"
    );
    wr.ok(&["send", "ab", "go\n"]);
    screen_shows(&wr, "ab", "new text");
}
