//! The FIB writer: installs and removes our routes in one kernel table.
//!
//! ```text
//!   caller ──submit(Vec<FibOp>)──► [cmd channel] ──► writer thread (blocking RouteSocket)
//!   caller ◄──results()────────── [result channel] ◄─┘   batched RTM_NEWROUTE/RTM_DELROUTE,
//!   purge_stale()/dump_own() ──► [cmd + oneshot] ──►      acks matched by sequence number
//!   repoint()/restore_nexthops()/nexthops() ─┘             (+ RTM_*NEXTHOP in objects mode)
//! ```
//!
//! With [`NexthopMode::Objects`] (opt-in through [`FibWriter::spawn_with`]) routes go in as
//! `nhid N` over shared nexthop objects (`fib_objects`); where the kernel has none, or with
//! the default [`NexthopMode::PerRoute`], every route carries its own gateway and device.
//!
//! The writer runs on its own OS thread so that full-table loads never compete with the BGP
//! sessions' runtime, and talks to the kernel through a raw netlink socket that packs many
//! requests into one `send()`. Ops are applied strictly in submission order, so ops for the
//! same prefix apply in order.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use tokio::sync::{mpsc, oneshot};

use super::convert::{delete_message, replace_message, route_from_msg};
use super::fib_objects::ObjectWriter;
use super::nlsock::{Request, RouteSocket};
use super::objects::{NHID_BASE, NHID_SPAN, NexthopObject};
use super::view::{KernelNextHop, KernelRoute};

/// Requests per `send()`: measured best on this class of machine (crates.md §2).
pub const DEFAULT_BATCH: usize = 256;

/// Batches queued for the writer thread at most. `submit` waits for room,
/// so a RIB faster than the kernel is held to the kernel's pace (and the
/// BGP sessions, through their bounded event channel, to TCP's) instead of
/// queueing up a full table of ops.
pub const QUEUE_BATCHES: usize = 4;

/// Where and how our routes are installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FibConfig {
    /// Kernel routing table (254 = main).
    pub table: u32,
    /// `RTA_PRIORITY`; zebra hard-codes 20.
    pub metric: u32,
    /// `rtm_protocol`; 186 = `RTPROT_BGP`, shown as `proto bgp`.
    pub protocol: u8,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            table: 254,
            metric: 20,
            protocol: super::view::RTPROT_BGP,
        }
    }
}

/// How routes name their next hops in the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NexthopMode {
    /// Each route carries its gateway and device (`RTA_GATEWAY`/`RTA_OIF`, or `RTA_MULTIPATH`).
    #[default]
    PerRoute,
    /// Each route references a shared nexthop object (`RTA_NH_ID`, Linux 5.3+): one object per
    /// distinct resolved next hop, a group per ECMP set. Re-pointing an object moves every route
    /// using it in one kernel operation. Falls back to `PerRoute` where the kernel has no
    /// nexthop objects.
    Objects,
}

/// How the writer works, beyond where routes go ([`FibConfig`]). A separate struct so that
/// `FibConfig { table, metric, protocol }` literals elsewhere stay valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FibOptions {
    /// Requests per `send()`.
    pub batch: usize,
    pub nexthops: NexthopMode,
    /// Our nexthop object ids: `nhid_base .. nhid_base + nhid_span` (see
    /// [`super::objects`] for why a high fixed base). Two writers in objects mode in one
    /// namespace need disjoint ranges.
    pub nhid_base: u32,
    pub nhid_span: u32,
}

impl Default for FibOptions {
    fn default() -> Self {
        FibOptions {
            batch: DEFAULT_BATCH,
            nexthops: NexthopMode::PerRoute,
            nhid_base: NHID_BASE,
            nhid_span: NHID_SPAN,
        }
    }
}

/// Which nexthop object [`FibWriter::repoint`] moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NexthopTarget {
    Id(u32),
    /// The object routes through these next hops use now.
    Hops(Vec<KernelNextHop>),
}

