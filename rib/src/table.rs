//! The routing engine: Adj-RIB-In (post-policy) and Loc-RIB in one table,
//! next-hop tracking, the FIB diff and the Adj-RIB-Out diff per peer.
//!
//! [`Rib`] is sans-IO like the FSM: session events and kernel events go in
//! (`handle_*`), [`Output`]s come out — FIB operations for the kernel writer
//! and announcements/withdrawals for the session drivers. Every handler
//! marks the prefixes it touched and a single `flush` re-runs best-path
//! selection for them and diffs the result against what the kernel and
//! each peer were last given.
//!
//! Self-healing: a deletion of one of our kernel routes that our writer did
//! not make (`KernelEvent::OwnRouteRemoved`) makes the prefix a suspect when
//! the deleted route is exactly what we last installed; [`Rib::repair`]
//! re-installs the suspects that are still wanted as they were, paced by
//! [`crate::repair::Pacer`]. A route of another protocol to the same prefix
//! at our metric is never overwritten (`NLM_F_REPLACE` would): we stand
//! back while it is there and install ours when it leaves.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use bgp::wire::{Afi, Community, MpNextHop, PathAttributes, Safi, Update};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use smallvec::SmallVec;

use crate::best::{self, LossReason};
use crate::guard::{AdjInMemory, Guard, Refusal};
use crate::kernel::objects::canonical;
use crate::kernel::{FibOp, KernelEvent, KernelNextHop, KernelView, NextHops};
use crate::path::{Interner, Path, PeerId, Source};
use crate::policy::{Chain, Context};
use crate::repair::Pacer;
use crate::{FastMap, FastSet};

mod adj_out;
mod deferral;
mod loc_rib;
mod next_hop;
mod refresh;
mod soft_in;
use adj_out::AdjRibOut;
pub use loc_rib::LocRib;
pub use next_hop::NextHopDrop;
use next_hop::NextHopKey;
pub use soft_in::AdjRoute;

/// Settings of the whole RIB.
#[derive(Debug, Clone)]
pub struct RibConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Kernel table the next hops resolve in and our routes go to.
    pub table: u32,
    /// Metric (`RTA_PRIORITY`) of our kernel routes: with the prefix and
    /// the table it is the kernel's identity of a route.
    pub metric: u32,
    /// Equal-cost paths installed together (1 = best path only).
    pub multipath: usize,
    /// Multipath across different AS paths of equal length.
    pub multipath_relax: bool,
    /// Routes with a longer AS_PATH (RFC 4271 §9.1.2.2 counting: a set
    /// counts one) are handled as withdrawn, as FRR's `bgp maxas-limit`.
    pub max_as_path_len: Option<usize>,
    /// BGP PIC: hand the kernel each route's backup next hops (the best
    /// path through other next hops) with it, and on a peer's death say
    /// which next hops died ([`Output::FailOver`]) before working off its
    /// routes. Only for a FIB writer with nexthop objects.
    pub backup_paths: bool,
}

/// What the RIB needs to know about a configured peer.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    pub name: String,
    /// The session address (FRR's `peerId`).
    pub address: IpAddr,
    pub asn: u32,
    pub import: Chain,
    pub export: Chain,
    /// Next-hop-self per family: our loopback for routes sent to this peer.
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
    /// The interface (ifindex) the session runs over, if it runs over one
    /// (its tunnel, a directly connected link): link-local next hops from
    /// the peer are scoped to it (RFC 2545 §3). Without it they are refused.
    pub interface: Option<u32>,
    /// Our link-local address on `interface`: with it, IPv6 next hops we
    /// send the peer carry it after the global one (RFC 2545 §3, 32
    /// octets), or after `::` when we have no global one.
    pub local_link_local: Option<Ipv6Addr>,
}

/// An action for the daemon to carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A batch of kernel changes, in no particular order (one per prefix).
    Fib(Vec<FibOp>),
    Announce {
        peer: PeerId,
        afi: Afi,
        attrs: Arc<PathAttributes>,
        next_hop: MpNextHop,
        prefixes: Vec<IpNet>,
    },
    Withdraw {
        peer: PeerId,
        afi: Afi,
        prefixes: Vec<IpNet>,
    },
    /// The initial table dump to `peer` is complete (RFC 4724 §2).
    EndOfRib { peer: PeerId, afi: Afi },
    /// These next hops died with their peer: move the kernel's routes
    /// through them to their backups now ([`crate::kernel::FibWriter::fail_over`]),
    /// ahead of the re-selection that follows.
    FailOver(HashSet<KernelNextHop>),
}

/// All paths to one prefix, the chosen one, and what the kernel holds.
/// One per route of a full table, so it is kept small (see the size test):
/// the usual single path is stored inline and the installed next hops are
/// shared with every route through the same BGP next hop.
#[derive(Debug, Clone)]
pub struct Dest {
    pub paths: SmallVec<[Path; 1]>,
    /// Index of the best path; `NO_BEST` when there is none.
    best: u32,
    /// Paths installed together with the best one (ECMP): bit `i` is path
    /// `i`; only the first 32 paths of a prefix can be multipaths.
    multipath: u32,
    /// What was last handed to the kernel for this prefix: one pointer,
    /// shared by every prefix handed the same (see [`Installed`]).
    installed: Option<Arc<Installed>>,
}

/// Next hops handed to the kernel for a prefix, and the backup handed with
/// them ([`RibConfig::backup_paths`]). Few distinct ones exist (about one
/// per pair of peers), so they are interned: a route costs one pointer for
/// both, as it did for its next hops alone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Installed {
    pub hops: NextHops,
    pub backup: Option<NextHops>,
}

/// Hands out one shared [`Installed`] per distinct value.
#[derive(Debug, Default)]
struct InstalledSet {
    set: FastMap<Arc<Installed>, ()>,
    swept_at: usize,
    /// The last one handed out: a table's routes mostly come through the
    /// same shared next hops, so most calls end here without hashing.
    last: Option<Arc<Installed>>,
}

impl InstalledSet {
    fn intern(&mut self, hops: NextHops, backup: Option<NextHops>) -> Arc<Installed> {
        if let Some(last) = &self.last
            && Arc::ptr_eq(&last.hops, &hops)
            && match (&last.backup, &backup) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        {
            return last.clone();
        }
        let got = self.lookup(hops, backup);
        self.last = Some(got.clone());
        got
    }

    fn lookup(&mut self, hops: NextHops, backup: Option<NextHops>) -> Arc<Installed> {
        let want = Installed { hops, backup };
        if let Some((existing, _)) = self.set.get_key_value(&want) {
            return existing.clone();
        }
        // Drop those no route holds any more once the set has doubled.
        if self.set.len() >= 2 * self.swept_at.max(64) {
            self.set.retain(|i, _| Arc::strong_count(i) > 1);
            self.swept_at = self.set.len();
        }
        let new = Arc::new(want);
        self.set.insert(new.clone(), ());
        new
    }
}

const NO_BEST: u32 = u32::MAX;

impl Default for Dest {
    fn default() -> Self {
        Dest {
            paths: SmallVec::new(),
            best: NO_BEST,
            multipath: 0,
            installed: None,
        }
    }
}

impl Dest {
    /// Index of the best path in `paths`.
    pub fn best(&self) -> Option<usize> {
        (self.best != NO_BEST).then_some(self.best as usize)
    }

    /// The next hops last handed to the kernel.
    pub fn installed(&self) -> Option<&NextHops> {
        self.installed.as_ref().map(|i| &i.hops)
    }

    /// The backup handed to the kernel with them.
    pub fn backup(&self) -> Option<&NextHops> {
        self.installed.as_ref().and_then(|i| i.backup.as_ref())
    }

    /// Whether path `i` is installed as one of several ECMP paths.
    pub fn is_multipath(&self, i: usize) -> bool {
        self.multipath.count_ones() > 1 && i < 32 && self.multipath & (1 << i) != 0
    }

    /// How many paths are installed together (0 without a best path).
    pub fn multipath_count(&self) -> usize {
        self.multipath.count_ones() as usize
    }
}

/// What [`Rib::repair`] did.
#[derive(Debug, Default)]
pub struct Repair {
    /// The re-installations (and whatever else the flush found).
    pub out: Vec<Output>,
    /// Prefixes re-installed.
    pub repaired: Vec<IpNet>,
    /// When held-back suspects are due (see [`crate::repair`]).
    pub next: Option<Instant>,
}

