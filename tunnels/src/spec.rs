//! The tunnel data model: which backend, what a tunnel should look like ([`TunnelSpec`]) and
//! what it looks like now ([`TunnelStatus`]).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use serde::Deserialize;
use wireguard_control::Key;

use crate::TunnelError;

/// Which WireGuard implementation carries the tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Kernel if it can create a `wireguard` link, else userspace.
    Auto,
    /// The in-kernel WireGuard module (`ip link add type wireguard`).
    Kernel,
    /// `wireguard-go`, run as a supervised child process of the daemon.
    Userspace,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Kernel => "kernel",
            Backend::Userspace => "userspace",
        })
    }
}

/// Desired state of one point-to-point tunnel to one peer.
#[derive(Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// Peer name from the config (e.g. `s2`); used in logs and errors.
    pub name: String,
    /// Interface name (e.g. `wg-s2`), at most 15 bytes.
    pub interface: String,
    /// Our private key.
    pub private_key: Key,
    /// The peer's public key.
    pub peer_public_key: Key,
    /// Where the peer listens; `None` for a peer that only dials in. (WireGuard cannot forget
    /// an endpoint, so changing `Some` to `None` in place keeps the last one.)
    pub endpoint: Option<SocketAddr>,
    /// Our UDP port; `None` lets WireGuard pick one (and keeps whatever it picked).
    pub listen_port: Option<u16>,
    /// Seconds between keepalives; `None` turns them off.
    pub persistent_keepalive: Option<u16>,
    /// Interface MTU; `None` keeps the implementation's default (1420).
    pub mtu: Option<u32>,
    /// fwmark on the encrypted UDP packets; `None` clears it.
    pub fwmark: Option<u32>,
    /// The peer's loopback addresses: each gets a host route (/32 or /128) via the interface.
    pub peer_addresses: Vec<IpAddr>,
    /// Our IPv6 link-local address on the tunnel (fe80::/10, put on it as a /64), for
    /// sessions over link-local addresses; `None`: the tunnel has no address.
    pub link_local: Option<Ipv6Addr>,
}

// Hand-written so the private key never reaches a log line.
impl fmt::Debug for TunnelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelSpec")
            .field("name", &self.name)
            .field("interface", &self.interface)
            .field("private_key", &"<redacted>")
            .field("public_key", &self.private_key.get_public().to_base64())
            .field("peer_public_key", &self.peer_public_key.to_base64())
            .field("endpoint", &self.endpoint)
            .field("listen_port", &self.listen_port)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("mtu", &self.mtu)
            .field("fwmark", &self.fwmark)
            .field("peer_addresses", &self.peer_addresses)
            .field("link_local", &self.link_local)
            .finish()
    }
}

impl TunnelSpec {
    /// Tunnel `name` on `interface`, between our `private_key` and
    /// `peer_public_key`, and nothing else set: no endpoint (the peer dials
    /// in), port, keepalive, MTU and fwmark left to WireGuard, no peer
    /// addresses, no link-local address.
    pub fn new(name: &str, interface: &str, private_key: Key, peer_public_key: Key) -> TunnelSpec {
        TunnelSpec {
            name: name.into(),
            interface: interface.into(),
            private_key,
            peer_public_key,
            endpoint: None,
            listen_port: None,
            persistent_keepalive: None,
            mtu: None,
            fwmark: None,
            peer_addresses: vec![],
            link_local: None,
        }
    }

