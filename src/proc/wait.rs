//! A raw wait status as the kernel gives it, whoever reaped the process: this daemon, or the
//! keeper for a run a previous daemon started (handed over as the raw number).

/// The raw status of `waitpid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    /// The exit code, if the process exited.
    pub fn exit_status(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }

    /// The signal that ended it, if one did.
    pub fn terminating_signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    pub fn as_raw(self) -> i32 {
        self.0
    }
}

impl From<rustix::process::WaitStatus> for WaitStatus {
    fn from(s: rustix::process::WaitStatus) -> Self {
        WaitStatus(s.as_raw())
    }
}

#[cfg(test)]
mod tests {
    use super::WaitStatus;

    #[test]
    fn reads_exits_and_signals() {
        assert_eq!(WaitStatus(3 << 8).exit_status(), Some(3));
        assert_eq!(WaitStatus(3 << 8).terminating_signal(), None);
        assert_eq!(WaitStatus(9).terminating_signal(), Some(9));
        assert_eq!(WaitStatus(9).exit_status(), None);
    }
}
