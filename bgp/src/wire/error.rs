//! Codec errors. A [`DecodeError`] ends the session: it knows where in the
//! message it was found and which NOTIFICATION (RFC 4271 §6, RFC 7606) to
//! send. Recoverable UPDATE problems are not errors here; they come back in
//! `Update::treat_as_withdraw` and `Update::discarded`.

use std::net::Ipv4Addr;

use bytes::Bytes;

use super::iana::{Afi, Safi};
use super::types::Notification;

/// A message that cannot be accepted: the session must be reset (or, for
/// [`DecodeErrorKind::MalformedMpAttribute`], the AFI/SAFI disabled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct DecodeError {
    /// Byte offset within the message (header included) where it was found.
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

/// What was wrong; each variant maps to one NOTIFICATION code/subcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// 1/1 (RFC 4271 §6.1).
    #[error("connection not synchronized: marker is not all ones")]
    ConnectionNotSynchronized,
    /// 1/2, data is the Length field.
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    /// 1/3, data is the Type field.
    #[error("bad message type {0}")]
    BadMessageType(u8),
    /// 2/1, data is the largest version we support (4).
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    /// 2/3 (RFC 6286 §2.2: the BGP Identifier must be non-zero).
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(Ipv4Addr),
    /// 2/4.
    #[error("unsupported optional parameter {0}")]
    UnsupportedOptionalParameter(u8),
    /// 2/6 (RFC 4271 §6.2: hold time 1 or 2 must be rejected).
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// 2/0: an OPEN whose optional parameters do not add up.
    #[error("malformed OPEN: {0}")]
    MalformedOpen(&'static str),
    /// 3/1.
    #[error("malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    /// 3/2, data is the whole attribute.
    #[error("unrecognized well-known attribute {code}")]
    UnrecognizedWellKnownAttribute { code: u8, attribute: Bytes },
    /// 3/9, data is the whole attribute. RFC 7606 §7.11/§7.12: "session
    /// reset" or "AFI/SAFI disable" for `afi`/`safi`.
    #[error("malformed MP attribute {code} for {afi}/{safi}: {reason}")]
    MalformedMpAttribute {
        code: u8,
        afi: Afi,
        safi: Safi,
        attribute: Bytes,
        reason: &'static str,
    },
    /// 3/10 (RFC 7606 §5.3: NLRI that does not parse resets the session).
    #[error("invalid network field: {0}")]
    InvalidNetworkField(&'static str),
    /// 7/1 (RFC 7313 §5), data is the whole message.
    #[error("ROUTE-REFRESH of invalid length {}", .message.len())]
    RouteRefreshLength { message: Bytes },
}

impl DecodeError {
    pub(super) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }

    /// The NOTIFICATION to send for this error, with the data the RFCs ask
    /// for (RFC 4271 §6.1–6.3, RFC 4760 §7, RFC 7313 §5).
    pub fn notification(&self) -> Notification {
        use DecodeErrorKind::*;
        let (code, subcode, data) = match &self.kind {
            ConnectionNotSynchronized => (1, 1, Bytes::new()),
            BadMessageLength(len) => (1, 2, Bytes::copy_from_slice(&len.to_be_bytes())),
            BadMessageType(ty) => (1, 3, Bytes::copy_from_slice(&[*ty])),
            UnsupportedVersion(_) => (2, 1, Bytes::from_static(&[0, 4])),
            BadBgpIdentifier(_) => (2, 3, Bytes::new()),
            UnsupportedOptionalParameter(_) => (2, 4, Bytes::new()),
            UnacceptableHoldTime(_) => (2, 6, Bytes::new()),
            MalformedOpen(_) => (2, 0, Bytes::new()),
            MalformedAttributeList(_) => (3, 1, Bytes::new()),
            UnrecognizedWellKnownAttribute { attribute, .. } => (3, 2, attribute.clone()),
            MalformedMpAttribute { attribute, .. } => (3, 9, attribute.clone()),
            InvalidNetworkField(_) => (3, 10, Bytes::new()),
            RouteRefreshLength { message } => (7, 1, message.clone()),
        };
        Notification::new(code, subcode, data)
    }

    /// The address family concerned when RFC 7606 §7.11/§7.12 allows
    /// "AFI/SAFI disable" instead of a session reset.
    pub fn afi_safi(&self) -> Option<(Afi, Safi)> {
        match self.kind {
            DecodeErrorKind::MalformedMpAttribute { afi, safi, .. } => Some((afi, safi)),
            _ => None,
        }
    }
}

/// A value that cannot be put on the wire. `encode` leaves the output
/// buffer as it was when it returns one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message type {type_code} of {len} octets exceeds the {max}-octet limit")]
    MessageTooLong {
        type_code: u8,
        len: usize,
        max: usize,
    },
    #[error("attribute {code} value of {len} octets exceeds 65535")]
    AttributeTooLong { code: u8, len: usize },
    #[error("AS_PATH segment of {0} ASNs exceeds 255")]
    SegmentTooLong(usize),
    #[error("capability {code} value of {len} octets exceeds 255")]
    CapabilityTooLong { code: u8, len: usize },
    #[error("optional parameters of {0} octets exceed 65535")]
    OptionalParametersTooLong(usize),
    #[error("next hop does not match AFI {0}")]
    NextHopFamily(Afi),
    #[error("prefix {prefix} does not belong to AFI {afi}")]
    PrefixFamily { prefix: ipnet::IpNet, afi: Afi },
    #[error("NLRI for {0}/{1} cannot be encoded")]
    UnsupportedFamily(Afi, Safi),
}
