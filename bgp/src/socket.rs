//! BGP transport: outgoing connections from the update-source, the TCP 179
//! listener, TCP-MD5 (RFC 2385) and GTSM (RFC 5082).
//!
//! TCP_MD5SIG and IP_MINTTL are not in socket2 or libc's typed API, so they
//! are set with [`setsockopt`] here, the project's one raw `setsockopt`
//! (BFD's receive-TTL options and the netlink sockets' buffer and filter use
//! it too); everything else goes through tokio and socket2.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::driver::Command;

/// Per-peer transport security.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// GTSM: send with TTL 255 and accept only TTL 255 (RFC 5082), for
    /// directly connected peers (one tunnel hop).
    pub ttl_security: bool,
    /// TCP-MD5 signature key (RFC 2385), at most 80 bytes.
    pub password: Option<String>,
    /// TTL (IPv6 hop limit) of the session's packets: 1 for a directly
    /// connected eBGP peer, N for `multihop: N`; `None` keeps the system's.
    /// GTSM sets 255 itself.
    pub ttl: Option<u8>,
    /// The interface a link-local session runs over (SO_BINDTODEVICE): by
    /// name, so it survives the interface being created again.
    pub interface: Option<String>,
}

/// `struct tcp_md5sig` of <linux/tcp.h>.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// `setsockopt(2)` with `value` as the option: for options socket2 does
/// not cover. `T` must be the C type the option expects (a `c_int` for
/// most, or a `#[repr(C)]` struct such as `tcp_md5sig` or `sock_fprog`).
pub fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Installs (or with `None` removes) the MD5 key for `peer` on `fd`.
pub fn set_md5(fd: RawFd, peer: IpAddr, key: Option<&str>) -> io::Result<()> {
    let key = key.unwrap_or("").as_bytes();
    if key.len() > 80 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 key longer than 80 bytes",
        ));
    }
    let sa: socket2::SockAddr = SocketAddr::new(peer, 0).into();
    // SAFETY: all-zero is a valid tcp_md5sig; the address is copied within bounds.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr() as *const u8,
            &mut sig.addr as *mut _ as *mut u8,
            sa.len() as usize,
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// RFC 5082: send with TTL 255, drop anything that arrives with less.
pub fn set_gtsm(fd: RawFd, v6: bool) -> io::Result<()> {
    let v: libc::c_int = 255;
    if v6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &v)?;
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &v)
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &v)?;
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &v)
    }
}

/// Sets the TTL (IPv4) or unicast hop limit (IPv6) of what `fd` sends.
fn set_ttl(fd: RawFd, v6: bool, ttl: u8) -> io::Result<()> {
    let v = libc::c_int::from(ttl);
    if v6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &v)
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &v)
    }
}

/// Applies the per-peer TTL: GTSM's, or `ttl`.
fn apply_ttl(fd: RawFd, v6: bool, t: &Transport) -> io::Result<()> {
    if t.ttl_security {
        set_gtsm(fd, v6)
    } else if let Some(ttl) = t.ttl {
        set_ttl(fd, v6, ttl)
    } else {
        Ok(())
    }
}

/// Where outgoing connections come from (FRR's update-source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Whatever address the kernel picks towards the peer.
    Kernel,
    /// This address (`local_address`, or a tunnel peer's loopback).
    Address(IpAddr),
    /// Our loopback, unless the peer is on a subnet of one of our
    /// interfaces, where the kernel picks (the interface's address): a
    /// plain peer with no `local_address` is either a neighbour on a link
    /// (a provider's /30) or a loopback reached by a route of ours.
    LoopbackUnlessConnected(IpAddr),
}

impl Source {
    /// The address to bind an outgoing connection to `remote` to, now.
    pub fn bind_address(self, remote: IpAddr) -> Option<IpAddr> {
        match self {
            Source::Kernel => None,
            Source::Address(a) => Some(a),
            Source::LoopbackUnlessConnected(a) => (!on_connected_subnet(remote)).then_some(a),
        }
    }
}

/// True if `addr` is in the subnet of an address on one of our interfaces
/// (a host address, /32 or /128, is no subnet).
pub fn on_connected_subnet(addr: IpAddr) -> bool {
    let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    ifaddrs.into_iter().any(|ifa| {
        let (Some(a), Some(mask)) = (ifa.address, ifa.netmask) else {
            return false;
        };
        let net = match (
            a.as_sockaddr_in(),
            mask.as_sockaddr_in(),
            a.as_sockaddr_in6(),
            mask.as_sockaddr_in6(),
        ) {
            (Some(a), Some(m), _, _) => {
                let len = m.ip().to_bits().leading_ones() as u8;
                ipnet::IpNet::new(IpAddr::V4(a.ip()), len).ok()
            }
            (_, _, Some(a), Some(m)) => {
                let len = m.ip().to_bits().leading_ones() as u8;
                ipnet::IpNet::new(IpAddr::V6(a.ip()), len).ok()
            }
            _ => None,
        };
        net.is_some_and(|n| n.prefix_len() < n.max_prefix_len() && n.contains(&addr))
    })
}

