//! A synthetic full table: deterministic (seeded) IPv4 and IPv6 prefixes with
//! a realistic length mix, many distinct AS paths and communities, pre-encoded
//! into one byte stream of UPDATEs with the `bgp` crate's encoder so that the
//! sender only has to `write()` it.
//!
//! Shape, per the full-table issue: IPv4 mostly /24 with some /16–/23, IPv6
//! mostly /48 with some /32–/44; `per_update` prefixes (3 by default) per
//! UPDATE, and every UPDATE has its own attribute set (AS path of length
//! 2–8 starting with the sender's AS, origin AS from a pool of ~75k, 0–4
//! standard communities, some large communities, some MEDs). Prefixes are
//! sent in address order, as a router dumping its table does.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    Afi, AsPath, AsSegment, Community, Ctx, LargeCommunity, MpNextHop, Origin, PathAttributes,
    Safi, SegmentType, encode_announce, end_of_rib,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// IPv4 unicast prefixes.
    pub v4: usize,
    /// IPv6 unicast prefixes.
    pub v6: usize,
    /// PRNG seed; the same spec always gives the same bytes.
    pub seed: u64,
    /// The sender's AS: first AS of every path (receivers check it, RFC 4271
    /// §6.3 / wgbgpd's first-AS rule) and the high half of its communities.
    pub sender_asn: u32,
    /// Prefixes per UPDATE (3 in the reference run).
    pub per_update: usize,
    /// NEXT_HOP of IPv4 routes.
    pub next_hop_v4: Ipv4Addr,
    /// MP_REACH_NLRI next hop of IPv6 routes (global only).
    pub next_hop_v6: Ipv6Addr,
}

/// The generated table and its encoding.
pub struct Table {
    pub spec: TableSpec,
    /// IPv4 prefixes in the order sent (sorted, distinct).
    pub v4: Vec<Ipv4Net>,
    /// IPv6 prefixes in the order sent (sorted, distinct).
    pub v6: Vec<Ipv6Net>,
    /// Every UPDATE, back to back, then End-of-RIB for IPv4 and IPv6.
    pub stream: Vec<u8>,
    /// UPDATEs carrying routes (End-of-RIB markers not counted).
    pub updates: usize,
    /// Distinct attribute sets among them.
    pub attribute_sets: usize,
}

impl Table {
    /// Every prefix of the table, IPv4 then IPv6.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        let v4 = self.v4.iter().map(|p| IpNet::V4(*p));
        v4.chain(self.v6.iter().map(|p| IpNet::V6(*p)))
    }
}

/// splitmix64: small, fast and good enough to spread prefixes and paths.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Picks an index by integer weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as u64) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// IPv4 lengths /16../24 and their weights (percent): mostly /24.
const V4_LENS: [u8; 9] = [16, 17, 18, 19, 20, 21, 22, 23, 24];
const V4_WEIGHTS: [u32; 9] = [3, 1, 2, 4, 5, 6, 11, 10, 58];
/// IPv6 lengths and weights: mostly /48, some /32–/44.
const V6_LENS: [u8; 8] = [32, 33, 34, 36, 40, 44, 46, 48];
const V6_WEIGHTS: [u32; 8] = [11, 1, 1, 4, 9, 12, 2, 60];

/// True for IPv4 space that never appears in a transit feed (and so cannot
/// collide with the benchmark's own link addresses in 10/8 or fd00::/8).
fn v4_reserved(a: u32) -> bool {
    let o = a.to_be_bytes();
    matches!(o[0], 0 | 10 | 127)
        || o[0] >= 224
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 198 && (18..20).contains(&o[1]))
}

/// `n` distinct IPv4 prefixes, sorted.
pub fn gen_v4(rng: &mut Rng, n: usize) -> Vec<Ipv4Net> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = V4_LENS[rng.weighted(&V4_WEIGHTS)];
        let addr = (rng.next_u64() as u32) & (u32::MAX << (32 - len));
        if v4_reserved(addr) || !seen.insert((addr, len)) {
            continue;
        }
        out.push(Ipv4Net::new(Ipv4Addr::from(addr), len).expect("len <= 32"));
    }
    out.sort();
    out
}

