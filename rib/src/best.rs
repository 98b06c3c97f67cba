//! Best-path selection (RFC 4271 §9.1.2.2), as an ordered list of steps
//! that records why each candidate lost, so `show bgp` can say it.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use crate::path::{Path, Source};

/// The last tie-breakers of a path's source: its BGP Identifier and session
/// address (§9.1.2.2 f, g). They are per peer, so paths don't carry them.
pub trait TieBreak {
    fn ids(&self, source: Source) -> (Ipv4Addr, IpAddr);

    /// Whether the path from `source` is stale: kept across its peer's
    /// graceful restart (RFC 4724 §4.2) and not re-announced yet.
    fn stale(&self, _source: Source) -> bool {
        false
    }
}

impl<F: Fn(Source) -> (Ipv4Addr, IpAddr)> TieBreak for F {
    fn ids(&self, source: Source) -> (Ipv4Addr, IpAddr) {
        self(source)
    }
}

/// LOCAL_PREF assumed for paths without one (eBGP), as FRR and BIRD do.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// The step at which a path lost to the best one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// Its next hop does not resolve (RFC 4271 §9.1.2 "unresolvable").
    NextHopUnresolved,
    LocalPref,
    /// Locally originated paths win over learned ones.
    LocalOrigin,
    AsPathLength,
    Origin,
    /// MED, compared only between paths from the same neighbour AS (§9.1.2.2 c).
    Med,
    /// A fresh path wins over a stale one (kept across its peer's graceful
    /// restart) that ties with it so far: the fresh one is what a live
    /// session says now. RFC 4724 leaves this open; it is our choice.
    Stale,
    /// Lower BGP Identifier wins (§9.1.2.2 f).
    RouterId,
    /// Lower peer address wins (§9.1.2.2 g).
    PeerAddress,
}

impl LossReason {
    pub fn describe(self) -> &'static str {
        match self {
            LossReason::NextHopUnresolved => "next hop unresolved",
            LossReason::LocalPref => "local preference",
            LossReason::LocalOrigin => "locally originated path preferred",
            LossReason::AsPathLength => "AS path length",
            LossReason::Origin => "origin",
            LossReason::Med => "MED",
            LossReason::Stale => "stale (graceful restart)",
            LossReason::RouterId => "router ID",
            LossReason::PeerAddress => "peer address",
        }
    }
}

fn local_pref(p: &Path) -> u32 {
    p.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
}

/// Compares two eligible paths: `Less` means `a` is better. The reason is
/// the step that decided.
pub fn compare(a: &Path, b: &Path, ids: &impl TieBreak) -> (Ordering, Option<LossReason>) {
    let steps: [(LossReason, Ordering); 4] = [
        // Higher LOCAL_PREF first (§9.1.1 degree of preference).
        (LossReason::LocalPref, local_pref(b).cmp(&local_pref(a))),
        (
            LossReason::LocalOrigin,
            (a.source != Source::Local).cmp(&(b.source != Source::Local)),
        ),
        (
            LossReason::AsPathLength,
            a.attrs.as_path.len().cmp(&b.attrs.as_path.len()),
        ),
        (LossReason::Origin, a.attrs.origin.cmp(&b.attrs.origin)),
    ];
    for (reason, ord) in steps {
        if ord != Ordering::Equal {
            return (ord, Some(reason));
        }
    }
    // §9.1.2.2 c: MED only between routes from the same neighbouring AS;
    // a missing MED counts as 0 (RFC 4271 §5.1.4).
    if a.attrs.as_path.first() == b.attrs.as_path.first() {
        let ord = a.attrs.med.unwrap_or(0).cmp(&b.attrs.med.unwrap_or(0));
        if ord != Ordering::Equal {
            return (ord, Some(LossReason::Med));
        }
    }
    let ord = ids.stale(a.source).cmp(&ids.stale(b.source));
    if ord != Ordering::Equal {
        return (ord, Some(LossReason::Stale));
    }
    let (a_id, a_addr) = ids.ids(a.source);
    let (b_id, b_addr) = ids.ids(b.source);
    let ord = u32::from(a_id).cmp(&u32::from(b_id));
    if ord != Ordering::Equal {
        return (ord, Some(LossReason::RouterId));
    }
    let ord = a_addr.cmp(&b_addr);
    if ord != Ordering::Equal {
        return (ord, Some(LossReason::PeerAddress));
    }
    (Ordering::Equal, None)
}

