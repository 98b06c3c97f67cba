//! Reading an FRR `bgpd.conf` (or an integrated `frr.conf`) into a model of
//! the parts wgbgp can express; every other line is recorded as
//! [`Skipped`] with the reason, so the translation can list it.
//!
//! FRR's own parser walks a tree of nodes (`router bgp` → `address-family`,
//! `route-map` entries, `interface`); a command not known in the current
//! node is retried in the parent. Files copied from `show running-config`
//! are often unindented, so this reader does the same: it stays in a block
//! while a line's first words belong to that block and otherwise treats the
//! line as a top-level command.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::SkipKind::{self, Lost, NotNeeded};
use super::Skipped;

/// IPv4 or IPv6 unicast, the two address families wgbgp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// `neighbor X remote-as ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAs {
    Asn(u32),
    /// `internal` / `external`: the number is not in the file.
    Keyword(String),
}

/// Per address-family neighbor settings.
#[derive(Debug, Clone, Default)]
pub struct AfSettings {
    /// `neighbor X activate` / `no neighbor X activate`; `None`: FRR's default.
    pub activate: Option<bool>,
    pub route_map_in: Option<String>,
    pub route_map_out: Option<String>,
    pub prefix_list_in: Option<String>,
    pub prefix_list_out: Option<String>,
    /// `neighbor X soft-reconfiguration inbound`.
    pub soft_reconfiguration: bool,
    /// `neighbor X maximum-prefix ...`.
    pub maximum_prefix: Option<MaximumPrefix>,
}

/// `neighbor X maximum-prefix N [THRESHOLD] [warning-only | restart M]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaximumPrefix {
    pub limit: u32,
    pub warning_only: bool,
    /// `restart M`, in minutes; without it FRR keeps the session down
    /// until `clear bgp`.
    pub restart_minutes: Option<u32>,
}

impl MaximumPrefix {
    fn parse(words: &[&str]) -> Option<MaximumPrefix> {
        let (limit, mut rest) = words.split_first()?;
        let mut m = MaximumPrefix {
            limit: limit.parse().ok()?,
            warning_only: false,
            restart_minutes: None,
        };
        // The warning threshold (percent) changes only when FRR logs.
        if let Some(t) = rest.first()
            && t.parse::<u8>().is_ok_and(|t| (1..=100).contains(&t))
        {
            rest = &rest[1..];
        }
        match rest {
            [] => {}
            ["warning-only"] => m.warning_only = true,
            ["restart", minutes] => m.restart_minutes = Some(minutes.parse().ok()?),
            _ => return None,
        }
        Some(m)
    }
}

/// `bgp graceful-restart ...` at router level.
#[derive(Debug, Clone, Copy, Default)]
pub struct GracefulRestart {
    /// `bgp graceful-restart`: restart gracefully ourselves.
    pub enabled: bool,
    /// `bgp graceful-restart disable`: not even as a helper.
    pub disabled: bool,
    pub restart_time: Option<u16>,
    pub select_defer_time: Option<u16>,
}

/// Settings of a neighbor or a peer-group.
#[derive(Debug, Clone, Default)]
pub struct NeighborSettings {
    pub remote_as: Option<RemoteAs>,
    pub description: Option<String>,
    /// An address, or an interface name (`update-source lo`).
    pub update_source: Option<String>,
    pub passive: bool,
    pub shutdown: bool,
    /// `capability extended-nexthop` (RFC 8950).
    pub extended_next_hop: bool,
    /// `(keepalive, hold)`.
    pub timers: Option<(u16, u16)>,
    pub port: Option<u16>,
    pub peer_group: Option<String>,
    /// `neighbor X password` (TCP-MD5).
    pub password: Option<String>,
    /// `neighbor X bfd`.
    pub bfd: bool,
    /// `[no] neighbor X enforce-first-as` (on unless said otherwise).
    pub enforce_first_as: Option<bool>,
    /// `ebgp-multihop [N]` (255 without N, as FRR).
    pub ebgp_multihop: Option<u8>,
    /// `neighbor X interface IFNAME`: the interface the session runs over
    /// (what scopes a link-local neighbor address).
    pub interface: Option<String>,
    pub af: [AfSettings; 2],
}

/// One `neighbor ADDR` in file order.
#[derive(Debug, Clone)]
pub struct Neighbor {
    pub address: IpAddr,
    pub settings: NeighborSettings,
}