#[derive(Debug)]
struct Peer {
    settings: PeerSettings,
    established: Option<Established>,
    /// Paths from this peer in the Loc-RIB per family, IPv4 then IPv6
    /// (FRR's `pfxRcd`).
    received: [usize; 2],
    /// Adj-RIB-Out: what this peer was last sent, per prefix.
    adj_rib_out: AdjRibOut,
    /// Prefixes whose path from this peer is stale: kept across the peer's
    /// graceful restart (RFC 4724 §4.2) until it is re-announced, swept by
    /// End-of-RIB, or the restart or stale-path timer runs out.
    stale: HashSet<IpNet>,
    /// BGP Identifier of its current or last session, kept for the
    /// tie-break of its stale paths while it is away.
    router_id: Option<Ipv4Addr>,
    /// Pre-policy Adj-RIB-In, kept only with `soft_reconfiguration:
    /// inbound` (`None` otherwise: nothing per route for other peers).
    adj_rib_in: Option<soft_in::AdjRibIn>,
    /// Limits on what it sends (see [`crate::guard`]).
    guard: Guard,
    /// Its routes must start with its AS (FRR's `enforce-first-as`); off
    /// for a route server, which does not add its own (RFC 7947 §2.2.2.1).
    enforce_first_as: bool,
    memory: AdjInMemory,
    refused: BTreeMap<Refusal, u64>,
    /// Routes dropped for their next hop (see [`next_hop`]), and whether
    /// the first one was logged.
    next_hop_drops: u64,
    next_hop_drop_logged: bool,
    /// `settings.export.rejects_everything()`, kept with the chain: it is
    /// asked for every peer at every flush.
    export_rejects_all: bool,
}

impl Peer {
    /// Nothing is, or ever will be, exported to this peer: its export
    /// chain rejects every route and nothing sent earlier (under another
    /// policy) waits to be withdrawn. Exports to it skip the per-prefix
    /// work, so a hub's peers that take no routes cost nothing per route.
    fn exports_nothing(&self) -> bool {
        self.export_rejects_all && self.adj_rib_out.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Established {
    families: Vec<(Afi, Safi)>,
    /// RFC 8950 negotiated: IPv4 unicast routes may have IPv6 next hops.
    extended_next_hop: bool,
}

#[derive(Debug)]
struct NextHop {
    /// The address, shared by every path through this next hop.
    addr: Arc<IpAddr>,
    /// Shared by every route installed through this next hop.
    resolved: Option<NextHops>,
    users: usize,
    /// Paths through it per peer (few peers share a next hop), so that a
    /// peer's death tells at once which next hops died with it.
    by_peer: SmallVec<[(PeerId, u32); 1]>,
}

/// The routing engine. See the module docs.
#[derive(Debug)]
pub struct Rib {
    cfg: RibConfig,
    peers: BTreeMap<PeerId, Peer>,
    loc_rib: LocRib,
    kernel: KernelView,
    next_hops: HashMap<NextHopKey, NextHop>,
    interner: Interner,
    dirty: FastSet<IpNet>,
    /// Routes deleted behind our back: prefix → the next hops that were
    /// installed when the deletion was seen.
    suspects: BTreeMap<IpNet, NextHops>,
    /// Links whose state changed (or that went) since the last full dump:
    /// the watcher reports the change, then dumps.
    links_changed: HashSet<u32>,
    pacer: Pacer<IpNet>,
    /// Prefixes where a route of another protocol holds our metric, so ours
    /// is not installed (rare: kept out of `Dest`).
    yielded: HashSet<IpNet>,
    /// `set: {table}` of the import policy, per path that has one (rare:
    /// kept out of `Path`); absent means `cfg.table`.
    path_tables: FastMap<(IpNet, Source), u32>,
    /// Prefixes installed in another table than `cfg.table` (rare: kept out
    /// of `Dest`), so that a change of table or a withdrawal deletes the
    /// route from where it is.
    installed_in: FastMap<IpNet, u32>,
    /// Prefixes a session going down left to re-select, in hash order
    /// (popped from the end); worked off in chunks by `flush_sweep` so that
    /// a full table's withdrawal never sits in memory as FIB ops at once.
    sweep: Sweep,
    /// Selection deferral of our own graceful restart (see [`deferral`]):
    /// best paths are chosen but neither installed nor exported.
    deferring: bool,
    /// Table versions, IPv4 and IPv6 (see [`Rib::table_version`]).
    versions: [u64; 2],
    /// Next hops failed over ([`Output::FailOver`]) whose routes are not all
    /// re-selected yet: a route the kernel already moved where re-selection
    /// wants it is not written again.
    failed_over: HashSet<KernelNextHop>,
    installed_set: InstalledSet,
}

/// What the kernel forwards `dest` to after the FIB writer's fail-over of
/// the next hops in `failed_over` ([`crate::kernel::fail_over`]): `None` if
/// that left it alone; next hops and backup if it moved, with no next hops
/// if nothing was left to move to.
fn after_fail_over(
    failed_over: &HashSet<KernelNextHop>,
    dest: &Dest,
) -> Option<(Vec<KernelNextHop>, Vec<KernelNextHop>)> {
    if failed_over.is_empty() {
        return None;
    }
    let installed = dest.installed()?;
    if installed.is_empty() {
        return None;
    }
    let backup = dest.backup().map_or(&[][..], |b| b.as_slice());
    crate::kernel::fail_over(&canonical(installed), &canonical(backup), failed_over)
}

/// Prefixes left to re-select, per family (5 bytes an IPv4 prefix).
#[derive(Debug, Default)]
struct Sweep {
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

/// The tie-breakers of the paths to one prefix (best::TieBreak): each
/// peer's BGP Identifier (of its last session, so a stale path of a peer
/// that is away keeps its own) and address, and whether its path is stale.
struct Ids<'a> {
    cfg: &'a RibConfig,
    peers: &'a BTreeMap<PeerId, Peer>,
    prefix: &'a IpNet,
}

fn tie_break<'a>(
    cfg: &'a RibConfig,
    peers: &'a BTreeMap<PeerId, Peer>,
    prefix: &'a IpNet,
) -> Ids<'a> {
    Ids { cfg, peers, prefix }
}

impl best::TieBreak for Ids<'_> {
    fn ids(&self, source: Source) -> (Ipv4Addr, IpAddr) {
        match source {
            Source::Local => (self.cfg.router_id, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            // A path outlives its peer only inside one flush; lose then.
            Source::Peer(id) => self.peers.get(&id).map_or(
                (Ipv4Addr::BROADCAST, IpAddr::V4(Ipv4Addr::BROADCAST)),
                |p| {
                    let rid = p.router_id.unwrap_or(Ipv4Addr::BROADCAST);
                    (rid, p.settings.address)
                },
            ),
        }
    }

    fn stale(&self, source: Source) -> bool {
        match source {
            Source::Local => false,
            Source::Peer(id) => self
                .peers
                .get(&id)
                .is_some_and(|p| !p.stale.is_empty() && p.stale.contains(self.prefix)),
        }
    }
}

fn afi_of(prefix: &IpNet) -> Afi {
    match prefix {
        IpNet::V4(_) => Afi::Ipv4,
        IpNet::V6(_) => Afi::Ipv6,
    }
}

fn family_index(afi: Afi) -> usize {
    (afi != Afi::Ipv4) as usize
}

