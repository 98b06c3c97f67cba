//! Text and JSON rendering of `show` answers, laid out like FRR's vtysh.
//!
//! Column widths follow bgpd (bgp_vty.c `bgp_show_summary`, bgp_route.c
//! `route_vty_out`) so eyes and scripts used to FRR find things where they
//! expect them. JSON is the API payload pretty-printed: the types in
//! [`crate::api`] already carry FRR's field names.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use std::collections::BTreeMap;

use crate::api::{
    BgpSummary, PeerState, PeerSummary, RoutePath, RouteTable, SessionState, Summary,
};
use crate::api::{Neighbor, NexthopInfo, NexthopObjectInfo, TunnelInfo};

/// FRR truncates descriptions in the summary table to this many characters.
const DESC_MAX: usize = 20;

/// Pretty JSON, as `vtysh -c '... json'` prints it.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// `show bgp summary`: one block per address family.
pub fn summary(s: &BgpSummary) -> String {
    let mut out = String::new();
    for (title, sum) in [
        ("IPv4 Unicast", &s.ipv4_unicast),
        ("IPv6 Unicast", &s.ipv6_unicast),
    ] {
        let Some(sum) = sum else { continue };
        if !out.is_empty() {
            out.push('\n');
        }
        family_summary(&mut out, title, sum);
    }
    if out.is_empty() {
        out.push_str("No BGP neighbors found\n");
    }
    out
}

/// Orders keys like FRR does: by address, not by string.
fn by_address<'a, V>(map: impl Iterator<Item = (&'a String, V)>) -> Vec<(&'a String, V)> {
    let mut v: Vec<_> = map.collect();
    v.sort_by_key(|(k, _)| (k.parse::<IpAddr>().ok(), (*k).clone()));
    v
}

fn family_summary(out: &mut String, title: &str, s: &Summary) {
    let _ = writeln!(out, "{title} Summary (VRF {}):", s.vrf_name);
    let _ = writeln!(
        out,
        "BGP router identifier {}, local AS number {} vrf-id {}",
        s.router_id, s.as_, s.vrf_id
    );
    let _ = writeln!(out, "BGP table version {}", s.table_version);
    let _ = writeln!(out, "RIB entries {}", s.rib_count);
    let _ = writeln!(out, "Peers {}", s.peer_count);
    out.push('\n');
    // FRR widens the neighbor column to the longest neighbor (min 16).
    let width = s
        .peers
        .keys()
        .map(|k| k.len() + 1)
        .max()
        .unwrap_or(0)
        .max(16);
    let _ = writeln!(
        out,
        "{:<width$}V {:>10} {:>9} {:>9} {:>8} {:>4} {:>4} {:>8} {:>12} {:>8} Desc",
        "Neighbor",
        "AS",
        "MsgRcvd",
        "MsgSent",
        "TblVer",
        "InQ",
        "OutQ",
        "Up/Down",
        "State/PfxRcd",
        "PfxSnt"
    );
    for (addr, p) in by_address(s.peers.iter()) {
        peer_line(out, width, addr, p);
    }
    out.push('\n');
    let _ = writeln!(out, "Total number of neighbors {}", s.peers.len());
}

fn peer_line(out: &mut String, width: usize, addr: &str, p: &PeerSummary) {
    let _ = write!(out, "{addr:<width$}");
    let (rcd, snt) = match (p.state, p.peer_state) {
        (_, PeerState::Policy) => ("(Policy)".to_string(), "(Policy)".to_string()),
        (SessionState::Established, _) => (p.pfx_rcd.to_string(), p.pfx_snt.to_string()),
        (state, _) => (state.to_string(), p.pfx_snt.to_string()),
    };
    let desc: String = p
        .desc
        .as_deref()
        .unwrap_or("N/A")
        .chars()
        .take(DESC_MAX)
        .collect();
    let _ = writeln!(
        out,
        "{} {:>10} {:>9} {:>9} {:>8} {:>4} {:>4} {:>8} {:>12} {:>8} {}",
        p.version,
        p.remote_as,
        p.msg_rcvd,
        p.msg_sent,
        p.table_version,
        p.inq,
        p.outq,
        p.peer_uptime,
        rcd,
        snt,
        desc
    );
}