/// What [`FibWriter::restore_nexthops`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Objects that were missing or no longer as we made them, installed again.
    pub objects: usize,
    /// Routes the kernel had removed with a deleted object, installed again.
    pub routes: usize,
    /// Failures, as (what, why).
    pub errors: Vec<(String, String)>,
}

/// The next hops of one route, shared (a `Vec` behind the `Arc` keeps the
/// pointer thin: the RIB holds one per route).
pub type NextHops = Arc<Vec<KernelNextHop>>;

/// One change to the FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FibOp {
    /// Install or overwrite `prefix` with these next hops (`NLM_F_CREATE | NLM_F_REPLACE`);
    /// several next hops make an ECMP route. The next hops are shared with
    /// the RIB (every route through one BGP next hop has the same). With nexthop objects,
    /// `backup` is where the route moves without a write when its next hops die
    /// ([`FibWriter::fail_over`]); the per-route writer ignores it.
    Replace {
        prefix: IpNet,
        nexthops: NextHops,
        backup: Option<NextHops>,
    },
    /// Remove our route to `prefix`; a route that is already gone is not an error.
    Delete { prefix: IpNet },
    /// `Replace` in another table than the writer's (policy `set: {table}`).
    ReplaceIn {
        table: u32,
        prefix: IpNet,
        nexthops: NextHops,
    },
    /// `Delete` from another table than the writer's.
    DeleteIn { table: u32, prefix: IpNet },
}

impl FibOp {
    /// `Replace` in `table`, `None` meaning the writer's.
    pub fn replace(table: Option<u32>, prefix: IpNet, nexthops: NextHops) -> FibOp {
        match table {
            None => FibOp::Replace {
                prefix,
                nexthops,
                backup: None,
            },
            Some(table) => FibOp::ReplaceIn {
                table,
                prefix,
                nexthops,
            },
        }
    }

    /// `Delete` from `table`, `None` meaning the writer's.
    pub fn delete(table: Option<u32>, prefix: IpNet) -> FibOp {
        match table {
            None => FibOp::Delete { prefix },
            Some(table) => FibOp::DeleteIn { table, prefix },
        }
    }

    pub fn prefix(&self) -> IpNet {
        match self {
            FibOp::Replace { prefix, .. }
            | FibOp::Delete { prefix }
            | FibOp::ReplaceIn { prefix, .. }
            | FibOp::DeleteIn { prefix, .. } => *prefix,
        }
    }

    /// The table the op names, `None` meaning the writer's.
    pub fn table(&self) -> Option<u32> {
        match self {
            FibOp::Replace { .. } | FibOp::Delete { .. } => None,
            FibOp::ReplaceIn { table, .. } | FibOp::DeleteIn { table, .. } => Some(*table),
        }
    }

    pub fn is_delete(&self) -> bool {
        matches!(self, FibOp::Delete { .. } | FibOp::DeleteIn { .. })
    }
}

/// The outcome of one submitted batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibResult {
    pub op_count: usize,
    /// Failed ops, by prefix, with the kernel's (or our) explanation.
    pub errors: Vec<(IpNet, String)>,
    pub elapsed: Duration,
}

/// Why one FIB op failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FibError {
    #[error("{prefix}: an IPv6 route cannot use the IPv4 gateway {gateway}")]
    FamilyMismatch { prefix: IpNet, gateway: IpAddr },
    #[error("{0}: no next hop to install")]
    NoNextHop(IpNet),
    #[error("kernel refused: {message} (errno {errno})")]
    Kernel { errno: i32, message: String },
    #[error("netlink socket failed: {0}")]
    Socket(String),
}

enum Command {
    Batch(Vec<FibOp>),
    Purge(oneshot::Sender<io::Result<usize>>),
    DumpOwn(oneshot::Sender<io::Result<Vec<KernelRoute>>>),
    Repoint(
        NexthopTarget,
        Vec<KernelNextHop>,
        oneshot::Sender<io::Result<u32>>,
    ),
    Restore(oneshot::Sender<io::Result<Restored>>),
    Nexthops(oneshot::Sender<Vec<NexthopObject>>),
    FailOver(HashSet<KernelNextHop>),
}

