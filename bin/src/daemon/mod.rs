//! `wgbgpd`: wiring of tunnels, sessions, the RIB and the kernel.
//!
//! ```text
//!  listener ─Incoming─▶ session tasks ──Event──▶ ┌───────────┐ ──FibOp batches──▶ FIB writer thread
//!                        ▲                       │  shell    │ ◀──KernelEvent──── kernel watcher
//!                        └──Announce/Withdraw─── │ (tokio)   │ ◀──Request──────── control socket
//!                                                │  ┌──────┐ │ ───metrics───────▶ Prometheus
//!                               Input ──────────▶│  │Router│ │ ──tunnel work────▶ TunnelManager
//!                               Action ◀─────────│  └──────┘ │ ◀──BFD events───── BFD task
//!                                                └───────────┘
//! ```
//!
//! - [`router`]: all routing state, private, behind the pure
//!   `Router::handle(now, Input) -> Vec<Action>` (the RIB, peers, reload,
//!   Graceful Restart helper, max-prefix, liveness, first handshakes,
//!   tunnel retries, repairs, limits); unit-tested with a fake clock.
//! - [`shell`]: the tokio loop that owns every socket and task, feeds the
//!   router and carries out its actions ([`effects`]), answers the control
//!   socket ([`requests`], [`show`], [`show_peers`], [`show_adj`]) and
//!   renders the metrics ([`gauges`]).
//! - Around them: BFD ([`bfd`]), our own graceful restart ([`restart`]),
//!   endpoint re-resolution ([`reresolve`]), ip rules and underlay pins
//!   ([`underlay`]), the instance lock and systemd notifications.
//!
//! Session tasks run under a supervisor in `bgp::driver`: one that panics
//! reaches the router as a Down (routes withdrawn), is counted in
//! `wgbgp_session_task_failures_total`, and is started again.

mod bfd;
mod effects;
mod gauges;
mod instance;
mod notify;
mod requests;
mod reresolve;
mod restart;
mod router;
mod shell;
mod show;
mod show_adj;
mod show_peers;
#[cfg(test)]
pub(crate) mod test_rib;
mod underlay;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bgp::driver::Command;
use rib::kernel::{FibConfig, FibOptions, FibWriter, KernelWatcher, NexthopMode, RTPROT_BGP};
use rib::table::{Rib, RibConfig};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use tunnels::{Backend, TunnelManager};

use crate::config::{self, Config, WgBackend};