/// The lines above a `show bgp` table, as vtysh prints them.
fn table_header(
    table_version: u64,
    router_id: &str,
    vrf_id: u32,
    default_loc_prf: u32,
    local_as: u32,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BGP table version is {table_version}, local router ID is {router_id}, vrf id {vrf_id}"
    );
    let _ = writeln!(
        out,
        "Default local pref {default_loc_prf}, local AS {local_as}"
    );
    out.push_str(
        "Status codes:  s suppressed, d damped, h history, * valid, > best, = multipath,\n\
         \x20              i internal, r RIB-failure, S Stale, R Removed\n\
         Origin codes:  i - IGP, e - EGP, ? - incomplete\n\n",
    );
    out
}

/// `show bgp ipv4|ipv6 unicast`.
pub fn routes(t: &RouteTable) -> String {
    let mut out = table_header(
        t.table_version,
        &t.router_id,
        t.vrf_id,
        t.default_loc_prf,
        t.local_as,
    );
    if t.routes.is_empty() {
        out.push_str("No BGP prefixes displayed, 0 exist\n");
        return out;
    }
    let _ = writeln!(
        out,
        "   {:<17}{:<16}{:>10}{:>7}{:>7} Path",
        "Network", "Next Hop", "Metric", "LocPrf", "Weight"
    );
    let mut keys: Vec<&String> = t.routes.keys().collect();
    keys.sort_by_key(|k| (k.parse::<IpNet>().ok(), (*k).clone()));
    let mut paths = 0;
    for key in &keys {
        for (i, p) in t.routes[*key].iter().enumerate() {
            // FRR prints the network only on a prefix's first path.
            route_line(&mut out, if i == 0 { key } else { "" }, p);
            paths += 1;
        }
    }
    let _ = writeln!(
        out,
        "\nDisplayed  {} routes and {paths} total paths",
        keys.len()
    );
    out
}

fn route_line(out: &mut String, network: &str, p: &RoutePath) {
    let status = format!(
        "{}{}{}",
        // FRR's status column: S(tale) takes the place of the valid mark.
        if p.stale {
            'S'
        } else if p.valid {
            '*'
        } else {
            ' '
        },
        if p.bestpath {
            '>'
        } else if p.multipath {
            '='
        } else {
            ' '
        },
        if p.path_from == "internal" { 'i' } else { ' ' },
    );
    out.push_str(&status);
    if network.len() > 17 {
        let _ = write!(out, "{network}\n{:20}", "");
    } else {
        let _ = write!(out, "{network:<17}");
    }
    let nh = p
        .nexthops
        .iter()
        .find(|n| n.used)
        .or(p.nexthops.first())
        .map(|n| n.ip.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    if nh.len() > 16 {
        let _ = write!(out, "{nh}\n{:36}", "");
    } else {
        let _ = write!(out, "{nh:<16}");
    }
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "{:>10}{:>7}{:>7} ",
        opt(p.metric),
        opt(p.loc_prf),
        p.weight
    );
    if !p.path.is_empty() {
        let _ = write!(out, "{} ", p.path);
    }
    let _ = writeln!(out, "{}", p.origin.code());
}

