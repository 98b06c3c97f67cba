//! BFD for BGP peers (`peers.<name>.bfd`): one multihop session per peer,
//! loopback to loopback, run by [`bgp::bfd::driver`]. Its state changes go
//! to the router, which resets the BGP session when the path went down
//! (see `Router::bfd`); the routes leave the kernel with it. The BGP
//! session reconnects by itself once the path carries traffic again.
//!
//! The BFD task is started with the first peer that asks for BFD, so a
//! daemon without BFD never binds UDP 4784.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp::bfd::driver::{self, Command, Event, SessionKey};
use bgp::bfd::packet::State;
use bgp::bfd::session::SessionConfig;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::StartError;
use super::router::Input;
use super::shell::Shell;
use crate::api::{Neighbor, PeerBfdInfo};
use crate::config;

/// The BFD task's handle (once started) and where it reports.
pub(super) struct Bfd {
    handle: Option<driver::Handle>,
    /// The session of each peer with BFD running, by peer name: its local
    /// address may be the kernel's choice, made once when it started.
    keys: HashMap<String, SessionKey>,
    events: mpsc::UnboundedSender<Event>,
}

impl Bfd {
    pub(super) fn new() -> (Bfd, mpsc::UnboundedReceiver<Event>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            Bfd {
                handle: None,
                keys: HashMap::new(),
                events,
            },
            rx,
        )
    }
}

