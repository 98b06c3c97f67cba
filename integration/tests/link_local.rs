//! dn42-style peering (issue 14): an eBGP session over IPv6 link-local
//! addresses on a WireGuard tunnel, IPv4 carried over IPv6 next hops
//! (RFC 8950), no loopback and no host route anywhere.
//!
//! BIRD in B is configured the way dn42 users write it: `neighbor fe80::a`
//! on the tunnel interface, `extended next hop on`. wgbgpd in A puts
//! `link_local: fe80::a` on its tunnel and peers with `address: fe80::b`.
//!
//! ```text
//!   +--------------------+ v0 10.62.0.1     10.62.0.2 v0 +------------------+
//!   | A: wgbgpd AS 65500 |-------------------------------| B: BIRD          |
//!   | no loopback        |== wg: fe80::a  <->  fe80::b ==| AS 4242420001    |
//!   +--------------------+  made by wgbgpd | by hand     +------------------+
//! ```

use std::time::Duration;

use integration::{
    Bird, Config, HandTunnel, POLL, Pair, Peer, SESSION_TIMEOUT, Wgbgpd, require_root, wait_for,
};

fn bird_config(wg_if: &str) -> String {
    format!(
        r#"router id 10.62.0.2;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; }}
protocol kernel {{ ipv6 {{ import none; export where source = RTS_BGP; }}; }}
protocol static s4 {{ ipv4; route 172.20.0.0/24 unreachable; }}
protocol static s6 {{ ipv6; route fd42:b::/48 unreachable; }}
protocol bgp a {{
    local as 4242420001;
    neighbor fe80::a as 65500;
    interface "{wg_if}";
    connect retry time 2;
    error wait time 1, 5;
    ipv4 {{ import all; export where proto = "s4"; extended next hop on; }};
    ipv6 {{ import all; export where proto = "s6"; }};
}}
"#
    )
}

fn wgbgpd_config(tunnel: &HandTunnel) -> String {
    Config::new("10.62.0.1", 65500)
        .announce("198.18.0.0/24")
        .announce("fd42:a::/48")
        .wireguard(&tunnel.a_key_file)
        .peer(
            Peer::new("dn42", 4242420001, "fe80::b")
                .set("link_local", "\"fe80::a\"")
                .tunnel(tunnel.a_side("10.62.0.2").keepalive(5))
                .policies("accept-all", "ours"),
        )
        .accept_all("accept-all")
        .policy(
            "ours",
            &[
                "{ match: { prefix: [198.18.0.0/24, \"fd42:a::/48\"] }, action: accept }",
                "{ action: reject }",
            ],
        )
        .render()
}

#[test]
fn a_link_local_session_over_wireguard_carries_ipv4_with_ipv6_next_hops() {
    require_root();
    let Pair { a, b, .. } = Pair::new("ll", "v0", "10.62.0");
    let tunnel = HandTunnel::new(&b, "ll", &[], None);
    let (a_if, b_if) = (tunnel.a_if.clone(), tunnel.wg.ifname().to_string());
    // B's end has exactly fe80::b, as a dn42 tunnel has its one address.
    b.set_link_local(&b_if, "fe80::b/64");
    let mut bird = Bird::start(&b, &bird_config(&b_if));
    let mut wgbgpd = Wgbgpd::start(&a, &wgbgpd_config(&tunnel));
    wgbgpd.wait_established(&a, "fe80::b", SESSION_TIMEOUT);

    // Our tunnel carries fe80::a/64 and nothing else; no host route.
    let addrs = a.stdout(&["ip", "-o", "addr", "show", "dev", &a_if]);
    assert!(addrs.contains("inet6 fe80::a/64"), "{addrs}");
    assert_eq!(addrs.lines().count(), 1, "{addrs}");

    // BIRD's IPv4 route: `::` + fe80::b in MP_REACH, installed via inet6
    // fe80::b on our tunnel; its IPv6 route via fe80::b too.
    let line = a.wait_route("172.20.0.0/24", "via inet6 fe80::b", SESSION_TIMEOUT);
    assert!(line.contains(&format!("dev {a_if} proto bgp")), "{line}");
    eprintln!("A (wgbgpd): {line}");
    let line = a.wait_route("fd42:b::/48", "via fe80::b", SESSION_TIMEOUT);
    assert!(line.contains(&format!("dev {a_if} proto bgp")), "{line}");
    eprintln!("A (wgbgpd): {line}");

    // BIRD learns ours with our link-local as next hop, both families.
    for prefix in ["198.18.0.0/24", "fd42:a::/48"] {
        wait_for(
            SESSION_TIMEOUT,
            POLL,
            &format!("BIRD to learn {prefix}"),
            || {
                bird.check_alive();
                let shown = bird.birdc(&format!("show route {prefix} all"));
                match shown.contains("fe80::a") {
                    true => Ok(()),
                    false => Err(shown),
                }
            },
        );
    }
    let line = b.wait_route("198.18.0.0/24", "via inet6 fe80::a", SESSION_TIMEOUT);
    eprintln!("B (BIRD): {line}");

    // Traffic: B reaches our announced IPv4 address over the tunnel.
    a.add_lo_addr("198.18.0.1/32");
    b.add_lo_addr("172.20.0.1/32");
    // IPv4 from B to A over the fe80 next hops.
    b.wait_ping_from("172.20.0.1", "198.18.0.1", Duration::from_secs(10));
    drop(wgbgpd);
    drop(bird);
    drop(tunnel);
}
