//! Services files from the outside: `wrangle up` (idempotent, changed services restarted,
//! `after` + `ready` order with a real port), build-then-swap, profiles and the idle switch,
//! `down`, Procfiles, bad files, and `wait --log/--port`.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn write(p: &Path, text: &str) {
    std::fs::write(p, text).expect("write a test file");
}

fn pid(v: &Value) -> i64 {
    v["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {v}"))
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Perl (in every Debian base system) listening on `port` after `delay` seconds.
fn listener(port: u16, delay: &str) -> String {
    format!(
        "sleep {delay}; exec perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>q(127.0.0.1),LocalPort=>{port},Listen=>5,ReuseAddr=>1) or die qq(bind: $!); print qq(listening\\n); $|=1; sleep 1000'"
    )
}

fn event_ms(status: &Value, kind: &str) -> Vec<u64> {
    status["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["ts_ms"].as_u64().expect("ts_ms"))
        .collect()
}

#[test]
fn up_twice_changes_nothing_and_a_changed_env_restarts_only_that_service() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    let file = wr.root.join("wrangle.json");
    let doc = |v: &str| {
        format!(
            r#"{{"project": "app", "services": {{
  "a": {{"cmd": ["sleep", "{a}"]}},
  "b": {{"shell": "exec sleep {b}", "env": {{"MODE": "{v}", "PORT": 8080}}}}
}}}}"#
        )
    };
    write(&file, &doc("one"));
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("created app/a"), "{out}");
    assert!(out.contains("created app/b"), "{out}");
    let (pa, pb) = (pid(&wr.status("a")), pid(&wr.status("b")));
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("app/a (id 1) is unchanged"), "{out}");
    assert!(out.contains("b (id 2) is unchanged"), "{out}");
    assert_eq!(pid(&wr.status("a")), pa);
    assert_eq!(pid(&wr.status("b")), pb);
    assert_eq!(procs_with_arg(&a).len(), 1);

    write(&file, &doc("two"));
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("a (id 1) is unchanged"), "{out}");
    assert!(out.contains("restarted app/b"), "{out}");
    assert_eq!(pid(&wr.status("a")), pa, "a was not touched");
    let sb = wr.ok(&["status", "--json", "--show-env", "b"]).json()[0].clone();
    assert_ne!(pid(&sb), pb);
    assert_eq!(sb["env"]["MODE"], "two");
    assert_eq!(sb["env"]["PORT"], "8080");
    assert!(!alive(pb as i32), "the old b is gone");
    assert_eq!(procs_with_arg(&b).len(), 1, "exactly one b runs");
    assert!(sb["service_file"]
        .as_str()
        .is_some_and(|f| f.ends_with("wrangle.json")));
    // A stopped service is started again by `up`; the running one is left alone.
    wr.ok(&["stop", "a"]);
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("started a"), "{out}");
    assert!(out.contains("b (id 2) is unchanged"), "{out}");
    assert_eq!(procs_with_arg(&a).len(), 1);
}

#[test]
fn after_and_ready_start_services_in_order_with_a_real_port() {
    let wr = Wr::new();
    let port = free_port();
    // api connects at once and fails if db does not listen yet: only the order saves it.
    let api = format!(
        "perl -MIO::Socket::INET -e 'IO::Socket::INET->new(PeerAddr=>q(127.0.0.1),PeerPort=>{port}) or do {{ print qq(refused\\n); exit 1 }}; print qq(connected\\n); $|=1; sleep 1000'"
    );
    let doc = serde_json::json!({"project": "app", "services": {
        "api": {"shell": api, "after": ["db", "cache"], "restart": "never"},
        "db": {"shell": listener(port, "0.7"), "ready": {"port": port, "timeout": "20s"}},
        "cache": {"shell": "sleep 0.4; echo warming; sleep 0.4; echo cache is ready; exec sleep 1000",
                  "ready": {"log": "is ready$"}}
    }});
    write(&wr.root.join("wrangle.json"), &doc.to_string());
    let out = wr.ok(&["up"]).text();
    // db and cache come before api whatever the file's order.
    let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s:?} not in {out}"));
    assert!(pos("created app/db") < pos("created app/api"), "{out}");
    assert!(pos("created app/cache") < pos("created app/api"), "{out}");
    wr.wait_log("api", "connected");
    assert_eq!(wr.state("api"), "running");
    // api started after cache's line and db's listener, read from the recorded times.
    let api_start = event_ms(&wr.status("api"), "started")[0];
    let cache_lines = wr
        .ok(&["logs", "cache", "--json", "-n", "100"])
        .text()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .find(|l| {
            l["line"]
                .as_str()
                .is_some_and(|t| t.contains("cache is ready"))
        })
        .expect("cache printed its line");
    assert!(api_start * 1000 >= cache_lines["ts_us"].as_u64().unwrap());
}

