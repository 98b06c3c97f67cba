//! Validation of `policies:` and the named sets they use (`prefix_sets:`,
//! `community_sets:`, `as_path_sets:`). Set names are resolved here, into
//! the rules themselves: a rule holds the values, so a changed set is a
//! changed policy to the reload diff.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp::wire::Afi;
use rib::policy::{
    AsPathRegex, Communities, CommunityEdit, CommunityPattern, CommunityValue, MAX_PREPEND, Match,
    PrefixList, SetActions,
};

use serde::de;

use super::de::deserialize_any;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(rename = "match")]
    matches: Option<RawMatch>,
    action: Action,
    set: Option<RawSet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    prefix: Option<OneOrMany>,
    prefix_set: Option<OneOrMany>,
    origin_as: Option<AsnList>,
    as_path_len: Option<RawLen>,
    as_path_contains: Option<AsnList>,
    as_path: Option<OneOrMany>,
    community: Option<OneOrMany>,
    peer: Option<OneOrMany>,
    afi: Option<RawAfi>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawAfi {
    Ipv4,
    Ipv6,
}

/// `as_path_len: 3` or `as_path_len: {ge: 2, le: 10}`. Hand-written so a
/// wrong form gets a message that shows the right ones.
#[derive(Debug)]
enum RawLen {
    Exact(u32),
    Range(RawLenRange),
}