/// Opens the outgoing connection from `local` (update-source) to `remote`;
/// with no `local` the kernel picks the source, as it does for any
/// connection. A link-local `remote` is reached over `t.interface`.
pub async fn connect(
    remote: SocketAddr,
    local: Option<IpAddr>,
    t: &Transport,
) -> io::Result<TcpStream> {
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(key) = &t.password {
        set_md5(socket.as_raw_fd(), remote.ip(), Some(key))?;
    }
    apply_ttl(socket.as_raw_fd(), remote.is_ipv6(), t)?;
    if let Some(ifname) = &t.interface {
        socket2::SockRef::from(&socket).bind_device(Some(ifname.as_bytes()))?;
    }
    if let Some(local) = local {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    socket.connect(remote).await
}

/// Applies GTSM or the peer's TTL to an accepted connection (the listener
/// serves every peer, so the per-peer setting is made here).
pub fn secure_accepted(stream: &TcpStream, t: &Transport) -> io::Result<()> {
    let v6 = stream.peer_addr()?.ip().to_canonical().is_ipv6();
    apply_ttl(stream.as_raw_fd(), v6, t)
}

/// Finds the session of a connecting address (a link-local one carries
/// the interface it arrived on as its scope id).
pub type Lookup = Arc<dyn Fn(SocketAddr) -> Option<mpsc::UnboundedSender<Command>> + Send + Sync>;

/// Connections the kernel queues for `accept` on a listener. A hub whose
/// peers all connect at once (after a restart of ours, or theirs) must not
/// drop their SYNs: each dropped one costs its peer a retransmission a
/// second or more later (at 128, 1,000 peers took 1.5 s instead of 0.4 s
/// to come up). The kernel caps it at `net.core.somaxconn` (4096).
const LISTEN_BACKLOG: i32 = 4096;

/// The TCP 179 listeners (one per family). MD5 keys are set on them per
/// peer address, so the kernel checks signatures from the first SYN.
pub struct Listener {
    fds: Vec<(RawFd, bool)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Listener {
    /// Binds `0.0.0.0:port` and, if the host has IPv6, `[::]:port`.
    pub async fn bind(port: u16, lookup: Lookup) -> io::Result<Listener> {
        let mut l = Listener {
            fds: Vec::new(),
            tasks: Vec::new(),
        };
        l.add(SocketAddr::from(([0, 0, 0, 0], port)), lookup.clone())?;
        if let Err(e) = l.add(SocketAddr::from(([0u16; 8], port)), lookup) {
            warn!(error = %e, "no IPv6 BGP listener");
        }
        Ok(l)
    }

    fn add(&mut self, addr: SocketAddr, lookup: Lookup) -> io::Result<()> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        // The kernel answers a SYN (SYN-ACK) from the listening socket: with
        // TTL 255 here, GTSM peers accept the handshake; others don't care.
        if addr.is_ipv6() {
            socket.set_unicast_hops_v6(255)?;
        } else {
            socket.set_ttl_v4(255)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        let listener = TcpListener::from_std(socket.into())?;
        self.fds.push((listener.as_raw_fd(), addr.is_ipv6()));
        self.tasks.push(tokio::spawn(accept_loop(listener, lookup)));
        Ok(())
    }

    /// Sets (or clears) the MD5 key for connections from `peer`.
    pub fn set_md5(&self, peer: IpAddr, key: Option<&str>) -> io::Result<()> {
        for &(fd, v6) in &self.fds {
            if v6 == peer.is_ipv6() {
                set_md5(fd, peer, key)?;
            }
        }
        Ok(())
    }

    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, lookup: Lookup) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let from = match from {
                    SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                        Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                        None => from,
                    },
                    v4 => v4,
                };
                match lookup(from) {
                    Some(session) => {
                        debug!(%from, "accepted BGP connection");
                        let _ = session.send(Command::Incoming(stream));
                    }
                    None => info!(%from, "refused BGP connection from unconfigured address"),
                }
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_of_ours_is_connected_and_a_host_address_is_not() {
        // lo carries 127.0.0.1/8 on any Linux host.
        assert!(on_connected_subnet("127.0.0.5".parse().unwrap()));
        assert!(!on_connected_subnet("198.51.100.77".parse().unwrap()));
        let lo = "10.255.255.1".parse().unwrap();
        assert_eq!(Source::Kernel.bind_address(lo), None);
        assert_eq!(Source::Address(lo).bind_address(lo), Some(lo));
        let own = Source::LoopbackUnlessConnected(lo);
        assert_eq!(own.bind_address("127.0.0.5".parse().unwrap()), None);
        assert_eq!(own.bind_address("198.51.100.77".parse().unwrap()), Some(lo));
    }
}
