//! The tokio driver: gives a [`Session`] its TCP connections and timers.
//!
//! ```text
//!                 Command (unbounded)            Event (bounded: backpressure)
//!   RIB task ─────────────────────────▶ session ─────────────────────────────▶ RIB task
//!   listener ── Command::Incoming ────▶  task
//!                                        │  ▲
//!                       Bytes (writer)   │  │ framed messages (bounded)
//!                                        ▼  │
//!                                 writer task, reader task  (one pair per TCP connection)
//! ```
//!
//! One session task per peer owns the FSM, the timers and the codec
//! context of each connection. A supervisor (the task [`spawn`] returns)
//! runs it and, should it end unexpectedly (a panic), reports the session
//! down like any other end, with [`DownReason::TaskFailed`], and starts it
//! again after a back-off. Reader tasks only frame the byte stream;
//! decoding happens in the session task, which knows the negotiated
//! capabilities. Writer tasks let the session task queue messages without
//! ever blocking on a slow peer.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::fsm::{
    self, ConnId, Direction, DownReason, Input, Negotiated, Output, Session, State, Timer,
};
use crate::socket::{Source, Transport, connect, secure_accepted};
use crate::wire::{
    self, Afi, Ctx, Message, MpNextHop, Notification, PathAttributes, RouteRefresh,
    RouteRefreshSubtype, Safi, Update,
};

/// How to reach one peer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub fsm: fsm::Config,
    /// Peer address and TCP port (179).
    pub remote: SocketAddr,
    /// Where outgoing connections come from (FRR's update-source).
    pub local: Source,
    /// GTSM and TCP-MD5.
    pub transport: Transport,
}

/// Requests to a session task.
#[derive(Debug)]
pub enum Command {
    Start,
    /// The path to the peer just appeared: connect now (`fsm::Input::ConnectNow`).
    ConnectNow,
    Stop {
        communication: Option<String>,
    },
    /// A connection the listener accepted from this peer's address.
    Incoming(TcpStream),
    Announce {
        afi: Afi,
        attrs: Arc<PathAttributes>,
        next_hop: MpNextHop,
        prefixes: Vec<IpNet>,
    },
    Withdraw {
        afi: Afi,
        prefixes: Vec<IpNet>,
    },
    EndOfRib(Afi),
    /// Ask the peer to resend a family (RFC 2918), if it supports it.
    RouteRefresh(Afi),
    /// Frame a re-advertisement of a family we make on the peer's request
    /// with BoRR before and EoRR after (RFC 7313 §4); not sent unless
    /// Enhanced Route Refresh was negotiated.
    RefreshMarker(Afi, RouteRefreshSubtype),
    /// Tear the session down with this NOTIFICATION (e.g. max-prefix).
    Reset(Notification),
    /// Same, and stay down this long before restarting.
    ResetHoldDown(Notification, Duration),
    /// Makes the session task panic, to test its supervision.
    #[cfg(any(test, feature = "test-hooks"))]
    Panic,
}

/// What a session task reports to the RIB.
#[derive(Debug)]
pub enum Event {
    StateChange {
        from: State,
        to: State,
    },
    /// The session is up on the connection between these addresses.
    Established {
        negotiated: Negotiated,
        connection: Endpoints,
    },
    Update(Update),
    RouteRefresh(RouteRefresh),
    Down(DownReason),
    /// The session task ended unexpectedly and is being started again
    /// (after `Down(DownReason::TaskFailed)` if it was Established).
    TaskFailed(String),
}

/// The two ends of a TCP connection, as the socket reports them (a
/// link-local address carries its interface as the scope id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The end of an Established session.
#[derive(Debug, Clone)]
pub struct LastDown {
    pub at: Instant,
    pub wall: SystemTime,
    pub reason: DownReason,
}

/// The IPv4/IPv6 unicast End-of-RIB markers sent and received on the
/// current session (cleared when it is established).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndOfRibSeen {
    pub sent: Vec<Afi>,
    pub received: Vec<Afi>,
}

/// Counters and status read by `show` and the metrics, updated by the task.
#[derive(Debug, Default)]
pub struct PeerStats {
    state: AtomicU8,
    /// Indexed by message type code (1..=5).
    pub messages_sent: [AtomicU64; 6],
    pub messages_received: [AtomicU64; 6],
    pub connections_established: AtomicU64,
    pub connections_dropped: AtomicU64,
    /// When the session last reached Established (monotonic, wall clock).
    pub established_at: Mutex<Option<(Instant, SystemTime)>>,
    pub negotiated: Mutex<Option<Negotiated>>,
    /// The last Established connection's addresses (FRR's hostLocal and
    /// hostForeign), kept after it ends: FRR shows them while it is down.
    pub connection: Mutex<Option<Endpoints>>,
    /// The host name the peer's last OPEN announced (FQDN capability),
    /// kept after the session ends, as FRR shows it.
    pub remote_hostname: Mutex<Option<String>>,
    pub last_error: Mutex<Option<String>>,
    /// When and why the last Established session ended: FRR counts its
    /// Up/Down column from here while the session is down.
    pub last_down: Mutex<Option<LastDown>>,
    /// End-of-RIB markers (RFC 4724 §2) of the current session.
    pub end_of_rib: Mutex<EndOfRibSeen>,
    /// NOTIFICATIONs by (sent, code, subcode): what went wrong, as counters.
    pub notifications: Mutex<BTreeMap<(bool, u8, u8), u64>>,
    /// Times the session task ended unexpectedly and was started again.
    pub task_failures: AtomicU64,
    /// The last Start/Stop was a Start: a restarted task starts too.
    started: AtomicBool,
}

