//! What a new user reaches for reads well and types easily: `ls` fitting the terminal, local
//! times, `status` showing the whole spec, merged logs, event texts that say why, suggestions
//! for typos, several names without `--all`, compound durations, `edit`, and the guards on
//! `save` and `rm`. Terminal tests run the client in a tmux pane of their own.

mod common;

use common::tmux::Tmux;
use common::*;
use std::process::Command;

impl Tmux {
    /// Runs `wrangle ARGS` (then a marker line) in a new pane of `cols` columns.
    fn wrangle(wr: &Wr, cols: u16, env: &str, args: &str) -> Tmux {
        let tmux = Tmux::new(wr);
        let script = format!(
            "env -u COLUMNS -u NO_COLOR {env} {ours} '{BIN}' {args}; echo wrangle-exit-$?; \
             exec sleep 1000000",
            ours = Tmux::env(wr),
        );
        tmux.session("t", 50, cols, &script);
        wait_until("the command ended in the pane", SOON, || {
            tmux.screen(false).contains("wrangle-exit-")
        });
        tmux
    }

    /// The pane's text, wrapped lines joined (so a wrapped line shows as a long one); with
    /// `escapes`, colours as escape sequences.
    fn screen(&self, escapes: bool) -> String {
        let mut a = vec!["capture-pane", "-p", "-J", "-t", "t"];
        if escapes {
            a.push("-e");
        }
        self.run(&a)
    }
}

/// Entries with long commands, one with a newline in it.
fn long_entries(wr: &Wr) {
    for i in 0..6 {
        let script = format!(
            "sleep {}; echo this is a rather long command line that no eighty column terminal \
             can show on one line {i}",
            unique_secs()
        );
        wr.start(&["--name", &format!("long{i}"), "--shell", "--", &script]);
    }
    wr.start(&[
        "--name",
        "nl",
        "--shell",
        "--",
        &format!("sleep {}\necho second line", unique_secs()),
    ]);
    wait_until("all running", SOON, || {
        wr.ls().iter().all(|e| e["state"] == "running")
    });
}

#[test]
fn ls_fits_an_80_column_terminal() {
    let wr = Wr::new();
    long_entries(&wr);
    let tmux = Tmux::wrangle(&wr, 80, "", "ls");
    let screen = tmux.screen(false);
    let lines: Vec<&str> = screen
        .lines()
        .take_while(|l| !l.starts_with("wrangle-exit-"))
        .collect();
    assert_eq!(lines.len(), 8, "one line per entry and a header:\n{screen}");
    for l in &lines {
        assert!(
            l.chars().count() <= 80,
            "a line wider than 80 columns:\n{screen}"
        );
    }
    assert!(screen.contains("wrangle-exit-0"), "{screen}");
    assert!(lines[1].ends_with('…'), "long command not cut:\n{screen}");
    assert!(
        lines[7].contains("\\necho"),
        "newline not shown as \\n:\n{screen}"
    );
    // On a terminal, states are coloured.
    let colours = tmux.screen(true);
    assert!(colours.contains("\x1b[32mrunning"), "{colours:?}");

    // NO_COLOR turns colour off on a terminal.
    drop(tmux);
    let tmux = Tmux::wrangle(&wr, 80, "NO_COLOR=1", "ls");
    let colours = tmux.screen(true);
    assert!(!colours.contains("\x1b[32m"), "{colours:?}");
}

