//! The many-peers benchmark (issue 17, `fullfeed --peers`): one receiver
//! with P plain eBGP peers, each announcing its own R routes, wgbgpd and
//! BIRD 2 measured in the same run.
//!
//! ```text
//!  sender netns                                   receiver netns
//!  fullfeed: P sessions, one tokio task each      wgbgpd | BIRD, P passive peers
//!  fs0 10.80.0.2 … (P addresses)/16 ── veth ──── fr0 10.80.0.1/16
//!  peer i: AS 4200000000+i, from 10.80.0.0+2+i    AS 64700, routes into table main
//!          R routes /24 from 20.0.0.0 up
//! ```
//!
//! The receiver has a permanent neighbour entry for every peer address:
//! dynamic entries count against the host-wide `gc_thresh3` (1,024 by
//! default, shared by every namespace), permanent ones do not.
//!
//! The sender runs `in_flight` handshakes at a time (8 by default: BIRD's
//! listen backlog; see [`sender::Fleet::start`]).
//!
//! Clock (one `Instant` clock in this process): from the moment the sender
//! starts connecting (the receiver has been up for a second) to "all
//! Established" (the last session's KEEPALIVE read by the sender) and to
//! "all routes in kernel" (the route monitor's count, see
//! [`super::monitor`]). CPU is the receiver's utime + stime over the same
//! span; idle CPU is what it uses in the `idle` seconds after a one-second
//! settle following convergence, in percent of one core; peak RSS is its
//! VmHWM at the end.
//!
//! - [`sender`]: the P sessions.
//! - [`report`]: medians, per-peer bytes, the markdown table, JSON.

pub mod report;
pub mod sender;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::wire::{AsPath, MpNextHop, PathAttributes, encode_announce, end_of_rib};
use ipnet::{IpNet, Ipv4Net};

use super::monitor::RouteMonitor;
use super::probe::{RouteCount, sample};
use super::receivers::ReceiverKind;
use super::report::RunInfo;
use super::run::dump_routes;
use crate::config::{Config, Peer};
use crate::{Bird, Netns, Wgbgpd, veth};
use sender::{Fleet, PeerSpec};

/// The receiver's address on the link, and the first peer's.
pub const RECEIVER: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);
const FIRST_PEER: u32 = u32::from_be_bytes([10, 80, 0, 2]);
/// The receiver's AS and its loopbacks (wgbgpd wants one per family).
pub const RECEIVER_ASN: u32 = 64_700;
const RECEIVER_LO_V4: &str = "10.80.255.255/32";
const RECEIVER_LO_V6: &str = "fd80:ff::1/128";
/// Peer `i` is in AS `PEER_ASN_BASE + i` (RFC 6996 private 4-octet ASNs).
pub const PEER_ASN_BASE: u32 = 4_200_000_000;
/// Routes are consecutive /24s from here, peer by peer.
const FIRST_ROUTE: u32 = u32::from_be_bytes([20, 0, 0, 0]);
/// At most this many peers fit the /16 of the link.
pub const MAX_PEERS: usize = 65_000;

/// Knobs of a many-peers run.
#[derive(Debug, Clone, Copy)]
pub struct PeersOptions {
    /// Routes each peer announces.
    pub routes: usize,
    /// Prefixes per UPDATE (each UPDATE its own attribute set).
    pub per_update: usize,
    /// How long idle CPU is measured after convergence.
    pub idle: Duration,
    /// Hold time both sides are configured with (KEEPALIVE every third).
    pub hold_time: u16,
    /// Give up waiting for Established or for the routes after this.
    pub timeout: Duration,
    /// Poll interval of the route count and the session count.
    pub poll: Duration,
    /// Compare the kernel's routes with what was sent (prefix, gateway).
    pub verify: bool,
    /// Handshakes the sender runs at once (0: all at once).
    pub in_flight: usize,
}

impl Default for PeersOptions {
    fn default() -> Self {
        PeersOptions {
            routes: 100,
            per_update: 3,
            idle: Duration::from_secs(30),
            hold_time: 90,
            timeout: Duration::from_secs(300),
            poll: Duration::from_millis(10),
            verify: true,
            in_flight: 8,
        }
    }
}

