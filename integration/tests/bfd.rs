//! BFD (RFC 5880, multihop RFC 5883) between wgbgpd and FRR's bfdd: the
//! sessions come Up on both ends, and when B's wireguard-go is frozen the
//! BGP session over the tunnel is torn down and B's route leaves A's kernel
//! within a second; after the thaw BFD and BGP come back.
//!
//! ```text
//!   +--------------------+  v0 10.61.0.1 -- 10.61.0.2 v0  +---------------------+
//!   | A  wgbgpd          |================================| B  FRR zebra, bgpd, |
//!   | lo 1.1.1.1         |  wg (keepalive 5 s)            |    bfdd             |
//!   | bfd 150 ms × 3     |  BFD multihop 1.1.1.1 <-> 2.2.2.2  lo 2.2.2.2        |
//!   |                    |  UDP 4784, TTL 255             | 198.51.100.0/24     |
//!   +--------------------+                                +---------------------+
//!      B's wireguard-go is frozen (SIGSTOP) three times: each time the time
//!      until A's kernel has no route to 198.51.100.0/24 is measured.
//! ```

use std::time::{Duration, Instant};

use bgp::bfd::packet::{ControlPacket, State};
use integration::frr::{EdgeConfig, bfdd_multihop_conf};
use integration::lab::wireguard_go_pid;
use integration::{
    Capture, Config, Frr, HandTunnel, Netns, Pair, Peer, Wgbgpd, require_root, wait_for,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);
const PREFIX: &str = "198.51.100.0/24";
const INTERVAL_MS: u32 = 150;
const MULTIPLIER: u8 = 3;
/// The bound asserted: detection takes 3 × 150 ms = 450 ms; the rest is the
/// BGP teardown, the FIB write and this test's 5 ms route poll, with room
/// for a machine busy with other builds.
const BOUND: Duration = Duration::from_secs(1);
const METRICS: &str = "127.0.0.1:9179";

fn wgbgpd_config(tunnel: &HandTunnel) -> String {
    Config::tunnel_node("1.1.1.1", 65500, &tunnel.a_key_file)
        .metrics(METRICS)
        .peer(
            Peer::new("b", 65501, "2.2.2.2")
                .tunnel(tunnel.a_side("10.61.0.2").keepalive(5))
                .bfd(INTERVAL_MS, MULTIPLIER),
        )
        .accept_all("all")
        .render()
}

/// FRR in B: the edge config plus `neighbor 1.1.1.1 bfd`, and
/// `ebgp-multihop 2`, without which bgpd registers a single-hop session
/// next to bfdd's configured multihop one (and follows that).
fn frr_b() -> String {
    EdgeConfig::b(&[PREFIX])
    .bgpd_conf()
    .replace(
        " neighbor 1.1.1.1 timers connect 5\n",
        " neighbor 1.1.1.1 timers connect 5\n neighbor 1.1.1.1 ebgp-multihop 2\n neighbor 1.1.1.1 bfd\n",
    )
}

fn route(ns: &Netns) -> String {
    ns.stdout(&["ip", "route", "show", "exact", PREFIX])
        .trim()
        .to_string()
}

/// FRR's view of its session to 1.1.1.1 (`show bfd peers json`); panics
/// if bfdd has a single-hop one too (bgpd would follow that one).
fn frr_bfd_peer(frr: &Frr) -> Option<Value> {
    let v = frr.vtysh_json("show bfd peers json");
    let ours: Vec<&Value> = v
        .as_array()?
        .iter()
        .filter(|p| p["peer"] == "1.1.1.1")
        .collect();
    assert!(
        ours.len() <= 1,
        "more than one BFD session to 1.1.1.1: {v:#}"
    );
    ours.first().map(|p| (*p).clone())
}

fn our_bfd(a: &Netns, wgbgpd: &Wgbgpd) -> Value {
    let v = wgbgpd.cli_json(a, &["show", "bgp", "neighbors"]);
    v["2.2.2.2"]["peerBfdInfo"].clone()
}

fn wait_bfd_up(a: &Netns, wgbgpd: &Wgbgpd, frr: &Frr, timeout: Duration) -> Duration {
    let start = Instant::now();
    wait_for(
        timeout,
        Duration::from_millis(50),
        "BFD Up on both ends",
        || {
            let ours = our_bfd(a, wgbgpd);
            let theirs = frr_bfd_peer(frr);
            let up = ours["status"] == "Up" && theirs.as_ref().is_some_and(|p| p["status"] == "up");
            if up {
                Ok(())
            } else {
                Err(format!("wgbgpd: {ours}\nFRR: {theirs:?}"))
            }
        },
    );
    start.elapsed()
}

/// The UDP payloads of a raw-IP or Ethernet pcap, with the IPv4 source,
/// TTL and destination port.
fn udp_payloads(pcap: &[u8]) -> Vec<([u8; 4], u8, u16, Vec<u8>)> {
    let mut out = Vec::new();
    if pcap.len() < 24 || pcap[0..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return out;
    }
    let u32_at = |i: usize| u32::from_le_bytes(pcap[i..i + 4].try_into().unwrap());
    let l2 = match u32_at(20) {
        12 | 101 | 228 => 0,
        1 => 14,
        113 => 16,
        other => panic!("linktype {other}"),
    };
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let incl = u32_at(i + 8) as usize;
        let frame = &pcap[i + 16..(i + 16 + incl).min(pcap.len())];
        i += 16 + incl;
        let Some(ip) = frame.get(l2..) else { continue };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = (ip[0] & 0xf) as usize * 4;
        let udp = &ip[ihl..];
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let src = [ip[12], ip[13], ip[14], ip[15]];
        out.push((src, ip[8], dport, udp[8..].to_vec()));
    }
    out
}

