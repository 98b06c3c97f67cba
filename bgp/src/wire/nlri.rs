//! Prefix encoding shared by the Withdrawn Routes and NLRI fields
//! (RFC 4271 §4.3) and MP_REACH/MP_UNREACH (RFC 4760 §5).
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! Length is in bits; the prefix takes the fewest whole octets that hold
//! it. Bits past the length are ignored and cleared on decode so equal
//! routes compare equal.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Octets a prefix of `len` bits takes on the wire, length octet included.
pub(super) fn wire_len(len: u8) -> usize {
    1 + (len as usize).div_ceil(8)
}

/// Splits off one prefix of at most `max_bits`, returning its length, the
/// address octets (zero-padded to 16) and the remaining input.
fn split_prefix(i: &[u8], max_bits: u8) -> Result<(u8, [u8; 16], &[u8]), &'static str> {
    let (&bits, rest) = i.split_first().ok_or("empty prefix")?;
    if bits > max_bits {
        return Err("prefix length too long");
    }
    let n = (bits as usize).div_ceil(8);
    let (addr, rest) = rest
        .split_at_checked(n)
        .ok_or("prefix overruns the field")?;
    let mut buf = [0u8; 16];
    buf[..n].copy_from_slice(addr);
    Ok((bits, buf, rest))
}

/// Decodes a field of IPv4 prefixes.
pub(super) fn decode_v4(mut i: &[u8]) -> Result<Vec<Ipv4Net>, &'static str> {
    let mut out = Vec::new();
    while !i.is_empty() {
        let (bits, a, rest) = split_prefix(i, 32)?;
        let addr = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
        let net = Ipv4Net::new(addr, bits).map_err(|_| "prefix length too long")?;
        out.push(net.trunc());
        i = rest;
    }
    Ok(out)
}

/// Decodes a field of IPv6 prefixes.
pub(super) fn decode_v6(mut i: &[u8]) -> Result<Vec<Ipv6Net>, &'static str> {
    let mut out = Vec::new();
    while !i.is_empty() {
        let (bits, a, rest) = split_prefix(i, 128)?;
        let net = Ipv6Net::new(Ipv6Addr::from(a), bits).map_err(|_| "prefix length too long")?;
        out.push(net.trunc());
        i = rest;
    }
    Ok(out)
}

/// Appends one prefix.
pub(super) fn encode(net: &IpNet, out: &mut BytesMut) {
    let bits = net.prefix_len();
    let n = (bits as usize).div_ceil(8);
    out.put_u8(bits);
    match net.trunc() {
        IpNet::V4(v4) => out.put_slice(&v4.addr().octets()[..n]),
        IpNet::V6(v6) => out.put_slice(&v6.addr().octets()[..n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_cleared() {
        let got = decode_v4(&[22, 10, 1, 7]).unwrap();
        assert_eq!(got, vec!["10.1.4.0/22".parse::<Ipv4Net>().unwrap()]);
        let got = decode_v6(&[0]).unwrap();
        assert_eq!(got, vec!["::/0".parse::<Ipv6Net>().unwrap()]);
    }

    #[test]
    fn bad_prefixes_are_errors() {
        assert_eq!(
            decode_v4(&[33, 1, 2, 3, 4, 5]),
            Err("prefix length too long")
        );
        assert_eq!(decode_v4(&[24, 10, 1]), Err("prefix overruns the field"));
        assert_eq!(decode_v6(&[129]), Err("prefix length too long"));
    }

    #[test]
    fn encode_uses_fewest_octets() {
        let mut out = BytesMut::new();
        encode(&"10.1.4.0/22".parse().unwrap(), &mut out);
        encode(&"2001:db8::/32".parse().unwrap(), &mut out);
        encode(&"0.0.0.0/0".parse().unwrap(), &mut out);
        assert_eq!(&out[..], &[22, 10, 1, 4, 32, 0x20, 0x01, 0x0d, 0xb8, 0]);
        assert_eq!(wire_len(22), 4);
        assert_eq!(wire_len(0), 1);
        assert_eq!(wire_len(128), 17);
    }
}
