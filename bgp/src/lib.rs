//! BGP-4 for wgbgp: the wire codec ([`wire`]), the sans-IO session state
//! machine ([`fsm`]) and the tokio driver that gives it a socket ([`driver`]).
//!
//! Nothing here knows about kernels or WireGuard.

pub mod driver;
pub mod fsm;
pub mod socket;
pub mod wire;
