//! `peers.<name>`: one neighbor, validated key by key (its tunnel is in
//! [`super::peer_wireguard`]).

use super::peer_wireguard::{RawPeerWireguard, peer_wireguard};
use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    asn: RawPeerAs,
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
    multihop: Option<u8>,
    link_local: Option<String>,
    port: Option<u16>,
    shutdown: Option<bool>,
    max_prefix: Option<RawMaxPrefix>,
    password: Option<String>,
    ttl_security: Option<bool>,
    extended_next_hop: Option<bool>,
    graceful_restart: Option<RawGracefulRestart>,
    reject_default_route: Option<bool>,
    reject_bogons: Option<bool>,
    enforce_first_as: Option<bool>,
    max_adj_rib_in_mib: Option<RawMaxPrefix>,
    soft_reconfiguration: Option<RawSoftReconfiguration>,
    bfd: Option<RawBfd>,
}

/// `asn`: a number, or `external` (FRR's `remote-as external`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPeerAs {
    Number(u32),
    Word(String),
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

/// `max_prefix: 1000` or `max_prefix: {limit: 1000, action: warn, restart_after: 60}`
/// (also the form of `max_adj_rib_in_mib`).
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

impl RawMaxPrefix {
    /// The limit with its defaults: `restart`, after
    /// [`DEFAULT_MAX_PREFIX_RESTART`] seconds.
    fn checked(&self) -> MaxPrefix {
        let (limit, action, restart_after) = match self {
            RawMaxPrefix::Limit(limit) => (*limit, None, None),
            RawMaxPrefix::Full(f) => (f.limit, f.action, f.restart_after),
        };
        MaxPrefix {
            limit,
            action: action.unwrap_or(MaxPrefixAction::Restart),
            restart_after: restart_after.unwrap_or(DEFAULT_MAX_PREFIX_RESTART),
        }
    }
}

/// What earlier peers use, by the first peer that did: interface names,
/// listen ports and session addresses must each belong to one peer.
#[derive(Default)]
pub(super) struct Taken {
    pub(super) ifnames: BTreeMap<String, String>,
    pub(super) ports: BTreeMap<u16, String>,
    /// Session addresses with their link-local scope: the same fe80::1 may
    /// be a peer on each of several interfaces.
    addresses: BTreeMap<(IpAddr, Option<String>), String>,
}

impl Taken {
    /// Records that `peer` uses `value`; if an earlier peer did, returns its name.
    pub(super) fn claim<K: Ord + Clone>(
        map: &mut BTreeMap<K, String>,
        value: &K,
        peer: &str,
    ) -> Option<String> {
        match map.get(value) {
            Some(other) => Some(other.clone()),
            None => {
                map.insert(value.clone(), peer.to_string());
                None
            }
        }
    }
}

/// What a peer's validation needs from the rest of the file.
pub(super) struct Scope<'a> {
    pub(super) raw: &'a RawConfig,
    pub(super) loopback: &'a [IpNet],
    /// The checked policies (the same names as `raw.policies`).
    pub(super) policies: &'a BTreeMap<String, Vec<PolicyRule>>,
}

/// `peers.<name>.asn`: a number but 0 (RFC 7607), or `external`.
/// `internal` is iBGP, which wgbgp does not speak.
fn peer_as(cx: &mut Ctx, base: &str, raw: &RawPeerAs) -> PeerAs {
    let key = format!("{base}.asn");
    match raw {
        RawPeerAs::Number(0) => cx.err(key, Problem::AsnZero),
        RawPeerAs::Number(asn) => return PeerAs::Is(*asn),
        RawPeerAs::Word(w) if w == "external" => return PeerAs::External,
        RawPeerAs::Word(w) if w == "internal" => {
            let why =
                "`internal` is iBGP: wgbgp speaks eBGP only (give the peer's AS, or `external`)";
            cx.err(key, Problem::Other(why.into()));
        }
        RawPeerAs::Word(w) => {
            let why =
                format!("`{w}` is no AS number (a number, or `external` for any AS but ours)");
            cx.err(key, Problem::Other(why));
        }
    }
    PeerAs::Is(0)
}

