//! Our own graceful restart (RFC 4724 §4.1), with the top-level
//! `graceful_restart:` key: wgbgpd is then a restarting speaker towards
//! every peer that has `graceful_restart` (the helper side, per peer).
//!
//! ```text
//!  start ── own routes in the kernel? ──no──▶ fresh start: nothing deferred
//!             │ yes (a kill -9, a crash, or a graceful stop)
//!             ▼
//!  keep them (stale), R and F bits in the OPENs, sessions up,
//!  Rib::begin_deferral: selection runs, the kernel and the peers wait
//!             │ every GR peer sent End-of-RIB, or select_defer_time ran out
//!             ▼
//!  Rib::end_deferral: best routes replace the old ones in place, exactly the
//!  leftovers are deleted, each peer gets the table and End-of-RIB
//! ```
//!
//! "Restarted" means: our table holds routes of our protocol at start.
//! That is what an operator sees with `ip route show proto bgp`, it covers
//! a crash as well as a graceful stop (which keeps the routes), and a
//! reboot (routes gone) is rightly a fresh start, with the F bit clear so
//! the peers drop what they kept for us.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bgp::fsm::{LocalRestart, Negotiated};
use bgp::wire::{Afi, Safi};
use ipnet::IpNet;
use rib::kernel::FibWriter;
use tracing::{info, warn};

use crate::config::Config;

/// Where the daemon stands in its own graceful restart.
#[derive(Debug, Default)]
pub(crate) struct Restart {
    /// The top-level key is set and some peer has `graceful_restart`.
    pub enabled: bool,
    /// What the first OPEN to each peer says (R and F bits).
    pub local: LocalRestart,
    /// Prefixes of the previous run's routes found at start, until the
    /// deferral ends.
    kernel_stale: Vec<IpNet>,
    /// When the deferral ends at the latest; `None` when not deferring.
    deadline: Option<Instant>,
    /// When the deferral started and ended, for `show`.
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
    /// Per GR peer (config name): the unicast families whose End-of-RIB is
    /// awaited; `None` until its session is up.
    waiting: BTreeMap<String, Option<BTreeSet<Afi>>>,
}

/// Whether `cfg` makes us a restarting speaker with at least one peer.
pub(crate) fn enabled(cfg: &Config) -> bool {
    cfg.local_restart.is_some() && cfg.peers.values().any(|p| p.graceful_restart.is_some())
}

impl Restart {
    /// At start, before any route is installed: with graceful restart
    /// configured, keeps the previous run's routes (stale) and arms the
    /// deferral; without, purges them as always. Errors are the kernel's.
    pub(crate) async fn prepare(cfg: &Config, fib: &FibWriter) -> std::io::Result<Restart> {
        if !enabled(cfg) {
            let purged = fib.purge_stale().await?;
            if purged > 0 {
                info!(
                    routes = purged,
                    table = cfg.kernel.table,
                    "removed proto bgp routes left by an earlier run"
                );
            }
            return Ok(Restart::default());
        }
        let own = fib.dump_own().await?;
        // A route at another metric cannot be replaced in place (the metric
        // is part of its kernel identity): such a run is no restart of ours.
        if let Some(r) = own.iter().find(|r| r.metric != cfg.kernel.metric) {
            warn!(prefix = %r.prefix, metric = r.metric, ours = cfg.kernel.metric,
                  "proto bgp routes at another metric: purging them, no graceful restart");
            fib.purge_stale().await?;
            return Ok(Restart {
                enabled: true,
                ..Default::default()
            });
        }
        if own.is_empty() {
            info!("graceful restart: no routes of an earlier run in the kernel, a fresh start");
            return Ok(Restart {
                enabled: true,
                ..Default::default()
            });
        }
        let defer = cfg.local_restart.map_or(0, |l| l.select_defer_time).into();
        let mut kernel_stale: Vec<IpNet> = own.iter().map(|r| r.prefix).collect();
        kernel_stale.sort();
        kernel_stale.dedup();
        info!(
            routes = kernel_stale.len(),
            table = cfg.kernel.table,
            select_defer_time = defer,
            "graceful restart: keeping the routes of the earlier run until the peers' End-of-RIB"
        );
        let now = Instant::now();
        Ok(Restart {
            enabled: true,
            local: LocalRestart {
                restarting: true,
                forwarding: true,
            },
            kernel_stale,
            deadline: Some(now + Duration::from_secs(defer)),
            started: Some(now),
            ended: None,
            waiting: cfg
                .peers
                .iter()
                .filter(|(_, p)| p.graceful_restart.is_some() && !p.shutdown)
                .map(|(name, _)| (name.clone(), None))
                .collect(),
        })
    }

    /// When the deferral ends at the latest (`None`: not deferring).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether route selection is deferred.
    pub(crate) fn deferring(&self) -> bool {
        self.deadline.is_some()
    }

    /// The R and F bits for a peer's session (none for a peer without
    /// `graceful_restart`, or when we do not restart gracefully).
    pub(crate) fn for_peer(&self, peer: &crate::config::Peer) -> Option<LocalRestart> {
        (self.enabled && peer.graceful_restart.is_some()).then_some(self.local)
    }

