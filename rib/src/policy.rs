//! Import and export policy: ordered rules that match a route and accept,
//! reject or change it.
//!
//! A peer's `import`/`export` is a chain of named policies. Each policy's
//! rules are tried in order; the first rule whose match succeeds and whose
//! action is `accept` or `reject` decides. A `next` rule applies its `set`
//! and evaluation goes on with the following rule, which sees the changed
//! route. A policy that no rule decides hands the route to the next policy
//! in the chain, and a route that falls off the end of the chain is
//! rejected. An empty chain rejects everything: eBGP without configured
//! policy neither imports nor exports (RFC 8212 §3).
//!
//! [`Chain::evaluate`] is a pure function of the route and a [`Context`];
//! the attributes it returns are borrowed unless a `set` changed them, so a
//! full table through rules without `set` costs no copies.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use bgp::wire::{Afi, Community, LargeCommunity, PathAttributes};
use ipnet::IpNet;

mod patterns;
pub use patterns::{AsPathRegex, AsPathRegexError, CommunityPattern, CommunityPatternError};

/// What a matching rule does with the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Reject,
    /// Apply the rule's `set` and go on with the next rule.
    Next,
}

/// A prefix-list entry with FRR semantics: without `ge`/`le` the prefix must
/// be equal; with them its length must fall in `[ge or len, le or max]` and
/// it must be inside `net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixMatch {
    pub net: IpNet,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

impl PrefixMatch {
    pub fn matches(&self, prefix: &IpNet) -> bool {
        let same_family = matches!(
            (self.net, prefix),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family || !self.net.contains(prefix) {
            return false;
        }
        let len = prefix.prefix_len();
        if self.ge.is_none() && self.le.is_none() {
            return len == self.net.prefix_len();
        }
        let low = self.ge.unwrap_or(self.net.prefix_len());
        let high = self.le.unwrap_or(self.net.max_prefix_len());
        (low..=high).contains(&len)
    }
}

/// Why a prefix-match string does not parse; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixMatchError {
    #[error("empty prefix")]
    Empty,
    #[error("`{0}` is not a prefix (expected e.g. 198.19.0.0/16)")]
    BadPrefix(String),
    #[error("`{0}` has host bits set (did you mean {1}?)")]
    HostBits(String, IpNet),
    #[error("unexpected `{0}` (expected `ge N` or `le N`)")]
    BadQualifier(String),
    #[error("`{0}` given twice")]
    Repeated(String),
    #[error("`{0}` needs a length")]
    MissingLength(String),
    #[error("`{0} {1}`: length must be 0..={2}")]
    BadLength(String, String, u8),
    #[error("`{0} {1}` is shorter than the prefix length {2}")]
    ShorterThanPrefix(&'static str, u8, u8),
    #[error("`ge {0}` is greater than `le {1}`")]
    GeAboveLe(u8, u8),
}

impl FromStr for PrefixMatch {
    type Err = PrefixMatchError;

    /// Parses `198.19.0.0/16`, `198.19.0.0/16 le 32`, `10.0.0.0/8 ge 24 le 32`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut words = s.split_whitespace();
        let first = words.next().ok_or(PrefixMatchError::Empty)?;
        let net: IpNet = first
            .parse()
            .map_err(|_| PrefixMatchError::BadPrefix(first.to_string()))?;
        if net.trunc() != net {
            return Err(PrefixMatchError::HostBits(first.to_string(), net.trunc()));
        }
        let max = net.max_prefix_len();
        let (mut ge, mut le) = (None, None);
        while let Some(word) = words.next() {
            let slot = match word {
                "ge" => &mut ge,
                "le" => &mut le,
                other => return Err(PrefixMatchError::BadQualifier(other.to_string())),
            };
            if slot.is_some() {
                return Err(PrefixMatchError::Repeated(word.to_string()));
            }
            let n = words
                .next()
                .ok_or_else(|| PrefixMatchError::MissingLength(word.to_string()))?;
            let value =
                n.parse::<u8>().ok().filter(|v| *v <= max).ok_or_else(|| {
                    PrefixMatchError::BadLength(word.to_string(), n.to_string(), max)
                })?;
            *slot = Some(value);
        }
        let len = net.prefix_len();
        if let Some(ge) = ge.filter(|ge| *ge < len) {
            return Err(PrefixMatchError::ShorterThanPrefix("ge", ge, len));
        }
        if let Some(le) = le {
            if le < len {
                return Err(PrefixMatchError::ShorterThanPrefix("le", le, len));
            }
            if let Some(ge) = ge.filter(|ge| *ge > le) {
                return Err(PrefixMatchError::GeAboveLe(ge, le));
            }
        }
        Ok(PrefixMatch { net, ge, le })
    }
}

impl fmt::Display for PrefixMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.net)?;
        if let Some(ge) = self.ge {
            write!(f, " ge {ge}")?;
        }
        if let Some(le) = self.le {
            write!(f, " le {le}")?;
        }
        Ok(())
    }
}

/// The entries of one or more prefix sets, matched like one prefix-list
/// (any entry). Long lists (IRR-generated ones run to thousands) are looked
/// up through a hash of entry networks, one probe per distinct entry
/// length, instead of a scan per route.
#[derive(Debug, Clone, Default)]
pub struct PrefixList {
    entries: Vec<PrefixMatch>,
    /// Entry network -> (lowest, highest) accepted lengths; empty for
    /// short lists, which are scanned.
    index: HashMap<IpNet, Vec<(u8, u8)>>,
    /// Distinct entry network lengths per family (IPv4, IPv6), ascending.
    lengths: [Vec<u8>; 2],
}

