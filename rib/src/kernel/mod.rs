//! The kernel side of the RIB: a view of the kernel routing table for next-hop resolution
//! (`view`, pure data), and the netlink plumbing that feeds it and writes the FIB (`netlink`).

pub mod view;

pub use view::{KernelEvent, KernelNextHop, KernelRoute, KernelView, RTPROT_BGP, RouteKind};
