//! Self-healing pacing: how soon something deleted behind our back may be put back again.
//!
//! The first repairs of a thing are immediate; one that keeps being deleted (another daemon
//! purging `proto bgp` routes, a script fighting us) is put back with a growing delay instead of
//! in a tight loop: after `FREE` repairs within `QUIET` of each other, each further one waits
//! 1 s, 2 s, 4 s ... up to `MAX_DELAY`. `QUIET` without a repair forgives everything. Pure data
//! with the clock passed in, so it is tested without sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Repairs in a row that are never delayed.
pub const FREE: u32 = 3;
/// Delay of the first paced repair; doubles with each further one.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest a repair is held back.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A thing left alone this long (longer than `MAX_DELAY`) starts over with free repairs.
pub const QUIET: Duration = Duration::from_secs(120);

/// Repair history per thing (`K`: a prefix, an interface name, an address).
#[derive(Debug, Clone)]
pub struct Pacer<K> {
    /// (repairs in a row, time of the last one)
    history: HashMap<K, (u32, Instant)>,
}

impl<K> Default for Pacer<K> {
    fn default() -> Self {
        Pacer {
            history: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Pacer<K> {
    /// When `key` may be repaired next: `now` or earlier means at once.
    pub fn due(&self, key: &K, now: Instant) -> Instant {
        match self.history.get(key) {
            Some(&(n, last)) if n >= FREE && now.duration_since(last) < QUIET => {
                let shift = (n - FREE).min(16);
                last + (FIRST_DELAY * (1 << shift)).min(MAX_DELAY)
            }
            _ => now,
        }
    }

    /// Records a repair of `key` at `now`.
    pub fn repaired(&mut self, key: K, now: Instant) {
        let entry = self.history.entry(key).or_insert((0, now));
        if now.duration_since(entry.1) >= QUIET {
            entry.0 = 0;
        }
        *entry = (entry.0 + 1, now);
        // Forget things left alone, so the map holds only recent trouble.
        if self.history.len() > 1024 {
            self.history
                .retain(|_, (_, last)| now.duration_since(*last) < QUIET);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_repairs_are_immediate_then_paced_exponentially() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        let mut now = t0;
        for _ in 0..FREE {
            assert_eq!(p.due(&"x", now), now);
            p.repaired("x", now);
            now += Duration::from_millis(10);
        }
        // Fourth in a row: one second after the third.
        let last = now - Duration::from_millis(10);
        assert_eq!(p.due(&"x", now), last + FIRST_DELAY);
        p.repaired("x", last + FIRST_DELAY);
        assert_eq!(
            p.due(&"x", last + FIRST_DELAY),
            last + FIRST_DELAY + FIRST_DELAY * 2
        );
        // Another key is unaffected.
        assert_eq!(p.due(&"y", now), now);
    }

    #[test]
    fn delay_is_capped_and_quiet_forgives() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        let mut now = t0;
        for _ in 0..30 {
            now = p.due(&1u8, now).max(now);
            p.repaired(1u8, now);
        }
        assert_eq!(p.due(&1u8, now), now + MAX_DELAY);
        let later = now + QUIET;
        assert_eq!(p.due(&1u8, later), later);
        p.repaired(1u8, later);
        assert_eq!(p.due(&1u8, later), later, "history starts over");
    }
}
