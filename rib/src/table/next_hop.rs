//! Which next hop a received route is installed through, and what happens
//! to a route whose next hop cannot be used.
//!
//! An IPv6 next hop in MP_REACH_NLRI may come as a global address followed
//! by a link-local one (RFC 2545 §3, 32 octets; RFC 8950 §3 for IPv4
//! routes). BIRD sends `::` + `fe80::b` on a link-local-only session. The
//! global one is used when it is set and the kernel reaches it; otherwise
//! the link-local one, which means something only on its link (RFC 4291
//! §2.5.6): it is scoped to the interface the peer's session runs over
//! (`PeerSettings::interface`) and installed as `via fe80::b dev wgX`
//! (`via inet6 fe80::b dev wgX` for IPv4 routes). The choice is made when
//! the route arrives.
//!
//! A route dropped for its next hop is handled as withdrawn (RFC 7606 §2),
//! counted per peer ([`Rib::next_hop_drops`]) and logged once per peer.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use bgp::wire::MpNextHop;
use ipnet::IpNet;

use super::{ExportBatch, Output, Peer, Rib};
use crate::kernel::{KernelNextHop, KernelView};
use crate::path::{PeerId, Source};

/// A tracked BGP next hop: the address and, for an IPv6 link-local one, the
/// peer whose session's interface gives it its scope (the same `fe80::1`
/// on two tunnels is two next hops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct NextHopKey {
    pub addr: IpAddr,
    pub scope: Option<PeerId>,
}

impl NextHopKey {
    pub fn of(source: Source, addr: IpAddr) -> NextHopKey {
        let scope = match (source, addr) {
            (Source::Peer(id), IpAddr::V6(a)) if a.is_unicast_link_local() => Some(id),
            _ => None,
        };
        NextHopKey { addr, scope }
    }

    /// How the kernel reaches this next hop now: a global address through
    /// the kernel table, a link-local one directly on its peer's interface
    /// while that is up.
    pub fn resolve(
        self,
        kernel: &KernelView,
        peers: &std::collections::BTreeMap<PeerId, Peer>,
    ) -> Option<Vec<KernelNextHop>> {
        let Some(id) = self.scope else {
            return kernel.resolve(self.addr);
        };
        let ifindex = peers.get(&id)?.settings.interface?;
        kernel.is_up(ifindex).then(|| {
            vec![KernelNextHop {
                gateway: self.addr,
                ifindex,
                onlink: false,
            }]
        })
    }
}

/// Why a route's next hop cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHopDrop {
    /// Unspecified (with no link-local address beside it) or multicast.
    Invalid,
    /// One of this router's own addresses.
    Local,
    /// An IPv6 next hop for an IPv4 route, without RFC 8950 negotiated
    /// (RFC 8950 §4: handled as withdrawn).
    ExtendedNextHopNotNegotiated,
    /// A link-local next hop from a peer whose session runs over no known
    /// interface: it cannot be scoped.
    LinkLocalWithoutInterface,
}

impl fmt::Display for NextHopDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NextHopDrop::Invalid => "not a unicast address",
            NextHopDrop::Local => "one of our own addresses",
            NextHopDrop::ExtendedNextHopNotNegotiated => {
                "IPv6 next hop for an IPv4 route without the extended next hop capability (RFC 8950)"
            }
            NextHopDrop::LinkLocalWithoutInterface => {
                "link-local next hop, but the session runs over no known interface to scope it to"
            }
        })
    }
}

impl Rib {
    /// The address of an MP_REACH_NLRI next hop to install through: the
    /// global one unless it is unspecified, or unreachable while a
    /// link-local one can be used on the session's interface.
    pub(super) fn pick_next_hop(&self, id: PeerId, nh: &MpNextHop) -> IpAddr {
        let Some(ll) = nh.link_local.filter(Ipv6Addr::is_unicast_link_local) else {
            return nh.global;
        };
        let scoped = self
            .peers
            .get(&id)
            .is_some_and(|p| p.settings.interface.is_some());
        if nh.global.is_unspecified() || (scoped && self.kernel.resolve(nh.global).is_none()) {
            IpAddr::V6(ll)
        } else {
            nh.global
        }
    }

