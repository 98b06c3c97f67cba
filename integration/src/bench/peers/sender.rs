//! The many-peers benchmark's sender: P BGP sessions from one process, one
//! tokio task each on a single thread, so that the sender costs little next
//! to the receiver under test and 1,000 sessions need no 1,000 threads.
//!
//! ```text
//!   per session (task)
//!   connect from its own address ── OPEN ─► ◄─ OPEN ── KEEPALIVE ─► ◄─ KEEPALIVE  = Established
//!   write its UPDATEs and End-of-RIB (pre-encoded)                                = streamed
//!   then: KEEPALIVE every hold/3, read and drop what the receiver sends,
//!         a NOTIFICATION or a close is a failure; on stop: Cease, FIN
//! ```
//!
//! Sessions connect at once, up to `in_flight` handshakes at a time (the
//! receiver is passive); refused
//! connections are retried every 100 ms, and a connection closed before
//! Established after a second. Counters and the instant the last
//! session became Established are shared with the measuring thread.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgp::wire::{Afi, Capability, Ctx, Message, Notification, Open, Safi, encode_to_bytes, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::Netns;

/// One session of the sender.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub asn: u32,
    /// The session's source address (on the sender's link) and BGP Identifier.
    pub address: std::net::Ipv4Addr,
    /// Its UPDATEs and End-of-RIB, back to back.
    pub stream: Arc<Vec<u8>>,
}

/// What the sessions have done so far.
#[derive(Default)]
struct Shared {
    established: AtomicUsize,
    streamed: AtomicUsize,
    /// Sessions that were Established and are not any more.
    down: AtomicUsize,
    /// Handshakes that failed and were tried again.
    retries: AtomicUsize,
    last_established: Mutex<Option<Instant>>,
    failures: Mutex<Vec<String>>,
}

/// P sessions running on their own thread inside the sender's namespace;
/// stopped (Cease, then close) on [`Fleet::close`] or drop.
pub struct Fleet {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    /// When the sessions started connecting.
    pub started: Instant,
    pub sessions: usize,
}

impl Fleet {
    /// Starts every session to `receiver` (TCP 179) from `ns`. Each one
    /// keeps trying to connect for up to `connect_timeout`. At most
    /// `in_flight` handshakes (connect to KEEPALIVE) run at once (0: no
    /// limit): BIRD listens with a backlog of 8, and a thousand SYNs at
    /// once leave most connections waiting for SYN-ACK retransmissions
    /// (seconds, up to half a minute), which measures TCP timers rather
    /// than the receiver.
    pub fn start(
        ns: &Netns,
        receiver: IpAddr,
        peers: Vec<PeerSpec>,
        hold_time: u16,
        connect_timeout: Duration,
        in_flight: usize,
    ) -> Fleet {
        let shared = Arc::new(Shared::default());
        let (stop, stop_rx) = watch::channel(false);
        let sessions = peers.len();
        let path = format!("/run/netns/{}", ns.name());
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("peers-sender".into())
                .spawn(move || {
                    use std::os::fd::AsRawFd;
                    // SAFETY: setns only changes this (new, unshared) thread's namespace.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        panic!("setns({path}): {}", std::io::Error::last_os_error());
                    }
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("sender runtime");
                    rt.block_on(async move {
                        let started = Instant::now();
                        let gate = Arc::new(tokio::sync::Semaphore::new(match in_flight {
                            0 => tokio::sync::Semaphore::MAX_PERMITS,
                            n => n,
                        }));
                        let tasks: Vec<_> = peers
                            .into_iter()
                            .map(|p| {
                                let s = SessionCtx {
                                    receiver: SocketAddr::new(receiver, 179),
                                    hold_time,
                                    connect_timeout,
                                    shared: shared.clone(),
                                    stop: stop_rx.clone(),
                                    gate: gate.clone(),
                                };
                                tokio::spawn(s.run(p))
                            })
                            .collect();
                        let _ = ready_tx.send(started);
                        for t in tasks {
                            if let Err(e) = t.await {
                                shared.failures.lock().unwrap().push(format!("task: {e}"));
                            }
                        }
                    });
                })
                .expect("spawn sender thread")
        };
        let started = ready_rx.recv().expect("sender thread started");
        Fleet {
            shared,
            stop,
            thread: Some(thread),
            started,
            sessions,
        }
    }

    /// Sessions that reached Established (and may have gone down since).
    pub fn established(&self) -> usize {
        self.shared.established.load(Ordering::Acquire)
    }

    /// Sessions whose UPDATEs are all in their socket buffers.
    pub fn streamed(&self) -> usize {
        self.shared.streamed.load(Ordering::Acquire)
    }

    /// Sessions that were Established and went down.
    pub fn down(&self) -> usize {
        self.shared.down.load(Ordering::Acquire)
    }

    /// Handshakes that failed (the connection refused, closed or reset
    /// before Established) and were tried again.
    pub fn retries(&self) -> usize {
        self.shared.retries.load(Ordering::Acquire)
    }

    /// When the last of the sessions became Established, once all are.
    pub fn all_established_at(&self) -> Option<Instant> {
        (self.established() == self.sessions)
            .then(|| *self.shared.last_established.lock().unwrap())
            .flatten()
    }

    /// What went wrong so far (one line per session that failed).
    pub fn failures(&self) -> Vec<String> {
        self.shared.failures.lock().unwrap().clone()
    }

    /// Sends every session's Cease, closes them and waits for the thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The wait before a failed handshake is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// What every session task shares.
