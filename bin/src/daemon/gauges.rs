//! Rendering the metrics: per-peer gauges and counters from the router's
//! RIB and the session tasks' running totals, tunnel counters from each
//! tunnel's status, RIB and FIB sizes, refused routes. Each refresh adds
//! only what grew since the last one.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bgp::fsm::State;
use bgp::wire::Afi;
use rib::guard::Refusal;
use rib::path::PeerId;
use tracing::info;

use super::shell::Shell;
use crate::config;

/// Metric labels of a peer: session address, remote AS, config name.
pub(super) fn peer_labels(cfg: &config::Peer) -> [String; 3] {
    [
        cfg.address().to_string(),
        cfg.asn.to_string(),
        cfg.name.clone(),
    ]
}

/// What the metric counters already hold of running totals elsewhere.
#[derive(Default)]
pub(super) struct Gauges {
    /// (peer, message type, sent) → messages.
    messages: BTreeMap<(PeerId, usize, bool), u64>,
    /// (peer, sent, code, subcode) → NOTIFICATIONs.
    notifications: BTreeMap<(PeerId, bool, u8, u8), u64>,
    /// Refusals, per peer and reason.
    refused: BTreeMap<(PeerId, Refusal), u64>,
    /// Routes dropped for their next hop, per peer.
    next_hop_dropped: BTreeMap<PeerId, u64>,
    /// What each tunnel's status said at the last refresh.
    tunnels: BTreeMap<String, TunnelSeen>,
}

/// What a tunnel's status said at the last metrics refresh.
#[derive(Default)]
struct TunnelSeen {
    rx: u64,
    tx: u64,
    endpoint: Option<std::net::SocketAddr>,
}

/// How much a counter that may restart at 0 grew.
fn grew(now: u64, before: u64) -> u64 {
    if now >= before { now - before } else { now }
}

impl Shell {
    pub(super) fn peer_state_metrics(&self, id: PeerId, from: State, to: State) {
        let Some(p) = self.router.peers().get(&id) else {
            return;
        };
        let labels = peer_labels(&p.cfg);
        let labels: [&str; 3] = [&labels[0], &labels[1], &labels[2]];
        // The first change (Idle to Connect or Active) comes before any
        // message: the counters start at 0 before they can count.
        let description = p.cfg.description.as_deref().unwrap_or("");
        let up = to == State::Established;
        let m = &self.metrics;
        m.init_peer(labels, self.router.config().asn, description, up);
        m.peer_state.with_label_values(&labels).set(to.mib_value());
        m.peer_up.with_label_values(&labels).set(up as i64);
        if from == State::Established {
            m.session_flaps_total.with_label_values(&labels).inc();
        }
    }

    /// Per-peer prefix gauges, uptime, message and notification counters,
    /// from the RIB and the session tasks' atomic counters.
    pub(super) fn refresh_peer_metrics(&mut self) {
        const TYPES: [&str; 6] = crate::metrics::MESSAGE_TYPES;
        // A removed or reset session's totals go with it (a new session
        // has a new id), so reloads do not grow these maps.
        let live = |id: &PeerId| self.router.peers().contains_key(id);
        let g = &mut self.gauges;
        g.messages.retain(|(id, _, _), _| live(id));
        g.notifications.retain(|(id, _, _, _), _| live(id));
        g.refused.retain(|(id, _), _| live(id));
        g.next_hop_dropped.retain(|id, _| live(id));
        let (rib, m, asn) = (self.router.rib(), &self.metrics, self.router.config().asn);
        for (id, p) in self.router.peers() {
            let Some(session) = self.sessions.get(id) else {
                continue;
            };
            let stats = &session.stats;
            let [peer, peer_as, name] = peer_labels(&p.cfg);
            let up = stats.state() == State::Established;
            let description = p.cfg.description.as_deref().unwrap_or("");
            m.init_peer([&peer, &peer_as, &name], asn, description, up);
            for (afi, label) in [(Afi::Ipv4, "ipv4"), (Afi::Ipv6, "ipv6")] {
                let (accepted, sent) = rib.peer_counts(*id, afi);
                // Pre-policy counts exist only with soft_reconfiguration
                // (as FRR's filteredPrefixCounter).
                let before_policy =
                    (rib.received_counts(*id)).map(|c| c[(afi != Afi::Ipv4) as usize]);
                let received = before_policy.map_or(accepted, |(r, _)| r);
                let labels = [&*peer, &*peer_as, &*name, label, "unicast"];
                m.prefixes_received
                    .with_label_values(&labels)
                    .set(received as i64);
                m.prefixes_advertised
                    .with_label_values(&labels)
                    .set(sent as i64);
                m.prefixes_accepted
                    .with_label_values(&labels)
                    .set(accepted as i64);
                if let Some((_, filtered)) = before_policy {
                    m.prefixes_filtered
                        .with_label_values(&labels)
                        .set(filtered as i64);
                }
            }
            for (code, ty) in TYPES.iter().enumerate().skip(1) {
                for (sent, counters, metric) in [
                    (true, &stats.messages_sent, &m.messages_sent_total),
                    (false, &stats.messages_received, &m.messages_received_total),
                ] {
                    let now = counters[code].load(Ordering::Relaxed);
                    let before = self.gauges.messages.insert((*id, code, sent), now);
                    let labels = [&*peer, &*peer_as, &*name, *ty];
                    metric
                        .with_label_values(&labels)
                        .inc_by(now.saturating_sub(before.unwrap_or(0)));
                }
            }
            let notifications = stats.notifications.lock().unwrap().clone();
            for ((sent, code, subcode), now) in notifications {
                let key = (*id, sent, code, subcode);
                let before = self.gauges.notifications.insert(key, now).unwrap_or(0);
                let (code, subcode) = (code.to_string(), subcode.to_string());
                let direction = if sent { "sent" } else { "received" };
                let labels = [&*peer, &*peer_as, &*name, direction, &*code, &*subcode];
                (m.notifications_total.with_label_values(&labels))
                    .inc_by(now.saturating_sub(before));
            }
            let established = *stats.established_at.lock().unwrap();
            let uptime = (established.filter(|_| up)).map_or(0, |(at, _)| at.elapsed().as_secs());
            (m.peer_uptime_seconds
                .with_label_values(&[&*peer, &*peer_as, &*name]))
            .set(uptime as i64);
        }
        let (resolved, unresolved) = rib.next_hop_counts();
        m.nexthops
            .with_label_values(&["resolved"])
            .set(resolved as i64);
        m.nexthops
            .with_label_values(&["unresolved"])
            .set(unresolved as i64);
    }

