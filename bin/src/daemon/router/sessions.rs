//! Session events in the router: a session comes up (its connection
//! tells what the config leaves open), sends UPDATEs and ROUTE-REFRESHes,
//! goes down; and where the RIB's outputs go. Kernel events that may open
//! the path to a peer wake its session here too.

use std::net::Ipv6Addr;
use std::net::SocketAddr;
use std::time::Instant;

use bgp::driver::{Command, Endpoints, Event};
use bgp::fsm::State;
use bgp::wire::{CeaseSubcode, Notification, RouteRefresh, RouteRefreshSubtype};
use rib::kernel::{KernelEvent, KernelView};
use rib::path::PeerId;
use rib::table::Output;
use tracing::{debug, info, warn};

use super::{Action, Count, Router};
use crate::config;

/// Prefixes re-selected per FIB batch when a session goes down (its whole
/// table is withdrawn chunk by chunk, at the FIB writer's pace).
pub(super) const SWEEP_CHUNK: usize = 4096;

/// The interface a plain peer's session runs over and our link-local
/// address on it, from the connection's addresses: a link-local session is
/// on its scope; another on the interface with our address, if the peer is
/// directly connected there (RFC 2545 §3: only then is a link-local next
/// hop any use to it). `None` for a peer reached through a router.
pub(crate) fn session_link(view: &KernelView, c: Endpoints) -> Option<(u32, Option<Ipv6Addr>)> {
    let (local, remote) = (c.local.ip().to_canonical(), c.remote.ip().to_canonical());
    if let (SocketAddr::V6(l), true) = (c.local, config::is_link_local(local)) {
        let ifindex = l.scope_id();
        return (ifindex != 0).then_some((ifindex, Some(*l.ip())));
    }
    let ifindex = view.interface_with(local)?;
    let connected = view.resolve(remote).is_some_and(|hops| {
        (hops.iter()).any(|h| h.ifindex == ifindex && h.onlink && h.gateway == remote)
    });
    connected.then(|| (ifindex, view.link_local(ifindex)))
}

impl Router {
    pub(super) fn session_event(
        &mut self,
        now: Instant,
        peer: PeerId,
        ev: Event,
        out: &mut Vec<Action>,
    ) {
        // Events of a session torn down by a reload: its state is gone already.
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let o = match ev {
            Event::StateChange { from, to } => {
                p.state = to;
                if to != State::Established {
                    p.connection = None;
                }
                out.push(Action::Count(Count::PeerState { peer, from, to }));
                return;
            }
            Event::Established {
                negotiated,
                connection,
            } => {
                p.state = State::Established;
                p.connection = Some(connection);
                self.handshake.forget(peer);
                let watch = p
                    .cfg
                    .wireguard
                    .as_ref()
                    .is_some_and(|w| w.dead_after.is_some());
                if watch {
                    self.liveness.established(now, peer);
                }
                if p.cfg.asn == config::PeerAs::External {
                    self.rib.set_peer_as(peer, negotiated.remote_as);
                }
                let mut o = self.session_source(peer, connection, out);
                o.extend(self.rib.handle_peer_up(
                    peer,
                    negotiated.remote_id,
                    &negotiated.families,
                    negotiated.extended_next_hop,
                ));
                let p = &self.peers[&peer];
                let cap = negotiated.graceful_restart.clone();
                o.extend(self.graceful.up(now, peer, &p.name, cap, &mut self.rib));
                self.restart.established(&p.name, &negotiated);
                o
            }
            Event::Update(update) => {
                if let Some((afi, bgp::wire::Safi::Unicast)) = update.end_of_rib() {
                    self.restart.end_of_rib(&p.name, afi);
                }
                let o = self.rib.handle_update(peer, update);
                self.check_max_prefix(peer, out);
                self.check_limits(peer, out);
                self.graceful.updated(peer, &self.rib);
                o
            }
            Event::RouteRefresh(rr) => self.route_refresh(peer, rr, out),
            Event::Down(reason) => {
                p.connection = None;
                self.liveness.forget(peer);
                self.wait_for_handshake(now, peer);
                // BGP PIC: the kernel moves the routes to their backups
                // first; their withdrawal waits for the next input, so the
                // shell hands the fail-over to the FIB writer before the
                // walk over a full table starts.
                if self.graceful.kept(peer, &reason).is_empty()
                    && let Some(f) = self.rib.fail_over(peer)
                {
                    self.route(vec![f], out);
                    self.downs.push((peer, reason));
                    return;
                }
                let name = &self.peers[&peer].name;
                // Re-selection of its prefixes, if they go, follows in `Sweep`.
                (self.graceful).down(now, peer, name, &reason, &mut self.rib)
            }
            Event::TaskFailed(_) => {
                // The driver logged it, and the Down (if it was up) came before.
                out.push(Action::Count(Count::SessionTaskFailed { peer }));
                return;
            }
        };
        self.route(o, out);
        self.end_deferral_if_due(now, out);
    }

