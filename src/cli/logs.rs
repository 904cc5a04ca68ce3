//! `wrangle logs`: the tail of the latest run read straight from the log files (so big logs
//! never load the daemon), then, with `-f`, live output streamed by the daemon.

use super::select::with_selector;
use super::{client, Exit};
use crate::client::StreamItem;
use crate::error::{Code, Error, Result};
use crate::logs::file::{read_index, read_streams, tail_start};
use crate::paths::Paths;
use crate::proto::{LogInfo, StreamEvent};
use std::io::Write;
use std::path::Path;

with_selector! {
    /// print an entry's output: the last lines of its latest run, and follow
    #[argh(subcommand, name = "logs")]
    pub struct LogsCmd {
        /// how many lines to print (default 20)
        #[argh(option, short = 'n', default = "20")]
        pub lines: usize,
        /// keep printing output as it arrives
        #[argh(switch, short = 'f')]
        pub follow: bool,
        /// only standard output
        #[argh(switch)]
        pub stdout: bool,
        /// only standard error
        #[argh(switch)]
        pub stderr: bool,
        /// a name or id
        #[argh(positional)]
        pub targets: Vec<String>,
    }
}

pub fn logs(paths: &Paths, c: LogsCmd) -> Result<Exit> {
    let sel = c.selector(&c.targets);
    if sel.targets.is_empty() && !sel.has_filters() {
        bail!(Code::Usage, "logs: say which entry (a name or an id)");
    }
    let streams = match (c.stdout, c.stderr) {
        (true, false) => 1,
        (false, true) => 2,
        _ => 3,
    };
    let mut client = client(paths)?;
    let infos = client.logs(&sel)?;
    let info = match infos.as_slice() {
        [one] => one,
        many => bail!(
            Code::Ambiguous,
            "logs: {} entries match; name one (see wrangle ls)",
            many.len()
        ),
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let tail = tail_of_latest_run(info, streams, c.lines)?;
    write_out(&mut out, &tail)?;
    if !c.follow {
        return Ok(0);
    }
    let req = client.follow(info.id, info.end_seq, streams)?;
    loop {
        match client.next_item(req)? {
            StreamItem::Data { bytes, .. } => write_out(&mut out, &bytes)?,
            StreamItem::Event(StreamEvent::Missed { bytes }) => {
                let _ = out.flush();
                eprintln!("wrangle: [{bytes} bytes skipped: this reader fell behind]");
            }
            StreamItem::Event(_) => {}
            StreamItem::End => return Ok(0),
        }
    }
}

fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("cannot write to standard output", e))
}

/// The last `n` lines of the latest run's wanted streams, reading windows from the end of the
/// file until enough lines are found.
fn tail_of_latest_run(info: &LogInfo, streams: u8, n: usize) -> Result<Vec<u8>> {
    let Some(run) = info.runs.last() else {
        return Ok(Vec::new());
    };
    let len = info.end_seq.saturating_sub(run.start_seq);
    let index = read_index(Path::new(&run.index))
        .map_err(|e| Error::io(format!("cannot read {}", run.index), e))?;
    let mut window: u64 = 64 << 10;
    loop {
        let from = len.saturating_sub(window);
        let data = read_streams(Path::new(&run.log), &index, from, len - from, streams)
            .map_err(|e| Error::io(format!("cannot read {}", run.log), e))?;
        let start = tail_start(&data, n);
        if start > 0 || from == 0 {
            return Ok(data[start..].to_vec());
        }
        window = window.saturating_mul(4);
    }
}
