//! Reference counting and planning of nexthop objects, without a kernel.

use std::collections::BTreeSet;

use super::*;
use crate::kernel::nexthop::{GroupMember, NexthopAttr};

fn hop(gw: &str, ifindex: u32) -> KernelNextHop {
    KernelNextHop {
        gateway: gw.parse().unwrap(),
        ifindex,
        onlink: true,
    }
}

fn key(prefix: &str) -> RouteKey {
    RouteKey {
        table: 254,
        prefix: prefix.parse().unwrap(),
    }
}

fn objects() -> Objects {
    Objects::new(186, 100, 10)
}

/// Plans and settles (as acknowledged) a route through `hops`; returns the object and the
/// kernel operations planned before it.
fn install(o: &mut Objects, prefix: &str, hops: &[KernelNextHop]) -> (u32, Vec<NhAction>) {
    let mut out = Vec::new();
    let id = o.hold(&key(prefix), hops, &[], &mut out).unwrap();
    o.settle(key(prefix), Some(id), true);
    (id, out)
}

/// As `install`, with a backup.
fn protect(o: &mut Objects, prefix: &str, hops: &[KernelNextHop], backup: &[KernelNextHop]) -> u32 {
    let mut out = Vec::new();
    let id = o.hold(&key(prefix), hops, backup, &mut out).unwrap();
    o.settle(key(prefix), Some(id), true);
    id
}

fn dead(hops: &[&KernelNextHop]) -> HashSet<KernelNextHop> {
    hops.iter().map(|h| (*h).clone()).collect()
}

fn delete(o: &mut Objects, prefix: &str) -> Vec<NhAction> {
    o.settle(key(prefix), None, true);
    let mut out = Vec::new();
    o.collect(&mut out);
    out
}

#[test]
fn routes_through_one_next_hop_share_one_object_created_before_the_first() {
    let mut o = objects();
    let a = hop("10.0.0.2", 3);
    let (id1, first) = install(&mut o, "198.51.100.0/24", std::slice::from_ref(&a));
    assert_eq!(
        first,
        vec![NhAction::Install {
            id: 100,
            spec: Spec::Gateway(a.clone())
        }]
    );
    let (id2, second) = install(&mut o, "198.51.101.0/24", std::slice::from_ref(&a));
    assert_eq!((id1, id2), (100, 100));
    assert!(second.is_empty(), "the object exists already: {second:?}");
    assert_eq!(o.list()[0].routes, 2);
}

#[test]
fn the_object_is_deleted_after_its_last_route_and_not_before() {
    let mut o = objects();
    let a = hop("10.0.0.2", 3);
    install(&mut o, "198.51.100.0/24", std::slice::from_ref(&a));
    install(&mut o, "198.51.101.0/24", std::slice::from_ref(&a));
    assert!(delete(&mut o, "198.51.100.0/24").is_empty());
    assert_eq!(
        delete(&mut o, "198.51.101.0/24"),
        vec![NhAction::Delete { id: 100 }]
    );
    assert!(o.list().is_empty());
    // Deleting a route we never had changes nothing.
    assert!(delete(&mut o, "203.0.113.0/24").is_empty());
}

#[test]
fn moving_a_route_releases_its_old_object() {
    let mut o = objects();
    install(&mut o, "198.51.100.0/24", &[hop("10.0.0.2", 3)]);
    let (id, out) = install(&mut o, "198.51.100.0/24", &[hop("10.0.0.3", 3)]);
    assert_eq!(id, 101);
    assert_eq!(out.len(), 1);
    let mut gone = Vec::new();
    o.collect(&mut gone);
    assert_eq!(gone, vec![NhAction::Delete { id: 100 }]);
    assert_eq!(o.route_object(&key("198.51.100.0/24")), Some(101));
}

