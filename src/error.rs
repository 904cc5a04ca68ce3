//! The crate's one error type: a stable code (which decides the exit status and travels on the
//! wire) and a human message that says what failed, on what, and what to do.

use std::fmt;
use std::sync::Arc;

/// Stable error codes. Their string forms are part of the protocol (wrangle-protocol(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Something failed; exit status 1.
    Failed,
    /// Bad command-line usage or a bad value; exit status 2.
    Usage,
    /// The daemon could not parse or accept a request; exit status 2.
    BadRequest,
    /// A frame broke the framing rules; exit status 1.
    BadFrame,
    /// A frame was longer than the limit; exit status 1.
    FrameTooLarge,
    /// No protocol version in common; exit status 5.
    UnsupportedVersion,
    /// The request named an operation the daemon does not know; exit status 2.
    UnknownOp,
    /// A selector matched nothing; exit status 3.
    NoSuchEntry,
    /// A selector matched several entries without `--all`; exit status 4.
    Ambiguous,
    /// A name is already taken by another entry; exit status 4.
    NameTaken,
    /// The daemon cannot be reached or started; exit status 5.
    Daemon,
    /// A wait timed out; exit status 124.
    Timeout,
    /// The daemon hit a bug; exit status 1.
    Internal,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 13] = [
        Code::Failed,
        Code::Usage,
        Code::BadRequest,
        Code::BadFrame,
        Code::FrameTooLarge,
        Code::UnsupportedVersion,
        Code::UnknownOp,
        Code::NoSuchEntry,
        Code::Ambiguous,
        Code::NameTaken,
        Code::Daemon,
        Code::Timeout,
        Code::Internal,
    ];

    /// The code's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Failed => "failed",
            Code::Usage => "usage",
            Code::BadRequest => "bad_request",
            Code::BadFrame => "bad_frame",
            Code::FrameTooLarge => "frame_too_large",
            Code::UnsupportedVersion => "unsupported_version",
            Code::UnknownOp => "unknown_op",
            Code::NoSuchEntry => "no_such_entry",
            Code::Ambiguous => "ambiguous",
            Code::NameTaken => "name_taken",
            Code::Daemon => "daemon_unavailable",
            Code::Timeout => "timeout",
            Code::Internal => "internal",
        }
    }

    /// Parses a wire name; unknown names (from a newer daemon) read as `Failed`.
    pub fn from_wire(s: &str) -> Code {
        Code::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(Code::Failed)
    }

    /// The process exit status for this code (SPEC §3).
    pub fn exit_status(self) -> i32 {
        match self {
            Code::Failed | Code::BadFrame | Code::FrameTooLarge | Code::Internal => 1,
            Code::Usage | Code::BadRequest | Code::UnknownOp => 2,
            Code::NoSuchEntry => 3,
            Code::Ambiguous | Code::NameTaken => 4,
            Code::Daemon | Code::UnsupportedVersion => 5,
            Code::Timeout => 124,
        }
    }
}

/// An error with a stable code and a message for people.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: Code,
    pub message: String,
    /// The system error behind it, kept whole (its kind and errno stay inspectable); the
    /// message already says it in words.
    pub source: Option<Arc<std::io::Error>>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.code == other.code && self.message == other.message
    }
}

impl Eq for Error {}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// `what` failed because of `e`: the message says both, and `e` stays the source.
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Error {
        Error {
            code: Code::Failed,
            message: format!("{what}: {e}"),
            source: Some(Arc::new(e)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `bail!(Code::Usage, "bad {x}")` returns an [`Error`] from the current function.
#[macro_export]
macro_rules! bail {
    ($code:expr, $($arg:tt)*) => {
        return Err($crate::error::Error::new($code, format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_exit_statuses() {
        for c in [
            Code::NoSuchEntry,
            Code::Ambiguous,
            Code::Timeout,
            Code::Daemon,
        ] {
            assert_eq!(Code::from_wire(c.as_str()), c);
        }
        assert_eq!(Code::from_wire("something_new"), Code::Failed);
        assert_eq!(Code::NoSuchEntry.exit_status(), 3);
        assert_eq!(Code::NameTaken.exit_status(), 4);
        assert_eq!(Code::Daemon.exit_status(), 5);
        assert_eq!(Code::Timeout.exit_status(), 124);
        assert_eq!(Code::Usage.exit_status(), 2);
    }
}
