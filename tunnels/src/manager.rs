//! [`TunnelManager`]: picks the backend, and brings tunnels up, down and in line with their spec.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ipnet::IpNet;

use crate::netlink::Netlink;
use crate::userspace::{self, Ctx, Supervisor};
use crate::{Backend, TunnelError, TunnelSpec, TunnelStatus, wg};

const WIREGUARD_GO: &str = "wireguard-go";

/// One tunnel this manager owns.
enum Tunnel {
    Kernel { spec: TunnelSpec },
    Userspace { supervisor: Supervisor },
}

/// Owns the tunnels of one network namespace (the one `new` ran in).
///
/// Dropping it without [`TunnelManager::shutdown`] still stops the `wireguard-go` children
/// (their supervisors see the manager go away), but kernel links and routes stay.
pub struct TunnelManager {
    backend: Backend,
    netlink: Netlink,
    wireguard_go: Option<PathBuf>,
    tunnels: BTreeMap<String, Tunnel>,
    /// wireguard-go children are started so they can outlive the manager.
    detachable: bool,
}

impl TunnelManager {
    /// Resolves [`Backend::Auto`]: kernel if the kernel can create a `wireguard` link (probed by
    /// creating and deleting one), else userspace if `wireguard-go` is on PATH, else an error.
    /// An explicit backend is checked the same way, so a missing one fails here and not at the
    /// first tunnel.
    pub async fn new(backend: Backend) -> Result<Self, TunnelError> {
        let netlink = Netlink::connect()?;
        let wireguard_go = find_on_path(WIREGUARD_GO);
        let resolved = match backend {
            Backend::Kernel => {
                netlink.probe_kernel_wireguard().await?;
                Backend::Kernel
            }
            Backend::Userspace => {
                if wireguard_go.is_none() {
                    return Err(TunnelError::UserspaceUnavailable {
                        binary: WIREGUARD_GO.into(),
                    });
                }
                Backend::Userspace
            }
            Backend::Auto => match netlink.probe_kernel_wireguard().await {
                Ok(()) => Backend::Kernel,
                Err(kernel) if wireguard_go.is_some() => {
                    tracing::info!(reason = %kernel, "kernel WireGuard unavailable, using wireguard-go");
                    Backend::Userspace
                }
                Err(kernel) => {
                    return Err(TunnelError::NoBackend {
                        kernel: kernel.to_string(),
                        binary: WIREGUARD_GO.into(),
                    });
                }
            },
        };
        tracing::info!(backend = %resolved, "tunnel manager ready");
        Ok(TunnelManager {
            backend: resolved,
            netlink,
            wireguard_go,
            tunnels: BTreeMap::new(),
            detachable: false,
        })
    }

    /// The resolved backend (never [`Backend::Auto`]).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Puts each address on `lo` (an address already there is fine) and brings `lo` up.
    pub async fn ensure_loopbacks(&self, addrs: &[IpNet]) -> Result<(), TunnelError> {
        self.netlink.ensure_loopbacks(addrs).await.map(|_| ())
    }

    /// Like [`TunnelManager::ensure_loopbacks`], returning the addresses that were missing
    /// and are back.
    pub async fn restore_loopbacks(&self, addrs: &[IpNet]) -> Result<Vec<IpNet>, TunnelError> {
        self.netlink.ensure_loopbacks(addrs).await
    }

    /// Puts back the host routes of `interface` among `addrs` that are missing, never
    /// replacing a route someone else put at the same prefix; returns those added.
    pub async fn restore_host_routes(
        &self,
        interface: &str,
        addrs: &[IpAddr],
    ) -> Result<Vec<IpAddr>, TunnelError> {
        self.netlink.restore_host_routes(interface, addrs).await
    }

    /// Recreates the interface of a tunnel this manager owns if it is gone (deleted behind
    /// our back) and configures it from `spec`: the kernel backend creates the link again,
    /// the userspace one replaces the `wireguard-go` that lost its TUN with a fresh one at
    /// once instead of waiting for it to notice. Returns false if the link was there.
    pub async fn recreate(&mut self, spec: &TunnelSpec) -> Result<bool, TunnelError> {
        if self.netlink.link(&spec.interface).await?.is_some() {
            return Ok(false);
        }
        match self.tunnels.get_mut(&spec.interface) {
            None => Err(TunnelError::NotManaged {
                interface: spec.interface.clone(),
            }),
            Some(Tunnel::Kernel { spec: current }) => {
                configure(&self.netlink, spec, Backend::Kernel).await?;
                *current = spec.clone();
                Ok(true)
            }
            Some(Tunnel::Userspace { supervisor }) => {
                supervisor.recreate(spec.clone()).await?;
                Ok(true)
            }
        }
    }

