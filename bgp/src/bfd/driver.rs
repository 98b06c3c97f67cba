//! The tokio side of BFD: one task owns the UDP sockets and every
//! [`Session`], feeds them packets and time, sends what they ask, and
//! reports state changes.
//!
//! ```text
//!  Handle ──Command (Add/Remove)──▶ ┌────────────┐ ──Event (state change)──▶ daemon
//!                                   │  BFD task  │ ──Status snapshots──────▶ StatusMap (show)
//!  UDP 4784 (v4, v6) ──packets────▶ │ (sessions) │ ──packets──▶ per-session socket
//!                                   └────────────┘              (local:49152-65535, TTL 255)
//! ```
//!
//! Multihop only (RFC 5883): control packets go to UDP 4784 from a source
//! port in 49152–65535 fixed per session, with TTL 255. RFC 5883 leaves the
//! received TTL unchecked; like FRR's bfdd (`minimum-ttl` 254 by default)
//! a packet arriving with a TTL below [`MIN_TTL`] is dropped, which keeps
//! anything more than one routed hop away out (wgbgp's peers sit at the far
//! end of one WireGuard tunnel).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::BytesMut;
use tokio::net::UdpSocket;

use crate::socket::setsockopt;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::packet::{ControlPacket, Diagnostic, State};
use super::session::{Event as SessionEvent, Session, SessionConfig, Status};

/// RFC 5883 §5: the multihop control port.
pub const MULTIHOP_PORT: u16 = 4784;
/// The smallest received TTL accepted (FRR's multihop default).
pub const MIN_TTL: u8 = 254;

/// A session is named by its two addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    pub local: IpAddr,
    pub remote: IpAddr,
}

/// What the daemon asks of the BFD task.
#[derive(Debug)]
pub enum Command {
    /// Start (or reconfigure) the session.
    Add(SessionKey, SessionConfig),
    /// Stop it, telling the peer AdminDown first.
    Remove(SessionKey),
}

/// A state change, for the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub key: SessionKey,
    pub from: State,
    pub to: State,
    pub diag: Diagnostic,
    /// The state the remote last announced: AdminDown means it took the
    /// session down on purpose, not that the path failed (RFC 5882 §3.2).
    pub remote: State,
}

/// The last status and config of every session, for `show`.
pub type StatusMap = Arc<RwLock<BTreeMap<SessionKey, (SessionConfig, Status)>>>;

/// The daemon's end of the BFD task.
#[derive(Clone)]
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub status: StatusMap,
}

/// Binds UDP 4784 on both families and starts the task.
pub async fn spawn(events: mpsc::UnboundedSender<Event>) -> io::Result<Handle> {
    let v4 = bind_rx(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), MULTIHOP_PORT))?;
    let v6 = bind_rx(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), MULTIHOP_PORT)).ok();
    let (tx, rx) = mpsc::unbounded_channel();
    let status = StatusMap::default();
    let task = Task {
        sessions: BTreeMap::new(),
        next_discr: std::process::id().wrapping_mul(2_654_435_761) | 1,
        status: status.clone(),
        events,
    };
    tokio::spawn(task.run(rx, v4, v6));
    Ok(Handle {
        commands: tx,
        status,
    })
}

