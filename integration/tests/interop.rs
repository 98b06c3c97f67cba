//! Interop: wgbgpd peers over WireGuard with BIRD 2 and, separately, with FRR.
//!
//! In each test wgbgpd runs in namespace A and makes its own tunnel to B; the
//! other router runs in namespace B behind a tunnel made by hand with
//! wireguard-go and `wg`, exactly as the seed post does (AllowedIPs 0/0 and
//! ::/0, no address, host routes to A's loopbacks). One eBGP session runs
//! loopback to loopback over IPv4 and carries IPv4 and IPv6 unicast; routes
//! must flow both ways and land in both kernels, and traffic between the
//! announced addresses must cross the tunnel.

use std::time::Duration;

use integration::frr::EdgeConfig;
use integration::wgbgpd::cli_bin;
use integration::{
    Bird, Config, Frr, HandTunnel, Netns, POLL, Pair, Peer, SESSION_TIMEOUT, Wgbgpd, require_root,
    wait_for,
};

/// The key paths of FRR's JSON that wgbgp's must have, and the ones it
/// lacks with the reason (shared with the unit tests of `show`).
#[path = "../../bin/src/frr_keys.rs"]
#[allow(dead_code)]
mod frr_keys;

/// What A (wgbgpd) announces, and the addresses inside it that pings use.
const A_V4: &str = "198.18.0.0/24";
const A_V6: &str = "2001:db8:a::/48";
const A_ADDR4: &str = "198.18.0.1";
const A_ADDR6: &str = "2001:db8:a::1";
/// What B (BIRD or FRR) announces, and the addresses inside it.
const B_V4: &str = "198.51.100.0/24";
const B_V6: &str = "2001:db8:b::/48";
const B_ADDR4: &str = "198.51.100.1";
const B_ADDR6: &str = "2001:db8:b::1";

/// [`Netns::ping_from`], panicking on failure.
fn ping_from(ns: &Netns, src: &str, dst: &str) {
    if let Err(e) = ns.ping_from(src, dst) {
        panic!("{e}");
    }
}

/// The two namespaces, wgbgpd in A with its tunnel to B, and B's hand-made
/// tunnel end. Field order is drop order: daemons and tunnels before the
/// namespaces they live in.
struct Lab {
    wgbgpd: Wgbgpd,
    tunnel: HandTunnel,
    a: Netns,
    b: Netns,
}

