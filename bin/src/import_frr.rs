//! `wgbgp import frr`: an FRR bgpd config plus wg-quick files in, an
//! equivalent wgbgp YAML out.
//!
//! What maps: `router bgp`, `bgp router-id`, neighbors (remote-as,
//! description, update-source, passive, shutdown, timers, port, password,
//! bfd, maximum-prefix, peer-groups), `maximum-paths`, multipath-relax,
//! graceful restart,
//! IPv4/IPv6 unicast activation, `route-map`/`prefix-list` filters (as exact
//! policies, see [`policy`]), `network` (→ `announce`), `interface lo`
//! addresses (→ `loopback`); from wg-quick: the private key, listen port,
//! MTU, the peer's public key, endpoint and keepalive, a link-local
//! `Address` (→ `link_local`). Each wg-quick file goes to the BGP neighbor
//! that something ties it to (`NEIGHBOR=FILE` on the command line, `neighbor
//! X interface IFNAME`, its host routes (PostUp `ip route add ... dev %i`)
//! or AllowedIPs, its Endpoint), never by order: when nothing ties a file to
//! exactly one neighbor the import fails and says how to tie them. A
//! link-local neighbor with an `interface` but no tunnel file becomes a
//! plain peer `fe80::X%IFNAME`. Anything else is listed at the
//! top of the output, with what to do instead, as [`SkipKind::Lost`] (`#
//! not translated:`; the CLI fails on it without `--allow-partial`) or
//! [`SkipKind::NotNeeded`]; nothing is dropped silently. The output is checked with
//! [`Config::from_str`] before it is returned.

mod bgpd;
mod emit;
mod policy;
mod tunnels;
mod wgquick;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use thiserror::Error;
use wireguard_control::Key;

use crate::config::PeerAs;
use crate::config::{Config, is_link_local};
use bgpd::{Bgpd, Family, RemoteAs};
use policy::{Expander, Filter};
use tunnels::{match_tunnels, tunnel};
use wgquick::WgQuick;

pub(crate) use emit::scalar;

/// A wg-quick file as given on the command line.
#[derive(Debug, Clone)]
pub struct WgFile {
    /// The interface name: the file's stem (`wg0` for `wg0.conf`).
    pub interface: String,
    /// How to name the file in messages.
    pub origin: String,
    pub text: String,
    /// The neighbor the file was tied to on the command line
    /// (`NEIGHBOR=FILE`), which overrides every other tie.
    pub neighbor: Option<IpAddr>,
}

impl WgFile {
    /// Reads `path`; the interface is named after the file's stem.
    pub fn read(path: &Path) -> io::Result<WgFile> {
        Ok(WgFile {
            interface: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            origin: path.display().to_string(),
            text: std::fs::read_to_string(path)?,
            neighbor: None,
        })
    }

    /// Reads a command-line argument: `FILE`, or `NEIGHBOR=FILE` to tie the
    /// file to the BGP neighbor with that address.
    pub fn read_arg(arg: &Path) -> Result<WgFile, String> {
        let (neighbor, path) = split_tie(arg);
        let mut file =
            WgFile::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        file.neighbor = neighbor;
        Ok(file)
    }
}

/// `NEIGHBOR=FILE` into the neighbor's address and the file; anything else
/// (no `=`, or no address before it) is a file name.
fn split_tie(arg: &Path) -> (Option<IpAddr>, PathBuf) {
    if let Some((left, right)) = arg.to_str().and_then(|s| s.split_once('='))
        && let Ok(addr) = left.parse::<IpAddr>()
        && !right.is_empty()
    {
        return (Some(addr), PathBuf::from(right));
    }
    (None, arg.to_path_buf())
}

/// A line (or fact) of the input that has no wgbgp equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub origin: String,
    pub line: Option<usize>,
    pub text: String,
    /// Why, and what to do instead.
    pub why: String,
    pub kind: SkipKind,
}