impl PeerStats {
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            1 => State::Connect,
            2 => State::Active,
            3 => State::OpenSent,
            4 => State::OpenConfirm,
            5 => State::Established,
            _ => State::Idle,
        }
    }

    /// Records the end of an Established session.
    fn went_down(&self, reason: &DownReason) {
        *self.last_down.lock().unwrap() = Some(LastDown {
            at: Instant::now(),
            wall: SystemTime::now(),
            reason: reason.clone(),
        });
    }

    /// The session task's; tests of what reads the stats set it too.
    pub fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    fn count_notification(&self, sent: bool, n: &Notification) {
        *self
            .notifications
            .lock()
            .unwrap()
            .entry((sent, n.code, n.subcode))
            .or_default() += 1;
    }

    pub fn sent_total(&self) -> u64 {
        self.messages_sent
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn received_total(&self) -> u64 {
        self.messages_received
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// A running session task.
pub struct SessionHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub stats: Arc<PeerStats>,
    pub task: JoinHandle<()>,
}

/// Starts the session task for one peer, under a supervisor. Events are
/// tagged with `id`. The task ends when every command sender is dropped.
pub fn spawn<K: Copy + Send + 'static>(
    id: K,
    cfg: PeerConfig,
    events: mpsc::Sender<(K, Event)>,
) -> SessionHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(PeerStats::default());
    let task = tokio::spawn(supervise(id, cfg, events, stats.clone(), rx));
    SessionHandle {
        commands: tx,
        stats,
        task,
    }
}

/// The first wait before a failed session task is started again; it
/// doubles with each failure in a row, up to [`RESTART_BACKOFF_MAX`].
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A task that ran this long before failing starts the back-off afresh.
const RESTART_BACKOFF_RESET: Duration = Duration::from_secs(300);

/// Runs the session task until its commands end; a panic becomes a
/// session Down (if it was Established) and a fresh task, so that a bug
/// in one session never leaves its routes installed without a session.
async fn supervise<K: Copy + Send + 'static>(
    id: K,
    cfg: PeerConfig,
    events: mpsc::Sender<(K, Event)>,
    stats: Arc<PeerStats>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut failures: u32 = 0;
    loop {
        let driver = Driver::new(id, cfg.clone(), events.clone(), stats.clone());
        let start = stats.started.load(Ordering::Relaxed);
        let began = tokio::time::Instant::now();
        let run = std::panic::AssertUnwindSafe(driver.run(&mut commands, start));
        let Err(panic) = run.catch_unwind().await else {
            return; // the commands ended: the peer was removed
        };
        let why = panic_message(&*panic);
        stats.task_failures.fetch_add(1, Ordering::Relaxed);
        failures = if began.elapsed() >= RESTART_BACKOFF_RESET {
            1
        } else {
            failures.saturating_add(1)
        };
        let backoff = RESTART_BACKOFF
            .saturating_mul(1 << failures.saturating_sub(1).min(6))
            .min(RESTART_BACKOFF_MAX);
        error!(peer = %cfg.remote, error = %why, restart_in = ?backoff,
               "session task failed: counting the session down and starting it again");
        let from = stats.state();
        stats.set_state(State::Idle);
        *stats.established_at.lock().unwrap() = None;
        *stats.negotiated.lock().unwrap() = None;
        *stats.last_error.lock().unwrap() = Some(format!("session task failed: {why}"));
        if from != State::Idle {
            let to = State::Idle;
            let _ = events.send((id, Event::StateChange { from, to })).await;
        }
        if from == State::Established {
            stats.connections_dropped.fetch_add(1, Ordering::Relaxed);
            let reason = DownReason::TaskFailed(why.clone());
            stats.went_down(&reason);
            let down = Event::Down(reason);
            let _ = events.send((id, down)).await;
        }
        let _ = events.send((id, Event::TaskFailed(why))).await;
        tokio::time::sleep(backoff).await;
    }
}

/// The text a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

enum Frame {
    Message(Bytes),
    /// Boxed: a channel slot is the size of the largest variant.
    Error(Box<wire::DecodeError>),
    Closed(Option<io::Error>),
}

