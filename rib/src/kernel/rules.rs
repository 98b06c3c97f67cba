//! Policy routing: the `ip rule`s wgbgpd owns and the underlay pins that keep a tunnel's
//! encrypted packets out of the BGP routes.
//!
//! ```text
//!   wanted rules (config) ──diff()──▶ (add, delete) ──RuleClient──▶ RTM_NEWRULE / RTM_DELRULE
//!   rules we own (dump, FRA_PROTOCOL = ours) ──┘
//!   KernelView + tunnel endpoints ──pins()──▶ host routes for the underlay table
//! ```
//!
//! Our rules carry `FRA_PROTOCOL` = [`RTPROT_BGP`] (`ip rule` shows `proto bgp`), which is how
//! a restart finds the rules of an earlier run instead of adding duplicates. The pure parts
//! ([`IpRule`] conversion, [`diff`], [`pins`]) are tested without a socket.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, IpVersion, MulticastGroup};
use tokio::sync::mpsc;

use super::view::{KernelNextHop, KernelView, RTPROT_BGP};

/// Address family of a rule (a rule lives in one family's rule list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

/// One `ip rule` as wgbgpd manages it: selectors and a `lookup <table>` action.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRule {
    pub family: Family,
    pub priority: u32,
    /// `from PREFIX`
    pub from: Option<IpNet>,
    /// `to PREFIX`
    pub to: Option<IpNet>,
    /// `fwmark M` (mask all ones)
    pub fwmark: Option<u32>,
    /// `iif NAME`
    pub iif: Option<String>,
    /// `lookup TABLE`
    pub table: u32,
}

impl IpRule {
    /// The `RTM_NEWRULE`/`RTM_DELRULE` body for this rule, stamped with our protocol.
    pub fn to_message(&self) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = match self.family {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        };
        m.header.action = RuleAction::ToTable;
        // Tables above 255 only fit FRA_TABLE; RT_TABLE_UNSPEC in the header defers to it.
        m.header.table = if self.table < 256 {
            self.table as u8
        } else {
            0
        };
        m.attributes.push(RuleAttribute::Table(self.table));
        m.attributes.push(RuleAttribute::Priority(self.priority));
        if let Some(from) = self.from {
            m.header.src_len = from.prefix_len();
            m.attributes.push(RuleAttribute::Source(from.network()));
        }
        if let Some(to) = self.to {
            m.header.dst_len = to.prefix_len();
            m.attributes.push(RuleAttribute::Destination(to.network()));
        }
        if let Some(mark) = self.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
            m.attributes.push(RuleAttribute::FwMask(u32::MAX));
        }
        if let Some(iif) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(iif.clone()));
        }
        m.attributes
            .push(RuleAttribute::Protocol(RouteProtocol::from(RTPROT_BGP)));
        m
    }

    /// The rule in a dumped message if it is one of ours (our protocol, a plain
    /// `lookup` rule); None for anyone else's.
    pub fn from_message(m: &RuleMessage) -> Option<IpRule> {
        let family = match m.header.family {
            AddressFamily::Inet => Family::V4,
            AddressFamily::Inet6 => Family::V6,
            _ => return None,
        };
        let mut rule = IpRule {
            family,
            priority: 0,
            from: None,
            to: None,
            fwmark: None,
            iif: None,
            table: u32::from(m.header.table),
        };
        let mut ours = false;
        let mut mask = u32::MAX;
        for a in &m.attributes {
            match a {
                RuleAttribute::Protocol(p) => ours = u8::from(*p) == RTPROT_BGP,
                RuleAttribute::Priority(p) => rule.priority = *p,
                RuleAttribute::Table(t) => rule.table = *t,
                RuleAttribute::Source(a) => {
                    rule.from = IpNet::new(*a, m.header.src_len).ok().map(|n| n.trunc())
                }
                RuleAttribute::Destination(a) => {
                    rule.to = IpNet::new(*a, m.header.dst_len).ok().map(|n| n.trunc())
                }
                RuleAttribute::FwMark(v) => rule.fwmark = Some(*v),
                RuleAttribute::FwMask(v) => mask = *v,
                RuleAttribute::Iifname(n) => rule.iif = Some(n.clone()),
                _ => {}
            }
        }
        // A mark with another mask is not a rule we would have written: the diff then
        // deletes it and adds ours.
        if mask != u32::MAX {
            rule.fwmark = rule.fwmark.map(|_| u32::MAX);
        }
        (ours && m.header.action == RuleAction::ToTable).then_some(rule)
    }
}

