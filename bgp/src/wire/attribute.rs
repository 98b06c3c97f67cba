//! Path attributes (RFC 4271 §4.3, §5) and their error handling under
//! RFC 7606.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|  Attr. Length (1 or 2) | Value...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  Flags: O(ptional) T(ransitive) P(artial) E(xtended length) 0 0 0 0
//! ```
//!
//! Decoding never stops at the first bad attribute. Each RFC 7606 rule
//! picks one of three outcomes: "treat-as-withdraw" (the UPDATE's NLRI are
//! withdrawn, recorded in `Update::treat_as_withdraw`), "attribute discard"
//! (`Update::discarded`), or "session reset" (a [`DecodeError`]). RFC 7606
//! §3 (f): the strongest outcome wins.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

use super::as_path;
use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::iana::{Afi, Safi};
use super::nlri;
use super::types::{
    AS_TRANS, Aggregator, AsPath, AttributeError, Community, LargeCommunity, MpNextHop, MpReach,
    MpUnreach, Origin, PathAttributes, RareAttributes, RawAttribute, SegmentType,
};
use super::{Ctx, offset_of};

pub(super) const ORIGIN: u8 = 1;
pub(super) const AS_PATH: u8 = 2;
pub(super) const NEXT_HOP: u8 = 3;
pub(super) const MULTI_EXIT_DISC: u8 = 4;
pub(super) const LOCAL_PREF: u8 = 5;
pub(super) const ATOMIC_AGGREGATE: u8 = 6;
pub(super) const AGGREGATOR: u8 = 7;
pub(super) const COMMUNITIES: u8 = 8;
pub(super) const ORIGINATOR_ID: u8 = 9;
pub(super) const CLUSTER_LIST: u8 = 10;
pub(super) const MP_REACH_NLRI: u8 = 14;
pub(super) const MP_UNREACH_NLRI: u8 = 15;
pub(super) const EXTENDED_COMMUNITIES: u8 = 16;
pub(super) const AS4_PATH: u8 = 17;
pub(super) const AS4_AGGREGATOR: u8 = 18;
pub(super) const LARGE_COMMUNITIES: u8 = 32;
pub(super) const OTC: u8 = 35;

pub(super) const OPTIONAL: u8 = 0x80;
pub(super) const TRANSITIVE: u8 = 0x40;
pub(super) const PARTIAL: u8 = 0x20;
pub(super) const EXTENDED_LENGTH: u8 = 0x10;

const WELL_KNOWN: u8 = TRANSITIVE;
const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;

/// The Optional and Transitive bits each attribute we know must carry.
fn expected_flags(code: u8) -> Option<u8> {
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => WELL_KNOWN,
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => {
            OPTIONAL
        }
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | LARGE_COMMUNITIES | OTC => OPTIONAL_TRANSITIVE,
        _ => return None,
    })
}

/// What the path attributes field of one UPDATE decoded to.
#[derive(Default)]
pub(super) struct Decoded {
    pub attributes: Option<PathAttributes>,
    pub next_hop: Option<Ipv4Addr>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    pub treat_as_withdraw: Option<AttributeError>,
    pub discarded: Vec<AttributeError>,
}

struct State<'a> {
    msg: &'a Bytes,
    ctx: &'a Ctx,
    out: Decoded,
    attrs: PathAttributes,
    /// Collected apart, boxed into `attrs.rare` at the end.
    rare: RareAttributes,
    any: bool,
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
    seen: [bool; 256],
}

impl State<'_> {
    fn withdraw(&mut self, code: u8, offset: usize, reason: &'static str) {
        // RFC 7606 §3 (f): one treat-as-withdraw is enough; keep the first,
        // except a LOCAL_PREF one: that rule is iBGP's only (RFC 7606
        // §7.5), so any other reason replaces it and a LOCAL_PREF reason
        // left standing means nothing else was wrong (see
        // `Update::apply_external_peer_rules`).
        let e = AttributeError {
            code,
            offset,
            reason,
        };
        match &self.out.treat_as_withdraw {
            None => self.out.treat_as_withdraw = Some(e),
            Some(first) if first.code == LOCAL_PREF && code != LOCAL_PREF => {
                self.out.treat_as_withdraw = Some(e)
            }
            Some(_) => {}
        }
    }

    fn discard(&mut self, code: u8, offset: usize, reason: &'static str) {
        self.out.discarded.push(AttributeError {
            code,
            offset,
            reason,
        });
    }
}

