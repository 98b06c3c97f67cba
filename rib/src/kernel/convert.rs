//! Translation between rtnetlink messages (netlink-packet-route types) and the kernel view's
//! plain data: parsing route, link and address messages into `KernelEvent`s, and building the
//! `RTM_NEWROUTE`/`RTM_DELROUTE` bodies that the FIB writer sends.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope, RouteType, RouteVia,
};

use super::fib::{FibConfig, FibError};
use super::view::{KernelEvent, KernelNextHop, KernelRoute, RouteKind};

/// `RT_TABLE_COMPAT`: the header's 8-bit table field says "look at RTA_TABLE".
const RT_TABLE_COMPAT: u8 = 252;

fn kind_of(t: RouteType) -> RouteKind {
    match t {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        _ => RouteKind::Other,
    }
}

fn addr_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_of(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The table of a route message: `RTA_TABLE` when present (tables above 255 live only there),
/// else the header field.
pub(crate) fn table_of(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(msg.header.table as u32)
}

/// Parses an IPv4/IPv6 route message; None for other families (MPLS, multicast caches ...).
pub(crate) fn route_from_msg(msg: &RouteMessage) -> Option<KernelRoute> {
    let h = &msg.header;
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut metric = 0;
    let mut multipath = Vec::new();
    for a in &msg.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = addr_of(d),
            RouteAttribute::Gateway(g) => gateway = addr_of(g),
            RouteAttribute::Via(v) => gateway = via_of(v),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::MultiPath(hops) => {
                for nh in hops {
                    let gw = nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => addr_of(g),
                        RouteAttribute::Via(v) => via_of(v),
                        _ => None,
                    });
                    multipath.push((gw, nh.interface_index));
                }
            }
            _ => {}
        }
    }
    let dst = match (h.address_family, dst) {
        (AddressFamily::Inet | AddressFamily::Inet6, Some(d)) => d,
        (AddressFamily::Inet, None) => IpAddr::V4(0.into()),
        (AddressFamily::Inet6, None) => IpAddr::V6(0.into()),
        _ => return None,
    };
    let prefix = IpNet::new(dst, h.destination_prefix_length).ok()?.trunc();
    Some(KernelRoute {
        prefix,
        gateway,
        oif,
        protocol: u8::from(h.protocol),
        kind: kind_of(h.kind),
        table: table_of(msg),
        metric,
        multipath,
    })
}

/// True if the route (single path, or every path) carries `RTNH_F_ONLINK`.
#[cfg(test)]
pub(crate) fn route_is_onlink(msg: &RouteMessage) -> bool {
    let hops = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(h) => Some(h),
        _ => None,
    });
    match hops {
        Some(hops) => hops
            .iter()
            .all(|nh| nh.flags.contains(RouteNextHopFlags::Onlink)),
        None => msg.header.flags.contains(RouteFlags::Onlink),
    }
}

/// `RTM_NEWLINK` → `LinkChanged`. Up means `IFF_UP && IFF_RUNNING`, which is what FRR calls
/// "operative" (`if_is_operative`): administratively up with carrier.
pub(crate) fn link_event(msg: &LinkMessage) -> KernelEvent {
    let name = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let f = msg.header.flags;
    KernelEvent::LinkChanged {
        ifindex: msg.header.index,
        name,
        up: f.contains(LinkFlags::Up) && f.contains(LinkFlags::Running),
    }
}

/// The local address of an address message: `IFA_LOCAL` (IPv4; `IFA_ADDRESS` is the peer on
/// point-to-point links) or `IFA_ADDRESS` (IPv6).
pub(crate) fn address_of(msg: &AddressMessage) -> Option<(u32, IpAddr)> {
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(l) => Some(*l),
        _ => None,
    });
    let addr = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(l) => Some(*l),
        _ => None,
    });
    Some((msg.header.index, local.or(addr)?))
}

fn family_of(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

fn base_message(cfg: &FibConfig, prefix: &IpNet, scope: RouteScope) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: family_of(prefix),
        destination_prefix_length: prefix.prefix_len(),
        table: if cfg.table > 255 {
            RT_TABLE_COMPAT
        } else {
            cfg.table as u8
        },
        protocol: RouteProtocol::from(cfg.protocol),
        scope,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    let dst = match prefix {
        IpNet::V4(p) => RouteAddress::Inet(p.network()),
        IpNet::V6(p) => RouteAddress::Inet6(p.network()),
    };
    if prefix.prefix_len() > 0 {
        msg.attributes.push(RouteAttribute::Destination(dst));
    }
    msg.attributes.push(RouteAttribute::Table(cfg.table));
    msg.attributes.push(RouteAttribute::Priority(cfg.metric));
    msg
}

