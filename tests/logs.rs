//! Black-box tests of logs and events: rotation that loses and duplicates nothing, `logs -f`
//! across rotations and restarts, search equal to grep(1)'s, runs, timestamps and `--since`,
//! a log that cannot be written, lifecycle events in order, and subscribers that stall.
//!
//! Each test has its own `WRANGLE_HOME` (see `common::Wr`), waits only by polling a condition
//! with a deadline, and leaves no daemon or big file behind, even when it fails.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Helpers

fn id_of(v: &Value) -> u64 {
    v["id"].as_u64().expect("an entry has an id")
}

/// The log folder of entry `id`.
fn log_dir(wr: &Wr, id: u64) -> PathBuf {
    wr.home().join("logs").join(id.to_string())
}

/// Waits until entry `sel` has run `run` and that run has ended by itself or been stopped.
fn wait_ended(wr: &Wr, sel: &str, run: u64, deadline: Duration) -> Value {
    let mut last = Value::Null;
    let ok = try_wait_until(deadline, || {
        last = wr.status(sel);
        last["run"].as_u64() == Some(run)
            && matches!(
                last["state"].as_str(),
                Some("exited" | "stopped" | "errored")
            )
    });
    assert!(
        ok,
        "run {run} of {sel} did not end within {deadline:?}: {last}"
    );
    last
}

/// Waits until entry `sel` is running run `run`.
fn wait_running(wr: &Wr, sel: &str, run: u64) {
    let mut last = Value::Null;
    let ok = try_wait_until(SOON, || {
        last = wr.status(sel);
        last["run"].as_u64() == Some(run) && last["state"] == "running"
    });
    assert!(ok, "run {run} of {sel} is not running: {last}");
}

/// The kinds of the recent events `wrangle status --json` reports for `sel`.
fn status_kinds(wr: &Wr, sel: &str) -> Vec<String> {
    wr.status(sel)["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_micros() as u64
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `n` bytes from /dev/urandom.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    std::fs::File::open("/dev/urandom")
        .expect("open /dev/urandom")
        .take(n as u64)
        .read_to_end(&mut v)
        .expect("read /dev/urandom");
    assert_eq!(v.len(), n);
    v
}

/// Removes a folder when dropped, pass or fail (for tests that write hundreds of megabytes).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files of run `run` in `dir`, in reading order: `(segment number or None, log path)` for
/// every rotated segment `RUN.SEG.log` (SEG ascending), then `RUN.log`. Panics on any other
/// file name that claims to belong to the run.
fn run_files(dir: &Path, run: u32) -> Vec<(Option<u32>, PathBuf)> {
    let prefix = format!("{run}.");
    let mut segs = Vec::new();
    for e in std::fs::read_dir(dir).expect("read the log folder") {
        let name = e.expect("a folder entry").file_name();
        let name = name.to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        if rest == "log" || rest == "idx" {
            continue;
        }
        let seg = rest
            .strip_suffix(".log")
            .or_else(|| rest.strip_suffix(".idx"))
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("unexpected file {name} in {}", dir.display()));
        if name.ends_with(".log") {
            segs.push(seg);
        }
    }
    segs.sort_unstable();
    let mut out: Vec<(Option<u32>, PathBuf)> = segs
        .into_iter()
        .map(|s| (Some(s), dir.join(format!("{run}.{s}.log"))))
        .collect();
    out.push((None, dir.join(format!("{run}.log"))));
    out
}

/// The sum of the chunk lengths recorded in an index file (16-byte records, length at 8..12).
fn index_total(idx: &Path) -> u64 {
    let b = std::fs::read(idx).unwrap_or_else(|e| panic!("read {}: {e}", idx.display()));
    assert_eq!(b.len() % 16, 0, "{} is not whole records", idx.display());
    b.chunks_exact(16)
        .map(|r| u32::from_be_bytes([r[8], r[9], r[10], r[11]]) as u64)
        .sum()
}

