//! Capabilities (RFC 5492 §4), the contents of OPEN optional parameter 2.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! ~                              ~
//! +------------------------------+
//! ```
//!
//! A capability we do not know, or one whose value does not have the shape
//! its RFC gives, is kept as [`Capability::Unknown`]: RFC 5492 §3 makes
//! unknown capabilities harmless, and a malformed optional one should not
//! cost the session either.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::offset_of;
use super::types::Capability;

pub(super) const MULTIPROTOCOL: u8 = 1;
pub(super) const ROUTE_REFRESH: u8 = 2;
pub(super) const EXTENDED_NEXT_HOP: u8 = 5;
pub(super) const EXTENDED_MESSAGE: u8 = 6;
pub(super) const GRACEFUL_RESTART: u8 = 64;
pub(super) const FOUR_OCTET_AS: u8 = 65;
pub(super) const ADD_PATH: u8 = 69;
pub(super) const ENHANCED_ROUTE_REFRESH: u8 = 70;
pub(super) const FQDN: u8 = 73;

/// Decodes the capabilities in one Capabilities optional parameter value
/// and appends them to `out`.
pub(super) fn decode_all(
    msg: &Bytes,
    mut value: &[u8],
    out: &mut Vec<Capability>,
) -> Result<(), DecodeError> {
    while !value.is_empty() {
        let at = offset_of(msg, value);
        let Some((&[code, len], rest)) = value.split_first_chunk::<2>() else {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::MalformedOpen("truncated capability header"),
            ));
        };
        let Some((v, rest)) = rest.split_at_checked(len as usize) else {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::MalformedOpen("capability overruns its parameter"),
            ));
        };
        out.push(decode_one(code, v).unwrap_or_else(|| Capability::Unknown {
            code,
            value: msg.slice_ref(v),
        }));
        value = rest;
    }
    Ok(())
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// One capability value, or `None` if the code is unknown or the value
/// malformed.
fn decode_one(code: u8, v: &[u8]) -> Option<Capability> {
    let cap = match code {
        // RFC 4760 §8: AFI, reserved, SAFI.
        MULTIPROTOCOL if v.len() == 4 => Capability::Multiprotocol {
            afi: be16(v).into(),
            safi: v[3].into(),
        },
        ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
        // RFC 8950 §3: (NLRI AFI, NLRI SAFI (2 octets), Nexthop AFI) triples.
        EXTENDED_NEXT_HOP if v.len().is_multiple_of(6) => Capability::ExtendedNextHop(
            v.chunks_exact(6)
                .map(|c| {
                    let safi = u8::try_from(be16(&c[2..])).ok()?;
                    Some((be16(c).into(), safi.into(), be16(&c[4..]).into()))
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
        // RFC 4724 §3: R flag, N flag (RFC 8538), 12-bit restart time, then (AFI, SAFI, flags).
        GRACEFUL_RESTART if v.len() >= 2 && (v.len() - 2).is_multiple_of(4) => {
            let head = be16(v);
            Capability::GracefulRestart {
                restart_state: head & 0x8000 != 0,
                notification: head & 0x4000 != 0,
                restart_time: head & 0x0fff,
                families: v[2..]
                    .chunks_exact(4)
                    .map(|c| (be16(c).into(), c[2].into(), c[3] & 0x80 != 0))
                    .collect(),
            }
        }
        FOUR_OCTET_AS if v.len() == 4 => {
            Capability::FourOctetAs(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        }
        // RFC 7911 §4: (AFI, SAFI, Send/Receive).
        ADD_PATH if v.len().is_multiple_of(4) => Capability::AddPath(
            v.chunks_exact(4)
                .map(|c| (be16(c).into(), c[2].into(), c[3]))
                .collect(),
        ),
        ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
        // draft-walton-bgp-hostname-capability §3: length-prefixed names.
        FQDN => {
            let (&hl, rest) = v.split_first()?;
            let (host, rest) = rest.split_at_checked(hl as usize)?;
            let (&dl, rest) = rest.split_first()?;
            let (domain, rest) = rest.split_at_checked(dl as usize)?;
            if !rest.is_empty() {
                return None;
            }
            Capability::Fqdn {
                hostname: std::str::from_utf8(host).ok()?.to_string(),
                domain: std::str::from_utf8(domain).ok()?.to_string(),
            }
        }
        _ => return None,
    };
    Some(cap)
}

/// Appends one capability TLV.
pub(super) fn encode(cap: &Capability, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut v = BytesMut::new();
    let code = match cap {
        Capability::Multiprotocol { afi, safi } => {
            v.put_u16((*afi).into());
            v.put_u8(0);
            v.put_u8((*safi).into());
            MULTIPROTOCOL
        }
        Capability::RouteRefresh => ROUTE_REFRESH,
        Capability::ExtendedNextHop(list) => {
            for (afi, safi, nh) in list {
                v.put_u16((*afi).into());
                v.put_u16(u8::from(*safi).into());
                v.put_u16((*nh).into());
            }
            EXTENDED_NEXT_HOP
        }
        Capability::ExtendedMessage => EXTENDED_MESSAGE,
        Capability::GracefulRestart {
            restart_state,
            notification,
            restart_time,
            families,
        } => {
            let r = if *restart_state { 0x8000 } else { 0 };
            let n = if *notification { 0x4000 } else { 0 };
            v.put_u16(r | n | (restart_time & 0x0fff));
            for (afi, safi, forwarding) in families {
                v.put_u16((*afi).into());
                v.put_u8((*safi).into());
                v.put_u8(if *forwarding { 0x80 } else { 0 });
            }
            GRACEFUL_RESTART
        }
        Capability::FourOctetAs(asn) => {
            v.put_u32(*asn);
            FOUR_OCTET_AS
        }
        Capability::AddPath(list) => {
            for (afi, safi, sr) in list {
                v.put_u16((*afi).into());
                v.put_u8((*safi).into());
                v.put_u8(*sr);
            }
            ADD_PATH
        }
        Capability::EnhancedRouteRefresh => ENHANCED_ROUTE_REFRESH,
        Capability::Fqdn { hostname, domain } => {
            for name in [hostname, domain] {
                let len = u8::try_from(name.len()).map_err(|_| EncodeError::CapabilityTooLong {
                    code: FQDN,
                    len: name.len(),
                })?;
                v.put_u8(len);
                v.put_slice(name.as_bytes());
            }
            FQDN
        }
        Capability::Unknown { code, value } => {
            v.put_slice(value);
            *code
        }
    };
    let len =
        u8::try_from(v.len()).map_err(|_| EncodeError::CapabilityTooLong { code, len: v.len() })?;
    out.put_u8(code);
    out.put_u8(len);
    out.put_slice(&v);
    Ok(())
}