/// `n` distinct IPv6 prefixes in 2001::/16–2c0f::/16 (where RIRs allocate),
/// sorted.
pub fn gen_v6(rng: &mut Rng, n: usize) -> Vec<Ipv6Net> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = V6_LENS[rng.weighted(&V6_WEIGHTS)];
        let top = 0x2001 + rng.below(0x2c0f - 0x2001 + 1) as u128;
        let low = (rng.next_u64() as u128) << 48;
        let addr = ((top << 112) | low) & (u128::MAX << (128 - len));
        if !seen.insert((addr, len)) {
            continue;
        }
        out.push(Ipv6Net::new(Ipv6Addr::from(addr), len).expect("len <= 128"));
    }
    out.sort();
    out
}

/// A random ASN as seen in today's table: 60% 2-octet public, 40% 4-octet.
fn public_asn(rng: &mut Rng, pool: u64) -> u32 {
    let i = rng.below(pool) as u32;
    if i % 5 < 3 {
        // 1..64495, skipping AS_TRANS.
        let a = 1 + (i.wrapping_mul(2_654_435_761) % 64_494);
        if a == 23_456 { 23_457 } else { a }
    } else {
        131_072 + (i.wrapping_mul(2_246_822_519) % 270_000)
    }
}

/// One attribute set: path `sender, transit..., origin(, origin...)`.
pub fn gen_attributes(rng: &mut Rng, sender_asn: u32) -> PathAttributes {
    // Path lengths 2..=8, weighted like a transit view of the Internet.
    let len = 2 + rng.weighted(&[10, 25, 30, 18, 9, 5, 3]);
    let mut asns = Vec::with_capacity(len + 2);
    asns.push(sender_asn);
    // Tier-1/transit hops from a small pool, then regional ones.
    for i in 1..len - 1 {
        let pool = if i == 1 { 40 } else { 6_000 };
        asns.push(public_asn(rng, pool));
    }
    let origin_as = public_asn(rng, 75_000);
    asns.push(origin_as);
    // Some origins prepend.
    if rng.below(100) < 6 {
        for _ in 0..1 + rng.below(3) {
            asns.push(origin_as);
        }
    }
    let communities = (0..rng.weighted(&[25, 20, 25, 20, 10]))
        .map(|_| Community(((sender_asn & 0xffff) << 16) | (1_000 + rng.below(3_000) as u32)))
        .collect();
    let large_communities = if rng.below(100) < 20 {
        vec![LargeCommunity {
            global: sender_asn,
            local1: 1 + rng.below(10) as u32,
            local2: origin_as,
        }]
    } else {
        Vec::new()
    };
    PathAttributes {
        origin: if rng.below(100) < 88 {
            Origin::Igp
        } else {
            Origin::Incomplete
        },
        as_path: AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }]
            .into(),
        },
        med: (rng.below(100) < 30).then(|| rng.below(1_000) as u32),
        communities,
        rare: bgp::wire::RareAttributes {
            large_communities,
            ..Default::default()
        }
        .boxed(),
        ..PathAttributes::default()
    }
}

/// The codec settings every receiver negotiates with our sender (it offers
/// 4-octet ASNs and no Extended Message).
pub fn ctx() -> Ctx {
    Ctx {
        four_octet_as: true,
        extended_message: false,
    }
}

