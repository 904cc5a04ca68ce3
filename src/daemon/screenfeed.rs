//! Terminal output parsed off the loop: the VT parser is the costliest step between a
//! terminal and an attached client, so a helper thread feeds each terminal's screen while the
//! loop goes on capturing and forwarding. Bytes (and resizes) reach it in order through a
//! queue, bounded per terminal: when one falls 128 KiB (or 64 chunks) behind, the loop stops
//! reading that terminal (its program waits, as behind a slow terminal) until the thread
//! reports it is half way through them; so memory stays bounded, the loop never waits, and
//! a screen is never more than that behind its output (a reader waits for no more; the ring
//! of recent output still holds where a redraw's stream goes on from). Past 128 chunks,
//! which reading alone never reaches, the loop waits.
//! Whoever needs a screen as of the latest output (`screen`, the first look of a
//! `wait --screen`) queues a reader behind that output ([`Feeder::read`]): the thread runs it
//! once it has parsed everything before it and reports what it found as a job does, so the
//! loop never waits for the parser. A redraw (an attach) takes the screen as far as it is
//! parsed, with the sequence number it is at, and the stream goes on from there. If no
//! thread can be had, the loop parses.

use super::jobs::Done;
use crate::term::Screen;
use mio::Waker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Chunks queued for one terminal before the loop stops reading it (twice that: before the
/// loop waits for the parser).
const QUEUE: usize = 64;
/// Bytes queued for one terminal before the loop stops reading it.
const QUEUE_BYTES: usize = 128 << 10;
/// Readers queued for one terminal before the next is run on the loop (after waiting for the
/// parser, as every reader did before they were queued).
const READERS: usize = 64;

/// What reads a screen at its place in the queue: it gets the screen and the sequence number
/// it is at, and what it returns is reported to the loop.
pub(super) type Reader = Box<dyn FnOnce(&mut Screen, u64) -> Done + Send>;

/// Numbers telling one screen from the next of the same entry.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A terminal entry's screen, shared with the parser thread.
pub(crate) struct Term {
    id: u64,
    /// Which screen of the entry this is (a new one each run).
    pub(crate) generation: u64,
    screen: Mutex<Screen>,
    /// The sequence number of the first output byte the screen has not taken yet (stored
    /// with the screen locked, so that it matches the screen its reader locked).
    parsed: AtomicU64,
    /// Chunks and resizes sent to the thread and not yet applied.
    queued: AtomicUsize,
    /// The bytes of those chunks.
    queued_bytes: AtomicUsize,
    /// Readers sent to the thread and not yet run.
    readers: AtomicUsize,
    /// The loop stopped reading the terminal until the thread catches up.
    stalled: AtomicBool,
    /// A `wait --screen` watches it: the loop is told after each chunk.
    pub(crate) watched: AtomicBool,
}

impl Term {
    pub(crate) fn new(id: u64, screen: Screen, seq: u64) -> Arc<Term> {
        Arc::new(Term {
            id,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            screen: Mutex::new(screen),
            parsed: AtomicU64::new(seq),
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            readers: AtomicUsize::new(0),
            stalled: AtomicBool::new(false),
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

    /// Whether the parser is so far behind that the terminal should not be read for now; if
    /// so, the thread reports [`Done::ScreenRoom`] when it has caught up half way.
    pub(crate) fn backlogged(&self) -> bool {
        if !self.behind(1) {
            return false;
        }
        self.stalled.store(true, Ordering::SeqCst);
        // The thread may have caught up before it could see the flag: then read on (if it
        // did see it, its report is one more turn of reading, which is harmless).
        if !self.behind(1) {
            self.stalled.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether the queue holds at least 1/`part` of its bounds.
    fn behind(&self, part: usize) -> bool {
        self.queued.load(Ordering::SeqCst) >= QUEUE / part
            || self.queued_bytes.load(Ordering::SeqCst) >= QUEUE_BYTES / part
    }

    /// After the thread applied a chunk: whether the loop waits to hear it has room again.
    fn room(&self) -> bool {
        !self.behind(2) && self.stalled.swap(false, Ordering::SeqCst)
    }

    /// What redraws the screen on a blank terminal, as far as it is parsed, and the sequence
    /// number it is at: output from there on draws the rest. Waits for the parser only if it
    /// is not yet at `first` (the oldest byte a caller still holds to send after it).
    pub(crate) fn redraw_from(&self, first: u64) -> (String, u64) {
        while self.parsed.load(Ordering::Acquire) < first && self.queued.load(Ordering::Acquire) > 0
        {
            std::thread::sleep(Duration::from_micros(100));
        }
        let s = self.lock();
        let seq = self.parsed.load(Ordering::Acquire);
        (s.redraw(), seq)
    }

    /// Applies output or a resize.
    fn apply(&self, m: Msg) {
        let mut s = self.lock();
        match m {
            Msg::Feed(data, end) => {
                s.feed(&data);
                self.parsed.store(end, Ordering::Release);
            }
            Msg::Resize(rows, cols) => s.resize(rows, cols),
            Msg::Read(..) => {}
        }
    }

    /// Applies `m`, or runs it if it is a reader: what is to be reported. A bug in the parser
    /// or a reader must neither end the thread it runs on nor leave anyone waiting.
    fn run(&self, m: Msg) -> Option<Done> {
        let done = match m {
            Msg::Read(read, failed) => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut s = self.lock();
                    let at = self.parsed.load(Ordering::Acquire);
                    read(&mut s, at)
                }));
                self.readers.fetch_sub(1, Ordering::AcqRel);
                return Some(r.unwrap_or_else(|_| {
                    log::error!("reading the screen of entry {} failed", self.id);
                    failed
                }));
            }
            m => {
                let n = m.len();
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply(m)));
                self.queued_bytes.fetch_sub(n, Ordering::SeqCst);
                done
            }
        };
        if done.is_err() {
            log::error!("the screen of entry {} failed to take output", self.id);
        }
        self.queued.fetch_sub(1, Ordering::SeqCst);
        None
    }
}