/// One `route-map NAME permit|deny SEQ` entry.
#[derive(Debug, Clone)]
pub struct RouteMapEntry {
    pub seq: u32,
    pub permit: bool,
    /// `match ip(v6) address prefix-list NAME`, all of which must match.
    pub prefix_lists: Vec<(Family, String)>,
    /// `match as-path NAME`.
    pub as_path_lists: Vec<String>,
    /// `match community NAME` / `match large-community NAME`.
    pub community_lists: Vec<String>,
    /// Match clauses wgbgp cannot evaluate (line, text).
    pub other_matches: Vec<(usize, String)>,
    /// The translated `set` clauses (`local-preference`, `metric`,
    /// `as-path prepend` of our AS, `community`, `large-community`).
    pub set: rib::policy::SetActions,
}

/// One prefix-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListEntry {
    pub seq: u32,
    pub permit: bool,
    pub net: IpNet,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

/// What was read from the file.
#[derive(Debug, Clone, Default)]
pub struct Bgpd {
    pub asn: Option<u32>,
    pub router_id: Option<Ipv4Addr>,
    /// `bgp ebgp-requires-policy` (FRR's default since 7.4: on).
    pub ebgp_requires_policy: bool,
    /// `bgp default ipv4-unicast` (FRR's default: on).
    pub default_ipv4_unicast: bool,
    /// `timers bgp KEEPALIVE HOLD`.
    pub timers: Option<(u16, u16)>,
    /// `maximum-paths N` (the largest of the address families).
    pub maximum_paths: Option<usize>,
    /// `bgp bestpath as-path multipath-relax`.
    pub multipath_relax: bool,
    pub graceful_restart: GracefulRestart,
    pub neighbors: Vec<Neighbor>,
    pub groups: BTreeMap<String, NeighborSettings>,
    /// `network P` under an address family.
    pub networks: Vec<IpNet>,
    /// `redistribute ...` lines (line, text).
    pub redistribute: Vec<(usize, String)>,
    /// Addresses from `interface lo` blocks (integrated frr.conf).
    pub lo_addresses: Vec<IpNet>,
    pub route_maps: BTreeMap<String, Vec<RouteMapEntry>>,
    pub prefix_lists: BTreeMap<(Family, String), Vec<PrefixListEntry>>,
    /// `bgp as-path access-list NAME [seq N] permit|deny REGEX`: (permit,
    /// regex) in order.
    pub as_path_lists: BTreeMap<String, Vec<(bool, String)>>,
    /// `bgp community-list` and `bgp large-community-list`, standard and
    /// expanded, by name (the two kinds share FRR's name space here).
    pub community_lists: BTreeMap<String, Vec<CommunityListEntry>>,
}

/// One community-list entry in wgbgp's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityListEntry {
    pub permit: bool,
    /// The one value or wildcard (`65001:100`, `65001:*`, `65001:0:*`) the
    /// entry matches; `None` when wgbgp cannot say it (several values that
    /// must all be present, a regular expression other than `ASN:.*`-like).
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Top,
    RouterBgp,
    AddressFamily(Family),
    /// An address family wgbgp does not carry (l2vpn evpn, ipv4 multicast...).
    OtherAddressFamily,
    RouteMap(String),
    Interface {
        lo: bool,
    },
    /// A block wgbgp has no use for (other routers, vrf...).
    Other,
    /// `line vty`: vty access, which the control socket replaces.
    Vty,
}

/// Words that open a command valid in `node`, so the line stays there.
fn belongs(node: &Node, words: &[&str]) -> bool {
    let first = words.first().copied().unwrap_or("");
    let w = |i: usize| words.get(i).copied().unwrap_or("");
    // `no X` belongs wherever `X` does.
    if first == "no" {
        return words.len() > 1 && belongs(node, &words[1..]);
    }
    match node {
        Node::Top => false,
        Node::RouterBgp => matches!(
            first,
            "bgp"
                | "neighbor"
                | "network"
                | "timers"
                | "address-family"
                | "redistribute"
                | "maximum-paths"
                | "aggregate-address"
                | "distance"
                | "table-map"
                | "coalesce-time"
                | "update-delay"
                | "read-quanta"
                | "write-quanta"
                | "exit-address-family"
        ),
        Node::AddressFamily(_) | Node::OtherAddressFamily => {
            belongs(&Node::RouterBgp, words) && first != "address-family"
        }
        Node::RouteMap(_) => matches!(
            first,
            "match" | "set" | "on-match" | "call" | "continue" | "description"
        ),
        Node::Interface { .. } => {
            let top_ip = matches!(
                w(1),
                "prefix-list"
                    | "route"
                    | "forwarding"
                    | "nht"
                    | "protocol"
                    | "import-table"
                    | "as-path"
                    | "community-list"
                    | "extcommunity-list"
                    | "large-community-list"
                    | "access-list"
                    | "mroute"
                    | "multicast"
            );
            match first {
                "ip" | "ipv6" => !top_ip,
                "description" | "shutdown" | "link-detect" | "mtu" | "bandwidth" | "isis"
                | "mpls" | "vrrp" | "pbr-policy" | "bfd" | "link-params" | "evpn" | "ospf6" => true,
                _ => false,
            }
        }
        // Unknown blocks: keep indented lines, anything else is top level.
        Node::Other | Node::Vty => false,
    }
}