#[test]
fn ls_into_a_pipe_keeps_lines_whole_and_takes_width_color_and_sort() {
    let wr = Wr::new();
    long_entries(&wr);
    let text = wr.ok(&["ls"]).text();
    assert!(
        text.contains("can show on one line 3"),
        "a pipe gets whole lines: {text}"
    );
    assert!(!text.contains('\x1b'), "no colour into a pipe: {text:?}");
    assert!(text.contains("sleep"));
    assert_eq!(
        text.lines().count(),
        8,
        "the newline in a command is escaped: {text}"
    );
    let cut = wr.ok(&["ls", "--width", "50"]).text();
    assert!(
        cut.lines().all(|l| l.chars().count() <= 50) && cut.contains('…'),
        "{cut}"
    );
    let mut c = wr.cmd(&["ls"]);
    c.env("COLUMNS", "60");
    let o = finish(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        CMD_DEADLINE,
        "ls",
    );
    assert!(
        o.text().lines().all(|l| l.chars().count() <= 60),
        "{}",
        o.text()
    );
    let coloured = wr.ok(&["ls", "--color", "always"]).text();
    assert!(coloured.contains("\x1b[32mrunning\x1b[0m"), "{coloured:?}");
    wr.code(&["ls", "--color", "sometimes"], 2);

    // --sort: names in order; restarts largest first.
    wr.ok(&["restart", "long4"]);
    wr.ok(&["restart", "long4"]);
    wr.ok(&["restart", "long2"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls"];
        a.extend_from_slice(args);
        wr.ok(&a)
            .text()
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&["--sort", "name"]),
        ["long0", "long1", "long2", "long3", "long4", "long5", "nl"]
    );
    assert_eq!(names(&["--sort", "restarts"])[..2], ["long4", "long2"]);
    let o = wr.code(&["ls", "--sort", "size"], 2);
    assert!(o.stderr.contains("--sort"), "{}", o.stderr);
}

#[test]
fn counts_read_in_the_singular() {
    let wr = Wr::new();
    wr.start(&["--name", "one", "--", "sleep", &unique_secs()]);
    let o = wr.ok(&["save"]);
    assert_eq!(o.text().trim(), "saved 1 entry");
    let o = wr.ok(&["ping"]);
    assert!(o.text().contains(": 1 entry, "), "{}", o.text());
}

/// `wrangle ARGS` with TZ set.
fn in_zone(wr: &Wr, tz: &str, args: &[&str]) -> String {
    let mut c = wr.cmd(args);
    c.env("TZ", tz);
    let o = finish(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        CMD_DEADLINE,
        &args.join(" "),
    );
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    o.text()
}

#[test]
fn times_show_in_local_time_unless_utc() {
    let wr = Wr::new();
    wr.start(&["--name", "t", "--", "sh", "-c", "echo hi; exec sleep 1000"]);
    wr.wait_log("t", "hi");
    let created = |text: &str| -> String {
        text.lines()
            .find(|l| l.starts_with("created:"))
            .unwrap_or_else(|| panic!("no created line: {text}"))
            .trim_start_matches("created:")
            .trim()
            .to_string()
    };
    let kolkata = created(&in_zone(&wr, "IST-5:30", &["status", "t"]));
    assert!(kolkata.ends_with("+05:30"), "{kolkata}");
    let posix = created(&in_zone(&wr, "XYZ-3", &["status", "t"]));
    assert!(posix.ends_with("+03:00"), "{posix}");
    let utc = created(&in_zone(&wr, "IST-5:30", &["status", "--utc", "t"]));
    assert!(utc.ends_with('Z'), "{utc}");
    // The same instant: local hours are UTC's plus 5:30.
    let mins = |s: &str| -> i64 {
        let hm = &s[11..16];
        hm[..2].parse::<i64>().unwrap() * 60 + hm[3..].parse::<i64>().unwrap()
    };
    assert_eq!(
        (mins(&kolkata) - mins(&utc)).rem_euclid(24 * 60),
        5 * 60 + 30,
        "{kolkata} vs {utc}"
    );
    // Log timestamps too.
    let stamped = in_zone(&wr, "IST-5:30", &["logs", "t", "--timestamps"]);
    let first = stamped.split_whitespace().next().unwrap_or_default();
    assert!(first.ends_with("+05:30"), "{stamped}");
    let stamped = in_zone(&wr, "IST-5:30", &["logs", "t", "--timestamps", "--utc"]);
    let first = stamped.split_whitespace().next().unwrap_or_default();
    assert!(first.ends_with('Z'), "{stamped}");
}

/// The value of `key:` in `status` text.
fn field(text: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))[prefix.len()..]
        .trim()
        .to_string()
}