    /// ROUTE-REFRESH from `peer` by subtype (RFC 7313 §3.2): a request is
    /// answered with the family's Adj-RIB-Out between BoRR and EoRR (the
    /// session drops the markers unless Enhanced Route Refresh was
    /// negotiated); the peer's own BoRR/EoRR mark and sweep its paths;
    /// other subtypes are ignored (§5).
    fn route_refresh(
        &mut self,
        peer: PeerId,
        rr: RouteRefresh,
        out: &mut Vec<Action>,
    ) -> Vec<Output> {
        match rr.subtype {
            RouteRefreshSubtype::Request => {
                let marker = |m| Action::Session(peer, Command::RefreshMarker(rr.afi, m));
                out.push(marker(RouteRefreshSubtype::BeginOfRouteRefresh));
                let o = self.rib.handle_route_refresh(peer, rr.afi);
                self.route(o, out);
                out.push(marker(RouteRefreshSubtype::EndOfRouteRefresh));
                Vec::new()
            }
            RouteRefreshSubtype::BeginOfRouteRefresh => {
                self.rib.handle_begin_of_refresh(peer, rr.afi);
                Vec::new()
            }
            RouteRefreshSubtype::EndOfRouteRefresh => self.rib.handle_end_of_refresh(peer, rr.afi),
            RouteRefreshSubtype::Unknown(_) => Vec::new(),
        }
    }

    /// The withdrawals [`Event::Down`] left for after its fail-over.
    pub(super) fn finish_downs(&mut self, now: Instant, out: &mut Vec<Action>) {
        for (peer, reason) in std::mem::take(&mut self.downs) {
            let o = match self.peers.get(&peer) {
                Some(p) => (self.graceful).down(now, peer, &p.name, &reason, &mut self.rib),
                None => self.rib.begin_peer_down(peer),
            };
            self.route(o, out);
            self.end_deferral_if_due(now, out);
        }
    }

    /// Turns the RIB's outputs into actions: FIB batches, and UPDATE work
    /// for the sessions of peers we still have.
    pub(super) fn route(&self, o: Vec<Output>, out: &mut Vec<Action>) {
        for o in o {
            let (peer, cmd) = match o {
                Output::Fib(ops) => {
                    if !ops.is_empty() {
                        out.push(Action::Fib(ops));
                    }
                    continue;
                }
                Output::Announce {
                    peer,
                    afi,
                    attrs,
                    next_hop,
                    prefixes,
                } => (
                    peer,
                    Command::Announce {
                        afi,
                        attrs,
                        next_hop,
                        prefixes,
                    },
                ),
                Output::Withdraw {
                    peer,
                    afi,
                    prefixes,
                } => (peer, Command::Withdraw { afi, prefixes }),
                Output::EndOfRib { peer, afi } => (peer, Command::EndOfRib(afi)),
                Output::FailOver(dead) => {
                    out.push(Action::FailOver(dead));
                    continue;
                }
            };
            if self.peers.contains_key(&peer) {
                out.push(Action::Session(peer, cmd));
            }
        }
    }

    /// What the session's connection tells about a peer the config leaves
    /// open: the next hop we send a peer whose source the kernel picks
    /// (and BFD from there), and the interface of a plain peer's session
    /// with our link-local address on it. Before the RIB hears it is up.
    fn session_source(&mut self, id: PeerId, c: Endpoints, out: &mut Vec<Action>) -> Vec<Output> {
        let Some(p) = self.peers.get(&id) else {
            return Vec::new();
        };
        let (plain, configured) = (p.cfg.wireguard.is_none(), p.cfg.local_address.is_some());
        let local = c.local.ip().to_canonical();
        let mut o = Vec::new();
        if !configured && !local.is_unspecified() && !config::is_link_local(local) {
            o.extend(self.rib.set_peer_source(id, local));
            out.push(Action::StartBfd {
                peer: id,
                source: Some(local),
            });
        }
        if plain {
            let (ifindex, ours) = match session_link(self.rib.kernel(), c) {
                Some((i, ll)) => (Some(i), ll),
                None => (None, None),
            };
            o.extend(self.rib.set_peer_interface(id, ifindex, ours));
        }
        o
    }