#[test]
fn an_ecmp_set_is_a_group_over_member_objects_deleted_group_first() {
    let mut o = objects();
    let (a, b) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4));
    // Order of the hops does not matter.
    let (g, out) = install(&mut o, "198.51.100.0/24", &[b.clone(), a.clone()]);
    assert_eq!(
        out,
        vec![
            NhAction::Install {
                id: 100,
                spec: Spec::Gateway(a.clone())
            },
            NhAction::Install {
                id: 101,
                spec: Spec::Gateway(b.clone())
            },
            NhAction::Install {
                id: 102,
                spec: Spec::Group(vec![100, 101])
            },
        ]
    );
    let (g2, _) = install(&mut o, "198.51.101.0/24", &[a.clone(), b.clone()]);
    assert_eq!(g, g2);
    // A single-path route through a reuses the member object.
    let (single, out) = install(&mut o, "198.51.102.0/24", std::slice::from_ref(&a));
    assert_eq!((single, out.len()), (100, 0));
    delete(&mut o, "198.51.100.0/24");
    assert_eq!(
        delete(&mut o, "198.51.101.0/24"),
        vec![NhAction::Delete { id: 102 }, NhAction::Delete { id: 101 }],
        "the group goes, then b; a still has a route"
    );
    assert_eq!(
        delete(&mut o, "198.51.102.0/24"),
        vec![NhAction::Delete { id: 100 }]
    );
}

#[test]
fn a_refused_route_keeps_its_old_object_and_lets_go_of_the_new() {
    let mut o = objects();
    install(&mut o, "198.51.100.0/24", &[hop("10.0.0.2", 3)]);
    let mut out = Vec::new();
    let new = o
        .hold(
            &key("198.51.100.0/24"),
            &[hop("10.0.0.3", 3)],
            &[],
            &mut out,
        )
        .unwrap();
    o.settle(key("198.51.100.0/24"), Some(new), false);
    assert_eq!(o.route_object(&key("198.51.100.0/24")), Some(100));
    let mut gone = Vec::new();
    o.collect(&mut gone);
    assert_eq!(gone, vec![NhAction::Delete { id: new }]);
}

#[test]
fn an_object_the_kernel_refused_is_installed_again_by_the_next_route() {
    let mut o = objects();
    let a = hop("10.9.9.9", 3);
    let mut out = Vec::new();
    let id = o
        .hold(
            &key("198.51.100.0/24"),
            std::slice::from_ref(&a),
            &[],
            &mut out,
        )
        .unwrap();
    o.install_failed(id);
    o.settle(key("198.51.100.0/24"), Some(id), false);
    let mut gone = Vec::new();
    o.collect(&mut gone);
    assert!(
        gone.is_empty(),
        "never installed, nothing to delete: {gone:?}"
    );
    let (_, again) = install(&mut o, "198.51.100.0/24", std::slice::from_ref(&a));
    assert_eq!(again.len(), 1, "installed again: {again:?}");
}

#[test]
fn repointing_moves_the_object_in_one_operation_and_new_routes_follow_it() {
    let mut o = objects();
    let (a, b) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4));
    for p in ["198.51.100.0/24", "198.51.101.0/24", "198.51.102.0/24"] {
        install(&mut o, p, std::slice::from_ref(&a));
    }
    let mut out = Vec::new();
    o.repoint(100, std::slice::from_ref(&b), &mut out).unwrap();
    assert_eq!(
        out,
        vec![NhAction::Install {
            id: 100,
            spec: Spec::Gateway(b.clone())
        }]
    );
    assert_eq!(o.id_for(std::slice::from_ref(&b)), Some(100));
    assert_eq!(o.id_for(std::slice::from_ref(&a)), None);
    // The RIB catching up (replace through b) keeps the routes where they are.
    let (id, out) = install(&mut o, "198.51.100.0/24", std::slice::from_ref(&b));
    assert_eq!((id, out.len()), (100, 0));
    assert_eq!(o.list()[0].routes, 3);
}

#[test]
fn repointing_a_group_swaps_members_and_frees_the_old_one_after() {
    let mut o = objects();
    let (a, b, c) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4), hop("10.0.2.2", 5));
    let (g, _) = install(&mut o, "198.51.100.0/24", &[a.clone(), b.clone()]);
    let mut out = Vec::new();
    o.repoint(g, &[b.clone(), c.clone()], &mut out).unwrap();
    assert_eq!(
        out,
        vec![
            NhAction::Install {
                id: 103,
                spec: Spec::Gateway(c.clone())
            },
            NhAction::Install {
                id: g,
                spec: Spec::Group(vec![101, 103])
            },
        ]
    );
    let mut gone = Vec::new();
    o.collect(&mut gone);
    assert_eq!(gone, vec![NhAction::Delete { id: 100 }]);
}

