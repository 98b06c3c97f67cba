//! The routing engine driven by session and kernel events, no netlink.

use super::*;
use crate::kernel::KernelRoute;
use crate::policy::{Action, CommunityEdit, CommunityValue, Match, Policy, Rule, SetActions};
use bgp::wire::{AsPath, MpReach, MpUnreach};
use ipnet::Ipv4Net;

pub(super) const WG_S2: u32 = 5;
pub(super) const WG_S3: u32 = 6;

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

pub(super) fn accept_all() -> Chain {
    Chain(vec![Arc::new(Policy {
        name: "accept-all".into(),
        rules: vec![Rule::new(vec![], Action::Accept)],
    })])
}

pub(super) fn host_route(dst: &str, oif: u32) -> KernelEvent {
    KernelEvent::RouteAdded(KernelRoute::unicast(net(dst), None, oif, 4, 254))
}

fn links() -> KernelEvent {
    KernelEvent::Resync(vec![
        KernelEvent::LinkChanged {
            ifindex: 1,
            name: "lo".into(),
            up: true,
        },
        KernelEvent::LinkChanged {
            ifindex: WG_S2,
            name: "wg-s2".into(),
            up: true,
        },
        KernelEvent::LinkChanged {
            ifindex: WG_S3,
            name: "wg-s3".into(),
            up: true,
        },
        KernelEvent::AddressAdded {
            ifindex: 1,
            addr: "1.1.1.1".parse().unwrap(),
        },
    ])
}

pub(super) fn peer(name: &str, addr: &str, asn: u32, import: Chain, export: Chain) -> PeerSettings {
    PeerSettings {
        name: name.into(),
        address: addr.parse().unwrap(),
        asn,
        import,
        export,
        local_v4: Some(Ipv4Addr::new(1, 1, 1, 1)),
        local_v6: Some("fd00::1".parse().unwrap()),
        interface: None,
        local_link_local: None,
    }
}

pub(super) const FAMILIES: [(Afi, Safi); 2] =
    [(Afi::Ipv4, Safi::Unicast), (Afi::Ipv6, Safi::Unicast)];

/// S1's settings: AS 65500, router ID 1.1.1.1, the main table, one path per
/// prefix, AS paths of at most 8.
pub(super) fn s1_config() -> RibConfig {
    RibConfig {
        local_as: 65500,
        router_id: Ipv4Addr::new(1, 1, 1, 1),
        table: 254,
        metric: 20,
        multipath: 1,
        multipath_relax: false,
        max_as_path_len: Some(8),
        backup_paths: false,
    }
}

/// S1 (AS 65500) with peers S2 (id 2, AS 65501) and S3 (id 3, AS 65502),
/// both Established, and host routes to their loopbacks via their tunnels.
pub(super) fn lab(import: Chain, export: Chain) -> Rib {
    lab_with(s1_config(), import, export)
}

/// `lab` with other RIB settings.
pub(super) fn lab_with(cfg: RibConfig, import: Chain, export: Chain) -> Rib {
    let mut rib = Rib::new(cfg);
    rib.handle_kernel_event(&links());
    rib.handle_kernel_event(&host_route("2.2.2.2/32", WG_S2));
    rib.handle_kernel_event(&host_route("3.3.3.3/32", WG_S3));
    rib.handle_kernel_event(&host_route("fd00::2/128", WG_S2));
    rib.add_peer(
        2,
        peer("s2", "2.2.2.2", 65501, import.clone(), export.clone()),
    );
    rib.add_peer(3, peer("s3", "3.3.3.3", 65502, import, export));
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false);
    rib.handle_peer_up(3, Ipv4Addr::new(3, 3, 3, 3), &FAMILIES, false);
    rib
}

pub(super) fn announce(as_path: &[u32], next_hop: &str, prefixes: &[&str]) -> Update {
    Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence(as_path.iter().copied()),
            ..Default::default()
        }),
        next_hop: Some(next_hop.parse().unwrap()),
        nlri: prefixes.iter().map(|p| v4(p)).collect(),
        ..Default::default()
    }
}

pub(super) fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|p| v4(p)).collect(),
        ..Default::default()
    }
}

pub(super) fn fib(out: &[Output]) -> Vec<FibOp> {
    out.iter()
        .filter_map(|o| match o {
            Output::Fib(ops) => Some(ops.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// An UPDATE with one MP_REACH_NLRI from AS 65501 (S2).
pub(super) fn mp(afi: Afi, global: &str, link_local: Option<&str>, prefixes: &[&str]) -> Update {
    mp_from(65501, afi, global, link_local, prefixes)
}

/// An UPDATE with one MP_REACH_NLRI, AS path `first_as`.
fn mp_from(
    first_as: u32,
    afi: Afi,
    global: &str,
    link_local: Option<&str>,
    prefixes: &[&str],
) -> Update {
    Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence([first_as]),
            ..Default::default()
        }),
        mp_reach: Some(MpReach {
            afi,
            safi: Safi::Unicast,
            next_hop: MpNextHop {
                global: global.parse().unwrap(),
                link_local: link_local.map(|a| a.parse().unwrap()),
            },
            nlri: prefixes.iter().map(|p| net(p)).collect(),
        }),
        ..Default::default()
    }
}

/// `via GW dev IFINDEX`, as the kernel writer gets it.
pub(super) fn via(gw: &str, ifindex: u32, onlink: bool) -> NextHops {
    vec![KernelNextHop {
        gateway: gw.parse().unwrap(),
        ifindex,
        onlink,
    }]
    .into()
}

/// `out`'s one kernel change: `prefix` (re)installed through `nexthops`.
pub(super) fn assert_replaces(out: &[Output], prefix: &str, nexthops: NextHops) {
    assert_eq!(
        fib(out),
        vec![FibOp::Replace {
            prefix: net(prefix),
            nexthops,
            backup: None,
        }]
    );
}

/// `out`'s one kernel change: `prefix` deleted.
pub(super) fn assert_deletes(out: &[Output], prefix: &str) {
    assert_eq!(
        fib(out),
        vec![FibOp::Delete {
            prefix: net(prefix)
        }]
    );
}

fn onlink(gw: &str, ifindex: u32) -> Vec<KernelNextHop> {
    vec![KernelNextHop {
        gateway: gw.parse().unwrap(),
        ifindex,
        onlink: true,
    }]
}

#[test]
fn learned_route_installs_via_peer_loopback_onlink() {
    let mut rib = lab(accept_all(), Chain::default());
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert_replaces(&out, "198.19.0.1/32", via("2.2.2.2", WG_S2, true));
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (1, 0));
}

#[test]
fn withdrawal_removes_the_kernel_route() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let out = rib.handle_update(2, withdraw(&["198.19.0.1/32"]));
    assert_deletes(&out, "198.19.0.1/32");
    assert!(rib.loc_rib().is_empty());
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (0, 0));
}

#[test]
fn session_down_removes_all_its_routes() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "198.19.1.0/24"]),
    );
    rib.handle_update(3, announce(&[65502], "3.3.3.3", &["198.18.0.1/32"]));
    let out = rib.handle_peer_down(2);
    let mut ops = fib(&out);
    ops.sort_by_key(|op| format!("{op:?}"));
    assert_eq!(
        ops,
        vec![
            FibOp::Delete {
                prefix: net("198.19.0.1/32")
            },
            FibOp::Delete {
                prefix: net("198.19.1.0/24")
            },
        ]
    );
    assert_eq!(rib.loc_rib().len(), 1);
}

#[test]
fn no_import_policy_imports_nothing_rfc8212() {
    let mut rib = lab(Chain::default(), Chain::default());
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(out.is_empty());
    assert!(rib.loc_rib().is_empty());
}

#[test]
fn unresolved_next_hop_waits_for_the_kernel_route() {
    let mut rib = lab(accept_all(), Chain::default());
    let out = rib.handle_update(2, announce(&[65501], "9.9.9.9", &["198.19.0.1/32"]));
    assert!(fib(&out).is_empty());
    let dest = &rib.loc_rib()[&net("198.19.0.1/32")];
    assert_eq!(dest.best(), None);
    assert_eq!(
        rib.loss_reason(&net("198.19.0.1/32"), dest, 0),
        None,
        "no best, nothing to lose against"
    );
    let out = rib.handle_kernel_event(&host_route("9.9.9.9/32", WG_S2));
    assert_replaces(&out, "198.19.0.1/32", via("9.9.9.9", WG_S2, true));
}

