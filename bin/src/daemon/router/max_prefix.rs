//! `max_prefix` (RFC 4486 §4, FRR's `maximum-prefix`): the verdict on a
//! peer's received prefix counts after each UPDATE. Pure: counts in, a
//! NOTIFICATION to reset the session with out; the shell sends it.

use std::collections::BTreeSet;
use std::time::Duration;

use bgp::wire::{Afi, CeaseSubcode, Notification, Safi};
use rib::path::PeerId;
use tracing::warn;

use crate::config::{MaxPrefix, MaxPrefixAction};

/// The session must go down with `notification`, and stay down `hold_down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reset {
    pub notification: Notification,
    pub hold_down: Duration,
}

/// Which peers are over a warn-only limit, so it is logged once.
#[derive(Default)]
pub(crate) struct MaxPrefixGuard {
    over_limit: BTreeSet<PeerId>,
}

impl MaxPrefixGuard {
    pub(crate) fn forget(&mut self, id: PeerId) {
        self.over_limit.remove(&id);
    }

    /// Whether `id` is over its warn-only limit now.
    #[cfg(test)]
    pub(crate) fn warned(&self, id: PeerId) -> bool {
        self.over_limit.contains(&id)
    }

    /// Checks `received(afi)`, the prefixes `id` sent per family, against
    /// `max`. `restart`: Cease/Maximum Number of Prefixes Reached with the
    /// AFI, SAFI and limit as data (RFC 4486 §4), and a hold-down of
    /// `restart_after`; `warn`: logged once until back under the limit.
    pub(crate) fn check(
        &mut self,
        id: PeerId,
        name: &str,
        max: Option<MaxPrefix>,
        received: impl Fn(Afi) -> usize,
    ) -> Option<Reset> {
        let max = max?;
        for afi in [Afi::Ipv4, Afi::Ipv6] {
            let received = received(afi);
            if received as u64 <= max.limit as u64 {
                continue;
            }
            match max.action {
                MaxPrefixAction::Warn => {
                    if self.over_limit.insert(id) {
                        warn!(peer = %name, %afi, received, limit = max.limit, "max_prefix exceeded (warn only)");
                    }
                    return None;
                }
                MaxPrefixAction::Restart => {
                    warn!(peer = %name, %afi, received, limit = max.limit,
                          restart_after = max.restart_after, "max_prefix exceeded: closing the session");
                    let mut data = Vec::with_capacity(7);
                    data.extend_from_slice(&u16::from(afi).to_be_bytes());
                    data.push(Safi::Unicast.into());
                    data.extend_from_slice(&max.limit.to_be_bytes());
                    return Some(Reset {
                        notification: Notification::cease(
                            CeaseSubcode::MaximumPrefixesReached,
                            data,
                        ),
                        hold_down: Duration::from_secs(max.restart_after.into()),
                    });
                }
            }
        }
        self.over_limit.remove(&id);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max(limit: u32, action: MaxPrefixAction, restart_after: u32) -> Option<MaxPrefix> {
        Some(MaxPrefix {
            limit,
            action,
            restart_after,
        })
    }

    #[test]
    fn restart_resets_with_cease_1_and_holds_down_restart_after() {
        let mut guard = MaxPrefixGuard::default();
        let limit = max(10, MaxPrefixAction::Restart, 30);
        let counts = |v4, v6| move |afi| if afi == Afi::Ipv4 { v4 } else { v6 };
        assert_eq!(
            guard.check(2, "s2", limit, counts(10, 10)),
            None,
            "at the limit"
        );
        let reset = guard
            .check(2, "s2", limit, counts(3, 11))
            .expect("over the limit in IPv6");
        assert!((reset.notification).is_cease(CeaseSubcode::MaximumPrefixesReached));
        // RFC 4486 §4: AFI 2, SAFI 1, limit 10.
        assert_eq!(&reset.notification.data[..], &[0, 2, 1, 0, 0, 0, 10]);
        assert_eq!(reset.hold_down, Duration::from_secs(30));
    }

    #[test]
    fn warn_only_logs_once_until_back_under_the_limit() {
        let mut guard = MaxPrefixGuard::default();
        let limit = max(5, MaxPrefixAction::Warn, 0);
        assert_eq!(guard.check(2, "s2", limit, |_| 6), None);
        assert!(guard.warned(2));
        assert_eq!(guard.check(2, "s2", limit, |_| 7), None, "no reset");
        assert_eq!(guard.check(2, "s2", limit, |_| 5), None);
        assert!(!guard.warned(2), "back under: a new excess is logged again");
    }

    #[test]
    fn no_max_prefix_means_no_verdict() {
        let mut guard = MaxPrefixGuard::default();
        assert_eq!(guard.check(2, "s2", None, |_| 1_000_000), None);
        assert!(!guard.warned(2));
    }
}