/// Decodes the Path Attributes field `field` (a sub-slice of `msg`).
/// `nlri_present` says whether the UPDATE's NLRI field is non-empty.
pub(super) fn decode(
    msg: &Bytes,
    field: &[u8],
    nlri_present: bool,
    ctx: &Ctx,
) -> Result<Decoded, DecodeError> {
    let field_at = offset_of(msg, field);
    let mut st = State {
        msg,
        ctx,
        out: Decoded::default(),
        attrs: PathAttributes::default(),
        rare: RareAttributes::default(),
        any: false,
        as4_path: None,
        as4_aggregator: None,
        seen: [false; 256],
    };
    let mut rest = field;
    while !rest.is_empty() {
        let at = offset_of(msg, rest);
        let hdr_len = if rest[0] & EXTENDED_LENGTH != 0 { 4 } else { 3 };
        let code = rest.get(1).copied().unwrap_or(0);
        let value_len = match hdr_len {
            4 if rest.len() >= 4 => Some(u16::from_be_bytes([rest[2], rest[3]]) as usize),
            3 if rest.len() >= 3 => Some(rest[2] as usize),
            _ => None,
        };
        let Some(whole) = value_len.and_then(|l| rest.get(..hdr_len + l)) else {
            // RFC 7606 §4: fewer octets than an attribute header, or an
            // attribute overrunning the Total Path Attribute Length, is
            // treat-as-withdraw and the NLRI field is still found from the
            // total length. RFC 7606 §5.2: but if that leaves NLRI we cannot
            // locate (an MP_REACH/MP_UNREACH may hide in the broken tail),
            // the UPDATE cannot be handled safely: session reset.
            let located = nlri_present || st.out.mp_reach.is_some() || st.out.mp_unreach.is_some();
            if !located {
                return Err(DecodeError::new(
                    at,
                    DecodeErrorKind::MalformedAttributeList(
                        "attribute overruns the path attributes field",
                    ),
                ));
            }
            st.withdraw(code, at, "attribute overruns the path attributes field");
            break;
        };
        rest = &rest[whole.len()..];

        if st.seen[code as usize] {
            // RFC 7606 §3 (g): a repeated MP_REACH/MP_UNREACH is a
            // Malformed Attribute List; any other repeat is discarded.
            if code == MP_REACH_NLRI || code == MP_UNREACH_NLRI {
                return Err(DecodeError::new(
                    at,
                    DecodeErrorKind::MalformedAttributeList("repeated MP_REACH/MP_UNREACH"),
                ));
            }
            st.discard(code, at, "repeated attribute");
            continue;
        }
        st.seen[code as usize] = true;
        one(
            &mut st,
            Found {
                flags: whole[0],
                code,
                value: &whole[hdr_len..],
                whole,
                at,
            },
        )?;
    }

    // RFC 6793 §4.2.3: on a 2-octet session rebuild the real path.
    if !ctx.four_octet_as {
        match st.rare.aggregator {
            // An AGGREGATOR that is not AS_TRANS means whoever aggregated
            // did not speak 4-octet AS: AS4_PATH and AS4_AGGREGATOR are stale.
            Some(agg) if agg.asn != AS_TRANS as u32 => {}
            _ => {
                if let Some(a4) = st.as4_aggregator {
                    st.rare.aggregator = Some(a4);
                }
                if let Some(p4) = st.as4_path.take()
                    && st.seen[AS_PATH as usize]
                {
                    let p2 = std::mem::take(&mut st.attrs.as_path);
                    st.attrs.as_path = as_path::merge(p2, p4);
                }
            }
        }
    }

    // RFC 7606 §3 (d): a missing well-known mandatory attribute means
    // treat-as-withdraw (RFC 4760 made NEXT_HOP mandatory only for NLRI
    // carried in the NLRI field).
    let reach = nlri_present || st.out.mp_reach.as_ref().is_some_and(|r| !r.nlri.is_empty());
    if reach {
        for code in [ORIGIN, AS_PATH] {
            if !st.seen[code as usize] {
                st.withdraw(code, field_at, "missing well-known attribute");
            }
        }
        if nlri_present && !st.seen[NEXT_HOP as usize] {
            st.withdraw(NEXT_HOP, field_at, "missing well-known attribute");
        }
    }

    let mut out = st.out;
    // Same order as `encode` writes them, so decode → encode → decode is
    // stable whatever order the peer used.
    st.rare.unknown.sort_by_key(|a| a.code);
    st.attrs.rare = st.rare.boxed();
    if st.any {
        out.attributes = Some(st.attrs);
    }
    Ok(out)
}

