//! One test per RFC 7606 rule (and the RFC 6793/8092/9234 rules in the
//! same style): which of "treat-as-withdraw", "attribute discard" and
//! "session reset" each malformation gets.

use bytes::Bytes;

use super::tests::{AS2, AS4, hex, net, v4};
use super::*;

/// Builds an UPDATE from hex withdrawn routes, attributes and NLRI.
fn update(withdrawn: &str, attrs: &str, nlri: &str) -> Bytes {
    let (w, a, n) = (hex(withdrawn), hex(attrs), hex(nlri));
    let len = 19 + 4 + w.len() + a.len() + n.len();
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.push(2);
    v.extend_from_slice(&(w.len() as u16).to_be_bytes());
    v.extend_from_slice(&w);
    v.extend_from_slice(&(a.len() as u16).to_be_bytes());
    v.extend_from_slice(&a);
    v.extend_from_slice(&n);
    v.into()
}

const ORIGIN: &str = "400101 00";
const AS_PATH: &str = "400206 020100 00fde9";
const NEXT_HOP: &str = "400304 c0000201";
const NLRI: &str = "180a0100";

fn base_with(extra: &str) -> Bytes {
    update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {extra}"), NLRI)
}

fn ok(b: &Bytes, ctx: &Ctx) -> Update {
    match decode(b, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected UPDATE, got {other:?}"),
    }
}

/// Asserts treat-as-withdraw for attribute `code`, NLRI still reported.
fn assert_withdraw(b: &Bytes, code: u8) -> Update {
    let u = ok(b, &AS4);
    let e = u.treat_as_withdraw.clone().expect("treat-as-withdraw");
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(u.nlri, vec![v4("10.1.0.0/24")]);
    u
}

/// Asserts attribute discard of `code` and nothing stronger.
fn assert_discard(b: &Bytes, ctx: &Ctx, code: u8) -> Update {
    let u = ok(b, ctx);
    assert_eq!(u.treat_as_withdraw, None);
    assert_eq!(u.discarded.len(), 1, "{:?}", u.discarded);
    assert_eq!(u.discarded[0].code, code);
    u
}

fn reset(b: &Bytes, ctx: &Ctx) -> (DecodeError, Notification) {
    let e = decode(b, ctx).unwrap_err();
    let n = e.notification();
    (e, n)
}

#[test]
fn well_formed_base_has_no_errors() {
    let u = ok(&base_with(""), &AS4);
    assert_eq!(u.treat_as_withdraw, None);
    assert!(u.discarded.is_empty());
}