/// Why peer `peer`'s path to `prefix` is not the best.
fn why_lost(rib: &Rib, prefix: &str, peer: u32) -> Option<LossReason> {
    let dest = &rib.loc_rib()[&net(prefix)];
    let i = dest
        .paths
        .iter()
        .position(|p| p.source == Source::Peer(peer));
    rib.loss_reason(&net(prefix), dest, i.expect("a path from the peer"))
}

#[test]
fn shorter_path_wins_and_failover_switches_the_kernel_route() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &["203.0.113.0/24"]));
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"]));
    assert_replaces(&out, "203.0.113.0/24", via("2.2.2.2", WG_S2, true));
    assert_eq!(
        why_lost(&rib, "203.0.113.0/24", 3),
        Some(LossReason::AsPathLength)
    );
    let out = rib.handle_peer_down(2);
    assert_replaces(&out, "203.0.113.0/24", via("3.3.3.3", WG_S3, true));
}

#[test]
fn own_as_in_path_is_a_loop_and_dropped() {
    let mut rib = lab(accept_all(), Chain::default());
    let out = rib.handle_update(2, announce(&[65501, 65500], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(out.is_empty());
    assert!(rib.loc_rib().is_empty());
}

#[test]
fn as_path_longer_than_the_limit_is_withdrawn() {
    let mut rib = lab(accept_all(), Chain::default());
    let eight = [65501, 1, 2, 3, 4, 5, 6, 7];
    rib.handle_update(2, announce(&eight, "2.2.2.2", &["198.19.0.1/32"]));
    assert_eq!(rib.loc_rib().len(), 1);
    // One more AS: over the limit, and the earlier path goes too.
    let nine = [65501, 1, 2, 3, 4, 5, 6, 7, 8];
    let out = rib.handle_update(2, announce(&nine, "2.2.2.2", &["198.19.0.1/32"]));
    assert_deletes(&out, "198.19.0.1/32");
    assert!(rib.loc_rib().is_empty());
}

#[test]
fn first_as_must_be_the_neighbour() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65999], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(rib.loc_rib().is_empty());
}

#[test]
fn treat_as_withdraw_removes_an_earlier_path() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let mut bad = announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]);
    bad.treat_as_withdraw = Some(bgp::wire::AttributeError {
        code: 1,
        offset: 23,
        reason: "bad ORIGIN",
    });
    let out = rib.handle_update(2, bad);
    assert_deletes(&out, "198.19.0.1/32");
}

#[test]
fn ipv6_route_resolves_via_peer_ipv6_loopback() {
    let mut rib = lab(accept_all(), Chain::default());
    let out = rib.handle_update(2, mp(Afi::Ipv6, "fd00::2", None, &["2001:db8:2::/48"]));
    assert_replaces(&out, "2001:db8:2::/48", via("fd00::2", WG_S2, true));
    let unreach = Update {
        mp_unreach: Some(MpUnreach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            withdrawn: vec![net("2001:db8:2::/48")],
        }),
        ..Default::default()
    };
    let out = rib.handle_update(2, unreach);
    assert_deletes(&out, "2001:db8:2::/48");
}

/// The announcements in `out` as (peer, prefixes, AS path, next hop),
/// sorted: the order of peers is not part of what is tested.
fn announces(out: &[Output]) -> Vec<(PeerId, Vec<IpNet>, String, IpAddr)> {
    let mut sent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Announce {
                peer,
                attrs,
                next_hop,
                prefixes,
                ..
            } => Some((
                *peer,
                prefixes.clone(),
                attrs.as_path.to_string(),
                next_hop.global,
            )),
            _ => None,
        })
        .collect();
    sent.sort();
    sent
}

/// Our 198.19.0.1/32 as `announces` shows it sent to `peer`: AS path 65500,
/// next hop `next_hop`.
fn ours_to(peer: PeerId, next_hop: &str) -> (PeerId, Vec<IpNet>, String, IpAddr) {
    let prefixes = vec![net("198.19.0.1/32")];
    (peer, prefixes, "65500".into(), next_hop.parse().unwrap())
}

#[test]
fn originated_prefix_is_exported_with_next_hop_self_and_own_as() {
    let mut rib = lab(accept_all(), accept_all());
    let out = rib.originate(&[net("198.19.0.1/32")]);
    assert_eq!(
        announces(&out),
        vec![ours_to(2, "1.1.1.1"), ours_to(3, "1.1.1.1")]
    );
    assert!(fib(&out).is_empty(), "our own prefixes are not installed");
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (0, 1));
}

#[test]
fn learned_route_is_passed_on_but_not_back_to_its_source() {
    let mut rib = lab(accept_all(), accept_all());
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert_eq!(
        announces(&out),
        vec![(
            3,
            vec![net("198.19.0.1/32")],
            "65500 65501".into(),
            "1.1.1.1".parse().unwrap()
        )]
    );
    let out = rib.handle_update(2, withdraw(&["198.19.0.1/32"]));
    assert!(out.contains(&withdraw_to_s3("198.19.0.1/32")));
}

#[test]
fn peer_up_sends_the_table_then_end_of_rib() {
    let mut rib = lab(accept_all(), accept_all());
    rib.originate(&[net("198.19.0.1/32"), net("fd00:198::/48")]);
    rib.handle_peer_down(3);
    let out = rib.handle_peer_up(3, Ipv4Addr::new(3, 3, 3, 3), &FAMILIES, false);
    let v6 = announces(&out)
        .into_iter()
        .find(|a| a.1 == vec![net("fd00:198::/48")])
        .unwrap();
    assert_eq!(v6.3, "fd00::1".parse::<IpAddr>().unwrap());
    let n = out.len();
    assert_eq!(
        out[n - 2],
        Output::EndOfRib {
            peer: 3,
            afi: Afi::Ipv4
        }
    );
    assert_eq!(
        out[n - 1],
        Output::EndOfRib {
            peer: 3,
            afi: Afi::Ipv6
        }
    );
}

#[test]
fn no_export_community_is_honoured() {
    let mut rib = lab(accept_all(), accept_all());
    let mut update = announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]);
    update
        .attributes
        .as_mut()
        .unwrap()
        .communities
        .push(Community::NO_EXPORT);
    let out = rib.handle_update(2, update);
    assert!(announces(&out).is_empty());
    assert_eq!(fib(&out).len(), 1, "still used locally");
}

#[test]
fn link_down_unresolves_and_link_up_reinstalls() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let out = rib.handle_kernel_event(&KernelEvent::LinkChanged {
        ifindex: WG_S2,
        name: "wg-s2".into(),
        up: false,
    });
    assert_deletes(&out, "198.19.0.1/32");
    let out = rib.handle_kernel_event(&KernelEvent::LinkChanged {
        ifindex: WG_S2,
        name: "wg-s2".into(),
        up: true,
    });
    assert_replaces(&out, "198.19.0.1/32", via("2.2.2.2", WG_S2, true));
}

#[test]
fn export_policy_filters_per_prefix() {
    let local_only = Chain(vec![Arc::new(Policy {
        name: "local-only".into(),
        rules: vec![
            Rule::new(vec!["198.19.0.0/16 le 32".parse().unwrap()], Action::Accept),
            Rule::new(vec![], Action::Reject),
        ],
    })]);
    let mut rib = lab(accept_all(), local_only);
    let out = rib.originate(&[net("198.19.0.1/32"), net("10.0.0.0/8")]);
    let exported: HashSet<IpNet> = announces(&out).into_iter().flat_map(|a| a.1).collect();
    assert_eq!(exported, HashSet::from([net("198.19.0.1/32")]));
}

#[test]
fn tighter_export_policy_withdraws_what_it_now_rejects() {
    let mut rib = lab(accept_all(), accept_all());
    rib.originate(&[net("198.19.0.1/32"), net("10.0.0.0/8")]);
    let only_198 = Chain(vec![Arc::new(Policy {
        name: "only-198".into(),
        rules: vec![Rule::new(
            vec!["198.0.0.0/8 le 32".parse().unwrap()],
            Action::Accept,
        )],
    })]);
    let (out, import_changed) = rib.set_policies(2, accept_all(), only_198);
    assert!(!import_changed);
    assert_eq!(
        out,
        vec![Output::Withdraw {
            peer: 2,
            afi: Afi::Ipv4,
            prefixes: vec![net("10.0.0.0/8")]
        }]
    );
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (0, 1));
    assert_eq!(
        rib.peer_counts(3, Afi::Ipv4),
        (0, 2),
        "other peers untouched"
    );
}

