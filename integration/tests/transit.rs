//! Provider sessions: no tunnel and no loopback anywhere (issue 14).
//!
//! A transit provider (BIRD) peers with wgbgpd on a directly connected
//! link, IPv4 on a /30 and IPv6 on a /64, each its own session, and sends a
//! full-ish table with a default route. wgbgpd peers from the interface
//! address the kernel picks, sends it as next hop, and installs what it
//! learns `via <provider> dev v0`.
//!
//! ```text
//!   +------------------+ v0 10.255.1.2/30     10.255.1.1/30 v0 +-----------------+
//!   | A: wgbgpd        |----------------------------------------| B: BIRD (ISP)   |
//!   | AS 65500, no lo  |    2001:db8:ff::2/64  2001:db8:ff::1/64 | AS 64999        |
//!   +------------------+                                         +-----------------+
//! ```
//!
//! The second test puts a router between them: the provider is one hop
//! away, as Vultr's and Equinix Metal's route servers are, with an MD5
//! password. With TTL 1 (no `multihop`) the session cannot come up; with
//! `multihop: 2`, reloaded in, it does.

use std::fmt::Write as _;
use std::time::Duration;

use integration::{
    Bird, Config, Netns, POLL, Peer, SESSION_TIMEOUT, Wgbgpd, link, require_root, wait_for,
};

/// IPv4 prefixes the provider sends, besides the default route.
const V4_ROUTES: usize = 10_000;
const V6_ROUTES: usize = 100;

/// The provider's table: `V4_ROUTES` /24s in 45.0.0.0/8 and `V6_ROUTES`
/// /48s in 2001:db8:1000::/36, plus both default routes.
fn provider_statics() -> String {
    let mut s = String::from("protocol static s4 {\n  ipv4;\n  route 0.0.0.0/0 unreachable;\n");
    for i in 0..V4_ROUTES {
        let _ = writeln!(s, "  route 45.{}.{}.0/24 unreachable;", i / 256, i % 256);
    }
    s.push_str("}\nprotocol static s6 {\n  ipv6;\n  route ::/0 unreachable;\n");
    for i in 0..V6_ROUTES {
        let _ = writeln!(s, "  route 2001:db8:1{i:03x}::/48 unreachable;");
    }
    s.push_str("}\n");
    s
}

/// BIRD as the provider: both sessions direct, what it learns exported to
/// its kernel so the test can see the next hop it installs.
fn provider_bird() -> String {
    format!(
        r#"router id 10.255.1.1;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; }}
protocol kernel {{ ipv6 {{ import none; export where source = RTS_BGP; }}; }}
{statics}
protocol bgp cust4 {{
    local 10.255.1.1 as 64999;
    neighbor 10.255.1.2 as 65500;
    connect retry time 2;
    error wait time 1, 5;
    ipv4 {{ import all; export where proto = "s4"; }};
}}
protocol bgp cust6 {{
    local 2001:db8:ff::1 as 64999;
    neighbor 2001:db8:ff::2 as 65500;
    connect retry time 2;
    error wait time 1, 5;
    ipv6 {{ import all; export where proto = "s6"; }};
}}
"#,
        statics = provider_statics()
    )
}

/// wgbgpd with no loopback: two plain peers, the default route allowed in.
fn customer_config() -> String {
    let isp = |name: &str, address: &str| {
        Peer::new(name, 64999, address)
            .policies("accept-all", "ours")
            .set("reject_default_route", "false")
    };
    Config::new("10.255.1.2", 65500)
        .announce("198.18.0.0/24")
        .announce("2001:db8:a::/48")
        .peer(isp("isp4", "10.255.1.1"))
        .peer(isp("isp6", "2001:db8:ff::1"))
        .accept_all("accept-all")
        .policy(
            "ours",
            &[
                "{ match: { prefix: [198.18.0.0/24, \"2001:db8:a::/48\"] }, action: accept }",
                "{ action: reject }",
            ],
        )
        .render()
}

/// Lines of `ip -F route show proto bgp` in `ns`.
fn bgp_route_count(ns: &Netns, family: &str) -> usize {
    ns.stdout(&["ip", family, "route", "show", "proto", "bgp"])
        .lines()
        .count()
}

