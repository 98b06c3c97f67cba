//! The FIB writer over nexthop objects (issue 16, part 1), driven directly (no daemon): routes
//! go in as `nhid N`, re-pointing one object moves all its routes, an object deleted behind
//! our back is reported and put back with its routes, a device that goes down and up costs
//! nothing but the RIB's own rewrite, an earlier run's objects are reused or swept, and the
//! per-route writer is still there when asked for.
//!
//! ```text
//!   netns wgt-<pid>-<n>-nha                      netns wgt-<pid>-<n>-nhb
//!   lo up                                        lo up
//!   nha-<..> 10.77.0.1/24  ─────── veth ───────  nhb-<..> 10.77.0.2/24 10.77.0.3/24 10.77.0.4/24
//!   (FIB writer, watcher and the test body run here, on a thread that setns()'d into it)
//! ```
//!
//! Both namespaces (and with them the veth) are deleted by their guards, also when an
//! assertion fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::{Netns, ifname, link, require_root};
use ipnet::IpNet;
use rib::kernel::{
    FibConfig, FibOp, FibOptions, FibWriter, KernelEvent, KernelNextHop, KernelView, KernelWatcher,
    NHID_BASE, NexthopMode, NexthopTarget,
};

struct Lab {
    a: Netns,
    _b: Netns,
    veth: String,
}

fn lab(tag: &str) -> Lab {
    require_root();
    let a = Netns::new(&format!("{tag}a"));
    let b = Netns::new(&format!("{tag}b"));
    let (va, vb) = (ifname("nha"), ifname("nhb"));
    link((&a, &va, "10.77.0.1/24"), (&b, &vb, "10.77.0.2/24"));
    for extra in ["10.77.0.3/24", "10.77.0.4/24"] {
        b.exec(&["ip", "addr", "add", extra, "dev", &vb]);
    }
    Lab { a, _b: b, veth: va }
}

impl Lab {
    fn ifindex(&self) -> u32 {
        let out = self
            .a
            .stdout(&["cat", &format!("/sys/class/net/{}/ifindex", self.veth)]);
        out.trim().parse().expect("ifindex")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["ip", "-j"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.a.stdout(&full)).expect("ip -j output")
    }

