//! Builds the control-socket answers (FRR's JSON shapes) from RIB and
//! session state.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bgp::fsm::State;
use ipnet::IpNet;
use rib::best::LossReason;
use rib::kernel::{KernelNextHop, NexthopObject};
use rib::path::{PeerId, Source};
use rib::table::Rib;

use crate::api::{
    self, Afi, BgpSummary, Nexthop, NexthopInfo, NexthopObjectInfo, PeerState, PeerSummary,
    RoutePath, RouteTable, SessionState, Summary,
};
use crate::config::Config;

/// A peer as `show` sees it: the router's, with its session's stats.
pub(crate) struct PeerRuntime {
    pub name: String,
    pub cfg: crate::config::Peer,
    pub stats: std::sync::Arc<bgp::driver::PeerStats>,
}

/// The peer's AS: configured, or for an `external` peer the one its
/// OPEN named (0 before it ever came up).
pub(super) fn remote_as(p: &PeerRuntime) -> u32 {
    p.cfg.asn.number().unwrap_or_else(|| {
        let negotiated = p.stats.negotiated.lock().unwrap();
        negotiated.as_ref().map_or(0, |n| n.remote_as)
    })
}

pub(super) fn session_state(p: &PeerRuntime) -> SessionState {
    match p.stats.state() {
        State::Idle if p.cfg.shutdown => SessionState::IdleAdmin,
        State::Idle => SessionState::Idle,
        State::Connect => SessionState::Connect,
        State::Active => SessionState::Active,
        State::OpenSent => SessionState::OpenSent,
        State::OpenConfirm => SessionState::OpenConfirm,
        State::Established => SessionState::Established,
    }
}

fn peer_summary(
    cfg: &Config,
    rib: &Rib,
    id: PeerId,
    p: &PeerRuntime,
    afi: bgp::wire::Afi,
) -> PeerSummary {
    let stats = &p.stats;
    // FRR's Up/Down counts from the last change: the session coming up,
    // or, while it is down, going down.
    let since = last_change(stats);
    let uptime = since.map(|(at, _)| at.elapsed());
    let (pfx_rcd, pfx_snt) = rib.peer_counts(id, afi);
    let peer_state = if p.cfg.shutdown {
        PeerState::Admin
    } else if p.cfg.import.is_empty() || p.cfg.export.is_empty() {
        // RFC 8212: FRR shows a peer without policy as "(Policy)".
        PeerState::Policy
    } else {
        PeerState::Ok
    };
    PeerSummary {
        hostname: remote_hostname(p),
        remote_as: remote_as(p),
        local_as: cfg.asn,
        version: 4,
        msg_rcvd: stats.received_total(),
        msg_sent: stats.sent_total(),
        table_version: rib.table_version(afi),
        outq: 0,
        inq: 0,
        peer_uptime: api::format_uptime(uptime),
        peer_uptime_msec: uptime.map_or(0, |d| d.as_millis() as u64),
        peer_uptime_established_epoch: since
            .and_then(|(_, wall)| wall.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        pfx_rcd: pfx_rcd as u64,
        pfx_snt: pfx_snt as u64,
        state: session_state(p),
        peer_state,
        connections_established: stats.connections_established.load(Ordering::Relaxed),
        connections_dropped: stats.connections_dropped.load(Ordering::Relaxed),
        desc: p.cfg.description.clone(),
        id_type: Afi::of(p.cfg.address()),
        name: p.name.clone(),
        interface: p.cfg.interface().map(str::to_string),
    }
}

/// When the session last came up (while Established) or went down
/// (otherwise), monotonic and wall clock; `None` if it never came up.
fn last_change(stats: &bgp::driver::PeerStats) -> Option<(std::time::Instant, SystemTime)> {
    let up = *stats.established_at.lock().unwrap();
    if stats.state() == State::Established && up.is_some() {
        return up;
    }
    let down = stats.last_down.lock().unwrap();
    down.as_ref().map(|d| (d.at, d.wall))
}

/// `show bgp summary`: every peer appears under each family it carries,
/// keyed by its session address, as FRR does.
pub(super) fn summary(
    cfg: &Config,
    rib: &Rib,
    peers: &BTreeMap<PeerId, PeerRuntime>,
) -> BgpSummary {
    let mut per_family: [BTreeMap<String, PeerSummary>; 2] = Default::default();
    for (id, p) in peers {
        for (family, afi) in per_family
            .iter_mut()
            .zip([bgp::wire::Afi::Ipv4, bgp::wire::Afi::Ipv6])
        {
            family.insert(
                p.cfg.address().to_string(),
                peer_summary(cfg, rib, *id, p, afi),
            );
        }
    }
    let (v4_count, v6_count) = rib.loc_rib().counts();
    // Like FRR's (which counts its per-peer structures): our per-peer
    // records plus the Adj-RIBs-In that are measured.
    let peer_memory = peers.len() * std::mem::size_of::<PeerRuntime>()
        + peers
            .keys()
            .filter_map(|id| rib.adj_rib_in_bytes(*id))
            .sum::<usize>();
    let family = |afi: bgp::wire::Afi, count: usize, peers| {
        let mut s = Summary::new(cfg.router_id.to_string(), cfg.asn, count as u64, peers);
        s.table_version = rib.table_version(afi);
        // Like FRR's (which counts its `bgp_dest`s): the Loc-RIB's entries
        // alone, not their paths and attributes.
        s.rib_memory = (count * LOC_RIB_ENTRY_BYTES) as u64;
        s.peer_memory = peer_memory as u64;
        s.best_path.multi_path_relax = cfg.multipath_relax.to_string();
        s
    };
    let [v4, v6] = per_family;
    BgpSummary {
        ipv4_unicast: Some(family(bgp::wire::Afi::Ipv4, v4_count, v4)),
        ipv6_unicast: Some(family(bgp::wire::Afi::Ipv6, v6_count, v6)),
    }
}

/// A Loc-RIB entry's size: the prefix (as the larger, IPv6, key) and
/// its destination record.
const LOC_RIB_ENTRY_BYTES: usize =
    std::mem::size_of::<ipnet::Ipv6Net>() + std::mem::size_of::<rib::table::Dest>();

/// FRR's words for why the best path won (bgp_route.c
/// `bgp_path_selection_reason2str`); `None`: it was the only candidate.
fn selection_reason(r: Option<LossReason>) -> &'static str {
    match r {
        None => "First path received",
        Some(LossReason::NextHopUnresolved) => "First path received",
        Some(LossReason::LocalPref) => "Local Pref",
        Some(LossReason::LocalOrigin) => "Local Route",
        Some(LossReason::AsPathLength) => "AS Path",
        Some(LossReason::Origin) => "Origin",
        Some(LossReason::Med) => "MED",
        Some(LossReason::Stale) => "Path Staleness",
        Some(LossReason::RouterId) => "Router ID",
        Some(LossReason::PeerAddress) => "Neighbor IP",
    }
}