fn reject_all() -> Chain {
    Chain(vec![Arc::new(Policy {
        name: "nothing".into(),
        rules: vec![Rule::new(vec![], Action::Reject)],
    })])
}

/// A hub's peers that take no routes (export chain rejecting everything)
/// are skipped by the export diff; that must not lose a withdrawal when a
/// peer moves from a policy that sent routes to one that sends none, nor
/// the table when it moves back.
#[test]
fn peer_whose_export_rejects_everything_gets_nothing_until_its_policy_changes() {
    let mut rib = lab(accept_all(), reject_all());
    let out = rib.originate(&[net("198.19.0.1/32")]);
    assert!(announces(&out).is_empty(), "{out:?}");
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.51.100.0/24"]));
    assert!(announces(&out).is_empty(), "{out:?}");
    assert_eq!(rib.peer_counts(3, Afi::Ipv4), (0, 0));
    // Loosened: the whole table goes out at once.
    let (out, _) = rib.set_policies(3, accept_all(), accept_all());
    let sent: HashSet<IpNet> = announces(&out).into_iter().flat_map(|a| a.1).collect();
    assert_eq!(
        sent,
        HashSet::from([net("198.19.0.1/32"), net("198.51.100.0/24")])
    );
    assert_eq!(rib.peer_counts(3, Afi::Ipv4), (0, 2));
    // Tightened again: what was sent is withdrawn, and a later change
    // (its Adj-RIB-Out now empty) sends nothing.
    let (out, _) = rib.set_policies(3, accept_all(), reject_all());
    let withdrawn: HashSet<IpNet> = out
        .iter()
        .filter_map(|o| match o {
            Output::Withdraw {
                peer: 3, prefixes, ..
            } => Some(prefixes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(withdrawn, sent);
    assert_eq!(rib.peer_counts(3, Afi::Ipv4), (0, 0));
    let out = rib.handle_update(2, withdraw(&["198.51.100.0/24"]));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Withdraw { peer: 3, .. })),
        "{out:?}"
    );
    // The session coming back sends nothing either, End-of-RIB only.
    rib.handle_peer_down(3);
    let out = rib.handle_peer_up(3, Ipv4Addr::new(3, 3, 3, 3), &FAMILIES, false);
    assert!(
        out.iter()
            .all(|o| matches!(o, Output::EndOfRib { peer: 3, .. })),
        "{out:?}"
    );
}

#[test]
fn tighter_import_policy_drops_paths_and_asks_for_refresh() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "203.0.113.0/24"]),
    );
    let only_198 = Chain(vec![Arc::new(Policy {
        name: "only-198".into(),
        rules: vec![Rule::new(
            vec!["198.0.0.0/8 le 32".parse().unwrap()],
            Action::Accept,
        )],
    })]);
    let (out, import_changed) = rib.set_policies(2, only_198, Chain::default());
    assert!(import_changed);
    assert_deletes(&out, "203.0.113.0/24");
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (1, 0));
}

#[test]
fn removed_peer_loses_its_routes_and_local_withdrawal_is_exported() {
    let mut rib = lab(accept_all(), accept_all());
    rib.originate(&[net("198.19.0.1/32")]);
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"]));
    let out = rib.remove_peer(2);
    assert_deletes(&out, "203.0.113.0/24");
    assert!(rib.peer_settings(2).is_none());
    let out = rib.withdraw_local(&[net("198.19.0.1/32")]);
    assert!(out.contains(&withdraw_to_s3("198.19.0.1/32")));
}

#[test]
fn multipath_installs_one_ecmp_route_and_shrinks_on_withdraw() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.cfg.multipath = 4;
    rib.cfg.multipath_relax = true;
    rib.handle_update(2, announce(&[65501, 65510], "2.2.2.2", &["203.0.113.0/24"]));
    let out = rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &["203.0.113.0/24"]));
    let mut both = onlink("2.2.2.2", WG_S2);
    both.extend(onlink("3.3.3.3", WG_S3));
    assert_replaces(&out, "203.0.113.0/24", both.into());
    assert_eq!(rib.loc_rib()[&net("203.0.113.0/24")].multipath_count(), 2);
    let out = rib.handle_update(2, withdraw(&["203.0.113.0/24"]));
    assert_replaces(&out, "203.0.113.0/24", via("3.3.3.3", WG_S3, true));
}

#[test]
fn multipath_without_relax_needs_identical_as_paths() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.cfg.multipath = 4;
    rib.handle_update(2, announce(&[65501, 65510], "2.2.2.2", &["203.0.113.0/24"]));
    let out = rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &["203.0.113.0/24"]));
    assert!(
        fib(&out).is_empty(),
        "different AS paths: still the single best"
    );
}

/// Policy `name`: `set` on the routes of (or to) `peer`, then every route
/// accepted.
fn set_for_peer_then_accept_all(name: &str, set: SetActions, peer: &str) -> Chain {
    let only_peer = Match {
        peer: Some(vec![peer.into()]),
        ..Match::default()
    };
    Chain(
        set_chain(name, set, only_peer)
            .0
            .into_iter()
            .chain(accept_all().0)
            .collect(),
    )
}

/// S1 withdrawing IPv4 `prefix` from S3.
fn withdraw_to_s3(prefix: &str) -> Output {
    Output::Withdraw {
        peer: 3,
        afi: Afi::Ipv4,
        prefixes: vec![net(prefix)],
    }
}

fn set_chain(name: &str, set: SetActions, m: Match) -> Chain {
    Chain(vec![Arc::new(Policy {
        name: name.into(),
        rules: vec![Rule {
            matches: m,
            set: Some(Box::new(set)),
            ..Rule::new(vec![], Action::Accept)
        }],
    })])
}

#[test]
fn import_set_local_pref_overrides_a_shorter_path() {
    // s3 has the longer path, but its routes get LOCAL_PREF 200 on import.
    let prefer_s3 = SetActions {
        local_pref: Some(200),
        ..SetActions::default()
    };
    let import = set_for_peer_then_accept_all("prefer-s3", prefer_s3, "s3");
    let mut rib = lab(import, Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"]));
    let out = rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &["203.0.113.0/24"]));
    assert_replaces(&out, "203.0.113.0/24", via("3.3.3.3", WG_S3, true));
    let dest = &rib.loc_rib()[&net("203.0.113.0/24")];
    let best = &dest.paths[dest.best().unwrap()];
    assert_eq!(best.attrs.local_pref, Some(200));
    assert_eq!(
        why_lost(&rib, "203.0.113.0/24", 2),
        Some(LossReason::LocalPref)
    );
    let s2 = dest.paths.iter().find(|p| p.source == Source::Peer(2));
    assert_eq!(s2.unwrap().attrs.local_pref, None, "s2 untouched");
}

/// Import chain: s2's routes go to kernel table 100, s3's to the default.
fn s2_to_table(table: u32) -> Chain {
    let to_table = SetActions {
        table: Some(table),
        ..SetActions::default()
    };
    set_for_peer_then_accept_all("s2-table", to_table, "s2")
}

#[test]
fn import_set_table_installs_there_and_a_change_of_best_moves_the_route() {
    let p = net("203.0.113.0/24");
    let mut rib = lab(s2_to_table(100), Chain::default());
    let out = rib.handle_update(2, announce(&[65501, 65510], "2.2.2.2", &["203.0.113.0/24"]));
    let via_s2 = via("2.2.2.2", WG_S2, true);
    let via_s3 = via("3.3.3.3", WG_S3, true);
    assert_eq!(
        fib(&out),
        vec![FibOp::replace(Some(100), p, via_s2.clone())]
    );
    assert_eq!(rib.installed_table(&p), Some(100));
    // s3's shorter path wins: out of table 100, into the default table.
    let out = rib.handle_update(3, announce(&[65502], "3.3.3.3", &["203.0.113.0/24"]));
    assert_eq!(
        fib(&out),
        vec![FibOp::delete(Some(100), p), FibOp::replace(None, p, via_s3)]
    );
    assert_eq!(rib.installed_table(&p), None);
    // s3 withdraws: back to s2's path, in table 100.
    let out = rib.handle_update(3, withdraw(&["203.0.113.0/24"]));
    assert_eq!(
        fib(&out),
        vec![
            FibOp::Delete { prefix: p },
            FibOp::replace(Some(100), p, via_s2)
        ]
    );
    // The last path goes: deleted from table 100, where it is.
    let out = rib.handle_update(2, withdraw(&["203.0.113.0/24"]));
    assert_eq!(fib(&out), vec![FibOp::delete(Some(100), p)]);
    assert_eq!(rib.installed_table(&p), None);
    assert!(rib.loc_rib().get(&p).is_none());
}

