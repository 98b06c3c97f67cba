//! FRR route-maps and prefix-lists as wgbgp policies.
//!
//! FRR evaluates a route-map entry by entry: an entry matches when all its
//! `match ... prefix-list` clauses are *permitted* by their lists (first
//! matching list entry decides, no match is a deny), the first matching
//! entry's permit/deny decides, and a route no entry matches is denied.
//! A wgbgp policy is a flat first-match list of (prefix set, accept|reject).
//!
//! The translation is exact because the set of prefixes an entry of a
//! prefix-list matches (`net`, lengths `lo..=hi`) is closed under
//! intersection: walking the route-map, a list entry that denies sends its
//! prefixes on to the following route-map entries *restricted to that
//! entry's set*, and every restricted walk ends with a rule that rejects its
//! whole set, so nothing falls through to a rule it must not reach.

use std::collections::BTreeMap;

use ipnet::IpNet;
use rib::policy::{
    Action, AsPathRegex, Communities, CommunityPattern, CommunityValue, Match, PrefixMatch, Rule,
    SetActions,
};

use super::bgpd::{Bgpd, Family, PrefixListEntry, RouteMapEntry};

/// A set of prefixes: inside `net`, length in `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    net: IpNet,
    lo: u8,
    hi: u8,
}

impl Range {
    pub fn family(f: Family) -> Range {
        let net: IpNet = match f {
            Family::Ipv4 => "0.0.0.0/0".parse().unwrap(),
            Family::Ipv6 => "::/0".parse().unwrap(),
        };
        Range {
            net,
            lo: 0,
            hi: net.max_prefix_len(),
        }
    }

    fn of(e: &PrefixListEntry) -> Range {
        let len = e.net.prefix_len();
        let (lo, hi) = match (e.ge, e.le) {
            (None, None) => (len, len),
            (ge, le) => (ge.unwrap_or(len), le.unwrap_or(e.net.max_prefix_len())),
        };
        Range { net: e.net, lo, hi }
    }

    /// The prefixes in both sets; `None` if there are none.
    fn intersect(self, other: Range) -> Option<Range> {
        let (inner, outer) = if self.net.prefix_len() >= other.net.prefix_len() {
            (self, other)
        } else {
            (other, self)
        };
        if !outer.net.contains(&inner.net) {
            return None;
        }
        let lo = inner.lo.max(outer.lo).max(inner.net.prefix_len());
        let hi = inner.hi.min(outer.hi);
        (lo <= hi).then_some(Range {
            net: inner.net,
            lo,
            hi,
        })
    }

    /// Whether every prefix of `other` is in `self`.
    fn covers(self, other: Range) -> bool {
        self.net.contains(&other.net)
            && self.net.prefix_len() <= other.net.prefix_len()
            && self.lo <= other.lo
            && other.hi <= self.hi
    }

    pub fn to_prefix_match(self) -> PrefixMatch {
        let len = self.net.prefix_len();
        let max = self.net.max_prefix_len();
        let (ge, le) = if self.lo == len && self.hi == len {
            (None, None)
        } else {
            let ge = (self.lo > len).then_some(self.lo);
            let le = (self.hi < max || ge.is_none()).then_some(self.hi);
            (ge, le)
        };
        PrefixMatch {
            net: self.net,
            ge,
            le,
        }
    }
}

/// `None` is "any prefix".
type Constraint = Option<Range>;

fn meet(c: Constraint, r: Range) -> Option<Range> {
    match c {
        None => Some(r),
        Some(c) => c.intersect(r),
    }
}

/// Past this many rules the translation gives up (it is exponential in the
/// nesting of deny entries and multi-list matches, which real configs avoid).
const MAX_RULES: usize = 10_000;

/// A neighbor's filter in one direction: FRR applies the prefix-list, then
/// the route-map; both must permit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filter {
    pub prefix_list: Option<(Family, String)>,
    pub route_map: Option<String>,
}

/// Expands filters into rules, remembering what it had to assume.
pub struct Expander<'a> {
    pub bgpd: &'a Bgpd,
    /// Referenced but undefined route-maps and prefix-lists.
    pub missing: BTreeMap<String, ()>,
    rules: Vec<Pending>,
    overflow: bool,
}

/// A rule being built: prefixes, action, `set`, other conditions.
type Pending = (Constraint, Action, SetActions, Match);

