//! Route churn soak (issue 6): a peer announces and withdraws `churn`
//! prefixes every `period` for `duration` while wgbgpd's RSS, open fds,
//! threads and tokio tasks are sampled; at the end the kernel must hold
//! exactly the `stable` routes, and the RIB must show exactly those as
//! installed.
//!
//! ```text
//!   sender ns  10.77.0.1 ---- veth ---- 10.77.0.2  receiver ns: wgbgpd
//!   (bench::speaker)                                (AS 64700, passive)
//!   t=0        UPDATE stable routes (announced once)
//!   each period: at 0 announce the churn set (attribute variant i % 4),
//!                at period/2 withdraw it
//! ```
//!
//! The streams are pre-encoded (as the full-table benchmark's) so the sender
//! only writes. RSS "start" is taken after `warmup`, when the allocator has
//! reached its working set; growth after that is what a leak looks like.
//! `scripts/soak.sh` runs ten minutes; `tests/soak.rs` runs the same code
//! for half a minute.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp::wire::{Afi, MpNextHop, encode_announce, encode_withdraw};
use ipnet::IpNet;
use serde_json::{Value, json};

use crate::bench::Topology;
use crate::bench::probe::{fd_count, sample};
use crate::bench::speaker::Session;
use crate::bench::table::{Rng, ctx, gen_attributes, gen_v4, gen_v6};
use crate::{Netns, Wgbgpd};

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct SoakOptions {
    pub duration: Duration,
    /// Prefixes announced and withdrawn every period (9 in 10 IPv4).
    pub churn: usize,
    /// Prefixes announced once that stay (9 in 10 IPv4).
    pub stable: usize,
    pub period: Duration,
    /// Time before the "start" sample.
    pub warmup: Duration,
    /// How long the final state may take to settle.
    pub settle: Duration,
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            duration: Duration::from_secs(600),
            churn: 10_000,
            stable: 1_000,
            period: Duration::from_secs(1),
            warmup: Duration::from_secs(60),
            settle: Duration::from_secs(120),
        }
    }
}

/// One observation of the daemon.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the session came up.
    pub t: f64,
    pub rss: u64,
    pub fds: usize,
    pub threads: usize,
    /// `wgbgp_tokio_tasks` (None if the scrape failed).
    pub tasks: Option<u64>,
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct SoakResult {
    pub opts_churn: usize,
    pub duration_s: f64,
    pub cycles: u64,
    /// Periods in which writing the announce+withdraw took longer than the period.
    pub late_cycles: u64,
    /// First sample (session up, stable routes sent).
    pub first: Sample,
    /// After warmup.
    pub start: Sample,
    /// After the churn, once the final state settled.
    pub end: Sample,
    pub rss_max: u64,
    pub expected_routes: usize,
    pub kernel_routes: usize,
    /// Routes the RIB shows as installed.
    pub rib_installed: usize,
    /// Expected routes missing from the kernel / in the kernel unexpectedly.
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    /// Kernel set differs from the RIB's installed set.
    pub rib_mismatch: Vec<String>,
    pub settle_s: f64,
    /// `wgbgp_fib_operations_total` at the end (all ops): shows the churn
    /// reached the kernel rather than cancelling out inside the RIB.
    pub fib_ops: u64,
    /// (seconds, RSS) every tenth of the run: a leak grows steadily, an
    /// allocator reaching its working set levels off.
    pub timeline: Vec<(f64, u64)>,
    pub notes: Vec<String>,
}

