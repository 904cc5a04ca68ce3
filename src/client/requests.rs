//! The typed requests of the protocol, one method each on [`Client`]: what the CLI, `top`,
//! MCP and library users call. The connection, the handshake and the frames are `client.rs`.

use super::*;

impl Client {
    pub fn ping(&mut self) -> Result<PingReply> {
        self.call(&Request::Ping)
    }

    pub fn run(&mut self, spec: RunSpec) -> Result<EntryInfo> {
        self.call::<EntryReply>(&Request::Run { spec })
            .map(|r| r.entry)
    }

    pub fn list(&mut self, sel: &Selector) -> Result<Vec<EntryInfo>> {
        self.call_entries::<ListReply, _>(
            &Request::List {
                sel: sel.clone(),
                brief: false,
            },
            |r| r.entries,
        )
    }

    /// The ids and names of the selected entries: cheaper than [`Client::list`] (no state,
    /// no CPU or memory sampling).
    pub fn list_brief(&mut self, sel: &Selector) -> Result<Vec<crate::proto::BriefEntry>> {
        self.call_entries::<crate::proto::BriefListReply, _>(
            &Request::List {
                sel: sel.clone(),
                brief: true,
            },
            |r| r.entries,
        )
    }

    /// A request answered with a list of entries, which a long list sends in parts (EVENT
    /// frames) before the final RESPONSE.
    fn call_entries<R: serde::de::DeserializeOwned, T>(
        &mut self,
        req: &Request,
        items: impl Fn(R) -> Vec<T>,
    ) -> Result<Vec<T>> {
        let id = self.send_request(req)?;
        let mut all = Vec::new();
        loop {
            let f = self.frame_for(id)?;
            let kind = f.kind();
            if matches!(kind, Some(FrameKind::Event | FrameKind::Response)) {
                all.extend(items(decode::<R>(&f.payload, req.op())?));
                if kind == Some(FrameKind::Response) {
                    return Ok(all);
                }
            }
        }
    }

    /// Everything about the selected entries; `show_env` shows secret-looking values too.
    pub fn status(&mut self, sel: &Selector, show_env: bool) -> Result<Vec<EntryInfo>> {
        let req = Request::Status {
            sel: sel.clone(),
            show_env,
        };
        self.call_entries::<ListReply, _>(&req, |r| r.entries)
    }

    pub fn start(&mut self, sel: &Selector) -> Result<Vec<ActionResult>> {
        self.call::<ActionReply>(&Request::Start { sel: sel.clone() })
            .map(|r| r.results)
    }

    pub fn stop(&mut self, sel: &Selector, timeout: Option<Duration>) -> Result<Vec<ActionResult>> {
        let req = Request::Stop {
            sel: sel.clone(),
            timeout_ms: timeout.map(|d| d.as_millis() as u64),
        };
        self.call::<ActionReply>(&req).map(|r| r.results)
    }

    /// Restarts the selected entries; services with a build step are built first (the old
    /// process serves until the build succeeded). `profile` switches services to that profile
    /// ("base": the base spec).
    pub fn restart(
        &mut self,
        sel: &Selector,
        profile: Option<String>,
    ) -> Result<Vec<ActionResult>> {
        let req = Request::Restart {
            sel: sel.clone(),
            profile,
        };
        self.call::<ActionReply>(&req).map(|r| r.results)
    }

    /// Creates, updates or leaves alone the entry of one service (see [`Request::Apply`]).
    pub fn apply(&mut self, service: &ServiceSpec) -> Result<ActionResult> {
        let req = Request::Apply {
            service: service.clone(),
        };
        let mut rs = self.call::<ActionReply>(&req)?.results;
        rs.pop()
            .ok_or_else(|| Error::new(Code::Internal, "apply: the daemon replied with no result"))
    }

    /// Stops and removes the services of `file` (only `names`, when given).
    pub fn down(&mut self, file: &str, names: &[String]) -> Result<Vec<ActionResult>> {
        let req = Request::Down {
            file: file.to_string(),
            names: names.to_vec(),
        };
        self.call::<ActionReply>(&req).map(|r| r.results)
    }

    pub fn remove(&mut self, sel: &Selector) -> Result<Vec<ActionResult>> {
        self.remove_with(sel, false)
    }

    /// `remove`, with `kill`: a process adopted with `add` is stopped too, not left running.
    pub fn remove_with(&mut self, sel: &Selector, kill: bool) -> Result<Vec<ActionResult>> {
        self.call::<ActionReply>(&Request::Remove {
            sel: sel.clone(),
            kill,
        })
        .map(|r| r.results)
    }

    pub fn signal(&mut self, sel: &Selector, signal: i32) -> Result<Vec<ActionResult>> {
        let req = Request::Signal {
            sel: sel.clone(),
            signal,
        };
        self.call::<ActionReply>(&req).map(|r| r.results)
    }

    /// Where the selected entries' logs are (with `build`, their build logs).
    pub fn logs(&mut self, sel: &Selector, build: bool) -> Result<Vec<LogInfo>> {
        let req = Request::Logs {
            sel: sel.clone(),
            build,
        };
        self.call::<LogsReply>(&req).map(|r| r.entries)
    }

    /// Log content read and searched by the daemon (no access to the files needed).
    pub fn read_log(&mut self, q: &ReadLogQuery) -> Result<ReadLogReply> {
        self.call(&Request::ReadLog(q.clone()))
    }

    pub fn clear_logs(&mut self, sel: &Selector) -> Result<Vec<ActionResult>> {
        self.call::<ActionReply>(&Request::ClearLogs { sel: sel.clone() })
            .map(|r| r.results)
    }

    /// Waits until the entry ends.
    pub fn wait(&mut self, sel: &Selector, timeout: Option<Duration>) -> Result<WaitReply> {
        self.wait_for(sel, timeout, None, None, false)
    }

