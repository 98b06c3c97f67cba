//! Link-local next hops (RFC 2545 §3) in and out, and routes dropped for
//! their next hop: counted, logged once per peer.

use std::io::Write;
use std::sync::Mutex;

use super::tests::{
    FAMILIES, WG_S2, accept_all, announce, assert_deletes, assert_replaces, fib, lab, mp, net, via,
};
use super::*;
use bgp::wire::AsPath;

const WG_S3: u32 = 6;

fn ll(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// S2's announcement of `prefix` with next hops `global` and its link-local
/// fe80::b (32 octets, RFC 2545 §3).
fn s2_with_link_local(afi: Afi, global: &str, prefix: &str) -> Update {
    mp(afi, global, Some("fe80::b"), &[prefix])
}

/// The lab with S2's session over its tunnel (RFC 8950 negotiated too).
fn lab_over_tunnel() -> Rib {
    let mut rib = lab(accept_all(), Chain::default());
    rib.set_peer_interface(2, Some(WG_S2), None);
    rib.handle_peer_up(2, Ipv4Addr::new(2, 2, 2, 2), &FAMILIES, true);
    rib
}

#[test]
fn birds_unspecified_global_and_link_local_installs_via_the_link_local_on_the_tunnel() {
    // BIRD on a link-local-only session: 32 octets, `::` then `fe80::b`.
    let mut rib = lab_over_tunnel();
    let out = rib.handle_update(2, s2_with_link_local(Afi::Ipv6, "::", "2001:db8:2::/48"));
    assert_replaces(&out, "2001:db8:2::/48", via("fe80::b", WG_S2, false));
    // IPv4 routes over it (RFC 8950): `via inet6 fe80::b dev wg-s2`.
    let out = rib.handle_update(2, s2_with_link_local(Afi::Ipv4, "::", "198.19.0.0/24"));
    assert_replaces(&out, "198.19.0.0/24", via("fe80::b", WG_S2, false));
    assert_eq!(rib.next_hop_drops(2), 0);
    assert!(
        rib.next_hops()
            .any(|(a, r, n)| a == "fe80::b".parse::<IpAddr>().unwrap() && r.is_some() && n == 2)
    );
}

/// Over its tunnel, S2 announces 2001:db8:2::/48 with next hops `global`
/// and fe80::b: asserts the kernel gets the route through `nexthops`.
fn assert_global_or_link_local(global: &str, nexthops: NextHops) {
    let mut rib = lab_over_tunnel();
    let update = s2_with_link_local(Afi::Ipv6, global, "2001:db8:2::/48");
    assert_replaces(&rib.handle_update(2, update), "2001:db8:2::/48", nexthops);
}

#[test]
fn reachable_global_next_hop_is_preferred_over_the_link_local() {
    // fd00::2 has a host route over wg-s2 in the lab.
    assert_global_or_link_local("fd00::2", via("fd00::2", WG_S2, true));
}

#[test]
fn unreachable_global_next_hop_falls_back_to_the_link_local() {
    assert_global_or_link_local("2001:db8:ffff::9", via("fe80::b", WG_S2, false));
}

#[test]
fn link_local_next_hop_follows_its_interface_down_and_up() {
    let mut rib = lab_over_tunnel();
    rib.handle_update(2, s2_with_link_local(Afi::Ipv6, "::", "2001:db8:2::/48"));
    let down = KernelEvent::LinkChanged {
        ifindex: WG_S2,
        name: "wg-s2".into(),
        up: false,
    };
    let out = rib.handle_kernel_event(&down);
    assert_deletes(&out, "2001:db8:2::/48");
    let up = KernelEvent::LinkChanged {
        ifindex: WG_S2,
        name: "wg-s2".into(),
        up: true,
    };
    let out = rib.handle_kernel_event(&up);
    assert_replaces(&out, "2001:db8:2::/48", via("fe80::b", WG_S2, false));
}

#[test]
fn the_same_link_local_address_on_two_tunnels_is_two_next_hops() {
    let mut rib = lab_over_tunnel();
    rib.set_peer_interface(3, Some(WG_S3), None);
    rib.handle_update(
        2,
        mp(Afi::Ipv6, "::", Some("fe80::1"), &["2001:db8:2::/48"]),
    );
    let mut from_s3 = mp(Afi::Ipv6, "::", Some("fe80::1"), &["2001:db8:3::/48"]);
    from_s3.attributes.as_mut().unwrap().as_path = AsPath::from_sequence([65502]);
    let out = rib.handle_update(3, from_s3);
    assert_replaces(&out, "2001:db8:3::/48", via("fe80::1", WG_S3, false));
    // S3's tunnel going down takes only S3's route.
    let out = rib.handle_kernel_event(&KernelEvent::LinkChanged {
        ifindex: WG_S3,
        name: "wg-s3".into(),
        up: false,
    });
    assert_deletes(&out, "2001:db8:3::/48");
    let d = rib.loc_rib().get(&net("2001:db8:2::/48")).unwrap();
    assert_eq!(d.installed(), Some(&via("fe80::1", WG_S2, false)));
}

/// A writer the log goes to, for counting lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn link_local_next_hop_without_an_interface_is_dropped_counted_and_logged_once() {
    // S2's session runs over no known interface (the default).
    let mut rib = lab(accept_all(), Chain::default());
    rib.handle_update(2, announce(&[65501], "2.2.2.2", &["198.19.0.1/32"]));
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let outs = tracing::subscriber::with_default(subscriber, || {
        [
            rib.handle_update(
                2,
                mp(
                    Afi::Ipv6,
                    "::",
                    Some("fe80::b"),
                    &["2001:db8:2::/48", "2001:db8:3::/48"],
                ),
            ),
            rib.handle_update(2, mp(Afi::Ipv6, "fe80::b", None, &["2001:db8:4::/48"])),
        ]
    });
    for out in &outs {
        assert!(fib(out).is_empty(), "{out:?}");
    }
    assert!(rib.loc_rib().get(&net("2001:db8:2::/48")).is_none());
    assert_eq!(rib.next_hop_drops(2), 3);
    assert_eq!(rib.next_hop_drops(3), 0);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    for want in [
        "WARN",
        "peer=s2",
        "prefix=2001:db8:2::/48",
        "next_hop=fe80::b",
        "no known interface",
    ] {
        assert!(lines[0].contains(want), "{want} not in {}", lines[0]);
    }
    // What S2 sent with a usable next hop is untouched.
    assert!(rib.loc_rib().get(&net("198.19.0.1/32")).is_some());
}