/// Whether leaving a line out changes what the router does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// Something the FRR configuration does that the translation does not
    /// (a lost peer, filter, protection or route): `wgbgp import frr`
    /// fails unless `--allow-partial` is given.
    Lost,
    /// Housekeeping wgbgp has no use for, or what wgbgp does anyway
    /// (logging, vty passwords, `next-hop-self`, `send-community`).
    NotNeeded,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: `{}`: {}", self.origin, self.text, self.why),
            None => write!(f, "{}: {}: {}", self.origin, self.text, self.why),
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The wgbgp configuration, comments first.
    pub yaml: String,
    /// The private key to write to the `--key-file` (the first found).
    pub private_key: Option<Key>,
    /// What was not translated.
    pub skipped: Vec<Skipped>,
    /// Decisions and assumptions the importer made.
    pub notes: Vec<String>,
}

/// Why no configuration could be produced.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{origin}: no `router bgp ASN` found")]
    NoRouterBgp { origin: String },
    #[error(
        "{origin}: no router ID: add `bgp router-id A.B.C.D` or an IPv4 `update-source` and run the import again"
    )]
    NoRouterId { origin: String },
    #[error("{path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A wg-quick file that nothing ties to exactly one BGP neighbor, or a
    /// neighbor tied to two files: the importer does not guess.
    #[error(
        "cannot tell which BGP neighbor each wg-quick file belongs to:\n{}\ntie each file to \
         its neighbor on the command line as NEIGHBOR=FILE, e.g. `wgbgp import frr {bgpd} \
         {example}`, or leave out a file that no BGP neighbor runs over",
        .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    Untied {
        problems: Vec<String>,
        bgpd: String,
        /// `NEIGHBOR=FILE` for the first problem.
        example: String,
    },
    /// The generated YAML did not validate: a bug in the importer.
    #[error("the generated configuration does not validate (please report):\n{0}")]
    Invalid(String),
}

/// One neighbor, settings merged with its peer-group and router defaults.
struct Resolved {
    address: IpAddr,
    asn: crate::config::PeerAs,
    description: Option<String>,
    update_source: Option<String>,
    passive: bool,
    shutdown: bool,
    extended_next_hop: bool,
    /// `soft-reconfiguration inbound` in any family (wgbgp's is per peer).
    soft_reconfiguration: bool,
    timers: Option<(u16, u16)>,
    port: Option<u16>,
    password: Option<String>,
    bfd: bool,
    enforce_first_as: bool,
    ebgp_multihop: Option<u8>,
    /// `neighbor X interface IFNAME`.
    interface: Option<String>,
    /// `maximum-prefix` of an active family (wgbgp's applies to each family).
    maximum_prefix: Option<bgpd::MaximumPrefix>,
    /// Per family: `None` not active; `Some(filter)` in and out.
    active: [bool; 2],
    import: [Filter; 2],
    export: [Filter; 2],
}

/// A peer as it will be written.
pub(crate) struct OutPeer {
    pub name: String,
    pub asn: crate::config::PeerAs,
    pub address: IpAddr,
    /// `%IFNAME` of a plain peer's link-local address.
    pub scope: Option<String>,
    pub description: Option<String>,
    pub local_address: Option<IpAddr>,
    pub passive: bool,
    pub shutdown: bool,
    /// RFC 8950 as FRR's `capability extended-nexthop` says: FRR announces
    /// it only when asked, wgbgp on every IPv6 session unless told, so it is
    /// written where the two differ.
    pub extended_next_hop: bool,
    pub soft_reconfiguration: bool,
    pub timers: Option<(u16, u16)>,
    pub port: Option<u16>,
    pub password: Option<String>,
    pub bfd: bool,
    /// `no neighbor X enforce-first-as`: `false`.
    pub enforce_first_as: bool,
    /// `ebgp-multihop N`.
    pub multihop: Option<u8>,
    pub max_prefix: Option<bgpd::MaximumPrefix>,
    /// `peers.<name>.graceful_restart`: `Some(None)` is `false` (helper
    /// off), `Some(Some(t))` a Restart Time; `None` leaves the default.
    pub graceful_restart: Option<Option<u16>>,
    pub wireguard: Option<OutWireguard>,
    pub import: Vec<String>,
    pub export: Vec<String>,
}

