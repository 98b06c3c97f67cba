//! Proves the namespace harness itself, and records how the reference
//! implementations behave on this setup (no wgbgpd here):
//!
//! - namespaces, child processes and `in_ns` clean up and isolate;
//! - the seed lab of the blog post with FRR on S1, S2 and S3 over wireguard-go
//!   tunnels made by hand, which is the behaviour wgbgpd must reproduce;
//! - BIRD 2 and FRR peering over a hand-made tunnel, IPv4 and IPv6, which is
//!   the ground the interop tests stand on;
//! - GoBGP and FRR on a plain link, captured with tcpdump.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use integration::capture::tcp_payloads;
use integration::frr::EdgeConfig;
use integration::{
    Bird, Capture, Frr, Gobgpd, Netns, Pair, SeedLab, WgKey, WgPeer, WgPeerConfig, require_root,
    wait_for,
};

const SESSION_TIMEOUT: Duration = Duration::from_secs(40);

#[test]
fn netns_guard_kills_everything_and_deletes_the_namespace() {
    require_root();
    let ns = Netns::new("guard");
    let name = ns.name().to_string();
    assert!(std::path::Path::new(&format!("/run/netns/{name}")).exists());
    // One child tracked by a guard that is leaked, one process the harness
    // never saw (started in the background by a shell that exits).
    let leaked = ns.spawn(ns.command(&["sleep", "600"]));
    let leaked_pid = leaked.id();
    std::mem::forget(leaked);
    ns.sh("sleep 600 >/dev/null 2>&1 &");
    let pids = ns.pids();
    assert!(pids.contains(&leaked_pid), "{pids:?} lacks {leaked_pid}");
    assert_eq!(pids.len(), 2, "expected two sleeps in {name}: {pids:?}");
    drop(ns);
    assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().chars().next());
        assert!(
            matches!(state, None | Some(None) | Some(Some('Z'))),
            "pid {pid} still alive after the namespace dropped: {stat}"
        );
    }
}