#[test]
fn repointing_cannot_turn_a_gateway_into_a_group() {
    let mut o = objects();
    let (a, b) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4));
    install(&mut o, "198.51.100.0/24", std::slice::from_ref(&a));
    let mut out = Vec::new();
    assert!(matches!(
        o.repoint(100, &[a, b], &mut out),
        Err(ObjectError::KindChange { id: 100, .. })
    ));
    assert!(matches!(
        o.repoint(7, &[hop("10.0.0.9", 3)], &mut out),
        Err(ObjectError::Unknown(7))
    ));
    assert!(out.is_empty());
}

fn kernel_gateway(id: u32, gw: &str, oif: u32, protocol: u8) -> NexthopMessage {
    NexthopMessage::gateway(id, gw.parse().unwrap(), oif, true, protocol)
}

#[test]
fn an_earlier_runs_objects_are_adopted_with_their_ids_and_unused_ones_swept() {
    let mut o = objects();
    let dump = vec![
        kernel_gateway(100, "10.0.0.2", 3, 186),
        kernel_gateway(101, "10.0.1.2", 4, 186),
        NexthopMessage::group(102, &[100, 101], 186),
        kernel_gateway(104, "10.0.2.2", 5, 186), // ours, no route uses it
        kernel_gateway(105, "10.0.3.2", 5, 4),   // in our range, not ours
        kernel_gateway(7, "10.0.4.2", 5, 186),   // ours by protocol, not our range
    ];
    o.adopt(
        &dump,
        &[(key("198.51.100.0/24"), 100), (key("198.51.101.0/24"), 102)],
    );
    let mut out = Vec::new();
    o.collect(&mut out);
    assert_eq!(out, vec![NhAction::Delete { id: 104 }]);
    // The same next hop reuses the adopted object: routes kept by graceful restart stay.
    let (id, planned) = install(&mut o, "198.51.100.0/24", &[hop("10.0.0.2", 3)]);
    assert_eq!((id, planned.len()), (100, 0));
    let (g, planned) = install(
        &mut o,
        "198.51.101.0/24",
        &[hop("10.0.1.2", 4), hop("10.0.0.2", 3)],
    );
    assert_eq!((g, planned.len()), (102, 0));
    // New ids continue after the highest adopted and skip the foreign one.
    let (n, _) = install(&mut o, "198.51.102.0/24", &[hop("10.0.9.2", 3)]);
    assert_eq!(n, 106);
    assert!(o.list().iter().all(|x| x.id != 105 && x.id != 7));
}

#[test]
fn an_object_gone_from_the_kernel_is_restored_with_its_routes() {
    let mut o = objects();
    let (a, b) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4));
    install(&mut o, "198.51.100.0/24", std::slice::from_ref(&a));
    install(&mut o, "198.51.101.0/24", std::slice::from_ref(&a));
    install(&mut o, "198.51.102.0/24", std::slice::from_ref(&b));
    // `ip nexthop del id 100`: the kernel removed it and its routes.
    let dump = vec![NexthopMessage::gateway(101, b.gateway, 4, true, 186)];
    assert_eq!(o.reconcile(&dump), 1);
    let mut out = Vec::new();
    let lost = o.restore(&mut out);
    assert_eq!(lost, vec![100]);
    assert_eq!(
        out,
        vec![NhAction::Install {
            id: 100,
            spec: Spec::Gateway(a)
        }]
    );
    assert_eq!(
        o.routes_of(100),
        vec![key("198.51.100.0/24"), key("198.51.101.0/24")]
    );
    // Restored: a second pass finds nothing to do.
    let dump = vec![
        NexthopMessage::gateway(100, "10.0.0.2".parse().unwrap(), 3, true, 186),
        NexthopMessage::gateway(101, b.gateway, 4, true, 186),
    ];
    assert_eq!(o.reconcile(&dump), 0);
    let mut out = Vec::new();
    assert!(o.restore(&mut out).is_empty() && out.is_empty());
}

