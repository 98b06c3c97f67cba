//! Cross-module codec tests: hand-written `(hex, value)` fixtures checked
//! both ways, packing, and a seeded round trip over generated messages.
//!
//! The hex was produced by a separate Python script from the RFC layouts,
//! not by this encoder, so the two check each other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net};

use super::*;

/// Octets from hex text; white space is ignored ("400101 00").
pub(crate) fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    hex::decode(&s)
        .unwrap_or_else(|e| panic!("hex {s:?}: {e}"))
        .into()
}

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

pub(super) const AS4: Ctx = Ctx {
    four_octet_as: true,
    extended_message: false,
};
pub(super) const AS2: Ctx = Ctx {
    four_octet_as: false,
    extended_message: false,
};

/// decode(hex) == value and encode(value) == hex.
fn both_ways(hex_str: &str, value: Message, ctx: &Ctx) {
    let bytes = hex(hex_str);
    assert_eq!(decode(&bytes, ctx).unwrap(), value, "decode");
    let mut out = BytesMut::new();
    encode(&value, ctx, &mut out).unwrap();
    assert_eq!(&out[..], &bytes[..], "encode: got {}", to_hex(&out));
}

pub(super) fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn keepalive_both_ways() {
    both_ways(
        "ffffffffffffffffffffffffffffffff 0013 04",
        Message::Keepalive,
        &AS4,
    );
}

#[test]
fn open_with_capabilities_both_ways() {
    let open = Open {
        version: 4,
        my_as: AS_TRANS,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::FourOctetAs(4_200_000_001),
            Capability::ExtendedMessage,
            Capability::GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 120,
                families: vec![(Afi::Ipv4, Safi::Unicast, true)],
            },
            Capability::AddPath(vec![(Afi::Ipv6, Safi::Unicast, 3)]),
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedNextHop(vec![(Afi::Ipv4, Safi::Unicast, Afi::Ipv6)]),
            Capability::Fqdn {
                hostname: "r1".into(),
                domain: "".into(),
            },
            Capability::Unknown {
                code: 128,
                value: Bytes::new(),
            },
        ],
    };
    assert_eq!(open.asn(), 4_200_000_001);
    both_ways(
        "ffffffffffffffffffffffffffffffff 0055 01 04 5ba0 005a 0a000001 38
         02 36 01040001000101040002000102004104fa56ea0106004006007800010180
         450400020103460005060001000100024904027231008000",
        Message::Open(open),
        &AS4,
    );
}

fn attrs_full() -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::from_sequence([65001, 65002]),
        med: Some(50),
        local_pref: Some(100),
        atomic_aggregate: true,
        communities: vec![Community((65001 << 16) | 100), Community::NO_EXPORT],
        rare: RareAttributes {
            aggregator: Some(Aggregator {
                asn: 65001,
                address: Ipv4Addr::new(192, 0, 2, 9),
            }),
            ext_communities: vec![[0x00, 0x02, 0xfd, 0xe9, 0, 0, 0, 0x64]],
            large_communities: vec![LargeCommunity {
                global: 65001,
                local1: 1,
                local2: 2,
            }],
            otc: Some(65001),
            unknown: vec![RawAttribute {
                flags: 0xe0,
                code: 99,
                value: Bytes::from_static(&[1, 2, 3]),
            }],
        }
        .boxed(),
    }
}

#[test]
fn update_ipv4_every_attribute_both_ways() {
    let u = Update {
        withdrawn: vec![v4("10.9.0.0/16")],
        attributes: Some(attrs_full()),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        nlri: vec![v4("10.1.0.0/16"), v4("10.2.3.0/24")],
        ..Update::default()
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0087 02 0003 100a09 0066
         400101 00 40020a 02020000fde90000fdea 400304 c0000201 800404 00000032
         400504 00000064 400600 c00708 0000fde9c0000209 c00808 fde90064ffffff01
         c01008 0002fde900000064 c0200c 0000fde90000000100000002 c02304 0000fde9
         e06303 010203 100a01 180a0203",
        Message::Update(u),
        &AS4,
    );
}

