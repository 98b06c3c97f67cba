//! Routing Information Bases for wgbgp: the post-policy Adj-RIB-In and the
//! Loc-RIB ([`table`]), best-path selection ([`best`]), policy
//! ([`policy`]), and the kernel side ([`kernel`]): next-hop resolution
//! against the kernel's table and the FIB writer; [`repair`] paces the re-installation of
//! routes deleted behind our back.

pub mod best;
pub mod kernel;
pub mod path;
pub mod policy;
pub mod repair;
pub mod table;

/// Hash maps and sets on the per-prefix hot path (Adj-RIB-Out, the dirty
/// set, the attribute interner): foldhash instead of SipHash, still seeded
/// per map, since keys come from peers.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