deserialize_any! {
    RawLen,
    expecting "a length N or {ge: N, le: M}",
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLen, E> {
        u32::try_from(v)
            .map(RawLen::Exact)
            .map_err(|_| E::custom(format!("length {v} is too large")))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawLen, A::Error> {
        RawLenRange::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(RawLen::Range)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLenRange {
    ge: Option<u32>,
    le: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    local_pref: Option<u32>,
    med: Option<u32>,
    prepend: Option<u32>,
    communities: Option<RawCommunityEdit>,
    next_hop: Option<String>,
    table: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommunityEdit {
    replace: Option<OneOrMany>,
    remove: Option<OneOrMany>,
    add: Option<OneOrMany>,
}

/// The named sets, checked.
pub(super) struct Sets {
    prefix: BTreeMap<String, Vec<PrefixMatch>>,
    community: BTreeMap<String, Communities>,
    as_path: BTreeMap<String, AsPathSet>,
}

/// An `as_path_sets:` entry: ASNs (for `origin_as`/`as_path_contains`) and
/// regular expressions (for `as_path`), in any mix; an ASN N used by
/// `as_path:` is the expression `_N_`.
#[derive(Default)]
struct AsPathSet {
    asns: Vec<u32>,
    regexes: Vec<AsPathRegex>,
}

pub(super) fn sets(cx: &mut Ctx, raw: &RawConfig) -> Sets {
    let mut prefix = BTreeMap::new();
    for (name, list) in &raw.prefix_sets {
        let key = format!("prefix_sets.{name}");
        if list.0.is_empty() {
            cx.err(key.clone(), Problem::Empty);
        }
        let entries = (list.0.iter().enumerate())
            .filter_map(|(i, s)| prefix_match(cx, format!("{key}[{i}]"), s))
            .collect();
        prefix.insert(name.clone(), entries);
    }
    let mut community = BTreeMap::new();
    for (name, list) in &raw.community_sets {
        let key = format!("community_sets.{name}");
        if list.0.is_empty() {
            cx.err(key.clone(), Problem::Empty);
        }
        let mut values = Communities::default();
        for (i, s) in list.0.iter().enumerate() {
            match community_item(s) {
                Ok(v) => v.push_to(&mut values),
                Err(e) => cx.err(
                    format!("{key}[{i}]"),
                    Problem::BadCommunity {
                        reason: e.to_string(),
                    },
                ),
            }
        }
        community.insert(name.clone(), values);
    }
    let mut as_path = BTreeMap::new();
    for (name, list) in &raw.as_path_sets {
        let key = format!("as_path_sets.{name}");
        if list.is_empty() {
            cx.err(key.clone(), Problem::Empty);
        }
        let mut set = AsPathSet::default();
        for (i, item) in list.iter().enumerate() {
            match item {
                AsnItem::Asn(a) => set.asns.push(*a),
                AsnItem::Name(re) => match AsPathRegex::new(re) {
                    Ok(r) => set.regexes.push(r),
                    Err(e) => cx.err(format!("{key}[{i}]"), Problem::Other(e.to_string())),
                },
            }
        }
        as_path.insert(name.clone(), set);
    }
    Sets {
        prefix,
        community,
        as_path,
    }
}

fn prefix_match(cx: &mut Ctx, key: String, s: &str) -> Option<PrefixMatch> {
    match s.parse::<PrefixMatch>() {
        Ok(p) => Some(p),
        Err(e) => {
            let reason = e.to_string();
            cx.err(key, Problem::BadPrefix { reason });
            None
        }
    }
}

/// A community value, or a wildcard when a field is `*`.
enum CommunityItem {
    Value(CommunityValue),
    Pattern(CommunityPattern),
}

impl CommunityItem {
    fn push_to(self, out: &mut Communities) {
        match self {
            CommunityItem::Value(v) => out.push(v),
            CommunityItem::Pattern(p) => out.push_pattern(p),
        }
    }
}

fn community_item(s: &str) -> Result<CommunityItem, String> {
    if s.contains('*') {
        s.parse()
            .map(CommunityItem::Pattern)
            .map_err(|e| format!("{e}"))
    } else {
        s.parse()
            .map(CommunityItem::Value)
            .map_err(|e| format!("{e}"))
    }
}

/// Community values, wildcards and `community_sets:` names, mixed.
/// `exact` (a `set` that adds or replaces) refuses wildcards.
fn communities(cx: &mut Ctx, sets: &Sets, key: &str, list: &OneOrMany, exact: bool) -> Communities {
    let mut out = Communities::default();
    for s in &list.0 {
        if let Some(set) = sets.community.get(s) {
            set.standard
                .iter()
                .for_each(|c| out.push(CommunityValue::Standard(*c)));
            set.large
                .iter()
                .for_each(|l| out.push(CommunityValue::Large(*l)));
            set.patterns.iter().for_each(|p| out.push_pattern(*p));
            continue;
        }
        match community_item(s) {
            Ok(v) => v.push_to(&mut out),
            // Something that looks like a value is judged as one.
            Err(reason) if s.contains(':') || s.starts_with(|c: char| c.is_ascii_digit()) => {
                cx.err(key, Problem::BadCommunity { reason });
            }
            Err(_) => cx.err(
                key,
                Problem::UndefinedSet {
                    name: s.clone(),
                    kind: "community_sets",
                    what: "a community",
                },
            ),
        }
    }
    if exact && let Some(p) = out.patterns.first() {
        let problem = Problem::Other(format!(
            "the wildcard {p} can only be matched or removed, not added"
        ));
        cx.err(key, problem);
    }
    out
}

/// `as_path:`: `as_path_sets:` names and inline regular expressions.
/// A word that could be a set name (a letter, then letters, digits, `-`
/// and `_`) must be one, so a typo is an error rather than an expression
/// that never matches.
fn as_path_regexes(cx: &mut Ctx, sets: &Sets, key: &str, list: &OneOrMany) -> Vec<AsPathRegex> {
    let mut out = Vec::new();
    if list.0.is_empty() {
        cx.err(key, Problem::Empty);
    }
    for s in &list.0 {
        if let Some(set) = sets.as_path.get(s) {
            out.extend(set.regexes.iter().cloned());
            for a in &set.asns {
                out.extend(AsPathRegex::new(&format!("_{a}_")));
            }
            continue;
        }
        let name_like = s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if name_like {
            let problem = Problem::UndefinedSet {
                name: s.clone(),
                kind: "as_path_sets",
                what: "an AS-path regular expression",
            };
            cx.err(key, problem);
            continue;
        }
        match AsPathRegex::new(s) {
            Ok(r) => out.push(r),
            Err(e) => cx.err(key, Problem::Other(e.to_string())),
        }
    }
    out
}

fn asns(cx: &mut Ctx, sets: &Sets, key: &str, list: &AsnList) -> Vec<u32> {
    let mut out = Vec::new();
    for item in &list.0 {
        match item {
            AsnItem::Asn(a) => out.push(*a),
            AsnItem::Name(n) => match sets.as_path.get(n) {
                Some(set) if !set.regexes.is_empty() => {
                    let problem = Problem::Other(format!(
                        "as_path_sets.{n} holds regular expressions: use it with `as_path:`"
                    ));
                    cx.err(key, problem);
                }
                Some(set) => out.extend(&set.asns),
                None => cx.err(
                    key,
                    Problem::UndefinedSet {
                        name: n.clone(),
                        kind: "as_path_sets",
                        what: "an ASN",
                    },
                ),
            },
        }
    }
    if list.0.is_empty() {
        cx.err(key, Problem::Empty);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// One rule of a policy; `base` is its key (`policies.NAME[i]`).
pub(super) fn rule(
    cx: &mut Ctx,
    sets: &Sets,
    raw: &RawConfig,
    base: &str,
    rule: &RawRule,
) -> PolicyRule {
    let mut prefixes = Vec::new();
    let mut matches = Match::default();
    if let Some(m) = &rule.matches {
        if let Some(list) = &m.prefix {
            let key = format!("{base}.match.prefix");
            if list.0.is_empty() {
                cx.err(key.clone(), Problem::Empty);
            }
            prefixes = (list.0.iter())
                .filter_map(|s| prefix_match(cx, key.clone(), s))
                .collect();
        }
        if let Some(list) = &m.prefix_set {
            let key = format!("{base}.match.prefix_set");
            if list.0.is_empty() {
                cx.err(key.clone(), Problem::Empty);
            }
            let mut entries = Vec::new();
            for name in &list.0 {
                match sets.prefix.get(name) {
                    Some(set) => entries.extend(set.iter().copied()),
                    None => cx.err(
                        key.clone(),
                        Problem::UndefinedSet {
                            name: name.clone(),
                            kind: "prefix_sets",
                            what: "",
                        },
                    ),
                }
            }
            matches.prefix_set = Some(PrefixList::new(entries));
        }
        if let Some(list) = &m.origin_as {
            matches.origin_as = Some(asns(cx, sets, &format!("{base}.match.origin_as"), list));
        }
        if let Some(list) = &m.as_path_contains {
            let key = format!("{base}.match.as_path_contains");
            matches.as_path_contains = Some(asns(cx, sets, &key, list));
        }
        if let Some(list) = &m.as_path {
            let key = format!("{base}.match.as_path");
            matches.as_path = Some(as_path_regexes(cx, sets, &key, list));
        }
        if let Some(len) = &m.as_path_len {
            let (ge, le) = match len {
                RawLen::Exact(n) => (*n, *n),
                RawLen::Range(r) => (r.ge.unwrap_or(0), r.le.unwrap_or(u32::MAX)),
            };
            if ge > le {
                let problem = Problem::Other(format!("ge {ge} is greater than le {le}"));
                cx.err(format!("{base}.match.as_path_len"), problem);
            }
            matches.as_path_len = Some((ge, le));
        }
        if let Some(list) = &m.community {
            let key = format!("{base}.match.community");
            if list.0.is_empty() {
                cx.err(key.clone(), Problem::Empty);
            }
            matches.community = Some(communities(cx, sets, &key, list, false));
        }
        if let Some(list) = &m.peer {
            let key = format!("{base}.match.peer");
            if list.0.is_empty() {
                cx.err(key.clone(), Problem::Empty);
            }
            for name in list.0.iter().filter(|n| !raw.peers.contains_key(*n)) {
                let problem = Problem::Other(format!("`{name}` is not a peer under peers:"));
                cx.err(key.clone(), problem);
            }
            matches.peer = Some(list.0.clone());
        }
        matches.afi = m.afi.map(|a| match a {
            RawAfi::Ipv4 => Afi::Ipv4,
            RawAfi::Ipv6 => Afi::Ipv6,
        });
    }
    let set = rule.set.as_ref().map(|s| {
        let key = format!("{base}.set");
        if rule.action == Action::Reject {
            let problem = Problem::Other("has no effect with `action: reject`".into());
            cx.err(key.clone(), problem);
        }
        Box::new(set_actions(cx, sets, &key, s))
    });
    PolicyRule {
        prefixes,
        matches,
        action: rule.action,
        set,
    }
}

fn set_actions(cx: &mut Ctx, sets: &Sets, key: &str, s: &RawSet) -> SetActions {
    let prepend = match s.prepend {
        None => 0,
        Some(n @ 1..=MAX_PREPEND) => n as u8,
        Some(n) => {
            let problem = Problem::Other(format!("prepend {n} must be 1..={MAX_PREPEND}"));
            cx.err(format!("{key}.prepend"), problem);
            0
        }
    };
    let mut edit = CommunityEdit::default();
    if let Some(c) = &s.communities {
        let key = format!("{key}.communities");
        if let Some(list) = &c.replace {
            edit.replace = Some(communities(cx, sets, &format!("{key}.replace"), list, true));
        }
        if let Some(list) = &c.remove {
            edit.remove = communities(cx, sets, &format!("{key}.remove"), list, false);
        }
        if let Some(list) = &c.add {
            edit.add = communities(cx, sets, &format!("{key}.add"), list, true);
        }
    }
    let next_hop = s.next_hop.as_ref().and_then(|v| {
        let a = cx.ip(format!("{key}.next_hop"), v, "an IP address")?;
        if a.is_unspecified() || a.is_multicast() {
            let problem = Problem::BadAddress {
                value: v.clone(),
                expected: "a unicast IP address",
            };
            cx.err(format!("{key}.next_hop"), problem);
            return None;
        }
        Some::<IpAddr>(a)
    });
    // 0 is no table, 253 `default` and 255 `local` are the kernel's own;
    // 254 (`main`) is allowed.
    let table = s.table.filter(|&t| {
        let ok = !matches!(t, 0 | 253 | 255);
        if !ok {
            let problem = Problem::Other(format!(
                "table {t} is reserved (0 unspec, 253 default, 255 local); \
                 use 1..=252, 254 (main) or 256..=4294967295"
            ));
            cx.err(format!("{key}.table"), problem);
        }
        ok
    });
    SetActions {
        local_pref: s.local_pref,
        med: s.med,
        prepend,
        communities: edit,
        next_hop,
        table,
    }
}
