//! The router driven through `handle(now, Input)` with a fake clock: one
//! test per behaviour the README promises for reload, the Graceful Restart
//! helper, max-prefix, liveness, first handshakes, tunnel retries, repairs
//! and session supervision. No socket, no netlink, no task.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp::driver::{Command, Endpoints, Event};
use bgp::fsm::{DownReason, Negotiated, PeerGracefulRestart, State};
use bgp::wire::{Afi, AsPath, CeaseSubcode, Open, PathAttributes, Safi, Update};
use ipnet::{IpNet, Ipv4Net};
use rib::kernel::{FibOp, KernelEvent, KernelRoute, RouteKind};

use super::*;
use crate::config::Config;
use crate::daemon::test_rib;

const KEY: &str = "HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=";

/// Our config: AS 65500, loopback 1.1.1.1, peer `s2` (AS 65501, loopback
/// 2.2.2.2) over tunnel `wg-s2`, with `extra` lines under the peer.
fn yaml(extra: &str) -> String {
    format!(
        r#"
router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32]
announce: [198.19.0.1/32]
peers:
  s2:
    asn: 65501
    address: 2.2.2.2
    import: [all]
    export: [all]
    wireguard:
      public_key: {KEY}
      interface: wg-s2
      endpoint: 192.0.2.2:51820
{extra}
policies:
  all:
    - action: accept
"#
    )
}

fn config(extra: &str) -> Config {
    Config::from_str(&yaml(extra), "t.yaml").unwrap()
}

/// A router on `cfg`, started at `t0`, its kernel view holding `wg-s2` and
/// the host route to 2.2.2.2 through it.
fn start(cfg: Config, t0: Instant) -> (Router, Vec<Action>) {
    let mut r = Router::new(Arc::new(cfg), test_rib::rib(), Restart::default());
    let out = r.handle(t0, Input::Start);
    (r, out)
}

/// Started, s2's tunnel up: s2's id.
fn running(extra: &str, t0: Instant) -> (Router, PeerId) {
    let (mut r, _) = start(config(extra), t0);
    let id = r.peer_id("s2").unwrap();
    r.handle(t0, tunnel_ok());
    (r, id)
}

fn tunnel_ok() -> Input {
    Input::TunnelUp {
        peer: 0,
        result: Ok(Some(test_rib::WG_S2)),
    }
}

fn negotiated(gr: Option<PeerGracefulRestart>) -> Negotiated {
    Negotiated {
        remote_as: 65501,
        remote_id: Ipv4Addr::new(2, 2, 2, 2),
        hold_time: 9,
        keepalive: 3,
        four_octet_as: true,
        extended_message: false,
        route_refresh: true,
        enhanced_route_refresh: false,
        extended_next_hop: false,
        families: vec![(Afi::Ipv4, Safi::Unicast)],
        remote_hostname: None,
        graceful_restart: gr,
        remote_open: Open {
            version: 4,
            my_as: 65501,
            hold_time: 9,
            bgp_id: Ipv4Addr::new(2, 2, 2, 2),
            capabilities: vec![],
        },
    }
}

fn established(id: PeerId, gr: Option<PeerGracefulRestart>) -> Input {
    Input::Session(
        id,
        Event::Established {
            negotiated: negotiated(gr),
            connection: Endpoints {
                local: "1.1.1.1:40000".parse().unwrap(),
                remote: "2.2.2.2:179".parse().unwrap(),
            },
        },
    )
}

fn announce(id: PeerId, prefixes: &[&str]) -> Input {
    Input::Session(
        id,
        Event::Update(Update {
            attributes: Some(PathAttributes {
                as_path: AsPath::from_sequence([65501]),
                ..Default::default()
            }),
            next_hop: Some("2.2.2.2".parse().unwrap()),
            nlri: prefixes
                .iter()
                .map(|p| p.parse::<Ipv4Net>().unwrap())
                .collect(),
            ..Default::default()
        }),
    )
}

fn net(p: &str) -> IpNet {
    p.parse().unwrap()
}

/// The prefixes the actions install and delete.
fn fib(out: &[Action]) -> (Vec<IpNet>, Vec<IpNet>) {
    let ops = out.iter().flat_map(|a| match a {
        Action::Fib(ops) => ops.as_slice(),
        _ => &[],
    });
    let (del, rep): (Vec<&FibOp>, Vec<&FibOp>) = ops.partition(|op| op.is_delete());
    let p = |v: Vec<&FibOp>| v.iter().map(|op| op.prefix()).collect();
    (p(rep), p(del))
}

/// The commands the actions send to session `id`.
fn commands(out: &[Action], id: PeerId) -> Vec<&Command> {
    (out.iter())
        .filter_map(|a| match a {
            Action::Session(p, c) if *p == id => Some(c),
            _ => None,
        })
        .collect()
}

/// Reloads `r` with `src` at `t`.
fn reload(r: &mut Router, t: Instant, src: &str) -> Vec<Action> {
    let config = Config::from_str(src, "t.yaml").unwrap();
    let plan = crate::plan::plan(r.config(), &config);
    r.handle(
        t,
        Input::Reload {
            config,
            plan,
            key_changed: false,
        },
    )
}