impl SoakResult {
    /// Markdown table of the figures.
    pub fn table(&self) -> String {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let task = |s: &Sample| s.tasks.map_or("-".into(), |t| t.to_string());
        let mut out = String::new();
        out.push_str("| | first | start (after warmup) | end | max |\n|---|---|---|---|---|\n");
        out.push_str(&format!(
            "| RSS MiB | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            mib(self.first.rss),
            mib(self.start.rss),
            mib(self.end.rss),
            mib(self.rss_max)
        ));
        out.push_str(&format!(
            "| fds | {} | {} | {} | |\n| threads | {} | {} | {} | |\n| tokio tasks | {} | {} | {} | |\n",
            self.first.fds,
            self.start.fds,
            self.end.fds,
            self.first.threads,
            self.start.threads,
            self.end.threads,
            task(&self.first),
            task(&self.start),
            task(&self.end)
        ));
        out.push_str(&format!(
            "\n{} cycles of {} prefixes announced+withdrawn in {:.0} s ({} late); \
             {} kernel route operations; kernel {} routes, RIB installed {}, expected {} (missing {}, extra {}, RIB mismatch {}); settled in {:.1} s\n",
            self.cycles,
            self.opts_churn,
            self.duration_s,
            self.late_cycles,
            self.fib_ops,
            self.kernel_routes,
            self.rib_installed,
            self.expected_routes,
            self.missing.len(),
            self.extra.len(),
            self.rib_mismatch.len(),
            self.settle_s
        ));
        let line: Vec<String> = self
            .timeline
            .iter()
            .map(|(t, rss)| format!("{t:.0} s {:.1}", mib(*rss)))
            .collect();
        out.push_str(&format!("RSS MiB over time: {}\n", line.join(", ")));
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    pub fn json(&self) -> Value {
        let s = |s: &Sample| json!({"t": s.t, "rss": s.rss, "fds": s.fds, "threads": s.threads, "tasks": s.tasks});
        json!({
            "churn_prefixes": self.opts_churn,
            "duration_s": self.duration_s,
            "cycles": self.cycles,
            "late_cycles": self.late_cycles,
            "first": s(&self.first),
            "start": s(&self.start),
            "end": s(&self.end),
            "rss_max": self.rss_max,
            "expected_routes": self.expected_routes,
            "kernel_routes": self.kernel_routes,
            "rib_installed": self.rib_installed,
            "missing": self.missing,
            "extra": self.extra,
            "rib_mismatch": self.rib_mismatch,
            "settle_s": self.settle_s,
            "fib_ops": self.fib_ops,
            "timeline": self.timeline,
            "notes": self.notes,
        })
    }
}

/// Pre-encoded traffic.
struct Streams {
    stable: Vec<u8>,
    /// The churn set announced with different attribute sets each time.
    announce: Vec<Vec<u8>>,
    withdraw: Vec<u8>,
    expected: BTreeSet<IpNet>,
}

const VARIANTS: usize = 4;

/// `prefixes` split into `stable` of them and the churn set, interleaved so
/// that both spread over the address space.
fn split_stable(
    prefixes: impl ExactSizeIterator<Item = IpNet>,
    stable: usize,
) -> (Vec<IpNet>, Vec<IpNet>) {
    let every = (prefixes.len() / stable.max(1)).max(1);
    let (mut kept, mut churn) = (Vec::new(), Vec::new());
    for (i, p) in prefixes.enumerate() {
        if i % every == 0 && kept.len() < stable {
            kept.push(p);
        } else {
            churn.push(p);
        }
    }
    (kept, churn)
}

fn streams(t: &Topology, opts: &SoakOptions) -> Streams {
    let ctx = ctx();
    let mut rng = Rng::new(6);
    let split = |n: usize| (n - n / 10, n / 10);
    let (c4, c6) = split(opts.churn);
    let (s4, s6) = split(opts.stable);
    let v4 = gen_v4(&mut rng, c4 + s4);
    let v6 = gen_v6(&mut rng, c6 + s6);
    let (stable, churn) = split_stable(v4.iter().map(|p| IpNet::V4(*p)), s4);
    let (stable6, churn6) = split_stable(v6.iter().map(|p| IpNet::V6(*p)), s6);
    let nh4 = MpNextHop {
        global: IpAddr::V4(t.sender_v4),
        link_local: None,
    };
    let nh6 = MpNextHop {
        global: IpAddr::V6(t.sender_v6),
        link_local: None,
    };
    let encode = |prefixes: &[IpNet], afi: Afi, out: &mut Vec<u8>, rng: &mut Rng| {
        let nh = if afi == Afi::Ipv4 { nh4 } else { nh6 };
        for chunk in prefixes.chunks(3) {
            let attrs = gen_attributes(rng, t.sender_asn);
            for m in encode_announce(&attrs, &nh, afi, chunk, &ctx) {
                out.extend_from_slice(&m);
            }
        }
    };
    let mut s = Vec::new();
    encode(&stable, Afi::Ipv4, &mut s, &mut rng);
    encode(&stable6, Afi::Ipv6, &mut s, &mut rng);
    let announce = (0..VARIANTS)
        .map(|_| {
            let mut a = Vec::new();
            encode(&churn, Afi::Ipv4, &mut a, &mut rng);
            encode(&churn6, Afi::Ipv6, &mut a, &mut rng);
            a
        })
        .collect();
    let mut withdraw = Vec::new();
    for m in encode_withdraw(Afi::Ipv4, &churn, &ctx) {
        withdraw.extend_from_slice(&m);
    }
    for m in encode_withdraw(Afi::Ipv6, &churn6, &ctx) {
        withdraw.extend_from_slice(&m);
    }
    Streams {
        stable: s,
        announce,
        withdraw,
        expected: stable.into_iter().chain(stable6).collect(),
    }
}

const METRICS: &str = "127.0.0.1:9179";

fn config(t: &Topology) -> String {
    crate::bench::receivers::wgbgpd_receiver(t, "churn")
        .metrics(METRICS)
        .render()
}

/// What the fds of `pid` point to (`socket:[123]`, `anon_inode:[eventpoll]`...).
fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{}={}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    v.sort();
    v
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn observe(ns: &Netns, pid: u32, t0: Instant, tasks: bool) -> Sample {
    // Counted before the scrape: its own connection may still be open
    // in the daemon for a moment after the response.
    let fds = fd_count(pid);
    let tasks = tasks
        .then(|| crate::metrics::value(&crate::metrics::scrape(ns, METRICS), "wgbgp_tokio_tasks"))
        .flatten()
        .map(|v| v as u64);
    Sample {
        t: t0.elapsed().as_secs_f64(),
        rss: sample(&[pid]).rss,
        fds,
        threads: thread_count(pid),
        tasks,
    }
}

/// Our routes in the kernel (`ip route show proto bgp`, both families).
pub fn kernel_bgp_routes(ns: &Netns) -> BTreeSet<IpNet> {
    ns.routes("proto bgp")
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(parse_prefix)
        .collect()
}

/// `198.19.0.0/16`, or a bare address meaning its host route.
fn parse_prefix(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Prefixes whose best path the RIB shows as installed, both families.
pub fn rib_installed(d: &Wgbgpd, ns: &Netns) -> BTreeSet<IpNet> {
    let mut out = BTreeSet::new();
    for fam in ["ipv4", "ipv6"] {
        let v = d.cli_json(ns, &["show", "bgp", fam, "unicast"]);
        let Some(routes) = v["routes"].as_object() else {
            continue;
        };
        for (prefix, paths) in routes {
            let installed = paths
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["installed"] == Value::Bool(true)));
            if let (true, Ok(p)) = (installed, prefix.parse()) {
                out.insert(p);
            }
        }
    }
    out
}

