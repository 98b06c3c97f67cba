//! What comes due with time: Graceful Restart helper timers, the end of
//! our own restart's selection deferral, tunnels to try again, and the
//! polls of tunnels whose sessions wait for a first handshake or are
//! watched for liveness (the answers come back as [`Input::TunnelRead`]).
//!
//! [`Input::TunnelRead`]: super::Input::TunnelRead

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgp::driver::Command;
use rib::path::PeerId;
use rib::table::Output;
use tracing::{debug, info, warn};

use super::handshake::Verdict;
use super::liveness::Observation;
use super::{Action, Count, Purpose, Router};

/// How often the liveness and first-handshake watches are looked at; each
/// tunnel is read only when its own watch is due (every thirtieth of its
/// `dead_after`, see [`super::liveness`]; kicks, see [`super::handshake`]).
pub(super) const POLL: Duration = super::liveness::MIN_POLL;

impl Router {
    pub(super) fn timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        // Sweeps the stale routes of peers whose restart or stale-path
        // timer ran out.
        let peers = &self.peers;
        let name = |id| peers.get(&id).map(|p| p.name.clone());
        let o = self.graceful.expire(now, &mut self.rib, name);
        self.route(o, out);
        self.end_deferral_if_due(now, out);
        for id in self.tunnel_retry.due(now) {
            match self.peers.get(&id) {
                Some(p) => out.push(Action::TunnelUp {
                    peer: id,
                    cfg: p.cfg.clone(),
                }),
                None => self.tunnel_retry.forget(id),
            }
        }
        if self.next_poll.is_some_and(|at| at <= now) {
            self.next_poll = None;
            self.poll_handshakes(now, out);
            self.poll_liveness(now, out);
        }
        if self.repair_at.is_some_and(|at| at <= now) {
            self.repair_at = None;
            self.repair(now, out);
        }
    }

    /// Ends our own restart's selection deferral once every graceful
    /// restart peer sent End-of-RIB or `select_defer_time` ran out: the new
    /// routes replace the old ones in place, the leftovers go, and the
    /// peers get their tables (RFC 4724 §4.1).
    pub(super) fn end_deferral_if_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(why) = self.restart.due(now) else {
            return;
        };
        let waiting = self.restart.waiting_for().join(", ");
        let stale = self.restart.finish(now);
        let o = self.rib.end_deferral(&stale);
        let took = self.restart.started.map(|s| now - s).unwrap_or_default();
        let (replaced, deleted) = o.iter().fold((0, 0), |(r, d), o| match o {
            Output::Fib(ops) => {
                let n = ops.iter().filter(|op| !op.is_delete()).count();
                (r + n, d + ops.len() - n)
            }
            _ => (r, d),
        });
        info!(reason = why, ?took, installed = replaced, leftovers_deleted = deleted,
              still_waiting_for = %waiting,
              "graceful restart: selection deferral over, routes installed");
        self.route(o, out);
    }

    /// RFC 4486 Cease/Maximum Number of Prefixes Reached when a peer sends
    /// more than `max_prefix` of one family (after import policy).
    pub(super) fn check_max_prefix(&mut self, id: PeerId, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get(&id) else { return };
        let rib = &self.rib;
        let received = |afi| rib.peer_counts(id, afi).0;
        if let Some(reset) = (self.max_prefix).check(id, &p.name, p.cfg.max_prefix, received) {
            let command = Command::ResetHoldDown(reset.notification, reset.hold_down);
            out.push(Action::Session(id, command));
        }
    }

    /// Reads the tunnels of sessions waiting for their first handshake
    /// whose turn it is.
    fn poll_handshakes(&mut self, now: Instant, out: &mut Vec<Action>) {
        for id in self.handshake.due(now) {
            match self.peers.get(&id).and_then(|p| p.cfg.interface()) {
                Some(ifname) => out.push(Action::ReadTunnel {
                    peer: id,
                    ifname: ifname.to_string(),
                    purpose: Purpose::Handshake,
                }),
                None => self.handshake.forget(id),
            }
        }
    }

    /// Reads the tunnels of watched sessions whose poll is due.
    fn poll_liveness(&mut self, now: Instant, out: &mut Vec<Action>) {
        for id in self.liveness.ids() {
            let Some(p) = self.peers.get(&id) else {
                self.liveness.forget(id);
                continue;
            };
            let (Some(ifname), Some(dead_after)) = (p.cfg.interface(), dead_after(&p.cfg)) else {
                continue;
            };
            if self.liveness.due(now, id, dead_after) {
                out.push(Action::ReadTunnel {
                    peer: id,
                    ifname: ifname.to_string(),
                    purpose: Purpose::Liveness,
                });
            }
        }
    }

    /// What a read of `id`'s tunnel found at `now` (when its counters were
    /// read, not when the poll began).
    pub(super) fn tunnel_read(
        &mut self,
        now: Instant,
        id: PeerId,
        purpose: Purpose,
        seen: &Observation,
        endpoint: Option<SocketAddr>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let Some(ifname) = p.cfg.interface() else {
            return;
        };
        match purpose {
            // Helps a session over a tunnel to its first handshake: connect
            // as soon as there is one, restart a lost one rather than wait
            // WireGuard's 5 s. A broken tunnel is left to liveness and
            // self-healing.
            Purpose::Handshake => {
                let Observation::Counters { handshake_age, .. } = seen else {
                    return;
                };
                match self.handshake.observe(now, id, *handshake_age) {
                    Some(Verdict::ConnectNow) => {
                        debug!(peer = %p.name, "tunnel handshake done: connecting now");
                        out.push(Action::Session(id, Command::ConnectNow));
                    }
                    Some(Verdict::Kick) => {
                        debug!(peer = %p.name, "no tunnel handshake yet: starting one now");
                        out.push(Action::RestartHandshake {
                            cfg: p.cfg.clone(),
                            endpoint,
                        });
                        out.push(Action::Session(id, Command::ConnectNow));
                    }
                    Some(Verdict::GiveUp) | None => {}
                }
            }
            // Tears down an Established session whose tunnel went quiet; it
            // comes back by itself when the tunnel recovers.
            Purpose::Liveness => {
                let Some(dead_after) = dead_after(&p.cfg) else {
                    return;
                };
                if let Some(dead) = self.liveness.observe(now, id, ifname, seen, dead_after) {
                    let why = &dead.why;
                    warn!(peer = %p.name, interface = %ifname,
                          "tunnel dead ({why}): tearing the session down");
                    out.push(Action::Count(Count::TunnelDead { peer: id }));
                    out.push(Action::Session(id, Command::Reset(dead.notification)));
                }
            }
        }
    }
}

fn dead_after(cfg: &crate::config::Peer) -> Option<Duration> {
    let secs = cfg.wireguard.as_ref()?.dead_after?;
    Some(Duration::from_secs(secs.into()))
}
