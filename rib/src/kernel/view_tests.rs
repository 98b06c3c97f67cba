//! Unit tests for `KernelView::resolve` and `apply`, driven by hand-made events.

use super::*;

const MAIN: u32 = 254;
const WG1: u32 = 5;
const WG2: u32 = 6;
const ETH: u32 = 2;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn route(prefix: &str, gateway: Option<&str>, oif: u32) -> KernelRoute {
    // Protocol 4: static.
    KernelRoute::unicast(
        prefix.parse::<IpNet>().unwrap().trunc(),
        gateway.map(ip),
        oif,
        4,
        MAIN,
    )
}

fn link(ifindex: u32, name: &str, up: bool) -> KernelEvent {
    KernelEvent::LinkChanged {
        ifindex,
        name: name.into(),
        up,
    }
}

/// eth0 (192.0.2.0/24), wg-s1 and wg-s2 all up; 192.0.2.1 is ours.
fn view() -> KernelView {
    let mut v = KernelView::new(MAIN);
    let events = vec![
        link(1, "lo", true),
        link(ETH, "eth0", true),
        link(WG1, "wg-s1", true),
        link(WG2, "wg-s2", true),
        KernelEvent::AddressAdded {
            ifindex: ETH,
            addr: ip("192.0.2.1"),
        },
        KernelEvent::AddressAdded {
            ifindex: 1,
            addr: ip("10.255.0.1"),
        },
        KernelEvent::RouteAdded(route("192.0.2.0/24", None, ETH)),
    ];
    assert!(v.apply(&KernelEvent::Resync(events)));
    v
}

fn hop(gateway: &str, ifindex: u32, onlink: bool) -> KernelNextHop {
    KernelNextHop {
        gateway: ip(gateway),
        ifindex,
        onlink,
    }
}

#[test]
fn interface_route_resolves_onlink_with_original_gateway() {
    let mut v = view();
    assert!(v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG2))));
    assert_eq!(
        v.resolve(ip("2.2.2.2")),
        Some(vec![hop("2.2.2.2", WG2, true)])
    );
}

#[test]
fn connected_prefix_resolves_onlink() {
    let v = view();
    assert_eq!(
        v.resolve(ip("192.0.2.7")),
        Some(vec![hop("192.0.2.7", ETH, true)])
    );
}

#[test]
fn gateway_route_resolves_recursively_to_its_gateway() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route(
        "10.9.0.0/16",
        Some("192.0.2.254"),
        ETH,
    )));
    assert_eq!(
        v.resolve(ip("10.9.3.4")),
        Some(vec![hop("192.0.2.254", ETH, false)])
    );
}

#[test]
fn longest_match_wins() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route(
        "10.0.0.0/8",
        Some("192.0.2.254"),
        ETH,
    )));
    v.apply(&KernelEvent::RouteAdded(route("10.1.0.0/16", None, WG1)));
    v.apply(&KernelEvent::RouteAdded(route("10.1.2.3/32", None, WG2)));
    assert_eq!(
        v.resolve(ip("10.1.2.3")),
        Some(vec![hop("10.1.2.3", WG2, true)])
    );
    assert_eq!(
        v.resolve(ip("10.1.2.4")),
        Some(vec![hop("10.1.2.4", WG1, true)])
    );
    assert_eq!(
        v.resolve(ip("10.2.0.1")),
        Some(vec![hop("192.0.2.254", ETH, false)])
    );
}

#[test]
fn lowest_metric_wins_within_a_prefix() {
    let mut v = view();
    let mut a = route("10.1.0.0/16", None, WG1);
    a.metric = 100;
    let mut b = route("10.1.0.0/16", None, WG2);
    b.metric = 10;
    v.apply(&KernelEvent::RouteAdded(a));
    v.apply(&KernelEvent::RouteAdded(b));
    assert_eq!(
        v.resolve(ip("10.1.0.1")),
        Some(vec![hop("10.1.0.1", WG2, true)])
    );
}

#[test]
fn default_route_is_ignored() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route(
        "0.0.0.0/0",
        Some("192.0.2.254"),
        ETH,
    )));
    v.apply(&KernelEvent::RouteAdded(route(
        "::/0",
        Some("2001:db8::1"),
        ETH,
    )));
    assert_eq!(v.resolve(ip("198.51.100.1")), None);
    assert_eq!(v.resolve(ip("2001:db8:1::1")), None);
}