struct Conn {
    writer: mpsc::UnboundedSender<Bytes>,
    reader: JoinHandle<()>,
    ctx: Ctx,
    /// None if the socket could not tell (it closed already).
    endpoints: Option<Endpoints>,
}

struct Driver<K> {
    id: K,
    cfg: PeerConfig,
    session: Session,
    events: mpsc::Sender<(K, Event)>,
    stats: Arc<PeerStats>,
    conns: HashMap<ConnId, Conn>,
    timers: HashMap<Timer, tokio::time::Instant>,
    next_conn: u64,
    /// The pending outgoing connection attempt; its result is polled by
    /// the task's loop (no channel: a channel's first block is a
    /// kilobyte per peer).
    connect: Option<JoinHandle<io::Result<TcpStream>>>,
    frames_tx: mpsc::Sender<(ConnId, Frame)>,
    frames_rx: Option<mpsc::Receiver<(ConnId, Frame)>>,
}

/// However the task ends (its commands closed, or a panic unwinding), its
/// readers and connection attempt go with it.
impl<K> Drop for Driver<K> {
    fn drop(&mut self) {
        for (_, conn) in self.conns.drain() {
            conn.reader.abort();
        }
        if let Some(c) = self.connect.take() {
            c.abort();
        }
    }
}

enum Wake {
    Command(Option<Command>),
    Frame(ConnId, Frame),
    Connected(io::Result<TcpStream>),
    Timer,
}

