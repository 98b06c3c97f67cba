//! The kernel watcher's socket filter (`rib::kernel::drop_route_notifications`,
//! installed by `KernelWatcher::spawn_with_owner` with the FIB writer's port
//! id): the notifications the FIB writer's own route changes cause never
//! reach the watcher's socket, while a BGP route added and deleted by
//! another process (`ip route ... proto bgp`) does. Two sockets listen side
//! by side, one with the filter and one without, so the test also shows the
//! notifications were there to be dropped.
//!
//! ```text
//!   netns: d0 (veth to a second netns, 10.200.0.1/24)
//!   FibWriter ── 2,000 × replace, then delete ──► kernel ──► plain socket: 4,000 (pid = writer)
//!                                                        └─► filtered socket: 0
//!   ip route add/del 198.51.100.0/24 proto bgp ──► both sockets: 2 (pid = ip's)
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use integration::{Netns, link, require_root};
use ipnet::IpNet;
use rib::kernel::{FibConfig, FibOp, FibWriter, KernelNextHop, drop_route_notifications};

const N: u32 = 2000;

/// A netlink route socket subscribed to IPv4 route notifications.
fn listener(rcvbuf: i32) -> i32 {
    // SAFETY: plain socket/bind/setsockopt calls on a fresh fd with valid arguments.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let size = &rcvbuf as *const i32 as *const libc::c_void;
        let rc = libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size, 4);
        assert_eq!(rc, 0, "SO_RCVBUFFORCE");
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = libc::RTMGRP_IPV4_ROUTE as u32;
        let rc = libc::bind(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        fd
    }
}

/// Route notifications of protocol 186 queued on `fd`: (caused by `owner`, by others).
fn drain(fd: i32, owner: u32) -> (usize, usize) {
    let (mut ours, mut others) = (0, 0);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // SAFETY: recv into a live buffer of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::WouldBlock,
                "recv (an overrun would lose notifications): {e}"
            );
            return (ours, others);
        }
        let mut at = 0;
        let n = n as usize;
        while at + 16 <= n {
            let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap());
            let len = u32_at(at) as usize;
            let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            let pid = u32_at(at + 12);
            let route = ty == libc::RTM_NEWROUTE || ty == libc::RTM_DELROUTE;
            if route && len >= 16 + 12 && buf[at + 16 + 5] == 186 {
                if pid == owner {
                    ours += 1;
                } else {
                    others += 1;
                }
            }
            if len < 16 {
                break;
            }
            at += (len + 3) & !3;
        }
    }
}

fn wait_drained(fd: i32, owner: u32, want: impl Fn((usize, usize)) -> bool) -> (usize, usize) {
    let mut total = (0, 0);
    for _ in 0..50 {
        let (a, b) = drain(fd, owner);
        total = (total.0 + a, total.1 + b);
        if want(total) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Late stragglers would show here.
    std::thread::sleep(Duration::from_millis(300));
    let (a, b) = drain(fd, owner);
    (total.0 + a, total.1 + b)
}

#[test]
fn the_watcher_filter_drops_the_fib_writers_own_notifications_only() {
    require_root();
    let ns = Netns::new("bpf");
    let far = Netns::new("bpfb");
    link((&ns, "d0", "10.200.0.1/24"), (&far, "d1", "10.200.0.2/24"));
    let ifindex: u32 = ns
        .stdout(&["cat", "/sys/class/net/d0/ifindex"])
        .trim()
        .parse()
        .unwrap_or(0);
    let (mut fib, plain, filtered) = ns.in_ns(|| {
        let fib = FibWriter::spawn_with_batch(
            FibConfig {
                table: 254,
                metric: 20,
                protocol: 186,
            },
            256,
        )
        .expect("FIB writer");
        let plain = listener(16 << 20);
        let filtered = listener(16 << 20);
        drop_route_notifications(filtered, 186, Some(fib.port_id())).expect("attach filter");
        (fib, plain, filtered)
    });
    let owner = fib.port_id();
    assert_ne!(owner, 0);
    let prefixes: Vec<IpNet> = (0..N)
        .map(|i| {
            let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i);
            IpNet::new(IpAddr::V4(a), 32).unwrap()
        })
        .collect();
    let hop = KernelNextHop {
        gateway: IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2)),
        ifindex,
        onlink: false,
    };
    let install: Vec<FibOp> = prefixes
        .iter()
        .map(|&prefix| FibOp::Replace {
            prefix,
            nexthops: vec![hop.clone()].into(),
            backup: None,
        })
        .collect();
    fib.submit_blocking(install);
    let r = fib.results().blocking_recv().expect("FIB writer alive");
    assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    let installed = ns
        .stdout(&["ip", "route", "show", "proto", "bgp"])
        .lines()
        .count();
    assert_eq!(installed, N as usize);
    fib.submit_blocking(
        prefixes
            .iter()
            .map(|&prefix| FibOp::Delete { prefix })
            .collect(),
    );
    let r = fib.results().blocking_recv().expect("FIB writer alive");
    assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    // Someone else adds and deletes a BGP route.
    ns.sh("ip route add 198.51.100.0/24 via 10.200.0.2 proto bgp && ip route del 198.51.100.0/24 proto bgp");

    let seen_plain = wait_drained(plain, owner, |(ours, others)| {
        ours >= 2 * N as usize && others >= 2
    });
    let seen_filtered = wait_drained(filtered, owner, |(_, others)| others >= 2);
    eprintln!("without filter (ours, others): {seen_plain:?}; with filter: {seen_filtered:?}");
    assert_eq!(
        seen_plain,
        (2 * N as usize, 2),
        "every change was notified on the unfiltered socket"
    );
    assert_eq!(
        seen_filtered,
        (0, 2),
        "the filter drops exactly the FIB writer's own notifications"
    );
    // SAFETY: closing fds this test opened.
    unsafe {
        libc::close(plain);
        libc::close(filtered);
    }
}
