//! Endpoint hostnames resolved again when a tunnel's handshake goes stale.
//!
//! wg-quick resolves an `Endpoint = host:port` once, at `up`; a peer whose
//! address then changes (dynamic DNS, a moved VM) is lost until someone
//! runs wireguard-tools' `contrib/reresolve-dns`, which every 30 s resets
//! the endpoint of each peer whose latest handshake is older than 135 s
//! (REKEY_AFTER_TIME + REKEY_TIMEOUT + a margin: a working tunnel never gets
//! there). wgbgpd does the same for tunnels it made from a hostname, and
//! updates the endpoint in place (same interface, same session) only when
//! the answer changed. The decision is pure ([`Reresolve::due`],
//! [`changed`]) so it is tested without DNS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A handshake older than this is stale (wireguard-tools' reresolve-dns).
pub(super) const STALE_AFTER: Duration = Duration::from_secs(135);
/// Resolve a stale tunnel's hostname at most this often.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(30);

/// When each tunnel's hostname was last resolved again, by interface.
#[derive(Debug, Default)]
pub(super) struct Reresolve {
    last: BTreeMap<String, Instant>,
    /// When each tunnel was first seen without any handshake.
    first_seen: BTreeMap<String, Instant>,
}

impl Reresolve {
    /// Whether `interface`'s hostname should be resolved again at `now`:
    /// its latest handshake is older than [`STALE_AFTER`] (or it has had
    /// none for that long), and the last attempt was [`RETRY_EVERY`] ago.
    /// A fresh handshake forgets the tunnel, so the next stall starts over.
    pub fn due(&mut self, interface: &str, handshake_age: Option<Duration>, now: Instant) -> bool {
        let stale = match handshake_age {
            Some(age) => {
                self.first_seen.remove(interface);
                age > STALE_AFTER
            }
            None => {
                let since = *self.first_seen.entry(interface.to_string()).or_insert(now);
                now.duration_since(since) > STALE_AFTER
            }
        };
        if !stale {
            self.last.remove(interface);
            return false;
        }
        match self.last.get(interface) {
            Some(&at) if now.duration_since(at) < RETRY_EVERY => false,
            _ => {
                self.last.insert(interface.to_string(), now);
                true
            }
        }
    }

    /// Forgets a tunnel (removed by reload).
    pub fn forget(&mut self, interface: &str) {
        self.last.remove(interface);
        self.first_seen.remove(interface);
    }
}

/// The endpoint to set after resolving `resolved`, if it differs from the
/// tunnel's `current` one (`None`: leave the tunnel alone).
pub(super) fn changed(current: Option<SocketAddr>, resolved: SocketAddr) -> Option<SocketAddr> {
    (current != Some(resolved)).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn fresh_handshake_is_never_due() {
        let mut r = Reresolve::default();
        let t0 = Instant::now();
        assert!(!r.due("wg0", Some(S(5)), t0));
        assert!(!r.due("wg0", Some(STALE_AFTER), t0 + S(60)));
    }

    #[test]
    fn stale_handshake_is_due_then_paced_every_30s() {
        let mut r = Reresolve::default();
        let t0 = Instant::now();
        assert!(r.due("wg0", Some(S(136)), t0));
        assert!(!r.due("wg0", Some(S(146)), t0 + S(10)), "paced");
        assert!(!r.due("wg0", Some(S(165)), t0 + S(29)), "paced");
        assert!(r.due("wg0", Some(S(166)), t0 + RETRY_EVERY));
        // Other tunnels have their own pace.
        assert!(r.due("wg1", Some(S(500)), t0 + S(10)));
    }

    #[test]
    fn a_new_handshake_resets_the_pace() {
        let mut r = Reresolve::default();
        let t0 = Instant::now();
        assert!(r.due("wg0", Some(S(200)), t0));
        assert!(!r.due("wg0", Some(S(1)), t0 + S(5)));
        // Stale again soon after: due at once, not 30 s after the last try.
        assert!(r.due("wg0", Some(S(140)), t0 + S(10)));
    }

    #[test]
    fn no_handshake_ever_is_due_after_the_stale_time() {
        let mut r = Reresolve::default();
        let t0 = Instant::now();
        assert!(!r.due("wg0", None, t0), "just created");
        assert!(!r.due("wg0", None, t0 + S(100)));
        assert!(r.due("wg0", None, t0 + S(136)));
        assert!(!r.due("wg0", None, t0 + S(150)), "paced");
        r.forget("wg0");
        assert!(!r.due("wg0", None, t0 + S(200)), "forgotten: starts over");
    }

    #[test]
    fn only_a_different_answer_changes_the_endpoint() {
        let a: SocketAddr = "192.0.2.1:51820".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:51820".parse().unwrap();
        assert_eq!(changed(Some(a), a), None);
        assert_eq!(changed(Some(a), b), Some(b));
        assert_eq!(changed(None, a), Some(a), "the peer's endpoint was lost");
    }
}

