//! `max_prefix`: a peer that sends more prefixes than allowed loses its
//! session (RFC 4486 Cease/Maximum Number of Prefixes Reached) and stays
//! down for `restart_after`; with `action: warn` the routes stay.
//!
//! ```text
//!   +------+ 10.9.1.1      10.9.1.2 +------+  announces 203.0.113.0/24,
//!   |  A   |------------------------|  B   |  203.0.113.128/25, 198.51.100.0/24
//!   +------+  AS 65501              +------+  AS 65502
//! ```

use std::time::Duration;

use integration::{Netns, Pair, Wgbgpd, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

fn a_config(max_prefix: &str) -> String {
    format!(
        r#"router_id: 10.9.0.1
asn: 65501
loopback: [10.9.0.1/32]
peers:
  b:
    asn: 65502
    address: 10.9.1.2
    local_address: 10.9.1.1
    max_prefix: {max_prefix}
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#
    )
}

const B: &str = r#"router_id: 10.9.0.2
asn: 65502
loopback: [10.9.0.2/32]
announce: [203.0.113.0/24, 203.0.113.128/25, 198.51.100.0/24]
peers:
  a:
    asn: 65501
    address: 10.9.1.1
    local_address: 10.9.1.2
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#;

fn bgp_routes(ns: &Netns) -> usize {
    ns.bgp_routes().len()
}

/// A and B on one link, 10.9.1.1 and 10.9.1.2.
fn namespaces(tag: &str) -> (Netns, Netns) {
    let pair = Pair::new(tag, "eth1", "10.9.1");
    (pair.a, pair.b)
}

/// Waits until `ns` has B's three routes.
fn wait_three_routes(ns: &Netns, what: &str) {
    wait_for(T, Duration::from_millis(200), what, || {
        if bgp_routes(ns) == 3 {
            Ok(())
        } else {
            Err(ns.routes(""))
        }
    });
}

#[test]
fn max_prefix_restart_closes_the_session_and_warn_keeps_it() {
    require_root();
    let (a_ns, b_ns) = namespaces("m");
    let b = Wgbgpd::start(&b_ns, B);
    let mut a = Wgbgpd::start(&a_ns, &a_config("{ limit: 2, restart_after: 30 }"));
    // B's log says why it was dropped; A stays Idle for restart_after.
    wait_for(
        T,
        Duration::from_millis(200),
        "B told of the prefix limit",
        || {
            let log = b.log_text();
            if log.contains("Maximum Number of Prefixes Reached") {
                Ok(())
            } else {
                Err(log)
            }
        },
    );
    let summary: Value = a.cli_json(&a_ns, &["show", "bgp", "summary"]);
    let state = summary["ipv4Unicast"]["peers"]["10.9.1.2"]["state"].clone();
    assert_ne!(state, "Established", "{summary:#}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        bgp_routes(&a_ns),
        0,
        "routes of a dropped session stay:\n{}",
        a_ns.routes("")
    );
    assert_ne!(
        a.peer_state(&a_ns, "10.9.1.2").as_deref(),
        Some("Established"),
        "restarted too early"
    );
    let nb: Value = a.cli_json(&a_ns, &["show", "bgp", "neighbors"]);
    let reset = nb["10.9.1.2"]["lastResetDueTo"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reset.contains("Maximum Number of Prefixes"), "{nb:#}");

    // Warn only: the session stays up with all three routes.
    a.stop();
    let mut a = Wgbgpd::start(&a_ns, &a_config("{ limit: 2, action: warn }"));
    a.wait_established(&a_ns, "10.9.1.2", T);
    wait_three_routes(&a_ns, "three routes with warn");
    assert!(a.log_text().contains("max_prefix exceeded (warn only)"));
}

/// TCP-MD5 (RFC 2385) and GTSM (RFC 5082): matching keys and TTL 255 on
/// both sides bring the session up; a wrong key never does.
#[test]
fn md5_and_gtsm_sessions_need_the_right_key() {
    require_root();
    let (a_ns, b_ns) = namespaces("s");
    let secure = |yaml: &str, key: &str| {
        yaml.replace(
            "    import: [all]\n",
            &format!("    password: {key}\n    ttl_security: true\n    import: [all]\n"),
        )
    };
    let b = Wgbgpd::start(&b_ns, &secure(B, "s3cret"));
    let mut a = Wgbgpd::start(&a_ns, &secure(&a_config("1000"), "s3cret"));
    a.wait_established(&a_ns, "10.9.1.2", T);
    wait_three_routes(&a_ns, "routes over the signed session");
    drop(a);
    let mut wrong = Wgbgpd::start(&a_ns, &secure(&a_config("1000"), "other"));
    std::thread::sleep(Duration::from_secs(6));
    wrong.check_alive();
    assert_ne!(
        wrong.peer_state(&a_ns, "10.9.1.2").as_deref(),
        Some("Established")
    );
    assert_eq!(bgp_routes(&a_ns), 0);
    drop(b);
}
