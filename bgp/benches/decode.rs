//! UPDATE decode throughput (issue 5 target: at least 300 MB/s on one core).
//!
//! Two inputs, each reported in bytes/s (MB/s) and in prefixes/s:
//! - `generated`: 30,000 UPDATEs shaped like a full-table feed (3 IPv4
//!   prefixes per UPDATE, mostly /24, each with its own AS path of 2–8
//!   ASNs, 0–4 communities, some large communities and MEDs; plus IPv6
//!   /48-ish prefixes in MP_REACH_NLRI), made with the crate's own encoder;
//! - `fixtures`: every UPDATE captured from BIRD, FRR and GoBGP sessions
//!   under `bgp/fixtures/` (few and small, so dominated by per-message cost).
//!
//! Each iteration decodes every message of the input with `wire::decode`
//! from `Bytes` that are already framed, as the session driver does.
//! Run: `cargo bench -p bgp --bench decode`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use bgp::wire::{
    Afi, AsPath, Community, Ctx, LargeCommunity, Message, MpNextHop, Origin, PathAttributes,
    RareAttributes, decode, encode_announce,
};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const CTX: Ctx = Ctx {
    four_octet_as: true,
    extended_message: false,
};

/// splitmix64, so the input is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn attributes(rng: &mut Rng) -> PathAttributes {
    let len = 2 + rng.below(7) as usize;
    let mut asns = vec![64_600];
    for _ in 1..len {
        asns.push(if rng.below(5) < 3 {
            1 + rng.below(64_000) as u32
        } else {
            131_072 + rng.below(270_000) as u32
        });
    }
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::from_sequence(asns),
        med: (rng.below(100) < 30).then(|| rng.below(1_000) as u32),
        communities: (0..rng.below(5))
            .map(|_| Community((64_600 << 16) | (1_000 + rng.below(3_000) as u32)))
            .collect(),
        rare: RareAttributes {
            large_communities: if rng.below(100) < 20 {
                vec![LargeCommunity {
                    global: 64_600,
                    local1: 1,
                    local2: rng.below(400_000) as u32,
                }]
            } else {
                Vec::new()
            },
            ..RareAttributes::default()
        }
        .boxed(),
        ..PathAttributes::default()
    }
}

/// (messages, prefixes carried).
fn generated(updates: usize) -> (Vec<Bytes>, u64) {
    let mut rng = Rng(1);
    let nh4 = MpNextHop {
        global: IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)),
        link_local: None,
    };
    let nh6 = MpNextHop {
        global: IpAddr::V6("fd77::1".parse().unwrap()),
        link_local: None,
    };
    let mut msgs = Vec::with_capacity(updates);
    let mut prefixes = 0;
    for i in 0..updates {
        // One UPDATE in six is IPv6, roughly the share in today's tables.
        let (afi, nh, nlri): (Afi, MpNextHop, Vec<IpNet>) = if i % 6 == 5 {
            let p = (0..3)
                .map(|_| {
                    let a = (0x2001u128 + rng.below(0xc00) as u128) << 112
                        | ((rng.next() as u128) << 64);
                    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), 48).unwrap().trunc())
                })
                .collect();
            (Afi::Ipv6, nh6, p)
        } else {
            let p = (0..3)
                .map(|_| {
                    let len = if rng.below(10) < 6 {
                        24
                    } else {
                        16 + rng.below(8) as u8
                    };
                    let a = Ipv4Addr::from(rng.next() as u32);
                    IpNet::V4(Ipv4Net::new(a, len).unwrap().trunc())
                })
                .collect();
            (Afi::Ipv4, nh4, p)
        };
        prefixes += nlri.len() as u64;
        msgs.extend(encode_announce(
            &attributes(&mut rng),
            &nh,
            afi,
            &nlri,
            &CTX,
        ));
    }
    (msgs, prefixes)
}

/// Every captured UPDATE under bgp/fixtures/ with its context.
fn fixtures() -> Vec<(Bytes, Ctx)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            if path.extension().is_none_or(|e| e != "hex") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut ctx = Ctx::default();
            let mut hex = String::new();
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("# ctx ") {
                    ctx.four_octet_as = rest.contains("four_octet_as=true");
                    ctx.extended_message = rest.contains("extended_message=true");
                } else if !line.starts_with('#') {
                    hex.push_str(line.trim());
                }
            }
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            // Type 2 = UPDATE.
            if bytes.get(18) == Some(&2) {
                out.push((Bytes::from(bytes), ctx));
            }
        }
    }
    out
}

fn count_prefixes(m: &Message) -> u64 {
    match m {
        Message::Update(u) => {
            (u.nlri.len()
                + u.withdrawn.len()
                + u.mp_reach.as_ref().map_or(0, |r| r.nlri.len())
                + u.mp_unreach.as_ref().map_or(0, |r| r.withdrawn.len())) as u64
        }
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let (gen_msgs, gen_prefixes) = generated(30_000);
    let gen_bytes: u64 = gen_msgs.iter().map(|m| m.len() as u64).sum();
    let fix = fixtures();
    let fix_bytes: u64 = fix.iter().map(|(m, _)| m.len() as u64).sum();
    let fix_prefixes: u64 = fix
        .iter()
        .map(|(m, ctx)| count_prefixes(&decode(m, ctx).expect("fixture decodes")))
        .sum();
    eprintln!(
        "decode bench: generated {} UPDATEs, {gen_bytes} bytes, {gen_prefixes} prefixes; \
         fixtures {} UPDATEs, {fix_bytes} bytes, {fix_prefixes} prefixes",
        gen_msgs.len(),
        fix.len()
    );

    // The same runs measured two ways: octets and prefixes per second.
    let groups = [
        (
            "decode_update_bytes",
            Throughput::Bytes(gen_bytes),
            Throughput::Bytes(fix_bytes),
            !fix.is_empty(),
        ),
        (
            "decode_update_prefixes",
            Throughput::Elements(gen_prefixes),
            Throughput::Elements(fix_prefixes),
            fix_prefixes > 0,
        ),
    ];
    for (name, generated, fixtures, with_fixtures) in groups {
        let mut g = c.benchmark_group(name);
        g.throughput(generated);
        g.bench_function("generated", |b| {
            b.iter(|| {
                for m in &gen_msgs {
                    black_box(decode(black_box(m), &CTX).unwrap());
                }
            })
        });
        if with_fixtures {
            g.throughput(fixtures);
            g.bench_function("fixtures", |b| {
                b.iter(|| {
                    for (m, ctx) in &fix {
                        black_box(decode(black_box(m), ctx).unwrap());
                    }
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
