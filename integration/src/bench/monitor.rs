//! Counting a receiver's routes while it installs a million of them.
//!
//! Polling the kernel is too dear at that size: a read of
//! `/proc/net/fib_triestat` walks the whole trie and took ~170 ms of system
//! time at 1M routes on the 2-core machine, and a netlink dump is slower
//! still. Instead a thread listens to the rtnetlink route notifications the
//! kernel sends for every change anyway (`RTMGRP_IPV4_ROUTE`,
//! `RTMGRP_IPV6_ROUTE`; BIRD, zebra and wgbgpd listen to the same ones),
//! keeps the set of routes of one protocol in the main table, and publishes
//! its size. A notification is sent inside the syscall that changes the
//! table, so "the set is full" is "the kernel holds them all", give or take
//! the monitor's own reading delay.
//!
//! The socket's receive buffer is forced to 512 MiB so that it does not
//! overrun while the receiver installs at full speed; an overrun (ENOBUFS)
//! is counted and reported, since lost notifications make the count wrong.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libc::{RTA_DST, RTA_TABLE, RTM_DELROUTE, RTM_NEWROUTE, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE};

use crate::Netns;

use super::probe::RouteCount;

#[derive(Default)]
struct Shared {
    v4: AtomicU64,
    v6: AtomicU64,
    overruns: AtomicU64,
    stop: AtomicBool,
}

/// The listening thread; stops on drop.
pub struct RouteMonitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RouteMonitor {
    /// Starts listening in `ns` for routes with `rtm_protocol == protocol`
    /// in the main table.
    pub fn start(ns: &Netns, protocol: u8) -> RouteMonitor {
        let fd = ns.in_ns(open_socket).expect("rtnetlink monitor socket");
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("route-monitor".into())
                .spawn(move || listen(fd, protocol, &shared))
                .expect("spawn monitor thread")
        };
        RouteMonitor {
            shared,
            thread: Some(thread),
        }
    }

    /// Routes of the protocol in the main table now.
    pub fn count(&self) -> RouteCount {
        RouteCount {
            v4: self.shared.v4.load(Ordering::Acquire),
            v6: self.shared.v6.load(Ordering::Acquire),
        }
    }

    /// Receive-buffer overruns so far (0 if the count can be trusted).
    pub fn overruns(&self) -> u64 {
        self.shared.overruns.load(Ordering::Relaxed)
    }

    /// Checks every `poll` until `done(count)` holds; returns the instant
    /// it was first seen and the count, or `Err(last count)` after `timeout`.
    pub fn wait(
        &self,
        timeout: Duration,
        poll: Duration,
        mut done: impl FnMut(RouteCount) -> bool,
    ) -> Result<(Instant, RouteCount), RouteCount> {
        let start = Instant::now();
        loop {
            let c = self.count();
            let at = Instant::now();
            if done(c) {
                return Ok((at, c));
            }
            if start.elapsed() >= timeout {
                return Err(c);
            }
            std::thread::sleep(poll);
        }
    }
}

