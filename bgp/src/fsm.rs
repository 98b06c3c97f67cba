//! The BGP session state machine (RFC 4271 §8), without sockets or clocks.
//!
//! A [`Session`] is driven by [`Input`]s and answers with [`Output`]s: send
//! this message, start that timer, open a connection, the session is up.
//! The driver ([`crate::driver`]) owns the TCP connections and the timers;
//! this module only decides. That keeps every transition testable with
//! plain function calls.
//!
//! A session may have two TCP connections at once while both speakers open
//! one each (loopback-to-loopback eBGP does this on every start). Each
//! connection runs its own OpenSent/OpenConfirm phase; connection collision
//! detection (RFC 4271 §6.8) picks the survivor as soon as the peer's BGP
//! Identifier is known from an OPEN.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;

use crate::wire::{
    AS_TRANS, Afi, Capability, CeaseSubcode, ErrorCode, Message, Notification, Open, RouteRefresh,
    Safi, Update,
};

/// Session-level state, as `show bgp summary` reports it (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The numbering used by BGP4-MIB `bgpPeerState` and the exporters.
    pub fn mib_value(self) -> i64 {
        self as i64 + 1
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

/// Identifies one TCP connection of a session; assigned by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened the TCP connection; decides collision resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// Timers the driver runs on the FSM's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// RFC 4271 §10 ConnectRetryTimer.
    ConnectRetry,
    /// Delay before an automatic restart after the session went down
    /// (RFC 4271 §8.1.1 IdleHoldTimer, with back-off).
    IdleHold,
    HoldTimer(ConnId),
    KeepaliveTimer(ConnId),
}

/// The AS a peer's OPEN must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerAs {
    /// Exactly this one (RFC 4271 §6.2: Bad Peer AS otherwise).
    Is(u32),
    /// Any AS but ours (FRR's `remote-as external`): eBGP with whoever
    /// answers, for unnumbered and dynamic neighbors. Ours would be iBGP,
    /// which wgbgp does not speak.
    External,
}

impl PeerAs {
    /// The configured number, if one is.
    pub fn number(self) -> Option<u32> {
        match self {
            PeerAs::Is(asn) => Some(asn),
            PeerAs::External => None,
        }
    }

    /// Whether an OPEN from `asn` is acceptable when ours is `local_as`.
    pub fn accepts(self, asn: u32, local_as: u32) -> bool {
        match self {
            PeerAs::Is(want) => asn == want,
            PeerAs::External => asn != local_as,
        }
    }
}

impl std::fmt::Display for PeerAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAs::Is(asn) => write!(f, "{asn}"),
            PeerAs::External => f.write_str("external"),
        }
    }
}

/// Settings of one session, fixed for its lifetime (a change resets it).
#[derive(Debug, Clone)]
pub struct Config {
    pub local_as: u32,
    pub remote_as: PeerAs,
    pub bgp_id: Ipv4Addr,
    /// Proposed hold time in seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// HoldTimer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "a
    /// large value", suggested 4 minutes; BIRD's `startup hold time`): a
    /// connection that sends no complete OPEN is dropped after it.
    pub open_hold_time: Duration,
    /// Keepalive interval; default one third of the negotiated hold time.
    pub keepalive: Option<u16>,
    /// Never open connections, only accept them.
    pub passive: bool,
    /// ConnectRetryTimer (RFC 4271 §10) once the quick first retry
    /// (`first_connect_retry`) is made; doubles per consecutive failed
    /// connection attempt up to `connect_retry_max`, so a peer that is gone
    /// for hours is not dialled every few seconds.
    pub connect_retry: Duration,
    pub connect_retry_max: Duration,
    /// ConnectRetryTimer right after a start or [`Input::ConnectNow`],
    /// before the back-off applies: a first attempt that fails because the
    /// path is not there yet (a tunnel's first handshake still in flight)
    /// is repeated within this, not after `connect_retry` doubled. Jittered
    /// to 0.75–1.0 of itself (RFC 4271 §10), so peers started together do
    /// not dial in step.
    pub first_connect_retry: Duration,
    /// Seed of the jitter: the same seed gives the same delays (tests); the
    /// daemon passes something that differs per peer.
    pub jitter_seed: u64,
    /// First automatic-restart delay after an error; doubles per failure up
    /// to `idle_hold_max`.
    pub idle_hold: Duration,
    pub idle_hold_max: Duration,
    /// Address families to announce with the Multiprotocol capability.
    pub families: Vec<(Afi, Safi)>,
    /// FQDN capability content (hostname, domain), as FRR announces it.
    pub hostname: Option<String>,
    /// Announce the Graceful Restart capability (RFC 4724 §3) with this
    /// Restart Time in seconds (at most 4095). Without `local_restart` we
    /// list no address families, which makes us a helper only: we keep a
    /// restarting peer's routes.
    pub graceful_restart: Option<u16>,
    /// With `graceful_restart`: we are also a restarting speaker (RFC 4724
    /// §4.1), our routes stay in the kernel across our own restarts, so the
    /// capability lists our unicast families.
    pub local_restart: Option<LocalRestart>,
    /// Announce the Extended Next Hop capability (RFC 8950) for IPv4
    /// unicast with IPv6 next hops, as FRR's `capability extended-nexthop`.
    pub extended_next_hop: bool,
}