#[test]
fn a_group_that_lost_a_member_is_installed_again() {
    let mut o = objects();
    let (a, b) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4));
    install(&mut o, "198.51.100.0/24", &[a.clone(), b.clone()]);
    // Device 3 went down: the kernel flushed member 100 and shrank the group to 101.
    let dump = vec![
        NexthopMessage::gateway(101, b.gateway, 4, true, 186),
        NexthopMessage {
            protocol: 186,
            attributes: vec![
                NexthopAttr::Id(102),
                NexthopAttr::Group(vec![GroupMember { id: 101, weight: 1 }]),
            ],
            ..Default::default()
        },
    ];
    assert_eq!(o.reconcile(&dump), 2);
    let mut out = Vec::new();
    assert!(o.restore(&mut out).is_empty(), "the group's routes stayed");
    assert_eq!(
        out,
        vec![
            NhAction::Install {
                id: 100,
                spec: Spec::Gateway(a)
            },
            NhAction::Install {
                id: 102,
                spec: Spec::Group(vec![100, 101])
            },
        ]
    );
}

#[test]
fn ids_wrap_within_the_range_and_run_out_loudly() {
    let mut o = Objects::new(186, u32::MAX - 1, 2);
    install(&mut o, "198.51.100.0/24", &[hop("10.0.0.2", 3)]);
    install(&mut o, "198.51.101.0/24", &[hop("10.0.0.3", 3)]);
    let mut out = Vec::new();
    assert_eq!(
        o.hold(
            &key("198.51.102.0/24"),
            &[hop("10.0.0.4", 3)],
            &[],
            &mut out
        ),
        Err(ObjectError::IdsExhausted {
            base: u32::MAX - 1,
            end: 0
        })
    );
    delete(&mut o, "198.51.100.0/24");
    let (id, _) = install(&mut o, "198.51.102.0/24", &[hop("10.0.0.4", 3)]);
    assert_eq!(id, u32::MAX - 1);
}

#[test]
fn the_route_map_packs_ipv4_keys_and_keeps_every_family_and_table_apart() {
    assert_eq!(std::mem::size_of::<(V4Key, u32)>(), 16);
    let mut m = RouteMap::default();
    let keys = [
        key("198.51.100.0/24"),
        RouteKey {
            table: 1000,
            prefix: "198.51.100.0/24".parse().unwrap(),
        },
        key("2001:db8::/32"),
        key("0.0.0.0/0"),
    ];
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(m.insert(*k, i as u32), None);
    }
    assert_eq!(m.len(), 4);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(m.get(k), Some(i as u32));
    }
    let mut all: Vec<_> = m.iter().collect();
    all.sort();
    let mut want: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(m.remove(&keys[1]), Some(1));
    assert_eq!(m.get(&keys[0]), Some(0), "the main table's route stays");
}

#[test]
fn routes_with_the_same_best_and_backup_share_one_object_and_fail_over_in_one_operation() {
    let mut o = objects();
    let (a, b, c) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4), hop("10.0.2.2", 5));
    let ab: Vec<u32> = (0..100)
        .map(|i| {
            protect(
                &mut o,
                &format!("198.51.{i}.0/24"),
                std::slice::from_ref(&a),
                std::slice::from_ref(&b),
            )
        })
        .collect();
    let ac = protect(
        &mut o,
        "203.0.113.0/24",
        std::slice::from_ref(&a),
        std::slice::from_ref(&c),
    );
    let plain = protect(&mut o, "203.0.114.0/24", std::slice::from_ref(&a), &[]);
    let other = protect(
        &mut o,
        "203.0.115.0/24",
        std::slice::from_ref(&c),
        std::slice::from_ref(&a),
    );
    assert!(ab.iter().all(|&id| id == ab[0]));
    assert_eq!(
        BTreeSet::from([ab[0], ac, plain, other]).len(),
        4,
        "one object per pair"
    );
    let mut out = Vec::new();
    let done = o.fail_over(&dead(&[&a]), &mut out);
    assert_eq!(
        out,
        vec![
            NhAction::Install {
                id: ab[0],
                spec: Spec::Gateway(b.clone())
            },
            NhAction::Install {
                id: ac,
                spec: Spec::Gateway(c.clone())
            },
        ]
    );
    assert_eq!(
        done,
        FailOver {
            moved: 2,
            routes: 101,
            rekeyed: 1,
            stranded: 1
        }
    );
    // Filed under where they forward now: the RIB's catch-up finds them.
    assert_eq!(o.id_for(std::slice::from_ref(&b)), Some(ab[0]));
    // Both now forward to c alone; the first one refiled (by id) takes the place.
    assert_eq!(o.id_for(std::slice::from_ref(&c)), Some(ac.min(other)));
    let mut out = Vec::new();
    assert_eq!(
        o.hold(
            &key("198.51.0.0/24"),
            std::slice::from_ref(&b),
            &[],
            &mut out
        ),
        Ok(ab[0])
    );
    assert!(out.is_empty());
}