impl<'a> Expander<'a> {
    pub fn new(bgpd: &'a Bgpd) -> Self {
        Expander {
            bgpd,
            missing: BTreeMap::new(),
            rules: Vec::new(),
            overflow: false,
        }
    }

    /// The rules of `filter` restricted to `within` (all prefixes if
    /// `None`); `Err` if the expansion is too large to be useful.
    pub fn expand(&mut self, filter: &Filter, within: Option<Family>) -> Result<Vec<Rule>, ()> {
        self.rules.clear();
        self.overflow = false;
        let c = within.map(Range::family);
        match &filter.prefix_list {
            Some(pl) => {
                let entries = self.prefix_list(pl);
                for e in &entries {
                    let Some(d) = meet(c, Range::of(e)) else {
                        continue;
                    };
                    if !e.permit {
                        self.push(Some(d), Action::Reject);
                    } else if let Some(rm) = &filter.route_map {
                        self.route_map(rm, Some(d));
                    } else {
                        self.push(Some(d), Action::Accept);
                    }
                }
                self.push(c, Action::Reject);
            }
            None => match &filter.route_map {
                Some(rm) => self.route_map(rm, c),
                None => self.push(c, Action::Accept),
            },
        }
        if self.overflow {
            return Err(());
        }
        Ok(simplify(std::mem::take(&mut self.rules)))
    }

    fn push(&mut self, c: Constraint, action: Action) {
        self.push_set(c, action, SetActions::default(), Match::default());
    }

    fn push_set(&mut self, c: Constraint, action: Action, set: SetActions, m: Match) {
        if self.rules.len() >= MAX_RULES {
            self.overflow = true;
            return;
        }
        self.rules.push((c, action, set, m));
    }

    /// The `match as-path` and `match community` clauses of an entry as a
    /// [`Match`]; `None` if wgbgp cannot say them exactly: a list with
    /// deny entries or an entry it cannot express, a missing list, or two
    /// lists of one kind (FRR wants both; a wgbgp list is "any of").
    fn entry_match(&mut self, e: &RouteMapEntry) -> Option<Match> {
        let mut m = Match::default();
        if e.as_path_lists.len() > 1 || e.community_lists.len() > 1 {
            return None;
        }
        if let Some(name) = e.as_path_lists.first() {
            let Some(list) = self.bgpd.as_path_lists.get(name) else {
                self.missing
                    .insert(format!("bgp as-path access-list {name}"), ());
                return None;
            };
            let res: Option<Vec<AsPathRegex>> = (list.iter())
                .map(|(permit, re)| permit.then(|| AsPathRegex::new(re).ok()).flatten())
                .collect();
            m.as_path = Some(res?);
        }
        if let Some(name) = e.community_lists.first() {
            let Some(list) = self.bgpd.community_lists.get(name) else {
                self.missing
                    .insert(format!("bgp community-list {name}"), ());
                return None;
            };
            let mut c = Communities::default();
            for entry in list {
                let v = entry.value.as_deref().filter(|_| entry.permit)?;
                if v.contains('*') {
                    c.push_pattern(v.parse::<CommunityPattern>().ok()?);
                } else {
                    c.push(v.parse::<CommunityValue>().ok()?);
                }
            }
            m.community = Some(c);
        }
        Some(m)
    }

    fn prefix_list(&mut self, (family, name): &(Family, String)) -> Vec<PrefixListEntry> {
        match self.bgpd.prefix_lists.get(&(*family, name.clone())) {
            Some(e) => e.clone(),
            None => {
                let kind = match family {
                    Family::Ipv4 => "ip",
                    Family::Ipv6 => "ipv6",
                };
                // FRR: a missing list permits nothing.
                self.missing
                    .insert(format!("{kind} prefix-list {name}"), ());
                Vec::new()
            }
        }
    }

    fn route_map(&mut self, name: &str, c: Constraint) {
        match self.bgpd.route_maps.get(name) {
            Some(entries) => {
                let entries = entries.clone();
                self.entries(&entries, 0, c);
            }
            None => {
                // FRR: a route-map that does not exist denies everything.
                self.missing.insert(format!("route-map {name}"), ());
                self.push(c, Action::Reject);
            }
        }
    }

