//! `show bgp neighbors ADDR received-routes|advertised-routes|routes`:
//! one neighbor's Adj-RIB-In (pre-policy, with `soft_reconfiguration:
//! inbound`), Adj-RIB-Out, and accepted paths, in FRR's JSON shapes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use rib::path::PeerId;
use rib::table::Rib;

use super::show::PeerRuntime;
use crate::api::{AdjRib, AdjRoute, AdjRoutes, Afi, Response};
use crate::config::Config;

pub(super) fn neighbor_routes(
    cfg: &Config,
    rib: &mut Rib,
    peers: &BTreeMap<PeerId, PeerRuntime>,
    address: IpAddr,
    which: AdjRib,
    afi: Afi,
) -> Response {
    let Some((&id, p)) = peers
        .iter()
        .find(|(_, p)| p.cfg.addresses.contains(&address))
    else {
        // FRR: "% No such neighbor or address family".
        return Response::Error(format!("No such neighbor {address}"));
    };
    let family = |prefix: &IpNet| match prefix {
        IpNet::V4(_) => Afi::Ipv4,
        IpNet::V6(_) => Afi::Ipv6,
    };
    let routes = match which {
        AdjRib::Routes => {
            let mut t = super::show::routes(cfg, rib, peers, afi, None);
            let peer_id = p.cfg.address().to_string();
            for paths in t.routes.values_mut() {
                paths.retain(|r| r.peer_id == peer_id);
            }
            t.routes.retain(|_, paths| !paths.is_empty());
            t.total_routes = t.routes.len() as u64;
            t.total_paths = t.routes.values().map(|v| v.len() as u64).sum();
            return Response::Routes(t);
        }
        AdjRib::ReceivedRoutes => match rib.received_routes(id) {
            Some(r) => r,
            // FRR's words (bgp_route.c peer_adj_routes).
            None => {
                return Response::Error(format!(
                    "% Inbound soft reconfiguration not enabled for neighbor {address} \
                     (peers.{}.soft_reconfiguration: inbound)",
                    p.name
                ));
            }
        },
        AdjRib::AdvertisedRoutes => rib.advertised_routes(id),
    };
    let mut map = BTreeMap::new();
    let mut filtered = 0;
    for r in routes.iter().filter(|r| family(&r.prefix) == afi) {
        let received = which == AdjRib::ReceivedRoutes;
        if received && !r.accepted {
            filtered += 1;
        }
        let a = &r.attrs;
        map.insert(
            r.prefix.to_string(),
            AdjRoute {
                addr_prefix: r.prefix.addr().to_string(),
                prefix_len: r.prefix.prefix_len(),
                network: r.prefix.to_string(),
                next_hop: (afi == Afi::Ipv4).then_some(r.next_hop),
                next_hop_global: (afi == Afi::Ipv6).then_some(r.next_hop),
                metric: a.med,
                loc_prf: a.local_pref,
                weight: 0,
                path: a.as_path.to_string(),
                origin: super::show::origin(a.origin),
                bgp_origin_code: super::show::origin(a.origin).code().to_string(),
                // What we sent is our best; what we received, valid if accepted.
                applied_status_symbols: [("*", !received || r.accepted), (">", !received)]
                    .into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(s, on)| (s.to_string(), on))
                    .collect(),
                valid: true,
                accepted: received.then_some(r.accepted),
            },
        );
    }
    let total = map.len() as u64;
    let (received_routes, advertised_routes) = match which {
        AdjRib::ReceivedRoutes => (Some(map), None),
        _ => (None, Some(map)),
    };
    Response::AdjRoutes(AdjRoutes {
        bgp_table_version: 0,
        bgp_local_router_id: cfg.router_id.to_string(),
        default_loc_prf: 100,
        local_as: cfg.asn,
        bgp_status_codes: [
            ("suppressed", "s"),
            ("damped", "d"),
            ("history", "h"),
            ("valid", "*"),
            ("best", ">"),
            ("multipath", "="),
            ("internal", "i"),
            ("ribFailure", "r"),
            ("stale", "S"),
            ("removed", "R"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        bgp_origin_codes: [("igp", "i"), ("egp", "e"), ("incomplete", "?")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        received_routes,
        advertised_routes,
        total_prefix_counter: total,
        filtered_prefix_counter: filtered,
    })
}