/// Validates `peers.<name>`.
pub(super) fn peer(
    cx: &mut Ctx,
    scope: &Scope,
    taken: &mut Taken,
    name: &str,
    p: &RawPeer,
) -> Peer {
    let base = format!("peers.{name}");
    let asn = peer_as(cx, &base, &p.asn);
    let Addresses {
        addresses,
        scope: link_scope,
    } = addresses(cx, taken, name, p);
    let local_address = local_address(cx, scope, &base, p, addresses.first());
    let session_link_local = addresses.first().is_some_and(|a| is_link_local(*a));
    // A tunnel peer's addresses are loopbacks, peered with from ours
    // (the session's may be `local_address` instead); a plain peer and a
    // link-local session need none.
    if p.wireguard.is_some() {
        for (i, a) in addresses.iter().enumerate() {
            let sourced = i == 0 && local_address.is_some();
            if is_link_local(*a) || sourced || first_of_family(scope.loopback, *a).is_some() {
                continue;
            }
            let problem = Problem::NoLoopback {
                address: *a,
                family: family(*a),
            };
            cx.err(format!("{base}.address"), problem);
        }
    }
    let multihop = multihop(cx, &base, p);
    let link_local = link_local(cx, &base, p);
    let timers = timers(cx, &base, p);
    let port = p.port.unwrap_or(179);
    if port == 0 {
        let problem = Problem::Other("port 0 is not a TCP port".into());
        cx.err(format!("{base}.port"), problem);
    }
    policy_references(cx, scope, &base, p);
    let wireguard = (p.wireguard.as_ref())
        .and_then(|w| peer_wireguard(cx, name, w, &mut taken.ifnames, &mut taken.ports));
    // A link-local session on a tunnel is scoped to it; `%IFNAME` may
    // only repeat that.
    let link_scope = match (&wireguard, link_scope) {
        (Some(w), Some(s)) if s != w.interface => {
            let problem = Problem::Other(format!(
                "the session is scoped to `{s}` but runs over the peer's tunnel `{}`; \
                 drop the `%{s}`",
                w.interface
            ));
            cx.err(format!("{base}.address"), problem);
            Some(s)
        }
        (Some(w), None) if session_link_local => Some(w.interface.clone()),
        (_, scope) => scope,
    };
    if let Some(pw) = &p.password
        && (pw.is_empty() || pw.len() > 80)
    {
        let problem = Problem::Other("TCP-MD5 password must be 1 to 80 bytes".into());
        cx.err(format!("{base}.password"), problem);
    }
    let graceful_restart = graceful_restart(cx, &base, p.graceful_restart.as_ref());
    let bfd = bfd(cx, &base, p.bfd.as_ref());
    // FRR announces `capability extended-nexthop` on IPv6 sessions
    // for IPv4 unicast; so do we unless told otherwise.
    let extended_next_hop = p
        .extended_next_hop
        .unwrap_or(addresses.first().is_some_and(|a| a.is_ipv6()));
    Peer {
        name: name.to_string(),
        asn,
        addresses,
        scope: link_scope,
        description: p.description.clone(),
        wireguard,
        import: p.import.0.clone(),
        export: p.export.0.clone(),
        passive: p.passive.unwrap_or(false),
        hold_time: timers.hold_time,
        startup_hold_time: timers.startup_hold_time,
        keepalive: timers.keepalive,
        local_address,
        multihop,
        link_local,
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
        limits: limits(scope.raw, p),
        max_prefix: p.max_prefix.as_ref().map(RawMaxPrefix::checked),
    }
}

/// `address` checked: the session address first.
struct Addresses {
    addresses: Vec<IpAddr>,
    /// `%IFNAME` of a link-local session address.
    scope: Option<String>,
}

