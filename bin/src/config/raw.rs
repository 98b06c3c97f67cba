//! The file as written (`Raw*`, serde) and its validation into [`Config`].
//!
//! [`validate`] checks one section at a time, each in its own function
//! (peers in [`peer`], their tunnels in [`peer_wireguard`], `kernel:` in
//! [`kernel_rules`], policies and sets in [`policy`]), all collecting into
//! one list of located problems. Nothing here looks at the host.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::*;
use de::{AsnItem, AsnList, OneOrMany};

mod de;
mod kernel_rules;
mod peer;
mod peer_wireguard;
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
    peers: BTreeMap<String, peer::RawPeer>,
    #[serde(default)]
    policies: BTreeMap<String, Vec<policy::RawRule>>,
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
    nexthop_objects: Option<bool>,
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
    let router_id = router_id(&mut cx, &raw);
    if raw.asn == 0 {
        cx.err("asn", Problem::AsnZero);
    }
    let loopback = loopbacks(&mut cx, &raw.loopback);
    let metrics = metrics(&mut cx, raw.metrics.as_ref());
    let kernel = kernel_rules::kernel(&mut cx, raw.kernel.as_ref());
    let wireguard = wireguard(raw.wireguard.as_ref());
    let announce: Vec<IpNet> = (raw.announce.0.iter().enumerate())
        .filter_map(|(i, s)| cx.prefix(format!("announce[{i}]"), s))
        .collect();
    let policies = policies(&mut cx, &raw);
    let peers = peers(&mut cx, &raw, &loopback, &policies);
    let control_groups = control_groups(&mut cx, &raw);
    if raw.max_as_path_len == Some(0) {
        let problem = Problem::Other("must be at least 1 (omit it for no limit)".into());
        cx.err("max_as_path_len", problem);
    }
    let local_restart = local_restart(&mut cx, raw.graceful_restart.as_ref());

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

/// `router_id`: a non-zero IPv4 address.
fn router_id(cx: &mut Ctx, raw: &RawConfig) -> Ipv4Addr {
    match raw.router_id.parse::<Ipv4Addr>() {
        Ok(id) if !id.is_unspecified() => id,
        _ => {
            let problem = Problem::BadAddress {
                value: raw.router_id.clone(),
                expected: "a non-zero IPv4 address",
            };
            cx.err("router_id", problem);
            Ipv4Addr::UNSPECIFIED
        }
    }
}

/// `loopback`: prefixes, a bare address meaning a host prefix.
fn loopbacks(cx: &mut Ctx, list: &OneOrMany) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, s) in list.0.iter().enumerate() {
        let parsed = s
            .parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from));
        match parsed {
            Some(n) => out.push(n),
            None => cx.err(
                format!("loopback[{i}]"),
                Problem::BadAddress {
                    value: s.clone(),
                    expected: "an address or address/length",
                },
            ),
        }
    }
    out
}

/// `metrics.listen`: an IP:PORT.
fn metrics(cx: &mut Ctx, m: Option<&RawMetrics>) -> Option<MetricsConfig> {
    let m = m?;
    match m.listen.parse::<SocketAddr>() {
        Ok(listen) => Some(MetricsConfig { listen }),
        Err(_) => {
            let problem = Problem::BadAddress {
                value: m.listen.clone(),
                expected: "an IP:PORT socket address",
            };
            cx.err("metrics.listen", problem);
            None
        }
    }
}

/// `wireguard:` (router-wide): nothing in it can be wrong after parsing.
fn wireguard(w: Option<&RawWireguard>) -> WireguardConfig {
    WireguardConfig {
        private_key_file: (w.and_then(|w| w.private_key_file.clone()))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PRIVATE_KEY_FILE)),
        backend: w.and_then(|w| w.backend).unwrap_or_default(),
        keep_on_exit: w.and_then(|w| w.keep_on_exit).unwrap_or(false),
    }
}

/// `policies:`, with the named sets resolved into their rules.
fn policies(cx: &mut Ctx, raw: &RawConfig) -> BTreeMap<String, Vec<PolicyRule>> {
    let sets = policy::sets(cx, raw);
    let mut out = BTreeMap::new();
    for (name, rules) in &raw.policies {
        let rules = (rules.iter().enumerate())
            .map(|(i, rule)| policy::rule(cx, &sets, raw, &format!("policies.{name}[{i}]"), rule))
            .collect();
        out.insert(name.clone(), rules);
    }
    out
}

/// `peers:`, each checked on its own and against the ones before it.
fn peers(
    cx: &mut Ctx,
    raw: &RawConfig,
    loopback: &[IpNet],
    policies: &BTreeMap<String, Vec<PolicyRule>>,
) -> BTreeMap<String, Peer> {
    let scope = peer::Scope {
        raw,
        loopback,
        policies,
    };
    let mut taken = peer::Taken::default();
    (raw.peers.iter())
        .map(|(name, p)| (name.clone(), peer::peer(cx, &scope, &mut taken, name, p)))
        .collect()
}

/// `control_group`, `control_admin_group`: names only; whether the groups
/// exist is checked against the host when the daemon starts.
fn control_groups(cx: &mut Ctx, raw: &RawConfig) -> ControlGroups {
    let mut group = |key: &str, name: &Option<String>| {
        GroupName::parse(name.as_deref()?)
            .map_err(|reason| cx.err(key, Problem::BadGroupName(reason)))
            .ok()
    };
    ControlGroups {
        group: group("control_group", &raw.control_group),
        admin_group: group("control_admin_group", &raw.control_admin_group),
    }
}

/// Top-level `graceful_restart`: we restart gracefully ourselves.
fn local_restart(cx: &mut Ctx, gr: Option<&RawLocalRestart>) -> Option<LocalRestartConfig> {
    let select_defer_time = match gr? {
        RawLocalRestart::Enabled(false) => return None,
        RawLocalRestart::Enabled(true) => DEFAULT_SELECT_DEFER_TIME,
        RawLocalRestart::Full(f) => f.select_defer_time.unwrap_or(DEFAULT_SELECT_DEFER_TIME),
    };
    if select_defer_time == 0 {
        let problem = Problem::Other(
            "must be at least 1 second (omit graceful_restart for no deferral)".into(),
        );
        cx.err("graceful_restart.select_defer_time", problem);
    }
    Some(LocalRestartConfig { select_defer_time })
}
