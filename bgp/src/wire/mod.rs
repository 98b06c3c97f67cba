//! BGP-4 wire format: framing, `decode` and `encode` for every message type.
//!
//! nom stays inside this module; callers see [`decode`], [`encode`],
//! [`frame`] and typed errors that know their NOTIFICATION code.
//!
//! One file per message: [`header`](frame) framing, `open.rs` +
//! `capability.rs`, `update.rs` + `attribute.rs` + `as_path.rs` + `nlri.rs`,
//! `notification.rs`, `route_refresh.rs`; `pack.rs` splits many prefixes
//! into UPDATEs that fit; `error.rs` holds the error types.

mod as_path;
mod attribute;
mod capability;
mod error;
#[cfg(test)]
mod gen_tests;
mod header;
pub mod iana;
mod nlri;
mod notification;
mod open;
mod pack;
#[cfg(test)]
mod rfc7606_tests;
mod route_refresh;
#[cfg(test)]
pub(crate) mod tests;
mod types;
mod update;

use bytes::{Bytes, BytesMut};

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use header::{HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, frame};
pub use iana::{Afi, CeaseSubcode, ErrorCode, RouteRefreshSubtype, Safi};
pub use pack::{encode_announce, encode_withdraw, end_of_rib};
pub use types::*;

use header::{
    TYPE_KEEPALIVE, TYPE_NOTIFICATION, TYPE_OPEN, TYPE_ROUTE_REFRESH, TYPE_UPDATE, check_header,
    finish_message, start_message,
};

/// nom parsers in this module use `()` errors: every failure is turned into
/// a [`DecodeError`] by the caller, which knows the offset and the code.
type PResult<'a, T> = nom::IResult<&'a [u8], T, ()>;

/// Per-session codec settings, fixed once OPENs are exchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    /// Both sides announced the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// Both sides announced the Extended Message capability (RFC 8654).
    pub extended_message: bool,
}

/// Byte offset of `sub` within `msg`; `sub` must be a sub-slice of `msg`.
pub(crate) fn offset_of(msg: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).saturating_sub(msg.as_ptr() as usize)
}

/// Decodes exactly one whole message (header included). `msg` is a `Bytes`
/// so attribute values and unknown attributes are zero-copy slices of it.
pub fn decode(msg: &Bytes, ctx: &Ctx) -> Result<Message, DecodeError> {
    let (len, ty) = check_header(msg, ctx)?;
    if len != msg.len() {
        // The caller framed it wrongly; report what the header claimed.
        return Err(DecodeError::new(
            16,
            DecodeErrorKind::BadMessageLength(len as u16),
        ));
    }
    match ty {
        TYPE_OPEN => open::decode(msg).map(Message::Open),
        TYPE_UPDATE => update::decode(msg, ctx).map(Message::Update),
        TYPE_NOTIFICATION => Ok(Message::Notification(notification::decode(msg))),
        TYPE_KEEPALIVE => Ok(Message::Keepalive),
        TYPE_ROUTE_REFRESH => route_refresh::decode(msg).map(Message::RouteRefresh),
        // check_header only lets the five known types through.
        other => Err(DecodeError::new(18, DecodeErrorKind::BadMessageType(other))),
    }
}

/// Appends the encoding of `msg` (header included) to `out`. On error `out`
/// is left as it was.
pub fn encode(msg: &Message, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
    let ty = msg.type_code();
    let start = start_message(out, ty);
    let body = match msg {
        Message::Open(o) => open::encode(o, out),
        Message::Update(u) => update::encode(u, ctx, out),
        Message::Notification(n) => {
            notification::encode(n, out);
            Ok(())
        }
        Message::Keepalive => Ok(()),
        Message::RouteRefresh(r) => {
            route_refresh::encode(r, out);
            Ok(())
        }
    };
    if let Err(e) = body {
        out.truncate(start);
        return Err(e);
    }
    finish_message(out, start, ty, ctx)
}

/// `encode` into a fresh buffer.
pub fn encode_to_bytes(msg: &Message, ctx: &Ctx) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::new();
    encode(msg, ctx, &mut out)?;
    Ok(out.freeze())
}
