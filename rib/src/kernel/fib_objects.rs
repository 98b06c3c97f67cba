//! The FIB writer in objects mode: routes go in as `prefix nhid N`, over the nexthop objects
//! that [`super::objects::Objects`] plans, on the writer's thread and socket.
//!
//! ```text
//!   Batch(ops) ──► Objects::hold (plan) ──► [RTM_NEWNEXTHOP for new objects, RTM_NEWROUTE nhid]
//!                                            one batched send, acks in order
//!              ◄── Objects::settle (per route ack) ◄──┘
//!              ──► Objects::collect ──► [RTM_DELNEXTHOP for objects no route uses]
//!
//!   before each command: link or foreign nexthop notification seen (KernelChanges)?
//!              ──► dump objects ──► Objects::reconcile / restore ──► objects and lost routes back
//! ```
//!
//! Kernel facts this relies on (Linux 6.18, checked in a namespace with `ip nexthop`):
//! - a route naming an object that does not exist is refused ("Nexthop id does not exist");
//! - `ip nexthop del` removes the routes using the object, without `RTM_DELROUTE`;
//! - a device going down deletes its gateway objects (and their routes), without any
//!   notification; a group loses such a member, and is deleted when it has none left;
//! - `RTM_NEWNEXTHOP` with `NLM_F_REPLACE` re-points an object in place, but a gateway object
//!   cannot become a group or the reverse;
//! - an IPv4 route may use an IPv6 gateway object (RFC 8950), an IPv6 route not an IPv4 one.

//!
//! `net.ipv4.nexthop_compat_mode` (per network namespace, default 1; it covers IPv6 too):
//! with 1 the kernel puts each route's gateway and device next to its `nhid` in dumps and
//! notifications, and re-pointing an object sends one `RTM_NEWROUTE` per route using it (at
//! 100,000 routes: ~0.33 s in the kernel and 100,000 messages, all stamped with the writer's
//! port id); with 0 only `nhid`, and a re-point is one `RTM_NEWNEXTHOP` (~3 ms). The writer
//! works the same either way and only reports the mode ([`nexthop_compat_mode`]); setting
//! it is the operator's choice, since every other route listener of the namespace sees the
//! difference.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::convert::{nhid_message, nhid_of, route_from_msg};
use super::fib::{
    APPLY_CHUNK, FailOverReport, FibConfig, FibError, FibOp, FibOptions, FibResult, NexthopTarget,
    Restored, del_route, new_route,
};
use super::nexthop::{NexthopMessage, RTM_DELNEXTHOP, RTM_NEWNEXTHOP};
use super::nlsock::{Body, KernelChanges, Request, RouteSocket};
use super::objects::{NexthopObject, NhAction, Objects, RouteKey, Spec};
use super::view::{KernelNextHop, KernelRoute};

/// `net.ipv4.nexthop_compat_mode` of the calling thread's network namespace: true (the
/// default, 1) if the kernel still describes routes on objects with their gateway and device,
/// and notifies each of them when their object changes.
pub fn nexthop_compat_mode() -> io::Result<bool> {
    let v = std::fs::read_to_string("/proc/sys/net/ipv4/nexthop_compat_mode")?;
    Ok(v.trim() != "0")
}

pub(super) struct ObjectWriter {
    reg: Objects,
    changes: KernelChanges,
    /// The writer socket's port id: notifications it caused are not news.
    port: u32,
}

/// What one request of a batch was for.
enum Tag {
    Object(u32),
    Route {
        /// Index of the op in the batch.
        op: usize,
        key: RouteKey,
        held: Option<u32>,
        delete: bool,
    },
}

fn nh_request(protocol: u8, action: &NhAction) -> Request {
    match action {
        NhAction::Install { id, spec } => Request {
            msg: Body::Nexthop {
                kind: RTM_NEWNEXTHOP,
                msg: match spec {
                    Spec::Gateway(h) => {
                        NexthopMessage::gateway(*id, h.gateway, h.ifindex, h.onlink, protocol)
                    }
                    Spec::Group(members) => NexthopMessage::group(*id, members, protocol),
                },
            },
            flags: NLM_F_CREATE | NLM_F_REPLACE,
        },
        NhAction::Delete { id } => Request {
            msg: Body::Nexthop {
                kind: RTM_DELNEXTHOP,
                msg: NexthopMessage::id_only(*id),
            },
            flags: 0,
        },
    }
}