struct SessionCtx {
    receiver: SocketAddr,
    hold_time: u16,
    connect_timeout: Duration,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    /// Handshakes in flight at once (see [`Fleet::start`]).
    gate: Arc<tokio::sync::Semaphore>,
}

/// What a session sends and reads: 4-octet ASNs, no Extended Message.
fn ctx() -> Ctx {
    Ctx {
        four_octet_as: true,
        extended_message: false,
    }
}

fn encoded(msg: &Message) -> Vec<u8> {
    encode_to_bytes(msg, &ctx())
        .expect("our own OPEN/KEEPALIVE/NOTIFICATION encode")
        .to_vec()
}

fn open(p: &PeerSpec, hold_time: u16) -> Message {
    Message::Open(Open {
        version: 4,
        my_as: u16::try_from(p.asn).unwrap_or(bgp::wire::AS_TRANS),
        hold_time,
        bgp_id: p.address,
        capabilities: vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::FourOctetAs(p.asn),
        ],
    })
}

/// Reads whole messages off one connection.
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    async fn next<R: AsyncRead + Unpin>(&mut self, stream: &mut R) -> Result<Message, String> {
        loop {
            if let Some(len) = frame(&self.buf, &ctx()).map_err(|e| e.to_string())? {
                let rest = self.buf.split_off(len);
                let msg = std::mem::replace(&mut self.buf, rest).into();
                return bgp::wire::decode(&msg, &ctx()).map_err(|e| e.to_string());
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the receiver closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl SessionCtx {
    async fn run(mut self, p: PeerSpec) {
        let who = p.address;
        if let Err(e) = self.session(&p).await {
            self.shared
                .failures
                .lock()
                .unwrap()
                .push(format!("session from {who}: {e}"));
        }
    }

    async fn connect(&self, local: IpAddr) -> Result<TcpStream, String> {
        let start = Instant::now();
        loop {
            let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
            socket
                .bind(SocketAddr::new(local, 0))
                .map_err(|e| format!("bind {local}: {e}"))?;
            match socket.connect(self.receiver).await {
                Ok(s) => return Ok(s),
                Err(e) if start.elapsed() >= self.connect_timeout => {
                    return Err(format!(
                        "cannot connect to {} within {:?}: {e}",
                        self.receiver, self.connect_timeout
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Connects and exchanges OPEN and KEEPALIVE; returns the connection
    /// and the receiver's hold time once Established.
    async fn handshake(&self, p: &PeerSpec) -> Result<(TcpStream, Reader, u16), String> {
        let mut stream = self.connect(IpAddr::V4(p.address)).await?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let io = |e: std::io::Error| e.to_string();
        stream
            .write_all(&encoded(&open(p, self.hold_time)))
            .await
            .map_err(io)?;
        let mut reader = Reader { buf: Vec::new() };
        let theirs = match reader.next(&mut stream).await? {
            Message::Open(o) => o,
            Message::Notification(n) => return Err(format!("NOTIFICATION {}", n.describe())),
            _ => return Err("a message other than OPEN came first".into()),
        };
        stream
            .write_all(&encoded(&Message::Keepalive))
            .await
            .map_err(io)?;
        // RFC 4271 §8.2.2: in OpenConfirm only KEEPALIVE leads to Established.
        match reader.next(&mut stream).await? {
            Message::Keepalive => Ok((stream, reader, theirs.hold_time)),
            Message::Notification(n) => Err(format!("NOTIFICATION {}", n.describe())),
            _ => Err("a message other than KEEPALIVE in OpenConfirm".into()),
        }
    }

    async fn session(&mut self, p: &PeerSpec) -> Result<(), String> {
        // A receiver may close a connection it is not ready for (BIRD
        // before its protocol has started): try again, as a BGP speaker's
        // ConnectRetry timer would, but after a second (RFC 4271 suggests
        // 120 s; that would only measure the retry timer). A stop before
        // Established just drops the connection.
        let mut stop = self.stop.clone();
        let start = Instant::now();
        let (stream, mut reader, their_hold) = loop {
            let attempt = tokio::select! {
                r = async {
                    let _turn = self.gate.acquire().await.expect("the gate stays open");
                    self.handshake(p).await
                } => r,
                _ = stop.changed() => return Ok(()),
            };
            match attempt {
                Ok(up) => break up,
                Err(e) if start.elapsed() >= self.connect_timeout => return Err(e),
                Err(_) => {
                    self.shared.retries.fetch_add(1, Ordering::AcqRel);
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        {
            let mut last = self.shared.last_established.lock().unwrap();
            *last = Some(Instant::now());
            self.shared.established.fetch_add(1, Ordering::AcqRel);
        }
        let down = |shared: &Shared| shared.down.fetch_add(1, Ordering::AcqRel);
        let (mut rd, mut wr) = stream.into_split();
        if let Err(e) = wr.write_all(&p.stream).await {
            down(&self.shared);
            return Err(format!("sending the UPDATEs: {e}"));
        }
        self.shared.streamed.fetch_add(1, Ordering::AcqRel);
        // RFC 4271 §4.2: the smaller hold time wins; 0 means no KEEPALIVEs.
        let hold = self.hold_time.min(their_hold);
        let every = Duration::from_secs((hold / 3).max(1) as u64);
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let ka = encoded(&Message::Keepalive);
        loop {
            tokio::select! {
                msg = reader.next(&mut rd) => match msg {
                    Ok(Message::Notification(n)) => {
                        down(&self.shared);
                        return Err(format!("NOTIFICATION {}", n.describe()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        down(&self.shared);
                        return Err(e);
                    }
                },
                _ = keepalive.tick(), if hold > 0 => {
                    if let Err(e) = wr.write_all(&ka).await {
                        down(&self.shared);
                        return Err(format!("KEEPALIVE: {e}"));
                    }
                }
                _ = self.stop.changed() => break,
            }
        }
        // Leaving: Cease/Administrative Shutdown (RFC 4486), then FIN.
        let cease = Message::Notification(Notification::new(6, 2, Vec::new()));
        let _ = wr.write_all(&encoded(&cease)).await;
        let _ = wr.shutdown().await;
        Ok(())
    }
}
