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

use integration::{
    Config, Frr, HandTunnel, Netns, Pair, Peer, SESSION_TIMEOUT, Wgbgpd, require_root, wait_for,
};

const POLL: Duration = Duration::from_millis(100);
const B_V4: &str = "198.51.100.0/24";

fn wgbgpd_config(graceful_restart: &str) -> String {
    Config::new("1.1.1.1", 65500)
        .loopback("1.1.1.1/32")
        .peer(
            Peer::plain("b", 65501, "10.61.0.2", "10.61.0.1")
                .set("graceful_restart", graceful_restart)
                .policies("accept-all", "accept-all"),
        )
        .accept_all("accept-all")
        .render()
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
        let Pair { a, b, .. } = Pair::new(tag, "v0", "10.61.0");
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

// ---------------------------------------------------------------------------
// wgbgpd as the restarting speaker (RFC 4724 §4.1), over WireGuard.
//
// ```text
//   +--------------------+ v0 10.62.0.1   10.62.0.2 v0 +--------------------+
//   | A: wgbgpd          |==== wg (unnumbered) ========| B: FRR             |
//   | AS 65500, lo       |  eBGP 1.1.1.1 <-> 2.2.2.2   | AS 65501, lo       |
//   | 1.1.1.1            |                             | 2.2.2.2            |
//   | graceful_restart   |                             | bgp graceful-restart|
//   +--------------------+                             +--------------------+
//   announces 198.18.0.0/24           announces 198.51.100.0/24, 198.51.101.0/24
// ```
//
// wgbgpd is killed with SIGKILL (or stopped with SIGTERM) and started
// again: neither kernel may lose a route at any time, and afterwards A's
// kernel holds exactly what B still announces.

const A_V4: &str = "198.18.0.0/24";
/// B withdraws this one while wgbgpd is down: the restarted wgbgpd must
/// delete its leftover kernel route when its selection deferral ends.
const B_GONE: &str = "198.51.101.0/24";
/// How often the kernels are polled during a restart.
const FAST_POLL: Duration = Duration::from_millis(10);

fn restarting_wgbgpd_config(tunnel: &HandTunnel) -> String {
    Config::tunnel_node("1.1.1.1", 65500, &tunnel.a_key_file)
        .announce(A_V4)
        .top_level("graceful_restart", "{ select_defer_time: 30 }")
        .peer(
            Peer::new("b", 65501, "2.2.2.2")
                .tunnel(tunnel.a_side("10.62.0.2").keepalive(5))
                .timers(9, 3)
                .set("graceful_restart", "{ restart_time: 60 }")
                .policies("accept-all", "accept-all"),
        )
        .accept_all("accept-all")
        .render()
}

fn helper_frr_config() -> String {
    format!(
        "frr defaults traditional
hostname b
log stdout informational
route-map ALLOW-ALL permit 100
!
router bgp 65501
 bgp router-id 2.2.2.2
 no bgp network import-check
 bgp graceful-restart
 bgp graceful-restart restart-time 60
 neighbor 1.1.1.1 remote-as 65500
 neighbor 1.1.1.1 update-source 2.2.2.2
 neighbor 1.1.1.1 disable-connected-check
 neighbor 1.1.1.1 timers 3 9
 neighbor 1.1.1.1 timers connect 2
 !
 address-family ipv4 unicast
  network {B_V4}
  network {B_GONE}
  neighbor 1.1.1.1 route-map ALLOW-ALL in
  neighbor 1.1.1.1 route-map ALLOW-ALL out
 exit-address-family
!
"
    )
}

/// Field order is drop order: daemons and tunnels before the namespaces.
struct WgLab {
    wgbgpd: Wgbgpd,
    frr: Frr,
    tunnel: HandTunnel,
    a: Netns,
    b: Netns,
}

impl WgLab {
    fn new(tag: &str) -> WgLab {
        let Pair { a, b, .. } = Pair::new(tag, "v0", "10.62.0");
        b.add_lo_addr("2.2.2.2/32");
        let tunnel = HandTunnel::new(&b, "g", &["1.1.1.1/32"], None);
        let wgbgpd = Wgbgpd::start(&a, &restarting_wgbgpd_config(&tunnel));
        let frr = Frr::start(&b, &helper_frr_config(), "hostname b\n");
        let mut lab = WgLab {
            wgbgpd,
            frr,
            tunnel,
            a,
            b,
        };
        lab.frr.wait_established("1.1.1.1", SESSION_TIMEOUT);
        lab.wgbgpd
            .wait_established(&lab.a, "2.2.2.2", SESSION_TIMEOUT);
        wait_for(
            SESSION_TIMEOUT,
            POLL,
            "both routes in both kernels",
            || match (lab.a_route(B_V4), lab.a_route(B_GONE), lab.b_route()) {
                (Some(_), Some(_), Some(_)) => Ok(()),
                _ => Err(format!(
                    "A:\n{}\nB:\n{}",
                    lab.a.routes(""),
                    lab.b.routes("")
                )),
            },
        );
        lab
    }

    /// A's kernel route to one of B's prefixes, through wgbgpd's tunnel.
    fn a_route(&self, prefix: &str) -> Option<String> {
        self.a.route_to(prefix).filter(|l| {
            l.contains("via 2.2.2.2") && l.contains(&self.tunnel.a_if) && l.contains("proto bgp")
        })
    }

    /// B's kernel route to A's prefix, installed by FRR through its tunnel.
    fn b_route(&self) -> Option<String> {
        self.b
            .route_to(A_V4)
            .filter(|l| l.contains("via 1.1.1.1") && l.contains(self.tunnel.wg.ifname()))
    }

    /// FRR's path to A's prefix (`show bgp ipv4 unicast json`).
    fn frr_path(&self) -> serde_json::Value {
        self.frr.vtysh_json("show bgp ipv4 unicast json")["routes"][A_V4][0].clone()
    }

    /// Whether wgbgpd's log says its `n`th selection deferral is over.
    fn deferrals_over(&self) -> usize {
        self.wgbgpd
            .log_text()
            .matches("selection deferral over")
            .count()
    }

    /// Polls both kernels every [`FAST_POLL`] while `during` runs and then
    /// until `done` holds (at most `timeout`); panics if a poll finds either
    /// route missing. Returns the number of polls.
    fn watch_routes(
        &mut self,
        timeout: Duration,
        during: impl FnOnce(&mut WgLab),
        mut done: impl FnMut(&WgLab) -> bool,
    ) -> usize {
        // The kernel is polled from a thread so that `during` (which
        // starts wgbgpd, talks to FRR) cannot hide a gap.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, b) = (self.a.name().to_string(), self.b.name().to_string());
        let (if_a, if_b) = (
            self.tunnel.a_if.clone(),
            self.tunnel.wg.ifname().to_string(),
        );
        let flag = stop.clone();
        let poller = std::thread::spawn(move || {
            let route = |ns: &str, prefix: &str| -> String {
                let out = std::process::Command::new("ip")
                    .args(["-n", ns, "-4", "route", "show", "exact", prefix])
                    .output()
                    .expect("run ip route");
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let mut polls = 0usize;
            let mut misses = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let at = route(&a, B_V4);
                if !(at.contains("via 2.2.2.2") && at.contains(&if_a)) {
                    misses.push(format!("poll {polls}: A: `{}`", at.trim()));
                }
                let bt = route(&b, A_V4);
                if !(bt.contains("via 1.1.1.1") && bt.contains(&if_b)) {
                    misses.push(format!("poll {polls}: B: `{}`", bt.trim()));
                }
                polls += 1;
                std::thread::sleep(FAST_POLL);
            }
            (polls, misses)
        });
        during(self);
        let until = Instant::now() + timeout;
        let mut converged = false;
        while Instant::now() < until {
            if done(self) {
                converged = true;
                break;
            }
            std::thread::sleep(POLL);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (polls, misses) = poller.join().expect("poller");
        assert!(
            converged,
            "no re-convergence within {timeout:?}\nA:\n{}\nFRR: {:#}\n{}",
            self.a.routes(""),
            self.frr_path(),
            self.wgbgpd.log_text()
        );
        assert!(
            misses.is_empty(),
            "{} of {polls} polls found a route missing: {:?}\n{}",
            misses.len(),
            &misses[..misses.len().min(10)],
            self.wgbgpd.log_text()
        );
        polls
    }

    /// After a restart: wgbgpd's deferral is over, FRR's path is fresh and
    /// A's kernel holds exactly what B announces.
    fn assert_exact(&self) {
        let routes = self.a.bgp_routes();
        assert_eq!(
            routes.len(),
            1,
            "exactly B's remaining prefix:\n{routes:#?}"
        );
        assert!(routes[0].starts_with(B_V4), "{routes:#?}");
        let path = self.frr_path();
        assert!(path.get("stale").is_none(), "{path:#}");
        let nb = self
            .wgbgpd
            .cli_json(&self.a, &["show", "bgp", "neighbors", "2.2.2.2"]);
        let gr = &nb["2.2.2.2"]["gracefulRestartInfo"];
        assert_eq!(gr["localGrMode"], "Restart", "{nb:#}");
        assert_eq!(gr["remoteGrMode"], "Restart", "{nb:#}");
        assert_eq!(gr["timers"]["configuredRestartTimer"], 60, "{nb:#}");
        assert_eq!(gr["timers"]["receivedRestartTimer"], 60, "{nb:#}");
        assert_eq!(gr["localRestarting"], false, "{nb:#}");
        // FRR 8.4 announces RFC 8538's N bit, as wgbgpd does.
        assert_eq!(gr["nBit"], true, "{nb:#}");
        eprintln!("wgbgpd's gracefulRestartInfo for FRR: {gr}");
    }
}

/// SIGKILL, B withdraws one prefix meanwhile, restart: no route leaves
/// either kernel, FRR holds A's route stale until wgbgpd is back, and the
/// withdrawn prefix's leftover kernel route goes when the deferral ends.
#[test]
fn wgbgpd_killed_and_restarted_loses_no_route() {
    require_root();
    let mut lab = WgLab::new("grk");
    let killed = Instant::now();
    let polls = lab.watch_routes(
        SESSION_TIMEOUT,
        |lab| {
            lab.wgbgpd.signal(libc::SIGKILL);
            wait_for(Duration::from_secs(15), POLL, "FRR to mark A's route stale", || {
                let p = lab.frr_path();
                if p["stale"] == true { Ok(()) } else { Err(format!("{p:#}")) }
            });
            lab.frr.vtysh(&format!(
                "configure terminal\nrouter bgp 65501\naddress-family ipv4 unicast\nno network {B_GONE}"
            ));
            // Still in A's kernel: nobody is there to delete it.
            assert!(lab.a_route(B_GONE).is_some(), "{}", lab.a.routes(""));
            lab.wgbgpd.restart(&lab.a);
        },
        |lab| {
            lab.deferrals_over() == 1
                && lab.a_route(B_GONE).is_none()
                && lab.frr_path().get("stale").is_none()
        },
    );
    eprintln!(
        "kill -9 and restart: re-converged {:?} after the kill; {polls} kernel polls, none missing a route",
        killed.elapsed()
    );
    lab.assert_exact();
    let log = lab.wgbgpd.log_text();
    for line in log.lines().filter(|l| l.contains("graceful restart:")) {
        eprintln!("{line}");
    }
    // One leftover (B's withdrawn prefix) deleted, B's other route replaced in place.
    assert!(log.contains("leftovers_deleted=1"), "{log}");
    assert!(
        log.contains("keeping the routes of the earlier run"),
        "{log}"
    );
    assert!(log.contains("every peer sent End-of-RIB"), "{log}");
}

/// SIGTERM with graceful restart: sessions close without a NOTIFICATION,
/// the routes stay in both kernels, and the next run refreshes them.
#[test]
fn wgbgpd_stopped_with_graceful_restart_keeps_routes_then_refreshes() {
    require_root();
    let mut lab = WgLab::new("grt");
    let stopped = Instant::now();
    let polls = lab.watch_routes(
        SESSION_TIMEOUT,
        |lab| {
            let notifications = || {
                let nb = lab.frr.vtysh_json("show bgp neighbors 1.1.1.1 json");
                nb["1.1.1.1"]["messageStats"]["notificationsRecv"].clone()
            };
            let before = notifications();
            let status = lab.wgbgpd.stop();
            assert!(status.success(), "{status}\n{}", lab.wgbgpd.log_text());
            wait_for(
                Duration::from_secs(15),
                POLL,
                "FRR to mark A's route stale",
                || {
                    let p = lab.frr_path();
                    if p["stale"] == true {
                        Ok(())
                    } else {
                        Err(format!("{p:#}"))
                    }
                },
            );
            // No Cease: FRR received no NOTIFICATION from us.
            assert_eq!(notifications(), before);
            lab.wgbgpd.restart(&lab.a);
        },
        |lab| lab.deferrals_over() == 1 && lab.frr_path().get("stale").is_none(),
    );
    eprintln!(
        "SIGTERM and restart: re-converged {:?} after the stop; {polls} kernel polls, none missing a route",
        stopped.elapsed()
    );
    // Both prefixes of B are still announced.
    assert!(lab.a_route(B_GONE).is_some());
    let routes = lab.a.bgp_routes();
    assert_eq!(routes.len(), 2, "{routes:#?}");
    assert!(lab.wgbgpd.log_text().contains("routes and tunnels kept"));
}
