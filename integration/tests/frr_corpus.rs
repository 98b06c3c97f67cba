//! Migrating real-world-style FRR configurations (issue 15): each file of
//! `bin/tests/data/frr/corpus/` runs on FRR 8.4 first, then `wgbgp import
//! frr` translates it, `wgbgp config check` passes it, and wgbgpd runs the
//! result in the same place against the same BIRD peers. What the node
//! accepted (its kernel's BGP routes, with next hop and interface) and what
//! each peer received from it (prefixes, AS path, communities, MED, next
//! hop) must be the same both times. The dn42 node of
//! `bin/tests/data/frr/dn42/` (link-local sessions over its wg-quick
//! tunnels) runs the same way, drawn above its test.
//!
//! ```text
//!   +-----------------+ 10.0.1.1/30   10.0.1.2/30 +----------------+ 10.0.2.1/30   10.0.2.2/30 +------------------+
//!   | up: BIRD        |----------------------------| node: FRR, then |----------------------------| down: BIRD       |
//!   | AS 64600 (MD5)  |                            | wgbgpd AS 65500 |                            | AS 64700         |
//!   +-----------------+                            +----------------+                            +------------------+
//!    default, 45.0.0-4.0/24 (one with 64600:666,     198.18.0.0/24                                198.51.100.0/24,
//!    one through AS 64666), 45.0.2.0/25, 10.99.0.0/24                                             203.0.113.0/24
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::wgbgpd::cli_bin;
use integration::{
    Bird, Frr, HandTunnel, Leftovers, Netns, SESSION_TIMEOUT, WgKey, WgPeer, WgPeerConfig, Wgbgpd,
    link, require_root, veth, wait_for,
};

/// The transit provider: a small table, with a route to drop by
/// community, one to drop by AS path, one too long and one bogon.
const UP: &str = r#"router id 10.0.1.1;
protocol device { scan time 1; }
protocol static s4 {
    ipv4;
    route 0.0.0.0/0 unreachable;
    route 45.0.0.0/24 unreachable;
    route 45.0.1.0/24 unreachable;
    route 45.0.2.0/25 unreachable;
    route 45.0.3.0/24 unreachable;
    route 45.0.4.0/24 unreachable;
    route 10.99.0.0/24 unreachable;
}
protocol bgp node {
    local 10.0.1.1 as 64600;
    neighbor 10.0.1.2 as 65500;
    password "s3cret";
    connect retry time 2;
    error wait time 1, 5;
    ipv4 {
        import all;
        export filter {
            if proto != "s4" then reject;
            bgp_community.add((64600, 1));
            if net = 45.0.3.0/24 then bgp_community.add((64600, 666));
            if net = 45.0.4.0/24 then bgp_path.prepend(64666);
            accept;
        };
    };
}
"#;

/// An exchange's route server in place of the provider: the other
/// members' routes (AS 64601), without its own AS (`rs client`).
fn route_server() -> String {
    UP.replace(
        "    password \"s3cret\";",
        "    password \"s3cret\";\n    rs client;",
    )
    .replace(
        "            bgp_community.add((64600, 1));",
        "            bgp_path.prepend(64601);",
    )
}

/// The customer: one prefix the node lets in, one it does not.
const DOWN: &str = r#"router id 10.0.2.2;
protocol device { scan time 1; }
protocol static s4 {
    ipv4;
    route 198.51.100.0/24 unreachable;
    route 203.0.113.0/24 unreachable;
}
protocol bgp node {
    local 10.0.2.2 as 64700;
    neighbor 10.0.2.1 as 65500;
    connect retry time 2;
    error wait time 1, 5;
    ipv4 { import all; export where proto = "s4"; };
}
"#;

/// A route as a BIRD peer received it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Route {
    as_path: String,
    communities: String,
    med: String,
    /// BIRD's next hop and interface (`via fe80::100 on wg…`).
    via: String,
}

type Received = BTreeMap<String, Route>;

/// What the node did: its kernel's BGP routes (prefix to `via NH dev IF`),
/// and what each BIRD peer (by its name in the test) received.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    installed: BTreeMap<String, String>,
    received: BTreeMap<&'static str, Received>,
}