    /// After a link-local address appeared on `ifindex` (`None`: after a
    /// full dump, on any): plain peers whose session runs over its link (it
    /// came up with their session, so the session found none) now send it
    /// with their IPv6 next hops.
    fn refresh_session_links(&mut self, ifindex: Option<u32>) -> Vec<Output> {
        let mut o = Vec::new();
        let links: Vec<(PeerId, Endpoints)> = (self.peers.iter())
            .filter(|(_, p)| p.cfg.wireguard.is_none())
            .filter_map(|(id, p)| Some((*id, p.connection?)))
            .collect();
        for (id, c) in links {
            let Some((i, ll)) = session_link(self.rib.kernel(), c) else {
                continue;
            };
            let now = (self.rib.peer_settings(id)).map(|s| (s.interface, s.local_link_local));
            if ifindex.is_none_or(|want| want == i) && now != Some((Some(i), ll)) {
                o.extend(self.rib.set_peer_interface(id, Some(i), ll));
            }
        }
        o
    }

    /// A kernel change: noted for self-healing, applied to the RIB's view
    /// (next hops re-resolved), and sessions whose path just opened woken.
    pub(super) fn kernel_event(&mut self, now: Instant, ev: &KernelEvent, out: &mut Vec<Action>) {
        let managed = |ifname: &str| {
            (self.peers.values()).any(|p| p.tunnel_up && p.cfg.interface() == Some(ifname))
        };
        self.heal.observe(ev, self.rib.kernel(), &self.cfg, managed);
        let mut o = self.rib.handle_kernel_event(ev);
        match ev {
            KernelEvent::AddressAdded { ifindex, addr } if config::is_link_local(*addr) => {
                o.extend(self.refresh_session_links(Some(*ifindex)));
            }
            KernelEvent::Resync(_) => o.extend(self.refresh_session_links(None)),
            _ => {}
        }
        self.route(o, out);
        if let KernelEvent::OwnNexthopRemoved { .. } = ev {
            // The kernel took its routes along, without a word about them.
            out.push(Action::RestoreNexthops);
        }
        self.connect_now_after(ev, out);
        self.arm_repair(now, None);
    }

    /// Kernel changes that may have just opened the path to a peer: the
    /// interface of its session came up (the link, or a link-local address
    /// on it), or a route covering its address appeared. Its session, if
    /// not up, then connects at once instead of at its ConnectRetry (the FSM
    /// leaves an open connection alone). A full dump never does: a
    /// refusing peer keeps its back-off.
    fn connect_now_after(&self, ev: &KernelEvent, out: &mut Vec<Action>) {
        let view = self.rib.kernel();
        let wakes = |cfg: &config::Peer| match ev {
            KernelEvent::LinkChanged { name, up: true, .. } => {
                cfg.session_interface() == Some(name.as_str())
            }
            KernelEvent::AddressAdded { ifindex, addr } if config::is_link_local(*addr) => {
                (cfg.session_interface()).is_some_and(|i| view.ifindex(i) == Some(*ifindex))
            }
            KernelEvent::RouteAdded(r) | KernelEvent::RouteReplaced(r) => {
                r.protocol != rib::kernel::RTPROT_BGP && r.prefix.contains(&cfg.address())
            }
            _ => false,
        };
        for (id, p) in &self.peers {
            if p.state != State::Established && wakes(&p.cfg) {
                debug!(peer = %p.name, "path to the peer appeared: connecting now");
                out.push(Action::Session(*id, Command::ConnectNow));
            }
        }
    }

    /// A BFD state change of `peer`'s session: a path that went down resets
    /// the BGP session at once (Cease/BFD Down, RFC 9384), as the tunnel
    /// liveness watch does; a peer that turned BFD off (AdminDown) does
    /// not (RFC 5882 §3.2).
    pub(super) fn bfd(
        &mut self,
        peer: PeerId,
        from: bgp::bfd::packet::State,
        to: bgp::bfd::packet::State,
        remote: bgp::bfd::packet::State,
        out: &mut Vec<Action>,
    ) {
        use bgp::bfd::packet::State as Bfd;
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let address = p.cfg.address();
        if to == Bfd::Up {
            info!(peer = %p.name, %address, "BFD session Up");
        }
        if from != Bfd::Up || to == Bfd::Up {
            return;
        }
        if remote == Bfd::AdminDown {
            info!(peer = %p.name, %address, "BFD session AdminDown by the peer: BGP session kept");
            return;
        }
        warn!(peer = %p.name, %address, "BFD session Down: resetting the BGP session");
        out.push(Action::Count(Count::BfdDown { peer }));
        let n = Notification::cease(CeaseSubcode::BfdDown, bytes::Bytes::new());
        out.push(Action::Session(peer, Command::Reset(n)));
    }
}
