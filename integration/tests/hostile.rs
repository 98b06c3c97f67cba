//! Hostile and broken input, end to end over TCP: the test itself speaks
//! bytes to wgbgpd ([`RawPeer`]), one TCP connection per malformed message,
//! and checks the answer RFC 4271 §6, RFC 6608 §4, RFC 7313 §5 and RFC 7606
//! prescribe, while a BIRD session in the same daemon carries on untouched.
//!
//! ```text
//!  +-----------+ 10.66.1.2     10.66.1.1 +-----------+ 10.66.2.1     10.66.2.2 +-----------+
//!  | raw       |-------------------------|  wgbgpd   |-------------------------|  BIRD     |
//!  | (the test)|  AS 65002, passive peer |  AS 65001 |  AS 65003, announces    |           |
//!  +-----------+  10.7x.*/24 per case    +-----------+  198.51.100.0/24, .101  +-----------+
//! ```
//!
//! - Session resets: the exact NOTIFICATION code/subcode (and data where
//!   the RFC gives it), the connection closed, a route the raw peer had
//!   installed before the bad message gone from the kernel.
//! - RFC 7606 treat-as-withdraw: the session stays up, a prefix installed
//!   before is withdrawn and a new one never installed (kernel and RIB).
//! - RFC 7606 attribute discard: the session stays up and the route is used.
//! - After every case: wgbgpd is alive, its control socket answers, the
//!   BIRD session is Established (both views) and BIRD's routes are in the
//!   kernel; at the end the BIRD session has never dropped.
//!
//! wgbgpd accepts the peer's connection during its idle hold (bgp/src/fsm.rs
//! `connected`), so case after case can reconnect at once from one address.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::wire::{Capability, Message, Notification, Open};
use integration::bench::probe::{fd_count, sample};
use integration::bird::BirdPeer;
use integration::rawpeer::bytes_of::{hex, message, message_with_length, prefix, update};
use integration::{Bird, Netns, RawPeer, Wgbgpd, link, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(40);

const RAW_ADDR: &str = "10.66.1.2";
const BIRD_ADDR: &str = "10.66.2.2";
const RAW_AS: u32 = 65002;
const RAW_ID: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 2);
const WGBGPD_ID: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const BIRD_ROUTES: [&str; 2] = ["198.51.100.0/24", "198.51.101.0/24"];

const WGBGPD: &str = r#"router_id: 10.66.0.1
asn: 65001
loopback: [10.66.0.1/32]
peers:
  raw:
    asn: 65002
    address: 10.66.1.2
    local_address: 10.66.1.1
    passive: true
    import: [all]
    export: [nothing]
  bird:
    asn: 65003
    address: 10.66.2.2
    local_address: 10.66.2.1
    import: [all]
    export: [nothing]
policies:
  all:
    - action: accept
  nothing:
    - action: reject
"#;

const BIRD: BirdPeer = BirdPeer {
    name: "dut",
    router_id: "10.66.2.2",
    local: "10.66.2.2",
    asn: 65003,
    neighbor: "10.66.2.1",
    peer_asn: 65001,
    statics: &BIRD_ROUTES,
    import: "none",
    options: &["error wait time 1, 5;"],
};

/// Path attributes of a well-formed announcement from the raw peer.
const ORIGIN: &str = "400101 00";
const AS_PATH: &str = "400206 0201 0000fdea"; // AS_SEQUENCE [65002], 4-octet ASNs
const NEXT_HOP: &str = "400304 0a420102"; // 10.66.1.2

