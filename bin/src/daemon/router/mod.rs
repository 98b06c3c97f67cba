//! The routing decisions of the daemon as one pure state machine, the
//! [`Router`]: no clock (time comes in as `now`), no sockets, no netlink,
//! no tasks. The shell ([`super::shell`]) turns what happens (session
//! events, kernel changes, answers of the tunnels, control requests,
//! time passing) into [`Input`]s, and carries out the [`Action`]s that
//! [`Router::handle`] returns: FIB batches, session commands, tunnel work,
//! counts for the metrics. This is quinn-proto's shape, and why the
//! behaviours the README promises are unit-tested with a fake clock.
//!
//! ```text
//!            Input ──▶ handle(now, input) ──▶ Vec<Action>
//!                           │ owns
//!    rib (Rib)  peers (peers.rs)  sessions.rs  timers.rs  repair.rs  limits.rs
//!    graceful.rs  max_prefix.rs  liveness.rs  handshake.rs  tunnel_retry.rs  heal.rs
//! ```
//!
//! One concern per file:
//! - [`peers`]: the peer table, adding and removing peers, reload applied
//!   by difference, `clear`;
//! - [`sessions`]: session events (Established, UPDATE, ROUTE-REFRESH,
//!   Down) and where the RIB's outputs go;
//! - [`timers`]: what comes due with time: Graceful Restart timers, our
//!   own restart's deferral, tunnel retries, first handshakes, liveness;
//! - [`repair`]: putting back what was deleted behind our back;
//! - [`limits`]: the Adj-RIB-In memory cap and refused routes;
//! - [`graceful`], [`max_prefix`], [`liveness`], [`heal`], [`handshake`],
//!   [`tunnel_retry`]: the verdicts those apply.

pub(super) mod graceful;
pub(super) mod handshake;
pub(super) mod heal;
pub(super) mod limits;
pub(super) mod liveness;
pub(super) mod max_prefix;
mod peers;
mod repair;
mod sessions;
mod timers;
pub(super) mod tunnel_retry;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bgp::driver::{Command, Endpoints, Event};
use bgp::fsm::{LocalRestart, State};
use bgp::wire::Notification;
use ipnet::IpNet;
use rib::kernel::{FibOp, KernelEvent, KernelNextHop};
use rib::path::PeerId;
use rib::table::Rib;

use super::restart::Restart;
use crate::api::SoftDirection;
use crate::config::{self, Config};
use crate::plan::ReloadPlan;

pub(super) use heal::Kind as RepairKind;
pub(super) use liveness::Observation;
pub(super) use peers::update_source;

/// A configured peer as the router runs it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub name: String,
    pub cfg: config::Peer,
    /// Its session's state, as its events said.
    pub state: State,
    /// The connection of its Established session.
    pub connection: Option<Endpoints>,
    /// Its tunnel is up (or it has none); a session waits for it.
    tunnel_up: bool,
}

/// What the router is told.
#[derive(Debug)]
pub(crate) enum Input {
    /// The daemon starts: our prefixes are announced, every configured
    /// peer is added.
    Start,
    /// An event of a peer's session task.
    Session(PeerId, Event),
    /// A change in the kernel, as the watcher reports it.
    Kernel(KernelEvent),
    /// Time passed; whatever is due at `now` runs (see [`Router::poll_timeout`]).
    Timeout,
    /// Works off what a session going down left to re-select: one chunk.
    Sweep,
    /// What came of [`Action::Spawn`] or [`Action::TunnelUp`]: the
    /// session's interface index (a tunnel's, or a scoped peer's), or why
    /// the tunnel could not be made.
    TunnelUp {
        peer: PeerId,
        result: Result<Option<u32>, String>,
    },
    /// [`Action::Spawn`] failed before the session existed (a TCP-MD5 key
    /// or the BFD socket): the peer is not added.
    SpawnFailed { peer: PeerId },
    /// What [`Action::ReadTunnel`] found.
    TunnelRead {
        peer: PeerId,
        purpose: Purpose,
        seen: Observation,
        /// The endpoint the tunnel has now (resolved, or roamed).
        endpoint: Option<SocketAddr>,
    },
    /// What came of a repair action.
    Restored(Restored),
    /// A BFD session of `peer` changed state.
    Bfd {
        peer: PeerId,
        from: bgp::bfd::packet::State,
        to: bgp::bfd::packet::State,
        /// The state the peer reported.
        remote: bgp::bfd::packet::State,
    },
    /// Apply a reload by difference (the shell loaded and planned it, and
    /// read the key file again: `key_changed`).
    Reload {
        config: Config,
        plan: ReloadPlan,
        key_changed: bool,
    },
    /// `clear bgp`: a config name, a session address, or `*`.
    Clear {
        which: String,
        soft: Option<SoftDirection>,
    },
    /// The daemon is stopping.
    Stop,
}

