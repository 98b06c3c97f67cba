//! `soft_reconfiguration: inbound` against a real BIRD: the routes as
//! received are kept before import policy, `show bgp neighbors ADDR
//! received-routes` shows the one the policy rejects, and a policy change by
//! `wgbgp reload` brings it in from the stored copy without a ROUTE-REFRESH
//! and without the session flapping.
//!
//! ```text
//!   +------------------+ 10.8.1.1     10.8.1.2 +------------------+
//!   |  A  wgbgpd       |-----------------------|  B  BIRD 2       |
//!   |  AS 65501        |         veth          |  AS 65502        |
//!   |  announces       |                       |  announces       |
//!   |  192.0.2.0/24    |                       |  198.51.100.0/24 |
//!   |  /metrics :9179  |                       |  203.0.113.0/24  |
//!   +------------------+                       +------------------+
//! ```

use std::time::Duration;

use integration::bird::BirdPeer;
use integration::metrics::{scrape, value};
use integration::{Bird, Netns, POLL, Pair, Wgbgpd, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const METRICS: &str = "127.0.0.1:9179";

fn a_config(import: &str, soft: bool) -> String {
    let soft = if soft {
        "    soft_reconfiguration: inbound\n"
    } else {
        ""
    };
    format!(
        r#"router_id: 10.8.0.1
asn: 65501
loopback: [10.8.0.1/32]
announce: [192.0.2.0/24]
metrics: {{ listen: "{METRICS}" }}
peers:
  b:
    asn: 65502
    address: 10.8.1.2
    local_address: 10.8.1.1
{soft}    import: [{import}]
    export: [all]
policies:
  all:
    - action: accept
  only-198:
    - match: {{ prefix: ["198.51.100.0/24"] }}
      action: accept
"#
    )
}

const BIRD_B: BirdPeer = BirdPeer {
    name: "a",
    router_id: "10.8.1.2",
    local: "10.8.1.2",
    asn: 65502,
    neighbor: "10.8.1.1",
    peer_asn: 65501,
    statics: &["198.51.100.0/24", "203.0.113.0/24"],
    import: "all",
    options: &[],
};

fn route(ns: &Netns, prefix: &str) -> Option<String> {
    let out = ns.stdout(&["ip", "route", "show", "exact", prefix]);
    (!out.trim().is_empty()).then(|| out.trim().to_string())
}

/// (routeRefreshSent, connectionsEstablished) of B as A sees it.
fn refresh_and_flaps(a: &Wgbgpd, ns: &Netns) -> (u64, u64) {
    let nb: Value = a.cli_json(ns, &["show", "bgp", "neighbors", "10.8.1.2"]);
    let sum: Value = a.cli_json(ns, &["show", "bgp", "summary"]);
    (
        nb["10.8.1.2"]["messageStats"]["routeRefreshSent"]
            .as_u64()
            .unwrap_or_else(|| panic!("no routeRefreshSent: {nb:#}")),
        sum["ipv4Unicast"]["peers"]["10.8.1.2"]["connectionsEstablished"]
            .as_u64()
            .unwrap_or_else(|| panic!("no connectionsEstablished: {sum:#}")),
    )
}

const PEER: &str = r#"name="b",peer="10.8.1.2",peer_as="65502""#;

fn prefixes(text: &str, what: &str) -> Option<f64> {
    value(
        text,
        &format!(r#"wgbgp_prefixes_{what}{{afi="ipv4",{PEER},safi="unicast"}}"#),
    )
}

fn refresh_metric(text: &str) -> f64 {
    value(
        text,
        &format!(r#"wgbgp_messages_sent_total{{{PEER},type="route_refresh"}}"#),
    )
    .unwrap_or(0.0)
}

#[test]
fn received_routes_keep_what_policy_rejects_and_reload_applies_it_without_refresh() {
    require_root();
    let Pair {
        a: a_ns, b: b_ns, ..
    } = Pair::new("sr", "eth1", "10.8.1");
    let mut a = Wgbgpd::start(&a_ns, &a_config("only-198", true));
    let mut bird = Bird::start(&b_ns, &BIRD_B.conf());
    bird.wait_established("a", T);
    a.wait_established(&a_ns, "10.8.1.2", T);
    wait_for(T, POLL, "198.51.100.0/24 in A's kernel", || {
        route(&a_ns, "198.51.100.0/24").ok_or_else(|| a_ns.routes(""))
    });
    assert!(
        route(&a_ns, "203.0.113.0/24").is_none(),
        "the import policy must keep 203.0.113.0/24 out"
    );

    // received-routes: both, before policy; the rejected one is counted.
    let show = ["show", "bgp", "neighbors", "10.8.1.2", "received-routes"];
    let rr: Value = a.cli_json(&a_ns, &show);
    assert_eq!(rr["totalPrefixCounter"], 2, "{rr:#}");
    assert_eq!(rr["filteredPrefixCounter"], 1, "{rr:#}");
    let rejected = &rr["receivedRoutes"]["203.0.113.0/24"];
    assert_eq!(rejected["nextHop"], "10.8.1.2", "{rr:#}");
    assert_eq!(rejected["path"], "65502", "{rr:#}");
    assert_eq!(rejected["accepted"], false, "{rr:#}");
    assert_eq!(rr["receivedRoutes"]["198.51.100.0/24"]["accepted"], true);
    let text = a.cli(&a_ns, &show);
    assert!(
        text.contains("203.0.113.0/24") && text.contains("Total number of prefixes 2 (1 filtered)"),
        "{text}"
    );
    // routes: only what the policy accepted, as `show bgp ipv4 unicast`.
    let routes: Value = a.cli_json(&a_ns, &["show", "bgp", "neighbors", "10.8.1.2", "routes"]);
    let accepted: Vec<&String> = routes["routes"].as_object().unwrap().keys().collect();
    assert_eq!(accepted, vec!["198.51.100.0/24"], "{routes:#}");
    // advertised-routes: our prefix as sent (our AS, our address).
    let adv: Value = a.cli_json(
        &a_ns,
        &["show", "bgp", "neighbors", "10.8.1.2", "advertised-routes"],
    );
    let ours = &adv["advertisedRoutes"]["192.0.2.0/24"];
    assert_eq!(ours["nextHop"], "10.8.1.1", "{adv:#}");
    assert_eq!(ours["path"], "65501", "{adv:#}");
    assert_eq!(adv["totalPrefixCounter"], 1, "{adv:#}");

    wait_for(T, POLL, "prefix gauges", || {
        let m = scrape(&a_ns, METRICS);
        match (
            prefixes(&m, "received"),
            prefixes(&m, "accepted"),
            prefixes(&m, "filtered"),
        ) {
            (Some(2.0), Some(1.0), Some(1.0)) => Ok(()),
            other => Err(format!("received/accepted/filtered = {other:?}")),
        }
    });
    let (refresh_before, established) = refresh_and_flaps(&a, &a_ns);
    assert_eq!(established, 1);
    let metric_before = refresh_metric(&scrape(&a_ns, METRICS));
    assert_eq!(metric_before, refresh_before as f64);

    // Reload with an import policy that accepts everything: from the copy.
    let socket_line = format!("control_socket: {}\n", a.socket().display());
    std::fs::write(a.config_path(), a_config("all", true) + &socket_line).unwrap();
    let out = a.cli(&a_ns, &["reload"]);
    assert!(out.contains("b"), "{out}");
    wait_for(T, POLL, "203.0.113.0/24 in A's kernel after reload", || {
        route(&a_ns, "203.0.113.0/24").ok_or_else(|| a_ns.routes(""))
    });
    // Past a metrics refresh (every 2 s), then count again.
    std::thread::sleep(Duration::from_secs(3));
    let m = scrape(&a_ns, METRICS);
    assert_eq!(prefixes(&m, "accepted"), Some(2.0), "{m}");
    assert_eq!(prefixes(&m, "filtered"), Some(0.0), "{m}");
    assert_eq!(
        refresh_metric(&m),
        metric_before,
        "a ROUTE-REFRESH was sent"
    );
    assert_eq!(
        refresh_and_flaps(&a, &a_ns),
        (refresh_before, 1),
        "(ROUTE-REFRESH sent, sessions established): no refresh, no flap"
    );
    let rr: Value = a.cli_json(&a_ns, &show);
    assert_eq!(rr["filteredPrefixCounter"], 0, "{rr:#}");

    // `clear bgp b soft in` with the copy: still no ROUTE-REFRESH.
    a.cli(&a_ns, &["clear", "bgp", "b", "soft", "in"]);
    assert_eq!(refresh_and_flaps(&a, &a_ns).0, refresh_before);

    // Without the option: received-routes is refused as FRR does, and a
    // tighter policy needs the peer to resend (the counter does move).
    std::fs::write(a.config_path(), a_config("only-198", false) + &socket_line).unwrap();
    a.cli(&a_ns, &["reload"]);
    let failed = a_ns.try_exec(&[
        integration::wgbgpd::cli_bin().to_str().unwrap(),
        "--socket",
        a.socket().to_str().unwrap(),
        "show",
        "bgp",
        "neighbors",
        "10.8.1.2",
        "received-routes",
    ]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("Inbound soft reconfiguration not enabled"),
        "{err}"
    );
    wait_for(
        T,
        POLL,
        "203.0.113.0/24 gone from A's kernel",
        || match route(&a_ns, "203.0.113.0/24") {
            Some(r) => Err(format!("still there: {r}")),
            None => Ok(()),
        },
    );
    wait_for(T, POLL, "a ROUTE-REFRESH for the policy change", || {
        let (sent, flaps) = refresh_and_flaps(&a, &a_ns);
        if sent > refresh_before && flaps == 1 {
            Ok(())
        } else {
            Err(format!("routeRefreshSent {sent}, established {flaps}"))
        }
    });
    let info = bird.protocol_info("a").unwrap_or_default();
    assert!(info.contains("Established"), "{info}");
    a.check_alive();
}
