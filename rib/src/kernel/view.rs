//! The kernel view: what the kernel's routing table, addresses and links say, as pure data.
//!
//! `KernelView` is fed `KernelEvent`s (from `KernelWatcher`, or by hand in tests) and answers one
//! question: through which gateway and interface is a BGP next hop reachable? Resolution follows
//! FRR/zebra's next-hop tracking (`zebra/zebra_nhg.c`): longest-prefix match over the non-BGP
//! routes of one table, never via the default route, and when the resolving route is an
//! interface-only route the next hop itself becomes the gateway, installed `onlink`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

/// `RTPROT_BGP`: routes with this protocol are ours (or another BGP daemon's) and never resolve
/// a next hop, as in zebra where a BGP route cannot resolve a BGP next hop.
pub const RTPROT_BGP: u8 = 186;

/// Route types (`rtm_type`) that matter for resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `RTN_UNICAST`: a real route, the only kind that resolves a next hop.
    Unicast,
    /// `RTN_LOCAL`: an address of this host.
    Local,
    /// `RTN_BLACKHOLE`
    Blackhole,
    /// `RTN_UNREACHABLE`
    Unreachable,
    /// `RTN_PROHIBIT`
    Prohibit,
    /// Broadcast, multicast, throw, NAT and anything newer.
    Other,
}

/// One route of a kernel routing table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelRoute {
    /// Destination, host bits cleared.
    pub prefix: IpNet,
    /// `RTA_GATEWAY` (or `RTA_VIA`) of a single-path route.
    pub gateway: Option<IpAddr>,
    /// `RTA_OIF` of a single-path route.
    pub oif: Option<u32>,
    /// `rtm_protocol` (`RTPROT_*`): 2 kernel, 3 boot, 4 static, 186 bgp ...
    pub protocol: u8,
    pub kind: RouteKind,
    pub table: u32,
    /// `RTA_PRIORITY`; IPv4 routes without one have metric 0.
    pub metric: u32,
    /// `RTA_MULTIPATH`: (gateway, oif) per path; empty for a single-path route.
    pub multipath: Vec<(Option<IpAddr>, u32)>,
}

impl KernelRoute {
    /// A single-path unicast route to `prefix` through `gateway` (none: an
    /// interface route) and `oif`, metric 0 in `table`.
    pub fn unicast(
        prefix: IpNet,
        gateway: Option<IpAddr>,
        oif: u32,
        protocol: u8,
        table: u32,
    ) -> KernelRoute {
        KernelRoute {
            prefix,
            gateway,
            oif: Some(oif),
            protocol,
            kind: RouteKind::Unicast,
            table,
            metric: 0,
            multipath: Vec::new(),
        }
    }

    /// The paths of this route as (gateway, oif), whether it is single-path or multipath.
    pub fn paths(&self) -> Vec<(Option<IpAddr>, Option<u32>)> {
        if self.multipath.is_empty() {
            vec![(self.gateway, self.oif)]
        } else {
            self.multipath.iter().map(|&(g, o)| (g, Some(o))).collect()
        }
    }
}

/// A resolved next hop, ready for `FibOp::Replace`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelNextHop {
    pub gateway: IpAddr,
    pub ifindex: u32,
    /// Install with `RTNH_F_ONLINK`: the gateway is not covered by a connected prefix of the
    /// interface (it is reachable through an interface-only route), so the kernel must be told
    /// not to check it.
    pub onlink: bool,
}