#[test]
fn changed_import_table_moves_an_installed_route() {
    // The same path, same attributes: only the policy's table changes.
    let p = net("203.0.113.0/24");
    let mut rib = lab(s2_to_table(100), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"]));
    // The kernel changes when S2's import policy names `table` and S2
    // sends the path again.
    let mut move_to = |table| {
        rib.set_policies(2, s2_to_table(table), Chain::default());
        fib(&rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.0/24"])))
    };
    let via_s2 = via("2.2.2.2", WG_S2, true);
    assert_eq!(
        move_to(200),
        vec![
            FibOp::delete(Some(100), p),
            FibOp::replace(Some(200), p, via_s2.clone())
        ]
    );
    // A table equal to the default one is the default table.
    assert_eq!(
        move_to(254),
        vec![FibOp::delete(Some(200), p), FibOp::replace(None, p, via_s2)]
    );
    assert_eq!(rib.installed_table(&p), None);
}

#[test]
fn import_set_attributes_are_interned_once() {
    let tag = SetActions {
        communities: CommunityEdit {
            add: ["65500:1".parse().unwrap()].into_iter().collect(),
            ..CommunityEdit::default()
        },
        ..SetActions::default()
    };
    let mut rib = lab(set_chain("tag", tag, Match::default()), Chain::default());
    let before = rib.attribute_sets();
    rib.handle_update(
        2,
        announce(
            &[65501],
            "2.2.2.2",
            &["198.19.0.0/24", "198.19.1.0/24", "198.19.2.0/24"],
        ),
    );
    let paths: Vec<&Path> = rib.loc_rib().iter().map(|(_, d)| &d.paths[0]).collect();
    assert_eq!(paths.len(), 3);
    assert!(paths.iter().all(|p| Arc::ptr_eq(&p.attrs, &paths[0].attrs)));
    assert_eq!(paths[0].attrs.communities, vec![Community(65500 << 16 | 1)]);
    // The received set and the tagged one.
    assert_eq!(rib.attribute_sets(), before + 2);
}

#[test]
fn import_set_next_hop_is_tracked_and_installed() {
    let set = SetActions {
        next_hop: Some("3.3.3.3".parse().unwrap()),
        ..SetActions::default()
    };
    let mut rib = lab(set_chain("nh", set, Match::default()), Chain::default());
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.0/24"]));
    assert_replaces(&out, "198.19.0.0/24", via("3.3.3.3", WG_S3, true));
}

#[test]
fn export_set_applies_before_own_as_prepend_and_sends_med() {
    let set = SetActions {
        med: Some(77),
        prepend: 2,
        communities: CommunityEdit {
            add: ["65500:100".parse().unwrap(), "65500:0:5".parse().unwrap()]
                .into_iter()
                .collect(),
            ..CommunityEdit::default()
        },
        ..SetActions::default()
    };
    let export = set_for_peer_then_accept_all("to-s3", set, "s3");
    let mut rib = lab(accept_all(), export);
    let mut update = announce(&[65501], "2.2.2.2", &["198.19.0.0/24"]);
    update.attributes.as_mut().unwrap().med = Some(10);
    let out = rib.handle_update(2, update.clone());
    let sent: Vec<&Arc<PathAttributes>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Announce { peer: 3, attrs, .. } => Some(attrs),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    let a = sent[0];
    assert_eq!(a.as_path.to_string(), "65500 65500 65500 65501");
    assert_eq!(a.med, Some(77), "a MED set by export policy is sent");
    assert_eq!(a.communities, vec![Community(65500 << 16 | 100)]);
    assert_eq!(a.large_communities().len(), 1);
    assert_eq!(a.local_pref, None);
    // Peers the rule does not match get the plain export: MED dropped.
    rib.add_peer(4, peer("s4", "4.4.4.4", 65504, accept_all(), accept_all()));
    let out = rib.handle_peer_up(4, Ipv4Addr::new(4, 4, 4, 4), &FAMILIES, false);
    let plain = out
        .iter()
        .find_map(|o| match o {
            Output::Announce { peer: 4, attrs, .. } => Some(attrs.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(plain.as_path.to_string(), "65500 65501");
    assert_eq!(plain.med, None);
    assert!(plain.communities.is_empty());
}

#[test]
fn changed_export_set_is_re_announced_without_a_reset() {
    let tag = |c: &str| SetActions {
        communities: CommunityEdit {
            add: [c.parse().unwrap()].into_iter().collect(),
            ..CommunityEdit::default()
        },
        ..SetActions::default()
    };
    let mut rib = lab(
        accept_all(),
        set_chain("tag", tag("65500:1"), Match::default()),
    );
    let out = rib.originate(&[net("198.19.0.0/24")]);
    assert_eq!(announces(&out).len(), 2);
    let (out, import_changed) = rib.set_policies(
        3,
        accept_all(),
        set_chain("tag", tag("65500:2"), Match::default()),
    );
    assert!(!import_changed);
    let sent: Vec<Vec<Community>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Announce { peer, attrs, .. } => {
                assert_eq!(*peer, 3, "only the peer whose policy changed");
                Some(attrs.communities.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![vec![Community(65500 << 16 | 2)]]);
    // The same chain again sends nothing.
    let (out, _) = rib.set_policies(
        3,
        accept_all(),
        set_chain("tag", tag("65500:2"), Match::default()),
    );
    assert!(announces(&out).is_empty(), "{out:?}");
}

/// The kernel route our writer installed for `prefix` via 2.2.2.2 on wg-s2.
fn our_route(prefix: &str, gateway: &str, oif: u32) -> KernelRoute {
    KernelRoute {
        metric: 20,
        ..KernelRoute::unicast(net(prefix), Some(gateway.parse().unwrap()), oif, 186, 254)
    }
}

fn static_route(prefix: &str, metric: u32) -> KernelRoute {
    KernelRoute {
        metric,
        ..KernelRoute::unicast(net(prefix), Some("10.9.9.9".parse().unwrap()), 1, 4, 254)
    }
}

#[test]
fn route_deleted_behind_our_back_is_reinstalled_once() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let gone = KernelEvent::OwnRouteRemoved(our_route("198.19.0.1/32", "2.2.2.2", WG_S2));
    assert!(
        rib.handle_kernel_event(&gone).is_empty(),
        "coalesced, not at once"
    );
    // A burst of the same notification is one repair.
    rib.handle_kernel_event(&gone);
    assert!(rib.repairs_pending());
    let r = rib.repair(Instant::now());
    assert_eq!(r.repaired, vec![net("198.19.0.1/32")]);
    assert_eq!(
        fib(&r.out),
        vec![FibOp::Replace {
            prefix: net("198.19.0.1/32"),
            nexthops: via("2.2.2.2", WG_S2, true),
            backup: None,
        }]
    );
    assert!(!rib.repairs_pending());
    // Our own re-install is not a deletion: nothing more to do.
    let again = rib.repair(Instant::now());
    assert!(again.repaired.is_empty() && fib(&again.out).is_empty());
}

#[test]
fn deletion_of_a_route_we_no_longer_want_as_it_was_is_not_repaired() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    // Another metric, another gateway, a prefix we never installed: not ours.
    for r in [
        KernelRoute {
            metric: 30,
            ..our_route("198.19.0.1/32", "2.2.2.2", WG_S2)
        },
        our_route("198.19.0.1/32", "3.3.3.3", WG_S3),
        our_route("198.19.9.0/24", "2.2.2.2", WG_S2),
    ] {
        rib.handle_kernel_event(&KernelEvent::OwnRouteRemoved(r));
    }
    assert!(!rib.repairs_pending());
    // The exact route, but withdrawn before the repair runs: its deletion
    // by our own writer already matches what we want.
    rib.handle_kernel_event(&KernelEvent::OwnRouteRemoved(our_route(
        "198.19.0.1/32",
        "2.2.2.2",
        WG_S2,
    )));
    rib.handle_update(2, withdraw(&["198.19.0.1/32"]));
    let r = rib.repair(Instant::now());
    assert!(r.repaired.is_empty() && fib(&r.out).is_empty(), "{r:?}");
}

#[test]
fn repeated_deletions_are_repaired_with_growing_delay() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let gone = KernelEvent::OwnRouteRemoved(our_route("198.19.0.1/32", "2.2.2.2", WG_S2));
    let t0 = Instant::now();
    for i in 0..crate::repair::FREE {
        rib.handle_kernel_event(&gone);
        let r = rib.repair(t0 + std::time::Duration::from_millis(i as u64));
        assert_eq!(r.repaired.len(), 1, "repair {i} is immediate");
    }
    rib.handle_kernel_event(&gone);
    let now = t0 + std::time::Duration::from_millis(10);
    let r = rib.repair(now);
    assert!(r.repaired.is_empty(), "a fight is not joined at once");
    let due = r.next.expect("held back, with a due time");
    assert!(due > now);
    assert!(rib.repairs_pending());
    let r = rib.repair(due);
    assert_eq!(r.repaired, vec![net("198.19.0.1/32")]);
}

#[test]
fn route_of_another_protocol_at_our_metric_is_never_overwritten() {
    let mut rib = lab(accept_all(), Chain::default());
    // Another protocol at a different metric coexists with ours.
    rib.handle_kernel_event(&KernelEvent::RouteAdded(static_route("198.19.0.1/32", 0)));
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert_eq!(fib(&out).len(), 1, "installed next to the metric-0 route");
    // `ip route replace ... proto static metric 20` took our slot: we
    // stand back (a delete of ours is protocol-qualified and cannot touch
    // it) and never replace it, not even when the path changes.
    let out = rib.handle_kernel_event(&KernelEvent::RouteReplaced(static_route(
        "198.19.0.1/32",
        20,
    )));
    assert_deletes(&out, "198.19.0.1/32");
    assert!(rib.is_yielded(&net("198.19.0.1/32")));
    rib.handle_update(2, withdraw(&["198.19.0.1/32"]));
    let out = rib.handle_update(3, announce(&[65502], "3.3.3.3", &["198.19.0.1/32"]));
    assert!(fib(&out).is_empty(), "{out:?}");
    // It leaves: ours goes in.
    let out = rib.handle_kernel_event(&KernelEvent::RouteRemoved(static_route(
        "198.19.0.1/32",
        20,
    )));
    assert_replaces(&out, "198.19.0.1/32", via("3.3.3.3", WG_S3, true));
    assert!(!rib.is_yielded(&net("198.19.0.1/32")));
}

#[test]
fn route_state_stays_small() {
    use std::mem::size_of;
    // One Dest per route of a full table, the single path inline: grows
    // here show up straight in the full-table memory (docs/benchmarks.md).
    let dest = size_of::<Dest>();
    assert!(dest <= 48, "Dest is {dest} bytes");
    let attrs = size_of::<PathAttributes>();
    assert!(attrs <= 96, "PathAttributes is {attrs} bytes");
}

#[test]
fn session_down_is_worked_off_in_chunks() {
    let mut rib = lab(accept_all(), Chain::default());
    let prefixes: Vec<String> = (0..10).map(|i| format!("198.19.{i}.0/24")).collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &prefixes));
    rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &["198.19.0.0/24"]));
    assert!(
        fib(&rib.begin_peer_down(2)).is_empty(),
        "nothing before the sweep"
    );
    assert!(rib.sweep_pending());
    let mut ops = Vec::new();
    while rib.sweep_pending() {
        let chunk = fib(&rib.flush_sweep(4));
        assert!(chunk.len() <= 4);
        ops.extend(chunk);
    }
    // Nine deletions, and the one prefix peer 3 also has moves over to it.
    let deletes = ops
        .iter()
        .filter(|op| matches!(op, FibOp::Delete { .. }))
        .count();
    assert_eq!(deletes, 9);
    assert!(ops.contains(&FibOp::Replace {
        prefix: net("198.19.0.0/24"),
        nexthops: via("3.3.3.3", WG_S3, true),
        backup: None,
    }));
    assert_eq!(rib.loc_rib().len(), 1);
    assert_eq!(rib.flush_sweep(4), Vec::new());
}

