//! One measured run: a fresh sender and receiver namespace, one receiver,
//! the whole table in, then the sender gone and the table out.
//!
//! ```text
//!  sender netns                          receiver netns
//!  fullfeed speaker (thread)             wgbgpd | BIRD | FRR | ip -batch | FibWriter
//!  fs0 10.77.0.1/24 fd77::1/64 ── veth ── fr0 10.77.0.2/24 fd77::2/64
//!  AS 64600                              AS 64700, routes into table main
//! ```
//!
//! Clock: one `Instant` clock in this process. "Established" is when the
//! sender reads the receiver's KEEPALIVE; "all in kernel" is the first poll
//! (every `poll`, 10 ms by default) of the route monitor's count that sees
//! all N routes of the receiver's protocol in the main table; "sender gone"
//! is just before the sender writes its Cease NOTIFICATION and closes;
//! "clean" is the first poll that sees none left.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rib::kernel::{FibConfig, FibOp, FibWriter, KernelNextHop, KernelRoute};

use super::Topology;
use super::monitor::RouteMonitor;
use super::probe::{ProcSample, RouteCount, sample};
use super::receivers::{self, ReceiverKind};
use super::report::RunInfo;
use super::speaker::Session;
use super::table::Table;
use crate::Netns;

/// Knobs of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Give up waiting for convergence (or for a clean table) after this.
    pub timeout: Duration,
    /// Route count poll interval.
    pub poll: Duration,
    /// Compare the kernel's routes with the table by a full dump (slow at
    /// 1M: a second or two, outside the timed part).
    pub verify: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(600),
            poll: Duration::from_millis(10),
            verify: true,
        }
    }
}

/// What one run measured. Times in seconds, sizes in bytes; `None` where a
/// figure does not apply (floors have no RSS) or was not reached.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Who ran, the load before, and what went wrong.
    pub info: RunInfo,
    pub v4: usize,
    pub v6: usize,
    /// Established → all routes in the kernel (floors: start → all in).
    pub converge_s: Option<f64>,
    /// Established → last UPDATE octet taken by the sender's socket.
    pub stream_s: Option<f64>,
    /// Sender gone → no route left (floors: start of the deletes → none left).
    pub withdraw_s: Option<f64>,
    /// Receiver processes before the session came up, at convergence, and
    /// their peak (VmHWM summed over processes) at the end.
    pub rss_idle: Option<u64>,
    pub rss_converged: Option<u64>,
    pub peak_rss: Option<u64>,
    /// VmHWM (summed) at convergence: tells whether the peak came while
    /// taking the table in or while removing it.
    pub peak_rss_converged: Option<u64>,
    /// CPU seconds (user + system) from Established to convergence, and
    /// from sender gone to clean.
    pub cpu_converge_s: Option<f64>,
    pub cpu_withdraw_s: Option<f64>,
    /// Full dump matched the table exactly (prefixes, protocol, gateway).
    pub verified: Option<bool>,
}

impl RunResult {
    /// Converged, cleaned up and (if checked) verified.
    pub fn ok(&self) -> bool {
        self.converge_s.is_some()
            && self.withdraw_s.is_some()
            && self.verified != Some(false)
            && self.info.notes.is_empty()
    }
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Builds the two namespaces and the veth between them.
fn topology_netns(t: &Topology) -> (Netns, Netns) {
    let (s, r) = t.link(("bsnd", "brcv"), ("fs0", "fr0"));
    // The kernel adds the link-local address and its routes on its own
    // shortly after the link is up; the route baseline must come after that.
    crate::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        "a usable link-local address on fr0",
        || {
            let out = r.stdout(&["ip", "-6", "addr", "show", "dev", "fr0", "scope", "link"]);
            out.contains("fe80") && !out.contains("tentative")
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    (s, r)
}

/// Route counts before anything was installed, and with the whole table.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    base: RouteCount,
    target: RouteCount,
}

impl Bounds {
    fn full(&self, c: RouteCount) -> bool {
        c.v4 >= self.target.v4 && c.v6 >= self.target.v6
    }

