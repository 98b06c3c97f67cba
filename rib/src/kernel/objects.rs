//! The FIB writer's nexthop objects, as pure data: which object each installed route uses,
//! how many routes (and groups) use each object, and which kernel operations keep the kernel
//! in step. No sockets here; the writer (`fib`) turns [`NhAction`]s into `RTM_NEWNEXTHOP` /
//! `RTM_DELNEXTHOP` and reports the kernel's answers back.
//!
//! One object per distinct resolved next hop (gateway, interface, onlink), one group object
//! per distinct ECMP set (its members are the single objects, each weight 1). Routes hold a
//! reference to their object from the moment their request is planned; when the kernel has
//! answered, [`Objects::settle`] keeps the new reference and drops the old one (or the
//! reverse, if the kernel refused). An object is created before the first route that uses it
//! (its request goes first in the same batch) and deleted by [`Objects::collect`] after the
//! batch whose routes let go of it last.
//!
//! Ids: `base .. base + span`, by default [`NHID_BASE`] and [`NHID_SPAN`]. Operators type
//! small ids (`ip nexthop add id 1`), other daemons count up from low numbers, so a high,
//! fixed base keeps ours apart and recognisable (`ip nexthop show` with ids 1464270848+), and
//! lets a restarted writer tell its earlier run's objects (our protocol, our range) from
//! anyone else's. An id is stable for as long as its object lives, including across a restart:
//! the earlier run's objects are adopted with their ids (routes kept by graceful restart go on
//! pointing at them), and new ids continue after the highest adopted one.

use std::collections::{BTreeMap, HashMap, HashSet};

use ipnet::IpNet;

use super::nexthop::NexthopMessage;
use super::view::KernelNextHop;
use crate::FastMap;

/// First nexthop object id of ours: 0x5747_0000 ("WG" in the top bytes).
pub const NHID_BASE: u32 = 0x5747_0000;
/// Ids in our range. Objects are per distinct next hop, so 65536 is far beyond need.
pub const NHID_SPAN: u32 = 0x1_0000;

/// A route as the writer knows it: its table and prefix (metric and protocol are the
/// writer's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub table: u32,
    pub prefix: IpNet,
}

/// What an object forwards to, as the kernel is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    Gateway(KernelNextHop),
    /// Member object ids, equal weights.
    Group(Vec<u32>),
}

/// A kernel operation the registry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NhAction {
    /// `RTM_NEWNEXTHOP` with `NLM_F_CREATE | NLM_F_REPLACE`: create, or re-point in place.
    Install { id: u32, spec: Spec },
    /// `RTM_DELNEXTHOP`.
    Delete { id: u32 },
}

/// One object, for `show nexthops` and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NexthopObject {
    pub id: u32,
    /// The resolved next hops it forwards to (one for a gateway object, several for a group).
    pub nexthops: Vec<KernelNextHop>,
    /// Member ids of a group, empty for a gateway object.
    pub members: Vec<u32>,
    /// Where it moves when its next hops die ([`fail_over`]); empty: nowhere.
    pub backup: Vec<KernelNextHop>,
    /// Routes using it.
    pub routes: usize,
    /// Groups it is a member of.
    pub groups: usize,
    /// Believed present in the kernel as described.
    pub installed: bool,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ObjectError {
    #[error("no free nexthop id in {base}..{end}")]
    IdsExhausted { base: u32, end: u32 },
    #[error("no nexthop object {0} of ours")]
    Unknown(u32),
    #[error("nexthop object {id} is a {is}; the kernel cannot re-point it to a {want}")]
    KindChange {
        id: u32,
        is: &'static str,
        want: &'static str,
    },
    #[error("a nexthop object needs at least one next hop")]
    Empty,
}

#[derive(Clone, Debug)]
struct Object {
    /// What it forwards to now.
    hops: Vec<KernelNextHop>,
    /// Where it moves when all of `hops` die ([`fail_over`]); empty: nowhere.
    backup: Vec<KernelNextHop>,
    members: Vec<u32>,
    routes: usize,
    groups: usize,
    installed: bool,
    /// Gone from the kernel while routes used it: the kernel took those routes with it.
    lost: bool,
}

impl Object {
    /// An object used by no route or group yet.
    fn new((hops, backup): Want, members: Vec<u32>, installed: bool) -> Object {
        Object {
            hops,
            backup,
            members,
            routes: 0,
            groups: 0,
            installed,
            lost: false,
        }
    }

