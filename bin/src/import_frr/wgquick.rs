//! Reading wg-quick(8) files: one `[Interface]` and its `[Peer]`s.
//!
//! wgbgp makes one interface per BGP peer, so only the first `[Peer]` of a
//! file is used; keys wgbgp has no equivalent for are recorded as
//! [`Skipped`] with what to do instead.

use std::net::IpAddr;

use ipnet::IpNet;
use wireguard_control::Key;

use super::{SkipKind, Skipped};

/// What one wg-quick file says.
#[derive(Debug, Clone, Default)]
pub struct WgQuick {
    /// The file's stem (`wg0`), which wg-quick uses as the interface name.
    pub interface: String,
    pub origin: String,
    pub private_key: Option<Key>,
    pub listen_port: Option<u16>,
    pub mtu: Option<u32>,
    /// `Table =` as written.
    pub table: Option<String>,
    /// `Address =` entries.
    pub addresses: Vec<IpNet>,
    pub peer: Option<WgPeer>,
    /// Destinations of `ip route add DEST dev <this interface>` in
    /// PostUp/PreUp, used to find the BGP neighbor behind the tunnel.
    pub routes: Vec<IpNet>,
}

/// The `[Peer]` section.
#[derive(Debug, Clone, Default)]
pub struct WgPeer {
    pub public_key: Option<Key>,
    pub endpoint: Option<String>,
    pub persistent_keepalive: Option<u16>,
    pub allowed_ips: Vec<IpNet>,
}

#[derive(PartialEq)]
enum Section {
    None,
    Interface,
    Peer,
    /// A second or later `[Peer]`: not used.
    ExtraPeer,
}