fn good_attrs() -> Vec<u8> {
    hex(&format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"))
}

/// Field order is drop order: daemons before their namespaces.
struct Lab {
    wgbgpd: Wgbgpd,
    bird: Bird,
    dut: Netns,
    raw: Netns,
    _bird_ns: Netns,
}

impl Lab {
    fn new() -> Lab {
        Lab::with(WGBGPD)
    }

    fn with(config: &str) -> Lab {
        let (dut, raw, bird_ns) = (Netns::new("hd"), Netns::new("hr"), Netns::new("hb"));
        link(
            (&dut, "eth1", "10.66.1.1/24"),
            (&raw, "eth1", "10.66.1.2/24"),
        );
        link(
            (&dut, "eth2", "10.66.2.1/24"),
            (&bird_ns, "eth2", "10.66.2.2/24"),
        );
        let mut wgbgpd = Wgbgpd::start(&dut, config);
        let mut bird = Bird::start(&bird_ns, &BIRD.conf());
        bird.wait_established("dut", T);
        wgbgpd.wait_established(&dut, BIRD_ADDR, T);
        let lab = Lab {
            wgbgpd,
            bird,
            dut,
            raw,
            _bird_ns: bird_ns,
        };
        for p in BIRD_ROUTES {
            lab.wait_route(p, "via 10.66.2.2");
        }
        lab
    }

    fn connect(&self) -> RawPeer {
        let to: SocketAddr = "10.66.1.1:179".parse().unwrap();
        RawPeer::connect(&self.raw, to, T)
    }

    /// A connection Established with a well-formed OPEN.
    fn session(&self) -> RawPeer {
        let mut peer = self.connect();
        peer.open_session(RawPeer::open(RAW_AS, RAW_ID, 90));
        peer
    }

    fn wait_route(&self, p: &str, want: &str) {
        wait_for(
            T,
            POLL,
            &format!("{p} ({want}) in wgbgpd's kernel"),
            || match self.dut.route_to(p) {
                Some(l) if l.contains(want) => Ok(()),
                other => Err(format!("got {other:?}; table:\n{}", self.dut.routes(""))),
            },
        );
    }

    fn wait_no_route(&self, p: &str) {
        wait_for(
            T,
            POLL,
            &format!("{p} to leave wgbgpd's kernel"),
            || match self.dut.route_to(p) {
                Some(l) => Err(format!("still there: {l}")),
                None => Ok(()),
            },
        );
    }

    /// `show bgp ipv4 unicast --json`: the paths for `p`, if any.
    fn rib(&self, p: &str) -> Option<Value> {
        let table = self
            .wgbgpd
            .cli_json(&self.dut, &["show", "bgp", "ipv4", "unicast"]);
        table["routes"].get(p).cloned()
    }

    fn summary_peer(&self, addr: &str) -> Value {
        let s = self.wgbgpd.cli_json(&self.dut, &["show", "bgp", "summary"]);
        s["ipv4Unicast"]["peers"][addr].clone()
    }

    /// What every case must leave intact: wgbgpd alive with its control
    /// socket answering, the BIRD session Established on both sides, and
    /// BIRD's routes in the kernel.
    fn assert_undisturbed(&mut self, case: &str) {
        self.wgbgpd.check_alive();
        let bird_peer = self.summary_peer(BIRD_ADDR);
        assert_eq!(
            bird_peer["state"], "Established",
            "{case}: the BIRD session was disturbed: {bird_peer:#}"
        );
        let info = self.bird.protocol_info("dut").unwrap_or_default();
        assert!(
            info.starts_with("Established"),
            "{case}: BIRD says {info:?}"
        );
        for p in BIRD_ROUTES {
            let r = self.dut.route_to(p);
            assert!(
                r.as_deref().is_some_and(|l| l.contains("via 10.66.2.2")),
                "{case}: BIRD's {p} left the kernel: {r:?}"
            );
        }
    }
}

/// The OPEN body (RFC 4271 §4.2) with the given fields and raw optional
/// parameters; the Opt Parm Len is `opt_len`, true or not.
fn open_body(
    version: u8,
    my_as: u16,
    hold: u16,
    id: Ipv4Addr,
    opt_len: u8,
    opts: &[u8],
) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(opt_len);
    b.extend_from_slice(opts);
    b
}

