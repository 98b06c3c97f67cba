//! Changing a running wgbgpd without outages: reload by difference, refused
//! bad configs, peer removal, and `clear bgp`.
//!
//! ```text
//!   +------+ 10.7.1.2   10.7.1.1 +------+ 10.7.2.1   10.7.2.2 +------+
//!   |  B   |---------------------|  A   |---------------------|  C   |
//!   +------+  AS 65502           +------+  AS 65501           +------+ AS 65503
//!   announces 198.51.100.0/24    the daemon under change      announces 192.0.2.0/24
//!         and 198.51.100.128/25
//! ```
//!
//! Plain eBGP over veth (no tunnels), so every change is about sessions and
//! policy; the flap count is `connectionsEstablished` on A.

use std::time::Duration;

use integration::{Netns, Wgbgpd, link, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

fn a_config(b_import: &str, announce: &str, with_c: bool, b_hold: u16) -> String {
    let c = if with_c {
        "  c:\n    asn: 65503\n    address: 10.7.2.2\n    local_address: 10.7.2.1\n    import: [all]\n    export: [all]\n"
    } else {
        ""
    };
    format!(
        r#"router_id: 10.7.0.1
asn: 65501
loopback: [10.7.0.1/32]
announce: {announce}
peers:
  b:
    asn: 65502
    address: 10.7.1.2
    local_address: 10.7.1.1
    hold_time: {b_hold}
    import: [{b_import}]
    export: [all]
{c}policies:
  all:
    - action: accept
  only-24:
    - match: {{ prefix: ["198.51.100.0/24"] }}
      action: accept
"#
    )
}

fn leaf(id: &str, asn: u32, addr: &str, local: &str, announce: &str) -> String {
    format!(
        r#"router_id: {id}
asn: {asn}
loopback: [{id}/32]
announce: {announce}
peers:
  a:
    asn: 65501
    address: {addr}
    local_address: {local}
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#
    )
}

/// Waits until `ns` has no route for exactly `prefix`.
fn wait_gone(ns: &Netns, prefix: &str, what: &str) {
    wait_for(T, Duration::from_millis(200), what, || ns.no_route(prefix));
}

fn established_count(d: &Wgbgpd, ns: &Netns, addr: &str) -> u64 {
    let v: Value = d.cli_json(ns, &["show", "bgp", "summary"]);
    v["ipv4Unicast"]["peers"][addr]["connectionsEstablished"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn reload_applies_by_difference_without_flapping_unrelated_sessions() {
    require_root();
    let (a_ns, b_ns, c_ns) = (Netns::new("ra"), Netns::new("rb"), Netns::new("rc"));
    link(
        (&a_ns, "eth1", "10.7.1.1/24"),
        (&b_ns, "eth1", "10.7.1.2/24"),
    );
    link(
        (&a_ns, "eth2", "10.7.2.1/24"),
        (&c_ns, "eth1", "10.7.2.2/24"),
    );
    let b = Wgbgpd::start(
        &b_ns,
        &leaf(
            "10.7.0.2",
            65502,
            "10.7.1.1",
            "10.7.1.2",
            "[198.51.100.0/24, 198.51.100.128/25]",
        ),
    );
    let c = Wgbgpd::start(
        &c_ns,
        &leaf("10.7.0.3", 65503, "10.7.2.1", "10.7.2.2", "[192.0.2.0/24]"),
    );
    let mut a = Wgbgpd::start(&a_ns, &a_config("all", "[]", true, 90));
    a.wait_established(&a_ns, "10.7.1.2", T);
    a.wait_established(&a_ns, "10.7.2.2", T);
    wait_for(
        T,
        Duration::from_millis(200),
        "B's /25 in A's kernel",
        || a_ns.route("198.51.100.128/25"),
    );
    wait_for(
        T,
        Duration::from_millis(200),
        "C's prefix in A's kernel",
        || a_ns.route("192.0.2.0/24"),
    );

    // `config plan` says what a reload would do, and changes nothing.
    // The harness gave A a private control socket; keep it in every version.
    let socket_line = format!("control_socket: {}\n", a.socket().display());
    let new = a_config("only-24", "[203.0.113.0/24]", true, 90) + &socket_line;
    let candidate = a.dir().join("candidate.yaml");
    std::fs::write(&candidate, &new).unwrap();
    let plan = a.cli(&a_ns, &["config", "plan", candidate.to_str().unwrap()]);
    assert!(
        plan.contains("re-apply import policy (route refresh): b"),
        "{plan}"
    );
    assert!(plan.contains("announce: 203.0.113.0/24"), "{plan}");
    assert!(!plan.contains("reset session"), "{plan}");
    assert!(
        a_ns.route_to("198.51.100.128/25").is_some(),
        "plan must not apply anything"
    );

    // Reload: B's import tightens (soft, via ROUTE-REFRESH), a new prefix is
    // announced; neither session flaps.
    std::fs::write(a.config_path(), &new).unwrap();
    let out = a.cli(&a_ns, &["reload"]);
    assert!(out.contains("re-apply import policy"), "{out}");
    wait_gone(&a_ns, "198.51.100.128/25", "B's /25 gone from A's kernel");
    assert!(
        a_ns.route_to("198.51.100.0/24").is_some(),
        "B's /24 must stay"
    );
    wait_for(
        T,
        Duration::from_millis(200),
        "C learns 203.0.113.0/24",
        || c_ns.route("203.0.113.0/24"),
    );
    assert_eq!(
        established_count(&a, &a_ns, "10.7.1.2"),
        1,
        "B's session flapped"
    );
    assert_eq!(
        established_count(&a, &a_ns, "10.7.2.2"),
        1,
        "C's session flapped"
    );
    let nb: Value = b.cli_json(&b_ns, &["show", "bgp", "neighbors"]);
    let rr = nb["10.7.1.1"]["messageStats"]["routeRefreshRecv"]
        .as_u64()
        .unwrap();
    assert!(rr >= 1, "B never got a ROUTE-REFRESH: {nb:#}");

    // A broken config is refused with file, line and key; nothing changes.
    let broken = new.replace("hold_time: 90", "hold_tme: 90");
    std::fs::write(a.config_path(), &broken).unwrap();
    let failed = a_ns.try_exec(&[
        integration::wgbgpd::cli_bin().to_str().unwrap(),
        "--socket",
        a.socket().to_str().unwrap(),
        "reload",
    ]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("hold_tme") && err.contains("wgbgpd.yaml:"),
        "{err}"
    );
    a.check_alive();
    assert_eq!(established_count(&a, &a_ns, "10.7.1.2"), 1);

    // SIGHUP with C removed and B's hold time changed: C is de-configured,
    // B's session is reset (hold time is negotiated), A keeps running.
    std::fs::write(
        a.config_path(),
        a_config("only-24", "[203.0.113.0/24]", false, 30) + &socket_line,
    )
    .unwrap();
    a.signal(libc::SIGHUP);
    wait_gone(&a_ns, "192.0.2.0/24", "C's route gone from A");
    wait_for(
        T,
        Duration::from_millis(250),
        "C sees its session down",
        || match c.peer_state(&c_ns, "10.7.2.1").as_deref() {
            Some("Established") | None => Err("still Established".into()),
            Some(_) => Ok(()),
        },
    );
    let summary: Value = a.cli_json(&a_ns, &["show", "bgp", "summary"]);
    assert!(
        summary["ipv4Unicast"]["peers"]["10.7.2.2"].is_null(),
        "{summary:#}"
    );
    a.wait_established(&a_ns, "10.7.1.2", T);
    let nb: Value = a.cli_json(&a_ns, &["show", "bgp", "neighbors", "10.7.1.2"]);
    assert_eq!(nb["10.7.1.2"]["bgpTimerHoldTimeMsecs"], 30_000, "{nb:#}");

    // `clear bgp b` resets only B; `soft out` resends without a reset.
    let before = b.cli_json(&b_ns, &["show", "bgp", "summary"])["ipv4Unicast"]["peers"]["10.7.1.1"]
        ["connectionsEstablished"]
        .as_u64()
        .unwrap();
    let out = a.cli(&a_ns, &["clear", "bgp", "b", "soft", "out"]);
    assert!(out.contains("1 session(s)"), "{out}");
    a.cli(&a_ns, &["clear", "bgp", "10.7.1.2"]);
    wait_for(
        T,
        Duration::from_millis(250),
        "B reconnects after clear",
        || {
            let now =
                b.cli_json(&b_ns, &["show", "bgp", "summary"])["ipv4Unicast"]["peers"]["10.7.1.1"]
                    .clone();
            if now["state"] == "Established"
                && now["connectionsEstablished"].as_u64() > Some(before)
            {
                Ok(())
            } else {
                Err(format!("{now:#}"))
            }
        },
    );
    a.check_alive();
}
