//! Reading our end of a child's output: a pipe, or a terminal's master (where the end of
//! output reads as EIO). The one read loop step that run capture and builds share.

use std::os::fd::BorrowedFd;

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// `n` bytes at the start of the buffer.
    Data(usize),
    /// The writer closed its end (or the terminal hung up, or the read failed for good).
    Eof,
    /// Nothing now: wait for the next readiness.
    Dry,
}

/// Reads once from the non-blocking `fd` into `buf`, retrying on EINTR. A read that fills
/// the buffer asks the kernel for a bigger pipe (a busy writer then wakes us less often).
pub fn read_once(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Read {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Read::Eof,
            Ok(n) => {
                if n == buf.len() {
                    // Best effort: not a pipe (a terminal), or at the system's limit.
                    let _ = rustix::pipe::fcntl_setpipe_size(fd, 1 << 20);
                }
                return Read::Data(n);
            }
            Err(rustix::io::Errno::AGAIN) => return Read::Dry,
            Err(rustix::io::Errno::INTR) => continue,
            // EIO from a terminal whose last writer is gone, and the like.
            Err(_) => return Read::Eof,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn data_then_dry_then_eof() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read_once(r.as_fd(), &mut buf), Read::Dry);
        rustix::io::write(&w, b"abc").unwrap();
        assert_eq!(read_once(r.as_fd(), &mut buf), Read::Data(3));
        assert_eq!(&buf[..3], b"abc");
        drop(w);
        assert_eq!(read_once(r.as_fd(), &mut buf), Read::Eof);
    }
}