    fn spec(&self) -> Spec {
        if self.members.is_empty() {
            Spec::Gateway(self.hops[0].clone())
        } else {
            Spec::Group(self.members.clone())
        }
    }

    fn kind(&self) -> &'static str {
        if self.members.is_empty() {
            "gateway"
        } else {
            "group"
        }
    }

    fn want(&self) -> Want {
        (self.hops.clone(), self.backup.clone())
    }
}

/// What routes ask of an object: the next hops to forward to, and the backup to move to
/// when they all die. Routes asking the same share one object.
type Want = (Vec<KernelNextHop>, Vec<KernelNextHop>);

/// Where routes forwarding to `hops`, with `backup` behind them, forward once the next hops
/// in `dead` are gone (BGP PIC, issue 16): the live part of an ECMP set, else the live part
/// of the backup, which then has no backup of its own. `None`: nothing they use died.
/// `Some` with no next hops: nothing is left, and the routes wait for the RIB to delete them.
///
/// The FIB writer moves its objects by this rule, and the RIB, catching up afterwards,
/// applies the same rule to know which routes are already where it wants them.
pub fn fail_over(
    hops: &[KernelNextHop],
    backup: &[KernelNextHop],
    dead: &HashSet<KernelNextHop>,
) -> Option<Want> {
    let live = |v: &[KernelNextHop]| -> Vec<KernelNextHop> {
        v.iter().filter(|h| !dead.contains(h)).cloned().collect()
    };
    let (h, b) = (live(hops), live(backup));
    if h.len() == hops.len() && b.len() == backup.len() {
        return None;
    }
    Some(if h.is_empty() {
        (b, Vec::new())
    } else {
        (h, b)
    })
}

/// What [`Objects::fail_over`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailOver {
    /// Objects re-pointed in the kernel (one message each).
    pub moved: usize,
    /// Routes on them, which now forward elsewhere without a write.
    pub routes: usize,
    /// Objects that only lost a dead backup (no kernel operation).
    pub rekeyed: usize,
    /// Routes left with nothing to forward to, for the RIB to delete.
    pub stranded: usize,
}