fn be32(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

/// One attribute as found in the message.
#[derive(Clone, Copy)]
struct Found<'m> {
    flags: u8,
    code: u8,
    /// The value, after the header.
    value: &'m [u8],
    /// Header and value: what an error carries as data.
    whole: &'m [u8],
    /// Offset of the header in the message.
    at: usize,
}

/// Decodes one attribute into `st`.
fn one(st: &mut State<'_>, attr: Found<'_>) -> Result<(), DecodeError> {
    let Found {
        flags,
        code,
        value,
        at,
        ..
    } = attr;
    let Some(expected) = expected_flags(code) else {
        return unknown(st, attr);
    };
    // RFC 7606 §3 (c): Optional/Transitive bits in conflict with the
    // attribute's definition make it malformed: treat-as-withdraw.
    if flags & OPTIONAL_TRANSITIVE != expected {
        st.withdraw(code, at, "attribute flags conflict with its type");
    }
    if !matches!(code, NEXT_HOP | MP_REACH_NLRI | MP_UNREACH_NLRI) {
        st.any = true;
    }
    let asn_len = if st.ctx.four_octet_as { 4 } else { 2 };
    match code {
        // RFC 7606 §7.1: ORIGIN of length other than 1 or an undefined
        // value is treat-as-withdraw.
        ORIGIN => match value {
            [0] => st.attrs.origin = Origin::Igp,
            [1] => st.attrs.origin = Origin::Egp,
            [2] => st.attrs.origin = Origin::Incomplete,
            _ => st.withdraw(code, at, "malformed ORIGIN"),
        },
        // RFC 7606 §7.2: malformed AS_PATH is treat-as-withdraw.
        AS_PATH => match as_path::decode(value, asn_len) {
            Ok(p) => st.attrs.as_path = p,
            Err(why) => st.withdraw(code, at, why),
        },
        // RFC 7606 §7.3: NEXT_HOP of length other than 4, or not a
        // usable host address, is treat-as-withdraw.
        NEXT_HOP => {
            if value.len() != 4 {
                st.withdraw(code, at, "NEXT_HOP length is not 4");
            } else {
                let nh = Ipv4Addr::from(be32(value));
                if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                    st.withdraw(code, at, "NEXT_HOP is not a host address");
                }
                st.out.next_hop = Some(nh);
            }
        }
        // RFC 7606 §7.4: MED of length other than 4 is treat-as-withdraw.
        MULTI_EXIT_DISC if value.len() == 4 => st.attrs.med = Some(be32(value)),
        MULTI_EXIT_DISC => st.withdraw(code, at, "MULTI_EXIT_DISC length is not 4"),
        // RFC 7606 §7.5: LOCAL_PREF of length other than 4 is
        // treat-as-withdraw. That is the iBGP rule; the codec does not know
        // the peer, so for an external one the session turns it into
        // attribute discard with `Update::apply_external_peer_rules`.
        LOCAL_PREF if value.len() == 4 => st.attrs.local_pref = Some(be32(value)),
        LOCAL_PREF => st.withdraw(code, at, "LOCAL_PREF length is not 4"),
        // RFC 7606 §7.6: ATOMIC_AGGREGATE of non-zero length is discarded.
        ATOMIC_AGGREGATE if value.is_empty() => st.attrs.atomic_aggregate = true,
        ATOMIC_AGGREGATE => st.discard(code, at, "ATOMIC_AGGREGATE length is not 0"),
        // RFC 7606 §7.7: AGGREGATOR of length other than 6 (2-octet
        // session) or 8 (4-octet session) is discarded.
        AGGREGATOR if value.len() == asn_len + 4 => {
            let asn = value[..asn_len]
                .iter()
                .fold(0u32, |acc, &b| (acc << 8) | b as u32);
            let address = Ipv4Addr::from(be32(&value[asn_len..]));
            st.rare.aggregator = Some(Aggregator { asn, address });
        }
        AGGREGATOR => st.discard(code, at, "AGGREGATOR length is wrong"),
        // RFC 7606 §7.8: COMMUNITIES of length 0 or not a multiple of 4
        // is treat-as-withdraw.
        COMMUNITIES if !value.is_empty() && value.len().is_multiple_of(4) => {
            st.attrs.communities = value.chunks_exact(4).map(|c| Community(be32(c))).collect();
        }
        COMMUNITIES => st.withdraw(code, at, "COMMUNITIES length is not a multiple of 4"),
        // RFC 7606 §7.9, §7.10: only meaningful for route reflection over
        // iBGP, which we do not do; optional non-transitive, so dropped.
        ORIGINATOR_ID | CLUSTER_LIST => {}
        MP_REACH_NLRI => mp_reach(st, attr)?,
        MP_UNREACH_NLRI => mp_unreach(st, attr)?,
        // RFC 7606 §7.14: EXTENDED_COMMUNITIES of length 0 or not a
        // multiple of 8 is treat-as-withdraw.
        EXTENDED_COMMUNITIES if !value.is_empty() && value.len().is_multiple_of(8) => {
            st.rare.ext_communities = value
                .chunks_exact(8)
                .map(|c| c.try_into().unwrap_or([0; 8]))
                .collect();
        }
        EXTENDED_COMMUNITIES => st.withdraw(
            code,
            at,
            "EXTENDED_COMMUNITIES length is not a multiple of 8",
        ),
        // RFC 6793 §4.1: a 4-octet session does not use AS4_PATH or
        // AS4_AGGREGATOR; they are dropped, not propagated.
        AS4_PATH | AS4_AGGREGATOR if st.ctx.four_octet_as => {}
        // RFC 6793 §6 (as RFC 7606 §7 leaves it): a malformed AS4_PATH is
        // discarded; so is one with confederation segments (RFC 6793 §3).
        AS4_PATH => match as_path::decode(value, 4) {
            Ok(p)
                if p.segments
                    .iter()
                    .all(|s| matches!(s.kind, SegmentType::Sequence | SegmentType::Set)) =>
            {
                st.as4_path = Some(p)
            }
            Ok(_) => st.discard(code, at, "AS4_PATH has confederation segments"),
            Err(why) => st.discard(code, at, why),
        },
        // RFC 6793 §6: AS4_AGGREGATOR of length other than 8 is discarded.
        AS4_AGGREGATOR if value.len() == 8 => {
            st.as4_aggregator = Some(Aggregator {
                asn: be32(value),
                address: Ipv4Addr::from(be32(&value[4..])),
            });
        }
        AS4_AGGREGATOR => st.discard(code, at, "AS4_AGGREGATOR length is not 8"),
        // RFC 8092 §6: LARGE_COMMUNITIES of length 0 or not a multiple of
        // 12 is treat-as-withdraw.
        LARGE_COMMUNITIES if !value.is_empty() && value.len().is_multiple_of(12) => {
            st.rare.large_communities = value
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global: be32(c),
                    local1: be32(&c[4..]),
                    local2: be32(&c[8..]),
                })
                .collect();
        }
        LARGE_COMMUNITIES => {
            st.withdraw(code, at, "LARGE_COMMUNITIES length is not a multiple of 12")
        }
        // RFC 9234 §5: OTC of length other than 4 is treat-as-withdraw.
        OTC if value.len() == 4 => st.rare.otc = Some(be32(value)),
        OTC => st.withdraw(code, at, "OTC length is not 4"),
        _ => {}
    }
    Ok(())
}

