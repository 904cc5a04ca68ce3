//! The system's own words for an error number (`strerror_r`), for messages that read
//! "cannot start web: ./server: No such file or directory" rather than with Rust's
//! " (os error 2)" suffix. The error itself is kept whole as the message's source.

use std::ffi::CStr;
use std::io;

/// What the C library says `e` is; `e`'s own text when it carries no error number.
pub fn reason(e: &io::Error) -> String {
    let Some(n) = e.raw_os_error() else {
        return e.to_string();
    };
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is what we pass; the XSI
    // strerror_r (what the libc crate binds on Linux) writes a NUL-terminated text into it or
    // returns non-zero.
    let r = unsafe { libc::strerror_r(n, buf.as_mut_ptr().cast(), buf.len()) };
    match (r, CStr::from_bytes_until_nul(&buf)) {
        (0, Ok(text)) if !text.is_empty() => text.to_string_lossy().into_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errno_reads_as_the_system_says_it() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(reason(&e), "No such file or directory");
        let plain = io::Error::new(io::ErrorKind::InvalidInput, "empty program name");
        assert_eq!(reason(&plain), "empty program name");
    }
}
