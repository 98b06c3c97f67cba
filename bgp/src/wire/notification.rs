//! NOTIFICATION (RFC 4271 §4.5): decoding, encoding and human-readable
//! names for codes and subcodes, including the RFC 9003 shutdown
//! communication carried by Cease/Administrative Shutdown and Reset.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 9003 §2 data for Cease subcodes 2 and 4:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Length        | Shutdown Communication ...                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::header::HEADER_LEN;
use super::iana::{CeaseSubcode, ErrorCode};
use super::types::Notification;

/// Header check already guarantees at least code and subcode.
pub(super) fn decode(msg: &Bytes) -> Notification {
    let body = msg.slice(HEADER_LEN..);
    Notification {
        code: body[0],
        subcode: body[1],
        data: body.slice(2..),
    }
}

pub(super) fn encode(n: &Notification, out: &mut BytesMut) {
    out.put_u8(n.code);
    out.put_u8(n.subcode);
    out.put_slice(&n.data);
}

impl Notification {
    /// A NOTIFICATION with this code (an [`ErrorCode`] or its number),
    /// subcode and data.
    pub fn new(code: impl Into<u8>, subcode: u8, data: impl Into<Bytes>) -> Self {
        Notification {
            code: code.into(),
            subcode,
            data: data.into(),
        }
    }

    /// A Cease (RFC 4486) with this subcode and data.
    pub fn cease(subcode: CeaseSubcode, data: impl Into<Bytes>) -> Self {
        Notification::new(ErrorCode::Cease, subcode.into(), data)
    }

    /// The error code, typed.
    pub fn error_code(&self) -> ErrorCode {
        self.code.into()
    }

    /// The Cease subcode, if this is a Cease.
    pub fn cease_subcode(&self) -> Option<CeaseSubcode> {
        (self.error_code() == ErrorCode::Cease).then(|| self.subcode.into())
    }

    /// Whether this is a Cease with `subcode`.
    pub fn is_cease(&self, subcode: CeaseSubcode) -> bool {
        self.cease_subcode() == Some(subcode)
    }

    /// Cease with an RFC 9003 shutdown communication; the message is cut to
    /// 255 octets on a UTF-8 character boundary.
    pub fn cease_with_communication(subcode: CeaseSubcode, message: &str) -> Self {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.push(end as u8);
        data.extend_from_slice(&message.as_bytes()[..end]);
        Notification::cease(subcode, data)
    }

    /// The RFC 9003 shutdown communication of a Cease/Administrative
    /// Shutdown or Reset, if one is present and well-formed.
    pub fn shutdown_communication(&self) -> Option<&str> {
        if !matches!(
            self.cease_subcode(),
            Some(CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset)
        ) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..len as usize)?;
        if text.is_empty() {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The NOTIFICATION a Cease/Hard Reset (RFC 8538 §3) encapsulates:
    /// its data is that one's code, subcode and data.
    pub fn hard_reset_cause(&self) -> Option<Notification> {
        if !self.is_cease(CeaseSubcode::HardReset) || self.data.len() < 2 {
            return None;
        }
        Some(Notification::new(
            self.data[0],
            self.data[1],
            self.data.slice(2..),
        ))
    }

    /// The error code's name (RFC 4271 §4.5).
    pub fn code_name(&self) -> &'static str {
        match self.error_code() {
            ErrorCode::MessageHeader => "Message Header Error",
            ErrorCode::OpenMessage => "OPEN Message Error",
            ErrorCode::UpdateMessage => "UPDATE Message Error",
            ErrorCode::HoldTimerExpired => "Hold Timer Expired",
            ErrorCode::FiniteStateMachine => "Finite State Machine Error",
            ErrorCode::Cease => "Cease",
            ErrorCode::RouteRefreshMessage => "ROUTE-REFRESH Message Error",
            ErrorCode::SendHoldTimerExpired => "Send Hold Timer Expired",
            ErrorCode::Unknown(_) => "Unknown error code",
        }
    }

