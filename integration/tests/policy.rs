//! Policy `set` actions end to end: import LOCAL_PREF choosing between two
//! peers, export communities, MED and prepend as a BIRD receiver sees them,
//! and a changed named set re-applied by reload without a session reset.
//!
//! ```text
//!   +------+ 10.77.1.2  10.77.1.1 +------+ 10.77.3.1  10.77.3.2 +------+
//!   |  B   |----------------------|  A   |----------------------|  R   |
//!   +------+  AS 65502            |      |  AS 65501            +------+
//!   announces 203.0.113.0/24      |      |                      BIRD, AS 65503
//!   +------+ 10.77.2.2  10.77.2.1 |      |
//!   |  C   |----------------------|      |
//!   +------+  AS 65504            +------+
//!   announces 203.0.113.0/24, prepends itself twice on export
//! ```
//!
//! Without policy A prefers B (AS path 1 against C's 3). A's import policy
//! gives C's routes in `prefix_sets.preferred` LOCAL_PREF 200, so C wins;
//! A's export to R adds communities, sets MED and prepends once more.

use std::time::Duration;

use integration::bird::BirdPeer;
use integration::{Bird, Netns, Wgbgpd, link, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const PREFIX: &str = "203.0.113.0/24";

fn a_config(preferred: &str) -> String {
    format!(
        r#"router_id: 10.77.0.1
asn: 65501
loopback: [10.77.0.1/32]
peers:
  b:
    asn: 65502
    address: 10.77.1.2
    local_address: 10.77.1.1
    import: [prefer-c, all]
    export: [all]
  c:
    asn: 65504
    address: 10.77.2.2
    local_address: 10.77.2.1
    import: [prefer-c, all]
    export: [all]
  r:
    asn: 65503
    address: 10.77.3.2
    local_address: 10.77.3.1
    import: [all]
    export: [to-r]
prefix_sets:
  preferred: [{preferred}]
community_sets:
  ours: ["65501:100", "65501:0:7"]
policies:
  all:
    - action: accept
  prefer-c:
    - match: {{ peer: c, prefix_set: preferred }}
      action: accept
      set: {{ local_pref: 200 }}
  to-r:
    - action: next
      set: {{ communities: {{ add: [ours] }} }}
    - match: {{ community: ["65501:100"], afi: ipv4 }}
      action: accept
      set: {{ med: 50, prepend: 1 }}
"#
    )
}

fn leaf(id: &str, asn: u32, addr: &str, local: &str, export: &str) -> String {
    format!(
        r#"router_id: {id}
asn: {asn}
loopback: [{id}/32]
announce: [{PREFIX}]
peers:
  a:
    asn: 65501
    address: {addr}
    local_address: {local}
    import: [all]
    export: [{export}]
policies:
  all:
    - action: accept
  prepend-twice:
    - action: accept
      set: {{ prepend: 2 }}
"#
    )
}

const BIRD_R: BirdPeer = BirdPeer {
    name: "a",
    router_id: "10.77.0.3",
    local: "10.77.3.2",
    asn: 65503,
    neighbor: "10.77.3.1",
    peer_asn: 65501,
    statics: &[],
    import: "all",
    options: &[],
};

fn established_count(d: &Wgbgpd, ns: &Netns, addr: &str) -> u64 {
    let v: Value = d.cli_json(ns, &["show", "bgp", "summary"]);
    v["ipv4Unicast"]["peers"][addr]["connectionsEstablished"]
        .as_u64()
        .unwrap_or(0)
}

/// A's kernel route to PREFIX goes via `gw`.
fn wait_route_via(ns: &Netns, gw: &str, what: &str) {
    wait_for(T, Duration::from_millis(200), what, || {
        match ns.route_to(PREFIX) {
            Some(r) if r.contains(&format!("via {gw} ")) => Ok(()),
            other => Err(format!("{other:?}\n{}", ns.routes(""))),
        }
    });
}

/// BIRD's `show route all for PREFIX` once it contains every one of `want`.
fn wait_bird_route(bird: &Bird, want: &[&str], what: &str) -> String {
    wait_for(T, Duration::from_millis(250), what, || {
        let text = bird.show_route(&format!("all for {PREFIX}"));
        if want.iter().all(|w| text.contains(w)) {
            Ok(text)
        } else {
            Err(text)
        }
    })
}

#[test]
fn import_local_pref_and_export_communities_prepend_med_and_set_reload() {
    require_root();
    let (a_ns, b_ns, c_ns, r_ns) = (
        Netns::new("pa"),
        Netns::new("pb"),
        Netns::new("pc"),
        Netns::new("pr"),
    );
    for (i, ns) in [(1, &b_ns), (2, &c_ns), (3, &r_ns)] {
        link(
            (&a_ns, &format!("eth{i}"), &format!("10.77.{i}.1/24")),
            (ns, "eth1", &format!("10.77.{i}.2/24")),
        );
    }
    let _b = Wgbgpd::start(
        &b_ns,
        &leaf("10.77.0.2", 65502, "10.77.1.1", "10.77.1.2", "all"),
    );
    let mut c = Wgbgpd::start(
        &c_ns,
        &leaf(
            "10.77.0.4",
            65504,
            "10.77.2.1",
            "10.77.2.2",
            "prepend-twice",
        ),
    );
    let mut bird = Bird::start(&r_ns, &BIRD_R.conf());
    let mut a = Wgbgpd::start(&a_ns, &a_config(&format!("\"{PREFIX}\"")));
    for peer in ["10.77.1.2", "10.77.2.2", "10.77.3.2"] {
        a.wait_established(&a_ns, peer, T);
    }
    c.wait_established(&c_ns, "10.77.2.1", T);
    bird.wait_established("a", T);

    // Import: C's longer path wins on LOCAL_PREF 200.
    wait_route_via(&a_ns, "10.77.2.2", "A's route via C (local_pref 200)");
    // FRR's detail of one prefix: the best path first, and why it won.
    let shown: Value = a.cli_json(&a_ns, &["show", "bgp", "ipv4", "unicast", PREFIX]);
    let paths = shown["paths"].as_array().cloned().unwrap_or_default();
    assert_eq!(paths.len(), 2, "{shown:#}");
    let best = &paths[0];
    assert_eq!(best["bestpath"]["overall"], true, "{shown:#}");
    assert_eq!(
        best["bestpath"]["selectionReason"], "Local Pref",
        "{shown:#}"
    );
    assert_eq!(best["aspath"]["string"], "65504 65504 65504", "{shown:#}");
    assert_eq!(best["locPrf"], 200, "{shown:#}");

    // Export to BIRD: communities from the set, MED 50, our AS twice.
    let text = wait_bird_route(
        &bird,
        &["BGP.as_path: 65501 65501 65504 65504 65504", "BGP.med: 50"],
        "R to get A's route with prepend and MED",
    );
    assert!(text.contains("(65501,100)"), "{text}");
    assert!(text.contains("(65501, 0, 7)"), "{text}");

    // Reload with `preferred` not covering the prefix: B's shorter path wins
    // again, by route refresh and re-export, with no session reset.
    let before: Vec<u64> = ["10.77.1.2", "10.77.2.2", "10.77.3.2"]
        .iter()
        .map(|p| established_count(&a, &a_ns, p))
        .collect();
    let socket_line = format!("control_socket: {}\n", a.socket().display());
    let new = a_config("\"198.51.100.0/24\"") + &socket_line;
    std::fs::write(a.config_path(), &new).unwrap();
    let out = a.cli(&a_ns, &["reload"]);
    assert!(
        out.contains("re-apply import policy (route refresh): c"),
        "{out}"
    );
    assert!(!out.contains("reset session"), "{out}");
    wait_route_via(&a_ns, "10.77.1.2", "A's route via B after the reload");
    wait_bird_route(
        &bird,
        &["BGP.as_path: 65501 65501 65502", "BGP.med: 50"],
        "R to get the route through B",
    );
    let after: Vec<u64> = ["10.77.1.2", "10.77.2.2", "10.77.3.2"]
        .iter()
        .map(|p| established_count(&a, &a_ns, p))
        .collect();
    assert_eq!(before, after, "a session was reset by the reload");
    assert_eq!(before, vec![1, 1, 1]);
}
