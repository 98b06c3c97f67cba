//! Decodes every message captured from real BIRD, FRR and GoBGP sessions
//! (bgp/fixtures/<implementation>/*.hex, made by
//! bgp/fixtures/capture/capture.sh) and checks the values we configured
//! there, plus decode → encode → decode stability for each one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use bgp::wire::*;
use bytes::Bytes;
use ipnet::IpNet;

struct Fixture {
    bytes: Bytes,
    ctx: Ctx,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn parse(text: &str) -> Fixture {
    let mut ctx = None;
    let mut hex = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ctx ") {
            ctx = Some(Ctx {
                four_octet_as: rest.contains("four_octet_as=true"),
                extended_message: rest.contains("extended_message=true"),
            });
        } else if !line.starts_with('#') {
            hex.push_str(line.trim());
        }
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    Fixture {
        bytes: bytes.into(),
        ctx: ctx.expect("fixture has a '# ctx' line"),
    }
}

/// All fixtures, keyed by "<implementation>/<file stem>".
fn all() -> BTreeMap<String, Fixture> {
    let mut out = BTreeMap::new();
    for dir in std::fs::read_dir(fixture_dir()).expect("fixtures dir") {
        let dir = dir.unwrap().path();
        // BFD packets (bfd/) are checked by bgp::bfd::packet's tests.
        if !dir.is_dir() || dir.ends_with("capture") || dir.ends_with("bfd") {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "hex") {
                let key = format!(
                    "{}/{}",
                    dir.file_name().unwrap().to_string_lossy(),
                    f.file_stem().unwrap().to_string_lossy()
                );
                out.insert(key, parse(&std::fs::read_to_string(&f).unwrap()));
            }
        }
    }
    out
}

