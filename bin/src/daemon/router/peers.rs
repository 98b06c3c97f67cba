//! The peer table: adding a configured peer (RIB entry, then its session
//! and tunnel by the shell), its tunnel coming up or failing, removing it,
//! a reload applied by difference, and `clear`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use bgp::driver::Command;
use bgp::fsm::State;
use bgp::wire::{Afi, CeaseSubcode, Notification};
use rib::path::PeerId;
use rib::policy::{Chain, Policy};
use rib::table::PeerSettings;
use tracing::{error, info};

use super::{Action, Count, Peer, Router};
use crate::api::SoftDirection;
use crate::config::{self, Config};
use crate::plan::ReloadPlan;

/// One shared policy per name, so that the peers using it share it.
pub(super) type Policies = std::collections::BTreeMap<String, Arc<Policy>>;

/// The policies of `cfg`, each built once.
pub(super) fn policies(cfg: &Config) -> Policies {
    (cfg.policies.iter())
        .map(|(name, rules)| {
            let policy = Policy {
                name: name.clone(),
                rules: rules.clone(),
            };
            (name.clone(), Arc::new(policy))
        })
        .collect()
}

/// The chain of `names` (a name without a policy is skipped: validation
/// refuses it).
pub(super) fn chain(policies: &Policies, names: &[String]) -> Chain {
    Chain(
        names
            .iter()
            .filter_map(|n| policies.get(n).cloned())
            .collect(),
    )
}