#[test]
fn ipv6_next_hop_for_ipv4_routes_without_rfc8950_is_dropped_and_counted() {
    let mut rib = lab(accept_all(), Chain::default());
    rib.set_peer_interface(2, Some(WG_S2), None);
    let out = rib.handle_update(2, s2_with_link_local(Afi::Ipv4, "::", "198.19.0.0/24"));
    assert!(fib(&out).is_empty());
    assert_eq!(rib.next_hop_drops(2), 1);
}

fn next_hops_to(out: &[Output], to: PeerId) -> Vec<(Afi, MpNextHop)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Announce {
                peer,
                afi,
                next_hop,
                ..
            } if *peer == to => Some((*afi, *next_hop)),
            _ => None,
        })
        .collect()
}

#[test]
fn next_hop_self_over_an_interface_adds_our_link_local() {
    let mut rib = lab(accept_all(), accept_all());
    rib.set_peer_interface(3, Some(WG_S3), Some(ll("fe80::1")));
    let out = rib.originate(&[net("2001:db8:1::/48")]);
    let global: IpAddr = "fd00::1".parse().unwrap();
    assert_eq!(
        next_hops_to(&out, 3),
        vec![(
            Afi::Ipv6,
            MpNextHop {
                global,
                link_local: Some(ll("fe80::1")),
            }
        )]
    );
    // S2's session has no link-local address of ours: 16 octets.
    assert_eq!(
        next_hops_to(&out, 2),
        vec![(
            Afi::Ipv6,
            MpNextHop {
                global,
                link_local: None,
            }
        )]
    );
    // On the wire: a 32-octet next hop, global then link-local.
    let Output::Announce {
        attrs, next_hop, ..
    } = out
        .iter()
        .find(|o| matches!(o, Output::Announce { peer: 3, .. }))
        .unwrap()
    else {
        unreachable!()
    };
    let ctx = bgp::wire::Ctx {
        four_octet_as: true,
        extended_message: false,
    };
    let msgs =
        bgp::wire::encode_announce(attrs, next_hop, Afi::Ipv6, &[net("2001:db8:1::/48")], &ctx);
    let bytes = &msgs[0];
    let nh_at = bytes
        .windows(3)
        .position(|w| w == [0x00, 0x02, 0x01])
        .expect("MP_REACH_NLRI AFI/SAFI")
        + 3;
    assert_eq!(bytes[nh_at], 32);
    assert_eq!(bytes[nh_at + 1..nh_at + 17], ll("fd00::1").octets());
    assert_eq!(bytes[nh_at + 17..nh_at + 33], ll("fe80::1").octets());
}