fn v6_route(prefix: &str) -> Update {
    mp(Afi::Ipv6, "fd00::2", None, &[prefix])
}

fn end_of_rib_v4() -> Update {
    Update::default()
}

/// S2 sent two IPv4 routes and one IPv6 route, then restarted gracefully,
/// preserving `keep`.
fn restarted(keep: &[Afi]) -> (Rib, Vec<Output>) {
    let mut rib = lab(accept_all(), accept_all());
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "198.19.1.0/24"]),
    );
    rib.handle_update(2, v6_route("2001:db8:2::/48"));
    let out = rib.handle_peer_down_graceful(2, keep);
    (rib, out)
}

#[test]
fn graceful_restart_keeps_routes_installed_and_marks_them_stale() {
    let (rib, out) = restarted(&[Afi::Ipv4]);
    // The IPv6 family is not preserved: its route goes at once.
    assert_deletes(&out, "2001:db8:2::/48");
    // Nothing is withdrawn from S3: the stale routes stay best.
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Withdraw { afi: Afi::Ipv4, .. }))
    );
    assert_eq!(rib.stale_count(2), 2);
    assert!(rib.is_stale(2, &net("198.19.0.1/32")));
    let dest = &rib.loc_rib()[&net("198.19.0.1/32")];
    assert!(dest.best().is_some());
    assert_eq!(dest.installed(), Some(&via("2.2.2.2", WG_S2, true)));
    assert_eq!(rib.peer_counts(2, Afi::Ipv4).0, 2);
}

#[test]
fn re_announced_route_is_fresh_and_end_of_rib_sweeps_the_rest() {
    let (mut rib, _) = restarted(&[Afi::Ipv4, Afi::Ipv6]);
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false);
    // Re-announced with the same next hop: no kernel change.
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(fib(&out).is_empty());
    assert!(!rib.is_stale(2, &net("198.19.0.1/32")));
    assert!(rib.is_stale(2, &net("198.19.1.0/24")));
    // IPv4 End-of-RIB sweeps the IPv4 route not re-announced, not IPv6.
    let out = rib.handle_update(2, end_of_rib_v4());
    assert_deletes(&out, "198.19.1.0/24");
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Withdraw { peer: 3, prefixes, .. } if prefixes == &vec![net("198.19.1.0/24")]
    )));
    assert_eq!(rib.stale_count(2), 1);
    assert!(rib.is_stale(2, &net("2001:db8:2::/48")));
    assert_eq!(rib.peer_counts(2, Afi::Ipv4).0, 1);
    // The IPv6 End-of-RIB (an empty MP_UNREACH) sweeps IPv6.
    let eor_v6 = Update {
        mp_unreach: Some(MpUnreach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            withdrawn: vec![],
        }),
        ..Default::default()
    };
    let out = rib.handle_update(2, eor_v6);
    assert_deletes(&out, "2001:db8:2::/48");
    assert_eq!(rib.stale_count(2), 0);
    assert_eq!(rib.loc_rib().len(), 1);
}

#[test]
fn restart_timer_sweep_removes_every_stale_route() {
    let (mut rib, _) = restarted(&[Afi::Ipv4, Afi::Ipv6]);
    let out = rib.sweep_stale(2, None);
    let mut ops = fib(&out);
    ops.sort_by_key(|op| format!("{op:?}"));
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|op| matches!(op, FibOp::Delete { .. })));
    assert!(rib.loc_rib().is_empty());
    assert_eq!(rib.stale_count(2), 0);
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (0, 0));
    assert_eq!(rib.next_hop_counts(), (0, 0));
}

#[test]
fn re_announced_route_with_a_new_next_hop_replaces_the_stale_one() {
    let (mut rib, _) = restarted(&[Afi::Ipv4]);
    rib.handle_kernel_event(&host_route("2.2.2.9/32", WG_S2));
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false);
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.9", &["198.19.0.1/32"]));
    assert_replaces(&out, "198.19.0.1/32", via("2.2.2.9", WG_S2, true));
    assert_eq!(rib.loc_rib()[&net("198.19.0.1/32")].paths.len(), 1);
    assert_eq!(rib.stale_count(2), 1);
    // A withdrawal of a stale route removes it and its stale mark.
    rib.handle_update(2, withdraw(&["198.19.1.0/24"]));
    assert_eq!(rib.stale_count(2), 0);
    assert_eq!(rib.peer_counts(2, Afi::Ipv4).0, 1);
}

