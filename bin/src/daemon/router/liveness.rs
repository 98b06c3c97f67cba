//! WireGuard as a liveness signal for the BGP session over it.
//!
//! WireGuard re-handshakes only every two minutes, so the handshake age
//! alone is too coarse; but with `persistent_keepalive` on both ends a live
//! peer's receive counter grows at least every keepalive interval. When it
//! has not grown for `dead_after`, when the last handshake is older than
//! WireGuard's REJECT_AFTER_TIME (180 s, after which no data can flow), or
//! when the interface is gone, the session is torn down at once instead of
//! waiting out the hold timer. The verdict is a pure function of what was
//! observed, so it is tested without tunnels.
//!
//! Growth is only seen when the tunnel is polled, so a poll every second
//! made detection take up to `dead_after` + 2 s (growth seen up to a poll
//! late, and a verdict that misses `dead_after` by a millisecond of timer
//! jitter waits for the next poll). Each tunnel is therefore polled every
//! thirtieth of its `dead_after` (0.1 s to 1 s): detection takes `dead_after`
//! plus at most two of those polls, about 7 % over `dead_after`, at the cost
//! of ten status reads a second per tunnel at the shortest `dead_after`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bgp::wire::{CeaseSubcode, Notification};
use rib::path::PeerId;

/// WireGuard's REJECT_AFTER_TIME: keys older than this carry no data.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

/// The shortest and longest time between two polls of one tunnel.
pub const MIN_POLL: Duration = Duration::from_millis(100);
pub const MAX_POLL: Duration = Duration::from_secs(1);

/// How often a tunnel declared dead after `dead_after` of silence is polled:
/// a thirtieth of it, within [`MIN_POLL`, `MAX_POLL`].
pub fn poll_interval(dead_after: Duration) -> Duration {
    (dead_after / 30).clamp(MIN_POLL, MAX_POLL)
}

/// What one poll of the tunnel saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    Counters {
        rx_bytes: u64,
        handshake_age: Option<Duration>,
    },
    /// The interface or its wireguard-go is gone (the reason as text).
    Missing(String),
}

/// The state kept per Established session.
#[derive(Debug, Clone)]
pub struct Watch {
    rx_bytes: Option<u64>,
    last_growth: Instant,
    /// When the tunnel is polled next.
    next_poll: Instant,
}

impl Watch {
    /// Starts watching when the session comes up: nothing is overdue yet.
    pub fn new(now: Instant) -> Watch {
        Watch {
            rx_bytes: None,
            last_growth: now,
            next_poll: now,
        }
    }

    /// Whether the tunnel is due for a poll at `now`; if so, the next poll
    /// is scheduled [`poll_interval`] after this one was due (not after
    /// `now`, so timer latency does not stretch the interval by a tick).
    pub fn due(&mut self, now: Instant, dead_after: Duration) -> bool {
        if now < self.next_poll {
            return false;
        }
        self.next_poll += poll_interval(dead_after);
        if self.next_poll <= now {
            self.next_poll = now + poll_interval(dead_after);
        }
        true
    }

    /// Records `obs` and says why the tunnel is dead, if it is.
    pub fn observe(
        &mut self,
        now: Instant,
        obs: &Observation,
        dead_after: Duration,
    ) -> Option<String> {
        match obs {
            Observation::Missing(why) => Some(format!("tunnel gone: {why}")),
            Observation::Counters {
                rx_bytes,
                handshake_age,
            } => {
                // A counter that went down belongs to a new wireguard-go (restarted,
                // or recreated after its interface was deleted): start over.
                if self.rx_bytes.is_some_and(|before| *rx_bytes < before) {
                    self.rx_bytes = None;
                    self.last_growth = now;
                }
                if self.rx_bytes.is_none_or(|before| *rx_bytes > before) {
                    if self.rx_bytes.is_some() {
                        self.last_growth = now;
                    }
                    self.rx_bytes = Some(*rx_bytes);
                }
                if let Some(age) = handshake_age.filter(|a| *a > REJECT_AFTER_TIME) {
                    return Some(format!("last handshake {} s ago", age.as_secs()));
                }
                let silent = now.saturating_duration_since(self.last_growth);
                (silent >= dead_after)
                    .then(|| format!("nothing received for {} s", silent.as_secs()))
            }
        }
    }
}

/// The watches of every Established session over a tunnel with
/// `dead_after`, and the verdicts on them.
#[derive(Default)]
pub(crate) struct Liveness {
    watches: BTreeMap<PeerId, Watch>,
}

