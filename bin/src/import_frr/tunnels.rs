//! Which wg-quick file is whose tunnel ([`match_tunnels`]), and a peer's
//! tunnel settings from its file ([`tunnel`]).
//!
//! A file belongs to the neighbor something ties it to ([`Tie`]), never to
//! neighbors in the order the files were given: FRR configs name no file,
//! and glob order once gave each of two dn42 peers the other's key,
//! endpoint and interface (issue 15). When nothing ties a file to exactly
//! one neighbor the import stops and says how to tie it (`NEIGHBOR=FILE`).

use std::net::IpAddr;

use ipnet::IpNet;

use super::wgquick::WgQuick;
use super::{OutWireguard, Resolved, SkipKind, Skipped};
use crate::config::{Endpoint, MAX_IFNAME_LEN, is_link_local};

/// What ties a wg-quick file to a BGP neighbor, strongest first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tie {
    /// `NEIGHBOR=FILE` on the command line.
    Explicit,
    /// `neighbor X interface IFNAME`, IFNAME being the file's interface.
    Interface,
    /// A PostUp host route or AllowedIPs entry (not a default route, which
    /// covers everyone) covers the neighbor's address; the most specific
    /// one counts.
    Route(IpNet),
    /// The neighbor's address is the peer's `Endpoint`.
    Endpoint,
}

impl Tie {
    fn rank(&self) -> u8 {
        match self {
            Tie::Explicit => 0,
            Tie::Interface => 1,
            Tie::Route(_) => 2,
            Tie::Endpoint => 3,
        }
    }

    /// Why `wg` goes with `neighbor`, for notes and messages.
    fn why(&self, wg: &WgQuick, neighbor: IpAddr) -> String {
        match self {
            Tie::Explicit => format!("given as {neighbor}={}", wg.origin),
            Tie::Interface => format!("`neighbor {neighbor} interface {}`", wg.interface),
            Tie::Route(net) => {
                format!("its host route or AllowedIPs entry {net} covers {neighbor}")
            }
            Tie::Endpoint => format!("{neighbor} is its Endpoint"),
        }
    }
}

/// The neighbors (indices) `wg` is tied to, all by the strongest kind of
/// tie it has; empty when nothing ties it. A link-local neighbor, or one
/// that names its interface, is tied only by that interface (or on the
/// command line): an address range or endpoint says nothing about it.
fn ties(
    wg: &WgQuick,
    explicit: Option<IpAddr>,
    neighbors: &[Resolved],
) -> Result<Vec<(usize, Tie)>, String> {
    if let Some(a) = explicit {
        return match neighbors.iter().position(|n| n.address == a) {
            Some(i) => Ok(vec![(i, Tie::Explicit)]),
            None => Err(format!(
                "{a}={}: no neighbor {a} is translated (neighbors: {})",
                wg.origin,
                address_list(neighbors.iter().map(|n| n.address))
            )),
        };
    }
    let by_interface: Vec<(usize, Tie)> = (neighbors.iter().enumerate())
        .filter(|(_, n)| n.interface.as_deref() == Some(wg.interface.as_str()))
        .map(|(i, _)| (i, Tie::Interface))
        .collect();
    if !by_interface.is_empty() {
        return Ok(by_interface);
    }
    let global = || {
        (neighbors.iter().enumerate())
            .filter(|(_, n)| n.interface.is_none() && !is_link_local(n.address))
    };
    let allowed = wg.peer.iter().flat_map(|p| p.allowed_ips.iter());
    let nets: Vec<&IpNet> = (wg.routes.iter().chain(allowed))
        .filter(|n| n.prefix_len() > 0)
        .collect();
    let covered: Vec<(usize, IpNet)> = global()
        .filter_map(|(i, n)| {
            let best = nets
                .iter()
                .filter(|net| net.contains(&n.address))
                .max_by_key(|net| net.prefix_len())?;
            Some((i, **best))
        })
        .collect();
    if let Some(longest) = covered.iter().map(|(_, net)| net.prefix_len()).max() {
        return Ok(covered
            .into_iter()
            .filter(|(_, net)| net.prefix_len() == longest)
            .map(|(i, net)| (i, Tie::Route(net)))
            .collect());
    }
    let endpoint = wg.peer.as_ref().and_then(|p| p.endpoint.as_deref());
    if let Some(Ok(Endpoint::Addr(sa))) = endpoint.map(Endpoint::parse) {
        return Ok(global()
            .filter(|(_, n)| n.address == sa.ip())
            .map(|(i, _)| (i, Tie::Endpoint))
            .collect());
    }
    Ok(Vec::new())
}

