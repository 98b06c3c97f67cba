//! The Loc-RIB's map: one ordered map per address family, keyed by the
//! family's own prefix type (5 bytes for IPv4 instead of `IpNet`'s 18), as
//! the key is stored once per route of a full table.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Dest;

/// Every prefix of the Loc-RIB, IPv4 first, each family in prefix order.
#[derive(Debug, Default)]
pub struct LocRib {
    v4: BTreeMap<Ipv4Net, Dest>,
    v6: BTreeMap<Ipv6Net, Dest>,
}

impl LocRib {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Prefixes of one family: (IPv4, IPv6).
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&Dest> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    pub(super) fn get_mut(&mut self, prefix: &IpNet) -> Option<&mut Dest> {
        match prefix {
            IpNet::V4(p) => self.v4.get_mut(p),
            IpNet::V6(p) => self.v6.get_mut(p),
        }
    }

    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    pub(super) fn get_or_default(&mut self, prefix: IpNet) -> &mut Dest {
        match prefix {
            IpNet::V4(p) => self.v4.entry(p).or_default(),
            IpNet::V6(p) => self.v6.entry(p).or_default(),
        }
    }

    pub(super) fn remove(&mut self, prefix: &IpNet) -> Option<Dest> {
        match prefix {
            IpNet::V4(p) => self.v4.remove(p),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Dest)> {
        let v4 = self.v4.iter().map(|(p, d)| (IpNet::V4(*p), d));
        let v6 = self.v6.iter().map(|(p, d)| (IpNet::V6(*p), d));
        v4.chain(v6)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut Dest)> {
        let v4 = self.v4.iter_mut().map(|(p, d)| (IpNet::V4(*p), d));
        let v6 = self.v6.iter_mut().map(|(p, d)| (IpNet::V6(*p), d));
        v4.chain(v6)
    }

    pub fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(p, _)| p)
    }
}

impl std::ops::Index<&IpNet> for LocRib {
    type Output = Dest;

    fn index(&self, prefix: &IpNet) -> &Dest {
        self.get(prefix).expect("prefix in the Loc-RIB")
    }
}