impl Config {
    pub fn new(local_as: u32, remote_as: u32, bgp_id: Ipv4Addr) -> Self {
        Config {
            local_as,
            remote_as: PeerAs::Is(remote_as),
            bgp_id,
            hold_time: 90,
            open_hold_time: Duration::from_secs(240),
            keepalive: None,
            passive: false,
            connect_retry: Duration::from_secs(5),
            connect_retry_max: Duration::from_secs(120),
            first_connect_retry: Duration::from_secs(1),
            jitter_seed: u64::from(bgp_id.to_bits()) << 32 | u64::from(remote_as),
            idle_hold: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(60),
            families: vec![(Afi::Ipv4, Safi::Unicast), (Afi::Ipv6, Safi::Unicast)],
            hostname: None,
            graceful_restart: None,
            local_restart: None,
            extended_next_hop: false,
        }
    }

    /// Our first OPEN message of this run (RFC 4271 §4.2, RFC 5492
    /// capabilities).
    pub fn open(&self) -> Open {
        self.open_after(false)
    }

    /// Our OPEN; `reconnect`: the session was Established before in this
    /// run, so we are no longer restarting (R bit clear) and our forwarding
    /// state is whatever we installed since (F bit set).
    pub fn open_after(&self, reconnect: bool) -> Open {
        let mut capabilities: Vec<Capability> = self
            .families
            .iter()
            .map(|&(afi, safi)| Capability::Multiprotocol { afi, safi })
            .collect();
        if self.extended_next_hop && self.families.contains(&(Afi::Ipv4, Safi::Unicast)) {
            capabilities.push(Capability::ExtendedNextHop(vec![(
                Afi::Ipv4,
                Safi::Unicast,
                Afi::Ipv6,
            )]));
        }
        capabilities.push(Capability::RouteRefresh);
        capabilities.push(Capability::EnhancedRouteRefresh);
        capabilities.push(Capability::ExtendedMessage);
        capabilities.push(Capability::FourOctetAs(self.local_as));
        if let Some(restart_time) = self.graceful_restart {
            let (restart_state, families) = match self.local_restart {
                None => (false, Vec::new()),
                Some(local) => {
                    let forwarding = local.forwarding || reconnect;
                    let families = self
                        .families
                        .iter()
                        .filter(|(_, safi)| *safi == Safi::Unicast)
                        .map(|&(afi, safi)| (afi, safi, forwarding))
                        .collect();
                    (local.restarting && !reconnect, families)
                }
            };
            capabilities.push(Capability::GracefulRestart {
                restart_state,
                // RFC 8538: we tell a graceful end from a hard one by Hard Reset.
                notification: true,
                restart_time: restart_time.min(0x0fff),
                families,
            });
        }
        if let Some(host) = &self.hostname {
            capabilities.push(Capability::Fqdn {
                hostname: host.clone(),
                domain: String::new(),
            });
        }
        Open {
            version: 4,
            my_as: u16::try_from(self.local_as).unwrap_or(AS_TRANS),
            hold_time: self.hold_time,
            bgp_id: self.bgp_id,
            capabilities,
        }
    }
}

/// How we restart (RFC 4724 §4.1), as this run announces it in the first
/// OPEN to each peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalRestart {
    /// R bit: this run is a restart (the previous one left its routes in
    /// the kernel), and route selection waits for the peers' End-of-RIB.
    pub restarting: bool,
    /// F bit of every listed family: the forwarding state of the previous
    /// run survived (its routes are still in the kernel).
    pub forwarding: bool,
}

/// What both OPENs agreed on; fixed for an Established session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub remote_as: u32,
    pub remote_id: Ipv4Addr,
    /// Negotiated hold time in seconds (0 = no keepalives).
    pub hold_time: u16,
    pub keepalive: u16,
    pub four_octet_as: bool,
    /// RFC 8654: both sides announced Extended Message, so messages other
    /// than OPEN and KEEPALIVE may be up to 65535 octets each way.
    pub extended_message: bool,
    pub route_refresh: bool,
    /// RFC 7313: both sides announced Enhanced Route Refresh; a refresh we
    /// answer is framed by BoRR/EoRR, and the peer's BoRR/EoRR mark and
    /// sweep its paths.
    pub enhanced_route_refresh: bool,
    /// IPv4 unicast routes may carry an IPv6 next hop (RFC 8950): both
    /// sides announced Extended Next Hop for IPv4 unicast over IPv6.
    pub extended_next_hop: bool,
    /// Families both sides announced.
    pub families: Vec<(Afi, Safi)>,
    pub remote_hostname: Option<String>,
    /// The peer's Graceful Restart capability, when both sides announced
    /// one (RFC 4724 §3): what to keep if the session ends without a
    /// NOTIFICATION.
    pub graceful_restart: Option<PeerGracefulRestart>,
    pub remote_open: Open,
}

