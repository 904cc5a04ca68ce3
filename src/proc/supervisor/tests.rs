//! The supervisor's tests: the golden table of every phase × input (`table.txt`, rewritten
//! with `WRANGLE_BLESS=1`) and the properties that must hold across it.

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
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/proc/supervisor/table.txt");
        std::fs::write(path, &got).unwrap();
        return;
    }
    let want = include_str!("table.txt");
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
