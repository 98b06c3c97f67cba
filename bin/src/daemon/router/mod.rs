//! The routing decisions of the daemon as pure state machines: no clock
//! (time comes in as `now`), no sockets, no netlink. The RIB task (the
//! tokio shell) feeds them events and carries out what they return.
//!
//! Issue 13 moves all routing state here, one concern per file, behind a
//! `Router::handle(now, Input) -> Vec<Action>`. So far:
//! - [`graceful`]: the Graceful Restart helper (restart and stale-path
//!   timers, End-of-RIB), unit-tested with a fake clock;
//! - [`max_prefix`]: the `max_prefix` verdict (warn once, or reset with
//!   Cease/Maximum Number of Prefixes Reached and a hold-down);
//! - [`liveness`]: the tunnel liveness watches and their verdicts
//!   (`dead_after`, REJECT_AFTER_TIME, a vanished tunnel);
//! - [`heal`]: what was deleted behind our back and when it may be put
//!   back (the repair back-off of `rib::repair::Pacer`);
//! - [`handshake`]: sessions waiting for their tunnel's first handshake
//!   (connect when it comes, restart one that was lost);
//! - [`tunnel_retry`]: tunnels that failed to come up and when to try
//!   each again.
//!
//! Still in the shell (`rib_task.rs` and its `impl` blocks): peers and
//! reload, the Adj-RIB-In memory cap, carrying out repairs and `show`.

pub(super) mod graceful;
pub(super) mod handshake;
pub(super) mod heal;
pub(super) mod liveness;
pub(super) mod max_prefix;
pub(super) mod tunnel_retry;
