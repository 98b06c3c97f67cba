//! Selection deferral of a restarting speaker (RFC 4724 §4.1).
//!
//! After our own restart the previous run's routes are still in the kernel
//! (the forwarding state the F bit announces). While the peers resend
//! their tables, the RIB chooses best paths but changes neither the kernel
//! nor the peers: a half-learned table would replace full routes with worse
//! ones, or withdraw what a slower peer is about to resend. When every
//! peer has sent End-of-RIB, or the deferral timer runs out (the caller
//! tracks both), [`Rib::end_deferral`] installs the chosen routes over the
//! old ones in place (`NLM_F_REPLACE`: no gap), deletes exactly the old
//! routes nothing replaced, and sends each peer its table and End-of-RIB.

use ipnet::IpNet;

use super::{Output, Rib};
use crate::kernel::FibOp;
use bgp::wire::Safi;

impl Rib {
    /// Starts deferring: from now on until [`Rib::end_deferral`], no FIB
    /// op and no announcement leaves the RIB.
    pub fn begin_deferral(&mut self) {
        self.deferring = true;
    }

    /// Whether route selection is deferred.
    pub fn is_deferring(&self) -> bool {
        self.deferring
    }

    /// Ends the deferral: every best route is installed (replacing the old
    /// kernel route to its prefix in place), the routes of `kernel_stale`
    /// (the previous run's, found in the kernel at start) that no best route
    /// replaced are deleted, and every Established peer gets its table and
    /// End-of-RIB.
    pub fn end_deferral(&mut self, kernel_stale: &[IpNet]) -> Vec<Output> {
        if !self.deferring {
            return Vec::new();
        }
        self.deferring = false;
        self.dirty.extend(self.loc_rib.keys());
        let mut out = self.flush();
        let leftovers: Vec<FibOp> = kernel_stale
            .iter()
            .filter(|p| self.loc_rib.get(p).is_none_or(|d| d.installed.is_none()))
            .map(|&prefix| FibOp::Delete { prefix })
            .collect();
        if !leftovers.is_empty() {
            match out.iter_mut().find_map(|o| match o {
                Output::Fib(ops) => Some(ops),
                _ => None,
            }) {
                Some(ops) => ops.extend(leftovers),
                None => out.insert(0, Output::Fib(leftovers)),
            }
        }
        for (&id, peer) in &self.peers {
            let Some(established) = &peer.established else {
                continue;
            };
            for &(afi, safi) in &established.families {
                if safi == Safi::Unicast {
                    out.push(Output::EndOfRib { peer: id, afi });
                }
            }
        }
        out
    }
}