/// A peer's Graceful Restart capability (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// R bit: the peer has just restarted.
    pub restart_state: bool,
    /// How long to keep its routes while it restarts, seconds.
    pub restart_time: u16,
    /// Families whose routes it preserves, with the F bit (forwarding
    /// state kept across the restart).
    pub families: Vec<(Afi, Safi, bool)>,
    /// N bit (RFC 8538): both sides announced it (we always do), so a
    /// NOTIFICATION other than Hard Reset ends the session gracefully too.
    pub notification: bool,
}

impl PeerGracefulRestart {
    /// Whether the peer preserves `family` and kept its forwarding state
    /// for it across the restart it announces (the F bit).
    pub fn forwarding_kept(&self, afi: Afi, safi: Safi) -> bool {
        self.families
            .iter()
            .any(|&(a, s, f)| a == afi && s == safi && f)
    }

    /// Whether the peer preserves `family` at all.
    pub fn preserves(&self, afi: Afi, safi: Safi) -> bool {
        self.families.iter().any(|&(a, s, _)| a == afi && s == safi)
    }
}

/// Events into the FSM. RFC 4271 §8.1 event numbers in the comments.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "an Input is moved straight into `handle`, never stored"
)]
pub enum Input {
    /// Event 1 ManualStart (Event 5 ManualStart_with_PassiveTcpEstablishment
    /// when `Config::passive`).
    Start,
    /// Event 3 AutomaticStart, sent when the path to the peer has just
    /// appeared (a tunnel's first handshake, an interface up, a route to a
    /// plain peer, a reload adding the peer): in Idle, Connect or Active a
    /// connection attempt starts now, whatever the ConnectRetryTimer says,
    /// and the back-off starts over. Ignored while a connection is open, when
    /// stopped, passive, or held down after max-prefix.
    ConnectNow,
    /// Event 2 ManualStop, with an RFC 9003 shutdown communication.
    Stop {
        communication: Option<String>,
    },
    /// Events 16/17: a TCP connection is up.
    TcpConnected {
        conn: ConnId,
        direction: Direction,
    },
    /// Event 18: our outgoing connection attempt failed.
    TcpConnectFailed,
    /// The connection closed or failed after it was up.
    TcpClosed {
        conn: ConnId,
    },
    /// A message decoded on `conn` (Events 19–28).
    Message {
        conn: ConnId,
        message: Message,
    },
    /// The message on `conn` could not be decoded; the error says which
    /// NOTIFICATION to send (Events 21, 22, 28).
    DecodeError {
        conn: ConnId,
        notification: Notification,
    },
    /// The local side must reset the session (e.g. max-prefix exceeded);
    /// `hold_down` keeps it down that long before it restarts (FRR's
    /// `maximum-prefix N restart M`) instead of the usual idle hold.
    Reset {
        notification: Notification,
        hold_down: Option<Duration>,
    },
    TimerExpired(Timer),
}

/// Why an Established session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    HoldTimerExpired,
    ConnectionClosed,
    AdminStop,
    /// The session task ended unexpectedly (a panic); the driver's
    /// supervisor starts a new one.
    TaskFailed(String),
}

impl DownReason {
    /// Whether the routes of the session may be kept by a Graceful Restart
    /// helper: RFC 4724 §4.2 for an end without a NOTIFICATION (the
    /// connection closed, or the hold timer expired, when the peer could not
    /// send one); RFC 8538 §4 adds, when both sides announced the N bit,
    /// any NOTIFICATION but a Hard Reset. A manual stop never qualifies.
    pub fn allows_graceful_restart(&self, n_bit: bool) -> bool {
        match self {
            DownReason::ConnectionClosed | DownReason::HoldTimerExpired => true,
            DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => {
                // RFC 8538 §3: a Hard Reset means the sender wants the routes gone.
                n_bit && !n.is_cease(CeaseSubcode::HardReset)
            }
            // Our own failure: the peer did not restart, nothing to wait for.
            DownReason::AdminStop | DownReason::TaskFailed(_) => false,
        }
    }
}

