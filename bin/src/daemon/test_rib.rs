//! The RIB the daemon's unit tests start from: ours (AS 65500, router ID
//! 1.1.1.1) with peer S2 (AS 65501) at 2.2.2.2, its loopback reachable
//! through its tunnel `wg-s2`, both policies accepting everything.

use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp::wire::{AsPath, PathAttributes, Update};
use ipnet::Ipv4Net;
use rib::kernel::{KernelEvent, KernelRoute};
use rib::path::PeerId;
use rib::policy::{Action, Chain, Policy, Rule};
use rib::table::{PeerSettings, Rib, RibConfig};

/// S2's session id.
pub(crate) const S2: PeerId = 2;
/// The ifindex of S2's tunnel.
pub(crate) const WG_S2: u32 = 5;

pub(crate) fn accept_all() -> Chain {
    Chain(vec![Arc::new(Policy {
        name: "accept-all".into(),
        rules: vec![Rule::new(vec![], Action::Accept)],
    })])
}

/// Our RIB with no peer, S2's tunnel and host route in its kernel view.
pub(crate) fn rib() -> Rib {
    rib_with(false)
}

/// `rib`, handing the kernel backup paths (BGP PIC) if `backup_paths`.
pub(crate) fn rib_with(backup_paths: bool) -> Rib {
    let mut rib = Rib::new(RibConfig {
        local_as: 65500,
        router_id: Ipv4Addr::new(1, 1, 1, 1),
        table: 254,
        metric: 20,
        multipath: 1,
        multipath_relax: false,
        max_as_path_len: None,
        backup_paths,
    });
    rib.handle_kernel_event(&KernelEvent::Resync(vec![
        KernelEvent::LinkChanged {
            ifindex: WG_S2,
            name: "wg-s2".into(),
            up: true,
        },
        KernelEvent::RouteAdded(KernelRoute::unicast(
            "2.2.2.2/32".parse().unwrap(),
            None,
            WG_S2,
            4,
            254,
        )),
    ]));
    rib
}

/// The RIB with S2 added (not yet up), its settings as `settings` leaves
/// them (next hop 1.1.1.1, no IPv6 one, no interface by default).
pub(crate) fn with_s2(settings: impl FnOnce(&mut PeerSettings)) -> Rib {
    let mut rib = rib();
    let mut s2 = PeerSettings {
        name: "s2".into(),
        address: "2.2.2.2".parse().unwrap(),
        asn: 65501,
        import: accept_all(),
        export: accept_all(),
        local_v4: Some(Ipv4Addr::new(1, 1, 1, 1)),
        local_v6: None,
        interface: None,
        local_link_local: None,
    };
    settings(&mut s2);
    rib.add_peer(S2, s2);
    rib
}

/// An UPDATE from S2 announcing `prefixes` (AS path 65501, next hop 2.2.2.2).
pub(crate) fn update(prefixes: &[&str]) -> Update {
    Update {
        attributes: Some(PathAttributes {
            as_path: AsPath::from_sequence([65501]),
            ..Default::default()
        }),
        next_hop: Some("2.2.2.2".parse().unwrap()),
        nlri: prefixes
            .iter()
            .map(|p| p.parse::<Ipv4Net>().unwrap())
            .collect(),
        ..Default::default()
    }
}