#[test]
fn hard_down_after_a_graceful_one_removes_the_stale_routes() {
    let (mut rib, _) = restarted(&[Afi::Ipv4]);
    let out = rib.handle_peer_down(2);
    assert_eq!(fib(&out).len(), 2);
    assert_eq!(rib.stale_count(2), 0);
    assert!(rib.loc_rib().is_empty());
}
/// `lab` plus S4 (id 4, AS 65504) over an IPv6 session to fd00::2 (reached
/// through wg-s2), with RFC 8950 negotiated as `enh` says.
fn lab_with_ipv6_peer(enh: bool) -> Rib {
    let mut rib = lab(accept_all(), accept_all());
    rib.add_peer(4, peer("s4", "fd00::2", 65504, accept_all(), accept_all()));
    rib.handle_peer_up(4, Ipv4Addr::new(4, 4, 4, 4), &FAMILIES, enh);
    rib
}

fn ipv4_over_ipv6(prefix: &str) -> Update {
    mp_from(65504, Afi::Ipv4, "fd00::2", None, &[prefix])
}

#[test]
fn ipv4_route_with_ipv6_next_hop_resolves_via_the_ipv6_loopback_route() {
    let mut rib = lab_with_ipv6_peer(true);
    let out = rib.handle_update(4, ipv4_over_ipv6("198.19.4.0/24"));
    assert_replaces(&out, "198.19.4.0/24", via("fd00::2", WG_S2, true));
    assert_eq!(rib.peer_counts(4, Afi::Ipv4).0, 1);
    // Passed on to an IPv4 peer with our IPv4 next hop in NEXT_HOP.
    assert!(announces(&out).contains(&(
        3,
        vec![net("198.19.4.0/24")],
        "65500 65504".into(),
        "1.1.1.1".parse().unwrap()
    )));
}

#[test]
fn ipv6_next_hop_for_ipv4_without_extended_next_hop_is_treated_as_withdraw() {
    let mut rib = lab_with_ipv6_peer(false);
    let out = rib.handle_update(4, ipv4_over_ipv6("198.19.4.0/24"));
    assert!(fib(&out).is_empty());
    assert_eq!(rib.peer_counts(4, Afi::Ipv4).0, 0);
    // An earlier path of the prefix from that peer is withdrawn too.
    let mut rib = lab_with_ipv6_peer(false);
    let mut classic = announce(&[65504], "2.2.2.2", &["198.19.4.0/24"]);
    classic.attributes.as_mut().unwrap().as_path = AsPath::from_sequence([65504]);
    rib.handle_update(4, classic);
    assert_eq!(rib.peer_counts(4, Afi::Ipv4).0, 1);
    let out = rib.handle_update(4, ipv4_over_ipv6("198.19.4.0/24"));
    assert_deletes(&out, "198.19.4.0/24");
}

#[test]
fn ipv4_routes_go_to_an_extended_next_hop_peer_with_our_ipv6_next_hop() {
    let mut rib = lab_with_ipv6_peer(true);
    let out = rib.originate(&[net("198.19.0.1/32")]);
    assert_eq!(
        announces(&out),
        vec![
            ours_to(2, "1.1.1.1"),
            ours_to(3, "1.1.1.1"),
            ours_to(4, "fd00::1"),
        ]
    );
    // Without RFC 8950 the IPv6 session gets the IPv4 next hop.
    let mut rib = lab_with_ipv6_peer(false);
    let out = rib.originate(&[net("198.19.0.1/32")]);
    assert!(announces(&out).contains(&ours_to(4, "1.1.1.1")));
}

/// A stale path and a fresh one that tie up to MED: the fresh one wins at
/// the explicit `Stale` step, though the stale peer has the lower router
/// ID (its own, kept while it is away, not 255.255.255.255).
#[test]
fn fresh_path_beats_a_tied_stale_one_and_the_stale_keeps_its_router_id() {
    let mut rib = lab(accept_all(), accept_all());
    let p = "198.19.7.0/24";
    rib.handle_update(2, announce(&[65501, 65510], "2.2.2.2", &[p]));
    rib.handle_update(3, announce(&[65502, 65510], "3.3.3.3", &[p]));
    let dest = &rib.loc_rib()[&net(p)];
    // S2 (router ID 2.2.2.2) wins on router ID while both are fresh.
    assert_eq!(dest.paths[dest.best().unwrap()].source, Source::Peer(2));
    let out = rib.handle_peer_down_graceful(2, &[Afi::Ipv4]);
    assert_eq!(
        fib(&out),
        vec![FibOp::Replace {
            prefix: net(p),
            nexthops: via("3.3.3.3", WG_S3, true),
            backup: None,
        }]
    );
    let dest = &rib.loc_rib()[&net(p)];
    let best = dest.best().unwrap();
    assert_eq!(dest.paths[best].source, Source::Peer(3));
    let stale = 1 - best;
    assert_eq!(
        rib.loss_reason(&net(p), dest, stale),
        Some(LossReason::Stale)
    );
    // S3 leaves for good: the stale path is all there is, and is used.
    let out = rib.handle_peer_down(3);
    assert_eq!(
        fib(&out),
        vec![FibOp::Replace {
            prefix: net(p),
            nexthops: via("2.2.2.2", WG_S2, true),
            backup: None,
        }]
    );
    // S2 back and re-announcing: fresh again, the usual router ID order.
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false);
    rib.handle_update(2, announce(&[65501, 65510], "2.2.2.2", &[p]));
    assert!(!rib.is_stale(2, &net(p)));
}

/// A restarting wgbgpd: the previous run left three routes in the kernel.
/// While selection is deferred nothing reaches the kernel or the peers;
/// at the end the routes still wanted are replaced in place and exactly
/// the leftover goes, then each peer gets its table and End-of-RIB.
#[test]
fn deferral_holds_fib_and_exports_then_replaces_and_sweeps_leftovers() {
    let mut rib = Rib::new(RibConfig {
        max_as_path_len: None,
        backup_paths: false,
        ..s1_config()
    });
    rib.begin_deferral();
    assert!(rib.is_deferring());
    rib.handle_kernel_event(&links());
    rib.handle_kernel_event(&host_route("2.2.2.2/32", WG_S2));
    rib.handle_kernel_event(&host_route("3.3.3.3/32", WG_S3));
    rib.add_peer(2, peer("s2", "2.2.2.2", 65501, accept_all(), accept_all()));
    rib.add_peer(3, peer("s3", "3.3.3.3", 65502, accept_all(), accept_all()));
    let mut out = rib.originate(&[net("192.0.2.0/24")]);
    out.extend(rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, false));
    out.extend(rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.0/24", "198.19.1.0/24"]),
    ));
    out.extend(rib.handle_update(2, end_of_rib_v4()));
    assert!(out.is_empty(), "deferred, yet: {out:?}");
    // Best paths are chosen all the same (`show` has them).
    assert!(rib.loc_rib()[&net("198.19.0.0/24")].best().is_some());
    assert!(rib.loc_rib()[&net("198.19.0.0/24")].installed().is_none());

    // The old run had 198.19.0.0/24, 198.19.1.0/24 and 198.19.9.0/24.
    let kernel_stale = [
        net("198.19.0.0/24"),
        net("198.19.1.0/24"),
        net("198.19.9.0/24"),
    ];
    let out = rib.end_deferral(&kernel_stale);
    assert!(!rib.is_deferring());
    let mut ops = fib(&out);
    ops.sort_by_key(|op| op.prefix());
    assert_eq!(
        ops,
        vec![
            FibOp::Replace {
                prefix: net("198.19.0.0/24"),
                nexthops: via("2.2.2.2", WG_S2, true),
                backup: None,
            },
            FibOp::Replace {
                prefix: net("198.19.1.0/24"),
                nexthops: via("2.2.2.2", WG_S2, true),
                backup: None,
            },
            FibOp::Delete {
                prefix: net("198.19.9.0/24")
            },
        ]
    );
    // S2 (Established during the deferral) gets the originated prefix
    // and End-of-RIB per family, after the announcements; S3 is down.
    let sent = announces(&out);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 2);
    assert_eq!(sent[0].1, vec![net("192.0.2.0/24")]);
    let eors: Vec<(PeerId, Afi)> = out
        .iter()
        .filter_map(|o| match o {
            Output::EndOfRib { peer, afi } => Some((*peer, *afi)),
            _ => None,
        })
        .collect();
    assert_eq!(eors, vec![(2, Afi::Ipv4), (2, Afi::Ipv6)]);
    let last_announce = out
        .iter()
        .rposition(|o| matches!(o, Output::Announce { .. }))
        .unwrap();
    let first_eor = out
        .iter()
        .position(|o| matches!(o, Output::EndOfRib { .. }))
        .unwrap();
    assert!(last_announce < first_eor);
    // Ending twice does nothing; afterwards changes flow as usual.
    assert!(rib.end_deferral(&kernel_stale).is_empty());
    let out = rib.handle_update(2, withdraw(&["198.19.1.0/24"]));
    assert_deletes(&out, "198.19.1.0/24");
    // S3 coming up now gets the table at once.
    let out = rib.handle_peer_up(3, Ipv4Addr::new(3, 3, 3, 3), &FAMILIES, false);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::EndOfRib { peer: 3, .. }))
    );
}

