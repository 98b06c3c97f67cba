//! Graceful Restart helper (RFC 4724): FRR's bgpd announces the capability
//! and is killed with SIGKILL (a crash: no NOTIFICATION); wgbgpd keeps its
//! route in the kernel while bgpd is away, until it comes back and sends
//! End-of-RIB — or until the Restart Time runs out. Without
//! `graceful_restart` on the wgbgpd side the route goes at once.
//!
//! ```text
//!   +-------------+ v0 10.61.0.1   10.61.0.2 v0 +-------------+
//!   | A: wgbgpd   |-----------------------------| B: FRR      |
//!   | AS 65500    |      plain eBGP (veth)      | AS 65501    |
//!   +-------------+                             +-------------+
//!                                      announces 198.51.100.0/24
//! ```

use std::time::{Duration, Instant};

use integration::{Frr, Netns, Wgbgpd, require_root, veth, wait_for};

const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const B_V4: &str = "198.51.100.0/24";

fn wgbgpd_config(graceful_restart: &str) -> String {
    format!(
        r#"router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32]
peers:
  b:
    asn: 65501
    address: 10.61.0.2
    local_address: 10.61.0.1
    import: [accept-all]
    export: [accept-all]
    graceful_restart: {graceful_restart}
policies:
  accept-all:
    - action: accept
"#
    )
}

/// bgpd with Graceful Restart and the given Restart Time; it keeps its
/// forwarding state (F bit), as a router whose zebra keeps the routes.
fn frr_config(restart_time: u16) -> String {
    format!(
        "frr defaults traditional
hostname b
log stdout informational
! Defined before use: a route-map bgpd meets only later in the file
! filters everything until its route-map update timer runs (5 s), and the
! restarted bgpd would send End-of-RIB without its route meanwhile.
route-map ALLOW-ALL permit 100
!
router bgp 65501
 bgp router-id 2.2.2.2
 no bgp network import-check
 bgp graceful-restart
 bgp graceful-restart preserve-fw-state
 bgp graceful-restart restart-time {restart_time}
 neighbor 10.61.0.1 remote-as 65500
 neighbor 10.61.0.1 timers connect 2
 !
 address-family ipv4 unicast
  network {B_V4}
  neighbor 10.61.0.1 route-map ALLOW-ALL in
  neighbor 10.61.0.1 route-map ALLOW-ALL out
 exit-address-family
!
"
    )
}

/// Field order is drop order: daemons before their namespaces.
struct Lab {
    wgbgpd: Wgbgpd,
    frr: Frr,
    a: Netns,
    b: Netns,
}

impl Lab {
    fn new(tag: &str, graceful_restart: &str, restart_time: u16) -> Lab {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        veth(
            &a,
            "v0",
            Some("10.61.0.1/24"),
            &b,
            "v0",
            Some("10.61.0.2/24"),
        );
        let wgbgpd = Wgbgpd::start(&a, &wgbgpd_config(graceful_restart));
        let frr = Frr::start(&b, &frr_config(restart_time), "hostname b\n");
        let mut lab = Lab { wgbgpd, frr, a, b };
        lab.wait_up();
        lab
    }

    /// Both sides Established and B's route in A's kernel.
    fn wait_up(&mut self) {
        self.frr.wait_established("10.61.0.1", SESSION_TIMEOUT);
        self.wgbgpd
            .wait_established(&self.a, "10.61.0.2", SESSION_TIMEOUT);
        wait_for(SESSION_TIMEOUT, POLL, "B's route in A's kernel", || {
            self.route().ok_or_else(|| self.a.routes(""))
        });
    }

    fn route(&self) -> Option<String> {
        self.a
            .route_to(B_V4)
            .filter(|l| l.contains("via 10.61.0.2") && l.contains("proto bgp"))
    }

