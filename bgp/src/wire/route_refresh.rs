//! ROUTE-REFRESH (RFC 2918 §3) with the Enhanced Route Refresh subtype
//! (RFC 7313 §3).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype | SAFI |
//! +-------+-------+-------+-------+
//! ```
//!
//! Subtype 0 is a normal request, 1 BoRR, 2 EoRR. RFC 7313 §5: other
//! subtypes are ignored by the receiver, so they decode fine and the caller
//! drops them.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, DecodeErrorKind};
use super::header::HEADER_LEN;
use super::types::RouteRefresh;

pub(super) fn decode(msg: &Bytes) -> Result<RouteRefresh, DecodeError> {
    let body = &msg[HEADER_LEN..];
    // RFC 7313 §5: a body that is not 4 octets is "Invalid Message Length"
    // with the whole message as data.
    if body.len() != 4 {
        return Err(DecodeError::new(
            16,
            DecodeErrorKind::RouteRefreshLength {
                message: msg.clone(),
            },
        ));
    }
    Ok(RouteRefresh {
        afi: u16::from_be_bytes([body[0], body[1]]).into(),
        subtype: body[2].into(),
        safi: body[3].into(),
    })
}

pub(super) fn encode(r: &RouteRefresh, out: &mut BytesMut) {
    out.put_u16(r.afi.into());
    out.put_u8(r.subtype.into());
    out.put_u8(r.safi.into());
}
