//! Terminal output parsed off the loop: the VT parser is the costliest step between a
//! terminal and an attached client, so a helper thread feeds each terminal's screen while the
//! loop goes on capturing and forwarding. Bytes (and resizes) reach it in order through a
//! channel, bounded by a count per terminal: when one falls 64 chunks behind, the loop waits
//! for it, so memory stays bounded and the cost is what parsing on the loop would have been. Whoever needs a screen
//! as of the latest output (a redraw, `screen`) waits until its queue is empty first
//! (`Term::sync`). If no thread can be had, the loop parses.

use super::jobs::Done;
use crate::term::Screen;
use mio::Waker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Chunks queued for one terminal before the loop waits for the parser.
const QUEUE: usize = 64;

/// A terminal entry's screen, shared with the parser thread.
pub(crate) struct Term {
    id: u64,
    screen: Mutex<Screen>,
    /// The sequence number of the first output byte the screen has not taken yet.
    parsed: AtomicU64,
    /// Messages sent to the thread and not yet applied.
    queued: AtomicUsize,
    /// A `wait --screen` watches it: the loop is told after each chunk.
    pub(crate) watched: AtomicBool,
}

impl Term {
    pub(crate) fn new(id: u64, screen: Screen, seq: u64) -> Arc<Term> {
        Arc::new(Term {
            id,
            screen: Mutex::new(screen),
            parsed: AtomicU64::new(seq),
            queued: AtomicUsize::new(0),
            watched: AtomicBool::new(false),
        })
    }

    /// The screen (as far as it has been fed).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until everything sent to the thread is in the screen; returns the sequence
    /// number it is at.
    pub(crate) fn sync(&self) -> u64 {
        while self.queued.load(Ordering::Acquire) > 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        self.parsed.load(Ordering::Acquire)
    }

    fn apply(&self, m: Msg) {
        match m {
            Msg::Feed(data, end) => {
                self.lock().feed(&data);
                self.parsed.store(end, Ordering::Release);
            }
            Msg::Resize(rows, cols) => self.lock().resize(rows, cols),
        }
    }
}

enum Msg {
    /// Output bytes, and the sequence number just after them.
    Feed(Vec<u8>, u64),
    Resize(u16, u16),
}

/// What the parser thread has to do, in order (a queue and a condition variable rather than
/// a channel: a channel of one more type would cost 20 KB of binary).
#[derive(Default)]
struct Inbox {
    q: Mutex<VecDeque<(Arc<Term>, Msg)>>,
    ready: Condvar,
}

impl Inbox {
    fn push(&self, item: (Arc<Term>, Msg)) {
        self.q
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(item);
        self.ready.notify_one();
    }

    fn pop(&self) -> (Arc<Term>, Msg) {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(item) = q.pop_front() {
                return item;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The parser thread's inlet.
pub(super) struct Feeder {
    tx: Option<Arc<Inbox>>,
    started: bool,
    notify: (Sender<Done>, Option<Arc<Waker>>),
}

impl Feeder {
    pub(super) fn new(notify: (Sender<Done>, Option<Arc<Waker>>)) -> Feeder {
        Feeder {
            tx: None,
            started: false,
            notify,
        }
    }

    /// `data`, output of `t`'s terminal ending at sequence number `end`.
    pub(super) fn feed(&mut self, t: &Arc<Term>, data: &[u8], end: u64) {
        self.send(t, Msg::Feed(data.to_vec(), end));
    }

    pub(super) fn resize(&mut self, t: &Arc<Term>, rows: u16, cols: u16) {
        self.send(t, Msg::Resize(rows, cols));
    }

    fn send(&mut self, t: &Arc<Term>, m: Msg) {
        if !self.started {
            self.started = true;
            self.tx = self.start();
        }
        let Some(tx) = &self.tx else {
            t.apply(m);
            return;
        };
        // Bounded: a terminal whose parsing is this far behind makes the loop wait for it.
        while t.queued.load(Ordering::Acquire) >= QUEUE {
            std::thread::sleep(Duration::from_micros(100));
        }
        t.queued.fetch_add(1, Ordering::AcqRel);
        tx.push((Arc::clone(t), m));
    }

    fn start(&self) -> Option<Arc<Inbox>> {
        let inbox = Arc::new(Inbox::default());
        let rx = Arc::clone(&inbox);
        let (done, waker) = self.notify.clone();
        let spawned = std::thread::Builder::new()
            .name("wrangle-screens".into())
            .spawn(move || loop {
                let (t, m) = rx.pop();
                {
                    // A bug in the parser must neither end this thread nor leave the loop
                    // waiting for a queue that never empties.
                    let fed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.apply(m)));
                    if fed.is_err() {
                        log::error!("the screen of entry {} failed to take output", t.id);
                    }
                    t.queued.fetch_sub(1, Ordering::AcqRel);
                    if t.watched.load(Ordering::Acquire) {
                        let _ = done.send(Done::ScreenFed { id: t.id });
                        if let Some(w) = &waker {
                            let _ = w.wake();
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => Some(inbox),
            Err(e) => {
                log::warn!("cannot start the screens thread ({e}); parsing on the loop");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_resizes_arrive_in_order() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut f = Feeder::new((tx, None));
        let t = Term::new(7, Screen::new(5, 20, 10), 0);
        t.watched.store(true, Ordering::Release);
        for i in 0..200u64 {
            f.feed(&t, format!("line {i}\r\n").as_bytes(), (i + 1) * 10);
        }
        f.resize(&t, 3, 10);
        f.feed(&t, b"end", 2003);
        assert_eq!(t.sync(), 2003);
        let s = t.lock();
        assert_eq!(s.size(), (3, 10));
        assert!(s.text().ends_with("line 199\nend\n"), "{}", s.text());
        drop(s);
        assert_eq!(
            rx.try_iter()
                .filter(|d| *d == Done::ScreenFed { id: 7 })
                .count(),
            202
        );
    }
}