/// What one run measured; times in seconds from the sender's first
/// connect, sizes in bytes, `None` where a figure was not reached.
#[derive(Debug, Clone, Default)]
pub struct PeersResult {
    /// Who ran, the load before, and what went wrong.
    pub info: RunInfo,
    pub peers: usize,
    pub routes_per_peer: usize,
    /// Handshakes the sender ran at once (0: all).
    pub in_flight: usize,
    pub established_s: Option<f64>,
    pub fib_s: Option<f64>,
    /// RSS with every peer configured, before any session.
    pub rss_configured: Option<u64>,
    /// RSS at convergence and at the end of the idle window.
    pub rss_converged: Option<u64>,
    pub rss_idle_end: Option<u64>,
    /// VmHWM at the end.
    pub peak_rss: Option<u64>,
    /// CPU seconds from process start until the sessions begin (start-up
    /// with P peers configured).
    pub cpu_start_s: Option<f64>,
    /// CPU seconds from the first connect to all routes in the kernel.
    pub cpu_converge_s: Option<f64>,
    /// CPU over the idle window, percent of one core.
    pub idle_cpu_percent: Option<f64>,
    pub idle_s: f64,
    /// Handshakes the sender had to try again (connections the receiver
    /// closed or reset before Established).
    pub retries: usize,
    /// The kernel's routes of the receiver's protocol were exactly those sent.
    pub verified: Option<bool>,
}

impl PeersResult {
    /// Every session up, every route in, nothing went wrong.
    pub fn ok(&self) -> bool {
        self.established_s.is_some()
            && self.fib_s.is_some()
            && self.verified != Some(false)
            && self.info.notes.is_empty()
    }

    /// (RSS at the end − RSS before the sessions) / P: what the sessions
    /// and their routes added, per peer.
    pub fn added_per_peer(&self) -> Option<f64> {
        match (self.rss_idle_end, self.rss_configured) {
            (Some(e), Some(c)) if self.peers > 0 => Some((e as f64 - c as f64) / self.peers as f64),
            _ => None,
        }
    }
}

/// Peer `i`'s address.
pub fn peer_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_PEER + i as u32)
}

/// Peer `i`'s routes.
pub fn peer_routes(i: usize, routes: usize) -> Vec<Ipv4Net> {
    (0..routes)
        .map(|j| {
            let k = (i * routes + j) as u32;
            Ipv4Net::new(Ipv4Addr::from(FIRST_ROUTE + (k << 8)), 24).expect("/24")
        })
        .collect()
}

/// Peer `i`'s UPDATEs (`per_update` prefixes each, AS_PATH `peer, origin`
/// with its own origin AS per UPDATE, NEXT_HOP the peer) and End-of-RIB.
pub fn peer_stream(i: usize, routes: usize, per_update: usize) -> Vec<u8> {
    let ctx = super::table::ctx();
    let asn = PEER_ASN_BASE + i as u32;
    let nh = MpNextHop {
        global: IpAddr::V4(peer_address(i)),
        link_local: None,
    };
    let mut out = Vec::new();
    for (u, chunk) in peer_routes(i, routes).chunks(per_update.max(1)).enumerate() {
        let attrs = PathAttributes {
            as_path: AsPath::from_sequence([asn, 64_512 + (u as u32 % 1_000)]),
            ..PathAttributes::default()
        };
        let prefixes: Vec<IpNet> = chunk.iter().map(|p| IpNet::V4(*p)).collect();
        for msg in encode_announce(&attrs, &nh, bgp::wire::Afi::Ipv4, &prefixes, &ctx) {
            out.extend_from_slice(&msg);
        }
    }
    out.extend_from_slice(&end_of_rib(
        bgp::wire::Afi::Ipv4,
        bgp::wire::Safi::Unicast,
        &ctx,
    ));
    out
}

/// wgbgpd with `peers` passive plain peers: accept all, export nothing.
pub fn wgbgpd_config(peers: usize, hold_time: u16) -> String {
    let rid = RECEIVER.to_string();
    let mut c = Config::new(&rid, RECEIVER_ASN)
        .loopback(RECEIVER_LO_V4)
        .loopback(RECEIVER_LO_V6);
    for i in 0..peers {
        c = c.peer(
            Peer::plain(
                &format!("p{i:05}"),
                PEER_ASN_BASE + i as u32,
                &peer_address(i).to_string(),
                &rid,
            )
            .set("passive", "true")
            .set("hold_time", &hold_time.to_string())
            .policies("accept-all", "nothing"),
        );
    }
    c.accept_all("accept-all").reject_all("nothing").render()
}

/// BIRD 2 with `peers` passive BGP protocols (import all, export none) and
/// the kernel protocol exporting everything, as in the full-table bench.
pub fn bird_config(peers: usize, hold_time: u16) -> String {
    let mut s = format!(
        r#"log stderr {{ warning, error, auth, fatal, bug }};
router id {RECEIVER};
protocol device {{ }}
protocol kernel kernel4 {{
    ipv4 {{ import none; export all; }};
    learn off;
}}
template bgp peer {{
    local {RECEIVER} as {RECEIVER_ASN};
    passive on;
    hold time {hold_time};
    ipv4 {{ import all; export none; }};
}}
"#
    );
    for i in 0..peers {
        s.push_str(&format!(
            "protocol bgp p{i:05} from peer {{ neighbor {} as {}; }}\n",
            peer_address(i),
            PEER_ASN_BASE + i as u32
        ));
    }
    s
}