impl<K: Copy + Send + 'static> Driver<K> {
    fn new(
        id: K,
        cfg: PeerConfig,
        events: mpsc::Sender<(K, Event)>,
        stats: Arc<PeerStats>,
    ) -> Self {
        let (frames_tx, frames_rx) = mpsc::channel(256);
        Driver {
            id,
            session: Session::new(cfg.fsm.clone()),
            cfg,
            events,
            stats,
            conns: HashMap::new(),
            timers: HashMap::new(),
            next_conn: 1,
            connect: None,
            frames_tx,
            frames_rx: Some(frames_rx),
        }
    }

    /// Runs the session until its commands end; `start`: the session was
    /// started before this task (a restart after a failure).
    async fn run(mut self, commands: &mut mpsc::UnboundedReceiver<Command>, start: bool) {
        let mut frames = self.frames_rx.take().expect("run once");
        if start {
            self.input(Input::Start).await;
        }
        loop {
            let deadline = self.timers.values().min().copied();
            let wake = tokio::select! {
                cmd = commands.recv() => Wake::Command(cmd),
                Some((conn, frame)) = frames.recv() => Wake::Frame(conn, frame),
                res = connect_result(&mut self.connect), if self.connect.is_some() => Wake::Connected(res),
                _ = sleep_until(deadline) => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(cmd)) => {
                    if !self.command(cmd).await {
                        break;
                    }
                }
                Wake::Frame(conn, frame) => self.frame(conn, frame).await,
                Wake::Connected(Ok(stream)) => {
                    self.connect = None;
                    let conn = self.adopt(stream);
                    let input = Input::TcpConnected {
                        conn,
                        direction: Direction::Outgoing,
                    };
                    self.input(input).await;
                }
                Wake::Connected(Err(e)) => {
                    self.connect = None;
                    debug!(peer = %self.cfg.remote, error = %e, "connect failed");
                    self.input(Input::TcpConnectFailed).await;
                }
                Wake::Timer => {
                    let now = tokio::time::Instant::now();
                    let expired: Vec<Timer> = self
                        .timers
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(t, _)| *t)
                        .collect();
                    for t in expired {
                        self.timers.remove(&t);
                        self.input(Input::TimerExpired(t)).await;
                    }
                }
            }
        }
        // Dropping the command sender shuts the session down quietly
        // (`Drop` stops the readers).
    }

    /// Handles a command; false ends the task.
    async fn command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Start => {
                self.stats.started.store(true, Ordering::Relaxed);
                self.input(Input::Start).await
            }
            Command::ConnectNow => self.input(Input::ConnectNow).await,
            Command::Stop { communication } => {
                self.stats.started.store(false, Ordering::Relaxed);
                self.input(Input::Stop { communication }).await
            }
            #[cfg(any(test, feature = "test-hooks"))]
            Command::Panic => panic!("session task panic injected by a test"),
            Command::Reset(notification) => {
                self.input(Input::Reset {
                    notification,
                    hold_down: None,
                })
                .await
            }
            Command::ResetHoldDown(notification, hold) => {
                let input = Input::Reset {
                    notification,
                    hold_down: Some(hold),
                };
                self.input(input).await
            }
            Command::Incoming(stream) => {
                if let Err(e) = secure_accepted(&stream, &self.cfg.transport) {
                    warn!(peer = %self.cfg.remote, error = %e, "cannot secure accepted connection");
                    return true;
                }
                let conn = self.adopt(stream);
                self.input(Input::TcpConnected {
                    conn,
                    direction: Direction::Incoming,
                })
                .await;
            }
            Command::Announce {
                afi,
                attrs,
                next_hop,
                prefixes,
            } => {
                if let Some((conn, ctx)) = self.established_conn() {
                    for msg in wire::encode_announce(&attrs, &next_hop, afi, &prefixes, &ctx) {
                        self.write(conn, 2, msg);
                    }
                }
            }
            Command::Withdraw { afi, prefixes } => {
                if let Some((conn, ctx)) = self.established_conn() {
                    for msg in wire::encode_withdraw(afi, &prefixes, &ctx) {
                        self.write(conn, 2, msg);
                    }
                }
            }
            Command::EndOfRib(afi) => {
                if let Some((conn, ctx)) = self.established_conn() {
                    self.write(conn, 2, wire::end_of_rib(afi, Safi::Unicast, &ctx));
                    self.stats.end_of_rib.lock().unwrap().sent.push(afi);
                }
            }
            Command::RouteRefresh(afi) => {
                let supported = self.session.negotiated().is_some_and(|n| n.route_refresh);
                self.send_route_refresh(afi, RouteRefreshSubtype::Request, supported);
            }
            Command::RefreshMarker(afi, marker) => {
                let supported =
                    (self.session.negotiated()).is_some_and(|n| n.enhanced_route_refresh);
                self.send_route_refresh(afi, marker, supported);
            }
        }
        true
    }

    /// Sends ROUTE-REFRESH with `subtype` (RFC 7313 §3.2) if the session is
    /// up and the capability it needs was negotiated.
    fn send_route_refresh(&mut self, afi: Afi, subtype: RouteRefreshSubtype, supported: bool) {
        if let (true, Some((conn, ctx))) = (supported, self.established_conn()) {
            let rr = Message::RouteRefresh(RouteRefresh {
                afi,
                subtype,
                safi: Safi::Unicast,
            });
            match wire::encode_to_bytes(&rr, &ctx) {
                Ok(bytes) => self.write(conn, 5, bytes),
                Err(e) => warn!(peer = %self.cfg.remote, error = %e, "cannot encode ROUTE-REFRESH"),
            }
        }
    }

    fn established_conn(&self) -> Option<(ConnId, Ctx)> {
        let conn = self.session.established_conn()?;
        Some((conn, self.conns.get(&conn)?.ctx))
    }

    async fn frame(&mut self, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return; // a connection we already closed
        }
        match frame {
            Frame::Message(bytes) => {
                let ctx = self.conns[&conn].ctx;
                let code = bytes.get(18).copied().unwrap_or(0) as usize;
                if let Some(c) = self.stats.messages_received.get(code) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                match wire::decode(&bytes, &ctx) {
                    Ok(mut message) => {
                        if let Message::Update(u) = &mut message {
                            // wgbgp speaks eBGP; an equal AS would be iBGP.
                            let local_as = crate::fsm::PeerAs::Is(self.cfg.fsm.local_as);
                            if self.cfg.fsm.remote_as != local_as {
                                u.apply_external_peer_rules();
                            }
                            if let Some(e) = &u.treat_as_withdraw {
                                warn!(peer = %self.cfg.remote, code = e.code, offset = e.offset,
                                      reason = e.reason, "malformed attribute: treat-as-withdraw (RFC 7606)");
                            }
                            for e in &u.discarded {
                                warn!(peer = %self.cfg.remote, code = e.code, offset = e.offset,
                                      reason = e.reason, "malformed attribute discarded (RFC 7606)");
                            }
                        }
                        if let Message::Notification(n) = &message {
                            warn!(peer = %self.cfg.remote, "received NOTIFICATION: {}", n.describe());
                            self.stats.count_notification(false, n);
                            *self.stats.last_error.lock().unwrap() =
                                Some(format!("received {}", n.describe()));
                        }
                        self.input(Input::Message { conn, message }).await;
                    }
                    Err(e) => self.decode_error(conn, e).await,
                }
            }
            Frame::Error(e) => self.decode_error(conn, *e).await,
            Frame::Closed(err) => {
                debug!(peer = %self.cfg.remote, ?err, "connection closed");
                self.input(Input::TcpClosed { conn }).await;
            }
        }
    }

    async fn decode_error(&mut self, conn: ConnId, e: wire::DecodeError) {
        let notification = e.notification();
        warn!(peer = %self.cfg.remote, error = %e, "malformed message: sending {}", notification.describe());
        *self.stats.last_error.lock().unwrap() =
            Some(format!("sent {}: {e}", notification.describe()));
        self.input(Input::DecodeError { conn, notification }).await;
    }

    /// Registers a new TCP connection and starts its reader and writer tasks.
    fn adopt(&mut self, stream: TcpStream) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let _ = stream.set_nodelay(true);
        let endpoints = match (stream.local_addr(), stream.peer_addr()) {
            (Ok(local), Ok(remote)) => Some(Endpoints { local, remote }),
            _ => None,
        };
        let (read, write) = stream.into_split();
        let (wtx, wrx) = mpsc::unbounded_channel();
        tokio::spawn(writer(write, wrx));
        let limits = framing_ctx(&self.cfg.fsm.open());
        let reader = tokio::spawn(reader(conn, read, limits, self.frames_tx.clone()));
        self.conns.insert(
            conn,
            Conn {
                writer: wtx,
                reader,
                ctx: Ctx::default(),
                endpoints,
            },
        );
        conn
    }

    fn write(&self, conn: ConnId, code: usize, bytes: Bytes) {
        if let Some(c) = self.conns.get(&conn)
            && c.writer.send(bytes).is_ok()
        {
            self.stats.messages_sent[code].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Feeds the FSM and carries out what it says. Boxed: carrying out
    /// outputs (sending events, each up to 300 bytes) nests futures of
    /// some 2.4 KB, which would otherwise sit in every session task's
    /// allocation, idle or not, for the whole life of the peer.
    fn input(&mut self, input: Input) -> futures::future::BoxFuture<'_, ()> {
        async move {
            for output in self.session.handle(input) {
                self.output(output).await;
            }
        }
        .boxed()
    }

    async fn output(&mut self, output: Output) {
        match output {
            Output::Connect => {
                if let Some(old) = self.connect.take() {
                    old.abort();
                }
                let remote = self.cfg.remote;
                let local = self.cfg.local.bind_address(remote.ip());
                let transport = self.cfg.transport.clone();
                let timeout = self.cfg.fsm.connect_retry;
                self.connect = Some(tokio::spawn(async move {
                    match tokio::time::timeout(timeout, connect(remote, local, &transport)).await {
                        Ok(res) => res,
                        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
                    }
                }));
            }
            Output::AbortConnect => {
                if let Some(c) = self.connect.take() {
                    c.abort();
                }
            }
            Output::Send { conn, message } => {
                let ctx = self.conns.get(&conn).map(|c| c.ctx).unwrap_or_default();
                match wire::encode_to_bytes(&message, &ctx) {
                    Ok(bytes) => self.write(conn, message.type_code() as usize, bytes),
                    Err(e) => warn!(peer = %self.cfg.remote, error = %e, "cannot encode message"),
                }
                if let Message::Notification(n) = &message {
                    info!(peer = %self.cfg.remote, "sending NOTIFICATION: {}", n.describe());
                    self.stats.count_notification(true, n);
                    *self.stats.last_error.lock().unwrap() = Some(format!("sent {}", n.describe()));
                }
            }
            Output::Close { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    // Dropping the writer's sender flushes what is queued, then closes.
                    c.reader.abort();
                }
            }
            Output::StartTimer(t, d) => {
                self.timers.insert(t, tokio::time::Instant::now() + d);
            }
            Output::StopTimer(t) => {
                self.timers.remove(&t);
            }
            Output::StateChange { from, to } => {
                info!(peer = %self.cfg.remote, "state {} -> {}", from.name(), to.name());
                self.stats.set_state(to);
                let _ = self
                    .events
                    .send((self.id, Event::StateChange { from, to }))
                    .await;
            }
            Output::Established { conn, negotiated } => {
                let mut endpoints = None;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.ctx = Ctx {
                        four_octet_as: negotiated.four_octet_as,
                        extended_message: negotiated.extended_message,
                    };
                    endpoints = c.endpoints;
                }
                // A connection that closed under us has no addresses left;
                // its TcpClosed follows and takes the session down.
                let connection = endpoints.unwrap_or(Endpoints {
                    local: SocketAddr::new(unspecified(self.cfg.remote.ip()), 0),
                    remote: self.cfg.remote,
                });
                info!(peer = %self.cfg.remote, remote_as = negotiated.remote_as,
                      hold_time = negotiated.hold_time, "session established");
                self.stats
                    .connections_established
                    .fetch_add(1, Ordering::Relaxed);
                *self.stats.established_at.lock().unwrap() =
                    Some((Instant::now(), SystemTime::now()));
                *self.stats.negotiated.lock().unwrap() = Some(negotiated.clone());
                *self.stats.connection.lock().unwrap() = Some(connection);
                (*self.stats.remote_hostname.lock().unwrap())
                    .clone_from(&negotiated.remote_hostname);
                *self.stats.end_of_rib.lock().unwrap() = EndOfRibSeen::default();
                let established = Event::Established {
                    negotiated,
                    connection,
                };
                let _ = self.events.send((self.id, established)).await;
            }
            Output::Update(update) => {
                if let Some((afi, Safi::Unicast)) = update.end_of_rib() {
                    self.stats.end_of_rib.lock().unwrap().received.push(afi);
                }
                let _ = self.events.send((self.id, Event::Update(update))).await;
            }
            Output::RouteRefresh(rr) => {
                let _ = self.events.send((self.id, Event::RouteRefresh(rr))).await;
            }
            Output::Down(reason) => {
                warn!(peer = %self.cfg.remote, %reason, "session down");
                self.stats
                    .connections_dropped
                    .fetch_add(1, Ordering::Relaxed);
                *self.stats.established_at.lock().unwrap() = None;
                *self.stats.negotiated.lock().unwrap() = None;
                self.stats.went_down(&reason);
                let _ = self.events.send((self.id, Event::Down(reason))).await;
            }
        }
    }
}

