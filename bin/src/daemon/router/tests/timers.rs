//! What time drives: the Graceful Restart helper, max-prefix, tunnel
//! liveness, first handshakes, repairs and their back-off.

use super::*;

#[test]
fn graceful_restart_helper_keeps_routes_until_the_restart_time_runs_out() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, Some(gr(120))));
    r.handle(t0, announce(id, &["10.2.0.0/24"]));
    let t1 = t0 + Duration::from_secs(5);
    let mut out = r.handle(
        t1,
        Input::Session(id, Event::Down(DownReason::ConnectionClosed)),
    );
    while r.sweep_pending() {
        out.extend(r.handle(t1, Input::Sweep));
    }
    assert!(
        fib(&out).1.is_empty(),
        "kept, stale, while the peer restarts"
    );
    let deletes = |a: &Action| matches!(a, Action::Fib(ops) if ops.iter().any(|op| op.is_delete()));
    let (at, out) = run_until(&mut r, t1, Duration::from_secs(200), deletes).unwrap();
    assert_eq!(
        at,
        t1 + Duration::from_secs(120),
        "gone when the timer runs out"
    );
    assert_eq!(fib(&out).1, [net("10.2.0.0/24")]);
}

#[test]
fn max_prefix_resets_with_a_hold_down_or_only_warns() {
    let t0 = Instant::now();
    for (setting, resets) in [
        (
            "    max_prefix: { limit: 2, action: restart, restart_after: 30 }\n",
            true,
        ),
        ("    max_prefix: { limit: 2, action: warn }\n", false),
        ("    max_prefix: 2\n", true),
    ] {
        let (mut r, id) = running(setting, t0);
        r.handle(t0, established(id, None));
        let out = r.handle(t0, announce(id, &["10.2.0.0/24", "10.2.1.0/24"]));
        assert!(commands(&out, id).is_empty(), "at the limit is fine");
        let out = r.handle(t0, announce(id, &["10.2.2.0/24"]));
        let c = commands(&out, id);
        match resets {
            true => {
                let [Command::ResetHoldDown(n, hold)] = c[..] else {
                    panic!("{c:?}")
                };
                assert_eq!(
                    n.cease_subcode(),
                    Some(CeaseSubcode::MaximumPrefixesReached)
                );
                // `restart_after`, 60 s by default.
                let after = if setting.contains("30") { 30 } else { 60 };
                assert_eq!(*hold, Duration::from_secs(after));
            }
            false => assert!(c.is_empty()),
        }
    }
}
#[test]
fn liveness_resets_a_session_whose_tunnel_went_quiet_for_dead_after() {
    let t0 = Instant::now();
    let (mut r, id) = running("      persistent_keepalive: 1\n      dead_after: 3\n", t0);
    r.handle(t0, established(id, None));
    let mut t = t0;
    let mut rx = 0;
    let mut last_growth = t0;
    let mut reset = None;
    // Traffic for 2 s, then silence.
    while t < t0 + Duration::from_secs(10) && reset.is_none() {
        t = r.poll_timeout().unwrap();
        let out = r.handle(t, Input::Timeout);
        if reads(&out, Purpose::Liveness) == 0 {
            continue;
        }
        if t < t0 + Duration::from_secs(2) {
            rx += 100;
            last_growth = t;
        }
        let seen = Observation::Counters {
            rx_bytes: rx,
            handshake_age: Some(Duration::from_secs(1)),
        };
        let out = r.handle(t, liveness_read(id, seen));
        if let Some(c) = commands(&out, id).first() {
            assert_eq!(counts(&out), [&Count::TunnelDead { peer: id }]);
            reset = Some((t, reset_subcode(c)));
        }
    }
    let (at, subcode) = reset.expect("reset");
    assert_eq!(subcode, Some(CeaseSubcode::AdministrativeReset));
    // dead_after of silence, seen within one poll (a thirtieth of it).
    let silent = at - last_growth;
    assert!(
        silent >= Duration::from_secs(3) && silent <= Duration::from_millis(3100),
        "{silent:?}"
    );
}

