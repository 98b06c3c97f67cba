//! Tunnels across a restart, a key rotation and a roaming peer.
//!
//! ```text
//!   +-----------------+  veth 10.9.7.1 -- 10.9.7.2  +-----------------+
//!   | A  wgbgpd       |=============================| B  wgbgpd       |
//!   | lo 1.1.1.1      |   wg (wireguard-go)         | lo 2.2.2.2      |
//!   |                 |                             | 198.51.100.0/24 |
//!   +-----------------+                             +-----------------+
//! ```
//!
//! - `wireguard.keep_on_exit: true`: SIGTERM leaves A's interface, its
//!   wireguard-go and its peer as they were; the next start adopts them
//!   (same ifindex, same process) and the session comes back over them.
//! - Key rotation: a new key in A's `private_key_file` and `wgbgp reload`
//!   change the tunnel's public key in place (same ifindex); once B is
//!   given the new public key (its own reload) the session comes back.
//! - A's address on the link changes: B sees A's endpoint move and counts
//!   it in `wgbgp_tunnel_endpoint_changes_total`.

use std::time::Duration;

use integration::lab::wireguard_go_pids;
use integration::{
    Config, Leftovers, Netns, POLL, WgKey, Wgbgpd, WgbgpdPair, require_root, wait_for,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);

/// The interface's index in `ns`, `None` if it is gone.
fn ifindex(ns: &Netns, iface: &str) -> Option<u32> {
    let out = ns.stdout(&["ip", "-o", "link", "show", iface]);
    out.split(':').next()?.trim().parse().ok()
}

/// A's config: `dead_after: 3`, and `keep_on_exit` as given.
fn a_yaml(pair: &WgbgpdPair, keep_on_exit: bool) -> String {
    pair.a_config()
        .wireguard_option("keep_on_exit", &keep_on_exit.to_string())
        .with_peers(|p| p.with_tunnel(|t| t.dead_after(3)))
        .render()
}

/// B's config, expecting `a_public` as A's key: announces B's prefix, serves
/// metrics.
fn b_yaml(pair: &WgbgpdPair, a_public: &str) -> Config {
    pair.b_config_for(Some(a_public))
        .announce("198.51.100.0/24")
        .metrics("127.0.0.1:9179")
        .wireguard_option("keep_on_exit", "false")
        .with_peers(|p| p.with_tunnel(|t| t.dead_after(3)))
}

/// A (the daemon under test) and B, Established over the tunnel, B's
/// prefix in A's kernel. Field order is drop order: daemons, then what
/// keep_on_exit leaves running, then the namespaces.
struct Lab {
    a: Wgbgpd,
    b: Wgbgpd,
    _leftovers: Leftovers,
    pair: WgbgpdPair,
}

impl Lab {
    fn new(keep_on_exit: bool) -> Lab {
        let pair = WgbgpdPair::new("k", "10.9.7");
        let leftovers = Leftovers(vec![pair.if_a.clone(), pair.if_b.clone()]);
        pair.ns.b.add_lo_addr("198.51.100.1/32");
        let b = Wgbgpd::start(&pair.ns.b, &b_yaml(&pair, &pair.ka.public).render());
        let a = Wgbgpd::start(&pair.ns.a, &a_yaml(&pair, keep_on_exit));
        let mut lab = Lab {
            a,
            b,
            _leftovers: leftovers,
            pair,
        };
        lab.wait_up();
        lab
    }

    fn wait_up(&mut self) {
        let a_ns = &self.pair.ns.a;
        self.a.wait_established(a_ns, "2.2.2.2", T);
        a_ns.wait_route("198.51.100.0/24", "", T);
    }

    /// A's tunnel interface index (`None`: gone) and its wireguard-go pids.
    fn a_tunnel_process(&self) -> (Option<u32>, Vec<u32>) {
        let if_a = &self.pair.if_a;
        (ifindex(&self.pair.ns.a, if_a), wireguard_go_pids(if_a))
    }

    fn a_tunnel(&self) -> Value {
        let t: Value = self.a.cli_json(&self.pair.ns.a, &["show", "tunnels"]);
        t[0].clone()
    }
}