/// Counters the writer thread keeps for metrics and `show`, readable without a round trip
/// through its queue (which may hold a full table's batches).
#[derive(Debug, Default)]
pub struct FibStats {
    /// Nexthop objects of ours in the kernel's namespace.
    pub objects: AtomicUsize,
    /// Fail-overs run ([`FibWriter::fail_over`]).
    pub failovers: AtomicU64,
    /// Objects re-pointed by them, each one kernel operation.
    pub failover_objects: AtomicU64,
    /// Routes those objects carried, moved without a write each.
    pub failover_routes: AtomicU64,
}

/// What one [`FibWriter::fail_over`] did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailOverReport {
    pub objects: super::objects::FailOver,
    /// Netlink messages sent (object replaces, and members a backup set needed).
    pub messages: usize,
    pub elapsed: Duration,
}

/// Handle to the writer thread. Dropping it stops the thread once queued work is done.
pub struct FibWriter {
    cfg: FibConfig,
    port_id: u32,
    objects: bool,
    commands: mpsc::Sender<Command>,
    results: mpsc::UnboundedReceiver<FibResult>,
    stats: Arc<FibStats>,
}

impl FibWriter {
    /// Starts the writer thread with its own netlink socket, sending `DEFAULT_BATCH` requests
    /// per `send()`.
    pub fn spawn(cfg: FibConfig) -> io::Result<FibWriter> {
        Self::spawn_with_batch(cfg, DEFAULT_BATCH)
    }

    /// Like `spawn` with `batch` requests per `send()` (1 = one request per round trip);
    /// exists for measurements.
    pub fn spawn_with_batch(cfg: FibConfig, batch: usize) -> io::Result<FibWriter> {
        Self::spawn_with(
            cfg,
            FibOptions {
                batch,
                ..FibOptions::default()
            },
        )
    }

    /// Starts the writer with `opts`. In [`NexthopMode::Objects`] this probes the kernel for
    /// nexthop objects (an `RTM_GETNEXTHOP` dump) and falls back to per-route next hops
    /// without them; if it has them, the objects an earlier run left in our range are taken
    /// over with the routes that use them, and those no route uses are deleted. See
    /// [`FibWriter::uses_objects`].
    pub fn spawn_with(cfg: FibConfig, opts: FibOptions) -> io::Result<FibWriter> {
        // Open the socket here so that a failure is reported to the caller, then move it
        // to the thread: the thread inherits our network namespace at creation anyway.
        let mut sock = RouteSocket::open(opts.batch)?;
        let port_id = sock.port_id()?;
        let objects = match opts.nexthops {
            NexthopMode::PerRoute => None,
            NexthopMode::Objects => ObjectWriter::start(&cfg, &opts, &mut sock, port_id)?,
        };
        let uses_objects = objects.is_some();
        let (commands, cmd_rx) = mpsc::channel(QUEUE_BATCHES);
        let (res_tx, results) = mpsc::unbounded_channel();
        let stats = Arc::new(FibStats::default());
        let thread_stats = stats.clone();
        thread::Builder::new()
            .name("fib-writer".into())
            .spawn(move || run(cfg, sock, objects, cmd_rx, res_tx, &thread_stats))?;
        Ok(FibWriter {
            cfg,
            port_id,
            objects: uses_objects,
            commands,
            results,
            stats,
        })
    }

    /// True if routes go in over nexthop objects: asked for, and the kernel has them.
    pub fn uses_objects(&self) -> bool {
        self.objects
    }

    pub fn config(&self) -> FibConfig {
        self.cfg
    }

    /// The netlink port id of the writer's socket: notifications of the routes it adds and
    /// deletes carry it (see [`super::KernelWatcher::spawn_with_owner`]).
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Queues a batch, waiting while `QUEUE_BATCHES` are queued already. One `FibResult` per
    /// batch arrives on `results()`.
    pub async fn submit(&self, ops: Vec<FibOp>) {
        if self.commands.send(Command::Batch(ops)).await.is_err() {
            tracing::error!("FIB writer thread is gone; batch dropped");
        }
    }

