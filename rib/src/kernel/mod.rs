//! The kernel side of the RIB: a view of the kernel routing table for next-hop resolution
//! (`view`, pure data), the watcher that feeds it from rtnetlink notifications (`watcher`),
//! and the FIB writer that installs our routes (`fib`, over a batched raw netlink socket).

mod convert;
pub mod fib;
mod fib_objects;
pub mod nexthop;
mod nlsock;
pub mod objects;
pub mod rules;
pub mod view;
pub mod watcher;

pub use fib::{
    DEFAULT_BATCH, FailOverReport, FibConfig, FibError, FibOp, FibOptions, FibResult, FibStats,
    FibWriter, NextHops, NexthopMode, NexthopTarget, QUEUE_BATCHES, Restored,
};
pub use fib_objects::nexthop_compat_mode;
/// The watcher's socket filter, for tests that check what it lets through.
pub use nlsock::drop_route_notifications;
pub use objects::{FailOver, NHID_BASE, NHID_SPAN, NexthopObject, fail_over};
pub use rules::{IpRule, RuleClient};
pub use view::{KernelEvent, KernelNextHop, KernelRoute, KernelView, RTPROT_BGP, RouteKind};
pub use watcher::KernelWatcher;

/// The netlink plumbing under the name the rest of the workspace expects.
pub mod netlink {
    pub use super::fib::{FibConfig, FibError, FibOp, FibResult, FibWriter};
    pub use super::watcher::KernelWatcher;
}
