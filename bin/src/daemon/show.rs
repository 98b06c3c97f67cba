//! Builds the control-socket answers (FRR's JSON shapes) from RIB and
//! session state.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bgp::fsm::{DownReason, State};
use ipnet::IpNet;
use rib::best::LossReason;
use rib::path::{PeerId, Source};
use rib::table::Rib;

use super::rib_task::PeerRuntime;
use crate::api::{
    self, AfInfo, Afi, BgpSummary, MessageStats, Neighbor, Nexthop, NexthopInfo, PeerState,
    PeerSummary, RoutePath, RouteTable, SessionState, Summary, TunnelInfo,
};
use crate::config::Config;

/// Metric labels of a peer: session address, remote AS, config name.
pub(super) fn peer_labels(p: &PeerRuntime) -> [String; 3] {
    [
        p.cfg.address().to_string(),
        p.cfg.asn.to_string(),
        p.name.clone(),
    ]
}

fn session_state(p: &PeerRuntime) -> SessionState {
    match p.session.stats.state() {
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
    let stats = &p.session.stats;
    // FRR's Up/Down counts from the last change: the session coming up,
    // or, while it is down, going down.
    let since = last_change(stats);
    let uptime = since.map(|(at, _)| at.elapsed());
    let (pfx_rcd, pfx_snt) = rib.peer_counts(id, afi);
    let negotiated = stats.negotiated.lock().unwrap().clone();
    let peer_state = if p.cfg.shutdown {
        PeerState::Admin
    } else if p.cfg.import.is_empty() || p.cfg.export.is_empty() {
        // RFC 8212: FRR shows a peer without policy as "(Policy)".
        PeerState::Policy
    } else {
        PeerState::Ok
    };
    PeerSummary {
        hostname: negotiated.and_then(|n| n.remote_hostname),
        remote_as: p.cfg.asn,
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
                    installed: best && dest.installed.is_some(),
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
    dest.installed.as_ref().map(|hops| {
        hops.iter()
            .map(|h| {
                let dev = rib.kernel().ifname(h.ifindex).unwrap_or("?");
                let onlink = if h.onlink { " onlink" } else { "" };
                format!("via {} dev {dev}{onlink}", h.gateway)
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The host name the peer announced on its current session.
fn remote_hostname(p: &PeerRuntime) -> Option<String> {
    let n = p.session.stats.negotiated.lock().unwrap();
    n.as_ref().and_then(|n| n.remote_hostname.clone())
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
                    let n = p.and_then(|p| p.session.stats.negotiated.lock().unwrap().clone());
                    api::PathPeer {
                        peer_id: p.map_or_else(|| "?".into(), |p| p.cfg.address().to_string()),
                        router_id: n
                            .as_ref()
                            .map_or_else(|| "0.0.0.0".into(), |n| n.remote_id.to_string()),
                        hostname: n.and_then(|n| n.remote_hostname),
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
                installed: best == Some(i) && dest.installed.is_some(),
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

/// A neighbor's `gracefulRestartInfo`, from its last OPEN (kept after the
/// session went down) and our side's configuration and state.
fn graceful_restart_info(
    p: &PeerRuntime,
    negotiated: Option<&bgp::fsm::Negotiated>,
    peer_restarting: bool,
    restart: &super::restart::Restart,
    end_of_rib: &bgp::driver::EndOfRibSeen,
) -> api::GracefulRestartInfo {
    use bgp::wire::Capability;
    let local = restart.for_peer(&p.cfg);
    let local_gr_mode = match (local, p.cfg.graceful_restart) {
        (Some(_), _) => "Restart",
        (None, Some(_)) => "Helper",
        (None, None) => "Disable",
    };
    let theirs = negotiated.and_then(|n| {
        n.remote_open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart {
                restart_state,
                notification,
                restart_time,
                families,
            } => Some((*restart_state, *notification, *restart_time, families)),
            _ => None,
        })
    });
    let remote_gr_mode = match (negotiated, &theirs) {
        (None, _) => "NotApplicable",
        (Some(_), None) => "Disable",
        (Some(_), Some((_, _, _, families))) if families.is_empty() => "Helper",
        (Some(_), Some(_)) => "Restart",
    };
    let f_bits = theirs
        .map(|(_, _, _, families)| {
            families
                .iter()
                .map(|(afi, safi, f)| (format!("{afi}{}", family_suffix(*safi)), *f))
                .collect()
        })
        .unwrap_or_default();
    let key = |afis: &[bgp::wire::Afi]| -> BTreeMap<String, bool> {
        afis.iter().map(|a| (format!("{a}Unicast"), true)).collect()
    };
    let families = negotiated
        .map(|n| {
            n.families
                .iter()
                .filter(|(_, safi)| *safi == bgp::wire::Safi::Unicast)
                .map(|(afi, _)| {
                    let family = api::GracefulRestartFamily {
                        f_bit: theirs.is_some_and(|t| {
                            t.3.iter()
                                .any(|(a, s, f)| a == afi && *s == bgp::wire::Safi::Unicast && *f)
                        }),
                        end_of_rib_status: api::EndOfRibStatus {
                            end_of_rib_send: end_of_rib.sent.contains(afi),
                            end_of_rib_recv: end_of_rib.received.contains(afi),
                        },
                        timers: api::GracefulRestartFamilyTimers {
                            stale_path_timer: super::router::graceful::STALE_PATH_TIME.as_secs(),
                        },
                    };
                    (format!("{afi}Unicast"), family)
                })
                .collect()
        })
        .unwrap_or_default();
    api::GracefulRestartInfo {
        local_gr_mode: local_gr_mode.into(),
        remote_gr_mode: remote_gr_mode.into(),
        r_bit: theirs.is_some_and(|t| t.0),
        n_bit: theirs.is_some_and(|t| t.1),
        f_bits,
        timers: api::GracefulRestartTimers {
            configured_restart_timer: p.cfg.graceful_restart.unwrap_or(0),
            received_restart_timer: theirs.map(|t| t.2),
        },
        peer_restarting,
        local_restarting: local.is_some()
            && restart.deferring()
            && restart.waiting_for().contains(&p.name.as_str()),
        end_of_rib_send: key(&end_of_rib.sent),
        end_of_rib_recv: key(&end_of_rib.received),
        families,
    }
}

/// `Unicast` in FRR's family keys (`ipv4Unicast`).
fn family_suffix(safi: bgp::wire::Safi) -> String {
    match safi {
        bgp::wire::Safi::Unicast => "Unicast".into(),
        other => format!("Safi{}", u8::from(other)),
    }
}

/// FRR shows locally originated routes with next hop 0.0.0.0 / ::.
fn local_next_hop(afi: Afi) -> IpAddr {
    match afi {
        Afi::Ipv4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Afi::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// `show bgp neighbors [ADDR]`, keyed by session address.
pub(super) fn neighbors(
    cfg: &Config,
    rib: &Rib,
    peers: &BTreeMap<PeerId, PeerRuntime>,
    only: Option<IpAddr>,
    restart: &super::restart::Restart,
) -> BTreeMap<String, Neighbor> {
    let mut out = BTreeMap::new();
    for (id, p) in peers {
        if only.is_some_and(|a| !p.cfg.addresses.contains(&a)) {
            continue;
        }
        let stats = &p.session.stats;
        let count = |c: &[std::sync::atomic::AtomicU64; 6], i: usize| c[i].load(Ordering::Relaxed);
        let (sent, recv) = (&stats.messages_sent, &stats.messages_received);
        let established_at = *stats.established_at.lock().unwrap();
        let negotiated = stats.negotiated.lock().unwrap().clone();
        let capabilities = negotiated.as_ref().map(capabilities);
        let connection = *stats.connection.lock().unwrap();
        let last_down = stats.last_down.lock().unwrap().clone();
        let notification = last_down.as_ref().and_then(|d| match &d.reason {
            DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => Some(n),
            _ => None,
        });
        let settings = rib.peer_settings(*id);
        let end_of_rib = stats.end_of_rib.lock().unwrap().clone();
        let mut families = BTreeMap::new();
        for (afi, key) in [
            (bgp::wire::Afi::Ipv4, "ipv4Unicast"),
            (bgp::wire::Afi::Ipv6, "ipv6Unicast"),
        ] {
            let (accepted, sent) = rib.peer_counts(*id, afi);
            let names = |chain: &[String]| (!chain.is_empty()).then(|| chain.join(" "));
            families.insert(
                key.to_string(),
                AfInfo {
                    comm_attri_sent_to_nbr: "extendedAndStandard".into(),
                    inbound_path_policy_config: !p.cfg.import.is_empty(),
                    outbound_path_policy_config: !p.cfg.export.is_empty(),
                    route_map_for_incoming_advertisements: names(&p.cfg.import),
                    route_map_for_outgoing_advertisements: names(&p.cfg.export),
                    accepted_prefix_counter: accepted as u64,
                    sent_prefix_counter: sent as u64,
                },
            );
        }
        let neighbor = Neighbor {
            remote_as: p.cfg.asn,
            local_as: cfg.asn,
            nbr_external_link: true,
            bgp_version: 4,
            nbr_desc: p.cfg.description.clone(),
            hostname: negotiated.as_ref().and_then(|n| n.remote_hostname.clone()),
            // FRR: 0.0.0.0 until a session told it.
            remote_router_id: Some(
                negotiated
                    .as_ref()
                    .map_or_else(|| "0.0.0.0".into(), |n| n.remote_id.to_string()),
            ),
            local_router_id: cfg.router_id.to_string(),
            bgp_state: session_state(p),
            bgp_timer_up_msec: established_at.map_or(0, |(at, _)| at.elapsed().as_millis() as u64),
            bgp_timer_up_string: established_at
                .map(|(at, _)| api::format_uptime(Some(at.elapsed()))),
            bgp_timer_up_established_epoch: established_at
                .and_then(|(_, wall)| wall.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            bgp_timer_configured_hold_time_msecs: p.cfg.hold_time as u64 * 1000,
            bgp_timer_configured_keep_alive_interval_msecs: p.cfg.keepalive as u64 * 1000,
            extended_optional_parameters_length: false,
            min_btwn_advertisement_runs_timer_msecs: 0,
            // Negotiated, else (as FRR) configured.
            bgp_timer_hold_time_msecs: Some(
                negotiated.as_ref().map_or(p.cfg.hold_time, |n| n.hold_time) as u64 * 1000,
            ),
            bgp_timer_keep_alive_interval_msecs: Some(
                negotiated.as_ref().map_or(p.cfg.keepalive, |n| n.keepalive) as u64 * 1000,
            ),
            update_source: p.cfg.local_address.map(|a| a.to_string()),
            interface: p.cfg.session_interface().map(str::to_string),
            neighbor_capabilities: capabilities,
            message_stats: MessageStats {
                opens_sent: count(sent, 1),
                opens_recv: count(recv, 1),
                updates_sent: count(sent, 2),
                updates_recv: count(recv, 2),
                notifications_sent: count(sent, 3),
                notifications_recv: count(recv, 3),
                keepalives_sent: count(sent, 4),
                keepalives_recv: count(recv, 4),
                route_refresh_sent: count(sent, 5),
                route_refresh_recv: count(recv, 5),
                total_sent: stats.sent_total(),
                total_recv: stats.received_total(),
            },
            connections_established: stats.connections_established.load(Ordering::Relaxed),
            connections_dropped: stats.connections_dropped.load(Ordering::Relaxed),
            last_reset_timer_msecs: last_down
                .as_ref()
                .map(|d| d.at.elapsed().as_millis() as u64),
            last_reset_due_to: stats.last_error.lock().unwrap().clone(),
            last_reset_code: last_down.as_ref().map(|d| reset_code(&d.reason)),
            last_notification_reason: notification.map(|n| {
                format!(
                    "{}/{}",
                    n.code_name(),
                    n.subcode_name()
                        .map_or_else(|| format!("subcode {}", n.subcode), str::to_string)
                )
            }),
            last_error_code_subcode: notification
                .map(|n| format!("{:02X}{:02X}", n.code, n.subcode)),
            last_notification_hard_reset: notification
                .map(|n| n.is_cease(bgp::wire::CeaseSubcode::HardReset)),
            host_local: connection.map(|c| c.local.ip().to_string()),
            port_local: connection.map(|c| c.local.port()),
            host_foreign: connection.map(|c| c.remote.ip().to_string()),
            port_foreign: connection.map(|c| c.remote.port()),
            nexthop: settings.and_then(|s| s.local_v4).map(|a| a.to_string()),
            nexthop_global: settings.and_then(|s| s.local_v6).map(|a| a.to_string()),
            nexthop_local: settings
                .and_then(|s| s.local_link_local)
                .map(|a| a.to_string()),
            address_family_info: families,
            name: p.name.clone(),
            peer_bfd_info: None,
            graceful_restart_info: graceful_restart_info(
                p,
                negotiated.as_ref(),
                rib.stale_count(*id) > 0,
                restart,
                &end_of_rib,
            ),
        };
        out.insert(p.cfg.address().to_string(), neighbor);
    }
    out
}

/// `neighborCapabilities` of an Established session.
fn capabilities(n: &bgp::fsm::Negotiated) -> api::NeighborCapabilities {
    let both = |yes: bool| yes.then(|| "advertisedAndReceived".to_string());
    api::NeighborCapabilities {
        four_byte_as: both(n.four_octet_as),
        extended_message: both(n.extended_message),
        route_refresh: n
            .route_refresh
            .then(|| "advertisedAndReceivedNew".to_string()),
        enhanced_route_refresh: both(n.enhanced_route_refresh),
        extended_nexthop: both(n.extended_next_hop),
        multiprotocol_extensions: n
            .families
            .iter()
            .map(|(afi, safi)| {
                let how = [("advertisedAndReceived".to_string(), true)].into();
                (format!("{afi}{}", family_suffix(*safi)), how)
            })
            .collect(),
        graceful_restart: both(n.graceful_restart.is_some()),
        graceful_restart_remote_timer_msecs: n
            .graceful_restart
            .as_ref()
            .map(|g| g.restart_time as u64 * 1000),
        host_name: Some(host_name(n)),
    }
}

/// The FQDN capabilities of a session: ours is the host name the session
/// task sends (the kernel's), the peer's from its OPEN.
fn host_name(n: &bgp::fsm::Negotiated) -> api::HostNameCapability {
    let na = |s: &str| {
        if s.is_empty() {
            "n/a".to_string()
        } else {
            s.to_string()
        }
    };
    let ours = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let (rcv_host, rcv_domain) = n
        .remote_open
        .capabilities
        .iter()
        .find_map(|c| match c {
            bgp::wire::Capability::Fqdn { hostname, domain } => {
                Some((hostname.clone(), domain.clone()))
            }
            _ => None,
        })
        .unwrap_or_default();
    api::HostNameCapability {
        adv_host_name: na(ours.trim()),
        adv_domain_name: "n/a".into(),
        rcv_host_name: na(&rcv_host),
        rcv_domain_name: na(&rcv_domain),
    }
}

/// FRR's `PEER_DOWN_*` number (bgpd/bgpd.h) for why a session ended.
fn reset_code(reason: &DownReason) -> u32 {
    match reason {
        DownReason::NotificationReceived(_) => 13,
        DownReason::NotificationSent(n)
            if n.is_cease(bgp::wire::CeaseSubcode::AdministrativeShutdown) =>
        {
            11
        }
        DownReason::NotificationSent(n)
            if n.is_cease(bgp::wire::CeaseSubcode::AdministrativeReset) =>
        {
            12
        }
        DownReason::NotificationSent(_) => 14,
        DownReason::HoldTimerExpired => 14,
        DownReason::ConnectionClosed => 15,
        DownReason::AdminStop => 11,
        DownReason::TaskFailed(_) => 34,
    }
}

/// `show tunnels`: what `wg show` would say, read from each interface.
pub(super) async fn tunnels(
    manager: &tunnels::TunnelManager,
    peers: &BTreeMap<PeerId, PeerRuntime>,
    retry: &super::router::tunnel_retry::TunnelRetry,
) -> Vec<TunnelInfo> {
    let mut out = Vec::new();
    for (id, p) in peers {
        let Some(ifname) = p.cfg.interface() else {
            continue;
        };
        let wg = p.cfg.wireguard.as_ref();
        let mut info = TunnelInfo {
            interface: ifname.to_string(),
            peer: p.name.clone(),
            backend: manager.backend().to_string(),
            up: false,
            public_key: None,
            peer_public_key: wg.map(|w| w.public_key.to_base64()),
            endpoint: None,
            listen_port: None,
            latest_handshake_epoch: None,
            latest_handshake_age_secs: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: wg.and_then(|w| w.persistent_keepalive),
            mtu: None,
            restarts: 0,
            error: None,
        };
        match manager.status(ifname).await {
            Ok(st) => {
                info.backend = st.backend.to_string();
                info.up = st.oper_up;
                info.public_key = st.public_key.map(|k| k.to_base64());
                info.listen_port = st.listen_port;
                info.mtu = st.mtu;
                info.restarts = st.restarts;
                if let Some(peer) = st.peer {
                    info.peer_public_key = Some(peer.public_key.to_base64());
                    info.endpoint = peer.endpoint.map(|e| e.to_string());
                    info.latest_handshake_epoch = peer
                        .last_handshake
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map(|d| d.as_secs());
                    info.latest_handshake_age_secs = peer.handshake_age.map(|d| d.as_secs());
                    info.rx_bytes = peer.rx_bytes;
                    info.tx_bytes = peer.tx_bytes;
                    info.persistent_keepalive = peer.persistent_keepalive;
                }
            }
            Err(e) => info.error = Some(e.to_string()),
        }
        if let Some(f) = retry.get(*id) {
            let wait = f
                .next_at
                .saturating_duration_since(std::time::Instant::now());
            info.up = false;
            info.error = Some(format!(
                "not up after {} attempts: {}; next attempt in {} s",
                f.attempts,
                f.error,
                wait.as_secs()
            ));
        }
        out.push(info);
    }
    out
}

/// `show nexthops`: every BGP next hop, how it resolves, how many paths use it.
pub(super) fn nexthops(rib: &Rib) -> Vec<NexthopInfo> {
    let mut out: Vec<NexthopInfo> = rib
        .next_hops()
        .map(|(ip, resolved, users)| NexthopInfo {
            ip,
            resolved: resolved.is_some(),
            via: resolved
                .unwrap_or_default()
                .iter()
                .map(|h| {
                    let dev = rib.kernel().ifname(h.ifindex).unwrap_or("?");
                    let onlink = if h.onlink { " onlink" } else { "" };
                    format!("via {} dev {dev}{onlink}", h.gateway)
                })
                .collect(),
            paths: users as u64,
        })
        .collect();
    out.sort_by_key(|n| n.ip);
    out
}

#[cfg(test)]
#[path = "show_frr_tests.rs"]
mod frr_tests;