fn bind_rx(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            &1,
        )?;
    } else {
        setsockopt(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTTL, &1)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// A sending socket bound to `local` and a port in 49152–65535 (RFC 5881
/// §4, which RFC 5883 keeps), TTL 255.
fn bind_tx(local: IpAddr, seed: u32) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(SocketAddr::new(local, 0));
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..64u32 {
        let port = 49152 + ((seed.wrapping_add(i.wrapping_mul(7919))) % 16384) as u16;
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if local.is_ipv6() {
            s.set_unicast_hops_v6(255)?;
        } else {
            s.set_ttl_v4(255)?;
        }
        s.set_nonblocking(true)?;
        match s.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => return UdpSocket::from_std(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// One datagram with the TTL (hop limit) it arrived with.
fn recv_with_ttl(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY: recvmsg on our fd into buffers that outlive the call; the
    // control buffer is walked with the CMSG macros within msg_controllen.
    unsafe {
        let mut addr = socket2::SockAddrStorage::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut addr as *mut _ as *mut libc::c_void;
        msg.msg_namelen = addr.size_of();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ttl = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT)
            {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let src = socket2::SockAddr::new(addr, msg.msg_namelen)
            .as_socket()
            .ok_or_else(|| io::Error::other("datagram without an IP source"))?;
        Ok((n as usize, src, ttl))
    }
}

struct Entry {
    session: Session,
    socket: Option<UdpSocket>,
    /// The last state reported, so an unchanged one is not re-sent.
    last_warned: Option<String>,
}

struct Task {
    sessions: BTreeMap<SessionKey, Entry>,
    next_discr: u32,
    status: StatusMap,
    events: mpsc::UnboundedSender<Event>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        v4: UdpSocket,
        v6: Option<UdpSocket>,
    ) {
        let mut buf = [0u8; 512];
        loop {
            let deadline = self
                .sessions
                .values()
                .map(|e| e.session.poll_timeout())
                .min()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                r = v4.readable() => if r.is_ok() {
                    self.drain(&v4, &mut buf);
                },
                r = async { v6.as_ref().unwrap().readable().await }, if v6.is_some() => if r.is_ok() {
                    self.drain(v6.as_ref().unwrap(), &mut buf);
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {}
            }
            self.service().await;
        }
        // The daemon is gone: tell every peer AdminDown.
        let keys: Vec<SessionKey> = self.sessions.keys().copied().collect();
        for k in keys {
            self.command(Command::Remove(k)).await;
        }
    }

    async fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Add(key, cfg) => {
                if let Some(e) = self.sessions.get_mut(&key) {
                    if e.session.config() != cfg {
                        e.session.set_config(now, cfg);
                    }
                    return;
                }
                let discr = self.next_discr;
                self.next_discr = self.next_discr.wrapping_add(1).max(1);
                info!(local = %key.local, remote = %key.remote, discr, "BFD session added");
                self.sessions.insert(
                    key,
                    Entry {
                        session: Session::new(discr, cfg, now, discr.rotate_left(7)),
                        socket: None,
                        last_warned: None,
                    },
                );
            }
            Command::Remove(key) => {
                if let Some(mut e) = self.sessions.remove(&key) {
                    e.session.set_admin_down(now, true);
                    if let (Some(p), Some(s)) = (e.session.poll_transmit(now), &e.socket) {
                        let dst = SocketAddr::new(key.remote, MULTIHOP_PORT);
                        let _ = s.send_to(&p.to_bytes(), dst).await;
                    }
                    self.status.write().unwrap().remove(&key);
                    info!(local = %key.local, remote = %key.remote, "BFD session removed");
                }
            }
        }
    }

    /// Reads every queued datagram and hands it to its session.
    fn drain(&mut self, sock: &UdpSocket, buf: &mut [u8]) {
        loop {
            let r = sock.try_io(tokio::io::Interest::READABLE, || recv_with_ttl(sock, buf));
            let (n, src, ttl) = match r {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "BFD receive failed");
                    return;
                }
            };
            let src_ip = match src.ip() {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                v4 => v4,
            };
            if ttl.is_some_and(|t| t < MIN_TTL) {
                debug!(%src, ?ttl, "BFD packet with a TTL below {MIN_TTL} dropped");
                continue;
            }
            let packet = match ControlPacket::decode(&buf[..n]) {
                Ok(p) => p,
                Err(e) => {
                    debug!(%src, error = %e, "BFD packet discarded");
                    continue;
                }
            };
            // RFC 5880 §6.8.6: by Your Discriminator when set, else by address.
            let entry = self.sessions.iter_mut().find(|(k, e)| {
                if packet.your_discriminator != 0 {
                    e.session.local_discr() == packet.your_discriminator
                } else {
                    k.remote == src_ip
                }
            });
            match entry {
                Some((k, e)) => {
                    if let Err(d) = e.session.handle_packet(Instant::now(), &packet) {
                        debug!(remote = %k.remote, "BFD packet discarded: {d}");
                    }
                }
                None => debug!(%src, "BFD packet for no session"),
            }
        }
    }

    /// Timers, transmissions and events of every session.
    async fn service(&mut self) {
        let now = Instant::now();
        let mut out = BytesMut::new();
        for (key, e) in self.sessions.iter_mut() {
            e.session.handle_timeout(now);
            while let Some(p) = e.session.poll_transmit(now) {
                if e.socket.is_none() {
                    match bind_tx(key.local, e.session.local_discr()) {
                        Ok(s) => e.socket = Some(s),
                        Err(err) => {
                            let text = err.to_string();
                            if e.last_warned.as_ref() != Some(&text) {
                                warn!(local = %key.local, error = %text, "cannot bind a BFD socket");
                                e.last_warned = Some(text);
                            }
                            continue;
                        }
                    }
                }
                out.clear();
                p.encode(&mut out);
                let sock = e.socket.as_ref().expect("bound above");
                let dst = SocketAddr::new(key.remote, MULTIHOP_PORT);
                // A full socket buffer or an unreachable peer is just a lost
                // packet: BFD is about noticing exactly that.
                if let Err(err) = sock.try_send_to(&out, dst) {
                    debug!(remote = %key.remote, error = %err, "BFD send failed");
                }
            }
            while let Some(SessionEvent::StateChange { from, to, diag }) = e.session.poll_event() {
                info!(local = %key.local, remote = %key.remote, %from, %to, diag = diag.frr_name(), "BFD session state change");
                let _ = self.events.send(Event {
                    key: *key,
                    from,
                    to,
                    diag,
                    remote: e.session.status().remote_state,
                });
            }
        }
        let mut status = self.status.write().unwrap();
        for (key, e) in &self.sessions {
            status.insert(*key, (e.session.config(), e.session.status()));
        }
    }
}