    pub(super) fn update_rib_metrics(&self) {
        let (mut v4, mut v6, mut fib4, mut fib6) = (0i64, 0i64, 0i64, 0i64);
        for (prefix, dest) in self.router.rib().loc_rib().iter() {
            let installed = dest.installed().is_some() as i64;
            match prefix {
                ipnet::IpNet::V4(_) => (v4 += 1, fib4 += installed),
                ipnet::IpNet::V6(_) => (v6 += 1, fib6 += installed),
            };
        }
        let m = &self.metrics;
        m.rib_routes.with_label_values(&["ipv4"]).set(v4);
        m.rib_routes.with_label_values(&["ipv6"]).set(v6);
        m.fib_routes.with_label_values(&["ipv4"]).set(fib4);
        m.fib_routes.with_label_values(&["ipv6"]).set(fib6);
        let stats = self.fib.stats();
        m.nexthop_objects
            .set(stats.objects.load(Ordering::Relaxed) as i64);
        let catch_up =
            |c: &prometheus::IntCounter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        catch_up(
            &m.fib_failovers_total,
            stats.failovers.load(Ordering::Relaxed),
        );
        catch_up(
            &m.fib_failover_routes_total,
            stats.failover_routes.load(Ordering::Relaxed),
        );
    }

    /// Brings `wgbgp_routes_refused_total` and `wgbgp_adj_rib_in_bytes` up to date.
    pub(super) fn refresh_limit_metrics(&mut self) {
        let (rib, m) = (self.router.rib(), &self.metrics);
        for (id, p) in self.router.peers() {
            let [peer, peer_as, name] = peer_labels(&p.cfg);
            if let Some(bytes) = rib.adj_rib_in_bytes(*id) {
                (m.adj_rib_in_bytes
                    .with_label_values(&[&peer, &peer_as, &name]))
                .set(bytes as i64);
            }
            let refused = rib.refused(*id).into_iter().map(|(why, n)| (Some(why), n));
            // Logged once per peer by the RIB (rib::table::NextHopDrop).
            let next_hop = [(None, rib.next_hop_drops(*id))];
            for (why, n) in refused.chain(next_hop) {
                let seen = match why {
                    Some(why) => self.gauges.refused.entry((*id, why)).or_default(),
                    None => self.gauges.next_hop_dropped.entry(*id).or_default(),
                };
                if n > *seen {
                    let reason = why.map_or("next_hop", |w| w.label());
                    (m.routes_refused_total
                        .with_label_values(&[&peer, &peer_as, &name, reason]))
                    .inc_by(n - *seen);
                    *seen = n;
                }
            }
        }
    }

    /// Tunnel gauges and byte counters from each tunnel's status. A
    /// wireguard-go restart starts its counters at 0, which is added as
    /// new traffic.
    pub(super) async fn refresh_tunnel_metrics(&mut self) {
        let peers: Vec<config::Peer> = (self.router.peers().values())
            .filter(|p| p.cfg.interface().is_some())
            .map(|p| p.cfg.clone())
            .collect();
        for p in peers {
            let ifname = p.interface().expect("filtered");
            let peer = p.address().to_string();
            let labels = [ifname, peer.as_str(), p.name.as_str()];
            let m = &self.metrics;
            let timeout = std::time::Duration::from_millis(500);
            let status = tokio::time::timeout(timeout, self.tunnels.status(ifname)).await;
            let Ok(Ok(st)) = status else {
                m.tunnel_up.with_label_values(&labels).set(0);
                continue;
            };
            m.tunnel_up
                .with_label_values(&labels)
                .set(st.oper_up as i64);
            m.tunnel_restarts
                .with_label_values(&labels)
                .set(st.restarts as i64);
            let Some(wg) = st.peer else { continue };
            if let Some(age) = wg.handshake_age {
                (m.tunnel_handshake_age_seconds.with_label_values(&labels))
                    .set(age.as_secs() as i64);
            }
            let now = TunnelSeen {
                rx: wg.rx_bytes,
                tx: wg.tx_bytes,
                endpoint: wg.endpoint,
            };
            let before = (self.gauges.tunnels.insert(ifname.to_string(), now)).unwrap_or_default();
            // The peer roamed, or a re-resolved hostname moved it.
            if let (Some(old), Some(new)) = (before.endpoint, wg.endpoint)
                && old != new
            {
                info!(peer = %p.name, interface = %ifname, %old, %new, "tunnel endpoint changed");
                m.tunnel_endpoint_changes_total
                    .with_label_values(&labels)
                    .inc();
            }
            (m.tunnel_receive_bytes_total.with_label_values(&labels))
                .inc_by(grew(wg.rx_bytes, before.rx));
            (m.tunnel_transmit_bytes_total.with_label_values(&labels))
                .inc_by(grew(wg.tx_bytes, before.tx));
        }
    }
}