#[test]
fn rfc7606_3c_flags_conflict_is_treat_as_withdraw() {
    // ORIGIN marked optional.
    let b = update("", &format!("c00101 00 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_withdraw(&b, 1);
    // MED marked transitive.
    assert_withdraw(&base_with("c00404 00000001"), 4);
}

#[test]
fn rfc7606_3d_missing_well_known_with_nlri_is_treat_as_withdraw() {
    let b = update("", &format!("{AS_PATH} {NEXT_HOP}"), NLRI);
    assert_withdraw(&b, 1);
    let b = update("", &format!("{ORIGIN} {NEXT_HOP}"), NLRI);
    assert_withdraw(&b, 2);
    let b = update("", &format!("{ORIGIN} {AS_PATH}"), NLRI);
    assert_withdraw(&b, 3);
    // No attributes at all but NLRI.
    assert_withdraw(&update("", "", NLRI), 1);
}

#[test]
fn rfc7606_3d_missing_origin_with_mp_reach_is_treat_as_withdraw() {
    let mp = "800e1c 0002 01 10 20010db8000000000000000000000001 00 3020010db80001";
    let u = ok(&update("", &format!("{mp} {AS_PATH}"), ""), &AS4);
    assert_eq!(u.treat_as_withdraw.unwrap().code, 1);
    assert_eq!(u.mp_reach.unwrap().nlri, vec![net("2001:db8:1::/48")]);
}

#[test]
fn rfc7606_3d_missing_attributes_without_nlri_is_fine() {
    let u = ok(&update("180a0100", "", ""), &AS4);
    assert_eq!(u.treat_as_withdraw, None);
    assert_eq!(u.withdrawn, vec![v4("10.1.0.0/24")]);
    // MP_UNREACH alone needs nothing else (RFC 4760 §4).
    let u = ok(&update("", "800f08 0002 01 2020010db8", ""), &AS4);
    assert_eq!(u.treat_as_withdraw, None);
}

#[test]
fn rfc7606_3g_repeated_attribute_keeps_the_first() {
    let u = assert_discard(&base_with("800404 00000001 800404 00000002"), &AS4, 4);
    assert_eq!(u.attributes.unwrap().med, Some(1));
}

#[test]
fn rfc7606_3g_repeated_mp_reach_is_session_reset() {
    let mp = "800e1c 0002 01 10 20010db8000000000000000000000001 00 3020010db80001";
    let (_, n) = reset(
        &update("", &format!("{mp} {ORIGIN} {AS_PATH} {mp}"), ""),
        &AS4,
    );
    assert_eq!((n.code, n.subcode), (3, 1));
    let mu = "800f03 000201";
    let (_, n) = reset(&update("", &format!("{mu} {mu}"), ""), &AS4);
    assert_eq!((n.code, n.subcode), (3, 1));
}

#[test]
fn rfc7606_4_attribute_overrunning_the_field_is_treat_as_withdraw() {
    // MED claims 8 octets, 4 remain; NLRI still found from the total length.
    let u = assert_withdraw(&base_with("800408 00000001"), 4);
    assert_eq!(u.attributes.unwrap().med, None);
}

#[test]
fn rfc7606_4_too_few_octets_for_an_attribute_header_is_treat_as_withdraw() {
    assert_withdraw(&base_with("8004"), 4);
    // Extended length flag with only three octets left.
    assert_withdraw(&base_with("900400"), 4);
}

#[test]
fn rfc7606_5_2_overrun_hiding_possible_mp_reach_is_session_reset() {
    // No NLRI field and no MP attribute seen before the broken one: the
    // NLRI cannot be located.
    let b = update("", &format!("{ORIGIN} 800e30 0002"), "");
    let (e, n) = reset(&b, &AS4);
    assert_eq!((n.code, n.subcode), (3, 1));
    assert_eq!(e.offset, 19 + 4 + 4);
}

#[test]
fn rfc7606_5_3_nlri_that_does_not_parse_is_session_reset() {
    let b = update(
        "",
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"),
        "210a010000ff",
    );
    let (e, n) = reset(&b, &AS4);
    assert_eq!((n.code, n.subcode), (3, 10));
    assert_eq!(e.offset, 19 + 4 + 20);
    let b = update("180a01", "", "");
    assert_eq!(reset(&b, &AS4).1.subcode, 10);
}

#[test]
fn rfc4271_6_3_length_fields_overrunning_the_message_is_session_reset() {
    let mut v = update("", "", "").to_vec();
    v[19..21].copy_from_slice(&[0, 9]);
    let (_, n) = reset(&v.into(), &AS4);
    assert_eq!((n.code, n.subcode), (3, 1));
}

#[test]
fn rfc7606_7_1_malformed_origin_is_treat_as_withdraw() {
    let b = update("", &format!("400101 03 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_withdraw(&b, 1);
    let b = update("", &format!("400102 0000 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_withdraw(&b, 1);
}

#[test]
fn rfc7606_7_2_malformed_as_path_is_treat_as_withdraw() {
    for path in [
        "400202 0200",
        "400206 050100 00fde9",
        "400205 0201 00fde9",
        "400201 02",
    ] {
        let b = update("", &format!("{ORIGIN} {path} {NEXT_HOP}"), NLRI);
        assert_withdraw(&b, 2);
    }
    // 4-octet path on a 2-octet session does not add up either.
    let b = update(
        "",
        &format!("{ORIGIN} 400207 020100 00fde9 00 {NEXT_HOP}"),
        NLRI,
    );
    assert!(ok(&b, &AS2).treat_as_withdraw.is_some());
}

#[test]
fn rfc7606_7_3_malformed_next_hop_is_treat_as_withdraw() {
    let b = update("", &format!("{ORIGIN} {AS_PATH} 400305 c000020100"), NLRI);
    assert_withdraw(&b, 3);
    let b = update("", &format!("{ORIGIN} {AS_PATH} 400304 00000000"), NLRI);
    assert_withdraw(&b, 3);
    let b = update("", &format!("{ORIGIN} {AS_PATH} 400304 e0000001"), NLRI);
    assert_withdraw(&b, 3);
}

#[test]
fn rfc7606_7_4_med_of_wrong_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("800403 000001"), 4);
}

#[test]
fn rfc7606_7_5_local_pref_of_wrong_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("400502 0064"), 5);
}

#[test]
fn rfc7606_7_5_local_pref_from_an_external_peer_is_discarded() {
    // Found by integration/tests/hostile.rs: the internal rule (above) was
    // applied to eBGP peers too, withdrawing routes §7.5 says to keep.
    let mut u = assert_withdraw(&base_with("400502 0064"), 5);
    u.apply_external_peer_rules();
    assert_eq!(u.treat_as_withdraw, None);
    assert_eq!(u.discarded.len(), 1);
    assert_eq!(u.discarded[0].code, 5);
    // A well-formed one is dropped as well (RFC 4271 §5.1.5).
    let mut u = ok(&base_with("400504 00000064"), &AS4);
    u.apply_external_peer_rules();
    assert_eq!(u.attributes.unwrap().local_pref, None);
}

#[test]
fn rfc7606_7_5_other_treat_as_withdraw_reasons_outrank_local_pref() {
    // Either order: a malformed MED still withdraws from an external peer.
    for attrs in ["400502 0064 800403 000001", "800403 000001 400502 0064"] {
        let mut u = assert_withdraw(&base_with(attrs), 4);
        u.apply_external_peer_rules();
        assert_eq!(u.treat_as_withdraw.map(|e| e.code), Some(4));
    }
    // So does a missing well-known attribute, found after the loop.
    let b = update("", &format!("{AS_PATH} {NEXT_HOP} 400502 0064"), NLRI);
    let mut u = assert_withdraw(&b, 1);
    u.apply_external_peer_rules();
    assert_eq!(u.treat_as_withdraw.map(|e| e.code), Some(1));
}

#[test]
fn rfc7606_7_6_atomic_aggregate_with_a_value_is_discarded() {
    let u = assert_discard(&base_with("400601 00"), &AS4, 6);
    assert!(!u.attributes.unwrap().atomic_aggregate);
}

#[test]
fn rfc7606_7_7_aggregator_of_wrong_length_is_discarded() {
    // 6 octets on a 4-octet session.
    let u = assert_discard(&base_with("c00706 fde9c0000209"), &AS4, 7);
    assert_eq!(u.attributes.unwrap().aggregator(), None);
    // 8 octets on a 2-octet session.
    let b = update(
        "",
        &format!("{ORIGIN} 400204 0201 fde9 {NEXT_HOP} c00708 0000fde9c0000209"),
        NLRI,
    );
    assert_discard(&b, &AS2, 7);
}

#[test]
fn rfc7606_7_8_communities_of_bad_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("c00803 fde900"), 8);
    assert_withdraw(&base_with("c00800"), 8);
}