impl Rib {
    pub fn new(cfg: RibConfig) -> Self {
        let kernel = KernelView::new(cfg.table);
        Rib {
            cfg,
            peers: BTreeMap::new(),
            loc_rib: LocRib::default(),
            kernel,
            next_hops: HashMap::new(),
            interner: Interner::default(),
            dirty: FastSet::default(),
            suspects: BTreeMap::new(),
            links_changed: HashSet::new(),
            pacer: Pacer::default(),
            yielded: HashSet::new(),
            path_tables: FastMap::default(),
            installed_in: FastMap::default(),
            sweep: Sweep::default(),
            deferring: false,
            versions: [0; 2],
            failed_over: HashSet::new(),
            installed_set: InstalledSet::default(),
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.cfg
    }

    pub fn add_peer(&mut self, id: PeerId, settings: PeerSettings) {
        let peer = Peer {
            export_rejects_all: settings.export.rejects_everything(),
            settings,
            established: None,
            received: [0; 2],
            adj_rib_out: AdjRibOut::default(),
            stale: HashSet::new(),
            router_id: None,
            adj_rib_in: None,
            guard: Guard::default(),
            enforce_first_as: true,
            memory: AdjInMemory::default(),
            refused: BTreeMap::new(),
            next_hop_drops: 0,
            next_hop_drop_logged: false,
        };
        self.peers.insert(id, peer);
    }

    /// Originates `prefixes` (the `announce:` list): ORIGIN IGP, empty AS_PATH.
    pub fn originate(&mut self, prefixes: &[IpNet]) -> Vec<Output> {
        let attrs = self.interner.intern(PathAttributes::default());
        let next_hop = Arc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        for prefix in prefixes {
            let prefix = prefix.trunc();
            let path = Path {
                source: Source::Local,
                attrs: attrs.clone(),
                next_hop: next_hop.clone(),
            };
            self.insert_path(prefix, path);
        }
        self.flush()
    }

    /// Stops originating `prefixes`.
    pub fn withdraw_local(&mut self, prefixes: &[IpNet]) -> Vec<Output> {
        for prefix in prefixes {
            self.remove_path(prefix.trunc(), Source::Local);
        }
        self.flush()
    }

    /// Forgets a peer (de-configured): its routes go, nothing is sent to it.
    pub fn remove_peer(&mut self, id: PeerId) -> Vec<Output> {
        let out = self.handle_peer_down(id);
        self.peers.remove(&id);
        out
    }

    /// Replaces a peer's import and export chains. The export side is
    /// re-diffed at once; the returned flag says whether the import chain
    /// changed without a pre-policy Adj-RIB-In to re-apply it from, in which
    /// case the caller must have the peer resend its routes (ROUTE-REFRESH):
    /// only accepted paths are kept, so the rejected ones are not here to
    /// re-evaluate. With `soft_reconfiguration` the new chain is re-applied
    /// here from the stored copy.
    pub fn set_policies(
        &mut self,
        id: PeerId,
        import: Chain,
        export: Chain,
    ) -> (Vec<Output>, bool) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return (Vec::new(), false);
        };
        let import_changed = peer.settings.import != import;
        peer.settings.import = import.clone();
        peer.export_rejects_all = export.rejects_everything();
        peer.settings.export = export;
        let soft = peer.adj_rib_in.is_some();
        let mut out = if !import_changed {
            Vec::new()
        } else if soft {
            // Re-judged from the routes as received: no ROUTE-REFRESH.
            self.soft_in(id)
        } else {
            // Paths already accepted that the new import chain rejects go
            // now. They are judged as stored (after the old chain's `set`s);
            // the ROUTE-REFRESH the caller sends re-judges every route as
            // received.
            let source = Source::Peer(id);
            let cx = Context {
                peer: &peer.settings.name,
                local_as: self.cfg.local_as,
            };
            let rejected: Vec<IpNet> = self
                .loc_rib
                .iter()
                .filter(|(p, d)| {
                    d.paths
                        .iter()
                        .any(|x| x.source == source && import.evaluate(p, &x.attrs, &cx).is_none())
                })
                .map(|(p, _)| p)
                .collect();
            for prefix in rejected {
                self.remove_path(prefix, source);
            }
            self.flush()
        };
        let mut batch = ExportBatch::default();
        let prefixes: Vec<IpNet> = self.loc_rib.keys().collect();
        for prefix in prefixes {
            self.export_to(id, &prefix, &mut batch);
        }
        // A prefix exported before but gone from the Loc-RIB since.
        let stale: Vec<IpNet> = self.peers[&id]
            .adj_rib_out
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !self.loc_rib.contains_key(p))
            .collect();
        for prefix in stale {
            self.export_to(id, &prefix, &mut batch);
        }
        batch.emit(&mut out);
        (out, import_changed && !soft)
    }

    /// Updates the description-like settings of a peer that need no reset.
    pub fn rename_peer(&mut self, id: PeerId, name: &str) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.settings.name = name.to_string();
        }
    }

    /// The AS of a peer configured to accept any (`external`), once its
    /// OPEN named it: before the session is up, so that what it sends is
    /// checked against it and what it is sent is loop-checked.
    pub fn set_peer_as(&mut self, id: PeerId, asn: u32) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.settings.asn = asn;
        }
    }

    /// The session with `id` reached Established: send it the whole table.
    /// `extended_next_hop`: RFC 8950 was negotiated for IPv4 unicast.
    pub fn handle_peer_up(
        &mut self,
        id: PeerId,
        router_id: Ipv4Addr,
        families: &[(Afi, Safi)],
        extended_next_hop: bool,
    ) -> Vec<Output> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        peer.router_id = Some(router_id);
        peer.established = Some(Established {
            families: families.to_vec(),
            extended_next_hop,
        });
        peer.adj_rib_out.clear();
        let mut out = Vec::new();
        if self.deferring {
            // The table and End-of-RIB follow when the deferral ends.
            return out;
        }
        let mut batch = ExportBatch::default();
        if !self.peers[&id].exports_nothing() {
            let prefixes: Vec<IpNet> = self.loc_rib.keys().collect();
            for prefix in prefixes {
                self.export_to(id, &prefix, &mut batch);
            }
        }
        batch.emit(&mut out);
        for &(afi, safi) in families {
            if safi == Safi::Unicast {
                out.push(Output::EndOfRib { peer: id, afi });
            }
        }
        out
    }

    /// The session with `id` left Established: its routes go.
    pub fn handle_peer_down(&mut self, id: PeerId) -> Vec<Output> {
        let mut out = self.begin_peer_down(id);
        out.extend(self.flush_sweep(usize::MAX));
        out
    }

    /// Like `handle_peer_down`, but the prefixes to re-select are queued for
    /// `flush_sweep`, which the caller runs until `sweep_pending` is false
    /// (re-selecting before the FIB writer took the previous chunk).
    pub fn begin_peer_down(&mut self, id: PeerId) -> Vec<Output> {
        let mut out: Vec<Output> = self.fail_over(id).into_iter().collect();
        out.extend(self.sweep_peer(id));
        out
    }

    /// BGP PIC: the next hops that die with peer `id` — those its paths
    /// resolve to and no other peer's do — as an [`Output::FailOver`] for
    /// the FIB writer, which moves their routes to the backups at once. A
    /// cheap look at the few tracked next hops, not at the routes; `None`
    /// without [`RibConfig::backup_paths`], during our own restart's
    /// deferral (nothing is installed yet), or if nothing died. Idempotent:
    /// `begin_peer_down` calls it too, so a caller may run it first and
    /// hand the output to the writer before the routes are worked off.
    pub fn fail_over(&mut self, id: PeerId) -> Option<Output> {
        if !self.cfg.backup_paths || self.deferring {
            return None;
        }
        let mut dead: HashSet<KernelNextHop> = HashSet::new();
        let mut live: HashSet<&KernelNextHop> = HashSet::new();
        for nh in self.next_hops.values() {
            let Some(hops) = &nh.resolved else { continue };
            if nh.by_peer.iter().any(|(p, _)| *p == id) {
                dead.extend(hops.iter().cloned());
            }
            // Another peer's paths (stale ones of a graceful restart too)
            // keep it: they still forward there.
            if nh.by_peer.iter().any(|(p, _)| *p != id) {
                live.extend(hops.iter());
            }
        }
        dead.retain(|h| !live.contains(h) && !self.failed_over.contains(h));
        if dead.is_empty() {
            return None;
        }
        self.failed_over.extend(dead.iter().cloned());
        Some(Output::FailOver(dead))
    }

    /// The rest of `begin_peer_down`: the peer's paths go, queued for the
    /// sweep.
    fn sweep_peer(&mut self, id: PeerId) -> Vec<Output> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        peer.established = None;
        peer.adj_rib_out.clear();
        peer.stale.clear();
        soft_in::clear(&mut peer.adj_rib_in);
        // Exactly the peer's paths: grown by doubling, the sweep list of a
        // full table briefly took twice its size and set the peak RSS.
        self.sweep.v4.reserve_exact(peer.received[0]);
        self.sweep.v6.reserve_exact(peer.received[1]);
        let source = Source::Peer(id);
        // Next hops are few: count releases here instead of collecting the
        // removed paths (a full table's worth of memory at the worst time).
        let mut released: HashMap<NextHopKey, usize> = HashMap::new();
        for (prefix, dest) in self.loc_rib.iter_mut() {
            if let Some(i) = dest.paths.iter().position(|p| p.source == source) {
                let path = dest.paths.remove(i);
                dest.paths.shrink_to_fit();
                *released
                    .entry(NextHopKey::of(source, *path.next_hop))
                    .or_default() += 1;
                dest.best = NO_BEST;
                match prefix {
                    IpNet::V4(p) => self.sweep.v4.push(p),
                    IpNet::V6(p) => self.sweep.v6.push(p),
                }
            }
        }
        // Spread out, like the hash order of `flush` (the kernel deletes a
        // full table about twice as fast that way).
        self.sweep
            .v4
            .sort_unstable_by_key(|p| spread(&IpNet::V4(*p)));
        self.sweep
            .v6
            .sort_unstable_by_key(|p| spread(&IpNet::V6(*p)));
        self.sweep.v4.shrink_to_fit();
        self.sweep.v6.shrink_to_fit();
        for (key, n) in released {
            self.release_next_hops(id, key, n);
        }
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.received = [0; 2];
            peer.memory.clear();
        }
        self.flush()
    }

    /// The session with `id` ended in a way that allows a graceful restart
    /// (RFC 4724 §4.2: no NOTIFICATION, and the peer announced the
    /// capability): its paths of the families in `keep` stay — best,
    /// installed and exported — but are marked stale; those of the other
    /// families go as with [`Rib::handle_peer_down`]. The caller runs the
    /// restart timer and calls [`Rib::sweep_stale`] when it runs out.
    pub fn handle_peer_down_graceful(&mut self, id: PeerId, keep: &[Afi]) -> Vec<Output> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        peer.established = None;
        peer.adj_rib_out.clear();
        soft_in::clear(&mut peer.adj_rib_in);
        let source = Source::Peer(id);
        let mut gone = Vec::new();
        let mut stale = Vec::new();
        for (prefix, dest) in self.loc_rib.iter() {
            if dest.paths.iter().any(|p| p.source == source) {
                if keep.contains(&afi_of(&prefix)) {
                    stale.push(prefix);
                } else {
                    gone.push(prefix);
                }
            }
        }
        for prefix in gone {
            self.remove_path(prefix, source);
        }
        // A fresh path that tied with the now stale one wins (best::LossReason::Stale).
        self.dirty.extend(stale.iter().copied());
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.stale.extend(stale);
        }
        self.flush()
    }

    /// Removes the stale paths of `id` (RFC 4724 §4.2), of one family or of
    /// all (`None`): End-of-RIB came, a timer ran out, or the peer came back
    /// without preserving the family.
    pub fn sweep_stale(&mut self, id: PeerId, afi: Option<Afi>) -> Vec<Output> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        let swept: Vec<IpNet> = peer
            .stale
            .iter()
            .filter(|p| afi.is_none_or(|a| afi_of(p) == a))
            .copied()
            .collect();
        for prefix in swept {
            self.remove_path(prefix, Source::Peer(id));
        }
        self.flush()
    }

    /// How many of `id`'s paths are stale.
    pub fn stale_count(&self, id: PeerId) -> usize {
        self.peers.get(&id).map_or(0, |p| p.stale.len())
    }

    /// Whether `id`'s path to `prefix` is stale.
    pub fn is_stale(&self, id: PeerId, prefix: &IpNet) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| p.stale.contains(prefix))
    }

    /// Applies one UPDATE from `id` (RFC 4271 §9.1 phase 1 with the import chain).
    pub fn handle_update(&mut self, id: PeerId, update: Update) -> Vec<Output> {
        let Some(peer) = self.peers.get(&id) else {
            return Vec::new();
        };
        let Some(established) = &peer.established else {
            return Vec::new();
        };
        let first_as = peer.enforce_first_as.then_some(peer.settings.asn);
        let extended_next_hop = established.extended_next_hop;
        let import = peer.settings.import.clone();
        let peer_name = peer.settings.name.clone();
        let guard = peer.guard;
        // End-of-RIB: the peer has sent all its routes of the family, so
        // the stale ones it did not re-announce are gone (RFC 4724 §4.2).
        if let Some((afi, Safi::Unicast)) = update.end_of_rib() {
            if !peer.stale.is_empty() {
                return self.sweep_stale(id, Some(afi));
            }
            return Vec::new();
        }

        let mut withdrawn: Vec<IpNet> = update.withdrawn.iter().map(|&p| IpNet::V4(p)).collect();
        if let Some(unreach) = &update.mp_unreach {
            withdrawn.extend(unreach.withdrawn.iter().copied());
        }
        // (next hop, prefixes) groups carried by this UPDATE.
        let mut reach: Vec<(Option<IpAddr>, Vec<IpNet>)> = Vec::new();
        if !update.nlri.is_empty() {
            let nlri = update.nlri.iter().map(|&p| IpNet::V4(p)).collect();
            reach.push((update.next_hop.map(IpAddr::V4), nlri));
        }
        if let Some(mp) = &update.mp_reach
            && mp.safi == Safi::Unicast
        {
            reach.push((Some(self.pick_next_hop(id, &mp.next_hop)), mp.nlri.clone()));
        }

        let attrs = match (&update.treat_as_withdraw, &update.attributes) {
            (None, Some(attrs)) => self.accept_attributes(attrs, first_as),
            _ => None,
        };
        if self.peers[&id].adj_rib_in.is_some() {
            self.record_adj_rib_in(id, &update, &withdrawn, &reach);
        }
        let cx = Context {
            peer: &peer_name,
            local_as: self.cfg.local_as,
        };
        for (next_hop, prefixes) in reach {
            let ipv4_routes = prefixes.iter().any(|p| matches!(p, IpNet::V4(_)));
            // Judged once per group, counted per route: a route with
            // unusable attributes is withdrawn for those, not its next hop.
            let unusable = match next_hop {
                Some(nh) if attrs.is_some() => self
                    .check_next_hop(id, nh, ipv4_routes, extended_next_hop)
                    .err()
                    .map(|why| (nh, why)),
                _ => None,
            };
            for prefix in prefixes {
                let prefix = prefix.trunc();
                if let Some(why) = crate::guard::refuses(guard, &prefix, &import) {
                    if let Some(p) = self.peers.get_mut(&id) {
                        *p.refused.entry(why).or_default() += 1;
                    }
                    withdrawn.push(prefix);
                    continue;
                }
                if let Some((nh, why)) = unusable {
                    self.drop_for_next_hop(id, &prefix, nh, why);
                    withdrawn.push(prefix);
                    continue;
                }
                let accepted = self.import_route(
                    &prefix,
                    Source::Peer(id),
                    attrs.as_ref(),
                    next_hop,
                    &import,
                    &cx,
                );
                match accepted {
                    Some((attrs, nh)) => {
                        let path = Path {
                            source: Source::Peer(id),
                            attrs,
                            next_hop: self.track_next_hop(id, nh),
                        };
                        self.insert_path(prefix, path);
                    }
                    // Filtered, looped or unusable: handled as a withdrawal
                    // of any earlier path (RFC 7606 §2 treat-as-withdraw).
                    _ => withdrawn.push(prefix),
                }
            }
        }
        for prefix in withdrawn {
            self.remove_path(prefix.trunc(), Source::Peer(id));
        }
        self.flush()
    }

    /// Phase 1 of the decision process for one route whose attributes
    /// passed the eBGP checks: next-hop validity, then the import chain.
    /// `None`: filtered or unusable (handled as a withdrawal).
    fn import_route(
        &mut self,
        prefix: &IpNet,
        source: Source,
        attrs: Option<&Arc<PathAttributes>>,
        next_hop: Option<IpAddr>,
        import: &Chain,
        cx: &Context,
    ) -> Option<(Arc<PathAttributes>, IpAddr)> {
        let attrs = attrs?;
        let nh = next_hop.filter(|nh| self.valid_next_hop(*nh))?;
        let a = import.evaluate(prefix, attrs, cx)?;
        self.set_path_table(*prefix, source, a.table);
        let nh = a.next_hop.filter(|n| self.valid_next_hop(*n)).unwrap_or(nh);
        let mut a = a.attrs;
        // RFC 8326 §4.2: a path its originator is draining loses to any
        // other, whatever import policy set.
        if a.communities.contains(&Community::GRACEFUL_SHUTDOWN) && a.local_pref != Some(0) {
            a.to_mut().local_pref = Some(0);
        }
        // Only a route a `set` changed costs a copy and a lookup.
        let attrs = match a {
            Cow::Borrowed(_) => attrs.clone(),
            Cow::Owned(changed) => self.interner.intern(changed),
        };
        Some((attrs, nh))
    }

    /// Records the kernel table import policy chose for a path; a change
    /// re-selects the prefix (its attributes may be unchanged).
    fn set_path_table(&mut self, prefix: IpNet, source: Source, table: Option<u32>) {
        let table = table.filter(|&t| t != self.cfg.table);
        // The common case, no policy choosing tables, costs no hashing.
        if table.is_none() && self.path_tables.is_empty() {
            return;
        }
        let key = (prefix, source);
        let old = match table {
            Some(t) => self.path_tables.insert(key, t),
            None => self.path_tables.remove(&key),
        };
        if old != table {
            self.dirty.insert(prefix);
        }
    }

    /// The kernel table `prefix` is installed in, `None` meaning `cfg.table`.
    pub fn installed_table(&self, prefix: &IpNet) -> Option<u32> {
        self.installed_in.get(prefix).copied()
    }

    /// Re-sends the Adj-RIB-Out of one family (RFC 2918 ROUTE-REFRESH).
    pub fn handle_route_refresh(&mut self, id: PeerId, afi: Afi) -> Vec<Output> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Vec::new();
        };
        peer.adj_rib_out.clear_family(afi);
        let mut batch = ExportBatch::default();
        // Only the family just cleared is walked: the other one does not
        // decide whether anything of this one can go out.
        if !peer.export_rejects_all {
            let prefixes: Vec<IpNet> = self.loc_rib.keys().filter(|p| afi_of(p) == afi).collect();
            for prefix in prefixes {
                self.export_to(id, &prefix, &mut batch);
            }
        }
        let mut out = Vec::new();
        batch.emit(&mut out);
        out.push(Output::EndOfRib { peer: id, afi });
        out
    }

    /// A change in the kernel: re-resolve next hops; routes whose
    /// resolution changed are re-selected and re-installed.
    pub fn handle_kernel_event(&mut self, ev: &KernelEvent) -> Vec<Output> {
        if let KernelEvent::OwnRouteRemoved(r) = ev {
            self.handle_own_route_removed(r);
            return Vec::new();
        }
        // A route of another protocol at our metric appearing or leaving
        // decides whether ours may be installed.
        if let KernelEvent::RouteAdded(r)
        | KernelEvent::RouteReplaced(r)
        | KernelEvent::RouteRemoved(r) = ev
            && r.table == self.cfg.table
            && r.protocol != crate::kernel::RTPROT_BGP
            && r.metric == self.cfg.metric
            && self.loc_rib.contains_key(&r.prefix)
        {
            self.dirty.insert(r.prefix);
        }
        match ev {
            KernelEvent::LinkChanged { ifindex, up, .. }
                if self.kernel.ifname(*ifindex).is_none() || self.kernel.is_up(*ifindex) != *up =>
            {
                self.links_changed.insert(*ifindex);
            }
            KernelEvent::LinkRemoved { ifindex } => {
                self.links_changed.insert(*ifindex);
            }
            _ => {}
        }
        let links_before = matches!(ev, KernelEvent::Resync(_)).then(|| {
            (
                self.kernel.link_states(),
                std::mem::take(&mut self.links_changed),
            )
        });
        if !self.kernel.apply(ev) {
            return self.flush();
        }
        let mut changed = HashSet::new();
        for (key, nh) in self.next_hops.iter_mut() {
            let now = key.resolve(&self.kernel, &self.peers);
            if now.as_ref() != nh.resolved.as_deref() {
                nh.resolved = now.map(Arc::new);
                // By address: the same link-local one on another link only
                // costs a needless re-selection.
                changed.insert(key.addr);
            }
        }
        if !changed.is_empty() {
            for (prefix, dest) in self.loc_rib.iter() {
                if dest.paths.iter().any(|p| changed.contains(&*p.next_hop)) {
                    self.dirty.insert(prefix);
                }
            }
        }
        // Routes the kernel dropped behind our back (a link went down and
        // came back) are re-installed when their resolution is unchanged.
        if let Some((before, changed)) = links_before {
            self.reinstall_after_resync(&before, changed);
        }
        self.flush()
    }

    /// After a full dump: the kernel drops the routes through a link that
    /// goes down without a word, so ours through a link whose state changed
    /// are written again. A dump no link change explains (notifications
    /// were lost) gets everything written again. Routes through other links
    /// are left alone: a tunnel's flap costs only the prefixes it carries.
    fn reinstall_after_resync(&mut self, before: &HashMap<u32, bool>, mut changed: HashSet<u32>) {
        let after = self.kernel.link_states();
        changed
            .extend((before.keys().chain(after.keys())).filter(|i| before.get(i) != after.get(i)));
        if changed.is_empty() {
            for (_, dest) in self.loc_rib.iter_mut() {
                dest.installed = None;
            }
            self.dirty.extend(self.loc_rib.keys());
            return;
        }
        for (prefix, dest) in self.loc_rib.iter_mut() {
            let through_changed =
                |hops: &Arc<Vec<KernelNextHop>>| hops.iter().any(|h| changed.contains(&h.ifindex));
            if dest.installed().is_some_and(through_changed) {
                dest.installed = None;
                self.dirty.insert(prefix);
            }
        }
    }

    /// One of our routes was deleted by someone else. It becomes a suspect
    /// only if it is exactly what we last installed: a deletion of a route
    /// we have replaced or withdrawn since is history, not damage.
    fn handle_own_route_removed(&mut self, r: &crate::kernel::KernelRoute) {
        let table = self.installed_table(&r.prefix).unwrap_or(self.cfg.table);
        if r.table != table || r.metric != self.cfg.metric {
            return;
        }
        let Some(installed) = self.loc_rib.get(&r.prefix).and_then(|d| d.installed()) else {
            return;
        };
        let mut have: Vec<(Option<IpAddr>, Option<u32>)> = installed
            .iter()
            .map(|h| (Some(h.gateway), Some(h.ifindex)))
            .collect();
        let mut gone = r.paths();
        have.sort();
        gone.sort();
        if have == gone {
            self.suspects.insert(r.prefix, installed.clone());
        }
    }

    /// True if a route of another protocol holds `prefix` at our metric, so
    /// ours stands back.
    pub fn is_yielded(&self, prefix: &IpNet) -> bool {
        self.yielded.contains(prefix)
    }

    /// True if routes deleted behind our back wait for [`Rib::repair`].
    pub fn repairs_pending(&self) -> bool {
        !self.suspects.is_empty()
    }

    /// Re-installs the suspects that are still wanted with the next hops
    /// that were deleted, over links that are up, unless the pacer holds
    /// them back. Suspects the RIB has changed since (a later replace or
    /// delete of ours already fixed the kernel) are dropped.
    pub fn repair(&mut self, now: Instant) -> Repair {
        let mut repair = Repair::default();
        let suspects = std::mem::take(&mut self.suspects);
        for (prefix, hops) in suspects {
            let Some(dest) = self.loc_rib.get_mut(&prefix) else {
                continue;
            };
            if dest.installed() != Some(&hops) || !hops.iter().all(|h| self.kernel.is_up(h.ifindex))
            {
                continue;
            }
            let due = self.pacer.due(&prefix, now);
            if due > now {
                repair.next = Some(repair.next.map_or(due, |n: Instant| n.min(due)));
                self.suspects.insert(prefix, hops);
                continue;
            }
            dest.installed = None;
            self.dirty.insert(prefix);
            self.pacer.repaired(prefix, now);
            repair.repaired.push(prefix);
        }
        repair.out = self.flush();
        repair
    }

    pub fn kernel(&self) -> &KernelView {
        &self.kernel
    }

    /// The Loc-RIB, in prefix order.
    pub fn loc_rib(&self) -> &LocRib {
        &self.loc_rib
    }

    /// Whether a path's next hop resolves (local paths always do).
    pub fn eligible(&self, path: &Path) -> bool {
        path.source == Source::Local
            || self
                .next_hops
                .get(&NextHopKey::of(path.source, *path.next_hop))
                .is_some_and(|n| n.resolved.is_some())
    }

    /// Why the best path won (FRR's `selectionReason`): the step that
    /// removed the last other eligible candidate; `None` when it had none.
    pub fn selection_reason(&self, prefix: &IpNet, dest: &Dest) -> Option<LossReason> {
        let best = dest.best()?;
        (0..dest.paths.len())
            .filter(|&i| i != best && self.eligible(&dest.paths[i]))
            .filter_map(|i| self.loss_reason(prefix, dest, i))
            .max()
    }

    /// FRR's table version of a family: bumped each time one of its
    /// prefixes goes through best-path selection.
    pub fn table_version(&self, afi: Afi) -> u64 {
        self.versions[family_index(afi)]
    }

    /// Why a non-best path lost, for `show`.
    pub fn loss_reason(&self, prefix: &IpNet, dest: &Dest, i: usize) -> Option<LossReason> {
        dest.best()?;
        let ids = tie_break(&self.cfg, &self.peers, prefix);
        best::loss_reason(&dest.paths, i, &ids, |j| self.eligible(&dest.paths[j]))
    }

    /// Sets what is refused from `id` before import policy.
    pub fn set_guard(&mut self, id: PeerId, guard: Guard) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.guard = guard;
        }
    }

    /// Whether the routes of `id` must start with its AS (on by default).
    pub fn set_enforce_first_as(&mut self, id: PeerId, on: bool) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.enforce_first_as = on;
        }
    }

    /// Routes refused from `id` so far, by reason.
    pub fn refused(&self, id: PeerId) -> Vec<(Refusal, u64)> {
        self.peers
            .get(&id)
            .map(|p| p.refused.iter().map(|(r, n)| (*r, *n)).collect())
            .unwrap_or_default()
    }

    /// Estimated memory of `id`'s paths, bytes (see [`AdjInMemory`]);
    /// `None` unless [`Rib::track_memory`] is on for the peer.
    pub fn adj_rib_in_bytes(&self, id: PeerId) -> Option<usize> {
        let p = self.peers.get(&id)?;
        p.memory.enabled.then(|| p.memory.bytes())
    }

    /// Starts (counting the paths already held) or stops estimating the
    /// memory of `id`'s paths.
    pub fn track_memory(&mut self, id: PeerId, on: bool) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.memory.enabled == on {
            return;
        }
        p.memory = AdjInMemory::new(on);
        if on {
            let source = Source::Peer(id);
            for (_, dest) in self.loc_rib.iter() {
                if let Some(path) = dest.paths.iter().find(|x| x.source == source) {
                    p.memory.add(&path.attrs);
                }
            }
        }
    }

    /// (pfxRcd, pfxSnt) of one family for a peer.
    pub fn peer_counts(&self, id: PeerId, afi: Afi) -> (usize, usize) {
        let Some(p) = self.peers.get(&id) else {
            return (0, 0);
        };
        let sent = p.adj_rib_out.len(afi);
        (p.received[family_index(afi)], sent)
    }

    pub fn peer_settings(&self, id: PeerId) -> Option<&PeerSettings> {
        self.peers.get(&id).map(|p| &p.settings)
    }

    /// Every BGP next hop in use: its resolution and how many paths use it.
    pub fn next_hops(&self) -> impl Iterator<Item = (IpAddr, Option<&[KernelNextHop]>, usize)> {
        self.next_hops
            .iter()
            .map(|(k, n)| (k.addr, n.resolved.as_deref().map(Vec::as_slice), n.users))
    }

    /// (resolved, unresolved) BGP next hops in use.
    pub fn next_hop_counts(&self) -> (usize, usize) {
        let resolved = self
            .next_hops
            .values()
            .filter(|n| n.resolved.is_some())
            .count();
        (resolved, self.next_hops.len() - resolved)
    }

    /// Distinct attribute sets held (interning effectiveness).
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    /// eBGP import checks on the attribute set; `None` means every prefix
    /// of the UPDATE is handled as withdrawn.
    fn accept_attributes(
        &mut self,
        attrs: &PathAttributes,
        first_as: Option<u32>,
    ) -> Option<Arc<PathAttributes>> {
        // RFC 4271 §9.1.2: a route whose AS_PATH contains our AS is a loop.
        if attrs.as_path.contains(self.cfg.local_as) {
            return None;
        }
        // The neighbour must be the first AS (FRR's enforce-first-as).
        if first_as.is_some_and(|asn| attrs.as_path.first() != Some(asn)) {
            return None;
        }
        if self
            .cfg
            .max_as_path_len
            .is_some_and(|max| attrs.as_path.len() > max)
        {
            return None;
        }
        // LOCAL_PREF is not accepted from eBGP (RFC 4271 §5.1.5).
        let mut attrs = attrs.clone();
        attrs.local_pref = None;
        Some(self.interner.intern(attrs))
    }

    fn valid_next_hop(&self, nh: IpAddr) -> bool {
        !nh.is_unspecified() && !nh.is_multicast() && !self.kernel.is_local(nh)
    }

    /// Inserts or replaces the path of `path.source`; the caller counted
    /// the path as a user of its next hop (`track_next_hop`).
    fn insert_path(&mut self, prefix: IpNet, path: Path) {
        let source = path.source;
        if let Source::Peer(id) = source
            && let Some(p) = self.peers.get_mut(&id)
        {
            p.memory.add(&path.attrs);
        }
        let dest = self.loc_rib.get_or_default(prefix);
        let old = match dest.paths.iter().position(|p| p.source == source) {
            Some(i) => Some(std::mem::replace(&mut dest.paths[i], path)),
            None => {
                // Most prefixes have one path, inline; don't round up to 4.
                dest.paths.reserve_exact(1);
                dest.paths.push(path);
                None
            }
        };
        match old {
            Some(old) => {
                if let Source::Peer(id) = source
                    && let Some(p) = self.peers.get_mut(&id)
                {
                    p.memory.remove(&old.attrs);
                }
                self.release_next_hop(source, *old.next_hop)
            }
            None => {
                if let Source::Peer(id) = source {
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.received[family_index(afi_of(&prefix))] += 1;
                    }
                }
            }
        }
        // Re-announced: fresh again.
        if let Source::Peer(id) = source
            && let Some(p) = self.peers.get_mut(&id)
            && !p.stale.is_empty()
        {
            p.stale.remove(&prefix);
        }
        self.dirty.insert(prefix);
    }

    fn remove_path(&mut self, prefix: IpNet, source: Source) {
        let Some(dest) = self.loc_rib.get_mut(&prefix) else {
            return;
        };
        let Some(i) = dest.paths.iter().position(|p| p.source == source) else {
            return;
        };
        let old = dest.paths.remove(i);
        dest.paths.shrink_to_fit();
        dest.best = NO_BEST;
        if let Source::Peer(id) = source {
            if let Some(p) = self.peers.get_mut(&id) {
                p.received[family_index(afi_of(&prefix))] -= 1;
                p.memory.remove(&old.attrs);
                if !p.stale.is_empty() {
                    p.stale.remove(&prefix);
                }
            }
            self.release_next_hop(source, *old.next_hop);
        }
        self.dirty.insert(prefix);
    }

    /// Counts one more path of `peer` through `addr`; returns the shared
    /// address.
    fn track_next_hop(&mut self, peer: PeerId, addr: IpAddr) -> Arc<IpAddr> {
        let key = NextHopKey::of(Source::Peer(peer), addr);
        let (kernel, peers) = (&self.kernel, &self.peers);
        let nh = self.next_hops.entry(key).or_insert_with(|| NextHop {
            addr: Arc::new(key.addr),
            resolved: key.resolve(kernel, peers).map(Arc::new),
            users: 0,
            by_peer: SmallVec::new(),
        });
        nh.users += 1;
        match nh.by_peer.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, n)) => *n += 1,
            None => nh.by_peer.push((peer, 1)),
        }
        nh.addr.clone()
    }

    fn release_next_hop(&mut self, source: Source, addr: IpAddr) {
        let Source::Peer(peer) = source else { return };
        self.release_next_hops(peer, NextHopKey::of(source, addr), 1);
    }

    /// `n` paths of `peer` through `key` are gone.
    fn release_next_hops(&mut self, peer: PeerId, key: NextHopKey, n: usize) {
        let Some(nh) = self.next_hops.get_mut(&key) else {
            return;
        };
        nh.users = nh.users.saturating_sub(n);
        if nh.users == 0 {
            self.next_hops.remove(&key);
            return;
        }
        if let Some(i) = nh.by_peer.iter().position(|(p, _)| *p == peer) {
            let left = nh.by_peer[i].1.saturating_sub(n as u32);
            match left {
                0 => _ = nh.by_peer.swap_remove(i),
                left => nh.by_peer[i].1 = left,
            }
        }
    }

    /// The backup of a prefix whose best path is `best` (with `multipath`)
    /// and goes through `hops`: the resolved next hops of the best of the
    /// other eligible paths that go elsewhere. `None` if there is none.
    fn backup_for(
        &self,
        prefix: &IpNet,
        dest: &Dest,
        best: usize,
        multipath: &[usize],
        hops: &NextHops,
    ) -> Option<NextHops> {
        if dest.paths.len() < 2 {
            return None;
        }
        let elsewhere = |i: usize| {
            i != best
                && !multipath.contains(&i)
                && self.eligible(&dest.paths[i])
                && self.resolution(&dest.paths[i]).is_some_and(|r| r != *hops)
        };
        let ids = tie_break(&self.cfg, &self.peers, prefix);
        let b = best::select(&dest.paths, &ids, elsewhere)?;
        self.resolution(&dest.paths[b])
    }

    fn resolution(&self, path: &Path) -> Option<NextHops> {
        match path.source {
            Source::Local => None,
            Source::Peer(_) => self
                .next_hops
                .get(&NextHopKey::of(path.source, *path.next_hop))?
                .resolved
                .clone(),
        }
    }

    /// Whether `begin_peer_down` left prefixes for `flush_sweep`.
    pub fn sweep_pending(&self) -> bool {
        !self.sweep.v4.is_empty() || !self.sweep.v6.is_empty()
    }

    /// Re-selects up to `max` of the prefixes queued by `begin_peer_down`.
    pub fn flush_sweep(&mut self, max: usize) -> Vec<Output> {
        let v4 = &mut self.sweep.v4;
        let mut chunk: Vec<IpNet> = v4
            .drain(v4.len().saturating_sub(max)..)
            .map(IpNet::V4)
            .collect();
        let v6 = &mut self.sweep.v6;
        let rest = max - chunk.len();
        chunk.extend(v6.drain(v6.len().saturating_sub(rest)..).map(IpNet::V6));
        if !self.sweep_pending() {
            self.sweep = Sweep::default();
        }
        let out = self.flush_prefixes(chunk);
        if !self.sweep_pending() {
            // Every route through a failed-over next hop had a path of the
            // dead peer, so was in the sweep: all re-selected now.
            self.failed_over.clear();
        }
        out
    }

    /// Re-selects every touched prefix and emits the FIB and export diffs.
    fn flush(&mut self) -> Vec<Output> {
        // Hash order, not address order: the kernel inserts and deletes a
        // full table about twice as fast when the prefixes are spread out
        // (docs/benchmarks.md, "raw netlink, random order").
        let dirty: Vec<IpNet> = self.dirty.drain().collect();
        self.flush_prefixes(dirty)
    }

    fn flush_prefixes(&mut self, dirty: Vec<IpNet>) -> Vec<Output> {
        let mut out = Vec::new();
        let mut fib = Vec::with_capacity(dirty.len());
        let mut batch = ExportBatch::default();
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.established.is_some() && !p.exports_nothing())
            .map(|(id, _)| *id)
            .collect();
        // A route written through a failed-over next hop (its peer is back,
        // or another peer's path names it): the fail-over's view of the
        // routes not yet re-selected may no longer be the kernel's.
        let mut reused_dead: HashSet<IpNet> = HashSet::new();
        for prefix in dirty {
            let Some(dest) = self.loc_rib.get(&prefix) else {
                continue;
            };
            let eligible = |i: usize| self.eligible(&dest.paths[i]);
            let (best, multipath) = {
                let ids = tie_break(&self.cfg, &self.peers, &prefix);
                let best = best::select(&dest.paths, &ids, eligible);
                let multipath = match best {
                    Some(b) if self.cfg.multipath > 1 => best::multipath(
                        &dest.paths,
                        &ids,
                        b,
                        self.cfg.multipath,
                        self.cfg.multipath_relax,
                        eligible,
                    ),
                    _ => Vec::new(),
                };
                (best, multipath)
            };
            let want = match (best, multipath.len() > 1) {
                // RFC 7999: a BLACKHOLE route import policy accepted is
                // installed as `blackhole PREFIX` (no next hops).
                (Some(b), _)
                    if dest.paths[b]
                        .attrs
                        .communities
                        .contains(&Community::BLACKHOLE) =>
                {
                    Some(Arc::new(Vec::new()))
                }
                (Some(_), true) => {
                    // One kernel route with a next hop per path, deduplicated.
                    let mut hops: Vec<KernelNextHop> = multipath
                        .iter()
                        .filter_map(|&i| self.resolution(&dest.paths[i]))
                        .flat_map(|h| h.iter().cloned().collect::<Vec<_>>())
                        .collect();
                    hops.sort();
                    hops.dedup();
                    (!hops.is_empty()).then(|| Arc::new(hops))
                }
                (Some(b), false) => self.resolution(&dest.paths[b]),
                (None, _) => None,
            };
            let backup = match (best, &want) {
                (Some(b), Some(w)) if self.cfg.backup_paths && !w.is_empty() => {
                    self.backup_for(&prefix, dest, b, &multipath, w)
                }
                _ => None,
            };
            // Never overwrite another protocol's route (NLM_F_REPLACE
            // would): stand back while it holds our prefix and metric.
            let table = best.filter(|_| !self.path_tables.is_empty()).and_then(|b| {
                let source = dest.paths[b].source;
                self.path_tables.get(&(prefix, source)).copied()
            });
            // The kernel view covers `cfg.table` only.
            let yielded = want.is_some()
                && table.is_none()
                && self.kernel.has_foreign(&prefix, self.cfg.metric);
            let want = if yielded { None } else { want };
            let backup = want
                .as_ref()
                .and(table.is_none().then_some(backup).flatten());
            if yielded != self.yielded.contains(&prefix) {
                if yielded {
                    tracing::info!(%prefix, metric = self.cfg.metric,
                        "a route of another protocol holds this prefix at our metric: ours stands back");
                    self.yielded.insert(prefix);
                } else {
                    tracing::info!(%prefix, "the other protocol's route left: installing ours");
                    self.yielded.remove(&prefix);
                }
            }
            self.versions[family_index(afi_of(&prefix))] += 1;
            let dest = self.loc_rib.get_mut(&prefix).expect("present");
            dest.best = best.map_or(NO_BEST, |b| b as u32);
            dest.multipath = match best {
                Some(b) if multipath.is_empty() => 1u32.checked_shl(b as u32).unwrap_or(0),
                _ => multipath
                    .iter()
                    .filter(|&&i| i < 32)
                    .fold(0, |m, &i| m | 1 << i),
            };
            if self.deferring {
                // RFC 4724 §4.1: the previous run's routes keep forwarding.
            } else {
                let was = if self.installed_in.is_empty() {
                    None
                } else {
                    self.installed_in.get(&prefix).copied()
                };
                let moved = want.is_some() && dest.installed.is_some() && table != was;
                let kernel_has = after_fail_over(&self.failed_over, dest);
                let same = match &kernel_has {
                    None => want.as_ref() == dest.installed() && backup.as_ref() == dest.backup(),
                    // Moved by the writer's fail-over: maybe already right.
                    Some((h, b)) => {
                        !h.is_empty()
                            && want.as_deref().is_some_and(|w| canonical(w) == *h)
                            && canonical(backup.as_deref().map_or(&[], |b| b.as_slice())) == *b
                    }
                };
                if !same || moved {
                    match &want {
                        Some(nexthops) => {
                            if moved {
                                // Out of the old table (gone already is fine).
                                fib.push(FibOp::delete(was, prefix));
                            }
                            let through_dead = |h: &Option<NextHops>| {
                                h.as_ref()
                                    .is_some_and(|h| h.iter().any(|h| self.failed_over.contains(h)))
                            };
                            if !self.failed_over.is_empty()
                                && (through_dead(&want) || through_dead(&backup))
                            {
                                reused_dead.insert(prefix);
                            }
                            fib.push(match table {
                                None => FibOp::Replace {
                                    prefix,
                                    nexthops: nexthops.clone(),
                                    backup: backup.clone(),
                                },
                                Some(_) => FibOp::replace(table, prefix, nexthops.clone()),
                            });
                        }
                        None => fib.push(FibOp::delete(was, prefix)),
                    }
                }
                if !same || moved || kernel_has.is_some() {
                    match (&want, table) {
                        (Some(_), Some(t)) => self.installed_in.insert(prefix, t),
                        _ => self.installed_in.remove(&prefix),
                    };
                    dest.installed = want.map(|w| self.installed_set.intern(w, backup));
                }
            }
            if !self.deferring {
                for &peer in &peers {
                    self.export_to(peer, &prefix, &mut batch);
                }
            }
            if self
                .loc_rib
                .get(&prefix)
                .is_some_and(|d| d.paths.is_empty())
            {
                self.loc_rib.remove(&prefix);
            }
        }
        if !fib.is_empty() {
            out.push(Output::Fib(fib));
        }
        batch.emit(&mut out);
        if !reused_dead.is_empty() {
            // So re-select the others now, which ends the fail-over (these
            // were just written as the kernel has them).
            let written = |p: IpNet| !reused_dead.contains(&p);
            self.sweep.v4.retain(|p| written(IpNet::V4(*p)));
            self.sweep.v6.retain(|p| written(IpNet::V6(*p)));
            out.extend(self.flush_sweep(usize::MAX));
            self.failed_over.clear();
        }
        out
    }

    /// Diffs what `peer` should have for `prefix` against its Adj-RIB-Out.
    fn export_to(&mut self, id: PeerId, prefix: &IpNet, batch: &mut ExportBatch) {
        let want = self.export_attributes(id, prefix);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let afi = afi_of(prefix);
        match want {
            Some((attrs, next_hop)) => {
                if peer
                    .adj_rib_out
                    .get(prefix)
                    .is_some_and(|a| Arc::ptr_eq(a, &attrs))
                {
                    return;
                }
                peer.adj_rib_out.insert(*prefix, attrs.clone());
                batch.announce(id, afi, attrs, next_hop, *prefix);
            }
            None => {
                if peer.adj_rib_out.remove(prefix) {
                    batch.withdraw(id, afi, *prefix);
                }
            }
        }
    }

    /// eBGP export of the best path to one peer: policy, loop and community
    /// checks, next-hop-self, own-AS prepend (RFC 4271 §5.1, §9.2).
    fn export_attributes(
        &mut self,
        id: PeerId,
        prefix: &IpNet,
    ) -> Option<(Arc<PathAttributes>, MpNextHop)> {
        let peer = self.peers.get(&id)?;
        let established = peer.established.as_ref()?;
        let afi = afi_of(prefix);
        if !established.families.contains(&(afi, Safi::Unicast)) {
            return None;
        }
        let dest = self.loc_rib.get(prefix)?;
        let best = &dest.paths[dest.best()?];
        if best.source == Source::Peer(id) {
            return None;
        }
        let attrs = &best.attrs;
        if attrs
            .communities
            .iter()
            .any(|c| *c == Community::NO_EXPORT || *c == Community::NO_ADVERTISE)
        {
            return None;
        }
        // RFC 7999 §3.2: a received BLACKHOLE route stays here (as with
        // NO_EXPORT); export policy may still add the community to ours.
        if best.source != Source::Local && attrs.communities.contains(&Community::BLACKHOLE) {
            return None;
        }
        // Sender-side loop prevention: the peer would drop it anyway.
        if attrs.as_path.contains(peer.settings.asn) {
            return None;
        }
        let cx = Context {
            peer: &peer.settings.name,
            local_as: self.cfg.local_as,
        };
        // The policy sees the route as in the Loc-RIB; its `set`s come
        // before the eBGP changes below (as FRR's outbound route-map).
        let accepted = peer.settings.export.evaluate(prefix, attrs, &cx)?;
        // Over an IPv6 session with RFC 8950 negotiated, IPv4 routes carry
        // our IPv6 address as next hop in MP_REACH_NLRI (as FRR does).
        let v6_for_v4 = established.extended_next_hop && peer.settings.address.is_ipv6();
        // Next-hop-self over an interface may add our link-local address
        // (RFC 2545 §3); with no global one the global field is `::`, as
        // BIRD sends on a link-local-only session. A next hop policy set is
        // sent alone.
        let s = &peer.settings;
        let self_v6 = || {
            Some(IpAddr::V6(
                s.local_v6
                    .or(s.local_link_local.map(|_| Ipv6Addr::UNSPECIFIED))?,
            ))
        };
        let (global, link_local) = match (accepted.next_hop, afi) {
            (Some(nh), _) => (nh, None),
            (None, Afi::Ipv4) if v6_for_v4 => (self_v6()?, s.local_link_local),
            (None, Afi::Ipv4) => (IpAddr::V4(s.local_v4?), None),
            (None, _) => (self_v6()?, s.local_link_local),
        };
        let med_set = accepted.med_set;
        let mut exported = accepted.attrs.into_owned();
        exported.as_path.prepend(self.cfg.local_as, 1);
        // MED is not passed on to other ASes unless policy set it, LOCAL_PREF
        // not sent on eBGP (RFC 4271 §5.1.4, §5.1.5).
        if best.source != Source::Local && !med_set {
            exported.med = None;
        }
        exported.local_pref = None;
        let attrs = self.interner.intern(exported);
        Some((attrs, MpNextHop { global, link_local }))
    }
}