fn parse_family(words: &[&str]) -> Option<Family> {
    match words {
        ["ipv4"] | ["ipv4", "unicast"] => Some(Family::Ipv4),
        ["ipv6"] | ["ipv6", "unicast"] => Some(Family::Ipv6),
        _ => None,
    }
}

/// Reads `text`; lines it does not use are pushed to `skipped`.
pub fn parse(origin: &str, text: &str, skipped: &mut Vec<Skipped>) -> Bgpd {
    let mut b = Bgpd {
        ebgp_requires_policy: true,
        default_ipv4_unicast: true,
        ..Bgpd::default()
    };
    let mut node = Node::Top;
    let mut seen_router = false;
    let own_as = router_as(text);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let indented = raw.starts_with([' ', '\t']);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let shown = redact(&words).unwrap_or_else(|| trimmed.to_string());
        let mut skip = |kind: SkipKind, why: &str| {
            skipped.push(Skipped {
                origin: origin.to_string(),
                line: Some(line),
                text: shown.clone(),
                why: why.to_string(),
                kind,
            })
        };

        // Leaving blocks.
        match words[0] {
            "exit-address-family" => {
                if matches!(node, Node::AddressFamily(_) | Node::OtherAddressFamily) {
                    node = Node::RouterBgp;
                }
                continue;
            }
            "exit" | "end" | "quit" => {
                node = match node {
                    Node::AddressFamily(_) | Node::OtherAddressFamily => Node::RouterBgp,
                    _ => Node::Top,
                };
                continue;
            }
            _ => {}
        }
        // Indented lines of a block wgbgp does not translate stay in it.
        let block = matches!(node, Node::Other | Node::Vty);
        let stays = belongs(&node, &words) || (block && indented);
        if !stays {
            node = Node::Top;
        }

        match node.clone() {
            Node::Top => match (words[0], words.get(1).copied()) {
                ("router", Some("bgp")) => {
                    if seen_router || words.len() > 3 {
                        skip(
                            Lost,
                            "only the first `router bgp` of the default VRF is translated",
                        );
                        node = Node::Other;
                        continue;
                    }
                    seen_router = true;
                    match words.get(2).and_then(|s| parse_asn(s)) {
                        Some(asn) => b.asn = Some(asn),
                        None => skip(Lost, "`router bgp` without a usable AS number"),
                    }
                    node = Node::RouterBgp;
                }
                ("route-map", _) => match route_map_header(&words) {
                    Some((name, permit, seq)) => {
                        let entries = b.route_maps.entry(name.clone()).or_default();
                        entries.push(RouteMapEntry {
                            seq,
                            permit,
                            prefix_lists: Vec::new(),
                            as_path_lists: Vec::new(),
                            community_lists: Vec::new(),
                            other_matches: Vec::new(),
                            set: Default::default(),
                        });
                        entries.sort_by_key(|e| e.seq);
                        node = Node::RouteMap(name);
                    }
                    None => {
                        skip(Lost, "unrecognised route-map header");
                        node = Node::Other;
                    }
                },
                ("ip", Some("prefix-list")) | ("ipv6", Some("prefix-list")) => {
                    let family = if words[0] == "ip" {
                        Family::Ipv4
                    } else {
                        Family::Ipv6
                    };
                    if let Err(why) = prefix_list_line(&mut b, family, &words[2..]) {
                        skip(Lost, &why);
                    }
                }
                ("bgp" | "ip", Some("as-path")) if words.get(2) == Some(&"access-list") => {
                    if let Err(why) = as_path_list_line(&mut b, &words[3..]) {
                        skip(Lost, &why);
                    }
                }
                ("bgp" | "ip", Some(kind @ ("community-list" | "large-community-list"))) => {
                    if let Err(why) = community_list_line(&mut b, kind, &words[2..]) {
                        skip(Lost, &why);
                    }
                }
                ("interface", Some(name)) => {
                    node = Node::Interface { lo: name == "lo" };
                }
                ("line", _) => {
                    skip(NotNeeded, VTY);
                    node = Node::Vty;
                }
                ("log", _) | ("debug", _) => skip(
                    NotNeeded,
                    "logging: wgbgpd logs to stderr, level from `RUST_LOG`",
                ),
                ("frr", _)
                | ("hostname", _)
                | ("service", _)
                | ("password", _)
                | ("enable", _)
                | ("username", _)
                | ("banner", _) => skip(
                    NotNeeded,
                    "FRR daemon/vty housekeeping: no equivalent needed",
                ),
                ("ip", Some("route")) | ("ipv6", Some("route")) => skip(
                    Lost,
                    "static route (zebra): add it with `ip route` or systemd-networkd",
                ),
                ("ip", Some("forwarding")) | ("ipv6", Some("forwarding")) => skip(
                    Lost,
                    "set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding with sysctl",
                ),
                _ => {
                    skip(Lost, "no wgbgp equivalent");
                    node = Node::Other;
                }
            },
            Node::RouterBgp => router_bgp_line(&mut b, &words, &mut node, &mut skip),
            Node::AddressFamily(family) => {
                address_family_line(&mut b, family, line, trimmed, &words, &mut skip)
            }
            Node::OtherAddressFamily => skip(Lost, "address family not carried by wgbgp"),
            Node::RouteMap(name) => {
                let entry = b
                    .route_maps
                    .get_mut(&name)
                    .and_then(|v| v.last_mut())
                    .expect("route-map node has an entry");
                match words.as_slice() {
                    ["match", "ip", "address", "prefix-list", pl] => {
                        entry.prefix_lists.push((Family::Ipv4, pl.to_string()))
                    }
                    ["match", "ipv6", "address", "prefix-list", pl] => {
                        entry.prefix_lists.push((Family::Ipv6, pl.to_string()))
                    }
                    ["match", "as-path", name] => entry.as_path_lists.push(name.to_string()),
                    ["match", "community" | "large-community", name] => {
                        entry.community_lists.push(name.to_string())
                    }
                    ["match", ..] => entry.other_matches.push((line, trimmed.to_string())),
                    ["description", ..] => {}
                    ["set", rest @ ..] => {
                        if let Err(why) = route_map_set(&mut entry.set, rest, own_as) {
                            skip(Lost, &format!("{why} (the entry is translated without it)"));
                        }
                    }
                    _ => skip(
                        Lost,
                        "route-map flow control is not translated (on-match/call/continue)",
                    ),
                }
            }
            Node::Interface { lo } => match words.as_slice() {
                ["ip", "address", p] | ["ipv6", "address", p] if lo => match p.parse::<IpNet>() {
                    Ok(n) => b.lo_addresses.push(n),
                    Err(_) => skip(Lost, "not an address/length"),
                },
                _ => skip(Lost, "interface settings are not managed by wgbgp"),
            },
            Node::Other => skip(Lost, "inside a block wgbgp does not translate"),
            // What a vty allows (access-class, ...) is the control
            // socket's mode and `control_group` here: said, not guessed.
            Node::Vty => skip(
                Lost,
                "vty setting: set `control_group` (and the socket's mode) instead",
            ),
        }
    }
    b
}