/// A Capabilities parameter: IPv4 unicast, 4-octet AS `asn`, route refresh.
fn caps(asn: u32) -> Vec<u8> {
    hex(&format!("02 0e 0104 00010001 4104 {asn:08x} 0200"))
}

/// An OPEN that is well-formed but for the given fields.
fn open_msg(version: u8, asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    let caps = caps(asn);
    let my_as = u16::try_from(asn).unwrap_or(23456);
    message(
        1,
        &open_body(version, my_as, hold, id, caps.len() as u8, &caps),
    )
}

/// When the bad message is sent.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    /// As the peer's first message (wgbgpd is in OpenSent).
    Open,
    /// After the OPENs, before our KEEPALIVE (wgbgpd is in OpenConfirm).
    OpenConfirm,
    /// On an Established session, after a route was installed.
    Established,
}

struct ResetCase {
    name: &'static str,
    phase: Phase,
    bytes: Vec<u8>,
    code: u8,
    subcode: u8,
    /// The Data field, where the RFC says what it holds.
    data: Option<Vec<u8>>,
}

fn case(
    name: &'static str,
    phase: Phase,
    bytes: Vec<u8>,
    (code, subcode): (u8, u8),
    data: Option<Vec<u8>>,
) -> ResetCase {
    ResetCase {
        name,
        phase,
        bytes,
        code,
        subcode,
        data,
    }
}