/// A change in the kernel, as the view consumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// `RTM_NEWROUTE` without `NLM_F_REPLACE`: a route added next to the existing ones.
    RouteAdded(KernelRoute),
    /// `RTM_NEWROUTE` with `NLM_F_REPLACE`: replaces the route(s) with the same prefix and
    /// metric (the kernel's identity for `ip route replace`).
    RouteReplaced(KernelRoute),
    /// `RTM_DELROUTE`
    RouteRemoved(KernelRoute),
    /// `RTM_NEWADDR`
    AddressAdded { ifindex: u32, addr: IpAddr },
    /// `RTM_DELADDR`
    AddressRemoved { ifindex: u32, addr: IpAddr },
    /// `RTM_NEWLINK`: `up` is `IFF_UP && IFF_RUNNING` (administratively up, carrier present).
    LinkChanged {
        ifindex: u32,
        name: String,
        up: bool,
    },
    /// `RTM_DELLINK`
    LinkRemoved { ifindex: u32 },
    /// A full dump: the view replaces everything it knows with these events.
    Resync(Vec<KernelEvent>),
    /// `RTM_DELROUTE` of a route with our protocol in our table that our FIB writer did not
    /// ask for (another process, or the kernel): the input of self-healing. Reported only by
    /// [`super::KernelWatcher::spawn_with_owner`]; the view ignores it.
    OwnRouteRemoved(KernelRoute),
    /// `RTM_DELNEXTHOP` of a nexthop object with our protocol that our FIB writer did not ask
    /// for (`ip nexthop del`): the kernel removed the routes using it too, without telling.
    /// The input of self-healing in objects mode ([`super::FibWriter::restore_nexthops`]).
    /// Reported only by [`super::KernelWatcher::spawn_with_owner`]; the view ignores it.
    OwnNexthopRemoved { id: u32 },
}

#[derive(Clone, Debug)]
struct Link {
    name: String,
    up: bool,
}

/// Routes of one family, grouped by prefix length for longest-prefix match. The number of
/// non-BGP routes is small (connected, static, a few thousand at most), so a map per length is
/// plenty: a lookup is at most 33 (IPv4) or 129 (IPv6) hash probes, mostly skipped via `lens`.
#[derive(Clone, Debug, Default)]
struct Table {
    by_len: BTreeMap<u8, HashMap<IpNet, Vec<KernelRoute>>>,
}

impl Table {
    /// The routes to `prefix`, an empty list if there were none.
    fn routes_mut(&mut self, prefix: IpNet) -> &mut Vec<KernelRoute> {
        self.by_len
            .entry(prefix.prefix_len())
            .or_default()
            .entry(prefix)
            .or_default()
    }

    fn add(&mut self, route: KernelRoute) -> bool {
        let routes = self.routes_mut(route.prefix);
        if routes.contains(&route) {
            return false;
        }
        routes.push(route);
        true
    }

    fn replace(&mut self, route: KernelRoute) -> bool {
        let routes = self.routes_mut(route.prefix);
        if routes.len() == 1 && routes[0] == route {
            return false;
        }
        routes.retain(|r| r.metric != route.metric);
        routes.push(route);
        true
    }

    fn remove(&mut self, route: &KernelRoute) -> bool {
        let len = route.prefix.prefix_len();
        let Some(map) = self.by_len.get_mut(&len) else {
            return false;
        };
        let Some(routes) = map.get_mut(&route.prefix) else {
            return false;
        };
        let before = routes.len();
        // A deletion notification carries the same attributes as the route; compare loosely
        // on what identifies it so that a flag difference does not leave a ghost behind.
        routes.retain(|r| {
            !(r.metric == route.metric
                && r.kind == route.kind
                && r.gateway == route.gateway
                && r.oif == route.oif
                && r.multipath == route.multipath)
        });
        let changed = routes.len() != before;
        if routes.is_empty() {
            map.remove(&route.prefix);
            if map.is_empty() {
                self.by_len.remove(&len);
            }
        }
        changed
    }

    /// Candidate route lists for `addr`, longest prefix first.
    fn matches(&self, addr: IpAddr) -> impl Iterator<Item = &Vec<KernelRoute>> + '_ {
        self.by_len.iter().rev().filter_map(move |(&len, map)| {
            let net = IpNet::new(addr, len).ok()?.trunc();
            map.get(&net)
        })
    }

    fn len(&self) -> usize {
        self.by_len
            .values()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum()
    }
}

/// Routes of one table plus local addresses and link states, enough to resolve next hops.
#[derive(Clone, Debug)]
pub struct KernelView {
    table: u32,
    v4: Table,
    v6: Table,
    links: HashMap<u32, Link>,
    addrs: HashSet<(u32, IpAddr)>,
}

impl KernelView {
    /// An empty view of routing table `table` (254 is `main`).
    pub fn new(table: u32) -> Self {
        KernelView {
            table,
            v4: Table::default(),
            v6: Table::default(),
            links: HashMap::new(),
            addrs: HashSet::new(),
        }
    }

