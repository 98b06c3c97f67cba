//! The peer views of the control socket (FRR's JSON shapes): `show bgp
//! neighbors` and `show tunnels`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use bgp::fsm::DownReason;
use rib::path::PeerId;
use rib::table::Rib;

use super::show::{PeerRuntime, session_state};
use crate::api::{self, AfInfo, MessageStats, Neighbor, TunnelInfo};
use crate::config::Config;

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
        let stats = &p.stats;
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
            remote_as: super::show::remote_as(p),
            local_as: cfg.asn,
            nbr_external_link: true,
            bgp_version: 4,
            nbr_desc: p.cfg.description.clone(),
            hostname: super::show::remote_hostname(p),
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
    router: &super::router::Router,
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
        if let Some(f) = router.tunnel_failure(*id) {
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