fn reset_cases() -> Vec<ResetCase> {
    use Phase::*;
    let attrs = good_attrs();
    let nlri = prefix("10.79.0.0/24");
    let mut bad_marker = hex("ffffffffffffffff ffffffffffff00ff 0013 04");
    let mut big = Vec::new();
    for i in 0..991u32 {
        big.extend_from_slice(&prefix(&format!("10.78.{}.{}/32", i / 256, i % 256)));
    }
    let big = update(&[], &attrs, &big);
    let mut withdrawn_overrun = update(&[], &attrs, &nlri);
    withdrawn_overrun[19..21].copy_from_slice(&[0x01, 0x00]);
    let mut total_attr_overrun = update(&[], &attrs, &nlri);
    total_attr_overrun[21..23].copy_from_slice(&[0x01, 0x00]);
    let mp_bad_nh = hex("800e0a 0001 01 05 0a42010200 00");
    let mp_reach = hex("800e0d 0001 01 04 0a420102 00 180a4f01");
    let well_known = hex("405002 abcd");
    let route_refresh = message(5, &hex("0001 00 01 00"));
    vec![
        // RFC 4271 §6.1 header errors, before and after OPEN.
        case(
            "bad marker first",
            Open,
            bad_marker.clone(),
            (1, 1),
            Some(vec![]),
        ),
        case(
            "OPEN shorter than its fixed fields",
            Open,
            message_with_length(28, 1, &open_body(4, 65002, 90, RAW_ID, 0, &[])[..9]),
            (1, 2),
            Some(vec![0, 28]),
        ),
        // RFC 4271 §6.2 OPEN errors.
        case(
            "unsupported version 5",
            Open,
            open_msg(5, 65002, 90, RAW_ID),
            (2, 1),
            Some(vec![0, 4]),
        ),
        case(
            "bad peer AS",
            Open,
            open_msg(4, 65009, 90, RAW_ID),
            (2, 2),
            None,
        ),
        case(
            "BGP identifier 0",
            Open,
            open_msg(4, 65002, 90, Ipv4Addr::UNSPECIFIED),
            (2, 3),
            None,
        ),
        case(
            "BGP identifier equal to ours",
            Open,
            open_msg(4, 65002, 90, WGBGPD_ID),
            (2, 3),
            None,
        ),
        case(
            "hold time 1",
            Open,
            open_msg(4, 65002, 1, RAW_ID),
            (2, 6),
            None,
        ),
        case(
            "hold time 2",
            Open,
            open_msg(4, 65002, 2, RAW_ID),
            (2, 6),
            None,
        ),
        case(
            "unsupported optional parameter 1",
            Open,
            message(1, &open_body(4, 65002, 90, RAW_ID, 4, &hex("01 02 0000"))),
            (2, 4),
            None,
        ),
        case(
            "optional parameters length overruns the OPEN",
            Open,
            message(1, &open_body(4, 65002, 90, RAW_ID, 20, &caps(RAW_AS))),
            (2, 0),
            None,
        ),
        case(
            "capability overruns its parameter",
            Open,
            message(
                1,
                &open_body(4, 65002, 90, RAW_ID, 8, &hex("02 06 4108 0000fdea")),
            ),
            (2, 0),
            None,
        ),
        case(
            "extended optional parameters length overruns the OPEN (RFC 9072)",
            Open,
            message(
                1,
                &open_body(4, 65002, 90, RAW_ID, 255, &hex("ff 0020 02 0002 0200")),
            ),
            (2, 0),
            None,
        ),
        case(
            "OPEN header claiming 5000 octets",
            Open,
            message_with_length(5000, 1, &[]),
            (1, 2),
            Some(5000u16.to_be_bytes().to_vec()),
        ),
        // RFC 6608 §4: FSM error, subcode for the state it arrived in.
        case(
            "KEEPALIVE instead of OPEN",
            Open,
            message(4, &[]),
            (5, 1),
            None,
        ),
        case(
            "UPDATE before the session is Established",
            OpenConfirm,
            update(&[], &attrs, &nlri),
            (5, 2),
            None,
        ),
        case(
            "bad marker",
            Established,
            {
                bad_marker[0] = 0xfe;
                bad_marker
            },
            (1, 1),
            Some(vec![]),
        ),
        case(
            "KEEPALIVE of 20 octets",
            Established,
            message(4, &[0]),
            (1, 2),
            Some(vec![0, 20]),
        ),
        case(
            "length 18, shorter than the header",
            Established,
            message_with_length(18, 2, &[]),
            (1, 2),
            Some(vec![0, 18]),
        ),
        case(
            "unknown message type 9",
            Established,
            message(9, &[]),
            (1, 3),
            Some(vec![9]),
        ),
        case(
            "UPDATE of 4998 octets without Extended Message",
            Established,
            big,
            (1, 2),
            Some(4998u16.to_be_bytes().to_vec()),
        ),
        // RFC 4271 §6.1: the header alone is enough to know the length is
        // wrong; the rest never comes.
        case(
            "UPDATE header claiming 5000 octets, body never sent",
            Established,
            message_with_length(5000, 2, &[]),
            (1, 2),
            Some(5000u16.to_be_bytes().to_vec()),
        ),
        case(
            "NOTIFICATION of 20 octets",
            Established,
            message(3, &[6]),
            (1, 2),
            Some(vec![0, 20]),
        ),
        // RFC 4271 §6.3 as kept by RFC 7606 §4/§5.
        case(
            "Withdrawn Routes Length overruns the UPDATE",
            Established,
            withdrawn_overrun,
            (3, 1),
            Some(vec![]),
        ),
        case(
            "Total Path Attribute Length overruns the UPDATE",
            Established,
            total_attr_overrun,
            (3, 1),
            Some(vec![]),
        ),
        case(
            "attribute overruns the field and no NLRI can be located",
            Established,
            update(&[], &hex(&format!("{ORIGIN} 800e30 0001")), &[]),
            (3, 1),
            Some(vec![]),
        ),
        case(
            "MP_REACH_NLRI twice (RFC 7606 §3 g)",
            Established,
            update(&[], &[&mp_reach[..], &attrs, &mp_reach].concat(), &[]),
            (3, 1),
            Some(vec![]),
        ),
        case(
            "unrecognized well-known attribute",
            Established,
            update(&[], &[&attrs[..], &well_known].concat(), &nlri),
            (3, 2),
            Some(well_known.clone()),
        ),
        case(
            "MP_REACH_NLRI next hop length inconsistent (RFC 7606 §7.11)",
            Established,
            update(&[], &[&mp_bad_nh[..], &attrs].concat(), &[]),
            (3, 9),
            Some(mp_bad_nh.clone()),
        ),
        case(
            "NLRI overrunning the message (RFC 7606 §5.3)",
            Established,
            update(&[], &attrs, &hex("180a4f")),
            (3, 10),
            Some(vec![]),
        ),
        case(
            "NLRI prefix length 33 (RFC 7606 §5.3)",
            Established,
            update(&[], &attrs, &hex("210a4f000001")),
            (3, 10),
            Some(vec![]),
        ),
        case(
            "Withdrawn Routes that do not parse (RFC 7606 §5.3)",
            Established,
            update(&hex("200a4f"), &[], &[]),
            (3, 10),
            Some(vec![]),
        ),
        case(
            "second OPEN on an Established session",
            Established,
            open_msg(4, 65002, 90, RAW_ID),
            (5, 3),
            None,
        ),
        // RFC 7313 §5: the data is the whole ROUTE-REFRESH.
        case(
            "ROUTE-REFRESH of 24 octets",
            Established,
            route_refresh.clone(),
            (7, 1),
            Some(route_refresh),
        ),
    ]
}

