//! Soft reconfiguration inbound (FRR's `soft-reconfiguration inbound`,
//! BIRD's `import table`): a per-peer copy of the routes as received, before
//! the import chain, so a new chain is applied from it without asking the
//! peer to resend (RFC 2918 ROUTE-REFRESH), and `show bgp neighbors ADDR
//! received-routes` can show what the policy saw.
//!
//! Only peers with the option have a copy; it shares the interned attribute
//! sets with the Loc-RIB (a plain eBGP route is the same `Arc` in both), so
//! it costs a hash entry per route: prefix, pointer and next hop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bgp::wire::{PathAttributes, Update};
use ipnet::IpNet;

use super::{Output, Rib, Source};
use crate::path::PeerId;
use crate::policy::Context;

/// Prefix → (attributes as received, BGP next hop as received).
pub(super) type AdjRibIn = HashMap<IpNet, (Arc<PathAttributes>, IpAddr)>;

/// One route of a peer's Adj-RIB-In or Adj-RIB-Out, for `show`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjRoute {
    pub prefix: IpNet,
    pub attrs: Arc<PathAttributes>,
    pub next_hop: IpAddr,
    /// Received routes: the import chain (and the eBGP checks) accept it.
    /// Advertised routes: always true.
    pub accepted: bool,
}

/// Empties a copy (the session went down) but keeps the option on.
pub(super) fn clear(adj: &mut Option<AdjRibIn>) {
    if let Some(a) = adj {
        *a = AdjRibIn::new();
    }
}

impl Rib {
    /// Turns `soft_reconfiguration: inbound` on or off for a peer. Turning
    /// it on starts an empty copy: the caller has the peer resend (RFC 2918)
    /// to fill it. Returns whether that is needed.
    pub fn set_soft_reconfiguration(&mut self, id: PeerId, on: bool) -> bool {
        let Some(peer) = self.peers.get_mut(&id) else {
            return false;
        };
        match (on, peer.adj_rib_in.is_some()) {
            (true, false) => {
                peer.adj_rib_in = Some(AdjRibIn::new());
                peer.established.is_some()
            }
            (false, true) => {
                peer.adj_rib_in = None;
                false
            }
            _ => false,
        }
    }

