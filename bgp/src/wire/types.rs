//! The decoded form of BGP-4 messages (RFC 4271 §4) and their parts.
//!
//! These are plain values: `decode` builds them from bytes, `encode` writes
//! them back, and every other layer (FSM, RIB, CLI) works on them. Path
//! attributes that describe a route (everything but NEXT_HOP and the
//! MP_REACH/MP_UNREACH carriers) live in [`PathAttributes`], which is
//! `Hash + Eq` so the RIB can intern identical sets across prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net};

use super::iana::{Afi, RouteRefreshSubtype, Safi};

/// One BGP message (RFC 4271 §4.1 header type).
// UPDATE is by far the most common message, so boxing it to shrink the
// others would add an allocation where it matters most.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    /// RFC 2918 ROUTE-REFRESH (subtype per RFC 7313 in `subtype`).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The header type code (RFC 4271 §4.1, RFC 2918).
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => 1,
            Message::Update(_) => 2,
            Message::Notification(_) => 3,
            Message::Keepalive => 4,
            Message::RouteRefresh(_) => 5,
        }
    }
}

/// OPEN (RFC 4271 §4.2). `my_as` is the 2-octet field on the wire
/// (AS_TRANS 23456 when the real ASN needs 4 octets); use [`Open::asn`] for
/// the speaker's real ASN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// Capabilities from all Capabilities optional parameters (RFC 5492),
    /// in wire order.
    pub capabilities: Vec<Capability>,
}

/// AS_TRANS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

impl Open {
    /// The speaker's ASN: the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(self.my_as as u32)
    }

    pub fn has(&self, pred: impl Fn(&Capability) -> bool) -> bool {
        self.capabilities.iter().any(pred)
    }

    /// Address families announced with the Multiprotocol capability.
    pub fn families(&self) -> Vec<(Afi, Safi)> {
        self.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol { afi, safi } => Some((*afi, *safi)),
                _ => None,
            })
            .collect()
    }
}

/// A capability (RFC 5492) in an OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Code 1, RFC 4760.
    Multiprotocol { afi: Afi, safi: Safi },
    /// Code 2, RFC 2918.
    RouteRefresh,
    /// Code 5, RFC 8950: (NLRI AFI, NLRI SAFI, next-hop AFI) triples.
    ExtendedNextHop(Vec<(Afi, Safi, Afi)>),
    /// Code 6, RFC 8654.
    ExtendedMessage,
    /// Code 64, RFC 4724: restart flags + time, then per-AFI/SAFI flags.
    GracefulRestart {
        /// R bit: the sender has restarted.
        restart_state: bool,
        /// N bit (RFC 8538 §2): the sender does graceful restart for
        /// NOTIFICATION messages too.
        notification: bool,
        restart_time: u16,
        families: Vec<(Afi, Safi, bool)>,
    },
    /// Code 65, RFC 6793.
    FourOctetAs(u32),
    /// Code 69, RFC 7911: (AFI, SAFI, send/receive bits).
    AddPath(Vec<(Afi, Safi, u8)>),
    /// Code 70, RFC 7313.
    EnhancedRouteRefresh,
    /// Code 73, draft-walton-bgp-hostname-capability (as FRR sends it).
    Fqdn { hostname: String, domain: String },
    /// Any other code, kept as bytes; unknown capabilities are ignored, not fatal.
    Unknown { code: u8, value: Bytes },
}

/// UPDATE (RFC 4271 §4.3) with MP-BGP (RFC 4760) reach/unreach split out.
///
/// `attributes` holds the route's path attributes; NEXT_HOP is in
/// `next_hop` because it is per family and per peer, not part of the
/// shareable attribute set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn Routes field (IPv4 unicast).
    pub withdrawn: Vec<Ipv4Net>,
    /// Present when the UPDATE carries any path attribute.
    pub attributes: Option<PathAttributes>,
    /// NEXT_HOP attribute (type 3) for the IPv4 NLRI field.
    pub next_hop: Option<Ipv4Addr>,
    /// NLRI field (IPv4 unicast).
    pub nlri: Vec<Ipv4Net>,
    /// MP_REACH_NLRI (type 14).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (type 15).
    pub mp_unreach: Option<MpUnreach>,
    /// RFC 7606 §2: when set, every NLRI in this UPDATE (both the NLRI field
    /// and MP_REACH) must be handled as withdrawn; the value says why.
    pub treat_as_withdraw: Option<AttributeError>,
    /// RFC 7606 §2 attribute-discard: attributes that were malformed and
    /// dropped; the UPDATE is otherwise processed normally.
    pub discarded: Vec<AttributeError>,
}