#[test]
fn a_dependency_that_never_gets_ready_keeps_its_dependents_from_starting() {
    let wr = Wr::new();
    let doc = serde_json::json!({"services": {
        "db": {"shell": "exec sleep 1000", "ready": {"log": "never printed", "timeout": "500ms"}},
        "api": {"shell": "exec sleep 1000", "after": ["db"]}
    }});
    write(&wr.root.join("wrangle.json"), &doc.to_string());
    let o = wr.code(&["up"], 1);
    assert!(o.stderr.contains("api: not started"), "{}", o.stderr);
    assert!(o.stderr.contains("never printed"), "{}", o.stderr);
    assert!(
        wr.run(&["status", "api"]).code == 3,
        "api was never created"
    );
}

#[test]
fn a_failed_build_keeps_the_old_process_and_a_good_one_swaps() {
    let wr = Wr::new();
    let secs = unique_secs();
    let doc = serde_json::json!({"services": {"api": {
        "cmd": ["sleep", secs],
        "build": "echo building; while [ ! -e go ]; do sleep 0.05; done; test -e ok || { echo 'error: it does not compile'; exit 7; }; echo built"
    }}});
    write(&wr.root.join("wrangle.json"), &doc.to_string());
    write(&wr.root.join("go"), "");
    write(&wr.root.join("ok"), "");
    wr.ok(&["up"]);
    let p1 = pid(&wr.status("api"));
    assert!(wr.logs_text("api").is_empty());
    let build_log = String::from_utf8_lossy(&wr.logs("api", &["--build"])).into_owned();
    assert!(build_log.contains("built"), "{build_log}");

    // A failing build: the old process serves on, restart exits 1 with the log's tail.
    std::fs::remove_file(wr.root.join("ok")).unwrap();
    let o = wr.code(&["restart", "api"], 1);
    assert!(
        o.stderr.contains("error: it does not compile"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("exit code 7"), "{}", o.stderr);
    let s = wr.status("api");
    assert_eq!(s["state"], "running");
    assert_eq!(pid(&s), p1);
    assert!(alive(p1 as i32));
    assert!(s["build"].as_str().unwrap().contains("failed"), "{s}");
    let build_log = String::from_utf8_lossy(&wr.logs("api", &["--build"])).into_owned();
    assert!(build_log.contains("does not compile"), "{build_log}");

    // A slow good build: the old process runs all through it, then the new one replaces it.
    std::fs::remove_file(wr.root.join("go")).unwrap();
    write(&wr.root.join("ok"), "");
    let mut restart = Bg::spawn(wr.cmd(&["restart", "api"]));
    wait_until("the build started", SOON, || {
        String::from_utf8_lossy(&wr.logs("api", &["--build"])).contains("building")
            && wr.status("api")["build"]
                .as_str()
                .is_some_and(|b| b.contains("running"))
    });
    assert!(alive(p1 as i32), "the old process serves during the build");
    assert_eq!(pid(&wr.status("api")), p1);
    write(&wr.root.join("go"), "");
    wait_until("restart finished", SOON, || !restart.running());
    let s = wr.status("api");
    assert_eq!(s["state"], "running");
    assert_ne!(pid(&s), p1);
    assert!(!alive(p1 as i32));
    assert_eq!(procs_with_arg(&secs).len(), 1);
    // Every build's log is kept and addressable.
    let all = String::from_utf8_lossy(&wr.logs("api", &["--build", "--run", "all"])).into_owned();
    assert_eq!(all.matches("building").count(), 3, "{all}");
}

#[test]
fn profiles_switch_and_the_idle_switch_goes_back() {
    let wr = Wr::new();
    let (base, dev) = (unique_secs(), unique_secs());
    let doc = serde_json::json!({"services": {"api": {
        "cmd": ["sleep", base],
        "profiles": {"dev": {"cmd": ["sleep", dev], "env": {"MODE": "dev"}}},
        "idle_profile": {"after": "2s", "profile": null}
    }}});
    write(&wr.root.join("wrangle.json"), &doc.to_string());
    wr.ok(&["up"]);
    assert_eq!(procs_with_arg(&base).len(), 1);
    let o = wr.code(&["restart", "api", "--profile", "nope"], 2);
    assert!(o.stderr.contains("dev"), "names the profiles: {}", o.stderr);
    wr.ok(&["restart", "api", "--profile", "dev"]);
    let s = wr.status("api");
    assert_eq!(s["profile"], "dev");
    assert_eq!(s["argv"][1], dev.as_str());
    wait_until("dev runs alone", SOON, || {
        procs_with_arg(&dev).len() == 1 && procs_with_arg(&base).is_empty()
    });
    // `up` of the same file keeps the profile in use.
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("unchanged"), "{out}");
    // Untouched for 2s: back to the base spec by itself.
    wait_until("the idle switch", Duration::from_secs(30), || {
        procs_with_arg(&base).len() == 1 && procs_with_arg(&dev).is_empty()
    });
    let s = wr.status("api");
    assert!(s["profile"].is_null(), "{s}");
    assert!(!event_ms(&s, "idle").is_empty(), "{s}");
    wr.ok(&["restart", "api", "--profile", "dev"]);
    wr.ok(&["restart", "api", "--profile", "base"]);
    assert!(wr.status("api")["profile"].is_null());
}

