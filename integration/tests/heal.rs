//! Self-healing: what wgbgpd put in the kernel and someone deletes with `ip` comes back by
//! itself (a BGP route, a host route to the peer's loopback, a loopback address within a
//! second; a deleted wg interface is recreated and the session and route recover), each repair
//! is logged and counted in `wgbgp_kernel_repairs_total{kind}`, and a route of another
//! protocol to the same prefix is never overwritten or removed.
//!
//! ```text
//!   +-----------------+  veth 10.8.0.1 -- 10.8.0.2  +-----------------+
//!   | A  wgbgpd       |=============================| B  wgbgpd       |
//!   | lo 1.1.1.1      |   wg (keepalive 1 s)        | lo 2.2.2.2      |
//!   | /metrics        |                             | 198.51.100.0/24 |
//!   +-----------------+                             +-----------------+
//!     things are deleted in A, behind wgbgpd's back
//! ```

use std::time::{Duration, Instant};

use integration::{Netns, Wgbgpd, WgbgpdPair, require_root, wait_for};

const T: Duration = Duration::from_secs(40);
/// The promise: back within a second.
const HEAL: Duration = Duration::from_secs(1);
const PREFIX: &str = "198.51.100.0/24";

/// A and B peered over a tunnel, B's prefix installed in A. Field order is
/// drop order: the daemons before their namespaces.
struct Lab {
    a: Wgbgpd,
    b: Wgbgpd,
    /// A's tunnel interface.
    ifa: String,
    pair: WgbgpdPair,
}

fn lab() -> Lab {
    require_root();
    let pair = WgbgpdPair::new("h", "10.8.0");
    let (a_ns, b_ns) = (&pair.ns.a, &pair.ns.b);
    b_ns.add_lo_addr("198.51.100.1/32");
    let b_yaml = burst()
        .iter()
        .fold(pair.b_config().announce(PREFIX), |c, p| c.announce(p))
        .render();
    let a_yaml = pair.a_config().metrics("127.0.0.1:9179").render();
    let b = Wgbgpd::start(b_ns, &b_yaml);
    let mut a = Wgbgpd::start(a_ns, &a_yaml);
    a.wait_established(a_ns, "2.2.2.2", T);
    wait_for(
        T,
        Duration::from_millis(100),
        "B's prefix in A's kernel",
        || bgp_route(a_ns).ok_or_else(|| a_ns.routes("")),
    );
    Lab {
        a,
        b,
        ifa: pair.if_a.clone(),
        pair,
    }
}

impl Lab {
    /// Waits until `wgbgp_kernel_repairs_total{kind=KIND}` is 1, and checks
    /// the log says `WHAT was deleted behind our back: restored`.
    fn wait_repaired_once(&self, kind: &str, what: &str) {
        let a_ns = &self.pair.ns.a;
        wait_for(
            T,
            Duration::from_millis(100),
            &format!("{kind} repair counted"),
            || match repairs(a_ns, kind) {
                1 => Ok(()),
                n => Err(format!("kernel_repairs_total{{kind={kind}}} = {n}")),
            },
        );
        assert!(
            self.a
                .log_text()
                .contains(&format!("{what} was deleted behind our back: restored")),
            "no repair log line"
        );
    }
}

/// More prefixes B announces, for a burst of deletions.
fn burst() -> Vec<String> {
    (0..50).map(|i| format!("198.18.{i}.0/24")).collect()
}

/// A's `proto bgp` route to B's prefix.
fn bgp_route(ns: &Netns) -> Option<String> {
    let out = ns.stdout(&["ip", "route", "show", "exact", PREFIX, "proto", "bgp"]);
    (!out.trim().is_empty()).then(|| out.trim().to_string())
}

/// Polls `f` every 5 ms until it holds; panics after `within`; returns how long it took.
fn time_until(within: Duration, what: &str, mut f: impl FnMut() -> Result<(), String>) -> Duration {
    let start = Instant::now();
    wait_for(within, Duration::from_millis(5), what, &mut f);
    start.elapsed()
}

/// `wgbgp_kernel_repairs_total{kind="KIND"}`, 0 when absent.
fn repairs(ns: &Netns, kind: &str) -> u64 {
    let series = format!("wgbgp_kernel_repairs_total{{kind=\"{kind}\"}}");
    let text = integration::metrics::scrape(ns, "127.0.0.1:9179");
    integration::metrics::value(&text, &series).map_or(0, |v| v as u64)
}