#[test]
fn an_ecmp_set_fails_over_to_its_live_members_then_to_its_backup() {
    let mut o = objects();
    let (a1, a2, b) = (hop("10.0.0.2", 3), hop("10.0.0.3", 3), hop("10.0.1.2", 4));
    let g = protect(
        &mut o,
        "198.51.100.0/24",
        &[a1.clone(), a2.clone()],
        std::slice::from_ref(&b),
    );
    let members = o.list().into_iter().find(|x| x.id == g).unwrap().members;
    let mut out = Vec::new();
    o.fail_over(&dead(&[&a1]), &mut out);
    assert_eq!(
        out,
        vec![NhAction::Install {
            id: g,
            spec: Spec::Group(vec![members[1]])
        }]
    );
    let mut gone = Vec::new();
    o.collect(&mut gone);
    assert_eq!(gone, vec![NhAction::Delete { id: members[0] }]);
    // A gateway could not become a group later; a group of one can become anything.
    let mut out = Vec::new();
    o.fail_over(&dead(&[&a2]), &mut out);
    let b_id = match &out[..] {
        [
            NhAction::Install {
                id,
                spec: Spec::Gateway(h),
            },
            NhAction::Install {
                id: gid,
                spec: Spec::Group(m),
            },
        ] => {
            assert_eq!((h, *gid), (&b, g));
            assert_eq!(m, &vec![*id]);
            *id
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(o.hops_of(b_id), Some(std::slice::from_ref(&b)));
}

#[test]
fn a_backup_set_makes_a_group_so_the_failover_stays_one_operation() {
    let mut o = objects();
    let (a, b1, b2) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4), hop("10.0.1.3", 4));
    let id = protect(
        &mut o,
        "198.51.100.0/24",
        std::slice::from_ref(&a),
        &[b1.clone(), b2.clone()],
    );
    assert_eq!(
        o.list().iter().find(|x| x.id == id).unwrap().members.len(),
        1
    );
    let mut out = Vec::new();
    let done = o.fail_over(&dead(&[&a]), &mut out);
    assert_eq!((done.moved, done.routes), (1, 1));
    assert!(
        matches!(out.last(), Some(NhAction::Install { id: g, spec: Spec::Group(m) }) if *g == id && m.len() == 2)
    );
}

#[test]
fn the_failover_rule() {
    let (a, b, c) = (hop("10.0.0.2", 3), hop("10.0.1.2", 4), hop("10.0.2.2", 5));
    let (one, two) = (
        |h: &KernelNextHop| vec![h.clone()],
        |x: &KernelNextHop, y: &KernelNextHop| vec![x.clone(), y.clone()],
    );
    assert_eq!(fail_over(&one(&a), &one(&b), &dead(&[&c])), None);
    assert_eq!(
        fail_over(&one(&a), &one(&b), &dead(&[&a])),
        Some((one(&b), vec![]))
    );
    assert_eq!(
        fail_over(&one(&a), &one(&b), &dead(&[&b])),
        Some((one(&a), vec![]))
    );
    assert_eq!(
        fail_over(&one(&a), &one(&b), &dead(&[&a, &b])),
        Some((vec![], vec![]))
    );
    assert_eq!(
        fail_over(&two(&a, &c), &one(&b), &dead(&[&a])),
        Some((one(&c), one(&b)))
    );
    assert_eq!(
        fail_over(&one(&a), &[], &dead(&[&a])),
        Some((vec![], vec![]))
    );
}
