//! The request router: every request a connection sends comes through `handle`, which
//! answers the daemon's own (`ping`, `shutdown`) and hands each other one to the file of its
//! family: `entries.rs` (run, list, status, start, stop, restart, rm, signal), `output.rs`
//! (logs, clear, follow), `ready.rs` (wait), `io.rs` (send, attach, resize), `events.rs`
//! (subscribe), `services.rs` (apply, down, restart of services), `registry_ops.rs` (add,
//! labels, prune, reset), `saved.rs` (save, resurrect), `session.rs` (cancel).

use super::io::AttachFrom;
use super::state::{BatchOp, Daemon, Pending, PendingKind};
use crate::error::{Code, Result};
use crate::proto::{ActionReply, PingReply, Request};
use crate::store::registry::Relabel;
use mio::Token;
use std::time::Duration;

impl Daemon {
    pub(super) fn handle(&mut self, t: Token, req_id: u32, req: Request) -> Result<()> {
        if self.shutting_down
            && !matches!(req, Request::Ping | Request::Shutdown | Request::LiveState)
        {
            bail!(Code::Daemon, "the daemon is shutting down");
        }
        match &req {
            Request::List { .. } | Request::Subscribe { .. } => {}
            Request::Status { sel, .. }
            | Request::Start { sel }
            | Request::Stop { sel, .. }
            | Request::Restart { sel, .. }
            | Request::Remove { sel, .. }
            | Request::Signal { sel, .. }
            | Request::Logs { sel, .. }
            | Request::ClearLogs { sel }
            | Request::Wait { sel, .. }
            | Request::Send { sel, .. }
            | Request::SendKeys { sel, .. }
            | Request::Attach { sel, .. }
            | Request::Resize { sel, .. }
            | Request::Screen { sel, .. }
            | Request::Label { sel, .. }
            | Request::Edit { sel, .. } => self.touch(sel),
            Request::ReadLog(q) => self.touch(&q.sel),
            _ => {}
        }
        match req {
            Request::Ping => {
                let reply = PingReply {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    protocol: *crate::proto::VERSIONS.last().unwrap_or(&1),
                    pid: std::process::id(),
                    uptime_ms: self.started.elapsed().as_millis() as u64,
                    entries: self.reg.len(),
                    running: self.live.len(),
                    socket: self.paths.socket.display().to_string(),
                    state_dir: self.paths.state.display().to_string(),
                    warnings: self.startup_warnings.clone(),
                    keeper: self.keeper.is_some().then(|| {
                        rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32)
                    }),
                };
                self.reply(t, req_id, &reply);
            }
            Request::Run { spec } => self.run_request(t, req_id, spec)?,
            Request::List { sel, brief } => self.list(t, req_id, &sel, brief)?,
            Request::Status { sel, show_env } => self.status(t, req_id, &sel, show_env)?,
            Request::Save { force } => {
                let results = self.save_set(force)?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Resurrect => {
                let originator = self.rx.conns.get(&t).map(|c| c.client.clone());
                let results = self.resurrect(originator.filter(|o| !o.is_empty()))?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Start { sel } => self.start_request(t, req_id, &sel)?,
            Request::Stop { sel, timeout_ms } => {
                let ids = self.reg.select_for_change(&sel, "stop")?;
                self.batch(
                    Some(t),
                    req_id,
                    BatchOp::Stop,
                    ids,
                    timeout_ms.map(Duration::from_millis),
                    Vec::new(),
                );
            }
            Request::Restart { sel, profile } => {
                let ids = self.reg.select_for_change(&sel, "restart")?;
                self.restart_request(t, req_id, ids, profile)?;
            }
            Request::Apply { service } => self.apply(t, req_id, service)?,
            Request::Down { file, names } => self.down(t, req_id, &file, &names)?,
            Request::Remove { sel, kill } => {
                let ids = self.reg.select_for_change(&sel, "rm")?;
                let (ids, results) = self.forget_adopted(ids, kill);
                self.batch(Some(t), req_id, BatchOp::Remove, ids, None, results);
            }
            Request::Signal { sel, signal } => self.signal_request(t, req_id, &sel, signal)?,
            Request::Logs { sel, build } => self.logs_request(t, req_id, &sel, build)?,
            Request::ClearLogs { sel } => self.clear_logs_request(t, req_id, &sel)?,
            Request::Follow {
                id,
                from_seq,
                streams,
            } => self.follow(t, req_id, id, from_seq, streams)?,
            Request::Wait {
                sel,
                timeout_ms,
                log,
                port,
                ready,
                screen,
            } => self.wait_request(t, req_id, &sel, timeout_ms, log, port, ready, screen)?,
            Request::Subscribe {
                sel,
                types,
                since_ms,
            } => self.subscribe(t, req_id, sel, types, since_ms)?,
            Request::Send { sel, eof } => self.begin_send(t, req_id, &sel, eof)?,
            Request::SendKeys { sel, keys, eof } => self.send_keys(t, req_id, &sel, &keys, eof)?,
            Request::Attach {
                sel,
                read_only,
                replay,
                size,
                from_seq,
            } => {
                let start = match from_seq {
                    Some(seq) => AttachFrom::Seq(seq),
                    None => AttachFrom::Replay(replay),
                };
                self.attach(t, req_id, &sel, read_only, start, size)?
            }
            Request::Resize { sel, rows, cols } => {
                let results = self.resize(t, &sel, rows, cols)?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Add {
                pid,
                name,
                tags,
                groups,
            } => self.adopt(t, req_id, pid, name, tags, groups)?,
            Request::Label {
                sel,
                add_tags,
                rm_tags,
                add_groups,
                rm_groups,
                name,
            } => {
                let change = Relabel {
                    add_tags,
                    rm_tags,
                    add_groups,
                    rm_groups,
                    name: name.map(|n| if n.is_empty() { None } else { Some(n) }),
                };
                let results = self.label(&sel, change)?;
                self.reply(t, req_id, &ActionReply { results });
            }
            Request::Labels { kind } => {
                let reply = self.labels(&kind)?;
                self.reply(t, req_id, &reply);
            }
            Request::RenameLabel { kind, old, new } => {
                let reply = self.rename_label(&kind, &old, &new)?;
                self.reply(t, req_id, &reply);
            }
            Request::Prune { older_than_ms } => {
                let reply = self.prune(older_than_ms);
                self.reply(t, req_id, &reply);
            }
            Request::Reset { confirm } => self.reset(t, req_id, &confirm)?,
            Request::Cancel { target } => self.cancel(t, req_id, target),
            Request::Upgrade { binary } => self.upgrade(t, req_id, binary)?,
            Request::Screen {
                sel,
                format,
                scrollback,
            } => self.screen_request(t, req_id, &sel, format, scrollback)?,
            Request::ReadLog(q) => self.read_log_request(t, req_id, q)?,
            Request::LiveState => {
                let state = self.live_state();
                self.reply(t, req_id, &state);
            }
            Request::Edit {
                sel,
                change,
                restart_now,
            } => self.edit_request(t, req_id, &sel, &change, restart_now)?,
            Request::Shutdown => {
                if self.shutting_down {
                    // Already on the way out: answer when it is done.
                    self.pending.push(Pending {
                        conn: Some(t),
                        req: req_id,
                        kind: PendingKind::Batch {
                            op: BatchOp::Shutdown,
                            ids: self.owned_live(),
                            results: Vec::new(),
                        },
                    });
                } else {
                    self.begin_shutdown(Some(t), req_id);
                }
            }
        }
        Ok(())
    }
}
