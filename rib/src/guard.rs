//! Limits that protect the box from what a peer sends, before and around
//! import policy: refusal of the default route and of special-purpose
//! ("bogon") prefixes, and the Adj-RIB-In memory estimate that
//! `max_adj_rib_in_mib` is checked against.
//!
//! Refusal: a default route (`0.0.0.0/0`, `::/0`) is refused when
//! [`Guard::reject_default_route`] is set, a prefix inside one of the RFC 6890
//! special-purpose blocks ([`BOGONS_V4`], [`BOGONS_V6`]) when
//! [`Guard::reject_bogons`] is set — unless an `accept` rule of the import
//! chain names it explicitly: its `prefix:` or `prefix_set:` has an entry
//! matching it other than the whole address space (`0.0.0.0/0 le 32`,
//! `::/0 le 128`). A catch-all `accept` does not let them in; the import
//! chain still decides afterwards as for any route.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bgp::wire::PathAttributes;
use ipnet::IpNet;

use crate::policy::{Action, Chain, PrefixMatch};

/// Per-peer refusal settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guard {
    pub reject_default_route: bool,
    pub reject_bogons: bool,
}

/// Why a route was refused (the `reason` label of `wgbgp_routes_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    DefaultRoute,
    Bogon,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::DefaultRoute => "default_route",
            Refusal::Bogon => "bogon",
        }
    }
}

