//! The 19-octet message header (RFC 4271 §4.1) and TCP stream framing.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The header checks live here once and serve both [`frame`] (which sees a
//! stream prefix) and `decode` (which sees one whole message), so a bad
//! length is reported the same way no matter who notices it first.

use bytes::{BufMut, BytesMut};

use super::Ctx;
use super::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Length of the fixed header (RFC 4271 §4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message without the Extended Message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once both sides announced Extended Message (RFC 8654 §3).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

pub(super) const MARKER: [u8; 16] = [0xff; 16];

pub(super) const TYPE_OPEN: u8 = 1;
pub(super) const TYPE_UPDATE: u8 = 2;
pub(super) const TYPE_NOTIFICATION: u8 = 3;
pub(super) const TYPE_KEEPALIVE: u8 = 4;
pub(super) const TYPE_ROUTE_REFRESH: u8 = 5;

/// Largest permitted length for a message of type `ty` under `ctx`.
///
/// RFC 8654 §3: OPEN and KEEPALIVE stay within 4096 octets even when the
/// Extended Message capability has been negotiated.
pub(super) fn max_len(ty: u8, ctx: &Ctx) -> usize {
    match ty {
        TYPE_OPEN | TYPE_KEEPALIVE => MAX_MESSAGE_LEN,
        _ if ctx.extended_message => MAX_EXTENDED_MESSAGE_LEN,
        _ => MAX_MESSAGE_LEN,
    }
}

/// Smallest permitted length for a message of type `ty` (RFC 4271 §4.2–4.5).
/// ROUTE-REFRESH has its own error code for a bad length (RFC 7313 §5), so
/// it is checked in its decoder, not here.
fn min_len(ty: u8) -> usize {
    match ty {
        TYPE_OPEN => 29,
        TYPE_UPDATE => 23,
        TYPE_NOTIFICATION => 21,
        _ => HEADER_LEN,
    }
}

/// Checks a complete header (the first 19 octets of `buf`) and returns the
/// message length and type. RFC 4271 §6.1.
pub(super) fn check_header(buf: &[u8], ctx: &Ctx) -> Result<(usize, u8), DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::new(
            buf.len(),
            DecodeErrorKind::BadMessageLength(buf.len() as u16),
        ));
    }
    if buf[..16] != MARKER {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::ConnectionNotSynchronized,
        ));
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]);
    let ty = buf[18];
    if !(TYPE_OPEN..=TYPE_ROUTE_REFRESH).contains(&ty) {
        return Err(DecodeError::new(18, DecodeErrorKind::BadMessageType(ty)));
    }
    let l = len as usize;
    let bad_len = if ty == TYPE_KEEPALIVE {
        l != HEADER_LEN
    } else {
        l < min_len(ty) || l > max_len(ty, ctx)
    };
    if bad_len || l < HEADER_LEN {
        return Err(DecodeError::new(16, DecodeErrorKind::BadMessageLength(len)));
    }
    Ok((l, ty))
}

/// Framing: inspects the start of a TCP byte stream.
///
/// `Ok(None)` means more bytes are needed; `Ok(Some(len))` means a whole
/// message of `len` octets is at the front of `buf`. Errors are the header
/// errors of RFC 4271 §6.1 (NOTIFICATION 1/1, 1/2, 1/3), reported as soon as
/// the offending octets have arrived.
pub fn frame(buf: &[u8], ctx: &Ctx) -> Result<Option<usize>, DecodeError> {
    // Fail on a broken marker without waiting for the rest of the header.
    let seen = buf.len().min(MARKER.len());
    if buf[..seen] != MARKER[..seen] {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::ConnectionNotSynchronized,
        ));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let (len, _) = check_header(buf, ctx)?;
    Ok((buf.len() >= len).then_some(len))
}

/// Writes a header with a zero length and returns where it starts, for
/// [`finish_message`] to fill in.
pub(super) fn start_message(out: &mut BytesMut, ty: u8) -> usize {
    let start = out.len();
    out.put_slice(&MARKER);
    out.put_u16(0);
    out.put_u8(ty);
    start
}

/// Fills in the length of the message that began at `start`, or removes the
/// partial message and reports it as too long.
pub(super) fn finish_message(
    out: &mut BytesMut,
    start: usize,
    ty: u8,
    ctx: &Ctx,
) -> Result<(), EncodeError> {
    let len = out.len() - start;
    let max = max_len(ty, ctx);
    if len > max {
        out.truncate(start);
        return Err(EncodeError::MessageTooLong {
            type_code: ty,
            len,
            max,
        });
    }
    out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(len: u16, ty: u8) -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v
    }

    #[test]
    fn frame_needs_more_bytes_for_partial_header_and_body() {
        let ctx = Ctx::default();
        assert_eq!(frame(&[], &ctx), Ok(None));
        assert_eq!(frame(&[0xff; 10], &ctx), Ok(None));
        let mut v = hdr(23, TYPE_UPDATE);
        assert_eq!(frame(&v, &ctx), Ok(None));
        v.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(frame(&v, &ctx), Ok(Some(23)));
        v.extend_from_slice(&hdr(19, TYPE_KEEPALIVE));
        assert_eq!(frame(&v, &ctx), Ok(Some(23)));
    }

    #[test]
    fn frame_rejects_bad_marker_early_with_1_1() {
        let ctx = Ctx::default();
        let err = frame(&[0xff, 0xff, 0x00], &ctx).unwrap_err();
        let n = err.notification();
        assert_eq!((n.code, n.subcode), (1, 1));
        assert!(n.data.is_empty());
    }

    #[test]
    fn frame_rejects_bad_lengths_with_1_2_and_the_length_as_data() {
        let ctx = Ctx::default();
        for (len, ty) in [
            (18, TYPE_UPDATE),
            (20, TYPE_KEEPALIVE),
            (28, TYPE_OPEN),
            (22, TYPE_UPDATE),
            (20, TYPE_NOTIFICATION),
            (4097, TYPE_UPDATE),
        ] {
            let err = frame(&hdr(len, ty), &ctx).unwrap_err();
            let n = err.notification();
            assert_eq!((n.code, n.subcode), (1, 2), "len {len} type {ty}");
            assert_eq!(&n.data[..], &len.to_be_bytes());
            assert_eq!(err.offset, 16);
        }
    }

    #[test]
    fn frame_extended_message_allows_large_update_but_not_open_or_keepalive() {
        let ctx = Ctx {
            extended_message: true,
            ..Ctx::default()
        };
        assert_eq!(frame(&hdr(65535, TYPE_UPDATE), &ctx), Ok(None));
        assert_eq!(frame(&hdr(5000, TYPE_ROUTE_REFRESH), &ctx), Ok(None));
        assert!(frame(&hdr(4097, TYPE_OPEN), &ctx).is_err());
        assert!(frame(&hdr(4097, TYPE_KEEPALIVE), &ctx).is_err());
    }

    #[test]
    fn frame_rejects_unknown_type_with_1_3_and_the_type_as_data() {
        let err = frame(&hdr(19, 9), &Ctx::default()).unwrap_err();
        let n = err.notification();
        assert_eq!((n.code, n.subcode), (1, 3));
        assert_eq!(&n.data[..], &[9]);
    }
}