/// Why `line vty` and its settings are not needed.
const VTY: &str = "vty access: `wgbgp` talks to the daemon over `control_socket` (`control_group`)";

/// The AS of the first `router bgp`, wherever it is in `text`: route-maps
/// that prepend it may come before it.
fn router_as(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["router", "bgp", asn] => parse_asn(asn),
            _ => None,
        })
}

/// The line with its secret replaced, for lines that carry one
/// (`neighbor X password S`, `password S`, `enable password S`).
fn redact(words: &[&str]) -> Option<String> {
    let at = words
        .iter()
        .position(|w| *w == "password" || *w == "secret")?;
    let mut shown: Vec<&str> = words[..=at].to_vec();
    shown.push("(redacted)");
    Some(shown.join(" "))
}

/// One route-map `set` clause (the words after `set`) into `set`.
fn route_map_set(
    set: &mut rib::policy::SetActions,
    words: &[&str],
    own_asn: Option<u32>,
) -> Result<(), String> {
    use rib::policy::{CommunityValue, MAX_PREPEND};
    let number = |w: &str| {
        w.parse::<u32>()
            .map_err(|_| format!("`{w}` is not a number"))
    };
    match words {
        ["local-preference", n] => set.local_pref = Some(number(n)?),
        ["metric", n] => set.med = Some(number(n)?),
        ["as-path", "prepend", asns @ ..] if !asns.is_empty() && asns[0] != "last-as" => {
            let ours = asns
                .iter()
                .all(|a| parse_asn(a).is_some() && parse_asn(a) == own_asn);
            if !ours {
                return Err("wgbgp prepends only its own AS (that of `router bgp`)".into());
            }
            if asns.len() > MAX_PREPEND as usize {
                return Err(format!("wgbgp prepends at most {MAX_PREPEND} times"));
            }
            set.prepend = asns.len() as u8;
        }
        [kind @ ("community" | "large-community"), values @ ..] if !values.is_empty() => {
            let (values, additive) = match values.split_last() {
                Some((&"additive", rest)) => (rest, true),
                _ => (values, false),
            };
            let mut list = rib::policy::Communities::default();
            if values != ["none"] {
                for v in values {
                    let parsed: CommunityValue = v.parse().map_err(|e| format!("{e}"))?;
                    let large = matches!(parsed, CommunityValue::Large(_));
                    if large != (*kind == "large-community") {
                        return Err(format!("`{v}` is not a {kind}"));
                    }
                    list.push(parsed);
                }
            }
            let edit = &mut set.communities;
            if additive {
                list.standard
                    .iter()
                    .for_each(|c| edit.add.push(CommunityValue::Standard(*c)));
                list.large
                    .iter()
                    .for_each(|l| edit.add.push(CommunityValue::Large(*l)));
            } else {
                // FRR replaces one kind and keeps the other: remove what the
                // route carries of this kind is not expressible, so only an
                // empty other kind in the replacement is exact.
                return Err(format!(
                    "`set {kind}` without `additive` replaces only that kind; wgbgp's \
                     `communities: {{replace: [...]}}` replaces standard and large ones, write \
                     it by hand"
                ));
            }
        }
        _ => return Err("this `set` has no wgbgp equivalent".into()),
    }
    Ok(())
}

