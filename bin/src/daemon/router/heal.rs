//! Self-healing of what wgbgpd put in the kernel besides its routes: the loopback addresses
//! on `lo`, the host routes to the peers' loopbacks and the tunnels' wg interfaces.
//!
//! ```text
//!   kernel watcher ──KernelEvent──▶ Heal::observe (before the view applies it, so a deleted
//!                                   link's name is still known) ──▶ pending
//!   repair timer (COALESCE after the first) ──▶ Router::repair ──▶ TunnelManager::restore_*,
//!                                                                   recreate; log + count
//! ```
//!
//! A deletion is damage only if the current config still wants the thing: a host route or
//! interface that a reload removed is gone on purpose (the router applies the reload before
//! it sees the notifications). Our own routes are healed by the RIB ([`rib::table::Rib::repair`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rib::kernel::{KernelEvent, KernelView};
use rib::repair::Pacer;

use crate::config::Config;

/// Wait after the first deletion before repairing, so a burst (`ip route flush proto bgp`,
/// a link taking its routes along) costs one pass.
pub(crate) const COALESCE: Duration = Duration::from_millis(50);

/// What was repaired, as the `kind` label of `wgbgp_kernel_repairs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One of our BGP routes.
    Route,
    /// A host route to a peer's loopback.
    HostRoute,
    /// A loopback address on `lo`.
    Loopback,
    /// A tunnel's wg interface.
    Interface,
    /// A nexthop object of ours, and the routes the kernel took with it.
    Nexthop,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Route => "route",
            Kind::HostRoute => "host_route",
            Kind::Loopback => "loopback",
            Kind::Interface => "interface",
            Kind::Nexthop => "nexthop",
        }
    }
}

/// Deletions seen and not yet repaired.
#[derive(Default)]
pub(crate) struct Heal {
    pub loopbacks: BTreeSet<IpNet>,
    /// Interface → host routes deleted from it.
    pub host_routes: BTreeMap<String, BTreeSet<IpAddr>>,
    pub interfaces: BTreeSet<String>,
    /// Paces repairs of things that keep being deleted (key: kind and name).
    pub pacer: Pacer<String>,
}

impl Heal {
    /// Notes a deletion in `ev` of something the config wants; `view` is the kernel view
    /// before `ev` is applied, `managed` says which interfaces the tunnel manager owns.
    pub fn observe(
        &mut self,
        ev: &KernelEvent,
        view: &KernelView,
        cfg: &Config,
        managed: impl Fn(&str) -> bool,
    ) {
        match ev {
            KernelEvent::AddressRemoved { ifindex, addr } => {
                if view.ifname(*ifindex) != Some("lo") {
                    return;
                }
                if let Some(net) = cfg.loopback.iter().find(|n| n.addr() == *addr) {
                    self.loopbacks.insert(*net);
                }
            }
            KernelEvent::RouteRemoved(r) => {
                let (Some(oif), true) = (r.oif, r.protocol == tunnels::HOST_ROUTE_PROTOCOL) else {
                    return;
                };
                if r.prefix.prefix_len() != r.prefix.max_prefix_len() {
                    return;
                }
                let Some(ifname) = view.ifname(oif) else {
                    return;
                };
                let wanted = cfg.peers.values().any(|p| {
                    p.interface() == Some(ifname) && p.addresses.contains(&r.prefix.addr())
                });
                if wanted && managed(ifname) {
                    self.host_routes
                        .entry(ifname.to_string())
                        .or_default()
                        .insert(r.prefix.addr());
                }
            }
            KernelEvent::LinkRemoved { ifindex } => {
                let Some(ifname) = view.ifname(*ifindex) else {
                    return;
                };
                let wanted = cfg.peers.values().any(|p| p.interface() == Some(ifname));
                if wanted && managed(ifname) {
                    // Its host routes come back with it.
                    self.host_routes.remove(ifname);
                    self.interfaces.insert(ifname.to_string());
                }
            }
            // A dump after a link change: the watcher drops the notifications that
            // came with it (the link's own RTM_DELLINK among them), so compare.
            KernelEvent::Resync(_) => {
                let mut fresh = KernelView::new(view.table());
                fresh.apply(ev);
                self.compare(view, &fresh, cfg, managed);
            }
            _ => {}
        }
    }