#[test]
fn a_session_waiting_for_its_first_handshake_connects_when_it_comes_or_kicks_it() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let read = |a: &Action| {
        matches!(
            a,
            Action::ReadTunnel {
                purpose: Purpose::Handshake,
                ..
            }
        )
    };
    let (t, _) = run_until(&mut r, t0, Duration::from_secs(1), read).unwrap();
    assert_eq!(
        t - t0,
        Duration::from_millis(500),
        "first looked at after 500 ms"
    );
    // No handshake yet: restarted, and the session connects now.
    let none = Observation::Counters {
        rx_bytes: 0,
        handshake_age: None,
    };
    let read = Input::TunnelRead {
        peer: id,
        purpose: Purpose::Handshake,
        seen: none,
        endpoint: None,
    };
    let out = r.handle(t, read);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::RestartHandshake { .. }))
    );
    assert!(matches!(commands(&out, id)[..], [Command::ConnectNow]));
    // Then one completes: connect now, and the watch ends.
    let done = Observation::Counters {
        rx_bytes: 92,
        handshake_age: Some(Duration::ZERO),
    };
    let t = t + Duration::from_secs(1);
    let read = Input::TunnelRead {
        peer: id,
        purpose: Purpose::Handshake,
        seen: done,
        endpoint: None,
    };
    let out = r.handle(t, read);
    assert!(matches!(commands(&out, id)[..], [Command::ConnectNow]));
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::RestartHandshake { .. }))
    );
}

#[test]
fn a_loopback_deleted_again_and_again_is_restored_with_growing_delays() {
    let t0 = Instant::now();
    let (mut r, _) = running("", t0);
    let mut t = t0;
    let mut waits = Vec::new();
    for _ in 0..5 {
        r.handle(
            t,
            Input::Kernel(KernelEvent::LinkChanged {
                ifindex: 1,
                name: "lo".into(),
                up: true,
            }),
        );
        r.handle(t, lo_removed());
        let restore = |a: &Action| matches!(a, Action::RestoreLoopbacks(_));
        let (due, out) = run_until(&mut r, t, Duration::from_secs(60), restore).unwrap();
        let Some(Action::RestoreLoopbacks(nets)) = out.iter().find(|a| restore(a)) else {
            unreachable!()
        };
        let wanted = nets.clone();
        let result = Ok(wanted.clone());
        let out = r.handle(due, Input::Restored(Restored::Loopbacks { wanted, result }));
        assert_eq!(
            counts(&out),
            [&Count::Repaired {
                kind: RepairKind::Loopback,
                n: 1
            }]
        );
        waits.push(due - t);
        t = due;
    }
    assert!(
        waits[0] <= Duration::from_millis(100),
        "the first at once: {waits:?}"
    );
    assert!(waits[4] > waits[1], "then backing off: {waits:?}");
}

#[test]
fn our_route_deleted_behind_our_back_is_put_back() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    r.handle(t0, announce(id, &["10.2.0.0/24"]));
    let installed = r
        .rib()
        .loc_rib()
        .get(&net("10.2.0.0/24"))
        .unwrap()
        .installed()
        .cloned();
    assert!(installed.is_some());
    let gone = KernelRoute {
        metric: 20,
        ..KernelRoute::unicast(
            net("10.2.0.0/24"),
            Some("2.2.2.2".parse().unwrap()),
            test_rib::WG_S2,
            rib::kernel::RTPROT_BGP,
            254,
        )
    };
    r.handle(t0, Input::Kernel(KernelEvent::OwnRouteRemoved(gone)));
    let fib_op = |a: &Action| matches!(a, Action::Fib(_));
    let (_, out) = run_until(&mut r, t0, Duration::from_secs(1), fib_op).unwrap();
    assert_eq!(fib(&out).0, [net("10.2.0.0/24")]);
    assert!(counts(&out).contains(&&Count::Repaired {
        kind: RepairKind::Route,
        n: 1
    }));
}

#[test]
fn liveness_resets_at_once_when_the_tunnel_is_gone_or_its_handshake_too_old() {
    let old = Some(Duration::from_secs(181));
    for seen in [
        Observation::Missing("wg-s2 has no peer".into()),
        Observation::Counters {
            rx_bytes: 5,
            handshake_age: old,
        },
    ] {
        let t0 = Instant::now();
        let (mut r, id) = running("      persistent_keepalive: 1\n      dead_after: 3\n", t0);
        r.handle(t0, established(id, None));
        let read = |a: &Action| {
            matches!(
                a,
                Action::ReadTunnel {
                    purpose: Purpose::Liveness,
                    ..
                }
            )
        };
        let (t, _) = run_until(&mut r, t0, Duration::from_secs(1), read).unwrap();
        let out = r.handle(t, liveness_read(id, seen));
        let subcode = commands(&out, id).first().and_then(|c| reset_subcode(c));
        assert_eq!(subcode, Some(CeaseSubcode::AdministrativeReset));
    }
}

/// What a liveness read of `id`'s tunnel saw.
fn liveness_read(id: PeerId, seen: Observation) -> Input {
    Input::TunnelRead {
        peer: id,
        purpose: Purpose::Liveness,
        seen,
        endpoint: None,
    }
}