/// Below this many entries a scan is as fast as the index.
const INDEX_FROM: usize = 16;

impl PrefixList {
    pub fn new(entries: Vec<PrefixMatch>) -> PrefixList {
        let mut list = PrefixList {
            entries,
            ..PrefixList::default()
        };
        if list.entries.len() >= INDEX_FROM {
            for e in &list.entries {
                let len = e.net.prefix_len();
                let (lo, hi) = match (e.ge, e.le) {
                    (None, None) => (len, len),
                    (ge, le) => (ge.unwrap_or(len), le.unwrap_or(e.net.max_prefix_len())),
                };
                list.index.entry(e.net).or_default().push((lo, hi));
                let lengths = &mut list.lengths[matches!(e.net, IpNet::V6(_)) as usize];
                if !lengths.contains(&len) {
                    lengths.push(len);
                }
            }
            list.lengths.iter_mut().for_each(|l| l.sort_unstable());
        }
        list
    }

    pub fn entries(&self) -> &[PrefixMatch] {
        &self.entries
    }

    pub fn matches(&self, prefix: &IpNet) -> bool {
        if self.index.is_empty() {
            return self.entries.iter().any(|e| e.matches(prefix));
        }
        let len = prefix.prefix_len();
        let lengths = &self.lengths[matches!(prefix, IpNet::V6(_)) as usize];
        lengths.iter().take_while(|l| **l <= len).any(|&l| {
            // `l <= len` keeps `with_prefix` from failing.
            let net = match prefix {
                IpNet::V4(n) => IpNet::V4(ipnet::Ipv4Net::new(n.addr(), l).unwrap().trunc()),
                IpNet::V6(n) => IpNet::V6(ipnet::Ipv6Net::new(n.addr(), l).unwrap().trunc()),
            };
            self.index
                .get(&net)
                .is_some_and(|r| r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&len)))
        })
    }
}

impl PartialEq for PrefixList {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for PrefixList {}

/// A standard (RFC 1997) or large (RFC 8092) community as written in a
/// policy: `65000:1`, a well-known name (`no-export`), or `65000:0:1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommunityValue {
    Standard(Community),
    Large(LargeCommunity),
}

/// Why a community string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    #[error(
        "`{0}` is not a community (expected ASN:VALUE like 65000:1, GLOBAL:LOCAL1:LOCAL2 \
         like 65000:0:1, or one of no-export, no-advertise, no-export-subconfed, \
         blackhole, graceful-shutdown)"
    )]
    Bad(String),
    #[error(
        "`{0}`: {1} does not fit in 16 bits (a standard community is two 16-bit halves; \
         write a large community GLOBAL:LOCAL1:LOCAL2 for a 4-octet ASN)"
    )]
    Overflow(String, String),
}

/// Well-known communities by FRR's names (`local-AS` is NO_EXPORT_SUBCONFED).
const WELL_KNOWN: [(&str, Community); 6] = [
    ("no-export", Community::NO_EXPORT),
    ("no-advertise", Community::NO_ADVERTISE),
    ("no-export-subconfed", Community::NO_EXPORT_SUBCONFED),
    ("local-as", Community::NO_EXPORT_SUBCONFED),
    ("blackhole", Community::BLACKHOLE),
    ("graceful-shutdown", Community::GRACEFUL_SHUTDOWN),
];

impl FromStr for CommunityValue {
    type Err = CommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((_, c)) = WELL_KNOWN.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(CommunityValue::Standard(*c));
        }
        let bad = || CommunityError::Bad(s.to_string());
        let parts: Vec<&str> = s.split(':').collect();
        let num = |p: &str| -> Result<u32, CommunityError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u32>().map_err(|_| bad())
        };
        match parts.as_slice() {
            [hi, lo] => {
                let (h, l) = (num(hi)?, num(lo)?);
                for (text, v) in [(hi, h), (lo, l)] {
                    if v > 0xffff {
                        return Err(CommunityError::Overflow(s.to_string(), text.to_string()));
                    }
                }
                Ok(CommunityValue::Standard(Community(h << 16 | l)))
            }
            [g, l1, l2] => Ok(CommunityValue::Large(LargeCommunity {
                global: num(g)?,
                local1: num(l1)?,
                local2: num(l2)?,
            })),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CommunityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommunityValue::Standard(c) => write!(f, "{c}"),
            CommunityValue::Large(l) => write!(f, "{}:{}:{}", l.global, l.local1, l.local2),
        }
    }
}

/// A list of communities of both kinds (a `community_sets:` entry, a
/// `community:` match, or one list of a `communities:` edit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Communities {
    pub standard: Vec<Community>,
    pub large: Vec<LargeCommunity>,
    /// Wildcards (`65001:*`, `*:100`, `65001:*:*`): for matching and
    /// removing only; a `set` cannot add a pattern.
    pub patterns: Vec<CommunityPattern>,
}

impl Communities {
    /// Adds `v` unless already present.
    pub fn push(&mut self, v: CommunityValue) {
        match v {
            CommunityValue::Standard(c) if !self.standard.contains(&c) => self.standard.push(c),
            CommunityValue::Large(l) if !self.large.contains(&l) => self.large.push(l),
            _ => {}
        }
    }

