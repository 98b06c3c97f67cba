//! BGP PIC in the RIB: backups handed to the kernel with each route, the
//! next hops a peer's death kills, and a catch-up that writes only what the
//! FIB writer's fail-over did not already put right.

use super::tests::{
    FAMILIES, WG_S2, WG_S3, accept_all, announce, fib, host_route, lab_with, net, peer, s1_config,
    via,
};
use super::*;

const WG_S4: u32 = 7;

fn pic_lab() -> Rib {
    let cfg = RibConfig {
        backup_paths: true,
        ..s1_config()
    };
    lab_with(cfg, accept_all(), Chain::default())
}

/// S3 (AS path 2 long) then S2 (1 long, best) announce `prefixes`; the
/// output of S2's UPDATE.
fn two_feeds(rib: &mut Rib, prefixes: &[&str]) -> Vec<Output> {
    rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", prefixes));
    rib.handle_update(2, announce(&[65501], "2.2.2.2", prefixes))
}

fn protected(prefix: &str, nexthops: NextHops, backup: Option<NextHops>) -> FibOp {
    FibOp::Replace {
        prefix: net(prefix),
        nexthops,
        backup,
    }
}

fn failed_over(out: &[Output]) -> Vec<HashSet<KernelNextHop>> {
    (out.iter())
        .filter_map(|o| match o {
            Output::FailOver(dead) => Some(dead.clone()),
            _ => None,
        })
        .collect()
}

/// Works off a peer's death as the router does: fail-over first, then the
/// sweep in chunks. Returns the fail-overs and the FIB ops.
fn peer_down(rib: &mut Rib, id: PeerId) -> (Vec<HashSet<KernelNextHop>>, Vec<FibOp>) {
    let mut out = rib.begin_peer_down(id);
    while rib.sweep_pending() {
        out.extend(rib.flush_sweep(2));
    }
    (failed_over(&out), fib(&out))
}

#[test]
fn each_route_goes_in_with_the_best_path_through_other_next_hops_as_backup() {
    let mut rib = pic_lab();
    let out = two_feeds(&mut rib, &["198.19.0.0/24"]);
    let (s2, s3) = (via("2.2.2.2", WG_S2, true), via("3.3.3.3", WG_S3, true));
    assert_eq!(
        fib(&out),
        vec![protected("198.19.0.0/24", s2.clone(), Some(s3.clone()))]
    );
    // Another prefix with the same pair shares its record: a pointer a route.
    two_feeds(&mut rib, &["198.19.1.0/24"]);
    let record = |p: &str| rib.loc_rib()[&net(p)].installed.clone().unwrap();
    assert!(Arc::ptr_eq(
        &record("198.19.0.0/24"),
        &record("198.19.1.0/24")
    ));
    // The backup going changes the route's object, not its next hops.
    let out = rib.handle_update(3, super::tests::withdraw(&["198.19.0.0/24"]));
    assert_eq!(fib(&out), vec![protected("198.19.0.0/24", s2, None)]);
}

#[test]
fn without_backup_paths_nothing_changes() {
    let mut rib = super::tests::lab(accept_all(), Chain::default());
    let out = two_feeds(&mut rib, &["198.19.0.0/24"]);
    assert_eq!(
        fib(&out),
        vec![protected(
            "198.19.0.0/24",
            via("2.2.2.2", WG_S2, true),
            None
        )]
    );
    let (dead, _) = peer_down(&mut rib, 2);
    assert!(dead.is_empty());
}

#[test]
fn a_peers_death_fails_over_first_and_the_catch_up_writes_nothing_the_kernel_has() {
    let mut rib = pic_lab();
    let prefixes: Vec<String> = (0..10).map(|i| format!("198.19.{i}.0/24")).collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    two_feeds(&mut rib, &prefixes);
    // Only S2 has this one: nothing to fail over to, so it is deleted.
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"]));
    let out = rib.begin_peer_down(2);
    assert!(
        matches!(out.first(), Some(Output::FailOver(_))),
        "the fail-over goes before anything else: {out:?}"
    );
    let mut out = out;
    while rib.sweep_pending() {
        out.extend(rib.flush_sweep(3));
    }
    assert_eq!(
        failed_over(&out),
        vec![via("2.2.2.2", WG_S2, true).iter().cloned().collect()]
    );
    assert_eq!(fib(&out), vec![FibOp::delete(None, net("203.0.113.0/24"))]);
    let dest = &rib.loc_rib()[&net("198.19.3.0/24")];
    assert_eq!(dest.installed(), Some(&via("3.3.3.3", WG_S3, true)));
    assert_eq!(dest.backup(), None);
    assert!(
        rib.failed_over.is_empty(),
        "forgotten once all is re-selected"
    );
}

#[test]
fn with_a_third_feed_the_catch_up_rewrites_routes_for_their_new_backup() {
    let mut rib = pic_lab();
    rib.handle_kernel_event(&KernelEvent::LinkChanged {
        ifindex: WG_S4,
        name: "wg-s4".into(),
        up: true,
    });
    rib.handle_kernel_event(&host_route("4.4.4.4/32", WG_S4));
    rib.add_peer(
        4,
        peer("s4", "4.4.4.4", 65503, accept_all(), Chain::default()),
    );
    rib.handle_peer_up(4, Ipv4Addr::new(4, 4, 4, 4), &FAMILIES, false);
    rib.handle_update(
        4,
        announce(&[65503, 65510, 65511], "4.4.4.4", &["198.19.0.0/24"]),
    );
    let out = two_feeds(&mut rib, &["198.19.0.0/24"]);
    let (s2, s3, s4) = (
        via("2.2.2.2", WG_S2, true),
        via("3.3.3.3", WG_S3, true),
        via("4.4.4.4", WG_S4, true),
    );
    assert_eq!(
        fib(&out),
        vec![protected("198.19.0.0/24", s2, Some(s3.clone()))]
    );
    let (dead, ops) = peer_down(&mut rib, 2);
    assert_eq!(dead.len(), 1);
    // The kernel forwards via S3 already; the route gets S4 as its backup.
    assert_eq!(ops, vec![protected("198.19.0.0/24", s3, Some(s4))]);
}

#[test]
fn a_next_hop_another_peer_still_uses_does_not_die() {
    let mut rib = pic_lab();
    // S3 passes on a route with S2's loopback as next hop (a route server).
    rib.handle_update(3, announce(&[65502], "2.2.2.2", &["198.19.1.0/24"]));
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.0/24"]));
    let (dead, ops) = peer_down(&mut rib, 2);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(ops, vec![FibOp::delete(None, net("198.19.0.0/24"))]);
}

#[test]
fn a_peer_back_before_its_sweep_is_done_gets_its_routes_written_again() {
    let mut rib = pic_lab();
    two_feeds(&mut rib, &["198.19.0.0/24"]);
    let out = rib.begin_peer_down(2);
    assert_eq!(failed_over(&out).len(), 1);
    // The kernel now forwards via S3; S2 is back before the sweep ran.
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false);
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.0/24"]));
    assert_eq!(
        fib(&out),
        vec![protected(
            "198.19.0.0/24",
            via("2.2.2.2", WG_S2, true),
            Some(via("3.3.3.3", WG_S3, true))
        )],
        "written again: the RIB's old view is not the kernel's"
    );
}