    /// Checks what the kernel would otherwise reject with a less helpful errno.
    pub fn validate(&self) -> Result<(), TunnelError> {
        validate_interface_name(&self.interface)?;
        if self.private_key.get_public() == self.peer_public_key {
            return Err(TunnelError::InvalidSpec {
                interface: self.interface.clone(),
                reason: "peer public key is our own public key".into(),
            });
        }
        if let Some(ll) = self.link_local
            && ll.segments()[0] & 0xffc0 != 0xfe80
        {
            return Err(TunnelError::InvalidSpec {
                interface: self.interface.clone(),
                reason: format!("link_local {ll} is not in fe80::/10"),
            });
        }
        if let Some(mtu) = self.mtu {
            // 1280 is the IPv6 minimum (RFC 8200 §5); the tunnels always carry ::/0.
            if !(1280..=65535).contains(&mtu) {
                return Err(TunnelError::InvalidSpec {
                    interface: self.interface.clone(),
                    reason: format!("mtu {mtu} outside 1280..=65535"),
                });
            }
        }
        Ok(())
    }
}

/// Linux `dev_valid_name()`: 1..=15 bytes, not `.`/`..`, no `/`, `:` or whitespace.
pub(crate) fn validate_interface_name(name: &str) -> Result<(), TunnelError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 15 {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("reserved name")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        Some("contains '/', ':', NUL or whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TunnelError::InvalidInterfaceName {
            interface: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// What `wg show` and `ip link` say about one tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelStatus {
    pub interface: String,
    /// The backend that carries it (never [`Backend::Auto`]).
    pub backend: Backend,
    pub ifindex: u32,
    pub mtu: Option<u32>,
    /// Administratively up and carrier present (IFF_UP and IFF_LOWER_UP).
    pub oper_up: bool,
    /// Our public key, if a private key is set.
    pub public_key: Option<Key>,
    pub listen_port: Option<u16>,
    pub fwmark: Option<u32>,
    /// The one peer; `None` if the device has no peer (or more than one: see `extra_peers`).
    pub peer: Option<PeerStatus>,
    /// Peers other than the first; always 0 on a tunnel this crate configured.
    pub extra_peers: usize,
    /// PID of the supervised `wireguard-go` child (userspace backend).
    pub child_pid: Option<u32>,
    /// How often the supervisor restarted `wireguard-go` after it died.
    pub restarts: u32,
}

/// The peer half of [`TunnelStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub public_key: Key,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    pub persistent_keepalive: Option<u16>,
    /// Wall-clock time of the last completed handshake, to the second.
    pub last_handshake: Option<SystemTime>,
    /// How long ago that was, when the status was read.
    pub handshake_age: Option<Duration>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TunnelSpec {
        let peer = Key::generate_private().get_public();
        TunnelSpec::new("s2", "wg-s2", Key::generate_private(), peer)
    }

    #[test]
    fn interface_names_follow_dev_valid_name() {
        assert!(validate_interface_name("wg-s2").is_ok());
        assert!(validate_interface_name("abcdefghijklmno").is_ok());
        for bad in ["", "abcdefghijklmnop", ".", "..", "wg/1", "wg:1", "wg 1"] {
            let err = validate_interface_name(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn spec_rejects_own_key_as_peer_and_tiny_mtu() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.peer_public_key = s.private_key.get_public();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("own public key")
        );
        let mut s = spec();
        s.link_local = Some("fd00::1".parse().unwrap());
        assert!(s.validate().unwrap_err().to_string().contains("fe80::/10"));
        let mut s = spec();
        s.mtu = Some(1000);
        assert!(s.validate().unwrap_err().to_string().contains("mtu 1000"));
    }

    #[test]
    fn debug_hides_private_key() {
        let s = spec();
        let text = format!("{s:?}");
        assert!(!text.contains(&s.private_key.to_base64()));
        assert!(text.contains(&s.peer_public_key.to_base64()));
    }

    #[test]
    fn backend_deserializes_lowercase() {
        use serde::de::value::{Error, StrDeserializer};
        let parse = |t: &str| Backend::deserialize(StrDeserializer::<Error>::new(t));
        assert_eq!(parse("auto").unwrap(), Backend::Auto);
        assert_eq!(parse("kernel").unwrap(), Backend::Kernel);
        assert_eq!(parse("userspace").unwrap(), Backend::Userspace);
        assert!(parse("Kernel").is_err());
    }
}
