//! The Graceful Restart helper driven by session events and a fake clock.

use std::net::Ipv4Addr;

use bgp::wire::{CeaseSubcode, Notification, Update};
use ipnet::IpNet;

use super::*;

use crate::daemon::test_rib::S2;

/// Our RIB (AS 65500) with peer S2 (AS 65501) Established, its loopback
/// 2.2.2.2 reachable through its tunnel.
fn rib() -> Rib {
    let mut rib = crate::daemon::test_rib::with_s2(|_| {});
    up(&mut rib);
    rib
}

fn up(rib: &mut Rib) {
    let families = [(Afi::Ipv4, Safi::Unicast)];
    rib.handle_peer_up(S2, Ipv4Addr::new(2, 2, 2, 2), &families, false);
}

fn announce(prefixes: &[&str]) -> Update {
    crate::daemon::test_rib::update(prefixes)
}

fn end_of_rib() -> Update {
    Update::default()
}

fn has(rib: &Rib, prefix: &str) -> bool {
    rib.loc_rib()
        .contains_key(&prefix.parse::<IpNet>().unwrap())
}

/// IPv4 unicast preserved with the F bit, restart time `secs`.
fn cap(secs: u16) -> PeerGracefulRestart {
    PeerGracefulRestart {
        restart_state: false,
        restart_time: secs,
        families: vec![(Afi::Ipv4, Safi::Unicast, true)],
        notification: true,
    }
}

/// S2 up with the capability, two routes in.
fn helper_with_routes(t0: Instant) -> (GracefulHelper, Rib) {
    let mut rib = rib();
    let mut gr = GracefulHelper::default();
    gr.up(t0, S2, "s2", Some(cap(120)), &mut rib);
    rib.handle_update(S2, announce(&["10.2.0.0/24", "10.2.1.0/24"]));
    assert!(has(&rib, "10.2.0.0/24") && has(&rib, "10.2.1.0/24"));
    (gr, rib)
}

fn name(_: PeerId) -> Option<String> {
    Some("s2".into())
}

#[test]
fn connection_loss_keeps_routes_stale_until_the_restart_timer_runs_out() {
    let t0 = Instant::now();
    let (mut gr, mut rib) = helper_with_routes(t0);
    let t1 = t0 + Duration::from_secs(5);
    gr.down(t1, S2, "s2", &DownReason::ConnectionClosed, &mut rib);
    assert_eq!(rib.stale_count(S2), 2);
    assert!(has(&rib, "10.2.0.0/24"), "kept while the peer restarts");
    assert_eq!(gr.poll_timeout(), Some(t1 + Duration::from_secs(120)));

    // One tick before the restart time: nothing goes.
    let out = gr.expire(t1 + Duration::from_secs(119), &mut rib, name);
    assert!(out.is_empty());
    assert_eq!(rib.stale_count(S2), 2);
    // At the restart time the stale routes go.
    gr.expire(t1 + Duration::from_secs(120), &mut rib, name);
    assert_eq!(rib.stale_count(S2), 0);
    assert!(!has(&rib, "10.2.0.0/24") && !has(&rib, "10.2.1.0/24"));
    assert_eq!(gr.poll_timeout(), None);
}

#[test]
fn end_of_rib_after_the_restart_sweeps_what_was_not_announced_again() {
    let t0 = Instant::now();
    let (mut gr, mut rib) = helper_with_routes(t0);
    gr.down(t0, S2, "s2", &DownReason::HoldTimerExpired, &mut rib);
    // Back within the restart time: the stale-path timer replaces it.
    let back = t0 + Duration::from_secs(30);
    up(&mut rib);
    gr.up(back, S2, "s2", Some(cap(120)), &mut rib);
    assert_eq!(gr.poll_timeout(), Some(back + STALE_PATH_TIME));
    assert_eq!(rib.stale_count(S2), 2);
    // It announces one of the two again, then End-of-RIB.
    rib.handle_update(S2, announce(&["10.2.0.0/24"]));
    gr.updated(S2, &rib);
    assert_eq!(rib.stale_count(S2), 1);
    rib.handle_update(S2, end_of_rib());
    gr.updated(S2, &rib);
    assert_eq!(rib.stale_count(S2), 0);
    assert!(has(&rib, "10.2.0.0/24"));
    assert!(!has(&rib, "10.2.1.0/24"), "swept at End-of-RIB");
    assert_eq!(gr.poll_timeout(), None, "no timer left");
}

#[test]
fn stale_path_timer_removes_routes_when_end_of_rib_never_comes() {
    let t0 = Instant::now();
    let (mut gr, mut rib) = helper_with_routes(t0);
    gr.down(t0, S2, "s2", &DownReason::ConnectionClosed, &mut rib);
    let back = t0 + Duration::from_secs(10);
    up(&mut rib);
    gr.up(back, S2, "s2", Some(cap(120)), &mut rib);
    // Past the restart time but within the stale-path time: still kept.
    gr.expire(back + Duration::from_secs(200), &mut rib, name);
    assert_eq!(rib.stale_count(S2), 2);
    gr.expire(back + STALE_PATH_TIME, &mut rib, name);
    assert_eq!(rib.stale_count(S2), 0);
    assert!(!has(&rib, "10.2.0.0/24"));
}

#[test]
fn peer_back_without_forwarding_state_loses_its_stale_routes_at_once() {
    let t0 = Instant::now();
    let (mut gr, mut rib) = helper_with_routes(t0);
    gr.down(t0, S2, "s2", &DownReason::ConnectionClosed, &mut rib);
    up(&mut rib);
    let mut lost = cap(120);
    lost.families = vec![(Afi::Ipv4, Safi::Unicast, false)];
    gr.up(t0 + Duration::from_secs(1), S2, "s2", Some(lost), &mut rib);
    assert_eq!(rib.stale_count(S2), 0);
    assert!(!has(&rib, "10.2.0.0/24"));
    assert_eq!(gr.poll_timeout(), None);
}

#[test]
fn hard_reset_and_a_failed_session_task_withdraw_at_once() {
    let cease = Notification::cease(CeaseSubcode::HardReset, Vec::new());
    for reason in [
        DownReason::NotificationReceived(cease),
        DownReason::TaskFailed("injected".into()),
        DownReason::AdminStop,
    ] {
        let t0 = Instant::now();
        let (mut gr, mut rib) = helper_with_routes(t0);
        gr.down(t0, S2, "s2", &reason, &mut rib);
        // The shell works the queued re-selection off in chunks.
        while rib.sweep_pending() {
            rib.flush_sweep(usize::MAX);
        }
        assert_eq!(rib.stale_count(S2), 0, "{reason}");
        assert!(!has(&rib, "10.2.0.0/24"), "{reason}: withdrawn");
        assert!(!has(&rib, "10.2.1.0/24"), "{reason}: withdrawn");
        assert_eq!(gr.poll_timeout(), None, "{reason}");
    }
}

#[test]
fn a_peer_without_the_capability_loses_its_routes_at_once() {
    let t0 = Instant::now();
    let mut rib = rib();
    let mut gr = GracefulHelper::default();
    gr.up(t0, S2, "s2", None, &mut rib);
    rib.handle_update(S2, announce(&["10.2.0.0/24"]));
    gr.down(t0, S2, "s2", &DownReason::ConnectionClosed, &mut rib);
    while rib.sweep_pending() {
        rib.flush_sweep(usize::MAX);
    }
    assert!(!has(&rib, "10.2.0.0/24"));
    assert_eq!(gr.poll_timeout(), None);
}