fn parse_asn(s: &str) -> Option<u32> {
    // asdot `1.10` is 65536 * 1 + 10.
    if let Some((hi, lo)) = s.split_once('.') {
        let hi: u32 = hi.parse().ok()?;
        let lo: u32 = lo.parse().ok()?;
        if hi > 0xffff || lo > 0xffff {
            return None;
        }
        return Some((hi << 16) | lo).filter(|a| *a != 0);
    }
    s.parse().ok().filter(|a| *a != 0)
}

fn route_map_header(words: &[&str]) -> Option<(String, bool, u32)> {
    let name = words.get(1)?.to_string();
    let permit = match *words.get(2)? {
        "permit" => true,
        "deny" => false,
        _ => return None,
    };
    let seq = words.get(3)?.parse().ok()?;
    (words.len() == 4).then_some((name, permit, seq))
}

/// `[seq N] permit|deny REST...` after a list name: (permit, REST).
fn list_action<'a>(words: &'a [&'a str]) -> Result<(bool, &'a [&'a str]), String> {
    let words = match words {
        ["seq", n, rest @ ..] if n.parse::<u32>().is_ok() => rest,
        w => w,
    };
    match words {
        ["permit", rest @ ..] if !rest.is_empty() => Ok((true, rest)),
        ["deny", rest @ ..] if !rest.is_empty() => Ok((false, rest)),
        _ => Err("expected [seq N] permit|deny and a value".into()),
    }
}

/// `NAME [seq N] permit|deny REGEX` (after `bgp as-path access-list`). The
/// expression is FRR's dialect, which wgbgp's `as_path:` speaks.
fn as_path_list_line(b: &mut Bgpd, words: &[&str]) -> Result<(), String> {
    let (name, rest) = words
        .split_first()
        .ok_or("as-path access-list without a name")?;
    let (permit, regex) = list_action(rest)?;
    let regex = regex.join(" ");
    rib::policy::AsPathRegex::new(&regex).map_err(|e| e.to_string())?;
    (b.as_path_lists.entry(name.to_string()).or_default()).push((permit, regex));
    Ok(())
}

/// `[standard|expanded] NAME [seq N] permit|deny VALUES...` (after `bgp
/// community-list` or `bgp large-community-list`).
fn community_list_line(b: &mut Bgpd, kind: &str, words: &[&str]) -> Result<(), String> {
    let (expanded, words) = match words {
        ["standard", rest @ ..] => (false, rest),
        ["expanded", rest @ ..] => (true, rest),
        // Numbered lists: 1-99 standard, 100-500 expanded.
        [n, ..] => (n.parse::<u32>().is_ok_and(|n| n >= 100), words),
        [] => return Err(format!("{kind} without a name")),
    };
    let (name, rest) = words
        .split_first()
        .ok_or(format!("{kind} without a name"))?;
    let (permit, values) = list_action(rest)?;
    let large = kind == "large-community-list";
    let value = match (expanded, values) {
        (false, [one]) => Some(frr_community(one)),
        (true, [re]) => community_regex_as_wildcard(re, large),
        _ => None,
    };
    let entry = CommunityListEntry { permit, value };
    b.community_lists
        .entry(name.to_string())
        .or_default()
        .push(entry);
    Ok(())
}

/// FRR's community keywords in wgbgp's spelling (both accept `65001:1`).
fn frr_community(v: &str) -> String {
    match v {
        "internet" => "0:0".into(),
        "local-AS" => "no-export-subconfed".into(),
        other => other.into(),
    }
}

/// An expanded community-list expression that says "these fields are
/// anything": `^65001:.*$`, `65001:[0-9]+`, `_65001:.*_` (standard),
/// `^65001:.*:.*$` (large), becomes a wildcard; anything else `None`.
fn community_regex_as_wildcard(re: &str, large: bool) -> Option<String> {
    let core = re
        .trim_start_matches(['^', '_'])
        .trim_end_matches(['$', '_']);
    let fields: Vec<&str> = core.split(':').collect();
    if fields.len() != if large { 3 } else { 2 } {
        return None;
    }
    let out: Option<Vec<&str>> = fields
        .iter()
        .map(|f| match *f {
            ".*" | ".+" | "[0-9]+" | "[0-9]*" | "\\d+" | "\\d*" => Some("*"),
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => None,
        })
        .collect();
    let out = out?.join(":");
    out.contains('*').then_some(out)
}

/// `NAME [seq N] permit|deny PREFIX|any [ge N] [le N]` (after `ip prefix-list`).
fn prefix_list_line(b: &mut Bgpd, family: Family, words: &[&str]) -> Result<(), String> {
    let name = words
        .first()
        .ok_or("prefix-list without a name")?
        .to_string();
    let mut rest = &words[1..];
    if matches!(rest.first(), Some(&"description")) {
        return Ok(());
    }
    let entries = b.prefix_lists.entry((family, name)).or_default();
    let seq = if rest.first() == Some(&"seq") {
        let s = rest.get(1).and_then(|s| s.parse().ok()).ok_or("bad seq")?;
        rest = &rest[2..];
        s
    } else {
        // FRR numbers unsequenced entries in steps of 5.
        entries.iter().map(|e| e.seq).max().unwrap_or(0) / 5 * 5 + 5
    };
    let permit = match rest.first() {
        Some(&"permit") => true,
        Some(&"deny") => false,
        _ => return Err("expected permit or deny".into()),
    };
    let (net, mut more) = match rest.get(1) {
        Some(&"any") => {
            let any: IpNet = match family {
                Family::Ipv4 => "0.0.0.0/0".parse().unwrap(),
                Family::Ipv6 => "::/0".parse().unwrap(),
            };
            (
                any,
                vec!["le".to_string(), any.max_prefix_len().to_string()],
            )
        }
        Some(p) => {
            let net: IpNet = p.parse().map_err(|_| format!("`{p}` is not a prefix"))?;
            (net.trunc(), Vec::new())
        }
        None => return Err("prefix missing".into()),
    };
    if (family == Family::Ipv4) != net.addr().is_ipv4() {
        return Err("prefix of the other address family".into());
    }
    more.extend(rest[2..].iter().map(|s| s.to_string()));
    let spec = format!("{net} {}", more.join(" "));
    let pm: rib::policy::PrefixMatch = spec.trim().parse().map_err(|e| format!("{e}"))?;
    entries.retain(|e| e.seq != seq);
    entries.push(PrefixListEntry {
        seq,
        permit,
        net: pm.net,
        ge: pm.ge,
        le: pm.le,
    });
    entries.sort_by_key(|e| e.seq);
    Ok(())
}

/// The settings a `neighbor WORD ...` line refers to: an address or a
/// peer-group; `None` for `neighbor IFNAME interface` style names.
fn target<'a>(b: &'a mut Bgpd, who: &str, words: &[&str]) -> Option<&'a mut NeighborSettings> {
    if let Ok(addr) = who.parse::<IpAddr>() {
        let pos = match b.neighbors.iter().position(|n| n.address == addr) {
            Some(p) => p,
            None => {
                b.neighbors.push(Neighbor {
                    address: addr,
                    settings: NeighborSettings::default(),
                });
                b.neighbors.len() - 1
            }
        };
        return Some(&mut b.neighbors[pos].settings);
    }
    if words.get(2) == Some(&"peer-group") && words.len() == 3 {
        return Some(b.groups.entry(who.to_string()).or_default());
    }
    b.groups.get_mut(who)
}