#[test]
fn status_shows_the_whole_spec() {
    let wr = Wr::new();
    let log = wr.root.join("err.log");
    wr.start(&[
        "--name",
        "spec",
        "--restart",
        "on-failure",
        "--max-restarts",
        "7",
        "--backoff",
        "500ms,3,1m30s",
        "--min-uptime",
        "1m30s",
        "--stop-timeout",
        "1.5s",
        "--stop-signal",
        "INT",
        "--stdin",
        "stream",
        "--stderr",
        log.to_str().unwrap(),
        "--log-max-size",
        "2M",
        "--log-keep",
        "1",
        "--",
        "sleep",
        &unique_secs(),
    ]);
    let text = wr.ok(&["status", "spec"]).text();
    assert_eq!(field(&text, "stop"), "INT, KILL after 1.5s");
    assert_eq!(field(&text, "restart"), "on-failure");
    assert_eq!(field(&text, "backoff"), "500ms, x3, at most 1m30s");
    assert_eq!(field(&text, "max restarts"), "7 in a row");
    assert_eq!(field(&text, "min uptime"), "1m30s");
    assert_eq!(field(&text, "stdin"), "stream (send, attach)");
    assert_eq!(field(&text, "stdout"), "log");
    assert_eq!(field(&text, "stderr"), format!("file {}", log.display()));
    assert_eq!(field(&text, "terminal"), "no");
    assert_eq!(
        field(&text, "logs"),
        "rotated at 2.0M, 1 segment kept per run"
    );
    // The JSON carries the spec too, without the environment.
    let js = wr.status("spec");
    assert_eq!(js["spec"]["max_restarts"], 7);
    assert_eq!(js["spec"]["min_uptime_ms"], 90_000);
    assert!(js["spec"]["env"].as_object().is_none_or(|m| m.is_empty()));

    wr.start(&[
        "--name",
        "term",
        "--pty",
        "--size",
        "30x100",
        "--",
        "sleep",
        &unique_secs(),
    ]);
    let text = wr.ok(&["status", "term"]).text();
    assert_eq!(field(&text, "terminal"), "yes, 30x100");
    assert_eq!(field(&text, "restart"), "never");
    assert_eq!(
        field(&text, "logs"),
        "rotated at 10M, 9 segments kept per run"
    );
}

#[test]
fn compound_durations_are_accepted_where_durations_are() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "d",
        "--stop-timeout",
        "1m30s",
        "--min-uptime",
        "1h30m",
        "--",
        "sleep",
        &unique_secs(),
    ]);
    let js = wr.status("d");
    assert_eq!(js["stop_timeout_ms"], 90_000);
    assert_eq!(js["spec"]["min_uptime_ms"], 5_400_000);
    // What status prints pastes back.
    let text = wr.ok(&["status", "d"]).text();
    assert_eq!(field(&text, "stop"), "TERM, KILL after 1m30s");
    let o = wr.code(&["run", "--stop-timeout", "30s1m", "--", "true"], 2);
    assert!(o.stderr.contains("\"30s1m\""), "{}", o.stderr);
    // In a services file too.
    std::fs::write(
        wr.root.join("wrangle.json"),
        format!(
            r#"{{"services": {{"svc": {{"cmd": ["sleep", "{}"], "stop_timeout": "2m15s"}}}}}}"#,
            unique_secs()
        ),
    )
    .unwrap();
    wr.ok(&["up"]);
    assert_eq!(wr.status("svc")["stop_timeout_ms"], 135_000);
}

/// The messages of `sel`'s events of `kind`.
fn event_messages(wr: &Wr, sel: &str, kind: &str) -> Vec<String> {
    wr.status(sel)["events"]
        .as_array()
        .expect("status has events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn an_idle_profile_restart_says_so() {
    let wr = Wr::new();
    std::fs::write(
        wr.root.join("wrangle.json"),
        format!(
            r#"{{"services": {{"idler": {{"cmd": ["sleep", "{}"],
                "profiles": {{"quiet": {{"env": {{"QUIET": "1"}}}}}},
                "idle_profile": {{"after": "200ms", "profile": "quiet"}}}}}}}}"#,
            unique_secs()
        ),
    )
    .unwrap();
    wr.ok(&["up"]);
    // (Polled with a bare `ls`: a command naming the service touches it.)
    wait_until("the idle switch restarted it", SOON, || {
        wr.ls()
            .iter()
            .any(|e| e["profile"] == "quiet" && e["state"] == "running")
    });
    let msgs = event_messages(&wr, "idler", "restarting");
    assert!(
        msgs[0].contains("idle profile (quiet)") && !msgs[0].contains("user"),
        "{msgs:?}"
    );
    // A user's restart still says it was the user's.
    wr.ok(&["restart", "idler"]);
    let msgs = event_messages(&wr, "idler", "restarting");
    assert!(msgs.last().unwrap().contains("user's request"), "{msgs:?}");
}