/// The two namespaces, the veth, the P addresses on the sender's side and
/// the receiver's permanent neighbour entries for them.
fn topology(peers: usize) -> (Netns, Netns) {
    assert!(
        (1..=MAX_PEERS).contains(&peers),
        "--peers must be 1..={MAX_PEERS}"
    );
    let s = Netns::new("psnd");
    let r = Netns::new("prcv");
    veth(&s, "fs0", None, &r, "fr0", Some(&format!("{RECEIVER}/16")));
    let mac = s
        .stdout(&["cat", "/sys/class/net/fs0/address"])
        .trim()
        .to_string();
    let dir = crate::TempDir::new("peers");
    let addrs: String = (0..peers)
        .map(|i| format!("address add {}/16 dev fs0\n", peer_address(i)))
        .collect();
    let neigh: String = (0..peers)
        .map(|i| {
            format!(
                "neighbour replace {} lladdr {mac} dev fr0 nud permanent\n",
                peer_address(i)
            )
        })
        .collect();
    let addrs = dir.write("addrs.batch", &addrs);
    let neigh = dir.write("neigh.batch", &neigh);
    s.exec(&["ip".as_ref(), "-batch".as_ref(), addrs.as_os_str()]);
    r.exec(&["ip".as_ref(), "-batch".as_ref(), neigh.as_os_str()]);
    (s, r)
}

/// The receiver under test.
enum Receiver {
    Wgbgpd(Wgbgpd),
    Bird(Bird),
}

impl Receiver {
    fn check_alive(&mut self) {
        match self {
            Receiver::Wgbgpd(d) => d.check_alive(),
            Receiver::Bird(b) => b.check_alive(),
        }
    }
}

/// Seconds from `a` to `b`.
fn secs(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64()
}

/// CPU seconds (utime + stime) a process has used since it started.
fn process_cpu(pids: &[u32]) -> f64 {
    sample(pids).cpu
}

