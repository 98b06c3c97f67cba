//! `fullfeed`'s BGP speaker: the smallest thing that can feed a full table.
//!
//! It connects to the receiver (which is configured passive), exchanges OPEN
//! (4-octet AS, multiprotocol IPv4 and IPv6 unicast, route refresh) and
//! KEEPALIVE with the `bgp` codec, and records the instant the session is
//! Established as seen from this side: when the peer's KEEPALIVE that
//! confirms our OPEN arrives (RFC 4271 §8.2.2, OpenConfirm → Established).
//! Then it writes a pre-encoded UPDATE stream as fast as the socket takes
//! it, keeps the session up with KEEPALIVEs from its own thread, and on
//! request leaves with a Cease NOTIFICATION and a close.
//!
//! ```text
//!   connect() ── OPEN ─► ◄─ OPEN ── KEEPALIVE ─► ◄─ KEEPALIVE  = Established
//!   send_stream()   UPDATE × n, EoR  (64 KiB writes, KEEPALIVEs between them)
//!   keeper thread   KEEPALIVE every hold/3 while idle
//!   reader thread   drains what the peer sends; a NOTIFICATION is recorded
//!   close()         NOTIFICATION Cease/Administrative Shutdown, FIN
//! ```
//!
//! Blocking std sockets and plain threads: the socket is created in the
//! sender's namespace (see [`crate::Netns::in_ns`]) and keeps working from
//! any thread afterwards.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgp::wire::{Afi, Capability, Message, Notification, Open, Safi, encode_to_bytes, frame};

use super::table::{ctx, split_at_messages};

/// Why the session could not be set up or broke.
#[derive(Debug)]
pub enum SpeakerError {
    Connect {
        peer: SocketAddr,
        waited: Duration,
        last: std::io::Error,
    },
    Io(std::io::Error),
    Decode(String),
    Notification(String),
    Unexpected(&'static str),
}

impl std::fmt::Display for SpeakerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpeakerError::Connect { peer, waited, last } => {
                write!(f, "cannot connect to {peer} within {waited:?}: {last}")
            }
            SpeakerError::Io(e) => write!(f, "socket error: {e}"),
            SpeakerError::Decode(e) => write!(f, "peer sent something we cannot read: {e}"),
            SpeakerError::Notification(n) => write!(f, "peer sent NOTIFICATION {n}"),
            SpeakerError::Unexpected(what) => {
                write!(f, "peer sent {what} before the session was Established")
            }
        }
    }
}

impl std::error::Error for SpeakerError {}

impl From<std::io::Error> for SpeakerError {
    fn from(e: std::io::Error) -> Self {
        SpeakerError::Io(e)
    }
}

/// Who we are and whom we feed.
#[derive(Debug, Clone, Copy)]
pub struct SpeakerConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub peer: SocketAddr,
    /// Source address of the TCP session (`None`: the kernel's choice).
    pub local: Option<IpAddr>,
    /// Proposed hold time; KEEPALIVEs go out every third of the negotiated one.
    pub hold_time: u16,
}