impl Update {
    /// RFC 7606 §7.5: a LOCAL_PREF from an external neighbor is handled by
    /// "attribute discard", malformed or not. The decoder applies the
    /// internal rule (treat-as-withdraw for a length other than 4) and lets
    /// any other treat-as-withdraw reason take precedence, so a LOCAL_PREF
    /// reason here was the only one: it becomes a discard. A session with
    /// an external peer calls this on every UPDATE it receives.
    pub fn apply_external_peer_rules(&mut self) {
        // LOCAL_PREF is type code 5 (RFC 4271 §5.1.5).
        if let Some(e) = self.treat_as_withdraw.take_if(|e| e.code == 5) {
            self.discarded.push(e);
        }
        if let Some(a) = &mut self.attributes {
            a.local_pref = None;
        }
    }

    /// An UPDATE with no routes and no withdrawals is an End-of-RIB marker
    /// for IPv4 unicast (RFC 4724 §2); an empty MP_UNREACH is one for its family.
    pub fn end_of_rib(&self) -> Option<(Afi, Safi)> {
        if self.withdrawn.is_empty() && self.nlri.is_empty() && self.mp_reach.is_none() {
            match (&self.attributes, &self.mp_unreach) {
                (None, None) => return Some((Afi::Ipv4, Safi::Unicast)),
                (Some(_), Some(u)) | (None, Some(u)) if u.withdrawn.is_empty() => {
                    return Some((u.afi, u.safi));
                }
                _ => {}
            }
        }
        None
    }
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    pub afi: Afi,
    pub safi: Safi,
    pub next_hop: MpNextHop,
    pub nlri: Vec<IpNet>,
}

/// The next hop field of MP_REACH_NLRI: one global address, and for IPv6
/// optionally a link-local one (RFC 2545 §3, length 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpNextHop {
    pub global: IpAddr,
    pub link_local: Option<Ipv6Addr>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    pub afi: Afi,
    pub safi: Safi,
    pub withdrawn: Vec<IpNet>,
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    #[default]
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 for the confed ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// The segments of an AS_PATH: nearly always one AS_SEQUENCE, held inline
/// (a full table keeps a few hundred thousand distinct AS paths).
pub type Segments = smallvec::SmallVec<[AsSegment; 1]>;

/// AS_PATH (RFC 4271 §5.1.2), always held with 4-octet ASNs; the codec
/// converts for 2-octet sessions (RFC 6793 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    pub segments: Segments,
}

impl AsPath {
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: smallvec::smallvec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2 a): an AS_SET
    /// counts 1, confederation segments count 0 (RFC 5065 §5.3).
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// The first AS of the leftmost AS_SEQUENCE: the neighbour AS.
    pub fn first(&self) -> Option<u32> {
        self.segments
            .first()
            .filter(|s| s.kind == SegmentType::Sequence)?
            .asns
            .first()
            .copied()
    }

    /// The origin AS: the last AS of the rightmost AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        self.segments
            .last()
            .filter(|s| s.kind == SegmentType::Sequence)?
            .asns
            .last()
            .copied()
    }

    /// Prepend `asn` `count` times as eBGP export does (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() + count <= 255 => {
                s.asns.splice(0..0, std::iter::repeat_n(asn, count));
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn; count],
                },
            ),
        }
    }
}