/// What to delete and what to add to turn the rules we own (`have`) into `want`.
/// Duplicates in `have` (e.g. left by two crashed runs) are deleted down to one.
pub fn diff(have: &[IpRule], want: &[IpRule]) -> (Vec<IpRule>, Vec<IpRule>) {
    let want_set: BTreeSet<&IpRule> = want.iter().collect();
    let mut seen = BTreeSet::new();
    let mut delete = Vec::new();
    for r in have {
        if !want_set.contains(r) || !seen.insert(r) {
            delete.push(r.clone());
        }
    }
    let add = want_set
        .into_iter()
        .filter(|r| !seen.contains(r))
        .cloned()
        .collect();
    (delete, add)
}

/// The host route that pins each tunnel endpoint in the underlay table: the kernel's
/// longest-prefix match for the endpoint among non-BGP routes of the main table (the default
/// route included, unlike next-hop resolution), ignoring routes through `exclude` (the
/// tunnels' own interfaces, which would loop as surely as a BGP route; a less specific
/// route then matches). Endpoints without
/// such a route get no pin: their packets then follow the main table as before.
pub fn pins(
    view: &KernelView,
    endpoints: &BTreeSet<IpAddr>,
    exclude: &BTreeSet<u32>,
) -> BTreeMap<IpNet, Vec<KernelNextHop>> {
    endpoints
        .iter()
        .filter_map(|ep| {
            let hops = view.resolve_underlay(*ep, &|i| exclude.contains(&i))?;
            Some((IpNet::from(*ep), hops))
        })
        .collect()
}

/// Adds, deletes and lists our rules over an rtnetlink handle.
pub struct RuleClient {
    handle: Handle,
}

impl RuleClient {
    pub fn new(handle: Handle) -> Self {
        RuleClient { handle }
    }