#[test]
fn down_removes_the_files_services_and_up_drops_services_removed_from_the_file() {
    let wr = Wr::new();
    let file = wr.root.join("wrangle.json");
    write(
        &file,
        r#"{"project": "app", "services": {"a": {"shell": "exec sleep 1000"}, "b": {"shell": "exec sleep 1000"}}}"#,
    );
    wr.ok(&["up"]);
    wr.start(&["--name", "plain", "--", "sleep", "1000"]);
    write(
        &file,
        r#"{"project": "app", "services": {"a": {"shell": "exec sleep 1000"}}}"#,
    );
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("removed app/b"), "{out}");
    assert_eq!(wr.run(&["status", "b"]).code, 3);
    assert_eq!(wr.code(&["down", "nope"], 3).code, 3);
    wr.ok(&["down"]);
    assert_eq!(wr.run(&["status", "a"]).code, 3);
    assert_eq!(wr.state("plain"), "running", "not a service of the file");
}

#[test]
fn a_procfile_runs_through_the_shell_and_restarts_always() {
    let wr = Wr::new();
    write(
        &wr.root.join("Procfile"),
        "# comment\nweb: echo hello from $GREETING; sleep 1000\nonce: exit 0\n",
    );
    write(&wr.root.join(".env"), "GREETING=procfile\n");
    wr.ok(&["up"]);
    wr.wait_log("web", "hello from procfile");
    wait_until("once restarted by the always policy", SOON, || {
        wr.status("once")["restarts"].as_u64().unwrap_or(0) >= 1
    });
    wr.ok(&["down", "-f", "Procfile"]);
    assert!(wr.ls().is_empty());
}

#[test]
fn a_bad_file_names_the_key_path_and_line_and_changes_nothing() {
    let wr = Wr::new();
    let file = wr.root.join("wrangle.json");
    write(
        &file,
        "{\"services\": {\n  \"api\": {\n    \"cmd\": [\"true\"],\n    \"restrat\": \"always\"\n  }\n}}\n",
    );
    let o = wr.code(&["up"], 2);
    assert!(
        o.stderr.contains("wrangle.json:4:5: services.api.restrat"),
        "{}",
        o.stderr
    );
    write(
        &file,
        "{\"services\": {\n  \"api\": {\"cmd\": [\"true\"], \"max_restarts\": \"x\"}\n}}\n",
    );
    let o = wr.code(&["up"], 2);
    assert!(o.stderr.contains(":2:"), "{}", o.stderr);
    assert!(
        o.stderr.contains("services.api.max_restarts"),
        "{}",
        o.stderr
    );
    // Nothing was created (a first valid service does not slip through either).
    write(
        &file,
        r#"{"services": {"ok": {"cmd": ["sleep", "1000"]}, "bad": {"shell": 3}}}"#,
    );
    wr.code(&["up"], 2);
    assert!(wr.ls().is_empty());
}