/// `show bgp ipv4|ipv6 unicast PREFIX`: FRR's detail layout, best path
/// marked `best (REASON)`.
pub fn route(r: &crate::api::RouteDetail) -> String {
    let mut out = String::new();
    let best = r.paths.iter().position(|p| p.bestpath.is_some());
    let _ = writeln!(out, "BGP routing table entry for {}", r.prefix);
    let _ = writeln!(
        out,
        "Paths: ({} available{}, table default)",
        r.paths.len(),
        best.map_or(", no best path".to_string(), |b| format!(
            ", best #{}",
            b + 1
        ))
    );
    if r.advertised_to.is_empty() {
        out.push_str("  Not advertised to any peer\n");
    } else {
        out.push_str("  Advertised to non peer-group peers:\n ");
        for (addr, _) in by_address(r.advertised_to.iter()) {
            let _ = write!(out, " {addr}");
        }
        out.push('\n');
    }
    for p in &r.paths {
        let path = p
            .attrs
            .aspath
            .as_ref()
            .map_or("Local", |a| a.string.as_str());
        let _ = writeln!(out, "  {}", if path.is_empty() { "Local" } else { path });
        let nh = p
            .nexthops
            .first()
            .map(|n| n.ip.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {nh} from {} ({})",
            p.peer.peer_id, p.peer.router_id
        );
        let mut facts = vec![format!("Origin {}", p.origin.name())];
        if let Some(m) = p.metric {
            facts.push(format!("metric {m}"));
        }
        if let Some(l) = p.loc_prf {
            facts.push(format!("localpref {l}"));
        }
        if p.weight != 0 {
            facts.push(format!("weight {}", p.weight));
        }
        if p.valid {
            facts.push("valid".into());
        }
        if p.local {
            facts.push("sourced, local".into());
        } else if let Some(kind) = &p.peer.kind {
            facts.push(kind.clone());
        }
        if p.stale {
            facts.push("stale".into());
        }
        if p.multipath {
            facts.push("multipath".into());
        }
        if let Some(b) = &p.bestpath {
            facts.push(format!("best ({})", b.selection_reason));
        }
        let _ = writeln!(out, "      {}", facts.join(", "));
        if let Some(why) = &p.not_best_reason {
            let _ = writeln!(out, "      Not best: {why}");
        }
        for (name, c) in [
            ("Community", &p.attrs.community),
            ("Extended Community", &p.attrs.extended_community),
            ("Large Community", &p.attrs.large_community),
        ] {
            if let Some(c) = c {
                let _ = writeln!(out, "      {name}: {}", c.string);
            }
        }
        if let Some(v) = &p.via {
            let _ = writeln!(out, "      Installed {v}");
        }
    }
    out
}

/// `show bgp neighbors ADDR received-routes|advertised-routes`: FRR's
/// table layout, and its "Total number of prefixes N" line.
pub fn adj_routes(t: &crate::api::AdjRoutes) -> String {
    let mut out = table_header(
        t.bgp_table_version,
        &t.bgp_local_router_id,
        0,
        t.default_loc_prf,
        t.local_as,
    );
    let routes = t.received_routes.as_ref().or(t.advertised_routes.as_ref());
    let routes = routes
        .map(|r| r.values().collect::<Vec<_>>())
        .unwrap_or_default();
    if !routes.is_empty() {
        let _ = writeln!(
            out,
            "   {:<17}{:<16}{:>10}{:>7}{:>7} Path",
            "Network", "Next Hop", "Metric", "LocPrf", "Weight"
        );
    }
    let mut routes = routes;
    routes.sort_by_key(|r| (r.network.parse::<IpNet>().ok(), r.network.clone()));
    for r in routes {
        let nh = r.next_hop.or(r.next_hop_global);
        let p = RoutePath {
            // Received routes the import policy rejects have no `*`.
            valid: r.accepted.unwrap_or(r.valid),
            bestpath: false,
            multipath: false,
            selection_reason: None,
            stale: false,
            path_from: "external".into(),
            prefix: r.addr_prefix.clone(),
            prefix_len: r.prefix_len,
            network: r.network.clone(),
            metric: r.metric,
            loc_prf: r.loc_prf,
            weight: r.weight,
            peer_id: String::new(),
            path: r.path.clone(),
            origin: r.origin,
            nexthops: nh.map(crate::api::Nexthop::global).into_iter().collect(),
            installed: false,
            via: None,
            attrs: Default::default(),
        };
        route_line(&mut out, &r.network, &p);
    }
    if t.filtered_prefix_counter > 0 {
        let _ = writeln!(
            out,
            "\nTotal number of prefixes {} ({} filtered)",
            t.total_prefix_counter, t.filtered_prefix_counter
        );
    } else {
        let _ = writeln!(out, "\nTotal number of prefixes {}", t.total_prefix_counter);
    }
    out
}