pub use shell::ControlRequest;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Resolve(#[from] crate::host::ResolveError),
    #[error("private key {path}: {source}")]
    Key {
        path: String,
        source: tunnels::keys::KeyError,
    },
    #[error(transparent)]
    Tunnel(#[from] tunnels::TunnelError),
    #[error(transparent)]
    Instance(#[from] instance::LockError),
    #[error("the host's limits are too low for this configuration: {0}")]
    Limits(#[from] tunnels::limits::LimitError),
    /// Peers that could not be started (TCP-MD5 keys, the BFD socket).
    #[error("{0}")]
    Peers(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Session address → session, for the listener; the shell edits it on
/// reload.
/// The sessions by peer address, with the interface of a link-local one
/// (the same fe80::1 may be a peer on each of several interfaces).
pub(crate) type SessionMap = Arc<RwLock<BTreeMap<SessionKey, mpsc::UnboundedSender<Command>>>>;

/// A peer address, and for a link-local one the interface it is on.
pub(crate) type SessionKey = (IpAddr, Option<String>);

/// The keys a peer's connections arrive under: each of its addresses, the
/// session address scoped if it is link-local.
pub(crate) fn session_keys(peer: &crate::config::Peer) -> Vec<SessionKey> {
    (peer.addresses.iter())
        .map(|a| match crate::config::is_link_local(*a) {
            true => (*a, peer.scope.clone()),
            false => (*a, None),
        })
        .collect()
}

/// The name of interface `index`.
pub(crate) fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Removes our routes from the tables policies' `set: {table}` name (left
/// by an earlier run at start, ours at shutdown), one short-lived writer per
/// table. Failures are logged: they do not stop the daemon.
async fn purge_policy_tables(cfg: &Config, fib_cfg: &FibConfig) {
    for table in cfg.policy_tables() {
        let purged = match FibWriter::spawn(FibConfig { table, ..*fib_cfg }) {
            Ok(w) => w.purge_stale().await,
            Err(e) => Err(e),
        };
        match purged {
            Ok(n) => info!(table, routes = n, "removed our routes from a policy table"),
            Err(e) => error!(table, error = %e, "could not remove our routes from a policy table"),
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT; returns after cleaning up.
pub async fn run(cfg: Config, access: crate::control::Access) -> Result<(), StartError> {
    // Before anything touches the kernel: a second instance would purge the
    // running one's routes as stale.
    let _instance = instance::InstanceLock::take(&cfg.control_socket)?;
    // Kernel first: stale routes of an earlier run go before anything new.
    let fib_cfg = FibConfig {
        table: cfg.kernel.table,
        metric: cfg.kernel.metric,
        protocol: RTPROT_BGP,
    };
    let nexthops = match cfg.kernel.nexthop_objects {
        true => NexthopMode::Objects,
        false => NexthopMode::PerRoute,
    };
    let opts = FibOptions {
        nexthops,
        ..FibOptions::default()
    };
    let fib = FibWriter::spawn_with(fib_cfg, opts).map_err(io_err("starting the FIB writer"))?;
    // With graceful restart they stay, stale, until the new routes replace them.
    let restart = restart::Restart::prepare(&cfg, &fib)
        .await
        .map_err(io_err("looking at proto bgp routes of an earlier run"))?;

    purge_policy_tables(&cfg, &fib_cfg).await;

    // Rules and underlay pins before any tunnel sends a marked packet.
    let underlay = underlay::Underlay::spawn(Arc::new(cfg.clone()))
        .await
        .map_err(io_err("starting the underlay (ip rules, pinned endpoints)"))?;
    let mut tunnels = tunnel_manager(&cfg).await?;
    let private_key = match load_key(&cfg) {
        Ok(k) => k,
        Err(e) => {
            let _ = tunnels.shutdown().await;
            return Err(e);
        }
    };
    // With the writer's port id, deletions of our routes by anyone else are reported.
    let kernel_events = KernelWatcher::spawn_with_owner(cfg.kernel.table, fib.port_id())
        .map_err(io_err("subscribing to netlink"))?;
    let (events_tx, events_rx) = mpsc::channel(1024);
    let sessions: SessionMap = Arc::default();
    let listener = start_listener(sessions.clone()).await?;
    let (control_tx, control_rx) = mpsc::channel(16);
    let control = crate::control::serve(&cfg.control_socket, access, control_handler(control_tx))
        .await
        .map_err(io_err(format!(
            "control socket {}",
            cfg.control_socket.display()
        )))?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    if let Some(m) = &cfg.metrics {
        crate::metrics::serve(m.listen, metrics.clone())
            .await
            .map_err(io_err(format!("metrics listener {}", m.listen)))?;
        info!(listen = %m.listen, "serving /metrics");
    }

    let rib = Rib::new(RibConfig {
        local_as: cfg.asn,
        router_id: cfg.router_id,
        table: cfg.kernel.table,
        metric: cfg.kernel.metric,
        multipath: cfg.multipath,
        multipath_relax: cfg.multipath_relax,
        max_as_path_len: cfg.max_as_path_len,
        backup_paths: fib.uses_objects(),
    });
    let (bfd, bfd_events) = bfd::Bfd::new();
    let mut shell = shell::Shell {
        router: router::Router::new(Arc::new(cfg.clone()), rib, restart),
        fib,
        sessions: BTreeMap::new(),
        session_map: sessions,
        events: events_tx,
        metrics,
        tunnels,
        private_key,
        listener,
        bfd,
        underlay,
        fib_ops: Vec::new(),
        gauges: Default::default(),
    };
    let started = shell.run_input(router::Input::Start).await;
    if !started.errors.is_empty() {
        shell.tunnels.shutdown().await.ok();
        shell.underlay.shutdown().await;
        let _ = std::fs::remove_file(&cfg.control_socket);
        return Err(StartError::Peers(started.errors.join("; ")));
    }

    info!(router_id = %cfg.router_id, asn = cfg.asn, peers = shell.sessions.len(), "wgbgpd running");
    notify::ready();
    let mut outcome = shell
        .run(events_rx, kernel_events, control_rx, bfd_events)
        .await;
    notify::stopping();

    // Shutting down: sessions were told to stop inside `run`; now the kernel.
    outcome.listener.abort();
    control.abort();
    let _ = std::fs::remove_file(&outcome.router.config().control_socket);
    if outcome.router.restart().enabled {
        // RFC 4724: our routes keep forwarding, in the kernel and at the
        // peers (the sessions closed without a NOTIFICATION), until the
        // next run replaces them. The tunnels stay too: exiting here skips
        // the destructors that would stop their wireguard-go processes.
        info!("wgbgpd stopped; graceful restart: routes and tunnels kept");
        std::process::exit(0);
    }
    match outcome.fib.purge_stale().await {
        Ok(n) => info!(routes = n, "removed our routes from the kernel"),
        Err(e) => error!(error = %e, "could not remove our routes from the kernel"),
    }
    purge_policy_tables(outcome.router.config(), &outcome.fib.config()).await;
    if outcome.router.config().wireguard.keep_on_exit {
        // Adopted (not recreated) by the next start.
        if let Err(e) = outcome.tunnels.detach_all().await {
            warn!(error = %e, "leaving the tunnels up failed");
        }
    } else if let Err(e) = outcome.tunnels.shutdown().await {
        warn!(error = %e, "tunnel teardown incomplete");
    }
    outcome.underlay.shutdown().await;
    info!("wgbgpd stopped");
    Ok(())
}

/// Picks the WireGuard backend and puts the loopbacks on `lo`.
async fn tunnel_manager(cfg: &Config) -> Result<TunnelManager, StartError> {
    let backend = match cfg.wireguard.backend {
        WgBackend::Auto => Backend::Auto,
        WgBackend::Kernel => Backend::Kernel,
        WgBackend::Userspace => Backend::Userspace,
    };
    let mut manager = TunnelManager::new(backend).await?;
    check_host_limits(cfg, manager.backend())?;
    manager.set_detachable(cfg.wireguard.keep_on_exit);
    manager.ensure_loopbacks(&cfg.loopback).await?;
    info!(backend = %manager.backend(), "WireGuard backend");
    Ok(manager)
}

/// Raises the soft open-files limit to the hard one, then refuses to
/// start, before any tunnel exists, when the host cannot hold the
/// configured userspace tunnels and sessions (see [`tunnels::limits`]).
fn check_host_limits(cfg: &Config, backend: Backend) -> Result<(), StartError> {
    use tunnels::limits::{Demand, HostLimits};
    match tunnels::limits::raise_nofile() {
        Ok((soft, _)) => info!(open_files = soft, "open files limit"),
        Err(e) => warn!(error = %e, "could not raise the open files limit"),
    }
    // Tunnels left up by an earlier run (keep_on_exit) have their
    // wireguard-go running already: only new ones need room.
    let new_userspace = match backend {
        Backend::Userspace => cfg
            .peers
            .values()
            .filter_map(|p| p.interface())
            .filter(|i| !std::path::Path::new("/sys/class/net").join(i).exists())
            .count() as u64,
        _ => 0,
    };
    let demand = Demand {
        userspace_tunnels: new_userspace,
        peers: cfg.peers.len() as u64,
        bfd_sessions: cfg.peers.values().filter(|p| p.bfd.is_some()).count() as u64,
    };
    let limits = HostLimits::read().map_err(io_err("reading the host's limits"))?;
    tunnels::limits::check(&limits, &demand)?;
    Ok(())
}

/// The private key, read (or generated) only when some peer has a tunnel.
fn load_key(cfg: &Config) -> Result<Option<tunnels::Key>, StartError> {
    if !cfg.peers.values().any(|p| p.wireguard.is_some()) {
        return Ok(None);
    }
    let path = &cfg.wireguard.private_key_file;
    let key = tunnels::keys::load_or_generate(path).map_err(|source| StartError::Key {
        path: path.display().to_string(),
        source,
    })?;
    info!(public_key = %key.get_public().to_base64(), "our WireGuard public key");
    Ok(Some(key))
}

/// TCP 179 on both families; connections go to the peer with that address.
async fn start_listener(sessions: SessionMap) -> Result<bgp::socket::Listener, StartError> {
    let lookup: bgp::socket::Lookup = Arc::new(move |from: std::net::SocketAddr| {
        let scope = match from {
            std::net::SocketAddr::V6(v6) if crate::config::is_link_local(from.ip()) => {
                interface_name(v6.scope_id())
            }
            _ => None,
        };
        sessions.read().unwrap().get(&(from.ip(), scope)).cloned()
    });
    bgp::socket::Listener::bind(179, lookup)
        .await
        .map_err(io_err("listening on TCP 179"))
}

fn control_handler(tx: mpsc::Sender<ControlRequest>) -> crate::control::Handler {
    Arc::new(move |request| {
        let tx = tx.clone();
        Box::pin(async move {
            let (reply, rx) = tokio::sync::oneshot::channel();
            if tx.send(ControlRequest { request, reply }).await.is_err() {
                return crate::api::Response::Error("daemon is shutting down".into());
            }
            match tokio::time::timeout(Duration::from_secs(20), rx).await {
                Ok(Ok(response)) => response,
                _ => crate::api::Response::Error("daemon did not answer in time".into()),
            }
        })
    })
}