impl Outcome {
    fn got(&self, peer: &str) -> &Received {
        &self.received[peer]
    }
}

/// The routes `bird` received from the node, from `show route all`.
fn received(bird: &Bird) -> Received {
    let mut out = Received::new();
    let mut current: Option<String> = None;
    for line in bird.birdc("show route all protocol node").lines() {
        if !line.starts_with(char::is_whitespace) {
            current = line
                .split_whitespace()
                .next()
                .filter(|w| w.contains('/'))
                .map(String::from);
            if let Some(p) = &current {
                out.insert(p.clone(), Default::default());
            }
            continue;
        }
        let Some(entry) = current.as_ref().and_then(|p| out.get_mut(p)) else {
            continue;
        };
        let line = line.trim();
        if line.starts_with("via ") {
            entry.via = line.to_string();
        }
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        match key {
            "BGP.as_path" => entry.as_path = value.to_string(),
            "BGP.community" => entry.communities = value.to_string(),
            "BGP.med" => entry.med = value.to_string(),
            _ => {}
        }
    }
    // FRR sends the IGP metric of a `network` route as its MED (0 here),
    // wgbgpd no MED; a missing MED counts as 0 (RFC 4271 §9.1.2.2 (c)).
    for r in out.values_mut() {
        if r.med.is_empty() {
            r.med = "0".into();
        }
    }
    out
}

/// The node's kernel routes of protocol bgp, both families: prefix to
/// `via NH dev IF` (an IPv4 route over an IPv6 next hop without `ip`'s
/// `inet6` word, the default route as a prefix).
fn installed(node: &Netns) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (fam, default) in [("-4", "0.0.0.0/0"), ("-6", "::/0")] {
        for line in node
            .stdout(&["ip", fam, "route", "show", "proto", "bgp"])
            .lines()
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(&prefix) = words.first() else {
                continue;
            };
            let after = |w: &str| words.iter().position(|x| *x == w).map(|i| &words[i + 1..]);
            let via = after("via").map(|r| match r {
                ["inet6", nh, ..] | [nh, ..] => *nh,
                [] => "",
            });
            let dev = after("dev").and_then(|r| r.first().copied());
            let prefix = if prefix == "default" { default } else { prefix };
            out.insert(
                prefix.to_string(),
                format!("via {} dev {}", via.unwrap_or("-"), dev.unwrap_or("-")),
            );
        }
    }
    out
}

