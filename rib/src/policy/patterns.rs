//! Match conditions that are patterns rather than values: AS-path regular
//! expressions (FRR's `bgp as-path access-list` dialect) and community
//! wildcards (`65001:*`, `*:100`, `65001:*:*`).

use std::fmt;
use std::str::FromStr;

use bgp::wire::{AsPath, Community, LargeCommunity};

/// A regular expression over the AS_PATH in FRR's text form
/// (`65001 65002 {65010,65011}`), with FRR's `_` meaning a delimiter: the
/// start or end of the path, a space, a comma or a brace/parenthesis. So
/// `_65001$` is "originated by AS 65001" and `^65002_` "learned from AS
/// 65002". Matching is a search (unanchored) as in FRR. The engine is the
/// `regex` crate: linear time, no backreferences.
#[derive(Clone)]
pub struct AsPathRegex {
    source: String,
    re: regex::Regex,
}

/// Why an AS-path regular expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{regex}` is not a valid AS-path regular expression: {reason}")]
pub struct AsPathRegexError {
    pub regex: String,
    pub reason: String,
}

/// What FRR's `_` stands for (bgpd/bgp_regex.c).
const DELIMITER: &str = "(?:^|[,{}() ]|$)";

impl AsPathRegex {
    pub fn new(source: &str) -> Result<AsPathRegex, AsPathRegexError> {
        let mut pattern = String::with_capacity(source.len() + 16);
        let mut escaped = false;
        for ch in source.chars() {
            match ch {
                '_' if !escaped => pattern.push_str(DELIMITER),
                c => pattern.push(c),
            }
            escaped = ch == '\\' && !escaped;
        }
        let re = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| AsPathRegexError {
                regex: source.to_string(),
                reason: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            })?;
        Ok(AsPathRegex {
            source: source.to_string(),
            re,
        })
    }

    /// The expression as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches somewhere in `path`'s text form.
    pub fn is_match(&self, path: &AsPath) -> bool {
        self.re.is_match(&path.to_string())
    }
}

impl fmt::Debug for AsPathRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsPathRegex({:?})", self.source)
    }
}

/// Equal when written the same: a reload sees a changed expression as a
/// changed policy.
impl PartialEq for AsPathRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for AsPathRegex {}

/// A community with `*` for any value in some fields: `65001:*` (standard),
/// `*:100`, `65001:*:*` (large). `None` is the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommunityPattern {
    Standard {
        asn: Option<u16>,
        value: Option<u16>,
    },
    Large {
        global: Option<u32>,
        local1: Option<u32>,
        local2: Option<u32>,
    },
}

/// Why a community wildcard does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a community wildcard (expected ASN:VALUE or GLOBAL:LOCAL1:LOCAL2 with `*` \
     for any value in some fields, like 65001:* or *:100 or 65001:*:*; standard fields are \
     16-bit)"
)]
pub struct CommunityPatternError(pub String);

