//! The BFD Control packet (RFC 5880 §4.1): [`ControlPacket::decode`] and
//! [`ControlPacket::encode`]. Only the mandatory section is understood;
//! a packet with the Authentication Present bit is refused with a typed
//! error (wgbgp runs BFD unauthenticated, as FRR does by default).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};
use nom::IResult;
use nom::number::complete::{be_u8, be_u32};

/// The protocol version this codec speaks (RFC 5880 §4.1 "Vers").
pub const VERSION: u8 = 1;
/// Length of the mandatory section, which is all wgbgp sends.
pub const MANDATORY_LEN: usize = 24;

/// "Sta": the sender's view of the session (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    fn from_bits(v: u8) -> State {
        match v & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// FRR's lower-case name (`show bfd peers json`, `peerBfdInfo`).
    pub fn frr_name(self) -> &'static str {
        match self {
            State::AdminDown => "shutdown",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// "Diag": why the sender's session last left Up (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    NoDiagnostic,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9–31, reserved.
    Unknown(u8),
}

impl Diagnostic {
    fn from_bits(v: u8) -> Diagnostic {
        use Diagnostic::*;
        match v & 0x1f {
            0 => NoDiagnostic,
            1 => ControlDetectionTimeExpired,
            2 => EchoFunctionFailed,
            3 => NeighborSignaledSessionDown,
            4 => ForwardingPlaneReset,
            5 => PathDown,
            6 => ConcatenatedPathDown,
            7 => AdministrativelyDown,
            8 => ReverseConcatenatedPathDown,
            n => Unknown(n),
        }
    }

    fn bits(self) -> u8 {
        use Diagnostic::*;
        match self {
            NoDiagnostic => 0,
            ControlDetectionTimeExpired => 1,
            EchoFunctionFailed => 2,
            NeighborSignaledSessionDown => 3,
            ForwardingPlaneReset => 4,
            PathDown => 5,
            ConcatenatedPathDown => 6,
            AdministrativelyDown => 7,
            ReverseConcatenatedPathDown => 8,
            Unknown(n) => n & 0x1f,
        }
    }

    /// FRR's name for it (`show bfd peers json` "diagnostic").
    pub fn frr_name(self) -> &'static str {
        use Diagnostic::*;
        match self {
            NoDiagnostic => "ok",
            ControlDetectionTimeExpired => "control detection time expired",
            EchoFunctionFailed => "echo function failed",
            NeighborSignaledSessionDown => "neighbor signaled session down",
            ForwardingPlaneReset => "forwarding plane reset",
            PathDown => "path down",
            ConcatenatedPathDown => "concatenated path down",
            AdministrativelyDown => "administratively down",
            ReverseConcatenatedPathDown => "reverse concatenated path down",
            Unknown(_) => "unknown",
        }
    }
}

/// One BFD Control packet (mandatory section). Intervals are in
/// microseconds, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diagnostic,
    pub state: State,
    /// P: the sender asks for verification of a parameter change.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub control_plane_independent: bool,
    /// D: Demand mode (never set by wgbgp).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx_interval: u32,
    pub required_min_rx_interval: u32,
    pub required_min_echo_rx_interval: u32,
}

/// Why a received packet must be discarded (RFC 5880 §6.8.6, first steps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("BFD packet of {0} bytes is shorter than the 24-byte mandatory section")]
    Truncated(usize),
    #[error("BFD version {0} is not 1 (byte 0)")]
    UnsupportedVersion(u8),
    #[error("Length field {length} (byte 3) does not fit a {received}-byte packet")]
    BadLength { length: u8, received: usize },
    #[error("Authentication Present bit set (byte 1): authentication is not supported")]
    AuthenticationUnsupported,
    #[error("Detect Mult is zero (byte 2)")]
    ZeroDetectMult,
    #[error("Multipoint bit set (byte 1)")]
    Multipoint,
    #[error("My Discriminator is zero (byte 4)")]
    ZeroMyDiscriminator,
}

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

type Raw = (u8, u8, u8, u8, [u32; 5]);

fn raw(i: &[u8]) -> IResult<&[u8], Raw> {
    let (i, vers_diag) = be_u8(i)?;
    let (i, flags) = be_u8(i)?;
    let (i, mult) = be_u8(i)?;
    let (i, len) = be_u8(i)?;
    let (i, a) = be_u32(i)?;
    let (i, b) = be_u32(i)?;
    let (i, c) = be_u32(i)?;
    let (i, d) = be_u32(i)?;
    let (i, e) = be_u32(i)?;
    Ok((i, (vers_diag, flags, mult, len, [a, b, c, d, e])))
}

