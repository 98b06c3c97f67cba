//! Fuzz target for the BFD Control packet codec (`bgp::bfd::packet`): the
//! UDP payloads a BFD peer (or anyone who can reach port 3784/4784) sends.
//!
//! Invariants:
//! - `ControlPacket::decode` never panics, on any bytes;
//! - what it accepts encodes to the 24-byte mandatory section, which decodes
//!   to the same packet, and a second encoding is the same bytes;
//! - a packet whose Length is 24 (no trailing bytes counted) encodes back to
//!   exactly the bytes received: decoding loses nothing it accepted.

#![no_main]

use bgp::bfd::packet::{ControlPacket, MANDATORY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p1) = ControlPacket::decode(data) else {
        return;
    };
    let b1 = p1.to_bytes();
    assert_eq!(b1.len(), MANDATORY_LEN, "encoded {p1:?} to {b1:02x?}");
    let p2 = ControlPacket::decode(&b1)
        .unwrap_or_else(|e| panic!("decode of our own encoding failed: {e}\npacket: {p1:?}"));
    assert_eq!(p1, p2, "decode -> encode -> decode changed the packet");
    assert_eq!(b1, p2.to_bytes(), "encoding is not a fixed point");
    if usize::from(data[3]) == MANDATORY_LEN {
        assert_eq!(&b1[..], &data[..MANDATORY_LEN], "lossy decode of {p1:?}");
    }
});