    /// Creates (or adopts an existing interface of that name it can configure) and configures
    /// the tunnel: keys, port, fwmark, the one peer with AllowedIPs exactly `0.0.0.0/0` and
    /// `::/0`, MTU, no address but `link_local`, link up, host routes to `peer_addresses`. Calling it again with
    /// a changed spec updates the tunnel in place.
    pub async fn up(&mut self, spec: &TunnelSpec) -> Result<(), TunnelError> {
        spec.validate()?;
        match self.tunnels.get_mut(&spec.interface) {
            Some(Tunnel::Kernel { spec: current }) => {
                configure(&self.netlink, spec, Backend::Kernel).await?;
                *current = spec.clone();
            }
            Some(Tunnel::Userspace { supervisor }) => supervisor.apply(spec.clone()).await?,
            None => {
                let tunnel = match self.backend {
                    Backend::Userspace => {
                        let ctx = Ctx {
                            binary: self.wireguard_go.clone().unwrap_or(WIREGUARD_GO.into()),
                            netlink: self.netlink.clone(),
                            detachable: self.detachable,
                        };
                        Tunnel::Userspace {
                            supervisor: Supervisor::start(ctx, spec.clone()).await?,
                        }
                    }
                    _ => {
                        if let Some(link) = self.netlink.link(&spec.interface).await?
                            && link.kind.as_deref() != Some("wireguard")
                        {
                            return Err(TunnelError::NotWireguard {
                                interface: spec.interface.clone(),
                                kind: link.kind.unwrap_or_else(|| "unknown".into()),
                            });
                        }
                        configure(&self.netlink, spec, Backend::Kernel).await?;
                        Tunnel::Kernel { spec: spec.clone() }
                    }
                };
                tracing::info!(tunnel = %spec.name, interface = %spec.interface,
                    backend = %self.backend, "tunnel up");
                self.tunnels.insert(spec.interface.clone(), tunnel);
            }
        }
        Ok(())
    }

    /// Removes the host routes and the interface (userspace: stops and reaps `wireguard-go`).
    pub async fn down(&mut self, interface: &str) -> Result<(), TunnelError> {
        let tunnel = self
            .tunnels
            .remove(interface)
            .ok_or_else(|| TunnelError::NotManaged {
                interface: interface.to_string(),
            })?;
        if let Some(link) = self.netlink.link(interface).await? {
            self.netlink
                .clear_host_routes(interface, link.index)
                .await?;
        }
        if let Tunnel::Userspace { supervisor } = tunnel {
            supervisor.stop().await?;
        }
        // Userspace: normally gone with the process; kernel: always still there.
        if let Some(link) = self.netlink.link(interface).await? {
            self.netlink.delete_link(interface, link.index).await?;
        }
        tracing::info!(interface, "tunnel down");
        Ok(())
    }

    /// `wg show` and `ip link` facts for one tunnel.
    pub async fn status(&self, interface: &str) -> Result<TunnelStatus, TunnelError> {
        let link = self.netlink.require_link(interface).await?;
        let device = wg::get(interface, self.backend).await?;
        let (peer, extra_peers) = wg::peer_status(&device, SystemTime::now());
        let (child_pid, restarts) = match self.tunnels.get(interface) {
            Some(Tunnel::Userspace { supervisor }) => {
                (supervisor.shared.pid(), supervisor.shared.restarts())
            }
            _ => (None, 0),
        };
        Ok(TunnelStatus {
            interface: interface.to_string(),
            backend: self.backend,
            ifindex: link.index,
            mtu: link.mtu,
            oper_up: link.oper_up,
            public_key: device.public_key,
            listen_port: device.listen_port,
            fwmark: device.fwmark.filter(|m| *m != 0),
            peer,
            extra_peers,
            child_pid,
            restarts,
        })
    }

    /// Names of the interfaces this manager created, sorted. (wireguard-control cannot list
    /// userspace devices on Linux, so this is the only list there is.)
    pub fn interfaces(&self) -> Vec<String> {
        self.tunnels.keys().cloned().collect()
    }

    /// True if this manager created (and owns) `interface`.
    pub fn manages(&self, interface: &str) -> bool {
        self.tunnels.contains_key(interface)
    }

    /// The UAPI socket path of a userspace interface.
    pub fn socket_path(interface: &str) -> PathBuf {
        userspace::socket_path(interface)
    }

    /// Starts the `wireguard-go` children of tunnels created from now on so that
    /// [`TunnelManager::detach_all`] can leave them running: their own process group, output
    /// to `/var/run/wireguard/<interface>.log`.
    pub fn set_detachable(&mut self, on: bool) {
        self.detachable = on;
    }

    /// Forgets every tunnel and leaves it as it is: kernel links, host routes and (for
    /// children started detachable) the `wireguard-go` processes stay, to be adopted by the
    /// next manager's [`TunnelManager::up`] without being recreated.
    pub async fn detach_all(&mut self) -> Result<(), TunnelError> {
        let mut first = None;
        for (interface, tunnel) in std::mem::take(&mut self.tunnels) {
            if let Tunnel::Userspace { supervisor } = tunnel
                && let Err(e) = supervisor.detach().await
            {
                tracing::warn!(interface, error = %e, "leaving the tunnel up failed");
                first.get_or_insert(e);
            }
            tracing::info!(interface, "tunnel left up");
        }
        first.map_or(Ok(()), Err)
    }

    /// Tears down every tunnel this manager created; keeps going past failures and returns
    /// the first.
    pub async fn shutdown(&mut self) -> Result<(), TunnelError> {
        let mut first = None;
        for interface in self.interfaces() {
            if let Err(e) = self.down(&interface).await {
                tracing::warn!(interface, error = %e, "tunnel teardown failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Makes an existing (userspace) or possibly new (kernel) device match `spec`:
/// WireGuard configuration, then no generated IPv6 link-local, MTU and up, no address but
/// the configured link-local, host routes.
pub(crate) async fn configure(
    netlink: &Netlink,
    spec: &TunnelSpec,
    backend: Backend,
) -> Result<(), TunnelError> {
    wg::apply(spec, backend).await?;
    let link = netlink.require_link(&spec.interface).await?;
    netlink
        .disable_ipv6_addrgen(&spec.interface, link.index)
        .await?;
    netlink
        .set_mtu_up(&spec.interface, link.index, spec.mtu)
        .await?;
    netlink
        .sync_addresses(&spec.interface, link.index, spec.link_local)
        .await?;
    netlink
        .sync_host_routes(&spec.interface, link.index, &spec.peer_addresses)
        .await
}

fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
