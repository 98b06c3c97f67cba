//! BGP-4 wire format: framing, `decode` and `encode` for every message type.
//!
//! nom stays inside this module; callers see [`decode`], [`encode`],
//! [`frame`] and typed errors that know their NOTIFICATION code.

pub mod iana;
mod types;

pub use iana::{Afi, Safi};
pub use types::*;