/// An attribute we have no decoder for (RFC 4271 §5, §6.3).
fn unknown(st: &mut State<'_>, attr: Found<'_>) -> Result<(), DecodeError> {
    let Found { flags, code, .. } = attr;
    if flags & OPTIONAL == 0 {
        // RFC 4271 §6.3, unchanged by RFC 7606: Unrecognized Well-known
        // Attribute, with the attribute as data.
        return Err(DecodeError::new(
            attr.at,
            DecodeErrorKind::UnrecognizedWellKnownAttribute {
                code,
                attribute: st.msg.slice_ref(attr.whole),
            },
        ));
    }
    if flags & TRANSITIVE != 0 {
        // RFC 4271 §5: passed on with the Partial bit set.
        st.any = true;
        st.rare.unknown.push(RawAttribute {
            flags: (flags | PARTIAL) & !EXTENDED_LENGTH & 0xf0,
            code,
            value: st.msg.slice_ref(attr.value),
        });
    }
    // Unknown optional non-transitive: quietly ignored (RFC 4271 §5).
    Ok(())
}

fn family_of(afi: Afi, safi: Safi) -> Option<()> {
    match (afi, safi) {
        (Afi::Ipv4 | Afi::Ipv6, Safi::Unicast | Safi::Multicast) => Some(()),
        _ => None,
    }
}