#[test]
fn bgp_routes_are_ignored() {
    let mut v = view();
    let mut r = route("2.2.2.2/32", Some("192.0.2.9"), ETH);
    r.protocol = RTPROT_BGP;
    assert!(
        !v.apply(&KernelEvent::RouteAdded(r)),
        "a BGP route is not relevant"
    );
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
    assert_eq!(v.route_count(), 1);
}

#[test]
fn routes_of_other_tables_are_ignored() {
    let mut v = view();
    let mut r = route("2.2.2.2/32", None, WG1);
    r.table = 100;
    assert!(!v.apply(&KernelEvent::RouteAdded(r)));
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
}

#[test]
fn link_down_makes_routes_via_it_unusable() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG2)));
    v.apply(&KernelEvent::RouteAdded(route("2.2.0.0/16", None, WG1)));
    assert!(v.apply(&link(WG2, "wg-s2", false)));
    // Falls back to the less specific route, as zebra walks up the tree.
    assert_eq!(
        v.resolve(ip("2.2.2.2")),
        Some(vec![hop("2.2.2.2", WG1, true)])
    );
    assert!(v.apply(&link(WG1, "wg-s1", false)));
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
    assert!(v.apply(&link(WG2, "wg-s2", true)));
    assert_eq!(
        v.resolve(ip("2.2.2.2")),
        Some(vec![hop("2.2.2.2", WG2, true)])
    );
}

#[test]
fn removed_link_is_forgotten() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG2)));
    assert!(v.apply(&KernelEvent::LinkRemoved { ifindex: WG2 }));
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
    assert_eq!(v.ifname(WG2), None);
}

#[test]
fn own_address_does_not_resolve() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("10.255.0.0/24", None, ETH)));
    assert_eq!(v.resolve(ip("192.0.2.1")), None);
    assert_eq!(v.resolve(ip("10.255.0.1")), None);
    assert!(v.apply(&KernelEvent::AddressRemoved {
        ifindex: 1,
        addr: ip("10.255.0.1")
    }));
    assert_eq!(
        v.resolve(ip("10.255.0.1")),
        Some(vec![hop("10.255.0.1", ETH, true)])
    );
}

#[test]
fn multipath_gives_one_hop_per_usable_path() {
    let mut v = view();
    let mut r = route("10.7.0.0/16", None, 0);
    r.oif = None;
    r.multipath = vec![
        (Some(ip("192.0.2.10")), ETH),
        (None, WG1),
        (Some(ip("192.0.2.11")), WG2),
    ];
    v.apply(&KernelEvent::RouteAdded(r));
    assert_eq!(
        v.resolve(ip("10.7.1.1")),
        Some(vec![
            hop("192.0.2.10", ETH, false),
            hop("10.7.1.1", WG1, true),
            hop("192.0.2.11", WG2, false),
        ])
    );
    v.apply(&link(WG1, "wg-s1", false));
    assert_eq!(
        v.resolve(ip("10.7.1.1")),
        Some(vec![
            hop("192.0.2.10", ETH, false),
            hop("192.0.2.11", WG2, false)
        ])
    );
}

#[test]
fn unreachable_route_blocks_resolution() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("10.0.0.0/8", None, WG1)));
    let mut r = route("10.1.0.0/16", None, 0);
    r.oif = None;
    r.kind = RouteKind::Unreachable;
    v.apply(&KernelEvent::RouteAdded(r.clone()));
    assert_eq!(v.resolve(ip("10.1.0.1")), None);
    assert!(v.apply(&KernelEvent::RouteRemoved(r)));
    assert_eq!(
        v.resolve(ip("10.1.0.1")),
        Some(vec![hop("10.1.0.1", WG1, true)])
    );
}

#[test]
fn ipv6_interface_route_resolves_onlink() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route(
        "2001:db8:2::2/128",
        None,
        WG2,
    )));
    v.apply(&KernelEvent::RouteAdded(route(
        "2001:db8::/32",
        Some("fe80::1"),
        ETH,
    )));
    assert_eq!(
        v.resolve(ip("2001:db8:2::2")),
        Some(vec![hop("2001:db8:2::2", WG2, true)])
    );
    assert_eq!(
        v.resolve(ip("2001:db8:9::1")),
        Some(vec![hop("fe80::1", ETH, false)])
    );
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
}