#[test]
fn update_ipv6_mp_reach_with_link_local_both_ways() {
    let u = Update {
        attributes: Some(PathAttributes {
            origin: Origin::Incomplete,
            as_path: AsPath::from_sequence([65001]),
            med: Some(0),
            ..PathAttributes::default()
        }),
        mp_reach: Some(MpReach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            next_hop: MpNextHop {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            },
            nlri: vec![net("2001:db8:1::/48"), net("2001:db8:2::/64")],
        }),
        ..Update::default()
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0063 02 0000 004c
         800e35 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
         3020010db80001 4020010db80002000040010102400206020100
         00fde980040400000000",
        Message::Update(u),
        &AS4,
    );
}

/// An UPDATE from AS 65001, ORIGIN IGP, with one MP_REACH_NLRI.
fn mp_update(afi: Afi, global: &str, link_local: Option<&str>, nlri: &str) -> Message {
    Message::Update(Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence([65001]),
            ..PathAttributes::default()
        }),
        mp_reach: Some(MpReach {
            afi,
            safi: Safi::Unicast,
            next_hop: MpNextHop {
                global: global.parse().unwrap(),
                link_local: link_local.map(|l| l.parse().unwrap()),
            },
            nlri: vec![net(nlri)],
        }),
        ..Update::default()
    })
}

/// BIRD 2 on a session over link-local addresses only: the global field
/// is `::` and the link-local one follows (RFC 2545 §3, 32 octets); both
/// are kept.
#[test]
fn update_ipv6_next_hop_unspecified_global_and_link_local_both_ways() {
    both_ways(
        "ffffffffffffffffffffffffffffffff 0053 02 0000 003c
         800e2c 0002 01 20 00000000000000000000000000000000 fe80000000000000000000000000000b 00
         3020010db80002
         400101 00 400206 02010000fde9",
        mp_update(Afi::Ipv6, "::", Some("fe80::b"), "2001:db8:2::/48"),
        &AS4,
    );
}

/// RFC 8950 §3: IPv4 NLRI with a global and a link-local IPv6 next hop.
#[test]
fn update_ipv4_nlri_over_ipv6_global_and_link_local_rfc8950_both_ways() {
    both_ways(
        "ffffffffffffffffffffffffffffffff 0050 02 0000 0039
         800e29 0001 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
         18cb0071
         400101 00 400206 02010000fde9",
        mp_update(Afi::Ipv4, "2001:db8::1", Some("fe80::1"), "203.0.113.0/24"),
        &AS4,
    );
}

/// RFC 8950 over a link-local-only session, as BIRD sends it.
#[test]
fn update_ipv4_nlri_over_unspecified_global_and_link_local_both_ways() {
    both_ways(
        "ffffffffffffffffffffffffffffffff 0050 02 0000 0039
         800e29 0001 01 20 00000000000000000000000000000000 fe80000000000000000000000000000b 00
         18cb0071
         400101 00 400206 02010000fde9",
        mp_update(Afi::Ipv4, "::", Some("fe80::b"), "203.0.113.0/24"),
        &AS4,
    );
}

/// What the RIB exports over an interface (RFC 2545 §3): `encode_announce`
/// writes the 32-octet next hop, global then link-local.
#[test]
fn encode_announce_writes_global_and_link_local_next_hop() {
    let nh = MpNextHop {
        global: ip("::"),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let attrs = PathAttributes {
        as_path: AsPath::from_sequence([65001]),
        ..PathAttributes::default()
    };
    let msgs = encode_announce(&attrs, &nh, Afi::Ipv6, &[net("2001:db8:1::/48")], &AS4);
    // MP_REACH_NLRI with the 2-octet length encode_announce always uses.
    assert_eq!(
        msgs,
        vec![hex(
            "ffffffffffffffffffffffffffffffff 0054 02 0000 003d
             900e002c 0002 01 20 00000000000000000000000000000000 fe800000000000000000000000000001 00
             3020010db80001
             400101 00 400206 02010000fde9"
        )]
    );
}

#[test]
fn update_ipv6_mp_unreach_both_ways() {
    let u = Update {
        mp_unreach: Some(MpUnreach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            withdrawn: vec![net("2001:db8:1::/48")],
        }),
        ..Update::default()
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0024 02 0000 000d 800f0a 0002 01 3020010db80001",
        Message::Update(u),
        &AS4,
    );
}