    /// Our routes (proto bgp, main table): prefix → nhid (0 if none).
    fn bgp_routes(&self) -> HashMap<String, u64> {
        let v = self.json(&["route", "show", "proto", "bgp"]);
        (v.as_array().expect("array").iter())
            .map(|r| {
                (
                    r["dst"].as_str().expect("dst").to_string(),
                    r["nhid"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Objects in the namespace: id → (gateway, protocol).
    fn objects(&self) -> HashMap<u64, (String, String)> {
        let v = self.json(&["nexthop", "show"]);
        (v.as_array().expect("array").iter())
            .map(|o| {
                (
                    o["id"].as_u64().expect("id"),
                    (
                        o["gateway"].as_str().unwrap_or("").to_string(),
                        o["protocol"].as_str().unwrap_or("").to_string(),
                    ),
                )
            })
            .collect()
    }

    /// `ip route get ADDR`'s gateway.
    fn gateway_for(&self, addr: &str) -> String {
        let v = self.json(&["route", "get", addr]);
        v[0]["gateway"].as_str().unwrap_or("").to_string()
    }
}

fn cfg() -> FibConfig {
    FibConfig {
        table: 254,
        metric: 20,
        protocol: 186,
    }
}

fn objects_mode() -> FibOptions {
    FibOptions {
        nexthops: NexthopMode::Objects,
        ..FibOptions::default()
    }
}

fn hop(gw: &str, ifindex: u32) -> KernelNextHop {
    KernelNextHop {
        gateway: gw.parse().unwrap(),
        ifindex,
        onlink: false,
    }
}

/// `n` /24s from 100.64.0.0 on, `first` being the index of the first.
fn prefixes(first: u32, n: u32) -> Vec<IpNet> {
    (first..first + n)
        .map(|i| {
            let a = Ipv4Addr::from(0x6440_0000u32 + (i << 8));
            IpNet::new(IpAddr::V4(a), 24).unwrap()
        })
        .collect()
}

fn replace_all(prefixes: &[IpNet], hops: &[KernelNextHop]) -> Vec<FibOp> {
    let shared = Arc::new(hops.to_vec());
    prefixes
        .iter()
        .map(|&prefix| FibOp::Replace {
            prefix,
            nexthops: shared.clone(),
            backup: None,
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Submits `ops` and waits for their result; panics on any failed op.
fn apply(rt: &tokio::runtime::Runtime, w: &mut FibWriter, ops: Vec<FibOp>) {
    rt.block_on(async {
        w.submit(ops).await;
        let r = w.results().recv().await.expect("a result");
        assert!(
            r.errors.is_empty(),
            "failed ops: {:?}",
            &r.errors[..r.errors.len().min(5)]
        );
    });
}

#[test]
fn ten_thousand_routes_over_two_objects_follow_one_repoint() {
    let lab = lab("nh1");
    let oif = lab.ifindex();
    let (a, b, c) = (
        hop("10.77.0.2", oif),
        hop("10.77.0.3", oif),
        hop("10.77.0.4", oif),
    );
    let (via_a, via_b) = (prefixes(0, 5000), prefixes(5000, 5000));
    let (id_a, id_b) = lab.a.in_ns(|| {
        let rt = runtime();
        let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
        assert!(w.uses_objects(), "this kernel has nexthop objects");
        let mut ops = replace_all(&via_a, std::slice::from_ref(&a));
        ops.extend(replace_all(&via_b, std::slice::from_ref(&b)));
        apply(&rt, &mut w, ops);
        let objs = rt.block_on(w.nexthops()).unwrap();
        assert_eq!(objs.len(), 2, "{objs:?}");
        assert!(
            objs.iter().all(|o| o.routes == 5000 && o.installed),
            "{objs:?}"
        );
        let id_of = |h: &KernelNextHop| objs.iter().find(|o| o.nexthops == [h.clone()]).unwrap().id;
        (id_of(&a), id_of(&b))
    });
    assert!(id_a >= NHID_BASE && id_b >= NHID_BASE && id_a != id_b);
    let routes = lab.bgp_routes();
    assert_eq!(routes.len(), 10_000);
    let on = |id: u32| routes.values().filter(|&&n| n == u64::from(id)).count();
    assert_eq!((on(id_a), on(id_b)), (5000, 5000));
    let objects = lab.objects();
    assert_eq!(
        objects[&u64::from(id_a)],
        ("10.77.0.2".into(), "bgp".into())
    );
    assert_eq!(
        objects[&u64::from(id_b)],
        ("10.77.0.3".into(), "bgp".into())
    );

    // The failover: one operation, every route of A follows, B's stay.
    lab.a.in_ns(|| {
        let rt = runtime();
        let w = FibWriter::spawn_with(cfg(), objects_mode()).expect("second writer adopts");
        let moved = rt
            .block_on(w.repoint(NexthopTarget::Hops(vec![a.clone()]), vec![c.clone()]))
            .expect("repoint");
        assert_eq!(moved, id_a);
        // A gateway object cannot become a group.
        let err = rt
            .block_on(w.repoint(NexthopTarget::Id(id_b), vec![b.clone(), c.clone()]))
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        // The RIB catching up with replaces through C leaves the routes where they are.
        let mut w = w;
        apply(
            &rt,
            &mut w,
            replace_all(&via_a[..100], std::slice::from_ref(&c)),
        );
    });
    assert_eq!(lab.objects()[&u64::from(id_a)].0, "10.77.0.4");
    for i in [0usize, 1, 777, 2500, 4999] {
        let addr = via_a[i].addr().to_string();
        assert_eq!(
            lab.gateway_for(&addr),
            "10.77.0.4",
            "{addr} follows the object"
        );
        let addr = via_b[i].addr().to_string();
        assert_eq!(lab.gateway_for(&addr), "10.77.0.3", "{addr} stays");
    }
    let routes = lab.bgp_routes();
    assert_eq!(routes.len(), 10_000);
    assert_eq!(
        routes.values().filter(|&&n| n == u64::from(id_a)).count(),
        5000
    );

    // Withdrawing everything deletes the objects after their last route.
    lab.a.in_ns(|| {
        let rt = runtime();
        let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
        let ops = via_a
            .iter()
            .chain(&via_b)
            .map(|&prefix| FibOp::Delete { prefix })
            .collect();
        apply(&rt, &mut w, ops);
        assert!(rt.block_on(w.nexthops()).unwrap().is_empty());
    });
    assert!(lab.bgp_routes().is_empty());
    assert!(lab.objects().is_empty(), "{:?}", lab.objects());
}

#[test]
fn an_object_deleted_behind_our_back_is_reported_and_restored_with_its_routes() {
    let lab = lab("nh2");
    let oif = lab.ifindex();
    let a = hop("10.77.0.2", oif);
    let routes = prefixes(0, 100);
    let id = lab.a.in_ns(|| {
        let rt = runtime();
        rt.block_on(async {
            let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
            let mut events = KernelWatcher::spawn_with_owner(254, w.port_id()).expect("watcher");
            let first = events.recv().await.expect("first event");
            assert!(matches!(first, KernelEvent::Resync(_)), "{first:?}");
            w.submit(replace_all(&routes, std::slice::from_ref(&a)))
                .await;
            assert!(w.results().recv().await.unwrap().errors.is_empty());
            let id = w.nexthops().await.unwrap()[0].id;
            // Our own object creation is not news.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(ev) = events.try_recv() {
                assert!(
                    !matches!(ev, KernelEvent::OwnNexthopRemoved { .. }),
                    "{ev:?}"
                );
            }
            let out = std::process::Command::new("ip")
                .args(["nexthop", "del", "id", &id.to_string()])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let ev = tokio::time::timeout(left, events.recv())
                    .await
                    .expect("OwnNexthopRemoved within 5 s")
                    .expect("watcher alive");
                if ev == (KernelEvent::OwnNexthopRemoved { id }) {
                    break;
                }
            }
            let gone = std::process::Command::new("ip")
                .args(["-j", "route", "show", "proto", "bgp"])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&gone.stdout).trim(),
                "[]",
                "the kernel took the routes along"
            );
            let restored = w.restore_nexthops().await.expect("restore");
            assert_eq!(
                (restored.objects, restored.routes),
                (1, 100),
                "{restored:?}"
            );
            assert!(restored.errors.is_empty(), "{restored:?}");
            id
        })
    });
    let back = lab.bgp_routes();
    assert_eq!(back.len(), 100);
    assert!(
        back.values().all(|&n| n == u64::from(id)),
        "same object id: {back:?}"
    );
    assert_eq!(lab.gateway_for("100.64.0.1"), "10.77.0.2");
}

#[test]
fn a_device_down_and_up_flushes_objects_and_the_next_batch_puts_them_back() {
    let lab = lab("nh3");
    let oif = lab.ifindex();
    let (a, b) = (hop("10.77.0.2", oif), hop("10.77.0.3", oif));
    let single = prefixes(0, 300);
    let ecmp = prefixes(300, 300);
    lab.a.in_ns(|| {
        let rt = runtime();
        let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
        let mut ops = replace_all(&single, std::slice::from_ref(&a));
        ops.extend(replace_all(&ecmp, &[a.clone(), b.clone()]));
        apply(&rt, &mut w, ops);
        assert_eq!(
            rt.block_on(w.nexthops()).unwrap().len(),
            3,
            "a, b and the group"
        );
        lab.a.exec(&["ip", "link", "set", &lab.veth, "down"]);
        assert!(lab.objects().is_empty(), "the kernel flushed them");
        assert!(lab.bgp_routes().is_empty(), "and their routes");
        lab.a.exec(&["ip", "link", "set", &lab.veth, "up"]);
        // What the RIB does after the link comes back: rewrite the routes through it.
        let mut ops = replace_all(&single, std::slice::from_ref(&a));
        ops.extend(replace_all(&ecmp, &[a.clone(), b.clone()]));
        apply(&rt, &mut w, ops);
        let objs = rt.block_on(w.nexthops()).unwrap();
        assert_eq!(objs.len(), 3, "{objs:?}");
        assert!(objs.iter().all(|o| o.installed));
    });
    let routes = lab.bgp_routes();
    assert_eq!(routes.len(), 600);
    assert!(routes.values().all(|&n| n >= u64::from(NHID_BASE)));
    let objects = lab.objects();
    assert_eq!(objects.len(), 3, "{objects:?}");
}

#[test]
fn the_view_resolves_through_a_route_that_names_only_its_object() {
    let lab = lab("nh4");
    // With compat mode 0 the kernel sends `nhid` and nothing else for such a route.
    lab.a.sysctl("net.ipv4.nexthop_compat_mode", "0");
    lab.a.exec(&[
        "ip",
        "nexthop",
        "add",
        "id",
        "5",
        "via",
        "10.77.0.2",
        "dev",
        &lab.veth,
    ]);
    lab.a.exec(&[
        "ip",
        "route",
        "add",
        "10.99.0.0/16",
        "nhid",
        "5",
        "proto",
        "static",
    ]);
    let oif = lab.ifindex();
    lab.a.in_ns(|| {
        let rt = runtime();
        rt.block_on(async {
            let mut events = KernelWatcher::spawn(254).expect("watcher");
            let mut view = KernelView::new(254);
            let first = events.recv().await.expect("first event");
            view.apply(&first);
            let hops = view
                .resolve("10.99.1.1".parse().unwrap())
                .expect("resolves over nhid 5");
            assert_eq!(hops, vec![hop("10.77.0.2", oif)]);
            // Someone re-points object 5: no route notification in this mode, yet the view
            // follows (the watcher re-reads the table).
            let out = std::process::Command::new("ip")
                .args([
                    "nexthop",
                    "replace",
                    "id",
                    "5",
                    "via",
                    "10.77.0.3",
                    "dev",
                    &lab.veth,
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let deadline = Instant::now() + Duration::from_secs(5);
            while view.resolve("10.99.1.1".parse().unwrap()) != Some(vec![hop("10.77.0.3", oif)]) {
                let left = deadline.saturating_duration_since(Instant::now());
                let ev = tokio::time::timeout(left, events.recv())
                    .await
                    .expect("the view follows the object within 5 s")
                    .expect("watcher alive");
                view.apply(&ev);
            }
        })
    });
}

#[test]
fn forced_per_route_mode_writes_plain_routes() {
    let lab = lab("nh5");
    let oif = lab.ifindex();
    let a = hop("10.77.0.2", oif);
    lab.a.in_ns(|| {
        let rt = runtime();
        let mut w = FibWriter::spawn_with(
            cfg(),
            FibOptions {
                nexthops: NexthopMode::PerRoute,
                ..FibOptions::default()
            },
        )
        .expect("writer");
        assert!(!w.uses_objects());
        apply(
            &rt,
            &mut w,
            replace_all(&prefixes(0, 200), std::slice::from_ref(&a)),
        );
        let err = rt
            .block_on(w.repoint(NexthopTarget::Hops(vec![a.clone()]), vec![a.clone()]))
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        assert!(rt.block_on(w.nexthops()).unwrap().is_empty());
    });
    let routes = lab.json(&["route", "show", "proto", "bgp"]);
    let routes = routes.as_array().unwrap();
    assert_eq!(routes.len(), 200);
    assert!(
        routes
            .iter()
            .all(|r| r.get("nhid").is_none() && r["gateway"] == "10.77.0.2")
    );
    assert!(lab.objects().is_empty());
}

#[test]
fn an_earlier_runs_objects_are_reused_or_swept_and_purge_removes_ours_only() {
    let lab = lab("nh6");
    let oif = lab.ifindex();
    let (kept, stale, foreign) = (NHID_BASE, NHID_BASE + 1, NHID_BASE + 2);
    let dev = lab.veth.clone();
    // The earlier run: an object with 50 routes, one without routes, and someone else's
    // object (proto static) inside our range.
    for (id, gw, proto) in [
        (kept, "10.77.0.2", "bgp"),
        (stale, "10.77.0.3", "bgp"),
        (foreign, "10.77.0.4", "static"),
    ] {
        lab.a.exec(&[
            "ip",
            "nexthop",
            "add",
            "id",
            &id.to_string(),
            "via",
            gw,
            "dev",
            &dev,
            "proto",
            proto,
        ]);
    }
    let old = prefixes(0, 50);
    let batch: String = old
        .iter()
        .map(|p| format!("route add {p} nhid {kept} proto bgp metric 20\n"))
        .collect();
    lab.a.sh(&format!("printf '{batch}' | ip -batch -"));
    lab.a.exec(&[
        "ip",
        "route",
        "add",
        "10.98.0.0/16",
        "nhid",
        &foreign.to_string(),
        "proto",
        "static",
    ]);

    lab.a.in_ns(|| {
        let rt = runtime();
        let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
        let objs = rt.block_on(w.nexthops()).unwrap();
        assert_eq!(objs.len(), 1, "{objs:?}");
        assert_eq!((objs[0].id, objs[0].routes), (kept, 50));
        assert!(
            !lab.objects().contains_key(&u64::from(stale)),
            "swept at start"
        );
        // The same next hop again (graceful restart): the routes stay on the adopted object.
        apply(&rt, &mut w, replace_all(&old, &[hop("10.77.0.2", oif)]));
        // A new next hop gets a new id, never the foreign one.
        apply(
            &rt,
            &mut w,
            replace_all(&prefixes(50, 10), &[hop("10.77.0.4", oif)]),
        );
        let objs = rt.block_on(w.nexthops()).unwrap();
        assert_eq!(
            objs.iter().map(|o| (o.id, o.routes)).collect::<Vec<_>>(),
            vec![(kept, 50), (NHID_BASE + 3, 10)]
        );
        // Purge: one delete per object, the kernel takes the routes along.
        assert_eq!(rt.block_on(w.purge_stale()).unwrap(), 60);
        assert!(rt.block_on(w.nexthops()).unwrap().is_empty());
    });
    assert!(lab.bgp_routes().is_empty());
    let left = lab.objects();
    assert_eq!(
        left.keys().copied().collect::<Vec<_>>(),
        vec![u64::from(foreign)],
        "{left:?}"
    );
    assert!(
        lab.a
            .stdout(&["ip", "route", "show", "10.98.0.0/16"])
            .contains("nhid")
    );
}

/// Counts `RTM_NEWROUTE` notifications on a listener of IPv4 routes until it has been quiet
/// for `quiet`: (caused by port `owner`, by anyone else).
fn count_route_notifications(fd: i32, owner: u32, quiet: Duration) -> (usize, usize) {
    let (mut ours, mut others) = (0, 0);
    let mut buf = vec![0u8; 1 << 16];
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        // SAFETY: recv into a live buffer of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            let e = std::io::Error::last_os_error();
            assert_ne!(e.raw_os_error(), Some(libc::ENOBUFS), "listener overran");
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        last = Instant::now();
        let mut off = 0;
        while off + 16 <= n as usize {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            let port = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap());
            if kind == libc::RTM_NEWROUTE {
                if port == owner {
                    ours += 1
                } else {
                    others += 1
                }
            }
            off += (len + 3) & !3;
            if len == 0 {
                break;
            }
        }
    }
    (ours, others)
}

fn route_listener() -> i32 {
    // SAFETY: plain socket/bind/setsockopt calls on a fresh fd with valid arguments.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        assert!(fd >= 0);
        let size: i32 = 512 << 20;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const i32).cast(),
            4,
        );
        assert_eq!(rc, 0);
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = libc::RTMGRP_IPV4_ROUTE as u32;
        let rc = libc::bind(
            fd,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        assert_eq!(rc, 0);
        fd
    }
}

/// The kernel fact of issue 16, measured with our writer: re-pointing an object used by
/// 100,000 routes (`NH_COMPAT_ROUTES=1000000` for a full table). With `net.ipv4.nexthop_compat_mode=1` (the default) the kernel sends one
/// `RTM_NEWROUTE` per route using it (stamped with the writer's port id, so our watcher's
/// filter drops them, but every other listener gets them all); with 0, none. Prints the time
/// of the repoint and of the purge (one delete per object) for the report.
#[test]
fn compat_mode_decides_whether_a_repoint_notifies_every_route() {
    let n: u32 = std::env::var("NH_COMPAT_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for mode in ["1", "0"] {
        let lab = lab(&format!("nc{mode}"));
        lab.a.sysctl("net.ipv4.nexthop_compat_mode", mode);
        let oif = lab.ifindex();
        let (a, b) = (hop("10.77.0.2", oif), hop("10.77.0.3", oif));
        let routes = prefixes(0, n);
        lab.a.in_ns(|| {
            assert_eq!(rib::kernel::nexthop_compat_mode().unwrap(), mode == "1");
            let rt = runtime();
            let mut w = FibWriter::spawn_with(cfg(), objects_mode()).expect("writer");
            let t = Instant::now();
            apply(&rt, &mut w, replace_all(&routes, std::slice::from_ref(&a)));
            let install = t.elapsed();
            let fd = route_listener();
            // Counted while they come: a full table's worth would not fit a socket buffer.
            let owner = w.port_id();
            let counter = std::thread::spawn(move || {
                count_route_notifications(fd, owner, Duration::from_secs(2))
            });
            let t = Instant::now();
            rt.block_on(w.repoint(NexthopTarget::Hops(vec![a.clone()]), vec![b.clone()]))
                .expect("repoint");
            let repoint = t.elapsed();
            let (ours, others) = counter.join().expect("counter");
            // SAFETY: closing the fd we opened.
            unsafe { libc::close(fd) };
            assert_eq!(lab.gateway_for("100.64.7.1"), "10.77.0.3");
            let t = Instant::now();
            assert_eq!(rt.block_on(w.purge_stale()).unwrap(), n as usize);
            let purge = t.elapsed();
            eprintln!(
                "nexthop_compat_mode={mode}: {n} routes installed in {install:?}; repoint took \
                 {repoint:?} and caused {ours} route notifications (+{others} by others); \
                 purge (1 object) took {purge:?}"
            );
            match mode {
                "1" => assert_eq!(ours, n as usize, "one notification per route"),
                _ => assert_eq!(ours, 0, "no route notification at all"),
            }
            assert_eq!(others, 0);
        });
        assert!(lab.bgp_routes().is_empty());
    }
}
