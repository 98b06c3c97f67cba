//! BGP-4 for wgbgp: the wire codec ([`wire`]), the sans-IO session state
//! machine ([`fsm`]) and the tokio driver that gives it a socket ([`driver`]).
//!
//! [`bfd`] detects a dead path in well under a second (RFC 5880/5883).
//!
//! Nothing here knows about kernels or WireGuard.

pub mod bfd;
pub mod driver;
pub mod fsm;
pub mod socket;
pub mod wire;