/// A tunnel found dead: why, and the NOTIFICATION to end its session with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dead {
    pub why: String,
    pub notification: Notification,
}

impl Liveness {
    /// The session of `id` reached Established at `now`: watch its tunnel.
    pub(crate) fn established(&mut self, now: Instant, id: PeerId) {
        self.watches.insert(id, Watch::new(now));
    }

    /// The session of `id` is down (or the peer gone): stop watching.
    pub(crate) fn forget(&mut self, id: PeerId) {
        self.watches.remove(&id);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.watches.is_empty()
    }

    /// The watched sessions.
    pub(crate) fn ids(&self) -> Vec<PeerId> {
        self.watches.keys().copied().collect()
    }

    /// Whether the tunnel of `id` is due for a poll at `now`.
    pub(crate) fn due(&mut self, now: Instant, id: PeerId, dead_after: Duration) -> bool {
        (self.watches.get_mut(&id)).is_some_and(|w| w.due(now, dead_after))
    }

    /// Records what a poll of `ifname`, the tunnel of `id`, saw at `now`.
    /// A dead tunnel ends the watch, and its session is to be reset with
    /// Cease/Administrative Reset carrying the reason (RFC 9003).
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        id: PeerId,
        ifname: &str,
        obs: &Observation,
        dead_after: Duration,
    ) -> Option<Dead> {
        let why = self.watches.get_mut(&id)?.observe(now, obs, dead_after)?;
        self.watches.remove(&id);
        let text = format!("WireGuard tunnel {ifname} dead: {why}");
        let notification =
            Notification::cease_with_communication(CeaseSubcode::AdministrativeReset, &text);
        Some(Dead { why, notification })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_tunnel_resets_its_session_once_with_the_reason() {
        let t0 = Instant::now();
        let mut live = Liveness::default();
        live.established(t0, 7);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(live.due(at(0), 7, DEAD));
        assert_eq!(
            live.observe(at(0), 7, "wg-s2", &counters(100, 5), DEAD),
            None
        );
        assert!(!live.due(at(50), 7, DEAD), "polled every dead_after / 30");
        assert!(live.due(at(100), 7, DEAD));
        assert_eq!(
            live.observe(at(100), 7, "wg-s2", &counters(200, 5), DEAD),
            None
        );
        // Nothing more arrives: dead 3 s after the last growth, not before.
        assert_eq!(
            live.observe(at(3099), 7, "wg-s2", &counters(200, 5), DEAD),
            None
        );
        let dead = live
            .observe(at(3100), 7, "wg-s2", &counters(200, 5), DEAD)
            .expect("dead after 3 s of silence");
        assert_eq!(dead.why, "nothing received for 3 s");
        let n = &dead.notification;
        assert!(n.is_cease(CeaseSubcode::AdministrativeReset));
        assert_eq!(
            n.shutdown_communication(),
            Some("WireGuard tunnel wg-s2 dead: nothing received for 3 s")
        );
        // The watch ended with the verdict: no second reset.
        assert!(live.is_empty());
        assert_eq!(
            live.observe(at(4000), 7, "wg-s2", &counters(200, 5), DEAD),
            None
        );
    }

    #[test]
    fn a_session_that_went_down_is_no_longer_watched() {
        let t0 = Instant::now();
        let mut live = Liveness::default();
        live.established(t0, 7);
        live.established(t0, 8);
        live.forget(7);
        assert_eq!(live.ids(), vec![8]);
        assert!(!live.due(t0, 7, DEAD));
        let gone = Observation::Missing("wg-s2 has no peer".into());
        assert_eq!(live.observe(t0, 7, "wg-s2", &gone, DEAD), None);
        assert!(live.observe(t0, 8, "wg-s3", &gone, DEAD).is_some());
    }

    const DEAD: Duration = Duration::from_secs(3);

    fn counters(rx: u64, age: u64) -> Observation {
        Observation::Counters {
            rx_bytes: rx,
            handshake_age: Some(Duration::from_secs(age)),
        }
    }

    #[test]
    fn growing_counter_keeps_the_session() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        for s in 0..10 {
            let now = t0 + Duration::from_secs(s);
            assert_eq!(w.observe(now, &counters(100 + s * 32, 5), DEAD), None);
        }
    }

    #[test]
    fn silence_for_dead_after_is_fatal() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        assert_eq!(w.observe(t0, &counters(500, 1), DEAD), None);
        assert_eq!(
            w.observe(t0 + Duration::from_secs(2), &counters(500, 3), DEAD),
            None
        );
        let verdict = w.observe(t0 + Duration::from_secs(3), &counters(500, 4), DEAD);
        assert_eq!(verdict.as_deref(), Some("nothing received for 3 s"));
    }

    #[test]
    fn growth_resets_the_silence_clock() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        w.observe(t0, &counters(500, 1), DEAD);
        w.observe(t0 + Duration::from_secs(2), &counters(600, 1), DEAD);
        assert_eq!(
            w.observe(t0 + Duration::from_secs(4), &counters(600, 1), DEAD),
            None
        );
        assert!(
            w.observe(t0 + Duration::from_secs(5), &counters(600, 1), DEAD)
                .is_some()
        );
    }

    #[test]
    fn counter_reset_by_a_new_wireguard_go_starts_the_clock_over() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        w.observe(t0, &counters(5000, 1), DEAD);
        // Recreated at t0 + 2 s: its counter starts from zero.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(w.observe(t1, &counters(0, 0), DEAD), None);
        assert_eq!(
            w.observe(t1 + Duration::from_secs(2), &counters(64, 0), DEAD),
            None
        );
        assert!(
            w.observe(t1 + Duration::from_secs(5), &counters(64, 0), DEAD)
                .is_some(),
            "and silence after it still counts"
        );
    }

    #[test]
    fn stale_handshake_is_fatal_even_with_traffic() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        let verdict = w.observe(t0, &counters(1, 181), DEAD);
        assert_eq!(verdict.as_deref(), Some("last handshake 181 s ago"));
    }

    #[test]
    fn poll_interval_is_a_thirtieth_of_dead_after_within_bounds() {
        assert_eq!(poll_interval(DEAD), MIN_POLL);
        assert_eq!(
            poll_interval(Duration::from_secs(15)),
            Duration::from_millis(500)
        );
        assert_eq!(poll_interval(Duration::from_secs(75)), MAX_POLL);
        assert_eq!(poll_interval(Duration::from_secs(1)), MIN_POLL);
        assert_eq!(poll_interval(Duration::ZERO), MIN_POLL);
    }

    #[test]
    fn due_spaces_polls_by_the_poll_interval() {
        // dead_after 9 s: polled every 300 ms.
        let dead = Duration::from_secs(9);
        let t0 = Instant::now();
        let mut w = Watch::new(t0);
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(w.due(ms(2), dead), "the first poll is at once");
        assert!(!w.due(ms(100), dead));
        assert!(!w.due(ms(299), dead));
        // Due at 300 ms; a timer 5 ms late does not push the next one back.
        assert!(w.due(ms(305), dead));
        assert!(!w.due(ms(599), dead));
        assert!(w.due(ms(600), dead));
        // After a stall the schedule restarts from now.
        assert!(w.due(ms(5_000), dead));
        assert!(!w.due(ms(5_299), dead));
        assert!(w.due(ms(5_300), dead));
    }

    /// Polled on a 100 ms tick whose timer is up to 2 ms late, a tunnel that
    /// falls silent is declared dead within `dead_after` plus two polls (one
    /// to see the last growth, one lost to jitter), not `dead_after` + 2 s.
    #[test]
    fn detection_takes_dead_after_plus_at_most_two_polls() {
        let t0 = Instant::now();
        let silent_from = t0 + Duration::from_millis(2_050);
        let mut w = Watch::new(t0 + Duration::from_millis(37));
        let (mut rx, mut polls) = (0, Vec::new());
        let verdict_at = (1..200u64)
            .map(|k| t0 + MIN_POLL * k as u32 + Duration::from_millis(k % 3))
            .find(|&now| {
                if !w.due(now, DEAD) {
                    return false;
                }
                // Traffic flows until `silent_from`: the counter has grown
                // if the previous poll was earlier.
                if polls.last().is_none_or(|&prev| prev < silent_from) {
                    rx += 100;
                }
                polls.push(now);
                w.observe(now, &counters(rx, 1), DEAD).is_some()
            })
            .expect("declared dead");
        for pair in polls.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap <= poll_interval(DEAD) + MIN_POLL, "{gap:?}");
        }
        let detection = verdict_at - silent_from;
        assert!(detection >= DEAD, "{detection:?}");
        assert!(detection <= DEAD + 2 * poll_interval(DEAD), "{detection:?}");
    }

    #[test]
    fn missing_interface_is_fatal() {
        let mut w = Watch::new(Instant::now());
        let verdict = w.observe(
            Instant::now(),
            &Observation::Missing("no wg-s2".into()),
            DEAD,
        );
        assert_eq!(verdict.as_deref(), Some("tunnel gone: no wg-s2"));
    }
}
