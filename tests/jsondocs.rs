//! Every member of every `--json` output is documented, where the docs say that output is.
//!
//! Each command whose `--help` lists `--json` is run against a private daemon, and every
//! member name of what it prints (in nested objects and in arrays of objects too) must be
//! described in its place: the command's own section of wrangle(1), or the section of
//! wrangle-protocol(7) that the command's `--json` item names (Entry objects, Action results,
//! an operation's reply under Operations, SUBSCRIPTIONS). The same check runs on the code's
//! reply structures with every optional member filled in, for the members no live scenario
//! here brings out. The other way round, every member a protocol section lists must be one the
//! code's structures have, so a renamed or removed member cannot linger in the page; the same
//! two-way check covers the rest of the wire that wrangle-protocol(7) describes (handshake,
//! errors, selectors, the replies no `--json` prints, the events of follow and attach).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use wrangle::proto::{
    ActionResult, EntryInfo, ErrOutput, EventInfo, EventKind, Input, LabelCount, LabelsReply,
    LiveEvent, LogInfo, Outcome, Output, PingReply, RunLog, RunSpec, ScreenReply, WaitReply,
};

const MAN: &str = "man/wrangle.1";
const PROTO: &str = "man/wrangle-protocol.7";

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The pages

/// A man page cut into `.SH` sections and their `.SS` subsections.
struct Page {
    file: &'static str,
    /// (section, subsection or "", text), in order.
    parts: Vec<(String, String, String)>,
}

impl Page {
    fn load(file: &'static str) -> Page {
        Page::parse(file, &read(file))
    }

    fn parse(file: &'static str, text: &str) -> Page {
        Page {
            file,
            parts: common::man::parts(text),
        }
    }

    /// The whole text of `.SH sh`, its subsections included.
    fn sh(&self, sh: &str) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p.0 == sh)
            .map(|p| p.2.as_str())
            .collect();
        assert!(!texts.is_empty(), "{} has no section {sh:?}", self.file);
        texts.join("")
    }

    /// The text of `.SS ss`.
    fn ss(&self, ss: &str) -> String {
        self.parts
            .iter()
            .find(|p| p.1 == ss)
            .map(|p| p.2.clone())
            .unwrap_or_else(|| panic!("{} has no subsection {ss:?}", self.file))
    }

    /// wrangle(1)'s section of one command (`.SS NAME` under COMMANDS).
    fn command(&self, name: &str) -> String {
        self.parts
            .iter()
            .find(|p| p.0 == "COMMANDS" && p.1.split_whitespace().next() == Some(name))
            .map(|p| p.2.clone())
            .unwrap_or_else(|| panic!("{} has no `.SS {name}` under COMMANDS", self.file))
    }

    /// wrangle-protocol(7)'s item of one operation under Operations: from its
    /// `\fB{"op":"OP"...` tag to the next operation's.
    fn op(&self, op: &str) -> String {
        let ops = self.ss("Operations");
        let start = ops
            .find(&format!(".TP\n\\fB{{\"op\":\"{op}\""))
            .unwrap_or_else(|| panic!("{}: Operations has no item for {op:?}", self.file));
        let rest = &ops[start + 4..];
        let end = rest
            .find("\n.TP\n\\fB{\"op\":")
            .map_or(rest.len(), |i| i + 1);
        rest[..end].to_string()
    }
}

/// The `--json` item of a command's section: from its `.TP` tag to the next `.TP`, `.SS` or
/// `.SH`.
fn json_item(command: &str) -> Option<String> {
    let start = command.find(".TP\n.B \\-\\-json\n")?;
    let rest = &command[start + 4..];
    let mut item = String::new();
    for line in rest.lines() {
        if !item.is_empty() && line.starts_with(".TP") {
            break;
        }
        item.push_str(line);
        item.push('\n');
    }
    Some(item)
}

/// The words a roff line sets in bold: every argument of `.B`, and the alternate ones of
/// `.BR`, `.RB`, `.BI` and `.IB`, split at spaces, trimmed of punctuation.
fn bold_macro_words(text: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for line in text.lines() {
        let Some((mac, rest)) = line.split_once(' ') else {
            continue;
        };
        let bold_at: fn(usize) -> bool = match mac {
            ".B" => |_| true,
            ".BR" | ".BI" => |i| i % 2 == 0,
            ".RB" | ".IB" => |i| i % 2 == 1,
            _ => continue,
        };
        for (i, arg) in roff_args(rest).iter().enumerate() {
            if bold_at(i) {
                words.extend(
                    arg.split_whitespace()
                        .map(|w| w.trim_matches(|c: char| ",.;:()\"".contains(c)).to_string()),
                );
            }
        }
    }
    words
}

