//! The daemon out of resources: a full disk while an entry logs, no inodes when a run starts,
//! no file descriptors left for clients. The disk cases mount a small tmpfs as the daemon's
//! home and so need root (they say so and pass otherwise); CI runs them as root.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A tmpfs mounted for one test, unmounted (and its folder removed) when dropped.
struct Tmpfs {
    root: PathBuf,
    mnt: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs with `opts` (plus mode 0700), or None with a message when not root.
    fn mount(test: &str, opts: &str) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!("{test}: skipped: mounting a tmpfs needs root");
            return None;
        }
        let root = fresh_dir();
        let mnt = root.join("m");
        std::fs::create_dir(&mnt).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("{opts},mode=0700"), "tmpfs"])
            .arg(&mnt)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount -t tmpfs failed");
        Some(Tmpfs { root, mnt })
    }

    /// A wrangle instance whose home is on this tmpfs.
    fn instance(&self) -> Wr {
        let home = self.mnt.join("h");
        Wr::custom(|_| vec![("WRANGLE_HOME", Some(home.into_os_string()))])
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mnt)
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes zeros to `path` until the disk is full.
fn fill_disk(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&block) {
            assert_eq!(
                e.raw_os_error(),
                Some(libc::ENOSPC),
                "filling the disk: {e}"
            );
            break;
        }
    }
    // What is left (less than a block) goes too.
    while f.write_all(&[0u8; 512]).is_ok() {}
}

/// Whether the entry's events include `kind`.
fn has_event(wr: &Wr, sel: &str, kind: &str) -> bool {
    wr.status(sel)["events"]
        .as_array()
        .is_some_and(|evs| evs.iter().any(|e| e["kind"] == kind))
}

/// The number a looping script last wrote to `path` (0 before it wrote any).
fn counter(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_full_disk_leaves_every_log_byte_indexed_and_the_streams_apart() {
    let Some(fs) = Tmpfs::mount("full disk", "size=3m") else {
        return;
    };
    let wr = fs.instance();
    let ctr = fs.root.join("counter");
    let stop = fs.root.join("stop");
    let pad = "x".repeat(80);
    let script = format!(
        "i=0; while [ ! -e {stop} ]; do i=$((i+1)); echo \"out $i {pad}\"; \
         echo \"err $i {pad}\" >&2; if [ $((i % 20)) = 0 ]; then echo $i > {ctr}; sleep 0.01; fi; \
         done; echo 'out end'; echo 'err end' >&2; exec sleep 1000",
        stop = stop.display(),
        ctr = ctr.display(),
    );
    wr.start(&[
        "--name",
        "chatty",
        "--log-max-size",
        "16KiB",
        "--log-keep",
        "1000",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    wait_until("the entry counts", SOON, || counter(&ctr) >= 100);
    let fill = fs.mnt.join("fill");
    fill_disk(&fill);
    wait_until("a log_error event", SOON, || {
        has_event(&wr, "chatty", "log_error")
    });
    let at_error = counter(&ctr);
    wait_until("output while the disk is full", SOON, || {
        counter(&ctr) >= at_error + 200
    });
    std::fs::remove_file(&fill).unwrap();
    wait_until("a log_resumed event", SOON, || {
        has_event(&wr, "chatty", "log_resumed")
    });
    let at_resume = counter(&ctr);
    wait_until("output after the disk has room", SOON, || {
        counter(&ctr) >= at_resume + 500
    });
    std::fs::write(&stop, b"").unwrap();
    wait_until("the entry's last lines", SOON, || {
        let out = wr.logs("chatty", &["--stdout"]);
        let err = wr.logs("chatty", &["--stderr"]);
        out.ends_with(b"out end\n") && err.ends_with(b"err end\n")
    });

    for (flag, mine, other) in [("--stdout", "out ", "err"), ("--stderr", "err ", "out")] {
        let text = String::from_utf8(wr.logs("chatty", &[flag])).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 500, "{flag}: only {} lines", lines.len());
        for l in &lines {
            // A line cut short by the full disk runs into the next one, of the same stream.
            assert!(
                l.starts_with(mine) && !l.contains(other),
                "{flag} shows a line of the other stream: {l:?}"
            );
        }
    }

    // Every byte of every segment is indexed, and no segment is past the limit.
    let dir = fs.mnt.join("h").join("logs").join("1");
    let mut segments = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        segments += 1;
        let log_len = std::fs::metadata(&path).unwrap().len();
        let idx = std::fs::read(path.with_extension("idx")).unwrap();
        assert_eq!(idx.len() % 16, 0, "{}: torn index record", path.display());
        let covered: u64 = idx
            .chunks(16)
            .map(|r| u32::from_be_bytes(r[8..12].try_into().unwrap()) as u64)
            .sum();
        assert_eq!(
            covered,
            log_len,
            "{}: bytes the index misses",
            path.display()
        );
        assert!(
            log_len <= 16 << 10,
            "{} holds {log_len} bytes",
            path.display()
        );
    }
    assert!(segments > 2, "expected rotation: {segments} segments");
    wr.ok(&["shutdown"]);
}

#[test]
fn a_log_that_cannot_be_created_is_retried_and_reported_missing_meanwhile() {
    let Some(fs) = Tmpfs::mount("no inodes", "size=8m,nr_inodes=200") else {
        return;
    };
    let wr = fs.instance();
    wr.ok(&["ls"]);
    // Use up every inode.
    let fill = fs.mnt.join("fill");
    std::fs::create_dir(&fill).unwrap();
    for i in 0.. {
        if let Err(e) = std::fs::File::create(fill.join(i.to_string())) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "using up inodes: {e}");
            break;
        }
    }
    let o = wr.run(&[
        "run",
        "--name",
        "ticker",
        "--",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done",
    ]);
    assert_eq!(o.code, 0, "run: {}", o.stderr);
    wait_until("a log_error event", SOON, || {
        has_event(&wr, "ticker", "log_error")
    });
    let o = wr.run(&["logs", "ticker"]);
    assert_ne!(o.code, 0, "logs of a missing log succeeded: {:?}", o.text());
    assert!(o.stderr.contains("missing"), "{}", o.stderr);
    std::fs::remove_dir_all(&fill).unwrap();
    wait_until("a log_resumed event", SOON, || {
        has_event(&wr, "ticker", "log_resumed")
    });
    wr.wait_log("ticker", "tick");
    wr.ok(&["shutdown"]);
}

