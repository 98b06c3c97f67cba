//! Tunnels that failed to come up, and when to try each again.
//!
//! A tunnel that cannot be made (its interface name taken by another link,
//! wireguard-go refused by a host limit, its endpoint's name not resolving)
//! takes only its own peer down: the peer is registered and its session
//! waits, not started, while the tunnel is retried 1 s, 2 s, 4 s … up to
//! 60 s apart. The daemon and every other peer carry on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rib::path::PeerId;

/// First wait after a failure; doubles per failure in a row up to [`MAX`].
pub(crate) const FIRST: Duration = Duration::from_secs(1);
pub(crate) const MAX: Duration = Duration::from_secs(60);

/// One failed tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    /// What the last attempt said.
    pub error: String,
    /// Failures in a row.
    pub attempts: u32,
    pub next_at: Instant,
}

/// The failed tunnels, by the id of their peer's session.
#[derive(Debug, Default)]
pub(crate) struct TunnelRetry {
    failed: BTreeMap<PeerId, Failed>,
}

impl TunnelRetry {
    /// Records a failed attempt for `peer` at `now`; returns the wait
    /// before the next one.
    pub fn failed(&mut self, now: Instant, peer: PeerId, error: String) -> Duration {
        let attempts = self.failed.get(&peer).map_or(0, |f| f.attempts) + 1;
        let wait = FIRST.saturating_mul(1 << (attempts - 1).min(6)).min(MAX);
        self.failed.insert(
            peer,
            Failed {
                error,
                attempts,
                next_at: now + wait,
            },
        );
        wait
    }

    /// The tunnel of `peer` is up (or no longer wanted).
    pub fn forget(&mut self, peer: PeerId) {
        self.failed.remove(&peer);
    }

    /// The peers whose next attempt is due at `now`.
    pub fn due(&self, now: Instant) -> Vec<PeerId> {
        (self.failed.iter())
            .filter(|(_, f)| f.next_at <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// When the earliest next attempt is.
    pub fn next_at(&self) -> Option<Instant> {
        self.failed.values().map(|f| f.next_at).min()
    }

    /// The failure of `peer`'s tunnel, if it is down.
    pub fn get(&self, peer: PeerId) -> Option<&Failed> {
        self.failed.get(&peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_a_minute_per_peer_and_end_with_success() {
        let t0 = Instant::now();
        let mut r = TunnelRetry::default();
        let waits: Vec<u64> = (0..9)
            .map(|_| r.failed(t0, 1, "busy".into()).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Another peer starts its own count.
        assert_eq!(r.failed(t0, 2, "busy".into()), FIRST);
        assert_eq!(r.next_at(), Some(t0 + FIRST));
        assert_eq!(r.due(t0), Vec::<PeerId>::new());
        assert_eq!(r.due(t0 + FIRST), vec![2]);
        assert_eq!(r.due(t0 + MAX), vec![1, 2]);
        assert_eq!(r.get(1).map(|f| f.attempts), Some(9));
        r.forget(1);
        r.forget(2);
        assert_eq!((r.next_at(), r.get(1)), (None, None));
        // Up, then failing again: the count starts over.
        assert_eq!(r.failed(t0, 1, "busy".into()), FIRST);
    }
}