#[test]
fn a_cron_restart_says_so() {
    // The daemon's clock runs 60 times as fast (faketime, as tests/cron.rs does): a cron
    // minute comes within about a real second.
    let wr = Wr::new();
    let plain = wr.cmd(&["daemon", "--detach"]);
    let mut c = Command::new("faketime");
    c.args(["-m", "-f", "+0 x60", BIN, "daemon", "--detach"]);
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(&wr.root).stdin(std::process::Stdio::null());
    let o = finish(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run faketime (Debian package faketime; .ci/run installs it)"),
        CMD_DEADLINE,
        "faketime wrangle daemon --detach",
    );
    assert_eq!(o.code, 0, "{o:?}");
    std::fs::write(
        wr.root.join("wrangle.json"),
        format!(
            r#"{{"services": {{"job": {{"cmd": ["sleep", "{}"], "cron_restart": "* * * * *"}}}}}}"#,
            unique_secs()
        ),
    )
    .unwrap();
    wr.ok(&["up"]);
    wait_until("the cron restart happened", SOON, || {
        !event_messages(&wr, "job", "restarting").is_empty()
    });
    let msgs = event_messages(&wr, "job", "restarting");
    assert!(
        msgs[0].contains("cron_restart") && !msgs[0].contains("user"),
        "{msgs:?}"
    );
}

#[test]
fn typos_get_suggestions_and_a_bare_wrangle_gets_a_usage() {
    let wr = Wr::new();
    let o = wr.code(&["stpo", "web"], 2);
    assert!(o.stderr.contains("did you mean stop?"), "{}", o.stderr);
    let o = wr.code(&["restrat"], 2);
    assert!(o.stderr.contains("did you mean restart?"), "{}", o.stderr);
    let o = wr.code(&["frobnicate"], 2);
    assert!(
        o.stderr.contains("unknown command \"frobnicate\""),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("did you mean"), "{}", o.stderr);

    let o = wr.code(&[], 2);
    for cmd in ["run", "ls", "logs", "stop", "restart", "rm", "attach", "up"] {
        assert!(
            o.stderr.contains(&format!("  {cmd} ")) || o.stderr.contains(&format!("| {cmd} ")),
            "{cmd}: {}",
            o.stderr
        );
    }

    wr.start(&["--name", "web", "--", "sleep", &unique_secs()]);
    wr.start(&["--name", "webs", "--", "sleep", &unique_secs()]);
    wr.start(&["--name", "db", "--", "sleep", &unique_secs()]);
    let o = wr.code(&["stop", "webb"], 3);
    assert!(
        o.stderr.contains("did you mean web or webs?"),
        "{}",
        o.stderr
    );
    let o = wr.code(&["stop", "zzzzzz"], 3);
    assert!(!o.stderr.contains("did you mean"), "{}", o.stderr);
}

#[test]
fn several_names_act_without_all_but_filters_still_need_it() {
    let wr = Wr::new();
    for n in ["a", "b", "c"] {
        wr.start(&["--name", n, "--tag", "t", "--", "sleep", &unique_secs()]);
    }
    let o = wr.ok(&["stop", "a", "b"]);
    assert!(o.text().contains("a (id 1)") && o.text().contains("b (id 2)"));
    assert_eq!(wr.state("c"), "running");
    wr.ok(&["rm", "a", "2"]);
    let names: Vec<String> = wr
        .ls()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["c"]);
    wr.start(&["--name", "d", "--tag", "t", "--", "sleep", &unique_secs()]);
    // A filter matching several still needs --all.
    let o = wr.code(&["stop", "--tag", "t"], 4);
    assert!(o.stderr.contains("--all"), "{}", o.stderr);
    wr.ok(&["stop", "--tag", "t", "--all"]);
}

