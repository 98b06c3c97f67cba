//! `wgbgpd`: wiring of tunnels, sessions, the RIB and the kernel.
//!
//! ```text
//!  TunnelManager (start/stop only)
//!
//!  listener ─Incoming─▶ session tasks ──Event──▶ ┌──────────┐ ──FibOp batches──▶ FIB writer thread
//!                        ▲                       │ RIB task │ ◀──KernelEvent──── kernel watcher
//!                        └──Announce/Withdraw─── │ (Rib)    │ ◀──Request──────── control socket
//!                                                └──────────┘ ───gauges────────▶ metrics
//! ```
//!
//! The RIB task owns all routing state; everything else talks to it over
//! channels, so no lock guards a route.

mod rib_task;
mod show;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp::driver::{self, Command, PeerConfig, SessionHandle};
use rib::kernel::{FibConfig, FibWriter, KernelWatcher, RTPROT_BGP};
use rib::path::PeerId;
use rib::policy::{Chain, Policy};
use rib::table::{PeerSettings, Rib, RibConfig};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use tunnels::{Backend, TunnelManager, TunnelSpec};

use crate::config::{self, Config, WgBackend};

pub use rib_task::ControlRequest;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Resolve(#[from] config::ResolveError),
    #[error("private key {path}: {source}")]
    Key {
        path: String,
        source: tunnels::keys::KeyError,
    },
    #[error(transparent)]
    Tunnel(#[from] tunnels::TunnelError),
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

/// One configured peer as the daemon runs it.
pub(crate) struct PeerRuntime {
    pub name: String,
    pub cfg: config::Peer,
    pub session: SessionHandle,
}

/// Runs the daemon until SIGTERM/SIGINT; returns after cleaning up.
pub async fn run(cfg: Config) -> Result<(), StartError> {
    let cfg = Arc::new(cfg);
    // Kernel first: stale routes of an earlier run go before anything new.
    let fib_cfg = FibConfig {
        table: cfg.kernel.table,
        metric: cfg.kernel.metric,
        protocol: RTPROT_BGP,
    };
    let fib = FibWriter::spawn(fib_cfg).map_err(io_err("starting the FIB writer"))?;
    let purged = fib
        .purge_stale()
        .await
        .map_err(io_err("removing stale proto bgp routes"))?;
    if purged > 0 {
        info!(
            routes = purged,
            table = cfg.kernel.table,
            "removed proto bgp routes left by an earlier run"
        );
    }

    let mut tunnels = start_tunnels(&cfg).await?;
    let kernel_events =
        KernelWatcher::spawn(cfg.kernel.table).map_err(io_err("subscribing to netlink"))?;

    let (events_tx, events_rx) = mpsc::channel(1024);
    let mut peers: BTreeMap<PeerId, PeerRuntime> = BTreeMap::new();
    let mut rib = Rib::new(RibConfig {
        local_as: cfg.asn,
        router_id: cfg.router_id,
        table: cfg.kernel.table,
    });
    for (i, (name, peer)) in cfg.peers.iter().enumerate() {
        let id = i as PeerId;
        rib.add_peer(id, peer_settings(&cfg, peer));
        let session = driver::spawn(id, session_config(&cfg, peer), events_tx.clone());
        if !peer.shutdown {
            let _ = session.commands.send(Command::Start);
        }
        peers.insert(
            id,
            PeerRuntime {
                name: name.clone(),
                cfg: peer.clone(),
                session,
            },
        );
    }
    let listeners = start_listeners(&peers).await?;

    let (control_tx, control_rx) = mpsc::channel(16);
    let control = crate::control::serve(&cfg.control_socket, control_handler(control_tx))
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

    info!(router_id = %cfg.router_id, asn = cfg.asn, peers = peers.len(), "wgbgpd running");
    let task = rib_task::RibTask {
        cfg: cfg.clone(),
        rib,
        fib,
        peers,
        metrics,
    };
    let outcome = task.run(events_rx, kernel_events, control_rx).await;

    // Shutting down: sessions were told to stop inside `run`; now the kernel.
    for l in listeners {
        l.abort();
    }
    control.abort();
    let _ = std::fs::remove_file(&cfg.control_socket);
    match outcome.fib.purge_stale().await {
        Ok(n) => info!(routes = n, "removed our routes from the kernel"),
        Err(e) => error!(error = %e, "could not remove our routes from the kernel"),
    }
    if let Err(e) = tunnels.shutdown().await {
        warn!(error = %e, "tunnel teardown incomplete");
    }
    info!("wgbgpd stopped");
    Ok(())
}

/// Puts the loopbacks on `lo` and brings up one tunnel per peer.
async fn start_tunnels(cfg: &Config) -> Result<TunnelManager, StartError> {
    let backend = match cfg.wireguard.backend {
        WgBackend::Auto => Backend::Auto,
        WgBackend::Kernel => Backend::Kernel,
        WgBackend::Userspace => Backend::Userspace,
    };
    let needs_wireguard = cfg.peers.values().any(|p| p.wireguard.is_some());
    let mut manager = TunnelManager::new(backend).await?;
    manager.ensure_loopbacks(&cfg.loopback).await?;
    if !needs_wireguard {
        return Ok(manager);
    }
    info!(backend = %manager.backend(), "WireGuard backend");
    let path = &cfg.wireguard.private_key_file;
    let private_key = tunnels::keys::load_or_generate(path).map_err(|source| StartError::Key {
        path: path.display().to_string(),
        source,
    })?;
    info!(public_key = %private_key.get_public().to_base64(), "our WireGuard public key");
    let endpoints = cfg.resolve_endpoints().await?;
    for (name, peer) in &cfg.peers {
        let Some(wg) = &peer.wireguard else { continue };
        let spec = TunnelSpec {
            name: name.clone(),
            interface: wg.interface.clone(),
            private_key: private_key.clone(),
            peer_public_key: wg.public_key.clone(),
            endpoint: endpoints.get(name).copied(),
            listen_port: wg.listen_port,
            persistent_keepalive: wg.persistent_keepalive,
            mtu: wg.mtu,
            fwmark: None,
            peer_addresses: peer.addresses.clone(),
        };
        if let Err(e) = manager.up(&spec).await {
            // Leave nothing half-made behind.
            let _ = manager.shutdown().await;
            return Err(e.into());
        }
        info!(peer = %name, interface = %wg.interface, "tunnel up");
    }
    Ok(manager)
}

fn chain(cfg: &Config, names: &[String]) -> Chain {
    Chain(
        names
            .iter()
            .filter_map(|name| {
                let rules = cfg.policies.get(name)?.clone();
                Some(Arc::new(Policy {
                    name: name.clone(),
                    rules,
                }))
            })
            .collect(),
    )
}

fn peer_settings(cfg: &Config, peer: &config::Peer) -> PeerSettings {
    let v4 = cfg.loopback.iter().find_map(|n| match n.addr() {
        IpAddr::V4(a) => Some(a),
        _ => None,
    });
    let v6 = cfg.loopback.iter().find_map(|n| match n.addr() {
        IpAddr::V6(a) => Some(a),
        _ => None,
    });
    // The session source of the peer's family is the next hop of that family.
    let (local_v4, local_v6): (Option<Ipv4Addr>, Option<Ipv6Addr>) = match peer.local_address {
        IpAddr::V4(a) => (Some(a), v6),
        IpAddr::V6(a) => (v4, Some(a)),
    };
    PeerSettings {
        name: peer.name.clone(),
        address: peer.address(),
        asn: peer.asn,
        import: chain(cfg, &peer.import),
        export: chain(cfg, &peer.export),
        local_v4,
        local_v6,
    }
}

fn session_config(cfg: &Config, peer: &config::Peer) -> PeerConfig {
    let mut fsm = bgp::fsm::Config::new(cfg.asn, peer.asn, cfg.router_id);
    fsm.hold_time = peer.hold_time;
    fsm.keepalive = Some(peer.keepalive);
    fsm.passive = peer.passive;
    fsm.hostname = hostname();
    PeerConfig {
        fsm,
        remote: SocketAddr::new(peer.address(), peer.port),
        local: Some(peer.local_address),
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// TCP 179 on both families; connections go to the peer with that address.
async fn start_listeners(
    peers: &BTreeMap<PeerId, PeerRuntime>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StartError> {
    let by_addr: BTreeMap<IpAddr, mpsc::UnboundedSender<Command>> = peers
        .values()
        .flat_map(|p| {
            p.cfg
                .addresses
                .iter()
                .map(|a| (*a, p.session.commands.clone()))
        })
        .collect();
    let by_addr = Arc::new(by_addr);
    let lookup: Arc<dyn Fn(IpAddr) -> Option<mpsc::UnboundedSender<Command>> + Send + Sync> =
        Arc::new(move |ip| by_addr.get(&ip).cloned());
    let mut handles = Vec::new();
    let port = 179;
    let v4: SocketAddr = (Ipv4Addr::UNSPECIFIED, port).into();
    handles.push(
        driver::listen(v4, lookup.clone())
            .await
            .map_err(io_err(format!("listening on {v4}")))?,
    );
    let v6: SocketAddr = (Ipv6Addr::UNSPECIFIED, port).into();
    match driver::listen(v6, lookup).await {
        Ok(h) => handles.push(h),
        Err(e) => warn!(error = %e, "no IPv6 listener"),
    }
    Ok(handles)
}

fn control_handler(tx: mpsc::Sender<ControlRequest>) -> crate::control::Handler {
    Arc::new(move |request| {
        let tx = tx.clone();
        Box::pin(async move {
            let (reply, rx) = tokio::sync::oneshot::channel();
            if tx.send(ControlRequest { request, reply }).await.is_err() {
                return crate::api::Response::Error("daemon is shutting down".into());
            }
            match tokio::time::timeout(Duration::from_secs(10), rx).await {
                Ok(Ok(response)) => response,
                _ => crate::api::Response::Error("daemon did not answer in time".into()),
            }
        })
    })
}
