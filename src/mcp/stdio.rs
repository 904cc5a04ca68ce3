//! The stdio transport: one JSON-RPC message per line on standard input and output. A reader
//! thread cuts input into lines (a line past the size limit is dropped with a parse error, not
//! kept), so that a tool that waits can still notice `notifications/cancelled`; messages that
//! arrive meanwhile are kept, in order, for after.

use super::server::{Link, Server};
use super::watch::{self, Watched};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// The longest line taken.
const MAX_LINE: usize = 4 << 20;

pub enum Input {
    Line(Vec<u8>),
    TooLong,
    Watched(Watched),
    End,
}

struct Stdio {
    rx: Receiver<Input>,
    backlog: VecDeque<Input>,
}

impl Link for Stdio {
    fn notify(&mut self, msg: Value) {
        write(&msg);
    }

    fn cancelled(&mut self, id: &Value) -> bool {
        while let Ok(i) = self.rx.try_recv() {
            if let Input::Line(l) = &i {
                if let Ok(v) = serde_json::from_slice::<Value>(l) {
                    if v["method"] == "notifications/cancelled" && v["params"]["requestId"] == *id {
                        return true;
                    }
                }
            }
            self.backlog.push_back(i);
        }
        false
    }
}

fn write(msg: &Value) {
    let mut out = std::io::stdout().lock();
    let mut line = msg.to_string();
    line.push('\n');
    // The client went away: nothing more to do.
    if out
        .write_all(line.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Reads standard input into `tx` until its end.
fn reader(tx: SyncSender<Input>) {
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .unwrap_or_default();
        if n == 0 {
            let _ = tx.send(Input::End);
            return;
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Drop the rest of this line.
            let mut skip = Vec::new();
            loop {
                skip.clear();
                match (&mut input).take(1 << 20).read_until(b'\n', &mut skip) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if skip.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                }
            }
            if tx.send(Input::TooLong).is_err() {
                return;
            }
            continue;
        }
        let msg = std::mem::take(&mut line);
        if tx.send(Input::Line(msg)).is_err() {
            return;
        }
    }
}

pub fn serve(mut server: Server, paths: crate::paths::Paths) -> crate::error::Result<()> {
    let (tx, rx) = sync_channel(64);
    let tx2 = tx.clone();
    std::thread::Builder::new()
        .name("mcp-stdin".into())
        .spawn(move || reader(tx2))
        .map_err(|e| crate::error::Error::io("cannot start the input thread", e))?;
    let mut link = Stdio {
        rx,
        backlog: VecDeque::new(),
    };
    let mut watching = false;
    let subscribed = watch::Subscribed::default();
    loop {
        let input = match link.backlog.pop_front() {
            Some(i) => i,
            None => match link.rx.recv() {
                Ok(i) => i,
                Err(_) => return Ok(()),
            },
        };
        match input {
            Input::End => return Ok(()),
            Input::TooLong => write(&super::jsonrpc::error(
                &Value::Null,
                super::jsonrpc::PARSE_ERROR,
                format!("message longer than {MAX_LINE} bytes: dropped"),
            )),
            Input::Watched(w) => {
                for n in watch::notifications(&w, &server.subscribed) {
                    write(&n);
                }
            }
            Input::Line(l) => {
                if l.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Some(answer) = server.handle_text(&l, &mut link) {
                    write(&answer);
                }
                watch::share(&server.subscribed, &subscribed);
                // Once the conversation is up, watch the daemon for resource notifications.
                if !watching && server.revision().is_some() {
                    watching = true;
                    watch::start(
                        &paths,
                        &server.policy,
                        tx.clone(),
                        Input::Watched,
                        subscribed.clone(),
                    );
                }
            }
        }
    }
}
