//! OPEN (RFC 4271 §4.2) with optional parameters (RFC 5492) and the
//! extended optional parameters length (RFC 9072).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 9072 §2: when Opt Parm Len is 255 and the next octet (the
//! "Non-Ext OP Type") is also 255, a 2-octet length follows and every
//! parameter has a 2-octet length:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Non-Ext OP Len.|Non-Ext OP Type|  Extended Opt. Parm. Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Parm. Type   |        Parameter Length       | Value ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Checks that need configuration (Bad Peer AS, hold time below the local
//! minimum, BGP Identifier collision) belong to the FSM.

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::number::complete::{be_u8, be_u16, be_u32};

use super::capability;
use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::header::HEADER_LEN;
use super::types::Open;
use super::{PResult, offset_of};

/// Optional parameter type for capabilities (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2 marker for the extended parameters length.
const PARAM_EXTENDED_LENGTH: u8 = 255;

fn fixed(i: &[u8]) -> PResult<'_, (u8, u16, u16, u32, u8)> {
    (be_u8, be_u16, be_u16, be_u32, be_u8).parse(i)
}

pub(super) fn decode(msg: &Bytes) -> Result<Open, DecodeError> {
    let body = &msg[HEADER_LEN..];
    let malformed = |at: &[u8], why| DecodeError::new(offset_of(msg, at), why);
    let Ok((rest, (version, my_as, hold_time, id, opt_len))) = fixed(body) else {
        return Err(malformed(body, DecodeErrorKind::MalformedOpen("truncated")));
    };
    if version != 4 {
        return Err(DecodeError::new(
            HEADER_LEN,
            DecodeErrorKind::UnsupportedVersion(version),
        ));
    }
    // RFC 4271 §6.2: a Hold Time of one or two seconds MUST be rejected.
    if hold_time == 1 || hold_time == 2 {
        return Err(DecodeError::new(
            HEADER_LEN + 3,
            DecodeErrorKind::UnacceptableHoldTime(hold_time),
        ));
    }
    let bgp_id = Ipv4Addr::from(id);
    // RFC 6286 §2.2: any non-zero 4-octet value is a valid identifier.
    if id == 0 {
        return Err(DecodeError::new(
            HEADER_LEN + 5,
            DecodeErrorKind::BadBgpIdentifier(bgp_id),
        ));
    }

    // RFC 9072 §2: Non-Ext OP Len 255 followed by Non-Ext OP Type 255.
    let extended = opt_len == 255 && rest.first() == Some(&PARAM_EXTENDED_LENGTH);
    let params = if extended {
        let Ok((params, len)) = be_u16::<_, ()>(&rest[1..]) else {
            return Err(malformed(
                rest,
                DecodeErrorKind::MalformedOpen("truncated extended length"),
            ));
        };
        if params.len() != len as usize {
            return Err(malformed(
                rest,
                DecodeErrorKind::MalformedOpen("optional parameters length mismatch"),
            ));
        }
        params
    } else {
        if rest.len() != opt_len as usize {
            return Err(malformed(
                rest,
                DecodeErrorKind::MalformedOpen("optional parameters length mismatch"),
            ));
        }
        rest
    };

    let mut capabilities = Vec::new();
    let mut i = params;
    while !i.is_empty() {
        let hdr: PResult<'_, (u8, u16)> = if extended {
            (be_u8, be_u16).parse(i)
        } else {
            (be_u8, be_u8.map(u16::from)).parse(i)
        };
        let Ok((after, (ty, len))) = hdr else {
            return Err(malformed(
                i,
                DecodeErrorKind::MalformedOpen("truncated optional parameter"),
            ));
        };
        let Some((value, next)) = after.split_at_checked(len as usize) else {
            return Err(malformed(
                i,
                DecodeErrorKind::MalformedOpen("optional parameter overruns"),
            ));
        };
        if ty != PARAM_CAPABILITIES {
            // RFC 4271 §6.2; RFC 5492 §3 leaves capabilities as the only
            // parameter in use.
            return Err(malformed(
                i,
                DecodeErrorKind::UnsupportedOptionalParameter(ty),
            ));
        }
        capability::decode_all(msg, value, &mut capabilities)?;
        i = next;
    }

    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

pub(super) fn encode(o: &Open, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u8(o.version);
    out.put_u16(o.my_as);
    out.put_u16(o.hold_time);
    out.put_u32(o.bgp_id.into());
    let mut caps = BytesMut::new();
    for c in &o.capabilities {
        capability::encode(c, &mut caps)?;
    }
    // All capabilities go in one Capabilities parameter (RFC 5492 §4 allows
    // one or many); past 255 octets switch to the RFC 9072 form.
    if caps.is_empty() {
        out.put_u8(0);
    } else if caps.len() + 2 <= 255 {
        out.put_u8(caps.len() as u8 + 2);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u8(caps.len() as u8);
        out.put_slice(&caps);
    } else {
        let param_len = u16::try_from(caps.len())
            .map_err(|_| EncodeError::OptionalParametersTooLong(caps.len()))?;
        let total = u16::try_from(caps.len() + 3)
            .map_err(|_| EncodeError::OptionalParametersTooLong(caps.len() + 3))?;
        out.put_u8(255);
        out.put_u8(PARAM_EXTENDED_LENGTH);
        out.put_u16(total);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u16(param_len);
        out.put_slice(&caps);
    }
    Ok(())
}