#[test]
fn in_ns_runs_rust_code_inside_the_namespace() {
    require_root();
    let Pair { a, b, .. } = Pair::new("in", "v0", "10.77.0");
    // The address exists only in `a`: binding works there and not on the host.
    a.in_ns(|| UdpSocket::bind("10.77.0.1:0").expect("bind inside the namespace"));
    assert!(
        UdpSocket::bind("10.77.0.1:0").is_err(),
        "10.77.0.1 exists on the host?"
    );
    let listener = b.in_ns(|| TcpListener::bind("10.77.0.2:4179").expect("listen in b"));
    let accept = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
    let local = a.in_ns(|| {
        TcpStream::connect("10.77.0.2:4179")
            .expect("connect from a to b")
            .local_addr()
            .unwrap()
    });
    assert_eq!(accept.join().unwrap().unwrap(), local);
    a.sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(
        a.stdout(&["cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );
    assert_eq!(
        b.stdout(&["cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "0"
    );
}

/// Hand-made tunnels of the seed post between S1 and one of S2/S3: S1 dials the
/// other side's port 51820; host routes to each other's loopback.
fn tunnel(
    s1: &Netns,
    k1: &WgKey,
    s1_lo: &str,
    other: &Netns,
    k: &WgKey,
    other_eth: &str,
    other_lo: &str,
) -> (WgPeer, WgPeer) {
    let near = WgPeer::start(
        s1,
        "s1",
        &WgPeerConfig {
            private_key: k1.private.clone(),
            peer_public_key: k.public.clone(),
            endpoint: Some(format!("{other_eth}:51820")),
            ..Default::default()
        },
    );
    let far = WgPeer::start(
        other,
        "far",
        &WgPeerConfig {
            private_key: k.private.clone(),
            listen_port: Some(51820),
            peer_public_key: k1.public.clone(),
            ..Default::default()
        },
    );
    near.route(s1, &format!("{other_lo}/32"));
    far.route(other, &format!("{s1_lo}/32"));
    (near, far)
}

const FRR_S1: &str = "frr defaults traditional
hostname s1
log stdout informational
router bgp 65500
 bgp router-id 1.1.1.1
 neighbor 2.2.2.2 remote-as 65501
 neighbor 2.2.2.2 description S2
 neighbor 2.2.2.2 disable-connected-check
 neighbor 2.2.2.2 update-source 1.1.1.1
 neighbor 2.2.2.2 timers connect 5
 neighbor 3.3.3.3 remote-as 65502
 neighbor 3.3.3.3 description S3
 neighbor 3.3.3.3 disable-connected-check
 neighbor 3.3.3.3 update-source 1.1.1.1
 neighbor 3.3.3.3 timers connect 5
 !
 address-family ipv4 unicast
  neighbor 2.2.2.2 route-map ALLOW-ALL in
  neighbor 2.2.2.2 route-map DENY-ALL out
  neighbor 3.3.3.3 route-map ALLOW-ALL in
  neighbor 3.3.3.3 route-map DENY-ALL out
 exit-address-family
!
route-map ALLOW-ALL permit 100
!
route-map DENY-ALL deny 100
!
";

/// The blog post's three-node lab, FRR everywhere:
///
/// ```text
///            lo 1.1.1.1                          lo 2.2.2.2, 198.19.0.1
///   +------+ eth1 10.1.0.2    10.2.0.2 eth1 +------+
///   |  S1  |------- R1 (forwards only) -----|  S2  |  AS 65501
///   +------+ AS 65500   \                   +------+
///    wg to S2, wg to S3  \  10.3.0.2 eth1   +------+
///                         `-----------------|  S3  |  AS 65502
///                                           +------+
///                                    lo 3.3.3.3, 198.18.0.1
/// ```
///
/// Tunnels S1-S2 and S1-S3 are unnumbered wireguard-go interfaces with
/// AllowedIPs 0.0.0.0/0, ::/0 and a host route to the far loopback; eBGP runs
/// loopback to loopback; S1 must install both prefixes recursively via the
/// loopbacks, `onlink`, through the right tunnel.
#[test]
fn seed_lab_frr_installs_prefixes_via_loopbacks_over_wireguard() {
    require_root();
    let lab = SeedLab::new();
    let (k1, k2, k3) = (WgKey::generate(), WgKey::generate(), WgKey::generate());
    lab.s1.add_lo_addr("1.1.1.1/32");
    lab.s2.add_lo_addr("2.2.2.2/32");
    lab.s3.add_lo_addr("3.3.3.3/32");
    // The post's dummy0 addresses; there is no dummy link type here, and a
    // /32 on lo is redistributed as connected just the same.
    lab.s2.add_lo_addr("198.19.0.1/32");
    lab.s3.add_lo_addr("198.18.0.1/32");
    let (wg12, _wg21) = tunnel(&lab.s1, &k1, "1.1.1.1", &lab.s2, &k2, "10.2.0.2", "2.2.2.2");
    let (wg13, _wg31) = tunnel(&lab.s1, &k1, "1.1.1.1", &lab.s3, &k3, "10.3.0.2", "3.3.3.3");
    lab.s1.wait_ping("2.2.2.2", Duration::from_secs(10));
    lab.s1.wait_ping("3.3.3.3", Duration::from_secs(10));
    // The post's "ip route get": the loopbacks go through their own tunnels.
    let get = lab.s1.stdout(&["ip", "route", "get", "3.3.3.3"]);
    assert!(
        get.contains(&format!("dev {} src 1.1.1.1", wg13.ifname())),
        "{get}"
    );

    let mut s2 = Frr::start(
        &lab.s2,
        &integration::frr::seed_spoke_conf(65501, "2.2.2.2", "198.19.0.1/32"),
        "hostname s2\n",
    );
    let mut s3 = Frr::start(
        &lab.s3,
        &integration::frr::seed_spoke_conf(65502, "3.3.3.3", "198.18.0.1/32"),
        "hostname s3\n",
    );
    let mut s1 = Frr::start(&lab.s1, FRR_S1, "hostname s1\n");
    s1.wait_established("2.2.2.2", SESSION_TIMEOUT);
    s1.wait_established("3.3.3.3", SESSION_TIMEOUT);
    s2.wait_established("1.1.1.1", SESSION_TIMEOUT);
    s3.wait_established("1.1.1.1", SESSION_TIMEOUT);

    let via3 = wait_for(
        SESSION_TIMEOUT,
        Duration::from_millis(250),
        "198.18.0.1 in S1's kernel",
        || lab.s1.route("198.18.0.1"),
    );
    let via2 = wait_for(
        SESSION_TIMEOUT,
        Duration::from_millis(250),
        "198.19.0.1 in S1's kernel",
        || lab.s1.route("198.19.0.1"),
    );
    for (line, gw, dev) in [
        (&via3, "3.3.3.3", wg13.ifname()),
        (&via2, "2.2.2.2", wg12.ifname()),
    ] {
        // FRR 8 uses nexthop objects: `198.18.0.1 nhid 27 via 3.3.3.3 dev wgX proto bgp metric 20 onlink`.
        assert!(
            line.contains(&format!("via {gw} dev {dev} proto bgp metric 20 onlink")),
            "{line}"
        );
    }
    // S1 exports nothing (DENY-ALL), and the spokes only their one prefix.
    assert!(lab.s2.route("198.18.0.1").is_err());
    let summary = s1.vtysh_json("show bgp summary json");
    for peer in ["2.2.2.2", "3.3.3.3"] {
        let p = &summary["ipv4Unicast"]["peers"][peer];
        assert_eq!(p["state"], "Established", "{summary:#}");
        assert_eq!(p["pfxRcd"], 1, "{summary:#}");
    }
    lab.s1.wait_ping("198.18.0.1", Duration::from_secs(5));
    lab.s1.wait_ping("198.19.0.1", Duration::from_secs(5));
}

const BIRD_A: &str = r#"
log stderr all;
router id 1.1.1.1;
protocol device { scan time 2; }
# The loopback addresses, so the announced /32 and /128 exist as routes.
protocol direct { ipv4; ipv6; interface "lo"; }
# `learn` brings in the host routes to the peer's loopbacks (dev wg, no
# gateway): BIRD resolves the peer's next hops recursively through them.
protocol kernel k4 { ipv4 { import all; export where source = RTS_BGP; }; learn; scan time 2; }
protocol kernel k6 { ipv6 { import all; export where source = RTS_BGP; }; learn; scan time 2; }
protocol bgp frr {
    local 1.1.1.1 as 65001;
    neighbor 2.2.2.2 as 65002;
    # Loopback to loopback over an unnumbered tunnel: not "directly connected".
    multihop;
    connect retry time 2;
    ipv4 { import all; export where net = 198.51.100.1/32; next hop self; };
    ipv6 { import all; export where net = 2001:db8:1::1/128; next hop address fd00::1; };
}
"#;

/// BIRD 2 and FRR over one hand-made tunnel, one eBGP session (IPv4
/// transport) carrying IPv4 and IPv6 unicast:
///
/// ```text
///   lo 1.1.1.1 fd00::1            lo 2.2.2.2 fd00::2
///      198.51.100.1                  198.51.100.2
///      2001:db8:1::1                 2001:db8:2::1
///   +-----------+ v0 10.9.0.1   10.9.0.2 v0 +-----------+
///   | A: BIRD 2 |---------------------------| B: FRR    |
///   | AS 65001  |==== wg (unnumbered) ======| AS 65002  |
///   +-----------+                           +-----------+
/// ```
#[test]
fn bird_and_frr_exchange_ipv4_and_ipv6_over_wireguard() {
    require_root();
    let Pair { a, b, .. } = Pair::new("bf", "v0", "10.9.0");
    for addr in [
        "1.1.1.1/32",
        "fd00::1/128",
        "198.51.100.1/32",
        "2001:db8:1::1/128",
    ] {
        a.add_lo_addr(addr);
    }
    for addr in [
        "2.2.2.2/32",
        "fd00::2/128",
        "198.51.100.2/32",
        "2001:db8:2::1/128",
    ] {
        b.add_lo_addr(addr);
    }
    let (ka, kb) = (WgKey::generate(), WgKey::generate());
    let wa = WgPeer::start(
        &a,
        "bird",
        &WgPeerConfig {
            private_key: ka.private.clone(),
            listen_port: Some(51820),
            peer_public_key: kb.public.clone(),
            endpoint: Some("10.9.0.2:51820".into()),
            persistent_keepalive: Some(5),
            ..Default::default()
        },
    );
    let wb = WgPeer::start(
        &b,
        "frr",
        &WgPeerConfig {
            private_key: kb.private.clone(),
            listen_port: Some(51820),
            peer_public_key: ka.public.clone(),
            endpoint: Some("10.9.0.1:51820".into()),
            ..Default::default()
        },
    );
    wa.route(&a, "2.2.2.2/32");
    wa.route(&a, "fd00::2/128");
    wb.route(&b, "1.1.1.1/32");
    wb.route(&b, "fd00::1/128");
    a.wait_ping("2.2.2.2", Duration::from_secs(10));
    a.wait_ping("fd00::2", Duration::from_secs(10));

    let mut frr = Frr::start(&b, &frr_b(), "hostname b\n");
    let mut bird = Bird::start(&a, BIRD_A);
    bird.wait_established("frr", SESSION_TIMEOUT);
    frr.wait_established("1.1.1.1", SESSION_TIMEOUT);

    let poll = Duration::from_millis(250);
    let [in_a4, in_a6, in_b4, in_b6] = [
        (&a, "198.51.100.2", "FRR's IPv4 prefix in A's kernel"),
        (&a, "2001:db8:2::1", "FRR's IPv6 prefix in A's kernel"),
        (&b, "198.51.100.1", "BIRD's IPv4 prefix in B's kernel"),
        (&b, "2001:db8:1::1", "BIRD's IPv6 prefix in B's kernel"),
    ]
    .map(|(ns, addr, what)| wait_for(SESSION_TIMEOUT, poll, what, || ns.route(addr)));
    eprintln!("A (BIRD):\n  {in_a4}\n  {in_a6}\nB (FRR):\n  {in_b4}\n  {in_b6}");
    // FRR resolves the peer's loopback recursively and installs it as an
    // onlink gateway on the tunnel, the form wgbgpd copies.
    for (line, gw) in [(&in_b4, "1.1.1.1"), (&in_b6, "fd00::1")] {
        let want = format!("via {gw} dev {} proto bgp metric 20 onlink", wb.ifname());
        assert!(line.contains(&want), "{line}");
    }
    // BIRD 2.0 resolves it to the host route, which has no gateway, and so
    // installs a device route into the tunnel:
    // `198.51.100.2 dev wgX proto bird scope link metric 32`.
    for line in [&in_a4, &in_a6] {
        let want = format!("dev {} proto bird", wa.ifname());
        assert!(line.contains(&want), "{line}");
    }
    // What BIRD learned, as it shows it.
    let shown = bird.show_route("protocol frr");
    assert!(
        shown.contains("198.51.100.2/32") && shown.contains("2001:db8:2::1/128"),
        "{shown}"
    );
    let v6 = frr.vtysh_json("show bgp ipv6 unicast json");
    assert!(v6["routes"]["2001:db8:1::1/128"].is_array(), "{v6:#}");
    // Traffic between the announced addresses crosses the tunnel both ways.
    let ping = a.stdout(&[
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "-I",
        "198.51.100.1",
        "198.51.100.2",
    ]);
    assert!(ping.contains("1 received"), "{ping}");
    let ping = b.stdout(&[
        "ping",
        "-6",
        "-c",
        "1",
        "-W",
        "2",
        "-I",
        "2001:db8:2::1",
        "2001:db8:1::1",
    ]);
    assert!(ping.contains("1 received"), "{ping}");
}

const GOBGP_C: &str = r#"
[global.config]
  as = 65003
  router-id = "3.3.3.3"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.8.0.2"
    peer-as = 65002
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"#;

const FRR_D: &str = "frr defaults traditional
hostname d
log stdout informational
router bgp 65002
 bgp router-id 2.2.2.2
 no bgp network import-check
 neighbor 10.8.0.1 remote-as 65003
 neighbor 10.8.0.1 timers connect 5
 address-family ipv4 unicast
  network 198.51.100.2/32
  neighbor 10.8.0.1 route-map ALLOW-ALL in
  neighbor 10.8.0.1 route-map ALLOW-ALL out
 exit-address-family
!
route-map ALLOW-ALL permit 100
!
";

/// GoBGP and FRR on a plain link, with the session captured by tcpdump:
/// proves the GoBGP runner and the capture helper (the way codec fixtures
/// from real implementations are taken).
///
/// ```text
///   +-------------+ v0 10.8.0.1   10.8.0.2 v0 +-----------+
///   | C: GoBGP    |-----------------------------| D: FRR    |
///   | AS 65003    |   (tcpdump on D's v0)       | AS 65002  |
///   +-------------+                             +-----------+
/// ```
#[test]
fn gobgp_and_frr_session_is_captured() {
    require_root();
    let Pair { a: c, b: d, .. } = Pair::new("gf", "v0", "10.8.0");
    d.add_lo_addr("198.51.100.2/32");
    let capture = Capture::start(&d, "v0", "tcp port 179");
    let mut gobgp = Gobgpd::start(&c, GOBGP_C);
    gobgp.cli(
        &c,
        &["global", "rib", "add", "198.51.100.3/32", "-a", "ipv4"],
    );
    let mut frr = Frr::start(&d, FRR_D, "hostname d\n");
    frr.wait_established("10.8.0.1", SESSION_TIMEOUT);
    gobgp.wait_established(&c, "10.8.0.2", SESSION_TIMEOUT);
    let poll = Duration::from_millis(250);
    let line = wait_for(
        SESSION_TIMEOUT,
        poll,
        "GoBGP's prefix in D's kernel",
        || d.route("198.51.100.3"),
    );
    assert!(
        line.contains("via 10.8.0.1 dev v0 proto bgp metric 20"),
        "{line}"
    );
    wait_for(SESSION_TIMEOUT, poll, "FRR's prefix in GoBGP's RIB", || {
        let rib = gobgp.cli(&c, &["global", "rib", "-a", "ipv4"]);
        if rib.contains("198.51.100.2/32") {
            Ok(())
        } else {
            Err(rib)
        }
    });
    let pcap = capture.finish();
    let segments = tcp_payloads(&pcap);
    // Each side's first BGP message is an OPEN: marker, length, type 1.
    for (who, from_179) in [("the passive side", true), ("the active side", false)] {
        let open = segments.iter().find(|(sport, _, p)| {
            (*sport == 179) == from_179 && p.len() >= 19 && p[..16] == [0xff; 16] && p[18] == 1
        });
        assert!(
            open.is_some(),
            "no OPEN from {who} in {} segments",
            segments.len()
        );
    }
}

/// FRR in B: announces its two prefixes to A.
fn frr_b() -> String {
    EdgeConfig {
        asn: 65002,
        peer_asn: 65001,
        ..EdgeConfig::b(&["198.51.100.2/32", "2001:db8:2::1/128"])
    }
    .bgpd_conf()
}