#[test]
fn sigterm_with_keep_on_exit_leaves_the_tunnel_up_and_restart_adopts_it() {
    require_root();
    let mut lab = Lab::new(true);
    let (index, pids) = lab.a_tunnel_process();
    let index = index.expect("A's tunnel");
    assert_eq!(pids.len(), 1, "one wireguard-go for {}", lab.pair.if_a);

    let status = lab.a.stop();
    assert!(status.success(), "wgbgpd exited with {status}");
    // The interface, its wireguard-go and its peer are as they were.
    assert_eq!(
        lab.a_tunnel_process(),
        (Some(index), pids.clone()),
        "interface gone or recreated, or wireguard-go stopped"
    );
    let wg = lab
        .pair
        .ns
        .a
        .stdout(&["wg", "show", &lab.pair.if_a, "peers"]);
    assert_eq!(
        wg.trim(),
        lab.pair.kb.public,
        "the peer is gone from {}",
        lab.pair.if_a
    );
    let host = lab
        .pair
        .ns
        .a
        .stdout(&["ip", "route", "show", "dev", &lab.pair.if_a]);
    assert!(
        host.contains("2.2.2.2"),
        "host route to the peer gone: {host}"
    );
    // Our BGP routes do go (no graceful restart here).
    assert!(lab.pair.ns.a.route_to("198.51.100.0/24").is_none());

    // The next start adopts the running tunnel instead of recreating it.
    lab.a.restart(&lab.pair.ns.a);
    lab.wait_up();
    assert_eq!(
        lab.a_tunnel_process(),
        (Some(index), pids),
        "tunnel recreated or wireguard-go replaced"
    );
    let t = lab.a_tunnel();
    assert_eq!(t["peerPublicKey"], lab.pair.kb.public.as_str(), "{t:#}");
    assert!(
        lab.a.log_text().contains("adopting running wireguard-go"),
        "{}",
        lab.a.log_text()
    );
    lab.a.check_alive();
}

#[test]
fn reload_rotates_the_private_key_in_place_and_the_session_returns() {
    require_root();
    let mut lab = Lab::new(false);
    let index = lab.a_tunnel_process().0.expect("A's tunnel");
    assert_eq!(lab.a_tunnel()["publicKey"], lab.pair.ka.public.as_str());

    // A new key in the same file, then reload.
    let new = WgKey::generate();
    lab.pair.keys.write("a.key", &new);
    let out = lab.a.cli(&lab.pair.ns.a, &["reload"]);
    assert!(!out.contains("reset session"), "{out}");
    let t = lab.a_tunnel();
    assert_eq!(t["publicKey"], new.public.as_str(), "{t:#}");
    let (now, pids) = lab.a_tunnel_process();
    assert_eq!(now, Some(index), "tunnel recreated");
    assert_eq!(pids.len(), 1);

    // B still expects the old key: the tunnel goes quiet and dead_after
    // takes the session down; given the new key, it comes back.
    wait_for(
        T,
        POLL,
        "the session down while B has the old key",
        || match lab.a.peer_state(&lab.pair.ns.a, "2.2.2.2").as_deref() {
            Some("Established") => Err("still Established".into()),
            _ => Ok(()),
        },
    );
    let socket_line = format!("control_socket: {}\n", lab.b.socket().display());
    std::fs::write(
        lab.b.config_path(),
        b_yaml(&lab.pair, &new.public).render() + &socket_line,
    )
    .unwrap();
    let out = lab.b.cli(&lab.pair.ns.b, &["reload"]);
    assert!(!out.contains("reset session"), "{out}");
    lab.wait_up();
    assert_eq!(lab.a_tunnel_process().0, Some(index));
    assert_eq!(lab.a_tunnel()["publicKey"], new.public.as_str());
    lab.a.check_alive();
    lab.b.check_alive();
}

#[test]
fn a_roaming_peer_is_counted_as_an_endpoint_change() {
    require_root();
    let lab = Lab::new(false);
    let series = format!(
        r#"wgbgp_tunnel_endpoint_changes_total{{interface="{}",name="p",peer="1.1.1.1"}}"#,
        lab.pair.if_b
    );
    let changes = || {
        let text = integration::metrics::scrape(&lab.pair.ns.b, "127.0.0.1:9179");
        integration::metrics::value(&text, &series).unwrap_or(0.0)
    };
    let b_sees = || {
        let t: Value = lab.b.cli_json(&lab.pair.ns.b, &["show", "tunnels"]);
        t[0]["endpoint"].as_str().unwrap_or_default().to_string()
    };
    let wait_b_sees = |addr: &str| {
        let want = format!("{addr}:");
        wait_for(T, POLL, &format!("B to see A at {addr}"), || {
            let ep = b_sees();
            if ep.starts_with(&want) {
                Ok(())
            } else {
                Err(ep)
            }
        })
    };
    wait_b_sees("10.9.7.1");
    // Past a metrics refresh that saw the first endpoint.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(changes(), 0.0);

    // A moves to another address on the same link (the old one goes, so
    // wireguard-go's sticky source address has to change too).
    let a_ns = &lab.pair.ns.a;
    a_ns.exec(&["sysctl", "-qw", "net.ipv4.conf.eth1.promote_secondaries=1"]);
    a_ns.exec(&["ip", "addr", "add", "10.9.7.11/24", "dev", "eth1"]);
    a_ns.exec(&["ip", "addr", "del", "10.9.7.1/24", "dev", "eth1"]);
    wait_b_sees("10.9.7.11");
    wait_for(T, POLL, "the endpoint change counted", || match changes() {
        n if n >= 1.0 => Ok(()),
        n => Err(format!("{series} = {n}")),
    });
    // The tunnel may go quiet for longer than dead_after (3 s) while A's
    // wireguard-go gives up its old source address: the session may be
    // reset, and must come back over the moved endpoint.
    let mut a = lab.a;
    a.wait_established(&lab.pair.ns.a, "2.2.2.2", T);
    assert!(lab.b.log_text().contains("tunnel endpoint changed"));
    a.check_alive();
}