fn router_bgp_line(
    b: &mut Bgpd,
    words: &[&str],
    node: &mut Node,
    skip: &mut dyn FnMut(SkipKind, &str),
) {
    match words {
        ["bgp", "router-id", id] => match id.parse() {
            Ok(id) => b.router_id = Some(id),
            Err(_) => skip(Lost, "not an IPv4 router-id"),
        },
        ["no", "bgp", "ebgp-requires-policy"] => b.ebgp_requires_policy = false,
        ["bgp", "ebgp-requires-policy"] => b.ebgp_requires_policy = true,
        ["no", "bgp", "default", "ipv4-unicast"] => b.default_ipv4_unicast = false,
        ["bgp", "log-neighbor-changes"] => {}
        ["bgp", "bestpath", "as-path", "multipath-relax", ..] => b.multipath_relax = true,
        ["bgp", "graceful-restart"] => b.graceful_restart.enabled = true,
        ["bgp", "graceful-restart", "disable"] => b.graceful_restart.disabled = true,
        ["bgp", "graceful-restart", "preserve-fw-state"] => skip(
            NotNeeded,
            "implied: wgbgp keeps its kernel routes while it restarts and says so (F bit)",
        ),
        [
            "bgp",
            "graceful-restart",
            what @ ("restart-time" | "select-defer-time"),
            n,
        ] => match (n.parse::<u16>(), *what) {
            (Ok(n), "restart-time") => b.graceful_restart.restart_time = Some(n),
            (Ok(n), _) => b.graceful_restart.select_defer_time = Some(n),
            (Err(_), _) => skip(Lost, "not a number of seconds"),
        },
        ["timers", "bgp", ka, hold] => match (ka.parse(), hold.parse()) {
            (Ok(ka), Ok(hold)) => b.timers = Some((ka, hold)),
            _ => skip(Lost, "bad timers"),
        },
        ["address-family", rest @ ..] => {
            *node = match parse_family(rest) {
                Some(f) => Node::AddressFamily(f),
                None => {
                    skip(
                        Lost,
                        "address family not carried by wgbgp (IPv4/IPv6 unicast only)",
                    );
                    Node::OtherAddressFamily
                }
            }
        }
        ["neighbor", who, ..] => {
            let who = who.to_string();
            let Some(n) = target(b, &who, words) else {
                skip(
                    Lost,
                    "neighbor by interface name (BGP unnumbered) or undefined peer-group: \
                     wgbgp needs the neighbor's address (for a link-local one, `neighbor \
                     fe80::X remote-as ASN` and `neighbor fe80::X interface IFNAME`)",
                );
                return;
            };
            neighbor_line(n, &words[2..], skip);
        }
        // A route server's client: its routes start with the AS the
        // server passed on, not the server's (RFC 7947 §2.2.2.1).
        ["no", "neighbor", who, "enforce-first-as"] => match target(b, who, words) {
            Some(n) => n.enforce_first_as = Some(false),
            None => skip(Lost, "undefined peer-group"),
        },
        // Neighbor settings at router level apply to IPv4 unicast (FRR's
        // historical default node).
        ["network", ..] | ["redistribute", ..] => skip(
            Lost,
            "outside an address-family block: FRR applies this to IPv4 unicast; \
             move it under `address-family ipv4 unicast` and run the import again",
        ),
        _ => skip(Lost, "no wgbgp equivalent"),
    }
}

