//! The seed lab of the blog post: three servers behind one router.
//!
//! ```text
//!                                   +-----------------------+
//!                                   | S2   eth1 10.2.0.2/24 |
//!   +-------------------+  +--------+-- eth2 10.2.0.1/24    |
//!   | S1                |  | R1     |                       |
//!   | eth1 10.1.0.2/24 -+--+- eth1 10.1.0.1/24               |
//!   +-------------------+  |        |  S3   eth1 10.3.0.2/24 |
//!                          +--------+-- eth3 10.3.0.1/24    |
//!                                   +-----------------------+
//! ```
//!
//! R1 only forwards. S1, S2 and S3 reach each other's underlay through R1 by
//! a route to 10.0.0.0/8 (no default route, so nothing outside 10/8 is reachable
//! unless something such as BGP installs it). No loopbacks, tunnels or routers
//! are set up here: each test adds what it is testing.

use crate::netns::{Netns, veth};

/// S1's underlay address.
pub const S1_ETH: &str = "10.1.0.2";
/// S2's underlay address.
pub const S2_ETH: &str = "10.2.0.2";
/// S3's underlay address.
pub const S3_ETH: &str = "10.3.0.2";
/// The underlay aggregate S1, S2 and S3 route through R1.
pub const UNDERLAY: &str = "10.0.0.0/8";

/// The four namespaces of the seed lab, wired and routed.
pub struct SeedLab {
    /// Server 1 (the hub in the post: tunnels to S2 and S3).
    pub s1: Netns,
    /// Server 2, behind R1's eth2.
    pub s2: Netns,
    /// Server 3, behind R1's eth3.
    pub s3: Netns,
    /// The router in the middle; only forwards.
    pub r1: Netns,
}

impl SeedLab {
    /// Builds the lab and checks that S1 can ping S2 and S3 across R1.
    pub fn new() -> SeedLab {
        let lab = SeedLab {
            s1: Netns::new("s1"),
            r1: Netns::new("r1"),
            s2: Netns::new("s2"),
            s3: Netns::new("s3"),
        };
        veth(
            &lab.s1,
            "eth1",
            Some("10.1.0.2/24"),
            &lab.r1,
            "eth1",
            Some("10.1.0.1/24"),
        );
        veth(
            &lab.r1,
            "eth2",
            Some("10.2.0.1/24"),
            &lab.s2,
            "eth1",
            Some("10.2.0.2/24"),
        );
        veth(
            &lab.r1,
            "eth3",
            Some("10.3.0.1/24"),
            &lab.s3,
            "eth1",
            Some("10.3.0.2/24"),
        );
        lab.r1.sysctl("net.ipv4.ip_forward", "1");
        lab.r1.sysctl("net.ipv6.conf.all.forwarding", "1");
        lab.s1.route_add("10.0.0.0/8 via 10.1.0.1");
        lab.s2.route_add("10.0.0.0/8 via 10.2.0.1");
        lab.s3.route_add("10.0.0.0/8 via 10.3.0.1");
        for addr in [S2_ETH, S3_ETH] {
            assert!(
                lab.s1.ping(addr),
                "seed lab underlay: S1 cannot ping {addr}"
            );
        }
        lab
    }
}

impl Default for SeedLab {
    fn default() -> Self {
        SeedLab::new()
    }
}