fn metric(a: &Netns, series: &str) -> Option<f64> {
    integration::metrics::value(&integration::metrics::scrape(a, METRICS), series)
}

#[test]
fn bfd_with_frr_tears_the_session_down_within_a_second() {
    require_root();
    let Pair { a, b, .. } = Pair::new("bf", "v0", "10.61.0");
    b.add_lo_addr("2.2.2.2/32");
    let tunnel = HandTunnel::new(&b, "bfd", &["1.1.1.1/32"], Some(5));
    let if_a = tunnel.a_if.clone();
    let mut wgbgpd = Wgbgpd::start(&a, &wgbgpd_config(&tunnel));
    // Capture what B's bfdd sends, as A's tunnel delivers it, from its start.
    let cap = Capture::start(&a, &if_a, "udp port 4784");
    let mut frr = Frr::start_with_bfdd(
        &b,
        &frr_b(),
        "hostname b\n",
        &bfdd_multihop_conf("2.2.2.2", &["1.1.1.1"], INTERVAL_MS, MULTIPLIER),
    );
    frr.wait_established("1.1.1.1", T);
    wgbgpd.wait_established(&a, "2.2.2.2", T);

    wait_bfd_up(&a, &wgbgpd, &frr, T);
    std::thread::sleep(Duration::from_millis(1500));
    let pcap = cap.finish();

    let theirs = frr_bfd_peer(&frr).unwrap();
    assert_eq!(theirs["multihop"], true, "{theirs:#}");
    assert_eq!(theirs["local"], "2.2.2.2", "{theirs:#}");
    assert_eq!(theirs["receive-interval"], INTERVAL_MS, "{theirs:#}");
    assert_eq!(theirs["remote-receive-interval"], INTERVAL_MS, "{theirs:#}");
    assert_eq!(theirs["remote-detect-multiplier"], MULTIPLIER, "{theirs:#}");
    let ours = our_bfd(&a, &wgbgpd);
    assert_eq!(ours["type"], "multi hop", "{ours:#}");
    assert_eq!(ours["detectMultiplier"], MULTIPLIER, "{ours:#}");
    assert_eq!(ours["remoteTxMinInterval"], INTERVAL_MS, "{ours:#}");

    // What FRR sends: TTL 255 on arrival, well-formed Control packets.
    let got: Vec<_> = udp_payloads(&pcap)
        .into_iter()
        .filter(|(src, _, dport, _)| *src == [2, 2, 2, 2] && *dport == 4784)
        .map(|(_, ttl, dport, payload)| (ttl, dport, payload))
        .collect();
    assert!(got.len() >= 4, "{} BFD packets captured", got.len());
    let mut up_seen = false;
    for (ttl, _, payload) in &got {
        assert_eq!(*ttl, 255, "FRR's multihop packets arrive with TTL 255");
        let p = ControlPacket::decode(payload).expect("FRR's packet decodes");
        assert_eq!(&p.to_bytes()[..], &payload[..], "re-encodes byte for byte");
        up_seen |= p.state == State::Up;
    }
    assert!(up_seen);
    // Each distinct packet once, in order: the fixture's source.
    let mut printed = Vec::new();
    for (_, _, payload) in &got {
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        if !printed.contains(&hex) {
            eprintln!("FRR BFD packet: {hex}");
            printed.push(hex);
        }
    }
    wait_for(T, Duration::from_millis(50), "B's route in A", || {
        if route(&a).is_empty() {
            Err("no route".to_string())
        } else {
            Ok(())
        }
    });
    let series = "wgbgp_bfd_session_up{name=\"b\",peer=\"2.2.2.2\"}";
    assert_eq!(metric(&a, series), Some(1.0));

    let pid = wireguard_go_pid(&b);
    let mut took = Vec::new();
    for round in 1..=3 {
        // SIGSTOP: B's tunnel end goes silent, as on a dead path.
        // SAFETY: a signal to a process this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        let start = Instant::now();
        while !route(&a).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "round {round}: route still there: {}",
                route(&a)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = start.elapsed();
        eprintln!("round {round}: B's route left A's kernel {t:?} after the freeze");
        took.push(t);
        let ours = our_bfd(&a, &wgbgpd);
        assert_ne!(ours["status"], "Up", "{ours:#}");
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
        let start = Instant::now();
        let bfd_up = wait_bfd_up(&a, &wgbgpd, &frr, T);
        wgbgpd.wait_established(&a, "2.2.2.2", T);
        wait_for(T, Duration::from_millis(50), "B's route back in A", || {
            if route(&a).is_empty() {
                Err("no route".to_string())
            } else {
                Ok(())
            }
        });
        eprintln!(
            "round {round}: BFD Up again after {bfd_up:?}, route back after {:?}",
            start.elapsed()
        );
    }
    let mut sorted = took.clone();
    sorted.sort();
    eprintln!(
        "failover with BFD {INTERVAL_MS} ms x {MULTIPLIER}: min {:?} median {:?} max {:?}",
        sorted[0], sorted[1], sorted[2]
    );
    for t in &took {
        assert!(*t < BOUND, "detection took {t:?}: {took:?}");
    }
    let downs = "wgbgp_bfd_session_down_total{name=\"b\",peer=\"2.2.2.2\"}";
    assert_eq!(metric(&a, downs), Some(3.0));
    assert_eq!(metric(&a, series), Some(1.0));
    assert!(
        wgbgpd.log_text().contains("BFD session Down"),
        "the teardown is logged"
    );
    drop(tunnel);
}