impl FromStr for CommunityPattern {
    type Err = CommunityPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CommunityPatternError(s.to_string());
        let field = |p: &str, max: u32| -> Result<Option<u32>, CommunityPatternError> {
            if p == "*" {
                return Ok(None);
            }
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            match p.parse::<u32>() {
                Ok(v) if v <= max => Ok(Some(v)),
                _ => Err(bad()),
            }
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts.as_slice() {
            [a, v] => Ok(CommunityPattern::Standard {
                asn: field(a, 0xffff)?.map(|x| x as u16),
                value: field(v, 0xffff)?.map(|x| x as u16),
            }),
            [g, l1, l2] => Ok(CommunityPattern::Large {
                global: field(g, u32::MAX)?,
                local1: field(l1, u32::MAX)?,
                local2: field(l2, u32::MAX)?,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CommunityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn w<T: fmt::Display>(v: Option<T>) -> String {
            v.map_or("*".into(), |v| v.to_string())
        }
        match *self {
            CommunityPattern::Standard { asn, value } => write!(f, "{}:{}", w(asn), w(value)),
            CommunityPattern::Large {
                global,
                local1,
                local2,
            } => write!(f, "{}:{}:{}", w(global), w(local1), w(local2)),
        }
    }
}

fn field_ok<T: PartialEq>(want: Option<T>, got: T) -> bool {
    want.is_none_or(|w| w == got)
}

impl CommunityPattern {
    pub fn matches_standard(&self, c: Community) -> bool {
        match *self {
            CommunityPattern::Standard { asn, value } => {
                field_ok(asn, (c.0 >> 16) as u16) && field_ok(value, c.0 as u16)
            }
            CommunityPattern::Large { .. } => false,
        }
    }

    pub fn matches_large(&self, l: &LargeCommunity) -> bool {
        match *self {
            CommunityPattern::Large {
                global,
                local1,
                local2,
            } => {
                field_ok(global, l.global)
                    && field_ok(local1, l.local1)
                    && field_ok(local2, l.local2)
            }
            CommunityPattern::Standard { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::{AsSegment, SegmentType};

    fn path(asns: &[u32]) -> AsPath {
        AsPath::from_sequence(asns.iter().copied())
    }

    fn re(s: &str) -> AsPathRegex {
        AsPathRegex::new(s).unwrap()
    }

    #[test]
    fn underscore_dollar_matches_the_origin_as_only() {
        let r = re("_65001$");
        assert!(r.is_match(&path(&[65002, 65001])));
        assert!(r.is_match(&path(&[65001])));
        assert!(!r.is_match(&path(&[65001, 65002])));
        // Not a suffix of a longer ASN.
        assert!(!r.is_match(&path(&[65002, 165001])));
    }

    #[test]
    fn caret_underscore_matches_the_neighbour_as() {
        let r = re("^65002_");
        assert!(r.is_match(&path(&[65002, 65001])));
        assert!(r.is_match(&path(&[65002])));
        assert!(!r.is_match(&path(&[650021, 65001])));
        assert!(!r.is_match(&path(&[65001, 65002])));
    }

    #[test]
    fn underscore_delimits_as_set_members() {
        let mut p = path(&[65002]);
        p.segments.push(AsSegment {
            kind: SegmentType::Set,
            asns: vec![65010, 65011],
        });
        assert_eq!(p.to_string(), "65002 {65010,65011}");
        assert!(re("_65010_").is_match(&p));
        assert!(re("_65011_").is_match(&p));
        assert!(!re("_6501_").is_match(&p));
    }

    #[test]
    fn empty_path_matches_caret_dollar() {
        assert!(re("^$").is_match(&AsPath::default()));
        assert!(!re("^$").is_match(&path(&[65001])));
    }

    #[test]
    fn regex_classes_and_escaped_underscore() {
        assert!(re("^6500[0-9]_").is_match(&path(&[65003, 1])));
        assert!(re("^\\d+ \\d+$").is_match(&path(&[1, 2])));
        // `\_` is a literal underscore, which no AS path contains.
        assert!(!re("\\_").is_match(&path(&[1])));
    }

    #[test]
    fn bad_regex_is_an_error_naming_it() {
        let e = AsPathRegex::new("_(65001$").unwrap_err();
        assert_eq!(e.regex, "_(65001$");
        assert!(e.to_string().contains("`_(65001$`"), "{e}");
    }

    #[test]
    fn regexes_compare_by_source() {
        assert_eq!(re("_1$"), re("_1$"));
        assert_ne!(re("_1$"), re("_1_"));
    }

    #[test]
    fn standard_wildcards() {
        let p: CommunityPattern = "65001:*".parse().unwrap();
        assert!(p.matches_standard(Community(65001 << 16 | 7)));
        assert!(!p.matches_standard(Community(65002 << 16 | 7)));
        let p: CommunityPattern = "*:100".parse().unwrap();
        assert!(p.matches_standard(Community(65001 << 16 | 100)));
        assert!(p.matches_standard(Community(1 << 16 | 100)));
        assert!(!p.matches_standard(Community(65001 << 16 | 101)));
        assert!(!p.matches_large(&LargeCommunity {
            global: 1,
            local1: 100,
            local2: 0
        }));
        assert_eq!(p.to_string(), "*:100");
    }

    #[test]
    fn large_wildcards() {
        let p: CommunityPattern = "65001:*:*".parse().unwrap();
        let l = |g, a, b| LargeCommunity {
            global: g,
            local1: a,
            local2: b,
        };
        assert!(p.matches_large(&l(65001, 1, 2)));
        assert!(!p.matches_large(&l(65002, 1, 2)));
        assert!(!p.matches_standard(Community(65001 << 16 | 1)));
        let p: CommunityPattern = "4200000000:*:7".parse().unwrap();
        assert!(p.matches_large(&l(4_200_000_000, 9, 7)));
        assert!(!p.matches_large(&l(4_200_000_000, 9, 8)));
        assert_eq!(p.to_string(), "4200000000:*:7");
    }

    #[test]
    fn bad_wildcards_are_errors() {
        for s in ["65536:*", "*", "a:*", "1:2:3:4", "*:-1", "65001:**", ""] {
            assert!(s.parse::<CommunityPattern>().is_err(), "{s}");
        }
    }
}