#[test]
fn next_hop_self_without_a_global_address_sends_unspecified_and_link_local() {
    let mut rib = lab(accept_all(), accept_all());
    // S4 over a link-local-only session on its own tunnel.
    let mut settings = super::tests::peer("s4", "fe80::4", 65504, accept_all(), accept_all());
    settings.local_v6 = None;
    settings.interface = Some(7);
    settings.local_link_local = Some(ll("fe80::1"));
    rib.add_peer(4, settings);
    rib.handle_peer_up(4, Ipv4Addr::new(4, 4, 4, 4), &FAMILIES, true);
    let out = rib.originate(&[net("2001:db8:1::/48"), net("198.18.0.0/24")]);
    let mut got = next_hops_to(&out, 4);
    got.sort_by_key(|(afi, _)| u16::from(*afi));
    let nh = MpNextHop {
        global: "::".parse().unwrap(),
        link_local: Some(ll("fe80::1")),
    };
    // IPv4 too, over RFC 8950 (the session is IPv6).
    assert_eq!(got, vec![(Afi::Ipv4, nh), (Afi::Ipv6, nh)]);
}

#[test]
fn a_plain_peer_gets_the_session_source_as_next_hop() {
    let mut rib = lab(accept_all(), accept_all());
    // A provider on a /30, with no loopback of ours: nothing to send
    // until the session says which address it runs from.
    let mut settings = super::tests::peer("isp", "10.255.1.1", 64999, accept_all(), accept_all());
    settings.local_v4 = None;
    rib.add_peer(5, settings);
    assert!(
        rib.set_peer_source(5, "10.255.1.2".parse().unwrap())
            .is_empty()
    );
    rib.handle_peer_up(5, Ipv4Addr::new(5, 5, 5, 5), &FAMILIES, false);
    let out = rib.originate(&[net("198.18.0.0/24")]);
    let nh = |a: &str| MpNextHop {
        global: a.parse().unwrap(),
        link_local: None,
    };
    assert_eq!(next_hops_to(&out, 5), vec![(Afi::Ipv4, nh("10.255.1.2"))]);

    // The next session runs from another address: what was sent is sent
    // again with it; the same address again changes nothing.
    let out = rib.set_peer_source(5, "10.255.1.6".parse().unwrap());
    assert_eq!(next_hops_to(&out, 5), vec![(Afi::Ipv4, nh("10.255.1.6"))]);
    assert!(
        rib.set_peer_source(5, "10.255.1.6".parse().unwrap())
            .is_empty()
    );
}
