//! Best-path selection (RFC 4271 §9.1.2.2), as an ordered list of steps
//! that records why each candidate lost, so `show bgp` can say it.
//!
//! Selection eliminates candidates step by step, as the RFC writes it, and
//! never compares two paths in isolation: MED is only compared between
//! paths from the same neighbouring AS, so a pairwise "is better than" is
//! not transitive and its answer would depend on arrival order. Removing,
//! within each neighbouring AS, the paths with a worse MED before the
//! router-ID tie-breaks is BIRD's `deterministic med` and FRR's
//! `bgp deterministic-med`; here it is the only behaviour.

use std::net::{IpAddr, Ipv4Addr};

use smallvec::SmallVec;

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

/// The step at which a path lost to the best one, in the order of the
/// steps (so the latest step of several is the largest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LossReason {
    /// Its next hop does not resolve (RFC 4271 §9.1.2 "unresolvable").
    NextHopUnresolved,
    LocalPref,
    /// Locally originated paths win over learned ones.
    LocalOrigin,
    AsPathLength,
    Origin,
    /// A path from the same neighbouring AS has a lower MED (§9.1.2.2 c).
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

/// A missing MED counts as 0 (RFC 4271 §5.1.4).
fn med(p: &Path) -> u32 {
    p.attrs.med.unwrap_or(0)
}

/// Indexes of the candidates still in the running; full tables have one
/// to three paths a prefix, so this never allocates there.
type Candidates = SmallVec<[usize; 8]>;

/// The outcome of one elimination run.
struct Elimination {
    best: Option<usize>,
    /// The candidates left after the MED step: the paths that tie with the
    /// best up to and including MED (multipath takes from these).
    after_med: Candidates,
    /// The step that removed the path asked about, if it lost.
    watched_lost_at: Option<LossReason>,
}

/// Runs §9.1.2.2 over the eligible `paths`. `watch` names a path whose
/// losing step is recorded.
fn eliminate(
    paths: &[Path],
    ids: &impl TieBreak,
    eligible: impl Fn(usize) -> bool,
    watch: Option<usize>,
) -> Elimination {
    let mut set: Candidates = (0..paths.len()).filter(|&i| eligible(i)).collect();
    let mut lost_at = None;
    let mut note = |set: &Candidates, reason: LossReason| {
        if let Some(w) = watch
            && lost_at.is_none()
            && !set.contains(&w)
        {
            lost_at = Some(reason);
        }
    };

    // Higher LOCAL_PREF first (§9.1.1 degree of preference).
    keep_min(&mut set, |i| std::cmp::Reverse(local_pref(&paths[i])));
    note(&set, LossReason::LocalPref);
    keep_min(&mut set, |i| paths[i].source != Source::Local);
    note(&set, LossReason::LocalOrigin);
    keep_min(&mut set, |i| paths[i].attrs.as_path.len());
    note(&set, LossReason::AsPathLength);
    keep_min(&mut set, |i| paths[i].attrs.origin);
    note(&set, LossReason::Origin);

    // §9.1.2.2 c: within each neighbouring AS, only the lowest MED stays.
    let snapshot = set.clone();
    set.retain(|i| {
        let (asn, m) = (paths[*i].attrs.as_path.first(), med(&paths[*i]));
        !snapshot
            .iter()
            .any(|&j| paths[j].attrs.as_path.first() == asn && med(&paths[j]) < m)
    });
    note(&set, LossReason::Med);
    let after_med = set.clone();

    // What is left is totally ordered: stale last, then router ID, then
    // peer address (§9.1.2.2 f, g).
    let key = |i: usize| {
        let (id, addr) = ids.ids(paths[i].source);
        (ids.stale(paths[i].source), u32::from(id), addr)
    };
    let best = set.iter().copied().min_by_key(|&i| (key(i), i));
    if let (Some(w), Some(b), None) = (watch, best, lost_at)
        && w != b
        && set.contains(&w)
    {
        let (kw, kb) = (key(w), key(b));
        lost_at = Some(if kw.0 != kb.0 {
            LossReason::Stale
        } else if kw.1 != kb.1 {
            LossReason::RouterId
        } else {
            LossReason::PeerAddress
        });
    }
    Elimination {
        best,
        after_med,
        watched_lost_at: lost_at,
    }
}

