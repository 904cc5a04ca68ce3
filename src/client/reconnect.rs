//! Long-lived streams (`attach`, `logs -f`, `events`, `wait`) that outlive the daemon they
//! started with. When the connection breaks mid-stream (end of file or a reset, not an ERROR
//! answer) the daemon is being replaced (`upgrade`, or a crash and a restart): the socket stays
//! where it is, so the client connects again — never starting a daemon itself — and the
//! caller re-opens its stream where it left off. One place for the retry rule: each command
//! only says how to open its stream and how to go on.

use super::Client;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use std::time::{Duration, Instant};

/// How long a lost stream keeps trying to reach a daemon again.
pub const WITHIN: Duration = Duration::from_secs(10);

/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Whether a reconnection is announced on standard error (not inside a raw terminal).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Stderr,
    Quiet,
}

/// Connects again after `lost` broke the connection, trying for [`WITHIN`] with a small
/// backoff. Fails with `Code::Daemon` (exit status 5) saying what was lost and why no daemon
/// answered; an answer that is not about reachability (e.g. an unsupported version) is
/// returned at once.
pub fn redial(paths: &Paths, lost: &Error) -> Result<Client> {
    let deadline = Instant::now() + WITHIN;
    let mut pause = Duration::from_millis(10);
    loop {
        match Client::connect(paths) {
            Ok(c) => return Ok(c),
            Err(e) if e.code != Code::Daemon => return Err(e),
            Err(e) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::new(
                        Code::Daemon,
                        format!(
                            "{} and no daemon answered again within {}s ({})",
                            lost.message,
                            WITHIN.as_secs(),
                            e.message
                        ),
                    ));
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Runs `stream` — which opens a stream on the connection and reads it to its end — and runs
/// it again on a new connection each time the daemon is lost under it; its second argument
/// says whether this is such a re-run (the stream then resumes from the state `stream` keeps).
/// Any other error, and a lost daemon that does not come back, end it.
pub fn resilient<T>(
    paths: &Paths,
    client: &mut Client,
    notice: Notice,
    mut stream: impl FnMut(&mut Client, bool) -> Result<T>,
) -> Result<T> {
    let mut resumed = false;
    loop {
        match stream(client, resumed) {
            Err(e) if client.lost() => {
                *client = redial(paths, &e)?;
                if notice == Notice::Stderr {
                    eprintln!("wrangle: daemon restarted; reconnected");
                }
                resumed = true;
            }
            done => return done,
        }
    }
}