/// A cheap, well-mixed sort key (splitmix64 of address and length) that
/// orders prefixes like a hash table would.
fn spread(prefix: &IpNet) -> u64 {
    let (hi, lo) = match prefix {
        IpNet::V4(n) => (0, u64::from(u32::from(n.addr()))),
        IpNet::V6(n) => {
            let a = u128::from(n.addr());
            ((a >> 64) as u64, a as u64)
        }
    };
    let mut z = lo ^ hi.rotate_left(29) ^ (u64::from(prefix.prefix_len()) << 56);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Groups one flush's announcements per (peer, family, attribute set) so
/// the driver can pack them into few UPDATEs.
#[derive(Default)]
struct ExportBatch {
    announce: Vec<((PeerId, Afi, MpNextHop), Arc<PathAttributes>, Vec<IpNet>)>,
    index: FastMap<(PeerId, Afi, MpNextHop, usize), usize>,
    withdraw: BTreeMap<(PeerId, Afi), Vec<IpNet>>,
}

impl ExportBatch {
    fn announce(
        &mut self,
        peer: PeerId,
        afi: Afi,
        attrs: Arc<PathAttributes>,
        nh: MpNextHop,
        prefix: IpNet,
    ) {
        let key = (peer, afi, nh, Arc::as_ptr(&attrs) as usize);
        let i = *self.index.entry(key).or_insert_with(|| {
            self.announce.push(((peer, afi, nh), attrs, Vec::new()));
            self.announce.len() - 1
        });
        self.announce[i].2.push(prefix);
    }

    fn withdraw(&mut self, peer: PeerId, afi: Afi, prefix: IpNet) {
        self.withdraw.entry((peer, afi)).or_default().push(prefix);
    }

    fn emit(self, out: &mut Vec<Output>) {
        for ((peer, afi), prefixes) in self.withdraw {
            out.push(Output::Withdraw {
                peer,
                afi,
                prefixes,
            });
        }
        for ((peer, afi, next_hop), attrs, prefixes) in self.announce {
            out.push(Output::Announce {
                peer,
                afi,
                attrs,
                next_hop,
                prefixes,
            });
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod next_hop_tests;

#[cfg(test)]
mod pic_tests;