    /// Adds the wildcard `p` unless already present.
    pub fn push_pattern(&mut self, p: CommunityPattern) {
        if !self.patterns.contains(&p) {
            self.patterns.push(p);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.standard.is_empty() && self.large.is_empty() && self.patterns.is_empty()
    }

    /// Whether `c` is one of these values or matches one of the wildcards.
    fn has_standard(&self, c: &Community) -> bool {
        self.standard.contains(c) || self.patterns.iter().any(|p| p.matches_standard(*c))
    }

    fn has_large(&self, l: &LargeCommunity) -> bool {
        self.large.contains(l) || self.patterns.iter().any(|p| p.matches_large(l))
    }

    /// Whether the route carries at least one of these.
    fn any_in(&self, attrs: &PathAttributes) -> bool {
        attrs.communities.iter().any(|c| self.has_standard(c))
            || attrs.large_communities().iter().any(|l| self.has_large(l))
    }
}

impl FromIterator<CommunityValue> for Communities {
    fn from_iter<I: IntoIterator<Item = CommunityValue>>(iter: I) -> Self {
        let mut out = Communities::default();
        for v in iter {
            out.push(v);
        }
        out
    }
}

/// The conditions of a rule besides `prefix:`; an absent one holds, the
/// present ones must all hold. Named sets are already expanded, so two
/// rules compare equal exactly when they behave the same (a reload diffs
/// policies by value and so sees a changed set as a changed policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// `prefix_set:`: the prefix matches an entry of one of the named sets.
    pub prefix_set: Option<PrefixList>,
    /// `origin_as:`: the last AS of the AS_PATH is one of these (our own AS
    /// for a route with an empty AS_PATH, i.e. one we originate).
    pub origin_as: Option<Vec<u32>>,
    /// `as_path_len:` bounds, inclusive (RFC 4271 §9.1.2.2 a length).
    pub as_path_len: Option<(u32, u32)>,
    /// `as_path_contains:`: one of these ASNs is in the AS_PATH.
    pub as_path_contains: Option<Vec<u32>>,
    /// `as_path:`: one of these regular expressions matches the AS_PATH.
    pub as_path: Option<Vec<AsPathRegex>>,
    /// `community:`: the route carries one of these.
    pub community: Option<Communities>,
    /// `peer:`: the neighbour is one of these (by config name).
    pub peer: Option<Vec<String>>,
    /// `afi:`: the prefix is of this family.
    pub afi: Option<Afi>,
}

impl Match {
    fn holds(&self, prefix: &IpNet, attrs: &PathAttributes, cx: &Context) -> bool {
        if self.afi.is_some_and(|a| a != afi_of(prefix)) {
            return false;
        }
        if let Some(peers) = &self.peer
            && !peers.iter().any(|p| p == cx.peer)
        {
            return false;
        }
        if let Some(set) = &self.prefix_set
            && !set.matches(prefix)
        {
            return false;
        }
        if let Some(asns) = &self.origin_as {
            let origin = if attrs.as_path.is_empty() {
                Some(cx.local_as)
            } else {
                attrs.as_path.origin_as()
            };
            if !origin.is_some_and(|o| asns.contains(&o)) {
                return false;
            }
        }
        if let Some((ge, le)) = self.as_path_len {
            let len = attrs.as_path.len() as u32;
            if len < ge || len > le {
                return false;
            }
        }
        if let Some(asns) = &self.as_path_contains
            && !asns.iter().any(|a| attrs.as_path.contains(*a))
        {
            return false;
        }
        if let Some(res) = &self.as_path
            && !res.iter().any(|r| r.is_match(&attrs.as_path))
        {
            return false;
        }
        if let Some(c) = &self.community
            && !c.any_in(attrs)
        {
            return false;
        }
        true
    }
}

/// `communities:` of a `set:`: applied replace, then remove, then add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommunityEdit {
    /// The route's communities (both kinds) become exactly these.
    pub replace: Option<Communities>,
    pub remove: Communities,
    pub add: Communities,
}

impl CommunityEdit {
    pub fn is_empty(&self) -> bool {
        self.replace.is_none() && self.remove.is_empty() && self.add.is_empty()
    }
}

/// What a rule's `set:` changes. Applied in field order; only a field that
/// really changes the route makes a copy of its attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetActions {
    /// LOCAL_PREF, import only (it is not sent to eBGP peers).
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC: on import it takes part in best path, on export it is sent.
    pub med: Option<u32>,
    /// Prepend our AS this many times (FRR's `set as-path prepend`).
    pub prepend: u8,
    pub communities: CommunityEdit,
    /// The BGP next hop (for routes of its family; others keep theirs).
    pub next_hop: Option<IpAddr>,
    /// The kernel table the route is installed in when it is the best
    /// path (import only; `None`: the writer's `kernel.table`).
    pub table: Option<u32>,
}

/// The most `set: {prepend: N}` may ask for.
pub const MAX_PREPEND: u32 = 32;

/// One rule: all given conditions must hold (an absent condition holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `prefix:`: the prefix must match one of these; empty means any prefix.
    pub prefixes: Vec<PrefixMatch>,
    /// Every other condition.
    pub matches: Match,
    pub action: Action,
    /// Applied when the rule matches and its action is `accept` or `next`.
    pub set: Option<Box<SetActions>>,
}