fn action_id(a: &NhAction) -> u32 {
    match a {
        NhAction::Install { id, .. } | NhAction::Delete { id } => *id,
    }
}

fn nhid_route(cfg: &FibConfig, key: &RouteKey, id: u32) -> Request {
    Request {
        msg: RouteNetlinkMessage::NewRoute(nhid_message(
            &FibConfig {
                table: key.table,
                ..*cfg
            },
            &key.prefix,
            id,
        ))
        .into(),
        flags: NLM_F_CREATE | NLM_F_REPLACE,
    }
}

fn errno_text(errno: i32, message: Option<String>) -> String {
    let message = message.unwrap_or_else(|| io::Error::from_raw_os_error(errno).to_string());
    FibError::Kernel { errno, message }.to_string()
}

impl ObjectWriter {
    /// Probes for nexthop objects and takes over an earlier run's; `None` if the kernel has
    /// none (the writer then stays per-route).
    pub fn start(
        cfg: &FibConfig,
        opts: &FibOptions,
        sock: &mut RouteSocket,
        port: u32,
    ) -> io::Result<Option<ObjectWriter>> {
        // The probe: a kernel without nexthop objects refuses the dump (EOPNOTSUPP), and
        // one without their multicast group refuses the subscription.
        let probe = sock.dump_nexthops().and_then(|_| KernelChanges::open());
        let changes = match probe {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e,
                    "the kernel has no nexthop objects: routes carry their own next hops");
                return Ok(None);
            }
        };
        match nexthop_compat_mode() {
            Ok(true) => tracing::info!(
                "net.ipv4.nexthop_compat_mode=1: re-pointing a nexthop object sends a route \
                 notification for every route using it; 0 makes it one message"
            ),
            Ok(false) => {}
            Err(e) => tracing::debug!("cannot read net.ipv4.nexthop_compat_mode: {e}"),
        }
        // Subscribed before this dump, so nothing that happens after it is missed.
        let dump = sock.dump_nexthops()?;
        let mut reg = Objects::new(cfg.protocol, opts.nhid_base, opts.nhid_span);
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for m in sock.dump_routes(family)? {
                if u8::from(m.header.protocol) != cfg.protocol {
                    continue;
                }
                let (Some(id), Some(r)) = (nhid_of(&m), route_from_msg(&m)) else {
                    continue;
                };
                routes.push((
                    RouteKey {
                        table: r.table,
                        prefix: r.prefix,
                    },
                    id,
                ));
            }
        }
        reg.adopt(&dump, &routes);
        let adopted = reg.list().len();
        let mut sweep = Vec::new();
        reg.collect(&mut sweep);
        let mut w = ObjectWriter { reg, changes, port };
        w.execute_actions(cfg, sock, &sweep)?;
        if adopted > 0 {
            tracing::info!(
                adopted,
                swept = sweep.len(),
                routes = w.reg.route_count(),
                "nexthop objects of an earlier run: kept those routes use, deleted the others"
            );
        }
        Ok(Some(w))
    }

    /// Sends object installs/deletes; failures are logged (a delete of what is already gone
    /// is fine) and failed installs marked.
    fn execute_actions(
        &mut self,
        cfg: &FibConfig,
        sock: &mut RouteSocket,
        actions: &[NhAction],
    ) -> io::Result<Vec<(u32, String)>> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let reqs = actions
            .iter()
            .map(|a| nh_request(cfg.protocol, a))
            .collect();
        let done = sock.execute(reqs);
        let mut failed = Vec::new();
        for (a, ack) in actions.iter().zip(&done.acks) {
            let id = action_id(a);
            match (a, ack.errno) {
                (_, 0) | (NhAction::Delete { .. }, libc::ENOENT) => {}
                (NhAction::Install { .. }, errno) => {
                    self.reg.install_failed(id);
                    failed.push((id, errno_text(errno, ack.message.clone())));
                }
                (NhAction::Delete { .. }, errno) => {
                    tracing::warn!(id, errno, "could not delete nexthop object");
                }
            }
        }
        if let Some(e) = done.error {
            for a in &actions[done.acks.len()..] {
                if let NhAction::Install { id, .. } = a {
                    self.reg.install_failed(*id);
                }
            }
            return Err(e);
        }
        Ok(failed)
    }

    /// A batch of ops, through objects. Same contract as the per-route `apply`: every op
    /// applied in order, failures reported per prefix.
    pub fn apply(&mut self, cfg: &FibConfig, sock: &mut RouteSocket, ops: Vec<FibOp>) -> FibResult {
        let start = Instant::now();
        let op_count = ops.len();
        let mut errors: Vec<(usize, IpNet, String)> = Vec::new();
        for (chunk_no, chunk) in ops.chunks(APPLY_CHUNK).enumerate() {
            let base = chunk_no * APPLY_CHUNK;
            let mut reqs = Vec::with_capacity(chunk.len() + 4);
            let mut tags = Vec::with_capacity(chunk.len() + 4);
            for (j, op) in chunk.iter().enumerate() {
                let i = base + j;
                let table = op.table().unwrap_or(cfg.table);
                let key = RouteKey {
                    table,
                    prefix: op.prefix(),
                };
                let tcfg = FibConfig { table, ..*cfg };
                match op {
                    FibOp::Delete { prefix } | FibOp::DeleteIn { prefix, .. } => {
                        reqs.push(del_route(&tcfg, prefix));
                        tags.push(Tag::Route {
                            op: i,
                            key,
                            held: None,
                            delete: true,
                        });
                    }
                    FibOp::Replace {
                        prefix, nexthops, ..
                    }
                    | FibOp::ReplaceIn {
                        prefix, nexthops, ..
                    } if nexthops.is_empty() => {
                        // A blackhole stays a plain route.
                        match new_route(&tcfg, prefix, nexthops) {
                            Ok(r) => {
                                reqs.push(r);
                                tags.push(Tag::Route {
                                    op: i,
                                    key,
                                    held: None,
                                    delete: false,
                                });
                            }
                            Err(e) => errors.push((i, *prefix, e.to_string())),
                        }
                    }
                    FibOp::Replace {
                        prefix, nexthops, ..
                    }
                    | FibOp::ReplaceIn {
                        prefix, nexthops, ..
                    } => {
                        let backup = match op {
                            FibOp::Replace {
                                backup: Some(b), ..
                            } => b.as_slice(),
                            _ => &[],
                        };
                        if let (IpNet::V6(_), Some(h)) =
                            (prefix, nexthops.iter().find(|h| h.gateway.is_ipv4()))
                        {
                            let e = FibError::FamilyMismatch {
                                prefix: *prefix,
                                gateway: h.gateway,
                            };
                            errors.push((i, *prefix, e.to_string()));
                            continue;
                        }
                        let mut actions = Vec::new();
                        match self.reg.hold(&key, nexthops, backup, &mut actions) {
                            Ok(id) => {
                                for a in &actions {
                                    reqs.push(nh_request(cfg.protocol, a));
                                    tags.push(Tag::Object(action_id(a)));
                                }
                                reqs.push(nhid_route(cfg, &key, id));
                                tags.push(Tag::Route {
                                    op: i,
                                    key,
                                    held: Some(id),
                                    delete: false,
                                });
                            }
                            Err(e) => errors.push((i, *prefix, e.to_string())),
                        }
                    }
                }
            }
            let done = sock.execute(reqs);
            let mut object_errors: HashMap<u32, String> = HashMap::new();
            let mut tags = tags.into_iter();
            for (tag, ack) in tags.by_ref().zip(done.acks) {
                match tag {
                    Tag::Object(id) => {
                        if ack.errno != 0 {
                            self.reg.install_failed(id);
                            object_errors.insert(id, errno_text(ack.errno, ack.message));
                        }
                    }
                    Tag::Route {
                        op,
                        key,
                        held,
                        delete,
                    } => {
                        let ok = ack.errno == 0 || (delete && ack.errno == libc::ESRCH);
                        self.reg.settle(key, held, ok);
                        if !ok {
                            // The object's refusal says more than the route's "Nexthop id
                            // does not exist".
                            let why = held
                                .and_then(|id| object_errors.get(&id).cloned())
                                .unwrap_or_else(|| errno_text(ack.errno, ack.message));
                            errors.push((op, key.prefix, why));
                        }
                    }
                }
            }
            if let Some(e) = done.error {
                let e = FibError::Socket(e.to_string()).to_string();
                for tag in tags {
                    match tag {
                        Tag::Object(id) => self.reg.install_failed(id),
                        Tag::Route { op, key, held, .. } => {
                            self.reg.settle(key, held, false);
                            errors.push((op, key.prefix, e.clone()));
                        }
                    }
                }
                let rest = ops.iter().enumerate().skip(base + chunk.len());
                errors.extend(rest.map(|(i, op)| (i, op.prefix(), e.clone())));
                break;
            }
        }
        let mut unused = Vec::new();
        self.reg.collect(&mut unused);
        if let Err(e) = self.execute_actions(cfg, sock, &unused) {
            tracing::warn!(error = %e, "deleting unused nexthop objects failed");
        }
        errors.sort_by_key(|(i, _, _)| *i);
        FibResult {
            op_count,
            errors: errors.into_iter().map(|(_, p, e)| (p, e)).collect(),
            elapsed: start.elapsed(),
        }
    }

    /// See [`super::FibWriter::repoint`].
    pub fn repoint(
        &mut self,
        cfg: &FibConfig,
        sock: &mut RouteSocket,
        target: NexthopTarget,
        to: &[KernelNextHop],
    ) -> io::Result<u32> {
        let id = match target {
            NexthopTarget::Id(id) => id,
            NexthopTarget::Hops(h) => self.reg.id_for(&h).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no nexthop object forwards to {h:?}"),
                )
            })?,
        };
        let mut actions = Vec::new();
        self.reg
            .repoint(id, to, &mut actions)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let failed = self.execute_actions(cfg, sock, &actions)?;
        let mut unused = Vec::new();
        self.reg.collect(&mut unused);
        self.execute_actions(cfg, sock, &unused)?;
        match failed.into_iter().next() {
            None => Ok(id),
            Some((fid, why)) => Err(io::Error::other(format!(
                "re-pointing nexthop object {id}: object {fid}: {why}"
            ))),
        }
    }

    /// Runs [`Self::restore`] if a link or someone else's nexthop change was seen.
    pub fn heal_if_changed(&mut self, cfg: &FibConfig, sock: &mut RouteSocket) {
        if !self.changes.drain(self.port) {
            return;
        }
        match self.restore(cfg, sock) {
            Ok(r) if r.objects > 0 || !r.errors.is_empty() => tracing::info!(
                objects = r.objects,
                routes = r.routes,
                failed = r.errors.len(),
                first = ?r.errors.first(),
                "nexthop objects changed behind our back: installed again"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not compare our nexthop objects"),
        }
    }

    /// See [`super::FibWriter::restore_nexthops`].
    pub fn restore(&mut self, cfg: &FibConfig, sock: &mut RouteSocket) -> io::Result<Restored> {
        // Drain first: what we change now must not trigger another round.
        let _ = self.changes.drain(self.port);
        let dump = sock.dump_nexthops()?;
        self.reg.reconcile(&dump);
        let mut actions = Vec::new();
        let lost = self.reg.restore(&mut actions);
        let mut restored = Restored::default();
        let failed = self.execute_actions(cfg, sock, &actions)?;
        restored.objects = actions.len() - failed.len();
        let failed_ids: Vec<u32> = failed.iter().map(|(id, _)| *id).collect();
        restored.errors.extend(
            failed
                .into_iter()
                .map(|(id, why)| (format!("nexthop object {id}"), why)),
        );
        let mut keys = Vec::new();
        for id in lost {
            if failed_ids.contains(&id) {
                // Still gone (its device is down, say): its routes come back when the RIB
                // rewrites them, or with the next restore.
                self.reg.mark_lost(id);
                continue;
            }
            keys.extend(self.reg.routes_of(id).into_iter().map(|k| (k, id)));
        }
        let reqs = keys.iter().map(|(k, id)| nhid_route(cfg, k, *id)).collect();
        let done = sock.execute(reqs);
        for ((k, _), ack) in keys.iter().zip(&done.acks) {
            if ack.errno == 0 {
                restored.routes += 1;
            } else {
                restored.errors.push((
                    k.prefix.to_string(),
                    errno_text(ack.errno, ack.message.clone()),
                ));
            }
        }
        if let Some(e) = done.error {
            return Err(e);
        }
        Ok(restored)
    }

    /// See [`super::FibWriter::purge_stale`]: every object of ours goes (and the kernel takes
    /// the routes using them along), then the routes left without one.
    pub fn purge(&mut self, cfg: &FibConfig, sock: &mut RouteSocket) -> io::Result<usize> {
        let _ = self.changes.drain(self.port);
        let in_table = self.reg.route_count_in(cfg.table);
        let mut ours: Vec<&NexthopMessage> = Vec::new();
        let dump = sock.dump_nexthops()?;
        ours.extend(dump.iter().filter(|m| self.reg.is_ours(m)));
        // Groups first, so no member deletion has to rewrite a group.
        ours.sort_by_key(|m| m.members().is_empty());
        let deletes: Vec<NhAction> = ours
            .iter()
            .filter_map(|m| m.id())
            .map(|id| NhAction::Delete { id })
            .collect();
        self.execute_actions(cfg, sock, &deletes)?;
        self.reg.clear();
        let _ = self.changes.drain(self.port);
        let rest = super::fib::purge(cfg, sock)?;
        tracing::info!(
            objects = deletes.len(),
            routes = in_table,
            table = cfg.table,
            "deleted our nexthop objects and the routes using them"
        );
        Ok(in_table + rest)
    }

    /// Our routes in our table, as [`super::FibWriter::dump_own`]; those on our objects get
    /// the object's gateway and device (the kernel leaves them out of the route with
    /// `net.ipv4.nexthop_compat_mode=0`).
    pub fn dump_own(
        &self,
        cfg: &FibConfig,
        sock: &mut RouteSocket,
    ) -> io::Result<Vec<KernelRoute>> {
        let mut own = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for m in sock.dump_routes(family)? {
                let Some(mut r) = route_from_msg(&m) else {
                    continue;
                };
                if r.table != cfg.table || r.protocol != cfg.protocol {
                    continue;
                }
                if let Some(hops) = nhid_of(&m).and_then(|id| self.reg.hops_of(id)) {
                    paths_of(&mut r, hops);
                }
                own.push(r);
            }
        }
        Ok(own)
    }

    pub fn list(&self) -> Vec<NexthopObject> {
        self.reg.list()
    }

    pub fn object_count(&self) -> usize {
        self.reg.len()
    }

    /// See [`super::FibWriter::fail_over`].
    pub fn fail_over(
        &mut self,
        cfg: &FibConfig,
        sock: &mut RouteSocket,
        dead: &HashSet<KernelNextHop>,
    ) -> io::Result<FailOverReport> {
        let start = Instant::now();
        let mut actions = Vec::new();
        let objects = self.reg.fail_over(dead, &mut actions);
        let failed = self.execute_actions(cfg, sock, &actions)?;
        if let Some((id, why)) = failed.first() {
            tracing::warn!(
                id,
                why,
                failed = failed.len(),
                "nexthop objects refused the fail-over"
            );
        }
        let mut unused = Vec::new();
        self.reg.collect(&mut unused);
        self.execute_actions(cfg, sock, &unused)?;
        Ok(FailOverReport {
            objects,
            messages: actions.len() + unused.len(),
            elapsed: start.elapsed(),
        })
    }
}

/// Gateway and device of a route on an object, as a per-route one would carry them.
pub(super) fn paths_of(route: &mut KernelRoute, hops: &[KernelNextHop]) {
    if route.gateway.is_some() || !route.multipath.is_empty() {
        return;
    }
    match hops {
        [] => {}
        [h] => {
            route.gateway = Some(h.gateway);
            route.oif = Some(h.ifindex);
        }
        hops => {
            route.multipath = hops
                .iter()
                .map(|h| (Some::<IpAddr>(h.gateway), h.ifindex))
                .collect();
        }
    }
}