/// The gateway attribute for a next hop: `RTA_GATEWAY` in the route's own family, `RTA_VIA`
/// for an IPv4 prefix over an IPv6 gateway (RFC 8950). An IPv4 gateway for an IPv6 prefix is
/// not something the kernel supports.
fn gateway_attr(prefix: &IpNet, gw: IpAddr) -> Result<RouteAttribute, FibError> {
    match (prefix, gw) {
        (IpNet::V4(_), IpAddr::V4(g)) => Ok(RouteAttribute::Gateway(RouteAddress::Inet(g))),
        (IpNet::V6(_), IpAddr::V6(g)) => Ok(RouteAttribute::Gateway(RouteAddress::Inet6(g))),
        (IpNet::V4(_), IpAddr::V6(g)) => Ok(RouteAttribute::Via(RouteVia::Inet6(g))),
        (IpNet::V6(_), IpAddr::V4(_)) => Err(FibError::FamilyMismatch {
            prefix: *prefix,
            gateway: gw,
        }),
    }
}

/// `RTM_NEWROUTE` body: `prefix via G dev X [onlink] proto P metric M table T`, or with
/// several next hops an `RTA_MULTIPATH` of `nexthop via G dev X [onlink]`, or with none
/// `blackhole prefix proto P metric M table T`.
pub(crate) fn replace_message(
    cfg: &FibConfig,
    prefix: &IpNet,
    nexthops: &[KernelNextHop],
) -> Result<RouteMessage, FibError> {
    let mut msg = base_message(cfg, prefix, RouteScope::Universe);
    match nexthops {
        // No next hop: `blackhole PREFIX` (RFC 7999 BLACKHOLE routes).
        [] => msg.header.kind = RouteType::BlackHole,
        [nh] => {
            msg.attributes.push(gateway_attr(prefix, nh.gateway)?);
            msg.attributes.push(RouteAttribute::Oif(nh.ifindex));
            if nh.onlink {
                msg.header.flags |= RouteFlags::Onlink;
            }
        }
        hops => {
            let mut paths = Vec::with_capacity(hops.len());
            for nh in hops {
                let mut p = RouteNextHop::default();
                p.interface_index = nh.ifindex;
                if nh.onlink {
                    p.flags |= RouteNextHopFlags::Onlink;
                }
                p.attributes.push(gateway_attr(prefix, nh.gateway)?);
                paths.push(p);
            }
            msg.attributes.push(RouteAttribute::MultiPath(paths));
        }
    }
    Ok(msg)
}

/// `RTM_NEWROUTE` body for a route through nexthop object `nhid`:
/// `prefix nhid N proto P metric M table T`. Gateway, device and onlink live in the object.
pub(crate) fn nhid_message(cfg: &FibConfig, prefix: &IpNet, nhid: u32) -> RouteMessage {
    let mut msg = base_message(cfg, prefix, RouteScope::Universe);
    msg.attributes.push(RouteAttribute::NhId(nhid));
    msg
}

/// `RTA_NH_ID` of a route message, if it uses a nexthop object.
pub(crate) fn nhid_of(msg: &RouteMessage) -> Option<u32> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::NhId(id) => Some(*id),
        _ => None,
    })
}

/// `RTM_DELROUTE` body for our route to `prefix`: protocol, metric and table are given so the
/// kernel deletes only our route, never another daemon's route to the same prefix. Scope
/// `RT_SCOPE_NOWHERE` means "any scope", as `ip route del` sends it.
pub(crate) fn delete_message(cfg: &FibConfig, prefix: &IpNet) -> RouteMessage {
    base_message(cfg, prefix, RouteScope::NoWhere)
}