/// A malformed UPDATE the session must survive.
struct LenientCase {
    name: &'static str,
    attrs: Vec<u8>,
    /// RFC 7606 §2: treat-as-withdraw (else attribute discard: route used).
    withdraw: bool,
    /// MED the kept route must show.
    metric: Option<u64>,
}

fn lenient(name: &'static str, attrs: &str, withdraw: bool) -> LenientCase {
    LenientCase {
        name,
        attrs: hex(attrs),
        withdraw,
        metric: None,
    }
}

fn lenient_cases() -> Vec<LenientCase> {
    let good = format!("{ORIGIN} {AS_PATH} {NEXT_HOP}");
    let g = |extra: &str| format!("{good} {extra}");
    vec![
        lenient(
            "ORIGIN value 3 (RFC 7606 §7.1)",
            &format!("400101 03 {AS_PATH} {NEXT_HOP}"),
            true,
        ),
        lenient(
            "ORIGIN of length 2 (RFC 7606 §7.1)",
            &format!("400102 0000 {AS_PATH} {NEXT_HOP}"),
            true,
        ),
        lenient(
            "AS_PATH segment overruns the attribute (RFC 7606 §7.2)",
            &format!("{ORIGIN} 400206 0202 0000fdea {NEXT_HOP}"),
            true,
        ),
        lenient(
            "AS_PATH segment type 5 (RFC 7606 §7.2)",
            &format!("{ORIGIN} 400206 0501 0000fdea {NEXT_HOP}"),
            true,
        ),
        lenient(
            "AS_PATH with a zero-length segment (RFC 7606 §7.2)",
            &format!("{ORIGIN} 400202 0200 {NEXT_HOP}"),
            true,
        ),
        lenient(
            "AS_PATH not starting with the peer's AS (RFC 7606 §7.2)",
            &format!("{ORIGIN} 400206 0201 0000fdf1 {NEXT_HOP}"),
            true,
        ),
        lenient(
            "NEXT_HOP is wgbgpd's own address (RFC 4271 §6.3)",
            &format!("{ORIGIN} {AS_PATH} 400304 0a420101"),
            true,
        ),
        lenient(
            "NEXT_HOP of length 5 (RFC 7606 §7.3)",
            &format!("{ORIGIN} {AS_PATH} 400305 0a42010200"),
            true,
        ),
        lenient(
            "NEXT_HOP 0.0.0.0 (RFC 7606 §7.3)",
            &format!("{ORIGIN} {AS_PATH} 400304 00000000"),
            true,
        ),
        lenient(
            "MULTI_EXIT_DISC of length 3 (RFC 7606 §7.4)",
            &g("800403 000001"),
            true,
        ),
        // From an external peer: attribute discard, not treat-as-withdraw.
        lenient(
            "LOCAL_PREF of length 2 from an eBGP peer (RFC 7606 §7.5)",
            &g("400502 0064"),
            false,
        ),
        lenient(
            "ORIGIN flagged optional (RFC 7606 §3 c)",
            &format!("c00101 00 {AS_PATH} {NEXT_HOP}"),
            true,
        ),
        lenient(
            "ORIGIN missing (RFC 7606 §3 d)",
            &format!("{AS_PATH} {NEXT_HOP}"),
            true,
        ),
        lenient(
            "NEXT_HOP missing (RFC 7606 §3 d)",
            &format!("{ORIGIN} {AS_PATH}"),
            true,
        ),
        lenient(
            "attribute overruns the attribute field (RFC 7606 §4)",
            &g("800408 00000001"),
            true,
        ),
        lenient(
            "too few octets left for an attribute header (RFC 7606 §4)",
            &g("8004"),
            true,
        ),
        lenient(
            "COMMUNITIES of length 3 (RFC 7606 §7.8)",
            &g("c00803 fdea00"),
            true,
        ),
        lenient(
            "LARGE_COMMUNITIES of length 8 (RFC 8092 §6)",
            &g("c02008 0000fdea00000001"),
            true,
        ),
        lenient(
            "ATOMIC_AGGREGATE of length 1 (RFC 7606 §7.6)",
            &g("400601 00"),
            false,
        ),
        lenient(
            "AGGREGATOR of length 6 on a 4-octet session (RFC 7606 §7.7)",
            &g("c00706 fdeac0000209"),
            false,
        ),
        LenientCase {
            metric: Some(7),
            ..lenient(
                "MULTI_EXIT_DISC twice: the first is kept (RFC 7606 §3 g)",
                &g("800404 00000007 800404 00000009"),
                false,
            )
        },
    ]
}

