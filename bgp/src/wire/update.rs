//! UPDATE (RFC 4271 §4.3).
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```
//!
//! The two length fields are the only framing an UPDATE has; if they do
//! not fit the message nothing after them can be trusted, so that is a
//! session reset (RFC 4271 §6.3, kept by RFC 7606 §4). Everything inside
//! the attributes is handled by `attribute.rs`.

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::be_u16;

use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::header::HEADER_LEN;
use super::types::Update;
use super::{Ctx, PResult, attribute, nlri, offset_of};

/// Splits the body into (withdrawn routes, path attributes, NLRI).
fn fields(body: &[u8]) -> PResult<'_, (&[u8], &[u8])> {
    let (i, withdrawn) = be_u16.flat_map(take).parse(body)?;
    let (nlri, attrs) = be_u16.flat_map(take).parse(i)?;
    Ok((nlri, (withdrawn, attrs)))
}

pub(super) fn decode(msg: &Bytes, ctx: &Ctx) -> Result<Update, DecodeError> {
    let body = &msg[HEADER_LEN..];
    let Ok((nlri_field, (withdrawn_field, attr_field))) = fields(body) else {
        // RFC 4271 §6.3: lengths that overrun the message are a Malformed
        // Attribute List.
        return Err(DecodeError::new(
            HEADER_LEN,
            DecodeErrorKind::MalformedAttributeList("length fields overrun the UPDATE"),
        ));
    };
    // RFC 7606 §5.3: Withdrawn Routes or NLRI that do not parse cannot be
    // handled by treat-as-withdraw: session reset.
    let withdrawn = nlri::decode_v4(withdrawn_field).map_err(|why| {
        DecodeError::new(
            offset_of(msg, withdrawn_field),
            DecodeErrorKind::InvalidNetworkField(why),
        )
    })?;
    let nlri = nlri::decode_v4(nlri_field).map_err(|why| {
        DecodeError::new(
            offset_of(msg, nlri_field),
            DecodeErrorKind::InvalidNetworkField(why),
        )
    })?;
    let a = attribute::decode(msg, attr_field, !nlri.is_empty(), ctx)?;
    Ok(Update {
        withdrawn,
        attributes: a.attributes,
        next_hop: a.next_hop,
        nlri,
        mp_reach: a.mp_reach,
        mp_unreach: a.mp_unreach,
        treat_as_withdraw: a.treat_as_withdraw,
        discarded: a.discarded,
    })
}

/// Writes a 2-octet length placeholder and returns its position.
fn len_placeholder(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_u16(0);
    at
}

fn fill_len(out: &mut BytesMut, at: usize, code: u8) -> Result<(), EncodeError> {
    let len = out.len() - at - 2;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::MessageTooLong {
        type_code: code,
        len,
        max: u16::MAX as usize,
    })?;
    out[at..at + 2].copy_from_slice(&len16.to_be_bytes());
    Ok(())
}

/// Encodes the body. `treat_as_withdraw` and `discarded` describe a
/// received message and are not encoded.
pub(super) fn encode(u: &Update, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
    let at = len_placeholder(out);
    for p in &u.withdrawn {
        nlri::encode(&(*p).into(), out);
    }
    fill_len(out, at, 2)?;
    let at = len_placeholder(out);
    attribute::encode(
        out,
        u.attributes.as_ref(),
        u.next_hop,
        u.mp_reach.as_ref(),
        u.mp_unreach.as_ref(),
        ctx,
    )?;
    fill_len(out, at, 2)?;
    for p in &u.nlri {
        nlri::encode(&(*p).into(), out);
    }
    Ok(())
}