/// RFC 8538 §5: with the N bit negotiated, these Cease subcodes (maximum
/// prefixes, administrative shutdown, peer de-configured, administrative
/// reset) are sent as a Hard Reset so that the peer drops our routes.
fn hard_reset_if_negotiated(n: Notification, negotiated: Option<&Negotiated>) -> Notification {
    let n_bit = negotiated
        .and_then(|n| n.graceful_restart.as_ref())
        .is_some_and(|g| g.notification);
    let hard = matches!(
        n.cease_subcode(),
        Some(
            CeaseSubcode::MaximumPrefixesReached
                | CeaseSubcode::AdministrativeShutdown
                | CeaseSubcode::PeerDeconfigured
                | CeaseSubcode::AdministrativeReset
        )
    );
    if !n_bit || !hard {
        return n;
    }
    // RFC 8538 §3: the data is the encapsulated code, subcode and data.
    let mut data = Vec::with_capacity(2 + n.data.len());
    data.extend_from_slice(&[n.code, n.subcode]);
    data.extend_from_slice(&n.data);
    Notification::cease(CeaseSubcode::HardReset, data)
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::NotificationSent(n) => {
                write!(f, "sent NOTIFICATION {}/{}", n.code, n.subcode)
            }
            DownReason::NotificationReceived(n) => {
                write!(f, "received NOTIFICATION {}/{}", n.code, n.subcode)
            }
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::ConnectionClosed => f.write_str("connection closed"),
            DownReason::AdminStop => f.write_str("administratively stopped"),
            DownReason::TaskFailed(why) => write!(f, "session task failed: {why}"),
        }
    }
}

/// Actions the driver carries out, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open an outgoing TCP connection; answer with `TcpConnected` or `TcpConnectFailed`.
    Connect,
    /// Abandon a pending outgoing connection attempt.
    AbortConnect,
    Send {
        conn: ConnId,
        message: Message,
    },
    /// Flush what was queued on `conn`, then close it.
    Close {
        conn: ConnId,
    },
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    StateChange {
        from: State,
        to: State,
    },
    Established {
        conn: ConnId,
        negotiated: Negotiated,
    },
    /// An UPDATE for the RIB (Established only).
    Update(Update),
    /// The peer asked us to resend a family (RFC 2918).
    RouteRefresh(RouteRefresh),
    /// The Established session ended: the RIB drops the peer's routes.
    Down(DownReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    direction: Direction,
    state: ConnState,
    negotiated: Option<Negotiated>,
}

/// One BGP session with one configured peer.
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    state: State,
    admin_up: bool,
    connect_pending: bool,
    idle_hold_running: bool,
    /// Consecutive failures, for the IdleHold back-off.
    failures: u32,
    /// Consecutive failed or timed-out connection attempts, for the
    /// ConnectRetry back-off.
    connect_failures: u32,
    /// The next ConnectRetryTimer is the short first one
    /// (`Config::first_connect_retry`): set by a start or `ConnectNow`,
    /// cleared once that retry has been made.
    fast_retry: bool,
    /// State of the jitter generator (splitmix64 over `Config::jitter_seed`).
    jitter: u64,
    /// A one-off idle-hold delay requested with `Input::Reset`.
    hold_down: Option<Duration>,
    /// The current idle hold is such a hold-down: refuse the peer too.
    held_down: bool,
    /// The session was Established before: later OPENs are no restart's.
    established_once: bool,
    conns: Vec<Conn>,
}

// RFC 4271 §4.5 OPEN Message Error subcodes used here.
const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
const BAD_PEER_AS: u8 = 2;
const BAD_BGP_IDENTIFIER: u8 = 3;
const UNACCEPTABLE_HOLD_TIME: u8 = 6;

impl Session {
    pub fn new(cfg: Config) -> Self {
        let jitter = cfg.jitter_seed;
        Session {
            cfg,
            state: State::Idle,
            admin_up: false,
            connect_pending: false,
            idle_hold_running: false,
            failures: 0,
            connect_failures: 0,
            fast_retry: false,
            jitter,
            hold_down: None,
            held_down: false,
            established_once: false,
            conns: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The negotiated parameters of the Established connection, if any.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .and_then(|c| c.negotiated.as_ref())
    }

    /// The connection the session is Established on.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .map(|c| c.id)
    }