#[test]
fn rfc7606_7_11_mp_reach_next_hop_length_inconsistent_is_session_reset() {
    // AFI 2 with a 4-octet next hop.
    let b = update(
        "",
        &format!("800e0a 0002 01 04 c0000201 00 00 {ORIGIN} {AS_PATH}"),
        "",
    );
    let (e, n) = reset(&b, &AS4);
    assert_eq!((n.code, n.subcode), (3, 9));
    assert_eq!(&n.data[..], &hex("800e0a 0002 01 04 c0000201 00 00")[..]);
    assert_eq!(e.afi_safi(), Some((Afi::Ipv6, Safi::Unicast)));
}

#[test]
fn rfc7606_7_11_mp_reach_nlri_that_does_not_parse_is_session_reset() {
    let b = update("", "800e0b 0001 01 04 c0000201 00 21ff", "");
    let (e, n) = reset(&b, &AS4);
    assert_eq!((n.code, n.subcode), (3, 9));
    assert_eq!(e.afi_safi(), Some((Afi::Ipv4, Safi::Unicast)));
    // Too short for its fixed fields.
    assert_eq!(reset(&update("", "800e02 0002", ""), &AS4).1.subcode, 9);
}

#[test]
fn rfc7606_7_11_mp_reach_for_an_unsupported_family_is_dropped() {
    // AFI 25 (L2VPN) SAFI 65: not ours; reported, not fatal.
    let b = update(
        "",
        &format!("800e0a 0019 41 04 c0000201 00 00 {ORIGIN} {AS_PATH}"),
        "",
    );
    let u = assert_discard(&b, &AS4, 14);
    assert_eq!(u.mp_reach, None);
}

