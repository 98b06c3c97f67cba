//! One tunnel that cannot be made takes only its own peer down (issue 17).
//!
//! A has two tunnel peers: `p` (wgbgpd in B) and `bad`, whose interface
//! name is taken by a veth in A before wgbgpd starts. wgbgpd must start,
//! bring `p` up, show `bad` down with the reason, count the failures, and
//! make `bad`'s tunnel once the veth is gone, without a restart.
//!
//! ```text
//!   +------------------------+  veth 10.9.8.1 -- 10.9.8.2  +---------------+
//!   | A  wgbgpd              |=============================| B  wgbgpd     |
//!   | p: tunnel to B         |   wg (wireguard-go)         | 198.51.100/24 |
//!   | bad: name taken (veth) |                             +---------------+
//!   +------------------------+
//! ```

use std::time::Duration;

use integration::{POLL, Peer, Tunnel, WgKey, Wgbgpd, WgbgpdPair, ifname, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);

/// `show tunnels` entry of interface `iface`.
fn tunnel<'a>(tunnels: &'a Value, iface: &str) -> &'a Value {
    (tunnels.as_array().into_iter().flatten())
        .find(|t| t["interface"] == iface)
        .unwrap_or_else(|| panic!("no tunnel {iface} in {tunnels:#}"))
}

#[test]
fn a_tunnel_that_cannot_be_made_takes_only_its_peer_down_and_recovers() {
    require_root();
    let pair = WgbgpdPair::new("ti", "10.9.8");
    let a_ns = &pair.ns.a;
    let bad_if = ifname("tix");
    let obstacle_peer = ifname("tiy");
    a_ns.exec(&[
        "ip",
        "link",
        "add",
        &bad_if,
        "type",
        "veth",
        "peer",
        "name",
        &obstacle_peer,
    ]);

    let mut b = Wgbgpd::start(
        &pair.ns.b,
        &pair.b_config().announce("198.51.100.0/24").render(),
    );
    let nobody = WgKey::generate();
    let a_yaml = pair
        .a_config()
        .metrics("127.0.0.1:9179")
        .peer(
            Peer::new("bad", 65503, "3.3.3.3")
                .tunnel(Tunnel::new(&nobody.public, &bad_if))
                .policies("all", "all"),
        )
        .render();
    let mut a = Wgbgpd::start(a_ns, &a_yaml);

    // The good peer converges while the bad one is retried.
    a.wait_established(a_ns, "2.2.2.2", T);
    a_ns.wait_route("198.51.100.0/24", "proto bgp", T);
    let shown = a.cli_json(a_ns, &["show", "tunnels"]);
    let t = tunnel(&shown, &bad_if);
    assert_eq!(t["up"], false, "{t:#}");
    let error = t["error"].as_str().unwrap_or_default();
    assert!(error.contains("not up after"), "{t:#}");
    assert_eq!(a.peer_state(a_ns, "3.3.3.3").as_deref(), Some("Idle"));
    let nb = a.cli_json(a_ns, &["show", "bgp", "neighbors", "3.3.3.3"]);
    assert!(
        nb.to_string().contains("tunnel:"),
        "the reason in the neighbors view: {nb:#}"
    );
    let metrics = integration::metrics::scrape(a_ns, "127.0.0.1:9179");
    let failures = (metrics.lines())
        .filter(|l| l.starts_with("wgbgp_tunnel_failures_total") && l.contains("name=\"bad\""))
        .find_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(failures.is_some_and(|n| n >= 1.0), "{metrics}");
    a.check_alive();
    b.check_alive();

    // The obstacle goes: the next attempt makes the tunnel and starts the
    // session (nobody answers at 3.3.3.3, so it only tries).
    a_ns.exec(&["ip", "link", "del", &bad_if]);
    wait_for(
        Duration::from_secs(70),
        POLL,
        "bad's tunnel to come up",
        || {
            let shown = a.cli_json(a_ns, &["show", "tunnels"]);
            let t = tunnel(&shown, &bad_if).clone();
            let out = a_ns.try_exec(&["ip", "-d", "link", "show", &bad_if]);
            let kind = String::from_utf8_lossy(&out.stdout).into_owned();
            match (t.get("error"), kind.contains("tun")) {
                (None, true) => Ok(()),
                _ => Err(format!("{t:#}\n{kind}")),
            }
        },
    );
    wait_for(T, POLL, "bad's session to be started", || {
        match a.peer_state(a_ns, "3.3.3.3") {
            Some(s) if s != "Idle" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // The good session never went down.
    let nb = a.cli_json(a_ns, &["show", "bgp", "neighbors", "2.2.2.2"]);
    assert_eq!(nb["2.2.2.2"]["connectionsDropped"], 0, "{nb:#}");
    drop(a);
    drop(b);
}
