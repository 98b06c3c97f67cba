//! Adj-RIB-Out (RFC 4271 §3.2): per peer, the attributes last sent for each
//! prefix, so that a best-path change that leaves a peer's view unchanged
//! sends nothing and a withdrawal goes only where an announcement went.
//!
//! One map per family, keyed by `Ipv4Net`/`Ipv6Net`: an IPv4 entry is 16
//! bytes instead of the 32 an `IpNet` key takes, which is most of what a
//! full table exported to one peer costs here.

use std::sync::Arc;

use bgp::wire::{Afi, PathAttributes};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::FastMap;

#[derive(Debug, Default)]
pub(super) struct AdjRibOut {
    v4: FastMap<Ipv4Net, Arc<PathAttributes>>,
    v6: FastMap<Ipv6Net, Arc<PathAttributes>>,
}

impl AdjRibOut {
    pub(super) fn get(&self, prefix: &IpNet) -> Option<&Arc<PathAttributes>> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    pub(super) fn insert(&mut self, prefix: IpNet, attrs: Arc<PathAttributes>) {
        match prefix {
            IpNet::V4(p) => self.v4.insert(p, attrs),
            IpNet::V6(p) => self.v6.insert(p, attrs),
        };
    }

    /// True if `prefix` had been sent.
    pub(super) fn remove(&mut self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self.v4.remove(p).is_some(),
            IpNet::V6(p) => self.v6.remove(p).is_some(),
        }
    }

    /// Forgets everything (the session went down); gives the memory back.
    pub(super) fn clear(&mut self) {
        self.v4 = FastMap::default();
        self.v6 = FastMap::default();
    }

    /// Forgets one family (a refresh of it resends everything).
    pub(super) fn clear_family(&mut self, afi: Afi) {
        match afi {
            Afi::Ipv4 => self.v4 = FastMap::default(),
            _ => self.v6 = FastMap::default(),
        }
    }

    /// Prefixes sent in `afi`.
    pub(super) fn len(&self, afi: Afi) -> usize {
        match afi {
            Afi::Ipv4 => self.v4.len(),
            _ => self.v6.len(),
        }
    }

    /// Nothing sent in any family.
    pub(super) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Every prefix sent, with what was sent, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (IpNet, &Arc<PathAttributes>)> {
        self.v4
            .iter()
            .map(|(p, a)| (IpNet::V4(*p), a))
            .chain(self.v6.iter().map(|(p, a)| (IpNet::V6(*p), a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_kept_apart_and_counted() {
        let mut out = AdjRibOut::default();
        let a = Arc::new(PathAttributes::default());
        let v4: IpNet = "198.51.100.0/24".parse().unwrap();
        let v6: IpNet = "2001:db8::/48".parse().unwrap();
        out.insert(v4, a.clone());
        out.insert(v6, a.clone());
        assert_eq!((out.len(Afi::Ipv4), out.len(Afi::Ipv6)), (1, 1));
        assert!(out.get(&v4).is_some_and(|x| Arc::ptr_eq(x, &a)));
        out.clear_family(Afi::Ipv4);
        assert!(out.get(&v4).is_none() && out.get(&v6).is_some());
        assert_eq!(out.iter().map(|(p, _)| p).collect::<Vec<_>>(), vec![v6]);
        assert!(out.remove(&v6));
        assert!(!out.remove(&v6));
        assert_eq!(out.len(Afi::Ipv6), 0);
    }
}