#[test]
fn rfc7606_7_12_mp_unreach_that_does_not_parse_is_session_reset() {
    let (e, n) = reset(&update("", "800f05 0002 01 8120", ""), &AS4);
    assert_eq!((n.code, n.subcode), (3, 9));
    assert_eq!(e.afi_safi(), Some((Afi::Ipv6, Safi::Unicast)));
    assert_eq!(reset(&update("", "800f02 0002", ""), &AS4).1.subcode, 9);
}

#[test]
fn rfc7606_7_14_extended_communities_of_bad_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("c01004 00020001"), 16);
}

#[test]
fn rfc8092_6_large_communities_of_bad_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("c02008 0000fde900000001"), 32);
}

#[test]
fn rfc9234_5_otc_of_bad_length_is_treat_as_withdraw() {
    assert_withdraw(&base_with("c02302 fde9"), 35);
}

#[test]
fn rfc6793_6_malformed_as4_path_is_discarded() {
    let path = "400204 0201 fde9";
    let b = update(
        "",
        &format!("{ORIGIN} {path} {NEXT_HOP} c01103 020100"),
        NLRI,
    );
    let u = assert_discard(&b, &AS2, 17);
    assert_eq!(
        u.attributes.unwrap().as_path,
        AsPath::from_sequence([65001])
    );
    // Confederation segments are not allowed in AS4_PATH (RFC 6793 §3).
    let b = update(
        "",
        &format!("{ORIGIN} {path} {NEXT_HOP} c01106 030100 00fde9"),
        NLRI,
    );
    assert_discard(&b, &AS2, 17);
    // AS4_AGGREGATOR of the wrong length.
    let b = update(
        "",
        &format!("{ORIGIN} {path} {NEXT_HOP} c01206 fde9c0000209"),
        NLRI,
    );
    assert_discard(&b, &AS2, 18);
}

#[test]
fn rfc6793_4_1_as4_attributes_on_a_four_octet_session_are_dropped() {
    let u = ok(&base_with("c01106 020100 00fde9"), &AS4);
    let a = u.attributes.unwrap();
    assert!(a.unknown().is_empty());
    assert_eq!(a.as_path, AsPath::from_sequence([65001]));
    assert_eq!(u.treat_as_withdraw, None);
}

#[test]
fn rfc4271_6_3_unrecognized_well_known_attribute_is_3_2_with_the_attribute() {
    let (e, n) = reset(&base_with("405002 abcd"), &AS4);
    assert_eq!((n.code, n.subcode), (3, 2));
    assert_eq!(&n.data[..], &hex("405002 abcd")[..]);
    assert_eq!(e.offset, 19 + 4 + 4 + 9 + 7);
}

#[test]
fn unknown_optional_transitive_is_kept_with_partial_bit() {
    let u = ok(&base_with("d0500002 abcd"), &AS4);
    let a = u.attributes.unwrap();
    assert_eq!(
        a.unknown(),
        vec![RawAttribute {
            flags: 0xe0,
            code: 0x50,
            value: Bytes::from_static(&[0xab, 0xcd]),
        }]
    );
}

#[test]
fn unknown_optional_non_transitive_is_dropped() {
    let u = ok(&base_with("805002 abcd"), &AS4);
    assert!(u.attributes.unwrap().unknown().is_empty());
    assert_eq!(u.treat_as_withdraw, None);
    assert!(u.discarded.is_empty());
}

#[test]
fn treat_as_withdraw_wins_over_discard_and_both_are_reported() {
    // RFC 7606 §3 (f): the strongest action applies; discards still listed.
    let u = assert_withdraw(&base_with("400601 00 800403 000001"), 4);
    assert_eq!(u.discarded.len(), 1);
    assert_eq!(u.discarded[0].code, 6);
}