#[test]
fn update_two_octet_session_merges_as4_path_and_as4_aggregator() {
    // AS_PATH 65001 23456 + AS4_PATH 65001 4200000001, AGGREGATOR AS_TRANS
    // + AS4_AGGREGATOR 4200000001 (RFC 6793 §4.2.3).
    let u = Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence([65001, 4_200_000_001]),
            rare: RareAttributes {
                aggregator: Some(Aggregator {
                    asn: 4_200_000_001,
                    address: Ipv4Addr::new(192, 0, 2, 9),
                }),
                ..RareAttributes::default()
            }
            .boxed(),
            ..PathAttributes::default()
        }),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        nlri: vec![v4("198.51.100.0/24")],
        ..Update::default()
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0050 02 0000 0035
         400101 00 400206 0202fde95ba0 400304 c0000201 c00706 5ba0c0000209
         c0110a 02020000fde9fa56ea01 c01208 fa56ea01c0000209 18c63364",
        Message::Update(u),
        &AS2,
    );
}

#[test]
fn as4_path_ignored_when_aggregator_is_not_as_trans() {
    // Same as above but AGGREGATOR 65009: AS4_* are stale (RFC 6793 §4.2.3).
    let bytes = hex("ffffffffffffffffffffffffffffffff 0050 02 0000 0035
         400101 00 400206 0202fde95ba0 400304 c0000201 c00706 fdf1c0000209
         c0110a 02020000fde9fa56ea01 c01208 fa56ea01c0000209 18c63364");
    let Message::Update(u) = decode(&bytes, &AS2).unwrap() else {
        panic!("not an UPDATE")
    };
    let a = u.attributes.unwrap();
    assert_eq!(a.as_path, AsPath::from_sequence([65001, 23456]));
    assert_eq!(a.aggregator().unwrap().asn, 65009);
}

/// Found by fuzzing (`decode_message`, 2026-12-03): an AS_PATH that starts
/// with an AS_CONFED_SET, decoded on a 2-octet session, went out again on
/// one with the real path in AS4_PATH (where confederation segments never
/// go) and came back without the confederation segment.
#[test]
fn fuzz_crash_confederation_segment_survives_a_two_octet_round_trip() {
    let bytes = hex("ffffffffffffffffffffffffffffffff 0051 02 0000 0037
         400224 0406020100020641 0400 00fd 0002 020a 0000 01
         c0110a 0202fa560bffffffea01 fa000001
         c0110a 0102fa560bffffea030a 00000910 4a01");
    for ctx in [AS4, AS2] {
        let Ok(m1) = decode(&bytes, &ctx) else {
            continue;
        };
        let out = encode_to_bytes(&m1, &AS2).unwrap();
        let m2 = decode(&out, &AS2).unwrap();
        let (Message::Update(u1), Message::Update(u2)) = (&m1, &m2) else {
            panic!("not an UPDATE");
        };
        assert_eq!(u1.attributes, u2.attributes, "decoded with {ctx:?}");
    }
    let Message::Update(u) = decode(&bytes, &AS2).unwrap() else {
        panic!("not an UPDATE")
    };
    let path = &u.attributes.unwrap().as_path;
    assert_eq!(path.segments[0].kind, SegmentType::ConfedSet);
}

#[test]
fn update_ipv4_nlri_over_ipv6_next_hop_rfc8950_both_ways() {
    let u = Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence([65001]),
            ..PathAttributes::default()
        }),
        mp_reach: Some(MpReach {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
            next_hop: MpNextHop {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: vec![net("203.0.113.0/24")],
        }),
        ..Update::default()
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0040 02 0000 0029
         800e19 0001 01 10 20010db8000000000000000000000001 00 18cb0071
         400101 00 400206 020100 00fde9",
        Message::Update(u),
        &AS4,
    );
}

