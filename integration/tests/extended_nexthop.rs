//! RFC 8950 extended next hop: IPv4 routes over an IPv6-only session.
//!
//! wgbgpd in A has only an IPv6 loopback and peers with FRR in B from
//! fd00::1 to fd00::2 over its own WireGuard tunnel; FRR is configured with
//! `capability extended-nexthop`. Both announce an IPv4 prefix, which must
//! travel in MP_REACH_NLRI with an IPv6 next hop and land in both kernels as
//! `via inet6 ...`, and IPv4 traffic must cross the tunnel.
//!
//! ```text
//!   lo fd00::1 (by wgbgpd)               lo fd00::2
//!      198.18.0.1                           198.51.100.1
//!   announces 198.18.0.0/24              announces 198.51.100.0/24
//!   +-------------+ v0 10.61.0.1   10.61.0.2 v0 +-------------+
//!   | A: wgbgpd   |-----------------------------| B: FRR      |
//!   | AS 65500    |== wg, session fd00::1-::2 ==| AS 65501    |
//!   +-------------+  made by wgbgpd | by hand   +-------------+
//! ```

use std::time::Duration;

use integration::{Config, Frr, HandTunnel, Pair, Peer, SESSION_TIMEOUT, Wgbgpd, require_root};

const A_V4: &str = "198.18.0.0/24";
const A_ADDR4: &str = "198.18.0.1";
const B_V4: &str = "198.51.100.0/24";
const B_ADDR4: &str = "198.51.100.1";

fn wgbgpd_config(tunnel: &HandTunnel) -> String {
    Config::new("1.1.1.1", 65500)
        .loopback("fd00::1/128")
        .announce(A_V4)
        .wireguard(&tunnel.a_key_file)
        .peer(
            Peer::new("b", 65501, "fd00::2")
                .tunnel(tunnel.a_side("10.61.0.2").keepalive(5))
                .policies("accept-all", "accept-all"),
        )
        .accept_all("accept-all")
        .render()
}

/// FRR in B: one IPv6 session with extended next hop, IPv4 unicast on it.
const FRR_B: &str = "frr defaults traditional
hostname b
log stdout informational
router bgp 65501
 bgp router-id 2.2.2.2
 no bgp network import-check
 neighbor fd00::1 remote-as 65500
 neighbor fd00::1 update-source fd00::2
 neighbor fd00::1 disable-connected-check
 neighbor fd00::1 timers connect 5
 neighbor fd00::1 capability extended-nexthop
 !
 address-family ipv4 unicast
  network 198.51.100.0/24
  neighbor fd00::1 activate
  neighbor fd00::1 route-map ALLOW-ALL in
  neighbor fd00::1 route-map ALLOW-ALL out
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor fd00::1 activate
  neighbor fd00::1 route-map ALLOW-ALL in
  neighbor fd00::1 route-map ALLOW-ALL out
 exit-address-family
!
route-map ALLOW-ALL permit 100
!
";

#[test]
fn ipv4_routes_cross_an_ipv6_only_session_with_frr_via_inet6_next_hops() {
    require_root();
    let Pair { a, b, .. } = Pair::new("x", "v0", "10.61.0");
    a.add_lo_addr(&format!("{A_ADDR4}/32"));
    b.add_lo_addr("fd00::2/128");
    b.add_lo_addr(&format!("{B_ADDR4}/32"));
    let tunnel = HandTunnel::new(&b, "x", &["fd00::1/128"], None);
    let if_a = tunnel.a_if.clone();
    let mut wgbgpd = Wgbgpd::start(&a, &wgbgpd_config(&tunnel));
    // Through wgbgpd's tunnel.
    a.wait_ping_from("fd00::1", "fd00::2", Duration::from_secs(10));
    let mut frr = Frr::start(&b, FRR_B, "hostname b\n");
    frr.wait_established("fd00::1", SESSION_TIMEOUT);
    wgbgpd.wait_established(&a, "fd00::2", SESSION_TIMEOUT);

    // Both sides agreed on extended next hop for IPv4 unicast.
    let nb = frr.vtysh_json("show bgp neighbors fd00::1 json");
    let caps = &nb["fd00::1"]["neighborCapabilities"];
    assert!(
        caps["extendedNexthop"] == "advertisedAndReceived",
        "FRR capabilities: {caps:#}"
    );

    // A: FRR's IPv4 prefix over B's IPv6 loopback, onlink in the tunnel.
    let want = format!("{B_V4} via inet6 fd00::2 dev {if_a} proto bgp metric 20 onlink");
    let line = a.wait_route(B_V4, "via inet6 fd00::2", SESSION_TIMEOUT);
    assert!(line.starts_with(&want), "want `{want}`, got `{line}`");
    eprintln!("A (wgbgpd): {line}");
    let shown = wgbgpd.cli_json(&a, &["show", "bgp", "ipv4", "unicast"]);
    let r = &shown["routes"][B_V4][0];
    assert_eq!(r["nexthops"][0]["ip"], "fd00::2", "{shown:#}");
    let summary = wgbgpd.cli_json(&a, &["show", "bgp", "summary"]);
    let p = &summary["ipv4Unicast"]["peers"]["fd00::2"];
    assert_eq!(p["pfxRcd"], 1, "{summary:#}");
    assert_eq!(p["pfxSnt"], 1, "{summary:#}");

    // B: wgbgpd's IPv4 prefix with wgbgpd's IPv6 loopback as next hop.
    let v4 = frr.vtysh_json("show bgp ipv4 unicast json");
    let r = &v4["routes"][A_V4][0];
    assert_eq!(r["nexthops"][0]["ip"], "fd00::1", "{v4:#}");
    let line = b.wait_route(A_V4, "via inet6 fd00::1", SESSION_TIMEOUT);
    assert!(
        line.contains(&format!("dev {}", tunnel.wg.ifname())),
        "{line}"
    );
    eprintln!("B (FRR): {line}");

    // IPv4 traffic crosses over the IPv6 next hops both ways.
    a.wait_ping_from(A_ADDR4, B_ADDR4, Duration::from_secs(10));
    b.ping_from(B_ADDR4, A_ADDR4).unwrap();
    drop(frr);
    drop(wgbgpd);
    drop(tunnel);
}
