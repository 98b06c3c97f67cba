//! The tokio shell around the [`Router`]: it owns every socket, task and
//! handle (the FIB writer, the session tasks, the tunnels, the listener,
//! BFD, the metrics), turns what happens into [`Input`]s, and carries out
//! the [`Action`]s ([`super::effects`]). No routing decision is made here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::driver::{Event, SessionHandle};
use bgp::fsm::State;
use rib::kernel::{FibOp, FibWriter, KernelEvent};
use rib::path::PeerId;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};
use tunnels::TunnelManager;

use super::SessionMap;
use super::gauges::Gauges;
use super::router::{Action, Input, Router};
use super::show::PeerRuntime;
use crate::api::{Request, Response};
use crate::metrics::Metrics;

/// A control-socket request with the channel for its answer.
pub struct ControlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Session events handled before the FIB batch goes out: the writer gets
/// large batches under load and single routes when idle.
const EVENT_BATCH: usize = 256;

/// How often per-peer gauges and counters are brought up to date.
const METRICS_REFRESH: Duration = Duration::from_secs(2);

pub(super) struct Shell {
    pub router: Router,
    pub fib: FibWriter,
    /// The session task of each peer the router has.
    pub sessions: BTreeMap<PeerId, SessionHandle>,
    /// Session address → commands, for the listener.
    pub session_map: SessionMap,
    pub events: mpsc::Sender<(PeerId, Event)>,
    pub metrics: Arc<Metrics>,
    pub tunnels: TunnelManager,
    pub private_key: Option<tunnels::Key>,
    /// The TCP 179 listeners (MD5 keys are set on them per peer).
    pub listener: bgp::socket::Listener,
    /// BFD sessions to peers (see [`super::bfd`]).
    pub bfd: super::bfd::Bfd,
    /// ip rules and underlay pins (see [`super::underlay`]).
    pub underlay: super::underlay::Underlay,
    /// Route changes not yet handed to the FIB writer.
    pub fib_ops: Vec<FibOp>,
    /// What the metrics already hold of running totals.
    pub gauges: Gauges,
}

/// What carrying out one input's actions gave: the answers to a request,
/// and what failed.
#[derive(Default)]
pub(super) struct Applied {
    pub answers: Vec<Action>,
    pub errors: Vec<String>,
}

impl Shell {
    /// Hands `input` to the router with the time, and carries out what it
    /// returns, and what the answers of that return, until nothing is left.
    /// FIB changes wait in `fib_ops` for [`Self::flush`].
    pub(super) async fn apply(&mut self, input: Input) -> Applied {
        let mut queue = VecDeque::from([input]);
        let mut applied = Applied::default();
        while let Some(input) = queue.pop_front() {
            for action in self.router.handle(Instant::now(), input) {
                self.execute(action, &mut queue, &mut applied).await;
            }
        }
        applied
    }

    /// Hands the FIB changes to the writer, then works off what sessions
    /// going down left to re-select, one FIB batch at a time.
    pub(super) async fn flush(&mut self) {
        self.submit().await;
        while self.router.sweep_pending() {
            self.apply(Input::Sweep).await;
            self.submit().await;
        }
    }

    pub(super) async fn submit(&mut self) {
        let fib = std::mem::take(&mut self.fib_ops);
        if !fib.is_empty() {
            let replaced = fib.iter().filter(|op| !op.is_delete()).count();
            let ops = &self.metrics.fib_operations_total;
            ops.with_label_values(&["replace"]).inc_by(replaced as u64);
            ops.with_label_values(&["delete"])
                .inc_by((fib.len() - replaced) as u64);
            self.fib.submit(fib).await;
        }
    }

    /// `apply` then `flush`.
    pub(super) async fn run_input(&mut self, input: Input) -> Applied {
        let applied = self.apply(input).await;
        self.flush().await;
        applied
    }

    /// The peers as `show` sees them: the router's, with their sessions' stats.
    pub(super) fn runtime(&self) -> BTreeMap<PeerId, PeerRuntime> {
        (self.router.peers().iter())
            .filter_map(|(id, p)| {
                let stats = self.sessions.get(id)?.stats.clone();
                let (name, cfg) = (p.name.clone(), p.cfg.clone());
                Some((*id, PeerRuntime { name, cfg, stats }))
            })
            .collect()
    }

    /// Runs until SIGTERM/SIGINT, then stops the sessions and returns
    /// itself for the kernel and tunnel cleanup.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<(PeerId, Event)>,
        mut kernel: mpsc::Receiver<KernelEvent>,
        mut control: mpsc::Receiver<ControlRequest>,
        mut bfd_events: mpsc::UnboundedReceiver<bgp::bfd::driver::Event>,
    ) -> Shell {
        let mut sigterm = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut sigint = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut sighup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        let mut refresh = tokio::time::interval(METRICS_REFRESH);
        let mut watchdog = tokio::time::interval(super::notify::watchdog_interval());
        // Every peer's series, counters at 0, before the first control
        // answer: what a client sees ready is scraped complete.
        self.refresh_peer_metrics();
        let mut reresolve = super::reresolve::Pending::default();
        loop {
            let timeout = self.router.poll_timeout();
            tokio::select! {
                Some((peer, ev)) = events.recv() => {
                    self.apply(Input::Session(peer, ev)).await;
                    // Drain what is already queued before writing the FIB.
                    for _ in 0..EVENT_BATCH {
                        match events.try_recv() {
                            Ok((peer, ev)) => {
                                self.apply(Input::Session(peer, ev)).await;
                            }
                            Err(_) => break,
                        }
                    }
                    self.flush().await;
                }
                Some(ev) = kernel.recv() => {
                    self.run_input(Input::Kernel(ev)).await;
                }
                _ = tokio::time::sleep_until(timeout.map_or_else(
                    tokio::time::Instant::now,
                    tokio::time::Instant::from_std,
                )), if timeout.is_some() => {
                    self.run_input(Input::Timeout).await;
                }
                Some(ev) = bfd_events.recv() => self.bfd_event(ev).await,
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
                    self.refresh_peer_metrics();
                    self.update_rib_metrics();
                    self.refresh_limit_metrics();
                    self.refresh_tunnel_metrics().await;
                    self.reresolve_endpoints(&mut reresolve).await;
                }
                _ = watchdog.tick() => super::notify::watchdog(),
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => {
                    info!("SIGHUP: reloading {}", self.router.config().path.display());
                    if let Err(e) = self.reload_from_file().await {
                        error!("reload failed, running configuration kept: {e}");
                    }
                }
            }
        }
        self.stop_sessions().await;
        self
    }

    /// Cease/Administrative Shutdown to every peer (not to those we restart
    /// gracefully for), then give the writers a moment to flush the
    /// NOTIFICATIONs.
    async fn stop_sessions(&mut self) {
        self.run_input(Input::Stop).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let restart = self.router.restart();
        let stopping: Vec<PeerId> = (self.router.peers().iter())
            .filter(|(_, p)| restart.for_peer(&p.cfg).is_none())
            .map(|(id, _)| *id)
            .collect();
        while tokio::time::Instant::now() < deadline
            && (stopping.iter())
                .any(|id| (self.sessions.get(id)).is_some_and(|s| s.stats.state() != State::Idle))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