/// Waits until what the node did stopped changing for 2 s and has
/// `want` installed, then returns it.
fn settled(node: &Netns, birds: &mut [(&'static str, Bird)], want: &[&str]) -> Outcome {
    let mut last: Option<Outcome> = None;
    let mut since = std::time::Instant::now();
    wait_for(
        Duration::from_secs(60),
        Duration::from_millis(500),
        "the node's routes to settle",
        || {
            let mut now = Outcome {
                installed: installed(node),
                received: BTreeMap::new(),
            };
            for (name, bird) in birds.iter_mut() {
                bird.check_alive();
                now.received.insert(name, received(bird));
            }
            if last.as_ref() != Some(&now) {
                last = Some(now);
                since = std::time::Instant::now();
                return Err("still changing".into());
            }
            let o = last.as_ref().unwrap();
            let missing: Vec<&&str> = want
                .iter()
                .filter(|w| !o.installed.contains_key(**w))
                .collect();
            match (
                missing.is_empty(),
                since.elapsed() >= Duration::from_secs(2),
            ) {
                (true, true) => Ok(()),
                _ => Err(format!("missing {missing:?} in {o:#?}")),
            }
        },
    );
    last.unwrap()
}

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bin/tests/data/frr")
        .join(rel)
}

/// One node's migration. FRR runs `frr_conf` in `node` until what it does
/// settles with `want` installed; FRR stops and the node's hand-made
/// WireGuard interfaces (`tunnels`) go; `wgbgp import frr IMPORT...`
/// translates the config, `wgbgp config check` passes it in the node, and
/// wgbgpd runs it until it settles the same way. `neighbors`: the sessions
/// both must bring up. Returns FRR's outcome and wgbgpd's.
fn migrate(
    node: &Netns,
    birds: &mut [(&'static str, Bird)],
    frr_conf: &str,
    tunnels: Vec<WgPeer>,
    import: &[&Path],
    neighbors: &[&str],
    want: &[&str],
) -> (Outcome, Outcome) {
    let frr_outcome = {
        let mut frr = Frr::start(node, frr_conf, "hostname node\n");
        for n in neighbors {
            frr.wait_established(n, SESSION_TIMEOUT);
        }
        settled(node, birds, want)
    };
    // FRR is gone; its routes leave with zebra, its tunnels with us.
    wait_for(
        Duration::from_secs(20),
        Duration::from_millis(200),
        "FRR's routes gone",
        || match installed(node) {
            routes if routes.is_empty() => Ok(()),
            routes => Err(format!("{routes:?}")),
        },
    );
    let names: Vec<String> = tunnels.iter().map(|t| t.ifname().to_string()).collect();
    drop(tunnels);
    wait_for(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "the node's hand-made tunnels gone",
        || match names
            .iter()
            .filter(|n| node.has_link(n))
            .collect::<Vec<_>>()
        {
            left if left.is_empty() => Ok(()),
            left => Err(format!("{left:?}")),
        },
    );

    let dir = integration::TempDir::new("corpus");
    let key = dir.join("private.key");
    let mut args: Vec<&OsStr> = vec!["import".as_ref(), "frr".as_ref()];
    if !names.is_empty() {
        args.extend(["--key-file".as_ref(), key.as_os_str()]);
    }
    args.extend(import.iter().map(|p| p.as_os_str()));
    let out = std::process::Command::new(cli_bin())
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{import:?}: import lost something:\n{stderr}"
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let path = dir.write("wgbgp.yaml", &yaml);
    let cli = cli_bin().display().to_string();
    let check = node.try_exec(&[cli.as_str(), "config", "check", &path.display().to_string()]);
    assert!(
        check.status.success(),
        "{import:?}: config check: {}\n{yaml}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _leftovers = Leftovers(names);
    let mut wgbgpd = Wgbgpd::start(node, &yaml);
    for n in neighbors {
        wgbgpd.wait_established(node, n, SESSION_TIMEOUT);
    }
    let ours = settled(node, birds, want);
    wgbgpd.check_alive();
    (frr_outcome, ours)
}

/// Runs corpus file `name` on FRR, then imported on wgbgpd; returns both outcomes.
fn run(name: &str, up_conf: &str, want: &[&str]) -> (Outcome, Outcome) {
    let up_ns = Netns::new("cup");
    let node = Netns::new("cnode");
    let down_ns = Netns::new("cdown");
    link((&up_ns, "v0", "10.0.1.1/30"), (&node, "tr0", "10.0.1.2/30"));
    link(
        (&node, "cu0", "10.0.2.1/30"),
        (&down_ns, "v0", "10.0.2.2/30"),
    );
    // FRR's `network` needs the prefix in its RIB; wgbgpd's `announce` does not.
    node.exec(&["ip", "route", "add", "blackhole", "198.18.0.0/24"]);
    let mut birds = [
        ("up", Bird::start(&up_ns, up_conf)),
        ("down", Bird::start(&down_ns, DOWN)),
    ];
    let path = data(&format!("corpus/{name}"));
    let conf = std::fs::read_to_string(&path).unwrap();
    migrate(
        &node,
        &mut birds,
        &conf,
        Vec::new(),
        &[&path],
        &["10.0.1.1", "10.0.2.2"],
        want,
    )
}

/// The edge lets in the provider's default route and two clean /24s, and
/// the customer's prefix; not the /25, the bogon, the blackholed or the
/// AS 64666 route, nor the customer's other prefix.
const EDGE: [&str; 4] = ["0.0.0.0/0", "198.51.100.0/24", "45.0.0.0/24", "45.0.1.0/24"];

/// The hub filters only bogons and lengths from its transit.
const HUB: [&str; 6] = [
    "0.0.0.0/0",
    "198.51.100.0/24",
    "45.0.0.0/24",
    "45.0.1.0/24",
    "45.0.3.0/24",
    "45.0.4.0/24",
];

fn assert_same(name: &str, want: &[&str], frr: &Outcome, ours: &Outcome) {
    let mut want = want.to_vec();
    want.sort();
    let prefixes: Vec<&str> = frr.installed.keys().map(String::as_str).collect();
    assert_eq!(prefixes, want, "{name}: what FRR installed");
    assert_eq!(ours.installed, frr.installed, "{name}: routes accepted");
    for peer in frr.received.keys() {
        assert_eq!(
            ours.got(peer),
            frr.got(peer),
            "{name}: what {peer} received"
        );
    }
}

#[test]
fn edge_config_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let (frr, ours) = run("edge.conf", UP, &EDGE);
    assert_same("edge", &EDGE, &frr, &ours);
    assert!(frr.got("up").contains_key("198.18.0.0/24"), "{frr:?}");
    // The edge's prepend and communities, as FRR set them.
    assert_eq!(
        frr.got("up")["198.18.0.0/24"].as_path,
        "65500 65500 65500",
        "{frr:?}"
    );
    assert!(
        frr.got("down")["45.0.0.0/24"]
            .communities
            .contains("(65500,100)"),
        "{frr:?}"
    );
}

#[test]
fn hub_config_with_peer_groups_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let (frr, ours) = run("hub.conf", UP, &HUB);
    assert_same("hub", &HUB, &frr, &ours);
    assert!(frr.got("up").contains_key("198.18.0.0/24"), "{frr:?}");
    assert_eq!(
        frr.got("down")["45.0.0.0/24"].med,
        "50",
        "the sites' MED: {frr:?}"
    );
}

/// The member takes the route server's routes whose first AS is another
/// member's: all but the default, the /25 and the bogon.
const MEMBER: [&str; 5] = [
    "198.51.100.0/24",
    "45.0.0.0/24",
    "45.0.1.0/24",
    "45.0.3.0/24",
    "45.0.4.0/24",
];

#[test]
fn route_server_client_config_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let (frr, ours) = run("rs-client.conf", &route_server(), &MEMBER);
    assert_same("rs-client", &MEMBER, &frr, &ours);
    assert!(frr.got("up").contains_key("198.18.0.0/24"), "{frr:?}");
    assert!(
        frr.got("down")["45.0.0.0/24"]
            .as_path
            .starts_with("65500 64601"),
        "{frr:?}"
    );
}

/// The dn42 node's address on every link, as its wg-quick files say.
const NODE_LL: &str = "fe80::100";

/// A dn42 neighbour in BIRD, written as dn42's guides do: the node at
/// `fe80::100` on IF (BIRD's `%IF` scope takes no `-` in names), IPv4 over
/// IPv6 next hops. It offers `routes` (its statics of both families);
/// `tweak` is BIRD filter code run on each IPv6 route (an IPv4 route
/// compared with an IPv6 prefix would be a filter error, and rejected).
fn dn42_bird(id: &str, asn: u32, wg_if: &str, routes: &[&str], tweak: &str) -> String {
    let statics = |v6: bool| -> String {
        routes
            .iter()
            .filter(|r| r.contains(':') == v6)
            .map(|r| format!(" route {r} unreachable;"))
            .collect()
    };
    format!(
        r#"router id {id};
protocol device {{ scan time 1; }}
protocol static s4 {{ ipv4;{} }}
protocol static s6 {{ ipv6;{} }}
protocol bgp node {{
    local as {asn};
    neighbor {NODE_LL} as 4242421234;
    interface "{wg_if}";
    connect retry time 2;
    error wait time 1, 5;
    ipv4 {{
        import all;
        export filter {{ if proto != "s4" then reject; bgp_community.add((64511, 3)); accept; }};
        extended next hop on;
    }};
    ipv6 {{
        import all;
        export filter {{ if proto != "s6" then reject; bgp_community.add((64511, 3)); {tweak} accept; }};
    }};
}}
"#,
        statics(false),
        statics(true),
    )
}

/// The value of `KEY = VALUE` in a wg-quick file.
fn wg_quick<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// One of the node's wg-quick files made to run here: our keys, the
/// peer's namespace as the endpoint, written as `DIR/IFNAME.conf`; and the
/// interface brought up from it by hand, as `wg-quick up` would (with
/// `Table = off`, no routes), for FRR.
fn node_tunnel(
    node: &Netns,
    dir: &integration::TempDir,
    fixture: &str,
    key: &WgKey,
    far: &HandTunnel,
    endpoint: &str,
) -> (PathBuf, WgPeer) {
    let text: String = std::fs::read_to_string(data(fixture))
        .unwrap()
        .lines()
        .map(|l| match l.split_once(" = ").map(|(k, _)| k) {
            Some("PrivateKey") => format!("PrivateKey = {}\n", key.private),
            Some("PublicKey") => format!("PublicKey = {}\n", far.b_public),
            Some("Endpoint") => format!("Endpoint = {endpoint}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let number = |k: &str| wg_quick(&text, k).map(|v| v.parse().unwrap());
    let wg = WgPeer::start_named(
        node,
        &far.a_if,
        &WgPeerConfig {
            private_key: key.private.clone(),
            listen_port: number("ListenPort"),
            peer_public_key: far.b_public.clone(),
            endpoint: Some(endpoint.into()),
            persistent_keepalive: number("PersistentKeepalive"),
            mtu: None,
        },
    );
    let address = wg_quick(&text, "Address").expect("the fixture's Address");
    node.set_link_local(&far.a_if, address);
    (dir.write(&format!("{}.conf", far.a_if), &text), wg)
}

/// The dn42 node of `bin/tests/data/frr/dn42/` (issue 15): two peers over
/// their own wg-quick tunnels and one on a plain link, every session on
/// link-local addresses, IPv4 carried over IPv6 next hops.
///
/// ```text
///   +------------------+ v0 10.63.1.2       10.63.1.1 ua +--------------------------+
///   | A: BIRD          |==== wg: fe80::1234 <-> fe80::100 =| N: FRR, then wgbgpd      |
///   | AS 4242420000    |                                   | AS 4242421234            |
///   +------------------+                                   | lo 172.20.1.1/27,        |
///   +------------------+ v0 10.63.2.2       10.63.2.1 uk |    fd42:1234::1/48       |
///   | K: BIRD          |==== wg: fe80::5678 <-> fe80::100 =|                          |
///   | AS 4242420001    |                                   |                     eth1 |
///   +------------------+                                   +------------+-------------+
///   +------------------+ v0 fe80::42                                    | fe80::100
///   | E: BIRD          |------------------------------------------------+
///   | AS 4242420002    |  (plain link, link-local only)
///   +------------------+
/// ```
///
/// The wg interfaces of N are made by hand from the wg-quick files for
/// FRR, and by wgbgpd from what `wgbgp import frr` made of them.
#[test]
fn dn42_link_local_config_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let node = Netns::new("dnode");
    let (a, k, e) = (Netns::new("dna"), Netns::new("dnk"), Netns::new("dne"));
    veth(
        &node,
        "ua",
        Some("10.63.1.1/30"),
        &a,
        "v0",
        Some("10.63.1.2/30"),
    );
    veth(
        &node,
        "uk",
        Some("10.63.2.1/30"),
        &k,
        "v0",
        Some("10.63.2.2/30"),
    );
    veth(&node, "eth1", None, &e, "v0", None);
    node.set_link_local("eth1", &format!("{NODE_LL}/64"));
    e.set_link_local("v0", "fe80::42/64");
    // What FRR's `network` lines find in the RIB: the node's own addresses.
    node.add_lo_addr("172.20.1.1/27");
    node.add_lo_addr("fd42:1234::1/48");

    let key = WgKey::generate();
    let to_a = HandTunnel::to_key(&a, "dna", &[], None, &key);
    let to_k = HandTunnel::to_key(&k, "dnk", &[], None, &key);
    a.set_link_local(to_a.wg.ifname(), "fe80::1234/64");
    k.set_link_local(to_k.wg.ifname(), "fe80::5678/64");
    let dir = integration::TempDir::new("dn42");
    let (a_file, a_wg) = node_tunnel(
        &node,
        &dir,
        "dn42/wg-dn42.conf",
        &key,
        &to_a,
        "10.63.1.2:51820",
    );
    let (k_file, k_wg) = node_tunnel(
        &node,
        &dir,
        "dn42/wg-kioubit.conf",
        &key,
        &to_k,
        "10.63.2.2:51820",
    );
    let bgpd = dir.write(
        "bgpd.conf",
        &std::fs::read_to_string(data("dn42/bgpd.conf"))
            .unwrap()
            .replace("wg-dn42", &to_a.a_if)
            .replace("wg-kioubit", &to_k.a_if),
    );

    let mut birds = [
        (
            "a",
            Bird::start(
                &a,
                &dn42_bird(
                    "10.63.1.2",
                    4242420000,
                    to_a.wg.ifname(),
                    &[
                        "172.20.16.0/24",
                        "172.20.0.0/16",
                        "172.20.20.0/30",
                        "10.100.0.0/16",
                        "192.168.50.0/24",
                        "fd42:aaaa::/48",
                        "fd42:aaab::/40",
                        "fd42:aaac::/96",
                        "2001:db8:1::/48",
                    ],
                    "",
                ),
            ),
        ),
        (
            "k",
            Bird::start(
                &k,
                &dn42_bird(
                    "10.63.2.2",
                    4242420001,
                    to_k.wg.ifname(),
                    &[
                        "10.101.0.0/24",
                        "172.21.0.0/22",
                        "fd42:bbbb::/48",
                        "fd42:bbbb:1::/48",
                    ],
                    "if net = fd42:bbbb:1::/48 then bgp_path.prepend(4242421234);",
                ),
            ),
        ),
        (
            "e",
            Bird::start(
                &e,
                &dn42_bird(
                    "10.63.3.2",
                    4242420002,
                    "v0",
                    &["172.22.0.0/24", "fd42:eeee::/48"],
                    "",
                ),
            ),
        ),
    ];
    let conf = std::fs::read_to_string(&bgpd).unwrap();
    let (frr, ours) = migrate(
        &node,
        &mut birds,
        &conf,
        vec![a_wg, k_wg],
        &[&bgpd, &a_file, &k_file],
        &["fe80::1234", "fe80::5678", "fe80::42"],
        &DN42,
    );
    assert_same("dn42", &DN42, &frr, &ours);
    // IPv4 from A over its IPv6 link-local, on A's tunnel.
    let via_a = format!("via fe80::1234 dev {}", to_a.a_if);
    assert_eq!(frr.installed["172.20.16.0/24"], via_a, "{frr:#?}");
    let via_k = format!("via fe80::5678 dev {}", to_k.a_if);
    assert_eq!(frr.installed["fd42:bbbb::/48"], via_k, "{frr:#?}");
    assert_eq!(
        frr.installed["fd42:eeee::/48"], "via fe80::42 dev eth1",
        "{frr:#?}"
    );
    // Each peer gets the node's own prefixes and nothing else: A both
    // families, K (no extended next hop) and E (IPv6 only) the IPv6 one.
    let got = |peer: &str| -> Vec<String> { frr.got(peer).keys().cloned().collect() };
    assert_eq!(got("a"), ["172.20.1.0/27", "fd42:1234::/48"], "{frr:#?}");
    assert_eq!(got("k"), ["fd42:1234::/48"], "{frr:#?}");
    assert_eq!(got("e"), ["fd42:1234::/48"], "{frr:#?}");
    assert_eq!(
        frr.got("a")["172.20.1.0/27"].as_path,
        "4242421234",
        "{frr:#?}"
    );
    let ll = format!("via {NODE_LL} on {}", to_a.wg.ifname());
    assert_eq!(frr.got("a")["172.20.1.0/27"].via, ll, "{frr:#?}");
}

/// What the dn42 node lets in: what its prefix-lists allow from A and K
/// (not A's /16 too short, /30 too long, non-dn42 or too long IPv6, nor
/// K's route through our own AS), and E's IPv6 prefix (E's IPv4 family is
/// not activated). K's session has IPv4 activated but no `capability
/// extended-nexthop`, so FRR carries no IPv4 over it: nor must wgbgpd.
const DN42: [&str; 5] = [
    "10.100.0.0/16",
    "172.20.16.0/24",
    "fd42:aaaa::/48",
    "fd42:bbbb::/48",
    "fd42:eeee::/48",
];
