//! The services-file reader's tests: every key of wrangle.json(5), Procfiles, and every
//! error message.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty folder under the temp folder; removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "wrangle-services-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An inherited environment whose PATH holds no direnv.
fn inherited() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "PATH".to_string(),
            "/nonexistent-wrangle-test-bin".to_string(),
        ),
        ("HOME".to_string(), "/home/test".to_string()),
    ])
}

const FILE: &str = "/p/wrangle.json";

fn parse_at(text: &str) -> Result<Vec<ServiceSpec>> {
    parse(text, Path::new(FILE), &inherited())
}

fn err(text: &str) -> String {
    match parse_at(text) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => {
            assert_eq!(e.code, Code::Usage, "{}", e.message);
            e.message
        }
    }
}

/// A one-service file whose service body is `body` (on line 3, starting at column 12).
fn svc(body: &str) -> String {
    format!("{{\n  \"services\": {{\n    \"api\": {body}\n  }}\n}}\n")
}

const SPEC_EXAMPLE: &str = r#"{
  "services": {
"api": {
  "cmd": ["./target/release/api", "--port", "8080"],
  "cwd": ".",
  "env": {"RUST_LOG": "info"},
  "env_file": ".env",
  "build": ["cargo", "build", "--release"],
  "restart": "always",
  "backoff": {"initial": "1s", "factor": 1.5, "max": "5m"},
  "max_restarts": 0,
  "min_uptime": "10s",
  "stop_signal": "TERM",
  "stop_timeout": "5s",
  "after": ["db"],
  "ready": {"log": "listening on", "timeout": "30s"},
  "tags": ["web"], "groups": ["prod"],
  "logs": {"max_size": "10M", "keep": 5, "timestamps": true},
  "cron_restart": "0 4 * * *",
  "profiles": {"dev": {"cmd": ["cargo", "run", "--", "--port", "8080"], "build": null,
                       "backoff": {"initial": "2m", "factor": 1, "max": "2m"}}},
  "idle_profile": {"after": "3h", "profile": null}
},
"db": {"shell": "redis-server --port 6390", "ready": {"port": 6390}}
  }
}"#;

#[test]
fn the_spec_example() {
    let dir = TempDir::new("spec");
    dir.write(".env", "SECRET=s3\nRUST_LOG=debug\n");
    let file = dir.0.join("wrangle.json");
    let specs = parse(SPEC_EXAMPLE, &file, &inherited()).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let project = dir.0.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        names,
        [format!("{project}/db"), format!("{project}/api")],
        "db first: api comes after it"
    );
    let (db, api) = (&specs[0], &specs[1]);
    let folder = dir.0.to_str().unwrap();
    assert_eq!(api.file, file.to_str().unwrap());

    let b = &api.base;
    assert_eq!(b.spec.argv, ["./target/release/api", "--port", "8080"]);
    assert!(!b.spec.shell);
    assert_eq!(b.spec.name.as_deref(), Some(api.name.as_str()));
    assert_eq!(b.spec.cwd, folder);
    assert_eq!(
        b.declared_env,
        BTreeMap::from([
            ("RUST_LOG".to_string(), "info".to_string()),
            ("SECRET".to_string(), "s3".to_string()),
        ])
    );
    assert_eq!(b.spec.env.get("RUST_LOG").map(String::as_str), Some("info"));
    assert_eq!(
        b.spec.env.get("HOME").map(String::as_str),
        Some("/home/test")
    );
    assert_eq!(
        b.build,
        Some(BuildSpec {
            argv: vec!["cargo".into(), "build".into(), "--release".into()],
            shell: false
        })
    );
    assert_eq!(b.spec.restart, Restart::Always);
    assert_eq!(
        b.spec.backoff,
        Backoff {
            initial_ms: 1000,
            factor: 1.5,
            max_ms: 300_000
        }
    );
    assert_eq!(b.spec.max_restarts, 0);
    assert_eq!(b.spec.min_uptime_ms, 10_000);
    assert_eq!(b.spec.stop_signal, Some(libc::SIGTERM));
    assert_eq!(b.spec.stop_timeout_ms, 5000);
    assert_eq!(api.after, std::slice::from_ref(&db.name));
    assert_eq!(b.ready.log.as_deref(), Some("listening on"));
    assert_eq!((b.ready.port, b.ready.timeout_ms), (None, 30_000));
    assert_eq!(b.spec.tags, ["web"]);
    assert_eq!(b.spec.groups, ["prod"]);
    assert_eq!(b.spec.log_max_size, Some(10 << 20));
    assert_eq!(b.spec.log_keep, Some(5));
    assert!(b.log_timestamps);
    assert_eq!(api.cron_restart.as_deref(), Some("0 4 * * *"));
    assert_eq!(
        api.idle_profile,
        Some(IdleProfile {
            after_ms: 3 * 3_600_000,
            profile: None
        })
    );

    let dev = &api.profiles["dev"];
    assert_eq!(api.profiles.len(), 1);
    assert_eq!(dev.build, None);
    assert_eq!(dev.spec.argv, ["cargo", "run", "--", "--port", "8080"]);
    assert_eq!(
        dev.spec.backoff,
        Backoff {
            initial_ms: 120_000,
            factor: 1.0,
            max_ms: 120_000
        }
    );
    // Everything else is the base's.
    assert_eq!(dev.spec.tags, ["web"]);
    assert_eq!(dev.declared_env, b.declared_env);
    assert!(
        Arc::ptr_eq(&dev.spec.env, &b.spec.env),
        "equal environments are shared"
    );
    assert_eq!(dev.ready, b.ready);
    assert_eq!(dev.spec.cwd, folder);

    assert_eq!(db.base.spec.argv, ["redis-server --port 6390"]);
    assert!(db.base.spec.shell);
    assert_eq!(
        db.base.spec.restart,
        Restart::Always,
        "services restart always by default"
    );
    assert_eq!(db.base.ready.port, Some(6390));
    assert!(db.base.declared_env.is_empty());
    assert!(db.profiles.is_empty() && db.after.is_empty());
    assert_eq!(db.cron_restart, None);
    assert_eq!(db.base.spec.stdin, crate::proto::Input::Null);
    assert_eq!(db.base.spec.stdout, crate::proto::Output::Log);
}

