//! Kernel routing policy: the ip rules wgbgpd owns (`kernel.rules` and the underlay rule) and
//! the pinned routes that keep each tunnel's encrypted packets off the BGP routes.
//!
//! ```text
//!   config (start, reload) ──watch──▶ ┌───────────────┐ ──RTM_NEWRULE/DELRULE──▶ kernel rules
//!   watcher(main)  ──KernelEvent────▶ │ underlay task │ ──FibOp (table U)──────▶ pin writer
//!   watcher(table U) ──KernelEvent──▶ │  (views of    │
//!   rule changes, tick ─────────────▶ │  main and U)  │ ◀──stop── daemon shutdown
//!                                     └───────────────┘
//! ```
//!
//! Loop prevention, adapted from wg-quick: every tunnel marks its UDP packets with
//! `kernel.fwmark`, and the rule `fwmark M lookup U` (priority `kernel.underlay_priority`,
//! before `main`) sends them to the underlay table U, where this task keeps one host route
//! per tunnel endpoint, copied from the kernel's longest match for it among the main table's
//! non-BGP routes ([`rib::kernel::rules::pins`]). A BGP default route, or a learned prefix
//! covering an endpoint, thus never carries the tunnel's own packets; BGP routes stay in
//! `main`. An endpoint without an underlay route gets no pin and its packets fall through to
//! `main`, as without the rule.
//!
//! Healing: both views are fed by watchers, so a pin deleted behind our back, or an underlay
//! route that changes, is reconciled at once; a rule notification (or [`HEAL_EVERY`]) makes
//! the task compare our rules with a dump and restore what is missing. At start the rules and pins of an earlier run are
//! reconciled (not duplicated); at shutdown all of them are removed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use rib::kernel::rules::pins;
use rib::kernel::{
    FibConfig, FibOp, FibWriter, KernelEvent, KernelView, KernelWatcher, RuleClient,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::config::Config;

/// How often our rules are compared with the kernel's besides on every rule notification
/// (a safety net for notifications lost to a receive-buffer overrun).
pub(super) const HEAL_EVERY: Duration = Duration::from_secs(10);

/// `rtm_protocol` of the pinned routes (`proto static`). The underlay table is wgbgpd's:
/// what else is in it is removed.
const PIN_PROTOCOL: u8 = tunnels::HOST_ROUTE_PROTOCOL;

/// The underlay's routes are those of `main`, wherever `kernel.table` puts the BGP routes.
const MAIN_TABLE: u32 = 254;

/// Handle to the underlay task.
pub(super) struct Underlay {
    config: watch::Sender<Arc<Config>>,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl Underlay {
    /// Starts the task: removes what an earlier run left, then installs `cfg`'s rules and pins.
    pub async fn spawn(cfg: Arc<Config>) -> std::io::Result<Underlay> {
        let (rules, rule_events) = RuleClient::connect_watching()?;
        let pin_cfg = FibConfig {
            table: cfg.kernel.underlay_table,
            metric: 0,
            protocol: PIN_PROTOCOL,
        };
        let writer = FibWriter::spawn(pin_cfg)?;
        match writer.purge_stale().await {
            Ok(n) if n > 0 => info!(routes = n, "removed underlay pins of an earlier run"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not purge the underlay table"),
        }
        let main_events = KernelWatcher::spawn(MAIN_TABLE)?;
        let pin_events = KernelWatcher::spawn(cfg.kernel.underlay_table)?;
        let (config, config_rx) = watch::channel(cfg.clone());
        let (stop, stop_rx) = oneshot::channel();
        let task = Task {
            rules,
            writer,
            main: KernelView::new(MAIN_TABLE),
            pinned: KernelView::new(cfg.kernel.underlay_table),
            endpoints: BTreeSet::new(),
            cfg,
        };
        tokio::spawn(task.run(config_rx, main_events, pin_events, rule_events, stop_rx));
        Ok(Underlay {
            config,
            stop: Some(stop),
        })
    }

    /// A reloaded config: rules are applied by difference, endpoints re-pinned.
    pub fn reload(&self, cfg: Arc<Config>) {
        let _ = self.config.send(cfg);
    }

    /// Removes our rules and pins and stops the task.
    pub async fn shutdown(mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if stop.send(done).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
    }
}

struct Task {
    cfg: Arc<Config>,
    rules: RuleClient,
    writer: FibWriter,
    /// The main table (non-BGP routes): where the endpoints' underlay routes come from.
    main: KernelView,
    /// The underlay table: the pins the kernel holds.
    pinned: KernelView,
    endpoints: BTreeSet<IpAddr>,
}

impl Task {
    async fn run(
        mut self,
        mut config: watch::Receiver<Arc<Config>>,
        mut main_events: mpsc::Receiver<KernelEvent>,
        mut pin_events: mpsc::Receiver<KernelEvent>,
        mut rule_events: mpsc::UnboundedReceiver<()>,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
    ) {
        self.endpoints = endpoints(&self.cfg).await;
        self.sync_rules().await;
        let mut tick = tokio::time::interval(HEAL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                done = &mut stop => {
                    self.cleanup().await;
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                changed = config.changed() => {
                    if changed.is_err() {
                        // The daemon is gone without a shutdown: leave the kernel as is.
                        return;
                    }
                    self.cfg = config.borrow_and_update().clone();
                    self.endpoints = endpoints(&self.cfg).await;
                    self.sync_rules().await;
                    self.sync_pins().await;
                }
                Some(ev) = main_events.recv() => {
                    if self.main.apply(&ev) {
                        self.sync_pins().await;
                    }
                }
                Some(ev) = pin_events.recv() => {
                    // Our own pins come back here too; a reconcile then finds nothing to do.
                    if self.pinned.apply(&ev) {
                        self.sync_pins().await;
                    }
                }
                Some(res) = self.writer.results().recv() => {
                    for (prefix, e) in &res.errors {
                        warn!(%prefix, error = %e, "underlay pin failed");
                    }
                }
                Some(()) = rule_events.recv() => {
                    // A burst (ours included) costs one dump.
                    while rule_events.try_recv().is_ok() {}
                    self.sync_rules().await;
                }
                _ = tick.tick() => self.sync_rules().await,
            }
        }
    }

    async fn sync_rules(&self) {
        match self.rules.sync(&self.cfg.kernel.wanted_rules()).await {
            Ok((0, 0)) => {}
            Ok((deleted, added)) => info!(deleted, added, "ip rules synced"),
            Err(e) => warn!(error = %e, "ip rules not in sync"),
        }
    }

    /// Makes the underlay table hold exactly the pins the main table calls for.
    async fn sync_pins(&mut self) {
        if self.cfg.kernel.fwmark == 0 {
            return;
        }
        let tunnels: BTreeSet<u32> = (self.cfg.peers.values())
            .filter_map(|p| p.interface())
            .filter_map(|i| self.main.ifindex(i))
            .collect();
        let want = pins(&self.main, &self.endpoints, &tunnels);
        let ops = pin_ops(&self.pinned, &want);
        if !ops.is_empty() {
            debug!(?ops, "re-pinning tunnel endpoints");
            info!(
                pins = want.len(),
                changes = ops.len(),
                "underlay pins updated"
            );
            self.writer.submit(ops).await;
        }
    }

    async fn cleanup(&mut self) {
        match self.rules.sync(&[]).await {
            Ok((n, _)) => info!(rules = n, "removed our ip rules"),
            Err(e) => warn!(error = %e, "could not remove our ip rules"),
        }
        match self.writer.purge_stale().await {
            Ok(n) => info!(routes = n, "removed the underlay pins"),
            Err(e) => warn!(error = %e, "could not remove the underlay pins"),
        }
    }
}

/// The FIB ops that turn the underlay table (`have`) into `want`.
fn pin_ops(
    have: &KernelView,
    want: &std::collections::BTreeMap<IpNet, Vec<rib::kernel::KernelNextHop>>,
) -> Vec<FibOp> {
    let mut ops = Vec::new();
    for (prefix, hops) in want {
        let held = have.routes_to(prefix);
        let same = held.len() == 1 && {
            let mut paths: Vec<(Option<IpAddr>, Option<u32>)> = held[0].paths();
            let mut wanted: Vec<_> = hops
                .iter()
                .map(|h| (Some(h.gateway), Some(h.ifindex)))
                .collect();
            paths.sort();
            wanted.sort();
            paths == wanted
        };
        if !same {
            ops.push(FibOp::Replace {
                prefix: *prefix,
                nexthops: Arc::new(hops.clone()),
                backup: None,
            });
        }
    }
    for r in have.routes() {
        if !want.contains_key(&r.prefix) {
            ops.push(FibOp::Delete { prefix: r.prefix });
        }
    }
    ops
}

/// The tunnel endpoints of `cfg`, resolved (a name that does not resolve now is skipped and
/// logged; its packets follow `main`).
async fn endpoints(cfg: &Config) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    for (name, peer) in &cfg.peers {
        let Some(ep) = peer.wireguard.as_ref().and_then(|w| w.endpoint.as_ref()) else {
            continue;
        };
        match crate::host::resolve_endpoint(ep).await {
            Ok(sa) => {
                out.insert(sa.ip());
            }
            Err(e) => warn!(peer = %name, error = %e, "endpoint not resolved; not pinned"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rib::kernel::{KernelNextHop, KernelRoute};

    use super::*;

    fn pin(prefix: &str, gw: &str, oif: u32) -> KernelEvent {
        KernelEvent::RouteAdded(KernelRoute::unicast(
            prefix.parse().unwrap(),
            Some(gw.parse().unwrap()),
            oif,
            PIN_PROTOCOL,
            51820,
        ))
    }

    #[test]
    fn pin_ops_replace_what_differs_and_delete_what_is_not_wanted() {
        let mut have = KernelView::new(51820);
        have.apply(&pin("10.0.0.2/32", "10.0.0.2", 3));
        have.apply(&pin("10.0.0.3/32", "10.0.0.3", 3));
        have.apply(&pin("10.0.0.9/32", "10.0.0.9", 3));
        let hop = |gw: &str, ifindex| {
            vec![KernelNextHop {
                gateway: gw.parse().unwrap(),
                ifindex,
                onlink: true,
            }]
        };
        let want: BTreeMap<IpNet, Vec<KernelNextHop>> = [
            ("10.0.0.2/32", hop("10.0.0.2", 3)),  // as held
            ("10.0.0.3/32", hop("192.0.2.1", 4)), // moved
            ("10.0.0.4/32", hop("10.0.0.4", 3)),  // new
        ]
        .into_iter()
        .map(|(p, h)| (p.parse().unwrap(), h))
        .collect();
        let ops = pin_ops(&have, &want);
        let mut named: Vec<String> = ops
            .iter()
            .map(|op| match op {
                FibOp::Replace { prefix, .. } => format!("replace {prefix}"),
                FibOp::Delete { prefix } => format!("delete {prefix}"),
                other => format!("{other:?}"),
            })
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                "delete 10.0.0.9/32",
                "replace 10.0.0.3/32",
                "replace 10.0.0.4/32"
            ]
        );
        assert!(pin_ops(&have, &BTreeMap::new()).len() == 3);
    }
}
