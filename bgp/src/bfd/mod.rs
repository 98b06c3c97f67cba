//! BFD, Bidirectional Forwarding Detection (RFC 5880) over multihop UDP
//! between loopbacks (RFC 5883): the Control packet codec ([`packet`]),
//! the sans-IO session state machine ([`session`]) and the tokio task that
//! owns the sockets ([`driver`]). A session going Down tells the daemon,
//! which tears down the BGP session over the same path.

pub mod driver;
pub mod packet;
pub mod session;