/// A macro line's arguments: words, or "quoted strings".
fn roff_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            args.push(chars.by_ref().take_while(|&c| c != '"').collect());
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            args.push(w);
        }
    }
    args
}

/// Whether `text` documents the member `key`: in bold (`\fBkey\fR`, or a bold macro
/// argument), or as a member of a JSON example (`"key":`).
fn documents(text: &str, key: &str) -> bool {
    text.contains(&format!("\\fB{key}\\fR"))
        || text.contains(&format!("\\fB{key}\\fP"))
        || text.contains(&format!("\"{key}\":"))
        || bold_macro_words(text).contains(key)
}

/// The members a section lists as `.TP` items: the bold names of each item's tag, outside
/// parentheses (`\fBid\fR (integer), \fBname\fR (string or null)`).
fn listed_members(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != ".TP" {
            continue;
        }
        let Some(tag) = lines.next() else { break };
        let mut outside = String::new();
        let mut depth = 0;
        for c in tag.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => outside.push(c),
                _ => {}
            }
        }
        let mut rest = outside.as_str();
        while let Some(i) = rest.find("\\fB") {
            rest = &rest[i + 3..];
            let end = rest.find("\\f").unwrap_or(rest.len());
            let word = &rest[..end];
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                found.insert(word.to_string());
            }
        }
    }
    found
}

/// The JSON example that opens at byte `open` of `text` (a `{`), its braces matched.
fn example_at(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..open + i + 1];
                }
            }
            _ => {}
        }
    }
    &text[open..]
}

/// The member names (`"name":`) of a JSON example.
fn example_members(example: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for piece in example.split('"').collect::<Vec<_>>().windows(2) {
        if piece[1].starts_with(':')
            && !piece[0].is_empty()
            && piece[0].chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            found.insert(piece[0].to_string());
        }
    }
    found
}

/// The member names of the first JSON example after `anchor` in `text`.
fn members_after(text: &str, anchor: &str) -> BTreeSet<String> {
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor:?} not found in:\n{text}"));
    let open = at + text[at..].find('{').expect("a JSON example");
    example_members(example_at(text, open))
}

/// The member names of the reply example of an operation's item (the first after `Reply:`),
/// such as `{"version":S,"protocol":N,...}`.
fn reply_example_members(item: &str) -> BTreeSet<String> {
    members_after(item, "Reply:")
}

// ---------------------------------------------------------------------------------------------
// Where each output is documented

/// The shapes of `--json` output.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// Entry objects (`run`, `add`, `ls`, `status`, `tag NAME`).
    Entry,
    /// Action results (`start`, `stop`, `up`, ...).
    Results,
    Ping,
    Wait,
    /// Label counts (`tag`, `group`).
    Labels,
    Screen,
    /// Event lines (`events`).
    Event,
    /// Log lines (`logs`).
    LogLine,
    /// `upgrade`: the ping answers before and after.
    Upgrade,
}