#[test]
fn unknown_keys_name_their_path_and_position() {
    let text = "{\n  \"services\": {\n    \"api\": {\n      \"cmd\": [\"x\"],\n      \"restrat\": \"always\"\n    }\n  }\n}\n";
    let e = err(text);
    assert!(
        e.starts_with("/p/wrangle.json:5:7: services.api.restrat: unknown key, did you mean \"restart\"? (expected one of: cmd, shell, cwd,"),
        "{e}"
    );
    let e = err("{\"services\": {\"a\": {\"cmd\": [\"x\"]}},\n \"servics\": 1}");
    assert!(e.starts_with("/p/wrangle.json:2:2: servics: unknown key, did you mean \"services\"? (expected one of: services, project)"), "{e}");
    let e = err(&svc(
        r#"{"cmd": ["x"], "backoff": {"initial": "1s", "fator": 2}}"#,
    ));
    assert!(e.starts_with("/p/wrangle.json:3:56: services.api.backoff.fator: unknown key, did you mean \"factor\"?"), "{e}");
    let e = err(&svc(
        r#"{"cmd": ["x"], "profiles": {"dev": {"cmdd": ["y"]}}}"#,
    ));
    assert!(e.starts_with("/p/wrangle.json:3:48: services.api.profiles.dev.cmdd: unknown key, did you mean \"cmd\"?"), "{e}");
    let e = err(&svc(
        r#"{"cmd": ["x"], "profiles": {"dev": {"after": []}}}"#,
    ));
    assert!(
        e.starts_with(
            "/p/wrangle.json:3:48: services.api.profiles.dev.after: cannot be set in a profile"
        ),
        "{e}"
    );
    let e = err(&svc(r#"{"cmd": ["x"], "ready": {"lg": "x"}}"#));
    assert!(
        e.contains("services.api.ready.lg: unknown key, did you mean \"log\"?"),
        "{e}"
    );
    let e = err(&svc(r#"{"cmd": ["x"], "zzzzzz": 1}"#));
    assert!(
        e.contains("services.api.zzzzzz: unknown key (expected one of:"),
        "{e}"
    );
    let e = err(&svc(r#"{"cmd": ["x"], "logs": {"size": 1}}"#));
    assert!(e.contains("services.api.logs.size: unknown key"), "{e}");
    let e = err(&svc(
        r#"{"cmd": ["x"], "idle_profile": {"after": "1h", "prof": null}}"#,
    ));
    assert!(
        e.contains("services.api.idle_profile.prof: unknown key, did you mean \"profile\"?"),
        "{e}"
    );
}

#[test]
fn wrong_types_and_bad_values_point_at_the_value() {
    let cases: &[(&str, &str)] = &[
        (r#"{"cmd": "x"}"#, "3:20: services.api.cmd: expected an array of strings"),
        (r#"{"cmd": []}"#, "3:20: services.api.cmd: must not be empty"),
        (r#"{"cmd": ["a", 1]}"#, "3:26: services.api.cmd[1]: expected a string, found a number"),
        (r#"{"cmd": [""]}"#, "services.api.cmd[0]: the program name is empty"),
        (r#"{"shell": ""}"#, "services.api.shell: the command line is empty"),
        (r#"{"shell": ["a"]}"#, "services.api.shell: expected a string"),
        (r#"{"cmd": ["a"], "shell": "b"}"#, "3:27: services.api.shell: both \"cmd\" and \"shell\" are given (at 3:13)"),
        (r#"{"cwd": "."}"#, "3:12: services.api: no command: set \"cmd\""),
        (r#"[1]"#, "3:12: services.api: expected an object (a service), found an array"),
        (r#"{"cmd": ["a"], "max_restarts": -1}"#, "3:43: services.api.max_restarts: expected a whole number from 0 to 4294967295, found -1"),
        (r#"{"cmd": ["a"], "max_restarts": 1.5}"#, "services.api.max_restarts: expected a whole number"),
        (r#"{"cmd": ["a"], "ready": {"port": 70000}}"#, "services.api.ready.port: expected a whole number from 0 to 65535, found 70000"),
        (r#"{"cmd": ["a"], "ready": {"port": 0}}"#, "services.api.ready.port: expected a TCP port from 1 to 65535"),
        (r#"{"cmd": ["a"], "ready": {"log": "(unclosed"}}"#, "services.api.ready.log: invalid regular expression:"),
        (r#"{"cmd": ["a"], "env": {"A": null}}"#, "services.api.env.A: expected a string, number or boolean, found null"),
        (r#"{"cmd": ["a"], "env": {"A=B": "1"}}"#, "services.api.env[\"A=B\"]: invalid variable name"),
        (r#"{"cmd": ["a"], "env": ["A"]}"#, "services.api.env: expected an object of variables"),
        (r#"{"cmd": ["a"], "restart": "sometimes"}"#, "services.api.restart: expected \"never\", \"on-failure\" or \"always\", found \"sometimes\""),
        (r#"{"cmd": ["a"], "restart": true}"#, "services.api.restart: expected \"never\", \"on-failure\" or \"always\", found a boolean"),
        (r#"{"cmd": ["a"], "leftovers": "maybe"}"#, "services.api.leftovers: expected \"stop\" or \"keep\", found \"maybe\""),
        (r#"{"cmd": ["a"], "leftovers": 1}"#, "services.api.leftovers: expected \"stop\" or \"keep\", found a number"),
        (r#"{"cmd": ["a"], "stop_signal": "FOO"}"#, "services.api.stop_signal: invalid signal \"FOO\""),
        (r#"{"cmd": ["a"], "stop_signal": 99}"#, "services.api.stop_signal: invalid signal \"99\""),
        (r#"{"cmd": ["a"], "min_uptime": "5x"}"#, "services.api.min_uptime: invalid duration \"5x\""),
        (r#"{"cmd": ["a"], "min_uptime": -1}"#, "services.api.min_uptime: expected a duration"),
        (r#"{"cmd": ["a"], "stop_timeout": true}"#, "services.api.stop_timeout: expected a duration"),
        (r#"{"cmd": ["a"], "backoff": {"initial": "10s", "max": "1s"}}"#, "services.api.backoff.max: max (1s) is less than initial (10s)"),
        (r#"{"cmd": ["a"], "backoff": {"factor": 0.5}}"#, "services.api.backoff.factor: expected a number from 1 to 1000000, found 0.5"),
        (r#"{"cmd": ["a"], "tags": ["a b"]}"#, "services.api.tags[0]: invalid tag \"a b\""),
        (r#"{"cmd": ["a"], "groups": "g"}"#, "services.api.groups: expected an array of groups"),
        (r#"{"cmd": ["a"], "pty": "yes"}"#, "services.api.pty: expected true or false, found a string"),
        (r#"{"cmd": ["a"], "logs": {"max_size": "lots"}}"#, "services.api.logs.max_size: invalid size \"lots\""),
        (r#"{"cmd": ["a"], "logs": {"keep": -2}}"#, "services.api.logs.keep: expected a whole number"),
        (r#"{"cmd": ["a"], "cron_restart": "61 * * * *"}"#, "services.api.cron_restart: invalid cron expression: minute: \"61\" is out of range (0-59)"),
        (r#"{"cmd": ["a"], "build": 3}"#, "services.api.build: expected an array of strings (argv), a string (run by sh -c) or null"),
        (r#"{"cmd": ["a"], "env_file": 3}"#, "services.api.env_file: expected a file name or an array of file names"),
        (r#"{"cmd": ["a"], "idle_profile": {"after": "1h", "profile": "dev"}}"#, "services.api.idle_profile.profile: no profile named \"dev\": this service has no profiles"),
        (r#"{"cmd": ["a"], "profiles": {"x": {}}, "idle_profile": {"after": "1h", "profile": "dev"}}"#, "no profile named \"dev\" (profiles: x)"),
        (r#"{"cmd": ["a"], "idle_profile": {"profile": null}}"#, "services.api.idle_profile: missing key \"after\""),
        (r#"{"cmd": ["a"], "idle_profile": {"after": 0}}"#, "services.api.idle_profile.after: must be longer than 0"),
        (
            r#"{"cmd": ["a"], "profiles": {"base": {}}}"#,
            "services.api.profiles.base: \"base\" is reserved",
        ),
        (r#"{"cmd": ["a"], "profiles": {"all": {}}}"#, "services.api.profiles.all: invalid profile name \"all\""),
        (r#"{"cmd": ["a"], "profiles": {"p": []}}"#, "services.api.profiles.p: expected an object of keys"),
        (r#"{"cmd": ["a"], "profiles": {"p": {"cmd": null}}}"#, "services.api.profiles.p: no command"),
        (r#"{"cmd": ["a"], "profiles": {"p": {"shell": "x", "cmd": ["y"]}}}"#, "services.api.profiles.p.cmd: both \"cmd\" and \"shell\""),
        (r#"{"cmd": ["a"], "profiles": {"p": {"restart": "maybe"}}}"#, "services.api.profiles.p.restart: expected \"never\""),
        (r#"{"cmd": ["a"], "after": "db"}"#, "services.api.after: expected an array of service names"),
        (r#"{"cmd": ["a"], "after": ["api"]}"#, "services.api.after[0]: a service cannot come after itself"),
        (r#"{"cmd": ["a"], "after": ["db"]}"#, "3:37: services.api.after[0]: no service named \"db\" in this file (services: api)"),
        (r#"{"cmd": ["a\u0000b"]}"#, "services.api.cmd[0]: contains a NUL character"),
    ];
    for (body, want) in cases {
        let e = err(&svc(body));
        assert!(e.contains(want), "{body}\n  got: {e}\n want: {want}");
        assert!(e.starts_with(FILE), "{e}");
    }
}

#[test]
fn document_level_errors() {
    assert_eq!(err("[]"), "/p/wrangle.json:1:1: top level: expected an object with the key \"services\", found an array");
    assert_eq!(err("{}"), "/p/wrangle.json:1:1: top level: missing key \"services\" (an object: service name → service)");
    assert_eq!(
        err("{\"services\": {}}"),
        "/p/wrangle.json:1:14: services: no services declared (add at least one)"
    );
    assert!(err("{\"services\": 1}").contains("1:14: services: expected an object"));
    assert_eq!(
        err("{\"services\": {\n  \"a\": 1,\n  \"a\": 2}}"),
        "/p/wrangle.json:3:3: invalid JSON: duplicate key \"a\" in this object"
    );
    assert!(err("{\"services\": ")
        .starts_with("/p/wrangle.json:1:14: invalid JSON: expected a value, found end of file"));
    let e = err("{\"services\": {\"a b\": {\"cmd\": [\"x\"]}}}");
    assert!(
        e.starts_with("/p/wrangle.json:1:15: services[\"a b\"]: invalid name \"a b\""),
        "{e}"
    );
    let e = err("{\"services\": {\"123\": {\"cmd\": [\"x\"]}}}");
    assert!(e.contains("services.123: invalid name \"123\""), "{e}");
}

#[test]
fn after_orders_and_cycles() {
    let text = r#"{"services": {
        "web": {"cmd": ["w"], "after": ["api", "cache"]},
        "api": {"cmd": ["a"], "after": ["db"]},
        "cache": {"cmd": ["c"]},
        "db": {"cmd": ["d"]},
        "lone": {"cmd": ["l"]}
    }}"#;
    let names: Vec<String> = parse_at(text)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    // Each step takes the first service (in file order) whose dependencies have started.
    assert_eq!(names, ["p/cache", "p/db", "p/api", "p/web", "p/lone"]);

    let text = "{\"services\": {\n  \"x\": {\"cmd\": [\"x\"]},\n  \"a\": {\"cmd\": [\"a\"], \"after\": [\"b\"]},\n  \"b\": {\"cmd\": [\"b\"], \"after\": [\"c\", \"x\"]},\n  \"c\": {\"cmd\": [\"c\"], \"after\": [\"a\"]}\n}}";
    let e = err(text);
    assert_eq!(e, "/p/wrangle.json:3:23: services.a.after: dependency cycle: a -> b -> c -> a (each comes after the next)");
    // The same cycle found from a later start still names it from its first member.
    let text = r#"{"services": {"p": {"cmd": ["p"], "after": ["q"]}, "q": {"cmd": ["q"], "after": ["p"]}}}"#;
    assert!(err(text).contains("services.p.after: dependency cycle: p -> q -> p"));
}

#[test]
fn env_files_merge_under_env() {
    let dir = TempDir::new("envfile");
    dir.write("a.env", "A=from-a\nB=from-a\nC=from-a\n");
    dir.write("sub/b.env", "export B=from-b\n");
    dir.write("bad.env", "A=1\nnot a pair\n");
    let file = dir.0.join("wrangle.json");
    let text = r#"{"services": {"s": {"cmd": ["x"], "env_file": ["a.env", "sub/b.env"], "env": {"C": "env", "N": 8080, "T": true}}}}"#;
    let specs = parse(text, &file, &inherited()).unwrap();
    let d = &specs[0].base.declared_env;
    let get = |k: &str| d.get(k).map(String::as_str);
    assert_eq!(get("A"), Some("from-a"));
    assert_eq!(get("B"), Some("from-b"), "later env files win");
    assert_eq!(get("C"), Some("env"), "env wins over env files");
    assert_eq!(get("N"), Some("8080"));
    assert_eq!(get("T"), Some("true"));
    assert_eq!(d.len(), 5);
    let env = &specs[0].base.spec.env;
    assert_eq!(env.get("B").map(String::as_str), Some("from-b"));
    assert_eq!(env.get("PATH"), inherited().get("PATH"));

    // A missing env file names itself, with the position of its name in the services file.
    let text =
        "{\"services\": {\"s\": {\"cmd\": [\"x\"],\n \"env_file\": [\"a.env\", \"missing.env\"]}}}";
    let e = parse(text, &file, &inherited()).unwrap_err();
    assert_eq!(e.code, Code::Failed);
    let want = format!(
        "{}:2:24: services.s.env_file[1]: cannot read env file {}: ",
        file.display(),
        dir.0.join("missing.env").display()
    );
    assert!(e.message.starts_with(&want), "{}", e.message);
    // A malformed one names both files and its own line.
    let text = r#"{"services": {"s": {"cmd": ["x"], "env_file": "bad.env"}}}"#;
    let e = parse(text, &file, &inherited()).unwrap_err();
    assert_eq!(e.code, Code::Usage);
    assert!(
        e.message.ends_with(&format!(
            "services.s.env_file: {}:2:5: expected = after \"not\"",
            dir.0.join("bad.env").display()
        )),
        "{}",
        e.message
    );
}

#[test]
fn defaults_paths_and_profiles() {
    let text = r#"{"services": {"s": {
        "shell": "serve",
        "cwd": "sub/../app",
        "restart": "on-failure",
        "backoff": {"initial": "2m"},
        "stop_signal": 2,
        "stop_timeout": 1.5,
        "min_uptime": null,
        "build": "make",
        "tags": ["a", "b", "a"],
        "profiles": {
            "dev": {"cmd": ["run", "dev"], "restart": null, "tags": null, "cwd": "/abs//x/."},
            "quiet": {"logs": {"timestamps": false}, "build": null, "pty": true}
        },
        "idle_profile": {"after": 90, "profile": "quiet"}
    }}}"#;
    let s = parse_at(text).unwrap().remove(0);
    let b = &s.base;
    assert_eq!(
        (b.spec.argv.as_slice(), b.spec.shell),
        (&["serve".to_string()][..], true)
    );
    assert_eq!(b.spec.cwd, "/p/app");
    assert_eq!(b.spec.restart, Restart::OnFailure);
    // Without a max, the max grows to the initial delay.
    assert_eq!(
        (b.spec.backoff.initial_ms, b.spec.backoff.max_ms),
        (120_000, 120_000)
    );
    assert_eq!(b.spec.backoff.factor, Backoff::default().factor);
    assert_eq!(b.spec.stop_signal, Some(libc::SIGINT));
    assert_eq!(b.spec.stop_timeout_ms, 1500);
    assert_eq!(
        b.spec.min_uptime_ms,
        RunSpec::new(vec![], String::new()).min_uptime_ms
    );
    assert_eq!(
        b.build,
        Some(BuildSpec {
            argv: vec!["make".into()],
            shell: true
        })
    );
    assert_eq!(b.spec.tags, ["a", "b"]);
    assert!(!b.spec.pty && !b.log_timestamps);
    assert_eq!((b.spec.log_max_size, b.spec.log_keep), (None, None));

    let dev = &s.profiles["dev"];
    assert_eq!(
        (dev.spec.argv.as_slice(), dev.spec.shell),
        (&["run".to_string(), "dev".to_string()][..], false),
        "cmd replaces the base's shell"
    );
    assert_eq!(
        dev.spec.restart,
        Restart::Always,
        "null goes back to the default"
    );
    assert!(dev.spec.tags.is_empty());
    assert_eq!(dev.spec.cwd, "/abs/x");
    assert_eq!(dev.build, b.build);
    let quiet = &s.profiles["quiet"];
    assert_eq!(quiet.spec.argv, b.spec.argv);
    assert!(quiet.spec.shell && quiet.spec.pty && quiet.build.is_none());
    assert_eq!(
        s.idle_profile,
        Some(IdleProfile {
            after_ms: 90_000,
            profile: Some("quiet".into())
        })
    );

    // A relative services-file path is made absolute against the current folder.
    let specs = parse(
        r#"{"services": {"s": {"cmd": ["x"]}}}"#,
        Path::new("./w.json"),
        &inherited(),
    )
    .unwrap();
    let here = std::env::current_dir().unwrap();
    assert_eq!(specs[0].file, here.join("w.json").to_str().unwrap());
    assert_eq!(specs[0].base.spec.cwd, here.to_str().unwrap());
}

#[test]
fn procfiles() {
    let text =
        "# the web\n\nweb: python -m http.server 8000\r\nworker:   sleep 100 && echo done  \n";
    let specs = parse(text, Path::new("/p/Procfile"), &inherited()).unwrap();
    assert_eq!(specs.len(), 2);
    let w = &specs[0];
    assert_eq!(w.name, "p/web", "the project is the Procfile's folder");
    assert_eq!(w.project, "p");
    assert_eq!(w.file, "/p/Procfile");
    assert_eq!(w.base.spec.argv, ["python -m http.server 8000"]);
    assert!(w.base.spec.shell);
    assert_eq!(w.base.spec.restart, Restart::Always);
    assert_eq!(w.base.spec.cwd, "/p");
    assert_eq!(w.base.spec.name.as_deref(), Some("p/web"));
    assert_eq!(specs[1].base.spec.argv, ["sleep 100 && echo done"]);
    // Any file whose name starts with Procfile is one.
    assert!(parse("a: b\n", Path::new("/p/Procfile.dev"), &inherited()).is_ok());

    let e = |t: &str| {
        parse(t, Path::new("/p/Procfile"), &inherited())
            .unwrap_err()
            .message
    };
    assert_eq!(
        e("web: a\nthis is not a line\n"),
        "/p/Procfile:2:1: expected \"name: command\", found \"this is not a line\""
    );
    assert_eq!(
        e("\nweb: a\nweb: b\n"),
        "/p/Procfile:3:1: web: declared twice (first on line 2)"
    );
    assert!(e("web x: a\n").starts_with("/p/Procfile:1:1: invalid name \"web x\""));
    assert_eq!(e("web:\n"), "/p/Procfile:1:1: web: the command is empty");
    assert!(e("# nothing\n").starts_with("/p/Procfile:1:1: no processes declared"));

    // A .env beside the Procfile is read, as foreman does.
    let dir = TempDir::new("procfile");
    let pf = dir.write("Procfile", "web: serve\n");
    dir.write(".env", "PORT=5000\n");
    let specs = load(&pf, &inherited()).unwrap();
    assert_eq!(
        specs[0].base.declared_env.get("PORT").map(String::as_str),
        Some("5000")
    );
    assert_eq!(
        specs[0].base.spec.env.get("PORT").map(String::as_str),
        Some("5000")
    );
    assert_eq!(specs[0].base.spec.cwd, dir.0.to_str().unwrap());
}

#[test]
fn find_and_load() {
    let dir = TempDir::new("find");
    let e = find(&dir.0).unwrap_err();
    assert!(
        e.message.contains("no wrangle.json or Procfile in"),
        "{}",
        e.message
    );
    dir.write("Procfile", "web: a\n");
    assert_eq!(find(&dir.0).unwrap(), dir.0.join("Procfile"));
    dir.write(
        "wrangle.json",
        "{\"services\": {\"a\": {\"cmd\": [\"a\"]}}}",
    );
    assert_eq!(find(&dir.0).unwrap(), dir.0.join("wrangle.json"));
    assert!(load(&dir.0.join("wrangle.json"), &inherited()).unwrap()[0]
        .name
        .ends_with("-find/a"));

    let missing = dir.0.join("nope.json");
    let e = load(&missing, &inherited()).unwrap_err();
    assert_eq!(e.code, Code::Failed);
    assert!(
        e.message
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{}",
        e.message
    );

    let bad = dir.0.join("bad.json");
    std::fs::write(&bad, b"{\n  \"x\xff\": 1}").unwrap();
    let e = load(&bad, &inherited()).unwrap_err();
    assert_eq!(
        e.message,
        format!("{}:2:5: the file is not valid UTF-8 text", bad.display())
    );
}

#[test]
fn direnv_wraps_commands() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("direnv");
    let fake = dir.write("bin/direnv", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.write("proj/.envrc", "export A=1\n");
    std::fs::create_dir_all(dir.0.join("other")).unwrap();
    let env = BTreeMap::from([(
        "PATH".to_string(),
        format!("/nonexistent::{}", dir.0.join("bin").display()),
    )]);
    let file = dir.0.join("proj/wrangle.json");
    let proj = dir.0.join("proj");
    let proj = proj.to_str().unwrap();
    let text = r#"{"services": {
        "a": {"cmd": ["srv", "--x"], "build": ["make", "all"]},
        "b": {"shell": "srv | tee log", "build": "make"},
        "c": {"cmd": ["srv"], "direnv": false, "profiles": {"on": {"direnv": null}}},
        "d": {"cmd": ["srv"], "cwd": "../other"}
    }}"#;
    let specs = parse(text, &file, &env).unwrap();
    let a = &specs[0].base;
    assert_eq!(a.spec.argv, ["direnv", "exec", proj, "srv", "--x"]);
    assert!(!a.spec.shell);
    assert_eq!(
        a.build.as_ref().unwrap().argv,
        ["direnv", "exec", proj, "make", "all"]
    );
    let b = &specs[1].base;
    assert_eq!(
        b.spec.argv,
        ["direnv", "exec", proj, "sh", "-c", "srv | tee log"]
    );
    assert!(!b.spec.shell);
    let bb = b.build.as_ref().unwrap();
    assert_eq!(
        (bb.argv.as_slice(), bb.shell),
        (
            &[
                "direnv".to_string(),
                "exec".into(),
                proj.into(),
                "sh".into(),
                "-c".into(),
                "make".into()
            ][..],
            false
        )
    );
    assert_eq!(specs[2].base.spec.argv, ["srv"], "direnv: false");
    assert_eq!(
        specs[2].profiles["on"].spec.argv[0], "direnv",
        "null goes back to true"
    );
    assert_eq!(specs[3].base.spec.argv, ["srv"], "no .envrc in its folder");

    // A direnv that is not executable does not count.
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
    let specs = parse(text, &file, &env).unwrap();
    assert_eq!(specs[0].base.spec.argv, ["srv", "--x"]);
}

#[test]
fn damaged_files_are_errors_not_panics() {
    // Every prefix, and the example with each character dropped, is an error or a result.
    let text = SPEC_EXAMPLE;
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    for &i in &bounds {
        assert!(parse_at(&text[..i]).is_err());
        let mut dropped = String::from(&text[..i]);
        let rest = &text[i..];
        dropped.push_str(
            rest.get(rest.chars().next().map_or(0, char::len_utf8)..)
                .unwrap_or(""),
        );
        let _ = parse_at(&dropped);
    }
    for junk in [
        "",
        "null",
        "1",
        "\"x\"",
        "{\"services\": null}",
        "{\"services\": {\"a\": null}}",
    ] {
        assert!(parse_at(junk).is_err(), "{junk}");
    }
}

/// Property: the examples of wrangle.json(5), with a few random edits (characters dropped,
/// doubled, or replaced by JSON tokens and values the reader treats specially), are read or
/// refused with a message; never a panic.
#[test]
fn property_edited_examples_are_results_or_errors_not_panics() {
    use crate::util::prop::{cases, Rng};
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\\",
        "null",
        "true",
        "0",
        "-1",
        "1e999",
        "\"\"",
        "\"a\"",
        "[]",
        "{}",
        "\"services\"",
        "\"build\"",
        "\"profiles\"",
        "\"after\"",
        "\"cron_restart\"",
        "\"ready\"",
        "\"env_file\"",
        "\"project\"",
        "é",
        "\n",
    ];
    let examples = man_examples();
    assert!(!examples.is_empty());
    for seed in 1..=cases(400) as u64 {
        let mut rng = Rng::new(seed);
        let base = rng.pick(&examples).clone();
        let text = rng.edit(&base, PIECES);
        if let Err(e) = parse_at(&text) {
            assert!(!e.message.is_empty(), "seed {seed}");
        }
    }
}

/// The JSON examples of wrangle.json(5), un-escaped from roff.
fn man_examples() -> Vec<String> {
    let page = include_str!("../../../man/wrangle.json.5");
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in page.lines() {
        match (line.trim_end(), &mut block) {
            (".EX", None) => block = Some(Vec::new()),
            (".EE", Some(lines)) => {
                let text: String = lines
                    .iter()
                    .map(|l| {
                        l.replace("\\(dq", "\"")
                            .replace("\\-", "-")
                            .replace("\\&", "")
                            .replace("\\e", "\\")
                            + "\n"
                    })
                    .collect();
                if text.trim_start().starts_with('{') {
                    out.push(text);
                }
                block = None;
            }
            (_, Some(lines)) => lines.push(line),
            _ => {}
        }
    }
    out
}

#[test]
fn man_page_examples_parse() {
    let examples = man_examples();
    assert!(examples.len() >= 4, "found {} examples", examples.len());
    let dir = TempDir::new("man");
    dir.write(".env", "DATABASE_URL=postgres://localhost/app\n");
    let file = dir.0.join("wrangle.json");
    let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    for text in &examples {
        if let Err(e) = parse(text, &file, &env) {
            panic!("{}\n--- in example:\n{text}", e.message);
        }
    }
    // The SPEC §4 example is among them.
    assert!(examples
        .iter()
        .any(|e| e.contains("\"idle_profile\": {\"after\": \"3h\", \"profile\": null}")));
}

#[test]
fn the_project_names_every_service() {
    let text = r#"{"project": "shop", "services": {
  "db": {"cmd": ["d"]},
  "api": {"cmd": ["a"], "after": ["db"], "profiles": {"dev": {"env": {"X": "1"}}}}
}}"#;
    let specs = parse_at(text).unwrap();
    let api = &specs[1];
    assert_eq!(
        (api.name.as_str(), api.project.as_str()),
        ("shop/api", "shop")
    );
    assert_eq!(api.after, ["shop/db"]);
    assert_eq!(api.base.spec.name.as_deref(), Some("shop/api"));
    assert_eq!(api.profiles["dev"].spec.name.as_deref(), Some("shop/api"));
    // Without "project": the folder's name.
    assert_eq!(
        parse_at(&svc(r#"{"cmd": ["x"]}"#)).unwrap()[0].name,
        "p/api"
    );
    let e = err(r#"{"project": "my shop", "services": {"a": {"cmd": ["x"]}}}"#);
    assert!(
        e.starts_with("/p/wrangle.json:1:13: project: invalid project \"my shop\""),
        "{e}"
    );
    let e = err(r#"{"services": {"a/b": {"cmd": ["x"]}}}"#);
    assert!(e.contains("services[\"a/b\"]: invalid name"), "{e}");
}