    /// Notes what the config wants that `before` had and `after` lacks.
    fn compare(
        &mut self,
        before: &KernelView,
        after: &KernelView,
        cfg: &Config,
        managed: impl Fn(&str) -> bool,
    ) {
        for net in &cfg.loopback {
            if before.is_local(net.addr()) && !after.is_local(net.addr()) {
                self.loopbacks.insert(*net);
            }
        }
        for p in cfg.peers.values() {
            let Some(ifname) = p.interface().filter(|i| managed(i)) else {
                continue;
            };
            match (before.ifindex(ifname), after.ifindex(ifname)) {
                (Some(_), None) => {
                    self.host_routes.remove(ifname);
                    self.interfaces.insert(ifname.to_string());
                }
                (Some(b), Some(a)) if a == b => {
                    for addr in &p.addresses {
                        if has_host_route(before, *addr, b) && !has_host_route(after, *addr, a) {
                            self.host_routes
                                .entry(ifname.to_string())
                                .or_default()
                                .insert(*addr);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    pub fn pending(&self) -> bool {
        !(self.loopbacks.is_empty() && self.host_routes.is_empty() && self.interfaces.is_empty())
    }

    /// True if `key` may be repaired at `now`; else the time it may, via `next`.
    pub fn allowed(&self, key: &str, now: Instant, next: &mut Option<Instant>) -> bool {
        let due = self.pacer.due(&key.to_string(), now);
        if due > now {
            *next = Some(next.map_or(due, |n| n.min(due)));
            return false;
        }
        true
    }
}

/// Does `view` hold our host route to `addr` through `ifindex`?
fn has_host_route(view: &KernelView, addr: IpAddr, ifindex: u32) -> bool {
    let prefix = IpNet::from(addr);
    view.routes_to(&prefix)
        .iter()
        .any(|r| r.protocol == tunnels::HOST_ROUTE_PROTOCOL && r.oif == Some(ifindex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rib::kernel::KernelRoute;

    fn cfg() -> Config {
        let yaml = r#"
router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32, "fd00::1/128"]
peers:
  s2:
    asn: 65501
    address: [2.2.2.2, "fd00::2"]
    wireguard:
      public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=
      interface: wg-s2
"#;
        Config::from_str(yaml, "t.yaml").unwrap()
    }

    fn view() -> KernelView {
        let mut v = KernelView::new(254);
        for (ifindex, name) in [(1, "lo"), (5, "wg-s2"), (6, "eth0")] {
            v.apply(&KernelEvent::LinkChanged {
                ifindex,
                name: name.into(),
                up: true,
            });
        }
        v
    }

    fn host_route(dst: &str, oif: u32, protocol: u8) -> KernelEvent {
        KernelEvent::RouteRemoved(KernelRoute::unicast(
            dst.parse().unwrap(),
            None,
            oif,
            protocol,
            254,
        ))
    }

    #[test]
    fn deletions_of_wanted_things_are_pending_and_others_ignored() {
        let (cfg, view) = (cfg(), view());
        let managed = |i: &str| i == "wg-s2";
        let mut h = Heal::default();
        // Not ours: an address on another link, a route of another protocol or
        // through another link, an unknown interface, an unmanaged one.
        for ev in [
            KernelEvent::AddressRemoved {
                ifindex: 6,
                addr: "1.1.1.1".parse().unwrap(),
            },
            KernelEvent::AddressRemoved {
                ifindex: 1,
                addr: "9.9.9.9".parse().unwrap(),
            },
            host_route("2.2.2.2/32", 5, 186),
            host_route("2.2.2.2/32", 6, 4),
            host_route("7.7.7.7/32", 5, 4),
            KernelEvent::LinkRemoved { ifindex: 6 },
        ] {
            h.observe(&ev, &view, &cfg, managed);
        }
        assert!(!h.pending());
        h.observe(
            &KernelEvent::LinkRemoved { ifindex: 5 },
            &view,
            &cfg,
            |_: &str| false,
        );
        assert!(
            !h.pending(),
            "an interface we do not manage is not ours to recreate"
        );

        h.observe(
            &KernelEvent::AddressRemoved {
                ifindex: 1,
                addr: "fd00::1".parse().unwrap(),
            },
            &view,
            &cfg,
            managed,
        );
        h.observe(&host_route("fd00::2/128", 5, 4), &view, &cfg, managed);
        assert_eq!(
            h.loopbacks.iter().collect::<Vec<_>>(),
            vec![&"fd00::1/128".parse::<IpNet>().unwrap()]
        );
        assert_eq!(h.host_routes["wg-s2"].len(), 1);
        // The interface going takes its host routes along: one repair.
        h.observe(
            &KernelEvent::LinkRemoved { ifindex: 5 },
            &view,
            &cfg,
            managed,
        );
        assert!(h.host_routes.is_empty());
        assert!(h.interfaces.contains("wg-s2"));
    }

    #[test]
    fn a_thing_deleted_again_and_again_is_repaired_with_growing_delays() {
        use rib::repair::{FIRST_DELAY, FREE, QUIET};
        let t0 = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        let mut h = Heal::default();
        let key = "interface wg-s2";
        let mut next = None;
        for i in 0..FREE {
            let now = t0 + ms(100 * u64::from(i));
            assert!(h.allowed(key, now, &mut next), "repair {i} is at once");
            h.pacer.repaired(key.to_string(), now);
        }
        assert_eq!(next, None);
        let last = t0 + ms(100 * u64::from(FREE - 1));
        // Deleted once more: the repair waits a second after the last one.
        assert!(!h.allowed(key, last + ms(10), &mut next));
        assert_eq!(next, Some(last + FIRST_DELAY));
        let second = last + FIRST_DELAY;
        assert!(h.allowed(key, second, &mut None));
        h.pacer.repaired(key.to_string(), second);
        // And again: two seconds.
        let mut next = None;
        assert!(!h.allowed(key, second + ms(10), &mut next));
        assert_eq!(next, Some(second + 2 * FIRST_DELAY));
        // Other things are not held back by it.
        assert!(h.allowed("loopback 1.1.1.1/32", second + ms(10), &mut None));
        // Left alone for QUIET, it is repaired at once again.
        assert!(h.allowed(key, second + QUIET, &mut None));
    }

    #[test]
    fn a_resync_without_what_was_there_is_a_deletion() {
        let cfg = cfg();
        let managed = |i: &str| i == "wg-s2";
        let links = || {
            vec![
                KernelEvent::LinkChanged {
                    ifindex: 1,
                    name: "lo".into(),
                    up: true,
                },
                KernelEvent::LinkChanged {
                    ifindex: 5,
                    name: "wg-s2".into(),
                    up: true,
                },
            ]
        };
        let added = |e: KernelEvent| match e {
            KernelEvent::RouteRemoved(r) => KernelEvent::RouteAdded(r),
            e => e,
        };
        let lo = KernelEvent::AddressAdded {
            ifindex: 1,
            addr: "1.1.1.1".parse().unwrap(),
        };
        let mut full = links();
        full.push(lo.clone());
        full.push(added(host_route("2.2.2.2/32", 5, 4)));
        let mut view = KernelView::new(254);
        view.apply(&KernelEvent::Resync(full.clone()));

        let mut h = Heal::default();
        h.observe(&KernelEvent::Resync(full), &view, &cfg, managed);
        assert!(!h.pending(), "nothing changed");

        // Host route gone, address gone.
        h.observe(&KernelEvent::Resync(links()), &view, &cfg, managed);
        assert_eq!(h.loopbacks.len(), 1);
        assert!(h.host_routes["wg-s2"].contains(&"2.2.2.2".parse::<IpAddr>().unwrap()));

        // The link gone (its routes with it): one interface repair.
        let mut h = Heal::default();
        h.observe(
            &KernelEvent::Resync(vec![links()[0].clone(), lo]),
            &view,
            &cfg,
            managed,
        );
        assert!(h.interfaces.contains("wg-s2"));
        assert!(h.host_routes.is_empty() && h.loopbacks.is_empty());
    }
}