/// `show bgp ipv4|ipv6 unicast [PREFIX]`.
pub(super) fn routes(
    cfg: &Config,
    rib: &Rib,
    peers: &BTreeMap<PeerId, PeerRuntime>,
    afi: Afi,
    only: Option<IpNet>,
) -> RouteTable {
    let mut out = BTreeMap::new();
    for (prefix, dest) in rib.loc_rib().iter() {
        let family = match prefix {
            IpNet::V4(_) => Afi::Ipv4,
            IpNet::V6(_) => Afi::Ipv6,
        };
        if family != afi || only.is_some_and(|o| o != prefix) {
            continue;
        }
        let paths: Vec<RoutePath> = dest
            .paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let best = dest.best() == Some(i);
                let attrs = &path.attrs;
                let (peer_id, next_hop, hostname) = match path.source {
                    Source::Local => ("(unspec)".into(), local_next_hop(afi), None),
                    Source::Peer(id) => {
                        let p = peers.get(&id);
                        (
                            p.map_or_else(|| "?".into(), |p| p.cfg.address().to_string()),
                            *path.next_hop,
                            p.and_then(remote_hostname),
                        )
                    }
                };
                let via = via(rib, dest, i);
                RoutePath {
                    valid: rib.eligible(path),
                    bestpath: best,
                    multipath: dest.is_multipath(i),
                    selection_reason: best
                        .then(|| selection_reason(rib.selection_reason(&prefix, dest)).into()),
                    stale: match path.source {
                        Source::Peer(id) => rib.is_stale(id, &prefix),
                        Source::Local => false,
                    },
                    path_from: "external".into(),
                    prefix: prefix.addr().to_string(),
                    prefix_len: prefix.prefix_len(),
                    network: prefix.to_string(),
                    metric: attrs.med,
                    loc_prf: attrs.local_pref,
                    weight: if path.source == Source::Local {
                        32768
                    } else {
                        0
                    },
                    peer_id,
                    path: attrs.as_path.to_string(),
                    origin: origin(attrs.origin),
                    nexthops: vec![Nexthop {
                        hostname,
                        ..Nexthop::global(next_hop)
                    }],
                    installed: best && dest.installed().is_some(),
                    via,
                    attrs: path_attrs(attrs),
                }
            })
            .collect();
        out.insert(prefix.to_string(), paths);
    }
    RouteTable::new(cfg.router_id.to_string(), cfg.asn, out)
}