fn diff(a: &BTreeSet<IpNet>, b: &BTreeSet<IpNet>) -> Vec<String> {
    a.difference(b).take(20).map(|p| p.to_string()).collect()
}

/// Runs the soak; panics only on harness failures (no session, daemon died).
pub fn run(opts: &SoakOptions) -> SoakResult {
    let t = Topology::default();
    let st = streams(&t, opts);
    let (sns, rns) = t.link(("ksnd", "krcv"), ("ks0", "kr0"));
    let mut d = Wgbgpd::start(&rns, &config(&t));
    let pid = {
        let me = std::process::id();
        let pids: Vec<u32> = rns.pids().into_iter().filter(|p| *p != me).collect();
        assert_eq!(
            pids.len(),
            1,
            "one wgbgpd in the receiver namespace: {pids:?}"
        );
        pids[0]
    };
    let cfg = t.speaker_config();
    let session = sns
        .in_ns(|| Session::connect(&cfg, Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("churn session: {e}\n{}", d.log_text()));
    session.send_stream(&st.stable).expect("stable routes sent");
    let t0 = Instant::now();
    let mut res = SoakResult {
        opts_churn: opts.churn,
        expected_routes: st.expected.len(),
        ..SoakResult::default()
    };
    res.first = observe(&rns, pid, t0, true);
    let mut started = false;
    let mut start_fds = Vec::new();
    // The control socket and metrics are used at the end: use them once
    // before the start sample too, so whatever they set up lazily is there.
    let _ = rib_installed(&d, &rns);
    let mut next = Instant::now();
    while t0.elapsed() < opts.duration {
        let cycle = Instant::now();
        let variant = &st.announce[res.cycles as usize % VARIANTS];
        if let Err(e) = session.send_stream(variant) {
            res.notes.push(format!("sending failed: {e}"));
            break;
        }
        std::thread::sleep((cycle + opts.period / 2).saturating_duration_since(Instant::now()));
        if let Err(e) = session.send_stream(&st.withdraw) {
            res.notes.push(format!("sending failed: {e}"));
            break;
        }
        res.cycles += 1;
        next += opts.period;
        if Instant::now() > next {
            res.late_cycles += 1;
            next = Instant::now();
        }
        let warm = t0.elapsed() >= opts.warmup;
        let s = observe(
            &rns,
            pid,
            t0,
            !started && warm || res.cycles.is_multiple_of(10),
        );
        res.rss_max = res.rss_max.max(s.rss);
        let every = opts.duration.as_secs_f64() / 10.0;
        if res.timeline.last().is_none_or(|(t, _)| s.t >= t + every) {
            res.timeline.push((s.t, s.rss));
        }
        if warm && !started {
            started = true;
            res.start = s;
            start_fds = fd_targets(pid);
        }
        if let Some(f) = session.failure() {
            res.notes.push(format!("session failed: {f}"));
            break;
        }
        d.check_alive();
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    res.duration_s = t0.elapsed().as_secs_f64();
    if !started {
        res.notes.push("ended before the warmup did".into());
        res.start = res.first;
    }
    // Settle: the kernel and the RIB agree with what was sent last.
    let settle = Instant::now();
    let (mut kernel, mut rib);
    loop {
        kernel = kernel_bgp_routes(&rns);
        rib = rib_installed(&d, &rns);
        if (kernel == st.expected && rib == st.expected) || settle.elapsed() > opts.settle {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    res.settle_s = settle.elapsed().as_secs_f64();
    // Anything the daemon keeps per burst (timers, buffers) has gone by now.
    std::thread::sleep(Duration::from_secs(3));
    res.end = observe(&rns, pid, t0, true);
    if res.end.fds != res.start.fds {
        let end_fds = fd_targets(pid);
        let gone: Vec<&String> = start_fds.iter().filter(|f| !end_fds.contains(f)).collect();
        let new: Vec<&String> = end_fds.iter().filter(|f| !start_fds.contains(f)).collect();
        res.notes
            .push(format!("fds closed since start: {gone:?}; opened: {new:?}"));
    }
    res.rss_max = res.rss_max.max(res.end.rss);
    res.timeline.push((res.end.t, res.end.rss));
    res.fib_ops = crate::metrics::scrape(&rns, METRICS)
        .lines()
        .filter(|l| l.starts_with("wgbgp_fib_operations_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64;
    res.kernel_routes = kernel.len();
    res.rib_installed = rib.len();
    res.missing = diff(&st.expected, &kernel);
    res.extra = diff(&kernel, &st.expected);
    res.rib_mismatch = kernel
        .symmetric_difference(&rib)
        .take(20)
        .map(|p| p.to_string())
        .collect();
    if session.failure().is_none() {
        session.close();
    }
    d.check_alive();
    res
}
