//! Carrying out the router's [`Action`]s: session tasks and their
//! commands, tunnels, repairs, metrics. What an action's outcome means is
//! the router's to decide: it comes back as the next [`Input`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bgp::driver::{self, Command, PeerConfig};
use rib::path::PeerId;
use tracing::{info, warn};
use tunnels::TunnelSpec;

use super::router::{Action, Count, Input, Observation, Purpose, Restored};
use super::shell::{Applied, Shell};
use crate::config::{self, Config};

/// How long a tunnel status read may take before the tunnel counts as dead.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// The session configuration of `peer`.
fn session_config(
    cfg: &Config,
    peer: &config::Peer,
    restart: Option<bgp::fsm::LocalRestart>,
) -> PeerConfig {
    let mut fsm = bgp::fsm::Config::new(cfg.asn, peer.asn.number().unwrap_or(0), cfg.router_id);
    fsm.remote_as = peer.asn;
    fsm.local_restart = restart;
    fsm.hold_time = peer.hold_time;
    fsm.open_hold_time = Duration::from_secs(peer.startup_hold_time.into());
    fsm.keepalive = Some(peer.keepalive);
    fsm.passive = peer.passive;
    fsm.graceful_restart = peer.graceful_restart;
    fsm.extended_next_hop = peer.extended_next_hop;
    fsm.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    PeerConfig {
        fsm,
        remote: SocketAddr::new(peer.address(), peer.port),
        local: super::router::update_source(cfg, peer),
        transport: bgp::socket::Transport {
            ttl_security: peer.ttl_security,
            password: peer.password.clone(),
            ttl: peer.ttl(),
            interface: peer.scope.clone(),
        },
    }
}

/// The index of interface `name` in this namespace, if it exists.
fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex reads a NUL-terminated string we own.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