/// `show bgp neighbors`, in the spirit of FRR's text (the main facts).
pub fn neighbors(n: &BTreeMap<String, Neighbor>) -> String {
    let mut out = String::new();
    for (addr, nb) in n {
        let _ = writeln!(
            out,
            "BGP neighbor is {addr}, remote AS {}, local AS {}, external link",
            nb.remote_as, nb.local_as
        );
        if let Some(d) = &nb.nbr_desc {
            let _ = writeln!(out, " Description: {d}");
        }
        let _ = writeln!(
            out,
            " Config name: {}{}",
            nb.name,
            nb.interface
                .as_ref()
                .map_or(String::new(), |i| format!(", tunnel {i}"))
        );
        let _ = writeln!(
            out,
            "  BGP version 4, remote router ID {}, local router ID {}",
            nb.remote_router_id.as_deref().unwrap_or("0.0.0.0"),
            nb.local_router_id
        );
        let up =
            crate::api::format_uptime(Some(std::time::Duration::from_millis(nb.bgp_timer_up_msec)));
        let _ = writeln!(
            out,
            "  BGP state = {}{}",
            nb.bgp_state,
            if nb.bgp_timer_up_msec > 0 {
                format!(", up for {up}")
            } else {
                String::new()
            }
        );
        if let (Some(h), Some(k)) = (
            nb.bgp_timer_hold_time_msecs,
            nb.bgp_timer_keep_alive_interval_msecs,
        ) {
            let _ = writeln!(
                out,
                "  Hold time is {} seconds, keepalive interval is {} seconds",
                h / 1000,
                k / 1000
            );
        }
        let _ = writeln!(
            out,
            "  Configured hold time is {} seconds",
            nb.bgp_timer_configured_hold_time_msecs / 1000
        );
        if let Some(caps) = &nb.neighbor_capabilities {
            let _ = writeln!(out, "  Neighbor capabilities:");
            for (cap, how) in caps.lines() {
                let _ = writeln!(out, "    {cap}: {how}");
            }
        }
        if let Some(b) = &nb.peer_bfd_info {
            // FRR's layout.
            let _ = writeln!(
                out,
                "  BFD: Type: {}\n    Detect Multiplier: {}, Min Rx interval: {}, Min Tx interval: {}\n    Status: {}, Last update: {}",
                b.kind,
                b.detect_multiplier,
                b.rx_min_interval,
                b.tx_min_interval,
                b.status,
                b.last_update
            );
        }
        let gr = &nb.graceful_restart_info;
        let _ = writeln!(
            out,
            "  Graceful restart: local mode {}, remote mode {}\n    \
             Restart time {} s configured, {} received; R bit {}, N bit {}{}",
            gr.local_gr_mode,
            gr.remote_gr_mode,
            gr.timers.configured_restart_timer,
            gr.timers
                .received_restart_timer
                .map_or_else(|| "none".to_string(), |t| format!("{t} s")),
            gr.r_bit,
            gr.n_bit,
            gr.f_bits
                .iter()
                .map(|(af, f)| format!(", {af} F bit {f}"))
                .collect::<String>(),
        );
        if gr.peer_restarting {
            let _ = writeln!(out, "    Peer is restarting: its routes are kept, stale");
        }
        if gr.local_restarting {
            let _ = writeln!(
                out,
                "    We are restarting: route selection waits for its End-of-RIB"
            );
        }
        let m = &nb.message_stats;
        let _ = writeln!(
            out,
            "  Message statistics:\n                         Sent       Rcvd"
        );
        for (what, s, r) in [
            ("Opens", m.opens_sent, m.opens_recv),
            ("Notifications", m.notifications_sent, m.notifications_recv),
            ("Updates", m.updates_sent, m.updates_recv),
            ("Keepalives", m.keepalives_sent, m.keepalives_recv),
            ("Route Refresh", m.route_refresh_sent, m.route_refresh_recv),
            ("Total", m.total_sent, m.total_recv),
        ] {
            let _ = writeln!(out, "    {what:<18} {s:>10} {r:>10}");
        }
        for (af, info) in &nb.address_family_info {
            let _ = writeln!(
                out,
                "  For address family: {af}\n    {} accepted prefixes, {} prefixes sent",
                info.accepted_prefix_counter, info.sent_prefix_counter
            );
        }
        let _ = writeln!(
            out,
            "  Connections established {}; dropped {}",
            nb.connections_established, nb.connections_dropped
        );
        if let Some(r) = &nb.last_reset_due_to {
            let ago = nb
                .last_reset_timer_msecs
                .map(|ms| {
                    let t = crate::api::format_uptime(Some(std::time::Duration::from_millis(ms)));
                    format!("{t}, ")
                })
                .unwrap_or_default();
            let _ = writeln!(out, "  Last reset {ago}due to {r}");
        }
        if let Some(r) = &nb.last_notification_reason {
            let _ = writeln!(
                out,
                "  Last NOTIFICATION: {r} ({})",
                nb.last_error_code_subcode.as_deref().unwrap_or("")
            );
        }
        if let (Some(h), Some(p)) = (&nb.host_local, nb.port_local) {
            let _ = writeln!(out, "  Local host: {h}, Local port: {p}");
        }
        if let (Some(h), Some(p)) = (&nb.host_foreign, nb.port_foreign) {
            let _ = writeln!(out, "  Foreign host: {h}, Foreign port: {p}");
        }
        for (what, nh) in [
            ("Nexthop", &nb.nexthop),
            ("Nexthop global", &nb.nexthop_global),
            ("Nexthop local", &nb.nexthop_local),
        ] {
            if let Some(nh) = nh {
                let _ = writeln!(out, "  {what}: {nh}");
            }
        }
        match &nb.update_source {
            Some(a) => {
                let _ = writeln!(out, "  Update source is {a}\n");
            }
            None => {
                let _ = writeln!(out);
            }
        }
    }
    out
}

