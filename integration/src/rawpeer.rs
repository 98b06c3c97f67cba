//! A BGP peer that speaks raw bytes, for tests that send what no real
//! speaker would: a broken marker, a lying length, an attribute of the
//! wrong size.
//!
//! The test writes the bytes itself; the `bgp` codec is only used to build
//! the parts that must be right (our OPEN, KEEPALIVE, a Cease to leave) and
//! to read what the daemon answers. Blocking std sockets: the connection is
//! made on a thread inside the sender's namespace ([`Netns::in_ns`]) and is
//! used from the test's thread afterwards.
//!
//! ```text
//!   RawPeer::connect()      TCP to the daemon (it answers with its OPEN)
//!   open_session()          OPEN ─►  ◄─ OPEN  KEEPALIVE ─►  ◄─ KEEPALIVE
//!   send(bytes)             anything at all
//!   expect_notification()   ◄─ NOTIFICATION, then the daemon closes
//!   assert_no_notification() nothing but KEEPALIVE/UPDATE arrived
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bgp::wire::{
    AS_TRANS, Afi, Capability, Ctx, Message, Notification, Open, Safi, decode, encode_to_bytes,
    frame,
};

use crate::netns::Netns;

/// What the daemon sends is decoded as on a 4-octet-AS session without
/// Extended Message, which is what [`RawPeer::open`] negotiates.
fn ctx() -> Ctx {
    Ctx {
        four_octet_as: true,
        extended_message: false,
    }
}

/// How a read ended when it did not give a message.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing (whole) arrived in time.
    Timeout,
    /// The daemon closed the connection (FIN or RST).
    Closed(String),
    /// The daemon sent something our decoder rejects.
    Decode(String),
}

/// One TCP connection to the daemon, driven byte by byte.
pub struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Every message read so far, for failure messages.
    pub seen: Vec<String>,
}