impl Rule {
    /// A rule on prefixes only, without `set`.
    pub fn new(prefixes: Vec<PrefixMatch>, action: Action) -> Rule {
        Rule {
            prefixes,
            matches: Match::default(),
            action,
            set: None,
        }
    }

    /// Whether the `prefix:` condition holds.
    pub fn matches_prefix(&self, prefix: &IpNet) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.matches(prefix))
    }

    /// Whether this rule applies to the route.
    pub fn matches(&self, prefix: &IpNet, attrs: &PathAttributes, cx: &Context) -> bool {
        self.matches_prefix(prefix) && self.matches.holds(prefix, attrs, cx)
    }
}

/// A named policy: an ordered list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// What a chain is evaluated against besides the route itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The neighbour whose chain this is (config name): the sender on
    /// import, the receiver on export.
    pub peer: &'a str,
    /// Our AS: prepended by `set: {prepend: N}`, and the origin AS of routes
    /// we originate.
    pub local_as: u32,
}

/// A route a chain accepted, with what its `set:` actions changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted<'a> {
    /// Borrowed unless a `set` changed something: no copy for plain routes.
    pub attrs: Cow<'a, PathAttributes>,
    /// `set: {next_hop}` of the route's family.
    pub next_hop: Option<IpAddr>,
    /// A `set: {med}` applied (export sends it instead of dropping MED).
    pub med_set: bool,
    /// `set: {table}`: the kernel table of the route (import only).
    pub table: Option<u32>,
}

impl Accepted<'_> {
    fn apply(&mut self, set: &SetActions, prefix: &IpNet, cx: &Context) {
        if let Some(lp) = set.local_pref
            && self.attrs.local_pref != Some(lp)
        {
            self.attrs.to_mut().local_pref = Some(lp);
        }
        if let Some(med) = set.med {
            self.med_set = true;
            if self.attrs.med != Some(med) {
                self.attrs.to_mut().med = Some(med);
            }
        }
        if set.prepend > 0 {
            let a = self.attrs.to_mut();
            a.as_path.prepend(cx.local_as, set.prepend as usize);
        }
        edit_communities(&mut self.attrs, &set.communities);
        if let Some(nh) = set.next_hop
            && nh.is_ipv4() == matches!(prefix, IpNet::V4(_))
        {
            self.next_hop = Some(nh);
        }
        if set.table.is_some() {
            self.table = set.table;
        }
    }
}

fn edit_communities(attrs: &mut Cow<'_, PathAttributes>, edit: &CommunityEdit) {
    if edit.is_empty() {
        return;
    }
    if let Some(r) = &edit.replace
        && (attrs.communities != r.standard || attrs.large_communities() != r.large)
    {
        let a = attrs.to_mut();
        a.communities = r.standard.clone();
        *a.large_communities_mut() = r.large.clone();
        a.shrink_rare();
    }
    let rm = &edit.remove;
    if attrs.communities.iter().any(|c| rm.has_standard(c)) {
        attrs.to_mut().communities.retain(|c| !rm.has_standard(c));
    }
    if attrs.large_communities().iter().any(|l| rm.has_large(l)) {
        let a = attrs.to_mut();
        a.large_communities_mut().retain(|l| !rm.has_large(l));
        a.shrink_rare();
    }
    let add = &edit.add;
    for c in &add.standard {
        if !attrs.communities.contains(c) {
            attrs.to_mut().communities.push(*c);
        }
    }
    for l in &add.large {
        if !attrs.large_communities().contains(l) {
            attrs.to_mut().large_communities_mut().push(*l);
        }
    }
}

fn afi_of(prefix: &IpNet) -> Afi {
    match prefix {
        IpNet::V4(_) => Afi::Ipv4,
        IpNet::V6(_) => Afi::Ipv6,
    }
}

/// A peer's import or export chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain(pub Vec<Arc<Policy>>);

