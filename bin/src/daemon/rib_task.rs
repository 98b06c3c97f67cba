//! The RIB task: the one owner of routing state. It applies session and
//! kernel events to the [`Rib`], hands FIB batches to the writer thread and
//! announcements to the sessions, and answers control requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bgp::driver::{Command, Event, SessionHandle};
use bgp::fsm::State;
use rib::kernel::{FibOp, FibWriter, KernelEvent};
use rib::path::PeerId;
use rib::table::{Output, Rib};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};
use tunnels::TunnelManager;

use super::SessionMap;
use super::router::graceful::GracefulHelper;
use super::router::handshake::{FirstHandshake, Verdict};
use super::router::heal::{COALESCE, Heal, Kind};
use super::router::liveness::{Liveness, Observation};
use super::router::max_prefix::MaxPrefixGuard;
use super::router::tunnel_retry::TunnelRetry;
use crate::api::{Request, Response, SoftDirection};
use crate::config::{self, Config};
use crate::metrics::Metrics;
use bgp::wire::RouteRefreshSubtype;

/// A control-socket request with the channel for its answer.
pub struct ControlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// One configured peer as the daemon runs it.
pub(crate) struct PeerRuntime {
    pub name: String,
    pub cfg: config::Peer,
    pub session: SessionHandle,
}

pub(super) struct RibTask {
    pub cfg: Arc<Config>,
    pub rib: Rib,
    pub fib: FibWriter,
    pub peers: BTreeMap<PeerId, PeerRuntime>,
    /// Config name → the id of its current session.
    pub names: BTreeMap<String, PeerId>,
    pub next_id: PeerId,
    /// Tunnels that failed to come up, retried with a back-off.
    pub tunnel_retry: TunnelRetry,
    /// Sessions waiting for their tunnel's first handshake.
    pub handshake: FirstHandshake,
    pub metrics: Arc<Metrics>,
    pub tunnels: TunnelManager,
    pub private_key: Option<tunnels::Key>,
    pub events: mpsc::Sender<(PeerId, Event)>,
    pub sessions: SessionMap,
    /// Tunnel liveness of Established sessions over a tunnel with `dead_after`.
    pub liveness: Liveness,
    /// The TCP 179 listeners (MD5 keys are set on them per peer).
    pub listener: bgp::socket::Listener,
    /// `max_prefix` verdicts (see [`super::router::max_prefix`]).
    pub max_prefix: MaxPrefixGuard,
    /// Loopbacks, host routes and interfaces deleted behind our back.
    pub heal: Heal,
    /// When the next repair pass runs (see [`super::router::heal`]).
    pub repair_at: Option<std::time::Instant>,
    /// Graceful Restart helper state (RFC 4724).
    pub graceful: GracefulHelper,
    /// BFD sessions to peers (see [`super::bfd`]).
    pub bfd: super::bfd::Bfd,
    /// Memory cap and refusal state (see [`super::limits`]).
    pub limits: super::limits::LimitState,
    /// ip rules and underlay pins (see [`super::underlay`]).
    pub underlay: super::underlay::Underlay,
    /// Our own graceful restart (see [`super::restart`]).
    pub restart: super::restart::Restart,
}

/// Repaired routes named one by one in the log; the rest are summed up.
const REPAIR_LOG_LINES: usize = 10;

/// How often the liveness watches are looked at; each tunnel is polled only
/// when due (every thirtieth of its `dead_after`, see [`super::router::liveness`]).
const LIVENESS_TICK: Duration = super::router::liveness::MIN_POLL;

/// How often restart and stale-path timers are checked.
const GRACEFUL_POLL: Duration = Duration::from_millis(500);
/// How long a tunnel status read may take before the tunnel counts as dead.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// How often sessions waiting for a first handshake are looked at (each
/// on its own pace, see [`super::router::handshake`]).
const HANDSHAKE_TICK: Duration = Duration::from_millis(250);

/// Session events handled before the FIB batch goes out: the writer gets
/// large batches under load and single routes when idle.
const EVENT_BATCH: usize = 256;

/// Prefixes re-selected per FIB batch when a session goes down (its whole
/// table is withdrawn chunk by chunk, at the FIB writer's pace).
const SWEEP_CHUNK: usize = 4096;

/// How often per-peer gauges and counters are brought up to date.
const METRICS_REFRESH: Duration = Duration::from_secs(2);

/// What a tunnel's status said at the last metrics refresh.
#[derive(Default)]
pub(super) struct TunnelSeen {
    rx: u64,
    tx: u64,
    endpoint: Option<std::net::SocketAddr>,
}