impl ControlPacket {
    /// Decodes a UDP payload, applying the checks of RFC 5880 §6.8.6 that
    /// need no session: version, length, A/M bits, Detect Mult, My
    /// Discriminator. Bytes beyond Length are ignored.
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
        let Ok((_, (vers_diag, flags, mult, len, w))) = raw(buf) else {
            return Err(DecodeError::Truncated(buf.len()));
        };
        let version = vers_diag >> 5;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if flags & FLAG_A != 0 {
            return Err(DecodeError::AuthenticationUnsupported);
        }
        if (len as usize) < MANDATORY_LEN || len as usize > buf.len() {
            return Err(DecodeError::BadLength {
                length: len,
                received: buf.len(),
            });
        }
        if mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if flags & FLAG_M != 0 {
            return Err(DecodeError::Multipoint);
        }
        if w[0] == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        Ok(ControlPacket {
            diag: Diagnostic::from_bits(vers_diag),
            state: State::from_bits(flags >> 6),
            poll: flags & FLAG_P != 0,
            final_: flags & FLAG_F != 0,
            control_plane_independent: flags & FLAG_C != 0,
            demand: flags & FLAG_D != 0,
            detect_mult: mult,
            my_discriminator: w[0],
            your_discriminator: w[1],
            desired_min_tx_interval: w[2],
            required_min_rx_interval: w[3],
            required_min_echo_rx_interval: w[4],
        })
    }

    /// Appends the 24-byte packet to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(MANDATORY_LEN);
        out.put_u8(VERSION << 5 | self.diag.bits());
        let mut flags = self.state.bits() << 6;
        for (set, bit) in [
            (self.poll, FLAG_P),
            (self.final_, FLAG_F),
            (self.control_plane_independent, FLAG_C),
            (self.demand, FLAG_D),
        ] {
            if set {
                flags |= bit;
            }
        }
        out.put_u8(flags);
        out.put_u8(self.detect_mult);
        out.put_u8(MANDATORY_LEN as u8);
        out.put_u32(self.my_discriminator);
        out.put_u32(self.your_discriminator);
        out.put_u32(self.desired_min_tx_interval);
        out.put_u32(self.required_min_rx_interval);
        out.put_u32(self.required_min_echo_rx_interval);
    }

    /// The encoded packet.
    pub fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::with_capacity(MANDATORY_LEN);
        self.encode(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::hex;

    fn up() -> ControlPacket {
        ControlPacket {
            diag: Diagnostic::NoDiagnostic,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 0x1234_5678,
            desired_min_tx_interval: 300_000,
            required_min_rx_interval: 300_000,
            required_min_echo_rx_interval: 0,
        }
    }

    /// Hand-written fixtures, checked both ways.
    #[test]
    fn fixtures_decode_and_encode() {
        let cases = [
            (
                "20c00318 00000001 12345678 000493e0 000493e0 00000000",
                up(),
            ),
            (
                // Down, diag 1 (detection time expired), Poll, mult 5,
                // 1 s / 1 s, echo 50 ms.
                "216005 18 deadbeef 00000000 000f4240 000f4240 0000c350",
                ControlPacket {
                    diag: Diagnostic::ControlDetectionTimeExpired,
                    state: State::Down,
                    poll: true,
                    detect_mult: 5,
                    my_discriminator: 0xdead_beef,
                    your_discriminator: 0,
                    desired_min_tx_interval: 1_000_000,
                    required_min_rx_interval: 1_000_000,
                    required_min_echo_rx_interval: 50_000,
                    ..up()
                },
            ),
            (
                // Init with Final and C, diag 3.
                "23980318 00000002 00000003 000186a0 000186a0 00000000",
                ControlPacket {
                    diag: Diagnostic::NeighborSignaledSessionDown,
                    state: State::Init,
                    final_: true,
                    control_plane_independent: true,
                    my_discriminator: 2,
                    your_discriminator: 3,
                    desired_min_tx_interval: 100_000,
                    required_min_rx_interval: 100_000,
                    ..up()
                },
            ),
        ];
        for (h, want) in cases {
            let bytes = hex(h);
            assert_eq!(ControlPacket::decode(&bytes), Ok(want), "{h}");
            assert_eq!(&want.to_bytes()[..], &bytes[..], "{h}");
        }
    }

    /// Packets FRR 8.4.4's bfdd sent to wgbgpd over the multihop session
    /// of integration/tests/bfd.rs (see the fixture's header).
    #[test]
    fn frr_bfdd_capture_decodes_and_reencodes() {
        let text = include_str!("../../fixtures/bfd/frr-8.4.4-multihop.hex");
        let packets: Vec<ControlPacket> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let bytes = hex(line);
                let p = ControlPacket::decode(&bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(&p.to_bytes()[..], &bytes[..], "{line}");
                p
            })
            .collect();
        let flags: Vec<(State, bool, bool)> = packets
            .iter()
            .map(|p| (p.state, p.poll, p.final_))
            .collect();
        assert_eq!(
            flags,
            [
                (State::Init, false, false),
                (State::Up, true, false),
                (State::Up, false, true),
                (State::Up, false, false),
            ]
        );
        // Slow (1 s) until Up, then the configured 150 ms; FRR's echo
        // default (50 ms) is advertised though echo is off.
        assert_eq!(packets[0].desired_min_tx_interval, 1_000_000);
        for p in &packets[1..] {
            assert_eq!(p.desired_min_tx_interval, 150_000);
            assert_eq!(p.required_min_rx_interval, 150_000);
        }
        assert!(packets.iter().all(|p| p.detect_mult == 3
            && p.required_min_echo_rx_interval == 50_000
            && p.my_discriminator == 0xb3ab_046d
            && p.your_discriminator == 0x6876_7a8d));
    }

    #[test]
    fn round_trip_of_every_state_and_flag_combination() {
        for s in [State::AdminDown, State::Down, State::Init, State::Up] {
            for flags in 0..16u8 {
                for diag in 0..32u8 {
                    let p = ControlPacket {
                        state: s,
                        diag: Diagnostic::from_bits(diag),
                        poll: flags & 1 != 0,
                        final_: flags & 2 != 0,
                        control_plane_independent: flags & 4 != 0,
                        demand: flags & 8 != 0,
                        ..up()
                    };
                    assert_eq!(ControlPacket::decode(&p.to_bytes()), Ok(p));
                }
            }
        }
    }

    #[test]
    fn malformed_packets_are_refused_with_the_reason() {
        let good = up().to_bytes().to_vec();
        let with = |i: usize, v: u8| {
            let mut b = good.clone();
            b[i] = v;
            b
        };
        let cases: [(Vec<u8>, DecodeError); 8] = [
            (good[..23].to_vec(), DecodeError::Truncated(23)),
            (with(0, 0x40), DecodeError::UnsupportedVersion(2)),
            (
                with(3, 20),
                DecodeError::BadLength {
                    length: 20,
                    received: 24,
                },
            ),
            (
                with(3, 26),
                DecodeError::BadLength {
                    length: 26,
                    received: 24,
                },
            ),
            (with(1, 0xc4), DecodeError::AuthenticationUnsupported),
            (with(2, 0), DecodeError::ZeroDetectMult),
            (with(1, 0xc1), DecodeError::Multipoint),
            (
                [&good[..4], &[0; 4], &good[8..]].concat(),
                DecodeError::ZeroMyDiscriminator,
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(ControlPacket::decode(&bytes), Err(want));
        }
        // Trailing bytes past Length are ignored.
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 4]);
        assert_eq!(ControlPacket::decode(&longer), Ok(up()));
    }

    /// The `decode_bfd` fuzz target's invariants over its seed corpus, so
    /// the main test run checks them without libFuzzer.
    #[test]
    fn fuzz_seeds_round_trip_as_the_fuzz_target_checks() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/decode_bfd");
        let mut accepted = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(p1) = ControlPacket::decode(&data) else {
                continue;
            };
            accepted += 1;
            let b1 = p1.to_bytes();
            assert_eq!(b1.len(), MANDATORY_LEN);
            let p2 = ControlPacket::decode(&b1).unwrap();
            assert_eq!(p1, p2);
            assert_eq!(b1, p2.to_bytes());
            if usize::from(data[3]) == MANDATORY_LEN {
                assert_eq!(&b1[..], &data[..MANDATORY_LEN]);
            }
        }
        // All but the one with the Authentication Present bit.
        assert_eq!(accepted, 20);
    }
}