impl Drop for RouteMonitor {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); ownership goes to OwnedFd at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let size: libc::c_int = 512 << 20;
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: option values are plain ints/timeval of the sizes given.
    unsafe {
        if libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of_val(&size) as libc::socklen_t,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // Wake up now and then to see whether we should stop.
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout as *const _ as *const libc::c_void,
            std::mem::size_of_val(&timeout) as libc::socklen_t,
        );
    }
    // SAFETY: all-zero sockaddr_nl, then the fields we need.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = (RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE) as u32;
    // SAFETY: sa is a valid sockaddr_nl.
    let rc = unsafe {
        libc::bind(
            raw,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// (family, destination, prefix length)
type Key = (u8, [u8; 16], u8);

fn listen(fd: OwnedFd, protocol: u8, shared: &Shared) {
    const SLOTS: usize = 256;
    const SLOT: usize = 8192;
    let mut bufs = vec![[0u8; SLOT]; SLOTS];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: SLOT,
        })
        .collect();
    // SAFETY: mmsghdr is plain data; every header points at its own iovec.
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut routes: HashSet<Key> = HashSet::new();
    let (mut v4, mut v6) = (0u64, 0u64);
    while !shared.stop.load(Ordering::SeqCst) {
        // SAFETY: msgs/iovs/bufs outlive the call and describe valid buffers.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                SLOTS as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    shared.overruns.fetch_add(1, Ordering::Relaxed);
                }
                Some(libc::EAGAIN) | Some(libc::EINTR) => {}
                _ => return,
            }
            continue;
        }
        for (m, buf) in msgs.iter().zip(bufs.iter()).take(n as usize) {
            let len = (m.msg_len as usize).min(SLOT);
            for (ty, key) in parse(&buf[..len], protocol) {
                let changed = if ty == RTM_NEWROUTE {
                    routes.insert(key)
                } else {
                    routes.remove(&key)
                };
                if changed {
                    let d: i64 = if ty == RTM_NEWROUTE { 1 } else { -1 };
                    if key.0 == libc::AF_INET as u8 {
                        v4 = v4.wrapping_add_signed(d);
                    } else {
                        v6 = v6.wrapping_add_signed(d);
                    }
                }
            }
        }
        shared.v4.store(v4, Ordering::Release);
        shared.v6.store(v6, Ordering::Release);
    }
}

/// Route messages of `protocol` in the main table within one datagram.
fn parse(mut b: &[u8], protocol: u8) -> Vec<(u16, Key)> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(b[4..6].try_into().unwrap());
        if len < 16 || len > b.len() {
            break;
        }
        let msg = &b[16..len];
        if (ty == RTM_NEWROUTE || ty == RTM_DELROUTE)
            && msg.len() >= 12
            && let Some(key) = route_key(msg, protocol)
        {
            out.push((ty, key));
        }
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

/// `struct rtmsg` + attributes → key, if the route is ours to count.
fn route_key(msg: &[u8], protocol: u8) -> Option<Key> {
    let (family, dst_len, table8, proto) = (msg[0], msg[1], msg[4], msg[5]);
    if proto != protocol {
        return None;
    }
    let mut table = table8 as u32;
    let mut dst = [0u8; 16];
    let mut attrs = &msg[12..];
    while attrs.len() >= 4 {
        let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let aty = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if alen < 4 || alen > attrs.len() {
            break;
        }
        let v = &attrs[4..alen];
        match aty {
            RTA_DST => {
                let n = v.len().min(16);
                dst[..n].copy_from_slice(&v[..n]);
            }
            RTA_TABLE if v.len() >= 4 => table = u32::from_ne_bytes(v[..4].try_into().unwrap()),
            _ => {}
        }
        attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
    }
    (table == u32::from(libc::RT_TABLE_MAIN)).then_some((family, dst, dst_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_msg(ty: u16, family: u8, dst: &[u8], len: u8, table: u32, proto: u8) -> Vec<u8> {
        let mut body = vec![family, len, 0, 0, 254, proto, 0, 1, 0, 0, 0, 0];
        let attr = |ty: u16, v: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&ty.to_ne_bytes());
            out.extend_from_slice(v);
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        };
        attr(RTA_TABLE, &table.to_ne_bytes(), &mut body);
        attr(RTA_DST, dst, &mut body);
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn parses_route_notifications_of_one_protocol_in_main() {
        let mut dgram = route_msg(RTM_NEWROUTE, 2, &[198, 51, 100, 0], 24, 254, 186);
        dgram.extend(route_msg(
            RTM_DELROUTE,
            10,
            &[0x20, 1, 0xd, 0xb8],
            32,
            254,
            186,
        ));
        dgram.extend(route_msg(RTM_NEWROUTE, 2, &[192, 0, 2, 0], 24, 254, 12));
        dgram.extend(route_msg(RTM_NEWROUTE, 2, &[192, 0, 2, 0], 24, 100, 186));
        let got = parse(&dgram, 186);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, RTM_NEWROUTE);
        assert_eq!((got[0].1.0, got[0].1.2), (2, 24));
        assert_eq!(&got[0].1.1[..4], &[198, 51, 100, 0]);
        assert_eq!(got[1].0, RTM_DELROUTE);
        assert_eq!((got[1].1.0, got[1].1.2), (10, 32));
    }
}