/// `address`: one or more, none used by another peer (on the same
/// interface, for a link-local one). Only the session address (the first)
/// may be link-local, and it then needs an interface: `%IFNAME`, or the
/// peer's tunnel.
fn addresses(cx: &mut Ctx, taken: &mut Taken, name: &str, p: &RawPeer) -> Addresses {
    let key = format!("peers.{name}.address");
    if p.address.0.is_empty() {
        cx.err(key.clone(), Problem::Empty);
    }
    let mut out = Addresses {
        addresses: Vec::new(),
        scope: None,
    };
    for (i, s) in p.address.0.iter().enumerate() {
        let (text, scope) = match s.split_once('%') {
            Some((a, ifname)) => (a, Some(ifname)),
            None => (s.as_str(), None),
        };
        let Some(a) = cx.ip(
            key.clone(),
            text,
            "an IP address (fe80::1%IFNAME for link-local)",
        ) else {
            continue;
        };
        if let Some(ifname) = scope {
            if let Err(why) = check_ifname(ifname) {
                let problem = Problem::Other(format!("`{ifname}` is no interface name: {why}"));
                cx.err(key.clone(), problem);
            }
            if !is_link_local(a) {
                let problem = Problem::Other(format!(
                    "{a} is not link-local: only fe80::/10 addresses take a %IFNAME scope"
                ));
                cx.err(key.clone(), problem);
            }
        }
        if is_link_local(a) && i > 0 {
            let problem = Problem::Other(format!(
                "{a}: a link-local address can only be the session address (the first)"
            ));
            cx.err(key.clone(), problem);
        }
        if is_link_local(a) && scope.is_none() && p.wireguard.is_none() {
            cx.err(key.clone(), Problem::LinkLocalUnscoped { address: a });
        }
        if i == 0 {
            out.scope = scope.map(str::to_string);
        }
        let claim = (a, scope.map(str::to_string));
        if let Some(other) = Taken::claim(&mut taken.addresses, &claim, name) {
            let problem = Problem::DuplicatePeerAddress { address: a, other };
            cx.err(key.clone(), problem);
        }
        out.addresses.push(a);
    }
    out
}

/// `local_address`, of the session address's family; by default, for a
/// tunnel peer, the first loopback of that family. A plain peer and a
/// link-local session leave it to the kernel.
fn local_address(
    cx: &mut Ctx,
    scope: &Scope,
    base: &str,
    p: &RawPeer,
    session: Option<&IpAddr>,
) -> Option<IpAddr> {
    let Some(s) = &p.local_address else {
        let session = session.filter(|a| !is_link_local(**a))?;
        p.wireguard.as_ref()?;
        return first_of_family(scope.loopback, *session);
    };
    let key = format!("{base}.local_address");
    let local = cx.ip(key.clone(), s, "an IP address");
    if let (Some(l), Some(first)) = (local, session)
        && l.is_ipv4() != first.is_ipv4()
    {
        let problem = Problem::LocalAddressFamily {
            local: l,
            peer: *first,
        };
        cx.err(key.clone(), problem);
    }
    if let (Some(l), Some(first)) = (local, session)
        && is_link_local(l) != is_link_local(*first)
    {
        let problem = Problem::Other(format!(
            "local_address {l} and the session address {first} must both be link-local or \
             neither (for our link-local address on a tunnel, use `link_local`)"
        ));
        cx.err(key, problem);
    }
    local
}

/// `multihop: N` (FRR's `ebgp-multihop N`): 1 to 255 hops, and not with
/// `ttl_security`, which fixes the TTL at 255 (FRR refuses both too).
fn multihop(cx: &mut Ctx, base: &str, p: &RawPeer) -> Option<u8> {
    let hops = p.multihop?;
    if hops == 0 {
        let problem = Problem::Other("multihop must be 1 to 255 hops".into());
        cx.err(format!("{base}.multihop"), problem);
    }
    if p.ttl_security == Some(true) {
        let problem = Problem::Other(
            "multihop and ttl_security exclude each other: GTSM sends TTL 255 and \
             accepts only 255 (RFC 5082)"
                .into(),
        );
        cx.err(format!("{base}.multihop"), problem);
    }
    Some(hops)
}

/// `link_local`: our fe80::/10 address on the peer's tunnel.
fn link_local(cx: &mut Ctx, base: &str, p: &RawPeer) -> Option<std::net::Ipv6Addr> {
    let s = p.link_local.as_ref()?;
    let key = format!("{base}.link_local");
    let a = cx.ip(key.clone(), s, "an IPv6 link-local address (fe80::/10)")?;
    if p.wireguard.is_none() {
        let problem = Problem::Other(
            "link_local is the address wgbgp puts on the peer's tunnel; a plain peer's \
             interface has its own (scope the session address instead: fe80::1%IFNAME)"
                .into(),
        );
        cx.err(key.clone(), problem);
    }
    match a {
        IpAddr::V6(v6) if is_link_local(a) => Some(v6),
        _ => {
            let problem = Problem::BadAddress {
                value: s.clone(),
                expected: "an IPv6 link-local address (fe80::/10)",
            };
            cx.err(key, problem);
            None
        }
    }
}

