//! The closed vocabularies of the wire: what happened to an entry (`EventKind`, in events,
//! `status` and the event stream) and what a request did to each entry (`Outcome`). Each is
//! written as its snake_case name; a name this build does not know (from a newer daemon) reads
//! as `Other`, so an old client still shows the rest.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A name from a newer wrangle.
            #[serde(other)]
            Other,
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other => "other",
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What happened to an entry.
    EventKind {
        /// Created (by `run`, `add`, `up` or `resurrect`).
        Added = "added",
        /// A run began.
        Started = "started",
        /// A run ended by itself.
        Exited = "exited",
        /// A stop began (or its KILL deadline moved earlier).
        Stopping = "stopping",
        /// The stop timeout ran out: KILL was sent.
        Killing = "killing",
        /// A run ended by a stop.
        Stopped = "stopped",
        /// Waiting to restart.
        Backoff = "backoff",
        /// An automatic restart.
        Restarting = "restarting",
        /// Could not start, or gave up restarting.
        Errored = "errored",
        /// Something went wrong that the entry survives (an internal error, say).
        Error = "error",
        /// What a run left behind is stopped, or kept.
        Leftovers = "leftovers",
        /// A process not started by this daemon is watched.
        Adopted = "adopted",
        /// It ran under a previous daemon and is gone.
        Lost = "lost",
        /// A signal was sent.
        Signalled = "signalled",
        /// Its labels changed.
        Labelled = "labelled",
        /// Its spec or profile changed.
        Updated = "updated",
        BuildStarted = "build_started",
        BuildSucceeded = "build_succeeded",
        BuildFailed = "build_failed",
        BuildCancelled = "build_cancelled",
        /// Restarted at its `cron_restart` time.
        CronRestart = "cron_restart",
        /// Switched to its idle profile.
        Idle = "idle",
        /// Its standard input was closed.
        InputClosed = "input_closed",
        /// Writing its log failed; output is kept in memory only.
        LogError = "log_error",
        /// Writing its log works again.
        LogResumed = "log_resumed",
        LogsCleared = "logs_cleared",
        Removed = "removed",
        /// In the event stream: a line of output.
        Log = "log",
        /// In the event stream: `count` events were dropped for this slow subscriber.
        Missed = "missed",
    }
}

vocabulary! {
    /// What a request did to one entry.
    Outcome {
        Started = "started",
        Created = "created",
        AlreadyRunning = "already_running",
        Stopped = "stopped",
        NotRunning = "not_running",
        Restarted = "restarted",
        Unchanged = "unchanged",
        Removed = "removed",
        Signalled = "signalled",
        Labelled = "labelled",
        Resized = "resized",
        Cleared = "cleared",
        Saved = "saved",
        Failed = "failed",
        /// The spec changed (`edit`); it applies at the next start.
        Edited = "edited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_unknown_ones_are_other() {
        for k in EventKind::ALL {
            let text = serde_json::to_string(k).unwrap();
            assert_eq!(text, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&text).unwrap(), *k);
        }
        for o in Outcome::ALL {
            let text = serde_json::to_string(o).unwrap();
            assert_eq!(text, format!("\"{o}\""));
            assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), *o);
        }
        assert_eq!(
            serde_json::from_str::<EventKind>("\"teleported\"").unwrap(),
            EventKind::Other
        );
        assert_eq!(
            serde_json::from_str::<Outcome>("\"vanished\"").unwrap(),
            Outcome::Other
        );
    }
}
