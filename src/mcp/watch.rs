//! Resource notifications: a thread with its own daemon connection subscribed to lifecycle
//! events, turned into "the list changed" (an entry came or went) and "entry N's log changed"
//! (a new run); and, only while the client is subscribed to some log, a second thread that
//! looks at those entries' output counters twice a second. Log lines themselves are never
//! subscribed to: an agent connected to a chatty process would make the daemon cut and send
//! every line of it for nothing. The transport sends what the client subscribed to.

use super::policy::Policy;
use super::resources;
use crate::client::Client;
use crate::paths::Paths;
use crate::proto::{EventKind, Selector};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often subscribed logs are looked at (at most two updates a second per entry).
const POLL: Duration = Duration::from_millis(500);

/// What the watcher saw.
pub enum Watched {
    ListChanged,
    LogUpdated(u64),
}

/// The entries whose logs the client subscribed to, shared with the poller.
pub type Subscribed = Arc<Mutex<BTreeSet<u64>>>;

/// The entry ids of the log resources in `uris`, into `shared` (when they changed).
pub fn share(uris: &BTreeSet<String>, shared: &Subscribed) {
    let ids: BTreeSet<u64> = uris.iter().filter_map(|u| resources::entry_of(u)).collect();
    if let Ok(mut s) = shared.lock() {
        if *s != ids {
            *s = ids;
        }
    }
}

/// Starts the watcher and the poller; they end when the daemon goes or the receiver does.
pub fn start<T: Send + 'static>(
    paths: &Paths,
    policy: &Policy,
    tx: SyncSender<T>,
    wrap: fn(Watched) -> T,
    subscribed: Subscribed,
) {
    // Every entry: a list change is only a hint (the list itself honours --own-only), and an
    // update is only sent for a resource the client subscribed to.
    let _ = policy;
    let (p1, tx1) = (paths.clone(), tx.clone());
    let _ = std::thread::Builder::new()
        .name("mcp-watch".into())
        .spawn(move || {
            let Ok(mut c) = Client::connect(&p1) else {
                return;
            };
            let Ok(req) = c.subscribe(&Selector::default(), 1, None) else {
                return;
            };
            while let Ok(Some(ev)) = c.next_event(req) {
                let w = match ev.kind {
                    EventKind::Added | EventKind::Removed | EventKind::Adopted => {
                        Watched::ListChanged
                    }
                    EventKind::Started => Watched::LogUpdated(ev.id),
                    _ => continue,
                };
                // A busy server misses a notification rather than stalling the watcher.
                if let Err(TrySendError::Disconnected(_)) = tx1.try_send(wrap(w)) {
                    return;
                }
            }
        });
    let p2 = paths.clone();
    let _ = std::thread::Builder::new()
        .name("mcp-logpoll".into())
        .spawn(move || poll(&p2, &tx, wrap, &subscribed));
}

/// Twice a second, the output counters of the subscribed entries; a change is an update.
fn poll<T>(paths: &Paths, tx: &SyncSender<T>, wrap: fn(Watched) -> T, subscribed: &Subscribed) {
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut client: Option<Client> = None;
    loop {
        std::thread::sleep(POLL);
        let ids: Vec<u64> = match subscribed.lock() {
            Ok(s) => s.iter().copied().collect(),
            Err(_) => return,
        };
        seen.retain(|id, _| ids.contains(id));
        if ids.is_empty() {
            continue;
        }
        if client.is_none() {
            client = Client::connect(paths).ok();
        }
        let Some(c) = client.as_mut() else {
            continue;
        };
        let sel = Selector {
            targets: ids.iter().map(u64::to_string).collect(),
            ..Selector::default()
        };
        let infos = match c.logs(&sel, false) {
            Ok(i) => i,
            Err(e) if e.code == crate::error::Code::Daemon => {
                client = None;
                continue;
            }
            // An entry that went away: the list-changed notice covers it.
            Err(_) => continue,
        };
        for info in infos {
            let before = seen.insert(info.id, info.end_seq);
            if before.is_some_and(|b| b != info.end_seq) {
                if let Err(TrySendError::Disconnected(_)) =
                    tx.try_send(wrap(Watched::LogUpdated(info.id)))
                {
                    return;
                }
            }
        }
    }
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