/// A dump request body for one family (`RTM_GETROUTE` with `NLM_F_DUMP`).
pub(crate) fn dump_request(family: AddressFamily) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> FibConfig {
        FibConfig {
            table: 254,
            metric: 20,
            protocol: 186,
        }
    }

    #[test]
    fn replace_message_round_trips_through_route_from_msg() {
        let prefix: IpNet = "198.19.0.0/24".parse().unwrap();
        let nh = KernelNextHop {
            gateway: "2.2.2.2".parse().unwrap(),
            ifindex: 7,
            onlink: true,
        };
        let msg = replace_message(&cfg(), &prefix, std::slice::from_ref(&nh)).unwrap();
        assert!(route_is_onlink(&msg));
        let r = route_from_msg(&msg).unwrap();
        assert_eq!(r.prefix, prefix);
        assert_eq!(r.gateway, Some(nh.gateway));
        assert_eq!(r.oif, Some(7));
        assert_eq!((r.protocol, r.metric, r.table), (186, 20, 254));
        assert_eq!(r.kind, RouteKind::Unicast);
    }

    #[test]
    fn multipath_message_carries_every_hop() {
        let prefix: IpNet = "2001:db8::/32".parse().unwrap();
        let hops = [
            KernelNextHop {
                gateway: "fe80::1".parse().unwrap(),
                ifindex: 3,
                onlink: true,
            },
            KernelNextHop {
                gateway: "fe80::2".parse().unwrap(),
                ifindex: 4,
                onlink: true,
            },
        ];
        let msg = replace_message(&cfg(), &prefix, &hops).unwrap();
        assert!(route_is_onlink(&msg));
        let r = route_from_msg(&msg).unwrap();
        assert_eq!(
            r.multipath,
            vec![(Some(hops[0].gateway), 3), (Some(hops[1].gateway), 4)]
        );
        assert_eq!(r.gateway, None);
    }

    #[test]
    fn ipv4_prefix_over_ipv6_gateway_uses_via_and_the_reverse_fails() {
        let v4: IpNet = "10.0.0.0/8".parse().unwrap();
        let v6gw = KernelNextHop {
            gateway: "fe80::1".parse().unwrap(),
            ifindex: 3,
            onlink: false,
        };
        let msg = replace_message(&cfg(), &v4, std::slice::from_ref(&v6gw)).unwrap();
        assert!(
            msg.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Via(RouteVia::Inet6(_))))
        );
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        let v4gw = KernelNextHop {
            gateway: "10.0.0.1".parse().unwrap(),
            ifindex: 3,
            onlink: false,
        };
        assert!(matches!(
            replace_message(&cfg(), &v6, &[v4gw]),
            Err(FibError::FamilyMismatch { .. })
        ));
    }

    /// A link-local next hop (RFC 2545 §3) scoped to the session's
    /// interface: `via inet6 fe80::b dev wgX` for IPv4 prefixes (RTA_VIA),
    /// `via fe80::b dev wgX` for IPv6; no onlink flag, since the kernel
    /// takes a link-local gateway on any interface (checked with `ip route
    /// add` on a link without a `fe80::/64` route, as wireguard-go's are).
    #[test]
    fn link_local_next_hop_goes_with_its_interface() {
        let ll: std::net::Ipv6Addr = "fe80::b".parse().unwrap();
        let nh = KernelNextHop {
            gateway: IpAddr::V6(ll),
            ifindex: 5,
            onlink: false,
        };
        for (prefix, gateway) in [
            ("198.19.0.0/24", RouteAttribute::Via(RouteVia::Inet6(ll))),
            (
                "2001:db8:2::/48",
                RouteAttribute::Gateway(RouteAddress::Inet6(ll)),
            ),
        ] {
            let prefix: IpNet = prefix.parse().unwrap();
            let msg = replace_message(&cfg(), &prefix, std::slice::from_ref(&nh)).unwrap();
            assert!(msg.attributes.contains(&gateway), "{prefix}");
            assert!(msg.attributes.contains(&RouteAttribute::Oif(5)), "{prefix}");
            assert!(!route_is_onlink(&msg));
            let r = route_from_msg(&msg).unwrap();
            assert_eq!((r.gateway, r.oif), (Some(nh.gateway), Some(5)));
        }
    }

    #[test]
    fn no_next_hop_is_a_blackhole_route_rfc7999() {
        let prefix: IpNet = "203.0.113.7/32".parse().unwrap();
        let msg = replace_message(&cfg(), &prefix, &[]).unwrap();
        let r = route_from_msg(&msg).unwrap();
        assert_eq!(r.prefix, prefix);
        assert_eq!(r.kind, RouteKind::Blackhole);
        assert_eq!((r.gateway, r.oif), (None, None));
        assert_eq!((r.protocol, r.metric, r.table), (186, 20, 254));
    }

    /// Captured with `strace -e trace=sendmsg -e write=3 ip route add 198.51.100.0/24 nhid 7
    /// proto bgp metric 20` (iproute2 6.1): our message carries the same three attributes
    /// (ours adds RTA_TABLE, as for every route).
    #[test]
    fn nhid_route_carries_rta_nh_id_and_no_gateway() {
        let prefix: IpNet = "198.51.100.0/24".parse().unwrap();
        let msg = nhid_message(&cfg(), &prefix, 7);
        assert_eq!(nhid_of(&msg), Some(7));
        for a in [
            RouteAttribute::Destination(RouteAddress::Inet("198.51.100.0".parse().unwrap())),
            RouteAttribute::NhId(7),
            RouteAttribute::Priority(20),
        ] {
            assert!(msg.attributes.contains(&a), "{a:?}");
        }
        let r = route_from_msg(&msg).unwrap();
        assert_eq!((r.gateway, r.oif, r.kind), (None, None, RouteKind::Unicast));
    }

    #[test]
    fn big_table_ids_go_in_rta_table() {
        let c = FibConfig {
            table: 1000,
            ..cfg()
        };
        let msg = delete_message(&c, &"10.0.0.0/8".parse().unwrap());
        assert_eq!(msg.header.table, RT_TABLE_COMPAT);
        assert_eq!(table_of(&msg), 1000);
    }
}