fn peer_settings(cfg: &Config, policies: &Policies, peer: &config::Peer) -> PeerSettings {
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
        // An `external` peer's is set when its session is up.
        asn: peer.asn.number().unwrap_or(0),
        import: chain(policies, &peer.import),
        export: chain(policies, &peer.export),
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
pub(crate) fn update_source(cfg: &Config, peer: &config::Peer) -> bgp::socket::Source {
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

fn cease(subcode: CeaseSubcode) -> Notification {
    Notification::cease(subcode, bytes::Bytes::new())
}

impl Router {
    /// Our prefixes, then every configured peer.
    pub(super) fn start(&mut self, _now: Instant, out: &mut Vec<Action>) {
        let o = self.rib.originate(&self.cfg.announce);
        self.route(o, out);
        let names: Vec<String> = self.cfg.peers.keys().cloned().collect();
        for name in names {
            self.add_peer(&name, out);
        }
    }

    /// Adds `name` from the current config: its RIB entry now, its session
    /// and tunnel by the shell ([`Action::Spawn`]). A new session always
    /// gets a fresh id, so events of a session being torn down can never
    /// reach its successor.
    fn add_peer(&mut self, name: &str, out: &mut Vec<Action>) -> PeerId {
        let cfg = self.cfg.peers[name].clone();
        let id = self.next_id;
        self.next_id += 1;
        self.rib
            .add_peer(id, peer_settings(&self.cfg, &self.policies, &cfg));
        self.rib
            .set_soft_reconfiguration(id, cfg.soft_reconfiguration_inbound);
        self.rib.set_guard(id, cfg.limits.guard);
        (self.rib).set_enforce_first_as(id, cfg.limits.enforce_first_as);
        (self.rib).track_memory(id, cfg.limits.max_adj_rib_in_mib.is_some());
        out.push(Action::Spawn {
            peer: id,
            cfg: cfg.clone(),
            restart: self.restart.for_peer(&cfg),
        });
        self.peers.insert(
            id,
            Peer {
                name: name.to_string(),
                cfg,
                state: State::Idle,
                connection: None,
                tunnel_up: false,
            },
        );
        self.names.insert(name.to_string(), id);
        id
    }

    /// The tunnel of `id` is up (at its start, or retried at last), or
    /// failed to come up: the session starts, or waits for a retry.
    pub(super) fn tunnel_up(
        &mut self,
        now: Instant,
        id: PeerId,
        result: Result<Option<u32>, String>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let ifindex = match result {
            Ok(ifindex) => ifindex,
            Err(error) => return self.tunnel_failed(now, id, error, out),
        };
        p.tunnel_up = true;
        if let Some(failed) = self.tunnel_retry.get(id) {
            info!(peer = %p.name, failed_attempts = failed.attempts,
                  "tunnel up at last: starting the session");
            self.tunnel_retry.forget(id);
            out.push(Action::LastError {
                peer: id,
                error: None,
            });
        }
        // RFC 2545 link-local next hops from a peer on its own interface are
        // scoped to it (`via inet6 fe80::b dev wg-s2`), and ours on it goes
        // with the next hops we send.
        if p.cfg.session_interface().is_some() {
            let ours = self.cfg.tunnel_link_local(&p.cfg);
            let o = self.rib.set_peer_interface(id, ifindex, ours);
            self.route(o, out);
        }
        let p = &self.peers[&id];
        if !p.cfg.shutdown {
            out.push(Action::Session(id, Command::Start));
        }
        self.wait_for_handshake(now, id);
    }

    /// The tunnel of `id` failed to come up: logged, counted, shown as its
    /// session's last error, and tried again after a back-off. The other
    /// peers carry on.
    fn tunnel_failed(&mut self, now: Instant, id: PeerId, error: String, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.tunnel_up = false;
        let wait = self.tunnel_retry.failed(now, id, error.clone());
        error!(peer = %p.name, interface = ?p.cfg.interface(), %error, retry_in = ?wait,
            "tunnel failed to come up: its session waits; the other peers carry on");
        out.push(Action::Count(Count::TunnelFailure { peer: id }));
        out.push(Action::LastError {
            peer: id,
            error: Some(format!("tunnel: {error}")),
        });
    }

    /// Watches the tunnel of `id` for its first handshake if its session
    /// dials out over one (a tunnel with an endpoint, not shut down).
    pub(super) fn wait_for_handshake(&mut self, now: Instant, id: PeerId) {
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let dials = (p.cfg.wireguard.as_ref()).is_some_and(|w| w.endpoint.is_some());
        if dials && !p.cfg.shutdown && !p.cfg.passive && self.tunnel_retry.get(id).is_none() {
            self.handshake.wait(now, id);
        }
    }

    /// Forgets everything of `id` but what the shell tears down.
    pub(super) fn forget_peer(&mut self, id: PeerId, out: &mut Vec<Action>) {
        let Some(p) = self.peers.remove(&id) else {
            return;
        };
        if self.names.get(&p.name) == Some(&id) {
            self.names.remove(&p.name);
        }
        self.graceful.forget(id);
        self.tunnel_retry.forget(id);
        self.handshake.forget(id);
        self.max_prefix.forget(id);
        self.liveness.forget(id);
        self.limits.forget(id);
        self.restart.forget(&p.name);
        let o = self.rib.remove_peer(id);
        self.route(o, out);
    }

    /// Stops the session of `name` with `notification` and forgets its
    /// routes; `keep_tunnel` leaves the interface for a successor.
    fn drop_peer(
        &mut self,
        name: &str,
        notification: Notification,
        keep_tunnel: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(&id) = self.names.get(name) else {
            return;
        };
        let cfg = self.peers[&id].cfg.clone();
        out.push(Action::Remove {
            peer: id,
            cfg,
            notification,
            keep_tunnel,
        });
        self.forget_peer(id, out);
    }

    /// Applies `new` by difference. A plan that needs a restart is refused
    /// and nothing changes. What the shell fails to carry out is added to
    /// the answer.
    pub(super) fn reload(
        &mut self,
        now: Instant,
        new: Config,
        plan: &ReloadPlan,
        key_changed: bool,
        out: &mut Vec<Action>,
    ) {
        if !plan.restart_required.is_empty() {
            out.push(Action::Reloaded(Err(format!(
                "not reloaded: {} cannot change without a restart",
                plan.restart_required.join(", ")
            ))));
            return;
        }
        let new = Arc::new(new);
        let old = std::mem::replace(&mut self.cfg, new.clone());
        self.policies = policies(&new);
        for name in &plan.peers_removed {
            info!(peer = %name, "reload: removing peer");
            self.drop_peer(name, cease(CeaseSubcode::PeerDeconfigured), false, out);
        }
        for (name, why) in &plan.sessions_reset {
            info!(peer = %name, reasons = %why.join(","), "reload: resetting session");
            let same_if = old.peers[name].interface() == new.peers[name].interface();
            let changed = cease(CeaseSubcode::OtherConfigurationChange);
            self.drop_peer(name, changed, same_if, out);
            self.add_peer(name, out);
        }
        for name in &plan.peers_added {
            info!(peer = %name, "reload: adding peer");
            self.add_peer(name, out);
        }
        for (name, peer) in &new.peers {
            let Some(&id) = self.names.get(name) else {
                continue;
            };
            let fresh = plan.peers_added.contains(name)
                || plan.sessions_reset.iter().any(|(n, _)| n == name);
            if !fresh {
                self.reload_in_place(id, &old.peers[name], peer, plan, key_changed, out);
            }
        }
        let o = self.rib.withdraw_local(&plan.announce_removed);
        self.route(o, out);
        let o = self.rib.originate(&plan.announce_added);
        self.route(o, out);
        // A removed peer is no longer waited for by our own restart.
        self.end_deferral_if_due(now, out);
        out.push(Action::Reloaded(Ok(())));
    }

    /// A peer whose session survives the reload: what changed is applied
    /// to it as it runs.
    fn reload_in_place(
        &mut self,
        id: PeerId,
        old: &config::Peer,
        peer: &config::Peer,
        plan: &ReloadPlan,
        key_changed: bool,
        out: &mut Vec<Action>,
    ) {
        let name = &peer.name;
        // Applies to routes received from now on (`clear soft in` for the rest).
        self.rib.set_guard(id, peer.limits.guard);
        (self.rib).set_enforce_first_as(id, peer.limits.enforce_first_as);
        (self.rib).track_memory(id, peer.limits.max_adj_rib_in_mib.is_some());
        let tunnel =
            plan.tunnels_changed.contains(name) || (key_changed && peer.wireguard.is_some());
        if tunnel {
            out.push(Action::ReconfigureTunnel {
                peer: id,
                old: old.clone(),
                cfg: peer.clone(),
            });
        }
        // Before the policies: a new import chain is re-applied from the
        // copy only if the copy is (still) there.
        let soft = peer.soft_reconfiguration_inbound;
        if old.soft_reconfiguration_inbound != soft {
            info!(peer = %name, on = soft, "reload: soft_reconfiguration inbound changed");
            // Turned on: the copy is filled by the peer resending.
            if self.rib.set_soft_reconfiguration(id, soft) {
                refresh_in(id, out);
            }
        }
        if plan.import_changed.contains(name) || plan.export_changed.contains(name) {
            let (import, export) = (
                chain(&self.policies, &peer.import),
                chain(&self.policies, &peer.export),
            );
            let (o, import_changed) = self.rib.set_policies(id, import, export);
            self.route(o, out);
            if import_changed {
                info!(peer = %name, "reload: import policy changed, requesting route refresh");
                refresh_in(id, out);
            }
        }
        if plan.shutdown_changed.contains(name) {
            let cmd = match peer.shutdown {
                true => Command::Stop {
                    communication: Some("administratively shut down".into()),
                },
                false => Command::Start,
            };
            // A session whose tunnel is down starts when it comes up.
            if peer.shutdown || self.tunnel_retry.get(id).is_none() {
                out.push(Action::Session(id, cmd));
            }
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.cfg = peer.clone();
        }
        self.rib.rename_peer(id, name);
    }

    /// The sessions a `clear` names: a config name, a session address, or `*`.
    fn select_peers(&self, which: &str) -> Vec<PeerId> {
        (self.peers.iter())
            .filter(|(_, p)| {
                which == "*"
                    || p.name == which
                    || p.cfg.addresses.iter().any(|a| a.to_string() == which)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// `clear bgp PEER [soft in|out]`.
    pub(super) fn clear(
        &mut self,
        which: &str,
        soft: Option<SoftDirection>,
        out: &mut Vec<Action>,
    ) {
        let ids = self.select_peers(which);
        if ids.is_empty() {
            let e = format!("no peer named or addressed `{which}`");
            out.push(Action::Cleared(Err(e)));
            return;
        }
        for &id in &ids {
            match soft {
                // A hard reset (Cease/Administrative Reset).
                None => out.push(Action::Session(
                    id,
                    Command::Reset(cease(CeaseSubcode::AdministrativeReset)),
                )),
                // From the stored pre-policy routes with
                // `soft_reconfiguration: inbound`, else by ROUTE-REFRESH (RFC 2918).
                Some(SoftDirection::In) if self.rib.soft_reconfiguration(id) => {
                    let o = self.rib.soft_in(id);
                    self.route(o, out);
                }
                Some(SoftDirection::In) => refresh_in(id, out),
                // Our Adj-RIB-Out again.
                Some(SoftDirection::Out) => {
                    for afi in [Afi::Ipv4, Afi::Ipv6] {
                        let o = self.rib.handle_route_refresh(id, afi);
                        self.route(o, out);
                    }
                }
            }
        }
        let what = match soft {
            None => "reset",
            Some(SoftDirection::In) => "asked to resend their routes",
            Some(SoftDirection::Out) => "sent our routes again",
        };
        out.push(Action::Cleared(Ok(format!(
            "{} session(s) {what}",
            ids.len()
        ))));
    }

    /// Cease/Administrative Shutdown to every peer but those we restart
    /// gracefully for: RFC 4724 §4, closing without a NOTIFICATION is what
    /// makes a helper keep our routes (the process exit closes the socket).
    pub(super) fn stop(&mut self, out: &mut Vec<Action>) {
        info!("shutting down: stopping sessions");
        for (id, p) in &self.peers {
            if self.restart.for_peer(&p.cfg).is_none() {
                let communication = Some("wgbgpd shutting down".into());
                out.push(Action::Session(*id, Command::Stop { communication }));
            }
        }
    }
}

/// Asks the peer to resend its routes (RFC 2918).
fn refresh_in(id: PeerId, out: &mut Vec<Action>) {
    for afi in [Afi::Ipv4, Afi::Ipv6] {
        out.push(Action::Session(id, Command::RouteRefresh(afi)));
    }
}