pub(crate) struct OutWireguard {
    /// `peers.<name>.link_local`: the file's link-local `Address`.
    pub link_local: Option<std::net::Ipv6Addr>,
    pub public_key: Key,
    pub endpoint: Option<String>,
    pub interface: Option<String>,
    pub listen_port: Option<u16>,
    pub persistent_keepalive: Option<u16>,
    pub mtu: Option<u32>,
}

/// Everything the YAML writer needs.
pub(crate) struct Out {
    pub sources: Vec<String>,
    pub router_id: std::net::Ipv4Addr,
    pub asn: u32,
    pub loopback: Vec<IpNet>,
    pub private_key_file: Option<PathBuf>,
    pub announce: Vec<IpNet>,
    /// Commented-out `announce:` suggestion.
    pub announce_hint: Vec<IpNet>,
    pub peers: Vec<OutPeer>,
    /// `multipath:` (from `maximum-paths`), when above 1.
    pub multipath: Option<usize>,
    pub multipath_relax: bool,
    /// Top-level `graceful_restart`: `Some(None)` is `true`.
    pub graceful_restart: Option<Option<u16>>,
    /// (name, comment, rules) in insertion order.
    pub policies: Vec<(String, String, Vec<rib::policy::Rule>)>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
}

/// Translates `bgpd_text` (named `bgpd_origin` in messages) and the
/// wg-quick files. `key_file` is where the caller will write
/// [`Translation::private_key`]; it is referenced as `private_key_file`.
pub fn translate(
    bgpd_origin: &str,
    bgpd_text: &str,
    wg_files: &[WgFile],
    key_file: Option<&Path>,
) -> Result<Translation, ImportError> {
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    let b = bgpd::parse(bgpd_origin, bgpd_text, &mut skipped);
    let wgs: Vec<WgQuick> = wg_files
        .iter()
        .map(|f| wgquick::parse(&f.interface, &f.origin, &f.text, &mut skipped))
        .collect();
    let asn = b.asn.ok_or_else(|| ImportError::NoRouterBgp {
        origin: bgpd_origin.to_string(),
    })?;

    let neighbors = resolve_neighbors(&b, bgpd_origin, &mut skipped, &mut notes);
    let explicit: Vec<Option<IpAddr>> = wg_files.iter().map(|f| f.neighbor).collect();
    let matched = match_tunnels(&neighbors, &wgs, &explicit, &mut skipped, &mut notes).map_err(
        |(problems, example)| ImportError::Untied {
            problems,
            bgpd: bgpd_origin.to_string(),
            example,
        },
    )?;
    if wgs.is_empty() && !neighbors.is_empty() {
        notes.push(
            "no wg-quick files given: peers are written as plain eBGP (no `wireguard:`); pass \
             the tunnels' wg-quick files to get them"
                .into(),
        );
    }

    // Loopbacks: `interface lo` addresses, then update-source addresses.
    let mut loopback: Vec<IpNet> = b.lo_addresses.clone();
    let add_lo = |lo: &mut Vec<IpNet>, a: IpAddr| {
        if !lo.iter().any(|n| n.addr() == a) {
            lo.push(IpNet::from(a));
        }
    };
    let mut local: Vec<Option<IpAddr>> = vec![None; neighbors.len()];
    for (i, n) in neighbors.iter().enumerate() {
        match n.update_source.as_deref().map(|s| s.parse::<IpAddr>()) {
            Some(Ok(a)) if a.is_ipv4() == n.address.is_ipv4() => {
                add_lo(&mut loopback, a);
                local[i] = Some(a);
            }
            Some(Ok(a)) => notes.push(format!(
                "neighbor {}: update-source {a} is of the other family; ignored",
                n.address
            )),
            Some(Err(_)) => notes.push(format!(
                "neighbor {}: update-source {} is an interface; wgbgp sources the session from \
                 its first loopback of the neighbor's family",
                n.address,
                n.update_source.as_deref().unwrap_or("")
            )),
            None => {}
        }
    }
    // Neighbors without a source: a tunnel's Address (moved to lo, tunnels
    // are unnumbered), else the router-id.
    for (i, n) in neighbors.iter().enumerate() {
        let fam_has_lo =
            |lo: &Vec<IpNet>| lo.iter().any(|l| l.addr().is_ipv4() == n.address.is_ipv4());
        // A plain neighbor is peered from the address the kernel picks,
        // as FRR does without update-source: it needs no loopback; nor
        // does a link-local session, sourced from our link-local address.
        if local[i].is_some()
            || fam_has_lo(&loopback)
            || matched[i].is_none()
            || is_link_local(n.address)
        {
            continue;
        }
        let from_tunnel = matched[i].and_then(|w| {
            wgs[w]
                .addresses
                .iter()
                .find(|a| a.addr().is_ipv4() == n.address.is_ipv4())
                .map(|a| (a.addr(), &wgs[w].interface))
        });
        if let Some((a, ifname)) = from_tunnel {
            add_lo(&mut loopback, a);
            local[i] = Some(a);
            notes.push(format!(
                "neighbor {}: source address {a} comes from `Address` of {ifname}; wgbgp puts it \
                 on lo and leaves the tunnel unnumbered",
                n.address
            ));
        } else if let (Some(id), true) = (b.router_id, n.address.is_ipv4()) {
            add_lo(&mut loopback, IpAddr::V4(id));
            notes.push(format!(
                "neighbor {}: no update-source; assuming the router-id {id} is this router's \
                 loopback (wgbgp puts it on lo)",
                n.address
            ));
        }
    }
    if !loopback.is_empty() {
        let list: Vec<String> = loopback.iter().map(|n| n.to_string()).collect();
        notes.push(format!(
            "loopback {}: wgbgpd puts these addresses on lo at start; sessions are sourced from \
             them",
            list.join(", ")
        ));
    }
    let router_id = match b.router_id {
        Some(id) => id,
        None => {
            let first = loopback.iter().find_map(|n| match n.addr() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            });
            let id = first.ok_or_else(|| ImportError::NoRouterId {
                origin: bgpd_origin.to_string(),
            })?;
            notes.push(format!(
                "no `bgp router-id`: using {id}, the first IPv4 loopback (FRR would pick the \
                 highest loopback address)"
            ));
            id
        }
    };

    // Private key: wgbgp has one for all tunnels.
    let mut keys: Vec<(Key, &str)> = Vec::new();
    for w in &wgs {
        if let Some(k) = &w.private_key
            && !keys.iter().any(|(have, _)| have == k)
        {
            keys.push((k.clone(), &w.interface));
        }
    }
    if keys.len() > 1 {
        let others: Vec<String> = keys[1..]
            .iter()
            .map(|(k, i)| format!("{i} (public key {})", k.get_public().to_base64()))
            .collect();
        notes.push(format!(
            "the wg-quick files carry {} different private keys; wgbgp uses one key for all \
             tunnels: the key of {} was kept (public key {}); the peers of {} must be given \
             that public key",
            keys.len(),
            keys[0].1,
            keys[0].0.get_public().to_base64(),
            others.join(", ")
        ));
    }
    let private_key = keys.first().map(|(k, _)| k.clone());
    let private_key_file = match (&private_key, key_file) {
        (_, Some(path)) => Some(absolute(path)),
        (Some(_), None) => {
            notes.push(
                "the private key was not written: run again with --key-file PATH (mode 0600); \
                 until then private_key_file is the default and wgbgpd generates a new key"
                    .into(),
            );
            None
        }
        (None, None) => None,
    };
    if private_key.is_none() && !wgs.is_empty() {
        notes.push(
            "no PrivateKey in the wg-quick files: wgbgpd generates one at first start; give the \
             peers its public key (`wgbgp pubkey < private_key_file`)"
                .into(),
        );
    }

    // Peers and policies.
    let mut names: BTreeMap<String, ()> = BTreeMap::new();
    let mut expander = Expander::new(&b);
    let mut policies: Vec<(String, String, Vec<rib::policy::Rule>)> = Vec::new();
    let mut peers = Vec::new();
    let mut announce_hint = Vec::new();
    for (i, n) in neighbors.iter().enumerate() {
        let name = peer_name(n, &mut names);
        let default_local = loopback
            .iter()
            .map(|l| l.addr())
            .find(|l| l.is_ipv4() == n.address.is_ipv4());
        let plain = matched[i].is_none();
        // A link-local neighbor is reached over its interface: the tunnel,
        // or the `interface` FRR names, which becomes the address's scope.
        let scope = match (plain, is_link_local(n.address), &n.interface) {
            (true, true, Some(ifname)) => {
                notes.push(format!(
                    "neighbor {} interface {ifname}: no wg-quick file for {ifname}; written as \
                     the plain peer {}%{ifname} over that interface (give {ifname}'s wg-quick \
                     file to have wgbgpd make the tunnel)",
                    n.address, n.address
                ));
                Some(ifname.clone())
            }
            (true, true, None) => {
                skipped.push(Skipped {
                    origin: bgpd_origin.to_string(),
                    line: None,
                    text: format!("neighbor {}", n.address),
                    why: "a link-local neighbor needs its interface: add `neighbor ADDR interface \
                          IFNAME` (or give its tunnel's wg-quick file as ADDR=FILE) and run the \
                          import again"
                        .into(),
                    kind: SkipKind::Lost,
                });
                continue;
            }
            (true, false, Some(ifname)) => {
                skipped.push(Skipped {
                    origin: bgpd_origin.to_string(),
                    line: None,
                    text: format!("neighbor {} interface {ifname}", n.address),
                    why: "wgbgp does not bind a session with a global address to an interface; \
                          the peer is translated without it"
                        .into(),
                    kind: SkipKind::Lost,
                });
                None
            }
            (false, _, Some(ifname)) => {
                let w = &wgs[matched[i].expect("not plain")];
                if *ifname != w.interface {
                    notes.push(format!(
                        "neighbor {} interface {ifname}: its tunnel is {} (from {}), so the \
                         session runs over {}",
                        n.address, w.interface, w.origin, w.interface
                    ));
                }
                None
            }
            _ => None,
        };
        if default_local.is_none() && !plain && !is_link_local(n.address) {
            skipped.push(Skipped {
                origin: bgpd_origin.to_string(),
                line: None,
                text: format!("neighbor {}", n.address),
                why: "no source address of its family is known: add a loopback of that family \
                      (update-source or `interface lo` address) and run the import again"
                    .into(),
                kind: SkipKind::Lost,
            });
            continue;
        }
        // A plain peer's default source is the kernel's choice on a link:
        // an update-source is kept as written.
        let local_address = local[i].filter(|a| plain || Some(*a) != default_local);
        let import = policy::chain(
            &b,
            &mut expander,
            &mut policies,
            &n.active,
            &n.import,
            false,
            &mut notes,
        );
        let export = policy::chain(
            &b,
            &mut expander,
            &mut policies,
            &n.active,
            &n.export,
            true,
            &mut notes,
        );
        if b.ebgp_requires_policy {
            for (f, fam) in [(0, "IPv4"), (1, "IPv6")] {
                let none = |x: &Filter| x.route_map.is_none() && x.prefix_list.is_none();
                if n.active[f] && (none(&n.import[f]) || none(&n.export[f])) {
                    notes.push(format!(
                        "neighbor {} {fam} unicast has no inbound or outbound route-map: as in FRR \
                         (bgp ebgp-requires-policy, RFC 8212) nothing passes in that direction",
                        n.address
                    ));
                }
            }
        }
        if n.active[0] && n.address.is_ipv6() && !n.extended_next_hop {
            notes.push(format!(
                "neighbor {}: IPv4 unicast is active on this IPv6 session without `capability \
                 extended-nexthop`, so FRR carries no IPv4 routes on it; written as \
                 `extended_next_hop: false` to keep that (make it true to carry them, RFC 8950)",
                n.address
            ));
        }
        for f in 0..2 {
            if n.active[f] {
                for p in policy::permitted_exact(&b, &n.export[f]) {
                    if !announce_hint.contains(&p) {
                        announce_hint.push(p);
                    }
                }
            }
        }
        let wireguard = matched[i].and_then(|w| {
            let link_local_peer = is_link_local(n.address).then_some(router_id);
            tunnel(&wgs[w], link_local_peer, &mut notes, &mut skipped)
        });
        let timers = n.timers.filter(|(ka, hold)| {
            let ok = if *hold == 0 {
                *ka == 0
            } else {
                *hold >= 3 && *ka > 0 && ka < hold
            };
            if !ok {
                skipped.push(Skipped {
                    origin: bgpd_origin.to_string(),
                    line: None,
                    text: format!("neighbor {} timers {ka} {hold}", n.address),
                    why: "wgbgp needs keepalive < hold time (or both 0); defaults used".into(),
                    kind: SkipKind::Lost,
                });
            }
            ok
        });
        peers.push(OutPeer {
            name,
            asn: n.asn,
            address: n.address,
            scope,
            description: n.description.clone(),
            local_address,
            passive: n.passive,
            shutdown: n.shutdown,
            extended_next_hop: n.extended_next_hop,
            soft_reconfiguration: n.soft_reconfiguration,
            timers,
            port: n.port.filter(|p| *p != 179),
            password: n.password.clone(),
            bfd: n.bfd,
            enforce_first_as: n.enforce_first_as,
            multihop: n.ebgp_multihop,
            max_prefix: n.maximum_prefix,
            graceful_restart: match b.graceful_restart {
                g if g.disabled => Some(None),
                g => g.restart_time.map(Some),
            },
            wireguard,
            import,
            export,
        });
    }
    for p in &peers {
        if let Some(m) = p.max_prefix
            && !m.warning_only
            && m.restart_minutes.is_none()
        {
            notes.push(format!(
                "neighbor {}: maximum-prefix {} without `restart`: FRR keeps the session down \
                 until `clear bgp`; wgbgp restarts it after restart_after (60 s)",
                p.address, m.limit
            ));
        }
    }
    for m in expander.missing.keys() {
        notes.push(format!(
            "{m} is referenced but not defined: FRR then permits nothing, and so does the \
             translation"
        ));
    }
    if !b.redistribute.is_empty() {
        for (line, text) in &b.redistribute {
            skipped.push(Skipped {
                origin: bgpd_origin.to_string(),
                line: Some(*line),
                text: text.clone(),
                why: "wgbgp originates only the prefixes listed in `announce:`; add the \
                      connected/kernel/static prefixes to advertise there"
                    .into(),
                kind: SkipKind::Lost,
            });
        }
    }
    announce_hint.retain(|p| !b.networks.contains(p));
    let announce_hint = if b.redistribute.is_empty() {
        Vec::new()
    } else {
        announce_hint
    };

    let out = Out {
        sources: std::iter::once(bgpd_origin.to_string())
            .chain(wg_files.iter().map(|w| w.origin.clone()))
            .collect(),
        router_id,
        asn,
        loopback,
        private_key_file,
        announce: b.networks.clone(),
        announce_hint,
        peers,
        multipath: b.maximum_paths.filter(|n| *n > 1),
        multipath_relax: b.multipath_relax,
        graceful_restart: (b.graceful_restart.enabled && !b.graceful_restart.disabled)
            .then_some(b.graceful_restart.select_defer_time),
        policies,
        skipped: skipped.clone(),
        notes: notes.clone(),
    };
    let yaml = emit::yaml(&out);
    Config::from_str(&yaml, "<import>").map_err(|e| ImportError::Invalid(e.to_string()))?;
    Ok(Translation {
        yaml,
        private_key,
        skipped,
        notes,
    })
}