#[test]
fn saving_nothing_over_a_saved_set_needs_force() {
    let wr = Wr::new();
    wr.start(&["--name", "keepme", "--", "sleep", &unique_secs()]);
    wr.ok(&["save"]);
    wr.ok(&["stop", "keepme"]);
    let o = wr.code(&["save"], 1);
    assert!(
        o.stderr.contains("--force") && o.stderr.contains("keepme"),
        "{}",
        o.stderr
    );
    // The saved set is intact: resurrect starts it.
    wr.ok(&["resurrect"]);
    assert_eq!(wr.state("keepme"), "running");
    wr.ok(&["stop", "keepme"]);
    let o = wr.ok(&["save", "--force"]);
    assert_eq!(o.text().trim(), "saved 0 entries");
    // An empty saved set may be saved over with nothing.
    wr.ok(&["save"]);
}

#[test]
fn rm_of_an_adopted_process_leaves_it_running_unless_kill() {
    let wr = Wr::new();
    let mut outside = Command::new("sleep")
        .arg(unique_secs())
        .spawn()
        .expect("spawn sleep");
    let pid = outside.id() as i32;
    wr.ok(&["add", &pid.to_string(), "--name", "ext"]);
    let o = wr.ok(&["rm", "ext"]);
    assert!(o.text().contains("left running"), "{}", o.text());
    assert!(wr.ls().is_empty());
    assert!(alive(pid), "rm killed a process it only adopted");

    wr.ok(&["add", &pid.to_string(), "--name", "ext"]);
    wr.ok(&["rm", "--kill", "ext"]);
    let _ = outside.wait();
    assert!(!alive(pid));
    assert!(wr.ls().is_empty());
}

#[test]
fn logs_of_several_entries_merge_by_time_with_name_prefixes_then_follow() {
    let wr = Wr::new();
    let trig = wr.root.join("trig");
    let script = |first: &str, later: &str| {
        format!(
            "echo {first}; while [ ! -e '{t}' ]; do sleep 0.02; done; echo {later}; exec sleep {}",
            unique_secs(),
            t = trig.display()
        )
    };
    wr.start(&[
        "--name",
        "api",
        "--tag",
        "t",
        "--shell",
        "--",
        &script("api-1", "api-3"),
    ]);
    wr.wait_log("api", "api-1");
    wr.start(&[
        "--name",
        "worker",
        "--tag",
        "t",
        "--shell",
        "--",
        &script("worker-2", "worker-4"),
    ]);
    wr.wait_log("worker", "worker-2");

    let text = wr.ok(&["logs", "all"]).text();
    assert_eq!(text, "[api]    api-1\n[worker] worker-2\n", "{text}");
    // A selector matching several does the same; -n counts lines of them all.
    let text = wr.ok(&["logs", "--tag", "t", "-n", "1"]).text();
    assert_eq!(text, "[worker] worker-2\n");
    let js: Vec<serde_json::Value> = wr
        .ok(&["logs", "all", "--json"])
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(js[0]["name"], "api");
    assert_eq!(js[1]["line"], "worker-2");
    let coloured = wr.ok(&["logs", "all", "--color", "always"]).text();
    assert!(coloured.contains("\x1b[36m[api]\x1b[0m"), "{coloured:?}");
    assert!(coloured.contains("\x1b[33m[worker]\x1b[0m"), "{coloured:?}");
    wr.code(&["logs", "all", "-C", "1"], 2);

    // Then follow: the history once, then live lines of both.
    let mut f = Bg::spawn(wr.cmd(&["logs", "all", "-f"]));
    f.wait_for("[worker] worker-2\n");
    std::fs::write(&trig, b"").unwrap();
    f.wait_for("[api]    api-3\n");
    f.wait_for("[worker] worker-4\n");
    f.stop();
    let out = f.output();
    assert_eq!(out.matches("api-1").count(), 1, "{out}");
    assert_eq!(out.matches("worker-2").count(), 1, "{out}");
    assert!(
        out.starts_with("[api]    api-1\n[worker] worker-2\n"),
        "{out}"
    );
}