#[test]
fn a_transit_session_on_a_link_needs_no_loopback_in_ipv4_and_ipv6() {
    require_root();
    let a = Netns::new("tra");
    let b = Netns::new("trb");
    link((&a, "v0", "10.255.1.2/30"), (&b, "v0", "10.255.1.1/30"));
    a.add_addr("v0", "2001:db8:ff::2/64");
    b.add_addr("v0", "2001:db8:ff::1/64");
    let mut bird = Bird::start(&b, &provider_bird());
    let mut wgbgpd = Wgbgpd::start(&a, &customer_config());
    wgbgpd.wait_established(&a, "10.255.1.1", SESSION_TIMEOUT);
    wgbgpd.wait_established(&a, "2001:db8:ff::1", SESSION_TIMEOUT);

    // The whole table lands in A's kernel through the provider's address.
    wait_for(
        Duration::from_secs(60),
        POLL,
        "the provider's table in A's kernel",
        || {
            bird.check_alive();
            let (v4, v6) = (bgp_route_count(&a, "-4"), bgp_route_count(&a, "-6"));
            if v4 == V4_ROUTES + 1 && v6 == V6_ROUTES + 1 {
                Ok(())
            } else {
                Err(format!("{v4} IPv4 and {v6} IPv6 routes"))
            }
        },
    );
    for (prefix, via) in [
        ("45.39.15.0/24", "via 10.255.1.1 dev v0 proto bgp metric 20"),
        ("default", "via 10.255.1.1 dev v0 proto bgp metric 20"),
        (
            "2001:db8:1063::/48",
            "via 2001:db8:ff::1 dev v0 proto bgp metric 20",
        ),
        ("::/0", "via 2001:db8:ff::1 dev v0 proto bgp metric 20"),
    ] {
        let family = if prefix.contains(':') { "-6" } else { "-4" };
        let line = a.stdout(&["ip", family, "route", "show", "exact", prefix]);
        assert!(line.contains(via), "{prefix}: want `{via}`, got `{line}`");
    }

    // The provider learns our prefixes with our interface addresses as next
    // hops (the kernel-chosen session sources) and installs them.
    let line = b.wait_route(
        "198.18.0.0/24",
        "via 10.255.1.2 dev v0 proto bird",
        SESSION_TIMEOUT,
    );
    eprintln!("B (BIRD): {line}");
    let line = b.wait_route("2001:db8:a::/48", "dev v0 proto bird", SESSION_TIMEOUT);
    eprintln!("B (BIRD): {line}");
    // RFC 2545 on a shared link: the global next hop, then our link-local.
    let shown = bird.birdc("show route 2001:db8:a::/48 all");
    let a_ll = a.stdout(&["ip", "-6", "addr", "show", "dev", "v0", "scope", "link"]);
    let a_ll = a_ll
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|w| w.split('/').next())
        .expect("A's link-local address on v0")
        .to_string();
    assert!(
        shown.contains(&format!("BGP.next_hop: 2001:db8:ff::2 {a_ll}")),
        "want next hop 2001:db8:ff::2 {a_ll}:\n{shown}"
    );

    // wgbgpd's view: no update source configured, each session Established.
    let nb = wgbgpd.cli_json(&a, &["show", "bgp", "neighbors"]);
    assert!(nb["10.255.1.1"].get("updateSource").is_none(), "{nb:#}");
    assert_eq!(nb["2001:db8:ff::1"]["bgpState"], "Established", "{nb:#}");
    drop(wgbgpd);
    drop(bird);
}

/// BIRD one router away, multihop 2 with a password; passive, so that only
/// wgbgpd's connection attempts (and their TTL) decide.
const MULTIHOP_BIRD: &str = r#"router id 10.255.3.2;
protocol device { scan time 1; }
protocol static underlay { ipv4; route 10.255.2.0/30 via 10.255.3.1; }
protocol static s4 {
    ipv4;
    route 0.0.0.0/0 unreachable;
    route 45.1.0.0/24 unreachable;
}
protocol bgp cust {
    local 10.255.3.2 as 64999;
    neighbor 10.255.2.2 as 65500;
    multihop 2;
    password "s3cret";
    passive on;
    ipv4 { import all; export where proto = "s4"; };
}
"#;

fn multihop_config(hops: Option<u8>) -> String {
    let mut peer = Peer::new("isp", 64999, "10.255.3.2")
        .policies("accept-all", "ours")
        .set("reject_default_route", "false")
        .set("password", "s3cret");
    if let Some(h) = hops {
        peer = peer.set("multihop", &h.to_string());
    }
    Config::new("10.255.2.2", 65500)
        .announce("198.18.0.0/24")
        .peer(peer)
        .accept_all("accept-all")
        .only("ours", "198.18.0.0/24")
        .render()
}