    /// Waits until the entry is ready: a line of its current run matches `log`, it listens on
    /// TCP `port`, or (`ready`) what its service declares. With none of them: until it ends.
    pub fn wait_for(
        &mut self,
        sel: &Selector,
        timeout: Option<Duration>,
        log: Option<String>,
        port: Option<u16>,
        ready: bool,
    ) -> Result<WaitReply> {
        let req = Request::Wait {
            sel: sel.clone(),
            timeout_ms: timeout.map(|d| d.as_millis() as u64),
            log,
            port,
            ready,
            screen: None,
        };
        self.call(&req)
    }

    /// Waits until the screen of terminal entry `sel` shows a match of `regex`.
    pub fn wait_screen(
        &mut self,
        sel: &Selector,
        timeout: Option<Duration>,
        regex: &str,
    ) -> Result<WaitReply> {
        let req = Request::Wait {
            sel: sel.clone(),
            timeout_ms: timeout.map(|d| d.as_millis() as u64),
            log: None,
            port: None,
            ready: false,
            screen: Some(regex.to_string()),
        };
        self.call(&req)
    }

    /// Sends `keys` (tmux key names, or texts) to entry `sel`'s input, encoded by the daemon
    /// for the mode its terminal is in; then closes the input if `eof`. A daemon older than
    /// `send_keys` gets them encoded here, arrows in normal cursor mode. The bytes written.
    pub fn send_keys(&mut self, sel: &Selector, keys: &[String], eof: bool) -> Result<u64> {
        let req = Request::SendKeys {
            sel: sel.clone(),
            keys: keys.to_vec(),
            eof,
        };
        match self.call::<SendReply>(&req) {
            Err(e) if e.code == Code::UnknownOp => {
                let data = crate::term::keys::encode(keys, false);
                self.send_input(sel, &mut data.as_slice(), eof)
            }
            r => r.map(|r| r.bytes),
        }
    }

    /// The current screen of terminal entry `sel`, with `scrollback` lines of scrollback
    /// before it, rendered in `format` (the reply's `content`).
    pub fn screen(
        &mut self,
        sel: &Selector,
        format: crate::term::Format,
        scrollback: u32,
    ) -> Result<ScreenReply> {
        let req = Request::Screen {
            sel: sel.clone(),
            format,
            scrollback,
        };
        self.call(&req)
    }

    /// Adopts running process `pid`.
    pub fn add(
        &mut self,
        pid: i32,
        name: Option<String>,
        tags: Vec<String>,
        groups: Vec<String>,
    ) -> Result<EntryInfo> {
        let req = Request::Add {
            pid,
            name,
            tags,
            groups,
        };
        self.call::<EntryReply>(&req).map(|r| r.entry)
    }

    /// Sends a prepared `label`, `rename_label`, `prune` or `reset` request.
    pub fn act(&mut self, req: &Request) -> Result<Vec<ActionResult>> {
        self.call::<ActionReply>(req).map(|r| r.results)
    }

    /// Every tag (`kind` "tag") or group ("group") in use, with counts.
    pub fn labels(&mut self, kind: &str) -> Result<Vec<LabelCount>> {
        let req = Request::Labels {
            kind: kind.to_string(),
        };
        self.call::<LabelsReply>(&req).map(|r| r.labels)
    }

    /// Asks the daemon to stop everything and exit; returns once it has.
    pub fn shutdown(&mut self) -> Result<Vec<ActionResult>> {
        self.call::<ActionReply>(&Request::Shutdown)
            .map(|r| r.results)
    }

    /// Asks the daemon to hand everything to a new daemon from `binary` (default: the binary
    /// it was started from); returns once the new one is ready.
    pub fn upgrade(&mut self, binary: Option<String>) -> Result<crate::proto::UpgradeReply> {
        self.call(&Request::Upgrade { binary })
    }

    /// Opens a stream of entry `id`'s output from sequence number `from_seq`; read it with
    /// [`Client::next_item`] using the returned request id.
    pub fn follow(&mut self, id: u64, from_seq: u64, streams: u8) -> Result<u32> {
        self.send_request(&Request::Follow {
            id,
            from_seq,
            streams,
        })
    }

    /// Subscribes to lifecycle events (`types` bit 1) and/or log lines (bit 2) of the entries
    /// `sel` picks (every entry, even later ones, when empty); read with
    /// [`Client::next_event`] using the returned request id. With `since_ms`, the kept
    /// lifecycle events from that time on come first.
    pub fn subscribe(&mut self, sel: &Selector, types: u8, since_ms: Option<u64>) -> Result<u32> {
        self.send_request(&Request::Subscribe {
            sel: sel.clone(),
            types,
            since_ms,
        })
    }

    /// The next event of subscription `req`; None once it has ended.
    pub fn next_event(&mut self, req: u32) -> Result<Option<LiveEvent>> {
        loop {
            let f = self.frame_for(req)?;
            match f.kind() {
                Some(FrameKind::Event) => return decode(&f.payload, "subscribe").map(Some),
                Some(FrameKind::Response) => return Ok(None),
                _ => {}
            }
        }
    }

    /// The next item of stream `req`.
    pub fn next_item(&mut self, req: u32) -> Result<StreamItem> {
        loop {
            let f = self.frame_for(req)?;
            match f.kind() {
                Some(FrameKind::Data) => {
                    return Ok(StreamItem::Data {
                        stream: f.chan,
                        bytes: f.payload,
                    })
                }
                Some(FrameKind::Event) => {
                    return decode(&f.payload, "follow").map(StreamItem::Event)
                }
                Some(FrameKind::Response) => return Ok(StreamItem::End),
                _ => {}
            }
        }
    }
}
