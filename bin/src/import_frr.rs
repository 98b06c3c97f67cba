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
//! MTU, the peer's public key, endpoint and keepalive. Each wg-quick file is
//! matched to the BGP neighbor its host routes (PostUp `ip route add ... dev
//! %i`) or AllowedIPs cover, else by order. Anything else is listed at the
//! top of the output, with what to do instead, as [`SkipKind::Lost`] (`#
//! not translated:`; the CLI fails on it without `--allow-partial`) or
//! [`SkipKind::NotNeeded`]; nothing is dropped silently. The output is checked with
//! [`Config::from_str`] before it is returned.

mod bgpd;
mod emit;
mod policy;
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
use crate::config::{Config, Endpoint, MAX_IFNAME_LEN};
use bgpd::{Bgpd, Family, RemoteAs};
use policy::{Expander, Filter};
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
        })
    }
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
    pub description: Option<String>,
    pub local_address: Option<IpAddr>,
    pub passive: bool,
    pub shutdown: bool,
    /// RFC 8950 asked for on an IPv4 session (on IPv6 ones it is the default).
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
    let matched = match_tunnels(&neighbors, &wgs, &mut skipped, &mut notes);
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
        // as FRR does without update-source: it needs no loopback.
        if local[i].is_some() || fam_has_lo(&loopback) || matched[i].is_none() {
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
        if default_local.is_none() && !plain {
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
        for f in 0..2 {
            if n.active[f] {
                for p in policy::permitted_exact(&b, &n.export[f]) {
                    if !announce_hint.contains(&p) {
                        announce_hint.push(p);
                    }
                }
            }
        }
        let wireguard = matched[i].and_then(|w| tunnel(&wgs[w], &mut notes, &mut skipped));
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
            description: n.description.clone(),
            local_address,
            passive: n.passive,
            shutdown: n.shutdown,
            extended_next_hop: n.extended_next_hop && n.address.is_ipv4(),
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

/// `wgbgp import frr`: reads the files, writes the private key to
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
        .map(|p| WgFile::read(p).map_err(|e| format!("{}: cannot read: {e}", p.display())))
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
            maximum_prefix,
            active: [a4, a6],
            import: [i4, i6],
            export: [e4, e6],
        });
    }
    out
}

/// For each neighbor, the index of its wg-quick file.
fn match_tunnels(
    neighbors: &[Resolved],
    wgs: &[WgQuick],
    skipped: &mut Vec<Skipped>,
    notes: &mut Vec<String>,
) -> Vec<Option<usize>> {
    let mut matched: Vec<Option<usize>> = vec![None; neighbors.len()];
    let mut used = vec![false; wgs.len()];
    // By the most specific host route or AllowedIPs entry (not a default
    // route, which covers everyone) that covers the neighbor address.
    for (w, wg) in wgs.iter().enumerate() {
        let allowed = wg.peer.iter().flat_map(|p| p.allowed_ips.iter());
        let nets: Vec<&IpNet> = wg
            .routes
            .iter()
            .chain(allowed)
            .filter(|n| n.prefix_len() > 0)
            .collect();
        let best = neighbors
            .iter()
            .enumerate()
            .filter(|(i, _)| matched[*i].is_none())
            .filter_map(|(i, n)| {
                let len = nets
                    .iter()
                    .filter(|net| net.contains(&n.address))
                    .map(|net| net.prefix_len())
                    .max()?;
                Some((len, i))
            })
            .max_by_key(|(len, i)| (*len, std::cmp::Reverse(*i)));
        if let Some((_, i)) = best {
            matched[i] = Some(w);
            used[w] = true;
        }
    }
    // The rest by order.
    let free: Vec<usize> = (0..wgs.len()).filter(|w| !used[*w]).collect();
    let mut free = free.into_iter();
    for (i, n) in neighbors.iter().enumerate() {
        if matched[i].is_some() {
            continue;
        }
        match free.next() {
            Some(w) => {
                matched[i] = Some(w);
                used[w] = true;
                notes.push(format!(
                    "{} was matched to neighbor {} by order (no host route or AllowedIPs \
                     entry names the neighbor); check it",
                    wgs[w].origin, n.address
                ));
            }
            None if !wgs.is_empty() => notes.push(format!(
                "neighbor {}: no wg-quick file left; written as plain eBGP (no `wireguard:`), \
                 so its address must already be reachable",
                n.address
            )),
            None => {}
        }
    }
    for (w, wg) in wgs.iter().enumerate() {
        if !used[w] {
            skipped.push(Skipped {
                origin: wg.origin.clone(),
                line: None,
                text: format!("interface {}", wg.interface),
                why: "no BGP neighbor left for this tunnel".into(),
                kind: SkipKind::Lost,
            });
        }
    }
    matched
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

fn tunnel(
    wg: &WgQuick,
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
    for a in &wg.addresses {
        notes.push(format!(
            "{}: Address = {a} is not put on the tunnel: wgbgp tunnels are unnumbered and \
             sessions run between loopbacks",
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
        public_key,
        endpoint,
        interface,
        listen_port: wg.listen_port.filter(|p| *p != 0),
        persistent_keepalive: peer.persistent_keepalive.filter(|k| *k != 0),
        mtu: wg.mtu,
    })
}
