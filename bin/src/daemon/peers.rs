//! Peer lifecycle in the RIB task: bring a configured peer up (tunnel, RIB
//! entry, session), take it down, and apply a reload by difference.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bgp::driver::{self, Command, PeerConfig};
use bgp::wire::{Afi, CeaseSubcode, Notification};
use rib::kernel::KernelEvent;
use rib::path::PeerId;
use rib::policy::{Chain, Policy};
use rib::table::PeerSettings;
use tracing::{info, warn};
use tunnels::TunnelSpec;

use super::StartError;
use super::rib_task::{PeerRuntime, RibTask};
use crate::config::{self, Config};
use crate::plan::{self, ReloadPlan};

pub(super) fn chain(cfg: &Config, names: &[String]) -> Chain {
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
    // The session source of the peer's family is the next hop of that
    // family; left to the kernel, it is set when the session is up
    // (`Rib::set_peer_source`).
    let (local_v4, local_v6): (Option<Ipv4Addr>, Option<Ipv6Addr>) = match peer.local_address {
        Some(IpAddr::V4(a)) => (Some(a), v6),
        Some(IpAddr::V6(a)) if !config::is_link_local(IpAddr::V6(a)) => (v4, Some(a)),
        _ => (v4, v6),
    };
    PeerSettings {
        name: peer.name.clone(),
        address: peer.address(),
        asn: peer.asn,
        import: chain(cfg, &peer.import),
        export: chain(cfg, &peer.export),
        local_v4,
        local_v6,
        interface: None,
        local_link_local: None,
    }
}

/// Where `peer`'s sessions come from: `local_address` (a tunnel peer's
/// loopback by default), the kernel's choice for a plain peer on a link or
/// `multihop` away, and our loopback for a plain peer that is neither (a
/// loopback reached by a route of ours, as before plain peers needed none).
pub(super) fn update_source(cfg: &Config, peer: &config::Peer) -> bgp::socket::Source {
    use bgp::socket::Source;
    match peer.local_address {
        Some(a) => Source::Address(a),
        None if peer.multihop.is_some() || config::is_link_local(peer.address()) => Source::Kernel,
        None => match cfg.loopback_for(peer.address()) {
            Some(lo) => Source::LoopbackUnlessConnected(lo),
            None => Source::Kernel,
        },
    }
}

fn session_config(
    cfg: &Config,
    peer: &config::Peer,
    restart: Option<bgp::fsm::LocalRestart>,
) -> PeerConfig {
    let mut fsm = bgp::fsm::Config::new(cfg.asn, peer.asn, cfg.router_id);
    fsm.local_restart = restart;
    fsm.hold_time = peer.hold_time;
    fsm.open_hold_time = std::time::Duration::from_secs(peer.startup_hold_time.into());
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
        local: update_source(cfg, peer),
        transport: bgp::socket::Transport {
            ttl_security: peer.ttl_security,
            password: peer.password.clone(),
            ttl: peer.ttl(),
            interface: peer.scope.clone(),
        },
    }
}

/// The interface a plain peer's session runs over and our link-local
/// address on it, from the connection's addresses: a link-local session is
/// on its scope; another on the interface with our address, if the peer is
/// directly connected there (RFC 2545 §3: only then is a link-local next
/// hop any use to it). `None` for a peer reached through a router.
pub(super) fn session_link(
    view: &rib::kernel::KernelView,
    c: driver::Endpoints,
) -> Option<(u32, Option<Ipv6Addr>)> {
    let (local, remote) = (c.local.ip().to_canonical(), c.remote.ip().to_canonical());
    if let (SocketAddr::V6(l), true) = (c.local, config::is_link_local(local)) {
        let ifindex = l.scope_id();
        return (ifindex != 0).then_some((ifindex, Some(*l.ip())));
    }
    let ifindex = view.interface_with(local)?;
    let connected = view.resolve(remote).is_some_and(|hops| {
        (hops.iter()).any(|h| h.ifindex == ifindex && h.onlink && h.gateway == remote)
    });
    connected.then(|| (ifindex, view.link_local(ifindex)))
}

