//! Resource notifications: a thread with its own daemon connection subscribed to lifecycle
//! events and log lines, turned into "the list changed" (an entry came or went) and "entry N's
//! log changed" (at most twice a second per entry); the transport sends those the client
//! subscribed to.

use super::policy::Policy;
use super::resources;
use crate::client::Client;
use crate::paths::Paths;
use crate::proto::{EventKind, Selector};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

const MIN_GAP: Duration = Duration::from_millis(500);

/// What the watcher saw.
pub enum Watched {
    ListChanged,
    LogUpdated(u64),
}

/// Starts the watcher; it ends when the daemon goes or the receiver does.
pub fn start<T: Send + 'static>(
    paths: &Paths,
    policy: &Policy,
    tx: SyncSender<T>,
    wrap: fn(Watched) -> T,
) {
    let paths = paths.clone();
    // Every entry: a list change is only a hint (the list itself honours --own-only), and an
    // update is only sent for a resource the client subscribed to.
    let sel = Selector::default();
    let _ = policy;
    let _ = std::thread::Builder::new()
        .name("mcp-watch".into())
        .spawn(move || {
            let Ok(mut c) = Client::connect(&paths) else {
                return;
            };
            let Ok(req) = c.subscribe(&sel, 3, None) else {
                return;
            };
            let mut last: HashMap<u64, Instant> = HashMap::new();
            while let Ok(Some(ev)) = c.next_event(req) {
                let w = match ev.kind {
                    EventKind::Added | EventKind::Removed | EventKind::Adopted => {
                        Watched::ListChanged
                    }
                    EventKind::Log | EventKind::Started => {
                        let now = Instant::now();
                        if last.get(&ev.id).is_some_and(|t| now - *t < MIN_GAP) {
                            continue;
                        }
                        last.insert(ev.id, now);
                        Watched::LogUpdated(ev.id)
                    }
                    _ => continue,
                };
                // A busy server misses a notification rather than stalling the watcher.
                if let Err(std::sync::mpsc::TrySendError::Disconnected(_)) = tx.try_send(wrap(w)) {
                    return;
                }
            }
        });
}

/// The notifications `w` means for a client subscribed to `subscribed`.
pub fn notifications(w: &Watched, subscribed: &BTreeSet<String>) -> Vec<Value> {
    match w {
        Watched::ListChanged => vec![super::jsonrpc::notification(
            "notifications/resources/list_changed",
            json!({}),
        )],
        Watched::LogUpdated(id) => {
            let uri = resources::uri(*id);
            match subscribed.contains(&uri) {
                true => vec![super::jsonrpc::notification(
                    "notifications/resources/updated",
                    json!({ "uri": uri }),
                )],
                false => Vec::new(),
            }
        }
    }
}
