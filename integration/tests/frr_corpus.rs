//! Migrating real-world-style FRR configurations (issue 15): each file of
//! `bin/tests/data/frr/corpus/` runs on FRR 8.4 first, then `wgbgp import
//! frr` translates it, `wgbgp config check` passes it, and wgbgpd runs the
//! result in the same place against the same BIRD peers. What the node
//! accepted (its kernel's BGP routes) and what each peer received from it
//! (prefixes, AS path, communities, MED) must be the same both times.
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
use std::path::PathBuf;
use std::time::Duration;

use integration::wgbgpd::cli_bin;
use integration::{Bird, Frr, Netns, SESSION_TIMEOUT, Wgbgpd, link, require_root, wait_for};

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

/// A route as a BIRD peer received it: AS path, communities, MED.
type Received = BTreeMap<String, (String, String, String)>;

/// What the node did: the prefixes it installed, and what each peer got.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    installed: Vec<String>,
    up: Received,
    down: Received,
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
        let (Some(p), Some((key, value))) = (&current, line.trim().split_once(": ")) else {
            continue;
        };
        let entry = out.get_mut(p).expect("inserted");
        match key {
            "BGP.as_path" => entry.0 = value.to_string(),
            "BGP.community" => entry.1 = value.to_string(),
            "BGP.med" => entry.2 = value.to_string(),
            _ => {}
        }
    }
    // FRR sends the IGP metric of a `network` route as its MED (0 here),
    // wgbgpd no MED; a missing MED counts as 0 (RFC 4271 §9.1.2.2 (c)).
    for (_, _, med) in out.values_mut() {
        if med.is_empty() {
            *med = "0".into();
        }
    }
    out
}

/// The node's kernel routes of protocol bgp, by prefix.
fn installed(node: &Netns) -> Vec<String> {
    let routes = node.stdout(&["ip", "-4", "route", "show", "proto", "bgp"]);
    let mut p: Vec<String> = routes
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect();
    // `ip` writes the default route as "default".
    for x in &mut p {
        if x == "default" {
            *x = "0.0.0.0/0".into();
        }
    }
    p.sort();
    p
}

/// Waits until what the node did stopped changing for 2 s and has
/// `want` installed, then returns it.
fn settled(node: &Netns, up: &mut Bird, down: &mut Bird, want: &[&str]) -> Outcome {
    let mut last: Option<Outcome> = None;
    let mut since = std::time::Instant::now();
    wait_for(
        Duration::from_secs(60),
        Duration::from_millis(500),
        "the node's routes to settle",
        || {
            up.check_alive();
            down.check_alive();
            let now = Outcome {
                installed: installed(node),
                up: received(up),
                down: received(down),
            };
            if last.as_ref() != Some(&now) {
                last = Some(now);
                since = std::time::Instant::now();
                return Err("still changing".into());
            }
            let o = last.as_ref().unwrap();
            let missing: Vec<&&str> = want
                .iter()
                .filter(|w| !o.installed.iter().any(|i| i == *w))
                .collect();
            match (
                missing.is_empty(),
                since.elapsed() >= Duration::from_secs(2),
            ) {
                (true, true) => Ok(()),
                _ => Err(format!("missing {missing:?} in {o:?}")),
            }
        },
    );
    last.unwrap()
}

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bin/tests/data/frr/corpus")
        .join(name)
}

/// Runs `name` on FRR, then imported on wgbgpd; returns both outcomes.
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
    let mut up = Bird::start(&up_ns, up_conf);
    let mut down = Bird::start(&down_ns, DOWN);
    let conf = std::fs::read_to_string(corpus(name)).unwrap();

    let frr_outcome = {
        let mut frr = Frr::start(&node, &conf, "hostname node\n");
        frr.wait_established("10.0.1.1", SESSION_TIMEOUT);
        frr.wait_established("10.0.2.2", SESSION_TIMEOUT);
        settled(&node, &mut up, &mut down, want)
    };
    // FRR is gone; its routes leave with zebra.
    wait_for(
        Duration::from_secs(20),
        Duration::from_millis(200),
        "FRR's routes gone",
        || match installed(&node).is_empty() {
            true => Ok(()),
            false => Err(format!("{:?}", installed(&node))),
        },
    );

    let dir = integration::TempDir::new("corpus");
    let out = std::process::Command::new(cli_bin())
        .args(["import", "frr"])
        .arg(corpus(name))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name}: import lost something:\n{stderr}"
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    dir.write("wgbgp.yaml", &yaml);
    let check = std::process::Command::new(cli_bin())
        .args(["config", "check"])
        .arg(dir.path().join("wgbgp.yaml"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{name}: config check: {}\n{yaml}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut wgbgpd = Wgbgpd::start(&node, &yaml);
    wgbgpd.wait_established(&node, "10.0.1.1", SESSION_TIMEOUT);
    wgbgpd.wait_established(&node, "10.0.2.2", SESSION_TIMEOUT);
    let ours = settled(&node, &mut up, &mut down, want);
    wgbgpd.check_alive();
    (frr_outcome, ours)
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
    assert_eq!(frr.installed, want, "{name}: what FRR installed");
    assert_eq!(ours.installed, frr.installed, "{name}: routes accepted");
    assert_eq!(ours.up, frr.up, "{name}: what the provider received");
    assert_eq!(ours.down, frr.down, "{name}: what the customer received");
    assert!(frr.up.contains_key("198.18.0.0/24"), "{name}: {frr:?}");
}

#[test]
fn edge_config_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let (frr, ours) = run("edge.conf", UP, &EDGE);
    assert_same("edge", &EDGE, &frr, &ours);
    // The edge's prepend and communities, as FRR set them.
    assert_eq!(frr.up["198.18.0.0/24"].0, "65500 65500 65500", "{frr:?}");
    assert!(frr.down["45.0.0.0/24"].1.contains("(65500,100)"), "{frr:?}");
}

#[test]
fn hub_config_with_peer_groups_imported_from_frr_accepts_and_sends_what_frr_did() {
    require_root();
    let (frr, ours) = run("hub.conf", UP, &HUB);
    assert_same("hub", &HUB, &frr, &ours);
    assert_eq!(frr.down["45.0.0.0/24"].2, "50", "the sites' MED: {frr:?}");
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
    assert!(
        frr.down["45.0.0.0/24"].0.starts_with("65500 64601"),
        "{frr:?}"
    );
}