    /// Feeds one event; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.start(&mut out),
            Input::ConnectNow => self.connect_now(&mut out),
            Input::Stop { communication } => self.stop(communication, &mut out),
            Input::TcpConnected { conn, direction } => self.connected(conn, direction, &mut out),
            Input::TcpConnectFailed => {
                if self.connect_pending {
                    self.connect_pending = false;
                    // A failure before the quick first retry is expected
                    // (the path may not be up yet): no back-off for it.
                    if !self.fast_retry {
                        self.connect_failures += 1;
                    }
                    // RFC 4271 §8.2.2 Connect state, Event 18: retry later.
                    out.push(Output::StartTimer(Timer::ConnectRetry, self.retry_delay()));
                }
            }
            Input::TcpClosed { conn } => {
                if let Some(i) = self.index(conn) {
                    let was_established = self.conns[i].state == ConnState::Established;
                    self.drop_conn(i, &mut out);
                    if was_established {
                        self.session_failed(DownReason::ConnectionClosed, &mut out);
                    } else {
                        self.after_conn_loss(&mut out);
                    }
                }
            }
            Input::Message { conn, message } => self.message(conn, message, &mut out),
            Input::DecodeError { conn, notification } => {
                if let Some(i) = self.index(conn) {
                    self.fail_conn(i, notification, &mut out);
                }
            }
            Input::Reset {
                notification,
                hold_down,
            } => {
                self.hold_down = hold_down;
                if let Some(i) = self
                    .conns
                    .iter()
                    .position(|c| c.state == ConnState::Established)
                {
                    let n =
                        hard_reset_if_negotiated(notification, self.conns[i].negotiated.as_ref());
                    self.fail_conn(i, n, &mut out);
                }
            }
            Input::TimerExpired(timer) => self.timer(timer, &mut out),
        }
        self.update_state(&mut out);
        out
    }

    fn index(&self, conn: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == conn)
    }

    fn start(&mut self, out: &mut Vec<Output>) {
        if self.admin_up {
            return;
        }
        self.admin_up = true;
        self.failures = 0;
        self.connect_failures = 0;
        self.fast_retry = true;
        self.begin(out);
    }

    /// `Input::ConnectNow`: a new attempt at once, with the back-off reset.
    fn connect_now(&mut self, out: &mut Vec<Output>) {
        if !self.admin_up || self.cfg.passive || self.held_down || !self.conns.is_empty() {
            return;
        }
        // An attempt made before the path existed may sit in SYN
        // retransmission for seconds: replace it.
        if self.connect_pending {
            self.connect_pending = false;
            out.push(Output::AbortConnect);
        }
        self.connect_failures = 0;
        self.fast_retry = true;
        if self.idle_hold_running {
            out.push(Output::StopTimer(Timer::IdleHold));
        }
        self.begin(out);
    }

    /// Leaves Idle: connect (unless passive) and wait for incoming connections.
    fn begin(&mut self, out: &mut Vec<Output>) {
        self.idle_hold_running = false;
        if !self.cfg.passive && !self.connect_pending {
            self.connect_pending = true;
            out.push(Output::Connect);
        }
        out.push(Output::StartTimer(Timer::ConnectRetry, self.retry_delay()));
    }

    /// The ConnectRetryTimer for the next attempt: right after a start or
    /// `ConnectNow` the short first one, jittered; then `connect_retry`
    /// doubled per consecutive failed attempt, at most `connect_retry_max`.
    fn retry_delay(&mut self) -> Duration {
        if self.fast_retry {
            // RFC 4271 §10: jitter by a factor uniform in 0.75..=1.0.
            let quarter = self.cfg.first_connect_retry / 4;
            let r = splitmix64(&mut self.jitter);
            let nanos = (u128::from(r) * quarter.as_nanos()) >> 64;
            let jitter = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
            return self.cfg.first_connect_retry - quarter + jitter;
        }
        let shift = self.connect_failures.min(16);
        self.cfg
            .connect_retry
            .saturating_mul(1 << shift)
            .min(self.cfg.connect_retry_max.max(self.cfg.connect_retry))
    }

    fn stop(&mut self, communication: Option<String>, out: &mut Vec<Output>) {
        self.admin_up = false;
        let mut data = Vec::new();
        if let Some(text) = communication {
            // RFC 9003 §2: length octet then up to 255 octets of UTF-8.
            let mut bytes = text.into_bytes();
            bytes.truncate(255);
            data.push(bytes.len() as u8);
            data.extend_from_slice(&bytes);
        }
        let notification = Notification::cease(CeaseSubcode::AdministrativeShutdown, data);
        let was_established = self.conns.iter().any(|c| c.state == ConnState::Established);
        while !self.conns.is_empty() {
            let conn = self.conns[0].id;
            let notification = match self.conns[0].state {
                ConnState::Established => hard_reset_if_negotiated(
                    notification.clone(),
                    self.conns[0].negotiated.as_ref(),
                ),
                _ => notification.clone(),
            };
            out.push(Output::Send {
                conn,
                message: Message::Notification(notification),
            });
            self.drop_conn(0, out);
        }
        if was_established {
            out.push(Output::Down(DownReason::AdminStop));
        }
        self.reset_timers(out);
    }

    fn reset_timers(&mut self, out: &mut Vec<Output>) {
        if self.connect_pending {
            self.connect_pending = false;
            out.push(Output::AbortConnect);
        }
        out.push(Output::StopTimer(Timer::ConnectRetry));
        if self.idle_hold_running {
            self.idle_hold_running = false;
            out.push(Output::StopTimer(Timer::IdleHold));
        }
    }

    fn connected(&mut self, conn: ConnId, direction: Direction, out: &mut Vec<Output>) {
        if direction == Direction::Outgoing {
            self.connect_pending = false;
        }
        // The peer is reachable again: the next retry starts from the base.
        self.connect_failures = 0;
        self.fast_retry = false;
        let established = self.conns.iter().any(|c| c.state == ConnState::Established);
        // RFC 4271 §6.8: a collision with an Established connection closes the new one.
        // Connections arriving while administratively down or held down
        // (max-prefix) are refused.
        if !self.admin_up || established || self.held_down || self.conns.len() >= 2 {
            out.push(Output::Close { conn });
            return;
        }
        // The idle hold only paces our own attempts: the peer's connection
        // is taken, or two speakers backing off in step would refuse each
        // other forever.
        if self.idle_hold_running {
            self.idle_hold_running = false;
            out.push(Output::StopTimer(Timer::IdleHold));
        }
        self.conns.push(Conn {
            id: conn,
            direction,
            state: ConnState::OpenSent,
            negotiated: None,
        });
        out.push(Output::StopTimer(Timer::ConnectRetry));
        out.push(Output::Send {
            conn,
            message: Message::Open(self.cfg.open_after(self.established_once)),
        });
        out.push(Output::StartTimer(
            Timer::HoldTimer(conn),
            self.cfg.open_hold_time,
        ));
    }

    fn message(&mut self, conn: ConnId, message: Message, out: &mut Vec<Output>) {
        let Some(i) = self.index(conn) else { return };
        let state = self.conns[i].state;
        match (state, message) {
            (_, Message::Notification(n)) => {
                let was_established = state == ConnState::Established;
                self.drop_conn(i, out);
                if was_established {
                    self.session_failed(DownReason::NotificationReceived(n), out);
                } else {
                    self.failures += 1;
                    self.after_conn_loss(out);
                }
            }
            (ConnState::OpenSent, Message::Open(open)) => self.open_received(i, open, out),
            (ConnState::OpenConfirm, Message::Keepalive) => {
                let c = &mut self.conns[i];
                c.state = ConnState::Established;
                let negotiated = c.negotiated.clone().expect("OpenConfirm has negotiated");
                if negotiated.hold_time > 0 {
                    let hold = Duration::from_secs(negotiated.hold_time.into());
                    out.push(Output::StartTimer(Timer::HoldTimer(conn), hold));
                }
                // The session is up: any other connection loses (RFC 4271 §6.8).
                while let Some(j) = self.conns.iter().position(|c| c.id != conn) {
                    self.close_with(j, cease_collision(), out);
                }
                self.failures = 0;
                self.established_once = true;
                out.push(Output::Established { conn, negotiated });
            }
            (ConnState::Established, Message::Keepalive) => self.restart_hold(i, out),
            (ConnState::Established, Message::Update(update)) => {
                self.restart_hold(i, out);
                out.push(Output::Update(update));
            }
            (ConnState::Established | ConnState::OpenConfirm, Message::RouteRefresh(rr)) => {
                if state == ConnState::Established {
                    out.push(Output::RouteRefresh(rr));
                }
            }
            (_, other) => {
                // RFC 6608 §4: FSM error subcode names the state the message arrived in.
                let subcode = match state {
                    ConnState::OpenSent => 1,
                    ConnState::OpenConfirm => 2,
                    ConnState::Established => 3,
                };
                let _ = other;
                self.fail_conn(
                    i,
                    Notification::new(ErrorCode::FiniteStateMachine, subcode, Bytes::new()),
                    out,
                );
            }
        }
    }

    /// OpenSent + OPEN (RFC 4271 §8.2.2 Event 19, §6.2 checks, §6.8 collisions).
    fn open_received(&mut self, i: usize, open: Open, out: &mut Vec<Output>) {
        if let Err(n) = self.check_open(&open) {
            self.fail_conn(i, n, out);
            return;
        }
        let conn = self.conns[i].id;
        let remote_id = open.bgp_id;
        // Collision detection: the connection opened by the speaker with the
        // higher BGP Identifier survives (RFC 4271 §6.8).
        if let Some(j) = self.conns.iter().position(|c| c.id != conn) {
            let keep_outgoing = u32::from(self.cfg.bgp_id) > u32::from(remote_id);
            let this_wins = (self.conns[i].direction == Direction::Outgoing) == keep_outgoing;
            if this_wins {
                self.close_with(j, cease_collision(), out);
            } else {
                self.close_with(i, cease_collision(), out);
                return;
            }
        }
        let i = self.index(conn).expect("connection kept");
        let negotiated = self.negotiate(open);
        out.push(Output::Send {
            conn,
            message: Message::Keepalive,
        });
        if negotiated.hold_time > 0 {
            let hold = Duration::from_secs(negotiated.hold_time.into());
            let keepalive = Duration::from_secs(negotiated.keepalive.max(1).into());
            out.push(Output::StartTimer(Timer::HoldTimer(conn), hold));
            out.push(Output::StartTimer(Timer::KeepaliveTimer(conn), keepalive));
        } else {
            out.push(Output::StopTimer(Timer::HoldTimer(conn)));
        }
        let c = &mut self.conns[i];
        c.state = ConnState::OpenConfirm;
        c.negotiated = Some(negotiated);
    }

    fn check_open(&self, open: &Open) -> Result<(), Notification> {
        if open.version != 4 {
            // RFC 4271 §6.2: data is the largest supported version.
            return Err(Notification {
                code: ErrorCode::OpenMessage.into(),
                subcode: UNSUPPORTED_VERSION_NUMBER,
                data: Bytes::from_static(&[0, 4]),
            });
        }
        if !self.cfg.remote_as.accepts(open.asn(), self.cfg.local_as) {
            return Err(Notification {
                code: ErrorCode::OpenMessage.into(),
                subcode: BAD_PEER_AS,
                data: Bytes::copy_from_slice(&open.my_as.to_be_bytes()),
            });
        }
        let id = u32::from(open.bgp_id);
        if id == 0 || open.bgp_id == self.cfg.bgp_id {
            return Err(Notification {
                code: ErrorCode::OpenMessage.into(),
                subcode: BAD_BGP_IDENTIFIER,
                data: Bytes::copy_from_slice(&open.bgp_id.octets()),
            });
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(Notification {
                code: ErrorCode::OpenMessage.into(),
                subcode: UNACCEPTABLE_HOLD_TIME,
                data: Bytes::new(),
            });
        }
        Ok(())
    }

    fn negotiate(&self, open: Open) -> Negotiated {
        let hold_time = self.cfg.hold_time.min(open.hold_time);
        let keepalive = match self.cfg.keepalive {
            Some(k) if hold_time > 0 => k.min(hold_time / 3).max(1),
            _ => hold_time / 3,
        };
        let theirs = open.families();
        // A peer without any Multiprotocol capability speaks IPv4 unicast only (RFC 4760 §8).
        let families = if theirs.is_empty() {
            vec![(Afi::Ipv4, Safi::Unicast)]
        } else {
            self.cfg
                .families
                .iter()
                .copied()
                .filter(|f| theirs.contains(f))
                .collect()
        };
        let enh = (Afi::Ipv4, Safi::Unicast, Afi::Ipv6);
        let announces_enh = |o: &Open| {
            o.has(|c| matches!(c, Capability::ExtendedNextHop(list) if list.contains(&enh)))
        };
        let extended_next_hop = announces_enh(&self.cfg.open()) && announces_enh(&open);
        let remote_hostname = open.capabilities.iter().find_map(|c| match c {
            Capability::Fqdn { hostname, .. } => Some(hostname.clone()),
            _ => None,
        });
        let graceful_restart = self.cfg.graceful_restart.and_then(|_| {
            open.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart {
                    restart_state,
                    restart_time,
                    families,
                    notification,
                } => Some(PeerGracefulRestart {
                    restart_state: *restart_state,
                    restart_time: *restart_time,
                    families: families.clone(),
                    notification: *notification,
                }),
                _ => None,
            })
        });
        Negotiated {
            remote_as: open.asn(),
            remote_id: open.bgp_id,
            hold_time,
            keepalive,
            four_octet_as: open.has(|c| matches!(c, Capability::FourOctetAs(_))),
            // We always announce both (Config::open).
            extended_message: open.has(|c| matches!(c, Capability::ExtendedMessage)),
            route_refresh: open.has(|c| matches!(c, Capability::RouteRefresh)),
            enhanced_route_refresh: open.has(|c| matches!(c, Capability::EnhancedRouteRefresh)),
            extended_next_hop,
            families,
            remote_hostname,
            graceful_restart,
            remote_open: open,
        }
    }

    fn restart_hold(&mut self, i: usize, out: &mut Vec<Output>) {
        if let Some(n) = &self.conns[i].negotiated
            && n.hold_time > 0
        {
            let hold = Duration::from_secs(n.hold_time.into());
            out.push(Output::StartTimer(Timer::HoldTimer(self.conns[i].id), hold));
        }
    }

    fn timer(&mut self, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::ConnectRetry => {
                if !self.admin_up || self.idle_hold_running {
                    return;
                }
                // RFC 4271 §8.2.2 Event 9: drop the attempt and try again.
                if self.conns.is_empty() && !self.cfg.passive {
                    if self.connect_pending && !self.fast_retry {
                        // The attempt timed out: as good as refused.
                        self.connect_failures += 1;
                    }
                    if self.connect_pending {
                        out.push(Output::AbortConnect);
                    }
                    self.connect_pending = true;
                    out.push(Output::Connect);
                }
                // The quick retry after a start is made: back-off from here.
                self.fast_retry = false;
                out.push(Output::StartTimer(Timer::ConnectRetry, self.retry_delay()));
            }
            Timer::IdleHold => {
                self.held_down = false;
                if self.admin_up && self.idle_hold_running {
                    self.begin(out);
                }
            }
            Timer::HoldTimer(conn) => {
                if let Some(i) = self.index(conn) {
                    let n = Notification::new(ErrorCode::HoldTimerExpired, 0, Bytes::new());
                    let was_established = self.conns[i].state == ConnState::Established;
                    out.push(Output::Send {
                        conn,
                        message: Message::Notification(n),
                    });
                    self.drop_conn(i, out);
                    if was_established {
                        self.session_failed(DownReason::HoldTimerExpired, out);
                    } else {
                        self.after_conn_loss(out);
                    }
                }
            }
            Timer::KeepaliveTimer(conn) => {
                if let Some(i) = self.index(conn)
                    && let Some(n) = &self.conns[i].negotiated
                {
                    let every = Duration::from_secs(n.keepalive.max(1).into());
                    out.push(Output::Send {
                        conn,
                        message: Message::Keepalive,
                    });
                    out.push(Output::StartTimer(Timer::KeepaliveTimer(conn), every));
                }
            }
        }
    }

    /// Sends `n` on connection `i`, closes it, and handles the consequences.
    fn fail_conn(&mut self, i: usize, n: Notification, out: &mut Vec<Output>) {
        let was_established = self.conns[i].state == ConnState::Established;
        let conn = self.conns[i].id;
        out.push(Output::Send {
            conn,
            message: Message::Notification(n.clone()),
        });
        self.drop_conn(i, out);
        if was_established {
            self.session_failed(DownReason::NotificationSent(n), out);
        } else {
            self.failures += 1;
            self.after_conn_loss(out);
        }
    }

    /// Closes a connection that lost a collision; the session goes on with the other.
    fn close_with(&mut self, i: usize, n: Notification, out: &mut Vec<Output>) {
        let conn = self.conns[i].id;
        out.push(Output::Send {
            conn,
            message: Message::Notification(n),
        });
        self.drop_conn(i, out);
    }

    fn drop_conn(&mut self, i: usize, out: &mut Vec<Output>) {
        let c = self.conns.remove(i);
        out.push(Output::StopTimer(Timer::HoldTimer(c.id)));
        out.push(Output::StopTimer(Timer::KeepaliveTimer(c.id)));
        out.push(Output::Close { conn: c.id });
    }

    /// An Established session ended: tell the RIB, then restart after the
    /// idle-hold delay (RFC 4271 §8.1.1 automatic start with back-off).
    fn session_failed(&mut self, reason: DownReason, out: &mut Vec<Output>) {
        out.push(Output::Down(reason));
        while !self.conns.is_empty() {
            self.drop_conn(0, out);
        }
        self.failures += 1;
        self.idle_hold(out);
    }

    /// A connection that never reached Established went away.
    fn after_conn_loss(&mut self, out: &mut Vec<Output>) {
        if self.conns.is_empty() && self.admin_up {
            if self.failures > 0 {
                self.idle_hold(out);
            } else {
                out.push(Output::StartTimer(Timer::ConnectRetry, self.retry_delay()));
            }
        }
    }

    fn idle_hold(&mut self, out: &mut Vec<Output>) {
        self.reset_timers(out);
        if !self.admin_up {
            return;
        }
        let shift = self.failures.saturating_sub(1).min(16);
        let backoff = self
            .cfg
            .idle_hold
            .saturating_mul(1 << shift)
            .min(self.cfg.idle_hold_max);
        self.held_down = self.hold_down.is_some();
        let delay = self.hold_down.take().unwrap_or(backoff);
        self.idle_hold_running = true;
        out.push(Output::StartTimer(Timer::IdleHold, delay));
    }

    /// The one place the session-level state changes.
    fn update_state(&mut self, out: &mut Vec<Output>) {
        let best_conn = self.conns.iter().map(|c| c.state).max_by_key(|s| *s as u8);
        let new = match best_conn {
            Some(ConnState::Established) => State::Established,
            Some(ConnState::OpenConfirm) => State::OpenConfirm,
            Some(ConnState::OpenSent) => State::OpenSent,
            None if !self.admin_up || self.idle_hold_running => State::Idle,
            None if self.connect_pending => State::Connect,
            None => State::Active,
        };
        if new != self.state {
            out.push(Output::StateChange {
                from: self.state,
                to: new,
            });
            self.state = new;
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): a small, well-mixed generator,
/// enough to spread timers.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn cease_collision() -> Notification {
    Notification::cease(CeaseSubcode::ConnectionCollisionResolution, Bytes::new())
}

#[cfg(test)]
mod tests;