#[test]
fn wait_for_a_log_line_or_a_port_and_fail_when_it_ends_first() {
    let wr = Wr::new();
    let port = free_port();
    wr.start(&[
        "--name",
        "srv",
        "--shell",
        "--",
        &format!("echo booting; {}", listener(port, "0.3")),
    ]);
    // A line printed before the wait counts.
    wr.wait_log("srv", "booting");
    wr.ok(&["wait", "srv", "--log", "^boot", "--timeout", "20s"]);
    wr.ok(&[
        "wait",
        "srv",
        "--port",
        &port.to_string(),
        "--timeout",
        "20s",
    ]);
    wr.code(
        &["wait", "srv", "--log", "never", "--timeout", "300ms"],
        124,
    );
    // A port someone else listens on is not this entry's.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let o = wr.code(
        &[
            "wait",
            "srv",
            "--port",
            &other.local_addr().unwrap().port().to_string(),
            "--timeout",
            "400ms",
        ],
        124,
    );
    assert!(o.stderr.contains("TCP port"), "{}", o.stderr);
    wr.start(&["--name", "short", "--shell", "--", "sleep 0.3; echo bye"]);
    let o = wr.code(&["wait", "short", "--log", "never", "--timeout", "20s"], 1);
    assert!(o.stderr.contains("ended"), "{}", o.stderr);
}

#[test]
fn a_stop_during_a_build_cancels_it_and_nothing_is_swapped() {
    let wr = Wr::new();
    let marker = format!("build-{}", unique_secs());
    let doc = serde_json::json!({"services": {"api": {
        "shell": "exec sleep 1000",
        "build": ["sh", "-c", "echo building; while [ ! -e go ]; do sleep 0.05; done", marker]
    }}});
    write(&wr.root.join("wrangle.json"), &doc.to_string());
    write(&wr.root.join("go"), "");
    wr.ok(&["up"]);
    let p1 = pid(&wr.status("api"));
    std::fs::remove_file(wr.root.join("go")).unwrap();
    let restart = Bg::spawn(wr.cmd(&["restart", "api", "--json"]));
    wait_until("the build runs", SOON, || {
        procs_with_arg(&marker).len() == 1
    });
    let o = wr.ok(&["stop", "api"]).text();
    assert!(o.contains("stopped"), "{o}");
    wait_until("the restart gave up", SOON, || {
        restart.output().contains("cancelled")
    });
    wait_until("the build is gone", SOON, || {
        procs_with_arg(&marker).is_empty()
    });
    let s = wr.status("api");
    assert_eq!(s["state"], "stopped");
    assert!(!alive(p1 as i32));
    assert!(s["build"].as_str().unwrap().contains("cancelled"), "{s}");
}

#[test]
fn a_ready_wait_on_an_entry_in_backoff_fails_when_it_is_stopped() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "flaky",
        "--restart",
        "always",
        "--backoff",
        "30s,1,30s",
        "--",
        "sh",
        "-c",
        "exit 1",
    ]);
    // Until the wait is seen registered before the stop (the stop racing ahead of it is
    // also an error, but a different one): each attempt must end, never hang.
    let mut seen = false;
    for attempt in 0..20 {
        if attempt > 0 {
            wr.ok(&["start", "flaky"]);
        }
        wait_until("flaky waits to restart", SOON, || {
            wr.state("flaky") == "backoff"
        });
        let err = wr.root.join(format!("wait-{attempt}.err"));
        let mut child = wr
            .cmd(&["wait", "flaky", "--log", "up"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn wait");
        for _ in 0..attempt + 2 {
            wr.ok(&["ping"]);
        }
        wr.ok(&["stop", "flaky"]);
        let out = finish_child(&mut child);
        assert_eq!(out, Some(1), "the wait failed instead of hanging");
        if std::fs::read_to_string(&err)
            .unwrap()
            .contains("was stopped")
        {
            seen = true;
            break;
        }
    }
    assert!(seen, "a registered wait was failed by the stop");
}

/// Waits (with a deadline) for a child to end; its exit code.
fn finish_child(child: &mut std::process::Child) -> Option<i32> {
    let mut code = None;
    wait_until("the child ended", SOON, || match child.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    });
    code
}