/// Why a tunnel is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Its session waits for the first handshake.
    Handshake,
    /// Its Established session's liveness watch.
    Liveness,
}

/// What a repair action achieved.
#[derive(Debug)]
pub(crate) enum Restored {
    /// The tunnel `ifname` was made again (or was back already).
    Interface { ifname: String, ok: bool },
    /// Loopback addresses put back (`Err`: none, for this reason).
    Loopbacks {
        wanted: Vec<IpNet>,
        result: Result<Vec<IpNet>, String>,
    },
    /// Host routes put back on `ifname`.
    HostRoutes {
        ifname: String,
        wanted: Vec<IpAddr>,
        result: Result<Vec<IpAddr>, String>,
    },
}

/// What the shell is to do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Route changes for the FIB writer.
    Fib(Vec<FibOp>),
    /// These next hops died: the FIB writer moves their routes to their
    /// backups (BGP PIC), after the batches before it.
    FailOver(HashSet<KernelNextHop>),
    /// One of our nexthop objects was deleted behind our back: have the FIB
    /// writer put back its objects and the routes that went with them.
    RestoreNexthops,
    /// A command to the session of a peer.
    Session(PeerId, Command),
    /// Start a new peer: its session task (not started), its addresses in
    /// the listener's map, TCP-MD5 keys, BFD; then make its tunnel and
    /// answer with [`Input::TunnelUp`] (or [`Input::SpawnFailed`]).
    Spawn {
        peer: PeerId,
        cfg: config::Peer,
        restart: Option<LocalRestart>,
    },
    /// Make the tunnel of `peer` again; answer with [`Input::TunnelUp`].
    TunnelUp {
        peer: PeerId,
        cfg: config::Peer,
    },
    /// Reload: apply a changed tunnel in place, and move the session's
    /// listener keys from `old`'s addresses to the new ones (host routes
    /// follow `address`; the session itself is unchanged).
    ReconfigureTunnel {
        peer: PeerId,
        old: config::Peer,
        cfg: config::Peer,
    },
    /// End a peer: its session stops with `notification`, its keys, BFD
    /// and task go; its tunnel too unless `keep_tunnel`.
    Remove {
        peer: PeerId,
        cfg: config::Peer,
        notification: Notification,
        keep_tunnel: bool,
    },
    /// Read the tunnel of `peer`; answer with [`Input::TunnelRead`].
    ReadTunnel {
        peer: PeerId,
        ifname: String,
        purpose: Purpose,
    },
    /// Restart the tunnel's handshake now (see [`handshake`]).
    RestartHandshake {
        cfg: config::Peer,
        endpoint: Option<SocketAddr>,
    },
    /// Make the tunnel of `cfg` again after it was deleted.
    RecreateTunnel {
        ifname: String,
        cfg: config::Peer,
    },
    RestoreLoopbacks(Vec<IpNet>),
    RestoreHostRoutes {
        ifname: String,
        addrs: Vec<IpAddr>,
    },
    /// Start BFD to `peer` from `source` (the address its session runs from).
    StartBfd {
        peer: PeerId,
        source: Option<IpAddr>,
    },
    /// What `show` gives as the session's last error.
    LastError {
        peer: PeerId,
        error: Option<String>,
    },
    /// Something to count (the shell renders the metrics).
    Count(Count),
    /// The answer to a `clear`.
    Cleared(Result<String, String>),
    /// A reload was applied (`Err`: what of it failed).
    Reloaded(Result<(), String>),
}

/// Event counters, as plain data: the shell adds them to its metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Count {
    /// A session changed state (gauges, flaps).
    PeerState {
        peer: PeerId,
        from: State,
        to: State,
    },
    SessionTaskFailed {
        peer: PeerId,
    },
    TunnelFailure {
        peer: PeerId,
    },
    TunnelDead {
        peer: PeerId,
    },
    BfdDown {
        peer: PeerId,
    },
    Repaired {
        kind: RepairKind,
        n: u64,
    },
}

