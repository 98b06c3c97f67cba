//! Path attributes wgbgpd does not act on are stored, shown and passed on:
//! ExaBGP announces a route with an AS_SET, a community, large and extended
//! communities and an unknown optional transitive attribute (type 250);
//! wgbgpd shows them in `show bgp ipv4 unicast PREFIX --json` and exports the
//! route to BIRD, which sees every one of them, and the unknown attribute
//! goes out with the Partial bit set (RFC 4271 §5), read from a capture of
//! the A–R link.
//!
//! ```text
//!   +--------+ 10.78.1.2   10.78.1.1 +------+ 10.78.2.1   10.78.2.2 +------+
//!   |   X    |-----------------------|  A   |-----------------------|  R   |
//!   +--------+                       +------+                       +------+
//!   ExaBGP, AS 65502                 wgbgpd, AS 65501               BIRD, AS 65503
//!   203.0.113.0/24 as-path 65502 65020 {65010,65011}
//!   community 65502:7, large 65502:1:2, RT:65502:100, SoO:65502:200,
//!   attribute 250 flags 0xc0 value 01 02 03 04 05
//!   203.0.113.66/32 with BLACKHOLE, 198.51.100.0/24 with GRACEFUL_SHUTDOWN
//! ```
//!
//! A's accept-all import takes the BLACKHOLE route: it becomes a kernel
//! `blackhole` route and is not passed on (RFC 7999); the GRACEFUL_SHUTDOWN
//! one gets LOCAL_PREF 0 (RFC 8326).

use std::time::Duration;