#[test]
fn a_terminal_service_stops_with_hup_unless_its_file_says_otherwise() {
    let wr = Wr::new();
    let (a, b) = (unique_secs(), unique_secs());
    let file = wr.root.join("wrangle.json");
    write(
        &file,
        &format!(
            r#"{{"services": {{
  "t": {{"cmd": ["sleep", "{a}"], "pty": true}},
  "u": {{"cmd": ["sleep", "{b}"], "pty": true, "stop_signal": "TERM"}}
}}}}"#
        ),
    );
    wr.ok(&["up"]);
    assert_eq!(wr.status("t")["stop_signal"], 1);
    assert_eq!(wr.status("u")["stop_signal"], 15);
    let out = wr.ok(&["up"]).text();
    assert!(out.contains("t (id 1) is unchanged"), "{out}");
    assert!(out.contains("u (id 2) is unchanged"), "{out}");
    wr.ok(&["stop", "t"]);
    let s = wr.status("t");
    assert_eq!(s["exit_signal"], 1, "{s}");
}

#[test]
fn env_files_read_like_docker_compose_and_python_dotenv() {
    let wr = Wr::new();
    // A byte-order mark on both files; the .env has a tab after export, keys with - and .,
    // a value over two lines, ${VAR} from an earlier line and from the caller's environment,
    // a default, a literal single-quoted ${...}, and a lone CR ending one line.
    write(
        &wr.root.join("Procfile"),
        "\u{feff}web: printf '%s|' \"$TABBED\" \"$(tr '\\0' '\\n' </proc/$$/environ | grep '^my-key')\" \"$ML\" \"$URL\" \"$DEF\" \"$LIT\" \"$CR\"; sleep 1000\n",
    );
    write(
        &wr.root.join(".env"),
        "\u{feff}export\tTABBED=tab\nmy-key.x=dash.dot\nML=\"one\ntwo\"\nHOST=db\nURL=\"pg://${HOST}:${FROM_CALLER}/x\"\nDEF=${UNSET:-fallback}\nLIT='${HOST}'\rCR=cr\n",
    );
    let mut c = wr.cmd(&["up"]);
    c.env("FROM_CALLER", "5432");
    let o = finish(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        CMD_DEADLINE,
        "up",
    );
    assert_eq!(o.code, 0, "{o:?}");
    wr.wait_log("web", "cr|");
    assert_eq!(
        wr.logs_text("web"),
        "tab|my-key.x=dash.dot|one\ntwo|pg://db:5432/x|fallback|${HOST}|cr|"
    );
    // What is truly ambiguous is refused with the line and column.
    write(&wr.root.join(".env"), "A=1\nB=${C:?required}\n");
    let o = wr.code(&["up"], 2);
    assert!(
        o.stderr
            .contains(".env:2:3: expected ${C} or ${C:-default}"),
        "{}",
        o.stderr
    );
}

#[test]
fn up_checks_every_name_first_and_a_taken_one_applies_nothing() {
    let wr = Wr::new();
    let (a, b, c) = (unique_secs(), unique_secs(), unique_secs());
    wr.start(&["--name", "app/b", "--", "sleep", &b]);
    write(
        &wr.root.join("wrangle.json"),
        &format!(
            r#"{{"project": "app", "services": {{
  "a": {{"cmd": ["sleep", "{a}"]}},
  "b": {{"cmd": ["sleep", "{b}"]}},
  "c": {{"cmd": ["sleep", "{c}"]}}
}}}}"#
        ),
    );
    let o = wr.code(&["up"], 4);
    assert!(
        o.stderr.contains(
            "nothing was applied: app/b is taken by app/b (id 1), which is not a service"
        ),
        "{}",
        o.stderr
    );
    let names: Vec<String> = wr
        .ls()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["app/b"], "a half-applied file");
    assert!(procs_with_argv(&["sleep", &a]).is_empty());
    // A service of another file of the same project holds the name just as well.
    wr.ok(&["rm", "app/b"]);
    std::fs::create_dir(wr.root.join("other")).unwrap();
    write(
        &wr.root.join("other/wrangle.json"),
        &format!(r#"{{"project": "app", "services": {{"c": {{"cmd": ["sleep", "{c}"]}}}}}}"#),
    );
    wr.ok(&["up", "-f", "other/wrangle.json"]);
    let o = wr.code(&["up"], 4);
    assert!(o.stderr.contains("app/c is a service of "), "{}", o.stderr);
    assert_eq!(wr.ls().len(), 1);
}

