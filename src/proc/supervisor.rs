//! One entry's whole life as one state machine: `step(state, input, ctx) -> effects`.
//!
//! Pure, like s6-supervise's state × event table: no clock (the caller passes `now`), no
//! processes, no files. The daemon feeds in what happened (a user's start or stop, a reaped
//! exit, output closing, a deadline, a build ending), carries out the effects that come back
//! (spawn, signal, arm or cancel a timer, report an end, start or cancel a build), and feeds
//! back what those effects found (spawned, spawn failed, the tree is gone). Every phase ×
//! input pair is either a transition or an explicit refusal; the tests below list them all.
//!
//! Deadlines are kept as absolute milliseconds of the daemon's monotonic clock, so the whole
//! state can be written out (as remaining durations) and handed to another daemon (which
//! reads it back by hand, `daemon/resume.rs`: derived readers cost the static binary 45 KB).
//!
//! Its tests (`supervisor/tests.rs`) hold the golden table of every phase × input
//! (`supervisor/table.txt`) and the properties that must hold across it.

#[cfg(test)]
use serde::Deserialize;
use serde::Serialize;

/// Milliseconds on the caller's monotonic clock.
pub type Ms = u64;

/// How an entry with no process came to rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "snake_case")]
pub enum Rest {
    /// Never started.
    New,
    /// Stopped by a user (final: nothing restarts it but a user).
    Stopped,
    /// Ended by itself and not going to restart.
    Exited,
    /// Could not start, its first build failed, or it restarted too often.
    Errored,
}

/// What still has to happen before a run's end may be reported: the main process reaped, its
/// output drained to EOF, and no other process of the run left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Gone {
    pub main: bool,
    pub output: bool,
    pub rest: bool,
}

impl Gone {
    fn all(self) -> bool {
        self.main && self.output && self.rest
    }
}

/// Where the life of an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// No process.
    Down { rest: Rest },
    /// A start is under way: the spawn, or (for a service that never ran) its first build.
    Starting,
    /// The main process runs. `gone.output` may already be set (it closed its output).
    Running { gone: Gone },
    /// The main process ended by itself: its output drains and its leftover processes get
    /// the stop signal (KILL at `kill_at`) before the end is reported.
    Ending {
        gone: Gone,
        kill_at: Ms,
        killed: bool,
    },
    /// Stopping at someone's request: the stop signal went to the whole tree, KILL at
    /// `kill_at`. Ends `Down { Stopped }`.
    Stopping {
        gone: Gone,
        kill_at: Ms,
        killed: bool,
    },
    /// Waiting to restart at `at`.
    Backoff { at: Ms },
}

impl Phase {
    /// What a phase with a process waits for (running, ending or stopping), to change.
    pub fn gone_mut(&mut self) -> Option<&mut Gone> {
        match self {
            Phase::Running { gone } | Phase::Ending { gone, .. } | Phase::Stopping { gone, .. } => {
                Some(gone)
            }
            _ => None,
        }
    }

    /// What an ending or stopping phase waits for, its KILL deadline and whether KILL went.
    fn ending(self) -> Option<(Gone, Ms, bool)> {
        match self {
            Phase::Ending {
                gone,
                kill_at,
                killed,
            }
            | Phase::Stopping {
                gone,
                kill_at,
                killed,
            } => Some((gone, kill_at, killed)),
            _ => None,
        }
    }

    /// The same ending or stopping phase with new parts.
    fn with_ending(self, gone: Gone, kill_at: Ms, killed: bool) -> Phase {
        match self {
            Phase::Ending { .. } => Phase::Ending {
                gone,
                kill_at,
                killed,
            },
            Phase::Stopping { .. } => Phase::Stopping {
                gone,
                kill_at,
                killed,
            },
            other => other,
        }
    }
}

/// One entry's machine: its phase, and whether a build runs beside it (a build runs while the
/// old process keeps serving, so it is a second region of the same machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Machine {
    pub phase: Phase,
    pub building: bool,
}

impl Default for Machine {
    fn default() -> Machine {
        Machine {
            phase: Phase::Down { rest: Rest::New },
            building: false,
        }
    }
}

/// What happens once an exit has been reported (the restart policy's verdict, decided by
/// [`crate::proc::policy`] from the exit and the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterExit {
    Stay,
    Restart { delay: Ms, attempt: u32 },
    GiveUp { attempts: u32 },
}