/// The re-resolution state of the shell: the pacing, and lookups in
/// flight (run as their own tasks so a slow DNS server never holds up
/// routing; looked at again on the next tick).
#[derive(Default)]
pub(super) struct Pending {
    pace: Reresolve,
    lookups: BTreeMap<String, tokio::task::JoinHandle<std::io::Result<SocketAddr>>>,
}

impl super::shell::Shell {
    /// One round (every metrics refresh): start lookups for stale tunnels
    /// with a hostname endpoint, and apply the answers that came in.
    pub(super) async fn reresolve_endpoints(&mut self, state: &mut Pending) {
        let now = Instant::now();
        let peers: Vec<crate::config::Peer> = (self.router.peers().values())
            .filter(|p| {
                p.cfg.wireguard.as_ref().is_some_and(|w| {
                    matches!(w.endpoint, Some(crate::config::Endpoint::Host { .. }))
                })
            })
            .map(|p| p.cfg.clone())
            .collect();
        let live: Vec<&str> = peers.iter().filter_map(|p| p.interface()).collect();
        state
            .lookups
            .retain(|ifname, _| live.contains(&ifname.as_str()));
        let gone: Vec<String> = (state.pace.last.keys())
            .chain(state.pace.first_seen.keys())
            .filter(|i| !live.contains(&i.as_str()))
            .cloned()
            .collect();
        for ifname in gone {
            state.pace.forget(&ifname);
        }
        for peer in peers {
            let (Some(wg), Some(ifname)) = (&peer.wireguard, peer.interface()) else {
                continue;
            };
            let Some(endpoint) = wg.endpoint.clone() else {
                continue;
            };
            let status =
                tokio::time::timeout(Duration::from_millis(500), self.tunnels.status(ifname)).await;
            let Ok(Ok(st)) = status else { continue };
            let Some(wg_peer) = st.peer else { continue };
            if let Some(lookup) = state.lookups.get(ifname) {
                if !lookup.is_finished() {
                    continue;
                }
                let lookup = state.lookups.remove(ifname).expect("present");
                let resolved = match lookup.await {
                    Ok(Ok(sa)) => sa,
                    Ok(Err(e)) => {
                        tracing::warn!(peer = %peer.name, %endpoint, error = %e,
                            "re-resolving the endpoint failed; keeping the current one");
                        continue;
                    }
                    Err(_) => continue,
                };
                let Some(new) = changed(wg_peer.endpoint, resolved) else {
                    tracing::debug!(peer = %peer.name, %endpoint, %resolved, "endpoint re-resolved: unchanged");
                    continue;
                };
                let Some(spec) = self.tunnel_spec_with(&peer, Some(new)) else {
                    continue;
                };
                // In place: same interface, same session (the change is
                // counted by wgbgp_tunnel_endpoint_changes_total when the
                // metrics next read the tunnel).
                match self.tunnels.up(&spec).await {
                    Ok(()) => tracing::info!(peer = %peer.name, interface = %ifname, %endpoint,
                        old = ?wg_peer.endpoint, %new, "handshake stale: endpoint re-resolved to a new address"),
                    Err(e) => tracing::warn!(peer = %peer.name, interface = %ifname, error = %e,
                        "setting the re-resolved endpoint failed"),
                }
                continue;
            }
            if state.pace.due(ifname, wg_peer.handshake_age, now) {
                tracing::info!(peer = %peer.name, interface = %ifname, %endpoint,
                    age = ?wg_peer.handshake_age, "handshake stale: resolving the endpoint again");
                let lookup =
                    tokio::spawn(async move { crate::host::resolve_endpoint(&endpoint).await });
                state.lookups.insert(ifname.to_string(), lookup);
            }
        }
    }
}