fn decode_prefixes(afi: Afi, field: &[u8]) -> Result<Vec<IpNet>, &'static str> {
    Ok(match afi {
        Afi::Ipv4 => nlri::decode_v4(field)?.into_iter().map(IpNet::V4).collect(),
        _ => nlri::decode_v6(field)?.into_iter().map(IpNet::V6).collect(),
    })
}

/// MP_REACH_NLRI (RFC 4760 §3).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Length of Next Hop Network Address (1 octet)            |
/// +---------------------------------------------------------+
/// | Network Address of Next Hop (variable)                  |
/// +---------------------------------------------------------+
/// | Reserved (1 octet)                                      |
/// +---------------------------------------------------------+
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
fn mp_reach(st: &mut State<'_>, attr: Found<'_>) -> Result<(), DecodeError> {
    let Found { value, at, .. } = attr;
    let (afi, safi) = mp_family(value);
    // RFC 7606 §7.11: when the next hop length is inconsistent or the NLRI
    // do not parse, the NLRI cannot be located reliably: "session reset" or
    // "AFI/SAFI disable".
    let fail = |reason| attr.malformed_mp(st.msg.slice_ref(attr.whole), (afi, safi), reason);
    let [_, _, _, nh_len, rest @ ..] = value else {
        return Err(fail("MP_REACH_NLRI shorter than its fixed fields"));
    };
    let Some((nh, rest)) = rest.split_at_checked(*nh_len as usize) else {
        return Err(fail("next hop overruns MP_REACH_NLRI"));
    };
    let Some((_reserved, nlri_field)) = rest.split_first() else {
        return Err(fail("MP_REACH_NLRI has no reserved octet"));
    };
    if family_of(afi, safi).is_none() {
        // Not a family we negotiate; nothing to hand up.
        st.discard(
            MP_REACH_NLRI,
            at,
            "MP_REACH_NLRI for an unsupported AFI/SAFI",
        );
        return Ok(());
    }
    let v6 = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or([0; 16]));
    let next_hop = match (afi, nh.len()) {
        (Afi::Ipv4, 4) => MpNextHop {
            global: IpAddr::V4(Ipv4Addr::from(be32(nh))),
            link_local: None,
        },
        // RFC 2545 §3 and RFC 8950 §3: IPv6 global, optionally followed by
        // a link-local address; RFC 8950 allows it for IPv4 NLRI too.
        (Afi::Ipv4 | Afi::Ipv6, 16) => MpNextHop {
            global: IpAddr::V6(v6(nh)),
            link_local: None,
        },
        (Afi::Ipv4 | Afi::Ipv6, 32) => MpNextHop {
            global: IpAddr::V6(v6(&nh[..16])),
            link_local: Some(v6(&nh[16..])),
        },
        _ => return Err(fail("next hop length inconsistent with AFI")),
    };
    let nlri = decode_prefixes(afi, nlri_field).map_err(fail)?;
    st.out.mp_reach = Some(MpReach {
        afi,
        safi,
        next_hop,
        nlri,
    });
    Ok(())
}

/// The AFI and SAFI that open MP_REACH_NLRI and MP_UNREACH_NLRI, as far as
/// a short value has them (the error for it names what there is).
fn mp_family(value: &[u8]) -> (Afi, Safi) {
    let afi = match value {
        [a, b, ..] => u16::from_be_bytes([*a, *b]).into(),
        _ => Afi::Unknown(0),
    };
    (afi, value.get(2).copied().unwrap_or(0).into())
}

