//! The routing decisions of the daemon as pure state machines: no clock
//! (time comes in as `now`), no sockets, no netlink. The RIB task (the
//! tokio shell) feeds them events and carries out what they return.
//!
//! Issue 13 moves all routing state here, one concern per file, behind a
//! `Router::handle(now, Input) -> Vec<Action>`. So far:
//! - [`graceful`]: the Graceful Restart helper (restart and stale-path
//!   timers, End-of-RIB), unit-tested with a fake clock.
//!
//! Still in the shell (`rib_task.rs` and its `impl` blocks): peers and
//! reload, limits, liveness verdicts, repairs and `show`.

pub(super) mod graceful;
