//! Import and export policy: ordered rules that accept or reject a route.
//!
//! A peer's `import`/`export` is a chain of named policies. Each policy's
//! rules are tried in order; the first rule whose match succeeds decides.
//! A policy that no rule matches hands the route to the next policy in the
//! chain, and a route that falls off the end of the chain is rejected. An
//! empty chain rejects everything: eBGP without configured policy neither
//! imports nor exports (RFC 8212 §3).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

/// What a matching rule does with the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Reject,
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

/// One rule: all given conditions must hold (an absent condition holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The prefix must match one of these; empty means any prefix.
    pub prefixes: Vec<PrefixMatch>,
    pub action: Action,
}

impl Rule {
    /// Whether this rule applies to `prefix`.
    pub fn matches(&self, prefix: &IpNet) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.matches(prefix))
    }
}

/// A named policy: an ordered list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A peer's import or export chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain(pub Vec<Arc<Policy>>);

impl Chain {
    /// Whether the route is accepted; RFC 8212 default deny at the end.
    pub fn accepts(&self, prefix: &IpNet) -> bool {
        for policy in &self.0 {
            if let Some(rule) = policy.rules.iter().find(|r| r.matches(prefix)) {
                return rule.action == Action::Accept;
            }
        }
        false
    }

    /// An empty chain blocks everything (FRR shows such a peer as "(Policy)").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

    #[test]
    fn exact_match_without_bounds() {
        let m = pm("198.19.0.0/16");
        assert!(m.matches(&net("198.19.0.0/16")));
        assert!(!m.matches(&net("198.19.0.0/24")));
        assert!(!m.matches(&net("198.18.0.0/16")));
    }

    #[test]
    fn le_admits_longer_prefixes_inside() {
        let m = pm("198.19.0.0/16 le 32");
        assert!(m.matches(&net("198.19.0.0/16")));
        assert!(m.matches(&net("198.19.0.1/32")));
        assert!(!m.matches(&net("198.18.0.1/32")));
        assert!(!m.matches(&net("198.0.0.0/8")));
    }

    #[test]
    fn ge_and_le_bound_both_ends() {
        let m = pm("10.0.0.0/8 ge 24 le 28");
        assert!(!m.matches(&net("10.1.0.0/16")));
        assert!(m.matches(&net("10.1.2.0/24")));
        assert!(m.matches(&net("10.1.2.16/28")));
        assert!(!m.matches(&net("10.1.2.1/32")));
    }

    #[test]
    fn families_never_cross() {
        assert!(!pm("0.0.0.0/0 le 32").matches(&net("::/0")));
        assert!(!pm("0.0.0.0/0 le 32").matches(&net("fd00::/64")));
        assert!(pm("fd00::/8 le 128").matches(&net("fd00::1/128")));
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
                Rule {
                    prefixes: vec![pm("198.19.0.0/16 le 32")],
                    action: Action::Accept,
                },
                Rule {
                    prefixes: vec![pm("198.18.0.0/16 le 32")],
                    action: Action::Reject,
                },
            ],
        );
        let accept_all = policy(
            "accept-all",
            vec![Rule {
                prefixes: vec![],
                action: Action::Accept,
            }],
        );
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
}