#[test]
fn replace_swaps_route_with_same_metric_and_remove_deletes() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG1)));
    assert!(v.apply(&KernelEvent::RouteReplaced(route("2.2.2.2/32", None, WG2))));
    assert_eq!(
        v.resolve(ip("2.2.2.2")),
        Some(vec![hop("2.2.2.2", WG2, true)])
    );
    assert!(!v.apply(&KernelEvent::RouteReplaced(route("2.2.2.2/32", None, WG2))));
    assert!(v.apply(&KernelEvent::RouteRemoved(route("2.2.2.2/32", None, WG2))));
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
    assert!(!v.apply(&KernelEvent::RouteRemoved(route("2.2.2.2/32", None, WG2))));
}

#[test]
fn duplicate_add_is_not_a_change() {
    let mut v = view();
    assert!(v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG1))));
    assert!(!v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG1))));
    assert_eq!(v.route_count(), 2);
}

#[test]
fn resync_replaces_everything_and_reports_change_only_when_different() {
    let mut v = view();
    v.apply(&KernelEvent::RouteAdded(route("2.2.2.2/32", None, WG1)));
    let events = vec![
        link(WG1, "wg-s1", true),
        KernelEvent::RouteAdded(route("3.3.3.3/32", None, WG1)),
    ];
    assert!(v.apply(&KernelEvent::Resync(events.clone())));
    assert_eq!(v.resolve(ip("2.2.2.2")), None);
    assert_eq!(
        v.resolve(ip("3.3.3.3")),
        Some(vec![hop("3.3.3.3", WG1, true)])
    );
    assert_eq!(v.ifname(ETH), None);
    assert!(!v.apply(&KernelEvent::Resync(events)));
}

#[test]
fn names_and_indexes() {
    let v = view();
    assert_eq!(v.ifname(WG2), Some("wg-s2"));
    assert_eq!(v.ifindex("wg-s1"), Some(WG1));
    assert_eq!(v.ifindex("nope"), None);
}

#[test]
fn foreign_route_is_found_by_exact_prefix_and_metric_and_bgp_ones_are_not() {
    let mut v = view();
    let p: IpNet = "198.19.0.0/24".parse().unwrap();
    let mut r = route("198.19.0.0/24", Some("192.0.2.9"), ETH);
    r.metric = 20;
    assert!(v.apply(&KernelEvent::RouteAdded(r.clone())));
    assert!(v.has_foreign(&p, 20));
    assert!(!v.has_foreign(&p, 30), "another metric coexists");
    assert!(!v.has_foreign(&"198.19.0.0/25".parse().unwrap(), 20));
    v.apply(&KernelEvent::RouteRemoved(r.clone()));
    assert!(!v.has_foreign(&p, 20));
    // Our own kind of route, and the deletion notice of one, change nothing.
    let ours = KernelRoute {
        protocol: RTPROT_BGP,
        ..r
    };
    assert!(!v.apply(&KernelEvent::RouteAdded(ours.clone())));
    assert!(!v.apply(&KernelEvent::OwnRouteRemoved(ours)));
    assert!(!v.has_foreign(&p, 20));
}

#[test]
fn an_address_names_its_interface_and_link_locals_are_found_per_interface() {
    let mut v = view();
    for (ifindex, addr) in [
        (2, "fe80::9"),
        (2, "fe80::2"),
        (3, "fe80::1"),
        (2, "2001:db8::2"),
    ] {
        v.apply(&KernelEvent::AddressAdded {
            ifindex,
            addr: ip(addr),
        });
    }
    assert_eq!(v.interface_with(ip("2001:db8::2")), Some(2));
    assert_eq!(v.interface_with(ip("2001:db8::99")), None);
    // The lowest of interface 2's, whatever the order; none on 4.
    assert_eq!(v.link_local(2), Some("fe80::2".parse().unwrap()));
    assert_eq!(v.link_local(3), Some("fe80::1".parse().unwrap()));
    assert_eq!(v.link_local(4), None);
}
