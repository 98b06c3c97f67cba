//! Proves the namespace harness itself, and records how the reference
//! implementations behave on this setup (no wgbgpd here):
//!
//! - namespaces, child processes and `in_ns` clean up and isolate;
//! - the seed lab of the blog post with FRR on S1, S2 and S3 over wireguard-go
//!   tunnels made by hand, which is the behaviour wgbgpd must reproduce;
//! - BIRD 2 and FRR peering over a hand-made tunnel, IPv4 and IPv6, which is
//!   the ground the interop tests stand on.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use integration::{Frr, Netns, SeedLab, WgKey, WgPeer, WgPeerConfig, require_root, veth, wait_for};

const SESSION_TIMEOUT: Duration = Duration::from_secs(40);

/// The kernel route for exactly `prefix` in `ns` (`ip route show exact`), or
/// the whole table as the error, for `wait_for`.
fn route(ns: &Netns, prefix: &str) -> Result<String, String> {
    let fam = if prefix.contains(':') { "-6" } else { "-4" };
    let line = ns.stdout(&["ip", fam, "route", "show", "exact", prefix]);
    if line.trim().is_empty() {
        Err(format!("no route for {prefix}; table:\n{}", ns.routes("")))
    } else {
        Ok(line.trim().to_string())
    }
}

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
    let a = Netns::new("ina");
    let b = Netns::new("inb");
    veth(
        &a,
        "v0",
        Some("10.77.0.1/24"),
        &b,
        "v0",
        Some("10.77.0.2/24"),
    );
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

/// The seed post's S2/S3 FRR config: announce one connected prefix only.
fn frr_spoke(asn: u32, me: &str, prefix: &str) -> String {
    format!(
        "frr defaults traditional
hostname spoke{asn}
log stdout informational
router bgp {asn}
 bgp router-id {me}
 neighbor 1.1.1.1 remote-as 65500
 neighbor 1.1.1.1 description S1
 neighbor 1.1.1.1 disable-connected-check
 neighbor 1.1.1.1 update-source {me}
 neighbor 1.1.1.1 timers connect 5
 !
 address-family ipv4 unicast
  redistribute connected
  neighbor 1.1.1.1 route-map ALLOW-ALL in
  neighbor 1.1.1.1 route-map BGP-OUT out
 exit-address-family
!
ip prefix-list DUMMY0 seq 5 permit {prefix}
!
route-map BGP-OUT permit 100
 match ip address prefix-list DUMMY0
!
route-map ALLOW-ALL permit 100
!
"
    )
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
        &frr_spoke(65501, "2.2.2.2", "198.19.0.1/32"),
        "hostname s2\n",
    );
    let mut s3 = Frr::start(
        &lab.s3,
        &frr_spoke(65502, "3.3.3.3", "198.18.0.1/32"),
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
        || route(&lab.s1, "198.18.0.1"),
    );
    let via2 = wait_for(
        SESSION_TIMEOUT,
        Duration::from_millis(250),
        "198.19.0.1 in S1's kernel",
        || route(&lab.s1, "198.19.0.1"),
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
    assert!(route(&lab.s2, "198.18.0.1").is_err());
    let summary = s1.vtysh_json("show bgp summary json");
    for peer in ["2.2.2.2", "3.3.3.3"] {
        let p = &summary["ipv4Unicast"]["peers"][peer];
        assert_eq!(p["state"], "Established", "{summary:#}");
        assert_eq!(p["pfxRcd"], 1, "{summary:#}");
    }
    lab.s1.wait_ping("198.18.0.1", Duration::from_secs(5));
    lab.s1.wait_ping("198.19.0.1", Duration::from_secs(5));
}