/// What the metric counters already hold of the session tasks' running
/// totals, so each refresh adds only the growth.
#[derive(Default)]
struct Counted {
    /// (peer, message type, sent) → messages.
    messages: BTreeMap<(PeerId, usize, bool), u64>,
    /// (peer, sent, code, subcode) → NOTIFICATIONs.
    notifications: BTreeMap<(PeerId, bool, u8, u8), u64>,
}

impl RibTask {
    /// Runs until SIGTERM/SIGINT, then stops the sessions and returns
    /// itself for the kernel and tunnel cleanup.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<(PeerId, Event)>,
        mut kernel: mpsc::Receiver<KernelEvent>,
        mut control: mpsc::Receiver<ControlRequest>,
        mut bfd_events: mpsc::UnboundedReceiver<bgp::bfd::driver::Event>,
    ) -> RibTask {
        let mut sigterm = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut sigint = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut sighup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        let originated = self.rib.originate(&self.cfg.announce);
        self.dispatch(originated).await;
        let mut refresh = tokio::time::interval(METRICS_REFRESH);
        let mut watchdog = tokio::time::interval(super::notify::watchdog_interval());
        let mut counted = Counted::default();
        // Every peer's series, counters at 0, before the first control
        // answer: what a client sees ready is scraped complete.
        self.refresh_peer_metrics(&mut counted);
        let mut tunnel_bytes: BTreeMap<String, TunnelSeen> = BTreeMap::new();
        let mut reresolve = super::reresolve::Pending::default();
        let mut liveness = tokio::time::interval(LIVENESS_TICK);
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut handshake = tokio::time::interval(HANDSHAKE_TICK);
        handshake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut graceful = tokio::time::interval(GRACEFUL_POLL);
        graceful.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some((peer, ev)) = events.recv() => {
                    let mut fib = Vec::new();
                    self.session_event(peer, ev, &mut fib);
                    // Drain what is already queued before writing the FIB.
                    for _ in 0..EVENT_BATCH {
                        match events.try_recv() {
                            Ok((peer, ev)) => self.session_event(peer, ev, &mut fib),
                            Err(_) => break,
                        }
                    }
                    self.submit(fib).await;
                    self.sweep().await;
                    self.check_deferral().await;
                }
                Some(ev) = kernel.recv() => {
                    let tunnels = &self.tunnels;
                    self.heal.observe(&ev, self.rib.kernel(), &self.cfg, |i| tunnels.manages(i));
                    let mut out = self.rib.handle_kernel_event(&ev);
                    match &ev {
                        KernelEvent::AddressAdded { ifindex, addr }
                            if crate::config::is_link_local(*addr) =>
                        {
                            out.extend(self.refresh_session_links(Some(*ifindex)));
                        }
                        KernelEvent::Resync(_) => out.extend(self.refresh_session_links(None)),
                        _ => {}
                    }
                    self.dispatch(out).await;
                    self.connect_now_after(&ev);
                    self.arm_repair(None);
                }
                _ = tokio::time::sleep_until(self.repair_at.map_or_else(
                    tokio::time::Instant::now,
                    tokio::time::Instant::from_std,
                )), if self.repair_at.is_some() => {
                    self.repair_at = None;
                    self.repair().await;
                }
                _ = tokio::time::sleep_until(self.tunnel_retry.next_at().map_or_else(
                    tokio::time::Instant::now,
                    tokio::time::Instant::from_std,
                )), if self.tunnel_retry.next_at().is_some() => self.retry_tunnels().await,
                Some(ev) = bfd_events.recv() => self.bfd_event(ev),
                Some(req) = control.recv() => {
                    let response = self.answer(req.request).await;
                    let _ = req.reply.send(response);
                }
                Some(result) = self.fib.results().recv() => {
                    self.metrics
                        .fib_batch_duration_seconds
                        .observe(result.elapsed.as_secs_f64());
                    for (prefix, error) in &result.errors {
                        warn!(%prefix, %error, "kernel refused route");
                        self.metrics.fib_errors_total.inc();
                    }
                }
                _ = refresh.tick() => {
                    self.refresh_peer_metrics(&mut counted);
                    self.update_rib_metrics();
                    self.refresh_limit_metrics();
                    self.refresh_tunnel_metrics(&mut tunnel_bytes).await;
                    self.reresolve_endpoints(&mut reresolve).await;
                }
                _ = watchdog.tick() => super::notify::watchdog(),
                _ = liveness.tick(), if !self.liveness.is_empty() => self.check_liveness().await,
                _ = handshake.tick(), if !self.handshake.is_empty() => self.check_handshakes().await,
                _ = graceful.tick(), if self.graceful.poll_timeout().is_some() || self.restart.deferring() => {
                    self.graceful_timers().await;
                    self.check_deferral().await;
                }
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => {
                    info!("SIGHUP: reloading {}", self.cfg.path.display());
                    if let Err(e) = self.reload_from_file().await {
                        error!("reload failed, running configuration kept: {e}");
                    }
                }
            }
        }
        self.stop_sessions().await;
        self
    }

    fn session_event(&mut self, peer: PeerId, ev: Event, fib: &mut Vec<FibOp>) {
        // Events of a session torn down by a reload: its state is gone already.
        if !self.peers.contains_key(&peer) {
            return;
        }
        let out = match ev {
            Event::StateChange { from, to } => {
                self.peer_state_metrics(peer, from, to);
                return;
            }
            Event::Established {
                negotiated,
                connection,
            } => {
                self.handshake.forget(peer);
                let mut out = self.session_source(peer, connection);
                let p = &self.peers[&peer];
                if p.cfg
                    .wireguard
                    .as_ref()
                    .is_some_and(|w| w.dead_after.is_some())
                {
                    self.liveness.established(std::time::Instant::now(), peer);
                }
                out.extend(self.rib.handle_peer_up(
                    peer,
                    negotiated.remote_id,
                    &negotiated.families,
                    negotiated.extended_next_hop,
                ));
                let name = &self.peers[&peer].name;
                let cap = negotiated.graceful_restart.clone();
                let now = std::time::Instant::now();
                out.extend(self.graceful.up(now, peer, name, cap, &mut self.rib));
                self.restart
                    .established(&self.peers[&peer].name, &negotiated);
                out
            }
            Event::Update(update) => {
                if let Some((afi, bgp::wire::Safi::Unicast)) = update.end_of_rib() {
                    self.restart.end_of_rib(&self.peers[&peer].name, afi);
                }
                let out = self.rib.handle_update(peer, update);
                self.check_max_prefix(peer);
                self.check_limits(peer);
                self.graceful.updated(peer, &self.rib);
                out
            }
            Event::RouteRefresh(rr) => self.route_refresh(peer, rr, fib),
            Event::Down(reason) => {
                self.liveness.forget(peer);
                self.wait_for_handshake(peer);
                let name = &self.peers[&peer].name;
                let now = std::time::Instant::now();
                // Re-selection of its prefixes, if they go, follows in `sweep`.
                (self.graceful).down(now, peer, name, &reason, &mut self.rib)
            }
            Event::TaskFailed(_) => {
                // The driver logged it and the Down (if it was up) came before.
                let labels = super::show::peer_labels(&self.peers[&peer]);
                let failures = &self.metrics.session_task_failures_total;
                failures.with_label_values(&labels).inc();
                return;
            }
        };
        self.route(out, fib);
    }

    /// ROUTE-REFRESH from `peer` by subtype (RFC 7313 §3.2): a request is
    /// answered with the family's Adj-RIB-Out between BoRR and EoRR (the
    /// session drops the markers unless Enhanced Route Refresh was
    /// negotiated); the peer's own BoRR/EoRR mark and sweep its paths;
    /// other subtypes are ignored (§5).
    fn route_refresh(
        &mut self,
        peer: PeerId,
        rr: bgp::wire::RouteRefresh,
        fib: &mut Vec<FibOp>,
    ) -> Vec<Output> {
        match rr.subtype {
            RouteRefreshSubtype::Request => {
                let send = |s: &Self, m| {
                    if let Some(p) = s.peers.get(&peer) {
                        let _ = p.session.commands.send(Command::RefreshMarker(rr.afi, m));
                    }
                };
                send(self, RouteRefreshSubtype::BeginOfRouteRefresh);
                let out = self.rib.handle_route_refresh(peer, rr.afi);
                self.route(out, fib);
                send(self, RouteRefreshSubtype::EndOfRouteRefresh);
                Vec::new()
            }
            RouteRefreshSubtype::BeginOfRouteRefresh => {
                self.rib.handle_begin_of_refresh(peer, rr.afi);
                Vec::new()
            }
            RouteRefreshSubtype::EndOfRouteRefresh => self.rib.handle_end_of_refresh(peer, rr.afi),
            RouteRefreshSubtype::Unknown(_) => Vec::new(),
        }
    }

    /// Sweeps the stale routes of peers whose restart or stale-path timer ran out.
    async fn graceful_timers(&mut self) {
        let now = std::time::Instant::now();
        let peers = &self.peers;
        let name = |id| peers.get(&id).map(|p: &PeerRuntime| p.name.clone());
        let out = self.graceful.expire(now, &mut self.rib, name);
        self.dispatch(out).await;
    }

    /// Ends our own restart's selection deferral once every graceful
    /// restart peer sent End-of-RIB or `select_defer_time` ran out: the new
    /// routes replace the old ones in place, the leftovers go, and the
    /// peers get their tables (RFC 4724 §4.1).
    async fn check_deferral(&mut self) {
        let now = std::time::Instant::now();
        let Some(why) = self.restart.due(now) else {
            return;
        };
        let waiting = self.restart.waiting_for().join(", ");
        let stale = self.restart.finish(now);
        let out = self.rib.end_deferral(&stale);
        let took = self.restart.started.map(|s| now - s).unwrap_or_default();
        let (replaced, deleted) = out.iter().fold((0, 0), |(r, d), o| match o {
            Output::Fib(ops) => {
                let n = ops.iter().filter(|op| !op.is_delete()).count();
                (r + n, d + ops.len() - n)
            }
            _ => (r, d),
        });
        info!(reason = why, ?took, installed = replaced, leftovers_deleted = deleted,
              still_waiting_for = %waiting,
              "graceful restart: selection deferral over, routes installed");
        self.dispatch(out).await;
    }

    /// Sends each output where it belongs; FIB ops go to `fib`.
    fn route(&mut self, out: Vec<Output>, fib: &mut Vec<FibOp>) {
        for o in out {
            let (peer, cmd) = match o {
                Output::Fib(ops) => {
                    if fib.is_empty() {
                        *fib = ops;
                    } else {
                        fib.extend(ops);
                    }
                    continue;
                }
                Output::Announce {
                    peer,
                    afi,
                    attrs,
                    next_hop,
                    prefixes,
                } => (
                    peer,
                    Command::Announce {
                        afi,
                        attrs,
                        next_hop,
                        prefixes,
                    },
                ),
                Output::Withdraw {
                    peer,
                    afi,
                    prefixes,
                } => (peer, Command::Withdraw { afi, prefixes }),
                Output::EndOfRib { peer, afi } => (peer, Command::EndOfRib(afi)),
            };
            if let Some(p) = self.peers.get(&peer) {
                let _ = p.session.commands.send(cmd);
            }
        }
    }

    pub(super) async fn dispatch(&mut self, out: Vec<Output>) {
        let mut fib = Vec::new();
        self.route(out, &mut fib);
        self.submit(fib).await;
        self.sweep().await;
    }

    /// Works off what a session going down left to re-select, one FIB
    /// batch at a time.
    async fn sweep(&mut self) {
        while self.rib.sweep_pending() {
            let out = self.rib.flush_sweep(SWEEP_CHUNK);
            let mut fib = Vec::new();
            self.route(out, &mut fib);
            self.submit(fib).await;
        }
    }

    async fn submit(&mut self, fib: Vec<FibOp>) {
        if !fib.is_empty() {
            let replaced = fib.iter().filter(|op| !op.is_delete()).count();
            let ops = &self.metrics.fib_operations_total;
            ops.with_label_values(&["replace"]).inc_by(replaced as u64);
            ops.with_label_values(&["delete"])
                .inc_by((fib.len() - replaced) as u64);
            self.fib.submit(fib).await;
        }
    }

    fn peer_state_metrics(&self, id: PeerId, from: State, to: State) {
        let p = &self.peers[&id];
        let labels = super::show::peer_labels(p);
        let labels: [&str; 3] = [&labels[0], &labels[1], &labels[2]];
        // The first change (Idle to Connect or Active) comes before any
        // message: the counters start at 0 before they can count.
        let description = p.cfg.description.as_deref().unwrap_or("");
        let up = to == State::Established;
        self.metrics
            .init_peer(labels, self.cfg.asn, description, up);
        self.metrics
            .peer_state
            .with_label_values(&labels)
            .set(to.mib_value());
        self.metrics
            .peer_up
            .with_label_values(&labels)
            .set((to == State::Established) as i64);
        if from == State::Established {
            self.metrics
                .session_flaps_total
                .with_label_values(&labels)
                .inc();
        }
    }

    /// Per-peer prefix gauges, uptime, message and notification counters, from the RIB and the
    /// session tasks' atomic counters (`counted` remembers what was already
    /// added to each counter).
    fn refresh_peer_metrics(&self, counted: &mut Counted) {
        const TYPES: [&str; 6] = crate::metrics::MESSAGE_TYPES;
        for (id, p) in &self.peers {
            let [peer, peer_as, name] = super::show::peer_labels(p);
            let up = p.session.stats.state() == State::Established;
            let description = p.cfg.description.as_deref().unwrap_or("");
            self.metrics
                .init_peer([&peer, &peer_as, &name], self.cfg.asn, description, up);
            for (afi, label) in [
                (bgp::wire::Afi::Ipv4, "ipv4"),
                (bgp::wire::Afi::Ipv6, "ipv6"),
            ] {
                let (accepted, sent) = self.rib.peer_counts(*id, afi);
                // Pre-policy counts exist only with soft_reconfiguration
                // (as FRR's filteredPrefixCounter).
                let before_policy = self
                    .rib
                    .received_counts(*id)
                    .map(|c| c[(afi != bgp::wire::Afi::Ipv4) as usize]);
                let received = before_policy.map_or(accepted, |(r, _)| r);
                let labels = [
                    peer.as_str(),
                    peer_as.as_str(),
                    name.as_str(),
                    label,
                    "unicast",
                ];
                self.metrics
                    .prefixes_received
                    .with_label_values(&labels)
                    .set(received as i64);
                self.metrics
                    .prefixes_advertised
                    .with_label_values(&labels)
                    .set(sent as i64);
                self.metrics
                    .prefixes_accepted
                    .with_label_values(&labels)
                    .set(accepted as i64);
                if let Some((_, filtered)) = before_policy {
                    self.metrics
                        .prefixes_filtered
                        .with_label_values(&labels)
                        .set(filtered as i64);
                }
            }
            let stats = &p.session.stats;
            for (code, ty) in TYPES.iter().enumerate().skip(1) {
                for (sent, counters, metric) in [
                    (
                        true,
                        &stats.messages_sent,
                        &self.metrics.messages_sent_total,
                    ),
                    (
                        false,
                        &stats.messages_received,
                        &self.metrics.messages_received_total,
                    ),
                ] {
                    let now = counters[code].load(std::sync::atomic::Ordering::Relaxed);
                    let before = counted.messages.insert((*id, code, sent), now).unwrap_or(0);
                    let labels = [peer.as_str(), peer_as.as_str(), name.as_str(), *ty];
                    metric
                        .with_label_values(&labels)
                        .inc_by(now.saturating_sub(before));
                }
            }
            let notifications = stats.notifications.lock().unwrap().clone();
            for ((sent, code, subcode), now) in notifications {
                let before = counted
                    .notifications
                    .insert((*id, sent, code, subcode), now)
                    .unwrap_or(0);
                let (code, subcode) = (code.to_string(), subcode.to_string());
                let direction = if sent { "sent" } else { "received" };
                self.metrics
                    .notifications_total
                    .with_label_values(&[
                        peer.as_str(),
                        peer_as.as_str(),
                        name.as_str(),
                        direction,
                        code.as_str(),
                        subcode.as_str(),
                    ])
                    .inc_by(now.saturating_sub(before));
            }
            let uptime = stats
                .established_at
                .lock()
                .unwrap()
                .filter(|_| stats.state() == bgp::fsm::State::Established)
                .map_or(0, |(at, _)| at.elapsed().as_secs());
            self.metrics
                .peer_uptime_seconds
                .with_label_values(&[peer.as_str(), peer_as.as_str(), name.as_str()])
                .set(uptime as i64);
        }
        let (resolved, unresolved) = self.rib.next_hop_counts();
        self.metrics
            .nexthops
            .with_label_values(&["resolved"])
            .set(resolved as i64);
        self.metrics
            .nexthops
            .with_label_values(&["unresolved"])
            .set(unresolved as i64);
    }

    /// Tunnel gauges and byte counters from each tunnel's status. The
    /// counters add what grew since the last read; a wireguard-go restart
    /// starts its counters at 0, which is added as new traffic.
    async fn refresh_tunnel_metrics(&self, seen: &mut BTreeMap<String, TunnelSeen>) {
        for p in self.peers.values() {
            let Some(ifname) = p.cfg.interface() else {
                continue;
            };
            let peer = p.cfg.address().to_string();
            let labels = [ifname, peer.as_str(), p.name.as_str()];
            let m = &self.metrics;
            let status = tokio::time::timeout(STATUS_TIMEOUT, self.tunnels.status(ifname)).await;
            let Ok(Ok(st)) = status else {
                m.tunnel_up.with_label_values(&labels).set(0);
                continue;
            };
            m.tunnel_up
                .with_label_values(&labels)
                .set(st.oper_up as i64);
            m.tunnel_restarts
                .with_label_values(&labels)
                .set(st.restarts as i64);
            let Some(wg) = st.peer else { continue };
            if let Some(age) = wg.handshake_age {
                m.tunnel_handshake_age_seconds
                    .with_label_values(&labels)
                    .set(age.as_secs() as i64);
            }
            let now = TunnelSeen {
                rx: wg.rx_bytes,
                tx: wg.tx_bytes,
                endpoint: wg.endpoint,
            };
            let before = seen.insert(ifname.to_string(), now).unwrap_or_default();
            let (rx0, tx0) = (before.rx, before.tx);
            // The peer roamed, or a re-resolved hostname moved it.
            if let (Some(old), Some(new)) = (before.endpoint, wg.endpoint)
                && old != new
            {
                info!(peer = %p.name, interface = %ifname, %old, %new, "tunnel endpoint changed");
                m.tunnel_endpoint_changes_total
                    .with_label_values(&labels)
                    .inc();
            }
            let grew = |now: u64, before: u64| if now >= before { now - before } else { now };
            m.tunnel_receive_bytes_total
                .with_label_values(&labels)
                .inc_by(grew(wg.rx_bytes, rx0));
            m.tunnel_transmit_bytes_total
                .with_label_values(&labels)
                .inc_by(grew(wg.tx_bytes, tx0));
        }
    }

    fn update_rib_metrics(&self) {
        let (mut v4, mut v6, mut fib4, mut fib6) = (0i64, 0i64, 0i64, 0i64);
        for (prefix, dest) in self.rib.loc_rib().iter() {
            let installed = dest.installed.is_some() as i64;
            match prefix {
                ipnet::IpNet::V4(_) => (v4 += 1, fib4 += installed),
                ipnet::IpNet::V6(_) => (v6 += 1, fib6 += installed),
            };
        }
        self.metrics.rib_routes.with_label_values(&["ipv4"]).set(v4);
        self.metrics.rib_routes.with_label_values(&["ipv6"]).set(v6);
        self.metrics
            .fib_routes
            .with_label_values(&["ipv4"])
            .set(fib4);
        self.metrics
            .fib_routes
            .with_label_values(&["ipv6"])
            .set(fib6);
    }

    /// RFC 4486 Cease/Maximum Number of Prefixes Reached when a peer sends
    /// more than `max_prefix` of one family (after import policy).
    fn check_max_prefix(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(&id) else { return };
        let rib = &self.rib;
        let received = |afi| rib.peer_counts(id, afi).0;
        if let Some(reset) = (self.max_prefix).check(id, &p.name, p.cfg.max_prefix, received) {
            let command = Command::ResetHoldDown(reset.notification, reset.hold_down);
            let _ = p.session.commands.send(command);
        }
    }

    /// Schedules a repair pass if something waits for one: at `next` (a
    /// paced repair), else `COALESCE` from now so a burst is one pass.
    fn arm_repair(&mut self, next: Option<std::time::Instant>) {
        if self.repair_at.is_some() || !(self.rib.repairs_pending() || self.heal.pending()) {
            return;
        }
        let soon = std::time::Instant::now() + COALESCE;
        self.repair_at = Some(next.map_or(soon, |n| n.max(soon)));
    }

    /// Logs and counts one thing put back.
    fn repaired(&self, kind: Kind, what: &dyn std::fmt::Display) {
        warn!(
            kind = kind.label(),
            "{what} was deleted behind our back: restored"
        );
        self.metrics
            .kernel_repairs_total
            .with_label_values(&[kind.label()])
            .inc();
    }

    /// Puts back what was deleted behind our back: our routes (the RIB
    /// decides which), loopback addresses, host routes, interfaces.
    async fn repair(&mut self) {
        let now = std::time::Instant::now();
        let routes = self.rib.repair(now);
        let mut next = routes.next;
        self.dispatch(routes.out).await;
        for prefix in routes.repaired.iter().take(REPAIR_LOG_LINES) {
            self.repaired(Kind::Route, &format_args!("route {prefix}"));
        }
        if let Some(more) = routes.repaired.len().checked_sub(REPAIR_LOG_LINES)
            && more > 0
        {
            warn!(
                kind = "route",
                routes = more,
                "more routes were deleted behind our back: restored"
            );
            self.metrics
                .kernel_repairs_total
                .with_label_values(&[Kind::Route.label()])
                .inc_by(more as u64);
        }

        // Interfaces first: their host routes come back with them.
        for ifname in std::mem::take(&mut self.heal.interfaces) {
            let key = format!("interface {ifname}");
            if !self.heal.allowed(&key, now, &mut next) {
                self.heal.interfaces.insert(ifname);
                continue;
            }
            let Some(peer) = self
                .cfg
                .peers
                .values()
                .find(|p| p.interface() == Some(ifname.as_str()))
                .cloned()
            else {
                continue;
            };
            self.heal.pacer.repaired(key.clone(), now);
            let spec = match self.tunnel_spec(&peer).await {
                Ok(Some(spec)) => spec,
                Ok(None) => continue,
                Err(e) => {
                    warn!(interface = %ifname, error = %e, "cannot recreate the tunnel");
                    self.heal.interfaces.insert(ifname);
                    continue;
                }
            };
            // Already back (wireguard-go's supervisor restarted it) counts too.
            match self.tunnels.recreate(&spec).await {
                Ok(_) => self.repaired(Kind::Interface, &key),
                Err(e) => {
                    warn!(interface = %ifname, error = %e, "recreating the tunnel failed; retrying");
                    self.heal.interfaces.insert(ifname);
                }
            }
        }

        let loopbacks: Vec<ipnet::IpNet> = std::mem::take(&mut self.heal.loopbacks)
            .into_iter()
            .filter(|net| {
                let key = format!("loopback {net}");
                let ok = self.heal.allowed(&key, now, &mut next);
                if !ok {
                    self.heal.loopbacks.insert(*net);
                }
                ok
            })
            .collect();
        if !loopbacks.is_empty() {
            match self.tunnels.restore_loopbacks(&loopbacks).await {
                Ok(added) => {
                    for net in added {
                        self.heal.pacer.repaired(format!("loopback {net}"), now);
                        self.repaired(Kind::Loopback, &format_args!("loopback {net} on lo"));
                    }
                }
                Err(e) => {
                    warn!(error = %e, "restoring loopback addresses failed; retrying");
                    self.heal.loopbacks.extend(loopbacks);
                }
            }
        }

        for (ifname, addrs) in std::mem::take(&mut self.heal.host_routes) {
            let key = format!("host routes {ifname}");
            if !self.heal.allowed(&key, now, &mut next) {
                self.heal.host_routes.insert(ifname, addrs);
                continue;
            }
            let addrs: Vec<std::net::IpAddr> = addrs.into_iter().collect();
            match self.tunnels.restore_host_routes(&ifname, &addrs).await {
                Ok(added) => {
                    if !added.is_empty() {
                        self.heal.pacer.repaired(key, now);
                    }
                    for addr in added {
                        self.repaired(
                            Kind::HostRoute,
                            &format_args!("host route {addr} dev {ifname}"),
                        );
                    }
                }
                Err(e) => {
                    warn!(interface = %ifname, error = %e, "restoring host routes failed; retrying");
                    self.heal.pacer.repaired(key, now);
                    self.heal
                        .host_routes
                        .insert(ifname, addrs.into_iter().collect());
                }
            }
        }
        self.arm_repair(next);
    }

    /// Tears down Established sessions whose tunnel went quiet (see
    /// [`super::router::liveness`]); they come back by themselves when it recovers.
    /// Helps sessions over a tunnel to its first handshake (see
    /// [`super::router::handshake`]): connect as soon as there is one,
    /// restart a lost one rather than wait WireGuard's 5 s.
    async fn check_handshakes(&mut self) {
        for id in self.handshake.due(std::time::Instant::now()) {
            let Some(p) = self.peers.get(&id) else {
                self.handshake.forget(id);
                continue;
            };
            let Some(ifname) = p.cfg.interface() else {
                self.handshake.forget(id);
                continue;
            };
            let status = tokio::time::timeout(STATUS_TIMEOUT, self.tunnels.status(ifname)).await;
            let Ok(Ok(st)) = status else {
                continue; // liveness and self-healing deal with a broken tunnel
            };
            let peer = st.peer.as_ref();
            let age = peer.and_then(|p| p.handshake_age);
            let now = std::time::Instant::now();
            match self.handshake.observe(now, id, age) {
                Some(Verdict::ConnectNow) => {
                    debug!(peer = %p.name, "tunnel handshake done: connecting now");
                    let _ = p.session.commands.send(Command::ConnectNow);
                }
                Some(Verdict::Kick) => {
                    // The endpoint it has now (resolved, or roamed).
                    let endpoint = peer.and_then(|p| p.endpoint);
                    if let Some(spec) = self.tunnel_spec_with(&p.cfg, endpoint) {
                        debug!(peer = %p.name, "no tunnel handshake yet: starting one now");
                        if let Err(e) = self.tunnels.restart_handshake(&spec).await {
                            debug!(peer = %p.name, error = %e, "restarting the handshake failed");
                        }
                        let _ = p.session.commands.send(Command::ConnectNow);
                    }
                }
                Some(Verdict::GiveUp) | None => {}
            }
        }
    }

    /// Watches the tunnel of `id` for its first handshake if its session
    /// dials out over one (a tunnel with an endpoint, not shut down).
    pub(super) fn wait_for_handshake(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let dials = (p.cfg.wireguard.as_ref()).is_some_and(|w| w.endpoint.is_some());
        if dials && !p.cfg.shutdown && !p.cfg.passive && self.tunnel_retry.get(id).is_none() {
            self.handshake.wait(std::time::Instant::now(), id);
        }
    }

    async fn check_liveness(&mut self) {
        for id in self.liveness.ids() {
            let Some(p) = self.peers.get(&id) else {
                self.liveness.forget(id);
                continue;
            };
            let (Some(ifname), Some(dead_after)) = (
                p.cfg.interface(),
                p.cfg.wireguard.as_ref().and_then(|w| w.dead_after),
            ) else {
                continue;
            };
            let dead_after = Duration::from_secs(dead_after.into());
            let now = std::time::Instant::now();
            if !self.liveness.due(now, id, dead_after) {
                continue;
            }
            // A frozen wireguard-go never answers its UAPI socket: that, too,
            // is a dead tunnel, and must not stall this task.
            let status = tokio::time::timeout(STATUS_TIMEOUT, self.tunnels.status(ifname)).await;
            let obs = match status {
                Err(_) => Observation::Missing(format!(
                    "{ifname} did not answer within {STATUS_TIMEOUT:?}"
                )),
                Ok(Ok(st)) => match st.peer {
                    Some(peer) => Observation::Counters {
                        rx_bytes: peer.rx_bytes,
                        handshake_age: peer.handshake_age,
                    },
                    None => Observation::Missing(format!("{ifname} has no peer")),
                },
                Ok(Err(e)) => Observation::Missing(e.to_string()),
            };
            // When the counters were read, not when this round began.
            let now = std::time::Instant::now();
            if let Some(dead) = self.liveness.observe(now, id, ifname, &obs, dead_after) {
                let why = &dead.why;
                warn!(peer = %p.name, interface = %ifname, "tunnel dead ({why}): tearing the session down");
                self.metrics
                    .tunnel_dead_total
                    .with_label_values(&[&p.name, ifname])
                    .inc();
                let _ = p.session.commands.send(Command::Reset(dead.notification));
            }
        }
    }

    /// The sessions a `clear` names: a config name, a session address, or `*`.
    fn select_peers(&self, which: &str) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                which == "*"
                    || p.name == which
                    || p.cfg.addresses.iter().any(|a| a.to_string() == which)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    async fn reload_from_file(&mut self) -> Result<crate::plan::ReloadPlan, String> {
        let (new, plan) = self.plan_file(None)?;
        info!("reload plan:\n{plan}");
        self.reload(new, &plan).await?;
        info!("reload applied");
        Ok(plan)
    }

    async fn answer(&mut self, request: Request) -> Response {
        match request {
            Request::Summary => {
                Response::Summary(super::show::summary(&self.cfg, &self.rib, &self.peers))
            }
            Request::Routes {
                afi: _,
                prefix: Some(prefix),
            } => Response::Route(super::show::route(
                &self.rib,
                &self.peers,
                &self.cfg,
                prefix,
            )),
            Request::Routes { afi, prefix: None } => Response::Routes(super::show::routes(
                &self.cfg,
                &self.rib,
                &self.peers,
                afi,
                None,
            )),
            Request::Neighbors { address } => {
                let mut n = super::show::neighbors(
                    &self.cfg,
                    &self.rib,
                    &self.peers,
                    address,
                    &self.restart,
                );
                self.bfd_show(&mut n);
                Response::Neighbors(n)
            }
            Request::NeighborRoutes {
                address,
                which,
                afi,
            } => super::show_adj::neighbor_routes(
                &self.cfg,
                &mut self.rib,
                &self.peers,
                address,
                which,
                afi,
            ),
            Request::Tunnels => Response::Tunnels(
                super::show::tunnels(&self.tunnels, &self.peers, &self.tunnel_retry).await,
            ),
            Request::Nexthops => Response::Nexthops(super::show::nexthops(&self.rib)),
            Request::Plan { path } => match self.plan_file(Some(&path)) {
                Ok((_, plan)) => Response::Plan(plan),
                Err(e) => Response::Error(e),
            },
            Request::Reload => match self.reload_from_file().await {
                Ok(plan) => Response::Plan(plan),
                Err(e) => {
                    error!("reload failed, running configuration kept: {e}");
                    Response::Error(e)
                }
            },
            Request::Clear { peer, soft } => {
                let ids = self.select_peers(&peer);
                if ids.is_empty() {
                    return Response::Error(format!("no peer named or addressed `{peer}`"));
                }
                for &id in &ids {
                    match soft {
                        None => self.reset_session(id),
                        Some(SoftDirection::In) => self.soft_in(id).await,
                        Some(SoftDirection::Out) => self.refresh_out(id).await,
                    }
                }
                let what = match soft {
                    None => "reset",
                    Some(SoftDirection::In) => "asked to resend their routes",
                    Some(SoftDirection::Out) => "sent our routes again",
                };
                Response::Done(format!("{} session(s) {what}", ids.len()))
            }
        }
    }

    /// Cease/Administrative Shutdown to every peer, then give the writers a
    /// moment to flush the NOTIFICATIONs.
    async fn stop_sessions(&mut self) {
        info!("shutting down: stopping sessions");
        for p in self.peers.values() {
            // RFC 4724 §4: closing without a NOTIFICATION is what makes a
            // helper keep our routes; the process exit closes the socket.
            if self.restart.for_peer(&p.cfg).is_some() {
                continue;
            }
            let _ = p.session.commands.send(Command::Stop {
                communication: Some("wgbgpd shutting down".into()),
            });
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline
            && self.peers.values().any(|p| {
                p.session.stats.state() != State::Idle && self.restart.for_peer(&p.cfg).is_none()
            })
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
