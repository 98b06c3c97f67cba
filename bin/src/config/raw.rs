//! The file as written (`Raw*`, serde) and its validation into [`Config`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::*;

mod kernel_rules;
mod policy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    router_id: String,
    asn: u32,
    #[serde(default)]
    loopback: OneOrMany,
    control_socket: Option<PathBuf>,
    control_group: Option<String>,
    control_admin_group: Option<String>,
    metrics: Option<RawMetrics>,
    kernel: Option<RawKernel>,
    wireguard: Option<RawWireguard>,
    #[serde(default)]
    announce: OneOrMany,
    peers: BTreeMap<String, RawPeer>,
    #[serde(default)]
    policies: BTreeMap<String, Vec<RawRule>>,
    #[serde(default)]
    prefix_sets: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    community_sets: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    as_path_sets: BTreeMap<String, Vec<AsnItem>>,
    multipath: Option<u16>,
    multipath_relax: Option<bool>,
    max_as_path_len: Option<u16>,
    reject_default_route: Option<bool>,
    reject_bogons: Option<bool>,
    graceful_restart: Option<RawLocalRestart>,
}

/// Top-level `graceful_restart: true` or `{select_defer_time: 120}`: we
/// are a restarting speaker (RFC 4724 §4.1).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawLocalRestart {
    Enabled(bool),
    Full(RawLocalRestartFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalRestartFull {
    select_defer_time: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    table: Option<u32>,
    metric: Option<u32>,
    fwmark: Option<u32>,
    underlay_table: Option<u32>,
    underlay_priority: Option<u32>,
    #[serde(default)]
    rules: Vec<kernel_rules::RawIpRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWireguard {
    private_key_file: Option<PathBuf>,
    keep_on_exit: Option<bool>,
    backend: Option<WgBackend>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    asn: u32,
    address: OneOrMany,
    description: Option<String>,
    wireguard: Option<RawPeerWireguard>,
    #[serde(default)]
    import: OneOrMany,
    #[serde(default)]
    export: OneOrMany,
    passive: Option<bool>,
    hold_time: Option<u16>,
    startup_hold_time: Option<u16>,
    keepalive: Option<u16>,
    local_address: Option<String>,
    port: Option<u16>,
    shutdown: Option<bool>,
    max_prefix: Option<RawMaxPrefix>,
    password: Option<String>,
    ttl_security: Option<bool>,
    extended_next_hop: Option<bool>,
    graceful_restart: Option<RawGracefulRestart>,
    reject_default_route: Option<bool>,
    reject_bogons: Option<bool>,
    max_adj_rib_in_mib: Option<RawMaxPrefix>,
    soft_reconfiguration: Option<RawSoftReconfiguration>,
    bfd: Option<RawBfd>,
}

/// `soft_reconfiguration: inbound` (FRR's `soft-reconfiguration inbound`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawSoftReconfiguration {
    Inbound,
}

/// `bfd: true` (300 ms × 3) or `bfd: {interval_ms: 100, multiplier: 3}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawBfd {
    Enabled(bool),
    Full(RawBfdFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBfdFull {
    interval_ms: Option<u32>,
    multiplier: Option<u8>,
}

/// `graceful_restart: false` or `graceful_restart: {restart_time: 120}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawGracefulRestart {
    Enabled(bool),
    Full(RawGracefulRestartFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGracefulRestartFull {
    restart_time: Option<u16>,
}

fn max_prefix(m: &RawMaxPrefix) -> MaxPrefix {
    match m {
        RawMaxPrefix::Limit(limit) => MaxPrefix {
            limit: *limit,
            action: MaxPrefixAction::Restart,
            restart_after: DEFAULT_MAX_PREFIX_RESTART,
        },
        RawMaxPrefix::Full(f) => MaxPrefix {
            limit: f.limit,
            action: f.action.unwrap_or(MaxPrefixAction::Restart),
            restart_after: f.restart_after.unwrap_or(DEFAULT_MAX_PREFIX_RESTART),
        },
    }
}

/// `max_prefix: 1000` or `max_prefix: {limit: 1000, action: warn, restart_after: 60}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawMaxPrefix {
    Limit(u32),
    Full(RawMaxPrefixFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaxPrefixFull {
    limit: u32,
    action: Option<MaxPrefixAction>,
    restart_after: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeerWireguard {
    public_key: Option<String>,
    endpoint: Option<String>,
    interface: Option<String>,
    listen_port: Option<u16>,
    persistent_keepalive: Option<u16>,
    mtu: Option<u32>,
    dead_after: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    matches: Option<RawMatch>,
    action: Action,
    set: Option<RawSet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    prefix: Option<OneOrMany>,
    prefix_set: Option<OneOrMany>,
    origin_as: Option<AsnList>,
    as_path_len: Option<RawLen>,
    as_path_contains: Option<AsnList>,
    as_path: Option<OneOrMany>,
    community: Option<OneOrMany>,
    peer: Option<OneOrMany>,
    afi: Option<RawAfi>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawAfi {
    Ipv4,
    Ipv6,
}

/// `as_path_len: 3` or `as_path_len: {ge: 2, le: 10}`. Hand-written so a
/// wrong form gets a message that shows the right ones.
#[derive(Debug)]
enum RawLen {
    Exact(u32),
    Range(RawLenRange),
}

impl<'de> Deserialize<'de> for RawLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a length N or {ge: N, le: M}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLen, E> {
                u32::try_from(v)
                    .map(RawLen::Exact)
                    .map_err(|_| E::custom(format!("length {v} is too large")))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawLen, A::Error> {
                RawLenRange::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLen::Range)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLenRange {
    ge: Option<u32>,
    le: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    local_pref: Option<u32>,
    med: Option<u32>,
    prepend: Option<u32>,
    communities: Option<RawCommunityEdit>,
    next_hop: Option<String>,
    table: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommunityEdit {
    replace: Option<OneOrMany>,
    remove: Option<OneOrMany>,
    add: Option<OneOrMany>,
}

/// An ASN or a set name, or a list of them (`origin_as: 65001`,
/// `as_path_contains: [65001, transit]`).
#[derive(Debug, Default)]
struct AsnList(Vec<AsnItem>);

#[derive(Debug)]
enum AsnItem {
    Asn(u32),
    Name(String),
}

impl<'de> Deserialize<'de> for AsnItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AsnItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ASN or an as_path_sets name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsnItem, E> {
                u32::try_from(v)
                    .map(AsnItem::Asn)
                    .map_err(|_| E::custom(format!("ASN {v} does not fit in 32 bits")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsnItem, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("ASN {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AsnItem, E> {
                Ok(match v.parse::<u32>() {
                    Ok(a) => AsnItem::Asn(a),
                    Err(_) => AsnItem::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for AsnList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AsnList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ASN, an as_path_sets name, or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsnList, E> {
                use de::IntoDeserializer;
                AsnItem::deserialize(v.into_deserializer()).map(|i| AsnList(vec![i]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsnList, E> {
                use de::IntoDeserializer;
                AsnItem::deserialize(v.into_deserializer()).map(|i| AsnList(vec![i]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AsnList, E> {
                use de::IntoDeserializer;
                AsnItem::deserialize(v.into_deserializer()).map(|i| AsnList(vec![i]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AsnList, A::Error> {
                let mut out = Vec::new();
                while let Some(i) = seq.next_element::<AsnItem>()? {
                    out.push(i);
                }
                Ok(AsnList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar or a list of scalars (`address: 2.2.2.2` or `address: [a, b]`).
/// Hand-written rather than `#[serde(untagged)]` so errors keep their
/// location and say what was expected.
#[derive(Debug, Default)]
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Collects located problems while validating.
struct Ctx<'a> {
    file: String,
    outline: Outline,
    diags: Vec<Diagnostic>,
    _src: &'a str,
}

impl Ctx<'_> {
    fn err(&mut self, key: impl Into<String>, problem: Problem) {
        let key = key.into();
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: self.outline.line_of(&key),
            key,
            problem,
        });
    }

    fn ip(&mut self, key: String, value: &str, expected: &'static str) -> Option<IpAddr> {
        match value.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    key,
                    Problem::BadAddress {
                        value: value.into(),
                        expected,
                    },
                );
                None
            }
        }
    }

    /// A network prefix without host bits (`announce`).
    fn prefix(&mut self, key: String, value: &str) -> Option<IpNet> {
        match value.parse::<IpNet>() {
            Ok(n) if n.trunc() == n => Some(n),
            Ok(n) => {
                let reason = format!("`{value}` has host bits set (did you mean {}?)", n.trunc());
                self.err(key, Problem::BadPrefix { reason });
                None
            }
            Err(_) => {
                let reason = format!("`{value}` is not a prefix (expected e.g. 198.19.0.1/32)");
                self.err(key, Problem::BadPrefix { reason });
                None
            }
        }
    }
}

fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Linux `dev_valid_name` plus IFNAMSIZ.
fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty or reserved".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "{} characters, Linux allows at most {MAX_IFNAME_LEN}",
            name.len()
        ));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err("must not contain '/', ':' or whitespace".into());
    }
    Ok(())
}

pub(super) fn validate(raw: RawConfig, src: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut cx = Ctx {
        file: path.display().to_string(),
        outline: Outline::new(src),
        diags: Vec::new(),
        _src: src,
    };

    let router_id = match raw.router_id.parse::<Ipv4Addr>() {
        Ok(id) if !id.is_unspecified() => id,
        _ => {
            cx.err(
                "router_id",
                Problem::BadAddress {
                    value: raw.router_id.clone(),
                    expected: "a non-zero IPv4 address",
                },
            );
            Ipv4Addr::UNSPECIFIED
        }
    };
    if raw.asn == 0 {
        cx.err("asn", Problem::AsnZero);
    }

    let mut loopback = Vec::new();
    for (i, s) in raw.loopback.0.iter().enumerate() {
        // A bare address means a host prefix.
        let parsed = s
            .parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from));
        match parsed {
            Some(n) => loopback.push(n),
            None => cx.err(
                format!("loopback[{i}]"),
                Problem::BadAddress {
                    value: s.clone(),
                    expected: "an address or address/length",
                },
            ),
        }
    }
    let loopback_for = |a: IpAddr| {
        loopback
            .iter()
            .map(|n| n.addr())
            .find(|l| l.is_ipv4() == a.is_ipv4())
    };

    let metrics = raw
        .metrics
        .as_ref()
        .and_then(|m| match m.listen.parse::<SocketAddr>() {
            Ok(listen) => Some(MetricsConfig { listen }),
            Err(_) => {
                cx.err(
                    "metrics.listen",
                    Problem::BadAddress {
                        value: m.listen.clone(),
                        expected: "an IP:PORT socket address",
                    },
                );
                None
            }
        });
    let kernel = kernel_rules::kernel(&mut cx, raw.kernel.as_ref());
    let wireguard = WireguardConfig {
        private_key_file: raw
            .wireguard
            .as_ref()
            .and_then(|w| w.private_key_file.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PRIVATE_KEY_FILE)),
        backend: raw
            .wireguard
            .as_ref()
            .and_then(|w| w.backend)
            .unwrap_or_default(),
        keep_on_exit: raw
            .wireguard
            .as_ref()
            .and_then(|w| w.keep_on_exit)
            .unwrap_or(false),
    };

    let announce: Vec<IpNet> = (raw.announce.0.iter().enumerate())
        .filter_map(|(i, s)| cx.prefix(format!("announce[{i}]"), s))
        .collect();

    let sets = policy::sets(&mut cx, &raw);
    let mut policies = BTreeMap::new();
    for (name, rules) in &raw.policies {
        let out = (rules.iter().enumerate())
            .map(|(i, rule)| {
                policy::rule(&mut cx, &sets, &raw, &format!("policies.{name}[{i}]"), rule)
            })
            .collect();
        policies.insert(name.clone(), out);
    }

    let mut peers = BTreeMap::new();
    // First user of each interface name / listen port / address, for duplicates.
    let mut ifnames: BTreeMap<String, String> = BTreeMap::new();
    let mut ports: BTreeMap<u16, String> = BTreeMap::new();
    let mut addrs: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (name, p) in &raw.peers {
        let base = format!("peers.{name}");
        if p.asn == 0 {
            cx.err(format!("{base}.asn"), Problem::AsnZero);
        }
        let mut addresses = Vec::new();
        if p.address.0.is_empty() {
            cx.err(format!("{base}.address"), Problem::Empty);
        }
        for s in &p.address.0 {
            let Some(a) = cx.ip(format!("{base}.address"), s, "an IP address") else {
                continue;
            };
            if loopback_for(a).is_none() {
                let problem = Problem::NoLoopback {
                    address: a,
                    family: family(a),
                };
                cx.err(format!("{base}.address"), problem);
            }
            match addrs.get(&a) {
                Some(other) => {
                    let problem = Problem::DuplicatePeerAddress {
                        address: a,
                        other: other.clone(),
                    };
                    cx.err(format!("{base}.address"), problem);
                }
                None => {
                    addrs.insert(a, name.clone());
                }
            }
            addresses.push(a);
        }

        let local_address = match &p.local_address {
            Some(s) => {
                let local = cx.ip(format!("{base}.local_address"), s, "an IP address");
                if let (Some(l), Some(first)) = (local, addresses.first())
                    && l.is_ipv4() != first.is_ipv4()
                {
                    let problem = Problem::LocalAddressFamily {
                        local: l,
                        peer: *first,
                    };
                    cx.err(format!("{base}.local_address"), problem);
                }
                local
            }
            None => addresses.first().and_then(|a| loopback_for(*a)),
        };

        let hold_time = p.hold_time.unwrap_or(DEFAULT_HOLD_TIME);
        if hold_time == 1 || hold_time == 2 {
            cx.err(format!("{base}.hold_time"), Problem::BadHoldTime(hold_time));
        }
        let startup_hold_time = p.startup_hold_time.unwrap_or(240);
        if startup_hold_time < 3 {
            cx.err(
                format!("{base}.startup_hold_time"),
                Problem::Other(format!(
                    "startup_hold_time {startup_hold_time} must be at least 3 seconds"
                )),
            );
        }
        let keepalive = p.keepalive.unwrap_or(hold_time / 3);
        let keepalive_ok = if hold_time == 0 {
            keepalive == 0
        } else {
            keepalive > 0 && keepalive < hold_time
        };
        if !keepalive_ok && p.keepalive.is_some() {
            let problem = Problem::BadKeepalive {
                keepalive,
                hold_time,
            };
            cx.err(format!("{base}.keepalive"), problem);
        }
        let port = p.port.unwrap_or(179);
        if port == 0 {
            cx.err(
                format!("{base}.port"),
                Problem::Other("port 0 is not a TCP port".into()),
            );
        }

        for (dir, list) in [("import", &p.import), ("export", &p.export)] {
            for policy in &list.0 {
                if !raw.policies.contains_key(policy) {
                    let problem = Problem::UndefinedPolicy {
                        name: policy.clone(),
                    };
                    cx.err(format!("{base}.{dir}"), problem);
                }
            }
        }
        // RFC 4271 §5.1.5: LOCAL_PREF is never sent to an eBGP peer.
        for policy in &p.export.0 {
            let sets_local_pref = policies.get(policy).is_some_and(|rules: &Vec<PolicyRule>| {
                rules
                    .iter()
                    .any(|r| r.set.as_ref().is_some_and(|s| s.local_pref.is_some()))
            });
            if sets_local_pref {
                let problem = Problem::Other(format!(
                    "policy `{policy}` sets local_pref, which is not sent to eBGP peers \
                     (RFC 4271 §5.1.5); use med or prepend on export"
                ));
                cx.err(format!("{base}.export"), problem);
            }
            let sets_table = policies.get(policy).is_some_and(|rules: &Vec<PolicyRule>| {
                rules
                    .iter()
                    .any(|r| r.set.as_ref().is_some_and(|s| s.table.is_some()))
            });
            if sets_table {
                let problem = Problem::Other(format!(
                    "policy `{policy}` sets table, which chooses where a received route is                      installed; use it on import"
                ));
                cx.err(format!("{base}.export"), problem);
            }
        }

        let wireguard = p
            .wireguard
            .as_ref()
            .and_then(|w| peer_wireguard(&mut cx, name, w, &mut ifnames, &mut ports));

        if let Some(pw) = &p.password {
            if pw.is_empty() || pw.len() > 80 {
                let problem = Problem::Other("TCP-MD5 password must be 1 to 80 bytes".into());
                cx.err(format!("peers.{name}.password"), problem);
            }
        }
        let graceful_restart = match &p.graceful_restart {
            None | Some(RawGracefulRestart::Enabled(true)) => Some(DEFAULT_RESTART_TIME),
            Some(RawGracefulRestart::Enabled(false)) => None,
            Some(RawGracefulRestart::Full(f)) => {
                let t = f.restart_time.unwrap_or(DEFAULT_RESTART_TIME);
                if t > 4095 {
                    let problem = Problem::Other(format!(
                        "restart_time {t} does not fit the 12-bit Restart Time field (at most 4095 seconds, RFC 4724 §3)"
                    ));
                    cx.err(format!("{base}.graceful_restart.restart_time"), problem);
                }
                Some(t.min(4095))
            }
        };
        let bfd = match &p.bfd {
            None | Some(RawBfd::Enabled(false)) => None,
            Some(RawBfd::Enabled(true)) => Some(Bfd::default()),
            Some(RawBfd::Full(f)) => {
                let d = Bfd::default();
                let b = Bfd {
                    interval_ms: f.interval_ms.unwrap_or(d.interval_ms),
                    multiplier: f.multiplier.unwrap_or(d.multiplier),
                };
                // FRR's bounds (`receive-interval`, `detect-multiplier`).
                if !(10..=60_000).contains(&b.interval_ms) {
                    let problem = Problem::Other(format!(
                        "interval_ms {} is outside 10 to 60000",
                        b.interval_ms
                    ));
                    cx.err(format!("{base}.bfd.interval_ms"), problem);
                }
                if b.multiplier < 2 {
                    let problem = Problem::Other(format!(
                        "multiplier {} is below 2 (one lost packet would bring the session down)",
                        b.multiplier
                    ));
                    cx.err(format!("{base}.bfd.multiplier"), problem);
                }
                Some(b)
            }
        };
        // FRR announces `capability extended-nexthop` on IPv6 sessions
        // for IPv4 unicast; so do we unless told otherwise.
        let extended_next_hop = p
            .extended_next_hop
            .unwrap_or(addresses.first().is_some_and(|a| a.is_ipv6()));
        peers.insert(
            name.clone(),
            Peer {
                name: name.clone(),
                asn: p.asn,
                addresses,
                description: p.description.clone(),
                wireguard,
                import: p.import.0.clone(),
                export: p.export.0.clone(),
                passive: p.passive.unwrap_or(false),
                hold_time,
                startup_hold_time,
                keepalive,
                local_address: local_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                port,
                shutdown: p.shutdown.unwrap_or(false),
                password: p.password.clone(),
                ttl_security: p.ttl_security.unwrap_or(false),
                graceful_restart,
                extended_next_hop,
                soft_reconfiguration_inbound: matches!(
                    p.soft_reconfiguration,
                    Some(RawSoftReconfiguration::Inbound)
                ),
                bfd,
                limits: crate::config::PeerLimits {
                    guard: rib::guard::Guard {
                        reject_default_route: p
                            .reject_default_route
                            .or(raw.reject_default_route)
                            .unwrap_or(true),
                        reject_bogons: p.reject_bogons.or(raw.reject_bogons).unwrap_or(false),
                    },
                    max_adj_rib_in_mib: p.max_adj_rib_in_mib.as_ref().map(max_prefix),
                },
                max_prefix: p.max_prefix.as_ref().map(|m| match m {
                    RawMaxPrefix::Limit(limit) => MaxPrefix {
                        limit: *limit,
                        action: MaxPrefixAction::Restart,
                        restart_after: DEFAULT_MAX_PREFIX_RESTART,
                    },
                    RawMaxPrefix::Full(f) => MaxPrefix {
                        limit: f.limit,
                        action: f.action.unwrap_or(MaxPrefixAction::Restart),
                        restart_after: f.restart_after.unwrap_or(DEFAULT_MAX_PREFIX_RESTART),
                    },
                }),
            },
        );
    }

    let mut group = |key: &str, name: &Option<String>| {
        GroupName::parse(name.as_deref()?)
            .map_err(|reason| cx.err(key, Problem::BadGroupName(reason)))
            .ok()
    };
    let control_groups = ControlGroups {
        group: group("control_group", &raw.control_group),
        admin_group: group("control_admin_group", &raw.control_admin_group),
    };

    if raw.max_as_path_len == Some(0) {
        let problem = Problem::Other("must be at least 1 (omit it for no limit)".into());
        cx.err("max_as_path_len", problem);
    }

    let local_restart = match &raw.graceful_restart {
        None | Some(RawLocalRestart::Enabled(false)) => None,
        Some(RawLocalRestart::Enabled(true)) => Some(super::LocalRestartConfig {
            select_defer_time: super::DEFAULT_SELECT_DEFER_TIME,
        }),
        Some(RawLocalRestart::Full(f)) => {
            let t = f
                .select_defer_time
                .unwrap_or(super::DEFAULT_SELECT_DEFER_TIME);
            if t == 0 {
                let problem = Problem::Other(
                    "must be at least 1 second (omit graceful_restart for no deferral)".into(),
                );
                cx.err("graceful_restart.select_defer_time", problem);
            }
            Some(super::LocalRestartConfig {
                select_defer_time: t,
            })
        }
    };

    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
        return Err(ConfigError::Invalid(cx.diags));
    }
    Ok(Config {
        path: path.to_path_buf(),
        router_id,
        asn: raw.asn,
        loopback,
        control_socket: raw
            .control_socket
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET)),
        control_groups,
        metrics,
        kernel,
        wireguard,
        announce,
        peers,
        policies,
        multipath: raw.multipath.unwrap_or(1).max(1) as usize,
        multipath_relax: raw.multipath_relax.unwrap_or(false),
        max_as_path_len: raw.max_as_path_len.map(usize::from),
        local_restart,
    })
}

fn peer_wireguard(
    cx: &mut Ctx,
    name: &str,
    w: &RawPeerWireguard,
    ifnames: &mut BTreeMap<String, String>,
    ports: &mut BTreeMap<u16, String>,
) -> Option<PeerWireguard> {
    let base = format!("peers.{name}.wireguard");
    let public_key = match &w.public_key {
        None => {
            cx.err(format!("{base}.public_key"), Problem::MissingPublicKey);
            None
        }
        Some(s) => match wireguard_control::Key::from_base64(s.trim()) {
            Ok(k) => Some(k),
            Err(_) => {
                let problem = Problem::BadPublicKey { value: s.clone() };
                cx.err(format!("{base}.public_key"), problem);
                None
            }
        },
    };
    let endpoint = w.endpoint.as_ref().and_then(|s| match Endpoint::parse(s) {
        Ok(e) => Some(e),
        Err(reason) => {
            let problem = Problem::BadEndpoint {
                value: s.clone(),
                reason,
            };
            cx.err(format!("{base}.endpoint"), problem);
            None
        }
    });
    // A defaulted name is reported at the interface key's parent.
    let (interface, ifkey) = match &w.interface {
        Some(i) => (i.clone(), format!("{base}.interface")),
        None => (format!("wg-{name}"), format!("{base}.interface")),
    };
    let mut ok = true;
    if let Err(mut reason) = check_ifname(&interface) {
        if w.interface.is_none() {
            reason.push_str(" (the default wg-<peer name>; set `interface:`)");
        }
        let problem = Problem::BadInterfaceName {
            name: interface.clone(),
            reason,
        };
        cx.err(ifkey.clone(), problem);
        ok = false;
    }
    match ifnames.get(&interface) {
        Some(other) => {
            let problem = Problem::DuplicateInterface {
                name: interface.clone(),
                other: other.clone(),
            };
            cx.err(ifkey, problem);
            ok = false;
        }
        None => {
            ifnames.insert(interface.clone(), name.to_string());
        }
    }
    if let Some(port) = w.listen_port.filter(|p| *p != 0) {
        match ports.get(&port) {
            Some(other) => {
                let problem = Problem::DuplicateListenPort {
                    port,
                    other: other.clone(),
                };
                cx.err(format!("{base}.listen_port"), problem);
                ok = false;
            }
            None => {
                ports.insert(port, name.to_string());
            }
        }
    }
    if let Some(mtu) = w.mtu
        && !(576..=65535).contains(&mtu)
    {
        let problem = Problem::Other(format!("mtu {mtu} is outside 576..=65535"));
        cx.err(format!("{base}.mtu"), problem);
        ok = false;
    }
    let keepalive = w.persistent_keepalive.filter(|k| *k != 0);
    if let Some(dead) = w.dead_after {
        match keepalive {
            None if dead != 0 => {
                let problem = Problem::Other(
                    "dead_after needs persistent_keepalive (without it an idle tunnel receives nothing)".into(),
                );
                cx.err(format!("{base}.dead_after"), problem);
                ok = false;
            }
            Some(k) if dead != 0 && dead <= k => {
                let problem = Problem::Other(format!(
                    "dead_after {dead} must be longer than persistent_keepalive {k}"
                ));
                cx.err(format!("{base}.dead_after"), problem);
                ok = false;
            }
            _ => {}
        }
    }
    if !ok {
        return None;
    }
    Some(PeerWireguard {
        public_key: public_key?,
        endpoint,
        interface,
        listen_port: w.listen_port.filter(|p| *p != 0),
        persistent_keepalive: keepalive,
        mtu: w.mtu,
        // Default 3 × keepalive; 0 turns the liveness check off.
        dead_after: match w.dead_after {
            Some(0) => None,
            Some(d) => Some(d),
            None => keepalive.map(|k| k.saturating_mul(3)),
        },
    })
}