/// Reads one file; `interface` is its stem.
pub fn parse(interface: &str, origin: &str, text: &str, skipped: &mut Vec<Skipped>) -> WgQuick {
    let mut wg = WgQuick {
        interface: interface.to_string(),
        origin: origin.to_string(),
        ..WgQuick::default()
    };
    let mut section = Section::None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.split('#').next().unwrap_or("").trim();
        if trimmed.is_empty() {
            continue;
        }
        // Everything wgbgp leaves out of a tunnel file changes what the
        // tunnel does, so it counts as not translated.
        let mut skip = |why: &str| {
            skipped.push(Skipped {
                origin: origin.to_string(),
                line: Some(line),
                text: redact(trimmed),
                why: why.to_string(),
                kind: SkipKind::Lost,
            })
        };
        if trimmed.starts_with('[') {
            section = match trimmed.to_ascii_lowercase().as_str() {
                "[interface]" => Section::Interface,
                "[peer]" if wg.peer.is_none() => {
                    wg.peer = Some(WgPeer::default());
                    Section::Peer
                }
                "[peer]" => {
                    skip("wgbgp runs one peer per interface: only the first [Peer] is used");
                    Section::ExtraPeer
                }
                _ => {
                    skip("unknown section");
                    Section::None
                }
            };
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            skip("not KEY = VALUE");
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        match section {
            Section::Interface => match key.as_str() {
                "privatekey" => match Key::from_base64(value) {
                    Ok(k) => wg.private_key = Some(k),
                    Err(_) => skip("not a base64 WireGuard key"),
                },
                "listenport" => match value.parse() {
                    Ok(p) => wg.listen_port = Some(p),
                    Err(_) => skip("bad port"),
                },
                "mtu" => match value.parse() {
                    Ok(m) => wg.mtu = Some(m),
                    Err(_) => skip("bad MTU"),
                },
                "table" => wg.table = Some(value.to_string()),
                "address" => {
                    for a in list(value) {
                        let parsed = a
                            .parse::<IpNet>()
                            .ok()
                            .or_else(|| a.parse::<IpAddr>().ok().map(IpNet::from));
                        match parsed {
                            Some(n) => wg.addresses.push(n),
                            None => skip("bad address"),
                        }
                    }
                }
                "preup" | "postup" => {
                    let before = wg.routes.len();
                    wg.routes.extend(host_routes(value, interface));
                    if wg.routes.len() == before {
                        skip("hook command not run by wgbgp");
                    }
                }
                "predown" | "postdown" => {
                    if host_routes(value, interface).is_empty() {
                        skip("hook command not run by wgbgp");
                    }
                }
                "saveconfig" => {}
                "dns" => skip("DNS is not set by wgbgp"),
                "fwmark" => skip(
                    "FwMark is not translated: wgbgp marks every tunnel with kernel.fwmark (51820 by default)",
                ),
                _ => skip("unknown [Interface] key"),
            },
            Section::Peer => {
                let peer = wg.peer.as_mut().expect("in [Peer]");
                match key.as_str() {
                    "publickey" => match Key::from_base64(value) {
                        Ok(k) => peer.public_key = Some(k),
                        Err(_) => skip("not a base64 WireGuard key"),
                    },
                    "endpoint" => peer.endpoint = Some(value.to_string()),
                    "persistentkeepalive" => match value {
                        "off" => {}
                        v => match v.parse() {
                            Ok(k) => peer.persistent_keepalive = Some(k),
                            Err(_) => skip("bad PersistentKeepalive"),
                        },
                    },
                    "allowedips" => {
                        for a in list(value) {
                            match a.parse::<IpNet>() {
                                Ok(n) => peer.allowed_ips.push(n.trunc()),
                                Err(_) => skip("bad AllowedIPs entry"),
                            }
                        }
                    }
                    "presharedkey" => skip("PresharedKey is not supported by wgbgp"),
                    _ => skip("unknown [Peer] key"),
                }
            }
            Section::ExtraPeer => {}
            Section::None => skip("outside [Interface]/[Peer]"),
        }
    }
    wg
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Never print a private or preshared key in the list of skipped lines.
fn redact(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("privatekey") || lower.starts_with("presharedkey") {
        let key = line.split('=').next().unwrap_or("").trim();
        return format!("{key} = (redacted)");
    }
    line.to_string()
}

/// Destinations of `ip [-4|-6] route add|replace DEST dev IFACE` commands
/// (several may be joined with `;`), where IFACE is this interface or `%i`.
fn host_routes(command: &str, interface: &str) -> Vec<IpNet> {
    let mut out = Vec::new();
    for cmd in command.split([';', '&']) {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let Some(ip) = words.iter().position(|w| *w == "ip") else {
            continue;
        };
        let mut w = words[ip + 1..].iter().filter(|w| !w.starts_with('-'));
        if w.next() != Some(&"route") || !matches!(w.next(), Some(&"add") | Some(&"replace")) {
            continue;
        }
        let Some(dest) = w.next() else { continue };
        let rest: Vec<&&str> = w.collect();
        let dev = rest.windows(2).find(|p| *p[0] == "dev").map(|p| *p[1]);
        if !matches!(dev, Some(d) if d == interface || d == "%i") {
            continue;
        }
        let net = dest
            .parse::<IpNet>()
            .ok()
            .or_else(|| dest.parse::<IpAddr>().ok().map(IpNet::from));
        out.extend(net);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_routes_from_hooks_name_this_interface_only() {
        let r = host_routes(
            "ip route add 2.2.2.2/32 dev %i; ip -6 route add fd00::2 dev wg0; \
             ip route add 9.9.9.9 dev eth0",
            "wg0",
        );
        let want: Vec<IpNet> = vec![
            "2.2.2.2/32".parse().unwrap(),
            "fd00::2/128".parse().unwrap(),
        ];
        assert_eq!(r, want);
    }

    #[test]
    fn private_keys_never_appear_in_skipped_lines() {
        let mut skipped = Vec::new();
        let text = "[Interface]\nPrivateKey = 0G/YfiSxtaUpSGQ5GMLpcNQGwQIMDSPkPN4tMVjwjHI=\n\
                    [Peer]\nPresharedKey = 0G/YfiSxtaUpSGQ5GMLpcNQGwQIMDSPkPN4tMVjwjHI=\n";
        let wg = parse("wg0", "wg0.conf", text, &mut skipped);
        assert!(wg.private_key.is_some());
        assert_eq!(skipped.len(), 1);
        assert!(!skipped[0].text.contains("0G/Yf"), "{:?}", skipped[0]);
    }
}