impl Found<'_> {
    /// This MP_REACH_NLRI or MP_UNREACH_NLRI (`attribute`, as part of the
    /// message) does not parse.
    fn malformed_mp(
        &self,
        attribute: Bytes,
        (afi, safi): (Afi, Safi),
        reason: &'static str,
    ) -> DecodeError {
        DecodeError::new(
            self.at,
            DecodeErrorKind::MalformedMpAttribute {
                code: self.code,
                afi,
                safi,
                attribute,
                reason,
            },
        )
    }
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Withdrawn Routes (variable)                             |
/// +---------------------------------------------------------+
/// ```
fn mp_unreach(st: &mut State<'_>, attr: Found<'_>) -> Result<(), DecodeError> {
    let Found { value, at, .. } = attr;
    let (afi, safi) = mp_family(value);
    // RFC 7606 §7.12: an MP_UNREACH_NLRI that does not parse is "session
    // reset" or "AFI/SAFI disable".
    let fail = |reason| attr.malformed_mp(st.msg.slice_ref(attr.whole), (afi, safi), reason);
    let [_, _, _, field @ ..] = value else {
        return Err(fail("MP_UNREACH_NLRI shorter than its fixed fields"));
    };
    let withdrawn = if family_of(afi, safi).is_some() {
        decode_prefixes(afi, field).map_err(fail)?
    } else if field.is_empty() {
        // Still worth reporting: an End-of-RIB marker (RFC 4724 §2).
        Vec::new()
    } else {
        st.discard(
            MP_UNREACH_NLRI,
            at,
            "MP_UNREACH_NLRI for an unsupported AFI/SAFI",
        );
        return Ok(());
    };
    st.out.mp_unreach = Some(MpUnreach {
        afi,
        safi,
        withdrawn,
    });
    Ok(())
}

/// Appends one attribute, choosing the extended length form only when the
/// value needs it.
fn put_attr(out: &mut BytesMut, flags: u8, code: u8, value: &[u8]) -> Result<(), EncodeError> {
    let flags = flags & !EXTENDED_LENGTH & 0xf0;
    if value.len() > 255 {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::AttributeTooLong {
            code,
            len: value.len(),
        })?;
        out.put_u8(flags | EXTENDED_LENGTH);
        out.put_u8(code);
        out.put_u16(len);
    } else {
        out.put_u8(flags);
        out.put_u8(code);
        out.put_u8(value.len() as u8);
    }
    out.put_slice(value);
    Ok(())
}

fn check_family(afi: Afi, prefixes: &[IpNet]) -> Result<(), EncodeError> {
    for p in prefixes {
        let ok = matches!(
            (afi, p),
            (Afi::Ipv4, IpNet::V4(_)) | (Afi::Ipv6, IpNet::V6(_))
        );
        if !ok {
            return Err(EncodeError::PrefixFamily { prefix: *p, afi });
        }
    }
    Ok(())
}

/// The value of an MP_REACH_NLRI attribute.
pub(super) fn mp_reach_value(r: &MpReach, out: &mut BytesMut) -> Result<(), EncodeError> {
    check_family(r.afi, &r.nlri)?;
    out.put_u16(r.afi.into());
    out.put_u8(r.safi.into());
    match (r.afi, r.next_hop.global, r.next_hop.link_local) {
        (Afi::Ipv4, IpAddr::V4(a), None) => {
            out.put_u8(4);
            out.put_slice(&a.octets());
        }
        (Afi::Ipv4 | Afi::Ipv6, IpAddr::V6(g), ll) => {
            out.put_u8(if ll.is_some() { 32 } else { 16 });
            out.put_slice(&g.octets());
            if let Some(ll) = ll {
                out.put_slice(&ll.octets());
            }
        }
        _ => return Err(EncodeError::NextHopFamily(r.afi)),
    }
    out.put_u8(0);
    for p in &r.nlri {
        nlri::encode(p, out);
    }
    Ok(())
}

