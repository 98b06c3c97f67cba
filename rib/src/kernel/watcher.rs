//! The kernel watcher: follows links, addresses and one table's routes over rtnetlink and
//! turns them into `KernelEvent`s for `KernelView`.
//!
//! ```text
//!   kernel ──multicast (link, v4/v6 addr, v4/v6 route)──► watch task ──KernelEvent──► Receiver
//!      ▲                                                     │
//!      └──────────── dump (links, addrs, routes) ◄───────────┘ at start, after a link goes
//!                                                              up/down or away, after overrun
//! ```
//!
//! The subscription is opened before the first dump, so nothing is missed between the two:
//! notifications queued during a dump are delivered after the `Resync` and replaying them is
//! harmless. A re-dump is needed after link changes because the kernel drops IPv4 routes of
//! a link that goes down without sending `RTM_DELROUTE` (crates.md §2), and after a socket
//! overrun (`ENOBUFS`, e.g. while the FIB writer installs a full table) because events were lost.
//!
//! With an owner (`spawn_with_owner`), deletions of our own (protocol 186) routes are reported
//! too, unless the owner's socket made them: the kernel stamps a notification with the netlink
//! port id of the socket whose request caused it (0 for the kernel itself), so the FIB writer's
//! own deletes and replaces never look like a route deleted behind our back.
//!
//! Nexthop objects (`RTM_*NEXTHOP`, which rtnetlink's connection cannot parse) come over a
//! second socket of our own. The watcher keeps every object's gateways and devices, so that a
//! route that names only its object (`nhid N`, all the kernel sends with
//! `net.ipv4.nexthop_compat_mode=0`) is reported with the object's gateway and device, as a
//! per-route one would be. A change to an object that routes of interest use is followed by a
//! re-dump (the kernel sends no route notifications for it in that mode); the deletion of one
//! of our objects by anyone but the FIB writer is reported as `OwnNexthopRemoved`.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NLM_F_REPLACE, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket, protocols::NETLINK_ROUTE};
use rtnetlink::{Handle, MulticastGroup};
use tokio::sync::mpsc;

use super::convert::{address_of, dump_request, link_event, nhid_of, route_from_msg};
use super::nexthop::{NexthopMessage, RTM_DELNEXTHOP, RTNLGRP_NEXTHOP};
use super::nlsock::{RouteSocket, drop_route_notifications, nexthop_messages, set_rcvbuf};
use super::view::{KernelEvent, KernelRoute, RTPROT_BGP};

/// Multicast receive buffer: large, since a full-table install by the FIB writer produces
/// one notification per route.
const RCVBUF: usize = 16 << 20;
/// Wait after a link change before re-dumping, so a burst of changes costs one dump.
const SETTLE: Duration = Duration::from_millis(20);
/// Wait before retrying a failed dump.
const RETRY: Duration = Duration::from_secs(1);

/// Follows the kernel and reports changes relevant for next-hop resolution.
pub struct KernelWatcher;

impl KernelWatcher {
    /// Subscribes to link, address and route notifications (IPv4 and IPv6) and yields
    /// `KernelEvent`s. The first item is a `Resync` with a full dump of links, addresses and
    /// the routes of `table`; another `Resync` follows every link state change and every
    /// overrun. Routes of other tables and BGP routes (protocol 186) are not reported.
    ///
    /// Must be called within a tokio runtime; the watch task ends when the receiver is dropped.
    pub fn spawn(table: u32) -> io::Result<mpsc::Receiver<KernelEvent>> {
        Self::spawn_inner(table, RCVBUF, None)
    }

    /// Like `spawn`, and also reports `OwnRouteRemoved` for every deletion of a BGP route in
    /// `table` that the netlink socket with port id `owner` (the FIB writer's,
    /// [`super::FibWriter::port_id`]) did not ask for.
    pub fn spawn_with_owner(table: u32, owner: u32) -> io::Result<mpsc::Receiver<KernelEvent>> {
        Self::spawn_inner(table, RCVBUF, Some(owner))
    }