    /// Whether the peer keeps a pre-policy copy.
    pub fn soft_reconfiguration(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.adj_rib_in.is_some())
    }

    /// Stores what one UPDATE announces and withdraws, before any check.
    /// `reach`: (next hop, prefixes) groups, already family-checked.
    pub(super) fn record_adj_rib_in(
        &mut self,
        id: PeerId,
        update: &Update,
        withdrawn: &[IpNet],
        reach: &[(Option<IpAddr>, Vec<IpNet>)],
    ) {
        // Interned: equal to the Loc-RIB's set for a plain eBGP route.
        let attrs = match (&update.treat_as_withdraw, &update.attributes) {
            (None, Some(a)) => Some(self.interner.intern(a.clone())),
            _ => None,
        };
        let Some(adj) = self.peers.get_mut(&id).and_then(|p| p.adj_rib_in.as_mut()) else {
            return;
        };
        for prefix in withdrawn {
            adj.remove(&prefix.trunc());
        }
        for (next_hop, prefixes) in reach {
            for prefix in prefixes {
                let prefix = prefix.trunc();
                match (&attrs, next_hop) {
                    (Some(a), Some(nh)) => {
                        adj.insert(prefix, (a.clone(), *nh));
                    }
                    // Treat-as-withdraw (RFC 7606) or no next hop: gone.
                    _ => {
                        adj.remove(&prefix);
                    }
                }
            }
        }
    }

    /// `clear bgp PEER soft in` from the stored copy: every route as
    /// received goes through the eBGP checks and the import chain again;
    /// the Loc-RIB gains what is now accepted and loses what is not.
    /// Paths kept stale across a graceful restart and not re-announced yet
    /// are left alone (they are not in the copy).
    pub fn soft_in(&mut self, id: PeerId) -> Vec<Output> {
        let Some(peer) = self.peers.get(&id) else {
            return Vec::new();
        };
        let Some(adj) = &peer.adj_rib_in else {
            return Vec::new();
        };
        if peer.established.is_none() {
            return Vec::new();
        }
        let routes: Vec<(IpNet, Arc<PathAttributes>, IpAddr)> = adj
            .iter()
            .map(|(p, (a, nh))| (*p, a.clone(), *nh))
            .collect();
        let import = peer.settings.import.clone();
        let name = peer.settings.name.clone();
        let first_as = peer.enforce_first_as.then_some(peer.settings.asn);
        let guard = peer.guard;
        let extended_next_hop = peer
            .established
            .as_ref()
            .is_some_and(|e| e.extended_next_hop);
        let cx = Context {
            peer: &name,
            local_as: self.cfg.local_as,
        };
        // The eBGP checks once per attribute set, not per route.
        let mut checked: HashMap<*const PathAttributes, Option<Arc<PathAttributes>>> =
            HashMap::new();
        for (prefix, raw, nh) in routes {
            let key = Arc::as_ptr(&raw);
            let attrs = match checked.get(&key) {
                Some(a) => a.clone(),
                None => {
                    let a = self.accept_attributes(&raw, first_as);
                    checked.insert(key, a.clone());
                    a
                }
            };
            // The next-hop checks of receipt (RFC 8950 for an IPv6 next hop
            // of an IPv4 route, a link-local one needs the interface);
            // counted when the route arrived, not again.
            let nh = Some(nh).filter(|nh| {
                self.check_next_hop(id, *nh, prefix.addr().is_ipv4(), extended_next_hop)
                    .is_ok()
            });
            // The default-route and bogon guard depends on the policy too.
            if crate::guard::refuses(guard, &prefix, &import).is_some() {
                self.remove_path(prefix, Source::Peer(id));
                continue;
            }
            match self.import_route(&prefix, Source::Peer(id), attrs.as_ref(), nh, &import, &cx) {
                Some((attrs, nh)) => {
                    let unchanged = self.loc_rib.get(&prefix).is_some_and(|d| {
                        d.paths.iter().any(|p| {
                            p.source == Source::Peer(id)
                                && Arc::ptr_eq(&p.attrs, &attrs)
                                && *p.next_hop == nh
                        })
                    });
                    if !unchanged {
                        let path = crate::path::Path {
                            source: Source::Peer(id),
                            attrs,
                            next_hop: self.track_next_hop(id, nh),
                        };
                        self.insert_path(prefix, path);
                    }
                }
                None => self.remove_path(prefix, Source::Peer(id)),
            }
        }
        self.flush()
    }

    /// `show bgp neighbors ADDR received-routes`: the pre-policy copy, in
    /// prefix order, each marked with whether it is accepted now; `None`
    /// without `soft_reconfiguration`.
    pub fn received_routes(&self, id: PeerId) -> Option<Vec<AdjRoute>> {
        let peer = self.peers.get(&id)?;
        let adj = peer.adj_rib_in.as_ref()?;
        let mut out: Vec<AdjRoute> = adj
            .iter()
            .map(|(prefix, (attrs, nh))| AdjRoute {
                prefix: *prefix,
                attrs: attrs.clone(),
                next_hop: *nh,
                accepted: self
                    .loc_rib
                    .get(prefix)
                    .is_some_and(|d| d.paths.iter().any(|p| p.source == Source::Peer(id))),
            })
            .collect();
        out.sort_by_key(|r| r.prefix);
        Some(out)
    }

    /// (pre-policy routes, of which filtered) per family for a peer with
    /// `soft_reconfiguration`, IPv4 then IPv6; `None` without it.
    pub fn received_counts(&self, id: PeerId) -> Option<[(usize, usize); 2]> {
        let peer = self.peers.get(&id)?;
        let adj = peer.adj_rib_in.as_ref()?;
        let mut counts = [(0, 0); 2];
        for prefix in adj.keys() {
            let i = super::family_index(super::afi_of(prefix));
            counts[i].0 += 1;
            let accepted = self
                .loc_rib
                .get(prefix)
                .is_some_and(|d| d.paths.iter().any(|p| p.source == Source::Peer(id)));
            if !accepted {
                counts[i].1 += 1;
            }
        }
        Some(counts)
    }

    /// Whether `prefix` is in `id`'s Adj-RIB-Out (FRR's `advertisedTo`).
    pub fn advertised_to(&self, id: PeerId, prefix: &IpNet) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| p.adj_rib_out.get(prefix).is_some())
    }

    /// `show bgp neighbors ADDR advertised-routes`: the Adj-RIB-Out as
    /// sent (after export policy, our AS prepended, next hop ours), in
    /// prefix order.
    pub fn advertised_routes(&mut self, id: PeerId) -> Vec<AdjRoute> {
        let Some(peer) = self.peers.get(&id) else {
            return Vec::new();
        };
        let mut prefixes: Vec<IpNet> = peer.adj_rib_out.iter().map(|(p, _)| p).collect();
        prefixes.sort();
        prefixes
            .into_iter()
            .filter_map(|prefix| {
                // The next hop is not stored per route: the export is
                // recomputed, which gives what was sent (flushes are
                // synchronous, so the Adj-RIB-Out is never behind).
                let (attrs, nh) = self.export_attributes(id, &prefix)?;
                Some(AdjRoute {
                    prefix,
                    attrs,
                    next_hop: nh.global,
                    accepted: true,
                })
            })
            .collect()
    }
}
