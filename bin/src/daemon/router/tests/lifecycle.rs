//! Peers coming and going: start, tunnels failing and retried, session
//! tasks failing, BFD, `clear`, paths opening.

use super::*;

#[test]
fn start_spawns_every_peer_and_its_session_starts_once_the_tunnel_is_up() {
    let t0 = Instant::now();
    let (mut r, out) = start(config(""), t0);
    let spawned: Vec<PeerId> = (out.iter())
        .filter_map(|a| match a {
            Action::Spawn { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(spawned, [0]);
    assert!(commands(&out, 0).is_empty(), "no session before its tunnel");
    let out = r.handle(t0, tunnel_ok());
    assert!(matches!(commands(&out, 0)[..], [Command::Start]));
}

#[test]
fn a_tunnel_that_fails_is_counted_shown_and_retried_with_back_off() {
    let t0 = Instant::now();
    let (mut r, _) = start(config(""), t0);
    let err = Input::TunnelUp {
        peer: 0,
        result: Err("interface name taken".into()),
    };
    let out = r.handle(t0, err);
    assert!(commands(&out, 0).is_empty(), "the session waits");
    assert_eq!(counts(&out), [&Count::TunnelFailure { peer: 0 }]);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::LastError { error: Some(e), .. }
        if e == "tunnel: interface name taken"))
    );
    // Nothing before the back-off is over; a retry when it is.
    let due = r.poll_timeout().expect("a retry is armed");
    assert!(due > t0);
    let out = r.handle(due, Input::Timeout);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::TunnelUp { peer: 0, .. }))
    );
    let out = r.handle(due, tunnel_ok());
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::LastError { error: None, .. }))
    );
    assert!(matches!(commands(&out, 0)[..], [Command::Start]));
    assert!(r.tunnel_failure(0).is_none());
}

#[test]
fn routes_learned_are_installed_and_withdrawn_when_the_session_task_fails() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    let out = r.handle(t0, announce(id, &["10.2.0.0/24"]));
    assert_eq!(fib(&out).0, [net("10.2.0.0/24")]);
    // A panicking task: the driver reports Down(TaskFailed), then TaskFailed.
    let down = Event::Down(DownReason::TaskFailed("panicked".into()));
    let mut out = r.handle(t0, Input::Session(id, down));
    while r.sweep_pending() {
        out.extend(r.handle(t0, Input::Sweep));
    }
    assert_eq!(
        fib(&out).1,
        [net("10.2.0.0/24")],
        "its routes leave the kernel"
    );
    let out = r.handle(t0, Input::Session(id, Event::TaskFailed("panicked".into())));
    assert_eq!(counts(&out), [&Count::SessionTaskFailed { peer: id }]);
}

#[test]
fn bfd_down_resets_the_session_but_admin_down_does_not() {
    use bgp::bfd::packet::State as Bfd;
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let admin = Input::Bfd {
        peer: id,
        from: Bfd::Up,
        to: Bfd::Down,
        remote: Bfd::AdminDown,
    };
    assert!(r.handle(t0, admin).is_empty());
    let down = Input::Bfd {
        peer: id,
        from: Bfd::Up,
        to: Bfd::Down,
        remote: Bfd::Down,
    };
    let out = r.handle(t0, down);
    assert_eq!(
        reset_subcode(commands(&out, id)[0]),
        Some(CeaseSubcode::BfdDown)
    );
}

#[test]
fn clear_names_peers_by_name_address_or_star() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = r.handle(
        t0,
        Input::Clear {
            which: "nobody".into(),
            soft: None,
        },
    );
    assert!(matches!(out[..], [Action::Cleared(Err(_))]));
    for which in ["s2", "2.2.2.2", "*"] {
        let out = r.handle(
            t0,
            Input::Clear {
                which: which.into(),
                soft: None,
            },
        );
        assert_eq!(
            reset_subcode(commands(&out, id)[0]),
            Some(CeaseSubcode::AdministrativeReset)
        );
    }
}

#[test]
fn a_new_path_to_a_down_peer_wakes_its_session() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(
        t0,
        Input::Session(
            id,
            Event::StateChange {
                from: State::Idle,
                to: State::Active,
            },
        ),
    );
    let link = Input::Kernel(KernelEvent::LinkChanged {
        ifindex: test_rib::WG_S2,
        name: "wg-s2".into(),
        up: true,
    });
    let out = r.handle(t0, link);
    assert!(matches!(commands(&out, id)[..], [Command::ConnectNow]));
}

#[test]
fn an_external_peer_is_held_to_the_as_its_open_named() {
    let t0 = Instant::now();
    let cfg = Config::from_str(&yaml("").replace("asn: 65501", "asn: external"), "t.yaml");
    let (mut r, _) = start(cfg.unwrap(), t0);
    r.handle(t0, tunnel_ok());
    // Its OPEN named AS 65501: its routes must start with it (RFC 4271 §6.3).
    r.handle(t0, established(0, None));
    let out = r.handle(t0, announce(0, &["10.2.0.0/24"]));
    assert_eq!(fib(&out).0, [net("10.2.0.0/24")]);
}

#[test]
fn a_dead_peers_fail_over_leaves_before_its_routes_are_worked_off() {
    let t0 = Instant::now();
    let (mut r, _) = start_with(config(""), test_rib::rib_with(true), t0);
    let id = r.peer_id("s2").unwrap();
    r.handle(t0, tunnel_ok());
    r.handle(t0, established(id, None));
    let out = r.handle(t0, announce(id, &["198.51.100.0/24", "198.51.101.0/24"]));
    assert_eq!(fib(&out).0.len(), 2);
    let out = r.handle(
        t0,
        Input::Session(id, Event::Down(DownReason::HoldTimerExpired)),
    );
    let dead: Vec<_> = (out.iter())
        .filter_map(|a| match a {
            Action::FailOver(dead) => Some(dead.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(dead.len(), 1, "{out:?}");
    assert!(dead[0].iter().all(|h| h.ifindex == test_rib::WG_S2));
    assert_eq!(fib(&out), (vec![], vec![]), "no route work yet");
    assert!(r.sweep_pending());
    // The next input works the withdrawal off first.
    let mut deleted = Vec::new();
    while r.sweep_pending() {
        deleted.extend(fib(&r.handle(t0, Input::Sweep)).1);
    }
    deleted.sort();
    assert_eq!(
        deleted,
        vec![net("198.51.100.0/24"), net("198.51.101.0/24")]
    );
    // Without backup paths, no fail-over and the same withdrawal.
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    r.handle(t0, announce(id, &["198.51.100.0/24"]));
    let out = r.handle(
        t0,
        Input::Session(id, Event::Down(DownReason::HoldTimerExpired)),
    );
    assert!(!out.iter().any(|a| matches!(a, Action::FailOver(_))));
}
