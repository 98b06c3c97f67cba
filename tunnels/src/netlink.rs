//! rtnetlink side of the tunnels: link lookup, MTU and up, loopback addresses, host routes,
//! and the kernel-WireGuard probe.
//!
//! The socket lives in the network namespace of the thread that opened it; everything here
//! therefore acts on the namespace [`crate::TunnelManager::new`] ran in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use futures::{Stream, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::{Handle, LinkUnspec, LinkWireguard, RouteMessageBuilder};

use crate::error::errno;
use crate::{HOST_ROUTE_PROTOCOL, TunnelError};

/// A link as far as the tunnels care.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub index: u32,
    /// `IFLA_INFO_KIND` (`wireguard`, `tun`, `veth`, ...); `None` for kinds without one (`lo`).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub oper_up: bool,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Self {
        let mut kind = None;
        let mut mtu = None;
        for attr in &m.attributes {
            match attr {
                LinkAttribute::Mtu(v) => mtu = Some(*v),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        let flags = m.header.flags;
        Link {
            index: m.header.index,
            kind,
            mtu,
            oper_up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
        }
    }
}

/// A cloneable rtnetlink handle bound to one network namespace.
#[derive(Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the socket in the calling thread's namespace and spawns its driver task.
    pub fn connect() -> Result<Self, TunnelError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|source| TunnelError::NetlinkSocket {
                operation: "rtnetlink",
                source,
            })?;
        // Ends by itself once the last Handle clone is dropped.
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    pub async fn link(&self, name: &str) -> Result<Option<Link>, TunnelError> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(m)) => Ok(Some(Link::from_message(&m))),
            Ok(None) => Ok(None),
            // ENODEV: no link of that name.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(TunnelError::netlink(name, "get link", e)),
        }
    }

    pub async fn require_link(&self, name: &str) -> Result<Link, TunnelError> {
        self.link(name)
            .await?
            .ok_or_else(|| TunnelError::LinkNotFound {
                interface: name.to_string(),
            })
    }

    /// Sets the MTU (if given) and brings the link up.
    pub async fn set_mtu_up(
        &self,
        name: &str,
        index: u32,
        mtu: Option<u32>,
    ) -> Result<(), TunnelError> {
        let mut msg = LinkUnspec::new_with_index(index).up();
        if let Some(mtu) = mtu {
            msg = msg.mtu(mtu);
        }
        self.handle
            .link()
            .set(msg.build())
            .execute()
            .await
            .map_err(|e| TunnelError::netlink(name, format!("set mtu {mtu:?} up"), e))
    }

    /// Stops the kernel from generating an IPv6 link-local address on the link (TUN devices
    /// otherwise get a random or stable-privacy one when they come up): the tunnels carry no
    /// address at all.
    pub async fn disable_ipv6_addrgen(&self, name: &str, index: u32) -> Result<(), TunnelError> {
        let none =
            LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
                In6AddrGenMode::None,
            )])]);
        let msg = LinkUnspec::new_with_index(index)
            .append_extra_attribute(none)
            .build();
        match self.handle.link().set(msg).execute().await {
            Ok(()) => Ok(()),
            // IPv6 disabled on this host: then there is no link-local to prevent either.
            Err(e) if errno(&e) == Some(libc::EAFNOSUPPORT) => Ok(()),
            Err(e) => Err(TunnelError::netlink(name, "set addrgenmode none", e)),
        }
    }

    /// Leaves exactly `link_local` (as fe80::X/64) on the link, or no
    /// address at all: the tunnels are unnumbered, but a link-local
    /// session (dn42 style) needs a source on the tunnel. It is added
    /// without duplicate address detection, which a point-to-point tunnel
    /// cannot need and which would hold the address back for a second.
    pub async fn sync_addresses(
        &self,
        name: &str,
        index: u32,
        link_local: Option<Ipv6Addr>,
    ) -> Result<(), TunnelError> {
        let request = self.handle.address().get().set_link_index_filter(index);
        let addrs = dump(request.execute(), name, "dump addresses").await?;
        let mut present = false;
        for a in addrs.into_iter().filter(|a| a.header.index == index) {
            let addr = a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            if link_local.is_some_and(|ll| addr == Some(IpAddr::V6(ll)))
                && a.header.prefix_len == 64
            {
                present = true;
                continue;
            }
            match self.handle.address().del(a).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => {}
                Err(e) => return Err(TunnelError::netlink(name, "delete address", e)),
            }
        }
        if let (Some(ll), false) = (link_local, present) {
            let mut req = self.handle.address().add(index, IpAddr::V6(ll), 64);
            (req.message_mut().attributes).push(AddressAttribute::Flags(AddressFlags::Nodad));
            match req.execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(TunnelError::netlink(
                        name,
                        format!("add address {ll}/64"),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    pub async fn delete_link(&self, name: &str, index: u32) -> Result<(), TunnelError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            // Already gone (wireguard-go removes its TUN when it exits).
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(TunnelError::netlink(name, "delete link", e)),
        }
    }

    /// Brings `lo` up and puts each address on it; an address already there is fine.
    /// Returns the addresses that were missing.
    pub async fn ensure_loopbacks(&self, addrs: &[IpNet]) -> Result<Vec<IpNet>, TunnelError> {
        let lo = self.require_link("lo").await?;
        self.set_mtu_up("lo", lo.index, None).await?;
        let mut added = Vec::new();
        for net in addrs {
            let req = self
                .handle
                .address()
                .add(lo.index, net.addr(), net.prefix_len());
            match req.execute().await {
                Ok(()) => added.push(*net),
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(TunnelError::netlink("lo", format!("add address {net}"), e)),
            }
        }
        Ok(added)
    }

    /// Adds the host routes via `name` to those of `want` that are missing, without replacing
    /// anything: a route another protocol put at the same prefix and metric stays (`EEXIST`).
    /// Returns the routes added; a missing link adds nothing.
    pub async fn restore_host_routes(
        &self,
        name: &str,
        want: &[IpAddr],
    ) -> Result<Vec<IpAddr>, TunnelError> {
        let Some(link) = self.link(name).await? else {
            return Ok(Vec::new());
        };
        let have = self.host_routes(name, link.index).await?;
        let mut added = Vec::new();
        for addr in want.iter().filter(|a| !have.contains(a)) {
            let route = host_route(*addr, link.index);
            match self.handle.route().add(route).execute().await {
                Ok(()) => added.push(*addr),
                Err(e) if errno(&e) == Some(libc::EEXIST) => {
                    tracing::info!(interface = name, %addr,
                        "another route holds the host route's prefix; left alone");
                }
                Err(e) => {
                    return Err(TunnelError::netlink(name, format!("add route {addr}"), e));
                }
            }
        }
        Ok(added)
    }

    /// Makes the host routes via `index` exactly `want`: adds (replacing any route to the same
    /// prefix in the main table) what is missing, deletes ours that are no longer wanted.
    pub async fn sync_host_routes(
        &self,
        name: &str,
        index: u32,
        want: &[IpAddr],
    ) -> Result<(), TunnelError> {
        let have = self.host_routes(name, index).await?;
        for addr in want {
            let route = host_route(*addr, index);
            self.handle
                .route()
                .add(route)
                .replace()
                .execute()
                .await
                .map_err(|e| TunnelError::netlink(name, format!("add route {addr}"), e))?;
        }
        for addr in have.iter().filter(|a| !want.contains(a)) {
            self.delete_host_route(name, index, *addr).await?;
        }
        Ok(())
    }

    /// Deletes every host route of ours via `index`.
    pub async fn clear_host_routes(&self, name: &str, index: u32) -> Result<(), TunnelError> {
        for addr in self.host_routes(name, index).await? {
            self.delete_host_route(name, index, addr).await?;
        }
        Ok(())
    }

    async fn delete_host_route(
        &self,
        name: &str,
        index: u32,
        addr: IpAddr,
    ) -> Result<(), TunnelError> {
        match self
            .handle
            .route()
            .del(host_route(addr, index))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(TunnelError::netlink(
                name,
                format!("delete route {addr}"),
                e,
            )),
        }
    }

    /// Destinations of the main-table host routes with our protocol out of `index`.
    pub async fn host_routes(&self, name: &str, index: u32) -> Result<Vec<IpAddr>, TunnelError> {
        let mut out = Vec::new();
        for filter in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let request = self.handle.route().get(filter);
            let routes: Vec<RouteMessage> = dump(request.execute(), name, "dump routes").await?;
            // The dump ignores header filters without strict checking: filter here.
            out.extend(routes.iter().filter_map(|r| our_host_route(r, index)));
        }
        Ok(out)
    }

    /// Can this kernel create a `wireguard` link? Creates one under a unique temporary name
    /// and deletes it again.
    pub async fn probe_kernel_wireguard(&self) -> Result<(), TunnelError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        // "wgpr" + pid (<= 7 digits) + "x" + seq (< 1000) stays within 15 bytes.
        let probe = format!(
            "wgpr{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed) % 1000
        );
        let msg = LinkWireguard::new(&probe).build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|source| TunnelError::KernelUnavailable {
                probe: probe.clone(),
                source,
            })?;
        let link = self.require_link(&probe).await?;
        self.delete_link(&probe, link.index).await
    }
}

fn host_route(addr: IpAddr, index: u32) -> RouteMessage {
    let protocol = RouteProtocol::from(HOST_ROUTE_PROTOCOL);
    match addr {
        IpAddr::V4(a) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(a, 32)
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(protocol)
            .build(),
        IpAddr::V6(a) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(a, 128)
            .output_interface(index)
            .protocol(protocol)
            .build(),
    }
}

fn our_host_route(r: &RouteMessage, index: u32) -> Option<IpAddr> {
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table));
    let oif = r.attributes.contains(&RouteAttribute::Oif(index));
    let full = match r.header.address_family {
        netlink_packet_route::AddressFamily::Inet => 32,
        _ => 128,
    };
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || !oif
        || u8::from(r.header.protocol) != HOST_ROUTE_PROTOCOL
        || r.header.destination_prefix_length != full
    {
        return None;
    }
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })
}

/// The messages of one netlink dump about interface `name`; a failure says
/// which `operation` it was.
async fn dump<T>(
    messages: impl Stream<Item = Result<T, rtnetlink::Error>>,
    name: &str,
    operation: &str,
) -> Result<Vec<T>, TunnelError> {
    messages
        .try_collect()
        .await
        .map_err(|e| TunnelError::netlink(name, operation, e))
}
