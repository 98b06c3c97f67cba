//! Putting back what was deleted behind our back: our routes (the RIB
//! decides which), loopback addresses, host routes and tunnel interfaces.
//! [`super::heal`] notes the deletions and paces what keeps being deleted;
//! this decides each pass, and the shell carries out the kernel and
//! tunnel work and reports back ([`super::Restored`]).

use std::time::Instant;

use tracing::warn;

use super::heal::{COALESCE, Kind};
use super::{Action, Count, Restored, Router};

/// Repaired routes named one by one in the log; the rest are summed up.
const REPAIR_LOG_LINES: usize = 10;

/// Logs and counts what was put back.
fn repaired(kind: Kind, what: &dyn std::fmt::Display, out: &mut Vec<Action>) {
    warn!(
        kind = kind.label(),
        "{what} was deleted behind our back: restored"
    );
    out.push(Action::Count(Count::Repaired { kind, n: 1 }));
}

impl Router {
    /// Schedules a repair pass if something waits for one: at `next` (a
    /// paced repair), else `COALESCE` from now so a burst is one pass.
    pub(super) fn arm_repair(&mut self, now: Instant, next: Option<Instant>) {
        if self.repair_at.is_some() || !(self.rib.repairs_pending() || self.heal.pending()) {
            return;
        }
        let soon = now + COALESCE;
        self.repair_at = Some(next.map_or(soon, |n| n.max(soon)));
    }

    /// One repair pass: routes now; interfaces first (their host routes
    /// come back with them), then loopbacks and host routes, by the shell.
    pub(super) fn repair(&mut self, now: Instant, out: &mut Vec<Action>) {
        let routes = self.rib.repair(now);
        let mut next = routes.next;
        self.route(routes.out, out);
        for prefix in routes.repaired.iter().take(REPAIR_LOG_LINES) {
            repaired(Kind::Route, &format_args!("route {prefix}"), out);
        }
        let more = routes.repaired.len().saturating_sub(REPAIR_LOG_LINES);
        if more > 0 {
            warn!(
                kind = "route",
                routes = more,
                "more routes were deleted behind our back: restored"
            );
            let n = more as u64;
            out.push(Action::Count(Count::Repaired {
                kind: Kind::Route,
                n,
            }));
        }

        for ifname in std::mem::take(&mut self.heal.interfaces) {
            let key = format!("interface {ifname}");
            if !self.heal.allowed(&key, now, &mut next) {
                self.heal.interfaces.insert(ifname);
                continue;
            }
            let peer = self
                .peers
                .values()
                .find(|p| p.cfg.interface() == Some(&ifname));
            let Some(peer) = peer else {
                continue;
            };
            self.heal.pacer.repaired(key, now);
            let cfg = peer.cfg.clone();
            out.push(Action::RecreateTunnel { ifname, cfg });
        }

        let mut loopbacks = Vec::new();
        for net in std::mem::take(&mut self.heal.loopbacks) {
            match self
                .heal
                .allowed(&format!("loopback {net}"), now, &mut next)
            {
                true => loopbacks.push(net),
                false => _ = self.heal.loopbacks.insert(net),
            }
        }
        if !loopbacks.is_empty() {
            out.push(Action::RestoreLoopbacks(loopbacks));
        }

        for (ifname, addrs) in std::mem::take(&mut self.heal.host_routes) {
            let key = format!("host routes {ifname}");
            if !self.heal.allowed(&key, now, &mut next) {
                self.heal.host_routes.insert(ifname, addrs);
                continue;
            }
            let addrs = addrs.into_iter().collect();
            out.push(Action::RestoreHostRoutes { ifname, addrs });
        }
        self.arm_repair(now, next);
    }

    /// What the shell's repair work achieved; what failed waits for the
    /// next pass.
    pub(super) fn restored(&mut self, now: Instant, r: Restored, out: &mut Vec<Action>) {
        match r {
            Restored::Interface { ifname, ok: true } => {
                repaired(Kind::Interface, &format_args!("interface {ifname}"), out);
            }
            Restored::Interface { ifname, ok: false } => {
                self.heal.interfaces.insert(ifname);
            }
            Restored::Loopbacks {
                result: Ok(added), ..
            } => {
                for net in added {
                    self.heal.pacer.repaired(format!("loopback {net}"), now);
                    repaired(Kind::Loopback, &format_args!("loopback {net} on lo"), out);
                }
            }
            Restored::Loopbacks {
                wanted,
                result: Err(error),
            } => {
                warn!(%error, "restoring loopback addresses failed; retrying");
                self.heal.loopbacks.extend(wanted);
            }
            Restored::HostRoutes {
                ifname,
                result: Ok(added),
                ..
            } => {
                if !added.is_empty() {
                    self.heal
                        .pacer
                        .repaired(format!("host routes {ifname}"), now);
                }
                for addr in added {
                    let what = format_args!("host route {addr} dev {ifname}");
                    repaired(Kind::HostRoute, &what, out);
                }
            }
            Restored::HostRoutes {
                ifname,
                wanted,
                result: Err(error),
            } => {
                warn!(interface = %ifname, %error, "restoring host routes failed; retrying");
                self.heal
                    .pacer
                    .repaired(format!("host routes {ifname}"), now);
                let entry = self.heal.host_routes.entry(ifname).or_default();
                entry.extend(wanted);
            }
        }
        self.arm_repair(now, None);
    }
}