use integration::bird::BirdPeer;
use integration::capture::tcp_payloads;
use integration::{Bird, Capture, ExaBgp, Netns, Wgbgpd, link, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const PREFIX: &str = "203.0.113.0/24";

const EXABGP_X: &str = r#"
neighbor 10.78.1.1 {
    router-id 10.78.0.2;
    local-address 10.78.1.2;
    local-as 65502;
    peer-as 65501;
    hold-time 30;
    family {
        ipv4 unicast;
    }
    static {
        route 203.0.113.0/24 next-hop 10.78.1.2 origin igp as-path [ 65502 65020 ( 65010 65011 ) ] community [ 65502:7 ] large-community [ 65502:1:2 ] extended-community [ target:65502:100 origin:65502:200 ] attribute [ 0xfa 0xc0 0x0102030405 ];
        route 203.0.113.66/32 next-hop 10.78.1.2 origin igp as-path [ 65502 ] community [ 65535:666 ];
        route 198.51.100.0/24 next-hop 10.78.1.2 origin igp as-path [ 65502 ] community [ 65535:0 ];
    }
}
"#;

const A: &str = r#"router_id: 10.78.0.1
asn: 65501
loopback: [10.78.0.1/32]
peers:
  x:
    asn: 65502
    address: 10.78.1.2
    local_address: 10.78.1.1
    import: [all]
    export: [none]
  r:
    asn: 65503
    address: 10.78.2.2
    local_address: 10.78.2.1
    import: [none]
    export: [all]
policies:
  all:
    - action: accept
  none:
    - action: reject
"#;

const BIRD_R: BirdPeer = BirdPeer {
    name: "a",
    router_id: "10.78.0.3",
    local: "10.78.2.2",
    asn: 65503,
    neighbor: "10.78.2.1",
    peer_asn: 65501,
    statics: &[],
    import: "all",
    options: &["enable extended messages on;", "enable route refresh on;"],
};

/// The BGP messages of a TCP byte stream (framing by hand, independent of
/// wgbgpd's decoder).
fn messages(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 19 <= stream.len() {
        let len = u16::from_be_bytes([stream[i + 16], stream[i + 17]]) as usize;
        if stream[i..i + 16] != [0xff; 16] || len < 19 || i + len > stream.len() {
            break;
        }
        out.push(&stream[i..i + len]);
        i += len;
    }
    out
}

/// Flags and value of every attribute of type `code` in the UPDATEs of a
/// TCP byte stream.
fn attributes_of_type(stream: &[u8], code: u8) -> Vec<(u8, Vec<u8>)> {
    let mut found = Vec::new();
    for msg in messages(stream) {
        if msg[18] != 2 {
            continue;
        }
        let body = &msg[19..];
        let wlen = u16::from_be_bytes([body[0], body[1]]) as usize;
        let alen = u16::from_be_bytes([body[2 + wlen], body[3 + wlen]]) as usize;
        let mut attrs = &body[4 + wlen..4 + wlen + alen];
        while attrs.len() >= 3 {
            let (flags, ty) = (attrs[0], attrs[1]);
            let (hdr, vlen) = if flags & 0x10 != 0 {
                (4, u16::from_be_bytes([attrs[2], attrs[3]]) as usize)
            } else {
                (3, attrs[2] as usize)
            };
            if ty == code {
                found.push((flags, attrs[hdr..hdr + vlen].to_vec()));
            }
            attrs = &attrs[hdr + vlen..];
        }
    }
    found
}

#[test]
fn as_set_communities_and_unknown_attribute_are_stored_shown_and_passed_on() {
    require_root();
    let (x_ns, a_ns, r_ns) = (Netns::new("ax"), Netns::new("aa"), Netns::new("ar"));
    link(
        (&x_ns, "eth1", "10.78.1.2/24"),
        (&a_ns, "eth1", "10.78.1.1/24"),
    );
    link(
        (&a_ns, "eth2", "10.78.2.1/24"),
        (&r_ns, "eth1", "10.78.2.2/24"),
    );
    let capture = Capture::start(&a_ns, "eth2", "tcp port 179");
    let mut bird = Bird::start(&r_ns, &BIRD_R.conf());
    let mut a = Wgbgpd::start(&a_ns, A);
    let mut x = ExaBgp::start(&x_ns, EXABGP_X);
    a.wait_established(&a_ns, "10.78.1.2", T);
    a.wait_established(&a_ns, "10.78.2.2", T);
    bird.wait_established("a", T);

    // Stored and shown, in FRR's field names.
    let shown: Value = wait_for(T, Duration::from_millis(200), "A to hold the route", || {
        let v = a.cli_json(&a_ns, &["show", "bgp", "ipv4", "unicast"]);
        if v["routes"][PREFIX][0].is_object() {
            Ok(v)
        } else {
            Err(format!("{v:#}"))
        }
    });
    x.check_alive();
    let p = &shown["routes"][PREFIX][0];
    assert_eq!(p["path"], "65502 65020 {65010,65011}", "{shown:#}");
    assert_eq!(
        p["aspath"]["string"], "65502 65020 {65010,65011}",
        "{shown:#}"
    );
    assert_eq!(p["aspath"]["length"], 3, "{shown:#}");
    assert_eq!(p["aspath"]["segments"][1]["type"], "as-set", "{shown:#}");
    assert_eq!(
        p["aspath"]["segments"][1]["list"],
        serde_json::json!([65010, 65011]),
        "{shown:#}"
    );
    assert_eq!(p["community"]["string"], "65502:7", "{shown:#}");
    assert_eq!(p["largeCommunity"]["string"], "65502:1:2", "{shown:#}");
    assert_eq!(
        p["extendedCommunity"]["string"], "RT:65502:100 SoO:65502:200",
        "{shown:#}"
    );
    let unknown = &p["unknownAttributes"];
    assert_eq!(unknown.as_array().map(Vec::len), Some(1), "{shown:#}");
    assert_eq!(unknown[0]["type"], 250, "{shown:#}");
    assert_eq!(unknown[0]["flags"], 0xe0, "{shown:#}");
    assert_eq!(unknown[0]["partial"], true, "{shown:#}");
    assert_eq!(unknown[0]["value"], "0102030405", "{shown:#}");

    // Passed on: BIRD sees the AS_SET, the communities and the unknown attribute.
    let text = wait_for(T, Duration::from_millis(250), "R to get the route", || {
        let text = bird.show_route(&format!("all for {PREFIX}"));
        if text.contains("BGP.as_path") {
            Ok(text)
        } else {
            Err(text)
        }
    });
    for want in [
        "BGP.as_path: 65501 65502 65020 {65010 65011}",
        "BGP.community: (65502,7)",
        "BGP.large_community: (65502, 1, 2)",
        "(rt, 65502, 100)",
        "(ro, 65502, 200)",
        "BGP.fa [t]: 01 02 03 04 05",
    ] {
        assert!(text.contains(want), "BIRD lacks {want:?}:\n{text}");
    }

    // BLACKHOLE: dropped here, not passed on. GRACEFUL_SHUTDOWN: LOCAL_PREF 0.
    let hole = wait_for(T, Duration::from_millis(200), "the blackhole route", || {
        let r = a_ns.stdout(&["ip", "route", "show", "203.0.113.66/32"]);
        if r.starts_with("blackhole 203.0.113.66 proto bgp") {
            Ok(r)
        } else {
            Err(r)
        }
    });
    assert!(!hole.contains("via"), "{hole}");
    let gshut = a.cli_json(&a_ns, &["show", "bgp", "ipv4", "unicast"]);
    assert_eq!(
        gshut["routes"]["198.51.100.0/24"][0]["locPrf"], 0,
        "{gshut:#}"
    );
    assert_eq!(
        gshut["routes"]["198.51.100.0/24"][0]["community"]["string"], "graceful-shutdown",
        "{gshut:#}"
    );
    wait_for(
        T,
        Duration::from_millis(250),
        "R to get the drained route",
        || {
            let t = bird.show_route("all for 198.51.100.0/24");
            if t.contains("198.51.100.0/24") {
                Ok(())
            } else {
                Err(t)
            }
        },
    );
    let r_hole = (bird.try_birdc("show route 203.0.113.66/32")).unwrap_or_else(|e| e);
    assert!(r_hole.contains("Network not found"), "passed on: {r_hole}");

    // Capabilities: both sides announced Extended Message and Enhanced
    // Route Refresh, and each side says so.
    let caps = bird.birdc("show protocols all a");
    let neighbor_caps = caps
        .split("Neighbor capabilities")
        .nth(1)
        .unwrap_or_else(|| panic!("no neighbor capabilities:\n{caps}"));
    for want in ["Enhanced refresh", "Extended message"] {
        assert!(neighbor_caps.contains(want), "BIRD lacks {want:?}:\n{caps}");
    }
    let n = a.cli_json(&a_ns, &["show", "bgp", "neighbors", "10.78.2.2"]);
    let ours = &n["10.78.2.2"]["neighborCapabilities"];
    assert_eq!(
        ours["enhancedRouteRefresh"], "advertisedAndReceived",
        "{n:#}"
    );
    assert_eq!(ours["extendedMessage"], "advertisedAndReceived", "{n:#}");

    // BIRD asks for a refresh: wgbgpd answers between BoRR and EoRR, and
    // BIRD, which sweeps what was not re-sent before EoRR, keeps the route.
    let refreshes = |a: &Wgbgpd| {
        let n = a.cli_json(&a_ns, &["show", "bgp", "neighbors", "10.78.2.2"]);
        n["10.78.2.2"]["messageStats"]["routeRefreshRecv"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = refreshes(&a);
    bird.birdc("reload in a");
    wait_for(
        T,
        Duration::from_millis(200),
        "A to get BIRD's ROUTE-REFRESH",
        || {
            let now = refreshes(&a);
            if now > before {
                Ok(())
            } else {
                Err(format!("{now}"))
            }
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let text = bird.show_route(&format!("all for {PREFIX}"));
    assert!(
        text.contains("{65010 65011}"),
        "route gone after the refresh:\n{text}"
    );

    // On the wire to R: type 250 with Optional, Transitive and Partial set.
    let pcap = capture.finish();
    let mut streams: std::collections::BTreeMap<(u16, u16), Vec<u8>> = Default::default();
    for (sport, dport, payload) in tcp_payloads(&pcap) {
        streams.entry((sport, dport)).or_default().extend(payload);
    }
    let sent: Vec<(u8, Vec<u8>)> = streams
        .values()
        .flat_map(|s| attributes_of_type(s, 250))
        .collect();
    assert!(!sent.is_empty(), "no attribute 250 on the A-R link");
    for (flags, value) in &sent {
        assert_eq!(*flags & 0xe0, 0xe0, "flags {flags:#04x}");
        assert_eq!(value, &[1, 2, 3, 4, 5]);
    }
    // The refresh: BIRD's request (subtype 0); on wgbgpd's stream BoRR (1),
    // the route again, EoRR (2), in that order.
    let label = |m: &[u8]| match m[18] {
        5 => format!("RR{}", m[21]),
        2 if !attributes_of_type(m, 250).is_empty() => "ROUTE".into(),
        t => format!("T{t}"),
    };
    let per_stream: Vec<String> = streams
        .values()
        .map(|s| {
            messages(s)
                .into_iter()
                .map(label)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert!(
        per_stream.iter().any(|t| t.contains("RR0")),
        "no request: {per_stream:#?}"
    );
    let ours = per_stream
        .iter()
        .find(|t| t.contains("RR1"))
        .unwrap_or_else(|| panic!("no BoRR: {per_stream:#?}"));
    let borr = ours.find("RR1").unwrap();
    let eorr = ours
        .find("RR2")
        .unwrap_or_else(|| panic!("no EoRR: {ours}"));
    assert!(borr < eorr && ours[borr..eorr].contains("ROUTE"), "{ours}");
    x.check_alive();
}
