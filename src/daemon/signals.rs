//! Signals as events: SIGCHLD, SIGTERM, SIGINT and SIGHUP are blocked and read from a signalfd
//! registered with the event loop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The signals the daemon handles through its signalfd.
pub const HANDLED: [i32; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks [`HANDLED`] for this thread and opens a non-blocking signalfd for them. Call
    /// before any thread is started, so that no thread receives them the ordinary way.
    pub fn new() -> io::Result<SignalFd> {
        // SAFETY: sigset_t is plain data; sigemptyset initializes it before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t owned by this frame; the signal numbers are valid.
        unsafe {
            libc::sigemptyset(&mut set);
            for s in HANDLED {
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

    /// The next pending signal number, None when there are no more.
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