/// One place a member must be described in.
#[derive(Clone, Debug, PartialEq)]
enum Place {
    /// A command's section of wrangle(1).
    Command(&'static str),
    /// A `.SS` subsection of wrangle-protocol(7).
    Sub(&'static str),
    /// A `.SH` section of wrangle-protocol(7).
    Section(&'static str),
    /// An operation's item under Operations in wrangle-protocol(7).
    Op(&'static str),
}

impl Place {
    fn text(&self, man: &Page, proto: &Page) -> String {
        match self {
            Place::Command(c) => man.command(c),
            Place::Sub(s) => proto.ss(s),
            Place::Section(s) => proto.sh(s),
            Place::Op(o) => proto.op(o),
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::Command(c) => format!("{MAN}, .SS {c}"),
            Place::Sub(s) => format!("{PROTO}, .SS {s}"),
            Place::Section(s) => format!("{PROTO}, .SH {s}"),
            Place::Op(o) => format!("{PROTO}, Operations, op {o:?}"),
        }
    }

    /// Whether a command's `--json` item points a reader here: it names the section (and for
    /// an operation, names it in bold) and wrangle-protocol(7).
    fn pointed_to_by(&self, item: &str) -> bool {
        let names = |section: &str| item.contains(section) && item.contains("wrangle\\-protocol");
        match self {
            Place::Command(_) => true,
            Place::Sub(s) | Place::Section(s) => names(s),
            Place::Op(o) => names("Operations") && documents(item, o),
        }
    }
}

/// Where the members of `shape` found below `path` (the member names leading to their object)
/// are described; None for an object whose keys are data, not members (an environment).
fn places(shape: Shape, path: &[String]) -> Option<Vec<Place>> {
    if path.last().is_some_and(|k| k == "env") {
        return None;
    }
    Some(match shape {
        Shape::Entry => match path.first().map(String::as_str) {
            Some("spec") => vec![Place::Sub("Run specification")],
            _ => vec![Place::Sub("Entry objects")],
        },
        Shape::Results => vec![Place::Sub("Action results")],
        Shape::Ping => vec![Place::Op("ping")],
        Shape::Wait => vec![Place::Op("wait")],
        Shape::Labels => vec![Place::Op("labels")],
        Shape::Screen => vec![Place::Command("screen"), Place::Op("screen")],
        Shape::Event => vec![Place::Command("events"), Place::Section("SUBSCRIPTIONS")],
        Shape::LogLine => vec![Place::Command("logs")],
        Shape::Upgrade => match path {
            [] => vec![Place::Command("upgrade")],
            [_, rest @ ..] => places(Shape::Ping, rest)?,
        },
    })
}

/// Every (path, member name) of a JSON value, nested objects and arrays included.
fn members(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                out.push((path.clone(), k.clone()));
                path.push(k.clone());
                members(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for item in a {
                members(item, path, out);
            }
        }
        _ => {}
    }
}

/// Checks every member of `v` against its places; returns what is missing, one line each.
fn undocumented(what: &str, shape: Shape, v: &Value, man: &Page, proto: &Page) -> Vec<String> {
    let mut all = Vec::new();
    members(v, &mut Vec::new(), &mut all);
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, key) in all {
        let Some(places) = places(shape, &path) else {
            continue;
        };
        for place in places {
            if !seen.insert((place.describe(), path.clone(), key.clone())) {
                continue;
            }
            if !documents(&place.text(man, proto), &key) {
                let full = path
                    .iter()
                    .chain([&key])
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(".");
                missing.push(format!(
                    "{what}: member `{full}` is not described in {}",
                    place.describe()
                ));
            }
        }
    }
    missing
}

/// Checks that the `--json` item of `command` in wrangle(1) points to every place of
/// wrangle-protocol(7) that describes members of `v`, its output.
fn unpointed(command: &str, shape: Shape, v: &Value, man: &Page) -> Vec<String> {
    let Some(item) = json_item(&man.command(command)) else {
        return vec![format!("{MAN}: `.SS {command}` has no `--json` item")];
    };
    let mut all = Vec::new();
    members(v, &mut Vec::new(), &mut all);
    let mut wrong = Vec::new();
    for (path, _) in all {
        for place in places(shape, &path).unwrap_or_default() {
            let line = format!(
                "{MAN}: the --json item of `.SS {command}` does not say that {} describes its output",
                place.describe()
            );
            if !place.pointed_to_by(&item) && !wrong.contains(&line) {
                wrong.push(line);
            }
        }
    }
    wrong
}

// ---------------------------------------------------------------------------------------------
// The code's structures, with every optional member filled in

fn full_spec() -> RunSpec {
    let mut s = RunSpec::new(vec!["sleep".into(), "1".into()], "/".into());
    s.name = Some("n".into());
    s.tags = vec!["t".into()];
    s.groups = vec!["g".into()];
    s.env = Arc::new(BTreeMap::from([("K".to_string(), "V".to_string())]));
    s.stop_signal = Some(2);
    s.stdin = Input::File("/in".into());
    s.stdout = Output::File("/out".into());
    s.stderr = ErrOutput::File("/err".into());
    s.size = Some([24, 80]);
    s.scrollback = Some(10);
    s.log_max_size = Some(1);
    s.log_keep = Some(1);
    s
}

fn full_entry() -> EntryInfo {
    EntryInfo {
        name: Some("n".into()),
        pid: Some(1),
        started_at_ms: Some(1),
        ended_at_ms: Some(1),
        uptime_ms: Some(1),
        exit_code: Some(1),
        exit_signal: Some(1),
        cpu_percent: Some(1.0),
        rss_bytes: Some(1),
        originator: Some("o".into()),
        error: Some("e".into()),
        leftovers: vec![1],
        events: vec![EventInfo {
            ts_ms: 1,
            id: 1,
            kind: EventKind::Added,
            message: "m".into(),
        }],
        service_file: Some("/f".into()),
        title: Some("t".into()),
        profile: Some("p".into()),
        build: Some("b".into()),
        env: Some(BTreeMap::from([("K".to_string(), "V".to_string())])),
        spec: Some(full_spec()),
        ..EntryInfo::default()
    }
}

fn full_result() -> ActionResult {
    ActionResult {
        id: 1,
        name: Some("n".into()),
        outcome: Outcome::Started,
        pid: Some(1),
        message: Some("m".into()),
    }
}

fn full_ping() -> PingReply {
    PingReply {
        version: "v".into(),
        protocol: 1,
        pid: 1,
        uptime_ms: 1,
        entries: 1,
        running: 1,
        socket: "/s".into(),
        state_dir: "/d".into(),
        warnings: vec!["w".into()],
        keeper: Some(1),
    }
}

fn full_event() -> LiveEvent {
    LiveEvent {
        ts_ms: 1,
        id: 1,
        name: Some("n".into()),
        kind: EventKind::Missed,
        message: "m".into(),
        stream: Some("stdout".into()),
        count: Some(1),
    }
}

fn full_screen() -> ScreenReply {
    ScreenReply {
        id: 1,
        name: Some("n".into()),
        screen: wrangle::term::Snapshot::default(),
        content: "c".into(),
    }
}

fn full_wait() -> WaitReply {
    WaitReply {
        id: 1,
        name: Some("n".into()),
        exit_code: Some(0),
        exit_signal: Some(1),
    }
}

fn full_log_info() -> LogInfo {
    LogInfo {
        id: 1,
        name: Some("n".into()),
        runs: vec![RunLog {
            run: 1,
            dir: "/d".into(),
            start_seq: 0,
            bytes: 0,
            dropped: 0,
        }],
        end_seq: 0,
        alive: true,
        timestamps: true,
    }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serializable")
}

/// Every member name in a value, at any depth, except the keys of data maps (environments).
fn all_member_names(v: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    members(v, &mut Vec::new(), &mut all);
    all.into_iter()
        .filter(|(path, _)| path.last().is_none_or(|k| k != "env"))
        .map(|(_, k)| k)
        .collect()
}

/// The top-level member names of a value (an object, or the first object of an array).
fn top_member_names(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a.first().map(top_member_names).unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Every member of the code's reply structures, with every optional one filled in, is described
/// in each place its output is documented; this covers members that only rare situations
/// bring out (a `missed` event's `count`, a spec's `{"file":...}` streams).
#[test]
fn every_member_of_the_reply_structures_is_documented() {
    let (man, proto) = (Page::load(MAN), Page::load(PROTO));
    let samples: Vec<(&str, Shape, Value)> = vec![
        ("EntryInfo", Shape::Entry, json(&full_entry())),
        ("ActionResult", Shape::Results, json(&full_result())),
        ("PingReply", Shape::Ping, json(&full_ping())),
        ("WaitReply", Shape::Wait, json(&full_wait())),
        (
            "LabelCount",
            Shape::Labels,
            json(&LabelCount {
                name: "t".into(),
                entries: 1,
            }),
        ),
        ("ScreenReply", Shape::Screen, json(&full_screen())),
        ("LiveEvent", Shape::Event, json(&full_event())),
    ];
    let mut missing = Vec::new();
    for (what, shape, v) in &samples {
        missing.extend(undocumented(what, *shape, v, &man, &proto));
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The members wrangle-protocol(7) lists for an object are exactly those the code's
/// structure for it has: none missing, none stale.
#[test]
fn protocol_member_lists_match_the_code() {
    let proto = Page::load(PROTO);
    let entry = top_member_names(&json(&full_entry()));
    let mut log_info = top_member_names(&json(&full_log_info()));
    log_info.extend(top_member_names(&json(&full_log_info())["runs"]));
    let lists: Vec<(String, BTreeSet<String>, BTreeSet<String>)> = vec![
        (
            "Entry objects".into(),
            listed_members(&proto.ss("Entry objects")),
            entry,
        ),
        (
            "Action results".into(),
            listed_members(&proto.ss("Action results")),
            top_member_names(&json(&full_result())),
        ),
        (
            "Run specification".into(),
            listed_members(&proto.ss("Run specification")),
            top_member_names(&json(&full_spec())),
        ),
        (
            "Log information".into(),
            listed_members(&proto.ss("Log information")),
            log_info,
        ),
        (
            "SUBSCRIPTIONS".into(),
            listed_members(&proto.sh("SUBSCRIPTIONS")),
            top_member_names(&json(&full_event())),
        ),
        (
            "the reply of ping".into(),
            reply_example_members(&proto.op("ping")),
            all_member_names(&json(&full_ping())),
        ),
        (
            "the reply of wait".into(),
            reply_example_members(&proto.op("wait")),
            all_member_names(&json(&full_wait())),
        ),
        (
            "the reply of screen".into(),
            reply_example_members(&proto.op("screen")),
            all_member_names(&json(&full_screen())),
        ),
        (
            "the reply of labels".into(),
            reply_example_members(&proto.op("labels")),
            all_member_names(&json(&LabelsReply {
                labels: vec![LabelCount {
                    name: "t".into(),
                    entries: 1,
                }],
            })),
        ),
    ];
    let mut wrong = Vec::new();
    for (place, documented, code) in &lists {
        for k in code.difference(documented) {
            wrong.push(format!(
                "{PROTO}: {place} does not describe the member `{k}`"
            ));
        }
        for k in documented.difference(code) {
            wrong.push(format!(
                "{PROTO}: {place} describes a member `{k}` that the code does not have"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The commands whose `--help` lists `--json`.
fn json_commands(wr: &Wr) -> BTreeSet<String> {
    let top = wr.ok(&["--help"]).text();
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in top.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_commands = line.trim_end() == "Commands:";
            continue;
        }
        if let Some(body) = line.strip_prefix("  ").filter(|b| !b.starts_with(' ')) {
            if in_commands {
                names.extend(body.split_whitespace().next().map(String::from));
            }
        }
    }
    assert!(
        names.len() > 10,
        "no commands found in `wrangle --help`:\n{top}"
    );
    names
        .into_iter()
        .filter(|c| {
            let help = wr.ok(&[c.as_str(), "--help"]);
            help.text().contains("--json") || help.stderr.contains("--json")
        })
        .collect()
}

/// A process of the test's own, killed and reaped at the end.
struct Own(std::process::Child);

impl Drop for Own {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the commands printed: (command, shape, output).
#[derive(Default)]
struct Outputs(Vec<(String, Shape, Value)>);

impl Outputs {
    /// Runs `wrangle ARGS` (which must succeed) and keeps its JSON output.
    fn json(&mut self, wr: &Wr, args: &[&str], shape: Shape) -> Value {
        let v = wr.ok(args).json();
        self.keep(args, shape, v.clone());
        v
    }

    fn keep(&mut self, args: &[&str], shape: Shape, v: Value) {
        let mut found = Vec::new();
        members(&v, &mut Vec::new(), &mut found);
        assert!(
            !found.is_empty(),
            "`wrangle {}` printed no object to check: {v}",
            args.join(" ")
        );
        self.0.push((args[0].to_string(), shape, v));
    }
}

/// JSON lines, as an array.
fn json_lines(text: &str) -> Value {
    Value::Array(
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .collect(),
    )
}

/// Runs every command that takes `--json` against a private daemon, in situations that bring
/// out its optional members (a terminal entry with a title, services with a build and a
/// profile, an adopted process, a state file that did not parse, lines of both streams), and
/// checks every member it prints against the docs.
#[test]
fn every_member_of_every_json_output_is_documented() {
    let (man, proto) = (Page::load(MAN), Page::load(PROTO));
    let wr = Wr::new();
    let mut out = Outputs::default();

    // A state file that does not parse: ping then reports warnings.
    wr.ok(&["run", "--name", "gone", "--", "true"]);
    wr.ok(&["shutdown"]);
    // (An older wrangle's layout, which a daemon still reads, with its entry file damaged.)
    downgrade(wr.home(), |j| j);
    std::fs::write(wr.home().join("entries/1.json"), b"{ not JSON").expect("write");

    let input = wr.root.join("input.txt");
    std::fs::write(&input, "in\n").expect("write");
    let input = input.display().to_string();
    let secs = unique_secs();
    out.json(
        &wr,
        &[
            "run",
            "--json",
            "--name",
            "doc",
            "--tag",
            "t",
            "--group",
            "g",
            "--pty",
            "--stop-signal",
            "INT",
            "--scrollback",
            "50",
            "--",
            "sh",
            "-c",
            &format!("printf '\\033]2;doc-title\\007'; echo ready; exec sleep {secs}"),
        ],
        Shape::Entry,
    );
    wr.ok(&[
        "run",
        "--name",
        "out",
        "--tag",
        "t",
        "--stdin",
        &input,
        "--log-max-size",
        "1M",
        "--",
        "sh",
        "-c",
        &format!("echo to-out; echo to-err >&2; exec sleep {secs}"),
    ]);
    wr.ok(&[
        "run",
        "--name",
        "ticker",
        "--",
        "sh",
        "-c",
        "while :; do echo tick; sleep 0.2; done",
    ]);
    wr.ok(&["run", "--name", "short", "--", "true"]);

    // A service with a build and a profile.
    let doc = serde_json::json!({"services": {"api": {
        "cmd": ["sleep", secs],
        "build": "true",
        "profiles": {"dev": {"cmd": ["sleep", secs]}}
    }}});
    std::fs::write(wr.root.join("wrangle.json"), doc.to_string()).expect("write");
    out.json(&wr, &["up", "--json"], Shape::Results);
    out.json(
        &wr,
        &["restart", "api", "--profile", "dev", "--json"],
        Shape::Results,
    );

    // An adopted process.
    let adoptee = Own(std::process::Command::new("sleep")
        .arg(&secs)
        .spawn()
        .expect("spawn sleep"));
    let pid = adoptee.0.id().to_string();
    out.json(
        &wr,
        &["add", "--json", "--name", "adopted", &pid],
        Shape::Entry,
    );

    out.json(&wr, &["wait", "short", "--json"], Shape::Wait);

    wr.wait_log("out", "to-err");
    wr.wait_log("doc", "ready");
    wait_until("doc has its title", SOON, || {
        wr.status("doc")["title"] == "doc-title"
    });
    out.json(&wr, &["ls", "--json"], Shape::Entry);
    out.json(
        &wr,
        &["status", "doc", "out", "api", "adopted", "--json"],
        Shape::Entry,
    );
    out.json(&wr, &["screen", "doc", "--json"], Shape::Screen);
    for args in [
        &["logs", "out", "--json"][..],
        &["logs", "out", "doc", "--json"],
    ] {
        let text = wr.ok(args).text();
        out.keep(args, Shape::LogLine, json_lines(&text));
    }

    // Events: lines of output, then lifecycle events.
    let mut events = Bg::spawn(wr.cmd(&["events", "--type", "all", "--json"]));
    events.wait_for("\"kind\":\"log\"");
    wr.ok(&["stop", "ticker"]);
    events.wait_for("\"kind\":\"stopped\"");
    events.stop();
    let text = events.output();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    out.keep(&["events"], Shape::Event, json_lines(complete));

    out.json(
        &wr,
        &["edit", "out", "--env", "X=1", "--json"],
        Shape::Results,
    );
    out.json(
        &wr,
        &["label", "out", "--add-tag", "t2", "--json"],
        Shape::Results,
    );
    for kind in ["tag", "group"] {
        let (one, other) = if kind == "tag" {
            ("t", "t2")
        } else {
            ("g", "g")
        };
        out.json(&wr, &[kind, "--json"], Shape::Labels);
        out.json(&wr, &[kind, one, "--json"], Shape::Entry);
        out.json(
            &wr,
            &[kind, other, "--rename", "renamed", "--json"],
            Shape::Results,
        );
    }
    out.json(&wr, &["signal", "CONT", "out", "--json"], Shape::Results);
    out.json(&wr, &["stop", "out", "--json"], Shape::Results);
    out.json(&wr, &["start", "out", "--json"], Shape::Results);
    out.json(&wr, &["restart", "out", "--json"], Shape::Results);
    out.json(&wr, &["prune", "--json"], Shape::Results);
    out.json(&wr, &["ping", "--json"], Shape::Ping);
    out.json(&wr, &["save", "--json"], Shape::Results);
    wr.ok(&["stop", "out"]);
    out.json(&wr, &["resurrect", "--json"], Shape::Results);
    out.json(&wr, &["upgrade", "--json"], Shape::Upgrade);
    out.json(&wr, &["down", "--json"], Shape::Results);
    out.json(&wr, &["rm", "adopted", "--kill", "--json"], Shape::Results);
    drop(adoptee);

    // The situations above are there to bring out these members: a check that never sees
    // them would pass vacuously.
    let printed: BTreeSet<String> = out.0.iter().flat_map(|o| all_member_names(&o.2)).collect();
    for k in [
        "title",
        "service_file",
        "profile",
        "build",
        "warnings",
        "keeper",
        "spec",
        "env",
        "file",
        "stream",
        "before",
    ] {
        assert!(printed.contains(k), "no output printed the member `{k}`");
    }
    let mut wrong = Vec::new();
    let covered: BTreeSet<String> = out.0.iter().map(|o| o.0.clone()).collect();
    for c in json_commands(&wr).difference(&covered) {
        wrong.push(format!(
            "`wrangle {c}` takes --json, but this test does not check its output"
        ));
    }
    for (command, shape, v) in &out.0 {
        wrong.extend(undocumented(
            &format!("wrangle {command} --json"),
            *shape,
            v,
            &man,
            &proto,
        ));
        for line in unpointed(command, *shape, v, &man) {
            if !wrong.contains(&line) {
                wrong.push(line);
            }
        }
    }
    // The other way round, for the outputs wrangle(1) describes itself: what their --json
    // item sets in bold, in the form of a member name, is a member of the output, a value of
    // one (an event kind, a stream) or an operation whose reply it is.
    let mut names: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (command, shape, v) in &out.0 {
        let described_here = places(*shape, &[])
            .unwrap_or_default()
            .iter()
            .any(|p| matches!(p, Place::Command(_)));
        if !described_here {
            continue;
        }
        let known = names.entry(command.as_str()).or_default();
        known.extend(all_member_names(v));
        match shape {
            Shape::Event => known.extend(all_member_names(&json(&full_event()))),
            Shape::Screen => known.extend(all_member_names(&json(&full_screen()))),
            _ => {}
        }
    }
    let values: BTreeSet<String> = EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .chain(["stdout", "stderr", "ping", "wait", "screen", "labels"])
        .map(String::from)
        .collect();
    for (command, known) in &names {
        let item = json_item(&man.command(command)).unwrap_or_default();
        let bold = bold_macro_words(&item)
            .into_iter()
            .chain(listed_members(&format!(".TP\n{item}")))
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        for w in bold {
            if !known.contains(&w) && !values.contains(&w) {
                wrong.push(format!(
                    "{MAN}: the --json item of `.SS {command}` names `{w}`, which its output does not have"
                ));
            }
        }
    }
    // The members of a line of `logs --json` that wrangle(1)'s example shows are printed.
    let logs_item = json_item(&man.command("logs")).expect("logs has a --json item");
    let example = format!("Reply: {logs_item}");
    let lines: BTreeSet<String> = out
        .0
        .iter()
        .filter(|o| o.1 == Shape::LogLine)
        .flat_map(|o| all_member_names(&o.2))
        .collect();
    for k in reply_example_members(&example).difference(&lines) {
        wrong.push(format!(
            "{MAN}: the example of logs --json shows a member `{k}` that is not printed"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_helpers_read_roff() {
    let page = Page::parse(
        "x",
        ".SH COMMANDS\n.SS ls\n.TP\n.B \\-\\-json\nPrint as\n.BR Entry \" objects\" ,\nx\n.TP\n.B \\-q\nq\n\
         .SH R\n.SS Operations\n.TP\n\\fB{\"op\":\"ping\"}\\fR\nReply:\n.EX\n{\"version\":S,\"a_b\":{\"c\":N}}\n.EE\n\
         .TP\n\\fB{\"op\":\"wait\"}\\fR\nw\n.SS Things\n.TP\n\\fBid\\fR (integer, \\fBnot\\fR), \\fBname\\fR\nx\n",
    );
    let item = json_item(&page.command("ls")).unwrap();
    assert!(
        item.contains("Print as") && !item.contains("\\-q"),
        "{item}"
    );
    assert!(documents(&item, "Entry"));
    assert!(!documents(&item, "objects"));
    assert!(documents("\\fBkey\\fR", "key") && documents("{\"key\":1}", "key"));
    assert!(!documents("key", "key"));
    let ping = page.op("ping");
    assert!(!ping.contains("wait"), "{ping}");
    assert_eq!(
        reply_example_members(&ping),
        ["a_b", "c", "version"].map(String::from).into()
    );
    assert_eq!(
        listed_members(&page.ss("Things")),
        ["id", "name"].map(String::from).into()
    );
    assert_eq!(
        places(Shape::Upgrade, &["before".to_string()]),
        Some(vec![Place::Op("ping")])
    );
    assert_eq!(places(Shape::Entry, &["spec".into(), "env".into()]), None);
}

/// The other objects of the wire that wrangle-protocol(7) describes have exactly the members
/// the code's structures have: HELLO, WELCOME, ERROR, selectors, the replies of operations no
/// `--json` prints as they are, and the events of follow and attach streams.
#[test]
fn protocol_wire_objects_match_the_code() {
    use wrangle::proto::{
        BriefEntry, BriefListReply, EntryReply, ErrorBody, Hello, ReadLogLine, ReadLogReply,
        Selector, SendReply, StreamEvent, UpgradeReply, Welcome,
    };
    let proto = Page::load(PROTO);
    let names = |v: Value| top_member_names(&v);
    let mut handshake = names(json(&Hello {
        versions: vec![1],
        client: "c".into(),
    }));
    handshake.extend(names(json(&Welcome {
        version: 1,
        daemon: "d".into(),
        pid: 1,
    })));
    let selector = Selector {
        project: Some("p".into()),
        ..Selector::default()
    };
    let read_log = ReadLogReply {
        id: 1,
        name: None,
        runs: vec![1],
        lines: vec![ReadLogLine {
            run: 1,
            ts_us: 1,
            stream: "stdout".into(),
            text: "t".into(),
            matched: true,
            gap_before: false,
            cut: false,
        }],
        more: false,
        next_skip: 0,
        end_seq: 0,
        alive: true,
        missing: Some("m".into()),
    };
    let lists: Vec<(&str, BTreeSet<String>, BTreeSet<String>)> = vec![
        (
            "HANDSHAKE",
            listed_members(&proto.sh("HANDSHAKE")),
            handshake,
        ),
        (
            "Selectors",
            listed_members(&proto.ss("Selectors")),
            names(json(&selector)),
        ),
        (
            "ERRORS",
            members_after(&proto.sh("ERRORS"), "payload is"),
            names(json(&ErrorBody {
                code: "c".into(),
                message: "m".into(),
            })),
        ),
        (
            "the reply of run",
            reply_example_members(&proto.op("run")),
            names(json(&EntryReply {
                entry: full_entry(),
            })),
        ),
        (
            "the reply of list",
            reply_example_members(&proto.op("list")),
            names(json(&BriefListReply { entries: vec![] })),
        ),
        (
            "a brief item of list",
            members_after(&proto.op("list"), "each item is only"),
            names(json(&BriefEntry { id: 1, name: None })),
        ),
        (
            "the reply of send",
            members_after(&proto.op("send"), "Reply,"),
            names(json(&SendReply { bytes: 1 })),
        ),
        (
            "the reply of upgrade",
            members_after(&proto.op("upgrade"), "the reply,"),
            names(json(&UpgradeReply {
                binary: "/b".into(),
            })),
        ),
        (
            "the reply of read_log",
            reply_example_members(&proto.op("read_log")),
            all_member_names(&json(&read_log)),
        ),
    ];
    let mut wrong = Vec::new();
    for (place, documented, code) in &lists {
        for k in code.difference(documented) {
            wrong.push(format!(
                "{PROTO}: {place} does not describe the member `{k}`"
            ));
        }
        for k in documented.difference(code) {
            wrong.push(format!(
                "{PROTO}: {place} describes a member `{k}` that the code does not have"
            ));
        }
    }

    // Stream events: every `{"event":"NAME",...}` shown under STREAMS and ATTACH, against
    // every variant of the code's.
    let text = proto.sh("STREAMS") + &proto.sh("ATTACH");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (open, _) in text.match_indices("{\"event\":\"") {
        let example = example_at(&text, open);
        let name = example["{\"event\":\"".len()..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_string();
        documented
            .entry(name)
            .or_default()
            .extend(example_members(example));
    }
    let variants = [
        StreamEvent::Missed { bytes: 1 },
        StreamEvent::Run { run: 1 },
        StreamEvent::Attached {
            id: 1,
            name: None,
            state: "running".into(),
            input: true,
            pty: true,
            seq: Some(1),
        },
        StreamEvent::Exited {
            exit_code: None,
            exit_signal: None,
        },
        StreamEvent::Removed,
        StreamEvent::Screen {
            seq: 1,
            draw: "d".into(),
        },
    ];
    let code: BTreeMap<String, BTreeSet<String>> = variants
        .iter()
        .map(|v| {
            let v = json(v);
            (
                v["event"].as_str().unwrap_or_default().to_string(),
                top_member_names(&v),
            )
        })
        .collect();
    if documented != code {
        wrong.push(format!(
            "{PROTO}: the stream events shown under STREAMS and ATTACH\n  {documented:?}\ndiffer from the code's\n  {code:?}"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