/// `show tunnels`, laid out like `wg show` (public keys only).
pub fn tunnels(t: &[TunnelInfo]) -> String {
    let mut out = String::new();
    for tun in t {
        let _ = writeln!(
            out,
            "interface: {} (peer {}, {}, {})",
            tun.interface,
            tun.peer,
            tun.backend,
            if tun.up { "up" } else { "down" }
        );
        if let Some(e) = &tun.error {
            let _ = writeln!(out, "  error: {e}");
        }
        if let Some(k) = &tun.public_key {
            let _ = writeln!(out, "  public key: {k}");
        }
        if let Some(p) = tun.listen_port {
            let _ = writeln!(out, "  listening port: {p}");
        }
        if let Some(m) = tun.mtu {
            let _ = writeln!(out, "  mtu: {m}");
        }
        if let Some(k) = &tun.peer_public_key {
            let _ = writeln!(out, "  peer: {k}");
        }
        if let Some(e) = &tun.endpoint {
            let _ = writeln!(out, "    endpoint: {e}");
        }
        let _ = writeln!(out, "    allowed ips: 0.0.0.0/0, ::/0");
        match tun.latest_handshake_age_secs {
            Some(age) => {
                let _ = writeln!(out, "    latest handshake: {age} seconds ago");
            }
            None => {
                let _ = writeln!(out, "    latest handshake: never");
            }
        }
        let _ = writeln!(
            out,
            "    transfer: {} B received, {} B sent",
            tun.rx_bytes, tun.tx_bytes
        );
        if let Some(k) = tun.persistent_keepalive {
            let _ = writeln!(out, "    persistent keepalive: every {k} seconds");
        }
        if tun.restarts > 0 {
            let _ = writeln!(out, "    wireguard-go restarts: {}", tun.restarts);
        }
        out.push('\n');
    }
    out
}

/// `show nexthops`.
pub fn nexthops(n: &[NexthopInfo]) -> String {
    let mut out = String::new();
    for nh in n {
        let state = if nh.resolved {
            "resolved"
        } else {
            "unresolved"
        };
        let _ = writeln!(out, "{} {state}, used by {} path(s)", nh.ip, nh.paths);
        for v in &nh.via {
            let _ = writeln!(out, "  {v}");
        }
    }
    out
}

