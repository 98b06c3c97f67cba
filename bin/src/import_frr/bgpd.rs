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
    /// A block wgbgp has no use for (line vty, other routers, vrf...).
    Other,
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
        Node::Other => false,
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
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let indented = raw.starts_with([' ', '\t']);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let shown = redact(&words).unwrap_or_else(|| trimmed.to_string());
        let mut skip = |why: &str| {
            skipped.push(Skipped {
                origin: origin.to_string(),
                line: Some(line),
                text: shown.clone(),
                why: why.to_string(),
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
        let stays = belongs(&node, &words) || (node == Node::Other && indented);
        if !stays {
            node = Node::Top;
        }

        match node.clone() {
            Node::Top => match (words[0], words.get(1).copied()) {
                ("router", Some("bgp")) => {
                    if seen_router || words.len() > 3 {
                        skip("only the first `router bgp` of the default VRF is translated");
                        node = Node::Other;
                        continue;
                    }
                    seen_router = true;
                    match words.get(2).and_then(|s| parse_asn(s)) {
                        Some(asn) => b.asn = Some(asn),
                        None => skip("`router bgp` without a usable AS number"),
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
                            other_matches: Vec::new(),
                            set: Default::default(),
                        });
                        entries.sort_by_key(|e| e.seq);
                        node = Node::RouteMap(name);
                    }
                    None => {
                        skip("unrecognised route-map header");
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
                        skip(&why);
                    }
                }
                ("interface", Some(name)) => {
                    node = Node::Interface { lo: name == "lo" };
                }
                ("log", _) | ("debug", _) => {
                    skip("logging: wgbgpd logs to stderr, level from `RUST_LOG`")
                }
                ("frr", _)
                | ("hostname", _)
                | ("service", _)
                | ("password", _)
                | ("enable", _)
                | ("username", _)
                | ("banner", _) => skip("FRR daemon/vty housekeeping: no equivalent needed"),
                ("ip", Some("route")) | ("ipv6", Some("route")) => {
                    skip("static route (zebra): add it with `ip route` or systemd-networkd")
                }
                ("ip", Some("forwarding")) | ("ipv6", Some("forwarding")) => {
                    skip("set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding with sysctl")
                }
                _ => {
                    skip("no wgbgp equivalent");
                    node = Node::Other;
                }
            },
            Node::RouterBgp => router_bgp_line(&mut b, &words, &mut node, &mut skip),
            Node::AddressFamily(family) => {
                address_family_line(&mut b, family, line, trimmed, &words, &mut skip)
            }
            Node::OtherAddressFamily => skip("address family not carried by wgbgp"),
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
                    ["match", ..] => entry.other_matches.push((line, trimmed.to_string())),
                    ["description", ..] => {}
                    ["set", rest @ ..] => {
                        if let Err(why) = route_map_set(&mut entry.set, rest, b.asn) {
                            skip(&format!("{why} (the entry is translated without it)"));
                        }
                    }
                    _ => skip("route-map flow control is not translated (on-match/call/continue)"),
                }
            }
            Node::Interface { lo } => match words.as_slice() {
                ["ip", "address", p] | ["ipv6", "address", p] if lo => match p.parse::<IpNet>() {
                    Ok(n) => b.lo_addresses.push(n),
                    Err(_) => skip("not an address/length"),
                },
                _ => skip("interface settings are not managed by wgbgp"),
            },
            Node::Other => skip("inside a block wgbgp does not translate"),
        }
    }
    b
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
                return Err(
                    "wgbgp prepends only its own AS (`router bgp` before the route-map)".into(),
                );
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

