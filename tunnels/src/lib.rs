//! Per-peer WireGuard tunnels, loopback addresses and host routes.
//!
//! Desired state in ([`TunnelSpec`]), reconciliation out: [`TunnelManager::up`] makes the kernel
//! match the spec whether the interface is new, already present or drifted, and can be called
//! again with a changed spec to update the tunnel in place.
//!
//! Every tunnel carries exactly one peer with AllowedIPs `0.0.0.0/0` and `::/0`; WireGuard's
//! cryptokey routing then accepts anything from that peer, and *routing* is left to the kernel
//! FIB: the wg interface gets no address, and only host routes to the peer's loopback addresses
//! (`2.2.2.2/32 dev wg-s2 scope link`) are installed here. Everything else is the RIB's job.
//!
//! ```text
//!                  TunnelManager
//!                 /      |       \
//!   netlink (rtnetlink)  |        wg (wireguard-control, blocking, in spawn_blocking)
//!   links, lo addresses, |         UAPI socket or kernel genetlink
//!   host routes          |
//!                 userspace::Supervisor (one task per wireguard-go child:
//!                 spawn, wait for the UAPI socket, restart + re-apply on exit)
//! ```
//!
//! Two backends sit behind the same calls: the kernel module (`ip link add type wireguard`),
//! and `wireguard-go` run as a supervised direct child of this process.

mod error;
pub mod keys;
pub mod limits;
mod manager;
mod netlink;
mod spec;
mod userspace;
mod wg;

pub use error::TunnelError;
pub use keys::KeyError;
pub use manager::TunnelManager;
pub use spec::{Backend, PeerStatus, TunnelSpec, TunnelStatus};
pub use wireguard_control::Key;

/// Route protocol of the host routes this crate installs (`proto static` in `ip route`).
pub const HOST_ROUTE_PROTOCOL: u8 = 4;