/// Encodes the whole Path Attributes field: MP_UNREACH_NLRI and
/// MP_REACH_NLRI first (RFC 7606 §5.1), then the rest in ascending type
/// order (RFC 4271 §5).
pub(super) fn encode(
    out: &mut BytesMut,
    attrs: Option<&PathAttributes>,
    next_hop: Option<Ipv4Addr>,
    mp_reach: Option<&MpReach>,
    mp_unreach: Option<&MpUnreach>,
    ctx: &Ctx,
) -> Result<(), EncodeError> {
    let mut v = BytesMut::new();
    if let Some(u) = mp_unreach {
        check_family(u.afi, &u.withdrawn)?;
        v.put_u16(u.afi.into());
        v.put_u8(u.safi.into());
        for p in &u.withdrawn {
            nlri::encode(p, &mut v);
        }
        put_attr(out, OPTIONAL, MP_UNREACH_NLRI, &v)?;
    }
    if let Some(r) = mp_reach {
        v.clear();
        mp_reach_value(r, &mut v)?;
        put_attr(out, OPTIONAL, MP_REACH_NLRI, &v)?;
    }

    // (code, flags, value) for everything else, sorted by code so unknown
    // attributes fall in their place.
    let mut list: Vec<(u8, u8, Bytes)> = Vec::new();
    if let Some(nh) = next_hop {
        list.push((NEXT_HOP, WELL_KNOWN, Bytes::copy_from_slice(&nh.octets())));
    }
    if let Some(a) = attrs {
        encode_path_attributes(a, ctx, &mut list)?;
    }
    list.sort_by_key(|(code, _, _)| *code);
    for (code, flags, value) in &list {
        put_attr(out, *flags, *code, value)?;
    }
    Ok(())
}

fn encode_path_attributes(
    a: &PathAttributes,
    ctx: &Ctx,
    list: &mut Vec<(u8, u8, Bytes)>,
) -> Result<(), EncodeError> {
    let u32v = |x: u32| Bytes::copy_from_slice(&x.to_be_bytes());
    list.push((
        ORIGIN,
        WELL_KNOWN,
        Bytes::copy_from_slice(&[a.origin as u8]),
    ));

    let mut v = BytesMut::new();
    as_path::encode(&a.as_path, ctx.four_octet_as, &mut v)?;
    list.push((AS_PATH, WELL_KNOWN, v.split().freeze()));
    if !ctx.four_octet_as && as_path::needs_as4(&a.as_path) {
        // RFC 6793 §4.2.2: the real path in AS4_PATH, without
        // confederation segments (RFC 6793 §3).
        let real = AsPath {
            segments: a
                .as_path
                .segments
                .iter()
                .filter(|s| matches!(s.kind, SegmentType::Sequence | SegmentType::Set))
                .cloned()
                .collect(),
        };
        as_path::encode(&real, true, &mut v)?;
        list.push((AS4_PATH, OPTIONAL_TRANSITIVE, v.split().freeze()));
    }
    if let Some(med) = a.med {
        list.push((MULTI_EXIT_DISC, OPTIONAL, u32v(med)));
    }
    if let Some(lp) = a.local_pref {
        list.push((LOCAL_PREF, WELL_KNOWN, u32v(lp)));
    }
    if a.atomic_aggregate {
        list.push((ATOMIC_AGGREGATE, WELL_KNOWN, Bytes::new()));
    }
    if let Some(agg) = a.aggregator() {
        if ctx.four_octet_as {
            v.put_u32(agg.asn);
        } else {
            v.put_u16(u16::try_from(agg.asn).unwrap_or(AS_TRANS));
            if agg.asn > u16::MAX as u32 {
                // RFC 6793 §4.2.2: the real aggregator in AS4_AGGREGATOR.
                let mut v4 = BytesMut::new();
                v4.put_u32(agg.asn);
                v4.put_slice(&agg.address.octets());
                list.push((AS4_AGGREGATOR, OPTIONAL_TRANSITIVE, v4.freeze()));
            }
        }
        v.put_slice(&agg.address.octets());
        list.push((AGGREGATOR, OPTIONAL_TRANSITIVE, v.split().freeze()));
    }
    if !a.communities.is_empty() {
        for c in &a.communities {
            v.put_u32(c.0);
        }
        list.push((COMMUNITIES, OPTIONAL_TRANSITIVE, v.split().freeze()));
    }
    if !a.ext_communities().is_empty() {
        for c in a.ext_communities() {
            v.put_slice(c);
        }
        list.push((
            EXTENDED_COMMUNITIES,
            OPTIONAL_TRANSITIVE,
            v.split().freeze(),
        ));
    }
    if !a.large_communities().is_empty() {
        for c in a.large_communities() {
            v.put_u32(c.global);
            v.put_u32(c.local1);
            v.put_u32(c.local2);
        }
        list.push((LARGE_COMMUNITIES, OPTIONAL_TRANSITIVE, v.split().freeze()));
    }
    if let Some(otc) = a.otc() {
        list.push((OTC, OPTIONAL_TRANSITIVE, u32v(otc)));
    }
    for raw in a.unknown() {
        list.push((raw.code, raw.flags, raw.value.clone()));
    }
    Ok(())
}