    /// Route-map entries from `i` on, for prefixes in `c`; ends with a rule
    /// covering all of `c`.
    fn entries(&mut self, rm: &[RouteMapEntry], i: usize, c: Constraint) {
        if self.overflow {
            return;
        }
        let Some(e) = rm.get(i) else {
            self.push(c, Action::Reject);
            return;
        };
        // An untranslatable match clause never matches in a permit entry
        // (so nothing extra is accepted) and is dropped from a deny entry
        // (so the deny covers at least as much as in FRR).
        let m = self.entry_match(e);
        if e.permit && (!e.other_matches.is_empty() || m.is_none()) {
            return self.entries(rm, i + 1, c);
        }
        self.clauses(rm, i, &e.prefix_lists, c, &m.unwrap_or_default());
    }

    fn clauses(
        &mut self,
        rm: &[RouteMapEntry],
        i: usize,
        lists: &[(Family, String)],
        c: Constraint,
        m: &Match,
    ) {
        let Some((first, rest)) = lists.split_first() else {
            if rm[i].permit {
                self.push_set(c, Action::Accept, rm[i].set.clone(), m.clone());
            } else {
                self.push_set(c, Action::Reject, SetActions::default(), m.clone());
            }
            // Routes in `c` the other conditions do not match go on.
            if *m != Match::default() {
                self.entries(rm, i + 1, c);
            }
            return;
        };
        for e in self.prefix_list(first) {
            let Some(d) = meet(c, Range::of(&e)) else {
                continue;
            };
            if e.permit {
                self.clauses(rm, i, rest, Some(d), m);
            } else {
                self.entries(rm, i + 1, Some(d));
            }
        }
        self.entries(rm, i + 1, c);
    }
}

/// Drops rules that cannot fire or do not change the outcome, and joins
/// neighbours with the same action.
fn simplify(rules: Vec<Pending>) -> Vec<Rule> {
    // Unreachable: an earlier rule without other conditions covers all of it.
    let mut kept: Vec<Pending> = Vec::new();
    for (c, a, set, m) in rules {
        let shadowed = kept.iter().any(|(k, _, _, km)| {
            *km == Match::default()
                && match (k, c) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(k), Some(c)) => k.covers(c),
                }
        });
        if !shadowed {
            kept.push((c, a, set, m));
        }
    }
    // Redundant: just before a catch-all with the same outcome.
    while kept.len() >= 2 {
        let (last, prev) = (&kept[kept.len() - 1], &kept[kept.len() - 2]);
        if last.0.is_none() && last.3 == Match::default() && (prev.1, &prev.2) == (last.1, &last.2)
        {
            kept.remove(kept.len() - 2);
        } else {
            break;
        }
    }
    let mut out: Vec<Rule> = Vec::new();
    for (c, action, set, matches) in kept {
        let set = (set != SetActions::default()).then(|| Box::new(set));
        let prefixes = c.map(|r| prefix_matches(r, action)).unwrap_or_default();
        match (c, out.last_mut()) {
            (Some(_), Some(last))
                if last.action == action
                    && last.set == set
                    && last.matches == matches
                    && !last.prefixes.is_empty() =>
            {
                last.prefixes.extend(prefixes)
            }
            _ => out.push(Rule {
                set,
                matches,
                ..Rule::new(prefixes, action)
            }),
        }
    }
    out
}

/// The `prefix:` entries of range `r`. A range from the default route on
/// (`0.0.0.0/0 le 24`) accepts the default route in FRR, but wgbgp's guard
/// (`reject_default_route`) takes only a rule that names it for doing so:
/// an accepting rule gets the default route as an entry of its own.
fn prefix_matches(r: Range, action: Action) -> Vec<PrefixMatch> {
    let whole = r.to_prefix_match();
    if action == Action::Accept && r.net.prefix_len() == 0 && r.lo == 0 && r.hi > 0 {
        let default = PrefixMatch {
            net: r.net,
            ge: None,
            le: None,
        };
        vec![default, whole]
    } else {
        vec![whole]
    }
}

/// Whether some rule could accept a prefix of family `f` (a cheap check:
/// an earlier reject is not taken into account).
pub fn may_accept(rules: &[Rule], f: Family) -> bool {
    rules.iter().any(|r| {
        r.action == Action::Accept
            && (r.prefixes.is_empty() || r.prefixes.iter().any(|p| Family::of(p.net.addr()) == f))
    })
}