fn neighbor_line(n: &mut NeighborSettings, rest: &[&str], skip: &mut dyn FnMut(SkipKind, &str)) {
    match rest {
        ["remote-as", asn] => {
            n.remote_as = Some(match parse_asn(asn) {
                Some(a) => RemoteAs::Asn(a),
                None => RemoteAs::Keyword(asn.to_string()),
            })
        }
        ["peer-group"] => {}
        ["peer-group", group] => n.peer_group = Some(group.to_string()),
        ["description", text @ ..] => n.description = Some(text.join(" ")),
        ["update-source", src] => n.update_source = Some(src.to_string()),
        // Tunnel peers run loopback to loopback over the tunnel: implied.
        ["disable-connected-check"] => {}
        ["ebgp-multihop"] => n.ebgp_multihop = Some(255),
        ["ebgp-multihop", hops] => match hops.parse::<u8>() {
            Ok(h) if h > 0 => n.ebgp_multihop = Some(h),
            _ => skip(Lost, "ebgp-multihop needs 1 to 255 hops"),
        },
        ["passive"] => n.passive = true,
        ["interface", ifname] => n.interface = Some(ifname.to_string()),
        ["capability", "extended-nexthop"] => n.extended_next_hop = true,
        ["shutdown", ..] => n.shutdown = true,
        // Before `timers KA HOLD`, which would read `connect` as a number.
        ["timers", "connect", _] => skip(
            NotNeeded,
            "wgbgp's connect retry is not configurable: the first attempt comes within a second, \
             then 5 s doubling per failure to 120 s",
        ),
        ["timers", ka, hold] => match (ka.parse(), hold.parse()) {
            (Ok(ka), Ok(hold)) => n.timers = Some((ka, hold)),
            _ => skip(Lost, "bad timers"),
        },
        ["port", p] => match p.parse() {
            Ok(p) => n.port = Some(p),
            Err(_) => skip(Lost, "bad port"),
        },
        ["activate"] => n.af[Family::Ipv4.index()].activate = Some(true),
        // The caller redacts the secret from the listed line.
        ["password", pw] => n.password = Some(pw.to_string()),
        ["bfd"] => n.bfd = true,
        ["enforce-first-as"] => n.enforce_first_as = Some(true),
        ["bfd", "profile", _] => {
            n.bfd = true;
            skip(
                Lost,
                "BFD profiles are not translated: the peer gets `bfd: true` (300 ms x 3); set \
                 `bfd: {interval_ms, multiplier}` to the profile's timers",
            );
        }
        [..] => af_neighbor_line(&mut n.af[Family::Ipv4.index()], rest, skip),
    }
}

