//! The typed form of `policies:`: ordered rules with prefix-list matches.
//!
//! Only the representation and the prefix match live here; evaluating a
//! chain of policies against routes is the RIB's job.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What a matching rule does with the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Reject,
}

/// One rule of a policy. Rules are tried in order; the first whose match
/// holds decides. A rule with no prefix condition matches every route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRule {
    /// The route matches if its prefix matches any entry. Empty = no
    /// prefix condition (the rule matches everything).
    pub prefixes: Vec<PrefixMatch>,
    pub action: Action,
}

impl PolicyRule {
    /// Whether this rule applies to `prefix`.
    pub fn matches(&self, prefix: &IpNet) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|m| m.matches(prefix))
    }
}

/// A prefix-list entry: `198.19.0.0/16`, `198.19.0.0/16 le 32`,
/// `10.0.0.0/8 ge 24 le 32`, with FRR's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixMatch {
    pub net: IpNet,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

impl PrefixMatch {
    /// FRR prefix-list semantics: the prefix must be of the same family and
    /// inside `net`; without `ge`/`le` its length must equal `net`'s; with
    /// `le` only it is in `[net.len, le]`; with `ge` it is in `[ge, le or max]`.
    pub fn matches(&self, prefix: &IpNet) -> bool {
        let same_family = matches!(
            (self.net, prefix),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family || !self.net.contains(&prefix.network()) {
            return false;
        }
        let len = prefix.prefix_len();
        let (lo, hi) = match (self.ge, self.le) {
            (None, None) => (self.net.prefix_len(), self.net.prefix_len()),
            (None, Some(le)) => (self.net.prefix_len(), le),
            (Some(ge), le) => (ge, le.unwrap_or(self.net.max_prefix_len())),
        };
        // `contains(network)` alone would let a shorter prefix with the same
        // network address (10.0.0.0/7 vs 10.0.0.0/8) through; the length
        // bound above never goes below net.len, so this stays correct.
        len >= self.net.prefix_len() && len >= lo && len <= hi
    }

    /// Parses `NET [ge N] [le N]`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<PrefixMatch, String> {
        let mut words = s.split_whitespace();
        let net_str = words.next().ok_or_else(|| "empty prefix".to_string())?;
        let net: IpNet = net_str
            .parse()
            .map_err(|_| format!("`{net_str}` is not a prefix (expected e.g. 198.19.0.0/16)"))?;
        if net.trunc() != net {
            return Err(format!(
                "`{net_str}` has host bits set (did you mean {}?)",
                net.trunc()
            ));
        }
        let max = net.max_prefix_len();
        let (mut ge, mut le) = (None, None);
        while let Some(word) = words.next() {
            let slot = match word {
                "ge" => &mut ge,
                "le" => &mut le,
                other => return Err(format!("unexpected `{other}` (expected `ge N` or `le N`)")),
            };
            if slot.is_some() {
                return Err(format!("`{word}` given twice"));
            }
            let n = words
                .next()
                .ok_or_else(|| format!("`{word}` needs a length"))?;
            let n: u8 = n
                .parse()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`{word} {n}`: length must be 0..={max}"))?;
            *slot = Some(n);
        }
        if let Some(ge) = ge
            && ge < net.prefix_len()
        {
            return Err(format!(
                "`ge {ge}` is shorter than the prefix length {}",
                net.prefix_len()
            ));
        }
        if let Some(le) = le {
            if le < net.prefix_len() {
                return Err(format!(
                    "`le {le}` is shorter than the prefix length {}",
                    net.prefix_len()
                ));
            }
            if ge.is_some_and(|ge| ge > le) {
                return Err(format!("`ge` is greater than `le {le}`"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> PrefixMatch {
        PrefixMatch::parse(s).unwrap()
    }
    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn exact_match_without_ge_le() {
        let e = m("198.19.0.0/16");
        assert!(e.matches(&p("198.19.0.0/16")));
        assert!(!e.matches(&p("198.19.0.0/17")));
        assert!(!e.matches(&p("198.19.0.0/15")));
        assert!(!e.matches(&p("198.20.0.0/16")));
    }

    #[test]
    fn le_covers_net_len_to_le() {
        let e = m("198.19.0.0/16 le 32");
        assert!(e.matches(&p("198.19.0.0/16")));
        assert!(e.matches(&p("198.19.0.1/32")));
        assert!(!e.matches(&p("198.18.0.1/32")));
        assert!(!e.matches(&p("198.0.0.0/8")));
        let e = m("10.0.0.0/8 le 24");
        assert!(!e.matches(&p("10.1.2.0/25")));
        assert!(e.matches(&p("10.1.2.0/24")));
    }

    #[test]
    fn ge_without_le_goes_to_max() {
        let e = m("10.0.0.0/8 ge 24");
        assert!(!e.matches(&p("10.0.0.0/8")));
        assert!(!e.matches(&p("10.1.0.0/23")));
        assert!(e.matches(&p("10.1.2.0/24")));
        assert!(e.matches(&p("10.1.2.3/32")));
        let e = m("10.0.0.0/8 ge 24 le 28");
        assert!(e.matches(&p("10.1.2.0/28")));
        assert!(!e.matches(&p("10.1.2.0/29")));
    }

    #[test]
    fn families_never_cross() {
        assert!(!m("0.0.0.0/0 le 32").matches(&p("::/0")));
        assert!(m("::/0 le 128").matches(&p("fd00::1/128")));
        assert!(!m("::/0").matches(&p("fd00::/8")));
        assert!(m("0.0.0.0/0 le 32").matches(&p("0.0.0.0/0")));
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "198.19.0.1/16",
            "198.19.0.0/16 le",
            "198.19.0.0/16 le 33",
            "198.19.0.0/16 ge 8",
            "198.19.0.0/16 ge 30 le 24",
            "198.19.0.0/16 xx 3",
            "198.19.0.0/16 le 24 le 25",
            "fd00::/8 le 129",
            "nope",
        ] {
            assert!(PrefixMatch::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            m("10.0.0.0/8 le 32 ge 24").to_string(),
            "10.0.0.0/8 ge 24 le 32"
        );
    }

    #[test]
    fn rule_without_prefixes_matches_all() {
        let r = PolicyRule {
            prefixes: vec![],
            action: Action::Reject,
        };
        assert!(r.matches(&p("192.0.2.0/24")));
    }
}