/// The prefixes (exact, without ge/le) a filter's prefix-lists permit:
/// candidates for `announce:` when the FRR config redistributed them.
pub fn permitted_exact(bgpd: &Bgpd, filter: &Filter) -> Vec<IpNet> {
    let mut lists: Vec<(Family, String)> = filter.prefix_list.iter().cloned().collect();
    if let Some(rm) = filter
        .route_map
        .as_ref()
        .and_then(|n| bgpd.route_maps.get(n))
    {
        for e in rm.iter().filter(|e| e.permit) {
            lists.extend(e.prefix_lists.iter().cloned());
        }
    }
    let mut out = Vec::new();
    for key in lists {
        for e in bgpd.prefix_lists.get(&key).into_iter().flatten() {
            let r = Range::of(e);
            if e.permit && r.lo == r.hi && r.lo == e.net.prefix_len() && !out.contains(&e.net) {
                out.push(e.net);
            }
        }
    }
    out
}

/// The policy chain of one direction of one neighbor.
pub(super) fn chain(
    b: &Bgpd,
    x: &mut Expander,
    policies: &mut Vec<(String, String, Vec<rib::policy::Rule>)>,
    active: &[bool; 2],
    filters: &[Filter; 2],
    export: bool,
    notes: &mut Vec<String>,
) -> Vec<String> {
    // What FRR does per family: None rejects everything.
    let body = |f: usize| -> Option<Filter> {
        let filter = &filters[f];
        if !active[f] {
            None
        } else if filter.route_map.is_some() || filter.prefix_list.is_some() {
            Some(filter.clone())
        } else if b.ebgp_requires_policy {
            None
        } else {
            // `no bgp ebgp-requires-policy` and no filter: everything.
            Some(filter.clone())
        }
    };
    let (v4, v6) = (body(0), body(1));
    let mut add = |filter: &Filter, within: Option<Family>| -> String {
        let (base, comment) = describe(filter);
        let (name, comment) = match within {
            None => (base, comment),
            Some(Family::Ipv4) => (
                format!("{base}-ipv4"),
                format!("{comment}, IPv4 routes only"),
            ),
            Some(Family::Ipv6) => (
                format!("{base}-ipv6"),
                format!("{comment}, IPv6 routes only"),
            ),
        };
        let rules = match x.expand(filter, within) {
            Ok(mut r) if export => {
                // RFC 4271 §5.1.5: FRR ignores it towards eBGP; wgbgp refuses it.
                let mut dropped = false;
                for set in r.iter_mut().filter_map(|r| r.set.as_mut()) {
                    dropped |= set.local_pref.take().is_some();
                }
                r.iter_mut()
                    .filter(|r| r.set.as_deref() == Some(&SetActions::default()))
                    .for_each(|r| r.set = None);
                if dropped {
                    notes.push(format!(
                        "{comment}: `set local-preference` on export is not sent to an eBGP \
                         peer (FRR ignores it); left out"
                    ));
                }
                r
            }
            Ok(r) => r,
            Err(()) => {
                notes.push(format!(
                    "{comment}: too complex to translate exactly; written as reject-all"
                ));
                vec![rib::policy::Rule::new(
                    Vec::new(),
                    rib::policy::Action::Reject,
                )]
            }
        };
        insert_policy(policies, name, comment, rules)
    };
    match (v4, v6) {
        (None, None) => Vec::new(),
        (Some(a), Some(b6)) if a == b6 => vec![add(&a, None)],
        (Some(a), None) => {
            let name = add(&a, None);
            let rules = &policies.iter().find(|p| p.0 == name).unwrap().2;
            if may_accept(rules, Family::Ipv6) {
                vec![guard(policies, Family::Ipv6), name]
            } else {
                vec![name]
            }
        }
        (None, Some(b6)) => {
            let name = add(&b6, None);
            let rules = &policies.iter().find(|p| p.0 == name).unwrap().2;
            if may_accept(rules, Family::Ipv4) {
                vec![guard(policies, Family::Ipv4), name]
            } else {
                vec![name]
            }
        }
        (Some(a), Some(b6)) => vec![add(&a, Some(Family::Ipv4)), add(&b6, None)],
    }
}

/// The policy name and a comment saying where it comes from.
fn describe(f: &Filter) -> (String, String) {
    let kind = |fam: &Family| match fam {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ipv6",
    };
    match (&f.prefix_list, &f.route_map) {
        (None, Some(rm)) => (rm.clone(), format!("route-map {rm}")),
        (Some((fam, pl)), None) => (
            format!("prefix-list-{pl}"),
            format!("neighbor ... prefix-list: {} prefix-list {pl}", kind(fam)),
        ),
        (Some((fam, pl)), Some(rm)) => (
            format!("prefix-list-{pl}-then-{rm}"),
            format!("{} prefix-list {pl}, then route-map {rm}", kind(fam)),
        ),
        (None, None) => (
            "accept-all".into(),
            "no bgp ebgp-requires-policy: no filter passes everything".into(),
        ),
    }
}