    /// The table this view follows.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// Applies one event. Returns true if anything that can change a resolution result changed
    /// (routes of other tables, BGP routes and unchanged duplicates return false).
    pub fn apply(&mut self, ev: &KernelEvent) -> bool {
        match ev {
            KernelEvent::RouteAdded(r) => self.relevant(r) && self.family_mut(r).add(r.clone()),
            KernelEvent::RouteReplaced(r) => {
                self.relevant(r) && self.family_mut(r).replace(r.clone())
            }
            KernelEvent::RouteRemoved(r) => self.relevant(r) && self.family_mut(r).remove(r),
            KernelEvent::AddressAdded { ifindex, addr } => self.addrs.insert((*ifindex, *addr)),
            KernelEvent::AddressRemoved { ifindex, addr } => self.addrs.remove(&(*ifindex, *addr)),
            KernelEvent::LinkChanged { ifindex, name, up } => {
                let new = Link {
                    name: name.clone(),
                    up: *up,
                };
                match self.links.insert(*ifindex, new) {
                    // A rename alone does not change resolution.
                    Some(old) => old.up != *up,
                    None => true,
                }
            }
            KernelEvent::LinkRemoved { ifindex } => {
                self.addrs.retain(|(i, _)| i != ifindex);
                self.links.remove(ifindex).is_some()
            }
            KernelEvent::OwnRouteRemoved(_) | KernelEvent::OwnNexthopRemoved { .. } => false,
            KernelEvent::Resync(events) => {
                let mut fresh = KernelView::new(self.table);
                for e in events {
                    fresh.apply(e);
                }
                let changed = !fresh.same_as(self);
                *self = fresh;
                changed
            }
        }
    }

    fn same_as(&self, other: &KernelView) -> bool {
        let links = |v: &KernelView| {
            let mut l: Vec<_> = v.links.iter().map(|(i, l)| (*i, l.up)).collect();
            l.sort();
            l
        };
        let routes = |t: &Table| {
            let mut r: Vec<_> = t
                .by_len
                .values()
                .flat_map(|m| m.values().flatten())
                .map(|r| format!("{r:?}"))
                .collect();
            r.sort();
            r
        };
        self.addrs == other.addrs
            && links(self) == links(other)
            && routes(&self.v4) == routes(&other.v4)
            && routes(&self.v6) == routes(&other.v6)
    }

    /// BGP routes never resolve anything, and only the configured table matters.
    fn relevant(&self, r: &KernelRoute) -> bool {
        r.table == self.table && r.protocol != RTPROT_BGP
    }

    fn family_mut(&mut self, r: &KernelRoute) -> &mut Table {
        match r.prefix {
            IpNet::V4(_) => &mut self.v4,
            IpNet::V6(_) => &mut self.v6,
        }
    }

    fn link_up(&self, ifindex: u32) -> bool {
        self.links.get(&ifindex).is_some_and(|l| l.up)
    }

    /// Each known link and whether it is up.
    pub fn link_states(&self) -> HashMap<u32, bool> {
        self.links.iter().map(|(i, l)| (*i, l.up)).collect()
    }

    /// The interface `addr` is configured on, if it is one of ours.
    pub fn interface_with(&self, addr: IpAddr) -> Option<u32> {
        self.addrs.iter().find(|(_, a)| *a == addr).map(|(i, _)| *i)
    }

    /// An IPv6 link-local address of interface `ifindex` (the lowest, so
    /// the answer does not depend on the order they were learnt in).
    pub fn link_local(&self, ifindex: u32) -> Option<std::net::Ipv6Addr> {
        (self.addrs.iter())
            .filter(|(i, _)| *i == ifindex)
            .filter_map(|(_, a)| match a {
                IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some(*v6),
                _ => None,
            })
            .min()
    }

    /// True if `addr` is configured on one of our interfaces.
    pub fn is_local(&self, addr: IpAddr) -> bool {
        self.addrs.iter().any(|(_, a)| *a == addr)
    }

    /// True if the view holds a route of another protocol (not BGP) to exactly `prefix` with
    /// metric `metric`. Such a route shares the kernel's identity (prefix, metric, table) with
    /// the one we would install, so `NLM_F_REPLACE` would overwrite it.
    pub fn has_foreign(&self, prefix: &IpNet, metric: u32) -> bool {
        self.routes_to(prefix).iter().any(|r| r.metric == metric)
    }