fn address_list(addrs: impl Iterator<Item = IpAddr>) -> String {
    let list: Vec<String> = addrs.map(|a| a.to_string()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// For each neighbor, the index of its wg-quick file: the file tied to it
/// by `NEIGHBOR=FILE`, `neighbor X interface IFNAME`, a host route or
/// AllowedIPs entry, or the Endpoint ([`Tie`]), never by order. A file
/// tied to several neighbors, or to none while some neighbor has no
/// tunnel, and a neighbor tied to two files, are errors: each problem,
/// and an example of the `NEIGHBOR=FILE` that would settle the first.
pub(super) fn match_tunnels(
    neighbors: &[Resolved],
    wgs: &[WgQuick],
    explicit: &[Option<IpAddr>],
    skipped: &mut Vec<Skipped>,
    notes: &mut Vec<String>,
) -> Result<Vec<Option<usize>>, (Vec<String>, String)> {
    let mut problems = Vec::new();
    let mut example = None;
    // Per neighbor, the files that claim it.
    let mut claims: Vec<Vec<(usize, Tie)>> = vec![Vec::new(); neighbors.len()];
    let mut untied = Vec::new();
    for (w, wg) in wgs.iter().enumerate() {
        match ties(wg, explicit[w], neighbors) {
            Err(problem) => problems.push(problem),
            Ok(t) if t.is_empty() => untied.push(w),
            Ok(mut t) if t.len() == 1 => {
                let (i, tie) = t.pop().expect("one");
                claims[i].push((w, tie));
            }
            Ok(t) => {
                let why: Vec<String> = t
                    .iter()
                    .map(|(i, k)| k.why(wg, neighbors[*i].address))
                    .collect();
                problems.push(format!(
                    "{}: tied to more than one neighbor ({})",
                    wg.origin,
                    why.join("; ")
                ));
                example.get_or_insert((t[0].0, w));
            }
        }
    }
    let mut matched: Vec<Option<usize>> = vec![None; neighbors.len()];
    for (i, c) in claims.iter_mut().enumerate() {
        // The strongest kind of tie wins; a file that loses a neighbor to
        // a stronger tie has no neighbor.
        let best = c.iter().map(|(_, t)| t.rank()).min();
        c.retain(|(w, t)| {
            let keep = Some(t.rank()) == best;
            if !keep {
                untied.push(*w);
            }
            keep
        });
        let address = neighbors[i].address;
        match c.as_slice() {
            [] => {}
            [(w, tie)] => {
                matched[i] = Some(*w);
                notes.push(format!(
                    "{} is the tunnel of neighbor {address}: {}",
                    wgs[*w].origin,
                    tie.why(&wgs[*w], address)
                ));
            }
            more => {
                let why: Vec<String> = more
                    .iter()
                    .map(|(w, t)| format!("{} ({})", wgs[*w].origin, t.why(&wgs[*w], address)))
                    .collect();
                problems.push(format!(
                    "neighbor {address} is tied to more than one file: {}",
                    why.join(", ")
                ));
                example.get_or_insert((i, more[0].0));
            }
        }
    }
    let free: Vec<usize> = (0..neighbors.len())
        .filter(|i| claims[*i].is_empty())
        .collect();
    untied.sort_unstable();
    for w in untied {
        let wg = &wgs[w];
        if free.is_empty() {
            skipped.push(Skipped {
                origin: wg.origin.clone(),
                line: None,
                text: format!("interface {}", wg.interface),
                why: "no BGP neighbor is left for this tunnel".into(),
                kind: SkipKind::Lost,
            });
            continue;
        }
        let endpoint = match wg.peer.as_ref().and_then(|p| p.endpoint.as_deref()) {
            Some(e) => match Endpoint::parse(e) {
                Ok(Endpoint::Addr(sa)) => {
                    format!("its Endpoint {} is no neighbor's address", sa.ip())
                }
                _ => format!("its Endpoint {e} is no neighbor's address"),
            },
            None => "no Endpoint".into(),
        };
        problems.push(format!(
            "{}: nothing ties it to one neighbor (no `neighbor X interface {}`; no PostUp host \
             route or AllowedIPs entry other than 0.0.0.0/0 and ::/0 covers a neighbor; {endpoint}); \
             candidates: {}",
            wg.origin,
            wg.interface,
            address_list(free.iter().map(|i| neighbors[*i].address))
        ));
        example.get_or_insert((free[0], w));
    }
    if !problems.is_empty() {
        let (i, w) = example.unwrap_or((0, 0));
        let example = match (neighbors.get(i), wgs.get(w)) {
            (Some(n), Some(wg)) => format!("{}={}", n.address, wg.origin),
            _ => "NEIGHBOR=FILE".into(),
        };
        return Err((problems, example));
    }
    for (i, n) in neighbors.iter().enumerate() {
        if matched[i].is_none() && !wgs.is_empty() && !is_link_local(n.address) {
            notes.push(format!(
                "neighbor {}: no wg-quick file is tied to it; written as plain eBGP (no \
                 `wireguard:`), so its address must already be reachable",
                n.address
            ));
        }
    }
    Ok(matched)
}

/// The peer's tunnel from its wg-quick file. `link_local_session` is the
/// router ID when the BGP session runs over link-local addresses.
pub(super) fn tunnel(
    wg: &WgQuick,
    link_local_session: Option<std::net::Ipv4Addr>,
    notes: &mut Vec<String>,
    skipped: &mut Vec<Skipped>,
) -> Option<OutWireguard> {
    let Some(peer) = wg.peer.as_ref() else {
        skipped.push(Skipped {
            origin: wg.origin.clone(),
            line: None,
            text: format!("interface {}", wg.interface),
            why: "no [Peer] section: the neighbor is written without a tunnel".into(),
            kind: SkipKind::Lost,
        });
        return None;
    };
    let Some(public_key) = peer.public_key.clone() else {
        skipped.push(Skipped {
            origin: wg.origin.clone(),
            line: None,
            text: "[Peer]".into(),
            why: "no PublicKey: the neighbor is written without a tunnel".into(),
            kind: SkipKind::Lost,
        });
        return None;
    };
    let endpoint = peer
        .endpoint
        .as_ref()
        .and_then(|e| match Endpoint::parse(e) {
            Ok(_) => Some(e.clone()),
            Err(why) => {
                skipped.push(Skipped {
                    origin: wg.origin.clone(),
                    line: None,
                    text: format!("Endpoint = {e}"),
                    why,
                    kind: SkipKind::Lost,
                });
                None
            }
        });
    match wg.table.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("off") => {}
        t => notes.push(format!(
            "{}: Table = {}: wgbgp never installs AllowedIPs as routes (as with Table = off); \
             routes come from BGP plus host routes to the peer's addresses",
            wg.origin,
            t.unwrap_or("auto (not set)")
        )),
    }
    // The first link-local Address is ours on the tunnel (`link_local`);
    // wgbgp tunnels carry no other address.
    let mut link_local = None;
    for a in &wg.addresses {
        match a {
            IpNet::V6(v6) if is_link_local(a.addr()) && link_local.is_none() => {
                link_local = Some(v6.addr());
                let len = match v6.prefix_len() {
                    64 => String::new(),
                    l => format!(" (as a /64, not a /{l})"),
                };
                notes.push(format!(
                    "{}: Address = {a} becomes link_local: wgbgpd puts {} on the tunnel{len}",
                    wg.origin,
                    v6.addr()
                ));
            }
            _ if is_link_local(a.addr()) => skipped.push(Skipped {
                origin: wg.origin.clone(),
                line: None,
                text: format!("Address = {a}"),
                why: "wgbgp puts one link-local address on a tunnel (the first, as link_local)"
                    .into(),
                kind: SkipKind::Lost,
            }),
            _ => notes.push(format!(
                "{}: Address = {a} is not put on the tunnel: wgbgp tunnels are unnumbered and \
                 sessions run between loopbacks or link-local addresses",
                wg.origin
            )),
        }
    }
    if let (None, Some(id)) = (link_local, link_local_session) {
        let [a, b, c, d] = id.octets();
        let ours = std::net::Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0,
            0,
            u16::from_be_bytes([a, b]),
            u16::from_be_bytes([c, d]),
        );
        notes.push(format!(
            "{}: no link-local Address for the link-local session: wgbgpd puts {ours} (from \
             the router ID) on the tunnel, and the neighbor must peer with that address",
            wg.origin
        ));
    }
    let everything: [IpNet; 2] = ["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    let mut allowed = peer.allowed_ips.clone();
    allowed.sort();
    allowed.dedup();
    if allowed != everything {
        let list: Vec<String> = peer.allowed_ips.iter().map(|n| n.to_string()).collect();
        notes.push(format!(
            "{}: AllowedIPs = {} ignored: wgbgp uses 0.0.0.0/0, ::/0 and routes by BGP",
            wg.origin,
            list.join(", ")
        ));
    }
    let interface = if wg.interface.is_empty() || wg.interface.len() > MAX_IFNAME_LEN {
        notes.push(format!(
            "{}: the file name is not a usable interface name; wgbgp's default is used",
            wg.origin
        ));
        None
    } else {
        Some(wg.interface.clone())
    };
    Some(OutWireguard {
        link_local,
        public_key,
        endpoint,
        interface,
        listen_port: wg.listen_port.filter(|p| *p != 0),
        persistent_keepalive: peer.persistent_keepalive.filter(|k| *k != 0),
        mtu: wg.mtu,
    })
}