    /// The subcode's name (RFC 4271 §4.5, RFC 5492, RFC 6608, RFC 4486,
    /// RFC 8538, RFC 9234, RFC 7313), or `None` if it has none we know.
    pub fn subcode_name(&self) -> Option<&'static str> {
        let name = match (self.code, self.subcode) {
            (_, 0) => "Unspecific",
            (1, 1) => "Connection Not Synchronized",
            (1, 2) => "Bad Message Length",
            (1, 3) => "Bad Message Type",
            (2, 1) => "Unsupported Version Number",
            (2, 2) => "Bad Peer AS",
            (2, 3) => "Bad BGP Identifier",
            (2, 4) => "Unsupported Optional Parameter",
            (2, 5) => "Authentication Failure (deprecated)",
            (2, 6) => "Unacceptable Hold Time",
            (2, 7) => "Unsupported Capability",
            (2, 11) => "Role Mismatch",
            (3, 1) => "Malformed Attribute List",
            (3, 2) => "Unrecognized Well-known Attribute",
            (3, 3) => "Missing Well-known Attribute",
            (3, 4) => "Attribute Flags Error",
            (3, 5) => "Attribute Length Error",
            (3, 6) => "Invalid ORIGIN Attribute",
            (3, 7) => "AS Routing Loop (deprecated)",
            (3, 8) => "Invalid NEXT_HOP Attribute",
            (3, 9) => "Optional Attribute Error",
            (3, 10) => "Invalid Network Field",
            (3, 11) => "Malformed AS_PATH",
            (5, 1) => "Receive Unexpected Message in OpenSent State",
            (5, 2) => "Receive Unexpected Message in OpenConfirm State",
            (5, 3) => "Receive Unexpected Message in Established State",
            (6, 1) => "Maximum Number of Prefixes Reached",
            (6, 2) => "Administrative Shutdown",
            (6, 3) => "Peer De-configured",
            (6, 4) => "Administrative Reset",
            (6, 5) => "Connection Rejected",
            (6, 6) => "Other Configuration Change",
            (6, 7) => "Connection Collision Resolution",
            (6, 8) => "Out of Resources",
            (6, 9) => "Hard Reset",
            (6, 10) => "BFD Down",
            (7, 1) => "Invalid Message Length",
            _ => return None,
        };
        Some(name)
    }

    /// One line for logs and `show` output, e.g.
    /// `Cease/Administrative Shutdown (6/2): "maintenance"`.
    pub fn describe(&self) -> String {
        let sub = match self.subcode_name() {
            Some(s) => s.to_string(),
            None => format!("subcode {}", self.subcode),
        };
        let mut s = format!(
            "{}/{} ({}/{})",
            self.code_name(),
            sub,
            self.code,
            self.subcode
        );
        if let Some(inner) = self.hard_reset_cause() {
            // RFC 8538 §3: the data is the NOTIFICATION it stands for.
            s.push_str(&format!(" for {}", inner.describe()));
        } else if let Some(text) = self.shutdown_communication() {
            s.push_str(&format!(": {text:?}"));
        } else if !self.data.is_empty() {
            s.push_str(", data ");
            for b in self.data.iter().take(64) {
                s.push_str(&format!("{b:02x}"));
            }
            if self.data.len() > 64 {
                s.push_str("...");
            }
        }
        s
    }
}

impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_code_and_subcode() {
        let n = Notification::new(2, 6, Bytes::new());
        assert_eq!(
            n.describe(),
            "OPEN Message Error/Unacceptable Hold Time (2/6)"
        );
        let n = Notification::new(1, 2, vec![0x10, 0x01]);
        assert_eq!(
            n.describe(),
            "Message Header Error/Bad Message Length (1/2), data 1001"
        );
        let n = Notification::new(42, 9, Bytes::new());
        assert_eq!(n.describe(), "Unknown error code/subcode 9 (42/9)");
        // RFC 8538 Hard Reset names what it stands for.
        let n = Notification::new(6, 9, vec![6, 1, 0, 1, 1, 0, 0, 0, 2]);
        assert_eq!(
            n.describe(),
            "Cease/Hard Reset (6/9) for Cease/Maximum Number of Prefixes Reached (6/1), data 00010100000002"
        );
    }

    #[test]
    fn shutdown_communication_is_decoded_for_cease_2_and_4() {
        let n = Notification::cease_with_communication(
            CeaseSubcode::AdministrativeShutdown,
            "maintenance, back at 14:00",
        );
        assert_eq!(n.data[0] as usize, "maintenance, back at 14:00".len());
        assert_eq!(
            n.shutdown_communication(),
            Some("maintenance, back at 14:00")
        );
        assert_eq!(
            n.describe(),
            "Cease/Administrative Shutdown (6/2): \"maintenance, back at 14:00\""
        );
        let reset = Notification::new(6, 4, &b"\x03bye"[..]);
        assert_eq!(reset.shutdown_communication(), Some("bye"));
        // Length past the data, or another subcode: no communication.
        assert_eq!(
            Notification::new(6, 2, &b"\x09bye"[..]).shutdown_communication(),
            None
        );
        assert_eq!(
            Notification::new(6, 3, &b"\x03bye"[..]).shutdown_communication(),
            None
        );
    }

    #[test]
    fn typed_accessors_follow_the_numbers() {
        let n = Notification::cease(CeaseSubcode::MaximumPrefixesReached, Bytes::new());
        assert_eq!((n.code, n.subcode), (6, 1));
        assert_eq!(n.error_code(), ErrorCode::Cease);
        assert!(n.is_cease(CeaseSubcode::MaximumPrefixesReached));
        // Subcode 1 of another code is no Cease subcode.
        let n = Notification::new(ErrorCode::MessageHeader, 1, Bytes::new());
        assert_eq!(n.cease_subcode(), None);
        assert_eq!(
            Notification::new(99, 1, Bytes::new()).error_code(),
            ErrorCode::Unknown(99)
        );
    }

    #[test]
    fn long_shutdown_communication_is_cut_on_a_char_boundary() {
        let text = "é".repeat(200); // 400 octets
        let n = Notification::cease_with_communication(CeaseSubcode::AdministrativeShutdown, &text);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_communication().map(|s| s.len()), Some(254));
    }
}