    /// `submit` for callers outside an async runtime (blocks the thread).
    pub fn submit_blocking(&self, ops: Vec<FibOp>) {
        if self.commands.blocking_send(Command::Batch(ops)).is_err() {
            tracing::error!("FIB writer thread is gone; batch dropped");
        }
    }

    /// Results, one per submitted batch, in submission order.
    pub fn results(&mut self) -> &mut mpsc::UnboundedReceiver<FibResult> {
        &mut self.results
    }

    /// Deletes every route with our protocol in our table (left by an earlier run, as BIRD's
    /// kernel protocol does at start) and returns how many. Runs after already queued batches.
    ///
    /// In objects mode it deletes every object of ours first, one operation per object, and
    /// the kernel removes the routes using them along with it (in any table: objects are per
    /// namespace); then the routes left without an object (blackholes, an earlier per-route
    /// run's) one by one.
    pub async fn purge_stale(&self) -> io::Result<usize> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Purge(tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Routes with our protocol currently in our table. Runs after already queued batches.
    pub async fn dump_own(&self) -> io::Result<Vec<KernelRoute>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::DumpOwn(tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Re-points a nexthop object to `to` with one `RTM_NEWNEXTHOP` replace (plus the member
    /// objects a group needs that do not exist yet): every route using it forwards to `to`
    /// at once, none is rewritten. Returns the object's id. Runs after already queued
    /// batches; later `Replace` ops through `to` keep their routes on this object.
    ///
    /// Errors: not in objects mode (`Unsupported`), no such object, or a gateway object asked
    /// to become a group or the reverse (`InvalidInput`), or the kernel's refusal.
    pub async fn repoint(&self, target: NexthopTarget, to: Vec<KernelNextHop>) -> io::Result<u32> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Repoint(target, to, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Self-healing for objects: compares our objects with the kernel's and installs again
    /// those that are missing or changed, and the routes the kernel removed along with a
    /// deleted object (`ip nexthop del` takes its routes with it, silently). The writer also
    /// does this by itself before each command once it has seen a link or nexthop change; call
    /// this when the watcher reports [`super::KernelEvent::OwnNexthopRemoved`]. A no-op in
    /// per-route mode.
    pub async fn restore_nexthops(&self) -> io::Result<Restored> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Restore(tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// BGP PIC (issue 16): the next hops in `dead` are gone, because their peer was declared
    /// dead. Every nexthop object routes use through them moves to where [`objects::fail_over`]
    /// says: one kernel operation per object, none per route, so a full table follows its
    /// backups at once. Runs in order with the batches queued before it; the RIB then catches
    /// up, and writes only the routes whose new best path differs from their backup. A no-op
    /// in per-route mode. The outcome is logged and counted in [`FibWriter::stats`].
    ///
    /// [`objects::fail_over`]: super::objects::fail_over
    pub async fn fail_over(&self, dead: HashSet<KernelNextHop>) {
        if self.commands.send(Command::FailOver(dead)).await.is_err() {
            tracing::error!("FIB writer thread is gone; fail-over dropped");
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<FibStats> {
        self.stats.clone()
    }

    /// Our nexthop objects (empty in per-route mode), for `show nexthops`.
    pub async fn nexthops(&self) -> io::Result<Vec<NexthopObject>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Nexthops(tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "FIB writer thread is gone")
}

fn run(
    cfg: FibConfig,
    mut sock: RouteSocket,
    mut objects: Option<ObjectWriter>,
    mut commands: mpsc::Receiver<Command>,
    results: mpsc::UnboundedSender<FibResult>,
    stats: &FibStats,
) {
    tracing::debug!(
        batch = sock.batch(),
        ?cfg,
        objects = objects.is_some(),
        "FIB writer started"
    );
    while let Some(cmd) = commands.blocking_recv() {
        // Restore does the same itself, and reports what it did.
        if let (Some(o), false) = (objects.as_mut(), matches!(cmd, Command::Restore(_))) {
            o.heal_if_changed(&cfg, &mut sock);
        }
        match cmd {
            Command::Batch(ops) => {
                let result = match objects.as_mut() {
                    Some(o) => o.apply(&cfg, &mut sock, ops),
                    None => apply(&cfg, &mut sock, ops),
                };
                if !result.errors.is_empty() {
                    tracing::warn!(
                        failed = result.errors.len(),
                        ops = result.op_count,
                        first = %format!("{} {}", result.errors[0].0, result.errors[0].1),
                        "FIB batch had failures"
                    );
                }
                // The receiver may have been dropped by a caller that ignores results.
                let _ = results.send(result);
            }
            Command::Purge(reply) => {
                let purged = match objects.as_mut() {
                    Some(o) => o.purge(&cfg, &mut sock),
                    None => purge(&cfg, &mut sock),
                };
                let _ = reply.send(purged);
            }
            Command::DumpOwn(reply) => {
                let own = match objects.as_ref() {
                    Some(o) => o.dump_own(&cfg, &mut sock),
                    None => dump_own(&cfg, &mut sock),
                };
                let _ = reply.send(own);
            }
            Command::Repoint(target, to, reply) => {
                let done = match objects.as_mut() {
                    Some(o) => o.repoint(&cfg, &mut sock, target, &to),
                    None => Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the FIB writer does not use nexthop objects",
                    )),
                };
                let _ = reply.send(done);
            }
            Command::Restore(reply) => {
                let done = match objects.as_mut() {
                    Some(o) => o.restore(&cfg, &mut sock),
                    None => Ok(Restored::default()),
                };
                let _ = reply.send(done);
            }
            Command::Nexthops(reply) => {
                let _ = reply.send(objects.as_ref().map(|o| o.list()).unwrap_or_default());
            }
            Command::FailOver(dead) => {
                let Some(o) = objects.as_mut() else { continue };
                match o.fail_over(&cfg, &mut sock, &dead) {
                    Ok(r) => {
                        tracing::info!(
                            objects = r.objects.moved,
                            routes = r.objects.routes,
                            left_for_the_rib = r.objects.stranded,
                            messages = r.messages,
                            took = ?r.elapsed,
                            "failed over to backup paths"
                        );
                        stats.failovers.fetch_add(1, Ordering::Relaxed);
                        (stats.failover_objects)
                            .fetch_add(r.objects.moved as u64, Ordering::Relaxed);
                        (stats.failover_routes)
                            .fetch_add(r.objects.routes as u64, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(error = %e, "fail-over to backup paths failed"),
                }
            }
        }
        if let Some(o) = objects.as_ref() {
            stats.objects.store(o.object_count(), Ordering::Relaxed);
        }
    }
}

pub(super) fn new_route(
    cfg: &FibConfig,
    prefix: &IpNet,
    nexthops: &[KernelNextHop],
) -> Result<Request, FibError> {
    Ok(Request {
        msg: RouteNetlinkMessage::NewRoute(replace_message(cfg, prefix, nexthops)?).into(),
        flags: NLM_F_CREATE | NLM_F_REPLACE,
    })
}

pub(super) fn del_route(cfg: &FibConfig, prefix: &IpNet) -> Request {
    Request {
        msg: RouteNetlinkMessage::DelRoute(delete_message(cfg, prefix)).into(),
        flags: 0,
    }
}

/// Ops turned into netlink requests at a time: a request is a few hundred
/// bytes and the socket waits for the acks of each send() (256 requests)
/// anyway, so a larger chunk buys nothing; 4096 set the peak RSS of a
/// full-table withdraw (+1.2 MiB at the moment every queue was full).
pub(super) const APPLY_CHUNK: usize = 512;

/// Applies a batch of ops and reports per-prefix failures, in op order.
fn apply(cfg: &FibConfig, sock: &mut RouteSocket, ops: Vec<FibOp>) -> FibResult {
    let start = Instant::now();
    let op_count = ops.len();
    // (op index, prefix, message)
    let mut errors: Vec<(usize, IpNet, String)> = Vec::new();
    for (chunk_no, chunk) in ops.chunks(APPLY_CHUNK).enumerate() {
        let base = chunk_no * APPLY_CHUNK;
        // (op index, prefix, is a delete) of each request sent
        let mut sent = Vec::with_capacity(chunk.len());
        let mut reqs = Vec::with_capacity(chunk.len());
        for (j, op) in chunk.iter().enumerate() {
            let req = match op {
                FibOp::Replace {
                    prefix, nexthops, ..
                } => new_route(cfg, prefix, nexthops),
                FibOp::Delete { prefix } => Ok(del_route(cfg, prefix)),
                FibOp::ReplaceIn {
                    table,
                    prefix,
                    nexthops,
                } => new_route(
                    &FibConfig {
                        table: *table,
                        ..*cfg
                    },
                    prefix,
                    nexthops,
                ),
                FibOp::DeleteIn { table, prefix } => Ok(del_route(
                    &FibConfig {
                        table: *table,
                        ..*cfg
                    },
                    prefix,
                )),
            };
            match req {
                Ok(r) => {
                    reqs.push(r);
                    sent.push((base + j, op.prefix(), op.is_delete()));
                }
                Err(e) => errors.push((base + j, op.prefix(), e.to_string())),
            }
        }
        let done = sock.execute(reqs);
        let mut sent = sent.into_iter();
        for ((i, prefix, is_delete), ack) in sent.by_ref().zip(done.acks) {
            // Deleting a route that is already gone (ESRCH) is what we wanted.
            if ack.errno == 0 || (is_delete && ack.errno == libc::ESRCH) {
                continue;
            }
            let message = ack
                .message
                .unwrap_or_else(|| io::Error::from_raw_os_error(ack.errno).to_string());
            let e = FibError::Kernel {
                errno: ack.errno,
                message,
            };
            errors.push((i, prefix, e.to_string()));
        }
        if let Some(e) = done.error {
            // Ops of the send() that failed and after it: their fate is unknown.
            let e = FibError::Socket(e.to_string()).to_string();
            errors.extend(sent.map(|(i, p, _)| (i, p, e.clone())));
            let rest = ops.iter().enumerate().skip(base + chunk.len());
            errors.extend(rest.map(|(i, op)| (i, op.prefix(), e.clone())));
            break;
        }
    }
    errors.sort_by_key(|(i, _, _)| *i);
    FibResult {
        op_count,
        errors: errors.into_iter().map(|(_, p, e)| (p, e)).collect(),
        elapsed: start.elapsed(),
    }
}

pub(super) fn dump_own(cfg: &FibConfig, sock: &mut RouteSocket) -> io::Result<Vec<KernelRoute>> {
    let mut own = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        own.extend(
            sock.dump_routes(family)?
                .iter()
                .filter_map(route_from_msg)
                .filter(|r| r.table == cfg.table && r.protocol == cfg.protocol),
        );
    }
    Ok(own)
}

pub(super) fn purge(cfg: &FibConfig, sock: &mut RouteSocket) -> io::Result<usize> {
    let stale = dump_own(cfg, sock)?;
    // Delete each with its own metric: an earlier run may have used another one.
    let reqs = stale
        .iter()
        .map(|r| {
            del_route(
                &FibConfig {
                    metric: r.metric,
                    ..*cfg
                },
                &r.prefix,
            )
        })
        .collect();
    let done = sock.execute(reqs);
    if let Some(e) = done.error {
        return Err(e);
    }
    let mut removed = 0;
    for (r, ack) in stale.iter().zip(done.acks) {
        match ack.errno {
            0 => removed += 1,
            libc::ESRCH => {}
            errno => tracing::warn!(prefix = %r.prefix, errno, "could not purge stale route"),
        }
    }
    tracing::debug!(
        removed,
        table = cfg.table,
        "deleted our routes from the table"
    );
    Ok(removed)
}