/// Canonical form of a next-hop set: sorted, without duplicates (ECMP order does not matter
/// to the kernel, and a group may not name one member twice).
pub fn canonical(hops: &[KernelNextHop]) -> Vec<KernelNextHop> {
    let mut v = hops.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Route → object. IPv4 routes, the bulk of a full table, are keyed by a packed 12-byte key
/// (a 16-byte bucket with the id, against 28 for the generic key): at a million routes that
/// is about 35 MB of table instead of 60.
#[derive(Debug, Default)]
struct RouteMap {
    v4: FastMap<V4Key, u32>,
    other: FastMap<RouteKey, u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct V4Key {
    table: u32,
    addr: u32,
    len: u8,
}

impl V4Key {
    fn of(k: &RouteKey) -> Option<V4Key> {
        match k.prefix {
            IpNet::V4(n) => Some(V4Key {
                table: k.table,
                addr: u32::from(n.addr()),
                len: n.prefix_len(),
            }),
            IpNet::V6(_) => None,
        }
    }

    fn key(&self) -> RouteKey {
        let net = ipnet::Ipv4Net::new(self.addr.into(), self.len).expect("valid length");
        RouteKey {
            table: self.table,
            prefix: IpNet::V4(net),
        }
    }
}

impl RouteMap {
    fn get(&self, k: &RouteKey) -> Option<u32> {
        match V4Key::of(k) {
            Some(v4) => self.v4.get(&v4).copied(),
            None => self.other.get(k).copied(),
        }
    }

    fn insert(&mut self, k: RouteKey, id: u32) -> Option<u32> {
        match V4Key::of(&k) {
            Some(v4) => self.v4.insert(v4, id),
            None => self.other.insert(k, id),
        }
    }

    fn remove(&mut self, k: &RouteKey) -> Option<u32> {
        match V4Key::of(k) {
            Some(v4) => self.v4.remove(&v4),
            None => self.other.remove(k),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (RouteKey, u32)> + '_ {
        (self.v4.iter().map(|(k, id)| (k.key(), *id)))
            .chain(self.other.iter().map(|(k, id)| (*k, *id)))
    }

    fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    fn clear(&mut self) {
        self.v4 = FastMap::default();
        self.other = FastMap::default();
    }
}

/// The registry.
#[derive(Debug)]
pub struct Objects {
    protocol: u8,
    base: u32,
    span: u32,
    cursor: u32,
    objects: BTreeMap<u32, Object>,
    /// The object new routes with these next hops and this backup use.
    by_want: HashMap<Want, u32>,
    routes: RouteMap,
    /// Ids in our range held by someone else.
    taken: HashSet<u32>,
    /// Objects whose count dropped to zero since the last `collect`.
    unused: Vec<u32>,
}

impl Objects {
    pub fn new(protocol: u8, base: u32, span: u32) -> Objects {
        Objects {
            protocol,
            base,
            span: span.max(1),
            cursor: base,
            objects: BTreeMap::new(),
            by_want: HashMap::new(),
            routes: RouteMap::default(),
            taken: HashSet::new(),
            unused: Vec::new(),
        }
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// True if `id` is in our range.
    pub fn in_range(&self, id: u32) -> bool {
        id.wrapping_sub(self.base) < self.span
    }

    /// True if a kernel object is one of ours: our protocol, our range.
    pub fn is_ours(&self, m: &NexthopMessage) -> bool {
        m.protocol == self.protocol && m.id().is_some_and(|id| self.in_range(id))
    }

    fn allocate(&mut self) -> Result<u32, ObjectError> {
        for _ in 0..self.span {
            let id = self.cursor;
            self.cursor = if id.wrapping_sub(self.base) + 1 >= self.span {
                self.base
            } else {
                id + 1
            };
            if !self.objects.contains_key(&id) && !self.taken.contains(&id) {
                return Ok(id);
            }
        }
        Err(ObjectError::IdsExhausted {
            base: self.base,
            end: self.base.wrapping_add(self.span),
        })
    }

    /// Plans the install of a route through `hops` (not empty), with `backup` (maybe empty) to
    /// move to when they die: takes a reference to the object it will use and appends what
    /// the kernel must do first (create the object and its members). The route keeps the
    /// object it has when that one already forwards to `hops` with that backup.
    pub fn hold(
        &mut self,
        key: &RouteKey,
        hops: &[KernelNextHop],
        backup: &[KernelNextHop],
        out: &mut Vec<NhAction>,
    ) -> Result<u32, ObjectError> {
        let want = (canonical(hops), canonical(backup));
        let current = self.routes.get(key).filter(|id| {
            self.objects
                .get(id)
                .is_some_and(|o| o.hops == want.0 && o.backup == want.1)
        });
        let id = match current.or_else(|| self.by_want.get(&want).copied()) {
            Some(id) => id,
            None => self.create(want)?,
        };
        self.ensure_installed(id, out);
        self.objects.get_mut(&id).expect("held object").routes += 1;
        Ok(id)
    }

    /// A new object (not yet installed), members first for a set. It is a group when it
    /// forwards to several next hops or may have to (its backup is a set): the kernel cannot
    /// turn a gateway object into a group later.
    fn create(&mut self, (hops, backup): Want) -> Result<u32, ObjectError> {
        if hops.is_empty() {
            return Err(ObjectError::Empty);
        }
        let members = if hops.len() == 1 && backup.len() <= 1 {
            Vec::new()
        } else {
            self.members_for(&hops)?
        };
        let id = self.allocate()?;
        self.by_want.insert((hops.clone(), backup.clone()), id);
        self.objects
            .insert(id, Object::new((hops, backup), members, false));
        Ok(id)
    }

    /// Member objects for a set, each with one more group reference.
    fn members_for(&mut self, hops: &[KernelNextHop]) -> Result<Vec<u32>, ObjectError> {
        let mut members = Vec::with_capacity(hops.len());
        for h in hops {
            let single = (vec![h.clone()], Vec::new());
            let id = match self.by_want.get(&single) {
                Some(&id) => id,
                None => self.create(single)?,
            };
            self.objects.get_mut(&id).expect("member").groups += 1;
            members.push(id);
        }
        Ok(members)
    }

    /// Files object `id` under what it forwards to now, unless another object is filed there.
    fn refile(&mut self, id: u32, old: &Want) {
        if self.by_want.get(old) == Some(&id) {
            self.by_want.remove(old);
        }
        let now = self.objects[&id].want();
        self.by_want.entry(now).or_insert(id);
    }

    fn ensure_installed(&mut self, id: u32, out: &mut Vec<NhAction>) {
        let Some(o) = self.objects.get(&id) else {
            return;
        };
        if o.installed {
            return;
        }
        for m in o.members.clone() {
            self.ensure_installed(m, out);
        }
        let o = self.objects.get_mut(&id).expect("object");
        o.installed = true;
        out.push(NhAction::Install { id, spec: o.spec() });
    }

    fn release(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.routes = o.routes.saturating_sub(1);
            if o.routes == 0 && o.groups == 0 {
                self.unused.push(id);
            }
        }
    }

    /// The kernel's answer to a route request planned with `held` (`None`: a delete, or a
    /// route without an object): on success the route now uses `held` and lets go of its old
    /// object; on failure the kernel kept the old route, so `held` is let go instead.
    pub fn settle(&mut self, key: RouteKey, held: Option<u32>, ok: bool) {
        if !ok {
            if let Some(id) = held {
                self.release(id);
            }
            return;
        }
        let old = match held {
            Some(id) => self.routes.insert(key, id),
            None => self.routes.remove(&key),
        };
        if let Some(old) = old {
            self.release(old);
        }
    }

    /// The kernel refused to install object `id`: it is not there.
    pub fn install_failed(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.installed = false;
        }
    }

    /// Forgets objects no route and no group uses any more; appends the deletes for those the
    /// kernel has (a group before its members).
    pub fn collect(&mut self, out: &mut Vec<NhAction>) {
        while let Some(id) = self.unused.pop() {
            let Some(o) = self.objects.get(&id) else {
                continue;
            };
            if o.routes > 0 || o.groups > 0 {
                continue; // used again since
            }
            let o = self.objects.remove(&id).expect("object");
            if self.by_want.get(&o.want()) == Some(&id) {
                self.by_want.remove(&o.want());
            }
            if o.installed {
                out.push(NhAction::Delete { id });
            }
            for m in o.members {
                if let Some(mo) = self.objects.get_mut(&m) {
                    mo.groups -= 1;
                    if mo.groups == 0 && mo.routes == 0 {
                        self.unused.push(m);
                    }
                }
            }
        }
    }

    /// Re-points object `id` to `hops` in place: one `RTM_NEWNEXTHOP` replace, after which
    /// every route using it forwards to `hops` without being rewritten. A gateway object takes
    /// one next hop, a group any number (the kernel cannot turn one into the other). New
    /// routes through `hops` use this object unless another one already forwards there. A
    /// gateway object that is a member of groups moves in those groups too.
    pub fn repoint(
        &mut self,
        id: u32,
        hops: &[KernelNextHop],
        out: &mut Vec<NhAction>,
    ) -> Result<(), ObjectError> {
        let o = self.objects.get(&id).ok_or(ObjectError::Unknown(id))?;
        let backup = o.backup.clone();
        self.move_to(id, (canonical(hops), backup), out)
    }

    /// Makes object `id` ask for `want`: re-pointed in the kernel if it forwards elsewhere,
    /// refiled either way.
    fn move_to(&mut self, id: u32, want: Want, out: &mut Vec<NhAction>) -> Result<(), ObjectError> {
        let o = self.objects.get(&id).ok_or(ObjectError::Unknown(id))?;
        let (hops, backup) = want;
        let kind = match hops.len() {
            0 => return Err(ObjectError::Empty),
            1 => "gateway",
            _ => "group",
        };
        if o.kind() == "gateway" && kind == "group" {
            return Err(ObjectError::KindChange {
                id,
                is: "gateway",
                want: "group",
            });
        }
        let old = o.want();
        if o.hops == hops {
            self.objects.get_mut(&id).expect("object").backup = backup;
            self.refile(id, &old);
            return Ok(());
        }
        let old_members = o.members.clone();
        let group = o.kind() == "group";
        let members = if group {
            let m = self.members_for(&hops)?;
            for &mid in &m {
                self.ensure_installed(mid, out);
            }
            m
        } else {
            Vec::new()
        };
        let o = self.objects.get_mut(&id).expect("object");
        o.hops = hops;
        o.backup = backup;
        o.members = members;
        o.installed = true;
        out.push(NhAction::Install { id, spec: o.spec() });
        self.refile(id, &old);
        if !group {
            self.rekey_groups_of(id);
        }
        // Old members go after the group no longer names them.
        for m in old_members {
            if let Some(mo) = self.objects.get_mut(&m) {
                mo.groups -= 1;
                if mo.groups == 0 && mo.routes == 0 {
                    self.unused.push(m);
                }
            }
        }
        Ok(())
    }

    /// The next hops in `dead` are gone (their peer was declared dead): every object routes
    /// use moves by [`fail_over`], so each of their routes forwards to its backup after one
    /// kernel operation per object, and none per route. Objects left with nothing to forward
    /// to stay as they are, for the RIB to delete their routes.
    pub fn fail_over(
        &mut self,
        dead: &HashSet<KernelNextHop>,
        out: &mut Vec<NhAction>,
    ) -> FailOver {
        let mut done = FailOver::default();
        let ids: Vec<u32> = (self.objects.iter())
            .filter(|(_, o)| o.routes > 0)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let o = &self.objects[&id];
            let Some(want) = fail_over(&o.hops, &o.backup, dead) else {
                continue;
            };
            let routes = o.routes;
            if want.0.is_empty() {
                done.stranded += routes;
                continue;
            }
            let moves = want.0 != o.hops;
            match self.move_to(id, want, out) {
                Ok(()) if moves => {
                    done.moved += 1;
                    done.routes += routes;
                }
                Ok(()) => done.rekeyed += 1,
                Err(e) => {
                    tracing::warn!(id, error = %e, "nexthop object could not fail over");
                    done.stranded += routes;
                }
            }
        }
        done
    }

    /// Groups with member `id` forward to their members' next hops: after a member moved,
    /// file them under the set they now forward to.
    fn rekey_groups_of(&mut self, id: u32) {
        let groups: Vec<u32> = (self.objects.iter())
            .filter(|(_, o)| o.members.contains(&id))
            .map(|(g, _)| *g)
            .collect();
        for g in groups {
            let members = self.objects[&g].members.clone();
            let hops: Vec<KernelNextHop> = members
                .iter()
                .filter_map(|m| self.objects.get(m))
                .flat_map(|m| m.hops.iter().cloned())
                .collect();
            let group = self.objects.get_mut(&g).expect("group");
            let old = group.want();
            group.hops = canonical(&hops);
            self.refile(g, &old);
        }
    }

    /// The object new routes through `hops` (with no backup) would use, if there is one.
    pub fn id_for(&self, hops: &[KernelNextHop]) -> Option<u32> {
        self.by_want.get(&(canonical(hops), Vec::new())).copied()
    }

    /// The object route `key` uses, if any.
    pub fn route_object(&self, key: &RouteKey) -> Option<u32> {
        self.routes.get(key)
    }

    /// Takes over an earlier run's objects found in the kernel (`dump`: every object of the
    /// namespace) and the routes using them (`routes`: our routes' keys and `RTA_NH_ID`s):
    /// ours are kept with their ids and counts, anyone else's ids in our range are avoided.
    /// Objects no route uses are left for the next [`Objects::collect`] to delete.
    pub fn adopt(&mut self, dump: &[NexthopMessage], routes: &[(RouteKey, u32)]) {
        let mut groups = Vec::new();
        for m in dump {
            let Some(id) = m.id() else { continue };
            if !self.in_range(id) {
                continue;
            }
            if m.protocol != self.protocol {
                self.taken.insert(id);
                continue;
            }
            if !m.members().is_empty() {
                groups.push((id, m.members().iter().map(|g| g.id).collect::<Vec<_>>()));
                continue;
            }
            // A blackhole or gateway-less object of ours: adopted without next hops, so
            // nothing new uses it and it goes once its routes are gone.
            let hops = match (m.gateway_addr(), m.oif()) {
                (Some(gateway), Some(ifindex)) => vec![KernelNextHop {
                    gateway,
                    ifindex,
                    onlink: m.onlink(),
                }],
                _ => Vec::new(),
            };
            self.adopt_one(id, hops, Vec::new());
        }
        for (id, members) in groups {
            let mut hops = Vec::new();
            for m in &members {
                match self.objects.get_mut(m) {
                    Some(mo) => {
                        mo.groups += 1;
                        hops.extend(mo.hops.iter().cloned());
                    }
                    // A member that is not ours: keep the group off `by_want`.
                    None => hops.clear(),
                }
            }
            let hops = if hops.len() == members.len() {
                canonical(&hops)
            } else {
                Vec::new()
            };
            self.adopt_one(id, hops, members);
        }
        for (key, id) in routes {
            if let Some(o) = self.objects.get_mut(id) {
                o.routes += 1;
                self.routes.insert(*key, *id);
            }
        }
        let mut next = self.base;
        for (&id, o) in &self.objects {
            if o.routes == 0 && o.groups == 0 {
                self.unused.push(id);
            }
            next = next.max(id.wrapping_add(1));
        }
        self.cursor = if self.in_range(next) { next } else { self.base };
    }

    /// An earlier run's object: the kernel does not know its backup, so it has none.
    fn adopt_one(&mut self, id: u32, hops: Vec<KernelNextHop>, members: Vec<u32>) {
        if !hops.is_empty() {
            self.by_want.entry((hops.clone(), Vec::new())).or_insert(id);
        }
        self.objects
            .insert(id, Object::new((hops, Vec::new()), members, true));
    }

    /// Compares with a fresh dump of the kernel's objects: one missing is no longer
    /// installed (and if routes used it, the kernel took them along: it is lost), one that
    /// forwards elsewhere than we said (replaced by someone, or a group that lost a member
    /// whose device went down) is to be installed again. Returns how many differ.
    pub fn reconcile(&mut self, dump: &[NexthopMessage]) -> usize {
        let present: HashMap<u32, &NexthopMessage> =
            dump.iter().filter_map(|m| Some((m.id()?, m))).collect();
        let mut differ = 0;
        for (id, o) in self.objects.iter_mut() {
            if !o.installed {
                continue;
            }
            let same = match present.get(id) {
                None => {
                    o.lost |= o.routes > 0;
                    false
                }
                Some(m) if o.members.is_empty() => {
                    o.hops.first().is_some_and(|h| {
                        m.gateway_addr() == Some(h.gateway)
                            && m.oif() == Some(h.ifindex)
                            && m.onlink() == h.onlink
                    }) || o.hops.is_empty()
                }
                Some(m) => {
                    let mut k: Vec<u32> = m.members().iter().map(|g| g.id).collect();
                    let mut w = o.members.clone();
                    k.sort_unstable();
                    w.sort_unstable();
                    k == w
                }
            };
            if !same {
                o.installed = false;
                differ += 1;
            }
        }
        differ
    }

    /// Puts back what `reconcile` found missing or changed, for objects routes still use:
    /// appends the installs, and returns the objects whose routes the kernel removed (the
    /// caller installs those routes again; see [`Objects::routes_of`]).
    pub fn restore(&mut self, out: &mut Vec<NhAction>) -> Vec<u32> {
        let ids: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, o)| !o.installed && (o.routes > 0 || o.groups > 0) && !o.hops.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.ensure_installed(id, out);
        }
        let lost: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, o)| o.lost)
            .map(|(id, _)| *id)
            .collect();
        for id in &lost {
            self.objects.get_mut(id).expect("object").lost = false;
        }
        lost
    }

    /// Object `id`'s routes are gone from the kernel and it could not be put back yet.
    pub fn mark_lost(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.lost = o.routes > 0;
        }
    }

    /// Number of routes using an object in `table`.
    pub fn route_count_in(&self, table: u32) -> usize {
        self.routes.iter().filter(|(k, _)| k.table == table).count()
    }

    /// The routes using object `id` (a scan: for repairs, not for the hot path).
    pub fn routes_of(&self, id: u32) -> Vec<RouteKey> {
        let mut v: Vec<RouteKey> = (self.routes.iter())
            .filter(|(_, o)| *o == id)
            .map(|(k, _)| k)
            .collect();
        v.sort();
        v
    }

    /// The next hops object `id` forwards to.
    pub fn hops_of(&self, id: u32) -> Option<&[KernelNextHop]> {
        self.objects.get(&id).map(|o| o.hops.as_slice())
    }

    /// Every object, by id.
    pub fn list(&self) -> Vec<NexthopObject> {
        self.objects
            .iter()
            .map(|(&id, o)| NexthopObject {
                id,
                nexthops: o.hops.clone(),
                members: o.members.clone(),
                backup: o.backup.clone(),
                routes: o.routes,
                groups: o.groups,
                installed: o.installed,
            })
            .collect()
    }

    /// Forgets every object and route (after they were all deleted from the kernel).
    pub fn clear(&mut self) {
        self.objects.clear();
        self.by_want.clear();
        self.routes.clear();
        self.unused.clear();
        self.cursor = self.base;
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Number of routes using an object.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