/// What the machine needs to know about the entry and the moment.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: Ms,
    /// The entry's stop timeout (a stop request may bring its own).
    pub stop_timeout: Ms,
    /// How long output may stay open after the main process was reaped.
    pub drain: Ms,
    /// Leftover processes stay running (and stay the entry's) when the main process ends.
    pub keep_leftovers: bool,
    /// Processes kept from ended runs are alive (a stop with no run ends them).
    pub has_leftovers: bool,
    /// The restart policy's verdict for the exit being reported.
    pub after_exit: AfterExit,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A user (or `up`, `resurrect`) starts it.
    Start,
    /// Stop it; `timeout` overrides the entry's stop timeout. The earliest deadline wins.
    Stop {
        timeout: Option<Ms>,
    },
    /// The spawn worked / failed (answers [`Effect::Spawn`]).
    Spawned,
    SpawnFailed,
    /// The main process was reaped (or an adopted one is gone).
    Reaped,
    /// Every output pipe reached EOF.
    OutputClosed,
    /// No process of the run is left (answers a signal effect once its targets are gone).
    TreeGone,
    /// A deadline of this entry came.
    Timer(Slot),
    /// A build begins (restart, `up` of a changed service, profile switch, cron, idle).
    Build,
    /// The build ended.
    BuildDone {
        ok: bool,
    },
}

/// The entry's timers: at most one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub enum Slot {
    /// KILL what is left.
    Kill,
    /// Stop waiting for output to close.
    Drain,
    /// Restart after a backoff.
    Restart,
}

/// Who gets a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    /// The process group and every process of the entry (stop).
    Tree,
    /// What is left after the main process ended.
    Leftovers,
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// The entry's stop signal.
    Stop,
    Kill,
}

/// How a run ended, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Stopped { killed: bool },
    Exited,
}

/// What the daemon must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start a new run; answer with `Spawned` or `SpawnFailed`. `auto` for a policy restart.
    Spawn {
        auto: bool,
    },
    /// Send a signal; then watch those processes and answer `TreeGone` once none is left
    /// (at once if there were none).
    Signal(Whom, Sig),
    /// Leftovers are kept: record them on the entry.
    KeepLeftovers,
    /// Take what output is readable and close the pipes (the drain grace is over).
    CloseOutput,
    /// (Re)arm the entry's timer of this slot for this instant.
    Arm(Slot, Ms),
    Cancel(Slot),
    /// Record the end of the run: state, exit, events, waiters.
    Report(End),
    /// The restart policy's verdict, once the exit is reported.
    Backoff {
        delay: Ms,
        attempt: u32,
    },
    GaveUp {
        attempts: u32,
    },
    /// A stop while waiting to restart, or for a first build (`first_build`): nothing ran.
    StoppedIdle {
        first_build: bool,
    },
    StartBuild,
    CancelBuild,
    /// A build ended well: the request that asked for it goes on (stop, then start).
    Built,
    /// A build failed: the request that asked for it fails; what runs keeps running.
    BuildFailed,
}

/// Why an input was refused; the phase is unchanged and nothing is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Start` while a process runs or a start is under way.
    AlreadyRunning,
    /// `Start` while stopping or ending: try again once it is down.
    Busy,
    /// `Stop` with nothing to stop.
    NotRunning,
    /// An input that cannot happen in this phase (a late timer, a stale reply): ignored.
    Stale,
}

/// The effects of one step, in order (few: kept inline).
pub type Effects = Vec<Effect>;