impl Shell {
    pub(super) async fn execute(
        &mut self,
        action: Action,
        queue: &mut VecDeque<Input>,
        applied: &mut Applied,
    ) {
        match action {
            Action::Fib(ops) => match self.fib_ops.is_empty() {
                true => self.fib_ops = ops,
                false => self.fib_ops.extend(ops),
            },
            Action::FailOver(dead) => {
                // In order: the batches planned before it go first.
                self.submit().await;
                self.fib.fail_over(dead).await;
            }
            Action::RestoreNexthops => {
                self.submit().await;
                match self.fib.restore_nexthops().await {
                    Ok(r) => {
                        if r.objects > 0 || r.routes > 0 {
                            warn!(
                                objects = r.objects,
                                routes = r.routes,
                                "nexthop objects were deleted behind our back: restored"
                            );
                            let kind = super::router::heal::Kind::Nexthop;
                            self.count(Count::Repaired {
                                kind,
                                n: r.objects as u64,
                            });
                        }
                        for (what, why) in r.errors.iter().take(10) {
                            warn!(what, why, "could not restore");
                        }
                    }
                    Err(e) => warn!(error = %e, "could not restore our nexthop objects"),
                }
            }
            Action::Session(id, cmd) => self.command(id, cmd),
            Action::Spawn { peer, cfg, restart } => {
                let input = match self.spawn(peer, &cfg, restart).await {
                    Ok(tunnel) => Input::TunnelUp {
                        peer,
                        result: tunnel
                            .map(|()| (cfg.session_interface()).and_then(interface_index)),
                    },
                    Err(e) => {
                        applied.errors.push(format!("{}: {e}", cfg.name));
                        Input::SpawnFailed { peer }
                    }
                };
                queue.push_back(input);
            }
            Action::TunnelUp { peer, cfg } => {
                let result = self.tunnel_up(&cfg).await;
                let result = result.map(|()| (cfg.session_interface()).and_then(interface_index));
                queue.push_back(Input::TunnelUp { peer, result });
            }
            Action::ReconfigureTunnel { peer, old, cfg } => {
                let applied_here = match self.tunnel_spec(&cfg).await {
                    Ok(Some(spec)) => self.tunnels.up(&spec).await.map_err(|e| e.to_string()),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                match applied_here {
                    Ok(()) => info!(peer = %cfg.name, "reload: tunnel reconfigured in place"),
                    Err(e) => applied.errors.push(format!("{}: tunnel: {e}", cfg.name)),
                }
                if let Some(s) = self.sessions.get(&peer) {
                    let mut map = self.session_map.write().unwrap();
                    for key in super::session_keys(&old) {
                        map.remove(&key);
                    }
                    for key in super::session_keys(&cfg) {
                        map.insert(key, s.commands.clone());
                    }
                }
            }
            Action::Remove {
                peer,
                cfg,
                notification,
                keep_tunnel,
            } => self.remove(peer, &cfg, notification, keep_tunnel).await,
            Action::ReadTunnel {
                peer,
                ifname,
                purpose,
            } => {
                let (seen, endpoint) = self.read_tunnel(&ifname, purpose).await;
                queue.push_back(Input::TunnelRead {
                    peer,
                    purpose,
                    seen,
                    endpoint,
                });
            }
            Action::RestartHandshake { cfg, endpoint, .. } => {
                if let Some(spec) = self.tunnel_spec_with(&cfg, endpoint)
                    && let Err(e) = self.tunnels.restart_handshake(&spec).await
                {
                    tracing::debug!(peer = %cfg.name, error = %e, "restarting the handshake failed");
                }
            }
            Action::RecreateTunnel { ifname, cfg } => {
                let ok = match self.tunnel_spec(&cfg).await {
                    // Already back (wireguard-go's supervisor restarted it) counts too.
                    Ok(Some(spec)) => match self.tunnels.recreate(&spec).await {
                        Ok(_) => true,
                        Err(e) => {
                            warn!(interface = %ifname, error = %e, "recreating the tunnel failed; retrying");
                            false
                        }
                    },
                    Ok(None) => return,
                    Err(e) => {
                        warn!(interface = %ifname, error = %e, "cannot recreate the tunnel");
                        false
                    }
                };
                queue.push_back(Input::Restored(Restored::Interface { ifname, ok }));
            }
            Action::RestoreLoopbacks(wanted) => {
                let result = self.tunnels.restore_loopbacks(&wanted).await;
                let result = result.map_err(|e| e.to_string());
                queue.push_back(Input::Restored(Restored::Loopbacks { wanted, result }));
            }
            Action::RestoreHostRoutes { ifname, addrs } => {
                let result = self.tunnels.restore_host_routes(&ifname, &addrs).await;
                let result = result.map_err(|e| e.to_string());
                queue.push_back(Input::Restored(Restored::HostRoutes {
                    ifname,
                    wanted: addrs,
                    result,
                }));
            }
            Action::StartBfd { peer, source } => {
                if let Some(p) = self.router.peers().get(&peer) {
                    let cfg = p.cfg.clone();
                    self.bfd_start(&cfg, source);
                }
            }
            Action::LastError { peer, error } => {
                if let Some(s) = self.sessions.get(&peer) {
                    *s.stats.last_error.lock().unwrap() = error;
                }
            }
            Action::Count(count) => self.count(count),
            answer @ (Action::Cleared(_) | Action::Reloaded(_)) => applied.answers.push(answer),
        }
    }

    fn command(&self, id: PeerId, cmd: Command) {
        if let Some(s) = self.sessions.get(&id) {
            let _ = s.commands.send(cmd);
        }
    }

    /// A new peer's session task (not started), TCP-MD5 keys, BFD and
    /// listener entries; first its tunnel, whose failure only delays the
    /// session (`Ok(Err(_))`). `Err`: the peer cannot run at all.
    async fn spawn(
        &mut self,
        id: PeerId,
        peer: &config::Peer,
        restart: Option<bgp::fsm::LocalRestart>,
    ) -> Result<Result<(), String>, String> {
        let tunnel = self.tunnel_up(peer).await;
        if let Some(key) = &peer.password {
            for a in &peer.addresses {
                (self.listener.set_md5(*a, Some(key)))
                    .map_err(|e| format!("TCP-MD5 key for {a}: {e}"))?;
            }
        }
        self.bfd_add(peer).await.map_err(|e| e.to_string())?;
        let cfg = session_config(self.router.config(), peer, restart);
        let session = driver::spawn(id, cfg, self.events.clone());
        {
            let mut map = self.session_map.write().unwrap();
            for key in super::session_keys(peer) {
                map.insert(key, session.commands.clone());
            }
        }
        self.sessions.insert(id, session);
        Ok(tunnel)
    }

    /// Stops the session of `id` with `notification`; `keep_tunnel`
    /// leaves the interface for a successor.
    async fn remove(
        &mut self,
        id: PeerId,
        cfg: &config::Peer,
        notification: bgp::wire::Notification,
        keep_tunnel: bool,
    ) {
        self.bfd_remove(cfg);
        {
            let mut map = self.session_map.write().unwrap();
            for key in super::session_keys(cfg) {
                map.remove(&key);
            }
        }
        if cfg.password.is_some() {
            for a in &cfg.addresses {
                let _ = self.listener.set_md5(*a, None);
            }
        }
        // The task ends once its last command sender (this one) is gone;
        // the writer still flushes the NOTIFICATION.
        if let Some(s) = self.sessions.remove(&id) {
            let _ = s.commands.send(Command::Reset(notification));
            let _ = s.commands.send(Command::Stop {
                communication: None,
            });
        }
        if !keep_tunnel
            && let Some(ifname) = cfg.interface()
            && self.tunnels.manages(ifname)
            && let Err(e) = self.tunnels.down(ifname).await
        {
            warn!(peer = %cfg.name, error = %e, "tunnel teardown failed");
        }
    }

    /// What a read of tunnel `ifname` shows. A frozen wireguard-go never
    /// answers its UAPI socket: that, too, is a dead tunnel, and must not
    /// stall the shell.
    async fn read_tunnel(
        &self,
        ifname: &str,
        purpose: Purpose,
    ) -> (Observation, Option<SocketAddr>) {
        let status = tokio::time::timeout(STATUS_TIMEOUT, self.tunnels.status(ifname)).await;
        match status {
            Err(_) => (
                Observation::Missing(format!("{ifname} did not answer within {STATUS_TIMEOUT:?}")),
                None,
            ),
            Ok(Ok(st)) => match (st.peer, purpose) {
                (Some(peer), _) => (
                    Observation::Counters {
                        rx_bytes: peer.rx_bytes,
                        handshake_age: peer.handshake_age,
                    },
                    peer.endpoint,
                ),
                // No peer yet is no handshake yet, for the first one.
                (None, Purpose::Handshake) => (
                    Observation::Counters {
                        rx_bytes: 0,
                        handshake_age: None,
                    },
                    None,
                ),
                (None, Purpose::Liveness) => {
                    (Observation::Missing(format!("{ifname} has no peer")), None)
                }
            },
            Ok(Err(e)) => (Observation::Missing(e.to_string()), None),
        }
    }

    /// Makes `peer`'s tunnel, if it has one, resolving its endpoint first.
    async fn tunnel_up(&mut self, peer: &config::Peer) -> Result<(), String> {
        if let Some(spec) = self.tunnel_spec(peer).await? {
            self.tunnels.up(&spec).await.map_err(|e| e.to_string())?;
            info!(peer = %peer.name, interface = %spec.interface, "tunnel up");
        }
        Ok(())
    }

    pub(super) async fn tunnel_spec(
        &self,
        peer: &config::Peer,
    ) -> Result<Option<TunnelSpec>, String> {
        let Some(wg) = &peer.wireguard else {
            return Ok(None);
        };
        let endpoint = match &wg.endpoint {
            Some(ep) => Some(crate::host::resolve_endpoint(ep).await.map_err(|source| {
                crate::host::ResolveError {
                    peer: peer.name.clone(),
                    endpoint: ep.to_string(),
                    source,
                }
                .to_string()
            })?),
            None => None,
        };
        Ok(self.tunnel_spec_with(peer, endpoint))
    }

    /// The tunnel of `peer` with `endpoint` (already resolved).
    pub(super) fn tunnel_spec_with(
        &self,
        peer: &config::Peer,
        endpoint: Option<SocketAddr>,
    ) -> Option<TunnelSpec> {
        let (Some(wg), Some(private_key)) = (&peer.wireguard, self.private_key.clone()) else {
            return None;
        };
        let cfg = self.router.config();
        Some(TunnelSpec {
            name: peer.name.clone(),
            interface: wg.interface.clone(),
            private_key,
            peer_public_key: wg.public_key.clone(),
            endpoint,
            listen_port: wg.listen_port,
            persistent_keepalive: wg.persistent_keepalive,
            mtu: wg.mtu,
            fwmark: Some(cfg.kernel.fwmark).filter(|m| *m != 0),
            // A link-local peer is on the tunnel's own fe80::/64.
            peer_addresses: (peer.addresses.iter().copied())
                .filter(|a| !config::is_link_local(*a))
                .collect(),
            link_local: cfg.tunnel_link_local(peer),
        })
    }

    /// Adds what the router counted to the metrics.
    fn count(&self, count: Count) {
        let m = &self.metrics;
        let labels = |id: PeerId| {
            let p = self.router.peers().get(&id)?;
            Some(super::gauges::peer_labels(&p.cfg))
        };
        match count {
            Count::PeerState { peer, from, to } => self.peer_state_metrics(peer, from, to),
            Count::SessionTaskFailed { peer } => {
                if let Some(l) = labels(peer) {
                    m.session_task_failures_total.with_label_values(&l).inc();
                }
            }
            Count::TunnelFailure { peer } => {
                if let Some(l) = labels(peer) {
                    m.tunnel_failures_total.with_label_values(&l).inc();
                }
            }
            Count::TunnelDead { peer } => {
                if let Some(p) = self.router.peers().get(&peer) {
                    let ifname = p.cfg.interface().unwrap_or_default();
                    m.tunnel_dead_total
                        .with_label_values(&[&p.name, ifname])
                        .inc();
                }
            }
            Count::BfdDown { peer } => {
                if let Some(p) = self.router.peers().get(&peer) {
                    let address = p.cfg.address().to_string();
                    let l = [p.name.as_str(), &address];
                    m.bfd_session_down_total.with_label_values(&l).inc();
                }
            }
            Count::Repaired { kind, n } => {
                (m.kernel_repairs_total.with_label_values(&[kind.label()])).inc_by(n);
            }
        }
    }
}