/// The unspecified address of `a`'s family.
fn unspecified(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// The result of the pending connection attempt (only polled while there
/// is one).
async fn connect_result(
    attempt: &mut Option<JoinHandle<io::Result<TcpStream>>>,
) -> io::Result<TcpStream> {
    match attempt.as_mut() {
        Some(task) => task.await.unwrap_or_else(|e| Err(io::Error::other(e))),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The most the reader may ever allow on a connection where we send `open`.
/// RFC 4271 §6.1: a Length above 4096 is an error as soon as the header is
/// in; waiting for a body the peer may never send would leave the
/// connection hanging until the hold timer. Only if we announce Extended
/// Message (RFC 8654) *and* the peer's OPEN does too may the peer send more
/// (the reader looks at that OPEN itself, so the limit changes at the right
/// byte); the session task checks the negotiated limit again when it decodes.
fn framing_ctx(open: &wire::Open) -> Ctx {
    Ctx {
        four_octet_as: true,
        extended_message: open.has(|c| matches!(c, wire::Capability::ExtendedMessage)),
    }
}

/// Whether `msg` is an OPEN announcing Extended Message (RFC 8654 §3).
fn open_announces_extended_message(msg: &Bytes) -> bool {
    msg.get(18) == Some(&1)
        && matches!(
            wire::decode(msg, &Ctx::default()),
            Ok(Message::Open(o)) if o.has(|c| matches!(c, wire::Capability::ExtendedMessage))
        )
}

/// The reader's first read size, and what it goes back to when reads come
/// small: one whole message of RFC 4271's maximum.
const READ_MIN: usize = 4096;
/// Reads grow (doubling while they fill the buffer) up to this under load,
/// such as a full table arriving.
const READ_MAX: usize = 64 * 1024;

/// Frames the byte stream into whole messages for the session task: 4096
/// octets at most until the peer's OPEN, then up to the limit of `limits`
/// if that OPEN announced Extended Message too.
///
/// Its buffer holds memory only while bytes wait to be framed: when all
/// that was read has gone out as messages, the buffer is let go and the
/// reader waits for the socket with none, so an idle session (a KEEPALIVE
/// every 30 s) costs no buffer at all, where a fixed 64 KiB one ended up
/// resident per peer as the read position crept through it. The next read
/// allocates `size`, which doubles while reads fill it (bulk UPDATEs) and
/// halves back while they don't.
async fn reader(
    conn: ConnId,
    mut read: OwnedReadHalf,
    limits: Ctx,
    tx: mpsc::Sender<(ConnId, Frame)>,
) {
    let mut ctx = Ctx {
        extended_message: false,
        ..limits
    };
    let mut buf = BytesMut::new();
    let mut size = READ_MIN;
    loop {
        loop {
            match wire::frame(&buf, &ctx) {
                Ok(Some(len)) => {
                    let msg = buf.split_to(len).freeze();
                    if limits.extended_message
                        && !ctx.extended_message
                        && open_announces_extended_message(&msg)
                    {
                        ctx.extended_message = true;
                    }
                    if tx.send((conn, Frame::Message(msg))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send((conn, Frame::Error(Box::new(e)))).await;
                    return;
                }
            }
        }
        if buf.is_empty() {
            // Messages already framed keep their part of the old
            // allocation alive; this handle lets go of the rest.
            buf = BytesMut::new();
            if let Err(e) = read.readable().await {
                let _ = tx.send((conn, Frame::Closed(Some(e)))).await;
                return;
            }
        }
        if buf.capacity() - buf.len() < READ_MIN {
            buf.reserve(size);
        }
        let room = buf.capacity() - buf.len();
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.send((conn, Frame::Closed(None))).await;
                return;
            }
            Ok(n) if n == room => size = (size * 2).min(READ_MAX),
            Ok(n) if n < size / 4 => size = (size / 2).max(READ_MIN),
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send((conn, Frame::Closed(Some(e)))).await;
                return;
            }
        }
    }
}

/// Writes queued messages in order; when the queue's sender is dropped,
/// flushes and closes the connection.
async fn writer(mut write: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(first) = rx.recv().await {
        // Coalesce what is queued into one write.
        let mut batch = BytesMut::from(&first[..]);
        while batch.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if write.write_all(&batch).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Transport;
    use tokio::net::TcpListener;

    /// A connected pair: the reader side's read half, and the peer's stream.
    async fn pair() -> (OwnedReadHalf, OwnedWriteHalf, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        let (read, write) = ours.into_split();
        (read, write, peer)
    }

    #[tokio::test]
    async fn reader_rejects_an_overlong_header_without_waiting_for_the_body() {
        // Found by integration/tests/hostile.rs: a header claiming 5000
        // octets, then silence, used to hang the connection until the hold
        // timer because framing allowed the Extended Message maximum.
        let (read, _write, mut peer) = pair().await;
        let (tx, mut rx) = mpsc::channel(4);
        // We announce Extended Message, but the peer's OPEN has not come.
        let ctx = framing_ctx(&fsm::Config::new(65001, 65002, "10.0.0.1".parse().unwrap()).open());
        assert!(ctx.extended_message);
        tokio::spawn(reader(ConnId(1), read, ctx, tx));
        let mut header = vec![0xff; 16];
        header.extend_from_slice(&5000u16.to_be_bytes());
        header.push(2);
        peer.write_all(&header).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("the reader answered at once");
        match got {
            Some((ConnId(1), Frame::Error(e))) => {
                let n = e.notification();
                assert_eq!((n.code, n.subcode), (1, 2));
                assert_eq!(&n.data[..], &5000u16.to_be_bytes());
            }
            _ => panic!("expected a framing error"),
        }
    }

    /// Sends the peer's OPEN (with or without Extended Message) and an
    /// UPDATE of 5000 octets to a reader for our usual OPEN; what it framed.
    async fn long_update_after_open(peer_extended: bool) -> Vec<Frame> {
        let (read, _write, mut peer) = pair().await;
        let (tx, mut rx) = mpsc::channel(4);
        let ours = fsm::Config::new(65001, 65002, "10.0.0.1".parse().unwrap()).open();
        tokio::spawn(reader(ConnId(1), read, framing_ctx(&ours), tx));
        let mut theirs = fsm::Config::new(65002, 65001, "10.0.0.2".parse().unwrap()).open();
        if !peer_extended {
            theirs
                .capabilities
                .retain(|c| *c != wire::Capability::ExtendedMessage);
        }
        let open = wire::encode_to_bytes(&Message::Open(theirs), &Ctx::default()).unwrap();
        peer.write_all(&open).await.unwrap();
        // An UPDATE of 5000 octets: no withdrawn routes, no attributes, and
        // 4977 octets of /0 prefixes; framing only looks at the header.
        let mut msg = vec![0xff; 16];
        msg.extend_from_slice(&5000u16.to_be_bytes());
        msg.push(2);
        msg.resize(5000, 0);
        peer.write_all(&msg).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let f = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("the reader framed the message");
            got.extend(f.map(|(_, f)| f));
        }
        got
    }

    /// Waits for the next event matching `want`, keeping all it passed.
    async fn until(
        rx: &mut mpsc::Receiver<(u8, Event)>,
        seen: &mut Vec<Event>,
        want: impl Fn(&Event) -> bool,
    ) {
        let wait = async {
            while let Some((_, ev)) = rx.recv().await {
                let done = want(&ev);
                seen.push(ev);
                if done {
                    return;
                }
            }
            panic!("events ended");
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("timed out; seen {seen:?}"));
    }

    fn established(e: &Event) -> bool {
        matches!(
            e,
            Event::StateChange {
                to: State::Established,
                ..
            }
        )
    }

    /// Session A connects to a listener that hands every connection to a
    /// passive session B; returns both handles and A's events.
    async fn pair_of_sessions() -> (SessionHandle, SessionHandle, mpsc::Receiver<(u8, Event)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = fsm::Config::new(65001, 65002, "10.0.0.1".parse().unwrap());
        let (a_tx, a_rx) = mpsc::channel(64);
        let a = spawn(
            1u8,
            PeerConfig {
                fsm: ours,
                remote: listener.local_addr().unwrap(),
                local: Source::Kernel,
                transport: Transport::default(),
            },
            a_tx,
        );
        let mut theirs = fsm::Config::new(65002, 65001, "10.0.0.2".parse().unwrap());
        theirs.passive = true;
        theirs.hostname = Some("b".into());
        theirs.idle_hold = Duration::from_millis(10);
        let (b_tx, mut b_rx) = mpsc::channel(64);
        let b = spawn(
            2u8,
            PeerConfig {
                fsm: theirs,
                remote: "127.0.0.1:9".parse().unwrap(),
                local: Source::Kernel,
                transport: Transport::default(),
            },
            b_tx,
        );
        tokio::spawn(async move { while b_rx.recv().await.is_some() {} });
        let to_b = b.commands.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = to_b.send(Command::Incoming(stream));
            }
        });
        b.commands.send(Command::Start).unwrap();
        a.commands.send(Command::Start).unwrap();
        (a, b, a_rx)
    }

    #[tokio::test]
    async fn a_panicking_session_task_is_reported_down_and_started_again() {
        let (a, _b, mut events) = pair_of_sessions().await;
        let mut seen = Vec::new();
        until(&mut events, &mut seen, established).await;
        assert_eq!(a.stats.state(), State::Established);
        // The event and the stats carry the connection's real addresses.
        let Some(Event::Established { connection, .. }) =
            seen.iter().find(|e| matches!(e, Event::Established { .. }))
        else {
            panic!("no Established event in {seen:?}");
        };
        assert_eq!(connection.remote.ip().to_string(), "127.0.0.1");
        assert_eq!(connection.local.ip().to_string(), "127.0.0.1");
        assert_ne!(connection.local.port(), 0);
        let connection = *connection;
        assert_eq!(*a.stats.connection.lock().unwrap(), Some(connection));

        a.commands.send(Command::Panic).unwrap();
        seen.clear();
        until(&mut events, &mut seen, |e| {
            matches!(e, Event::TaskFailed(_))
        })
        .await;
        // The RIB hears what any other session end tells it: the state
        // left Established, then Down (its routes go), then the failure.
        match &seen[..] {
            [
                Event::StateChange {
                    from: State::Established,
                    to: State::Idle,
                },
                Event::Down(DownReason::TaskFailed(why)),
                Event::TaskFailed(again),
            ] => {
                assert!(why.contains("injected by a test"), "{why}");
                assert_eq!(why, again);
            }
            other => panic!("unexpected events {other:?}"),
        }
        assert!(!DownReason::TaskFailed(String::new()).allows_graceful_restart(true));
        assert_eq!(a.stats.task_failures.load(Ordering::Relaxed), 1);
        assert_eq!(a.stats.state(), State::Idle);
        assert!(a.stats.negotiated.lock().unwrap().is_none());
        // The addresses stay for `show bgp neighbors` (FRR's hostLocal...).
        assert_eq!(*a.stats.connection.lock().unwrap(), Some(connection));

        // Started again after the back-off, without a new Start command.
        seen.clear();
        until(&mut events, &mut seen, established).await;
        assert_eq!(a.stats.state(), State::Established);
        assert!(!a.task.is_finished());
    }

    #[tokio::test]
    async fn a_dropped_session_keeps_its_addresses_and_host_name_for_show() {
        let (a, b, mut events) = pair_of_sessions().await;
        let mut seen = Vec::new();
        until(&mut events, &mut seen, established).await;
        let up = a.stats.connection.lock().unwrap().expect("addresses");
        assert_eq!(
            a.stats.remote_hostname.lock().unwrap().as_deref(),
            Some("b")
        );

        b.commands
            .send(Command::Stop {
                communication: None,
            })
            .unwrap();
        until(&mut events, &mut seen, |e| matches!(e, Event::Down(_))).await;
        assert_ne!(a.stats.state(), State::Established);
        assert!(a.stats.negotiated.lock().unwrap().is_none());
        assert!(a.stats.last_down.lock().unwrap().is_some());
        assert_eq!(*a.stats.connection.lock().unwrap(), Some(up));
        assert_eq!(
            a.stats.remote_hostname.lock().unwrap().as_deref(),
            Some("b")
        );
    }

    #[tokio::test]
    async fn a_session_task_whose_commands_end_is_not_restarted() {
        let (a, _b, mut events) = pair_of_sessions().await;
        let mut seen = Vec::new();
        until(&mut events, &mut seen, established).await;
        let SessionHandle {
            commands,
            stats,
            task,
            ..
        } = a;
        drop(commands);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ended")
            .expect("without a panic");
        assert_eq!(stats.task_failures.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn reader_takes_long_messages_when_both_announce_extended_message() {
        let got = long_update_after_open(true).await;
        match &got[..] {
            [Frame::Message(open), Frame::Message(m)] => {
                assert_eq!(open[18], 1);
                assert_eq!(m.len(), 5000);
            }
            _ => panic!("expected the OPEN and the whole UPDATE"),
        }
    }

    #[tokio::test]
    async fn reader_refuses_long_messages_when_the_peer_lacks_extended_message() {
        let got = long_update_after_open(false).await;
        match &got[..] {
            [Frame::Message(_), Frame::Error(e)] => {
                let n = e.notification();
                assert_eq!((n.code, n.subcode), (1, 2));
                assert_eq!(&n.data[..], &5000u16.to_be_bytes());
            }
            _ => panic!("expected the OPEN and a length error"),
        }
    }
}
