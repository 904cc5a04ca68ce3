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
//! state can be written out (as remaining durations) and handed to another daemon.
//!
//! Most of its length is tests: the golden table of every phase × input (in
//! `supervisor_table.txt`) and the properties that must hold across it.

use serde::{Deserialize, Serialize};

/// Milliseconds on the caller's monotonic clock.
pub type Ms = u64;

/// How an entry with no process came to rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
        let phase = match self.phase {
            Phase::Ending {
                gone,
                kill_at,
                killed,
            } => Phase::Ending {
                gone,
                kill_at: move_to(kill_at),
                killed,
            },
            Phase::Stopping {
                gone,
                kill_at,
                killed,
            } => Phase::Stopping {
                gone,
                kill_at: move_to(kill_at),
                killed,
            },
            Phase::Backoff { at } => Phase::Backoff { at: move_to(at) },
            other => other,
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
mod tests {
    use super::*;

    const NOW: Ms = 1_000;

    fn ctx(after_exit: AfterExit) -> Ctx {
        Ctx {
            now: NOW,
            stop_timeout: 5_000,
            drain: 500,
            keep_leftovers: false,
            has_leftovers: false,
            after_exit,
        }
    }

    fn phases() -> Vec<(&'static str, Phase)> {
        let g = Gone::default();
        let main = Gone { main: true, ..g };
        vec![
            ("down/new", Phase::Down { rest: Rest::New }),
            (
                "down/stopped",
                Phase::Down {
                    rest: Rest::Stopped,
                },
            ),
            ("down/exited", Phase::Down { rest: Rest::Exited }),
            (
                "down/errored",
                Phase::Down {
                    rest: Rest::Errored,
                },
            ),
            ("starting", Phase::Starting),
            ("running", Phase::Running { gone: g }),
            (
                "running/closed",
                Phase::Running {
                    gone: Gone { output: true, ..g },
                },
            ),
            (
                "ending",
                Phase::Ending {
                    gone: main,
                    kill_at: 6_000,
                    killed: false,
                },
            ),
            (
                "ending/killed",
                Phase::Ending {
                    gone: main,
                    kill_at: 6_000,
                    killed: true,
                },
            ),
            (
                "stopping",
                Phase::Stopping {
                    gone: g,
                    kill_at: 6_000,
                    killed: false,
                },
            ),
            (
                "stopping/reaped",
                Phase::Stopping {
                    gone: Gone {
                        main: true,
                        rest: true,
                        output: false,
                    },
                    kill_at: 6_000,
                    killed: true,
                },
            ),
            ("backoff", Phase::Backoff { at: 2_000 }),
        ]
    }

    fn inputs() -> Vec<(&'static str, Input)> {
        vec![
            ("start", Input::Start),
            ("stop", Input::Stop { timeout: None }),
            (
                "stop(1s)",
                Input::Stop {
                    timeout: Some(1_000),
                },
            ),
            ("spawned", Input::Spawned),
            ("spawn-failed", Input::SpawnFailed),
            ("reaped", Input::Reaped),
            ("output-closed", Input::OutputClosed),
            ("tree-gone", Input::TreeGone),
            ("timer(kill)", Input::Timer(Slot::Kill)),
            ("timer(drain)", Input::Timer(Slot::Drain)),
            ("timer(restart)", Input::Timer(Slot::Restart)),
            ("build", Input::Build),
            ("build-ok", Input::BuildDone { ok: true }),
            ("build-failed", Input::BuildDone { ok: false }),
        ]
    }

    fn short(p: Phase) -> String {
        match p {
            Phase::Down { rest } => format!("down/{rest:?}").to_lowercase(),
            Phase::Starting => "starting".into(),
            Phase::Running { gone } => format!("running{}", flags(gone)),
            Phase::Ending {
                gone,
                kill_at,
                killed,
            } => format!(
                "ending{} kill@{kill_at}{}",
                flags(gone),
                if killed { " killed" } else { "" }
            ),
            Phase::Stopping {
                gone,
                kill_at,
                killed,
            } => format!(
                "stopping{} kill@{kill_at}{}",
                flags(gone),
                if killed { " killed" } else { "" }
            ),
            Phase::Backoff { at } => format!("backoff@{at}"),
        }
    }

    fn flags(g: Gone) -> String {
        let mut s = String::new();
        for (on, c) in [(g.main, 'm'), (g.output, 'o'), (g.rest, 'r')] {
            if on {
                s.push(c);
            }
        }
        if s.is_empty() {
            s
        } else {
            format!("[{s}]")
        }
    }

    /// Every phase (with and without a build) × every input, one line each.
    fn table(after_exit: AfterExit) -> String {
        let mut out = String::new();
        for building in [false, true] {
            for (pn, p) in phases() {
                for (inn, i) in inputs() {
                    let mut m = Machine { phase: p, building };
                    let before = m;
                    let b = if building { "+build" } else { "" };
                    let line = match m.step(i, &ctx(after_exit)) {
                        Ok(fx) => format!(
                            "{pn}{b} | {inn} -> {}{} {fx:?}",
                            short(m.phase),
                            if m.building { "+build" } else { "" }
                        ),
                        Err(r) => {
                            assert_eq!(m, before, "a refusal changes nothing");
                            format!("{pn}{b} | {inn} -> refused {r:?}")
                        }
                    };
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        out
    }

    #[test]
    fn every_phase_times_every_input() {
        let got = table(AfterExit::Stay);
        if std::env::var_os("WRANGLE_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/proc/supervisor_table.txt");
            std::fs::write(path, &got).unwrap();
            return;
        }
        let want = include_str!("supervisor_table.txt");
        if got != want {
            for (a, b) in got.lines().zip(want.lines()) {
                if a != b {
                    panic!("first difference:\n got: {a}\nwant: {b}");
                }
            }
            panic!(
                "tables differ in length: {} vs {}",
                got.lines().count(),
                want.lines().count()
            );
        }
    }

    #[test]
    fn an_exit_is_reported_then_the_policy_acts() {
        let mut m = Machine {
            phase: Phase::Running {
                gone: Gone {
                    output: true,
                    ..Gone::default()
                },
            },
            building: false,
        };
        let c = ctx(AfterExit::Restart {
            delay: 300,
            attempt: 2,
        });
        let fx = m.step(Input::Reaped, &c).unwrap();
        assert_eq!(
            fx,
            [
                Effect::Arm(Slot::Kill, NOW + 5_000),
                Effect::Signal(Whom::Leftovers, Sig::Stop)
            ]
        );
        // Leftovers gone: only now the end is reported, then the restart is scheduled.
        let fx = m.step(Input::TreeGone, &c).unwrap();
        assert_eq!(
            fx,
            [
                Effect::Cancel(Slot::Kill),
                Effect::Cancel(Slot::Drain),
                Effect::Report(End::Exited),
                Effect::Arm(Slot::Restart, NOW + 300),
                Effect::Backoff {
                    delay: 300,
                    attempt: 2
                }
            ]
        );
        assert_eq!(m.phase, Phase::Backoff { at: NOW + 300 });
        let fx = m.step(Input::Timer(Slot::Restart), &c).unwrap();
        assert_eq!(fx, [Effect::Spawn { auto: true }]);
        let gave_up = AfterExit::GiveUp { attempts: 3 };
        let mut m = Machine {
            phase: Phase::Ending {
                gone: Gone {
                    main: true,
                    output: true,
                    rest: false,
                },
                kill_at: 9,
                killed: false,
            },
            building: false,
        };
        let fx = m.step(Input::TreeGone, &ctx(gave_up)).unwrap();
        assert!(fx.contains(&Effect::GaveUp { attempts: 3 }));
        assert_eq!(
            m.phase,
            Phase::Down {
                rest: Rest::Errored
            }
        );
    }

    #[test]
    fn kept_leftovers_do_not_hold_the_end_back() {
        let mut m = Machine {
            phase: Phase::Running {
                gone: Gone {
                    output: true,
                    ..Gone::default()
                },
            },
            building: false,
        };
        let mut c = ctx(AfterExit::Stay);
        c.keep_leftovers = true;
        let fx = m.step(Input::Reaped, &c).unwrap();
        assert_eq!(fx[0], Effect::KeepLeftovers);
        assert!(fx.contains(&Effect::Report(End::Exited)));
        assert_eq!(m.phase, Phase::Down { rest: Rest::Exited });
    }

    #[test]
    fn the_earliest_kill_deadline_wins() {
        let mut m = Machine {
            phase: Phase::Running {
                gone: Gone::default(),
            },
            building: false,
        };
        let mut c = ctx(AfterExit::Stay);
        m.step(
            Input::Stop {
                timeout: Some(30_000),
            },
            &c,
        )
        .unwrap();
        c.now += 2_000;
        let fx = m
            .step(
                Input::Stop {
                    timeout: Some(1_000),
                },
                &c,
            )
            .unwrap();
        assert_eq!(fx, [Effect::Arm(Slot::Kill, NOW + 3_000)]);
        // A later deadline changes nothing.
        let fx = m
            .step(
                Input::Stop {
                    timeout: Some(60_000),
                },
                &c,
            )
            .unwrap();
        assert_eq!(fx, []);
        assert!(matches!(m.phase, Phase::Stopping { kill_at, .. } if kill_at == NOW + 3_000));
    }

    #[test]
    fn rebasing_keeps_what_is_left_of_each_deadline() {
        let m = Machine {
            phase: Phase::Stopping {
                gone: Gone::default(),
                kill_at: 7_000,
                killed: false,
            },
            building: true,
        };
        // Written out at 5 s: 2 s left; read back on a clock at 100 ms: due at 2.1 s.
        let out = m.rebased(5_000, 0);
        assert!(matches!(out.phase, Phase::Stopping { kill_at: 2_000, .. }));
        let back = out.rebased(0, 100);
        assert!(matches!(back.phase, Phase::Stopping { kill_at: 2_100, .. }));
        assert!(back.building);
        // An overdue deadline is due at once, never in the past of the new clock.
        let late = Machine {
            phase: Phase::Backoff { at: 10 },
            building: false,
        };
        assert_eq!(late.rebased(50, 0).phase, Phase::Backoff { at: 0 });
        // A machine's text form reads back as the same machine.
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Machine>(&text).unwrap(), m);
    }

    #[test]
    fn a_stop_with_no_run_ends_kept_leftovers() {
        let mut c = ctx(AfterExit::Stay);
        c.has_leftovers = true;
        let mut m = Machine {
            phase: Phase::Down { rest: Rest::Exited },
            building: false,
        };
        let fx = m.step(Input::Stop { timeout: None }, &c).unwrap();
        assert_eq!(
            fx,
            [
                Effect::Arm(Slot::Kill, NOW + 5_000),
                Effect::Signal(Whom::Leftovers, Sig::Stop)
            ]
        );
        let fx = m.step(Input::TreeGone, &c).unwrap();
        assert!(fx.contains(&Effect::Report(End::Stopped { killed: false })));
        assert_eq!(
            m.phase,
            Phase::Down {
                rest: Rest::Stopped
            }
        );
        // Without leftovers there is nothing to stop.
        c.has_leftovers = false;
        assert_eq!(
            m.step(Input::Stop { timeout: None }, &c),
            Err(Refusal::NotRunning)
        );
    }

    /// From any state, once a stop was accepted, nothing but a user's start spawns again.
    #[test]
    fn a_users_stop_is_final() {
        let no_start: Vec<Input> = inputs()
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| *i != Input::Start)
            .collect();
        let restart = AfterExit::Restart {
            delay: 1,
            attempt: 1,
        };
        for building in [false, true] {
            for (pn, p) in phases() {
                let mut m = Machine { phase: p, building };
                if m.step(Input::Stop { timeout: None }, &ctx(restart))
                    .is_err()
                {
                    continue;
                }
                // Every sequence of up to three further inputs.
                let mut frontier = vec![m];
                for _ in 0..3 {
                    let mut next = Vec::new();
                    for s in &frontier {
                        for &i in &no_start {
                            let mut t = *s;
                            if let Ok(fx) = t.step(i, &ctx(restart)) {
                                assert!(
                                    !fx.iter().any(|e| matches!(
                                        e,
                                        Effect::Spawn { .. } | Effect::Arm(Slot::Restart, _)
                                    )),
                                    "{pn}: {i:?} after a stop gave {fx:?}"
                                );
                                next.push(t);
                            }
                        }
                    }
                    frontier = next;
                }
            }
        }
    }

    /// An end is reported exactly when an ending or stopping run comes to rest.
    #[test]
    fn ends_are_reported_once() {
        for after in [
            AfterExit::Stay,
            AfterExit::GiveUp { attempts: 1 },
            AfterExit::Restart {
                delay: 5,
                attempt: 1,
            },
        ] {
            for building in [false, true] {
                for (_, p) in phases() {
                    for (_, i) in inputs() {
                        let mut m = Machine { phase: p, building };
                        let Ok(fx) = m.step(i, &ctx(after)) else {
                            continue;
                        };
                        let reports = fx.iter().filter(|e| matches!(e, Effect::Report(_))).count();
                        let was_ending = matches!(p, Phase::Ending { .. } | Phase::Stopping { .. });
                        let rests = matches!(m.phase, Phase::Down { .. } | Phase::Backoff { .. });
                        let ended = (was_ending || matches!(p, Phase::Running { .. })) && rests;
                        assert_eq!(reports, usize::from(ended), "{p:?} {i:?} -> {fx:?}");
                    }
                }
            }
        }
    }
}