#[test]
fn deleted_route_host_route_and_loopback_come_back_within_a_second() {
    let mut lab = lab();
    let (a_ns, ifa) = (&lab.pair.ns.a, lab.ifa.clone());

    // Another protocol's route to the same prefix at another metric lives
    // next to ours throughout.
    a_ns.route_add(&format!(
        "{PREFIX} via 10.8.0.2 dev eth1 proto static metric 10"
    ));
    let statics = || a_ns.stdout(&["ip", "route", "show", "exact", PREFIX, "proto", "static"]);

    // 1. Our BGP route.
    a_ns.exec(&["ip", "route", "del", PREFIX, "proto", "bgp", "metric", "20"]);
    let took = time_until(HEAL, "the deleted BGP route back", || {
        bgp_route(a_ns).map(|_| ()).ok_or_else(|| a_ns.routes(""))
    });
    eprintln!("heal: proto bgp route deleted -> re-installed in {took:?}");
    let r = bgp_route(a_ns).unwrap();
    assert!(
        r.contains(&format!("dev {ifa}")) && r.contains("metric 20"),
        "{r}"
    );
    assert!(statics().contains("metric 10"), "{}", statics());
    lab.wait_repaired_once("route", &format!("route {PREFIX}"));

    // 2. Another protocol takes our slot (same prefix and metric): it is
    // never overwritten, and ours comes back once it leaves.
    a_ns.exec(&[
        "ip", "route", "replace", PREFIX, "via", "10.8.0.2", "dev", "eth1", "proto", "static",
        "metric", "20",
    ]);
    // The next hop going and coming back (its host route deleted and
    // restored) makes the RIB install the prefix again, and B sending its
    // routes again makes it re-decide it: without the check either would be
    // an NLM_F_REPLACE over the static route.
    a_ns.exec(&["ip", "route", "del", "2.2.2.2/32", "dev", &ifa]);
    wait_for(
        HEAL,
        Duration::from_millis(5),
        "the host route back",
        || {
            a_ns.route_to("2.2.2.2")
                .map(|_| ())
                .ok_or_else(|| a_ns.routes(""))
        },
    );
    lab.a.cli(a_ns, &["clear", "bgp", "p", "soft", "in"]);
    std::thread::sleep(Duration::from_millis(1500));
    let s = statics();
    assert!(s.contains("metric 20") && s.contains("metric 10"), "{s}");
    assert_eq!(bgp_route(a_ns), None, "ours must stand back");
    a_ns.exec(&[
        "ip", "route", "del", PREFIX, "proto", "static", "metric", "20",
    ]);
    let took = time_until(HEAL, "our route back after the other left", || {
        bgp_route(a_ns).map(|_| ()).ok_or_else(|| a_ns.routes(""))
    });
    eprintln!("heal: other protocol's route at our metric removed -> ours installed in {took:?}");
    assert!(statics().contains("metric 10"), "{}", statics());
    assert_eq!(repairs(a_ns, "route"), 1, "standing back is not a repair");

    // 3. The host route to the peer's loopback (and with it the BGP route).
    a_ns.exec(&["ip", "route", "del", "2.2.2.2/32", "dev", &ifa]);
    let took = time_until(HEAL, "the host route back", || {
        match a_ns.route_to("2.2.2.2") {
            Some(r) if r.contains(&format!("dev {ifa}")) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    eprintln!("heal: host route deleted -> restored in {took:?}");
    wait_for(
        HEAL,
        Duration::from_millis(5),
        "the BGP route over it back",
        || bgp_route(a_ns).map(|_| ()).ok_or_else(|| a_ns.routes("")),
    );
    assert_eq!(repairs(a_ns, "host_route"), 2, "this one and step 2's");

    // 4. The loopback address on lo.
    a_ns.exec(&["ip", "addr", "del", "1.1.1.1/32", "dev", "lo"]);
    let took = time_until(HEAL, "the loopback address back", || {
        let out = a_ns.stdout(&["ip", "-4", "addr", "show", "dev", "lo"]);
        if out.contains("1.1.1.1/32") {
            Ok(())
        } else {
            Err(out)
        }
    });
    eprintln!("heal: loopback address deleted -> restored in {took:?}");
    assert_eq!(repairs(a_ns, "loopback"), 1);

    // 5. A burst: every route of ours at once, as another daemon's purge would.
    let ours = || {
        a_ns.stdout(&["ip", "-4", "route", "show", "proto", "bgp"])
            .lines()
            .count()
    };
    assert_eq!(ours(), 51);
    a_ns.exec(&["ip", "-4", "route", "flush", "proto", "bgp"]);
    let took = time_until(HEAL, "all 51 routes back", || match ours() {
        51 => Ok(()),
        n => Err(format!("{n} of 51")),
    });
    eprintln!("heal: ip route flush proto bgp (51 routes) -> all re-installed in {took:?}");
    assert!(statics().contains("metric 10"), "{}", statics());

    // Nothing fights in a loop: one repair each, the session never dropped.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(repairs(a_ns, "route"), 52);
    assert_eq!(repairs(a_ns, "host_route"), 2);
    assert_eq!(repairs(a_ns, "loopback"), 1);
    assert_eq!(repairs(a_ns, "interface"), 0);
    lab.a.wait_established(a_ns, "2.2.2.2", T);
    assert!(bgp_route(a_ns).is_some());
    lab.b.check_alive();
}

#[test]
fn deleted_wg_interface_is_recreated_and_the_session_recovers() {
    let mut lab = lab();
    let (a_ns, ifa) = (&lab.pair.ns.a, lab.ifa.clone());
    a_ns.exec(&["ip", "link", "del", &ifa]);
    let gone = Instant::now();
    let took = time_until(Duration::from_secs(5), "the interface back", || {
        let out = a_ns.try_exec(&["ip", "link", "show", "dev", &ifa]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    eprintln!("heal: wg interface deleted -> recreated in {took:?}");
    wait_for(
        Duration::from_secs(5),
        Duration::from_millis(5),
        "host route on the new interface",
        || match a_ns.route_to("2.2.2.2") {
            Some(r) if r.contains(&format!("dev {ifa}")) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // The session rides it out (or re-establishes) well within the hold time.
    wait_for(
        T,
        Duration::from_millis(20),
        "B's prefix back in A's kernel",
        || bgp_route(a_ns).map(|_| ()).ok_or_else(|| a_ns.routes("")),
    );
    eprintln!(
        "heal: wg interface deleted -> BGP route back in {:?}",
        gone.elapsed()
    );
    lab.a.wait_established(a_ns, "2.2.2.2", T);
    assert!(
        a_ns.ping("2.2.2.2"),
        "no traffic through the recreated tunnel"
    );
    lab.wait_repaired_once("interface", &format!("interface {ifa}"));
    lab.b.check_alive();
    lab.a.check_alive();
}