    /// Like `spawn` with a notification socket buffer of `rcvbuf` bytes instead of 16 MiB; a
    /// small one overruns sooner (tests use that to exercise the resync after an overrun).
    pub fn spawn_with_buffer(table: u32, rcvbuf: usize) -> io::Result<mpsc::Receiver<KernelEvent>> {
        Self::spawn_inner(table, rcvbuf, None)
    }

    fn spawn_inner(
        table: u32,
        rcvbuf: usize,
        owner: Option<u32>,
    ) -> io::Result<mpsc::Receiver<KernelEvent>> {
        let rt = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let (mut conn, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
        ])?;
        let fd = conn.socket_mut().socket_mut().as_raw_fd();
        set_rcvbuf(fd, rcvbuf)?;
        // The FIB writer's own route changes (without an owner: every BGP route's) are not
        // wanted: don't even queue them.
        drop_route_notifications(fd, RTPROT_BGP, owner)?;
        let (tx, rx) = mpsc::channel(4096);
        rt.spawn(conn);
        // Nexthop objects: notifications and dumps over sockets of our own, opened here (in
        // the caller's namespace). Without them (a kernel before 5.3), routes are as ever.
        let nexthops = match NexthopSockets::open(rcvbuf) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!("no nexthop object notifications: {e}");
                None
            }
        };
        let watch = Watch {
            table,
            owner,
            handle,
            messages,
            tx,
            links_up: HashMap::new(),
            nexthops,
            objects: HashMap::new(),
            used: HashSet::new(),
        };
        rt.spawn(watch.run());
        Ok(rx)
    }
}

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>;

/// The watcher's nexthop sockets: multicast notifications, and a blocking one for dumps (a
/// dump of objects is small and quick).
struct NexthopSockets {
    events: TokioSocket,
    dump: RouteSocket,
}

impl NexthopSockets {
    fn open(rcvbuf: usize) -> io::Result<NexthopSockets> {
        let mut events = TokioSocket::new(NETLINK_ROUTE)?;
        events.socket_mut().bind_auto()?;
        events.socket_mut().add_membership(RTNLGRP_NEXTHOP)?;
        set_rcvbuf(events.as_raw_fd(), rcvbuf.min(1 << 20))?;
        let mut dump = RouteSocket::open(1)?;
        // The probe: a kernel without nexthop objects refuses the dump.
        dump.dump_nexthops()?;
        Ok(NexthopSockets { events, dump })
    }
}

/// Gateways and devices of an object (a group's are its members').
type Paths = Vec<(IpAddr, u32)>;

struct Watch {
    table: u32,
    /// Port id of the FIB writer's socket, when own-route deletions are wanted.
    owner: Option<u32>,
    handle: Handle,
    messages: Messages,
    tx: mpsc::Sender<KernelEvent>,
    /// Last known up state per link, to re-dump only when it changes.
    links_up: HashMap<u32, bool>,
    nexthops: Option<NexthopSockets>,
    /// Every nexthop object of the namespace, by id: its gateways and devices.
    objects: HashMap<u32, Paths>,
    /// Objects that routes we report use: a change to one is a change to those routes.
    used: HashSet<u32>,
}

/// What woke the watch loop.
enum Incoming {
    Route(Option<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>),
    Nexthop(io::Result<Vec<u8>>),
}

/// What handling one notification asks for.
enum Next {
    Continue,
    Resync,
    /// The consumer is gone.
    Stop,
}

impl Watch {
    /// Lets a burst of changes settle before the re-dump, and drops what
    /// queued meanwhile: the dump that follows covers it.
    async fn settle(&mut self) {
        tokio::time::sleep(SETTLE).await;
        while self.messages.try_recv().is_ok() {}
    }