/// Without a deferral, ending one is a no-op: nothing is swept.
#[test]
fn end_deferral_without_one_sweeps_nothing() {
    let mut rib = lab(accept_all(), accept_all());
    assert!(rib.end_deferral(&[net("198.19.9.0/24")]).is_empty());
}

fn only(prefix: &str) -> Chain {
    Chain(vec![Arc::new(Policy {
        name: format!("only-{prefix}"),
        rules: vec![Rule::new(vec![prefix.parse().unwrap()], Action::Accept)],
    })])
}

#[test]
fn soft_reconfiguration_keeps_rejected_routes_and_reapplies_a_new_policy_without_refresh() {
    let mut rib = lab(only("198.0.0.0/8 le 32"), Chain::default());
    assert!(rib.received_routes(2).is_none(), "off by default");
    assert!(
        rib.set_soft_reconfiguration(2, true),
        "turned on while Established: the copy must be filled by a refresh"
    );
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "203.0.113.0/24"]),
    );
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (1, 0));
    let received = rib.received_routes(2).unwrap();
    let shown: Vec<(String, bool)> = received
        .iter()
        .map(|r| (r.prefix.to_string(), r.accepted))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("198.19.0.1/32".to_string(), true),
            ("203.0.113.0/24".to_string(), false)
        ]
    );
    assert_eq!(rib.received_counts(2), Some([(2, 1), (0, 0)]));
    // The pre-policy copy shares the Loc-RIB's attribute set.
    let dest = rib.loc_rib().get(&net("198.19.0.1/32")).unwrap();
    assert!(Arc::ptr_eq(&dest.paths[0].attrs, &received[0].attrs));

    let (out, refresh) = rib.set_policies(2, accept_all(), Chain::default());
    assert!(!refresh, "re-applied from the copy: no ROUTE-REFRESH");
    assert_replaces(&out, "203.0.113.0/24", via("2.2.2.2", WG_S2, true));
    assert_eq!(rib.peer_counts(2, Afi::Ipv4), (2, 0));
    assert_eq!(rib.received_counts(2), Some([(2, 0), (0, 0)]));

    // Tighter again: the route goes, still from the copy.
    let (out, refresh) = rib.set_policies(2, only("198.0.0.0/8 le 32"), Chain::default());
    assert!(!refresh);
    assert_deletes(&out, "203.0.113.0/24");
    // Peer 3 has no copy: a policy change there still needs a refresh.
    let (_, refresh) = rib.set_policies(3, accept_all(), Chain::default());
    assert!(refresh);
}

#[test]
fn soft_reconfiguration_copy_follows_withdrawals_loops_and_session_down() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.set_soft_reconfiguration(2, true);
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "203.0.113.0/24"]),
    );
    // Our own AS in the path: a loop, never accepted, but received.
    rib.handle_update(2, announce(&[65501, 65500], "2.2.2.2", &["192.0.2.0/24"]));
    assert_eq!(rib.received_counts(2), Some([(3, 1), (0, 0)]));
    rib.handle_update(2, withdraw(&["203.0.113.0/24"]));
    let prefixes: Vec<String> = rib
        .received_routes(2)
        .unwrap()
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(prefixes, vec!["192.0.2.0/24", "198.19.0.1/32"]);
    // RFC 7606 treat-as-withdraw takes the route out of the copy too.
    let mut broken = announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]);
    broken.treat_as_withdraw = Some(bgp::wire::AttributeError {
        code: 1,
        offset: 23,
        reason: "bad ORIGIN",
    });
    rib.handle_update(2, broken);
    assert_eq!(rib.received_counts(2), Some([(1, 1), (0, 0)]));
    // A soft in from the copy changes nothing when nothing changed.
    let out = rib.soft_in(2);
    assert!(fib(&out).is_empty());
    rib.handle_peer_down(2);
    assert_eq!(rib.received_counts(2), Some([(0, 0), (0, 0)]));
    assert!(!rib.set_soft_reconfiguration(2, false));
    assert!(rib.received_routes(2).is_none());
}

#[test]
fn advertised_routes_show_what_was_sent() {
    let mut rib = lab(accept_all(), accept_all());
    rib.originate(&[net("198.19.0.1/32")]);
    rib.handle_update(3, announce(&[65502], "3.3.3.3", &["203.0.113.0/24"]));
    let sent: Vec<(String, String, String)> = rib
        .advertised_routes(2)
        .iter()
        .map(|r| {
            (
                r.prefix.to_string(),
                r.next_hop.to_string(),
                r.attrs.as_path.to_string(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            ("198.19.0.1/32".into(), "1.1.1.1".into(), "65500".into()),
            (
                "203.0.113.0/24".into(),
                "1.1.1.1".into(),
                "65500 65502".into()
            ),
        ]
    );
}

#[test]
fn pre_policy_copy_costs_one_small_entry_per_route_and_nothing_without_it() {
    // Prefix, shared attribute pointer, next hop: no attribute copy
    // (56 bytes, plus the hash table's control byte and slack).
    let entry = std::mem::size_of::<(IpNet, (Arc<PathAttributes>, IpAddr))>();
    assert!(entry <= 56, "{entry} bytes");
    // A peer without the option holds an empty `None`.
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(rib.received_counts(2).is_none());
    assert!(!rib.soft_reconfiguration(2));
}

#[test]
fn graceful_shutdown_community_sets_local_pref_zero_rfc8326() {
    let prefer_s2 = Chain(vec![Arc::new(Policy {
        name: "prefer".into(),
        rules: vec![Rule {
            set: Some(Box::new(SetActions {
                local_pref: Some(300),
                ..Default::default()
            })),
            ..Rule::new(vec![], Action::Accept)
        }],
    })]);
    let mut rib = lab(prefer_s2, accept_all());
    let mut draining = announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]);
    (draining.attributes.as_mut().unwrap().communities).push(Community::GRACEFUL_SHUTDOWN);
    rib.handle_update(2, draining);
    // S3's longer path wins: S2's is at LOCAL_PREF 0 despite the policy's 300.
    let out = rib.handle_update(3, announce(&[65502, 1, 2], "3.3.3.3", &["198.19.0.1/32"]));
    assert_replaces(&out, "198.19.0.1/32", via("3.3.3.3", WG_S3, true));
    let dest = rib.loc_rib().get(&net("198.19.0.1/32")).unwrap();
    let s2 = dest
        .paths
        .iter()
        .find(|p| p.source == Source::Peer(2))
        .unwrap();
    assert_eq!(s2.attrs.local_pref, Some(0));
    // Without the community S2's path is back at 300 and wins.
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert_replaces(&out, "198.19.0.1/32", via("2.2.2.2", WG_S2, true));
}

#[test]
fn enhanced_route_refresh_sweeps_paths_not_readvertised_between_borr_and_eorr() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(
        2,
        announce(&[65501], "2.2.2.2", &["198.19.0.1/32", "198.19.0.2/32"]),
    );
    // BoRR: both marked, both still installed; nothing changes in the FIB.
    rib.handle_begin_of_refresh(2, Afi::Ipv4);
    assert_eq!(rib.stale_count(2), 2);
    assert!(rib.is_stale(2, &net("198.19.0.2/32")));
    // Only .1 is re-advertised.
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    assert!(fib(&out).is_empty(), "same path: {out:?}");
    assert!(!rib.is_stale(2, &net("198.19.0.1/32")));
    // EoRR: .2 goes, .1 stays.
    let out = rib.handle_end_of_refresh(2, Afi::Ipv4);
    assert_deletes(&out, "198.19.0.2/32");
    assert_eq!(rib.stale_count(2), 0);
    assert!(rib.loc_rib().get(&net("198.19.0.1/32")).is_some());
    // A BoRR for the other family leaves IPv4 paths alone.
    rib.handle_begin_of_refresh(2, Afi::Ipv6);
    assert_eq!(rib.stale_count(2), 0);
}