/// `wrangle CMD ARGS` run in `dir` (a folder under the instance's root).
fn run_in(wr: &Wr, dir: &Path, args: &[&str]) -> Out {
    let mut c = wr.cmd(args);
    c.current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    finish(c.spawn().unwrap(), CMD_DEADLINE, &args.join(" "))
}

#[test]
fn two_projects_can_both_have_an_api_and_a_plain_name_means_the_folders_one() {
    let wr = Wr::new();
    let (shop, blog) = (wr.root.join("shop"), wr.root.join("blog"));
    std::fs::create_dir_all(shop.join("sub")).unwrap();
    std::fs::create_dir(&blog).unwrap();
    let (s_api, b_api, db) = (unique_secs(), unique_secs(), unique_secs());
    // A Procfile's project is its folder's name; a wrangle.json may name its own.
    write(
        &shop.join("Procfile"),
        &format!("api: exec sleep {s_api}\ndb: exec sleep {db}\n"),
    );
    write(
        &blog.join("wrangle.json"),
        &format!(
            r#"{{"project": "journal", "services": {{"api": {{"cmd": ["sleep", "{b_api}"]}}}}}}"#
        ),
    );
    let o = run_in(&wr, &shop, &["up"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.text().contains("created shop/api"), "{o:?}");
    let o = run_in(&wr, &blog, &["up"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.text().contains("created journal/api"), "{o:?}");
    let mut names: Vec<String> = wr
        .ls()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["journal/api", "shop/api", "shop/db"]);

    // Outside both folders: the full name, or a plain one only where it is unambiguous.
    let o = wr.code(&["status", "api"], 4);
    assert!(o.stderr.contains("journal/api, shop/api"), "{}", o.stderr);
    let pid_of = |v: &Value| v["pid"].as_i64().unwrap_or(0);
    let shop_pid = pid_of(&wr.status("shop/api"));
    let blog_pid = pid_of(&wr.status("journal/api"));
    assert_ne!(shop_pid, blog_pid);
    assert_eq!(wr.status("db")["name"], "shop/db");

    // Inside a project's folder (or below it), a plain name means that project's.
    let o = run_in(&wr, &shop.join("sub"), &["status", "api", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(pid_of(&o.json()[0]), shop_pid);
    let o = run_in(&wr, &blog, &["stop", "api"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(wr.state("journal/api"), "stopped");
    assert_eq!(wr.state("shop/api"), "running");
    let o = run_in(&wr, &shop, &["down", "api"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(wr.run(&["status", "shop/api"]).code, 3);
    assert_eq!(wr.state("journal/api"), "stopped");
}

/// An entry saved by a version before projects (plain name, no project) is renamed
/// PROJECT/NAME when the daemon reads it, and `up` of the same file recognises it.
#[test]
fn services_saved_before_projects_are_migrated() {
    let wr = Wr::new();
    let app = wr.root.join("app");
    std::fs::create_dir(&app).unwrap();
    let (x, y) = (unique_secs(), unique_secs());
    write(
        &app.join("wrangle.json"),
        &format!(
            r#"{{"services": {{"db": {{"cmd": ["sleep", "{x}"]}}, "web": {{"cmd": ["sleep", "{y}"], "after": ["db"]}}}}}}"#
        ),
    );
    assert_eq!(run_in(&wr, &app, &["up"]).code, 0);
    wr.ok(&["shutdown"]);
    // Rewrite the saved entries as an older version wrote them.
    downgrade(wr.home(), |json| {
        let mut e: Value = serde_json::from_str(&json).unwrap();
        let plain = |v: &Value| Value::from(v.as_str().unwrap().rsplit('/').next().unwrap());
        e["name"] = plain(&e["name"]);
        let s = &mut e["service"];
        s["name"] = plain(&s["name"]);
        s.as_object_mut().unwrap().remove("project");
        let after: Vec<Value> = s["after"].as_array().unwrap().iter().map(plain).collect();
        s["after"] = Value::from(after);
        s["base"]["spec"]["name"] = plain(&s["base"]["spec"]["name"]);
        e.to_string()
    });
    let mut names: Vec<String> = wr
        .ls()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["app/db", "app/web"]);
    let o = run_in(&wr, &app, &["up"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.text().contains("started app/db") && o.text().contains("started app/web"),
        "the same services, started again, not created or changed: {o:?}"
    );
    assert_eq!(wr.ls().len(), 2);
}
