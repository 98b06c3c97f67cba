//! Paths (one route to a prefix from one source) and the attribute interner
//! that lets a full table share a few hundred thousand attribute sets.

use std::net::IpAddr;
use std::sync::Arc;

use bgp::wire::PathAttributes;

use crate::FastSet;

/// Index of a configured peer, assigned by the daemon.
pub type PeerId = u32;

/// Where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Originated by this router (`announce:`).
    Local,
    Peer(PeerId),
}

/// One path in the Loc-RIB. A full table holds one per prefix and peer, so
/// it is kept small (see the size test): what is per peer (BGP Identifier,
/// session address) is looked up through `source`, not copied here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub source: Source,
    pub attrs: Arc<PathAttributes>,
    /// The BGP next hop as received (unspecified for local routes), one
    /// allocation shared by every path through it.
    pub next_hop: Arc<IpAddr>,
}

/// Hands out one shared `Arc` per distinct attribute set.
#[derive(Debug, Default)]
pub struct Interner {
    set: FastSet<Arc<PathAttributes>>,
    /// Size after the last sweep; a sweep runs when the set doubles.
    swept_at: usize,
}

impl Interner {
    pub fn intern(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(existing) = self.set.get(&attrs) {
            return existing.clone();
        }
        if self.set.len() >= 2 * self.swept_at.max(1024) {
            self.sweep();
        }
        let arc = Arc::new(attrs);
        self.set.insert(arc.clone());
        arc
    }

    /// Drops attribute sets no path refers to any more.
    pub fn sweep(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.swept_at = self.set.len();
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::AsPath;

    #[test]
    fn path_stays_small() {
        // Two Arcs (8 + 8) and the source (8): one per route and peer.
        assert!(std::mem::size_of::<Path>() <= 24);
    }

    #[test]
    fn equal_attribute_sets_share_one_allocation() {
        let mut i = Interner::default();
        let a = PathAttributes {
            as_path: AsPath::from_sequence([65501]),
            ..Default::default()
        };
        let x = i.intern(a.clone());
        let y = i.intern(a);
        assert!(Arc::ptr_eq(&x, &y));
        let z = i.intern(PathAttributes {
            med: Some(5),
            ..Default::default()
        });
        assert!(!Arc::ptr_eq(&x, &z));
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn sweep_drops_unreferenced_sets() {
        let mut i = Interner::default();
        let kept = i.intern(PathAttributes {
            med: Some(1),
            ..Default::default()
        });
        drop(i.intern(PathAttributes {
            med: Some(2),
            ..Default::default()
        }));
        i.sweep();
        assert_eq!(i.len(), 1);
        assert!(Arc::ptr_eq(
            &kept,
            &i.intern(PathAttributes {
                med: Some(1),
                ..Default::default()
            })
        ));
    }
}