/// wgbgpd's config in A: loopbacks, announcements, one peer `b` with a
/// tunnel; imports everything, exports only its own prefixes.
fn wgbgpd_config(tunnel: &HandTunnel) -> String {
    let own =
        format!(r#"{{ match: {{ prefix: ["{A_V4} le 32", "{A_V6} le 128"] }}, action: accept }}"#);
    Config::tunnel_node("1.1.1.1", 65500, &tunnel.a_key_file)
        .loopback("fd00::1/128")
        .announce(A_V4)
        .announce(A_V6)
        .peer(
            Peer::new("b", 65501, "2.2.2.2")
                .addresses(&["2.2.2.2", "fd00::2"])
                .set("description", "B")
                .tunnel(tunnel.a_side("10.60.0.2").keepalive(5))
                .policies("accept-all", "own"),
        )
        .accept_all("accept-all")
        .policy("own", &[&own, "{ action: reject }"])
        .render()
}

impl Lab {
    /// Builds A and B, B's tunnel (listening on 51820, host routes to A's
    /// loopbacks) and starts wgbgpd in A, which dials B's tunnel; returns
    /// once A reaches B's loopbacks through the tunnel.
    fn new(tag: &str) -> Lab {
        let Pair { a, b, .. } = Pair::new(tag, "v0", "10.60.0");
        // wgbgpd puts 1.1.1.1 and fd00::1 on A's lo itself.
        a.add_lo_addr(&format!("{A_ADDR4}/32"));
        a.add_lo_addr(&format!("{A_ADDR6}/128"));
        for addr in ["2.2.2.2/32", "fd00::2/128"] {
            b.add_lo_addr(addr);
        }
        b.add_lo_addr(&format!("{B_ADDR4}/32"));
        b.add_lo_addr(&format!("{B_ADDR6}/128"));
        let tunnel = HandTunnel::new(&b, "i", &["1.1.1.1/32", "fd00::1/128"], None);
        let wgbgpd = Wgbgpd::start(&a, &wgbgpd_config(&tunnel));
        let lab = Lab {
            wgbgpd,
            tunnel,
            a,
            b,
        };
        // wgbgpd's part: the loopbacks on lo, the host routes into its
        // tunnel. The host routes carry no `src`, and the kernel would pick
        // the first address on lo (198.18.0.1, which B learns only by BGP),
        // so the pings name the loopback as source, as the BGP session does.
        for (src, dst) in [("1.1.1.1", "2.2.2.2"), ("fd00::1", "fd00::2")] {
            lab.a.wait_ping_from(src, dst, Duration::from_secs(10));
        }
        lab
    }

    /// Asserts what A must show once routes flowed: the learned routes
    /// installed recursively via B's loopbacks, onlink in wgbgpd's tunnel,
    /// and one prefix received per family in wgbgpd's FRR-style summary.
    fn assert_a_learned(&mut self) {
        for (prefix, gw) in [(B_V4, "2.2.2.2"), (B_V6, "fd00::2")] {
            let want = format!(
                "{prefix} via {gw} dev {} proto bgp metric 20 onlink",
                self.tunnel.a_if
            );
            let via = format!("via {gw} dev {}", self.tunnel.a_if);
            let line = self.a.wait_route(prefix, &via, SESSION_TIMEOUT);
            assert!(line.starts_with(&want), "want `{want}`, got `{line}`");
            eprintln!("A (wgbgpd): {line}");
        }
        let summary = self.wgbgpd.cli_json(&self.a, &["show", "bgp", "summary"]);
        for af in ["ipv4Unicast", "ipv6Unicast"] {
            let p = &summary[af]["peers"]["2.2.2.2"];
            assert_eq!(p["state"], "Established", "{af}: {summary:#}");
            assert_eq!(p["remoteAs"], 65501, "{af}: {summary:#}");
            assert_eq!(p["pfxRcd"], 1, "{af}: {summary:#}");
            assert_eq!(p["pfxSnt"], 1, "{af}: {summary:#}");
        }
    }

    /// After a restart of wgbgpd: Established again, B's routes learned
    /// again, each of B's two prefixes in A's kernel exactly once (after time
    /// for a late duplicate, a second install or a stale copy, to show), and
    /// traffic through.
    fn assert_relearned_once(&mut self, when: &str) {
        self.wgbgpd
            .wait_established(&self.a, "2.2.2.2", SESSION_TIMEOUT);
        self.assert_a_learned();
        std::thread::sleep(Duration::from_secs(2));
        let routes = self.a.bgp_routes();
        assert_eq!(
            routes.len(),
            2,
            "{when}: exactly B's two prefixes:\n{routes:#?}"
        );
        for prefix in [B_V4, B_V6] {
            let n = routes.iter().filter(|l| l.starts_with(prefix)).count();
            assert_eq!(n, 1, "{when}: {prefix} once:\n{routes:#?}");
        }
        self.assert_pings();
    }

    /// Traffic between the announced addresses crosses the tunnel both ways,
    /// IPv4 and IPv6.
    fn assert_pings(&self) {
        ping_from(&self.a, A_ADDR4, B_ADDR4);
        ping_from(&self.a, A_ADDR6, B_ADDR6);
        ping_from(&self.b, B_ADDR4, A_ADDR4);
        ping_from(&self.b, B_ADDR6, A_ADDR6);
    }
}

/// BIRD in B: static blackholes for what it announces, one BGP session from
/// its loopback to A's, learned routes exported to the kernel.
const BIRD_B: &str = r#"
log stderr all;
router id 2.2.2.2;
protocol device { scan time 2; }
protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:b::/48 blackhole; }
# `learn` brings the host routes to A's loopbacks (dev wg, no gateway) into
# BIRD, which resolves A's next hops recursively through them.
protocol kernel k4 { ipv4 { import all; export where source = RTS_BGP; }; learn; scan time 2; }
protocol kernel k6 { ipv6 { import all; export where source = RTS_BGP; }; learn; scan time 2; }
protocol bgp a {
    local 2.2.2.2 as 65501;
    neighbor 1.1.1.1 as 65500;
    # Loopback to loopback over an unnumbered tunnel: not "directly connected".
    multihop;
    connect retry time 2;
    # BIRD waits 60 s by default after a session error before it restarts
    # the protocol; the restart tests would wait for that.
    error wait time 1, 5;
    ipv4 { import all; export where net = 198.51.100.0/24; next hop self; };
    # Over an IPv4 session BIRD needs to be told its IPv6 next hop.
    ipv6 { import all; export where net = 2001:db8:b::/48; next hop address fd00::2; };
}
"#;