/// The daemon's routing state, private, behind [`Router::handle`].
pub(crate) struct Router {
    cfg: Arc<Config>,
    /// The config's policies, each built once and shared by its peers.
    policies: peers::Policies,
    rib: Rib,
    peers: BTreeMap<PeerId, Peer>,
    /// Config name → the id of its current session.
    names: BTreeMap<String, PeerId>,
    next_id: PeerId,
    graceful: graceful::GracefulHelper,
    max_prefix: max_prefix::MaxPrefixGuard,
    liveness: liveness::Liveness,
    handshake: handshake::FirstHandshake,
    tunnel_retry: tunnel_retry::TunnelRetry,
    heal: heal::Heal,
    /// When the next repair pass runs.
    repair_at: Option<Instant>,
    limits: limits::LimitState,
    restart: Restart,
    /// When the liveness and first-handshake watches are looked at next.
    next_poll: Option<Instant>,
    /// Sessions that went down whose routes are failed over but not yet
    /// withdrawn (see [`sessions`]).
    downs: Vec<(PeerId, bgp::fsm::DownReason)>,
}

impl Router {
    /// The router of `cfg` over `rib`, with our own restart's state.
    pub(crate) fn new(cfg: Arc<Config>, mut rib: Rib, restart: Restart) -> Router {
        if restart.deferring() {
            rib.begin_deferral();
        }
        Router {
            policies: peers::policies(&cfg),
            cfg,
            rib,
            peers: BTreeMap::new(),
            names: BTreeMap::new(),
            next_id: 0,
            graceful: Default::default(),
            max_prefix: Default::default(),
            liveness: Default::default(),
            handshake: Default::default(),
            tunnel_retry: Default::default(),
            heal: Default::default(),
            repair_at: None,
            limits: Default::default(),
            restart,
            next_poll: None,
            downs: Vec::new(),
        }
    }

    /// Takes in `input` at `now`; returns what to do, in order.
    pub(crate) fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        // A session's withdrawal waiting behind its fail-over goes first.
        if !self.downs.is_empty() {
            self.finish_downs(now, &mut out);
            if matches!(input, Input::Sweep) {
                self.arm(now);
                return out;
            }
        }
        match input {
            Input::Start => self.start(now, &mut out),
            Input::Session(peer, ev) => self.session_event(now, peer, ev, &mut out),
            Input::Kernel(ev) => self.kernel_event(now, &ev, &mut out),
            Input::Timeout => self.timeout(now, &mut out),
            Input::Sweep => {
                let o = self.rib.flush_sweep(sessions::SWEEP_CHUNK);
                self.route(o, &mut out);
            }
            Input::TunnelUp { peer, result } => self.tunnel_up(now, peer, result, &mut out),
            Input::SpawnFailed { peer } => self.forget_peer(peer, &mut out),
            Input::TunnelRead {
                peer,
                purpose,
                seen,
                endpoint,
            } => self.tunnel_read(now, peer, purpose, &seen, endpoint, &mut out),
            Input::Restored(r) => self.restored(now, r, &mut out),
            Input::Bfd {
                peer,
                from,
                to,
                remote,
            } => self.bfd(peer, from, to, remote, &mut out),
            Input::Reload {
                config,
                plan,
                key_changed,
            } => self.reload(now, config, &plan, key_changed, &mut out),
            Input::Clear { which, soft } => self.clear(&which, soft, &mut out),
            Input::Stop => self.stop(&mut out),
        }
        self.arm(now);
        out
    }

    /// When [`Input::Timeout`] is next due, if anything waits for time.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.repair_at,
            self.tunnel_retry.next_at(),
            self.graceful.poll_timeout(),
            self.restart.deadline(),
            self.next_poll,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether a session's withdrawn table still waits for re-selection
    /// ([`Input::Sweep`]).
    pub(crate) fn sweep_pending(&self) -> bool {
        self.rib.sweep_pending() || !self.downs.is_empty()
    }

    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.cfg
    }

    pub(crate) fn rib(&self) -> &Rib {
        &self.rib
    }

    /// For `show … advertised-routes`, which reads the Adj-RIB-Out lazily.
    pub(crate) fn rib_mut(&mut self) -> &mut Rib {
        &mut self.rib
    }

    pub(crate) fn peers(&self) -> &BTreeMap<PeerId, Peer> {
        &self.peers
    }

    #[cfg(test)]
    pub(crate) fn peer_id(&self, name: &str) -> Option<PeerId> {
        self.names.get(name).copied()
    }

    pub(crate) fn restart(&self) -> &Restart {
        &self.restart
    }

    /// The error a tunnel that failed to come up last gave.
    pub(crate) fn tunnel_failure(&self, id: PeerId) -> Option<&tunnel_retry::Failed> {
        self.tunnel_retry.get(id)
    }

    /// Keeps the liveness and handshake poll armed while either watches.
    fn arm(&mut self, now: Instant) {
        let watching = !self.liveness.is_empty() || !self.handshake.is_empty();
        self.next_poll = match (watching, self.next_poll) {
            (false, _) => None,
            (true, Some(at)) => Some(at),
            (true, None) => Some(now + timers::POLL),
        };
    }
}
