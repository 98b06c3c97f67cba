//! The full-table benchmark (issue 5): one pre-encoded table fed by our own
//! sender to wgbgpd, BIRD 2 and FRR in turn, against the `ip -batch` and raw
//! netlink floors, measured side by side in one run.
//!
//! - [`table`]: the deterministic table generator and its UPDATE stream.
//! - [`speaker`]: `fullfeed`'s minimal BGP speaker that replays the stream.
//! - [`monitor`]: counts a receiver's kernel routes from rtnetlink notifications.
//! - [`probe`]: RSS, peak RSS and CPU time of the receiver processes.
//! - [`receivers`]: the receivers' configurations and launchers.
//! - [`run`]: one measured run per receiver.
//! - [`report`]: machine description, markdown table, JSON.
//! - [`export`]: the export side: an exporter holding the table advertises it to BIRD.
//! - [`peers`]: many peers (issue 17): P sessions × R routes into wgbgpd and BIRD.
//!
//! `src/bin/fullfeed.rs` is the command line; `scripts/bench.sh` the one
//! command that builds and runs it; docs/benchmarks.md the write-up.

pub mod export;
pub mod monitor;
pub mod peers;
pub mod probe;
pub mod receivers;
pub mod report;
pub mod run;
pub mod speaker;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::netns::{Netns, link};
use speaker::SpeakerConfig;

pub use receivers::ReceiverKind;
pub use run::{RunOptions, RunResult, run};
pub use table::{Table, TableSpec, generate};

/// Addresses and ASNs of the sender and the receiver (see [`run`]'s diagram).
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    pub sender_asn: u32,
    pub receiver_asn: u32,
    pub sender_v4: Ipv4Addr,
    pub receiver_v4: Ipv4Addr,
    pub sender_v6: Ipv6Addr,
    pub receiver_v6: Ipv6Addr,
    /// Loopbacks for receivers that want one (wgbgpd).
    pub receiver_lo_v4: Ipv4Addr,
    pub receiver_lo_v6: Ipv6Addr,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            sender_asn: 64_600,
            receiver_asn: 64_700,
            sender_v4: Ipv4Addr::new(10, 77, 0, 1),
            receiver_v4: Ipv4Addr::new(10, 77, 0, 2),
            sender_v6: "fd77::1".parse().expect("literal"),
            receiver_v6: "fd77::2".parse().expect("literal"),
            receiver_lo_v4: Ipv4Addr::new(10, 77, 255, 2),
            receiver_lo_v6: "fd77:ff::2".parse().expect("literal"),
        }
    }
}

impl Topology {
    /// The sender's and the receiver's namespaces (`names`), joined by a
    /// veth (`ifnames`, sender side first) with both families' addresses on
    /// it.
    pub fn link(&self, names: (&str, &str), ifnames: (&str, &str)) -> (Netns, Netns) {
        let (s, r) = (Netns::new(names.0), Netns::new(names.1));
        link(
            (&s, ifnames.0, &format!("{}/24", self.sender_v4)),
            (&r, ifnames.1, &format!("{}/24", self.receiver_v4)),
        );
        s.add_addr(ifnames.0, &format!("{}/64", self.sender_v6));
        r.add_addr(ifnames.1, &format!("{}/64", self.receiver_v6));
        (s, r)
    }

    /// The table spec for `v4` + `v6` prefixes sent from this topology's sender.
    pub fn table_spec(&self, v4: usize, v6: usize, seed: u64) -> TableSpec {
        TableSpec {
            v4,
            v6,
            seed,
            sender_asn: self.sender_asn,
            per_update: 3,
            next_hop_v4: self.sender_v4,
            next_hop_v6: self.sender_v6,
        }
    }

    /// The sender's session to the receiver: from the sender's address on
    /// the link to the receiver's port 179, hold time 240 s (long enough
    /// that a slow receiver taking the table in does not time out).
    pub fn speaker_config(&self) -> SpeakerConfig {
        SpeakerConfig {
            asn: self.sender_asn,
            router_id: self.sender_v4,
            peer: SocketAddr::new(IpAddr::V4(self.receiver_v4), 179),
            local: Some(IpAddr::V4(self.sender_v4)),
            hold_time: 240,
        }
    }
}
