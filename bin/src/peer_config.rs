//! `wgbgp peer-config PEER`: the `peers:` stanza the router behind PEER
//! pastes into its own configuration to peer with us.
//!
//! Everything comes from our configuration file and our private key file
//! (the public key is derived from it), so it works without a running
//! daemon. The stanza mirrors our side: our name, AS number and loopbacks
//! as its `address`, our public key, the endpoint it should send to (our
//! listen port for that peer) and the listen port our endpoint for it names.

use std::net::IpAddr;
use std::path::Path;

use thiserror::Error;
use wireguard_control::Key;

use crate::config::{Config, Endpoint, MAX_IFNAME_LEN};
use crate::import_frr::scalar;

/// Where `peer-config` looks without `--config` (the systemd unit's path).
pub const DEFAULT_CONFIG: &str = "/etc/wgbgp/wgbgp.yaml";

/// Why no stanza could be printed.
#[derive(Debug, Error)]
pub enum PeerConfigError {
    #[error("no peer `{peer}` in {file} (peers: {known})")]
    UnknownPeer {
        peer: String,
        file: String,
        known: String,
    },
    #[error(
        "{}: cannot read the private key ({source}); start wgbgpd once or run `wgbgp genkey > {}` (mode 0600)",
        file.display(), file.display()
    )]
    ReadKey {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: does not hold a base64 WireGuard private key", file.display())]
    BadKey { file: std::path::PathBuf },
    #[error("--endpoint {value}: {reason}")]
    BadEndpoint { value: String, reason: String },
    #[error("--name `{0}`: use letters, digits, `-` and `_`")]
    BadName(String),
    #[error(
        "peer `{0}` has no local_address and we have no loopback: the address it should \
         peer with is the one the kernel picks; set `local_address`"
    )]
    NoLocalAddress(String),
}

/// Our public key, derived from `wireguard.private_key_file`.
pub fn our_public_key(config: &Config) -> Result<Key, PeerConfigError> {
    let file = &config.wireguard.private_key_file;
    let text = std::fs::read_to_string(file).map_err(|source| PeerConfigError::ReadKey {
        file: file.clone(),
        source,
    })?;
    let key = Key::from_base64(text.trim())
        .map_err(|_| PeerConfigError::BadKey { file: file.clone() })?;
    Ok(key.get_public())
}

/// The name the remote side should give us: the host name when it makes a
/// good key, else `r-<router id>` (`r-1-1-1-1`).
pub fn default_name(config: &Config) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host
        .trim()
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if valid_name(&host) && host != "localhost" {
        host
    } else {
        format!("r-{}", config.router_id.to_string().replace('.', "-"))
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !s.starts_with('-')
}

/// The stanza for `peer`, naming us `our_name`; `endpoint` is how the peer
/// reaches us (else a `REPLACE-ME` placeholder with our listen port).
pub fn stanza(
    config: &Config,
    peer: &str,
    public_key: &Key,
    our_name: &str,
    endpoint: Option<&str>,
) -> Result<String, PeerConfigError> {
    let p = config
        .peers
        .get(peer)
        .ok_or_else(|| PeerConfigError::UnknownPeer {
            peer: peer.to_string(),
            file: config.path.display().to_string(),
            known: config.peers.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
    if !valid_name(our_name) {
        return Err(PeerConfigError::BadName(our_name.to_string()));
    }
    if let Some(e) = endpoint {
        Endpoint::parse(e).map_err(|reason| PeerConfigError::BadEndpoint {
            value: e.to_string(),
            reason,
        })?;
    }

    // The session address first: the remote connects to the first address.
    let mut addresses: Vec<IpAddr> = p.local_address.into_iter().collect();
    for l in &config.loopback {
        if !addresses.contains(&l.addr()) {
            addresses.push(l.addr());
        }
    }
    if addresses.is_empty() {
        return Err(PeerConfigError::NoLocalAddress(peer.to_string()));
    }
    let addresses: Vec<String> = addresses
        .iter()
        .map(|a| scalar(&a.to_string(), true))
        .collect();

    let mut s = String::new();
    s.push_str(&format!(
        "# Paste under `peers:` in the configuration of `{peer}`{} (AS {}).\n",
        p.description
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default(),
        p.asn
    ));
    s.push_str(
        "# Then name its import/export policies: with none, nothing is exchanged (RFC 8212).\n",
    );
    s.push_str(&format!("  {our_name}:\n"));
    s.push_str(&format!("    asn: {}\n", config.asn));
    s.push_str(&format!("    address: [{}]\n", addresses.join(", ")));
    if let Some(w) = &p.wireguard {
        s.push_str("    wireguard:\n");
        s.push_str(&format!(
            "      public_key: {}\n",
            scalar(&public_key.to_base64(), false)
        ));
        match (endpoint, w.listen_port) {
            (Some(e), _) => s.push_str(&format!("      endpoint: {}\n", scalar(e, false))),
            (None, Some(port)) => s.push_str(&format!(
                "      endpoint: REPLACE-ME:{port}   # our address as `{peer}` reaches it\n"
            )),
            (None, None) => s.push_str(&format!(
                "      endpoint: REPLACE-ME:PORT   # our listen port for `{peer}` is kernel-chosen: \
                 set peers.{peer}.wireguard.listen_port on our side, or leave endpoint out and \
                 let us connect\n"
            )),
        }
        let default_if = format!("wg-{our_name}");
        if default_if.len() > MAX_IFNAME_LEN {
            let short: String = default_if.chars().take(MAX_IFNAME_LEN).collect();
            s.push_str(&format!("      interface: {short}\n"));
        }
        if let Some(port) = w.endpoint.as_ref().map(endpoint_port) {
            s.push_str(&format!(
                "      listen_port: {port}   # we send to {}\n",
                w.endpoint.as_ref().expect("checked")
            ));
        }
        if let Some(mtu) = w.mtu {
            s.push_str(&format!("      mtu: {mtu}   # as on our side\n"));
        }
    } else {
        s.push_str("    # no tunnel on our side: plain eBGP over an existing path\n");
    }
    s.push_str(&format!(
        "    import: []   # REPLACE: policies for routes learned from {our_name}\n"
    ));
    s.push_str(&format!(
        "    export: []   # REPLACE: policies for routes sent to {our_name}\n"
    ));
    Ok(s)
}

fn endpoint_port(e: &Endpoint) -> u16 {
    match e {
        Endpoint::Addr(sa) => sa.port(),
        Endpoint::Host { port, .. } => *port,
    }
}

/// `wgbgp peer-config`: loads `config_path` (no filesystem checks beyond
/// reading it and the key file) and returns the stanza.
pub fn cli(
    config_path: &Path,
    peer: &str,
    endpoint: Option<&str>,
    name: Option<&str>,
) -> Result<String, String> {
    let src = std::fs::read_to_string(config_path)
        .map_err(|e| format!("{}: cannot read: {e}", config_path.display()))?;
    let config = Config::from_str(&src, config_path).map_err(|e| e.to_string())?;
    let key = our_public_key(&config).map_err(|e| e.to_string())?;
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| default_name(&config));
    stanza(&config, peer, &key, &name, endpoint).map_err(|e| e.to_string())
}