/// RFC 6890 special-purpose and other never-routed IPv4 blocks (Team
/// Cymru's bogon list without unallocated space).
pub const BOGONS_V4: [&str; 14] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// The IPv6 equivalents (RFC 6890, RFC 4193, RFC 3849, RFC 9637).
pub const BOGONS_V6: [&str; 13] = [
    "::/8",
    "100::/64",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "3fff::/20",
    "2002::/16",
    "3ffe::/16",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Whether `prefix` lies inside (or equals) one of the special-purpose
/// blocks, or covers one of them (a /1 that includes 10/8 is no
/// legitimate route either).
pub fn is_bogon(prefix: &IpNet) -> bool {
    static BLOCKS: LazyLock<[Vec<IpNet>; 2]> = LazyLock::new(|| {
        let parse = |l: &[&str]| {
            l.iter()
                .map(|b| b.parse().expect("literal block"))
                .collect()
        };
        [parse(&BOGONS_V4), parse(&BOGONS_V6)]
    });
    let list = &BLOCKS[matches!(prefix, IpNet::V6(_)) as usize];
    list.iter()
        .any(|b| b.contains(prefix) || (prefix.prefix_len() > 0 && prefix.contains(b)))
}

/// What `guard` refuses of `prefix` under `import`, if anything.
pub fn refuses(guard: Guard, prefix: &IpNet, import: &Chain) -> Option<Refusal> {
    let reason = if prefix.prefix_len() == 0 {
        guard.reject_default_route.then_some(Refusal::DefaultRoute)
    } else {
        (guard.reject_bogons && is_bogon(prefix)).then_some(Refusal::Bogon)
    }?;
    (!names(import, prefix)).then_some(reason)
}

/// An entry that matches every prefix of its family says nothing about
/// this one.
fn explicit(e: &PrefixMatch, prefix: &IpNet) -> bool {
    let everything = e.net.prefix_len() == 0 && (e.ge.is_some() || e.le.is_some());
    !everything && e.matches(prefix)
}

/// Whether an `accept` rule of `chain` names `prefix` in its prefix conditions.
fn names(chain: &Chain, prefix: &IpNet) -> bool {
    chain.0.iter().flat_map(|p| &p.rules).any(|r| {
        r.action == Action::Accept
            && (r.prefixes.iter().any(|e| explicit(e, prefix))
                || r.matches
                    .prefix_set
                    .as_ref()
                    .is_some_and(|l| l.entries().iter().any(|e| explicit(e, prefix))))
    })
}

/// Estimated memory one peer's routes hold in the RIB: a fixed cost per
/// path (the path, its prefix's share of the Loc-RIB entry and hash slot)
/// plus each distinct attribute set the peer's paths use, counted once
/// per peer (a set shared with another peer counts for both: each would
/// keep it alive alone). Kept only for peers with a cap (`enabled`): the
/// per-set map costs about 20 bytes per distinct attribute set.
#[derive(Debug, Default)]
pub struct AdjInMemory {
    pub enabled: bool,
    /// Attribute set (by address) → (paths using it, its size).
    sets: HashMap<usize, (u32, u32)>,
    set_bytes: usize,
    paths: usize,
}

/// Per path: the Loc-RIB entry (prefix + `Dest` with one inline path) and
/// a hash-table slot's share of control bytes and slack.
pub const PATH_BYTES: usize =
    std::mem::size_of::<IpNet>() + std::mem::size_of::<crate::table::Dest>() + 16;

/// Heap bytes of one attribute set: the `Arc` allocation and what it owns.
pub fn attribute_bytes(a: &PathAttributes) -> usize {
    let mut n = 16 + std::mem::size_of::<PathAttributes>();
    for s in a.as_path.segments.iter() {
        n += s.asns.capacity() * 4;
    }
    if a.as_path.segments.spilled() {
        n += a.as_path.segments.capacity() * std::mem::size_of::<bgp::wire::AsSegment>();
    }
    n += a.communities.capacity() * 4;
    if let Some(r) = &a.rare {
        n += std::mem::size_of::<bgp::wire::RareAttributes>()
            + r.ext_communities.capacity() * 8
            + r.large_communities.capacity() * 12
            + r.unknown.iter().map(|u| 32 + u.value.len()).sum::<usize>();
    }
    n
}

impl AdjInMemory {
    pub fn add(&mut self, attrs: &Arc<PathAttributes>) {
        if !self.enabled {
            return;
        }
        self.paths += 1;
        let e = self
            .sets
            .entry(Arc::as_ptr(attrs) as usize)
            .or_insert((0, 0));
        if e.0 == 0 {
            e.1 = attribute_bytes(attrs) as u32;
            self.set_bytes += e.1 as usize;
        }
        e.0 += 1;
    }

    pub fn remove(&mut self, attrs: &Arc<PathAttributes>) {
        let key = Arc::as_ptr(attrs) as usize;
        let Some(e) = self.sets.get_mut(&key) else {
            return;
        };
        self.paths = self.paths.saturating_sub(1);
        e.0 -= 1;
        if e.0 == 0 {
            self.set_bytes -= e.1 as usize;
            self.sets.remove(&key);
        }
    }

    /// An empty estimate, kept or not.
    pub fn new(enabled: bool) -> AdjInMemory {
        AdjInMemory {
            enabled,
            ..AdjInMemory::default()
        }
    }

    /// Forgets every path (the peer's routes are gone); stays enabled or not.
    pub fn clear(&mut self) {
        *self = AdjInMemory {
            enabled: self.enabled,
            ..AdjInMemory::default()
        };
    }

    /// The estimate, bytes.
    pub fn bytes(&self) -> usize {
        self.paths * PATH_BYTES + self.set_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Policy, PrefixList, Rule};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn chain(rules: Vec<Rule>) -> Chain {
        Chain(vec![Arc::new(Policy {
            name: "p".into(),
            rules,
        })])
    }

    const ON: Guard = Guard {
        reject_default_route: true,
        reject_bogons: true,
    };

    #[test]
    fn bogons_and_default_are_refused_by_a_catch_all_accept() {
        let all = chain(vec![Rule::new(vec![], Action::Accept)]);
        for p in [
            "10.1.0.0/16",
            "198.19.0.1/32",
            "203.0.113.0/24",
            "fd00::/8",
            "2001:db8::/48",
        ] {
            assert_eq!(refuses(ON, &net(p), &all), Some(Refusal::Bogon), "{p}");
        }
        assert_eq!(
            refuses(ON, &net("0.0.0.0/0"), &all),
            Some(Refusal::DefaultRoute)
        );
        assert_eq!(refuses(ON, &net("::/0"), &all), Some(Refusal::DefaultRoute));
        // A /4 covering 10/8 is as bad as 10/8.
        assert_eq!(refuses(ON, &net("0.0.0.0/4"), &all), Some(Refusal::Bogon));
        for p in ["8.8.8.0/24", "198.20.0.0/16", "2a00::/12", "192.0.3.0/24"] {
            assert_eq!(refuses(ON, &net(p), &all), None, "{p}");
        }
        // Switched off: nothing is refused.
        let off = Guard::default();
        assert_eq!(refuses(off, &net("10.0.0.0/8"), &all), None);
        assert_eq!(refuses(off, &net("0.0.0.0/0"), &all), None);
    }

    #[test]
    fn an_accept_rule_naming_the_prefix_lets_it_in() {
        let m = |s: &str| s.parse::<PrefixMatch>().unwrap();
        let named = chain(vec![
            Rule::new(vec![m("10.0.0.0/8 le 32")], Action::Accept),
            Rule::new(vec![m("0.0.0.0/0")], Action::Accept),
        ]);
        assert_eq!(refuses(ON, &net("10.9.0.0/16"), &named), None);
        assert_eq!(refuses(ON, &net("0.0.0.0/0"), &named), None);
        assert_eq!(
            refuses(ON, &net("192.168.0.0/24"), &named),
            Some(Refusal::Bogon)
        );
        // Whole-space entries name nothing in particular.
        let any = chain(vec![Rule::new(vec![m("0.0.0.0/0 le 32")], Action::Accept)]);
        assert_eq!(
            refuses(ON, &net("0.0.0.0/0"), &any),
            Some(Refusal::DefaultRoute)
        );
        assert_eq!(refuses(ON, &net("10.0.0.0/8"), &any), Some(Refusal::Bogon));
        // A reject rule naming it is no acceptance; a prefix_set is.
        let reject = chain(vec![Rule::new(vec![m("10.0.0.0/8 le 32")], Action::Reject)]);
        assert_eq!(
            refuses(ON, &net("10.0.0.0/8"), &reject),
            Some(Refusal::Bogon)
        );
        let mut rule = Rule::new(vec![], Action::Accept);
        rule.matches.prefix_set = Some(PrefixList::new(vec![m("fd00::/8 le 64")]));
        assert_eq!(refuses(ON, &net("fd12::/48"), &chain(vec![rule])), None);
    }

    #[test]
    fn memory_counts_each_attribute_set_once_per_peer() {
        let mut m = AdjInMemory::default();
        m.add(&Arc::new(PathAttributes::default()));
        assert_eq!(m.bytes(), 0, "not kept while disabled");
        m.enabled = true;
        let a = Arc::new(PathAttributes {
            as_path: bgp::wire::AsPath::from_sequence([65001, 65002]),
            communities: vec![bgp::wire::Community(1), bgp::wire::Community(2)],
            ..Default::default()
        });
        let b = Arc::new(PathAttributes::default());
        m.add(&a);
        let one = m.bytes();
        assert!(one >= PATH_BYTES + attribute_bytes(&a), "{one}");
        m.add(&a);
        m.add(&a);
        // Two more paths sharing `a`: only the per-path cost grows.
        assert_eq!(m.paths, 3);
        assert_eq!(m.set_bytes, attribute_bytes(&a));
        m.add(&b);
        assert_eq!(m.set_bytes, attribute_bytes(&a) + attribute_bytes(&b));
        for _ in 0..3 {
            m.remove(&a);
        }
        assert_eq!(m.set_bytes, attribute_bytes(&b));
        m.remove(&b);
        assert_eq!((m.paths, m.set_bytes), (0, 0));
        // A set never added is ignored.
        m.remove(&a);
        assert_eq!(m.paths, 0);
    }
}