    /// The routes held to exactly `prefix` (not BGP, this table).
    pub fn routes_to(&self, prefix: &IpNet) -> &[KernelRoute] {
        let table = match prefix {
            IpNet::V4(_) => &self.v4,
            IpNet::V6(_) => &self.v6,
        };
        table
            .by_len
            .get(&prefix.prefix_len())
            .and_then(|m| m.get(prefix))
            .map_or(&[], Vec::as_slice)
    }

    /// Every route held (not BGP, this table), in no particular order.
    pub fn routes(&self) -> impl Iterator<Item = &KernelRoute> + '_ {
        [&self.v4, &self.v6]
            .into_iter()
            .flat_map(|t| t.by_len.values().flat_map(|m| m.values().flatten()))
    }

    /// Number of routes held (for `show` and tests).
    pub fn route_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Recursive next-hop resolution as FRR/zebra does it.
    ///
    /// Longest-prefix match of `nh` among this table's routes, excluding BGP routes (protocol
    /// 186) and the default route (like FRR without `ip nht resolve-via-default`). Among the
    /// routes of the longest matching prefix the lowest metric wins, and only unicast routes
    /// through links that are up count; a prefix with no usable route is skipped, as zebra
    /// walks up to less specific routes. If the longest usable match is a blackhole,
    /// unreachable or prohibit route the next hop is unreachable (None).
    ///
    /// A gateway route `via G dev X` gives `[{G, X, onlink: false}]` (one entry per path of a
    /// multipath route, paths over down links left out); an interface-only route `dev X` gives
    /// `[{nh, X, onlink: true}]`. `nh` being one of our own addresses gives None.
    pub fn resolve(&self, nh: IpAddr) -> Option<Vec<KernelNextHop>> {
        self.lookup(nh, false, &|_| false)
    }

    /// How the underlay reaches `addr` (a tunnel endpoint): as [`Self::resolve`], but the
    /// default route counts and paths through an interface `skip` names are left out (a route
    /// with none left is skipped, so a less specific one may match).
    pub fn resolve_underlay(
        &self,
        addr: IpAddr,
        skip: &dyn Fn(u32) -> bool,
    ) -> Option<Vec<KernelNextHop>> {
        self.lookup(addr, true, skip)
    }

    fn lookup(
        &self,
        nh: IpAddr,
        with_default: bool,
        skip: &dyn Fn(u32) -> bool,
    ) -> Option<Vec<KernelNextHop>> {
        if nh.is_unspecified() || self.is_local(nh) {
            return None;
        }
        let table = match nh {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => &self.v6,
        };
        for routes in table.matches(nh) {
            let mut candidates: Vec<&KernelRoute> = routes
                .iter()
                .filter(|r| with_default || r.prefix.prefix_len() > 0)
                .collect();
            candidates.sort_by_key(|r| r.metric);
            for r in candidates {
                match r.kind {
                    RouteKind::Unicast => {}
                    RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit => {
                        return None;
                    }
                    RouteKind::Local => return None,
                    RouteKind::Other => continue,
                }
                let hops: Vec<KernelNextHop> = r
                    .paths()
                    .into_iter()
                    .filter_map(|(gw, oif)| {
                        let oif = oif?;
                        if !self.link_up(oif) || skip(oif) {
                            return None;
                        }
                        Some(match gw {
                            Some(g) => KernelNextHop {
                                gateway: g,
                                ifindex: oif,
                                onlink: false,
                            },
                            // zebra_nhg.c: over an interface route the next hop stays the
                            // gateway, flagged onlink "because otherwise, the kernel won't
                            // accept the route".
                            None => KernelNextHop {
                                gateway: nh,
                                ifindex: oif,
                                onlink: true,
                            },
                        })
                    })
                    .collect();
                if !hops.is_empty() {
                    return Some(hops);
                }
            }
        }
        None
    }

    /// Name of interface `ifindex`, if known.
    pub fn ifname(&self, ifindex: u32) -> Option<&str> {
        self.links.get(&ifindex).map(|l| l.name.as_str())
    }

    /// Index of the interface called `name`, if known.
    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.links
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(i, _)| *i)
    }

    /// True if interface `ifindex` is known and up (`IFF_UP && IFF_RUNNING`).
    pub fn is_up(&self, ifindex: u32) -> bool {
        self.link_up(ifindex)
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