/// A policy that rejects one family and leaves the other to the next
/// policy of the chain.
fn guard(policies: &mut Vec<(String, String, Vec<rib::policy::Rule>)>, f: Family) -> String {
    let (name, range, comment) = match f {
        Family::Ipv6 => (
            "no-ipv6",
            "::/0 le 128",
            "IPv6 unicast is not activated for this neighbor in FRR",
        ),
        Family::Ipv4 => (
            "no-ipv4",
            "0.0.0.0/0 le 32",
            "IPv4 unicast is not activated for this neighbor in FRR",
        ),
    };
    let rules = vec![rib::policy::Rule::new(
        vec![range.parse().unwrap()],
        rib::policy::Action::Reject,
    )];
    insert_policy(policies, name.into(), comment.into(), rules)
}

/// Adds a policy, reusing an identical one and renaming on a clash.
fn insert_policy(
    policies: &mut Vec<(String, String, Vec<rib::policy::Rule>)>,
    name: String,
    comment: String,
    rules: Vec<rib::policy::Rule>,
) -> String {
    let mut candidate = name.clone();
    for n in 2.. {
        match policies.iter().find(|p| p.0 == candidate) {
            Some(p) if p.2 == rules => return candidate,
            Some(_) => candidate = format!("{name}-{n}"),
            None => break,
        }
    }
    policies.push((candidate.clone(), comment, rules));
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_frr::{Skipped, bgpd};
    use rib::policy::{Chain, Policy};
    use std::sync::Arc;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// `conf` read as a bgpd.conf, and what it skipped.
    fn parse(conf: &str) -> (bgpd::Bgpd, Vec<Skipped>) {
        let mut skipped = Vec::new();
        let b = bgpd::parse("t", conf, &mut skipped);
        (b, skipped)
    }

    /// `conf` read as a bgpd.conf that has nothing to skip.
    fn parse_clean(conf: &str) -> bgpd::Bgpd {
        let (b, skipped) = parse(conf);
        assert!(skipped.is_empty(), "{skipped:?}");
        b
    }

    fn rules(conf: &str, filter: Filter) -> Vec<Rule> {
        Expander::new(&parse_clean(conf))
            .expand(&filter, None)
            .unwrap()
    }

    fn accepts(rules: &[Rule], p: &str) -> bool {
        let chain = Chain(vec![Arc::new(Policy {
            name: "t".into(),
            rules: rules.to_vec(),
        })]);
        chain.accepts(&net(p))
    }

    fn rm(name: &str) -> Filter {
        Filter {
            prefix_list: None,
            route_map: Some(name.into()),
        }
    }

    #[test]
    fn intersection_keeps_the_more_specific_net_and_the_common_lengths() {
        let a = Range {
            net: net("10.0.0.0/8"),
            lo: 8,
            hi: 24,
        };
        let b = Range {
            net: net("10.1.0.0/16"),
            lo: 20,
            hi: 32,
        };
        let i = a.intersect(b).unwrap();
        assert_eq!(i.to_prefix_match().to_string(), "10.1.0.0/16 ge 20 le 24");
        let c = Range {
            net: net("192.168.0.0/16"),
            lo: 16,
            hi: 32,
        };
        assert_eq!(a.intersect(c), None);
    }

    #[test]
    fn deny_entry_of_a_list_hands_prefixes_to_the_next_route_map_entry() {
        // 10.1/16 is denied by PL-A, so entry 10 does not match it and entry
        // 20 (deny everything in 10/8 le 32) decides; the rest of 10/8 is
        // permitted by entry 10. Outside 10/8: implicit deny.
        let conf = "\
ip prefix-list PL-A seq 5 deny 10.1.0.0/16 le 32
ip prefix-list PL-A seq 10 permit 10.0.0.0/8 le 32
ip prefix-list PL-B seq 5 permit 10.1.2.0/24
route-map M permit 10
 match ip address prefix-list PL-A
route-map M permit 20
 match ip address prefix-list PL-B
";
        let r = rules(conf, rm("M"));
        assert!(accepts(&r, "10.2.0.0/16"));
        assert!(accepts(&r, "10.1.2.0/24"), "reached entry 20: {r:?}");
        assert!(!accepts(&r, "10.1.3.0/24"));
        assert!(!accepts(&r, "11.0.0.0/8"));
        assert!(!accepts(&r, "fd00::/64"));
    }

    #[test]
    fn a_missing_route_map_denies_everything_as_in_frr() {
        let (b, _) = parse("router bgp 1\n");
        let mut x = Expander::new(&b);
        let r = x.expand(&rm("NOPE"), None).unwrap();
        assert!(!accepts(&r, "10.0.0.0/8"));
        assert!(x.missing.contains_key("route-map NOPE"));
    }

    #[test]
    fn prefix_list_filter_then_route_map_must_both_permit() {
        let conf = "\
ip prefix-list F seq 5 permit 10.0.0.0/8 le 32
ip prefix-list G seq 5 permit 10.0.0.0/16
ip prefix-list G seq 6 permit 172.16.0.0/12
route-map M permit 10
 match ip address prefix-list G
";
        let f = Filter {
            prefix_list: Some((Family::Ipv4, "F".into())),
            route_map: Some("M".into()),
        };
        let r = rules(conf, f);
        assert!(accepts(&r, "10.0.0.0/16"));
        assert!(!accepts(&r, "172.16.0.0/12"));
        assert!(!accepts(&r, "10.0.0.0/24"));
    }

    #[test]
    fn family_restriction_keeps_the_other_family_undecided() {
        let (b, _) = parse("route-map ALL permit 10\n");
        let r = Expander::new(&b)
            .expand(&rm("ALL"), Some(Family::Ipv4))
            .unwrap();
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(accepts(&r, "0.0.0.0/0"));
        assert!(accepts(&r, "198.19.0.1/32"));
        // An IPv6 prefix matches no rule: it falls through to the next
        // policy of the chain.
        assert!(r.iter().all(|rule| !rule.matches_prefix(&net("fd00::/8"))));
    }

    #[test]
    fn as_path_and_community_lists_are_read_in_wgbgp_terms() {
        let conf = "\
bgp as-path access-list A seq 5 permit _65001$
ip as-path access-list A permit ^65002_
bgp community-list standard C seq 5 permit 65001:100
bgp community-list standard C seq 6 permit 65001:1 65001:2
bgp community-list expanded E permit ^65003:.*$
bgp community-list expanded E permit _.*:100_
bgp community-list expanded E permit 6500[0-9]:1
bgp community-list 150 deny 65004:[0-9]+
bgp large-community-list expanded L permit ^65001:.*:.*$
";
        let b = parse_clean(conf);
        assert_eq!(
            b.as_path_lists["A"],
            vec![(true, "_65001$".into()), (true, "^65002_".into())]
        );
        let values = |name: &str| -> Vec<(bool, Option<String>)> {
            (b.community_lists[name].iter())
                .map(|e| (e.permit, e.value.clone()))
                .collect()
        };
        assert_eq!(
            values("C"),
            vec![(true, Some("65001:100".into())), (true, None)],
            "two values that must both be present cannot be said"
        );
        assert_eq!(
            values("E"),
            vec![
                (true, Some("65003:*".into())),
                (true, Some("*:100".into())),
                (true, None)
            ]
        );
        assert_eq!(values("150"), vec![(false, Some("65004:*".into()))]);
        assert_eq!(values("L"), vec![(true, Some("65001:*:*".into()))]);
    }

    #[test]
    fn bad_as_path_expression_is_skipped_with_the_reason() {
        let (b, skipped) = parse("bgp as-path access-list A permit _(65001$\n");
        assert!(b.as_path_lists.is_empty());
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0]
                .why
                .contains("not a valid AS-path regular expression"),
            "{skipped:?}"
        );
    }

    #[test]
    fn route_map_entry_with_as_path_match_lets_other_routes_go_on() {
        let conf = "\
bgp as-path access-list A permit _65001$
route-map M permit 10
 match as-path A
 set metric 5
route-map M permit 20
";
        let r = rules(conf, rm("M"));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].matches.as_path.is_some());
        assert_eq!(r[0].set.as_ref().unwrap().med, Some(5));
        assert!(r[1].matches == Match::default() && r[1].action == Action::Accept);
        // A missing list: the permit entry never matches, and is reported.
        let (b, _) = parse("route-map M permit 10\n match as-path NOPE\n");
        let mut x = Expander::new(&b);
        let r = x.expand(&rm("M"), None).unwrap();
        assert!(!accepts(&r, "10.0.0.0/8"));
        assert!(x.missing.contains_key("bgp as-path access-list NOPE"));
    }
}
