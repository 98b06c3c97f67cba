//! Limits that protect the box (issue 6): refusal of the default route and
//! of bogons unless an import rule names them, and `max_adj_rib_in_mib`
//! against a peer that floods prefixes.
//!
//! ```text
//!   +------+ 10.67.1.1       10.67.1.2 +--------+
//!   |  A   |---------------------------| sender |  raw UPDATEs (rawpeer) or a
//!   +------+  AS 65001                 +--------+  pre-encoded flood (bench speaker)
//!   wgbgpd                               AS 65002
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use integration::bench::speaker::{Session, SpeakerConfig};
use integration::bench::table::{TableSpec, generate};
use integration::metrics::{scrape, value};
use integration::rawpeer::bytes_of::{hex, prefix, update};
use integration::{Netns, Pair, RawPeer, Wgbgpd, require_root, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const METRICS: &str = "127.0.0.1:9179";

fn lab() -> (Netns, Netns) {
    let Pair { a, b, .. } = Pair::new("g", "eth1", "10.67.1");
    (a, b)
}

fn config(peer_extra: &str) -> String {
    format!(
        r#"router_id: 10.67.0.1
asn: 65001
loopback: [10.67.0.1/32]
metrics: {{ listen: "{METRICS}" }}
reject_bogons: true
peers:
  s:
    asn: 65002
    address: 10.67.1.2
    local_address: 10.67.1.1
    passive: true
    import: [ours, all]
    export: [nothing]
{peer_extra}
prefix_sets:
  lab: ["10.0.0.0/8 le 32"]
policies:
  ours:
    - match: {{ prefix_set: lab }}
      action: accept
  all:
    - action: accept
  nothing:
    - action: reject
"#
    )
}

/// ORIGIN IGP, AS_PATH [65002], NEXT_HOP 10.67.1.2.
const ATTRS: &str = "400101 00 400206 0201 0000fdea 400304 0a430102";

/// Polls `f` until it gives something, failing after `TIMEOUT`.
fn until<V>(what: &str, mut f: impl FnMut() -> Option<V>) -> V {
    wait_for(TIMEOUT, POLL, what, || {
        f().ok_or_else(|| "not yet".to_string())
    })
}

fn routes(ns: &Netns) -> Vec<String> {
    let mut v: Vec<String> = ns
        .routes("proto bgp")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    v.sort();
    v
}

#[test]
fn default_route_and_bogons_are_refused_unless_a_rule_names_them() {
    require_root();
    let (a, s) = lab();
    let d = Wgbgpd::start(&a, &config(""));
    let mut peer = RawPeer::connect(&s, "10.67.1.1:179".parse().unwrap(), TIMEOUT);
    peer.open_session(RawPeer::open(65002, Ipv4Addr::new(10, 67, 1, 2), 90));
    let mut nlri = Vec::new();
    for p in [
        "0.0.0.0/0",
        "10.1.0.0/16",
        "192.168.1.0/24",
        "198.18.7.0/24",
        "8.8.8.0/24",
    ] {
        nlri.extend(prefix(p));
    }
    peer.send(&update(&[], &hex(ATTRS), &nlri));
    // The catch-all accept lets in 8.8.8.0/24; `ours` names 10/8 explicitly.
    let want = vec!["10.1.0.0/16".to_string(), "8.8.8.0/24".to_string()];
    until("the accepted routes in the kernel", || {
        (routes(&a) == want).then_some(())
    });
    let m = scrape(&a, METRICS);
    let series = |reason: &str| {
        format!(
            "wgbgp_routes_refused_total{{name=\"s\",peer=\"10.67.1.2\",peer_as=\"65002\",reason=\"{reason}\"}}"
        )
    };
    // The counters are brought up to date every 2 s.
    until("refusal counters", || {
        let m = scrape(&a, METRICS);
        (value(&m, &series("bogon")) == Some(2.0)
            && value(&m, &series("default_route")) == Some(1.0))
        .then_some(())
    });
    // Again: still refused, counted, but logged only once per reason.
    peer.send(&update(&[], &hex(ATTRS), &nlri));
    until("refusal counters", || {
        let m = scrape(&a, METRICS);
        (value(&m, &series("bogon")) == Some(4.0)).then_some(())
    });
    assert_eq!(routes(&a), want, "{m}");
    let log = d.log_text();
    assert_eq!(log.matches("refusing bogon routes").count(), 1, "{log}");
    assert_eq!(
        log.matches("refusing default_route routes").count(),
        1,
        "{log}"
    );
    peer.assert_no_notification(Duration::from_millis(500));
}

fn flood(s: &Netns, v4: usize) -> (Session, Vec<u8>) {
    let spec = TableSpec {
        v4,
        v6: 0,
        seed: 7,
        sender_asn: 65002,
        per_update: 3,
        next_hop_v4: Ipv4Addr::new(10, 67, 1, 2),
        next_hop_v6: "fd00::2".parse().unwrap(),
    };
    let table = generate(&spec);
    let cfg = SpeakerConfig {
        asn: 65002,
        router_id: Ipv4Addr::new(10, 67, 1, 2),
        peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 67, 1, 1)), 179),
        local: Some(IpAddr::V4(Ipv4Addr::new(10, 67, 1, 2))),
        hold_time: 90,
    };
    let session = s
        .in_ns(|| Session::connect(&cfg, TIMEOUT))
        .unwrap_or_else(|e| panic!("flood session: {e}"));
    (session, table.stream)
}

#[test]
fn a_peer_over_max_adj_rib_in_mib_is_closed_or_warned_about() {
    require_root();
    let (a, s) = lab();
    // 40,000 prefixes, a new attribute set every 3: about 6 MiB estimated.
    let d = Wgbgpd::start(
        &a,
        &config("    max_adj_rib_in_mib: { limit: 2, restart_after: 600 }"),
    );
    let (session, stream) = flood(&s, 40_000);
    // The daemon may close the connection while we still write.
    let _ = session.send_stream(&stream);
    let failure = until("the session closed by the daemon", || session.failure());
    assert!(
        failure.contains("(6/8)"),
        "Cease/Out of Resources expected: {failure}"
    );
    assert!(
        d.log_text()
            .contains("max_adj_rib_in_mib exceeded: closing the session")
    );
    // Its routes are gone with the session (within the 2 MiB, not all 40,000).
    until("the flooded routes withdrawn", || {
        routes(&a).is_empty().then_some(())
    });
    drop(session);
    drop(d);

    // With `action: warn` the session and the routes stay.
    let d = Wgbgpd::start(
        &a,
        &config("    max_adj_rib_in_mib: { limit: 2, action: warn }"),
    );
    let (session, stream) = flood(&s, 40_000);
    session.send_stream(&stream).expect("the flood is taken");
    until("all 40,000 routes in the kernel", || {
        (routes(&a).len() == 40_000).then_some(())
    });
    let bytes = until("the memory estimate", || {
        value(
            &scrape(&a, METRICS),
            "wgbgp_adj_rib_in_bytes{name=\"s\",peer=\"10.67.1.2\",peer_as=\"65002\"}",
        )
        .filter(|b| *b > 2.0 * 1024.0 * 1024.0)
    });
    eprintln!(
        "40,000 flooded routes: Adj-RIB-In estimate {:.1} MiB",
        bytes / 1048576.0
    );
    assert!(bytes < 64.0 * 1024.0 * 1024.0, "{bytes}");
    assert!(session.failure().is_none(), "{:?}", session.failure());
    let log = d.log_text();
    assert_eq!(
        log.matches("max_adj_rib_in_mib exceeded (warn only)")
            .count(),
        1,
        "{log}"
    );
}