/// Picks the best of `paths`; `eligible(i)` says whether path `i` may be
/// used at all (its next hop resolves). Returns the index of the winner.
pub fn select(
    paths: &[Path],
    ids: &impl TieBreak,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in (0..paths.len()).filter(|&i| eligible(i)) {
        best = match best {
            Some(b) if compare(&paths[b], &paths[i], ids).0 != Ordering::Greater => Some(b),
            _ => Some(i),
        };
    }
    best
}

/// Multipath: the eligible paths that tie with `best` up to and including
/// MED (LOCAL_PREF, origination, AS_PATH length, ORIGIN, MED), best first,
/// at most `max`. Without `relax` the AS_PATHs must also be identical (FRR's
/// default); with it, equal length is enough (`as-path multipath-relax`).
pub fn multipath(
    paths: &[Path],
    ids: &impl TieBreak,
    best: usize,
    max: usize,
    relax: bool,
    eligible: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut out = vec![best];
    let b = &paths[best];
    for (i, p) in paths.iter().enumerate() {
        if out.len() >= max {
            break;
        }
        if i == best || !eligible(i) || p.source == Source::Local || b.source == Source::Local {
            continue;
        }
        let (_, reason) = compare(b, p, ids);
        let tied = matches!(
            reason,
            None | Some(LossReason::RouterId | LossReason::PeerAddress)
        );
        if tied && (relax || p.attrs.as_path == b.attrs.as_path) {
            out.push(i);
        }
    }
    out
}

