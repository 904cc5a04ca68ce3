//! Reading `/proc/PID/stat`: a process's identity (pid + start time, so a reused pid is never
//! mistaken for ours), its family (ppid, group, session) and its resource use.

use std::io;

/// The fields of `/proc/PID/stat` that wrangle uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub state: u8,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// User + system CPU time in clock ticks.
    pub cpu_ticks: u64,
    /// Start time in clock ticks after boot (field 22).
    pub start_time: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    // rest[0] is field 3 (state).
    let field = |n: usize| rest.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        pid,
        state: *field(3)?.as_bytes().first()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        cpu_ticks: num(14)? + num(15)?,
        start_time: num(22)?,
        rss_pages: num(24)?,
    })
}

/// Reads `/proc/PID/stat`: one open, one read and one close (std's `read_to_string` would
/// add an fstat, a close-on-exec fcntl on musl and a read per doubling of a 32-byte guess),
/// as it is read for every signal, every look at a process and every stop.
pub fn stat(pid: i32) -> io::Result<Stat> {
    let mut buf = [0u8; 1024];
    let text = match read_proc(&format!("/proc/{pid}/stat"), &mut buf)? {
        Some(n) => String::from_utf8_lossy(&buf[..n]),
        // Longer than any stat line seen so far: read it the slow way.
        None => std::fs::read_to_string(format!("/proc/{pid}/stat"))?.into(),
    };
    parse_stat(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// Reads the small /proc file `path` into `buf`: Some(length), or None when it does not fit.
pub fn read_proc(path: &str, buf: &mut [u8]) -> io::Result<Option<usize>> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(&fd, &mut buf[n..]) {
            Ok(0) => return Ok(Some(n)),
            Ok(k) => n += k,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Every process's stat, from one pass over /proc.
pub fn all_stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat(pid).ok())
        .collect()
}

/// The pid's start time, if the process exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).ok().map(|s| s.start_time)
}

/// Whether `pid` is still the process that started at `start_time` and is not a zombie.
pub fn is_same_live(pid: i32, start_time: u64) -> bool {
    matches!(stat(pid), Ok(s) if s.start_time == start_time && s.state != b'Z' && s.state != b'X')
}

/// How long ago a process that started `start_time` ticks after boot started, in seconds.
pub fn age_secs(start_time: u64) -> Option<f64> {
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((up - start_time as f64 / ticks_per_second().max(1) as f64).max(0.0))
}

/// Clock ticks per second.
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// Bytes per page.
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 55 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.state, b'S');
        assert_eq!((s.ppid, s.pgrp, s.session), (1, 4242, 4242));
        assert_eq!(s.cpu_ticks, 10);
        assert_eq!(s.start_time, 123456);
        assert_eq!(s.rss_pages, 55);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1").is_none());
    }

    #[test]
    fn reads_small_proc_files_and_says_when_they_do_not_fit() {
        let mut buf = [0u8; 4096];
        let n = read_proc("/proc/self/stat", &mut buf).unwrap().unwrap();
        assert!(parse_stat(std::str::from_utf8(&buf[..n]).unwrap()).is_some());
        let mut tiny = [0u8; 4];
        assert_eq!(read_proc("/proc/self/stat", &mut tiny).unwrap(), None);
        assert!(read_proc("/proc/0/stat", &mut buf).is_err());
    }

    #[test]
    fn reads_our_own_identity() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(is_same_live(me, s.start_time));
        assert!(!is_same_live(me, s.start_time + 1));
    }
}