#[test]
fn blackhole_community_installs_a_blackhole_route_and_is_not_exported_rfc7999() {
    let mut rib = lab(accept_all(), accept_all());
    let mut update = announce(&[65501], "2.2.2.2", &["203.0.113.7/32"]);
    (update.attributes.as_mut().unwrap().communities).push(Community::BLACKHOLE);
    let out = rib.handle_update(2, update);
    assert_replaces(&out, "203.0.113.7/32", Arc::new(Vec::new()));
    assert!(announces(&out).is_empty(), "not passed on to S3");
    // Without the community it is an ordinary route again, and exported.
    let out = rib.handle_update(2, announce(&[65501], "2.2.2.2", &["203.0.113.7/32"]));
    assert_replaces(&out, "203.0.113.7/32", via("2.2.2.2", WG_S2, true));
    assert_eq!(announces(&out).len(), 1);
}

#[test]
fn blackhole_route_import_policy_rejects_is_not_installed() {
    let no_blackholes = Chain(vec![Arc::new(Policy {
        name: "no-blackholes".into(),
        rules: vec![
            Rule {
                matches: Match {
                    community: Some(
                        [CommunityValue::Standard(Community::BLACKHOLE)]
                            .into_iter()
                            .collect(),
                    ),
                    ..Match::default()
                },
                ..Rule::new(vec![], Action::Reject)
            },
            Rule::new(vec![], Action::Accept),
        ],
    })]);
    let mut rib = lab(no_blackholes, accept_all());
    let mut update = announce(&[65501], "2.2.2.2", &["203.0.113.7/32"]);
    (update.attributes.as_mut().unwrap().communities).push(Community::BLACKHOLE);
    let out = rib.handle_update(2, update);
    assert!(fib(&out).is_empty(), "{out:?}");
    assert!(rib.loc_rib().get(&net("203.0.113.7/32")).is_none());
}

#[test]
fn guard_refuses_default_route_and_bogons_and_counts_them() {
    let mut rib = lab(accept_all(), accept_all());
    rib.set_guard(
        2,
        Guard {
            reject_default_route: true,
            reject_bogons: true,
        },
    );
    rib.handle_update(
        2,
        announce(
            &[65501],
            "2.2.2.2",
            &["0.0.0.0/0", "10.1.0.0/16", "192.168.7.0/24", "8.8.8.0/24"],
        ),
    );
    assert!(rib.loc_rib().get(&net("8.8.8.0/24")).is_some());
    for p in ["0.0.0.0/0", "10.1.0.0/16", "192.168.7.0/24"] {
        assert!(rib.loc_rib().get(&net(p)).is_none(), "{p} got in");
    }
    assert_eq!(
        rib.refused(2),
        vec![(Refusal::DefaultRoute, 1), (Refusal::Bogon, 2)]
    );
    // The other peer has no guard: the same routes get in.
    rib.handle_update(3, announce(&[65502], "3.3.3.3", &["10.1.0.0/16"]));
    assert!(rib.loc_rib().get(&net("10.1.0.0/16")).is_some());
    assert!(rib.refused(3).is_empty());
}

#[test]
fn adj_rib_in_memory_follows_announcements_and_withdrawals() {
    let mut rib = lab(accept_all(), accept_all());
    assert_eq!(rib.adj_rib_in_bytes(2), None, "not kept without a cap");
    rib.track_memory(2, true);
    rib.track_memory(3, true);
    assert_eq!(rib.adj_rib_in_bytes(2), Some(0));
    let prefixes: Vec<String> = (0..1000)
        .map(|i| format!("20.{}.{}.0/24", i / 256, i % 256))
        .collect();
    // 100 UPDATEs of 10 prefixes, each its own attribute set.
    for (i, chunk) in prefixes.chunks(10).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rib.handle_update(2, announce(&[65501, 64000 + i as u32], "2.2.2.2", &refs));
    }
    let full = rib.adj_rib_in_bytes(2).unwrap();
    let one_set = crate::guard::attribute_bytes(&PathAttributes {
        as_path: AsPath::from_sequence([65501, 64000]),
        ..Default::default()
    });
    assert_eq!(full, 1000 * crate::guard::PATH_BYTES + 100 * one_set);
    // Switched off and on again: recounted from the table.
    rib.track_memory(2, false);
    assert_eq!(rib.adj_rib_in_bytes(2), None);
    rib.track_memory(2, true);
    assert_eq!(rib.adj_rib_in_bytes(2), Some(full));
    // Re-announced with one shared attribute set: 99 sets fewer.
    for chunk in prefixes.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rib.handle_update(2, announce(&[65501, 64000], "2.2.2.2", &refs));
    }
    assert_eq!(
        rib.adj_rib_in_bytes(2),
        Some(1000 * crate::guard::PATH_BYTES + one_set)
    );
    let refs: Vec<&str> = prefixes[..500].iter().map(String::as_str).collect();
    rib.handle_update(2, withdraw(&refs));
    assert_eq!(
        rib.adj_rib_in_bytes(2),
        Some(500 * crate::guard::PATH_BYTES + one_set)
    );
    assert_eq!(rib.adj_rib_in_bytes(3), Some(0));
    rib.handle_peer_down(2);
    assert_eq!(rib.adj_rib_in_bytes(2), Some(0));
}

/// The kernel as `lab` left it, with `WG_S3` `up` or not, as one full dump.
fn dump(s3_up: bool, extra: Option<KernelEvent>) -> KernelEvent {
    let KernelEvent::Resync(mut events) = links() else {
        unreachable!()
    };
    for e in &mut events {
        if let KernelEvent::LinkChanged { ifindex, up, .. } = e
            && *ifindex == WG_S3
        {
            *up = s3_up;
        }
    }
    for (prefix, oif) in [
        ("2.2.2.2/32", WG_S2),
        ("3.3.3.3/32", WG_S3),
        ("fd00::2/128", WG_S2),
    ] {
        let KernelEvent::RouteAdded(r) = host_route(prefix, oif) else {
            unreachable!()
        };
        events.push(KernelEvent::RouteAdded(r));
    }
    events.extend(extra);
    KernelEvent::Resync(events)
}

#[test]
fn a_links_flap_rewrites_only_the_routes_through_it() {
    let mut rib = lab(accept_all(), accept_all());
    let from_s2: Vec<String> = (0..50).map(|i| format!("198.51.{i}.0/24")).collect();
    let from_s2: Vec<&str> = from_s2.iter().map(String::as_str).collect();
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &from_s2));
    rib.handle_update(3, announce(&[65502], "3.3.3.3", &["203.0.113.0/24"]));

    // wg-s3 goes down: the kernel took S3's route along (nothing to
    // delete), and nothing of S2's is touched.
    let out = rib.handle_kernel_event(&dump(false, None));
    assert_eq!(fib(&out), vec![]);
    // ... and comes back: S3's route is written again, S2's still untouched.
    let out = rib.handle_kernel_event(&dump(true, None));
    assert_replaces(&out, "203.0.113.0/24", via("3.3.3.3", WG_S3, true));

    // As the watcher reports it: the link's change first, then the dump.
    let s3_link = |up| KernelEvent::LinkChanged {
        ifindex: WG_S3,
        name: "wg-s3".into(),
        up,
    };
    let mut out = rib.handle_kernel_event(&s3_link(false));
    out.extend(rib.handle_kernel_event(&dump(false, None)));
    assert_deletes(&out, "203.0.113.0/24");
    let mut out = rib.handle_kernel_event(&s3_link(true));
    out.extend(rib.handle_kernel_event(&dump(true, None)));
    assert_replaces(&out, "203.0.113.0/24", via("3.3.3.3", WG_S3, true));

    // A dump no link change explains (lost notifications): everything again.
    let other = host_route("192.0.2.0/24", 1);
    let out = rib.handle_kernel_event(&dump(true, Some(other)));
    assert_eq!(fib(&out).len(), 51);
}