/// Why `path` is not the best: the deciding step against `best`, or that
/// its next hop does not resolve.
pub fn loss_reason(
    path: &Path,
    best: &Path,
    ids: &impl TieBreak,
    eligible: bool,
) -> Option<LossReason> {
    if !eligible {
        return Some(LossReason::NextHopUnresolved);
    }
    compare(best, path, ids).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::{AsPath, Origin, PathAttributes};
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    fn path(peer: u32, as_path: &[u32], f: impl FnOnce(&mut PathAttributes)) -> Path {
        let mut attrs = PathAttributes {
            as_path: AsPath::from_sequence(as_path.iter().copied()),
            ..Default::default()
        };
        f(&mut attrs);
        Path {
            source: Source::Peer(peer),
            attrs: Arc::new(attrs),
            next_hop: Arc::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer as u8))),
        }
    }

    /// Peer n has router ID n.n.n.n and address 10.0.0.n.
    fn ids(source: Source) -> (Ipv4Addr, IpAddr) {
        let n = match source {
            Source::Local => 0,
            Source::Peer(p) => p as u8,
        };
        (
            Ipv4Addr::new(n, n, n, n),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        )
    }

    #[test]
    fn shorter_as_path_wins() {
        let a = path(1, &[65501, 65510], |_| {});
        let b = path(2, &[65502], |_| {});
        assert_eq!(select(&[a.clone(), b.clone()], &ids, |_| true), Some(1));
        assert_eq!(
            loss_reason(&a, &b, &ids, true),
            Some(LossReason::AsPathLength)
        );
    }

    #[test]
    fn local_pref_beats_as_path_length() {
        let a = path(1, &[65501, 65510, 65511], |a| a.local_pref = Some(200));
        let b = path(2, &[65502], |_| {});
        assert_eq!(select(&[a, b.clone()], &ids, |_| true), Some(0));
    }

    #[test]
    fn lower_origin_wins_on_equal_length() {
        let a = path(1, &[65501], |a| a.origin = Origin::Incomplete);
        let b = path(2, &[65502], |a| a.origin = Origin::Igp);
        assert_eq!(select(&[a.clone(), b.clone()], &ids, |_| true), Some(1));
        assert_eq!(loss_reason(&a, &b, &ids, true), Some(LossReason::Origin));
    }

    #[test]
    fn med_compared_only_within_the_same_neighbour_as() {
        let a = path(1, &[65501], |a| a.med = Some(50));
        let b = path(2, &[65501], |a| a.med = Some(10));
        assert_eq!(select(&[a.clone(), b.clone()], &ids, |_| true), Some(1));
        // Different neighbour AS: MED is skipped and the router ID decides.
        let c = path(3, &[65503], |a| a.med = Some(0));
        assert_eq!(select(&[a.clone(), c.clone()], &ids, |_| true), Some(0));
        assert_eq!(loss_reason(&c, &a, &ids, true), Some(LossReason::RouterId));
    }

    /// Peer `n` is stale when bit `n` of the mask is set.
    struct StaleIds(u32);

    impl TieBreak for StaleIds {
        fn ids(&self, source: Source) -> (Ipv4Addr, IpAddr) {
            ids(source)
        }
        fn stale(&self, source: Source) -> bool {
            matches!(source, Source::Peer(p) if self.0 & (1 << p) != 0)
        }
    }

    #[test]
    fn fresh_path_beats_an_otherwise_tied_stale_one_before_router_id() {
        // Peer 1 has the lower router ID, but its path is stale.
        let stale = path(1, &[65501], |_| {});
        let fresh = path(2, &[65502], |_| {});
        let paths = [stale.clone(), fresh.clone()];
        assert_eq!(select(&paths, &StaleIds(1 << 1), |_| true), Some(1));
        assert_eq!(
            loss_reason(&stale, &fresh, &StaleIds(1 << 1), true),
            Some(LossReason::Stale)
        );
        // Both stale, or neither: the router ID decides as usual.
        assert_eq!(select(&paths, &StaleIds(0b110), |_| true), Some(0));
        assert_eq!(select(&paths, &StaleIds(0), |_| true), Some(0));
        // Staleness is a tie-breaker only: a shorter stale AS path still wins.
        let long_fresh = path(2, &[65502, 65510], |_| {});
        assert_eq!(
            select(&[stale, long_fresh], &StaleIds(1 << 1), |_| true),
            Some(0)
        );
        // A stale path is not installed together with a fresh one.
        let fresh3 = path(3, &[65503], |_| {});
        let paths = [path(1, &[65501], |_| {}), fresh.clone(), fresh3];
        let best = select(&paths, &StaleIds(1 << 1), |_| true).unwrap();
        assert_eq!(best, 1);
        assert_eq!(
            multipath(&paths, &StaleIds(1 << 1), best, 4, true, |_| true),
            vec![1, 2]
        );
    }

    #[test]
    fn unresolved_next_hop_is_never_best() {
        let a = path(1, &[65501], |_| {});
        let b = path(2, &[65502, 65503, 65504], |_| {});
        assert_eq!(select(&[a.clone(), b.clone()], &ids, |i| i == 1), Some(1));
        assert_eq!(select(&[a, b], &ids, |_| false), None);
    }

    #[test]
    fn locally_originated_wins_over_learned() {
        let mut local = path(9, &[], |_| {});
        local.source = Source::Local;
        let learned = path(1, &[], |_| {});
        assert_eq!(select(&[learned, local], &ids, |_| true), Some(1));
    }

    #[test]
    fn multipath_takes_ties_up_to_med_and_respects_relax() {
        let a = path(1, &[65501, 65510], |_| {});
        let b = path(2, &[65502, 65510], |_| {});
        let c = path(3, &[65501, 65510], |_| {});
        let longer = path(4, &[65504, 65510, 65511], |_| {});
        let paths = vec![a, b, c, longer];
        let best = select(&paths, &ids, |_| true).unwrap();
        assert_eq!(best, 0);
        // Identical AS path only (FRR default): path 2 (same path as 0).
        assert_eq!(
            multipath(&paths, &ids, best, 4, false, |_| true),
            vec![0, 2]
        );
        // Relaxed: any path of equal length.
        assert_eq!(
            multipath(&paths, &ids, best, 4, true, |_| true),
            vec![0, 1, 2]
        );
        assert_eq!(multipath(&paths, &ids, best, 2, true, |_| true), vec![0, 1]);
        assert_eq!(
            multipath(&paths, &ids, best, 4, true, |i| i != 1),
            vec![0, 2]
        );
        assert_eq!(multipath(&paths, &ids, best, 1, true, |_| true), vec![0]);
    }

    #[test]
    fn selection_is_independent_of_order() {
        let paths = vec![
            path(3, &[1, 2], |_| {}),
            path(1, &[5, 6], |_| {}),
            path(2, &[7, 8], |_| {}),
        ];
        let best = select(&paths, &ids, |_| true).unwrap();
        let mut reversed = paths.clone();
        reversed.reverse();
        let best_rev = select(&reversed, &ids, |_| true).unwrap();
        assert_eq!(paths[best], reversed[best_rev]);
        assert_eq!(ids(paths[best].source).0, Ipv4Addr::new(1, 1, 1, 1));
    }
}