    /// Whether `nh` can be the next hop of routes from `id`, IPv4 ones if
    /// `ipv4_routes` (RFC 4271 §5.1.3, RFC 8950 §4).
    pub(super) fn check_next_hop(
        &self,
        id: PeerId,
        nh: IpAddr,
        ipv4_routes: bool,
        extended_next_hop: bool,
    ) -> Result<(), NextHopDrop> {
        if ipv4_routes && nh.is_ipv6() && !extended_next_hop {
            return Err(NextHopDrop::ExtendedNextHopNotNegotiated);
        }
        if nh.is_unspecified() || nh.is_multicast() {
            return Err(NextHopDrop::Invalid);
        }
        if self.kernel.is_local(nh) {
            return Err(NextHopDrop::Local);
        }
        let scope = NextHopKey::of(Source::Peer(id), nh).scope;
        if scope.is_some()
            && self
                .peers
                .get(&id)
                .is_none_or(|p| p.settings.interface.is_none())
        {
            return Err(NextHopDrop::LinkLocalWithoutInterface);
        }
        Ok(())
    }

    /// Counts a route dropped for its next hop; the first one of a peer is
    /// logged, with what it needs to be understood.
    pub(super) fn drop_for_next_hop(
        &mut self,
        id: PeerId,
        prefix: &IpNet,
        nh: IpAddr,
        why: NextHopDrop,
    ) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.next_hop_drops += 1;
        if !p.next_hop_drop_logged {
            p.next_hop_drop_logged = true;
            tracing::warn!(
                peer = %p.settings.name,
                %prefix,
                next_hop = %nh,
                reason = %why,
                "route dropped for its next hop (further drops from this peer are only counted)"
            );
        }
    }

    /// Sets the interface `id`'s session runs over and our link-local
    /// address on it (the tunnel was created or re-created): link-local next
    /// hops of its paths resolve on the new interface, and what it was sent
    /// is re-sent if our next hop for it changed.
    pub fn set_peer_interface(
        &mut self,
        id: PeerId,
        interface: Option<u32>,
        local_link_local: Option<Ipv6Addr>,
    ) -> Vec<Output> {
        let Some(p) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        let export_changed = p.settings.local_link_local != local_link_local;
        p.settings.interface = interface;
        p.settings.local_link_local = local_link_local;
        let mut changed = false;
        for (key, nh) in self.next_hops.iter_mut() {
            if key.scope == Some(id) {
                nh.resolved = key.resolve(&self.kernel, &self.peers).map(Arc::new);
                changed = true;
            }
        }
        if changed {
            let source = Source::Peer(id);
            for (prefix, dest) in self.loc_rib.iter() {
                if dest.paths.iter().any(|x| x.source == source) {
                    self.dirty.insert(prefix);
                }
            }
        }
        let mut out = self.flush();
        if export_changed {
            out.extend(self.readvertise(id));
        }
        out
    }

    /// Sets our next hop for `id` in the family of `source` to `source`: the
    /// address its session actually runs from, for a peer whose session
    /// source the kernel picks (a plain peer with no `local_address`). What
    /// was already sent is re-sent if the next hop changed.
    pub fn set_peer_source(&mut self, id: PeerId, source: IpAddr) -> Vec<Output> {
        let Some(p) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        let changed = match source {
            IpAddr::V4(a) => p.settings.local_v4.replace(a) != Some(a),
            IpAddr::V6(a) => p.settings.local_v6.replace(a) != Some(a),
        };
        if changed {
            self.readvertise(id)
        } else {
            Vec::new()
        }
    }

    /// Sends an Established `id` everything again after our next hop for it
    /// changed: the Adj-RIB-Out remembers attributes, not next hops, so it
    /// is emptied first; what is no longer sent is withdrawn.
    fn readvertise(&mut self, id: PeerId) -> Vec<Output> {
        let Some(p) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        if p.established.is_none() {
            return Vec::new();
        }
        let sent: Vec<IpNet> = p.adj_rib_out.iter().map(|(prefix, _)| prefix).collect();
        p.adj_rib_out.clear();
        let mut batch = ExportBatch::default();
        let prefixes: Vec<IpNet> = self.loc_rib.keys().collect();
        for prefix in prefixes {
            self.export_to(id, &prefix, &mut batch);
        }
        let out_now = &self.peers[&id].adj_rib_out;
        for prefix in sent {
            if out_now.get(&prefix).is_none() {
                batch.withdraw(id, super::afi_of(&prefix), prefix);
            }
        }
        let mut out = Vec::new();
        batch.emit(&mut out);
        out
    }

    /// Routes from `id` dropped for an unusable next hop since the peer was
    /// added (`wgbgp_routes_dropped_next_hop_total`).
    pub fn next_hop_drops(&self, id: PeerId) -> u64 {
        self.peers.get(&id).map_or(0, |p| p.next_hop_drops)
    }
}
