//! WireGuard device configuration through wireguard-control (UAPI socket or kernel genetlink).
//!
//! The crate's I/O is blocking std sockets without timeouts, so every call goes through
//! `spawn_blocking`. The update is computed against what the device has now, so that an
//! in-place change (say, a new keepalive) does not drop the peer and with it its session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use ipnet::IpNet;
use wireguard_control::{Device, DeviceUpdate, InterfaceName, Key, PeerConfigBuilder};

use crate::{Backend, PeerStatus, TunnelError, TunnelSpec};

fn wg_backend(b: Backend) -> wireguard_control::Backend {
    match b {
        Backend::Kernel => wireguard_control::Backend::Kernel,
        // Auto is resolved before anything reaches this module.
        Backend::Userspace | Backend::Auto => wireguard_control::Backend::Userspace,
    }
}

fn iface_name(name: &str) -> Result<InterfaceName, TunnelError> {
    name.parse().map_err(|_| TunnelError::InvalidInterfaceName {
        interface: name.to_string(),
        reason: "rejected by wireguard-control",
    })
}

async fn blocking<T: Send + 'static>(
    interface: &str,
    operation: &'static str,
    backend: Backend,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, TunnelError> {
    let joined = tokio::task::spawn_blocking(f).await;
    let result = joined.unwrap_or_else(|e| Err(std::io::Error::other(e)));
    result.map_err(|source| TunnelError::Wireguard {
        interface: interface.to_string(),
        operation,
        backend,
        source,
    })
}

/// Reads the device (`wg show`).
pub(crate) async fn get(interface: &str, backend: Backend) -> Result<Device, TunnelError> {
    let name = iface_name(interface)?;
    blocking(interface, "get", backend, move || {
        Device::get(&name, wg_backend(backend))
    })
    .await
}

/// Makes the device match `spec`: one peer, AllowedIPs exactly `0.0.0.0/0` and `::/0`.
/// For the kernel backend this also creates the link if it does not exist.
pub(crate) async fn apply(spec: &TunnelSpec, backend: Backend) -> Result<(), TunnelError> {
    let name = iface_name(&spec.interface)?;
    // A device we cannot read yet (new kernel link) gets the full configuration.
    let current = get(&spec.interface, backend)
        .await
        .ok()
        .map(|d| Current::from(&d));
    let update = update_for(spec, current.as_ref());
    let socket = crate::userspace::socket_path(&spec.interface);
    blocking(&spec.interface, "set", backend, move || {
        // wireguard-control spawns a daemonized wireguard-go of its own when it cannot open
        // the socket; if our child just died, fail instead and let the supervisor restart it.
        if backend == Backend::Userspace {
            std::os::unix::net::UnixStream::connect(&socket).map_err(|e| {
                std::io::Error::new(e.kind(), format!("UAPI socket {}: {e}", socket.display()))
            })?;
        }
        update.apply(&name, wg_backend(backend))
    })
    .await
}

/// The parts of a device's state the update depends on.
#[derive(Debug, Default)]
struct Current {
    private_key: Option<Key>,
    listen_port: Option<u16>,
    fwmark: Option<u32>,
    peers: Vec<Key>,
}

impl From<&Device> for Current {
    fn from(d: &Device) -> Self {
        Current {
            private_key: d.private_key.clone(),
            listen_port: d.listen_port,
            fwmark: d.fwmark,
            peers: d
                .peers
                .iter()
                .map(|p| p.config.public_key.clone())
                .collect(),
        }
    }
}

/// Removes the peer of `spec` and adds it again in one update: a fresh
/// peer has no handshake history, so the next packet to it sends an
/// initiation at once instead of waiting out the 5 s REKEY_TIMEOUT since the
/// last one, which was lost if the other end was not up yet.
pub(crate) async fn restart_handshake(
    spec: &TunnelSpec,
    backend: Backend,
) -> Result<(), TunnelError> {
    let name = iface_name(&spec.interface)?;
    let update = DeviceUpdate::new()
        .remove_peer_by_key(&spec.peer_public_key)
        .add_peer(peer_for(spec));
    blocking(&spec.interface, "set", backend, move || {
        update.apply(&name, wg_backend(backend))
    })
    .await
}

/// Our one peer as `spec` wants it: AllowedIPs exactly `0.0.0.0/0` and
/// `::/0`, the endpoint and keepalive.
fn peer_for(spec: &TunnelSpec) -> PeerConfigBuilder {
    let mut peer = PeerConfigBuilder::new(&spec.peer_public_key)
        .replace_allowed_ips()
        .add_allowed_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        .add_allowed_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
    if let Some(ep) = spec.endpoint {
        peer = peer.set_endpoint(ep);
    }
    match spec.persistent_keepalive {
        Some(k) => peer.set_persistent_keepalive_interval(k),
        None => peer.unset_persistent_keepalive(),
    }
}