#[test]
fn malformed_messages_get_the_rfc_answer_and_disturb_nobody_else() {
    require_root();
    let mut lab = Lab::new();

    // A malformed optional capability and an unknown one cost nothing
    // (RFC 5492 §3): the session comes up.
    let mut peer = lab.connect();
    let mut open: Open = RawPeer::open(RAW_AS, RAW_ID, 90);
    open.capabilities.push(Capability::Unknown {
        code: 200,
        value: vec![1, 2, 3].into(),
    });
    open.capabilities.push(Capability::Unknown {
        code: 2, // ROUTE_REFRESH must be empty
        value: vec![0].into(),
    });
    peer.open_session(open);
    lab.wgbgpd.wait_established(&lab.dut, RAW_ADDR, T);
    peer.cease();
    lab.assert_undisturbed("unknown capability");
    let mut handshakes = 1;
    let mut drops = 1;

    for (i, c) in reset_cases().into_iter().enumerate() {
        let mut peer = lab.connect();
        let route = format!("10.70.{i}.0/24");
        if c.phase == Phase::OpenConfirm {
            peer.open_confirm(RawPeer::open(RAW_AS, RAW_ID, 90));
        }
        if c.phase == Phase::Established {
            peer.open_session(RawPeer::open(RAW_AS, RAW_ID, 90));
            handshakes += 1;
            drops += 1;
            peer.send(&update(&[], &good_attrs(), &prefix(&route)));
            lab.wait_route(&route, "via 10.66.1.2");
        }
        peer.send(&c.bytes);
        let n: Notification = peer.expect_notification();
        eprintln!("{}: {}", c.name, n.describe());
        assert_eq!(
            (n.code, n.subcode),
            (c.code, c.subcode),
            "{}: got {} with data {:02x?}",
            c.name,
            n.describe(),
            &n.data[..]
        );
        if let Some(data) = &c.data {
            assert_eq!(&n.data[..], &data[..], "{}: NOTIFICATION data", c.name);
        }
        if c.phase == Phase::Established {
            lab.wait_no_route(&route);
            assert!(
                lab.rib(&route).is_none(),
                "{}: {route} still in the RIB",
                c.name
            );
        }
        lab.assert_undisturbed(c.name);
    }

    // A peer leaving with a NOTIFICATION whose shutdown communication
    // (RFC 9003 §2) claims 255 octets and has 2 of bad UTF-8: wgbgpd drops
    // the session and its routes and answers nothing (RFC 4271 §6.4).
    let mut peer = lab.session();
    handshakes += 1;
    drops += 1;
    let route = "10.74.0.0/24";
    peer.send(&update(&[], &good_attrs(), &prefix(route)));
    lab.wait_route(route, "via 10.66.1.2");
    peer.send(&message(3, &hex("06 02 ff c328")));
    peer.shutdown_write();
    peer.expect_closed();
    lab.wait_no_route(route);
    lab.assert_undisturbed("malformed NOTIFICATION received");

    // One session takes every UPDATE RFC 7606 lets it survive.
    let mut peer = lab.session();
    handshakes += 1;
    lab.wgbgpd.wait_established(&lab.dut, RAW_ADDR, T);
    let dropped_before = lab.summary_peer(RAW_ADDR)["connectionsDropped"].clone();
    for (i, c) in lenient_cases().into_iter().enumerate() {
        let (old, new, marker) = (
            format!("10.71.{i}.0/24"),
            format!("10.72.{i}.0/24"),
            format!("10.73.{i}.0/24"),
        );
        let mut nlri = prefix(&new);
        if c.withdraw {
            peer.send(&update(&[], &good_attrs(), &prefix(&old)));
            lab.wait_route(&old, "via 10.66.1.2");
            nlri = [prefix(&old), nlri].concat();
        }
        peer.send(&update(&[], &c.attrs, &nlri));
        // UPDATEs are handled in order: once the marker is in, the
        // malformed one has been dealt with.
        peer.send(&update(&[], &good_attrs(), &prefix(&marker)));
        peer.send_message(&Message::Keepalive);
        lab.wait_route(&marker, "via 10.66.1.2");
        if c.withdraw {
            // The RIB has handled both UPDATEs; the FIB writer may apply
            // the withdrawal and the marker in either order, so wait.
            for p in [&old, &new] {
                assert!(lab.rib(p).is_none(), "{}: {p} in the RIB", c.name);
            }
            lab.wait_no_route(&old);
            // `new` never reached the RIB, so no FIB operation can bring it.
            assert_eq!(lab.dut.route_to(&new), None, "{}: in the kernel", c.name);
        } else {
            lab.wait_route(&new, "via 10.66.1.2");
            let paths = lab
                .rib(&new)
                .unwrap_or_else(|| panic!("{}: {new} not in the RIB", c.name));
            assert_eq!(paths[0]["installed"], true, "{}: {paths:#}", c.name);
            if let Some(m) = c.metric {
                assert_eq!(paths[0]["metric"], m, "{}: {paths:#}", c.name);
            }
        }
        let outcome = if c.withdraw { "withdrawn" } else { "kept" };
        eprintln!("{}: session up, route {outcome}", c.name);
        peer.assert_no_notification(Duration::from_millis(20));
        let raw = lab.summary_peer(RAW_ADDR);
        assert_eq!(raw["state"], "Established", "{}: {raw:#}", c.name);
        assert_eq!(
            raw["connectionsDropped"], dropped_before,
            "{}: {raw:#}",
            c.name
        );
        lab.assert_undisturbed(c.name);
    }
    peer.assert_no_notification(Duration::from_millis(500));
    peer.cease();
    drops += 1;

    // Every connection was counted, and the BIRD session never dropped.
    let raw = lab.summary_peer(RAW_ADDR);
    assert_eq!(raw["connectionsEstablished"], handshakes, "{raw:#}");
    assert_eq!(raw["connectionsDropped"], drops, "{raw:#}");
    let bird = lab.summary_peer(BIRD_ADDR);
    assert_eq!(bird["connectionsEstablished"], 1, "{bird:#}");
    assert_eq!(bird["connectionsDropped"], 0, "{bird:#}");
    lab.assert_undisturbed("the end");
    assert!(
        !lab.wgbgpd.log_text().contains("panicked"),
        "wgbgpd logged a panic"
    );
}