impl RibTask {
    /// What the session's connection tells about a peer the config leaves
    /// open: the next hop we send a peer whose source the kernel picks,
    /// and the interface of a plain peer's session with our link-local
    /// address on it. Called before the RIB hears the session is up.
    pub(super) fn session_source(
        &mut self,
        id: PeerId,
        c: driver::Endpoints,
    ) -> Vec<rib::table::Output> {
        let Some(p) = self.peers.get(&id) else {
            return Vec::new();
        };
        let (plain, configured) = (p.cfg.wireguard.is_none(), p.cfg.local_address.is_some());
        let local = c.local.ip().to_canonical();
        let mut out = Vec::new();
        if !configured && !local.is_unspecified() && !config::is_link_local(local) {
            out.extend(self.rib.set_peer_source(id, local));
            let cfg = p.cfg.clone();
            self.bfd_start(&cfg, Some(local));
        }
        if plain {
            let (ifindex, ours) = match session_link(self.rib.kernel(), c) {
                Some((i, ll)) => (Some(i), ll),
                None => (None, None),
            };
            out.extend(self.rib.set_peer_interface(id, ifindex, ours));
        }
        out
    }

    /// After a link-local address appeared on `ifindex` (`None`: after a
    /// full dump, on any): plain peers whose session runs over its link (it
    /// came up with their session, so the session found none) now send it
    /// with their IPv6 next hops.
    pub(super) fn refresh_session_links(
        &mut self,
        ifindex: Option<u32>,
    ) -> Vec<rib::table::Output> {
        let mut out = Vec::new();
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            let p = &self.peers[&id];
            let connection = *p.session.stats.connection.lock().unwrap();
            let (Some(c), true) = (connection, p.cfg.wireguard.is_none()) else {
                continue;
            };
            let Some((i, ll)) = session_link(self.rib.kernel(), c) else {
                continue;
            };
            let now = (self.rib.peer_settings(id)).map(|s| (s.interface, s.local_link_local));
            if ifindex.is_none_or(|want| want == i) && now != Some((Some(i), ll)) {
                out.extend(self.rib.set_peer_interface(id, Some(i), ll));
            }
        }
        out
    }

    /// Kernel changes that may have just opened the path to a peer: the
    /// interface of its session came up (the link, or a link-local address
    /// on it), or a route covering its address appeared. Its session, if
    /// not up, then connects at once instead of at its ConnectRetry (the FSM
    /// leaves an open connection alone).
    pub(super) fn connect_now_after(&self, ev: &KernelEvent) {
        let view = self.rib.kernel();
        let wakes = |cfg: &config::Peer| match ev {
            KernelEvent::LinkChanged { name, up: true, .. } => {
                cfg.session_interface() == Some(name.as_str())
            }
            KernelEvent::AddressAdded { ifindex, addr } if config::is_link_local(*addr) => {
                (cfg.session_interface()).is_some_and(|i| view.ifindex(i) == Some(*ifindex))
            }
            KernelEvent::RouteAdded(r) | KernelEvent::RouteReplaced(r) => {
                r.protocol != rib::kernel::RTPROT_BGP && r.prefix.contains(&cfg.address())
            }
            _ => false,
        };
        for p in self.peers.values() {
            if p.session.stats.state() != bgp::fsm::State::Established && wakes(&p.cfg) {
                tracing::debug!(peer = %p.name, "path to the peer appeared: connecting now");
                let _ = p.session.commands.send(Command::ConnectNow);
            }
        }
    }

    pub(super) async fn tunnel_spec(
        &self,
        peer: &config::Peer,
    ) -> Result<Option<TunnelSpec>, StartError> {
        let Some(wg) = &peer.wireguard else {
            return Ok(None);
        };
        let endpoint = match &wg.endpoint {
            Some(ep) => Some(crate::host::resolve_endpoint(ep).await.map_err(|source| {
                StartError::Resolve(crate::host::ResolveError {
                    peer: peer.name.clone(),
                    endpoint: ep.to_string(),
                    source,
                })
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
        Some(TunnelSpec {
            name: peer.name.clone(),
            interface: wg.interface.clone(),
            private_key,
            peer_public_key: wg.public_key.clone(),
            endpoint,
            listen_port: wg.listen_port,
            persistent_keepalive: wg.persistent_keepalive,
            mtu: wg.mtu,
            fwmark: Some(self.cfg.kernel.fwmark).filter(|m| *m != 0),
            // A link-local peer is on the tunnel's own fe80::/64.
            peer_addresses: (peer.addresses.iter().copied())
                .filter(|a| !config::is_link_local(*a))
                .collect(),
            link_local: self.cfg.tunnel_link_local(peer),
        })
    }

    /// Brings up the tunnel, the RIB entry and the session of `name` from
    /// the current config. A new session always gets a fresh id, so events
    /// of a session being torn down can never reach its successor.
    pub(super) async fn add_peer(&mut self, name: &str) -> Result<PeerId, StartError> {
        let cfg = self.cfg.clone();
        let peer = cfg.peers[name].clone();
        if let Some(spec) = self.tunnel_spec(&peer).await? {
            self.tunnels.up(&spec).await?;
            info!(peer = %name, interface = %spec.interface, "tunnel up");
        }
        if let Some(key) = &peer.password {
            for a in &peer.addresses {
                self.listener
                    .set_md5(*a, Some(key))
                    .map_err(|source| StartError::Io {
                        what: format!("TCP-MD5 key for {a}"),
                        source,
                    })?;
            }
        }
        self.bfd_add(&peer).await?;
        let id = self.next_id;
        self.next_id += 1;
        self.rib.add_peer(id, peer_settings(&cfg, &peer));
        // RFC 2545 link-local next hops from a tunnel peer are scoped to
        // its interface (`via inet6 fe80::b dev wg-s2`), and ours on it
        // goes with the next hops we send.
        if let Some(ifname) = peer.session_interface() {
            let ours = cfg.tunnel_link_local(&peer);
            let out = (self.rib).set_peer_interface(id, interface_index(ifname), ours);
            self.dispatch(out).await;
        }
        self.rib
            .set_soft_reconfiguration(id, peer.soft_reconfiguration_inbound);
        self.rib.set_guard(id, peer.limits.guard);
        self.rib
            .track_memory(id, peer.limits.max_adj_rib_in_mib.is_some());
        let restart = self.restart.for_peer(&peer);
        let session = driver::spawn(
            id,
            session_config(&cfg, &peer, restart),
            self.events.clone(),
        );
        if !peer.shutdown {
            let _ = session.commands.send(Command::Start);
        }
        {
            let mut map = self.sessions.write().unwrap();
            for key in super::session_keys(&peer) {
                map.insert(key, session.commands.clone());
            }
        }
        self.peers.insert(
            id,
            PeerRuntime {
                name: name.to_string(),
                cfg: peer,
                session,
            },
        );
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// Stops the session of `name` with `notification` and forgets its
    /// routes; `keep_tunnel` leaves the interface for a successor.
    async fn drop_peer(&mut self, name: &str, notification: Notification, keep_tunnel: bool) {
        let Some(id) = self.names.remove(name) else {
            return;
        };
        let Some(p) = self.peers.remove(&id) else {
            return;
        };
        self.bfd_remove(&p.cfg);
        {
            let mut map = self.sessions.write().unwrap();
            for key in super::session_keys(&p.cfg) {
                map.remove(&key);
            }
        }
        if p.cfg.password.is_some() {
            for a in &p.cfg.addresses {
                let _ = self.listener.set_md5(*a, None);
            }
        }
        // The task ends once its last command sender (this one) is gone;
        // the writer still flushes the NOTIFICATION.
        let _ = p.session.commands.send(Command::Reset(notification));
        let _ = p.session.commands.send(Command::Stop {
            communication: None,
        });
        self.graceful.forget(id);
        self.max_prefix.forget(id);
        self.limits.forget(id);
        self.restart.forget(name);
        let out = self.rib.remove_peer(id);
        self.dispatch(out).await;
        if !keep_tunnel
            && let Some(ifname) = p.cfg.interface()
            && let Err(e) = self.tunnels.down(ifname).await
        {
            warn!(peer = %name, error = %e, "tunnel teardown failed");
        }
    }

    /// `clear bgp PEER`: a hard reset of the session (Cease/Administrative Reset).
    pub(super) fn reset_session(&self, id: PeerId) {
        if let Some(p) = self.peers.get(&id) {
            let n = Notification::cease(CeaseSubcode::AdministrativeReset, bytes::Bytes::new());
            let _ = p.session.commands.send(Command::Reset(n));
        }
    }

    /// `clear bgp PEER soft in`: ask the peer to resend (RFC 2918).
    pub(super) fn refresh_in(&self, id: PeerId) {
        if let Some(p) = self.peers.get(&id) {
            for afi in [Afi::Ipv4, Afi::Ipv6] {
                let _ = p.session.commands.send(Command::RouteRefresh(afi));
            }
        }
    }

    /// `clear bgp PEER soft in`: from the stored pre-policy routes with
    /// `soft_reconfiguration: inbound`, else by ROUTE-REFRESH.
    pub(super) async fn soft_in(&mut self, id: PeerId) {
        if self.rib.soft_reconfiguration(id) {
            let out = self.rib.soft_in(id);
            self.dispatch(out).await;
        } else {
            self.refresh_in(id);
        }
    }

    /// `clear bgp PEER soft out`: resend our Adj-RIB-Out.
    pub(super) async fn refresh_out(&mut self, id: PeerId) {
        for afi in [Afi::Ipv4, Afi::Ipv6] {
            let out = self.rib.handle_route_refresh(id, afi);
            self.dispatch(out).await;
        }
    }

    /// Loads `path` (or the running config's file) and plans the reload.
    pub(super) fn plan_file(
        &self,
        path: Option<&std::path::Path>,
    ) -> Result<(Config, ReloadPlan), String> {
        let path = path.unwrap_or(&self.cfg.path);
        let new = crate::host::load(path).map_err(|e| e.to_string())?.config;
        let plan = plan::plan(&self.cfg, &new);
        Ok((new, plan))
    }

    /// Applies `new` by difference. A plan that needs a restart is refused
    /// and nothing changes.
    pub(super) async fn reload(&mut self, new: Config, plan: &ReloadPlan) -> Result<(), String> {
        if !plan.restart_required.is_empty() {
            return Err(format!(
                "not reloaded: {} cannot change without a restart",
                plan.restart_required.join(", ")
            ));
        }
        let new = Arc::new(new);
        let old = std::mem::replace(&mut self.cfg, new.clone());
        // The key file is read again on every reload: a new key in the same
        // file rotates the key of every tunnel, as a new file does.
        let mut key_changed = false;
        if new.peers.values().any(|p| p.wireguard.is_some()) {
            let path = &new.wireguard.private_key_file;
            match tunnels::keys::load_or_generate(path) {
                Ok(k) => {
                    key_changed = self.private_key.as_ref() != Some(&k);
                    self.private_key = Some(k);
                }
                Err(e) => {
                    self.cfg = old;
                    return Err(format!("private key {}: {e}", path.display()));
                }
            }
        }
        if let Err(e) = self.tunnels.ensure_loopbacks(&plan.loopbacks_added).await {
            warn!(error = %e, "adding loopbacks failed");
        }
        let deconfigured = Notification::cease(CeaseSubcode::PeerDeconfigured, bytes::Bytes::new());
        for name in &plan.peers_removed {
            info!(peer = %name, "reload: removing peer");
            self.drop_peer(name, deconfigured.clone(), false).await;
        }
        let mut errors = Vec::new();
        for (name, why) in &plan.sessions_reset {
            info!(peer = %name, reasons = %why.join(","), "reload: resetting session");
            let changed =
                Notification::cease(CeaseSubcode::OtherConfigurationChange, bytes::Bytes::new());
            let same_if = old.peers[name].interface() == new.peers[name].interface();
            self.drop_peer(name, changed, same_if).await;
            if let Err(e) = self.add_peer(name).await {
                errors.push(format!("{name}: {e}"));
            }
        }
        for name in &plan.peers_added {
            info!(peer = %name, "reload: adding peer");
            if let Err(e) = self.add_peer(name).await {
                errors.push(format!("{name}: {e}"));
            }
        }
        for (name, peer) in &new.peers {
            let Some(&id) = self.names.get(name) else {
                continue;
            };
            let fresh = plan.peers_added.contains(name)
                || plan.sessions_reset.iter().any(|(n, _)| n == name);
            if fresh {
                continue;
            }
            // Applies to routes received from now on (`clear soft in` for the rest).
            self.rib.set_guard(id, peer.limits.guard);
            self.rib
                .track_memory(id, peer.limits.max_adj_rib_in_mib.is_some());
            if plan.tunnels_changed.contains(name) || (key_changed && peer.wireguard.is_some()) {
                let applied = match self.tunnel_spec(peer).await {
                    Ok(Some(spec)) => self.tunnels.up(&spec).await.map_err(|e| e.to_string()),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e.to_string()),
                };
                match applied {
                    Ok(()) => info!(peer = %name, "reload: tunnel reconfigured in place"),
                    Err(e) => errors.push(format!("{name}: tunnel: {e}")),
                }
                // Host routes follow `address`; the session itself is unchanged.
                let mut map = self.sessions.write().unwrap();
                for key in super::session_keys(&old.peers[name]) {
                    map.remove(&key);
                }
                for key in super::session_keys(peer) {
                    map.insert(key, self.peers[&id].session.commands.clone());
                }
            }
            // Before the policies: a new import chain is re-applied from the
            // copy only if the copy is (still) there.
            let soft = peer.soft_reconfiguration_inbound;
            if old.peers[name].soft_reconfiguration_inbound != soft {
                info!(peer = %name, on = soft, "reload: soft_reconfiguration inbound changed");
                // Turned on: the copy is filled by the peer resending.
                if self.rib.set_soft_reconfiguration(id, soft) {
                    self.refresh_in(id);
                }
            }
            if plan.import_changed.contains(name) || plan.export_changed.contains(name) {
                let (out, import_changed) =
                    self.rib
                        .set_policies(id, chain(&new, &peer.import), chain(&new, &peer.export));
                self.dispatch(out).await;
                if import_changed {
                    info!(peer = %name, "reload: import policy changed, requesting route refresh");
                    self.refresh_in(id);
                }
            }
            if plan.shutdown_changed.contains(name) {
                let p = &self.peers[&id];
                let cmd = if peer.shutdown {
                    Command::Stop {
                        communication: Some("administratively shut down".into()),
                    }
                } else {
                    Command::Start
                };
                let _ = p.session.commands.send(cmd);
            }
            if let Some(p) = self.peers.get_mut(&id) {
                p.cfg = peer.clone();
            }
            self.rib.rename_peer(id, name);
        }
        let out = self.rib.withdraw_local(&plan.announce_removed);
        self.dispatch(out).await;
        let out = self.rib.originate(&plan.announce_added);
        self.dispatch(out).await;
        // kernel.rules by difference, endpoints re-pinned.
        self.underlay.reload(new.clone());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The index of interface `name` in this namespace, if it exists.
fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: if_nametoindex reads a NUL-terminated string we own.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}
