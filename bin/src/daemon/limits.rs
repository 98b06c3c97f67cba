//! Per-peer limits checked after each UPDATE: `max_adj_rib_in_mib` (RFC
//! 4486 Cease/Out of Resources, or a warning) and the refusal of default
//! routes and bogons (see [`rib::guard`]), and routes whose next hop cannot
//! be used (RFC 2545 link-local without an interface, ...): logged once per
//! peer, counted in `wgbgp_routes_refused_total`, the estimate exported as
//! `wgbgp_adj_rib_in_bytes`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bgp::driver::Command;
use bgp::wire::{CeaseSubcode, Notification};
use rib::guard::Refusal;
use rib::path::PeerId;
use tracing::warn;

use super::rib_task::RibTask;
use crate::config::MaxPrefixAction;

/// What has been logged and counted already.
#[derive(Default)]
pub(super) struct LimitState {
    /// Peers over a warn-only memory cap (logged once until back under).
    over_memory: BTreeSet<PeerId>,
    /// Refusals already logged, per peer and reason.
    logged: BTreeSet<(PeerId, Refusal)>,
    /// Refusals already added to the metric, per peer and reason.
    counted: BTreeMap<(PeerId, Refusal), u64>,
    /// Routes dropped for their next hop already added to the metric.
    next_hop_counted: BTreeMap<PeerId, u64>,
}

impl LimitState {
    pub(super) fn forget(&mut self, id: PeerId) {
        self.over_memory.remove(&id);
        self.logged.retain(|(p, _)| *p != id);
        self.counted.retain(|(p, _), _| *p != id);
        self.next_hop_counted.remove(&id);
    }
}

impl RibTask {
    pub(super) fn check_limits(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(&id) else { return };
        for (why, n) in self.rib.refused(id) {
            if n > 0 && self.limits.logged.insert((id, why)) {
                let key = match why {
                    Refusal::DefaultRoute => "reject_default_route",
                    Refusal::Bogon => "reject_bogons",
                };
                warn!(peer = %p.name, reason = why.label(),
                      "refusing {} routes from this peer ({key}; an import `accept` rule naming the prefix lets it in); logged once, counted in wgbgp_routes_refused_total",
                      why.label());
            }
        }
        let Some(max) = p.cfg.limits.max_adj_rib_in_mib else {
            return;
        };
        let Some(bytes) = self.rib.adj_rib_in_bytes(id) else {
            return;
        };
        let mib = bytes as f64 / (1024.0 * 1024.0);
        if bytes as u64 <= u64::from(max.limit) * 1024 * 1024 {
            self.limits.over_memory.remove(&id);
            return;
        }
        match max.action {
            MaxPrefixAction::Warn => {
                if self.limits.over_memory.insert(id) {
                    warn!(peer = %p.name, mib = format!("{mib:.1}"), limit_mib = max.limit,
                          "max_adj_rib_in_mib exceeded (warn only)");
                }
            }
            MaxPrefixAction::Restart => {
                warn!(peer = %p.name, mib = format!("{mib:.1}"), limit_mib = max.limit,
                      restart_after = max.restart_after,
                      "max_adj_rib_in_mib exceeded: closing the session");
                let n = Notification::cease(CeaseSubcode::OutOfResources, Vec::new());
                let hold = Duration::from_secs(max.restart_after.into());
                let _ = p.session.commands.send(Command::ResetHoldDown(n, hold));
            }
        }
    }

    /// Brings `wgbgp_routes_refused_total` and `wgbgp_adj_rib_in_bytes` up to date.
    pub(super) fn refresh_limit_metrics(&mut self) {
        for (id, p) in &self.peers {
            let [peer, peer_as, name] = super::show::peer_labels(p);
            if let Some(bytes) = self.rib.adj_rib_in_bytes(*id) {
                self.metrics
                    .adj_rib_in_bytes
                    .with_label_values(&[&peer, &peer_as, &name])
                    .set(bytes as i64);
            }
            for (why, n) in self.rib.refused(*id) {
                let seen = self.limits.counted.entry((*id, why)).or_default();
                if n > *seen {
                    self.metrics
                        .routes_refused_total
                        .with_label_values(&[&peer, &peer_as, &name, why.label()])
                        .inc_by(n - *seen);
                    *seen = n;
                }
            }
            // Logged once per peer by the RIB (rib::table::NextHopDrop).
            let n = self.rib.next_hop_drops(*id);
            let seen = self.limits.next_hop_counted.entry(*id).or_default();
            if n > *seen {
                self.metrics
                    .routes_refused_total
                    .with_label_values(&[&peer, &peer_as, &name, "next_hop"])
                    .inc_by(n - *seen);
                *seen = n;
            }
        }
    }
}
