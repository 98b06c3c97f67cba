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

use std::time::{Duration, Instant};

/// WireGuard's REJECT_AFTER_TIME: keys older than this carry no data.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

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
}

impl Watch {
    /// Starts watching when the session comes up: nothing is overdue yet.
    pub fn new(now: Instant) -> Watch {
        Watch {
            rx_bytes: None,
            last_growth: now,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