/// The environment of `pid` as KEY=VALUE strings.
fn env_of(pid: i32) -> Vec<String> {
    environ(pid)
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect()
}

#[test]
fn edit_changes_the_spec_for_the_next_start_or_at_once() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    let e = wr.start(&[
        "--name",
        "web",
        "--tag",
        "front",
        "--env",
        "OLD=1",
        "--",
        "sh",
        "-c",
        &format!("echo first; exec sleep {a}"),
    ]);
    let id = e["id"].as_u64().unwrap();
    wr.wait_log("web", "first");
    let pid = wr.status("web")["pid"].as_i64().unwrap() as i32;

    // Applies at the next start: the running process is untouched.
    let sub = wr.root.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let o = wr.ok(&[
        "edit",
        "web",
        "--cmd",
        &format!("sh -c 'echo second; exec sleep {b}'"),
        "--env",
        "NEW=2",
        "--unset-env",
        "OLD",
        "--cwd",
        "sub",
        "--restart",
        "on-failure",
        "--stop-timeout",
        "1m30s",
    ]);
    assert!(o.text().contains("edited web (id 1)"), "{}", o.text());
    let s = wr.status("web");
    assert_eq!(s["pid"].as_i64().unwrap() as i32, pid);
    assert!(alive(pid));
    assert_eq!(s["argv"][2], format!("echo second; exec sleep {b}"));
    assert_eq!(s["stop_timeout_ms"], 90_000);
    assert_eq!(s["spec"]["restart"], "on-failure");
    let text = wr.ok(&["status", "web"]).text();
    assert!(
        text.contains("spec edited: command, environment (NEW, OLD)"),
        "{text}"
    );

    // The next start runs the new spec, with the same id, labels and logs.
    wr.ok(&["restart", "web"]);
    wr.wait_log("web", "second");
    let s = wr.status("web");
    assert_eq!(s["id"], id);
    assert_eq!(s["tags"][0], "front");
    let pid2 = s["pid"].as_i64().unwrap() as i32;
    let env = env_of(pid2);
    assert!(env.contains(&"NEW=2".to_string()), "{env:?}");
    assert!(!env.iter().any(|v| v.starts_with("OLD=")), "{env:?}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid2}/cwd")).unwrap(),
        sub.canonicalize().unwrap()
    );
    let runs = wr.ok(&["logs", "web", "--run", "all"]).text();
    assert!(runs.contains("first") && runs.contains("second"), "{runs}");

    // --restart-now: at once.
    let c = unique_secs();
    wr.ok(&[
        "edit",
        "web",
        "--shell",
        &format!("echo third; exec sleep {c}"),
        "--restart-now",
    ]);
    wr.wait_log("web", "third");
    assert_ne!(wr.status("web")["pid"].as_i64().unwrap() as i32, pid2);

    // The change persists across a daemon restart (the registry holds it).
    wr.ok(&["shutdown"]);
    let s = wr.status("web");
    assert_eq!(s["argv"][0], format!("echo third; exec sleep {c}"));
    assert!(s["shell"].as_bool().unwrap());

    // Nothing to change, a bad value, a service: refused.
    wr.code(&["edit", "web"], 2);
    wr.code(&["edit", "web", "--restart", "sometimes"], 2);
    wr.code(&["edit", "web", "--cmd", "a", "--shell", "b"], 2);
    std::fs::write(
        wr.root.join("wrangle.json"),
        format!(
            r#"{{"services": {{"svc": {{"cmd": ["sleep", "{}"]}}}}}}"#,
            unique_secs()
        ),
    )
    .unwrap();
    wr.ok(&["up"]);
    let o = wr.code(&["edit", "svc", "--env", "A=1"], 2);
    assert!(o.stderr.contains("services file"), "{}", o.stderr);
}