    /// Asserts B's route stays in A's kernel for `how_long`, polling.
    fn assert_route_stays(&self, how_long: Duration, what: &str) {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            assert!(
                self.route().is_some(),
                "{what}: {B_V4} left A's kernel\n{}\n{}",
                self.a.routes(""),
                self.wgbgpd.log_text()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The paths wgbgpd shows for B's prefix.
    fn shown_paths(&self) -> serde_json::Value {
        let v = self
            .wgbgpd
            .cli_json(&self.a, &["show", "bgp", "ipv4", "unicast"]);
        v["routes"][B_V4].clone()
    }

    /// Waits until wgbgpd no longer has the session Established.
    fn wait_session_down(&self) {
        wait_for(
            Duration::from_secs(10),
            POLL,
            "wgbgpd to see B go",
            || match self.wgbgpd.peer_state(&self.a, "10.61.0.2") {
                Some(s) if s == "Established" => Err(s),
                _ => Ok(()),
            },
        );
    }
}

/// bgpd crashes and comes back within its Restart Time: the route never
/// leaves A's kernel, is shown stale meanwhile, and is fresh after
/// End-of-RIB.
#[test]
fn route_survives_a_peer_restart() {
    require_root();
    let mut lab = Lab::new("grok", "true", 120);
    let killed = Instant::now();
    lab.frr.kill_bgpd();
    lab.wait_session_down();
    lab.assert_route_stays(Duration::from_secs(3), "bgpd down");
    let paths = lab.shown_paths();
    assert_eq!(paths[0]["stale"], true, "{paths:#}");
    assert_eq!(paths[0]["bestpath"], true, "{paths:#}");

    lab.frr.start_bgpd(&lab.b);
    // Poll the kernel while the session comes back: the route must not
    // flap (FRR keeps forwarding state: F bit set in its new OPEN).
    let until = Instant::now() + SESSION_TIMEOUT;
    let mut back = false;
    while Instant::now() < until {
        assert!(
            lab.route().is_some(),
            "{B_V4} left A's kernel during the restart\n{}",
            lab.wgbgpd.log_text()
        );
        let path = &lab.shown_paths()[0];
        if lab.wgbgpd.peer_state(&lab.a, "10.61.0.2").as_deref() == Some("Established")
            && path["bestpath"] == true
            && path.get("stale").is_none()
        {
            back = true;
            break;
        }
        std::thread::sleep(POLL);
    }
    assert!(
        back,
        "session not back with a fresh path: {:#}\n{}",
        lab.shown_paths(),
        lab.wgbgpd.log_text()
    );
    lab.frr.wait_established("10.61.0.1", SESSION_TIMEOUT);
    assert!(lab.route().is_some());
    let log = lab.wgbgpd.log_text();
    assert!(
        log.contains("keeping the routes of the session as stale"),
        "{log}"
    );
    eprintln!(
        "bgpd restart: route kept for {:?} until fresh again",
        killed.elapsed()
    );
}

/// bgpd crashes and stays down: the stale route goes when FRR's Restart
/// Time (5 s) runs out, not before.
#[test]
fn stale_route_goes_when_the_restart_time_runs_out() {
    require_root();
    let mut lab = Lab::new("grto", "true", 5);
    let killed = Instant::now();
    lab.frr.kill_bgpd();
    lab.wait_session_down();
    lab.assert_route_stays(Duration::from_secs(3), "within the restart time");
    wait_for(
        Duration::from_secs(10),
        POLL,
        "the stale route to leave A's kernel",
        || match lab.route() {
            Some(l) => Err(format!("still there: {l}")),
            None => Ok(()),
        },
    );
    let gone = killed.elapsed();
    eprintln!("stale route removed {gone:?} after the kill (restart time 5 s)");
    assert!(
        gone >= Duration::from_millis(4500),
        "removed after {gone:?}"
    );
    assert!(lab.shown_paths().is_null(), "{:#}", lab.shown_paths());
}

/// With `graceful_restart: false` wgbgpd announces no capability and
/// withdraws the route as soon as the session ends.
#[test]
fn without_graceful_restart_the_route_goes_at_once() {
    require_root();
    let mut lab = Lab::new("groff", "false", 120);
    let killed = Instant::now();
    lab.frr.kill_bgpd();
    wait_for(
        Duration::from_secs(3),
        POLL,
        "the route to leave A's kernel",
        || match lab.route() {
            Some(l) => Err(format!("still there: {l}")),
            None => Ok(()),
        },
    );
    eprintln!("route removed {:?} after the kill", killed.elapsed());
}
