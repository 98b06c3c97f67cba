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

/// Opens the outgoing connection from `local` (update-source) to `remote`.
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
    if t.ttl_security {
        set_gtsm(socket.as_raw_fd(), remote.is_ipv6())?;
    }
    if let Some(local) = local {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    socket.connect(remote).await
}

/// Applies GTSM to an accepted connection (the listener serves every peer,
/// so the per-peer setting is made here).
pub fn secure_accepted(stream: &TcpStream, t: &Transport) -> io::Result<()> {
    if t.ttl_security {
        let v6 = stream.peer_addr()?.ip().to_canonical().is_ipv6();
        set_gtsm(stream.as_raw_fd(), v6)?;
    }
    Ok(())
}

/// Finds the session of a connecting address.
pub type Lookup = Arc<dyn Fn(IpAddr) -> Option<mpsc::UnboundedSender<Command>> + Send + Sync>;

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
        socket.listen(128)?;
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
                let ip = from.ip().to_canonical();
                match lookup(ip) {
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
