//! Signals as readable events: a set of signals is blocked for the calling thread and read
//! from a non-blocking signalfd, which an event loop (the daemon's mio poll, the attach
//! session's poll) can wait on like any other descriptor.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` for this thread and opens a non-blocking, close-on-exec signalfd for
    /// them. Call before any thread is started, so that no thread receives them the ordinary
    /// way.
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        // SAFETY: sigset_t is plain data; sigemptyset initializes it before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t owned by this frame; sigaddset rejects a bad
        // number with EINVAL rather than misbehaving.
        unsafe {
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: `set` is initialized; -1 asks for a new fd; the flags are valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd returned a new fd that nothing else owns.
        Ok(SignalFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The next pending signal number, None when there are no more (signals of one kind
    /// coalesce: read until None).
    pub fn read(&self) -> io::Result<Option<i32>> {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        match rustix::io::read(&self.fd, &mut info) {
            Ok(n) if n == info.len() => {
                // ssi_signo is the first u32 of signalfd_siginfo.
                Ok(Some(
                    u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32,
                ))
            }
            Ok(_) => Ok(None),
            Err(rustix::io::Errno::AGAIN) => Ok(None),
            Err(rustix::io::Errno::INTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_is_read_once() {
        // SIGUSR2 is not used by the test harness; block it on this thread only.
        let fd = SignalFd::new(&[libc::SIGUSR2]).unwrap();
        assert_eq!(fd.read().unwrap(), None);
        // SAFETY: raising a blocked signal on the current thread only marks it pending.
        unsafe {
            libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2);
        }
        assert_eq!(fd.read().unwrap(), Some(libc::SIGUSR2));
        assert_eq!(fd.read().unwrap(), None);
    }
}