pub fn nexthop_objects(n: &[NexthopObjectInfo]) -> String {
    let mut out = String::new();
    if n.is_empty() {
        out.push_str(
            "no nexthop objects (kernel.nexthop_objects is off, or the kernel has none)\n",
        );
    }
    for o in n {
        let kind = match o.members.is_empty() {
            true => String::new(),
            false => format!(" group {:?}", o.members),
        };
        let state = if o.installed {
            ""
        } else {
            " (not in the kernel)"
        };
        let _ = writeln!(
            out,
            "id {}{kind}: {} route(s), {} group(s){state}",
            o.id, o.routes, o.groups
        );
        for v in &o.via {
            let _ = writeln!(out, "  {v}");
        }
        for v in &o.backup {
            let _ = writeln!(out, "  backup {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Nexthop, Origin, format_uptime};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn peer(addr: &str, state: SessionState, pfx: u64) -> (String, PeerSummary) {
        let up = (state == SessionState::Established).then(|| Duration::from_secs(62));
        let summary = PeerSummary {
            peer_uptime: format_uptime(up),
            peer_uptime_established_epoch: None,
            pfx_rcd: pfx,
            pfx_snt: 1,
            interface: None,
            ..crate::api::tests::peer(state)
        };
        (addr.to_string(), summary)
    }

    #[test]
    fn summary_table_matches_frr_layout() {
        let peers: BTreeMap<_, _> = [
            peer("2.2.2.2", SessionState::Established, 1),
            peer("10.0.0.3", SessionState::Active, 0),
        ]
        .into_iter()
        .collect();
        let s = BgpSummary {
            ipv4_unicast: Some(Summary::new("1.1.1.1", 65500, 2, peers)),
            ipv6_unicast: None,
        };
        let text = summary(&s);
        let want = "\
IPv4 Unicast Summary (VRF default):
BGP router identifier 1.1.1.1, local AS number 65500 vrf-id 0
BGP table version 0
RIB entries 2
Peers 2

Neighbor        V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc
2.2.2.2         4      65501        10        11        0    0    0 00:01:02            1        1 S2
10.0.0.3        4      65501        10        11        0    0    0    never       Active        1 S2

Total number of neighbors 2
";
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn policy_blocked_peer_and_long_neighbor() {
        let (_, mut p) = peer("x", SessionState::Established, 5);
        p.peer_state = PeerState::Policy;
        let mut out = String::new();
        peer_line(&mut out, 18, "fd00:1234:5678::2", &p);
        assert!(out.starts_with("fd00:1234:5678::2 4      65501"), "{out}");
        assert!(out.ends_with("    (Policy) (Policy) S2\n"), "{out}");
    }

    fn path(prefix: &str, nh: &str, path: &str, best: bool) -> RoutePath {
        let net: IpNet = prefix.parse().unwrap();
        RoutePath {
            valid: true,
            bestpath: best,
            multipath: false,
            selection_reason: None,
            stale: false,
            path_from: "external".into(),
            prefix: net.addr().to_string(),
            prefix_len: net.prefix_len(),
            network: prefix.into(),
            metric: Some(0),
            loc_prf: None,
            weight: if path.is_empty() { 32768 } else { 0 },
            peer_id: "2.2.2.2".into(),
            path: path.into(),
            origin: Origin::Igp,
            nexthops: vec![Nexthop::global(nh.parse().unwrap())],
            installed: best,
            via: None,
            attrs: Default::default(),
        }
    }

    #[test]
    fn route_table_matches_frr_layout() {
        let mut routes = BTreeMap::new();
        routes.insert(
            "198.18.0.1/32".to_string(),
            vec![
                path("198.18.0.1/32", "3.3.3.3", "65502", true),
                path("198.18.0.1/32", "2.2.2.2", "65501 65502", false),
            ],
        );
        routes.insert(
            "198.19.0.1/32".into(),
            vec![path("198.19.0.1/32", "0.0.0.0", "", true)],
        );
        routes.insert(
            "10.0.0.0/8".into(),
            vec![path("10.0.0.0/8", "2.2.2.2", "65501", true)],
        );
        let text = routes_text(routes);
        let want = "\
BGP table version is 0, local router ID is 1.1.1.1, vrf id 0
Default local pref 100, local AS 65500
Status codes:  s suppressed, d damped, h history, * valid, > best, = multipath,
               i internal, r RIB-failure, S Stale, R Removed
Origin codes:  i - IGP, e - EGP, ? - incomplete

   Network          Next Hop            Metric LocPrf Weight Path
*> 10.0.0.0/8       2.2.2.2                  0             0 65501 i
*> 198.18.0.1/32    3.3.3.3                  0             0 65502 i
*                   2.2.2.2                  0             0 65501 65502 i
*> 198.19.0.1/32    0.0.0.0                  0         32768 i

Displayed  3 routes and 4 total paths
";
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn stale_path_shows_s_in_the_status_column() {
        let mut stale = path("198.51.100.0/24", "2.2.2.2", "65501", true);
        stale.stale = true;
        let json = serde_json::to_value(&stale).unwrap();
        assert_eq!(json["stale"], true);
        let fresh = path("198.51.100.0/24", "2.2.2.2", "65501", true);
        assert!(serde_json::to_value(&fresh).unwrap().get("stale").is_none());
        let mut routes = BTreeMap::new();
        routes.insert("198.51.100.0/24".to_string(), vec![stale]);
        let text = routes_text(routes);
        assert!(text.contains("\nS> 198.51.100.0/24  2.2.2.2 "), "\n{text}");
    }

    fn routes_text(routes: BTreeMap<String, Vec<RoutePath>>) -> String {
        routes_fn(&RouteTable::new("1.1.1.1", 65500, routes))
    }
    use super::routes as routes_fn;

    #[test]
    fn long_ipv6_prefix_wraps_like_frr() {
        let mut routes = BTreeMap::new();
        routes.insert(
            "2001:db8:1234:5678::/64".to_string(),
            vec![path("2001:db8:1234:5678::/64", "fd00::2", "65501", true)],
        );
        let text = routes_text(routes);
        assert!(
            text.contains("*> 2001:db8:1234:5678::/64\n                    fd00::2                  0             0 65501 i\n"),
            "\n{text}"
        );
    }

    #[test]
    fn route_detail_says_why_the_best_won_like_frr() {
        use crate::api::{
            AdvertisedTo, BestPath, NexthopDetail, PathDetail, PathPeer, RouteDetail,
        };
        let path = |peer: &str, id: &str, best: bool| PathDetail {
            origin: Origin::Igp,
            metric: Some(50),
            loc_prf: None,
            weight: 0,
            valid: true,
            sourced: false,
            local: false,
            stale: false,
            multipath: false,
            bestpath: best.then(|| BestPath {
                overall: true,
                selection_reason: "Router ID".into(),
            }),
            not_best_reason: (!best).then(|| "router ID".into()),
            nexthops: vec![NexthopDetail {
                ip: peer.parse().unwrap(),
                hostname: None,
                afi: crate::api::Afi::Ipv4,
                scope: "global".into(),
                accessible: true,
                used: true,
            }],
            peer: PathPeer {
                peer_id: peer.into(),
                router_id: id.into(),
                hostname: None,
                kind: Some("external".into()),
            },
            installed: best,
            via: None,
            attrs: Default::default(),
        };
        let r = RouteDetail {
            prefix: "198.51.100.0/24".into(),
            advertised_to: [("3.3.3.3".to_string(), AdvertisedTo::default())].into(),
            paths: vec![
                path("2.2.2.2", "2.2.2.2", true),
                path("3.3.3.3", "3.3.3.3", false),
            ],
        };
        let text = route(&r);
        let want = "\
BGP routing table entry for 198.51.100.0/24
Paths: (2 available, best #1, table default)
  Advertised to non peer-group peers:
  3.3.3.3
  Local
    2.2.2.2 from 2.2.2.2 (2.2.2.2)
      Origin IGP, metric 50, valid, external, best (Router ID)
  Local
    3.3.3.3 from 3.3.3.3 (3.3.3.3)
      Origin IGP, metric 50, valid, external
      Not best: router ID
";
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn empty_outputs() {
        assert_eq!(summary(&BgpSummary::default()), "No BGP neighbors found\n");
        assert!(routes_text(BTreeMap::new()).ends_with("No BGP prefixes displayed, 0 exist\n"));
        let j = json(&BgpSummary::default());
        assert_eq!(j, "{}\n");
    }
}