impl Machine {
    /// The one transition function. On `Err` nothing changed.
    pub fn step(&mut self, input: Input, ctx: &Ctx) -> Result<Effects, Refusal> {
        let mut fx = Effects::new();
        let next = match (self.phase, input) {
            // ---- start
            (Phase::Down { .. }, Input::Start) => {
                fx.push(Effect::Spawn { auto: false });
                Phase::Starting
            }
            (Phase::Backoff { .. }, Input::Start) => {
                fx.push(Effect::Cancel(Slot::Restart));
                fx.push(Effect::Spawn { auto: false });
                Phase::Starting
            }
            (Phase::Starting | Phase::Running { .. }, Input::Start) => {
                return Err(Refusal::AlreadyRunning)
            }
            (Phase::Ending { .. } | Phase::Stopping { .. }, Input::Start) => {
                return Err(Refusal::Busy)
            }
            (Phase::Starting, Input::Spawned) => Phase::Running {
                gone: Gone::default(),
            },
            (Phase::Starting, Input::SpawnFailed) => Phase::Down {
                rest: Rest::Errored,
            },
            (_, Input::Spawned | Input::SpawnFailed) => return Err(Refusal::Stale),

            // ---- stop
            (Phase::Running { gone }, Input::Stop { timeout }) => {
                let kill_at = ctx.now.saturating_add(timeout.unwrap_or(ctx.stop_timeout));
                fx.push(Effect::Arm(Slot::Kill, kill_at));
                fx.push(Effect::Signal(Whom::Tree, Sig::Stop));
                self.cancel_build(&mut fx);
                Phase::Stopping {
                    gone,
                    kill_at,
                    killed: false,
                }
            }
            (
                Phase::Stopping {
                    gone,
                    kill_at,
                    killed,
                }
                | Phase::Ending {
                    gone,
                    kill_at,
                    killed,
                },
                Input::Stop { timeout },
            ) => {
                // A user's stop is final (an ending run is now reported stopped), and the
                // earliest KILL deadline wins.
                let asked = ctx.now.saturating_add(timeout.unwrap_or(ctx.stop_timeout));
                let kill_at = if !killed && asked < kill_at {
                    fx.push(Effect::Arm(Slot::Kill, asked));
                    asked
                } else {
                    kill_at
                };
                self.cancel_build(&mut fx);
                Phase::Stopping {
                    gone,
                    kill_at,
                    killed,
                }
            }
            (Phase::Backoff { .. }, Input::Stop { .. }) => {
                fx.push(Effect::Cancel(Slot::Restart));
                self.cancel_build(&mut fx);
                fx.push(Effect::StoppedIdle { first_build: false });
                Phase::Down {
                    rest: Rest::Stopped,
                }
            }
            (Phase::Starting, Input::Stop { .. }) if self.building => {
                // A service waiting for its first build.
                self.cancel_build(&mut fx);
                fx.push(Effect::StoppedIdle { first_build: true });
                Phase::Down {
                    rest: Rest::Stopped,
                }
            }
            (Phase::Starting, Input::Stop { .. }) => return Err(Refusal::Stale),
            (Phase::Down { .. }, Input::Stop { timeout }) if ctx.has_leftovers => {
                // No run, but an ended run's kept leftovers: the stop ends them.
                let kill_at = ctx.now.saturating_add(timeout.unwrap_or(ctx.stop_timeout));
                self.cancel_build(&mut fx);
                fx.push(Effect::Arm(Slot::Kill, kill_at));
                fx.push(Effect::Signal(Whom::Leftovers, Sig::Stop));
                Phase::Stopping {
                    gone: Gone {
                        main: true,
                        output: true,
                        rest: false,
                    },
                    kill_at,
                    killed: false,
                }
            }
            (Phase::Down { rest }, Input::Stop { .. }) => {
                if !self.building {
                    return Err(Refusal::NotRunning);
                }
                self.cancel_build(&mut fx);
                Phase::Down { rest }
            }

            // ---- the main process ends
            (Phase::Running { mut gone }, Input::Reaped) => {
                gone.main = true;
                let kill_at = ctx.now.saturating_add(ctx.stop_timeout);
                if !gone.output {
                    fx.push(Effect::Arm(Slot::Drain, ctx.now.saturating_add(ctx.drain)));
                }
                if ctx.keep_leftovers {
                    fx.push(Effect::KeepLeftovers);
                    gone.rest = true;
                } else {
                    fx.push(Effect::Arm(Slot::Kill, kill_at));
                    fx.push(Effect::Signal(Whom::Leftovers, Sig::Stop));
                }
                self.settle(
                    Phase::Ending {
                        gone,
                        kill_at,
                        killed: false,
                    },
                    ctx,
                    &mut fx,
                )
            }
            (
                Phase::Stopping {
                    mut gone,
                    kill_at,
                    killed,
                },
                Input::Reaped,
            ) if !gone.main => {
                gone.main = true;
                if !gone.output {
                    fx.push(Effect::Arm(Slot::Drain, ctx.now.saturating_add(ctx.drain)));
                }
                // What the main process orphaned on its way out is stopped too.
                gone.rest = false;
                let sig = if killed { Sig::Kill } else { Sig::Stop };
                fx.push(Effect::Signal(Whom::Leftovers, sig));
                self.settle(
                    Phase::Stopping {
                        gone,
                        kill_at,
                        killed,
                    },
                    ctx,
                    &mut fx,
                )
            }
            (Phase::Running { mut gone }, Input::OutputClosed) => {
                gone.output = true;
                Phase::Running { gone }
            }
            (p @ (Phase::Stopping { .. } | Phase::Ending { .. }), i)
                if p.ending().is_some_and(|(gone, _, killed)| match i {
                    Input::OutputClosed | Input::Timer(Slot::Drain) => !gone.output,
                    Input::TreeGone => !gone.rest,
                    Input::Timer(Slot::Kill) => !killed,
                    _ => false,
                }) =>
            {
                let Some((mut gone, kill_at, mut killed)) = p.ending() else {
                    return Err(Refusal::Stale);
                };
                match i {
                    Input::Timer(Slot::Drain) => {
                        fx.push(Effect::CloseOutput);
                        gone.output = true;
                    }
                    Input::OutputClosed => {
                        fx.push(Effect::Cancel(Slot::Drain));
                        gone.output = true;
                    }
                    Input::TreeGone => gone.rest = true,
                    _ => {
                        // The KILL deadline: everything of a stop, what is left of an ending.
                        let whom = match p {
                            Phase::Stopping { .. } => Whom::Tree,
                            _ => Whom::Leftovers,
                        };
                        fx.push(Effect::Signal(whom, Sig::Kill));
                        killed = true;
                    }
                }
                self.settle(p.with_ending(gone, kill_at, killed), ctx, &mut fx)
            }

            // ---- restart after a backoff
            (Phase::Backoff { .. }, Input::Timer(Slot::Restart)) => {
                fx.push(Effect::Spawn { auto: true });
                Phase::Starting
            }

            // ---- builds (a second region: the phase mostly stays)
            (phase, Input::Build) => {
                match phase {
                    Phase::Stopping { .. } | Phase::Ending { .. } => return Err(Refusal::Busy),
                    _ => {}
                }
                // A newer build supersedes one in progress.
                self.cancel_build(&mut fx);
                self.building = true;
                fx.push(Effect::StartBuild);
                match phase {
                    // The build decides when it restarts.
                    Phase::Backoff { .. } => {
                        fx.push(Effect::Cancel(Slot::Restart));
                        Phase::Down { rest: Rest::Exited }
                    }
                    Phase::Down { rest: Rest::New } => Phase::Starting,
                    other => other,
                }
            }
            (phase, Input::BuildDone { ok }) => {
                if !self.building {
                    return Err(Refusal::Stale);
                }
                self.building = false;
                match (phase, ok) {
                    (_, true) => {
                        fx.push(Effect::Built);
                        // A first start goes on from Down (the request starts it).
                        match phase {
                            Phase::Starting => Phase::Down { rest: Rest::New },
                            other => other,
                        }
                    }
                    (Phase::Starting, false) => {
                        fx.push(Effect::BuildFailed);
                        Phase::Down {
                            rest: Rest::Errored,
                        }
                    }
                    (other, false) => {
                        fx.push(Effect::BuildFailed);
                        other
                    }
                }
            }

            // ---- everything else cannot happen in that phase: a late timer or a repeat
            (
                Phase::Down { .. }
                | Phase::Starting
                | Phase::Running { .. }
                | Phase::Ending { .. }
                | Phase::Stopping { .. }
                | Phase::Backoff { .. },
                Input::Reaped | Input::OutputClosed | Input::TreeGone | Input::Timer(_),
            ) => return Err(Refusal::Stale),
        };
        self.phase = next;
        Ok(fx)
    }