    /// Opens its own rtnetlink connection subscribed to rule changes too: the receiver gets
    /// `()` for every rule added or deleted by anyone (our own changes included), so a rule
    /// deleted behind our back is noticed at once.
    pub fn connect_watching() -> std::io::Result<(Self, mpsc::UnboundedReceiver<()>)> {
        let (conn, handle, mut messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Ipv4Rule,
            MulticastGroup::Ipv6Rule,
        ])?;
        tokio::spawn(conn);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((msg, _)) = messages.next().await {
                let rule_change = matches!(
                    msg.payload,
                    NetlinkPayload::InnerMessage(
                        RouteNetlinkMessage::NewRule(_) | RouteNetlinkMessage::DelRule(_)
                    )
                );
                if rule_change && tx.send(()).is_err() {
                    return;
                }
            }
        });
        Ok((RuleClient::new(handle), rx))
    }

    /// Rules with our protocol, both families.
    pub async fn dump_own(&self) -> Result<Vec<IpRule>, rtnetlink::Error> {
        let mut own = Vec::new();
        for v in [IpVersion::V4, IpVersion::V6] {
            let msgs: Vec<RuleMessage> = self.handle.rule().get(v).execute().try_collect().await?;
            own.extend(msgs.iter().filter_map(IpRule::from_message));
        }
        Ok(own)
    }

    pub async fn add(&self, rule: &IpRule) -> Result<(), rtnetlink::Error> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = rule.to_message();
        req.execute().await
    }

    /// Deletes `rule`; one that is already gone is not an error.
    pub async fn delete(&self, rule: &IpRule) -> Result<(), rtnetlink::Error> {
        match self.handle.rule().del(rule.to_message()).execute().await {
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code().abs() == libc::ENOENT || e.raw_code().abs() == libc::ESRCH =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// Makes the kernel's rules of ours equal `want`; returns (deleted, added) counts and
    /// the first failure, if any (the others are still attempted).
    pub async fn sync(&self, want: &[IpRule]) -> Result<(usize, usize), String> {
        let have = self.dump_own().await.map_err(|e| e.to_string())?;
        let (delete, add) = diff(&have, want);
        let mut first_err = None;
        for r in &delete {
            if let Err(e) = self.delete(r).await {
                first_err.get_or_insert(format!("deleting rule {r:?}: {e}"));
            }
        }
        for r in &add {
            if let Err(e) = self.add(r).await {
                first_err.get_or_insert(format!("adding rule {r:?}: {e}"));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok((delete.len(), add.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{KernelEvent, KernelRoute};

    fn rule(priority: u32, from: Option<&str>, table: u32) -> IpRule {
        IpRule {
            family: Family::V4,
            priority,
            from: from.map(|s| s.parse().unwrap()),
            to: None,
            fwmark: None,
            iif: None,
            table,
        }
    }

    #[test]
    fn rules_survive_the_netlink_message_both_ways() {
        let rules = [
            IpRule {
                fwmark: Some(51820),
                ..rule(5000, None, 51820)
            },
            IpRule {
                family: Family::V6,
                to: Some("fd00::/8".parse().unwrap()),
                iif: Some("eth1".into()),
                ..rule(100, Some("fd01::/64"), 100)
            },
            rule(7, Some("10.0.1.0/24"), 100),
        ];
        for r in rules {
            let m = r.to_message();
            assert_eq!(IpRule::from_message(&m), Some(r.clone()), "{m:?}");
        }
    }

    #[test]
    fn rules_of_other_protocols_or_actions_are_not_ours() {
        let mut m = rule(10, None, 100).to_message();
        m.attributes
            .retain(|a| !matches!(a, RuleAttribute::Protocol(_)));
        assert_eq!(
            IpRule::from_message(&m),
            None,
            "no protocol: an admin's rule"
        );
        let mut m = rule(10, None, 100).to_message();
        m.header.action = RuleAction::Blackhole;
        assert_eq!(IpRule::from_message(&m), None);
    }

    #[test]
    fn diff_adds_missing_deletes_unwanted_and_duplicates() {
        let a = rule(1, Some("10.0.1.0/24"), 100);
        let b = rule(2, None, 200);
        let c = rule(3, None, 300);
        let (del, add) = diff(&[a.clone(), a.clone(), c.clone()], &[a.clone(), b.clone()]);
        assert_eq!(del, vec![a.clone(), c]);
        assert_eq!(add, vec![b]);
        let one = std::slice::from_ref(&a);
        let (del, add) = diff(one, one);
        assert!(del.is_empty() && add.is_empty());
    }

    fn route(prefix: &str, gw: Option<&str>, oif: u32, protocol: u8) -> KernelEvent {
        KernelEvent::RouteAdded(KernelRoute::unicast(
            prefix.parse().unwrap(),
            gw.map(|g| g.parse().unwrap()),
            oif,
            protocol,
            254,
        ))
    }

    #[test]
    fn pins_follow_the_longest_non_bgp_route_default_included() {
        let mut v = KernelView::new(254);
        for (ifindex, name) in [(2, "eth0"), (3, "veth1"), (9, "wg-x")] {
            v.apply(&KernelEvent::LinkChanged {
                ifindex,
                name: name.into(),
                up: true,
            });
        }
        v.apply(&route("0.0.0.0/0", Some("192.0.2.1"), 2, 3));
        v.apply(&route("10.99.0.0/24", None, 3, 2));
        // BGP routes (even more specific ones) and routes through a tunnel never pin.
        v.apply(&route("10.99.0.0/28", Some("10.0.0.1"), 9, RTPROT_BGP));
        v.apply(&route("198.51.100.0/24", None, 9, 4));
        let eps: BTreeSet<IpAddr> = ["10.99.0.2", "203.0.113.7", "198.51.100.9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let p = pins(&v, &eps, &BTreeSet::from([9]));
        let hop = |gw: &str, ifindex, onlink| KernelNextHop {
            gateway: gw.parse().unwrap(),
            ifindex,
            onlink,
        };
        assert_eq!(
            p.get(&"10.99.0.2/32".parse().unwrap()),
            Some(&vec![hop("10.99.0.2", 3, true)])
        );
        assert_eq!(
            p.get(&"203.0.113.7/32".parse().unwrap()),
            Some(&vec![hop("192.0.2.1", 2, false)]),
            "the default route is the underlay's"
        );
        assert_eq!(
            p.get(&"198.51.100.9/32".parse().unwrap()),
            Some(&vec![hop("192.0.2.1", 2, false)]),
            "a route through a tunnel is passed over for a less specific one"
        );
        let none = pins(&KernelView::new(254), &eps, &BTreeSet::new());
        assert!(none.is_empty(), "no underlay route, no pin");
    }
}