fn concat(files: &[(Option<u32>, PathBuf)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (_, p) in files {
        v.extend(std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())));
    }
    v
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` into milliseconds since the epoch.
fn parse_iso_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let shape = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape {
        return None;
    }
    let num = |a: usize, z: usize| -> Option<i64> {
        let t = s.get(a..z)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + mi) * 60 + se) as u64 * 1000 + ms as u64)
}

/// A line-oriented reader of a child's standard output (e.g. `wrangle events --json`), which
/// can be paused so that the child's pipe fills up and it stalls.
struct Lines {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    paused: Arc<(Mutex<bool>, Condvar)>,
    reader: Option<JoinHandle<()>>,
}

impl Lines {
    fn spawn(mut cmd: Command) -> Lines {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a background command");
        let so = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let (l2, p2) = (Arc::clone(&lines), Arc::clone(&paused));
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(4096, so);
            let mut buf = Vec::new();
            loop {
                {
                    let (m, cv) = &*p2;
                    let mut p = m.lock().unwrap();
                    while *p {
                        p = cv.wait(p).unwrap();
                    }
                }
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => l2.lock().unwrap().push(text(&buf)),
                }
            }
        });
        Lines {
            child,
            lines,
            paused,
            reader: Some(reader),
        }
    }

    fn set_paused(&self, v: bool) {
        let (m, cv) = &*self.paused;
        *m.lock().unwrap() = v;
        cv.notify_all();
    }

    fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn any(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap().iter().any(|l| pred(l))
    }

    /// The lines, each parsed as JSON.
    fn json(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .collect()
    }

    /// Waits until `cond` holds for the lines read so far.
    fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut(&[String]) -> bool) {
        let ok = try_wait_until(timeout, || cond(&self.lines.lock().unwrap()));
        if !ok {
            let v = self.snapshot();
            let tail = &v[v.len().saturating_sub(20)..];
            panic!(
                "timed out after {timeout:?} waiting until {what}; {} lines, the last ones: {tail:#?}",
                v.len()
            );
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.set_paused(false);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Events of entry `id` (JSON lines of `wrangle events --json`).
fn events_of(ev: &[Value], id: u64) -> Vec<Value> {
    ev.iter()
        .filter(|e| e["id"].as_u64() == Some(id))
        .cloned()
        .collect()
}

fn kinds(ev: &[Value]) -> Vec<String> {
    ev.iter()
        .map(|e| e["kind"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Makes sure a lifecycle subscriber is in place: relabels the entry `probe` until the
/// subscriber shows a `labelled` event (what happened before subscribing is never shown).
fn sync_status(wr: &Wr, sub: &Lines) {
    let mut n = 0;
    wait_until("a subscriber sees a probe event", SOON, || {
        n += 1;
        wr.ok(&["label", "probe", "--add-tag", &format!("probe{n}")]);
        try_wait_until(Duration::from_millis(500), || {
            sub.any(|l| l.contains("\"labelled\""))
        })
    });
}

/// Makes sure a log-line subscriber is in place: starts the entry `lprobe` (which prints
/// `lprobe-line`) until the subscriber shows that line.
fn sync_log(wr: &Wr, sub: &Lines) {
    wait_until("a subscriber sees a probe line", SOON, || {
        // Starting may fail while the previous run has not ended: just try again.
        let _ = wr.run(&["start", "lprobe"]);
        try_wait_until(Duration::from_millis(500), || {
            sub.any(|l| l.contains("lprobe-line"))
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 1. Rotation: 200 MB at 1 MB, nothing lost or written twice; the keep limit

/// The test's data: UNITS times an 8-digit unit number followed by the same random block (its
/// length chosen so that units never line up with the 1 MiB rotation size).
const BLOCK_LEN: usize = 1_000_003;
const UNITS: usize = 210;

/// Compares a stream of bytes, piece by piece, with the data the process wrote.
struct Expected<'a> {
    block: &'a [u8],
    pos: u64,
}

impl Expected<'_> {
    fn total(&self) -> u64 {
        (UNITS * (8 + self.block.len())) as u64
    }

    fn check(&mut self, mut data: &[u8], file: &Path) {
        let unit = 8 + self.block.len() as u64;
        while !data.is_empty() {
            let (u, off) = (self.pos / unit, (self.pos % unit) as usize);
            assert!(
                (u as usize) < UNITS,
                "{} holds more than was written (at byte {})",
                file.display(),
                self.pos
            );
            let head = format!("{u:08}");
            let want: &[u8] = if off < 8 {
                &head.as_bytes()[off..]
            } else {
                &self.block[off - 8..]
            };
            let n = want.len().min(data.len());
            if data[..n] != want[..n] {
                let i = (0..n).find(|&i| data[i] != want[i]).unwrap_or(0);
                panic!(
                    "{} differs from what the process wrote at byte {} of the run (unit {u}, \
                     offset {}): got {:?}, want {:?}",
                    file.display(),
                    self.pos + i as u64,
                    off + i,
                    &data[i..(i + 16).min(n)],
                    &want[i..(i + 16).min(n)]
                );
            }
            self.pos += n as u64;
            data = &data[n..];
        }
    }
}

#[test]
fn rotation_of_200_mb_at_1m_concatenates_to_exactly_what_was_written() {
    let wr = Wr::new();
    let block = random_bytes(BLOCK_LEN);
    let block_path = wr.root.join("block");
    std::fs::write(&block_path, &block).expect("write the block");
    let script = format!(
        "i=0; while [ \"$i\" -lt {UNITS} ]; do printf '%08d' \"$i\"; cat \"$1\" || exit 3; \
         i=$((i+1)); done"
    );
    let e = wr.start(&[
        "--log-max-size",
        "1M",
        "--log-keep",
        "1000",
        "--",
        "sh",
        "-c",
        &script,
        "sh",
        block_path.to_str().unwrap(),
    ]);
    let id = id_of(&e);
    let dir = log_dir(&wr, id);
    let _cleanup = RemoveOnDrop(dir.clone());
    let st = wait_ended(&wr, &id.to_string(), 1, Duration::from_secs(100));
    assert_eq!(st["exit_code"], 0, "the writer failed: {st}");

    let files = run_files(&dir, 1);
    let segs: Vec<u32> = files.iter().filter_map(|f| f.0).collect();
    let mut want = Expected {
        block: &block,
        pos: 0,
    };
    let total = want.total();
    // About 200 segments of at most 1 MiB, numbered 1, 2, … with no gap.
    assert!(
        segs.len() as u64 + 1 >= total.div_ceil(1 << 20),
        "only {} rotated segments for {total} bytes at 1M",
        segs.len()
    );
    assert_eq!(
        segs,
        (1..=segs.len() as u32).collect::<Vec<_>>(),
        "segments are numbered 1, 2, … without gaps (keep 1000 deletes none)"
    );
    let mut buf = vec![0u8; 1 << 20];
    for (seg, log) in &files {
        let len = std::fs::metadata(log).expect("stat a log file").len();
        assert!(
            len <= 1 << 20,
            "{} is {len} bytes, past the 1M limit",
            log.display()
        );
        if seg.is_some() {
            assert!(len > 0, "{} is an empty segment", log.display());
        }
        assert_eq!(
            index_total(&log.with_extension("idx")),
            len,
            "the index of {} does not cover exactly its bytes",
            log.display()
        );
        let mut f = std::fs::File::open(log).expect("open a log file");
        loop {
            let n = f.read(&mut buf).expect("read a log file");
            if n == 0 {
                break;
            }
            want.check(&buf[..n], log);
        }
    }
    assert_eq!(
        want.pos, total,
        "the segments then {id}/1.log hold {} bytes of the {total} written",
        want.pos
    );
}

#[test]
fn keep_limit_leaves_the_newest_segments_and_logs_still_reads_them() {
    let wr = Wr::new();
    let e = wr.start(&[
        "--log-max-size",
        "64K",
        "--log-keep",
        "2",
        "--",
        "seq",
        "1",
        "200000",
    ]);
    let id = id_of(&e);
    let sel = id.to_string();
    wait_ended(&wr, &sel, 1, SOON);
    let full: String = (1..=200_000).map(|i| format!("{i}\n")).collect();

    let files = run_files(&log_dir(&wr, id), 1);
    let segs: Vec<u32> = files.iter().filter_map(|f| f.0).collect();
    assert_eq!(
        segs.len(),
        2,
        "--log-keep 2 keeps two rotated segments: {files:?}"
    );
    assert_eq!(segs[1], segs[0] + 1, "the two newest segments: {segs:?}");
    assert!(
        segs[0] > 1,
        "1.3 MB at 64K must have rotated past segment 2: {segs:?}"
    );
    let kept = concat(&files);
    assert!(
        kept.len() < full.len() / 2,
        "two segments and the current file hold {} bytes of {}",
        kept.len(),
        full.len()
    );
    assert!(
        full.as_bytes().ends_with(&kept),
        "the kept segments then 1.log are not the end of what was written"
    );

    // The last lines, a search and the whole kept log all read across the kept segments.
    let o = wr.ok(&["logs", &sel, "-n", "5"]);
    assert_eq!(o.text(), "199996\n199997\n199998\n199999\n200000\n");
    let first_kept_line = full.len() - kept.len();
    let probe = full[first_kept_line..]
        .lines()
        .nth(3)
        .expect("a line in the kept part")
        .to_string();
    let o = wr.ok(&["logs", &sel, "--grep", &format!("^{probe}$")]);
    assert_eq!(o.text(), format!("{probe}\n"));
    let all = wr.logs(&sel, &[]);
    assert!(
        kept.ends_with(&all) && all.len() + 7 >= kept.len(),
        "logs -n 1000000 prints {} bytes, not what is kept ({} bytes)",
        all.len(),
        kept.len()
    );
    // Deleted lines are not found.
    let o = wr.ok(&["logs", &sel, "--grep", "^1$"]);
    assert_eq!(o.text(), "", "line 1 was in a deleted segment");
}

// ---------------------------------------------------------------------------------------------
// 2. logs -f across rotations and restarts

/// A process that prints `mark-N-a`, waits for `DIR/go-N`, prints 20000 x's (several
/// rotations at 4K) and `mark-N-b`, then sleeps; N is read from `DIR/n` at the start of a run.
const FOLLOW_SCRIPT: &str = "n=$(cat \"$1/n\"); echo \"mark-$n-a\"; \
    while [ ! -e \"$1/go-$n\" ]; do sleep 0.02; done; \
    head -c 20000 /dev/zero | tr '\\0' x; echo; echo \"mark-$n-b\"; exec sleep 1000";

fn start_follow_entry(wr: &Wr) -> (u64, PathBuf) {
    let ctl = wr.root.join("ctl");
    std::fs::create_dir_all(&ctl).unwrap();
    std::fs::write(ctl.join("n"), "1\n").unwrap();
    let e = wr.start(&[
        "--name",
        "fol",
        "--log-max-size",
        "4K",
        "--",
        "sh",
        "-c",
        FOLLOW_SCRIPT,
        "sh",
        ctl.to_str().unwrap(),
    ]);
    wr.wait_log("fol", "mark-1-a");
    (id_of(&e), ctl)
}

fn touch(p: &Path) {
    std::fs::write(p, b"").unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
}

#[test]
fn follow_goes_on_across_rotation_and_restart_without_duplicates() {
    let wr = Wr::new();
    let (id, ctl) = start_follow_entry(&wr);
    let mut plain = Bg::spawn(wr.cmd(&["logs", "fol", "-f"]));
    plain.wait_for("mark-1-a");

    touch(&ctl.join("go-1"));
    plain.wait_for("mark-1-b");
    assert!(
        log_dir(&wr, id).join("1.1.log").exists(),
        "run 1 should have rotated at 4K"
    );

    std::fs::write(ctl.join("n"), "2\n").unwrap();
    wr.ok(&["restart", "fol"]);
    plain.wait_for("mark-2-a");
    touch(&ctl.join("go-2"));
    plain.wait_for("mark-2-b");

    let xs = "x".repeat(20_000);
    let want = format!("mark-1-a\n{xs}\nmark-1-b\nmark-2-a\n{xs}\nmark-2-b\n");
    let got = plain.output();
    for m in ["mark-1-a", "mark-1-b", "mark-2-a", "mark-2-b"] {
        assert_eq!(got.matches(m).count(), 1, "{m} printed once by logs -f");
    }
    assert!(
        got == want,
        "logs -f printed {} bytes, not exactly the output of both runs ({} bytes); \
         x count {} of 40000",
        got.len(),
        want.len(),
        got.matches('x').count()
    );
    assert!(plain.running(), "logs -f ended by itself");
    plain.stop();
}

#[test]
fn follow_json_and_grep_go_on_across_a_restart_with_the_right_run() {
    let wr = Wr::new();
    let (_id, ctl) = start_follow_entry(&wr);
    let json = Lines::spawn(wr.cmd(&["logs", "fol", "-f", "--json"]));
    let grep = Bg::spawn(wr.cmd(&["logs", "fol", "-f", "--grep", "^mark-"]));
    json.wait_for("the first marker", SOON, |l| {
        l.iter().any(|l| l.contains("mark-1-a"))
    });
    grep.wait_for("mark-1-a");

    touch(&ctl.join("go-1"));
    std::fs::write(ctl.join("n"), "2\n").unwrap();
    grep.wait_for("mark-1-b");
    wr.ok(&["restart", "fol"]);
    touch(&ctl.join("go-2"));
    grep.wait_for("mark-2-b");
    json.wait_for("the last marker", SOON, |l| {
        l.iter().any(|l| l.contains("mark-2-b"))
    });

    assert_eq!(
        grep.output(),
        "mark-1-a\nmark-1-b\nmark-2-a\nmark-2-b\n",
        "logs -f --grep across a restart"
    );
    let lines: Vec<(u64, String)> = json
        .json()
        .iter()
        .map(|v| {
            assert_eq!(v["stream"], "stdout", "{v}");
            assert!(v["ts_us"].as_u64().is_some_and(|t| t > 0), "{v}");
            (
                v["run"].as_u64().expect("run"),
                v["line"].as_str().expect("line").to_string(),
            )
        })
        .collect();
    let xs = "x".repeat(20_000);
    let want: Vec<(u64, String)> = vec![
        (1, "mark-1-a".into()),
        (1, xs.clone()),
        (1, "mark-1-b".into()),
        (2, "mark-2-a".into()),
        (2, xs),
        (2, "mark-2-b".into()),
    ];
    let short = |v: &[(u64, String)]| -> Vec<(u64, String)> {
        v.iter()
            .map(|(r, l)| (*r, l.chars().take(12).collect()))
            .collect()
    };
    assert_eq!(
        short(&lines),
        short(&want),
        "logs -f --json: (run, line) of every line, live lines of run 2 included"
    );
    assert_eq!(lines, want);
}

// ---------------------------------------------------------------------------------------------
// 3. Search equal to grep's

/// 3000 lines `NNNNN word word` from a fixed pseudo-random sequence.
fn search_text() -> String {
    const WORDS: [&str; 8] = [
        "alpha", "beta", "gamma", "error", "warn", "info", "debug", "delta",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 8) as usize
    };
    (0..3000)
        .map(|i| format!("{i:05} {} {}\n", WORDS[next()], WORDS[next()]))
        .collect()
}

/// An entry that printed the search text (its file is `root/search.txt`).
fn search_entry(wr: &Wr) -> PathBuf {
    let file = wr.root.join("search.txt");
    std::fs::write(&file, search_text()).unwrap();
    wr.start(&["--name", "s", "--", "cat", file.to_str().unwrap()]);
    wait_ended(wr, "s", 1, SOON);
    assert_eq!(
        wr.logs("s", &[]).len() as u64,
        std::fs::metadata(&file).unwrap().len()
    );
    file
}

/// `grep -E RE ARGS FILE`.
fn grep(re: &str, args: &[&str], file: &Path) -> String {
    let o = Command::new("grep")
        .args(["-E", "-e", re])
        .args(args)
        .arg(file)
        .output()
        .expect("run grep");
    assert!(
        o.status.code().unwrap_or(2) < 2,
        "grep {re:?} {args:?} failed"
    );
    text(&o.stdout)
}

#[test]
fn search_with_context_prints_what_grep_prints() {
    let wr = Wr::new();
    let file = search_entry(&wr);
    let cases: &[(&str, &[&str])] = &[
        ("error", &["-C", "2"]),
        ("warn .*beta", &["-A", "3"]),
        ("^0+1[0-9] ", &["-B", "4"]),
        ("alpha alpha|delta$", &["-C", "1"]),
        ("gamma", &["-A", "2", "-B", "1"]),
        ("gamma$", &["-C", "3", "-A", "0"]),
        ("^0012", &[]),
        ("info info", &["-C", "5"]),
        ("no such line", &["-C", "2"]),
    ];
    for (re, ctx) in cases {
        let mut args = vec!["logs", "s", "--grep", re, "-n", "100000"];
        args.extend_from_slice(ctx);
        let got = wr.ok(&args).text();
        let want = grep(re, ctx, &file);
        assert!(
            got == want,
            "`wrangle {}` differs from `grep -E {re:?} {}`: got {} lines, want {}; first \
             difference at line {:?}",
            args.join(" "),
            ctx.join(" "),
            got.lines().count(),
            want.lines().count(),
            got.lines().zip(want.lines()).position(|(a, b)| a != b)
        );
    }
    // An invalid expression is a usage error that names the expression and the problem.
    let o = wr.code(&["logs", "s", "--grep", "(unclosed"], 2);
    assert!(o.stdout.is_empty(), "{:?}", o.text());
    assert!(
        o.stderr.contains("(unclosed") && o.stderr.to_lowercase().contains("group"),
        "the error names the expression and the problem: {:?}",
        o.stderr
    );
    wr.code(&["logs", "s", "--grep", "a{2,1}"], 2);
}

#[test]
fn search_matches_bytes_like_grep_in_the_c_locale() {
    // Lines that are not UTF-8 are searched byte for byte (not as U+FFFD), CR-LF lines keep
    // their CR, and the last line needs no newline.
    let wr = Wr::new();
    let text: &[u8] = b"caf\xc3\xa9 ok\r\n\xff\xfe raw bytes\nplain\nWARN: Disk 90%";
    let file = wr.root.join("bytes.bin");
    std::fs::write(&file, text).unwrap();
    wr.start(&["--name", "b", "--", "cat", file.to_str().unwrap()]);
    wait_ended(&wr, "b", 1, SOON);
    let grep = |re: &str| wr.ok(&["logs", "b", "--grep", re]).stdout;
    assert_eq!(
        grep(r"\xFF\xFE"),
        b"\xff\xfe raw bytes\n",
        "a byte escape finds raw bytes"
    );
    assert_eq!(grep(r"^\xFF.*s$"), b"\xff\xfe raw bytes\n");
    assert_eq!(
        grep("caf\u{e9} ok\r$"),
        b"caf\xc3\xa9 ok\r\n",
        "a character is its UTF-8"
    );
    assert_eq!(grep(r"(?i)warn: disk \d+%$"), b"WARN: Disk 90%");
    assert_eq!(
        grep(r"ok$|^\w+$"),
        b"plain\n",
        "the CR stays part of its line"
    );
}

/// What `--head N` must print: grep's output (without `-m`) up to the Nth match, then at most
/// `after` lines of that match's trailing context. With `strict`, the trailing context also
/// stops before the next matching line, as `grep -m` does (GNU grep is not consistent about
/// it, so both are accepted).
fn head_reference(
    re: &str,
    ctx: &[&str],
    after: usize,
    n: usize,
    file: &Path,
    strict: bool,
) -> String {
    let mut args = ctx.to_vec();
    args.push("-n");
    let out = grep(re, &args, file);
    let mut res = String::new();
    let mut matches = 0;
    let mut trailing: Option<usize> = None;
    for l in out.lines() {
        if l == "--" {
            if trailing.is_some() {
                break;
            }
            res.push_str("--\n");
            continue;
        }
        let i = l
            .find(|c: char| !c.is_ascii_digit())
            .expect("grep -n prints a line number");
        let is_match = l.as_bytes()[i] == b':';
        if let Some(left) = trailing.as_mut() {
            if *left == 0 || (strict && is_match) {
                break;
            }
            *left -= 1;
        } else if is_match {
            matches += 1;
            if matches == n {
                trailing = Some(after);
            }
        }
        res.push_str(&l[i + 1..]);
        res.push('\n');
    }
    res
}

#[test]
fn search_head_stops_after_n_matches_like_grep_max_count() {
    let wr = Wr::new();
    let file = search_entry(&wr);
    // (regex, context flags, lines of trailing context, N)
    let cases: &[(&str, &[&str], usize, usize)] = &[
        ("error", &["-A", "1"], 1, 5),
        ("info", &["-B", "2"], 0, 3),
        ("^0001", &[], 0, 4),
        ("error|warn", &["-A", "2"], 2, 10),
        // The Nth match is followed, within its trailing context, by more matches.
        ("debug", &["-A", "2"], 2, 1),
        ("gamma$", &["-C", "3"], 3, 7),
    ];
    let mut wrong = Vec::new();
    for &(re, ctx, after, n) in cases {
        let n_s = n.to_string();
        let mut args = vec!["logs", "s", "--grep", re, "--head", &n_s];
        args.extend_from_slice(ctx);
        let got = wr.ok(&args).text();
        let loose = head_reference(re, ctx, after, n, &file, false);
        let strict = head_reference(re, ctx, after, n, &file, true);
        if got != loose && got != strict {
            wrong.push(format!(
                "`wrangle {}` should print the first {n} matches with their context (like \
                 `grep -E {re:?} {} -m {n}`); the end of its output:\n{}--- want ---\n{}{}",
                args.join(" "),
                ctx.join(" "),
                last_lines(&got, 6),
                last_lines(&loose, 6),
                if loose == strict {
                    String::new()
                } else {
                    format!(
                        "--- or (stopping at the next match) ---\n{}",
                        last_lines(&strict, 6)
                    )
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn last_lines(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let mut out = String::new();
    if v.len() > n {
        out.push_str("[…]\n");
    }
    for l in &v[v.len().saturating_sub(n)..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[test]
fn search_tail_keeps_the_last_n_matches_even_on_adjacent_lines() {
    let wr = Wr::new();
    let file = search_entry(&wr);
    let mut wrong = Vec::new();
    // Without context: the last N lines of grep's output.
    for (re, n) in [("0", 3), ("a", 3), ("error", 4), ("^0299", 2), ("^02", 1)] {
        let got = wr
            .ok(&["logs", "s", "--grep", re, "-n", &n.to_string()])
            .text();
        let want = last_lines(&grep(re, &[], &file), n).replace("[…]\n", "");
        if got != want {
            wrong.push(format!(
                "`wrangle logs s --grep {re} -n {n}` should print the last {n} matches:\n\
                 --- got ---\n{got}--- want ---\n{want}"
            ));
        }
    }
    // With trailing context: grep run over the reversed file (so -m picks the last matches).
    for (re, a, n) in [
        ("^0299[0-9]", 1, 2),
        ("gamma$", 2, 3),
        ("e", 1, 4),
        ("^0150", 1, 1),
    ] {
        let (a, n) = (a.to_string(), n.to_string());
        let got = wr
            .ok(&["logs", "s", "--grep", re, "-A", &a, "-n", &n])
            .text();
        let o = Command::new("sh")
            .args([
                "-c",
                "tac \"$1\" | grep -E \"$2\" -B \"$3\" -m \"$4\" | tac",
                "sh",
                file.to_str().unwrap(),
                re,
                &a,
                &n,
            ])
            .output()
            .expect("run tac | grep | tac");
        let want = text(&o.stdout);
        if got != want {
            wrong.push(format!(
                "`wrangle logs s --grep {re} -A {a} -n {n}` should print the last {n} matches \
                 with their context:\n--- got ---\n{got}--- want ---\n{want}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 4. Runs

#[test]
fn run_selects_earlier_runs_and_all_runs_with_headers() {
    let wr = Wr::new();
    let value = wr.root.join("value");
    std::fs::write(&value, "A").unwrap();
    let e = wr.start(&[
        "--name",
        "r",
        "--",
        "sh",
        "-c",
        "echo \"id=$WRANGLE_ID value=$(cat \"$1\")\"",
        "sh",
        value.to_str().unwrap(),
    ]);
    let id = id_of(&e);
    wait_ended(&wr, "r", 1, SOON);
    for (run, v) in [(2, "B"), (3, "C")] {
        std::fs::write(&value, v).unwrap();
        wr.ok(&["restart", "r"]);
        wait_ended(&wr, "r", run, SOON);
    }
    let line = |v: &str| format!("id={id} value={v}\n");
    let logs = |extra: &[&str]| {
        let mut a = vec!["logs", "r"];
        a.extend_from_slice(extra);
        wr.ok(&a).text()
    };
    assert_eq!(logs(&[]), line("C"), "the latest run by default");
    assert_eq!(logs(&["--run", "-1"]), line("C"));
    assert_eq!(
        logs(&["--run", "-2"]),
        line("B"),
        "--run -2 is the run before"
    );
    assert_eq!(logs(&["--run", "-3"]), line("A"));
    assert_eq!(logs(&["--run", "1"]), line("A"));
    assert_eq!(logs(&["--run", "2"]), line("B"));
    assert_eq!(
        logs(&["--run", "all"]),
        format!(
            "==> run 1 <==\n{}==> run 2 <==\n{}==> run 3 <==\n{}",
            line("A"),
            line("B"),
            line("C")
        )
    );
    assert_eq!(
        logs(&["--run", "all", "--grep", "value=[AC]"]),
        format!("==> run 1 <==\n{}==> run 3 <==\n{}", line("A"), line("C"))
    );
    for bad in ["4", "-4", "0", "later"] {
        let o = wr.code(&["logs", "r", "--run", bad], 2);
        assert!(o.stdout.is_empty(), "--run {bad}: {:?}", o.text());
        assert!(o.stderr.contains("run"), "--run {bad}: {:?}", o.stderr);
    }
    let o = wr.code(&["logs", "r", "--run", "7"], 2);
    assert!(
        o.stderr.contains('1') && o.stderr.contains('3'),
        "a run not kept says which runs are: {:?}",
        o.stderr
    );
}

#[test]
fn config_logs_runs_limits_which_runs_keep_their_logs() {
    let wr = Wr::new();
    std::fs::create_dir_all(wr.home()).unwrap();
    std::fs::set_permissions(
        wr.home(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(wr.home().join("config.json"), r#"{"logs": {"runs": 2}}"#).unwrap();
    let e = wr.start(&["--name", "k", "--", "sh", "-c", "echo run-of-$WRANGLE_ID"]);
    let id = id_of(&e);
    wait_ended(&wr, "k", 1, SOON);
    for run in [2, 3] {
        wr.ok(&["restart", "k"]);
        wait_ended(&wr, "k", run, SOON);
    }
    let o = wr.code(&["logs", "k", "--run", "1"], 2);
    assert!(
        o.stderr.contains('2') && o.stderr.contains('3'),
        "{:?}",
        o.stderr
    );
    wr.code(&["logs", "k", "--run", "-3"], 2);
    assert_eq!(
        wr.ok(&["logs", "k", "--run", "all"]).text(),
        format!("==> run 2 <==\nrun-of-{id}\n==> run 3 <==\nrun-of-{id}\n")
    );
    let dir = log_dir(&wr, id);
    assert!(!dir.join("1.log").exists(), "the logs of run 1 are deleted");
    assert!(dir.join("2.log").exists() && dir.join("3.log").exists());
}

// ---------------------------------------------------------------------------------------------
// 5. Timestamps and --since

#[test]
fn timestamps_are_utc_and_non_decreasing_and_since_cuts_by_receive_time() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "t",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 24 ]; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done",
    ]);
    wait_ended(&wr, "t", 1, SOON);

    // --json gives the receive times in µs; --timestamps prints them in UTC (whatever TZ says).
    let js: Vec<Value> = wr
        .ok(&["logs", "t", "--json", "-n", "100"])
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(js.len(), 24, "{js:?}");
    let ts: Vec<u64> = js
        .iter()
        .map(|v| v["ts_us"].as_u64().expect("ts_us"))
        .collect();
    for (i, v) in js.iter().enumerate() {
        assert_eq!(v["line"], format!("tick {i}"));
    }
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "receive times go backwards: {ts:?}"
    );
    let now = now_us();
    assert!(
        ts[0] <= now && now - ts[0] < 600_000_000,
        "ts_us {} is not a recent time (now {now})",
        ts[0]
    );
    let o = finish(
        wr.cmd(&["logs", "t", "--timestamps", "--utc", "-n", "100"])
            .env("TZ", "Asia/Kolkata")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wrangle logs"),
        CMD_DEADLINE,
        "wrangle logs t --timestamps",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let stamped: Vec<(u64, String)> = o
        .text()
        .lines()
        .map(|l| {
            let (t, rest) = l.split_once(' ').expect("a timestamp, a space, the line");
            let ms = parse_iso_ms(t)
                .unwrap_or_else(|| panic!("{t:?} is not ISO 8601 UTC with milliseconds"));
            (ms, rest.to_string())
        })
        .collect();
    assert_eq!(stamped.len(), 24);
    for (i, (ms, line)) in stamped.iter().enumerate() {
        assert_eq!(line, &format!("tick {i}"));
        assert_eq!(*ms, ts[i] / 1000, "line {i}: --timestamps vs --json ts_us");
    }

    // --since: ask for a window that starts just at the first line received 200 ms or more
    // after the first one. The client reads the clock a little after we do, so the cutoff it
    // uses lies in [lo, hi].
    let r = ts
        .iter()
        .position(|&t| t >= ts[0] + 200_000)
        .expect("the lines span more than 200 ms");
    let before = now_us();
    let dur_ms = (before - ts[r]).div_ceil(1000);
    let o = wr.ok(&["logs", "t", "--since", &format!("{dur_ms}ms"), "-n", "100"]);
    let after = now_us();
    let lo = before.saturating_sub(dur_ms * 1000);
    let hi = after.saturating_sub(dur_ms * 1000);
    let got: Vec<String> = o.text().lines().map(str::to_string).collect();
    let first = 24 - got.len();
    let want: Vec<String> = (first..24).map(|i| format!("tick {i}")).collect();
    assert_eq!(got, want, "--since prints a run of the last lines");
    assert!(
        first >= 1,
        "--since {dur_ms}ms printed the first line (received {} ms before the cutoff)",
        (lo - ts[0]) / 1000
    );
    for (i, &t) in ts.iter().enumerate() {
        if i < first {
            assert!(t < hi, "tick {i} (received in the window) is missing");
        } else {
            assert!(t >= lo, "tick {i} (received before the window) is printed");
        }
    }
    // A window that covers everything, and one that covers nothing.
    assert_eq!(
        wr.ok(&["logs", "t", "--since", "1h", "-n", "100"])
            .text()
            .lines()
            .count(),
        24
    );
    let age_ms = (now_us() - ts[23]) / 1000;
    if age_ms > 50 {
        let o = wr.ok(&["logs", "t", "--since", &format!("{}ms", age_ms - 20)]);
        assert_eq!(
            o.text(),
            "",
            "nothing was received in the last {}ms",
            age_ms - 20
        );
    }
    wr.code(&["logs", "t", "--since", "yesterday"], 2);
}

// ---------------------------------------------------------------------------------------------
// 6. A log that cannot be written

/// A daemon started by the test itself (here under a file-size limit), shut down when dropped.
struct OwnDaemon<'a> {
    wr: &'a Wr,
    child: Child,
}

impl<'a> OwnDaemon<'a> {
    /// `wrangle daemon` with `ulimit -f BLOCKS` (512-byte blocks), in the instance's
    /// environment; waits until it answers.
    fn start_with_file_limit(wr: &'a Wr, blocks: u32) -> OwnDaemon<'a> {
        let out = std::fs::File::create(wr.root.join("daemon.out")).expect("create daemon.out");
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -f {blocks} && exec \"$0\" daemon"))
            .arg(BIN);
        for v in [
            "WRANGLE_HOME",
            "WRANGLE_SOCKET",
            "WRANGLE_STATE_DIR",
            "WRANGLE_CONFIG",
            "XDG_RUNTIME_DIR",
            "WRANGLE_NO_AUTOSTART",
            "WRANGLE_AUTOSTART",
            "WRANGLE_ID",
            "WRANGLE_NAME",
        ] {
            c.env_remove(v);
        }
        c.env(MARKER, &wr.root)
            .env("WRANGLE_HOME", wr.home())
            .current_dir(&wr.root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut child = c
            .spawn()
            .expect("spawn sh -c 'ulimit -f …; exec wrangle daemon'");
        let up = try_wait_until(SOON, || {
            matches!(child.try_wait(), Ok(None)) && wr.run(&["ping"]).code == 0
        });
        if !up {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the daemon started under ulimit -f did not answer: {}",
                std::fs::read_to_string(wr.root.join("daemon.out")).unwrap_or_default()
            );
        }
        OwnDaemon { wr, child }
    }
}

impl Drop for OwnDaemon<'_> {
    fn drop(&mut self) {
        let _ = self.wr.run_within(&["shutdown"], Duration::from_secs(40));
        let gone = try_wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !gone {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn a_full_disk_is_reported_the_process_survives_and_capture_resumes() {
    let wr = Wr::new();
    // 2048 blocks of 512 bytes: no file of the daemon may grow past 1 MiB.
    let daemon = OwnDaemon::start_with_file_limit(&wr, 2048);
    let ctl = wr.root.join("ctl");
    std::fs::create_dir_all(&ctl).unwrap();
    wr.start(&["--name", "probe", "--", "true"]);
    let ev = Lines::spawn(wr.cmd(&["events", "--json"]));
    sync_status(&wr, &ev);

    // Default rotation (10M) is far above the limit: the log fills to 1 MiB and then fails.
    let script = "echo waiting-go1; while [ ! -e \"$1/go1\" ]; do sleep 0.02; done; \
        yes 0123456789012345678901234567890123456789 | head -n 40000; \
        echo during-failure-marker; while [ ! -e \"$1/go2\" ]; do sleep 0.02; done; \
        i=0; while :; do i=$((i+1)); echo \"resumed-$i\"; sleep 0.05; done";
    let e = wr.start(&[
        "--name",
        "full",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        ctl.to_str().unwrap(),
    ]);
    let id = id_of(&e);
    let pid = e["pid"].as_i64().expect("a pid") as i32;
    // A follower attached before the failure sees, from memory, what the files miss.
    let follower = Bg::spawn(wr.cmd(&["logs", "full", "-f", "--grep", "waiting|marker"]));
    follower.wait_for("waiting-go1");
    touch(&ctl.join("go1"));

    wait_until("status shows a log_error event", SOON, || {
        status_kinds(&wr, "full").iter().any(|k| k == "log_error")
    });
    follower.wait_for("during-failure-marker");
    let st = wr.status("full");
    assert_eq!(st["state"], "running", "the process must survive: {st}");
    assert!(
        alive(pid),
        "the process died when its log could not be written"
    );
    let msg = st["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "log_error")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        msg.to_lowercase().contains("too large") || msg.contains("27"),
        "the log_error event says why: {msg:?}"
    );
    let log = log_dir(&wr, id).join("1.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size <= 1 << 20, "1.log is {size} bytes, past the limit");
    assert!(
        !text(&std::fs::read(&log).unwrap()).contains("during-failure-marker"),
        "the marker cannot be in the full file"
    );
    assert!(wr.run(&["ping"]).code == 0, "the daemon must survive");

    // Clearing the log makes room: writing works again and says so.
    let o = wr.ok(&["logs", "full", "--clear"]);
    assert!(o.text().contains("cleared"), "{:?}", o.text());
    touch(&ctl.join("go2"));
    wait_until("status shows a log_resumed event", SOON, || {
        status_kinds(&wr, "full").iter().any(|k| k == "log_resumed")
    });
    wr.wait_log("full", "resumed-3");
    assert!(
        text(&std::fs::read(&log).unwrap()).contains("resumed-3"),
        "new output is in 1.log again"
    );
    let kinds_seen = status_kinds(&wr, "full");
    let pos = |k: &str| kinds_seen.iter().position(|x| x == k);
    assert!(
        pos("log_error") < pos("logs_cleared") && pos("logs_cleared") < pos("log_resumed"),
        "log_error, then logs_cleared, then log_resumed: {kinds_seen:?}"
    );
    assert_eq!(wr.state("full"), "running");

    // The event stream reported both, once each, in order.
    ev.wait_for("events shows log_resumed", SOON, |l| {
        l.iter().any(|l| l.contains("\"log_resumed\""))
    });
    let k = kinds(&events_of(&ev.json(), id));
    let errs: Vec<&String> = k.iter().filter(|k| k.starts_with("log_")).collect();
    assert_eq!(
        errs,
        ["log_error", "log_resumed"],
        "events --json for the entry: {k:?}"
    );
    wr.ok(&["stop", "full"]);
    drop(daemon);
}

// ---------------------------------------------------------------------------------------------
// 7. Events in order; log lines

#[test]
fn events_of_a_crash_restart_stop_remove_cycle_arrive_in_order() {
    let wr = Wr::new();
    wr.start(&["--name", "probe", "--", "true"]);
    wr.start(&["--name", "lprobe", "--", "sh", "-c", "echo lprobe-line"]);
    let ev = Lines::spawn(wr.cmd(&["events", "--json"]));
    let logs = Lines::spawn(wr.cmd(&["events", "--type", "log", "--json"]));
    sync_status(&wr, &ev);
    sync_log(&wr, &logs);

    let flag = wr.root.join("flag");
    let e = wr.start(&[
        "--name",
        "cyc",
        "--",
        "sh",
        "-c",
        "printf 'first\\nsecond\\n'; echo to-stderr >&2; \
         if [ -e \"$1\" ]; then exec sleep 1000; fi; printf no-newline-end; exit 1",
        "sh",
        flag.to_str().unwrap(),
    ]);
    let id = id_of(&e);
    let st = wait_ended(&wr, "cyc", 1, SOON);
    assert_eq!(st["exit_code"], 1);
    touch(&flag);
    wr.ok(&["restart", "cyc"]);
    wait_running(&wr, "cyc", 2);
    wr.ok(&["stop", "cyc"]);
    wr.ok(&["rm", "cyc"]);
    let id_key = format!("\"id\":{id},");
    ev.wait_for("events shows the removal", SOON, |l| {
        l.iter()
            .any(|l| l.contains(&id_key) && l.contains("\"removed\""))
    });
    let mine = events_of(&ev.json(), id);
    assert_eq!(
        kinds(&mine),
        [
            "added",
            "started",
            "exited",
            "restarting",
            "started",
            "stopping",
            "stopped",
            "removed"
        ],
        "lifecycle events of one entry, in order: {mine:#?}"
    );
    let ts: Vec<u64> = mine.iter().map(|e| e["ts_ms"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ts_ms order: {ts:?}");
    for e in &mine {
        assert_eq!(e["name"], "cyc", "{e}");
        assert!(e["message"].is_string(), "{e}");
        assert!(e.get("stream").is_none_or(Value::is_null), "{e}");
    }
    assert!(
        mine[2]["message"].as_str().unwrap().contains('1'),
        "exited says the code: {}",
        mine[2]
    );

    // --type log: every line of both runs, the last one of run 1 without its newline.
    logs.wait_for("the second run's lines", SOON, |l| {
        l.iter()
            .filter(|l| l.contains(&id_key) && l.contains("to-stderr"))
            .count()
            >= 2
    });
    let lines = events_of(&logs.json(), id);
    let got: Vec<(String, String)> = lines
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "log", "--type log prints only lines: {e}");
            (
                e["stream"].as_str().unwrap_or("?").to_string(),
                e["message"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let of = |s: &str| -> Vec<String> {
        got.iter()
            .filter(|g| g.0 == s)
            .map(|g| g.1.clone())
            .collect()
    };
    assert_eq!(
        of("stdout"),
        ["first", "second", "no-newline-end", "first", "second"],
        "stdout lines: {got:?}"
    );
    assert_eq!(of("stderr"), ["to-stderr", "to-stderr"], "{got:?}");
    assert!(
        logs.snapshot().iter().all(|l| l.contains("\"log\"")),
        "--type log prints no lifecycle events"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. A stalled subscriber

#[test]
fn a_stalled_subscriber_slows_nobody_and_learns_what_it_missed() {
    const LINES: u64 = 200_000;
    let wr = Wr::new();
    wr.start(&["--name", "probe", "--", "true"]);
    let stalled = Lines::spawn(wr.cmd(&["events", "--type", "all", "--json"]));
    let reader = Lines::spawn(wr.cmd(&["events", "--json"]));
    sync_status(&wr, &stalled);
    sync_status(&wr, &reader);
    stalled.set_paused(true);
    let seen_before = stalled.len();

    let t0 = Instant::now();
    let e = wr.start(&["--name", "flood", "--", "seq", "1", &LINES.to_string()]);
    let id = id_of(&e);
    let exited = format!("\"id\":{id},");
    let mut scanned = 0;
    reader.wait_for("the reading subscriber sees the exit", SOON, |l| {
        let hit = l[scanned..]
            .iter()
            .any(|l| l.contains(&exited) && l.contains("\"exited\""));
        scanned = l.len();
        hit
    });
    let took = t0.elapsed();
    let t1 = Instant::now();
    let ping = wr.run_within(&["ping"], SOON);
    assert_eq!(ping.code, 0, "ping while a subscriber is stalled: {ping:?}");
    assert!(
        t1.elapsed() < Duration::from_secs(10),
        "ping took {:?}",
        t1.elapsed()
    );
    assert_eq!(wr.state("flood"), "exited");
    assert!(
        took < SOON,
        "the process took {took:?} to finish with a stalled subscriber"
    );
    assert!(
        stalled.len() < seen_before + 100,
        "the stalled subscriber was not stalled"
    );

    // Read the stalled one again: after the next event it learns how many it missed.
    stalled.set_paused(false);
    let mut n: u64 = 0;
    wait_until("the stalled subscriber catches up", SOON, || {
        n += 1;
        wr.ok(&["label", "probe", "--add-tag", &format!("late{n}")]);
        try_wait_until(Duration::from_millis(500), || {
            stalled.any(|l| l.contains("\"labelled\"") && l.contains("late"))
        })
    });
    let all = stalled.json();
    let after: Vec<&Value> = all[seen_before..].iter().collect();
    let missed: u64 = after
        .iter()
        .filter(|e| e["kind"] == "missed")
        .map(|e| {
            assert_eq!(e["id"], 0, "a missed event has id 0: {e}");
            e["count"].as_u64().expect("a missed event has a count")
        })
        .sum();
    let flood: Vec<&&Value> = after
        .iter()
        .filter(|e| e["id"].as_u64() == Some(id))
        .collect();
    let late_labels = after
        .iter()
        .filter(|e| {
            e["kind"] == "labelled" && e["message"].as_str().is_some_and(|m| m.contains("late"))
        })
        .count();
    assert!(
        missed > 0,
        "a subscriber that stalled through {LINES} lines should be told it missed events \
         (it got {} of them)",
        flood.len()
    );
    // Every event since the stall was either delivered or counted: the flood's lines and its
    // added, started and exited, plus the `n` relabellings of the probe.
    assert_eq!(
        flood.len() as u64 + late_labels as u64 + missed,
        LINES + 3 + n,
        "events delivered ({} of the flood, {late_labels} relabellings) plus events reported \
         missed ({missed}) should be all of them",
        flood.len()
    );
    // What was delivered is in order: lines ascending.
    let nums: Vec<u64> = flood
        .iter()
        .filter(|e| e["kind"] == "log")
        .map(|e| e["message"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "lines out of order");
}

// ---------------------------------------------------------------------------------------------
// 9. Streams, JSON, head

#[test]
fn streams_split_json_lines_parse_and_head_counts_from_the_start() {
    let wr = Wr::new();
    wr.start(&[
        "--name",
        "two",
        "--",
        "sh",
        "-c",
        "echo out-1; echo err-1 >&2; echo out-2; printf 'err-2 first half' >&2; echo out-3; \
         echo ' second half' >&2; echo out-4",
    ]);
    wait_ended(&wr, "two", 1, SOON);
    let outs = ["out-1", "out-2", "out-3", "out-4"];
    let errs = ["err-1", "err-2 first half second half"];
    let lines = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["logs", "two"];
        a.extend_from_slice(args);
        wr.ok(&a).text().lines().map(str::to_string).collect()
    };
    assert_eq!(lines(&["--stdout"]), outs);
    assert_eq!(
        lines(&["--stderr"]),
        errs,
        "a line written in pieces is whole"
    );
    let both = lines(&[]);
    assert_eq!(both.len(), 6, "{both:?}");
    let only = |v: &[String], p: &str| -> Vec<String> {
        v.iter().filter(|l| l.starts_with(p)).cloned().collect()
    };
    assert_eq!(only(&both, "out"), outs, "stdout in order in {both:?}");
    assert_eq!(only(&both, "err"), errs, "stderr in order in {both:?}");

    let js: Vec<Value> = lines(&["--json"])
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(js.len(), 6);
    for v in &js {
        let o = v.as_object().expect("an object");
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["line", "run", "stream", "ts_us"], "{v}");
        assert_eq!(v["run"], 1);
        assert!(v["ts_us"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000_000));
        let l = v["line"].as_str().unwrap();
        let want = if l.starts_with("out") {
            "stdout"
        } else {
            "stderr"
        };
        assert_eq!(v["stream"], want, "{v}");
        assert!(!l.ends_with('\n'));
    }
    let js_err: Vec<String> = lines(&["--json", "--stderr"])
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["line"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(js_err, errs);
    let stamped = lines(&["--timestamps", "--stdout"]);
    assert_eq!(stamped.len(), 4);
    for (s, want) in stamped.iter().zip(outs) {
        let (t, rest) = s.split_once(' ').unwrap();
        assert!(parse_iso_ms(t).is_some(), "{s:?}");
        assert_eq!(rest, want);
    }

    wr.start(&["--name", "hundred", "--", "seq", "1", "100"]);
    wait_ended(&wr, "hundred", 1, SOON);
    let nums = |args: &[&str]| -> Vec<u32> {
        let mut a = vec!["logs", "hundred"];
        a.extend_from_slice(args);
        wr.ok(&a)
            .text()
            .lines()
            .map(|l| l.parse().unwrap_or_else(|_| panic!("{l:?}")))
            .collect()
    };
    assert_eq!(
        nums(&[]),
        (81..=100).collect::<Vec<_>>(),
        "20 lines by default"
    );
    assert_eq!(nums(&["-n", "5"]), [96, 97, 98, 99, 100]);
    assert_eq!(nums(&["--head", "3"]), [1, 2, 3]);
    assert_eq!(
        nums(&["--head", "3", "-n", "50"]),
        [1, 2, 3],
        "--head overrides -n"
    );
    assert_eq!(nums(&["--head", "3", "--grep", "5"]), [5, 15, 25]);
    assert_eq!(nums(&["--head", "2", "--stdout"]), [1, 2]);
    assert_eq!(nums(&["--head", "2", "--stderr"]), Vec::<u32>::new());
    assert_eq!(nums(&["--head", "500"]).len(), 100);
}

// ---------------------------------------------------------------------------------------------
// 9. A log-line subscriber on a flood of short lines

/// `yes` prints a two-byte line over and over; with a log-line subscriber the daemon cuts every
/// chunk it reads into lines. That must take time in proportion to the chunk (not to the chunk
/// times its lines), so the daemon keeps answering other clients at once.
#[test]
fn a_log_subscriber_on_a_flood_of_short_lines_slows_nobody() {
    let wr = Wr::new();
    wr.start(&["--name", "y", "--", "yes"]);
    // The subscriber's output is read in a thread: the first lines are kept, the rest counted.
    let mut child = wr
        .cmd(&["events", "--type", "log", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn wrangle events");
    let so = child.stdout.take().expect("piped stdout");
    let first = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(Mutex::new(0u64));
    let (f2, c2) = (Arc::clone(&first), Arc::clone(&count));
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(so);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut f = f2.lock().unwrap();
                    if f.len() < 200 {
                        f.push(text(&buf));
                    }
                    *c2.lock().unwrap() += 1;
                }
            }
        }
    });
    wait_until("the subscriber receives lines of y", SOON, || {
        *count.lock().unwrap() >= 1000
    });

    let mut took = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut c = Raw::connect(&wr.socket());
        c.hello();
        let f = c.request(1, r#"{"op":"ping"}"#);
        assert_eq!(f.kind, RESPONSE, "ping: {:?}", f.json());
        took.push(t.elapsed());
        if t.elapsed() > Duration::from_secs(6) {
            break; // Already too slow: no need to wait for the others.
        }
    }
    let before = *count.lock().unwrap();
    wait_until("the subscriber keeps receiving lines", SOON, || {
        *count.lock().unwrap() > before
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    wr.ok(&["stop", "y"]);

    took.sort();
    let (median, worst) = (took[took.len() / 2], took[took.len() - 1]);
    assert!(
        // Generous for a debug build on a loaded 2-core box running other tests (about 0.5 s
        // on a quiet one, 10 ms for a release build); cutting lines in a quadratic way took 10
        // to 20 s for every ping.
        median < Duration::from_secs(3) && worst < Duration::from_secs(6),
        "with a log subscriber on `yes`, ping took {median:?} at the median and {worst:?} at \
         worst: {took:?}"
    );

    // What the subscriber received are the lines `yes` printed, one event each.
    let first = first.lock().unwrap();
    let lines: Vec<Value> = first
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))
        })
        .filter(|e| e["kind"] == "log")
        .collect();
    assert!(lines.len() >= 100, "too few log lines: {first:#?}");
    for e in &lines {
        assert_eq!(e["name"], "y", "{e}");
        assert_eq!(e["stream"], "stdout", "{e}");
        assert_eq!(e["message"], "y", "{e}");
    }
}

#[test]
fn rotation_cuts_at_a_line_boundary_and_head_starts_at_a_line() {
    let wr = Wr::new();
    // 3000 lines of 7 to 200 bytes, their lengths never lining up with the 4K limit.
    let script = "awk 'BEGIN { for (i = 1; i <= 3000; i++) { s = \"L\" i \":\"; \
                  n = (i * 37) % 193; for (j = 0; j < n; j++) s = s \"x\"; print s } }'";
    let full: String = (1..=3000u32)
        .map(|i| format!("L{i}:{}\n", "x".repeat((i * 37 % 193) as usize)))
        .collect();
    let e = wr.start(&[
        "--log-max-size",
        "4K",
        "--log-keep",
        "3",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let id = id_of(&e);
    let sel = id.to_string();
    let st = wait_ended(&wr, &sel, 1, SOON);
    assert_eq!(st["exit_code"], 0, "{st}");
    let files = run_files(&log_dir(&wr, id), 1);
    assert!(files.len() == 4, "three kept segments and 1.log: {files:?}");
    for (seg, log) in &files {
        let bytes = std::fs::read(log).unwrap();
        assert!(
            bytes.len() <= 4096,
            "{} is {} bytes",
            log.display(),
            bytes.len()
        );
        assert_eq!(
            index_total(&log.with_extension("idx")),
            bytes.len() as u64,
            "the index of {} does not cover exactly its bytes",
            log.display()
        );
        if seg.is_some() {
            assert!(
                bytes.ends_with(b"\n") && bytes.len() > 3800,
                "{} does not end at the last line that fit: {:?}",
                log.display(),
                String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(40)..])
            );
        }
    }
    let kept = concat(&files);
    assert!(
        full.as_bytes().ends_with(&kept),
        "the kept files are not the end of the output"
    );
    let start = full.len() - kept.len();
    assert_eq!(
        &full[start - 1..start],
        "\n",
        "the oldest kept segment starts inside a line"
    );
    let first = full[start..].lines().next().unwrap();
    assert_eq!(
        wr.ok(&["logs", &sel, "--head", "1"]).text(),
        format!("{first}\n")
    );
}
