//! Property-style tests over generated messages, with a seeded xorshift so
//! failures reproduce: encode → decode gives the value back, decode →
//! encode gives the bytes back, and mutated bytes never panic the decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::tests::{AS2, AS4};
use super::*;

/// xorshift64* (Marsaglia/Vigna): small, deterministic, good enough here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn bytes(&mut self, max: u64) -> Bytes {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| self.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
    fn asn(&mut self) -> u32 {
        if self.chance(50) {
            64512 + self.below(1000) as u32
        } else {
            4_200_000_000 + self.below(1000) as u32
        }
    }
}

fn gen_v4(r: &mut Rng) -> Ipv4Net {
    let len = r.below(33) as u8;
    Ipv4Net::new(Ipv4Addr::from(r.u32()), len).unwrap().trunc()
}

fn gen_v6(r: &mut Rng) -> Ipv6Net {
    let len = r.below(129) as u8;
    let a = ((r.next() as u128) << 64) | r.next() as u128;
    Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()
}

fn gen_family(r: &mut Rng) -> (Afi, Safi) {
    let afi = if r.chance(50) { Afi::Ipv4 } else { Afi::Ipv6 };
    let safi = if r.chance(80) {
        Safi::Unicast
    } else {
        Safi::Multicast
    };
    (afi, safi)
}

fn gen_prefixes(r: &mut Rng, afi: Afi, max: u64) -> Vec<IpNet> {
    (0..r.below(max + 1))
        .map(|_| match afi {
            Afi::Ipv4 => IpNet::V4(gen_v4(r)),
            _ => IpNet::V6(gen_v6(r)),
        })
        .collect()
}

fn gen_capability(r: &mut Rng) -> Capability {
    let fam = |r: &mut Rng| gen_family(r);
    match r.below(10) {
        0 => {
            let (afi, safi) = fam(r);
            Capability::Multiprotocol { afi, safi }
        }
        1 => Capability::RouteRefresh,
        2 => Capability::ExtendedNextHop(
            (0..r.below(3))
                .map(|_| (Afi::Ipv4, fam(r).1, Afi::Ipv6))
                .collect(),
        ),
        3 => Capability::ExtendedMessage,
        4 => Capability::GracefulRestart {
            restart_state: r.chance(50),
            notification: r.chance(50),
            restart_time: r.below(4096) as u16,
            families: (0..r.below(3))
                .map(|_| {
                    let (a, s) = fam(r);
                    (a, s, r.chance(50))
                })
                .collect(),
        },
        5 => Capability::FourOctetAs(r.asn()),
        6 => Capability::AddPath(
            (0..r.below(3))
                .map(|_| {
                    let (a, s) = fam(r);
                    (a, s, r.below(4) as u8)
                })
                .collect(),
        ),
        7 => Capability::EnhancedRouteRefresh,
        8 => Capability::Fqdn {
            hostname: format!("host{}", r.below(1000)),
            domain: if r.chance(50) {
                String::new()
            } else {
                "example.net".into()
            },
        },
        _ => Capability::Unknown {
            code: 128 + r.below(100) as u8,
            value: r.bytes(20),
        },
    }
}

fn gen_open(r: &mut Rng) -> Open {
    let hold = r.below(600) as u16;
    Open {
        version: 4,
        my_as: r.below(65536) as u16,
        hold_time: if hold == 1 || hold == 2 { 0 } else { hold },
        bgp_id: Ipv4Addr::from(r.u32() | 1),
        capabilities: (0..r.below(8)).map(|_| gen_capability(r)).collect(),
    }
}

fn gen_as_path(r: &mut Rng, ctx: &Ctx) -> AsPath {
    let segments = (0..r.below(4))
        .map(|_| {
            let kind = match r.below(if ctx.four_octet_as { 4 } else { 2 }) {
                0 => SegmentType::Sequence,
                1 => SegmentType::Set,
                2 => SegmentType::ConfedSequence,
                _ => SegmentType::ConfedSet,
            };
            AsSegment {
                kind,
                asns: (0..1 + r.below(6)).map(|_| r.asn()).collect(),
            }
        })
        .collect();
    AsPath { segments }
}

fn gen_attributes(r: &mut Rng, ctx: &Ctx) -> PathAttributes {
    let as_path = gen_as_path(r, ctx);
    let mut aggregator = r.chance(20).then(|| Aggregator {
        asn: r.asn(),
        address: Ipv4Addr::from(r.u32()),
    });
    // RFC 6793 §4.2.3: a 2-octet AGGREGATOR other than AS_TRANS makes the
    // receiver ignore AS4_PATH, so such a value cannot round-trip.
    if let Some(agg) = &mut aggregator
        && !ctx.four_octet_as
        && agg.asn <= 65535
        && as_path
            .segments
            .iter()
            .flat_map(|s| &s.asns)
            .any(|&a| a > 65535)
    {
        agg.asn = 4_200_000_000;
    }
    PathAttributes {
        origin: [Origin::Igp, Origin::Egp, Origin::Incomplete][r.below(3) as usize],
        as_path,
        med: r.chance(50).then(|| r.u32()),
        local_pref: r.chance(30).then(|| r.u32()),
        atomic_aggregate: r.chance(10),
        communities: (0..r.below(5)).map(|_| Community(r.u32())).collect(),
        rare: RareAttributes {
            aggregator,
            ext_communities: (0..r.below(3)).map(|_| r.next().to_be_bytes()).collect(),
            large_communities: (0..r.below(3))
                .map(|_| LargeCommunity {
                    global: r.u32(),
                    local1: r.u32(),
                    local2: r.u32(),
                })
                .collect(),
            otc: r.chance(20).then(|| r.u32()),
            unknown: (0..r.below(2))
                .map(|i| RawAttribute {
                    flags: 0xe0,
                    code: 100 + i as u8,
                    value: r.bytes(300),
                })
                .collect(),
        }
        .boxed(),
    }
}