    async fn run(mut self) {
        loop {
            let events = match self.snapshot().await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!("kernel dump failed, retrying: {e}");
                    if self.tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if self.tx.send(KernelEvent::Resync(events)).await.is_err() {
                return;
            }
            loop {
                let incoming = match self.nexthops.as_mut() {
                    Some(nh) => tokio::select! {
                        m = self.messages.next() => Incoming::Route(m),
                        d = nh.events.recv_from_full() => Incoming::Nexthop(d.map(|(d, _)| d)),
                    },
                    None => Incoming::Route(self.messages.next().await),
                };
                let msg = match incoming {
                    Incoming::Route(Some((msg, _))) => msg,
                    Incoming::Route(None) => {
                        tracing::error!("rtnetlink multicast socket closed; kernel watcher stops");
                        return;
                    }
                    Incoming::Nexthop(Ok(datagram)) => {
                        match self.handle_nexthops(&datagram).await {
                            Next::Continue => continue,
                            Next::Stop => return,
                            Next::Resync => {}
                        }
                        self.settle().await;
                        break;
                    }
                    Incoming::Nexthop(Err(e)) if e.raw_os_error() != Some(libc::ENOBUFS) => {
                        tracing::error!(
                            "nexthop notification socket failed ({e}); not following objects"
                        );
                        self.nexthops = None;
                        continue;
                    }
                    Incoming::Nexthop(Err(_)) => {
                        tracing::warn!(
                            "nexthop notifications lost (overrun); re-reading the kernel"
                        );
                        self.settle().await;
                        break;
                    }
                };
                match self.handle(msg).await {
                    Next::Continue => continue,
                    Next::Stop => return,
                    Next::Resync => {}
                }
                self.settle().await;
                break;
            }
        }
    }