/// Runs one measurement: `kind` (wgbgpd or BIRD) with `peers` peers.
pub fn run_peers(kind: ReceiverKind, peers: usize, opts: &PeersOptions) -> PeersResult {
    let mut res = PeersResult {
        info: RunInfo::new(kind),
        peers,
        routes_per_peer: opts.routes,
        in_flight: opts.in_flight,
        idle_s: opts.idle.as_secs_f64(),
        ..PeersResult::default()
    };
    let streams: Vec<PeerSpec> = (0..peers)
        .map(|i| PeerSpec {
            asn: PEER_ASN_BASE + i as u32,
            address: peer_address(i),
            stream: Arc::new(peer_stream(i, opts.routes, opts.per_update)),
        })
        .collect();
    let (sns, rns) = topology(peers);
    let counter = RouteMonitor::start(&rns, kind.protocol());
    let mut receiver = match kind {
        ReceiverKind::Wgbgpd => {
            Receiver::Wgbgpd(Wgbgpd::start(&rns, &wgbgpd_config(peers, opts.hold_time)))
        }
        ReceiverKind::Bird => {
            Receiver::Bird(Bird::start(&rns, &bird_config(peers, opts.hold_time)))
        }
        other => panic!("{}: --peers runs wgbgpd and bird only", other.name()),
    };
    // Start-up (and BIRD's first kernel scan) is not what is measured.
    std::thread::sleep(Duration::from_secs(1));
    let me = std::process::id();
    let pids: Vec<u32> = rns.pids().into_iter().filter(|p| *p != me).collect();
    let before = sample(&pids);
    res.rss_configured = Some(before.rss);
    res.cpu_start_s = Some(before.cpu);
    let base = counter.count();
    let want = base.v4 + (peers * opts.routes) as u64;
    let fleet = Fleet::start(
        &sns,
        IpAddr::V4(RECEIVER),
        streams,
        opts.hold_time,
        Duration::from_secs(60),
        opts.in_flight,
    );
    let t0 = fleet.started;
    // Both clocks at once: sessions and routes.
    let deadline = t0 + opts.timeout;
    let (mut est_at, mut fib_at) = (None, None);
    let mut last = RouteCount::default();
    while Instant::now() < deadline && (est_at.is_none() || fib_at.is_none()) {
        if est_at.is_none() {
            est_at = fleet.all_established_at();
        }
        last = counter.count();
        if fib_at.is_none() && last.v4 >= want {
            fib_at = Some(Instant::now());
            let s = sample(&pids);
            res.cpu_converge_s = Some(s.cpu - before.cpu);
            res.rss_converged = Some(s.rss);
        }
        if fleet.failures().len() + fleet.down() > 0 {
            break;
        }
        std::thread::sleep(opts.poll);
    }
    res.established_s = est_at.map(|at| secs(t0, at));
    res.retries = fleet.retries();
    res.fib_s = fib_at.map(|at| secs(t0, at));
    if est_at.is_none() {
        res.info.notes.push(format!(
            "{} of {peers} sessions Established",
            fleet.established()
        ));
    }
    if fib_at.is_none() {
        res.info.notes.push(format!(
            "kernel has {} of {} routes",
            last.v4.saturating_sub(base.v4),
            peers * opts.routes
        ));
    }
    if fib_at.is_some() {
        std::thread::sleep(Duration::from_secs(1));
        let a = process_cpu(&pids);
        let started = Instant::now();
        std::thread::sleep(opts.idle);
        let b = process_cpu(&pids);
        let took = started.elapsed().as_secs_f64();
        res.idle_cpu_percent = Some((b - a) / took * 100.0);
        res.idle_s = took;
        if opts.verify {
            res.verified = Some(verify(kind, peers, opts.routes, &rns, &mut res.info.notes));
        }
    }
    if (est_at.is_none() || fleet.down() > 0)
        && let Receiver::Bird(b) = &receiver
    {
        notes_from_bird(b, &mut res.info.notes);
    }
    let end = sample(&pids);
    res.rss_idle_end = Some(end.rss);
    res.peak_rss = Some(end.hwm);
    receiver.check_alive();
    if fleet.down() > 0 {
        res.info
            .notes
            .push(format!("{} sessions went down", fleet.down()));
    }
    for f in fleet.failures().into_iter().take(5) {
        res.info.notes.push(f);
    }
    if counter.overruns() > 0 {
        res.info.notes.push(format!(
            "route monitor overran {} times: counts are not reliable",
            counter.overruns()
        ));
    }
    fleet.close();
    drop(receiver);
    drop(counter);
    drop(rns);
    drop(sns);
    // Namespace teardown goes on in the kernel for a while.
    std::thread::sleep(Duration::from_secs(2));
    res
}

/// What BIRD says about its sessions that are not Established: the first
/// few `show protocols` rows and `show protocols all` of the first.
fn notes_from_bird(b: &Bird, notes: &mut Vec<String>) {
    let Ok(text) = b.try_birdc("show protocols") else {
        return;
    };
    let down: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" BGP ") && !l.contains("Established"))
        .collect();
    notes.push(format!(
        "BIRD: {} BGP protocols not Established, e.g.:\n{}",
        down.len(),
        down.iter().take(5).copied().collect::<Vec<_>>().join("\n")
    ));
    if let Some(name) = down.first().and_then(|l| l.split_whitespace().next())
        && let Ok(all) = b.try_birdc(&format!("show protocols all {name}"))
    {
        notes.push(all);
    }
}

/// Dumps the receiver's routes of its protocol and compares them with what
/// the peers sent: every prefix, each through its own peer.
fn verify(
    kind: ReceiverKind,
    peers: usize,
    routes: usize,
    rns: &Netns,
    notes: &mut Vec<String>,
) -> bool {
    let dumped = match dump_routes(rns, kind.protocol()) {
        Ok(r) => r,
        Err(e) => {
            notes.push(format!("verification dump failed: {e}"));
            return false;
        }
    };
    let want: HashSet<(IpNet, IpAddr)> = (0..peers)
        .flat_map(|i| {
            let gw = IpAddr::V4(peer_address(i));
            peer_routes(i, routes)
                .into_iter()
                .map(move |p| (IpNet::V4(p), gw))
        })
        .collect();
    let got: HashSet<(IpNet, IpAddr)> = dumped
        .iter()
        .filter_map(|r| Some((r.prefix, r.gateway?)))
        .collect();
    let missing = want.difference(&got).count();
    let extra = got.difference(&want).count();
    let ok = missing == 0 && extra == 0 && got.len() == dumped.len();
    if !ok {
        notes.push(format!(
            "verification: {missing} (prefix, gateway) pairs missing, {extra} unexpected, \
             {} routes without a single gateway (of {} with protocol {})",
            dumped.len() - got.len(),
            dumped.len(),
            kind.protocol()
        ));
    }
    ok
}