#[test]
fn notification_both_ways() {
    let n = Notification::new(6, 2, &b"\x03bye"[..]);
    assert_eq!(n.shutdown_communication(), Some("bye"));
    both_ways(
        "ffffffffffffffffffffffffffffffff 0019 03 06 02 03627965",
        Message::Notification(n),
        &AS4,
    );
}

#[test]
fn route_refresh_borr_both_ways() {
    let r = RouteRefresh {
        afi: Afi::Ipv6,
        subtype: RouteRefreshSubtype::BeginOfRouteRefresh,
        safi: Safi::Unicast,
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 0017 05 0002 01 01",
        Message::RouteRefresh(r),
        &AS4,
    );
}

#[test]
fn end_of_rib_markers() {
    let v4 = end_of_rib(Afi::Ipv4, Safi::Unicast, &AS4);
    assert_eq!(
        to_hex(&v4),
        "ffffffffffffffffffffffffffffffff00170200000000"
    );
    let v6 = end_of_rib(Afi::Ipv6, Safi::Unicast, &AS4);
    assert_eq!(
        to_hex(&v6),
        "ffffffffffffffffffffffffffffffff001d0200000006800f03000201"
    );
    for (b, fam) in [
        (v4, (Afi::Ipv4, Safi::Unicast)),
        (v6, (Afi::Ipv6, Safi::Unicast)),
    ] {
        let Message::Update(u) = decode(&b, &AS4).unwrap() else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.end_of_rib(), Some(fam));
    }
}

#[test]
fn open_with_many_capabilities_uses_rfc9072_extended_parameters() {
    let open = Open {
        version: 4,
        my_as: 65001,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: (0..60)
            .map(|i| Capability::Multiprotocol {
                afi: Afi::Unknown(100 + i),
                safi: Safi::Unicast,
            })
            .collect(),
    };
    let bytes = encode_to_bytes(&Message::Open(open.clone()), &AS4).unwrap();
    // Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet length.
    assert_eq!(&bytes[28..30], &[255, 255]);
    assert_eq!(
        u16::from_be_bytes([bytes[30], bytes[31]]) as usize,
        bytes.len() - 32
    );
    assert_eq!(decode(&bytes, &AS4).unwrap(), Message::Open(open));
}

#[test]
fn open_capabilities_split_over_several_parameters_are_collected() {
    // Two Capabilities parameters, one capability each (as GoBGP sends).
    let bytes = hex(
        "ffffffffffffffffffffffffffffffff 0029 01 04 fde9 00b4 c0000201 0c
         02 06 010400010001 02 02 0200",
    );
    let Message::Open(o) = decode(&bytes, &AS4).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(o.capabilities.len(), 2);
    assert_eq!(o.capabilities[1], Capability::RouteRefresh);
    assert_eq!(o.asn(), 65001);
}

fn open_error(hex_str: &str) -> (u8, u8, Bytes) {
    let n = decode(&hex(hex_str), &AS4).unwrap_err().notification();
    (n.code, n.subcode, n.data)
}

#[test]
fn open_unsupported_version_is_2_1_with_version_4_as_data() {
    let got = open_error("ffffffffffffffffffffffffffffffff 001d 01 03 fde9 00b4 c0000201 00");
    assert_eq!(got, (2, 1, Bytes::from_static(&[0, 4])));
}

#[test]
fn open_hold_time_1_or_2_is_2_6() {
    for h in ["0001", "0002"] {
        let got = open_error(&format!(
            "ffffffffffffffffffffffffffffffff 001d 01 04 fde9 {h} c0000201 00"
        ));
        assert_eq!((got.0, got.1), (2, 6));
    }
    // Zero (no keepalives) and three are fine.
    for h in ["0000", "0003"] {
        let b = hex(&format!(
            "ffffffffffffffffffffffffffffffff 001d 01 04 fde9 {h} c0000201 00"
        ));
        assert!(decode(&b, &AS4).is_ok());
    }
}

#[test]
fn open_zero_bgp_identifier_is_2_3() {
    let got = open_error("ffffffffffffffffffffffffffffffff 001d 01 04 fde9 00b4 00000000 00");
    assert_eq!((got.0, got.1), (2, 3));
}

