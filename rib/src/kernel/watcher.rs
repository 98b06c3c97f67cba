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

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NLM_F_REPLACE, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::AsyncSocket;
use rtnetlink::{Handle, MulticastGroup};
use tokio::sync::mpsc;

use super::convert::{address_of, dump_request, link_event, route_from_msg};
use super::nlsock::{drop_route_notifications, set_rcvbuf};
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
        let watch = Watch {
            table,
            owner,
            handle,
            messages,
            tx,
            links_up: HashMap::new(),
        };
        rt.spawn(watch.run());
        Ok(rx)
    }
}

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>;

struct Watch {
    table: u32,
    /// Port id of the FIB writer's socket, when own-route deletions are wanted.
    owner: Option<u32>,
    handle: Handle,
    messages: Messages,
    tx: mpsc::Sender<KernelEvent>,
    /// Last known up state per link, to re-dump only when it changes.
    links_up: HashMap<u32, bool>,
}

/// What handling one notification asks for.
enum Next {
    Continue,
    Resync,
    /// The consumer is gone.
    Stop,
}

impl Watch {
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
                let Some((msg, _)) = self.messages.next().await else {
                    tracing::error!("rtnetlink multicast socket closed; kernel watcher stops");
                    return;
                };
                match self.handle(msg).await {
                    Next::Continue => continue,
                    Next::Stop => return,
                    Next::Resync => {}
                }
                tokio::time::sleep(SETTLE).await;
                // Everything queued so far is covered by the dump that follows.
                while self.messages.try_recv().is_ok() {}
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
            RouteNetlinkMessage::NewRoute(r) => match route_from_msg(&r) {
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
            RouteNetlinkMessage::DelRoute(r) => match route_from_msg(&r) {
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
                if let Some(r) = route_from_msg(&r?).filter(|r| self.wanted(r)) {
                    events.push(KernelEvent::RouteAdded(r));
                }
            }
        }
        Ok(events)
    }
}