    /// The same machine on another clock: every deadline keeps the time it had left when
    /// the old clock read `old_now`, now counted from `new_now`. With `new_now` 0 the
    /// deadlines become remaining durations (to write the machine out), and back.
    pub fn rebased(self, old_now: Ms, new_now: Ms) -> Machine {
        let move_to = |at: Ms| new_now.saturating_add(at.saturating_sub(old_now));
        let phase = match (self.phase, self.phase.ending()) {
            (Phase::Backoff { at }, _) => Phase::Backoff { at: move_to(at) },
            (p, Some((gone, kill_at, killed))) => p.with_ending(gone, move_to(kill_at), killed),
            (p, None) => p,
        };
        Machine { phase, ..self }
    }

    fn cancel_build(&mut self, fx: &mut Effects) {
        if self.building {
            self.building = false;
            fx.push(Effect::CancelBuild);
        }
    }

    /// After a condition of an ending or stopping run is met: report the end once all are.
    fn settle(&mut self, phase: Phase, ctx: &Ctx, fx: &mut Effects) -> Phase {
        let (gone, end) = match phase {
            Phase::Ending { gone, .. } => (gone, End::Exited),
            Phase::Stopping { gone, killed, .. } => (gone, End::Stopped { killed }),
            other => return other,
        };
        if !gone.all() {
            return phase;
        }
        fx.push(Effect::Cancel(Slot::Kill));
        if !fx.contains(&Effect::Cancel(Slot::Drain)) {
            fx.push(Effect::Cancel(Slot::Drain));
        }
        fx.push(Effect::Report(end));
        match end {
            End::Stopped { .. } => Phase::Down {
                rest: Rest::Stopped,
            },
            End::Exited => match ctx.after_exit {
                AfterExit::Stay => Phase::Down { rest: Rest::Exited },
                AfterExit::GiveUp { attempts } => {
                    fx.push(Effect::GaveUp { attempts });
                    Phase::Down {
                        rest: Rest::Errored,
                    }
                }
                AfterExit::Restart { delay, attempt } => {
                    let at = ctx.now.saturating_add(delay);
                    fx.push(Effect::Arm(Slot::Restart, at));
                    fx.push(Effect::Backoff { delay, attempt });
                    Phase::Backoff { at }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
