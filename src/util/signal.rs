//! Signal names and numbers: `TERM`, `SIGTERM`, `term` and `15` all read as 15.

use crate::error::{Code, Error, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The highest signal number Linux accepts (SIGRTMAX).
pub const MAX_SIGNAL: i32 = 64;

/// Parses a signal name or number.
pub fn parse(text: &str) -> Result<i32> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        if (1..=MAX_SIGNAL).contains(&n) {
            return Ok(n);
        }
    } else {
        let upper = t.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
            return Ok(n);
        }
    }
    Err(Error::new(
        Code::Usage,
        format!("invalid signal {text:?} (use a name like TERM, SIGINT or hup, or a number 1-{MAX_SIGNAL})"),
    ))
}

/// How a process ended, for messages: "exit code 3" or "signal KILL" (None when neither is
/// known, e.g. for a process that was not our child).
pub fn describe_end(code: Option<i32>, sig: Option<i32>) -> Option<String> {
    match (code, sig) {
        (Some(c), _) => Some(format!("exit code {c}")),
        (None, Some(s)) => Some(format!("signal {}", name(s))),
        _ => None,
    }
}

/// The short name of a signal (`TERM`), or its number for real-time signals.
pub fn name(sig: i32) -> String {
    NAMES
        .iter()
        .find(|(_, n)| *n == sig)
        .map(|(name, _)| (*name).to_string())
        .unwrap_or_else(|| sig.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_the_same() {
        for t in ["TERM", "SIGTERM", "term", "sigterm", "15"] {
            assert_eq!(parse(t).unwrap(), 15, "{t}");
        }
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("34").unwrap(), 34);
        assert_eq!(name(15), "TERM");
        assert_eq!(name(40), "40");
    }

    #[test]
    fn refuses_unknown_and_out_of_range() {
        for bad in ["", "0", "65", "-9", "SIGFOO", "TERMX"] {
            assert_eq!(parse(bad).unwrap_err().code, Code::Usage, "{bad}");
        }
    }
}
