//! Sessions up the moment their tunnel is: the first WireGuard handshake.
//!
//! A session over a tunnel cannot connect before the tunnel's first
//! handshake. When both ends start together the first initiation is often
//! lost (the other end's interface is not there yet), and WireGuard sends
//! the next one only REKEY_TIMEOUT (5 s) later. So while a session whose
//! tunnel has an endpoint to dial is not up, its tunnel is looked at:
//!
//! - a handshake completed since the wait began: the path is there, the
//!   session connects now ([`Verdict::ConnectNow`]) and the watch ends;
//! - none yet: the tunnel's peer is made afresh, so that the next packet
//!   (the session's connection attempt, made now) starts a handshake at
//!   once ([`Verdict::Kick`]): first after [`FIRST_LOOK`], then 1 s, 1 s,
//!   2 s, 2 s, 4 s … apart;
//! - after [`GIVE_UP`] the watch ends; WireGuard's own retries go on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rib::path::PeerId;

/// The first look: a handshake on a LAN or across a continent is done by
/// then.
pub(crate) const FIRST_LOOK: Duration = Duration::from_millis(500);
/// The shortest time between kicks.
pub(crate) const PACE: Duration = Duration::from_secs(1);
/// Kicks are never closer than WireGuard's own retries would be.
pub(crate) const MAX: Duration = Duration::from_secs(5);
/// How long a session is helped to its first handshake.
pub(crate) const GIVE_UP: Duration = Duration::from_secs(30);

/// What to do for one waiting session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A handshake completed: connect now.
    ConnectNow,
    /// No handshake yet: restart the tunnel's handshake, then connect now.
    Kick,
    /// The watch ended without one: leave it to WireGuard and the FSM.
    GiveUp,
}

#[derive(Debug, Clone, Copy)]
struct Wait {
    since: Instant,
    next_at: Instant,
    kicks: u32,
}

/// The sessions waiting for their tunnel's first handshake.
#[derive(Debug, Default)]
pub(crate) struct FirstHandshake {
    waiting: BTreeMap<PeerId, Wait>,
}

impl FirstHandshake {
    /// The session of `peer` is not up (started, or down) at `now`.
    pub fn wait(&mut self, now: Instant, peer: PeerId) {
        let wait = Wait {
            since: now,
            next_at: now + FIRST_LOOK,
            kicks: 0,
        };
        self.waiting.insert(peer, wait);
    }

    /// The session is up, or the peer gone.
    pub fn forget(&mut self, peer: PeerId) {
        self.waiting.remove(&peer);
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The sessions to look at now.
    pub fn due(&self, now: Instant) -> Vec<PeerId> {
        (self.waiting.iter())
            .filter(|(_, w)| w.next_at <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The tunnel of `peer` was read at `now`: its last handshake was
    /// `handshake_age` ago (`None`: never).
    pub fn observe(
        &mut self,
        now: Instant,
        peer: PeerId,
        handshake_age: Option<Duration>,
    ) -> Option<Verdict> {
        let w = self.waiting.get_mut(&peer)?;
        let waited = now.saturating_duration_since(w.since);
        if handshake_age.is_some_and(|age| age <= waited) {
            self.waiting.remove(&peer);
            return Some(Verdict::ConnectNow);
        }
        if waited >= GIVE_UP {
            self.waiting.remove(&peer);
            return Some(Verdict::GiveUp);
        }
        w.kicks += 1;
        let pace = PACE
            .saturating_mul(1 << ((w.kicks - 1) / 2).min(3))
            .min(MAX);
        w.next_at = now + pace;
        Some(Verdict::Kick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn kicks_until_a_handshake_then_connects_once() {
        let t0 = Instant::now();
        let mut h = FirstHandshake::default();
        h.wait(t0, 7);
        assert!(
            h.due(t0).is_empty(),
            "the first look is after {FIRST_LOOK:?}"
        );
        let mut t = t0;
        let mut kicks_at = Vec::new();
        while t < t0 + 12 * S {
            if h.due(t) == [7] {
                assert_eq!(h.observe(t, 7, None), Some(Verdict::Kick));
                kicks_at.push((t - t0).as_millis());
            }
            t += S / 4;
        }
        assert_eq!(kicks_at, [500, 1500, 2500, 4500, 6500, 10500]);
        // A handshake 300 ms ago, within the wait: connect, and stop.
        assert_eq!(h.observe(t, 7, Some(S / 3)), Some(Verdict::ConnectNow));
        assert!(h.is_empty());
        assert_eq!(h.observe(t, 7, None), None);
    }

    #[test]
    fn an_old_handshake_does_not_count_and_the_watch_ends() {
        let t0 = Instant::now();
        let mut h = FirstHandshake::default();
        h.wait(t0, 1);
        // A handshake from before the session went down is no path.
        assert_eq!(
            h.observe(t0 + FIRST_LOOK, 1, Some(60 * S)),
            Some(Verdict::Kick)
        );
        assert_eq!(h.observe(t0 + GIVE_UP, 1, None), Some(Verdict::GiveUp));
        assert!(h.due(t0 + 2 * GIVE_UP).is_empty());
        // Another session's wait, forgotten when it comes up.
        h.wait(t0, 2);
        h.forget(2);
        assert!(h.is_empty());
    }
}
