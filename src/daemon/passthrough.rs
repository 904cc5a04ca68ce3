//! `wrangle daemon --passthrough`: every entry's output also goes to the daemon's standard
//! output, a line at a time prefixed `[NAME] `, so that an init system's journal has it. A
//! helper thread does the writing (a journal that falls behind must not stall the loop); the
//! loop hands it whole lines through a bounded queue, and lines that do not fit are counted and
//! reported in one line of their own once the queue has room again. The logs keep everything.

use super::events::split_lines;
use super::state::Daemon;
use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Batches (one per chunk of captured output) queued for the writer at most.
const QUEUE: usize = 64;
/// The longest line written whole; a longer one is written in pieces, as log subscribers get
/// it.
const MAX_LINE: usize = 64 << 10;

pub(super) struct Passthrough {
    tx: SyncSender<Vec<u8>>,
    /// Each entry's and stream's unfinished line.
    partial: HashMap<(u64, u8), Vec<u8>>,
    /// Lines not written since the queue was last full.
    dropped: u64,
}

impl Passthrough {
    /// Starts the writer thread on this process's standard output.
    pub(super) fn start() -> std::io::Result<Passthrough> {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        std::thread::Builder::new()
            .name("passthrough".into())
            .spawn(move || {
                let mut out = std::io::stdout();
                let mut broken = false;
                for batch in rx {
                    // Once standard output is gone, lines are only taken off the queue.
                    if !broken && out.write_all(&batch).and_then(|_| out.flush()).is_err() {
                        broken = true;
                        log::warn!("passthrough: standard output is closed; no more lines there");
                    }
                }
            })?;
        Ok(Passthrough {
            tx,
            partial: HashMap::new(),
            dropped: 0,
        })
    }

    /// Output `data` of entry `id` (shown as `label`) on `stream`.
    pub(super) fn output(&mut self, label: &str, id: u64, stream: u8, data: &[u8]) {
        let partial = self.partial.entry((id, stream)).or_default();
        let mut batch = Vec::with_capacity(data.len() + 64);
        let mut lines = 0u64;
        split_lines(partial, data, MAX_LINE, &mut |l| {
            push_line(&mut batch, label, l);
            lines += 1;
        });
        if partial.is_empty() {
            self.partial.remove(&(id, stream));
        }
        self.send(batch, lines);
    }

    /// The run of entry `id` ended: its unfinished lines are written as they are.
    pub(super) fn end(&mut self, label: &str, id: u64) {
        let mut batch = Vec::new();
        let mut lines = 0;
        for stream in [crate::logs::STDOUT, crate::logs::STDERR] {
            if let Some(rest) = self.partial.remove(&(id, stream)) {
                push_line(&mut batch, label, &rest);
                lines += 1;
            }
        }
        self.send(batch, lines);
    }

    fn send(&mut self, batch: Vec<u8>, lines: u64) {
        if lines == 0 {
            return;
        }
        let batch = if self.dropped > 0 {
            let mut with_notice = format!(
                "[wrangle] {} line{} of output not shown here: standard output fell behind \
                 (the logs have them)\n",
                self.dropped,
                if self.dropped == 1 { "" } else { "s" }
            )
            .into_bytes();
            with_notice.extend_from_slice(&batch);
            with_notice
        } else {
            batch
        };
        match self.tx.try_send(batch) {
            Ok(()) => self.dropped = 0,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped += lines
            }
        }
    }
}

impl Daemon {
    /// Captured output of entry `id`, to standard output too with `--passthrough`.
    pub(super) fn pass_output(&mut self, id: u64, stream: u8, data: &[u8]) {
        if self.passthrough.is_some() {
            let label = self.pass_label(id);
            if let Some(p) = self.passthrough.as_mut() {
                p.output(&label, id, stream, data);
            }
        }
    }

    /// Entry `id`'s run ended: its unfinished lines go out too.
    pub(super) fn pass_end(&mut self, id: u64) {
        if self.passthrough.is_some() {
            let label = self.pass_label(id);
            if let Some(p) = self.passthrough.as_mut() {
                p.end(&label, id);
            }
        }
    }

    /// How passthrough lines name entry `id`: its name, else its id.
    fn pass_label(&self, id: u64) -> String {
        match self.reg.get(id).and_then(|e| e.name.clone()) {
            Some(n) => n,
            None => id.to_string(),
        }
    }
}

/// `[LABEL] LINE\n`, a terminal's carriage return before the newline left out.
fn push_line(batch: &mut Vec<u8>, label: &str, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    batch.push(b'[');
    batch.extend_from_slice(label.as_bytes());
    batch.extend_from_slice(b"] ");
    batch.extend_from_slice(line);
    batch.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::push_line;

    #[test]
    fn a_line_is_prefixed_and_loses_a_terminals_carriage_return() {
        let mut b = Vec::new();
        push_line(&mut b, "web", b"GET / 200\r");
        push_line(&mut b, "shop/api", b"");
        assert_eq!(b, b"[web] GET / 200\n[shop/api] \n");
    }
}