/// The peer the actions remove, with the Cease subcode and whether its
/// tunnel stays.
fn removed(out: &[Action]) -> Option<(PeerId, Option<CeaseSubcode>, bool)> {
    out.iter().find_map(|a| match a {
        Action::Remove {
            peer,
            notification,
            keep_tunnel,
            ..
        } => Some((*peer, notification.cease_subcode(), *keep_tunnel)),
        _ => None,
    })
}

/// Lets time pass from `t`, one due [`Input::Timeout`] after another,
/// until one returns what `want` looks for (at most `limit` later).
fn run_until(
    r: &mut Router,
    t: Instant,
    limit: Duration,
    want: impl Fn(&Action) -> bool,
) -> Option<(Instant, Vec<Action>)> {
    loop {
        let at = r.poll_timeout()?;
        if at > t + limit {
            return None;
        }
        let out = r.handle(at, Input::Timeout);
        if out.iter().any(&want) {
            return Some((at, out));
        }
    }
}

fn reset_subcode(c: &Command) -> Option<CeaseSubcode> {
    match c {
        Command::Reset(n) | Command::ResetHoldDown(n, _) => n.cease_subcode(),
        _ => None,
    }
}

fn counts(out: &[Action]) -> Vec<&Count> {
    (out.iter())
        .filter_map(|a| match a {
            Action::Count(c) => Some(c),
            _ => None,
        })
        .collect()
}

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
fn reload_applies_by_difference() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    // Shut down, and a new plain peer.
    let s3 = "    shutdown: true\n  s3:\n    asn: 65503\n    address: 10.0.3.3\n    import: [all]\n    export: [all]\n";
    let out = reload(&mut r, t0, &yaml(s3));
    assert!(
        matches!(commands(&out, id)[..], [Command::Stop { .. }]),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|a| matches!(a, Action::Remove { .. })),
        "s2 keeps its session"
    );
    let s3 = r.peer_id("s3").unwrap();
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Spawn { peer, .. } if *peer == s3))
    );
    assert!(matches!(out.last(), Some(Action::Reloaded(Ok(())))));

    // s2 removed: Cease/Peer De-configured, its tunnel goes too.
    let out = reload(&mut r, t0, &yaml("").replace("  s2:", "  s9:"));
    assert_eq!(
        removed(&out),
        Some((id, Some(CeaseSubcode::PeerDeconfigured), false))
    );
    assert!(r.peer_id("s2").is_none() && r.peer_id("s9").is_some());
}

#[test]
fn reload_resets_a_session_whose_identity_changed_keeping_its_tunnel() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = reload(&mut r, t0, &yaml("").replace("asn: 65501", "asn: 65511"));
    let subcode = Some(CeaseSubcode::OtherConfigurationChange);
    assert_eq!(removed(&out), Some((id, subcode, true)));
    let new_id = r.peer_id("s2").unwrap();
    assert_ne!(
        new_id, id,
        "a fresh id: the old session's events cannot reach it"
    );
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Spawn { peer, .. } if *peer == new_id))
    );
}

#[test]
fn reload_that_needs_a_restart_changes_nothing() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = reload(&mut r, t0, &yaml("").replace("asn: 65500", "asn: 65599"));
    assert!(matches!(out[..], [Action::Reloaded(Err(_))]));
    assert_eq!(r.config().asn, 65500);
    assert_eq!(r.peer_id("s2"), Some(id));
}

#[test]
fn reload_announces_and_withdraws_our_prefixes() {
    let t0 = Instant::now();
    let (mut r, _) = running("", t0);
    let new = yaml("").replace("announce: [198.19.0.1/32]", "announce: [198.19.0.2/32]");
    reload(&mut r, t0, &new);
    let locals: Vec<IpNet> = r.rib().loc_rib().iter().map(|(p, _)| p).collect();
    assert_eq!(locals, [net("198.19.0.2/32")]);
}

fn gr(secs: u16) -> PeerGracefulRestart {
    PeerGracefulRestart {
        restart_state: false,
        restart_time: secs,
        families: vec![(Afi::Ipv4, Safi::Unicast, true)],
        notification: true,
    }
}

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
                assert_eq!(*hold, Duration::from_secs(30));
            }
            false => assert!(c.is_empty()),
        }
    }
}

/// The ReadTunnel actions of `out` for `purpose`.
fn reads(out: &[Action], purpose: Purpose) -> usize {
    (out.iter())
        .filter(|a| matches!(a, Action::ReadTunnel { purpose: p, .. } if *p == purpose))
        .count()
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
        let read = Input::TunnelRead {
            peer: id,
            purpose: Purpose::Liveness,
            seen,
            endpoint: None,
        };
        let out = r.handle(t, read);
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

fn lo_removed() -> Input {
    Input::Kernel(KernelEvent::AddressRemoved {
        ifindex: 1,
        addr: "1.1.1.1".parse().unwrap(),
    })
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
        .installed
        .clone();
    assert!(installed.is_some());
    let gone = KernelRoute {
        prefix: net("10.2.0.0/24"),
        gateway: Some("2.2.2.2".parse().unwrap()),
        oif: Some(test_rib::WG_S2),
        protocol: rib::kernel::RTPROT_BGP,
        kind: RouteKind::Unicast,
        table: 254,
        metric: 20,
        multipath: vec![],
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