impl Chain {
    /// Runs the chain over a route: `None` if it is rejected (RFC 8212
    /// default deny at the end), else the route as the `set`s left it.
    /// Rules see the changes of earlier `next` rules. Pure: the caller
    /// interns changed attributes.
    pub fn evaluate<'a>(
        &self,
        prefix: &IpNet,
        attrs: &'a PathAttributes,
        cx: &Context,
    ) -> Option<Accepted<'a>> {
        let mut out = Accepted {
            attrs: Cow::Borrowed(attrs),
            next_hop: None,
            med_set: false,
            table: None,
        };
        for policy in &self.0 {
            for rule in &policy.rules {
                if !rule.matches(prefix, &out.attrs, cx) {
                    continue;
                }
                if rule.action == Action::Reject {
                    return None;
                }
                if let Some(set) = &rule.set {
                    out.apply(set, prefix, cx);
                }
                if rule.action == Action::Accept {
                    return Some(out);
                }
            }
        }
        None
    }

    /// Whether a route with no attributes is accepted: enough for chains
    /// that only look at prefixes (tests, `import frr`).
    pub fn accepts(&self, prefix: &IpNet) -> bool {
        let cx = Context {
            peer: "",
            local_as: 0,
        };
        self.evaluate(prefix, &PathAttributes::default(), &cx)
            .is_some()
    }

    /// An empty chain blocks everything (FRR shows such a peer as "(Policy)").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if the chain rejects every route whatever its prefix and
    /// attributes: no `accept` rule comes before a rule that rejects
    /// unconditionally (or before the end, RFC 8212's default deny).
    /// `next` rules only change routes for later rules, so they cannot
    /// let anything through on their own. The RIB exports nothing, and
    /// does no work per prefix, for a peer whose export chain is such.
    pub fn rejects_everything(&self) -> bool {
        for rule in self.0.iter().flat_map(|p| &p.rules) {
            match rule.action {
                Action::Accept => return false,
                Action::Reject if rule.prefixes.is_empty() && rule.matches == Match::default() => {
                    return true;
                }
                Action::Reject | Action::Next => {}
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(s: &str) -> PrefixMatch {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// Asserts that `pattern` matches each of `inside` and none of `outside`.
    fn assert_matches(pattern: &str, inside: &[&str], outside: &[&str]) {
        let m = pm(pattern);
        for p in inside {
            assert!(m.matches(&net(p)), "{pattern} should match {p}");
        }
        for p in outside {
            assert!(!m.matches(&net(p)), "{pattern} should not match {p}");
        }
    }

    fn chain(rules: Vec<Rule>) -> Chain {
        Chain(vec![Arc::new(Policy {
            name: "p".into(),
            rules,
        })])
    }

    #[test]
    fn rejects_everything_only_without_an_accept_before_an_unconditional_reject() {
        assert!(Chain(Vec::new()).rejects_everything());
        assert!(chain(vec![Rule::new(Vec::new(), Action::Reject)]).rejects_everything());
        // Default deny at the end: only conditional rejects and `next`.
        assert!(
            chain(vec![
                Rule::new(vec![pm("198.19.0.0/16")], Action::Reject),
                Rule::new(Vec::new(), Action::Next),
            ])
            .rejects_everything()
        );
        assert!(!chain(vec![Rule::new(Vec::new(), Action::Accept)]).rejects_everything());
        // A conditional accept lets some routes through.
        let some = chain(vec![
            Rule::new(vec![pm("198.19.0.0/16")], Action::Accept),
            Rule::new(Vec::new(), Action::Reject),
        ]);
        assert!(!some.rejects_everything());
        assert!(some.accepts(&net("198.19.0.0/16")));
        // An accept after an unconditional reject is never reached.
        let late = chain(vec![
            Rule::new(Vec::new(), Action::Reject),
            Rule::new(Vec::new(), Action::Accept),
        ]);
        assert!(late.rejects_everything());
        assert!(!late.accepts(&net("198.19.0.0/16")));
        // A reject with any other condition is conditional.
        let mut only_v6 = Rule::new(Vec::new(), Action::Reject);
        only_v6.matches.afi = Some(Afi::Ipv6);
        let v4_passes = chain(vec![only_v6, Rule::new(Vec::new(), Action::Accept)]);
        assert!(!v4_passes.rejects_everything());
        assert!(v4_passes.accepts(&net("198.19.0.0/16")));
    }

    #[test]
    fn exact_match_without_bounds() {
        assert_matches(
            "198.19.0.0/16",
            &["198.19.0.0/16"],
            &["198.19.0.0/24", "198.18.0.0/16"],
        );
    }

    #[test]
    fn le_admits_longer_prefixes_inside() {
        assert_matches(
            "198.19.0.0/16 le 32",
            &["198.19.0.0/16", "198.19.0.1/32"],
            &["198.18.0.1/32", "198.0.0.0/8"],
        );
    }

    #[test]
    fn ge_and_le_bound_both_ends() {
        assert_matches(
            "10.0.0.0/8 ge 24 le 28",
            &["10.1.2.0/24", "10.1.2.16/28"],
            &["10.1.0.0/16", "10.1.2.1/32"],
        );
    }

    #[test]
    fn families_never_cross() {
        assert_matches("0.0.0.0/0 le 32", &[], &["::/0", "fd00::/64"]);
        assert_matches("fd00::/8 le 128", &["fd00::1/128"], &[]);
    }

    #[test]
    fn bad_strings_are_rejected_with_reasons() {
        let err = |s: &str| s.parse::<PrefixMatch>().unwrap_err();
        assert_eq!(
            err("198.19.0.1/16"),
            PrefixMatchError::HostBits("198.19.0.1/16".into(), net("198.19.0.0/16"))
        );
        assert!(
            err("198.19.0.1/16")
                .to_string()
                .contains("did you mean 198.19.0.0/16")
        );
        assert_eq!(
            err("nonsense"),
            PrefixMatchError::BadPrefix("nonsense".into())
        );
        assert_eq!(err(""), PrefixMatchError::Empty);
        assert_eq!(
            err("10.0.0.0/8 lt 9"),
            PrefixMatchError::BadQualifier("lt".into())
        );
        assert_eq!(
            err("10.0.0.0/8 le"),
            PrefixMatchError::MissingLength("le".into())
        );
        assert_eq!(
            err("10.0.0.0/8 le 24 le 25"),
            PrefixMatchError::Repeated("le".into())
        );
        assert_eq!(
            err("10.0.0.0/8 ge 30 le 24"),
            PrefixMatchError::GeAboveLe(30, 24)
        );
        assert!(matches!(
            err("10.0.0.0/8 le 33"),
            PrefixMatchError::BadLength(..)
        ));
        assert_eq!(
            err("10.0.0.0/8 ge 4"),
            PrefixMatchError::ShorterThanPrefix("ge", 4, 8)
        );
        assert_eq!(
            err("10.0.0.0/16 le 8"),
            PrefixMatchError::ShorterThanPrefix("le", 8, 16)
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "10.0.0.0/8",
            "10.0.0.0/8 ge 24",
            "10.0.0.0/8 ge 24 le 28",
            "fd00::/8 le 64",
        ] {
            assert_eq!(pm(s).to_string(), s);
        }
    }

    fn policy(name: &str, rules: Vec<Rule>) -> Arc<Policy> {
        Arc::new(Policy {
            name: name.into(),
            rules,
        })
    }

    #[test]
    fn empty_chain_rejects_everything_rfc8212() {
        assert!(!Chain::default().accepts(&net("198.19.0.1/32")));
    }

    #[test]
    fn first_matching_rule_decides_and_unmatched_falls_through_the_chain() {
        let local_only = policy(
            "local-only",
            vec![
                Rule::new(vec![pm("198.19.0.0/16 le 32")], Action::Accept),
                Rule::new(vec![pm("198.18.0.0/16 le 32")], Action::Reject),
            ],
        );
        let accept_all = policy("accept-all", vec![Rule::new(vec![], Action::Accept)]);
        let chain = Chain(vec![local_only.clone(), accept_all]);
        assert!(chain.accepts(&net("198.19.0.1/32")));
        assert!(!chain.accepts(&net("198.18.0.1/32")));
        assert!(
            chain.accepts(&net("203.0.113.0/24")),
            "falls through to accept-all"
        );
        assert!(
            !Chain(vec![local_only]).accepts(&net("203.0.113.0/24")),
            "end of chain rejects"
        );
    }

    fn attrs(path: &[u32]) -> PathAttributes {
        PathAttributes {
            as_path: bgp::wire::AsPath::from_sequence(path.iter().copied()),
            ..Default::default()
        }
    }

    fn cv(s: &str) -> CommunityValue {
        s.parse().unwrap()
    }

    fn comms(list: &[&str]) -> Communities {
        list.iter().map(|s| cv(s)).collect()
    }

    const CX: Context = Context {
        peer: "s2",
        local_as: 65500,
    };

    /// Whether a one-rule accept policy with `m` accepts the route.
    fn holds(m: Match, prefix: &str, a: &PathAttributes) -> bool {
        let rule = Rule {
            matches: m,
            ..Rule::new(vec![], Action::Accept)
        };
        Chain(vec![policy("p", vec![rule])])
            .evaluate(&net(prefix), a, &CX)
            .is_some()
    }

    #[test]
    fn prefix_set_matches_any_entry() {
        let m = Match {
            prefix_set: Some(PrefixList::new(vec![
                pm("198.19.0.0/16 le 24"),
                pm("fd00::/8 le 64"),
            ])),
            ..Match::default()
        };
        assert!(holds(m.clone(), "198.19.1.0/24", &attrs(&[65501])));
        assert!(holds(m.clone(), "fd00:1::/48", &attrs(&[65501])));
        assert!(!holds(m.clone(), "198.19.1.1/32", &attrs(&[65501])));
        assert!(!holds(m, "203.0.113.0/24", &attrs(&[65501])));
    }

    #[test]
    fn origin_as_is_the_last_as_or_ours_for_local_routes() {
        let m = Match {
            origin_as: Some(vec![65510]),
            ..Match::default()
        };
        assert!(holds(m.clone(), "10.0.0.0/8", &attrs(&[65501, 65510])));
        assert!(!holds(m.clone(), "10.0.0.0/8", &attrs(&[65510, 65501])));
        let ours = Match {
            origin_as: Some(vec![65500]),
            ..Match::default()
        };
        assert!(holds(ours.clone(), "10.0.0.0/8", &attrs(&[])));
        assert!(!holds(ours, "10.0.0.0/8", &attrs(&[65501])));
    }

    #[test]
    fn as_path_len_bounds_are_inclusive() {
        let m = Match {
            as_path_len: Some((2, 3)),
            ..Match::default()
        };
        assert!(!holds(m.clone(), "10.0.0.0/8", &attrs(&[65501])));
        assert!(holds(m.clone(), "10.0.0.0/8", &attrs(&[65501, 1])));
        assert!(holds(m.clone(), "10.0.0.0/8", &attrs(&[65501, 1, 2])));
        assert!(!holds(m, "10.0.0.0/8", &attrs(&[65501, 1, 2, 3])));
    }

    #[test]
    fn as_path_contains_any_listed_asn() {
        let m = Match {
            as_path_contains: Some(vec![174, 3356]),
            ..Match::default()
        };
        assert!(holds(
            m.clone(),
            "10.0.0.0/8",
            &attrs(&[65501, 3356, 65510])
        ));
        assert!(!holds(m, "10.0.0.0/8", &attrs(&[65501, 65510])));
    }

    #[test]
    fn as_path_regex_matches_any_listed_expression() {
        let m = Match {
            as_path: Some(vec![
                AsPathRegex::new("_65001$").unwrap(),
                AsPathRegex::new("^65002_").unwrap(),
            ]),
            ..Match::default()
        };
        assert!(holds(m.clone(), "10.0.0.0/8", &attrs(&[65501, 65001])));
        assert!(holds(m.clone(), "10.0.0.0/8", &attrs(&[65002, 7])));
        assert!(!holds(m.clone(), "10.0.0.0/8", &attrs(&[65001, 7])));
        assert!(!holds(m, "10.0.0.0/8", &attrs(&[7, 65002])));
    }

    #[test]
    fn community_wildcards_match_and_remove() {
        let mut with = attrs(&[65501]);
        with.communities = vec![Community(65001 << 16 | 7), Community(65003 << 16 | 100)];
        let mut wild = Communities::default();
        wild.push_pattern("65001:*".parse().unwrap());
        let m = Match {
            community: Some(wild.clone()),
            ..Match::default()
        };
        assert!(holds(m.clone(), "10.0.0.0/8", &with));
        assert!(!holds(m, "10.0.0.0/8", &attrs(&[65501])));
        let mut any_100 = Communities::default();
        any_100.push_pattern("*:100".parse().unwrap());
        let m = Match {
            community: Some(any_100.clone()),
            ..Match::default()
        };
        assert!(holds(m, "10.0.0.0/8", &with));

        // `remove: [65001:*, "*:*:5"]` strips matching ones, keeps the rest.
        wild.push_pattern("*:*:5".parse().unwrap());
        let mut a = with.clone();
        *a.large_communities_mut() = vec![
            LargeCommunity {
                global: 1,
                local1: 2,
                local2: 5,
            },
            LargeCommunity {
                global: 1,
                local1: 2,
                local2: 6,
            },
        ];
        let rule = Rule {
            set: Some(Box::new(SetActions {
                communities: CommunityEdit {
                    remove: wild,
                    ..Default::default()
                },
                ..Default::default()
            })),
            ..Rule::new(vec![], Action::Accept)
        };
        let out = Chain(vec![policy("p", vec![rule])])
            .evaluate(&net("10.0.0.0/8"), &a, &CX)
            .unwrap();
        assert_eq!(out.attrs.communities, vec![Community(65003 << 16 | 100)]);
        assert_eq!(
            out.attrs.large_communities(),
            &[LargeCommunity {
                global: 1,
                local1: 2,
                local2: 6
            }]
        );
    }

    #[test]
    fn community_matches_standard_and_large() {
        let m = Match {
            community: Some(comms(&["65000:1", "65000:0:7"])),
            ..Match::default()
        };
        let mut a = attrs(&[65501]);
        assert!(!holds(m.clone(), "10.0.0.0/8", &a));
        a.communities.push(Community(65000 << 16 | 1));
        assert!(holds(m.clone(), "10.0.0.0/8", &a));
        let mut b = attrs(&[65501]);
        b.large_communities_mut().push(LargeCommunity {
            global: 65000,
            local1: 0,
            local2: 7,
        });
        assert!(holds(m, "10.0.0.0/8", &b));
    }

    #[test]
    fn peer_and_afi_match_the_context_and_family() {
        let m = Match {
            peer: Some(vec!["s3".into(), "s2".into()]),
            afi: Some(Afi::Ipv6),
            ..Match::default()
        };
        assert!(holds(m.clone(), "fd00::/64", &attrs(&[65501])));
        assert!(!holds(m.clone(), "10.0.0.0/8", &attrs(&[65501])));
        let other = Match {
            peer: Some(vec!["s3".into()]),
            ..Match::default()
        };
        assert!(!holds(other, "fd00::/64", &attrs(&[65501])));
    }

    #[test]
    fn all_conditions_are_anded() {
        let rule = Rule {
            matches: Match {
                origin_as: Some(vec![65510]),
                ..Match::default()
            },
            ..Rule::new(vec![pm("10.0.0.0/8 le 24")], Action::Accept)
        };
        let chain = Chain(vec![policy("p", vec![rule])]);
        assert!(
            chain
                .evaluate(&net("10.1.0.0/16"), &attrs(&[65510]), &CX)
                .is_some()
        );
        assert!(
            chain
                .evaluate(&net("11.0.0.0/16"), &attrs(&[65510]), &CX)
                .is_none()
        );
        assert!(
            chain
                .evaluate(&net("10.1.0.0/16"), &attrs(&[65511]), &CX)
                .is_none()
        );
    }

    fn set_rule(set: SetActions, action: Action) -> Rule {
        Rule {
            set: Some(Box::new(set)),
            ..Rule::new(vec![], action)
        }
    }

    #[test]
    fn rules_without_set_borrow_the_attributes() {
        let a = attrs(&[65501]);
        let chain = Chain(vec![policy("p", vec![Rule::new(vec![], Action::Accept)])]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert!(matches!(got.attrs, Cow::Borrowed(_)));
        // A set that changes nothing does not copy either.
        let same = SetActions {
            med: Some(5),
            ..SetActions::default()
        };
        let mut b = attrs(&[65501]);
        b.med = Some(5);
        let chain = Chain(vec![policy("p", vec![set_rule(same, Action::Accept)])]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &b, &CX).unwrap();
        assert!(matches!(got.attrs, Cow::Borrowed(_)) && got.med_set);
    }

    #[test]
    fn set_local_pref_med_and_prepend() {
        let set = SetActions {
            local_pref: Some(200),
            med: Some(50),
            prepend: 2,
            ..SetActions::default()
        };
        let chain = Chain(vec![policy("p", vec![set_rule(set, Action::Accept)])]);
        let a = attrs(&[65501]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert_eq!(got.attrs.local_pref, Some(200));
        assert_eq!(got.attrs.med, Some(50));
        assert!(got.med_set);
        assert_eq!(got.attrs.as_path.to_string(), "65500 65500 65501");
    }

    #[test]
    fn set_communities_replace_then_remove_then_add() {
        let mut a = attrs(&[65501]);
        a.communities = vec![Community(1), Community(2)];
        let remove_add = SetActions {
            communities: CommunityEdit {
                replace: None,
                remove: comms(&["0:1"]),
                add: comms(&["65000:1", "65000:0:1", "0:2"]),
            },
            ..SetActions::default()
        };
        let chain = Chain(vec![policy(
            "p",
            vec![set_rule(remove_add, Action::Accept)],
        )]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert_eq!(
            got.attrs.communities,
            vec![Community(2), Community(65000 << 16 | 1)]
        );
        assert_eq!(got.attrs.large_communities(), comms(&["65000:0:1"]).large);
        let replace = SetActions {
            communities: CommunityEdit {
                replace: Some(comms(&["no-export"])),
                ..CommunityEdit::default()
            },
            ..SetActions::default()
        };
        let chain = Chain(vec![policy("p", vec![set_rule(replace, Action::Accept)])]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert_eq!(got.attrs.communities, vec![Community::NO_EXPORT]);
    }

    #[test]
    fn set_next_hop_only_for_its_family() {
        let set = SetActions {
            next_hop: Some("192.0.2.1".parse().unwrap()),
            ..SetActions::default()
        };
        let chain = Chain(vec![policy("p", vec![set_rule(set, Action::Accept)])]);
        let a = attrs(&[65501]);
        let v4 = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert_eq!(v4.next_hop, Some("192.0.2.1".parse().unwrap()));
        let v6 = chain.evaluate(&net("fd00::/64"), &a, &CX).unwrap();
        assert_eq!(v6.next_hop, None);
    }

    #[test]
    fn next_applies_set_and_later_rules_see_the_change() {
        // Rule 1 tags everything, rule 2 accepts what carries the tag.
        let tag = SetActions {
            communities: CommunityEdit {
                add: comms(&["65500:9"]),
                ..CommunityEdit::default()
            },
            ..SetActions::default()
        };
        let tagged = Rule {
            matches: Match {
                community: Some(comms(&["65500:9"])),
                ..Match::default()
            },
            ..Rule::new(vec![], Action::Accept)
        };
        let chain = Chain(vec![policy(
            "p",
            vec![set_rule(tag.clone(), Action::Next), tagged],
        )]);
        let a = attrs(&[65501]);
        let got = chain.evaluate(&net("10.0.0.0/8"), &a, &CX).unwrap();
        assert_eq!(got.attrs.communities, vec![Community(65500 << 16 | 9)]);
        // `next` alone never accepts: the end of the chain rejects.
        let only_next = Chain(vec![policy("p", vec![set_rule(tag, Action::Next)])]);
        assert!(
            only_next
                .evaluate(&net("10.0.0.0/8"), &attrs(&[65501]), &CX)
                .is_none()
        );
    }

    #[test]
    fn community_strings_parse_or_say_why_not() {
        assert_eq!(
            cv("65000:1"),
            CommunityValue::Standard(Community(65000 << 16 | 1))
        );
        assert_eq!(
            cv("no-export"),
            CommunityValue::Standard(Community::NO_EXPORT)
        );
        assert_eq!(
            cv("4200000000:0:1"),
            CommunityValue::Large(LargeCommunity {
                global: 4_200_000_000,
                local1: 0,
                local2: 1
            })
        );
        for s in ["65000:1", "65000:0:1"] {
            assert_eq!(cv(s).to_string(), s);
        }
        let err = |s: &str| s.parse::<CommunityValue>().unwrap_err();
        assert_eq!(
            err("65536:1"),
            CommunityError::Overflow("65536:1".into(), "65536".into())
        );
        assert_eq!(err("nonsense"), CommunityError::Bad("nonsense".into()));
        assert_eq!(err("1:2:3:4"), CommunityError::Bad("1:2:3:4".into()));
        assert_eq!(err("-1:2"), CommunityError::Bad("-1:2".into()));
        assert!(matches!(err("1:99999999999:1"), CommunityError::Bad(_)));
    }

    #[test]
    fn long_prefix_lists_use_the_index_and_agree_with_a_scan() {
        let mut entries: Vec<PrefixMatch> = (0..40u32)
            .map(|i| pm(&format!("10.{i}.0.0/16 le 24")))
            .collect();
        entries.push(pm("192.0.2.0/24"));
        entries.push(pm("0.0.0.0/0 ge 30 le 31"));
        entries.push(pm("fd00::/8 ge 48 le 64"));
        let list = PrefixList::new(entries.clone());
        assert!(!list.index.is_empty());
        for p in [
            "10.3.0.0/16",
            "10.3.4.0/24",
            "10.3.4.0/25",
            "10.41.0.0/16",
            "10.0.0.0/8",
            "192.0.2.0/24",
            "192.0.2.0/25",
            "203.0.113.4/30",
            "203.0.113.4/32",
            "fd00:1::/48",
            "fd00:1::/32",
            "fe00::/48",
        ] {
            let scan = entries.iter().any(|e| e.matches(&net(p)));
            assert_eq!(list.matches(&net(p)), scan, "{p}");
        }
        assert!(list.matches(&net("10.39.7.0/24")));
        assert!(!list.matches(&net("10.40.0.0/16")));
    }
}
