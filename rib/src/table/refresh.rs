//! Enhanced Route Refresh (RFC 7313) on the receiving side: a peer that
//! re-advertises a family frames it with BoRR and EoRR; paths of that family
//! it did not re-advertise in between are gone.
//!
//! BoRR marks the peer's paths of the family stale (the set Graceful
//! Restart uses: a re-announced path leaves it, `show` flags what is in
//! it); EoRR sweeps what is still stale. Paths stay best, installed and
//! exported meanwhile, so a refresh never makes traffic blink.

use bgp::wire::Afi;

use super::{Output, PeerId, Rib, Source, afi_of};

impl Rib {
    /// BoRR from `id` for `afi` (RFC 7313 §4): its paths of that family
    /// become stale until re-advertised.
    pub fn handle_begin_of_refresh(&mut self, id: PeerId, afi: Afi) {
        let source = Source::Peer(id);
        let marked: Vec<_> = (self.loc_rib.iter())
            .filter(|(prefix, dest)| {
                afi_of(prefix) == afi && dest.paths.iter().any(|p| p.source == source)
            })
            .map(|(prefix, _)| prefix)
            .collect();
        if let Some(peer) = self.peers.get_mut(&id)
            && peer.established.is_some()
        {
            peer.stale.extend(marked);
        }
    }

    /// EoRR from `id` for `afi` (RFC 7313 §4): what BoRR marked and the
    /// peer did not re-advertise is removed.
    pub fn handle_end_of_refresh(&mut self, id: PeerId, afi: Afi) -> Vec<Output> {
        self.sweep_stale(id, Some(afi))
    }
}