/// Generates and encodes the table.
pub fn generate(spec: &TableSpec) -> Table {
    assert!(spec.per_update > 0, "per_update must be at least 1");
    let mut rng = Rng::new(spec.seed);
    let v4 = gen_v4(&mut rng, spec.v4);
    let v6 = gen_v6(&mut rng, spec.v6);
    let ctx = ctx();
    let mut stream = Vec::with_capacity((v4.len() + v6.len()) * 30);
    let mut sets = HashSet::new();
    let mut updates = 0;
    let next_hop = |global| MpNextHop {
        global,
        link_local: None,
    };
    let (nh4, nh6) = (
        next_hop(IpAddr::V4(spec.next_hop_v4)),
        next_hop(IpAddr::V6(spec.next_hop_v6)),
    );
    // All of IPv4, then all of IPv6, `per_update` prefixes an UPDATE.
    let v4_chunks = v4.chunks(spec.per_update).map(|c| {
        let chunk: Vec<IpNet> = c.iter().map(|p| IpNet::V4(*p)).collect();
        (Afi::Ipv4, nh4, chunk)
    });
    let v6_chunks = v6.chunks(spec.per_update).map(|c| {
        let chunk: Vec<IpNet> = c.iter().map(|p| IpNet::V6(*p)).collect();
        (Afi::Ipv6, nh6, chunk)
    });
    for (afi, nh, chunk) in v4_chunks.chain(v6_chunks) {
        let attrs = gen_attributes(&mut rng, spec.sender_asn);
        let msgs = encode_announce(&attrs, &nh, afi, &chunk, &ctx);
        assert_eq!(
            msgs.len(),
            1,
            "{} prefixes did not fit one UPDATE",
            chunk.len()
        );
        stream.extend_from_slice(&msgs[0]);
        sets.insert(attrs);
        updates += 1;
    }
    let attribute_sets = sets.len();
    stream.extend_from_slice(&end_of_rib(Afi::Ipv4, Safi::Unicast, &ctx));
    stream.extend_from_slice(&end_of_rib(Afi::Ipv6, Safi::Unicast, &ctx));
    Table {
        spec: *spec,
        v4,
        v6,
        stream,
        updates,
        attribute_sets,
    }
}

/// Offsets where whole messages end in `stream`, cut so that each piece
/// is at most `max` octets (a single larger message stays whole). Lets the
/// sender interleave KEEPALIVEs between pieces.
pub fn split_at_messages(stream: &[u8], max: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let (mut at, mut piece_start) = (0, 0);
    while at + 19 <= stream.len() {
        let len = u16::from_be_bytes([stream[at + 16], stream[at + 17]]) as usize;
        if at + len - piece_start > max && at > piece_start {
            cuts.push(at);
            piece_start = at;
        }
        at += len;
    }
    cuts.push(stream.len());
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v4: usize, v6: usize) -> TableSpec {
        TableSpec {
            v4,
            v6,
            seed: 7,
            sender_asn: 64_600,
            per_update: 3,
            next_hop_v4: Ipv4Addr::new(10, 0, 0, 1),
            next_hop_v6: "fd00::1".parse().unwrap(),
        }
    }

    #[test]
    fn generation_is_deterministic_and_decodes_back() {
        let a = generate(&spec(3_000, 600));
        let b = generate(&spec(3_000, 600));
        assert_eq!(a.stream, b.stream);
        assert_eq!(a.updates, 1_000 + 200);
        assert!(a.attribute_sets > 1_150, "{} sets", a.attribute_sets);
        let share24 = a.v4.iter().filter(|p| p.prefix_len() == 24).count();
        assert!((1_500..2_100).contains(&share24), "{share24} /24s");
        let ctx = ctx();
        let (mut v4, mut v6, mut at) = (Vec::new(), Vec::new(), 0);
        while at < a.stream.len() {
            let len = bgp::wire::frame(&a.stream[at..], &ctx).unwrap().unwrap();
            let msg = a.stream[at..at + len].to_vec().into();
            match bgp::wire::decode(&msg, &ctx).unwrap() {
                bgp::wire::Message::Update(u) => {
                    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
                    if let Some(attrs) = &u.attributes {
                        assert_eq!(attrs.as_path.first(), Some(64_600));
                        assert!((2..=11).contains(&attrs.as_path.len()));
                    }
                    v4.extend(u.nlri);
                    if let Some(mp) = u.mp_reach {
                        v6.extend(mp.nlri.into_iter().map(|p| match p {
                            IpNet::V6(p) => p,
                            IpNet::V4(p) => panic!("IPv4 {p} in MP_REACH"),
                        }));
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
            at += len;
        }
        assert_eq!(v4, a.v4);
        assert_eq!(v6, a.v6);
    }

    #[test]
    fn pieces_end_on_message_boundaries() {
        let t = generate(&spec(900, 0));
        let cuts = split_at_messages(&t.stream, 4_096);
        assert_eq!(*cuts.last().unwrap(), t.stream.len());
        let mut start = 0;
        for c in cuts {
            assert!(c - start <= 4_096);
            let first = bgp::wire::frame(&t.stream[start..], &ctx()).unwrap();
            assert!(
                first.is_some(),
                "piece at {start} does not start with a message"
            );
            start = c;
        }
    }
}