    async fn send(&self, ev: KernelEvent) -> Next {
        match self.tx.send(ev).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Stop,
        }
    }

    fn wanted(&self, r: &KernelRoute) -> bool {
        r.table == self.table && r.protocol != RTPROT_BGP
    }

    /// A route from a message, with its object's gateway and device when it names only the
    /// object; notes the objects that reported routes use.
    fn route(&mut self, msg: &RouteMessage) -> Option<KernelRoute> {
        let mut r = route_from_msg(msg)?;
        if let Some(id) = nhid_of(msg) {
            if r.gateway.is_none() && r.oif.is_none() && r.multipath.is_empty() {
                match self.objects.get(&id).map(Vec::as_slice) {
                    Some([(gw, oif)]) => {
                        r.gateway = Some(*gw);
                        r.oif = Some(*oif);
                    }
                    Some(paths) => {
                        r.multipath = paths.iter().map(|&(g, o)| (Some(g), o)).collect();
                    }
                    None => {
                        tracing::debug!(id, prefix = %r.prefix, "route on an unknown nexthop object")
                    }
                }
            }
            if self.wanted(&r) {
                self.used.insert(id);
            }
        }
        Some(r)
    }

    /// Learns an object's gateways and devices.
    fn learn(&mut self, m: &NexthopMessage) {
        let Some(id) = m.id() else { return };
        let paths = if m.members().is_empty() {
            match (m.gateway_addr(), m.oif()) {
                (Some(g), Some(o)) => vec![(g, o)],
                _ => Vec::new(),
            }
        } else {
            (m.members().iter())
                .filter_map(|g| self.objects.get(&g.id))
                .flatten()
                .copied()
                .collect()
        };
        self.objects.insert(id, paths);
    }

    /// Nexthop notifications: learn them; ours deleted by someone else is news; a change
    /// to an object routes of interest use asks for a re-dump.
    async fn handle_nexthops(&mut self, datagram: &[u8]) -> Next {
        let mut next = Next::Continue;
        for (kind, port, m) in nexthop_messages(datagram) {
            let Some(id) = m.id() else { continue };
            if kind == RTM_DELNEXTHOP {
                self.objects.remove(&id);
            } else {
                self.learn(&m);
            }
            if kind == RTM_DELNEXTHOP
                && m.protocol == RTPROT_BGP
                && self.owner.is_some_and(|owner| owner != port)
                && let Next::Stop = self.send(KernelEvent::OwnNexthopRemoved { id }).await
            {
                return Next::Stop;
            }
            if m.protocol != RTPROT_BGP && self.used.contains(&id) {
                next = Next::Resync;
            }
        }
        next
    }

    /// A deletion of one of our routes that our FIB writer did not make.
    fn own_removed(&self, r: &KernelRoute, port: u32) -> bool {
        self.owner.is_some_and(|owner| owner != port)
            && r.table == self.table
            && r.protocol == RTPROT_BGP
    }

    async fn handle(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Next {
        let replace = msg.header.flags & NLM_F_REPLACE != 0;
        let port = msg.header.port_number;
        let m = match msg.payload {
            NetlinkPayload::InnerMessage(m) => m,
            NetlinkPayload::Overrun(_) => {
                tracing::warn!("rtnetlink notifications lost (overrun); re-reading the kernel");
                return Next::Resync;
            }
            _ => return Next::Continue,
        };
        match m {
            RouteNetlinkMessage::NewLink(l) => {
                let ev = link_event(&l);
                let KernelEvent::LinkChanged { ifindex, up, .. } = ev else {
                    return Next::Continue;
                };
                let before = self.links_up.insert(ifindex, up);
                if let Next::Stop = self.send(ev).await {
                    return Next::Stop;
                }
                match before {
                    Some(was) if was != up => Next::Resync,
                    _ => Next::Continue,
                }
            }
            RouteNetlinkMessage::DelLink(l) => {
                let ifindex = l.header.index;
                self.links_up.remove(&ifindex);
                match self.send(KernelEvent::LinkRemoved { ifindex }).await {
                    Next::Stop => Next::Stop,
                    _ => Next::Resync,
                }
            }
            RouteNetlinkMessage::NewAddress(a) => match address_of(&a) {
                Some((ifindex, addr)) => {
                    self.send(KernelEvent::AddressAdded { ifindex, addr }).await
                }
                None => Next::Continue,
            },
            RouteNetlinkMessage::DelAddress(a) => match address_of(&a) {
                Some((ifindex, addr)) => {
                    self.send(KernelEvent::AddressRemoved { ifindex, addr })
                        .await
                }
                None => Next::Continue,
            },
            RouteNetlinkMessage::NewRoute(r) => match self.route(&r) {
                Some(r) if self.wanted(&r) => {
                    let ev = if replace {
                        KernelEvent::RouteReplaced(r)
                    } else {
                        KernelEvent::RouteAdded(r)
                    };
                    self.send(ev).await
                }
                _ => Next::Continue,
            },
            RouteNetlinkMessage::DelRoute(r) => match self.route(&r) {
                Some(r) if self.wanted(&r) => self.send(KernelEvent::RouteRemoved(r)).await,
                Some(r) if self.own_removed(&r, port) => {
                    self.send(KernelEvent::OwnRouteRemoved(r)).await
                }
                _ => Next::Continue,
            },
            _ => Next::Continue,
        }
    }

    /// A full dump as a list of events: links first, then addresses, then routes.
    async fn snapshot(&mut self) -> Result<Vec<KernelEvent>, rtnetlink::Error> {
        let mut events = Vec::new();
        self.links_up.clear();
        if let Some(nh) = self.nexthops.as_mut() {
            match nh.dump.dump_nexthops() {
                Ok(dump) => {
                    self.objects.clear();
                    // Gateway objects first, so groups find their members.
                    let (groups, gateways): (Vec<_>, Vec<_>) =
                        dump.iter().partition(|m| !m.members().is_empty());
                    for m in gateways.into_iter().chain(groups) {
                        self.learn(m);
                    }
                }
                Err(e) => tracing::warn!("nexthop dump failed: {e}"),
            }
        }
        let mut links = self.handle.link().get().execute();
        while let Some(l) = links.next().await {
            let ev = link_event(&l?);
            if let KernelEvent::LinkChanged { ifindex, up, .. } = &ev {
                self.links_up.insert(*ifindex, *up);
            }
            events.push(ev);
        }
        let mut addrs = self.handle.address().get().execute();
        while let Some(a) = addrs.next().await {
            if let Some((ifindex, addr)) = address_of(&a?) {
                events.push(KernelEvent::AddressAdded { ifindex, addr });
            }
        }
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut routes = self.handle.route().get(dump_request(family)).execute();
            while let Some(r) = routes.next().await {
                let r = r?;
                if let Some(r) = self.route(&r).filter(|r| self.wanted(r)) {
                    events.push(KernelEvent::RouteAdded(r));
                }
            }
        }
        Ok(events)
    }
}