enum Msg {
    /// Output bytes, and the sequence number just after them.
    Feed(Vec<u8>, u64),
    Resize(u16, u16),
    /// A reader, and what to report if it fails.
    Read(Reader, Done),
}

impl Msg {
    /// The output bytes it carries.
    fn len(&self) -> usize {
        match self {
            Msg::Feed(data, _) => data.len(),
            _ => 0,
        }
    }
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

    /// Runs `read` on `t`'s screen once everything sent before it is parsed, and reports
    /// what it returns (`failed` if it fails), without the loop waiting for the parser.
    pub(super) fn read(&mut self, t: &Arc<Term>, read: Reader, failed: Done) {
        let m = Msg::Read(read, failed);
        t.readers.fetch_add(1, Ordering::AcqRel);
        let tx = self.inbox();
        match tx {
            Some(tx) if t.readers.load(Ordering::Acquire) <= READERS => {
                tx.push((Arc::clone(t), m));
            }
            _ => {
                // No thread, or a client asking faster than the thread answers: read here.
                t.sync();
                if let Some(done) = t.run(m) {
                    self.report(done);
                }
            }
        }
    }

    /// Tells the loop (from any thread).
    fn report(&self, done: Done) {
        let _ = self.notify.0.send(done);
        if let Some(w) = &self.notify.1 {
            let _ = w.wake();
        }
    }

    /// The thread's inbox, starting it the first time.
    fn inbox(&mut self) -> Option<Arc<Inbox>> {
        if !self.started {
            self.started = true;
            self.tx = self.start();
        }
        self.tx.clone()
    }

    fn send(&mut self, t: &Arc<Term>, m: Msg) {
        t.queued.fetch_add(1, Ordering::SeqCst);
        t.queued_bytes.fetch_add(m.len(), Ordering::SeqCst);
        let Some(tx) = self.inbox() else {
            t.run(m);
            return;
        };
        // Bounded: a terminal whose parsing is this far behind makes the loop wait for it
        // (reading stops at half this, see `backlogged`).
        while t.queued.load(Ordering::Acquire) > 2 * QUEUE {
            std::thread::sleep(Duration::from_micros(100));
        }
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
                let fed = !matches!(m, Msg::Read(..));
                let mut report = Vec::new();
                report.extend(t.run(m));
                if fed && t.watched.load(Ordering::Acquire) {
                    report.push(Done::ScreenFed { id: t.id });
                }
                if fed && t.room() {
                    report.push(Done::ScreenRoom { id: t.id });
                }
                let any = !report.is_empty();
                for d in report {
                    let _ = done.send(d);
                }
                if let (true, Some(w)) = (any, &waker) {
                    let _ = w.wake();
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

    #[test]
    fn a_reader_sees_everything_sent_before_it_and_the_loop_never_waits() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut f = Feeder::new((tx, None));
        let t = Term::new(3, Screen::new(5, 20, 10), 0);
        let mut end = 0;
        for i in 0..50u64 {
            let line = format!("line {i}\r\n");
            end += line.len() as u64;
            f.feed(&t, line.as_bytes(), end);
        }
        let done = |last: bool| Done::ScreenChecked {
            conn: mio::Token(1),
            req: 2,
            id: 3,
            generation: 0,
            matched: last,
        };
        let read = move |s: &mut Screen, at: u64| done(at == end && s.text().contains("line 49\n"));
        f.read(&t, Box::new(read), done(false));
        // More output after the reader is not in what it saw.
        f.feed(&t, b"later\r\n", end + 7);
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the reader's report");
        assert_eq!(got, done(true));
        // A reader that fails is reported as such; the thread goes on.
        f.read(&t, Box::new(|_, _| panic!("a bug")), done(false));
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap(),
            done(false)
        );
        assert_eq!(t.sync(), end + 7);
        let (draw, seq) = t.redraw_from(0);
        assert_eq!(seq, end + 7);
        assert!(draw.contains("later"));
    }
}
