//! Per-peer limits checked after each UPDATE: `max_adj_rib_in_mib` (RFC
//! 4486 Cease/Out of Resources, or a warning) and the refusal of default
//! routes and bogons (see [`rib::guard`]), and routes whose next hop cannot
//! be used (RFC 2545 link-local without an interface, ...): logged once per
//! peer. The shell counts them in `wgbgp_routes_refused_total` and exports
//! the estimate as `wgbgp_adj_rib_in_bytes`.

use std::collections::BTreeSet;
use std::time::Duration;

use bgp::driver::Command;
use bgp::wire::{CeaseSubcode, Notification};
use rib::guard::Refusal;
use rib::path::PeerId;
use tracing::warn;

use super::{Action, Router};
use crate::config::MaxPrefixAction;

/// What has been logged already.
#[derive(Default)]
pub(crate) struct LimitState {
    /// Peers over a warn-only memory cap (logged once until back under).
    over_memory: BTreeSet<PeerId>,
    /// Refusals already logged, per peer and reason.
    logged: BTreeSet<(PeerId, Refusal)>,
}

impl LimitState {
    pub(super) fn forget(&mut self, id: PeerId) {
        self.over_memory.remove(&id);
        self.logged.retain(|(p, _)| *p != id);
    }
}

impl Router {
    pub(super) fn check_limits(&mut self, id: PeerId, out: &mut Vec<Action>) {
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
                out.push(Action::Session(id, Command::ResetHoldDown(n, hold)));
            }
        }
    }
}
