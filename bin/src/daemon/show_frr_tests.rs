//! The `show` JSON next to FRR 8.4's: for each command, every key path
//! FRR writes (with the JSON type of its value) must be in ours, or be in
//! that command's list of keys we deliberately lack, with the reason
//! ([`crate::frr_keys`]).
//!
//! FRR's side is bin/tests/fixtures/frr-8.4/*.json, captured from a real
//! FRR 8.4.4 (Debian 12) by bin/tests/fixtures/frr-8.4/capture.sh (two
//! namespaces, two bgpd, one eBGP session; then a Cease from the peer).
//! Ours is built by the same functions the control socket answers with,
//! over a RIB and session stats in the same situation (peer AS 65501 up
//! with its routes; then down after its Cease/Administrative Shutdown).
//! Keys that name an address or a prefix compare as `*`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bgp::driver::{EndOfRibSeen, Endpoints, LastDown, PeerStats};
use bgp::fsm::{DownReason, Negotiated, PeerGracefulRestart, State};
use bgp::wire::{
    AsPath, Capability, CeaseSubcode, Community, LargeCommunity, Notification, Open,
    PathAttributes, Safi, Update,
};
use ipnet::Ipv4Net;
use rib::path::PeerId;
use rib::table::Rib;
use serde_json::Value;

use crate::frr_keys::*;

use super::PeerRuntime;
use crate::api::Afi;
use crate::config::Config;

use crate::daemon::test_rib::{S2, WG_S2};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/frr-8.4/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> Config {
    let src = include_str!("../../tests/data/s1.yaml");
    Config::from_str(src, "s1.yaml").expect("s1.yaml parses")
}

/// Our RIB (AS 65500) with peer S2 (AS 65501, 2.2.2.2 through its tunnel)
/// up: it announces 198.51.100.0/24 and 203.0.113.0/24 (which we originate
/// too) with MED 50, communities and a large community, as FRR's peer in
/// the capture.
fn rib() -> Rib {
    let mut rib = crate::daemon::test_rib::with_s2(|s2| {
        s2.local_v6 = Some("fd00::1".parse().unwrap());
        s2.interface = Some(WG_S2);
        s2.local_link_local = Some("fe80::1".parse().unwrap());
    });
    let families = [(bgp::wire::Afi::Ipv4, Safi::Unicast)];
    rib.handle_peer_up(S2, Ipv4Addr::new(2, 2, 2, 2), &families, false);
    let _ = rib.originate(&["203.0.113.0/24".parse().unwrap()]);
    for prefix in ["198.51.100.0/24", "203.0.113.0/24"] {
        let mut attrs = PathAttributes {
            as_path: AsPath::from_sequence([65501]),
            med: Some(50),
            communities: vec![Community(65501 << 16 | 7), Community::NO_EXPORT],
            ..Default::default()
        };
        attrs.large_communities_mut().push(LargeCommunity {
            global: 65501,
            local1: 1,
            local2: 2,
        });
        let update = Update {
            attributes: Some(attrs),
            next_hop: Some("2.2.2.2".parse().unwrap()),
            nlri: vec![prefix.parse::<Ipv4Net>().unwrap()],
            ..Default::default()
        };
        let _ = rib.handle_update(S2, update);
    }
    rib
}