/// An Established session.
pub struct Session {
    writer: Arc<Mutex<TcpStream>>,
    /// When the peer's KEEPALIVE confirming our OPEN arrived.
    pub established_at: Instant,
    /// The peer's OPEN.
    pub peer_open: Open,
    stop: Arc<AtomicBool>,
    /// Set by the reader thread: a NOTIFICATION or a read error ended the session.
    failure: Arc<Mutex<Option<String>>>,
    /// UPDATEs received from the peer (a receiver should send none but EoR).
    pub updates_received: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

fn our_open(cfg: &SpeakerConfig) -> Message {
    let unicast = |afi| Capability::Multiprotocol {
        afi,
        safi: Safi::Unicast,
    };
    Message::Open(Open {
        version: 4,
        my_as: u16::try_from(cfg.asn).unwrap_or(bgp::wire::AS_TRANS),
        hold_time: cfg.hold_time,
        bgp_id: cfg.router_id,
        capabilities: vec![
            unicast(Afi::Ipv4),
            unicast(Afi::Ipv6),
            Capability::RouteRefresh,
            Capability::FourOctetAs(cfg.asn),
        ],
    })
}

fn encoded(msg: &Message) -> Vec<u8> {
    encode_to_bytes(msg, &ctx())
        .expect("our own OPEN/KEEPALIVE/NOTIFICATION encode")
        .to_vec()
}

/// Reads one whole message from `stream` into `buf` (which may hold the
/// start of the next one afterwards) and decodes it.
fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Message, SpeakerError> {
    let ctx = ctx();
    loop {
        if !buf.is_empty()
            && let Some(len) = frame(buf, &ctx).map_err(|e| SpeakerError::Decode(e.to_string()))?
        {
            let rest = buf.split_off(len);
            let msg = std::mem::replace(buf, rest).into();
            return bgp::wire::decode(&msg, &ctx).map_err(|e| SpeakerError::Decode(e.to_string()));
        }
        let mut chunk = [0u8; 65_536];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(SpeakerError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Session {
    /// Connects (retrying refused connections for up to `timeout`), exchanges
    /// OPEN and KEEPALIVE, and returns once Established. Call it on a thread
    /// inside the sender's namespace.
    pub fn connect(cfg: &SpeakerConfig, timeout: Duration) -> Result<Session, SpeakerError> {
        let start = Instant::now();
        let mut stream = loop {
            let attempt = match cfg.local {
                Some(local) => connect_from(local, cfg.peer),
                None => TcpStream::connect_timeout(&cfg.peer, Duration::from_secs(2)),
            };
            match attempt {
                Ok(s) => break s,
                Err(e) if start.elapsed() >= timeout => {
                    return Err(SpeakerError::Connect {
                        peer: cfg.peer,
                        waited: start.elapsed(),
                        last: e,
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream.set_nodelay(true)?;
        stream.write_all(&encoded(&our_open(cfg)))?;
        let mut buf = Vec::new();
        let peer_open = match read_message(&mut stream, &mut buf)? {
            Message::Open(o) => o,
            Message::Notification(n) => return Err(SpeakerError::Notification(n.describe())),
            _ => return Err(SpeakerError::Unexpected("a message other than OPEN")),
        };
        stream.write_all(&encoded(&Message::Keepalive))?;
        // RFC 4271 §8.2.2: in OpenConfirm only KEEPALIVE leads to Established.
        match read_message(&mut stream, &mut buf)? {
            Message::Keepalive => {}
            Message::Notification(n) => return Err(SpeakerError::Notification(n.describe())),
            _ => return Err(SpeakerError::Unexpected("a message other than KEEPALIVE")),
        }
        let established_at = Instant::now();
        // RFC 4271 §4.2: the smaller hold time wins; 0 means no KEEPALIVEs.
        let hold = cfg.hold_time.min(peer_open.hold_time);
        let writer = Arc::new(Mutex::new(stream.try_clone()?));
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let updates_received = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        {
            let (stop, failure, updates) =
                (stop.clone(), failure.clone(), updates_received.clone());
            threads.push(std::thread::spawn(move || {
                read_loop(stream, buf, &stop, &failure, &updates)
            }));
        }
        if hold > 0 {
            let (writer, stop) = (writer.clone(), stop.clone());
            let every = Duration::from_secs((hold / 3).max(1) as u64);
            threads.push(std::thread::spawn(move || {
                keep_alive(&writer, &stop, every)
            }));
        }
        Ok(Session {
            writer,
            established_at,
            peer_open,
            stop,
            failure,
            updates_received,
            threads,
        })
    }

    /// Writes `stream` (whole messages) in pieces of at most 64 KiB, so the
    /// keeper thread can slip KEEPALIVEs in between. Returns when the last
    /// octet is in the socket buffer.
    pub fn send_stream(&self, stream: &[u8]) -> Result<Instant, SpeakerError> {
        let mut start = 0;
        for end in split_at_messages(stream, 64 * 1024) {
            self.writer.lock().unwrap().write_all(&stream[start..end])?;
            start = end;
        }
        Ok(Instant::now())
    }

    /// What ended the session from the peer's side, if anything did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap().clone()
    }

    /// Leaves: NOTIFICATION Cease / Administrative Shutdown (RFC 4486), then
    /// closes the socket. Returns the instant just before the NOTIFICATION
    /// was written: "the sender is gone" from then on.
    pub fn close(mut self) -> Instant {
        let at = Instant::now();
        self.stop.store(true, Ordering::SeqCst);
        let cease = Message::Notification(Notification::new(6, 2, Vec::new()));
        {
            let mut w = self.writer.lock().unwrap();
            // The peer may already be gone; closing is all that is left then.
            let _ = w.write_all(&encoded(&cease));
            let _ = w.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        at
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}

fn connect_from(local: IpAddr, peer: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let domain = if peer.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned by the TcpStream below.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (sa, len) = sockaddr(SocketAddr::new(local, 0));
    // SAFETY: sa is a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (sa, len) = sockaddr(peer);
    // SAFETY: as above; blocking connect.
    if unsafe { libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stream)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn read_loop(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    stop: &AtomicBool,
    failure: &Mutex<Option<String>>,
    updates: &AtomicU64,
) {
    loop {
        match read_message(&mut stream, &mut buf) {
            Ok(Message::Update(_)) => {
                updates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Message::Notification(n)) => {
                *failure.lock().unwrap() = Some(format!("NOTIFICATION {}", n.describe()));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    *failure.lock().unwrap() = Some(e.to_string());
                }
                return;
            }
        }
    }
}

fn keep_alive(writer: &Mutex<TcpStream>, stop: &AtomicBool, every: Duration) {
    let ka = encoded(&Message::Keepalive);
    let mut next = Instant::now() + every;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        if Instant::now() >= next {
            if writer.lock().unwrap().write_all(&ka).is_err() {
                return;
            }
            next = Instant::now() + every;
        }
    }
}