/// The lab (tagged `tag`) with FRR in B, both sides Established and what A
/// learned asserted ([`Lab::assert_a_learned`]).
fn lab_with_frr(tag: &str) -> (Lab, Frr) {
    let mut lab = Lab::new(tag);
    let mut frr = Frr::start(&lab.b, &frr_b(), "hostname b\n");
    frr.wait_established("1.1.1.1", SESSION_TIMEOUT);
    lab.wgbgpd
        .wait_established(&lab.a, "2.2.2.2", SESSION_TIMEOUT);
    lab.assert_a_learned();
    (lab, frr)
}

/// Starts BIRD in B, waits until both sides are Established and asserts
/// what A learned ([`Lab::assert_a_learned`]).
fn start_bird(lab: &mut Lab) -> Bird {
    let mut bird = Bird::start(&lab.b, BIRD_B);
    bird.wait_established("a", SESSION_TIMEOUT);
    lab.wgbgpd
        .wait_established(&lab.a, "2.2.2.2", SESSION_TIMEOUT);
    lab.assert_a_learned();
    bird
}

/// Asserts B's kernel got A's prefixes from BIRD's kernel protocol, into the
/// tunnel. BIRD 2.0 resolves next hop 1.1.1.1 through the host route, which
/// has no gateway, and so installs a device route:
/// `198.18.0.0/24 dev wgX proto bird scope link metric 32`.
fn assert_b_learned_from_bird(lab: &Lab, bird: &Bird) {
    let dev = format!("dev {}", lab.tunnel.wg.ifname());
    for prefix in [A_V4, A_V6] {
        let line = lab.b.wait_route(prefix, &dev, SESSION_TIMEOUT);
        assert!(line.contains("proto bird"), "{line}");
        eprintln!("B (BIRD): {line}");
    }
    let shown = bird.show_route("protocol a");
    assert!(shown.contains(A_V4) && shown.contains(A_V6), "{shown}");
}

/// wgbgpd and BIRD 2 over WireGuard, IPv4 and IPv6 over one IPv4 session:
///
/// ```text
///   lo 1.1.1.1 fd00::1 (by wgbgpd)      lo 2.2.2.2 fd00::2
///      198.18.0.1 2001:db8:a::1            198.51.100.1 2001:db8:b::1
///   announces 198.18.0.0/24             announces 198.51.100.0/24
///             2001:db8:a::/48                     2001:db8:b::/48
///   +-------------+ v0 10.60.0.1   10.60.0.2 v0 +-------------+
///   | A: wgbgpd   |-----------------------------| B: BIRD 2   |
///   | AS 65500    |==== wg (unnumbered) ========| AS 65501    |
///   +-------------+  made by wgbgpd | by hand   +-------------+
/// ```
#[test]
fn wgbgpd_and_bird_exchange_routes_over_wireguard() {
    require_root();
    let mut lab = Lab::new("ib");
    let bird = start_bird(&mut lab);
    assert_b_learned_from_bird(&lab, &bird);
    lab.assert_pings();
}

/// wgbgpd and FRR (bgpd + zebra) over WireGuard, IPv4 and IPv6 over one
/// IPv4 session:
///
/// ```text
///   lo 1.1.1.1 fd00::1 (by wgbgpd)      lo 2.2.2.2 fd00::2
///      198.18.0.1 2001:db8:a::1            198.51.100.1 2001:db8:b::1
///   announces 198.18.0.0/24             announces 198.51.100.0/24
///             2001:db8:a::/48                     2001:db8:b::/48
///   +-------------+ v0 10.60.0.1   10.60.0.2 v0 +-------------+
///   | A: wgbgpd   |-----------------------------| B: FRR      |
///   | AS 65500    |==== wg (unnumbered) ========| AS 65501    |
///   +-------------+  made by wgbgpd | by hand   +-------------+
/// ```
#[test]
fn wgbgpd_and_frr_exchange_routes_over_wireguard() {
    require_root();
    let (lab, frr) = lab_with_frr("if");

    // FRR resolves A's loopbacks recursively and installs them as onlink
    // gateways on its tunnel.
    for (prefix, gw) in [(A_V4, "1.1.1.1"), (A_V6, "fd00::1")] {
        let want = format!(
            "via {gw} dev {} proto bgp metric 20 onlink",
            lab.tunnel.wg.ifname()
        );
        let line = lab.b.wait_route(prefix, &want, SESSION_TIMEOUT);
        eprintln!("B (FRR): {line}");
    }
    let summary = frr.vtysh_json("show bgp summary json");
    for af in ["ipv4Unicast", "ipv6Unicast"] {
        let p = &summary[af]["peers"]["1.1.1.1"];
        assert_eq!(p["state"], "Established", "{af}: {summary:#}");
        assert_eq!(p["pfxRcd"], 1, "{af}: {summary:#}");
    }
    // What FRR learned carries wgbgpd's loopbacks as next hops.
    let v4 = frr.vtysh_json("show bgp ipv4 unicast json");
    let r = &v4["routes"][A_V4][0];
    assert_eq!(r["nexthops"][0]["ip"], "1.1.1.1", "{v4:#}");
    let v6 = frr.vtysh_json("show bgp ipv6 unicast json");
    let r = &v6["routes"][A_V6][0];
    assert_eq!(r["nexthops"][0]["ip"], "fd00::1", "{v6:#}");
    lab.assert_pings();
}