/// How the kernel route of path `i` resolved, if it is installed.
fn via(rib: &Rib, dest: &rib::table::Dest, i: usize) -> Option<String> {
    if dest.best() != Some(i) && !dest.is_multipath(i) {
        return None;
    }
    dest.installed().map(|hops| {
        hops.iter()
            .map(|h| via_text(rib, h))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// `via GW dev IF [onlink]`, as `ip route` writes a next hop.
fn via_text(rib: &Rib, h: &KernelNextHop) -> String {
    let dev = rib.kernel().ifname(h.ifindex).unwrap_or("?");
    let onlink = if h.onlink { " onlink" } else { "" };
    format!("via {} dev {dev}{onlink}", h.gateway)
}

/// The host name the peer announced on its last session (FRR keeps
/// showing it once the session is down).
pub(super) fn remote_hostname(p: &PeerRuntime) -> Option<String> {
    p.stats.remote_hostname.lock().unwrap().clone()
}

/// `show bgp ipv4|ipv6 unicast PREFIX`: FRR's detail of one prefix
/// (`prefix`, `advertisedTo`, `paths` with `bestpath.selectionReason`).
pub(super) fn route(
    rib: &Rib,
    peers: &BTreeMap<PeerId, PeerRuntime>,
    cfg: &Config,
    prefix: IpNet,
) -> Option<api::RouteDetail> {
    let dest = rib.loc_rib().get(&prefix)?;
    let afi = Afi::of(prefix.addr());
    let advertised_to = peers
        .iter()
        .filter(|(id, _)| rib.advertised_to(**id, &prefix))
        .map(|(_, p)| {
            let to = api::AdvertisedTo {
                hostname: remote_hostname(p),
            };
            (p.cfg.address().to_string(), to)
        })
        .collect();
    let best = dest.best();
    let mut order: Vec<usize> = (0..dest.paths.len()).collect();
    // Best first, as the table view.
    order.sort_by_key(|&i| Some(i) != best);
    let paths = order
        .into_iter()
        .map(|i| {
            let path = &dest.paths[i];
            let a = &path.attrs;
            let local = path.source == Source::Local;
            let peer = match path.source {
                Source::Local => api::PathPeer {
                    peer_id: local_next_hop(afi).to_string(),
                    router_id: cfg.router_id.to_string(),
                    hostname: None,
                    kind: None,
                },
                Source::Peer(id) => {
                    let p = peers.get(&id);
                    let n = p.and_then(|p| p.stats.negotiated.lock().unwrap().clone());
                    api::PathPeer {
                        peer_id: p.map_or_else(|| "?".into(), |p| p.cfg.address().to_string()),
                        router_id: n
                            .as_ref()
                            .map_or_else(|| "0.0.0.0".into(), |n| n.remote_id.to_string()),
                        hostname: p.and_then(remote_hostname),
                        kind: Some("external".into()),
                    }
                }
            };
            let next_hop = if local {
                local_next_hop(afi)
            } else {
                *path.next_hop
            };
            let scope = match next_hop {
                IpAddr::V6(v6) if v6.is_unicast_link_local() => "link-local",
                _ => "global",
            };
            let mut attrs = path_attrs(a);
            if local && let Some(p) = attrs.aspath.as_mut() {
                p.string = "Local".into();
            }
            api::PathDetail {
                origin: origin(a.origin),
                metric: a.med,
                loc_prf: a.local_pref,
                weight: if local { 32768 } else { 0 },
                valid: rib.eligible(path),
                sourced: local,
                local,
                stale: match path.source {
                    Source::Peer(id) => rib.is_stale(id, &prefix),
                    Source::Local => false,
                },
                multipath: dest.is_multipath(i) && best != Some(i),
                bestpath: (best == Some(i)).then(|| api::BestPath {
                    overall: true,
                    selection_reason: selection_reason(rib.selection_reason(&prefix, dest)).into(),
                }),
                not_best_reason: rib
                    .loss_reason(&prefix, dest, i)
                    .filter(|_| best != Some(i))
                    .map(|r| r.describe().into()),
                nexthops: vec![api::NexthopDetail {
                    ip: next_hop,
                    hostname: peer.hostname.clone(),
                    afi: Afi::of(next_hop),
                    scope: scope.into(),
                    accessible: rib.eligible(path),
                    used: true,
                }],
                peer,
                installed: best == Some(i) && dest.installed().is_some(),
                via: via(rib, dest, i),
                attrs,
            }
        })
        .collect();
    Some(api::RouteDetail {
        prefix: prefix.to_string(),
        advertised_to,
        paths,
    })
}

pub(super) fn origin(o: bgp::wire::Origin) -> api::Origin {
    match o {
        bgp::wire::Origin::Igp => api::Origin::Igp,
        bgp::wire::Origin::Egp => api::Origin::Egp,
        bgp::wire::Origin::Incomplete => api::Origin::Incomplete,
    }
}

/// The attribute detail of a path in FRR's JSON shapes.
fn path_attrs(a: &bgp::wire::PathAttributes) -> api::PathAttrs {
    use bgp::wire::SegmentType;
    let segments = a
        .as_path
        .segments
        .iter()
        .map(|s| api::AsSegmentInfo {
            kind: match s.kind {
                SegmentType::Sequence => "as-sequence",
                SegmentType::Set => "as-set",
                SegmentType::ConfedSequence => "as-confed-sequence",
                SegmentType::ConfedSet => "as-confed-set",
            }
            .into(),
            list: s.asns.clone(),
        })
        .collect();
    api::PathAttrs {
        aspath: Some(api::AsPathInfo {
            string: a.as_path.to_string(),
            segments,
            length: a.as_path.len(),
        }),
        community: api::CommunityList::new(
            a.communities.iter().map(|c| community_text(*c)).collect(),
        ),
        extended_community: api::CommunityList::new(
            a.ext_communities().iter().map(ext_community_text).collect(),
        ),
        large_community: api::CommunityList::new(
            a.large_communities()
                .iter()
                .map(|l| format!("{}:{}:{}", l.global, l.local1, l.local2))
                .collect(),
        ),
        unknown_attributes: a
            .unknown()
            .iter()
            .map(|u| api::UnknownAttribute {
                code: u.code,
                flags: u.flags,
                partial: u.flags & 0x20 != 0,
                value: u.value.iter().map(|b| format!("{b:02x}")).collect(),
            })
            .collect(),
    }
}

/// FRR's names for the well-known communities, `ASN:VALUE` for the rest.
fn community_text(c: bgp::wire::Community) -> String {
    use bgp::wire::Community as C;
    match c {
        C::GRACEFUL_SHUTDOWN => "graceful-shutdown".into(),
        C::BLACKHOLE => "blackhole".into(),
        C::NO_EXPORT => "no-export".into(),
        C::NO_ADVERTISE => "no-advertise".into(),
        C::NO_EXPORT_SUBCONFED => "local-AS".into(),
        c => c.to_string(),
    }
}

/// An extended community (RFC 4360) as FRR writes it: `RT:65001:100`,
/// `SoO:192.0.2.1:7`; types FRR has no name for as `0xTTSS:hex`.
fn ext_community_text(e: &[u8; 8]) -> String {
    let (kind, sub) = (e[0] & 0x3f, e[1]);
    let name = match sub {
        0x02 => "RT",
        0x03 => "SoO",
        _ => "",
    };
    let v = &e[2..];
    let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]) as u32;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    match (kind, name.is_empty()) {
        // RFC 4360 §3.1 two-octet AS specific, RFC 5668 four-octet AS specific.
        (0x00, false) => format!("{name}:{}:{}", be16(v), be32(&v[2..])),
        (0x02, false) => format!("{name}:{}:{}", be32(v), be16(&v[4..])),
        // RFC 4360 §3.2 IPv4 address specific.
        (0x01, false) => format!(
            "{name}:{}:{}",
            std::net::Ipv4Addr::new(v[0], v[1], v[2], v[3]),
            be16(&v[4..])
        ),
        _ => format!(
            "0x{:02x}{:02x}:{}",
            e[0],
            sub,
            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

/// FRR shows locally originated routes with next hop 0.0.0.0 / ::.
fn local_next_hop(afi: Afi) -> IpAddr {
    match afi {
        Afi::Ipv4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Afi::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// `show nexthops`: every BGP next hop, how it resolves, how many paths use it.
pub(super) fn nexthops(rib: &Rib) -> Vec<NexthopInfo> {
    let mut out: Vec<NexthopInfo> = rib
        .next_hops()
        .map(|(ip, resolved, users)| NexthopInfo {
            ip,
            resolved: resolved.is_some(),
            via: (resolved.unwrap_or_default().iter())
                .map(|h| via_text(rib, h))
                .collect(),
            paths: users as u64,
        })
        .collect();
    out.sort_by_key(|n| n.ip);
    out
}

/// `show nexthops objects`: the FIB writer's nexthop objects.
pub(super) fn nexthop_objects(rib: &Rib, objects: Vec<NexthopObject>) -> Vec<NexthopObjectInfo> {
    let vias = |hops: &[KernelNextHop]| hops.iter().map(|h| via_text(rib, h)).collect();
    (objects.into_iter())
        .map(|o| NexthopObjectInfo {
            id: o.id,
            via: vias(&o.nexthops),
            members: o.members,
            backup: vias(&o.backup),
            routes: o.routes as u64,
            groups: o.groups as u64,
            installed: o.installed,
        })
        .collect()
}

#[cfg(test)]
#[path = "show_frr_tests.rs"]
mod frr_tests;