impl std::fmt::Display for AsPath {
    /// FRR's text form: `65501 65502 {65503,65504}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list: Vec<String> = seg.asns.iter().map(|a| a.to_string()).collect();
            match seg.kind {
                SegmentType::Sequence => f.write_str(&list.join(" "))?,
                SegmentType::Set => write!(f, "{{{}}}", list.join(","))?,
                SegmentType::ConfedSequence => write!(f, "({})", list.join(" "))?,
                SegmentType::ConfedSet => write!(f, "[{}]", list.join(","))?,
            }
        }
        Ok(())
    }
}

/// AGGREGATOR (RFC 4271 §5.1.7), with a 4-octet ASN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997) as its 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
}

impl std::fmt::Display for Community {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

/// An attribute kept as it came: unknown optional attributes (RFC 4271 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub code: u8,
    pub value: Bytes,
}

/// The attributes that describe a path, shareable between prefixes. A full
/// table holds a few hundred thousand distinct sets, so the attributes most
/// paths lack live in one box (`rare`), absent when they all are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    pub origin: Origin,
    pub atomic_aggregate: bool,
    pub as_path: AsPath,
    /// MULTI_EXIT_DISC (type 4).
    pub med: Option<u32>,
    /// LOCAL_PREF (type 5); only meaningful on iBGP.
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    /// `None` when every one of them is absent (never an empty box, so that
    /// equal sets compare and hash equal): build it with
    /// [`RareAttributes::boxed`].
    pub rare: Option<Box<RareAttributes>>,
}

/// The less common path attributes (see [`PathAttributes::rare`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RareAttributes {
    pub aggregator: Option<Aggregator>,
    /// EXTENDED_COMMUNITIES (RFC 4360), 8 octets each.
    pub ext_communities: Vec<[u8; 8]>,
    pub large_communities: Vec<LargeCommunity>,
    /// Only To Customer (RFC 9234).
    pub otc: Option<u32>,
    /// Unknown optional transitive attributes, carried on with the Partial
    /// bit; unknown non-transitive ones are dropped at decode.
    pub unknown: Vec<RawAttribute>,
}

impl RareAttributes {
    pub fn is_empty(&self) -> bool {
        *self == RareAttributes::default()
    }

    /// The value for [`PathAttributes::rare`]: `None` when empty.
    pub fn boxed(self) -> Option<Box<RareAttributes>> {
        (!self.is_empty()).then(|| Box::new(self))
    }
}

impl PathAttributes {
    pub fn aggregator(&self) -> Option<Aggregator> {
        self.rare.as_ref().and_then(|r| r.aggregator)
    }

    pub fn ext_communities(&self) -> &[[u8; 8]] {
        self.rare.as_ref().map_or(&[], |r| &r.ext_communities)
    }

    pub fn large_communities(&self) -> &[LargeCommunity] {
        self.rare.as_ref().map_or(&[], |r| &r.large_communities)
    }

    pub fn otc(&self) -> Option<u32> {
        self.rare.as_ref().and_then(|r| r.otc)
    }

    /// LARGE_COMMUNITIES for editing (policy `set`); call
    /// [`PathAttributes::shrink_rare`] after, so an emptied set compares
    /// equal to one that never had any.
    pub fn large_communities_mut(&mut self) -> &mut Vec<LargeCommunity> {
        &mut self.rare.get_or_insert_with(Box::default).large_communities
    }

    /// Drops the rare-attribute box when nothing is left in it.
    pub fn shrink_rare(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }

    pub fn unknown(&self) -> &[RawAttribute] {
        self.rare.as_ref().map_or(&[], |r| &r.unknown)
    }
}

/// NOTIFICATION (RFC 4271 §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

/// ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3 subtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: Afi,
    /// Request, BoRR or EoRR (RFC 7313 §3.2).
    pub subtype: RouteRefreshSubtype,
    pub safi: Safi,
}

/// Why an attribute was judged malformed (RFC 7606), for logs and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeError {
    /// Attribute type code.
    pub code: u8,
    /// Byte offset of the attribute within the message.
    pub offset: usize,
    pub reason: &'static str,
}