fn af_neighbor_line(af: &mut AfSettings, rest: &[&str], skip: &mut dyn FnMut(SkipKind, &str)) {
    match rest {
        ["activate"] => af.activate = Some(true),
        ["route-map", name, "in"] => af.route_map_in = Some(name.to_string()),
        ["route-map", name, "out"] => af.route_map_out = Some(name.to_string()),
        ["prefix-list", name, "in"] => af.prefix_list_in = Some(name.to_string()),
        ["prefix-list", name, "out"] => af.prefix_list_out = Some(name.to_string()),
        ["soft-reconfiguration", "inbound"] => af.soft_reconfiguration = true,
        ["next-hop-self", ..] => skip(
            NotNeeded,
            "implied: wgbgp always sends its own address as next hop (eBGP)",
        ),
        ["send-community", ..] => skip(
            NotNeeded,
            "implied: wgbgp sends standard, extended and large communities to every peer",
        ),
        ["maximum-prefix", rest @ ..] => match MaximumPrefix::parse(rest) {
            Some(m) => af.maximum_prefix = Some(m),
            None => skip(
                Lost,
                "expected maximum-prefix N [THRESHOLD] [warning-only|restart M]",
            ),
        },
        ["allowas-in", ..] | ["as-override", ..] | ["local-as", ..] => {
            skip(Lost, "AS_PATH manipulation is not supported")
        }
        _ => skip(Lost, "no wgbgp equivalent"),
    }
}

fn address_family_line(
    b: &mut Bgpd,
    family: Family,
    line: usize,
    trimmed: &str,
    words: &[&str],
    skip: &mut dyn FnMut(SkipKind, &str),
) {
    match words {
        ["network", p] => match p.parse::<IpNet>() {
            Ok(n) if Family::of(n.addr()) == family => b.networks.push(n.trunc()),
            _ => skip(Lost, "not a prefix of this address family"),
        },
        ["network", p, ..] => {
            skip(
                Lost,
                "network with route-map/backdoor/label: only the prefix is kept",
            );
            if let Ok(n) = p.parse::<IpNet>()
                && Family::of(n.addr()) == family
            {
                b.networks.push(n.trunc());
            }
        }
        ["redistribute", ..] => b.redistribute.push((line, trimmed.to_string())),
        ["no", "neighbor", who, "activate"] => {
            if let Some(n) = target(b, who, words) {
                n.af[family.index()].activate = Some(false);
            }
        }
        ["neighbor", who, rest @ ..] => {
            let who = who.to_string();
            match target(b, &who, words) {
                Some(n) => af_neighbor_line(&mut n.af[family.index()], rest, skip),
                None => skip(Lost, "neighbor by interface name or undefined peer-group"),
            }
        }
        ["maximum-paths", "ibgp", ..] => skip(NotNeeded, "iBGP multipath: wgbgp is eBGP only"),
        ["maximum-paths", n] => match n.parse::<usize>() {
            Ok(n) if n >= 1 => b.maximum_paths = b.maximum_paths.max(Some(n)),
            _ => skip(Lost, "expected maximum-paths N (N >= 1)"),
        },
        ["aggregate-address", ..] => skip(
            Lost,
            "aggregation is not supported; announce the aggregate with `announce:`",
        ),
        _ => skip(Lost, "no wgbgp equivalent"),
    }
}