/// Keeps the candidates whose `key` is the smallest.
fn keep_min<K: Ord>(set: &mut Candidates, key: impl Fn(usize) -> K) {
    if set.len() < 2 {
        return;
    }
    if let Some(min) = set.iter().map(|&i| key(i)).min() {
        set.retain(|i| key(*i) == min);
    }
}

/// Picks the best of `paths`; `eligible(i)` says whether path `i` may be
/// used at all (its next hop resolves). Returns the index of the winner,
/// the same whatever the order of `paths`.
pub fn select(
    paths: &[Path],
    ids: &impl TieBreak,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    if paths.len() == 1 {
        return eligible(0).then_some(0);
    }
    eliminate(paths, ids, eligible, None).best
}

/// Multipath: the eligible paths that tie with `best` up to and including
/// MED (LOCAL_PREF, origination, AS_PATH length, ORIGIN, MED), best first,
/// at most `max`. Without `relax` the AS_PATHs must also be identical (FRR's
/// default); with it, equal length is enough (`as-path multipath-relax`).
/// A stale path is never combined with a fresh one.
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
    if b.source == Source::Local {
        return out;
    }
    let tied = eliminate(paths, ids, eligible, None).after_med;
    for i in tied {
        if out.len() >= max {
            break;
        }
        let p = &paths[i];
        if i == best || p.source == Source::Local || ids.stale(p.source) != ids.stale(b.source) {
            continue;
        }
        if relax || p.attrs.as_path == b.attrs.as_path {
            out.push(i);
        }
    }
    out
}

