//! rib::kernel against a real kernel: the watcher's dump and notifications, next-hop
//! resolution over an interface route, and the FIB writer's install, replace, delete, purge,
//! ECMP and rate. Runs as root in namespaces it creates; fails (never skips) if it cannot.
//!
//! ```text
//!   netns kern-<pid>-<test>-a                 netns kern-<pid>-<test>-b
//!   lo up                                     lo up
//!   kva<pid><n> 192.0.2.1/24  ──── veth ────  kvb<pid><n> 192.0.2.2/24
//!   (watcher, FIB writer and the test body run here, on a thread that setns()'d into it)
//! ```

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rib::kernel::{
    FibConfig, FibOp, FibResult, FibWriter, KernelEvent, KernelNextHop, KernelView, KernelWatcher,
};

// ---------------------------------------------------------------------------------------------
// A tiny netns harness.

/// Runs `ip args...`, panicking with stderr if it fails; returns stdout.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace deleted on drop (also while a failed test unwinds).
struct Netns {
    name: String,
}

impl Netns {
    fn new(name: String) -> Netns {
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> args...`
    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair, both ends up and addressed.
struct Pair {
    a: Netns,
    _b: Netns,
    /// The veth end in `a`.
    veth: String,
}

fn pair(test: &str) -> Pair {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let a = Netns::new(format!("kern-{pid}-{test}-a"));
    let b = Netns::new(format!("kern-{pid}-{test}-b"));
    let (va, vb) = (format!("kva{pid}{n}"), format!("kvb{pid}{n}"));
    assert!(va.len() <= 15, "interface name {va} too long");
    a.ip(&[
        "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "192.0.2.1/24", "dev", &va]);
    b.ip(&["addr", "add", "192.0.2.2/24", "dev", &vb]);
    a.ip(&["link", "set", &va, "up"]);
    b.ip(&["link", "set", &vb, "up"]);
    Pair { a, _b: b, veth: va }
}

/// Runs `body` on a new thread inside netns `ns`, on a fresh tokio runtime; re-raises its panic.
fn in_netns<F, Fut>(ns: &Netns, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let path = format!("/run/netns/{}", ns.name);
    let t = std::thread::spawn(move || {
        let f = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(body());
    });
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Starts a FIB writer inside `ns`: its netlink socket and thread are created on a thread that
/// entered the namespace, so the writer works there while the handle is used from anywhere.
fn writer_in(ns: &Netns, cfg: FibConfig, batch: usize) -> FibWriter {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let f = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        FibWriter::spawn_with_batch(cfg, batch).expect("FIB writer")
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Blocks on one of the writer's async calls from a plain thread.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ifindex(ns: &Netns, dev: &str) -> u32 {
    let out = ns.ip(&["-o", "link", "show", "dev", dev]);
    out.split(':').next().unwrap().trim().parse().unwrap()
}

/// `n` distinct /32s in 198.18.0.0/15.
fn host_routes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i);
            IpNet::new(IpAddr::V4(a), 32).unwrap()
        })
        .collect()
}

/// Submits a batch and waits for its result.
fn run_batch(fib: &mut FibWriter, ops: Vec<FibOp>) -> FibResult {
    fib.submit_blocking(ops);
    fib.results().blocking_recv().expect("FIB writer alive")
}

fn hop(gateway: &str, ifindex: u32, onlink: bool) -> KernelNextHop {
    KernelNextHop {
        gateway: addr(gateway),
        ifindex,
        onlink,
    }
}

/// `Replace` of `prefix` through `hops`, in the writer's table.
fn replace(prefix: IpNet, hops: &[KernelNextHop]) -> FibOp {
    FibOp::replace(None, prefix, hops.to_vec().into())
}

fn replace_all(prefixes: &[IpNet], nexthops: Vec<KernelNextHop>) -> Vec<FibOp> {
    prefixes.iter().map(|&p| replace(p, &nexthops)).collect()
}

fn delete_all(prefixes: &[IpNet]) -> Vec<FibOp> {
    prefixes
        .iter()
        .map(|&prefix| FibOp::Delete { prefix })
        .collect()
}

/// Lines of `ip route show proto bgp table 254` (IPv4) in the pair's first namespace.
fn bgp_routes(p: &Pair) -> Vec<String> {
    p.a.ip(&["route", "show", "proto", "bgp", "table", "254"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn cfg() -> FibConfig {
    FibConfig {
        table: 254,
        metric: 20,
        protocol: 186,
    }
}

/// Waits for events until `done(view)` holds, applying each to `view`; returns how many
/// `Resync`s it saw.
async fn follow(
    rx: &mut tokio::sync::mpsc::Receiver<KernelEvent>,
    view: &mut KernelView,
    what: &str,
    done: impl Fn(&KernelView) -> bool,
) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut resyncs = 0;
    while !done(view) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                resyncs += usize::from(matches!(ev, KernelEvent::Resync(_)));
                view.apply(&ev);
            }
            Ok(None) => panic!("watcher stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; view: {view:?}"),
        }
    }
    resyncs
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn watcher_dumps_links_and_addresses_and_resolves_over_an_interface_route() {
    let p = pair("watch");
    let veth = p.veth.clone();
    let idx = ifindex(&p.a, &veth);
    let ns = p.a.name.clone();
    in_netns(&p.a, move || async move {
        let mut rx = KernelWatcher::spawn(254).expect("watcher");
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("first event in time")
            .expect("watcher alive");
        let KernelEvent::Resync(events) = &first else {
            panic!("first event is not a Resync: {first:?}");
        };
        assert!(
            events.contains(&KernelEvent::LinkChanged {
                ifindex: idx,
                name: veth.clone(),
                up: true
            }),
            "resync lacks the veth: {events:?}"
        );
        assert!(events.contains(&KernelEvent::AddressAdded {
            ifindex: idx,
            addr: addr("192.0.2.1")
        }));
        let mut view = KernelView::new(254);
        assert!(view.apply(&first));
        assert_eq!(view.ifindex(&veth), Some(idx));
        assert_eq!(view.ifname(idx), Some(veth.as_str()));
        assert_eq!(view.resolve(addr("192.0.2.1")), None, "our own address");
        assert_eq!(view.resolve(addr("2.2.2.2")), None);

        ip(&["-n", &ns, "route", "add", "2.2.2.2/32", "dev", &veth]);
        let want = Some(vec![KernelNextHop {
            gateway: addr("2.2.2.2"),
            ifindex: idx,
            onlink: true,
        }]);
        follow(&mut rx, &mut view, "2.2.2.2 to resolve", |v| {
            v.resolve(addr("2.2.2.2")) == want
        })
        .await;

        // A route via a gateway resolves to that gateway.
        ip(&["-n", &ns, "route", "add", "10.9.0.0/16", "via", "192.0.2.2"]);
        follow(
            &mut rx,
            &mut view,
            "10.9.1.1 to resolve via 192.0.2.2",
            |v| {
                v.resolve(addr("10.9.1.1"))
                    == Some(vec![KernelNextHop {
                        gateway: addr("192.0.2.2"),
                        ifindex: idx,
                        onlink: false,
                    }])
            },
        )
        .await;

        // Link down: unusable at once; the kernel silently drops the IPv4 routes, and the
        // resync after the link change must tell the view so they stay gone after link up.
        ip(&["-n", &ns, "link", "set", &veth, "down"]);
        follow(&mut rx, &mut view, "link down", |v| {
            !v.is_up(idx) && v.resolve(addr("2.2.2.2")).is_none()
        })
        .await;
        ip(&["-n", &ns, "link", "set", &veth, "up"]);
        follow(
            &mut rx,
            &mut view,
            "link up with the flushed routes gone",
            |v| v.is_up(idx) && v.resolve(addr("192.0.2.2")).is_some(),
        )
        .await;
        assert_eq!(
            view.resolve(addr("2.2.2.2")),
            None,
            "kernel flushed this route"
        );
        assert_eq!(
            view.resolve(addr("10.9.1.1")),
            None,
            "kernel flushed this route"
        );

        // Our own (BGP) routes never reach the view.
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "3.3.3.3/32",
            "dev",
            &veth,
            "proto",
            "bgp",
        ]);
        ip(&["-n", &ns, "route", "add", "4.4.4.4/32", "dev", &veth]);
        follow(&mut rx, &mut view, "4.4.4.4 to resolve", |v| {
            v.resolve(addr("4.4.4.4")).is_some()
        })
        .await;
        assert_eq!(view.resolve(addr("3.3.3.3")), None);
    });
}

#[test]
fn fib_writer_installs_replaces_and_deletes_onlink_routes() {
    let p = pair("fib");
    let veth = p.veth.clone();
    let idx = ifindex(&p.a, &veth);
    let prefixes = host_routes(1000);
    let mut fib = writer_in(&p.a, cfg(), rib::kernel::DEFAULT_BATCH);

    // Install: `via 2.2.2.2 dev X onlink`, the shape of a next hop resolved over `dev X`.
    let r = run_batch(
        &mut fib,
        replace_all(&prefixes, vec![hop("2.2.2.2", idx, true)]),
    );
    assert_eq!((r.op_count, r.errors.clone()), (1000, vec![]));
    let lines = bgp_routes(&p);
    assert_eq!(lines.len(), 1000);
    // (`ip route show proto bgp` leaves out the `proto bgp` it filtered on.)
    let want = format!("via 2.2.2.2 dev {veth} metric 20 onlink");
    assert!(
        lines.iter().all(|l| l.trim_end().ends_with(&want)),
        "first: {:?}",
        lines.first()
    );
    let one = p.a.ip(&["route", "show", "198.18.3.231"]);
    assert_eq!(
        one.trim_end(),
        format!("198.18.3.231 via 2.2.2.2 dev {veth} proto bgp metric 20 onlink")
    );
    let own = block_on(fib.dump_own()).unwrap();
    assert_eq!(own.len(), 1000);
    assert!(own.iter().all(|r| r.metric == 20
        && r.protocol == 186
        && r.table == 254
        && r.gateway == Some(addr("2.2.2.2"))
        && r.oif == Some(idx)));

    // Replace: the same prefixes via the connected neighbour, no onlink.
    let r = run_batch(
        &mut fib,
        replace_all(&prefixes, vec![hop("192.0.2.2", idx, false)]),
    );
    assert_eq!(r.errors, vec![]);
    let lines = bgp_routes(&p);
    assert_eq!(lines.len(), 1000);
    let want = format!("via 192.0.2.2 dev {veth} metric 20");
    assert!(
        lines.iter().all(|l| l.trim_end().ends_with(&want)),
        "first: {:?}",
        lines.first()
    );

    // Delete, then delete again: a missing route is not an error.
    let r = run_batch(&mut fib, delete_all(&prefixes));
    assert_eq!(r.errors, vec![]);
    assert_eq!(bgp_routes(&p), Vec::<String>::new());
    let r = run_batch(&mut fib, delete_all(&prefixes));
    assert_eq!(r.errors, vec![], "deleting a missing route is not an error");
}

#[test]
fn fib_writer_reports_failures_per_prefix() {
    let p = pair("err");
    let idx = ifindex(&p.a, &p.veth);
    let mut fib = writer_in(&p.a, cfg(), 3);
    let (ok1, bad, ok2, v6) = (
        net("198.19.0.0/24"),
        net("198.19.1.0/24"),
        net("198.19.2.0/24"),
        net("2001:db8::/32"),
    );
    // 10.9.9.9 is on no connected prefix and not onlink: the kernel refuses it. An IPv6
    // prefix cannot take an IPv4 gateway: refused before sending. Batches of 3 put the bad
    // op in the middle of a send(), where the writer asks for no ack and must still see it.
    let r = run_batch(
        &mut fib,
        vec![
            replace(ok1, &[hop("2.2.2.2", idx, true)]),
            replace(bad, &[hop("10.9.9.9", idx, false)]),
            replace(ok2, &[hop("2.2.2.2", idx, true)]),
            replace(v6, &[hop("2.2.2.2", idx, true)]),
            replace(net("198.19.3.0/24"), &[]),
        ],
    );
    let failed: Vec<IpNet> = r.errors.iter().map(|(p, _)| *p).collect();
    // No next hop at all is a blackhole route (RFC 7999), not an error.
    assert_eq!(failed, vec![bad, v6], "{:?}", r.errors);
    assert!(
        r.errors
            .iter()
            .any(|(p, e)| *p == bad && e.contains("errno")),
        "{:?}",
        r.errors
    );
    assert_eq!(bgp_routes(&p).len(), 3, "{:?}", bgp_routes(&p));
    assert!(
        bgp_routes(&p)
            .iter()
            .any(|r| r.starts_with("blackhole 198.19.3.0/24")),
        "{:?}",
        bgp_routes(&p)
    );
    // Ops on one prefix apply in order: the last one wins.
    let r = run_batch(
        &mut fib,
        vec![
            FibOp::Delete { prefix: ok1 },
            replace(ok1, &[hop("2.2.2.3", idx, true)]),
            replace(ok2, &[hop("2.2.2.3", idx, true)]),
            FibOp::Delete { prefix: ok2 },
        ],
    );
    assert_eq!(r.errors, vec![]);
    let lines = bgp_routes(&p);
    // The blackhole route from the first batch is still there.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("198.19.0.0/24 via 2.2.2.3 "),
        "{lines:?}"
    );
}

#[test]
fn fib_writer_installs_ecmp_ipv6_and_ipv4_over_ipv6_routes() {
    let p = pair("ecmp");
    let veth = p.veth.clone();
    let idx = ifindex(&p.a, &veth);
    let mut fib = writer_in(&p.a, cfg(), rib::kernel::DEFAULT_BATCH);
    let r = run_batch(
        &mut fib,
        vec![
            replace(
                net("198.19.0.0/24"),
                &[hop("2.2.2.2", idx, true), hop("2.2.2.3", idx, true)],
            ),
            replace(net("2001:db8:100::/48"), &[hop("fe80::2", idx, false)]),
            replace(
                net("2001:db8:200::/48"),
                &[hop("fe80::2", idx, true), hop("fe80::3", idx, true)],
            ),
            // RFC 8950: IPv4 prefix, IPv6 next hop (RTA_VIA).
            replace(net("198.19.9.0/24"), &[hop("fe80::2", idx, false)]),
        ],
    );
    assert_eq!(r.errors, vec![]);
    let ecmp = p.a.ip(&["route", "show", "198.19.0.0/24", "proto", "bgp"]);
    for gw in ["2.2.2.2", "2.2.2.3"] {
        let want = format!("nexthop via {gw} dev {veth} weight 1 onlink");
        assert!(ecmp.contains(&want), "missing `{want}` in:\n{ecmp}");
    }
    assert!(ecmp.starts_with("198.19.0.0/24 metric 20"), "{ecmp}");
    let v6 = p.a.ip(&["-6", "route", "show", "proto", "bgp"]);
    assert!(
        v6.contains(&format!(
            "2001:db8:100::/48 via fe80::2 dev {veth} metric 20"
        )),
        "{v6}"
    );
    assert!(
        v6.contains(&format!("nexthop via fe80::2 dev {veth} weight 1 onlink")),
        "{v6}"
    );
    assert!(
        v6.contains(&format!("nexthop via fe80::3 dev {veth} weight 1 onlink")),
        "{v6}"
    );
    let v4v6 = p.a.ip(&["route", "show", "198.19.9.0/24"]);
    assert!(
        v4v6.contains(&format!("via inet6 fe80::2 dev {veth} proto bgp metric 20")),
        "{v4v6}"
    );
    let own = block_on(fib.dump_own()).unwrap();
    assert_eq!(own.len(), 4, "{own:?}");
    let m = own
        .iter()
        .find(|r| r.prefix == net("198.19.0.0/24"))
        .unwrap();
    assert_eq!(
        m.multipath,
        vec![(Some(addr("2.2.2.2")), idx), (Some(addr("2.2.2.3")), idx)]
    );
}

#[test]
fn purge_stale_removes_only_our_protocol_in_our_table() {
    let p = pair("purge");
    let idx = ifindex(&p.a, &p.veth);
    let prefixes = host_routes(300);
    {
        // An "earlier run" that left its routes behind.
        let mut old = writer_in(&p.a, cfg(), rib::kernel::DEFAULT_BATCH);
        let r = run_batch(
            &mut old,
            replace_all(&prefixes, vec![hop("2.2.2.2", idx, true)]),
        );
        assert_eq!(r.errors, vec![]);
    }
    // Another metric, still ours; a static route; a bgp route in another table.
    p.a.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "192.0.2.2",
        "proto",
        "bgp",
        "metric",
        "30",
    ]);
    p.a.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "192.0.2.2",
        "proto",
        "static",
    ]);
    p.a.ip(&[
        "route",
        "add",
        "198.51.101.0/24",
        "via",
        "192.0.2.2",
        "proto",
        "bgp",
        "table",
        "100",
    ]);
    p.a.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:7::/48",
        "via",
        "fe80::2",
        "dev",
        &p.veth,
        "proto",
        "bgp",
    ]);
    let fib = writer_in(&p.a, cfg(), rib::kernel::DEFAULT_BATCH);
    assert_eq!(block_on(fib.purge_stale()).unwrap(), 302);
    assert_eq!(bgp_routes(&p), Vec::<String>::new());
    assert_eq!(p.a.ip(&["-6", "route", "show", "proto", "bgp"]), "");
    let left = p.a.ip(&["route", "show", "198.51.100.0/24"]);
    assert!(
        left.contains("proto static"),
        "static route must stay: {left:?}"
    );
    let other = p.a.ip(&["route", "show", "table", "100"]);
    assert!(
        other.contains("198.51.101.0/24"),
        "other table must stay: {other:?}"
    );
    assert_eq!(block_on(fib.purge_stale()).unwrap(), 0);
}

#[test]
fn install_and_delete_rate_100k() {
    let p = pair("rate");
    let idx = ifindex(&p.a, &p.veth);
    let prefixes = host_routes(100_000);
    for batch in [rib::kernel::DEFAULT_BATCH, 1024, 1] {
        let mut fib = writer_in(&p.a, cfg(), batch);
        let install = replace_all(&prefixes, vec![hop("2.2.2.2", idx, true)]);
        let start = Instant::now();
        let r = run_batch(&mut fib, install);
        let t_install = start.elapsed();
        assert_eq!(
            r.errors.len(),
            0,
            "first errors: {:?}",
            &r.errors[..r.errors.len().min(3)]
        );
        let count = block_on(fib.dump_own()).unwrap().len();
        assert_eq!(count, 100_000);
        let start = Instant::now();
        let r = run_batch(&mut fib, delete_all(&prefixes));
        let t_delete = start.elapsed();
        assert_eq!(r.errors.len(), 0);
        assert_eq!(block_on(fib.dump_own()).unwrap().len(), 0);
        println!(
            "batch {batch:>3}: install 100k in {:.3}s = {:.0} routes/s; delete in {:.3}s = {:.0} routes/s",
            t_install.as_secs_f64(),
            100_000.0 / t_install.as_secs_f64(),
            t_delete.as_secs_f64(),
            100_000.0 / t_delete.as_secs_f64(),
        );
    }
}

/// The watcher during a 100k install by the FIB writer in the same namespace, with its usual
/// buffer, and with a tiny one left unread during the install so that it must overrun: either
/// way it keeps going, resyncs after an overrun, and never reports our BGP routes. `fib_cfg`
/// says how the flood is installed: BGP routes never reach the watcher's socket (a socket
/// filter drops them), so the overrun needs routes of another protocol (in another table,
/// so that the view stays small).
fn watch_during_full_table(test: &str, rcvbuf: Option<usize>, fib_cfg: FibConfig) -> usize {
    let p = pair(test);
    let veth = p.veth.clone();
    let idx = ifindex(&p.a, &veth);
    let ns = p.a.name.clone();
    let prefixes = host_routes(100_000);
    let mut fib = writer_in(&p.a, fib_cfg, rib::kernel::DEFAULT_BATCH);
    let owner = fib.port_id();
    let (tx, rx_count) = std::sync::mpsc::channel();
    in_netns(&p.a, move || async move {
        // As the daemon runs it: the writer's own notifications filtered out
        // by its port id.
        let mut rx = match rcvbuf {
            Some(b) => KernelWatcher::spawn_with_buffer(254, b),
            None => KernelWatcher::spawn_with_owner(254, owner),
        }
        .expect("watcher");
        let mut view = KernelView::new(254);
        follow(&mut rx, &mut view, "the first resync", |v| v.is_up(idx)).await;
        let install = move || {
            let r = run_batch(
                &mut fib,
                replace_all(&prefixes, vec![hop("2.2.2.2", idx, true)]),
            );
            assert_eq!(r.errors.len(), 0);
            fib
        };
        let fib = if rcvbuf.is_some() {
            // Block this (only) runtime thread: the watcher's socket is not read meanwhile,
            // so its small buffer must overrun.
            std::thread::spawn(install).join().unwrap()
        } else {
            tokio::task::spawn_blocking(install).await.unwrap()
        };
        ip(&["-n", &ns, "route", "add", "5.5.5.5/32", "dev", &veth]);
        let resyncs = follow(
            &mut rx,
            &mut view,
            "5.5.5.5 to resolve after the flood",
            |v| v.resolve(addr("5.5.5.5")).is_some(),
        )
        .await;
        assert!(
            view.route_count() < 10,
            "BGP routes leaked into the view: {}",
            view.route_count()
        );
        assert_eq!(view.resolve(addr("198.18.0.1")), None);
        drop(fib);
        tx.send(resyncs).unwrap();
    });
    rx_count.recv().unwrap()
}

#[test]
fn watcher_keeps_up_while_the_fib_writer_installs_a_full_table() {
    let resyncs = watch_during_full_table("flood", None, cfg());
    println!("watcher resyncs during a 100k install: {resyncs}");
    assert_eq!(
        resyncs, 0,
        "our own routes are filtered out: nothing to overrun"
    );
}

#[test]
fn watcher_resyncs_after_an_overrun() {
    let static_elsewhere = FibConfig {
        table: 100,
        metric: 20,
        protocol: 4,
    };
    let resyncs = watch_during_full_table("overrun", Some(64 << 10), static_elsewhere);
    assert!(
        resyncs >= 1,
        "a 64 KiB buffer cannot hold 100k notifications"
    );
}