    fn clean(&self, c: RouteCount) -> bool {
        c.v4 <= self.base.v4 && c.v6 <= self.base.v6
    }
}

fn secs(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64()
}

/// Runs the whole measurement for one receiver.
pub fn run(kind: ReceiverKind, table: &Table, t: &Topology, opts: &RunOptions) -> RunResult {
    let mut res = RunResult {
        info: RunInfo::new(kind),
        v4: table.v4.len(),
        v6: table.v6.len(),
        ..RunResult::default()
    };
    let (sns, rns) = topology_netns(t);
    let counter = RouteMonitor::start(&rns, kind.protocol());
    // The daemon starts first: addresses it puts on `lo` belong to the baseline.
    let daemon = kind.is_bgp().then(|| {
        let d = receivers::start(kind, &rns, t);
        // Start-up (and BIRD's first kernel scan) is not what is measured.
        std::thread::sleep(Duration::from_secs(1));
        d
    });
    let base = counter.count();
    let target = RouteCount {
        v4: base.v4 + table.v4.len() as u64,
        v6: base.v6 + table.v6.len() as u64,
    };
    let bounds = Bounds { base, target };
    if let Some(daemon) = daemon {
        run_bgp(
            daemon, table, t, opts, &sns, &rns, &counter, bounds, &mut res,
        );
    } else {
        run_floor(kind, table, t, opts, &rns, &counter, bounds, &mut res);
    }
    if counter.overruns() > 0 {
        res.info.notes.push(format!(
            "route monitor overran {} times: counts and times are not reliable",
            counter.overruns()
        ));
    }
    drop(counter);
    drop(rns);
    drop(sns);
    // Namespace teardown goes on in the kernel for a while and slows the next run.
    std::thread::sleep(Duration::from_secs(2));
    res
}

#[allow(clippy::too_many_arguments)]
fn run_bgp(
    mut daemon: receivers::Running,
    table: &Table,
    t: &Topology,
    opts: &RunOptions,
    sns: &Netns,
    rns: &Netns,
    counter: &RouteMonitor,
    b: Bounds,
    res: &mut RunResult,
) {
    let me = std::process::id();
    let pids: Vec<u32> = rns.pids().into_iter().filter(|p| *p != me).collect();
    res.rss_idle = Some(sample(&pids).rss);
    let cfg = t.speaker_config();
    let session = match sns.in_ns(|| Session::connect(&cfg, Duration::from_secs(60))) {
        Ok(s) => s,
        Err(e) => {
            res.info.notes.push(format!("session not established: {e}"));
            res.info.notes.push(daemon.log_tail(20));
            return;
        }
    };
    let est = session.established_at;
    let at_est = sample(&pids);
    let converged = std::thread::scope(|scope| {
        let sender = scope.spawn(|| session.send_stream(&table.stream));
        let r = counter.wait(opts.timeout, opts.poll, |c| b.full(c));
        let sent = sender.join().expect("sender thread");
        (r, sent)
    });
    let (conv, sent) = converged;
    match sent {
        Ok(at) => res.stream_s = Some(secs(est, at)),
        Err(e) => res
            .info
            .notes
            .push(format!("sending the table failed: {e}")),
    }
    match conv {
        Ok((at, _)) => {
            let s = sample(&pids);
            res.converge_s = Some(secs(est, at));
            res.rss_converged = Some(s.rss);
            res.peak_rss_converged = Some(s.hwm);
            res.cpu_converge_s = Some(s.cpu - at_est.cpu);
        }
        Err(last) => {
            res.info.notes.push(format!(
                "not converged after {:?}: kernel has {} IPv4 + {} IPv6 of {} + {} (with baseline)",
                opts.timeout,
                last.v4,
                last.v6,
                table.v4.len(),
                table.v6.len()
            ));
            if let Some(f) = session.failure() {
                res.info.notes.push(format!("session: {f}"));
            }
            res.info.notes.push(daemon.log_tail(20));
        }
    }
    daemon.check_alive();
    if opts.verify && res.converge_s.is_some() {
        verify(daemon.kind(), table, t, rns, res);
    }
    if let Some(f) = session.failure() {
        res.info.notes.push(format!("session failed: {f}"));
    }
    let before_close = sample(&pids);
    let gone = session.close();
    match counter.wait(opts.timeout, opts.poll, |c| b.clean(c)) {
        Ok((at, _)) => {
            let s = sample(&pids);
            res.withdraw_s = Some(secs(gone, at));
            res.cpu_withdraw_s = Some(s.cpu - before_close.cpu);
        }
        Err(last) => res.info.notes.push(format!(
            "not clean after {:?}: {} IPv4 + {} IPv6 routes left above the baseline",
            opts.timeout,
            last.v4.saturating_sub(b.base.v4),
            last.v6.saturating_sub(b.base.v6),
        )),
    }
    let end: ProcSample = sample(&pids);
    res.peak_rss = Some(end.hwm);
    daemon.check_alive();
    drop(daemon);
}

/// The routes of `protocol` in `rns`'s main table, by a full netlink dump
/// (a second or two at 1M routes).
pub fn dump_routes(rns: &Netns, protocol: u8) -> std::io::Result<Vec<KernelRoute>> {
    let cfg = FibConfig {
        table: 254,
        metric: 0,
        protocol,
    };
    rns.in_ns(|| {
        let writer = FibWriter::spawn(cfg).expect("netlink socket");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(writer.dump_own())
    })
}

/// Compares the kernel's routes of the receiver's protocol with the table.
fn verify(kind: ReceiverKind, table: &Table, t: &Topology, rns: &Netns, res: &mut RunResult) {
    let routes = match dump_routes(rns, kind.protocol()) {
        Ok(r) => r,
        Err(e) => {
            res.info
                .notes
                .push(format!("verification dump failed: {e}"));
            res.verified = Some(false);
            return;
        }
    };
    let want: HashSet<IpNet> = table.prefixes().collect();
    let mut seen = HashSet::with_capacity(routes.len());
    let mut bad_gw = 0usize;
    let mut extra = 0usize;
    for r in &routes {
        if !want.contains(&r.prefix) {
            extra += 1;
            continue;
        }
        let gw_ok = match r.gateway {
            Some(IpAddr::V4(g)) => g == t.sender_v4,
            Some(IpAddr::V6(g)) => g == t.sender_v6,
            None => false,
        };
        if !gw_ok {
            bad_gw += 1;
        }
        seen.insert(r.prefix);
    }
    let missing = want.len() - seen.len();
    let ok = missing == 0 && extra == 0 && bad_gw == 0;
    if !ok {
        res.info.notes.push(format!(
            "verification: {missing} missing, {extra} unexpected, {bad_gw} with a wrong gateway \
             (of {} routes with protocol {})",
            routes.len(),
            kind.protocol()
        ));
    }
    res.verified = Some(ok);
}

#[allow(clippy::too_many_arguments)]
fn run_floor(
    kind: ReceiverKind,
    table: &Table,
    t: &Topology,
    opts: &RunOptions,
    rns: &Netns,
    counter: &RouteMonitor,
    b: Bounds,
    res: &mut RunResult,
) {
    let prefixes: Vec<IpNet> = table.prefixes().collect();
    match kind {
        ReceiverKind::IpBatch => {
            let dir = crate::TempDir::new("ipbatch");
            let gw = |p: &IpNet| match p {
                IpNet::V4(_) => t.sender_v4.to_string(),
                IpNet::V6(_) => t.sender_v6.to_string(),
            };
            let add: String = prefixes
                .iter()
                .map(|p| format!("route add {p} via {} dev fr0 proto bgp metric 20\n", gw(p)))
                .collect();
            let del: String = prefixes
                .iter()
                .map(|p| format!("route del {p} via {} dev fr0 proto bgp metric 20\n", gw(p)))
                .collect();
            let add = dir.write("add.batch", &add);
            let del = dir.write("del.batch", &del);
            for (file, is_add) in [(add, true), (del, false)] {
                let mut cmd = rns.command(&["ip".as_ref(), "-batch".as_ref(), file.as_os_str()]);
                cmd.stdout(std::process::Stdio::null());
                let start = Instant::now();
                let mut child = rns.spawn(cmd);
                // Stop waiting early if `ip` gives up (it stops at the first error).
                let mut exited = None;
                let r = counter.wait(opts.timeout, opts.poll, |c| {
                    let done = if is_add { b.full(c) } else { b.clean(c) };
                    if !done && exited.is_some() {
                        return true;
                    }
                    exited = exited.or_else(|| child.try_wait());
                    done
                });
                let r = match r {
                    Ok((at, c)) if (is_add && b.full(c)) || (!is_add && b.clean(c)) => Ok((at, c)),
                    Ok((_, c)) | Err(c) => Err(c),
                };
                let status = match exited {
                    Some(st) => st,
                    None => child.stop(Duration::from_secs(60)),
                };
                let secs_taken = match r {
                    Ok((at, _)) => Some(secs(start, at)),
                    Err(last) => {
                        res.info.notes.push(format!(
                            "ip -batch ({}): kernel at {last:?}, baseline {:?}, target {:?}",
                            if is_add { "add" } else { "del" },
                            b.base,
                            b.target
                        ));
                        None
                    }
                };
                if !status.success() {
                    res.info.notes.push(format!("ip -batch exited {status}"));
                }
                if is_add {
                    res.converge_s = secs_taken;
                    if opts.verify && secs_taken.is_some() {
                        verify(kind, table, t, rns, res);
                    }
                } else {
                    res.withdraw_s = secs_taken;
                }
            }
        }
        ReceiverKind::Netlink | ReceiverKind::NetlinkRandom => {
            let mut prefixes = prefixes;
            if kind == ReceiverKind::NetlinkRandom {
                // Fisher-Yates with the table's seed.
                let mut rng = super::table::Rng::new(table.spec.seed ^ 0x5eed);
                for i in (1..prefixes.len()).rev() {
                    prefixes.swap(i, rng.below(i as u64 + 1) as usize);
                }
            }
            let (conv, errors) = rns.in_ns(|| netlink_add(&prefixes, t));
            res.converge_s = Some(conv);
            if errors > 0 {
                res.info.notes.push(format!("{errors} FIB ops failed"));
            }
            if let Err(c) = counter.wait(Duration::from_secs(10), opts.poll, |c| b.full(c)) {
                res.info.notes.push(format!("after the writer: {c:?}"));
            }
            if opts.verify {
                verify(kind, table, t, rns, res);
            }
            let (wd_s, errors) = rns.in_ns(|| netlink_delete(&prefixes));
            res.withdraw_s = Some(wd_s);
            if errors > 0 {
                res.info.notes.push(format!("{errors} FIB deletes failed"));
            }
            if counter
                .wait(Duration::from_secs(10), opts.poll, |c| b.clean(c))
                .is_err()
            {
                res.info.notes.push("routes left after the deletes".into());
            }
        }
        _ => unreachable!("BGP receivers go through run_bgp"),
    }
}

/// Ops per submitted batch (the writer packs 256 per `send()` inside).
const FLOOR_SUBMIT: usize = 4096;

fn fib_run(ops: Vec<FibOp>) -> (f64, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut writer = FibWriter::spawn(FibConfig::default()).expect("netlink socket");
    let start = Instant::now();
    let mut batches = 0;
    let mut ops = ops;
    while !ops.is_empty() {
        let rest = ops.split_off(ops.len().min(FLOOR_SUBMIT));
        writer.submit_blocking(ops);
        ops = rest;
        batches += 1;
    }
    let mut errors = 0;
    rt.block_on(async {
        for _ in 0..batches {
            let r = writer.results().recv().await.expect("writer result");
            errors += r.errors.len();
        }
    });
    (start.elapsed().as_secs_f64(), errors)
}

/// Installs every prefix through `FibWriter`; returns seconds and failures.
fn netlink_add(prefixes: &[IpNet], t: &Topology) -> (f64, usize) {
    let name = std::ffi::CString::new("fr0").unwrap();
    // SAFETY: if_nametoindex reads a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex > 0, "fr0 not found in the receiver netns");
    let ops = prefixes
        .iter()
        .map(|p| FibOp::Replace {
            prefix: *p,
            nexthops: std::sync::Arc::new(vec![KernelNextHop {
                gateway: match p {
                    IpNet::V4(_) => IpAddr::V4(t.sender_v4),
                    IpNet::V6(_) => IpAddr::V6(t.sender_v6),
                },
                ifindex,
                onlink: false,
            }]),
            backup: None,
        })
        .collect();
    fib_run(ops)
}

/// Deletes every prefix through `FibWriter`; returns seconds and failures.
fn netlink_delete(prefixes: &[IpNet]) -> (f64, usize) {
    fib_run(
        prefixes
            .iter()
            .map(|p| FibOp::Delete { prefix: *p })
            .collect(),
    )
}