/// S2's session as the driver leaves it: up (with what FRR negotiated
/// with FRR in the capture), or down after the peer's Cease.
fn peers(cfg: &Config, up: bool) -> BTreeMap<PeerId, PeerRuntime> {
    let stats = PeerStats::default();
    stats
        .connections_established
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let now = (Instant::now() - Duration::from_secs(6), SystemTime::now());
    // The last Established connection's addresses and the peer's host
    // name: the driver keeps them once the session is down.
    *stats.connection.lock().unwrap() = Some(Endpoints {
        local: SocketAddr::new("1.1.1.1".parse().unwrap(), 179),
        remote: SocketAddr::new("2.2.2.2".parse().unwrap(), 39832),
    });
    *stats.remote_hostname.lock().unwrap() = Some("s2".into());
    if up {
        stats.set_state(State::Established);
        *stats.established_at.lock().unwrap() = Some(now);
        let remote_open = Open {
            version: 4,
            my_as: 65501,
            hold_time: 180,
            bgp_id: Ipv4Addr::new(2, 2, 2, 2),
            capabilities: vec![
                Capability::GracefulRestart {
                    restart_state: true,
                    notification: true,
                    restart_time: 120,
                    families: vec![],
                },
                Capability::Fqdn {
                    hostname: "s2".into(),
                    domain: String::new(),
                },
            ],
        };
        *stats.negotiated.lock().unwrap() = Some(Negotiated {
            remote_as: 65501,
            remote_id: Ipv4Addr::new(2, 2, 2, 2),
            hold_time: 180,
            keepalive: 60,
            four_octet_as: true,
            extended_message: true,
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_next_hop: false,
            families: vec![(bgp::wire::Afi::Ipv4, Safi::Unicast)],
            remote_hostname: Some("s2".into()),
            graceful_restart: Some(PeerGracefulRestart {
                restart_state: true,
                restart_time: 120,
                families: vec![],
                notification: true,
            }),
            remote_open,
        });
        *stats.end_of_rib.lock().unwrap() = EndOfRibSeen {
            sent: vec![bgp::wire::Afi::Ipv4],
            received: vec![bgp::wire::Afi::Ipv4],
        };
    } else {
        stats.set_state(State::Active);
        stats
            .connections_dropped
            .store(1, std::sync::atomic::Ordering::Relaxed);
        let cease = Notification::cease(CeaseSubcode::AdministrativeShutdown, Vec::new());
        *stats.last_error.lock().unwrap() = Some(format!("received {}", cease.describe()));
        *stats.last_down.lock().unwrap() = Some(LastDown {
            at: now.0,
            wall: now.1,
            reason: DownReason::NotificationReceived(cease),
        });
    }
    let runtime = PeerRuntime {
        name: "s2".into(),
        cfg: cfg.peers["s2"].clone(),
        stats: Arc::new(stats),
    };
    [(S2, runtime)].into()
}

#[tokio::test]
async fn summary_has_frr_keys() {
    let cfg = config();
    let rib = rib();
    for (up, file, missing) in [
        (true, "summary.json", SUMMARY_MISSING),
        (false, "summary-down.json", SUMMARY_DOWN_MISSING),
    ] {
        let ours = serde_json::to_value(super::summary(&cfg, &rib, &peers(&cfg, up))).unwrap();
        assert_frr_keys(file, &ours, &fixture(file), missing);
        let p = &ours["ipv4Unicast"]["peers"]["2.2.2.2"];
        // Up/Down counts from the last change, up or down (as FRR).
        assert_eq!(p["peerUptime"], "00:00:06", "{p:#}");
        assert!(p["peerUptimeEstablishedEpoch"].as_u64().unwrap() > 0);
        // The peer's host name, up and after it went down, as FRR.
        assert_eq!(p["hostname"], "s2", "{p:#}");
    }
}