/// The update that takes `current` (if known) to `spec`.
fn update_for(spec: &TunnelSpec, current: Option<&Current>) -> DeviceUpdate {
    let peer = peer_for(spec);
    let mut update = DeviceUpdate::new();
    match current {
        // Removing only the strangers keeps our peer's session (replace_peers would drop it).
        Some(dev) => {
            for other in dev.peers.iter().filter(|k| **k != spec.peer_public_key) {
                update = update.remove_peer_by_key(other);
            }
            if dev.private_key.as_ref() != Some(&spec.private_key) {
                update = update.set_private_key(spec.private_key.clone());
            }
            // Re-setting an unchanged port makes wireguard-go rebind its sockets.
            if let Some(p) = spec.listen_port.filter(|p| dev.listen_port != Some(*p)) {
                update = update.set_listen_port(p);
            }
            let have_mark = dev.fwmark.filter(|m| *m != 0);
            if have_mark != spec.fwmark {
                update = match spec.fwmark {
                    Some(m) => update.set_fwmark(m),
                    None => update.unset_fwmark(),
                };
            }
        }
        None => {
            update = update
                .replace_peers()
                .set_private_key(spec.private_key.clone());
            if let Some(p) = spec.listen_port {
                update = update.set_listen_port(p);
            }
            update = match spec.fwmark {
                Some(m) => update.set_fwmark(m),
                None => update.unset_fwmark(),
            };
        }
    }
    update.add_peer(peer)
}

/// The (first) peer of a device, as [`PeerStatus`], and how many more there are.
pub(crate) fn peer_status(dev: &Device, now: SystemTime) -> (Option<PeerStatus>, usize) {
    let mut peers = dev.peers.iter();
    let first = peers.next().map(|p| PeerStatus {
        public_key: p.config.public_key.clone(),
        endpoint: p.config.endpoint,
        allowed_ips: p
            .config
            .allowed_ips
            .iter()
            .filter_map(|a| IpNet::new(a.address, a.cidr).ok())
            .collect(),
        // 0 means off on the wire.
        persistent_keepalive: p.config.persistent_keepalive_interval.filter(|k| *k != 0),
        last_handshake: p.stats.last_handshake_time,
        handshake_age: p
            .stats
            .last_handshake_time
            .map(|t| now.duration_since(t).unwrap_or_default()),
        rx_bytes: p.stats.rx_bytes,
        tx_bytes: p.stats.tx_bytes,
    });
    (first, peers.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TunnelSpec {
        let peer = Key::generate_private().get_public();
        TunnelSpec {
            endpoint: Some("10.0.0.2:51820".parse().unwrap()),
            listen_port: Some(51820),
            persistent_keepalive: Some(5),
            ..TunnelSpec::new("s2", "wg-s2", Key::generate_private(), peer)
        }
    }

    fn device(spec: &TunnelSpec, peers: Vec<Key>) -> Current {
        Current {
            private_key: Some(spec.private_key.clone()),
            listen_port: spec.listen_port,
            fwmark: None,
            peers,
        }
    }

    // DeviceUpdate's fields are private; its Debug output is what we can inspect.
    fn text(u: &DeviceUpdate) -> String {
        format!("{u:?}")
    }

    #[test]
    fn fresh_device_gets_everything_and_replace_peers() {
        let s = spec();
        let t = text(&update_for(&s, None));
        assert!(t.contains("replace_peers: true"), "{t}");
        assert!(t.contains("listen_port: Some(51820)"), "{t}");
        assert!(t.contains("0.0.0.0") && t.contains("::"), "{t}");
        assert!(t.contains("replace_allowed_ips: true"), "{t}");
    }

    #[test]
    fn in_place_update_keeps_our_peer_and_removes_strangers() {
        let s = spec();
        let stranger = Key::generate_private().get_public();
        let dev = device(&s, vec![s.peer_public_key.clone(), stranger.clone()]);
        let u = update_for(&s, Some(&dev));
        let t = text(&u);
        assert!(t.contains("replace_peers: false"), "{t}");
        // Unchanged key and port are not re-sent.
        assert!(t.contains("private_key: None"), "{t}");
        assert!(t.contains("listen_port: None"), "{t}");
        assert!(t.contains(&format!("{:?}", stranger)), "{t}");
        assert!(t.contains("remove_me: true"), "{t}");
    }
}