fn gen_next_hop(r: &mut Rng, afi: Afi) -> MpNextHop {
    let v6 = |r: &mut Rng| Ipv6Addr::from(((r.next() as u128) << 64) | r.next() as u128);
    match afi {
        Afi::Ipv4 if r.chance(70) => MpNextHop {
            global: IpAddr::V4(Ipv4Addr::from(r.u32())),
            link_local: None,
        },
        _ => MpNextHop {
            global: IpAddr::V6(v6(r)),
            link_local: r.chance(50).then(|| v6(r)),
        },
    }
}

fn gen_update(r: &mut Rng, ctx: &Ctx) -> Update {
    let withdrawn = (0..r.below(5)).map(|_| gen_v4(r)).collect();
    let nlri: Vec<Ipv4Net> = (0..r.below(5)).map(|_| gen_v4(r)).collect();
    let mp_reach = r.chance(40).then(|| {
        let (afi, safi) = gen_family(r);
        MpReach {
            afi,
            safi,
            next_hop: gen_next_hop(r, afi),
            nlri: gen_prefixes(r, afi, 5),
        }
    });
    let mp_unreach = r.chance(30).then(|| {
        let (afi, safi) = gen_family(r);
        MpUnreach {
            afi,
            safi,
            withdrawn: gen_prefixes(r, afi, 5),
        }
    });
    // Routes need ORIGIN, AS_PATH and (for the NLRI field) NEXT_HOP, or
    // the decoder rightly flags treat-as-withdraw (RFC 7606 §3 d).
    let reach = !nlri.is_empty() || mp_reach.is_some();
    let attributes = (reach || r.chance(30)).then(|| gen_attributes(r, ctx));
    let next_hop = (!nlri.is_empty() || r.chance(20))
        .then(|| Ipv4Addr::new(10, r.below(256) as u8, r.below(256) as u8, 1));
    Update {
        withdrawn,
        attributes,
        next_hop,
        nlri,
        mp_reach,
        mp_unreach,
        treat_as_withdraw: None,
        discarded: Vec::new(),
    }
}

fn gen_message(r: &mut Rng, ctx: &Ctx) -> Message {
    match r.below(6) {
        0 => Message::Open(gen_open(r)),
        1 | 2 => Message::Update(gen_update(r, ctx)),
        3 => Message::Notification(Notification::new(
            r.below(8) as u8,
            r.below(12) as u8,
            r.bytes(40),
        )),
        4 => Message::Keepalive,
        _ => Message::RouteRefresh(RouteRefresh {
            afi: Afi::from(r.below(4) as u16),
            subtype: (r.below(4) as u8).into(),
            safi: Safi::from(r.below(4) as u8),
        }),
    }
}

#[test]
fn generated_messages_round_trip_both_ways() {
    let mut r = Rng(0x5eed_c0de_0bad_f00d);
    for ctx in [AS4, AS2] {
        for i in 0..3000 {
            let m = gen_message(&mut r, &ctx);
            let bytes = encode_to_bytes(&m, &ctx).unwrap_or_else(|e| panic!("#{i} {m:?}: {e}"));
            assert_eq!(frame(&bytes, &ctx), Ok(Some(bytes.len())), "#{i}");
            let back = decode(&bytes, &ctx).unwrap_or_else(|e| panic!("#{i} {m:?}: {e}"));
            assert_eq!(back, m, "#{i} ctx {ctx:?}");
            let again = encode_to_bytes(&back, &ctx).unwrap();
            assert_eq!(again, bytes, "#{i}");
        }
    }
}

/// Flips, truncates and splices bytes of valid messages. The decoder must
/// not panic, and whatever it accepts cleanly must be stable under
/// encode → decode.
#[test]
fn mutated_messages_never_panic_and_accepted_ones_are_stable() {
    let mut r = Rng(0x0123_4567_89ab_cdef);
    let mut accepted = 0;
    for ctx in [AS4, AS2] {
        for _ in 0..20_000 {
            let m = gen_message(&mut r, &ctx);
            let Ok(bytes) = encode_to_bytes(&m, &ctx) else {
                continue;
            };
            let mut v = bytes.to_vec();
            for _ in 0..1 + r.below(4) {
                let at = HEADER_LEN + r.below((v.len() - HEADER_LEN).max(1) as u64) as usize;
                match r.below(3) {
                    0 if at < v.len() => v[at] = r.next() as u8,
                    1 => v.truncate(at),
                    _ => v.insert(at.min(v.len()), r.next() as u8),
                }
            }
            // Keep the header honest so the body decoders get exercised.
            let len = v.len() as u16;
            v[16..18].copy_from_slice(&len.to_be_bytes());
            let b = Bytes::from(v);
            let Ok(got) = decode(&b, &ctx) else {
                continue;
            };
            if let Message::Update(u) = &got
                && (u.treat_as_withdraw.is_some() || !u.discarded.is_empty())
            {
                continue;
            }
            let mut out = BytesMut::new();
            if encode(&got, &ctx, &mut out).is_ok() {
                let again = decode(&out.freeze(), &ctx).unwrap();
                assert_eq!(again, got);
                accepted += 1;
            }
        }
    }
    assert!(accepted > 1000, "only {accepted} mutated messages accepted");
}