#[test]
fn a_provider_one_hop_away_needs_multihop_and_takes_a_password() {
    require_root();
    let a = Netns::new("mha");
    let r = Netns::new("mhr");
    let b = Netns::new("mhb");
    link((&a, "v0", "10.255.2.2/30"), (&r, "va", "10.255.2.1/30"));
    link((&r, "vb", "10.255.3.1/30"), (&b, "v0", "10.255.3.2/30"));
    r.sysctl("net.ipv4.ip_forward", "1");
    a.route_add("10.255.3.0/30 via 10.255.2.1");
    b.route_add("10.255.2.0/30 via 10.255.3.1");
    // A reaches B through R.
    a.wait_ping_from("10.255.2.2", "10.255.3.2", Duration::from_secs(5));
    let mut bird = Bird::start(&b, MULTIHOP_BIRD);

    // TTL 1: the SYNs die at R; the session stays down.
    let mut wgbgpd = Wgbgpd::start(&a, &multihop_config(None));
    std::thread::sleep(Duration::from_secs(4));
    let state = wgbgpd.peer_state(&a, "10.255.3.2");
    assert_ne!(
        state.as_deref(),
        Some("Established"),
        "TTL 1 crossed a router"
    );
    bird.check_alive();

    // `multihop: 2`, reloaded: the session comes up, MD5-signed.
    let out = wgbgpd.reload_with(&a, &multihop_config(Some(2)));
    eprintln!("reload: {out}");
    wgbgpd.wait_established(&a, "10.255.3.2", SESSION_TIMEOUT);
    let info = bird.birdc("show protocols all cust");
    assert!(info.contains("Established"), "{info}");

    // The provider's next hop (its own address, not on our link) resolves
    // through the kernel's route to it.
    let line = a.wait_route(
        "45.1.0.0/24",
        "via 10.255.2.1 dev v0 proto bgp",
        SESSION_TIMEOUT,
    );
    eprintln!("A (wgbgpd): {line}");
    let line = a.wait_route(
        "default",
        "via 10.255.2.1 dev v0 proto bgp",
        SESSION_TIMEOUT,
    );
    eprintln!("A (wgbgpd): {line}");
    // BIRD has our prefix with our session source as next hop.
    wait_for(SESSION_TIMEOUT, POLL, "BIRD to learn 198.18.0.0/24", || {
        let shown = bird.birdc("show route 198.18.0.0/24 all");
        match shown.contains("BGP.next_hop: 10.255.2.2") {
            true => Ok(()),
            false => Err(shown),
        }
    });
    drop(wgbgpd);
    drop(bird);
}

/// A provider whose BGP is not there (the SYNs are refused): the first
/// attempt is retried within 1 s, then ConnectRetry backs off (5 s doubling
/// per failure, jittered to 0.75–1.0 of itself); nothing about the link
/// changes, so nothing makes it connect early. The SYNs' times are printed.
#[test]
fn a_refusing_provider_is_retried_with_back_off() {
    require_root();
    let a = Netns::new("rfa");
    let b = Netns::new("rfb");
    link((&a, "v0", "10.255.4.2/30"), (&b, "v0", "10.255.4.1/30"));
    let capture = integration::Capture::start(
        &b,
        "v0",
        "tcp dst port 179 and tcp[tcpflags] & tcp-syn != 0",
    );
    let yaml = Config::new("10.255.4.2", 65500)
        .peer(Peer::new("isp", 64999, "10.255.4.1").policies("all", "all"))
        .accept_all("all")
        .render();
    let mut wgbgpd = Wgbgpd::start(&a, &yaml);
    let syn_times = |pcap: &std::path::Path| -> Vec<f64> {
        let out = b.stdout(&["tcpdump", "-r", &pcap.to_string_lossy(), "-tt", "-n"]);
        (out.lines())
            .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            .collect()
    };
    wait_for(
        Duration::from_secs(30),
        Duration::from_millis(500),
        "three connection attempts",
        || {
            wgbgpd.check_alive();
            let t = syn_times(capture.path());
            if t.len() >= 3 {
                Ok(())
            } else {
                Err(format!("SYNs at {t:?}"))
            }
        },
    );
    let times = syn_times(capture.path());
    drop(capture.finish());
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!(
        "connection attempts at +{:?} s",
        times.iter().map(|t| t - times[0]).collect::<Vec<_>>()
    );
    assert!(gaps[0] <= 1.05, "the first retry within 1 s: {gaps:?}");
    assert!(
        (3.7..=10.1).contains(&gaps[1]),
        "then ConnectRetry, backing off: {gaps:?}"
    );
    drop(wgbgpd);
}