/// (RSS in KiB, open fds) of the daemon.
fn footprint(d: &Wgbgpd) -> (u64, usize) {
    let pid = d.pid();
    (sample(&[pid]).rss / 1024, fd_count(pid))
}

/// A peer that connects and sends nothing, or trickles bytes that never make
/// a whole OPEN, is dropped when `startup_hold_time` runs out (RFC 4271
/// §8.2.2: Hold Timer Expired, 4/0) — partial bytes do not restart it — and
/// thirty such connections at once leave no memory or fds behind.
#[test]
fn silent_and_trickling_peers_are_dropped_by_the_startup_hold_timer() {
    require_root();
    let config = WGBGPD.replacen(
        "    passive: true\n",
        "    passive: true\n    startup_hold_time: 3\n",
        1,
    );
    let mut lab = Lab::with(&config);
    let (rss0, fds0) = footprint(&lab.wgbgpd);

    let mut silent = lab.connect();
    silent.expect_open();
    let start = std::time::Instant::now();
    let n = silent.expect_notification();
    let waited = start.elapsed();
    eprintln!("silent peer: {} after {waited:?}", n.describe());
    assert_eq!((n.code, n.subcode), (4, 0), "{}", n.describe());
    assert!(
        waited >= Duration::from_millis(2500),
        "dropped after {waited:?}, before the 3 s startup hold time"
    );
    lab.assert_undisturbed("silent peer");

    let mut trickle = lab.connect();
    trickle.expect_open();
    let start = std::time::Instant::now();
    for _ in 0..2 {
        trickle.send(&[0xff]);
        std::thread::sleep(Duration::from_secs(1));
    }
    let n = trickle.expect_notification();
    let waited = start.elapsed();
    eprintln!("trickling peer: {} after {waited:?}", n.describe());
    assert_eq!((n.code, n.subcode), (4, 0), "{}", n.describe());
    assert!(
        waited < Duration::from_millis(4500),
        "the trickled bytes kept the connection for {waited:?}"
    );
    lab.assert_undisturbed("trickling peer");

    let many: Vec<RawPeer> = (0..30).map(|_| lab.connect()).collect();
    std::thread::sleep(Duration::from_secs(1));
    let (rss_busy, fds_busy) = footprint(&lab.wgbgpd);
    eprintln!("30 silent connections: RSS {rss0} -> {rss_busy} KiB, fds {fds0} -> {fds_busy}");
    wait_for(
        Duration::from_secs(10),
        Duration::from_millis(200),
        "wgbgpd to drop the silent connections",
        || {
            let (rss, fds) = footprint(&lab.wgbgpd);
            if fds <= fds0 {
                Ok((rss, fds))
            } else {
                Err(format!("{fds} fds open, {fds0} before"))
            }
        },
    );
    let (rss1, _) = footprint(&lab.wgbgpd);
    eprintln!("after they were dropped: RSS {rss1} KiB");
    assert!(
        rss_busy.max(rss1) < rss0 + 2048,
        "silent connections cost memory: {rss0} -> {rss_busy} -> {rss1} KiB"
    );
    drop(many);
    lab.assert_undisturbed("thirty silent connections");
}