/// The JSON of both ends of one session, wgbgpd's and FRR's, key path by
/// key path, for the commands scripts written for vtysh use, asked the
/// vtysh way (`show ip bgp ...`, a trailing `json`):
///
/// ```text
///   +-------------+ v0 10.60.0.1   10.60.0.2 v0 +-------------+
///   | A: wgbgpd   |==== wg (unnumbered) ========| B: FRR      |
///   | 1.1.1.1     |  eBGP loopback to loopback  | 2.2.2.2     |
///   +-------------+                             +-------------+
///   A: show ... json   <- same key paths and types ->   B: show ... json
/// ```
#[test]
fn wgbgpd_json_has_the_keys_of_frrs_on_the_same_session() {
    require_root();
    let (lab, frr) = lab_with_frr("ij");
    // Both tables complete: FRR has A's prefixes.
    wait_for(SESSION_TIMEOUT, POLL, "FRR to learn A's prefix", || {
        let v = frr.vtysh_json(&format!("show bgp ipv4 unicast {A_V4} json"));
        v.get("paths").map(|_| ()).ok_or_else(|| format!("{v:#}"))
    });
    let ours = |args: &str| {
        let args: Vec<&str> = args.split(' ').collect();
        let text = lab.wgbgpd.cli(&lab.a, &args);
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("wgbgp {args:?} gave no JSON ({e}):\n{text}"))
    };
    let mut problems = Vec::new();
    for (what, a, b, missing) in [
        (
            "summary",
            "show bgp summary json".to_string(),
            "show bgp summary json".to_string(),
            [frr_keys::SUMMARY_MISSING, frr_keys::SUMMARY_LIVE_MISSING].concat(),
        ),
        (
            "neighbors",
            "show bgp neighbors json".into(),
            "show bgp neighbors json".into(),
            [frr_keys::NEIGHBOR_MISSING, frr_keys::NEIGHBOR_LIVE_MISSING].concat(),
        ),
        (
            "neighbors ADDR",
            "show bgp neighbors 2.2.2.2 json".into(),
            "show bgp neighbors 1.1.1.1 json".into(),
            [frr_keys::NEIGHBOR_MISSING, frr_keys::NEIGHBOR_LIVE_MISSING].concat(),
        ),
        (
            "PREFIX",
            format!("show ip bgp {B_V4} json"),
            format!("show ip bgp {A_V4} json"),
            [frr_keys::ROUTE_MISSING, frr_keys::ROUTE_LIVE_MISSING].concat(),
        ),
        (
            "table",
            "show ip bgp json".into(),
            "show ip bgp json".into(),
            frr_keys::TABLE_MISSING.to_vec(),
        ),
        (
            "advertised-routes",
            "show bgp neighbors 2.2.2.2 advertised-routes json".into(),
            "show ip bgp neighbors 1.1.1.1 advertised-routes json".into(),
            frr_keys::ADVERTISED_MISSING.to_vec(),
        ),
    ] {
        let (ours, theirs) = (ours(&a), frr.vtysh_json(&b));
        for p in frr_keys::compare(&ours, &theirs, &missing) {
            problems.push(format!("{what}: {p}"));
        }
        if what == "PREFIX" {
            let best = &ours["paths"][0]["bestpath"];
            assert_eq!(best["overall"], true, "{ours:#}");
            assert!(best["selectionReason"].is_string(), "{ours:#}");
        }
        if what == "neighbors" {
            let caps = &ours["2.2.2.2"]["neighborCapabilities"];
            assert_eq!(
                caps["multiprotocolExtensions"]["ipv4Unicast"]["advertisedAndReceived"], true,
                "{ours:#}"
            );
            assert_eq!(ours["2.2.2.2"]["hostLocal"], "1.1.1.1", "{ours:#}");
            assert_eq!(ours["2.2.2.2"]["hostForeign"], "2.2.2.2", "{ours:#}");
        }
    }
    assert!(
        problems.is_empty(),
        "FRR's keys that wgbgpd lacks:\n  {}",
        problems.join("\n  ")
    );
}