fn router_bgp_line(b: &mut Bgpd, words: &[&str], node: &mut Node, skip: &mut dyn FnMut(&str)) {
    match words {
        ["bgp", "router-id", id] => match id.parse() {
            Ok(id) => b.router_id = Some(id),
            Err(_) => skip("not an IPv4 router-id"),
        },
        ["no", "bgp", "ebgp-requires-policy"] => b.ebgp_requires_policy = false,
        ["bgp", "ebgp-requires-policy"] => b.ebgp_requires_policy = true,
        ["no", "bgp", "default", "ipv4-unicast"] => b.default_ipv4_unicast = false,
        ["bgp", "log-neighbor-changes"] => {}
        ["timers", "bgp", ka, hold] => match (ka.parse(), hold.parse()) {
            (Ok(ka), Ok(hold)) => b.timers = Some((ka, hold)),
            _ => skip("bad timers"),
        },
        ["address-family", rest @ ..] => {
            *node = match parse_family(rest) {
                Some(f) => Node::AddressFamily(f),
                None => {
                    skip("address family not carried by wgbgp (IPv4/IPv6 unicast only)");
                    Node::OtherAddressFamily
                }
            }
        }
        ["neighbor", who, ..] => {
            let who = who.to_string();
            let Some(n) = target(b, &who, words) else {
                skip(
                    "neighbor by interface name (BGP unnumbered) or undefined peer-group: \
                     wgbgp peers with the remote loopback address",
                );
                return;
            };
            neighbor_line(n, &words[2..], skip);
        }
        // Neighbor settings at router level apply to IPv4 unicast (FRR's
        // historical default node).
        ["network", ..] | ["redistribute", ..] => skip(
            "outside an address-family block: FRR applies this to IPv4 unicast; \
             move it under `address-family ipv4 unicast` and run the import again",
        ),
        _ => skip("no wgbgp equivalent"),
    }
}

fn neighbor_line(n: &mut NeighborSettings, rest: &[&str], skip: &mut dyn FnMut(&str)) {
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
        // wgbgp sessions always run loopback to loopback over the tunnel
        // with the default TTL: both are implied.
        ["disable-connected-check"] | ["ebgp-multihop", ..] => {}
        ["passive"] => n.passive = true,
        ["capability", "extended-nexthop"] => n.extended_next_hop = true,
        ["shutdown", ..] => n.shutdown = true,
        ["timers", ka, hold] => match (ka.parse(), hold.parse()) {
            (Ok(ka), Ok(hold)) => n.timers = Some((ka, hold)),
            _ => skip("bad timers"),
        },
        ["port", p] => match p.parse() {
            Ok(p) => n.port = Some(p),
            Err(_) => skip("bad port"),
        },
        ["activate"] => n.af[Family::Ipv4.index()].activate = Some(true),
        // The caller redacts the secret from the listed line.
        ["password", ..] => skip("TCP MD5 (RFC 2385) is not supported; WireGuard authenticates"),
        ["timers", "connect", ..] => {
            skip("wgbgp's connect retry is not configurable: 5 s, doubling per failure to 120 s")
        }
        ["bfd", ..] => skip("BFD is not supported; WireGuard keepalives detect a dead tunnel"),
        [..] => af_neighbor_line(&mut n.af[Family::Ipv4.index()], rest, skip),
    }
}

fn af_neighbor_line(af: &mut AfSettings, rest: &[&str], skip: &mut dyn FnMut(&str)) {
    match rest {
        ["activate"] => af.activate = Some(true),
        ["route-map", name, "in"] => af.route_map_in = Some(name.to_string()),
        ["route-map", name, "out"] => af.route_map_out = Some(name.to_string()),
        ["prefix-list", name, "in"] => af.prefix_list_in = Some(name.to_string()),
        ["prefix-list", name, "out"] => af.prefix_list_out = Some(name.to_string()),
        ["soft-reconfiguration", "inbound"] => af.soft_reconfiguration = true,
        ["next-hop-self", ..] => {
            skip("implied: wgbgp always sends its own loopback as next hop (eBGP)")
        }
        ["send-community", ..] => skip("wgbgp policies do not use communities"),
        ["maximum-prefix", ..] => skip("maximum-prefix is not supported"),
        ["allowas-in", ..] | ["as-override", ..] | ["local-as", ..] => {
            skip("AS_PATH manipulation is not supported")
        }
        _ => skip("no wgbgp equivalent"),
    }
}

fn address_family_line(
    b: &mut Bgpd,
    family: Family,
    line: usize,
    trimmed: &str,
    words: &[&str],
    skip: &mut dyn FnMut(&str),
) {
    match words {
        ["network", p] => match p.parse::<IpNet>() {
            Ok(n) if Family::of(n.addr()) == family => b.networks.push(n.trunc()),
            _ => skip("not a prefix of this address family"),
        },
        ["network", p, ..] => {
            skip("network with route-map/backdoor/label: only the prefix is kept");
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
                None => skip("neighbor by interface name or undefined peer-group"),
            }
        }
        ["maximum-paths", ..] => skip("ECMP is not supported: one best path per prefix"),
        ["aggregate-address", ..] => {
            skip("aggregation is not supported; announce the aggregate with `announce:`")
        }
        _ => skip("no wgbgp equivalent"),
    }
}