fn get(name: &str) -> Message {
    let all = all();
    let f = all.get(name).unwrap_or_else(|| panic!("no fixture {name}"));
    decode(&f.bytes, &f.ctx).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn open(name: &str) -> Open {
    match get(name) {
        Message::Open(o) => o,
        m => panic!("{name}: not an OPEN: {m:?}"),
    }
}

fn update(name: &str) -> Update {
    match get(name) {
        Message::Update(u) => u,
        m => panic!("{name}: not an UPDATE: {m:?}"),
    }
}

fn comm(asn: u32, v: u32) -> Community {
    Community((asn << 16) | v)
}

fn large(global: u32, local1: u32, local2: u32) -> LargeCommunity {
    LargeCommunity {
        global,
        local1,
        local2,
    }
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = list.iter().map(|s| s.parse().unwrap()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<IpNet>) -> Vec<IpNet> {
    v.sort();
    v
}

#[test]
fn every_fixture_decodes_cleanly_and_is_stable_under_reencoding() {
    let all = all();
    assert!(all.len() >= 30, "only {} fixtures", all.len());
    for impl_ in ["bird-", "frr-", "gobgp-"] {
        assert!(
            all.keys().any(|k| k.starts_with(impl_)),
            "no {impl_} fixtures"
        );
    }
    for (name, f) in &all {
        assert_eq!(frame(&f.bytes, &f.ctx), Ok(Some(f.bytes.len())), "{name}");
        let m = decode(&f.bytes, &f.ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Message::Update(u) = &m {
            assert_eq!(u.treat_as_withdraw, None, "{name}");
            assert!(u.discarded.is_empty(), "{name}: {:?}", u.discarded);
        }
        let again = encode_to_bytes(&m, &f.ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decode(&again, &f.ctx).unwrap(), m, "{name}");
        // UPDATE attribute order and length forms vary by sender, and FRR
        // sends one optional parameter per capability; everything else has
        // one encoding and must come back byte for byte.
        let one_form = match m {
            Message::Update(_) => false,
            Message::Open(_) => !name.starts_with("frr-"),
            _ => true,
        };
        if one_form {
            assert_eq!(again, f.bytes, "{name}");
        }
    }
}

#[test]
fn bird_open_has_four_octet_as_and_its_families() {
    let o = open("bird-2.0.12/to-gobgp-ipv4-01-open");
    assert_eq!(o.my_as, 65001);
    assert_eq!(o.asn(), 65001);
    assert!(o.has(|c| *c == Capability::FourOctetAs(65001)));
    assert_eq!(o.bgp_id, Ipv4Addr::new(10, 201, 0, 1));
    assert_eq!(o.hold_time, 240);
    assert_eq!(o.families(), vec![(Afi::Ipv4, Safi::Unicast)]);
    assert!(o.has(|c| *c == Capability::RouteRefresh));
    assert!(o.has(|c| *c == Capability::EnhancedRouteRefresh));
    assert!(o.has(|c| matches!(c, Capability::GracefulRestart { .. })));
    let o6 = open("bird-2.0.12/to-gobgp-ipv6-01-open");
    assert_eq!(o6.families(), vec![(Afi::Ipv6, Safi::Unicast)]);
}

#[test]
fn bird_ipv4_update_carries_the_configured_attributes() {
    let u = update("bird-2.0.12/to-gobgp-ipv4-03-update");
    let a = u.attributes.unwrap();
    assert_eq!(a.as_path, AsPath::from_sequence([65001]));
    assert_eq!(a.origin, Origin::Igp);
    assert_eq!(a.med, Some(50));
    assert_eq!(a.communities, vec![comm(65001, 100), comm(65001, 200)]);
    assert_eq!(a.large_communities(), vec![large(65001, 1, 2)]);
    assert_eq!(u.next_hop, Some(Ipv4Addr::new(10, 201, 0, 1)));
    assert_eq!(
        sorted(u.nlri.into_iter().map(IpNet::V4).collect()),
        nets(&["198.51.100.0/24", "198.51.101.0/24", "198.51.102.128/25"])
    );
}

#[test]
fn bird_ipv6_update_has_global_and_link_local_next_hop() {
    let u = update("bird-2.0.12/to-gobgp-ipv6-03-update");
    let r = u.mp_reach.unwrap();
    assert_eq!((r.afi, r.safi), (Afi::Ipv6, Safi::Unicast));
    assert_eq!(r.next_hop.global, "fd00:201::1".parse::<IpAddr>().unwrap());
    let ll = r.next_hop.link_local.expect("link-local next hop");
    assert_eq!(ll.segments()[0], 0xfe80);
    assert_eq!(
        sorted(r.nlri),
        nets(&["2001:db8:100::/48", "2001:db8:101::/48"])
    );
    let a = u.attributes.unwrap();
    assert_eq!(a.communities, vec![comm(65001, 300)]);
    assert_eq!(a.large_communities(), vec![large(65001, 3, 4)]);
}

#[test]
fn bird_sends_end_of_rib_route_refresh_and_shutdown_communication() {
    assert_eq!(
        update("bird-2.0.12/to-gobgp-ipv4-04-update").end_of_rib(),
        Some((Afi::Ipv4, Safi::Unicast))
    );
    assert_eq!(
        update("bird-2.0.12/to-gobgp-ipv6-04-update").end_of_rib(),
        Some((Afi::Ipv6, Safi::Unicast))
    );
    assert_eq!(
        get("bird-2.0.12/to-gobgp-ipv4-05-route-refresh"),
        Message::RouteRefresh(RouteRefresh {
            afi: Afi::Ipv4,
            subtype: RouteRefreshSubtype::Request,
            safi: Safi::Unicast
        })
    );
    let Message::Notification(n) = get("bird-2.0.12/to-gobgp-ipv4-06-notification") else {
        panic!("not a NOTIFICATION")
    };
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_communication(), Some("maintenance window"));
    let Message::Notification(n) = get("bird-2.0.12/to-frr-ipv4-05-notification") else {
        panic!("not a NOTIFICATION")
    };
    assert_eq!(n.shutdown_communication(), Some("codec capture done"));
}

#[test]
fn gobgp_open_uses_as_trans_and_the_four_octet_capability() {
    let o = open("gobgp-3.10.0/to-bird-ipv4-01-open");
    assert_eq!(o.my_as, AS_TRANS);
    assert_eq!(o.asn(), 4_200_000_002);
    assert_eq!(o.hold_time, 90);
    assert_eq!(o.bgp_id, Ipv4Addr::new(10, 201, 0, 2));
    assert!(o.has(|c| matches!(c, Capability::Fqdn { .. })));
    assert_eq!(o.families(), vec![(Afi::Ipv4, Safi::Unicast)]);
}

#[test]
fn gobgp_updates_carry_the_routes_added_and_withdrawn_from_its_cli() {
    let u = update("gobgp-3.10.0/to-bird-ipv4-03-update");
    let a = u.attributes.unwrap();
    assert_eq!(a.origin, Origin::Egp);
    assert_eq!(a.as_path, AsPath::from_sequence([4_200_000_002]));
    assert_eq!(a.med, Some(10));
    assert_eq!(a.communities, vec![comm(4200, 1), Community::NO_EXPORT]);
    assert_eq!(a.large_communities(), vec![large(4_200_000_002, 5, 6)]);
    assert_eq!(u.nlri, vec!["203.0.113.0/24".parse().unwrap()]);
    assert_eq!(u.next_hop, Some(Ipv4Addr::new(10, 201, 0, 2)));

    let w = update("gobgp-3.10.0/to-bird-ipv4-05-update");
    assert_eq!(w.withdrawn, vec!["203.0.113.128/25".parse().unwrap()]);
    assert!(w.attributes.is_none() && w.nlri.is_empty());

    // GoBGP puts MP_REACH_NLRI between other attributes.
    let u6 = update("gobgp-3.10.0/to-bird-ipv6-03-update");
    let r = u6.mp_reach.unwrap();
    assert_eq!(r.nlri, nets(&["2001:db8:200::/48"]));
    assert_eq!(r.next_hop.link_local, None);
    let a6 = u6.attributes.unwrap();
    assert_eq!(a6.communities, vec![comm(4200, 3)]);
    assert_eq!(a6.large_communities(), vec![large(4_200_000_002, 7, 8)]);

    let w6 = update("gobgp-3.10.0/to-bird-ipv6-04-update");
    assert_eq!(
        w6.mp_unreach.unwrap().withdrawn,
        nets(&["2001:db8:200::/48"])
    );
}

#[test]
fn frr_open_and_updates() {
    let o = open("frr-8.4.4/to-bird-ipv4-01-open");
    assert_eq!(o.asn(), 65003);
    assert!(o.has(|c| matches!(c, Capability::Fqdn { hostname, .. } if hostname == "frr-codec")));
    assert!(o.has(|c| *c == Capability::ExtendedMessage));
    assert!(o.has(|c| matches!(c, Capability::AddPath(_))));
    // FRR 8.4 sets the R and N (RFC 8538) bits with a 120 s restart time.
    assert!(o.has(|c| matches!(
        c,
        Capability::GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            ..
        }
    )));

    let u = update("frr-8.4.4/to-bird-ipv4-04-update");
    let a = u.attributes.unwrap();
    assert_eq!(a.med, Some(33));
    assert_eq!(a.communities, vec![comm(65003, 7), comm(65003, 77)]);
    assert_eq!(a.large_communities(), vec![large(65003, 8, 9)]);
    assert_eq!(
        sorted(u.nlri.into_iter().map(IpNet::V4).collect()),
        nets(&["192.0.2.0/25", "192.0.2.128/25"])
    );

    let u6 = update("frr-8.4.4/to-bird-ipv6-03-update");
    let r = u6.mp_reach.unwrap();
    assert_eq!(r.next_hop.global, "fd00:202::1".parse::<IpAddr>().unwrap());
    assert_eq!(r.nlri, nets(&["2001:db8:300::/48"]));
}