/// Why path `i` is not the best of `paths`: the step that removed it, or
/// that its next hop does not resolve. `None` for the best path itself.
pub fn loss_reason(
    paths: &[Path],
    i: usize,
    ids: &impl TieBreak,
    eligible: impl Fn(usize) -> bool,
) -> Option<LossReason> {
    if !eligible(i) {
        return Some(LossReason::NextHopUnresolved);
    }
    eliminate(paths, ids, eligible, Some(i)).watched_lost_at
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

    /// The best of `paths`, every next hop resolving.
    fn winner(paths: &[Path]) -> Option<usize> {
        select(paths, &ids, |_| true)
    }

    /// Why `paths[i]` lost, every next hop resolving.
    fn why_lost(paths: &[Path], i: usize) -> Option<LossReason> {
        loss_reason(paths, i, &ids, |_| true)
    }

    #[test]
    fn shorter_as_path_wins() {
        let a = path(1, &[65501, 65510], |_| {});
        let b = path(2, &[65502], |_| {});
        assert_eq!(winner(&[a.clone(), b.clone()]), Some(1));
        assert_eq!(why_lost(&[a, b], 0), Some(LossReason::AsPathLength));
    }

    #[test]
    fn local_pref_beats_as_path_length() {
        let a = path(1, &[65501, 65510, 65511], |a| a.local_pref = Some(200));
        let b = path(2, &[65502], |_| {});
        assert_eq!(winner(&[a, b.clone()]), Some(0));
    }

    #[test]
    fn lower_origin_wins_on_equal_length() {
        let a = path(1, &[65501], |a| a.origin = Origin::Incomplete);
        let b = path(2, &[65502], |a| a.origin = Origin::Igp);
        assert_eq!(winner(&[a.clone(), b.clone()]), Some(1));
        assert_eq!(why_lost(&[a, b], 0), Some(LossReason::Origin));
    }

    #[test]
    fn med_compared_only_within_the_same_neighbour_as() {
        let a = path(1, &[65501], |a| a.med = Some(50));
        let b = path(2, &[65501], |a| a.med = Some(10));
        assert_eq!(winner(&[a.clone(), b.clone()]), Some(1));
        // Different neighbour AS: MED is skipped and the router ID decides.
        let c = path(3, &[65503], |a| a.med = Some(0));
        assert_eq!(winner(&[a.clone(), c.clone()]), Some(0));
        assert_eq!(why_lost(&[a, c], 1), Some(LossReason::RouterId));
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
            loss_reason(&paths, 0, &StaleIds(1 << 1), |_| true),
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
        assert_eq!(winner(&[learned, local]), Some(1));
    }

    #[test]
    fn multipath_takes_ties_up_to_med_and_respects_relax() {
        let a = path(1, &[65501, 65510], |_| {});
        let b = path(2, &[65502, 65510], |_| {});
        let c = path(3, &[65501, 65510], |_| {});
        let longer = path(4, &[65504, 65510, 65511], |_| {});
        let paths = vec![a, b, c, longer];
        let best = winner(&paths).unwrap();
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
        let best = winner(&paths).unwrap();
        let mut reversed = paths.clone();
        reversed.reverse();
        let best_rev = winner(&reversed).unwrap();
        assert_eq!(paths[best], reversed[best_rev]);
        assert_eq!(ids(paths[best].source).0, Ipv4Addr::new(1, 1, 1, 1));
    }

    /// Every order of `paths` selects the same path, and every loser names
    /// the same losing step.
    fn assert_order_independent(paths: &[Path]) -> Source {
        let mut answers = std::collections::BTreeSet::new();
        let mut perm: Vec<usize> = (0..paths.len()).collect();
        let mut seen = 0;
        permute(&mut perm, 0, &mut |order| {
            let ordered: Vec<Path> = order.iter().map(|&i| paths[i].clone()).collect();
            let best = winner(&ordered).unwrap();
            let reasons: Vec<(u32, Option<LossReason>)> = (0..ordered.len())
                .map(|i| {
                    let Source::Peer(p) = ordered[i].source else {
                        unreachable!()
                    };
                    (p, why_lost(&ordered, i))
                })
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect();
            let Source::Peer(winner) = ordered[best].source else {
                unreachable!()
            };
            answers.insert(format!("{winner} {reasons:?}"));
            seen += 1;
        });
        assert!(seen >= 6);
        assert_eq!(answers.len(), 1, "answers depend on order: {answers:?}");
        let first = answers.into_iter().next().unwrap();
        Source::Peer(first.split(' ').next().unwrap().parse().unwrap())
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    /// The case: A (AS1, MED 100, id 1), B (AS2, MED 0, id 2),
    /// C (AS1, MED 0, id 3). Within AS1, C's MED removes A; then B's lower
    /// router ID beats C. BIRD with `deterministic med` and FRR with
    /// `bgp deterministic-med` both pick B.
    #[test]
    fn med_elimination_picks_the_same_path_in_every_order() {
        let a = path(1, &[1], |a| a.med = Some(100));
        let b = path(2, &[2], |a| a.med = Some(0));
        let c = path(3, &[1], |a| a.med = Some(0));
        let paths = [a, b, c];
        assert_eq!(assert_order_independent(&paths), Source::Peer(2));
        assert_eq!(why_lost(&paths, 0), Some(LossReason::Med));
        assert_eq!(why_lost(&paths, 2), Some(LossReason::RouterId));
        assert_eq!(why_lost(&paths, 1), None);
    }

    /// Every set of 3 to 5 paths over two neighbouring ASes, with MEDs and
    /// router IDs in every arrangement drawn from a small grid, selects one
    /// answer in all orders.
    #[test]
    fn every_permutation_of_three_to_five_paths_gives_one_answer() {
        let meds = [None, Some(0), Some(10), Some(100)];
        let mut cases = 0;
        for n in 3..=5u32 {
            // A deterministic spread of (neighbour AS, MED) choices per path.
            for seed in 0..40u32 {
                let paths: Vec<Path> = (0..n)
                    .map(|k| {
                        let x = seed.wrapping_mul(2654435761).rotate_left(k * 5) ^ (k * 7919);
                        let asn = 1 + (x % 2);
                        let m = meds[((x >> 3) % 4) as usize];
                        // Router IDs: peer numbers, shuffled by the seed.
                        let peer = 1 + ((k + seed) % n);
                        path(peer, &[asn, 65000], move |a| a.med = m)
                    })
                    .collect();
                assert_order_independent(&paths);
                cases += 1;
            }
        }
        assert_eq!(cases, 120);
    }

    #[test]
    fn multipath_after_med_elimination_keeps_the_lowest_med_per_as() {
        // Two paths from AS1 (MED 0 and 5) and one from AS2: with relax,
        // the AS1 path with MED 5 is not a multipath member.
        let a = path(1, &[1, 9], |a| a.med = Some(5));
        let b = path(2, &[2, 9], |a| a.med = Some(50));
        let c = path(3, &[1, 9], |a| a.med = Some(0));
        let paths = [a, b, c];
        let best = winner(&paths).unwrap();
        assert_eq!(best, 1);
        assert_eq!(multipath(&paths, &ids, best, 4, true, |_| true), vec![1, 2]);
    }
}