/// Withdraw and restart with BIRD as the peer:
///
/// ```text
///   +-------------+ v0 10.60.0.1   10.60.0.2 v0 +-------------+
///   | A: wgbgpd   |==== wg (unnumbered) ========| B: BIRD 2   |
///   +-------------+                             +-------------+
///   1. BIRD stops (SIGTERM: Cease)  -> A's kernel loses B's prefixes
///   2. BIRD starts again            -> they return
///   3. wgbgpd stops                 -> A's kernel has no proto bgp route
///   4. wgbgpd starts again          -> each of B's prefixes exactly once
///   5. wgbgpd is SIGKILLed          -> its routes stay behind (stale)
///   6. wgbgpd starts again          -> purged and reinstalled, once each
/// ```
#[test]
fn stopping_the_peer_withdraws_and_restart_leaves_no_duplicates() {
    require_root();
    let mut lab = Lab::new("ir");
    let bird = start_bird(&mut lab);

    // BIRD shuts its sessions down with a Cease NOTIFICATION on SIGTERM.
    drop(bird);
    for prefix in [B_V4, B_V6] {
        wait_for(
            Duration::from_secs(10),
            POLL,
            &format!("{prefix} to leave A"),
            || lab.a.no_route(prefix),
        );
    }
    assert_eq!(lab.a.bgp_routes(), Vec::<String>::new());

    let bird = start_bird(&mut lab);
    assert_b_learned_from_bird(&lab, &bird);

    // A clean stop withdraws what wgbgpd installed.
    lab.wgbgpd.stop();
    assert_eq!(
        lab.a.bgp_routes(),
        Vec::<String>::new(),
        "wgbgpd left routes behind"
    );
    lab.wgbgpd.restart(&lab.a);
    lab.assert_relearned_once("after a clean restart");

    // A crash leaves the installed routes behind; the next start must purge
    // them and install each prefix once again.
    kill_wgbgpd(&lab.a);
    let stale = lab.a.bgp_routes();
    assert_eq!(stale.len(), 2, "SIGKILL leaves the routes:\n{stale:#?}");
    lab.wgbgpd.restart(&lab.a);
    // The killed daemon's control socket file is still there, so
    // `restart` returns before the new daemon listens on it.
    wait_for(
        Duration::from_secs(10),
        POLL,
        "the restarted wgbgpd to answer on its control socket",
        || {
            let mut args = vec![cli_bin().into_os_string(), "--socket".into()];
            args.push(lab.wgbgpd.socket().into());
            args.extend(["show", "bgp", "summary"].map(Into::into));
            let out = lab.a.try_exec(&args);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        },
    );
    lab.assert_relearned_once("after a crash and restart");
}

/// SIGKILLs the wgbgpd process in `ns` (found by name among the namespace's
/// pids; only this test's daemon runs there) and waits until it is gone.
fn kill_wgbgpd(ns: &Netns) {
    let pids: Vec<u32> = ns
        .pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "wgbgpd")
        })
        .collect();
    assert_eq!(pids.len(), 1, "one wgbgpd in netns {}: {pids:?}", ns.name());
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
    wait_for(Duration::from_secs(5), POLL, "wgbgpd to die", || {
        if ns.pids().contains(&pids[0]) && !integration::netns::is_zombie(pids[0] as i32) {
            Err(format!("{} still alive", pids[0]))
        } else {
            Ok(())
        }
    });
}

/// FRR in B: announces its two prefixes to A.
fn frr_b() -> String {
    EdgeConfig::b(&["198.51.100.0/24", "2001:db8:b::/48"]).bgpd_conf()
}