impl RawPeer {
    /// Connects from namespace `ns` to `peer` (retrying for up to
    /// `timeout` while the daemon is not listening yet).
    pub fn connect(ns: &Netns, peer: SocketAddr, timeout: Duration) -> RawPeer {
        let stream = ns.in_ns(|| {
            let start = Instant::now();
            loop {
                match TcpStream::connect_timeout(&peer, Duration::from_secs(2)) {
                    Ok(s) => break s,
                    Err(e) if start.elapsed() >= timeout => {
                        panic!("cannot connect to {peer} from netns {}: {e}", ns.name())
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RawPeer {
            stream,
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// A well-formed OPEN: 4-octet AS, IPv4 unicast, route refresh.
    pub fn open(asn: u32, bgp_id: Ipv4Addr, hold_time: u16) -> Open {
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities: vec![
                Capability::Multiprotocol {
                    afi: Afi::Ipv4,
                    safi: Safi::Unicast,
                },
                Capability::RouteRefresh,
                Capability::FourOctetAs(asn),
            ],
        }
    }

    /// The encoding of `msg` as this peer sends it.
    pub fn encode(msg: &Message) -> Vec<u8> {
        encode_to_bytes(msg, &ctx())
            .expect("a message the codec can encode")
            .to_vec()
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write of {} octets failed: {e}", bytes.len()));
    }

    /// Encodes and sends `msg`.
    pub fn send_message(&mut self, msg: &Message) {
        let bytes = RawPeer::encode(msg);
        self.send(&bytes);
    }

    /// Reads one whole message within `timeout`.
    pub fn read_message(&mut self, timeout: Duration) -> Result<Message, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.buf.is_empty() {
                let framed =
                    frame(&self.buf, &ctx()).map_err(|e| ReadError::Decode(e.to_string()))?;
                if let Some(len) = framed {
                    let rest = self.buf.split_off(len);
                    let msg = std::mem::replace(&mut self.buf, rest).into();
                    let m = decode(&msg, &ctx()).map_err(|e| ReadError::Decode(e.to_string()))?;
                    self.seen.push(describe(&m));
                    return Ok(m);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed("EOF".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReadError::Timeout);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Closed(e.to_string())),
            }
        }
    }

    /// Reads until the daemon's OPEN (sent as soon as it accepts).
    pub fn expect_open(&mut self) -> Open {
        match self.read_message(Duration::from_secs(5)) {
            Ok(Message::Open(o)) => o,
            other => panic!("expected the daemon's OPEN, got {other:?}"),
        }
    }

    /// Sends `open` and reads the daemon's OPEN and the KEEPALIVE that
    /// accepts ours: the daemon is in OpenConfirm (RFC 4271 §8.2.2).
    pub fn open_confirm(&mut self, open: Open) -> Open {
        self.send_message(&Message::Open(open));
        let theirs = self.expect_open();
        match self.read_message(Duration::from_secs(5)) {
            Ok(Message::Keepalive) => theirs,
            other => panic!("expected the KEEPALIVE confirming our OPEN, got {other:?}"),
        }
    }

    /// Full handshake with `open`: returns the daemon's OPEN once both
    /// sides are Established.
    pub fn open_session(&mut self, open: Open) -> Open {
        let theirs = self.open_confirm(open);
        self.send_message(&Message::Keepalive);
        theirs
    }

    /// Skips OPEN, KEEPALIVE and UPDATE until a NOTIFICATION arrives (within
    /// 5 s), then requires the daemon to close the connection (RFC 4271
    /// §6: the connection is closed after a NOTIFICATION).
    pub fn expect_notification(&mut self) -> Notification {
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left) {
                Ok(Message::Notification(n)) => break n,
                Ok(_) => {}
                Err(e) => panic!("expected a NOTIFICATION, got {e:?} after {:?}", self.seen),
            }
        };
        self.expect_closed();
        n
    }

    /// Requires the daemon to close the connection within 5 s; anything but
    /// a KEEPALIVE or UPDATE before that fails.
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left) {
                Err(ReadError::Closed(_)) => return,
                Ok(Message::Keepalive | Message::Update(_)) => {}
                other => panic!(
                    "expected the daemon to close the connection, got {other:?} after {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Reads for `window`: only KEEPALIVE and UPDATE may arrive, and the
    /// connection must stay open. This is how "the session stays up" looks
    /// from the peer's side.
    pub fn assert_no_notification(&mut self, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left) {
                Err(ReadError::Timeout) => return,
                Ok(Message::Keepalive | Message::Update(_)) => {}
                other => panic!(
                    "the daemon was to keep the session, but sent {other:?} after {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Half-closes our side (FIN), as a peer does after its NOTIFICATION.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Leaves politely: Cease/Administrative Shutdown (RFC 4486), then waits
    /// for the daemon to close its end, so a following connection from the
    /// same address does not collide with this one.
    pub fn cease(mut self) {
        let n = Notification::new(6, 2, Vec::new());
        self.send_message(&Message::Notification(n));
        let _ = self.stream.shutdown(Shutdown::Write);
        self.expect_closed();
    }
}

fn describe(m: &Message) -> String {
    match m {
        Message::Open(_) => "OPEN".into(),
        Message::Update(_) => "UPDATE".into(),
        Message::Notification(n) => format!("NOTIFICATION {}", n.describe()),
        Message::Keepalive => "KEEPALIVE".into(),
        Message::RouteRefresh(_) => "ROUTE-REFRESH".into(),
    }
}

/// Helpers to write messages by hand, octet by octet.
pub mod bytes_of {
    /// Octets from hex text; spaces are ignored ("400101 00").
    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(&s).unwrap_or_else(|e| panic!("hex {s:?}: {e}"))
    }

    /// A message: marker of all ones, the true length, `ty`, `body`.
    pub fn message(ty: u8, body: &[u8]) -> Vec<u8> {
        message_with_length((19 + body.len()) as u16, ty, body)
    }

    /// A message whose Length field says `len`, whatever follows.
    pub fn message_with_length(len: u16, ty: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v.extend_from_slice(body);
        v
    }

    /// An UPDATE (RFC 4271 §4.3) with correct length fields around the
    /// given Withdrawn Routes, Path Attributes and NLRI octets.
    pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
        body.extend_from_slice(withdrawn);
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(attrs);
        body.extend_from_slice(nlri);
        message(2, &body)
    }

    /// The NLRI encoding of an IPv4 prefix "a.b.c.d/len".
    pub fn prefix(p: &str) -> Vec<u8> {
        let (addr, len) = p.split_once('/').expect("a.b.c.d/len");
        let len: u8 = len.parse().expect("prefix length");
        let addr: std::net::Ipv4Addr = addr.parse().expect("IPv4 address");
        let mut v = vec![len];
        v.extend_from_slice(&addr.octets()[..(len as usize).div_ceil(8)]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_of::*;
    use bgp::wire::{Ctx, Message, decode};

    #[test]
    fn prefixes_take_the_fewest_octets() {
        assert_eq!(prefix("10.1.4.0/22"), vec![22, 10, 1, 4]);
        assert_eq!(prefix("0.0.0.0/0"), vec![0]);
        assert_eq!(prefix("10.66.1.2/32"), vec![32, 10, 66, 1, 2]);
    }

    #[test]
    fn a_hand_made_update_is_what_the_codec_reads() {
        let attrs = hex("400101 00 400206 0201 0000fdea 400304 0a420102");
        let msg = update(&[], &attrs, &prefix("10.70.0.0/24"));
        assert_eq!(u16::from_be_bytes([msg[16], msg[17]]) as usize, msg.len());
        let ctx = Ctx {
            four_octet_as: true,
            extended_message: false,
        };
        match decode(&msg.into(), &ctx) {
            Ok(Message::Update(u)) => {
                assert_eq!(u.treat_as_withdraw, None);
                assert_eq!(u.nlri, vec!["10.70.0.0/24".parse().unwrap()]);
                assert_eq!(u.next_hop, Some("10.66.1.2".parse().unwrap()));
            }
            other => panic!("{other:?}"),
        }
    }
}
