//! The Graceful Restart helper (RFC 4724 §4.2, RFC 8538): what each
//! Established peer announced, and when the stale routes of a restarting
//! peer expire. Pure: time comes in as `now`, routes change only through
//! the [`Rib`] it is handed, and what the kernel and peers must hear is
//! returned as RIB outputs.
//!
//! A peer's stale routes live from the session end (restart timer, the
//! peer's Restart Time) until it is back and sent End-of-RIB, at most
//! [`STALE_PATH_TIME`] after it came back (FRR's `stalepath-time`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bgp::fsm::{DownReason, PeerGracefulRestart};
use bgp::wire::{Afi, Safi};
use rib::path::PeerId;
use rib::table::{Output, Rib};
use tracing::info;

/// How long the stale routes of a peer that came back after a graceful
/// restart may wait for its End-of-RIB (FRR's `stalepath-time`).
pub(crate) const STALE_PATH_TIME: Duration = Duration::from_secs(360);

/// Graceful Restart helper state of every peer.
#[derive(Default)]
pub(crate) struct GracefulHelper {
    /// The peer's capability in its current (or last) session.
    caps: BTreeMap<PeerId, PeerGracefulRestart>,
    /// Restart timer while the peer is away, then the stale-path timer
    /// once it is back; the peer's stale routes go when it runs out.
    deadlines: BTreeMap<PeerId, Instant>,
}

impl GracefulHelper {
    /// The peer was removed: nothing of it is kept.
    pub(crate) fn forget(&mut self, id: PeerId) {
        self.caps.remove(&id);
        self.deadlines.remove(&id);
    }

    /// When the next restart or stale-path timer runs out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// The families whose routes `peer`'s session ending for `reason`
    /// keeps, stale (see [`Self::down`]); empty: its routes go.
    pub(crate) fn kept(&self, peer: PeerId, reason: &DownReason) -> Vec<Afi> {
        let cap = self.caps.get(&peer);
        let eligible = reason.allows_graceful_restart(cap.is_some_and(|c| c.notification));
        match cap {
            Some(cap) if eligible && cap.restart_time > 0 => [Afi::Ipv4, Afi::Ipv6]
                .into_iter()
                .filter(|&afi| cap.preserves(afi, Safi::Unicast))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The Established session of `peer` ended. RFC 4724 §4.2: an end
    /// without a NOTIFICATION (or, with RFC 8538's N bit both ways, with
    /// any NOTIFICATION but a Hard Reset) of a peer that announced
    /// Graceful Restart keeps the routes of the families it preserves,
    /// stale, for its Restart Time. Otherwise its routes go: the prefixes
    /// to re-select are queued in the RIB for `Rib::flush_sweep`.
    pub(crate) fn down(
        &mut self,
        now: Instant,
        peer: PeerId,
        name: &str,
        reason: &DownReason,
        rib: &mut Rib,
    ) -> Vec<Output> {
        let keep = self.kept(peer, reason);
        let cap = self.caps.remove(&peer);
        if keep.is_empty() {
            info!(peer = %name, %reason, "withdrawing routes of the session");
            self.deadlines.remove(&peer);
            return rib.begin_peer_down(peer);
        }
        let restart_time = cap.map_or(0, |c| c.restart_time);
        info!(peer = %name, %reason, restart_time, families = ?keep,
              "graceful restart: keeping the routes of the session as stale");
        self.deadlines
            .insert(peer, now + Duration::from_secs(restart_time.into()));
        rib.handle_peer_down_graceful(peer, &keep)
    }

    /// The peer is back with capability `cap`. RFC 4724 §4.2: stale routes
    /// of a family it no longer preserves, or whose forwarding state it
    /// lost (F bit clear), go now; the others wait for its End-of-RIB, at
    /// most [`STALE_PATH_TIME`].
    pub(crate) fn up(
        &mut self,
        now: Instant,
        peer: PeerId,
        name: &str,
        cap: Option<PeerGracefulRestart>,
        rib: &mut Rib,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        if rib.stale_count(peer) > 0 {
            for afi in [Afi::Ipv4, Afi::Ipv6] {
                if !cap
                    .as_ref()
                    .is_some_and(|c| c.forwarding_kept(afi, Safi::Unicast))
                {
                    out.extend(rib.sweep_stale(peer, Some(afi)));
                }
            }
        }
        if rib.stale_count(peer) > 0 {
            info!(peer = %name, stale = rib.stale_count(peer),
                  "graceful restart: peer is back, waiting for its End-of-RIB");
            self.deadlines.insert(peer, now + STALE_PATH_TIME);
        } else {
            self.deadlines.remove(&peer);
        }
        match cap {
            Some(cap) => self.caps.insert(peer, cap),
            None => self.caps.remove(&peer),
        };
        out
    }

    /// After an UPDATE of `peer`: once its End-of-RIBs swept every stale
    /// route (RFC 4724 §4.2), its timer is done.
    pub(crate) fn updated(&mut self, peer: PeerId, rib: &Rib) {
        if self.deadlines.contains_key(&peer) && rib.stale_count(peer) == 0 {
            self.deadlines.remove(&peer);
        }
    }

    /// Sweeps the stale routes of peers whose restart or stale-path timer
    /// ran out by `now`.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        rib: &mut Rib,
        name: impl Fn(PeerId) -> Option<String>,
    ) -> Vec<Output> {
        let expired: Vec<PeerId> = (self.deadlines.iter())
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for peer in expired {
            self.deadlines.remove(&peer);
            if let Some(name) = name(peer) {
                info!(peer = %name, stale = rib.stale_count(peer),
                      "graceful restart: timer ran out, removing the stale routes");
            }
            out.extend(rib.sweep_stale(peer, None));
        }
        out
    }
}

#[cfg(test)]
mod tests;