/// Writes `key` (base64 and a newline) to `path` with mode 0600. An
/// existing file holding the same key is left as is; any other existing
/// file is not overwritten.
pub fn write_key_file(path: &Path, key: &Key) -> Result<(), ImportError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| ImportError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(path) {
        return match Key::from_base64(existing.trim()) {
            Ok(k) if k == *key => Ok(()),
            _ => Err(err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and holds another key; not overwritten",
            ))),
        };
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(format!("{}\n", key.to_base64()).as_bytes())
        .map_err(err)
}

/// `wgbgp import frr`: reads the files (each `FILE` or `NEIGHBOR=FILE`), writes the private key to
/// `key_file` (mode 0600) and returns the YAML; a summary goes to stderr.
/// Fails, printing no configuration, when something of the FRR
/// configuration was lost ([`SkipKind::Lost`]) unless `allow_partial`.
pub fn cli(
    key_file: Option<&Path>,
    bgpd: &Path,
    wg: &[PathBuf],
    allow_partial: bool,
) -> Result<String, String> {
    let text = std::fs::read_to_string(bgpd)
        .map_err(|e| format!("{}: cannot read: {e}", bgpd.display()))?;
    let files = wg
        .iter()
        .map(|p| WgFile::read_arg(p))
        .collect::<Result<Vec<_>, _>>()?;
    let t = translate(&bgpd.display().to_string(), &text, &files, key_file)
        .map_err(|e| e.to_string())?;
    let lost: Vec<&Skipped> = t
        .skipped
        .iter()
        .filter(|k| k.kind == SkipKind::Lost)
        .collect();
    if !lost.is_empty() && !allow_partial {
        let list: Vec<String> = lost.iter().map(|k| format!("  {k}")).collect();
        return Err(format!(
            "{} item(s) of the FRR configuration would be lost in the translation, so none was \
             written:\n{}\nchange them (or the translation by hand), or give --allow-partial to \
             get the translation with them listed under `# not translated:`",
            lost.len(),
            list.join("\n")
        ));
    }
    if let (Some(path), Some(key)) = (key_file, &t.private_key) {
        write_key_file(path, key).map_err(|e| e.to_string())?;
        eprintln!(
            "wgbgp: private key written to {} (public key {})",
            path.display(),
            key.get_public().to_base64()
        );
    }
    if !lost.is_empty() {
        eprintln!(
            "wgbgp: {} item(s) not translated (--allow-partial): see `# not translated:` at the top",
            lost.len()
        );
    }
    let mut yaml = t.yaml;
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    Ok(yaml)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

fn resolve_neighbors(
    b: &Bgpd,
    origin: &str,
    skipped: &mut Vec<Skipped>,
    notes: &mut Vec<String>,
) -> Vec<Resolved> {
    let mut out = Vec::new();
    for n in &b.neighbors {
        let own = &n.settings;
        let group = own.peer_group.as_ref().and_then(|g| b.groups.get(g));
        let pick = |f: &dyn Fn(&bgpd::NeighborSettings) -> Option<String>| {
            f(own).or_else(|| group.and_then(f))
        };
        let remote_as = own
            .remote_as
            .clone()
            .or_else(|| group.and_then(|g| g.remote_as.clone()));
        let asn = match remote_as {
            Some(RemoteAs::Asn(a)) => PeerAs::Is(a),
            // Any AS but ours, as FRR's: `asn: external`.
            Some(RemoteAs::Keyword(k)) if k == "external" => PeerAs::External,
            other => {
                let (what, why) = match other {
                    Some(RemoteAs::Keyword(k)) if k == "internal" => (
                        "remote-as internal".to_string(),
                        "iBGP: wgbgp speaks eBGP only; this peer and its policies are not \
                         translated",
                    ),
                    Some(RemoteAs::Keyword(k)) => (
                        format!("remote-as {k}"),
                        "wgbgp needs the peer's AS number or `external`: write it as the \
                         peer's `asn:` (its policies are translated once the peer is)",
                    ),
                    _ => (
                        "no remote-as".to_string(),
                        "wgbgp needs the peer's AS number: add `remote-as` and run the import again",
                    ),
                };
                skipped.push(Skipped {
                    origin: origin.to_string(),
                    line: None,
                    text: format!("neighbor {} ({what})", n.address),
                    why: why.into(),
                    kind: SkipKind::Lost,
                });
                continue;
            }
        };
        if asn.number().is_some() && asn.number() == b.asn {
            notes.push(format!(
                "neighbor {}: remote-as {asn} is our own AS (iBGP); wgbgp is built for eBGP",
                n.address
            ));
        }
        let af = |f: Family| {
            let own_af = &own.af[f.index()];
            let g_af = group.map(|g| &g.af[f.index()]);
            let default = f == Family::Ipv4 && b.default_ipv4_unicast;
            let active = own_af
                .activate
                .or_else(|| g_af.and_then(|g| g.activate))
                .unwrap_or(default);
            let get = |x: &dyn Fn(&bgpd::AfSettings) -> Option<String>| {
                x(own_af).or_else(|| g_af.and_then(x))
            };
            let import = Filter {
                prefix_list: get(&|a| a.prefix_list_in.clone()).map(|n| (f, n)),
                route_map: get(&|a| a.route_map_in.clone()),
            };
            let export = Filter {
                prefix_list: get(&|a| a.prefix_list_out.clone()).map(|n| (f, n)),
                route_map: get(&|a| a.route_map_out.clone()),
            };
            (active, import, export)
        };
        let (a4, i4, e4) = af(Family::Ipv4);
        let (a6, i6, e6) = af(Family::Ipv6);
        // maximum-prefix per active family, the neighbor's over its group's.
        let limits: Vec<bgpd::MaximumPrefix> = [(Family::Ipv4, a4), (Family::Ipv6, a6)]
            .into_iter()
            .filter(|(_, active)| *active)
            .filter_map(|(f, _)| {
                own.af[f.index()]
                    .maximum_prefix
                    .or_else(|| group.and_then(|g| g.af[f.index()].maximum_prefix))
            })
            .collect();
        let maximum_prefix = limits.iter().copied().max_by_key(|m| m.limit);
        if limits.windows(2).any(|w| w[0] != w[1]) {
            notes.push(format!(
                "neighbor {}: maximum-prefix differs between IPv4 and IPv6; wgbgp's max_prefix \
                 applies one limit to each family: the larger one was kept",
                n.address
            ));
        }
        out.push(Resolved {
            address: n.address,
            asn,
            description: pick(&|s| s.description.clone()),
            update_source: pick(&|s| s.update_source.clone()),
            passive: own.passive || group.is_some_and(|g| g.passive),
            shutdown: own.shutdown || group.is_some_and(|g| g.shutdown),
            extended_next_hop: own.extended_next_hop || group.is_some_and(|g| g.extended_next_hop),
            soft_reconfiguration: own
                .af
                .iter()
                .chain(group.iter().flat_map(|g| g.af.iter()))
                .any(|a| a.soft_reconfiguration),
            timers: own.timers.or(group.and_then(|g| g.timers)).or(b.timers),
            port: own.port.or(group.and_then(|g| g.port)),
            password: pick(&|s| s.password.clone()),
            ebgp_multihop: own.ebgp_multihop.or(group.and_then(|g| g.ebgp_multihop)),
            bfd: own.bfd || group.is_some_and(|g| g.bfd),
            enforce_first_as: (own.enforce_first_as)
                .or_else(|| group.and_then(|g| g.enforce_first_as))
                .unwrap_or(true),
            interface: own.interface.clone(),
            maximum_prefix,
            active: [a4, a6],
            import: [i4, i6],
            export: [e4, e6],
        });
    }
    out
}

/// A unique peer name: the description when it makes a good key, else
/// `peer-<address>`.
fn peer_name(n: &Resolved, names: &mut BTreeMap<String, ()>) -> String {
    let from_desc = n.description.as_deref().map(|d| {
        let s: String = d
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        s.trim_matches('-').to_string()
    });
    let from_addr = format!("peer-{}", n.address.to_string().replace(['.', ':'], "-"));
    let name = match from_desc {
        Some(d) if !d.is_empty() && d.len() <= 32 && !names.contains_key(&d) => d,
        _ => from_addr,
    };
    names.insert(name.clone(), ());
    name
}
