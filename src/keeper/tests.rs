//! The keeper's reader against a worker that sends garbage: unknown kinds, cut-short and
//! oversized datagrams, descriptors without a message or beyond what a message names, more
//! descriptors than a message may carry, empty datagrams, and messages only a keeper sends.
//! The keeper must keep every run it holds, close what came with a bad message, and go on
//! reading the worker.

use super::wire::{self, Msg, MAX_MSG};
use super::*;
use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use std::io::IoSlice;
use std::mem::MaybeUninit;

/// A keeper whose worker is the other end of the returned channel (no process: pid -1).
fn keeper() -> (Keeper, OwnedFd) {
    let (mine, theirs) = wire::pair().unwrap();
    let (listener, _) = rustix::pipe::pipe().unwrap();
    let k = Keeper {
        start: Start {
            exe: PathBuf::from("/nonexistent/wrangle"),
            listener,
            locks: Vec::new(),
            ready: None,
            socket: PathBuf::from("/nonexistent/wrangle.sock"),
            resurrect: false,
            passthrough: false,
            nofile: None,
        },
        runs: BTreeMap::new(),
        worker: Some(Worker {
            pid: -1,
            chan: mine,
            ready: true,
            started: Instant::now(),
            bye: false,
            muted: None,
        }),
        candidate: None,
        leaving: Vec::new(),
        respawn_at: None,
        backoff: Duration::ZERO,
        crashed: false,
        ever_ready: true,
        stopping: false,
        exit: None,
        signals: crate::sys::signalfd::SignalFd::new(&[]).unwrap(),
    };
    (k, theirs)
}

/// Sends raw bytes with descriptors, as a broken worker might.
fn send_raw(chan: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    }
    sendmsg(
        chan,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .unwrap();
}

fn hold(id: u64, tags: Vec<u8>) -> Vec<u8> {
    Msg::Hold {
        id,
        pid: 4242,
        start_time: 1,
        status: None,
        tags,
    }
    .encode()
}

/// A pipe whose read end is sent away: Ok(true) while someone still holds that read end.
struct Probe {
    read: Option<OwnedFd>,
    write: OwnedFd,
}

impl Probe {
    fn new() -> Probe {
        let (r, w) = rustix::pipe::pipe().unwrap();
        Probe {
            read: Some(r),
            write: w,
        }
    }

    fn read_end(&self) -> BorrowedFd<'_> {
        self.read.as_ref().unwrap().as_fd()
    }

    /// Drops our copy of the read end; then whether another copy is still open.
    fn still_held(&mut self) -> bool {
        self.read = None;
        // SIGPIPE is ignored in the test binary: a pipe with no reader fails with EPIPE.
        match rustix::io::write(&self.write, b"x") {
            Ok(_) => true,
            Err(rustix::io::Errno::PIPE) => false,
            Err(e) => panic!("write to the probe: {e}"),
        }
    }
}

#[test]
fn garbage_from_the_worker_costs_the_keeper_nothing() {
    let (mut k, chan) = keeper();
    // A run it must keep.
    let mut kept = Probe::new();
    send_raw(&chan, &hold(1, vec![wire::TAG_STDOUT]), &[kept.read_end()]);
    k.read_worker(None);
    assert_eq!(k.runs.len(), 1);

    // Garbage, each with a descriptor that must not stay open in the keeper.
    let mut probes = Vec::new();
    let mut garbage: Vec<Vec<u8>> = vec![
        b"Z".to_vec(),
        b"H".to_vec(),
        b"Hxxxx".to_vec(),
        b"C\x01".to_vec(),
        b"X\x01\x00".to_vec(),
        vec![0xff; MAX_MSG + 100],
    ];
    // A hold naming 3 descriptors but cut short of its tags.
    let mut cut = hold(2, vec![1, 2, 3]);
    cut.pop();
    garbage.push(cut);
    // A hold longer than it says (oversized on the wire, too).
    let mut long = hold(3, vec![1]);
    long.extend(std::iter::repeat_n(0u8, MAX_MSG + 10));
    garbage.push(long);
    for g in &garbage {
        let p = Probe::new();
        send_raw(&chan, g, &[p.read_end()]);
        probes.push(p);
    }
    // More descriptors than a message may carry (the kernel drops what does not fit).
    let many: Vec<Probe> = (0..8).map(|_| Probe::new()).collect();
    let fds: Vec<BorrowedFd<'_>> = many.iter().map(|p| p.read_end()).collect();
    send_raw(&chan, &hold(4, vec![1, 2, 3, 0]), &fds);
    // Messages that only a keeper sends, and news of runs it does not hold.
    for m in [
        Msg::Synced,
        Msg::Exit {
            id: 1,
            pid: 4242,
            status: 0,
        },
        Msg::Verdict {
            ok: true,
            reason: "yes".into(),
        },
        Msg::End { id: 99 },
        Msg::Close { id: 99, tag: 1 },
    ] {
        send_raw(&chan, &m.encode(), &[]);
    }
    // An empty datagram: not the end of the channel.
    send_raw(&chan, b"", &[]);
    k.read_worker(None);

    // The kept run is whole; nothing bad stayed open.
    assert!(k.runs.contains_key(&1), "the held run is kept");
    assert!(kept.still_held(), "the held run's descriptor is still held");
    for (i, mut p) in probes.into_iter().enumerate() {
        assert!(!p.still_held(), "garbage {i}'s descriptor was closed");
    }
    // The hold with too many descriptors keeps what it names (at most four), no more.
    let held = k.runs.get(&4).map_or(0, |h| h.fds.len());
    assert!(held <= wire::MAX_FDS, "{held} descriptors held");
    let open = many
        .into_iter()
        .map(|mut p| p.still_held())
        .filter(|&h| h)
        .count();
    assert_eq!(open, held, "only the descriptors it holds stay open");

    // And it still listens: a new run is held, an end is applied.
    let mut later = Probe::new();
    send_raw(&chan, &hold(5, vec![wire::TAG_STDOUT]), &[later.read_end()]);
    send_raw(&chan, &Msg::End { id: 4 }.encode(), &[]);
    k.read_worker(None);
    assert!(
        k.runs.contains_key(&5),
        "a run sent after the garbage is held"
    );
    assert!(!k.runs.contains_key(&4));
    assert!(later.still_held());
    assert!(k.worker.as_ref().is_some_and(|w| w.muted.is_none()));
    // The worker's real end is still seen as one.
    drop(chan);
    k.read_worker(None);
    assert!(k.worker.as_ref().is_some_and(|w| w.muted.is_some()));
}