    /// A session came up during the deferral: its End-of-RIB per unicast
    /// family is awaited.
    pub(crate) fn established(&mut self, name: &str, negotiated: &Negotiated) {
        if let Some(w) = self.waiting.get_mut(name) {
            let families: BTreeSet<Afi> = negotiated
                .families
                .iter()
                .filter(|(_, s)| *s == Safi::Unicast)
                .map(|(a, _)| *a)
                .collect();
            // A session that comes back after its End-of-RIB owes none.
            if w.is_none() {
                *w = Some(families);
            }
        }
    }

    /// The peer sent End-of-RIB for `afi`.
    pub(crate) fn end_of_rib(&mut self, name: &str, afi: Afi) {
        if let Some(Some(w)) = self.waiting.get_mut(name) {
            w.remove(&afi);
        }
    }

    /// A peer was removed by a reload: it is no longer waited for.
    pub(crate) fn forget(&mut self, name: &str) {
        self.waiting.remove(name);
    }

    /// Why the deferral ends now, if it does: every awaited End-of-RIB
    /// came, or the timer ran out.
    pub(crate) fn due(&self, now: Instant) -> Option<&'static str> {
        let deadline = self.deadline?;
        if self
            .waiting
            .values()
            .all(|w| w.as_ref().is_some_and(BTreeSet::is_empty))
        {
            Some("every peer sent End-of-RIB")
        } else if now >= deadline {
            Some("select_defer_time ran out")
        } else {
            None
        }
    }

    /// Ends the deferral: returns the previous run's prefixes for
    /// `Rib::end_deferral`. Later OPENs say no restart.
    pub(crate) fn finish(&mut self, now: Instant) -> Vec<IpNet> {
        self.deadline = None;
        self.ended = Some(now);
        self.waiting.clear();
        self.local.restarting = false;
        std::mem::take(&mut self.kernel_stale)
    }

    /// Peers whose End-of-RIB is still awaited, for the log and `show`.
    pub(crate) fn waiting_for(&self) -> Vec<&str> {
        self.waiting
            .iter()
            .filter(|(_, w)| !w.as_ref().is_some_and(BTreeSet::is_empty))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(families: &[(Afi, Safi)]) -> Negotiated {
        let open = bgp::fsm::Config::new(65501, 65500, "2.2.2.2".parse().unwrap()).open();
        Negotiated {
            remote_as: 65501,
            remote_id: "2.2.2.2".parse().unwrap(),
            hold_time: 90,
            keepalive: 30,
            four_octet_as: true,
            extended_message: false,
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_next_hop: false,
            families: families.to_vec(),
            remote_hostname: None,
            graceful_restart: None,
            remote_open: open,
        }
    }

    fn deferring(peers: &[&str], defer: Duration) -> Restart {
        Restart {
            enabled: true,
            local: LocalRestart {
                restarting: true,
                forwarding: true,
            },
            kernel_stale: vec!["198.19.0.0/24".parse().unwrap()],
            deadline: Some(Instant::now() + defer),
            started: Some(Instant::now()),
            ended: None,
            waiting: peers.iter().map(|p| (p.to_string(), None)).collect(),
        }
    }

    #[test]
    fn deferral_ends_when_every_peer_sent_end_of_rib_for_each_family() {
        let mut r = deferring(&["b", "c"], Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(r.due(now), None);
        let both = [(Afi::Ipv4, Safi::Unicast), (Afi::Ipv6, Safi::Unicast)];
        r.established("b", &negotiated(&both));
        r.end_of_rib("b", Afi::Ipv4);
        r.end_of_rib("b", Afi::Ipv6);
        assert_eq!(r.due(now), None, "c is not up yet");
        assert_eq!(r.waiting_for(), vec!["c"]);
        r.established("c", &negotiated(&both[..1]));
        assert_eq!(r.due(now), None);
        // An End-of-RIB of a peer not waited for changes nothing.
        r.end_of_rib("x", Afi::Ipv4);
        r.end_of_rib("c", Afi::Ipv4);
        assert_eq!(r.due(now), Some("every peer sent End-of-RIB"));
        let stale = r.finish(now);
        assert_eq!(stale.len(), 1);
        assert!(!r.deferring());
        assert!(!r.local.restarting);
        assert!(r.local.forwarding);
        assert_eq!(r.due(now), None);
    }

    #[test]
    fn deferral_ends_when_the_timer_runs_out_or_the_missing_peer_is_removed() {
        let r = deferring(&["b"], Duration::from_millis(50));
        let now = Instant::now();
        assert_eq!(r.due(now), None);
        assert_eq!(
            r.due(now + Duration::from_millis(60)),
            Some("select_defer_time ran out")
        );
        let mut r = deferring(&["b"], Duration::from_secs(60));
        r.forget("b");
        assert_eq!(r.due(now), Some("every peer sent End-of-RIB"));
    }
}