struct Timers {
    hold_time: u16,
    startup_hold_time: u16,
    keepalive: u16,
}

/// `hold_time`, `startup_hold_time` and `keepalive` (RFC 4271 §4.2, §10).
fn timers(cx: &mut Ctx, base: &str, p: &RawPeer) -> Timers {
    let hold_time = p.hold_time.unwrap_or(DEFAULT_HOLD_TIME);
    if hold_time == 1 || hold_time == 2 {
        cx.err(format!("{base}.hold_time"), Problem::BadHoldTime(hold_time));
    }
    // RFC 4271 §8.2.2: "a large value (suggested value of 4 minutes)".
    let startup_hold_time = p.startup_hold_time.unwrap_or(240);
    if startup_hold_time < 3 {
        let problem = Problem::Other(format!(
            "startup_hold_time {startup_hold_time} must be at least 3 seconds"
        ));
        cx.err(format!("{base}.startup_hold_time"), problem);
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
    Timers {
        hold_time,
        startup_hold_time,
        keepalive,
    }
}

/// `import` and `export` name defined policies, and export policies set
/// nothing that only makes sense on import.
fn policy_references(cx: &mut Ctx, scope: &Scope, base: &str, p: &RawPeer) {
    for (dir, list) in [("import", &p.import), ("export", &p.export)] {
        for policy in &list.0 {
            if !scope.policies.contains_key(policy) {
                let problem = Problem::UndefinedPolicy {
                    name: policy.clone(),
                };
                cx.err(format!("{base}.{dir}"), problem);
            }
        }
    }
    for policy in &p.export.0 {
        let sets = |what: fn(&rib::policy::SetActions) -> bool| {
            (scope.policies.get(policy).into_iter().flatten())
                .any(|r| r.set.as_deref().is_some_and(what))
        };
        // RFC 4271 §5.1.5: LOCAL_PREF is never sent to an eBGP peer.
        if sets(|s| s.local_pref.is_some()) {
            let problem = Problem::Other(format!(
                "policy `{policy}` sets local_pref, which is not sent to eBGP peers \
                 (RFC 4271 §5.1.5); use med or prepend on export"
            ));
            cx.err(format!("{base}.export"), problem);
        }
        if sets(|s| s.table.is_some()) {
            let problem = Problem::Other(format!(
                "policy `{policy}` sets table, which chooses where a received route is \
                 installed; use it on import"
            ));
            cx.err(format!("{base}.export"), problem);
        }
    }
}

/// `graceful_restart`: on by default with FRR's Restart Time.
fn graceful_restart(cx: &mut Ctx, base: &str, gr: Option<&RawGracefulRestart>) -> Option<u16> {
    match gr {
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
    }
}

/// `bfd`: off by default; FRR's defaults and bounds.
fn bfd(cx: &mut Ctx, base: &str, bfd: Option<&RawBfd>) -> Option<Bfd> {
    let f = match bfd {
        None | Some(RawBfd::Enabled(false)) => return None,
        Some(RawBfd::Enabled(true)) => return Some(Bfd::default()),
        Some(RawBfd::Full(f)) => f,
    };
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

/// The import guard (per peer, else top level) and `max_adj_rib_in_mib`.
fn limits(raw: &RawConfig, p: &RawPeer) -> PeerLimits {
    PeerLimits {
        guard: rib::guard::Guard {
            reject_default_route: (p.reject_default_route)
                .or(raw.reject_default_route)
                .unwrap_or(true),
            reject_bogons: p.reject_bogons.or(raw.reject_bogons).unwrap_or(false),
        },
        enforce_first_as: p.enforce_first_as.unwrap_or(true),
        max_adj_rib_in_mib: p.max_adj_rib_in_mib.as_ref().map(RawMaxPrefix::checked),
    }
}
