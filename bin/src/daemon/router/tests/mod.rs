//! The router driven through `handle(now, Input)` with a fake clock: one
//! test per behaviour the README promises for reload, the Graceful Restart
//! helper, max-prefix, liveness, first handshakes, tunnel retries, repairs
//! and session supervision. No socket, no netlink, no task.
//!
//! Here the fixture (our config and peer `s2`, session events, what the
//! actions did); the tests per concern in the files below.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp::driver::{Command, Endpoints, Event};
use bgp::fsm::{DownReason, Negotiated, PeerGracefulRestart, State};
use bgp::wire::{Afi, CeaseSubcode, Open, Safi};
use ipnet::IpNet;
use rib::kernel::{FibOp, KernelEvent, KernelRoute};

use super::*;
use crate::config::Config;
use crate::daemon::test_rib;

mod lifecycle;
mod reload;
mod timers;

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
    start_with(cfg, test_rib::rib(), t0)
}

/// `start` with this RIB.
fn start_with(cfg: Config, rib: rib::table::Rib, t0: Instant) -> (Router, Vec<Action>) {
    let mut r = Router::new(Arc::new(cfg), rib, Restart::default());
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
    Input::Session(id, Event::Update(test_rib::update(prefixes)))
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

fn gr(secs: u16) -> PeerGracefulRestart {
    PeerGracefulRestart {
        restart_state: false,
        restart_time: secs,
        families: vec![(Afi::Ipv4, Safi::Unicast, true)],
        notification: true,
    }
}

/// The ReadTunnel actions of `out` for `purpose`.
fn reads(out: &[Action], purpose: Purpose) -> usize {
    (out.iter())
        .filter(|a| matches!(a, Action::ReadTunnel { purpose: p, .. } if *p == purpose))
        .count()
}

fn lo_removed() -> Input {
    Input::Kernel(KernelEvent::AddressRemoved {
        ifindex: 1,
        addr: "1.1.1.1".parse().unwrap(),
    })
}