/// The source the kernel would pick towards `remote` (no packet is sent).
fn kernel_source(remote: IpAddr) -> Option<IpAddr> {
    let any = match remote {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    let socket = std::net::UdpSocket::bind((any, 0)).ok()?;
    socket.connect((remote, driver::MULTIHOP_PORT)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

fn session_config(b: config::Bfd) -> SessionConfig {
    let interval = Duration::from_millis(b.interval_ms.into());
    SessionConfig {
        desired_min_tx: interval,
        required_min_rx: interval,
        detect_mult: b.multiplier,
    }
}

impl Shell {
    /// Starts BFD to `peer` if it asks for it (the BFD task first, if this
    /// is the first peer with BFD), from `local_address` or the address the
    /// kernel picks; with neither known yet, [`Self::bfd_start`] starts it
    /// when the BGP session comes up.
    pub(super) async fn bfd_add(&mut self, peer: &config::Peer) -> Result<(), StartError> {
        if peer.bfd.is_none() {
            return Ok(());
        }
        if self.bfd.handle.is_none() {
            let handle = driver::spawn(self.bfd.events.clone())
                .await
                .map_err(super::io_err(format!(
                    "BFD: binding UDP {}",
                    driver::MULTIHOP_PORT
                )))?;
            self.bfd.handle = Some(handle);
        }
        self.bfd_start(peer, None);
        Ok(())
    }

    /// Starts BFD to `peer` unless it runs already: from `local_address`,
    /// `source` (the address its BGP session runs from), or the kernel's
    /// choice. Not over link-local sessions.
    pub(super) fn bfd_start(&mut self, peer: &config::Peer, source: Option<IpAddr>) {
        let (Some(b), Some(handle)) = (peer.bfd, &self.bfd.handle) else {
            return;
        };
        if self.bfd.keys.contains_key(&peer.name) {
            return;
        }
        if config::is_link_local(peer.address()) {
            warn!(peer = %peer.name, "BFD over a link-local session is not supported: not started");
            return;
        }
        let local = (peer.local_address.or(source))
            .or_else(|| {
                let source = super::router::update_source(self.router.config(), peer);
                source.bind_address(peer.address())
            })
            .or_else(|| kernel_source(peer.address()));
        let Some(local) = local else {
            info!(peer = %peer.name, "BFD waits for the BGP session: no route to the peer yet");
            return;
        };
        let key = SessionKey {
            local,
            remote: peer.address(),
        };
        let _ = handle.commands.send(Command::Add(key, session_config(b)));
        self.bfd.keys.insert(peer.name.clone(), key);
        self.metrics
            .bfd_session_up
            .with_label_values(&[&peer.name, &peer.address().to_string()])
            .set(0);
    }

    /// Stops BFD to `peer` (AdminDown is sent to it first).
    pub(super) fn bfd_remove(&mut self, peer: &config::Peer) {
        let key = self.bfd.keys.remove(&peer.name);
        if let (Some(key), Some(h)) = (key, &self.bfd.handle) {
            let _ = h.commands.send(Command::Remove(key));
            let _ = self
                .metrics
                .bfd_session_up
                .remove_label_values(&[&peer.name, &peer.address().to_string()]);
        }
    }

    /// A BFD state change: the gauge, and the router decides the rest.
    pub(super) async fn bfd_event(&mut self, ev: Event) {
        let Some((id, p)) =
            (self.router.peers().iter()).find(|(_, p)| self.bfd.keys.get(&p.name) == Some(&ev.key))
        else {
            return;
        };
        let labels = [p.name.as_str(), &p.cfg.address().to_string()];
        self.metrics
            .bfd_session_up
            .with_label_values(&labels)
            .set(i64::from(ev.to == State::Up));
        if ev.from == State::Up && ev.to != State::Up {
            info!(peer = %p.name, diag = ev.diag.frr_name(), "BFD session left Up");
        }
        let input = Input::Bfd {
            peer: *id,
            from: ev.from,
            to: ev.to,
            remote: ev.remote,
        };
        self.run_input(input).await;
    }

    /// Fills in `peerBfdInfo` of the neighbors `show` is about to return.
    pub(super) fn bfd_show(&self, neighbors: &mut std::collections::BTreeMap<String, Neighbor>) {
        let Some(h) = &self.bfd.handle else {
            return;
        };
        let status = h.status.read().unwrap();
        for p in self.router.peers().values() {
            let Some(b) = p.cfg.bfd else {
                continue;
            };
            let Some(n) = neighbors.get_mut(&p.cfg.address().to_string()) else {
                continue;
            };
            let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
            let key = self.bfd.keys.get(&p.name);
            let info = match key.and_then(|k| status.get(k)) {
                Some((_, st)) => PeerBfdInfo {
                    kind: "multi hop".into(),
                    detect_multiplier: b.multiplier,
                    rx_min_interval: b.interval_ms,
                    tx_min_interval: b.interval_ms,
                    status: st.state.to_string(),
                    last_update: frr_uptime(Instant::now().saturating_duration_since(st.since)),
                    remote_tx_min_interval: ms(st.remote_desired_min_tx),
                    remote_detect_multiplier: st.remote_detect_mult,
                    diagnostic: st.local_diag.frr_name().into(),
                },
                None => PeerBfdInfo {
                    kind: "multi hop".into(),
                    detect_multiplier: b.multiplier,
                    rx_min_interval: b.interval_ms,
                    tx_min_interval: b.interval_ms,
                    status: "Unknown".into(),
                    last_update: frr_uptime(Duration::ZERO),
                    remote_tx_min_interval: 0,
                    remote_detect_multiplier: 0,
                    diagnostic: "ok".into(),
                },
            };
            n.peer_bfd_info = Some(info);
        }
    }
}

/// FRR's `lastUpdate` format: `d:hh:mm:ss`.
fn frr_uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}:{:02}",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_formatted_like_frr() {
        assert_eq!(frr_uptime(Duration::from_secs(0)), "0:00:00:00");
        assert_eq!(frr_uptime(Duration::from_secs(90_061)), "1:01:01:01");
    }

    #[test]
    fn interval_and_multiplier_become_the_session_timers() {
        let c = session_config(config::Bfd {
            interval_ms: 150,
            multiplier: 4,
        });
        assert_eq!(c.desired_min_tx, Duration::from_millis(150));
        assert_eq!(c.required_min_rx, Duration::from_millis(150));
        assert_eq!(c.detect_mult, 4);
    }
}