#[test]
fn open_unknown_optional_parameter_is_2_4() {
    let got =
        open_error("ffffffffffffffffffffffffffffffff 0021 01 04 fde9 00b4 c0000201 04 01 02 0000");
    assert_eq!((got.0, got.1), (2, 4));
}

#[test]
fn open_parameter_length_mismatch_is_an_open_error() {
    let got = open_error("ffffffffffffffffffffffffffffffff 001f 01 04 fde9 00b4 c0000201 05 0200");
    assert_eq!(got.0, 2);
    let got = open_error("ffffffffffffffffffffffffffffffff 001f 01 04 fde9 00b4 c0000201 02 0205");
    assert_eq!(got.0, 2);
}

#[test]
fn malformed_known_capability_is_kept_as_unknown() {
    // 4-octet AS capability with 3 octets of value.
    let bytes =
        hex("ffffffffffffffffffffffffffffffff 0024 01 04 fde9 00b4 c0000201 07 0205 4103 000001");
    let Message::Open(o) = decode(&bytes, &AS4).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(
        o.capabilities,
        vec![Capability::Unknown {
            code: 65,
            value: Bytes::from_static(&[0, 0, 1])
        }]
    );
}

#[test]
fn keepalive_with_a_body_is_1_2() {
    let err = decode(&hex("ffffffffffffffffffffffffffffffff 0014 04 00"), &AS4).unwrap_err();
    let n = err.notification();
    assert_eq!((n.code, n.subcode, &n.data[..]), (1, 2, &[0u8, 0x14][..]));
}

#[test]
fn decode_rejects_a_message_whose_length_field_disagrees() {
    let err = decode(&hex("ffffffffffffffffffffffffffffffff 0017 04"), &AS4).unwrap_err();
    assert_eq!(err.notification().subcode, 2);
}

#[test]
fn route_refresh_of_wrong_length_is_7_1_with_the_message() {
    let b = hex("ffffffffffffffffffffffffffffffff 0018 05 0002 00 01 00");
    let n = decode(&b, &AS4).unwrap_err().notification();
    assert_eq!((n.code, n.subcode), (7, 1));
    assert_eq!(n.data, b);
}

#[test]
fn encode_refuses_update_over_4096_without_extended_message() {
    let u = Update {
        withdrawn: (0..2000u32)
            .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
            .collect(),
        ..Update::default()
    };
    let mut out = BytesMut::from(&b"keep"[..]);
    let err = encode(&Message::Update(u.clone()), &AS4, &mut out).unwrap_err();
    assert!(matches!(err, EncodeError::MessageTooLong { max: 4096, .. }));
    assert_eq!(&out[..], b"keep");
    let ext = Ctx {
        extended_message: true,
        ..AS4
    };
    let b = encode_to_bytes(&Message::Update(u.clone()), &ext).unwrap();
    assert_eq!(b.len(), 19 + 4 + 2000 * 4);
    assert_eq!(decode(&b, &ext).unwrap(), Message::Update(u));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Decodes packed messages and returns (announced, withdrawn) prefixes.
fn unpack(msgs: &[Bytes], ctx: &Ctx) -> (Vec<IpNet>, Vec<IpNet>) {
    let max = if ctx.extended_message { 65535 } else { 4096 };
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    for m in msgs {
        assert!(m.len() <= max, "message of {} octets", m.len());
        assert_eq!(frame(m, ctx), Ok(Some(m.len())));
        let Message::Update(u) = decode(m, ctx).unwrap() else {
            panic!("not an UPDATE")
        };
        assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
        ann.extend(u.nlri.iter().map(|p| IpNet::V4(*p)));
        wd.extend(u.withdrawn.iter().map(|p| IpNet::V4(*p)));
        if let Some(r) = u.mp_reach {
            ann.extend(r.nlri);
        }
        if let Some(w) = u.mp_unreach {
            wd.extend(w.withdrawn);
        }
    }
    (ann, wd)
}

fn many_v4(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
        .collect()
}

fn many_v6(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a =
                Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + ((i as u128) << 64));
            IpNet::V6(ipnet::Ipv6Net::new(a, 64).unwrap())
        })
        .collect()
}