#[tokio::test]
async fn neighbors_have_frr_keys() {
    let cfg = config();
    let rib = rib();
    let restart = super::super::restart::Restart::default();
    let show = |up| {
        let n = super::super::show_peers::neighbors(&cfg, &rib, &peers(&cfg, up), None, &restart);
        serde_json::to_value(n).unwrap()
    };
    let ours = show(true);
    assert_frr_keys(
        "neighbors.json",
        &ours,
        &fixture("neighbors.json"),
        NEIGHBOR_MISSING,
    );
    let n = &ours["2.2.2.2"];
    assert_eq!(
        n["neighborCapabilities"]["multiprotocolExtensions"]["ipv4Unicast"]["advertisedAndReceived"],
        true
    );
    assert_eq!(
        (n["hostLocal"].clone(), n["portLocal"].clone()),
        ("1.1.1.1".into(), 179.into())
    );
    assert_eq!(n["nexthopGlobal"], "fd00::1");
    assert_eq!(
        n["gracefulRestartInfo"]["endOfRibRecv"]["ipv4Unicast"],
        true
    );

    let ours = show(false);
    // What FRR leaves out once the session is down needs no excuse.
    let (frr, ours_shape) = (shape(&fixture("neighbors-down.json")), shape(&ours));
    let mut missing = NEIGHBOR_MISSING.to_vec();
    missing.retain(|(k, _)| frr.contains_key(*k) && !ours_shape.contains_key(*k));
    missing.extend_from_slice(NEIGHBOR_DOWN_MISSING);
    assert_frr_keys(
        "neighbors-down.json",
        &ours,
        &fixture("neighbors-down.json"),
        &missing,
    );
    let n = &ours["2.2.2.2"];
    assert_eq!(n["lastResetCode"], 13, "{n:#}");
    assert_eq!(n["lastNotificationReason"], "Cease/Administrative Shutdown");
    assert_eq!(n["lastErrorCodeSubcode"], "0602");
    assert!(n.get("neighborCapabilities").is_none());
    // As FRR: the connection's addresses, our next hops and the peer's
    // host name stay after the session drops.
    assert_eq!(n["hostLocal"], "1.1.1.1", "{n:#}");
    assert_eq!(n["portLocal"], 179, "{n:#}");
    assert_eq!(n["hostForeign"], "2.2.2.2", "{n:#}");
    assert_eq!(n["portForeign"], 39832, "{n:#}");
    assert_eq!(n["nexthopGlobal"], "fd00::1", "{n:#}");
    assert_eq!(n["nexthopLocal"], "fe80::1", "{n:#}");
    assert_eq!(n["hostname"], "s2", "{n:#}");
}

#[tokio::test]
async fn route_detail_has_frr_keys() {
    let cfg = config();
    let rib = rib();
    let peers = peers(&cfg, true);
    for (prefix, file) in [
        ("198.51.100.0/24", "ipv4-unicast-prefix.json"),
        ("203.0.113.0/24", "ipv4-unicast-prefix-two-paths.json"),
    ] {
        let r = super::route(&rib, &peers, &cfg, prefix.parse().unwrap()).expect("in the table");
        let ours = serde_json::to_value(&r).unwrap();
        let frr = fixture(file);
        if frr.as_object().is_some_and(|o| o.is_empty()) {
            continue; // FRR's capture had no such route (see capture.sh).
        }
        assert_frr_keys(file, &ours, &frr, ROUTE_MISSING);
        let best = &ours["paths"][0]["bestpath"];
        assert_eq!(best["overall"], true, "{ours:#}");
    }
    let r = super::route(&rib, &peers, &cfg, "203.0.113.0/24".parse().unwrap()).unwrap();
    assert_eq!(
        r.paths[0].bestpath.as_ref().unwrap().selection_reason,
        "Local Route"
    );
    assert!(super::route(&rib, &peers, &cfg, "192.0.2.0/24".parse().unwrap()).is_none());
}

#[tokio::test]
async fn route_table_has_frr_keys() {
    let cfg = config();
    let rib = rib();
    let peers = peers(&cfg, true);
    let t = super::routes(&cfg, &rib, &peers, Afi::Ipv4, None);
    let ours = serde_json::to_value(&t).unwrap();
    assert_frr_keys(
        "ipv4-unicast.json",
        &ours,
        &fixture("ipv4-unicast.json"),
        TABLE_MISSING,
    );
    assert_eq!(
        ours["routes"]["198.51.100.0/24"][0]["selectionReason"],
        "First path received"
    );
}

#[tokio::test]
async fn advertised_routes_have_frr_keys() {
    let cfg = config();
    let mut rib = rib();
    let peers = peers(&cfg, true);
    let r = super::super::show_adj::neighbor_routes(
        &cfg,
        &mut rib,
        &peers,
        "2.2.2.2".parse().unwrap(),
        crate::api::AdjRib::AdvertisedRoutes,
        Afi::Ipv4,
    );
    let ours = serde_json::to_value(&r).unwrap()["adj_routes"].clone();
    let frr = fixture("advertised-routes.json");
    assert_frr_keys("advertised-routes.json", &ours, &frr, ADVERTISED_MISSING);
    assert_eq!(
        ours["advertisedRoutes"]["203.0.113.0/24"]["bgpOriginCode"],
        "i"
    );
}
