//! The key paths of FRR's `show ... json` answers that wgbgp's must have,
//! and the ones it deliberately lacks, with the reason.
//!
//! Used by the unit tests in `daemon/show_frr_tests.rs` (against FRR 8.4
//! JSON captured by bin/tests/fixtures/frr-8.4/capture.sh) and by the
//! namespace test integration/tests/frr_json.rs (against a live FRR on
//! the other end of the session), which includes this file as a module:
//! it depends on serde_json, ipnet and std only.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// Every key path of `v` with its value's JSON type; object keys that are
/// addresses or prefixes become `*`, array elements `[]`.
pub fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, &'static str>) {
        let ty = match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        out.insert(path.clone(), ty);
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let k = if k.parse::<IpAddr>().is_ok() || k.parse::<IpNet>().is_ok() {
                        "*"
                    } else {
                        k.as_str()
                    };
                    walk(v, format!("{path}.{k}"), out);
                }
            }
            Value::Array(a) => {
                for v in a {
                    walk(v, format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

/// Panics listing FRR's key paths that ours lacks (beyond `missing`, a
/// list of key paths, each covering what is below it, with the reason)
/// or has with another type; and entries of `missing` that we do have or
/// that FRR lacks too (a stale excuse).
pub fn assert_frr_keys(what: &str, ours: &Value, frr: &Value, missing: &[(&str, &str)]) {
    let problems = [
        compare(ours, frr, missing),
        stale_excuses(ours, frr, missing),
    ]
    .concat();
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// FRR's key paths that ours lacks (beyond `missing`) or has with
/// another type.
pub fn compare(ours: &Value, frr: &Value, missing: &[(&str, &str)]) -> Vec<String> {
    let (ours, frr) = (shape(ours), shape(frr));
    let excused = |path: &str| {
        missing.iter().any(|(m, _)| {
            path == *m || path.starts_with(&format!("{m}.")) || path.starts_with(&format!("{m}["))
        })
    };
    let mut problems = Vec::new();
    for (path, ty) in &frr {
        match ours.get(path) {
            Some(t) if t == ty => {}
            Some(t) => problems.push(format!("{path}: FRR {ty}, ours {t}")),
            None if excused(path) => {}
            None => problems.push(format!("{path}: FRR {ty}, ours missing")),
        }
    }
    problems
}

/// Entries of `missing` that ours has, or that FRR does not have either.
pub fn stale_excuses(ours: &Value, frr: &Value, missing: &[(&str, &str)]) -> Vec<String> {
    let (ours, frr) = (shape(ours), shape(frr));
    let mut problems = Vec::new();
    for (m, _) in missing {
        if ours.contains_key(*m) {
            problems.push(format!("{m}: listed as missing but we have it"));
        }
        if !frr.contains_key(*m) {
            problems.push(format!(
                "{m}: listed as missing but FRR does not have it either"
            ));
        }
    }
    problems
}

/// `show bgp summary json` keys of FRR's that wgbgp does not write.
pub const SUMMARY_MISSING: &[(&str, &str)] = &[];

/// What FRR still writes for a peer whose session went down and wgbgp
/// does not.
pub const SUMMARY_DOWN_MISSING: &[(&str, &str)] = &[];

/// `show bgp neighbors json` keys of FRR's that wgbgp does not write.
pub const NEIGHBOR_MISSING: &[(&str, &str)] = &[
    (".*.localRole", "RFC 9234 roles are not implemented"),
    (".*.remoteRole", "RFC 9234 roles are not implemented"),
    (
        ".*.bgpTimerLastRead",
        "the session task does not time its last read",
    ),
    (
        ".*.bgpTimerLastWrite",
        "the session task does not time its last write",
    ),
    (
        ".*.bgpInUpdateElapsedTimeMsecs",
        "the time of the last UPDATE is not kept",
    ),
    (
        ".*.bgpTimerConfiguredConditionalAdvertisementsSec",
        "no conditional advertisement",
    ),
    (
        ".*.neighborCapabilities.addPath",
        "ADD-PATH (RFC 7911) is not implemented",
    ),
    (
        ".*.neighborCapabilities.longLivedGracefulRestart",
        "long-lived graceful restart (RFC 9494) is not implemented",
    ),
    (
        ".*.neighborCapabilities.longLivedGracefulRestartByPeer",
        "long-lived graceful restart (RFC 9494) is not implemented",
    ),
    (
        ".*.neighborCapabilities.addressFamiliesByPeer",
        "a string or an object in FRR depending on the peer; \
         gracefulRestartInfo.fBits has the families",
    ),
    (
        ".*.gracefulRestartInfo.ipv4Unicast.endOfRibStatus.endOfRibSentAfterUpdate",
        "not tracked: End-of-RIB always follows the initial table",
    ),
    (
        ".*.messageStats.depthInq",
        "no inbound queue: messages are handled as they are read",
    ),
    (
        ".*.messageStats.depthOutq",
        "the writer's queue length is not counted",
    ),
    (
        ".*.messageStats.capabilitySent",
        "dynamic capability messages are not implemented",
    ),
    (
        ".*.messageStats.capabilityRecv",
        "dynamic capability messages are not implemented",
    ),
    (
        ".*.addressFamilyInfo.ipv4Unicast.updateGroupId",
        "no update groups: each peer's Adj-RIB-Out is its own",
    ),
    (
        ".*.addressFamilyInfo.ipv4Unicast.subGroupId",
        "no update groups: each peer's Adj-RIB-Out is its own",
    ),
    (
        ".*.addressFamilyInfo.ipv4Unicast.packetQueueLength",
        "no update groups, no packet queue",
    ),
    (
        ".*.lastResetTimerMsecs",
        "no session has ended yet (FRR reports its start-up reset, \
         'No AFI/SAFI activated for peer')",
    ),
    (
        ".*.lastResetDueTo",
        "no session has ended yet (as lastResetTimerMsecs)",
    ),
    (
        ".*.lastResetCode",
        "no session has ended yet (as lastResetTimerMsecs)",
    ),
    (
        ".*.externalBgpNbrMaxHopsAway",
        "TTL settings are being reworked with multihop sessions; not shown yet",
    ),
    (
        ".*.bgpConnection",
        "FRR's shared-network check (is the peer on a connected subnet) \
         is not made",
    ),
    (
        ".*.connectRetryTimer",
        "the connect retry time is the session task's, not shown yet",
    ),
    (".*.readThread", "FRR's I/O thread state; no equivalent"),
    (".*.writeThread", "FRR's I/O thread state; no equivalent"),
];

/// What FRR still writes for a neighbor whose session went down and
/// wgbgp does not, beyond [`NEIGHBOR_MISSING`].
pub const NEIGHBOR_DOWN_MISSING: &[(&str, &str)] = &[
    (
        ".*.nextConnectTimerDueInMsecs",
        "the connect retry timer lives in the session task, not shown yet",
    ),
    (
        ".*.gracefulRestartInfo.timers.receivedRestartTimer",
        "from the session's OPEN, forgotten when it ends",
    ),
];

/// `show bgp ipv4 unicast PREFIX json` keys of FRR's that wgbgp does not write.
pub const ROUTE_MISSING: &[(&str, &str)] = &[
    (
        ".version",
        "per-prefix versions are not kept (the table's tableVersion is)",
    ),
    (
        ".paths[].version",
        "per-path versions are not kept (the table's tableVersion is)",
    ),
    (
        ".paths[].lastUpdate",
        "paths carry no arrival time (8 bytes a path on a full table)",
    ),
    (
        ".paths[].nexthops[].metric",
        "the IGP cost to the next hop: wgbgp resolves over connected \
         routes and tunnels, with no IGP metric",
    ),
];

/// `show bgp ipv4 unicast json` keys of FRR's that wgbgp does not write.
pub const TABLE_MISSING: &[(&str, &str)] = &[(
    ".routes.*[].version",
    "per-path versions are not kept (the table's tableVersion is)",
)];

/// `show bgp neighbors ADDR advertised-routes json` keys of FRR's that
/// wgbgp does not write.
pub const ADVERTISED_MISSING: &[(&str, &str)] = &[(
    ".advertisedRoutes.*.metric",
    "we send no MED with our own routes (FRR sends 0), so there is none to show",
)];

/// What a live FRR writes about its session with wgbgpd (the namespace
/// test in integration/tests/interop.rs) beyond what FRR-to-FRR writes
/// (the fixtures): keys of the summary wgbgp lacks.
pub const SUMMARY_LIVE_MISSING: &[(&str, &str)] = &[];

/// As [`SUMMARY_LIVE_MISSING`], for `show bgp neighbors json` (the
/// session carries IPv6 unicast too there).
pub const NEIGHBOR_LIVE_MISSING: &[(&str, &str)] = &[
    (
        ".*.addressFamilyInfo.ipv6Unicast.updateGroupId",
        "no update groups (as ipv4Unicast)",
    ),
    (
        ".*.addressFamilyInfo.ipv6Unicast.subGroupId",
        "no update groups (as ipv4Unicast)",
    ),
    (
        ".*.addressFamilyInfo.ipv6Unicast.packetQueueLength",
        "no update groups, no packet queue (as ipv4Unicast)",
    ),
    (
        ".*.gracefulRestartInfo.ipv6Unicast.endOfRibStatus.endOfRibSentAfterUpdate",
        "not tracked (as ipv4Unicast)",
    ),
    (
        ".*.nexthopLocal",
        "wgbgp has a link-local next hop only where it sends one (a session \
         over an interface with our link-local on it); FRR writes its \
         interface's link-local whenever it has one",
    ),
];

/// As [`SUMMARY_LIVE_MISSING`], for `show bgp ipv4 unicast PREFIX json`.
pub const ROUTE_LIVE_MISSING: &[(&str, &str)] = &[(
    ".advertisedTo.*",
    "the data differs, not the shape: wgbgpd does not send a route back to \
     the AS it came from (sender-side loop prevention), FRR does; wgbgpd's \
     advertisedTo is empty for the peer's own prefix",
)];