#[test]
fn clients_are_served_again_once_descriptors_free_up_and_shutdown_never_misses_the_daemon() {
    let wr = Wr::new();
    // The instance's environment, on a shell that lowers the limit for the daemon it runs.
    let template = wr.cmd(&[]);
    let mut daemon = std::process::Command::new("sh");
    daemon.args(["-c", &format!("ulimit -n 40; exec {BIN} daemon")]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => daemon.env(k, v),
            None => daemon.env_remove(k),
        };
    }
    daemon
        .current_dir(&wr.root)
        .stdin(std::process::Stdio::null());
    let mut bg = Bg::spawn(daemon);
    wait_until("the daemon answers", SOON, || wr.run(&["ping"]).code == 0);
    let socket = wr.socket();
    // More connections than the daemon has descriptors: the rest wait in the backlog.
    let held: Vec<Raw> = (0..60).map(|_| Raw::connect(&socket)).collect();
    // While out of descriptors, shutdown may fail but must not say there is no daemon.
    let o = wr.run(&["shutdown"]);
    assert!(
        !o.text().contains("no daemon was running"),
        "shutdown took a live daemon for none: {:?} {}",
        o.text(),
        o.stderr
    );
    assert_ne!(o.code, 0, "shutdown cannot have worked: {:?}", o.text());
    assert!(bg.running(), "the daemon died");
    drop(held);
    // Pings answer promptly again, several in a row.
    for n in 0..7 {
        let t = Instant::now();
        let o = wr.run_within(&["ping"], Duration::from_secs(20));
        assert_eq!(o.code, 0, "ping {n} failed: {}", o.stderr);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "ping {n} took {:?}",
            t.elapsed()
        );
    }
    wr.ok(&["shutdown"]);
    wait_until("the daemon exits", SOON, || !bg.running());
}