#[test]
fn encode_announce_ipv4_packs_all_prefixes_within_4096() {
    let prefixes = many_v4(3000);
    let nh = MpNextHop {
        global: ip("192.0.2.1"),
        link_local: None,
    };
    let msgs = encode_announce(&attrs_full(), &nh, Afi::Ipv4, &prefixes, &AS4);
    // 4 octets per /24: about 1000 per message.
    assert_eq!(msgs.len(), 4);
    let (ann, wd) = unpack(&msgs, &AS4);
    assert_eq!(ann, prefixes);
    assert!(wd.is_empty());
    let Message::Update(u) = decode(&msgs[0], &AS4).unwrap() else {
        panic!()
    };
    assert_eq!(u.attributes, Some(attrs_full()));
    assert_eq!(u.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
}

#[test]
fn encode_announce_ipv6_packs_into_mp_reach() {
    let prefixes = many_v6(1000);
    let nh = MpNextHop {
        global: ip("2001:db8::1"),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let attrs = PathAttributes {
        as_path: AsPath::from_sequence([65001]),
        ..PathAttributes::default()
    };
    for ctx in [
        AS4,
        AS2,
        Ctx {
            extended_message: true,
            ..AS4
        },
    ] {
        let msgs = encode_announce(&attrs, &nh, Afi::Ipv6, &prefixes, &ctx);
        let expect = if ctx.extended_message { 1 } else { 3 };
        assert_eq!(msgs.len(), expect);
        let (ann, _) = unpack(&msgs, &ctx);
        assert_eq!(ann, prefixes);
        let Message::Update(u) = decode(&msgs[0], &ctx).unwrap() else {
            panic!()
        };
        assert_eq!(u.mp_reach.unwrap().next_hop, nh);
        assert!(u.nlri.is_empty() && u.next_hop.is_none());
    }
}

#[test]
fn encode_announce_ipv4_over_ipv6_next_hop_uses_mp_reach() {
    let nh = MpNextHop {
        global: ip("2001:db8::1"),
        link_local: None,
    };
    let msgs = encode_announce(
        &PathAttributes::default(),
        &nh,
        Afi::Ipv4,
        &many_v4(10),
        &AS4,
    );
    let Message::Update(u) = decode(&msgs[0], &AS4).unwrap() else {
        panic!()
    };
    let r = u.mp_reach.unwrap();
    assert_eq!((r.afi, r.nlri.len()), (Afi::Ipv4, 10));
}

#[test]
fn encode_announce_with_oversized_attributes_returns_nothing() {
    let attrs = PathAttributes {
        communities: (0..1100).map(Community).collect(),
        ..PathAttributes::default()
    };
    let nh = MpNextHop {
        global: ip("192.0.2.1"),
        link_local: None,
    };
    assert!(encode_announce(&attrs, &nh, Afi::Ipv4, &many_v4(3), &AS4).is_empty());
}

#[test]
fn encode_withdraw_packs_ipv4_and_ipv6() {
    let v4s = many_v4(5000);
    let msgs = encode_withdraw(Afi::Ipv4, &v4s, &AS4);
    assert_eq!(msgs.len(), 5);
    let (ann, wd) = unpack(&msgs, &AS4);
    assert!(ann.is_empty());
    assert_eq!(wd, v4s);

    let v6s = many_v6(2000);
    let msgs = encode_withdraw(Afi::Ipv6, &v6s, &AS4);
    assert_eq!(msgs.len(), 5);
    let (_, wd) = unpack(&msgs, &AS4);
    assert_eq!(wd, v6s);
    // Mixed-family input: only the asked family is used.
    let mut mixed = many_v4(3);
    mixed.extend(many_v6(2));
    let (_, wd) = unpack(&encode_withdraw(Afi::Ipv6, &mixed, &AS4), &AS4);
    assert_eq!(wd.len(), 2);
    assert!(encode_withdraw(Afi::Ipv4, &[], &AS4).is_empty());
}

/// Found by the `decode_message` fuzz target (fuzz/). On a 2-octet
/// session a lone AS4_AGGREGATOR (no AGGREGATOR) is taken as the aggregator,
/// as FRR does; here it carries ASN 0, a 2-octet ASN. Re-encoded for a
/// 2-octet session that gives AGGREGATOR 0 with AS4_PATH, which the receiver
/// must ignore (RFC 6793 §4.2.3: AGGREGATOR is not AS_TRANS), so the path
/// comes back with AS_TRANS for the 4-octet ASN. The RFC's loss, not the
/// codec's; the fuzz target expects exactly this.
#[test]
fn fuzz_crash_lone_as4_aggregator_with_two_octet_asn_hides_as4_path() {
    let msg = hex(concat!(
        "ffffffffffffffffffffffffffffffff", // marker
        "0045 02 0000 002c", // length 69, UPDATE, no withdrawn, 44 octets of attributes
        "40 01 01 00",       // ORIGIN IGP
        "40 02 06 02 02 fde9 5ba0", // AS_PATH 65001 23456
        "40 03 04 c0000201", // NEXT_HOP 192.0.2.1
        "c0 11 0a 02 02 0000fde9 fa56ea01", // AS4_PATH 65001 4200000001
        "c0 12 08 00000000 00000000", // AS4_AGGREGATOR 0 0.0.0.0, no AGGREGATOR
        "08 0a",             // NLRI 10.0.0.0/8
    ));
    let Message::Update(u) = decode(&msg, &AS2).unwrap() else {
        panic!("not an UPDATE")
    };
    let a = u.attributes.as_ref().unwrap();
    assert_eq!(a.as_path, AsPath::from_sequence([65001, 4_200_000_001]));
    assert_eq!(
        a.aggregator(),
        Some(Aggregator {
            asn: 0,
            address: Ipv4Addr::UNSPECIFIED
        })
    );
    assert_eq!(u.nlri, vec![v4("10.0.0.0/8")]);

    // Sent on: AGGREGATOR 0 and the real path in AS4_PATH ...
    let again = encode_to_bytes(&Message::Update(u.clone()), &AS2).unwrap();
    let as4_path = hex("c0 11 0a 02 02 0000fde9 fa56ea01");
    assert!(again.windows(as4_path.len()).any(|w| w == as4_path));
    assert!(again.windows(3).any(|w| w == [0xc0, 0x07, 0x06]));
    // ... which the receiver ignores because of that AGGREGATOR.
    let Message::Update(u2) = decode(&again, &AS2).unwrap() else {
        panic!("not an UPDATE")
    };
    let a2 = u2.attributes.as_ref().unwrap();
    assert_eq!(a2.as_path, AsPath::from_sequence([65001, AS_TRANS as u32]));
    assert_eq!(a2.aggregator(), a.aggregator());
    assert_eq!(u2.nlri, u.nlri);
    // From there on the round trip is exact.
    let third = encode_to_bytes(&Message::Update(u2.clone()), &AS2).unwrap();
    assert_eq!(decode(&third, &AS2).unwrap(), Message::Update(u2));
}

/// RFC 4724 §3 with RFC 8538's N bit: R and N set, Restart Time 90, IPv4
/// unicast with F set, IPv6 unicast with F clear.
#[test]
fn graceful_restart_capability_flags_both_ways() {
    let open = Open {
        version: 4,
        my_as: 65000,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![Capability::GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 90,
            families: vec![
                (Afi::Ipv4, Safi::Unicast, true),
                (Afi::Ipv6, Safi::Unicast, false),
            ],
        }],
    };
    both_ways(
        "ffffffffffffffffffffffffffffffff 002b 01 04 fde8 005a 0a000001 0e
         02 0c 40 0a c05a 00010180 00020100",
        Message::Open(open),
        &AS4,
    );
    // Only R: the other flag bits and the reserved bits decode as clear.
    let Message::Open(only_r) = decode(
        &hex(
            "ffffffffffffffffffffffffffffffff 0023 01 04 fde8 005a 0a000001 06
              02 04 40 02 8078",
        ),
        &AS4,
    )
    .unwrap() else {
        panic!("not an OPEN");
    };
    assert_eq!(
        only_r.capabilities,
        vec![Capability::GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 120,
            families: Vec::new(),
        }]
    );
}
